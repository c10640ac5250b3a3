//! The document a kp analysis plugin reads and the report it returns, defined once
//! for both sides of the contract (`plugins/wit/analysis.wit`, `kp:analysis@0.2.0`; a plugin of 0.1.0
//! declares no parameter kinds and returns no figures).
//!
//! The node builds a [`Document`] from a draft or a dataset, and its plugin host
//! (`kp-plugin-host`) hands it to a plugin and checks the [`Report`] it gets back; the
//! plugin SDK (`kp-plugin-sdk`) gives the same types to plugin authors and to their
//! native tests. Each side converts them to and from the bindings its WIT generator
//! makes, and nothing else: a plugin's native test and the node see the same values,
//! and a draft's text is split into sections by the one [`split_sections`].
//!
//! **Invariant:** this crate does no I/O and reads no clock; it is compiled into every
//! plugin (`wasm32-wasip2`), so it depends on `thiserror` alone unless the `serde`
//! feature (JSON forms) or the `csv` feature ([`csv::read`], the one CSV reader of
//! the node and of plugins' native tests) is on.
//!
//! # JSON (feature `serde`)
//!
//! The host enables `serde`, which derives `Serialize` and `Deserialize` on every
//! type. The JSON of a document is what `kp plugin run --input` reads:
//!
//! ```json
//! {"id": "...", "kind": "dataset", "heads": [], "title": "Top recipients",
//!  "themes": [7], "metadata": {"source": "World Bank"},
//!  "sections": [{"heading": "", "level": 0, "text": "..."}],
//!  "tables": [{"name": "data", "columns": [
//!     {"name": "year", "type": "integer", "values": [2010, null, 2012]}]}],
//!  "params": {"top": "5"}}
//! ```
//!
//! A report serialises to canonical JSON (`Report::canonical_json`): fields in a
//! fixed order, maps sorted, numbers in their shortest round-trip form, so the same
//! report is always the same bytes.

#![warn(missing_docs)]

#[cfg(feature = "csv")]
pub mod csv;
mod document;
mod error;
mod figure;
#[cfg(feature = "serde")]
mod json;
mod plugin;
mod report;
mod table;

pub use document::{DocKind, Document, Section, split_sections};
pub use error::AnalysisError;
pub use figure::{Bar, Chart, Figure, Histogram, Lines, Mark, Series};
pub use plugin::{Param, ParamKind, PluginInfo};
pub use report::{Finding, Metric, Report, Severity, TextRange, readable};
pub use table::{Column, ColumnData, Table};

/// Whether two names are the same but for case and surrounding spaces: how
/// metadata fields and columns are looked up.
fn same_name(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}
