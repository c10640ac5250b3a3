//! The review workflow, exports and indicators, as the local API offers them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use kp_proto::local as pb;

use super::{Result, Service, invalid, not_found};
use kp_core::ids::DocId;
use kp_model::review::{self, Referee, Who};
use kp_model::space::{self, Role};
use kp_model::{DocKind, ModelError, Recommendation, Status, Verdict, date, draft, export, rules};
use kp_repo::{ChangeNote, now_secs};

/// The role of node `me` in `space`, if it is a member.
fn role_of(space: Option<&space::Space>, me: &str) -> Option<Role> {
    space?
        .members
        .iter()
        .find(|m| m.node_id == me)
        .and_then(|m| space::parse_role(&m.role).ok())
}

/// A draft's review state as the index and its documents have it.
struct Reviewed {
    id: DocId,
    space: DocId,
    draft: draft::Draft,
    workflow: review::Workflow,
}

impl Service {
    /// Refuses, as partners would, a change of a `kind` of document in `space`
    /// that this node's role there does not allow (`comment`: a comment on a
    /// draft).
    pub(super) fn may_write(&self, space: &DocId, kind: DocKind, comment: bool) -> Result<()> {
        let held = self.space_held(space);
        let me = self.node.to_string();
        let role = role_of(held.as_ref(), &me);
        if role.is_none() && held.is_some_and(|s| s.former.iter().any(|f| f.node_id == me)) {
            return Err(ModelError::Forbidden(
                "this node was removed from the space: it keeps what it holds, read only, and \
                 its partners refuse what it writes there now; an admin of the space can add it \
                 again (kp space add-member)"
                    .into(),
            )
            .into());
        }
        rules::may_write(kind, role, comment).map_err(Into::into)
    }

    /// [`Service::may_write`] for a document this node holds.
    pub(super) fn may_write_doc(&self, id: &DocId, kind: DocKind, comment: bool) -> Result<()> {
        self.may_write(&self.space_of_doc(id)?, kind, comment)
    }

    /// The space as this node holds it, if it does.
    fn space_held(&self, space: &DocId) -> Option<space::Space> {
        self.repo
            .read(space, |doc| space::read(doc).ok())
            .ok()
            .flatten()
    }

    /// This node's role in `space` (`None`: not a member, or the space is not here).
    fn role_in(&self, space: &DocId) -> Option<Role> {
        role_of(self.space_held(space).as_ref(), &self.node.to_string())
    }

    fn reviewed(&self, id: DocId) -> Result<Reviewed> {
        let (draft, workflow) = self.repo.read(&id, |doc| {
            Ok::<_, ModelError>((draft::read(doc, None)?, review::read(doc)?))
        })??;
        let space = draft
            .space
            .parse()
            .map_err(|_| invalid(format!("draft {id} names no valid space")))?;
        Ok(Reviewed {
            id,
            space,
            draft,
            workflow,
        })
    }

    /// The reports of a draft's assignments that this node holds.
    fn reports(&self, r: &Reviewed) -> Vec<(DocId, review::Report)> {
        r.workflow
            .assignments
            .iter()
            .filter(|a| a.void.is_empty())
            .filter_map(|a| {
                let rid = review::report_id(&r.id, a.round, &a.referee());
                self.repo.meta(&rid)?;
                let report = self
                    .repo
                    .read(&rid, |doc| review::read_report(doc))
                    .ok()?
                    .ok()?;
                Some((rid, report))
            })
            .collect()
    }

