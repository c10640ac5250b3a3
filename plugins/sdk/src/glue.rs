//! Between the generated bindings and the plain types: used by
//! [`export_analysis!`](crate::export_analysis) and by [`run`](crate::run).

use crate::__bindings::kp::analysis::types as wit;
use crate::{Analysis, run};
use crate::{
    AnalysisError, Chart, Column, ColumnData, DocKind, Document, Figure, Finding, Metric, Param,
    ParamKind, PluginInfo, Report, Section, Severity, Table, TextRange,
};

/// `describe` for the bindings.
pub fn describe<P: Analysis>() -> wit::PluginInfo {
    quiet_panics();
    info_to_wit(P::describe())
}

/// A panic says what and where, and nothing about backtraces: a plugin's
/// user cannot set `RUST_BACKTRACE` in the node's sandbox.
fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::panic::set_hook(Box::new(|info| eprintln!("{info}"))));
}

/// `analyze` for the bindings: converts, applies defaults, analyses, converts back.
pub fn analyze<P: Analysis>(doc: wit::Document) -> Result<wit::Report, wit::AnalysisError> {
    quiet_panics();
    run::<P>(document_from_wit(doc))
        .map(report_to_wit)
        .map_err(error_to_wit)
}

fn kind_from_wit(k: wit::DocKind) -> DocKind {
    match k {
        wit::DocKind::Draft => DocKind::Draft,
        wit::DocKind::Dataset => DocKind::Dataset,
    }
}

fn kind_to_wit(k: DocKind) -> wit::DocKind {
    match k {
        DocKind::Draft => wit::DocKind::Draft,
        DocKind::Dataset => wit::DocKind::Dataset,
    }
}

fn data_from_wit(d: wit::ColumnData) -> ColumnData {
    match d {
        wit::ColumnData::Integer(v) => ColumnData::Integer(v),
        wit::ColumnData::Number(v) => ColumnData::Number(v),
        wit::ColumnData::Boolean(v) => ColumnData::Boolean(v),
        wit::ColumnData::Text(v) => ColumnData::Text(v),
    }
}

fn data_to_wit(d: ColumnData) -> wit::ColumnData {
    match d {
        ColumnData::Integer(v) => wit::ColumnData::Integer(v),
        ColumnData::Number(v) => wit::ColumnData::Number(v),
        ColumnData::Boolean(v) => wit::ColumnData::Boolean(v),
        ColumnData::Text(v) => wit::ColumnData::Text(v),
    }
}

fn table_from_wit(t: wit::Table) -> Table {
    Table {
        name: t.name,
        columns: t
            .columns
            .into_iter()
            .map(|c| Column {
                name: c.name,
                data: data_from_wit(c.data),
            })
            .collect(),
    }
}

fn table_to_wit(t: Table) -> wit::Table {
    wit::Table {
        name: t.name,
        columns: t
            .columns
            .into_iter()
            .map(|c| wit::Column {
                name: c.name,
                data: data_to_wit(c.data),
            })
            .collect(),
    }
}

fn document_from_wit(d: wit::Document) -> Document {
    Document {
        id: d.id,
        kind: kind_from_wit(d.kind),
        heads: d.heads,
        title: d.title,
        themes: d.themes,
        metadata: d.metadata.into_iter().collect(),
        sections: d
            .sections
            .into_iter()
            .map(|s| Section {
                heading: s.heading,
                level: s.level,
                text: s.text,
            })
            .collect(),
        tables: d.tables.into_iter().map(table_from_wit).collect(),
        params: d.params.into_iter().collect(),
    }
}

fn info_to_wit(i: PluginInfo) -> wit::PluginInfo {
    wit::PluginInfo {
        name: i.name,
        version: i.version,
        summary: i.summary,
        kinds: i.kinds.into_iter().map(kind_to_wit).collect(),
        themes: i.themes,
        params: i
            .params
            .into_iter()
            .map(
                |Param {
                     name,
                     description,
                     kind,
                     default,
                 }| wit::Param {
                    name,
                    description,
                    kind: match kind {
                        ParamKind::Text => wit::ParamKind::Text,
                        ParamKind::Integer => wit::ParamKind::Integer,
                        ParamKind::Number => wit::ParamKind::Number,
                        ParamKind::Boolean => wit::ParamKind::Boolean,
                        ParamKind::Choice(words) => wit::ParamKind::Choice(words),
                    },
                    default,
                },
            )
            .collect(),
    }
}

fn severity_to_wit(s: Severity) -> wit::Severity {
    match s {
        Severity::Info => wit::Severity::Info,
        Severity::Warning => wit::Severity::Warning,
        Severity::Error => wit::Severity::Error,
    }
}

fn report_to_wit(r: Report) -> wit::Report {
    wit::Report {
        summary: r.summary,
        metrics: r
            .metrics
            .into_iter()
            .map(|Metric { name, value, unit }| wit::Metric { name, value, unit })
            .collect(),
        findings: r
            .findings
            .into_iter()
            .map(|f: Finding| wit::Finding {
                severity: severity_to_wit(f.severity),
                message: f.message,
                anchor: f.anchor.map(
                    |TextRange {
                         section,
                         start,
                         end,
                     }| wit::TextRange {
                        section,
                        start,
                        end,
                    },
                ),
            })
            .collect(),
        tables: r.tables.into_iter().map(table_to_wit).collect(),
        figures: r.figures.into_iter().map(figure_to_wit).collect(),
    }
}

fn figure_to_wit(f: Figure) -> wit::Figure {
    wit::Figure {
        title: f.title,
        unit: f.unit,
        chart: match f.chart {
            Chart::Lines(l) => wit::Chart::Lines(wit::Lines {
                axis: l.axis,
                x: l.x,
                labels: l.labels,
                series: l
                    .series
                    .into_iter()
                    .map(|s| wit::Series {
                        name: s.name,
                        values: s.values,
                    })
                    .collect(),
            }),
            Chart::Bars(bars) => wit::Chart::Bars(
                bars.into_iter()
                    .map(|b| wit::Bar {
                        label: b.label,
                        value: b.value,
                    })
                    .collect(),
            ),
            Chart::Histogram(h) => wit::Chart::Histogram(wit::Histogram {
                edges: h.edges,
                counts: h.counts,
            }),
        },
        marks: f
            .marks
            .into_iter()
            .map(|m| wit::Mark {
                label: m.label,
                value: m.value,
            })
            .collect(),
    }
}

fn error_to_wit(e: AnalysisError) -> wit::AnalysisError {
    match e {
        AnalysisError::Unsupported(m) => wit::AnalysisError::Unsupported(m),
        AnalysisError::BadParam(m) => wit::AnalysisError::BadParam(m),
        AnalysisError::InvalidInput(m) => wit::AnalysisError::InvalidInput(m),
    }
}
