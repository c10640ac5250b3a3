//! `kp event`: workshops, conferences, consultations and debates where the
//! partnership's work is discussed.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use kp_proto::local as pb;

use super::draft::{BaseLine, record_version, split_base_line, with_line_of};
use crate::client::{Ctx, refused};
use crate::input::{Bound, read_text};
use crate::output::emit;
use crate::render::table;

/// The longest minutes file read (the node keeps at most 200,000 characters).
const MAX_MINUTES_BYTES: u64 = 800 * 1024;

#[derive(Debug, Subcommand)]
pub(super) enum EventCmd {
    /// Record an event of a space (prints its id). Partners of the space see
    /// it; `kp report indicators` counts it, as cross-regional when its
    /// participants come from more than one region.
    #[command(after_help = "\
Examples:
  kp event new --space SPACE_ID --title \"Remittance costs in East Africa\" \\
     --kind workshop --starts 2026-03-02 --ends 2026-03-03 --place Nairobi \\
     --organiser \"University of Nairobi | Sub-Saharan Africa | lower-middle\" \\
     --participant \"KNOMAD | Global\" --discussed DRAFT_ID --minutes minutes.md

An institution that is a member of the space takes its region and income group
from the space's member list when the entry leaves them out.")]
    New {
        /// The space (name or id).
        #[arg(long)]
        space: String,
        #[command(flatten)]
        fields: Fields,
        /// Held online (wholly or in part).
        #[arg(long)]
        online: bool,
    },
    /// Change an event: each option given replaces (title, kind, days, place)
    /// or extends (organisers, participants, drafts discussed) what is kept;
    /// partners' changes made meanwhile are kept too. Minutes from a file
    /// written by `kp event show EVENT_ID -o FILE` are merged with what others
    /// wrote since (the file's last line says which version it was made
    /// from, and is brought up to date); minutes from any other file replace
    /// the current ones.
    #[command(after_help = "\
Examples:
  kp event show EVENT_ID -o our-minutes.md      (then write in it, and send it back)
  kp event edit EVENT_ID --minutes our-minutes.md
  kp event edit EVENT_ID --participant \"ODI | Europe | high\"
  kp event edit EVENT_ID --remove \"KNOMAD\" --online yes")]
    Edit {
        /// The event's id.
        id: String,
        #[command(flatten)]
        fields: Fields,
        /// Held online: yes or no.
        #[arg(long, value_parser = clap::builder::BoolishValueParser::new(), value_name = "yes|no")]
        online: Option<bool>,
        /// Take an institution out of the organisers and participants (repeatable).
        #[arg(long, value_name = "INSTITUTION")]
        remove: Vec<String>,
        /// Take a draft out of those discussed (repeatable).
        #[arg(long, value_name = "DRAFT_ID")]
        not_discussed: Vec<String>,
    },
    /// Show an event: when, where, who took part, what was discussed, the
    /// minutes. With -o FILE, the minutes alone go to a new file, with a last
    /// line saying which version they are, for `kp event edit --minutes`.
    #[command(after_help = "\
Examples:
  kp event show EVENT_ID
  kp event show EVENT_ID -o workshop-minutes.md")]
    Show {
        /// The event's id.
        id: String,
        /// Write the minutes to this new file instead.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// List events, oldest first.
    #[command(after_help = "\
Examples:
  kp event list --space \"Remittances WG\" --from 2026-01-01 --to 2026-12-31")]
    List {
        /// Only this space (name or id).
        #[arg(long)]
        space: Option<String>,
        /// Starting on or after this day (YYYY-MM-DD).
        #[arg(long, value_name = "DATE")]
        from: Option<String>,
        /// Starting on or before this day (YYYY-MM-DD).
        #[arg(long, value_name = "DATE")]
        to: Option<String>,
    },
}

/// What `new` and `edit` share.
#[derive(Debug, Args)]
pub(super) struct Fields {
    /// The title.
    #[arg(long)]
    title: Option<String>,
    /// workshop, conference, consultation, debate, seminar or meeting.
    #[arg(long)]
    kind: Option<String>,
    /// The first day (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    starts: Option<String>,
    /// The last day (YYYY-MM-DD; default: the first).
    #[arg(long, value_name = "DATE")]
    ends: Option<String>,
    /// Where it took place.
    #[arg(long)]
    place: Option<String>,
    /// An organising institution, as "NAME | REGION | INCOME GROUP" (region
    /// and income group may be left out; repeatable). Organisers take part.
    #[arg(long, value_name = "INSTITUTION")]
    organiser: Vec<String>,
    /// A participating institution, as "NAME | REGION | INCOME GROUP"
    /// (repeatable).
    #[arg(long, value_name = "INSTITUTION")]
    participant: Vec<String>,
    /// A draft or publication of the space discussed there (repeatable).
    #[arg(long, value_name = "DRAFT_ID")]
    discussed: Vec<String>,
    /// The minutes, from a Markdown file (- for standard input).
    #[arg(long, value_name = "FILE")]
    minutes: Option<PathBuf>,
}

