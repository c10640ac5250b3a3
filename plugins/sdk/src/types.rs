//! Plain Rust types that mirror the WIT contract, and the helpers plugins use on them.

use std::fmt::Display;
use std::str::FromStr;

/// What kind of document a view holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DocKind {
    /// A draft: its text, split into sections.
    Draft,
    /// A dataset: one table.
    Dataset,
}

impl DocKind {
    /// The kind's name as the contract spells it: `draft` or `dataset`.
    pub fn as_str(self) -> &'static str {
        match self {
            DocKind::Draft => "draft",
            DocKind::Dataset => "dataset",
        }
    }
}

impl Display for DocKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A range of a section's text: UTF-8 byte offsets, start inclusive, end exclusive,
/// on character boundaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TextRange {
    /// Index into [`Document::sections`].
    pub section: u32,
    /// First byte of the range.
    pub start: u32,
    /// One past the last byte of the range.
    pub end: u32,
}

/// A part of a draft's text: a line starting with `#` opens a section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The heading, without the `#` marks; empty for text before the first heading.
    pub heading: String,
    /// The number of `#` of the heading (0 for text before the first heading).
    pub level: u8,
    /// The section's text after its heading line.
    pub text: String,
}

/// A column's cells, typed; `None` is an empty cell.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnData {
    /// Whole numbers.
    Integer(Vec<Option<i64>>),
    /// Decimal numbers.
    Number(Vec<Option<f64>>),
    /// True or false.
    Boolean(Vec<Option<bool>>),
    /// Anything else.
    Text(Vec<Option<String>>),
}

/// A named, typed column of a table.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// The column's name, as in the dataset's header.
    pub name: String,
    /// Its cells.
    pub data: ColumnData,
}

/// A table; every column has the same number of cells.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// The table's name.
    pub name: String,
    /// Its columns, in order.
    pub columns: Vec<Column>,
}

/// The copy of a document a plugin analyses.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The document's id.
    pub id: String,
    /// Draft or dataset.
    pub kind: DocKind,
    /// The automerge heads the view was taken at.
    pub heads: Vec<String>,
    /// The document's title.
    pub title: String,
    /// The space's themes (1 to 11).
    pub themes: Vec<u8>,
    /// Other fields by name: for a draft `type`, `status`, `authors`; for a dataset
    /// `source`, `licence`.
    pub metadata: Vec<(String, String)>,
    /// A draft's text; empty for a dataset.
    pub sections: Vec<Section>,
    /// A dataset's table; empty for a draft.
    pub tables: Vec<Table>,
    /// The caller's parameters, after the plugin's defaults were applied.
    pub params: Vec<(String, String)>,
}

/// A parameter a plugin accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// Its name: lower-case words joined by `-`.
    pub name: String,
    /// One line: what it sets, with its unit.
    pub description: String,
    /// Used when the caller gives none; `None` means the parameter is optional.
    pub default: Option<String>,
}

impl Param {
    /// A parameter with a default value.
    pub fn new(name: &str, default: &str, description: &str) -> Param {
        Param {
            name: name.to_owned(),
            description: description.to_owned(),
            default: Some(default.to_owned()),
        }
    }

    /// An optional parameter, without a default.
    pub fn optional(name: &str, description: &str) -> Param {
        Param {
            name: name.to_owned(),
            description: description.to_owned(),
            default: None,
        }
    }
}

/// What a plugin is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    /// Lower-case words joined by `-`, unique among a node's plugins.
    pub name: String,
    /// Semantic version of the plugin.
    pub version: String,
    /// One line: what the analysis does.
    pub summary: String,
    /// Which kinds of document it analyses.
    pub kinds: Vec<DocKind>,
    /// Which themes it is for; empty for all.
    pub themes: Vec<u8>,
    /// The parameters it accepts.
    pub params: Vec<Param>,
}

/// A named value in a report.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// What it measures.
    pub name: String,
    /// Its value; always finite.
    pub value: f64,
    /// For example `%`, `USD`, `words`; empty for a pure number.
    pub unit: String,
}

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Worth acting on.
    Warning,
    /// Wrong.
    Error,
}

/// Something the analysis found, possibly anchored to a passage of the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// How much it matters.
    pub severity: Severity,
    /// What was found, for a reader.
    pub message: String,
    /// Where in the text it applies, if anywhere.
    pub anchor: Option<TextRange>,
}

impl Finding {
    /// A finding about the whole document.
    pub fn new(severity: Severity, message: impl Into<String>) -> Finding {
        Finding {
            severity,
            message: message.into(),
            anchor: None,
        }
    }

    /// A finding about one passage of the text.
    pub fn anchored(severity: Severity, message: impl Into<String>, anchor: TextRange) -> Finding {
        Finding {
            severity,
            message: message.into(),
            anchor: Some(anchor),
        }
    }
}

/// What an analysis returns.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Report {
    /// A few sentences for a reader.
    pub summary: String,
    /// Named values with units.
    pub metrics: Vec<Metric>,
    /// Findings, in the order the plugin chose.
    pub findings: Vec<Finding>,
    /// Result tables.
    pub tables: Vec<Table>,
}

