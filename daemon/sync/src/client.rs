//! automerge-repo's network protocol on the node's own repository: a session
//! with one client (a browser, a program using `@automerge/automerge-repo`),
//! without I/O.
//!
//! The client joins, then asks for documents by id (`request`) and syncs them
//! (`sync`) with the same automerge sync protocol partners use, one sync state
//! per document. What it may see is every document the node holds; anything
//! else — a document of a space this node does not hold, an id that is no
//! document — is answered `doc-unavailable`, alike. Every change that becomes
//! durable in a document the client has open is offered to it
//! ([`ClientSession::changed`]), which makes other people's edits live.
//! `ephemeral` messages (presence, cursors) are handed back to the caller to
//! relay to the other clients of the same document ([`ClientSession::relay`])
//! and to the partners that share it (the daemon's driver); they are never
//! stored, and they arrive with the `senderId` `person@node/peer`, the person
//! the node logged in.
//!
//! Changes a client sends are taken only when the node vouches for them
//! ([`Signer`]): it signs the client's actors' tips in the person's name, and
//! the changes are held to the rules of the space, the person's role among
//! its people included, exactly as a partner's would be. An actor is one
//! person's: one that this node already vouched for as someone else is
//! refused, and so is a node's actor. A change that is refused (a reader's,
//! say) leaves nothing stored, and the document is no longer synced with that
//! client in the session (as with a partner whose change is refused).

use std::collections::{HashMap, HashSet};

use automerge::{ActorId, AutoCommit, ChangeHash};
use kp_core::authorship::{Attestation, Link, Voucher};
use kp_core::ids::DocId;
use kp_model::ModelError;
use kp_repo::{Repo, RepoError};

use crate::repo_wire::{self, Ephemeral, FromClient};

/// More refusals than this in a session close it.
const MAX_REFUSED: u32 = 100;
/// Documents a client may be creating at once (announced, not yet taken).
const MAX_FRESH: usize = 8;
/// Bytes of sync messages a document a client creates may take before the
/// node has the whole of it.
const MAX_FRESH_BYTES: usize = 64 << 20;

/// A document a client announced that the node does not hold: synced into a
/// scratch document until it is whole, then checked and taken, or refused.
#[derive(Debug, Default)]
struct Fresh {
    doc: AutoCommit,
    state: automerge::sync::State,
    bytes: usize,
}

/// What the node does for a client that writes: signs its actors' changes
/// in the name of the person logged in.
pub trait Signer: Send {
    /// The person (the account's name at this node).
    fn person(&self) -> &str;
    /// This node's signature of change `hash` of a client's `actor`, vouching
    /// that the person wrote it.
    fn vouch(&self, actor: &ActorId, hash: ChangeHash) -> Attestation;
}

/// Why a client session ends.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The client broke the protocol; it is told so, then disconnected.
    #[error("{0}")]
    Protocol(String),
    /// This node's repository failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
}

/// What a step gives the caller to do.
#[derive(Debug, Default)]
pub struct Reply {
    /// Messages for this client, in order.
    pub send: Vec<Vec<u8>>,
    /// An `ephemeral` message for the other clients of its document.
    pub relay: Option<Ephemeral>,
    /// The client left.
    pub leave: bool,
}

#[derive(Debug, Default)]
struct Open {
    state: automerge::sync::State,
    /// Signatures this client was given (it has no use for them; the
    /// repository's bookkeeping wants the set).
    attested: HashSet<ChangeHash>,
}

/// One client's session.
pub struct ClientSession {
    repo: Repo,
    me: String,
    peer: Option<String>,
    open: HashMap<DocId, Open>,
    blocked: HashSet<DocId>,
    refused: u32,
    signer: Box<dyn Signer>,
    fresh: HashMap<DocId, Fresh>,
    /// The `senderId` its `ephemeral` messages carry to other clients:
    /// `person@node/peer`, so a page shows who is here from what the node
    /// says, not from what a client claims.
    relayed_as: Option<String>,
}

impl std::fmt::Debug for ClientSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSession")
            .field("me", &self.me)
            .field("peer", &self.peer)
            .field("open", &self.open.len())
            .field("refused", &self.refused)
            .field("person", &self.signer.person())
            .finish()
    }
}

