//! Mutual TLS between partner nodes, with no certificate authority: each node's
//! certificate is self-signed with its own node key, and a peer is accepted only
//! if the key in its certificate is a node id this node pinned (the Syncthing
//! model). The TLS handshake proves the peer holds that key. A refusal names the
//! node refused, on both sides: the listener knows whom it refused, the dialler
//! which node answered instead, or that the node it reached has not pinned it.
//!
//! **Architecture Invariant:** only this module knows about TLS; the rest of the
//! node sees [`NodeId`]s.

use std::collections::BTreeSet;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{AlertDescription, DigitallySignedStruct, DistinguishedName, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use kp_core::identity::{NodeId, NodeKey};

/// The DER prefix of an Ed25519 SubjectPublicKeyInfo; the 32-byte key follows.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// Why a TLS setting could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The certificate could not be generated.
    #[error("cannot make the node certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// A PEM file of `[web]` could not be read.
    #[error("{path}: {message}")]
    Pem {
        /// The file.
        path: String,
        /// What is wrong with it.
        message: String,
    },
}

/// The web listener's TLS: the institution's certificate chain and key, from
/// PEM files (TLS 1.2 and 1.3, as browsers expect).
pub fn web_acceptor(cert: &str, key: &str) -> Result<tokio_rustls::TlsAcceptor, TlsError> {
    use rustls::pki_types::pem::PemObject;
    let pem = |path: &str| {
        let path = path.to_string();
        move |e: rustls::pki_types::pem::Error| TlsError::Pem {
            path,
            message: format!("not a readable PEM file: {e}"),
        }
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(pem(cert))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem(cert))?;
    if chain.is_empty() {
        return Err(TlsError::Pem {
            path: cert.into(),
            message: "holds no certificate".into(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(pem(key))?;
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// The node id whose key a certificate carries: only an X.509 certificate whose
/// subject public key is an Ed25519 key qualifies.
pub fn node_id_of(cert: &CertificateDer<'_>) -> Option<NodeId> {
    let parsed = webpki::EndEntityCert::try_from(cert).ok()?;
    let spki = parsed.subject_public_key_info();
    let key = spki.as_ref().strip_prefix(&ED25519_SPKI_PREFIX[..])?;
    Some(NodeId::from_bytes(key.try_into().ok()?))
}

/// A self-signed certificate for the node's key. The name in it is irrelevant:
/// peers check the key, never the name.
pub fn certificate(key: &NodeKey) -> Result<CertificateDer<'static>, TlsError> {
    let pkcs8 = PrivatePkcs8KeyDer::from(key.pkcs8().to_vec());
    let pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8, &rcgen::PKCS_ED25519)?;
    let mut params = rcgen::CertificateParams::new(vec!["kp-node".to_owned()])?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, key.id().to_string());
    Ok(params.self_signed(&pair)?.der().clone())
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn private_key(key: &NodeKey) -> PrivateKeyDer<'static> {
    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.pkcs8().to_vec()))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The node a certificate names; a certificate without an Ed25519 key is refused
/// as badly encoded.
fn node_of(cert: &CertificateDer<'_>) -> Result<NodeId, rustls::Error> {
    node_id_of(cert).ok_or(rustls::Error::InvalidCertificate(
        rustls::CertificateError::BadEncoding,
    ))
}

/// The refusal of a node that proved its key but is not one this side wants.
/// rustls answers it with the `access_denied` alert, which kp sends for nothing
/// else: that is how the other side tells "not pinned here" from a broken
/// handshake.
fn not_wanted() -> rustls::Error {
    rustls::Error::InvalidCertificate(rustls::CertificateError::ApplicationVerificationFailure)
}

/// The alert the other side sent, if that is why `e` happened.
fn alert_of(e: &io::Error) -> Option<AlertDescription> {
    match e.get_ref()?.downcast_ref::<rustls::Error>()? {
        rustls::Error::AlertReceived(alert) => Some(*alert),
        _ => None,
    }
}

fn verify13(
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    verify_tls13_signature(
        message,
        cert,
        dss,
        &provider().signature_verification_algorithms,
    )
}

// Both verifiers check *which* node a certificate names only after the handshake
// signature has proven that the other side holds its key (rustls calls
// `verify_tls13_signature` right after the certificate check, and resumption,
// which would skip both, is off): a refusal then names a node that really
// answered or really dialled, never one whose certificate was merely copied.

/// Accepts a server only if it proves the key of the node id we dialled, and
/// remembers which node answered instead.
#[derive(Debug)]
struct ExpectNode {
    expected: NodeId,
    answered: Mutex<Option<NodeId>>,
}

impl ServerCertVerifier for ExpectNode {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        node_of(end_entity).map(|_| ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("kp speaks TLS 1.3 only".into()))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let valid = verify13(message, cert, dss)?;
        let id = node_of(cert)?;
        if id == self.expected {
            Ok(valid)
        } else {
            *lock(&self.answered) = Some(id);
            Err(not_wanted())
        }
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

/// The node ids allowed to connect; shared with the peer list so that peers
/// added at run time are accepted at once.
pub type Allowed = Arc<RwLock<BTreeSet<NodeId>>>;

/// Accepts a client only if its key is one of the pinned node ids, and
/// remembers which node it refused.
#[derive(Debug)]
struct AllowNodes {
    allowed: Allowed,
    refused: Mutex<Option<NodeId>>,
}

impl ClientCertVerifier for AllowNodes {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        node_of(end_entity).map(|_| ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("kp speaks TLS 1.3 only".into()))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let valid = verify13(message, cert, dss)?;
        let id = node_of(cert)?;
        let pinned = self
            .allowed
            .read()
            .map_err(|_| rustls::Error::General("peer list poisoned".into()))?
            .contains(&id);
        if pinned {
            Ok(valid)
        } else {
            *lock(&self.refused) = Some(id);
            Err(not_wanted())
        }
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

/// Why the partner listener refused a connection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AcceptError {
    /// The node proved its key, but this node has not pinned it.
    #[error("node {0} is not pinned here")]
    NotPinned(NodeId),
    /// The dialling node refused this node's certificate (`access_denied`): it
    /// has another node id pinned for this address.
    #[error(
        "the dialling node refused this node's certificate: it expected another node at this address"
    )]
    NotExpected,
    /// The handshake ended without a node certificate.
    #[error("the connection carries no node certificate")]
    NoNode,
    /// Anything else: not TLS, a certificate without a node key, a broken link.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The TLS settings could not be made.
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// The partner listener's side of TLS 1.3: completes a handshake only with a
/// node whose key is pinned, and says which node it refused.
#[derive(Debug)]
pub struct Acceptor {
    provider: Arc<CryptoProvider>,
    cert: Arc<rustls::sign::CertifiedKey>,
    allowed: Allowed,
}

impl Acceptor {
    /// Our certificate, and clients pinned to `allowed`.
    pub fn new(
        key: &NodeKey,
        cert: CertificateDer<'static>,
        allowed: Allowed,
    ) -> Result<Self, TlsError> {
        let provider = provider();
        let cert = rustls::sign::CertifiedKey::from_der(vec![cert], private_key(key), &provider)?;
        Ok(Self {
            provider,
            cert: Arc::new(cert),
            allowed,
        })
    }

    /// The TLS handshake on an accepted connection: the stream and the node its
    /// certificate proved.
    pub async fn accept(
        &self,
        tcp: TcpStream,
    ) -> Result<(tokio_rustls::server::TlsStream<TcpStream>, NodeId), AcceptError> {
        // Each connection has its own verifier, so that a refusal can name the
        // node it refused (rustls gives the verifier no connection to tell by).
        let verifier = Arc::new(AllowNodes {
            allowed: Arc::clone(&self.allowed),
            refused: Mutex::new(None),
        });
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(TlsError::from)?
            .with_client_cert_verifier(Arc::clone(&verifier) as Arc<dyn ClientCertVerifier>)
            .with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(Arc::clone(
                &self.cert,
            ))));
        // No resumption: every connection proves its key again, against the peer
        // list as it is now.
        config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        config.send_tls13_tickets = 0;
        match tokio_rustls::TlsAcceptor::from(Arc::new(config))
            .accept(tcp)
            .into_fallible()
            .await
        {
            Ok(tls) => {
                let peer =
                    peer_of(tls.get_ref().1.peer_certificates()).ok_or(AcceptError::NoNode)?;
                Ok((tls, peer))
            }
            Err((e, tcp)) => {
                tokio::spawn(linger(tcp));
                Err(match *lock(&verifier.refused) {
                    Some(id) => AcceptError::NotPinned(id),
                    None if alert_of(&e) == Some(AlertDescription::AccessDenied) => {
                        AcceptError::NotExpected
                    }
                    None => AcceptError::Io(e),
                })
            }
        }
    }
}

