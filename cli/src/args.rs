//! The command line's grammar (clap), with the help text users read.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// kp: co-edit, comment and keep data with the partners of the Knowledge
/// Partnership, through your institution's node (kpd).
#[derive(Debug, Parser)]
#[command(name = "kp", version, about, long_about = None, after_help = "\
Examples:
  kp space create \"Remittances WG\" --theme 7
  kp draft new --space \"Remittances WG\" --title \"Sending money\" --file draft.md
  kp draft edit DRAFT_ID                 (opens $EDITOR)
  kp comment add DRAFT_ID --quote \"fell to 6%\" --body \"Which source?\"
  kp dataset import top-recipients-2011.csv --space \"Remittances WG\" \\
     --title \"Top recipients 2011\"
  kp plugin install target/wasm32-wasip2/plugin/remittance_indicators.wasm
  kp analyze DATASET_ID --plugin remittance-indicators --param top=5")]
pub(crate) struct Cli {
    /// The node's data directory, where its socket is [default: $KP_DATA_DIR, else ./kp-data].
    #[arg(long, global = true, value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// Print machine-readable JSON (with all ids) instead of tables.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// Your name, recorded with your changes [default: $KP_AUTHOR, else the node's `author` setting].
    #[arg(long, global = true, env = "KP_AUTHOR", value_name = "NAME")]
    pub(crate) author: Option<String>,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Show the node's id, name and what it holds.
    Status,
    /// Spaces: one per working group or committee.
    #[command(subcommand)]
    Space(SpaceCmd),
    /// Drafts: papers co-written in a space.
    #[command(subcommand)]
    Draft(DraftCmd),
    /// Comments anchored to passages of a draft.
    #[command(subcommand)]
    Comment(CommentCmd),
    /// Peer review: submit, assign referees, report, decide.
    #[command(subcommand)]
    Review(crate::review::ReviewCmd),
    /// Publish an accepted draft (the chair only): freezes its text as
    /// version `published-N`.
    Publish(crate::review::PublishArgs),
    /// Reports for the partnership's donors.
    #[command(subcommand)]
    Report(crate::review::ReportCmd),
    /// Data tables kept in a space.
    #[command(subcommand)]
    Dataset(DatasetCmd),
    /// Partner nodes: who may connect, and whom this node dials.
    #[command(subcommand)]
    Peer(PeerCmd),
    /// Analysis plugins: sandboxed wasm components that analyse a draft or dataset.
    #[command(subcommand)]
    Plugin(crate::plugin::PluginCmd),
    /// Run a plugin on a draft or dataset; the report is kept as an analysis in
    /// the document's space and printed.
    #[command(after_help = "\
Examples:
  kp analyze DATASET_ID --plugin remittance-indicators
  kp analyze DRAFT_ID --plugin brief-readability --param max-words=4000 --json

The same plugin, document heads and parameters give the same report, byte for byte.")]
    Analyze(crate::plugin::AnalyzeArgs),
    /// Analyses kept for a document.
    #[command(subcommand)]
    Analysis(crate::plugin::AnalysisCmd),
    /// Any document (space, draft, dataset, report, analysis): who wrote what.
    #[command(subcommand)]
    Doc(DocCmd),
}

