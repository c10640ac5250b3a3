//! Work done at the same time, or apart, on real nodes: none of it is lost.
//!
//! ```text
//!   A ◀──▶ B        Ana at A (admin), Chen at B (editor)
//! ```
//!
//! Two nodes comment at once (and while apart); a researcher revises a draft
//! in a file made before a colleague's edit and sends it back; two people
//! write an event's minutes from the same version; a referee
//! reports twice at the same moment; a chair who is also the author tries to
//! accept with no referee.

use std::time::Duration;

use kp_tests::Kpd;

const WAIT: Duration = Duration::from_secs(30);

const PAPER: &str = "# Remittance costs\n\n\
Sending 200 dollars cost 6.2 percent on average in 2023.\n\n\
Costs are highest in Sub-Saharan Africa, at 7.9 percent.\n";

/// A and B linked, a space at A with B as an editor, and a draft by Ana that
/// B holds too.
fn two_nodes() -> (Kpd, Kpd, String) {
    let a = Kpd::listening();
    let b = Kpd::listening();
    b.link(&a, WAIT);
    let (b_id, _) = b.identity();
    let space = a.json(&["space", "create", "Costs WG", "--theme", "7"])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    a.ok(&["space", "add-member", &space, &b_id, "--role", "editor"]);
    let file = write(&a, "paper.md", PAPER);
    let id = a
        .ok(&[
            "--author", "Ana", "draft", "new", "--space", &space, "--title", "Costs", "--file",
            &file,
        ])
        .trim()
        .to_owned();
    b.wait_json(&["draft", "show", &id], "the draft reaches B", WAIT, |_| {
        true
    });
    (a, b, id)
}

