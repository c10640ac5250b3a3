//! The store in memory, every write durable at once: for tests of what is
//! above the store. [`crate::TwinStore`] is the one whose power can be cut.

use std::collections::HashMap;
use std::sync::Mutex;

use kp_core::ids::DocId;
use kp_store::{DocBytes, DocSizes, DocWrite, Entries, Keyspace, Op, Store, StoreError};

use crate::disk::Map;

/// Maps in memory; every write is trivially "durable".
#[derive(Debug, Default)]
pub struct MemStore {
    map: Mutex<Map>,
    docs: Mutex<HashMap<DocId, DocBytes>>,
}

impl Clone for MemStore {
    /// A copy of everything stored now.
    fn clone(&self) -> Self {
        Self {
            map: Mutex::new(self.map.lock().expect("store lock poisoned").clone()),
            docs: Mutex::new(self.docs.lock().expect("store lock poisoned").clone()),
        }
    }
}

impl Store for MemStore {
    fn get(&self, ks: Keyspace, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let map = self.map.lock().expect("store lock poisoned");
        Ok(map.get(&(ks, key.to_vec())).cloned())
    }

    fn scan_prefix(&self, ks: Keyspace, prefix: &[u8]) -> Result<Entries, StoreError> {
        let map = self.map.lock().expect("store lock poisoned");
        Ok(map
            .range((ks, prefix.to_vec())..)
            .take_while(|((k, key), _)| *k == ks && key.starts_with(prefix))
            .map(|((_, key), v)| (key.clone(), v.clone()))
            .collect())
    }

    fn commit(&self, ops: Vec<Op>) -> Result<(), StoreError> {
        crate::disk::commit_to(&mut self.map.lock().expect("store lock poisoned"), ops);
        Ok(())
    }

    fn load_doc(&self, id: &DocId) -> Result<DocBytes, StoreError> {
        let docs = self.docs.lock().expect("store lock poisoned");
        Ok(docs.get(id).cloned().unwrap_or_default())
    }

    fn write_docs(&self, writes: &[DocWrite]) -> Result<(), StoreError> {
        let mut docs = self.docs.lock().expect("store lock poisoned");
        for w in writes {
            match w {
                DocWrite::Append(id, bytes) => docs.entry(*id).or_default().log.push(bytes.clone()),
                DocWrite::Snapshot(id, bytes) => {
                    docs.insert(
                        *id,
                        DocBytes {
                            snapshot: Some(bytes.clone()),
                            log: Vec::new(),
                        },
                    );
                }
            }
        }
        Ok(())
    }

    fn doc_sizes(&self, id: &DocId) -> Result<DocSizes, StoreError> {
        let docs = self.docs.lock().expect("store lock poisoned");
        Ok(docs
            .get(id)
            .map(|d| DocSizes {
                snapshot: d.snapshot.as_ref().map_or(0, |s| s.len() as u64),
                log: d.log.iter().map(|r| r.len() as u64 + 8).sum(),
            })
            .unwrap_or_default())
    }

    fn size_on_disk(&self) -> u64 {
        0
    }

    fn index_size_on_disk(&self) -> u64 {
        0
    }
}
