//! Events: the workshops, conferences, consultations and debates where the
//! partnership's work is discussed, kept as documents of a space so partners
//! see them and the donors' indicators count them.
//!
//! Sets are maps keyed by what they hold (an institution's name, a draft's
//! id), so two nodes that add the same participant while apart hold it once
//! after the merge, and two that add different ones hold both. The minutes
//! are a text edited by splices, so concurrent edits of them merge too.

use std::collections::BTreeMap;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ROOT, ReadDoc};
use serde::Serialize;

use super::{
    DocKind, EventKind, ModelError, SCHEMA, check_line, date, expect_kind, get_bool, get_i64,
    get_obj, get_str, text_made_from,
};
use kp_core::ids::DocId;

/// The longest minutes kept, in characters.
pub const MAX_MINUTES_CHARS: usize = 200_000;

/// An institution that took part.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Participant {
    /// Its name.
    pub institution: String,
    /// Its region (free text, such as `South Asia`), or empty.
    pub region: String,
    /// Its country's income group (see [`crate::space::INCOME_GROUPS`]), or empty.
    pub income_group: String,
}

/// An event as read from its document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// The space's id.
    pub space: String,
    /// Its title.
    pub title: String,
    /// Workshop, conference…
    pub kind: String,
    /// The first day (`YYYY-MM-DD`).
    pub starts: String,
    /// The last day (`YYYY-MM-DD`), the first if it lasted one day.
    pub ends: String,
    /// Where it took place, or empty.
    pub place: String,
    /// Held online (in part or whole).
    pub online: bool,
    /// The organising institutions, sorted.
    pub organisers: Vec<String>,
    /// The participating institutions (organisers among them), sorted.
    pub participants: Vec<Participant>,
    /// The ids of the drafts and publications discussed, sorted.
    pub discussed: Vec<String>,
    /// The minutes (Markdown).
    pub minutes: String,
    /// Unix seconds.
    pub created_at: i64,
}

impl Event {
    /// The distinct regions of its participants (named ones only).
    pub fn regions(&self) -> Vec<&str> {
        let mut r: Vec<&str> = self
            .participants
            .iter()
            .map(|p| p.region.as_str())
            .filter(|r| !r.is_empty())
            .collect();
        r.sort_unstable();
        r.dedup();
        r
    }

    /// Participants from more than one region.
    pub fn cross_regional(&self) -> bool {
        self.regions().len() > 1
    }

    /// Unix seconds of its first day.
    pub fn start_secs(&self) -> i64 {
        date::parse_day(&self.starts).unwrap_or(0)
    }
}

/// A change to an event: each field given replaces or extends what is kept.
#[derive(Debug, Clone, Default)]
pub struct Change {
    /// A new title.
    pub title: Option<String>,
    /// A new kind.
    pub kind: Option<EventKind>,
    /// A new first day.
    pub starts: Option<String>,
    /// A new last day.
    pub ends: Option<String>,
    /// A new place.
    pub place: Option<String>,
    /// Whether it was online.
    pub online: Option<bool>,
    /// Organising institutions to add (each also a participant).
    pub add_organisers: Vec<Participant>,
    /// Participants to add (or to update: region and income group).
    pub add_participants: Vec<Participant>,
    /// Institutions to take out (as organisers and participants).
    pub remove_institutions: Vec<String>,
    /// Drafts discussed, to add.
    pub add_discussed: Vec<DocId>,
    /// Drafts to take out of those discussed.
    pub remove_discussed: Vec<DocId>,
    /// New minutes (the whole text; stored as the edits that make it).
    pub minutes: Option<String>,
}

