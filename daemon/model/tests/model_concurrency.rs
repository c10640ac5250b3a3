//! The document model under concurrency: documents forked to two to four
//! nodes, random operations of every kind on each fork (body edits, edits
//! sent back from a file made from an old version, comments, replies,
//! resolutions, named versions, the whole review workflow, referee reports,
//! membership, datasets and analyses, and edits and comments by the nodes'
//! clients — browsers whose actors the node vouches for as a person of the
//! space), merged in random orders.
//!
//! Checked after every merge: what one node wrote passes the checks every
//! partner makes on what it receives (roles, signatures aside, and the review
//! rules), so no honest history is ever refused. Checked at the end: every
//! replica holds the same documents with the same heads and reads the same,
//! and every operation's effect is still there, or a documented rule says why
//! not (a removal wins over a concurrent change of the same member; a review
//! step that a concurrent step made impossible is kept, void).
//!
//! ```text
//!   node 1 Ada    admin     the draft's author
//!   node 2 Carla  admin     the chair (never an author)
//!   node 3 Chen   editor    becomes a co-author by editing
//!   node 4 Bo/Dee reviewer  the referees
//! ```

use std::collections::{BTreeMap, BTreeSet};

use automerge::{AutoCommit, ChangeHash};
use kp_core::identity::NodeId;
use kp_core::ids::{self, DocId};
use kp_model::review::{Referee, Who};
use kp_model::space::{Member, Role};
use kp_model::{
    self as model, DocKind, DraftType, Recommendation, Verdict, analysis, dataset, draft, review,
    rules, space,
};
use proptest::prelude::*;

const PEOPLE: [&str; 4] = ["Ada", "Carla", "Chen", "Bo"];
const ROLES: [Role; 4] = [Role::Admin, Role::Admin, Role::Editor, Role::Reviewer];
const LABELS: [&str; 3] = ["v1", "v2", "final"];
/// Nodes that join and leave the space (members 5 to 7).
const GUESTS: [u8; 3] = [5, 6, 7];
const GUEST_ROLES: [&str; 3] = ["editor", "reviewer", "reader"];
/// The draft's text at the start: words to quote, and filler to delete.
const BODY: &str = "alpha bravo charlie delta echo foxtrot golf hotel india juliet \
                    ---------------------------------------- kilo lima mike";

fn node(n: u8) -> NodeId {
    NodeId::from_bytes([n; 32])
}

fn node_str(n: u8) -> String {
    node(n).to_string()
}

fn roles() -> rules::Roles {
    (1..=4u8)
        .map(|n| (node(n), ROLES[usize::from(n - 1)]))
        .collect()
}

#[derive(Debug, Clone)]
enum Op {
    Insert {
        at: u16,
    },
    DeleteFiller {
        at: u16,
        len: u8,
    },
    EditFromFile {
        back: u8,
        at: u16,
    },
    Comment {
        pick: u16,
    },
    Reply {
        pick: u16,
    },
    Resolve {
        pick: u16,
    },
    Tag {
        label: u8,
    },
    Submit,
    Assign {
        dee: bool,
    },
    Report {
        dee: bool,
        rec: u8,
    },
    Decide {
        decision: u8,
    },
    Publish,
    Withdraw,
    AddMember {
        guest: u8,
        role: u8,
    },
    SetRole {
        guest: u8,
        role: u8,
    },
    RemoveMember {
        guest: u8,
    },
    CreateDataset,
    CreateAnalysis,
    /// A client of the node (a browser) writes, as the node's person.
    ClientEdit {
        at: u16,
        comment: bool,
    },
}

/// The people of the space: one per node, the clients' (node, name, role).
const CLIENTS: [(u8, &str, Role); 4] = [
    (1, "Eve", Role::Editor),
    (2, "Fay", Role::Admin),
    (3, "Gus", Role::Editor),
    (4, "Hal", Role::Reviewer),
];

