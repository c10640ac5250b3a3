//! A hostile peer written against the replication `.proto`: it holds a key the
//! node pinned, so TLS lets it in, and then it misbehaves. The node answers with a
//! clear refusal and goes on serving its honest peers.

use std::sync::Arc;
use std::time::Duration;

use kp_core::identity::NodeKey;
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
            presence: false,
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
    signed_whole(doc, space, document, Vec::new())
}

fn signed_whole(
    doc: Vec<u8>,
    space: Vec<u8>,
    document: Vec<u8>,
    signatures: Vec<rp::Signature>,
) -> rp::Frame {
    rp::Frame {
        body: Some(rp::frame::Body::Whole(rp::Whole {
            doc,
            space,
            document,
            signatures,
        })),
    }
}

/// A signature as the `.proto` describes it: Ed25519 by `key` over
/// "kp change v1", a zero byte and the change hash.
fn signature(
    key: &NodeKey,
    actor: &automerge::ActorId,
    hash: automerge::ChangeHash,
) -> rp::Signature {
    rp::Signature {
        actor: actor.to_bytes().to_vec(),
        hash: hash.0.to_vec(),
        signature: key.sign(&[&b"kp change v1\0"[..], &hash.0].concat()),
        ..Default::default()
    }
}

/// The actor id of `key`'s node in incarnation `n`: its key, then `n`.
fn actor_of(key: &[u8], n: u64) -> automerge::ActorId {
    automerge::ActorId::from([key, &n.to_be_bytes()].concat())
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

/// Nodes A and B, linked, and a hostile partner that A pinned and made a
/// member of a space (with `role`, as `institution`) holding one draft of A's.
struct Stage {
    a_id: String,
    a_addr: String,
    b_id: String,
    evil: NodeKey,
    evil_id: String,
    space: String,
    draft: String,
    _dir: tempfile::TempDir,
}

impl Stage {
    fn new(a: &Kpd, b: &Kpd, role: &str, institution: &str) -> Self {
        b.link(a, WAIT);
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
        a.ok(&[
            "space",
            "add-member",
            &space,
            &evil_id,
            "--role",
            role,
            "--institution",
            institution,
        ]);
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
        Self {
            a_id,
            a_addr,
            b_id,
            evil,
            evil_id,
            space,
            draft,
            _dir: dir,
        }
    }

    /// A document id as it travels: 16 bytes.
    fn bytes(id: &str) -> Vec<u8> {
        id.parse::<kp_core::ids::DocId>()
            .unwrap()
            .as_bytes()
            .to_vec()
    }
}

/// Takes the draft whole from A as the partner `evil`, changes it with
/// `write` (as the partner's own actor, correctly signed), sends the change
/// with the sync protocol, and returns A's refusal.
fn send_forged_change(
    evil: &NodeKey,
    a_id: &str,
    a_addr: &str,
    draft_bytes: &[u8],
    space_bytes: &[u8],
    write: impl Fn(&mut automerge::AutoCommit),
) -> rp::Refusal {
    use automerge::AutoCommit;
    use automerge::sync::{Message, State, SyncDoc};

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (tx, mut inbound) = session(evil, a_id, a_addr).await;
        let summary = rp::Frame {
            body: Some(rp::frame::Body::Summary(rp::Summary {
                docs: Vec::new(),
                digest: Vec::new(),
                full: true,
            })),
        };
        tx.send(summary).await.unwrap();
        let mut doc: Option<AutoCommit> = None;
        let mut signed = Vec::new();
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
                    let actor = actor_of(evil.id().as_bytes(), 1);
                    d.set_actor(actor.clone());
                    write(&mut d);
                    let hash = d.commit().unwrap();
                    // Correctly signed: the rules are what refuse it.
                    signed = vec![signature(evil, &actor, hash)];
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
                        doc: draft_bytes.to_vec(),
                        space: space_bytes.to_vec(),
                        message: m.encode(),
                        signatures: signed.clone(),
                    })),
                };
                tx.send(sync).await.unwrap();
            }
        }
    })
}

