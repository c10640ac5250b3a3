//! The repository over real stores: compaction and reopening, the bounded cache,
//! fresh actors per process start, and values kept out of sled's unsynced blobs.

use std::sync::Arc;

use kp_core::identity::{NodeId, NodeKey};
use kp_core::ids::DocId;
use kp_core::ids::parse_actor;
use kp_model::draft::{self, Actor};
use kp_repo::{ChangeNote, Repo, RepoConfig};
use kp_store::{DocBytes, DocSizes, DocWrite, Entries, Keyspace, Op, SledStore, Store, StoreError};
use kp_testkit::MemStore;

const BY: Actor<'static> = Actor {
    author: "Ana",
    institution: "Test Institute",
    node_id: "node",
};

fn node() -> NodeKey {
    NodeKey::from_seed([7; 32])
}

fn small_logs() -> RepoConfig {
    RepoConfig {
        compact_min_bytes: 2048,
        compact_factor: 1,
        ..RepoConfig::default()
    }
}

fn new_draft(repo: &Repo, body: &str) -> kp_core::ids::DocId {
    let space = kp_core::ids::DocId::random();
    let note = ChangeNote::new("Ana", "create draft");
    repo.create(&note, |doc| {
        draft::init(
            doc,
            &space,
            "Title",
            kp_model::DraftType::WorkingPaper,
            body,
            &BY,
            1,
        )
    })
    .unwrap()
    .0
}

fn body(repo: &Repo, id: &kp_core::ids::DocId) -> String {
    repo.read(id, |doc| draft::read(doc, None).unwrap().body)
        .unwrap()
}

/// Appends `n` lines, each its own durable change.
fn type_lines(repo: &Repo, id: &kp_core::ids::DocId, n: usize) -> String {
    let mut text = body(repo, id);
    for i in 0..n {
        text.push_str(&format!("line {i}\n"));
        let t = text.clone();
        repo.change_durably(id, &ChangeNote::new("Ana", "edit"), |doc| {
            draft::set_body(doc, &t, &BY)
        })
        .unwrap();
    }
    text
}

fn compaction_and_reopen(open: impl Fn() -> Arc<dyn Store>) {
    let (id, text, heads) = {
        let repo = Repo::open(open(), node(), small_logs()).unwrap();
        let id = new_draft(&repo, "start\n");
        let text = type_lines(&repo, &id, 200);
        let meta = repo.meta(&id).unwrap();
        assert!(
            meta.sizes.log <= meta.sizes.snapshot.max(2048) + 1024,
            "the log was compacted along the way: {meta:?}"
        );
        repo.compact(&id).unwrap();
        let meta = repo.meta(&id).unwrap();
        assert_eq!(meta.sizes.log, 0);
        let heads = repo.read(&id, |d| d.get_heads()).unwrap();
        // Some edits after compaction live in the log only.
        let text = {
            let t = format!("{text}after compaction\n");
            let tt = t.clone();
            repo.change_durably(&id, &ChangeNote::new("Ana", "edit"), |doc| {
                draft::set_body(doc, &tt, &BY)
            })
            .unwrap();
            t
        };
        assert!(repo.meta(&id).unwrap().sizes.log > 0);
        repo.shutdown();
        (id, text, heads)
    };
    let repo = Repo::open(open(), node(), small_logs()).unwrap();
    assert_eq!(body(&repo, &id), text);
    let now = repo.read(&id, |d| d.get_heads()).unwrap();
    assert_ne!(now, heads);
    let meta = repo.meta(&id).unwrap();
    assert_eq!(meta.title, "Title");
    assert_eq!(meta.heads, now);
    repo.shutdown();
}

#[test]
fn sled_store_reopens_after_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    compaction_and_reopen(|| Arc::new(SledStore::open(&path, 8 << 20).unwrap()));
}

