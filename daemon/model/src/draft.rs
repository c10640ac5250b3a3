//! Drafts: a paper's title, type, authors, body text, status, named versions and
//! comment threads anchored to passages of the body.
//!
//! Comments are anchored with automerge cursors on the first and the last
//! character of the passage, so the anchor moves with edits around it. A cursor on
//! a deleted character resolves to the next surviving one; the end is therefore
//! taken as inclusive only while its own character still exists, and a passage
//! whose characters are all gone resolves to an empty range ("deleted").

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ChangeHash, Cursor, ObjId, ObjType, ROOT, ReadDoc};
use serde::Serialize;

use super::{
    DocKind, DraftType, HunkTag, ModelError, SCHEMA, Status, View, check_line, expect_kind,
    get_bool, get_i64, get_obj, get_str, list_obj, op_of,
};
use kp_core::ids::DocId;

/// Longest title accepted.
pub const MAX_TITLE_CHARS: usize = 300;
/// Longest comment or reply accepted.
pub const MAX_COMMENT_CHARS: usize = 20_000;

/// A person credited on a draft.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Author {
    /// Their name.
    pub name: String,
    /// Their institution.
    pub institution: String,
}

impl Author {
    /// "Name (Institution)", or the name alone.
    pub fn credit(&self) -> String {
        if self.institution.is_empty() {
            self.name.clone()
        } else {
            format!("{} ({})", self.name, self.institution)
        }
    }
}

/// A named version: the heads of the draft when it was tagged.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Version {
    /// Its label (`sent-to-chair`; the review workflow's `round-N` and
    /// `published-N`). A label two people gave concurrently to two versions
    /// is kept by the first (see [`tag_version`]); the other reads `LABEL~2`.
    pub label: String,
    /// Heads, in hex.
    pub heads: Vec<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Who tagged it.
    pub author: String,
    /// From which node.
    pub node_id: String,
    /// What else to know: a workflow version, or a label given twice.
    pub note: String,
}

/// A draft as read from its document (body at the requested heads).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Draft {
    /// The space's id.
    pub space: String,
    /// Title.
    pub title: String,
    /// A [`DraftType`]'s word, as stored.
    pub draft_type: String,
    /// Where its review stands.
    pub status: Status,
    /// Credited authors.
    pub authors: Vec<Author>,
    /// The body text.
    pub body: String,
    /// Named versions, in the order they were made.
    pub versions: Vec<Version>,
    /// Unix seconds.
    pub created_at: i64,
}

/// A reply in a comment thread.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reply {
    /// Who wrote it.
    pub author: String,
    /// From which node.
    pub node_id: String,
    /// What they said.
    pub body: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// Where a comment's passage stands now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Anchor {
    /// The passage reads as when the comment was made.
    Intact,
    /// The passage was edited.
    Changed,
    /// The passage was deleted.
    Deleted,
}

impl Anchor {
    /// The word shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            Anchor::Intact => "intact",
            Anchor::Changed => "changed",
            Anchor::Deleted => "deleted",
        }
    }
}

/// A comment thread with its anchor resolved against the current body.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comment {
    /// Its id within the draft.
    pub id: String,
    /// Who wrote it.
    pub author: String,
    /// From which node.
    pub node_id: String,
    /// What they said.
    pub body: String,
    /// Unix seconds.
    pub created_at: i64,
    /// The passage as it was when commented.
    pub quote: String,
    /// The passage the anchor covers now.
    pub passage: String,
    /// How the passage stands.
    pub anchor: Anchor,
    /// Character range of the passage now.
    pub start: usize,
    /// End (exclusive) of the passage now.
    pub end: usize,
    /// Whether the thread is resolved.
    pub resolved: bool,
    /// Replies, in order.
    pub replies: Vec<Reply>,
}

/// Who is acting: the researcher's name, their institution, and the node.
#[derive(Debug, Clone)]
pub struct Actor<'a> {
    /// The researcher.
    pub author: &'a str,
    /// Their institution (the node's name).
    pub institution: &'a str,
    /// The node's id.
    pub node_id: &'a str,
}

/// A draft type from a request; empty means `working-paper`.
pub fn parse_type(t: &str) -> Result<DraftType, ModelError> {
    if t.is_empty() {
        return Ok(DraftType::WorkingPaper);
    }
    t.parse()
}

/// Fills a new draft document.
pub fn init(
    doc: &mut AutoCommit,
    space: &DocId,
    title: &str,
    draft_type: DraftType,
    body: &str,
    by: &Actor<'_>,
    now: i64,
) -> Result<(), ModelError> {
    let title = check_line("a title", title, MAX_TITLE_CHARS)?;
    doc.put(ROOT, "kind", DocKind::Draft.as_str())?;
    doc.put(ROOT, "schema", SCHEMA)?;
    doc.put(ROOT, "space", space.to_string())?;
    doc.put(ROOT, "title", title)?;
    doc.put(ROOT, "draft_type", draft_type.as_str())?;
    doc.put(ROOT, "status", Status::Draft.as_str())?;
    doc.put(ROOT, "created_at", now)?;
    doc.put_object(ROOT, "authors", ObjType::List)?;
    add_author(doc, by)?;
    let text = doc.put_object(ROOT, "body", ObjType::Text)?;
    doc.splice_text(&text, 0, 0, body)?;
    doc.put_object(ROOT, "versions", ObjType::List)?;
    doc.put_object(ROOT, "comments", ObjType::Map)?;
    super::review::ensure_lists(doc)?;
    Ok(())
}

/// Checks a draft made elsewhere than by [`init`] (by a client of the node,
/// the automerge-repo way) before the node takes it: a draft of `space`
/// with every field [`init`] writes, of the types it writes them. The lists
/// and maps that later edits add to must exist from the start: two nodes
/// that each made a missing one would keep only one of them, and lose what
/// the other held.
pub fn check_created(doc: &AutoCommit, space: &DocId) -> Result<(), ModelError> {
    let bad = |what: &str| {
        ModelError::invalid(format!(
            "not a well-formed kp draft: {what} (text fields other than the body are \
             plain strings, not automerge text)"
        ))
    };
    expect_kind(doc, DocKind::Draft).map_err(|_| bad("`kind` must be \"draft\""))?;
    if super::get_i64(doc, &ROOT, "schema") != SCHEMA as i64 {
        return Err(bad(&format!("`schema` must be {SCHEMA}")));
    }
    if get_str(doc, &ROOT, "space") != space.to_string() {
        return Err(bad("`space` must be the id of its space"));
    }
    check_line("a title", &get_str(doc, &ROOT, "title"), MAX_TITLE_CHARS)?;
    get_str(doc, &ROOT, "draft_type").parse::<DraftType>()?;
    body_obj(doc).map_err(|_| bad("`body` must be automerge text"))?;
    for (key, ty) in [
        ("authors", ObjType::List),
        ("versions", ObjType::List),
        ("comments", ObjType::Map),
        ("review", ObjType::Map),
    ] {
        if get_obj(doc, &ROOT, key, ty).is_none() {
            return Err(bad(&format!("`{key}` is missing or of the wrong type")));
        }
    }
    super::review::check_lists(doc).map_err(|what| bad(&what))?;
    read(doc, None).map(|_| ())
}

