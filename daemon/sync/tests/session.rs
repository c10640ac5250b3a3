//! Two sessions joined back to back, without a network: what each sends is
//! handed to the other, with the notices of durable changes each repository
//! publishes, until both fall silent.

use kp_model::draft;
use kp_repo::{ChangeNote, RepoConfig};
use std::sync::Arc;
use std::time::Duration;

use kp_core::identity::NodeId;
use kp_core::ids::DocId;
use kp_model::space;
use kp_proto::replication as rp;
use kp_repo::Repo;
use kp_sync::Session;
use kp_testkit::{MemStore, receive_durably};
use prost::Message;
use tokio::sync::broadcast;

fn node(i: u8) -> NodeId {
    kp_core::identity::NodeKey::from_seed([i; 32]).id()
}

fn repo(i: u8) -> Repo {
    let cfg = RepoConfig {
        group_commit_window: Duration::ZERO,
        idle_compact: Duration::from_secs(3600),
        ..RepoConfig::default()
    };
    Repo::open(
        Arc::new(MemStore::default()),
        kp_core::identity::NodeKey::from_seed([i; 32]),
        cfg,
    )
    .expect("a memory repo opens")
}

/// A space on `a` with nodes 1 and 2 as members, and `drafts` drafts in it
/// whose ids sort before the space's.
fn corpus(a: &Repo, drafts: usize) -> (DocId, Vec<DocId>) {
    corpus_with(a, drafts, "editor")
}

/// [`corpus`] with node 2 in `role`.
fn corpus_with(a: &Repo, drafts: usize, role: &str) -> (DocId, Vec<DocId>) {
    let note = ChangeNote::new("test", "setup");
    let admin = space::Member {
        node_id: node(1).to_string(),
        role: "admin".into(),
        institution: "a".into(),
        ..Default::default()
    };
    let (space_id, ()) = a
        .create_as(DocId::from_bytes([0xff; 16]), &note, |doc| {
            space::init(doc, "s", 7, "", &admin, 0)?;
            let b = space::Member {
                node_id: node(2).to_string(),
                role: role.into(),
                institution: "b".into(),
                ..Default::default()
            };
            space::add_member(doc, &admin.node_id, &b, 0)
        })
        .expect("the space is created");
    let me = node(1).to_string();
    let by = draft::Actor {
        author: "t",
        institution: "a",
        node_id: &me,
    };
    let ids = (0..drafts)
        .map(|d| {
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&(d as u64).to_be_bytes());
            a.create_as(DocId::from_bytes(id), &note, |doc| {
                draft::init(
                    doc,
                    &space_id,
                    &format!("draft {d}"),
                    kp_model::DraftType::WorkingPaper,
                    "text",
                    &by,
                    0,
                )
            })
            .expect("a draft is created")
            .0
        })
        .collect();
    (space_id, ids)
}

struct End {
    repo: Repo,
    session: Session,
    durable: broadcast::Receiver<Arc<Vec<DocId>>>,
}

impl End {
    fn new(repo: &Repo, me: u8, peer: u8) -> Self {
        Self {
            repo: repo.clone(),
            durable: repo.subscribe(),
            session: Session::new(repo.clone(), node(me), node(peer)),
        }
    }

    /// What the notices of durable changes published so far make it send.
    fn notices(&mut self) -> Vec<rp::Frame> {
        let mut out = Vec::new();
        loop {
            let ids = match self.durable.try_recv() {
                Ok(ids) => Some(ids),
                Err(broadcast::error::TryRecvError::Lagged(_)) => None,
                Err(_) => return out,
            };
            out.extend(
                self.session
                    .changed(ids.as_deref().map(Vec::as_slice))
                    .expect("offers"),
            );
        }
    }
}

fn size(frames: &[rp::Frame]) -> usize {
    frames.iter().map(Message::encoded_len).sum()
}

/// Opens a session between `a` and `b` and runs it until both are silent;
/// returns the bytes each side sent, then saves both sides' sync states.
fn exchange(a: &mut End, b: &mut End) -> (usize, usize) {
    let (mut to_b, mut to_a) = (a.session.open(), b.session.open());
    let (mut sent_a, mut sent_b) = (0, 0);
    for _ in 0..10_000 {
        if to_a.is_empty() && to_b.is_empty() {
            to_b = a.notices();
            to_a = b.notices();
            if to_a.is_empty() && to_b.is_empty() {
                kp_testkit::save_states(&a.repo, &mut a.session).expect("saved");
                kp_testkit::save_states(&b.repo, &mut b.session).expect("saved");
                return (sent_a, sent_b);
            }
        }
        sent_a += size(&to_b);
        sent_b += size(&to_a);
        let (for_b, for_a) = (std::mem::take(&mut to_b), std::mem::take(&mut to_a));
        to_a.extend(receive_durably(&b.repo, &mut b.session, for_b).expect("b takes a's frames"));
        to_b.extend(receive_durably(&a.repo, &mut a.session, for_a).expect("a takes b's frames"));
    }
    panic!("the sessions never fell silent");
}

