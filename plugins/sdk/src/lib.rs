//! Write kp analysis plugins in plain Rust.
//!
//! A plugin is a WebAssembly component that implements the `kp:analysis@0.2.0`
//! contract (`plugins/wit/analysis.wit`). This crate hides the generated bindings:
//! implement [`Analysis`] on a type with plain Rust types, and export it with
//! [`export_analysis!`]. The types ([`Document`], [`Report`] and the rest) are those
//! of `kp-plugin-types`, the same ones the node's plugin host uses, so a native test
//! sees the document the node would hand the plugin.
//!
//! ```
//! use kp_plugin_sdk::{Analysis, AnalysisError, DocKind, Document, Param, PluginInfo, Report};
//!
//! /// Counts the rows of a dataset.
//! pub struct RowCount;
//!
//! impl Analysis for RowCount {
//!     fn describe() -> PluginInfo {
//!         PluginInfo {
//!             name: "row-count".into(),
//!             version: "0.1.0".into(),
//!             summary: "Counts the rows of a dataset".into(),
//!             kinds: vec![DocKind::Dataset],
//!             themes: vec![],
//!             params: vec![Param::new("min", "1", "fewest rows expected")],
//!         }
//!     }
//!
//!     fn analyze(doc: &Document) -> Result<Report, AnalysisError> {
//!         let rows = doc.table()?.row_count();
//!         let min: usize = doc.param_or("min", 1)?;
//!         let mut report = Report { summary: format!("{rows} rows."), ..Report::default() };
//!         report.metric("rows", rows as f64, "rows");
//!         if rows < min {
//!             report.finding(kp_plugin_sdk::Severity::Warning, format!("fewer than {min} rows"));
//!         }
//!         Ok(report)
//!     }
//! }
//!
//! kp_plugin_sdk::export_analysis!(RowCount);
//! ```
//!
//! # Native tests
//!
//! The export glue exists only when building for `wasm32`, so `cargo test` runs a
//! plugin natively: call [`run`] (which applies the parameters' defaults and refuses
//! unknown parameters, as the component does) and check the report with
//! [`check_report`]. With the `testing` feature, the `testing` module reads CSV files as
//! tables and splits a draft's text into sections with the node's own splitter.
//!
//! # Rules for deterministic reports
//!
//! Every partner's node must get the same report, byte for byte, from the same
//! plugin, document heads and parameters:
//!
//! - use `BTreeMap`/`BTreeSet`, never `HashMap`/`HashSet` (their order is random);
//! - never read a clock or a random source;
//! - keep no state in statics: every call gets a fresh instance;
//! - sort with a total order (`f64::total_cmp`, then a tie-breaker such as the
//!   name or the row), and emit metrics, findings and tables in a fixed order;
//! - return an [`AnalysisError`] instead of panicking: a panic is a trap, reported
//!   as a crash of the plugin.

// The crate names itself so that generated code and macros reach it by one path,
// inside this crate and in plugins alike.
extern crate self as kp_plugin_sdk;

pub mod log;

#[doc(hidden)]
pub mod glue;

#[cfg(feature = "testing")]
pub mod testing;

// One definition of the contract's types, shared with the node's plugin host.
pub use kp_plugin_types::{
    AnalysisError, Bar, Chart, Column, ColumnData, DocKind, Document, Figure, Finding, Histogram,
    Lines, Mark, Metric, Param, ParamKind, PluginInfo, Report, Section, Series, Severity, Table,
    TextRange, readable,
};

#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;

/// The bindings generated from the WIT contract; used by [`export_analysis!`].
#[doc(hidden)]
#[allow(
    unsafe_code,
    unreachable_pub,
    missing_debug_implementations,
    missing_docs
)]
pub mod __bindings {
    wit_bindgen::generate!({
        world: "analysis",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "__export_analysis_bindings",
        default_bindings_module: "kp_plugin_sdk::__bindings",
        runtime_path: "kp_plugin_sdk::__wit_bindgen::rt",
    });
}

/// The version of the contract this SDK builds plugins against.
pub const CONTRACT: &str = "kp:analysis@0.2.0";

/// An analysis: what the plugin is, and what it finds in a document.
pub trait Analysis {
    /// What the plugin is; must not depend on anything.
    fn describe() -> PluginInfo;

    /// Analyses one document. Parameters with defaults are always present.
    fn analyze(doc: &Document) -> Result<Report, AnalysisError>;
}

