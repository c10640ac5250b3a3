//! The peer-review workflow of a draft, and referee reports.
//!
//! The workflow lives in the draft document, under `review`, so it replicates
//! with the draft. Each step is a record appended to a list (`submissions`,
//! `assignments`, `decisions`, `publications`, `withdrawals`), never changed
//! afterwards; the draft's status is not stored but follows from the records:
//!
//! ```text
//! draft ─submit─▶ in-review ─decide revise─▶ revision ─submit─▶ in-review …
//!                 in-review ─decide accept─▶ accepted ─publish─▶ published
//!                 in-review ─decide reject─▶ rejected
//! draft, in-review, revision, accepted ─withdraw─▶ withdrawn
//! ```
//!
//! **Concurrent steps.** The records are replayed in the order of the
//! operations that made them (automerge's Lamport counter, then the actor):
//! an order every node computes alike, and one in which every record comes
//! after everything its author had seen. A record that is not a legal step at
//! its place in that order (the chair accepted while, on another node, the
//! author withdrew; two chairs decided the same round) is kept, shown, and
//! marked void with the reason; it has no effect. Nothing is dropped, and
//! every node ends with the same status.
//!
//! **The rules of a real review**, checked by this node before it writes a
//! step and by every node on every step a partner sends (against the draft as
//! the step's author saw it, so every node judges a step alike):
//! - a credited author, on an editor or admin node, submits; an author, or the
//!   chair, withdraws;
//! - the chair (an admin of the space) assigns referees, decides and publishes;
//! - an author of the draft may neither referee it, nor assign its referees,
//!   nor decide on it: another admin of the space does;
//! - accept and reject rest on at least one referee's report of the round: the
//!   decision names the assigned referees whose reports the chair's node held;
//!   a revision may be asked for without one.
//!
//! Submitting pins the text as version `round-N`, publishing as `published-N`:
//! the pinned heads are in the record, apart from the versions users name (a
//! user's label cannot take those names).
//!
//! A referee report is a document of its own (kind `review`), whose id is
//! derived from the draft, the round and the referee: reporting again updates
//! the same report, and no two nodes can make two reports for one assignment.

use std::collections::BTreeSet;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ChangeHash, ObjId, ObjType, ROOT, ReadDoc};
use serde::Serialize;

use super::space::Role;
use super::{
    DocKind, ModelError, Recommendation, SCHEMA, Status, Verdict, View, check_line, draft,
    expect_kind, get_i64, get_obj, get_str, op_of,
};
use kp_core::authorship::Link;
use kp_core::identity::NodeId;
use kp_core::ids::DocId;

/// Longest decision or withdrawal note accepted.
pub const MAX_NOTE_CHARS: usize = 4000;

/// Who acts: the person, their node, and the node's role in the draft's space
/// (`None`: the node is not a member).
#[derive(Debug, Clone, Copy)]
pub struct Who<'a> {
    /// The person's name.
    pub name: &'a str,
    /// Their node's id.
    pub node_id: &'a str,
    /// Their institution.
    pub institution: &'a str,
    /// The node's role in the space.
    pub role: Option<Role>,
}

/// A referee, named `NAME@NODE_ID`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Referee {
    /// The person.
    pub name: String,
    /// Their node.
    pub node_id: String,
}

impl Referee {
    /// Parses `NAME@NODE_ID`.
    pub fn parse(s: &str) -> Result<Self, ModelError> {
        let (name, node) = s.rsplit_once('@').ok_or_else(|| {
            ModelError::invalid(format!(
                "a referee is named NAME@NODE_ID (the person, then their node's id); got `{s}`"
            ))
        })?;
        let name = check_line("a referee's name", name, 120)?;
        let node_id = node.trim();
        if node_id.parse::<NodeId>().is_err() {
            return Err(ModelError::invalid(format!(
                "`{node_id}` is not a node id (the one `kp status` shows on the referee's node)"
            )));
        }
        Ok(Self {
            name,
            node_id: node_id.to_owned(),
        })
    }

    /// `NAME@NODE_ID`.
    pub fn key(&self) -> String {
        format!("{}@{}", self.name, self.node_id)
    }
}

/// A round submitted to review.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Submission {
    /// 1, 2, …
    pub round: i64,
    /// The version it pins (`round-N`).
    pub version: String,
    /// Who submitted it.
    pub by: String,
    /// From which node.
    pub node_id: String,
    /// Unix seconds.
    pub at: i64,
    /// The heads of the text it pins, in hex.
    pub heads: Vec<String>,
    /// Why it has no effect (a concurrent step came first), or empty.
    pub void: String,
}

/// A referee assigned to a round.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assignment {
    /// The round.
    pub round: i64,
    /// The referee's name.
    pub referee: String,
    /// Their node.
    pub node_id: String,
    /// Their institution (from the space's members).
    pub institution: String,
    /// Due date, `YYYY-MM-DD`, or empty.
    pub due: String,
    /// The chair who assigned them.
    pub by: String,
    /// The chair's node.
    pub by_node: String,
    /// Unix seconds.
    pub at: i64,
    /// Why it has no effect, or empty.
    pub void: String,
}

impl Assignment {
    /// The referee as `NAME@NODE_ID`.
    pub fn referee(&self) -> Referee {
        Referee {
            name: self.referee.clone(),
            node_id: self.node_id.clone(),
        }
    }
}

/// A chair's decision on a round.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// The round decided.
    pub round: i64,
    /// A [`Verdict`]'s word, as recorded.
    pub decision: String,
    /// The chair's note to the authors.
    pub note: String,
    /// The chair.
    pub by: String,
    /// The chair's node.
    pub node_id: String,
    /// Unix seconds.
    pub at: i64,
    /// The referees (`NAME@NODE_ID`) whose reports on the round the chair's
    /// node held when deciding: a report not among them came in after the
    /// decision.
    pub reports: Vec<String>,
    /// Why it has no effect, or empty.
    pub void: String,
}

/// A publication of the draft.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Publication {
    /// The version it froze (`published-N`).
    pub version: String,
    /// Who published it.
    pub by: String,
    /// From which node.
    pub node_id: String,
    /// Unix seconds.
    pub at: i64,
    /// The heads of the text it froze, in hex.
    pub heads: Vec<String>,
    /// Why it has no effect, or empty.
    pub void: String,
}

/// A withdrawal of the draft.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Withdrawal {
    /// Who withdrew it.
    pub by: String,
    /// From which node.
    pub node_id: String,
    /// Unix seconds.
    pub at: i64,
    /// Why it has no effect, or empty.
    pub void: String,
}

/// The review state of a draft.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Workflow {
    /// The draft's status, as the records give it.
    pub status: Status,
    /// The latest round (0: never submitted).
    pub round: i64,
    /// Submissions, in the order they count.
    pub submissions: Vec<Submission>,
    /// Assignments, in the order they count.
    pub assignments: Vec<Assignment>,
    /// Decisions, in the order they count.
    pub decisions: Vec<Decision>,
    /// Publications, in the order they count.
    pub publications: Vec<Publication>,
    /// Withdrawals, in the order they count.
    pub withdrawals: Vec<Withdrawal>,
}

impl Workflow {
    /// The assignment of `name` at `node_id` in the latest round.
    pub fn assignment(&self, name: &str, node_id: &str) -> Option<&Assignment> {
        self.assignments.iter().find(|a| {
            a.void.is_empty() && a.round == self.round && a.referee == name && a.node_id == node_id
        })
    }

    /// The assignments of `round` that count.
    pub fn assigned(&self, round: i64) -> impl Iterator<Item = &Assignment> {
        self.assignments
            .iter()
            .filter(move |a| a.void.is_empty() && a.round == round)
    }

    /// The decision on `round` that counts, if one was made.
    pub fn decision(&self, round: i64) -> Option<&Decision> {
        self.decisions
            .iter()
            .find(|d| d.void.is_empty() && d.round == round)
    }

    /// The publications that count.
    pub fn published(&self) -> impl Iterator<Item = &Publication> {
        self.publications.iter().filter(|p| p.void.is_empty())
    }

