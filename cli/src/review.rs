//! `kp review`, `kp publish`, `kp draft export` and `kp report indicators`: the
//! peer-review workflow, publishing, and the partnership's indicators.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use kp_proto::local as pb;
use kp_proto::local::local_client::LocalClient;
use tonic::transport::Channel;

use crate::commands::{print_json, refused};
use crate::render::{one_line, table, time};

type Api = LocalClient<Channel>;

#[derive(Debug, Subcommand)]
#[command(after_help = "\
The workflow: draft → in-review → revision → in-review … → accepted → published
(or rejected, or withdrawn). The author submits; the chair (an admin of the
space who is not an author of the draft) assigns referees, decides and
publishes; each referee reports on the version that was submitted (round-1,
round-2, …), which is pinned. Accepting or rejecting needs at least one
referee's report of the round; no author referees their own draft. Every
node checks these rules on every step a partner sends. Steps taken apart on
two nodes (a withdrawal while the chair decides) are all kept: the one that
came first counts, and `kp review list` marks the other void, with why.

Across three nodes: Dilip, an author, works at node A; Bo, a referee, at node
B, whose id is NODE_ID; Carla, the chair, at node C. Each names themselves
with KP_AUTHOR or --author (which also tells apart people sharing one node).

Examples:
  kp --author Dilip review submit-draft DRAFT_ID
  kp --author Carla review assign DRAFT_ID --referee Bo@NODE_ID \\
       --due 2026-12-15
  kp --author Bo review report DRAFT_ID --recommendation minor \\
       --file report.md \\
       --comment 'fell to 6%::Which source?'
  kp --author Carla review decide DRAFT_ID revise --note \"Answer the referee.\"
  kp --author Dilip draft edit DRAFT_ID               (the revision)
  kp --author Dilip review submit-draft DRAFT_ID      (the next round)
  kp --author Carla review assign DRAFT_ID --referee Bo@NODE_ID
  kp --author Bo review report DRAFT_ID --recommendation accept \\
       --file report.md
  kp --author Carla review decide DRAFT_ID accept
  kp --author Carla publish DRAFT_ID")]
pub(crate) enum ReviewCmd {
    /// Submit a draft (or its revision) to review: pins its text as version
    /// `round-N` and sets it in review. Credited authors only.
    SubmitDraft {
        /// The draft's id.
        id: String,
    },
    /// Assign a referee to the current round (the chair only).
    Assign {
        /// The draft's id.
        id: String,
        /// The referee as NAME@NODE_ID: the person, and the node they work on
        /// (a member of the draft's space; `kp space show` lists them).
        #[arg(long, value_name = "NAME@NODE_ID")]
        referee: String,
        /// When the report is due (YYYY-MM-DD).
        #[arg(long, value_name = "DATE")]
        due: Option<String>,
    },
    /// What awaits you: reports to write, drafts to assign or decide, revisions.
    Inbox,
    /// Send your referee report on the current round (reporting again updates it).
    Report {
        /// The draft's id.
        id: String,
        /// accept, minor (revisions), major (revisions) or reject.
        #[arg(long)]
        recommendation: String,
        /// The report (Markdown); `-` reads standard input.
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
        /// A comment on a passage of the draft, as 'QUOTE::COMMENT' (the quote
        /// must occur exactly once). Repeat for more.
        #[arg(long = "comment", value_name = "QUOTE::COMMENT")]
        comments: Vec<String>,
    },
    /// Show a draft's rounds, referees, reports and decisions.
    List {
        /// The draft's id.
        id: String,
    },
    /// Decide on the current round (the chair only): accept, revise or reject.
    Decide {
        /// The draft's id.
        id: String,
        /// accept, revise or reject.
        decision: String,
        /// A note to the authors.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Withdraw a draft (a credited author, or the chair).
    Withdraw {
        /// The draft's id.
        id: String,
    },
}

/// `kp publish`.
#[derive(Debug, Args)]
pub(crate) struct PublishArgs {
    /// The draft's id (an accepted draft).
    pub(crate) id: String,
}

/// The export formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum ExportFormat {
    /// Markdown with a title block.
    Md,
    /// A standalone HTML page (styles inline, nothing fetched).
    Html,
}

