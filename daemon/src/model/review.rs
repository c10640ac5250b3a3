//! The peer-review workflow of a draft, and referee reports.
//!
//! The workflow lives in the draft document, under `review`, so it replicates
//! with the draft: the rounds submitted (each pins a version `round-N`), the
//! referees assigned per round, the chair's decisions and the publications
//! (each pins a version `published-N`). The draft's `status` follows:
//!
//! ```text
//! draft ─submit─▶ in-review ─decide revise─▶ revision ─submit─▶ in-review …
//!                 in-review ─decide accept─▶ accepted ─publish─▶ published
//!                 in-review ─decide reject─▶ rejected
//! draft, in-review, revision, accepted ─withdraw─▶ withdrawn
//! ```
//!
//! Who may do what follows the acting node's role in the space and the person's
//! name: a credited author (on an editor or admin node) submits and withdraws;
//! the chair (any admin of the space) assigns referees, decides, publishes and
//! may withdraw; an assigned referee reports. Each step checks the status it
//! starts from, so an illegal transition is an error that changes nothing.
//!
//! A referee report is a document of its own (kind `review`), whose id is
//! derived from the draft, the round and the referee: reporting again updates
//! the same report, and no two nodes can make two reports for one assignment.

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ObjType, ROOT, ReadDoc};
use serde::Serialize;

use super::space::Role;
use super::{
    DocKind, ModelError, SCHEMA, check_line, draft, expect_kind, get_i64, get_obj, get_str,
    list_obj,
};
use crate::ids::DocId;

/// A referee's recommendation.
pub const RECOMMENDATIONS: [&str; 4] = ["accept", "minor", "major", "reject"];
/// The chair's decisions.
pub const DECISIONS: [&str; 3] = ["accept", "revise", "reject"];
/// Longest decision note accepted.
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
#[derive(Debug, Clone, PartialEq, Eq)]
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
        if node_id.parse::<crate::identity::NodeId>().is_err() {
            return Err(ModelError::invalid(format!(
                "`{node_id}` is not a node id (the one `kp status` shows on the referee's node)"
            )));
        }
        Ok(Self {
            name,
            node_id: node_id.to_owned(),
        })
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
    /// Unix seconds.
    pub at: i64,
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
    /// Unix seconds.
    pub at: i64,
}

/// A chair's decision on a round.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// The round decided.
    pub round: i64,
    /// One of [`DECISIONS`].
    pub decision: String,
    /// The chair's note to the authors.
    pub note: String,
    /// The chair.
    pub by: String,
    /// The chair's node.
    pub node_id: String,
    /// Unix seconds.
    pub at: i64,
    /// The reports on the round the chair's node held when deciding (their
    /// ids): a report not among them came in after the decision.
    pub reports: Vec<String>,
}

/// A publication of the draft.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Publication {
    /// The version it froze (`published-N`).
    pub version: String,
    /// Who published it.
    pub by: String,
    /// Unix seconds.
    pub at: i64,
}

/// The review state of a draft.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Workflow {
    /// The draft's status.
    pub status: String,
    /// The latest round (0: never submitted).
    pub round: i64,
    /// Rounds, in order.
    pub submissions: Vec<Submission>,
    /// Assignments, by round then time.
    pub assignments: Vec<Assignment>,
    /// Decisions, in time order.
    pub decisions: Vec<Decision>,
    /// Publications, in order.
    pub publications: Vec<Publication>,
}

impl Workflow {
    /// The assignment of `name` at `node_id` in the latest round.
    pub fn assignment(&self, name: &str, node_id: &str) -> Option<&Assignment> {
        self.assignments
            .iter()
            .find(|a| a.round == self.round && a.referee == name && a.node_id == node_id)
    }

    /// The decision on `round`, if one was made (the latest, should two chairs
    /// have decided concurrently).
    pub fn decision(&self, round: i64) -> Option<&Decision> {
        self.decisions.iter().rev().find(|d| d.round == round)
    }
}

fn list(doc: &AutoCommit, review: &Option<ObjId>, key: &str) -> Vec<ObjId> {
    let Some(l) = review
        .as_ref()
        .and_then(|r| get_obj(doc, r, key, ObjType::List))
    else {
        return Vec::new();
    };
    (0..doc.length(&l))
        .filter_map(|i| list_obj(doc, &l, i, ObjType::Map))
        .collect()
}

