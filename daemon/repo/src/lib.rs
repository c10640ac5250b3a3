//! The document repository: automerge documents over a [`Store`], with a bounded
//! cache of loaded documents, a metadata index for listings, group commit, and
//! compaction of change logs into snapshots.
//!
//! How a document lives in the store: one `save()` snapshot plus a log of
//! incremental chunks written since, each a `save_after(durable heads)`. Loading
//! is `load(snapshot)` then `load_incremental` of each chunk. When the log outgrows
//! the snapshot, the committer writes a fresh snapshot, which empties the log.
//!
//! The index entry of a document (kind, space, title, status, updated time, heads)
//! is kept in memory and written to the store when a listed field changes, on
//! compaction, when the node is idle, at most every few seconds while it is busy,
//! and at shutdown. After a crash, entries whose stored sizes do not match the
//! document's files are refreshed from the documents in the background.
//!
//! How an edit becomes durable: the edit is applied to the loaded document under
//! its lock and the document is marked dirty. One committer thread takes all dirty
//! documents as a round, writes their new chunks and index entries in one batch,
//! and [`Store::commit`]s it (which fsyncs). Every edit gets a [`Ticket`] naming
//! the round that will carry it; [`Repo::wait`] returns once that round is
//! durable. Many edits share one fsync (group commit).

pub mod memo;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use std::borrow::Cow;

use automerge::transaction::CommitOptions;
use automerge::{ActorId, AutoCommit, AutomergeError, ChangeHash};
use serde::{Deserialize, Serialize};

use kp_core::authorship::{self, Attestation, Link, Tips};
use kp_core::identity::{NodeId, NodeKey};
use kp_core::ids::{DocId, actor_id, parse_actor};
use kp_model::{self as model, DocKind};
use kp_store::{DocSizes, DocWrite, Entries, Keyspace, Op, Store, StoreError};

/// Tuning of the repository.
#[derive(Debug, Clone)]
pub struct RepoConfig {
    /// Loaded documents kept in memory (documents with unsaved changes are kept
    /// regardless).
    pub cache_docs: usize,
    /// A log is compacted into a snapshot once it is larger than this many bytes
    /// and larger than [`RepoConfig::compact_factor`] times the snapshot.
    pub compact_min_bytes: u64,
    /// See [`RepoConfig::compact_min_bytes`].
    pub compact_factor: u64,
    /// After this long without edits, the committer compacts loaded documents
    /// that still have a log.
    pub idle_compact: Duration,
    /// Rounds of writes start at most this often: edits arriving meanwhile share
    /// one fsync. Longer windows cost acknowledgement latency, shorter ones cost
    /// fsyncs (and their interrupts) under a stream of edits.
    pub group_commit_window: Duration,
    /// The time recorded in each change, in Unix seconds (a fixed clock makes
    /// simulations replay exactly).
    pub clock: fn() -> i64,
    /// Start a round only when someone waits for one ([`Repo::wait`], every
    /// durable edit, a compaction) or at shutdown, and encode every change in
    /// the round: what each round holds then follows the order of the calls
    /// alone, not the committer thread's timing, so a simulation whose disks
    /// fail at a counted write replays exactly. A node never sets it (changes
    /// nobody waits for would wait for the next round someone does).
    pub rounds_on_demand: bool,
    /// Check the signatures of peers' changes ([`kp_core::authorship`]). A node
    /// always does; the replication benchmark turns it off to measure its cost
    /// (feature `test-support`, which no node is built with).
    #[cfg(feature = "test-support")]
    pub check_signatures: bool,
}

impl RepoConfig {
    /// Whether peers' signatures are checked: always, but in a benchmark that
    /// measures what the check costs.
    fn checks_signatures(&self) -> bool {
        #[cfg(feature = "test-support")]
        return self.check_signatures;
        #[cfg(not(feature = "test-support"))]
        true
    }
}

impl Default for RepoConfig {
    fn default() -> Self {
        Self {
            cache_docs: 256,
            compact_min_bytes: 1 << 20,
            compact_factor: 16,
            idle_compact: Duration::from_secs(2),
            group_commit_window: Duration::from_millis(2),
            clock: now_secs,
            rounds_on_demand: false,
            #[cfg(feature = "test-support")]
            check_signatures: true,
        }
    }
}

/// What can go wrong in the repository.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RepoError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No document has that id on this node.
    #[error("no document {0} on this node")]
    NotFound(DocId),
    /// The stored bytes of a document do not load.
    #[error("document {id} is damaged in the store: {source}")]
    Corrupt {
        /// The document.
        id: DocId,
        /// What automerge said.
        source: Box<AutomergeError>,
    },
    /// The index names a document whose bytes are not in the store.
    #[error("document {0} is listed but its data is missing from the store")]
    Missing(DocId),
    /// The edit was refused; nothing was changed.
    #[error(transparent)]
    Model(#[from] model::ModelError),
    /// A document with that id exists already; nothing was created.
    #[error("a document {0} exists already on this node")]
    Exists(DocId),
    /// The edit failed inside the node (a bug); it was rolled back.
    #[error("the edit failed inside the node and was rolled back; see the node's log")]
    Internal,
    /// A round of writes failed, so the edit is not known to be durable. The edit
    /// stays in memory and is retried with the next round.
    #[error("the store could not make the edit durable: {0}")]
    NotDurable(String),
    /// The stored incarnation counter is unreadable.
    #[error(
        "the store's incarnation counter is damaged; refusing to start rather than reuse change numbers"
    )]
    BadIncarnation,
    /// The repository is shutting down.
    #[error("the node is shutting down")]
    ShuttingDown,
}

/// The metadata index entry of a document: enough for listings, kept in the
/// store beside the document and in memory.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DocMeta {
    /// What sort of document.
    pub kind: DocKind,
    /// The space it belongs to (none for a space itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub space: Option<String>,
    /// Title (drafts, datasets) or name (spaces).
    pub title: String,
    /// Draft status; empty for other kinds.
    #[serde(default)]
    pub status: Cow<'static, str>,
    /// Draft type; empty for other kinds.
    #[serde(default)]
    pub subtype: Cow<'static, str>,
    /// Unix seconds of creation.
    pub created_at: i64,
    /// Unix seconds of the last durable change.
    pub updated_at: i64,
    /// Heads at the last durable write (hex in the store).
    pub heads: Vec<ChangeHash>,
    /// Stored sizes of the document's snapshot and log.
    #[serde(default)]
    pub sizes: DocSizes,
}

/// A whole document for a peer that has nothing of it (see [`Repo::saved`]).
#[derive(Debug, Clone)]
pub struct Saved {
    /// The document as `save()` wrote it.
    pub document: Vec<u8>,
    /// Its heads.
    pub heads: Vec<automerge::ChangeHash>,
    /// The signatures of its actors' tips.
    pub signed: Vec<Attestation>,
    /// How many changes it holds.
    pub changes: usize,
}

/// What a peer's sync message or whole document did here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Taken {
    /// The round that stores what was new (see [`Repo::wait`]).
    pub ticket: Ticket,
    /// How many changes it added (none when all were held already).
    pub changes: usize,
}

/// A sync message for a peer, and the signatures that go with it.
pub type Outgoing = (Vec<u8>, Vec<Attestation>);

/// A document as [`Repo::check`] found it in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    /// Its changes.
    pub changes: usize,
    /// Changes no verified signature covers.
    pub unproven: usize,
}

/// One change of a document, as `kp doc blame` shows it.
#[derive(Debug, Clone)]
pub struct Blame {
    /// The change.
    pub hash: ChangeHash,
    /// Its actor.
    pub actor: ActorId,
    /// The node its actor id names (`None`: an actor of another shape).
    pub node: Option<NodeId>,
    /// Its sequence number among its actor's changes.
    pub seq: u64,
    /// When it was made (Unix seconds, as its author's clock said).
    pub time: i64,
    /// Who made it and why.
    pub note: ChangeNote,
    /// Operations it holds.
    pub ops: u64,
    /// A signature of its node, checked now, covers it.
    pub verified: bool,
}

/// A check of a document as it would be after a peer's changes, given those
/// changes (every change, for a document new to this node); an error refuses
/// them.
pub type Accept<'a> = dyn Fn(&mut AutoCommit, &[Link]) -> Result<(), model::ModelError> + 'a;

/// This node's signatures vouching for the changes a client adds (given
/// those changes, and who earlier signatures held here say their actors
/// are), or why it refuses them.
pub type Vouch<'a> = dyn Fn(
        &[Link],
        &HashMap<ActorId, authorship::Voucher>,
    ) -> Result<Vec<Attestation>, model::ModelError>
    + 'a;

/// What proves the changes a sync message adds.
#[derive(Clone, Copy)]
enum Proof<'a> {
    /// Signatures that came with it (a partner's).
    Given(&'a [Attestation]),
    /// Made here for a client.
    Vouch(&'a Vouch<'a>),
}

impl<'a> Proof<'a> {
    /// The signatures: those given, or those `made` for a client.
    fn signed(self, made: &'a [Attestation]) -> &'a [Attestation] {
        match self {
            Proof::Given(signed) => signed,
            Proof::Vouch(_) => made,
        }
    }
}

impl DocMeta {
    /// Takes the listed fields from `summary`; true if any of them changed.
    fn apply(&mut self, summary: model::Summary) -> bool {
        let changed = self.kind != summary.kind
            || self.space != summary.space
            || self.title != summary.title
            || self.status != summary.status
            || self.subtype != summary.subtype;
        self.kind = summary.kind;
        self.space = summary.space;
        self.title = summary.title;
        self.status = word(summary.status);
        self.subtype = word(summary.subtype);
        changed
    }

    /// Keeps the status and type as their vocabularies' own words.
    fn share_words(&mut self) {
        self.status = word(std::mem::take(&mut self.status).into_owned());
        self.subtype = word(std::mem::take(&mut self.subtype).into_owned());
        // JSON gives no length ahead: trim what parsing reserved.
        self.heads.shrink_to_fit();
    }
}

/// A word of a closed vocabulary (a draft's status or type) as the index keeps
/// it: the vocabulary's own text when it is one of its words, so that 100,000
/// entries do not hold 200,000 copies of a dozen words; any other word (one a
/// newer node wrote) as it came.
fn word(w: String) -> Cow<'static, str> {
    model::Status::WORDS
        .iter()
        .chain(model::DraftType::WORDS)
        .find(|k| **k == w)
        .map_or(Cow::Owned(w), |k| Cow::Borrowed(*k))
}

/// A promise of durability: the commit round that will carry an edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ticket(u64);

