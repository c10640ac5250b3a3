//! `kp comment`: comments anchored to passages of a draft, and their threads.

use clap::Subcommand;
use kp_proto::local as pb;

use crate::client::{Ctx, refused};
use crate::output::emit;
use crate::render::{one_line, short, time};

#[derive(Debug, Subcommand)]
pub(super) enum CommentCmd {
    /// Comment on a passage, given by quoting it exactly (prints the comment's id).
    Add {
        /// The draft's id.
        id: String,
        /// The passage, exactly as in the text; it must occur once.
        #[arg(long)]
        quote: String,
        /// The comment.
        #[arg(long)]
        body: String,
    },
    /// List a draft's comment threads and where their passages stand.
    List {
        /// The draft's id.
        id: String,
    },
    /// Reply in a thread.
    Reply {
        /// The draft's id.
        id: String,
        /// The comment's id (from `kp comment list`).
        comment: String,
        /// The reply.
        #[arg(long)]
        body: String,
    },
    /// Mark a thread resolved.
    Resolve {
        /// The draft's id.
        id: String,
        /// The comment's id.
        comment: String,
    },
}

/// `kp comment …`.
pub(super) async fn handle(ctx: &mut Ctx, cmd: CommentCmd) -> anyhow::Result<()> {
    let c = match cmd {
        CommentCmd::Add { id, quote, body } => {
            let req = pb::AddCommentRequest {
                id,
                quote,
                body,
                author: ctx.author.clone(),
                near: None,
            };
            let c = ctx
                .api
                .add_comment(req)
                .await
                .map_err(refused)?
                .into_inner();
            return emit(ctx.json, &c, |c| {
                // The new comment's id alone, for scripts (`C=$(kp comment add …)`).
                outln!("{}", c.id);
                eprintln!("commented on \"{}\"", one_line(&c.quote, 70));
                Ok(())
            });
        }
        CommentCmd::Reply { id, comment, body } => {
            let req = pb::ReplyCommentRequest {
                id,
                comment,
                body,
                author: ctx.author.clone(),
            };
            ctx.api
                .reply_comment(req)
                .await
                .map_err(refused)?
                .into_inner()
        }
        CommentCmd::Resolve { id, comment } => {
            let req = pb::ResolveCommentRequest {
                id,
                comment,
                author: ctx.author.clone(),
            };
            ctx.api
                .resolve_comment(req)
                .await
                .map_err(refused)?
                .into_inner()
        }
        CommentCmd::List { id } => {
            let list = ctx
                .api
                .list_comments(pb::ListCommentsRequest { id })
                .await
                .map_err(refused)?
                .into_inner();
            return emit(ctx.json, &list, |list| {
                if list.comments.is_empty() {
                    outln!("no comments");
                }
                for c in &list.comments {
                    print_comment(c)?;
                }
                Ok(())
            });
        }
    };
    emit(ctx.json, &c, print_comment)
}

/// A comment, where its passage stands, and its replies.
fn print_comment(c: &pb::Comment) -> anyhow::Result<()> {
    let state = if c.resolved { "resolved" } else { "open" };
    outln!(
        "{}  {} · {} · {} · passage {}",
        c.id,
        author_or_node(&c.author, &c.node_id),
        time(c.created_at),
        state,
        c.anchor
    );
    match c.anchor.as_str() {
        "intact" => outln!("  on: \"{}\"", one_line(&c.quote, 70)),
        "changed" => {
            outln!("  on: \"{}\"", one_line(&c.quote, 70));
            outln!("  now: \"{}\"", one_line(&c.passage, 70));
        }
        _ => outln!("  on (deleted): \"{}\"", one_line(&c.quote, 70)),
    }
    for line in c.body.lines() {
        outln!("  {line}");
    }
    for r in &c.replies {
        outln!(
            "  ↳ {} · {}: {}",
            author_or_node(&r.author, &r.node_id),
            time(r.created_at),
            one_line(&r.body, 200)
        );
    }
    outln!();
    Ok(())
}

fn author_or_node(author: &str, node_id: &str) -> String {
    if author.is_empty() {
        format!("node {}", short(node_id, 10))
    } else {
        author.to_owned()
    }
}
