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
    DocKind, ModelError, SCHEMA, check_line, expect_kind, get_bool, get_i64, get_obj, get_str,
    list_obj,
};
use crate::ids::DocId;

/// The kinds of paper the partnership produces.
pub const DRAFT_TYPES: [&str; 4] = [
    "working-paper",
    "commissioned-paper",
    "policy-brief",
    "synthesis",
];

/// The statuses a draft goes through.
pub const STATUSES: [&str; 7] = [
    "draft",
    "in-review",
    "revision",
    "accepted",
    "published",
    "rejected",
    "withdrawn",
];

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
    /// Its label (`round-1`, `submitted`).
    pub label: String,
    /// Heads, in hex.
    pub heads: Vec<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Who tagged it.
    pub author: String,
}

/// A draft as read from its document (body at the requested heads).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Draft {
    /// The space's id.
    pub space: String,
    /// Title.
    pub title: String,
    /// One of [`DRAFT_TYPES`].
    pub draft_type: String,
    /// One of [`STATUSES`].
    pub status: String,
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

/// Checks a draft type; empty means `working-paper`.
pub fn check_type(t: &str) -> Result<&'static str, ModelError> {
    if t.is_empty() {
        return Ok(DRAFT_TYPES[0]);
    }
    super::one_of("draft type", t, &DRAFT_TYPES)
}

/// Checks a status filter.
pub fn check_status(s: &str) -> Result<&'static str, ModelError> {
    super::one_of("status", s, &STATUSES)
}

/// Fills a new draft document.
pub fn init(
    doc: &mut AutoCommit,
    space: &DocId,
    title: &str,
    draft_type: &str,
    body: &str,
    by: &Actor<'_>,
    now: i64,
) -> Result<(), ModelError> {
    let title = check_line("a title", title, MAX_TITLE_CHARS)?;
    let draft_type = check_type(draft_type)?;
    doc.put(ROOT, "kind", DocKind::Draft.as_str())?;
    doc.put(ROOT, "schema", SCHEMA)?;
    doc.put(ROOT, "space", space.to_string())?;
    doc.put(ROOT, "title", title)?;
    doc.put(ROOT, "draft_type", draft_type)?;
    doc.put(ROOT, "status", "draft")?;
    doc.put(ROOT, "created_at", now)?;
    doc.put_object(ROOT, "authors", ObjType::List)?;
    add_author(doc, by)?;
    let text = doc.put_object(ROOT, "body", ObjType::Text)?;
    doc.splice_text(&text, 0, 0, body)?;
    doc.put_object(ROOT, "versions", ObjType::Map)?;
    doc.put_object(ROOT, "comments", ObjType::Map)?;
    super::review::ensure_lists(doc)?;
    Ok(())
}

fn body_obj(doc: &AutoCommit) -> Result<ObjId, ModelError> {
    get_obj(doc, &ROOT, "body", ObjType::Text)
        .ok_or_else(|| ModelError::invalid("the draft has no body text"))
}

