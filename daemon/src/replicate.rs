//! Document exchange over a partner session: summaries, whole documents for a
//! peer that has nothing, the automerge sync protocol for documents whose heads
//! differ, live pushes of every durable change, and relay (a change received from
//! one peer becomes durable here and is then offered to the others).
//!
//! Membership decides everything: a document, and even its id, goes to a peer
//! only if the peer is a member of the document's space; a document is taken
//! from a peer only if the peer is a member of its space (and, for a space this
//! node does not hold yet, only if the space document lists both nodes).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use automerge::sync::State as SyncState;
use kp_proto::replication as rp;
use tokio::sync::{broadcast, mpsc};
use tonic::Streaming;

use crate::identity::NodeId;
use crate::ids::DocId;
use crate::model::{self, DocKind, ModelError, space};
use crate::repo::{Repo, RepoError};

/// Everything a session needs; cheap to clone into blocking tasks.
#[derive(Clone)]
struct Ctx {
    repo: Repo,
    me: NodeId,
    peer: NodeId,
    states: Arc<Mutex<HashMap<DocId, SyncState>>>,
}

fn doc_id(bytes: &[u8]) -> Result<DocId, String> {
    <[u8; 16]>::try_from(bytes)
        .map(DocId::from_bytes)
        .map_err(|_| "a document id is not 16 bytes".to_owned())
}

/// The members of a space this node holds.
fn members(repo: &Repo, space: &DocId) -> Option<BTreeSet<String>> {
    repo.read(space, |doc| space::read(doc).ok())
        .ok()
        .flatten()
        .map(|s| s.members.into_iter().map(|m| m.node_id).collect())
}

/// The space a document this node holds belongs to.
fn space_of(repo: &Repo, id: &DocId) -> Option<DocId> {
    let meta = repo.meta(id)?;
    match meta.kind {
        DocKind::Space => Some(*id),
        _ => meta.space?.parse().ok(),
    }
}

/// A document's durable heads as the index has them, as raw hashes.
fn stored_heads(repo: &Repo, id: &DocId) -> Vec<Vec<u8>> {
    repo.meta(id)
        .map(|m| {
            m.heads
                .iter()
                .filter_map(|h| h.parse::<automerge::ChangeHash>().ok())
                .map(|h| h.0.to_vec())
                .collect()
        })
        .unwrap_or_default()
}

/// The documents of those of `changed` that are spaces.
fn backlog(repo: &Repo, changed: &[DocId]) -> Vec<DocId> {
    let spaces: HashSet<String> = changed
        .iter()
        .filter(|id| repo.meta(id).is_some_and(|m| m.kind == DocKind::Space))
        .map(|id| id.to_string())
        .collect();
    if spaces.is_empty() {
        return Vec::new();
    }
    repo.list()
        .into_iter()
        .filter(|(_, m)| m.space.as_ref().is_some_and(|s| spaces.contains(s)))
        .map(|(id, _)| id)
        .collect()
}

impl Ctx {
    fn shares(&self, space: &DocId) -> bool {
        members(&self.repo, space)
            .is_some_and(|m| m.contains(&self.peer.to_string()) && m.contains(&self.me.to_string()))
    }

    /// Documents both nodes may hold, with their spaces.
    fn shared_docs(&self) -> Vec<(DocId, DocId)> {
        let list = self.repo.list();
        let spaces: HashSet<DocId> = list
            .iter()
            .filter(|(_, m)| m.kind == DocKind::Space)
            .map(|(id, _)| *id)
            .filter(|s| self.shares(s))
            .collect();
        list.into_iter()
            .filter_map(|(id, m)| {
                let space = match m.kind {
                    DocKind::Space => id,
                    _ => m.space?.parse().ok()?,
                };
                spaces.contains(&space).then_some((id, space))
            })
            .collect()
    }

