//! Acknowledged edits survive `kill -9`: a writer makes edits through `kp` while
//! the node is killed at a random moment, again and again; after each restart
//! every edit that `kp` reported as saved must be there. The same with a long
//! draft whose log is compacted into a fresh snapshot every few edits, so that
//! kills land inside compactions; and a node killed again and again while it
//! clones a space from a partner ends with every document whole.
//!
//! Rounds: 20 by default, `KP_KILL_ROUNDS` for more. Seed: `KP_TEST_SEED`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kp_tests::{Kpd, Rng, seed};

const WAIT: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Acked {
    versions: Vec<String>,
    lines: Vec<String>,
}

fn rounds() -> usize {
    std::env::var("KP_KILL_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20)
}

#[test]
fn no_acknowledged_edit_is_lost_to_kill_9() {
    kill_while_writing(Kpd::started(), "", false);
}

/// Every few edits of a 250 KB draft the committer writes a snapshot of it
/// (temporary file, fsync, rename, fsync of the directory, then the log
/// emptied); every other kill is aimed at one: the moment a snapshot's
/// temporary file appears.
#[test]
fn no_acknowledged_edit_is_lost_to_kill_9_during_compactions() {
    let node = Kpd::started_with(&[("compact_min_kib", "1"), ("compact_factor", "0")]);
    let body: String = (0..5000)
        .map(|i| format!("Paragraph {i} of a long draft, compacted often.\n\n"))
        .collect();
    let aimed = kill_while_writing(node, &body, true);
    assert!(
        aimed > 0,
        "no kill was aimed at a compaction: no snapshot was seen in the making"
    );
}

/// Kills `node` at random moments while a writer edits a draft that starts
/// as `body`, every other one, with `at_compaction`, the moment a snapshot's
/// temporary file appears; returns how many kills were so aimed.
fn kill_while_writing(node: Kpd, body: &str, at_compaction: bool) -> usize {
    let mut rng = Rng::new(seed());
    node.ok(&["space", "create", "Durability", "--theme", "1"]);
    let first = node.scratch().join("first.md");
    std::fs::write(&first, body).unwrap();
    let id = node
        .ok(&[
            "draft",
            "new",
            "--space",
            "Durability",
            "--title",
            "Crash test",
            "--file",
            first.to_str().unwrap(),
        ])
        .trim()
        .to_owned();
    let (mut aimed, mut half_made) = (0, 0);
    let acked = Arc::new(Mutex::new(Acked::default()));
    let file = node.scratch().join("body.md");
    let node = Arc::new(Mutex::new(node));
    let mut total_acked = 0;
    for round in 0..rounds() {
        // The writer shares the node's paths, not its process handle.
        let kp = {
            let n = node.lock().unwrap();
            let data_dir = n.data_dir();
            move |args: &[&str]| {
                std::process::Command::new(kp_tests::bin("kp"))
                    .arg("--data-dir")
                    .arg(&data_dir)
                    .args(args)
                    .output()
                    .expect("kp runs")
            }
        };
        let writer = {
            let acked = Arc::clone(&acked);
            let id = id.clone();
            let file = file.clone();
            std::thread::spawn(move || {
                let show = kp(&["--json", "draft", "show", &id]);
                if !show.status.success() {
                    return;
                }
                let v: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
                let mut body = v["body"].as_str().unwrap().to_owned();
                for i in 0.. {
                    if i % 2 == 0 {
                        let label = format!("r{round}-v{i}");
                        if !kp(&["draft", "version", &id, &label]).status.success() {
                            return;
                        }
                        acked.lock().unwrap().versions.push(label);
                    } else {
                        let line = format!("round {round} line {i}");
                        let next = format!("{body}{line}\n");
                        std::fs::write(&file, &next).unwrap();
                        if !kp(&[
                            "draft",
                            "edit",
                            &id,
                            "--file",
                            file.to_str().unwrap(),
                            "--base",
                            "current",
                        ])
                        .status
                        .success()
                        {
                            return;
                        }
                        body = next;
                        acked.lock().unwrap().lines.push(line);
                    }
                }
            })
        };
        let data_dir = node.lock().unwrap().data_dir();
        if at_compaction && round % 2 == 0 {
            let deadline = std::time::Instant::now() + Duration::from_secs(3);
            while !snapshot_in_making(&data_dir) && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_micros(200));
            }
            aimed += usize::from(snapshot_in_making(&data_dir));
        } else {
            std::thread::sleep(Duration::from_millis(30 + rng.below(400)));
        }
        node.lock().unwrap().kill9();
        writer.join().unwrap();

        let mut n = node.lock().unwrap();
        half_made += usize::from(snapshot_in_making(&n.data_dir()));
        n.start();
        let shown = n.json(&["draft", "show", &id]);
        let body = shown["body"].as_str().unwrap();
        let labels: Vec<&str> = shown["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["label"].as_str().unwrap())
            .collect();
        let a = acked.lock().unwrap();
        let lost_versions: Vec<&String> = a
            .versions
            .iter()
            .filter(|l| !labels.contains(&l.as_str()))
            .collect();
        let lost_lines: Vec<&String> = a
            .lines
            .iter()
            .filter(|l| !body.contains(l.as_str()))
            .collect();
        assert!(
            lost_versions.is_empty() && lost_lines.is_empty(),
            "round {round}: lost acknowledged edits: versions {lost_versions:?} lines {lost_lines:?}"
        );
        total_acked = a.versions.len() + a.lines.len();
    }
    eprintln!(
        "kills={} acked={total_acked} lost=0; aimed at a compaction: {aimed}, of which left a \
         snapshot half made: {half_made}",
        rounds()
    );
    assert!(
        total_acked >= rounds(),
        "the writer should have made progress (acked {total_acked})"
    );
    aimed
}