impl ClientSession {
    /// A session on `repo`; `me` is the peer id this node gives itself.
    /// `signer` vouches for what the client writes, in its person's name.
    pub fn new(repo: Repo, me: impl Into<String>, signer: Box<dyn Signer>) -> Self {
        Self {
            repo,
            me: me.into(),
            peer: None,
            open: HashMap::new(),
            blocked: HashSet::new(),
            refused: 0,
            signer,
            fresh: HashMap::new(),
            relayed_as: None,
        }
    }

    /// The client's peer id, once it has joined.
    pub fn peer(&self) -> Option<&str> {
        self.peer.as_deref()
    }

    /// True if the client has document `id` open (it asked for it or synced it).
    pub fn has_open(&self, id: &DocId) -> bool {
        self.open.contains_key(id) && !self.blocked.contains(id)
    }

    /// Changes the client sent that were refused in this session.
    pub fn refused(&self) -> u32 {
        self.refused
    }

    /// Takes one message from the client. Blocks while what it adds becomes
    /// durable (the answer is made only of durable state): run it where
    /// blocking is allowed.
    pub fn receive(&mut self, bytes: &[u8]) -> Result<Reply, ClientError> {
        let message = repo_wire::decode(bytes).map_err(|e| ClientError::Protocol(e.to_string()))?;
        let mut reply = Reply::default();
        let Some(peer) = self.peer.clone() else {
            let FromClient::Join { sender, versions } = message else {
                return Err(ClientError::Protocol(
                    "the first message must be a `join`".into(),
                ));
            };
            if !versions.iter().any(|v| v == repo_wire::VERSION) {
                return Err(ClientError::Protocol(format!(
                    "this node speaks automerge-repo protocol version {}, and the client \
                     offered {versions:?}",
                    repo_wire::VERSION
                )));
            }
            if sender.is_empty() || sender.len() > 256 {
                return Err(ClientError::Protocol(
                    "a `senderId` must be 1 to 256 bytes long".into(),
                ));
            }
            reply.send.push(repo_wire::peer(&self.me, &sender));
            self.relayed_as = Some(format!(
                "{}@{}/{sender}",
                self.signer.person(),
                self.repo.node()
            ));
            self.peer = Some(sender);
            return Ok(reply);
        };
        match message {
            FromClient::Join { .. } => {
                return Err(ClientError::Protocol("a second `join`".into()));
            }
            FromClient::Request { doc, data } => {
                reply.send = self.sync(&peer, &doc, &data, true)?;
            }
            FromClient::Sync { doc, data } => {
                reply.send = self.sync(&peer, &doc, &data, false)?;
            }
            FromClient::Ephemeral(mut e) => {
                if let Ok(id) = e.doc.parse::<DocId>()
                    && self.has_open(&id)
                {
                    // Relayed in the name the node gives the client.
                    e.sender = self.relayed_as.clone().unwrap_or(peer);
                    reply.relay = Some(e);
                }
            }
            FromClient::DocUnavailable { doc } => {
                if let Ok(id) = doc.parse::<DocId>() {
                    self.open.remove(&id);
                }
            }
            FromClient::Leave => reply.leave = true,
            FromClient::Other(_) => {}
        }
        Ok(reply)
    }

    /// Messages for the client about documents whose changes became durable
    /// (`None`: any document may have changed, say after missed notices).
    pub fn changed(&mut self, ids: Option<&[DocId]>) -> Result<Vec<Vec<u8>>, ClientError> {
        let Some(peer) = self.peer.clone() else {
            return Ok(Vec::new());
        };
        let mut ids: Vec<DocId> = match ids {
            Some(ids) => ids.iter().filter(|i| self.has_open(i)).copied().collect(),
            None => self.open.keys().copied().collect(),
        };
        ids.sort();
        ids.dedup();
        let mut out = Vec::new();
        for id in ids {
            if self.blocked.contains(&id) {
                continue;
            }
            out.extend(self.answer(&peer, &id)?);
        }
        Ok(out)
    }

    /// Another client's `ephemeral` message, addressed to this client, if it
    /// has the document open.
    pub fn relay(&self, e: &Ephemeral) -> Option<Vec<u8>> {
        let peer = self.peer.as_deref()?;
        if self.relayed_as.as_deref() == Some(e.sender.as_str()) {
            return None;
        }
        let id = e.doc.parse::<DocId>().ok()?;
        self.has_open(&id).then(|| repo_wire::ephemeral(e, peer))
    }