#[test]
fn mem_store_behaves_like_sled() {
    let store: Arc<dyn Store> = Arc::new(MemStore::default());
    compaction_and_reopen(|| Arc::clone(&store));
}

#[test]
fn a_lagging_index_is_refreshed_after_an_unclean_stop() {
    let store: Arc<dyn Store> = Arc::new(MemStore::default());
    let first = Repo::open(Arc::clone(&store), node(), RepoConfig::default()).unwrap();
    let id = new_draft(&first, "a\n");
    type_lines(&first, &id, 3);
    let heads = first.read(&id, |d| d.get_heads()).unwrap();
    // No shutdown: the index entry in the store still has the heads of creation.
    let second = Repo::open(Arc::clone(&store), node(), RepoConfig::default()).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while second.meta(&id).unwrap().heads != heads {
        assert!(
            std::time::Instant::now() < deadline,
            "the index entry was not refreshed"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(body(&second, &id), "a\nline 0\nline 1\nline 2\n");
    second.shutdown();
    first.shutdown();
}

#[test]
fn every_start_is_a_new_actor_so_no_seq_is_reused() {
    let store: Arc<dyn Store> = Arc::new(MemStore::default());
    let id = {
        let repo = Repo::open(Arc::clone(&store), node(), RepoConfig::default()).unwrap();
        assert_eq!(repo.incarnation(), 1);
        let id = new_draft(&repo, "a\n");
        type_lines(&repo, &id, 2);
        repo.shutdown();
        id
    };
    let repo = Repo::open(Arc::clone(&store), node(), RepoConfig::default()).unwrap();
    assert_eq!(repo.incarnation(), 2);
    type_lines(&repo, &id, 2);
    let actors: Vec<(NodeId, u64, u64)> = repo
        .read(&id, |doc| {
            doc.get_changes_meta(&[])
                .into_iter()
                .map(|c| {
                    let (n, inc) = parse_actor(&c.actor).unwrap();
                    (n, inc, c.seq)
                })
                .collect()
        })
        .unwrap();
    assert!(
        actors.iter().all(|(n, _, _)| *n == node().id()),
        "every change names the node"
    );
    let mut pairs: Vec<(u64, u64)> = actors.iter().map(|(_, i, s)| (*i, *s)).collect();
    let all = pairs.len();
    pairs.sort_unstable();
    pairs.dedup();
    assert_eq!(pairs.len(), all, "no (actor, seq) pair twice");
    assert!(pairs.iter().any(|(i, _)| *i == 2) && pairs.iter().any(|(i, _)| *i == 1));
    repo.shutdown();
}

#[test]
fn the_cache_is_bounded_and_listings_need_no_loading() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = RepoConfig {
        cache_docs: 4,
        ..RepoConfig::default()
    };
    let ids: Vec<_> = {
        let repo = Repo::open(
            Arc::new(SledStore::open(dir.path(), 8 << 20).unwrap()),
            node(),
            cfg.clone(),
        )
        .unwrap();
        let ids = (0..20)
            .map(|i| new_draft(&repo, &format!("draft {i}\n")))
            .collect();
        assert!(
            repo.cached() <= 5,
            "cache holds {} documents",
            repo.cached()
        );
        repo.shutdown();
        ids
    };
    let repo = Repo::open(
        Arc::new(SledStore::open(dir.path(), 8 << 20).unwrap()),
        node(),
        cfg,
    )
    .unwrap();
    assert_eq!(repo.list().len(), 20);
    assert_eq!(repo.cached(), 0, "listing loads nothing");
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(body(&repo, id), format!("draft {i}\n"));
    }
    assert!(repo.cached() <= 5);
    repo.shutdown();
}

