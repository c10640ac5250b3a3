//! Partner nodes: the pinned peer list, the listener that accepts them over mutual
//! TLS, the dialers that connect to them with backoff, and the session that
//! opens each connection (protocol version and identity checks).
//!
//! A session starts with the handshake: both sides exchange `Hello` and refuse
//! a protocol version they do not speak. Document exchange then runs on the same
//! stream ([`kp_sync`]).

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use kp_proto::replication as rp;
use kp_proto::replication::replication_client::ReplicationClient;
use kp_proto::replication::replication_server::{Replication, ReplicationServer};
use prost::Message;
use ring::rand::SecureRandom;
use rustls::pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::Connected;
use tonic::{Request, Response, Status, Streaming};

use crate::driver;
use crate::transport::{self, Allowed};
use kp_core::identity::{NodeId, NodeKey};
use kp_repo::{Repo, RepoError, now_secs};
use kp_sync::{Backoff, HELLO_TIMEOUT, Handshake, HandshakeError};

pub use kp_sync::PROTOCOL;
/// A peer that stops answering HTTP/2 pings for this long after one is sent
/// (a stalled or vanished process, a dead link) is disconnected; its dialer then
/// retries with backoff.
const KEEPALIVE: Duration = Duration::from_secs(20);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// A peer may open at most this many sessions a minute; a node reconnecting in
/// a tight loop is refused until it slows down (honest dialers back off far
/// below this).
const SESSIONS_PER_MINUTE: usize = 20;
/// Where runtime-added peers are kept in the store.
const PEERS_KEY: &[u8] = b"peers";
/// A refusal that a retrying dialler repeats is logged as a warning once in this
/// window, and at debug level within it.
const REFUSAL_LOG_WINDOW: Duration = Duration::from_secs(600);
/// At most this many refusals are remembered for that; beyond, a flood of
/// strangers is logged at debug level.
const REFUSAL_LOG_KEYS: usize = 1024;

/// Where a peer entry comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `kpd.toml`.
    Config,
    /// `kp peer add`.
    Added,
}

/// What the node knows of a peer.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    /// Its node id.
    pub id: NodeId,
    /// Where to dial it; empty to only accept it.
    pub address: String,
    /// Where the entry comes from.
    pub source: Source,
    /// Its institution, as it announced.
    pub name: String,
    /// Sessions open with it now.
    pub sessions: u32,
    /// Unix seconds of the last frame from it.
    pub last_seen: i64,
    /// Bytes received from it.
    pub bytes_in: u64,
    /// Bytes sent to it.
    pub bytes_out: u64,
    /// Changes (edits) from it that were new here, since the node started.
    pub edits_in: u64,
    /// Changes (edits) carried to it, since the node started (a document sent
    /// whole counts all of its changes).
    pub edits_out: u64,
    /// The last failure.
    pub last_error: String,
    /// Shared documents whose latest changes here the peer has not confirmed
    /// (as of the last session).
    pub behind: u64,
    /// Shared documents where the peer has changes this node has not yet.
    pub missing: u64,
    /// Documents shared with the peer (as of the last session).
    pub shared: u64,
    /// The most documents missing since this catch-up began (0: none
    /// running): `missing` of it is how far the catch-up has come.
    pub catching_up_from: u64,
    /// Set when the last failure was a refusal an operator can fix.
    pub refusal: Option<Refusal>,
}

impl PeerInfo {
    fn new(id: NodeId, address: String, source: Source) -> Self {
        Self {
            id,
            address,
            source,
            name: String::new(),
            sessions: 0,
            last_seen: 0,
            bytes_in: 0,
            bytes_out: 0,
            edits_in: 0,
            edits_out: 0,
            last_error: String::new(),
            behind: 0,
            missing: 0,
            shared: 0,
            catching_up_from: 0,
            refusal: None,
        }
    }
}

/// A partner connection refused for a reason an operator can fix: who refused
/// whom, and what to run where.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Refusal {
    /// The peer refused this node: it has not pinned this node's id.
    NotPinnedThere {
        /// The peer that refused.
        peer: NodeId,
        /// This node.
        me: NodeId,
        /// The address this node listens on; empty if it does not.
        listen: String,
    },
    /// This node dialled `expected` at `address`, but the node answering
    /// there proved another key, and this node refused it.
    WrongNode {
        /// The peer this node pinned for the address.
        expected: NodeId,
        /// The node that answered.
        answered: NodeId,
        /// The address dialled.
        address: String,
        /// This node.
        me: NodeId,
    },
}

