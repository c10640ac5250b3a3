//! Proof of who wrote a change: nodes sign the changes they author, and every
//! node checks the signatures of the changes it takes in, whoever relayed them.
//!
//! A signature is the node key's Ed25519 signature over `kp change v1\0` and a
//! change's hash. One signature vouches for more than its change: a change's hash
//! covers the hashes of its dependencies, so signing a change fixes the bytes of
//! its whole history; and a node's changes are a chain (each of its changes
//! builds on all its earlier ones, see the `kp-repo` crate). So a change is *proven*
//! when a verified signature by its own actor's key covers a change of that actor
//! that has it in its history, or the change itself. What travels is one
//! signature per actor: its latest change (its *tip*) among those sent.
//!
//! The actor id is the node key followed by an incarnation number
//! ([`crate::ids::actor_id`]), so the key to check against is in the change.

use std::collections::{HashMap, HashSet};

use automerge::{ActorId, ChangeHash};
use ring::signature::{ED25519, UnparsedPublicKey};

use crate::identity::{NodeId, NodeKey};
use crate::ids::parse_actor;

/// What a node signs: this tag and a change's hash.
const DOMAIN: &[u8] = b"kp change v1\0";
/// What a node signs for a client's actor: this tag, the change's hash, the
/// actor, and the person it vouches wrote it.
const VOUCHED: &[u8] = b"kp client change v1\0";
/// Longest person's name in a voucher, in bytes.
pub const MAX_PERSON: usize = 400;

/// A node's word that an actor that is not a node's (a client's, such as a
/// browser's or a program's) writes for one of its people.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Voucher {
    /// The node that vouches (and signs).
    pub node: NodeId,
    /// The person at that node.
    pub person: String,
}

fn vouched_message(hash: &ChangeHash, actor: &ActorId, v: &Voucher) -> Vec<u8> {
    let actor = actor.to_bytes();
    let mut m = Vec::with_capacity(VOUCHED.len() + 32 + 1 + actor.len() + 32 + v.person.len());
    m.extend_from_slice(VOUCHED);
    m.extend_from_slice(&hash.0);
    m.push(actor.len() as u8);
    m.extend_from_slice(actor);
    m.extend_from_slice(v.node.as_bytes());
    m.extend_from_slice(v.person.as_bytes());
    m
}

/// Bytes of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;

fn signed_message(hash: &ChangeHash) -> [u8; DOMAIN.len() + 32] {
    let mut m = [0u8; DOMAIN.len() + 32];
    m[..DOMAIN.len()].copy_from_slice(DOMAIN);
    m[DOMAIN.len()..].copy_from_slice(&hash.0);
    m
}

/// A node's signature of one change.
#[derive(Clone, PartialEq, Eq)]
pub struct Attestation {
    /// The change's actor (whose node key signed).
    pub actor: ActorId,
    /// The change signed.
    pub hash: ChangeHash,
    /// Ed25519 signature by the actor's node key (or the vouching node's).
    pub signature: Vec<u8>,
    /// For a client's actor: the node that vouches for it, and the person.
    pub voucher: Option<Voucher>,
}

impl std::fmt::Debug for Attestation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Attestation({} by {})", self.hash, self.actor)
    }
}

impl Attestation {
    /// Signs the change `hash` of `actor` (an actor of `key`'s node).
    pub fn new(key: &NodeKey, actor: &ActorId, hash: ChangeHash) -> Self {
        Self {
            actor: actor.clone(),
            hash,
            signature: key.sign(&signed_message(&hash)),
            voucher: None,
        }
    }

    /// Signs the change `hash` of a client's `actor` as written by `person`
    /// of `key`'s node.
    pub fn vouched(key: &NodeKey, actor: &ActorId, hash: ChangeHash, person: &str) -> Self {
        let voucher = Voucher {
            node: key.id(),
            person: person.to_string(),
        };
        Self {
            actor: actor.clone(),
            hash,
            signature: key.sign(&vouched_message(&hash, actor, &voucher)),
            voucher: Some(voucher),
        }
    }

