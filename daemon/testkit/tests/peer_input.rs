//! Property tests of the code that decodes and checks what partners send
//! (frames, sync messages, whole documents, signatures, roles), with bounded
//! cases so that they run in the normal suite. `scripts/fuzz` runs the same
//! target under cargo fuzz, unbounded.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use automerge::ReadDoc;
use automerge::sync::{ChunkList, Message, MessageVersion, State};
use automerge::transaction::Transactable;
use kp_core::authorship::Attestation;
use kp_core::identity::NodeKey;
use kp_core::ids::DocId;
use kp_repo::{ChangeNote, Repo, RepoConfig};
use kp_testkit::MemStore;
use kp_testkit::peer_input::{Recording, Target};
use proptest::prelude::*;

fn recording() -> &'static Recording {
    static R: OnceLock<Recording> = OnceLock::new();
    R.get_or_init(Recording::new)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

#[test]
fn a_genuine_partner_is_taken_in_and_proven() {
    let frames = recording().frames();
    assert!(frames.len() > 1000, "the recording holds the exchange");
    let mut t = Target::new();
    assert!(t.feed(frames) >= 3);
    assert_eq!(t.ended, None);
    t.check().unwrap();
    assert!(t.text().unwrap().contains("6.4%"), "{:?}", t.text());
    assert!(t.authors().contains(&NodeKey::from_seed([2; 32]).id()));
    assert_eq!(t.documents(), 3, "the partner's own draft came whole");
}

proptest! {
    #![proptest_config(config())]

    /// Bytes of the genuine exchange, some flipped: whatever gets in is
    /// proven, and the node never panics.
    #[test]
    fn flipped_bytes_never_let_an_unproven_change_in(
        flips in proptest::collection::vec((any::<usize>(), 1u8..=255), 1..12)
    ) {
        let mut bytes = recording().frames().to_vec();
        for (at, x) in flips {
            let at = at % bytes.len();
            bytes[at] ^= x;
        }
        let mut t = Target::new();
        t.feed(&bytes);
        prop_assert_eq!(t.check(), Ok(()));
    }

    /// The exchange cut anywhere, or a piece of it sent twice.
    #[test]
    fn cut_and_repeated_exchanges_are_safe(cut in any::<usize>(), again in any::<usize>()) {
        let all = recording().frames();
        let cut = cut % all.len();
        let again = again % all.len();
        let mut t = Target::new();
        t.feed(&all[..cut]);
        t.feed(&all[again..]);
        prop_assert_eq!(t.check(), Ok(()));
    }

    /// Arbitrary bytes as frames.
    #[test]
    fn arbitrary_bytes_are_refused_safely(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let mut t = Target::new();
        t.feed(&bytes);
        prop_assert_eq!(t.check(), Ok(()));
    }
}

fn repo(i: u8) -> Repo {
    let cfg = RepoConfig {
        group_commit_window: Duration::ZERO,
        ..RepoConfig::default()
    };
    Repo::open(
        Arc::new(MemStore::default()),
        NodeKey::from_seed([i; 32]),
        cfg,
    )
    .unwrap()
}

/// A V1 sync message with `changes` (raw change chunks) and `heads`.
fn message(heads: Vec<automerge::ChangeHash>, changes: Vec<Vec<u8>>) -> Vec<u8> {
    Message {
        heads,
        need: Vec::new(),
        have: Vec::new(),
        changes: ChunkList::from(changes),
        flags: None,
        version: MessageVersion::V1,
    }
    .encode()
}

