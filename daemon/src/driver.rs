//! The driver of a partner session: it runs a [`Session`] over a gRPC stream
//! (over TLS to partners, or over the simulated network of the deterministic
//! tests), with the clock the session does not keep — heartbeats, the idle
//! timeout, the frame budget — and the waiting it does not do: a step's frames
//! go out only once what it took from the peer is durable.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use kp_proto::replication as rp;
use prost::Message;
use tokio::sync::{broadcast, mpsc};
use tonic::Streaming;

use kp_core::ids::DocId;
use kp_repo::{Repo, RepoError, Ticket};
use kp_sync::repo_wire::Ephemeral;
use kp_sync::{Assembler, Budget, Limits, Session, SyncError, describe, split};

use crate::web::Presence;

/// Frames that have already arrived taken in one step (see
/// [`Session::receive_all`]).
const MAX_BATCH: usize = 64;

/// Why a session ended.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SessionEnd {
    /// The peer broke the protocol, or this node's repository failed.
    #[error(transparent)]
    Sync(#[from] SyncError),
    /// What the peer sent could not be made durable here.
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// The peer stopped reading.
    #[error("the session closed")]
    Closed,
    /// The peer is no longer pinned.
    #[error("the peer was removed")]
    Removed,
    /// Another session with the peer replicates instead (both nodes dialled).
    #[error("another session with the peer took over")]
    Superseded,
    /// Nothing came from the peer for this long.
    #[error("no frame from the peer for {} s; closing the session", .0.as_secs())]
    Idle(Duration),
    /// The stream failed (gRPC's word for it).
    #[error("{0}")]
    Transport(String),
    /// A step of the session failed inside the node.
    #[error("internal error: {0}")]
    Internal(String),
}

/// How [`run`] executes the steps of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exec {
    /// On tokio's blocking pool (the node: steps wait for disk).
    Blocking,
    /// In the driving task (deterministic simulation).
    #[cfg_attr(
        not(test),
        allow(dead_code, reason = "only the simulation runs inline")
    )]
    Inline,
}

/// What the driver reports about a session as it runs.
pub(crate) trait Observer: Send + Sync {
    /// A message of `bytes` went in (`incoming`) or out.
    fn counted(&self, bytes: u64, incoming: bool);
    /// Changes went in or out (counted by the session since the last call).
    fn edits(&self, edits: kp_sync::Edits);
    /// How far apart the node and the peer are, as of a tick.
    fn lag(&self, lag: kp_sync::Lag);
    /// Why the session must end now, if it must: the peer was unpinned, or
    /// another session with it replicates. Asked on every frame that comes in
    /// and every tick (at most a second apart).
    fn must_end(&self) -> Option<SessionEnd>;
}

/// Runs `f` on the session, then waits until what it took from the peer is
/// durable (so its frames may go out).
async fn step<T: Send + 'static>(
    exec: Exec,
    repo: &Repo,
    mut session: Session,
    f: impl FnOnce(&mut Session) -> T + Send + 'static,
) -> Result<(Session, Result<T, RepoError>), SessionEnd> {
    let repo = repo.clone();
    let run = move || {
        let out = f(&mut session);
        let durable = wait_all(&repo, session.take_pending());
        (session, durable.map(|()| out))
    };
    match exec {
        Exec::Inline => Ok(run()),
        Exec::Blocking => tokio::task::spawn_blocking(run)
            .await
            .map_err(|e| SessionEnd::Internal(e.to_string())),
    }
}

/// Waits until every round of `tickets` is durable.
fn wait_all(repo: &Repo, tickets: Vec<Ticket>) -> Result<(), RepoError> {
    tickets.into_iter().try_for_each(|t| repo.wait(t))
}

/// Stores the sync states that changed.
fn save_states(repo: &Repo, s: &mut Session) -> Result<(), RepoError> {
    let entries = s.unsaved_states();
    if !entries.is_empty() {
        repo.put_metas(entries)?;
        s.states_saved();
    }
    Ok(())
}