/// A partner that is a reader of a space (or a compromised node holding a
/// reader's key) writes into a draft anyway and sends its change with the sync
/// protocol: the node refuses it, tells the peer which document and why,
/// applies and relays nothing, and keeps syncing with its honest partner.
#[test]
fn a_readers_change_is_refused_told_and_not_relayed() {
    use automerge::transaction::Transactable;

    let a = Kpd::listening();
    let b = Kpd::listening();
    let Stage {
        a_id,
        a_addr,
        evil,
        draft,
        space,
        ..
    } = Stage::new(&a, &b, "reader", "Reader U");
    let (draft_bytes, space_bytes) = (Stage::bytes(&draft), Stage::bytes(&space));

    let refusal = send_forged_change(
        &evil,
        &a_id,
        &a_addr,
        &draft_bytes,
        &space_bytes,
        |d: &mut automerge::AutoCommit| {
            d.put(automerge::ROOT, "title", "Pledges (cancelled)")
                .unwrap();
        },
    );
    assert_eq!(refusal.doc, draft_bytes);
    assert!(refusal.reason.contains("reader"), "{}", refusal.reason);

    // Nothing of it was applied at A, nor relayed to B; honest edits still flow.
    assert_eq!(
        a.json(&["draft", "show", &draft])["summary"]["title"],
        "Pledges"
    );
    let revised = a.scratch().join("r.md");
    std::fs::write(&revised, "Pledges for 2027, revised.\n").unwrap();
    a.ok(&[
        "draft",
        "edit",
        &draft,
        "--file",
        revised.to_str().unwrap(),
        "--base",
        "current",
    ]);
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

/// Waits until `cond` holds for the JSON that `kp --json ARGS` prints at `node`.
fn wait_json(
    node: &Kpd,
    args: &[&str],
    what: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    node.wait_json(args, what, WAIT, check)
}

/// Opens a session as `key`, asks for everything, and waits for document
/// `want` to arrive whole: the session, the document and its signatures.
async fn take(
    key: &NodeKey,
    server: &str,
    addr: &str,
    want: &[u8],
) -> (
    tokio::sync::mpsc::Sender<rp::Frame>,
    tonic::Streaming<rp::Frame>,
    automerge::AutoCommit,
    Vec<rp::Signature>,
) {
    let (tx, mut inbound) = session(key, server, addr).await;
    tx.send(rp::Frame {
        body: Some(rp::frame::Body::Summary(rp::Summary {
            docs: Vec::new(),
            digest: Vec::new(),
            full: true,
        })),
    })
    .await
    .unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let f = tokio::time::timeout_at(deadline, inbound.message())
            .await
            .expect("the node sends the document in time")
            .unwrap()
            .expect("the session stays open");
        if let Some(rp::frame::Body::Whole(w)) = f.body
            && w.doc == want
        {
            let doc = automerge::AutoCommit::load(&w.document).unwrap();
            return (tx, inbound, doc, w.signatures);
        }
    }
}

/// Asserts that no refusal comes back for a second (the node's summary and
/// offers may).
async fn no_refusal(inbound: &mut tonic::Streaming<rp::Frame>, what: &str) {
    let quiet = tokio::time::timeout(Duration::from_secs(1), async {
        while let Ok(Some(f)) = inbound.message().await {
            if let Some(rp::frame::Body::Refusal(r)) = f.body {
                return r;
            }
        }
        std::future::pending().await
    })
    .await;
    assert!(quiet.is_err(), "{what} is accepted: {quiet:?}");
}

/// Sends `frame` and returns the refusal the node answers with.
async fn refused_with(
    tx: &tokio::sync::mpsc::Sender<rp::Frame>,
    inbound: &mut tonic::Streaming<rp::Frame>,
    frame: rp::Frame,
) -> rp::Refusal {
    tx.send(frame).await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let f = tokio::time::timeout_at(deadline, inbound.message())
            .await
            .expect("the node answers in time")
            .unwrap()
            .expect("the session stays open");
        if let Some(rp::frame::Body::Refusal(r)) = f.body {
            return r;
        }
    }
}

