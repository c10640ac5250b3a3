//! What was read from documents, kept by the heads it was read at.
//!
//! A value read from a document at some heads is the value at those heads
//! for ever: heads name the whole history. So a reading kept under its heads
//! is never stale; when the document changes, its heads move, the kept
//! reading no longer matches, and the caller reads again. Bounded by a number
//! of entries and by their weight (bytes, say), the oldest going first.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use automerge::ChangeHash;
use kp_core::ids::DocId;

/// Readings of documents by heads (see the module's description).
#[derive(Debug)]
pub struct ByHeads<T: ?Sized> {
    max_entries: usize,
    max_weight: usize,
    inner: Mutex<Inner<T>>,
}

#[derive(Debug)]
struct Inner<T: ?Sized> {
    entries: HashMap<DocId, (Vec<ChangeHash>, Arc<T>, usize)>,
    /// Oldest first.
    order: VecDeque<DocId>,
    weight: usize,
}

impl<T: ?Sized> ByHeads<T> {
    /// At most `max_entries` readings weighing at most `max_weight` in all.
    pub fn new(max_entries: usize, max_weight: usize) -> Self {
        Self {
            max_entries,
            max_weight,
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                order: VecDeque::new(),
                weight: 0,
            }),
        }
    }

    /// The reading of `id` at `heads`, if one is kept.
    pub fn get(&self, id: &DocId, heads: &[ChangeHash]) -> Option<Arc<T>> {
        let s = self.lock();
        let (h, v, _) = s.entries.get(id)?;
        (h.as_slice() == heads).then(|| Arc::clone(v))
    }

    /// The last reading of `id` kept, with the heads it was read at.
    pub fn last(&self, id: &DocId) -> Option<(Vec<ChangeHash>, Arc<T>)> {
        let s = self.lock();
        s.entries
            .get(id)
            .map(|(h, v, _)| (h.clone(), Arc::clone(v)))
    }

    /// Keeps `value`, weighing `weight`, as the reading of `id` at `heads`
    /// (in place of any before it); one heavier than the bound is not kept.
    pub fn keep(&self, id: DocId, heads: Vec<ChangeHash>, value: Arc<T>, weight: usize) {
        if weight > self.max_weight {
            return;
        }
        let mut s = self.lock();
        if let Some((_, _, w)) = s.entries.remove(&id) {
            s.weight -= w;
            s.order.retain(|d| *d != id);
        }
        while !s.order.is_empty()
            && (s.order.len() >= self.max_entries || s.weight + weight > self.max_weight)
        {
            if let Some(gone) = s.order.pop_front()
                && let Some((_, _, w)) = s.entries.remove(&gone)
            {
                s.weight -= w;
            }
        }
        s.weight += weight;
        s.order.push_back(id);
        s.entries.insert(id, (heads, value, weight));
    }

    fn lock(&self) -> MutexGuard<'_, Inner<T>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_are_kept_by_heads_within_their_bounds_oldest_going_first() {
        let (max, weight) = (32, 1000);
        let m: ByHeads<str> = ByHeads::new(max, weight);
        let ids: Vec<DocId> = (0..max + 3).map(|_| DocId::random()).collect();
        let h = vec![ChangeHash([7; 32])];
        for id in &ids {
            m.keep(*id, h.clone(), Arc::from("text"), 4);
        }
        assert!(m.get(&ids[0], &h).is_none());
        assert!(m.get(&ids[2], &h).is_none());
        assert_eq!(m.get(&ids[3], &h), Some(Arc::from("text")));
        // Only at the heads it was read at.
        assert!(m.get(&ids[3], &[]).is_none());
        // Kept again, a reading replaces the one before.
        m.keep(ids[3], Vec::new(), Arc::from("other"), 5);
        assert_eq!(m.last(&ids[3]), Some((Vec::new(), Arc::from("other"))));
        // One that would overflow the weight pushes out the oldest.
        m.keep(ids[4], h.clone(), Arc::from("big"), weight - 10);
        assert!(m.get(&ids[4], &h).is_some());
        assert!(m.get(&ids[5], &h).is_none(), "the oldest went first");
        assert!(m.last(&ids[3]).is_some(), "the newest stayed");
        let s = m.lock();
        assert_eq!(s.entries.len(), 3);
        assert_eq!(s.weight, s.entries.values().map(|e| e.2).sum::<usize>());
        drop(s);
        // One over the bound is not kept at all.
        m.keep(ids[5], h.clone(), Arc::from("x"), weight + 1);
        assert!(m.get(&ids[5], &h).is_none());
    }
}