/// `kp draft export`.
#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// The draft's id.
    pub(crate) id: String,
    /// md or html.
    #[arg(long, value_enum, default_value = "md")]
    pub(crate) format: ExportFormat,
    /// A version label (default: the latest publication of a published draft,
    /// else the current text).
    #[arg(long, value_name = "LABEL")]
    pub(crate) version: Option<String>,
    /// Append the comment threads.
    #[arg(long)]
    pub(crate) with_comments: bool,
    /// Write to this file instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
}

/// `kp report`.
#[derive(Debug, Subcommand)]
pub(crate) enum ReportCmd {
    /// The indicators of the partnership's results matrix, from the documents
    /// this node holds.
    ///
    /// drafts by status (output indicator: products in the pipeline, per space);
    /// papers published (output: knowledge products published); reviews
    /// completed and median days from assignment to report (process: quality
    /// assurance); joint products, drafts whose authors come from two or more
    /// institutions (outcome: partnership); North-South collaborations, drafts
    /// with authors from a high-income and a low- or middle-income country
    /// (outcome: inclusion; income groups come from the space's member list).
    /// Publications and reviews count when they fall in the period; drafts are
    /// counted as they stand now.
    Indicators {
        /// Only this space (name or id).
        #[arg(long)]
        space: Option<String>,
        /// From this day (YYYY-MM-DD, inclusive).
        #[arg(long, value_name = "DATE")]
        from: Option<String>,
        /// To this day (YYYY-MM-DD, inclusive).
        #[arg(long, value_name = "DATE")]
        to: Option<String>,
        /// table, json or csv (--json is the same as --format json).
        #[arg(long, value_enum, default_value = "table")]
        format: IndicatorFormat,
    },
}

/// How indicators are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum IndicatorFormat {
    /// Aligned tables.
    Table,
    /// One JSON object.
    Json,
    /// indicator,space,status,value rows.
    Csv,
}

async fn act(
    api: &mut Api,
    author: &str,
    id: String,
    action: pb::review_request::Action,
) -> anyhow::Result<pb::ReviewState> {
    Ok(api
        .review(pb::ReviewRequest {
            id,
            author: author.to_owned(),
            action: Some(action),
        })
        .await
        .map_err(refused)?
        .into_inner())
}