#[test]
fn large_documents_never_reach_sleds_unsynced_blob_files() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repo::open(
        Arc::new(SledStore::open(dir.path(), 8 << 20).unwrap()),
        node(),
        RepoConfig::default(),
    )
    .unwrap();
    // A long body of varied text (so that automerge's compression cannot shrink
    // it below sled's blob threshold).
    let mut text = String::new();
    let mut x: u64 = 1;
    while text.len() < 1 << 20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        text.push_str(&format!("{x:x} "));
    }
    let id = new_draft(&repo, &text);
    repo.compact(&id).unwrap();
    assert!(repo.meta(&id).unwrap().sizes.snapshot > 512 * 1024);
    repo.shutdown();
    let blobs = dir.path().join("blobs");
    let count = std::fs::read_dir(&blobs).map(|d| d.count()).unwrap_or(0);
    assert_eq!(count, 0, "sled wrote {count} blob files");
}

#[test]
fn a_failed_edit_changes_nothing() {
    let repo = Repo::open(Arc::new(MemStore::default()), node(), RepoConfig::default()).unwrap();
    let id = new_draft(&repo, "the cost\n");
    let before = repo.read(&id, |d| d.get_heads()).unwrap();
    let err = repo
        .change(&id, &ChangeNote::new("Ana", "comment"), |doc| {
            // Writes something, then fails: the partial ops must be rolled back.
            draft::set_body(doc, "changed\n", &BY)?;
            draft::add_comment(doc, "c1", "absent", "x", &BY, 1)
        })
        .unwrap_err();
    assert!(err.to_string().contains("does not occur"), "{err}");
    assert_eq!(repo.read(&id, |d| d.get_heads()).unwrap(), before);
    assert_eq!(body(&repo, &id), "the cost\n");
    repo.shutdown();
}

/// A store whose commits wait at a gate, to observe what happens before they end.
struct GatedStore {
    inner: MemStore,
    open: std::sync::Mutex<bool>,
    cv: std::sync::Condvar,
    commits: std::sync::atomic::AtomicUsize,
}

