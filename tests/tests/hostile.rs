//! A hostile peer written against the replication `.proto`: it holds a key the
//! node pinned, so TLS lets it in, and then it misbehaves. The node answers with a
//! clear refusal and goes on serving its honest peers.

use std::sync::Arc;
use std::time::Duration;

use kp_daemon::identity::NodeKey;
use kp_daemon::transport;
use kp_proto::replication as rp;
use kp_proto::replication::replication_client::ReplicationClient;
use kp_tests::Kpd;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_stream::wrappers::ReceiverStream;

const WAIT: Duration = Duration::from_secs(30);

/// A TLS connection to `addr`, presenting `key` and expecting `server`.
async fn tls(
    key: &NodeKey,
    server: &str,
    addr: &str,
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let config = transport::client_config(
        key,
        transport::certificate(key).unwrap(),
        server.parse().unwrap(),
    )
    .unwrap();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from("kp-node").unwrap();
    tokio_rustls::TlsConnector::from(Arc::clone(&config))
        .connect(name, tcp)
        .await
        .unwrap()
}

async fn client(
    key: &NodeKey,
    server: &str,
    addr: &str,
) -> ReplicationClient<tonic::transport::Channel> {
    let key = key.clone();
    let (server, addr) = (server.to_owned(), addr.to_owned());
    let channel = tonic::transport::Endpoint::from_static("http://kp-peer")
        .connect_with_connector(tower::service_fn(move |_| {
            let (key, server, addr) = (key.clone(), server.clone(), addr.clone());
            async move {
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(
                    tls(&key, &server, &addr).await,
                ))
            }
        }))
        .await
        .unwrap();
    ReplicationClient::new(channel)
}

fn hello(protocol: u32, node_id: String) -> rp::Frame {
    rp::Frame {
        body: Some(rp::frame::Body::Hello(rp::Hello {
            protocol,
            node_id,
            name: "Hostile".into(),
            idle_timeout_secs: 0,
        })),
    }
}

#[test]
fn a_hostile_peer_is_refused_and_honest_peers_carry_on() {
    let a = Kpd::listening();
    let b = Kpd::listening();
    let (a_id, a_addr) = a.identity();
    let (b_id, b_addr) = b.identity();
    a.ok(&["peer", "add", &b_id, &b_addr]);
    b.ok(&["peer", "add", &a_id]);
    b.wait_peer(&a_id, WAIT, |p| p["connected"] == true);

    let dir = tempfile::tempdir().unwrap();
    let evil = NodeKey::generate(&dir.path().join("evil.key")).unwrap();
    a.ok(&["peer", "add", &evil.id().to_string()]);

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        // Another protocol version: a refusal that names the versions spoken.
        let mut c = client(&evil, &a_id, &a_addr).await;
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tx.send(hello(99, evil.id().to_string())).await.unwrap();
        let mut inbound = c
            .session(ReceiverStream::new(rx))
            .await
            .unwrap()
            .into_inner();
        let first = inbound.message().await.unwrap().expect("a reply");
        match first.body {
            Some(rp::frame::Body::Refusal(r)) => {
                assert_eq!(r.supported, [1]);
                assert!(r.reason.contains("protocol 1, not 99"), "{}", r.reason);
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert!(
            inbound.message().await.map(|m| m.is_none()).unwrap_or(true),
            "the session ends"
        );

        // A hello that claims to be another node than its certificate.
        let mut c = client(&evil, &a_id, &a_addr).await;
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tx.send(hello(1, b_id.clone())).await.unwrap();
        let err = c
            .session(ReceiverStream::new(rx))
            .await
            .map(|_| ())
            .unwrap_err();
        assert!(err.message().contains("another node"), "{}", err.message());

        // Garbage bytes inside an accepted TLS connection.
        let mut raw = tls(&evil, &a_id, &a_addr).await;
        raw.write_all(&[0xde; 4096]).await.unwrap();
        let _ = raw.flush().await;
        drop(raw);

        // A session that never says hello is dropped after the timeout; meanwhile
        // nothing else waits for it (checked below while it is open).
        let mut c = client(&evil, &a_id, &a_addr).await;
        let (_tx, rx) = tokio::sync::mpsc::channel::<rp::Frame>(4);
        let stalled =
            tokio::spawn(async move { c.session(ReceiverStream::new(rx)).await.map(|_| ()) });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!stalled.is_finished());
        stalled.abort();

        // Reconnecting in a tight loop: refused once over the rate limit.
        let mut refused = None;
        for _ in 0..40 {
            let mut c = client(&evil, &a_id, &a_addr).await;
            let (tx, rx) = tokio::sync::mpsc::channel(4);
            tx.send(hello(1, evil.id().to_string())).await.unwrap();
            if let Err(s) = c.session(ReceiverStream::new(rx)).await {
                refused = Some(s);
                break;
            }
        }
        let refused = refused.expect("a tight reconnect loop is refused");
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
        assert!(
            refused.message().contains("a minute"),
            "{}",
            refused.message()
        );
    });

    // The honest peer is still connected and the node still answers.
    assert_eq!(
        a.wait_peer(&b_id, WAIT, |p| p["connected"] == true)["connected"],
        true
    );
    a.ok(&["status"]);
}