fn body_obj(doc: &AutoCommit) -> Result<ObjId, ModelError> {
    get_obj(doc, &ROOT, "body", ObjType::Text)
        .ok_or_else(|| ModelError::invalid("the draft has no body text"))
}

fn authors(doc: &AutoCommit) -> Vec<Author> {
    authors_view(&View::now(doc))
}

/// The credited authors as `v` shows them, each once (two nodes crediting the
/// same person concurrently add two entries; the first counts).
pub(crate) fn authors_view(v: &View<'_>) -> Vec<Author> {
    let Some(list) = v.obj(&ROOT, "authors", ObjType::List) else {
        return Vec::new();
    };
    let mut out: Vec<Author> = Vec::new();
    for a in v.maps(&list) {
        let name = v.str(&a, "name");
        if out.iter().any(|o| o.name == name) {
            continue;
        }
        out.push(Author {
            name,
            institution: v.str(&a, "institution"),
        });
    }
    out
}

/// Credits `by` on the draft unless they already are.
fn add_author(doc: &mut AutoCommit, by: &Actor<'_>) -> Result<(), ModelError> {
    if by.author.is_empty() || authors(doc).iter().any(|a| a.name == by.author) {
        return Ok(());
    }
    let list = match get_obj(doc, &ROOT, "authors", ObjType::List) {
        Some(l) => l,
        None => doc.put_object(ROOT, "authors", ObjType::List)?,
    };
    let i = doc.length(&list);
    let a = doc.insert_object(&list, i, ObjType::Map)?;
    doc.put(&a, "name", by.author)?;
    doc.put(&a, "institution", by.institution)?;
    doc.put(&a, "node_id", by.node_id)?;
    Ok(())
}

/// Parses hex heads as given by users or clients.
pub fn parse_heads(heads: &[String]) -> Result<Vec<ChangeHash>, ModelError> {
    heads
        .iter()
        .map(|h| {
            h.parse::<ChangeHash>()
                .map_err(|_| ModelError::invalid(format!("`{h}` is not a change hash")))
        })
        .collect()
}

/// The heads of version `label` ("current" or empty: the present heads): a
/// version users named, or one the review workflow pinned (`round-N`,
/// `published-N`).
pub fn version_heads(doc: &mut AutoCommit, label: &str) -> Result<Vec<ChangeHash>, ModelError> {
    if label.is_empty() || label == "current" {
        return Ok(doc.get_heads());
    }
    let versions = read_versions(doc);
    let v = versions.iter().find(|v| v.label == label).ok_or_else(|| {
        let known: Vec<&str> = versions.iter().map(|v| v.label.as_str()).collect();
        ModelError::NotFound(if known.is_empty() {
            format!("no version `{label}`: this draft has no named versions yet")
        } else {
            format!(
                "no version `{label}`: known versions are {}",
                known.join(", ")
            )
        })
    })?;
    let heads = parse_heads(&v.heads)?;
    if !doc.get_missing_deps(&heads).is_empty() {
        return Err(ModelError::NotFound(format!(
            "version `{label}` refers to changes this node does not have yet"
        )));
    }
    Ok(heads)
}

/// The heads a text was made from, as a person names them: a version label
/// (users' or the workflow's), `current`, or change hashes separated by commas,
/// each whole or a unique start of at least 8 hex characters.
pub fn base_heads(doc: &mut AutoCommit, base: &str) -> Result<Vec<ChangeHash>, ModelError> {
    let base = base.trim();
    let hexy = |s: &str| s.len() >= 8 && s.bytes().all(|b| b.is_ascii_hexdigit());
    let labelled = || read_versions(doc).iter().any(|v| v.label == base);
    // A label wins over hashes it looks like (`20250115`).
    if base.is_empty()
        || base == "current"
        || !base.split(',').all(|p| hexy(p.trim()))
        || labelled()
    {
        return version_heads(doc, base);
    }
    let mut all: Option<Vec<ChangeHash>> = None;
    let mut out = Vec::new();
    for part in base.split(',').map(|p| p.trim().to_ascii_lowercase()) {
        if let Ok(h) = part.parse::<ChangeHash>() {
            out.push(h);
            continue;
        }
        let all =
            all.get_or_insert_with(|| doc.get_changes_meta(&[]).iter().map(|m| m.hash).collect());
        let found: Vec<&ChangeHash> = all
            .iter()
            .filter(|h| h.to_string().starts_with(&part))
            .collect();
        match found.as_slice() {
            [one] => out.push(**one),
            [] => {
                return Err(ModelError::NotFound(format!(
                    "no change of this draft starts with `{part}` here: give a version label, \
                     the heads `kp draft show` prints, or `current`"
                )));
            }
            _ => {
                return Err(ModelError::invalid(format!(
                    "{} changes start with `{part}`; give more of the hash",
                    found.len()
                )));
            }
        }
    }
    if !doc.get_missing_deps(&out).is_empty() {
        return Err(ModelError::NotFound(
            "the text was made from changes this node does not have (yet): wait until they \
             arrive from the partner that made them"
                .into(),
        ));
    }
    Ok(out)
}

/// One version record as stored: label, heads, time, author, node.
struct Named {
    obj: ObjId,
    op: (u64, automerge::ActorId),
    label: String,
    heads: Vec<String>,
    created_at: i64,
    author: String,
    node_id: String,
}

fn named(v: &View<'_>) -> Vec<Named> {
    let Some(list) = v.obj(&ROOT, "versions", ObjType::List) else {
        return Vec::new();
    };
    let mut out: Vec<Named> = v
        .maps(&list)
        .into_iter()
        .filter_map(|m| {
            Some(Named {
                op: op_of(&m)?,
                label: v.str(&m, "label"),
                heads: v.strs(&m, "heads"),
                created_at: v.i64(&m, "created_at"),
                author: v.str(&m, "author"),
                node_id: v.str(&m, "node_id"),
                obj: m,
            })
        })
        .collect();
    out.sort_by(|a, b| a.op.cmp(&b.op));
    out
}