#[derive(Debug, Clone)]
enum Step {
    Act(usize, Op),
    Sync(usize, usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => any::<u16>().prop_map(|at| Op::Insert { at }),
        1 => (any::<u16>(), 1u8..12).prop_map(|(at, len)| Op::DeleteFiller { at, len }),
        2 => (0u8..6, any::<u16>()).prop_map(|(back, at)| Op::EditFromFile { back, at }),
        3 => any::<u16>().prop_map(|pick| Op::Comment { pick }),
        2 => any::<u16>().prop_map(|pick| Op::Reply { pick }),
        1 => any::<u16>().prop_map(|pick| Op::Resolve { pick }),
        2 => (0u8..3).prop_map(|label| Op::Tag { label }),
        2 => Just(Op::Submit),
        2 => any::<bool>().prop_map(|dee| Op::Assign { dee }),
        2 => (any::<bool>(), 0u8..4).prop_map(|(dee, rec)| Op::Report { dee, rec }),
        2 => (0u8..3).prop_map(|decision| Op::Decide { decision }),
        1 => Just(Op::Publish),
        1 => Just(Op::Withdraw),
        2 => (0u8..3, 0u8..3).prop_map(|(guest, role)| Op::AddMember { guest, role }),
        1 => (0u8..3, 0u8..3).prop_map(|(guest, role)| Op::SetRole { guest, role }),
        1 => (0u8..3).prop_map(|guest| Op::RemoveMember { guest }),
        1 => Just(Op::CreateDataset),
        1 => Just(Op::CreateAnalysis),
        3 => (any::<u16>(), any::<bool>()).prop_map(|(at, comment)| Op::ClientEdit { at, comment }),
    ]
}

fn steps(n: usize) -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        4 => (0..n, op()).prop_map(|(a, o)| Step::Act(a, o)),
        1 => (0..n, 0..n).prop_map(|(a, b)| Step::Sync(a, b)),
    ];
    proptest::collection::vec(step, 8..70)
}

/// What an operation that succeeded must leave behind.
#[derive(Debug, Clone)]
enum Effect {
    Token(String),
    Comment {
        id: String,
        body: String,
    },
    Reply {
        comment: String,
        body: String,
    },
    Resolved(String),
    Version {
        heads: Vec<String>,
        author: String,
    },
    /// A review step, known by its unique time.
    Step(i64),
    Report {
        round: i64,
        referee: String,
        token: String,
    },
    Doc(DocId),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Membership {
    AddNew,
    SetRole,
    Remove,
}

/// One node's copies of the documents and what it knows of the operations.
struct Replica {
    node: u8,
    docs: BTreeMap<DocId, AutoCommit>,
    /// The operations (by index) this node has seen, its own and merged.
    known: BTreeSet<usize>,
    /// The draft's heads after each of this node's operations, newest last
    /// (the versions a file could have been made from).
    history: Vec<Vec<ChangeHash>>,
}

struct World {
    replicas: Vec<Replica>,
    space: DocId,
    draft: DocId,
    /// For each operation that succeeded: its index, its effect and what its
    /// node knew.
    done: Vec<(usize, Effect, BTreeSet<usize>)>,
    membership: Vec<(usize, Membership, u8, String, BTreeSet<usize>)>,
    tokens: usize,
    ops: usize,
    /// Each client actor and the person its node vouches it writes for (the
    /// signatures that travel with its changes).
    vouched: BTreeMap<automerge::ActorId, kp_core::authorship::Voucher>,
}

fn kind_of(doc: &AutoCommit) -> DocKind {
    model::summarize(doc).kind
}

impl World {
    fn new(n: usize) -> Self {
        let actor = |k: u8| ids::actor_id(&node(k), 1);
        let mut sp = AutoCommit::new().with_actor(actor(1));
        let admin = Member {
            node_id: node_str(1),
            role: "admin".into(),
            institution: "Ada U".into(),
            ..Default::default()
        };
        space::init(&mut sp, "WG", 7, "", &admin, 0).unwrap();
        for k in 2..=4u8 {
            let m = Member {
                node_id: node_str(k),
                role: ROLES[usize::from(k - 1)].as_str().into(),
                institution: format!("Inst {k}"),
                ..Default::default()
            };
            space::add_member(&mut sp, &node_str(1), &m, 0).unwrap();
        }
        for (k, name, role) in CLIENTS {
            let p = space::Person {
                name: name.into(),
                node_id: node_str(k),
                role: role.as_str().into(),
                title: String::new(),
            };
            space::add_person(&mut sp, &node_str(1), &p).unwrap();
        }
        sp.commit();
        let space_id = DocId::from_bytes([1; 16]);
        let mut d = AutoCommit::new().with_actor(actor(1));
        let by = draft::Actor {
            author: PEOPLE[0],
            institution: "Ada U",
            node_id: &node_str(1),
        };
        draft::init(
            &mut d,
            &space_id,
            "Paper",
            DraftType::WorkingPaper,
            BODY,
            &by,
            0,
        )
        .unwrap();
        d.commit();
        let draft_id = DocId::from_bytes([2; 16]);
        let replicas = (0..n)
            .map(|i| {
                let k = u8::try_from(i + 1).unwrap();
                let mut docs = BTreeMap::new();
                docs.insert(space_id, sp.fork().with_actor(actor(k)));
                docs.insert(draft_id, d.fork().with_actor(actor(k)));
                Replica {
                    node: k,
                    docs,
                    known: BTreeSet::new(),
                    history: vec![d.clone().get_heads()],
                }
            })
            .collect();
        Self {
            replicas,
            space: space_id,
            draft: draft_id,
            done: Vec::new(),
            membership: Vec::new(),
            tokens: 0,
            ops: 0,
            vouched: BTreeMap::new(),
        }
    }

