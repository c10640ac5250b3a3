//! The public portal as a reader meets it: a real node with `[portal]` on,
//! plain HTTP requests, no login.

use std::io::{Read, Write};

use kp_tests::Kpd;

/// `METHOD path` to `base` (`http://host:port`): the status, the head and
/// the body's bytes.
fn request(base: &str, method: &str, path: &str) -> (u16, String, Vec<u8>) {
    let addr = base.trim_start_matches("http://");
    let mut tcp = std::net::TcpStream::connect(addr).expect("the portal answers");
    write!(
        tcp,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .expect("a request");
    let mut out = Vec::new();
    tcp.read_to_end(&mut out).expect("a response");
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head");
    let head = String::from_utf8_lossy(&out[..split]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    (status, head, out[split + 4..].to_vec())
}

/// GET `path` from `base`: the status and the body.
fn get(base: &str, path: &str) -> (u16, String) {
    let (status, _, body) = request(base, "GET", path);
    (status, String::from_utf8(body).expect("UTF-8"))
}

/// A node with its portal on, showing `Remittances WG`; its portal's URL.
fn portal_node() -> (Kpd, String) {
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
    (node, base)
}

/// A new draft in `space` (by the node's default author); its id.
fn new_draft(node: &Kpd, space: &str, title: &str, text: &str) -> String {
    let file = node.scratch().join("new.md");
    std::fs::write(&file, text).expect("a file");
    node.json(&[
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
        .to_owned()
}

/// A draft in `space` by Ana, taken through review to its first publication
/// (chair Carla, referee Bo, all on this node); its id.
fn published(node: &Kpd, space: &str, title: &str, text: &str) -> String {
    published_as(node, space, title, text, "working-paper")
}

/// [`published`] for a draft of type `draft_type`.
fn published_as(node: &Kpd, space: &str, title: &str, text: &str, draft_type: &str) -> String {
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
        "--type",
        draft_type,
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
    let (node, base) = portal_node();
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
    let draft = new_draft(
        &node,
        "Remittances WG",
        "Work in progress",
        "Unpublished thoughts.\n",
    );
    let file = node.scratch().join("draft.md");
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
        index.contains(&format!("href=\"p/{brief}/published-1/\"")),
        "relative links: {index}"
    );
    assert!(
        index.contains("Sending &lt;money&gt; home"),
        "escaped: {index}"
    );
    for absent in ["Not for the public", "Work in progress", &hidden, &draft] {
        assert!(!index.contains(absent), "{absent} is not shown: {index}");
    }

    let (status, page) = get(&base, &format!("/p/{brief}/published-1/"));
    assert_eq!(status, 200);
    let (status, head, _) = request(&base, "GET", &format!("/p/{brief}/published-1"));
    assert_eq!(
        status, 301,
        "the address without its final slash leads to it"
    );
    assert!(head.contains("location: published-1/"), "{head}");
    let (status, head, pdf) = request(&base, "GET", &format!("/p/{brief}/published-1/brief.pdf"));
    assert_eq!(status, 200);
    assert!(head.contains("content-type: application/pdf"), "{head}");
    assert!(pdf.starts_with(b"%PDF-"), "a PDF");
    assert!(
        page.contains("href=\"brief.pdf\""),
        "the page links its PDF: {page}"
    );
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
        format!("/p/{brief}/current/"),
        format!("/p/{brief}/current/brief.pdf"),
        format!("/p/{hidden}/published-1/brief.pdf"),
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
        found.contains(&format!("p/{brief}/published-1/")),
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

fn fixture(name: &str) -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/remittances")
        .join(name)
        .to_str()
        .expect("utf-8")
        .to_owned()
}

/// Every file under `dir`, as paths relative to it.
fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).expect("a directory") {
            let p = e.expect("an entry").path();
            if p.is_dir() {
                todo.push(p);
            } else {
                let rel = p.strip_prefix(dir).expect("under dir");
                out.push(rel.to_str().expect("utf-8").to_owned());
            }
        }
    }
    out.sort();
    out
}

/// The portal's counts of views and downloads, once they are stored.
fn wait_counts(node: &Kpd, hits: u64, downloads: u64) {
    node.wait_json(
        &["report", "indicators"],
        "the portal's counts",
        std::time::Duration::from_secs(30),
        |v| {
            let of = |id: &str| {
                v["indicators"]
                    .as_array()
                    .and_then(|l| l.iter().find(|i| i["id"] == id))
                    .and_then(|i| i["value"].as_f64())
            };
            of("1.2") == Some(hits as f64) && of("1.3") == Some(downloads as f64)
        },
    );
}