/// The version records as the review's immutability check compares them.
pub(crate) fn version_records(v: &View<'_>) -> Vec<(ObjId, String)> {
    named(v)
        .into_iter()
        .map(|n| {
            let fields = format!(
                "{}|{}|{}|{}|{}",
                n.label,
                n.heads.join(","),
                n.created_at,
                n.author,
                n.node_id
            );
            (n.obj, fields)
        })
        .collect()
}

/// The versions users named, with the label each answers to: the first to use
/// a label (in the order every node computes alike, see [`tag_version`])
/// keeps it, a later one gets `LABEL~2`, `LABEL~3`, …
fn user_versions(v: &View<'_>) -> Vec<Version> {
    let all = named(v);
    let mut out: Vec<Version> = Vec::new();
    for (i, n) in all.iter().enumerate() {
        let earlier = all[..i].iter().filter(|e| e.label == n.label).count();
        let (label, note) = if earlier == 0 {
            (n.label.clone(), String::new())
        } else {
            let first = all
                .iter()
                .find(|e| e.label == n.label)
                .map(|e| e.author.as_str());
            (
                format!("{}~{}", n.label, earlier + 1),
                format!(
                    "named `{}` concurrently with {}; that one keeps the label",
                    n.label,
                    first.unwrap_or("someone")
                ),
            )
        };
        out.push(Version {
            label,
            heads: n.heads.clone(),
            created_at: n.created_at,
            author: n.author.clone(),
            node_id: n.node_id.clone(),
            note,
        });
    }
    out
}

/// Every version of the draft: the workflow's (`round-N`, `published-N`) and
/// the ones users named, in time order.
fn read_versions(doc: &AutoCommit) -> Vec<Version> {
    let v = View::now(doc);
    let wf = super::review::read_view(&v);
    let mut out = user_versions(&v);
    for s in wf.submissions.iter().filter(|s| s.void.is_empty()) {
        out.push(Version {
            label: s.version.clone(),
            heads: s.heads.clone(),
            created_at: s.at,
            author: s.by.clone(),
            node_id: s.node_id.clone(),
            note: format!("submitted to review, round {}", s.round),
        });
    }
    for p in wf.published() {
        out.push(Version {
            label: p.version.clone(),
            heads: p.heads.clone(),
            created_at: p.at,
            author: p.by.clone(),
            node_id: p.node_id.clone(),
            note: "published".into(),
        });
    }
    out.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.label.cmp(&b.label)));
    out
}

/// Reads a draft; the body as at `heads` if given.
pub fn read(doc: &AutoCommit, heads: Option<&[ChangeHash]>) -> Result<Draft, ModelError> {
    expect_kind(doc, DocKind::Draft)?;
    let body = body_obj(doc)?;
    let body = match heads {
        Some(h) => doc.text_at(&body, h)?,
        None => doc.text(&body)?,
    };
    Ok(Draft {
        space: get_str(doc, &ROOT, "space"),
        title: get_str(doc, &ROOT, "title"),
        draft_type: get_str(doc, &ROOT, "draft_type"),
        status: super::review::read_view(&View::now(doc)).status,
        authors: authors(doc),
        body,
        versions: read_versions(doc),
        created_at: get_i64(doc, &ROOT, "created_at"),
    })
}

/// What an edit did to the body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EditStats {
    /// Characters inserted.
    pub inserted: usize,
    /// Characters deleted.
    pub deleted: usize,
}

/// How long the diff of an edit may search for the smallest set of splices
/// before it settles for a coarser one (still correct, just less minimal).
const DIFF_DEADLINE: std::time::Duration = std::time::Duration::from_secs(2);

/// Replaces the body with `new_text` by minimal splices against the body as the
/// document reads now (the repository isolates it at the editor's base heads
/// first, so concurrent edits elsewhere are kept), and credits `by` as an author.
pub fn set_body(
    doc: &mut AutoCommit,
    new_text: &str,
    by: &Actor<'_>,
) -> Result<EditStats, ModelError> {
    expect_kind(doc, DocKind::Draft)?;
    let body = body_obj(doc)?;
    let old = doc.text(&body)?;
    splice_body(doc, &body, &old, new_text, by)
}

/// What [`edit_from`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyEdit {
    /// The body reads the text already, or a change made it from the base:
    /// that version.
    Already(Vec<ChangeHash>),
    /// The base is the document's heads: the edit is made, as
    /// [`set_body`] makes it.
    Made(EditStats),
    /// Others wrote since the base: the edit must be made on the document
    /// isolated at the base ([`set_body`] there).
    AtBase,
}

/// An edit of the body made from the version `base`, decided in one read of
/// the body as the document reads now: nothing when the body reads `text`
/// already or a change made it from `base` (the same file sent twice, say);
/// the edit itself when nobody wrote since `base` (the common case, which
/// needs no isolated copy of the document); otherwise [`BodyEdit::AtBase`].
/// `known` is the body at some heads, if the caller holds it: when those are
/// the document's heads, the body is not read again (a long one costs about
/// 30 ns a character to read).
pub fn edit_from(
    doc: &mut AutoCommit,
    base: &[ChangeHash],
    text: &str,
    known: Option<(&[ChangeHash], &str)>,
    by: &Actor<'_>,
) -> Result<BodyEdit, ModelError> {
    expect_kind(doc, DocKind::Draft)?;
    let body = body_obj(doc)?;
    let mut heads = doc.get_heads();
    heads.sort();
    let same = |h: &[ChangeHash]| {
        let mut h = h.to_vec();
        h.sort();
        h == heads
    };
    let now: std::borrow::Cow<'_, str> = match known {
        Some((h, t)) if same(h) => t.into(),
        _ => doc.text(&body)?.into(),
    };
    if now == text {
        return Ok(BodyEdit::Already(doc.get_heads()));
    }
    let mut wanted = base.to_vec();
    wanted.sort();
    if heads == wanted {
        return Ok(BodyEdit::Made(splice_body(doc, &body, &now, text, by)?));
    }
    Ok(match made_from(doc, base, text)? {
        Some(hash) => BodyEdit::Already(vec![hash]),
        None => BodyEdit::AtBase,
    })
}

