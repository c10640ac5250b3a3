//! `row-count`: counts the rows of a dataset, and the empty cells of each
//! column, and warns below a minimum number of rows.
//!
//! A starting point: change `describe` (the name, what it analyses, its
//! parameters) and `analyze` (the report), keep the last line.

use kp_plugin_sdk::{
    Analysis, AnalysisError, Column, DocKind, Document, Param, ParamKind, PluginInfo, Report,
    Severity, Table,
};

/// The plugin.
#[derive(Debug)]
pub struct RowCount;

impl Analysis for RowCount {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "row-count".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            summary: "Counts the rows of a dataset and the empty cells of each column".into(),
            kinds: vec![DocKind::Dataset],
            // Every theme; list theme numbers (1–11) to offer it in those spaces only.
            themes: vec![],
            params: vec![Param::new("min", "10", "fewest rows expected").of(ParamKind::Integer)],
        }
    }

    fn analyze(doc: &Document) -> Result<Report, AnalysisError> {
        // `unsupported` if the document is not a dataset.
        let table = doc.table()?;
        // `bad-param` if `min` is not a whole number.
        let min: usize = doc.param_or("min", 10)?;
        let rows = table.row_count();
        let empty: Vec<(String, usize)> = table
            .columns
            .iter()
            .map(|c| {
                (
                    c.name.clone(),
                    c.texts().iter().filter(|v| v.is_none()).count(),
                )
            })
            .collect();
        let mut report = Report {
            summary: format!("{rows} rows in {} columns.", table.columns.len()),
            ..Report::default()
        };
        report.metric("rows", rows as f64, "rows");
        report.metric(
            "empty cells",
            empty.iter().map(|(_, n)| *n).sum::<usize>() as f64,
            "cells",
        );
        if rows < min {
            report.finding(Severity::Warning, format!("fewer than {min} rows"));
        }
        report.tables.push(Table {
            name: "empty cells".into(),
            columns: vec![
                Column::text(
                    "column",
                    empty.iter().map(|(c, _)| Some(c.clone())).collect(),
                ),
                Column::integer(
                    "empty",
                    empty.iter().map(|(_, n)| i64::try_from(*n).ok()).collect(),
                ),
            ],
        });
        kp_plugin_sdk::log::info!("counted {rows} rows");
        Ok(report)
    }
}

kp_plugin_sdk::export_analysis!(RowCount);