    fn review_state(&self, r: &Reviewed) -> pb::ReviewState {
        let reports = self.reports(r);
        let today = now_secs();
        let has_report = |a: &review::Assignment| {
            reports
                .iter()
                .find(|(_, rep)| {
                    rep.round == a.round && rep.referee == a.referee && rep.node_id == a.node_id
                })
                .map(|(id, _)| id.to_string())
        };
        pb::ReviewState {
            id: r.id.to_string(),
            title: r.draft.title.clone(),
            status: r.workflow.status.to_string(),
            round: r.workflow.round,
            submissions: r
                .workflow
                .submissions
                .iter()
                .map(|s| pb::Submission {
                    round: s.round,
                    version: s.version.clone(),
                    by: s.by.clone(),
                    at: s.at,
                    node_id: s.node_id.clone(),
                    heads: s.heads.clone(),
                    void: s.void.clone(),
                })
                .collect(),
            assignments: r
                .workflow
                .assignments
                .iter()
                .map(|a| {
                    let report_id = if a.void.is_empty() {
                        has_report(a).unwrap_or_default()
                    } else {
                        String::new()
                    };
                    pb::Assignment {
                        overdue: a.void.is_empty()
                            && report_id.is_empty()
                            && overdue(&a.due, today),
                        by_node: a.by_node.clone(),
                        void: a.void.clone(),
                        round: a.round,
                        referee: a.referee.clone(),
                        node_id: a.node_id.clone(),
                        institution: a.institution.clone(),
                        due: a.due.clone(),
                        by: a.by.clone(),
                        at: a.at,
                        report_id,
                    }
                })
                .collect(),
            decisions: r
                .workflow
                .decisions
                .iter()
                .map(|d| pb::Decision {
                    round: d.round,
                    decision: d.decision.clone(),
                    note: d.note.clone(),
                    by: d.by.clone(),
                    node_id: d.node_id.clone(),
                    at: d.at,
                    reports_seen: d.reports.clone(),
                    void: d.void.clone(),
                })
                .collect(),
            publications: r
                .workflow
                .publications
                .iter()
                .map(|p| pb::Publication {
                    version: p.version.clone(),
                    by: p.by.clone(),
                    at: p.at,
                    node_id: p.node_id.clone(),
                    heads: p.heads.clone(),
                    void: p.void.clone(),
                })
                .collect(),
            withdrawals: r
                .workflow
                .withdrawals
                .iter()
                .map(|w| pb::Withdrawal {
                    by: w.by.clone(),
                    node_id: w.node_id.clone(),
                    at: w.at,
                    void: w.void.clone(),
                })
                .collect(),
            reports: reports
                .into_iter()
                .map(|(id, rep)| {
                    let id = id.to_string();
                    let referee = Referee {
                        name: rep.referee.clone(),
                        node_id: rep.node_id.clone(),
                    };
                    let late = r
                        .workflow
                        .decision(rep.round)
                        .is_some_and(|d| !d.reports.contains(&referee.key()));
                    pb::Report {
                        id,
                        draft_id: rep.draft,
                        round: rep.round,
                        version: rep.version,
                        referee: rep.referee,
                        node_id: rep.node_id,
                        institution: rep.institution,
                        recommendation: rep.recommendation,
                        text: rep.body,
                        assigned_at: rep.assigned_at,
                        submitted_at: rep.submitted_at,
                        updated_at: rep.updated_at,
                        late,
                    }
                })
                .collect(),
        }
    }

    /// `kp review submit-draft|assign|report|decide|withdraw`, `kp publish`.
    pub(crate) fn review(&self, req: pb::ReviewRequest) -> Result<pb::ReviewState> {
        use pb::review_request::Action;
        let id = self.doc_id(&req.id, DocKind::Draft)?;
        let author = self.author(&req.author)?;
        if author.is_empty() {
            return Err(invalid(
                "the review workflow needs your name: pass --author NAME or set KP_AUTHOR",
            ));
        }
        let r = self.reviewed(id)?;
        let me = self.node.to_string();
        let who = Who {
            name: author,
            node_id: &me,
            institution: &self.cfg.node.name,
            role: self.role_in(&r.space),
        };
        let now = now_secs();
        let action = req.action.ok_or_else(|| {
            invalid("say what to do: submit, assign, report, decide, publish or withdraw")
        })?;
        if matches!(
            action,
            Action::Assign(_) | Action::Decide(_) | Action::Publish(_)
        ) {
            // Once a space names its people, its chair is one of them.
            let held = self.repo.read(&r.space, |doc| space::read(doc))??;
            let people = space::people_roles(&held);
            if !people.is_empty()
                && people.get(&(self.node, author.to_owned())) != Some(&Role::Admin)
            {
                return Err(super::ApiError::Model(ModelError::Forbidden(format!(
                    "only the chair may assign referees, decide and publish, and {author} is not \
                     a person of this space at this node with the admin role (`kp space show` \
                     lists its people; an admin node adds one with `kp space add-person`)"
                ))));
            }
        }
        match action {
            Action::Submit(_) => {
                let note = ChangeNote::new(author, "submit to review");
                self.repo
                    .change_durably(&id, &note, |doc| review::submit(doc, &who, now))?;
            }
            Action::Assign(a) => {
                let referee = Referee::parse(&a.referee)?;
                let held = self.repo.read(&r.space, |doc| space::read(doc))??;
                review::check_referee(&space::people_roles(&held), &referee)?;
                let institution = held
                    .members
                    .into_iter()
                    .find(|m| m.node_id == referee.node_id)
                    .ok_or_else(|| {
                        not_found(format!(
                            "node {} is not a member of this draft's space; add it with \
                             `kp space add-member` first",
                            referee.node_id
                        ))
                    })
                    .and_then(|m| {
                        if m.role == Role::Reader.as_str() {
                            Err(invalid(format!(
                                "node {} is a reader of the space and cannot send a report; \
                                 make it a reviewer first",
                                referee.node_id
                            )))
                        } else {
                            Ok(m.institution)
                        }
                    })?;
                let note = ChangeNote::new(author, format!("assign referee {}", referee.name));
                self.repo.change_durably(&id, &note, |doc| {
                    review::assign(doc, &who, &referee, &institution, &a.due, now)
                })?;
            }
            Action::Report(rep) => self.report(&r, &who, rep, now)?,
            Action::Decide(d) => {
                let seen: Vec<Referee> = self
                    .reports(&r)
                    .into_iter()
                    .filter(|(_, rep)| rep.round == r.workflow.round)
                    .map(|(_, rep)| Referee {
                        name: rep.referee,
                        node_id: rep.node_id,
                    })
                    .collect();
                let verdict: Verdict = d.decision.trim().parse()?;
                let note = ChangeNote::new(author, format!("decide: {verdict}"));
                self.repo.change_durably(&id, &note, |doc| {
                    review::decide(doc, &who, verdict, &d.note, &seen, now)
                })?;
            }
            Action::Publish(_) => {
                let note = ChangeNote::new(author, "publish");
                self.repo
                    .change_durably(&id, &note, |doc| review::publish(doc, &who, now))?;
            }
            Action::Withdraw(_) => {
                let note = ChangeNote::new(author, "withdraw");
                self.repo
                    .change_durably(&id, &note, |doc| review::withdraw(doc, &who, now))?;
            }
        }
        Ok(self.review_state(&self.reviewed(id)?))
    }

