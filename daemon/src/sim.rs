//! Deterministic simulation of replication: K nodes, each a [`Repo`] on a
//! [`TwinStore`] (the node's own document files on a disk that knows what is
//! durable) running the real [`Session`], handshake, driver (heartbeats,
//! idle timeout, frame budget) and dial backoff over gRPC (tonic) on
//! turmoil's simulated network, in one thread with simulated time. Every node
//! makes random concurrent edits while random links are cut, held, cut one way
//! and repaired, and nodes lose power or are killed at a random write, sync or
//! rename of their store (inside an edit's round, a compaction, a clone, between
//! a snapshot's rename and its directory's sync), stay down a while and start
//! again from what their disk kept; then the network heals and every node must
//! end with identical heads and values, holding every acknowledged edit, every
//! start a new actor, every document whole.
//!
//! What is deterministic: for a seed, the schedule of edits and faults and the
//! network's delays and losses, document ids, change times (a fixed clock), and
//! the order in which each node takes its inputs (the session driver selects
//! with `biased`), what each round of the committer holds (rounds start when
//! someone waits for one: `RepoConfig::rounds_on_demand`), and so the write at
//! which a disk fails and what a power cut keeps. After a start the node's
//! index refresh is waited for (`Repo::wait_refreshed`), as what it finds
//! decides when documents are compacted.
//!
//! `SIM_SEED=n cargo test -p kp-daemon sim::` reruns one seed (every
//! configuration: 3 and 5 nodes, faults of the network alone or of machines
//! too); `SIM_SEEDS=n` runs n seeds of each instead of the default 100, from
//! `SIM_FIRST` (1), `SIM_EACH=1` printing each seed's outcome; `scripts/sim` runs 10,000
//! of each with a summary. With `SIM_DEBUG=1`
//! the log goes to stderr, filtered by `RUST_LOG` (`kp_daemon=trace` shows
//! every frame each node sends and takes).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use automerge::{ObjType, ROOT, ReadDoc, transaction::Transactable};
use kp_proto::replication as rp;
use kp_proto::replication::replication_client::ReplicationClient;
use kp_proto::replication::replication_server::{Replication, ReplicationServer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::driver::{self, Exec, Observer};
use kp_core::identity::NodeId;
use kp_core::ids::DocId;
use kp_model::{draft, space};
use kp_repo::{ChangeNote, Repo, RepoConfig};
use kp_sync::{Backoff, HELLO_TIMEOUT, Handshake, Limits, PeerHello, Session};
use kp_testkit::{Disk, MemStore, TwinStore};

const PORT: u16 = 7410;
/// Simulated time of random edits and faults.
const CHAOS: Duration = Duration::from_secs(8);
/// Simulated time allowed from heal to convergence.
const HEAL_DEADLINE: Duration = Duration::from_secs(60);
const TICK: Duration = Duration::from_millis(1);
const DRAFTS: usize = 2;
/// The most nodes a run may have.
const MAX_NODES: usize = 8;
const LIMITS: Limits = Limits {
    max_frame: 64 << 10,
    max_assembled: 64 << 20,
    idle_timeout: Duration::from_secs(3),
    heartbeat: Duration::from_secs(1),
    max_frames_per_sec: 1000,
};

/// splitmix64: the schedule's random numbers, from the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `[0, 1]`.
    fn unit(&mut self) -> f64 {
        self.next() as f64 / u64::MAX as f64
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A turmoil TCP stream as tonic's server wants it.
struct Conn(turmoil::net::TcpStream);

impl tonic::transport::server::Connected for Conn {
    type ConnectInfo = ();
    fn connect_info(&self) {}
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

struct Quiet;

impl Observer for Quiet {
    fn counted(&self, _: u64, _: bool) {}
    fn edits(&self, _: kp_sync::Edits) {}
    fn lag(&self, _: kp_sync::Lag) {}
    fn must_end(&self) -> Option<crate::driver::SessionEnd> {
        None
    }
}

/// The node's handshake, as a node with these limits makes it.
fn handshake(me: NodeId) -> Handshake {
    Handshake::new(me, "", &LIMITS)
}

/// The peer named by a hello, checked by the node's own handshake (the
/// simulation has no TLS: the hello's word is taken for the node).
fn hello_from(me: NodeId, f: Option<rp::Frame>) -> Result<PeerHello, String> {
    let f = f.ok_or("the session closed before its hello")?;
    handshake(me).accept(None, f).map_err(|e| e.to_string())
}

async fn session(
    repo: Repo,
    me: NodeId,
    peer: PeerHello,
    mut inbound: Streaming<rp::Frame>,
    tx: mpsc::Sender<rp::Frame>,
) {
    let durable = repo.subscribe();
    let s = Session::new(repo.clone(), me, peer.node);
    let limits = LIMITS.with_peer_idle(peer.idle);
    let r = driver::run(
        s,
        &repo,
        &mut inbound,
        tx,
        durable,
        &Quiet,
        limits,
        Exec::Inline,
        None,
    )
    .await;
    tracing::debug!(me = %me.short(), peer = %peer.node.short(), "session ended: {r:?}");
}

#[derive(Clone)]
struct Service {
    repo: Repo,
    me: NodeId,
}

type FrameStream = Pin<Box<dyn tokio_stream::Stream<Item = Result<rp::Frame, Status>> + Send>>;

#[tonic::async_trait]
impl Replication for Service {
    type SessionStream = FrameStream;

    async fn session(
        &self,
        request: Request<Streaming<rp::Frame>>,
    ) -> Result<Response<FrameStream>, Status> {
        let mut inbound = request.into_inner();
        let first = tokio::time::timeout(HELLO_TIMEOUT, inbound.message())
            .await
            .map_err(|_| Status::deadline_exceeded("no hello"))??;
        let peer = hello_from(self.me, first).map_err(Status::invalid_argument)?;
        let (tx, rx) = mpsc::channel(64);
        let _ = tx.send(handshake(self.me).hello()).await;
        tokio::spawn(session(self.repo.clone(), self.me, peer, inbound, tx));
        Ok(Response::new(Box::pin(tokio_stream::StreamExt::map(
            ReceiverStream::new(rx),
            Ok,
        ))))
    }
}

async fn dial(repo: Repo, me: NodeId, host: String) -> Result<(), String> {
    let target = host.clone();
    let channel = tonic::transport::Endpoint::from_static("http://kp-peer")
        .connect_timeout(Duration::from_secs(2))
        .connect_with_connector(tower::service_fn(move |_| {
            let target = target.clone();
            async move {
                let s = turmoil::net::TcpStream::connect((target.as_str(), PORT)).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(s))
            }
        }))
        .await
        .map_err(|e| e.to_string())?;
    let mut client = ReplicationClient::new(channel);
    let (tx, rx) = mpsc::channel(64);
    tx.send(handshake(me).hello())
        .await
        .map_err(|e| e.to_string())?;
    // The handshake has a deadline, as in the node: a request or hello lost to
    // a cut link would otherwise hold this dialler forever.
    let handshake = async {
        let mut inbound = client
            .session(ReceiverStream::new(rx))
            .await
            .map_err(|s| s.to_string())?
            .into_inner();
        let first = inbound.message().await.map_err(|s| s.to_string())?;
        Ok::<_, String>((hello_from(me, first)?, inbound))
    };
    let (peer, inbound) = tokio::time::timeout(HELLO_TIMEOUT, handshake)
        .await
        .map_err(|_| "no hello".to_owned())??;
    session(repo, me, peer, inbound, tx).await;
    Ok(())
}

/// A node's software: it serves partners and dials those listed.
async fn host(repo: Repo, me: NodeId, dials: Vec<String>) -> turmoil::Result {
    let listener =
        turmoil::net::TcpListener::bind((IpAddr::V4(Ipv4Addr::UNSPECIFIED), PORT)).await?;
    for target in dials {
        let repo = repo.clone();
        // The node's own backoff, its spread drawn from the dialer's names.
        let seed = format!("{me}{target}")
            .bytes()
            .fold(0u64, |h, b| h.rotate_left(8) ^ u64::from(b));
        tokio::spawn(async move {
            let (mut backoff, mut spread) = (Backoff::new(), Rng(seed));
            loop {
                let started = tokio::time::Instant::now();
                let _ = dial(repo.clone(), me, target.clone()).await;
                let wait = backoff.after(started.elapsed(), spread.unit());
                tokio::time::sleep(wait).await;
            }
        });
    }
    let (conn_tx, conn_rx) = mpsc::channel::<Result<Conn, std::io::Error>>(16);
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            if conn_tx.send(Ok(Conn(s))).await.is_err() {
                return;
            }
        }
    });
    tonic::transport::Server::builder()
        .add_service(ReplicationServer::new(Service { repo, me }))
        .serve_with_incoming(ReceiverStream::new(conn_rx))
        .await?;
    Ok(())
}