/// Reads the review state of a draft.
pub fn read(doc: &AutoCommit) -> Result<Workflow, ModelError> {
    expect_kind(doc, DocKind::Draft)?;
    let review = get_obj(doc, &ROOT, "review", ObjType::Map);
    let submissions: Vec<Submission> = list(doc, &review, "submissions")
        .into_iter()
        .map(|m| Submission {
            round: get_i64(doc, &m, "round"),
            version: get_str(doc, &m, "version"),
            by: get_str(doc, &m, "by"),
            at: get_i64(doc, &m, "at"),
        })
        .collect();
    let mut assignments: Vec<Assignment> = list(doc, &review, "assignments")
        .into_iter()
        .map(|m| Assignment {
            round: get_i64(doc, &m, "round"),
            referee: get_str(doc, &m, "referee"),
            node_id: get_str(doc, &m, "node_id"),
            institution: get_str(doc, &m, "institution"),
            due: get_str(doc, &m, "due"),
            by: get_str(doc, &m, "by"),
            at: get_i64(doc, &m, "at"),
        })
        .collect();
    assignments.sort_by_key(|a| (a.round, a.at));
    let mut decisions: Vec<Decision> = list(doc, &review, "decisions")
        .into_iter()
        .map(|m| Decision {
            round: get_i64(doc, &m, "round"),
            decision: get_str(doc, &m, "decision"),
            note: get_str(doc, &m, "note"),
            by: get_str(doc, &m, "by"),
            node_id: get_str(doc, &m, "node_id"),
            at: get_i64(doc, &m, "at"),
            reports: get_obj(doc, &m, "reports", ObjType::List)
                .map(|l| {
                    (0..doc.length(&l))
                        .filter_map(|i| match doc.get(&l, i) {
                            Ok(Some((automerge::Value::Scalar(v), _))) => {
                                v.as_str().map(str::to_owned)
                            }
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect();
    decisions.sort_by_key(|d| (d.round, d.at));
    let publications = list(doc, &review, "publications")
        .into_iter()
        .map(|m| Publication {
            version: get_str(doc, &m, "version"),
            by: get_str(doc, &m, "by"),
            at: get_i64(doc, &m, "at"),
        })
        .collect();
    Ok(Workflow {
        status: get_str(doc, &ROOT, "status"),
        round: submissions.iter().map(|s| s.round).max().unwrap_or(0),
        submissions,
        assignments,
        decisions,
        publications,
    })
}

/// The lists of the `review` map.
const LISTS: [&str; 4] = ["submissions", "assignments", "decisions", "publications"];

/// Makes the `review` map and its lists where missing. New drafts have them
/// from the start; older ones get them at their first submission, before
/// anyone else can act on the review. (Two nodes creating a list at one key
/// concurrently would each make their own, and one would hide the other.)
pub fn ensure_lists(doc: &mut AutoCommit) -> Result<(), ModelError> {
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

/// Appends a record (string and integer fields) to the list `key` of `review`.
fn append(
    doc: &mut AutoCommit,
    key: &str,
    strings: &[(&str, &str)],
    ints: &[(&str, i64)],
) -> Result<ObjId, ModelError> {
    let review = match get_obj(doc, &ROOT, "review", ObjType::Map) {
        Some(r) => r,
        None => doc.put_object(ROOT, "review", ObjType::Map)?,
    };
    let l = match get_obj(doc, &review, key, ObjType::List) {
        Some(l) => l,
        None => doc.put_object(&review, key, ObjType::List)?,
    };
    let i = doc.length(&l);
    let m = doc.insert_object(&l, i, ObjType::Map)?;
    for (k, v) in strings {
        doc.put(&m, *k, *v)?;
    }
    for (k, v) in ints {
        doc.put(&m, *k, *v)?;
    }
    Ok(m)
}

fn refuse(msg: String) -> ModelError {
    ModelError::invalid(msg)
}

fn forbid(msg: String) -> ModelError {
    ModelError::Forbidden(msg)
}

fn expect_status(wf: &Workflow, allowed: &[&str], doing: &str) -> Result<(), ModelError> {
    if allowed.contains(&wf.status.as_str()) {
        return Ok(());
    }
    Err(ModelError::State(format!(
        "cannot {doing}: the draft is {}; that needs a draft that is {}",
        wf.status,
        allowed.join(" or ")
    )))
}

fn is_author(doc: &AutoCommit, name: &str) -> Result<bool, ModelError> {
    Ok(draft::read(doc, None)?
        .authors
        .iter()
        .any(|a| a.name == name))
}

fn expect_chair(who: &Who<'_>, doing: &str) -> Result<(), ModelError> {
    if who.role == Some(Role::Admin) {
        return Ok(());
    }
    Err(forbid(format!(
        "only the chair (an admin of the space) may {doing}; this node is {}",
        role_word(who.role)
    )))
}

fn role_word(role: Option<Role>) -> String {
    match role {
        Some(r) => format!("a {} of the space", r.as_str()),
        None => "not a member of the space".to_owned(),
    }
}

/// Submits the draft (or its revision) to review: pins the current text as
/// version `round-N` and sets the status to in-review. A credited author on an
/// editor or admin node may.
pub fn submit(doc: &mut AutoCommit, who: &Who<'_>, now: i64) -> Result<Submission, ModelError> {
    let wf = read(doc)?;
    expect_status(&wf, &["draft", "revision"], "submit it to review")?;
    if !matches!(who.role, Some(Role::Admin | Role::Editor)) {
        return Err(forbid(format!(
            "only an author on an editor or admin node may submit; this node is {}",
            role_word(who.role)
        )));
    }
    if !is_author(doc, who.name)? {
        return Err(forbid(format!(
            "only a credited author may submit the draft, and {} is not one",
            who.name
        )));
    }
    ensure_lists(doc)?;
    let round = wf.round + 1;
    let version = format!("round-{round}");
    draft::tag_version(doc, &version, who.name, now)?;
    doc.put(ROOT, "status", "in-review")?;
    append(
        doc,
        "submissions",
        &[("version", &version), ("by", who.name)],
        &[("round", round), ("at", now)],
    )?;
    Ok(Submission {
        round,
        version,
        by: who.name.to_owned(),
        at: now,
    })
}

/// Assigns a referee to the current round. The chair may; the referee's node
/// must be a member of the space (`institution` is its institution there), and
/// an author of the draft may not referee it.
pub fn assign(
    doc: &mut AutoCommit,
    who: &Who<'_>,
    referee: &Referee,
    institution: &str,
    due: &str,
    now: i64,
) -> Result<Assignment, ModelError> {
    let wf = read(doc)?;
    expect_chair(who, "assign referees")?;
    expect_status(&wf, &["in-review"], "assign a referee")?;
    if is_author(doc, &referee.name)? {
        return Err(refuse(format!(
            "{} is an author of this draft and cannot referee it",
            referee.name
        )));
    }
    if wf.assignment(&referee.name, &referee.node_id).is_some() {
        return Err(ModelError::Exists(format!(
            "{}@{} is already a referee of round {}",
            referee.name, referee.node_id, wf.round
        )));
    }
    let due = if due.trim().is_empty() {
        String::new()
    } else {
        super::date::format_day(super::date::parse_day(due)?)
    };
    append(
        doc,
        "assignments",
        &[
            ("referee", &referee.name),
            ("node_id", &referee.node_id),
            ("institution", institution),
            ("due", &due),
            ("by", who.name),
        ],
        &[("round", wf.round), ("at", now)],
    )?;
    Ok(Assignment {
        round: wf.round,
        referee: referee.name.clone(),
        node_id: referee.node_id.clone(),
        institution: institution.to_owned(),
        due,
        by: who.name.to_owned(),
        at: now,
    })
}

/// Records the chair's decision on the current round and moves the status:
/// accept → accepted, revise → revision, reject → rejected. `seen` are the
/// ids of the round's reports the chair's node holds.
pub fn decide(
    doc: &mut AutoCommit,
    who: &Who<'_>,
    decision: &str,
    note: &str,
    seen: &[String],
    now: i64,
) -> Result<Decision, ModelError> {
    let wf = read(doc)?;
    expect_chair(who, "decide")?;
    let status = match decision {
        "accept" => "accepted",
        "revise" => "revision",
        "reject" => "rejected",
        other => {
            return Err(refuse(format!(
                "unknown decision `{other}`: use {}",
                DECISIONS.join(", ")
            )));
        }
    };
    expect_status(&wf, &["in-review"], "decide")?;
    if note.chars().count() > MAX_NOTE_CHARS {
        return Err(ModelError::TooLarge(format!(
            "the note is longer than {MAX_NOTE_CHARS} characters"
        )));
    }
    doc.put(ROOT, "status", status)?;
    let m = append(
        doc,
        "decisions",
        &[
            ("decision", decision),
            ("note", note.trim()),
            ("by", who.name),
            ("node_id", who.node_id),
        ],
        &[("round", wf.round), ("at", now)],
    )?;
    let list = doc.put_object(&m, "reports", ObjType::List)?;
    for (i, id) in seen.iter().enumerate() {
        doc.insert(&list, i, id.as_str())?;
    }
    Ok(Decision {
        reports: seen.to_vec(),
        round: wf.round,
        decision: decision.to_owned(),
        note: note.trim().to_owned(),
        by: who.name.to_owned(),
        node_id: who.node_id.to_owned(),
        at: now,
    })
}

/// Publishes an accepted draft: pins the text as `published-N` (a version
/// label cannot be moved, so that text is frozen), records the time, and sets
/// the status to published. The chair may.
pub fn publish(doc: &mut AutoCommit, who: &Who<'_>, now: i64) -> Result<Publication, ModelError> {
    let wf = read(doc)?;
    expect_chair(who, "publish")?;
    expect_status(&wf, &["accepted"], "publish")?;
    let version = format!("published-{}", wf.publications.len() + 1);
    draft::tag_version(doc, &version, who.name, now)?;
    doc.put(ROOT, "status", "published")?;
    append(
        doc,
        "publications",
        &[("version", &version), ("by", who.name)],
        &[("at", now)],
    )?;
    Ok(Publication {
        version,
        by: who.name.to_owned(),
        at: now,
    })
}

/// Withdraws the draft. A credited author (on an editor or admin node) or the
/// chair may, until it is published.
pub fn withdraw(doc: &mut AutoCommit, who: &Who<'_>) -> Result<(), ModelError> {
    let wf = read(doc)?;
    expect_status(
        &wf,
        &["draft", "in-review", "revision", "accepted"],
        "withdraw it",
    )?;
    let author = matches!(who.role, Some(Role::Admin | Role::Editor)) && is_author(doc, who.name)?;
    if !author && who.role != Some(Role::Admin) {
        return Err(forbid(format!(
            "only a credited author or the chair may withdraw the draft; {} on this node is neither",
            who.name
        )));
    }
    doc.put(ROOT, "status", "withdrawn")?;
    Ok(())
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
    /// One of [`RECOMMENDATIONS`].
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

/// Checks a recommendation.
pub fn check_recommendation(r: &str) -> Result<&'static str, ModelError> {
    super::one_of("recommendation", r, &RECOMMENDATIONS)
}

/// Checks that `who` may report on the draft now: it is in review and they are
/// assigned to its current round. Returns their assignment and the version.
pub fn may_report(doc: &AutoCommit, who: &Who<'_>) -> Result<(Assignment, String), ModelError> {
    let wf = read(doc)?;
    expect_status(&wf, &["in-review"], "report on it")?;
    let a = wf.assignment(who.name, who.node_id).ok_or_else(|| {
        forbid(format!(
            "{}@{} is not a referee of round {} of this draft",
            who.name, who.node_id, wf.round
        ))
    })?;
    Ok((a.clone(), format!("round-{}", wf.round)))
}

/// Fills a new report document.
pub fn init_report(doc: &mut AutoCommit, r: &Report) -> Result<(), ModelError> {
    check_recommendation(&r.recommendation)?;
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
    update_report(doc, &r.recommendation, &r.body, r.updated_at)
}

/// Replaces a report's recommendation and text (a word-level edit of the text,
/// so concurrent edits by the referee on two machines merge).
pub fn update_report(
    doc: &mut AutoCommit,
    recommendation: &str,
    body: &str,
    now: i64,
) -> Result<(), ModelError> {
    expect_kind(doc, DocKind::Review)?;
    let recommendation = check_recommendation(recommendation)?;
    doc.put(ROOT, "recommendation", recommendation)?;
    doc.put(ROOT, "updated_at", now)?;
    let text = get_obj(doc, &ROOT, "body", ObjType::Text)
        .ok_or_else(|| refuse("the report has no text".into()))?;
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

    const NODE_A: &str = "11111111111111111111111111111111111111111111";
    const NODE_C: &str = "22222222222222222222222222222222222222222222";

    fn who<'a>(name: &'a str, node_id: &'a str, role: Role) -> Who<'a> {
        Who {
            name,
            node_id,
            institution: "Inst",
            role: Some(role),
        }
    }

    fn new_draft() -> AutoCommit {
        let mut doc = AutoCommit::new();
        let by = draft::Actor {
            author: "Ana",
            institution: "U",
            node_id: NODE_A,
        };
        draft::init(&mut doc, &DocId::random(), "Paper", "", "Text.", &by, 1).unwrap();
        doc
    }

    #[test]
    fn the_workflow_refuses_steps_out_of_turn_and_by_the_wrong_people() {
        let mut doc = new_draft();
        let ana = who("Ana", NODE_A, Role::Editor);
        let chair = who("Carla", NODE_C, Role::Admin);
        let reader = who("Ana", NODE_A, Role::Reader);
        assert!(matches!(
            submit(&mut doc, &reader, 2),
            Err(ModelError::Forbidden(_))
        ));
        let stranger = who("Zed", NODE_A, Role::Editor);
        assert!(matches!(
            submit(&mut doc, &stranger, 2),
            Err(ModelError::Forbidden(_))
        ));
        assert!(matches!(
            decide(&mut doc, &chair, "accept", "", &[], 2),
            Err(ModelError::State(_))
        ));
        let s = submit(&mut doc, &ana, 2).unwrap();
        assert_eq!((s.round, s.version.as_str()), (1, "round-1"));
        assert!(draft::version_heads(&mut doc, "round-1").is_ok());
        assert!(matches!(
            decide(&mut doc, &ana, "accept", "", &[], 3),
            Err(ModelError::Forbidden(_))
        ));
        assert!(matches!(
            publish(&mut doc, &chair, 3),
            Err(ModelError::State(_))
        ));
        assert!(decide(&mut doc, &chair, "later", "", &[], 3).is_err());
        decide(&mut doc, &chair, "reject", "Out of scope.", &[], 3).unwrap();
        let wf = read(&doc).unwrap();
        assert_eq!(wf.status, "rejected");
        assert_eq!(wf.decision(1).unwrap().note, "Out of scope.");
        // A rejected draft cannot be withdrawn or resubmitted.
        assert!(matches!(
            withdraw(&mut doc, &ana),
            Err(ModelError::State(_))
        ));
        assert!(matches!(
            submit(&mut doc, &ana, 4),
            Err(ModelError::State(_))
        ));
    }

    #[test]
    fn authors_and_chairs_withdraw_and_referees_report_only_when_assigned() {
        let mut doc = new_draft();
        let ana = who("Ana", NODE_A, Role::Editor);
        let chair = who("Carla", NODE_C, Role::Admin);
        submit(&mut doc, &ana, 2).unwrap();
        let bo = Referee::parse(&format!("Bo@{NODE_C}")).unwrap();
        assign(&mut doc, &chair, &bo, "Inst", "2026-12-01", 3).unwrap();
        assert_eq!(read(&doc).unwrap().assignments[0].due, "2026-12-01");
        let referee = who("Bo", NODE_C, Role::Reviewer);
        assert!(may_report(&doc, &referee).is_ok());
        let other = who("Bo", NODE_A, Role::Reviewer);
        assert!(matches!(
            may_report(&doc, &other),
            Err(ModelError::Forbidden(_))
        ));
        let reviewer_withdrawing = who("Bo", NODE_C, Role::Reviewer);
        assert!(matches!(
            withdraw(&mut doc, &reviewer_withdrawing),
            Err(ModelError::Forbidden(_))
        ));
        withdraw(&mut doc, &ana).unwrap();
        assert_eq!(read(&doc).unwrap().status, "withdrawn");
        assert!(matches!(
            may_report(&doc, &referee),
            Err(ModelError::State(_))
        ));
    }

    #[test]
    fn concurrent_decisions_are_both_kept_and_every_copy_agrees_on_the_status() {
        let mut doc = new_draft();
        let ana = who("Ana", NODE_A, Role::Editor);
        submit(&mut doc, &ana, 2).unwrap();
        let mut other = doc.fork();
        let (c1, c2) = (
            who("Carla", NODE_C, Role::Admin),
            who("Chen", NODE_A, Role::Admin),
        );
        decide(&mut doc, &c1, "accept", "", &[], 3).unwrap();
        decide(&mut other, &c2, "revise", "", &[], 3).unwrap();
        let mut merged_one = doc.fork();
        merged_one.merge(&mut other).unwrap();
        let mut merged_two = other.fork();
        merged_two.merge(&mut doc).unwrap();
        let (w1, w2) = (read(&merged_one).unwrap(), read(&merged_two).unwrap());
        assert_eq!(w1.decisions.len(), 2);
        assert_eq!(w1.status, w2.status);
        assert!(["accepted", "revision"].contains(&w1.status.as_str()));
    }

    #[test]
    fn report_ids_differ_by_round_and_referee() {
        let d = DocId::random();
        let bo = Referee::parse(&format!("Bo@{NODE_C}")).unwrap();
        let dee = Referee::parse(&format!("Dee@{NODE_C}")).unwrap();
        assert_eq!(report_id(&d, 1, &bo), report_id(&d, 1, &bo));
        assert_ne!(report_id(&d, 1, &bo), report_id(&d, 2, &bo));
        assert_ne!(report_id(&d, 1, &bo), report_id(&d, 1, &dee));
        assert!(Referee::parse("Bo").is_err());
        assert!(Referee::parse("@x").is_err());
    }
}