    /// A referee's report: made, or updated if this referee reported on this
    /// round before; its anchored comments go on the draft.
    fn report(&self, r: &Reviewed, who: &Who<'_>, rep: pb::SubmitReport, now: i64) -> Result<()> {
        self.check_text_size("the report", &rep.text)?;
        let recommendation: Recommendation = rep.recommendation.trim().parse()?;
        // May this referee report, and does every comment find its passage?
        // Both before anything is stored.
        let by = self.actor(who.name, who.node_id);
        let (assignment, version) = self.repo.read(&r.id, |doc| {
            let allowed = review::may_report(doc, who)?;
            if !rep.comments.is_empty() {
                let mut trial = doc.clone();
                for c in &rep.comments {
                    let id = kp_core::ids::comment_id();
                    draft::add_comment(&mut trial, &id, &c.quote, &c.body, &by, now).map_err(
                        |e| ModelError::invalid(format!("comment on “{}”: {e}", c.quote)),
                    )?;
                }
            }
            Ok::<_, ModelError>(allowed)
        })??;
        let referee = Referee {
            name: who.name.to_owned(),
            node_id: who.node_id.to_owned(),
        };
        let rid = review::report_id(&r.id, assignment.round, &referee);
        let note = ChangeNote::new(who.name, format!("report on round {}", assignment.round));
        let update = || {
            self.repo.change_durably(&rid, &note, |doc| {
                review::update_report(doc, recommendation, &rep.text, now)
            })
        };
        if self.repo.meta(&rid).is_some() {
            update()?;
        } else {
            let report = review::Report {
                space: r.space.to_string(),
                draft: r.id.to_string(),
                round: assignment.round,
                version,
                referee: who.name.to_owned(),
                node_id: who.node_id.to_owned(),
                institution: who.institution.to_owned(),
                recommendation: recommendation.as_str().to_owned(),
                body: rep.text.clone(),
                assigned_at: assignment.at,
                submitted_at: now,
                updated_at: now,
            };
            // The same referee reporting twice at once (two terminals): one
            // creates the report, the other finds it made and updates it.
            match self
                .repo
                .create_as(rid, &note, |doc| review::init_report(doc, &report))
            {
                Ok(_) => {}
                Err(kp_repo::RepoError::Exists(_)) => update()?,
                Err(e) => return Err(e.into()),
            }
        }
        if !rep.comments.is_empty() {
            let note = ChangeNote::new(who.name, "comment as referee");
            self.repo.change_durably(&r.id, &note, |doc| {
                rep.comments.iter().try_for_each(|c| {
                    let id = kp_core::ids::comment_id();
                    draft::add_comment(doc, &id, &c.quote, &c.body, &by, now).map(|_| ())
                })
            })?;
        }
        Ok(())
    }

    /// `kp review list`.
    pub(crate) fn get_review(&self, req: pb::GetReviewRequest) -> Result<pb::ReviewState> {
        let id = self.doc_id(&req.id, DocKind::Draft)?;
        Ok(self.review_state(&self.reviewed(id)?))
    }