impl Refusal {
    /// A short name of the cause: `not-pinned` or `wrong-node`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotPinnedThere { .. } => "not-pinned",
            Self::WrongNode { .. } => "wrong-node",
        }
    }

    /// The node that refused the connection.
    pub fn refused_by(&self) -> NodeId {
        match self {
            Self::NotPinnedThere { peer, .. } => *peer,
            Self::WrongNode { me, .. } => *me,
        }
    }

    /// The node it refused.
    pub fn refused(&self) -> NodeId {
        match self {
            Self::NotPinnedThere { me, .. } => *me,
            Self::WrongNode { answered, .. } => *answered,
        }
    }

    /// The node to run [`Refusal::fix`] on.
    pub fn fix_on(&self) -> NodeId {
        match self {
            Self::NotPinnedThere { peer, .. } => *peer,
            Self::WrongNode { me, .. } => *me,
        }
    }

    /// The commands that would fix it, in order. For a wrong node they fix it
    /// only if the node that answered is the partner meant; the address may as
    /// well be wrong.
    pub fn fix(&self) -> Vec<String> {
        match self {
            Self::NotPinnedThere { me, listen, .. } => match dialable(listen) {
                address if address.is_empty() => vec![format!("kp peer add {me}")],
                address => vec![format!("kp peer add {me} {address}")],
            },
            Self::WrongNode {
                expected,
                answered,
                address,
                ..
            } => vec![
                format!("kp peer remove {expected}"),
                format!("kp peer add {answered} {address}"),
            ],
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotPinnedThere { peer, listen, .. } => {
                write!(
                    f,
                    "node {}… refused this node: it has not pinned this node's id. On {}…, run: {}",
                    peer.short(),
                    peer.short(),
                    self.fix().join("; ")
                )?;
                // A wildcard address names no host to give; the port still helps.
                match listen.parse::<std::net::SocketAddr>() {
                    Ok(a) if a.ip().is_unspecified() => write!(
                        f,
                        " (followed by this node's host:{} if that node should dial it too)",
                        a.port()
                    ),
                    _ => Ok(()),
                }
            }
            Self::WrongNode {
                expected,
                answered,
                address,
                ..
            } => write!(
                f,
                "expected node {expected} at {address}, but node {answered} answered (the \
                 certificate there is not {}…'s); check the address (or, if {}… is the partner \
                 you meant, run here: {})",
                expected.short(),
                answered.short(),
                self.fix().join("; ")
            ),
        }
    }
}

/// Why one connection attempt ended.
enum Failure {
    /// A refusal an operator can fix.
    Refused(Refusal),
    /// Anything else, said in words.
    Other(String),
}

/// What the node logs once per [`REFUSAL_LOG_WINDOW`]: the retries of a
/// dialler repeat the same cause every few seconds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Noted {
    /// A node this node has not pinned tried to connect.
    Stranger(NodeId),
    /// A connection from this host failed in the handshake.
    FailedFrom(std::net::IpAddr),
    /// This node's dial of a peer was refused.
    Dial(NodeId, Refusal),
}

/// When each noted thing was last logged as a warning.
#[derive(Debug, Default)]
struct LogOnce {
    last: BTreeMap<Noted, std::time::Instant>,
}

impl LogOnce {
    /// Whether `what` deserves a warning now: not warned about within the
    /// window, and room left to remember it.
    fn due(&mut self, what: Noted, now: std::time::Instant) -> bool {
        self.last
            .retain(|_, t| now.saturating_duration_since(*t) < REFUSAL_LOG_WINDOW);
        if self.last.contains_key(&what) || self.last.len() >= REFUSAL_LOG_KEYS {
            return false;
        }
        self.last.insert(what, now);
        true
    }
}

/// Logs `message` as a warning if `due`, else at debug level.
fn log_refusal(due: bool, message: &str) {
    if due {
        tracing::warn!("{message}");
    } else {
        tracing::debug!("{message}");
    }
}

/// The address a partner could dial this node on, from the address it listens
/// on: none for a wildcard address (0.0.0.0), which names no host.
fn dialable(listen: &str) -> String {
    match listen.parse::<std::net::SocketAddr>() {
        Ok(a) if a.ip().is_unspecified() => String::new(),
        _ => listen.to_owned(),
    }
}

/// A peer operation that cannot be done.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    /// The id is not a node id.
    #[error("{0}")]
    BadId(String),
    /// The address is not host:port.
    #[error("`{0}` is not an address: give host:port, for example partner.example.org:7410")]
    BadAddress(String),
    /// That node is this node.
    #[error("that is this node's own id")]
    Myself,
    /// No such peer.
    #[error("no peer {0}")]
    Unknown(String),
    /// The peer comes from kpd.toml.
    #[error("peer {0} is set in kpd.toml; remove it there")]
    FromConfig(String),
    /// Saving the list failed.
    #[error(transparent)]
    Store(#[from] RepoError),
}

struct State {
    peers: BTreeMap<NodeId, PeerInfo>,
    /// Dialers, stopped by dropping their sender.
    dialers: BTreeMap<NodeId, watch::Sender<()>>,
    /// When each peer opened its recent sessions, for the rate limit.
    opened: BTreeMap<NodeId, std::collections::VecDeque<std::time::Instant>>,
    /// Refusals logged lately.
    noted: LogOnce,
    /// The session that replicates with each peer (see [`Peers::take_turn`]).
    live: BTreeMap<NodeId, Live>,
    /// Sessions registered so far, numbering them.
    serial: u64,
}

/// The session that replicates with a peer.
#[derive(Debug, Clone, Copy)]
struct Live {
    serial: u64,
    /// Whether the node with the lower id dialled it.
    lower_dialled: bool,
}

