//! `kp dataset`: data tables kept in a space.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use kp_proto::local as pb;
use serde_json::json;

use crate::client::{self, Ctx, refused};
use crate::input::{Bound, read_bytes};
use crate::output::{Deferred, emit};
use crate::render::table;

#[derive(Debug, Subcommand)]
pub(super) enum DatasetCmd {
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
        DatasetCmd::Show { id, limit } => show(ctx, id, limit).await,
    }
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
    };
    client::check_request(&req, &limits)?;
    let d = ctx
        .api
        .import_dataset(req)
        .await
        .map_err(refused)?
        .into_inner();
    emit(ctx.json, &d, |d| {
        outln!("{}", d.id);
        let cols: Vec<String> = d
            .columns
            .iter()
            .map(|c| format!("{} ({})", c.name, c.column_type))
            .collect();
        eprintln!("imported {} rows: {}", d.rows, cols.join(", "));
        Ok(())
    })
}

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
            "source": d.source, "licence": d.licence, "created_at": s.created_at,
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
