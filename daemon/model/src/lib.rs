//! The document model: typed views and edits of the automerge documents a node
//! holds (spaces, drafts with comments, datasets, analyses).
//!
//! Every document has `kind` and `schema` at its root. Reading code never trusts
//! the shape of a document (it may come from another node later): a missing or
//! mistyped field reads as empty, never as a panic.

pub mod analysis;
pub mod dataset;
pub mod date;
pub mod draft;
pub mod event;
pub mod export;
pub mod figure;
pub mod review;
pub mod rules;
pub mod space;
pub mod view;
pub mod words;

pub use words::{DraftType, EventKind, HunkTag, Recommendation, Role, Status, Verdict};

use automerge::{
    AutoCommit, AutomergeError, ChangeHash, ObjId, ObjType, Prop, ROOT, ReadDoc, ScalarValue, Value,
};
use serde::{Deserialize, Serialize};

/// The schema version written into new documents.
pub const SCHEMA: u64 = 1;

/// What sort of document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DocKind {
    /// A space: name, theme, members.
    Space,
    /// A draft paper with comments.
    Draft,
    /// A data table.
    Dataset,
    /// A plugin's report on a draft or dataset.
    Analysis,
    /// A referee's report on a round of a draft.
    Review,
    /// A workshop, conference, consultation or debate.
    Event,
    /// Anything else (an unknown or damaged document).
    Unknown,
}

impl DocKind {
    /// The word stored in documents.
    pub fn as_str(self) -> &'static str {
        match self {
            DocKind::Space => "space",
            DocKind::Draft => "draft",
            DocKind::Dataset => "dataset",
            DocKind::Analysis => "analysis",
            DocKind::Review => "review",
            DocKind::Event => "event",
            DocKind::Unknown => "unknown",
        }
    }

    /// The word with its article: "a draft", "an event".
    pub fn with_article(self) -> String {
        let w = self.as_str();
        let article = if w.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        };
        format!("{article} {w}")
    }

    fn parse(s: &str) -> Self {
        match s {
            "space" => DocKind::Space,
            "draft" => DocKind::Draft,
            "dataset" => DocKind::Dataset,
            "analysis" => DocKind::Analysis,
            "review" => DocKind::Review,
            "event" => DocKind::Event,
            _ => DocKind::Unknown,
        }
    }
}

/// An edit or a read that cannot be done; nothing was changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// The input is wrong; the message says how.
    #[error("{0}")]
    Invalid(String),
    /// Something named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// Something with that name exists already.
    #[error("{0}")]
    Exists(String),
    /// An input is over a configured limit.
    #[error("{0}")]
    TooLarge(String),
    /// The document is not what this operation works on.
    #[error("{0}")]
    WrongKind(String),
    /// The document is not in a state that allows this (a draft's status).
    #[error("{0}")]
    State(String),
    /// The person or node acting may not do this (their role in the space).
    #[error("{0}")]
    Forbidden(String),
    /// An analysis plugin was refused at install or failed on a document.
    #[error("{0}")]
    Plugin(String),
    /// automerge refused an operation.
    #[error("document operation failed: {0}")]
    Automerge(Box<AutomergeError>),
}

impl From<AutomergeError> for ModelError {
    fn from(e: AutomergeError) -> Self {
        Self::Automerge(Box::new(e))
    }
}

impl ModelError {
    /// An [`ModelError::Invalid`] with `msg`.
    pub fn invalid(msg: impl Into<String>) -> Self {
        Self::Invalid(msg.into())
    }
}

/// What the index keeps of a document.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Its kind.
    pub kind: DocKind,
    /// Its space's id, for drafts and datasets.
    pub space: Option<String>,
    /// Title or name.
    pub title: String,
    /// Draft status.
    pub status: String,
    /// Draft type.
    pub subtype: String,
}

