//! Spaces: the unit of membership and replication (a working group, the steering
//! committee, the secretariat, the donor committee).

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ROOT, ReadDoc};
use serde::Serialize;

pub use super::Role;
use super::{DocKind, ModelError, SCHEMA, check_line, expect_kind, get_i64, get_obj, get_str};

/// The partnership's thematic working groups, numbered as in its charter.
pub const THEMES: [&str; 11] = [
    "Data on migration and remittance flows",
    "Skilled labour migration",
    "Unskilled labour migration",
    "Integration in host communities",
    "Policy and institutional coherence",
    "Demographic change",
    "Remittances and access to finance",
    "Diaspora resources",
    "Climate change",
    "Internal migration and urbanisation",
    "Migrant rights and social aspects",
];

/// The name of theme `n` (1-11).
pub fn theme_name(n: u32) -> Option<&'static str> {
    THEMES
        .get(usize::try_from(n).ok()?.checked_sub(1)?)
        .copied()
}

/// The roles of a space's members, by node.
pub type Roles = std::collections::BTreeMap<kp_core::identity::NodeId, Role>;

/// Nodes removed from a space, as one document sees them: the role each had,
/// and the heads of the document the removing node held when it removed it.
/// A former member's changes among those heads are its work as a member and
/// pass under that role; any other change of it does not.
pub type FormerRoles =
    std::collections::BTreeMap<kp_core::identity::NodeId, (Role, Vec<automerge::ChangeHash>)>;

/// A member node of a space.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Member {
    /// The node id.
    pub node_id: String,
    /// Its role, as stored: a word this node may not know (a newer node
    /// wrote it) is kept as it is, and grants nothing here ([`parse_role`]).
    pub role: String,
    /// The institution's name.
    pub institution: String,
    /// The institution's region (free text, such as `Sub-Saharan Africa`), or empty.
    pub region: String,
    /// The institution's country income group, one of [`INCOME_GROUPS`], or empty.
    pub income_group: String,
}

/// The World Bank's country income groups. An institution in a high-income
/// country counts as North, the others as South (the partnership's
/// North-South collaboration indicator).
pub const INCOME_GROUPS: [&str; 4] = ["low", "lower-middle", "upper-middle", "high"];

/// Checks an income group (empty: not given).
pub fn check_income_group(g: &str) -> Result<&'static str, ModelError> {
    if g.is_empty() {
        return Ok("");
    }
    super::one_of("income group", g, &INCOME_GROUPS)
}

/// A node that was a member and was removed: what it wrote before stays
/// part of the space's documents.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Former {
    /// The node id.
    pub node_id: String,
    /// The role it had.
    pub role: String,
    /// When it was removed (Unix seconds).
    pub removed_at: i64,
    /// The admin node that removed it.
    pub removed_by: String,
    /// For each document of the space it had written in: the heads the
    /// removing node held then (document id → heads in hex). Its changes
    /// among them are its work as a member; any other change of it is not.
    pub heads: std::collections::BTreeMap<String, Vec<String>>,
}

/// A person of a space: a researcher with an account at a member node, and
/// their role in the space (the same roles as nodes'). A change a node
/// vouches was written by one of its people is held to the person's role as
/// well as the node's. Keyed by `name@node`, so two nodes naming people alike
/// never collide.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Person {
    /// The person's name (their account's at the node).
    pub name: String,
    /// The node their account is at.
    pub node_id: String,
    /// Their role, as stored (see [`Member::role`]).
    pub role: String,
    /// What they are in the working group (chair, vice-chair, expert,
    /// volunteer researcher…); free text, may be empty.
    pub title: String,
}

/// The roles of a space's people, by (node, name).
pub type People = std::collections::BTreeMap<(kp_core::identity::NodeId, String), Role>;

/// The people of `space` whose roles and nodes this node knows.
pub fn people_roles(space: &Space) -> People {
    space
        .people
        .iter()
        .filter_map(|p| {
            let node = p.node_id.parse().ok()?;
            let role = parse_role(&p.role).ok()?;
            Some(((node, p.name.clone()), role))
        })
        .collect()
}

