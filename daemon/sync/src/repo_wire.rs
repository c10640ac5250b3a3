//! The messages of automerge-repo's network protocol, version "1": one CBOR
//! map per WebSocket message, as `@automerge/automerge-repo` and samod write
//! them (byte strings for `data`, text for ids).
//!
//! Decoding is strict where the node acts on a field and lenient elsewhere:
//! unknown keys and unknown message types are skipped (a newer client may send
//! more), but a message the node must act on that lacks a field, or a field of
//! the wrong type, is an error naming it.

use minicbor::data::Type;
use minicbor::{Decoder, Encoder};

/// The one protocol version there is.
pub const VERSION: &str = "1";

/// A message from a client, as far as the node reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FromClient {
    /// The handshake: who the client is and the versions it speaks.
    Join {
        /// The client's peer id.
        sender: String,
        /// Protocol versions it supports.
        versions: Vec<String>,
    },
    /// The first sync message about a document the client asks for.
    Request {
        /// The document (bs58check text).
        doc: String,
        /// An automerge sync message.
        data: Vec<u8>,
    },
    /// A sync message about a document.
    Sync {
        /// The document.
        doc: String,
        /// An automerge sync message.
        data: Vec<u8>,
    },
    /// Presence and other passing state, relayed to the document's other clients.
    Ephemeral(Ephemeral),
    /// The client says it no longer has a document.
    DocUnavailable {
        /// The document.
        doc: String,
    },
    /// The client leaves.
    Leave,
    /// A message the node does not act on (`remote-subscription-change`,
    /// `remote-heads-changed`, a type of a newer version).
    Other(String),
}

/// An `ephemeral` message: never stored, only relayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ephemeral {
    /// The client that wrote it.
    pub sender: String,
    /// The document it is about.
    pub doc: String,
    /// The sender's session (with `count`, what receivers deduplicate by).
    pub session: String,
    /// Its number in the session.
    pub count: u64,
    /// Its content, opaque to the node.
    pub data: Vec<u8>,
}

/// Why a message could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an automerge-repo message: {0}")]
pub struct WireError(String);

fn err(e: impl std::fmt::Display) -> WireError {
    WireError(e.to_string())
}

/// The fields of a message's map, read once.
#[derive(Default)]
struct Fields<'b> {
    kind: Option<&'b str>,
    sender: Option<&'b str>,
    doc: Option<&'b str>,
    session: Option<&'b str>,
    count: Option<u64>,
    data: Option<&'b [u8]>,
    versions: Option<Vec<String>>,
}

fn text<'b>(d: &mut Decoder<'b>, key: &str) -> Result<&'b str, WireError> {
    d.str().map_err(|_| err(format!("`{key}` must be text")))
}

