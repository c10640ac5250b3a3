//! The session state machine: what one node sends one partner, and what it
//! takes from it.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use automerge::sync::State as SyncState;
use kp_proto::replication as rp;

use kp_core::authorship::{Attestation, Link};
use kp_core::identity::NodeId;
use kp_core::ids::DocId;
use kp_model::{self as model, DocKind, ModelError, space};
use kp_repo::{Repo, Ticket};

use crate::SyncError;
use crate::wire::{doc_id, frame};

/// Frames a peer may send that are refused (not a member, a document of
/// another space, bytes that do not load) before the session is closed.
const MAX_REFUSED: u32 = 100;

/// Ticks without a frame about a document the peer is behind on before it is
/// offered again (see [`Session::tick`]).
const QUIET_TICKS: u64 = 3;

/// The members of a space this node holds.
fn space_members(repo: &Repo, space: &DocId) -> Option<Vec<space::Member>> {
    read_space(repo, space).map(|s| s.members.clone())
}

/// Spaces as last read, by their heads.
static SPACES: std::sync::LazyLock<kp_repo::memo::ByHeads<space::Space>> =
    std::sync::LazyLock::new(|| kp_repo::memo::ByHeads::new(256, usize::MAX));

/// Spaces as they were at the heads a change cites, when not as they are.
static SPACES_AT: std::sync::LazyLock<kp_repo::memo::ByHeads<space::Space>> =
    std::sync::LazyLock::new(|| kp_repo::memo::ByHeads::new(256, usize::MAX));

/// A space this node holds, as it reads now. Every change a partner or a
/// client sends is checked against its space's members, roles and people, and
/// reading a space costs far more than its heads (about half a millisecond
/// for each keystroke of a small draft, a tenth of its way from one node to
/// the next); a space is read again only when its heads have moved, whichever
/// repository (of the several a simulation runs) it was read from.
fn read_space(repo: &Repo, space: &DocId) -> Option<Arc<space::Space>> {
    repo.read(space, |d| read_now(d, space)).ok().flatten()
}

/// The space `d` as it is now, read once per heads.
fn read_now(d: &mut automerge::AutoCommit, space: &DocId) -> Option<Arc<space::Space>> {
    let heads = d.get_heads();
    if let Some(s) = SPACES.get(space, &heads) {
        return Some(s);
    }
    let s = Arc::new(space::read(d).ok()?);
    SPACES.keep(*space, heads, Arc::clone(&s), 0);
    Some(s)
}

/// A space this node holds, as it was at `heads` (a change's citation); `None`
/// if this node does not hold all of them (yet).
fn read_space_at(
    repo: &Repo,
    space: &DocId,
    heads: &[automerge::ChangeHash],
) -> Option<Arc<space::Space>> {
    // Most changes cite the space as it is; the others are kept apart, so
    // that they do not push out the reading of the space now.
    if let Some(s) = SPACES
        .get(space, heads)
        .or_else(|| SPACES_AT.get(space, heads))
    {
        return Some(s);
    }
    repo.read(space, |d| {
        if d.get_heads() == heads {
            return read_now(d, space);
        }
        let at = d.fork_at(heads).ok()?;
        let s = Arc::new(space::read(&at).ok()?);
        SPACES_AT.keep(*space, heads.to_vec(), Arc::clone(&s), 0);
        Some(s)
    })
    .ok()
    .flatten()
}