/// A partner that is an editor (so the roles let it write) tries to pass off
/// changes as another node's: with another node's actor id signed with its own
/// key, with a change made under another node's actor id and that node's
/// genuine signature of another change, with the hash in that signature
/// swapped, and its own change unsigned or with a damaged signature. Each is
/// refused, the peer is told why, nothing is applied or relayed, and each
/// refusal is logged. Then its properly signed change goes through and is
/// relayed, and `kp doc blame` at the far node names it and says it verified.
/// A draft of a space it is not a member of is refused too.
#[test]
fn forged_tampered_and_unsigned_changes_are_refused_and_not_relayed() {
    use automerge::transaction::Transactable;

    let a = Kpd::listening();
    let b = Kpd::listening();
    let Stage {
        a_id,
        a_addr,
        b_id,
        evil,
        evil_id,
        space,
        draft,
        ..
    } = Stage::new(&a, &b, "editor", "Evil Corp");
    let private = a.json(&["space", "create", "Board", "--theme", "5"])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bytes = Stage::bytes;
    let (draft_b, space_b) = (bytes(&draft), bytes(&space));
    wait_json(&b, &["draft", "show", &draft], "B has the draft", |v| {
        v["summary"]["title"] == "Pledges"
    });
    let node_key = |id: &str| {
        id.parse::<kp_core::identity::NodeId>()
            .unwrap()
            .as_bytes()
            .to_vec()
    };
    let (a_key, b_key) = (node_key(&a_id), node_key(&b_id));

    let rt = tokio::runtime::Runtime::new().unwrap();
    // Each case in its own session: a refused document is not synced again
    // with that peer in the session.
    let cases: Vec<(&str, &str)> = vec![
        ("forged actor", "does not verify"),
        ("borrowed signature", "carries no signature"),
        ("swapped hash", "does not verify"),
        ("unsigned", "carries no signature"),
        ("damaged signature", "does not verify"),
    ];
    for (case, why) in &cases {
        let refusal = rt.block_on(async {
            let (tx, mut inbound, mut doc, genuine) = take(&evil, &a_id, &a_addr, &draft_b).await;
            assert!(!genuine.is_empty(), "the draft comes with its signatures");
            let (actor, title) = match *case {
                "forged actor" => (actor_of(&b_key, 1), "Pledges (B withdraws)"),
                "borrowed signature" | "swapped hash" => {
                    (actor_of(&a_key, 999), "Pledges (tampered)")
                }
                _ => (actor_of(evil.id().as_bytes(), 1), "Pledges (unsigned)"),
            };
            doc.set_actor(actor.clone());
            doc.put(automerge::ROOT, "title", title).unwrap();
            let hash = doc.commit().unwrap();
            let signatures = match *case {
                "forged actor" => vec![signature(&evil, &actor, hash)],
                "borrowed signature" => genuine,
                "swapped hash" => genuine
                    .into_iter()
                    .map(|mut s| {
                        s.actor = actor.to_bytes().to_vec();
                        s.hash = hash.0.to_vec();
                        s
                    })
                    .collect(),
                "unsigned" => Vec::new(),
                _ => {
                    let mut s = signature(&evil, &actor, hash);
                    s.signature[10] ^= 0x40;
                    vec![s]
                }
            };
            refused_with(
                &tx,
                &mut inbound,
                signed_whole(draft_b.clone(), space_b.clone(), doc.save(), signatures),
            )
            .await
        });
        assert_eq!(refusal.doc, draft_b, "{case}");
        assert!(refusal.reason.contains(why), "{case}: {}", refusal.reason);
        assert_eq!(
            a.json(&["draft", "show", &draft])["summary"]["title"],
            "Pledges",
            "{case}: nothing applied"
        );
    }

    // A draft of a space the peer is not a member of: refused, not kept.
    rt.block_on(async {
        let (tx, inbound, _, _) = take(&evil, &a_id, &a_addr, &draft_b).await;
        let mut foreign = automerge::AutoCommit::new();
        foreign.set_actor(actor_of(evil.id().as_bytes(), 1));
        foreign.put(automerge::ROOT, "kind", "draft").unwrap();
        foreign
            .put(automerge::ROOT, "space", private.as_str())
            .unwrap();
        let hash = foreign.commit().unwrap();
        let actor = foreign.get_actor().clone();
        tx.send(signed_whole(
            random_id(9),
            bytes(&private),
            foreign.save(),
            vec![signature(&evil, &actor, hash)],
        ))
        .await
        .unwrap();
        // Then a properly signed change of its own, which goes through.
        let (_, _, mut doc, _) = take(&evil, &a_id, &a_addr, &draft_b).await;
        drop(inbound);
        drop(tx);
        let actor = actor_of(evil.id().as_bytes(), 2);
        doc.set_actor(actor.clone());
        doc.put(automerge::ROOT, "title", "Pledges (amended by Evil Corp)")
            .unwrap();
        let hash = doc.commit().unwrap();
        let (tx, mut inbound) = session(&evil, &a_id, &a_addr).await;
        tx.send(signed_whole(
            draft_b.clone(),
            space_b.clone(),
            doc.save(),
            vec![signature(&evil, &actor, hash)],
        ))
        .await
        .unwrap();
        no_refusal(&mut inbound, "the signed change").await;
    });
    assert_eq!(
        a.json(&["draft", "list", "--space", &private])["drafts"]
            .as_array()
            .map(Vec::len),
        Some(0),
        "the foreign space's draft was not kept"
    );

    // The honest change reached A and was relayed to B; B can prove who wrote it.
    wait_json(
        &b,
        &["draft", "show", &draft],
        "the signed change reaches B",
        |v| v["summary"]["title"] == "Pledges (amended by Evil Corp)",
    );
    let blame = b.json(&["doc", "blame", &draft, "--limit", "0"]);
    let changes = blame["changes"].as_array().unwrap();
    assert!(
        changes.iter().all(|c| c["signature"] == "verified"),
        "{blame}"
    );
    let by_evil: Vec<_> = changes
        .iter()
        .filter(|c| c["node_id"] == evil_id.as_str())
        .collect();
    assert_eq!(by_evil.len(), 1, "{blame}");
    assert_eq!(by_evil[0]["institution"], "Evil Corp");
    assert!(
        changes.iter().any(|c| c["node_id"] == a_id.as_str()),
        "{blame}"
    );
    let table = b.ok(&["draft", "log", &draft, "--verify"]);
    assert!(
        table.contains("SIGNATURE") && table.contains("verified"),
        "{table}"
    );

    let log = a.log();
    for why in [
        "does not verify",
        "carries no signature",
        "is not a member of space",
    ] {
        assert!(log.contains(why), "A logs {why:?}: {log}");
    }
    assert!(
        !b.log().contains("refused"),
        "nothing forged reached B: {}",
        b.log()
    );
}