proptest! {
    #![proptest_config(config())]

    /// A partner's chain of changes arrives in two messages, the later part
    /// first (as when a bloom filter's false positive held back its start):
    /// the first waits for its dependencies, its signature with it, and once
    /// the start arrives, unsigned, the whole chain is proven and taken. The
    /// start alone, without the signed part ever coming, is refused.
    #[test]
    fn a_chain_split_across_messages_is_proven_by_its_tip(n in 2usize..12, held in 1usize..11) {
        let held = held.min(n - 1);
        let (node, peer) = (repo(1), repo(2));
        let note = ChangeNote::new("t", "t");
        let (id, ()) = node.create(&note, |doc| {
            doc.put(automerge::ROOT, "kind", "note")?;
            Ok(())
        }).unwrap();
        let kp_repo::Saved { document: bytes, signed, .. } = node.saved(&id).unwrap().unwrap();
        let (t, _) = peer.import(&id, &bytes, &signed, &|_, _| Ok(())).unwrap();
        peer.wait(t.ticket).unwrap();
        let before = peer.meta(&id).unwrap().heads.clone();
        for i in 0..n {
            peer.change_durably(&id, &note, |doc| {
                doc.put(automerge::ROOT, format!("k{i}"), i as i64)?;
                Ok(())
            }).unwrap();
        }
        let (chain, heads) = peer.read(&id, |doc| {
            let chain: Vec<Vec<u8>> = doc
                .get_changes(&before)
                .iter()
                .map(|c| c.raw_bytes().to_vec())
                .collect();
            (chain, doc.get_heads())
        }).unwrap();
        prop_assert_eq!(chain.len(), n);
        let actor = kp_core::ids::actor_id(&NodeKey::from_seed([2; 32]).id(), peer.incarnation());
        let tip = Attestation::new(&NodeKey::from_seed([2; 32]), &actor, heads[0]);

        // The start alone: refused, nothing changes, and the node goes on
        // writing as itself.
        let ours = |node: &Repo| node.read(&id, |doc| (doc.get_heads(), doc.get_actor().clone())).unwrap();
        let was = ours(&node);
        let start = message(heads.clone(), chain[..held].to_vec());
        let mut state = State::new();
        let err = node.sync_receive(&id, &mut state, &[&start], &[], None).unwrap_err();
        prop_assert!(err.to_string().contains("no signature"), "{}", err);
        prop_assert_eq!(&ours(&node), &was);

        // The rest first; then a message the node refuses (an unsigned
        // change by a third node), which must not take the waiting rest with
        // it; then the start.
        let rest = message(heads.clone(), chain[held..].to_vec());
        let mut state = State::new();
        let t = node.sync_receive(&id, &mut state, &[&rest], std::slice::from_ref(&tip), None).unwrap();
        node.wait(t.ticket).unwrap();
        let third = repo(3);
        let (t, _) = third.import(&id, &bytes, &signed, &|_, _| Ok(())).unwrap();
        third.wait(t.ticket).unwrap();
        third.change_durably(&id, &note, |doc| {
            doc.put(automerge::ROOT, "third", "unsigned")?;
            Ok(())
        }).unwrap();
        let (forged, forged_heads) = third.read(&id, |doc| {
            let change = doc.get_last_local_change().unwrap().raw_bytes().to_vec();
            (change, doc.get_heads())
        }).unwrap();
        let mut other = State::new();
        let err = node.sync_receive(&id, &mut other, &[&message(forged_heads, vec![forged])], &[], None).unwrap_err();
        prop_assert!(err.to_string().contains("no signature"), "{}", err);
        let t = node.sync_receive(&id, &mut state, &[&start], &[], None).unwrap();
        node.wait(t.ticket).unwrap();
        let got = node.read(&id, |doc| doc.get_heads()).unwrap();
        prop_assert_eq!(got, heads);
        let last = node.read(&id, |doc| doc.get(automerge::ROOT, format!("k{}", n - 1)).unwrap().is_some()).unwrap();
        prop_assert!(last);
        let third = node.read(&id, |doc| doc.get(automerge::ROOT, "third").unwrap().is_some()).unwrap();
        prop_assert!(!third);
        prop_assert!(node.blame(&id).unwrap().iter().all(|b| b.verified));
        // What the node writes next is its own and proven to its partner.
        node.change_durably(&id, &note, |doc| {
            doc.put(automerge::ROOT, "after", true)?;
            Ok(())
        }).unwrap();
        prop_assert_eq!(ours(&node).1, was.1);
        let kp_repo::Saved { document, signed, .. } = node.saved(&id).unwrap().unwrap();
        let (t, _) = peer.import(&id, &document, &signed, &|_, _| Ok(())).unwrap();
        peer.wait(t.ticket).unwrap();
        prop_assert!(peer.blame(&id).unwrap().iter().all(|b| b.verified));
        let _ = DocId::random();
    }
}
