//! Who may write what: the roles of a space, applied to every change that
//! arrives from a partner (each change is checked against the role of the node
//! that authored it, which its actor id names, whoever relayed it) and to the
//! edits this node's own users make.
//!
//! | role     | space document | drafts                 | review reports, datasets, analyses, events |
//! |----------|----------------|------------------------|--------------------------------------------|
//! | admin    | yes            | yes                    | yes                                        |
//! | editor   | no             | yes                    | yes                                        |
//! | reviewer | no             | comments only          | review reports only                        |
//! | reader   | no             | no                     | no                                         |
//!
//! A node that is not a member writes nothing. A change that cites the heads
//! of the space its author held (kp-repo's `ChangeNote::space`) is judged by
//! its author's role in the space at those heads, when this node holds them:
//! every node then judges it alike, whatever it has learned of the space
//! since, so an edit made before its author learned it was made a reviewer,
//! or removed, is kept everywhere or nowhere — never kept by the nodes that
//! took it first and refused by the others, which would leave their copies
//! apart for good (the refused change's successors waiting on it). Other
//! changes (none cited, or heads this node does not hold yet: refused now,
//! offered again in a later session) are judged by the roles of the space as
//! this node holds it before the changes are applied, so a change cannot grant
//! its own author a role.

use std::collections::{BTreeMap, BTreeSet};

use automerge::{ActorId, AutoCommit, ChangeHash, Prop, ROOT, ReadDoc};
use kp_core::authorship::Link;

use super::space::Role;
use super::{DocKind, ModelError};
use kp_core::identity::NodeId;

pub use super::space::{FormerRoles, Roles};

