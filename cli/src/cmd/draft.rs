//! `kp draft`: drafts co-written in a space; their text, history, versions and
//! export, and revising a draft in an editor or from a file.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use kp_proto::local as pb;
use serde_json::json;

use crate::client::{self, Ctx, refused};
use crate::input::{Bound, read_text};
use crate::output::emit;
use crate::render::{change_log, number, one_line, plural, short, table, time};

#[derive(Debug, Subcommand)]
pub(super) enum DraftCmd {
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
    /// List drafts, most recently changed first, a page at a time.
    #[command(after_help = "\
Examples:
  kp draft list                          # the 100 most recently changed
  kp draft list --space \"Remittances WG\" --status in-review
  kp draft list --limit 50 --offset 50   # the second page of 50
  kp --json draft list --limit 0         # every draft, for a script (`total` says how many)")]
    List {
        /// Only this space (name or id).
        #[arg(long)]
        space: Option<String>,
        /// Only drafts in this status (draft, in-review, revision, accepted, published, rejected, withdrawn).
        #[arg(long)]
        status: Option<String>,
        /// At most this many drafts; 0 lists them all.
        #[arg(long, default_value_t = 100, value_name = "N")]
        limit: u32,
        /// Skip this many first (the next page starts at OFFSET + LIMIT).
        #[arg(long, default_value_t = 0, value_name = "N")]
        offset: u32,
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
        /// A file holding changes not sent yet is not overwritten.
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
    /// file that does neither is refused. Once the text is saved, that last line
    /// is updated to the version saved, so the same file sent again, or after
    /// more changes, records only what is new.
    ///
    /// If the node refuses the text from the editor, it is kept in a file whose
    /// name kp prints, ready to send with --file.
    #[command(after_help = "\
Examples:
  kp draft edit DRAFT_ID                        (opens $VISUAL or $EDITOR)
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
    /// Write a draft as Markdown, as a standalone HTML page, or as a PDF (the
    /// same title block, text, tables and figures, for those who circulate
    /// briefs by mail).
    #[command(after_help = "\
Examples:
  kp draft export DRAFT_ID --format html -o brief.html   (the publication)
  kp draft export DRAFT_ID --format pdf -o brief.pdf
  kp draft export DRAFT_ID --version round-1 --with-comments")]
    Export(ExportArgs),
}

/// The export formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum ExportFormat {
    /// Markdown with a title block.
    Md,
    /// A standalone HTML page (styles inline, nothing fetched).
    Html,
    /// A PDF of the same brief (A4, fonts built in); needs -o FILE.
    Pdf,
}