/// Reads one message from a client.
pub fn decode(bytes: &[u8]) -> Result<FromClient, WireError> {
    let mut d = Decoder::new(bytes);
    let len = d.map().map_err(|_| err("a message must be a CBOR map"))?;
    let mut f = Fields::default();
    let mut read = 0u64;
    loop {
        match len {
            Some(n) if read == n => break,
            None if d.datatype().map_err(err)? == Type::Break => {
                d.skip().map_err(err)?;
                break;
            }
            _ => {}
        }
        read += 1;
        if d.datatype().map_err(err)? != Type::String {
            d.skip().map_err(err)?;
            d.skip().map_err(err)?;
            continue;
        }
        let key = d.str().map_err(err)?;
        if matches!(d.datatype().map_err(err)?, Type::Null | Type::Undefined) {
            d.skip().map_err(err)?;
            continue;
        }
        match key {
            "type" => f.kind = Some(text(&mut d, key)?),
            "senderId" => f.sender = Some(text(&mut d, key)?),
            "documentId" => f.doc = Some(text(&mut d, key)?),
            "sessionId" => f.session = Some(text(&mut d, key)?),
            "count" => f.count = Some(d.u64().map_err(|_| err("`count` must be a number"))?),
            "data" => {
                // cbor-x's default encoder tags a Uint8Array (tag 64);
                // automerge-repo's does not. Either is a byte string.
                if d.datatype().map_err(err)? == Type::Tag {
                    let tag = d.tag().map_err(err)?;
                    if tag != minicbor::data::Tag::new(64) {
                        return Err(err("`data` must be a byte string"));
                    }
                }
                f.data = Some(d.bytes().map_err(|_| err("`data` must be a byte string"))?)
            }
            "supportedProtocolVersions" => {
                let n = d
                    .array()
                    .map_err(|_| err("`supportedProtocolVersions` must be a list"))?;
                let mut versions = Vec::new();
                loop {
                    match n {
                        Some(n) if versions.len() as u64 == n => break,
                        None if d.datatype().map_err(err)? == Type::Break => {
                            d.skip().map_err(err)?;
                            break;
                        }
                        _ => {}
                    }
                    if versions.len() >= 64 {
                        return Err(err("too many protocol versions"));
                    }
                    versions.push(text(&mut d, key)?.to_string());
                }
                f.versions = Some(versions);
            }
            _ => d.skip().map_err(err)?,
        }
    }
    if d.position() != bytes.len() {
        return Err(err("bytes after the message"));
    }
    let need = |v: Option<&'_ str>, name: &str| {
        v.map(str::to_string).ok_or_else(|| {
            err(format!(
                "a `{}` message without `{name}`",
                f.kind.unwrap_or("")
            ))
        })
    };
    let data = || {
        f.data.map(<[u8]>::to_vec).ok_or_else(|| {
            err(format!(
                "a `{}` message without `data`",
                f.kind.unwrap_or("")
            ))
        })
    };
    Ok(
        match f.kind.ok_or_else(|| err("a message without `type`"))? {
            "join" => FromClient::Join {
                sender: need(f.sender, "senderId")?,
                versions: f.versions.clone().unwrap_or_default(),
            },
            "request" => FromClient::Request {
                doc: need(f.doc, "documentId")?,
                data: data()?,
            },
            "sync" => FromClient::Sync {
                doc: need(f.doc, "documentId")?,
                data: data()?,
            },
            "ephemeral" => FromClient::Ephemeral(Ephemeral {
                sender: need(f.sender, "senderId")?,
                doc: need(f.doc, "documentId")?,
                session: need(f.session, "sessionId")?,
                count: f
                    .count
                    .ok_or_else(|| err("an `ephemeral` message without `count`"))?,
                data: data()?,
            }),
            "doc-unavailable" => FromClient::DocUnavailable {
                doc: need(f.doc, "documentId")?,
            },
            "leave" => FromClient::Leave,
            other => FromClient::Other(other.to_string()),
        },
    )
}

fn encoder() -> Encoder<Vec<u8>> {
    Encoder::new(Vec::new())
}

/// Writes string pairs; `Vec<u8>` never fails to take bytes.
fn pairs(e: &mut Encoder<Vec<u8>>, kv: &[(&str, &str)]) {
    for (k, v) in kv {
        e.str(k).and_then(|e| e.str(v)).expect("writing to memory");
    }
}

/// The answer to a `join`: this node's peer id and the version chosen.
pub fn peer(me: &str, target: &str) -> Vec<u8> {
    let mut e = encoder();
    e.map(5).expect("writing to memory");
    pairs(
        &mut e,
        &[
            ("type", "peer"),
            ("senderId", me),
            ("targetId", target),
            ("selectedProtocolVersion", VERSION),
        ],
    );
    e.str("peerMetadata")
        .and_then(|e| e.map(1))
        .and_then(|e| e.str("isEphemeral"))
        .and_then(|e| e.bool(false))
        .expect("writing to memory");
    e.into_writer()
}

/// An error, after which the node closes the connection.
pub fn error(message: &str) -> Vec<u8> {
    let mut e = encoder();
    e.map(2).expect("writing to memory");
    pairs(&mut e, &[("type", "error"), ("message", message)]);
    e.into_writer()
}

/// A sync message about `doc`.
pub fn sync(me: &str, target: &str, doc: &str, data: &[u8]) -> Vec<u8> {
    let mut e = encoder();
    e.map(5).expect("writing to memory");
    pairs(
        &mut e,
        &[
            ("type", "sync"),
            ("senderId", me),
            ("targetId", target),
            ("documentId", doc),
        ],
    );
    e.str("data")
        .and_then(|e| e.bytes(data))
        .expect("writing to memory");
    e.into_writer()
}

