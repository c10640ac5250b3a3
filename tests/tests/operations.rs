//! What an institution's operator relies on: the store's format is checked
//! at start, the log can be written for a log collector, and monitors can ask
//! whether the node serves (gRPC health and reflection on the local socket,
//! `/health` on the web listener).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kp_tests::{Kpd, bin};

#[test]
fn a_store_from_a_newer_kpd_is_refused_with_what_to_do_and_left_as_it_was() {
    let mut node = Kpd::started();
    node.ok(&["space", "create", "Kept WG", "--theme", "1"]);
    assert!(node.stop());
    let store = node.data_dir().join("store");
    {
        let s = kp_store::SledStore::open(&store, 1 << 20).expect("the store opens");
        assert_eq!(s.format().expect("a format"), kp_store::FORMAT);
        use kp_store::{Keyspace, Op, Store};
        s.commit(vec![Op::Put(
            Keyspace::Meta,
            b"store-format".to_vec(),
            b"7".to_vec(),
        )])
        .expect("a write");
    }
    let mut child = node.spawn();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("kpd runs") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "kpd did not refuse the store: {}",
            node.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(!status.success());
    let log = node.log();
    assert!(
        log.contains("written by a newer kpd (store format 7; this kpd reads formats up to 1)"),
        "{log}"
    );
    // The refusal changed nothing.
    {
        let s = kp_store::SledStore::open(&store, 1 << 20);
        assert!(s.is_err(), "still format 7: nothing was changed");
    }
}

#[test]
fn with_log_format_json_every_line_is_a_json_object_with_its_fields() {
    let node = Kpd::init();
    node.set_in("log", &[("format", "\"json\"")]);
    let mut child = Command::new(bin("kpd"))
        .args(["run", "--data-dir"])
        .arg(node.data_dir())
        .env("KP_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kpd starts");
    let stderr = child.stderr.take().expect("its log");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut lines = Vec::new();
    while !lines
        .iter()
        .any(|l: &serde_json::Value| l["message"] == "ready")
    {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no \"ready\" line; read: {lines:?}"));
        let v: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(v["timestamp"].is_string() && v["level"].is_string(), "{v}");
        lines.push(v);
    }
    let _ = child.kill();
    let _ = child.wait();
    let ready = lines
        .iter()
        .find(|l| l["message"] == "ready")
        .expect("ready");
    // The event's fields are the object's own keys.
    assert_eq!(ready["target"], "kp_daemon::node", "{ready}");
    assert!(
        ready["node"].as_str().is_some_and(|n| !n.is_empty())
            && ready["socket"]
                .as_str()
                .is_some_and(|s| s.ends_with("kpd.sock")),
        "{ready}"
    );
}

/// A gRPC channel to the node's local socket.
async fn local_channel(node: &Kpd) -> tonic::transport::Channel {
    let socket = node.data_dir().join(kp_proto::SOCKET_FILE);
    tonic::transport::Endpoint::from_static("http://kpd.local")
        .connect_with_connector(tower::service_fn(move |_| {
            let socket = socket.clone();
            async move {
                tokio::net::UnixStream::connect(socket)
                    .await
                    .map(hyper_util::rt::TokioIo::new)
            }
        }))
        .await
        .expect("the local socket answers")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitors_see_the_node_serving_over_grpc_health_reflection_and_http() {
    let node = Kpd::listening();
    let channel = local_channel(&node).await;

    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    let mut health = HealthClient::new(channel.clone());
    for service in ["", "kp.local.v1.Local"] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("a health answer")
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service:?}");
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "no.such.Service".into(),
        })
        .await
        .expect_err("an unknown service");
    assert_eq!(unknown.code(), tonic::Code::NotFound);

    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let mut reflection = ServerReflectionClient::new(channel);
    let asked = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = reflection
        .server_reflection_info(tokio_stream::iter([asked]))
        .await
        .expect("reflection answers")
        .into_inner();
    let answer = answers
        .message()
        .await
        .expect("a message")
        .expect("one answer");
    let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
        panic!("not a list of services: {answer:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.iter().any(|n| n == "kp.local.v1.Local")
            && names.iter().any(|n| n == "grpc.health.v1.Health"),
        "{names:?}"
    );
    // The replication API is the partners', on their listener: not listed here.
    assert!(
        !names.iter().any(|n| n.contains("replication")),
        "{names:?}"
    );

    // /health on the web listener, under any host name, with no login.
    let addr = node.web_url().trim_start_matches("http://").to_owned();
    let answer = tokio::task::spawn_blocking(move || http_get(&addr, "/health", "monitor.example"))
        .await
        .expect("the request ran");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    let v: serde_json::Value = serde_json::from_str(body).expect("JSON");
    assert_eq!(v["status"], "serving", "{v}");
}