fn node_key(i: usize) -> kp_core::identity::NodeKey {
    kp_core::identity::NodeKey::from_seed([i as u8 + 1; 32])
}

/// Node `i`'s id, derived once: the checks ask for it at every step, and
/// deriving a key pair is most of a step's cost.
fn node_id(i: usize) -> NodeId {
    static IDS: std::sync::LazyLock<Vec<NodeId>> =
        std::sync::LazyLock::new(|| (0..MAX_NODES).map(|i| node_key(i).id()).collect());
    IDS[i]
}

fn config() -> RepoConfig {
    RepoConfig {
        group_commit_window: Duration::ZERO,
        idle_compact: Duration::from_secs(3600),
        // Small, so that logs are compacted into snapshots during the run
        // and the power goes in the middle of some.
        compact_min_bytes: 4096,
        compact_factor: 1,
        clock: || 0,
        rounds_on_demand: true,
        ..RepoConfig::default()
    }
}

fn open(i: usize) -> Repo {
    Repo::open(Arc::new(MemStore::default()), node_key(i), config()).expect("a memory repo opens")
}

/// How a node's armed failure ends it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Failure {
    /// The machine loses power: what was not durable may be lost or torn.
    PowerCut,
    /// The process is killed: the operating system keeps what was written.
    Kill,
}

/// One simulated machine: its disk, and the node running on it when it is up
/// (shared with its turmoil host, which serves the node it finds here when it
/// is started again).
struct Machine {
    disk: Disk,
    repo: Arc<std::sync::Mutex<Option<Repo>>>,
    /// The failure armed on its disk, if any.
    armed: Option<Failure>,
    /// While down: the step it starts again at.
    down_until: Option<usize>,
    /// Each start's incarnation, in order.
    incarnations: Vec<u64>,
}

