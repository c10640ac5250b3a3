//! What each command does: read inputs, call the node, print the reply.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use kp_proto::local as pb;
use kp_proto::local::local_client::LocalClient;
use serde_json::json;
use tonic::transport::Channel;

use crate::args::{Cli, CommentCmd, DatasetCmd, DraftCmd, PeerCmd, SpaceCmd};
use crate::client;
use crate::render::{one_line, short, table, time};

struct Ctx {
    api: LocalClient<Channel>,
    json: bool,
    author: String,
}

/// A failed request, shown as the node's message alone (or kp's own, for a
/// message over a size limit).
pub(crate) fn refused(status: tonic::Status) -> anyhow::Error {
    match client::too_large(&status) {
        Some(msg) => anyhow::anyhow!("{msg}"),
        None => anyhow::anyhow!("{}", status.message()),
    }
}

pub(crate) fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    outln!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// The most a command reads from one file or from standard input, and how to
/// say so when an input is larger. Reading stops one byte past the limit, so
/// `/dev/zero` or an endless pipe ends at once, and never fills memory.
#[derive(Debug, Clone)]
pub(crate) struct Bound {
    /// Bytes accepted.
    bytes: u64,
    /// What the limit is for ("a draft's text").
    what: &'static str,
    /// Whose limit it is ("this node's").
    whose: &'static str,
    /// How it is raised, or why it is not.
    how: String,
}

impl Bound {
    /// A limit of the node, `kib` as it reports it, raised by `setting` in its
    /// kpd.toml (written as `[section] key`).
    pub(crate) fn node(kib: u64, what: &'static str, setting: &str) -> Self {
        Self {
            bytes: kib.saturating_mul(1024),
            what,
            whose: "this node's",
            how: format!("`{setting}` in kpd.toml raises it"),
        }
    }

    /// A limit of kp's own, for inputs that no node reads.
    pub(crate) fn fixed(bytes: u64, what: &'static str, why: &str) -> Self {
        Self {
            bytes,
            what,
            whose: "kp's",
            how: why.to_owned(),
        }
    }

    /// The node's limit on a draft's text (which also bounds a report's).
    pub(crate) fn text(limits: &pb::NodeLimits, what: &'static str) -> Self {
        Self::node(limits.max_text_kib, what, "[limits] max_text_kib")
    }

    fn over(&self, path: &Path) -> anyhow::Error {
        let kib = self.bytes / 1024;
        let mib = if kib >= 1024 && kib.is_multiple_of(1024) {
            format!(" ({} MiB)", kib / 1024)
        } else {
            String::new()
        };
        anyhow::anyhow!(
            "{} is over {} limit for {}: the limit is {kib} KiB{mib}; {}",
            input_name(path),
            self.whose,
            self.what,
            self.how
        )
    }
}

fn input_name(path: &Path) -> String {
    if path == Path::new("-") {
        "standard input".into()
    } else {
        path.display().to_string()
    }
}