    /// May the peer send us changes to `doc`, which it says belongs to `space`?
    fn check_incoming(&self, doc: &DocId, space: &DocId) -> Result<Option<Arc<AcceptFn>>, String> {
        if let Some(known) = space_of(&self.repo, doc)
            && known != *space
        {
            return Err(format!("{doc} does not belong to space {space}"));
        }
        if self.repo.meta(space).is_some() {
            if !self.shares(space) {
                return Err(format!(
                    "the peer is not a member of space {space} (or this node is not)"
                ));
            }
            if doc == space {
                return Ok(None);
            }
            let expected = space.to_string();
            return Ok(Some(Arc::new(move |d: &mut automerge::AutoCommit| {
                let s = model::summarize(d);
                if s.space.as_deref() == Some(expected.as_str()) {
                    Ok(())
                } else {
                    Err(ModelError::invalid("the document names another space"))
                }
            })));
        }
        // A space this node does not hold: only the space document itself, and
        // only if it lists both nodes.
        if doc != space {
            return Err(format!(
                "{doc} belongs to space {space}, which this node does not hold"
            ));
        }
        let (me, peer) = (self.me.to_string(), self.peer.to_string());
        Ok(Some(Arc::new(move |d: &mut automerge::AutoCommit| {
            let s = space::read(d)?;
            let ids: BTreeSet<&str> = s.members.iter().map(|m| m.node_id.as_str()).collect();
            if ids.contains(me.as_str()) && ids.contains(peer.as_str()) {
                Ok(())
            } else {
                Err(ModelError::invalid(
                    "the space does not list both nodes as members",
                ))
            }
        })))
    }

    fn state_key(&self, id: &DocId) -> Vec<u8> {
        [&b"sync/"[..], self.peer.as_bytes(), id.as_bytes()].concat()
    }

    /// Runs `f` on the sync state with the peer for `id`, loading the one saved
    /// by an earlier session if there is one.
    fn with_state<T>(&self, id: &DocId, f: impl FnOnce(&mut SyncState) -> T) -> T {
        let mut states = self.states.lock().unwrap_or_else(|e| e.into_inner());
        let state = states.entry(*id).or_insert_with(|| {
            self.repo
                .get_meta(&self.state_key(id))
                .ok()
                .flatten()
                .and_then(|b| SyncState::decode(&b).ok())
                .unwrap_or_default()
        });
        f(state)
    }

    fn message(&self, id: &DocId) -> Result<Option<Vec<u8>>, RepoError> {
        self.with_state(id, |state| self.repo.sync_message(id, state))
    }

    fn save_states(&self) -> Result<(), RepoError> {
        let states = self.states.lock().unwrap_or_else(|e| e.into_inner());
        let entries: Vec<(Vec<u8>, Vec<u8>)> = states
            .iter()
            .map(|(id, s)| (self.state_key(id), s.encode()))
            .collect();
        drop(states);
        self.repo.put_metas(entries)
    }
}

type AcceptFn = dyn Fn(&mut automerge::AutoCommit) -> Result<(), ModelError> + Send + Sync;

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| format!("internal error: {e}"))
}

fn frame(body: rp::frame::Body) -> rp::Frame {
    rp::Frame { body: Some(body) }
}

/// Runs document exchange on an open session until either side closes it.
/// `counted` is told the size of every frame received. Sync states are kept per
/// (peer, document) and saved when the session ends, so a reconnect resumes
/// where the last session stopped instead of starting over.
pub(crate) async fn run(
    repo: Repo,
    me: NodeId,
    peer: NodeId,
    inbound: &mut Streaming<rp::Frame>,
    out: mpsc::Sender<rp::Frame>,
    counted: impl Fn(u64, bool),
    still_pinned: impl Fn() -> bool,
) -> Result<(), String> {
    let ctx = Ctx {
        repo,
        me,
        peer,
        states: Arc::new(Mutex::new(HashMap::new())),
    };
    let result = exchange(&ctx, inbound, out, counted, still_pinned).await;
    let c = ctx.clone();
    if let Ok(Err(e)) = blocking(move || c.save_states()).await {
        tracing::warn!(peer = %ctx.peer.short(), "could not save sync states: {e}");
    }
    result
}