#[test]
fn the_systemd_unit_runs_kpd_as_this_kpd_takes_it() {
    let unit_path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist/systemd/kpd.service");
    let unit = std::fs::read_to_string(&unit_path).expect("the unit");
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("an ExecStart line");
    let mut words = exec.split_whitespace();
    assert_eq!(words.next(), Some("/usr/local/bin/kpd"), "{exec}");
    let args: Vec<&str> = words.collect();
    assert_eq!(args.first(), Some(&"run"), "{exec}");
    // The arguments are the ones kpd takes (`--help` after them parses them).
    let out = Command::new(bin("kpd"))
        .args(&args)
        .arg("--help")
        .output()
        .expect("kpd runs");
    assert!(
        out.status.success(),
        "kpd refuses the unit's arguments: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Where systemd's own checker is installed, the unit passes it (with the
    // binary built here in place of the installed one).
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok()
    {
        let dir = tempfile::tempdir().expect("a directory");
        let here = unit.replace("/usr/local/bin/kpd", &bin("kpd").display().to_string());
        let path = dir.path().join("kpd.service");
        std::fs::write(&path, here).expect("a copy");
        let out = Command::new("systemd-analyze")
            .arg("verify")
            .arg(&path)
            .output()
            .expect("systemd-analyze runs");
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && !said.contains("kpd.service:"),
            "{said}"
        );
    }
}

/// `GET path` from `addr` with `Host: host`: the whole answer.
fn http_get(addr: &str, path: &str, host: &str) -> String {
    use std::io::{Read, Write};
    let mut tcp = std::net::TcpStream::connect(addr).expect("the listener answers");
    write!(
        tcp,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .expect("a request");
    let mut out = String::new();
    tcp.read_to_string(&mut out).expect("an answer");
    out
}

/// The metrics as scraped: `name{labels}` to value.
fn scrape(url: &str) -> std::collections::BTreeMap<String, f64> {
    let rest = url.trim_start_matches("http://");
    let (addr, path) = rest.split_once('/').expect("host and path");
    let out = http_get(addr, &format!("/{path}"), addr);
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(
        out.to_lowercase()
            .contains("content-type: application/openmetrics-text"),
        "{out}"
    );
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    assert!(body.trim_end().ends_with("# EOF"), "{body}");
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name.to_owned(), value.parse().ok()?))
        })
        .collect()
}