#[derive(Debug, Subcommand)]
pub(crate) enum DocCmd {
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

#[derive(Debug, Subcommand)]
pub(crate) enum PeerCmd {
    /// Pin a partner node by its id (from its `kp status`) and dial it at ADDRESS.
    ///
    /// Only pinned nodes may connect, and a node answering at ADDRESS with
    /// another key is refused. Without ADDRESS the partner may connect to this
    /// node but is not dialled. Adding a known peer changes its address.
    Add {
        /// The partner's node id.
        id: String,
        /// host:port where the partner accepts connections.
        address: Option<String>,
    },
    /// List partner nodes: connected or not, last seen, traffic, how many shared
    /// documents each has yet to catch up on (BEHIND), last error.
    List,
    /// Unpin a partner added with `kp peer add`, and disconnect it.
    Remove {
        /// The partner's node id.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum SpaceCmd {
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
}

#[derive(Debug, Subcommand)]
pub(crate) enum DraftCmd {
    /// Start a draft in a space (prints its id).
    New {
        /// The space (name or id).
        #[arg(long)]
        space: String,
        /// The title.
        #[arg(long)]
        title: String,
        /// working-paper, commissioned-paper, policy-brief or synthesis.
        #[arg(long = "type", default_value = "working-paper", value_name = "TYPE")]
        draft_type: String,
        /// Initial text (Markdown); `-` reads standard input.
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// List drafts, most recently changed first.
    List {
        /// Only this space (name or id).
        #[arg(long)]
        space: Option<String>,
        /// Only drafts in this status (draft, in-review, revision, accepted, published, rejected, withdrawn).
        #[arg(long)]
        status: Option<String>,
    },
    /// Print a draft's text and details, or write its text to revise elsewhere.
    ///
    /// With -o FILE (or --body, to standard output) kp writes the text alone,
    /// ending with a line that records which version it is
    /// (`<!-- kp:draft DRAFT_ID base=… -->`, invisible in Markdown). Revise the
    /// file in any editor, offline if need be, and send it back with
    /// `kp draft edit DRAFT_ID --file FILE`: only your changes are applied, against
    /// that version, so what colleagues wrote meanwhile stays.
    #[command(after_help = "\
Examples:
  kp draft show DRAFT_ID
  kp draft show DRAFT_ID --version round-1
  kp draft show DRAFT_ID -o mine.md             (to revise, then send back)")]
    Show {
        /// The draft's id.
        id: String,
        /// Show a named version instead of the current text.
        #[arg(long, value_name = "LABEL")]
        version: Option<String>,
        /// Write the text, with the line recording its version, to this file.
        #[arg(short = 'o', long, value_name = "FILE", conflicts_with = "body")]
        output: Option<PathBuf>,
        /// Print the text alone, with the line recording its version.
        #[arg(long)]
        body: bool,
    },
    /// Replace a draft's text; only what you changed is recorded.
    ///
    /// Without --file, opens $VISUAL or $EDITOR on the current text. Your edit is
    /// turned into minimal changes against the text you opened, so people editing
    /// other passages at the same time keep their words.
    ///
    /// With --file, kp must know which version of the draft the file was made
    /// from, or it could not tell your changes from the words colleagues wrote
    /// since (and would undo theirs). A file written by `kp draft show DRAFT_ID
    /// -o FILE` records it in its last line; otherwise say it with --base. A
    /// file that does neither is refused.
    #[command(after_help = "\
Examples:
  kp draft edit DRAFT_ID                        (opens $EDITOR)
  kp draft edit DRAFT_ID --file mine.md         (written by kp draft show -o)
  kp draft edit DRAFT_ID --file revised.md --base round-1")]
    Edit {
        /// The draft's id.
        id: String,
        /// Take the new text from this file (`-`: standard input).
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
        /// The version the file was made from: a version label (round-1), the
        /// heads `kp draft show` prints (or their first 8 characters), or
        /// `current` if it was made from the text as it is now.
        #[arg(long, value_name = "VERSION", requires = "file")]
        base: Option<String>,
    },
    /// List the changes made to a draft, newest first: when, which node, who.
    Log {
        /// The draft's id.
        id: String,
        /// Show at most this many (0: all).
        #[arg(long, default_value_t = 50)]
        limit: u64,
        /// Also check each change's signature and show the node's institution
        /// (as `kp doc blame`).
        #[arg(long)]
        verify: bool,
    },
    /// Word-level difference between two versions (labels, or `current`).
    Diff {
        /// The draft's id.
        id: String,
        /// The older version.
        from: String,
        /// The newer version.
        #[arg(default_value = "current")]
        to: String,
    },
    /// Name the current text as a version (e.g. `sent-to-chair`; `round-N`
    /// and `published-N` are the review's own).
    Version {
        /// The draft's id.
        id: String,
        /// The label: one word.
        label: String,
    },
    /// Write a draft as Markdown or as a standalone HTML page.
    #[command(after_help = "\
Examples:
  kp draft export DRAFT_ID --format html -o brief.html   (the publication)
  kp draft export DRAFT_ID --version round-1 --with-comments")]
    Export(crate::review::ExportArgs),
}

#[derive(Debug, Subcommand)]
pub(crate) enum CommentCmd {
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

#[derive(Debug, Subcommand)]
pub(crate) enum DatasetCmd {
    /// Import a CSV file (header row first) as a typed table (prints its id).
    Import(ImportArgs),
    /// Show a dataset's columns and rows.
    Show {
        /// The dataset's id.
        id: String,
        /// Show at most this many rows (0: all).
        #[arg(long, default_value_t = 20)]
        limit: u64,
    },
}

#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// The CSV file.
    pub(crate) file: PathBuf,
    /// The space (name or id).
    #[arg(long)]
    pub(crate) space: String,
    /// The title.
    #[arg(long)]
    pub(crate) title: String,
    /// Where the figures come from.
    #[arg(long, default_value = "")]
    pub(crate) source: String,
    /// Their licence.
    #[arg(long, default_value = "")]
    pub(crate) licence: String,
}