impl Machine {
    fn new(i: usize) -> Self {
        let disk = Disk::new();
        let repo = start(i, &disk).expect("a new node starts");
        Machine {
            incarnations: vec![repo.incarnation()],
            disk,
            repo: Arc::new(std::sync::Mutex::new(Some(repo))),
            armed: None,
            down_until: None,
        }
    }

    /// The node, when it is up.
    fn node(&self) -> Option<Repo> {
        self.repo.lock().expect("machine lock").clone()
    }
}

fn start(i: usize, disk: &Disk) -> Result<Repo, String> {
    let store = TwinStore::open(disk.clone()).map_err(|e| e.to_string())?;
    Repo::open(Arc::new(store), node_key(i), config()).map_err(|e| e.to_string())
}

/// What one node holds of a document, for comparison.
#[derive(Debug, PartialEq)]
struct View {
    heads: Vec<automerge::ChangeHash>,
    tokens: BTreeSet<String>,
    winner: String,
    body: String,
}

fn view(repo: &Repo, id: &DocId) -> Option<View> {
    repo.meta(id)?;
    repo.read(id, |doc| {
        let tokens = doc
            .get(ROOT, "sim")
            .ok()
            .flatten()
            .map(|(_, obj)| doc.keys(&obj).collect())
            .unwrap_or_default();
        let winner = doc
            .get(ROOT, "winner")
            .ok()
            .flatten()
            .map(|(v, _)| v.to_string())
            .unwrap_or_default();
        let body = doc
            .get(ROOT, "body")
            .ok()
            .flatten()
            .and_then(|(_, obj)| doc.text(&obj).ok())
            .unwrap_or_default();
        View {
            heads: doc.get_heads(),
            tokens,
            winner,
            body,
        }
    })
    .ok()
}

/// One seed's result.
#[derive(Debug)]
struct Outcome {
    acked: usize,
    lost: usize,
    converged: bool,
    heal_to_converge: Duration,
    /// Every node's heads of every document at the end.
    heads: Vec<Vec<automerge::ChangeHash>>,
    /// Power cuts and kills.
    failures: usize,
    /// What went wrong besides loss and convergence (a start refused, a
    /// document damaged, an actor reused), if anything.
    broken: Vec<String>,
}

/// One random edit on node `i`: a token of its own (the acknowledged fact to
/// find everywhere later), a contested key, and text at a random place (later
/// edits may land inside earlier ones, so the text is compared between nodes,
/// not searched for tokens).
fn edit(repo: &Repo, rng: &mut Rng, docs: &[DocId], i: usize, n: usize) -> Option<(DocId, String)> {
    let held: Vec<&DocId> = docs.iter().filter(|d| repo.meta(d).is_some()).collect();
    if held.is_empty() {
        return None;
    }
    let id = *held[rng.below(held.len())];
    let token = format!("n{i}e{n}");
    let at = rng.next();
    let note = ChangeNote::new("sim", "edit");
    let t = token.clone();
    repo.change_durably(&id, &note, move |doc| {
        let Some((_, map)) = doc.get(ROOT, "sim")? else {
            return Err(kp_model::ModelError::invalid("no sim map"));
        };
        doc.put(&map, t.as_str(), i as i64)?;
        doc.put(ROOT, "winner", t.as_str())?;
        if let Some((_, body)) = doc.get(ROOT, "body")? {
            let len = doc.length(&body);
            let pos = (at % (len as u64 + 1)) as usize;
            doc.splice_text(&body, pos, 0, &format!("[{t}]"))?;
        }
        Ok(())
    })
    .ok()?;
    Some((id, token))
}

/// Random faults of a run: which failures may strike the machines.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Faults {
    /// Links only.
    Network,
    /// Links, and machines that lose power or are killed.
    Machines,
    /// Links and machines, while the admin (node 0) adds the last node to
    /// the space, removes node 1 and changes node 2's role and back.
    Members,
}

impl Faults {
    fn machines(self) -> bool {
        self != Faults::Network
    }
}