    fn token(&mut self) -> String {
        self.tokens += 1;
        format!("tok{}z", self.tokens)
    }

    /// Replica `i` takes in what replica `j` holds, checking every document's
    /// new changes as a partner would.
    fn sync(&mut self, i: usize, j: usize) {
        if i == j {
            return;
        }
        let theirs: Vec<(DocId, AutoCommit)> = self.replicas[j]
            .docs
            .iter()
            .map(|(id, d)| (*id, d.clone()))
            .collect();
        let known = self.replicas[j].known.clone();
        let me = &mut self.replicas[i];
        let actor = ids::actor_id(&node(me.node), 1);
        for (id, mut doc) in theirs {
            let (mut merged, before) = match me.docs.remove(&id) {
                Some(mut ours) => {
                    let before = ours.get_heads();
                    ours.merge(&mut doc).unwrap();
                    (ours, before)
                }
                None => (doc.fork().with_actor(actor.clone()), Vec::new()),
            };
            let kind = kind_of(&merged);
            let mut new = kp_core::authorship::new_links(&mut merged, &before);
            for l in &mut new {
                l.by = self.vouched.get(&l.actor).cloned();
            }
            let people = me
                .docs
                .get(&self.space)
                .and_then(|d| space::read(d).ok())
                .map(|s| space::people_roles(&s))
                .unwrap_or_default();
            if let Err(e) = rules::check_new(
                &mut merged,
                &new,
                kind,
                &roles(),
                &rules::FormerRoles::new(),
                &|_| None,
            )
            .and_then(|()| rules::check_people(&mut merged, &new, kind, &people))
            {
                panic!("node {} refused what node {} sent: {e}", me.node, j + 1);
            }
            me.docs.insert(id, merged);
        }
        me.known.extend(known);
    }