/// Whether the space document `s` is shared between `me` and `peer`: both
/// members, or one a member and the other removed from it.
fn space_shared(s: &space::Space, me: NodeId, peer: NodeId) -> bool {
    let (me, peer) = (me.to_string(), peer.to_string());
    let member = |n: &str| s.members.iter().any(|m| m.node_id == n);
    let former = |n: &str| s.former.iter().any(|f| f.node_id == n);
    (member(&me) && (member(&peer) || former(&peer))) || (former(&me) && member(&peer))
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
pub(crate) fn space_of(repo: &Repo, id: &DocId) -> Option<DocId> {
    let meta = repo.meta(id)?;
    match meta.kind {
        DocKind::Space => Some(*id),
        _ => meta.space.as_deref()?.parse().ok(),
    }
}

/// A document's durable heads as the index has them, as raw hashes.
fn stored_heads(repo: &Repo, id: &DocId) -> Vec<Vec<u8>> {
    repo.meta(id)
        .map(|m| m.heads.iter().map(|h| h.0.to_vec()).collect::<Vec<_>>())
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

/// Signatures as they travel (and as a backup keeps them).
pub fn to_wire(signed: Vec<Attestation>) -> Vec<rp::Signature> {
    signed
        .into_iter()
        .map(|a| {
            let (voucher_node, person) = a
                .voucher
                .map(|v| (v.node.as_bytes().to_vec(), v.person))
                .unwrap_or_default();
            rp::Signature {
                actor: a.actor.to_bytes().to_vec(),
                hash: a.hash.0.to_vec(),
                signature: a.signature,
                voucher_node,
                person,
            }
        })
        .collect()
}

/// At most this many signatures in one frame (one per actor of a document).
const MAX_SIGNATURES: usize = 4096;

/// Signatures as a peer sent them; malformed ones refuse the frame.
pub fn from_wire(signed: &[rp::Signature]) -> Result<Vec<Attestation>, String> {
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
            if s.signature.len() != kp_core::authorship::SIGNATURE_LEN
                || s.actor.len() > 255
                || s.person.len() > kp_core::authorship::MAX_PERSON
            {
                return Err("a malformed signature".to_string());
            }
            let voucher = match <[u8; 32]>::try_from(s.voucher_node.as_slice()) {
                Ok(node) => Some(kp_core::authorship::Voucher {
                    node: kp_core::identity::NodeId::from_bytes(node),
                    person: s.person.clone(),
                }),
                Err(_) if s.voucher_node.is_empty() => None,
                Err(_) => return Err("a signature's voucher_node is not 32 bytes".to_string()),
            };
            Ok(Attestation {
                actor: automerge::ActorId::from(s.actor.as_slice()),
                hash: automerge::ChangeHash(hash),
                signature: s.signature.clone(),
                voucher,
            })
        })
        .collect()
}

pub(crate) type AcceptFn =
    dyn Fn(&mut automerge::AutoCommit, &[Link]) -> Result<(), ModelError> + Send + Sync;

/// The check of changes to document `doc` of `space`, a space this node
/// holds, whoever sent them: the document stays in its space, and every new
/// change is within its node's role and, for a client's change, its person's
/// ([`model::rules`]). Also the space as read (if it could be), the one
/// read that serves the membership check, the roles, the people and what
/// former members wrote.
pub(crate) fn accept_in_held_space(
    repo: &Repo,
    doc: &DocId,
    space: &DocId,
) -> (Option<Arc<space::Space>>, Arc<AcceptFn>) {
    accept_noting_uncited(repo, doc, space, Arc::default())
}