/// `kp draft export`.
#[derive(Debug, Args)]
pub(super) struct ExportArgs {
    /// The draft's id.
    id: String,
    /// md, html or pdf.
    #[arg(long, value_enum, default_value = "md")]
    format: ExportFormat,
    /// A version label (default: the latest publication of a published draft,
    /// else the current text).
    #[arg(long, value_name = "LABEL")]
    version: Option<String>,
    /// Append the comment threads.
    #[arg(long)]
    with_comments: bool,
    /// Write to this file instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// `kp draft …`.
pub(super) async fn handle(ctx: &mut Ctx, cmd: DraftCmd) -> anyhow::Result<()> {
    match cmd {
        DraftCmd::New {
            space,
            title,
            draft_type,
            file,
        } => {
            let limits = client::limits(&mut ctx.api).await?;
            let body = match file {
                Some(f) => read_text(&f, &Bound::text(&limits, "a draft's text"))?,
                None => String::new(),
            };
            let req = pb::NewDraftRequest {
                space,
                title,
                draft_type,
                body,
                author: ctx.author.clone(),
            };
            client::check_request(&req, &limits)?;
            let d = ctx.api.new_draft(req).await.map_err(refused)?.into_inner();
            emit(ctx.json, &d, |d| {
                outln!("{}", d.id);
                Ok(())
            })
        }
        DraftCmd::List {
            space,
            status,
            limit,
            offset,
        } => {
            let req = pb::ListDraftsRequest {
                space: space.unwrap_or_default(),
                status: status.unwrap_or_default(),
                limit,
                offset,
            };
            let mut pages = ctx
                .api
                .list_drafts(req)
                .await
                .map_err(refused)?
                .into_inner();
            let mut list = pb::DraftList::default();
            while let Some(page) = pages.message().await.map_err(refused)? {
                list.total = page.total;
                list.drafts.extend(page.drafts);
            }
            emit(ctx.json, &list, |list| {
                if list.drafts.is_empty() {
                    if list.total > 0 {
                        outln!(
                            "no drafts from offset {offset}: there are {}",
                            number(list.total as f64)
                        );
                    } else {
                        outln!("no drafts");
                    }
                    return Ok(());
                }
                let rows: Vec<Vec<String>> = list
                    .drafts
                    .iter()
                    .map(|d| {
                        vec![
                            d.id.clone(),
                            one_line(&d.title, 48),
                            d.draft_type.clone(),
                            d.status.clone(),
                            d.space_name.clone(),
                            time(d.updated_at),
                        ]
                    })
                    .collect();
                table(
                    &["ID", "TITLE", "TYPE", "STATUS", "SPACE", "UPDATED"],
                    &rows,
                );
                let shown = u64::from(offset) + list.drafts.len() as u64;
                if shown < list.total {
                    eprintln!(
                        "{} of {}; the next page: --offset {shown}, all of them: --limit 0",
                        plural(list.drafts.len(), "draft"),
                        number(list.total as f64),
                    );
                }
                Ok(())
            })
        }
        DraftCmd::Show {
            id,
            version,
            output,
            body,
        } => show(ctx, id, version, output, body).await,
        DraftCmd::Edit { id, file, base } => edit(ctx, id, file, base).await,
        DraftCmd::Log { id, limit, verify } => {
            let log = ctx
                .api
                .draft_log(pb::DraftLogRequest { id, limit, verify })
                .await
                .map_err(refused)?
                .into_inner();
            emit(ctx.json, &log, |log| change_log(log, verify))
        }
        DraftCmd::Diff { id, from, to } => {
            let d = ctx
                .api
                .diff_draft(pb::DiffDraftRequest { id, from, to })
                .await
                .map_err(refused)?
                .into_inner();
            emit(ctx.json, &d, |d| {
                for h in &d.hunks {
                    match h.tag.as_str() {
                        "insert" => out!("{{+{}+}}", h.text),
                        "delete" => out!("[-{}-]", h.text),
                        _ => out!("{}", h.text),
                    }
                }
                outln!();
                outln!(
                    "--- {} words inserted, {} deleted",
                    d.words_inserted,
                    d.words_deleted
                );
                Ok(())
            })
        }
        DraftCmd::Export(a) => export(ctx, a).await,
        DraftCmd::Version { id, label } => {
            let req = pb::TagVersionRequest {
                id,
                label,
                author: ctx.author.clone(),
            };
            let v = ctx
                .api
                .tag_version(req)
                .await
                .map_err(refused)?
                .into_inner();
            emit(ctx.json, &v, |v| {
                outln!("named version {}", v.label);
                Ok(())
            })
        }
    }
}

/// Refuses to write over `path` unless it is a copy of draft `id` with no
/// changes that were not sent: what it holds is the text of the version its
/// last line names. Devices and pipes (`-o /dev/stdout`) are written to.
async fn may_replace(ctx: &mut Ctx, path: &Path, id: &str) -> anyhow::Result<()> {
    let shown = path.display();
    let meta = match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("cannot look at {shown}")),
        Ok(meta) => meta,
    };
    if !meta.is_file() {
        return Ok(());
    }
    let unknown = || {
        anyhow::anyhow!(
            "{shown} exists and kp cannot tell that what it holds was sent: remove it or \
             choose another file"
        )
    };
    let held = std::fs::read(path).with_context(|| format!("cannot read {shown}"))?;
    let held = String::from_utf8(held).map_err(|_| unknown())?;
    let Ok((text, Some(line))) = split_base_line(&held) else {
        return Err(unknown());
    };
    if line.kind != "draft" || !same_draft(&line.draft, id) {
        return Err(unknown());
    }
    let req = pb::GetDraftRequest {
        id: id.to_owned(),
        version: line.heads.join(","),
    };
    let sent = ctx
        .api
        .get_draft(req)
        .await
        .map_err(refused)
        .with_context(|| format!("cannot tell whether {shown} holds changes not sent"))?
        .into_inner()
        .body;
    if sent != text {
        anyhow::bail!(
            "{shown} holds changes that were not sent: send them with `kp draft edit {id} \
             --file {shown}` (colleagues' words written since are kept), or remove the file \
             to take a fresh copy"
        );
    }
    Ok(())
}