    /// `kp review inbox`.
    pub(crate) fn review_inbox(&self, req: pb::ReviewInboxRequest) -> Result<pb::ReviewInbox> {
        let author = self.author(&req.author)?.to_owned();
        if author.is_empty() {
            return Err(invalid(
                "the inbox is per person: pass --author NAME or set KP_AUTHOR",
            ));
        }
        let me = self.node.to_string();
        let spaces = self.space_names();
        let today = now_secs();
        let mut items = Vec::new();
        for (id, meta) in self.repo.list() {
            if meta.kind != DocKind::Draft
                || ![Status::InReview, Status::Revision]
                    .iter()
                    .any(|s| s.as_str() == meta.status)
            {
                continue;
            }
            let Ok(r) = self.reviewed(id) else { continue };
            let chair = self.role_in(&r.space) == Some(Role::Admin);
            let reports = self.reports(&r);
            let round = r.workflow.round;
            let item = |task: &str, due: &str| pb::InboxItem {
                draft_id: id.to_string(),
                title: r.draft.title.clone(),
                space_name: spaces
                    .get(&r.space.to_string())
                    .cloned()
                    .unwrap_or_default(),
                task: task.to_owned(),
                round,
                due: due.to_owned(),
                overdue: overdue(due, today),
            };
            if r.workflow.status == Status::Revision {
                if r.draft.authors.iter().any(|a| a.name == author) {
                    items.push(item("revise", ""));
                }
                continue;
            }
            let current: Vec<&review::Assignment> = r.workflow.assigned(round).collect();
            let reported = |a: &review::Assignment| {
                reports.iter().any(|(_, rep)| {
                    rep.round == a.round && rep.referee == a.referee && rep.node_id == a.node_id
                })
            };
            if let Some(a) = current
                .iter()
                .find(|a| a.referee == author && a.node_id == me && !reported(a))
            {
                items.push(item("report", &a.due));
            }
            if chair {
                if current.is_empty() {
                    items.push(item("assign", ""));
                } else if current.iter().all(|a| reported(a)) {
                    items.push(item("decide", ""));
                }
            }
        }
        items.sort_by(|a, b| (!a.overdue, &a.due, &a.title).cmp(&(!b.overdue, &b.due, &b.title)));
        Ok(pb::ReviewInbox { author, items })
    }

    /// `kp draft export`.
    pub(crate) fn export_draft(&self, req: pb::ExportDraftRequest) -> Result<pb::ExportReply> {
        let id = self.doc_id(&req.id, DocKind::Draft)?;
        let pdf = req.format.trim() == "pdf";
        let format = if pdf {
            export::Format::Html
        } else {
            export::Format::parse(&req.format)?
        };
        let r = self.reviewed(id)?;
        let label = match req.version.trim() {
            "" => r
                .workflow
                .published()
                .last()
                .filter(|_| r.workflow.status == Status::Published)
                .map(|p| p.version.clone())
                .unwrap_or_else(|| "current".to_owned()),
            v => v.to_owned(),
        };
        let (text, comments) = self.repo.read(&id, |doc| {
            let heads = draft::version_heads(doc, &label)?;
            let current = label == "current";
            let d = draft::read(doc, if current { None } else { Some(&heads) })?;
            let comments = if req.with_comments {
                draft::comments(doc)?
            } else {
                Vec::new()
            };
            Ok::<_, ModelError>((d.body, comments))
        })??;
        let published = r
            .workflow
            .published()
            .find(|p| p.version == label)
            .map(|p| p.at);
        let space_name = self
            .space_names()
            .get(&r.space.to_string())
            .cloned()
            .unwrap_or_default();
        let bars = self.figure_data(&r.space, &text);
        let figures = drawn(&bars);
        let doc = export::Export {
            pdf_link: req.pdf_link,
            figures: &figures,
            title: &r.draft.title,
            draft_type: &r.draft.draft_type,
            space: &space_name,
            authors: &r.draft.authors,
            version: &label,
            date: published.unwrap_or_else(now_secs),
            published: published.is_some(),
            body: &text,
            comments: &comments,
            referees: self
                .reports(&r)
                .into_iter()
                .map(|(_, rep)| (rep.referee, rep.node_id))
                .collect::<BTreeSet<_>>()
                .len(),
        };
        if pdf {
            let data = crate::pdf::render(&doc, export::body_of(&doc), &bars)
                .map_err(|e| super::ApiError::Model(ModelError::Invalid(e.to_string())))?;
            return Ok(pb::ExportReply {
                content: String::new(),
                version: label,
                data,
            });
        }
        Ok(pb::ExportReply {
            content: export::render(&doc, format),
            version: label,
            data: Vec::new(),
        })
    }

    /// The figures `text` (a draft of `space`) names, drawn from the
    /// analyses they name: only analyses of the same space, so a page never
    /// shows another working group's data.
    pub(crate) fn figures_for(&self, space: &DocId, text: &str) -> export::Figures {
        drawn(&self.figure_data(space, text))
    }

