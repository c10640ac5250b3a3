//! Every example kp shows works: the lines under "Examples:" in `kp --help` and
//! in every `kp COMMAND [SUBCOMMAND] --help`, and the shell blocks of the
//! README, each run against a real node in a world prepared for it.
//!
//! ```text
//!   help examples ──▶ H (a space, a draft through a round, a dataset, plugins)
//!   README's tour ──▶ R (empty: the tour builds its own world)
//! ```
//!
//! The help is walked from `kp --help` through the subcommands each help text
//! lists, so a new command's examples are run without touching this file.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kp_tests::{Kpd, bin, plugin_wasm};

/// The placeholders help examples may use; the test puts a real id in their
/// place. Any other word in capitals outside quotes fails the test, so the
/// help keeps to this vocabulary.
const PLACEHOLDERS: [&str; 6] = [
    "DRAFT_ID",
    "DATASET_ID",
    "SPACE_ID",
    "NODE_ID",
    "EVENT_ID",
    "ANALYSIS_ID",
];

/// The theme plugins: examples name their components under
/// `target/wasm32-wasip2/plugin/`.
const PLUGINS: [&str; 4] = [
    "remittance-indicators",
    "remittance-cost",
    "diaspora-savings",
    "brief-readability",
];

/// How long one example (or the whole README) may take before it counts as hung.
const EXAMPLE_TIMEOUT: Duration = Duration::from_secs(120);

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Fills `dir` with the files the examples name: the texts of
/// `fixtures/examples/`, the CSV of top recipients, and the plugins'
/// components at the path cargo writes them to.
fn prepare_files(dir: &Path) {
    let examples = fixtures().join("examples");
    for name in [
        "draft.md",
        "revised.md",
        "report.md",
        "doc.json",
        "minutes.md",
    ] {
        std::fs::copy(examples.join(name), dir.join(name)).expect("a fixture");
    }
    std::fs::copy(
        fixtures().join("remittances/top-recipients-2011.csv"),
        dir.join("top-recipients-2011.csv"),
    )
    .expect("the CSV fixture");
    let plugins = dir.join("target/wasm32-wasip2/plugin");
    std::fs::create_dir_all(&plugins).expect("a plugin directory");
    for package in PLUGINS {
        let wasm = plugin_wasm(package);
        let name = wasm.file_name().expect("a file name");
        std::os::unix::fs::symlink(&wasm, plugins.join(name)).expect("a symlink");
    }
}

