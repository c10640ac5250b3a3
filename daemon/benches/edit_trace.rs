//! Benchmark: the real editing trace (259,778 single-character edits of a paper)
//! replayed through the node's durable edit path, against raw in-memory automerge
//! in the same run, for its first 1% and 10% and then the whole (how the cost
//! grows); then the store's size on disk after compaction against `save()`.
//!
//! Run: `cargo bench -p kp-daemon --bench edit_trace`. The trace is read from
//! `$KP_TRACE_DIR` or `../shared/data/automerge-paper-trace/` beside the clone;
//! `KP_TRACE_EDITS=N` replays only the first N edits.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ROOT, ReadDoc};
use kp_core::identity::NodeKey;
use kp_model::draft::{self, Actor};
use kp_repo::{ChangeNote, Repo, RepoConfig};
use kp_store::SledStore;

type Patch = (usize, isize, String);

fn trace_path() -> PathBuf {
    let dir = std::env::var_os("KP_TRACE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../shared/data/automerge-paper-trace")
        });
    dir.join("automerge-paper.json.gz")
}

fn load_trace() -> Option<(Vec<Patch>, String)> {
    let path = trace_path();
    let file = std::fs::File::open(&path).ok()?;
    let mut json = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut json)
        .ok()?;
    let v: serde_json::Value = serde_json::from_str(&json).ok()?;
    let mut patches = Vec::new();
    for txn in v["txns"].as_array()? {
        for p in txn["patches"].as_array()? {
            let pos = p[0].as_u64()? as usize;
            let del = p[1].as_i64()? as isize;
            let ins = p[2].as_str()?.to_owned();
            patches.push((pos, del, ins));
        }
    }
    let limit = std::env::var("KP_TRACE_EDITS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(usize::MAX);
    patches.truncate(limit);
    Some((patches, v["endContent"].as_str()?.to_owned()))
}

fn main() {
    let Some((patches, end)) = load_trace() else {
        eprintln!(
            "edit_trace: no trace at {}; set KP_TRACE_DIR to the automerge-paper-trace folder (shared/data in the steering repo, or josephg/editing-traces)",
            trace_path().display()
        );
        return;
    };
    let full = patches.len() == 259_778;
    println!("edit_trace: {} edits", patches.len());

    // How the cost grows: the first 1% and 10% of the trace, then the whole.
    println!("  | edits | kp edit path | raw automerge | ratio |");
    println!("  | --- | --- | --- | --- |");
    for n in [patches.len() / 100, patches.len() / 10] {
        let prefix = &patches[..n];
        let node = node_path(prefix);
        let raw = raw_path(prefix);
        println!(
            "  | {n} | {:.3} s, {:.1} µs/edit | {:.3} s, {:.1} µs/edit | {:.2}x |",
            node.time.as_secs_f64(),
            per_edit(node.time, n),
            raw.time.as_secs_f64(),
            per_edit(raw.time, n),
            node.time.as_secs_f64() / raw.time.as_secs_f64()
        );
    }
    let node = node_path(&patches);
    if full {
        assert_eq!(node.text, end);
    }
    let raw = raw_path(&patches);
    if full {
        assert_eq!(raw.text, end);
    }
    println!(
        "  | {} | {:.3} s, {:.1} µs/edit | {:.3} s, {:.1} µs/edit | {:.2}x |",
        patches.len(),
        node.time.as_secs_f64(),
        per_edit(node.time, patches.len()),
        raw.time.as_secs_f64(),
        per_edit(raw.time, patches.len()),
        node.time.as_secs_f64() / raw.time.as_secs_f64()
    );

    // The same, with the metadata the node records on every change (author note
    // and time), to show what recording authorship costs by itself.
    let message = serde_json::to_string(&ChangeNote {
        space: node.citation.clone(),
        ..ChangeNote::new("Martin", "edit body")
    })
    .unwrap();
    let t = Instant::now();
    let mut meta = AutoCommit::new();
    let text2 = meta.put_object(ROOT, "text", ObjType::Text).unwrap();
    for (pos, del, ins) in &patches {
        meta.splice_text(&text2, *pos, *del, ins).unwrap();
        meta.commit_with(
            automerge::transaction::CommitOptions::default()
                .with_message(message.clone())
                .with_time(kp_repo::now_secs()),
        );
    }
    let meta_time = t.elapsed();
    drop(meta);

    let per = |d: std::time::Duration| per_edit(d, patches.len());
    println!(
        "  raw automerge (splice+commit, memory):   {:>8.2} s  {:>6.1} µs/edit  save() {} B",
        raw.time.as_secs_f64(),
        per(raw.time),
        raw.save
    );
    println!(
        "  raw automerge + author/time per change:  {:>8.2} s  {:>6.1} µs/edit",
        meta_time.as_secs_f64(),
        per(meta_time)
    );
    println!(
        "  kp edit path (durable, group commit):    {:>8.2} s  {:>6.1} µs/edit  save() {} B",
        node.time.as_secs_f64(),
        per(node.time),
        node.save
    );
    println!(
        "  ratio node/raw: {:.2}x (aim <= 1.2x)",
        node.time.as_secs_f64() / raw.time.as_secs_f64()
    );
    println!(
        "  store on disk: {} KiB before compaction, {} KiB after; after/save(): {:.2}x (aim <= 1.5x)",
        node.before_compaction / 1024,
        node.on_disk / 1024,
        node.on_disk as f64 / node.save as f64
    );
}