    fn act(&mut self, i: usize, op: Op) {
        let idx = self.ops;
        self.ops += 1;
        let at = 1000 + i64::try_from(idx).unwrap();
        let node_n = self.replicas[i].node;
        let n = usize::from(node_n - 1);
        let node_id = node_str(node_n);
        let name = PEOPLE[n];
        let role = ROLES[n];
        let by = draft::Actor {
            author: name,
            institution: "Inst",
            node_id: &node_id,
        };
        let who = Who {
            name,
            node_id: &node_id,
            institution: "Inst",
            role: Some(role),
        };
        let past = self.replicas[i].known.clone();
        let draft_id = self.draft;
        let effect: Option<Effect> = match op {
            Op::Insert { at: pos } if matches!(node_n, 1 | 3) => {
                let t = self.token();
                let d = self.replicas[i].docs.get_mut(&draft_id).unwrap();
                let text = draft::read(d, None).unwrap().body;
                let new = insert_at(&text, pos, &format!(" {t} "));
                draft::set_body(d, &new, &by).ok().map(|_| Effect::Token(t))
            }
            Op::DeleteFiller { at: pos, len } if matches!(node_n, 1 | 3) => {
                let d = self.replicas[i].docs.get_mut(&draft_id).unwrap();
                let text: Vec<char> = draft::read(d, None).unwrap().body.chars().collect();
                let dashes: Vec<usize> = (0..text.len()).filter(|&k| text[k] == '-').collect();
                if let Some(&start) = dashes.get(usize::from(pos) % dashes.len().max(1)) {
                    let mut end = start;
                    while end < text.len() && text[end] == '-' && end - start < usize::from(len) {
                        end += 1;
                    }
                    let new: String = text[..start].iter().chain(&text[end..]).collect();
                    draft::set_body(d, &new, &by).unwrap();
                }
                None
            }
            Op::EditFromFile { back, at: pos } if matches!(node_n, 1 | 3) => {
                // The text as it was some operations ago, written to a file,
                // revised, and sent back: applied against that version.
                let t = self.token();
                let r = &mut self.replicas[i];
                let h = r.history.len();
                let base = r.history[h - 1 - usize::from(back) % h].clone();
                let d = r.docs.get_mut(&draft_id).unwrap();
                let old = draft::read(d, Some(&base)).unwrap().body;
                let new = insert_at(&old, pos, &format!(" {t} "));
                d.isolate(&base);
                let ok = draft::set_body(d, &new, &by).is_ok();
                d.commit();
                d.integrate();
                ok.then_some(Effect::Token(t))
            }
            Op::Comment { pick } => {
                let d = self.replicas[i].docs.get_mut(&draft_id).unwrap();
                let text = draft::read(d, None).unwrap().body;
                let words: Vec<&str> = text
                    .split_whitespace()
                    .filter(|w| w.len() > 3 && !w.contains('-') && text.matches(*w).count() == 1)
                    .collect();
                let quote = words.get(usize::from(pick) % words.len().max(1)).copied();
                let body = format!("note {idx}");
                quote.and_then(|q| {
                    let id = ids::comment_id();
                    draft::add_comment(d, &id, q, &body, &by, at)
                        .ok()
                        .map(|c| Effect::Comment { id: c.id, body })
                })
            }
            Op::Reply { pick } => {
                let d = self.replicas[i].docs.get_mut(&draft_id).unwrap();
                let cs = draft::comments(d).unwrap();
                let body = format!("reply {idx}");
                cs.get(usize::from(pick) % cs.len().max(1)).and_then(|c| {
                    draft::reply(d, &c.id, &body, &by, at)
                        .ok()
                        .map(|_| Effect::Reply {
                            comment: c.id.clone(),
                            body,
                        })
                })
            }
            Op::Resolve { pick } => {
                let d = self.replicas[i].docs.get_mut(&draft_id).unwrap();
                let cs = draft::comments(d).unwrap();
                cs.get(usize::from(pick) % cs.len().max(1)).and_then(|c| {
                    draft::resolve(d, &c.id, &by, at)
                        .ok()
                        .map(|_| Effect::Resolved(c.id.clone()))
                })
            }
            Op::Tag { label } if node_n != 4 => {
                let d = self.replicas[i].docs.get_mut(&draft_id).unwrap();
                draft::tag_version(d, LABELS[usize::from(label)], &by, at)
                    .ok()
                    .map(|v| Effect::Version {
                        heads: v.heads,
                        author: name.into(),
                    })
            }
            Op::Submit if node_n != 4 => {
                let d = self.replicas[i].docs.get_mut(&draft_id).unwrap();
                review::submit(d, &who, at).ok().map(|_| Effect::Step(at))
            }
            Op::Assign { dee } if node_n != 4 => {
                let d = self.replicas[i].docs.get_mut(&draft_id).unwrap();
                let referee = referee(dee);
                review::assign(d, &who, &referee, "Inst 4", "", at)
                    .ok()
                    .map(|_| Effect::Step(at))
            }
            Op::Report { dee, rec } if node_n == 4 => {
                let referee = referee(dee);
                let who = Who {
                    name: &referee.name,
                    ..who
                };
                let r = &mut self.replicas[i];
                let d = r.docs.get_mut(&draft_id).unwrap();
                match review::may_report(d, &who) {
                    Ok((a, version)) => {
                        let t = format!("report {idx}");
                        let rid = review::report_id(&draft_id, a.round, &referee);
                        let recommendation = Recommendation::ALL[usize::from(rec)];
                        match r.docs.get_mut(&rid) {
                            Some(doc) => {
                                review::update_report(doc, recommendation, &t, at).unwrap();
                            }
                            None => {
                                let mut doc =
                                    AutoCommit::new().with_actor(ids::actor_id(&node(4), 1));
                                let report = review::Report {
                                    space: self.space.to_string(),
                                    draft: draft_id.to_string(),
                                    round: a.round,
                                    version,
                                    referee: referee.name.clone(),
                                    node_id: referee.node_id.clone(),
                                    institution: "Inst 4".into(),
                                    recommendation: recommendation.as_str().into(),
                                    body: t.clone(),
                                    assigned_at: a.at,
                                    submitted_at: at,
                                    updated_at: at,
                                };
                                review::init_report(&mut doc, &report).unwrap();
                                r.docs.insert(rid, doc);
                            }
                        }
                        Some(Effect::Report {
                            round: a.round,
                            referee: referee.name.clone(),
                            token: t,
                        })
                    }
                    Err(_) => None,
                }
            }
            Op::Decide { decision } if node_n != 4 => {
                let r = &mut self.replicas[i];
                let d = r.docs.get(&draft_id).unwrap();
                let wf = review::read(d).unwrap();
                let seen: Vec<Referee> = wf
                    .assigned(wf.round)
                    .map(|a| a.referee())
                    .filter(|rf| {
                        r.docs
                            .contains_key(&review::report_id(&draft_id, wf.round, rf))
                    })
                    .collect();
                let d = r.docs.get_mut(&draft_id).unwrap();
                review::decide(d, &who, Verdict::ALL[usize::from(decision)], "", &seen, at)
                    .ok()
                    .map(|_| Effect::Step(at))
            }
            Op::Publish if node_n != 4 => {
                let d = self.replicas[i].docs.get_mut(&draft_id).unwrap();
                review::publish(d, &who, at).ok().map(|_| Effect::Step(at))
            }
            Op::Withdraw if node_n != 4 => {
                let d = self.replicas[i].docs.get_mut(&draft_id).unwrap();
                review::withdraw(d, &who, at).ok().map(|_| Effect::Step(at))
            }
            Op::AddMember { guest, role } | Op::SetRole { guest, role } if node_n <= 2 => {
                let g = GUESTS[usize::from(guest)];
                let sp = self.replicas[i].docs.get_mut(&self.space).unwrap();
                let present = space::read(sp)
                    .unwrap()
                    .members
                    .iter()
                    .any(|m| m.node_id == node_str(g));
                let wants_new = matches!(op, Op::AddMember { .. });
                if present == wants_new {
                    None
                } else {
                    let role = GUEST_ROLES[usize::from(role)];
                    let m = Member {
                        node_id: node_str(g),
                        role: role.into(),
                        institution: format!("Guest {g}"),
                        ..Default::default()
                    };
                    space::add_member(sp, &node_id, &m, at).unwrap();
                    let kind = if wants_new {
                        Membership::AddNew
                    } else {
                        Membership::SetRole
                    };
                    self.membership
                        .push((idx, kind, g, role.into(), past.clone()));
                    None
                }
            }
            Op::RemoveMember { guest } if node_n <= 2 => {
                let g = GUESTS[usize::from(guest)];
                let sp = self.replicas[i].docs.get_mut(&self.space).unwrap();
                if space::remove_member(sp, &node_id, &node_str(g), &BTreeMap::new(), at).is_ok() {
                    self.membership
                        .push((idx, Membership::Remove, g, String::new(), past.clone()));
                }
                None
            }
            Op::CreateDataset if node_n != 4 => {
                let id = DocId::random();
                let table = dataset::parse_csv(b"country,usd_bn\nIndia,58\n", "t.csv").unwrap();
                let mut doc = AutoCommit::new().with_actor(ids::actor_id(&node(node_n), 1));
                let info = dataset::Info {
                    title: "Top recipients",
                    source: "",
                    licence: "",
                };
                dataset::init(&mut doc, &self.space, info, &table, at).unwrap();
                self.replicas[i].docs.insert(id, doc);
                Some(Effect::Doc(id))
            }
            Op::CreateAnalysis if node_n != 4 => {
                let id = DocId::random();
                let mut doc = AutoCommit::new().with_actor(ids::actor_id(&node(node_n), 1));
                let a = analysis::Analysis {
                    space: self.space.to_string(),
                    title: "An analysis".into(),
                    doc: draft_id.to_string(),
                    doc_heads: Vec::new(),
                    plugin: "p".into(),
                    plugin_version: "1".into(),
                    plugin_sha256: "0".repeat(64),
                    params: Vec::new(),
                    fuel_used: 1,
                    report: "{}".into(),
                    logs: String::new(),
                    author: name.into(),
                    created_at: at,
                };
                analysis::init(&mut doc, &self.space, &a).unwrap();
                self.replicas[i].docs.insert(id, doc);
                Some(Effect::Doc(id))
            }
            Op::ClientEdit { at: pos, comment } => {
                // The node's client writes with an actor of its own; the node
                // takes its changes into its copy, vouching for its person.
                let (_, person, prole) = CLIENTS[n];
                let actor = automerge::ActorId::from(
                    [
                        &[0xc1, node_n][..],
                        &u64::try_from(idx).unwrap().to_be_bytes(),
                        &[0; 6],
                    ]
                    .concat(),
                );
                self.vouched.insert(
                    actor.clone(),
                    kp_core::authorship::Voucher {
                        node: node(node_n),
                        person: person.into(),
                    },
                );
                let t = self.token();
                let d = self.replicas[i].docs.get_mut(&draft_id).unwrap();
                let mut client = d.fork().with_actor(actor);
                let text = draft::read(&client, None).unwrap().body;
                let as_person = draft::Actor {
                    author: person,
                    institution: "Inst",
                    node_id: &node_id,
                };
                // What the node and the person may both do: an editor (or
                // admin) person at an editor (or admin) node edits; any other
                // comments.
                let edits = !comment
                    && matches!(role, Role::Admin | Role::Editor)
                    && matches!(prole, Role::Admin | Role::Editor);
                let effect = if edits {
                    let new = insert_at(&text, pos, &format!(" {t} "));
                    draft::set_body(&mut client, &new, &as_person)
                        .ok()
                        .map(|_| Effect::Token(t))
                } else {
                    let id = ids::comment_id();
                    let quote: String = text.split_whitespace().next().unwrap_or("alpha").into();
                    draft::add_comment(&mut client, &id, &quote, &t, &as_person, at)
                        .ok()
                        .map(|_| Effect::Comment { id, body: t })
                };
                client.commit();
                d.merge(&mut client).unwrap();
                effect
            }
            _ => None,
        };
        let r = &mut self.replicas[i];
        for d in r.docs.values_mut() {
            d.commit();
        }
        let heads = r.docs.get_mut(&draft_id).unwrap().get_heads();
        r.history.push(heads);
        r.known.insert(idx);
        if let Some(e) = effect {
            self.done.push((idx, e, past));
        }
    }
}

fn referee(dee: bool) -> Referee {
    Referee {
        name: if dee { "Dee" } else { "Bo" }.into(),
        node_id: node_str(4),
    }
}

/// `text` with `piece` inserted before a word chosen by `pos` (or at the end),
/// so that no word is split.
fn insert_at(text: &str, pos: u16, piece: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let starts: Vec<usize> = (0..=chars.len())
        .filter(|&k| k == 0 || k == chars.len() || chars[k - 1] == ' ')
        .collect();
    let at = starts[usize::from(pos) % starts.len()];
    chars[..at]
        .iter()
        .copied()
        .chain(piece.chars())
        .chain(chars[at..].iter().copied())
        .collect()
}

/// Everything a replica's documents read as, to compare replicas.
fn views(r: &mut Replica) -> BTreeMap<DocId, String> {
    r.docs
        .iter_mut()
        .map(|(id, d)| {
            let mut heads = d.get_heads();
            heads.sort();
            let view = match kind_of(d) {
                DocKind::Draft => format!(
                    "{heads:?}{:?}{:?}{:?}",
                    draft::read(d, None).unwrap(),
                    draft::comments(d).unwrap(),
                    review::read(d).unwrap()
                ),
                DocKind::Space => format!("{heads:?}{:?}", space::read(d).unwrap()),
                DocKind::Review => format!("{heads:?}{:?}", review::read_report(d).unwrap()),
                _ => format!("{heads:?}"),
            };
            (*id, view)
        })
        .collect()
}

fn run(n: usize, steps: Vec<Step>, order: u64) -> Result<(), TestCaseError> {
    let mut w = World::new(n);
    for s in steps {
        match s {
            Step::Act(i, op) => w.act(i, op),
            Step::Sync(i, j) => w.sync(i, j),
        }
    }
    // Everything into one replica, in an order from the seed, then back out.
    let mut perm: Vec<usize> = (0..n).collect();
    let mut x = order | 1;
    for k in (1..n).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        perm.swap(k, usize::try_from(x % (k as u64 + 1)).unwrap());
    }
    let hub = perm[0];
    for &j in &perm[1..] {
        w.sync(hub, j);
    }
    for &j in perm[1..].iter().rev() {
        w.sync(j, hub);
    }
    let first = views(&mut w.replicas[hub]);
    for j in 0..n {
        prop_assert_eq!(&views(&mut w.replicas[j]), &first, "replica {} differs", j);
    }

