//! Members who leave a space: what they wrote before stays, for everyone.
//!
//! ```text
//!   B ◀──▶ A ◀──▶ C      B (editor) writes, A (admin) removes B, then adds C
//! ```

use std::time::Duration;

use kp_tests::Kpd;

const WAIT: Duration = Duration::from_secs(30);

#[test]
fn a_new_member_receives_what_a_removed_member_wrote_before_leaving() {
    let a = Kpd::listening();
    let b = Kpd::listening();
    let c = Kpd::listening();
    b.link(&a, WAIT);
    let (b_id, _) = b.identity();
    let (c_id, _) = c.identity();
    let space = a.json(&["space", "create", "WG", "--theme", "2"])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    a.ok(&["space", "add-member", &space, &b_id, "--role", "editor"]);
    let text = a.scratch().join("t.md");
    std::fs::write(&text, "First paragraph.\n").unwrap();
    let id = a
        .ok(&[
            "draft",
            "new",
            "--space",
            &space,
            "--title",
            "T",
            "--file",
            text.to_str().unwrap(),
        ])
        .trim()
        .to_owned();
    b.wait_json(&["draft", "show", &id], "the draft reaches B", WAIT, |_| {
        true
    });
    b.revise(
        "Bea",
        &id,
        "First paragraph.",
        "First paragraph.\n\nB's paragraph.",
    );
    a.wait_json(&["draft", "show", &id], "B's words reach A", WAIT, |v| {
        v["body"]
            .as_str()
            .is_some_and(|t| t.contains("B's paragraph"))
    });
    a.ok(&["space", "remove-member", &space, &b_id]);
    let shown = a.json(&["space", "show", &space]);
    assert_eq!(shown["former"][0]["node_id"], b_id.as_str(), "{shown}");

    // B is told of its removal (its copy of the members is A's) and of
    // nothing else; its own node now refuses its edits, which no member
    // would take.
    b.wait_json(
        &["space", "show", &space],
        "B learns that it was removed",
        WAIT,
        |v| v["former"][0]["node_id"] == b_id.as_str(),
    );
    let late = b.scratch().join("late.md");
    std::fs::write(&late, "B's paragraph.\n\nB, too late.\n").unwrap();
    let out = b.kp(&[
        "--author",
        "Bea",
        "draft",
        "edit",
        &id,
        "--file",
        late.to_str().unwrap(),
        "--base",
        "current",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code() == Some(1)
            && err.contains("was removed from the space")
            && err.contains("kp space add-member"),
        "{err}"
    );

    // C joins after B left: it receives the draft with B's work as a member,
    // and nothing B wrote later.
    a.ok(&["space", "add-member", &space, &c_id, "--role", "editor"]);
    c.link(&a, WAIT);
    let v = c.wait_json(
        &["draft", "show", &id],
        "the draft, with B's words, reaches C",
        WAIT,
        |v| {
            v["body"]
                .as_str()
                .is_some_and(|t| t.contains("B's paragraph"))
        },
    );
    assert!(!v["body"].as_str().unwrap().contains("too late"), "{v}");
    assert!(
        !a.json(&["draft", "show", &id])["body"]
            .as_str()
            .unwrap()
            .contains("too late")
    );
}
