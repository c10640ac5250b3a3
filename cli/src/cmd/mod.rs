//! The command line's grammar (clap), with the help text users read, and the
//! dispatch to each command group. A group's module holds its arguments and
//! what its commands do; the groups share only the modules beside `cmd`
//! (`client`, `input`, `output`, `render`).

mod backup;
mod comment;
mod dataset;
mod doc;
mod draft;
mod event;
mod peer;
mod plugin;
mod portal;
mod report;
mod review;
mod space;
mod starter;
mod status;
mod user;
mod verify;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::client::{self, Ctx};

/// kp: co-edit, comment and keep data with the partners of the Knowledge
/// Partnership, through your institution's node (kpd).
#[derive(Debug, Parser)]
#[command(name = "kp", version, about, long_about = None, after_help = "\
Examples:
  kp space create \"Remittances WG\" --theme 7
  kp draft new --space \"Remittances WG\" --title \"Sending money\" --file draft.md
  kp draft edit DRAFT_ID                 (opens $VISUAL or $EDITOR)
  kp comment add DRAFT_ID --quote \"fell to 6%\" --body \"Which source?\"
  kp dataset import top-recipients-2011.csv --space \"Remittances WG\" \\
     --title \"Top recipients 2011\"
  kp plugin install target/wasm32-wasip2/plugin/remittance_indicators.wasm
  kp analyze DATASET_ID --plugin remittance-indicators --param top=5")]
pub(crate) struct Cli {
    /// The node's data directory, where its socket is [default: $KP_DATA_DIR, else ./kp-data].
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Print machine-readable JSON (with all ids) instead of tables.
    #[arg(long, global = true)]
    json: bool,
    /// Your name, recorded with your changes [default: $KP_AUTHOR, else the node's `author` setting].
    #[arg(long, global = true, env = "KP_AUTHOR", value_name = "NAME")]
    author: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show the node's id, name and what it holds.
    Status,
    /// Spaces: one per working group or committee.
    #[command(subcommand)]
    Space(space::SpaceCmd),
    /// Drafts: papers co-written in a space.
    #[command(subcommand)]
    Draft(draft::DraftCmd),
    /// Comments anchored to passages of a draft.
    #[command(subcommand)]
    Comment(comment::CommentCmd),
    /// Peer review: submit, assign referees, report, decide.
    #[command(subcommand)]
    Review(review::ReviewCmd),
    /// Publish an accepted draft (the chair only): freezes its text as
    /// version `published-N`.
    Publish(review::PublishArgs),
    /// Reports for the partnership's donors.
    #[command(subcommand)]
    Report(report::ReportCmd),
    /// Data tables kept in a space.
    #[command(subcommand)]
    Dataset(dataset::DatasetCmd),
    /// Events (workshops, conferences, consultations, debates) where the
    /// space's work is discussed.
    #[command(subcommand)]
    Event(event::EventCmd),
    /// The public portal: published work and open data, written out as files.
    #[command(subcommand)]
    Portal(portal::PortalCmd),
    /// Partner nodes: who may connect, and whom this node dials.
    #[command(subcommand)]
    Peer(peer::PeerCmd),
    /// Analysis plugins: sandboxed wasm components that analyse a draft or dataset.
    #[command(subcommand)]
    Plugin(plugin::PluginCmd),
    /// Run a plugin on a draft or dataset; the report is kept as an analysis in
    /// the document's space and printed.
    #[command(after_help = "\
Examples:
  kp analyze DATASET_ID --plugin remittance-indicators
  kp analyze DRAFT_ID --plugin brief-readability --param max-words=4000 --json

The same plugin, document heads and parameters give the same report, byte for byte.")]
    Analyze(plugin::AnalyzeArgs),
    /// Analyses kept for a document.
    #[command(subcommand)]
    Analysis(plugin::AnalysisCmd),
    /// Any document (space, draft, dataset, report, analysis): who wrote what.
    #[command(subcommand)]
    Doc(doc::DocCmd),
    /// Write a consistent copy of the running node to a file: every document,
    /// the partners, accounts and installed plugins, and with --with-key the
    /// node's key (`kpd restore FILE` rebuilds the node from it).
    #[command(after_help = "\
Examples:
  kp backup node.kpbackup
  kp backup node-with-key.kpbackup --with-key   (kpd restore rebuilds this very node)")]
    Backup(backup::BackupArgs),
    /// Read every document as the store holds it: each log's checksums, each
    /// snapshot and change, a verified signature for every change. Says what
    /// is damaged and which partners hold it too; exits 1 if anything is.
    #[command(after_help = "\
Examples:
  kp verify
  kp verify --json")]
    Verify,
    /// Researchers' accounts: who may log in to this node's web listener.
    #[command(subcommand)]
    User(user::UserCmd),
}

/// Runs the parsed command line.
pub(crate) async fn run(cli: Cli) -> anyhow::Result<()> {
    let dir = kp_proto::resolve_data_dir(cli.data_dir);
    let command = match cli.command {
        Command::Plugin(plugin::PluginCmd::Run(a)) => {
            // The sandbox's WASI blocks on its own; keep it off the async thread.
            let json = cli.json;
            return tokio::task::spawn_blocking(move || plugin::run_local(a, json)).await?;
        }
        // Writes files only: no node involved.
        Command::Plugin(plugin::PluginCmd::New { name, dir }) => {
            return starter::new_plugin(&name, dir, cli.json);
        }
        command => command,
    };
    let mut ctx = Ctx {
        api: client::connect(&dir).await?,
        json: cli.json,
        author: cli.author.unwrap_or_default(),
    };
    let ctx = &mut ctx;
    match command {
        Command::Status => status::handle(ctx).await,
        Command::Space(c) => space::handle(ctx, c).await,
        Command::Draft(c) => draft::handle(ctx, c).await,
        Command::Comment(c) => comment::handle(ctx, c).await,
        Command::Review(c) => review::handle(ctx, c).await,
        Command::Publish(a) => review::publish(ctx, a).await,
        Command::Report(c) => report::handle(ctx, c).await,
        Command::Dataset(c) => dataset::handle(ctx, c).await,
        Command::Event(c) => event::handle(ctx, c).await,
        Command::Portal(c) => portal::handle(ctx, c).await,
        Command::Peer(c) => peer::handle(ctx, c).await,
        Command::Plugin(c) => plugin::handle(ctx, c).await,
        Command::Analyze(a) => plugin::analyze(ctx, a).await,
        Command::Analysis(c) => plugin::analysis(ctx, c).await,
        Command::Doc(c) => doc::handle(ctx, c).await,
        Command::User(c) => user::handle(ctx, c).await,
        Command::Backup(a) => backup::backup(ctx, a).await,
        Command::Verify => verify::verify(ctx).await,
    }
}