#[test]
fn open_data_and_its_analyses_are_public_counted_and_written_out_alike() {
    let (node, base) = portal_node();
    node.ok(&["space", "create", "Remittances WG", "--theme", "7"]);
    node.ok(&["space", "create", "Hidden WG", "--theme", "1"]);
    let csv = fixture("top-recipients-2011.csv");
    let import = |space: &str, title: &str| {
        node.json(&[
            "dataset", "import", &csv, "--space", space, "--title", title,
        ])["id"]
            .as_str()
            .expect("an id")
            .to_owned()
    };
    let data = import("Remittances WG", "Top <recipients> 2011");
    let closed = import("Remittances WG", "Not yet open");
    let hidden = import("Hidden WG", "Hidden figures");

    // Open data needs its source and licence; a refusal changes nothing.
    let err = node.fails(1, &["dataset", "open", &data]);
    assert!(err.contains("--source"), "{err}");
    let err = node.fails(1, &["dataset", "open", &data, "--source", "World Bank"]);
    assert!(err.contains("--licence"), "{err}");
    assert_eq!(get(&base, &format!("/d/{data}/")).0, 404);
    let (_, index) = get(&base, "/");
    assert!(index.contains("No dataset is open here yet."), "{index}");
    let opened = node.json(&[
        "dataset",
        "open",
        &data,
        "--source",
        "World Bank, Migration and Development Brief 17",
        "--licence",
        "CC-BY-4.0",
    ]);
    assert_eq!(opened["open"], true);
    node.ok(&[
        "dataset",
        "open",
        &hidden,
        "--source",
        "x",
        "--licence",
        "CC0-1.0",
    ]);
    let wasm = kp_tests::plugin_wasm("remittance-indicators");
    node.ok(&["plugin", "install", wasm.to_str().expect("utf-8")]);
    let analysis = |dataset: &str| {
        node.json(&[
            "analyze",
            dataset,
            "--plugin",
            "remittance-indicators",
            "--param",
            "top=3",
        ])["id"]
            .as_str()
            .expect("an analysis id")
            .to_owned()
    };
    let of_data = analysis(&data);
    let of_hidden = analysis(&hidden);
    // A brief draws a figure from its group's analysis; another group's
    // analysis is never drawn.
    let brief = published(
        &node,
        "Remittances WG",
        "Where remittances go",
        &format!(
            "India received the most.\n\n![Top recipients, 2011](<analysis:{of_data}#top by value>)\n\n\
             ![Secret](analysis:{of_hidden})\n"
        ),
    );
    let (_, page) = get(&base, &format!("/p/{brief}/published-1/"));
    assert!(
        page.contains("<span class=\"figcaption\">Top recipients, 2011</span>")
            && page.contains(">India</text>"),
        "{page}"
    );
    assert!(
        page.contains("class=\"missing-figure\">[figure “Secret”"),
        "{page}"
    );
    assert_eq!(page.matches("<svg").count(), 1, "{page}");

    let (_, index) = get(&base, "/");
    assert!(
        index.contains(&format!("href=\"d/{data}/\""))
            && index.contains("Top &lt;recipients&gt; 2011"),
        "{index}"
    );
    for absent in [closed.as_str(), &hidden, "Hidden figures", "Not yet open"] {
        assert!(!index.contains(absent), "{absent}: {index}");
    }
    let (status, page) = get(&base, &format!("/d/{data}/"));
    assert_eq!(status, 200);
    for shown in [
        "CC-BY-4.0",
        "Migration and Development Brief 17",
        "<td>India</td>",
        "href=\"data.csv\"",
        "remittance-indicators",
        "<svg",
        "the largest recipient was India",
    ] {
        assert!(page.contains(shown), "{shown}: {page}");
    }
    let (status, head, body) = request(&base, "GET", &format!("/d/{data}/data.csv"));
    assert_eq!(status, 200);
    assert!(
        head.to_lowercase().contains("content-type: text/csv"),
        "{head}"
    );
    let body = String::from_utf8(body).expect("UTF-8");
    assert!(
        body.starts_with("country,year,remittances_usd_bn\n") && body.contains("\nIndia,2011,58\n"),
        "{body}"
    );
    let (status, package) = get(&base, &format!("/d/{data}/datapackage.json"));
    assert_eq!(status, 200);
    let package: serde_json::Value = serde_json::from_str(&package).expect("JSON");
    assert_eq!(package["licenses"][0]["name"], "CC-BY-4.0");
    assert_eq!(
        package["sources"][0]["title"],
        "World Bank, Migration and Development Brief 17"
    );
    assert_eq!(package["resources"][0]["path"], "data.csv");
    assert_eq!(
        package["resources"][0]["schema"]["fields"][2]["name"],
        "remittances_usd_bn"
    );

    // Nothing else, however asked for; the portal takes no writes.
    for path in [
        format!("/d/{closed}/"),
        format!("/d/{closed}/data.csv"),
        format!("/d/{hidden}/"),
        format!("/d/{hidden}/datapackage.json"),
        format!("/d/{data}/other.csv"),
        format!("/d/{data}/../../kpd.toml"),
        "/d/not-an-id/".into(),
    ] {
        assert_eq!(get(&base, &path).0, 404, "{path}");
    }
    let (status, head, _) = request(&base, "GET", &format!("/d/{data}"));
    assert_eq!(status, 301);
    assert!(head.contains(&format!("location: {data}/")), "{head}");
    assert_eq!(request(&base, "POST", "/").0, 405);
    assert_eq!(request(&base, "DELETE", &format!("/d/{data}/")).0, 405);

    // Two views (the brief, the dataset's page), two downloads: counted,
    // and nothing of who.
    wait_counts(&node, 2, 2);

    // The static build holds what the server shows, file for file.
    let out = node.scratch().join("site");
    let built = node.json(&["portal", "build", out.to_str().expect("utf-8")]);
    let files = files_under(&out);
    assert_eq!(built["files"], files.len() - 1, "{files:?}");
    assert!(files.contains(&format!("d/{data}/index.html")), "{files:?}");
    for file in files.iter().filter(|f| *f != ".kp-portal") {
        let path = format!("/{}", file.trim_end_matches("index.html"));
        let (status, _, served) = request(&base, "GET", &path);
        assert_eq!(status, 200, "{path}");
        let written = std::fs::read(out.join(file)).expect("a file");
        if file.ends_with(".pdf") {
            assert!(written == served, "{file} is the PDF {path} serves");
            continue;
        }
        let served = String::from_utf8(served).expect("UTF-8");
        // The served index has a search form a static copy cannot answer.
        let served: String = served
            .lines()
            .filter(|l| !l.contains("role=\"search\""))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(
            String::from_utf8(written).expect("UTF-8"),
            served,
            "{file} is what {path} serves"
        );
    }
    // The requests of the comparison were counted; the build was not.
    // (The brief's PDF is a download too.)
    let (views, downloads) = (2 + 2, 2 + 3);
    wait_counts(&node, views, downloads);

    // Closed again: gone from the portal, and from the next build.
    node.ok(&["dataset", "close", &data]);
    assert_eq!(get(&base, &format!("/d/{data}/")).0, 404);
    node.ok(&["portal", "build", out.to_str().expect("utf-8")]);
    assert!(!out.join("d").exists(), "{:?}", files_under(&out));
    // A directory of something else is never replaced.
    let other = node.scratch().join("other");
    std::fs::create_dir_all(&other).expect("a dir");
    std::fs::write(other.join("keep.txt"), "mine").expect("a file");
    let err = node.fails(1, &["portal", "build", other.to_str().expect("utf-8")]);
    assert!(err.contains("not empty"), "{err}");
    assert_eq!(files_under(&other), ["keep.txt"]);
}

