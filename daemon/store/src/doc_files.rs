//! Document bytes as files: `docs/<id>.snap` (a `save()`) and `docs/<id>.log`
//! (framed incremental chunks), written through a [`Files`] — the operating
//! system's for the node, the disk twin for the simulation, with the same
//! writes and syncs in the same order.
//!
//! Durability: [`DocFiles::write_docs`] `fdatasync`s every log it appended to;
//! a snapshot is written to a temporary file, synced, renamed over the old one,
//! and the directory synced, before the log is emptied; a log file created is
//! named durably (the directory synced) before the call returns.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::files::{Files, Handle};
use super::{DocBytes, DocSizes, DocWrite, StoreError, frame, unframe};
use kp_core::ids::DocId;

/// The documents' files under one directory.
#[derive(Debug)]
pub struct DocFiles<F: Files> {
    files: F,
    docs: PathBuf,
    /// Logs whose tail was checked since the store opened.
    checked: Mutex<HashSet<DocId>>,
    /// A log file was created and the directory not yet synced.
    dir_unsynced: Mutex<bool>,
    /// Logs read (and synced) since the store opened.
    loaded: Mutex<HashSet<DocId>>,
}

impl<F: Files> DocFiles<F> {
    /// The document files in `docs` (created, durably, if missing). The
    /// directory is synced once: a file that a process killed before it synced
    /// the directory had created is named durably before anything is appended
    /// to it again (its appends are synced, its name would not be).
    pub fn open(files: F, docs: &Path) -> Result<Self, StoreError> {
        files
            .create_dir_all(docs)
            .map_err(StoreError::io(format!("creating {}", docs.display())))?;
        files
            .sync_dir(docs)
            .map_err(StoreError::io(format!("syncing {}", docs.display())))?;
        Ok(Self {
            files,
            docs: docs.to_owned(),
            checked: Mutex::new(HashSet::new()),
            dir_unsynced: Mutex::new(false),
            loaded: Mutex::new(HashSet::new()),
        })
    }

    fn snap_path(&self, id: &DocId) -> PathBuf {
        self.docs.join(format!("{id}.snap"))
    }

    fn log_path(&self, id: &DocId) -> PathBuf {
        self.docs.join(format!("{id}.log"))
    }

    fn sync_dir(&self) -> Result<(), StoreError> {
        self.files
            .sync_dir(&self.docs)
            .map_err(StoreError::io(format!("syncing {}", self.docs.display())))
    }

    /// Opens a document's log for appending. The first time in this process, its
    /// tail is checked: a record torn by a crash is cut, damage is an error.
    fn open_log(&self, id: &DocId, path: &Path) -> Result<F::Handle, StoreError> {
        let ctx = || format!("opening {}", path.display());
        let (mut f, created) = self.files.open(path).map_err(StoreError::io(ctx()))?;
        if created {
            *self.dir_unsynced.lock().unwrap_or_else(|e| e.into_inner()) = true;
        }
        let mut checked = self.checked.lock().unwrap_or_else(|e| e.into_inner());
        if !created && !checked.contains(id) {
            let raw = f.read_all().map_err(StoreError::io(ctx()))?;
            let u = unframe(&raw);
            if !u.torn_tail {
                return Err(StoreError::Damaged {
                    path: path.display().to_string(),
                    offset: u.good,
                });
            }
            if u.good < raw.len() {
                tracing::warn!(doc = %id, bytes = raw.len() - u.good, "cutting a log record torn by a crash");
                f.set_len(u.good as u64)
                    .and_then(|()| f.sync_data())
                    .map_err(StoreError::io(format!("repairing {}", path.display())))?;
            }
        }
        checked.insert(*id);
        Ok(f)
    }