/// "NAME | REGION | INCOME GROUP".
fn participant(s: &str) -> anyhow::Result<pb::Participant> {
    let mut parts = s.split('|').map(str::trim);
    let institution = parts.next().unwrap_or_default().to_owned();
    let region = parts.next().unwrap_or_default().to_owned();
    let income_group = parts.next().unwrap_or_default().to_owned();
    if parts.next().is_some() || institution.is_empty() {
        anyhow::bail!(
            "`{s}` is not an institution: write \"NAME | REGION | INCOME GROUP\", such as \
             \"University of Nairobi | Sub-Saharan Africa | lower-middle\" (region and income \
             group may be left out)"
        );
    }
    Ok(pb::Participant {
        institution,
        region,
        income_group,
    })
}

/// The minutes as read from their file: the path, what it holds, and the
/// version line that ends it (written by `kp event show -o`), if any.
struct MinutesFile {
    path: PathBuf,
    raw: String,
    line: Option<BaseLine>,
}

fn request(f: Fields, author: &str) -> anyhow::Result<(pb::EventRequest, Option<MinutesFile>)> {
    let (minutes, file) = match &f.minutes {
        Some(p) => {
            let raw = read_text(
                p,
                &Bound::fixed(MAX_MINUTES_BYTES, "minutes", "an event's minutes are short"),
            )?;
            let (text, line) = split_base_line(&raw)?;
            let file = MinutesFile {
                path: p.clone(),
                raw,
                line,
            };
            (Some(text), Some(file))
        }
        None => (None, None),
    };
    let req = pb::EventRequest {
        title: f.title,
        kind: f.kind,
        starts: f.starts,
        ends: f.ends,
        place: f.place,
        add_organisers: f
            .organiser
            .iter()
            .map(|s| participant(s))
            .collect::<anyhow::Result<_>>()?,
        add_participants: f
            .participant
            .iter()
            .map(|s| participant(s))
            .collect::<anyhow::Result<_>>()?,
        add_discussed: f.discussed,
        minutes,
        author: author.to_owned(),
        ..Default::default()
    };
    Ok((req, file))
}

/// What a minutes file's last line says of the event `id` (an event being
/// recorded when `None`): the version they were made from, or a refusal when
/// the file was written from another document.
fn minutes_base(file: &MinutesFile, id: Option<&str>) -> anyhow::Result<Vec<String>> {
    let Some(line) = &file.line else {
        return Ok(Vec::new());
    };
    let shown = file.path.display();
    match id {
        Some(id) if line.kind == "event" && line.draft == id => Ok(line.heads.clone()),
        Some(id) => anyhow::bail!(
            "{shown} was written from {} {}, not event {id}; send it there, or remove its last \
             line (the minutes then replace the current ones)",
            line.kind,
            line.draft
        ),
        None => anyhow::bail!(
            "{shown} holds what was written from {} {} (its last line says so); to change \
             those minutes run `kp event edit {} --minutes {shown}`, or remove the last line",
            line.kind,
            line.draft,
            line.draft
        ),
    }
}

/// `kp event show ID -o FILE`: the minutes, and the line saying which
/// version they are, in a new file; whether FILE is a device or a pipe
/// rather than a file.
fn write_minutes(e: &pb::Event, path: &Path) -> anyhow::Result<bool> {
    use std::io::Write;
    let shown = path.display();
    // A device or a pipe (`-o /dev/stdout`) is written to; a file only if new.
    let device = std::fs::metadata(path).is_ok_and(|m| !m.is_file());
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(!device)
        .open(path)
        .map_err(|err| match err.kind() {
            std::io::ErrorKind::AlreadyExists => anyhow::anyhow!(
                "{shown} exists: kp writes minutes only to a new file (send that one with \
                 `kp event edit {} --minutes {shown}`, or remove it)",
                e.id
            ),
            _ => anyhow::anyhow!("cannot write {shown}: {err}"),
        })?;
    f.write_all(with_line_of("event", &e.minutes, &e.id, &e.heads).as_bytes())
        .and_then(|()| if device { Ok(()) } else { f.sync_all() })
        .map_err(|err| anyhow::anyhow!("cannot write {shown}: {err}"))?;
    Ok(device)
}