/// Splices the body, which reads `old`, to read `new_text`: the common
/// beginning and end are skipped first (a comparison of bytes), so a small
/// edit of a long text diffs only what changed; the rest is diffed by
/// characters.
fn splice_body(
    doc: &mut AutoCommit,
    body: &ObjId,
    old: &str,
    new_text: &str,
    by: &Actor<'_>,
) -> Result<EditStats, ModelError> {
    use similar::{DiffOp, TextDiff};
    let mut stats = EditStats {
        inserted: 0,
        deleted: 0,
    };
    if old == new_text {
        return Ok(stats);
    }
    // Equal bytes up to `head` are equal characters on both sides, so a
    // boundary of one is a boundary of the other.
    let mut head = old
        .bytes()
        .zip(new_text.bytes())
        .take_while(|(a, b)| a == b)
        .count();
    while !old.is_char_boundary(head) {
        head -= 1;
    }
    let room = old.len().min(new_text.len()) - head;
    let mut tail = old
        .bytes()
        .rev()
        .zip(new_text.bytes().rev())
        .take(room)
        .take_while(|(a, b)| a == b)
        .count();
    while !old.is_char_boundary(old.len() - tail) {
        tail -= 1;
    }
    let (old_mid, new_mid) = (
        &old[head..old.len() - tail],
        &new_text[head..new_text.len() - tail],
    );
    let offset = old[..head].chars().count();
    let diff = TextDiff::configure()
        .timeout(DIFF_DEADLINE)
        .diff_chars(old_mid, new_mid);
    let new_chars: Vec<&str> = diff.new_slices().to_vec();
    // Where each op falls is counted from the ops' lengths in order: the
    // indices `similar` gives an op are not always where it falls (an
    // insertion after an equal run was seen placed before it, which spliced
    // the text into something else). Splices are made from the end, so the
    // positions of earlier ones stay valid.
    let (mut old_at, mut new_at) = (0, 0);
    let mut splices = Vec::new();
    for op in diff.ops() {
        let (del, ins) = match *op {
            DiffOp::Equal { len, .. } => {
                old_at += len;
                new_at += len;
                continue;
            }
            DiffOp::Delete { old_len, .. } => (old_len, 0),
            DiffOp::Insert { new_len, .. } => (0, new_len),
            DiffOp::Replace {
                old_len, new_len, ..
            } => (old_len, new_len),
        };
        splices.push((old_at, del, new_at..new_at + ins));
        old_at += del;
        new_at += ins;
    }
    for (at, del, ins) in splices.into_iter().rev() {
        let text: String = new_chars[ins.clone()].concat();
        doc.splice_text(body, offset + at, del as isize, &text)?;
        stats.inserted += ins.len();
        stats.deleted += del;
    }
    add_author(doc, by)?;
    Ok(stats)
}

/// The body as it reads now (what [`read`] gives as `body`, without the rest).
pub fn body(doc: &AutoCommit) -> Result<String, ModelError> {
    expect_kind(doc, DocKind::Draft)?;
    Ok(doc.text(body_obj(doc)?)?)
}

/// The change that already made the body `text` from `base`: one whose only
/// dependencies are `base` and after which the body reads `text` (the same
/// text sent again from the same version, say). `None` if there is none.
pub fn made_from(
    doc: &mut AutoCommit,
    base: &[ChangeHash],
    text: &str,
) -> Result<Option<ChangeHash>, ModelError> {
    let body = body_obj(doc)?;
    super::text_made_from(doc, &body, base, text)
}

/// Names the current heads `label`.
///
/// Labels are unique on this node when given. Two people on two nodes who
/// give the same label to two versions while apart both keep their version:
/// after the merge the first (in the order of the operations that made them,
/// the same on every node) answers to the label, the other to `LABEL~2`, and
/// `kp draft show` says so. `round-N` and `published-N` are the review
/// workflow's names, and `~` marks those second labels, so neither is given.
pub fn tag_version(
    doc: &mut AutoCommit,
    label: &str,
    by: &Actor<'_>,
    now: i64,
) -> Result<Version, ModelError> {
    expect_kind(doc, DocKind::Draft)?;
    let label = check_line("a version label", label, 80)?;
    if label == "current" || label.contains(char::is_whitespace) || label.contains('~') {
        return Err(ModelError::invalid(
            "a version label is one word, without `~`, and not `current`",
        ));
    }
    if super::review::is_workflow_label(&label) {
        return Err(ModelError::invalid(format!(
            "`{label}` is a name the review workflow gives (round-N: the text submitted in round \
             N; published-N: the text published); pick another label, such as `sent-to-chair`"
        )));
    }
    if read_versions(doc).iter().any(|v| v.label == label) {
        return Err(ModelError::Exists(format!(
            "version `{label}` exists already; pick another label"
        )));
    }
    // Read before anything is written: these heads are the change's parents.
    let heads: Vec<String> = doc.get_heads().iter().map(|h| h.to_string()).collect();
    let list = match get_obj(doc, &ROOT, "versions", ObjType::List) {
        Some(l) => l,
        None => doc.put_object(ROOT, "versions", ObjType::List)?,
    };
    let i = doc.length(&list);
    let v = doc.insert_object(&list, i, ObjType::Map)?;
    doc.put(&v, "label", label.as_str())?;
    let hl = doc.put_object(&v, "heads", ObjType::List)?;
    for (i, h) in heads.iter().enumerate() {
        doc.insert(&hl, i, h.as_str())?;
    }
    doc.put(&v, "created_at", now)?;
    doc.put(&v, "author", by.author)?;
    doc.put(&v, "node_id", by.node_id)?;
    Ok(Version {
        label,
        heads,
        created_at: now,
        author: by.author.to_owned(),
        node_id: by.node_id.to_owned(),
        note: String::new(),
    })
}

/// Adds a comment, under the id `id`, on the one passage of the body that
/// reads `quote`.
///
/// Ids are minted by the caller ([`kp_core::ids::comment_id`]: random, so two
/// nodes commenting while apart never pick the same one, which would make
/// one comment hide the other when they merge); one that is taken here is
/// refused.
pub fn add_comment(
    doc: &mut AutoCommit,
    id: &str,
    quote: &str,
    body_text: &str,
    by: &Actor<'_>,
    now: i64,
) -> Result<Comment, ModelError> {
    add_comment_near(doc, id, quote, None, body_text, by, now)
}

