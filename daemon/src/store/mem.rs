//! The in-memory twin of the sled store, for deterministic simulation tests.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::{Keyspace, Op, Store, StoreError};

/// An ordered map in memory; `commit` is atomic and trivially "durable".
#[derive(Debug, Default)]
pub struct MemStore {
    map: Mutex<BTreeMap<(Keyspace, Vec<u8>), Vec<u8>>>,
}

impl Store for MemStore {
    fn get(&self, ks: Keyspace, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let map = self.map.lock().expect("store lock poisoned");
        Ok(map.get(&(ks, key.to_vec())).cloned())
    }

    fn scan_prefix(
        &self,
        ks: Keyspace,
        prefix: &[u8],
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
        let map = self.map.lock().expect("store lock poisoned");
        Ok(map
            .range((ks, prefix.to_vec())..)
            .take_while(|((k, key), _)| *k == ks && key.starts_with(prefix))
            .map(|((_, key), v)| (key.clone(), v.clone()))
            .collect())
    }

    fn commit(&self, ops: Vec<Op>) -> Result<(), StoreError> {
        let mut map = self.map.lock().expect("store lock poisoned");
        for op in ops {
            match op {
                Op::Put(ks, k, v) => {
                    map.insert((ks, k), v);
                }
                Op::Delete(ks, k) => {
                    map.remove(&(ks, k));
                }
            }
        }
        Ok(())
    }

    fn size_on_disk(&self) -> u64 {
        0
    }
}
