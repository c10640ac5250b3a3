//! `kp space`: spaces, one per working group or committee, and their members.

use clap::Subcommand;
use kp_proto::local as pb;

use crate::client::{Ctx, refused};
use crate::output::emit;
use crate::render::{plural, table, time};

#[derive(Debug, Subcommand)]
pub(super) enum SpaceCmd {
    /// Create a space; this node becomes its admin (prints the space's id).
    Create {
        /// Its name (unique on this node).
        name: String,
        /// Theme number: 1 data on migration and remittance flows, 2 skilled labour
        /// migration, 3 unskilled labour migration, 4 integration in host
        /// communities, 5 policy and institutional coherence, 6 demographic change,
        /// 7 remittances and access to finance, 8 diaspora resources, 9 climate
        /// change, 10 internal migration and urbanisation, 11 migrant rights and
        /// social aspects.
        #[arg(long, value_name = "N")]
        theme: u32,
        /// What the space is for.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List the spaces this node holds.
    List,
    /// Show a space and its members.
    Show {
        /// Its name or id.
        name: String,
    },
    /// Make a partner node a member (admins only): it receives the space's
    /// documents, past and future.
    AddMember {
        /// The space (name or id).
        name: String,
        /// The member node's id.
        node_id: String,
        /// admin, editor, reviewer or reader.
        #[arg(long, default_value = "editor")]
        role: String,
        /// The member's institution, as shown in the space.
        #[arg(long, default_value = "")]
        institution: String,
        /// The institution's region (such as "Sub-Saharan Africa").
        #[arg(long, default_value = "")]
        region: String,
        /// The income group of the institution's country: low, lower-middle,
        /// upper-middle or high (for the North-South indicator).
        #[arg(long, default_value = "")]
        income_group: String,
    },
    /// Remove a member node (admins only): it receives nothing new of the space.
    ///
    /// What it wrote while a member stays, for every member, including those
    /// who join later: the removal keeps the versions of the space's documents
    /// this node holds. What it writes afterwards is refused by every node.
    RemoveMember {
        /// The space (name or id).
        name: String,
        /// The member node's id.
        node_id: String,
    },
    /// Name a person of the working group, with their role (admins only).
    ///
    /// A person is a researcher with an account (`kp user add`) at a member
    /// node. What they write through the web listener or an automerge-repo
    /// client is held, on every node, to their role here as well as to their
    /// node's: a reader changes nothing, a reviewer only comments and writes
    /// reports. A person the space does not name may read, not write.
    #[command(after_help = "\
Examples:
  kp space add-person \"Remittances WG\" \"Amina Diallo\" --role editor --title chair
  kp space add-person \"Remittances WG\" \"Bo Chen\" --role reviewer --node NODE_ID")]
    AddPerson {
        /// The space (name or id).
        name: String,
        /// The person's account name at their node.
        person: String,
        /// admin, editor, reviewer or reader.
        #[arg(long, default_value = "editor")]
        role: String,
        /// The node of their account [default: this node].
        #[arg(long, default_value = "")]
        node: String,
        /// What they are in the group: chair, vice-chair, expert, volunteer...
        #[arg(long, default_value = "")]
        title: String,
    },
    /// Remove a person from the space (admins only); what they wrote stays.
    RemovePerson {
        /// The space (name or id).
        name: String,
        /// The person's account name at their node.
        person: String,
        /// The node of their account [default: this node].
        #[arg(long, default_value = "")]
        node: String,
    },
}

