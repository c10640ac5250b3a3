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
//! file itself (the small records never reach sled's blob threshold); the
//! documents' files are [`DocFiles`] on the operating system's files.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use super::files::{Files, OsFiles};
use super::{DocBytes, DocFiles, DocSizes, DocWrite, Entries, Keyspace, Op, Store, StoreError};
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
    docs: DocFiles<OsFiles>,
}

fn key(ks: Keyspace, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + 1);
    k.push(ks.tag());
    k.extend_from_slice(key);
    k
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
        // sled never syncs its directory, nor the settings file it writes
        // when it makes a store (`conf`): a power cut could take the names of
        // a new store's files with everything committed in them, or leave
        // `conf` torn, which sled then refuses to open ("Read corrupted
        // data"). Both synced once here, before anything is acknowledged (and
        // the store's own name in its parent).
        let conf = dir.join("conf");
        File::open(&conf)
            .and_then(|f| f.sync_all())
            .map_err(StoreError::io(format!("syncing {}", conf.display())))?;
        let sync_dir = |d: &Path| {
            OsFiles.sync_dir(d).map_err(StoreError::io(format!(
                "syncing the directory {}",
                d.display()
            )))
        };
        sync_dir(dir)?;
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
        let log_path = dir.join("db");
        let sled_log = File::open(&log_path)
            .map_err(StoreError::io(format!("opening {}", log_path.display())))?;
        let store = Self {
            db,
            sled_log,
            dir: dir.to_owned(),
            docs: DocFiles::open(OsFiles, &dir.join("docs"))?,
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

    fn visit_prefix(
        &self,
        ks: Keyspace,
        prefix: &[u8],
        f: &mut dyn FnMut(&[u8], &[u8]),
    ) -> Result<(), StoreError> {
        for kv in self.db.scan_prefix(key(ks, prefix)) {
            let (k, v) = kv?;
            f(&k[1..], &v);
        }
        Ok(())
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
        self.docs.load_doc(id)
    }

    fn write_docs(&self, writes: &[DocWrite]) -> Result<(), StoreError> {
        self.docs.write_docs(writes)
    }

    fn doc_sizes(&self, id: &DocId) -> Result<DocSizes, StoreError> {
        self.docs.doc_sizes(id)
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