/// Reads the fields the index keeps.
pub fn summarize(doc: &AutoCommit) -> Summary {
    let kind = DocKind::parse(&get_str(doc, &ROOT, "kind"));
    let title = match kind {
        DocKind::Space => get_str(doc, &ROOT, "name"),
        _ => get_str(doc, &ROOT, "title"),
    };
    let space = Some(get_str(doc, &ROOT, "space")).filter(|s| !s.is_empty());
    // A draft's status follows from its review records (see `review`).
    let status = match kind {
        DocKind::Draft => review::read_view(&View::now(doc))
            .status
            .as_str()
            .to_owned(),
        _ => get_str(doc, &ROOT, "status"),
    };
    Summary {
        kind,
        space,
        title,
        status,
        subtype: get_str(doc, &ROOT, "draft_type"),
    }
}

/// Fails unless the document is of `kind`.
pub(crate) fn expect_kind(doc: &AutoCommit, kind: DocKind) -> Result<(), ModelError> {
    let found = DocKind::parse(&get_str(doc, &ROOT, "kind"));
    if found == kind {
        Ok(())
    } else {
        Err(ModelError::WrongKind(format!(
            "that document is {}, not {}",
            found.with_article(),
            kind.with_article()
        )))
    }
}

/// A document read as it is now, or as it was at some heads (a change's
/// parents, when a partner's change is checked against what its author saw).
#[derive(Debug, Clone, Copy)]
pub(crate) struct View<'a> {
    pub(crate) doc: &'a AutoCommit,
    pub(crate) at: Option<&'a [ChangeHash]>,
}

impl<'a> View<'a> {
    /// The document as it is now.
    pub(crate) fn now(doc: &'a AutoCommit) -> Self {
        Self { doc, at: None }
    }

    /// The document as it was at `heads`.
    pub(crate) fn at(doc: &'a AutoCommit, heads: &'a [ChangeHash]) -> Self {
        Self {
            doc,
            at: Some(heads),
        }
    }

    fn get(&self, obj: &ObjId, prop: impl Into<Prop>) -> Option<(Value<'a>, ObjId)> {
        let got = match self.at {
            None => self.doc.get(obj, prop),
            Some(h) => self.doc.get_at(obj, prop, h),
        };
        got.ok().flatten()
    }

    /// A scalar field.
    pub(crate) fn scalar(&self, obj: &ObjId, key: &str) -> Option<ScalarValue> {
        match self.get(obj, key) {
            Some((Value::Scalar(s), _)) => Some(s.into_owned()),
            _ => None,
        }
    }

    /// A string field, or empty.
    pub(crate) fn str(&self, obj: &ObjId, key: &str) -> String {
        match self.scalar(obj, key) {
            Some(ScalarValue::Str(s)) => s.to_string(),
            _ => String::new(),
        }
    }

    /// An integer field, or 0.
    pub(crate) fn i64(&self, obj: &ObjId, key: &str) -> i64 {
        scalar_i64(self.scalar(obj, key))
    }

    /// A child object of `ty` at `key`.
    pub(crate) fn obj(&self, obj: &ObjId, key: &str, ty: ObjType) -> Option<ObjId> {
        match self.get(obj, key) {
            Some((Value::Object(t), id)) if t == ty => Some(id),
            _ => None,
        }
    }

    /// The length of a list or text.
    pub(crate) fn length(&self, obj: &ObjId) -> usize {
        match self.at {
            None => self.doc.length(obj),
            Some(h) => self.doc.length_at(obj, h),
        }
    }

    /// The maps of a list, in order.
    pub(crate) fn maps(&self, list: &ObjId) -> Vec<ObjId> {
        (0..self.length(list))
            .filter_map(|i| match self.get(list, i) {
                Some((Value::Object(ObjType::Map), id)) => Some(id),
                _ => None,
            })
            .collect()
    }

    /// The strings of a list at `key` of `obj` (empty if there is none).
    pub(crate) fn strs(&self, obj: &ObjId, key: &str) -> Vec<String> {
        let Some(list) = self.obj(obj, key, ObjType::List) else {
            return Vec::new();
        };
        (0..self.length(&list))
            .filter_map(|i| match self.get(&list, i) {
                Some((Value::Scalar(s), _)) => s.as_str().map(str::to_owned),
                _ => None,
            })
            .collect()
    }
}

fn scalar_i64(v: Option<ScalarValue>) -> i64 {
    match v {
        Some(ScalarValue::Int(i)) => i,
        Some(ScalarValue::Uint(u)) => i64::try_from(u).unwrap_or(i64::MAX),
        Some(ScalarValue::Timestamp(t)) => t,
        _ => 0,
    }
}