/// Fills a new event document: `change` must give a title, a kind and a
/// first day.
pub fn init(
    doc: &mut AutoCommit,
    space: &DocId,
    change: &Change,
    now: i64,
) -> Result<(), ModelError> {
    if change.title.is_none() {
        return Err(ModelError::invalid("an event needs a title (--title)"));
    }
    if change.kind.is_none() {
        return Err(ModelError::invalid(format!(
            "an event needs a kind (--kind): one of {}",
            EventKind::WORDS.join(", ")
        )));
    }
    if change.starts.is_none() {
        return Err(ModelError::invalid(
            "an event needs its first day (--starts YYYY-MM-DD)",
        ));
    }
    doc.put(ROOT, "kind", DocKind::Event.as_str())?;
    doc.put(ROOT, "schema", SCHEMA)?;
    doc.put(ROOT, "space", space.to_string())?;
    doc.put(ROOT, "created_at", now)?;
    doc.put(ROOT, "online", false)?;
    doc.put(ROOT, "place", "")?;
    doc.put_object(ROOT, "organisers", ObjType::Map)?;
    doc.put_object(ROOT, "participants", ObjType::Map)?;
    doc.put_object(ROOT, "discussed", ObjType::Map)?;
    doc.put_object(ROOT, "minutes", ObjType::Text)?;
    apply(doc, change)
}

/// Applies `change` to an event. Checks everything before writing anything.
pub fn apply(doc: &mut AutoCommit, change: &Change) -> Result<(), ModelError> {
    expect_kind(doc, DocKind::Event)?;
    let title = change
        .title
        .as_deref()
        .map(|t| check_line("an event's title", t, super::draft::MAX_TITLE_CHARS))
        .transpose()?;
    let place = match change.place.as_deref().map(str::trim) {
        None | Some("") => change.place.as_ref().map(|_| String::new()),
        Some(p) => Some(check_line("a place", p, super::draft::MAX_TITLE_CHARS)?),
    };
    let starts = change.starts.as_deref().map(day).transpose()?;
    let ends = change.ends.as_deref().map(day).transpose()?;
    let first = starts
        .clone()
        .unwrap_or_else(|| get_str(doc, &ROOT, "starts"));
    let last = ends.clone().or_else(|| {
        let kept = get_str(doc, &ROOT, "ends");
        (!kept.is_empty()).then_some(kept)
    });
    if let Some(last) = &last
        && !first.is_empty()
        && *last < first
    {
        return Err(ModelError::invalid(format!(
            "the event ends ({last}) before it starts ({first})"
        )));
    }
    let organisers = checked(&change.add_organisers)?;
    let participants = checked(&change.add_participants)?;
    if let Some(m) = &change.minutes
        && m.chars().count() > MAX_MINUTES_CHARS
    {
        return Err(ModelError::TooLarge(format!(
            "the minutes are longer than {MAX_MINUTES_CHARS} characters"
        )));
    }
    let held = keys(doc, "participants");
    if let Some(name) = change
        .remove_institutions
        .iter()
        .find(|n| !held.iter().any(|h| h == n.trim()))
    {
        return Err(ModelError::NotFound(format!(
            "`{}` is not among the event's participants",
            name.trim()
        )));
    }
    if let Some(t) = title {
        doc.put(ROOT, "title", t)?;
    }
    if let Some(k) = change.kind {
        doc.put(ROOT, "event_kind", k.as_str())?;
    }
    if let Some(s) = starts {
        doc.put(ROOT, "starts", s)?;
    }
    if let Some(e) = ends {
        doc.put(ROOT, "ends", e)?;
    }
    if let Some(p) = place {
        doc.put(ROOT, "place", p)?;
    }
    if let Some(o) = change.online {
        doc.put(ROOT, "online", o)?;
    }
    let orgs = map_at(doc, "organisers")?;
    let parts = map_at(doc, "participants")?;
    for p in &organisers {
        doc.put(&orgs, p.institution.as_str(), true)?;
    }
    for p in organisers.iter().chain(&participants) {
        // A participant named again keeps what it had unless the new entry
        // says more.
        let entry = match get_obj(doc, &parts, &p.institution, ObjType::Map) {
            Some(e) => e,
            None => doc.put_object(&parts, p.institution.as_str(), ObjType::Map)?,
        };
        if !p.region.is_empty() || get_str(doc, &entry, "region").is_empty() {
            doc.put(&entry, "region", p.region.as_str())?;
        }
        if !p.income_group.is_empty() || get_str(doc, &entry, "income_group").is_empty() {
            doc.put(&entry, "income_group", p.income_group.as_str())?;
        }
    }
    for name in &change.remove_institutions {
        doc.delete(&orgs, name.trim())?;
        doc.delete(&parts, name.trim())?;
    }
    let discussed = map_at(doc, "discussed")?;
    for d in &change.add_discussed {
        doc.put(&discussed, d.to_string(), true)?;
    }
    for d in &change.remove_discussed {
        doc.delete(&discussed, d.to_string())?;
    }
    if let Some(m) = &change.minutes {
        let text = match get_obj(doc, &ROOT, "minutes", ObjType::Text) {
            Some(t) => t,
            None => doc.put_object(ROOT, "minutes", ObjType::Text)?,
        };
        doc.update_text(&text, m)?;
    }
    Ok(())
}

