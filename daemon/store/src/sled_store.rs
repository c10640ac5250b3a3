//! The store on disk: sled for the small records, one snapshot file and one log
//! file per document for document bytes.
//!
//! Why document bytes are not in sled: sled 0.34 puts values over ~128 KiB in blob
//! files that it never fsyncs, its `flush()` is `sync_file_range` (no drive cache
//! flush), and an automerge log written through it (hundreds of small appends)
//! leaves its file at hundreds of times the size of the document's `save()` until
//! its garbage collector catches up. Plain files give us the fsyncs we need and a
//! footprint of the snapshot plus the log.
//!
//! Durability: [`Store::commit`] flushes sled and then `fdatasync`s sled's log
//! file itself (the small records never reach sled's blob threshold).
//! [`Store::write_docs`] `fdatasync`s every log it appended to; a snapshot is
//! written to a temporary file, synced, renamed over the old one, and the
//! directory synced, before the log is emptied.

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{
    DocBytes, DocSizes, DocWrite, Entries, Keyspace, Op, Store, StoreError, frame, unframe,
};
use kp_core::ids::DocId;

/// The store's format: the layout this file describes. A store records its
/// format under the key `store-format`; a store written by a newer kpd is refused, and
/// an older one is brought up to date by [`MIGRATIONS`], one step at a time,
/// the format recorded after each (so an upgrade cut short resumes). A store
/// made before formats were recorded is format 1.
pub const FORMAT: u64 = 1;

/// Where the format is recorded (in the store's own keyspace).
const FORMAT_KEY: &[u8] = b"store-format";

/// A step from format `n` to `n + 1`.
pub type Migration = fn(&SledStore) -> Result<(), StoreError>;

/// The steps from format 1 to [`FORMAT`], in order (`MIGRATIONS[i]` takes
/// format `i + 1` to `i + 2`). Each comes with a test that opens a store of
/// the older format and reads it in the newer one.
pub const MIGRATIONS: &[Migration] = &[];

/// sled and document files under one directory.
#[derive(Debug)]
pub struct SledStore {
    db: sled::Db,
    /// sled's log file, kept open to `fdatasync` it after each flush.
    sled_log: File,
    dir: PathBuf,
    docs: PathBuf,
    /// Logs whose tail was checked since the store opened.
    checked: Mutex<HashSet<DocId>>,
    /// A log file was created and the directory not yet synced.
    dir_unsynced: Mutex<bool>,
}

fn key(ks: Keyspace, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + 1);
    k.push(ks.tag());
    k.extend_from_slice(key);
    k
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(StoreError::io(format!("syncing {}", dir.display())))
}