/// Reads a text file (or standard input for `-`) of at most `bound`, refusing
/// bytes that are not UTF-8.
pub(crate) fn read_text(path: &Path, bound: &Bound) -> anyhow::Result<String> {
    let bytes = read_bytes(path, bound)?;
    String::from_utf8(bytes).map_err(|e| {
        let line = e.as_bytes()[..e.utf8_error().valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1;
        anyhow::anyhow!(
            "{}: line {line}: not UTF-8 text (save the file as UTF-8 and try again)",
            path.display()
        )
    })
}

/// Reads a file (or standard input for `-`) of at most `bound`.
pub(crate) fn read_bytes(path: &Path, bound: &Bound) -> anyhow::Result<Vec<u8>> {
    let mut buf = Vec::new();
    if path == Path::new("-") {
        std::io::stdin()
            .lock()
            .take(bound.bytes.saturating_add(1))
            .read_to_end(&mut buf)
            .context("reading standard input")?;
    } else {
        let cannot = || format!("cannot read {}", path.display());
        let file = std::fs::File::open(path).with_context(cannot)?;
        // A regular file says its size: one over the limit is refused unread.
        // Devices and pipes say 0 and are read up to the limit.
        if file.metadata().with_context(cannot)?.len() > bound.bytes {
            return Err(bound.over(path));
        }
        file.take(bound.bytes.saturating_add(1))
            .read_to_end(&mut buf)
            .with_context(cannot)?;
    }
    if buf.len() as u64 > bound.bytes {
        return Err(bound.over(path));
    }
    Ok(buf)
}

/// Runs the parsed command line.
pub(crate) async fn run(cli: Cli) -> anyhow::Result<()> {
    let dir = cli
        .data_dir
        .clone()
        .or_else(|| std::env::var_os("KP_DATA_DIR").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("kp-data"));
    let cli = match cli.command {
        crate::args::Command::Plugin(crate::plugin::PluginCmd::Run(a)) => {
            // The sandbox's WASI blocks on its own; keep it off the async thread.
            let json = cli.json;
            return tokio::task::spawn_blocking(move || crate::plugin::run_local(a, json)).await?;
        }
        _ => cli,
    };
    let api = client::connect(&dir).await?;
    let mut ctx = Ctx {
        api,
        json: cli.json,
        author: cli.author.clone().unwrap_or_default(),
    };
    match cli.command {
        crate::args::Command::Status => status(&mut ctx).await,
        crate::args::Command::Space(c) => space(&mut ctx, c).await,
        crate::args::Command::Draft(c) => draft(&mut ctx, c).await,
        crate::args::Command::Comment(c) => comment(&mut ctx, c).await,
        crate::args::Command::Review(c) => {
            crate::review::review(&mut ctx.api, ctx.json, &ctx.author, c).await
        }
        crate::args::Command::Publish(a) => {
            crate::review::publish(&mut ctx.api, ctx.json, &ctx.author, a).await
        }
        crate::args::Command::Report(c) => crate::review::report(&mut ctx.api, ctx.json, c).await,
        crate::args::Command::Dataset(c) => dataset(&mut ctx, c).await,
        crate::args::Command::Peer(c) => peer(&mut ctx, c).await,
        crate::args::Command::Plugin(c) => crate::plugin::plugin(&mut ctx.api, ctx.json, c).await,
        crate::args::Command::Analyze(a) => {
            let author = ctx.author.clone();
            crate::plugin::analyze(&mut ctx.api, ctx.json, author, a).await
        }
        crate::args::Command::Analysis(c) => {
            crate::plugin::analysis(&mut ctx.api, ctx.json, c).await
        }
        crate::args::Command::Doc(crate::args::DocCmd::Blame { id, limit }) => {
            let log = ctx
                .api
                .blame(pb::BlameRequest { id, limit })
                .await
                .map_err(refused)?
                .into_inner();
            print_log(ctx.json, &log, true)
        }
    }
}

/// A change log as a table (with institutions and signatures if `verified`).
fn print_log(json: bool, log: &pb::ChangeLog, verified: bool) -> anyhow::Result<()> {
    if json {
        return print_json(log);
    }
    let rows: Vec<Vec<String>> = log
        .changes
        .iter()
        .map(|c| {
            let mut row = vec![time(c.time), short(&c.hash, 8), short(&c.node_id, 10)];
            if verified {
                row.push(if c.institution.is_empty() {
                    "-".into()
                } else {
                    c.institution.clone()
                });
            }
            row.push(if c.author.is_empty() {
                "-".into()
            } else {
                c.author.clone()
            });
            row.push(c.message.clone());
            row.push(c.ops.to_string());
            if verified {
                row.push(c.signature.clone());
            }
            row
        })
        .collect();
    if verified {
        table(
            &[
                "TIME",
                "CHANGE",
                "NODE",
                "INSTITUTION",
                "AUTHOR",
                "WHAT",
                "OPS",
                "SIGNATURE",
            ],
            &rows,
        );
    } else {
        table(&["TIME", "CHANGE", "NODE", "AUTHOR", "WHAT", "OPS"], &rows);
    }
    if log.total > log.changes.len() as u64 {
        outln!(
            "({} of {} changes; --limit 0 shows all)",
            log.changes.len(),
            log.total
        );
    }
    Ok(())
}

async fn status(ctx: &mut Ctx) -> anyhow::Result<()> {
    let s = ctx
        .api
        .status(pb::StatusRequest {})
        .await
        .map_err(refused)?
        .into_inner();
    if ctx.json {
        return print_json(&s);
    }
    let author = if s.default_author.is_empty() {
        "(none: pass --author or set KP_AUTHOR)".to_owned()
    } else {
        s.default_author.clone()
    };
    table(
        &["", ""],
        &[
            vec!["node id".into(), s.node_id],
            vec!["institution".into(), s.node_name],
            vec!["data dir".into(), s.data_dir],
            vec!["default author".into(), author],
            vec!["kpd version".into(), s.version],
            vec!["incarnation".into(), s.incarnation.to_string()],
            vec!["up".into(), format!("{} s", s.uptime_secs)],
            vec![
                "documents".into(),
                format!(
                    "{} spaces, {} drafts, {} datasets ({} loaded)",
                    s.spaces, s.drafts, s.datasets, s.cached_documents
                ),
            ],
            vec![
                "store".into(),
                format!("{} KiB on disk", s.store_bytes / 1024),
            ],
            vec![
                "limits".into(),
                s.limits.map_or_else(String::new, |l| {
                    format!(
                        "text {} KiB, CSV {} KiB, plugin {} KiB, request {} KiB",
                        l.max_text_kib, l.max_csv_kib, l.max_wasm_kib, l.max_request_kib
                    )
                }),
            ],
        ],
    );
    Ok(())
}

fn print_space(s: &pb::Space) {
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
    for f in &s.former {
        outln!(
            "former {} {}, removed {}: its work as a member stays ({} documents)",
            f.role,
            f.node_id,
            time(f.removed_at),
            f.documents
        );
    }
}

async fn space(ctx: &mut Ctx, cmd: SpaceCmd) -> anyhow::Result<()> {
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
            if ctx.json {
                return print_json(&s);
            }
            // The new space's id alone, for scripts; the message goes to stderr.
            outln!("{}", s.id);
            eprintln!("created space {}", s.name);
        }
        SpaceCmd::List => {
            let list = ctx
                .api
                .list_spaces(pb::ListSpacesRequest {})
                .await
                .map_err(refused)?
                .into_inner();
            if ctx.json {
                return print_json(&list);
            }
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
            if ctx.json {
                return print_json(&s);
            }
            print_space(&s);
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
            if ctx.json {
                return print_json(&s);
            }
            print_space(&s);
        }
        SpaceCmd::Show { name } => {
            let s = ctx
                .api
                .get_space(pb::GetSpaceRequest { space: name })
                .await
                .map_err(refused)?
                .into_inner();
            if ctx.json {
                return print_json(&s);
            }
            print_space(&s);
        }
    }
    Ok(())
}