    /// The node whose key must have signed.
    pub fn node(&self) -> Option<NodeId> {
        match &self.voucher {
            Some(v) => Some(v.node),
            None => parse_actor(&self.actor).map(|(node, _)| node),
        }
    }

    /// True if the signature is the actor's node key's, over this hash; or,
    /// vouched, the vouching node's over the hash, actor and person — for an
    /// actor that is no node's (a node vouches for clients, never for
    /// another node's actor).
    pub fn verifies(&self) -> bool {
        let (node, message) = match &self.voucher {
            None => match parse_actor(&self.actor) {
                Some((node, _)) => (node, signed_message(&self.hash).to_vec()),
                None => return false,
            },
            Some(v) => {
                if parse_actor(&self.actor).is_some() || v.person.len() > MAX_PERSON {
                    return false;
                }
                (v.node, vouched_message(&self.hash, &self.actor, v))
            }
        };
        UnparsedPublicKey::new(&ED25519, node.as_bytes())
            .verify(&message, &self.signature)
            .is_ok()
    }

    /// The stored form (the hash is the key): actor length, actor, sequence
    /// number of the change, signature; then, vouched, the node and the person.
    pub fn to_stored(&self, seq: u64) -> Vec<u8> {
        let actor = self.actor.to_bytes();
        let mut out = Vec::with_capacity(1 + actor.len() + 8 + self.signature.len());
        out.push(actor.len() as u8);
        out.extend_from_slice(actor);
        out.extend_from_slice(&seq.to_be_bytes());
        out.extend_from_slice(&self.signature);
        if let Some(v) = &self.voucher {
            out.extend_from_slice(v.node.as_bytes());
            out.extend_from_slice(v.person.as_bytes());
        }
        out
    }

    /// Reads [`Attestation::to_stored`]; `None` for bytes of another shape.
    pub fn from_stored(hash: ChangeHash, bytes: &[u8]) -> Option<(Self, u64)> {
        let (&len, rest) = bytes.split_first()?;
        let len = usize::from(len);
        if rest.len() < len + 8 + SIGNATURE_LEN {
            return None;
        }
        let (actor, rest) = rest.split_at(len);
        let (seq, rest) = rest.split_at(8);
        let (signature, rest) = rest.split_at(SIGNATURE_LEN);
        let voucher = match rest.len() {
            0 => None,
            n if n < 32 => return None,
            _ => {
                let (node, person) = rest.split_at(32);
                Some(Voucher {
                    node: NodeId::from_bytes(node.try_into().ok()?),
                    person: String::from_utf8(person.to_vec()).ok()?,
                })
            }
        };
        Some((
            Self {
                actor: ActorId::from(actor),
                hash,
                signature: signature.to_vec(),
                voucher,
            },
            u64::from_be_bytes(seq.try_into().ok()?),
        ))
    }
}

/// The changes of `doc` that are not in the history of `before`.
pub fn new_links(doc: &mut automerge::AutoCommit, before: &[ChangeHash]) -> Vec<Link> {
    doc.get_changes_meta(before)
        .iter()
        .map(Link::from_meta)
        .collect()
}

/// A change as the checks see it: who, which, on what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The change's hash.
    pub hash: ChangeHash,
    /// Its actor.
    pub actor: ActorId,
    /// Its sequence number among the actor's changes.
    pub seq: u64,
    /// The changes it builds on.
    pub deps: Vec<ChangeHash>,
    /// The counter of its first operation.
    pub start_op: u64,
    /// The counter of its last operation.
    pub max_op: u64,
    /// For a client's change: who vouched for it (filled in once proven).
    pub by: Option<Voucher>,
    /// The heads of its document's space that its author held when it wrote
    /// it, as its message cites them ([`cited_space`]); empty if it cites
    /// none. Its author's role is judged in the space at those heads.
    pub space: Vec<ChangeHash>,
}