/// [`accept_in_held_space`], setting `uncited` when a change cites heads of
/// the space this node does not hold (yet): its author is then judged by the
/// space as it is here, and a refusal may only mean that the space has not
/// arrived yet (or came back to this node after a power cut took it).
fn accept_noting_uncited(
    repo: &Repo,
    doc: &DocId,
    space: &DocId,
    uncited: Arc<AtomicBool>,
) -> (Option<Arc<space::Space>>, Arc<AcceptFn>) {
    let read = read_space(repo, space);
    let (roles, former, people) = read
        .as_deref()
        .map(|s| {
            let people = space::people_roles(s);
            (roles_of(&s.members), former_of(&s.former, doc), people)
        })
        .unwrap_or_default();
    let known_kind = repo.meta(doc).map(|m| m.kind);
    let is_space = doc == space;
    let expected = space.to_string();
    // A change's author judged in the space as it cited it. Never for the
    // space itself: its own lock is held while its changes are checked.
    let (held, space_id) = (repo.clone(), *space);
    let cited = move |heads: &[automerge::ChangeHash]| {
        if is_space {
            return None;
        }
        let at = read_space_at(&held, &space_id, heads).map(|s| roles_of(&s.members));
        if at.is_none() {
            uncited.store(true, Ordering::Relaxed);
        }
        at
    };
    let accept = Arc::new(move |d: &mut automerge::AutoCommit, new: &[Link]| {
        let s = model::summarize(d);
        let kind = known_kind.unwrap_or(s.kind);
        if !is_space && s.space.as_deref() != Some(expected.as_str()) {
            return Err(ModelError::invalid("the document names another space"));
        }
        if !is_space && kind == DocKind::Space {
            return Err(ModelError::invalid("a space inside another space"));
        }
        model::rules::check_new(d, new, kind, &roles, &former, &cited)?;
        model::rules::check_people(d, new, kind, &people)
    });
    (read, accept)
}

/// Where the sync states with peers are kept among the node's values (then
/// the peer's id and the document's).
pub const STATE_PREFIX: &[u8] = b"sync/";

/// How far apart this node and a peer are on the documents they share, as of
/// a tick.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lag {
    /// Documents shared with the peer.
    pub shared: usize,
    /// Shared documents whose latest changes here the peer has not confirmed.
    pub peer_behind: usize,
    /// Shared documents where the peer has changes this node has not yet.
    pub missing: usize,
}

/// Changes (edits) that went each way in a session, counted where they are
/// taken in or put in a frame (see [`Session::take_edits`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Edits {
    /// Changes from the peer that were new here and were taken in.
    pub received: u64,
    /// Changes put in frames for the peer: a document sent whole counts all
    /// of its changes (automerge sends a small document whole rather than a
    /// third of it as changes), so this may count changes the peer held.
    pub sent: u64,
}

