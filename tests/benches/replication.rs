//! Benchmark: replication between partner nodes run in one process, each a
//! repository on its own sled store and a `Peers` with real mutual TLS on
//! 127.0.0.1, all on one tokio runtime.
//!
//! 1. Initial clone of 1,000 documents (comment-heavy drafts and a few drafts
//!    whose histories are prefixes of the editing trace) from A to a fresh B:
//!    wall time, and bytes on the wire against the sum of the documents'
//!    `save()` sizes. The same clone with samod (the Rust automerge-repo) over a
//!    local TCP stream, in the same run. Then the cost of checking signatures:
//!    the same clone to nodes that do not check them, against nodes that do.
//!    The clone again as the corpus grows (10, 100 and 1,000 comment-heavy
//!    drafts, each to a fresh node), beside samod on the same documents.
//! 2. Reconnect after a one-character edit in one of those documents: bytes
//!    exchanged, with 1,000 and with 10,000 documents.
//! 3. Edit-to-visible latency along A–B–C (A and C connect only through B): an
//!    edit made durably on A until C's store has it, on a small draft and on
//!    drafts of 1%, 10% and the whole of the 260k-change trace, against the raw
//!    in-process automerge chain (two generate/receive sync hops between three
//!    documents) for the latter.
//!
//! 4. Catch-up: a partner that was away comes back to 22 new drafts of 2 KB,
//!    then of 20 KB, then of 200 KB: the time until it holds them all, in MB/s
//!    of their text, against automerge loading the same documents from their
//!    `save()` in this process.
//!
//! Bytes on the wire are counted by a TCP relay between the two nodes (TLS,
//! HTTP/2 and gRPC framing included); the peer list's own counters (replication
//! frames only) are shown beside them.
//!
//! Run: `cargo bench -p kp-tests --bench replication`. `KP_BENCH_QUICK=1` runs
//! smaller sizes; `KP_BENCH_ONLY=clone,scaling,reconnect,latency,catchup` picks parts; `KP_LOG=info`
//! shows what the nodes log. The editing trace is read from `$KP_TRACE_DIR` or
//! `../shared/data/automerge-paper-trace/` beside the clone; without it the
//! long-history drafts and the 260k-change case are left out.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use automerge::sync::SyncDoc;
use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ROOT, ReadDoc};
use kp_core::identity::NodeKey;
use kp_core::ids::DocId;
use kp_daemon::config::PeerEntry;
use kp_daemon::peers::Peers;
use kp_model::draft::{self, Actor};
use kp_model::space::{self, Member};
use kp_repo::{ChangeNote, Repo, RepoConfig};
use kp_store::SledStore;
use kp_sync::Limits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::sync::{broadcast, watch};
use tokio_stream::StreamExt;

/// One edit of the trace: position, characters deleted, text inserted.
type Patch = (usize, isize, String);

/// How long any one phase may take before the benchmark gives up on it.
const PHASE_LIMIT: Duration = Duration::from_secs(600);

// ---------------------------------------------------------------------------
// Sizes

struct Sizes {
    quick: bool,
    /// Documents in the clone (the space included).
    docs: usize,
    /// Trace prefixes that become long-history drafts.
    long: Vec<usize>,
    /// Documents of the larger node in the reconnect case.
    many: usize,
    /// Edits timed on the small and on the big draft.
    edits_small: usize,
    edits_big: usize,
    /// Edits of the trace in the big draft (`None`: the whole trace).
    big_prefix: Option<usize>,
}

impl Sizes {
    fn from_env() -> Self {
        let quick = std::env::var("KP_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        if quick {
            Self {
                quick,
                docs: 200,
                long: vec![1_000, 5_000],
                many: 2_000,
                edits_small: 100,
                edits_big: 20,
                big_prefix: Some(30_000),
            }
        } else {
            Self {
                quick,
                docs: 1_000,
                long: vec![2_000, 5_000, 10_000, 20_000, 40_000, 80_000],
                many: 10_000,
                edits_small: 1_000,
                edits_big: 1_000,
                big_prefix: None,
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The editing trace

fn trace_path() -> PathBuf {
    let dir = std::env::var_os("KP_TRACE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../shared/data/automerge-paper-trace")
        });
    dir.join("automerge-paper.json.gz")
}

fn load_trace() -> Option<Vec<Patch>> {
    let file = std::fs::File::open(trace_path()).ok()?;
    let mut json = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut json)
        .ok()?;
    let v: serde_json::Value = serde_json::from_str(&json).ok()?;
    let mut patches = Vec::new();
    for txn in v["txns"].as_array()? {
        for p in txn["patches"].as_array()? {
            let pos = usize::try_from(p[0].as_u64()?).ok()?;
            let del = isize::try_from(p[1].as_i64()?).ok()?;
            let ins = p[2].as_str()?.to_owned();
            patches.push((pos, del, ins));
        }
    }
    Some(patches)
}

// ---------------------------------------------------------------------------
// Nodes

/// A node in this process: its key, its repository on a sled store in a
/// temporary directory, and (while connected) its partner sessions.
struct Node {
    name: String,
    id: String,
    key: NodeKey,
    repo: Repo,
    /// The peer list and the sender that stops it (kept: dropping it stops too).
    peers: Option<(Peers, watch::Sender<bool>)>,
    _dir: tempfile::TempDir,
}

impl Node {
    fn new(name: &str) -> Self {
        Self::checking(name, true)
    }

    /// A node that checks the signatures of what it takes in, or (only to
    /// measure what checking costs) does not.
    fn checking(name: &str, check_signatures: bool) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let key = NodeKey::generate(&dir.path().join("node.key")).expect("a node key");
        let store = SledStore::open(&dir.path().join("store"), 64 << 20).expect("a sled store");
        let cfg = RepoConfig {
            check_signatures,
            ..RepoConfig::default()
        };
        let repo = Repo::open(Arc::new(store), key.clone(), cfg).expect("a repository");
        Self {
            name: name.to_owned(),
            id: key.id().to_string(),
            key,
            repo,
            peers: None,
            _dir: dir,
        }
    }

