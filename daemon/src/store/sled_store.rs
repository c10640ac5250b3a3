//! The sled store, with durability that survives a power cut.
//!
//! sled 0.34's `flush()` writes its log with `sync_file_range`, which neither
//! flushes the drive's cache nor the file's metadata. So after every batch we
//! flush and then `fdatasync` sled's log file ourselves. Values are kept small (see
//! [`super::MAX_VALUE_BYTES`]) so that sled never moves a page into a blob file,
//! which it would write without any sync.

use std::fs::File;
use std::path::Path;

use super::{Keyspace, Op, Store, StoreError};

/// sled on disk, one ordered tree with a one-byte keyspace prefix per key.
#[derive(Debug)]
pub struct SledStore {
    db: sled::Db,
    /// sled's log file, kept open to `fdatasync` it after each flush.
    log: File,
    dir: std::path::PathBuf,
}

fn key(ks: Keyspace, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + 1);
    k.push(ks.tag());
    k.extend_from_slice(key);
    k
}

impl SledStore {
    /// Opens (or creates) the store in `dir` with a page cache of `cache_bytes`.
    pub fn open(dir: &Path, cache_bytes: u64) -> Result<Self, StoreError> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            .mode(sled::Mode::LowSpace)
            // Our own commits flush; sled's timer would only add writes.
            .flush_every_ms(None)
            .open()?;
        let log_path = dir.join("db");
        let log = File::open(&log_path).map_err(|source| StoreError::Io {
            context: format!("opening {}", log_path.display()),
            source,
        })?;
        Ok(Self {
            db,
            log,
            dir: dir.to_owned(),
        })
    }
}

impl Store for SledStore {
    fn get(&self, ks: Keyspace, k: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get(key(ks, k))?.map(|v| v.to_vec()))
    }

    fn scan_prefix(
        &self,
        ks: Keyspace,
        prefix: &[u8],
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
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
        self.log.sync_data().map_err(|source| StoreError::Io {
            context: "fdatasync of the store log".into(),
            source,
        })
    }

    fn size_on_disk(&self) -> u64 {
        dir_size(&self.dir)
    }
}

/// Sum of the sizes of the files under `dir`, in bytes actually allocated.
pub(crate) fn dir_size(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(dir) else {
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