/// [`add_comment`] on the occurrence of `quote` that starts nearest to the
/// character `near` (where a person selected it in an editor, whose text
/// may be a few edits ahead of or behind the node's), when it occurs more
/// than once; without `near`, a quote must occur once.
pub fn add_comment_near(
    doc: &mut AutoCommit,
    id: &str,
    quote: &str,
    near: Option<usize>,
    body_text: &str,
    by: &Actor<'_>,
    now: i64,
) -> Result<Comment, ModelError> {
    expect_kind(doc, DocKind::Draft)?;
    check_comment(body_text)?;
    check_comment_id(id)?;
    if quote.is_empty() {
        return Err(ModelError::invalid("the quote must not be empty"));
    }
    let body = body_obj(doc)?;
    let text = doc.text(&body)?;
    // Linear in the text whatever the quote; overlapping occurrences count too.
    let Some(first) = text.find(quote) else {
        return Err(ModelError::NotFound(
            "the quoted passage does not occur in the draft; copy it exactly from `kp draft show`"
                .into(),
        ));
    };
    let step = quote.chars().next().map_or(1, char::len_utf8);
    let start = if !text[first + step..].contains(quote) {
        text[..first].chars().count()
    } else if let Some(near) = near {
        // Every occurrence's start in characters, counted in one pass.
        let (mut best, mut chars, mut at) = (0usize, 0usize, 0usize);
        let mut best_gap = usize::MAX;
        let mut from = first;
        loop {
            chars += text[at..from].chars().count();
            at = from;
            if chars.abs_diff(near) < best_gap {
                best_gap = chars.abs_diff(near);
                best = chars;
            }
            match text[from + step..].find(quote) {
                Some(i) => from = from + step + i,
                None => break,
            }
        }
        best
    } else {
        let n = text.matches(quote).count().max(2);
        return Err(ModelError::invalid(format!(
            "the quoted passage occurs {n} times in the draft; quote more of the surrounding text so it occurs once"
        )));
    };
    let last = start + quote.chars().count() - 1;
    let start_cursor = doc.get_cursor(&body, start, None)?;
    let end_cursor = doc.get_cursor(&body, last, None)?;
    let comments = match get_obj(doc, &ROOT, "comments", ObjType::Map) {
        Some(m) => m,
        None => doc.put_object(ROOT, "comments", ObjType::Map)?,
    };
    if doc.get(&comments, id).ok().flatten().is_some() {
        return Err(ModelError::Exists(format!(
            "a comment `{id}` exists already on this draft"
        )));
    }
    let c = doc.put_object(&comments, id, ObjType::Map)?;
    doc.put(&c, "author", by.author)?;
    doc.put(&c, "node_id", by.node_id)?;
    doc.put(&c, "body", body_text)?;
    doc.put(&c, "created_at", now)?;
    doc.put(&c, "quote", quote)?;
    doc.put(&c, "start", start_cursor.to_string())?;
    doc.put(&c, "end", end_cursor.to_string())?;
    doc.put(&c, "resolved", false)?;
    doc.put_object(&c, "replies", ObjType::List)?;
    read_comment(doc, &body, &comments, id)
        .ok_or_else(|| ModelError::invalid("the comment could not be read back"))
}

/// A comment id is a word of letters and digits (`c` and ten random ones when
/// kp mints it).
fn check_comment_id(id: &str) -> Result<(), ModelError> {
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(ModelError::invalid(format!(
            "`{id}` is not a comment id (letters and digits)"
        )));
    }
    Ok(())
}

fn check_comment(body: &str) -> Result<(), ModelError> {
    if body.trim().is_empty() {
        return Err(ModelError::invalid("the comment must not be empty"));
    }
    if body.chars().count() > MAX_COMMENT_CHARS {
        return Err(ModelError::TooLarge(format!(
            "the comment is longer than {MAX_COMMENT_CHARS} characters"
        )));
    }
    Ok(())
}

/// Where the passage between two cursors stands now.
fn resolve_anchor(
    doc: &AutoCommit,
    body: &ObjId,
    start: &str,
    end: &str,
) -> Option<(usize, usize)> {
    let start = Cursor::try_from(start).ok()?;
    let end = Cursor::try_from(end).ok()?;
    let s = doc.get_cursor_position(body, &start, None).ok()?;
    let e = doc.get_cursor_position(body, &end, None).ok()?;
    let len = doc.length(body);
    // The end cursor's own character may have been deleted: then it resolved to
    // the next surviving character, which is not part of the passage.
    let end_alive = e < len && doc.get_cursor(body, e, None).ok().as_ref() == Some(&end);
    let e = if end_alive { e + 1 } else { e };
    Some(if e > s { (s, e) } else { (s, s) })
}

fn read_comment(doc: &AutoCommit, body: &ObjId, comments: &ObjId, id: &str) -> Option<Comment> {
    let c = get_obj(doc, comments, id, ObjType::Map)?;
    let quote = get_str(doc, &c, "quote");
    let (start, end) = resolve_anchor(
        doc,
        body,
        &get_str(doc, &c, "start"),
        &get_str(doc, &c, "end"),
    )
    .unwrap_or((0, 0));
    let passage = if end > start {
        let text = doc.text(body).ok()?;
        text.chars().skip(start).take(end - start).collect()
    } else {
        String::new()
    };
    let anchor = if passage.is_empty() {
        Anchor::Deleted
    } else if passage == quote {
        Anchor::Intact
    } else {
        Anchor::Changed
    };
    let replies = get_obj(doc, &c, "replies", ObjType::List)
        .map(|l| {
            (0..doc.length(&l))
                .filter_map(|i| list_obj(doc, &l, i, ObjType::Map))
                .map(|r| Reply {
                    author: get_str(doc, &r, "author"),
                    node_id: get_str(doc, &r, "node_id"),
                    body: get_str(doc, &r, "body"),
                    created_at: get_i64(doc, &r, "created_at"),
                })
                .collect()
        })
        .unwrap_or_default();
    Some(Comment {
        id: id.to_owned(),
        author: get_str(doc, &c, "author"),
        node_id: get_str(doc, &c, "node_id"),
        body: get_str(doc, &c, "body"),
        created_at: get_i64(doc, &c, "created_at"),
        quote,
        passage,
        anchor,
        start,
        end,
        resolved: get_bool(doc, &c, "resolved"),
        replies,
    })
}

/// All comment threads, oldest first.
pub fn comments(doc: &AutoCommit) -> Result<Vec<Comment>, ModelError> {
    expect_kind(doc, DocKind::Draft)?;
    let body = body_obj(doc)?;
    let Some(map) = get_obj(doc, &ROOT, "comments", ObjType::Map) else {
        return Ok(Vec::new());
    };
    let mut out: Vec<Comment> = doc
        .keys(&map)
        .filter_map(|id| read_comment(doc, &body, &map, &id))
        .collect();
    out.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.start.cmp(&b.start)));
    Ok(out)
}