/// `kp event …`.
pub(super) async fn handle(ctx: &mut Ctx, cmd: EventCmd) -> anyhow::Result<()> {
    let event = match cmd {
        EventCmd::New {
            space,
            fields,
            online,
        } => {
            let (mut req, file) = request(fields, &ctx.author)?;
            if let Some(file) = &file {
                minutes_base(file, None)?;
            }
            req.space = space;
            req.online = Some(online);
            let e = ctx.api.new_event(req).await.map_err(refused)?.into_inner();
            // The id alone on standard output, as every creation prints it.
            return emit(ctx.json, &e, |e| {
                outln!("{}", e.id);
                eprintln!("recorded {} ({}, {})", e.title, e.kind, days(e));
                Ok(())
            });
        }
        EventCmd::Edit {
            id,
            fields,
            online,
            remove,
            not_discussed,
        } => {
            let (mut req, file) = request(fields, &ctx.author)?;
            if let Some(file) = &file {
                req.base_heads = minutes_base(file, Some(&id))?;
            }
            req.id = id;
            req.online = online;
            req.remove_institutions = remove;
            req.remove_discussed = not_discussed;
            let sent = ctx.api.edit_event(req).await;
            // The file now holds minutes of the version saved: its line says
            // so, so that sending it again (or after more writing) applies
            // only what is new.
            if let (Ok(e), Some(file)) = (&sent, &file)
                && file.line.is_some()
                && file.path != Path::new("-")
                && let Err(err) = record_version(&file.path, &file.raw, &e.get_ref().heads)
            {
                eprintln!("kp: the minutes were saved, but {err:#}");
            }
            sent
        }
        EventCmd::Show { id, output: None } => ctx.api.get_event(pb::GetEventRequest { id }).await,
        EventCmd::Show {
            id,
            output: Some(path),
        } => {
            let e = ctx
                .api
                .get_event(pb::GetEventRequest { id })
                .await
                .map_err(refused)?
                .into_inner();
            let device = write_minutes(&e, &path)?;
            let done = serde_json::json!({"id": e.id, "file": path, "heads": e.heads});
            return emit(ctx.json, &done, |_| {
                if device {
                    // Nothing to send back from a device: the advice is for
                    // a saved file.
                    eprintln!(
                        "wrote the minutes of {} to {}; save them to a file to edit them and \
                         send them back with `kp event edit {} --minutes FILE`",
                        e.title,
                        path.display(),
                        e.id
                    );
                } else {
                    eprintln!(
                        "wrote the minutes of {} to {} (send them back with `kp event edit {} \
                         --minutes {}`)",
                        e.title,
                        path.display(),
                        e.id,
                        path.display()
                    );
                }
                Ok(())
            });
        }
        EventCmd::List { space, from, to } => {
            let list = ctx
                .api
                .list_events(pb::ListEventsRequest {
                    space: space.unwrap_or_default(),
                    from: from.unwrap_or_default(),
                    to: to.unwrap_or_default(),
                })
                .await
                .map_err(refused)?
                .into_inner();
            return emit(ctx.json, &list, |l| {
                if l.events.is_empty() {
                    eprintln!("no events (kp event new records one)");
                    return Ok(());
                }
                let rows: Vec<Vec<String>> = l
                    .events
                    .iter()
                    .map(|e| {
                        vec![
                            e.id.clone(),
                            days(e),
                            e.kind.clone(),
                            e.title.clone(),
                            e.participants.len().to_string(),
                            if e.cross_regional { "yes" } else { "" }.into(),
                            e.space_name.clone(),
                        ]
                    })
                    .collect();
                table(
                    &[
                        "ID",
                        "DAYS",
                        "KIND",
                        "TITLE",
                        "INSTITUTIONS",
                        "CROSS-REGIONAL",
                        "SPACE",
                    ],
                    &rows,
                );
                Ok(())
            });
        }
    };
    let e = event.map_err(refused)?.into_inner();
    emit(ctx.json, &e, |e| {
        outln!("{}", e.id);
        outln!("{} ({})", e.title, e.kind);
        let place = match (e.place.as_str(), e.online) {
            ("", true) => "online".to_owned(),
            (p, true) => format!("{p} and online"),
            (p, false) => p.to_owned(),
        };
        outln!(
            "{}{}",
            days(e),
            if place.is_empty() {
                String::new()
            } else {
                format!(", {place}")
            }
        );
        outln!("space: {}", e.space_name);
        if !e.participants.is_empty() {
            outln!();
            let rows: Vec<Vec<String>> = e
                .participants
                .iter()
                .map(|p| {
                    let org = e.organisers.contains(&p.institution);
                    vec![
                        p.institution.clone(),
                        p.region.clone(),
                        p.income_group.clone(),
                        if org { "organiser" } else { "" }.into(),
                    ]
                })
                .collect();
            table(&["INSTITUTION", "REGION", "INCOME GROUP", ""], &rows);
        }
        if !e.discussed.is_empty() {
            outln!("\ndiscussed:");
            for d in &e.discussed {
                let title = if d.title.is_empty() {
                    "(not on this node)"
                } else {
                    &d.title
                };
                outln!("  {} {} {}", d.id, title, d.status);
            }
        }
        if !e.minutes.is_empty() {
            outln!("\nminutes:\n{}", e.minutes.trim_end());
        }
        Ok(())
    })
}

fn days(e: &pb::Event) -> String {
    if e.ends.is_empty() || e.ends == e.starts {
        e.starts.clone()
    } else {
        format!("{} to {}", e.starts, e.ends)
    }
}