#[test]
fn metrics_are_scraped_from_a_running_node_and_move_as_it_works() {
    let mut a = Kpd::init();
    a.set_in("metrics", &[("listen", "\"127.0.0.1:0\"")]);
    a.set_in("peers", &[("listen", "\"127.0.0.1:0\"")]);
    a.start();
    let b = Kpd::listening();
    let url = a.json(&["status"])["metrics_url"]
        .as_str()
        .expect("a metrics url")
        .to_owned();
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/metrics"),
        "{url}"
    );
    let before = scrape(&url);
    assert_eq!(before["kp_documents{kind=\"space\"}"], 0.0, "{before:?}");
    assert_eq!(before["kp_peers_connected"], 0.0);
    assert!(before["kp_store_size_bytes"] > 0.0);

    a.link(&b, Duration::from_secs(20));
    let (b_id, _) = b.identity();
    let space = a.json(&["space", "create", "Metrics WG", "--theme", "7"])["id"]
        .as_str()
        .expect("a space id")
        .to_owned();
    a.ok(&["space", "add-member", &space, &b_id]);
    let csv = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/remittances/top-recipients-2011.csv");
    let dataset = a.json(&[
        "dataset",
        "import",
        csv.to_str().expect("utf-8"),
        "--space",
        "Metrics WG",
        "--title",
        "Top recipients",
    ])["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let wasm = kp_tests::plugin_wasm("remittance-indicators");
    a.ok(&["plugin", "install", wasm.to_str().expect("utf-8")]);
    a.ok(&["analyze", &dataset, "--plugin", "remittance-indicators"]);
    // A bad parameter: a failed run of an installed plugin.
    let _ = a.kp(&[
        "analyze",
        &dataset,
        "--plugin",
        "remittance-indicators",
        "--param",
        "top=many",
    ]);

    // The partner takes the space; the figures move.
    b.wait_json(
        &["space", "list"],
        "the space at B",
        Duration::from_secs(20),
        |v| v["spaces"].as_array().is_some_and(|l| !l.is_empty()),
    );
    let peer = format!("{{peer=\"{b_id}\"}}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let after = loop {
        let m = scrape(&url);
        if m.get(&format!("kp_peer_documents_behind{peer}")) == Some(&0.0)
            && m.get(&format!("kp_peer_sent_bytes_total{peer}"))
                .is_some_and(|v| *v > 0.0)
        {
            break m;
        }
        assert!(
            Instant::now() < deadline,
            "the partner's figures did not move: {m:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(after["kp_documents{kind=\"space\"}"], 1.0, "{after:?}");
    assert_eq!(after["kp_documents{kind=\"dataset\"}"], 1.0);
    assert_eq!(after["kp_documents{kind=\"analysis\"}"], 1.0);
    assert_eq!(after["kp_peers_connected"], 1.0);
    assert_eq!(after[&format!("kp_peer_connected{peer}")], 1.0);
    assert!(after[&format!("kp_peer_received_bytes_total{peer}")] > 0.0);
    assert!(after[&format!("kp_peer_since_last_exchange_seconds{peer}")] >= 0.0);
    // Edits each way: the space, the dataset and the analysis went out, as
    // many changes as B took in from A.
    let sent = after[&format!("kp_peer_edits_sent_total{peer}")];
    assert!(sent >= 3.0, "{after:?}");
    let (a_id, a_addr) = a.identity();
    let from_a = |b: &Kpd| {
        b.json(&["peer", "list"])["peers"]
            .as_array()
            .and_then(|l| l.iter().find(|p| p["node_id"] == a_id.as_str()))
            .map(|p| {
                (
                    p["edits_in"].as_u64().unwrap_or(0),
                    p["edits_out"].as_u64().unwrap_or(0),
                )
            })
            .expect("A in B's peer list")
    };
    let (b_took, _) = from_a(&b);
    assert!(b_took >= 3 && b_took as f64 <= sent, "{b_took} of {sent}");
    // B writes a draft in the space: A counts in what was new to it, no more
    // than B sent.
    let text = b.scratch().join("draft.md");
    std::fs::write(&text, "Written at B.\n").expect("a file");
    b.ok(&[
        "draft",
        "new",
        "--space",
        &space,
        "--title",
        "From B",
        "--file",
        text.to_str().expect("utf-8"),
    ]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let m = scrape(&url);
        let got = m[&format!("kp_peer_edits_received_total{peer}")];
        let (_, b_sent) = from_a(&b);
        if got >= 1.0 {
            assert!(got <= b_sent as f64, "A took {got} edits of B's {b_sent}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "A took {got} edits of B's {b_sent}: {m:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(after["kp_commit_rounds_total"] > before["kp_commit_rounds_total"]);
    assert_eq!(
        after["kp_commit_round_duration_seconds_count"],
        after["kp_commit_rounds_total"]
    );
    assert!(after["kp_commit_round_duration_seconds_sum"] > 0.0);
    // The buckets add up: the last is every round.
    assert_eq!(
        after["kp_commit_round_duration_seconds_bucket{le=\"+Inf\"}"],
        after["kp_commit_rounds_total"]
    );
    assert!(
        after["kp_commit_round_duration_seconds_bucket{le=\"0.0001\"}"]
            <= after["kp_commit_round_duration_seconds_bucket{le=\"1.0\"}"]
    );
    let plugin = "plugin=\"remittance-indicators\"";
    assert_eq!(
        after[&format!("kp_plugin_runs_total{{{plugin},outcome=\"ok\"}}")],
        1.0,
        "{after:?}"
    );
    assert!(after[&format!("kp_plugin_fuel_total{{{plugin}}}")] > 0.0);
    assert_eq!(
        after[&format!("kp_plugin_run_duration_seconds_count{{{plugin}}}")],
        after
            .iter()
            .filter(|(k, _)| k.starts_with("kp_plugin_runs_total{"))
            .map(|(_, v)| v)
            .sum::<f64>()
    );
    // A node A never pinned dials it: refused, and counted by reason.
    let stranger = Kpd::listening();
    stranger.ok(&["peer", "add", &a_id, &a_addr]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let m = scrape(&url);
        if m.get("kp_refusals_total{reason=\"not_pinned\"}")
            .is_some_and(|n| *n >= 1.0)
        {
            break;
        }
        assert!(Instant::now() < deadline, "no refusal counted: {m:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // No series names a document or a person.
    for key in after.keys() {
        assert!(!key.contains(&dataset) && !key.contains(&space), "{key}");
    }
}

#[test]
fn a_running_node_backed_up_is_restored_in_a_new_directory_and_catches_up() {
    let mut a = Kpd::listening();
    let b = Kpd::listening();
    a.link(&b, Duration::from_secs(20));
    let (a_id, _) = a.identity();
    let (b_id, _) = b.identity();
    let space = a.json(&["space", "create", "Backup WG", "--theme", "7"])["id"]
        .as_str()
        .expect("a space")
        .to_owned();
    a.ok(&["space", "add-member", &space, &b_id]);
    let text = a.scratch().join("draft.md");
    std::fs::write(&text, "First paragraph.\n").expect("a file");
    let draft = a
        .ok(&[
            "draft",
            "new",
            "--space",
            &space,
            "--title",
            "Kept",
            "--file",
            text.to_str().expect("utf-8"),
        ])
        .trim()
        .to_owned();
    let wasm = kp_tests::plugin_wasm("brief-readability");
    a.ok(&["plugin", "install", wasm.to_str().expect("utf-8")]);
    a.ok(&["user", "add", "ana"]);
    b.wait_json(
        &["draft", "show", &draft],
        "the draft at B",
        Duration::from_secs(20),
        |d| d["body"] == "First paragraph.\n",
    );
    // A's session with B stores its sync states at each tick, before it
    // counts what is shared: once it counts both documents, their states
    // are stored (a backup leaves them out).
    a.wait_peer(&b_id, Duration::from_secs(20), |p| {
        p["documents_shared"] == 2 && p["in_sync"] == true
    });

    // Backups of the running node: without the key, and with it (owner-only).
    let plain = a.scratch().join("a.kpbackup");
    let keyed = a.scratch().join("a-key.kpbackup");
    let made = a.json(&["backup", plain.to_str().expect("utf-8")]);
    assert_eq!(made["documents"], 2, "{made}");
    a.ok(&["backup", keyed.to_str().expect("utf-8"), "--with-key"]);
    let bytes = std::fs::read(&keyed).expect("the backup");
    assert_eq!(&bytes[..2], &[0x1f, 0x8b], "a gzip file");
    // The node's values are in it (the partners), the sync states with
    // partners are not (`meta/` and the hex of `sync/`).
    let mut tar = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut tar)
        .expect("gzip");
    let holds = |name: &[u8]| tar.windows(name.len()).any(|w| w == name);
    assert!(holds(b"meta/7065657273"), "the peer list");
    assert!(!holds(b"meta/73796e632f"), "no sync state");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&keyed)
        .expect("a file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let err = a.fails(1, &["backup", keyed.to_str().expect("utf-8")]);
    assert!(err.contains("exists"), "{err}");
    assert!(a.stop());

    // Meanwhile the partner edits on.
    std::fs::write(
        &text,
        "First paragraph.\n\nWritten at B while A was gone.\n",
    )
    .expect("a file");
    b.ok(&[
        "draft",
        "edit",
        &draft,
        "--file",
        text.to_str().expect("utf-8"),
        "--base",
        "current",
    ]);

    // A new directory: a backup without the key is refused; with it, the node
    // is rebuilt.
    let mut restored = Kpd::init();
    let dir = restored.data_dir();
    std::fs::remove_dir_all(&dir).expect("an empty place");
    let restore = |file: &std::path::Path| {
        Command::new(bin("kpd"))
            .args(["restore"])
            .arg(file)
            .arg("--data-dir")
            .arg(&dir)
            .output()
            .expect("kpd runs")
    };
    // Not a backup, or one cut short: refused, and nothing left behind.
    let garbage = a.scratch().join("garbage.kpbackup");
    std::fs::write(&garbage, b"not a backup at all").expect("a file");
    let cut = a.scratch().join("cut.kpbackup");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("a file");
    for bad in [&garbage, &cut] {
        let out = restore(bad);
        assert!(!out.status.success(), "{}", bad.display());
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(
            said.contains("is not a kp backup") || said.contains("damaged"),
            "{said}"
        );
        assert!(
            !dir.exists(),
            "a failed restore leaves nothing: {}",
            bad.display()
        );
    }
    let out = restore(&plain);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("holds no node key") && said.contains("--with-key"),
        "{said}"
    );
    assert!(!dir.exists(), "nothing left behind");
    let out = restore(&keyed);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 documents"));
    // Not over a node.
    let out = restore(&keyed);
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not empty"));

    restored.start();
    let s = restored.json(&["status"]);
    assert_eq!(s["node_id"], a_id.as_str(), "the same node");
    assert!(
        s["incarnation"].as_u64().is_some_and(|i| i >= 1 << 40),
        "an incarnation the original never reached: {s}"
    );
    assert_eq!(
        restored.json(&["plugin", "list"])["plugins"][0]["name"],
        "brief-readability"
    );
    assert_eq!(restored.json(&["user", "list"])["users"][0]["name"], "ana");
    // It dials its partner again and catches up.
    wait_body(&restored, &draft, "Written at B");
    // Its partners list says so, and --watch returns once all are in sync.
    let watched = restored.kp(&["--json", "peer", "list", "--watch", "--timeout", "30"]);
    assert!(
        watched.status.success(),
        "{}",
        String::from_utf8_lossy(&watched.stderr)
    );
    let list: serde_json::Value = serde_json::from_slice(&watched.stdout).expect("JSON");
    let peer = &list["peers"][0];
    assert_eq!(peer["in_sync"], true, "{list}");
    assert_eq!(peer["documents_shared"], 2, "{list}");
    assert_eq!(peer["documents_missing"], 0, "{list}");
    assert!(
        restored
            .ok(&["status"])
            .contains("1 connected, all in sync")
    );
    // And what it writes reaches B.
    std::fs::write(
        &text,
        "First paragraph.\n\nWritten at B while A was gone.\n\nRestored A writes.\n",
    )
    .expect("a file");
    restored.ok(&[
        "draft",
        "edit",
        &draft,
        "--file",
        text.to_str().expect("utf-8"),
        "--base",
        "current",
    ]);
    wait_body(&b, &draft, "Restored A writes.");
}

/// Waits (bounded) until draft `id` at `node` holds `needle`.
fn wait_body(node: &Kpd, id: &str, needle: &str) {
    node.wait_json(
        &["draft", "show", id],
        &format!("\"{needle}\" in the draft"),
        Duration::from_secs(30),
        |d| d["body"].as_str().is_some_and(|b| b.contains(needle)),
    );
}

#[test]
fn verify_reads_the_store_whole_and_names_what_is_damaged() {
    let mut node = Kpd::started();
    node.ok(&["space", "create", "Verify WG", "--theme", "1"]);
    let text = node.scratch().join("d.md");
    std::fs::write(
        &text,
        "A text long enough to be worth damaging. ".repeat(50),
    )
    .expect("a file");
    let draft = node
        .ok(&[
            "draft",
            "new",
            "--space",
            "Verify WG",
            "--title",
            "Fragile",
            "--file",
            text.to_str().expect("utf-8"),
        ])
        .trim()
        .to_owned();
    let clean = node.json(&["verify"]);
    assert_eq!(clean["documents"], 2, "{clean}");
    assert!(clean["changes"].as_u64().is_some_and(|c| c >= 2), "{clean}");
    assert!(
        clean["problems"].as_array().is_none_or(Vec::is_empty),
        "{clean}"
    );
    assert!(
        node.ok(&["verify"])
            .contains("every checksum and every signature holds")
    );
    assert!(node.stop());

    // A flipped byte in the middle of the draft's log (a disk's doing, not a
    // crash's: a crash only tears the end).
    let docs = node.data_dir().join("store").join("docs");
    let log = docs.join(format!("{draft}.log"));
    let snap = docs.join(format!("{draft}.snap"));
    let file = if log.exists() && std::fs::metadata(&log).expect("a log").len() > 64 {
        log
    } else {
        snap
    };
    let mut bytes = std::fs::read(&file).expect("the document's file");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&file, bytes).expect("damage");
    node.start();
    let out = node.kp(&["verify"]);
    assert_eq!(out.status.code(), Some(1), "damage makes verify fail");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains(&draft) && said.contains("Fragile"), "{said}");
    assert!(said.contains("no partner holds it"), "{said}");
    // The space is whole.
    let v: serde_json::Value =
        serde_json::from_slice(&node.kp(&["--json", "verify"]).stdout).expect("JSON");
    let problems = v["problems"].as_array().expect("problems");
    assert_eq!(problems.len(), 1, "{v}");
    assert!(
        !problems[0]["damage"].as_str().unwrap_or("").is_empty(),
        "{v}"
    );
}
