//! `kp report`: the partnership's indicators, for its donors.

use clap::{Subcommand, ValueEnum};
use kp_proto::local as pb;

use crate::client::{Ctx, refused};
use crate::output::emit;
use crate::render::table;

/// `kp report`.
#[derive(Debug, Subcommand)]
pub(super) enum ReportCmd {
    /// The indicators of the partnership's results framework that kp can
    /// measure, for a period, from the documents this node holds: each with
    /// its value, its unit and how it was measured.
    ///
    /// 1 information online: open datasets, hits and downloads on this node's
    /// portal (counted per day, nobody's visit kept); 2 material posted:
    /// publications, briefs, data publications; 3 events (kp event) where
    /// results are discussed, cross-regional meetings, publications
    /// discussed; 4 joint products and North-South collaborations (income
    /// groups from the space's member list); 5 peer reviews completed and the
    /// median days from assignment to report. Then the drafts of each space
    /// by status, as they stand now.
    #[command(after_help = "\
Examples:
  kp report indicators --from 2026-01-01 --to 2026-12-31
  kp report indicators --space \"Remittances WG\" --format csv > indicators.csv")]
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
pub(super) enum IndicatorFormat {
    /// Aligned tables.
    Table,
    /// One JSON object.
    Json,
    /// id,indicator,space,status,value,unit,how rows.
    Csv,
}

/// `kp report …`.
pub(super) async fn handle(ctx: &mut Ctx, cmd: ReportCmd) -> anyhow::Result<()> {
    let ReportCmd::Indicators {
        space,
        from,
        to,
        format,
    } = cmd;
    let r = ctx
        .api
        .indicators(pb::IndicatorsRequest {
            space: space.unwrap_or_default(),
            from: from.unwrap_or_default(),
            to: to.unwrap_or_default(),
        })
        .await
        .map_err(refused)?
        .into_inner();
    let json = ctx.json || format == IndicatorFormat::Json;
    emit(json, &r, |r| {
        print_indicators(r, format == IndicatorFormat::Csv);
        Ok(())
    })
}

/// The indicators as tables, or as id,indicator,space,status,value,unit,how
/// rows (`csv`).
fn print_indicators(r: &pb::IndicatorsReply, csv: bool) {
    if csv {
        outln!("id,indicator,space,status,value,unit,how");
        for i in &r.indicators {
            outln!(
                "{},{},,,{},{},{}",
                i.id,
                csv_cell(&i.name),
                i.value,
                csv_cell(&i.unit),
                csv_cell(&i.how)
            );
        }
        for c in &r.drafts_by_status {
            outln!(
                ",drafts by status,{},{},{},drafts,drafts of the space as they stand now",
                csv_cell(&c.space_name),
                c.status,
                c.drafts
            );
        }
        return;
    }
    let period = match (r.from.as_str(), r.to.as_str()) {
        ("", "") => "all time".to_owned(),
        (f, t) => format!(
            "{} to {}",
            if f.is_empty() { "the start" } else { f },
            if t.is_empty() { "now" } else { t }
        ),
    };
    let drafts = match r.drafts_counted {
        1 => "1 draft".to_owned(),
        n => format!("{n} drafts"),
    };
    outln!("indicators for {period} ({drafts})\n");
    let rows: Vec<Vec<String>> = r
        .indicators
        .iter()
        .map(|i| {
            let value = if i.value < 0.0 {
                "-".to_owned()
            } else {
                shown(i.value)
            };
            vec![i.id.clone(), i.name.clone(), value, i.unit.clone()]
        })
        .collect();
    table(&["ID", "INDICATOR", "VALUE", "UNIT"], &rows);
    outln!();
    let rows: Vec<Vec<String>> = r
        .drafts_by_status
        .iter()
        .map(|c| vec![c.space_name.clone(), c.status.clone(), c.drafts.to_string()])
        .collect();
    table(&["SPACE", "STATUS", "DRAFTS"], &rows);
    outln!("\n(how each is measured: --format csv or --json)");
}

/// A value as people read it: whole numbers bare, others to one decimal.
fn shown(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
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