    let r = &mut w.replicas[hub];
    let d = r.docs.get(&w.draft).unwrap();
    let body = draft::read(d, None).unwrap();
    let comments = draft::comments(d).unwrap();
    let wf = review::read(d).unwrap();
    for (op, effect, past) in &w.done {
        match effect {
            Effect::Token(t) => prop_assert!(body.body.contains(t.as_str()), "{t} lost"),
            Effect::Comment { id, body } => prop_assert!(
                comments.iter().any(|c| &c.id == id && &c.body == body),
                "comment {id} lost"
            ),
            Effect::Reply { comment, body } => prop_assert!(
                comments
                    .iter()
                    .any(|c| &c.id == comment && c.replies.iter().any(|r| &r.body == body)),
                "reply {body} lost"
            ),
            Effect::Resolved(id) => prop_assert!(
                comments.iter().any(|c| &c.id == id && c.resolved),
                "resolution of {id} lost"
            ),
            Effect::Version { heads, author } => {
                let v = body
                    .versions
                    .iter()
                    .find(|v| &v.heads == heads && &v.author == author);
                prop_assert!(v.is_some(), "version by {author} lost");
            }
            Effect::Step(at) => {
                let all: Vec<(i64, &str)> = wf
                    .submissions
                    .iter()
                    .map(|s| (s.at, s.void.as_str()))
                    .chain(wf.assignments.iter().map(|a| (a.at, a.void.as_str())))
                    .chain(wf.decisions.iter().map(|d| (d.at, d.void.as_str())))
                    .chain(wf.publications.iter().map(|p| (p.at, p.void.as_str())))
                    .chain(wf.withdrawals.iter().map(|x| (x.at, x.void.as_str())))
                    .collect();
                let Some((_, void)) = all.iter().find(|(t, _)| t == at) else {
                    return Err(TestCaseError::fail(format!("review step {at} lost")));
                };
                if !void.is_empty() {
                    // The rule: a step is void only because a concurrent step
                    // (one its node had not seen) came first.
                    let idx = usize::try_from(at - 1000).unwrap();
                    let concurrent = all.iter().any(|(t, _)| {
                        let other = usize::try_from(t - 1000).unwrap();
                        other != idx && !past.contains(&other)
                    });
                    prop_assert!(
                        concurrent,
                        "step {at} void without a concurrent step: {void}"
                    );
                }
            }
            Effect::Report {
                round,
                referee,
                token,
            } => {
                let rid = review::report_id(
                    &w.draft,
                    *round,
                    &Referee {
                        name: referee.clone(),
                        node_id: node_str(4),
                    },
                );
                let doc = r.docs.get(&rid);
                prop_assert!(doc.is_some(), "report of {referee} lost");
                let rep = review::read_report(doc.unwrap()).unwrap();
                // The referee's later report replaces an earlier one.
                let later = w.done.iter().any(|(o, e, _)| {
                    matches!(e, Effect::Report { round: r2, referee: f2, .. }
                        if r2 == round && f2 == referee && o > op)
                });
                prop_assert!(later || rep.body == *token, "report {token} lost");
            }
            Effect::Doc(id) => prop_assert!(r.docs.contains_key(id), "document {id} lost"),
        }
    }
    // Workflow versions name what was submitted and published.
    for s in wf.submissions.iter().filter(|s| s.void.is_empty()) {
        prop_assert_eq!(wf.version_heads(&s.version), Some(s.heads.as_slice()));
    }

