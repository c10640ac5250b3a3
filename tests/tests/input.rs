//! Inputs at and over a node's size limits, and malformed CSV, end to end with a
//! real `kpd` and the real `kp`: an input over a limit, even one that never ends,
//! is refused promptly with kp's own message naming the limit and the setting
//! that raises it, exit code 1, and the node holds nothing new.

use std::io::{Read, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

use kp_tests::Kpd;
use serde_json::json;

/// Small limits, so that inputs at and over them are quick to make.
const SMALL: &[(&str, &str)] = &[
    ("max_text_kib", "64"),
    ("max_csv_kib", "64"),
    ("max_request_kib", "128"),
    ("max_wasm_kib", "64"),
];

const SMALL_BYTES: usize = 64 * 1024;

/// How long an input that never ends may keep `kp` busy before the test fails.
const ENDLESS_DEADLINE: Duration = Duration::from_secs(60);

fn space(node: &Kpd) {
    node.ok(&["space", "create", "Remittances WG", "--theme", "7"]);
}

fn new_draft(node: &Kpd, body: &str) -> String {
    let f = node.scratch().join("first.md");
    std::fs::write(&f, body).unwrap();
    let out = node.ok(&[
        "draft",
        "new",
        "--space",
        "Remittances WG",
        "--title",
        "Costs",
        "--file",
        f.to_str().unwrap(),
    ]);
    out.trim().to_owned()
}

/// What the node holds that these commands could change: its documents, the
/// drafts with their update times, the text of `draft`, the installed plugins.
fn holdings(node: &Kpd, draft: &str) -> serde_json::Value {
    let s = node.json(&["status"]);
    json!({
        "counts": [s["spaces"], s["drafts"], s["datasets"]],
        "drafts": node.json(&["draft", "list"]),
        "draft": node.json(&["draft", "show", draft]),
        "comments": node.json(&["comment", "list", draft]),
        "plugins": node.json(&["plugin", "list"]),
    })
}

/// Writes `len` bytes of `x` to a scratch file and returns its path.
fn file_of(node: &Kpd, name: &str, len: usize) -> String {
    let path = node.scratch().join(name);
    std::fs::write(&path, "x".repeat(len)).unwrap();
    path.to_str().unwrap().to_owned()
}

/// Runs `kp ARGS` with a standard input that never ends: the test writes to it
/// until `kp` exits (then the pipe breaks) or the deadline passes (then the test
/// fails). Returns the exit code and standard error.
fn with_endless_stdin(node: &Kpd, args: &[&str]) -> (Option<i32>, String) {
    let mut child = node
        .kp_command()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kp starts");
    let mut stdin = child.stdin.take().expect("a stdin pipe");
    let deadline = Instant::now() + ENDLESS_DEADLINE;
    let writer = std::thread::spawn(move || {
        let chunk = b"y\n".repeat(32 * 1024);
        while Instant::now() < deadline {
            // Rust ignores SIGPIPE: once kp has exited, the write fails.
            if stdin.write_all(&chunk).is_err() {
                return true;
            }
        }
        false
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for kp") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("kp {args:?} still read an endless standard input after {ENDLESS_DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        writer.join().expect("the writer thread"),
        "kp exited but its standard input stayed open"
    );
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("a stderr pipe")
        .read_to_string(&mut err)
        .unwrap();
    (status.code(), err)
}

#[test]
fn inputs_that_never_end_stop_at_the_limit() {
    let node = Kpd::started_with(SMALL);
    space(&node);
    let id = new_draft(&node, "# Costs\n\nFell to 9 percent.\n");
    let before = holdings(&node, &id);

    let err = node.fails(
        1,
        &[
            "draft",
            "new",
            "--space",
            "Remittances WG",
            "--title",
            "Zeros",
            "--file",
            "/dev/zero",
        ],
    );
    assert!(
        err.contains("/dev/zero is over this node's limit for a draft's text: the limit is 64 KiB; `[limits] max_text_kib` in kpd.toml raises it"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    // `yes | kp draft new ... --file -`
    let (code, err) = with_endless_stdin(
        &node,
        &[
            "draft",
            "new",
            "--space",
            "Remittances WG",
            "--title",
            "Yes",
            "--file",
            "-",
        ],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(
            "standard input is over this node's limit for a draft's text: the limit is 64 KiB"
        ),
        "{err}"
    );
    let (code, err) = with_endless_stdin(&node, &["draft", "edit", &id, "--file", "-"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("standard input is over"), "{err}");

    let err = node.fails(
        1,
        &[
            "review",
            "report",
            &id,
            "--recommendation",
            "accept",
            "--file",
            "/dev/zero",
        ],
    );
    assert!(
        err.contains("over this node's limit for a report's text: the limit is 64 KiB; `[limits] max_text_kib`"),
        "{err}"
    );
    let err = node.fails(
        1,
        &[
            "dataset",
            "import",
            "/dev/zero",
            "--space",
            "Remittances WG",
            "--title",
            "Zeros",
        ],
    );
    assert!(
        err.contains("/dev/zero is over this node's limit for a CSV file: the limit is 64 KiB; `[limits] max_csv_kib` in kpd.toml raises it"),
        "{err}"
    );
    let err = node.fails(1, &["plugin", "install", "/dev/zero"]);
    assert!(
        err.contains("/dev/zero is over this node's limit for a plugin component: the limit is 64 KiB; `[plugins] max_wasm_kib` in kpd.toml raises it"),
        "{err}"
    );

    assert_eq!(holdings(&node, &id), before);
}

#[test]
fn a_file_at_the_limit_is_taken_and_one_byte_more_is_not() {
    let node = Kpd::started_with(SMALL);
    space(&node);
    let at = file_of(&node, "at.md", SMALL_BYTES);
    let over = file_of(&node, "over.md", SMALL_BYTES + 1);

    let id = node
        .ok(&[
            "draft",
            "new",
            "--space",
            "Remittances WG",
            "--title",
            "Full",
            "--file",
            &at,
        ])
        .trim()
        .to_owned();
    let body = node.json(&["draft", "show", &id])["body"]
        .as_str()
        .unwrap()
        .len();
    assert_eq!(body, SMALL_BYTES);
    let before = holdings(&node, &id);

    let err = node.fails(
        1,
        &[
            "draft",
            "new",
            "--space",
            "Remittances WG",
            "--title",
            "Over",
            "--file",
            &over,
        ],
    );
    assert!(
        err.contains("over.md is over this node's limit for a draft's text: the limit is 64 KiB; `[limits] max_text_kib` in kpd.toml raises it"),
        "{err}"
    );
    let err = node.fails(1, &["draft", "edit", &id, "--file", &over]);
    assert!(err.contains("over.md is over this node's limit"), "{err}");
    assert_eq!(holdings(&node, &id), before);

    // A CSV file of exactly the limit, then one byte longer.
    let mut csv = String::from("n\n");
    csv.push_str(&"1\n".repeat((SMALL_BYTES - 2) / 2));
    assert_eq!(csv.len(), SMALL_BYTES);
    let path = node.scratch().join("at.csv");
    std::fs::write(&path, &csv).unwrap();
    let path = path.to_str().unwrap();
    let import = [
        "dataset",
        "import",
        path,
        "--space",
        "Remittances WG",
        "--title",
        "Ones",
    ];
    let d = node.json(&import);
    assert_eq!(d["rows"].as_u64(), Some((SMALL_BYTES as u64 - 2) / 2));
    let before = holdings(&node, &id);
    csv.push('1');
    std::fs::write(path, &csv).unwrap();
    let err = node.fails(1, &import);
    assert!(
        err.contains("at.csv is over this node's limit for a CSV file: the limit is 64 KiB"),
        "{err}"
    );
    assert_eq!(holdings(&node, &id), before);
}

#[test]
fn a_request_over_the_limit_gets_kps_message_not_tonics() {
    let node = Kpd::started_with(SMALL);
    space(&node);
    let id = new_draft(&node, "# Costs\n\nFell to 9 percent.\n");
    let before = holdings(&node, &id);

    // Each part is within its own limit, the whole is not: kp checks the
    // request before sending it.
    let at = file_of(&node, "at.md", SMALL_BYTES);
    let title = "t".repeat(70_000);
    let err = node.fails(
        1,
        &[
            "draft",
            "new",
            "--space",
            "Remittances WG",
            "--title",
            &title,
            "--file",
            &at,
        ],
    );
    assert!(
        err.contains("over this node's limit for any request: the limit is 128 KiB; `[limits] max_request_kib` in kpd.toml raises it"),
        "{err}"
    );

    // A request kp does not measure first is refused by the node as it decodes
    // it; kp words the node's complaint the same way.
    let quote = "q".repeat(70_000);
    let body = "b".repeat(70_000);
    let err = node.fails(
        1,
        &["comment", "add", &id, "--quote", &quote, "--body", &body],
    );
    assert!(
        err.contains("over this node's limit for any request: the limit is 128 KiB; `[limits] max_request_kib` in kpd.toml raises it")
            && !err.contains("too large"),
        "{err}"
    );

    assert_eq!(holdings(&node, &id), before);
}

#[test]
fn a_forty_mib_draft_is_refused_at_the_default_limit() {
    let node = Kpd::started();
    space(&node);
    let id = new_draft(&node, "# Costs\n");
    let before = holdings(&node, &id);
    let big = file_of(&node, "big.md", 40 << 20);
    let err = node.fails(
        1,
        &[
            "draft",
            "new",
            "--space",
            "Remittances WG",
            "--title",
            "Big",
            "--file",
            &big,
        ],
    );
    assert!(
        err.contains("big.md is over this node's limit for a draft's text: the limit is 4096 KiB (4 MiB); `[limits] max_text_kib` in kpd.toml raises it"),
        "{err}"
    );
    assert!(!err.contains("too large"), "{err}");
    assert_eq!(holdings(&node, &id), before);
}

#[test]
fn malformed_csv_is_refused_with_its_line_and_nothing_is_stored() {
    let node = Kpd::started();
    space(&node);
    let id = new_draft(&node, "# Costs\n");
    let before = holdings(&node, &id);
    let path = node.scratch().join("bad.csv");
    let p = path.to_str().unwrap();
    let import = [
        "dataset",
        "import",
        p,
        "--space",
        "Remittances WG",
        "--title",
        "Flows",
    ];
    let cases = [
        // The csv crate alone takes the rows after line 3 into one cell.
        (
            "country,usd_bn\nIndia,63.8\n\"China,40.5\nMexico,23.6\nNepal,4.2\n",
            "bad.csv: line 3: a quoted field opened here is never closed; close it with \", or double a quote inside a field as \"\"",
        ),
        (
            "country,note\nIndia,\"ok\"\nChina,5 \"ft\"\n",
            "bad.csv: line 3: a quote inside a field that does not start with one",
        ),
        (
            "country,note\n\"India\"n,1\n",
            "bad.csv: line 2: text after the closing quote of a field",
        ),
        (
            "country,usd_bn\nIndia,63.8\n\nChina\n",
            "bad.csv: line 4: this row has 1 field but the header has 2; give every row 2 fields",
        ),
        (
            "country,usd_bn,country\nIndia,1,2\n",
            "bad.csv: line 1: column name `country` appears twice",
        ),
        (
            "country,,year\nIndia,1,2\n",
            "bad.csv: line 1: column 2 has no name",
        ),
    ];
    for (csv, want) in cases {
        std::fs::write(&path, csv).unwrap();
        let err = node.fails(1, &import);
        assert!(err.contains(want), "{csv:?}: {err}");
    }
    assert_eq!(holdings(&node, &id), before);
    let s = node.json(&["space", "show", "Remittances WG"]);
    assert_eq!(s["datasets"].as_u64(), Some(0), "{s}");

    // Quoted commas, doubled quotes and line ends inside quotes are CSV, taken
    // as written.
    std::fs::write(
        &path,
        "country,note,usd_bn\r\n\"Congo, Dem. Rep.\",\"the \"\"official\"\" figure\r\nrevised\",1.5\r\nIndia,,63.8\r\n",
    )
    .unwrap();
    let d = node.json(&import);
    let shown = node.json(&["dataset", "show", d["id"].as_str().unwrap()]);
    assert_eq!(
        shown["rows"],
        json!([
            [
                "Congo, Dem. Rep.",
                "the \"official\" figure\r\nrevised",
                1.5
            ],
            ["India", null, 63.8]
        ]),
        "{shown}"
    );
}

#[test]
fn kp_plugin_run_bounds_what_it_reads() {
    // No node is involved, so kp's own limits apply.
    let node = Kpd::init();
    let sparse = |name: &str, len: u64| {
        let path = node.scratch().join(name);
        std::fs::File::create(&path).unwrap().set_len(len).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let wasm = sparse("huge.wasm", (64 << 20) + 1);
    let view = sparse("view.json", 16);
    let err = node.fails(1, &["plugin", "run", &wasm, "--input", &view]);
    assert!(
        err.contains("huge.wasm is over kp's limit for a plugin component run without a node: the limit is 65536 KiB (64 MiB)"),
        "{err}"
    );
    let wasm = sparse("small.wasm", 16);
    let view = sparse("huge.json", (256 << 20) + 1);
    let err = node.fails(1, &["plugin", "run", &wasm, "--input", &view]);
    assert!(
        err.contains(
            "huge.json is over kp's limit for a document view: the limit is 262144 KiB (256 MiB)"
        ),
        "{err}"
    );
}

#[test]
fn a_text_limit_above_the_request_limit_keeps_the_node_from_starting() {
    let node = Kpd::init();
    node.set(&[("max_text_kib", "40000")]);
    let mut kpd = node.spawn();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = kpd.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = kpd.kill();
            let _ = kpd.wait();
            panic!("kpd started with a text limit above its request limit");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(!status.success());
    let log = node.log();
    assert!(
        log.contains("limits.max_request_kib is 32768")
            && log.contains("set max_request_kib to 40064 or more"),
        "{log}"
    );
}