impl Lag {
    /// Whether both hold the same of every shared document.
    pub fn in_sync(&self) -> bool {
        self.peer_behind == 0 && self.missing == 0
    }
}

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
    /// Documents whose changes from the peer were refused while they cited
    /// heads of the space this node did not hold: asked for whole again
    /// ([`rp::Want`]) once the space changes here, not blocked.
    waiting: BTreeMap<DocId, DocId>,
    /// Changes whose signature the peer was given in this session.
    attested: BTreeMap<DocId, HashSet<automerge::ChangeHash>>,
    /// Ticks of the driver so far, and the tick of the last frame about each
    /// document (see [`Session::tick`]).
    ticks: u64,
    touched: BTreeMap<DocId, u64>,
    refused: u32,
    /// Changes that went each way since [`Session::take_edits`] last ran.
    edits: Edits,
    /// Rounds of writes that what this session took from the peer went into:
    /// the frames it returned may go out only once they are durable (see
    /// [`Session::take_pending`]).
    pending: Vec<Ticket>,
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
    /// This node.
    pub fn me(&self) -> NodeId {
        self.me
    }

    /// The partner.
    pub fn peer(&self) -> NodeId {
        self.peer
    }

    /// Frames from the peer refused so far (see [`Session::receive`]).
    pub fn refused(&self) -> u32 {
        self.refused
    }

    /// The changes that went each way since the last call.
    pub fn take_edits(&mut self) -> Edits {
        std::mem::take(&mut self.edits)
    }

    /// Whether both nodes are members of the space of `doc`, a document this
    /// node holds (what may be said about it to the peer).
    pub fn shares_doc(&self, doc: &DocId) -> bool {
        let Some(meta) = self.repo.meta(doc) else {
            return false;
        };
        match meta.space.as_deref().map(str::parse::<DocId>) {
            Some(Ok(space)) => self.shares(&space),
            Some(Err(_)) => false,
            None => self.shares_space_doc(doc),
        }
    }

    /// Whether `doc` is no longer synced with the peer in this session: one
    /// side refused the other's changes to it.
    pub fn is_blocked(&self, doc: &DocId) -> bool {
        self.blocked.contains(doc)
    }

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
            waiting: BTreeMap::new(),
            attested: BTreeMap::new(),
            ticks: 0,
            touched: BTreeMap::new(),
            refused: 0,
            edits: Edits::default(),
            pending: Vec::new(),
        }
    }

    fn shares(&self, space: &DocId) -> bool {
        space_members(&self.repo, space).is_some_and(|m| self.shares_among(&m))
    }

    /// Whether the space document itself is shared with the peer: both are
    /// members, or one is and the other was removed from it. A removed member
    /// is told of its removal, and of the members as they go on, so that
    /// every node agrees on who the members are; it gets nothing else of the
    /// space.
    fn shares_space_doc(&self, space: &DocId) -> bool {
        read_space(&self.repo, space).is_some_and(|s| self.shares_space_in(&s))
    }

    /// [`Session::shares_space_doc`] by the space as read.
    fn shares_space_in(&self, s: &space::Space) -> bool {
        space_shared(s, self.me, self.peer)
    }

    /// Whether both nodes are among `members`.
    fn shares_among(&self, members: &[space::Member]) -> bool {
        let (me, peer) = (self.me.to_string(), self.peer.to_string());
        members.iter().any(|m| m.node_id == me) && members.iter().any(|m| m.node_id == peer)
    }

    /// Documents both nodes may hold, with their spaces.
    fn shared_docs(&self) -> Vec<(DocId, DocId)> {
        let list = self.repo.list();
        // Spaces whose documents are shared, and spaces shared alone.
        let mut spaces: BTreeMap<DocId, bool> = BTreeMap::new();
        for (id, m) in &list {
            if m.kind == DocKind::Space
                && let Some(s) = read_space(&self.repo, id)
                && self.shares_space_in(&s)
            {
                spaces.insert(*id, self.shares_among(&s.members));
            }
        }
        list.into_iter()
            .filter_map(|(id, m)| {
                let (space, shared) = match m.kind {
                    DocKind::Space => (id, spaces.contains_key(&id)),
                    _ => {
                        let space = m.space.as_deref()?.parse().ok()?;
                        (space, spaces.get(&space).copied().unwrap_or(false))
                    }
                };
                shared.then_some((id, space))
            })
            .collect()
    }

    /// May the peer send us changes to `doc`, which it says belongs to `space`?
    /// The check returned runs on the document as it would be after them:
    /// every new change must come from a node whose role in the space (as this
    /// node holds it now) allows it (see [`model::rules`]), and a document
    /// other than the space must still name that space.
    fn check_incoming(
        &self,
        doc: &DocId,
        space: &DocId,
        uncited: &Arc<AtomicBool>,
    ) -> Result<Option<Arc<AcceptFn>>, String> {
        if let Some(known) = space_of(&self.repo, doc)
            && known != *space
        {
            return Err(format!("{doc} does not belong to space {space}"));
        }
        if self.repo.meta(space).is_some() {
            let (read, accept) = accept_noting_uncited(&self.repo, doc, space, Arc::clone(uncited));
            let shared = read.is_some_and(|s| {
                if doc == space {
                    self.shares_space_in(&s)
                } else {
                    self.shares_among(&s.members)
                }
            });
            if !shared {
                return Err(format!(
                    "the peer is not a member of space {space} (or this node is not)"
                ));
            }
            return Ok(Some(accept));
        }
        // A space this node does not hold: only the space document itself, and
        // only if it lists both nodes. (Its history is taken as it is: the
        // roles its changes were made under are the space's own business.)
        if doc != space {
            return Err(format!(
                "{doc} belongs to space {space}, which this node does not hold"
            ));
        }
        let (me, peer) = (self.me, self.peer);
        Ok(Some(Arc::new(
            move |d: &mut automerge::AutoCommit, _: &[Link]| {
                if space_shared(&space::read(d)?, me, peer) {
                    Ok(())
                } else {
                    Err(ModelError::invalid(
                        "the space does not list both nodes as members (or this one as removed)",
                    ))
                }
            },
        )))
    }

    fn state_key(&self, id: &DocId) -> Vec<u8> {
        [STATE_PREFIX, self.peer.as_bytes(), id.as_bytes()].concat()
    }

    /// The next sync message to the peer about `id` (see [`Repo::sync_message`]).
    fn next_message(&mut self, id: &DocId, space: &DocId) -> Result<Option<rp::Frame>, String> {
        self.state(id);
        let Some(state) = self.states.get_mut(id) else {
            return Ok(None);
        };
        let attested = self.attested.entry(*id).or_default();
        let before = state.sent_hashes.len();
        let msg = self
            .repo
            .sync_message(id, state, attested)
            .map_err(|e| e.to_string())?;
        // The changes a message carries are added to the state's sent hashes.
        self.edits.sent += state.sent_hashes.len().saturating_sub(before) as u64;
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

    /// The sync states that changed since they were last saved, as index
    /// entries: stored, they let a reconnect resume where this session stopped
    /// instead of starting over. The driver stores them when the session ends
    /// and once a tick while it runs (so a node that stops without ending its
    /// sessions loses little), then calls [`Session::states_saved`].
    pub fn unsaved_states(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.unsaved
            .iter()
            .filter_map(|id| Some((self.state_key(id), self.states.get(id)?.encode())))
            .collect()
    }

    /// The states [`Session::unsaved_states`] gave are stored.
    pub fn states_saved(&mut self) {
        self.unsaved.clear();
    }

    /// The rounds of writes holding what the peer sent since the last call.
    /// The frames this session returned since then say to the peer what this
    /// node holds: the driver sends them only once every round is durable
    /// ([`Repo::wait`]), so nothing is acknowledged before it is.
    pub fn take_pending(&mut self) -> Vec<Ticket> {
        std::mem::take(&mut self.pending)
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
    /// changing at that moment, say), it resumes. Returns the frames and how
    /// far apart the two are.
    pub fn tick(&mut self) -> Result<(Vec<rp::Frame>, Lag), SyncError> {
        self.ticks += 1;
        let behind = self.behind_ids();
        // Of those, the ones where the peer has changes this node lacks.
        let missing = behind
            .iter()
            .filter(|id| {
                let Some(theirs) = self.theirs.get(id) else {
                    return false;
                };
                let heads: Vec<automerge::ChangeHash> = theirs
                    .iter()
                    .filter_map(|h| <[u8; 32]>::try_from(h.as_slice()).ok())
                    .map(automerge::ChangeHash)
                    .collect();
                self.repo
                    .read(id, |doc| !doc.get_missing_deps(&heads).is_empty())
                    .unwrap_or(false)
            })
            .count();
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
        let lag = Lag {
            shared: self.mine.len(),
            peer_behind: behind.len(),
            missing,
        };
        Ok((out, lag))
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
    pub fn changed(&mut self, ids: Option<&[DocId]>) -> Result<Vec<rp::Frame>, SyncError> {
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
            .filter_map(|id| {
                let space = space_of(&self.repo, &id)?;
                self.shares_doc(&id).then_some((id, space))
            })
            .collect();
        // Spaces first, as in the answer to a summary.
        ids.sort_by_key(|(d, s)| d != s);
        let mut out = Vec::new();
        let spaces: BTreeSet<DocId> = ids
            .iter()
            .filter(|(d, s)| d == s)
            .map(|(d, _)| *d)
            .collect();
        for (id, space) in ids {
            self.mine.insert(id, space);
            out.extend(self.offer(id, space)?);
        }
        // Documents refused while the space they cited was not here: the
        // space has changed, so they are asked for whole again.
        let ready: Vec<DocId> = self
            .waiting
            .iter()
            .filter(|(_, s)| spaces.contains(s))
            .map(|(d, _)| *d)
            .collect();
        for id in ready {
            self.waiting.remove(&id);
            out.push(frame(rp::frame::Body::Want(rp::Want {
                doc: id.as_bytes().to_vec(),
            })));
        }
        Ok(out)
    }

    /// What to send the peer about a document it may hold: the whole document if
    /// it has nothing of it, else the next sync message (if any).
    fn offer(&mut self, id: DocId, space: DocId) -> Result<Vec<rp::Frame>, SyncError> {
        if self.blocked.contains(&id) {
            return Ok(Vec::new());
        }
        // Shared when the session opened, or when it last changed, is not
        // shared now: the peer may have been removed from the space since.
        if !self.shares_doc(&id) {
            self.mine.remove(&id);
            return Ok(Vec::new());
        }
        self.touched.insert(id, self.ticks);
        if self.peer_has.contains(&id) {
            Ok(self.next_message(&id, &space)?.into_iter().collect())
        } else {
            let Some(kp_repo::Saved {
                document,
                heads,
                signed,
                changes,
            }) = self.repo.saved(&id)?
            else {
                return Ok(Vec::new());
            };
            self.edits.sent += changes as u64;
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
    fn refuse(&mut self, doc: &DocId, what: &str, e: &str) -> Result<(), SyncError> {
        self.refused += 1;
        if self.refused == 1 {
            tracing::warn!(peer = %self.peer.short(), %doc, "refused {what}: {e}");
        } else {
            tracing::debug!(peer = %self.peer.short(), %doc, "refused {what}: {e}");
        }
        if self.refused > MAX_REFUSED {
            return Err(SyncError::Peer(format!(
                "the peer sent more than {MAX_REFUSED} refused frames"
            )));
        }
        Ok(())
    }

    /// `frames` cut into the rounds a driver gives [`Session::receive_all`] one
    /// after another, waiting between them until what a round took is durable
    /// ([`Session::take_pending`]): a document taken whole ends its round when
    /// a later frame of the burst is about it or about a document of its space
    /// (the drafts of a space just taken, say), so those find it held; the
    /// drafts of a clone, each taken whole, stay in one round.
    pub fn rounds(frames: Vec<rp::Frame>) -> Vec<Vec<rp::Frame>> {
        // The documents each frame names, as a document or as its space.
        fn names(f: &rp::Frame) -> [&[u8]; 2] {
            match &f.body {
                Some(rp::frame::Body::Whole(w)) => [&w.doc, &w.space],
                Some(rp::frame::Body::Sync(m)) => [&m.doc, &m.space],
                Some(rp::frame::Body::Want(w)) => [&w.doc, &[]],
                _ => [&[], &[]],
            }
        }
        // Whether a frame after each one names the document it takes whole.
        let mut later: std::collections::HashSet<&[u8]> = std::collections::HashSet::new();
        let mut cut = vec![false; frames.len()];
        for (i, f) in frames.iter().enumerate().rev() {
            if let Some(rp::frame::Body::Whole(w)) = &f.body {
                cut[i] = later.contains(w.doc.as_slice());
            }
            later.extend(names(f).into_iter().filter(|n| !n.is_empty()));
        }
        let mut rounds = vec![Vec::new()];
        for (f, cut) in frames.into_iter().zip(cut) {
            if let Some(round) = rounds.last_mut() {
                round.push(f);
            }
            if cut {
                rounds.push(Vec::new());
            }
        }
        rounds.retain(|r| !r.is_empty());
        rounds
    }

    /// [`Session::receive_all`] of `frames` round by round ([`Session::rounds`]):
    /// between rounds, `durable` is given the rounds of writes taken so far and
    /// returns once they are durable (the caller's waiting, not this one's).
    /// What the last round took is left to [`Session::take_pending`].
    pub fn receive_in_rounds(
        &mut self,
        frames: Vec<rp::Frame>,
        mut durable: impl FnMut(Vec<Ticket>) -> Result<(), kp_repo::RepoError>,
    ) -> Result<Vec<rp::Frame>, SyncError> {
        let mut rounds = Self::rounds(frames).into_iter().peekable();
        let mut out = Vec::new();
        while let Some(round) = rounds.next() {
            out.extend(self.receive_all(round)?);
            if rounds.peek().is_some() {
                durable(self.take_pending())?;
            }
        }
        Ok(out)
    }

    /// Frames from the peer, in order, as [`Session::receive`] takes them, except
    /// that consecutive sync messages about one document are applied together.
    /// The frames after a document taken whole must wait until it is durable:
    /// see [`Session::rounds`].
    pub fn receive_all(&mut self, frames: Vec<rp::Frame>) -> Result<Vec<rp::Frame>, SyncError> {
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
    ) -> Result<Vec<rp::Frame>, SyncError> {
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
        let uncited = Arc::new(AtomicBool::new(false));
        let result = from_wire(signed).and_then(|signed| {
            let accept = self.check_incoming(&id, &space, &uncited)?;
            let repo = self.repo.clone();
            let state = self.state(&id);
            let taken = repo
                .sync_receive(
                    &id,
                    state,
                    messages,
                    &signed,
                    accept.as_deref().map(|a| a as &kp_repo::Accept<'_>),
                )
                .map_err(|e| e.to_string())?;
            let theirs = state
                .their_heads
                .as_ref()
                .map(|h| h.iter().map(|h| h.0.to_vec()).collect::<Vec<_>>());
            self.pending.push(taken.ticket);
            self.edits.received += taken.changes as u64;
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
            Err(e) if uncited.load(Ordering::Relaxed) => {
                // Judged without the space its changes cite: not refused for
                // good, asked for again once the space has changed here.
                self.refuse(
                    &id,
                    "a sync message for now (it cites the space as this node does not hold it yet)",
                    &e,
                )?;
                self.waiting.insert(id, space);
                Ok(Vec::new())
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
    pub fn receive(&mut self, f: rp::Frame) -> Result<Vec<rp::Frame>, SyncError> {
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
                let uncited = Arc::new(AtomicBool::new(false));
                let result = match self.check_incoming(&id, &space, &uncited) {
                    Err(e) => Err((e, false)),
                    Ok(accept) => from_wire(&w.signatures)
                        .and_then(|signed| {
                            let always = |_: &mut automerge::AutoCommit, _: &[Link]| Ok(());
                            let check: &kp_repo::Accept<'_> = match &accept {
                                Some(a) => a.as_ref(),
                                None => &always,
                            };
                            let (taken, heads) = self
                                .repo
                                .import(&id, &w.document, &signed, check)
                                .map_err(|e| e.to_string())?;
                            self.pending.push(taken.ticket);
                            self.edits.received += taken.changes as u64;
                            Ok(heads)
                        })
                        .map_err(|e| (e, true)),
                };
                match result {
                    Ok(heads) => {
                        self.peer_has.insert(id);
                        self.agreed(id, heads);
                    }
                    Err((e, true)) if uncited.load(Ordering::Relaxed) => {
                        self.refuse(&id, "a document for now (it cites the space as this node does not hold it yet)", &e)?;
                        self.waiting.insert(id, space);
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
            // Presence is the driver's (it never reaches a session); a stray
            // one is of no consequence.
            Some(rp::frame::Body::Heartbeat(_)) | Some(rp::frame::Body::Presence(_)) => {}
            Some(rp::frame::Body::Refusal(r)) if !r.doc.is_empty() => {
                let id = doc_id(&r.doc)?;
                tracing::warn!(peer = %self.peer.short(), %id, "the peer refused changes: {}", r.reason);
                self.blocked.insert(id);
            }
            Some(rp::frame::Body::Hello(_))
            | Some(rp::frame::Body::Refusal(_))
            | Some(rp::frame::Body::Part(_))
            | None => {
                return Err(SyncError::Peer("the peer sent a frame out of order".into()));
            }
        }
        Ok(out)
    }
}