struct Inner {
    key: NodeKey,
    cert: CertificateDer<'static>,
    allowed: Allowed,
    repo: Repo,
    state: Mutex<State>,
    shutdown: watch::Receiver<bool>,
    listen: Mutex<String>,
    limits: kp_sync::Limits,
    handshake: Handshake,
    /// Presence between this node's clients and its partners' clients.
    presence: Arc<crate::web::Presence>,
    /// Connections and sessions refused, by reason, since the node started.
    refusals: Mutex<BTreeMap<&'static str, u64>>,
}

/// The partner nodes of this node. Cheap to clone.
#[derive(Clone)]
pub struct Peers {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Peers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peers").finish_non_exhaustive()
    }
}

/// A TLS connection from a peer, carrying the node id its certificate proved.
struct PeerStream {
    tls: tokio_rustls::server::TlsStream<TcpStream>,
    peer: NodeId,
}

impl Connected for PeerStream {
    type ConnectInfo = NodeId;

    fn connect_info(&self) -> NodeId {
        self.peer
    }
}

impl AsyncRead for PeerStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tls).poll_read(cx, buf)
    }
}

impl AsyncWrite for PeerStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.tls).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tls).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tls).poll_shutdown(cx)
    }
}

fn parse_id(id: &str) -> Result<NodeId, PeerError> {
    id.trim()
        .parse()
        .map_err(|e: kp_core::identity::ParseNodeIdError| PeerError::BadId(e.to_string()))
}

fn check_address(address: &str) -> Result<(), PeerError> {
    let ok = address.is_empty()
        || address.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
        });
    if ok {
        Ok(())
    } else {
        Err(PeerError::BadAddress(address.to_owned()))
    }
}

