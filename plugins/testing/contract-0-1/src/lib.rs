//! A plugin built against `kp:analysis@0.1.0` (`plugins/wit/0.1.0`): a node
//! of a later contract must still install and run it, its parameters as
//! text and its report without figures.

#![allow(unsafe_code)] // wit-bindgen's generated export glue

wit_bindgen::generate!({ world: "analysis", path: "../../wit/0.1.0" });

use exports::kp::analysis::analyzer::Guest;
use kp::analysis::log::{Level, emit};
use kp::analysis::types::{
    AnalysisError, Column, ColumnData, DocKind, Document, Metric, Param, PluginInfo, Report, Table,
};

struct Old;

impl Guest for Old {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "old-contract".into(),
            version: "1.0.0".into(),
            summary: "Counts a dataset's rows, as plugins of contract 0.1.0 were written".into(),
            kinds: vec![DocKind::Dataset],
            themes: Vec::new(),
            params: vec![Param {
                name: "label".into(),
                description: "what to call a row".into(),
                default: Some("rows".into()),
            }],
        }
    }

    fn analyze(doc: Document) -> Result<Report, AnalysisError> {
        let table = doc
            .tables
            .first()
            .ok_or_else(|| AnalysisError::Unsupported("no table".into()))?;
        let rows = table.columns.first().map_or(0, |c| match &c.data {
            ColumnData::Integer(v) => v.len(),
            ColumnData::Number(v) => v.len(),
            ColumnData::Boolean(v) => v.len(),
            ColumnData::Text(v) => v.len(),
        });
        let label = doc
            .params
            .iter()
            .find(|(k, _)| k == "label")
            .map_or("rows", |(_, v)| v.as_str())
            .to_owned();
        emit(Level::Info, &format!("counted {rows} {label}"));
        Ok(Report {
            summary: format!("{rows} {label}."),
            metrics: vec![Metric {
                name: label.clone(),
                value: rows as f64,
                unit: String::new(),
            }],
            findings: Vec::new(),
            tables: vec![Table {
                name: "columns".into(),
                columns: vec![Column {
                    name: "column".into(),
                    data: ColumnData::Text(
                        table.columns.iter().map(|c| Some(c.name.clone())).collect(),
                    ),
                }],
            }],
        })
    }
}

export!(Old);