/// The key under which a change's message (a JSON object) cites the heads
/// of the space its author held.
pub const SPACE_CITATION: &str = "space";

/// The space heads a change's message cites: the hex hashes in the array
/// at the key [`SPACE_CITATION`] of the message's JSON object, as kp-repo's
/// `ChangeNote` writes it. Nothing for a message that cites none or that
/// cannot be read (a citation is only ever a claim; one that cannot be read
/// is no claim).
pub fn cited_space(message: Option<&str>) -> Vec<ChangeHash> {
    let Some(message) = message else {
        return Vec::new();
    };
    let key = format!("\"{SPACE_CITATION}\":[");
    let Some(at) = message.find(&key) else {
        return Vec::new();
    };
    let rest = &message[at + key.len()..];
    let Some(end) = rest.find(']') else {
        return Vec::new();
    };
    let mut heads = Vec::new();
    for item in rest[..end].split(',') {
        let hex = item.trim().trim_matches('"');
        match hex.parse::<ChangeHash>() {
            Ok(h) => heads.push(h),
            Err(_) => return Vec::new(),
        }
    }
    heads.sort_unstable();
    heads.dedup();
    heads
}

impl Link {
    /// The link of a change as automerge lists it.
    pub fn from_meta(m: &automerge::ChangeMetadata<'_>) -> Self {
        Self {
            hash: m.hash,
            actor: m.actor.clone().into_owned(),
            seq: m.seq,
            deps: m.deps.clone(),
            start_op: m.start_op,
            max_op: m.max_op,
            by: None,
            space: cited_space(m.message.as_deref()),
        }
    }

    /// The node that wrote the change: its actor's, or the node that vouched
    /// for its client's actor.
    pub fn node(&self) -> Option<NodeId> {
        match &self.by {
            Some(v) => Some(v.node),
            None => parse_actor(&self.actor).map(|(node, _)| node),
        }
    }

    fn from_change(c: &automerge::Change) -> Self {
        Self {
            hash: c.hash(),
            actor: c.actor_id().clone(),
            seq: c.seq(),
            deps: c.deps().to_vec(),
            start_op: c.start_op().get(),
            max_op: c.max_op(),
            by: None,
            space: cited_space(c.message()),
        }
    }
}

/// The changes in automerge chunks as a sync message carries them (change
/// chunks, one after another, or one per entry). Document chunks are left out
/// (a whole document leaves nothing waiting for dependencies), and so is
/// anything that does not parse (automerge refuses it when it is applied).
pub fn links_in(chunks: &[u8]) -> Vec<Link> {
    const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
    let mut out = Vec::new();
    let mut rest = chunks;
    while rest.len() > 9 && rest[..4] == MAGIC {
        let kind = rest[8];
        let mut len: u64 = 0;
        let mut shift = 0;
        let mut i = 9;
        loop {
            let Some(&b) = rest.get(i) else {
                return out;
            };
            i += 1;
            if shift > 56 {
                return out;
            }
            len |= u64::from(b & 0x7f) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                break;
            }
        }
        let Some(end) = usize::try_from(len).ok().and_then(|l| i.checked_add(l)) else {
            return out;
        };
        if end > rest.len() {
            return out;
        }
        if (kind == 1 || kind == 2)
            && let Ok(change) = automerge::Change::try_from(&rest[..end])
        {
            out.push(Link::from_change(&change));
        }
        rest = &rest[end..];
    }
    out
}

/// Per actor, its change with the highest sequence number: the actor's tip,
/// which (its changes being a chain) has all the others of the actor in its
/// history.
pub type Tips = HashMap<ActorId, (u64, ChangeHash)>;

/// The tips of `links`.
pub fn tips<'a>(links: impl IntoIterator<Item = &'a Link>) -> Tips {
    let mut tips = Tips::new();
    for l in links {
        note_tip(&mut tips, &l.actor, l.seq, l.hash);
    }
    tips
}

