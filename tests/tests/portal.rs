//! The public portal as a reader meets it: a real node with `[portal]` on,
//! plain HTTP requests, no login.

use std::io::{Read, Write};

use kp_tests::Kpd;

/// GET `path` from `base` (`http://host:port`): the status and the body.
fn get(base: &str, path: &str) -> (u16, String) {
    let addr = base.trim_start_matches("http://");
    let mut tcp = std::net::TcpStream::connect(addr).expect("the portal answers");
    write!(
        tcp,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("a request");
    let mut out = String::new();
    tcp.read_to_string(&mut out).expect("a response");
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, body.to_owned())
}

/// A draft in `space` by Ana, taken through review to its first publication
/// (chair Carla, referee Bo, all on this node); its id.
fn published(node: &Kpd, space: &str, title: &str, text: &str) -> String {
    let file = node.scratch().join("brief.md");
    std::fs::write(&file, text).expect("a file");
    let id = node.json(&[
        "--author",
        "Ana",
        "draft",
        "new",
        "--space",
        space,
        "--title",
        title,
        "--file",
        file.to_str().expect("utf-8"),
    ])["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let (me, _) = node.identity();
    let report = node.scratch().join("report.md");
    std::fs::write(&report, "Clear.").expect("a file");
    node.ok(&["--author", "Ana", "review", "submit-draft", &id]);
    node.ok(&[
        "--author",
        "Carla",
        "review",
        "assign",
        &id,
        "--referee",
        &format!("Bo@{me}"),
    ]);
    node.ok(&[
        "--author",
        "Bo",
        "review",
        "report",
        &id,
        "--recommendation",
        "accept",
        "--file",
        report.to_str().expect("utf-8"),
    ]);
    node.ok(&["--author", "Carla", "review", "decide", &id, "accept"]);
    node.ok(&["--author", "Carla", "publish", &id]);
    id
}

#[test]
fn the_portal_shows_exactly_the_published_versions_of_the_spaces_it_names() {
    let mut node = Kpd::init();
    node.set_in(
        "portal",
        &[
            ("listen", "\"127.0.0.1:0\""),
            ("spaces", "[\"Remittances WG\"]"),
        ],
    );
    node.start();
    let base = node.json(&["status"])["portal_url"]
        .as_str()
        .expect("a portal url")
        .to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    node.ok(&["space", "create", "Remittances WG", "--theme", "7"]);
    node.ok(&["space", "create", "Hidden WG", "--theme", "2"]);

    let (status, empty) = get(&base, "/");
    assert_eq!(status, 200);
    assert!(empty.contains("Nothing is published here yet."), "{empty}");

    let brief = published(
        &node,
        "Remittances WG",
        "Sending <money> home",
        "| country | USD bn |\n|---|---|\n| India | 58 |\n\n- Flows grew.\n",
    );
    let hidden = published(&node, "Hidden WG", "Not for the public", "Secret text.\n");
    let file = node.scratch().join("draft.md");
    std::fs::write(&file, "Unpublished thoughts.\n").expect("a file");
    let draft = node.json(&[
        "draft",
        "new",
        "--space",
        "Remittances WG",
        "--title",
        "Work in progress",
        "--file",
        file.to_str().expect("utf-8"),
    ])["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    // A later edit of the published draft.
    std::fs::write(
        &file,
        "| country | USD bn |\n|---|---|\n| India | 58 |\n\nEdited after publication.\n",
    )
    .expect("a file");
    node.ok(&[
        "draft",
        "edit",
        &brief,
        "--base",
        "current",
        "--file",
        file.to_str().expect("utf-8"),
    ]);

    let (status, index) = get(&base, "/");
    assert_eq!(status, 200);
    assert!(
        index.contains("Remittances and access to finance"),
        "by theme: {index}"
    );
    assert!(
        index.contains(&format!("/p/{brief}/published-1")),
        "{index}"
    );
    assert!(
        index.contains("Sending &lt;money&gt; home"),
        "escaped: {index}"
    );
    for absent in ["Not for the public", "Work in progress", &hidden, &draft] {
        assert!(!index.contains(absent), "{absent} is not shown: {index}");
    }

    let (status, page) = get(&base, &format!("/p/{brief}/published-1"));
    assert_eq!(status, 200);
    assert!(
        page.contains("<td>India</td>") && page.contains("<li>Flows grew.</li>"),
        "{page}"
    );
    assert!(
        !page.contains("Edited after publication"),
        "the frozen text only: {page}"
    );
    assert!(page.contains("reviewed by 1 referee"), "{page}");

    // Nothing else is reachable, however it is asked for.
    for path in [
        format!("/p/{brief}/current"),
        format!("/p/{brief}/round-1"),
        format!("/p/{brief}/published-2"),
        format!("/p/{hidden}/published-1"),
        format!("/p/{draft}/published-1"),
        format!("/p/{draft}/current"),
        "/p/../kpd.toml".into(),
        "/sync".into(),
        "/api/call/home".into(),
        "/login".into(),
    ] {
        assert_eq!(get(&base, &path).0, 404, "{path}");
    }

    let (_, found) = get(&base, "/?q=india");
    assert!(
        found.contains(&format!("/p/{brief}/published-1")),
        "{found}"
    );
    let (_, none) = get(&base, "/?q=secret");
    assert!(none.contains("No publication matches."), "{none}");

    let (status, feed) = get(&base, "/feed.atom");
    assert_eq!(status, 200);
    assert!(
        feed.contains("<feed xmlns=\"http://www.w3.org/2005/Atom\">"),
        "{feed}"
    );
    assert!(
        feed.contains(&format!("<id>urn:kp:{brief}:published-1</id>")),
        "{feed}"
    );
    assert!(!feed.contains("Not for the public"), "{feed}");
}
