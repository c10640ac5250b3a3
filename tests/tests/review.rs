//! The peer-review workflow across four real nodes, from submission to a
//! published brief and the donors' indicators.
//!
//! ```text
//!   D ◀──▶ A ◀──▶ B ◀──▶ C
//!   Dee    Ana    Bo     Carla (chair, admin of the space), Chen (co-author)
//! ```
//!
//! Ana (at A, a university in a low-income country) writes a working paper
//! that Chen (at C) co-writes; Carla chairs the working group at C, Bo (at B)
//! and Dee (at D, A's partner) referee. No two of A, C and D talk directly.

use std::time::Duration;

use kp_tests::Kpd;

const WAIT: Duration = Duration::from_secs(30);

fn node(name: &str, region: &str, income: &str) -> Kpd {
    Kpd::listening_with(&[
        ("name", &format!("{name:?}")),
        ("region", &format!("{region:?}")),
        ("income_group", &format!("{income:?}")),
    ])
}

fn link(a: &Kpd, b: &Kpd) {
    a.link(b, WAIT);
}

fn unlink(a: &Kpd, b: &Kpd) {
    let (a_id, _) = a.identity();
    let (b_id, _) = b.identity();
    a.ok(&["peer", "remove", &b_id]);
    b.ok(&["peer", "remove", &a_id]);
}

/// Polls `kp --json ARGS` on `node` until `check` holds; returns that value.
fn wait_json(
    node: &Kpd,
    args: &[&str],
    what: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    node.wait_json(args, what, WAIT, check)
}