/// Why the peer list could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum PeersError {
    /// This node's TLS certificate could not be made from its key.
    #[error("the node's certificate: {0}")]
    Certificate(#[from] transport::TlsError),
    /// The saved peer list could not be read.
    #[error(transparent)]
    Repo(#[from] RepoError),
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Saved {
    id: String,
    address: String,
}

impl Peers {
    /// The peer list from `kpd.toml` and the store. Dialers start with
    /// [`Peers::start`].
    pub fn new(
        key: NodeKey,
        name: String,
        configured: &[crate::config::PeerEntry],
        repo: Repo,
        limits: kp_sync::Limits,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Self, PeersError> {
        let cert = transport::certificate(&key)?;
        let mut peers = BTreeMap::new();
        let mut add = |id: NodeId, address: String, source: Source| {
            peers.insert(id, PeerInfo::new(id, address, source));
        };
        for p in configured {
            if let Ok(id) = p.id.parse() {
                add(id, p.address.clone(), Source::Config);
            }
        }
        if let Some(bytes) = repo.get_meta(PEERS_KEY)? {
            let saved: Vec<Saved> = serde_json::from_slice(&bytes).unwrap_or_default();
            for s in saved {
                if let Ok(id) = s.id.parse() {
                    add(id, s.address, Source::Added);
                }
            }
        }
        let allowed: Allowed = Arc::new(RwLock::new(peers.keys().copied().collect()));
        let handshake = Handshake::new(key.id(), name, &limits);
        Ok(Self {
            inner: Arc::new(Inner {
                key,
                cert,
                allowed,
                repo,
                state: Mutex::new(State {
                    peers,
                    dialers: BTreeMap::new(),
                    opened: BTreeMap::new(),
                    noted: LogOnce::default(),
                    live: BTreeMap::new(),
                    serial: 0,
                }),
                shutdown,
                listen: Mutex::new(String::new()),
                limits,
                handshake,
                presence: Arc::default(),
                refusals: Mutex::new(BTreeMap::new()),
            }),
        })
    }

    /// The presence relay this node's clients and partners share.
    pub(crate) fn presence(&self) -> Arc<crate::web::Presence> {
        Arc::clone(&self.inner.presence)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The address partners connect to, once listening.
    pub fn listen_address(&self) -> String {
        self.inner
            .listen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Starts a dialer for every peer with an address.
    pub fn start(&self) {
        let ids: Vec<NodeId> = self
            .lock()
            .peers
            .values()
            .filter(|p| !p.address.is_empty())
            .map(|p| p.id)
            .collect();
        for id in ids {
            self.start_dialer(id);
        }
    }

    /// Counts a refusal for `reason` (a short fixed word: a metric label).
    fn refused(&self, reason: &'static str) {
        *self
            .inner
            .refusals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(reason)
            .or_default() += 1;
    }

    /// Connections and sessions refused since the node started, by reason.
    pub fn refusals(&self) -> Vec<(&'static str, u64)> {
        self.inner
            .refusals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(r, n)| (*r, *n))
            .collect()
    }

    /// All peers, in id order.
    pub fn list(&self) -> Vec<PeerInfo> {
        self.lock().peers.values().cloned().collect()
    }

    fn save(&self) -> Result<(), PeerError> {
        let saved: Vec<Saved> = self
            .lock()
            .peers
            .values()
            .filter(|p| p.source == Source::Added)
            .map(|p| Saved {
                id: p.id.to_string(),
                address: p.address.clone(),
            })
            .collect();
        let bytes = serde_json::to_vec(&saved).expect("peer lists serialize");
        self.inner.repo.put_meta(PEERS_KEY, bytes)?;
        Ok(())
    }

    /// `kp peer add`: pins `id` (it may connect from now on) and dials `address`
    /// if given. Adding a known peer updates its address.
    pub fn add(&self, id: &str, address: &str) -> Result<PeerInfo, PeerError> {
        let id = parse_id(id)?;
        let address = address.trim();
        check_address(address)?;
        if id == self.inner.key.id() {
            return Err(PeerError::Myself);
        }
        let info = {
            let mut st = self.lock();
            let entry = st
                .peers
                .entry(id)
                .or_insert_with(|| PeerInfo::new(id, String::new(), Source::Added));
            if entry.address != address {
                // The last failure was at the old address.
                entry.last_error.clear();
                entry.refusal = None;
            }
            entry.address = address.to_owned();
            entry.clone()
        };
        self.inner
            .allowed
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id);
        self.save()?;
        self.lock().dialers.remove(&id);
        if !address.is_empty() {
            self.start_dialer(id);
        }
        Ok(info)
    }

    /// `kp peer remove`: unpins the peer and stops dialing it. Open sessions end
    /// at their next frame.
    pub fn remove(&self, id: &str) -> Result<(), PeerError> {
        let id = parse_id(id)?;
        {
            let mut st = self.lock();
            match st.peers.get(&id) {
                None => return Err(PeerError::Unknown(id.to_string())),
                Some(p) if p.source == Source::Config => {
                    return Err(PeerError::FromConfig(id.to_string()));
                }
                Some(_) => {}
            }
            st.peers.remove(&id);
            st.dialers.remove(&id);
        }
        self.inner
            .allowed
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
        self.save()
    }

    fn is_pinned(&self, id: &NodeId) -> bool {
        self.inner
            .allowed
            .read()
            .map(|a| a.contains(id))
            .unwrap_or(false)
    }

    fn update(&self, id: &NodeId, f: impl FnOnce(&mut PeerInfo)) {
        if let Some(p) = self.lock().peers.get_mut(id) {
            f(p);
        }
    }

    /// Counts a session from `peer`; false if it is over the rate limit (the
    /// first refusal in a window is logged).
    fn admit(&self, peer: &NodeId) -> bool {
        let now = std::time::Instant::now();
        let mut st = self.lock();
        let recent = st.opened.entry(*peer).or_default();
        while recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(60))
        {
            recent.pop_front();
        }
        if recent.len() >= SESSIONS_PER_MINUTE {
            self.refused("session_rate");
            if recent.len() == SESSIONS_PER_MINUTE {
                tracing::warn!(peer = %peer.short(), "refusing sessions: more than {SESSIONS_PER_MINUTE} a minute");
                // Mark the window as logged without admitting anything.
                recent.push_back(now);
            }
            return false;
        }
        recent.push_back(now);
        true
    }

    fn start_dialer(&self, id: NodeId) {
        let (stop_tx, stop_rx) = watch::channel(());
        self.lock().dialers.insert(id, stop_tx);
        let peers = self.clone();
        tokio::spawn(async move { peers.dial_loop(id, stop_rx).await });
    }

    /// Connects to `id` until stopped, with exponential backoff and jitter.
    async fn dial_loop(self, id: NodeId, mut stop: watch::Receiver<()>) {
        let mut backoff = Backoff::new();
        let mut shutdown = self.inner.shutdown.clone();
        loop {
            // The peer dialled this node and that session replicates: no
            // second one (a session it dials meanwhile is closed again).
            while self.lock().peers.get(&id).is_some_and(|p| p.sessions > 0) {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.changed() => return,
                    _ = shutdown.changed() => return,
                }
            }
            let address = match self.lock().peers.get(&id) {
                Some(p) if !p.address.is_empty() => p.address.clone(),
                _ => return,
            };
            let started = std::time::Instant::now();
            let outcome = tokio::select! {
                r = self.dial_once(id, &address) => r,
                _ = stop.changed() => return,
                _ = shutdown.changed() => return,
            };
            match outcome {
                Ok(()) => {}
                Err(Failure::Refused(r)) => {
                    self.refused(match r {
                        Refusal::NotPinnedThere { .. } => "dial_not_pinned_there",
                        Refusal::WrongNode { .. } => "dial_wrong_node",
                    });
                    let due = self.due(Noted::Dial(id, r.clone()));
                    log_refusal(due, &format!("connection to {address} refused: {r}"));
                    self.update(&id, |p| {
                        p.last_error = r.to_string();
                        p.refusal = Some(r);
                    });
                }
                Err(Failure::Other(e)) => {
                    tracing::info!(peer = %id.short(), %address, "connection failed: {e}");
                    self.update(&id, |p| {
                        p.last_error = e;
                        p.refusal = None;
                    });
                }
            }
            // A session that lasted resets the backoff; quick failures grow it.
            let wait = backoff.after(started.elapsed(), unit_random());
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => return,
                _ = shutdown.changed() => return,
            }
        }
    }

    /// Whether `what` deserves a warning now (see [`LogOnce`]).
    fn due(&self, what: Noted) -> bool {
        self.lock().noted.due(what, std::time::Instant::now())
    }

    /// One connection: TLS to the pinned key, then a session until it ends. A
    /// failure the TLS layer can explain is said as a refusal, whatever layer
    /// above reported it.
    async fn dial_once(&self, id: NodeId, address: &str) -> Result<(), Failure> {
        let connector = transport::Connector::new(&self.inner.key, self.inner.cert.clone(), id)
            .map_err(|e| Failure::Other(e.to_string()))?;
        let result = self.dial_with(&connector, id, address).await;
        result.map_err(|e| match connector.refusal() {
            Some(transport::DialRefusal::NotPinnedThere) => {
                Failure::Refused(Refusal::NotPinnedThere {
                    peer: id,
                    me: self.inner.key.id(),
                    listen: self.listen_address(),
                })
            }
            Some(transport::DialRefusal::WrongNode { answered }) => {
                Failure::Refused(Refusal::WrongNode {
                    expected: id,
                    answered,
                    address: address.to_owned(),
                    me: self.inner.key.id(),
                })
            }
            None => Failure::Other(e),
        })
    }

    async fn dial_with(
        &self,
        connector: &transport::Connector,
        id: NodeId,
        address: &str,
    ) -> Result<(), String> {
        let connector = connector.clone();
        let target = address.to_owned();
        let address = address.to_owned();
        let channel = tonic::transport::Endpoint::from_static("http://kp-peer")
            .connect_timeout(Duration::from_secs(10))
            .http2_keep_alive_interval(KEEPALIVE)
            .keep_alive_timeout(KEEPALIVE_TIMEOUT)
            .keep_alive_while_idle(true)
            .connect_with_connector(tower::service_fn(move |_| {
                let connector = connector.clone();
                let address = address.clone();
                async move {
                    let tcp = TcpStream::connect(&address).await?;
                    // Sync messages are small and latency-bound: no Nagle delay.
                    tcp.set_nodelay(true)?;
                    let tls = connector.connect(tcp).await?;
                    Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tls))
                }
            }))
            .await
            .map_err(|e| describe_connect(&e, &target))?;
        let mut client = ReplicationClient::new(channel)
            .max_decoding_message_size(self.max_message())
            .max_encoding_message_size(self.max_message());
        let (tx, rx) = mpsc::channel::<rp::Frame>(64);
        tx.send(self.hello()).await.map_err(|e| e.to_string())?;
        self.update(&id, |p| p.bytes_out += self.hello().encoded_len() as u64);
        // One deadline for the whole handshake: a request or hello lost on a
        // broken link must not hold this dialler until keepalives notice.
        let handshake = async {
            let response = client
                .session(ReceiverStream::new(rx))
                .await
                .map_err(|s| status_text(&s))?;
            let mut inbound = response.into_inner();
            let first = inbound
                .message()
                .await
                .map_err(|s| status_text(&s))?
                .ok_or("the peer closed the session")?;
            Ok::<_, String>((inbound, first))
        };
        let (mut inbound, first) = tokio::time::timeout(HELLO_TIMEOUT, handshake)
            .await
            .map_err(|_| "the peer sent no hello".to_owned())??;
        let said = self.accept_hello(&id, first).map_err(|e| e.to_string())?;
        self.run_session(id, &mut inbound, tx, said, true)
            .await
            .map_err(|e| e.to_string())
    }

    fn hello(&self) -> rp::Frame {
        self.inner.handshake.hello()
    }

    /// Checks a peer's first frame; records it as connected. Returns what the
    /// peer said that its session needs: its idle timeout, whether it takes
    /// presence.
    fn accept_hello(
        &self,
        peer: &NodeId,
        frame: rp::Frame,
    ) -> Result<(Duration, bool), HandshakeError> {
        let hello = self.inner.handshake.accept(Some(*peer), frame)?;
        self.update(peer, |p| {
            p.sessions += 1;
            p.name = hello.name;
            p.last_seen = now_secs();
            p.bytes_in += hello.bytes;
            p.last_error.clear();
            p.refusal = None;
        });
        tracing::info!(peer = %peer.short(), "connected");
        Ok((hello.idle, hello.presence))
    }

    /// Largest gRPC message: a frame or a part of one, with room for framing.
    fn max_message(&self) -> usize {
        self.inner.limits.max_frame + 1024
    }

    /// Registers a session with `peer` that this node `dialled` (or
    /// accepted) as the one that replicates, or says it is not to run: one
    /// session with each peer replicates, whoever dialled. When both nodes
    /// dial each other at once, each sees two sessions and both keep the
    /// same one, by a rule each applies alike: the session the node with the
    /// lower id dialled; otherwise the newer (the older is a link that has not
    /// noticed yet that it is dead). The other ends ([`Observed`] says so to
    /// its driver within a second).
    fn take_turn(&self, peer: NodeId, dialled: bool) -> Option<u64> {
        let me = self.inner.key.id();
        let lower_dialled = if dialled { me < peer } else { peer < me };
        let mut state = self.lock();
        if state
            .live
            .get(&peer)
            .is_some_and(|l| l.lower_dialled && !lower_dialled)
        {
            return None;
        }
        state.serial += 1;
        let serial = state.serial;
        state.live.insert(
            peer,
            Live {
                serial,
                lower_dialled,
            },
        );
        Some(serial)
    }

    /// Session `serial` with `peer` ended: another may take its turn.
    fn leave_turn(&self, peer: &NodeId, serial: u64) {
        let mut state = self.lock();
        if state.live.get(peer).is_some_and(|l| l.serial == serial) {
            state.live.remove(peer);
        }
    }

    /// Whether session `serial` is the one that replicates with `peer`.
    fn is_live(&self, peer: &NodeId, serial: u64) -> bool {
        self.lock()
            .live
            .get(peer)
            .is_some_and(|l| l.serial == serial)
    }

    /// Exchanges documents on an open session until it ends; accounts for it.
    async fn run_session(
        &self,
        peer: NodeId,
        inbound: &mut Streaming<rp::Frame>,
        out: mpsc::Sender<rp::Frame>,
        (peer_idle, takes_presence): (Duration, bool),
        dialled: bool,
    ) -> Result<(), driver::SessionEnd> {
        let Some(serial) = self.take_turn(peer, dialled) else {
            self.update(&peer, |p| p.sessions = p.sessions.saturating_sub(1));
            tracing::info!(peer = %peer.short(), "closed a second session with the peer: the one open replicates");
            return Ok(());
        };
        let repo = self.inner.repo.clone();
        // Subscribed before the session takes its summary: no change is missed.
        let durable = repo.subscribe();
        let session = kp_sync::Session::new(repo.clone(), self.inner.key.id(), peer);
        let observer = Observed {
            peers: self,
            peer,
            serial,
        };
        // Every line the session logs carries the partner and the session
        // (a number of this node's, counted from its start).
        let number = SESSIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let span = tracing::info_span!("session", peer = %peer.short(), session = number);
        let result = tracing::Instrument::instrument(
            driver::run(
                session,
                &repo,
                inbound,
                out,
                durable,
                &observer,
                self.inner.limits.with_peer_idle(peer_idle),
                driver::Exec::Blocking,
                Some(&*self.inner.presence).filter(|_| takes_presence),
            ),
            span,
        )
        .await;
        self.update(&peer, |p| p.sessions = p.sessions.saturating_sub(1));
        self.leave_turn(&peer, serial);
        match &result {
            Ok(()) => tracing::info!(peer = %peer.short(), session = number, "disconnected"),
            Err(driver::SessionEnd::Superseded) => {
                tracing::info!(peer = %peer.short(), session = number, "session closed: the partner's other session replicates")
            }
            // A peer that breaks the protocol, stalls or floods, or a link that
            // fails: worth an operator's attention either way.
            Err(e) => tracing::warn!(peer = %peer.short(), session = number, "session ended: {e}"),
        }
        // Taken over is no failure (nothing for the peer list to show).
        match result {
            Err(driver::SessionEnd::Superseded) => Ok(()),
            other => other,
        }
    }

    /// Accepts partner connections on `listener` until shutdown.
    pub async fn serve(self, listener: TcpListener) -> Result<(), String> {
        let address = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        *self.inner.listen.lock().unwrap_or_else(|e| e.into_inner()) = address.clone();
        let acceptor = Arc::new(
            transport::Acceptor::new(
                &self.inner.key,
                self.inner.cert.clone(),
                Arc::clone(&self.inner.allowed),
            )
            .map_err(|e| e.to_string())?,
        );
        let peers = self.clone();
        let (conn_tx, conn_rx) = mpsc::channel::<Result<PeerStream, std::io::Error>>(16);
        let mut shutdown = self.inner.shutdown.clone();
        // Handshakes run in their own tasks: a peer that stalls in one holds up
        // nobody else.
        let accept = async move {
            loop {
                let (tcp, from) = match listener.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!("accepting a connection failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                if let Err(e) = tcp.set_nodelay(true) {
                    tracing::debug!(%from, "could not set TCP_NODELAY: {e}");
                }
                let acceptor = Arc::clone(&acceptor);
                let conn_tx = conn_tx.clone();
                let peers = peers.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HELLO_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok((tls, peer))) => {
                            let _ = conn_tx.send(Ok(PeerStream { tls, peer })).await;
                        }
                        Ok(Err(e)) => peers.log_refused(from, e),
                        Err(_) => {
                            peers.refused("tls_timeout");
                            let due = peers.due(Noted::FailedFrom(from.ip()));
                            log_refusal(
                                due,
                                &format!(
                                    "refused a connection from {from}: TLS handshake timed out"
                                ),
                            );
                        }
                    }
                });
            }
        };
        tracing::info!(%address, "accepting partner nodes");
        let server = tonic::transport::Server::builder()
            .http2_keepalive_interval(Some(KEEPALIVE))
            .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT))
            .add_service(
                ReplicationServer::new(self.clone())
                    .max_decoding_message_size(self.max_message())
                    .max_encoding_message_size(self.max_message()),
            )
            .serve_with_incoming_shutdown(ReceiverStream::new(conn_rx), async move {
                let _ = shutdown.changed().await;
            });
        tokio::select! {
            r = server => r.map_err(|e| e.to_string()),
            () = accept => Ok(()),
        }
    }
}