/// Whether two ids name one draft (`automerge:ID` names `ID`).
fn same_draft(a: &str, b: &str) -> bool {
    let bare = |s: &str| s.trim().trim_start_matches("automerge:").to_owned();
    bare(a) == bare(b)
}

/// `kp draft show`: the text and details, or the text alone with the line
/// recording its version (to standard output with `body`, or to a file).
async fn show(
    ctx: &mut Ctx,
    id: String,
    version: Option<String>,
    output: Option<PathBuf>,
    body: bool,
) -> anyhow::Result<()> {
    let req = pb::GetDraftRequest {
        id,
        version: version.unwrap_or_default(),
    };
    let d = ctx.api.get_draft(req).await.map_err(refused)?.into_inner();
    let s = d.summary.clone().unwrap_or_default();
    if let Some(path) = output {
        may_replace(ctx, &path, &s.id).await?;
        let text = with_base_line(&d.body, &s.id, &d.heads);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        let written = json!({
            "id": s.id, "file": path.display().to_string(), "heads": d.heads,
        });
        return emit(ctx.json, &written, |_| {
            outln!(
                "wrote {} (draft {} at {}); revise it, then: kp draft edit {} --file {}",
                path.display(),
                s.id,
                short_heads(&d.heads),
                s.id,
                path.display()
            );
            Ok(())
        });
    }
    emit(ctx.json, &d, |d| {
        if body {
            out!("{}", with_base_line(&d.body, &s.id, &d.heads));
            return Ok(());
        }
        outln!("{}", s.title);
        let authors: Vec<String> = d
            .authors
            .iter()
            .map(|a| {
                if a.institution.is_empty() {
                    a.name.clone()
                } else {
                    format!("{} ({})", a.name, a.institution)
                }
            })
            .collect();
        if !authors.is_empty() {
            outln!("by {}", authors.join(", "));
        }
        outln!(
            "{} · {} · space {} · updated {} · {} open comments · at {}",
            s.draft_type,
            s.status,
            s.space_name,
            time(s.updated_at),
            d.open_comments,
            short_heads(&d.heads)
        );
        if !d.versions.is_empty() {
            let labels: Vec<&str> = d.versions.iter().map(|v| v.label.as_str()).collect();
            outln!("versions: {}", labels.join(", "));
            for v in d.versions.iter().filter(|v| v.label.contains('~')) {
                outln!("  {}: {}", v.label, v.note);
            }
        }
        outln!("---");
        out!("{}", d.body);
        if !d.body.ends_with('\n') {
            outln!();
        }
        Ok(())
    })
}

/// The first characters of each head, as people read and type them.
fn short_heads(heads: &[String]) -> String {
    heads
        .iter()
        .map(|h| short(h, 8))
        .collect::<Vec<_>>()
        .join(",")
}

/// The start of the line that ends a text written out by `kp draft show -o`
/// or `--body` (and the minutes `kp event show -o` writes): an HTML comment,
/// so Markdown shows nothing of it. The kind of document and its id follow.
const BASE_LINE: &str = "<!-- kp:";

/// The kinds of document whose texts carry the line.
const LINE_KINDS: [&str; 2] = ["draft", "event"];

/// `text` followed by the line that records the draft and version it is.
fn with_base_line(text: &str, id: &str, heads: &[String]) -> String {
    with_line_of("draft", text, id, heads)
}

/// `text` followed by the line that records the document (of `kind`) and
/// the version it is.
pub(super) fn with_line_of(kind: &str, text: &str, id: &str, heads: &[String]) -> String {
    format!(
        "{text}\n{BASE_LINE}{kind} {id} base={} -->\n",
        heads.join(",")
    )
}

/// What the line ending a text says: the document's kind and id, and the
/// version's heads.
#[derive(Debug, PartialEq)]
pub(super) struct BaseLine {
    pub(super) kind: String,
    pub(super) draft: String,
    pub(super) heads: Vec<String>,
}