/// The comment `id`, or the one comment whose id starts with `id` (at least
/// three characters, as people shorten ids they type); its map, its id.
fn comment_obj(doc: &AutoCommit, id: &str) -> Result<(ObjId, ObjId, String), ModelError> {
    let missing = || {
        ModelError::NotFound(format!(
            "no comment `{id}` on this draft (see `kp comment list`)"
        ))
    };
    let map = get_obj(doc, &ROOT, "comments", ObjType::Map).ok_or_else(missing)?;
    if let Some(c) = get_obj(doc, &map, id, ObjType::Map) {
        return Ok((map, c, id.to_owned()));
    }
    if id.chars().count() < 3 {
        return Err(missing());
    }
    let matching: Vec<String> = doc.keys(&map).filter(|k| k.starts_with(id)).collect();
    match matching.as_slice() {
        [one] => {
            let c = get_obj(doc, &map, one, ObjType::Map).ok_or_else(missing)?;
            Ok((map, c, one.clone()))
        }
        [] => Err(missing()),
        many => Err(ModelError::invalid(format!(
            "`{id}` is the start of {} comment ids ({}); give more of it",
            many.len(),
            many.join(", ")
        ))),
    }
}

/// Adds a reply to a thread.
pub fn reply(
    doc: &mut AutoCommit,
    id: &str,
    text: &str,
    by: &Actor<'_>,
    now: i64,
) -> Result<Comment, ModelError> {
    expect_kind(doc, DocKind::Draft)?;
    check_comment(text)?;
    let (map, c, id) = comment_obj(doc, id)?;
    let list = match get_obj(doc, &c, "replies", ObjType::List) {
        Some(l) => l,
        None => doc.put_object(&c, "replies", ObjType::List)?,
    };
    let i = doc.length(&list);
    let r = doc.insert_object(&list, i, ObjType::Map)?;
    doc.put(&r, "author", by.author)?;
    doc.put(&r, "node_id", by.node_id)?;
    doc.put(&r, "body", text)?;
    doc.put(&r, "created_at", now)?;
    let body = body_obj(doc)?;
    read_comment(doc, &body, &map, &id)
        .ok_or_else(|| ModelError::invalid("the comment could not be read back"))
}

/// Marks a thread resolved.
pub fn resolve(
    doc: &mut AutoCommit,
    id: &str,
    by: &Actor<'_>,
    now: i64,
) -> Result<Comment, ModelError> {
    expect_kind(doc, DocKind::Draft)?;
    let (map, c, id) = comment_obj(doc, id)?;
    if get_bool(doc, &c, "resolved") {
        return Err(ModelError::invalid(format!(
            "comment `{id}` is resolved already"
        )));
    }
    doc.put(&c, "resolved", true)?;
    doc.put(&c, "resolved_by", by.author)?;
    doc.put(&c, "resolved_at", now)?;
    let body = body_obj(doc)?;
    read_comment(doc, &body, &map, &id)
        .ok_or_else(|| ModelError::invalid("the comment could not be read back"))
}

/// A piece of a word-level diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hunk {
    /// Whether both texts hold the words, or only the newer or older one.
    pub tag: HunkTag,
    /// The words (with their whitespace).
    pub text: String,
}

