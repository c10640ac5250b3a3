//! Partner nodes over mutual TLS: real kpd processes on loopback pin each other by
//! node id; a wrong key or an unknown node is refused before anything else flows.
//!
//! ```text
//!   A ◀──TLS──▶ B        C dials A: refused (A never pinned C)
//!   A ──▶ "B's address, C's id": refused (the key there is B's)
//! ```

use std::time::Duration;

use kp_tests::Kpd;

const WAIT: Duration = Duration::from_secs(30);

#[test]
fn pinned_partners_connect_and_strangers_are_refused() {
    let a = Kpd::listening();
    let b = Kpd::listening();
    let c = Kpd::listening();
    let (a_id, a_addr) = a.identity();
    let (b_id, b_addr) = b.identity();
    let (c_id, _) = c.identity();
    assert!(
        a_addr.starts_with("127.0.0.1:") && !a_addr.ends_with(":0"),
        "{a_addr}"
    );

    // A dials B; B only accepts A.
    a.ok(&["peer", "add", &b_id, &b_addr]);
    b.ok(&["peer", "add", &a_id]);
    let seen_by_a = a.wait_peer(&b_id, WAIT, |p| p["connected"] == true);
    assert_eq!(seen_by_a["name"], "Test Institute");
    let seen_by_b = b.wait_peer(&a_id, WAIT, |p| p["connected"] == true);
    assert!(seen_by_b["bytes_in"].as_u64().unwrap() > 0);
    assert_eq!(seen_by_b["source"], "added");
    assert!(a.ok(&["peer", "list"]).contains("connected"));

    // A node that A never pinned is refused.
    c.ok(&["peer", "add", &a_id, &a_addr]);
    let refused = c.wait_peer(&a_id, WAIT, |p| {
        !p["last_error"].as_str().unwrap_or("").is_empty()
    });
    assert_eq!(refused["connected"], false, "{refused}");
    assert!(
        a.json(&["peer", "list"])["peers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["node_id"] != c_id.as_str())
    );

    // Dialling B's address while expecting C's key is refused by the dialler.
    a.ok(&["peer", "add", &c_id, &b_addr]);
    let wrong = a.wait_peer(&c_id, WAIT, |p| {
        !p["last_error"].as_str().unwrap_or("").is_empty()
    });
    assert_eq!(wrong["connected"], false);
    assert!(
        wrong["last_error"]
            .as_str()
            .unwrap()
            .contains("certificate"),
        "{wrong}"
    );

    // Removing B disconnects it.
    a.ok(&["peer", "remove", &b_id]);
    b.wait_peer(&a_id, WAIT, |p| p["connected"] == false);
}

#[test]
fn peer_commands_refuse_bad_input() {
    let a = Kpd::started();
    let (a_id, _) = a.identity();
    let err = a.fails(1, &["peer", "add", "not-a-node", "127.0.0.1:7410"]);
    assert!(err.contains("is not a node id"), "{err}");
    let b_id = Kpd::started().identity().0;
    let err = a.fails(1, &["peer", "add", &b_id, "no-port"]);
    assert!(err.contains("is not an address"), "{err}");
    let err = a.fails(1, &["peer", "add", &a_id, "127.0.0.1:7410"]);
    assert!(err.contains("own id"), "{err}");
    let err = a.fails(1, &["peer", "remove", &b_id]);
    assert!(err.contains("no peer"), "{err}");
    assert_eq!(
        a.json(&["peer", "list"])["peers"].as_array().map(Vec::len),
        Some(0)
    );
    // Not listening: status says so.
    assert_eq!(a.json(&["status"])["peer_address"], "");
}

#[test]
fn added_peers_survive_a_restart() {
    let mut a = Kpd::listening();
    let b = Kpd::listening();
    let (b_id, b_addr) = b.identity();
    a.ok(&["peer", "add", &b_id, &b_addr]);
    assert!(a.stop());
    a.start();
    let p = a.wait_peer(&b_id, WAIT, |p| !p.is_null());
    assert_eq!(p["address"], b_addr.as_str());
}