    /// The bars of the figures `text` (a draft of `space`) names, as
    /// [`Service::figures_for`] finds them.
    pub(crate) fn figure_data(&self, space: &DocId, text: &str) -> crate::pdf::FigureData {
        let mut out = crate::pdf::FigureData::new();
        for dest in export::figure_refs(text) {
            let address = &dest[export::FIGURE_SCHEME.len()..];
            let (id, table) = match address.split_once('#') {
                Some((id, t)) => (id, Some(t)),
                None => (address, None),
            };
            let Ok(id) = id.trim().parse::<DocId>() else {
                continue;
            };
            let of_space = self.repo.meta(&id).is_some_and(|m| {
                m.kind == DocKind::Analysis && m.space.as_deref() == Some(&space.to_string())
            });
            if !of_space {
                continue;
            }
            let report = self
                .repo
                .read(&id, |doc| kp_model::analysis::read(doc).map(|a| a.report));
            if let Ok(Ok(report)) = report
                && let Some(bars) = crate::figures::report_bars(&report, table)
            {
                out.insert(dest, bars);
            }
        }
        out
    }

    /// `kp report indicators`.
    pub(crate) fn indicators(&self, req: pb::IndicatorsRequest) -> Result<pb::IndicatorsReply> {
        let space = if req.space.trim().is_empty() {
            None
        } else {
            Some(self.space_id(&req.space)?)
        };
        let (from, to) = date::period(&req.from, &req.to)?;
        let in_period = |t: i64| t >= from && t <= to;
        let list = self.repo.list();
        let spaces: BTreeMap<String, space::Space> = list
            .iter()
            .filter(|(id, m)| m.kind == DocKind::Space && space.is_none_or(|s| s == *id))
            .filter_map(|(id, _)| {
                let s = self
                    .repo
                    .read(id, |doc| space::read(doc).ok())
                    .ok()
                    .flatten()?;
                Some((id.to_string(), s))
            })
            .collect();
        let mut by_status: BTreeMap<(String, String), u64> = BTreeMap::new();
        let (mut published, mut joint, mut north_south, mut counted) = (0u64, 0u64, 0u64, 0u64);
        let mut review_days: Vec<f64> = Vec::new();
        let mut briefs = 0u64;
        let mut published_drafts = BTreeSet::new();
        for (id, meta) in &list {
            if meta.kind != DocKind::Draft {
                continue;
            }
            let Some(sp) = meta.space.as_ref().and_then(|s| spaces.get(s)) else {
                continue;
            };
            let Ok(r) = self.reviewed(*id) else { continue };
            counted += 1;
            *by_status
                .entry((sp.name.clone(), r.workflow.status.to_string()))
                .or_default() += 1;
            let now_published = r.workflow.published().filter(|p| in_period(p.at)).count() as u64;
            published += now_published;
            if r.draft.draft_type == kp_model::DraftType::PolicyBrief.as_str() {
                briefs += now_published;
            }
            if now_published > 0 {
                published_drafts.insert(id.to_string());
            }
            for (_, rep) in self.reports(&r) {
                if in_period(rep.submitted_at) {
                    review_days.push((rep.submitted_at - rep.assigned_at).max(0) as f64 / 86_400.0);
                }
            }
            let institutions: BTreeSet<&str> = r
                .draft
                .authors
                .iter()
                .map(|a| a.institution.as_str())
                .filter(|i| !i.is_empty())
                .collect();
            if institutions.len() >= 2 {
                joint += 1;
            }
            // North: an institution of a high-income country; South: the others
            // (institutions with no income group given count as neither).
            let groups: BTreeSet<bool> = institutions
                .iter()
                .filter_map(|i| {
                    sp.members
                        .iter()
                        .find(|m| m.institution == *i && !m.income_group.is_empty())
                        .map(|m| m.income_group == "high")
                })
                .collect();
            if groups.len() == 2 {
                north_south += 1;
            }
        }
        let reviews = review_days.len() as u64;
        let median_days = median(&mut review_days).unwrap_or(-1.0);
        // Events of the spaces counted, by their first day.
        let events: Vec<kp_model::event::Event> = self
            .events(space.as_ref(), from, to)
            .into_iter()
            .map(|(_, e)| e)
            .filter(|e| spaces.contains_key(&e.space))
            .collect();
        let discussed: BTreeSet<&str> = events
            .iter()
            .flat_map(|e| e.discussed.iter().map(String::as_str))
            .collect();
        // Open datasets of the spaces counted, imported by the period's end.
        let open_data: Vec<(String, i64)> = list
            .iter()
            .filter(|(_, m)| m.kind == DocKind::Dataset)
            .filter(|(_, m)| m.space.as_ref().is_some_and(|s| spaces.contains_key(s)))
            .filter_map(|(id, _)| {
                let d = self
                    .repo
                    .read(id, |doc| kp_model::dataset::read(doc, Some(0)))
                    .ok()?
                    .ok()?;
                (d.open && d.created_at <= to).then(|| (id.to_string(), d.created_at))
            })
            .collect();
        let visits = self.visits(from, to)?;
        let drafts_here = spaces_of_drafts(&list, &spaces);
        let counted_item = |item: &str| {
            item.split_once('/').is_some_and(|(k, id)| match k {
                "p" => drafts_here.contains(id),
                "d" => open_data.iter().any(|(d, _)| d == id),
                _ => false,
            })
        };
        let (hits, downloads) = visits
            .iter()
            .filter(|(item, _)| counted_item(item))
            .fold((0, 0), |(h, d), (_, t)| (h + t.hits, d + t.downloads));
        let ind = |id: &str, name: &str, value: f64, unit: &str, how: &str| pb::Indicator {
            id: id.into(),
            name: name.into(),
            value,
            unit: unit.into(),
            how: how.into(),
        };
        let count = |n: usize| n as f64;
        let indicators = vec![
            ind(
                "1.1",
                "Databases available online",
                count(open_data.len()),
                "open datasets",
                "datasets of the spaces marked open (kp dataset open) and imported by the \
                 period's end: what a portal shows and offers for download",
            ),
            ind(
                "1.2",
                "Hits on published material",
                hits as f64,
                "page views",
                "views of publications and open datasets on this node's portal, counted per \
                 day without keeping who visited (a partner's portal counts its own)",
            ),
            ind(
                "1.3",
                "Downloads",
                downloads as f64,
                "downloads",
                "CSV and data-package downloads of open datasets on this node's portal, \
                 counted per day without keeping who downloaded",
            ),
            ind(
                "2.1",
                "Material posted",
                published as f64,
                "publications",
                "versions published by the review workflow in the period (kp publish)",
            ),
            ind(
                "2.2",
                "Briefs posted",
                briefs as f64,
                "policy briefs",
                "publications in the period of drafts of type policy-brief",
            ),
            ind(
                "2.3",
                "Data publications posted",
                count(open_data.iter().filter(|(_, at)| in_period(*at)).count()),
                "open datasets",
                "open datasets imported in the period",
            ),
            ind(
                "3.1",
                "Events where results are discussed",
                count(events.len()),
                "events",
                "events of the spaces (kp event) whose first day is in the period",
            ),
            ind(
                "3.2",
                "Cross-regional meetings",
                count(events.iter().filter(|e| e.cross_regional()).count()),
                "events",
                "events of the period with participants from more than one region",
            ),
            ind(
                "3.3",
                "Publications discussed at events",
                count(discussed.len()),
                "drafts and publications",
                "distinct drafts listed as discussed by the period's events",
            ),
            ind(
                "3.4",
                "Published work discussed at events",
                count(
                    discussed
                        .iter()
                        .filter(|d| published_drafts.contains(**d))
                        .count(),
                ),
                "publications",
                "drafts published in the period that the period's events discussed",
            ),
            ind(
                "4.1",
                "Joint products",
                joint as f64,
                "drafts",
                "drafts whose credited authors come from two or more institutions",
            ),
            ind(
                "4.2",
                "North-South collaborations",
                north_south as f64,
                "drafts",
                "drafts with authors from both a high-income country's institution and \
                 another's (income groups from the space's members)",
            ),
            ind(
                "5.1",
                "Peer reviews completed",
                reviews as f64,
                "referee reports",
                "referee reports submitted in the period",
            ),
            ind(
                "5.2",
                "Median days to review",
                median_days,
                "days",
                "median days from a referee's assignment to the report, over the period's \
                 reports (-1 when there is none)",
            ),
        ];
        Ok(pb::IndicatorsReply {
            indicators,
            from: req.from.trim().to_owned(),
            to: req.to.trim().to_owned(),
            drafts_by_status: by_status
                .into_iter()
                .map(|((space_name, status), drafts)| pb::StatusCount {
                    space_name,
                    status,
                    drafts,
                })
                .collect(),
            papers_published: published,
            reviews_completed: reviews,
            median_review_days: median_days,
            joint_products: joint,
            north_south_collaborations: north_south,
            drafts_counted: counted,
        })
    }
}