/// A change of the space's members, made by node 0 when it is up.
#[derive(Debug, Clone, Copy)]
enum MemberChange {
    Add(usize),
    Remove(usize),
    Role(usize, &'static str),
}

/// The node removed in `Faults::Members` runs.
const REMOVED: usize = 1;

/// Node `i`'s own copy of the space.
fn space_of(repo: &Repo, space_id: &DocId) -> Option<space::Space> {
    repo.read(space_id, |doc| space::read(doc).ok())
        .ok()
        .flatten()
}

/// Whether node `i` may edit drafts as its own copy of the space says (the
/// check the node's API makes before an edit).
fn may_edit(repo: &Repo, space_id: &DocId, i: usize) -> bool {
    let me = node_id(i).to_string();
    space_of(repo, space_id).is_some_and(|s| {
        s.members
            .iter()
            .any(|m| m.node_id == me && (m.role == "admin" || m.role == "editor"))
    })
}

/// Whether `space` records node `who` as removed.
fn lists_removed(space: &space::Space, who: usize) -> bool {
    let who = node_id(who).to_string();
    space.former.iter().any(|f| f.node_id == who)
}

/// Whether this node's copy of the space records `who` as removed.
fn knows_removed(repo: &Repo, space_id: &DocId, who: usize) -> bool {
    space_of(repo, space_id).is_some_and(|s| lists_removed(&s, who))
}

/// Whether this node's durable copy of the space (at the heads its index
/// holds, which a power cut cannot take back) records `who` as removed.
/// `seen` keeps the last answer with the heads it was for: the space seldom
/// changes, and reading it at given heads costs a fork of the document.
fn knows_removed_durably(
    repo: &Repo,
    space_id: &DocId,
    who: usize,
    seen: &mut Option<(Vec<automerge::ChangeHash>, bool)>,
) -> bool {
    let Some(heads) = repo.meta(space_id).map(|m| m.heads.clone()) else {
        return false;
    };
    if let Some((at, known)) = seen
        && *at == heads
    {
        return *known;
    }
    let known = repo
        .read(space_id, |doc| {
            doc.fork_at(&heads)
                .ok()
                .and_then(|at| space::read(&at).ok())
                .is_some_and(|s| lists_removed(&s, who))
        })
        .unwrap_or(false);
    *seen = Some((heads, known));
    known
}

/// Whether `change` is in effect in this node's copy of the space (made by
/// an attempt whose acknowledgement was lost to a power cut, say).
fn in_effect(repo: &Repo, space_id: &DocId, change: MemberChange) -> bool {
    let Some(s) = space_of(repo, space_id) else {
        return false;
    };
    let role_of = |i: usize| {
        let id = node_id(i).to_string();
        s.members
            .iter()
            .find(|m| m.node_id == id)
            .map(|m| m.role.clone())
    };
    match change {
        MemberChange::Add(i) => role_of(i).is_some(),
        MemberChange::Role(i, role) => role_of(i).as_deref() == Some(role),
        MemberChange::Remove(i) => knows_removed(repo, space_id, i),
    }
}

/// Node 0 makes `change`, as `kp space add-member` / `remove-member` do.
fn change_members(repo: &Repo, space_id: &DocId, docs: &[DocId], change: MemberChange) -> bool {
    let admin = node_id(0).to_string();
    let note = ChangeNote::new("sim", "members");
    let member = |i: usize, role: &str| space::Member {
        node_id: node_id(i).to_string(),
        role: role.into(),
        institution: format!("node{i}"),
        ..Default::default()
    };
    let r = match change {
        MemberChange::Add(i) => repo.change_durably(space_id, &note, |doc| {
            space::add_member(doc, &admin, &member(i, "editor"), 0)
        }),
        MemberChange::Role(i, role) => repo.change_durably(space_id, &note, |doc| {
            space::add_member(doc, &admin, &member(i, role), 0)
        }),
        MemberChange::Remove(i) => {
            // The heads this node holds of every document the member wrote
            // in, as the API's remove-member takes them.
            let who = node_id(i);
            let held: BTreeMap<String, Vec<String>> = docs
                .iter()
                .filter_map(|id| {
                    repo.read(id, |doc| {
                        let wrote = doc.get_changes_meta(&[]).iter().any(|c| {
                            kp_core::ids::parse_actor(&c.actor).is_some_and(|(n, _)| n == who)
                        });
                        wrote.then(|| kp_repo::heads_hex(&doc.get_heads()))
                    })
                    .ok()
                    .flatten()
                    .map(|h| (id.to_string(), h))
                })
                .collect();
            let target = node_id(i).to_string();
            repo.change_durably(space_id, &note, |doc| {
                space::remove_member(doc, &admin, &target, &held, 0)
            })
        }
    };
    r.is_ok()
}

/// The tokens `i` acknowledged that its node does not hold (right after a
/// start, its own disk must have kept every one).
fn missing_own(repo: &Repo, acked: &[(usize, DocId, String)], i: usize) -> Vec<String> {
    acked
        .iter()
        .filter(|(by, id, token)| {
            *by == i && !view(repo, id).is_some_and(|v| v.tokens.contains(token))
        })
        .map(|(_, _, t)| t.clone())
        .collect()
}

/// Starts machine `i` again from what its disk kept, and checks what it
/// holds: a new incarnation, every document whole, every edit it
/// acknowledged.
fn restart(
    sim: &mut turmoil::Sim<'_>,
    (m, i, k): (&mut Machine, usize, usize),
    held: &mut BTreeSet<(usize, usize)>,
    acked: &[(usize, DocId, String)],
    broken: &mut Vec<String>,
) {
    let repo = match start(i, &m.disk) {
        Ok(r) => r,
        Err(e) => {
            broken.push(format!("node{i} does not start again: {e}"));
            return;
        }
    };
    repo.wait_refreshed();
    let last = m.incarnations.last().copied().unwrap_or(0);
    if repo.incarnation() <= last {
        broken.push(format!(
            "node{i} started as incarnation {} after {last}",
            repo.incarnation()
        ));
    }
    m.incarnations.push(repo.incarnation());
    for (id, _) in repo.list() {
        if let Err(e) = repo.check(&id) {
            broken.push(format!("node{i}: {id} is damaged after a failure: {e}"));
        }
    }
    let missing = missing_own(&repo, acked, i);
    if !missing.is_empty() {
        broken.push(format!(
            "node{i} lost edits it had acknowledged: {missing:?}"
        ));
    }
    *m.repo.lock().expect("machine lock") = Some(repo);
    m.down_until = None;
    // Back on the network: its links as the chaos left them are forgotten,
    // every one healthy.
    for j in (0..k).filter(|&j| j != i) {
        let (a, b) = (i.min(j), i.max(j));
        sim.repair(format!("node{a}"), format!("node{b}"));
        if held.remove(&(a, b)) {
            sim.release(format!("node{a}"), format!("node{b}"));
        }
    }
    sim.bounce(format!("node{i}"));
}

/// Takes down every machine whose disk failed: its node is stopped (a stop
/// on a dead disk writes nothing), and its disk keeps what the failure
/// leaves.
fn reap(sim: &mut turmoil::Sim<'_>, machines: &mut [Machine], step: usize, rng: &mut Rng) -> usize {
    let mut failed = 0;
    let machines_len = machines.len();
    for (i, m) in machines.iter_mut().enumerate() {
        if m.down_until.is_some() || !m.disk.is_off() {
            continue;
        }
        // A machine without power is silent: cut off first, nothing its
        // stopped software would still send (resets, in an order tokio's
        // task lists decide, not the seed) leaves it.
        for j in (0..machines_len).filter(|&j| j != i) {
            sim.partition(format!("node{i}"), format!("node{j}"));
        }
        sim.crash(format!("node{i}"));
        if let Some(repo) = m.repo.lock().expect("machine lock").take() {
            repo.shutdown();
        }
        m.disk = match m.armed.take() {
            Some(Failure::Kill) => m.disk.kill(rng.next()),
            _ => m.disk.power_cut(rng.next()),
        };
        m.down_until = Some(step + 50 + rng.below(1500));
        failed += 1;
    }
    failed
}

fn run_seed(seed: u64, k: usize, faults: Faults) -> Outcome {
    assert!(k <= MAX_NODES, "a run has at most {MAX_NODES} nodes");
    if std::env::var("SIM_DEBUG").is_ok() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .try_init();
    }
    let mut rng = Rng(seed ^ ((k as u64) << 56) ^ ((faults as u64) << 48));
    let mut machines: Vec<Machine> = (0..k).map(Machine::new).collect();
    let names: Vec<String> = (0..k).map(|i| format!("node{i}")).collect();
    let node0 = machines[0].node().expect("node0 is up");

