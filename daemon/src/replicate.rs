//! Document exchange over a partner session: summaries, whole documents for a
//! peer that has nothing, the automerge sync protocol for documents whose heads
//! differ, live pushes of every durable change, and relay (a change received from
//! one peer becomes durable here and is then offered to the others).
//!
//! Membership decides everything: a document, and even its id, goes to a peer
//! only if the peer is a member of the document's space; a document is taken
//! from a peer only if the peer is a member of its space (and, for a space this
//! node does not hold yet, only if the space document lists both nodes).
//!
//! The logic is a state machine, [`Session`]: frames and notices of durable
//! changes go in, frames to send come out. It does no network I/O and keeps no
//! clock; [`run`] drives it over a gRPC stream (the partner service over TLS,
//! or the simulated network of the deterministic tests), and either runs its
//! steps on tokio's blocking pool or, in simulation, inline.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;

use automerge::sync::State as SyncState;
use kp_proto::replication as rp;
use prost::Message;
use tokio::sync::{broadcast, mpsc};
use tonic::Streaming;

use crate::authorship::{Attestation, Link};
use crate::identity::NodeId;
use crate::ids::DocId;
use crate::model::{self, DocKind, ModelError, space};
use crate::repo::{Repo, RepoError};

/// Limits of a session, from `[peers]` in `kpd.toml`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest message on the wire; larger frames travel in [`rp::Part`]s.
    pub max_frame: usize,
    /// Largest frame reassembled from parts (a whole document, say).
    pub max_assembled: usize,
    /// A session with no complete frame from the peer for this long is closed.
    pub idle_timeout: Duration,
    /// After this long without sending a frame, a heartbeat is sent: a third of
    /// the shorter of this node's idle timeout and the one the peer announced.
    pub heartbeat: Duration,
    /// Frames the peer may send per second on average; bursts of four
    /// seconds' worth pass at once. Beyond that, the session reads more slowly.
    pub max_frames_per_sec: u32,
}

impl Limits {
    /// These limits with heartbeats often enough for a peer that announced
    /// `idle` as its timeout (zero: not announced).
    pub fn with_peer_idle(self, idle: Duration) -> Self {
        let shortest = if idle.is_zero() {
            self.idle_timeout
        } else {
            self.idle_timeout.min(idle)
        };
        Self {
            heartbeat: (shortest / 3).max(Duration::from_millis(100)),
            ..self
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_frame: 4 << 20,
            max_assembled: 1 << 30,
            idle_timeout: Duration::from_secs(90),
            heartbeat: Duration::from_secs(30),
            max_frames_per_sec: 1000,
        }
    }
}

/// Frames a peer may send that are refused (not a member, a document of
/// another space, bytes that do not load) before the session is closed.
const MAX_REFUSED: u32 = 100;

/// Ticks without a frame about a document the peer is behind on before it is
/// offered again (see [`Session::tick`]).
const QUIET_TICKS: u64 = 3;

/// Frames that have already arrived taken in one step (see
/// [`Session::receive_all`]).
const MAX_BATCH: usize = 64;

fn doc_id(bytes: &[u8]) -> Result<DocId, String> {
    <[u8; 16]>::try_from(bytes)
        .map(DocId::from_bytes)
        .map_err(|_| "a document id is not 16 bytes".to_owned())
}

/// The members of a space this node holds.
fn space_members(repo: &Repo, space: &DocId) -> Option<Vec<space::Member>> {
    repo.read(space, |doc| space::read(doc).ok())
        .ok()
        .flatten()
        .map(|s| s.members)
}

/// The roles of a space's members.
fn roles_of(members: &[space::Member]) -> model::rules::Roles {
    members
        .iter()
        .filter_map(|m| Some((m.node_id.parse().ok()?, space::parse_role(&m.role).ok()?)))
        .collect()
}

/// What the space's former members wrote as members in document `doc`: their
/// old roles and the heads kept at their removal.
fn former_of(former: &[space::Former], doc: &DocId) -> model::rules::FormerRoles {
    let key = doc.to_string();
    former
        .iter()
        .filter_map(|f| {
            let node = f.node_id.parse().ok()?;
            let role = space::parse_role(&f.role).ok()?;
            let heads = model::draft::parse_heads(f.heads.get(&key)?).ok()?;
            Some((node, (role, heads)))
        })
        .collect()
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
                .collect::<Vec<_>>()
        })
        .map(|mut heads| {
            heads.sort();
            heads
        })
        .unwrap_or_default()
}