/// Longest person's name, in characters.
pub const MAX_PERSON_CHARS: usize = 100;

/// Checks a person's name (an account's, a space's person's): one line, not
/// padded, at most [`MAX_PERSON_CHARS`], without `@` (which joins a person
/// and their node). The message names what is wrong with `name`.
pub fn check_person_name(name: &str) -> Result<(), ModelError> {
    // A name far too long is quoted by its start only.
    let shown: String = match name.char_indices().nth(40) {
        Some((end, _)) => format!("{:?}…", &name[..end]),
        None => format!("{name:?}"),
    };
    let bad = |why: &str| Err(ModelError::invalid(format!("the name {shown} {why}")));
    if name.trim().is_empty() {
        return bad("is empty");
    }
    if name.trim() != name {
        return bad("starts or ends with a space");
    }
    if name.chars().count() > MAX_PERSON_CHARS {
        return bad(&format!("is longer than {MAX_PERSON_CHARS} characters"));
    }
    if name.chars().any(char::is_control) {
        return bad("holds a control character (a name is one line)");
    }
    if name.contains('@') {
        return bad("holds `@`, which kp uses between a person and their node");
    }
    Ok(())
}

/// A person's key among a space's people: `name@node`.
fn person_key(name: &str, node_id: &str) -> String {
    format!("{name}@{node_id}")
}

/// Adds a person to the space (or changes their role and title). Only an
/// admin node may, and only for a member node.
pub fn add_person(doc: &mut AutoCommit, by_node: &str, person: &Person) -> Result<(), ModelError> {
    let space = check_admin(doc, by_node)?;
    parse_role(&person.role)?;
    if !space.members.iter().any(|m| m.node_id == person.node_id) {
        return Err(ModelError::invalid(format!(
            "{} is not a member node of `{}`; add the node first (kp space add-member)",
            person.node_id, space.name
        )));
    }
    check_person_name(&person.name)?;
    let title = &person.title;
    if title.chars().count() > 120 || title.chars().any(char::is_control) || title.contains('@') {
        return Err(ModelError::invalid(
            "a title is one line of at most 120 characters, without `@`",
        ));
    }
    let people = match get_obj(doc, &ROOT, "people", ObjType::Map) {
        Some(m) => m,
        None => doc.put_object(ROOT, "people", ObjType::Map)?,
    };
    let key = person_key(&person.name, &person.node_id);
    let p = match get_obj(doc, &people, &key, ObjType::Map) {
        Some(p) => p,
        None => doc.put_object(&people, key.as_str(), ObjType::Map)?,
    };
    doc.put(&p, "name", person.name.as_str())?;
    doc.put(&p, "node", person.node_id.as_str())?;
    doc.put(&p, "role", person.role.as_str())?;
    doc.put(&p, "title", person.title.as_str())?;
    Ok(())
}

/// Removes a person from the space. Only an admin node may. What they wrote
/// stays; what they write afterwards is refused.
pub fn remove_person(
    doc: &mut AutoCommit,
    by_node: &str,
    name: &str,
    node_id: &str,
) -> Result<(), ModelError> {
    check_admin(doc, by_node)?;
    let key = person_key(name, node_id);
    match get_obj(doc, &ROOT, "people", ObjType::Map) {
        Some(people) if get_obj(doc, &people, &key, ObjType::Map).is_some() => {
            doc.delete(&people, key.as_str())?;
            Ok(())
        }
        _ => Err(ModelError::NotFound(format!(
            "{name} at node {node_id} is not among the people of the space"
        ))),
    }
}

/// A space as read from its document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Space {
    /// Name, unique on a node.
    pub name: String,
    /// Theme number, 1-11.
    pub theme: u32,
    /// What the space is for.
    pub description: String,
    /// Member nodes.
    pub members: Vec<Member>,
    /// Nodes removed from the space (and not members again).
    pub former: Vec<Former>,
    /// The people of the working group, at member nodes.
    pub people: Vec<Person>,
    /// Unix seconds.
    pub created_at: i64,
}