/// Figures' bars drawn as SVG, by the same addresses.
fn drawn(bars: &crate::pdf::FigureData) -> export::Figures {
    bars.iter()
        .map(|(dest, (table, b))| (dest.clone(), export::bar_chart_svg(table, b, "")))
        .collect()
}

/// The ids of the drafts of `spaces`.
fn spaces_of_drafts(
    list: &[(DocId, Arc<kp_repo::DocMeta>)],
    spaces: &BTreeMap<String, space::Space>,
) -> BTreeSet<String> {
    list.iter()
        .filter(|(_, m)| m.kind == DocKind::Draft)
        .filter(|(_, m)| m.space.as_ref().is_some_and(|s| spaces.contains_key(s)))
        .map(|(id, _)| id.to_string())
        .collect()
}

/// True if `due` (`YYYY-MM-DD`) is a day before today's.
fn overdue(due: &str, now: i64) -> bool {
    !due.is_empty() && date::parse_day(due).is_ok_and(|d| d + 86_400 <= now)
}

/// The median, or `None` for no values.
fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    })
}

/// An open dataset, as the portal shows it.
#[derive(Debug, Clone)]
pub(crate) struct OpenDataset {
    pub(crate) id: DocId,
    pub(crate) space: String,
    pub(crate) theme: String,
    pub(crate) data: kp_model::dataset::Dataset,
}