/// Whether the minutes read `text` now, or a change already made them read
/// `text` from `base` (the same minutes saved twice from one version): then
/// saving them from `base` again would add their edits a second time.
pub fn minutes_already(
    doc: &mut AutoCommit,
    base: &[automerge::ChangeHash],
    text: &str,
) -> Result<bool, ModelError> {
    expect_kind(doc, DocKind::Event)?;
    let Some(minutes) = get_obj(doc, &ROOT, "minutes", ObjType::Text) else {
        return Ok(false);
    };
    if doc.text(&minutes)? == text {
        return Ok(true);
    }
    Ok(text_made_from(doc, &minutes, base, text)?.is_some())
}

fn day(s: &str) -> Result<String, ModelError> {
    let secs = date::parse_day(s.trim())?;
    Ok(date::format_day(secs))
}

fn map_at(doc: &mut AutoCommit, key: &str) -> Result<automerge::ObjId, ModelError> {
    Ok(match get_obj(doc, &ROOT, key, ObjType::Map) {
        Some(m) => m,
        None => doc.put_object(ROOT, key, ObjType::Map)?,
    })
}

fn checked(list: &[Participant]) -> Result<Vec<Participant>, ModelError> {
    list.iter()
        .map(|p| {
            Ok(Participant {
                institution: check_line(
                    "an institution's name",
                    &p.institution,
                    super::draft::MAX_TITLE_CHARS,
                )?,
                region: match p.region.trim() {
                    "" => String::new(),
                    r => check_line("a region", r, super::draft::MAX_TITLE_CHARS)?,
                },
                income_group: super::space::check_income_group(p.income_group.trim())?.to_owned(),
            })
        })
        .collect()
}

fn keys(doc: &AutoCommit, key: &str) -> Vec<String> {
    get_obj(doc, &ROOT, key, ObjType::Map)
        .map(|m| doc.keys(&m).collect())
        .unwrap_or_default()
}