#[test]
fn the_indicators_of_a_seeded_year_match_hand_counts() {
    let node = Kpd::started();
    node.ok(&["space", "create", "Remittances WG", "--theme", "7"]);
    node.ok(&["space", "create", "Other WG", "--theme", "2"]);
    let brief = published_as(
        &node,
        "Remittances WG",
        "Costs brief",
        "Costs fell.\n",
        "policy-brief",
    );
    let paper = published(&node, "Remittances WG", "Flows paper", "Flows grew.\n");
    let unpublished = new_draft(&node, "Remittances WG", "Savings", "Unfinished.\n");
    let minutes = node.scratch().join("minutes.md");
    std::fs::write(&minutes, "# Minutes\n\nCosts were discussed.\n").expect("a file");
    let event =
        |space: &str, title: &str, kind: &str, starts: &str, who: &[&str], discussed: &[&str]| {
            let mut args = vec![
                "event", "new", "--space", space, "--title", title, "--kind", kind, "--starts",
                starts,
            ];
            for w in who {
                args.extend(["--participant", w]);
            }
            for d in discussed {
                args.extend(["--discussed", d]);
            }
            node.json(&args)["id"].as_str().expect("an id").to_owned()
        };
    let wg = "Remittances WG";
    // The year 2026 of the working group, and an event on each side of it.
    event(
        wg,
        "Costs workshop",
        "workshop",
        "2026-02-10",
        &[
            "University of Nairobi | Sub-Saharan Africa",
            "KNOMAD | Global",
        ],
        &[&brief],
    );
    event(
        wg,
        "Migration conference",
        "conference",
        "2026-05-05",
        &[
            "ODI | Europe | high",
            "IOM | Global",
            "University of Nairobi | Sub-Saharan Africa",
        ],
        &[&brief, &paper],
    );
    event(
        wg,
        "Online debate",
        "debate",
        "2026-07-01",
        &[
            "University of Nairobi | Sub-Saharan Africa",
            "Makerere University | Sub-Saharan Africa",
        ],
        &[&unpublished],
    );
    event(
        wg,
        "Ministry consultation",
        "consultation",
        "2026-09-09",
        &["Ministry of Finance"],
        &[],
    );
    let seminar = event(
        wg,
        "Savings seminar",
        "seminar",
        "2026-11-30",
        &["ODI | Europe"],
        &[&paper],
    );
    event(
        wg,
        "Year-end meeting",
        "meeting",
        "2025-12-15",
        &["ODI | Europe", "KNOMAD | Global"],
        &[&brief],
    );
    event(
        "Other WG",
        "Skills workshop",
        "workshop",
        "2026-04-04",
        &["ILO | Global", "ODI | Europe"],
        &[],
    );
    // A partner joined the seminar: it becomes cross-regional.
    let edited = node.json(&[
        "event",
        "edit",
        &seminar,
        "--participant",
        "Fundación Capital | Latin America",
        "--ends",
        "2026-12-02",
        "--minutes",
        minutes.to_str().expect("utf-8"),
    ]);
    assert_eq!(edited["cross_regional"], true);
    assert_eq!(edited["ends"], "2026-12-02");
    assert!(
        edited["minutes"]
            .as_str()
            .expect("minutes")
            .contains("Costs were discussed")
    );

    // Bad events change nothing.
    let before = node.json(&["event", "list"])["events"]
        .as_array()
        .expect("a list")
        .len();
    for (bad, says) in [
        (
            vec!["--kind", "party", "--starts", "2026-01-01"],
            "unknown event kind `party`",
        ),
        (
            vec!["--kind", "debate", "--starts", "2026-13-01"],
            "is not a date",
        ),
        (vec!["--kind", "debate"], "--starts"),
        (
            vec![
                "--kind",
                "debate",
                "--starts",
                "2026-01-02",
                "--ends",
                "2026-01-01",
            ],
            "ends",
        ),
        (
            vec![
                "--kind",
                "debate",
                "--starts",
                "2026-01-02",
                "--participant",
                "X | Y | rich",
            ],
            "income group",
        ),
        (
            vec![
                "--kind",
                "debate",
                "--starts",
                "2026-01-02",
                "--discussed",
                "nonsense",
            ],
            "",
        ),
    ] {
        let mut args = vec!["event", "new", "--space", wg, "--title", "Bad"];
        args.extend(bad);
        let err = node.fails(1, &args);
        assert!(err.contains(says), "{says}: {err}");
    }
    assert_eq!(
        node.json(&["event", "list"])["events"]
            .as_array()
            .expect("a list")
            .len(),
        before
    );

    let value = |v: &serde_json::Value, id: &str| {
        v["indicators"]
            .as_array()
            .and_then(|l| l.iter().find(|i| i["id"] == id))
            .and_then(|i| i["value"].as_f64())
            .unwrap_or_else(|| panic!("indicator {id}: {v}"))
    };
    // Publications are made now; the period runs from 2026 to now.
    let wg_year = node.json(&[
        "report",
        "indicators",
        "--space",
        wg,
        "--from",
        "2026-01-01",
    ]);
    let hand = [
        ("2.1", 2.0), // the brief and the paper
        ("2.2", 1.0), // the brief
        ("3.1", 5.0), // five of the group's events start in 2026
        ("3.2", 3.0), // workshop, conference, the seminar once Fundación Capital joined
        ("3.3", 3.0), // brief, paper, the unpublished draft
        ("3.4", 2.0), // brief and paper are published in the period
        ("5.1", 2.0), // one referee report on each publication
    ];
    for (id, want) in hand {
        assert_eq!(value(&wg_year, id), want, "indicator {id}: {wg_year}");
    }
    let all = node.json(&["report", "indicators", "--from", "2026-01-01"]);
    assert_eq!(value(&all, "3.1"), 6.0, "with the other group's workshop");
    assert_eq!(value(&all, "3.2"), 4.0);
    let before_2026 = node.json(&["report", "indicators", "--to", "2025-12-31"]);
    assert_eq!(value(&before_2026, "3.1"), 1.0);
    assert_eq!(value(&before_2026, "3.3"), 1.0);
    assert_eq!(value(&before_2026, "2.1"), 0.0);
    let listed = node.json(&[
        "event",
        "list",
        "--space",
        wg,
        "--from",
        "2026-01-01",
        "--to",
        "2026-06-30",
    ]);
    let titles: Vec<&str> = listed["events"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|e| e["title"].as_str().expect("a title"))
        .collect();
    assert_eq!(titles, ["Costs workshop", "Migration conference"]);
    let csv = node.ok(&[
        "report",
        "indicators",
        "--from",
        "2026-01-01",
        "--format",
        "csv",
    ]);
    assert!(
        csv.contains("\n3.2,Cross-regional meetings,,,4,events,"),
        "{csv}"
    );
}