/// Runs document exchange on an open session until either side closes it,
/// then saves the session's sync states.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run(
    session: Session,
    repo: &Repo,
    inbound: &mut Streaming<rp::Frame>,
    out: mpsc::Sender<rp::Frame>,
    durable: broadcast::Receiver<Arc<Vec<DocId>>>,
    observer: &dyn Observer,
    limits: Limits,
    exec: Exec,
    presence: Option<&Presence>,
) -> Result<(), SessionEnd> {
    let mut slot = Some(session);
    let result = exchange(
        &mut slot, repo, inbound, out, durable, observer, limits, exec, presence,
    )
    .await;
    if let Some(session) = slot {
        let peer = session.peer();
        let saver = repo.clone();
        match step(exec, repo, session, move |s| save_states(&saver, s)).await {
            Ok((_, Ok(Err(e)) | Err(e))) => {
                tracing::warn!(peer = %peer.short(), "could not save sync states: {e}")
            }
            Err(e) => tracing::warn!(peer = %peer.short(), "could not save sync states: {e}"),
            Ok((_, Ok(Ok(())))) => {}
        }
    }
    result
}

#[allow(clippy::too_many_arguments)]
async fn exchange(
    slot: &mut Option<Session>,
    repo: &Repo,
    inbound: &mut Streaming<rp::Frame>,
    out: mpsc::Sender<rp::Frame>,
    mut durable: broadcast::Receiver<Arc<Vec<DocId>>>,
    observer: &dyn Observer,
    limits: Limits,
    exec: Exec,
    presence: Option<&Presence>,
) -> Result<(), SessionEnd> {
    let no_session = || SessionEnd::Internal("no session".into());
    // This node's people's presence goes to the partner (for the documents it
    // shares); the partner's people's comes to this node's clients.
    let mut local = presence.map(|p| p.tx.subscribe());
    let mut sharing = Sharing::new(slot.as_ref().ok_or_else(no_session)?);
    let beat = limits.heartbeat;
    let (me, peer) = slot
        .as_ref()
        .map(|s| (s.me().short(), s.peer().short()))
        .ok_or_else(no_session)?;
    let mut assembler = Assembler::default();
    let now = || tokio::time::Instant::now().into_std();
    let mut budget = Budget::new(limits.max_frames_per_sec, now());
    let mut last_in = tokio::time::Instant::now();
    let mut last_out = tokio::time::Instant::now();
    let mut ticker = tokio::time::interval(beat.min(Duration::from_secs(1)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut replies = {
        let session = slot.take().ok_or_else(no_session)?;
        let (session, first) = step(exec, repo, session, |s| s.open()).await?;
        *slot = Some(session);
        first?
    };
    loop {
        for f in replies.drain(..) {
            tracing::trace!(%me, %peer, "out: {}", describe(&f));
            for part in split(f, limits.max_frame) {
                observer.counted(part.encoded_len() as u64, false);
                out.send(part).await.map_err(|_| SessionEnd::Closed)?;
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
                    if let Some(end) = observer.must_end() {
                        return Err(end);
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
                            Ok(Err(s)) => return Err(SessionEnd::Transport(s.message().to_owned())),
                        }
                    }
                    // The partner's people's presence: to this node's clients.
                    batch.retain(|f| match &f.body {
                        Some(rp::frame::Body::Presence(p)) => {
                            let session = slot.as_ref();
                            if let (Some(hub), Some(s)) = (presence, session)
                                && let Some(e) = sharing.received(s, p)
                            {
                                hub.relay(e);
                            }
                            false
                        }
                        _ => true,
                    });
                    if batch.is_empty() {
                        continue;
                    }
                    if let Some(wait) = budget.spend(batch.len(), now()) {
                        if budget.first_overdraft() {
                            tracing::warn!(%peer, "the peer sends more than {} frames a second; reading it more slowly", limits.max_frames_per_sec);
                        }
                        tokio::time::sleep(wait).await;
                    }
                    Work::Frames(batch)
                }
                Ok(None) => return Ok(()),
                Err(s) => return Err(SessionEnd::Transport(s.message().to_owned())),
            },
            e = async { local.as_mut().expect("guarded").recv().await }, if local.is_some() => {
                match e {
                    Ok(e) => {
                        let session = slot.as_ref().ok_or_else(no_session)?;
                        if let Some(f) = sharing.frame(session, &e) {
                            replies.push(f);
                        }
                    }
                    // Presence is of the moment: what was missed is gone.
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => local = None,
                }
                continue;
            }
            changed = durable.recv() => match changed {
                Ok(ids) => Work::Changed(Some(ids)),
                // Fell behind: offer everything shared again.
                Err(broadcast::error::RecvError::Lagged(_)) => Work::Changed(None),
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            },
            _ = ticker.tick() => {
                if let Some(end) = observer.must_end() {
                    return Err(end);
                }
                if last_in.elapsed() > limits.idle_timeout {
                    return Err(SessionEnd::Idle(limits.idle_timeout));
                }
                if last_out.elapsed() >= beat {
                    replies.push(rp::Frame {
                        body: Some(rp::frame::Body::Heartbeat(rp::Heartbeat {})),
                    });
                }
                Work::Tick
            }
        };
        if let Work::Frames(fs) = &work {
            for f in fs {
                tracing::trace!(%me, %peer, "in: {}", describe(f));
            }
        }
        let session = slot.take().ok_or_else(no_session)?;
        let saver = repo.clone();
        let (mut session, result) = step(exec, repo, session, move |s| {
            match work {
                Work::Frames(f) => (s.receive_in_rounds(f, |t| wait_all(&saver, t)), None),
                Work::Changed(ids) => (s.changed(ids.as_deref().map(|v| v.as_slice())), None),
                // Counting reads every shared document's index entry: once a
                // tick. Sync states are saved then too.
                Work::Tick => {
                    if let Err(e) = save_states(&saver, s) {
                        tracing::warn!(peer = %s.peer().short(), "could not save sync states: {e}");
                    }
                    match s.tick() {
                        Ok((frames, lag)) => (Ok(frames), Some(lag)),
                        Err(e) => (Err(e), None),
                    }
                }
            }
        })
        .await?;
        let edits = session.take_edits();
        if edits != kp_sync::Edits::default() {
            observer.edits(edits);
        }
        *slot = Some(session);
        let (result, lag) = result?;
        if let Some(lag) = lag {
            observer.lag(lag);
        }
        replies.extend(result?);
    }
}

