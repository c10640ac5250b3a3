//! Events (`kp event`): workshops, conferences, consultations and debates
//! kept as documents of a space.

use std::collections::HashMap;

use kp_proto::local as pb;

use super::{Result, Service, invalid};
use kp_core::ids::DocId;
use kp_model::event::{self, Change, Participant};
use kp_model::{DocKind, EventKind, date, space};
use kp_repo::{ChangeNote, now_secs};

impl Service {
    /// `kp event new`.
    pub(crate) fn new_event(&self, req: pb::EventRequest) -> Result<pb::Event> {
        let space = self.space_id(&req.space)?;
        self.may_write(&space, DocKind::Event, false)?;
        let author = self.author(&req.author)?;
        let change = self.event_change(&space, &req)?;
        let note = ChangeNote::new(author, "new event");
        let now = now_secs();
        let (id, ()) = self
            .repo
            .create(&note, |doc| event::init(doc, &space, &change, now))?;
        self.get_event(pb::GetEventRequest { id: id.to_string() })
    }

    /// `kp event edit`.
    pub(crate) fn edit_event(&self, req: pb::EventRequest) -> Result<pb::Event> {
        let id = self.doc_id(&req.id, DocKind::Event)?;
        let space = self.space_of_doc(&id)?;
        self.may_write(&space, DocKind::Event, false)?;
        let author = self.author(&req.author)?;
        let mut change = self.event_change(&space, &req)?;
        let note = ChangeNote::new(author, "edit event");
        let base = if req.base_heads.is_empty() {
            None
        } else {
            Some(kp_model::draft::parse_heads(&req.base_heads)?)
        };
        if let (Some(base), Some(text)) = (&base, &change.minutes) {
            // Minutes sent again from the version they were made from (a
            // second click, a file sent twice) would add their edits again.
            if self
                .repo
                .read(&id, |doc| event::minutes_already(doc, base, text))??
            {
                change.minutes = None;
            }
        }
        self.repo.change_at(&id, base.as_deref(), &note, |doc| {
            event::apply(doc, &change)
        })?;
        self.get_event(pb::GetEventRequest { id: id.to_string() })
    }

    /// `kp event show`.
    pub(crate) fn get_event(&self, req: pb::GetEventRequest) -> Result<pb::Event> {
        let id = self.doc_id(&req.id, DocKind::Event)?;
        let (e, heads) = self
            .repo
            .read(&id, |doc| (event::read(doc), doc.get_heads()))?;
        let mut reply = self.event_reply(id, e?, &self.space_names());
        reply.heads = heads.iter().map(ToString::to_string).collect();
        Ok(reply)
    }

    /// `kp event list`: oldest first.
    pub(crate) fn list_events(&self, req: pb::ListEventsRequest) -> Result<pb::EventList> {
        let space = match req.space.trim() {
            "" => None,
            s => Some(self.space_id(s)?),
        };
        let (from, to) = date::period(&req.from, &req.to)?;
        let names = self.space_names();
        let events = self
            .events(space.as_ref(), from, to)
            .into_iter()
            .map(|(id, e)| self.event_reply(id, e, &names))
            .collect();
        Ok(pb::EventList { events })
    }

    /// The events of `space` (all when `None`) that start between `from` and
    /// `to` (Unix seconds, inclusive), oldest first.
    pub(crate) fn events(
        &self,
        space: Option<&DocId>,
        from: i64,
        to: i64,
    ) -> Vec<(DocId, event::Event)> {
        let want = space.map(ToString::to_string);
        let mut out: Vec<(DocId, event::Event)> = self
            .repo
            .list()
            .into_iter()
            .filter(|(_, m)| m.kind == DocKind::Event)
            .filter(|(_, m)| want.is_none() || m.space == want)
            .filter_map(|(id, _)| {
                Some((id, self.repo.read(&id, |doc| event::read(doc)).ok()?.ok()?))
            })
            .filter(|(_, e)| (from..=to).contains(&e.start_secs()))
            .collect();
        out.sort_by(|a, b| a.1.starts.cmp(&b.1.starts).then(a.0.cmp(&b.0)));
        out
    }

    /// The model's change for a request: words parsed, drafts checked to be
    /// of the space, and an institution's region and income group taken from
    /// the space's members when the request leaves them out.
    fn event_change(&self, space: &DocId, req: &pb::EventRequest) -> Result<Change> {
        let members = self.repo.read(space, |doc| space::read(doc))??.members;
        let fill = |list: &[pb::Participant]| -> Vec<Participant> {
            list.iter()
                .map(|p| {
                    let name = p.institution.trim();
                    let known = members.iter().find(|m| m.institution == name);
                    let pick = |given: &str, kept: Option<&String>| match given.trim() {
                        "" => kept.cloned().unwrap_or_default(),
                        g => g.to_owned(),
                    };
                    Participant {
                        institution: name.to_owned(),
                        region: pick(&p.region, known.map(|m| &m.region)),
                        income_group: pick(&p.income_group, known.map(|m| &m.income_group)),
                    }
                })
                .collect()
        };
        let drafts = |ids: &[String]| -> Result<Vec<DocId>> {
            ids.iter()
                .map(|raw| {
                    let id = self.doc_id(raw, DocKind::Draft)?;
                    if self.space_of_doc(&id)? != *space {
                        return Err(invalid(format!(
                            "draft {id} is of another space: an event lists the drafts of its own \
                             space"
                        )));
                    }
                    Ok(id)
                })
                .collect()
        };
        Ok(Change {
            title: req.title.clone(),
            kind: req
                .kind
                .as_deref()
                .map(|k| k.trim().parse::<EventKind>())
                .transpose()?,
            starts: req.starts.clone(),
            ends: req.ends.clone(),
            place: req.place.clone(),
            online: req.online,
            add_organisers: fill(&req.add_organisers),
            add_participants: fill(&req.add_participants),
            remove_institutions: req.remove_institutions.clone(),
            add_discussed: drafts(&req.add_discussed)?,
            // Taking out an id needs no draft here (it may have gone).
            remove_discussed: req
                .remove_discussed
                .iter()
                .map(|raw| {
                    raw.trim()
                        .parse()
                        .map_err(|e: kp_core::ids::ParseDocIdError| invalid(e.to_string()))
                })
                .collect::<Result<_>>()?,
            minutes: req.minutes.clone(),
        })
    }

    fn event_reply(
        &self,
        id: DocId,
        e: event::Event,
        names: &HashMap<String, String>,
    ) -> pb::Event {
        let discussed = e
            .discussed
            .iter()
            .map(|d| {
                let meta = d.parse().ok().and_then(|d: DocId| self.repo.meta(&d));
                pb::Discussed {
                    id: d.clone(),
                    title: meta.as_ref().map(|m| m.title.clone()).unwrap_or_default(),
                    status: meta.map(|m| m.status.to_string()).unwrap_or_default(),
                }
            })
            .collect();
        pb::Event {
            id: id.to_string(),
            space_name: names.get(&e.space).cloned().unwrap_or_default(),
            cross_regional: e.cross_regional(),
            space_id: e.space,
            title: e.title,
            kind: e.kind,
            starts: e.starts,
            ends: e.ends,
            place: e.place,
            online: e.online,
            organisers: e.organisers,
            participants: e
                .participants
                .into_iter()
                .map(|p| pb::Participant {
                    institution: p.institution,
                    region: p.region,
                    income_group: p.income_group,
                })
                .collect(),
            discussed,
            minutes: e.minutes,
            created_at: e.created_at,
            // Filled where one event is read for editing (`get_event`).
            heads: Vec::new(),
        }
    }
}
