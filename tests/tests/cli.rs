//! The `kp` command line end to end against a real `kpd`: the researcher's tour,
//! and bad input that must be refused with a clear message and change nothing.

use std::os::unix::fs::PermissionsExt;

use kp_tests::{Kpd, bin};

#[path = "../common/populate.rs"]
mod populate;

const BODY: &str = "# Remittance costs\n\nRemittances to developing countries grew in 2011.\n\nThe global average cost fell to 9 percent.\n";

fn space(node: &Kpd) -> String {
    let s = node.json(&[
        "space",
        "create",
        "Remittances WG",
        "--theme",
        "7",
        "--description",
        "Costs",
    ]);
    s["id"].as_str().unwrap().to_owned()
}

fn draft(node: &Kpd, body: &str) -> String {
    let f = node.scratch().join("draft.md");
    std::fs::write(&f, body).unwrap();
    let out = node.ok(&[
        "draft",
        "new",
        "--space",
        "Remittances WG",
        "--title",
        "The cost of sending money",
        "--file",
        f.to_str().unwrap(),
    ]);
    out.trim().to_owned()
}

/// Spaces, drafts and datasets the node holds, from `kp status`.
fn counts(node: &Kpd) -> (u64, u64, u64) {
    let s = node.json(&["status"]);
    let n = |k: &str| s[k].as_u64().unwrap();
    (n("spaces"), n("drafts"), n("datasets"))
}

fn edit(node: &Kpd, id: &str, body: &str) -> serde_json::Value {
    let f = node.scratch().join("edit.md");
    std::fs::write(&f, body).unwrap();
    node.json(&[
        "draft",
        "edit",
        id,
        "--file",
        f.to_str().unwrap(),
        "--base",
        "current",
    ])
}