/// Splits a text written by [`with_base_line`] (and then revised) into the
/// text and what its last line records; a text without that line comes back
/// whole. The newline written before the line goes with it.
pub(super) fn split_base_line(text: &str) -> anyhow::Result<(String, Option<BaseLine>)> {
    let trimmed = text.trim_end();
    let start = trimmed.rfind('\n').map_or(0, |i| i + 1);
    let last = &trimmed[start..];
    let Some((kind, rest)) = last
        .strip_prefix(BASE_LINE)
        .and_then(|r| r.split_once(' '))
        .filter(|(k, _)| LINE_KINDS.contains(k))
    else {
        return Ok((text.to_owned(), None));
    };
    let parsed = rest.strip_suffix("-->").and_then(|r| {
        let (draft, base) = r.trim().split_once(' ')?;
        let heads = base.trim().strip_prefix("base=")?;
        Some(BaseLine {
            kind: kind.to_owned(),
            draft: draft.to_owned(),
            heads: heads
                .split(',')
                .filter(|h| !h.is_empty())
                .map(str::to_owned)
                .collect(),
        })
    });
    let Some(line) = parsed else {
        anyhow::bail!(
            "the last line of the text looks like kp's version line but is damaged: `{last}`; \
             restore it, or remove it and give the version with --base"
        );
    };
    let body = &text[..start];
    let body = body.strip_suffix('\n').unwrap_or(body);
    Ok((body.to_owned(), Some(line)))
}

/// `kp draft edit`: the new text comes from a file or from an editor session on
/// the current text; either way it is sent with the version it was made from,
/// so the node applies only the changes made to it.
async fn edit(
    ctx: &mut Ctx,
    id: String,
    file: Option<PathBuf>,
    base: Option<String>,
) -> anyhow::Result<()> {
    let limits = client::limits(&mut ctx.api).await?;
    let bound = Bound::text(&limits, "a draft's text");
    // Where the text was made, to be told of the version saved: the file
    // (with its version line) or the editor's temporary file.
    let mut made_in: Option<(PathBuf, String)> = None;
    let mut edited_in: Option<(PathBuf, Vec<String>)> = None;
    let (text, base_heads, base_version) = match file {
        Some(f) => {
            // The version line comes on top of the text the limit is for.
            let raw = read_text(&f, &bound.with_margin(4096))?;
            let (text, line) = split_base_line(&raw)?;
            bound.check(&f, text.len() as u64)?;
            let shown = f.display().to_string();
            match (line, base) {
                (Some(line), _) if line.kind != "draft" || !same_draft(&line.draft, &id) => {
                    anyhow::bail!(
                        "{shown} was written from {} {}, not draft {id}; send it there, or \
                         remove its last line and give the version with --base",
                        line.kind,
                        line.draft
                    );
                }
                (Some(_), Some(_)) => anyhow::bail!(
                    "{shown} records the version it was made from in its last line; drop \
                     --base, or remove that line"
                ),
                (Some(line), None) => {
                    if f != Path::new("-") {
                        made_in = Some((f.clone(), raw));
                    }
                    (text, line.heads, String::new())
                }
                (None, Some(base)) => (text, Vec::new(), base),
                (None, None) => anyhow::bail!(
                    "{shown} does not say which version of the draft it was made from, so kp \
                     cannot tell your changes from the words colleagues wrote since (sending it \
                     as it is would undo theirs). Say it with --base: a version label (such as \
                     round-1), the heads `kp draft show {id}` prints after \"at\", or --base \
                     current if you made it from the text as it is now. Next time, start from \
                     `kp draft show {id} -o FILE`, which records it in the file"
                ),
            }
        }
        None => {
            let current = ctx
                .api
                .get_draft(pb::GetDraftRequest {
                    id: id.clone(),
                    version: String::new(),
                })
                .await
                .map_err(refused)?
                .into_inner();
            let (path, edited) = run_editor(&id, &current.body, &current.heads, &bound)?;
            if edited == current.body {
                let _ = std::fs::remove_file(&path);
                return emit(ctx.json, &json!({"id": id, "changed": false}), |_| {
                    outln!("no changes");
                    Ok(())
                });
            }
            edited_in = Some((path, current.heads.clone()));
            (edited, current.heads, String::new())
        }
    };
    let req = pb::EditDraftRequest {
        id: id.clone(),
        base_heads,
        text,
        author: ctx.author.clone(),
        base_version,
    };
    let sent = match client::check_request(&req, &limits) {
        Ok(()) => ctx.api.edit_draft(req).await.map_err(refused),
        Err(e) => Err(e),
    };
    let r = match (sent, &edited_in) {
        (Ok(r), _) => r.into_inner(),
        // Text written in the editor is not lost with the attempt: its file
        // stays, with the line that says which version it was made from.
        (Err(e), Some((path, heads))) => {
            return Err(e.context(keep_edited(path, &id, heads)));
        }
        (Err(e), None) => return Err(e),
    };
    if let Some((path, _)) = edited_in {
        let _ = std::fs::remove_file(path);
    }
    // The file now holds the text of the version saved: its line says so, so
    // sending it again (or after more changes) applies only what is new.
    let recorded = match made_in {
        Some((path, raw)) if !r.version.is_empty() => record_version(&path, &raw, &r.version),
        _ => Ok(false),
    };
    let saved = json!({
        "id": id, "changed": r.changed, "inserted": r.inserted,
        "deleted": r.deleted, "heads": r.heads, "version": r.version,
        "file_updated": matches!(recorded, Ok(true)),
    });
    emit(ctx.json, &saved, |_| {
        if r.changed {
            outln!(
                "saved: {} inserted, {} deleted",
                plural(r.inserted as usize, "character"),
                r.deleted
            );
        } else {
            outln!("no changes");
        }
        Ok(())
    })?;
    if let Err(e) = recorded {
        eprintln!(
            "warning: {e:#}. The version saved is {}; sending the file again as it is after \
             more changes would repeat the changes just saved: move it aside and take a fresh \
             copy with `kp draft show {id} -o FILE`",
            r.version.join(",")
        );
    }
    Ok(())
}

