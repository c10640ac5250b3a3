//! `kp report`: the partnership's indicators, for its donors.

use clap::{Subcommand, ValueEnum};
use kp_proto::local as pb;

use crate::client::{Ctx, refused};
use crate::output::emit;
use crate::render::table;

/// `kp report`.
#[derive(Debug, Subcommand)]
pub(super) enum ReportCmd {
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
pub(super) enum IndicatorFormat {
    /// Aligned tables.
    Table,
    /// One JSON object.
    Json,
    /// indicator,space,status,value rows.
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

/// The indicators as tables, or as indicator,space,status,value rows (`csv`).
fn print_indicators(r: &pb::IndicatorsReply, csv: bool) {
    let median = if r.median_review_days < 0.0 {
        String::new()
    } else {
        format!("{:.1}", r.median_review_days)
    };
    let totals = [
        ("papers_published", r.papers_published.to_string()),
        ("reviews_completed", r.reviews_completed.to_string()),
        ("median_days_assignment_to_report", median),
        ("joint_products", r.joint_products.to_string()),
        (
            "north_south_collaborations",
            r.north_south_collaborations.to_string(),
        ),
    ];
    if csv {
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
}

/// A CSV cell, quoted when it must be.
fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}