/// A space, its members and its former members.
fn print_space(s: &pb::Space) -> anyhow::Result<()> {
    outln!("{}  (theme {}: {})", s.name, s.theme, s.theme_name);
    outln!("id: {}", s.id);
    if !s.description.is_empty() {
        outln!("{}", s.description);
    }
    outln!(
        "{} drafts, {} datasets, created {}",
        s.drafts,
        s.datasets,
        time(s.created_at)
    );
    outln!();
    let rows: Vec<Vec<String>> = s
        .members
        .iter()
        .map(|m| {
            let place = [m.region.as_str(), m.income_group.as_str()]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(", ");
            vec![
                m.node_id.clone(),
                m.role.clone(),
                m.institution.clone(),
                if place.is_empty() { "-".into() } else { place },
            ]
        })
        .collect();
    table(&["MEMBER NODE", "ROLE", "INSTITUTION", "REGION"], &rows);
    if !s.people.is_empty() {
        outln!();
        let rows: Vec<Vec<String>> = s
            .people
            .iter()
            .map(|p| {
                vec![
                    p.name.clone(),
                    p.role.clone(),
                    if p.title.is_empty() {
                        "-".into()
                    } else {
                        p.title.clone()
                    },
                    p.node_id.clone(),
                ]
            })
            .collect();
        table(&["PERSON", "ROLE", "TITLE", "NODE"], &rows);
    }
    for f in &s.former {
        outln!(
            "former {} {}, removed {}: its work as a member stays ({})",
            f.role,
            f.node_id,
            time(f.removed_at),
            plural(f.documents as usize, "document")
        );
    }
    Ok(())
}

/// `kp space …`.
pub(super) async fn handle(ctx: &mut Ctx, cmd: SpaceCmd) -> anyhow::Result<()> {
    match cmd {
        SpaceCmd::Create {
            name,
            theme,
            description,
        } => {
            let req = pb::CreateSpaceRequest {
                name,
                theme,
                description,
                author: ctx.author.clone(),
            };
            let s = ctx
                .api
                .create_space(req)
                .await
                .map_err(refused)?
                .into_inner();
            emit(ctx.json, &s, |s| {
                // The new space's id alone, for scripts; the message goes to stderr.
                outln!("{}", s.id);
                eprintln!("created space {}", s.name);
                Ok(())
            })
        }
        SpaceCmd::List => {
            let list = ctx
                .api
                .list_spaces(pb::ListSpacesRequest {})
                .await
                .map_err(refused)?
                .into_inner();
            emit(ctx.json, &list, |list| {
                if list.spaces.is_empty() {
                    outln!("no spaces yet; create one with `kp space create NAME --theme N`");
                    return Ok(());
                }
                let rows: Vec<Vec<String>> = list
                    .spaces
                    .iter()
                    .map(|s| {
                        vec![
                            s.name.clone(),
                            format!("{} {}", s.theme, s.theme_name),
                            s.drafts.to_string(),
                            s.datasets.to_string(),
                            s.members.len().to_string(),
                            s.id.clone(),
                        ]
                    })
                    .collect();
                table(
                    &["NAME", "THEME", "DRAFTS", "DATASETS", "MEMBERS", "ID"],
                    &rows,
                );
                Ok(())
            })
        }
        SpaceCmd::AddMember {
            name,
            node_id,
            role,
            institution,
            region,
            income_group,
        } => {
            let req = pb::AddMemberRequest {
                space: name,
                node_id,
                role,
                institution,
                author: ctx.author.clone(),
                region,
                income_group,
            };
            let s = ctx.api.add_member(req).await.map_err(refused)?.into_inner();
            emit(ctx.json, &s, print_space)
        }
        SpaceCmd::RemoveMember { name, node_id } => {
            let req = pb::RemoveMemberRequest {
                space: name,
                node_id,
                author: ctx.author.clone(),
            };
            let s = ctx
                .api
                .remove_member(req)
                .await
                .map_err(refused)?
                .into_inner();
            emit(ctx.json, &s, print_space)
        }
        SpaceCmd::AddPerson {
            name,
            person,
            role,
            node,
            title,
        } => {
            let req = pb::AddPersonRequest {
                space: name,
                name: person,
                node_id: node,
                role,
                title,
                author: ctx.author.clone(),
            };
            let s = ctx.api.add_person(req).await.map_err(refused)?.into_inner();
            emit(ctx.json, &s, print_space)
        }
        SpaceCmd::RemovePerson { name, person, node } => {
            let req = pb::RemovePersonRequest {
                space: name,
                name: person,
                node_id: node,
                author: ctx.author.clone(),
            };
            let s = ctx
                .api
                .remove_person(req)
                .await
                .map_err(refused)?
                .into_inner();
            emit(ctx.json, &s, print_space)
        }
        SpaceCmd::Show { name } => {
            let s = ctx
                .api
                .get_space(pb::GetSpaceRequest { space: name })
                .await
                .map_err(refused)?
                .into_inner();
            emit(ctx.json, &s, print_space)
        }
    }
}