    fn sync(
        &mut self,
        peer: &str,
        doc: &str,
        data: &[u8],
        request: bool,
    ) -> Result<Vec<Vec<u8>>, ClientError> {
        let unavailable = || Ok(vec![repo_wire::unavailable(&self.me, peer, doc)]);
        let Ok(id) = doc.parse::<DocId>() else {
            return unavailable();
        };
        if self.blocked.contains(&id) {
            return Ok(Vec::new());
        }
        if self.repo.meta(&id).is_none() {
            // Nothing of a document this node does not hold, whether it
            // exists elsewhere or not; but a client that writes may be
            // announcing a document it made.
            self.open.remove(&id);
            if request {
                return unavailable();
            }
            return self.create(peer, &id, doc, data);
        }
        let open = self.open.entry(id).or_default();
        let result = receive_vouched(&self.repo, &id, &mut open.state, data, &*self.signer);
        match result {
            Ok(()) => {}
            Err(RepoError::Model(e)) => {
                self.refuse(peer, &id, &e)?;
                return Ok(Vec::new());
            }
            Err(e) => return Err(e.into()),
        }
        self.answer(peer, &id)
    }

    /// A sync message about a document the client made and the node does not
    /// hold: synced into a scratch copy; once it is whole, checked and taken
    /// ([`adopt`]), or refused with nothing stored.
    fn create(
        &mut self,
        peer: &str,
        id: &DocId,
        doc: &str,
        data: &[u8],
    ) -> Result<Vec<Vec<u8>>, ClientError> {
        use automerge::sync::SyncDoc;
        let unavailable = vec![repo_wire::unavailable(&self.me, peer, doc)];
        if !self.fresh.contains_key(id) && self.fresh.len() >= MAX_FRESH {
            return Ok(unavailable);
        }
        let fresh = self.fresh.entry(*id).or_default();
        fresh.bytes += data.len();
        let step = (|| {
            if fresh.bytes > MAX_FRESH_BYTES {
                return Err(ModelError::TooLarge(format!(
                    "a new document may take at most {} MiB before it is whole",
                    MAX_FRESH_BYTES >> 20
                )));
            }
            let message = automerge::sync::Message::decode(data)
                .map_err(|e| ModelError::invalid(format!("not a sync message: {e}")))?;
            fresh
                .doc
                .sync()
                .receive_sync_message(&mut fresh.state, message)
                .map_err(ModelError::from)?;
            Ok(fresh.doc.get_heads().is_empty() || !fresh.doc.get_missing_deps(&[]).is_empty())
        })();
        match step {
            Ok(true) => {
                // Not whole yet: say what the node lacks.
                let reply = fresh.doc.sync().generate_sync_message(&mut fresh.state);
                return Ok(reply
                    .map(|m| repo_wire::sync(&self.me, peer, doc, &m.encode()))
                    .into_iter()
                    .collect());
            }
            Ok(false) => {}
            Err(e) => {
                self.fresh.remove(id);
                self.refuse(peer, id, &e)?;
                return Ok(unavailable);
            }
        }
        let fresh = self.fresh.remove(id).expect("present above");
        match adopt(&self.repo, id, fresh.doc, &*self.signer) {
            Ok(()) => {
                self.open.insert(
                    *id,
                    Open {
                        state: fresh.state,
                        attested: HashSet::new(),
                    },
                );
                self.answer(peer, id)
            }
            Err(RepoError::Model(e)) => {
                self.refuse(peer, id, &e)?;
                Ok(unavailable)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Counts and logs a refusal; the document is no longer synced with this
    /// client in the session.
    fn refuse(&mut self, peer: &str, id: &DocId, e: &ModelError) -> Result<(), ClientError> {
        self.refused += 1;
        self.blocked.insert(*id);
        if self.refused == 1 {
            tracing::warn!(client = %peer, %id, "refused a client's changes: {e}");
        } else {
            tracing::debug!(client = %peer, %id, "refused a client's changes: {e}");
        }
        if self.refused > MAX_REFUSED {
            return Err(ClientError::Protocol(format!(
                "more than {MAX_REFUSED} refused messages"
            )));
        }
        Ok(())
    }

    /// The next sync message for the client about `id`, if there is one.
    fn answer(&mut self, peer: &str, id: &DocId) -> Result<Vec<Vec<u8>>, ClientError> {
        let open = self.open.entry(*id).or_default();
        let message = self
            .repo
            .sync_message(id, &mut open.state, &mut open.attested)?;
        Ok(message
            .map(|(m, _)| repo_wire::sync(&self.me, peer, &id.to_string(), &m))
            .into_iter()
            .collect())
    }
}

/// Takes a document a client made: a well-formed draft of a space this node
/// holds, every change of it by the client's actors, vouched for by `signer`
/// and within the person's role (and the node's) in that space.
fn adopt(
    repo: &Repo,
    id: &DocId,
    mut doc: AutoCommit,
    signer: &dyn Signer,
) -> Result<(), RepoError> {
    let summary = kp_model::summarize(&doc);
    if summary.kind != kp_model::DocKind::Draft {
        return Err(ModelError::Forbidden(format!(
            "a client may create drafts only, and this document's `kind` is {:?}",
            summary.kind.as_str()
        ))
        .into());
    }
    let space = summary
        .space
        .and_then(|s| s.parse::<DocId>().ok())
        .filter(|s| {
            repo.meta(s)
                .is_some_and(|m| m.kind == kp_model::DocKind::Space)
        })
        .ok_or_else(|| {
            ModelError::invalid("a new draft must name, as `space`, a space this node holds")
        })?;
    kp_model::draft::check_created(&doc, &space)?;
    let links = kp_core::authorship::new_links(&mut doc, &[]);
    let signed = vouch(repo, signer, &links, &HashMap::new())?;
    let check = own_changes_in(repo, id, &space);
    let accept = |trial: &mut AutoCommit, new: &[Link]| check(trial, new);
    let (taken, _) = repo.import(id, &doc.save(), &signed, &accept)?;
    repo.wait(taken.ticket)
}

/// This node's signatures of the tips of the client actors of `new`, in
/// `signer`'s person's name; refused for a node's actor, or for an actor
/// that signatures held here (`known`) give to another person.
fn vouch(
    repo: &Repo,
    signer: &dyn Signer,
    new: &[Link],
    known: &HashMap<ActorId, Voucher>,
) -> Result<Vec<Attestation>, ModelError> {
    let mut signed = Vec::new();
    for (actor, (_, hash)) in kp_core::authorship::tips(new) {
        if kp_core::ids::parse_actor(&actor).is_some() {
            return Err(ModelError::Forbidden(format!(
                "change {hash} is written as a node ({actor}); a client writes with an actor \
                 of its own"
            )));
        }
        if let Some(v) = known.get(&actor)
            && (v.node != repo.node() || v.person != signer.person())
        {
            return Err(ModelError::Forbidden(format!(
                "actor {actor} writes for {} at node {}; one actor is one person's",
                v.person,
                v.node.short()
            )));
        }
        signed.push(signer.vouch(&actor, hash));
    }
    Ok(signed)
}

/// The check of what a client adds to document `id` of `space`: only its
/// own changes (vouched for here), within the rules of the space as a
/// partner's would be.
fn own_changes_in(
    repo: &Repo,
    id: &DocId,
    space: &DocId,
) -> impl Fn(&mut AutoCommit, &[Link]) -> Result<(), ModelError> {
    let (_, check) = crate::session::accept_in_held_space(repo, id, space);
    move |trial: &mut AutoCommit, new: &[Link]| {
        if new.is_empty() {
            return Ok(());
        }
        if new.iter().any(|l| l.by.is_none()) {
            // Only the client's own changes come from a client: anything else
            // it sends is not news (or not proven).
            return Err(ModelError::Forbidden(
                "a client sent changes that are not its own".into(),
            ));
        }
        check(trial, new)
    }
}

/// Receives a client's sync message: the changes it adds are vouched for by
/// `signer` and held to the rules of the document's space, the person's role
/// included.
fn receive_vouched(
    repo: &Repo,
    id: &DocId,
    state: &mut automerge::sync::State,
    data: &[u8],
    signer: &dyn Signer,
) -> Result<(), RepoError> {
    let space = crate::session::space_of(repo, id).unwrap_or(*id);
    let check = own_changes_in(repo, id, &space);
    let vouch = |new: &[Link], known: &HashMap<ActorId, Voucher>| vouch(repo, signer, new, known);
    let ticket = repo.sync_receive_vouched(id, state, data, &vouch, &check)?;
    repo.wait(ticket)
}