/// The documents of those of `changed` that are spaces.
fn backlog(repo: &Repo, changed: &[DocId]) -> Vec<DocId> {
    let spaces: BTreeSet<String> = changed
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

fn doc_state(id: &DocId, space: &DocId, heads: Vec<Vec<u8>>) -> rp::DocState {
    rp::DocState {
        doc: id.as_bytes().to_vec(),
        space: space.as_bytes().to_vec(),
        heads,
    }
}

fn to_wire(signed: Vec<Attestation>) -> Vec<rp::Signature> {
    signed
        .into_iter()
        .map(|a| rp::Signature {
            actor: a.actor.to_bytes().to_vec(),
            hash: a.hash.0.to_vec(),
            signature: a.signature,
        })
        .collect()
}

/// At most this many signatures in one frame (one per actor of a document).
const MAX_SIGNATURES: usize = 4096;

/// Signatures as a peer sent them; malformed ones refuse the frame.
fn from_wire(signed: &[rp::Signature]) -> Result<Vec<Attestation>, String> {
    if signed.len() > MAX_SIGNATURES {
        return Err(format!(
            "{} signatures in one frame; at most {MAX_SIGNATURES}",
            signed.len()
        ));
    }
    signed
        .iter()
        .map(|s| {
            let hash = <[u8; 32]>::try_from(s.hash.as_slice())
                .map_err(|_| "a signature names a change hash that is not 32 bytes".to_string())?;
            if s.signature.len() != crate::authorship::SIGNATURE_LEN || s.actor.len() > 255 {
                return Err("a malformed signature".to_string());
            }
            Ok(Attestation {
                actor: automerge::ActorId::from(s.actor.as_slice()),
                hash: automerge::ChangeHash(hash),
                signature: s.signature.clone(),
            })
        })
        .collect()
}

fn frame(body: rp::frame::Body) -> rp::Frame {
    rp::Frame { body: Some(body) }
}

type AcceptFn = dyn Fn(&mut automerge::AutoCommit, &[Link]) -> Result<(), ModelError> + Send + Sync;

/// The replication state of one session with one peer.
pub struct Session {
    repo: Repo,
    me: NodeId,
    peer: NodeId,
    /// Sync states per document, loaded from the store on first use and saved
    /// at [`Session::close`].
    states: BTreeMap<DocId, SyncState>,
    /// Documents the peer holds (from its summary, and what was exchanged since).
    peer_has: BTreeSet<DocId>,
    /// Shared documents this node holds, with their spaces.
    mine: BTreeMap<DocId, DocId>,
    /// The heads the peer last said it has, per document.
    theirs: BTreeMap<DocId, Vec<Vec<u8>>>,
    /// The digest over the heads agreed with the peer when the session opened.
    digest: Vec<u8>,
    /// Whether this side sent a full summary.
    sent_full: bool,
    /// Documents whose sync state may have changed since it was last saved.
    unsaved: BTreeSet<DocId>,
    /// Documents whose changes from the peer were refused: not synced again in
    /// this session (the peer would go on offering what was refused).
    blocked: BTreeSet<DocId>,
    /// Changes whose signature the peer was given in this session.
    attested: BTreeMap<DocId, HashSet<automerge::ChangeHash>>,
    /// Ticks of the driver so far, and the tick of the last frame about each
    /// document (see [`Session::tick`]).
    ticks: u64,
    touched: BTreeMap<DocId, u64>,
    refused: u32,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("peer", &self.peer)
            .field("shared", &self.mine.len())
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A session of this node (`me`, holding `repo`) with `peer`.
    pub fn new(repo: Repo, me: NodeId, peer: NodeId) -> Self {
        Self {
            repo,
            me,
            peer,
            states: BTreeMap::new(),
            peer_has: BTreeSet::new(),
            mine: BTreeMap::new(),
            theirs: BTreeMap::new(),
            digest: Vec::new(),
            sent_full: false,
            unsaved: BTreeSet::new(),
            blocked: BTreeSet::new(),
            attested: BTreeMap::new(),
            ticks: 0,
            touched: BTreeMap::new(),
            refused: 0,
        }
    }

    fn shares(&self, space: &DocId) -> bool {
        space_members(&self.repo, space).is_some_and(|m| self.shares_among(&m))
    }

    /// Whether both nodes are among `members`.
    fn shares_among(&self, members: &[space::Member]) -> bool {
        let (me, peer) = (self.me.to_string(), self.peer.to_string());
        members.iter().any(|m| m.node_id == me) && members.iter().any(|m| m.node_id == peer)
    }

    /// Documents both nodes may hold, with their spaces.
    fn shared_docs(&self) -> Vec<(DocId, DocId)> {
        let list = self.repo.list();
        let spaces: BTreeSet<DocId> = list
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
    /// The check returned runs on the document as it would be after them:
    /// every new change must come from a node whose role in the space (as this
    /// node holds it now) allows it (see [`model::rules`]), and a document
    /// other than the space must still name that space.
    fn check_incoming(&self, doc: &DocId, space: &DocId) -> Result<Option<Arc<AcceptFn>>, String> {
        if let Some(known) = space_of(&self.repo, doc)
            && known != *space
        {
            return Err(format!("{doc} does not belong to space {space}"));
        }
        if self.repo.meta(space).is_some() {
            // One read of the space serves the membership check, the roles
            // and what former members wrote.
            let read = self
                .repo
                .read(space, |d| space::read(d).ok())
                .ok()
                .flatten();
            let (members, former) = read.map(|s| (s.members, s.former)).unwrap_or_default();
            if !self.shares_among(&members) {
                return Err(format!(
                    "the peer is not a member of space {space} (or this node is not)"
                ));
            }
            let roles = roles_of(&members);
            let former = former_of(&former, doc);
            let known_kind = self.repo.meta(doc).map(|m| m.kind);
            let is_space = doc == space;
            let expected = space.to_string();
            return Ok(Some(Arc::new(
                move |d: &mut automerge::AutoCommit, new: &[Link]| {
                    let s = model::summarize(d);
                    let kind = known_kind.unwrap_or(s.kind);
                    if !is_space && s.space.as_deref() != Some(expected.as_str()) {
                        return Err(ModelError::invalid("the document names another space"));
                    }
                    if !is_space && kind == DocKind::Space {
                        return Err(ModelError::invalid("a space inside another space"));
                    }
                    model::rules::check_new(d, new, kind, &roles, &former)
                },
            )));
        }
        // A space this node does not hold: only the space document itself, and
        // only if it lists both nodes. (Its history is taken as it is: the
        // roles its changes were made under are the space's own business.)
        if doc != space {
            return Err(format!(
                "{doc} belongs to space {space}, which this node does not hold"
            ));
        }
        let (me, peer) = (self.me.to_string(), self.peer.to_string());
        Ok(Some(Arc::new(
            move |d: &mut automerge::AutoCommit, _: &[Link]| {
                let s = space::read(d)?;
                let ids: BTreeSet<&str> = s.members.iter().map(|m| m.node_id.as_str()).collect();
                if ids.contains(me.as_str()) && ids.contains(peer.as_str()) {
                    Ok(())
                } else {
                    Err(ModelError::invalid(
                        "the space does not list both nodes as members",
                    ))
                }
            },
        )))
    }

    fn state_key(&self, id: &DocId) -> Vec<u8> {
        [&b"sync/"[..], self.peer.as_bytes(), id.as_bytes()].concat()
    }

    /// The next sync message to the peer about `id` (see [`Repo::sync_message`]).
    fn next_message(&mut self, id: &DocId, space: &DocId) -> Result<Option<rp::Frame>, String> {
        self.state(id);
        let Some(state) = self.states.get_mut(id) else {
            return Ok(None);
        };
        let attested = self.attested.entry(*id).or_default();
        let msg = self
            .repo
            .sync_message(id, state, attested)
            .map_err(|e| e.to_string())?;
        Ok(msg.map(|(message, signed)| {
            frame(rp::frame::Body::Sync(rp::Sync {
                doc: id.as_bytes().to_vec(),
                space: space.as_bytes().to_vec(),
                message,
                signatures: to_wire(signed),
            }))
        }))
    }

    /// The sync state with the peer for `id`, loading the one saved by an
    /// earlier session if there is one.
    fn state(&mut self, id: &DocId) -> &mut SyncState {
        let key = self.state_key(id);
        let repo = &self.repo;
        self.states.entry(*id).or_insert_with(|| {
            repo.get_meta(&key)
                .ok()
                .flatten()
                .and_then(|b| SyncState::decode(&b).ok())
                .unwrap_or_default()
        })
    }

    /// Saves the sync states that may have changed since the last save, so a
    /// reconnect resumes where this session stopped instead of starting over.
    /// The driver calls this when the session ends and once a second while it
    /// runs, so a node that stops without ending its sessions loses little.
    pub fn save(&mut self) -> Result<(), RepoError> {
        if self.unsaved.is_empty() {
            return Ok(());
        }
        let entries: Vec<(Vec<u8>, Vec<u8>)> = self
            .unsaved
            .iter()
            .filter_map(|id| Some((self.state_key(id), self.states.get(id)?.encode())))
            .collect();
        self.repo.put_metas(entries)?;
        self.unsaved.clear();
        Ok(())
    }

    /// Shared documents whose latest durable changes here the peer has not
    /// confirmed having.
    fn behind_ids(&self) -> Vec<DocId> {
        self.mine
            .keys()
            .filter(|id| self.theirs.get(id) != Some(&stored_heads(&self.repo, id)))
            .copied()
            .collect()
    }

    /// A tick of the driver's clock (about a second): saves the sync states
    /// and, as anti-entropy, offers again each document the peer is still
    /// behind on and that no frame has been about for a few ticks,
    /// with the sync protocol's in-flight mark cleared. Whatever the cause of a
    /// stalled exchange (a reply that was not made because the document was
    /// changing at that moment, say), it resumes. Returns the frames and the
    /// number of documents the peer is behind on.
    pub fn tick(&mut self) -> Result<(Vec<rp::Frame>, usize), String> {
        if let Err(e) = self.save() {
            tracing::warn!(peer = %self.peer.short(), "could not save sync states: {e}");
        }
        self.ticks += 1;
        let behind = self.behind_ids();
        let mut out = Vec::new();
        for id in &behind {
            let quiet = self
                .touched
                .get(id)
                .is_none_or(|t| self.ticks.saturating_sub(*t) >= QUIET_TICKS);
            if !quiet || !self.peer_has.contains(id) {
                continue;
            }
            let Some(space) = self.mine.get(id).copied() else {
                continue;
            };
            self.state(id).in_flight = false;
            out.extend(self.offer(*id, space)?);
        }
        Ok((out, behind.len()))
    }

    /// The first frame: a compact summary of what this node holds of the spaces
    /// both share (see `Summary` in the `.proto`). Reconnecting after a small
    /// edit costs that document's entry, not one entry per shared document.
    pub fn open(&mut self) -> Vec<rp::Frame> {
        let docs = self.shared_docs();
        let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
        let mut listed = Vec::new();
        for (id, space) in &docs {
            let heads = stored_heads(&self.repo, id);
            let mut agreed: Vec<Vec<u8>> = self
                .state(id)
                .shared_heads
                .iter()
                .map(|h| h.0.to_vec())
                .collect();
            agreed.sort();
            if agreed.is_empty() {
                // Never synced with this peer.
                listed.push(doc_state(id, space, heads));
                continue;
            }
            digest.update(id.as_bytes());
            for h in &agreed {
                digest.update(h);
            }
            if agreed != heads {
                listed.push(doc_state(id, space, heads));
            }
            self.peer_has.insert(*id);
            self.theirs.insert(*id, agreed);
        }
        self.digest = digest.finish().as_ref().to_vec();
        self.mine = docs.into_iter().collect();
        vec![frame(rp::frame::Body::Summary(rp::Summary {
            docs: listed,
            digest: self.digest.clone(),
            full: false,
        }))]
    }

    /// Every shared document with its heads.
    fn full_summary(&mut self) -> rp::Frame {
        self.sent_full = true;
        let docs = self
            .mine
            .iter()
            .map(|(id, space)| doc_state(id, space, stored_heads(&self.repo, id)))
            .collect();
        frame(rp::frame::Body::Summary(rp::Summary {
            docs,
            digest: Vec::new(),
            full: true,
        }))
    }

    /// Documents became durable here (`None`: some notices were missed, so
    /// everything shared is offered again). Returns what to send the peer.
    pub fn changed(&mut self, ids: Option<&[DocId]>) -> Result<Vec<rp::Frame>, String> {
        let mut ids: Vec<DocId> = match ids {
            Some(ids) => ids.to_vec(),
            None => self.mine.keys().copied().collect(),
        };
        // A changed space may have a new member: offer its whole backlog (what
        // the peer has already is skipped by the sync protocol).
        ids.extend(backlog(&self.repo, &ids));
        let mut seen = BTreeSet::new();
        let mut ids: Vec<(DocId, DocId)> = ids
            .into_iter()
            .filter(|id| seen.insert(*id))
            .filter_map(|id| Some((id, space_of(&self.repo, &id).filter(|s| self.shares(s))?)))
            .collect();
        // Spaces first, as in the answer to a summary.
        ids.sort_by_key(|(d, s)| d != s);
        let mut out = Vec::new();
        for (id, space) in ids {
            self.mine.insert(id, space);
            out.extend(self.offer(id, space)?);
        }
        Ok(out)
    }

    /// What to send the peer about a document it may hold: the whole document if
    /// it has nothing of it, else the next sync message (if any).
    fn offer(&mut self, id: DocId, space: DocId) -> Result<Vec<rp::Frame>, String> {
        if self.blocked.contains(&id) {
            return Ok(Vec::new());
        }
        self.touched.insert(id, self.ticks);
        if self.peer_has.contains(&id) {
            Ok(self.next_message(&id, &space)?.into_iter().collect())
        } else {
            let Some((document, heads, signed)) =
                self.repo.saved(&id).map_err(|e| e.to_string())?
            else {
                return Ok(Vec::new());
            };
            self.peer_has.insert(id);
            self.agreed(id, heads);
            Ok(vec![frame(rp::frame::Body::Whole(rp::Whole {
                doc: id.as_bytes().to_vec(),
                space: space.as_bytes().to_vec(),
                document,
                signatures: to_wire(signed),
            }))])
        }
    }

    /// Both nodes now hold `heads` of `id` (a whole document went one way): the
    /// sync state records them as shared, so the next sync message, and the
    /// next session's summary, start from there rather than from nothing.
    /// Should the peer have refused the document after all, its next sync
    /// message about it is answered with `Want` and it is sent whole again, and
    /// the next summaries disagree on the digest and compare everything.
    fn agreed(&mut self, id: DocId, heads: Vec<automerge::ChangeHash>) {
        let mut raw: Vec<Vec<u8>> = heads.iter().map(|h| h.0.to_vec()).collect();
        raw.sort();
        self.theirs.insert(id, raw);
        self.state(&id).shared_heads = heads;
        self.unsaved.insert(id);
    }

    /// Logs a refused frame; closes the session after too many.
    /// The first refusal of a session is logged as a warning, the others at
    /// debug level (a flood must not flood the log).
    fn refuse(&mut self, doc: &DocId, what: &str, e: &str) -> Result<(), String> {
        self.refused += 1;
        if self.refused == 1 {
            tracing::warn!(peer = %self.peer.short(), %doc, "refused {what}: {e}");
        } else {
            tracing::debug!(peer = %self.peer.short(), %doc, "refused {what}: {e}");
        }
        if self.refused > MAX_REFUSED {
            return Err(format!(
                "the peer sent more than {MAX_REFUSED} refused frames"
            ));
        }
        Ok(())
    }

    /// Frames from the peer, in order, as [`Session::receive`] takes them, except
    /// that consecutive sync messages about one document are applied together.
    pub fn receive_all(&mut self, frames: Vec<rp::Frame>) -> Result<Vec<rp::Frame>, String> {
        let mut out = Vec::new();
        let mut frames = frames.into_iter().peekable();
        while let Some(f) = frames.next() {
            let Some(rp::frame::Body::Sync(first)) = f.body else {
                out.extend(self.receive(f)?);
                continue;
            };
            let mut messages = vec![first.message];
            let mut signed = first.signatures;
            while let Some(rp::Frame {
                body: Some(rp::frame::Body::Sync(next)),
            }) = frames.peek()
                && next.doc == first.doc
                && next.space == first.space
            {
                if let Some(rp::Frame {
                    body: Some(rp::frame::Body::Sync(next)),
                }) = frames.next()
                {
                    messages.push(next.message);
                    signed.extend(next.signatures);
                }
            }
            let messages: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
            out.extend(self.sync(&first.doc, &first.space, &messages, &signed)?);
        }
        Ok(out)
    }

    /// Sync messages about one document: applied in one go, then answered.
    fn sync(
        &mut self,
        doc: &[u8],
        space: &[u8],
        messages: &[&[u8]],
        signed: &[rp::Signature],
    ) -> Result<Vec<rp::Frame>, String> {
        let (id, space) = (doc_id(doc)?, doc_id(space)?);
        if self.blocked.contains(&id) {
            return Ok(Vec::new());
        }
        self.touched.insert(id, self.ticks);
        if self.repo.meta(&id).is_none() {
            // Either a document this node never had, or one it may not have: the
            // peer sends it whole, and the membership check applies then.
            return Ok(vec![frame(rp::frame::Body::Want(rp::Want {
                doc: doc.to_vec(),
            }))]);
        }
        self.peer_has.insert(id);
        // Only what is encoded (the shared heads) is saved; receiving may move them.
        self.unsaved.insert(id);
        let result = from_wire(signed).and_then(|signed| {
            let accept = self.check_incoming(&id, &space)?;
            let repo = self.repo.clone();
            let state = self.state(&id);
            let ticket = repo
                .sync_receive(
                    &id,
                    state,
                    messages,
                    &signed,
                    accept.as_deref().map(|a| a as &crate::repo::Accept<'_>),
                )
                .map_err(|e| e.to_string())?;
            let theirs = state
                .their_heads
                .as_ref()
                .map(|h| h.iter().map(|h| h.0.to_vec()).collect::<Vec<_>>());
            repo.wait(ticket).map_err(|e| e.to_string())?;
            let reply = self.next_message(&id, &space)?;
            Ok((theirs, reply))
        });
        match result {
            Ok((theirs, reply)) => {
                if let Some(mut heads) = theirs {
                    heads.sort();
                    self.theirs.insert(id, heads);
                }
                Ok(reply.into_iter().collect())
            }
            Err(e) => {
                self.refuse(&id, "a sync message", &e)?;
                // The peer's heads now include what was refused, and the sync
                // protocol would ask for it again and again: stop syncing this
                // document with this peer, and say why.
                self.blocked.insert(id);
                Ok(vec![frame(rp::frame::Body::Refusal(rp::Refusal {
                    reason: e,
                    supported: Vec::new(),
                    doc: id.as_bytes().to_vec(),
                }))])
            }
        }
    }

    /// A frame from the peer. Returns what to send back; an error ends the
    /// session (a frame that is not part of the protocol, too many refusals).
    pub fn receive(&mut self, f: rp::Frame) -> Result<Vec<rp::Frame>, String> {
        let mut out = Vec::new();
        match f.body {
            Some(rp::frame::Body::Summary(s)) => {
                if s.full {
                    // Everything the peer holds is listed: forget what the saved
                    // states said.
                    self.peer_has.clear();
                    self.theirs.clear();
                    if !self.sent_full {
                        out.push(self.full_summary());
                    }
                } else if s.digest != self.digest {
                    // The two nodes disagree on what they last agreed on (a state
                    // lost in a crash, a restored backup): compare everything.
                    if !self.sent_full {
                        out.push(self.full_summary());
                    }
                    return Ok(out);
                }
                for d in s.docs {
                    let id = doc_id(&d.doc)?;
                    self.peer_has.insert(id);
                    let mut heads = d.heads;
                    heads.sort();
                    if self.mine.contains_key(&id) && stored_heads(&self.repo, &id) == heads {
                        // Both hold exactly these heads (the peer said so, the
                        // index says so here): agreed, so the next summaries
                        // leave this document out even if no sync message
                        // about it ever goes either way.
                        let hashes = heads
                            .iter()
                            .filter_map(|h| <[u8; 32]>::try_from(h.as_slice()).ok())
                            .map(automerge::ChangeHash)
                            .collect();
                        self.agreed(id, hashes);
                    } else {
                        self.theirs.insert(id, heads);
                    }
                }
                let mut mine: Vec<(DocId, DocId)> =
                    self.mine.iter().map(|(d, s)| (*d, *s)).collect();
                // Spaces first: a peer takes a document only once it holds its space.
                mine.sort_by_key(|(d, s)| d != s);
                for (id, space) in mine {
                    if self.theirs.get(&id) != Some(&stored_heads(&self.repo, &id)) {
                        out.extend(self.offer(id, space)?);
                    }
                }
            }
            Some(rp::frame::Body::Whole(w)) => {
                let (id, space) = (doc_id(&w.doc)?, doc_id(&w.space)?);
                if self.blocked.contains(&id) {
                    return Ok(out);
                }
                // Refused before its content is read (not a member, a space
                // not held yet): logged only. Refused for what it holds (a
                // change that is not proven or breaks the rules, bytes that
                // are not a document): the peer is told, as for sync messages.
                let result = match self.check_incoming(&id, &space) {
                    Err(e) => Err((e, false)),
                    Ok(accept) => from_wire(&w.signatures)
                        .and_then(|signed| {
                            let always = |_: &mut automerge::AutoCommit, _: &[Link]| Ok(());
                            let check: &crate::repo::Accept<'_> = match &accept {
                                Some(a) => a.as_ref(),
                                None => &always,
                            };
                            let (ticket, heads) = self
                                .repo
                                .import(&id, &w.document, &signed, check)
                                .map_err(|e| e.to_string())?;
                            self.repo.wait(ticket).map_err(|e| e.to_string())?;
                            Ok(heads)
                        })
                        .map_err(|e| (e, true)),
                };
                match result {
                    Ok(heads) => {
                        self.peer_has.insert(id);
                        self.agreed(id, heads);
                    }
                    Err((e, tell)) => {
                        self.refuse(&id, "a document", &e)?;
                        if tell {
                            self.blocked.insert(id);
                            out.push(frame(rp::frame::Body::Refusal(rp::Refusal {
                                reason: e,
                                supported: Vec::new(),
                                doc: id.as_bytes().to_vec(),
                            })));
                        }
                    }
                }
            }
            Some(rp::frame::Body::Sync(m)) => {
                out.extend(self.sync(&m.doc, &m.space, &[m.message.as_slice()], &m.signatures)?);
            }
            Some(rp::frame::Body::Want(w)) => {
                let id = doc_id(&w.doc)?;
                if let Some(space) = self.mine.get(&id).copied() {
                    self.peer_has.remove(&id);
                    out.extend(self.offer(id, space)?);
                }
            }
            Some(rp::frame::Body::Heartbeat(_)) => {}
            Some(rp::frame::Body::Refusal(r)) if !r.doc.is_empty() => {
                let id = doc_id(&r.doc)?;
                tracing::warn!(peer = %self.peer.short(), %id, "the peer refused changes: {}", r.reason);
                self.blocked.insert(id);
            }
            Some(rp::frame::Body::Hello(_))
            | Some(rp::frame::Body::Refusal(_))
            | Some(rp::frame::Body::Part(_))
            | None => {
                return Err("the peer sent a frame out of order".into());
            }
        }
        Ok(out)
    }
}

/// How [`run`] executes the steps of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exec {
    /// On tokio's blocking pool (the node: steps wait for disk).
    Blocking,
    /// In the driving task (deterministic simulation).
    Inline,
}

/// What the driver reports about a session as it runs.
pub trait Observer: Send + Sync {
    /// A message of `bytes` went in (`incoming`) or out.
    fn counted(&self, bytes: u64, incoming: bool);
    /// The number of shared documents the peer is behind on.
    fn behind(&self, documents: usize);
    /// False once the peer may no longer take part (it was unpinned).
    fn allowed(&self) -> bool;
}

async fn step<T: Send + 'static>(
    exec: Exec,
    mut session: Session,
    f: impl FnOnce(&mut Session) -> T + Send + 'static,
) -> Result<(Session, T), String> {
    match exec {
        Exec::Inline => {
            let out = f(&mut session);
            Ok((session, out))
        }
        Exec::Blocking => tokio::task::spawn_blocking(move || {
            let out = f(&mut session);
            (session, out)
        })
        .await
        .map_err(|e| format!("internal error: {e}")),
    }
}