fn write(node: &Kpd, name: &str, text: &str) -> String {
    let path = node.scratch().join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

fn unlink(a: &Kpd, b: &Kpd) {
    let (a_id, _) = a.identity();
    let (b_id, _) = b.identity();
    a.ok(&["peer", "remove", &b_id]);
    b.ok(&["peer", "remove", &a_id]);
}

fn bodies(comments: &serde_json::Value) -> Vec<String> {
    let mut out: Vec<String> = comments["comments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["body"].as_str().unwrap().to_owned())
        .collect();
    out.sort();
    out
}

fn body(node: &Kpd, id: &str) -> String {
    shown(node, "draft", id, "body")
}

/// The text `key` of what `kp KIND show ID` shows at `node`.
fn shown(node: &Kpd, kind: &str, id: &str, key: &str) -> String {
    node.json(&[kind, "show", id])[key]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn comments_made_at_once_or_apart_on_two_nodes_are_all_kept() {
    let (a, b, id) = two_nodes();
    // At once, on connected nodes.
    std::thread::scope(|s| {
        s.spawn(|| {
            a.ok(&[
                "--author",
                "Ana",
                "comment",
                "add",
                &id,
                "--quote",
                "6.2 percent",
                "--body",
                "Ana: which source?",
            ])
        });
        s.spawn(|| {
            b.ok(&[
                "--author",
                "Chen",
                "comment",
                "add",
                &id,
                "--quote",
                "7.9 percent",
                "--body",
                "Chen: RPW Q4?",
            ])
        });
    });
    // While apart: both comment, and reply to the other's comment.
    unlink(&a, &b);
    let first = a.json(&["comment", "list", &id]);
    let any = first["comments"][0]["id"].as_str().unwrap().to_owned();
    a.ok(&[
        "--author",
        "Ana",
        "comment",
        "add",
        &id,
        "--quote",
        "Remittance costs",
        "--body",
        "Ana, offline: title too long?",
    ]);
    b.ok(&[
        "--author",
        "Chen",
        "comment",
        "add",
        &id,
        "--quote",
        "on average",
        "--body",
        "Chen, offline: weighted?",
    ]);
    b.ok(&[
        "--author",
        "Chen",
        "comment",
        "reply",
        &id,
        &any,
        "--body",
        "Chen replies",
    ]);
    b.link(&a, WAIT);
    let expected = vec![
        "Ana, offline: title too long?".to_owned(),
        "Ana: which source?".to_owned(),
        "Chen, offline: weighted?".to_owned(),
        "Chen: RPW Q4?".to_owned(),
    ];
    for node in [&a, &b] {
        let list = node.wait_json(&["comment", "list", &id], "all comments", WAIT, |v| {
            v["comments"].as_array().is_some_and(|c| c.len() == 4)
                && v["comments"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|c| c["replies"].as_array().is_some_and(|r| !r.is_empty()))
        });
        assert_eq!(bodies(&list), expected);
    }
    // Every id is distinct, and a unique start of one is enough.
    let list = a.json(&["comment", "list", &id]);
    let ids: std::collections::BTreeSet<&str> = list["comments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 4);
    let one = ids.iter().next().unwrap();
    a.ok(&["comment", "resolve", &id, &one[..6]]);
}

#[test]
fn a_revision_sent_back_from_a_file_keeps_what_a_colleague_wrote_meanwhile() {
    let (a, b, id) = two_nodes();
    // Ana takes the text out to revise it in her own editor, offline.
    let mine = a.scratch().join("mine.md");
    let out = a.ok(&["draft", "show", &id, "-o", mine.to_str().unwrap()]);
    assert!(out.contains("kp draft edit"), "{out}");
    let taken = std::fs::read_to_string(&mine).unwrap();
    assert!(taken.starts_with(PAPER), "{taken}");
    assert!(taken.trim_end().ends_with("-->"), "{taken}");

    // Meanwhile Chen, at B, revises the second paragraph (his own way out and
    // back in, through standard input).
    let chen_text = b.ok(&["draft", "show", &id, "--body"]);
    let chen_text = chen_text.replace("at 7.9 percent.", "at 7.9 percent (RPW, Q4 2023).");
    let mut cmd = b.kp_command();
    cmd.args(["--author", "Chen", "draft", "edit", &id, "--file", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(chen_text.as_bytes())
        .unwrap();
    assert!(child.wait_with_output().unwrap().status.success());
    a.wait_json(&["draft", "show", &id], "Chen's words reach A", WAIT, |v| {
        v["body"]
            .as_str()
            .is_some_and(|t| t.contains("RPW, Q4 2023"))
    });

    // A copy without the line that says which version it is, is refused, and
    // nothing changes.
    let plain = write(&a, "plain.md", &PAPER.replace("6.2", "6.4"));
    let before = a.json(&["draft", "show", &id])["heads"].clone();
    let err = a.fails(
        1,
        &["--author", "Ana", "draft", "edit", &id, "--file", &plain],
    );
    assert!(
        err.contains("--base") && err.contains("kp draft show"),
        "{err}"
    );
    assert_eq!(a.json(&["draft", "show", &id])["heads"], before);

    // Ana's file still has the old second paragraph; she revises the first.
    let revised = taken.replace("6.2 percent on average", "6.4 percent on average");
    std::fs::write(&mine, revised).unwrap();
    // A copy whose last line will not follow (as if an editor wrote it back).
    let stale = a.scratch().join("stale.md");
    std::fs::copy(&mine, &stale).unwrap();
    let saved = a.ok(&[
        "--author",
        "Ana",
        "draft",
        "edit",
        &id,
        "--file",
        mine.to_str().unwrap(),
    ]);
    assert!(saved.contains("saved"), "{saved}");
    for node in [&a, &b] {
        let v = node.wait_json(&["draft", "show", &id], "both revisions", WAIT, |v| {
            v["body"]
                .as_str()
                .is_some_and(|t| t.contains("6.4 percent"))
        });
        let text = v["body"].as_str().unwrap();
        assert!(text.contains("(RPW, Q4 2023)"), "Chen's words stay: {text}");
        assert!(
            !text.contains("kp:draft"),
            "the version line is not text: {text}"
        );
    }
    assert_eq!(body(&a, &id), body(&b, &id));

    // She sends the same file again by mistake, then once more after one
    // more change to it: no words are doubled, and the new one goes in.
    let once = body(&a, &id);
    let send = || {
        let file = mine.to_str().unwrap();
        a.ok(&["--author", "Ana", "draft", "edit", &id, "--file", file])
    };
    send();
    assert_eq!(body(&a, &id), once, "the same file twice changes nothing");
    let stale = stale.to_str().unwrap();
    a.ok(&["--author", "Ana", "draft", "edit", &id, "--file", stale]);
    assert_eq!(
        body(&a, &id),
        once,
        "nor does a copy naming the older version"
    );
    let further = std::fs::read_to_string(&mine)
        .unwrap()
        .replace("on average", "on average worldwide");
    std::fs::write(&mine, further).unwrap();
    send();
    let expected = once.replace("on average", "on average worldwide");
    assert_eq!(body(&a, &id), expected, "only the new words go in");
    // The file now names the version saved: taking a fresh copy over it is
    // fine, but not over changes that were not sent.
    let file = mine.to_str().unwrap();
    a.ok(&["draft", "show", &id, "-o", file]);
    let unsent = std::fs::read_to_string(&mine)
        .unwrap()
        .replace("worldwide", "across corridors");
    std::fs::write(&mine, &unsent).unwrap();
    let err = a.fails(1, &["draft", "show", &id, "-o", file]);
    assert!(err.contains("not sent"), "{err}");
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), unsent, "kept");
    let out = a.json(&["--author", "Ana", "draft", "edit", &id, "--file", file]);
    assert_eq!(out["file_updated"], true, "{out}");
    assert!(body(&a, &id).contains("across corridors"));

    // The same on one node: Chen, at A now, edits the title line while Ana's
    // older copy (with --base naming the version she took) comes back.
    let heads = a.json(&["draft", "show", &id])["heads"].clone();
    let heads: Vec<&str> = heads
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    let ana_copy = body(&a, &id).replace("highest", "still highest");
    let chen_copy = body(&a, &id).replace("# Remittance costs", "# The cost of remittances");
    let chen_file = write(&a, "chen.md", &chen_copy);
    a.ok(&[
        "--author", "Chen", "draft", "edit", &id, "--file", &chen_file, "--base", "current",
    ]);
    let ana_file = write(&a, "ana.md", &ana_copy);
    let short: Vec<String> = heads.iter().map(|h| h[..8].to_owned()).collect();
    a.ok(&[
        "--author",
        "Ana",
        "draft",
        "edit",
        &id,
        "--file",
        &ana_file,
        "--base",
        &short.join(","),
    ]);
    let text = body(&a, &id);
    assert!(
        text.contains("# The cost of remittances") && text.contains("still highest"),
        "{text}"
    );

    // A file made from another draft is refused.
    let other = a
        .ok(&[
            "draft", "new", "--space", "Costs WG", "--title", "Other", "--file", &plain,
        ])
        .trim()
        .to_owned();
    let err = a.fails(
        1,
        &["draft", "edit", &other, "--file", mine.to_str().unwrap()],
    );
    assert!(err.contains("was written from draft"), "{err}");
}

/// The minutes of `event` at `node`.
fn minutes(node: &Kpd, event: &str) -> String {
    shown(node, "event", event, "minutes")
}

#[test]
fn two_people_writing_an_events_minutes_from_one_version_keep_both() {
    let (a, _b, _) = two_nodes();
    let start = write(&a, "start.md", "Agenda: corridor costs.\n");
    let event = a
        .ok(&[
            "event",
            "new",
            "--space",
            "Costs WG",
            "--title",
            "Costs debate",
            "--kind",
            "debate",
            "--starts",
            "2026-05-04",
            "--minutes",
            &start,
        ])
        .trim()
        .to_owned();
    // Ana and Chen each take the minutes as they are, and write in them.
    let dir = a.scratch();
    let (ana, chen) = (dir.join("ana.md"), dir.join("chen.md"));
    for f in [&ana, &chen] {
        a.ok(&["event", "show", &event, "-o", f.to_str().unwrap()]);
    }
    let add = |f: &std::path::Path, line: &str| {
        let held = std::fs::read_to_string(f).unwrap();
        let (text, kp_line) = held.trim_end().rsplit_once('\n').unwrap();
        assert!(kp_line.starts_with("<!-- kp:event "), "{held}");
        std::fs::write(f, format!("{text}\n{line}\n{kp_line}\n")).unwrap();
    };
    add(&ana, "Ana: fees fell in 2025.");
    add(&chen, "Chen: the 3 percent target is far.");
    let ana_sent = std::fs::read_to_string(&ana).unwrap();
    a.ok(&[
        "--author",
        "Ana",
        "event",
        "edit",
        &event,
        "--minutes",
        ana.to_str().unwrap(),
    ]);
    a.ok(&[
        "--author",
        "Chen",
        "event",
        "edit",
        &event,
        "--minutes",
        chen.to_str().unwrap(),
    ]);
    let both = minutes(&a, &event);
    for kept in [
        "Agenda: corridor costs.",
        "Ana: fees fell",
        "Chen: the 3 percent",
    ] {
        assert!(both.contains(kept), "{kept:?} lost: {both:?}");
    }
    // Sent again, as it is now (its last line brought up to date) or as it
    // was first sent (a copy made before): nothing is added twice.
    let again = dir.join("ana-again.md");
    std::fs::write(&again, &ana_sent).unwrap();
    a.ok(&["event", "edit", &event, "--minutes", ana.to_str().unwrap()]);
    a.ok(&[
        "event",
        "edit",
        &event,
        "--minutes",
        again.to_str().unwrap(),
    ]);
    assert_eq!(minutes(&a, &event), both);
    // Minutes written from a draft, or from another event, are refused; a
    // file kp did not write replaces the minutes, as the help says.
    let err = a.fails(
        1,
        &[
            "event",
            "new",
            "--space",
            "Costs WG",
            "--title",
            "Copy",
            "--kind",
            "debate",
            "--starts",
            "2026-05-05",
            "--minutes",
            chen.to_str().unwrap(),
        ],
    );
    assert!(err.contains("kp event edit"), "{err}");
    let plain = write(&a, "plain.md", "Replaced.\n");
    a.ok(&["event", "edit", &event, "--minutes", &plain]);
    assert_eq!(minutes(&a, &event), "Replaced.\n");
    // -o never writes over a file.
    let err = a.fails(1, &["event", "show", &event, "-o", ana.to_str().unwrap()]);
    assert!(err.contains("exists"), "{err}");
    // A pipe gets the minutes and its version line, and the advice is to
    // save them first, not to send the pipe back.
    let out = a.kp(&["event", "show", &event, "-o", "/dev/stdout"]);
    assert!(out.status.success());
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(stdout.starts_with("Replaced.\n"), "{stdout}");
    assert!(
        stderr.contains("save them to a file") && !stderr.contains("--minutes /dev/stdout"),
        "{stderr}"
    );
}

/// A draft in review at `node`, with `referees` (people at this node)
/// assigned by Carla, the chair; Dilip is the author.
fn in_review(node: &Kpd, referees: &[&str]) -> String {
    let (me, _) = node.identity();
    node.ok(&["space", "create", "Migration WG", "--theme", "1"]);
    let file = write(node, "paper.md", PAPER);
    let id = node
        .ok(&[
            "--author",
            "Dilip",
            "draft",
            "new",
            "--space",
            "Migration WG",
            "--title",
            "Costs",
            "--file",
            &file,
        ])
        .trim()
        .to_owned();
    node.ok(&["--author", "Dilip", "review", "submit-draft", &id]);
    for r in referees {
        node.ok(&[
            "--author",
            "Carla",
            "review",
            "assign",
            &id,
            "--referee",
            &format!("{r}@{me}"),
        ]);
    }
    id
}

#[test]
fn a_referee_reporting_twice_at_the_same_moment_keeps_one_report() {
    let node = Kpd::started();
    let referees = ["Bo", "Dee", "Eva", "Femi", "Gita"];
    let id = in_review(&node, &referees);
    let files: Vec<(String, String)> = referees
        .iter()
        .map(|r| {
            (
                write(
                    &node,
                    &format!("{r}-1.md"),
                    &format!("{r}, first thoughts.\n"),
                ),
                write(
                    &node,
                    &format!("{r}-2.md"),
                    &format!("{r}, second thoughts.\n"),
                ),
            )
        })
        .collect();
    // Each referee sends two reports at once (two terminals): both are told
    // they succeeded, so one report must hold what one of them sent.
    std::thread::scope(|s| {
        for (r, (one, two)) in referees.iter().zip(&files) {
            for f in [one, two] {
                let (node, id) = (&node, &id);
                s.spawn(move || {
                    node.ok(&[
                        "--author",
                        r,
                        "review",
                        "report",
                        id,
                        "--recommendation",
                        "minor",
                        "--file",
                        f,
                    ])
                });
            }
        }
    });
    let state = node.json(&["review", "list", &id]);
    let reports = state["reports"].as_array().unwrap();
    assert_eq!(reports.len(), referees.len(), "{state}");
    for r in referees {
        let mine: Vec<&serde_json::Value> = reports.iter().filter(|x| x["referee"] == r).collect();
        assert_eq!(mine.len(), 1, "{state}");
        let text = mine[0]["text"].as_str().unwrap();
        assert!(
            text == format!("{r}, first thoughts.\n") || text == format!("{r}, second thoughts.\n"),
            "{text:?}"
        );
        // Both were recorded: the report was made once and updated once.
        let rid = mine[0]["id"].as_str().unwrap();
        let log = node.json(&["doc", "blame", rid]);
        assert_eq!(log["changes"].as_array().unwrap().len(), 2, "{log}");
    }
}

#[test]
fn peer_review_needs_peers_and_keeps_its_names() {
    let node = Kpd::started();
    let (me, _) = node.identity();
    let id = in_review(&node, &[]);
    // The chair who is also an author decides nothing.
    let err = node.fails(1, &["--author", "Dilip", "review", "decide", &id, "accept"]);
    assert!(
        err.contains("author") && err.contains("another admin"),
        "{err}"
    );
    let err = node.fails(
        1,
        &[
            "--author",
            "Dilip",
            "review",
            "assign",
            &id,
            "--referee",
            &format!("Bo@{me}"),
        ],
    );
    assert!(err.contains("another admin"), "{err}");
    // No referee, no report: no accept, no reject, no publication.
    for d in ["accept", "reject"] {
        let err = node.fails(1, &["--author", "Carla", "review", "decide", &id, d]);
        assert!(err.contains("at least one"), "{err}");
    }
    let err = node.fails(1, &["--author", "Carla", "publish", &id]);
    assert!(err.contains("the draft is in-review"), "{err}");
    // An author does not referee their own draft.
    let err = node.fails(
        1,
        &[
            "--author",
            "Carla",
            "review",
            "assign",
            &id,
            "--referee",
            &format!("Dilip@{me}"),
        ],
    );
    assert!(err.contains("cannot referee"), "{err}");
    let ind = node.json(&["report", "indicators"]);
    assert_eq!(ind["papers_published"], 0);

    // Users' labels never block the workflow's names.
    let err = node.fails(1, &["draft", "version", &id, "round-2"]);
    assert!(err.contains("review workflow"), "{err}");
    node.ok(&["draft", "version", &id, "sent-to-chair"]);

    // With a referee's report, the chair accepts and publishes.
    node.ok(&[
        "--author",
        "Carla",
        "review",
        "assign",
        &id,
        "--referee",
        &format!("Bo@{me}"),
    ]);
    let report = write(&node, "report.md", "Sound.\n");
    node.ok(&[
        "--author",
        "Bo",
        "review",
        "report",
        &id,
        "--recommendation",
        "accept",
        "--file",
        &report,
    ]);
    node.ok(&["--author", "Carla", "review", "decide", &id, "accept"]);
    assert!(
        node.ok(&["--author", "Carla", "publish", &id])
            .contains("published-1")
    );
    let shown = node.json(&["draft", "show", &id]);
    let mut labels: Vec<&str> = shown["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["label"].as_str().unwrap())
        .collect();
    labels.sort();
    assert_eq!(labels, ["published-1", "round-1", "sent-to-chair"]);
    let ind = node.json(&["report", "indicators"]);
    assert_eq!(ind["papers_published"], 1);
    assert_eq!(ind["reviews_completed"], 1);
}