    // Membership: who is in the space follows from the rules.
    let sp = space::read(r.docs.get(&w.space).unwrap()).unwrap();
    for g in GUESTS {
        let present = sp.members.iter().find(|m| m.node_id == node_str(g));
        let ops: Vec<&(usize, Membership, u8, String, BTreeSet<usize>)> =
            w.membership.iter().filter(|m| m.2 == g).collect();
        if let Some(m) = present {
            prop_assert!(
                ops.iter()
                    .any(|o| o.1 != Membership::Remove && o.3 == m.role),
                "guest {g} has a role nobody gave: {}",
                m.role
            );
        }
        for (idx, kind, _, _, _) in &ops {
            let removed_after = |i: &usize| {
                ops.iter()
                    .any(|(_, k, _, _, p)| *k == Membership::Remove && p.contains(i))
            };
            match kind {
                // Added by an admin who did not see it as a member: stays
                // unless a removal came after it.
                Membership::AddNew => prop_assert!(
                    present.is_some() || removed_after(idx),
                    "guest {g} added by op {idx} is gone without a removal after it"
                ),
                // Removed: gone, unless added anew by an admin who had not
                // seen this removal (concurrently) or had (afterwards), and
                // not removed again after that.
                Membership::Remove => {
                    let (_, _, _, _, seen) = ops.iter().find(|o| o.0 == *idx).unwrap();
                    let re_added = ops.iter().any(|(i2, k2, _, _, _)| {
                        *k2 == Membership::AddNew && !seen.contains(i2) && !removed_after(i2)
                    });
                    prop_assert!(
                        present.is_none() || re_added,
                        "guest {g} removed by op {idx} is still there"
                    );
                }
                // A role change: the member stays unless removed (a removal
                // wins over a concurrent role change).
                Membership::SetRole => {
                    let (_, _, _, _, mine) = ops.iter().find(|o| o.0 == *idx).unwrap();
                    let removed = ops.iter().any(|(i2, k2, _, _, p2)| {
                        *k2 == Membership::Remove && (p2.contains(idx) || !mine.contains(i2))
                    });
                    prop_assert!(
                        present.is_some() || removed,
                        "guest {g} whose role op {idx} changed is gone without a removal"
                    );
                }
            }
        }
    }
    Ok(())
}

