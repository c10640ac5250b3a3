//! The key-value store under the document repository: a trait with two
//! implementations, sled on disk and an in-memory twin for deterministic tests.
//!
//! The trait is deliberately small: named keyspaces, point reads, prefix scans, and
//! one write operation, [`Store::commit`], which applies a batch atomically and
//! returns only once it is durable. Everything the node acknowledges goes through
//! `commit`.

mod mem;
mod sled_store;

pub use mem::MemStore;
pub use sled_store::SledStore;

/// The keyspaces of the store. Each is a key prefix in one ordered map, so a
/// batch over several keyspaces is still one atomic write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Keyspace {
    /// Node-wide values such as the incarnation counter.
    Meta,
    /// Per document: the metadata that answers listings without loading it.
    Index,
    /// Per document: the compacted `save()` snapshot, in chunks.
    Snapshot,
    /// Per document: incremental change chunks written since the snapshot.
    Log,
}

impl Keyspace {
    pub(crate) fn tag(self) -> u8 {
        match self {
            Keyspace::Meta => b'm',
            Keyspace::Index => b'i',
            Keyspace::Snapshot => b's',
            Keyspace::Log => b'l',
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

/// A store error: the underlying engine failed.
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
}

/// Largest value the repository writes under one key. Larger values are split into
/// parts. sled 0.34 writes any page over a quarter segment (128 KiB by default) to
/// a separate blob file that it never fsyncs, and a leaf page holds up to 16
/// entries, so 6 KiB parts keep every page inline in the log that we fsync.
pub const MAX_VALUE_BYTES: usize = 6 * 1024;

/// An ordered, durable key-value store.
pub trait Store: Send + Sync + 'static {
    /// The value at `key`.
    fn get(&self, ks: Keyspace, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// All entries whose key starts with `prefix`, in key order.
    fn scan_prefix(
        &self,
        ks: Keyspace,
        prefix: &[u8],
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError>;

    /// Applies `ops` atomically and returns once they are durable (they survive a
    /// process crash and a power cut).
    fn commit(&self, ops: Vec<Op>) -> Result<(), StoreError>;

    /// Bytes the store occupies on disk (0 for memory).
    fn size_on_disk(&self) -> u64;
}

/// Writes `value` under `key` as numbered parts of at most [`MAX_VALUE_BYTES`]:
/// `key ++ part(u16, big endian)`. An empty value still gets one (empty) part.
pub fn put_parts(ops: &mut Vec<Op>, ks: Keyspace, key: &[u8], value: &[u8]) {
    let mut chunks: Vec<&[u8]> = value.chunks(MAX_VALUE_BYTES).collect();
    if chunks.is_empty() {
        chunks.push(&[]);
    }
    for (i, chunk) in chunks.into_iter().enumerate() {
        let part = u16::try_from(i).expect("values are bounded far below 64Ki parts");
        let mut k = key.to_vec();
        k.extend_from_slice(&part.to_be_bytes());
        ops.push(Op::Put(ks, k, chunk.to_vec()));
    }
}

/// Reassembles values written by [`put_parts`] from a prefix scan: groups entries
/// whose keys differ only in the trailing part number, in order.
pub fn join_parts(entries: Vec<(Vec<u8>, Vec<u8>)>) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for (key, value) in entries {
        if key.len() < 2 {
            continue;
        }
        let base = &key[..key.len() - 2];
        match out.last_mut() {
            Some((k, v)) if k.as_slice() == base => v.extend_from_slice(&value),
            _ => out.push((base.to_vec(), value)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exercise(store: &dyn Store) {
        let mut ops = Vec::new();
        let big: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        put_parts(&mut ops, Keyspace::Snapshot, b"doc1", &big);
        put_parts(&mut ops, Keyspace::Snapshot, b"doc2", b"small");
        ops.push(Op::Put(Keyspace::Meta, b"k".to_vec(), b"v".to_vec()));
        store.commit(ops).unwrap();
        let joined = join_parts(store.scan_prefix(Keyspace::Snapshot, b"doc").unwrap());
        assert_eq!(joined.len(), 2);
        assert_eq!(joined[0], (b"doc1".to_vec(), big));
        assert_eq!(joined[1], (b"doc2".to_vec(), b"small".to_vec()));
        assert_eq!(
            store.get(Keyspace::Meta, b"k").unwrap(),
            Some(b"v".to_vec())
        );
        // Keyspaces do not see each other's keys.
        assert!(store.get(Keyspace::Index, b"k").unwrap().is_none());
        assert!(store.scan_prefix(Keyspace::Log, b"").unwrap().is_empty());
        store
            .commit(vec![Op::Delete(Keyspace::Meta, b"k".to_vec())])
            .unwrap();
        assert!(store.get(Keyspace::Meta, b"k").unwrap().is_none());
    }

    #[test]
    fn mem_store_behaves() {
        exercise(&MemStore::default());
    }

    #[test]
    fn sled_store_behaves_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = SledStore::open(dir.path(), 16 << 20).unwrap();
            exercise(&s);
            s.commit(vec![Op::Put(Keyspace::Meta, b"x".to_vec(), b"1".to_vec())])
                .unwrap();
        }
        let s = SledStore::open(dir.path(), 16 << 20).unwrap();
        assert_eq!(s.get(Keyspace::Meta, b"x").unwrap(), Some(b"1".to_vec()));
        assert!(s.size_on_disk() > 0);
    }
}