    // Node 0 creates the space (everyone a member) and the drafts.
    let note = ChangeNote::new("sim", "setup");
    let admin = space::Member {
        node_id: node_id(0).to_string(),
        role: "admin".into(),
        institution: "node0".into(),
        ..Default::default()
    };
    let doc_id = |rng: &mut Rng| {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&rng.next().to_le_bytes());
        b[8..].copy_from_slice(&rng.next().to_le_bytes());
        DocId::from_bytes(b)
    };
    let (space_id, ()) = node0
        .create_as(doc_id(&mut rng), &note, |doc| {
            space::init(doc, "sim", 7, "", &admin, 0)?;
            let initial = if faults == Faults::Members { k - 1 } else { k };
            for i in 1..initial {
                let m = space::Member {
                    node_id: node_id(i).to_string(),
                    role: "editor".into(),
                    institution: format!("node{i}"),
                    ..Default::default()
                };
                space::add_member(doc, &admin.node_id, &m, 0)?;
            }
            Ok(())
        })
        .expect("the space is created");
    let me = node_id(0).to_string();
    let by = draft::Actor {
        author: "sim",
        institution: "node0",
        node_id: &me,
    };
    let mut docs = vec![space_id];
    for d in 0..DRAFTS {
        let (id, ()) = node0
            .create_as(doc_id(&mut rng), &note, |doc| {
                let kind = kp_model::DraftType::WorkingPaper;
                draft::init(doc, &space_id, &format!("draft {d}"), kind, "text", &by, 0)?;
                // Made once here: maps made concurrently at one key would hide
                // all but one of them.
                doc.put_object(ROOT, "sim", ObjType::Map)?;
                Ok(())
            })
            .expect("a draft is created");
        docs.push(id);
    }
    drop(node0);
    let drafts: Vec<DocId> = docs[1..].to_vec();

    let mut sim = turmoil::Builder::new()
        .rng_seed(seed)
        .simulation_duration(CHAOS + HEAL_DEADLINE + Duration::from_secs(10))
        .tick_duration(TICK)
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(Duration::from_millis(1 + rng.below(50) as u64))
        .build();
    for (i, m) in machines.iter().enumerate() {
        let slot = Arc::clone(&m.repo);
        // Full mesh: each node dials those after it.
        let dials: Vec<String> = names[i + 1..].to_vec();
        sim.host(names[i].as_str(), move || {
            let repo = slot
                .lock()
                .expect("machine lock")
                .clone()
                .expect("a machine is started only with its node up");
            host(repo, node_id(i), dials.clone())
        });
    }

    let steps = (CHAOS.as_millis() / TICK.as_millis()) as usize;
    let edits_per_node = 30;
    // When each node edits, and when faults happen.
    let mut plan: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..k {
        for _ in 0..edits_per_node {
            plan.entry(rng.below(steps)).or_default().push(i);
        }
    }
    // Node 0's changes of the members, each at a random moment of its own
    // part of the run (tried again at later steps while node 0 is down).
    let mut member_changes: Vec<(usize, MemberChange)> = Vec::new();
    if faults == Faults::Members {
        let part = steps / 5;
        member_changes = vec![
            (rng.below(part), MemberChange::Add(k - 1)),
            (part + rng.below(part), MemberChange::Role(2, "reviewer")),
            (2 * part + rng.below(part), MemberChange::Remove(REMOVED)),
            (3 * part + rng.below(part), MemberChange::Role(2, "editor")),
        ];
    }
    // Tokens of the removed node that node 0 held when it removed it (its
    // work as a member, which every member keeps), and tokens written once
    // every other node durably knew of the removal (which the removed node must
    // never get: a node that does not know yet may still pass on what it holds).
    let mut removed_at: Option<BTreeSet<String>> = None;
    let mut removal_held: Option<BTreeSet<String>> = None;
    let mut all_know = false;
    let mut durable_seen: Vec<Option<(Vec<automerge::ChangeHash>, bool)>> = vec![None; k];
    let mut after_removal: BTreeSet<String> = BTreeSet::new();
    let mut acked: Vec<(usize, DocId, String)> = Vec::new();
    let mut broken = Vec::new();
    let mut failures = 0;
    let mut made = vec![0usize; k];
    let pairs: Vec<(usize, usize)> = (0..k)
        .flat_map(|a| (a + 1..k).map(move |b| (a, b)))
        .collect();
    let mut held: BTreeSet<(usize, usize)> = BTreeSet::new();
    for step in 0..steps {
        if let Some(nodes) = plan.get(&step) {
            for &i in nodes {
                made[i] += 1;
                let Some(repo) = machines[i].node() else {
                    continue;
                };
                if !may_edit(&repo, &space_id, i) {
                    continue;
                }
                if let Some((id, token)) = edit(&repo, &mut rng, &drafts, i, made[i]) {
                    if all_know && i != REMOVED {
                        after_removal.insert(token.clone());
                    }
                    acked.push((i, id, token));
                }
            }
        }
        // Every other node up and knowing it durably, now: a node that held
        // the removal in memory only forgets it in a power cut, and until it
        // hears of it again may pass on what it holds, as may a node that
        // is down now.
        if removed_at.is_some() {
            all_know = machines
                .iter()
                .zip(&mut durable_seen)
                .enumerate()
                .all(|(i, (m, seen))| {
                    i == REMOVED
                        || m.node()
                            .is_some_and(|r| knows_removed_durably(&r, &space_id, REMOVED, seen))
                });
        }
        if let Some(&(at, change)) = member_changes.first()
            && at <= step
            && let Some(admin) = machines[0].node()
        {
            // An attempt that failed may have been made all the same (the
            // power went after its change was written): then it is done.
            let done = in_effect(&admin, &space_id, change) || {
                if matches!(change, MemberChange::Remove(_)) {
                    removal_held = Some(
                        drafts
                            .iter()
                            .filter_map(|id| view(&admin, id))
                            .flat_map(|v| v.tokens)
                            .filter(|t| t.starts_with(&format!("n{REMOVED}e")))
                            .collect(),
                    );
                }
                change_members(&admin, &space_id, &docs, change)
            };
            if done {
                member_changes.remove(0);
                if matches!(change, MemberChange::Remove(_)) {
                    removed_at = removal_held.take();
                }
            }
        }
        if step % 150 == 0 {
            let (a, b) = pairs[rng.below(pairs.len())];
            let (na, nb) = (names[a].as_str(), names[b].as_str());
            match rng.below(5) {
                0 | 1 => sim.partition(na, nb),
                2 => sim.partition_oneway(na, nb),
                3 => {
                    sim.hold(na, nb);
                    held.insert((a, b));
                }
                _ => {
                    sim.repair(na, nb);
                    if held.remove(&(a, b)) {
                        sim.release(na, nb);
                    }
                }
            }
        }
        if faults.machines() && step % 400 == 200 {
            // A machine fails at one of its next writes, syncs or renames.
            let i = rng.below(k);
            let m = &mut machines[i];
            if m.down_until.is_none() && m.armed.is_none() {
                m.armed = Some(if rng.below(3) == 0 {
                    Failure::Kill
                } else {
                    Failure::PowerCut
                });
                m.disk.fail_after_file_ops(1 + rng.below(80) as u64);
            }
        }
        failures += reap(&mut sim, &mut machines, step, &mut rng);
        for (i, m) in machines.iter_mut().enumerate() {
            if m.down_until.is_some_and(|at| at <= step) {
                restart(&mut sim, (m, i, k), &mut held, &acked, &mut broken);
            }
        }
        sim.step().expect("the simulation runs");
    }

    // Heal: every machine up, no more failures, every link repaired; then wait
    // for every node to hold the same of every document.
    failures += reap(&mut sim, &mut machines, steps, &mut rng);
    for (i, m) in machines.iter_mut().enumerate() {
        m.disk.fail_never();
        m.armed = None;
        if m.down_until.is_some() {
            restart(&mut sim, (m, i, k), &mut held, &acked, &mut broken);
        }
    }
    for &(a, b) in &pairs {
        sim.repair(names[a].as_str(), names[b].as_str());
        sim.release(names[a].as_str(), names[b].as_str());
    }
    if !member_changes.is_empty() {
        broken.push(format!("member changes never made: {member_changes:?}"));
    }
    let all: Vec<Option<Repo>> = machines.iter().map(Machine::node).collect();
    if all.iter().any(Option::is_none) {
        broken.push("not every node is up at the end".into());
    }
    // What the removed node holds is judged apart: it is told of its removal
    // and of the members since, and nothing else of the space.
    let removed = removed_at.is_some().then_some(REMOVED);
    let repos: Vec<Repo> = all
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != removed)
        .filter_map(|(_, r)| r.clone())
        .collect();
    let healed_at = sim.elapsed();
    // The removed node too must end with the space as the members hold it:
    // every node agrees on the members.
    let gone = removed.and_then(|i| all[i].clone());
    let converged = |repos: &[Repo]| {
        docs.iter().all(|id| {
            let first = view(&repos[0], id);
            first.is_some() && repos[1..].iter().all(|r| view(r, id) == first)
        }) && gone
            .as_ref()
            .is_none_or(|g| view(g, &space_id) == view(&repos[0], &space_id))
    };
    let mut done = false;
    while sim.elapsed() - healed_at < HEAL_DEADLINE {
        for _ in 0..10 {
            sim.step().expect("the simulation runs");
        }
        if converged(&repos) {
            done = true;
            break;
        }
    }
    let heal_to_converge = sim.elapsed() - healed_at;
    if !done {
        // What each node ended with, to see who is missing what.
        for (i, r) in repos.iter().enumerate() {
            for id in &docs {
                let v = view(r, id).map(|v| (v.heads.len(), v.tokens.len()));
                eprintln!("seed {seed} node{i} {id}: (heads, tokens) = {v:?}");
            }
        }
    }
    // Every acknowledged edit is on every member; of the removed node's,
    // those node 0 held when it removed it (the rest are refused by design).
    let lost = acked
        .iter()
        .filter(|(by, _, token)| {
            Some(*by) != removed || removed_at.as_ref().is_some_and(|held| held.contains(token))
        })
        .filter(|(_, id, token)| {
            !repos
                .iter()
                .all(|r| view(r, id).is_some_and(|v| v.tokens.contains(token)))
        })
        .count();
    if let Some(Some(gone)) = removed.map(|i| all[i].as_ref()) {
        let leaked: Vec<String> = drafts
            .iter()
            .filter_map(|id| view(gone, id))
            .flat_map(|v| v.tokens)
            .filter(|t| after_removal.contains(t))
            .collect();
        if !leaked.is_empty() {
            broken.push(format!(
                "the removed node holds edits written after every other node knew of its removal: {leaked:?}"
            ));
        }
    }
    // No (actor, sequence) pair names two changes anywhere.
    for id in &docs {
        let mut seen: BTreeMap<(automerge::ActorId, u64), automerge::ChangeHash> = BTreeMap::new();
        for r in all.iter().flatten() {
            let metas = r
                .read(id, |doc| {
                    doc.get_changes_meta(&[])
                        .into_iter()
                        .map(|c| (c.actor.into_owned(), c.seq, c.hash))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            for (actor, seq, hash) in metas {
                if let Some(other) = seen.insert((actor.clone(), seq), hash)
                    && other != hash
                {
                    broken.push(format!("{id}: actor {actor} seq {seq} names two changes"));
                }
            }
        }
    }
    let heads = repos
        .iter()
        .flat_map(|r| {
            docs.iter()
                .map(|id| view(r, id).map(|v| v.heads).unwrap_or_default())
        })
        .collect();
    drop(sim);
    for r in all.iter().flatten() {
        r.shutdown();
    }
    Outcome {
        acked: acked.len(),
        lost,
        converged: done,
        heal_to_converge,
        heads,
        failures,
        broken,
    }
}

fn seeds(default: u64) -> Vec<u64> {
    if let Some(seed) = std::env::var("SIM_SEED").ok().and_then(|s| s.parse().ok()) {
        return vec![seed];
    }
    let var = |name: &str| std::env::var(name).ok().and_then(|s| s.parse::<u64>().ok());
    let n = var("SIM_SEEDS").unwrap_or(default);
    let first = var("SIM_FIRST").unwrap_or(1);
    (first..first + n).collect()
}

fn check(k: usize, faults: Faults, default_seeds: u64) {
    let mut failed = Vec::new();
    let (mut acked, mut lost, mut failures) = (0, 0, 0);
    let mut worst = Duration::ZERO;
    let seeds = seeds(default_seeds);
    let progress = std::env::var("SIM_PROGRESS")
        .ok()
        .and_then(|s| s.parse::<usize>().ok());
    for (n, &seed) in seeds.iter().enumerate() {
        if let Some(every) = progress
            && n > 0
            && n % every.max(1) == 0
        {
            eprintln!(
                "sim: k={k} {faults:?}: {n} of {} seeds, {} failed so far",
                seeds.len(),
                failed.len()
            );
        }
        let o = run_seed(seed, k, faults);
        if std::env::var("SIM_EACH").is_ok() {
            println!(
                "seed {seed} k={k} {faults:?}: acked={} failures={} heal_ms={}",
                o.acked,
                o.failures,
                o.heal_to_converge.as_millis()
            );
        }
        acked += o.acked;
        lost += o.lost;
        failures += o.failures;
        worst = worst.max(o.heal_to_converge);
        if !o.converged || o.lost > 0 || !o.broken.is_empty() {
            eprintln!(
                "seed {seed} (k={k}, {faults:?}) failed: converged={} lost={} of {}, {:?}; rerun with SIM_SEED={seed}",
                o.converged, o.lost, o.acked, o.broken
            );
            failed.push(seed);
        }
    }
    println!(
        "k={k} faults={faults:?} seeds={} failed={failed:?} acked={acked} lost={lost} failures={failures} worst_heal_to_converge_ms={}",
        seeds.len(),
        worst.as_millis()
    );
    assert!(failed.is_empty(), "failing seeds: {failed:?}");
}

#[test]
fn three_nodes_converge_under_random_partitions() {
    check(3, Faults::Network, 100);
}

#[test]
fn five_nodes_converge_under_random_partitions() {
    check(5, Faults::Network, 100);
}

#[test]
fn three_nodes_converge_through_power_cuts_and_kills() {
    check(3, Faults::Machines, 100);
}

#[test]
fn five_nodes_converge_through_power_cuts_and_kills() {
    check(5, Faults::Machines, 100);
}

#[test]
fn three_nodes_converge_while_members_change_under_faults() {
    check(3, Faults::Members, 100);
}

#[test]
fn five_nodes_converge_while_members_change_under_faults() {
    check(5, Faults::Members, 100);
}

#[test]
fn a_seed_replays_exactly() {
    for faults in [Faults::Network, Faults::Machines, Faults::Members] {
        let (a, b) = (run_seed(7, 3, faults), run_seed(7, 3, faults));
        assert_eq!(a.acked, b.acked);
        assert_eq!(a.failures, b.failures);
        assert_eq!(a.heal_to_converge, b.heal_to_converge);
        assert_eq!(a.heads, b.heads);
        assert!(a.converged && a.acked > 0);
        assert_eq!(a.failures > 0, faults.machines());
    }
}

/// Presence crosses from one node to a partner only in the name of the
/// sending node's own people, only about documents both hold, and is never
/// passed on to a third node.
#[test]
fn presence_crosses_to_partners_only_as_their_own_peoples_about_shared_documents() {
    use kp_sync::repo_wire::Ephemeral;
    let repos: Vec<Repo> = (0..3).map(open).collect();
    let note = ChangeNote::new("sim", "setup");
    let member = |i: usize, role: &str| space::Member {
        node_id: node_id(i).to_string(),
        role: role.into(),
        institution: format!("node{i}"),
        ..Default::default()
    };
    // A space of nodes 0 and 1, and one of node 0 alone.
    let (shared, ()) = repos[0]
        .create_as(DocId::from_bytes([1; 16]), &note, |doc| {
            space::init(doc, "shared", 7, "", &member(0, "admin"), 0)?;
            space::add_member(doc, &node_id(0).to_string(), &member(1, "editor"), 0)
        })
        .expect("a space");
    let (alone, ()) = repos[0]
        .create_as(DocId::from_bytes([2; 16]), &note, |doc| {
            space::init(doc, "alone", 7, "", &member(0, "admin"), 0)
        })
        .expect("a space");
    let to_1 = Session::new(repos[0].clone(), node_id(0), node_id(1));
    let mut with_1 = driver::Sharing::new(&to_1);
    let from = |who: &str, doc: DocId| rp::Presence {
        doc: doc.to_string(),
        sender: format!("{who}/peer-1"),
        session: "s".into(),
        count: 1,
        data: vec![1, 2, 3],
    };
    // From partner 1: its own people's, about what both hold.
    let ok = with_1.received(&to_1, &from(&format!("bo@{}", node_id(1)), shared));
    assert_eq!(
        ok.map(|e| e.sender),
        Some(format!("bo@{}/peer-1", node_id(1)))
    );
    for (who, doc) in [
        (format!("bo@{}", node_id(2)), shared), // another node's person
        (format!("ana@{}", node_id(0)), shared), // this node's own person
        (format!("bo@{}", node_id(1)), alone),  // a space the partner is not in
        ("bo".to_string(), shared),             // no node at all
    ] {
        assert!(
            with_1.received(&to_1, &from(&who, doc)).is_none(),
            "{who} on {doc}"
        );
    }
    let huge = rp::Presence {
        data: vec![0; 64 * 1024],
        ..from(&format!("bo@{}", node_id(1)), shared)
    };
    assert!(with_1.received(&to_1, &huge).is_none());
    // To partner 1: this node's people's, about what both hold; a partner's
    // never goes on.
    let e = |who: String, doc: DocId| Ephemeral {
        sender: format!("{who}/peer-1"),
        doc: doc.to_string(),
        session: "s".into(),
        count: 1,
        data: vec![1],
    };
    assert!(
        with_1
            .frame(&to_1, &e(format!("ana@{}", node_id(0)), shared))
            .is_some()
    );
    assert!(
        with_1
            .frame(&to_1, &e(format!("ana@{}", node_id(0)), alone))
            .is_none()
    );
    let to_2 = Session::new(repos[0].clone(), node_id(0), node_id(2));
    assert!(
        driver::Sharing::new(&to_2)
            .frame(&to_2, &e(format!("bo@{}", node_id(1)), shared))
            .is_none()
    );
}
