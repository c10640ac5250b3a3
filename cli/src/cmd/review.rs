//! `kp review` and `kp publish`: the peer-review workflow, and publishing an
//! accepted draft.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use kp_proto::local as pb;

use crate::client::{self, Ctx, refused};
use crate::input::{Bound, read_text};
use crate::output::emit;
use crate::render::{one_line, table, time};

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
pub(super) enum ReviewCmd {
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
pub(super) struct PublishArgs {
    /// The draft's id (an accepted draft).
    id: String,
}

/// Takes one step of the review, as the command's author.
async fn act(
    ctx: &mut Ctx,
    id: String,
    action: pb::review_request::Action,
) -> anyhow::Result<pb::ReviewState> {
    Ok(ctx
        .api
        .review(pb::ReviewRequest {
            id,
            author: ctx.author.clone(),
            action: Some(action),
        })
        .await
        .map_err(refused)?
        .into_inner())
}

/// `kp review …`.
pub(super) async fn handle(ctx: &mut Ctx, cmd: ReviewCmd) -> anyhow::Result<()> {
    use pb::review_request::Action;
    let (state, done) = match cmd {
        ReviewCmd::SubmitDraft { id } => {
            let s = act(ctx, id, Action::Submit(pb::SubmitDraft {})).await?;
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
            let s = act(ctx, id, Action::Assign(req)).await?;
            let msg = format!("assigned {referee} to round {}", s.round);
            (s, msg)
        }
        ReviewCmd::Report {
            id,
            recommendation,
            file,
            comments,
        } => {
            let limits = client::limits(&mut ctx.api).await?;
            let bound = Bound::text(&limits, "a report's text");
            let text = read_text(&file, &bound)?;
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
                author: ctx.author.clone(),
                action: Some(Action::Report(req.clone())),
            };
            client::check_request(&whole, &limits)?;
            let s = act(ctx, id, Action::Report(req)).await?;
            let msg = format!(
                "report on round {} sent ({n} comment{} on the draft)",
                s.round,
                if n == 1 { "" } else { "s" }
            );
            (s, msg)
        }
        ReviewCmd::Decide { id, decision, note } => {
            let req = pb::Decide { decision, note };
            let s = act(ctx, id, Action::Decide(req)).await?;
            let msg = format!("decided; the draft is now {}", s.status);
            (s, msg)
        }
        ReviewCmd::Withdraw { id } => {
            let s = act(ctx, id, Action::Withdraw(pb::Withdraw {})).await?;
            (s, "withdrawn".to_owned())
        }
        ReviewCmd::List { id } => {
            let s = ctx
                .api
                .get_review(pb::GetReviewRequest { id })
                .await
                .map_err(refused)?
                .into_inner();
            return emit(ctx.json, &s, print_state);
        }
        ReviewCmd::Inbox => {
            let inbox = ctx
                .api
                .review_inbox(pb::ReviewInboxRequest {
                    author: ctx.author.clone(),
                })
                .await
                .map_err(refused)?
                .into_inner();
            return emit(ctx.json, &inbox, print_inbox);
        }
    };
    emit(ctx.json, &state, |_| {
        outln!("{done}");
        Ok(())
    })
}

/// What awaits the author, as a table.
fn print_inbox(inbox: &pb::ReviewInbox) -> anyhow::Result<()> {
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
    Ok(())
}

/// A draft's rounds, referees, reports and decisions.
fn print_state(s: &pb::ReviewState) -> anyhow::Result<()> {
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
    Ok(())
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
pub(super) async fn publish(ctx: &mut Ctx, a: PublishArgs) -> anyhow::Result<()> {
    let s = act(
        ctx,
        a.id,
        pb::review_request::Action::Publish(pb::Publish {}),
    )
    .await?;
    emit(ctx.json, &s, |s| {
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
    })
}