    /// A document's snapshot and log; see [`Store::load_doc`](crate::Store::load_doc).
    pub fn load_doc(&self, id: &DocId) -> Result<DocBytes, StoreError> {
        let read = |path: &Path| {
            self.files
                .read(path)
                .map_err(StoreError::io(format!("reading {}", path.display())))
        };
        let snapshot = read(&self.snap_path(id))?;
        let log_path = self.log_path(id);
        let raw = read(&log_path)?.unwrap_or_default();
        // The first read of a log in this process makes what it holds durable:
        // a process killed before its fdatasync leaves its appends in the page
        // cache only, and this process would otherwise act on them (list their
        // heads in the index, send them to peers, take a change as made) and
        // lose them to a later power cut.
        // (At most once per log and process; a log whose pages are all clean
        // syncs at once.)
        let first = !raw.is_empty()
            && !self
                .loaded
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(id);
        if first {
            let (f, _) = self
                .files
                .open(&log_path)
                .map_err(StoreError::io(format!("opening {}", log_path.display())))?;
            f.sync_data().map_err(StoreError::io(format!(
                "fdatasync of {}",
                log_path.display()
            )))?;
            self.loaded
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(*id);
        }
        // A torn last record (a crash during an append that was never
        // acknowledged, or an append in flight right now) is ignored here; the
        // committer cuts it before it appends again. Damage before the end is an
        // error: cutting there could drop acknowledged records.
        let u = unframe(&raw);
        if !u.torn_tail {
            return Err(StoreError::Damaged {
                path: log_path.display().to_string(),
                offset: u.good,
            });
        }
        Ok(DocBytes {
            snapshot,
            log: u.records,
        })
    }

    /// Performs `writes` in order, durably; see
    /// [`Store::write_docs`](crate::Store::write_docs).
    pub fn write_docs(&self, writes: &[DocWrite]) -> Result<(), StoreError> {
        // Logs touched in this batch, synced once each at the end.
        let mut logs: BTreeMap<DocId, F::Handle> = BTreeMap::new();
        for w in writes {
            match w {
                DocWrite::Snapshot(id, bytes) => {
                    let path = self.snap_path(id);
                    let tmp = path.with_extension("snap.tmp");
                    let ctx = || format!("writing {}", tmp.display());
                    let mut f = self.files.create(&tmp).map_err(StoreError::io(ctx()))?;
                    f.write_at(0, bytes)
                        .and_then(|()| f.sync_data())
                        .map_err(StoreError::io(ctx()))?;
                    self.files
                        .rename(&tmp, &path)
                        .map_err(StoreError::io(format!("renaming {}", tmp.display())))?;
                    // The rename must be durable before the log it replaces is cut.
                    self.sync_dir()?;
                    let log_path = self.log_path(id);
                    let exists = self
                        .files
                        .len(&log_path)
                        .map_err(StoreError::io(format!("reading {}", log_path.display())))?
                        .is_some();
                    if exists {
                        let (f, _) = self
                            .files
                            .open(&log_path)
                            .map_err(StoreError::io(format!("opening {}", log_path.display())))?;
                        f.set_len(0)
                            .map_err(StoreError::io(format!("emptying {}", log_path.display())))?;
                        logs.insert(*id, f);
                    }
                }
                DocWrite::Append(id, bytes) => {
                    let path = self.log_path(id);
                    let mut f = match logs.remove(id) {
                        Some(f) => f,
                        None => self.open_log(id, &path)?,
                    };
                    let mut buf = Vec::with_capacity(bytes.len() + 8);
                    frame(bytes, &mut buf);
                    let end = f
                        .size()
                        .map_err(StoreError::io(format!("reading {}", path.display())))?;
                    if let Err(e) = f.write_at(end, &buf) {
                        // Leave no partial record for a retry to append after.
                        let _ = f.set_len(end);
                        return Err(StoreError::Io {
                            context: format!("appending to {}", path.display()),
                            source: e,
                        });
                    }
                    logs.insert(*id, f);
                }
            }
        }
        for (id, f) in logs {
            f.sync_data().map_err(StoreError::io(format!(
                "fdatasync of {}",
                self.log_path(&id).display()
            )))?;
        }
        let mut unsynced = self.dir_unsynced.lock().unwrap_or_else(|e| e.into_inner());
        if *unsynced {
            self.sync_dir()?;
            *unsynced = false;
        }
        Ok(())
    }

    /// A document's stored sizes.
    pub fn doc_sizes(&self, id: &DocId) -> Result<DocSizes, StoreError> {
        let len = |p: PathBuf| {
            self.files
                .len(&p)
                .map(Option::unwrap_or_default)
                .map_err(StoreError::io(format!("reading {}", p.display())))
        };
        Ok(DocSizes {
            snapshot: len(self.snap_path(id))?,
            log: len(self.log_path(id))?,
        })
    }
}