/// Longest space name accepted.
pub const MAX_NAME_CHARS: usize = 120;
/// Longest description accepted.
pub const MAX_DESCRIPTION_CHARS: usize = 4000;

/// Checks a theme number.
pub(crate) fn check_theme(theme: u32) -> Result<u32, ModelError> {
    if theme_name(theme).is_some() {
        Ok(theme)
    } else {
        let list: Vec<String> = THEMES
            .iter()
            .enumerate()
            .map(|(i, t)| format!("{} {t}", i + 1))
            .collect();
        Err(ModelError::invalid(format!(
            "unknown theme {theme}: themes are numbered 1 to 11 ({})",
            list.join("; ")
        )))
    }
}

/// Fills a new space document; the creating node is its admin.
pub fn init(
    doc: &mut AutoCommit,
    name: &str,
    theme: u32,
    description: &str,
    admin: &Member,
    now: i64,
) -> Result<(), ModelError> {
    let name = check_line("a space name", name, MAX_NAME_CHARS)?;
    let theme = check_theme(theme)?;
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(ModelError::TooLarge(format!(
            "the description is longer than {MAX_DESCRIPTION_CHARS} characters"
        )));
    }
    doc.put(ROOT, "kind", DocKind::Space.as_str())?;
    doc.put(ROOT, "schema", SCHEMA)?;
    doc.put(ROOT, "name", name)?;
    doc.put(ROOT, "theme", u64::from(theme))?;
    doc.put(ROOT, "description", description.trim())?;
    doc.put(ROOT, "created_at", now)?;
    let members = doc.put_object(ROOT, "members", ObjType::Map)?;
    let m = doc.put_object(&members, admin.node_id.as_str(), ObjType::Map)?;
    doc.put(&m, "role", Role::Admin.as_str())?;
    doc.put(&m, "institution", admin.institution.as_str())?;
    doc.put(&m, "added_at", now)?;
    if !admin.region.trim().is_empty() {
        doc.put(&m, "region", admin.region.trim())?;
    }
    let income_group = check_income_group(&admin.income_group)?;
    if !income_group.is_empty() {
        doc.put(&m, "income_group", income_group)?;
    }
    Ok(())
}

/// Parses a role name.
pub fn parse_role(role: &str) -> Result<Role, ModelError> {
    role.parse()
}

/// The space, if `node` is an admin of it; otherwise why not.
pub(crate) fn check_admin(doc: &AutoCommit, node: &str) -> Result<Space, ModelError> {
    let space = read(doc)?;
    if space
        .members
        .iter()
        .any(|m| m.node_id == node && m.role == Role::Admin.as_str())
    {
        Ok(space)
    } else {
        Err(ModelError::invalid(format!(
            "only an admin of space `{}` may change its members, and this node is not one",
            space.name
        )))
    }
}

/// Adds `member` (or changes its role). Only an admin node may.
pub fn add_member(
    doc: &mut AutoCommit,
    by_node: &str,
    member: &Member,
    now: i64,
) -> Result<(), ModelError> {
    check_admin(doc, by_node)?;
    parse_role(&member.role)?;
    let income_group = check_income_group(&member.income_group)?;
    if member.region.chars().count() > 120 || member.region.chars().any(char::is_control) {
        return Err(ModelError::invalid(
            "a region is one line of at most 120 characters",
        ));
    }
    let members = match get_obj(doc, &ROOT, "members", ObjType::Map) {
        Some(m) => m,
        None => doc.put_object(ROOT, "members", ObjType::Map)?,
    };
    let m = match get_obj(doc, &members, &member.node_id, ObjType::Map) {
        Some(m) => m,
        None => {
            let m = doc.put_object(&members, member.node_id.as_str(), ObjType::Map)?;
            doc.put(&m, "added_at", now)?;
            m
        }
    };
    doc.put(&m, "role", member.role.as_str())?;
    doc.put(&m, "institution", member.institution.as_str())?;
    // Given again with a role change only if meant to change.
    if !member.region.trim().is_empty() {
        doc.put(&m, "region", member.region.trim())?;
    }
    if !income_group.is_empty() {
        doc.put(&m, "income_group", income_group)?;
    }
    Ok(())
}