/// A script standing in for a person at `$EDITOR`: it adds a paragraph to the
/// file it is given, as someone revising the text would.
fn editor(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("editor");
    std::fs::write(
        &path,
        "#!/bin/sh\nprintf '\\nA paragraph written in an editor.\\n' >> \"$1\"\n",
    )
    .expect("the editor script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

/// A shell as a reader would have it: `kp` on PATH, the node in
/// `$KP_DATA_DIR`, the editor script in `$EDITOR`, `dir` as the working
/// directory and home, and no author set.
fn shell(dir: &Path, node: &Kpd, editor: &Path) -> Command {
    let kp = bin("kp");
    let bin_dir = kp.parent().expect("the binaries' directory");
    let path = match std::env::var_os("PATH") {
        Some(p) => {
            let mut all = vec![bin_dir.to_path_buf()];
            all.extend(std::env::split_paths(&p));
            std::env::join_paths(all).expect("a PATH")
        }
        None => bin_dir.as_os_str().to_owned(),
    };
    let mut cmd = Command::new("sh");
    cmd.current_dir(dir)
        .env("PATH", path)
        .env("HOME", dir)
        .env("KP_DATA_DIR", node.data_dir())
        .env("EDITOR", editor)
        .env_remove("VISUAL")
        .env_remove("KP_AUTHOR")
        .stdin(Stdio::null());
    cmd
}

/// What a command wrote and how it ended.
struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `cmd` with its standard output and error in files (or both in one, if
/// `merged`), and kills it if it is still running after [`EXAMPLE_TIMEOUT`].
fn run(mut cmd: Command, scratch: &Path, merged: bool) -> Ran {
    let out_path = scratch.join("out.log");
    let err_path = scratch.join("err.log");
    let out = std::fs::File::create(&out_path).expect("a log file");
    let err = if merged {
        out.try_clone().expect("a log file")
    } else {
        std::fs::File::create(&err_path).expect("a log file")
    };
    let mut child = cmd.stdout(out).stderr(err).spawn().expect("sh runs");
    let deadline = Instant::now() + EXAMPLE_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for sh") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let read =
        |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
    Ran {
        code: status.and_then(|s| s.code()),
        stdout: read(&out_path),
        stderr: if merged {
            String::new()
        } else {
            read(&err_path)
        },
    }
}

fn exit_text(code: Option<i32>) -> String {
    match code {
        Some(c) => format!("exit code {c}"),
        None => format!("killed: still running after {EXAMPLE_TIMEOUT:?}, or ended by a signal"),
    }
}

/// `kp ARGS --help`, as it shows without a terminal: wrapped at 100 columns.
fn help(args: &[String]) -> String {
    let out = Command::new(bin("kp"))
        .args(args)
        .arg("--help")
        // clap wraps the help at $COLUMNS if set; an example wrapped there
        // would fail here for one developer and pass for another.
        .env_remove("COLUMNS")
        .output()
        .expect("kp runs");
    assert!(
        out.status.success(),
        "kp {} --help failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("kp prints UTF-8")
}

/// The subcommands a help text lists under "Commands:" (without `help`).
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        // A name sits two spaces in; a description that wraps sits deeper.
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

/// The help of `kp` and of every command under it, depth first in the order
/// the help lists them: (`kp draft show`, its help text).
fn help_tree() -> Vec<(Vec<String>, String)> {
    fn walk(args: Vec<String>, out: &mut Vec<(Vec<String>, String)>) {
        let text = help(&args);
        let subs = subcommands(&text);
        out.push((args.clone(), text));
        for name in subs {
            let mut deeper = args.clone();
            deeper.push(name);
            walk(deeper, out);
        }
    }
    let mut out = Vec::new();
    walk(Vec::new(), &mut out);
    out
}

/// One example of a help text: as shown (lines joined) and the command alone.
#[derive(Debug)]
struct Example {
    shown: String,
    command: String,
}

/// Cuts the note a help text puts after an example, two spaces or more then
/// `(…)` to the end of the line: `kp draft edit DRAFT_ID   (opens $EDITOR)`.
fn without_note(line: &str) -> &str {
    if line.ends_with(')')
        && let Some(at) = line.rfind("  (")
    {
        return line[..at].trim_end();
    }
    line
}

/// The examples of a help text: the indented lines after a line "Examples:",
/// up to a blank or unindented line; a line ending in `\` goes on on the next.
fn examples(help: &str) -> Result<Vec<Example>, String> {
    let mut out = Vec::new();
    let mut in_block = false;
    let mut pending: Option<Example> = None;
    for line in help.lines() {
        let indented = line.starts_with(' ');
        if in_block && (!indented || line.trim().is_empty()) {
            if let Some(p) = pending.take() {
                return Err(format!("the example `{}` ends with `\\`", p.shown));
            }
            in_block = false;
        }
        if !indented && line.starts_with("Example") {
            if line != "Examples:" {
                return Err(format!(
                    "the heading `{line}`: examples go under a line `Examples:` alone"
                ));
            }
            in_block = true;
            continue;
        }
        if !in_block {
            continue;
        }
        let shown = line.trim();
        let command = without_note(shown);
        let (command, goes_on) = match command.strip_suffix('\\') {
            Some(c) => (c.trim_end(), true),
            None => (command, false),
        };
        let mut ex = pending.take().unwrap_or(Example {
            shown: String::new(),
            command: String::new(),
        });
        for (into, add) in [(&mut ex.shown, shown), (&mut ex.command, command)] {
            if !into.is_empty() {
                into.push(' ');
            }
            into.push_str(add);
        }
        if goes_on {
            pending = Some(ex);
        } else {
            out.push(ex);
        }
    }
    match pending {
        Some(p) => Err(format!("the example `{}` ends with `\\`", p.shown)),
        None => Ok(out),
    }
}

/// The text of a command line outside quotes (quoted text blanked out), for
/// looking at the words the shell sees as they are.
fn unquoted(command: &str) -> String {
    let mut out = String::new();
    let mut quote: Option<char> = None;
    for c in command.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => out.push(' '),
            None if c == '\'' || c == '"' => quote = Some(c),
            None => out.push(c),
        }
    }
    out
}

/// Words in capitals outside quotes that are not among [`PLACEHOLDERS`].
fn unknown_placeholders(command: &str) -> Vec<String> {
    unquoted(command)
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| {
            w.len() >= 2
                && w.chars().any(|c| c.is_ascii_uppercase())
                && w.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
        .filter(|w| !PLACEHOLDERS.contains(w))
        .map(str::to_owned)
        .collect()
}

/// `command` with each placeholder (a whole word) replaced by its value.
fn substitute(command: &str, values: &[(&str, String)]) -> String {
    let mut out = String::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        match values.iter().find(|(name, _)| name == word) {
            Some((_, value)) => out.push_str(value),
            None => out.push_str(word),
        }
        word.clear();
    };
    for c in command.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// The packages a plugin build example builds, if `command` is exactly
/// `cargo build --profile plugin --target wasm32-wasip2 -p NAME…`.
fn plugin_build(command: &str) -> Option<Vec<String>> {
    let rest = command.strip_prefix("cargo build --profile plugin --target wasm32-wasip2 ")?;
    let words: Vec<&str> = rest.split_whitespace().collect();
    if words.is_empty() || !words.len().is_multiple_of(2) {
        return None;
    }
    words
        .chunks(2)
        .map(|pair| (pair[0] == "-p").then(|| pair[1].to_owned()))
        .collect()
}

/// The world the help examples run in, on `node`, with files in `dir`: a
/// space; a draft by Dilip that has been through a round of review and awaits
/// its revision (so `round-1` exists for the examples that show, export or
/// merge against it, and the review examples can submit it again); a dataset
/// of top recipients; the plugins the analyses name; and `mine.md`, written
/// by `kp draft show -o`. Returns each placeholder's value.
fn help_world(node: &Kpd, dir: &Path) -> Vec<(&'static str, String)> {
    let path = |name: &str| dir.join(name).display().to_string();
    // Creation commands print the new id alone on standard output.
    let id = |out: String| {
        let id = out.trim().to_owned();
        assert!(
            !id.is_empty() && !id.contains(char::is_whitespace),
            "a creation command printed more than an id: {out:?}"
        );
        id
    };
    let space = id(node.ok(&["space", "create", "Briefs WG", "--theme", "7"]));
    let draft = id(node.ok(&[
        "--author",
        "Dilip",
        "draft",
        "new",
        "--space",
        &space,
        "--title",
        "The cost of sending money",
        "--file",
        &path("draft.md"),
    ]));
    node.ok(&["--author", "Dilip", "review", "submit-draft", &draft]);
    node.ok(&[
        "--author",
        "Carla",
        "review",
        "decide",
        &draft,
        "revise",
        "--note",
        "Shorter, please.",
    ]);
    let dataset = id(node.ok(&[
        "dataset",
        "import",
        &path("top-recipients-2011.csv"),
        "--space",
        &space,
        "--title",
        "Top recipients 2011",
    ]));
    for package in ["remittance-indicators", "brief-readability"] {
        node.ok(&[
            "plugin",
            "install",
            &plugin_wasm(package).display().to_string(),
        ]);
    }
    node.ok(&["draft", "show", &draft, "-o", &path("mine.md")]);
    let analysis = node.json(&["analyze", &dataset, "--plugin", "remittance-indicators"])["id"]
        .as_str()
        .expect("an analysis id")
        .to_owned();
    let event = id(node.ok(&[
        "event",
        "new",
        "--space",
        &space,
        "--title",
        "Remittance costs",
        "--kind",
        "workshop",
        "--starts",
        "2026-03-02",
        "--participant",
        "KNOMAD | Global",
    ]));
    let node_id = node.json(&["status"])["node_id"]
        .as_str()
        .expect("a node id")
        .to_owned();
    vec![
        ("DRAFT_ID", draft),
        ("DATASET_ID", dataset),
        ("SPACE_ID", space),
        ("NODE_ID", node_id),
        ("EVENT_ID", event),
        ("ANALYSIS_ID", analysis),
    ]
}

#[test]
fn every_example_in_the_help_runs() {
    let mut node = Kpd::init();
    // `kp portal build` writes the portal of the spaces named here.
    node.set_in("portal", &[("spaces", "[\"Briefs WG\"]")]);
    node.start();
    let dir = tempfile::tempdir().expect("a directory");
    prepare_files(dir.path());
    let editor = editor(node.scratch());
    let values = help_world(&node, dir.path());

    let mut ran = 0;
    let mut failures = Vec::new();
    for (args, text) in help_tree() {
        let whose = format!(
            "`kp {}--help`",
            args.iter().map(|a| format!("{a} ")).collect::<String>()
        );
        let list = match examples(&text) {
            Ok(l) => l,
            Err(e) => {
                failures.push(format!("{whose}: {e}"));
                continue;
            }
        };
        for ex in list {
            ran += 1;
            if let Some(packages) = plugin_build(&ex.command) {
                // The test builds the plugins with this very command (through
                // `plugin_wasm`, which runs `cargo build --profile plugin
                // --target wasm32-wasip2 -p NAME` in the workspace), rather
                // than running cargo from the examples' directory.
                for p in packages {
                    plugin_wasm(&p);
                }
                continue;
            }
            if !ex.command.starts_with("kp ") {
                failures.push(format!(
                    "{whose}: the example `{}` is neither a kp command nor a plugin build \
                     (`cargo build --profile plugin --target wasm32-wasip2 -p NAME`)",
                    ex.shown
                ));
                continue;
            }
            let unknown = unknown_placeholders(&ex.command);
            if !unknown.is_empty() {
                failures.push(format!(
                    "{whose}: the example `{}` uses {}, not one of the placeholders {}",
                    ex.shown,
                    unknown.join(", "),
                    PLACEHOLDERS.join(", ")
                ));
                continue;
            }
            let line = substitute(&ex.command, &values);
            let mut sh = shell(dir.path(), &node, &editor);
            sh.args(["-e", "-c", &line]);
            let r = run(sh, node.scratch(), false);
            if r.code != Some(0) {
                failures.push(format!(
                    "{whose}: the example\n  {}\nran as\n  {line}\nand failed ({}):\n--- stdout\n{}--- stderr\n{}",
                    ex.shown,
                    exit_text(r.code),
                    r.stdout,
                    r.stderr
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {ran} help examples failed:\n\n{}\n\nthe node's log:\n{}",
        failures.len(),
        failures.join("\n\n"),
        node.log()
    );
    // The walk reached the commands' examples, not only the top-level ones.
    assert!(ran > 20, "only {ran} examples found in the help");
}

/// The README's shell blocks to run: (line number of each line, the line), in
/// order, block after block. The Quick start's block is left out: it starts
/// a node (the harness has started one) and runs the whole test suite, of
/// which this test is part.
fn readme_blocks(readme: &str) -> Vec<Vec<(usize, String)>> {
    let mut blocks = Vec::new();
    let mut section = String::new();
    let mut block: Option<Vec<(usize, String)>> = None;
    for (i, line) in readme.lines().enumerate() {
        match block.as_mut() {
            Some(b) if line.trim_end() == "```" => {
                let b = std::mem::take(b);
                block = None;
                if section != "## Quick start" {
                    blocks.push(b);
                }
            }
            Some(b) => b.push((i + 1, line.to_owned())),
            None if line.trim_end() == "```sh" => block = Some(Vec::new()),
            None if line.starts_with("## ") => section = line.trim_end().to_owned(),
            None => {}
        }
    }
    assert!(block.is_none(), "README.md: a ```sh block is never closed");
    blocks
}

/// `line` without a comment at its end (`# …` outside quotes).
fn without_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut word_start = true;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
        } else {
            match (quote, c) {
                (Some(q), _) if c == q => quote = None,
                (Some('"'), '\\') | (None, '\\') => escaped = true,
                (Some(_), _) => {}
                (None, '\'' | '"') => quote = Some(c),
                (None, '#') if word_start => return line[..i].trim_end(),
                (None, _) => {}
            }
        }
        word_start = c.is_whitespace();
    }
    line
}

/// One script of the README's blocks. Before each command it prints a marker
/// with the command's README line, and after it the script exits with the
/// command's status if it failed: `sh -e` alone would go on after the failure
/// of the left side of `a && b`.
fn tour_script(blocks: &[Vec<(usize, String)>]) -> String {
    let mut script = String::from("set -e\n");
    for block in blocks {
        let mut start: Option<usize> = None;
        for (n, line) in block {
            let code = without_comment(line);
            if start.is_none() {
                if code.trim().is_empty() {
                    continue;
                }
                start = Some(*n);
                let _ = writeln!(script, "echo '@@ README.md:{n}'");
            }
            match code.strip_suffix('\\') {
                Some(_) => {
                    script.push_str(code);
                    script.push('\n');
                }
                None => {
                    let _ = writeln!(script, "{code} || exit $?");
                    start = None;
                }
            }
        }
        assert!(
            start.is_none(),
            "README.md:{}: a command ends its block with `\\`",
            start.unwrap_or_default()
        );
    }
    script.push_str("echo '@@ end'\n");
    script
}

#[test]
fn the_readme_runs() {
    let mut node = Kpd::init();
    // The portal section names the tour's space in `[portal] spaces`.
    node.set_in("portal", &[("spaces", "[\"Remittances WG\"]")]);
    node.start();
    let dir = tempfile::tempdir().expect("a directory");
    prepare_files(dir.path());
    // The tour's `export KP_DATA_DIR=~/kp-data` names this node.
    std::os::unix::fs::symlink(node.data_dir(), dir.path().join("kp-data")).expect("a symlink");
    let editor = editor(node.scratch());

    let readme_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let readme = std::fs::read_to_string(&readme_path).expect("README.md");
    let lines: Vec<&str> = readme.lines().collect();
    let blocks = readme_blocks(&readme);
    assert!(
        blocks
            .iter()
            .any(|b| b.iter().any(|(_, l)| l.contains("kp draft new"))),
        "README.md has no tour to run (no ```sh block with `kp draft new`)"
    );
    let script = tour_script(&blocks);
    let script_path = node.scratch().join("tour.sh");
    std::fs::write(&script_path, &script).expect("the script");

    let mut sh = shell(dir.path(), &node, &editor);
    sh.arg(&script_path);
    let r = run(sh, node.scratch(), true);
    let log = r.stdout;
    if r.code != Some(0) || !log.contains("@@ end") {
        // The last marker names the command that failed; what follows it is
        // that command's output.
        let (line, output) = match log.rfind("@@ README.md:") {
            Some(at) => {
                let rest = &log[at + "@@ README.md:".len()..];
                let (n, output) = rest.split_once('\n').unwrap_or((rest, ""));
                (n.trim().parse::<usize>().ok(), output)
            }
            None => (None, log.as_str()),
        };
        let shown = match line {
            Some(n) => {
                let mut text = format!("README.md:{n}:");
                for l in lines.iter().skip(n - 1) {
                    text.push_str("\n  ");
                    text.push_str(l);
                    if !l.trim_end().ends_with('\\') {
                        break;
                    }
                }
                text
            }
            None => "README.md, before its first command:".to_owned(),
        };
        panic!(
            "{shown}\nfailed ({}); its output:\n{output}\n\nthe whole run:\n{log}\nthe node's log:\n{}",
            exit_text(r.code),
            node.log()
        );
    }

    // The tour did what it says: one draft, through two rounds, published.
    let drafts = node.json(&["draft", "list"]);
    let drafts = drafts["drafts"].as_array().expect("drafts");
    assert_eq!(drafts.len(), 1, "{drafts:?}");
    assert_eq!(drafts[0]["status"], "published", "{drafts:?}");
    let id = drafts[0]["id"].as_str().expect("an id");
    let shown = node.json(&["draft", "show", id]);
    let labels: Vec<&str> = shown["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .filter_map(|v| v["label"].as_str())
        .collect();
    for label in ["sent-to-chair", "round-1", "round-2", "published-1"] {
        assert!(labels.contains(&label), "no version {label}: {labels:?}");
    }
    assert!(
        shown["body"]
            .as_str()
            .is_some_and(|b| b.contains("A paragraph written in an editor.")),
        "the editor's paragraph is missing: {shown}"
    );
}

#[test]
fn the_example_parsers_see_what_a_reader_sees() {
    let help = "\
Usage: kp draft edit

Examples:
  kp draft edit DRAFT_ID                 (opens $EDITOR)
  kp review report DRAFT_ID --file report.md \\
       --comment 'fell to 6%::Which source?'
  cargo build --profile plugin --target wasm32-wasip2 -p remittance-cost

The same plugin gives the same report.
";
    let ex = examples(help).unwrap();
    let commands: Vec<&str> = ex.iter().map(|e| e.command.as_str()).collect();
    assert_eq!(
        commands,
        [
            "kp draft edit DRAFT_ID",
            "kp review report DRAFT_ID --file report.md --comment 'fell to 6%::Which source?'",
            "cargo build --profile plugin --target wasm32-wasip2 -p remittance-cost",
        ]
    );
    assert_eq!(
        plugin_build(commands[2]),
        Some(vec!["remittance-cost".to_owned()])
    );
    assert_eq!(plugin_build("cargo build -p remittance-cost"), None);
    assert!(examples("Example:\n  kp status\n").is_err());
    assert!(examples("Examples:\n  kp draft edit \\\n\nmore").is_err());

    assert_eq!(
        unknown_placeholders("kp draft edit ID --file FILE --quote \"CC BY\""),
        ["ID", "FILE"]
    );
    assert!(
        unknown_placeholders("kp --author Bo review assign DRAFT_ID --referee Bo@NODE_ID")
            .is_empty()
    );
    let values = [("DRAFT_ID", "abc".to_owned())];
    assert_eq!(
        substitute("kp draft show DRAFT_ID -o DRAFT_IDS", &values),
        "kp draft show abc -o DRAFT_IDS"
    );

    assert_eq!(without_comment("kp status   # node id"), "kp status");
    assert_eq!(
        without_comment("kp comment add $ID --body \"# not a comment\""),
        "kp comment add $ID --body \"# not a comment\""
    );
    assert_eq!(
        without_comment("NODE=$(kp --json status | sed -n 's/#\\(.*\\)/\\1/p')  # x"),
        "NODE=$(kp --json status | sed -n 's/#\\(.*\\)/\\1/p')"
    );
    let readme = "## Quick start\n\n```sh\nscripts/test\n```\n\n## A tour\n\n```sh\nkp status  # hi\nkp draft new \\\n  --file x\n```\n";
    let blocks = readme_blocks(readme);
    assert_eq!(blocks.len(), 1);
    assert_eq!(
        tour_script(&blocks),
        "set -e\necho '@@ README.md:10'\nkp status || exit $?\necho '@@ README.md:11'\nkp draft new \\\n  --file x || exit $?\necho '@@ end'\n"
    );
}