    /// The heads a workflow version (`round-N`, `published-N`) pins, if it
    /// names one.
    pub fn version_heads(&self, label: &str) -> Option<&[String]> {
        let s = self
            .submissions
            .iter()
            .find(|s| s.void.is_empty() && s.version == label)
            .map(|s| s.heads.as_slice());
        s.or_else(|| {
            self.published()
                .find(|p| p.version == label)
                .map(|p| p.heads.as_slice())
        })
    }
}

/// Whether `label` has the form of a workflow version (`round-N`,
/// `published-N`): such names are the workflow's, not users'.
pub(crate) fn is_workflow_label(label: &str) -> bool {
    ["round-", "published-"].iter().any(|p| {
        label
            .strip_prefix(p)
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// The lists of the `review` map.
const LISTS: [&str; 5] = [
    "submissions",
    "assignments",
    "decisions",
    "publications",
    "withdrawals",
];

/// One record of any list, as read, with the operation that made it.
#[derive(Debug, Clone)]
struct Rec {
    obj: ObjId,
    op: (u64, automerge::ActorId),
    step: Step,
}

#[derive(Debug, Clone)]
enum Step {
    Submit(Submission),
    Assign(Assignment),
    Decide(Decision),
    Publish(Publication),
    Withdraw(Withdrawal),
}

impl Step {
    fn kind(&self) -> StepKind {
        match self {
            Step::Submit(_) => StepKind::Submit,
            Step::Assign(_) => StepKind::Assign,
            Step::Decide(_) => StepKind::Decide,
            Step::Publish(_) => StepKind::Publish,
            Step::Withdraw(_) => StepKind::Withdraw,
        }
    }

    /// The person and node that took the step.
    fn by(&self) -> (&str, &str) {
        match self {
            Step::Submit(s) => (&s.by, &s.node_id),
            Step::Assign(a) => (&a.by, &a.by_node),
            Step::Decide(d) => (&d.by, &d.node_id),
            Step::Publish(p) => (&p.by, &p.node_id),
            Step::Withdraw(w) => (&w.by, &w.node_id),
        }
    }

    /// The step in a few words: "Ana's withdrawal".
    fn describe(&self) -> String {
        let (by, _) = self.by();
        let by = if by.is_empty() { "someone" } else { by };
        match self {
            Step::Submit(s) => format!("{by}'s submission of round {}", s.round),
            Step::Assign(a) => format!("{by}'s assignment of {}", a.referee),
            Step::Decide(d) => format!("{by}'s decision ({})", d.decision),
            Step::Publish(_) => format!("{by}'s publication"),
            Step::Withdraw(_) => format!("{by}'s withdrawal"),
        }
    }

    fn set_void(&mut self, why: String) {
        match self {
            Step::Submit(s) => s.void = why,
            Step::Assign(a) => a.void = why,
            Step::Decide(d) => d.void = why,
            Step::Publish(p) => p.void = why,
            Step::Withdraw(w) => w.void = why,
        }
    }
}

fn read_step(v: &View<'_>, list: &str, m: &ObjId) -> Step {
    let s = |k: &str| v.str(m, k);
    let i = |k: &str| v.i64(m, k);
    match list {
        "submissions" => Step::Submit(Submission {
            round: i("round"),
            version: format!("round-{}", i("round")),
            by: s("by"),
            node_id: s("by_node"),
            at: i("at"),
            heads: v.strs(m, "heads"),
            void: String::new(),
        }),
        "assignments" => Step::Assign(Assignment {
            round: i("round"),
            referee: s("referee"),
            node_id: s("referee_node"),
            institution: s("institution"),
            due: s("due"),
            by: s("by"),
            by_node: s("by_node"),
            at: i("at"),
            void: String::new(),
        }),
        "decisions" => Step::Decide(Decision {
            round: i("round"),
            decision: s("decision"),
            note: s("note"),
            by: s("by"),
            node_id: s("by_node"),
            at: i("at"),
            reports: v.strs(m, "reports"),
            void: String::new(),
        }),
        "publications" => Step::Publish(Publication {
            version: String::new(),
            by: s("by"),
            node_id: s("by_node"),
            at: i("at"),
            heads: v.strs(m, "heads"),
            void: String::new(),
        }),
        _ => Step::Withdraw(Withdrawal {
            by: s("by"),
            node_id: s("by_node"),
            at: i("at"),
            void: String::new(),
        }),
    }
}

/// Every record of the workflow, in the order they count.
fn records(v: &View<'_>) -> Vec<Rec> {
    let Some(review) = v.obj(&ROOT, "review", ObjType::Map) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for list in LISTS {
        let Some(l) = v.obj(&review, list, ObjType::List) else {
            continue;
        };
        for m in v.maps(&l) {
            let Some(op) = op_of(&m) else { continue };
            out.push(Rec {
                step: read_step(v, list, &m),
                obj: m,
                op,
            });
        }
    }
    out.sort_by(|a, b| a.op.cmp(&b.op));
    out
}

/// Where the replay stands.
#[derive(Debug, Clone)]
struct State {
    status: Status,
    round: i64,
    /// The referees of each round, as `(round, NAME@NODE)`.
    assigned: BTreeSet<(i64, String)>,
    published: usize,
}

impl Default for State {
    fn default() -> Self {
        Self {
            status: Status::Draft,
            round: 0,
            assigned: BTreeSet::new(),
            published: 0,
        }
    }
}

/// The workflow's transition table: the statuses each step may be taken
/// from, and the status it leads to (`None`: it stays; a decision's follows
/// from its verdict, see [`Verdict::status`]).
const TRANSITIONS: [(StepKind, &[Status], Option<Status>); 5] = [
    (
        StepKind::Submit,
        &[Status::Draft, Status::Revision],
        Some(Status::InReview),
    ),
    (StepKind::Assign, &[Status::InReview], None),
    (StepKind::Decide, &[Status::InReview], None),
    (
        StepKind::Publish,
        &[Status::Accepted],
        Some(Status::Published),
    ),
    (
        StepKind::Withdraw,
        &[
            Status::Draft,
            Status::InReview,
            Status::Revision,
            Status::Accepted,
        ],
        Some(Status::Withdrawn),
    ),
];

/// The kinds of [`Step`], for the transition table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StepKind {
    Submit,
    Assign,
    Decide,
    Publish,
    Withdraw,
}

impl State {
    /// Takes `step` if it is legal here; otherwise says why not (and changes
    /// nothing).
    fn take(&mut self, step: &mut Step) -> Result<(), String> {
        let (_, from, to) = TRANSITIONS
            .iter()
            .find(|(kind, _, _)| *kind == step.kind())
            .expect("every kind of step is in the table");
        if !from.contains(&self.status) {
            let words: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
            return Err(format!(
                "the draft is {}; that needs a draft that is {}",
                self.status,
                words.join(" or ")
            ));
        }
        let mut next = *to;
        match step {
            Step::Submit(s) => {
                if s.round != self.round + 1 {
                    return Err(format!(
                        "round {} was submitted already (this submission claims round {})",
                        self.round, s.round
                    ));
                }
                self.round = s.round;
            }
            Step::Assign(a) => {
                if a.round != self.round {
                    return Err(format!(
                        "it names round {}, and the draft is in round {}",
                        a.round, self.round
                    ));
                }
                if !self.assigned.insert((a.round, a.referee().key())) {
                    return Err(format!(
                        "{} is already a referee of round {}",
                        a.referee().key(),
                        a.round
                    ));
                }
            }
            Step::Decide(d) => {
                if d.round != self.round {
                    return Err(format!(
                        "it names round {}, and the draft is in round {}",
                        d.round, self.round
                    ));
                }
                let verdict: Verdict = d
                    .decision
                    .parse()
                    .map_err(|_| format!("`{}` is no decision", d.decision))?;
                if verdict != Verdict::Revise
                    && !d
                        .reports
                        .iter()
                        .any(|r| self.assigned.contains(&(d.round, r.clone())))
                {
                    return Err(format!(
                        "no report of round {} by a referee of that round was in when the \
                         decision was made; to {} a draft, the chair needs at least one \
                         (ask for a revision without one with `decide revise`)",
                        d.round, d.decision
                    ));
                }
                next = Some(verdict.status());
            }
            Step::Publish(p) => {
                self.published += 1;
                p.version = format!("published-{}", self.published);
            }
            Step::Withdraw(_) => {}
        }
        if let Some(next) = next {
            self.status = next;
        }
        Ok(())
    }
}

/// Replays the records in order; the state reached and the records, each
/// marked void where it had no effect.
fn replay(recs: &mut [Rec]) -> State {
    let mut state = State::default();
    // The step that counted last, to name it when a later one has no effect.
    let mut last: Option<String> = None;
    for r in recs.iter_mut() {
        match state.take(&mut r.step) {
            Ok(()) => last = Some(r.step.describe()),
            Err(why) => {
                let before = last
                    .as_deref()
                    .map(|l| format!(", after {l}, which counts first"))
                    .unwrap_or_default();
                r.step.set_void(format!("no effect{before}: {why}"));
            }
        }
    }
    state
}

fn workflow(state: &State, recs: Vec<Rec>) -> Workflow {
    let mut w = Workflow {
        status: state.status,
        round: state.round,
        submissions: Vec::new(),
        assignments: Vec::new(),
        decisions: Vec::new(),
        publications: Vec::new(),
        withdrawals: Vec::new(),
    };
    for r in recs {
        match r.step {
            Step::Submit(s) => w.submissions.push(s),
            Step::Assign(a) => w.assignments.push(a),
            Step::Decide(d) => w.decisions.push(d),
            Step::Publish(p) => w.publications.push(p),
            Step::Withdraw(x) => w.withdrawals.push(x),
        }
    }
    w
}

/// Reads the review state of a draft.
pub fn read(doc: &AutoCommit) -> Result<Workflow, ModelError> {
    expect_kind(doc, DocKind::Draft)?;
    Ok(read_view(&View::now(doc)))
}

/// The review state of a draft as `v` shows it.
pub(crate) fn read_view(v: &View<'_>) -> Workflow {
    let mut recs = records(v);
    let state = replay(&mut recs);
    workflow(&state, recs)
}

/// Makes the `review` map and its lists where missing. New drafts have them
/// from the start (two nodes creating a list at one key concurrently would
/// each make their own, and one would hide the other).
pub(crate) fn ensure_lists(doc: &mut AutoCommit) -> Result<(), ModelError> {
    let review = match get_obj(doc, &ROOT, "review", ObjType::Map) {
        Some(r) => r,
        None => doc.put_object(ROOT, "review", ObjType::Map)?,
    };
    for key in LISTS {
        if get_obj(doc, &review, key, ObjType::List).is_none() {
            doc.put_object(&review, key, ObjType::List)?;
        }
    }
    Ok(())
}

/// Fails unless the draft holds every list of the workflow, empty (a new
/// draft has taken no step).
pub(crate) fn check_lists(doc: &AutoCommit) -> Result<(), String> {
    let review = get_obj(doc, &ROOT, "review", ObjType::Map).ok_or("`review` is missing")?;
    for key in LISTS {
        match get_obj(doc, &review, key, ObjType::List) {
            Some(l) if doc.length(&l) == 0 => {}
            Some(_) => return Err(format!("`review.{key}` of a new draft must be empty")),
            None => return Err(format!("`review.{key}` is missing or not a list")),
        }
    }
    Ok(())
}

/// A value of a record's field.
enum Field<'a> {
    Str(&'a str),
    Int(i64),
    Strs(&'a [String]),
}

/// Appends a record to the list `key` of `review`.
fn append(doc: &mut AutoCommit, key: &str, fields: &[(&str, Field<'_>)]) -> Result<(), ModelError> {
    ensure_lists(doc)?;
    let review = get_obj(doc, &ROOT, "review", ObjType::Map)
        .ok_or_else(|| ModelError::invalid("the draft has no review map"))?;
    let l = get_obj(doc, &review, key, ObjType::List)
        .ok_or_else(|| ModelError::invalid("the draft has no review list"))?;
    let i = doc.length(&l);
    let m = doc.insert_object(&l, i, ObjType::Map)?;
    for (k, v) in fields {
        match v {
            Field::Str(s) => doc.put(&m, *k, *s)?,
            Field::Int(n) => doc.put(&m, *k, *n)?,
            Field::Strs(list) => {
                let o = doc.put_object(&m, *k, ObjType::List)?;
                for (j, s) in list.iter().enumerate() {
                    doc.insert(&o, j, s.as_str())?;
                }
            }
        }
    }
    Ok(())
}

fn role_word(role: Option<Role>) -> String {
    match role {
        Some(r) => format!("a {} of the space", r.as_str()),
        None => "not a member of the space".to_owned(),
    }
}

/// Whether the person and node that took `step` were allowed to, on the
/// draft as `v` shows it (what they saw): the roles and the rules of a real
/// review. Local steps and partners' steps go through this one check.
fn permitted(v: &View<'_>, step: &Step, role: Option<Role>) -> Result<(), ModelError> {
    let forbid = |m: String| Err(ModelError::Forbidden(m));
    let authors = draft::authors_view(v);
    let is_author = |name: &str| authors.iter().any(|a| a.name == name);
    let (by, _) = step.by();
    if by.trim().is_empty() {
        return Err(ModelError::invalid(
            "a review step names the person taking it",
        ));
    }
    let chair = |doing: &str| {
        if role == Some(Role::Admin) {
            Ok(())
        } else {
            forbid(format!(
                "only the chair (an admin of the space) may {doing}; this node is {}",
                role_word(role)
            ))
        }
    };
    let not_author = |doing: &str| {
        if is_author(by) {
            forbid(format!(
                "{by} is an author of this draft and may not {doing}; another admin of the \
                 space does"
            ))
        } else {
            Ok(())
        }
    };
    match step {
        Step::Submit(_) => {
            if !matches!(role, Some(Role::Admin | Role::Editor)) {
                return forbid(format!(
                    "only an author on an editor or admin node may submit; this node is {}",
                    role_word(role)
                ));
            }
            if !is_author(by) {
                return forbid(format!(
                    "only a credited author may submit the draft, and {by} is not one"
                ));
            }
        }
        Step::Assign(a) => {
            chair("assign referees")?;
            not_author("choose its referees")?;
            if is_author(&a.referee) {
                return forbid(format!(
                    "{} is an author of this draft and cannot referee it",
                    a.referee
                ));
            }
        }
        Step::Decide(_) => {
            chair("decide")?;
            not_author("decide on it")?;
        }
        Step::Publish(_) => chair("publish")?,
        Step::Withdraw(_) => {
            let author = matches!(role, Some(Role::Admin | Role::Editor)) && is_author(by);
            if !author && role != Some(Role::Admin) {
                return forbid(format!(
                    "only a credited author or the chair may withdraw the draft; {by} on this \
                     node is neither"
                ));
            }
        }
    }
    Ok(())
}

/// Checks a step this node is about to take, against the draft as it is (who
/// may take it first, then whether the draft is ready for it), and records
/// it: appended to its list, with the draft's `status` copy updated.
fn take_step(
    doc: &mut AutoCommit,
    mut step: Step,
    role: Option<Role>,
    doing: &str,
) -> Result<Step, ModelError> {
    expect_kind(doc, DocKind::Draft)?;
    let status = {
        let v = View::now(doc);
        permitted(&v, &step, role)?;
        let mut recs = records(&v);
        let mut state = replay(&mut recs);
        state
            .take(&mut step)
            .map_err(|why| ModelError::State(format!("cannot {doing}: {why}")))?;
        state.status
    };
    let (list, fields) = step.fields();
    append(doc, list, &fields)?;
    doc.put(ROOT, "status", status.as_str())?;
    Ok(step)
}

impl Step {
    /// The list a step goes in, and its fields as stored.
    fn fields(&self) -> (&'static str, Vec<(&'static str, Field<'_>)>) {
        use Field::{Int, Str, Strs};
        match self {
            Step::Submit(s) => (
                "submissions",
                vec![
                    ("round", Int(s.round)),
                    ("by", Str(&s.by)),
                    ("by_node", Str(&s.node_id)),
                    ("at", Int(s.at)),
                    ("heads", Strs(&s.heads)),
                ],
            ),
            Step::Assign(a) => (
                "assignments",
                vec![
                    ("round", Int(a.round)),
                    ("referee", Str(&a.referee)),
                    ("referee_node", Str(&a.node_id)),
                    ("institution", Str(&a.institution)),
                    ("due", Str(&a.due)),
                    ("by", Str(&a.by)),
                    ("by_node", Str(&a.by_node)),
                    ("at", Int(a.at)),
                ],
            ),
            Step::Decide(d) => (
                "decisions",
                vec![
                    ("round", Int(d.round)),
                    ("decision", Str(&d.decision)),
                    ("note", Str(&d.note)),
                    ("by", Str(&d.by)),
                    ("by_node", Str(&d.node_id)),
                    ("at", Int(d.at)),
                    ("reports", Strs(&d.reports)),
                ],
            ),
            Step::Publish(p) => (
                "publications",
                vec![
                    ("by", Str(&p.by)),
                    ("by_node", Str(&p.node_id)),
                    ("at", Int(p.at)),
                    ("heads", Strs(&p.heads)),
                ],
            ),
            Step::Withdraw(w) => (
                "withdrawals",
                vec![
                    ("by", Str(&w.by)),
                    ("by_node", Str(&w.node_id)),
                    ("at", Int(w.at)),
                ],
            ),
        }
    }
}

fn heads_hex(doc: &mut AutoCommit) -> Vec<String> {
    doc.get_heads().iter().map(|h| h.to_string()).collect()
}

/// The step a [`take_step`] of kind `$kind` returned, as its record.
macro_rules! taken {
    ($step:expr, $kind:ident) => {
        match $step {
            Step::$kind(record) => Ok(record),
            _ => unreachable!("a step keeps its kind"),
        }
    };
}

/// Submits the draft (or its revision) to review: pins the current text as
/// version `round-N` and puts it in review. A credited author on an editor or
/// admin node may.
pub fn submit(doc: &mut AutoCommit, who: &Who<'_>, now: i64) -> Result<Submission, ModelError> {
    // Read before anything is written: these heads are the new change's parents.
    let heads = heads_hex(doc);
    let round = read(doc)?.round + 1;
    let step = Step::Submit(Submission {
        round,
        version: format!("round-{round}"),
        by: who.name.to_owned(),
        node_id: who.node_id.to_owned(),
        at: now,
        heads,
        void: String::new(),
    });
    taken!(
        take_step(doc, step, who.role, "submit it to review")?,
        Submit
    )
}

/// Assigns a referee to the current round. The chair may, unless an author of
/// the draft; the referee's node must be a member of the space (`institution`
/// is its institution there), and an author of the draft may not referee it.
pub fn assign(
    doc: &mut AutoCommit,
    who: &Who<'_>,
    referee: &Referee,
    institution: &str,
    due: &str,
    now: i64,
) -> Result<Assignment, ModelError> {
    let due = if due.trim().is_empty() {
        String::new()
    } else {
        super::date::format_day(super::date::parse_day(due)?)
    };
    let step = Step::Assign(Assignment {
        round: read(doc)?.round,
        referee: referee.name.clone(),
        node_id: referee.node_id.clone(),
        institution: institution.to_owned(),
        due,
        by: who.name.to_owned(),
        by_node: who.node_id.to_owned(),
        at: now,
        void: String::new(),
    });
    taken!(take_step(doc, step, who.role, "assign a referee")?, Assign)
}

fn check_note(note: &str) -> Result<String, ModelError> {
    if note.chars().count() > MAX_NOTE_CHARS {
        return Err(ModelError::TooLarge(format!(
            "the note is longer than {MAX_NOTE_CHARS} characters"
        )));
    }
    Ok(note.trim().to_owned())
}

/// Records the chair's decision on the current round: accept → accepted,
/// revise → revision, reject → rejected. `seen` are the referees of the round
/// whose reports the chair's node holds; accept and reject need one.
pub fn decide(
    doc: &mut AutoCommit,
    who: &Who<'_>,
    decision: Verdict,
    note: &str,
    seen: &[Referee],
    now: i64,
) -> Result<Decision, ModelError> {
    let mut reports: Vec<String> = seen.iter().map(Referee::key).collect();
    reports.sort();
    reports.dedup();
    let step = Step::Decide(Decision {
        round: read(doc)?.round,
        decision: decision.as_str().to_owned(),
        note: check_note(note)?,
        by: who.name.to_owned(),
        node_id: who.node_id.to_owned(),
        at: now,
        reports,
        void: String::new(),
    });
    let doing = format!("{decision} the draft");
    taken!(take_step(doc, step, who.role, &doing)?, Decide)
}

/// Publishes an accepted draft: pins the text as `published-N` (frozen: a
/// version never moves) and records the time. The chair may.
pub fn publish(doc: &mut AutoCommit, who: &Who<'_>, now: i64) -> Result<Publication, ModelError> {
    let step = Step::Publish(Publication {
        version: String::new(),
        by: who.name.to_owned(),
        node_id: who.node_id.to_owned(),
        at: now,
        heads: heads_hex(doc),
        void: String::new(),
    });
    taken!(take_step(doc, step, who.role, "publish")?, Publish)
}

/// Withdraws the draft. A credited author (on an editor or admin node) or the
/// chair may, until it is published.
pub fn withdraw(doc: &mut AutoCommit, who: &Who<'_>, now: i64) -> Result<Withdrawal, ModelError> {
    let step = Step::Withdraw(Withdrawal {
        by: who.name.to_owned(),
        node_id: who.node_id.to_owned(),
        at: now,
        void: String::new(),
    });
    taken!(take_step(doc, step, who.role, "withdraw it")?, Withdraw)
}

/// The records of a draft's append-only lists (the workflow's, and the named
/// versions), by the object that holds each, with their fields as read.
fn ledger(v: &View<'_>) -> Vec<(ObjId, String)> {
    let mut out: Vec<(ObjId, String)> = records(v)
        .into_iter()
        .map(|r| (r.obj, format!("{:?}", r.step)))
        .collect();
    out.extend(draft::version_records(v));
    out
}

/// The heads a document had before the changes `new` came in: the current
/// heads and the parents of the new changes, less the new changes. (Every
/// change before is an ancestor of one of them, and none after is.)
fn heads_before(doc: &mut AutoCommit, new: &[Link]) -> Vec<ChangeHash> {
    let fresh: BTreeSet<ChangeHash> = new.iter().map(|l| l.hash).collect();
    let mut out: BTreeSet<ChangeHash> = doc.get_heads().into_iter().collect();
    out.extend(new.iter().flat_map(|l| l.deps.iter().copied()));
    out.retain(|h| !fresh.contains(h));
    out.into_iter().collect()
}

/// Checks what the changes `new` (a partner's, not yet applied for good) do to
/// the review records and named versions of a draft:
/// earlier records are neither removed nor changed, and each new step is one
/// its author was allowed to take on the draft as they saw it (the status,
/// the roles in `roles`, the rules of a real review), named by the node that
/// signed it and pinning the heads it was made on.
pub fn check_new(
    doc: &mut AutoCommit,
    new: &[Link],
    roles: &super::space::Roles,
) -> Result<(), ModelError> {
    let refuse = |m: String| ModelError::Forbidden(m);
    let before = heads_before(doc, new);
    let then = ledger(&View::at(doc, &before));
    let now = ledger(&View::now(doc));
    for (obj, fields) in &then {
        match now.iter().find(|(o, _)| o == obj) {
            None => {
                return Err(refuse(
                    "the changes remove a recorded review step or named version; those are \
                     never removed"
                        .into(),
                ));
            }
            Some((_, f)) if f != fields => {
                return Err(refuse(
                    "the changes alter a recorded review step or named version; those are \
                     never changed"
                        .into(),
                ));
            }
            Some(_) => {}
        }
    }
    let known: BTreeSet<&ObjId> = then.iter().map(|(o, _)| o).collect();
    let fresh: Vec<Rec> = records(&View::now(doc))
        .into_iter()
        .filter(|r| !known.contains(&r.obj))
        .collect();
    for rec in fresh {
        let link = maker(&rec, new)?;
        let Some(node) = link.node() else {
            return Err(refuse(format!(
                "change {} was made by an actor that is no node",
                link.hash
            )));
        };
        let (_, by_node) = rec.step.by();
        if by_node != node.to_string() {
            return Err(refuse(format!(
                "change {} records a review step in the name of node {by_node}, but node {} \
                 made it",
                link.hash,
                node.short()
            )));
        }
        let parents = link.deps.clone();
        if let Step::Submit(Submission { heads, .. }) | Step::Publish(Publication { heads, .. }) =
            &rec.step
            && !pins_its_parents(doc, heads, &parents)
        {
            return Err(refuse(format!(
                "change {} pins a version other than the text it was made on",
                link.hash
            )));
        }
        let at = View::at(doc, &parents);
        let mut seen = records(&at);
        let mut state = replay(&mut seen);
        let mut step = rec.step.clone();
        permitted(&at, &step, roles.get(&node).copied()).map_err(|e| {
            refuse(format!(
                "change {} by node {}: {e}",
                link.hash,
                node.short()
            ))
        })?;
        state.take(&mut step).map_err(|e| {
            refuse(format!(
                "change {} by node {} takes a review step the draft was not ready for: {e}",
                link.hash,
                node.short()
            ))
        })?;
    }
    Ok(())
}

/// The new change that wrote record `rec`.
fn maker<'a>(rec: &Rec, new: &'a [Link]) -> Result<&'a Link, ModelError> {
    let (counter, actor) = &rec.op;
    new.iter()
        .find(|l| l.actor == *actor && (l.start_op..=l.max_op).contains(counter))
        .ok_or_else(|| ModelError::Forbidden("a review step that no new change made".into()))
}

/// The review steps the changes `new` add to a draft, with the change that
/// made each.
fn new_steps<'a>(
    doc: &mut AutoCommit,
    new: &'a [Link],
) -> Result<Vec<(Rec, &'a Link)>, ModelError> {
    let before = heads_before(doc, new);
    let known: BTreeSet<ObjId> = ledger(&View::at(doc, &before))
        .into_iter()
        .map(|(o, _)| o)
        .collect();
    records(&View::now(doc))
        .into_iter()
        .filter(|r| !known.contains(&r.obj))
        .map(|r| maker(&r, new).map(|l| (r, l)))
        .collect()
}

/// Holds the review steps that `new` adds to a draft to the space's people
/// (`people`): a step a node vouched a person wrote (a client's) is in that
/// person's name and within their role (the chair's steps need an admin, as
/// for nodes). [`check_new`] holds the same steps to the nodes' roles and the
/// workflow. That referees are the space's people ([`check_referee`]) is the
/// assigning node's check only: a chair who assigned a referee before hearing
/// that the space now names its people acted honestly, and a partner must not
/// refuse it.
pub fn check_people(
    doc: &mut AutoCommit,
    new: &[Link],
    people: &super::space::People,
) -> Result<(), ModelError> {
    let refuse = |m: String| ModelError::Forbidden(m);
    if new.iter().all(|l| l.by.is_none()) {
        return Ok(());
    }
    for (rec, link) in new_steps(doc, new)? {
        if let Some(v) = &link.by {
            let (by, _) = rec.step.by();
            if by != v.person {
                return Err(refuse(format!(
                    "change {} records a review step in the name of {by}, but {} wrote it",
                    link.hash, v.person
                )));
            }
            let at = View::at(doc, &link.deps);
            let role = people.get(&(v.node, v.person.clone())).copied();
            permitted(&at, &rec.step, role).map_err(|e| {
                refuse(format!(
                    "change {} by {}: {}",
                    link.hash,
                    v.person,
                    e.to_string()
                        .replace("this node is", "as a person, they are")
                ))
            })?;
        }
    }
    Ok(())
}

/// Fails unless `referee` may referee in a space with `people`: any person
/// at a member node when the space names no people; else one of its people
/// in a role that may write a report (not a reader).
pub fn check_referee(people: &super::space::People, referee: &Referee) -> Result<(), ModelError> {
    if people.is_empty() {
        return Ok(());
    }
    let role = referee
        .node_id
        .parse()
        .ok()
        .and_then(|node| people.get(&(node, referee.name.clone())));
    match role {
        Some(Role::Admin | Role::Editor | Role::Reviewer) => Ok(()),
        Some(_) => Err(ModelError::Forbidden(format!(
            "{} is a reader of the space and cannot referee; make them a reviewer first",
            referee.key()
        ))),
        None => Err(ModelError::Forbidden(format!(
            "{} is not among the people of the space, and its referees are its people; add \
             them with `kp space add-person`",
            referee.key()
        ))),
    }
}

/// Whether `pinned` (hex heads a record names) is the text a change with
/// `parents` was made on. A change's parents are the heads it was made on and,
/// should it not be among them, its actor's previous change (automerge adds
/// it), which the heads then cover.
fn pins_its_parents(doc: &mut AutoCommit, pinned: &[String], parents: &[ChangeHash]) -> bool {
    let Ok(pinned) = draft::parse_heads(pinned) else {
        return false;
    };
    if pinned.is_empty() || !pinned.iter().all(|h| parents.contains(h)) {
        return false;
    }
    let extra: Vec<&ChangeHash> = parents.iter().filter(|p| !pinned.contains(p)).collect();
    if extra.is_empty() {
        return true;
    }
    let after: BTreeSet<ChangeHash> = doc
        .get_changes_meta(&pinned)
        .iter()
        .map(|m| m.hash)
        .collect();
    extra.iter().all(|p| !after.contains(*p))
}

/// The id of the report of `referee` on `draft` in `round`: the same on every
/// node, so a second report updates the first.
pub fn report_id(draft: &DocId, round: i64, referee: &Referee) -> DocId {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(b"kp review report\0");
    ctx.update(draft.as_bytes());
    ctx.update(&round.to_be_bytes());
    ctx.update(referee.node_id.as_bytes());
    ctx.update(b"\0");
    ctx.update(referee.name.as_bytes());
    let d = ctx.finish();
    let mut id = [0u8; 16];
    id.copy_from_slice(&d.as_ref()[..16]);
    DocId::from_bytes(id)
}

/// A referee's report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The space's id.
    pub space: String,
    /// The draft's id.
    pub draft: String,
    /// The round reported on.
    pub round: i64,
    /// The version it was written on (`round-N`).
    pub version: String,
    /// The referee.
    pub referee: String,
    /// Their node.
    pub node_id: String,
    /// Their institution.
    pub institution: String,
    /// A [`Recommendation`]'s word.
    pub recommendation: String,
    /// The report's text (Markdown).
    pub body: String,
    /// When the referee was assigned (Unix seconds).
    pub assigned_at: i64,
    /// First submitted.
    pub submitted_at: i64,
    /// Last updated.
    pub updated_at: i64,
}

/// Checks that `who` may report on the draft now: it is in review and they are
/// assigned to its current round. Returns their assignment and the version.
pub fn may_report(doc: &AutoCommit, who: &Who<'_>) -> Result<(Assignment, String), ModelError> {
    let wf = read(doc)?;
    if wf.status != Status::InReview {
        return Err(ModelError::State(format!(
            "cannot report on it: the draft is {}; reports are written while it is in-review",
            wf.status
        )));
    }
    let a = wf.assignment(who.name, who.node_id).ok_or_else(|| {
        ModelError::Forbidden(format!(
            "{}@{} is not a referee of round {} of this draft",
            who.name, who.node_id, wf.round
        ))
    })?;
    Ok((a.clone(), format!("round-{}", wf.round)))
}

/// Fills a new report document.
pub fn init_report(doc: &mut AutoCommit, r: &Report) -> Result<(), ModelError> {
    let recommendation: Recommendation = r.recommendation.parse()?;
    doc.put(ROOT, "kind", DocKind::Review.as_str())?;
    doc.put(ROOT, "schema", SCHEMA)?;
    doc.put(ROOT, "space", r.space.as_str())?;
    doc.put(ROOT, "draft", r.draft.as_str())?;
    doc.put(
        ROOT,
        "title",
        format!("Report by {} on round {}", r.referee, r.round),
    )?;
    doc.put(ROOT, "round", r.round)?;
    doc.put(ROOT, "version", r.version.as_str())?;
    doc.put(ROOT, "referee", r.referee.as_str())?;
    doc.put(ROOT, "node_id", r.node_id.as_str())?;
    doc.put(ROOT, "institution", r.institution.as_str())?;
    doc.put(ROOT, "assigned_at", r.assigned_at)?;
    doc.put(ROOT, "submitted_at", r.submitted_at)?;
    let body = doc.put_object(ROOT, "body", ObjType::Text)?;
    doc.splice_text(&body, 0, 0, "")?;
    update_report(doc, recommendation, &r.body, r.updated_at)
}

/// Replaces a report's recommendation and text (a word-level edit of the text,
/// so concurrent edits by the referee on two machines merge).
pub fn update_report(
    doc: &mut AutoCommit,
    recommendation: Recommendation,
    body: &str,
    now: i64,
) -> Result<(), ModelError> {
    expect_kind(doc, DocKind::Review)?;
    doc.put(ROOT, "recommendation", recommendation.as_str())?;
    doc.put(ROOT, "updated_at", now)?;
    let text = get_obj(doc, &ROOT, "body", ObjType::Text)
        .ok_or_else(|| ModelError::invalid("the report has no text"))?;
    doc.update_text(&text, body)?;
    Ok(())
}

/// Reads a report.
pub fn read_report(doc: &AutoCommit) -> Result<Report, ModelError> {
    expect_kind(doc, DocKind::Review)?;
    let body = get_obj(doc, &ROOT, "body", ObjType::Text)
        .map(|t| doc.text(&t))
        .transpose()?
        .unwrap_or_default();
    Ok(Report {
        space: get_str(doc, &ROOT, "space"),
        draft: get_str(doc, &ROOT, "draft"),
        round: get_i64(doc, &ROOT, "round"),
        version: get_str(doc, &ROOT, "version"),
        referee: get_str(doc, &ROOT, "referee"),
        node_id: get_str(doc, &ROOT, "node_id"),
        institution: get_str(doc, &ROOT, "institution"),
        recommendation: get_str(doc, &ROOT, "recommendation"),
        body,
        assigned_at: get_i64(doc, &ROOT, "assigned_at"),
        submitted_at: get_i64(doc, &ROOT, "submitted_at"),
        updated_at: get_i64(doc, &ROOT, "updated_at"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::Roles;
    use automerge::ActorId;

    fn node(n: u8) -> NodeId {
        NodeId::from_bytes([n; 32])
    }

    fn actor(n: u8) -> ActorId {
        kp_core::ids::actor_id(&node(n), 1)
    }

    /// Ana (author, editor node 1), Carla (chair, admin node 2), Bo (referee,
    /// reviewer node 3), Chen (a second admin, node 4).
    struct Cast {
        ids: [String; 4],
    }

    impl Cast {
        fn new() -> Self {
            Self {
                ids: [1, 2, 3, 4].map(|n| node(n).to_string()),
            }
        }
        fn ana(&self) -> Who<'_> {
            who("Ana", &self.ids[0], Role::Editor)
        }
        fn carla(&self) -> Who<'_> {
            who("Carla", &self.ids[1], Role::Admin)
        }
        fn bo(&self) -> Who<'_> {
            who("Bo", &self.ids[2], Role::Reviewer)
        }
        fn chen(&self) -> Who<'_> {
            who("Chen", &self.ids[3], Role::Admin)
        }
        fn bo_referee(&self) -> Referee {
            Referee {
                name: "Bo".into(),
                node_id: self.ids[2].clone(),
            }
        }
        fn roles(&self) -> Roles {
            [
                (node(1), Role::Editor),
                (node(2), Role::Admin),
                (node(3), Role::Reviewer),
                (node(4), Role::Admin),
            ]
            .into_iter()
            .collect()
        }
    }

    fn who<'a>(name: &'a str, node_id: &'a str, role: Role) -> Who<'a> {
        Who {
            name,
            node_id,
            institution: "Inst",
            role: Some(role),
        }
    }

    /// A draft by Ana on node 1, written by node 1's actor.
    fn new_draft(cast: &Cast) -> AutoCommit {
        let mut doc = AutoCommit::new().with_actor(actor(1));
        let by = draft::Actor {
            author: "Ana",
            institution: "U",
            node_id: &cast.ids[0],
        };
        draft::init(
            &mut doc,
            &DocId::random(),
            "Paper",
            crate::DraftType::WorkingPaper,
            "Text.",
            &by,
            1,
        )
        .unwrap();
        doc.commit();
        doc
    }

    /// `doc` as node `n` holds it.
    fn on(doc: &mut AutoCommit, n: u8) -> AutoCommit {
        doc.fork().with_actor(actor(n))
    }

    /// Submitted by Ana, Bo assigned by Carla and his report in.
    fn reviewed(cast: &Cast) -> AutoCommit {
        let mut doc = new_draft(cast);
        submit(&mut doc, &cast.ana(), 2).unwrap();
        doc.commit();
        let mut doc = on(&mut doc, 2);
        assign(&mut doc, &cast.carla(), &cast.bo_referee(), "B", "", 3).unwrap();
        doc.commit();
        doc
    }

    /// The changes `doc` has that `base` has not, checked as a partner's.
    fn check_as_partner(
        doc: &mut AutoCommit,
        base: &[ChangeHash],
        roles: &Roles,
    ) -> Result<(), ModelError> {
        let new = kp_core::authorship::new_links(doc, base);
        check_new(doc, &new, roles)
    }

    #[test]
    fn with_people_named_referees_are_people_and_clients_act_in_their_own_name() {
        let cast = Cast::new();
        let mut doc = new_draft(&cast);
        submit(&mut doc, &cast.ana(), 2).unwrap();
        doc.commit();
        let base = doc.get_heads();
        let people: crate::space::People = [
            ((node(3), "Bo".to_string()), Role::Reviewer),
            ((node(3), "Rex".to_string()), Role::Reader),
            ((node(2), "Carla".to_string()), Role::Admin),
            ((node(2), "Dee".to_string()), Role::Editor),
        ]
        .into_iter()
        .collect();
        let mut assigned = |referee: &str, by: Option<&str>| {
            // Carla's node writes it, as itself or vouching for a client.
            let mut d = doc.fork().with_actor(match by {
                None => actor(2),
                Some(_) => ActorId::from(vec![5u8; 16]),
            });
            let r = Referee {
                name: referee.into(),
                node_id: cast.ids[2].clone(),
            };
            assign(&mut d, &cast.carla(), &r, "B", "", 3).unwrap();
            d.commit();
            let mut new = kp_core::authorship::new_links(&mut d, &base);
            for l in &mut new {
                l.by = by.map(|p| kp_core::authorship::Voucher {
                    node: node(2),
                    person: p.into(),
                });
            }
            check_new(&mut d, &new, &cast.roles())?;
            check_people(&mut d, &new, &people)
        };
        assigned("Bo", None).expect("a person of the space referees");
        // Whom a chair assigns is the assigning node's check (its own API),
        // not partners': a referee named before people were is kept.
        assigned("Zed", None).expect("partners take the chair's honest step");
        let zed = Referee {
            name: "Zed".into(),
            node_id: cast.ids[2].clone(),
        };
        let err = check_referee(&people, &zed).unwrap_err().to_string();
        assert!(err.contains("not among the people"), "{err}");
        let rex = Referee {
            name: "Rex".into(),
            node_id: cast.ids[2].clone(),
        };
        assert!(
            check_referee(&people, &rex)
                .unwrap_err()
                .to_string()
                .contains("reader")
        );
        // A client of Carla's node, vouched for as Carla, may; one vouched for
        // as Dee may not write the step in Carla's name, nor as chair.
        assigned("Bo", Some("Carla")).expect("the chair's own client");
        let err = assigned("Bo", Some("Dee")).unwrap_err().to_string();
        assert!(
            err.contains("in the name of Carla, but Dee wrote it"),
            "{err}"
        );
        // Without people, any person at a member node referees.
        assert!(
            check_referee(
                &crate::space::People::new(),
                &Referee {
                    name: "Zed".into(),
                    node_id: cast.ids[2].clone()
                }
            )
            .is_ok()
        );
    }

    #[test]
    fn the_workflow_refuses_steps_out_of_turn_and_by_the_wrong_people() {
        let cast = Cast::new();
        let mut doc = new_draft(&cast);
        let reader = who("Ana", &cast.ids[0], Role::Reader);
        assert!(matches!(
            submit(&mut doc, &reader, 2),
            Err(ModelError::Forbidden(_))
        ));
        let stranger = who("Zed", &cast.ids[0], Role::Editor);
        assert!(matches!(
            submit(&mut doc, &stranger, 2),
            Err(ModelError::Forbidden(_))
        ));
        assert!(matches!(
            decide(&mut doc, &cast.carla(), Verdict::Revise, "", &[], 2),
            Err(ModelError::State(_))
        ));
        let s = submit(&mut doc, &cast.ana(), 2).unwrap();
        assert_eq!((s.round, s.version.as_str()), (1, "round-1"));
        assert!(draft::version_heads(&mut doc, "round-1").is_ok());
        assert!(matches!(
            decide(&mut doc, &cast.ana(), Verdict::Revise, "", &[], 3),
            Err(ModelError::Forbidden(_))
        ));
        assert!(matches!(
            publish(&mut doc, &cast.carla(), 3),
            Err(ModelError::State(_))
        ));
        assert!("later".parse::<Verdict>().is_err());
        // No referee, no report: no accept and no reject.
        for d in [Verdict::Accept, Verdict::Reject] {
            let err = decide(&mut doc, &cast.carla(), d, "", &[], 3).unwrap_err();
            assert!(matches!(err, ModelError::State(_)), "{err}");
            assert!(err.to_string().contains("at least one"), "{err}");
        }
        // A report by someone who is no referee of the round does not count.
        let err = decide(
            &mut doc,
            &cast.carla(),
            Verdict::Accept,
            "",
            &[cast.bo_referee()],
            3,
        )
        .unwrap_err();
        assert!(err.to_string().contains("at least one"), "{err}");
        assign(
            &mut doc,
            &cast.carla(),
            &cast.bo_referee(),
            "B",
            "2026-12-01",
            3,
        )
        .unwrap();
        assert_eq!(read(&doc).unwrap().assignments[0].due, "2026-12-01");
        decide(
            &mut doc,
            &cast.carla(),
            Verdict::Reject,
            "Out of scope.",
            &[cast.bo_referee()],
            4,
        )
        .unwrap();
        let wf = read(&doc).unwrap();
        assert_eq!(wf.status, Status::Rejected);
        assert_eq!(draft::read(&doc, None).unwrap().status, Status::Rejected);
        assert_eq!(crate::summarize(&doc).status, "rejected");
        assert_eq!(wf.decision(1).unwrap().note, "Out of scope.");
        // A rejected draft cannot be withdrawn or resubmitted.
        assert!(matches!(
            withdraw(&mut doc, &cast.ana(), 5),
            Err(ModelError::State(_))
        ));
        assert!(matches!(
            submit(&mut doc, &cast.ana(), 5),
            Err(ModelError::State(_))
        ));
    }

    #[test]
    fn an_author_neither_referees_nor_assigns_nor_decides() {
        let cast = Cast::new();
        let mut doc = new_draft(&cast);
        // The chair is also an author (she edited the text).
        let chair_author = who("Ana", &cast.ids[1], Role::Admin);
        submit(&mut doc, &chair_author, 2).unwrap();
        let ana = Referee {
            name: "Ana".into(),
            node_id: cast.ids[2].clone(),
        };
        let err = assign(&mut doc, &cast.carla(), &ana, "B", "", 3).unwrap_err();
        assert!(err.to_string().contains("cannot referee"), "{err}");
        let err = assign(&mut doc, &chair_author, &cast.bo_referee(), "B", "", 3).unwrap_err();
        assert!(err.to_string().contains("another admin"), "{err}");
        assign(&mut doc, &cast.carla(), &cast.bo_referee(), "B", "", 3).unwrap();
        let err = decide(
            &mut doc,
            &chair_author,
            Verdict::Accept,
            "",
            &[cast.bo_referee()],
            4,
        )
        .unwrap_err();
        assert!(matches!(err, ModelError::Forbidden(_)), "{err}");
        assert!(err.to_string().contains("another admin"), "{err}");
        decide(
            &mut doc,
            &cast.carla(),
            Verdict::Accept,
            "",
            &[cast.bo_referee()],
            4,
        )
        .unwrap();
        publish(&mut doc, &cast.carla(), 5).unwrap();
        let wf = read(&doc).unwrap();
        assert_eq!(wf.status, Status::Published);
        assert!(wf.version_heads("published-1").is_some());
        assert!(draft::version_heads(&mut doc, "published-1").is_ok());
    }

    #[test]
    fn authors_and_chairs_withdraw_and_referees_report_only_when_assigned() {
        let cast = Cast::new();
        let mut doc = reviewed(&cast);
        assert!(may_report(&doc, &cast.bo()).is_ok());
        let other = who("Bo", &cast.ids[0], Role::Reviewer);
        assert!(matches!(
            may_report(&doc, &other),
            Err(ModelError::Forbidden(_))
        ));
        assert!(matches!(
            withdraw(&mut doc, &cast.bo(), 4),
            Err(ModelError::Forbidden(_))
        ));
        withdraw(&mut doc, &cast.ana(), 4).unwrap();
        let wf = read(&doc).unwrap();
        assert_eq!(wf.status, Status::Withdrawn);
        assert_eq!(wf.withdrawals.len(), 1);
        assert!(matches!(
            may_report(&doc, &cast.bo()),
            Err(ModelError::State(_))
        ));
    }

    fn merged(a: &mut AutoCommit, b: &mut AutoCommit) -> (AutoCommit, AutoCommit) {
        let mut ab = a.fork();
        ab.merge(b).unwrap();
        let mut ba = b.fork();
        ba.merge(a).unwrap();
        (ab, ba)
    }

    #[test]
    fn concurrent_decisions_are_both_kept_and_one_counts_everywhere() {
        let cast = Cast::new();
        let mut doc = reviewed(&cast);
        let mut carla = on(&mut doc, 2);
        let mut chen = on(&mut doc, 4);
        decide(
            &mut carla,
            &cast.carla(),
            Verdict::Accept,
            "",
            &[cast.bo_referee()],
            5,
        )
        .unwrap();
        decide(
            &mut chen,
            &cast.chen(),
            Verdict::Revise,
            "More data.",
            &[],
            5,
        )
        .unwrap();
        let (one, two) = merged(&mut carla, &mut chen);
        let (w1, w2) = (read(&one).unwrap(), read(&two).unwrap());
        assert_eq!(w1, w2);
        assert_eq!(w1.decisions.len(), 2);
        let counting: Vec<&Decision> = w1.decisions.iter().filter(|d| d.void.is_empty()).collect();
        assert_eq!(counting.len(), 1);
        let void = w1.decisions.iter().find(|d| !d.void.is_empty()).unwrap();
        assert!(void.void.contains("no effect"), "{}", void.void);
        let expected = if counting[0].decision == "accept" {
            Status::Accepted
        } else {
            Status::Revision
        };
        assert_eq!(w1.status, expected);
        assert_eq!(w1.decision(1), Some(counting[0]));
        assert_eq!(crate::summarize(&one).status, expected.as_str());
    }

    #[test]
    fn a_withdrawal_and_a_decision_made_apart_settle_alike_everywhere() {
        let cast = Cast::new();
        let mut doc = reviewed(&cast);
        let mut author = on(&mut doc, 1);
        let mut chair = on(&mut doc, 2);
        withdraw(&mut author, &cast.ana(), 5).unwrap();
        decide(
            &mut chair,
            &cast.carla(),
            Verdict::Accept,
            "",
            &[cast.bo_referee()],
            5,
        )
        .unwrap();
        publish(&mut chair, &cast.carla(), 6).unwrap();
        let (one, two) = merged(&mut author, &mut chair);
        let (w1, w2) = (read(&one).unwrap(), read(&two).unwrap());
        assert_eq!(w1, w2);
        assert_eq!(w1.withdrawals.len(), 1);
        assert_eq!(w1.decisions.len(), 1);
        assert_eq!(w1.publications.len(), 1);
        // Whichever came first in the shared order counts; the rest say why not.
        match w1.status {
            Status::Withdrawn => {
                assert!(!w1.decisions[0].void.is_empty());
                assert!(!w1.publications[0].void.is_empty());
                assert!(w1.version_heads("published-1").is_none());
            }
            Status::Published => assert!(!w1.withdrawals[0].void.is_empty()),
            other => panic!("unexpected status {other}"),
        }
    }

    #[test]
    fn two_authors_submitting_the_same_round_apart_keep_one_round() {
        let cast = Cast::new();
        let mut doc = new_draft(&cast);
        let mut ana = on(&mut doc, 1);
        let mut chen = on(&mut doc, 4);
        let chen_author = draft::Actor {
            author: "Chen",
            institution: "C",
            node_id: &cast.ids[3],
        };
        draft::set_body(&mut chen, "Text, revised by Chen.", &chen_author).unwrap();
        chen.commit();
        let chen_who = who("Chen", &cast.ids[3], Role::Admin);
        let a = submit(&mut ana, &cast.ana(), 2).unwrap();
        let c = submit(&mut chen, &chen_who, 2).unwrap();
        let (mut one, two) = merged(&mut ana, &mut chen);
        let (w1, w2) = (read(&one).unwrap(), read(&two).unwrap());
        assert_eq!(w1, w2);
        assert_eq!((w1.round, w1.status), (1, Status::InReview));
        assert_eq!(w1.submissions.len(), 2);
        let counting = w1.submissions.iter().find(|s| s.void.is_empty()).unwrap();
        assert!(counting.heads == a.heads || counting.heads == c.heads);
        assert_eq!(w1.version_heads("round-1"), Some(counting.heads.as_slice()));
        // And the text of round-1 is that submission's.
        let heads = draft::version_heads(&mut one, "round-1").unwrap();
        let text = draft::read(&one, Some(&heads)).unwrap().body;
        let expected = if counting.by == "Chen" {
            "Text, revised by Chen."
        } else {
            "Text."
        };
        assert_eq!(text, expected);
    }

    #[test]
    fn a_partners_honest_steps_pass_and_forged_ones_are_refused() {
        let cast = Cast::new();
        let roles = cast.roles();
        let mut doc = new_draft(&cast);
        let base = doc.get_heads();
        submit(&mut doc, &cast.ana(), 2).unwrap();
        doc.commit();
        check_as_partner(&mut doc, &base, &roles).expect("an author submits");
        let submitted = doc.get_heads();

        // Honest: the chair assigns Bo and, with his report, accepts.
        let mut chair = on(&mut doc, 2);
        assign(&mut chair, &cast.carla(), &cast.bo_referee(), "B", "", 3).unwrap();
        chair.commit();
        decide(
            &mut chair,
            &cast.carla(),
            Verdict::Accept,
            "",
            &[cast.bo_referee()],
            4,
        )
        .unwrap();
        chair.commit();
        check_as_partner(&mut chair, &submitted, &roles).expect("the chair's steps pass");

        // An editor node writing a decision: only the chair decides.
        let mut editor = on(&mut doc, 1);
        let as_chair = who("Carla", &cast.ids[0], Role::Admin);
        assign(&mut editor, &as_chair, &cast.bo_referee(), "B", "", 3).unwrap();
        editor.commit();
        let err = check_as_partner(&mut editor, &submitted, &roles).unwrap_err();
        assert!(err.to_string().contains("only the chair"), "{err}");

        // A chair's node deciding in the name of another node.
        let mut forger = on(&mut doc, 4);
        let in_carlas_name = who("Chen", &cast.ids[1], Role::Admin);
        assign(&mut forger, &in_carlas_name, &cast.bo_referee(), "B", "", 3).unwrap();
        forger.commit();
        let err = check_as_partner(&mut forger, &submitted, &roles).unwrap_err();
        assert!(err.to_string().contains("in the name of node"), "{err}");

        // An accept with no report, written past the local check.
        let mut hasty = on(&mut doc, 2);
        append(
            &mut hasty,
            "decisions",
            &[
                ("round", Field::Int(1)),
                ("decision", Field::Str("accept")),
                ("by", Field::Str("Carla")),
                ("by_node", Field::Str(&cast.ids[1])),
                ("at", Field::Int(4)),
                ("reports", Field::Strs(&[])),
            ],
        )
        .unwrap();
        hasty.commit();
        let err = check_as_partner(&mut hasty, &submitted, &roles).unwrap_err();
        assert!(err.to_string().contains("at least one"), "{err}");

        // A publication of a draft nobody accepted.
        let mut eager = on(&mut doc, 2);
        let heads: Vec<String> = eager.get_heads().iter().map(|h| h.to_string()).collect();
        append(
            &mut eager,
            "publications",
            &[
                ("by", Field::Str("Carla")),
                ("by_node", Field::Str(&cast.ids[1])),
                ("at", Field::Int(4)),
                ("heads", Field::Strs(&heads)),
            ],
        )
        .unwrap();
        eager.commit();
        let err = check_as_partner(&mut eager, &submitted, &roles).unwrap_err();
        assert!(err.to_string().contains("not ready"), "{err}");

        // A submission record removed, or changed.
        let mut eraser = on(&mut doc, 2);
        let review = get_obj(&eraser, &ROOT, "review", ObjType::Map).unwrap();
        let subs = get_obj(&eraser, &review, "submissions", ObjType::List).unwrap();
        eraser.delete(&subs, 0).unwrap();
        eraser.commit();
        let err = check_as_partner(&mut eraser, &submitted, &roles).unwrap_err();
        assert!(err.to_string().contains("never removed"), "{err}");
        let mut changer = on(&mut doc, 2);
        let first = crate::list_obj(&changer, &subs, 0, ObjType::Map).unwrap();
        changer.put(&first, "by", "Somebody").unwrap();
        changer.commit();
        let err = check_as_partner(&mut changer, &submitted, &roles).unwrap_err();
        assert!(err.to_string().contains("never changed"), "{err}");
    }

    #[test]
    fn steps_made_apart_pass_everywhere_in_any_order() {
        // A decision and a withdrawal made apart: each was legal where it was
        // made, so every node takes both (one then has no effect), in
        // whichever order they arrive.
        let cast = Cast::new();
        let roles = cast.roles();
        let mut doc = reviewed(&cast);
        let base = doc.get_heads();
        let mut author = on(&mut doc, 1);
        let mut chair = on(&mut doc, 2);
        withdraw(&mut author, &cast.ana(), 5).unwrap();
        author.commit();
        decide(
            &mut chair,
            &cast.carla(),
            Verdict::Accept,
            "",
            &[cast.bo_referee()],
            5,
        )
        .unwrap();
        chair.commit();
        let mut a_first = author.fork();
        a_first.merge(&mut chair).unwrap();
        let after_author = author.get_heads();
        check_as_partner(&mut a_first, &after_author, &roles).expect("the decision passes");
        let mut c_first = chair.fork();
        c_first.merge(&mut author).unwrap();
        let after_chair = chair.get_heads();
        check_as_partner(&mut c_first, &after_chair, &roles).expect("the withdrawal passes");
        check_as_partner(&mut c_first, &base, &roles).expect("both pass together");
    }

    #[test]
    fn report_ids_differ_by_round_and_referee() {
        let cast = Cast::new();
        let d = DocId::random();
        let bo = cast.bo_referee();
        let dee = Referee::parse(&format!("Dee@{}", cast.ids[2])).unwrap();
        assert_eq!(report_id(&d, 1, &bo), report_id(&d, 1, &bo));
        assert_ne!(report_id(&d, 1, &bo), report_id(&d, 2, &bo));
        assert_ne!(report_id(&d, 1, &bo), report_id(&d, 1, &dee));
        assert!(Referee::parse("Bo").is_err());
        assert!(Referee::parse("@x").is_err());
        assert!(is_workflow_label("round-1") && is_workflow_label("published-12"));
        assert!(!is_workflow_label("round-") && !is_workflow_label("round-one"));
    }
}