    fn id(&self) -> String {
        self.id.clone()
    }

    fn member(&self) -> Member {
        Member {
            node_id: self.id(),
            role: "editor".into(),
            institution: self.name.clone(),
            ..Default::default()
        }
    }

    /// Starts partner sessions: `pinned` are (node id, address to dial or empty
    /// to only accept). With `listen`, accepts partners on an ephemeral loopback
    /// port and returns its address.
    fn connect(
        &mut self,
        rt: &Runtime,
        pinned: &[(String, String)],
        listen: bool,
    ) -> Option<String> {
        let (stop, stopped) = watch::channel(false);
        let entries: Vec<PeerEntry> = pinned
            .iter()
            .map(|(id, address)| PeerEntry {
                id: id.clone(),
                address: address.clone(),
            })
            .collect();
        let peers = Peers::new(
            self.key.clone(),
            self.name.clone(),
            &entries,
            self.repo.clone(),
            Limits::default(),
            stopped,
        )
        .expect("a peer list");
        let address = listen.then(|| {
            let listener = rt
                .block_on(TcpListener::bind("127.0.0.1:0"))
                .expect("a loopback port");
            let address = listener.local_addr().expect("its address").to_string();
            let serving = peers.clone();
            rt.spawn(async move { serving.serve(listener).await });
            address
        });
        {
            let _entered = rt.enter();
            peers.start();
        }
        self.peers = Some((peers, stop));
        address
    }

    /// Stops the partner sessions (as a node that shuts down does).
    fn disconnect(&mut self) {
        if let Some((_, stop)) = self.peers.take() {
            let _ = stop.send(true);
        }
    }

    /// Sessions open now with the peer `id`.
    fn sessions_with(&self, id: &str) -> u32 {
        self.peers.as_ref().map_or(0, |(p, _)| {
            p.list()
                .iter()
                .filter(|i| i.id.to_string() == id)
                .map(|i| i.sessions)
                .sum()
        })
    }

    /// Replication frame bytes in and out, over all peers.
    fn frame_bytes(&self) -> u64 {
        self.peers.as_ref().map_or(0, |(p, _)| {
            p.list().iter().map(|i| i.bytes_in + i.bytes_out).sum()
        })
    }

    fn actor(&self) -> Actor<'_> {
        Actor {
            author: "Bench",
            institution: &self.name,
            node_id: &self.id,
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.disconnect();
        // Sessions still running hold the repository: stop its committer before
        // its directory goes.
        self.repo.shutdown();
    }
}

fn wait_until(limit: Duration, what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Waits until the replication traffic of `nodes` has not changed for `quiet`.
fn settle(nodes: &[&Node], quiet: Duration) {
    let total = || nodes.iter().map(|n| n.frame_bytes()).sum::<u64>();
    let started = Instant::now();
    let mut last = total();
    let mut since = Instant::now();
    while since.elapsed() < quiet && started.elapsed() < PHASE_LIMIT {
        std::thread::sleep(Duration::from_millis(2));
        let now = total();
        if now != last {
            last = now;
            since = Instant::now();
        }
    }
}

fn same_heads(a: &[automerge::ChangeHash], b: &[automerge::ChangeHash]) -> bool {
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort();
    b.sort();
    a == b
}

/// Waits until `repo` has made durable every document of `want` at the heads
/// given; returns the documents still missing when `limit` ran out.
fn wait_heads(
    rt: &Runtime,
    repo: &Repo,
    durable: &mut broadcast::Receiver<Arc<Vec<DocId>>>,
    mut want: BTreeMap<DocId, Vec<automerge::ChangeHash>>,
    limit: Duration,
) -> usize {
    let has = |id: &DocId, heads: &[automerge::ChangeHash]| {
        repo.meta(id).is_some_and(|m| same_heads(&m.heads, heads))
    };
    want.retain(|id, heads| !has(id, heads));
    let deadline = Instant::now() + limit;
    while !want.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match rt.block_on(async { tokio::time::timeout(left, durable.recv()).await }) {
            Ok(Ok(ids)) => {
                for id in ids.iter() {
                    if want.get(id).is_some_and(|h| has(id, h)) {
                        want.remove(id);
                    }
                }
            }
            Ok(Err(broadcast::error::RecvError::Lagged(_))) => {
                want.retain(|id, heads| !has(id, heads));
            }
            Ok(Err(broadcast::error::RecvError::Closed)) | Err(_) => break,
        }
    }
    want.len()
}

// ---------------------------------------------------------------------------
// A relay that counts the bytes it carries

struct Meter {
    bytes: AtomicU64,
    /// Bumped to cut every connection open through the relay.
    cut: watch::Sender<u64>,
}