async fn exchange(
    ctx: &Ctx,
    inbound: &mut Streaming<rp::Frame>,
    out: mpsc::Sender<rp::Frame>,
    counted: impl Fn(u64, bool),
    still_pinned: impl Fn() -> bool,
) -> Result<(), String> {
    use prost::Message;
    let repo = &ctx.repo;
    let ctx = ctx.clone();
    let mut durable = repo.subscribe();
    // What the peer holds (from its summary, and what we exchanged since).
    let mut peer_has: HashSet<DocId> = HashSet::new();
    let mut mine: HashMap<DocId, DocId> = HashMap::new();

    let c = ctx.clone();
    let summary = blocking(move || {
        let docs = c.shared_docs();
        let states: Vec<rp::DocState> = docs
            .iter()
            .map(|(id, space)| rp::DocState {
                doc: id.as_bytes().to_vec(),
                space: space.as_bytes().to_vec(),
                heads: stored_heads(&c.repo, id),
            })
            .collect();
        (docs, states)
    })
    .await?;
    for (id, space) in &summary.0 {
        mine.insert(*id, *space);
    }
    let f = frame(rp::frame::Body::Summary(rp::Summary { docs: summary.1 }));
    counted(f.encoded_len() as u64, false);
    out.send(f)
        .await
        .map_err(|_| "the session closed".to_owned())?;

    loop {
        let mut replies = Vec::new();
        tokio::select! {
            next = inbound.message() => {
                let f = match next {
                    Ok(Some(f)) => f,
                    Ok(None) => return Ok(()),
                    Err(s) => return Err(s.message().to_owned()),
                };
                counted(f.encoded_len() as u64, true);
                if !still_pinned() {
                    return Err("the peer was removed".into());
                }
                replies = handle(&ctx, f, &mut peer_has, &mine).await?;
            }
            changed = durable.recv() => {
                let mut ids: Vec<DocId> = match changed {
                    Ok(ids) => ids.iter().copied().collect(),
                    // Fell behind: offer everything shared again.
                    Err(broadcast::error::RecvError::Lagged(_)) => mine.keys().copied().collect(),
                    Err(broadcast::error::RecvError::Closed) => return Ok(()),
                };
                // A changed space may have a new member: offer its whole backlog
                // (what the peer has already is skipped by the sync protocol).
                let c = ctx.clone();
                let spaces: Vec<DocId> = ids.clone();
                ids.extend(blocking(move || backlog(&c.repo, &spaces)).await?);
                for id in ids {
                    let c = ctx.clone();
                    let Some(space) = blocking(move || space_of(&c.repo, &id).filter(|s| c.shares(s))).await? else { continue };
                    mine.insert(id, space);
                    replies.extend(offer(&ctx, id, space, &mut peer_has).await?);
                }
            }
        }
        for f in replies {
            counted(f.encoded_len() as u64, false);
            out.send(f)
                .await
                .map_err(|_| "the session closed".to_owned())?;
        }
    }
}

/// What to send the peer about a document it may hold: the whole document if it
/// has nothing of it, else the next sync message (if any).
async fn offer(
    ctx: &Ctx,
    id: DocId,
    space: DocId,
    peer_has: &mut HashSet<DocId>,
) -> Result<Vec<rp::Frame>, String> {
    let c = ctx.clone();
    if peer_has.contains(&id) {
        let msg = blocking(move || c.message(&id))
            .await?
            .map_err(|e| e.to_string())?;
        Ok(msg
            .map(|m| {
                frame(rp::frame::Body::Sync(rp::Sync {
                    doc: id.as_bytes().to_vec(),
                    space: space.as_bytes().to_vec(),
                    message: m,
                }))
            })
            .into_iter()
            .collect())
    } else {
        let saved = blocking(move || c.repo.saved(&id))
            .await?
            .map_err(|e| e.to_string())?;
        let Some(document) = saved else {
            return Ok(Vec::new());
        };
        peer_has.insert(id);
        Ok(vec![frame(rp::frame::Body::Whole(rp::Whole {
            doc: id.as_bytes().to_vec(),
            space: space.as_bytes().to_vec(),
            document,
        }))])
    }
}

