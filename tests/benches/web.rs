//! Benchmark: edit-to-visible latency for automerge-repo clients, through kpd
//! and, in the same run, through samod (the automerge-repo server written in
//! Rust) serving the same stock JavaScript clients.
//!
//! Each system has two servers, A and its partner B. Client ONE and client TWO
//! are connected to A, client FAR to B. ONE appends a mark to the body of a
//! draft; the time until TWO sees it (through A) and until FAR sees it
//! (through A, the partner link, and B) is measured per edit, one edit at a
//! time. kpd: two real `kpd` processes, linked over mutual TLS, with accounts
//! and people, every edit made durable (fsync) and signed before it leaves a
//! node. samod: two repositories with filesystem storage in this process, A
//! serving WebSocket over axum, B dialing A over TCP and serving its own
//! WebSocket. The systems run alternately, twice each, and the samples are
//! pooled.
//!
//! Run: `cargo build --release --bins && cargo bench -p kp-tests --bench web` (after
//! `npm ci` in `tests/js`). `KP_BENCH_EDITS=N` sets the edits per run (200).

use std::process::Command;
use std::time::Duration;

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::routing::get;
use kp_tests::Kpd;

const BODY: &str =
    "# Sending money home\n\nRemittances to low- and middle-income countries grew.\n";

/// The latencies of one run, in ms: to TWO and to FAR, from the edit and
/// from the moment ONE sent it.
#[derive(Debug, Default)]
struct Samples {
    near: Vec<f64>,
    far: Vec<f64>,
    near_wire: Vec<f64>,
    far_wire: Vec<f64>,
}

impl Samples {
    fn extend(&mut self, other: Samples) {
        self.near.extend(other.near);
        self.far.extend(other.far);
        self.near_wire.extend(other.near_wire);
        self.far_wire.extend(other.far_wire);
    }

    fn sort(&mut self) {
        for v in [
            &mut self.near,
            &mut self.far,
            &mut self.near_wire,
            &mut self.far_wire,
        ] {
            v.sort_by(f64::total_cmp);
        }
    }
}

