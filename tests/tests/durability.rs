//! Acknowledged edits survive `kill -9`: a writer makes edits through `kp` while
//! the node is killed at a random moment, again and again; after each restart
//! every edit that `kp` reported as saved must be there. The same with a long
//! draft whose log is compacted into a fresh snapshot every few edits, so that
//! kills land inside compactions; and a node killed again and again while it
//! clones a space from a partner ends with every document whole.
//!
//! And power cuts: the node's store (sled and the documents' files) on
//! `kp-faultfs`, a file system on the disk twin, whose cut keeps only what was
//! synced and any prefix of the rest, the last write torn or zeroed — the
//! real store's real calls, sled's included, where the simulation models
//! sled.
//!
//! Rounds: 20 by default, `KP_KILL_ROUNDS` for more. Seed: `KP_TEST_SEED`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kp_tests::{FaultFs, Kpd, Rng, seed};

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
    kill_while_writing(Kpd::started(), "", Ending::Kill);
}

/// Each round ends in a power cut of the store's file system: every other
/// one at a random moment (the node killed, then the power cut), the others
/// armed to strike at one of the next 400 writes, syncs, renames or unlinks
/// — inside an edit's commit, sled's flush or a compaction — after which the
/// node, its disk failing, is killed. Compactions every few edits.
#[test]
fn no_acknowledged_edit_is_lost_to_power_cuts() {
    let fs = FaultFs::mount();
    let mut node = Kpd::init();
    node.set(&[("compact_min_kib", "1"), ("compact_factor", "0")]);
    node.store_on(&fs);
    node.start();
    let body: String = (0..500)
        .map(|i| format!("Paragraph {i} of a draft whose disk loses power.\n\n"))
        .collect();
    kill_while_writing(node, &body, Ending::PowerCut(&fs));
}

/// The file system under the power-cut test does cut: what was synced (a
/// file's data by `fsync`, its name by the directory's) is there after every
/// cut, and what was not is lost in some.
#[test]
fn the_power_cut_file_system_keeps_what_was_synced_and_loses_the_rest() {
    use std::io::Write;
    let fs = FaultFs::mount();
    let (mut kept_unsynced, mut lost_unsynced) = (0, 0);
    for seed in 0..16u64 {
        let dir = fs.path().join(format!("round{seed}"));
        std::fs::create_dir(&dir).unwrap();
        let mut synced = std::fs::File::create(dir.join("synced")).unwrap();
        synced.write_all(b"durable bytes").unwrap();
        synced.sync_data().unwrap();
        std::fs::File::open(&dir).unwrap().sync_all().unwrap();
        synced.write_all(b" and more").unwrap();
        std::fs::write(dir.join("unsynced"), b"only in the page cache").unwrap();
        drop(synced);
        fs.cut(seed);
        // The unsynced write after the synced bytes: any prefix of it, or its
        // length in zeros (a size recorded before the data).
        let after = std::fs::read(dir.join("synced")).expect("a synced name survives");
        let rest = after.strip_prefix(b"durable bytes".as_slice());
        assert!(
            rest.is_some_and(|r| b" and more".starts_with(r) || r == [0; 9]),
            "seed {seed}: the synced file reads {:?}",
            String::from_utf8_lossy(&after)
        );
        match std::fs::read(dir.join("unsynced")) {
            Ok(b) if b == b"only in the page cache" => kept_unsynced += 1,
            _ => lost_unsynced += 1,
        }
    }
    assert!(
        kept_unsynced > 0 && lost_unsynced > 0,
        "cuts should keep unsynced data sometimes and lose it sometimes: kept {kept_unsynced}, \
         lost {lost_unsynced}"
    );
}

/// A node whose power goes moments after its first start starts again: the
/// store it just made (sled's files, their names, sled's settings file, which
/// sled itself never syncs) survives the cut, whatever the cut keeps.
#[test]
fn a_new_node_that_loses_power_at_once_starts_again() {
    let fs = FaultFs::mount();
    let mut node = Kpd::init();
    node.store_on(&fs);
    for seed in 0..8 {
        node.start();
        node.kill9();
        fs.cut(seed);
    }
    node.start();
    node.ok(&["space", "create", "After the cuts", "--theme", "1"]);
}

/// How each round of [`kill_while_writing`] ends.
#[derive(Clone, Copy)]
enum Ending<'a> {
    /// `kill -9` at a random moment.
    Kill,
    /// `kill -9`, every other one aimed at a compaction.
    KillAtCompaction,
    /// A power cut of the store's file system.
    PowerCut(&'a FaultFs),
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
    let aimed = kill_while_writing(node, &body, Ending::KillAtCompaction);
    assert!(
        aimed > 0,
        "no kill was aimed at a compaction: no snapshot was seen in the making"
    );
}

/// Kills `node` at random moments while a writer edits a draft that starts
/// as `body`, as `ending` says; returns how many kills were aimed at a
/// compaction (or, with power cuts, how many cuts struck inside the node's
/// work). After the last round every document must read whole.
fn kill_while_writing(node: Kpd, body: &str, ending: Ending) -> usize {
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
        if let Ending::PowerCut(fs) = ending
            && round % 2 == 1
        {
            fs.fail_after(1 + rng.below(400));
            let deadline = Instant::now() + Duration::from_secs(5);
            while !fs.is_off() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(2));
            }
            aimed += usize::from(fs.is_off());
        } else if matches!(ending, Ending::KillAtCompaction) && round % 2 == 0 {
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
        if let Ending::PowerCut(fs) = ending {
            fs.cut(rng.next_u64());
        }

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
        "kills={} acked={total_acked} lost=0; {}: {aimed}, left a snapshot half made: {half_made}",
        rounds(),
        match ending {
            Ending::PowerCut(_) => "power cuts that struck inside the node's work",
            _ => "aimed at a compaction",
        }
    );
    assert!(
        total_acked >= rounds(),
        "the writer should have made progress (acked {total_acked})"
    );
    let n = node.lock().unwrap();
    let verify = n.kp(&["verify"]);
    assert!(
        verify.status.success(),
        "a document is damaged after the last round: {}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
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