/// Notes change `hash`, number `seq` of `actor`, in `tips`.
pub fn note_tip(tips: &mut Tips, actor: &ActorId, seq: u64, hash: ChangeHash) {
    match tips.get_mut(actor) {
        Some(t) if t.0 >= seq => {}
        Some(t) => *t = (seq, hash),
        None => {
            tips.insert(actor.clone(), (seq, hash));
        }
    }
}

/// Why a change was not proven.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unproven {
    /// No signature of its actor's node covers it.
    #[error("change {hash} claims to be by node {node} but carries no signature of that node")]
    Unsigned {
        /// The change.
        hash: ChangeHash,
        /// The node its actor id names.
        node: String,
    },
    /// Two signatures attribute one client's actor to different people.
    #[error("actor {actor} is vouched for as two different people; one actor is one person's")]
    TwoVouchers {
        /// The actor.
        actor: String,
    },
    /// A signature for its actor came with it, and does not verify.
    #[error(
        "change {hash} claims to be by node {node} but its signature does not verify against that node's key"
    )]
    BadSignature {
        /// The change.
        hash: ChangeHash,
        /// The node its actor id names.
        node: String,
    },
}

fn node_name(actor: &ActorId) -> String {
    parse_actor(actor).map_or_else(|| format!("(actor {actor})"), |(n, _)| n.to_string())
}

/// Checks that every change of `new` is proven by a signature among `signed`.
/// `known` are more changes the walk may pass through (changes that came with
/// `new` but wait for a dependency).
///
/// Cost: one signature check per actor tip offered, and a walk over the
/// changes per actor.
pub fn check(new: &[Link], known: &[Link], signed: &[Attestation]) -> Result<(), Unproven> {
    let (graph, verified, proven) = proof(new, known, signed);
    let Some(n) = proven.iter().position(|p| !p) else {
        return Ok(());
    };
    let l = graph.links[n];
    let offered_bad = signed.iter().any(|a| {
        a.actor == l.actor && graph.index.contains_key(&a.hash) && !verified.contains(&a.hash)
    });
    let node = node_name(&l.actor);
    Err(if offered_bad {
        Unproven::BadSignature { hash: l.hash, node }
    } else {
        Unproven::Unsigned { hash: l.hash, node }
    })
}

/// Gives each change of `new` by a client's actor the voucher of the
/// verified signature that names its actor. An actor vouched for by two
/// nodes, or for two people, is refused: one actor is one person's.
pub fn attribute(new: &mut [Link], signed: &[Attestation]) -> Result<(), Unproven> {
    let actors: HashSet<&ActorId> = new.iter().map(|l| &l.actor).collect();
    let mut by: HashMap<ActorId, Voucher> = HashMap::new();
    for a in signed {
        let Some(v) = &a.voucher else { continue };
        if !actors.contains(&a.actor) || !a.verifies() {
            continue;
        }
        match by.get(&a.actor) {
            Some(known) if known != v => {
                return Err(Unproven::TwoVouchers {
                    actor: a.actor.to_string(),
                });
            }
            Some(_) => {}
            None => {
                by.insert(a.actor.clone(), v.clone());
            }
        }
    }
    if !by.is_empty() {
        for l in new.iter_mut() {
            l.by = by.get(&l.actor).cloned();
        }
    }
    Ok(())
}

/// [`check`], returning for each change of `new` whether it is proven instead
/// of stopping at the first that is not.
pub fn proven_each(new: &[Link], signed: &[Attestation]) -> Vec<bool> {
    let (graph, _, proven) = proof(new, &[], signed);
    new.iter()
        .map(|l| graph.index.get(&l.hash).is_some_and(|&n| proven[n]))
        .collect()
}

