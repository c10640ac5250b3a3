//! The node's identity: an Ed25519 key pair made at init, and the node id derived
//! from its public key (what partners pin, in the Syncthing manner).

use std::fmt;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};

/// A node id: the node's Ed25519 public key, shown in bs58.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId([u8; 32]);

impl NodeId {
    /// The public key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A node id from public key bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The first characters, enough to tell nodes apart in a table.
    pub fn short(&self) -> String {
        self.to_string().chars().take(10).collect()
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&bs58::encode(self.0).into_string())
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({self})")
    }
}

/// A string that is not a node id.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a node id (expected the bs58 form of a 32-byte key, as `kp status` shows)")]
pub struct ParseNodeIdError(String);

impl FromStr for NodeId {
    type Err = ParseNodeIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseNodeIdError(s.chars().take(80).collect());
        let bytes = bs58::decode(s).into_vec().map_err(|_| err())?;
        Ok(Self(bytes.try_into().map_err(|_| err())?))
    }
}

/// What can go wrong with the key file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// `kpd init` found a key already there.
    #[error("{} already holds a node identity; refusing to overwrite it (move it away to start over)", .0.display())]
    Exists(PathBuf),
    /// Reading or writing the key file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The key file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The key file holds no valid key.
    #[error("{}: not a valid Ed25519 key (PKCS#8)", .0.display())]
    Invalid(PathBuf),
    /// The key file is readable by others.
    #[error("{}: the key file is readable by other users (mode {mode:o}); run `chmod 600` on it", path.display())]
    Permissions {
        /// The key file.
        path: PathBuf,
        /// Its mode.
        mode: u32,
    },
}

/// The node's key pair.
pub struct NodeKey {
    pair: Ed25519KeyPair,
    id: NodeId,
    /// The key as stored, for building the TLS certificate.
    pkcs8: Vec<u8>,
}

impl fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material.
        f.debug_struct("NodeKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Clone for NodeKey {
    fn clone(&self) -> Self {
        Self::from_pkcs8(&self.pkcs8).expect("a key that loaded once loads again")
    }
}

impl NodeKey {
    /// The node id of this key.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The private key in PKCS#8 form. Only the TLS setup (the node's certificate) reads it.
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// Signs `msg` with the node key.
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        self.pair.sign(msg).as_ref().to_vec()
    }

    /// A key made from a 32-byte seed and kept in memory only: for tests and
    /// the simulation, which need keys that are the same on every run.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        // PKCS#8 v1 for Ed25519 (RFC 8410): a fixed prefix and the seed.
        let mut pkcs8 = vec![
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
            0x04, 0x20,
        ];
        pkcs8.extend_from_slice(&seed);
        Self::from_pkcs8(&pkcs8).expect("a seed makes a valid key")
    }

    fn from_pkcs8(bytes: &[u8]) -> Option<Self> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(bytes).ok()?;
        let pk: [u8; 32] = pair.public_key().as_ref().try_into().ok()?;
        Some(Self {
            pair,
            id: NodeId(pk),
            pkcs8: bytes.to_vec(),
        })
    }

    /// Makes a new key and writes it to `path` (mode 0600); refuses if a file is
    /// already there.
    pub fn generate(path: &Path) -> Result<Self, IdentityError> {
        let io = |source| IdentityError::Io {
            path: path.to_owned(),
            source,
        };
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .expect("key generation only fails without a system random source");
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    IdentityError::Exists(path.to_owned())
                } else {
                    io(e)
                }
            })?;
        file.write_all(pkcs8.as_ref()).map_err(io)?;
        file.sync_all().map_err(io)?;
        Self::from_pkcs8(pkcs8.as_ref()).ok_or_else(|| IdentityError::Invalid(path.to_owned()))
    }

    /// Reads the key at `path`, refusing a key file that others can read.
    pub fn load(path: &Path) -> Result<Self, IdentityError> {
        let io = |source| IdentityError::Io {
            path: path.to_owned(),
            source,
        };
        let meta = fs::metadata(path).map_err(io)?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(IdentityError::Permissions {
                path: path.to_owned(),
                mode,
            });
        }
        let bytes = fs::read(path).map_err(io)?;
        Self::from_pkcs8(&bytes).ok_or_else(|| IdentityError::Invalid(path.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_load_and_refuse_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.key");
        let key = NodeKey::generate(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(NodeKey::load(&path).unwrap().id(), key.id());
        assert!(matches!(
            NodeKey::generate(&path),
            Err(IdentityError::Exists(_))
        ));
        let id: NodeId = key.id().to_string().parse().unwrap();
        assert_eq!(id, key.id());
        assert!("not-a-node".parse::<NodeId>().is_err());
    }

    #[test]
    fn refuses_world_readable_and_garbage_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.key");
        NodeKey::generate(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            NodeKey::load(&path),
            Err(IdentityError::Permissions { .. })
        ));
        fs::write(&path, b"garbage").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert!(matches!(
            NodeKey::load(&path),
            Err(IdentityError::Invalid(_))
        ));
    }
}