/// A word-level diff of two texts, with runs of the same tag merged.
pub fn word_diff(old: &str, new: &str) -> Vec<Hunk> {
    use similar::{ChangeTag, TextDiff};
    let diff = TextDiff::configure()
        .timeout(std::time::Duration::from_secs(5))
        .diff_words(old, new);
    let mut out: Vec<Hunk> = Vec::new();
    for change in diff.iter_all_changes() {
        let tag = match change.tag() {
            ChangeTag::Equal => HunkTag::Equal,
            ChangeTag::Insert => HunkTag::Insert,
            ChangeTag::Delete => HunkTag::Delete,
        };
        match out.last_mut() {
            Some(h) if h.tag == tag => h.text.push_str(change.value()),
            _ => out.push(Hunk {
                tag,
                text: change.value().to_owned(),
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const BY: Actor<'static> = Actor {
        author: "Ana",
        institution: "KNOMAD",
        node_id: "nodeA",
    };

    fn draft(body: &str) -> AutoCommit {
        let mut doc = AutoCommit::new();
        init(
            &mut doc,
            &DocId::random(),
            "Costs",
            DraftType::WorkingPaper,
            body,
            &BY,
            1,
        )
        .unwrap();
        doc.commit();
        doc
    }

    #[test]
    fn a_draft_made_elsewhere_is_taken_only_with_every_field_kp_writes() {
        let space = DocId::random();
        let mut doc = AutoCommit::new();
        init(
            &mut doc,
            &space,
            "Costs",
            DraftType::PolicyBrief,
            "Text",
            &BY,
            1,
        )
        .unwrap();
        check_created(&doc, &space).unwrap();
        assert!(check_created(&doc, &DocId::random()).is_err());
        // A title as automerge text (as a JavaScript string becomes), a
        // missing review list, a workflow step already taken, another kind.
        let mut text_title = doc.fork();
        let t = text_title.put_object(ROOT, "title", ObjType::Text).unwrap();
        text_title.splice_text(&t, 0, 0, "Costs").unwrap();
        let mut no_list = doc.fork();
        let review = get_obj(&no_list, &ROOT, "review", ObjType::Map).unwrap();
        no_list.delete(&review, "decisions").unwrap();
        let mut stepped = doc.fork();
        let review = get_obj(&stepped, &ROOT, "review", ObjType::Map).unwrap();
        let subs = get_obj(&stepped, &review, "submissions", ObjType::List).unwrap();
        stepped.insert_object(&subs, 0, ObjType::Map).unwrap();
        let mut space_kind = doc.fork();
        space_kind.put(ROOT, "kind", "space").unwrap();
        for (bad, says) in [
            (text_title, "title"),
            (no_list, "review.decisions"),
            (stepped, "must be empty"),
            (space_kind, "kind"),
        ] {
            let err = check_created(&bad, &space).unwrap_err().to_string();
            assert!(err.contains(says), "{err}");
        }
    }

    #[test]
    fn anchors_follow_edits_and_report_deletion() {
        let mut doc = draft("Remittances grew. Costs fell to 6%. Aid stalled.");
        let c = add_comment(&mut doc, "c1", "Costs fell to 6%", "source?", &BY, 2).unwrap();
        assert_eq!((c.start, c.end, c.anchor), (18, 34, Anchor::Intact));
        // Text inserted before the passage moves the anchor.
        set_body(
            &mut doc,
            "In 2023, remittances grew. Costs fell to 6%. Aid stalled.",
            &BY,
        )
        .unwrap();
        let c = &comments(&doc).unwrap()[0];
        assert_eq!(c.passage, "Costs fell to 6%");
        assert_eq!((c.start, c.anchor), (27, Anchor::Intact));
        // An edit inside the passage shows as changed.
        set_body(
            &mut doc,
            "In 2023, remittances grew. Costs fell to 6.2%. Aid stalled.",
            &BY,
        )
        .unwrap();
        let c = &comments(&doc).unwrap()[0];
        assert_eq!(
            (c.passage.as_str(), c.anchor),
            ("Costs fell to 6.2%", Anchor::Changed)
        );
        // Deleting the passage's last character keeps the rest.
        set_body(
            &mut doc,
            "In 2023, remittances grew. Costs fell to 6.2. Aid stalled.",
            &BY,
        )
        .unwrap();
        assert_eq!(comments(&doc).unwrap()[0].passage, "Costs fell to 6.2");
        // Deleting the whole passage says so.
        set_body(&mut doc, "In 2023, remittances grew. Aid stalled.", &BY).unwrap();
        let c = &comments(&doc).unwrap()[0];
        assert_eq!((c.passage.as_str(), c.anchor), ("", Anchor::Deleted));
    }

    #[test]
    fn deleting_a_passage_at_the_end_of_the_text() {
        let mut doc = draft("aaa bbb.\nccc ddd.\n");
        add_comment(&mut doc, "c2", "ccc ddd", "x", &BY, 2).unwrap();
        doc.commit();
        set_body(&mut doc, "aaa bbb.\n", &BY).unwrap();
        doc.commit();
        let c = &comments(&doc).unwrap()[0];
        assert_eq!((c.anchor, c.start, c.end), (Anchor::Deleted, 9, 9));
    }

    proptest::proptest! {
        /// Whatever two texts are (characters of one to four bytes, shared
        /// beginnings and ends of any length), splicing one into the other
        /// reads the second, and counts what it did.
        #[test]
        fn a_body_spliced_to_any_text_reads_it(
            common in "[aé€😀 ]{0,6}",
            end in "[aé€😀\n]{0,6}",
            a in "[aé€😀b]{0,8}",
            b in "[aé€😀c]{0,8}",
        ) {
            let old = format!("{common}{a}{end}");
            let new = format!("{common}{b}{end}");
            let mut doc = draft(&old);
            doc.commit();
            let stats = set_body(&mut doc, &new, &BY).unwrap();
            proptest::prop_assert_eq!(body(&doc).unwrap(), new.clone());
            let (o, n) = (old.chars().count(), new.chars().count());
            proptest::prop_assert_eq!(o + stats.inserted - stats.deleted, n);
        }
    }

    /// The case that spliced a body into other text: `similar` placed an
    /// insertion after an equal run before it.
    #[test]
    fn a_body_of_mixed_scripts_is_spliced_to_what_was_sent() {
        let mut doc = draft("😀😀€😀€éa");
        doc.commit();
        set_body(&mut doc, "ééaaaaé", &BY).unwrap();
        assert_eq!(body(&doc).unwrap(), "ééaaaaé");
    }

    /// An edit made from the current heads is made in the one read that
    /// checks it; one from an older version is left to the isolated
    /// document; the same text again, or one a change already made from the
    /// base, is found and changes nothing.
    #[test]
    fn an_edit_from_a_version_is_decided_in_one_read() {
        let mut doc = draft("Costs fell. Aid stalled.");
        doc.commit();
        let base = doc.get_heads();
        let made = edit_from(&mut doc, &base, "Costs fell to 6%. Aid stalled.", None, &BY).unwrap();
        assert_eq!(
            made,
            BodyEdit::Made(EditStats {
                inserted: 6,
                deleted: 0
            })
        );
        let after = doc.commit().unwrap();
        assert_eq!(body(&doc).unwrap(), "Costs fell to 6%. Aid stalled.");
        // The same text again: the draft reads it already.
        let again =
            edit_from(&mut doc, &base, "Costs fell to 6%. Aid stalled.", None, &BY).unwrap();
        assert_eq!(again, BodyEdit::Already(vec![after]));
        assert!(doc.commit().is_none());
        // Someone wrote since: another text from the old base needs it isolated.
        let other = edit_from(&mut doc, &base, "Costs fell. Aid grew.", None, &BY).unwrap();
        assert_eq!(other, BodyEdit::AtBase);
        assert!(doc.commit().is_none());
        // After another change, the text made from `base` is still found.
        set_body(&mut doc, "Costs fell to 6%. Aid stalled. More.", &BY).unwrap();
        doc.commit();
        let found =
            edit_from(&mut doc, &base, "Costs fell to 6%. Aid stalled.", None, &BY).unwrap();
        assert_eq!(found, BodyEdit::Already(vec![after]));
        // A body the caller holds is taken for the body at its heads, and
        // only at those: at others, the body is read.
        let heads = doc.get_heads();
        let held = Some((heads.as_slice(), "Held."));
        let now = doc.get_heads();
        assert_eq!(
            edit_from(&mut doc, &now, "Held.", held, &BY).unwrap(),
            BodyEdit::Already(heads.clone())
        );
        let stale = Some((base.as_slice(), "Costs fell. Aid stalled. More."));
        let made = edit_from(&mut doc, &now, "Costs fell. Aid stalled. More.", stale, &BY).unwrap();
        assert!(matches!(made, BodyEdit::Made(_)), "{made:?}");
        doc.commit();
        assert_eq!(body(&doc).unwrap(), "Costs fell. Aid stalled. More.");
    }

    #[test]
    fn a_text_already_made_from_a_version_is_found() {
        let mut doc = draft("Costs fell.");
        let base = doc.get_heads();
        // Sent from `base` once (as the repository applies it: isolated).
        doc.isolate(&base);
        set_body(&mut doc, "Costs fell to 6%.", &BY).unwrap();
        let made = doc.commit().unwrap();
        doc.integrate();
        // Someone else's edit after it.
        set_body(&mut doc, "Costs fell to 6%. Aid stalled.", &BY).unwrap();
        doc.commit();
        assert_eq!(
            made_from(&mut doc, &base, "Costs fell to 6%.").unwrap(),
            Some(made)
        );
        assert_eq!(
            made_from(&mut doc, &base, "Costs fell to 7%.").unwrap(),
            None
        );
        // A label that looks like a hash is still the label.
        let heads = doc.get_heads();
        tag_version(&mut doc, "20250115", &BY, 3).unwrap();
        doc.commit();
        assert_eq!(base_heads(&mut doc, "20250115").unwrap(), heads);
    }

    #[test]
    fn quotes_must_occur_exactly_once() {
        let mut doc = draft("the cost. the cost.");
        assert!(matches!(
            add_comment(&mut doc, "c3", "absent", "x", &BY, 1),
            Err(ModelError::NotFound(_))
        ));
        let err = add_comment(&mut doc, "c4", "the cost", "x", &BY, 1).unwrap_err();
        assert!(err.to_string().contains("occurs 2 times"), "{err}");
        assert!(add_comment(&mut doc, "c5", "cost. the", "", &BY, 1).is_err());
        add_comment(&mut doc, "c6", "cost. the", "x", &BY, 1).unwrap();
        // Where a person selected it, a repeated quote is anchored there.
        let text = body(&doc).unwrap();
        let second = text.rfind("the cost").unwrap();
        let second = text[..second].chars().count();
        let c =
            add_comment_near(&mut doc, "c6b", "the cost", Some(second + 2), "x", &BY, 1).unwrap();
        let cs = comments(&doc).unwrap();
        let got = cs.iter().find(|x| x.id == c.id).unwrap();
        assert_eq!(got.passage, "the cost");
        assert_eq!(got.anchor, Anchor::Intact);
        // Overlapping occurrences are ambiguous too.
        let mut doc = draft("banana");
        assert!(add_comment(&mut doc, "c7", "ana", "x", &BY, 1).is_err());
        // A long text of one letter answers at once (no quadratic search).
        let mut doc = draft(&"a".repeat(500_000));
        assert!(add_comment(&mut doc, "c8", "a", "x", &BY, 1).is_err());
    }

    #[test]
    fn versions_and_replies() {
        let mut doc = draft("one two three");
        tag_version(&mut doc, "first", &BY, 5).unwrap();
        doc.commit();
        assert!(matches!(
            tag_version(&mut doc, "first", &BY, 6),
            Err(ModelError::Exists(_))
        ));
        assert!(tag_version(&mut doc, "current", &BY, 6).is_err());
        set_body(&mut doc, "one 2 three four", &BY).unwrap();
        doc.commit();
        let heads = version_heads(&mut doc, "first").unwrap();
        assert_eq!(read(&doc, Some(&heads)).unwrap().body, "one two three");
        assert!(version_heads(&mut doc, "round-9").is_err());
        let hunks = word_diff("one two three", "one 2 three four");
        let ins: Vec<&str> = hunks
            .iter()
            .filter(|h| h.tag == HunkTag::Insert)
            .map(|h| h.text.as_str())
            .collect();
        assert_eq!(ins, ["2", " four"]);
        let c = add_comment(&mut doc, "c9", "three", "why?", &BY, 7).unwrap();
        reply(&mut doc, &c.id, "because", &BY, 8).unwrap();
        let c = resolve(&mut doc, &c.id, &BY, 9).unwrap();
        assert!(c.resolved);
        assert_eq!(c.replies.len(), 1);
        assert!(resolve(&mut doc, &c.id, &BY, 9).is_err());
        assert!(reply(&mut doc, "nope", "x", &BY, 9).is_err());
    }

    #[test]
    fn wrong_kind_and_bad_types_are_refused() {
        let doc = AutoCommit::new();
        assert!(matches!(read(&doc, None), Err(ModelError::WrongKind(_))));
        assert!(parse_type("novel").is_err());
        assert_eq!(parse_type("").unwrap(), DraftType::WorkingPaper);
    }

    #[test]
    fn comments_made_apart_are_all_kept() {
        let mut doc = draft("Costs fell to 6%. Aid stalled.");
        let mut a = doc.fork();
        let mut b = doc.fork();
        let ca = add_comment(
            &mut a,
            &kp_core::ids::comment_id(),
            "Costs",
            "A says",
            &BY,
            2,
        )
        .unwrap();
        let cb = add_comment(&mut b, &kp_core::ids::comment_id(), "Aid", "B says", &BY, 2).unwrap();
        assert_ne!(ca.id, cb.id);
        a.merge(&mut b).unwrap();
        let all = comments(&a).unwrap();
        let bodies: Vec<&str> = all.iter().map(|c| c.body.as_str()).collect();
        assert_eq!(all.len(), 2, "{bodies:?}");
        // A unique start of an id is enough; an ambiguous or short one is not.
        let short = &ca.id[..5];
        assert_eq!(reply(&mut a, short, "ok", &BY, 3).unwrap().id, ca.id);
        assert!(matches!(
            reply(&mut a, "c", "x", &BY, 3),
            Err(ModelError::NotFound(_))
        ));
        assert!(add_comment(&mut a, &ca.id, "stalled", "again", &BY, 3).is_err());
        assert!(add_comment(&mut a, "c 1", "stalled", "bad id", &BY, 3).is_err());
    }

    #[test]
    fn workflow_names_are_not_users_labels_and_a_label_given_twice_keeps_both() {
        let mut doc = draft("one two");
        for reserved in ["round-1", "published-2"] {
            let err = tag_version(&mut doc, reserved, &BY, 2).unwrap_err();
            assert!(err.to_string().contains("review workflow"), "{err}");
        }
        assert!(tag_version(&mut doc, "a~2", &BY, 2).is_err());
        let mut a = doc.fork();
        let mut b = doc.fork();
        set_body(&mut a, "one two three", &BY).unwrap();
        let va = tag_version(&mut a, "final", &BY, 3).unwrap();
        set_body(&mut b, "zero one two", &BY).unwrap();
        let vb = tag_version(&mut b, "final", &BY, 3).unwrap();
        let mut ab = a.fork();
        ab.merge(&mut b).unwrap();
        let mut ba = b.fork();
        ba.merge(&mut a).unwrap();
        let (r1, r2) = (read(&ab, None).unwrap(), read(&ba, None).unwrap());
        assert_eq!(r1.versions, r2.versions);
        let labels: Vec<&str> = r1.versions.iter().map(|v| v.label.as_str()).collect();
        assert_eq!(labels.len(), 2);
        assert!(
            labels.contains(&"final") && labels.contains(&"final~2"),
            "{labels:?}"
        );
        let second = r1.versions.iter().find(|v| v.label == "final~2").unwrap();
        assert!(second.note.contains("concurrently"), "{}", second.note);
        let both: Vec<Vec<String>> = r1.versions.iter().map(|v| v.heads.clone()).collect();
        assert!(both.contains(&va.heads) && both.contains(&vb.heads));
        assert!(version_heads(&mut ab, "final~2").is_ok());
    }
}
