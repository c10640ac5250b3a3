//! `kp dataset`: data tables kept in a space.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use kp_proto::local as pb;
use serde_json::json;

use crate::client::{self, Ctx, refused};
use crate::input::{Bound, read_bytes};
use crate::output::{Deferred, emit};
use crate::render::{plural, some_of, table};

#[derive(Debug, Subcommand)]
pub(super) enum DatasetCmd {
    /// Import a CSV file (header row first) as a typed table (prints its id).
    Import(ImportArgs),
    /// List the datasets, most recently changed first (ids, spaces, titles).
    #[command(after_help = "\
Examples:
  kp dataset list
  kp dataset list --space \"Remittances WG\"
  kp --json dataset list                      (for scripts: every id)")]
    List {
        /// Only this space's (name or id).
        #[arg(long)]
        space: Option<String>,
    },
    /// Show a dataset's columns and rows.
    Show {
        /// The dataset's id.
        id: String,
        /// Show at most this many rows (0: all).
        #[arg(long, default_value_t = 20)]
        limit: u64,
    },
    /// Mark a dataset open: a public portal of a node that shows its space
    /// offers it for browsing and download (CSV and a data package with its
    /// source and licence), with the analyses made of it. Open data needs a
    /// source and a licence: give them here if the import did not.
    #[command(after_help = "\
Examples:
  kp dataset open DATASET_ID --licence \"CC-BY-4.0\" --source \"World Bank\"
  kp dataset open DATASET_ID                  (once it has a source and a licence)")]
    Open {
        /// The dataset's id.
        id: String,
        /// Where the figures come from (replaces the stored source).
        #[arg(long)]
        source: Option<String>,
        /// Their licence, such as CC-BY-4.0 (replaces the stored licence).
        #[arg(long)]
        licence: Option<String>,
    },
    /// Take a dataset off the public portals again (those who downloaded it
    /// keep their copy).
    Close {
        /// The dataset's id.
        id: String,
    },
}

#[derive(Debug, Args)]
pub(super) struct ImportArgs {
    /// The CSV file.
    file: PathBuf,
    /// The space (name or id).
    #[arg(long)]
    space: String,
    /// The title.
    #[arg(long)]
    title: String,
    /// Where the figures come from.
    #[arg(long, default_value = "")]
    source: String,
    /// Their licence.
    #[arg(long, default_value = "")]
    licence: String,
}

/// `kp dataset …`.
pub(super) async fn handle(ctx: &mut Ctx, cmd: DatasetCmd) -> anyhow::Result<()> {
    match cmd {
        DatasetCmd::Import(a) => import(ctx, a).await,
        DatasetCmd::List { space } => list(ctx, space).await,
        DatasetCmd::Show { id, limit } => show(ctx, id, limit).await,
        DatasetCmd::Open {
            id,
            source,
            licence,
        } => set_open(ctx, id, true, source, licence).await,
        DatasetCmd::Close { id } => set_open(ctx, id, false, None, None).await,
    }
}

/// `kp dataset list`.
async fn list(ctx: &mut Ctx, space: Option<String>) -> anyhow::Result<()> {
    let l = ctx
        .api
        .list_datasets(pb::ListDatasetsRequest {
            space: space.unwrap_or_default(),
        })
        .await
        .map_err(refused)?
        .into_inner();
    emit(ctx.json, &l, |l| {
        if l.datasets.is_empty() {
            eprintln!(
                "no dataset yet (kp dataset import FILE --space SPACE --title TITLE adds one)"
            );
            return Ok(());
        }
        let rows: Vec<Vec<String>> = l
            .datasets
            .iter()
            .map(|d| {
                vec![
                    d.id.clone(),
                    if d.space.is_empty() {
                        d.space_id.clone()
                    } else {
                        d.space.clone()
                    },
                    d.title.clone(),
                    crate::render::time(d.created_at),
                ]
            })
            .collect();
        table(&["ID", "SPACE", "TITLE", "IMPORTED"], &rows);
        Ok(())
    })
}

/// `kp dataset open` / `kp dataset close`.
async fn set_open(
    ctx: &mut Ctx,
    id: String,
    open: bool,
    source: Option<String>,
    licence: Option<String>,
) -> anyhow::Result<()> {
    let d = ctx
        .api
        .set_dataset_open(pb::SetDatasetOpenRequest {
            id,
            open,
            source: source.unwrap_or_default(),
            licence: licence.unwrap_or_default(),
            author: ctx.author.clone(),
        })
        .await
        .map_err(refused)?
        .into_inner();
    let s = d.summary.clone().unwrap_or_default();
    let shown = json!({
        "id": s.id, "title": s.title, "open": d.open,
        "source": d.source, "licence": d.licence,
    });
    emit(ctx.json, &shown, |_| {
        if d.open {
            outln!("{} is open ({}; {})", s.title, d.source, d.licence);
            eprintln!("a portal showing its space offers it at d/{}/", s.id);
        } else {
            outln!("{} is no longer open", s.title);
        }
        Ok(())
    })
}

/// `kp dataset import`.
async fn import(ctx: &mut Ctx, a: ImportArgs) -> anyhow::Result<()> {
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
        // What is printed: every column as JSON, the first few otherwise.
        reply_columns: if ctx.json { 0 } else { SHOWN_COLUMNS as u32 },
    };
    client::check_request(&req, &limits)?;
    let mut d = ctx
        .api
        .import_dataset(req)
        .await
        .map_err(refused)?
        .into_inner();
    // A node older than this `kp` sends every column and no count.
    d.column_count = d.column_count.max(d.columns.len() as u64);
    emit(ctx.json, &d, |d| {
        outln!("{}", d.id);
        let rows = usize::try_from(d.rows).unwrap_or(usize::MAX);
        let count = usize::try_from(d.column_count).unwrap_or(usize::MAX);
        let cols = d
            .columns
            .iter()
            .map(|c| format!("{} ({})", c.name, c.column_type));
        eprintln!(
            "imported {} of {}: {}",
            plural(rows, "row"),
            plural(count, "column"),
            some_of(cols, count, SHOWN_COLUMNS)
        );
        Ok(())
    })
}

/// The columns `kp dataset import` names (and asks the node for) when it
/// does not print JSON.
const SHOWN_COLUMNS: usize = 12;

/// `kp dataset show`.
async fn show(ctx: &mut Ctx, id: String, limit: u64) -> anyhow::Result<()> {
    let d = ctx
        .api
        .get_dataset(pb::GetDatasetRequest { id, limit })
        .await
        .map_err(refused)?
        .into_inner();
    let s = d.summary.clone().unwrap_or_default();
    let shown = Deferred(|| {
        let rows: Vec<Vec<serde_json::Value>> = d
            .rows
            .iter()
            .map(|r| r.cells.iter().map(cell_json).collect())
            .collect();
        json!({
            "id": s.id, "space_id": s.space_id, "title": s.title,
            "source": d.source, "licence": d.licence, "open": d.open, "created_at": s.created_at,
            "columns": s.columns, "total_rows": s.rows, "rows": rows,
        })
    });
    emit(ctx.json, &shown, |_| {
        outln!("{}", s.title);
        if !d.source.is_empty() {
            outln!("source: {}", d.source);
        }
        if !d.licence.is_empty() {
            outln!("licence: {}", d.licence);
        }
        if d.open {
            outln!("open: a public portal showing its space offers it");
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
        Ok(())
    })
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