/// The graph of `new` and `known`, the signatures that verify, and for each
/// change of `new` (as the graph orders them) whether one of them proves it:
/// one walk per actor of the new changes.
fn proof<'a>(
    new: &'a [Link],
    known: &'a [Link],
    signed: &[Attestation],
) -> (Graph<'a>, HashSet<ChangeHash>, Vec<bool>) {
    let (graph, new_count) = Graph::new(new, known);
    let verified = graph.verified(signed);
    let mut proven = vec![false; new_count];
    for actor in graph.actors_of_new() {
        let seen = graph.walk_actor(actor, &verified);
        for (n, p) in proven.iter_mut().enumerate() {
            if graph.links[n].actor == *actor && seen[n] {
                *p = true;
            }
        }
    }
    (graph, verified, proven)
}

struct Graph<'a> {
    /// New changes first, then known ones (each hash once).
    links: Vec<&'a Link>,
    index: HashMap<ChangeHash, usize>,
    new_count: usize,
}

impl<'a> Graph<'a> {
    fn new(new: &'a [Link], known: &'a [Link]) -> (Self, usize) {
        let mut links = Vec::with_capacity(new.len() + known.len());
        let mut index = HashMap::with_capacity(new.len() + known.len());
        for l in new {
            if let std::collections::hash_map::Entry::Vacant(e) = index.entry(l.hash) {
                e.insert(links.len());
                links.push(l);
            }
        }
        let new_count = links.len();
        for l in known {
            if let std::collections::hash_map::Entry::Vacant(e) = index.entry(l.hash) {
                e.insert(links.len());
                links.push(l);
            }
        }
        (
            Self {
                links,
                index,
                new_count,
            },
            new_count,
        )
    }

