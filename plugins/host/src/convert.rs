//! Between the generated bindings of each contract version and the plain
//! types of `kp-plugin-types`. What the versions share is written once, in
//! [`shared!`]; each version adds what it has of its own.

/// The conversions both versions share (the document, the report's metrics,
/// findings and tables, a refusal), for the bindings module `$wit`.
macro_rules! shared {
    ($wit:path) => {
        use std::collections::BTreeMap;

        use $wit as wit;

        use crate::view::{self, DocKind, DocumentView};

        fn kind_to_wit(k: DocKind) -> wit::DocKind {
            match k {
                DocKind::Draft => wit::DocKind::Draft,
                DocKind::Dataset => wit::DocKind::Dataset,
            }
        }

        fn kind_from_wit(k: wit::DocKind) -> DocKind {
            match k {
                wit::DocKind::Draft => DocKind::Draft,
                wit::DocKind::Dataset => DocKind::Dataset,
            }
        }

        fn pairs(m: &BTreeMap<String, String>) -> Vec<(String, String)> {
            m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
        }

        fn table_to_wit(t: &view::Table) -> wit::Table {
            wit::Table {
                name: t.name.clone(),
                columns: t
                    .columns
                    .iter()
                    .map(|c| wit::Column {
                        name: c.name.clone(),
                        data: match &c.data {
                            view::ColumnData::Integer(v) => wit::ColumnData::Integer(v.clone()),
                            view::ColumnData::Number(v) => wit::ColumnData::Number(v.clone()),
                            view::ColumnData::Boolean(v) => wit::ColumnData::Boolean(v.clone()),
                            view::ColumnData::Text(v) => wit::ColumnData::Text(v.clone()),
                        },
                    })
                    .collect(),
            }
        }

        fn table_from_wit(t: wit::Table) -> view::Table {
            view::Table {
                name: t.name,
                columns: t
                    .columns
                    .into_iter()
                    .map(|c| view::Column {
                        name: c.name,
                        data: match c.data {
                            wit::ColumnData::Integer(v) => view::ColumnData::Integer(v),
                            wit::ColumnData::Number(v) => view::ColumnData::Number(v),
                            wit::ColumnData::Boolean(v) => view::ColumnData::Boolean(v),
                            wit::ColumnData::Text(v) => view::ColumnData::Text(v),
                        },
                    })
                    .collect(),
            }
        }

        /// The document as the plugin receives it.
        pub(crate) fn doc_to_wit(d: &DocumentView) -> wit::Document {
            wit::Document {
                id: d.id.clone(),
                kind: kind_to_wit(d.kind),
                heads: d.heads.clone(),
                title: d.title.clone(),
                themes: d.themes.clone(),
                metadata: pairs(&d.metadata),
                sections: d
                    .sections
                    .iter()
                    .map(|s| wit::Section {
                        heading: s.heading.clone(),
                        level: s.level,
                        text: s.text.clone(),
                    })
                    .collect(),
                tables: d.tables.iter().map(table_to_wit).collect(),
                params: pairs(&d.params),
            }
        }

        /// A report of its summary, metrics, findings and tables (and no
        /// figures).
        fn report_of(
            summary: String,
            metrics: Vec<wit::Metric>,
            findings: Vec<wit::Finding>,
            tables: Vec<wit::Table>,
        ) -> view::Report {
            let metrics = metrics
                .into_iter()
                .map(|m| view::Metric {
                    name: m.name,
                    value: m.value,
                    unit: m.unit,
                })
                .collect();
            let findings = findings
                .into_iter()
                .map(|f| view::Finding {
                    severity: match f.severity {
                        wit::Severity::Info => view::Severity::Info,
                        wit::Severity::Warning => view::Severity::Warning,
                        wit::Severity::Error => view::Severity::Error,
                    },
                    message: f.message,
                    anchor: f.anchor.map(|a| view::TextRange {
                        section: a.section,
                        start: a.start,
                        end: a.end,
                    }),
                })
                .collect();
            let tables = tables.into_iter().map(table_from_wit).collect();
            view::Report {
                summary,
                metrics,
                findings,
                tables,
                figures: Vec::new(),
            }
        }

        /// Why the plugin refused, for a reader.
        pub(crate) fn refusal(e: wit::AnalysisError) -> String {
            match e {
                wit::AnalysisError::Unsupported(m) => format!("unsupported: {m}"),
                wit::AnalysisError::BadParam(m) => format!("bad parameter: {m}"),
                wit::AnalysisError::InvalidInput(m) => format!("invalid input: {m}"),
            }
        }

        /// What the plugin says it is, with each parameter's kind.
        fn info_with(
            i: wit::PluginInfo,
            param: impl Fn(wit::Param) -> view::Param,
        ) -> view::PluginInfo {
            view::PluginInfo {
                name: i.name,
                version: i.version,
                summary: i.summary,
                kinds: i.kinds.into_iter().map(kind_from_wit).collect(),
                themes: i.themes,
                params: i.params.into_iter().map(param).collect(),
            }
        }
    };
}