/// Opens a session as `key`, says hello, and returns the sender and the node's
/// frames after its hello.
async fn session(
    key: &NodeKey,
    server: &str,
    addr: &str,
) -> (
    tokio::sync::mpsc::Sender<rp::Frame>,
    tonic::Streaming<rp::Frame>,
) {
    let mut c = client(key, server, addr)
        .await
        .max_encoding_message_size(64 << 20);
    let (tx, rx) = tokio::sync::mpsc::channel(256);
    tx.send(hello(1, key.id().to_string())).await.unwrap();
    let mut inbound = c
        .session(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    let first = inbound.message().await.unwrap().expect("a hello");
    assert!(matches!(first.body, Some(rp::frame::Body::Hello(_))));
    (tx, inbound)
}

/// Reads the node's frames until it ends the session; the frames it sent.
async fn until_closed(inbound: &mut tonic::Streaming<rp::Frame>) -> Vec<rp::Frame> {
    let mut got = Vec::new();
    let ended = tokio::time::timeout(WAIT, async {
        while let Ok(Some(f)) = inbound.message().await {
            got.push(f);
        }
    })
    .await;
    assert!(ended.is_ok(), "the node kept the session open");
    got
}

fn random_id(seed: u8) -> Vec<u8> {
    (0..16)
        .map(|i| seed.wrapping_mul(31).wrapping_add(i))
        .collect()
}

fn whole(doc: Vec<u8>, space: Vec<u8>, document: Vec<u8>) -> rp::Frame {
    rp::Frame {
        body: Some(rp::frame::Body::Whole(rp::Whole {
            doc,
            space,
            document,
        })),
    }
}

fn part(data: Vec<u8>, last: bool) -> rp::Frame {
    rp::Frame {
        body: Some(rp::frame::Body::Part(rp::Part { data, last })),
    }
}

#[test]
fn stalled_flooding_and_oversized_sessions_are_closed() {
    let a = Kpd::listening_with(&[
        ("idle_timeout_secs", "3"),
        ("max_frame_kib", "64"),
        ("max_document_mib", "1"),
    ]);
    let b = Kpd::listening();
    let (a_id, a_addr) = a.identity();
    let (b_id, b_addr) = b.identity();
    b.ok(&["peer", "add", &a_id, &a_addr]);
    a.ok(&["peer", "add", &b_id, &b_addr]);
    a.wait_peer(&b_id, WAIT, |p| p["connected"] == true);
    let dir = tempfile::tempdir().unwrap();
    let evil = NodeKey::generate(&dir.path().join("evil.key")).unwrap();
    a.ok(&["peer", "add", &evil.id().to_string()]);

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        // Silent after its hello: the node's heartbeats keep coming, and after
        // the idle timeout it closes the session.
        let started = std::time::Instant::now();
        let (_tx, mut inbound) = session(&evil, &a_id, &a_addr).await;
        let got = until_closed(&mut inbound).await;
        assert!(started.elapsed() >= Duration::from_secs(2));
        assert!(
            got.iter()
                .any(|f| matches!(f.body, Some(rp::frame::Body::Heartbeat(_)))),
            "the node sends heartbeats: {got:?}"
        );

        // One message over the frame limit: refused by the transport.
        let (tx, mut inbound) = session(&evil, &a_id, &a_addr).await;
        tx.send(whole(random_id(1), random_id(2), vec![7; 100 << 10]))
            .await
            .unwrap();
        until_closed(&mut inbound).await;

        // Parts adding up to more than the largest document.
        let (tx, mut inbound) = session(&evil, &a_id, &a_addr).await;
        for _ in 0..40 {
            if tx.send(part(vec![1; 60 << 10], false)).await.is_err() {
                break;
            }
        }
        until_closed(&mut inbound).await;

        // A frame between the parts of another.
        let (tx, mut inbound) = session(&evil, &a_id, &a_addr).await;
        tx.send(part(vec![1; 100], false)).await.unwrap();
        tx.send(whole(random_id(3), random_id(4), vec![1]))
            .await
            .unwrap();
        until_closed(&mut inbound).await;

        // A flood of documents it may not send: refused one by one, then the
        // session is closed.
        let (tx, mut inbound) = session(&evil, &a_id, &a_addr).await;
        for i in 0..=110u8 {
            if tx
                .send(whole(random_id(i), random_id(200), b"junk".to_vec()))
                .await
                .is_err()
            {
                break;
            }
        }
        until_closed(&mut inbound).await;
    });

    // Each ended with one line in the log (written as its session winds up).
    let deadline = std::time::Instant::now() + WAIT;
    for line in [
        "no frame from the peer for 3 s",
        "decoded message length too large",
        "more than 1048576 bytes",
        "interleaved a frame",
        "more than 100 refused frames",
    ] {
        while !a.log().contains(line) {
            assert!(
                std::time::Instant::now() < deadline,
                "the log says {line:?}: {}",
                a.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let log = a.log();
    assert_eq!(
        log.matches("no frame from the peer").count(),
        1,
        "only the stalled session timed out, not the honest peer's: {log}"
    );
    assert_eq!(log.matches("refused a document").count(), 1, "{log}");
    // Nothing of it was kept, and the honest peer is still served.
    assert_eq!(
        a.json(&["space", "list"])["spaces"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    assert_eq!(
        a.wait_peer(&b_id, WAIT, |p| p["connected"] == true)["connected"],
        true
    );
}

/// A partner that is a reader of a space (or a compromised node holding a
/// reader's key) writes into a draft anyway and sends its change with the sync
/// protocol: the node refuses it, tells the peer which document and why,
/// applies and relays nothing, and keeps syncing with its honest partner.
#[test]
fn a_readers_change_is_refused_told_and_not_relayed() {
    use automerge::sync::{Message, State, SyncDoc};
    use automerge::{AutoCommit, transaction::Transactable};

    let a = Kpd::listening();
    let b = Kpd::listening();
    b.link(&a, WAIT);
    let (a_id, a_addr) = a.identity();
    let (b_id, _) = b.identity();
    let dir = tempfile::tempdir().unwrap();
    let evil = NodeKey::generate(&dir.path().join("evil.key")).unwrap();
    let evil_id = evil.id().to_string();
    a.ok(&["peer", "add", &evil_id]);

    let space = a.json(&["space", "create", "Donors", "--theme", "5"])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    a.ok(&["space", "add-member", &space, &b_id, "--role", "editor"]);
    a.ok(&["space", "add-member", &space, &evil_id, "--role", "reader"]);
    let text = a.scratch().join("d.md");
    std::fs::write(&text, "Pledges for 2027.\n").unwrap();
    let draft = a
        .ok(&[
            "draft",
            "new",
            "--space",
            &space,
            "--title",
            "Pledges",
            "--file",
            text.to_str().unwrap(),
        ])
        .trim()
        .to_owned();
    let draft_bytes = draft
        .parse::<kp_daemon::ids::DocId>()
        .unwrap()
        .as_bytes()
        .to_vec();
    let space_bytes = space
        .parse::<kp_daemon::ids::DocId>()
        .unwrap()
        .as_bytes()
        .to_vec();

    let rt = tokio::runtime::Runtime::new().unwrap();
    let refusal = rt.block_on(async {
        let (tx, mut inbound) = session(&evil, &a_id, &a_addr).await;
        let summary = rp::Frame {
            body: Some(rp::frame::Body::Summary(rp::Summary {
                docs: Vec::new(),
                digest: Vec::new(),
                full: true,
            })),
        };
        tx.send(summary).await.unwrap();
        // Take the draft whole, then write into it as this (reader) node.
        let mut doc: Option<AutoCommit> = None;
        let mut state = State::new();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let f = tokio::time::timeout_at(deadline, inbound.message())
                .await
                .expect("the node answers in time")
                .unwrap()
                .expect("the session stays open");
            match f.body {
                Some(rp::frame::Body::Whole(w)) if w.doc == draft_bytes => {
                    let mut d = AutoCommit::load(&w.document).unwrap();
                    let actor = [evil.id().as_bytes().as_slice(), &1u64.to_be_bytes()].concat();
                    d.set_actor(automerge::ActorId::from(actor));
                    d.put(automerge::ROOT, "title", "Pledges (cancelled)")
                        .unwrap();
                    d.commit();
                    doc = Some(d);
                }
                Some(rp::frame::Body::Sync(m)) if m.doc == draft_bytes => {
                    if let Some(d) = doc.as_mut() {
                        d.sync()
                            .receive_sync_message(&mut state, Message::decode(&m.message).unwrap())
                            .unwrap();
                    }
                }
                Some(rp::frame::Body::Refusal(r)) => return r,
                _ => {}
            }
            if let Some(d) = doc.as_mut()
                && let Some(m) = d.sync().generate_sync_message(&mut state)
            {
                let sync = rp::Frame {
                    body: Some(rp::frame::Body::Sync(rp::Sync {
                        doc: draft_bytes.clone(),
                        space: space_bytes.clone(),
                        message: m.encode(),
                    })),
                };
                tx.send(sync).await.unwrap();
            }
        }
    });
    assert_eq!(refusal.doc, draft_bytes);
    assert!(refusal.reason.contains("reader"), "{}", refusal.reason);

    // Nothing of it was applied at A, nor relayed to B; honest edits still flow.
    assert_eq!(
        a.json(&["draft", "show", &draft])["summary"]["title"],
        "Pledges"
    );
    let revised = a.scratch().join("r.md");
    std::fs::write(&revised, "Pledges for 2027, revised.\n").unwrap();
    a.ok(&["draft", "edit", &draft, "--file", revised.to_str().unwrap()]);
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let out = b.kp(&["--json", "draft", "show", &draft]);
        if out.status.success() {
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            if v["body"].as_str().is_some_and(|t| t.contains("revised")) {
                assert_eq!(v["summary"]["title"], "Pledges", "nothing was relayed");
                break;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "B did not get A's edit"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(a.log().contains("refused a sync message"), "{}", a.log());
}
