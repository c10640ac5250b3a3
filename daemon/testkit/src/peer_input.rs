//! What a partner can send, fed to a node in one call: the target of the
//! property tests (`daemon/tests/peer_input.rs`) and of the fuzz target
//! (`fuzz/`) for the code that decodes and checks peer input — frames, sync
//! messages, whole documents, signatures, the membership and role checks.
//!
//! A [`Recording`] holds the frames a genuine partner sends a node: node 1
//! holds a space in which node 2 is an editor, and a draft; node 2 takes both,
//! edits the draft and comments on it, signs, and syncs. A [`Target`] is a
//! fresh node 1 in the same state (the same seeds, a fixed clock: the same
//! bytes), opened for a session with node 2, into which any bytes can be fed.

use std::sync::Arc;
use std::time::Duration;

use kp_proto::replication as rp;
use prost::Message;

use crate::{MemStore, receive_durably};
use kp_core::identity::{NodeId, NodeKey};
use kp_core::ids::{DocId, parse_actor};
use kp_model::{DraftType, draft, space};
use kp_repo::{ChangeNote, Repo, RepoConfig};
use kp_sync::Session;

fn key(i: u8) -> NodeKey {
    NodeKey::from_seed([i; 32])
}

fn repo(i: u8) -> Repo {
    repo_on(i, Arc::new(MemStore::default()))
}

fn repo_on(i: u8, store: Arc<MemStore>) -> Repo {
    let cfg = RepoConfig {
        group_commit_window: Duration::ZERO,
        idle_compact: Duration::from_secs(3600),
        clock: || 1_800_000_000,
        ..RepoConfig::default()
    };
    Repo::open(store, key(i), cfg).expect("a memory repository opens")
}

const SPACE: [u8; 16] = [0xee; 16];
const DRAFT: [u8; 16] = [0x11; 16];

/// Node 1's store as a fresh [`Target`] starts: made once, copied for each.
fn node_one_store() -> &'static MemStore {
    static STORE: std::sync::OnceLock<MemStore> = std::sync::OnceLock::new();
    STORE.get_or_init(|| {
        let store = Arc::new(MemStore::default());
        let node = node_one(Arc::clone(&store));
        node.shutdown();
        (*store).clone()
    })
}

/// Node 1 with its space (node 2 an editor) and draft, on `store`.
fn node_one(store: Arc<MemStore>) -> Repo {
    let node = repo_on(1, store);
    let note = ChangeNote::new("Ana", "setup");
    let admin = space::Member {
        node_id: key(1).id().to_string(),
        role: "admin".into(),
        institution: "Institute A".into(),
        ..Default::default()
    };
    let space = DocId::from_bytes(SPACE);
    node.create_as(space, &note, |doc| {
        space::init(doc, "Remittances", 3, "", &admin, 0)?;
        let editor = space::Member {
            node_id: key(2).id().to_string(),
            role: "editor".into(),
            institution: "Institute B".into(),
            ..Default::default()
        };
        space::add_member(doc, &admin.node_id, &editor, 0)
    })
    .expect("the space is created");
    let me = key(1).id().to_string();
    let by = draft::Actor {
        author: "Ana",
        institution: "Institute A",
        node_id: &me,
    };
    node.create_as(DocId::from_bytes(DRAFT), &note, |doc| {
        draft::init(
            doc,
            &space,
            "Costs",
            DraftType::WorkingPaper,
            "Sending $200 costs 6.2% on average.",
            &by,
            0,
        )
    })
    .expect("the draft is created");
    node
}

/// Frames as they travel inside the session stream, each length-delimited.
fn encode(frames: &[rp::Frame]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in frames {
        f.encode_length_delimited(&mut out)
            .expect("a Vec grows as needed");
    }
    out
}

/// The frames a genuine partner (node 2) sends node 1.
#[derive(Debug)]
pub struct Recording {
    frames: Vec<u8>,
}