/// A partner floods the node with sync messages (valid ones, about a document
/// it shares, so none is refused): the node reads it at its frame budget, says
/// so once in its log, and its honest partner's edits still arrive promptly.
#[test]
fn a_flood_of_sync_messages_is_slowed_and_others_carry_on() {
    use automerge::sync::{State, SyncDoc};

    let a = Kpd::listening_with(&[("max_frames_per_sec", "50")]);
    let b = Kpd::listening();
    let Stage {
        a_id,
        a_addr,
        evil,
        evil_id,
        space,
        draft,
        ..
    } = Stage::new(&a, &b, "editor", "Flood U");
    let (draft_b, space_b) = (Stage::bytes(&draft), Stage::bytes(&space));
    wait_json(&b, &["draft", "show", &draft], "B has the draft", |v| {
        v["summary"]["title"] == "Pledges"
    });

    let rt = tokio::runtime::Runtime::new().unwrap();
    let (stop, flood, message_len) = rt.block_on(async {
        let (tx, mut inbound, mut doc, _) = take(&evil, &a_id, &a_addr, &draft_b).await;
        // Drain what the node sends, so only its reading is the limit.
        tokio::spawn(async move { while let Ok(Some(_)) = inbound.message().await {} });
        let message = doc
            .sync()
            .generate_sync_message(&mut State::new())
            .unwrap()
            .encode();
        let message_len = message.len() + draft_b.len() + space_b.len();
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let flood = tokio::spawn(async move {
            let mut sent = 0u64;
            loop {
                let f = rp::Frame {
                    body: Some(rp::frame::Body::Sync(rp::Sync {
                        doc: draft_b.clone(),
                        space: space_b.clone(),
                        message: message.clone(),
                        signatures: Vec::new(),
                    })),
                };
                tokio::select! {
                    r = tx.send(f) => if r.is_err() { break },
                    _ = &mut stopped => break,
                }
                sent += 1;
            }
            sent
        });
        (stop, flood, message_len)
    });

    // While the flood goes on, A's edit reaches B as usual.
    let flood_started = std::time::Instant::now();
    std::thread::sleep(Duration::from_secs(2));
    let revised = a.scratch().join("r.md");
    std::fs::write(&revised, "Pledges for 2027, revised.\n").unwrap();
    let started = std::time::Instant::now();
    a.ok(&[
        "draft",
        "edit",
        &draft,
        "--file",
        revised.to_str().unwrap(),
        "--base",
        "current",
    ]);
    wait_json(
        &b,
        &["draft", "show", &draft],
        "A's edit reaches B during the flood",
        |v| v["body"].as_str().is_some_and(|t| t.contains("revised")),
    );
    let took = started.elapsed();
    // What A has read of the flood so far, in frames.
    let peers = a.json(&["peer", "list"]);
    let bytes_in = peers["peers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["node_id"] == evil_id.as_str())
        .map(|p| p["bytes_in"].as_u64().unwrap_or(0))
        .unwrap();
    let flooding = flood_started.elapsed().as_secs_f64();
    let _ = stop.send(());
    let sent = rt.block_on(flood).unwrap();
    assert!(
        took < Duration::from_secs(10),
        "the edit took {took:?} to reach B during the flood"
    );
    let log = a.log();
    assert_eq!(
        log.matches("reading it more slowly").count(),
        1,
        "A logs the flood once: {log}"
    );
    // A read at most its burst (four seconds' worth) and 50 frames a second
    // since, give or take one batch; the rest of what the flooder sent waited
    // on the connection.
    let frame_len = message_len + 8;
    let read = bytes_in / frame_len as u64;
    let allowed = 200.0 + 50.0 * flooding + 2.0 * 64.0 + 20.0;
    assert!(
        (read as f64) < allowed,
        "A read {read} frames in {flooding:.1} s (allowed {allowed:.0})"
    );
    assert!(
        sent > 2 * read,
        "the flood sent {sent} frames, A read {read}"
    );
    println!(
        "flood: {sent} frames sent, {read} read by A in {flooding:.1} s; A's edit reached B in {took:?}"
    );
}

/// An admin partner (a compromised node, or one that skips its own checks)
/// publishes a draft that nobody reviewed, writing the record by hand: every
/// node holds review steps to the rules, so A refuses it, says why, and the
/// draft stays a draft.
#[test]
fn a_partners_review_step_against_the_rules_is_refused() {
    use automerge::transaction::Transactable;
    use automerge::{ObjType, ROOT, ReadDoc, Value};

    let a = Kpd::listening();
    let b = Kpd::listening();
    let Stage {
        a_id,
        a_addr,
        evil,
        evil_id,
        draft,
        space,
        ..
    } = Stage::new(&a, &b, "admin", "Evil U");
    let (draft_bytes, space_bytes) = (Stage::bytes(&draft), Stage::bytes(&space));
    let refusal = send_forged_change(
        &evil,
        &a_id,
        &a_addr,
        &draft_bytes,
        &space_bytes,
        |d: &mut automerge::AutoCommit| {
            let heads: Vec<String> = d.get_heads().iter().map(|h| h.to_string()).collect();
            let Ok(Some((Value::Object(ObjType::Map), review))) = d.get(ROOT, "review") else {
                panic!("the draft has its review map");
            };
            let Ok(Some((Value::Object(ObjType::List), list))) = d.get(&review, "publications")
            else {
                panic!("the review map has its publications");
            };
            let m = d.insert_object(&list, 0, ObjType::Map).unwrap();
            d.put(&m, "by", "Mallory").unwrap();
            d.put(&m, "by_node", evil_id.as_str()).unwrap();
            d.put(&m, "at", 1_i64).unwrap();
            let h = d.put_object(&m, "heads", ObjType::List).unwrap();
            for (i, x) in heads.iter().enumerate() {
                d.insert(&h, i, x.as_str()).unwrap();
            }
            d.put(ROOT, "status", "published").unwrap();
        },
    );
    assert_eq!(refusal.doc, draft_bytes);
    assert!(
        refusal.reason.contains("not ready"),
        "the reason names the rule: {}",
        refusal.reason
    );
    let shown = a.json(&["review", "list", &draft]);
    assert_eq!(shown["status"], "draft");
    assert!(
        shown["publications"]
            .as_array()
            .is_none_or(|p| p.is_empty()),
        "{shown}"
    );
}

/// A client's change as a partner relays it: the change of an actor that is
/// no node's, and the partner's signature vouching for `person` (or a forged
/// or missing one).
fn vouched(
    key: &NodeKey,
    named: &[u8],
    actor: &automerge::ActorId,
    hash: automerge::ChangeHash,
    person: &str,
) -> rp::Signature {
    let a = kp_core::authorship::Attestation::vouched(key, actor, hash, person);
    rp::Signature {
        actor: actor.to_bytes().to_vec(),
        hash: hash.0.to_vec(),
        signature: a.signature,
        voucher_node: named.to_vec(),
        person: person.into(),
    }
}

/// A partner relays its clients' changes (browsers, programs): each is held,
/// at the receiving node, to the person's role among the space's people as
/// well as to the partner's role. A person the space does not name, a reader,
/// a voucher in another node's name, and a client's change with no voucher are
/// refused and not relayed; an editor's change goes through, is relayed, and
/// is credited to the person at the partner on every node.
#[test]
fn a_partners_clients_are_held_to_their_people_roles() {
    use automerge::transaction::Transactable;

    let a = Kpd::listening();
    let b = Kpd::listening();
    let Stage {
        a_id,
        a_addr,
        evil,
        evil_id,
        space,
        draft,
        ..
    } = Stage::new(&a, &b, "editor", "Partner U");
    a.ok(&[
        "space",
        "add-person",
        &space,
        "Rui Reader",
        "--node",
        &evil_id,
        "--role",
        "reader",
    ]);
    a.ok(&[
        "space",
        "add-person",
        &space,
        "Eve Editor",
        "--node",
        &evil_id,
        "--role",
        "editor",
    ]);
    let (draft_b, space_b) = (Stage::bytes(&draft), Stage::bytes(&space));
    let a_key = a_id.parse::<kp_core::identity::NodeId>().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let cases = [
        ("a stranger", "not among the people"),
        ("a reader", "readers change nothing"),
        ("in A's name", "does not verify"),
        ("no voucher", "carries no signature"),
        ("Eve Editor", ""),
    ];
    for (n, (case, why)) in cases.iter().enumerate() {
        let refusal = rt.block_on(async {
            let (tx, mut inbound, mut doc, _) = take(&evil, &a_id, &a_addr, &draft_b).await;
            let actor = automerge::ActorId::from(vec![0xc0 + n as u8; 16]);
            doc.set_actor(actor.clone());
            doc.put(automerge::ROOT, "title", format!("Pledges ({case})"))
                .unwrap();
            let hash = doc.commit().unwrap();
            let evil_node = evil.id().as_bytes().to_vec();
            let signatures = match *case {
                "a stranger" => vec![vouched(&evil, &evil_node, &actor, hash, "Stranger")],
                "a reader" => vec![vouched(&evil, &evil_node, &actor, hash, "Rui Reader")],
                "in A's name" => vec![vouched(&evil, a_key.as_bytes(), &actor, hash, "Eve Editor")],
                "no voucher" => Vec::new(),
                _ => vec![vouched(&evil, &evil_node, &actor, hash, "Eve Editor")],
            };
            let frame = signed_whole(draft_b.clone(), space_b.clone(), doc.save(), signatures);
            if why.is_empty() {
                tx.send(frame).await.unwrap();
                no_refusal(&mut inbound, "Eve's change").await;
                None
            } else {
                Some(refused_with(&tx, &mut inbound, frame).await)
            }
        });
        if let Some(r) = refusal {
            assert!(r.reason.contains(why), "{case}: {}", r.reason);
            assert_eq!(
                a.json(&["draft", "show", &draft])["summary"]["title"],
                "Pledges",
                "{case}: nothing applied"
            );
        }
    }
    wait_json(
        &b,
        &["draft", "show", &draft],
        "Eve's change reaches B",
        |v| v["summary"]["title"] == "Pledges (Eve Editor)",
    );
    let blame = b.json(&["doc", "blame", &draft, "--limit", "0"]);
    let eve: Vec<_> = blame["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["author"] == "Eve Editor")
        .collect();
    assert_eq!(eve.len(), 1, "{blame}");
    assert_eq!(eve[0]["node_id"], evil_id.as_str());
    assert_eq!(eve[0]["institution"], "Partner U");
    assert_eq!(eve[0]["signature"], "verified");
    assert!(
        !b.log().contains("refused"),
        "nothing refused reached B: {}",
        b.log()
    );
}