/// Where text written in the editor is kept when it could not be saved: its
/// file stays, and gets the line saying which version it was made from
/// (appended, so the text itself is never rewritten); returns what to tell.
fn keep_edited(path: &Path, id: &str, heads: &[String]) -> String {
    use std::io::Write;
    let line = with_base_line("", id, heads);
    let appended = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    let shown = path.display();
    match appended {
        Ok(()) => {
            format!(
                "your text is kept in {shown}; send it again with `kp draft edit {id} --file {shown}`"
            )
        }
        _ => format!(
            "your text is kept in {shown}; send it again with `kp draft edit {id} --file {shown} \
             --base {}`",
            heads.join(",")
        ),
    }
}

/// Rewrites the version line of the file `path` (read as `raw`) to name
/// `version`. A new file, private until complete and flushed to disk, takes
/// the old one's place, so a failure leaves the old one. Left as it is (with
/// an error saying why) if it changed since it was read, is read-only or has
/// other names; devices and pipes have no line to update. Returns whether the
/// file was rewritten.
pub(super) fn record_version(path: &Path, raw: &str, version: &[String]) -> anyhow::Result<bool> {
    use std::io::Write;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let (text, line) = split_base_line(raw)?;
    let Some(line) = line else {
        return Ok(false);
    };
    if line.heads == version || path.starts_with("/dev") || path.starts_with("/proc") {
        return Ok(false);
    }
    let shown = path.display();
    let target =
        std::fs::canonicalize(path).with_context(|| format!("cannot find {shown} again"))?;
    let meta = std::fs::metadata(&target).with_context(|| format!("cannot look at {shown}"))?;
    if !meta.is_file() {
        return Ok(false);
    }
    if meta.permissions().readonly() || meta.nlink() > 1 {
        anyhow::bail!(
            "{shown} is read-only or has other names, so kp left its last line as it was"
        );
    }
    if std::fs::read(&target).ok().as_deref() != Some(raw.as_bytes()) {
        anyhow::bail!("{shown} changed while it was being sent, so kp left it as it was");
    }
    let dir = target.parent().unwrap_or(Path::new("."));
    let name = target.file_name().unwrap_or_default().to_string_lossy();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let tmp = dir.join(format!(".{name}.kp-{}-{nanos}", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(with_line_of(&line.kind, &text, &line.draft, version).as_bytes())?;
            f.set_permissions(meta.permissions())?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, &target));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.with_context(|| format!("cannot update the last line of {shown}"))?;
    // The rename itself is made durable with the directory.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(true)
}