/// Splits a frame too large for one message into parts.
fn split(f: rp::Frame, max_frame: usize) -> Vec<rp::Frame> {
    // Room for the part's own framing.
    let chunk = max_frame.saturating_sub(64).max(1024);
    if f.encoded_len() <= chunk {
        return vec![f];
    }
    let bytes = f.encode_to_vec();
    let n = bytes.len().div_ceil(chunk);
    bytes
        .chunks(chunk)
        .enumerate()
        .map(|(i, data)| {
            frame(rp::frame::Body::Part(rp::Part {
                data: data.to_vec(),
                last: i + 1 == n,
            }))
        })
        .collect()
}

/// Reassembles frames sent in parts.
#[derive(Debug, Default)]
struct Assembler {
    buf: Vec<u8>,
}

impl Assembler {
    /// A received frame: `Some` complete frame, or `None` while parts are missing.
    fn push(&mut self, f: rp::Frame, max: usize) -> Result<Option<rp::Frame>, String> {
        match f.body {
            Some(rp::frame::Body::Part(p)) => {
                if self.buf.len() + p.data.len() > max {
                    return Err(format!("the peer sent a frame of more than {max} bytes"));
                }
                self.buf.extend_from_slice(&p.data);
                if !p.last {
                    return Ok(None);
                }
                let whole = rp::Frame::decode(std::mem::take(&mut self.buf).as_slice())
                    .map_err(|e| format!("the peer sent a malformed frame in parts: {e}"))?;
                if matches!(whole.body, Some(rp::frame::Body::Part(_))) {
                    return Err("the peer nested parts of frames".into());
                }
                Ok(Some(whole))
            }
            _ if !self.buf.is_empty() => {
                Err("the peer interleaved a frame with the parts of another".into())
            }
            _ => Ok(Some(f)),
        }
    }
}

