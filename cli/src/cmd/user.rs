//! `kp user`: researchers' accounts on this node, for its web listener.

use clap::Subcommand;
use kp_proto::local as pb;
use serde_json::json;

use crate::client::{Ctx, refused};
use crate::output::emit;
use crate::render::{table, time};

#[derive(Debug, Subcommand)]
pub(super) enum UserCmd {
    /// Make an account for a researcher and print their one-time login link.
    ///
    /// Send the link to the person (it works once, for 7 days). Opening it in
    /// a browser logs them in to this node's web listener; a program trades
    /// the token for a session with `POST /api/login {"token": "…"}`. They
    /// read every space this node holds; to write in one, an admin names
    /// them there: `kp space add-person SPACE NAME --role editor`.
    #[command(after_help = "\
Examples:
  kp user add \"Amina Diallo\"
  kp user add \"Bo Chen\" --json           (the token and link, for a script)")]
    Add {
        /// The person's name, as their changes will be credited.
        name: String,
    },
    /// List accounts: logged-in sessions, a login waiting to be used, last seen.
    List,
    /// A new one-time login link for an account (a lost link, a new browser).
    /// An unused earlier link stops working; sessions already open stay.
    Login {
        /// The account's name.
        name: String,
    },
    /// Remove an account: its sessions end at once, and its open connections
    /// are closed. What the person wrote stays in the documents.
    Remove {
        /// The account's name.
        name: String,
    },
}

/// `kp user …`.
pub(super) async fn handle(ctx: &mut Ctx, cmd: UserCmd) -> anyhow::Result<()> {
    match cmd {
        UserCmd::Add { name } => {
            let login = ctx
                .api
                .add_user(pb::AddUserRequest { name })
                .await
                .map_err(refused)?
                .into_inner();
            emit(ctx.json, &login, |l| print_login(l, "made an account for"))
        }
        UserCmd::Login { name } => {
            let login = ctx
                .api
                .new_login(pb::NewLoginRequest { name })
                .await
                .map_err(refused)?
                .into_inner();
            emit(ctx.json, &login, |l| print_login(l, "a new login for"))
        }
        UserCmd::List => {
            let list = ctx
                .api
                .list_users(pb::ListUsersRequest {})
                .await
                .map_err(refused)?
                .into_inner();
            emit(ctx.json, &list, print_users)
        }
        UserCmd::Remove { name } => {
            let r = ctx
                .api
                .remove_user(pb::RemoveUserRequest { name: name.clone() })
                .await
                .map_err(refused)?
                .into_inner();
            emit(
                ctx.json,
                &json!({"name": name, "removed": true, "sessions_ended": r.sessions_ended}),
                |_| {
                    outln!("removed {name}; {} session(s) ended", r.sessions_ended);
                    Ok(())
                },
            )
        }
    }
}

fn print_login(l: &pb::UserLogin, what: &str) -> anyhow::Result<()> {
    outln!("{what} {}", l.name);
    if l.link.is_empty() {
        outln!("login token (the web listener is not serving; `kp status` says why):");
        outln!("  {}", l.token);
    } else {
        outln!("one-time login link, valid until {}:", time(l.expires));
        outln!("  {}", l.link);
    }
    outln!(
        "to let them write in a space: kp space add-person SPACE {:?} --role editor",
        l.name
    );
    Ok(())
}

fn print_users(list: &pb::UserList) -> anyhow::Result<()> {
    if list.users.is_empty() {
        outln!("no accounts; make one with `kp user add NAME`");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = list
        .users
        .iter()
        .map(|u| {
            vec![
                u.name.clone(),
                time(u.created),
                u.sessions.to_string(),
                if u.login_expires == 0 {
                    "-".into()
                } else {
                    format!("until {}", time(u.login_expires))
                },
                time(u.last_seen),
            ]
        })
        .collect();
    table(
        &["NAME", "CREATED", "SESSIONS", "LOGIN WAITING", "LAST SEEN"],
        &rows,
    );
    Ok(())
}