/// May a node with `role` write a document of `kind` at all, and if so, only
/// inside the draft's comments?
fn allowance(kind: DocKind, role: Option<Role>) -> Result<Allowed, String> {
    use Role::*;
    match (kind, role) {
        (_, None) => Err("is not a member of the space".into()),
        (_, Some(Admin)) => Ok(Allowed::All),
        (_, Some(Reader)) => Err("is a reader of the space, and readers change nothing".into()),
        (DocKind::Space, Some(_)) => Err("is not an admin, and only admins change a space".into()),
        (DocKind::Draft, Some(Editor)) => Ok(Allowed::All),
        (DocKind::Draft, Some(Reviewer)) => Ok(Allowed::Comments),
        (DocKind::Review, Some(Editor | Reviewer)) => Ok(Allowed::All),
        (DocKind::Dataset | DocKind::Analysis | DocKind::Event, Some(Editor)) => Ok(Allowed::All),
        (_, Some(r)) => Err(format!(
            "is a {} of the space and may not change {}",
            r.as_str(),
            kind.with_article()
        )),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Allowed {
    All,
    Comments,
}

/// May a node with `role` make this kind of change locally? (The local API
/// refuses what partners would refuse.) `comment` is true for a comment or a
/// reply on a draft.
pub fn may_write(kind: DocKind, role: Option<Role>, comment: bool) -> Result<(), ModelError> {
    match allowance(kind, role) {
        Ok(Allowed::All) => Ok(()),
        Ok(Allowed::Comments) if comment => Ok(()),
        Ok(Allowed::Comments) => Err(ModelError::Forbidden(
            "this node is a reviewer of the space: it may comment on drafts and write review \
             reports, not edit drafts"
                .into(),
        )),
        Err(why) => Err(ModelError::Forbidden(format!("this node {why}"))),
    }
}

/// Checks every change of `doc` that is not in `before` (the changes a peer
/// sent) against the role its author has in `roles`.
pub fn check_changes(
    doc: &mut AutoCommit,
    before: &[ChangeHash],
    kind: DocKind,
    roles: &Roles,
) -> Result<(), ModelError> {
    let new = kp_core::authorship::new_links(doc, before);
    check_new(doc, &new, kind, roles, &FormerRoles::new(), &|_| None)
}

/// The roles of the space at the heads a change cites, if this node holds
/// the space at those heads (see the module's text).
pub type CitedRoles<'a> = dyn Fn(&[ChangeHash]) -> Option<Roles> + 'a;

/// [`check_changes`] for the changes `new` of `doc`, as the repository lists
/// them once for all its checks.
pub fn check_new(
    doc: &mut AutoCommit,
    new: &[Link],
    kind: DocKind,
    roles: &Roles,
    former: &FormerRoles,
    cited: &CitedRoles<'_>,
) -> Result<(), ModelError> {
    // Former members whose changes here are all among what they wrote as
    // members count with their old role, and authors judged at the heads they
    // cite with their role there (the last of their changes here decides);
    // `effective` is the roles for this batch's review steps.
    let mut effective: Option<Roles> = None;
    // Authors from the changes' metadata; only a reviewer's changes are decoded
    // (their operations are checked), so a whole document taken in costs no
    // more than reading who wrote it.
    let mut by_actor: BTreeMap<(&ActorId, &[ChangeHash]), (NodeId, Allowed)> = BTreeMap::new();
    let mut at_citation: BTreeMap<Vec<ChangeHash>, Option<Roles>> = BTreeMap::new();
    let mut comments_only = Vec::new();
    for meta in new {
        let (node, allowed) = match by_actor.get(&(&meta.actor, meta.space.as_slice())) {
            Some(known) => *known,
            None => {
                let Some(node) = meta.node() else {
                    return Err(ModelError::Forbidden(format!(
                        "change {} was made by an actor that is no node",
                        meta.hash
                    )));
                };
                // Its author's role as the space was at the heads it cites.
                let then = if meta.space.is_empty() {
                    None
                } else {
                    at_citation
                        .entry(meta.space.clone())
                        .or_insert_with(|| cited(&meta.space))
                        .clone()
                };
                let mut role = match &then {
                    Some(then) => {
                        let role = then.get(&node).copied();
                        if let Some(r) = role {
                            effective
                                .get_or_insert_with(|| roles.clone())
                                .insert(node, r);
                        }
                        role
                    }
                    None => roles.get(&node).copied(),
                };
                if role.is_none()
                    && then.is_none()
                    && let Some((was, held)) = former.get(&node)
                {
                    // Every change of this node in the batch must be among
                    // the heads kept at its removal.
                    let after = written_after(doc, held);
                    let late = new
                        .iter()
                        .filter(|l| l.actor == meta.actor)
                        .find(|l| after.as_ref().is_none_or(|a| a.contains(&l.hash)));
                    if let Some(l) = late {
                        return Err(ModelError::Forbidden(format!(
                            "change {} by node {} refused: that node was removed from the \
                             space, and this change is not among what it wrote as a member",
                            l.hash,
                            node.short()
                        )));
                    }
                    effective
                        .get_or_insert_with(|| roles.clone())
                        .insert(node, *was);
                    role = Some(*was);
                }
                let allowed = allowance(kind, role).map_err(|why| {
                    ModelError::Forbidden(format!(
                        "change {} by node {} refused: that node {why}",
                        meta.hash,
                        node.short()
                    ))
                })?;
                by_actor.insert((&meta.actor, meta.space.as_slice()), (node, allowed));
                (node, allowed)
            }
        };
        if allowed == Allowed::Comments {
            comments_only.push((meta.hash, node));
        }
    }
    if kind == DocKind::Draft {
        // The review workflow's steps and the named versions: each step by the
        // rules of a real review, none removed or changed.
        super::review::check_new(doc, new, effective.as_ref().unwrap_or(roles))?;
    }
    for (hash, node) in comments_only {
        only_comments(doc, hash, &format!("node {}", node.short()))?;
    }
    Ok(())
}

/// Fails unless every operation of change `hash` is inside a draft's comments.
fn only_comments(doc: &mut AutoCommit, hash: ChangeHash, who: &str) -> Result<(), ModelError> {
    let refused = || {
        ModelError::Forbidden(format!(
            "change {hash} by {who} refused: a reviewer may only comment on a draft"
        ))
    };
    let change = doc.get_change_by_hash(&hash).ok_or_else(refused)?;
    for op in &change.decode().operations {
        if !inside_comments(doc, &op.obj.to_string(), &op.key) {
            return Err(refused());
        }
    }
    Ok(())
}

/// Holds every change of `new` that a node vouched a person wrote (a client's
/// change) to that person's role among the space's `people`, as
/// [`check_new`] holds it to the node's: a person the space does not name
/// writes nothing.
pub fn check_people(
    doc: &mut AutoCommit,
    new: &[Link],
    kind: DocKind,
    people: &super::space::People,
) -> Result<(), ModelError> {
    for l in new {
        let Some(v) = &l.by else { continue };
        let who = format!("{} at node {}", v.person, v.node.short());
        let role = people.get(&(v.node, v.person.clone())).copied();
        let allowed = match (role, allowance(kind, role)) {
            (None, _) => Err(format!(
                "{who} is not among the people of the space (kp space add-person)"
            )),
            (Some(_), Err(why)) => Err(why.replace("is a", "is, as a person, a")),
            (Some(_), Ok(a)) => Ok(a),
        }
        .map_err(|why| {
            ModelError::Forbidden(format!("change {} by {who} refused: {why}", l.hash))
        })?;
        if allowed == Allowed::Comments {
            only_comments(doc, l.hash, &who)?;
        }
    }
    if kind == DocKind::Draft {
        super::review::check_people(doc, new, people)?;
    }
    Ok(())
}

/// The changes of `doc` that are not among `held` (a former member's cut-off),
/// or `None` if the document lacks some of `held` (then nothing can be shown
/// to be among them).
fn written_after(doc: &mut AutoCommit, held: &[ChangeHash]) -> Option<BTreeSet<ChangeHash>> {
    if held.is_empty() || !doc.get_missing_deps(held).is_empty() {
        return None;
    }
    Some(doc.get_changes_meta(held).iter().map(|m| m.hash).collect())
}

/// Whether an operation on object `obj` (as `counter@actor`, or `_root`) at
/// `key` lies inside the draft's `comments` map.
fn inside_comments(doc: &AutoCommit, obj: &str, key: &automerge::legacy::Key) -> bool {
    if obj == "_root" {
        // Only the comments map itself, should it be missing.
        return matches!(key, automerge::legacy::Key::Map(k) if k == "comments");
    }
    let Ok((id, _)) = doc.import(obj) else {
        return false;
    };
    let Ok(parents) = doc.parents(&id) else {
        return false;
    };
    match parents.path().first() {
        Some((top, Prop::Map(k))) => *top == ROOT && k == "comments",
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::draft;
    use automerge::ActorId;

    fn actor(node: &NodeId, incarnation: u64) -> ActorId {
        ActorId::from([node.as_bytes().as_slice(), &incarnation.to_be_bytes()].concat())
    }

    /// The changes of `doc` after `before`, as vouched for by `node` for `person`.
    fn vouched(
        doc: &mut AutoCommit,
        before: &[ChangeHash],
        node: NodeId,
        person: &str,
    ) -> Vec<Link> {
        kp_core::authorship::new_links(doc, before)
            .into_iter()
            .map(|mut l| {
                l.by = Some(kp_core::authorship::Voucher {
                    node,
                    person: person.into(),
                });
                l
            })
            .collect()
    }

    #[test]
    fn a_persons_change_is_held_to_the_persons_role_too() {
        let ana = NodeId::from_bytes([1; 32]);
        let roles: Roles = [(ana, Role::Admin)].into_iter().collect();
        let people: crate::space::People = [
            ((ana, "Amina".to_string()), Role::Editor),
            ((ana, "Bo".to_string()), Role::Reviewer),
            ((ana, "Rui".to_string()), Role::Reader),
        ]
        .into_iter()
        .collect();
        let me = ana.to_string();
        let by = draft::Actor {
            author: "Ana",
            institution: "U",
            node_id: &me,
        };
        let mut doc = AutoCommit::new().with_actor(actor(&ana, 1));
        let space = kp_core::ids::DocId::random();
        draft::init(
            &mut doc,
            &space,
            "Paper",
            crate::DraftType::WorkingPaper,
            "Text.",
            &by,
            1,
        )
        .unwrap();
        doc.commit();
        let base = doc.get_heads();
        let mut edit = |who: &str, comment: bool| {
            let mut client = doc.fork().with_actor(ActorId::from(vec![9u8; 16]));
            if comment {
                draft::add_comment(&mut client, "cabcdefghij", "Text", "Why?", &by, 2).unwrap();
            } else {
                draft::set_body(&mut client, "Other text.", &by).unwrap();
            }
            client.commit();
            let new = vouched(&mut client, &base, ana, who);
            check_new(
                &mut client,
                &new,
                DocKind::Draft,
                &roles,
                &FormerRoles::new(),
                &|_| None,
            )?;
            check_people(&mut client, &new, DocKind::Draft, &people)
        };
        edit("Amina", false).expect("an editor edits");
        edit("Bo", true).expect("a reviewer comments");
        let err = edit("Bo", false).unwrap_err().to_string();
        assert!(
            err.contains("Bo at node") && err.contains("only comment"),
            "{err}"
        );
        let err = edit("Rui", true).unwrap_err().to_string();
        assert!(err.contains("readers change nothing"), "{err}");
        let err = edit("Nobody", true).unwrap_err().to_string();
        assert!(err.contains("not among the people"), "{err}");
        // The node's role bounds its people: a reader node's editor writes nothing.
        let as_reader: Roles = [(ana, Role::Reader)].into_iter().collect();
        let mut client = doc.fork().with_actor(ActorId::from(vec![9u8; 16]));
        draft::set_body(&mut client, "Other.", &by).unwrap();
        client.commit();
        let new = vouched(&mut client, &base, ana, "Amina");
        assert!(
            check_new(
                &mut client,
                &new,
                DocKind::Draft,
                &as_reader,
                &FormerRoles::new(),
                &|_| None,
            )
            .is_err()
        );
    }

    #[test]
    fn each_change_is_held_to_its_authors_role() {
        let (ana, bo, rex, eve) = (
            NodeId::from_bytes([1; 32]),
            NodeId::from_bytes([2; 32]),
            NodeId::from_bytes([3; 32]),
            NodeId::from_bytes([4; 32]),
        );
        let roles: Roles = [
            (ana, Role::Editor),
            (bo, Role::Reviewer),
            (rex, Role::Reader),
        ]
        .into_iter()
        .collect();
        let me = ana.to_string();
        let by = draft::Actor {
            author: "Ana",
            institution: "U",
            node_id: &me,
        };
        let mut doc = AutoCommit::new().with_actor(actor(&ana, 1));
        let space = kp_core::ids::DocId::random();
        draft::init(
            &mut doc,
            &space,
            "Paper",
            crate::DraftType::WorkingPaper,
            "Costs fell to 6% in 2023.",
            &by,
            1,
        )
        .unwrap();
        doc.commit();
        let base = doc.get_heads();
        check_changes(&mut doc, &[], DocKind::Draft, &roles).expect("an editor writes drafts");

        // A reviewer's comment passes; the same reviewer editing the body does not.
        let mut reviewer = doc.fork().with_actor(actor(&bo, 1));
        let bo_id = bo.to_string();
        let by_bo = draft::Actor {
            author: "Bo",
            institution: "B",
            node_id: &bo_id,
        };
        draft::add_comment(&mut reviewer, "c1", "fell to 6%", "Source?", &by_bo, 2).unwrap();
        reviewer.commit();
        check_changes(&mut reviewer, &base, DocKind::Draft, &roles).expect("reviewers comment");
        let commented = reviewer.get_heads();
        draft::set_body(&mut reviewer, "Costs fell to 5% in 2023.", &by_bo).unwrap();
        reviewer.commit();
        let err = check_changes(&mut reviewer, &commented, DocKind::Draft, &roles).unwrap_err();
        assert!(err.to_string().contains("may only comment"), "{err}");
        check_changes(&mut reviewer, &base, DocKind::Review, &roles).expect("reviews are theirs");

        // A reader changes nothing; a stranger neither; nor does a non-node actor.
        for (who, expect) in [(rex, "readers change nothing"), (eve, "not a member")] {
            let mut other = doc.fork().with_actor(actor(&who, 1));
            automerge::transaction::Transactable::put(&mut other, ROOT, "title", "Mine").unwrap();
            other.commit();
            let err = check_changes(&mut other, &base, DocKind::Draft, &roles).unwrap_err();
            assert!(err.to_string().contains(expect), "{err}");
        }
        let mut anon = doc.fork();
        automerge::transaction::Transactable::put(&mut anon, ROOT, "title", "Anon").unwrap();
        anon.commit();
        let err = check_changes(&mut anon, &base, DocKind::Draft, &roles).unwrap_err();
        assert!(err.to_string().contains("no node"), "{err}");
        // Editors do not change spaces.
        let err = check_changes(&mut doc, &[], DocKind::Space, &roles).unwrap_err();
        assert!(err.to_string().contains("only admins"), "{err}");
    }

    #[test]
    fn the_local_api_refuses_what_partners_would() {
        assert!(may_write(DocKind::Draft, Some(Role::Editor), false).is_ok());
        assert!(may_write(DocKind::Draft, Some(Role::Reviewer), true).is_ok());
        assert!(may_write(DocKind::Draft, Some(Role::Reviewer), false).is_err());
        assert!(may_write(DocKind::Dataset, Some(Role::Reader), false).is_err());
        assert!(may_write(DocKind::Space, Some(Role::Editor), false).is_err());
        assert!(may_write(DocKind::Space, Some(Role::Admin), false).is_ok());
        assert!(may_write(DocKind::Draft, None, true).is_err());
    }

    /// A draft "One." made by Ana's node.
    fn anas_paper(ana: &NodeId, by: &draft::Actor<'_>) -> AutoCommit {
        let mut doc = AutoCommit::new().with_actor(actor(ana, 1));
        draft::init(
            &mut doc,
            &kp_core::ids::DocId::random(),
            "P",
            crate::DraftType::WorkingPaper,
            "One.",
            by,
            1,
        )
        .unwrap();
        doc.commit();
        doc
    }

    #[test]
    fn a_change_is_judged_by_its_authors_role_at_the_space_heads_it_cites() {
        use automerge::transaction::CommitOptions;
        let (ana, bo) = (NodeId::from_bytes([1; 32]), NodeId::from_bytes([2; 32]));
        let me = ana.to_string();
        let by = draft::Actor {
            author: "Ana",
            institution: "U",
            node_id: &me,
        };
        let mut doc = anas_paper(&ana, &by);
        let base = doc.get_heads();
        // Two versions of the space: Bo an editor, then a reviewer.
        let (editor_then, reviewer_now) = (ChangeHash([7; 32]), ChangeHash([8; 32]));
        let cited = |heads: &[ChangeHash]| -> Option<Roles> {
            let bo_role = match heads {
                [h] if *h == editor_then => Role::Editor,
                [h] if *h == reviewer_now => Role::Reviewer,
                _ => return None,
            };
            Some([(ana, Role::Admin), (bo, bo_role)].into_iter().collect())
        };
        let now: Roles = [(ana, Role::Admin), (bo, Role::Reviewer)]
            .into_iter()
            .collect();
        let mut edit = |cites: Option<ChangeHash>| {
            let mut bo_doc = doc.fork().with_actor(actor(&bo, 1));
            draft::set_body(&mut bo_doc, "One. Two.", &by).unwrap();
            let message = match cites {
                Some(h) => format!(r#"{{"author":"Bo","what":"edit","space":["{h}"]}}"#),
                None => r#"{"author":"Bo","what":"edit"}"#.to_string(),
            };
            bo_doc.commit_with(CommitOptions::default().with_message(message));
            let new = kp_core::authorship::new_links(&mut bo_doc, &base);
            (bo_doc, new)
        };
        // Written while Bo was an editor as his node held the space: kept,
        // though this node has since made him a reviewer.
        let (mut d, new) = edit(Some(editor_then));
        assert_eq!(new[0].space, vec![editor_then]);
        check_new(
            &mut d,
            &new,
            DocKind::Draft,
            &now,
            &FormerRoles::new(),
            &cited,
        )
        .expect("judged as its author saw the space");
        // Written once his node knew he was a reviewer: refused.
        let (mut d, new) = edit(Some(reviewer_now));
        let err = check_new(
            &mut d,
            &new,
            DocKind::Draft,
            &now,
            &FormerRoles::new(),
            &cited,
        )
        .unwrap_err();
        assert!(err.to_string().contains("may only comment"), "{err}");
        // Citing nothing, or heads this node does not hold: the space as held.
        for cites in [None, Some(ChangeHash([9; 32]))] {
            let (mut d, new) = edit(cites);
            let err = check_new(
                &mut d,
                &new,
                DocKind::Draft,
                &now,
                &FormerRoles::new(),
                &cited,
            )
            .unwrap_err();
            assert!(err.to_string().contains("may only comment"), "{err}");
        }
        // Citing heads at which Bo was no member: refused, whatever he is now.
        let stranger = |_: &[ChangeHash]| -> Option<Roles> {
            Some([(ana, Role::Admin)].into_iter().collect())
        };
        let editor_now: Roles = [(ana, Role::Admin), (bo, Role::Editor)]
            .into_iter()
            .collect();
        let (mut d, new) = edit(Some(editor_then));
        let err = check_new(
            &mut d,
            &new,
            DocKind::Draft,
            &editor_now,
            &FormerRoles::new(),
            &stranger,
        )
        .unwrap_err();
        assert!(err.to_string().contains("not a member"), "{err}");
    }

    #[test]
    fn a_former_members_work_passes_and_its_later_changes_do_not() {
        let (ana, bo) = (NodeId::from_bytes([1; 32]), NodeId::from_bytes([2; 32]));
        let me = ana.to_string();
        let by = draft::Actor {
            author: "Ana",
            institution: "U",
            node_id: &me,
        };
        let mut doc = anas_paper(&ana, &by);
        let mut editor = doc.fork().with_actor(actor(&bo, 1));
        draft::set_body(&mut editor, "One. Two.", &by).unwrap();
        editor.commit();
        let held = editor.get_heads();
        draft::set_body(&mut editor, "One. Two. Three.", &by).unwrap();
        editor.commit();
        let late = editor.get_heads();
        // Bo is no member now; he was an editor, removed when Ana's node held
        // his "Two.".
        let roles: Roles = [(ana, Role::Admin)].into_iter().collect();
        let former: FormerRoles = [(bo, (Role::Editor, held.clone()))].into_iter().collect();
        let mut upto = doc.fork();
        upto.merge(&mut editor.fork_at(&held).unwrap()).unwrap();
        let new = kp_core::authorship::new_links(&mut upto, &doc.get_heads());
        check_new(&mut upto, &new, DocKind::Draft, &roles, &former, &|_| None)
            .expect("his work stays");
        let err = check_new(
            &mut upto,
            &new,
            DocKind::Draft,
            &roles,
            &FormerRoles::new(),
            &|_| None,
        )
        .unwrap_err();
        assert!(err.to_string().contains("not a member"), "{err}");
        let mut all = doc.fork();
        all.merge(&mut editor).unwrap();
        let new = kp_core::authorship::new_links(&mut all, &doc.get_heads());
        let err =
            check_new(&mut all, &new, DocKind::Draft, &roles, &former, &|_| None).unwrap_err();
        assert!(err.to_string().contains("not among what it wrote"), "{err}");
        assert_ne!(held, late);
        // A reader then is a reader now: the old role still limits.
        let as_reader: FormerRoles = [(bo, (Role::Reader, held))].into_iter().collect();
        let new = kp_core::authorship::new_links(&mut upto, &doc.get_heads());
        let err = check_new(&mut upto, &new, DocKind::Draft, &roles, &as_reader, &|_| {
            None
        })
        .unwrap_err();
        assert!(err.to_string().contains("reader"), "{err}");
    }
}
