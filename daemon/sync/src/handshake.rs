//! How a session opens, and how often a node tries again when it cannot.
//!
//! Both sides send a `Hello` first: the protocol version, the node's id (which
//! must be the one its certificate proves), a display name, and the idle
//! timeout it holds sessions to. A side that cannot take the other's hello
//! closes the session, saying why. A dialer whose session failed waits before
//! the next attempt, longer after each quick failure ([`Backoff`]).

use std::time::Duration;

use kp_proto::replication as rp;
use prost::Message;

use kp_core::identity::NodeId;

use crate::Limits;
use crate::wire::frame;

/// The replication protocol version this node speaks.
pub const PROTOCOL: u32 = 1;

/// How long a peer has to send its `Hello`, and a dialer to get the session
/// and the peer's hello.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest display name taken from a peer's hello, in characters.
const MAX_NAME_CHARS: usize = 120;

/// Why a peer's first frame does not open a session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The peer refused this node instead of greeting it.
    #[error("refused by the peer: {reason} (it speaks {supported:?})")]
    Refused {
        /// What the peer said.
        reason: String,
        /// The protocol versions it speaks.
        supported: Vec<u32>,
    },
    /// The first frame was something else.
    #[error("the peer's first frame was not a hello")]
    NoHello,
    /// Another protocol version.
    #[error("the peer speaks protocol {0}, this node {PROTOCOL}")]
    Protocol(u32),
    /// The hello names another node than the one the connection proved.
    #[error("the peer's hello names another node than its certificate")]
    WrongNode,
    /// The hello's node id does not parse (where no certificate names it).
    #[error("the peer's hello names no node: {0}")]
    BadNode(String),
}

/// What a peer said of itself in its hello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerHello {
    /// The node.
    pub node: NodeId,
    /// Its display name, without control characters, bounded.
    pub name: String,
    /// The idle timeout it holds sessions to (zero: not said).
    pub idle: Duration,
    /// It takes Presence frames.
    pub presence: bool,
    /// The hello's size on the wire.
    pub bytes: u64,
}

/// This node's side of the handshake.
#[derive(Debug, Clone)]
pub struct Handshake {
    me: NodeId,
    name: String,
    idle: Duration,
}

impl Handshake {
    /// The handshake of node `me`, called `name`, holding sessions to `limits`.
    pub fn new(me: NodeId, name: impl Into<String>, limits: &Limits) -> Self {
        Self {
            me,
            name: name.into(),
            idle: limits.idle_timeout,
        }
    }

    /// The hello this node sends.
    pub fn hello(&self) -> rp::Frame {
        frame(rp::frame::Body::Hello(rp::Hello {
            protocol: PROTOCOL,
            node_id: self.me.to_string(),
            name: self.name.clone(),
            idle_timeout_secs: u32::try_from(self.idle.as_secs()).unwrap_or(u32::MAX),
            presence: true,
        }))
    }

    /// Takes a peer's first frame. `expected` is the node the connection
    /// proved (its certificate); `None` where the transport proves none (the
    /// simulation), and then the hello's own word is taken.
    pub fn accept(
        &self,
        expected: Option<NodeId>,
        first: rp::Frame,
    ) -> Result<PeerHello, HandshakeError> {
        let bytes = first.encoded_len() as u64;
        let hello = match first.body {
            Some(rp::frame::Body::Hello(h)) => h,
            Some(rp::frame::Body::Refusal(r)) => {
                return Err(HandshakeError::Refused {
                    reason: r.reason,
                    supported: r.supported,
                });
            }
            _ => return Err(HandshakeError::NoHello),
        };
        if hello.protocol != PROTOCOL {
            return Err(HandshakeError::Protocol(hello.protocol));
        }
        let node = match expected {
            Some(node) if hello.node_id != node.to_string() => {
                return Err(HandshakeError::WrongNode);
            }
            Some(node) => node,
            None => hello
                .node_id
                .parse()
                .map_err(|e| HandshakeError::BadNode(format!("{e}")))?,
        };
        Ok(PeerHello {
            node,
            name: hello
                .name
                .chars()
                .filter(|c| !c.is_control())
                .take(MAX_NAME_CHARS)
                .collect(),
            idle: Duration::from_secs(u64::from(hello.idle_timeout_secs)),
            presence: hello.presence,
            bytes,
        })
    }
}

/// The wait between a dialer's attempts: from the first to the cap, doubling
/// after each attempt, back to the first after a session that lasted longer
/// than the cap; each wait is spread by ±25% so that nodes restarted together
/// do not dial in step.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

impl Backoff {
    /// The first wait.
    pub const FIRST: Duration = Duration::from_millis(200);
    /// The longest wait.
    pub const CAP: Duration = Duration::from_secs(30);

    /// A dialer that has not failed yet.
    pub fn new() -> Self {
        Self { next: Self::FIRST }
    }

    /// How long to wait after an attempt that lasted `lasted`. `unit` is a
    /// random number in `[0, 1]` (the node draws it from the system, the
    /// simulation from its seed).
    pub fn after(&mut self, lasted: Duration, unit: f64) -> Duration {
        if lasted > Self::CAP {
            self.next = Self::FIRST;
        }
        let wait = self.next.mul_f64(0.75 + unit.clamp(0.0, 1.0) * 0.5);
        self.next = (self.next * 2).min(Self::CAP);
        wait
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kp_core::identity::NodeKey;

    fn node(i: u8) -> NodeId {
        NodeKey::from_seed([i; 32]).id()
    }

    #[test]
    fn a_hello_opens_only_for_the_node_and_protocol_expected() {
        let limits = Limits::default();
        let (a, b) = (
            Handshake::new(node(1), "A\u{7}lpha", &limits),
            Handshake::new(node(2), "B", &limits),
        );
        let peer = b.accept(Some(node(1)), a.hello()).unwrap();
        assert_eq!((peer.node, peer.name.as_str()), (node(1), "Alpha"));
        assert_eq!(peer.idle, limits.idle_timeout);
        assert_eq!(b.accept(None, a.hello()).unwrap().node, node(1));
        assert_eq!(
            b.accept(Some(node(3)), a.hello()),
            Err(HandshakeError::WrongNode)
        );
        let mut other = a.hello();
        if let Some(rp::frame::Body::Hello(h)) = &mut other.body {
            h.protocol = 2;
        }
        assert_eq!(b.accept(None, other), Err(HandshakeError::Protocol(2)));
        let heartbeat = frame(rp::frame::Body::Heartbeat(rp::Heartbeat {}));
        assert_eq!(b.accept(None, heartbeat), Err(HandshakeError::NoHello));
    }

    #[test]
    fn backoff_doubles_to_its_cap_and_resets_after_a_long_session() {
        let mut b = Backoff::new();
        let quick = Duration::from_millis(5);
        let waits: Vec<Duration> = (0..10).map(|_| b.after(quick, 0.5)).collect();
        assert_eq!(waits[0], Backoff::FIRST);
        assert_eq!(waits[1], Backoff::FIRST * 2);
        assert_eq!(*waits.last().unwrap(), Backoff::CAP);
        assert_eq!(b.after(Backoff::CAP * 2, 0.5), Backoff::FIRST);
        // The spread stays within a quarter either way.
        let mut c = Backoff::new();
        assert_eq!(c.after(quick, 0.0), Backoff::FIRST.mul_f64(0.75));
        let mut d = Backoff::new();
        assert_eq!(d.after(quick, 1.0), Backoff::FIRST.mul_f64(1.25));
    }
}