/// Who makes a change and why; recorded in the change's message.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChangeNote {
    /// The researcher's name.
    pub author: String,
    /// What the change does, in a few words.
    pub what: String,
    /// The heads of the document's space this node held (durably) when the
    /// change was made, in hex: every node judges the author's role in the
    /// space as it was at those heads, so a member's edit made before it
    /// learned of a change of its role is judged alike everywhere
    /// ([`kp_core::authorship::cited_space`]). Filled in by the repository
    /// for every document that names a space.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub space: Vec<String>,
}

impl ChangeNote {
    /// A note by `author` saying `what`.
    pub fn new(author: impl Into<String>, what: impl Into<String>) -> Self {
        Self {
            author: author.into(),
            what: what.into(),
            space: Vec::new(),
        }
    }

    /// Reads a change message written by [`ChangeNote`]; other messages become the
    /// note's `what` with no author.
    pub fn parse(message: Option<&str>) -> Self {
        match message {
            Some(m) => serde_json::from_str(m).unwrap_or_else(|_| Self::new("", m)),
            None => Self::new("", ""),
        }
    }
}

struct Loaded {
    doc: AutoCommit,
    /// Each actor's latest change, worked out when first needed.
    tips: Option<Tips>,
    /// Signatures of other nodes' tips held in the document's log (taken in
    /// since its last snapshot); older ones are in the store's `a/` keys.
    signed: HashMap<ChangeHash, Attestation>,
}

impl Loaded {
    fn new(doc: AutoCommit) -> Self {
        Self {
            doc,
            tips: None,
            signed: HashMap::new(),
        }
    }

    fn tips(&mut self) -> &Tips {
        let doc = &mut self.doc;
        self.tips.get_or_insert_with(|| {
            let mut tips = Tips::new();
            for m in doc.get_changes_meta(&[]) {
                authorship::note_tip(&mut tips, &m.actor, m.seq, m.hash);
            }
            tips
        })
    }

    /// The signatures of the actors' tips that `want` picks (see
    /// [`Inner::signature`]).
    fn signatures(
        &mut self,
        inner: &Inner,
        id: &DocId,
        mut want: impl FnMut(&ChangeHash) -> bool,
    ) -> Vec<Attestation> {
        self.tips();
        let Some(tips) = &self.tips else {
            return Vec::new();
        };
        tips.iter()
            .filter(|(_, (_, hash))| want(hash))
            .filter_map(|(actor, (seq, hash))| {
                inner.signature(id, &self.signed, actor, *seq, *hash)
            })
            .collect()
    }

    /// Who the signatures held for the tips of the actors `want` picks say
    /// they are: the vouchers of clients' actors (see [`Inner::signature`]).
    fn vouchers(
        &mut self,
        inner: &Inner,
        id: &DocId,
        want: impl Fn(&ActorId) -> bool,
    ) -> HashMap<ActorId, authorship::Voucher> {
        let tips: Vec<(ActorId, u64, ChangeHash)> = self
            .tips()
            .iter()
            .filter(|(a, _)| want(a))
            .map(|(a, (seq, h))| (a.clone(), *seq, *h))
            .collect();
        tips.into_iter()
            .filter_map(|(a, seq, h)| {
                let v = inner.signature(id, &self.signed, &a, seq, h)?.voucher?;
                Some((a, v))
            })
            .collect()
    }

    /// Notes changes that just came in (or were made here).
    fn note(&mut self, links: &[Link]) {
        if let Some(tips) = &mut self.tips {
            for l in links {
                authorship::note_tip(tips, &l.actor, l.seq, l.hash);
            }
        }
    }

    /// Notes a change made here.
    fn note_local(&mut self, actor: &ActorId, hash: ChangeHash) {
        if let Some(tips) = &mut self.tips {
            let seq = tips.get(actor).map_or(1, |t| t.0 + 1);
            authorship::note_tip(tips, actor, seq, hash);
        }
    }

    /// Encodes the changes made since `out.encoded` into `out`.
    fn encode(&mut self, out: &mut Encoded) {
        let heads = self.doc.get_heads();
        if heads != out.encoded {
            let chunk = self.doc.save_after(&out.encoded);
            out.bytes.extend_from_slice(&chunk);
            out.encoded = heads;
        }
        out.summary = Some(model::summarize(&self.doc));
    }
}

/// A document's changes on their way to the store, kept apart from the document
/// so that the committer can take them without the document's lock.
#[derive(Default)]
struct Encoded {
    /// Heads of what is in the store.
    durable: Vec<ChangeHash>,
    /// Heads of what is in the store or in `bytes`.
    encoded: Vec<ChangeHash>,
    /// Incremental chunks encoded but not yet in the store.
    bytes: Vec<u8>,
    /// Signatures of other nodes' changes in `bytes` (or already applied),
    /// not yet in the store, as entries of a signature record: written in the
    /// log before the changes.
    signed: Vec<u8>,
    /// The index fields as of `encoded`.
    summary: Option<model::Summary>,
}

/// A loaded document and the handshake by which the committer asks the thread
/// that is editing it to encode its new changes.
///
/// Encoding a round's changes (`save_after`) costs a few microseconds per
/// change and needs the document's lock. While someone types, the committer
/// taking that lock from the other core stalls them and bounces the document's
/// memory between caches; so it raises `wanted`, and the editing thread encodes
/// on its next change, under the lock it already holds. When nobody is editing,
/// the committer encodes itself.
struct DocSlot {
    loaded: Mutex<Loaded>,
    encoded: Mutex<Encoded>,
    wanted: std::sync::atomic::AtomicBool,
    /// Microseconds since the repository opened, at the last local change.
    last_change: std::sync::atomic::AtomicU64,
}