/// Opens $VISUAL or $EDITOR (default `vi`) on `text` (of the version `heads`)
/// in a private temporary file, and returns the file and the text saved in
/// it. The file stays until the text is saved on the node, so a refused or
/// failed attempt loses nothing.
fn run_editor(
    id: &str,
    text: &str,
    heads: &[String],
    bound: &Bound,
) -> anyhow::Result<(PathBuf, String)> {
    use std::os::unix::fs::OpenOptionsExt;
    // An empty VISUAL or EDITOR counts as unset (as git has it), not as a
    // command that runs the file itself.
    let chosen = ["VISUAL", "EDITOR"]
        .into_iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|e| !e.trim().is_empty());
    // `vi` by default needs a terminal: without one it reads nothing, and
    // the person would see only "nothing was saved".
    if chosen.is_none() && !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        anyhow::bail!(
            "no editor to open: $VISUAL and $EDITOR are unset and this is not a terminal; \
             pass the revised text with --file FILE (kp draft show {id} -o FILE writes the current one), \
             or set $EDITOR"
        );
    }
    let editor = chosen.unwrap_or_else(|| "vi".into());
    let path = std::env::temp_dir().join(format!(
        "kp-draft-{}-{}.md",
        short(id, 12),
        std::process::id()
    ));
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        f.write_all(text.as_bytes())?;
    }
    // Through the shell, so EDITOR may carry arguments ("code --wait").
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("kp")
        .arg(&path)
        .status()
        .with_context(|| format!("cannot start the editor `{editor}`"));
    match status {
        Ok(s) if s.success() => {}
        failed => {
            let failed = match failed {
                Ok(s) => {
                    anyhow::anyhow!("the editor `{editor}` exited with {s}; nothing was saved")
                }
                Err(e) => e,
            };
            // Quitting the editor with an error is how one cancels; but text
            // it saved before it failed is kept.
            if std::fs::read(&path).ok().as_deref() == Some(text.as_bytes()) {
                let _ = std::fs::remove_file(&path);
                return Err(failed);
            }
            return Err(failed.context(keep_edited(&path, id, heads)));
        }
    }
    let kept = || {
        format!(
            "your text is kept in {}; fix it there and send it with `kp draft edit {id} \
             --file {} --base {}`",
            path.display(),
            path.display(),
            heads.join(",")
        )
    };
    let edited = read_text(&path, bound).with_context(kept)?;
    Ok((path, edited))
}

/// `kp draft export`.
async fn export(ctx: &mut Ctx, a: ExportArgs) -> anyhow::Result<()> {
    let reply = ctx
        .api
        .export_draft(pb::ExportDraftRequest {
            id: a.id,
            format: match a.format {
                ExportFormat::Md => "md".into(),
                ExportFormat::Html => "html".into(),
                ExportFormat::Pdf => "pdf".into(),
            },
            version: a.version.unwrap_or_default(),
            with_comments: a.with_comments,
            pdf_link: false,
        })
        .await
        .map_err(refused)?
        .into_inner();
    let pdf = matches!(a.format, ExportFormat::Pdf);
    let Some(path) = a.output else {
        if pdf {
            anyhow::bail!("a PDF is not text: write it to a file with -o brief.pdf");
        }
        return emit(ctx.json, &reply, |reply| {
            out!("{}", reply.content);
            Ok(())
        });
    };
    let bytes = if pdf {
        reply.data.as_slice()
    } else {
        reply.content.as_bytes()
    };
    std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    let written = json!({
        "file": path.display().to_string(),
        "version": reply.version,
    });
    emit(ctx.json, &written, |_| {
        eprintln!("wrote {} (version {})", path.display(), reply.version);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_line_round_trips_and_damage_is_refused() {
        let heads = vec!["ab".repeat(32), "cd".repeat(32)];
        for body in ["", "one line", "two\nlines\n", "ends with blank\n\n"] {
            let written = with_base_line(body, "DRAFT", &heads);
            let (back, line) = split_base_line(&written).unwrap();
            assert_eq!(back, body);
            assert_eq!(
                line,
                Some(BaseLine {
                    kind: "draft".into(),
                    draft: "DRAFT".into(),
                    heads: heads.clone()
                })
            );
            // Editors that drop or add trailing newlines change nothing.
            let (back, _) = split_base_line(written.trim_end()).unwrap();
            assert_eq!(back, body);
        }
        let (back, line) = split_base_line("plain text\n").unwrap();
        assert_eq!((back.as_str(), line), ("plain text\n", None));
        assert!(split_base_line("text\n<!-- kp:draft DRAFT base=").is_err());
        // An event's minutes carry the line too; other comments are text.
        let written = with_line_of("event", "Minutes.", "EVENT", &heads);
        let (back, line) = split_base_line(&written).unwrap();
        assert_eq!(back, "Minutes.");
        assert_eq!(
            line.map(|l| (l.kind, l.draft)),
            Some(("event".into(), "EVENT".into()))
        );
        let comment = "text\n<!-- kp:note that -->\n";
        assert_eq!(
            split_base_line(comment).unwrap(),
            (comment.to_owned(), None)
        );
    }
}
