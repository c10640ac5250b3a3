//! The web workspace's calls: `POST /api/call/METHOD` with a JSON body, the
//! local API's request in JSON (fields left out take their defaults), and the
//! reply in JSON. Only the methods below are offered to the page.
//!
//! Reads are open to every logged-in person (as documents are on the
//! WebSocket). Every write is the person's: the request's author is set to
//! the logged-in person whatever the page sent, and the person must be one of
//! the space's people with a role that allows the change — the same rule the
//! node and its partners apply to the person's own (vouched) edits. The node's
//! own rules (its role in the space, the review workflow's) then apply as they
//! do to `kp`.
//!
//! A call changes nothing unless the whole of it is allowed. Errors carry the
//! message `kp` would print and an HTTP status for their kind.

use kp_model::DocKind;
use kp_model::space::Role;
use kp_proto::local as pb;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::service::workflow::person_allowed;
use crate::service::{ApiError, Service};

/// What a call fails with.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CallError {
    /// The page named a method the workspace does not offer.
    #[error("the workspace has no call `{0}`")]
    Unknown(String),
    /// The body was not the method's request in JSON.
    #[error("the request is not a valid `{method}` call: {why}")]
    BadRequest { method: String, why: String },
    /// The node refused or failed.
    #[error(transparent)]
    Api(#[from] ApiError),
}

fn parse<T: DeserializeOwned>(method: &str, body: &[u8]) -> Result<T, CallError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| CallError::BadRequest {
        method: method.to_string(),
        why: e.to_string(),
    })
}

fn reply<T: Serialize>(v: T) -> Result<Value, CallError> {
    Ok(serde_json::to_value(v).expect("replies serialize"))
}

/// An analysis (or a list of them, under `analyses`) with its report's
/// figures drawn, in `figures_svg`: the page sets the node's drawing, the
/// one `kp analyze --svg` writes, rather than drawing its own.
fn drawn(mut v: Value) -> Value {
    fn one(a: &mut Value) {
        let figures: Vec<String> = a
            .get("report_json")
            .and_then(Value::as_str)
            .and_then(|r| serde_json::from_str::<kp_plugin_host::Report>(r).ok())
            .map(|r| r.figures.iter().map(kp_model::figure::svg).collect())
            .unwrap_or_default();
        if let Some(o) = a.as_object_mut() {
            o.insert("figures_svg".into(), Value::from(figures));
        }
    }
    match v.get_mut("analyses").and_then(Value::as_array_mut) {
        Some(list) => list.iter_mut().for_each(one),
        None => one(&mut v),
    }
    v
}

/// Markdown to show as the page would.
#[derive(serde::Deserialize)]
struct Preview {
    text: String,
    /// The draft the text is of: its space's analyses draw the figures the
    /// text names.
    #[serde(default)]
    id: String,
}

