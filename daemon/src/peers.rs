//! Partner nodes: the pinned peer list, the listener that accepts them over mutual
//! TLS, the dialers that connect to them with backoff, and the session that
//! opens each connection (protocol version and identity checks).
//!
//! A session starts with the handshake: both sides exchange `Hello` and refuse
//! a protocol version they do not speak. Document exchange then runs on the same
//! stream ([`crate::replicate`]).

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
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::Connected;
use tonic::{Request, Response, Status, Streaming};

use crate::identity::{NodeId, NodeKey};
use crate::repo::{Repo, now_secs};
use crate::transport::{self, Allowed};

/// The replication protocol version this node speaks.
pub const PROTOCOL: u32 = 1;

/// How long a peer has to send its `Hello`.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Backoff between connection attempts: from the first to the cap, doubling.
const BACKOFF_FIRST: Duration = Duration::from_millis(200);
const BACKOFF_CAP: Duration = Duration::from_secs(30);
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
    /// The last failure.
    pub last_error: String,
    /// Shared documents whose latest changes here the peer has not confirmed
    /// (as of the last session).
    pub behind: u64,
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
            last_error: String::new(),
            behind: 0,
        }
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
    Store(#[from] crate::repo::RepoError),
}

struct State {
    peers: BTreeMap<NodeId, PeerInfo>,
    /// Dialers, stopped by dropping their sender.
    dialers: BTreeMap<NodeId, watch::Sender<()>>,
    /// When each peer opened its recent sessions, for the rate limit.
    opened: BTreeMap<NodeId, std::collections::VecDeque<std::time::Instant>>,
}