/// Largest presence message passed between nodes.
const MAX_PRESENCE: usize = 16 * 1024;

/// What a session says of presence: the two nodes' ids as presence names
/// them, and which documents the peer shares, looked up at most every few
/// seconds (presence comes several times a second per person; membership
/// changes rarely, and a stale answer only delays a cursor).
pub(crate) struct Sharing {
    me: String,
    peer: String,
    known: HashMap<DocId, (bool, std::time::Instant)>,
}

impl Sharing {
    /// How long an answer is kept.
    const FRESH: Duration = Duration::from_secs(3);

    pub(crate) fn new(session: &Session) -> Self {
        Self {
            me: session.me().to_string(),
            peer: session.peer().to_string(),
            known: HashMap::new(),
        }
    }

    fn shares(&mut self, session: &Session, doc: &DocId) -> bool {
        let now = std::time::Instant::now();
        match self.known.get(doc) {
            Some((yes, at)) if now.duration_since(*at) < Self::FRESH => *yes,
            _ => {
                let yes = session.shares_doc(doc);
                if self.known.len() > 4096 {
                    self.known.clear();
                }
                self.known.insert(*doc, (yes, now));
                yes
            }
        }
    }

    /// A presence frame for the peer: only this node's own people's (a
    /// message from a partner is never passed on to a third node), about a
    /// document the peer shares.
    pub(crate) fn frame(&mut self, session: &Session, e: &Ephemeral) -> Option<rp::Frame> {
        if node_of(&e.sender)? != self.me || e.data.len() > MAX_PRESENCE {
            return None;
        }
        let doc: DocId = e.doc.parse().ok()?;
        self.shares(session, &doc).then(|| rp::Frame {
            body: Some(rp::frame::Body::Presence(rp::Presence {
                doc: e.doc.clone(),
                sender: e.sender.clone(),
                session: e.session.clone(),
                count: e.count,
                data: e.data.clone(),
            })),
        })
    }

    /// A partner's presence message, if it is in the name of one of the
    /// partner's own people, small, and about a document it shares with this
    /// node; anything else is dropped.
    pub(crate) fn received(&mut self, session: &Session, p: &rp::Presence) -> Option<Ephemeral> {
        if node_of(&p.sender)? != self.peer
            || p.data.len() > MAX_PRESENCE
            || p.sender.len() > 512
            || p.session.len() > 256
        {
            return None;
        }
        let doc: DocId = p.doc.parse().ok()?;
        self.shares(session, &doc).then(|| Ephemeral {
            sender: p.sender.clone(),
            doc: p.doc.clone(),
            session: p.session.clone(),
            count: p.count,
            data: p.data.clone(),
        })
    }
}

/// The node of a presence sender, `person@NODE/peer`.
fn node_of(sender: &str) -> Option<&str> {
    Some(sender.split_once('@')?.1.split_once('/')?.0)
}

enum Work {
    Frames(Vec<rp::Frame>),
    Changed(Option<Arc<Vec<DocId>>>),
    Tick,
}