/// Runs `method` for `person` (blocking: it reads and writes the store).
pub(crate) fn call(
    s: &Service,
    person: &str,
    method: &str,
    body: &[u8],
) -> Result<Value, CallError> {
    macro_rules! read {
        ($f:ident) => {{ reply(s.$f(parse(method, body)?)?) }};
    }
    // A write in the person's name, once their role in the space of the
    // document named by `$doc` allows a change of `$kind` (`$comment`: a
    // comment on a draft).
    macro_rules! as_person {
        ($req:ident, $doc:ident, $kind:ident, $comment:expr, $f:ident) => {{
            let mut r: pb::$req = parse(method, body)?;
            r.author = person.to_string();
            s.person_may(&s.space_of(&r.$doc)?, person, DocKind::$kind, $comment)?;
            reply(s.$f(r)?)
        }};
    }
    match method {
        "home" => home(s, person),
        "open_draft" => open_draft(s, person, parse(method, body)?),
        "list_spaces" => reply(s.list_spaces()?),
        "get_space" => read!(get_space),
        "list_drafts" => read!(list_drafts),
        "get_draft" => read!(get_draft),
        "list_comments" => read!(list_comments),
        "diff_draft" => read!(diff_draft),
        "draft_log" => read!(draft_log),
        "blame" => read!(blame),
        "get_review" => read!(get_review),
        "get_dataset" => read!(get_dataset),
        "list_datasets" => reply(s.list_datasets()),
        "list_plugins" => reply(s.list_plugins()?),
        "list_analyses" => read!(list_analyses).map(drawn),
        "get_analysis" => read!(get_analysis).map(drawn),
        "indicators" => read!(indicators),
        "list_events" => read!(list_events),
        "open_event" => open_event(s, person, parse(method, body)?),
        "export_draft" => read!(export_draft),
        "preview" => {
            let r: Preview = parse(method, body)?;
            s.check_text_size("the text to preview", &r.text)?;
            let figures = match r.id.trim() {
                "" => kp_model::export::Figures::new(),
                id => s.figures_for(&s.space_of(id)?, &r.text),
            };
            Ok(json!({ "html": kp_model::export::markdown_html_with(&r.text, &figures) }))
        }
        "new_draft" => {
            let mut r: pb::NewDraftRequest = parse(method, body)?;
            r.author = person.to_string();
            let space = s.space_id(&r.space)?;
            s.person_may(&space, person, DocKind::Draft, false)?;
            reply(s.new_draft(r)?)
        }
        "new_event" => {
            let mut r: pb::EventRequest = parse(method, body)?;
            r.author = person.to_string();
            let space = s.space_id(&r.space)?;
            s.person_may(&space, person, DocKind::Event, false)?;
            reply(s.new_event(r)?)
        }
        "edit_event" => as_person!(EventRequest, id, Event, false, edit_event),
        "set_dataset_open" => {
            as_person!(SetDatasetOpenRequest, id, Dataset, false, set_dataset_open)
        }
        "add_comment" => as_person!(AddCommentRequest, id, Draft, true, add_comment),
        "reply_comment" => as_person!(ReplyCommentRequest, id, Draft, true, reply_comment),
        "resolve_comment" => as_person!(ResolveCommentRequest, id, Draft, true, resolve_comment),
        "tag_version" => as_person!(TagVersionRequest, id, Draft, false, tag_version),
        "analyze" => as_person!(AnalyzeRequest, doc_id, Analysis, false, analyze).map(drawn),
        "review" => {
            use pb::review_request::Action;
            let mut r: pb::ReviewRequest = parse(method, body)?;
            r.author = person.to_string();
            let space = s.space_of(&r.id)?;
            // A referee writes a report document; every other step changes
            // the draft (the chair's are held to the admin role by the node).
            let kind = match r.action {
                Some(Action::Report(_)) => DocKind::Review,
                _ => DocKind::Draft,
            };
            s.person_may(&space, person, kind, false)?;
            reply(s.review(r)?)
        }
        other => Err(CallError::Unknown(other.to_string())),
    }
}

/// The drafts the home page lists of each status: the most recent.
const HOME_DRAFTS_PER_STATUS: usize = 50;

/// The person's home: the node, the spaces (with the person's role in each),
/// the drafts (the most recent of each status, and how many each status has
/// in all: a node of 100,000 drafts sends a page, not all of them), datasets,
/// and the person's review inbox.
fn home(s: &Service, person: &str) -> Result<Value, CallError> {
    let node = s.node_id().to_string();
    let spaces: Vec<Value> = s
        .list_spaces()?
        .spaces
        .into_iter()
        .map(|sp| {
            let (_, role) = roles(&sp, &node, person);
            let mut v = serde_json::to_value(&sp).expect("replies serialize");
            v["my_role"] = json!(role.map(Role::as_str));
            v
        })
        .collect();
    let mut drafts = Vec::new();
    let mut counts = serde_json::Map::new();
    for (status, total, some) in s.recent_drafts_by_status(HOME_DRAFTS_PER_STATUS) {
        if total > 0 {
            counts.insert(status.to_owned(), json!(total));
        }
        drafts.extend(some);
    }
    let inbox = s.review_inbox(pb::ReviewInboxRequest {
        author: person.to_string(),
    })?;
    Ok(json!({
        "person": person,
        "node_id": node,
        "institution": s.institution(),
        "spaces": spaces,
        "drafts": drafts,
        "draft_counts": counts,
        "datasets": s.list_datasets(),
        "events": s.list_events(pb::ListEventsRequest::default())?.events,
        "event_kinds": kp_model::EventKind::WORDS,
        "inbox": inbox,
    }))
}