async fn handle(
    ctx: &Ctx,
    f: rp::Frame,
    peer_has: &mut HashSet<DocId>,
    mine: &HashMap<DocId, DocId>,
) -> Result<Vec<rp::Frame>, String> {
    let mut out = Vec::new();
    match f.body {
        Some(rp::frame::Body::Summary(s)) => {
            let mut theirs: HashMap<DocId, Vec<Vec<u8>>> = HashMap::new();
            for d in s.docs {
                theirs.insert(doc_id(&d.doc)?, d.heads);
            }
            peer_has.extend(theirs.keys().copied());
            for (id, space) in mine {
                let ours = stored_heads(&ctx.repo, id);
                match theirs.get(id) {
                    Some(heads) if *heads == ours => {}
                    _ => out.extend(offer(ctx, *id, *space, peer_has).await?),
                }
            }
        }
        Some(rp::frame::Body::Whole(w)) => {
            let (id, space) = (doc_id(&w.doc)?, doc_id(&w.space)?);
            let c = ctx.clone();
            let result = blocking(move || -> Result<(), String> {
                let accept = c.check_incoming(&id, &space)?;
                let always = |_: &mut automerge::AutoCommit| Ok(());
                let check: &crate::repo::Accept<'_> = match &accept {
                    Some(a) => a.as_ref(),
                    None => &always,
                };
                let ticket = c
                    .repo
                    .import(&id, &w.document, check)
                    .map_err(|e| e.to_string())?;
                c.repo.wait(ticket).map_err(|e| e.to_string())
            })
            .await?;
            match result {
                Ok(()) => {
                    peer_has.insert(id);
                }
                Err(e) => {
                    tracing::warn!(peer = %ctx.peer.short(), doc = %id, "refused a document: {e}")
                }
            }
        }
        Some(rp::frame::Body::Sync(m)) => {
            let (id, space) = (doc_id(&m.doc)?, doc_id(&m.space)?);
            if ctx.repo.meta(&id).is_none() {
                out.push(frame(rp::frame::Body::Want(rp::Want { doc: m.doc })));
            } else {
                peer_has.insert(id);
                let c = ctx.clone();
                let result = blocking(move || -> Result<Option<Vec<u8>>, String> {
                    let accept = c.check_incoming(&id, &space)?;
                    let ticket = c
                        .with_state(&id, |state| {
                            c.repo.sync_receive(
                                &id,
                                state,
                                &m.message,
                                accept.as_deref().map(|a| a as &crate::repo::Accept<'_>),
                            )
                        })
                        .map_err(|e| e.to_string())?;
                    c.repo.wait(ticket).map_err(|e| e.to_string())?;
                    c.message(&id).map_err(|e| e.to_string())
                })
                .await?;
                match result {
                    Ok(Some(reply)) => out.push(frame(rp::frame::Body::Sync(rp::Sync {
                        doc: id.as_bytes().to_vec(),
                        space: space.as_bytes().to_vec(),
                        message: reply,
                    }))),
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(peer = %ctx.peer.short(), doc = %id, "refused a sync message: {e}")
                    }
                }
            }
        }
        Some(rp::frame::Body::Want(w)) => {
            let id = doc_id(&w.doc)?;
            if let Some(space) = mine.get(&id) {
                peer_has.remove(&id);
                out.extend(offer(ctx, id, *space, peer_has).await?);
            }
        }
        Some(rp::frame::Body::Hello(_)) | Some(rp::frame::Body::Refusal(_)) | None => {
            return Err("the peer sent a frame out of order".into());
        }
    }
    Ok(out)
}