/// Runs document exchange on an open session until either side closes it,
/// then saves the session's sync states.
pub async fn run(
    session: Session,
    inbound: &mut Streaming<rp::Frame>,
    out: mpsc::Sender<rp::Frame>,
    durable: broadcast::Receiver<Arc<Vec<DocId>>>,
    observer: &dyn Observer,
    limits: Limits,
    exec: Exec,
) -> Result<(), String> {
    let mut slot = Some(session);
    let result = exchange(&mut slot, inbound, out, durable, observer, limits, exec).await;
    if let Some(session) = slot {
        let peer = session.peer;
        match step(exec, session, |s| s.save()).await {
            Ok((_, Err(e))) => {
                tracing::warn!(peer = %peer.short(), "could not save sync states: {e}")
            }
            Err(e) => tracing::warn!(peer = %peer.short(), "could not save sync states: {e}"),
            Ok((_, Ok(()))) => {}
        }
    }
    result
}

async fn exchange(
    slot: &mut Option<Session>,
    inbound: &mut Streaming<rp::Frame>,
    out: mpsc::Sender<rp::Frame>,
    mut durable: broadcast::Receiver<Arc<Vec<DocId>>>,
    observer: &dyn Observer,
    limits: Limits,
    exec: Exec,
) -> Result<(), String> {
    let beat = limits.heartbeat;
    let (me, peer) = slot
        .as_ref()
        .map(|s| (s.me.short(), s.peer.short()))
        .ok_or("no session")?;
    let mut assembler = Assembler::default();
    let mut budget = Budget::new(limits.max_frames_per_sec, tokio::time::Instant::now());
    let mut last_in = tokio::time::Instant::now();
    let mut last_out = tokio::time::Instant::now();
    let mut ticker = tokio::time::interval(beat.min(Duration::from_secs(1)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut replies = {
        let session = slot.take().ok_or("no session")?;
        let (session, first) = step(exec, session, |s| s.open()).await?;
        *slot = Some(session);
        first
    };
    loop {
        for f in replies.drain(..) {
            tracing::trace!(%me, %peer, "out: {}", describe(&f));
            for part in split(f, limits.max_frame) {
                observer.counted(part.encoded_len() as u64, false);
                out.send(part)
                    .await
                    .map_err(|_| "the session closed".to_owned())?;
                last_out = tokio::time::Instant::now();
            }
        }
        // Biased: the same inputs are taken in the same order (the simulation
        // replays a seed exactly).
        let work: Work = tokio::select! {
            biased;
            next = inbound.message() => match next {
                Ok(Some(f)) => {
                    observer.counted(f.encoded_len() as u64, true);
                    last_in = tokio::time::Instant::now();
                    if !observer.allowed() {
                        return Err("the peer was removed".into());
                    }
                    let mut batch: Vec<rp::Frame> =
                        assembler.push(f, limits.max_assembled)?.into_iter().collect();
                    // Take what else has already arrived (up to a bound), so a
                    // burst of changes to one document is applied in one go.
                    while batch.len() < MAX_BATCH {
                        match tokio::time::timeout(Duration::ZERO, inbound.message()).await {
                            Ok(Ok(Some(f))) => {
                                observer.counted(f.encoded_len() as u64, true);
                                batch.extend(assembler.push(f, limits.max_assembled)?);
                            }
                            Ok(Ok(None)) | Err(_) => break,
                            Ok(Err(s)) => return Err(s.message().to_owned()),
                        }
                    }
                    if batch.is_empty() {
                        continue;
                    }
                    if let Some(wait) = budget.spend(batch.len(), tokio::time::Instant::now()) {
                        if !budget.told {
                            budget.told = true;
                            tracing::warn!(%peer, "the peer sends more than {} frames a second; reading it more slowly", limits.max_frames_per_sec);
                        }
                        tokio::time::sleep(wait).await;
                    }
                    Work::Frames(batch)
                }
                Ok(None) => return Ok(()),
                Err(s) => return Err(s.message().to_owned()),
            },
            changed = durable.recv() => match changed {
                Ok(ids) => Work::Changed(Some(ids)),
                // Fell behind: offer everything shared again.
                Err(broadcast::error::RecvError::Lagged(_)) => Work::Changed(None),
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            },
            _ = ticker.tick() => {
                if last_in.elapsed() > limits.idle_timeout {
                    return Err(format!(
                        "no frame from the peer for {} s; closing the session",
                        limits.idle_timeout.as_secs()
                    ));
                }
                if last_out.elapsed() >= beat {
                    replies.push(frame(rp::frame::Body::Heartbeat(rp::Heartbeat {})));
                }
                Work::Tick
            }
        };
        if let Work::Frames(fs) = &work {
            for f in fs {
                tracing::trace!(%me, %peer, "in: {}", describe(f));
            }
        }
        let session = slot.take().ok_or("no session")?;
        let (session, result) = step(exec, session, move |s| {
            match work {
                Work::Frames(f) => (s.receive_all(f), None),
                Work::Changed(ids) => (s.changed(ids.as_deref().map(|v| v.as_slice())), None),
                // Counting reads every shared document's index entry: once a
                // tick. Sync states are saved then too.
                Work::Tick => match s.tick() {
                    Ok((frames, behind)) => (Ok(frames), Some(behind)),
                    Err(e) => (Err(e), None),
                },
            }
        })
        .await?;
        *slot = Some(session);
        let (result, behind) = result;
        if let Some(n) = behind {
            observer.behind(n);
        }
        replies.extend(result?);
    }
}

/// A token bucket over the frames a peer sends: `rate` a second, bursts of
/// four seconds' worth.
struct Budget {
    rate: f64,
    tokens: f64,
    at: tokio::time::Instant,
    /// The flood was logged (once a session).
    told: bool,
}

impl Budget {
    fn new(rate: u32, now: tokio::time::Instant) -> Self {
        let rate = f64::from(rate.max(1));
        Self {
            rate,
            tokens: rate * 4.0,
            at: now,
            told: false,
        }
    }

    /// Takes `n` frames from the budget at `now`; how long to wait if it is
    /// overdrawn.
    fn spend(&mut self, n: usize, now: tokio::time::Instant) -> Option<Duration> {
        let refill = now.duration_since(self.at).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + refill).min(self.rate * 4.0) - n as f64;
        self.at = now;
        (self.tokens < 0.0).then(|| Duration::from_secs_f64(-self.tokens / self.rate))
    }
}

/// A frame in a few words, for the trace log.
fn describe(f: &rp::Frame) -> String {
    use rp::frame::Body as B;
    let id = |b: &[u8]| doc_id(b).map(|d| d.to_string()).unwrap_or_default();
    match &f.body {
        Some(B::Summary(s)) => format!("summary full={} docs={}", s.full, s.docs.len()),
        Some(B::Whole(w)) => format!("whole {}", id(&w.doc)),
        Some(B::Sync(m)) => format!("sync {} {}b", id(&m.doc), m.message.len()),
        Some(B::Want(w)) => format!("want {}", id(&w.doc)),
        Some(B::Refusal(r)) => format!("refusal {}: {}", id(&r.doc), r.reason),
        Some(B::Heartbeat(_)) => "heartbeat".into(),
        other => format!("{other:?}"),
    }
}

enum Work {
    Frames(Vec<rp::Frame>),
    Changed(Option<Arc<Vec<DocId>>>),
    Tick,
}

#[cfg(test)]
mod tests {
    //! Two sessions joined back to back, without a network: what each sends is
    //! handed to the other, with the notices of durable changes each repository
    //! publishes, until both fall silent.

    use super::*;
    use crate::model::draft;
    use crate::repo::{ChangeNote, RepoConfig};
    use crate::store::MemStore;

    fn node(i: u8) -> NodeId {
        crate::identity::NodeKey::from_seed([i; 32]).id()
    }

    #[test]
    fn a_flooding_peer_is_held_to_its_frame_budget() {
        let t0 = tokio::time::Instant::now();
        let mut b = Budget::new(10, t0);
        // A burst of four seconds' worth passes at once.
        assert_eq!(b.spend(40, t0), None);
        // Then each frame costs a tenth of a second.
        assert_eq!(b.spend(10, t0), Some(Duration::from_secs(1)));
        assert_eq!(
            b.spend(10, t0 + Duration::from_secs(1)),
            Some(Duration::from_secs(1))
        );
        // A quiet peer earns its burst back, and no more.
        let later = t0 + Duration::from_secs(60);
        assert_eq!(b.spend(40, later), None);
        assert!(b.spend(1, later).is_some());
    }

    fn repo(i: u8) -> Repo {
        let cfg = RepoConfig {
            group_commit_window: Duration::ZERO,
            idle_compact: Duration::from_secs(3600),
            ..RepoConfig::default()
        };
        Repo::open(
            Arc::new(MemStore::default()),
            crate::identity::NodeKey::from_seed([i; 32]),
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
                    draft::init(doc, &space_id, &format!("draft {d}"), "", "text", &by, 0)
                })
                .expect("a draft is created")
                .0
            })
            .collect();
        (space_id, ids)
    }

    struct End {
        session: Session,
        durable: broadcast::Receiver<Arc<Vec<DocId>>>,
    }

    impl End {
        fn new(repo: &Repo, me: u8, peer: u8) -> Self {
            Self {
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
                    a.session.save().expect("saved");
                    b.session.save().expect("saved");
                    return (sent_a, sent_b);
                }
            }
            sent_a += size(&to_b);
            sent_b += size(&to_a);
            let (for_b, for_a) = (std::mem::take(&mut to_b), std::mem::take(&mut to_a));
            to_a.extend(b.session.receive_all(for_b).expect("b takes a's frames"));
            to_b.extend(a.session.receive_all(for_a).expect("a takes b's frames"));
        }
        panic!("the sessions never fell silent");
    }

    fn heads(repo: &Repo, id: &DocId) -> Option<Vec<String>> {
        repo.meta(id).map(|m| m.heads)
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
        assert!(a.session.refused > 0);
        assert!(
            b.session.blocked.contains(&drafts[0]),
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
            let (bytes, _, signed) = ra.saved(id).unwrap().unwrap();
            let (ticket, _) = rb.import(id, &bytes, &signed, &|_, _| Ok(())).unwrap();
            rb.wait(ticket).unwrap();
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
}