fn file(node: &Kpd, name: &str, text: &str) -> String {
    let path = node.scratch().join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

/// `kp --author WHO ARGS`, expected to succeed.
fn by(node: &Kpd, who: &str, args: &[&str]) -> String {
    let mut all = vec!["--author", who];
    all.extend_from_slice(args);
    node.ok(&all)
}

/// `kp --author WHO ARGS`, expected to be refused; returns the message.
fn refused(node: &Kpd, who: &str, args: &[&str]) -> String {
    let mut all = vec!["--author", who];
    all.extend_from_slice(args);
    node.fails(1, &all)
}

fn status_is(s: &'static str) -> impl Fn(&serde_json::Value) -> bool {
    move |v| v["status"] == s
}

const PAPER: &str = "# Diaspora bonds in West Africa\n\n\
Diaspora bonds raised little so far. Ghana's 2007 issue fell short of its target.\n\n\
## Evidence\n\n\
Remittances to Ghana reached 4.7 billion dollars in 2023.\n\n\
# References\n\n\
- Ratha, D. and S. Mohapatra (2011). Preliminary estimates of diaspora savings.\n";

#[test]
fn a_paper_goes_from_submission_to_a_published_brief_across_four_nodes() {
    let a = node("University of Ghana", "Sub-Saharan Africa", "lower-middle");
    let b = node("Bo Institute", "Europe", "high");
    let c = node("KNOMAD Secretariat", "North America", "high");
    let d = node("Dakar Centre", "Sub-Saharan Africa", "lower-middle");
    link(&d, &a);
    link(&a, &b);
    link(&b, &c);
    let ids: Vec<String> = [&a, &b, &c, &d].iter().map(|n| n.identity().0).collect();
    let (a_id, b_id, d_id) = (&ids[0], &ids[1], &ids[3]);

    // Carla at C chairs the space; the others join with their roles.
    let space = by(
        &c,
        "Carla",
        &["--json", "space", "create", "Migration WG", "--theme", "8"],
    );
    let space: serde_json::Value = serde_json::from_str(&space).unwrap();
    let space = space["id"].as_str().unwrap().to_owned();
    for (id, role, inst, region, income) in [
        (
            a_id,
            "editor",
            "University of Ghana",
            "Sub-Saharan Africa",
            "lower-middle",
        ),
        (b_id, "reviewer", "Bo Institute", "Europe", "high"),
        (
            d_id,
            "reviewer",
            "Dakar Centre",
            "Sub-Saharan Africa",
            "lower-middle",
        ),
    ] {
        by(
            &c,
            "Carla",
            &[
                "space",
                "add-member",
                &space,
                id,
                "--role",
                role,
                "--institution",
                inst,
                "--region",
                region,
                "--income-group",
                income,
            ],
        );
    }
    let err = refused(
        &c,
        "Carla",
        &[
            "space",
            "add-member",
            &space,
            a_id,
            "--income-group",
            "rich",
        ],
    );
    assert!(err.contains("unknown income group"), "{err}");

    // Ana writes the paper at A; Chen at C co-writes a sentence.
    wait_json(&a, &["space", "list"], "the space reaches A", |v| {
        v["spaces"].as_array().is_some_and(|s| s.len() == 1)
    });
    let paper = file(&a, "paper.md", PAPER);
    let id = by(
        &a,
        "Ana",
        &[
            "draft",
            "new",
            "--space",
            &space,
            "--title",
            "Diaspora bonds",
            "--file",
            &paper,
        ],
    )
    .trim()
    .to_owned();
    wait_json(&c, &["draft", "show", &id], "the draft reaches C", |_| true);
    let with_chen = PAPER.replace(
        "in 2023.",
        "in 2023.\n\nCosts of sending money remain above the SDG target.",
    );
    let with_chen_file = file(&c, "chen.md", &with_chen);
    by(
        &c,
        "Chen",
        &[
            "draft",
            "edit",
            &id,
            "--file",
            &with_chen_file,
            "--base",
            "current",
        ],
    );
    wait_json(&a, &["draft", "show", &id], "Chen's edit reaches A", |v| {
        v["body"].as_str().is_some_and(|b| b.contains("SDG target"))
    });

    // Nothing can happen out of turn.
    let err = refused(&a, "Ana", &["review", "decide", &id, "accept"]);
    assert!(err.contains("only the chair"), "{err}");
    let err = refused(&c, "Carla", &["publish", &id]);
    assert!(err.contains("the draft is draft"), "{err}");
    let report = file(
        &b,
        "report.md",
        "Solid, but the 2007 figure needs a source.\n",
    );
    let err = refused(
        &b,
        "Bo",
        &[
            "review",
            "report",
            &id,
            "--recommendation",
            "minor",
            "--file",
            &report,
        ],
    );
    assert!(err.contains("the draft is draft"), "{err}");
    let err = refused(&b, "Bo", &["review", "submit-draft", &id]);
    assert!(err.contains("only an author"), "{err}");
    // A reviewer's node comments but does not edit: refused here as partners
    // would refuse it.
    let err = refused(
        &b,
        "Bo",
        &["draft", "edit", &id, "--file", &report, "--base", "current"],
    );
    assert!(err.contains("reviewer"), "{err}");

    // Round 1: Ana submits; the text is pinned as round-1.
    assert!(by(&a, "Ana", &["review", "submit-draft", &id]).contains("round 1"));
    let err = refused(&a, "Ana", &["review", "submit-draft", &id]);
    assert!(err.contains("the draft is in-review"), "{err}");
    wait_json(
        &c,
        &["review", "list", &id],
        "the submission reaches C",
        status_is("in-review"),
    );

    // Carla assigns Bo and Dee; bad assignments change nothing.
    let due = "2099-12-15";
    let stranger = kp_core::identity::NodeId::from_bytes([9; 32]).to_string();
    for (args, expect) in [
        (vec!["--referee", "Bo"], "NAME@NODE_ID"),
        (vec!["--referee", "Bo@not-a-node"], "is not a node id"),
        (
            vec!["--referee", &format!("Bo@{b_id}"), "--due", "2026-13-01"],
            "is not a date",
        ),
        (vec!["--referee", &format!("Ana@{a_id}")], "is an author"),
        (
            vec!["--referee", &format!("Zed@{stranger}")],
            "not a member",
        ),
    ] {
        let mut all = vec!["review", "assign", &id];
        all.extend(args.iter().copied());
        let err = refused(&c, "Carla", &all);
        assert!(err.contains(expect), "{args:?}: {err}");
    }
    let err = refused(
        &b,
        "Bo",
        &["review", "assign", &id, "--referee", &format!("Bo@{b_id}")],
    );
    assert!(err.contains("only the chair"), "{err}");
    by(
        &c,
        "Carla",
        &[
            "review",
            "assign",
            &id,
            "--referee",
            &format!("Bo@{b_id}"),
            "--due",
            due,
        ],
    );
    by(
        &c,
        "Carla",
        &["review", "assign", &id, "--referee", &format!("Dee@{d_id}")],
    );
    let err = refused(
        &c,
        "Carla",
        &["review", "assign", &id, "--referee", &format!("Bo@{b_id}")],
    );
    assert!(err.contains("already a referee"), "{err}");

    // The referees see their task, and the text exactly as submitted even
    // though Ana goes on editing.
    let inbox = wait_json(
        &b,
        &["--author", "Bo", "review", "inbox"],
        "Bo's task",
        |v| v["items"].as_array().is_some_and(|i| i.len() == 1),
    );
    assert_eq!(inbox["items"][0]["task"], "report");
    assert_eq!(inbox["items"][0]["due"], due);
    let later = file(
        &a,
        "later.md",
        &format!("{with_chen}\nA paragraph added during review.\n"),
    );
    by(
        &a,
        "Ana",
        &["draft", "edit", &id, "--file", &later, "--base", "current"],
    );
    wait_json(
        &b,
        &["draft", "show", &id],
        "Ana's later edit reaches B",
        |v| {
            v["body"]
                .as_str()
                .is_some_and(|b| b.contains("during review"))
        },
    );
    let pinned = b.json(&["draft", "show", &id, "--version", "round-1"]);
    assert_eq!(pinned["body"].as_str(), Some(with_chen.as_str()));

    // Bo reports with an anchored comment, then updates his report; Dee reports.
    let err = refused(
        &b,
        "Bo",
        &[
            "review",
            "report",
            &id,
            "--recommendation",
            "great",
            "--file",
            &report,
        ],
    );
    assert!(err.contains("unknown recommendation"), "{err}");
    let err = refused(
        &b,
        "Bo",
        &[
            "review",
            "report",
            &id,
            "--recommendation",
            "minor",
            "--file",
            &report,
            "--comment",
            "no such passage::?",
        ],
    );
    assert!(
        err.contains("no such passage") || err.contains("not found"),
        "{err}"
    );
    wait_json(
        &d,
        &["review", "list", &id],
        "the assignments reach D",
        |v| v["assignments"].as_array().is_some_and(|a| a.len() == 2),
    );
    let err = refused(
        &d,
        "Eve",
        &[
            "review",
            "report",
            &id,
            "--recommendation",
            "accept",
            "--file",
            &report,
        ],
    );
    assert!(err.contains("is not a referee"), "{err}");
    by(
        &b,
        "Bo",
        &[
            "review",
            "report",
            &id,
            "--recommendation",
            "minor",
            "--file",
            &report,
            "--comment",
            "fell short of its target::Which source says so?",
        ],
    );
    by(
        &b,
        "Bo",
        &[
            "review",
            "report",
            &id,
            "--recommendation",
            "major",
            "--file",
            &report,
        ],
    );
    let dee = file(&d, "dee.md", "Publishable as it is.\n");
    by(
        &d,
        "Dee",
        &[
            "review",
            "report",
            &id,
            "--recommendation",
            "accept",
            "--file",
            &dee,
        ],
    );

    // Carla sees both reports (Bo's once, as updated) and decides: revise.
    let state = wait_json(&c, &["review", "list", &id], "both reports reach C", |v| {
        v["reports"].as_array().is_some_and(|r| r.len() == 2)
            && v["reports"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["referee"] == "Bo" && r["recommendation"] == "major")
    });
    assert!(
        state["reports"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["version"] == "round-1")
    );
    let inbox = c.json(&["--author", "Carla", "review", "inbox"]);
    assert_eq!(inbox["items"][0]["task"], "decide");
    let err = refused(&c, "Carla", &["review", "decide", &id, "maybe"]);
    assert!(err.contains("unknown decision"), "{err}");
    by(
        &c,
        "Carla",
        &[
            "review",
            "decide",
            &id,
            "revise",
            "--note",
            "Please source the 2007 figure.",
        ],
    );

    // Ana revises the passage Bo commented on; the comment says it changed.
    wait_json(
        &a,
        &["review", "list", &id],
        "the decision reaches A",
        status_is("revision"),
    );
    assert_eq!(
        a.json(&["--author", "Ana", "review", "inbox"])["items"][0]["task"],
        "revise"
    );
    let comments = wait_json(
        &a,
        &["comment", "list", &id],
        "Bo's comment reaches A",
        |v| v["comments"].as_array().is_some_and(|c| c.len() == 1),
    );
    assert_eq!(comments["comments"][0]["anchor"], "intact");
    let revised = format!("{with_chen}\nA paragraph added during review.\n").replace(
        "fell short of its target",
        "fell well short of its target (Ministry of Finance, 2008)",
    );
    let revised_file = file(&a, "revised.md", &revised);
    by(
        &a,
        "Ana",
        &[
            "draft",
            "edit",
            &id,
            "--file",
            &revised_file,
            "--base",
            "current",
        ],
    );
    let comments = a.json(&["comment", "list", &id]);
    assert_eq!(comments["comments"][0]["anchor"], "changed");
    let diff = a.ok(&["draft", "diff", &id, "round-1", "current"]);
    assert!(diff.contains("Ministry of Finance"), "{diff}");

    // Round 2; Dee's report is written offline while Carla decides.
    by(&a, "Ana", &["review", "submit-draft", &id]);
    wait_json(&c, &["review", "list", &id], "round 2 reaches C", |v| {
        v["round"] == 2
    });
    by(
        &c,
        "Carla",
        &["review", "assign", &id, "--referee", &format!("Bo@{b_id}")],
    );
    by(
        &c,
        "Carla",
        &["review", "assign", &id, "--referee", &format!("Dee@{d_id}")],
    );
    wait_json(
        &d,
        &["review", "list", &id],
        "round 2's referees reach D",
        |v| v["assignments"].as_array().is_some_and(|a| a.len() == 4),
    );
    unlink(&d, &a);
    by(
        &d,
        "Dee",
        &[
            "review",
            "report",
            &id,
            "--recommendation",
            "minor",
            "--file",
            &dee,
        ],
    );
    wait_json(
        &c,
        &["review", "list", &id],
        "the assignments are known at C",
        |_| true,
    );
    by(
        &b,
        "Bo",
        &[
            "review",
            "report",
            &id,
            "--recommendation",
            "accept",
            "--file",
            &report,
        ],
    );
    wait_json(
        &c,
        &["review", "list", &id],
        "Bo's second report reaches C",
        |v| v["reports"].as_array().is_some_and(|r| r.len() == 3),
    );
    by(&c, "Carla", &["review", "decide", &id, "accept"]);
    link(&d, &a);
    // Both converge: the decision stands everywhere, and Dee's report arrives
    // and is kept, flagged as sent after the decision.
    let state = wait_json(
        &c,
        &["review", "list", &id],
        "Dee's offline report reaches C",
        |v| v["reports"].as_array().is_some_and(|r| r.len() == 4),
    );
    assert_eq!(state["status"], "accepted");
    let late: Vec<&serde_json::Value> = state["reports"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["late"] == true)
        .collect();
    assert_eq!(late.len(), 1, "{state}");
    assert_eq!(late[0]["referee"], "Dee");
    wait_json(
        &d,
        &["review", "list", &id],
        "the decision reaches D",
        status_is("accepted"),
    );

    // Publishing: the chair only, then anyone exports the frozen text.
    let err = refused(&a, "Ana", &["publish", &id]);
    assert!(err.contains("only the chair"), "{err}");
    assert!(by(&c, "Carla", &["publish", &id]).contains("published-1"));
    wait_json(
        &d,
        &["review", "list", &id],
        "publication reaches D",
        status_is("published"),
    );
    let after = file(
        &a,
        "after.md",
        &format!("{revised}\nWritten after publication.\n"),
    );
    by(
        &a,
        "Ana",
        &["draft", "edit", &id, "--file", &after, "--base", "current"],
    );
    let out = d.scratch().join("brief.html");
    d.ok(&[
        "draft",
        "export",
        &id,
        "--format",
        "html",
        "-o",
        out.to_str().unwrap(),
    ]);
    let page = std::fs::read_to_string(&out).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
    assert!(page.contains("<title>Diaspora bonds</title>"));
    assert!(
        page.contains("Ana (University of Ghana)") && page.contains("Chen (KNOMAD Secretariat)")
    );
    assert!(page.contains("version published-1"));
    assert!(page.contains("Ministry of Finance, 2008"));
    assert!(
        !page.contains("after publication"),
        "the published text is frozen"
    );
    assert!(page.contains("<section class=\"references\">"));
    let md = b.json(&[
        "draft",
        "export",
        &id,
        "--version",
        "round-1",
        "--with-comments",
    ]);
    assert!(
        md["content"]
            .as_str()
            .unwrap()
            .contains("Which source says so?")
    );
    assert!(
        !md["content"]
            .as_str()
            .unwrap()
            .contains("Ministry of Finance")
    );

    // The secretariat's indicators.
    let ind = wait_json(
        &c,
        &["report", "indicators", "--space", "Migration WG"],
        "indicators",
        |v| v["reviews_completed"] == 4,
    );
    assert_eq!(ind["papers_published"], 1);
    assert_eq!(ind["joint_products"], 1);
    assert_eq!(ind["north_south_collaborations"], 1);
    assert_eq!(ind["drafts_by_status"][0]["status"], "published");
    assert!(
        ind["median_review_days"]
            .as_f64()
            .is_some_and(|d| (0.0..1.0).contains(&d))
    );
    let csv = c.ok(&["report", "indicators", "--format", "csv"]);
    assert!(
        csv.starts_with("id,indicator,space,status,value,unit,how\n"),
        "{csv}"
    );
    assert!(
        csv.contains("\n2.1,Material posted,,,1,publications,"),
        "{csv}"
    );
    assert!(csv.contains("\n5.1,Peer reviews completed,,,4,"), "{csv}");
    let none = c.json(&[
        "report",
        "indicators",
        "--from",
        "2000-01-01",
        "--to",
        "2000-12-31",
    ]);
    assert_eq!(none["papers_published"], 0);
    assert_eq!(none["reviews_completed"], 0);
    let err = c.fails(1, &["report", "indicators", "--from", "last week"]);
    assert!(err.contains("is not a date"), "{err}");
}