/// Exports a type implementing [`Analysis`] as the component's `analyzer`.
///
/// Use it once, at the root of the plugin's crate. It expands to nothing on native
/// targets, so `cargo test` works; the crate's `[lints.rust]` must not `forbid`
/// `unsafe_code`, because the export glue for `wasm32` implements the component ABI
/// (set it to `deny`: the glue allows it on itself alone).
#[macro_export]
macro_rules! export_analysis {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)]
        const _: () = {
            struct KpAnalysisExport;
            impl $crate::__bindings::exports::kp::analysis::analyzer::Guest for KpAnalysisExport {
                fn describe() -> $crate::__bindings::kp::analysis::types::PluginInfo {
                    $crate::glue::describe::<$plugin>()
                }
                fn analyze(
                    doc: $crate::__bindings::kp::analysis::types::Document,
                ) -> ::std::result::Result<
                    $crate::__bindings::kp::analysis::types::Report,
                    $crate::__bindings::kp::analysis::types::AnalysisError,
                > {
                    $crate::glue::analyze::<$plugin>(doc)
                }
            }
            $crate::__bindings::__export_analysis_bindings!(KpAnalysisExport with_types_in $crate::__bindings);
        };
    };
}

/// Runs an analysis as the node and the component do: refuses parameters the
/// plugin does not declare and values not of their parameter's kind, fills in the
/// defaults of parameters the caller left out, then analyses.
pub fn run<P: Analysis>(mut doc: Document) -> Result<Report, AnalysisError> {
    let info = P::describe();
    doc.params = info
        .apply_params(&doc.params)
        .map_err(AnalysisError::BadParam)?;
    if !info.kinds.contains(&doc.kind) {
        return Err(AnalysisError::Unsupported(format!(
            "{} analyses {}, and `{}` is a {}",
            info.name,
            info.kinds
                .iter()
                .map(|k| format!("{k}s"))
                .collect::<Vec<_>>()
                .join(" and "),
            doc.title,
            doc.kind
        )));
    }
    P::analyze(&doc)
}

/// A report that breaks the contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidReport {
    /// A finding's anchor names a section the document does not have.
    #[error("finding {finding}: section {section} does not exist")]
    NoSuchSection {
        /// Index of the finding.
        finding: usize,
        /// The section it names.
        section: u32,
    },
    /// A finding's anchor is not a range of its section's text on character boundaries.
    #[error(
        "finding {finding}: {start}..{end} is not a range of section {section} on character boundaries"
    )]
    BadRange {
        /// Index of the finding.
        finding: usize,
        /// The section.
        section: u32,
        /// Start offset.
        start: u32,
        /// End offset.
        end: u32,
    },
    /// A metric or a number cell is NaN or infinite.
    #[error("`{0}` is not a finite number")]
    NotFinite(String),
    /// A result table's columns have different lengths.
    #[error("table `{0}`: columns of different lengths")]
    Ragged(String),
    /// A figure cannot be drawn as it says ([`Figure::check`]).
    #[error("{0}")]
    Figure(String),
}

/// Checks what the plugin says it is as the node does at install
/// ([`PluginInfo::check`]): call it in a native test, so that a default of the
/// wrong kind fails there rather than at install.
pub fn check_describe<P: Analysis>() -> Result<(), String> {
    P::describe().check()
}

/// Checks a report against the contract's rules: anchors on character boundaries of
/// existing sections, finite numbers, rectangular tables, figures that can be drawn.
pub fn check_report(doc: &Document, report: &Report) -> Result<(), InvalidReport> {
    for (i, f) in report.findings.iter().enumerate() {
        let Some(a) = f.anchor else { continue };
        let text = &doc
            .sections
            .get(a.section as usize)
            .ok_or(InvalidReport::NoSuchSection {
                finding: i,
                section: a.section,
            })?
            .text;
        let (s, e) = (a.start as usize, a.end as usize);
        if s > e || e > text.len() || !text.is_char_boundary(s) || !text.is_char_boundary(e) {
            return Err(InvalidReport::BadRange {
                finding: i,
                section: a.section,
                start: a.start,
                end: a.end,
            });
        }
    }
    if let Some(m) = report.metrics.iter().find(|m| !m.value.is_finite()) {
        return Err(InvalidReport::NotFinite(m.name.clone()));
    }
    for t in &report.tables {
        if t.check_shape().is_err() {
            return Err(InvalidReport::Ragged(t.name.clone()));
        }
        for c in &t.columns {
            if let ColumnData::Number(v) = &c.data
                && v.iter().flatten().any(|x| !x.is_finite())
            {
                return Err(InvalidReport::NotFinite(format!("{}.{}", t.name, c.name)));
            }
        }
    }
    for f in &report.figures {
        f.check().map_err(InvalidReport::Figure)?;
    }
    Ok(())
}