/// The node has no document `doc` for this client (or may not show it).
pub fn unavailable(me: &str, target: &str, doc: &str) -> Vec<u8> {
    let mut e = encoder();
    e.map(4).expect("writing to memory");
    pairs(
        &mut e,
        &[
            ("type", "doc-unavailable"),
            ("senderId", me),
            ("targetId", target),
            ("documentId", doc),
        ],
    );
    e.into_writer()
}

/// Another client's `ephemeral` message, relayed to `target`.
pub fn ephemeral(m: &Ephemeral, target: &str) -> Vec<u8> {
    let mut e = encoder();
    e.map(7).expect("writing to memory");
    pairs(
        &mut e,
        &[
            ("type", "ephemeral"),
            ("senderId", &m.sender),
            ("targetId", target),
            ("documentId", &m.doc),
            ("sessionId", &m.session),
        ],
    );
    e.str("count")
        .and_then(|e| e.u64(m.count))
        .and_then(|e| e.str("data"))
        .and_then(|e| e.bytes(&m.data))
        .expect("writing to memory");
    e.into_writer()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(kv: &[(&str, &str)], data: Option<&[u8]>) -> Vec<u8> {
        let mut e = encoder();
        e.map(kv.len() as u64 + u64::from(data.is_some())).unwrap();
        pairs(&mut e, kv);
        if let Some(d) = data {
            e.str("data").unwrap().bytes(d).unwrap();
        }
        e.into_writer()
    }

    #[test]
    fn messages_round_trip_as_the_client_reads_them() {
        let m = Ephemeral {
            sender: "a".into(),
            doc: "d".into(),
            session: "s".into(),
            count: 7,
            data: vec![1, 2],
        };
        assert_eq!(
            decode(&ephemeral(&m, "b")).unwrap(),
            FromClient::Ephemeral(m)
        );
        assert_eq!(
            decode(&sync("n", "c", "d", &[9])).unwrap(),
            FromClient::Sync {
                doc: "d".into(),
                data: vec![9]
            }
        );
        assert_eq!(
            decode(&unavailable("n", "c", "d")).unwrap(),
            FromClient::DocUnavailable { doc: "d".into() }
        );
        assert_eq!(
            decode(&peer("n", "c")).unwrap(),
            FromClient::Other("peer".into())
        );
    }

    #[test]
    fn a_join_names_its_versions_and_unknown_keys_are_skipped() {
        let mut e = encoder();
        e.begin_map().unwrap();
        pairs(&mut e, &[("type", "join"), ("senderId", "js-1")]);
        e.str("peerMetadata")
            .unwrap()
            .map(1)
            .unwrap()
            .str("isEphemeral")
            .unwrap()
            .bool(true)
            .unwrap();
        e.str("supportedProtocolVersions")
            .unwrap()
            .array(1)
            .unwrap()
            .str("1")
            .unwrap();
        e.str("storageId").unwrap().undefined().unwrap();
        e.end().unwrap();
        assert_eq!(
            decode(&e.into_writer()).unwrap(),
            FromClient::Join {
                sender: "js-1".into(),
                versions: vec!["1".into()]
            }
        );
    }

    #[test]
    fn bad_messages_say_what_is_wrong() {
        for (bytes, says) in [
            (vec![0x01], "a CBOR map"),
            (vec![], "a CBOR map"),
            (map(&[("senderId", "x")], None), "without `type`"),
            (
                map(&[("type", "sync"), ("documentId", "d")], None),
                "without `data`",
            ),
            (
                map(&[("type", "request")], Some(&[1])),
                "without `documentId`",
            ),
            (
                [map(&[("type", "leave")], None), vec![0]].concat(),
                "bytes after",
            ),
            (
                vec![0xa1, 0x64, b't', b'y', b'p', b'e', 0x01],
                "`type` must be text",
            ),
            // A map that claims more entries than there are bytes.
            (
                vec![0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
                "not an",
            ),
        ] {
            let e = decode(&bytes).unwrap_err().to_string();
            assert!(e.contains(says), "{bytes:?}: {e}");
        }
    }
}