impl Meter {
    fn total(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Closes every connection through the relay, as the exit of the process
    /// at one end would.
    fn cut(&self) {
        self.cut.send_modify(|n| *n += 1);
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    meter: Arc<Meter>,
) {
    let mut cut = meter.cut.subscribe();
    let copy = async {
        let mut buf = vec![0u8; 64 << 10];
        loop {
            match from.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    meter.bytes.fetch_add(n as u64, Ordering::Relaxed);
                    if to.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::select! {
        () = copy => {}
        _ = cut.changed() => {}
    }
}

// ---------------------------------------------------------------------------
// Documents

fn note() -> ChangeNote {
    ChangeNote::new("Bench", "bench")
}

/// A space on `owner` with `others` as members.
fn make_space(owner: &Node, others: &[&Node]) -> DocId {
    let admin = Member {
        role: "admin".into(),
        ..owner.member()
    };
    let members: Vec<Member> = others.iter().map(|n| n.member()).collect();
    let (id, ()) = owner
        .repo
        .create(&note(), |doc| {
            space::init(
                doc,
                "Remittances WG",
                7,
                "Cost of sending money home",
                &admin,
                0,
            )?;
            for m in &members {
                space::add_member(doc, &admin.node_id, m, 0)?;
            }
            Ok(())
        })
        .expect("the space is created");
    id
}

fn small_body(i: usize) -> String {
    format!(
        "Working paper {i}. Remittances to developing countries reached 351 billion dollars \
in 2011, an 8 percent increase over 2010.\n\nFinding 1 of this paper: the global average \
cost of sending 200 dollars stood near 9 percent, far above the 3 percent target.\n\n\
Finding 2 of this paper: diaspora bonds raised funds for Israel and India at a discount.\n\n\
Finding 3 of this paper: migrants from Tajikistan sent home 47 percent of GDP.\n\n\
Finding 4 of this paper: remittances held steady through the 2009 downturn.\n"
    )
}

/// A comment-heavy draft: a short body, four comment threads with a reply
/// each, one change per comment and reply (as researchers make them).
fn make_small(node: &Node, space: &DocId, i: usize) -> DocId {
    let by = node.actor();
    let body = small_body(i);
    let (id, ()) = node
        .repo
        .create(&note(), |doc| {
            draft::init(
                doc,
                space,
                &format!("Working paper {i}"),
                kp_model::DraftType::WorkingPaper,
                &body,
                &by,
                0,
            )
        })
        .expect("a draft is created");
    let mut last = None;
    for k in 1..=4 {
        let quote = format!("Finding {k} of this paper");
        // Rounds complete in order: waiting for the last change's covers these.
        node.repo
            .change(&id, &note(), |doc| {
                draft::add_comment(
                    doc,
                    &format!("c{k}"),
                    &quote,
                    "Which source? RPW Q3 2011?",
                    &by,
                    0,
                )
                .map(|_| ())
            })
            .expect("a comment is added");
        let cid = format!("c{k}");
        let ((), ticket) = node
            .repo
            .change(&id, &note(), |doc| {
                draft::reply(
                    doc,
                    &cid,
                    "The World Bank's Remittance Prices Worldwide.",
                    &by,
                    0,
                )
                .map(|_| ())
            })
            .expect("a reply is added");
        last = Some(ticket);
    }
    if let Some(t) = last {
        node.repo.wait(t).expect("the comments are durable");
    }
    id
}

fn body_of(repo: &Repo, id: &DocId) -> ObjId {
    repo.read(id, |doc| match doc.get(ROOT, "body") {
        Ok(Some((_, obj))) => Some(obj),
        _ => None,
    })
    .ok()
    .flatten()
    .expect("a draft has a body")
}

/// A draft whose body is written by the first `n` edits of the trace, one
/// change per edit.
fn make_long(node: &Node, space: &DocId, patches: &[Patch]) -> DocId {
    let by = node.actor();
    let (id, ()) = node
        .repo
        .create(&note(), |doc| {
            draft::init(
                doc,
                space,
                &format!("Trace of {} edits", patches.len()),
                kp_model::DraftType::WorkingPaper,
                "",
                &by,
                0,
            )
        })
        .expect("a draft is created");
    let body = body_of(&node.repo, &id);
    let mut last = None;
    for (pos, del, ins) in patches {
        let ((), ticket) = node
            .repo
            .change(&id, &note(), |doc| {
                Ok(doc.splice_text(&body, *pos, *del, ins)?)
            })
            .expect("a trace edit applies");
        last = Some(ticket);
    }
    if let Some(t) = last {
        node.repo.wait(t).expect("the trace is durable");
    }
    id
}

/// Fills `node` with one space (members `others`), `small` comment-heavy
/// drafts and one long-history draft per trace prefix. Returns the space and
/// every document.
fn populate(node: &Node, others: &[&Node], small: usize, long: &[&[Patch]]) -> (DocId, Vec<DocId>) {
    let space = make_space(node, others);
    let threads = 8;
    let mut docs = vec![space];
    std::thread::scope(|s| {
        let mut handles = Vec::new();
        for t in 0..threads {
            handles.push(s.spawn(move || {
                (t..small)
                    .step_by(threads)
                    .map(|i| make_small(node, &space, i))
                    .collect::<Vec<_>>()
            }));
        }
        for p in long {
            handles.push(s.spawn(move || vec![make_long(node, &space, p)]));
        }
        for h in handles {
            docs.extend(h.join().expect("a populating thread"));
        }
    });
    (space, docs)
}

/// Compacts every document of `docs` into a snapshot, from several threads so
/// that the snapshots share commit rounds.
fn compact_all(repo: &Repo, docs: &[DocId]) {
    let threads = 16;
    std::thread::scope(|s| {
        for t in 0..threads {
            s.spawn(move || {
                for id in docs.iter().skip(t).step_by(threads) {
                    repo.compact(id).expect("compaction");
                }
            });
        }
    });
}

/// Each document's `save()` as the repository holds it, and their sum.
fn saves(repo: &Repo, docs: &[DocId]) -> (Vec<Vec<u8>>, u64) {
    let saved: Vec<Vec<u8>> = docs
        .iter()
        .map(|id| repo.saved(id).expect("saved").expect("durable").document)
        .collect();
    let sum = saved.iter().map(|s| s.len() as u64).sum();
    (saved, sum)
}

fn heads_of(repo: &Repo, docs: &[DocId]) -> BTreeMap<DocId, Vec<automerge::ChangeHash>> {
    docs.iter()
        .map(|id| {
            let meta = repo.meta(id).expect("the document is listed");
            (*id, meta.heads.clone())
        })
        .collect()
}

// ---------------------------------------------------------------------------
// 1. Initial clone

struct CloneRun {
    wall: Duration,
    wire: u64,
    frames: u64,
    missing: usize,
}

/// Clones every document of `a` (listening on `address`) to `b`, which holds
/// none of them or only their space, through a counting relay; gives up after
/// `limit`.
fn clone_kp(
    rt: &Runtime,
    (a, address): (&Node, &str),
    b: &mut Node,
    docs: &[DocId],
    limit: Duration,
) -> (CloneRun, String, Arc<Meter>) {
    let (relayed, meter) = relay(rt.handle(), address.to_owned());
    let want = heads_of(&a.repo, docs);
    let mut durable = b.repo.subscribe();
    let t = Instant::now();
    b.connect(rt, &[(a.id(), relayed.clone())], false);
    let missing = wait_heads(rt, &b.repo, &mut durable, want, limit);
    let wall = t.elapsed();
    settle(&[a, b], Duration::from_millis(300));
    let clone = CloneRun {
        wall,
        wire: meter.total(),
        frames: b.frame_bytes(),
        missing,
    };
    (clone, relayed, meter)
}

/// The same clone with samod: A holds the documents (the same `save()`s) in
/// its filesystem storage and accepts on a loopback port; a fresh B dials it
/// through a counting relay and finds every document.
fn clone_samod(rt: &Runtime, saved: &[Vec<u8>]) -> CloneRun {
    use samod::storage::TokioFilesystemStorage;
    let dir = tempfile::tempdir().expect("a temporary directory");
    rt.block_on(async {
        let a = samod::Repo::build_tokio()
            .with_storage(TokioFilesystemStorage::new(dir.path().join("a")))
            .with_peer_id(samod::PeerId::from("a"))
            .load()
            .await;
        let mut want = Vec::new();
        for bytes in saved {
            let doc = automerge::Automerge::load(bytes).expect("a saved document loads");
            let heads = doc.get_heads();
            let handle = a.create(doc).await.expect("samod creates the document");
            want.push((handle.document_id().clone(), heads));
        }
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let address = listener.local_addr().expect("its address").to_string();
        let acceptor = a
            .make_acceptor(samod::Url::parse(&format!("tcp://{address}")).expect("a url"))
            .expect("an acceptor");
        tokio::spawn(async move {
            while let Ok((io, _)) = listener.accept().await {
                let _ = io.set_nodelay(true);
                if acceptor.accept_tokio_io(io).is_err() {
                    break;
                }
            }
        });
        let (relayed, meter) = relay(&tokio::runtime::Handle::current(), address);
        let b = samod::Repo::build_tokio()
            .with_storage(TokioFilesystemStorage::new(dir.path().join("b")))
            .with_peer_id(samod::PeerId::from("b"))
            .load()
            .await;
        let t = Instant::now();
        let dialer = b
            .dial_tcp(
                samod::Url::parse(&format!("tcp://{relayed}")).expect("a url"),
                samod::BackoffConfig::default(),
            )
            .expect("a dialer");
        dialer.established().await.expect("B connects to A");
        let mut tasks = tokio::task::JoinSet::new();
        for (id, heads) in want {
            let b = b.clone();
            tasks.spawn(async move {
                let Ok(Some(handle)) = b.find(id).await else {
                    return false;
                };
                let mut changes = handle.changes();
                loop {
                    if handle.with_document(|d| d.get_heads()) == heads {
                        return true;
                    }
                    if changes.next().await.is_none() {
                        return false;
                    }
                }
            });
        }
        let mut missing = 0;
        let deadline = tokio::time::Instant::now() + PHASE_LIMIT;
        while let Ok(Some(done)) = tokio::time::timeout_at(deadline, tasks.join_next()).await {
            if !matches!(done, Ok(true)) {
                missing += 1;
            }
        }
        missing += tasks.len();
        let wall = t.elapsed();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let wire = meter.total();
        dialer.close();
        b.stop().await;
        a.stop().await;
        CloneRun {
            wall,
            wire,
            frames: 0,
            missing,
        }
    })
}

/// A TCP relay to `target` on a loopback port; returns its address and the
/// count of bytes it carried both ways.
fn relay(handle: &tokio::runtime::Handle, target: String) -> (String, Arc<Meter>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    listener
        .set_nonblocking(true)
        .expect("a non-blocking socket");
    let address = listener.local_addr().expect("its address").to_string();
    let meter = Arc::new(Meter {
        bytes: AtomicU64::new(0),
        cut: watch::channel(0).0,
    });
    let counting = Arc::clone(&meter);
    handle.spawn(async move {
        let Ok(listener) = TcpListener::from_std(listener) else {
            return;
        };
        while let Ok((inbound, _)) = listener.accept().await {
            let Ok(outbound) = TcpStream::connect(&target).await else {
                continue;
            };
            let _ = inbound.set_nodelay(true);
            let _ = outbound.set_nodelay(true);
            let (ir, iw) = inbound.into_split();
            let (or, ow) = outbound.into_split();
            tokio::spawn(pump(ir, ow, Arc::clone(&counting)));
            tokio::spawn(pump(or, iw, Arc::clone(&counting)));
        }
    });
    (address, meter)
}

// ---------------------------------------------------------------------------
// 2. Reconnect after a one-character edit

struct Reconnect {
    wire: u64,
    frames: u64,
    wall: Duration,
}

/// B (connected to A through `relayed`, holding A's `docs`) disconnects; A
/// inserts one character into `edited`; B reconnects. Counts what that moves.
fn reconnect(
    rt: &Runtime,
    a: &Node,
    b: &mut Node,
    (relayed, meter): (&str, &Meter),
    docs: &[DocId],
    edited: &DocId,
) -> Reconnect {
    // Both nodes at rest: every document compacted (which idle nodes do, and
    // which would otherwise happen during the measurement).
    compact_all(&a.repo, docs);
    compact_all(&b.repo, docs);
    settle(&[a, b], Duration::from_millis(500));
    b.disconnect();
    // In one process the stopped node's connection lingers; a node that exits
    // closes its sockets.
    meter.cut();
    let b_id = b.id();
    wait_until(Duration::from_secs(120), "A to see B leave", || {
        a.sessions_with(&b_id) == 0
    });
    let body = body_of(&a.repo, edited);
    a.repo
        .change_durably(
            edited,
            &note(),
            |doc| Ok(doc.splice_text(&body, 0, 0, "*")?),
        )
        .expect("the edit applies");
    let want = heads_of(&a.repo, &[*edited]);
    let mut durable = b.repo.subscribe();
    let before = meter.total();
    let t = Instant::now();
    b.connect(rt, &[(a.id(), relayed.to_owned())], false);
    let missing = wait_heads(rt, &b.repo, &mut durable, want, Duration::from_secs(60));
    assert_eq!(missing, 0, "the edit did not reach B after reconnecting");
    let wall = t.elapsed();
    settle(&[a, b], Duration::from_millis(500));
    Reconnect {
        wire: meter.total() - before,
        frames: b.frame_bytes(),
        wall,
    }
}

/// A node of `many` documents and a partner that already holds them all (as
/// after a clone), connected once; then [`reconnect`].
fn reconnect_many(rt: &Runtime, many: usize, long: &[&[Patch]]) -> Reconnect {
    let mut a = Node::new("Institute A");
    let mut b = Node::new("Institute B");
    let (_, docs) = populate(&a, &[&b], many.saturating_sub(1 + long.len()), long);
    // B takes every document whole, as a clone does, without the network.
    std::thread::scope(|s| {
        for t in 0..8 {
            let (a, b, docs) = (&a, &b, &docs);
            s.spawn(move || {
                let mut last = None;
                for id in docs.iter().skip(t).step_by(8) {
                    let kp_repo::Saved {
                        document: bytes,
                        signed,
                        ..
                    } = a.repo.saved(id).expect("saved").expect("durable");
                    last = Some(
                        b.repo
                            .import(id, &bytes, &signed, &|_, _| Ok(()))
                            .expect("imported")
                            .0,
                    );
                }
                if let Some(t) = last {
                    b.repo.wait(t.ticket).expect("durable");
                }
            });
        }
    });
    let address = a
        .connect(rt, &[(b.id(), String::new())], true)
        .expect("A listens");
    let (relayed, meter) = relay(rt.handle(), address);
    b.connect(rt, &[(a.id(), relayed.clone())], false);
    let a_id = a.id();
    wait_until(Duration::from_secs(30), "B to connect", || {
        b.sessions_with(&a_id) > 0
    });
    let edited = docs[docs.len() / 2];
    let r = reconnect(rt, &a, &mut b, (&relayed, &meter), &docs, &edited);
    b.disconnect();
    a.disconnect();
    r
}

// ---------------------------------------------------------------------------
// 3. Edit-to-visible latency along A–B–C

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Where the i-th timed edit goes in a text of `len` characters.
fn position(i: usize, len: usize) -> usize {
    (i * 7919) % len.max(1)
}

/// Times `edits` single-character edits made durably on A until C's store has
/// them (after `warm` untimed ones), waiting `quiet` of silence between edits.
fn chain_kp(
    rt: &Runtime,
    (a, b, c): (&Node, &Node, &Node),
    id: &DocId,
    warm: usize,
    edits: usize,
    quiet: Duration,
) -> Vec<Duration> {
    let body = body_of(&a.repo, id);
    let mut durable = c.repo.subscribe();
    let mut times = Vec::with_capacity(edits);
    for i in 0..warm + edits {
        let len = a.repo.read(id, |d| d.length(&body)).expect("readable");
        let pos = position(i, len);
        while durable.try_recv().is_ok() {}
        let t = Instant::now();
        a.repo
            .change_durably(id, &note(), |doc| Ok(doc.splice_text(&body, pos, 0, "x")?))
            .expect("the edit applies");
        let heads = a.repo.read(id, |d| d.get_heads()).expect("readable");
        let missing = wait_heads(
            rt,
            &c.repo,
            &mut durable,
            BTreeMap::from([(*id, heads)]),
            Duration::from_secs(60),
        );
        assert_eq!(missing, 0, "edit {i} did not reach C");
        if i >= warm {
            times.push(t.elapsed());
        }
        settle(&[a, b, c], quiet);
    }
    times.sort();
    times
}

/// Syncs two documents until neither has anything to say.
fn sync_pair(
    x: &mut AutoCommit,
    sx: &mut automerge::sync::State,
    y: &mut AutoCommit,
    sy: &mut automerge::sync::State,
) {
    loop {
        let mut quiet = true;
        if let Some(m) = x.sync().generate_sync_message(sx) {
            y.sync()
                .receive_sync_message(sy, m)
                .expect("a sync message applies");
            quiet = false;
        }
        if let Some(m) = y.sync().generate_sync_message(sy) {
            x.sync()
                .receive_sync_message(sx, m)
                .expect("a sync message applies");
            quiet = false;
        }
        if quiet {
            return;
        }
    }
}

/// The same edits in raw automerge: three documents in memory, an edit on the
/// first, then two generate/receive hops to the third (acknowledgements are
/// exchanged after the clock stops).
fn chain_raw(saved: &[u8], warm: usize, edits: usize) -> Vec<Duration> {
    let load = || AutoCommit::load(saved).expect("the draft loads");
    let (mut a, mut b, mut c) = (load(), load(), load());
    let body = match a.get(ROOT, "body") {
        Ok(Some((_, obj))) => obj,
        _ => panic!("a draft has a body"),
    };
    use automerge::sync::State;
    let (mut ab, mut ba, mut bc, mut cb) = (State::new(), State::new(), State::new(), State::new());
    sync_pair(&mut a, &mut ab, &mut b, &mut ba);
    sync_pair(&mut b, &mut bc, &mut c, &mut cb);
    let mut times = Vec::with_capacity(edits);
    for i in 0..warm + edits {
        let pos = position(i, a.length(&body));
        let t = Instant::now();
        a.splice_text(&body, pos, 0, "x").expect("the edit applies");
        a.commit();
        let m = a
            .sync()
            .generate_sync_message(&mut ab)
            .expect("a message to B");
        b.sync()
            .receive_sync_message(&mut ba, m)
            .expect("B takes it");
        let m = b
            .sync()
            .generate_sync_message(&mut bc)
            .expect("a message to C");
        c.sync()
            .receive_sync_message(&mut cb, m)
            .expect("C takes it");
        let elapsed = t.elapsed();
        assert_eq!(c.get_heads(), a.get_heads(), "edit {i} did not reach C");
        if i >= warm {
            times.push(elapsed);
        }
        sync_pair(&mut a, &mut ab, &mut b, &mut ba);
        sync_pair(&mut b, &mut bc, &mut c, &mut cb);
    }
    times.sort();
    times
}

// ---------------------------------------------------------------------------

fn kib(bytes: u64) -> f64 {
    bytes as f64 / 1024.0
}

fn main() {
    // `KP_LOG=info` (or debug) shows what the nodes log.
    if let Ok(filter) = std::env::var("KP_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .try_init();
    }
    let sizes = Sizes::from_env();
    let trace = load_trace();
    if trace.is_none() {
        eprintln!(
            "replication: no trace at {}; set KP_TRACE_DIR to the automerge-paper-trace folder \
(shared/data in the steering repo, or josephg/editing-traces). Long-history drafts and the \
260k-change case are left out.",
            trace_path().display()
        );
    }
    let patches: &[Patch] = trace.as_deref().unwrap_or(&[]);
    let long: Vec<&[Patch]> = if patches.is_empty() {
        Vec::new()
    } else {
        sizes
            .long
            .iter()
            .map(|&n| &patches[..n.min(patches.len())])
            .collect()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    println!(
        "replication: {} run{}",
        if sizes.quick {
            "QUICK (KP_BENCH_QUICK=1, reduced sizes)"
        } else {
            "full"
        },
        if sizes.quick {
            "; figures are not comparable with the aims"
        } else {
            ""
        }
    );

    let only = std::env::var("KP_BENCH_ONLY").unwrap_or_default();
    let runs = |phase: &str| only.is_empty() || only.split(',').any(|p| p.trim() == phase);
    if runs("clone") {
        clone_phase(&rt, &sizes, &long);
    }
    if runs("scaling") {
        let counts: &[usize] = if sizes.quick {
            &[10, 100]
        } else {
            &[10, 100, 1_000]
        };
        clone_scaling(&rt, counts);
    }
    if runs("reconnect") {
        let many = reconnect_many(&rt, sizes.many, &long);
        print_reconnect(sizes.many, &many);
    }
    if runs("latency") {
        latency_phase(&rt, &sizes, trace.as_deref());
    }
    if runs("catchup") {
        catchup_phase(&rt, if sizes.quick { 4 } else { 22 });
    }
}

/// A draft's text of about `bytes`, different for each `seed`.
fn long_body(bytes: usize, seed: usize) -> String {
    let mut out = String::with_capacity(bytes + 200);
    let mut i = 0;
    while out.len() < bytes {
        out.push_str(&small_body(seed * 100_000 + i));
        i += 1;
    }
    out
}

/// Part 4: a partner that was away comes back to `n` new drafts, of 2 KB,
/// then (away again) of 20 KB, then of 200 KB: the cost as the text grows
/// 1×, 10× and 100×.
fn catchup_phase(rt: &Runtime, n: usize) {
    let mut a = Node::new("Institute A");
    let mut b = Node::new("Institute B");
    let space = make_space(&a, &[&b]);
    let hub = a
        .connect(rt, &[(b.id(), String::new())], true)
        .expect("A listens");
    b.connect(rt, &[(a.id(), hub.clone())], false);
    let mut durable = b.repo.subscribe();
    let missing = wait_heads(
        rt,
        &b.repo,
        &mut durable,
        heads_of(&a.repo, &[space]),
        Duration::from_secs(60),
    );
    assert_eq!(missing, 0, "the space did not reach B");
    let by = a.actor();
    for (round, size) in [2_000, 20_000, 200_000].into_iter().enumerate() {
        b.disconnect();
        wait_until(Duration::from_secs(30), "B's sessions to end", || {
            a.sessions_with(&b.id()) == 0
        });
        catch_up(rt, (&a, &hub), &mut b, (&space, &by), (n, size, round));
    }
    a.disconnect();
    b.disconnect();
}

/// One catch-up of [`catchup_phase`]: `n` drafts of `size` bytes made on A
/// while B is away, then B reconnects.
fn catch_up(
    rt: &Runtime,
    (a, hub): (&Node, &str),
    b: &mut Node,
    (space, by): (&DocId, &Actor<'_>),
    (n, size, round): (usize, usize, usize),
) {
    let mut durable = b.repo.subscribe();
    let mut text = 0;
    let docs: Vec<DocId> = (0..n)
        .map(|i| {
            let body = long_body(size, round * 1_000 + i);
            text += body.len();
            a.repo
                .create(&note(), |doc| {
                    draft::init(
                        doc,
                        space,
                        &format!("Paper {round}.{i}"),
                        kp_model::DraftType::WorkingPaper,
                        &body,
                        by,
                        0,
                    )
                })
                .expect("a draft is created")
                .0
        })
        .collect();
    let want = heads_of(&a.repo, &docs);
    let (saved, save_sum) = saves(&a.repo, &docs);
    while durable.try_recv().is_ok() {}
    let t = Instant::now();
    b.connect(rt, &[(a.id(), hub.to_owned())], false);
    let missing = wait_heads(rt, &b.repo, &mut durable, want, PHASE_LIMIT);
    let took = t.elapsed();
    assert_eq!(missing, 0, "the drafts did not reach B");
    let t = Instant::now();
    for s in &saved {
        std::hint::black_box(AutoCommit::load(s).expect("a saved document loads"));
    }
    let floor = t.elapsed();
    let mb = text as f64 / 1e6;
    println!(
        "  4. catch-up on {n} drafts of {:>3} KB ({mb:>4.2} MB of text, {:>5.0} KiB saved): {:>6.3} s, {:>4.1} MB/s; \
automerge loading the same documents: {:>6.3} s, {:>4.1} MB/s; {:.2}x (aim: 20 MB/s)",
        size / 1000,
        kib(save_sum),
        took.as_secs_f64(),
        mb / took.as_secs_f64(),
        floor.as_secs_f64(),
        mb / floor.as_secs_f64(),
        took.as_secs_f64() / floor.as_secs_f64(),
    );
}

fn print_reconnect(n: usize, r: &Reconnect) {
    println!(
        "  2. reconnect after a 1-char edit, {n:>6} docs: wire {:>8.1} KiB, frames {:>8.1} KiB, {:>6.0} ms (aim < 10 KiB, flat in the number of documents)",
        kib(r.wire),
        kib(r.frames),
        ms(r.wall)
    );
}

/// 1. The initial clone, then 2. a reconnect on the same nodes.
fn clone_phase(rt: &Runtime, sizes: &Sizes, long: &[&[Patch]]) {
    // 1. Initial clone.
    let a = Node::new("Institute A");
    let mut fresh = Node::new("Institute B");
    let mut b = Node::new("Institute B'");
    // Clones that do not check signatures, and one more that does, to measure
    // what checking costs in the same run.
    let mut unchecked = [
        Node::checking("Institute U1", false),
        Node::checking("Institute U2", false),
    ];
    let mut checked = Node::new("Institute C2");
    let t = Instant::now();
    let small = sizes.docs.saturating_sub(1 + long.len());
    let (space, docs) = populate(
        &a,
        &[&fresh, &b, &unchecked[0], &unchecked[1], &checked],
        small,
        long,
    );
    // A node that has been running a while: every document compacted.
    compact_all(&a.repo, &docs);
    let (saved, save_sum) = saves(&a.repo, &docs);
    println!(
        "  corpus: {} documents (1 space, {small} comment-heavy drafts, {} drafts of {:?} trace edits); \
sum of save() {:.0} KiB; written in {:.1} s",
        docs.len(),
        long.len(),
        long.iter().map(|p| p.len()).collect::<Vec<_>>(),
        kib(save_sum),
        t.elapsed().as_secs_f64()
    );
    let mut a = a;
    let address = a
        .connect(
            rt,
            &[
                (fresh.id(), String::new()),
                (b.id(), String::new()),
                (unchecked[0].id(), String::new()),
                (unchecked[1].id(), String::new()),
                (checked.id(), String::new()),
            ],
            true,
        )
        .expect("A listens");
    let clone_line = |what: &str, r: &CloneRun| {
        println!(
            "  1. clone, kp, {what:<34} {:>7.2} s   wire {:>8.0} KiB = {:.2}x save() (aim <= 1.3x); frames {:.2}x{}",
            r.wall.as_secs_f64(),
            kib(r.wire),
            r.wire as f64 / save_sum as f64,
            r.frames as f64 / save_sum as f64,
            if r.missing > 0 {
                format!("; {} DOCUMENTS STILL MISSING, gave up", r.missing)
            } else {
                String::new()
            },
        );
    };
    // As a partner joining the space meets it: nothing held.
    let (cold, _, _) = clone_kp(
        rt,
        (&a, &address),
        &mut fresh,
        &docs,
        Duration::from_secs(if sizes.quick { 30 } else { 120 }),
    );
    clone_line("to a node holding nothing:", &cold);
    fresh.disconnect();
    drop(fresh);
    // The cost of checking signatures: the same clone without checking, twice,
    // and once more with it (the best of each).
    let limit = Duration::from_secs(if sizes.quick { 30 } else { 120 });
    let mut plain = Vec::new();
    for node in &mut unchecked {
        let (run, _, _) = clone_kp(rt, (&a, &address), node, &docs, limit);
        node.disconnect();
        plain.push(run.wall);
    }
    let (again, _, _) = clone_kp(rt, (&a, &address), &mut checked, &docs, limit);
    checked.disconnect();
    let with = cold.wall.min(again.wall);
    let without = plain.iter().min().copied().unwrap_or_default();
    println!(
        "     clone with signatures checked {:.2} s (best of {:.2} s, {:.2} s) vs not checked {:.2} s (best of {:.2} s, {:.2} s): {:.2}x (aim <= 1.3x)",
        with.as_secs_f64(),
        cold.wall.as_secs_f64(),
        again.wall.as_secs_f64(),
        without.as_secs_f64(),
        plain[0].as_secs_f64(),
        plain[1].as_secs_f64(),
        with.as_secs_f64() / without.as_secs_f64().max(1e-9),
    );
    drop(unchecked);
    drop(checked);
    // The same, with the space document already there.
    let kp_repo::Saved {
        document: bytes,
        signed,
        ..
    } = a.repo.saved(&space).expect("saved").expect("durable");
    let (ticket, _) = b
        .repo
        .import(&space, &bytes, &signed, &|_, _| Ok(()))
        .expect("imported");
    b.repo.wait(ticket.ticket).expect("durable");
    let (kp, relayed, meter) = clone_kp(rt, (&a, &address), &mut b, &docs, PHASE_LIMIT);
    clone_line("to a node holding only the space:", &kp);
    let sm = clone_samod(rt, &saved);
    println!(
        "     clone, samod, to a node holding nothing:      {:>7.2} s   wire {:>8.0} KiB = {:.2}x save(){}",
        sm.wall.as_secs_f64(),
        kib(sm.wire),
        sm.wire as f64 / save_sum as f64,
        if sm.missing > 0 {
            format!("; {} DOCUMENTS MISSING", sm.missing)
        } else {
            String::new()
        },
    );
    let ratio = |r: &CloneRun| {
        if r.missing > 0 {
            "n/a (did not complete)".to_owned()
        } else {
            format!("{:.2}x", r.wall.as_secs_f64() / sm.wall.as_secs_f64())
        }
    };
    println!(
        "     kp / samod wall time: {} holding nothing, {} holding the space (aim <= 1.0x)",
        ratio(&cold),
        ratio(&kp),
    );

    // 2. Reconnect after a one-character edit, on the nodes of the clone.
    let edited = docs[docs.len() / 2];
    let few = reconnect(rt, &a, &mut b, (&relayed, &meter), &docs, &edited);
    print_reconnect(sizes.docs, &few);
}

/// 1b. The clone as the corpus grows: `counts` comment-heavy drafts (and
/// their space), each to a fresh node, against samod on the same documents.
fn clone_scaling(rt: &Runtime, counts: &[usize]) {
    for &n in counts {
        let mut a = Node::new("Institute A");
        let mut b = Node::new("Institute B");
        let (_, docs) = populate(&a, &[&b], n, &[]);
        compact_all(&a.repo, &docs);
        let (saved, save_sum) = saves(&a.repo, &docs);
        let address = a
            .connect(rt, &[(b.id(), String::new())], true)
            .expect("A listens");
        let (kp, _, _) = clone_kp(rt, (&a, &address), &mut b, &docs, PHASE_LIMIT);
        assert_eq!(kp.missing, 0, "the clone of {n} drafts did not complete");
        let sm = clone_samod(rt, &saved);
        assert_eq!(
            sm.missing, 0,
            "samod's clone of {n} drafts did not complete"
        );
        println!(
            "  1b. clone of {:>5} documents ({:>5.0} KiB of save()): kp {:>6.3} s, {:>6.2} ms a document; samod {:>6.3} s; {:.2}x samod's time; wire {:.2}x save()",
            docs.len(),
            kib(save_sum),
            kp.wall.as_secs_f64(),
            kp.wall.as_secs_f64() * 1e3 / docs.len() as f64,
            sm.wall.as_secs_f64(),
            kp.wall.as_secs_f64() / sm.wall.as_secs_f64(),
            kp.wire as f64 / save_sum as f64,
        );
        b.disconnect();
        a.disconnect();
    }
}

/// 3. Edit-to-visible latency along A–B–C.
fn latency_phase(rt: &Runtime, sizes: &Sizes, trace: Option<&[Patch]>) {
    let mut a = Node::new("Institute A");
    let mut b = Node::new("Institute B");
    let mut c = Node::new("Institute C");
    let space = make_space(&a, &[&b, &c]);
    let hub = b
        .connect(
            rt,
            &[(a.id(), String::new()), (c.id(), String::new())],
            true,
        )
        .expect("B listens");
    a.connect(rt, &[(b.id(), hub.clone())], false);
    c.connect(rt, &[(b.id(), hub)], false);
    let mut durable = c.repo.subscribe();
    let missing = wait_heads(
        rt,
        &c.repo,
        &mut durable,
        heads_of(&a.repo, &[space]),
        Duration::from_secs(60),
    );
    assert_eq!(missing, 0, "the space did not reach C");
    // Drafts are made once the space is everywhere, and go out live.
    let small_id = make_small(&a, &space, 0);
    // The long drafts: 1%, 10% and the whole of the trace (or of its
    // prefix), how the chain's cost grows with a draft's history.
    let big: Vec<(DocId, usize)> = trace.map_or_else(Vec::new, |p| {
        let n = sizes.big_prefix.unwrap_or(p.len()).min(p.len());
        [n / 100, n / 10, n]
            .into_iter()
            .map(|k| (make_long(&a, &space, &p[..k]), k))
            .collect()
    });
    let mut docs = vec![small_id];
    docs.extend(big.iter().map(|(id, _)| *id));
    let missing = wait_heads(
        rt,
        &c.repo,
        &mut durable,
        heads_of(&a.repo, &docs),
        PHASE_LIMIT,
    );
    assert_eq!(missing, 0, "the drafts did not reach C");
    drop(durable);
    let warm = 3;
    let small_times = chain_kp(
        rt,
        (&a, &b, &c),
        &small_id,
        warm,
        sizes.edits_small,
        Duration::from_millis(30),
    );
    println!(
        "  3. edit-to-visible A->B->C, small draft, {} edits: p50 {:.2} ms (aim < 2 ms), p99 {:.2} ms (aim <= 6 ms)",
        sizes.edits_small,
        ms(percentile(&small_times, 0.5)),
        ms(percentile(&small_times, 0.99)),
    );
    for (big_id, n) in big {
        let big_times = chain_kp(
            rt,
            (&a, &b, &c),
            &big_id,
            warm,
            sizes.edits_big,
            Duration::from_millis(200),
        );
        let kp_repo::Saved {
            document: saved, ..
        } = a.repo.saved(&big_id).expect("saved").expect("durable");
        let raw = chain_raw(&saved, warm, sizes.edits_big);
        let (kp50, kp99) = (percentile(&big_times, 0.5), percentile(&big_times, 0.99));
        let (raw50, raw99) = (percentile(&raw, 0.5), percentile(&raw, 0.99));
        println!(
            "     edit-to-visible A->B->C, {n}-change draft, {} edits: kp p50 {:.1} ms, p99 {:.1} ms; raw automerge chain p50 {:.1} ms, p99 {:.1} ms",
            sizes.edits_big,
            ms(kp50),
            ms(kp99),
            ms(raw50),
            ms(raw99),
        );
        println!(
            "     kp / raw: p50 {:.2}x, p99 {:.2}x (aim <= 1.1x)",
            ms(kp50) / ms(raw50),
            ms(kp99) / ms(raw99),
        );
    }
    a.disconnect();
    b.disconnect();
    c.disconnect();
}
