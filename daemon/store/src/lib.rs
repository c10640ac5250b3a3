//! What the repository stores, behind one trait with two implementations: sled
//! and files on disk (`kp-testkit` holds an in-memory twin for deterministic
//! tests).
//!
//! Two kinds of data live here. Small records (the metadata index, the node's
//! counters) are a key-value map with named keyspaces, prefix scans, and
//! [`Store::commit`], which applies a batch atomically and durably. Document bytes
//! are a snapshot plus an append-only log of incremental chunks per document,
//! written by [`Store::write_docs`], which returns once every write is durable.
//! Everything the node acknowledges has passed through one of these two calls.

mod doc_files;
pub mod files;
mod sled_store;

pub use doc_files::DocFiles;
pub use sled_store::{FORMAT, MIGRATIONS, Migration, SledStore, dir_size};

use kp_core::ids::DocId;

/// The keyspaces of the store. Each is a key prefix in one ordered map, so a
/// batch over several keyspaces is still one atomic write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Keyspace {
    /// Node-wide values such as the incarnation counter.
    Meta,
    /// Per document: the metadata that answers listings without loading it.
    Index,
}

impl Keyspace {
    pub(crate) fn tag(self) -> u8 {
        match self {
            Keyspace::Meta => b'm',
            Keyspace::Index => b'i',
        }
    }
}

/// One write in a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Set `key` to `value`.
    Put(Keyspace, Vec<u8>, Vec<u8>),
    /// Remove `key` (no error if absent).
    Delete(Keyspace, Vec<u8>),
}

/// A store error: the underlying engine or file system failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// sled reported an error.
    #[error("store: {0}")]
    Sled(#[from] sled::Error),
    /// A file operation failed.
    #[error("store: {context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The store was written by a newer kpd, in a format this one does not
    /// read; nothing was changed.
    #[error(
        "store: {path} was written by a newer kpd (store format {found}; this kpd reads formats up \
         to {supported}): run a kpd of that version or newer, or restore a backup made with this \
         version; nothing was changed"
    )]
    NewerFormat {
        /// The store's directory.
        path: String,
        /// The format it records.
        found: u64,
        /// The newest format this build reads.
        supported: u64,
    },
    /// A document's log is damaged before its end (not by a crash during an
    /// append, which only tears the last record).
    #[error("store: {path} is damaged at byte {offset}; restore it from a backup or a partner")]
    Damaged {
        /// The file.
        path: String,
        /// Where the damage starts.
        offset: usize,
    },
}

impl StoreError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let context = context.into();
        move |source| Self::Io { context, source }
    }
}

/// Key-value pairs from a scan.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// A document's stored bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocBytes {
    /// The last snapshot (`save()`), if any.
    pub snapshot: Option<Vec<u8>>,
    /// Incremental chunks appended since, in order.
    pub log: Vec<Vec<u8>>,
}

/// One write of document bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocWrite {
    /// Append an incremental chunk to the document's log.
    Append(DocId, Vec<u8>),
    /// Replace the snapshot and empty the log.
    Snapshot(DocId, Vec<u8>),
}

/// Stored sizes of a document: snapshot bytes and log bytes (framing included).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DocSizes {
    /// Bytes of the snapshot.
    pub snapshot: u64,
    /// Bytes of the log.
    pub log: u64,
}

/// The node's durable storage.
pub trait Store: Send + Sync + 'static {
    /// The value at `key`.
    fn get(&self, ks: Keyspace, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// All entries whose key starts with `prefix`, in key order.
    fn scan_prefix(&self, ks: Keyspace, prefix: &[u8]) -> Result<Entries, StoreError>;

    /// Calls `f` with each entry whose key starts with `prefix`, in key order,
    /// one at a time: for a scan too large to hold at once (the index at start).
    fn visit_prefix(
        &self,
        ks: Keyspace,
        prefix: &[u8],
        f: &mut dyn FnMut(&[u8], &[u8]),
    ) -> Result<(), StoreError> {
        for (k, v) in self.scan_prefix(ks, prefix)? {
            f(&k, &v);
        }
        Ok(())
    }

    /// Applies `ops` atomically and returns once they are durable (they survive a
    /// process crash and a power cut).
    fn commit(&self, ops: Vec<Op>) -> Result<(), StoreError>;

    /// A document's snapshot and log. A log record torn by a crash (never
    /// acknowledged) is dropped.
    fn load_doc(&self, id: &DocId) -> Result<DocBytes, StoreError>;

    /// Performs `writes` in order and returns once all are durable. A snapshot
    /// replaces the old one atomically: a crash leaves the old or the new one.
    fn write_docs(&self, writes: &[DocWrite]) -> Result<(), StoreError>;

    /// A document's stored sizes.
    fn doc_sizes(&self, id: &DocId) -> Result<DocSizes, StoreError>;

    /// Bytes the store occupies on disk (0 for memory).
    fn size_on_disk(&self) -> u64;

    /// Bytes on disk of everything but the documents' files (the index and
    /// counters; 0 for memory): with the documents' stored sizes, which the
    /// index holds, the store's size without a walk over every file.
    fn index_size_on_disk(&self) -> u64;
}