/// A publication, as the portal shows it.
#[derive(Debug, Clone)]
pub(crate) struct Published {
    pub(crate) id: String,
    /// Its label (`published-N`): with the id, its address forever.
    pub(crate) version: String,
    pub(crate) title: String,
    pub(crate) draft_type: String,
    pub(crate) space: String,
    pub(crate) theme: String,
    /// Unix seconds.
    pub(crate) at: i64,
    pub(crate) authors: String,
    /// The text it froze.
    pub(crate) text: String,
}

impl Service {
    /// Every publication of the drafts of `spaces` (names or ids; one this
    /// node does not hold is skipped), or of the one draft `only` if it is
    /// among them, newest first, each with the text its publication froze.
    pub(crate) fn published_in(&self, spaces: &[String], only: Option<&DocId>) -> Vec<Published> {
        let shown = self.shown_spaces(spaces);
        let mut out = Vec::new();
        let drafts = match only {
            Some(id) => self.repo.meta(id).map(|m| (*id, m)).into_iter().collect(),
            None => self.repo.list(),
        };
        for (id, meta) in drafts {
            let in_shown = meta.space.as_ref().and_then(|s| shown.get(s));
            let (Some((space, theme)), DocKind::Draft) = (in_shown, meta.kind) else {
                continue;
            };
            // One read of the document: its workflow and each frozen text.
            let frozen = self.repo.read(&id, |doc| {
                let workflow = review::read(doc)?;
                workflow
                    .published()
                    .map(|p| {
                        let heads = draft::parse_heads(&p.heads)?;
                        Ok((p.clone(), draft::read(doc, Some(&heads))?))
                    })
                    .collect::<std::result::Result<Vec<_>, ModelError>>()
            });
            let Ok(Ok(frozen)) = frozen else { continue };
            for (p, d) in frozen {
                out.push(Published {
                    id: id.to_string(),
                    version: p.version.clone(),
                    title: d.title,
                    draft_type: d.draft_type,
                    space: space.clone(),
                    theme: theme.clone(),
                    at: p.at,
                    authors: d
                        .authors
                        .iter()
                        .map(draft::Author::credit)
                        .collect::<Vec<_>>()
                        .join(", "),
                    text: d.body,
                });
            }
        }
        out.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| a.id.cmp(&b.id)));
        out
    }

    /// The spaces of `spaces` (names or ids) this node holds: by id, their
    /// name and theme.
    fn shown_spaces(&self, spaces: &[String]) -> BTreeMap<String, (String, String)> {
        let mut shown = BTreeMap::new();
        for name in spaces {
            let Ok(id) = self.space_id(name) else {
                continue;
            };
            if let Ok(Ok(s)) = self.repo.read(&id, |doc| space::read(doc)) {
                shown.insert(
                    id.to_string(),
                    (s.name, space::theme_name(s.theme).unwrap_or("").to_string()),
                );
            }
        }
        shown
    }

    /// The open datasets of `spaces` (or the one dataset `only`, if it is
    /// open and among them), newest first, with at most `rows` rows each
    /// (all when `None`).
    pub(crate) fn open_datasets_in(
        &self,
        spaces: &[String],
        only: Option<&DocId>,
        rows: Option<usize>,
    ) -> Vec<OpenDataset> {
        let shown = self.shown_spaces(spaces);
        let list = match only {
            Some(id) => self.repo.meta(id).map(|m| (*id, m)).into_iter().collect(),
            None => self.repo.list(),
        };
        let mut out: Vec<OpenDataset> = list
            .into_iter()
            .filter(|(_, m)| m.kind == DocKind::Dataset)
            .filter_map(|(id, m)| {
                let (space, theme) = m.space.as_ref().and_then(|s| shown.get(s))?.clone();
                let data = self
                    .repo
                    .read(&id, |doc| kp_model::dataset::read(doc, rows))
                    .ok()?
                    .ok()?;
                data.open.then_some(OpenDataset {
                    id,
                    space,
                    theme,
                    data,
                })
            })
            .collect();
        out.sort_by(|a, b| {
            b.data
                .created_at
                .cmp(&a.data.created_at)
                .then(a.id.cmp(&b.id))
        });
        out
    }

    /// The datasets this node holds, newest first (title, space, size).
    /// `kp dataset list`: the datasets of a space (every space's when none
    /// is named), most recently changed first.
    pub(crate) fn datasets_of(&self, req: pb::ListDatasetsRequest) -> Result<pb::DatasetList> {
        let space = if req.space.trim().is_empty() {
            None
        } else {
            Some(self.space_id(&req.space)?.to_string())
        };
        let datasets = self
            .list_datasets()
            .into_iter()
            .filter(|d| space.as_ref().is_none_or(|s| *s == d.space_id))
            .collect();
        Ok(pb::DatasetList { datasets })
    }

    pub(crate) fn list_datasets(&self) -> Vec<pb::DatasetSummary> {
        let mut list = Vec::new();
        self.repo.visit(|id, m| {
            if m.kind == DocKind::Dataset {
                list.push((*id, std::sync::Arc::clone(m)));
            }
        });
        list.sort_by_key(|(_, m)| std::cmp::Reverse(m.updated_at));
        let names = self.space_names();
        list.into_iter()
            .map(|(id, m)| pb::DatasetSummary {
                space: m
                    .space
                    .as_ref()
                    .and_then(|s| names.get(s))
                    .cloned()
                    .unwrap_or_default(),
                id: id.to_string(),
                space_id: m.space.clone().unwrap_or_default(),
                title: m.title.clone(),
                created_at: m.created_at,
                ..Default::default()
            })
            .collect()
    }

    /// The space a document of this node belongs to (a space is its own),
    /// the document given by its id as text.
    pub(crate) fn space_of(&self, id: &str) -> Result<DocId> {
        let parsed: DocId = id
            .trim()
            .parse()
            .map_err(|e: kp_core::ids::ParseDocIdError| invalid(e.to_string()))?;
        self.space_of_doc(&parsed)
    }

    /// [`Service::space_of`] for a parsed id.
    pub(super) fn space_of_doc(&self, id: &DocId) -> Result<DocId> {
        let meta = self
            .repo
            .meta(id)
            .ok_or_else(|| not_found(format!("no document {id} on this node")))?;
        if meta.kind == DocKind::Space {
            return Ok(*id);
        }
        meta.space
            .as_deref()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| invalid(format!("{id} names no space")))
    }

    /// This node's id.
    pub(crate) fn node_id(&self) -> kp_core::identity::NodeId {
        self.node
    }

    /// This node's institution.
    pub(crate) fn institution(&self) -> &str {
        &self.cfg.node.name
    }

    /// Refuses what a logged-in person may not do in `space`, as partners
    /// refuse their vouched changes: the person must be one of the space's
    /// people, and their role (as well as the node's) must allow the change.
    /// One read of the space.
    pub(crate) fn person_may(
        &self,
        space: &DocId,
        person: &str,
        kind: DocKind,
        comment: bool,
    ) -> Result<()> {
        let held = self.repo.read(space, |doc| space::read(doc))??;
        let me = self.node.to_string();
        let node_role = held
            .members
            .iter()
            .find(|m| m.node_id == me)
            .and_then(|m| space::parse_role(&m.role).ok());
        let person_role = space::people_roles(&held)
            .get(&(self.node, person.to_owned()))
            .copied();
        person_allowed(person, node_role, person_role, kind, comment)
    }
}