#[test]
fn a_researchers_tour() {
    let node = Kpd::started();
    let status = node.json(&["status"]);
    let node_id = status["node_id"].as_str().unwrap().to_owned();
    assert_eq!(status["node_name"], "Test Institute");

    let space_id = space(&node);
    let shown = node.json(&["space", "show", "Remittances WG"]);
    assert_eq!(shown["id"], space_id.as_str());
    assert_eq!(shown["theme_name"], "Remittances and access to finance");
    assert_eq!(shown["members"][0]["node_id"], node_id.as_str());
    assert_eq!(shown["members"][0]["role"], "admin");
    assert!(node.ok(&["space", "list"]).contains("Remittances WG"));

    let id = draft(&node, BODY);
    let list = node.json(&["draft", "list", "--space", "Remittances WG"]);
    assert_eq!(list["drafts"][0]["id"], id.as_str());
    assert_eq!(list["drafts"][0]["status"], "draft");
    assert_eq!(
        node.json(&["draft", "list", "--status", "published"])["drafts"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    let table = node.ok(&["draft", "list"]);
    assert!(
        table.starts_with("ID") && table.contains("The cost of sending money"),
        "{table}"
    );

    let shown = node.json(&["draft", "show", &id]);
    assert_eq!(shown["body"], BODY);
    assert_eq!(shown["authors"][0]["name"], "Tester");
    assert_eq!(shown["authors"][0]["institution"], "Test Institute");

    // A comment on a passage, then an edit before it: the anchor follows.
    let c = node.json(&[
        "comment",
        "add",
        &id,
        "--quote",
        "fell to 9 percent",
        "--body",
        "Source?",
    ]);
    assert_eq!(c["anchor"], "intact");
    let cid = c["id"].as_str().unwrap().to_owned();
    // The review workflow's names are not for users' labels.
    let err = node.fails(1, &["draft", "version", &id, "round-1"]);
    assert!(err.contains("review workflow"), "{err}");
    node.ok(&["draft", "version", &id, "first"]);
    let moved = BODY.replace("grew in 2011", "grew strongly in 2011");
    let r = edit(&node, &id, &moved);
    assert_eq!(r["changed"], true);
    assert_eq!(r["inserted"], 9);
    let comments = node.json(&["comment", "list", &id]);
    let c = &comments["comments"][0];
    assert_eq!(c["anchor"], "intact");
    assert_eq!(c["passage"], "fell to 9 percent");
    let expected_start = moved.chars().count() - "fell to 9 percent.\n".chars().count();
    assert_eq!(c["start"], expected_start);

    // Replies and resolution.
    node.json(&[
        "--author",
        "Bo",
        "comment",
        "reply",
        &id,
        &cid,
        "--body",
        "World Bank RPW",
    ]);
    let c = node.json(&["comment", "resolve", &id, &cid]);
    assert_eq!(c["resolved"], true);
    assert_eq!(c["replies"][0]["author"], "Bo");

    // Versions, diff and log.
    let old = node.json(&["draft", "show", &id, "--version", "first"]);
    assert_eq!(old["body"], BODY);
    let diff = node.json(&["draft", "diff", &id, "first", "current"]);
    assert_eq!(diff["words_inserted"], 1);
    assert!(
        node.ok(&["draft", "diff", &id, "first"])
            .contains("{+strongly +}")
    );
    let log = node.json(&["draft", "log", &id]);
    let authors: Vec<&str> = log["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["author"].as_str().unwrap())
        .collect();
    assert!(
        authors.contains(&"Bo") && authors.contains(&"Tester"),
        "{authors:?}"
    );
    assert!(
        log["changes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["node_id"] == node_id.as_str())
    );

    // Deleting the commented passage is reported.
    edit(
        &node,
        &id,
        &moved.replace("The global average cost fell to 9 percent.\n", ""),
    );
    assert_eq!(
        node.json(&["comment", "list", &id])["comments"][0]["anchor"],
        "deleted"
    );

    // A dataset from published figures.
    let csv = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/remittances/top-recipients-2011.csv"
    );
    let d = node.json(&[
        "dataset",
        "import",
        csv,
        "--space",
        space_id.as_str(),
        "--title",
        "Top recipients 2011",
        "--source",
        "World Bank",
    ]);
    let did = d["id"].as_str().unwrap().to_owned();
    let shown = node.json(&["dataset", "show", &did]);
    assert_eq!(shown["title"], "Top recipients 2011");
    assert_eq!(shown["columns"][0]["name"], "country");
    let rows = shown["rows"].as_array().unwrap();
    assert_eq!(rows.len() as u64, shown["total_rows"].as_u64().unwrap());
    assert!(rows.len() >= 3);
    assert!(
        node.ok(&["dataset", "show", &did, "--limit", "1"])
            .contains("(1 of")
    );
    assert_eq!(
        d["column_count"],
        shown["columns"].as_array().unwrap().len()
    );
    assert_eq!(counts(&node), (1, 1, 1));
    // Listed, with its space's name, and by space.
    let listed = node.json(&["dataset", "list"]);
    assert_eq!(listed["datasets"][0]["id"], did.as_str());
    assert_eq!(listed["datasets"][0]["title"], "Top recipients 2011");
    let shown = node.ok(&["dataset", "list", "--space", space_id.as_str()]);
    assert!(
        shown.contains(&did) && shown.contains("Top recipients 2011"),
        "{shown}"
    );
    let err = node.fails(1, &["dataset", "list", "--space", "No such group"]);
    assert!(err.contains("No such group"), "{err}");
}

#[test]
fn everything_survives_a_restart() {
    let mut node = Kpd::started();
    space(&node);
    let id = draft(&node, BODY);
    node.json(&[
        "comment",
        "add",
        &id,
        "--quote",
        "grew in 2011",
        "--body",
        "Which year?",
    ]);
    edit(&node, &id, &format!("{BODY}\nA closing line.\n"));
    assert!(node.stop(), "kpd should exit cleanly on SIGTERM");
    assert!(
        !node.data_dir().join("kpd.sock").exists(),
        "the socket is removed on shutdown"
    );
    node.start();
    let d = node.json(&["draft", "show", &id]);
    assert_eq!(
        d["body"].as_str().unwrap(),
        format!("{BODY}\nA closing line.\n")
    );
    assert_eq!(
        node.json(&["comment", "list", &id])["comments"][0]["anchor"],
        "intact"
    );
    assert_eq!(
        node.json(&["status"])["incarnation"],
        2,
        "each start is a new incarnation"
    );
}

#[test]
fn two_editors_on_different_paragraphs_both_keep_their_words() {
    let mut node = Kpd::started();
    space(&node);
    let id = draft(
        &node,
        "First paragraph about costs.\n\nSecond paragraph about flows.\n",
    );
    // Each editor changes its own paragraph, says it is ready, and saves only
    // when both have opened the text: the two sessions overlap for certain.
    let dir = node.scratch().to_owned();
    for (n, from, to) in [
        (1, "First paragraph", "FIRST paragraph"),
        (2, "about flows", "about FLOWS"),
    ] {
        let script = dir.join(format!("editor{n}.sh"));
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nsed -i 's/{from}/{to}/' \"$1\"\ntouch '{d}/ready{n}'\ni=0\nwhile [ ! -f '{d}/go' ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done\n",
                d = dir.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let spawn = |n: u32| {
        let mut cmd = node.kp_command();
        cmd.env("EDITOR", dir.join(format!("editor{n}.sh")))
            .env_remove("VISUAL");
        cmd.args(["draft", "edit", &id])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd.spawn().unwrap()
    };
    let (a, b) = (spawn(1), spawn(2));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !(dir.join("ready1").exists() && dir.join("ready2").exists()) {
        assert!(
            std::time::Instant::now() < deadline,
            "editors did not open the text"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    std::fs::write(dir.join("go"), "").unwrap();
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let body = node.json(&["draft", "show", &id])["body"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        body,
        "FIRST paragraph about costs.\n\nSecond paragraph about FLOWS.\n"
    );
    node.kill9();
}

#[test]
fn text_from_the_editor_is_kept_when_the_node_cannot_take_it() {
    let mut node = Kpd::started();
    space(&node);
    let id = draft(&node, "Costs fell.\n");
    // The editor revises the text and waits; the node stops meanwhile.
    let dir = node.scratch().to_owned();
    let script = dir.join("slow-editor.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nsed -i 's/fell/fell to 6.2 percent/' \"$1\"\ntouch '{d}/opened'\ni=0\nwhile [ ! -f '{d}/save' ] && [ $i -lt 2000 ]; do sleep 0.01; i=$((i+1)); done\n",
            d = dir.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut cmd = node.kp_command();
    cmd.env("EDITOR", &script).env_remove("VISUAL");
    cmd.args(["draft", "edit", &id])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !dir.join("opened").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the editor did not open"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    node.kill9();
    std::fs::write(dir.join("save"), "").unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{err}");
    let kept = err
        .split("your text is kept in ")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("kp says where the text is: {err}"))
        .to_owned();
    // Back up, the node takes the kept file as it is.
    node.start();
    node.ok(&["draft", "edit", &id, "--file", &kept]);
    let _ = std::fs::remove_file(&kept);
    let body = node.json(&["draft", "show", &id])["body"].clone();
    assert_eq!(body, "Costs fell to 6.2 percent.\n");

    // An editor that fails after saving: what it saved is kept too; one that
    // fails without saving leaves nothing behind.
    for (n, saves) in [(1, true), (2, false)] {
        let script = dir.join(format!("failing-editor{n}.sh"));
        let edit = if saves {
            "sed -i 's/Costs/Prices/' \"$1\"\n"
        } else {
            ""
        };
        std::fs::write(&script, format!("#!/bin/sh\n{edit}exit 3\n")).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut cmd = node.kp_command();
        cmd.env("EDITOR", &script).env_remove("VISUAL");
        let out = cmd.args(["draft", "edit", &id]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            !out.status.success() && err.contains("exited with"),
            "{err}"
        );
        let kept = err.split("your text is kept in ").nth(1);
        assert_eq!(kept.is_some(), saves, "{err}");
        if let Some(rest) = kept {
            let path = rest.split(';').next().unwrap();
            node.ok(&["draft", "edit", &id, "--file", path]);
            let _ = std::fs::remove_file(path);
        }
    }
    let body = node.json(&["draft", "show", &id])["body"].clone();
    assert_eq!(body, "Prices fell to 6.2 percent.\n");

    // A VISUAL that is set but empty counts as unset: EDITOR is the editor,
    // not the temporary file run as a command.
    let script = dir.join("editor.sh");
    std::fs::write(&script, "#!/bin/sh\nsed -i 's/Prices/Wages/' \"$1\"\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut cmd = node.kp_command();
    cmd.env("VISUAL", "").env("EDITOR", &script);
    let out = cmd.args(["draft", "edit", &id]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body = node.json(&["draft", "show", &id])["body"].clone();
    assert_eq!(body, "Wages fell to 6.2 percent.\n");

    // No editor named and no terminal: refused at once with what to do,
    // not `vi` started on nothing; the text is unchanged.
    let mut cmd = node.kp_command();
    cmd.env_remove("VISUAL").env_remove("EDITOR");
    let out = cmd
        .args(["draft", "edit", &id])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("no editor to open") && err.contains("--file FILE"),
        "{err}"
    );
    assert_eq!(node.json(&["draft", "show", &id])["body"], body);
    node.kill9();
}

#[test]
fn kpd_help_says_what_it_is_and_where_its_data_lives() {
    let help = |args: &[&str]| {
        let out = std::process::Command::new(bin("kpd"))
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "kpd {args:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let top = help(&["--help"]);
    assert!(top.starts_with("The kp node daemon"), "{top}");
    assert!(top.contains("run") && top.contains("init"), "{top}");
    let run = help(&["run", "--help"]);
    assert!(run.contains("$KP_DATA_DIR, else ./kp-data"), "{run}");
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let node = Kpd::started();
    space(&node);
    let id = draft(&node, "the cost. the cost.\n");
    let before = node.json(&["draft", "show", &id]);

    let err = node.fails(1, &["space", "create", "Other", "--theme", "12"]);
    assert!(err.contains("unknown theme 12"), "{err}");
    let err = node.fails(1, &["space", "create", "Remittances WG", "--theme", "7"]);
    assert!(err.contains("exists already"), "{err}");
    let err = node.fails(1, &["space", "show", "Nope"]);
    assert!(err.contains("no space named `Nope`"), "{err}");
    let err = node.fails(1, &["draft", "new", "--space", "Nope", "--title", "t"]);
    assert!(err.contains("no space named"), "{err}");
    let err = node.fails(
        1,
        &[
            "draft",
            "new",
            "--space",
            "Remittances WG",
            "--title",
            "t",
            "--type",
            "novel",
        ],
    );
    assert!(err.contains("unknown draft type"), "{err}");
    let err = node.fails(1, &["draft", "show", "not-an-id"]);
    assert!(err.contains("is not a document id"), "{err}");
    let absent = kp_core::ids::DocId::random().to_string();
    let err = node.fails(1, &["draft", "show", &absent]);
    assert!(
        err.contains(&format!("no draft {absent} on this node")),
        "{err}"
    );
    let space_id = node.json(&["space", "show", "Remittances WG"])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let err = node.fails(1, &["comment", "list", &space_id]);
    assert!(err.contains("is a space, not a draft"), "{err}");
    let err = node.fails(1, &["draft", "list", "--status", "lost"]);
    assert!(err.contains("unknown status"), "{err}");
    let err = node.fails(1, &["draft", "show", &id, "--version", "round-9"]);
    assert!(err.contains("no version `round-9`"), "{err}");

    let err = node.fails(
        1,
        &[
            "comment",
            "add",
            &id,
            "--quote",
            "absent words",
            "--body",
            "x",
        ],
    );
    assert!(err.contains("does not occur"), "{err}");
    let err = node.fails(
        1,
        &["comment", "add", &id, "--quote", "the cost", "--body", "x"],
    );
    assert!(err.contains("occurs 2 times"), "{err}");
    let err = node.fails(1, &["comment", "reply", &id, "c9", "--body", "x"]);
    assert!(err.contains("no comment `c9`"), "{err}");

    // Not UTF-8.
    let bad = node.scratch().join("latin1.md");
    std::fs::write(&bad, b"caf\xe9\n").unwrap();
    let err = node.fails(
        1,
        &[
            "draft",
            "edit",
            &id,
            "--file",
            bad.to_str().unwrap(),
            "--base",
            "current",
        ],
    );
    assert!(err.contains("not UTF-8"), "{err}");

    // Over the size limit (4 MiB by default).
    let big = node.scratch().join("big.md");
    std::fs::write(&big, "x".repeat(4 * 1024 * 1024 + 1)).unwrap();
    let err = node.fails(
        1,
        &[
            "draft",
            "edit",
            &id,
            "--file",
            big.to_str().unwrap(),
            "--base",
            "current",
        ],
    );
    assert!(err.contains("limit is 4096 KiB"), "{err}");

    // Malformed CSV names the line.
    let csv = node.scratch().join("bad.csv");
    std::fs::write(&csv, "country,value\nIndia,1\nNepal,2,3\n").unwrap();
    let err = node.fails(
        1,
        &[
            "dataset",
            "import",
            csv.to_str().unwrap(),
            "--space",
            "Remittances WG",
            "--title",
            "t",
        ],
    );
    assert!(err.contains("line 3") && err.contains("3 fields"), "{err}");
    std::fs::write(&csv, b"country,value\nM\xe9xico,1\n").unwrap();
    let err = node.fails(
        1,
        &[
            "dataset",
            "import",
            csv.to_str().unwrap(),
            "--space",
            "Remittances WG",
            "--title",
            "t",
        ],
    );
    assert!(err.contains("line 2") && err.contains("UTF-8"), "{err}");
    let mut big_csv = String::from("country,value\n");
    while big_csv.len() <= 16 * 1024 * 1024 {
        big_csv.push_str("Somewhere,12345678\n");
    }
    std::fs::write(&csv, big_csv).unwrap();
    let err = node.fails(
        1,
        &[
            "dataset",
            "import",
            csv.to_str().unwrap(),
            "--space",
            "Remittances WG",
            "--title",
            "t",
        ],
    );
    assert!(err.contains("limit is 16384 KiB"), "{err}");
    let err = node.fails(1, &["dataset", "show", &id]);
    assert!(err.contains("is a draft, not a dataset"), "{err}");

    // Usage errors are clap's exit code 2.
    node.fails(2, &["space", "create", "X"]);

    // Nothing changed.
    assert_eq!(node.json(&["draft", "show", &id]), before);
    assert_eq!(counts(&node), (1, 1, 0));
}

/// A wide table's import: the reply names the columns `kp` prints (every
/// one as JSON) and says how many there are; the dataset keeps them all.
#[test]
fn a_wide_import_replies_with_the_columns_it_prints() {
    let node = Kpd::started();
    node.ok(&["space", "create", "Wide", "--theme", "1"]);
    let wide = node.scratch().join("wide.csv");
    let names: Vec<String> = (0..30).map(|i| format!("c{i}")).collect();
    let row: Vec<String> = (0..30).map(|i| i.to_string()).collect();
    std::fs::write(&wide, format!("{}\n{}\n", names.join(","), row.join(","))).unwrap();
    let import = |json: bool, title: &str| {
        let mut args = vec![
            "dataset",
            "import",
            wide.to_str().unwrap(),
            "--space",
            "Wide",
            "--title",
            title,
        ];
        if json {
            args.insert(0, "--json");
        }
        let out = node.kp(&args);
        assert!(out.status.success(), "{out:?}");
        out
    };
    let out = import(false, "Wide");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("imported 1 row of 30 columns: c0 (integer), c1 (integer)")
            && said.contains("c11 (integer), … 18 more")
            && !said.contains("c12"),
        "{said}"
    );
    let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let shown = node.json(&["dataset", "show", &id]);
    assert_eq!(shown["columns"].as_array().unwrap().len(), 30);
    assert_eq!(shown["columns"][29]["name"], "c29");
    let reply: serde_json::Value =
        serde_json::from_slice(&import(true, "Wide too").stdout).unwrap();
    assert_eq!(reply["column_count"], 30);
    assert_eq!(reply["columns"].as_array().unwrap().len(), 30);
    assert_eq!(reply["columns"][29]["name"], "c29");
}

#[test]
fn no_daemon_is_one_clear_line_and_exit_3() {
    let node = Kpd::init();
    let err = node.fails(3, &["status"]);
    assert!(
        err.contains("no kpd is running") && err.contains("kpd run --data-dir"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn node_setup_lock_and_permissions() {
    let mut node = Kpd::init();
    let dir = node.data_dir();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("node.key")), 0o600);
    let toml = std::fs::read_to_string(dir.join("kpd.toml")).unwrap();
    for key in [
        "name",
        "author",
        "cache_documents",
        "page_cache_mib",
        "max_text_kib",
        "max_csv_kib",
        "max_request_kib",
    ] {
        assert!(
            toml.contains(&format!("\n{key} = ")),
            "kpd.toml lacks {key}"
        );
    }
    // init refuses to overwrite an identity.
    let out = std::process::Command::new(bin("kpd"))
        .args(["init", "--name", "Again", "--data-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("refusing to overwrite"));

    node.start();
    assert_eq!(mode(&dir.join("kpd.sock")), 0o600);
    // A second kpd on the same directory is refused while the first runs.
    let status = node.spawn().wait().unwrap();
    assert!(!status.success());
    let err = node.log();
    assert!(
        err.contains("another kpd is already running")
            && err.contains(&node.pid().unwrap().to_string()),
        "{err}"
    );
    // The first is unaffected.
    node.ok(&["status"]);
}

#[test]
fn first_run_initialises_with_defaults() {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(bin("kpd"))
        .arg("run")
        .current_dir(tmp.path())
        .env_remove("KP_DATA_DIR")
        .env("KP_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let dir = tmp.path().join("kp-data");
    let deadline = std::time::Instant::now() + kp_tests::READY_TIMEOUT;
    while !dir.join("kpd.sock").exists() {
        assert!(std::time::Instant::now() < deadline, "kpd did not start");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(dir.join("node.key").exists() && dir.join("kpd.toml").exists());
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let out = child.wait().unwrap();
    assert!(out.success());
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
    assert!(
        stdout.contains("initialised a new node") && stdout.contains("node id: "),
        "{stdout}"
    );
}

/// `kp draft log ID | head`: a reader that goes away ends the command quietly,
/// with success, whatever it was printing (tables, JSON, a draft's text).
#[test]
fn a_closed_pipe_ends_a_command_quietly() {
    let node = Kpd::started();
    space(&node);
    let long: String = (0..3000)
        .map(|i| format!("Line {i} of a long draft.\n"))
        .collect();
    let id = draft(&node, &long);
    for i in 0..60 {
        edit(
            &node,
            &id,
            &long.replace(&format!("Line {i} "), &format!("Line {i}b ")),
        );
    }
    for args in [
        vec!["draft", "log", id.as_str(), "--limit", "0"],
        vec!["--json", "draft", "log", id.as_str()],
        vec!["draft", "show", id.as_str()],
        vec!["draft", "list"],
    ] {
        let mut child = node
            .kp_command()
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The reader leaves before kp has written anything.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "kp {args:?} panicked: {err}");
        assert_eq!(out.status.code(), Some(0), "kp {args:?}: {err}");
        assert!(err.is_empty(), "kp {args:?} said: {err}");
    }
}

/// `kp draft list` shows a page (the most recently changed first, in one
/// order every time), says how many there are and how to get the next page;
/// `--limit 0` lists them all, and an offset past the end says so.
#[test]
fn drafts_are_listed_a_page_at_a_time() {
    let node = Kpd::started();
    space(&node);
    let mut made = Vec::new();
    for i in 0..7 {
        made.push(
            node.ok(&[
                "draft",
                "new",
                "--space",
                "Remittances WG",
                "--title",
                &format!("Brief {i}"),
            ])
            .trim()
            .to_owned(),
        );
    }
    let all = node.json(&["draft", "list", "--limit", "0"]);
    assert_eq!(all["total"], 7);
    let order: Vec<String> = all["drafts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect();
    let mut sorted = order.clone();
    sorted.sort();
    made.sort();
    assert_eq!(sorted, made, "every draft, once");
    // Pages of three cover the list in its order, without repeats.
    let mut paged = Vec::new();
    for offset in [0, 3, 6] {
        let page = node.json(&[
            "draft",
            "list",
            "--limit",
            "3",
            "--offset",
            &offset.to_string(),
        ]);
        assert_eq!(page["total"], 7);
        paged.extend(
            page["drafts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["id"].as_str().unwrap().to_owned()),
        );
    }
    assert_eq!(paged, order);
    // The table says what is left out and how to see it.
    let out = node.kp(&["draft", "list", "--limit", "3"]);
    assert!(out.status.success());
    let table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(table.lines().count(), 4, "a header and three rows: {table}");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("3 drafts of 7") && said.contains("--offset 3") && said.contains("--limit 0"),
        "{said}"
    );
    // The whole list says nothing more.
    let out = node.kp(&["draft", "list"]);
    assert!(String::from_utf8_lossy(&out.stderr).is_empty());
    assert_eq!(
        node.ok(&["draft", "list", "--offset", "9"]).trim(),
        "no drafts from offset 9: there are 7"
    );
    let err = node.fails(2, &["draft", "list", "--limit", "ten"]);
    assert!(err.contains("--limit"), "{err}");
}

/// A list longer than the pages the node streams it in (1,000 drafts a
/// message) arrives whole and in order: every draft once, the total right,
/// pages taken from the middle equal to that part of the whole, the table a
/// row a draft.
#[test]
fn a_list_longer_than_a_streamed_page_arrives_whole() {
    let drafts = 2_345;
    let mut node = Kpd::init();
    populate::drafts(&node.data_dir(), drafts);
    node.start();
    let ids = |v: &serde_json::Value| -> Vec<String> {
        v["drafts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = node.json(&["draft", "list", "--limit", "0"]);
    assert_eq!(all["total"], drafts);
    let order = ids(&all);
    let mut unique = order.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), drafts, "every draft, once");
    // Newest first, then by title: the order of the first page.
    let key = |d: &serde_json::Value| {
        (
            std::cmp::Reverse(d["updated_at"].as_i64().unwrap()),
            d["title"].as_str().unwrap().to_owned(),
            d["id"].as_str().unwrap().to_owned(),
        )
    };
    let listed: Vec<_> = all["drafts"].as_array().unwrap().iter().map(key).collect();
    assert!(listed.windows(2).all(|w| w[0] <= w[1]), "newest first");
    for (offset, limit) in [(0, 1000), (998, 5), (1999, 2), (2340, 100)] {
        let page = node.json(&[
            "draft",
            "list",
            "--offset",
            &offset.to_string(),
            "--limit",
            &limit.to_string(),
        ]);
        assert_eq!(page["total"], drafts);
        let end = (offset + limit).min(drafts);
        assert_eq!(
            ids(&page),
            order[offset..end],
            "offset {offset}, limit {limit}"
        );
    }
    let table = node.ok(&["draft", "list", "--limit", "0"]);
    assert_eq!(
        table.lines().count(),
        drafts + 1,
        "a header and a row a draft"
    );
}
