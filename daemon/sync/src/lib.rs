//! The partner protocol, without I/O: document exchange over a session with
//! one partner — summaries, whole documents for a peer that has nothing, the
//! automerge sync protocol for documents whose heads differ, live pushes of
//! every durable change, and relay (a change received from one peer becomes
//! durable here and is then offered to the others) — with the handshake that
//! opens a session, the framing of large frames, and the budget a peer's
//! frames are held to.
//!
//! Membership decides everything: a document, and even its id, goes to a peer
//! only if the peer is a member of the document's space; a document is taken
//! from a peer only if the peer is a member of its space (and, for a space this
//! node does not hold yet, only if the space document lists both nodes).
//!
//! The logic is a state machine, [`Session`]: frames and notices of durable
//! changes go in, frames to send come out. It touches no network, keeps no
//! clock and never waits: what it takes from the peer goes into the
//! repository's next round of writes, and the driver sends the session's
//! frames once those rounds are durable ([`Session::take_pending`]). The node
//! drives it over a gRPC stream, over TLS to partners or over the simulated
//! network of the deterministic tests.

pub mod client;
mod handshake;
pub mod repo_wire;
mod session;
mod wire;

use std::time::Duration;

pub use handshake::{Backoff, HELLO_TIMEOUT, Handshake, HandshakeError, PROTOCOL, PeerHello};
pub use session::{Edits, Lag, STATE_PREFIX, Session, from_wire, to_wire};
pub use wire::{Assembler, Budget, describe, split};

/// Why a session ends.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// The peer broke the protocol (a frame out of order, a malformed frame or
    /// part), or sent too many frames that were refused.
    #[error("{0}")]
    Peer(String),
    /// This node's repository failed.
    #[error(transparent)]
    Repo(#[from] kp_repo::RepoError),
}

impl From<String> for SyncError {
    fn from(reason: String) -> Self {
        SyncError::Peer(reason)
    }
}

/// Limits of a session, from `[peers]` in `kpd.toml`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest message on the wire; larger frames travel in [`kp_proto::replication::Part`]s.
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
