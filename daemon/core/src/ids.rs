//! Identifiers: document ids in the automerge-repo format and the node's actor ids.

use std::fmt;
use std::str::FromStr;

use automerge::ActorId;
use ring::rand::{SecureRandom, SystemRandom};

use crate::identity::NodeId;

/// A document id: 16 random bytes, shown as bs58check the way automerge-repo shows
/// them, so a document can be addressed as `automerge:<id>` by its clients.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DocId([u8; 16]);

/// A string that is not a document id.
#[derive(Debug, thiserror::Error)]
#[error(
    "`{input}` is not a document id (expected the bs58check form of 16 bytes, as `kp draft list` shows)"
)]
pub struct ParseDocIdError {
    input: String,
}

impl DocId {
    /// A fresh id from the system's secure random source.
    pub fn random() -> Self {
        let mut bytes = [0u8; 16];
        SystemRandom::new()
            .fill(&mut bytes)
            .expect("the system random source does not fail on Linux");
        Self(bytes)
    }

    /// The raw bytes, as used in store keys.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Rebuilds an id from store key bytes.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }
}

impl fmt::Display for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&bs58::encode(self.0).with_check().into_string())
    }
}

impl fmt::Debug for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocId({self})")
    }
}

impl FromStr for DocId {
    type Err = ParseDocIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.strip_prefix("automerge:").unwrap_or(s);
        let err = || ParseDocIdError {
            input: s.chars().take(80).collect(),
        };
        let bytes = bs58::decode(trimmed)
            .with_check(None)
            .into_vec()
            .map_err(|_| err())?;
        let bytes: [u8; 16] = bytes.try_into().map_err(|_| err())?;
        Ok(Self(bytes))
    }
}

/// The letters of minted ids: lower case and digits without the ones people
/// misread (`l`, `o`, `0`, `1`), 32 in all, so each carries five bits.
const ID_LETTERS: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";

/// A fresh id for a comment in a draft: `c` and ten random letters (50 bits).
/// Random, not counted: two nodes (or two browsers) that comment while apart
/// must never pick the same id, or one comment would hide the other when
/// they merge; among a million comments on one draft the chance that two
/// share an id is below one in two thousand, and `kp` accepts any unique
/// start of an id.
pub fn comment_id() -> String {
    let mut bytes = [0u8; 10];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system random source does not fail on Linux");
    std::iter::once('c')
        .chain(
            bytes
                .iter()
                .map(|b| ID_LETTERS[usize::from(b % 32)] as char),
        )
        .collect()
}

/// Length of an actor id: the node's 32-byte public key and an 8-byte incarnation.
pub(crate) const ACTOR_ID_LEN: usize = 40;

/// The automerge actor id of this node in this process: the node's public key (so
/// every change is attributable to the institution) followed by the incarnation
/// number, which is made durable before the process writes anything, so that no
/// restart ever reuses an (actor, seq) pair.
pub fn actor_id(node: &NodeId, incarnation: u64) -> ActorId {
    let mut bytes = Vec::with_capacity(ACTOR_ID_LEN);
    bytes.extend_from_slice(node.as_bytes());
    bytes.extend_from_slice(&incarnation.to_be_bytes());
    ActorId::from(bytes)
}

/// Splits an actor id made by [`actor_id`] back into node and incarnation; `None`
/// for actors of another shape (for example documents imported from elsewhere).
///
/// An edit made on an old version of a document (automerge's isolation) is
/// written by a derived actor when the node's own actor has moved on since:
/// four marker bytes, a LEB128 level, then the node's actor id. It is the same
/// node's.
pub fn parse_actor(actor: &ActorId) -> Option<(NodeId, u64)> {
    const CONCURRENT: [u8; 4] = [0x13, 0xb2, 0x23, 0x09];
    let mut bytes = actor.to_bytes();
    if bytes.len() > ACTOR_ID_LEN && bytes[..4] == CONCURRENT {
        let level = bytes[4..].iter().position(|b| b & 0x80 == 0)?;
        bytes = &bytes[4 + level + 1..];
    }
    if bytes.len() != ACTOR_ID_LEN {
        return None;
    }
    let (key, inc) = bytes.split_at(32);
    let key: [u8; 32] = key.try_into().ok()?;
    let inc: [u8; 8] = inc.try_into().ok()?;
    Some((NodeId::from_bytes(key), u64::from_be_bytes(inc)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_id_round_trips_and_rejects_garbage() {
        let id = DocId::random();
        let s = id.to_string();
        assert_eq!(s.parse::<DocId>().unwrap(), id);
        assert_eq!(format!("automerge:{s}").parse::<DocId>().unwrap(), id);
        assert!("hello".parse::<DocId>().is_err());
        // A valid bs58check string of the wrong length is refused too.
        let short = bs58::encode([1u8, 2, 3]).with_check().into_string();
        assert!(short.parse::<DocId>().is_err());
        // One character changed breaks the checksum.
        let mut bad = s.clone().into_bytes();
        bad[3] = if bad[3] == b'2' { b'3' } else { b'2' };
        assert!(String::from_utf8(bad).unwrap().parse::<DocId>().is_err());
    }

    #[test]
    fn known_automerge_repo_id_parses() {
        // An id as automerge-repo prints them (bs58check of a UUID's 16 bytes).
        let id = DocId::from_bytes([7u8; 16]);
        let text = id.to_string();
        assert_eq!(text.parse::<DocId>().unwrap().as_bytes(), &[7u8; 16]);
    }

    #[test]
    fn actor_carries_node_and_incarnation() {
        let node = NodeId::from_bytes([9u8; 32]);
        let actor = actor_id(&node, 42);
        assert_eq!(parse_actor(&actor), Some((node, 42)));
        assert_eq!(parse_actor(&ActorId::from(vec![1u8; 16])), None);
    }
}
