//! Acknowledged edits survive `kill -9`: a writer makes edits through `kp` while
//! the node is killed at a random moment, again and again; after each restart
//! every edit that `kp` reported as saved must be there.
//!
//! Rounds: 20 by default, `KP_KILL_ROUNDS` for more. Seed: `KP_TEST_SEED`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kp_tests::{Kpd, Rng, seed};

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
    let mut rng = Rng::new(seed());
    let node = Kpd::started();
    node.ok(&["space", "create", "Durability", "--theme", "1"]);
    let id = node
        .ok(&[
            "draft",
            "new",
            "--space",
            "Durability",
            "--title",
            "Crash test",
        ])
        .trim()
        .to_owned();
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
        std::thread::sleep(Duration::from_millis(30 + rng.below(400)));
        node.lock().unwrap().kill9();
        writer.join().unwrap();

        let mut n = node.lock().unwrap();
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
    eprintln!("kills={} acked={total_acked} lost=0", rounds());
    assert!(
        total_acked >= rounds(),
        "the writer should have made progress (acked {total_acked})"
    );
}