impl GatedStore {
    fn pass(&self) {
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.cv.wait(open).unwrap();
        }
        self.commits
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Store for GatedStore {
    fn get(&self, ks: Keyspace, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(ks, key)
    }
    fn scan_prefix(&self, ks: Keyspace, prefix: &[u8]) -> Result<Entries, StoreError> {
        self.inner.scan_prefix(ks, prefix)
    }
    fn commit(&self, ops: Vec<Op>) -> Result<(), StoreError> {
        self.pass();
        self.inner.commit(ops)
    }
    fn load_doc(&self, id: &DocId) -> Result<DocBytes, StoreError> {
        self.inner.load_doc(id)
    }
    fn write_docs(&self, writes: &[DocWrite]) -> Result<(), StoreError> {
        self.pass();
        self.inner.write_docs(writes)
    }
    fn doc_sizes(&self, id: &DocId) -> Result<DocSizes, StoreError> {
        self.inner.doc_sizes(id)
    }
    fn size_on_disk(&self) -> u64 {
        0
    }

    fn index_size_on_disk(&self) -> u64 {
        0
    }
}

#[test]
fn an_edit_is_acknowledged_only_after_its_commit() {
    let store = Arc::new(GatedStore {
        inner: MemStore::default(),
        open: std::sync::Mutex::new(true),
        cv: std::sync::Condvar::new(),
        commits: Default::default(),
    });
    let repo = Repo::open(
        Arc::clone(&store) as Arc<dyn Store>,
        node(),
        RepoConfig::default(),
    )
    .unwrap();
    let id = new_draft(&repo, "a\n");
    *store.open.lock().unwrap() = false;
    let before = store.commits.load(std::sync::atomic::Ordering::SeqCst);
    let (tx, rx) = std::sync::mpsc::channel();
    let r = repo.clone();
    let editor = std::thread::spawn(move || {
        r.change_durably(&id, &ChangeNote::new("Ana", "edit"), |doc| {
            draft::set_body(doc, "a\nb\n", &BY)
        })
        .unwrap();
        tx.send(()).unwrap();
    });
    // While the commit is held at the gate, the edit is not acknowledged.
    assert!(
        rx.recv_timeout(std::time::Duration::from_millis(300))
            .is_err()
    );
    assert_eq!(
        store.commits.load(std::sync::atomic::Ordering::SeqCst),
        before
    );
    *store.open.lock().unwrap() = true;
    store.cv.notify_all();
    rx.recv_timeout(std::time::Duration::from_secs(10))
        .expect("acknowledged once committed");
    assert!(store.commits.load(std::sync::atomic::Ordering::SeqCst) > before);
    editor.join().unwrap();
    repo.shutdown();
}

/// Changes from a peer pass the acceptance check before they touch the stored
/// document: a refused sync message leaves the document and the sync state as
/// they were, an accepted one is applied (once).
#[test]
fn a_refused_sync_message_leaves_nothing_behind() {
    use automerge::sync::{State, SyncDoc};
    use automerge::transaction::Transactable;
    use kp_model::ModelError;

    let (ours, theirs) = (
        Repo::open(Arc::new(MemStore::default()), node(), RepoConfig::default()).unwrap(),
        Repo::open(
            Arc::new(MemStore::default()),
            NodeKey::from_seed([8; 32]),
            RepoConfig::default(),
        )
        .unwrap(),
    );
    let id = new_draft(&ours, "the text");
    let kp_repo::Saved {
        document: bytes,
        signed,
        ..
    } = ours.saved(&id).unwrap().unwrap();
    let (ticket, _) = theirs.import(&id, &bytes, &signed, &|_, _| Ok(())).unwrap();
    theirs.wait(ticket.ticket).unwrap();
    // The peer writes a key, and the message carrying it goes to us.
    let note = ChangeNote::new("Bo", "edit");
    theirs
        .change_durably(&id, &note, |doc| {
            doc.put(automerge::ROOT, "mark", "from the peer")?;
            Ok(())
        })
        .unwrap();
    let mut attested = std::collections::HashSet::new();
    let mut message = |state: &mut State| {
        theirs
            .sync_message(&id, state, &mut attested)
            .unwrap()
            .unwrap()
    };
    let mark = |repo: &Repo| {
        repo.read(&id, |doc| {
            automerge::ReadDoc::get(doc, automerge::ROOT, "mark")
                .unwrap()
                .map(|(v, _)| v.to_string())
        })
        .unwrap()
    };
    let heads_before = ours.meta(&id).unwrap().heads.clone();

    // Round one: their heads and a bloom filter, then what we lack.
    let (mut ours_state, mut theirs_state) = (State::new(), State::new());
    let (first, _) = message(&mut theirs_state);
    ours.sync_receive(&id, &mut ours_state, &[&first], &[], None)
        .unwrap();
    let (reply, _) = ours
        .sync_message(&id, &mut ours_state, &mut Default::default())
        .unwrap()
        .unwrap();
    theirs
        .read(&id, |doc| {
            doc.sync().receive_sync_message(
                &mut theirs_state,
                automerge::sync::Message::decode(&reply).unwrap(),
            )
        })
        .unwrap()
        .unwrap();
    let (changes, signed) = message(&mut theirs_state);
    let peer_node = NodeKey::from_seed([8; 32]).id();
    assert!(
        signed
            .iter()
            .any(|s| s.node() == Some(peer_node) && s.verifies()),
        "the peer's change goes with its signature: {signed:?}"
    );

    let refuse = |_: &mut automerge::AutoCommit, _: &[kp_core::authorship::Link]| {
        Err(ModelError::invalid("not today"))
    };
    let saved_state = ours_state.encode();
    let err = ours
        .sync_receive(&id, &mut ours_state, &[&changes], &signed, Some(&refuse))
        .unwrap_err();
    assert!(err.to_string().contains("not today"), "{err}");
    assert_eq!(mark(&ours), None);
    assert_eq!(ours.meta(&id).unwrap().heads, heads_before);
    assert_eq!(ours_state.encode(), saved_state);

    // Without its signature, or with a damaged one, the change is refused too.
    let mut damaged = signed.clone();
    for s in &mut damaged {
        s.signature[0] ^= 1;
    }
    for (without, why) in [
        (&[][..], "carries no signature"),
        (&damaged[..], "does not verify"),
    ] {
        let err = ours
            .sync_receive(
                &id,
                &mut ours_state,
                &[&changes],
                without,
                Some(&|_, _| Ok(())),
            )
            .unwrap_err();
        assert!(err.to_string().contains(why), "{err}");
        assert_eq!(mark(&ours), None);
        assert_eq!(ours_state.encode(), saved_state);
    }

    let ticket = ours
        .sync_receive(
            &id,
            &mut ours_state,
            &[&changes],
            &signed,
            Some(&|_, _| Ok(())),
        )
        .unwrap();
    ours.wait(ticket.ticket).unwrap();
    assert_eq!(mark(&ours).as_deref(), Some("\"from the peer\""));
    assert_eq!(
        ours.meta(&id).unwrap().heads,
        theirs.meta(&id).unwrap().heads
    );
}

/// An edit made on an old version (`kp draft edit` of a text opened earlier)
/// does not build on the node's latest change, so automerge writes it with a
/// derived actor: it is still the node's, each actor's changes are still a
/// chain, and one signature per actor proves them all to a partner.
#[test]
fn an_edit_on_an_old_version_keeps_the_nodes_changes_provable() {
    use automerge::transaction::Transactable;

    let repo = Repo::open(Arc::new(MemStore::default()), node(), RepoConfig::default()).unwrap();
    let id = new_draft(&repo, "the text");
    let base = repo.read(&id, |doc| doc.get_heads()).unwrap();
    let note = ChangeNote::new("Ana", "edit");
    repo.change_durably(&id, &note, |doc| {
        doc.put(automerge::ROOT, "a", 1)?;
        Ok(())
    })
    .unwrap();
    let ((), version) = repo
        .change_at(&id, Some(&base), &note, |doc| {
            doc.put(automerge::ROOT, "b", 2)?;
            Ok(())
        })
        .unwrap();
    let heads = repo.read(&id, |doc| doc.get_heads()).unwrap();
    assert_eq!(heads.len(), 2, "the two edits are concurrent");
    // The version the edit made holds it and its base, not the other edit.
    assert_eq!(version.len(), 1);
    assert!(heads.contains(&version[0]));
    let (a, b) = repo
        .read(&id, |doc| {
            use automerge::ReadDoc;
            let at = |k| doc.get_at(automerge::ROOT, k, &version).unwrap().is_some();
            (at("a"), at("b"))
        })
        .unwrap();
    assert_eq!((a, b), (false, true));
    // Nothing to change: the version is the base itself.
    let ((), same) = repo.change_at(&id, Some(&base), &note, |_| Ok(())).unwrap();
    assert_eq!(same, base);
    let blame = repo.blame(&id).unwrap();
    assert_eq!(blame.len(), 3);
    assert!(blame.iter().all(|b| b.verified), "{blame:?}");
    assert!(
        blame.iter().all(|b| b.node == Some(node().id())),
        "every change is the node's: {blame:?}"
    );

    let peer = Repo::open(
        Arc::new(MemStore::default()),
        NodeKey::from_seed([8; 32]),
        RepoConfig::default(),
    )
    .unwrap();
    let kp_repo::Saved {
        document: bytes,
        signed,
        ..
    } = repo.saved(&id).unwrap().unwrap();
    assert_eq!(
        signed.len(),
        2,
        "one signature per actor: the node's, the derived one"
    );
    let (ticket, _) = peer.import(&id, &bytes, &signed, &|_, _| Ok(())).unwrap();
    peer.wait(ticket.ticket).unwrap();
    assert!(peer.blame(&id).unwrap().iter().all(|b| b.verified));
    // Without it, the partner refuses the document.
    let other = Repo::open(
        Arc::new(MemStore::default()),
        NodeKey::from_seed([9; 32]),
        RepoConfig::default(),
    )
    .unwrap();
    let err = other.import(&id, &bytes, &[], &|_, _| Ok(())).unwrap_err();
    assert!(err.to_string().contains("carries no signature"), "{err}");
    assert!(other.meta(&id).is_none());
}

/// A node that took in a partner's changes keeps their signatures (in the
/// document's log, then in the store once the log is compacted), so it can
/// relay them after a restart: a third node takes the document from it.
#[test]
fn partners_signatures_survive_a_restart_and_a_compaction() {
    use automerge::transaction::Transactable;

    let author = Repo::open(
        Arc::new(MemStore::default()),
        NodeKey::from_seed([8; 32]),
        RepoConfig::default(),
    )
    .unwrap();
    let id = new_draft(&author, "the text");
    author
        .change_durably(&id, &ChangeNote::new("Bo", "edit"), |doc| {
            doc.put(automerge::ROOT, "mark", 1)?;
            Ok(())
        })
        .unwrap();
    let kp_repo::Saved {
        document: bytes,
        signed,
        ..
    } = author.saved(&id).unwrap().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let open = || -> Repo {
        let store = SledStore::open(&dir.path().join("store"), 8 << 20).unwrap();
        Repo::open(Arc::new(store), node(), RepoConfig::default()).unwrap()
    };
    let relays_to = |relay: &Repo, seed: u8| {
        let kp_repo::Saved {
            document: bytes,
            signed,
            ..
        } = relay.saved(&id).unwrap().unwrap();
        let author_node = NodeKey::from_seed([8; 32]).id();
        assert!(
            signed
                .iter()
                .any(|s| s.node() == Some(author_node) && s.verifies()),
            "the partner's signature goes along: {signed:?}"
        );
        let third = Repo::open(
            Arc::new(MemStore::default()),
            NodeKey::from_seed([seed; 32]),
            RepoConfig::default(),
        )
        .unwrap();
        let (ticket, _) = third.import(&id, &bytes, &signed, &|_, _| Ok(())).unwrap();
        third.wait(ticket.ticket).unwrap();
        assert!(third.blame(&id).unwrap().iter().all(|b| b.verified));
    };
    {
        let relay = open();
        let (ticket, _) = relay.import(&id, &bytes, &signed, &|_, _| Ok(())).unwrap();
        relay.wait(ticket.ticket).unwrap();
        relays_to(&relay, 20);
        relay.shutdown();
    }
    {
        // From the log.
        let relay = open();
        relays_to(&relay, 21);
        relay.compact(&id).unwrap();
        relay.shutdown();
    }
    // From the store, the log being gone.
    let relay = open();
    relays_to(&relay, 22);
    relay.shutdown();
    drop(relay);

    // A change that reaches a node just started (which has not yet worked out
    // the document's tips) is relayed with its signature too.
    let relay = open();
    author
        .change_durably(&id, &ChangeNote::new("Bo", "edit"), |doc| {
            doc.put(automerge::ROOT, "mark", 2)?;
            Ok(())
        })
        .unwrap();
    let (change, heads) = author
        .read(&id, |doc| {
            let change = doc.get_last_local_change().unwrap().raw_bytes().to_vec();
            (change, doc.get_heads())
        })
        .unwrap();
    let message = automerge::sync::Message {
        heads,
        need: Vec::new(),
        have: Vec::new(),
        changes: automerge::sync::ChunkList::from(vec![change]),
        flags: None,
        version: automerge::sync::MessageVersion::V1,
    }
    .encode();
    let signed = author.saved(&id).unwrap().unwrap().signed;
    let taken = relay
        .sync_receive(
            &id,
            &mut automerge::sync::State::new(),
            &[&message],
            &signed,
            None,
        )
        .unwrap();
    assert_eq!(taken.changes, 1);
    relay.wait(taken.ticket).unwrap();
    relays_to(&relay, 23);
}

/// The signatures by which this node vouches for its clients' changes (two
/// client actors in one message, so two entries of one log record) are read
/// back from the log after a restart and from the store after a compaction:
/// blame still names the person, and a partner given the document proves
/// every change.
#[test]
fn clients_vouched_signatures_survive_a_restart_and_a_compaction() {
    use automerge::sync::SyncDoc;
    use automerge::transaction::Transactable;
    use kp_core::authorship::{self, Attestation};

    let dir = tempfile::tempdir().unwrap();
    let open = || -> Repo {
        let store = SledStore::open(&dir.path().join("store"), 8 << 20).unwrap();
        Repo::open(Arc::new(store), node(), RepoConfig::default()).unwrap()
    };
    let check = |repo: &Repo, id: &DocId, seed: u8| {
        let blame = repo.blame(id).unwrap();
        let by_amina: Vec<_> = blame.iter().filter(|b| b.note.author == "Amina").collect();
        assert_eq!(by_amina.len(), 2, "{blame:?}");
        assert!(
            by_amina
                .iter()
                .all(|b| b.verified && b.node == Some(node().id()))
        );
        let kp_repo::Saved {
            document: bytes,
            signed,
            ..
        } = repo.saved(id).unwrap().unwrap();
        let third = Repo::open(
            Arc::new(MemStore::default()),
            NodeKey::from_seed([seed; 32]),
            RepoConfig::default(),
        )
        .unwrap();
        let (ticket, _) = third.import(id, &bytes, &signed, &|_, _| Ok(())).unwrap();
        third.wait(ticket.ticket).unwrap();
        let theirs = third.blame(id).unwrap();
        assert!(theirs.iter().all(|b| b.verified), "{theirs:?}");
        assert_eq!(
            theirs.iter().filter(|b| b.note.author == "Amina").count(),
            2
        );
    };
    let id = {
        let repo = open();
        let id = new_draft(&repo, "the text");
        let kp_repo::Saved {
            document: bytes, ..
        } = repo.saved(&id).unwrap().unwrap();
        // A browser with two actors (two tabs, say) edits its copy.
        let mut client = automerge::AutoCommit::load(&bytes)
            .unwrap()
            .with_actor(automerge::ActorId::from(vec![0xa1; 16]));
        client.put(automerge::ROOT, "one", 1).unwrap();
        client.commit();
        client.set_actor(automerge::ActorId::from(vec![0xa2; 16]));
        client.put(automerge::ROOT, "two", 2).unwrap();
        client.commit();
        let vouch = |new: &[authorship::Link], _: &_| {
            Ok(authorship::tips(new)
                .into_iter()
                .map(|(actor, (_, hash))| Attestation::vouched(&node(), &actor, hash, "Amina"))
                .collect())
        };
        let (mut ours, mut theirs) = (automerge::sync::State::new(), automerge::sync::State::new());
        let mut seen = std::collections::HashSet::new();
        for _ in 0..6 {
            if let Some(m) = client.sync().generate_sync_message(&mut theirs) {
                let ticket = repo
                    .sync_receive_vouched(&id, &mut ours, &m.encode(), &vouch, &|_, _| Ok(()))
                    .unwrap();
                repo.wait(ticket).unwrap();
            }
            if let Some((m, _)) = repo.sync_message(&id, &mut ours, &mut seen).unwrap() {
                let m = automerge::sync::Message::decode(&m).unwrap();
                client.sync().receive_sync_message(&mut theirs, m).unwrap();
            }
        }
        check(&repo, &id, 30);
        repo.shutdown();
        id
    };
    {
        // From the log.
        let repo = open();
        check(&repo, &id, 31);
        repo.compact(&id).unwrap();
        repo.shutdown();
    }
    // From the store.
    check(&open(), &id, 32);
}

/// The power goes at a random write, sync or rename — inside an edit's
/// round, a compaction, the index's flush or the start itself — and the
/// node starts again from what the disk kept, three times in a row: every
/// acknowledged edit is there, the document loads, the edit in flight is
/// there whole or not at all, and every start is a new actor.
#[test]
fn power_cuts_lose_no_acknowledged_edit_and_no_start_reuses_an_actor() {
    use kp_testkit::{Disk, TwinStore};
    let cfg = || RepoConfig {
        group_commit_window: std::time::Duration::ZERO,
        compact_min_bytes: 512,
        compact_factor: 1,
        ..RepoConfig::default()
    };
    let mut compacted = 0;
    for seed in 0..60u64 {
        let mut disk = Disk::new();
        let (id, mut acked) = {
            let repo = Repo::open(
                Arc::new(TwinStore::open(disk.clone()).unwrap()),
                node(),
                cfg(),
            )
            .unwrap();
            let id = new_draft(&repo, "");
            repo.shutdown();
            (id, String::new())
        };
        let mut incarnations = Vec::new();
        let mut line = 0;
        for round in 0..3u64 {
            let store = match TwinStore::open(disk.clone()) {
                Ok(s) => Arc::new(s),
                Err(e) => panic!("seed {seed}: the store does not open after a cut: {e}"),
            };
            disk.fail_after(1 + (seed * 37 + round * 101) % 160);
            let repo = match Repo::open(store, node(), cfg()) {
                Ok(r) => r,
                // The power went during the start: start again.
                Err(_) => {
                    disk = disk.power_cut(seed + round);
                    continue;
                }
            };
            incarnations.push(repo.incarnation());
            // The first read of the draft syncs its log: the power may go then.
            let Ok(body_now) = repo.read(&id, |doc| draft::read(doc, None).unwrap().body) else {
                repo.shutdown();
                disk = disk.power_cut(seed + round);
                continue;
            };
            assert!(
                body_now == acked || body_now == format!("{acked}line {line}\n"),
                "seed {seed} round {round}: after a cut the body is {body_now:?}, acknowledged {acked:?}"
            );
            if body_now != acked {
                // The edit in flight reached the disk: it is there whole.
                acked = body_now;
                line += 1;
            }
            while !disk.is_off() {
                let next = format!("{acked}line {line}\n");
                let t = next.clone();
                let r = repo.change_durably(&id, &ChangeNote::new("Ana", "edit"), |doc| {
                    draft::set_body(doc, &t, &BY)
                });
                if r.is_ok() {
                    acked = next;
                    line += 1;
                }
            }
            // A stop on a dead disk ends, and acknowledges nothing.
            repo.shutdown();
            disk = if round == 1 {
                disk.kill(seed)
            } else {
                disk.power_cut(seed * 3 + round)
            };
        }
        let repo = Repo::open(
            Arc::new(TwinStore::open(disk.clone()).unwrap()),
            node(),
            cfg(),
        )
        .unwrap();
        incarnations.push(repo.incarnation());
        let last = body(&repo, &id);
        assert!(
            last == acked || last == format!("{acked}line {line}\n"),
            "seed {seed}: at the end the body is {last:?}, acknowledged {acked:?}"
        );
        let meta = repo.meta(&id).expect("the draft is listed");
        compacted += usize::from(meta.sizes.snapshot > 0);
        assert!(repo.check(&id).is_ok(), "seed {seed}: the draft is whole");
        assert!(
            incarnations.windows(2).all(|w| w[0] < w[1]),
            "seed {seed}: incarnations {incarnations:?}"
        );
        repo.shutdown();
    }
    assert!(compacted > 10, "{compacted} of 60 compacted");
}