/// Reads an event document.
pub fn read(doc: &AutoCommit) -> Result<Event, ModelError> {
    expect_kind(doc, DocKind::Event)?;
    let participants: BTreeMap<String, Participant> =
        get_obj(doc, &ROOT, "participants", ObjType::Map)
            .map(|m| {
                doc.keys(&m)
                    .map(|name| {
                        let entry = get_obj(doc, &m, &name, ObjType::Map);
                        let field = |k| {
                            entry
                                .as_ref()
                                .map(|e| get_str(doc, e, k))
                                .unwrap_or_default()
                        };
                        let p = Participant {
                            institution: name.clone(),
                            region: field("region"),
                            income_group: field("income_group"),
                        };
                        (name, p)
                    })
                    .collect()
            })
            .unwrap_or_default();
    let minutes = get_obj(doc, &ROOT, "minutes", ObjType::Text)
        .and_then(|t| doc.text(&t).ok())
        .unwrap_or_default();
    let starts = get_str(doc, &ROOT, "starts");
    let ends = Some(get_str(doc, &ROOT, "ends"))
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| starts.clone());
    Ok(Event {
        space: get_str(doc, &ROOT, "space"),
        title: get_str(doc, &ROOT, "title"),
        kind: get_str(doc, &ROOT, "event_kind"),
        starts,
        ends,
        place: get_str(doc, &ROOT, "place"),
        online: get_bool(doc, &ROOT, "online"),
        organisers: keys(doc, "organisers"),
        participants: participants.into_values().collect(),
        discussed: keys(doc, "discussed"),
        minutes,
        created_at: get_i64(doc, &ROOT, "created_at"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(name: &str, region: &str) -> Participant {
        Participant {
            institution: name.into(),
            region: region.into(),
            income_group: String::new(),
        }
    }

    fn workshop() -> Change {
        Change {
            title: Some("Remittance costs in East Africa".into()),
            kind: Some(EventKind::Workshop),
            starts: Some("2026-03-02".into()),
            ends: Some("2026-03-03".into()),
            place: Some("Nairobi".into()),
            add_organisers: vec![part("University of Nairobi", "Sub-Saharan Africa")],
            ..Change::default()
        }
    }

    #[test]
    fn an_event_round_trips_and_counts_its_regions() {
        let mut doc = AutoCommit::new();
        let space = DocId::random();
        init(&mut doc, &space, &workshop(), 7).unwrap();
        let e = read(&doc).unwrap();
        assert_eq!(e.kind, "workshop");
        assert_eq!(
            (e.starts.as_str(), e.ends.as_str()),
            ("2026-03-02", "2026-03-03")
        );
        assert_eq!(e.organisers, ["University of Nairobi"]);
        assert_eq!(e.participants.len(), 1, "an organiser takes part");
        assert!(!e.cross_regional());
        let draft = DocId::random();
        let more = Change {
            add_participants: vec![part("KNOMAD", "Global"), part("University of Nairobi", "")],
            add_discussed: vec![draft],
            minutes: Some("Costs fell.".into()),
            ..Change::default()
        };
        apply(&mut doc, &more).unwrap();
        let e = read(&doc).unwrap();
        assert!(e.cross_regional());
        assert_eq!(
            e.regions(),
            ["Global", "Sub-Saharan Africa"],
            "a region once given is kept"
        );
        assert_eq!(e.discussed, [draft.to_string()]);
        assert_eq!(e.minutes, "Costs fell.");
        let out = Change {
            remove_institutions: vec!["KNOMAD".into()],
            ..Change::default()
        };
        apply(&mut doc, &out).unwrap();
        assert!(!read(&doc).unwrap().cross_regional());
    }

    #[test]
    fn bad_events_are_refused_and_change_nothing() {
        let mut doc = AutoCommit::new();
        let space = DocId::random();
        let mut no_kind = workshop();
        no_kind.kind = None;
        assert!(
            init(&mut doc, &space, &no_kind, 1)
                .unwrap_err()
                .to_string()
                .contains("--kind")
        );
        let mut doc = AutoCommit::new();
        init(&mut doc, &space, &workshop(), 1).unwrap();
        let before = doc.get_heads();
        for bad in [
            Change {
                ends: Some("2026-03-01".into()),
                ..Change::default()
            },
            Change {
                starts: Some("next week".into()),
                ..Change::default()
            },
            Change {
                add_participants: vec![Participant {
                    institution: "X".into(),
                    region: String::new(),
                    income_group: "rich".into(),
                }],
                ..Change::default()
            },
            Change {
                remove_institutions: vec!["Nobody".into()],
                ..Change::default()
            },
        ] {
            let mut tx = doc.fork();
            assert!(apply(&mut tx, &bad).is_err(), "{bad:?}");
        }
        assert_eq!(doc.get_heads(), before);
    }

    #[test]
    fn two_nodes_adding_participants_apart_keep_both() {
        let mut a = AutoCommit::new();
        init(&mut a, &DocId::random(), &workshop(), 1).unwrap();
        let mut b = a.fork().with_actor(automerge::ActorId::random());
        apply(
            &mut a,
            &Change {
                add_participants: vec![part("IOM", "Global")],
                minutes: Some("Morning: costs.".into()),
                ..Change::default()
            },
        )
        .unwrap();
        apply(
            &mut b,
            &Change {
                add_participants: vec![part("ODI", "Europe"), part("IOM", "Global")],
                minutes: Some("Afternoon: savings.".into()),
                ..Change::default()
            },
        )
        .unwrap();
        a.merge(&mut b).unwrap();
        let e = read(&a).unwrap();
        let names: Vec<&str> = e
            .participants
            .iter()
            .map(|p| p.institution.as_str())
            .collect();
        assert_eq!(names, ["IOM", "ODI", "University of Nairobi"]);
        assert!(
            e.minutes.contains("Morning") && e.minutes.contains("Afternoon"),
            "{}",
            e.minutes
        );
    }
}
