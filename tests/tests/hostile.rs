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