impl Report {
    /// Adds a metric.
    pub fn metric(&mut self, name: impl Into<String>, value: f64, unit: &str) {
        self.metrics.push(Metric {
            name: name.into(),
            value,
            unit: unit.to_owned(),
        });
    }

    /// Adds a finding about the whole document.
    pub fn finding(&mut self, severity: Severity, message: impl Into<String>) {
        self.findings.push(Finding::new(severity, message));
    }

    /// Adds a finding anchored to a passage of the text.
    pub fn anchored(&mut self, severity: Severity, message: impl Into<String>, anchor: TextRange) {
        self.findings
            .push(Finding::anchored(severity, message, anchor));
    }

    /// The metric of that name, if the report has one.
    pub fn get_metric(&self, name: &str) -> Option<&Metric> {
        self.metrics.iter().find(|m| m.name == name)
    }

    /// The table of that name, if the report has one.
    pub fn get_table(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.name == name)
    }
}

/// Why a plugin could not analyse a document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnalysisError {
    /// The document is not what the plugin analyses (kind, missing column...).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A parameter is missing or malformed.
    #[error("bad parameter: {0}")]
    BadParam(String),
    /// The data is present but unusable.
    #[error("invalid input: {0}")]
    InvalidInput(String),
}

fn same_name(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

impl Document {
    /// The parameter's value, if the caller (or the plugin's default) gave one.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The parameter parsed as `T`; `Ok(None)` when it is absent or blank, a
    /// [`AnalysisError::BadParam`] naming the parameter when it does not parse.
    pub fn param_as<T>(&self, name: &str) -> Result<Option<T>, AnalysisError>
    where
        T: FromStr,
        T::Err: Display,
    {
        match self.param(name).map(str::trim) {
            None | Some("") => Ok(None),
            Some(raw) => raw.parse().map(Some).map_err(|e| {
                AnalysisError::BadParam(format!(
                    "parameter `{name}`: cannot read `{raw}` as {}: {e}",
                    readable_type::<T>()
                ))
            }),
        }
    }

    /// The parameter parsed as `T`, or `default` when it is absent.
    pub fn param_or<T>(&self, name: &str, default: T) -> Result<T, AnalysisError>
    where
        T: FromStr,
        T::Err: Display,
    {
        Ok(self.param_as(name)?.unwrap_or(default))
    }

    /// A number parameter that must be finite and within `min..=max`.
    pub fn param_number(
        &self,
        name: &str,
        default: f64,
        min: f64,
        max: f64,
    ) -> Result<f64, AnalysisError> {
        let v: f64 = self.param_or(name, default)?;
        if v.is_finite() && v >= min && v <= max {
            Ok(v)
        } else {
            Err(AnalysisError::BadParam(format!(
                "parameter `{name}`: {v} is outside {min} to {max}"
            )))
        }
    }

    /// A comma-separated list parameter: items trimmed, empty items dropped; empty
    /// when the parameter is absent.
    pub fn param_list(&self, name: &str) -> Vec<String> {
        self.param(name)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A metadata field, by name (case-insensitive).
    pub fn metadata(&self, key: &str) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(k, _)| same_name(k, key))
            .map(|(_, v)| v.as_str())
    }

    /// Refuses, as [`AnalysisError::Unsupported`], a document of another kind.
    pub fn require_kind(&self, kind: DocKind) -> Result<(), AnalysisError> {
        if self.kind == kind {
            Ok(())
        } else {
            Err(AnalysisError::Unsupported(format!(
                "this plugin analyses a {kind}, and `{}` is a {}",
                self.title, self.kind
            )))
        }
    }

    /// The dataset's table (the first one); [`AnalysisError::Unsupported`] when the
    /// document is not a dataset or has no table.
    pub fn table(&self) -> Result<&Table, AnalysisError> {
        self.require_kind(DocKind::Dataset)?;
        self.tables.first().ok_or_else(|| {
            AnalysisError::Unsupported(format!("the dataset `{}` has no table", self.title))
        })
    }
}

fn readable_type<T>() -> &'static str {
    let name = std::any::type_name::<T>();
    match name {
        "f64" | "f32" => "a number",
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number of 0 or more",
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number",
        "bool" => "true or false",
        _ => name,
    }
}

impl Table {
    /// The number of rows (the length of the first column; 0 without columns).
    pub fn row_count(&self) -> usize {
        self.columns.first().map_or(0, Column::len)
    }