struct Inner {
    key: NodeKey,
    cert: CertificateDer<'static>,
    name: String,
    allowed: Allowed,
    repo: Repo,
    state: Mutex<State>,
    shutdown: watch::Receiver<bool>,
    listen: Mutex<String>,
    limits: crate::replicate::Limits,
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
        .map_err(|e: crate::identity::ParseNodeIdError| PeerError::BadId(e.to_string()))
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
        limits: crate::replicate::Limits,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Self, crate::node::NodeError> {
        let cert = transport::certificate(&key)
            .map_err(|e| crate::node::NodeError::Serve(e.to_string()))?;
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
        Ok(Self {
            inner: Arc::new(Inner {
                key,
                cert,
                name,
                allowed,
                repo,
                state: Mutex::new(State {
                    peers,
                    dialers: BTreeMap::new(),
                    opened: BTreeMap::new(),
                }),
                shutdown,
                listen: Mutex::new(String::new()),
                limits,
            }),
        })
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
        let mut backoff = BACKOFF_FIRST;
        let mut shutdown = self.inner.shutdown.clone();
        loop {
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
            if let Err(e) = outcome {
                tracing::info!(peer = %id.short(), %address, "connection failed: {e}");
                self.update(&id, |p| p.last_error = e);
            }
            // A session that lasted resets the backoff; quick failures grow it.
            if started.elapsed() > BACKOFF_CAP {
                backoff = BACKOFF_FIRST;
            }
            let wait = jitter(backoff);
            backoff = (backoff * 2).min(BACKOFF_CAP);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => return,
                _ = shutdown.changed() => return,
            }
        }
    }

    /// One connection: TLS to the pinned key, then a session until it ends.
    async fn dial_once(&self, id: NodeId, address: &str) -> Result<(), String> {
        let config = transport::client_config(&self.inner.key, self.inner.cert.clone(), id)
            .map_err(|e| e.to_string())?;
        let connector = tokio_rustls::TlsConnector::from(config);
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
                    let name = ServerName::try_from("kp-node").map_err(std::io::Error::other)?;
                    let tls = connector.connect(name, tcp).await?;
                    Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tls))
                }
            }))
            .await
            .map_err(|e| describe(&e))?;
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
                .map_err(|s| s.message().to_owned())?;
            let mut inbound = response.into_inner();
            let first = inbound
                .message()
                .await
                .map_err(|s| s.message().to_owned())?
                .ok_or("the peer closed the session")?;
            Ok::<_, String>((inbound, first))
        };
        let (mut inbound, first) = tokio::time::timeout(HELLO_TIMEOUT, handshake)
            .await
            .map_err(|_| "the peer sent no hello".to_owned())??;
        let idle = self.accept_hello(&id, first)?;
        self.run_session(id, &mut inbound, tx, idle).await
    }

    fn hello(&self) -> rp::Frame {
        rp::Frame {
            body: Some(rp::frame::Body::Hello(rp::Hello {
                protocol: PROTOCOL,
                node_id: self.inner.key.id().to_string(),
                name: self.inner.name.clone(),
                idle_timeout_secs: u32::try_from(self.inner.limits.idle_timeout.as_secs())
                    .unwrap_or(u32::MAX),
            })),
        }
    }

    /// Checks a peer's first frame; records it as connected. Returns the idle
    /// timeout the peer announced.
    fn accept_hello(&self, peer: &NodeId, frame: rp::Frame) -> Result<Duration, String> {
        let len = frame.encoded_len() as u64;
        let hello = match frame.body {
            Some(rp::frame::Body::Hello(h)) => h,
            Some(rp::frame::Body::Refusal(r)) => {
                return Err(format!(
                    "refused by the peer: {} (it speaks {:?})",
                    r.reason, r.supported
                ));
            }
            _ => return Err("the peer's first frame was not a hello".into()),
        };
        if hello.protocol != PROTOCOL {
            return Err(format!(
                "the peer speaks protocol {}, this node {PROTOCOL}",
                hello.protocol
            ));
        }
        if hello.node_id != peer.to_string() {
            return Err("the peer's hello names another node than its certificate".into());
        }
        let name: String = hello
            .name
            .chars()
            .filter(|c| !c.is_control())
            .take(120)
            .collect();
        self.update(peer, |p| {
            p.sessions += 1;
            p.name = name;
            p.last_seen = now_secs();
            p.bytes_in += len;
            p.last_error.clear();
        });
        tracing::info!(peer = %peer.short(), "connected");
        Ok(Duration::from_secs(u64::from(hello.idle_timeout_secs)))
    }

    /// Largest gRPC message: a frame or a part of one, with room for framing.
    fn max_message(&self) -> usize {
        self.inner.limits.max_frame + 1024
    }

    /// Exchanges documents on an open session until it ends; accounts for it.
    async fn run_session(
        &self,
        peer: NodeId,
        inbound: &mut Streaming<rp::Frame>,
        out: mpsc::Sender<rp::Frame>,
        peer_idle: Duration,
    ) -> Result<(), String> {
        let repo = self.inner.repo.clone();
        // Subscribed before the session takes its summary: no change is missed.
        let durable = repo.subscribe();
        let session = crate::replicate::Session::new(repo, self.inner.key.id(), peer);
        let observer = Observed { peers: self, peer };
        let result = crate::replicate::run(
            session,
            inbound,
            out,
            durable,
            &observer,
            self.inner.limits.with_peer_idle(peer_idle),
            crate::replicate::Exec::Blocking,
        )
        .await;
        self.update(&peer, |p| p.sessions = p.sessions.saturating_sub(1));
        match &result {
            Ok(()) => tracing::info!(peer = %peer.short(), "disconnected"),
            // A peer that breaks the protocol, stalls or floods, or a link that
            // fails: worth an operator's attention either way.
            Err(e) => tracing::warn!(peer = %peer.short(), "session ended: {e}"),
        }
        result
    }

    /// Accepts partner connections on `listener` until shutdown.
    pub async fn serve(self, listener: TcpListener) -> Result<(), String> {
        let address = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        *self.inner.listen.lock().unwrap_or_else(|e| e.into_inner()) = address.clone();
        let config = transport::server_config(
            &self.inner.key,
            self.inner.cert.clone(),
            Arc::clone(&self.inner.allowed),
        )
        .map_err(|e| e.to_string())?;
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
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
                let acceptor = acceptor.clone();
                let conn_tx = conn_tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HELLO_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => {
                            match transport::peer_of(tls.get_ref().1.peer_certificates()) {
                                Some(peer) => {
                                    let _ = conn_tx.send(Ok(PeerStream { tls, peer })).await;
                                }
                                None => {
                                    tracing::warn!(%from, "refused a connection without a node certificate")
                                }
                            }
                        }
                        Ok(Err(e)) => tracing::warn!(%from, "refused a connection: {e}"),
                        Err(_) => {
                            tracing::warn!(%from, "refused a connection: TLS handshake timed out")
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

/// Accounts a session's traffic and progress in the peer list.
struct Observed<'a> {
    peers: &'a Peers,
    peer: NodeId,
}

impl crate::replicate::Observer for Observed<'_> {
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

    fn behind(&self, documents: usize) {
        self.peers
            .update(&self.peer, |p| p.behind = documents as u64)
    }

    fn allowed(&self) -> bool {
        self.peers.is_pinned(&self.peer)
    }
}

/// A delay of `base` ± 25%, from the system's random source.
fn jitter(base: Duration) -> Duration {
    let mut b = [0u8; 2];
    let r = ring::rand::SystemRandom::new()
        .fill(&mut b)
        .map(|()| u16::from_le_bytes(b))
        .unwrap_or(0);
    let factor = 0.75 + f64::from(r) / f64::from(u16::MAX) * 0.5;
    base.mul_f64(factor)
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
        let idle = match self.accept_hello(&peer, first) {
            Ok(idle) => idle,
            Err(e) => {
                tracing::warn!(peer = %peer.short(), "refused a session: {e}");
                return Err(Status::invalid_argument(e));
            }
        };
        let hello = self.hello();
        self.update(&peer, |p| p.bytes_out += hello.encoded_len() as u64);
        let (tx, rx) = mpsc::channel::<rp::Frame>(64);
        let _ = tx.send(hello).await;
        let peers = self.clone();
        tokio::spawn(async move {
            // The outbound stream ends with the session (when `tx` drops).
            let _ = peers.run_session(peer, &mut inbound, tx, idle).await;
        });
        Ok(Response::new(Box::pin(tokio_stream::StreamExt::map(
            ReceiverStream::new(rx),
            Ok,
        ))))
    }
}