/// Runs the JavaScript client side; the latencies it measured.
fn clients(name: &str, near: &str, far: &str, doc: Option<&str>, edits: usize) -> Samples {
    let js = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("js");
    let cfg = serde_json::json!({
        "name": name, "near": near, "far": far, "doc": doc, "body": BODY,
        "edits": edits, "warmup": 20,
    });
    let out = Command::new("node")
        .arg("bench/latency.mjs")
        .arg(cfg.to_string())
        .current_dir(&js)
        .output()
        .expect("node runs (and `npm ci` was run in tests/js)");
    assert!(
        out.status.success(),
        "the clients failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(line.trim()).expect("one JSON line");
    let list = |k: &str| -> Vec<f64> {
        v[k].as_array()
            .expect("samples")
            .iter()
            .filter_map(serde_json::Value::as_f64)
            .collect()
    };
    Samples {
        near: list("near"),
        far: list("far"),
        near_wire: list("nearWire"),
        far_wire: list("farWire"),
    }
}

/// A kpd pair and a session for three accounts; the WebSocket URLs of ONE
/// and TWO (at A) and FAR (at B), and the draft.
struct KpSetup {
    _a: Kpd,
    _b: Kpd,
    near: String,
    far: String,
    doc: String,
}

fn session(node: &Kpd, name: &str) -> String {
    let token = node.json(&["user", "add", name])["token"]
        .as_str()
        .expect("a token")
        .to_owned();
    let url = node.web_url();
    // The login exchange, as a program does it (curl is not assumed: node is).
    let out = Command::new("node")
        .arg("-e")
        .arg(format!(
            "fetch('{url}/api/login',{{method:'POST',headers:{{'content-type':'application/json'}},body:JSON.stringify({{token:'{token}'}})}}).then(r=>r.json()).then(j=>console.log(j.session))"
        ))
        .output()
        .expect("node runs");
    let s = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(s.starts_with("kps_"), "a session: {s}");
    format!("{}/sync?session={s}", url.replacen("http", "ws", 1))
}

fn kp_setup() -> KpSetup {
    let a = Kpd::listening();
    let b = Kpd::listening();
    b.link(&a, Duration::from_secs(30));
    let (b_id, _) = b.identity();
    let space = a.json(&["space", "create", "Bench WG", "--theme", "7"])["id"]
        .as_str()
        .expect("a space")
        .to_owned();
    a.ok(&["space", "add-member", &space, &b_id, "--role", "editor"]);
    let file = a.scratch().join("body.md");
    std::fs::write(&file, BODY).expect("a file");
    let doc = a
        .ok(&[
            "draft",
            "new",
            "--space",
            &space,
            "--title",
            "Bench",
            "--file",
            file.to_str().expect("utf-8"),
        ])
        .trim()
        .to_owned();
    let near = session(&a, "Bench Near");
    let far = session(&b, "Bench Far");
    a.ok(&[
        "space",
        "add-person",
        &space,
        "Bench Near",
        "--role",
        "editor",
    ]);
    a.ok(&[
        "space",
        "add-person",
        &space,
        "Bench Far",
        "--role",
        "editor",
        "--node",
        &b_id,
    ]);
    // B holds the draft before the clients start.
    b.wait_json(
        &["draft", "show", &doc],
        "B has the draft",
        Duration::from_secs(30),
        |v| v["body"].as_str().is_some(),
    );
    KpSetup {
        _a: a,
        _b: b,
        near,
        far,
        doc: format!("automerge:{doc}"),
    }
}

/// samod A serving WebSocket, and samod B, linked to A over TCP, serving its
/// own: their WebSocket URLs.
async fn samod_pair(dir: &std::path::Path) -> (String, String) {
    use samod::storage::TokioFilesystemStorage;
    async fn serve(repo: &samod::Repo) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let url = format!("ws://{}/", listener.local_addr().expect("an address"));
        let acceptor = repo
            .make_acceptor(samod::Url::parse(&url).expect("a url"))
            .expect("an acceptor");
        let app = Router::new().route(
            "/",
            get(move |upgrade: WebSocketUpgrade| {
                let acceptor = acceptor.clone();
                async move {
                    upgrade.on_upgrade(move |socket| async move {
                        let _ = acceptor.accept_axum(socket, None);
                    })
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }
    let a = samod::Repo::build_tokio()
        .with_storage(TokioFilesystemStorage::new(dir.join("a")))
        .with_peer_id(samod::PeerId::from("samod-a"))
        .load()
        .await;
    let b = samod::Repo::build_tokio()
        .with_storage(TokioFilesystemStorage::new(dir.join("b")))
        .with_peer_id(samod::PeerId::from("samod-b"))
        .load()
        .await;
    let near = serve(&a).await;
    let far = serve(&b).await;
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let address = tcp.local_addr().expect("an address").to_string();
    let acceptor = a
        .make_acceptor(samod::Url::parse(&format!("tcp://{address}")).expect("a url"))
        .expect("an acceptor");
    tokio::spawn(async move {
        while let Ok((io, _)) = tcp.accept().await {
            let _ = io.set_nodelay(true);
            if acceptor.accept_tokio_io(io).is_err() {
                break;
            }
        }
    });
    let dialer = b
        .dial_tcp(
            samod::Url::parse(&format!("tcp://{address}")).expect("a url"),
            samod::BackoffConfig::default(),
        )
        .expect("a dialer");
    dialer.established().await.expect("B connects to A");
    // The repositories live as long as the runtime.
    std::mem::forget((a, b, dialer));
    (near, far)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn main() {
    let edits: usize = std::env::var("KP_BENCH_EDITS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (samod_near, samod_far) = rt.block_on(samod_pair(dir.path()));
    let kp = kp_setup();
    let (mut kp_s, mut samod_s) = (Samples::default(), Samples::default());
    for round in 0..2 {
        kp_s.extend(clients(
            &format!("kp{round}"),
            &kp.near,
            &kp.far,
            Some(&kp.doc),
            edits,
        ));
        samod_s.extend(clients(
            &format!("samod{round}"),
            &samod_near,
            &samod_far,
            None,
            edits,
        ));
    }
    kp_s.sort();
    samod_s.sort();
    println!("edit-to-visible, {} edits per system (ms)", kp_s.near.len());
    println!(
        "{:<44} {:>8} {:>8} {:>8} {:>8}",
        "", "kp p50", "samod", "kp p99", "samod"
    );
    for (what, k, s) in [
        ("client → client, same server", &kp_s.near, &samod_s.near),
        ("client → partner server's client", &kp_s.far, &samod_s.far),
        ("  the same from the message's sending:", &vec![], &vec![]),
        (
            "client → client, same server",
            &kp_s.near_wire,
            &samod_s.near_wire,
        ),
        (
            "client → partner server's client",
            &kp_s.far_wire,
            &samod_s.far_wire,
        ),
    ] {
        if k.is_empty() {
            println!("{what}");
            continue;
        }
        let (k50, s50, k99, s99) = (
            percentile(k, 0.5),
            percentile(s, 0.5),
            percentile(k, 0.99),
            percentile(s, 0.99),
        );
        println!("{what:<44} {k50:>8.2} {s50:>8.2} {k99:>8.2} {s99:>8.2}");
        println!(
            "{:<44} {:>17} {:>17}",
            "  ratio kp / samod",
            format!("{:.2}×", k50 / s50),
            format!("{:.2}×", k99 / s99)
        );
    }
}