/// Frames a log record: length (u32, little endian), CRC-32 of the bytes, bytes.
/// A record is never empty (an empty one would read as zeros, which a power
/// cut can leave at a log's end).
pub(crate) fn frame(bytes: &[u8], out: &mut Vec<u8>) {
    debug_assert!(!bytes.is_empty(), "log records are never empty");
    let len = u32::try_from(bytes.len()).expect("log records are far below 4 GiB");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(bytes).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// A framed log split into records.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Unframed {
    /// The good records, in order.
    pub(crate) records: Vec<Vec<u8>>,
    /// Where the good records end.
    pub(crate) good: usize,
    /// Whether what follows `good` (if anything) is a torn last record, as a
    /// crash during an append leaves; otherwise it is damage in the middle.
    pub(crate) torn_tail: bool,
}

/// Splits a framed log into records, stopping at the first record that is short
/// or fails its checksum.
pub(crate) fn unframe(log: &[u8]) -> Unframed {
    let mut records = Vec::new();
    let mut at = 0;
    while at < log.len() {
        if log.len() - at < 8 {
            break;
        }
        let len = u32::from_le_bytes(log[at..at + 4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(log[at + 4..at + 8].try_into().expect("4 bytes"));
        if len == 0 {
            // No record is empty. Zeros to the end are an append whose size
            // reached the disk before its bytes did (a torn tail); anything
            // else after them is damage.
            return Unframed {
                records,
                good: at,
                torn_tail: log[at..].iter().all(|&b| b == 0),
            };
        }
        let end = at + 8 + len;
        let Some(body) = log.get(at + 8..end) else {
            break;
        };
        if crc32fast::hash(body) != crc {
            return Unframed {
                records,
                good: at,
                torn_tail: end == log.len(),
            };
        }
        records.push(body.to_vec());
        at = end;
    }
    Unframed {
        records,
        good: at,
        torn_tail: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_log_tail_is_dropped() {
        let mut log = Vec::new();
        frame(b"first", &mut log);
        frame(b"second", &mut log);
        let whole = log.len();
        // Cut inside the second record, then corrupt a byte of a whole one.
        let u = unframe(&log[..whole - 2]);
        assert_eq!(
            (u.records, u.good, u.torn_tail),
            (vec![b"first".to_vec()], 13, true)
        );
        // A bad checksum on the last record is a torn tail too.
        let mut last = log.clone();
        last[whole - 1] ^= 0xff;
        assert!(unframe(&last).torn_tail);
        // Damage to a record that others follow is not.
        log[10] ^= 0xff;
        let u = unframe(&log);
        assert_eq!((u.records.len(), u.good, u.torn_tail), (0, 0, false));
        assert!(unframe(&[1, 2, 3]).torn_tail);
    }

    #[test]
    fn zeros_at_a_logs_end_are_a_torn_tail_and_zeros_before_a_record_are_damage() {
        let mut log = Vec::new();
        frame(b"first", &mut log);
        let whole = log.len();
        // The size of an append reached the disk, its bytes did not.
        log.extend_from_slice(&[0; 21]);
        let u = unframe(&log);
        assert_eq!(
            (u.records, u.good, u.torn_tail),
            (vec![b"first".to_vec()], whole, true)
        );
        log.extend_from_slice(&[0; 3]);
        frame(b"second", &mut log);
        let u = unframe(&log);
        assert_eq!((u.good, u.torn_tail), (whole, false));
    }

    #[test]
    fn damage_in_the_middle_of_a_log_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let id = DocId::random();
        let s = SledStore::open(dir.path(), 16 << 20).unwrap();
        s.write_docs(&[
            DocWrite::Append(id, b"first".to_vec()),
            DocWrite::Append(id, b"second".to_vec()),
        ])
        .unwrap();
        let log = dir.path().join("docs").join(format!("{id}.log"));
        let mut bytes = std::fs::read(&log).unwrap();
        bytes[9] ^= 0xff;
        std::fs::write(&log, &bytes).unwrap();
        let err = s.load_doc(&id).unwrap_err().to_string();
        assert!(err.contains("damaged at byte 0"), "{err}");
        // Nothing was cut.
        assert_eq!(std::fs::read(&log).unwrap(), bytes);
    }

    #[test]
    fn a_torn_log_on_disk_is_repaired_on_load() {
        let dir = tempfile::tempdir().unwrap();
        let id = DocId::random();
        {
            let s = SledStore::open(dir.path(), 16 << 20).unwrap();
            s.write_docs(&[DocWrite::Append(id, b"acked".to_vec())])
                .unwrap();
        }
        // A crash in the middle of an append leaves half a record.
        let log = dir.path().join("docs").join(format!("{id}.log"));
        let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        std::io::Write::write_all(&mut f, &[9, 0, 0, 0, 1, 2]).unwrap();
        let s = SledStore::open(dir.path(), 16 << 20).unwrap();
        assert_eq!(s.load_doc(&id).unwrap().log, [b"acked".to_vec()]);
        // Appends after the repair are readable.
        s.write_docs(&[DocWrite::Append(id, b"next".to_vec())])
            .unwrap();
        assert_eq!(
            s.load_doc(&id).unwrap().log,
            [b"acked".to_vec(), b"next".to_vec()]
        );
    }
}