impl Peers {
    /// Logs why the listener refused a connection from `from`: once per node
    /// (or host) and window as a warning, then at debug level.
    fn log_refused(&self, from: std::net::SocketAddr, e: transport::AcceptError) {
        self.refused(match e {
            transport::AcceptError::NotPinned(_) => "not_pinned",
            transport::AcceptError::NotExpected => "certificate_refused_there",
            _ => "tls",
        });
        match e {
            transport::AcceptError::NotPinned(id) => log_refusal(
                self.due(Noted::Stranger(id)),
                &format!(
                    "refused node {id} connecting from {from}: it is not pinned here. To accept \
                     it, run: kp peer add {id} (add its address too if this node should dial it)"
                ),
            ),
            transport::AcceptError::NotExpected => log_refusal(
                self.due(Noted::FailedFrom(from.ip())),
                &format!(
                    "the node dialling from {from} refused this node's certificate: it has \
                     another node id pinned for this address (`kp peer list` there names it)"
                ),
            ),
            other => log_refusal(
                self.due(Noted::FailedFrom(from.ip())),
                &format!("refused a connection from {from}: {other}"),
            ),
        }
    }
}

/// Sessions this node has run since it started (each one's number in the log).
static SESSIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Accounts a session's traffic and progress in the peer list.
struct Observed<'a> {
    peers: &'a Peers,
    peer: NodeId,
    /// The session's number in [`Peers::take_turn`].
    serial: u64,
}