async fn draft(ctx: &mut Ctx, cmd: DraftCmd) -> anyhow::Result<()> {
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
            if ctx.json {
                return print_json(&d);
            }
            outln!("{}", d.id);
        }
        DraftCmd::List { space, status } => {
            let req = pb::ListDraftsRequest {
                space: space.unwrap_or_default(),
                status: status.unwrap_or_default(),
            };
            let list = ctx
                .api
                .list_drafts(req)
                .await
                .map_err(refused)?
                .into_inner();
            if ctx.json {
                return print_json(&list);
            }
            if list.drafts.is_empty() {
                outln!("no drafts");
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
        }
        DraftCmd::Show {
            id,
            version,
            output,
            body,
        } => {
            let req = pb::GetDraftRequest {
                id,
                version: version.unwrap_or_default(),
            };
            let d = ctx.api.get_draft(req).await.map_err(refused)?.into_inner();
            let s = d.summary.clone().unwrap_or_default();
            if let Some(path) = output {
                let text = with_base_line(&d.body, &s.id, &d.heads);
                std::fs::write(&path, text)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                if ctx.json {
                    return print_json(&json!({
                        "id": s.id, "file": path.display().to_string(), "heads": d.heads,
                    }));
                }
                outln!(
                    "wrote {} (draft {} at {}); revise it, then: kp draft edit {} --file {}",
                    path.display(),
                    s.id,
                    short_heads(&d.heads),
                    s.id,
                    path.display()
                );
                return Ok(());
            }
            if ctx.json {
                return print_json(&d);
            }
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
        }
        DraftCmd::Edit { id, file, base } => edit(ctx, id, file, base).await?,
        DraftCmd::Log { id, limit, verify } => {
            let log = ctx
                .api
                .draft_log(pb::DraftLogRequest { id, limit, verify })
                .await
                .map_err(refused)?
                .into_inner();
            print_log(ctx.json, &log, verify)?;
        }
        DraftCmd::Diff { id, from, to } => {
            let d = ctx
                .api
                .diff_draft(pb::DiffDraftRequest { id, from, to })
                .await
                .map_err(refused)?
                .into_inner();
            if ctx.json {
                return print_json(&d);
            }
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
        }
        DraftCmd::Export(a) => return crate::review::export(&mut ctx.api, ctx.json, a).await,
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
            if ctx.json {
                return print_json(&v);
            }
            outln!("named version {}", v.label);
        }
    }
    Ok(())
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
/// or `--body`: an HTML comment, so Markdown shows nothing of it.
const BASE_LINE: &str = "<!-- kp:draft ";