/// How long a refused connection is kept half open, and how much of what the
/// dialler still sends is read and dropped meanwhile.
const LINGER: std::time::Duration = std::time::Duration::from_secs(2);
const LINGER_BYTES: usize = 64 * 1024;

/// Closes a refused connection gently. With TLS 1.3 the dialler starts sending
/// data before it learns of the refusal; closing a socket with that data
/// unread makes the kernel answer with a reset, which can reach the dialler
/// before it has read the alert that says why. So: send what is pending (the
/// alert went out already), half-close, and read until the dialler closes too.
async fn linger(mut tcp: TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = tcp.shutdown().await;
    let drain = async {
        let mut buf = [0u8; 4096];
        let mut read = 0;
        while read < LINGER_BYTES {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => read += n,
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
}

/// What a dialler learnt at the TLS layer when a partner connection failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DialRefusal {
    /// The node answering proved another key than the node id dialled.
    WrongNode {
        /// The node that answered.
        answered: NodeId,
    },
    /// The node answering refused this node's certificate (`access_denied`): it
    /// has not pinned this node's id.
    NotPinnedThere,
}

fn client_config_with(
    key: &NodeKey,
    cert: CertificateDer<'static>,
    verifier: Arc<ExpectNode>,
) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(vec![cert], private_key(key))?;
    // A resumed session would skip the check of the server's key.
    config.resumption = rustls::client::Resumption::disabled();
    Ok(Arc::new(config))
}

