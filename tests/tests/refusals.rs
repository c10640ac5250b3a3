//! A refused partner connection says who refused whom and what to run where, on
//! both sides: in `kp peer list`, in `kp --json peer list` and in the log.
//!
//! ```text
//!   A ──▶ B          B has not pinned A: A is told to run `kp peer add A …` on B,
//!                    B's log names A; that command connects them.
//!   A ──▶ X@B        A pinned X at B's address, B answers: A names X and B.
//!   A ──▶ closed     nothing listens: A names the address.
//! ```

use std::cell::Cell;
use std::time::Duration;

use kp_tests::Kpd;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

fn refusal_is(reason: &'static str) -> impl Fn(&Value) -> bool {
    move |p| p["refusal"]["reason"] == reason
}

#[test]
fn a_node_its_partner_has_not_pinned_is_told_what_to_run_there() {
    let a = Kpd::listening();
    let b = Kpd::listening();
    let (a_id, a_addr) = a.identity();
    let (b_id, b_addr) = b.identity();
    a.ok(&["peer", "add", &b_id, &b_addr]);

    // A's list: B refused A, and B should run `kp peer add A A's-address`.
    let seen = a.wait_peer(&b_id, WAIT, refusal_is("not-pinned"));
    let fix = format!("kp peer add {a_id} {a_addr}");
    let refusal = &seen["refusal"];
    assert_eq!(refusal["refused_by"], b_id.as_str(), "{seen}");
    assert_eq!(refusal["refused"], a_id.as_str(), "{seen}");
    assert_eq!(refusal["fix_on"], b_id.as_str(), "{seen}");
    assert_eq!(refusal["fix"], serde_json::json!([fix]), "{seen}");
    assert_eq!(seen["connected"], false);
    let error = seen["last_error"].as_str().unwrap();
    assert!(error.contains("refused this node"), "{error}");
    assert!(error.contains("has not pinned this node's id"), "{error}");
    assert!(error.contains(&fix), "{error}");
    let table = a.ok(&["peer", "list"]);
    assert!(table.contains(&fix), "{table}");
    assert!(!table.contains("transport error"), "{table}");

    // A's dialer retries with backoff, each attempt sending a hello: through
    // three more attempts, each is explained the same way (none as a bare
    // "connection closed").
    let sent = Cell::new(seen["bytes_out"].as_u64().unwrap());
    let attempts = Cell::new(0);
    a.wait_peer(&b_id, WAIT, |p| {
        assert_eq!(p["refusal"]["reason"], "not-pinned", "{p}");
        let now = p["bytes_out"].as_u64().unwrap();
        if now != sent.get() {
            sent.set(now);
            attempts.set(attempts.get() + 1);
        }
        attempts.get() >= 3
    });

    // Both logs say it: B names A and the command, A the refusal.
    let b_log = b.wait_log(WAIT, |l| l.contains(&format!("refused node {a_id}")));
    assert!(b_log.contains(&format!("kp peer add {a_id}")), "{b_log}");
    a.wait_log(WAIT, |l| l.contains(&fix));

    // The command, run where it says, connects them.
    assert_eq!(refusal["fix_on"], b_id.as_str());
    b.run_line(&fix);
    let seen = a.wait_peer(&b_id, WAIT, |p| p["connected"] == true);
    assert!(seen["refusal"].is_null(), "{seen}");
    assert_eq!(seen["last_error"], "", "{seen}");
    b.wait_peer(&a_id, WAIT, |p| p["connected"] == true);
    // A's attempts were logged at warning level once.
    let b_log = b.log();
    assert_eq!(
        b_log.matches(&format!("refused node {a_id}")).count(),
        1,
        "{b_log}"
    );
}

#[test]
fn another_node_answering_at_a_pinned_address_is_named() {
    let a = Kpd::listening();
    let b = Kpd::listening();
    let (a_id, _) = a.identity();
    let (b_id, b_addr) = b.identity();
    let x_id = Kpd::started().identity().0;
    b.ok(&["peer", "add", &a_id]);
    // A believes X is at B's address.
    a.ok(&["peer", "add", &x_id, &b_addr]);

    let seen = a.wait_peer(&x_id, WAIT, refusal_is("wrong-node"));
    let refusal = &seen["refusal"];
    assert_eq!(refusal["refused_by"], a_id.as_str(), "{seen}");
    assert_eq!(refusal["refused"], b_id.as_str(), "{seen}");
    assert_eq!(refusal["fix_on"], a_id.as_str(), "{seen}");
    let fix = [
        format!("kp peer remove {x_id}"),
        format!("kp peer add {b_id} {b_addr}"),
    ];
    assert_eq!(refusal["fix"], serde_json::json!(fix), "{seen}");
    let error = seen["last_error"].as_str().unwrap();
    let said = format!("expected node {x_id} at {b_addr}, but node {b_id} answered");
    assert!(error.contains(&said), "{error}");
    assert!(error.contains("check the address"), "{error}");
    let table = a.ok(&["peer", "list"]);
    assert!(table.contains(&said), "{table}");
    a.wait_log(WAIT, |l| l.contains(&said));
    // B learns that the node dialling it expected another.
    b.wait_log(WAIT, |l| l.contains("refused this node's certificate"));

    // If B is the partner meant, the commands connect A to it.
    for line in &fix {
        a.run_line(line);
    }
    a.wait_peer(&b_id, WAIT, |p| p["connected"] == true);
    let list = a.json(&["peer", "list"]);
    assert_eq!(list["peers"].as_array().map(Vec::len), Some(1), "{list}");
}

#[test]
fn a_partner_that_does_not_listen_is_named_by_its_address() {
    let a = Kpd::started();
    let x_id = Kpd::started().identity().0;
    // A port that was free a moment ago: nothing listens there now.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .to_string();
    a.ok(&["peer", "add", &x_id, &closed]);
    let seen = a.wait_peer(&x_id, WAIT, |p| {
        !p["last_error"].as_str().unwrap_or("").is_empty()
    });
    let error = seen["last_error"].as_str().unwrap();
    assert!(error.contains(&closed), "{error}");
    assert!(error.contains("connection refused"), "{error}");
    assert!(seen["refusal"].is_null(), "{seen}");
}