/// `text` followed by the line that records the draft and version it is.
fn with_base_line(text: &str, id: &str, heads: &[String]) -> String {
    format!("{text}\n{BASE_LINE}{id} base={} -->\n", heads.join(","))
}

/// What the line ending a text says: the draft's id and the version's heads.
#[derive(Debug, PartialEq)]
struct BaseLine {
    draft: String,
    heads: Vec<String>,
}

/// Splits a text written by [`with_base_line`] (and then revised) into the
/// text and what its last line records; a text without that line comes back
/// whole. The newline written before the line goes with it.
fn split_base_line(text: &str) -> anyhow::Result<(String, Option<BaseLine>)> {
    let trimmed = text.trim_end();
    let start = trimmed.rfind('\n').map_or(0, |i| i + 1);
    let last = &trimmed[start..];
    let Some(rest) = last.strip_prefix(BASE_LINE) else {
        return Ok((text.to_owned(), None));
    };
    let parsed = rest.strip_suffix("-->").and_then(|r| {
        let (draft, base) = r.trim().split_once(' ')?;
        let heads = base.trim().strip_prefix("base=")?;
        Some(BaseLine {
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
    let (text, base_heads, base_version) = match file {
        Some(f) => {
            // The version line comes on top of the text the limit is for.
            let mut file_bound = bound.clone();
            file_bound.bytes += 4096;
            let (text, line) = split_base_line(&read_text(&f, &file_bound)?)?;
            if text.len() as u64 > bound.bytes {
                return Err(bound.over(&f));
            }
            let shown = f.display().to_string();
            match (line, base) {
                (Some(line), _) if line.draft != id && !id.ends_with(&line.draft) => {
                    anyhow::bail!(
                        "{shown} was written from draft {}, not {id}; send it to that draft, \
                         or remove its last line and give the version with --base",
                        line.draft
                    );
                }
                (Some(_), Some(_)) => anyhow::bail!(
                    "{shown} records the version it was made from in its last line; drop \
                     --base, or remove that line"
                ),
                (Some(line), None) => (text, line.heads, String::new()),
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
            let edited = run_editor(&id, &current.body, &bound)?;
            if edited == current.body {
                if ctx.json {
                    return print_json(&json!({"id": id, "changed": false}));
                }
                outln!("no changes");
                return Ok(());
            }
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
    client::check_request(&req, &limits)?;
    let r = ctx.api.edit_draft(req).await.map_err(refused)?.into_inner();
    if ctx.json {
        return print_json(&json!({
            "id": id, "changed": r.changed, "inserted": r.inserted,
            "deleted": r.deleted, "heads": r.heads,
        }));
    }
    if r.changed {
        outln!(
            "saved: {} characters inserted, {} deleted",
            r.inserted,
            r.deleted
        );
    } else {
        outln!("no changes");
    }
    Ok(())
}

/// Opens $VISUAL or $EDITOR (default `vi`) on `text` in a private temporary file
/// and returns what was saved.
fn run_editor(id: &str, text: &str, bound: &Bound) -> anyhow::Result<String> {
    use std::os::unix::fs::OpenOptionsExt;
    let editor = std::env::var("VISUAL")
        .or_else(|_| std::env::var("EDITOR"))
        .unwrap_or_else(|_| "vi".into());
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
    let result = match status {
        Ok(s) if s.success() => read_text(&path, bound),
        Ok(s) => Err(anyhow::anyhow!(
            "the editor `{editor}` exited with {s}; nothing was saved"
        )),
        Err(e) => Err(e),
    };
    let _ = std::fs::remove_file(&path);
    result
}

async fn comment(ctx: &mut Ctx, cmd: CommentCmd) -> anyhow::Result<()> {
    let c = match cmd {
        CommentCmd::Add { id, quote, body } => {
            let req = pb::AddCommentRequest {
                id,
                quote,
                body,
                author: ctx.author.clone(),
            };
            let c = ctx
                .api
                .add_comment(req)
                .await
                .map_err(refused)?
                .into_inner();
            if ctx.json {
                return print_json(&c);
            }
            // The new comment's id alone, for scripts (`C=$(kp comment add …)`).
            outln!("{}", c.id);
            eprintln!("commented on \"{}\"", one_line(&c.quote, 70));
            return Ok(());
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
            if ctx.json {
                return print_json(&list);
            }
            if list.comments.is_empty() {
                outln!("no comments");
            }
            for c in &list.comments {
                print_comment(c);
            }
            return Ok(());
        }
    };
    if ctx.json {
        return print_json(&c);
    }
    print_comment(&c);
    Ok(())
}

fn print_comment(c: &pb::Comment) {
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
}

fn author_or_node(author: &str, node_id: &str) -> String {
    if author.is_empty() {
        format!("node {}", short(node_id, 10))
    } else {
        author.to_owned()
    }
}

fn cell_json(c: &pb::Cell) -> serde_json::Value {
    use pb::cell::Value;
    match &c.value {
        None => serde_json::Value::Null,
        Some(Value::Integer(n)) => json!(n),
        Some(Value::Number(x)) => json!(x),
        Some(Value::Boolean(b)) => json!(b),
        Some(Value::Text(t)) => json!(t),
    }
}

fn cell_text(c: &pb::Cell) -> String {
    match cell_json(c) {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    }
}

async fn dataset(ctx: &mut Ctx, cmd: DatasetCmd) -> anyhow::Result<()> {
    match cmd {
        DatasetCmd::Import(a) => {
            let limits = client::limits(&mut ctx.api).await?;
            let bound = Bound::node(limits.max_csv_kib, "a CSV file", "[limits] max_csv_kib");
            let csv = read_bytes(&a.file, &bound)?;
            let req = pb::ImportDatasetRequest {
                space: a.space,
                title: a.title,
                source: a.source,
                licence: a.licence,
                csv,
                author: ctx.author.clone(),
                file_name: a.file.display().to_string(),
            };
            client::check_request(&req, &limits)?;
            let d = ctx
                .api
                .import_dataset(req)
                .await
                .map_err(refused)?
                .into_inner();
            if ctx.json {
                return print_json(&d);
            }
            outln!("{}", d.id);
            let cols: Vec<String> = d
                .columns
                .iter()
                .map(|c| format!("{} ({})", c.name, c.column_type))
                .collect();
            eprintln!("imported {} rows: {}", d.rows, cols.join(", "));
        }
        DatasetCmd::Show { id, limit } => {
            let d = ctx
                .api
                .get_dataset(pb::GetDatasetRequest { id, limit })
                .await
                .map_err(refused)?
                .into_inner();
            let s = d.summary.clone().unwrap_or_default();
            if ctx.json {
                let rows: Vec<Vec<serde_json::Value>> = d
                    .rows
                    .iter()
                    .map(|r| r.cells.iter().map(cell_json).collect())
                    .collect();
                return print_json(&json!({
                    "id": s.id, "space_id": s.space_id, "title": s.title,
                    "source": d.source, "licence": d.licence, "created_at": s.created_at,
                    "columns": s.columns, "total_rows": s.rows, "rows": rows,
                }));
            }
            outln!("{}", s.title);
            if !d.source.is_empty() {
                outln!("source: {}", d.source);
            }
            if !d.licence.is_empty() {
                outln!("licence: {}", d.licence);
            }
            outln!();
            let header: Vec<String> = s
                .columns
                .iter()
                .map(|c| format!("{} ({})", c.name, c.column_type))
                .collect();
            let header: Vec<&str> = header.iter().map(String::as_str).collect();
            let rows: Vec<Vec<String>> = d
                .rows
                .iter()
                .map(|r| r.cells.iter().map(cell_text).collect())
                .collect();
            table(&header, &rows);
            if s.rows > d.rows.len() as u64 {
                outln!("({} of {} rows; --limit 0 shows all)", d.rows.len(), s.rows);
            }
        }
    }
    Ok(())
}

async fn peer(ctx: &mut Ctx, cmd: PeerCmd) -> anyhow::Result<()> {
    match cmd {
        PeerCmd::Add { id, address } => {
            let req = pb::AddPeerRequest {
                node_id: id,
                address: address.unwrap_or_default(),
            };
            let p = ctx.api.add_peer(req).await.map_err(refused)?.into_inner();
            if ctx.json {
                return print_json(&p);
            }
            if p.address.is_empty() {
                outln!("pinned {}; it may connect to this node", p.node_id);
            } else {
                outln!("pinned {}; dialling {}", p.node_id, p.address);
            }
        }
        PeerCmd::List => {
            let list = ctx
                .api
                .list_peers(pb::ListPeersRequest {})
                .await
                .map_err(refused)?
                .into_inner();
            if ctx.json {
                return print_json(&list);
            }
            if list.peers.is_empty() {
                outln!("no partner nodes; pin one with `kp peer add ID ADDRESS`");
                return Ok(());
            }
            let rows: Vec<Vec<String>> = list
                .peers
                .iter()
                .map(|p| {
                    vec![
                        p.node_id.clone(),
                        if p.name.is_empty() {
                            "-".into()
                        } else {
                            p.name.clone()
                        },
                        if p.address.is_empty() {
                            "(accept only)".into()
                        } else {
                            p.address.clone()
                        },
                        if p.connected {
                            "connected".into()
                        } else {
                            "no".into()
                        },
                        time(p.last_seen),
                        format!("{} / {}", p.bytes_in, p.bytes_out),
                        p.documents_behind.to_string(),
                        one_line(&p.last_error, 60),
                    ]
                })
                .collect();
            table(
                &[
                    "NODE",
                    "INSTITUTION",
                    "ADDRESS",
                    "CONNECTED",
                    "LAST SEEN",
                    "BYTES IN / OUT",
                    "BEHIND",
                    "LAST ERROR",
                ],
                &rows,
            );
            // A refusal says what to run where, which the table's column cuts off.
            for p in list.peers.iter().filter(|p| p.refusal.is_some()) {
                outln!();
                outln!("{}", p.last_error);
            }
        }
        PeerCmd::Remove { id } => {
            ctx.api
                .remove_peer(pb::RemovePeerRequest {
                    node_id: id.clone(),
                })
                .await
                .map_err(refused)?;
            if ctx.json {
                return print_json(&json!({"node_id": id, "removed": true}));
            }
            outln!("removed {id}");
        }
    }
    Ok(())
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
    }
}