    fn actors_of_new(&self) -> Vec<&'a ActorId> {
        let mut actors: Vec<&ActorId> = self.links[..self.new_count]
            .iter()
            .map(|l| &l.actor)
            .collect();
        actors.sort();
        actors.dedup();
        actors
    }

    /// The hashes of the signatures that verify and sign a change of this
    /// graph by their own actor (only those are worth the check).
    fn verified(&self, signed: &[Attestation]) -> HashSet<ChangeHash> {
        let mut ok = std::collections::HashSet::new();
        for a in signed {
            let Some(&n) = self.index.get(&a.hash) else {
                continue;
            };
            if self.links[n].actor != a.actor || ok.contains(&a.hash) {
                continue;
            }
            if a.verifies() {
                ok.insert(a.hash);
            }
        }
        ok
    }

    /// Marks every change reachable from a verified change of `actor`.
    fn walk_actor(&self, actor: &ActorId, verified: &HashSet<ChangeHash>) -> Vec<bool> {
        let mut seen = vec![false; self.links.len()];
        let mut stack: Vec<usize> = verified
            .iter()
            .filter_map(|h| self.index.get(h).copied())
            .filter(|&n| self.links[n].actor == *actor)
            .collect();
        while let Some(n) = stack.pop() {
            if std::mem::replace(&mut seen[n], true) {
                continue;
            }
            for d in &self.links[n].deps {
                if let Some(&m) = self.index.get(d)
                    && !seen[m]
                {
                    stack.push(m);
                }
            }
        }
        seen
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_message_cites_space_heads_only_in_its_own_field() {
        let h = |b: u8| ChangeHash([b; 32]);
        let two = format!(
            r#"{{"author":"A","what":"x","space":["{}","{}"]}}"#,
            h(2),
            h(1)
        );
        assert_eq!(cited_space(Some(&two)), vec![h(1), h(2)]);
        for none in [
            None,
            Some("plain words"),
            Some(r#"{"author":"A","what":"x"}"#),
            // The key inside a text is escaped, so it is no citation.
            Some(r#"{"author":"A","what":"\"space\":[\"x\"]"}"#),
            Some(r#"{"author":"A","space":["not hex"]}"#),
            Some(r#"{"author":"A","space":["00"#),
        ] {
            assert!(cited_space(none).is_empty(), "{none:?}");
        }
    }

    use super::*;
    use crate::ids::actor_id;
    use automerge::{AutoCommit, transaction::Transactable};

    fn key(i: u8) -> NodeKey {
        NodeKey::from_seed([i; 32])
    }

    fn links(doc: &mut AutoCommit) -> Vec<Link> {
        doc.get_changes_meta(&[])
            .iter()
            .map(Link::from_meta)
            .collect()
    }

    fn sign_tips(k: &NodeKey, doc: &mut AutoCommit) -> Vec<Attestation> {
        tips(&links(doc))
            .into_iter()
            .filter(|(a, _)| parse_actor(a).is_some_and(|(n, _)| n == k.id()))
            .map(|(a, (_, h))| Attestation::new(k, &a, h))
            .collect()
    }

    fn edits(doc: &mut AutoCommit, n: usize) {
        for i in 0..n {
            let value = format!("{}-{i}", doc.get_actor());
            doc.put(automerge::ROOT, format!("k{i}"), value).unwrap();
            doc.commit();
        }
    }

    #[test]
    fn one_signature_of_the_tip_proves_the_chain_and_nothing_else() {
        let (a, b) = (key(1), key(2));
        let mut doc = AutoCommit::new().with_actor(actor_id(&a.id(), 1));
        edits(&mut doc, 5);
        let mut theirs = doc.fork().with_actor(actor_id(&b.id(), 1));
        edits(&mut theirs, 3);
        doc.merge(&mut theirs).unwrap();
        edits(&mut doc, 2);
        let all = links(&mut doc);
        let mut signed = sign_tips(&a, &mut doc);
        assert!(matches!(
            check(&all, &[], &signed),
            Err(Unproven::Unsigned { .. })
        ));
        signed.extend(sign_tips(&b, &mut theirs));
        assert_eq!(check(&all, &[], &signed), Ok(()));
        assert!(proven_each(&all, &signed).iter().all(|p| *p));

        // B's key cannot vouch for A's changes: a forged actor.
        let forged: Vec<Attestation> = signed
            .iter()
            .map(|s| Attestation {
                signature: b.sign(&signed_message(&s.hash)),
                ..s.clone()
            })
            .collect();
        assert!(matches!(
            check(&all, &[], &forged),
            Err(Unproven::BadSignature { .. })
        ));
        // A flipped bit.
        let mut bad = signed.clone();
        bad[0].signature[3] ^= 1;
        assert!(check(&all, &[], &bad).is_err());
    }

    #[test]
    fn a_change_outside_the_signed_history_is_not_proven() {
        let a = key(1);
        let mut doc = AutoCommit::new().with_actor(actor_id(&a.id(), 1));
        edits(&mut doc, 3);
        let signed = sign_tips(&a, &mut doc);
        // Someone else writes as A on a fork: same actor, not in the signed history.
        let mut fork = doc.fork().with_actor(actor_id(&a.id(), 1));
        fork.put(automerge::ROOT, "forged", 1).unwrap();
        fork.commit();
        let all = links(&mut fork);
        let err = check(&all, &[], &signed).unwrap_err();
        assert!(matches!(err, Unproven::Unsigned { .. }), "{err}");
        assert!(err.to_string().contains(&a.id().to_string()));
    }

    #[test]
    fn waiting_changes_carry_the_proof_to_earlier_ones() {
        let a = key(1);
        let mut doc = AutoCommit::new().with_actor(actor_id(&a.id(), 1));
        edits(&mut doc, 4);
        let all = links(&mut doc);
        let signed = sign_tips(&a, &mut doc);
        // The first two arrived and apply; the tip waits for a dependency.
        assert!(check(&all[..2], &[], &signed).is_err());
        assert_eq!(check(&all[..2], &all[2..], &signed), Ok(()));
    }

    #[test]
    fn chunks_split_into_their_changes() {
        let a = key(1);
        let mut doc = AutoCommit::new().with_actor(actor_id(&a.id(), 1));
        edits(&mut doc, 3);
        let changes = doc.get_changes(&[]);
        let joined: Vec<u8> = changes
            .iter()
            .flat_map(|c| c.raw_bytes().to_vec())
            .collect();
        assert_eq!(links_in(&joined), links(&mut doc));
        // A document chunk, garbage, and a truncated chunk give nothing and never panic.
        assert!(links_in(&doc.save()).is_empty());
        assert!(
            links_in(b"\x85\x6f\x4a\x83\0\0\0\0\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff")
                .is_empty()
        );
        assert_eq!(links_in(&joined[..joined.len() - 1]).len(), 2);
    }

    #[test]
    fn a_node_vouches_for_its_clients_actor_and_nothing_else() {
        let (a, b) = (key(1), key(2));
        // A client's actor: random bytes, no node's key in it.
        let client = ActorId::from(vec![7u8; 16]);
        let mut doc = AutoCommit::new().with_actor(client.clone());
        edits(&mut doc, 3);
        let mut all = links(&mut doc);
        let tip = all.last().unwrap().hash;
        let vouched = Attestation::vouched(&a, &client, tip, "Amina Diallo");
        assert!(vouched.verifies());
        assert_eq!(vouched.node(), Some(a.id()));
        assert_eq!(check(&all, &[], std::slice::from_ref(&vouched)), Ok(()));
        attribute(&mut all, std::slice::from_ref(&vouched)).unwrap();
        assert!(all.iter().all(
            |l| l.by.as_ref().is_some_and(|v| v.person == "Amina Diallo")
                && l.node() == Some(a.id())
        ));

        // Unvouched, the client's changes are proven by nothing.
        assert!(check(&all, &[], &[]).is_err());
        // Another person's name, or another node named, under A's signature: forged.
        for forged in [
            Attestation {
                voucher: Some(Voucher {
                    node: a.id(),
                    person: "Someone Else".into(),
                }),
                ..vouched.clone()
            },
            Attestation {
                voucher: Some(Voucher {
                    node: b.id(),
                    person: "Amina Diallo".into(),
                }),
                ..vouched.clone()
            },
        ] {
            assert!(!forged.verifies());
            assert!(matches!(
                check(&all, &[], &[forged]),
                Err(Unproven::BadSignature { .. })
            ));
        }
        // A node may not vouch for another node's actor.
        let mut theirs = AutoCommit::new().with_actor(actor_id(&b.id(), 1));
        edits(&mut theirs, 1);
        let t = links(&mut theirs);
        let stolen = Attestation::vouched(&a, &t[0].actor, t[0].hash, "Amina Diallo");
        assert!(!stolen.verifies());
        // Two vouchers for one actor: refused.
        let other = Attestation::vouched(&b, &client, tip, "Bo Chen");
        assert!(matches!(
            attribute(&mut all, &[vouched.clone(), other]),
            Err(Unproven::TwoVouchers { .. })
        ));
        // The stored form keeps the voucher.
        let bytes = vouched.to_stored(3);
        assert_eq!(
            Attestation::from_stored(tip, &bytes),
            Some((vouched.clone(), 3))
        );
        assert_eq!(
            Attestation::from_stored(tip, &bytes[..bytes.len() - 20]).map(|a| a.0.voucher),
            None
        );
    }

    #[test]
    fn stored_form_round_trips_and_refuses_other_shapes() {
        let a = key(1);
        let s = Attestation::new(&a, &actor_id(&a.id(), 7), ChangeHash([9; 32]));
        let bytes = s.to_stored(12);
        assert_eq!(
            Attestation::from_stored(s.hash, &bytes),
            Some((s.clone(), 12))
        );
        assert!(s.verifies());
        assert_eq!(Attestation::from_stored(s.hash, &bytes[1..]), None);
        assert_eq!(Attestation::from_stored(s.hash, &[]), None);
    }
}
