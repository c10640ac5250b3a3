//! `kp doc`: any document, and who wrote what.

use clap::Subcommand;
use kp_proto::local as pb;

use crate::client::{Ctx, refused};
use crate::output::emit;
use crate::render::change_log;

#[derive(Debug, Subcommand)]
pub(super) enum DocCmd {
    /// Every change of a document, newest first: node, institution, person, and
    /// whether its signature verified.
    ///
    /// Each node signs the changes it writes with its node key, and every node
    /// checks the signature of every change it takes in, whoever relayed it: a
    /// change is "verified" when a signature by the key of the node its actor
    /// id names covers it, checked again now. A change that cannot be proven
    /// is never taken in, so "unverified" means a document written before
    /// changes were signed.
    #[command(after_help = "\
Examples:
  kp doc blame DRAFT_ID
  kp doc blame SPACE_ID --limit 0 --json")]
    Blame {
        /// The document's id.
        id: String,
        /// Show at most this many (0: all).
        #[arg(long, default_value_t = 50)]
        limit: u64,
    },
}

/// `kp doc …`.
pub(super) async fn handle(ctx: &mut Ctx, cmd: DocCmd) -> anyhow::Result<()> {
    let DocCmd::Blame { id, limit } = cmd;
    let log = ctx
        .api
        .blame(pb::BlameRequest { id, limit })
        .await
        .map_err(refused)?
        .into_inner();
    emit(ctx.json, &log, |log| change_log(log, true))
}
