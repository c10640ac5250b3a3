//! A plugin that misbehaves on request, to test the limits of the plugin host.
//! Its `mode` parameter chooses: `ok` (a small, valid report that also shows
//! the clocks and random numbers the sandbox hands out), `loop`, `alloc`
//! (1 GiB), `panic`, `bad-anchor`, `nan`, `huge` (a 2 MiB report), `refuse`,
//! `table-mismatch`, `figure` (a valid line chart), `bad-figure` (an axis that
//! goes back).

#![allow(unsafe_code)] // wit-bindgen's generated export glue

wit_bindgen::generate!({ world: "analysis", path: "../../wit" });

use std::hash::{BuildHasher, Hasher};

use exports::kp::analysis::analyzer::Guest;
use kp::analysis::log::{Level, emit};
use kp::analysis::types::{
    AnalysisError, Chart, Column, ColumnData, DocKind, Document, Figure, Finding, Lines, Mark,
    Metric, Param, ParamKind, PluginInfo, Report, Series, Severity, Table, TextRange,
};

/// The modes, which the `mode` parameter chooses from.
const MODES: [&str; 11] = [
    "ok",
    "loop",
    "alloc",
    "panic",
    "bad-anchor",
    "nan",
    "huge",
    "refuse",
    "table-mismatch",
    "figure",
    "bad-figure",
];

/// A line chart over `x`.
fn figure(x: Vec<f64>) -> Figure {
    Figure {
        title: "A trend".into(),
        unit: "%".into(),
        chart: Chart::Lines(Lines {
            axis: "year".into(),
            x: x.clone(),
            labels: Vec::new(),
            series: vec![Series {
                name: "share".into(),
                values: x.iter().map(|v| Some(v - 2000.0)).collect(),
            }],
        }),
        marks: vec![Mark {
            label: "target".into(),
            value: 3.0,
        }],
    }
}

struct Misbehave;

fn metric(name: &str, value: f64) -> Metric {
    Metric {
        name: name.into(),
        value,
        unit: String::new(),
    }
}

fn empty(summary: String) -> Report {
    Report {
        summary,
        metrics: Vec::new(),
        findings: Vec::new(),
        tables: Vec::new(),
        figures: Vec::new(),
    }
}

impl Guest for Misbehave {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "misbehave".into(),
            version: "0.1.0".into(),
            summary: "Misbehaves as its mode parameter says, to test the host".into(),
            kinds: vec![DocKind::Draft, DocKind::Dataset],
            themes: Vec::new(),
            params: vec![
                Param {
                    name: "mode".into(),
                    description: "how to misbehave".into(),
                    kind: ParamKind::Choice(MODES.iter().map(|m| (*m).to_owned()).collect()),
                    default: Some("ok".into()),
                },
                Param {
                    name: "note".into(),
                    description: "any text; changes the random seed".into(),
                    kind: ParamKind::Text,
                    default: None,
                },
            ],
        }
    }

    fn analyze(doc: Document) -> Result<Report, AnalysisError> {
        let mode = doc
            .params
            .iter()
            .find(|(k, _)| k == "mode")
            .map_or("ok", |(_, v)| v.as_str());
        emit(Level::Info, &format!("mode {mode}"));
        match mode {
            "ok" => {
                println!("analysing {}", doc.id);
                let rows =
                    doc.tables
                        .first()
                        .and_then(|t| t.columns.first())
                        .map_or(0, |c| match &c.data {
                            ColumnData::Integer(v) => v.len(),
                            ColumnData::Number(v) => v.len(),
                            ColumnData::Boolean(v) => v.len(),
                            ColumnData::Text(v) => v.len(),
                        });
                let words: usize = doc
                    .sections
                    .iter()
                    .map(|s| s.text.split_whitespace().count())
                    .sum();
                // What the sandbox's clock and seeded randomness give.
                let clock = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(-1.0, |d| d.as_secs_f64());
                let mut h = std::collections::hash_map::RandomState::new().build_hasher();
                h.write(b"kp");
                let random = (h.finish() % 1_000_000) as f64;
                let findings = doc
                    .sections
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| !s.text.is_empty())
                    .map(|(i, s)| Finding {
                        severity: Severity::Info,
                        message: format!("section `{}`", s.heading),
                        anchor: Some(TextRange {
                            section: i as u32,
                            start: 0,
                            end: s
                                .text
                                .char_indices()
                                .nth(1)
                                .map_or(s.text.len() as u32, |(b, _)| b as u32),
                        }),
                    })
                    .collect();
                Ok(Report {
                    summary: format!("{} has {rows} rows and {words} words", doc.title),
                    metrics: vec![
                        metric("rows", rows as f64),
                        metric("words", words as f64),
                        metric("clock", clock),
                        metric("random", random),
                    ],
                    findings,
                    tables: vec![Table {
                        name: "params".into(),
                        columns: vec![
                            Column {
                                name: "name".into(),
                                data: ColumnData::Text(
                                    doc.params.iter().map(|(k, _)| Some(k.clone())).collect(),
                                ),
                            },
                            Column {
                                name: "value".into(),
                                data: ColumnData::Text(
                                    doc.params.iter().map(|(_, v)| Some(v.clone())).collect(),
                                ),
                            },
                        ],
                    }],
                    figures: Vec::new(),
                })
            }
            "figure" => {
                let mut r = empty("a trend".into());
                r.figures.push(figure(vec![2010.0, 2011.0, 2012.0]));
                Ok(r)
            }
            "bad-figure" => {
                let mut r = empty("an axis that goes back".into());
                r.figures.push(figure(vec![2010.0, 2012.0, 2011.0]));
                Ok(r)
            }
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "alloc" => {
                let v = vec![1u8; 1 << 30];
                Ok(empty(format!(
                    "allocated {}",
                    std::hint::black_box(&v).len()
                )))
            }
            "panic" => panic!("misbehave was asked to panic"),
            "bad-anchor" => {
                let mut r = empty("an anchor past the end".into());
                r.findings.push(Finding {
                    severity: Severity::Warning,
                    message: "nowhere".into(),
                    anchor: Some(TextRange {
                        section: 0,
                        start: 0,
                        end: 1_000_000,
                    }),
                });
                Ok(r)
            }
            "nan" => {
                let mut r = empty("a metric that is not a number".into());
                r.metrics.push(metric("ratio", f64::NAN));
                Ok(r)
            }
            "huge" => Ok(empty("x".repeat(2 << 20))),
            "table-mismatch" => {
                let mut r = empty("columns of different lengths".into());
                r.tables.push(Table {
                    name: "t".into(),
                    columns: vec![
                        Column {
                            name: "a".into(),
                            data: ColumnData::Integer(vec![Some(1), Some(2)]),
                        },
                        Column {
                            name: "b".into(),
                            data: ColumnData::Integer(vec![Some(1)]),
                        },
                    ],
                });
                Ok(r)
            }
            "refuse" => Err(AnalysisError::InvalidInput(
                "misbehave was asked to refuse".into(),
            )),
            other => Err(AnalysisError::BadParam(format!("unknown mode `{other}`"))),
        }
    }
}

export!(Misbehave);
