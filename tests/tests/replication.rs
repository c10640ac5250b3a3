//! Documents replicate between real kpd processes over mutual TLS, relayed along
//! a line, and only to members of their space.
//!
//! ```text
//!   A ◀──▶ B ◀──▶ C        A and C never connect.
//!          ▲
//!          └──▶ D           D is B's partner but not a member of the space.
//! ```

use std::time::{Duration, Instant};

use kp_tests::Kpd;

const WAIT: Duration = Duration::from_secs(20);

/// Links two listening nodes: `a` dials `b`, `b` accepts `a`.
fn link(a: &Kpd, b: &Kpd) {
    a.link(b, WAIT);
}

/// Polls `kp draft show` on `node` until the body satisfies `check`.
fn wait_body(node: &Kpd, id: &str, check: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + WAIT;
    let mut last = String::new();
    loop {
        let out = node.kp(&["--json", "draft", "show", id]);
        if out.status.success() {
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let body = v["body"].as_str().unwrap_or_default().to_owned();
            if check(&body) {
                return body;
            }
            last = body;
        }
        assert!(
            Instant::now() < deadline,
            "the draft did not arrive as expected; it reads {last:?}; log: {}",
            node.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn files_naming(node: &Kpd, id: &str) -> Vec<String> {
    std::fs::read_dir(node.data_dir().join("store").join("docs"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains(id))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn edits_cross_a_line_of_nodes_and_stay_among_members() {
    let (a, b, c, d) = (
        Kpd::listening(),
        Kpd::listening(),
        Kpd::listening(),
        Kpd::listening(),
    );
    link(&a, &b);
    link(&c, &b);
    link(&d, &b);
    let (b_id, _) = b.identity();
    let (c_id, _) = c.identity();

    let space = a.json(&["space", "create", "Donor committee", "--theme", "5"])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    a.ok(&[
        "space",
        "add-member",
        &space,
        &b_id,
        "--role",
        "editor",
        "--institution",
        "B",
    ]);
    let text = node_file(&a, "First paragraph from A.\n\nSecond paragraph.\n");
    let id = a
        .ok(&[
            "draft", "new", "--space", &space, "--title", "Pledges", "--file", &text,
        ])
        .trim()
        .to_owned();
    wait_body(&b, &id, |b| b.starts_with("First paragraph from A."));

    // C joins later and receives the backlog through B.
    a.ok(&["space", "add-member", &space, &c_id, "--institution", "C"]);
    wait_body(&c, &id, |b| b.starts_with("First paragraph from A."));
    // C's edit reaches A through B.
    let edited = node_file(
        &c,
        "First paragraph from A.\n\nSecond paragraph, revised at C.\n",
    );
    c.ok(&["draft", "edit", &id, "--file", &edited, "--base", "current"]);
    wait_body(&a, &id, |b| b.contains("revised at C"));
    assert_eq!(
        c.json(&["space", "show", &space])["members"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );

    // D, a partner of B but no member, holds nothing of the space: not the draft,
    // not the space, not even a file named after them.
    assert_eq!(
        d.json(&["draft", "list"])["drafts"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    assert_eq!(
        d.json(&["space", "list"])["spaces"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    assert!(files_naming(&d, &id).is_empty() && files_naming(&d, &space).is_empty());
    // And B never even offered them: D refused nothing.
    assert!(!d.log().contains("refused a"), "{}", d.log());

    // After C is removed, new changes do not reach it.
    a.ok(&["space", "remove-member", &space, &c_id]);
    let later = node_file(
        &a,
        "First paragraph from A.\n\nSecond paragraph, revised at C.\n\nA closing word.\n",
    );
    a.ok(&["draft", "edit", &id, "--file", &later, "--base", "current"]);
    wait_body(&b, &id, |b| b.contains("A closing word"));
    // A sentinel in a space C still shares, made after that change: once C has
    // it, B has already dealt with the change (it relays in order).
    let sentinel_space = a.json(&["space", "create", "Sentinel", "--theme", "1"])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    a.ok(&["space", "add-member", &sentinel_space, &b_id]);
    a.ok(&["space", "add-member", &sentinel_space, &c_id]);
    let sentinel = a
        .ok(&[
            "draft",
            "new",
            "--space",
            &sentinel_space,
            "--title",
            "Sentinel",
            "--file",
            &later,
        ])
        .trim()
        .to_owned();
    wait_body(&c, &sentinel, |b| b.contains("A closing word"));
    let at_c = c.json(&["draft", "show", &id])["body"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        !at_c.contains("A closing word"),
        "a removed member received a new change"
    );
    // C is told of its removal, so every node agrees on the members, and
    // holds nothing else of the space from then on.
    let shown = c.wait_json(
        &["space", "show", &space],
        "C learns that it was removed",
        WAIT,
        |v| {
            v["former"]
                .as_array()
                .is_some_and(|f| f.iter().any(|m| m["node_id"] == c_id.as_str()))
        },
    );
    assert_eq!(
        shown["members"],
        a.json(&["space", "show", &space])["members"],
        "C's copy of the members is A's"
    );
    assert!(
        !c.log().contains("refused a"),
        "B offered C a change of a space C left: {}",
        c.log()
    );
}

/// Writes `text` to a file beside `node` and returns its path.
fn node_file(node: &Kpd, text: &str) -> String {
    let path = node.scratch().join(format!("text-{}.md", text.len()));
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

/// A node that was offline and restarted catches up, and edits made on both
/// sides meanwhile merge without losing anyone's words.
///
/// ```text
///   B ──dials──▶ A      B goes offline and stops, A edits, B restarts and edits
///                       offline, then B reconnects
/// ```
/// A space on `node` with `member` in it, and a draft of `text` there: their
/// ids.
fn space_and_draft(
    node: &Kpd,
    member: &str,
    space: &str,
    title: &str,
    text: &str,
) -> (String, String) {
    let space = node.json(&["space", "create", space, "--theme", "9"])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    node.ok(&["space", "add-member", &space, member]);
    let text = node_file(node, text);
    let id = node
        .ok(&[
            "draft", "new", "--space", &space, "--title", title, "--file", &text,
        ])
        .trim()
        .to_owned();
    (space, id)
}

/// `node`'s entry for the partner `id`: sessions open, edits in and out.
fn sessions_and_edits(node: &Kpd, id: &str) -> (u64, u64, u64) {
    let p = node.wait_peer(id, WAIT, |p| p.is_object());
    let n = |k: &str| p[k].as_u64().unwrap_or(0);
    (n("sessions"), n("edits_in"), n("edits_out"))
}

#[test]
fn partners_that_dial_each_other_keep_one_session_between_them() {
    let (a, b) = (Kpd::listening(), Kpd::listening());
    let (a_id, a_addr) = a.identity();
    let (b_id, b_addr) = b.identity();
    // Both pin the other with its address: both dial, at about the same time.
    a.ok(&["peer", "add", &b_id, &b_addr]);
    b.ok(&["peer", "add", &a_id, &a_addr]);
    a.wait_peer(&b_id, WAIT, |p| p["connected"] == true);
    b.wait_peer(&a_id, WAIT, |p| p["connected"] == true);
    // Within a few seconds one session is left, on both sides, and stays so.
    let deadline = Instant::now() + WAIT;
    let mut steady = 0;
    while steady < 20 {
        let (on_a, on_b) = (
            sessions_and_edits(&a, &b_id).0,
            sessions_and_edits(&b, &a_id).0,
        );
        steady = if (on_a, on_b) == (1, 1) {
            steady + 1
        } else {
            0
        };
        assert!(
            Instant::now() < deadline,
            "sessions A–B: {on_a} at A, {on_b} at B; logs:\n{}\n{}",
            a.log(),
            b.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The one session replicates: a space and a draft go once, so B takes in
    // as many changes as A sent, and the sessions stay one.
    let (_, id) = space_and_draft(&a, &b_id, "WG 3", "Once", "One session.\n");
    wait_body(&b, &id, |t| t.starts_with("One session"));
    let deadline = Instant::now() + WAIT;
    loop {
        let (a_sessions, _, sent) = sessions_and_edits(&a, &b_id);
        let (b_sessions, took, _) = sessions_and_edits(&b, &a_id);
        if sent > 0 && sent == took {
            assert_eq!((a_sessions, b_sessions), (1, 1));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "A sent {sent} changes, B took {took}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_node_that_was_down_catches_up_and_offline_edits_merge() {
    let a = Kpd::listening();
    let mut b = Kpd::listening();
    // B dials A, whose address stays the same while B restarts.
    link(&b, &a);
    let (b_id, _) = b.identity();
    let (a_id, _) = a.identity();
    let (space, id) = space_and_draft(
        &a,
        &b_id,
        "WG 9",
        "Climate",
        "Alpha paragraph.\n\nBeta paragraph.\n",
    );
    wait_body(&b, &id, |t| t.starts_with("Alpha"));
    let event = a.ok(&[
        "event",
        "new",
        "--space",
        &space,
        "--title",
        "Heat and migration",
        "--kind",
        "debate",
        "--starts",
        "2026-06-01",
        "--participant",
        "IOM | Global",
        "--discussed",
        &id,
    ]);
    let event = event.trim().to_owned();
    b.wait_json(&["event", "show", &event], "the event at B", WAIT, |e| {
        e["title"] == "Heat and migration"
    });

    // B goes offline (it forgets A, so it stays offline after its restart); A
    // edits its paragraph meanwhile, B its own.
    let (_, a_addr) = a.identity();
    b.ok(&["peer", "remove", &a_id]);
    assert!(b.stop());
    a.wait_peer(&b_id, WAIT, |p| p["connected"] == false);
    let at_a = node_file(&a, "Alpha paragraph, edited at A.\n\nBeta paragraph.\n");
    a.ok(&["draft", "edit", &id, "--file", &at_a, "--base", "current"]);
    b.start();
    let at_b = node_file(&b, "Alpha paragraph.\n\nBeta paragraph, edited at B.\n");
    b.ok(&["draft", "edit", &id, "--file", &at_b, "--base", "current"]);
    // Each adds a participant to the event while apart, and writes minutes.
    let minutes_a = node_file(&a, "Heat waves.\n");
    a.ok(&[
        "event",
        "edit",
        &event,
        "--participant",
        "ICIMOD | South Asia",
        "--minutes",
        &minutes_a,
    ]);
    let minutes_b = node_file(&b, "Floods.\n");
    b.ok(&[
        "event",
        "edit",
        &event,
        "--participant",
        "ODI | Europe",
        "--minutes",
        &minutes_b,
    ]);
    // Back online: both end with both edits.
    b.ok(&["peer", "add", &a_id, &a_addr]);
    b.wait_peer(&a_id, WAIT, |p| p["connected"] == true);
    let merged = "Alpha paragraph, edited at A.\n\nBeta paragraph, edited at B.\n";
    wait_body(&a, &id, |t| t == merged);
    wait_body(&b, &id, |t| t == merged);
    for node in [&a, &b] {
        let e = node.wait_json(&["event", "show", &event], "both participants", WAIT, |e| {
            e["participants"].as_array().map(Vec::len) == Some(3)
        });
        assert_eq!(e["cross_regional"], true);
        let minutes = e["minutes"].as_str().expect("minutes");
        assert!(
            minutes.contains("Heat waves.") && minutes.contains("Floods."),
            "{minutes}"
        );
    }
}

fn draft_count(node: &Kpd) -> usize {
    node.json(&["draft", "list", "--limit", "1"])["total"]
        .as_u64()
        .unwrap_or(0) as usize
}

fn body(node: &Kpd, id: &str) -> String {
    node.json(&["draft", "show", id])["body"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// A clone of many large documents (each over the frame limit, so each travels
/// in parts), with the receiving node killed in the middle: after its restart
/// the clone completes and every document is whole.
#[test]
fn a_clone_interrupted_by_kill_9_completes_after_restart() {
    let small_frames = [("max_frame_kib", "64")];
    let a = Kpd::listening_with(&small_frames);
    let mut b = Kpd::listening_with(&small_frames);
    let (b_id, _) = b.identity();
    let (a_id, a_addr) = a.identity();
    let space = a.json(&["space", "create", "Archive", "--theme", "1"])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    a.ok(&["space", "add-member", &space, &b_id]);
    let mut ids = Vec::new();
    for i in 0..100 {
        let text: String = (0..2500)
            .map(|j| format!("Paragraph {i}.{j} of the archive. "))
            .collect();
        let file = node_file(&a, &text);
        ids.push(
            a.ok(&[
                "draft", "new", "--space", &space, "--title", "Archive", "--file", &file,
            ])
            .trim()
            .to_owned(),
        );
    }
    // B dials A and is killed as soon as the first documents arrive.
    a.ok(&["peer", "add", &b_id]);
    b.ok(&["peer", "add", &a_id, &a_addr]);
    let deadline = Instant::now() + WAIT;
    let mut seen = 0;
    while seen == 0 {
        assert!(Instant::now() < deadline, "nothing arrived: {}", b.log());
        seen = draft_count(&b);
    }
    b.kill9();
    eprintln!("B held {seen} of {} drafts when it was killed", ids.len());
    b.start();
    let deadline = Instant::now() + WAIT;
    while draft_count(&b) < ids.len() {
        assert!(
            Instant::now() < deadline,
            "the clone did not complete: {}",
            b.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for id in &ids {
        assert_eq!(body(&a, id), body(&b, id), "draft {id} differs");
    }
    // Both sides agree nothing is left to send.
    a.wait_peer(&b_id, WAIT, |p| p["documents_behind"] == 0);
}

/// Real nodes in a line, over a few seeds: in each round one node is stopped
/// (killed or shut down), the others edit, and it restarts; at the end every
/// node holds every edit and the same text.
///
/// ```text
///   A ──▶ B ◀── C        B relays; stopping B cuts A from C.
/// ```
#[test]
fn stopped_nodes_catch_up_and_every_edit_survives() {
    let seed = kp_tests::seed();
    for s in 0..3 {
        partition_and_heal(seed.wrapping_add(s));
    }
}

/// Appends a line to a draft through `kp draft edit` and an editor, so the edit
/// is based on the text the node holds at that moment (a text read earlier and
/// written back would undo whatever arrived in between).
fn append(node: &Kpd, id: &str, line: &str) {
    let editor = node.scratch().join("append.sh");
    if !editor.exists() {
        std::fs::write(
            &editor,
            "#!/bin/sh\nprintf '%s\\n' \"$KP_TEST_LINE\" >> \"$1\"\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    kp_tests::run_ok(
        node.kp_command()
            .args(["draft", "edit", id])
            .env_remove("VISUAL")
            .env("EDITOR", &editor)
            .env("KP_TEST_LINE", line),
    );
}

fn partition_and_heal(seed: u64) {
    let mut rng = kp_tests::Rng::new(seed);
    let mut nodes = [Kpd::listening(), Kpd::listening(), Kpd::listening()];
    // Keep each node's port across restarts.
    for n in &nodes {
        let (_, addr) = n.identity();
        n.set(&[("listen", &format!("\"{addr}\""))]);
    }
    let (b_id, b_addr) = nodes[1].identity();
    for i in [0, 2] {
        let (id, _) = nodes[i].identity();
        nodes[1].ok(&["peer", "add", &id]);
        nodes[i].ok(&["peer", "add", &b_id, &b_addr]);
    }
    let space = nodes[0].json(&["space", "create", "Line", "--theme", "3"])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for i in [1, 2] {
        let (id, _) = nodes[i].identity();
        nodes[0].ok(&["space", "add-member", &space, &id]);
    }
    let start = node_file(&nodes[0], "Opening line.\n");
    let drafts: Vec<String> = (0..2)
        .map(|_| {
            nodes[0]
                .ok(&[
                    "draft", "new", "--space", &space, "--title", "Line", "--file", &start,
                ])
                .trim()
                .to_owned()
        })
        .collect();
    for n in &nodes[1..] {
        for d in &drafts {
            wait_body(n, d, |t| t.starts_with("Opening line."));
        }
    }
    let mut tokens: Vec<(String, String)> = Vec::new();
    for round in 0..4 {
        let down = rng.below(3) as usize;
        if rng.below(2) == 0 {
            eprintln!("round {round}: kill -9 node {down}");
            nodes[down].kill9();
        } else {
            eprintln!("round {round}: stop node {down}");
            assert!(nodes[down].stop());
        }
        for (i, n) in nodes.iter().enumerate() {
            if i == down {
                continue;
            }
            for _ in 0..2 {
                let d = &drafts[rng.below(drafts.len() as u64) as usize];
                let token = format!("seed {seed} round {round} node {i} edit {}", tokens.len());
                append(n, d, &token);
                tokens.push((d.clone(), token));
            }
        }
        nodes[down].start();
    }
    for d in &drafts {
        let want: Vec<&str> = tokens
            .iter()
            .filter(|(id, _)| id == d)
            .map(|(_, t)| t.as_str())
            .collect();
        let deadline = Instant::now() + WAIT;
        loop {
            let bodies: Vec<String> = nodes.iter().map(|n| body(n, d)).collect();
            if want.iter().all(|w| bodies[0].contains(w)) && bodies.iter().all(|b| *b == bodies[0])
            {
                break;
            }
            if Instant::now() > deadline {
                for (i, n) in nodes.iter().enumerate() {
                    eprintln!("node {i} reads {:?}\nlog: {}", bodies[i], n.log());
                }
                let missing: Vec<&&str> =
                    want.iter().filter(|w| !bodies[0].contains(**w)).collect();
                panic!(
                    "draft {d} did not converge with every edit (seed {seed}); node 0 misses {missing:?}"
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A dataset whose table spans several chunks, with cells CSV must quote,
/// reaches a partner and reads there as on the node that imported it.
#[test]
fn a_large_dataset_reaches_a_partner_whole() {
    let (a, b) = (Kpd::listening(), Kpd::listening());
    link(&b, &a);
    let (b_id, _) = b.identity();
    let (space, _) = space_and_draft(&a, &b_id, "Data WG", "Notes", "Notes.\n");
    let mut csv = String::from("country,year,usd_bn,note,official\n");
    for i in 0..12_000 {
        csv.push_str(&format!(
            "\"Côte d'Ivoire, {i}\",{},{},\"said \"\"{i}\"\"\nthen more\",{}\n",
            1960 + i % 65,
            if i % 7 == 0 {
                String::new()
            } else {
                format!("{}", i as f64 / 3.0)
            },
            i % 2 == 0
        ));
    }
    assert!(csv.len() > 512 * 1024, "several chunks");
    let file = a.scratch().join("panel.csv");
    std::fs::write(&file, &csv).unwrap();
    let id = a
        .ok(&[
            "dataset",
            "import",
            file.to_str().unwrap(),
            "--space",
            &space,
            "--title",
            "Panel",
        ])
        .trim()
        .to_owned();
    let there = a.json(&["dataset", "show", &id, "--limit", "0"]);
    assert_eq!(there["total_rows"], 12_000);
    let deadline = Instant::now() + WAIT;
    loop {
        let out = b.kp(&["--json", "dataset", "show", &id, "--limit", "0"]);
        if out.status.success() {
            let here: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            if here["total_rows"] == 12_000 {
                assert_eq!(here["rows"], there["rows"]);
                assert_eq!(here["columns"], there["columns"]);
                assert_eq!(here["rows"][7][2], serde_json::Value::Null);
                assert_eq!(here["rows"][1][3], "said \"1\"\nthen more");
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the dataset did not arrive: {}",
            b.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