/// Removes a member. Only an admin node may, and the last admin stays.
///
/// `held` are the heads this node holds of each document of the space in
/// which the member wrote (the space's own included): they are kept with the
/// removal, so that every node, and every member that joins later, still
/// takes the member's changes among them (its work while a member) and
/// refuses any other change of it. A member removed again after coming back
/// gets a new record.
pub fn remove_member(
    doc: &mut AutoCommit,
    by_node: &str,
    node_id: &str,
    held: &std::collections::BTreeMap<String, Vec<String>>,
    now: i64,
) -> Result<(), ModelError> {
    let space = check_admin(doc, by_node)?;
    let Some(target) = space.members.iter().find(|m| m.node_id == node_id) else {
        return Err(ModelError::NotFound(format!(
            "{node_id} is not a member of `{}`",
            space.name
        )));
    };
    let admins = space
        .members
        .iter()
        .filter(|m| m.role == Role::Admin.as_str())
        .count();
    if target.role == Role::Admin.as_str() && admins == 1 {
        return Err(ModelError::invalid(
            "a space keeps at least one admin; add another admin first",
        ));
    }
    if let Some(members) = get_obj(doc, &ROOT, "members", ObjType::Map) {
        doc.delete(&members, node_id)?;
    }
    let former = match get_obj(doc, &ROOT, "former", ObjType::Map) {
        Some(f) => f,
        None => doc.put_object(ROOT, "former", ObjType::Map)?,
    };
    let f = doc.put_object(&former, node_id, ObjType::Map)?;
    doc.put(&f, "role", target.role.as_str())?;
    doc.put(&f, "removed_at", now)?;
    doc.put(&f, "removed_by", by_node)?;
    let heads = doc.put_object(&f, "heads", ObjType::Map)?;
    for (id, hs) in held {
        let l = doc.put_object(&heads, id.as_str(), ObjType::List)?;
        for (i, h) in hs.iter().enumerate() {
            doc.insert(&l, i, h.as_str())?;
        }
    }
    Ok(())
}