/// An event, what the person may do with it, and the drafts of its space
/// (what it may list as discussed).
fn open_event(s: &Service, person: &str, r: pb::GetEventRequest) -> Result<Value, CallError> {
    let event = s.get_event(r)?;
    let space = s.get_space(pb::GetSpaceRequest {
        space: event.space_id.clone(),
    })?;
    let node = s.node_id().to_string();
    let (node_role, role) = roles(&space, &node, person);
    let drafts = s.list_drafts(pb::ListDraftsRequest {
        space: event.space_id.clone(),
        ..Default::default()
    })?;
    Ok(json!({
        "event": event,
        "drafts": drafts.drafts,
        "kinds": kp_model::EventKind::WORDS,
        "income_groups": kp_model::space::INCOME_GROUPS,
        "may": { "edit": person_allowed(person, node_role, role, DocKind::Event, false).is_ok() },
    }))
}

/// The node's role in a space as read (`node` its id), and the person's
/// among its people at the node.
fn roles(space: &pb::Space, node: &str, person: &str) -> (Option<Role>, Option<Role>) {
    let parse = |r: &str| kp_model::space::parse_role(r).ok();
    let of_node = space
        .members
        .iter()
        .find(|m| m.node_id == node)
        .and_then(|m| parse(&m.role));
    let of_person = space
        .people
        .iter()
        .find(|p| p.name == person && p.node_id == node)
        .and_then(|p| parse(&p.role));
    (of_node, of_person)
}

/// Everything the draft page opens with, and what the person may do there
/// (the page offers only that; the node checks again on every call).
fn open_draft(s: &Service, person: &str, r: pb::GetDraftRequest) -> Result<Value, CallError> {
    let mut draft = s.get_draft(r.clone())?;
    // The text comes over the WebSocket, live; not twice.
    draft.body = String::new();
    let comments = s.list_comments(pb::ListCommentsRequest { id: r.id.clone() })?;
    let review = s.get_review(pb::GetReviewRequest { id: r.id.clone() })?;
    let space_id = s.space_of(&r.id)?;
    let space = s.get_space(pb::GetSpaceRequest {
        space: space_id.to_string(),
    })?;
    let node = s.node_id().to_string();
    let (node_role, role) = roles(&space, &node, person);
    let allowed = |kind, comment| person_allowed(person, node_role, role, kind, comment).is_ok();
    let edit = allowed(DocKind::Draft, false);
    let status = draft
        .summary
        .as_ref()
        .map(|d| d.status.clone())
        .unwrap_or_default();
    let open_assignment = review.assignments.iter().any(|a| {
        a.round == review.round && a.referee == person && a.node_id == node && a.void.is_empty()
    });
    let credited = draft.authors.iter().any(|a| a.name == person);
    // An author never chairs their own draft's review.
    let chair = edit && role == Some(Role::Admin) && !credited;
    Ok(json!({
        "draft": draft,
        "comments": comments.comments,
        "review": review,
        "space": space,
        "my_role": role.map(Role::as_str),
        "may": {
            "edit": edit,
            "comment": allowed(DocKind::Draft, true),
            "tag": edit,
            "submit": edit && credited && matches!(status.as_str(), "draft" | "revision"),
            "withdraw": (credited || chair) && matches!(status.as_str(), "in-review" | "revision"),
            "assign": chair && status == "in-review",
            "decide": chair && status == "in-review",
            "publish": chair && status == "accepted",
            "report": open_assignment && status == "in-review"
                && allowed(DocKind::Review, false),
        },
    }))
}