fn per_edit(d: std::time::Duration, edits: usize) -> f64 {
    d.as_secs_f64() * 1e6 / edits as f64
}

/// What replaying edits through the node's path gave.
struct NodeRun {
    time: std::time::Duration,
    text: String,
    /// What the node's changes cite (the space's heads).
    citation: Vec<String>,
    before_compaction: u64,
    save: usize,
    on_disk: u64,
}

/// The node's edit path: one change per edit through the repository, durable
/// in the disk store with group commit; the clock stops when the last edit is
/// durable. Then the draft is compacted and the store measured.
fn node_path(patches: &[Patch]) -> NodeRun {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SledStore::open(&dir.path().join("store"), 64 << 20).unwrap());
    let repo = Repo::open(store, NodeKey::from_seed([1; 32]), RepoConfig::default()).unwrap();
    let by = Actor {
        author: "Martin",
        institution: "Cambridge",
        node_id: "node",
    };
    let note = ChangeNote::new("Martin", "edit body");
    // The draft's space is held, as on a node: every change cites its heads.
    let admin = kp_model::space::Member {
        node_id: NodeKey::from_seed([1; 32]).id().to_string(),
        role: "admin".into(),
        institution: "Cambridge".into(),
        ..Default::default()
    };
    let (space, ()) = repo
        .create(&note, |doc| {
            kp_model::space::init(doc, "Bench", 1, "", &admin, 0)
        })
        .unwrap();
    let (id, ()) = repo
        .create(&note, |doc| {
            draft::init(
                doc,
                &space,
                "A Conflict-Free Replicated JSON Datatype",
                kp_model::DraftType::WorkingPaper,
                "",
                &by,
                0,
            )
        })
        .unwrap();
    let body = repo
        .read(&id, |doc| match doc.get(ROOT, "body") {
            Ok(Some((_, obj))) => obj,
            _ => panic!("draft has a body"),
        })
        .unwrap();
    let t = Instant::now();
    let mut last = None;
    for (pos, del, ins) in patches {
        let ((), ticket) = repo
            .change(&id, &note, |doc| {
                Ok(doc.splice_text(&body, *pos, *del, ins)?)
            })
            .unwrap();
        last = Some(ticket);
    }
    if let Some(ticket) = last {
        repo.wait(ticket).unwrap();
    }
    let time = t.elapsed();
    let text = repo.read(&id, |doc| doc.text(&body).unwrap()).unwrap();
    let citation = repo
        .meta(&space)
        .map(|m| kp_repo::heads_hex(&m.heads))
        .unwrap_or_default();
    let before_compaction = repo.size_on_disk();
    repo.compact(&id).unwrap();
    let save = repo.read(&id, |doc| doc.save().len()).unwrap();
    repo.shutdown();
    drop(repo);
    NodeRun {
        time,
        text,
        citation,
        before_compaction,
        save,
        on_disk: kp_store::dir_size(&dir.path().join("store")),
    }
}

/// What replaying edits in raw automerge gave.
struct RawRun {
    time: std::time::Duration,
    text: String,
    save: usize,
}

/// The baseline: raw automerge, splice and commit per edit, in memory.
fn raw_path(patches: &[Patch]) -> RawRun {
    let t = Instant::now();
    let mut raw = AutoCommit::new();
    let text = raw.put_object(ROOT, "text", ObjType::Text).unwrap();
    for (pos, del, ins) in patches {
        raw.splice_text(&text, *pos, *del, ins).unwrap();
        raw.commit();
    }
    let time = t.elapsed();
    RawRun {
        time,
        text: raw.text(&text).unwrap(),
        save: raw.save().len(),
    }
}