/// Reads a space document.
pub fn read(doc: &AutoCommit) -> Result<Space, ModelError> {
    expect_kind(doc, DocKind::Space)?;
    let mut members = Vec::new();
    if let Some(obj) = get_obj(doc, &ROOT, "members", ObjType::Map) {
        for node_id in doc.keys(&obj) {
            if let Some(m) = get_obj(doc, &obj, &node_id, ObjType::Map) {
                members.push(Member {
                    role: get_str(doc, &m, "role"),
                    institution: get_str(doc, &m, "institution"),
                    region: get_str(doc, &m, "region"),
                    income_group: get_str(doc, &m, "income_group"),
                    node_id,
                });
            }
        }
    }
    let v = super::View::now(doc);
    let mut former = Vec::new();
    if let Some(obj) = get_obj(doc, &ROOT, "former", ObjType::Map) {
        for node_id in doc.keys(&obj) {
            if members.iter().any(|m| m.node_id == node_id) {
                continue;
            }
            let Some(f) = get_obj(doc, &obj, &node_id, ObjType::Map) else {
                continue;
            };
            let heads = get_obj(doc, &f, "heads", ObjType::Map)
                .map(|h| {
                    doc.keys(&h)
                        .map(|id| {
                            let list = v.strs(&h, &id);
                            (id, list)
                        })
                        .collect()
                })
                .unwrap_or_default();
            former.push(Former {
                role: get_str(doc, &f, "role"),
                removed_at: get_i64(doc, &f, "removed_at"),
                removed_by: get_str(doc, &f, "removed_by"),
                heads,
                node_id,
            });
        }
    }
    let mut people = Vec::new();
    if let Some(obj) = get_obj(doc, &ROOT, "people", ObjType::Map) {
        for key in doc.keys(&obj) {
            if let Some(p) = get_obj(doc, &obj, &key, ObjType::Map) {
                people.push(Person {
                    name: get_str(doc, &p, "name"),
                    node_id: get_str(doc, &p, "node"),
                    role: get_str(doc, &p, "role"),
                    title: get_str(doc, &p, "title"),
                });
            }
        }
    }
    Ok(Space {
        people,
        name: get_str(doc, &ROOT, "name"),
        theme: u32::try_from(get_i64(doc, &ROOT, "theme")).unwrap_or(0),
        description: get_str(doc, &ROOT, "description"),
        members,
        former,
        created_at: get_i64(doc, &ROOT, "created_at"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admin() -> Member {
        Member {
            node_id: "node1".into(),
            role: "admin".into(),
            institution: "KNOMAD".into(),
            ..Default::default()
        }
    }

    #[test]
    fn create_and_read() {
        let mut doc = AutoCommit::new();
        init(
            &mut doc,
            " Remittances WG ",
            7,
            "Costs of sending money",
            &admin(),
            5,
        )
        .unwrap();
        let s = read(&doc).unwrap();
        assert_eq!(s.name, "Remittances WG");
        assert_eq!(s.theme, 7);
        assert_eq!(s.members.len(), 1);
        assert_eq!(s.members[0].role, "admin");
        assert_eq!(theme_name(7), Some("Remittances and access to finance"));
    }

    #[test]
    fn members_are_changed_by_admins_only() {
        let mut doc = AutoCommit::new();
        init(&mut doc, "WG", 1, "", &admin(), 5).unwrap();
        let editor = Member {
            node_id: "node2".into(),
            role: "editor".into(),
            institution: "Uni".into(),
            ..Default::default()
        };
        add_member(&mut doc, "node1", &editor, 6).unwrap();
        assert_eq!(read(&doc).unwrap().members.len(), 2);
        assert!(
            add_member(&mut doc, "node2", &editor, 6).is_err(),
            "an editor may not"
        );
        let bad = Member {
            role: "boss".into(),
            ..editor.clone()
        };
        assert!(add_member(&mut doc, "node1", &bad, 6).is_err());
        assert!(
            remove_member(&mut doc, "node1", "node1", &Default::default(), 0).is_err(),
            "the last admin stays"
        );
        remove_member(&mut doc, "node1", "node2", &Default::default(), 0).unwrap();
        assert!(remove_member(&mut doc, "node1", "node2", &Default::default(), 0).is_err());
        assert_eq!(read(&doc).unwrap().members.len(), 1);
    }

    #[test]
    fn bad_inputs_are_refused() {
        for theme in [0, 12, 99] {
            let err = init(&mut AutoCommit::new(), "x", theme, "", &admin(), 0).unwrap_err();
            assert!(err.to_string().contains("unknown theme"), "{err}");
        }
        assert!(init(&mut AutoCommit::new(), "  ", 1, "", &admin(), 0).is_err());
        assert!(init(&mut AutoCommit::new(), "a\nb", 1, "", &admin(), 0).is_err());
        let long = "x".repeat(MAX_NAME_CHARS + 1);
        assert!(matches!(
            init(&mut AutoCommit::new(), &long, 1, "", &admin(), 0),
            Err(ModelError::TooLarge(_))
        ));
    }

    /// What concurrent membership changes by two admins come to, as decided in
    /// ARCHITECTURE.md: every copy agrees; a removal wins over a concurrent
    /// change of the same member's role; of two role changes one wins (the same
    /// on every copy); and two admins who remove each other at once both go.
    #[test]
    fn concurrent_membership_changes_converge_as_decided() {
        let mut doc = AutoCommit::new();
        init(&mut doc, "WG", 1, "", &admin(), 5).unwrap();
        let member = |id: &str, role: &str| Member {
            node_id: id.into(),
            role: role.into(),
            institution: "I".into(),
            ..Default::default()
        };
        add_member(&mut doc, "node1", &member("node2", "admin"), 6).unwrap();
        add_member(&mut doc, "node1", &member("node3", "editor"), 6).unwrap();
        let merged = |x: &mut AutoCommit, y: &mut AutoCommit| {
            let (mut one, mut two) = (x.fork(), y.fork());
            one.merge(y).unwrap();
            two.merge(x).unwrap();
            let (r1, r2) = (read(&one).unwrap(), read(&two).unwrap());
            assert_eq!(r1, r2, "every copy agrees");
            r1
        };
        let role = |s: &Space, id: &str| {
            s.members
                .iter()
                .find(|m| m.node_id == id)
                .map(|m| m.role.clone())
        };

        // Admin 1 removes node3 while admin 2 makes it a reviewer: removed.
        let (mut x, mut y) = (doc.fork(), doc.fork());
        remove_member(&mut x, "node1", "node3", &Default::default(), 0).unwrap();
        add_member(&mut y, "node2", &member("node3", "reviewer"), 7).unwrap();
        assert_eq!(role(&merged(&mut x, &mut y), "node3"), None);

        // Two role changes: one of them, the same everywhere.
        let (mut x, mut y) = (doc.fork(), doc.fork());
        add_member(&mut x, "node1", &member("node3", "reader"), 7).unwrap();
        add_member(&mut y, "node2", &member("node3", "reviewer"), 7).unwrap();
        let r = role(&merged(&mut x, &mut y), "node3").unwrap();
        assert!(r == "reader" || r == "reviewer");

        // The two admins remove each other: neither stays, and the space has no
        // admin left (nobody can change its members any more).
        let (mut x, mut y) = (doc.fork(), doc.fork());
        remove_member(&mut x, "node1", "node2", &Default::default(), 0).unwrap();
        remove_member(&mut y, "node2", "node1", &Default::default(), 0).unwrap();
        let s = merged(&mut x, &mut y);
        assert!(s.members.iter().all(|m| m.role != "admin"), "{s:?}");
    }

    #[test]
    fn people_are_named_by_admins_at_member_nodes() {
        let node = kp_core::identity::NodeId::from_bytes([5; 32]).to_string();
        let mut doc = AutoCommit::new();
        let admin = Member {
            node_id: node.clone(),
            ..admin()
        };
        init(&mut doc, "WG", 7, "", &admin, 1).unwrap();
        let amina = Person {
            name: "Amina Diallo".into(),
            node_id: node.clone(),
            role: "editor".into(),
            title: "chair".into(),
        };
        add_person(&mut doc, &node, &amina).unwrap();
        assert_eq!(read(&doc).unwrap().people, vec![amina.clone()]);
        let roles = people_roles(&read(&doc).unwrap());
        assert_eq!(roles.len(), 1);
        // Not an admin; not a member node; a bad role or name: refused.
        assert!(add_person(&mut doc, "other", &amina).is_err());
        let elsewhere = Person {
            node_id: "nodeX".into(),
            ..amina.clone()
        };
        assert!(
            add_person(&mut doc, &node, &elsewhere)
                .unwrap_err()
                .to_string()
                .contains("not a member node")
        );
        assert!(
            add_person(
                &mut doc,
                &node,
                &Person {
                    role: "boss".into(),
                    ..amina.clone()
                }
            )
            .is_err()
        );
        assert!(
            add_person(
                &mut doc,
                &node,
                &Person {
                    name: "a@b".into(),
                    ..amina.clone()
                }
            )
            .is_err()
        );
        remove_person(&mut doc, &node, "Amina Diallo", &node).unwrap();
        assert!(read(&doc).unwrap().people.is_empty());
        assert!(remove_person(&mut doc, &node, "Amina Diallo", &node).is_err());
    }
}