proptest! {
    // KP_MODEL_CASES=10000 for a longer search than the suite's.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("KP_MODEL_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(128),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Two to four nodes, random operations, random merges.
    #[test]
    fn every_operation_survives_concurrent_writers_and_merges_in_any_order(
        (n, steps) in (2usize..=4).prop_flat_map(|n| (Just(n), steps(n))),
        order in any::<u64>(),
    ) {
        run(n, steps, order)?;
    }
}

#[test]
fn the_classic_losses_do_not_happen() {
    // Two nodes comment while apart (they both used to mint `c1`), one
    // revises from a file made before the other's edit, and both review
    // steps taken apart are kept.
    let steps = vec![
        Step::Act(0, Op::Comment { pick: 0 }),
        Step::Act(1, Op::Comment { pick: 1 }),
        Step::Act(0, Op::Insert { at: 5 }),
        Step::Act(2, Op::EditFromFile { back: 5, at: 70 }),
        Step::Act(2, Op::Insert { at: 3 }),
        Step::Act(0, Op::EditFromFile { back: 1, at: 40 }),
        Step::Act(0, Op::Tag { label: 2 }),
        Step::Act(2, Op::Tag { label: 2 }),
        Step::Sync(1, 0),
        Step::Sync(1, 2),
        Step::Act(0, Op::Submit),
        Step::Sync(1, 0),
        Step::Act(1, Op::Assign { dee: false }),
        Step::Sync(3, 1),
        Step::Act(3, Op::Report { dee: false, rec: 1 }),
        Step::Sync(1, 3),
        Step::Act(1, Op::Decide { decision: 0 }),
        Step::Act(0, Op::Withdraw),
    ];
    run(4, steps, 7).unwrap();
}