impl Recording {
    /// Runs the exchange and records what node 2 sends.
    pub fn new() -> Self {
        let one = repo_on(1, Arc::new(node_one_store().clone()));
        let two = repo(2);
        let (one_id, two_id) = (key(1).id(), key(2).id());
        let mut a = Session::new(one.clone(), one_id, two_id);
        let mut b = Session::new(two.clone(), two_id, one_id);
        let mut recorded = Vec::new();
        let mut to_b = a.open();
        let mut to_a = b.open();
        let mut edited = false;
        for _ in 0..50 {
            if to_a.is_empty() && to_b.is_empty() {
                if edited {
                    break;
                }
                // Node 2 now holds the draft: it edits it and comments, and
                // offers what it wrote.
                edited = true;
                let draft_id = DocId::from_bytes(DRAFT);
                let me = two_id.to_string();
                let by = draft::Actor {
                    author: "Bo",
                    institution: "Institute B",
                    node_id: &me,
                };
                let note = ChangeNote::new("Bo", "edit");
                two.change_durably(&draft_id, &note, |doc| {
                    draft::set_body(doc, "Sending $200 costs 6.4% on average, 2024.", &by)?;
                    draft::add_comment(doc, "c1", "6.4%", "Source: World Bank RPW.", &by, 0)?;
                    Ok(())
                })
                .expect("node 2 edits the draft");
                // And writes a draft of its own, which goes whole.
                let space = DocId::from_bytes(SPACE);
                let (own, _) = two
                    .create_as(DocId::from_bytes([0x22; 16]), &note, |doc| {
                        draft::init(
                            doc,
                            &space,
                            "Corridors",
                            DraftType::WorkingPaper,
                            "Five corridors.",
                            &by,
                            0,
                        )
                    })
                    .expect("node 2 writes a draft");
                to_a = b
                    .changed(Some(&[draft_id, own]))
                    .expect("node 2 offers its edits");
                continue;
            }
            recorded.extend(to_a.iter().cloned());
            let from_a =
                receive_durably(&one, &mut a, std::mem::take(&mut to_a)).unwrap_or_default();
            let from_b =
                receive_durably(&two, &mut b, std::mem::take(&mut to_b)).unwrap_or_default();
            to_b = from_a;
            to_a = from_b;
        }
        one.shutdown();
        two.shutdown();
        Self {
            frames: encode(&recorded),
        }
    }

    /// What node 2 sent, as length-delimited frames.
    pub fn frames(&self) -> &[u8] {
        &self.frames
    }
}

impl Default for Recording {
    fn default() -> Self {
        Self::new()
    }
}

/// A fresh node 1, in a session with node 2, to feed bytes into.
#[derive(Debug)]
pub struct Target {
    repo: Repo,
    session: Session,
    space_heads: Vec<String>,
    /// The session ended (as it would on a frame outside the protocol).
    pub ended: Option<String>,
}

impl Target {
    /// Node 1 as the recording started, its session with node 2 opened.
    pub fn new() -> Self {
        let repo = repo_on(1, Arc::new(node_one_store().clone()));
        let mut session = Session::new(repo.clone(), key(1).id(), key(2).id());
        session.open();
        let space_heads = repo
            .meta(&DocId::from_bytes(SPACE))
            .map(|m| kp_repo::heads_hex(&m.heads))
            .unwrap_or_default();
        Self {
            repo,
            session,
            space_heads,
            ended: None,
        }
    }

    /// Feeds `bytes` as length-delimited frames, a few at a time, as a session
    /// takes them, up to the first that does not decode. Returns how many
    /// frames were taken.
    pub fn feed(&mut self, mut bytes: &[u8]) -> usize {
        let mut frames = Vec::new();
        while !bytes.is_empty() {
            match rp::Frame::decode_length_delimited(&mut bytes) {
                Ok(f) => frames.push(f),
                Err(_) => break,
            }
        }
        let n = frames.len();
        for batch in frames.chunks(4) {
            if self.ended.is_some() {
                break;
            }
            if let Err(e) = receive_durably(&self.repo, &mut self.session, batch.to_vec()) {
                self.ended = Some(e.to_string());
            }
        }
        n
    }

    /// What must hold whatever was fed: every change of every document was
    /// written by node 1 or node 2 and is proven by its node's signature, and
    /// the space is as it was (node 2, an editor, may not change it).
    pub fn check(&self) -> Result<(), String> {
        let allowed: [NodeId; 2] = [key(1).id(), key(2).id()];
        for (id, _) in self.repo.list() {
            let blame = self.repo.blame(&id).map_err(|e| e.to_string())?;
            for b in blame {
                if !b.verified {
                    return Err(format!("{id}: change {} is not proven", b.hash));
                }
                if !b.node.is_some_and(|n| allowed.contains(&n)) {
                    return Err(format!("{id}: change {} by {:?}", b.hash, b.node));
                }
            }
        }
        let heads = self
            .repo
            .meta(&DocId::from_bytes(SPACE))
            .map(|m| kp_repo::heads_hex(&m.heads))
            .unwrap_or_default();
        if heads != self.space_heads {
            return Err("the space changed".into());
        }
        Ok(())
    }

    /// The draft's text now.
    pub fn text(&self) -> Option<String> {
        self.repo
            .read(&DocId::from_bytes(DRAFT), |doc| {
                draft::read(doc, None).ok().map(|d| d.body)
            })
            .ok()
            .flatten()
    }

    /// Documents node 1 holds.
    pub fn documents(&self) -> usize {
        self.repo.list().len()
    }

    /// Node ids of the draft's changes' authors.
    pub fn authors(&self) -> Vec<NodeId> {
        self.repo
            .read(&DocId::from_bytes(DRAFT), |doc| {
                doc.get_changes_meta(&[])
                    .iter()
                    .filter_map(|m| parse_actor(&m.actor).map(|(n, _)| n))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Default for Target {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        self.repo.shutdown();
    }
}
