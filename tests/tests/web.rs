//! The web listener as an institution exposes it: over HTTPS with its own
//! certificate, and refusing to start on a certificate it cannot read.

use std::sync::Arc;

use kp_tests::{Kpd, bin};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;

/// A self-signed certificate for 127.0.0.1, its PEM files in `dir`.
fn certificate(
    dir: &std::path::Path,
) -> (rustls::pki_types::CertificateDer<'static>, String, String) {
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
        .expect("a certificate");
    let (cert, key) = (dir.join("web.pem"), dir.join("web.key"));
    std::fs::write(&cert, made.cert.pem()).expect("a file");
    std::fs::write(&key, made.signing_key.serialize_pem()).expect("a file");
    (
        made.cert.der().clone(),
        cert.display().to_string(),
        key.display().to_string(),
    )
}

/// One HTTP/1.1 request over TLS to `addr`, trusting only `cert`; the
/// response as text.
async fn https(
    addr: &str,
    cert: rustls::pki_types::CertificateDer<'static>,
    request: String,
) -> String {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).expect("a root");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .expect("a connection");
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("a name");
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("the TLS handshake");
    tls.write_all(request.as_bytes()).await.expect("a request");
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn the_web_listener_serves_https_with_the_institutions_certificate() {
    let mut node = Kpd::init();
    let (der, cert, key) = certificate(node.scratch());
    node.set_in(
        "web",
        &[
            ("tls_cert", &format!("{cert:?}")),
            ("tls_key", &format!("{key:?}")),
        ],
    );
    node.start();
    let url = node.web_url();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let login = node.json(&["user", "add", "Amina Diallo"]);
    let link = login["link"].as_str().expect("a link");
    assert!(
        link.starts_with(&format!("{url}/login?token=kpl_")),
        "{link}"
    );
    let addr = url.trim_start_matches("https://").to_owned();
    let body = format!(
        "{{\"token\":\"{}\"}}",
        login["token"].as_str().expect("a token")
    );
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    let response = rt.block_on(https(
        &addr,
        der,
        format!(
            "POST /api/login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    ));
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let cookie = response
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .expect("a session cookie");
    for part in [
        "kp_session_",
        "=kps_",
        "HttpOnly",
        "SameSite=Strict",
        "Secure",
    ] {
        assert!(cookie.contains(part), "{cookie}");
    }
    // Plain HTTP on the HTTPS port gets no answer a browser would take.
    let plain = rt.block_on(async {
        let mut tcp = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("a connection");
        tcp.write_all(format!("GET /api/me HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
            .await
            .expect("a request");
        let mut out = Vec::new();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), tcp.read_to_end(&mut out))
            .await;
        String::from_utf8_lossy(&out).into_owned()
    });
    assert!(!plain.contains("HTTP/1.1"), "{plain}");
    node.ok(&["status"]);
}

#[test]
fn a_certificate_it_cannot_read_stops_the_node_with_the_file_named() {
    let node = Kpd::init();
    node.set_in(
        "web",
        &[
            ("tls_cert", "\"/nonexistent/web.pem\""),
            ("tls_key", "\"/nonexistent/web.key\""),
        ],
    );
    let out = std::process::Command::new(bin("kpd"))
        .args(["run", "--data-dir"])
        .arg(node.data_dir())
        .output()
        .expect("kpd runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/web.pem"), "{err}");
}

/// Once a space names its people, the review's chair and referees are among
/// them: `kp` refuses a chair who is not an admin person here, and a referee
/// who is not a person of the space (or only a reader).
#[test]
fn once_a_space_names_its_people_the_chair_and_referees_are_among_them() {
    let node = Kpd::started();
    let me = node.json(&["status"])["node_id"]
        .as_str()
        .expect("a node id")
        .to_owned();
    node.ok(&["space", "create", "WG", "--theme", "7"]);
    let file = node.scratch().join("d.md");
    std::fs::write(&file, "Text.\n").expect("a file");
    let id = node
        .ok(&[
            "draft",
            "new",
            "--space",
            "WG",
            "--title",
            "T",
            "--file",
            file.to_str().expect("utf-8"),
        ])
        .trim()
        .to_owned();
    node.ok(&["review", "submit-draft", &id]);
    for (name, role) in [("Carla", "admin"), ("Bo", "reviewer"), ("Rex", "reader")] {
        node.ok(&["space", "add-person", "WG", name, "--role", role]);
    }
    let bo = format!("Bo@{me}");
    let err = node.fails(
        1,
        &["--author", "Zed", "review", "assign", &id, "--referee", &bo],
    );
    assert!(
        err.contains("only the chair") && err.contains("Zed"),
        "{err}"
    );
    for (referee, says) in [
        (format!("Zed@{me}"), "not among the people"),
        (format!("Rex@{me}"), "reader"),
    ] {
        let err = node.fails(
            1,
            &[
                "--author",
                "Carla",
                "review",
                "assign",
                &id,
                "--referee",
                &referee,
            ],
        );
        assert!(err.contains(says), "{err}");
    }
    node.ok(&[
        "--author",
        "Carla",
        "review",
        "assign",
        &id,
        "--referee",
        &bo,
    ]);
    let state = node.json(&["review", "list", &id]);
    assert!(state.to_string().contains("\"Bo\""), "{state}");
}