impl DocSlot {
    /// A slot for `doc`, whose stored copy has heads `durable`.
    fn new(doc: AutoCommit, durable: Vec<ChangeHash>) -> Self {
        Self {
            loaded: Mutex::new(Loaded::new(doc)),
            encoded: Mutex::new(Encoded {
                encoded: durable.clone(),
                durable,
                ..Encoded::default()
            }),
            wanted: std::sync::atomic::AtomicBool::new(false),
            last_change: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

type Slot = Arc<DocSlot>;

/// What a round records for a document once its writes are durable.
struct Written {
    meta: DocMeta,
    heads: Vec<ChangeHash>,
    /// Write the index entry now.
    persist: bool,
    /// Bytes of the encoded changes that the writes carried.
    drain: usize,
    /// Bytes of the encoded signatures that the writes carried.
    drain_signed: usize,
}

/// How long the committer waits for an active editor to encode its changes.
const ENCODE_HANDOFF: Duration = Duration::from_millis(2);

#[derive(Default)]
struct Cache {
    slots: HashMap<DocId, (Slot, u64)>,
    tick: u64,
}

#[derive(Default)]
struct CommitState {
    /// Documents with unwritten changes, and whether to compact them.
    dirty: BTreeMap<DocId, bool>,
    started: u64,
    completed: u64,
    /// The latest round someone waits for.
    asked: u64,
    failed: Option<(u64, String)>,
    /// The committer is waiting for work (so an edit must wake it).
    idle: bool,
    shutdown: bool,
    stopped: bool,
}

/// Verified signatures that came with changes still waiting for a dependency,
/// and those changes, until they apply (bounded per document, and in the
/// number of documents).
#[derive(Default, Clone)]
struct Waiting {
    /// By change and actor (a peer's signature of someone else's change must
    /// not crowd out the genuine one).
    signed: HashMap<(ChangeHash, ActorId), Attestation>,
    links: HashMap<ChangeHash, Link>,
}

/// At most this many waiting signatures, and changes, per document.
const WAITING_MAX: usize = 4096;
/// At most this many documents with waiting changes.
const WAITING_DOCS: usize = 256;

/// Where the signatures of other nodes' changes are kept once the document's
/// log is compacted into a snapshot: the key of the latest change of each of
/// their actors in a document. Until then they are records of the log.
fn signed_key(id: &DocId, hash: &ChangeHash) -> Vec<u8> {
    [&b"a/"[..], id.as_bytes(), &hash.0].concat()
}

/// A log record of signatures starts with these bytes (an automerge chunk
/// starts with its own magic bytes, 85 6f 4a 83), then holds entries: the
/// change hash, the length of the rest as two bytes (big-endian), then
/// [`Attestation::to_stored`] — whose length varies with a voucher.
const SIGNED_RECORD: &[u8; 8] = b"kpsig/2\n";
/// The records of earlier versions: entries of the hash and a stored form of
/// fixed length for its actor (no vouchers then). Still read.
const SIGNED_RECORD_V1: &[u8; 8] = b"kpsig/1\n";

fn signed_entry(att: &Attestation, seq: u64, out: &mut Vec<u8>) {
    let stored = att.to_stored(seq);
    out.extend_from_slice(&att.hash.0);
    out.extend_from_slice(
        &u16::try_from(stored.len())
            .unwrap_or(u16::MAX)
            .to_be_bytes(),
    );
    out.extend_from_slice(&stored);
}

/// The entries of a signature record, up to the first malformed one.
fn signed_entries(mut rest: &[u8]) -> Vec<Attestation> {
    let mut out = Vec::new();
    while rest.len() > 34 {
        let Ok(hash) = <[u8; 32]>::try_from(&rest[..32]) else {
            break;
        };
        let len = usize::from(u16::from_be_bytes([rest[32], rest[33]]));
        let Some(entry) = rest.get(34..34 + len) else {
            break;
        };
        match Attestation::from_stored(ChangeHash(hash), entry) {
            Some((att, _)) => out.push(att),
            None => break,
        }
        rest = &rest[34 + len..];
    }
    out
}

/// [`signed_entries`] of a record written by an earlier version.
fn signed_entries_v1(mut rest: &[u8]) -> Vec<Attestation> {
    let mut out = Vec::new();
    while rest.len() > 33 {
        let Ok(hash) = <[u8; 32]>::try_from(&rest[..32]) else {
            break;
        };
        let len = 1 + usize::from(rest[32]) + 8 + authorship::SIGNATURE_LEN;
        let Some(entry) = rest.get(32..32 + len) else {
            break;
        };
        match Attestation::from_stored(ChangeHash(hash), entry) {
            Some((att, _)) => out.push(att),
            None => break,
        }
        rest = &rest[32 + len..];
    }
    out
}

struct Inner {
    store: Arc<dyn Store>,
    node: NodeId,
    key: NodeKey,
    waiting: Mutex<HashMap<DocId, Waiting>>,
    incarnation: u64,
    actor: ActorId,
    cfg: RepoConfig,
    cache: Mutex<Cache>,
    index: RwLock<BTreeMap<DocId, Arc<DocMeta>>>,
    /// Documents whose index entry in the store lags the one in memory.
    stale: Mutex<BTreeSet<DocId>>,
    commit: Mutex<CommitState>,
    /// Wakes the committer.
    work: Condvar,
    /// Wakes waiters of a round.
    done: Condvar,
    committer_thread: std::sync::OnceLock<std::thread::Thread>,
    opened: std::time::Instant,
    /// Documents whose new changes just became durable, for the partner sessions.
    durable_tx: tokio::sync::broadcast::Sender<Arc<Vec<DocId>>>,
    /// Rounds that wrote, and how long their durable writes took.
    rounds: RoundStats,
}

/// Upper bounds (seconds) of the buckets of a round's durable writes.
pub const ROUND_BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

#[derive(Debug, Default)]
struct RoundStats {
    count: std::sync::atomic::AtomicU64,
    nanos: std::sync::atomic::AtomicU64,
    /// Rounds at most each of [`ROUND_BUCKETS`] (not cumulative).
    buckets: [std::sync::atomic::AtomicU64; ROUND_BUCKETS.len()],
}

impl RoundStats {
    fn record(&self, took: std::time::Duration) {
        use std::sync::atomic::Ordering::Relaxed;
        self.count.fetch_add(1, Relaxed);
        self.nanos
            .fetch_add(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX), Relaxed);
        let secs = took.as_secs_f64();
        if let Some(i) = ROUND_BUCKETS.iter().position(|b| secs <= *b) {
            self.buckets[i].fetch_add(1, Relaxed);
        }
    }
}

/// The committer's rounds so far: how many wrote something, and how long
/// their durable writes (index commit and document fsyncs) took.
#[derive(Debug, Clone, PartialEq)]
pub struct Rounds {
    /// Rounds that wrote.
    pub count: u64,
    /// Their total time, in seconds.
    pub seconds: f64,
    /// For each of [`ROUND_BUCKETS`], the rounds that took at most that long
    /// and longer than the bound before (rounds over the last bound are in
    /// `count` only).
    pub buckets: Vec<(f64, u64)>,
}

/// The document repository. Cheap to clone; all clones share one state.
#[derive(Clone)]
pub struct Repo {
    inner: Arc<Inner>,
    committer: Arc<Mutex<Option<JoinHandle<()>>>>,
    /// The refresh of lagging index entries after a start.
    reconciler: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl std::fmt::Debug for Repo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repo")
            .field("node", &self.inner.node)
            .field("incarnation", &self.inner.incarnation)
            .finish_non_exhaustive()
    }
}

const INCARNATION_KEY: &[u8] = b"incarnation";

/// Documents compacted per idle tick, so that an edit arriving meanwhile waits
/// for a few snapshots at most.
const IDLE_COMPACTIONS: usize = 16;

/// While the node is busy, lagging index entries are written at least this often.
const INDEX_FLUSH_INTERVAL: Duration = Duration::from_secs(5);
/// Rounds tried again while stopping before the committer gives up on a store
/// that keeps failing.
const SHUTDOWN_TRIES: u32 = 3;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks is a bug; carrying on with the
    // state it left is still better than taking the whole node down.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Unix seconds now.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Hex strings of heads, as the index stores them and users see them.
pub fn heads_hex(heads: &[ChangeHash]) -> Vec<String> {
    heads.iter().map(|h| h.to_string()).collect()
}

/// Makes the next [`Repo::open`] on `store` use an incarnation above
/// `at_least` (a node restored from a backup takes one its original never
/// reached, so no (actor, sequence) pair is used twice).
pub fn reserve_incarnation(store: &dyn Store, at_least: u64) -> Result<(), RepoError> {
    let now = match store.get(Keyspace::Meta, INCARNATION_KEY)? {
        Some(v) => <[u8; 8]>::try_from(v.as_slice())
            .map(u64::from_be_bytes)
            .map_err(|_| RepoError::BadIncarnation)?,
        None => 0,
    };
    store.commit(vec![Op::Put(
        Keyspace::Meta,
        INCARNATION_KEY.to_vec(),
        now.max(at_least).to_be_bytes().to_vec(),
    )])?;
    Ok(())
}

impl Repo {
    /// Opens the repository on `store` for node `node`: makes a new incarnation
    /// durable (before anything else is written), loads the index, and starts the
    /// committer thread.
    pub fn open(store: Arc<dyn Store>, key: NodeKey, cfg: RepoConfig) -> Result<Self, RepoError> {
        let node = key.id();
        let incarnation = match store.get(Keyspace::Meta, INCARNATION_KEY)? {
            Some(v) => match <[u8; 8]>::try_from(v.as_slice()) {
                Ok(b) => u64::from_be_bytes(b) + 1,
                // Guessing could reuse an (actor, seq) pair: refuse instead.
                Err(_) => return Err(RepoError::BadIncarnation),
            },
            None => 1,
        };
        store.commit(vec![Op::Put(
            Keyspace::Meta,
            INCARNATION_KEY.to_vec(),
            incarnation.to_be_bytes().to_vec(),
        )])?;
        // Collected in key order and built in one go: a map built by inserting
        // keys in order leaves every node half full.
        let mut index = Vec::new();
        store.visit_prefix(Keyspace::Index, b"", &mut |key, value| {
            let Ok(bytes) = <[u8; 16]>::try_from(key) else {
                tracing::warn!("skipping an index entry with a malformed key");
                return;
            };
            match serde_json::from_slice::<DocMeta>(value) {
                Ok(mut meta) => {
                    meta.share_words();
                    index.push((DocId::from_bytes(bytes), Arc::new(meta)));
                }
                Err(e) => {
                    tracing::warn!(doc = %DocId::from_bytes(bytes), "unreadable index entry: {e}")
                }
            }
        })?;
        let inner = Arc::new(Inner {
            store,
            node,
            key,
            waiting: Mutex::new(HashMap::new()),
            incarnation,
            actor: actor_id(&node, incarnation),
            cfg,
            cache: Mutex::new(Cache::default()),
            index: RwLock::new(BTreeMap::from_iter(index)),
            stale: Mutex::new(BTreeSet::new()),
            commit: Mutex::new(CommitState::default()),
            work: Condvar::new(),
            done: Condvar::new(),
            committer_thread: std::sync::OnceLock::new(),
            opened: std::time::Instant::now(),
            durable_tx: tokio::sync::broadcast::channel(1024).0,
            rounds: RoundStats::default(),
        });
        let worker = Arc::clone(&inner);
        let handle = std::thread::Builder::new()
            .name("kp-committer".into())
            .spawn(move || {
                let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    worker.run_committer()
                }));
                if run.is_err() {
                    // Waiters must not wait forever for rounds that will never come.
                    tracing::error!("the committer thread failed; the node accepts no more edits");
                    let mut st = lock(&worker.commit);
                    st.failed = Some((u64::MAX, "the node's committer failed; restart kpd".into()));
                    st.stopped = true;
                    worker.done.notify_all();
                }
            })
            .map_err(|source| StoreError::Io {
                context: "starting the committer thread".into(),
                source,
            })?;
        // After an unclean stop some index entries lag their documents; refresh
        // them without holding up edits.
        let reconciler = Arc::clone(&inner);
        let reconciler = std::thread::Builder::new()
            .name("kp-reconcile".into())
            .spawn(move || reconciler.reconcile())
            .ok();
        Ok(Self {
            inner,
            committer: Arc::new(Mutex::new(Some(handle))),
            reconciler: Arc::new(Mutex::new(reconciler)),
        })
    }

    /// Waits until the index entries that lagged their documents at the start
    /// (after an unclean stop) are refreshed. Edits need not wait for it; a
    /// simulation does, so that what the committer decides from the index
    /// (when to compact) follows the seed alone.
    pub fn wait_refreshed(&self) {
        if let Some(handle) = lock(&self.reconciler).take() {
            let _ = handle.join();
        }
    }

    /// This process's incarnation number.
    pub fn incarnation(&self) -> u64 {
        self.inner.incarnation
    }

    /// The actor id of this node in this process.
    pub fn actor(&self) -> &ActorId {
        &self.inner.actor
    }

    /// The node this repository belongs to.
    pub fn node(&self) -> NodeId {
        self.inner.node
    }

    /// Documents whose changes became durable, round by round. A receiver that
    /// lags behind loses rounds (and is told so); it should then resync.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<Vec<DocId>>> {
        self.inner.durable_tx.subscribe()
    }

    /// Runs `f` on the document only if everything in it is durable, after waiting
    /// for changes on their way to disk; `None` if it changed again meanwhile (the
    /// round that stores that change will prompt the caller again). This is how
    /// nothing leaves the node before it is durable.
    fn when_durable<T>(
        &self,
        id: &DocId,
        f: impl FnOnce(&mut Loaded) -> T,
    ) -> Result<Option<T>, RepoError> {
        let ticket = self.inner.pending(id);
        self.wait(ticket)?;
        let slot = self.inner.slot(id)?;
        let mut loaded = lock(&slot.loaded);
        let heads = loaded.doc.get_heads();
        if lock(&slot.encoded).durable != heads {
            return Ok(None);
        }
        Ok(Some(f(&mut loaded)))
    }

    /// The next automerge sync message for a peer, or `None` when there is
    /// nothing to say (or nothing durable to say yet), with the signatures of
    /// the actors' tips it sends that `attested` (what this peer was given in
    /// this session) does not hold yet; they are added to it.
    pub fn sync_message(
        &self,
        id: &DocId,
        state: &mut automerge::sync::State,
        attested: &mut std::collections::HashSet<ChangeHash>,
    ) -> Result<Option<Outgoing>, RepoError> {
        use automerge::sync::SyncDoc;
        let message = self.when_durable(id, |loaded| {
            let sent = state.sent_hashes.len();
            let message = loaded.doc.sync().generate_sync_message(state)?;
            let mut signed = Vec::new();
            if state.sent_hashes.len() != sent {
                // The changes sent are those the peer lacks and everything
                // built on them (automerge's rule), so an actor's tip is among
                // them whenever any of its changes is.
                signed = loaded.signatures(&self.inner, id, |hash| {
                    state.sent_hashes.contains(hash) && attested.insert(*hash)
                });
            }
            Some((message.encode(), signed))
        })?;
        Ok(message.flatten())
    }

    /// The whole document (`save()`) for a peer that has nothing of it, with its
    /// heads and the signatures of its actors' tips; only durable state, as for
    /// [`Repo::sync_message`].
    pub fn saved(&self, id: &DocId) -> Result<Option<Saved>, RepoError> {
        self.when_durable(id, |loaded| {
            let signed = loaded.signatures(&self.inner, id, |_| true);
            // Each actor's changes are numbered from 1 without a gap.
            let changes = loaded.tips().values().map(|(seq, _)| *seq as usize).sum();
            Saved {
                document: loaded.doc.save(),
                heads: loaded.doc.get_heads(),
                signed,
                changes,
            }
        })
    }

    /// Reads a document as the store holds it (not the loaded copy): fails
    /// with what is damaged (a checksum, a change that does not load) and
    /// otherwise says how many changes it has and how many no verified
    /// signature covers.
    pub fn check(&self, id: &DocId) -> Result<Checked, RepoError> {
        let (mut doc, _) = self.inner.load(id)?;
        let stored = doc.get_changes_meta(&[]).len();
        let unproven = self
            .changes(id, true)?
            .iter()
            .filter(|b| !b.verified)
            .count();
        Ok(Checked {
            changes: stored,
            unproven,
        })
    }

    /// Every change of a document with who made it and whether a signature of
    /// its node, checked now, covers it (this node's own changes are signed
    /// now, as when they are sent).
    pub fn blame(&self, id: &DocId) -> Result<Vec<Blame>, RepoError> {
        self.changes(id, true)
    }

    /// Every change of a document, in causal order; signatures are checked
    /// only with `verify` (otherwise none is `verified`).
    pub fn changes(&self, id: &DocId, verify: bool) -> Result<Vec<Blame>, RepoError> {
        let slot = self.inner.slot(id)?;
        let mut loaded = lock(&slot.loaded);
        let signed = if verify {
            loaded.signatures(&self.inner, id, |_| true)
        } else {
            Vec::new()
        };
        // Clients' actors: the node and person their signatures name (read
        // unverified; `verified` below says whether they hold).
        let vouched = if verify {
            signed
                .iter()
                .filter_map(|a| Some((a.actor.clone(), a.voucher.clone()?)))
                .collect()
        } else {
            loaded.vouchers(&self.inner, id, |a| parse_actor(a).is_none())
        };
        let metas = loaded.doc.get_changes_meta(&[]);
        let proven = if verify {
            let links: Vec<Link> = metas.iter().map(Link::from_meta).collect();
            authorship::proven_each(&links, &signed)
        } else {
            vec![false; metas.len()]
        };
        Ok(metas
            .iter()
            .zip(proven)
            .map(|(m, verified)| Blame {
                hash: m.hash,
                actor: m.actor.clone().into_owned(),
                // A client's change is credited to the person its node
                // vouched for, whatever its message says.
                node: vouched
                    .get(m.actor.as_ref())
                    .map_or_else(|| parse_actor(&m.actor).map(|(n, _)| n), |v| Some(v.node)),
                note: vouched.get(m.actor.as_ref()).map_or_else(
                    || ChangeNote::parse(m.message.as_deref()),
                    |v| ChangeNote::new(v.person.clone(), "edit (web)"),
                ),
                seq: m.seq,
                time: m.timestamp,
                ops: (m.max_op + 1).saturating_sub(m.start_op),
                verified,
            })
            .collect())
    }

    /// Applies sync messages from a peer, in order, with the signatures that
    /// came with them. What they add must be proven by signatures
    /// ([`kp_core::authorship`]) and pass `accept`, which sees the document as it
    /// would be after them; otherwise nothing changes (they are undone). Returns the
    /// ticket of the round that stores what was new, and how many changes that
    /// is.
    ///
    /// Several messages are applied as one: the changes of all but the last go in
    /// with one `load_incremental`, then the last message is received. Applying
    /// changes costs time in proportion to the document's history, so a burst of
    /// messages about one long document costs about as much as one.
    pub fn sync_receive(
        &self,
        id: &DocId,
        state: &mut automerge::sync::State,
        messages: &[&[u8]],
        signed: &[Attestation],
        accept: Option<&Accept<'_>>,
    ) -> Result<Taken, RepoError> {
        self.receive(id, state, messages, Proof::Given(signed), accept)
    }

    /// [`Repo::sync_receive`] for a message from a client of this node: the
    /// signatures that prove its changes are made by `vouch` from the changes
    /// it adds (this node vouching for its client), or it refuses them.
    pub fn sync_receive_vouched(
        &self,
        id: &DocId,
        state: &mut automerge::sync::State,
        message: &[u8],
        vouch: &Vouch<'_>,
        accept: &Accept<'_>,
    ) -> Result<Ticket, RepoError> {
        self.receive(id, state, &[message], Proof::Vouch(vouch), Some(accept))
            .map(|t| t.ticket)
    }

    fn receive(
        &self,
        id: &DocId,
        state: &mut automerge::sync::State,
        messages: &[&[u8]],
        proof: Proof<'_>,
        accept: Option<&Accept<'_>>,
    ) -> Result<Taken, RepoError> {
        use automerge::sync::SyncDoc;
        let decode = |m: &&[u8]| {
            automerge::sync::Message::decode(m)
                .map_err(|e| model::ModelError::invalid(format!("not a sync message: {e}")))
        };
        let mut decoded = messages.iter().map(decode).collect::<Result<Vec<_>, _>>()?;
        // The changes the messages carry, some of which may wait for a
        // dependency: read again from the messages only if needed (rarely).
        let carried = || -> Vec<Link> {
            messages
                .iter()
                .filter_map(|m| decode(m).ok())
                .flat_map(|m| {
                    m.changes
                        .iter()
                        .flat_map(authorship::links_in)
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        let Some(last) = decoded.pop() else {
            return Ok(Taken {
                ticket: self.inner.pending(id),
                changes: 0,
            });
        };
        let earlier: Vec<u8> = decoded
            .iter()
            .flat_map(|m| m.changes.iter().flatten().copied())
            .collect();
        let slot = self.inner.slot(id)?;
        let mut loaded = lock(&slot.loaded);
        let before = loaded.doc.get_heads();
        let carries = !earlier.is_empty() || !last.changes.is_empty();
        // What the messages add is applied to the document itself and undone
        // if it is refused. Undoing rebuilds the document at `before`, in time
        // proportional to its history, but a refusal is rare (a forged change,
        // a role its author did not have); checking on a copy instead cost a
        // copy of the whole document on every message. Changes that already
        // wait for a dependency (automerge's queue) would not survive the
        // rebuild, so with any waiting the messages are received on a copy.
        let in_place = !carries || loaded.doc.get_missing_deps(&[]).is_empty();
        if carries {
            // The tips as they are before, which `keep` compares with.
            loaded.tips();
        }
        let mut doc = if in_place {
            std::mem::take(&mut loaded.doc)
        } else {
            loaded.doc.clone()
        };
        let mut trial_state = state.clone();
        let checked =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| -> Result<_, RepoError> {
                if !earlier.is_empty() {
                    doc.load_incremental(&earlier)
                        .map_err(model::ModelError::from)?;
                }
                doc.sync()
                    .receive_sync_message(&mut trial_state, last)
                    .map_err(model::ModelError::from)?;
                let changed = doc.get_heads() != before;
                let mut made = Vec::new();
                let mut new = Vec::new();
                if changed {
                    if let Proof::Vouch(vouch) = proof {
                        let new = authorship::new_links(&mut doc, &before);
                        let actors: std::collections::HashSet<&ActorId> =
                            new.iter().map(|l| &l.actor).collect();
                        let known = loaded.vouchers(&self.inner, id, |a| {
                            actors.contains(a) && parse_actor(a).is_none()
                        });
                        made = vouch(&new, &known)?;
                    }
                    new = self
                        .inner
                        .prove(id, &mut doc, &before, proof.signed(&made), &carried)?;
                    if let Some(accept) = accept {
                        accept(&mut doc, &new)?;
                    }
                }
                Ok((changed, new, made))
            }));
        let (changed, new, made) = match checked {
            Ok(Ok(taken)) => {
                loaded.doc = doc;
                taken
            }
            failed => {
                if in_place {
                    let untouched = !carries
                        || (doc.get_heads() == before && doc.get_missing_deps(&[]).is_empty());
                    loaded.doc = if untouched {
                        doc
                    } else {
                        let mut undone = doc.fork_at(&before).expect(
                            "`before` are heads this document had, and automerge forgets no change",
                        );
                        undone.set_actor(doc.get_actor().clone());
                        undone
                    };
                }
                return Err(match failed {
                    Ok(Err(e)) => e,
                    _ => {
                        tracing::error!(doc = %id, "checking a sync message panicked; it was undone");
                        RepoError::Internal
                    }
                });
            }
        };
        let signed = proof.signed(&made);
        if changed {
            self.inner
                .keep(id, &new, signed, &mut loaded, &slot.encoded)?;
        }
        if !signed.is_empty() && !loaded.doc.get_missing_deps(&[]).is_empty() {
            // Some changes wait for a dependency (in automerge's queue):
            // their links and signatures wait with them.
            let applied: std::collections::HashSet<ChangeHash> =
                new.iter().map(|l| l.hash).collect();
            let waiting: Vec<Link> = carried()
                .into_iter()
                .filter(|l| !applied.contains(&l.hash))
                .collect();
            self.inner.wait_with(id, signed, waiting, &[]);
        }
        // Taken even when nothing applied: changes waiting for a dependency
        // wait in the document (automerge's queue), and the peer, which
        // counts them as sent, will not send them again. They are checked
        // when they apply.
        *state = trial_state;
        drop(loaded);
        let ticket = if changed {
            self.inner.mark_dirty(*id, false)?
        } else {
            self.inner.pending(id)
        };
        Ok(Taken {
            ticket,
            changes: new.len(),
        })
    }

    /// Takes in a whole document from a peer (a `save()`) with the signatures
    /// of its actors' tips: a new document is added, a known one merged. What
    /// it adds must be proven by the signatures and pass `accept`, which sees
    /// the result first. Returns the round that stores it with how many changes
    /// it added, and the heads of what came in (which this node now holds too).
    pub fn import(
        &self,
        id: &DocId,
        bytes: &[u8],
        signed: &[Attestation],
        accept: &Accept<'_>,
    ) -> Result<(Taken, Vec<automerge::ChangeHash>), RepoError> {
        let mut incoming = AutoCommit::load(bytes)
            .map_err(|e| model::ModelError::invalid(format!("not a document: {e}")))?;
        let heads = incoming.get_heads();
        let none = || Vec::new();
        match self.inner.slot(id) {
            Ok(slot) => {
                let mut loaded = lock(&slot.loaded);
                let before = loaded.doc.get_heads();
                // Merged into a copy, which replaces the document once accepted.
                let mut trial = loaded.doc.clone();
                trial
                    .merge(&mut incoming)
                    .map_err(model::ModelError::from)?;
                if trial.get_heads() == before {
                    let ticket = self.inner.pending(id);
                    return Ok((Taken { ticket, changes: 0 }, heads));
                }
                let new = self.inner.prove(id, &mut trial, &before, signed, &none)?;
                accept(&mut trial, &new)?;
                self.inner
                    .keep(id, &new, signed, &mut loaded, &slot.encoded)?;
                loaded.doc = trial;
                drop(loaded);
                let ticket = self.inner.mark_dirty(*id, false)?;
                let changes = new.len();
                Ok((Taken { ticket, changes }, heads))
            }
            Err(RepoError::NotFound(_)) => {
                let new = self.inner.prove(id, &mut incoming, &[], signed, &none)?;
                accept(&mut incoming, &new)?;
                incoming.set_actor(self.inner.actor.clone());
                let ours = Arc::new(DocSlot::new(incoming, Vec::new()));
                {
                    let mut fresh = lock(&ours.loaded);
                    fresh.tips = Some(Tips::new());
                    self.inner
                        .keep(id, &new, signed, &mut fresh, &ours.encoded)?;
                }
                let got = self.inner.insert_slot(*id, Arc::clone(&ours));
                if !Arc::ptr_eq(&got, &ours) {
                    // Someone added it meanwhile: merge into theirs (what it
                    // adds was proven above).
                    let mut again = AutoCommit::load(bytes)
                        .map_err(|e| model::ModelError::invalid(e.to_string()))?;
                    let mut theirs = lock(&got.loaded);
                    theirs
                        .doc
                        .merge(&mut again)
                        .map_err(model::ModelError::from)?;
                    theirs.tips = None;
                    // With the signatures that prove it.
                    theirs
                        .signed
                        .extend(std::mem::take(&mut lock(&ours.loaded).signed));
                    let entries = std::mem::take(&mut lock(&ours.encoded).signed);
                    lock(&got.encoded).signed.extend_from_slice(&entries);
                }
                let ticket = self.inner.mark_dirty(*id, false)?;
                let changes = new.len();
                Ok((Taken { ticket, changes }, heads))
            }
            Err(e) => Err(e),
        }
    }

    /// A node-wide value kept in the store (such as the peer list).
    pub fn get_meta(&self, key: &[u8]) -> Result<Option<Vec<u8>>, RepoError> {
        Ok(self
            .inner
            .store
            .get(Keyspace::Meta, &[b"x/", key].concat())?)
    }

    /// The node-wide values whose keys start with `prefix`, in key order
    /// (keys without the prefix).
    pub fn scan_meta(&self, prefix: &[u8]) -> Result<Entries, RepoError> {
        let full = [b"x/", prefix].concat();
        Ok(self
            .inner
            .store
            .scan_prefix(Keyspace::Meta, &full)?
            .into_iter()
            .map(|(k, v)| (k[full.len()..].to_vec(), v))
            .collect())
    }

    /// Sets a node-wide value, durably.
    pub fn put_meta(&self, key: &[u8], value: Vec<u8>) -> Result<(), RepoError> {
        let op = Op::Put(Keyspace::Meta, [b"x/", key].concat(), value);
        Ok(self.inner.store.commit(vec![op])?)
    }

    /// Sets several node-wide values in one durable write.
    pub fn put_metas(&self, entries: Vec<(Vec<u8>, Vec<u8>)>) -> Result<(), RepoError> {
        if entries.is_empty() {
            return Ok(());
        }
        let ops = entries
            .into_iter()
            .map(|(k, v)| Op::Put(Keyspace::Meta, [b"x/", k.as_slice()].concat(), v))
            .collect();
        Ok(self.inner.store.commit(ops)?)
    }

    /// The committer's rounds so far.
    pub fn rounds(&self) -> Rounds {
        use std::sync::atomic::Ordering::Relaxed;
        let r = &self.inner.rounds;
        let buckets = ROUND_BUCKETS
            .iter()
            .zip(&r.buckets)
            .map(|(b, n)| (*b, n.load(Relaxed)))
            .collect();
        Rounds {
            count: r.count.load(Relaxed),
            seconds: r.nanos.load(Relaxed) as f64 / 1e9,
            buckets,
        }
    }

    /// Bytes the store occupies on disk (every file walked: the exact figure,
    /// at a cost that grows with the number of documents).
    pub fn size_on_disk(&self) -> u64 {
        self.inner.store.size_on_disk()
    }

    /// Bytes the store holds: its index and counters as on disk, and each
    /// document's snapshot and log by the sizes the index records (what
    /// `kp status` and the metrics show: no walk over every document's files,
    /// which at 100,000 documents took a quarter of a second a call).
    pub fn stored_bytes(&self) -> u64 {
        let mut docs = 0;
        self.visit(|_, m| docs += m.sizes.snapshot + m.sizes.log);
        self.inner.store.index_size_on_disk() + docs
    }

    /// Documents loaded in memory now.
    pub fn cached(&self) -> usize {
        lock(&self.inner.cache).slots.len()
    }

    /// The index entry of a document (shared: the index replaces an entry
    /// that changes, so this one stays as it was).
    pub fn meta(&self, id: &DocId) -> Option<Arc<DocMeta>> {
        self.inner.index.read().ok()?.get(id).cloned()
    }

    /// Visits every document's index entry in place, without copying the
    /// index (a node's listing of 100,000 documents picks a page of them).
    pub fn visit(&self, mut f: impl FnMut(&DocId, &Arc<DocMeta>)) {
        if let Ok(index) = self.inner.index.read() {
            for (id, meta) in index.iter() {
                f(id, meta);
            }
        }
    }

    /// All index entries, in id order, without loading any document (each
    /// entry shared, not copied).
    pub fn list(&self) -> Vec<(DocId, Arc<DocMeta>)> {
        match self.inner.index.read() {
            Ok(index) => index.iter().map(|(k, v)| (*k, v.clone())).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Creates a document: `init` fills it in one change; nothing is stored if it
    /// fails. Returns once the document is durable.
    pub fn create<T>(
        &self,
        note: &ChangeNote,
        init: impl FnOnce(&mut AutoCommit) -> Result<T, model::ModelError>,
    ) -> Result<(DocId, T), RepoError> {
        self.create_as(DocId::random(), note, init)
    }

    /// [`Repo::create`] with a given id (the simulation picks ids from its seed).
    pub fn create_as<T>(
        &self,
        id: DocId,
        note: &ChangeNote,
        init: impl FnOnce(&mut AutoCommit) -> Result<T, model::ModelError>,
    ) -> Result<(DocId, T), RepoError> {
        let mut doc = AutoCommit::new().with_actor(self.inner.actor.clone());
        let out = init(&mut doc)?;
        let note = self.inner.cite(&id, &doc, note);
        let made = commit(&mut doc, &note, (self.inner.cfg.clock)());
        let slot = Arc::new(DocSlot::new(doc, Vec::new()));
        if let Some(hash) = made {
            let mut loaded = lock(&slot.loaded);
            loaded.tips = Some(Tips::new());
            loaded.note_local(&self.inner.actor, hash);
        }
        // Never over a document that exists: a derived id (a referee's report)
        // may be created twice at once, and the second must not vanish while
        // its caller is told it succeeded.
        self.inner.insert_new(id, slot)?;
        let ticket = self.inner.mark_dirty(id, false)?;
        self.wait(ticket)?;
        Ok((id, out))
    }

    /// Changes a document: `edit` runs on it and its operations become one change
    /// with `note`. If `edit` fails, its operations are rolled back and nothing
    /// changes. The returned ticket tells when the change is durable.
    pub fn change<T>(
        &self,
        id: &DocId,
        note: &ChangeNote,
        edit: impl FnOnce(&mut AutoCommit) -> Result<T, model::ModelError>,
    ) -> Result<(T, Ticket), RepoError> {
        let (out, _, ticket) = self.apply(id, None, note, false, edit)?;
        Ok((out, ticket))
    }

    /// A change made as if on the document as it was at `base` heads: it depends
    /// on `base` only, so it merges with whatever happened since (this is how an
    /// editor session that started earlier saves). Then waits until it is
    /// durable.
    pub fn change_at<T>(
        &self,
        id: &DocId,
        base: Option<&[ChangeHash]>,
        note: &ChangeNote,
        edit: impl FnOnce(&mut AutoCommit) -> Result<T, model::ModelError>,
    ) -> Result<(T, Vec<ChangeHash>), RepoError> {
        let (out, version, ticket) = self.apply(id, base, note, true, edit)?;
        self.wait(ticket)?;
        Ok((out, version))
    }

    /// Applies a change. With `eager`, its encoding for the store is done at once
    /// (the caller is about to wait for it); otherwise it is left for the next
    /// round, which lets a stream of edits share the work. Also returns the
    /// version the edit made: the heads of the document as `edit` saw it,
    /// with its change (so at `base`, without what came since).
    fn apply<T>(
        &self,
        id: &DocId,
        base: Option<&[ChangeHash]>,
        note: &ChangeNote,
        eager: bool,
        edit: impl FnOnce(&mut AutoCommit) -> Result<T, model::ModelError>,
    ) -> Result<(T, Vec<ChangeHash>, Ticket), RepoError> {
        let slot = self.inner.slot(id)?;
        let mut loaded = lock(&slot.loaded);
        if let Some(base) = base {
            let missing = loaded.doc.get_missing_deps(base);
            if !missing.is_empty() {
                return Err(model::ModelError::invalid(format!(
                    "the text was opened at a version this node does not have ({})",
                    missing[0]
                ))
                .into());
            }
            loaded.doc.isolate(base);
        }
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| edit(&mut loaded.doc)));
        let out = match result {
            Ok(Ok(out)) => out,
            failed => {
                // Nothing of a refused (or panicked) edit may stay in the document.
                loaded.doc.rollback();
                if base.is_some() {
                    loaded.doc.integrate();
                }
                return Err(match failed {
                    Ok(Err(e)) => e.into(),
                    _ => {
                        tracing::error!(doc = %id, "an edit panicked; it was rolled back");
                        RepoError::Internal
                    }
                });
            }
        };
        let note = self.inner.cite(id, &loaded.doc, note);
        let made = commit(&mut loaded.doc, &note, (self.inner.cfg.clock)());
        let version = match (made, base) {
            (Some(hash), Some(_)) => vec![hash],
            (None, Some(base)) => base.to_vec(),
            (_, None) => loaded.doc.get_heads(),
        };
        if base.is_some() {
            loaded.doc.integrate();
            // Made on an old version, the change may be by a derived actor
            // (automerge keeps each actor's changes a chain that way): the
            // tips are worked out again when next needed.
            loaded.tips = None;
        } else if let Some(hash) = made {
            loaded.note_local(&self.inner.actor, hash);
        }
        let changed = made.is_some();
        if changed {
            self.inner.touched(&slot, &mut loaded, eager);
        }
        drop(loaded);
        let ticket = if changed {
            self.inner.mark_dirty(*id, false)?
        } else {
            // Nothing new, but what the caller read may still be on its way to disk.
            self.inner.pending(id)
        };
        Ok((out, version, ticket))
    }

    /// [`Repo::change`], then waits until the change is durable.
    pub fn change_durably<T>(
        &self,
        id: &DocId,
        note: &ChangeNote,
        edit: impl FnOnce(&mut AutoCommit) -> Result<T, model::ModelError>,
    ) -> Result<T, RepoError> {
        let (out, _, ticket) = self.apply(id, None, note, true, edit)?;
        self.wait(ticket)?;
        Ok(out)
    }

    /// Reads a document (loading it if needed). `read` must not change it.
    pub fn read<T>(
        &self,
        id: &DocId,
        read: impl FnOnce(&mut AutoCommit) -> T,
    ) -> Result<T, RepoError> {
        let slot = self.inner.slot(id)?;
        let mut loaded = lock(&slot.loaded);
        Ok(read(&mut loaded.doc))
    }

    /// Blocks until the round of `ticket` is durable.
    pub fn wait(&self, ticket: Ticket) -> Result<(), RepoError> {
        let mut st = lock(&self.inner.commit);
        if st.asked < ticket.0 {
            st.asked = ticket.0;
            self.inner.work.notify_all();
        }
        loop {
            if st.completed >= ticket.0 {
                return Ok(());
            }
            if let Some((round, msg)) = &st.failed
                && *round >= ticket.0
            {
                return Err(RepoError::NotDurable(msg.clone()));
            }
            if st.stopped {
                return Err(RepoError::ShuttingDown);
            }
            st = self.inner.done.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Compacts a document's log into a snapshot now, and waits until that is
    /// durable.
    pub fn compact(&self, id: &DocId) -> Result<(), RepoError> {
        // Load it, so the committer finds it in the cache.
        let _slot = self.inner.slot(id)?;
        let ticket = self.inner.mark_dirty(*id, true)?;
        self.wait(ticket)
    }

    /// Writes everything pending, stops the committer and waits for it. Edits
    /// after this fail with [`RepoError::ShuttingDown`].
    pub fn shutdown(&self) {
        {
            let mut st = lock(&self.inner.commit);
            st.shutdown = true;
            self.inner.work.notify_all();
        }
        if let Some(handle) = lock(&self.committer).take()
            && handle.join().is_err()
        {
            tracing::error!("the committer thread panicked");
        }
    }
}

/// Commits the open transaction of `doc` with `note`; `None` if it made no ops.
fn commit(doc: &mut AutoCommit, note: &ChangeNote, time: i64) -> Option<ChangeHash> {
    let message = serde_json::to_string(note).unwrap_or_default();
    doc.commit_with(
        CommitOptions::default()
            .with_message(message)
            .with_time(time),
    )
}

impl Inner {
    /// `note` citing the heads of the space of `doc` (document `id`) this
    /// node holds durably (see [`ChangeNote::space`]); as it is for a space
    /// itself and for a document that names none.
    fn cite<'a>(&self, id: &DocId, doc: &AutoCommit, note: &'a ChangeNote) -> Cow<'a, ChangeNote> {
        use automerge::ReadDoc;
        let space = match doc.get(automerge::ROOT, "space") {
            Ok(Some((automerge::Value::Scalar(v), _))) => {
                v.as_str().and_then(|s| s.parse::<DocId>().ok())
            }
            _ => None,
        };
        let Some(space) = space.filter(|s| s != id) else {
            return Cow::Borrowed(note);
        };
        let heads = self
            .index
            .read()
            .ok()
            .and_then(|i| i.get(&space).map(|m| heads_hex(&m.heads)))
            .unwrap_or_default();
        if heads.is_empty() {
            return Cow::Borrowed(note);
        }
        Cow::Owned(ChangeNote {
            space: heads,
            ..note.clone()
        })
    }

    /// The signature of `actor`'s change `hash` (its tip in document `id`):
    /// made now for this node's own actors, else the one kept when the change
    /// came in. `None` (logged) if there is none, which a peer will refuse.
    fn signature(
        &self,
        id: &DocId,
        held: &HashMap<ChangeHash, Attestation>,
        actor: &ActorId,
        seq: u64,
        hash: ChangeHash,
    ) -> Option<Attestation> {
        if parse_actor(actor).is_some_and(|(node, _)| node == self.node) {
            return Some(Attestation::new(&self.key, actor, hash));
        }
        if let Some(att) = held.get(&hash) {
            return Some(att.clone());
        }
        match self.store.get(Keyspace::Meta, &signed_key(id, &hash)) {
            Ok(Some(bytes)) => {
                if let Some((signed, _)) = Attestation::from_stored(hash, &bytes) {
                    return Some(signed);
                }
                tracing::warn!(doc = %id, %hash, "an unreadable stored signature");
            }
            Ok(None) => {
                tracing::debug!(doc = %id, %hash, seq, "no signature held for an actor's latest change")
            }
            Err(e) => tracing::warn!(doc = %id, %hash, "reading a signature: {e}"),
        }
        None
    }

    /// The changes new in `trial` since `before`, checked to be proven by
    /// `signed` and the signatures waiting for this document; `carried` gives
    /// the changes that came with them (tried only if needed).
    fn prove(
        &self,
        id: &DocId,
        trial: &mut AutoCommit,
        before: &[ChangeHash],
        signed: &[Attestation],
        carried: &dyn Fn() -> Vec<Link>,
    ) -> Result<Vec<Link>, RepoError> {
        let new = authorship::new_links(trial, before);
        if !self.cfg.checks_signatures() {
            return Ok(new);
        }
        let waiting = lock(&self.waiting).get(id).cloned().unwrap_or_default();
        let mut all = signed.to_vec();
        all.extend(waiting.signed.into_values());
        let mut known: Vec<Link> = waiting.links.into_values().collect();
        if authorship::check(&new, &known, &all).is_err() {
            known.extend(carried());
            authorship::check(&new, &known, &all)
                .map_err(|e| model::ModelError::Forbidden(e.to_string()))?;
        }
        let mut new = new;
        authorship::attribute(&mut new, &all)
            .map_err(|e| model::ModelError::Forbidden(e.to_string()))?;
        Ok(new)
    }

    /// Keeps what proves `new`, the changes of document `id` that are about to
    /// replace `loaded`'s: for each other node's actor whose tip moved, the
    /// signature of the new tip, in memory and queued for the document's log
    /// ahead of the changes (`encoded`), so it is durable no later than they
    /// are. Signatures that prove no new change wait for the changes still on
    /// their way.
    fn keep(
        &self,
        id: &DocId,
        new: &[Link],
        signed: &[Attestation],
        loaded: &mut Loaded,
        encoded: &Mutex<Encoded>,
    ) -> Result<(), RepoError> {
        let waiting = lock(&self.waiting).get(id).cloned().unwrap_or_default();
        let old = loaded.tips().clone();
        let mut record = Vec::new();
        for (actor, (seq, hash)) in authorship::tips(new) {
            if parse_actor(&actor).is_some_and(|(node, _)| node == self.node)
                || old.get(&actor).is_some_and(|t| t.0 >= seq)
            {
                continue;
            }
            let Some(att) = signed
                .iter()
                .chain(waiting.signed.values())
                .find(|a| a.hash == hash && a.actor == actor)
            else {
                // Proven through a change still waiting: its signature is kept
                // when it applies.
                continue;
            };
            signed_entry(att, seq, &mut record);
            if let Some((_, prev)) = old.get(&actor) {
                loaded.signed.remove(prev);
            }
            loaded.signed.insert(hash, att.clone());
        }
        if !record.is_empty() {
            lock(encoded).signed.extend_from_slice(&record);
        }
        loaded.note(new);
        // What applied waits no more.
        self.wait_with(
            id,
            &[],
            Vec::new(),
            &new.iter().map(|l| l.hash).collect::<Vec<_>>(),
        );
        Ok(())
    }

    /// Adds the changes `links` that wait for a dependency, and the signatures
    /// among `signed` of waiting changes (checked: only those that verify);
    /// forgets those of `applied`.
    fn wait_with(
        &self,
        id: &DocId,
        signed: &[Attestation],
        links: Vec<Link>,
        applied: &[ChangeHash],
    ) {
        let mut all = lock(&self.waiting);
        if signed.is_empty() && links.is_empty() && !all.contains_key(id) {
            return;
        }
        if !all.contains_key(id) && all.len() >= WAITING_DOCS {
            // Make room: what waits for another document is dropped (its
            // changes will be refused when they apply, and the peer's next
            // session sends them again).
            if let Some(other) = all.keys().next().copied() {
                all.remove(&other);
            }
        }
        let w = all.entry(*id).or_default();
        if !applied.is_empty() {
            let applied: std::collections::HashSet<&ChangeHash> = applied.iter().collect();
            w.signed.retain(|(h, _), _| !applied.contains(h));
            for h in applied {
                w.links.remove(h);
            }
        }
        for l in links {
            if w.links.len() < WAITING_MAX {
                w.links.entry(l.hash).or_insert(l);
            }
        }
        // Only signatures of waiting changes by their own actor, and only those
        // that verify: what a peer can make this node check and hold is bounded
        // by the changes it sends.
        for a in signed {
            let key = (a.hash, a.actor.clone());
            if w.signed.len() < WAITING_MAX
                && !w.signed.contains_key(&key)
                && w.links.get(&a.hash).is_some_and(|l| l.actor == a.actor)
                && a.verifies()
            {
                w.signed.insert(key, a.clone());
            }
        }
        if w.signed.is_empty() && w.links.is_empty() {
            all.remove(id);
        }
    }

    /// Adds a new document's slot, unless a document with its id is loaded or
    /// listed. (A new slot stays in the cache until its first round has
    /// written it and listed it in the index, so one of the two always knows
    /// it.)
    fn insert_new(&self, id: DocId, slot: Slot) -> Result<(), RepoError> {
        let mut cache = lock(&self.cache);
        let listed = self
            .index
            .read()
            .map(|i| i.contains_key(&id))
            .unwrap_or(true);
        if listed || cache.slots.contains_key(&id) {
            return Err(RepoError::Exists(id));
        }
        cache.tick += 1;
        let tick = cache.tick;
        cache.slots.insert(id, (slot, tick));
        self.evict(&mut cache);
        Ok(())
    }

    fn insert_slot(&self, id: DocId, slot: Slot) -> Slot {
        let mut cache = lock(&self.cache);
        cache.tick += 1;
        let tick = cache.tick;
        let slot = Arc::clone(&cache.slots.entry(id).or_insert((slot, tick)).0);
        self.evict(&mut cache);
        slot
    }

    /// Drops least recently used documents that have nothing unsaved while the
    /// cache is over its size.
    fn evict(&self, cache: &mut Cache) {
        if cache.slots.len() <= self.cfg.cache_docs {
            return;
        }
        let dirty = lock(&self.commit).dirty.clone();
        let mut by_age: Vec<(u64, DocId)> =
            cache.slots.iter().map(|(id, (_, t))| (*t, *id)).collect();
        by_age.sort_unstable();
        let excess = cache.slots.len() - self.cfg.cache_docs;
        let mut removed = 0;
        for (_, id) in by_age {
            if removed == excess {
                break;
            }
            if dirty.contains_key(&id) {
                continue;
            }
            let Some((slot, _)) = cache.slots.get(&id) else {
                continue;
            };
            // Someone holds it (a request between lookup and lock), is using it
            // right now, or it has changes not yet written.
            if Arc::strong_count(slot) > 1 {
                continue;
            }
            let Ok(mut loaded) = slot.loaded.try_lock() else {
                continue;
            };
            let heads = loaded.doc.get_heads();
            if lock(&slot.encoded).durable != heads {
                continue;
            }
            drop(loaded);
            cache.slots.remove(&id);
            removed += 1;
        }
    }

    /// The loaded document `id`, loading it from the store if needed.
    fn slot(&self, id: &DocId) -> Result<Slot, RepoError> {
        {
            let mut cache = lock(&self.cache);
            cache.tick += 1;
            let tick = cache.tick;
            if let Some((slot, t)) = cache.slots.get_mut(id) {
                *t = tick;
                return Ok(Arc::clone(slot));
            }
        }
        if self
            .index
            .read()
            .map(|i| !i.contains_key(id))
            .unwrap_or(true)
        {
            return Err(RepoError::NotFound(*id));
        }
        let (mut doc, signed) = self.load(id)?;
        let heads = doc.get_heads();
        let slot = Arc::new(DocSlot::new(doc, heads));
        lock(&slot.loaded).signed = signed;
        Ok(self.insert_slot(*id, slot))
    }

    /// A document from the store, with the signatures its log holds.
    fn load(
        &self,
        id: &DocId,
    ) -> Result<(AutoCommit, HashMap<ChangeHash, Attestation>), RepoError> {
        let corrupt = |source| RepoError::Corrupt {
            id: *id,
            source: Box::new(source),
        };
        let bytes = self.store.load_doc(id)?;
        if bytes.snapshot.is_none() && bytes.log.is_empty() {
            return Err(RepoError::Missing(*id));
        }
        let mut doc = match bytes.snapshot {
            Some(snapshot) => AutoCommit::load(&snapshot).map_err(corrupt)?,
            None => AutoCommit::new(),
        };
        let mut signed = HashMap::new();
        for chunk in bytes.log {
            if let Some(entries) = chunk.strip_prefix(&SIGNED_RECORD[..]) {
                signed.extend(signed_entries(entries).into_iter().map(|a| (a.hash, a)));
            } else if let Some(entries) = chunk.strip_prefix(&SIGNED_RECORD_V1[..]) {
                signed.extend(signed_entries_v1(entries).into_iter().map(|a| (a.hash, a)));
            } else {
                doc.load_incremental(&chunk).map_err(corrupt)?;
            }
        }
        doc.set_actor(self.actor.clone());
        Ok((doc, signed))
    }

    fn mark_dirty(&self, id: DocId, compact: bool) -> Result<Ticket, RepoError> {
        let mut st = lock(&self.commit);
        if st.stopped {
            return Err(RepoError::ShuttingDown);
        }
        *st.dirty.entry(id).or_insert(false) |= compact;
        if st.idle {
            self.work.notify_one();
        }
        Ok(Ticket(st.started + 1))
    }

    /// The ticket of a document's unwritten changes, if it has any.
    fn pending(&self, id: &DocId) -> Ticket {
        let st = lock(&self.commit);
        if st.dirty.contains_key(id) {
            Ticket(st.started + 1)
        } else {
            // A round in progress may carry it: wait for that one.
            Ticket(st.started)
        }
    }

    /// Notes a local change; if the committer is waiting for this document's
    /// changes to be encoded, encodes them now (under the caller's lock).
    fn touched(&self, slot: &DocSlot, loaded: &mut Loaded, eager: bool) {
        use std::sync::atomic::Ordering;
        if eager {
            // Encoded now: the committer need not wait for anyone.
            loaded.encode(&mut lock(&slot.encoded));
            slot.last_change.store(0, Ordering::Relaxed);
            return;
        }
        slot.last_change.store(self.micros(), Ordering::Relaxed);
        if slot.wanted.load(Ordering::Acquire) {
            loaded.encode(&mut lock(&slot.encoded));
            slot.wanted.store(false, Ordering::Release);
            if let Some(t) = self.committer_thread.get() {
                t.unpark();
            }
        }
    }

    fn micros(&self) -> u64 {
        self.opened.elapsed().as_micros() as u64
    }

    /// If someone edited the document a moment ago, asks them to encode their
    /// changes and waits (briefly) for it; true if they did.
    fn hand_off_encoding(&self, slot: &DocSlot) -> bool {
        use std::sync::atomic::Ordering;
        if self.cfg.rounds_on_demand {
            return false;
        }
        let handoff = ENCODE_HANDOFF.as_micros() as u64;
        if self
            .micros()
            .saturating_sub(slot.last_change.load(Ordering::Relaxed))
            > handoff
        {
            return false;
        }
        slot.wanted.store(true, Ordering::Release);
        let deadline = std::time::Instant::now() + ENCODE_HANDOFF;
        while slot.wanted.load(Ordering::Acquire) {
            let now = std::time::Instant::now();
            if now >= deadline {
                break;
            }
            std::thread::park_timeout(deadline - now);
        }
        // The editor clears the flag once it has encoded; if it is still set,
        // take it back and encode here.
        !slot.wanted.swap(false, Ordering::AcqRel)
    }

    /// Adds to `writes` what brings the stored copy of `id` up to date: the
    /// encoded changes as a log chunk, or a fresh snapshot when `compact` is set
    /// or the log has outgrown the snapshot. Returns what to record once the
    /// writes are durable; `None` when there was nothing to write.
    fn write_doc(
        &self,
        id: &DocId,
        slot: &DocSlot,
        compact: bool,
        writes: &mut Vec<DocWrite>,
        sled_ops: &mut Vec<Op>,
    ) -> Option<Written> {
        let old = self.index.read().ok().and_then(|i| i.get(id).cloned());
        let sizes = old.as_ref().map(|m| m.sizes).unwrap_or_default();
        let threshold = self
            .cfg
            .compact_min_bytes
            .max(sizes.snapshot.saturating_mul(self.cfg.compact_factor));
        // A new document starts as a log alone (one fsync, no rename); it gets
        // its first snapshot when the log outgrows the threshold or when idle.
        let snapshot_due = compact || sizes.log > threshold;
        // Heads, the bytes to drain and what is written are taken in one critical
        // section, so that they describe the same changes.
        let (heads, drain, summary, snapshot, chunk, signed) =
            if !snapshot_due && self.hand_off_encoding(slot) {
                let enc = lock(&slot.encoded);
                if enc.encoded == enc.durable && enc.signed.is_empty() {
                    return None;
                }
                (
                    enc.encoded.clone(),
                    enc.bytes.len(),
                    enc.summary.clone()?,
                    None,
                    enc.bytes.clone(),
                    enc.signed.clone(),
                )
            } else {
                let mut loaded = lock(&slot.loaded);
                let mut enc = lock(&slot.encoded);
                if loaded.doc.get_heads() == enc.durable
                    && !(compact && sizes.log > 0)
                    && enc.signed.is_empty()
                {
                    return None;
                }
                loaded.encode(&mut enc);
                let (snapshot, chunk) = if snapshot_due {
                    // The log goes, and the signatures it holds with it: those
                    // of the current tips go to the store first (see
                    // `write_round`), and the store's others go.
                    let tips = loaded.tips().clone();
                    let prefix = [&b"a/"[..], id.as_bytes()].concat();
                    for (key, _) in self
                        .store
                        .scan_prefix(Keyspace::Meta, &prefix)
                        .unwrap_or_default()
                    {
                        sled_ops.push(Op::Delete(Keyspace::Meta, key));
                    }
                    for (actor, (seq, hash)) in &tips {
                        if let Some(att) = loaded.signed.get(hash).filter(|a| a.actor == *actor) {
                            sled_ops.push(Op::Put(
                                Keyspace::Meta,
                                signed_key(id, hash),
                                att.to_stored(*seq),
                            ));
                        } else if let Ok(Some(kept)) =
                            self.store.get(Keyspace::Meta, &signed_key(id, hash))
                        {
                            sled_ops.push(Op::Put(Keyspace::Meta, signed_key(id, hash), kept));
                        }
                    }
                    (Some(loaded.doc.save()), Vec::new())
                } else {
                    (None, enc.bytes.clone())
                };
                (
                    enc.encoded.clone(),
                    enc.bytes.len(),
                    enc.summary.clone()?,
                    snapshot,
                    chunk,
                    enc.signed.clone(),
                )
            };
        let drain_signed = signed.len();
        let now = now_secs();
        let mut persist = old.is_none();
        let mut meta = old.map(Arc::unwrap_or_clone).unwrap_or(DocMeta {
            kind: summary.kind,
            space: None,
            title: String::new(),
            status: Cow::Borrowed(""),
            subtype: Cow::Borrowed(""),
            created_at: now,
            updated_at: now,
            heads: Vec::new(),
            sizes: DocSizes::default(),
        });
        match snapshot {
            Some(snapshot) => {
                meta.sizes = DocSizes {
                    snapshot: snapshot.len() as u64,
                    log: 0,
                };
                writes.push(DocWrite::Snapshot(*id, snapshot));
                persist = true;
            }
            None => {
                // Signatures first: a torn tail can then cut changes, never
                // leave changes without their signatures.
                if !signed.is_empty() {
                    let record = [&SIGNED_RECORD[..], &signed].concat();
                    meta.sizes.log += record.len() as u64 + 8;
                    writes.push(DocWrite::Append(*id, record));
                }
                if !chunk.is_empty() {
                    meta.sizes.log += chunk.len() as u64 + 8;
                    writes.push(DocWrite::Append(*id, chunk));
                }
            }
        }
        persist |= meta.apply(summary);
        meta.updated_at = now;
        meta.heads = heads.clone();
        Some(Written {
            meta,
            heads,
            persist,
            drain,
            drain_signed,
        })
    }

    fn index_op(id: &DocId, meta: &DocMeta) -> Op {
        Op::Put(
            Keyspace::Index,
            id.as_bytes().to_vec(),
            serde_json::to_vec(meta).expect("index entries always serialize"),
        )
    }

    /// One round: writes every dirty document durably, then the index entries
    /// that are due (plus, with `flush_index`, every lagging one).
    fn write_round(
        &self,
        dirty: &BTreeMap<DocId, bool>,
        flush_index: bool,
    ) -> Result<(), RepoError> {
        let mut writes = Vec::new();
        let mut written = Vec::new();
        let mut sled_ops = Vec::new();
        for (id, &compact) in dirty {
            let slot = match lock(&self.cache).slots.get(id) {
                Some((slot, _)) => Arc::clone(slot),
                // Dirty documents are never evicted; an absent one has nothing to write.
                None => continue,
            };
            if let Some(w) = self.write_doc(id, &slot, compact, &mut writes, &mut sled_ops) {
                written.push((*id, slot, w));
            }
        }
        let started = std::time::Instant::now();
        let wrote = !sled_ops.is_empty() || !writes.is_empty();
        if !sled_ops.is_empty() {
            // Signatures held in logs about to be cut by a snapshot.
            self.store.commit(sled_ops)?;
        }
        if !writes.is_empty() {
            self.store.write_docs(&writes)?;
        }
        if wrote {
            self.rounds.record(started.elapsed());
        }
        // Documents with new durable changes (a compaction alone is no news).
        let mut changed: Vec<DocId> = Vec::new();
        let mut stale = lock(&self.stale);
        let mut index = self.index.write().unwrap_or_else(|e| e.into_inner());
        let mut ops = Vec::new();
        let mut persisted = BTreeSet::new();
        for (
            id,
            slot,
            Written {
                meta,
                heads,
                persist,
                drain,
                drain_signed,
            },
        ) in written
        {
            {
                let mut enc = lock(&slot.encoded);
                if enc.durable != heads {
                    changed.push(id);
                }
                enc.durable = heads;
                enc.bytes.drain(..drain);
                enc.signed.drain(..drain_signed);
            }
            // Every entry is stale until its write below succeeds.
            if persist {
                ops.push(Self::index_op(&id, &meta));
                persisted.insert(id);
            }
            stale.insert(id);
            index.insert(id, Arc::new(meta));
        }
        if flush_index {
            for id in stale.iter() {
                if let Some(meta) = index.get(id)
                    && !persisted.contains(id)
                {
                    ops.push(Self::index_op(id, meta));
                    persisted.insert(*id);
                }
            }
        }
        drop(index);
        drop(stale);
        if !ops.is_empty() {
            // The documents are durable already; an index that could not be
            // written stays stale and is written again later.
            match self.store.commit(ops) {
                Ok(()) => {
                    let mut stale = lock(&self.stale);
                    for id in &persisted {
                        stale.remove(id);
                    }
                }
                Err(e) => tracing::warn!("writing index entries failed, will retry: {e}"),
            }
        }
        if !changed.is_empty() {
            // Nobody listening is fine: no partner sessions.
            let _ = self.durable_tx.send(Arc::new(changed));
        }
        Ok(())
    }

    fn run_committer(&self) {
        let _ = self.committer_thread.set(std::thread::current());
        let mut last_flush = std::time::Instant::now();
        let mut last_round = std::time::Instant::now();
        let mut failed_at_shutdown = 0;
        loop {
            // A round that follows another closely waits out the window, so that
            // the edits of a busy writer share its fsync.
            let since = last_round.elapsed();
            if since < self.cfg.group_commit_window && !lock(&self.commit).shutdown {
                std::thread::sleep(self.cfg.group_commit_window - since);
            }
            let (round, dirty) = {
                let mut st = lock(&self.commit);
                while (st.dirty.is_empty() || (self.cfg.rounds_on_demand && st.asked <= st.started))
                    && !st.shutdown
                {
                    st.idle = true;
                    let (next, timeout) = self
                        .work
                        .wait_timeout(st, self.cfg.idle_compact)
                        .unwrap_or_else(|e| e.into_inner());
                    st = next;
                    st.idle = false;
                    if timeout.timed_out() && st.dirty.is_empty() {
                        drop(st);
                        self.on_idle();
                        last_flush = std::time::Instant::now();
                        st = lock(&self.commit);
                    }
                }
                if st.dirty.is_empty() && st.shutdown {
                    drop(st);
                    // Leave the index in the store as current as the one in memory.
                    if let Err(e) = self.write_round(&BTreeMap::new(), true) {
                        tracing::error!("writing the index at shutdown failed: {e}");
                    }
                    let mut st = lock(&self.commit);
                    st.stopped = true;
                    self.done.notify_all();
                    return;
                }
                st.started += 1;
                (st.started, std::mem::take(&mut st.dirty))
            };
            last_round = std::time::Instant::now();
            // On demand, rounds follow the calls alone, the index's flush included.
            let flush = !self.cfg.rounds_on_demand && last_flush.elapsed() >= INDEX_FLUSH_INTERVAL;
            if flush {
                last_flush = std::time::Instant::now();
            }
            let result = self.write_round(&dirty, flush);
            let mut st = lock(&self.commit);
            match result {
                Ok(()) => st.completed = round,
                Err(e) => {
                    tracing::error!(round, "store write failed, will retry: {e}");
                    st.failed = Some((round, e.to_string()));
                    for (id, compact) in dirty {
                        *st.dirty.entry(id).or_insert(false) |= compact;
                    }
                }
            }
            self.done.notify_all();
            let failed = st.failed.as_ref().is_some_and(|(r, _)| *r == round);
            if failed && st.shutdown {
                failed_at_shutdown += 1;
                // A store that keeps failing must not hold the stop forever:
                // what it could not write was never acknowledged.
                if failed_at_shutdown >= SHUTDOWN_TRIES {
                    tracing::error!(
                        documents = st.dirty.len(),
                        "stopping with edits the store would not take; none of them was acknowledged"
                    );
                    st.stopped = true;
                    self.done.notify_all();
                    return;
                }
            }
            if failed && !st.shutdown {
                // Wait before trying again, unless the node is stopping.
                let _ = self
                    .work
                    .wait_timeout_while(st, Duration::from_millis(200), |st| !st.shutdown);
            }
        }
    }

    /// After a crash, index entries may lag their documents: refresh those whose
    /// stored sizes differ from the files.
    fn reconcile(&self) {
        let entries: Vec<(DocId, DocSizes)> = match self.index.read() {
            Ok(index) => index.iter().map(|(id, m)| (*id, m.sizes)).collect(),
            Err(_) => return,
        };
        let mut refreshed = 0;
        for (id, sizes) in entries {
            match self.store.doc_sizes(&id) {
                Ok(now) if now == sizes => continue,
                Ok(now) => {
                    if let Err(e) = self.refresh(&id, now) {
                        tracing::warn!(doc = %id, "cannot refresh its index entry: {e}");
                    }
                    refreshed += 1;
                }
                Err(e) => tracing::warn!(doc = %id, "cannot read its size: {e}"),
            }
        }
        if refreshed > 0 {
            tracing::info!(refreshed, "index entries refreshed after an unclean stop");
        }
    }

    fn refresh(&self, id: &DocId, sizes: DocSizes) -> Result<(), RepoError> {
        if lock(&self.cache).slots.contains_key(id) {
            // Loaded documents get their entry from the committer.
            return Ok(());
        }
        let (doc, _) = self.load(id)?;
        let summary = model::summarize(&doc);
        let mut doc = doc;
        let heads = doc.get_heads();
        let meta = {
            let mut index = self.index.write().unwrap_or_else(|e| e.into_inner());
            let Some(meta) = index.get_mut(id) else {
                return Ok(());
            };
            let meta = Arc::make_mut(meta);
            meta.apply(summary);
            meta.heads = heads;
            meta.sizes = sizes;
            meta.updated_at = now_secs();
            meta.clone()
        };
        self.store.commit(vec![Self::index_op(id, &meta)])?;
        Ok(())
    }

    /// Idle work: write lagging index entries, then compact loaded documents that
    /// still have a log.
    fn on_idle(&self) {
        let due: BTreeMap<DocId, bool> = {
            let cache = lock(&self.cache);
            let Ok(index) = self.index.read() else { return };
            cache
                .slots
                .keys()
                .filter(|id| index.get(id).is_some_and(|m| m.sizes.log > 0))
                .take(IDLE_COMPACTIONS)
                .map(|id| (*id, true))
                .collect()
        };
        if let Err(e) = self.write_round(&due, true) {
            tracing::warn!("idle compaction failed: {e}");
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        tracing::debug!(node = %self.node, "repository closed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_records_read_back_whatever_their_entries_hold() {
        let key = NodeKey::from_seed([4; 32]);
        let node_actor = actor_id(&key.id(), 3);
        let client = ActorId::from(vec![0xab; 16]);
        let plain = Attestation::new(&key, &node_actor, ChangeHash([1; 32]));
        let vouched = Attestation::vouched(&key, &client, ChangeHash([2; 32]), "Amina Diallo");
        // Entries of varying length, one after another.
        let mut record = Vec::new();
        for a in [&vouched, &plain, &vouched] {
            signed_entry(a, 7, &mut record);
        }
        assert_eq!(
            signed_entries(&record),
            vec![vouched.clone(), plain.clone(), vouched]
        );
        // A record of an earlier version (fixed-length entries, no vouchers).
        let mut v1 = Vec::new();
        for a in [&plain, &plain] {
            v1.extend_from_slice(&a.hash.0);
            v1.extend_from_slice(&a.to_stored(7));
        }
        assert_eq!(signed_entries_v1(&v1), vec![plain.clone(), plain]);
        // A torn entry ends the reading, never misreads.
        assert_eq!(signed_entries(&record[..record.len() - 3]).len(), 2);
    }

    /// The index entry as the store holds it is unchanged by keeping heads
    /// as hashes in memory: an entry written by an earlier version reads, and
    /// one written now has its heads in hex.
    #[test]
    fn index_entries_keep_their_stored_form() {
        let hash = ChangeHash([0xa7; 32]);
        let earlier = format!(
            r#"{{"kind":"draft","space":"2x4mTBPJwzRZVdqgHnnNfQLAbrnh","title":"Brief","status":"draft","subtype":"working-paper","created_at":1,"updated_at":2,"heads":["{hash}"],"sizes":{{"snapshot":0,"log":812}}}}"#
        );
        let mut meta: DocMeta = serde_json::from_str(&earlier).unwrap();
        meta.share_words();
        assert_eq!(meta.heads, vec![hash]);
        // The vocabularies' words are shared, not copied, and read the same.
        assert!(matches!(meta.status, Cow::Borrowed("draft")));
        assert!(matches!(meta.subtype, Cow::Borrowed("working-paper")));
        // A word this version does not know (a newer node's) is kept as written.
        let mut newer: DocMeta = serde_json::from_str(
            &earlier.replace(r#""status":"draft""#, r#""status":"embargoed""#),
        )
        .unwrap();
        newer.share_words();
        assert_eq!(newer.status, "embargoed");
        assert_eq!(meta.sizes.log, 812);
        let written: serde_json::Value = serde_json::to_value(&meta).unwrap();
        assert_eq!(
            written,
            serde_json::from_str::<serde_json::Value>(&earlier).unwrap()
        );
        assert_eq!(written["heads"][0], "a7".repeat(32));
        // A head that is not 32 bytes of hex is refused, not guessed.
        let bad = earlier.replace(&hash.to_string(), "a7a7");
        assert!(serde_json::from_str::<DocMeta>(&bad).is_err());
    }
}