/// The operation that made an object: its Lamport counter and actor, which
/// order the records of concurrent writers the same way on every node (a
/// counter is larger than every counter its author had seen).
pub(crate) fn op_of(id: &ObjId) -> Option<(u64, automerge::ActorId)> {
    match id {
        ObjId::Id(counter, actor, _) => Some((*counter, actor.clone())),
        ObjId::Root => None,
    }
}

pub(crate) fn get_scalar(doc: &AutoCommit, obj: &ObjId, key: &str) -> Option<ScalarValue> {
    match doc.get(obj, key) {
        Ok(Some((Value::Scalar(s), _))) => Some(s.into_owned()),
        _ => None,
    }
}

/// A string field, or empty.
pub(crate) fn get_str(doc: &AutoCommit, obj: &ObjId, key: &str) -> String {
    match get_scalar(doc, obj, key) {
        Some(ScalarValue::Str(s)) => s.to_string(),
        _ => String::new(),
    }
}

/// An integer field, or 0.
pub(crate) fn get_i64(doc: &AutoCommit, obj: &ObjId, key: &str) -> i64 {
    scalar_i64(get_scalar(doc, obj, key))
}

/// A boolean field, or false.
pub(crate) fn get_bool(doc: &AutoCommit, obj: &ObjId, key: &str) -> bool {
    matches!(get_scalar(doc, obj, key), Some(ScalarValue::Boolean(true)))
}

/// A child object of `ty` at `key`.
/// The change that already made the text object `text_obj` read `text` from
/// `base`: one whose only dependencies are `base` and after which the text
/// reads `text` (the same text sent again from the same version, say). `None`
/// if there is none.
pub(crate) fn text_made_from(
    doc: &mut AutoCommit,
    text_obj: &ObjId,
    base: &[automerge::ChangeHash],
    text: &str,
) -> Result<Option<automerge::ChangeHash>, ModelError> {
    if !doc.get_missing_deps(base).is_empty() {
        return Ok(None);
    }
    let mut wanted = base.to_vec();
    wanted.sort();
    let on_base: Vec<automerge::ChangeHash> = doc
        .get_changes_meta(base)
        .into_iter()
        .filter(|c| {
            let mut deps = c.deps.clone();
            deps.sort();
            deps == wanted
        })
        .map(|c| c.hash)
        .collect();
    for hash in on_base {
        if doc.text_at(text_obj, &[hash])? == text {
            return Ok(Some(hash));
        }
    }
    Ok(None)
}

pub(crate) fn get_obj(doc: &AutoCommit, obj: &ObjId, key: &str, ty: ObjType) -> Option<ObjId> {
    match doc.get(obj, key) {
        Ok(Some((Value::Object(t), id))) if t == ty => Some(id),
        _ => None,
    }
}

/// The `i`th element of a list, if it is an object of `ty`.
pub(crate) fn list_obj(doc: &AutoCommit, list: &ObjId, i: usize, ty: ObjType) -> Option<ObjId> {
    match doc.get(list, i) {
        Ok(Some((Value::Object(t), id))) if t == ty => Some(id),
        _ => None,
    }
}

/// `value` if it is one of `allowed`; otherwise an error naming `what` and the
/// words allowed.
pub(crate) fn one_of(
    what: &str,
    value: &str,
    allowed: &[&'static str],
) -> Result<&'static str, ModelError> {
    allowed
        .iter()
        .find(|a| **a == value)
        .copied()
        .ok_or_else(|| words::unknown(what, value, allowed))
}

/// Checks a one-line name or title: not blank, no control characters, bounded.
pub(crate) fn check_line(what: &str, value: &str, max: usize) -> Result<String, ModelError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(ModelError::invalid(format!("{what} must not be empty")));
    }
    if v.chars().any(char::is_control) {
        return Err(ModelError::invalid(format!(
            "{what} must be one line without control characters"
        )));
    }
    if v.chars().count() > max {
        return Err(ModelError::TooLarge(format!(
            "{what} is longer than {max} characters"
        )));
    }
    Ok(v.to_owned())
}