fn authors(doc: &AutoCommit) -> Vec<Author> {
    let Some(list) = get_obj(doc, &ROOT, "authors", ObjType::List) else {
        return Vec::new();
    };
    (0..doc.length(&list))
        .filter_map(|i| list_obj(doc, &list, i, ObjType::Map))
        .map(|a| Author {
            name: get_str(doc, &a, "name"),
            institution: get_str(doc, &a, "institution"),
        })
        .collect()
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

/// The heads of version `label` ("current" or empty: the present heads).
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

fn read_versions(doc: &AutoCommit) -> Vec<Version> {
    let Some(map) = get_obj(doc, &ROOT, "versions", ObjType::Map) else {
        return Vec::new();
    };
    let mut out: Vec<Version> = doc
        .keys(&map)
        .filter_map(|label| {
            let v = get_obj(doc, &map, &label, ObjType::Map)?;
            let heads = get_obj(doc, &v, "heads", ObjType::List)
                .map(|l| {
                    (0..doc.length(&l))
                        .filter_map(|i| match doc.get(&l, i) {
                            Ok(Some((automerge::Value::Scalar(s), _))) => {
                                s.as_str().map(str::to_owned)
                            }
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default();
            Some(Version {
                heads,
                created_at: get_i64(doc, &v, "created_at"),
                author: get_str(doc, &v, "author"),
                label,
            })
        })
        .collect();
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
        status: get_str(doc, &ROOT, "status"),
        authors: authors(doc),
        body,
        versions: read_versions(doc),
        created_at: get_i64(doc, &ROOT, "created_at"),
    })
}

/// What an edit did to the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    use similar::{DiffOp, TextDiff};
    expect_kind(doc, DocKind::Draft)?;
    let body = body_obj(doc)?;
    let old = doc.text(&body)?;
    let mut stats = EditStats {
        inserted: 0,
        deleted: 0,
    };
    if old == new_text {
        return Ok(stats);
    }
    let diff = TextDiff::configure()
        .timeout(DIFF_DEADLINE)
        .diff_chars(old.as_str(), new_text);
    let new_chars: Vec<&str> = diff.new_slices().to_vec();
    // Applied from the end, so the positions of earlier splices stay valid.
    for op in diff.ops().iter().rev() {
        let (at, del, ins) = match *op {
            DiffOp::Equal { .. } => continue,
            DiffOp::Delete {
                old_index, old_len, ..
            } => (old_index, old_len, 0..0),
            DiffOp::Insert {
                old_index,
                new_index,
                new_len,
            } => (old_index, 0, new_index..new_index + new_len),
            DiffOp::Replace {
                old_index,
                old_len,
                new_index,
                new_len,
            } => (old_index, old_len, new_index..new_index + new_len),
        };
        let text: String = new_chars[ins.clone()].concat();
        doc.splice_text(&body, at, del as isize, &text)?;
        stats.inserted += ins.len();
        stats.deleted += del;
    }
    add_author(doc, by)?;
    Ok(stats)
}

/// Names the current heads `label`.
pub fn tag_version(
    doc: &mut AutoCommit,
    label: &str,
    author: &str,
    now: i64,
) -> Result<Version, ModelError> {
    expect_kind(doc, DocKind::Draft)?;
    let label = check_line("a version label", label, 80)?;
    if label == "current" || label.contains(char::is_whitespace) {
        return Err(ModelError::invalid(
            "a version label is one word and not `current`",
        ));
    }
    if read_versions(doc).iter().any(|v| v.label == label) {
        return Err(ModelError::Exists(format!(
            "version `{label}` exists already; pick another label"
        )));
    }
    let heads: Vec<String> = doc.get_heads().iter().map(|h| h.to_string()).collect();
    let map = match get_obj(doc, &ROOT, "versions", ObjType::Map) {
        Some(m) => m,
        None => doc.put_object(ROOT, "versions", ObjType::Map)?,
    };
    let v = doc.put_object(&map, label.as_str(), ObjType::Map)?;
    let list = doc.put_object(&v, "heads", ObjType::List)?;
    for (i, h) in heads.iter().enumerate() {
        doc.insert(&list, i, h.as_str())?;
    }
    doc.put(&v, "created_at", now)?;
    doc.put(&v, "author", author)?;
    Ok(Version {
        label,
        heads,
        created_at: now,
        author: author.to_owned(),
    })
}

/// Adds a comment on the one passage of the body that reads `quote`.
pub fn add_comment(
    doc: &mut AutoCommit,
    quote: &str,
    body_text: &str,
    by: &Actor<'_>,
    now: i64,
) -> Result<Comment, ModelError> {
    expect_kind(doc, DocKind::Draft)?;
    check_comment(body_text)?;
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
    if text[first + step..].contains(quote) {
        let n = text.matches(quote).count().max(2);
        return Err(ModelError::invalid(format!(
            "the quoted passage occurs {n} times in the draft; quote more of the surrounding text so it occurs once"
        )));
    }
    let start = text[..first].chars().count();
    let last = start + quote.chars().count() - 1;
    let start_cursor = doc.get_cursor(&body, start, None)?;
    let end_cursor = doc.get_cursor(&body, last, None)?;
    let comments = match get_obj(doc, &ROOT, "comments", ObjType::Map) {
        Some(m) => m,
        None => doc.put_object(ROOT, "comments", ObjType::Map)?,
    };
    let id = next_comment_id(doc, &comments, by.node_id);
    let c = doc.put_object(&comments, id.as_str(), ObjType::Map)?;
    doc.put(&c, "author", by.author)?;
    doc.put(&c, "node_id", by.node_id)?;
    doc.put(&c, "body", body_text)?;
    doc.put(&c, "created_at", now)?;
    doc.put(&c, "quote", quote)?;
    doc.put(&c, "start", start_cursor.to_string())?;
    doc.put(&c, "end", end_cursor.to_string())?;
    doc.put(&c, "resolved", false)?;
    doc.put_object(&c, "replies", ObjType::List)?;
    read_comment(doc, &body, &comments, &id)
        .ok_or_else(|| ModelError::invalid("the comment could not be read back"))
}

/// Comment ids are short: `c` and a number, plus the node's first characters
/// when another node already used that number (comments made concurrently on two
/// nodes must not collide).
fn next_comment_id(doc: &AutoCommit, comments: &ObjId, node_id: &str) -> String {
    let n = doc.length(comments) + 1;
    let plain = format!("c{n}");
    if doc.get(comments, plain.as_str()).ok().flatten().is_none() {
        return plain;
    }
    let short: String = node_id.chars().take(6).collect();
    let mut i = n;
    loop {
        let id = format!("c{i}-{short}");
        if doc.get(comments, id.as_str()).ok().flatten().is_none() {
            return id;
        }
        i += 1;
    }
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

fn comment_obj(doc: &AutoCommit, id: &str) -> Result<(ObjId, ObjId), ModelError> {
    let map = get_obj(doc, &ROOT, "comments", ObjType::Map);
    map.and_then(|m| get_obj(doc, &m, id, ObjType::Map).map(|c| (m, c)))
        .ok_or_else(|| {
            ModelError::NotFound(format!(
                "no comment `{id}` on this draft (see `kp comment list`)"
            ))
        })
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
    let (map, c) = comment_obj(doc, id)?;
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
    read_comment(doc, &body, &map, id)
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
    let (map, c) = comment_obj(doc, id)?;
    if get_bool(doc, &c, "resolved") {
        return Err(ModelError::invalid(format!(
            "comment `{id}` is resolved already"
        )));
    }
    doc.put(&c, "resolved", true)?;
    doc.put(&c, "resolved_by", by.author)?;
    doc.put(&c, "resolved_at", now)?;
    let body = body_obj(doc)?;
    read_comment(doc, &body, &map, id)
        .ok_or_else(|| ModelError::invalid("the comment could not be read back"))
}

/// A piece of a word-level diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hunk {
    /// `equal`, `insert` or `delete`.
    pub tag: &'static str,
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
            ChangeTag::Equal => "equal",
            ChangeTag::Insert => "insert",
            ChangeTag::Delete => "delete",
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
        init(&mut doc, &DocId::random(), "Costs", "", body, &BY, 1).unwrap();
        doc.commit();
        doc
    }

    #[test]
    fn anchors_follow_edits_and_report_deletion() {
        let mut doc = draft("Remittances grew. Costs fell to 6%. Aid stalled.");
        let c = add_comment(&mut doc, "Costs fell to 6%", "source?", &BY, 2).unwrap();
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
        add_comment(&mut doc, "ccc ddd", "x", &BY, 2).unwrap();
        doc.commit();
        set_body(&mut doc, "aaa bbb.\n", &BY).unwrap();
        doc.commit();
        let c = &comments(&doc).unwrap()[0];
        assert_eq!((c.anchor, c.start, c.end), (Anchor::Deleted, 9, 9));
    }

    #[test]
    fn quotes_must_occur_exactly_once() {
        let mut doc = draft("the cost. the cost.");
        assert!(matches!(
            add_comment(&mut doc, "absent", "x", &BY, 1),
            Err(ModelError::NotFound(_))
        ));
        let err = add_comment(&mut doc, "the cost", "x", &BY, 1).unwrap_err();
        assert!(err.to_string().contains("occurs 2 times"), "{err}");
        assert!(add_comment(&mut doc, "cost. the", "", &BY, 1).is_err());
        add_comment(&mut doc, "cost. the", "x", &BY, 1).unwrap();
        // Overlapping occurrences are ambiguous too.
        let mut doc = draft("banana");
        assert!(add_comment(&mut doc, "ana", "x", &BY, 1).is_err());
        // A long text of one letter answers at once (no quadratic search).
        let mut doc = draft(&"a".repeat(500_000));
        assert!(add_comment(&mut doc, "a", "x", &BY, 1).is_err());
    }

    #[test]
    fn versions_and_replies() {
        let mut doc = draft("one two three");
        tag_version(&mut doc, "round-1", "Ana", 5).unwrap();
        doc.commit();
        assert!(matches!(
            tag_version(&mut doc, "round-1", "Ana", 6),
            Err(ModelError::Exists(_))
        ));
        assert!(tag_version(&mut doc, "current", "Ana", 6).is_err());
        set_body(&mut doc, "one 2 three four", &BY).unwrap();
        doc.commit();
        let heads = version_heads(&mut doc, "round-1").unwrap();
        assert_eq!(read(&doc, Some(&heads)).unwrap().body, "one two three");
        assert!(version_heads(&mut doc, "round-9").is_err());
        let hunks = word_diff("one two three", "one 2 three four");
        let ins: Vec<&str> = hunks
            .iter()
            .filter(|h| h.tag == "insert")
            .map(|h| h.text.as_str())
            .collect();
        assert_eq!(ins, ["2", " four"]);
        let c = add_comment(&mut doc, "three", "why?", &BY, 7).unwrap();
        reply(&mut doc, &c.id, "because", &BY, 8).unwrap();
        let c = resolve(&mut doc, &c.id, &BY, 9).unwrap();
        assert!(c.resolved);
        assert_eq!(c.replies.len(), 1);
        assert!(resolve(&mut doc, &c.id, &BY, 9).is_err());
        assert!(reply(&mut doc, "nope", "x", &BY, 9).is_err());
    }

    #[test]
    fn wrong_kind_and_bad_types_are_refused() {
        let mut doc = AutoCommit::new();
        assert!(matches!(read(&doc, None), Err(ModelError::WrongKind(_))));
        assert!(init(&mut doc, &DocId::random(), "t", "novel", "", &BY, 0).is_err());
        assert!(check_status("lost").is_err());
    }
}