impl SledStore {
    /// Opens (or creates) the store in `dir` with a sled page cache of
    /// `cache_bytes`.
    pub fn open(dir: &Path, cache_bytes: u64) -> Result<Self, StoreError> {
        let config = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            .mode(sled::Mode::LowSpace)
            // Our commits flush; sled's own timer would only add writes.
            .flush_every_ms(None);
        // sled lets go of its directory's file lock from a background thread
        // after the last handle is dropped, so a store closed and opened
        // again in one process (a restarted repository) can find it still
        // held for a moment. Another process holding it is kept out before
        // this by the node's own lock file.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let db = loop {
            match config.open() {
                Err(sled::Error::Io(e))
                    if e.to_string().contains("could not acquire lock")
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => break other?,
            }
        };
        let log_path = dir.join("db");
        let sled_log = File::open(&log_path)
            .map_err(StoreError::io(format!("opening {}", log_path.display())))?;
        let docs = dir.join("docs");
        if !docs.exists() {
            fs::create_dir_all(&docs)
                .map_err(StoreError::io(format!("creating {}", docs.display())))?;
            sync_dir(dir)?;
        }
        let store = Self {
            db,
            sled_log,
            dir: dir.to_owned(),
            docs,
            checked: Mutex::new(HashSet::new()),
            dir_unsynced: Mutex::new(false),
        };
        store.upgrade_with(MIGRATIONS)?;
        Ok(store)
    }

    /// The format the store records (1 for a store that records none).
    pub fn format(&self) -> Result<u64, StoreError> {
        let raw = self.get(Keyspace::Meta, FORMAT_KEY)?;
        Ok(raw
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(1))
    }

    fn record_format(&self, format: u64) -> Result<(), StoreError> {
        self.commit(vec![Op::Put(
            Keyspace::Meta,
            FORMAT_KEY.to_vec(),
            format.to_string().into_bytes(),
        )])
    }

    /// Refuses a newer store; brings an older one up to the format
    /// `migrations` lead to (format `migrations.len() + 1`). `open` runs it
    /// with [`MIGRATIONS`]; tests run it with steps of their own.
    pub fn upgrade_with(&self, migrations: &[Migration]) -> Result<(), StoreError> {
        let supported = migrations.len() as u64 + 1;
        let found = self.format()?;
        if found > supported {
            return Err(StoreError::NewerFormat {
                path: self.dir.display().to_string(),
                found,
                supported,
            });
        }
        for (i, step) in migrations.iter().enumerate().skip((found - 1) as usize) {
            tracing::info!("upgrading the store from format {} to {}", i + 1, i + 2);
            step(self)?;
            self.record_format(i as u64 + 2)?;
        }
        if self.get(Keyspace::Meta, FORMAT_KEY)?.is_none() {
            self.record_format(supported)?;
        }
        Ok(())
    }

    fn snap_path(&self, id: &DocId) -> PathBuf {
        self.docs.join(format!("{id}.snap"))
    }

    fn log_path(&self, id: &DocId) -> PathBuf {
        self.docs.join(format!("{id}.log"))
    }

    /// Opens a document's log for appending. The first time in this process, its
    /// tail is checked: a record torn by a crash is cut, damage is an error.
    fn open_log(&self, id: &DocId, path: &Path) -> Result<File, StoreError> {
        let ctx = || format!("opening {}", path.display());
        let existed = path.exists();
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .map_err(StoreError::io(ctx()))?;
        if !existed {
            *self.dir_unsynced.lock().unwrap_or_else(|e| e.into_inner()) = true;
        }
        let mut checked = self.checked.lock().unwrap_or_else(|e| e.into_inner());
        if existed && !checked.contains(id) {
            let mut raw = Vec::new();
            (&f).read_to_end(&mut raw).map_err(StoreError::io(ctx()))?;
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
}

fn read_if_exists(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    match File::open(path) {
        Ok(mut f) => {
            let mut buf = Vec::new();
            f.read_to_end(&mut buf)
                .map_err(StoreError::io(format!("reading {}", path.display())))?;
            Ok(Some(buf))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StoreError::Io {
            context: format!("opening {}", path.display()),
            source: e,
        }),
    }
}

impl Store for SledStore {
    fn get(&self, ks: Keyspace, k: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get(key(ks, k))?.map(|v| v.to_vec()))
    }

    fn scan_prefix(&self, ks: Keyspace, prefix: &[u8]) -> Result<Entries, StoreError> {
        self.db
            .scan_prefix(key(ks, prefix))
            .map(|kv| {
                let (k, v) = kv?;
                Ok((k[1..].to_vec(), v.to_vec()))
            })
            .collect()
    }

    fn commit(&self, ops: Vec<Op>) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for op in ops {
            match op {
                Op::Put(ks, k, v) => batch.insert(key(ks, &k), v),
                Op::Delete(ks, k) => batch.remove(key(ks, &k)),
            }
        }
        self.db.apply_batch(batch)?;
        self.db.flush()?;
        self.sled_log
            .sync_data()
            .map_err(StoreError::io("fdatasync of sled's log"))
    }

    fn load_doc(&self, id: &DocId) -> Result<DocBytes, StoreError> {
        let snapshot = read_if_exists(&self.snap_path(id))?;
        let log_path = self.log_path(id);
        let raw = read_if_exists(&log_path)?.unwrap_or_default();
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

    fn write_docs(&self, writes: &[DocWrite]) -> Result<(), StoreError> {
        // Logs touched in this batch, synced once each at the end.
        let mut logs: BTreeMap<DocId, File> = BTreeMap::new();
        for w in writes {
            match w {
                DocWrite::Snapshot(id, bytes) => {
                    let path = self.snap_path(id);
                    let tmp = path.with_extension("snap.tmp");
                    let ctx = || format!("writing {}", tmp.display());
                    let mut f = File::create(&tmp).map_err(StoreError::io(ctx()))?;
                    f.write_all(bytes)
                        .and_then(|()| f.sync_data())
                        .map_err(StoreError::io(ctx()))?;
                    fs::rename(&tmp, &path)
                        .map_err(StoreError::io(format!("renaming {}", tmp.display())))?;
                    // The rename must be durable before the log it replaces is cut.
                    sync_dir(&self.docs)?;
                    let log_path = self.log_path(id);
                    if log_path.exists() {
                        let f = OpenOptions::new()
                            .write(true)
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
                        .metadata()
                        .map(|m| m.len())
                        .map_err(StoreError::io(format!("reading {}", path.display())))?;
                    let appended = std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(end))
                        .and_then(|_| f.write_all(&buf));
                    if let Err(e) = appended {
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
            sync_dir(&self.docs)?;
            *unsynced = false;
        }
        Ok(())
    }

    fn doc_sizes(&self, id: &DocId) -> Result<DocSizes, StoreError> {
        let len = |p: PathBuf| match fs::metadata(&p) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(StoreError::Io {
                context: format!("reading {}", p.display()),
                source: e,
            }),
        };
        Ok(DocSizes {
            snapshot: len(self.snap_path(id))?,
            log: len(self.log_path(id))?,
        })
    }

    fn size_on_disk(&self) -> u64 {
        dir_size(&self.dir)
    }

    fn index_size_on_disk(&self) -> u64 {
        use std::os::unix::fs::MetadataExt;
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return 0;
        };
        entries
            .flatten()
            .filter(|e| e.file_name() != "docs")
            .map(|e| match e.metadata() {
                Ok(m) if m.is_dir() => dir_size(&e.path()),
                Ok(m) => m.blocks() * 512,
                Err(_) => 0,
            })
            .sum()
    }
}

/// Sum of the sizes of the files under `dir`, in bytes actually allocated.
pub fn dir_size(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.blocks() * 512,
            Err(_) => 0,
        })
        .sum()
}