fn heads(repo: &Repo, id: &DocId) -> Option<Vec<automerge::ChangeHash>> {
    repo.meta(id).map(|m| m.heads.clone())
}

#[test]
fn a_clone_takes_every_document_at_once_though_drafts_sort_before_their_space() {
    let (ra, rb) = (repo(1), repo(2));
    let (space_id, drafts) = corpus(&ra, 20);
    let (mut a, mut b) = (End::new(&ra, 1, 2), End::new(&rb, 2, 1));
    exchange(&mut a, &mut b);
    for id in std::iter::once(&space_id).chain(&drafts) {
        assert!(heads(&rb, id).is_some(), "{id} did not arrive");
        assert_eq!(heads(&ra, id), heads(&rb, id));
    }
}

/// A space and its drafts sent whole in one burst are all taken from that
/// burst: the drafts are read only once their space is durable.
#[test]
fn a_space_and_its_drafts_in_one_burst_are_all_taken() {
    let (ra, rb) = (repo(1), repo(2));
    let (space_id, drafts) = corpus(&ra, 3);
    let (mut a, mut b) = (End::new(&ra, 1, 2), End::new(&rb, 2, 1));
    let (to_b, to_a) = (a.session.open(), b.session.open());
    let wholes = receive_durably(&ra, &mut a.session, to_a).expect("a takes b's summary");
    let is_whole = |f: &rp::Frame| matches!(f.body, Some(rp::frame::Body::Whole(_)));
    assert_eq!(wholes.iter().filter(|f| is_whole(f)).count(), 4);
    // The space ends its round (its drafts follow); the drafts share one.
    assert_eq!(Session::rounds(wholes.clone()).len(), 2);
    let burst = to_b.into_iter().chain(wholes).collect();
    let answer = receive_durably(&rb, &mut b.session, burst).expect("b takes the burst");
    for id in std::iter::once(&space_id).chain(&drafts) {
        assert!(heads(&rb, id).is_some(), "{id} was not taken");
    }
    assert!(
        !answer
            .iter()
            .any(|f| matches!(f.body, Some(rp::frame::Body::Want(_)))),
        "nothing needs asking for again"
    );
}

#[test]
fn a_readers_changes_are_refused_and_honest_ones_still_flow() {
    let (ra, rb) = (repo(1), repo(2));
    let (_, drafts) = corpus_with(&ra, 3, "reader");
    let (mut a, mut b) = (End::new(&ra, 1, 2), End::new(&rb, 2, 1));
    exchange(&mut a, &mut b);
    assert!(
        heads(&rb, &drafts[0]).is_some(),
        "a reader receives the space"
    );

    // Node 2 is compromised: it writes into a draft behind its own API's back.
    let note = ChangeNote::new("mallory", "edit");
    rb.change_durably(&drafts[0], &note, |doc| {
        automerge::transaction::Transactable::put(doc, automerge::ROOT, "title", "Pwned")?;
        Ok(())
    })
    .unwrap();
    let before = heads(&ra, &drafts[0]);
    let (mut a, mut b) = (End::new(&ra, 1, 2), End::new(&rb, 2, 1));
    exchange(&mut a, &mut b);
    assert_eq!(heads(&ra, &drafts[0]), before, "nothing of it was applied");
    assert!(a.session.refused() > 0);
    assert!(
        b.session.is_blocked(&drafts[0]),
        "the reader's node was told its changes were refused"
    );

    // The admin's own edits still reach the reader.
    ra.change_durably(&drafts[1], &ChangeNote::new("ana", "edit"), |doc| {
        automerge::transaction::Transactable::put(doc, automerge::ROOT, "note", "fine")?;
        Ok(())
    })
    .unwrap();
    let (mut a, mut b) = (End::new(&ra, 1, 2), End::new(&rb, 2, 1));
    exchange(&mut a, &mut b);
    assert_eq!(heads(&ra, &drafts[1]), heads(&rb, &drafts[1]));
}