    /// The column of that name, matched case-insensitively and ignoring surrounding
    /// spaces.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| same_name(&c.name, name))
    }

    /// The first column found among `names`, tried in order.
    pub fn find_column<S: AsRef<str>>(&self, names: &[S]) -> Option<&Column> {
        names.iter().find_map(|n| self.column(n.as_ref()))
    }

    /// The column of that name, or [`AnalysisError::Unsupported`] listing the
    /// table's columns.
    pub fn require_column(&self, name: &str) -> Result<&Column, AnalysisError> {
        self.column(name).ok_or_else(|| {
            AnalysisError::Unsupported(format!(
                "the table has no column `{name}` (it has: {})",
                self.column_names()
            ))
        })
    }

    /// The column names, comma-separated, for messages.
    pub fn column_names(&self) -> String {
        self.columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Checks that every column has as many cells as the first one.
    pub fn check_shape(&self) -> Result<(), AnalysisError> {
        let rows = self.row_count();
        match self.columns.iter().find(|c| c.len() != rows) {
            Some(c) => Err(AnalysisError::InvalidInput(format!(
                "column `{}` has {} cells, the table has {rows} rows",
                c.name,
                c.len()
            ))),
            None => Ok(()),
        }
    }
}

impl Column {
    /// A number column.
    pub fn number(name: &str, values: Vec<Option<f64>>) -> Column {
        Column {
            name: name.to_owned(),
            data: ColumnData::Number(values),
        }
    }

    /// An integer column.
    pub fn integer(name: &str, values: Vec<Option<i64>>) -> Column {
        Column {
            name: name.to_owned(),
            data: ColumnData::Integer(values),
        }
    }

    /// A text column.
    pub fn text(name: &str, values: Vec<Option<String>>) -> Column {
        Column {
            name: name.to_owned(),
            data: ColumnData::Text(values),
        }
    }

    /// The number of cells.
    pub fn len(&self) -> usize {
        match &self.data {
            ColumnData::Integer(v) => v.len(),
            ColumnData::Number(v) => v.len(),
            ColumnData::Boolean(v) => v.len(),
            ColumnData::Text(v) => v.len(),
        }
    }

    /// Whether the column has no cells.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The column's type as the contract names it.
    pub fn type_name(&self) -> &'static str {
        match &self.data {
            ColumnData::Integer(_) => "integer",
            ColumnData::Number(_) => "number",
            ColumnData::Boolean(_) => "boolean",
            ColumnData::Text(_) => "text",
        }
    }

    /// An integer or number column's cells as `f64` (a column with no value at all
    /// gives empty cells); [`AnalysisError::Unsupported`] for a boolean or text column.
    pub fn numbers(&self) -> Result<Vec<Option<f64>>, AnalysisError> {
        match &self.data {
            // i64 → f64 is exact below 2^53, far beyond any count or amount here.
            #[allow(clippy::cast_precision_loss)]
            ColumnData::Integer(v) => Ok(v.iter().map(|c| c.map(|n| n as f64)).collect()),
            ColumnData::Number(v) => Ok(v.clone()),
            // A column with no value at all is typed text by an import: it has no
            // numbers, but it is not the wrong kind of column either.
            ColumnData::Text(v)
                if v.iter()
                    .all(|c| c.as_deref().is_none_or(|s| s.trim().is_empty())) =>
            {
                Ok(vec![None; v.len()])
            }
            _ => Err(self.not_numeric()),
        }
    }

    /// Whole numbers: an integer column as it is, a number column whose values are
    /// whole, or a text column of whole numbers (a year written `2011`). A value
    /// that is not whole is [`AnalysisError::InvalidInput`].
    pub fn integers(&self) -> Result<Vec<Option<i64>>, AnalysisError> {
        let bad = |row: usize, v: &dyn Display| {
            AnalysisError::InvalidInput(format!(
                "column `{}`, row {}: `{v}` is not a whole number",
                self.name,
                row + 1
            ))
        };
        match &self.data {
            ColumnData::Integer(v) => Ok(v.clone()),
            ColumnData::Number(v) => v
                .iter()
                .enumerate()
                .map(|(i, c)| match c {
                    None => Ok(None),
                    // The range check makes the cast exact.
                    #[allow(clippy::cast_possible_truncation)]
                    Some(x) if x.fract() == 0.0 && x.abs() < 9.0e15 => Ok(Some(*x as i64)),
                    Some(x) => Err(bad(i, x)),
                })
                .collect(),
            ColumnData::Text(v) => v
                .iter()
                .enumerate()
                .map(|(i, c)| match c.as_deref().map(str::trim) {
                    None | Some("") => Ok(None),
                    Some(s) => s.parse().map(Some).map_err(|_| bad(i, &s)),
                })
                .collect(),
            ColumnData::Boolean(_) => Err(self.not_numeric()),
        }
    }

    /// The cells as text: text as it is, numbers and booleans written out; an empty
    /// or blank cell is `None`.
    pub fn texts(&self) -> Vec<Option<String>> {
        match &self.data {
            ColumnData::Integer(v) => v.iter().map(|c| c.map(|n| n.to_string())).collect(),
            ColumnData::Number(v) => v.iter().map(|c| c.map(|n| n.to_string())).collect(),
            ColumnData::Boolean(v) => v.iter().map(|c| c.map(|b| b.to_string())).collect(),
            ColumnData::Text(v) => v
                .iter()
                .map(|c| {
                    c.as_deref()
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                })
                .collect(),
        }
    }

    fn not_numeric(&self) -> AnalysisError {
        AnalysisError::Unsupported(format!(
            "column `{}` holds {} values, not numbers",
            self.name,
            self.type_name()
        ))
    }
}