impl driver::Observer for Observed<'_> {
    fn counted(&self, bytes: u64, incoming: bool) {
        self.peers.update(&self.peer, |p| {
            if incoming {
                p.bytes_in += bytes;
                p.last_seen = now_secs();
            } else {
                p.bytes_out += bytes;
            }
        })
    }

    fn edits(&self, edits: kp_sync::Edits) {
        self.peers.update(&self.peer, |p| {
            p.edits_in += edits.received;
            p.edits_out += edits.sent;
        })
    }

    fn lag(&self, lag: kp_sync::Lag) {
        self.peers.update(&self.peer, |p| {
            p.behind = lag.peer_behind as u64;
            p.missing = lag.missing as u64;
            p.shared = lag.shared as u64;
            if p.catching_up_from < lag.missing as u64 {
                p.catching_up_from = lag.missing as u64;
            }
            if lag.missing == 0 {
                p.catching_up_from = 0;
            }
        })
    }

    fn must_end(&self) -> Option<driver::SessionEnd> {
        if !self.peers.is_pinned(&self.peer) {
            Some(driver::SessionEnd::Removed)
        } else if !self.peers.is_live(&self.peer, self.serial) {
            Some(driver::SessionEnd::Superseded)
        } else {
            None
        }
    }
}

/// A number in `[0, 1]` from the system's random source, to spread backoffs.
fn unit_random() -> f64 {
    let mut b = [0u8; 2];
    let r = ring::rand::SystemRandom::new()
        .fill(&mut b)
        .map(|()| u16::from_le_bytes(b))
        .unwrap_or(0);
    f64::from(r) / f64::from(u16::MAX)
}