/// `kp review …`.
pub(crate) async fn review(
    api: &mut Api,
    json: bool,
    author: &str,
    cmd: ReviewCmd,
) -> anyhow::Result<()> {
    use pb::review_request::Action;
    let (state, done) = match cmd {
        ReviewCmd::SubmitDraft { id } => {
            let s = act(api, author, id, Action::Submit(pb::SubmitDraft {})).await?;
            let msg = format!(
                "submitted: round {} is version round-{}; status {}",
                s.round, s.round, s.status
            );
            (s, msg)
        }
        ReviewCmd::Assign { id, referee, due } => {
            let req = pb::AssignReferee {
                referee: referee.clone(),
                due: due.unwrap_or_default(),
            };
            let s = act(api, author, id, Action::Assign(req)).await?;
            let msg = format!("assigned {referee} to round {}", s.round);
            (s, msg)
        }
        ReviewCmd::Report {
            id,
            recommendation,
            file,
            comments,
        } => {
            let limits = crate::client::limits(api).await?;
            let bound = crate::commands::Bound::text(&limits, "a report's text");
            let text = crate::commands::read_text(&file, &bound)?;
            let comments = comments
                .iter()
                .map(|c| {
                    let (quote, body) = c.split_once("::").with_context(|| {
                        format!("--comment `{c}`: write it as 'QUOTE::COMMENT'")
                    })?;
                    Ok(pb::ReportComment {
                        quote: quote.to_owned(),
                        body: body.trim().to_owned(),
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let n = comments.len();
            let req = pb::SubmitReport {
                recommendation,
                text,
                comments,
            };
            let whole = pb::ReviewRequest {
                id: id.clone(),
                author: author.to_owned(),
                action: Some(Action::Report(req.clone())),
            };
            crate::client::check_request(&whole, &limits)?;
            let s = act(api, author, id, Action::Report(req)).await?;
            let msg = format!(
                "report on round {} sent ({n} comment{} on the draft)",
                s.round,
                if n == 1 { "" } else { "s" }
            );
            (s, msg)
        }
        ReviewCmd::Decide { id, decision, note } => {
            let req = pb::Decide { decision, note };
            let s = act(api, author, id, Action::Decide(req)).await?;
            let msg = format!("decided; the draft is now {}", s.status);
            (s, msg)
        }
        ReviewCmd::Withdraw { id } => {
            let s = act(api, author, id, Action::Withdraw(pb::Withdraw {})).await?;
            (s, "withdrawn".to_owned())
        }
        ReviewCmd::List { id } => {
            let s = api
                .get_review(pb::GetReviewRequest { id })
                .await
                .map_err(refused)?
                .into_inner();
            if json {
                return print_json(&s);
            }
            print_state(&s);
            return Ok(());
        }
        ReviewCmd::Inbox => {
            let inbox = api
                .review_inbox(pb::ReviewInboxRequest {
                    author: author.to_owned(),
                })
                .await
                .map_err(refused)?
                .into_inner();
            if json {
                return print_json(&inbox);
            }
            if inbox.items.is_empty() {
                outln!("nothing awaits {}", inbox.author);
                return Ok(());
            }
            let rows: Vec<Vec<String>> = inbox
                .items
                .iter()
                .map(|i| {
                    vec![
                        format!("{}{}", i.task, if i.overdue { " (OVERDUE)" } else { "" }),
                        one_line(&i.title, 40),
                        i.space_name.clone(),
                        i.round.to_string(),
                        if i.due.is_empty() {
                            "-".into()
                        } else {
                            i.due.clone()
                        },
                        i.draft_id.clone(),
                    ]
                })
                .collect();
            table(&["TASK", "TITLE", "SPACE", "ROUND", "DUE", "DRAFT"], &rows);
            return Ok(());
        }
    };
    if json {
        return print_json(&state);
    }
    outln!("{done}");
    Ok(())
}

fn print_state(s: &pb::ReviewState) {
    outln!("{}", s.title);
    outln!("status {}, round {}", s.status, s.round);
    for sub in &s.submissions {
        outln!(
            "round {}: version {} submitted by {} on {}{}",
            sub.round,
            sub.version,
            sub.by,
            time(sub.at),
            void_note(&sub.void)
        );
    }
    if !s.assignments.is_empty() {
        outln!();
        let rows: Vec<Vec<String>> = s
            .assignments
            .iter()
            .map(|a| {
                let report = s.reports.iter().find(|r| r.id == a.report_id);
                vec![
                    a.round.to_string(),
                    a.referee.clone(),
                    a.institution.clone(),
                    if a.due.is_empty() {
                        "-".into()
                    } else {
                        a.due.clone()
                    },
                    match report {
                        None if !a.void.is_empty() => "void (see below)".into(),
                        Some(r) => format!(
                            "{}{}",
                            r.recommendation,
                            if r.late { " (after the decision)" } else { "" }
                        ),
                        None if a.overdue => "OVERDUE".into(),
                        None => "awaited".into(),
                    },
                ]
            })
            .collect();
        table(&["ROUND", "REFEREE", "INSTITUTION", "DUE", "REPORT"], &rows);
        for a in s.assignments.iter().filter(|a| !a.void.is_empty()) {
            outln!(
                "assignment of {} in round {}{}",
                a.referee,
                a.round,
                void_note(&a.void)
            );
        }
    }
    for r in &s.reports {
        outln!(
            "\n— report by {} ({}) on {}: {}\n{}",
            r.referee,
            r.institution,
            r.version,
            r.recommendation,
            r.text.trim_end()
        );
    }
    for d in &s.decisions {
        outln!(
            "\ndecision on round {}: {} by {} on {}{}{}",
            d.round,
            d.decision,
            d.by,
            time(d.at),
            if d.note.is_empty() {
                String::new()
            } else {
                format!(": {}", d.note)
            },
            void_note(&d.void)
        );
    }
    for p in &s.publications {
        let name = if p.version.is_empty() {
            "a publication".to_owned()
        } else {
            format!("published as {}", p.version)
        };
        outln!("{name} by {} on {}{}", p.by, time(p.at), void_note(&p.void));
    }
    for w in &s.withdrawals {
        outln!(
            "withdrawn by {} on {}{}",
            w.by,
            time(w.at),
            void_note(&w.void)
        );
    }
}

/// ` (void: …)` for a step that had no effect, else nothing.
fn void_note(void: &str) -> String {
    if void.is_empty() {
        String::new()
    } else {
        format!("\n  ({void})")
    }
}

/// `kp publish`.
pub(crate) async fn publish(
    api: &mut Api,
    json: bool,
    author: &str,
    a: PublishArgs,
) -> anyhow::Result<()> {
    let s = act(
        api,
        author,
        a.id,
        pb::review_request::Action::Publish(pb::Publish {}),
    )
    .await?;
    if json {
        return print_json(&s);
    }
    let v = s
        .publications
        .iter()
        .rfind(|p| p.void.is_empty())
        .map(|p| p.version.as_str())
        .unwrap_or("");
    outln!(
        "published as version {v}; export it with `kp draft export {} --format html`",
        s.id
    );
    Ok(())
}

/// `kp draft export`.
pub(crate) async fn export(api: &mut Api, json: bool, a: ExportArgs) -> anyhow::Result<()> {
    let reply = api
        .export_draft(pb::ExportDraftRequest {
            id: a.id,
            format: match a.format {
                ExportFormat::Md => "md".into(),
                ExportFormat::Html => "html".into(),
            },
            version: a.version.unwrap_or_default(),
            with_comments: a.with_comments,
        })
        .await
        .map_err(refused)?
        .into_inner();
    match a.output {
        Some(path) => {
            std::fs::write(&path, &reply.content)
                .with_context(|| format!("cannot write {}", path.display()))?;
            if json {
                return print_json(&serde_json::json!({
                    "file": path.display().to_string(),
                    "version": reply.version,
                }));
            }
            eprintln!("wrote {} (version {})", path.display(), reply.version);
        }
        None if json => return print_json(&reply),
        None => out!("{}", reply.content),
    }
    Ok(())
}

/// `kp report …`.
pub(crate) async fn report(api: &mut Api, json: bool, cmd: ReportCmd) -> anyhow::Result<()> {
    let ReportCmd::Indicators {
        space,
        from,
        to,
        format,
    } = cmd;
    let r = api
        .indicators(pb::IndicatorsRequest {
            space: space.unwrap_or_default(),
            from: from.unwrap_or_default(),
            to: to.unwrap_or_default(),
        })
        .await
        .map_err(refused)?
        .into_inner();
    let median = if r.median_review_days < 0.0 {
        String::new()
    } else {
        format!("{:.1}", r.median_review_days)
    };
    let totals = [
        ("papers_published", r.papers_published.to_string()),
        ("reviews_completed", r.reviews_completed.to_string()),
        ("median_days_assignment_to_report", median.clone()),
        ("joint_products", r.joint_products.to_string()),
        (
            "north_south_collaborations",
            r.north_south_collaborations.to_string(),
        ),
    ];
    match if json { IndicatorFormat::Json } else { format } {
        IndicatorFormat::Json => print_json(&r),
        IndicatorFormat::Csv => {
            outln!("indicator,space,status,value");
            for c in &r.drafts_by_status {
                outln!(
                    "drafts_by_status,{},{},{}",
                    csv_cell(&c.space_name),
                    c.status,
                    c.drafts
                );
            }
            for (name, value) in totals {
                outln!("{name},,,{value}");
            }
            Ok(())
        }
        IndicatorFormat::Table => {
            let period = match (r.from.as_str(), r.to.as_str()) {
                ("", "") => "all time".to_owned(),
                (f, t) => format!(
                    "{} to {}",
                    if f.is_empty() { "the start" } else { f },
                    if t.is_empty() { "now" } else { t }
                ),
            };
            outln!("indicators for {period} ({} drafts)\n", r.drafts_counted);
            let rows: Vec<Vec<String>> = r
                .drafts_by_status
                .iter()
                .map(|c| vec![c.space_name.clone(), c.status.clone(), c.drafts.to_string()])
                .collect();
            table(&["SPACE", "STATUS", "DRAFTS"], &rows);
            outln!();
            let rows: Vec<Vec<String>> = totals
                .iter()
                .map(|(n, v)| {
                    vec![
                        n.replace('_', " "),
                        if v.is_empty() { "-".into() } else { v.clone() },
                    ]
                })
                .collect();
            table(&["INDICATOR", "VALUE"], &rows);
            Ok(())
        }
    }
}

/// A CSV cell, quoted when it must be.
fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}