/// TLS 1.3 client settings for dialling the node `expected`, presenting our
/// certificate.
pub fn client_config(
    key: &NodeKey,
    cert: CertificateDer<'static>,
    expected: NodeId,
) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let verifier = Arc::new(ExpectNode {
        expected,
        answered: Mutex::new(None),
    });
    client_config_with(key, cert, verifier)
}

/// Dials one pinned node, and keeps what the TLS layer learnt if the
/// connection is refused: which node answered instead, or that the node
/// answering has not pinned this one. One per dial.
#[derive(Clone)]
pub struct Connector {
    tls: tokio_rustls::TlsConnector,
    verifier: Arc<ExpectNode>,
    denied: Arc<AtomicBool>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("expected", &self.verifier.expected)
            .finish_non_exhaustive()
    }
}

impl Connector {
    /// Settings for dialling the node `expected`, presenting our certificate.
    pub fn new(
        key: &NodeKey,
        cert: CertificateDer<'static>,
        expected: NodeId,
    ) -> Result<Self, TlsError> {
        let verifier = Arc::new(ExpectNode {
            expected,
            answered: Mutex::new(None),
        });
        let config = client_config_with(key, cert, Arc::clone(&verifier))?;
        Ok(Self {
            tls: tokio_rustls::TlsConnector::from(config),
            verifier,
            denied: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The TLS handshake on a connection to the node.
    pub async fn connect(&self, tcp: TcpStream) -> io::Result<Dialed> {
        let name = ServerName::try_from("kp-node").map_err(io::Error::other)?;
        match self.tls.connect(name, tcp).await {
            Ok(tls) => Ok(Dialed {
                tls,
                denied: Arc::clone(&self.denied),
            }),
            Err(e) => {
                note(&self.denied, &e);
                Err(e)
            }
        }
    }

    /// Why the TLS layer refused a connection made with this connector, if it
    /// did for a reason an operator can fix.
    pub fn refusal(&self) -> Option<DialRefusal> {
        if let Some(answered) = *lock(&self.verifier.answered) {
            return Some(DialRefusal::WrongNode { answered });
        }
        self.denied
            .load(Ordering::Relaxed)
            .then_some(DialRefusal::NotPinnedThere)
    }
}

fn note(denied: &AtomicBool, e: &io::Error) {
    if alert_of(e) == Some(AlertDescription::AccessDenied) {
        denied.store(true, Ordering::Relaxed);
    }
}

/// A dialled TLS connection that notes an `access_denied` alert from the node
/// it reached. With TLS 1.3 the dialler's handshake is complete before the
/// other side has checked its certificate, so the refusal arrives with the
/// first read, deep inside HTTP/2, which keeps only the error's text.
pub struct Dialed {
    tls: tokio_rustls::client::TlsStream<TcpStream>,
    denied: Arc<AtomicBool>,
}

impl std::fmt::Debug for Dialed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dialed").finish_non_exhaustive()
    }
}

impl Dialed {
    /// The node at the other end (proven by the handshake).
    pub fn peer(&self) -> Option<NodeId> {
        peer_of(self.tls.get_ref().1.peer_certificates())
    }