/// The innermost cause of a connection error, which is the one that says what
/// went wrong (a refused certificate, a closed port).
fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        last = s.to_string();
        source = s.source();
    }
    last
}

/// A connection error in words: a closed port says which address, anything
/// else its innermost cause.
fn describe_connect(e: &(dyn std::error::Error + 'static), address: &str) -> String {
    let mut source = Some(e);
    while let Some(s) = source {
        if s.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
        {
            return format!(
                "nothing accepts connections at {address} (connection refused): is the \
                 partner's kpd running there, with [peers] listen set?"
            );
        }
        source = s.source();
    }
    describe(e)
}

/// A gRPC status from the dialling side in words: its cause when the transport
/// failed ("transport error" alone says nothing), else its message.
fn status_text(s: &Status) -> String {
    if std::error::Error::source(s).is_some() {
        describe(s)
    } else {
        s.message().to_owned()
    }
}

type FrameStream = Pin<Box<dyn tokio_stream::Stream<Item = Result<rp::Frame, Status>> + Send>>;

#[tonic::async_trait]
impl Replication for Peers {
    type SessionStream = FrameStream;

    async fn session(
        &self,
        request: Request<Streaming<rp::Frame>>,
    ) -> Result<Response<FrameStream>, Status> {
        // The listener put the node id its TLS handshake proved on the connection.
        let peer = *request
            .extensions()
            .get::<NodeId>()
            .ok_or_else(|| Status::unauthenticated("no node identity on this connection"))?;
        if !self.admit(&peer) {
            return Err(Status::resource_exhausted(format!(
                "too many sessions from this node: at most {SESSIONS_PER_MINUTE} a minute; back off"
            )));
        }
        let mut inbound = request.into_inner();
        let first = tokio::time::timeout(HELLO_TIMEOUT, inbound.message())
            .await
            .map_err(|_| Status::deadline_exceeded("no hello within 10 s"))??
            .ok_or_else(|| Status::cancelled("the session closed before its hello"))?;
        if let Some(rp::frame::Body::Hello(h)) = &first.body
            && h.protocol != PROTOCOL
        {
            self.refused("protocol");
            tracing::warn!(peer = %peer.short(), protocol = h.protocol, "refused a peer speaking another protocol version");
            let refusal = rp::Frame {
                body: Some(rp::frame::Body::Refusal(rp::Refusal {
                    reason: format!(
                        "this node speaks replication protocol {PROTOCOL}, not {}",
                        h.protocol
                    ),
                    supported: vec![PROTOCOL],
                    doc: Vec::new(),
                })),
            };
            let out: FrameStream = Box::pin(tokio_stream::once(Ok(refusal)));
            return Ok(Response::new(out));
        }
        let said = match self.accept_hello(&peer, first) {
            Ok(said) => said,
            Err(e) => {
                self.refused("hello");
                tracing::warn!(peer = %peer.short(), "refused a session: {e}");
                return Err(Status::invalid_argument(e.to_string()));
            }
        };
        let hello = self.hello();
        self.update(&peer, |p| p.bytes_out += hello.encoded_len() as u64);
        let (tx, rx) = mpsc::channel::<rp::Frame>(64);
        let _ = tx.send(hello).await;
        let peers = self.clone();
        tokio::spawn(async move {
            // The outbound stream ends with the session (when `tx` drops).
            let _ = peers.run_session(peer, &mut inbound, tx, said, false).await;
        });
        Ok(Response::new(Box::pin(tokio_stream::StreamExt::map(
            ReceiverStream::new(rx),
            Ok,
        ))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(seed: u8) -> NodeId {
        NodeKey::from_seed([seed; 32]).id()
    }

    #[test]
    fn a_refusal_says_who_refused_whom_and_what_to_run_where() {
        let (a, b, c) = (node(1), node(2), node(3));
        let not_pinned = Refusal::NotPinnedThere {
            peer: b,
            me: a,
            listen: "127.0.0.1:7410".into(),
        };
        assert_eq!(
            (
                not_pinned.refused_by(),
                not_pinned.refused(),
                not_pinned.fix_on()
            ),
            (b, a, b)
        );
        assert_eq!(
            not_pinned.fix(),
            vec![format!("kp peer add {a} 127.0.0.1:7410")]
        );
        let text = not_pinned.to_string();
        assert!(
            text.starts_with(&format!("node {}… refused this node", b.short())),
            "{text}"
        );
        assert!(
            text.ends_with(&format!("run: kp peer add {a} 127.0.0.1:7410")),
            "{text}"
        );
        // A node that listens on no definite address gives none, but its port.
        let wildcard = Refusal::NotPinnedThere {
            peer: b,
            me: a,
            listen: "0.0.0.0:7410".into(),
        };
        assert_eq!(wildcard.fix(), vec![format!("kp peer add {a}")]);
        let text = wildcard.to_string();
        assert!(
            text.ends_with(&format!(
                "run: kp peer add {a} (followed by this node's host:7410 if that node should dial it too)"
            )),
            "{text}"
        );
        let not_listening = Refusal::NotPinnedThere {
            peer: b,
            me: a,
            listen: String::new(),
        };
        assert!(
            not_listening
                .to_string()
                .ends_with(&format!("run: kp peer add {a}"))
        );

        let wrong = Refusal::WrongNode {
            expected: c,
            answered: b,
            address: "10.0.0.2:7410".into(),
            me: a,
        };
        assert_eq!(
            (wrong.refused_by(), wrong.refused(), wrong.fix_on()),
            (a, b, a)
        );
        assert_eq!(
            wrong.fix(),
            vec![
                format!("kp peer remove {c}"),
                format!("kp peer add {b} 10.0.0.2:7410")
            ]
        );
        let text = wrong.to_string();
        assert!(
            text.starts_with(&format!(
                "expected node {c} at 10.0.0.2:7410, but node {b} answered"
            )),
            "{text}"
        );
    }

    #[test]
    fn addresses_partners_could_dial() {
        assert_eq!(dialable("127.0.0.1:7410"), "127.0.0.1:7410");
        assert_eq!(dialable("[::]:7410"), "");
        assert_eq!(dialable(""), "");
        assert_eq!(
            dialable("partner.example.org:7410"),
            "partner.example.org:7410"
        );
    }

    #[test]
    fn a_repeated_refusal_is_warned_about_once_a_window() {
        let mut log = LogOnce::default();
        let t0 = std::time::Instant::now();
        let stranger = Noted::Stranger(node(4));
        assert!(log.due(stranger.clone(), t0));
        assert!(!log.due(stranger.clone(), t0 + Duration::from_secs(1)));
        assert!(log.due(Noted::Stranger(node(5)), t0 + Duration::from_secs(1)));
        assert!(log.due(stranger.clone(), t0 + REFUSAL_LOG_WINDOW));
        // Memory is bounded: past the limit, new causes go to debug level.
        let mut full = LogOnce::default();
        for i in 0..REFUSAL_LOG_KEYS {
            let ip = std::net::IpAddr::from([10, 0, (i / 256) as u8, (i % 256) as u8]);
            assert!(full.due(Noted::FailedFrom(ip), t0));
        }
        assert!(!full.due(stranger, t0));
    }
}