/// Whether a snapshot's temporary file is in the node's store: it was killed
/// between writing a snapshot and renaming it into place.
fn snapshot_in_making(data_dir: &std::path::Path) -> bool {
    let docs = data_dir.join("store").join("docs");
    std::fs::read_dir(docs).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with(".snap.tmp"))
    })
}

/// A node that joins a space of 30 drafts of about 40 KB each is killed at
/// random moments while it takes them in, and started again each time: in
/// the end it holds every draft at its partner's heads, and every document it
/// stores reads whole (`kp verify`).
#[test]
fn a_clone_killed_again_and_again_ends_whole() {
    const DRAFTS: usize = 30;
    let mut rng = Rng::new(seed());
    let a = Kpd::listening();
    let mut b = Kpd::listening();
    let space = a.json(&["space", "create", "Clone", "--theme", "1"])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let text: String = (0..800)
        .map(|i| format!("Line {i} of a draft that a new partner clones.\n"))
        .collect();
    let file = a.scratch().join("draft.md");
    std::fs::write(&file, &text).unwrap();
    for d in 0..DRAFTS {
        a.ok(&[
            "draft",
            "new",
            "--space",
            &space,
            "--title",
            &format!("Draft {d}"),
            "--file",
            file.to_str().unwrap(),
        ]);
    }
    let (b_id, _) = b.identity();
    a.ok(&["space", "add-member", &space, &b_id, "--role", "editor"]);
    b.link(&a, WAIT);
    let mut held_at_kills = Vec::new();
    for _ in 0..rounds().min(8) {
        std::thread::sleep(Duration::from_millis(20 + rng.below(300)));
        let held = b.json(&["draft", "list", "--limit", "0"])["total"]
            .as_u64()
            .unwrap_or(0);
        held_at_kills.push(held);
        b.kill9();
        b.start();
    }
    eprintln!("drafts held at each kill: {held_at_kills:?} of {DRAFTS}");
    let heads = |n: &Kpd| -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = n.json(&["draft", "list", "--limit", "0"])["drafts"]
            .as_array()
            .map(|ds| {
                ds.iter()
                    .map(|d| (d["id"].to_string(), d["heads"].to_string()))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    let want = heads(&a);
    assert_eq!(want.len(), DRAFTS);
    let deadline = std::time::Instant::now() + WAIT;
    while heads(&b) != want {
        assert!(
            std::time::Instant::now() < deadline,
            "after the kills the clone did not reach its partner's heads: {:?}",
            heads(&b).len()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let verify = b.kp(&["verify"]);
    assert!(
        verify.status.success(),
        "a document is damaged after the kills: {}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
}
