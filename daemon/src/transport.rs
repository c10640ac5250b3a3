//! Mutual TLS between partner nodes, with no certificate authority: each node's
//! certificate is self-signed with its own node key, and a peer is accepted only
//! if the key in its certificate is a node id this node pinned (the Syncthing
//! model). The TLS handshake proves the peer holds that key.
//!
//! **Architecture Invariant:** only this module knows about TLS; the rest of the
//! node sees [`NodeId`]s.

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

use crate::identity::{NodeId, NodeKey};

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

fn pinned(
    cert: &CertificateDer<'_>,
    allowed: impl FnOnce(&NodeId) -> bool,
) -> Result<NodeId, rustls::Error> {
    let id = node_id_of(cert).ok_or(rustls::Error::InvalidCertificate(
        rustls::CertificateError::BadEncoding,
    ))?;
    if allowed(&id) {
        Ok(id)
    } else {
        Err(rustls::Error::InvalidCertificate(
            rustls::CertificateError::ApplicationVerificationFailure,
        ))
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

/// Accepts a server only if its key is the node id we dialled.
#[derive(Debug)]
struct ExpectNode(NodeId);

impl ServerCertVerifier for ExpectNode {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        pinned(end_entity, |id| *id == self.0).map(|_| ServerCertVerified::assertion())
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
        verify13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

/// The node ids allowed to connect; shared with the peer list so that peers
/// added at run time are accepted at once.
pub type Allowed = Arc<RwLock<BTreeSet<NodeId>>>;

/// Accepts a client only if its key is one of the pinned node ids.
#[derive(Debug)]
struct AllowNodes(Allowed);

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
        let allowed = self
            .0
            .read()
            .map_err(|_| rustls::Error::General("peer list poisoned".into()))?;
        pinned(end_entity, |id| allowed.contains(id)).map(|_| ClientCertVerified::assertion())
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
        verify13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

/// TLS 1.3 server settings: our certificate, and clients pinned to `allowed`.
pub fn server_config(
    key: &NodeKey,
    cert: CertificateDer<'static>,
    allowed: Allowed,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(Arc::new(AllowNodes(allowed)))
        .with_single_cert(vec![cert], private_key(key))?;
    Ok(Arc::new(config))
}

/// TLS 1.3 client settings for dialling the node `expected`, presenting our
/// certificate.
pub fn client_config(
    key: &NodeKey,
    cert: CertificateDer<'static>,
    expected: NodeId,
) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(ExpectNode(expected)))
        .with_client_auth_cert(vec![cert], private_key(key))?;
    Ok(Arc::new(config))
}

/// The node at the other end of an established TLS session.
pub fn peer_of(certs: Option<&[CertificateDer<'static>]>) -> Option<NodeId> {
    certs.and_then(|c| c.first()).and_then(node_id_of)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    fn key(dir: &tempfile::TempDir, name: &str) -> NodeKey {
        NodeKey::generate(&dir.path().join(name)).unwrap()
    }

    /// Runs one handshake: the server allows `allowed`, the client expects
    /// `expected`. Returns what each side saw of the other, or the errors.
    async fn handshake(
        server: &NodeKey,
        allowed: &[NodeId],
        client: &NodeKey,
        expected: NodeId,
    ) -> (Result<NodeId, String>, Result<NodeId, String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let allowed: Allowed = Arc::new(RwLock::new(allowed.iter().copied().collect()));
        let acceptor = tokio_rustls::TlsAcceptor::from(
            server_config(server, certificate(server).unwrap(), allowed).unwrap(),
        );
        let connector = tokio_rustls::TlsConnector::from(
            client_config(client, certificate(client).unwrap(), expected).unwrap(),
        );
        let serve = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            match acceptor.accept(tcp).await {
                Ok(mut tls) => {
                    let peer =
                        peer_of(tls.get_ref().1.peer_certificates()).ok_or("no peer id".to_owned());
                    let mut buf = [0u8; 4];
                    tls.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
                    tls.write_all(&buf).await.map_err(|e| e.to_string())?;
                    tls.flush().await.map_err(|e| e.to_string())?;
                    peer
                }
                Err(e) => Err(e.to_string()),
            }
        });
        let dial = async {
            let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
            let name = ServerName::try_from("kp-node").unwrap();
            let mut tls = connector
                .connect(name, tcp)
                .await
                .map_err(|e| e.to_string())?;
            tls.write_all(b"ping").await.map_err(|e| e.to_string())?;
            let mut buf = [0u8; 4];
            // With TLS 1.3 a refused client learns it on its first read.
            tls.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
            peer_of(tls.get_ref().1.peer_certificates()).ok_or("no peer id".to_owned())
        };
        let client_saw = dial.await;
        let server_saw = serve.await.unwrap();
        (server_saw, client_saw)
    }

    #[tokio::test]
    async fn pinned_peers_connect_and_know_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (key(&dir, "a"), key(&dir, "b"));
        let (server_saw, client_saw) = handshake(&a, &[b.id()], &b, a.id()).await;
        assert_eq!(server_saw, Ok(b.id()));
        assert_eq!(client_saw, Ok(a.id()));
        assert_eq!(node_id_of(&certificate(&a).unwrap()), Some(a.id()));
    }

    #[tokio::test]
    async fn a_server_with_another_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, impostor) = (key(&dir, "a"), key(&dir, "b"), key(&dir, "c"));
        // b dials a, but the one answering holds another key.
        let (_, client_saw) = handshake(&impostor, &[b.id()], &b, a.id()).await;
        assert!(client_saw.is_err(), "{client_saw:?}");
    }

    #[tokio::test]
    async fn an_unknown_client_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, stranger) = (key(&dir, "a"), key(&dir, "b"), key(&dir, "c"));
        let (server_saw, client_saw) = handshake(&a, &[b.id()], &stranger, a.id()).await;
        assert!(server_saw.is_err(), "{server_saw:?}");
        assert!(client_saw.is_err(), "{client_saw:?}");
    }

    #[test]
    fn garbage_certificates_name_no_node() {
        assert_eq!(node_id_of(&CertificateDer::from(vec![0u8; 40])), None);
        assert_eq!(node_id_of(&CertificateDer::from(Vec::new())), None);
    }
}