/// Contract 0.2.0: typed parameters and figures.
pub(crate) mod v0_2 {
    shared!(crate::bindings::kp::analysis::types);

    /// What the plugin says it is.
    pub(crate) fn info_from_wit(i: wit::PluginInfo) -> view::PluginInfo {
        info_with(i, |p| view::Param {
            name: p.name,
            description: p.description,
            kind: match p.kind {
                wit::ParamKind::Text => view::ParamKind::Text,
                wit::ParamKind::Integer => view::ParamKind::Integer,
                wit::ParamKind::Number => view::ParamKind::Number,
                wit::ParamKind::Boolean => view::ParamKind::Boolean,
                wit::ParamKind::Choice(words) => view::ParamKind::Choice(words),
            },
            default: p.default,
        })
    }

    fn figure_from_wit(f: wit::Figure) -> view::Figure {
        view::Figure {
            title: f.title,
            unit: f.unit,
            chart: match f.chart {
                wit::Chart::Lines(l) => view::Chart::Lines(view::Lines {
                    axis: l.axis,
                    x: l.x,
                    labels: l.labels,
                    series: l
                        .series
                        .into_iter()
                        .map(|s| view::Series {
                            name: s.name,
                            values: s.values,
                        })
                        .collect(),
                }),
                wit::Chart::Bars(bars) => view::Chart::Bars(
                    bars.into_iter()
                        .map(|b| view::Bar {
                            label: b.label,
                            value: b.value,
                        })
                        .collect(),
                ),
                wit::Chart::Histogram(h) => view::Chart::Histogram(view::Histogram {
                    edges: h.edges,
                    counts: h.counts,
                }),
            },
            marks: f
                .marks
                .into_iter()
                .map(|m| view::Mark {
                    label: m.label,
                    value: m.value,
                })
                .collect(),
        }
    }

    /// The plugin's report.
    pub(crate) fn report_from_wit(r: wit::Report) -> view::Report {
        view::Report {
            figures: r.figures.into_iter().map(figure_from_wit).collect(),
            ..report_of(r.summary, r.metrics, r.findings, r.tables)
        }
    }
}

/// Contract 0.1.0: parameters are text, reports have no figures.
pub(crate) mod v0_1 {
    shared!(crate::bindings_0_1::kp::analysis::types);

    /// What the plugin says it is.
    pub(crate) fn info_from_wit(i: wit::PluginInfo) -> view::PluginInfo {
        info_with(i, |p| view::Param {
            name: p.name,
            description: p.description,
            kind: view::ParamKind::Text,
            default: p.default,
        })
    }

    /// The plugin's report.
    pub(crate) fn report_from_wit(r: wit::Report) -> view::Report {
        report_of(r.summary, r.metrics, r.findings, r.tables)
    }
}