/// The rule of [`Service::person_may`] on roles already read: `person_role`
/// among the space's people, `node_role` the node's among its members.
pub(crate) fn person_allowed(
    person: &str,
    node_role: Option<Role>,
    person_role: Option<Role>,
    kind: DocKind,
    comment: bool,
) -> Result<()> {
    let Some(role) = person_role else {
        return Err(super::ApiError::Model(ModelError::Forbidden(format!(
            "{person} is not among the people of this space; its admin adds them with \
             `kp space add-person`"
        ))));
    };
    if rules::may_write(kind, Some(role), comment).is_err() {
        let allows = match role {
            Role::Reader => "readers read and change nothing",
            Role::Reviewer => "reviewers comment on drafts and write referee reports",
            Role::Editor => "editors write drafts, datasets, analyses and referee reports",
            Role::Admin => "admins may do anything",
        };
        return Err(super::ApiError::Model(ModelError::Forbidden(format!(
            "{person} is a {} of this space, and {allows}",
            role.as_str()
        ))));
    }
    rules::may_write(kind, node_role, comment).map_err(Into::into)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_overdue_days() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [3.0]), Some(3.0));
        assert_eq!(median(&mut [9.0, 1.0, 4.0]), Some(4.0));
        assert_eq!(median(&mut [4.0, 1.0, 9.0, 2.0]), Some(3.0));
        let day = date::parse_day("2026-11-28").unwrap();
        assert!(
            !overdue("2026-11-28", day + 3600),
            "due today is not overdue"
        );
        assert!(overdue("2026-11-27", day + 3600));
        assert!(!overdue("", day));
    }
}