    fn noted<T>(&self, p: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if let Poll::Ready(Err(e)) = &p {
            note(&self.denied, e);
        }
        p
    }
}

impl AsyncRead for Dialed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let p = Pin::new(&mut self.tls).poll_read(cx, buf);
        self.noted(p)
    }
}

impl AsyncWrite for Dialed {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let p = Pin::new(&mut self.tls).poll_write(cx, buf);
        self.noted(p)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let p = Pin::new(&mut self.tls).poll_flush(cx);
        self.noted(p)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let p = Pin::new(&mut self.tls).poll_shutdown(cx);
        self.noted(p)
    }
}

/// The node at the other end of an established TLS session.
pub fn peer_of(certs: Option<&[CertificateDer<'static>]>) -> Option<NodeId> {
    certs.and_then(|c| c.first()).and_then(node_id_of)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    fn key(dir: &tempfile::TempDir, name: &str) -> NodeKey {
        NodeKey::generate(&dir.path().join(name)).unwrap()
    }

    /// What one handshake showed each side: the node the server accepted (or
    /// why not), the node the client reached (or why not), and what the
    /// client's connector learnt of a refusal.
    struct Seen {
        server: Result<NodeId, AcceptError>,
        client: Result<NodeId, String>,
        refusal: Option<DialRefusal>,
    }

    /// Runs one handshake: the server allows `allowed`, the client expects
    /// `expected`; each side then exchanges four bytes.
    async fn handshake(
        server: &NodeKey,
        allowed: &[NodeId],
        client: &NodeKey,
        expected: NodeId,
    ) -> Seen {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let allowed: Allowed = Arc::new(RwLock::new(allowed.iter().copied().collect()));
        let acceptor = Acceptor::new(server, certificate(server).unwrap(), allowed).unwrap();
        let connector = Connector::new(client, certificate(client).unwrap(), expected).unwrap();
        let serve = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let (mut tls, peer) = acceptor.accept(tcp).await?;
            let mut buf = [0u8; 4];
            tls.read_exact(&mut buf).await?;
            tls.write_all(&buf).await?;
            tls.flush().await?;
            Ok(peer)
        });
        let dial = async {
            let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
            let mut tls = connector.connect(tcp).await.map_err(|e| e.to_string())?;
            tls.write_all(b"ping").await.map_err(|e| e.to_string())?;
            let mut buf = [0u8; 4];
            // With TLS 1.3 a refused client learns it on its first read.
            tls.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
            tls.peer().ok_or("no peer id".to_owned())
        };
        let client = dial.await;
        let server = serve.await.unwrap();
        Seen {
            server,
            client,
            refusal: connector.refusal(),
        }
    }

    #[tokio::test]
    async fn pinned_peers_connect_and_know_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (key(&dir, "a"), key(&dir, "b"));
        let seen = handshake(&a, &[b.id()], &b, a.id()).await;
        assert_eq!(seen.server.unwrap(), b.id());
        assert_eq!(seen.client, Ok(a.id()));
        assert_eq!(seen.refusal, None);
        assert_eq!(node_id_of(&certificate(&a).unwrap()), Some(a.id()));
    }

    #[tokio::test]
    async fn a_server_with_another_key_is_refused_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, impostor) = (key(&dir, "a"), key(&dir, "b"), key(&dir, "c"));
        // b dials a, but the one answering holds another key.
        let seen = handshake(&impostor, &[b.id()], &b, a.id()).await;
        assert!(seen.client.is_err(), "{:?}", seen.client);
        assert_eq!(
            seen.refusal,
            Some(DialRefusal::WrongNode {
                answered: impostor.id()
            })
        );
        // The one answering learns that the dialler expected someone else.
        assert!(
            matches!(seen.server, Err(AcceptError::NotExpected)),
            "{:?}",
            seen.server
        );
    }

    #[tokio::test]
    async fn an_unknown_client_is_refused_and_both_sides_know_who() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, stranger) = (key(&dir, "a"), key(&dir, "b"), key(&dir, "c"));
        let seen = handshake(&a, &[b.id()], &stranger, a.id()).await;
        assert!(
            matches!(seen.server, Err(AcceptError::NotPinned(id)) if id == stranger.id()),
            "{:?}",
            seen.server
        );
        assert!(seen.client.is_err(), "{:?}", seen.client);
        assert_eq!(seen.refusal, Some(DialRefusal::NotPinnedThere));
    }

    #[test]
    fn garbage_certificates_name_no_node() {
        assert_eq!(node_id_of(&CertificateDer::from(vec![0u8; 40])), None);
        assert_eq!(node_id_of(&CertificateDer::from(Vec::new())), None);
    }
}
