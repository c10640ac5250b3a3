//! The bodies of the drafts people are editing, as last read or written, by
//! the heads they were read at. A `kp draft edit` compares the text it is
//! sent with the body as it reads now; reading a long body out of automerge
//! costs about 30 ns a character (120 ms for 4 MB, most of a one-word edit),
//! and the body the last show or edit left is the body at those heads, for as
//! long as they are the draft's heads. Heads name the whole history, so a
//! body kept under them is never stale: when others write, the heads move
//! and the body is read again.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use automerge::ChangeHash;
use kp_core::ids::DocId;

/// Bodies of at most this many drafts are kept…
const MAX_DRAFTS: usize = 32;
/// …and at most this many bytes of them.
const MAX_BYTES: usize = 64 << 20;

/// A body and the heads it is the body at.
pub(crate) type Body = (Vec<ChangeHash>, Arc<str>);

#[derive(Debug, Default)]
pub(crate) struct Bodies {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    bodies: HashMap<DocId, Body>,
    /// Oldest first.
    order: VecDeque<DocId>,
    bytes: usize,
}

impl Bodies {
    /// The body last kept for `id`, with its heads.
    pub(crate) fn get(&self, id: &DocId) -> Option<Body> {
        self.lock().bodies.get(id).cloned()
    }

    /// Keeps `body` as the body of `id` at `heads`, the oldest bodies going
    /// first when more than the bounds would be kept.
    pub(crate) fn keep(&self, id: DocId, heads: Vec<ChangeHash>, body: Arc<str>) {
        if body.len() > MAX_BYTES {
            return;
        }
        let mut s = self.lock();
        if let Some((_, old)) = s.bodies.remove(&id) {
            s.bytes -= old.len();
            s.order.retain(|d| *d != id);
        }
        while !s.order.is_empty()
            && (s.order.len() >= MAX_DRAFTS || s.bytes + body.len() > MAX_BYTES)
        {
            if let Some(gone) = s.order.pop_front()
                && let Some((_, b)) = s.bodies.remove(&gone)
            {
                s.bytes -= b.len();
            }
        }
        s.bytes += body.len();
        s.order.push_back(id);
        s.bodies.insert(id, (heads, body));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_kept_within_their_bounds_newest_first() {
        let b = Bodies::default();
        let ids: Vec<DocId> = (0..MAX_DRAFTS + 3).map(|_| DocId::random()).collect();
        let h = vec![ChangeHash([7; 32])];
        for id in &ids {
            b.keep(*id, h.clone(), Arc::from("text"));
        }
        assert!(b.get(&ids[0]).is_none());
        assert!(b.get(&ids[2]).is_none());
        assert_eq!(b.get(&ids[3]).map(|(_, t)| t), Some(Arc::from("text")));
        // Kept again, a body replaces the one before.
        b.keep(ids[3], Vec::new(), Arc::from("other"));
        assert_eq!(b.get(&ids[3]), Some((Vec::new(), Arc::from("other"))));
        // A body that would overflow the bytes pushes out the oldest.
        let big: Arc<str> = Arc::from("x".repeat(MAX_BYTES - 10).as_str());
        b.keep(ids[4], h.clone(), big);
        assert!(b.get(&ids[4]).is_some());
        assert!(b.get(&ids[5]).is_none(), "the oldest went first");
        assert!(b.get(&ids[3]).is_some(), "the newest stayed");
        assert_eq!(b.lock().bodies.len(), 3);
        let kept: usize = b.lock().bodies.values().map(|(_, t)| t.len()).sum();
        assert_eq!(b.lock().bytes, kept);
        assert!(kept <= MAX_BYTES);
        // One over the bound is not kept at all.
        b.keep(ids[5], h, Arc::from("x".repeat(MAX_BYTES + 1).as_str()));
        assert!(b.get(&ids[5]).is_none());
    }
}