#[test]
fn nodes_holding_the_same_documents_agree_on_them_at_their_first_session() {
    // B got every document some other way (a restored backup, say): the
    // first session compares full lists and finds nothing to send, and
    // from then on those documents are in the digest, not the list.
    let (ra, rb) = (repo(1), repo(2));
    let (space_id, drafts) = corpus(&ra, 200);
    for id in std::iter::once(&space_id).chain(&drafts) {
        let kp_repo::Saved {
            document: bytes,
            signed,
            ..
        } = ra.saved(id).unwrap().unwrap();
        let (ticket, _) = rb.import(id, &bytes, &signed, &|_, _| Ok(())).unwrap();
        rb.wait(ticket.ticket).unwrap();
    }
    let (mut a, mut b) = (End::new(&ra, 1, 2), End::new(&rb, 2, 1));
    let (first_a, first_b) = exchange(&mut a, &mut b);
    assert!(
        first_a + first_b > 201 * 40,
        "the first session lists everything"
    );
    let (mut a, mut b) = (End::new(&ra, 1, 2), End::new(&rb, 2, 1));
    let (sent_a, sent_b) = exchange(&mut a, &mut b);
    assert!(sent_a + sent_b < 200, "{sent_a} + {sent_b} bytes");
}

#[test]
fn reconnecting_after_one_small_edit_sends_that_edit_not_the_corpus() {
    let (ra, rb) = (repo(1), repo(2));
    let (_, drafts) = corpus(&ra, 200);
    let (mut a, mut b) = (End::new(&ra, 1, 2), End::new(&rb, 2, 1));
    let (clone, _) = exchange(&mut a, &mut b);

    // An edit while apart, then a new session each side.
    let edited = drafts[57];
    let note = ChangeNote::new("test", "edit");
    ra.change_durably(&edited, &note, |doc| {
        automerge::transaction::Transactable::put(doc, automerge::ROOT, "note", "revised")?;
        Ok(())
    })
    .expect("edited");
    let (mut a, mut b) = (End::new(&ra, 1, 2), End::new(&rb, 2, 1));
    let (sent_a, sent_b) = exchange(&mut a, &mut b);
    assert_eq!(heads(&ra, &edited), heads(&rb, &edited));
    // A full summary alone would list 201 documents at ~70 bytes each.
    assert!(
        sent_a + sent_b < 2048,
        "reconnecting sent {sent_a} + {sent_b} bytes (the clone: {clone})"
    );

    // Nothing changed: the summaries and their digests are all that goes.
    let (mut a, mut b) = (End::new(&ra, 1, 2), End::new(&rb, 2, 1));
    let (sent_a, sent_b) = exchange(&mut a, &mut b);
    assert!(sent_a + sent_b < 200, "{sent_a} + {sent_b} bytes");
}

#[test]
fn each_side_counts_the_changes_that_went_out_and_came_in() {
    let (ra, rb) = (repo(1), repo(2));
    let (space, drafts) = corpus(&ra, 5);
    let held = |r: &Repo| -> u64 {
        std::iter::once(&space)
            .chain(&drafts)
            .map(|id| r.check(id).expect("checked").changes as u64)
            .sum()
    };
    let (mut a, mut b) = (End::new(&ra, 1, 2), End::new(&rb, 2, 1));
    exchange(&mut a, &mut b);
    let (ea, eb) = (a.session.take_edits(), b.session.take_edits());
    // The clone: every change of the six documents, once.
    assert_eq!(ea.sent, held(&ra), "{ea:?} {eb:?}");
    assert_eq!(eb.received, ea.sent);
    assert_eq!((ea.received, eb.sent), (0, 0));
    // Taken: counted from zero again.
    assert_eq!(a.session.take_edits(), kp_sync::Edits::default());

    // Two edits at B, one at A, while apart: each side counts what was new
    // to it exactly; what went out may carry more (automerge sends a small
    // document whole when the edit is a third of it).
    let note = ChangeNote::new("test", "edit");
    let edit = |r: &Repo, id: &DocId, v: &str| {
        r.change_durably(id, &note, |doc| {
            automerge::transaction::Transactable::put(doc, automerge::ROOT, "note", v)?;
            Ok(())
        })
        .expect("edited");
    };
    edit(&rb, &drafts[1], "b1");
    edit(&rb, &drafts[2], "b2");
    edit(&ra, &drafts[3], "a1");
    let (mut a, mut b) = (End::new(&ra, 1, 2), End::new(&rb, 2, 1));
    exchange(&mut a, &mut b);
    let (ea, eb) = (a.session.take_edits(), b.session.take_edits());
    assert_eq!((ea.received, eb.received), (2, 1), "{ea:?} {eb:?}");
    assert!(ea.sent >= 1 && eb.sent >= 2, "{ea:?} {eb:?}");
    assert_eq!(held(&ra), held(&rb));
}
