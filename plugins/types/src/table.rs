//! Tables of named, typed columns: a dataset's table and a report's result tables.

use std::fmt::Display;

use crate::{AnalysisError, same_name};

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

impl ColumnData {
    /// The number of cells.
    pub fn len(&self) -> usize {
        match self {
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

    /// The type's name as the contract and the JSON form spell it: `integer`,
    /// `number`, `boolean` or `text`.
    pub fn type_name(&self) -> &'static str {
        match self {
            ColumnData::Integer(_) => "integer",
            ColumnData::Number(_) => "number",
            ColumnData::Boolean(_) => "boolean",
            ColumnData::Text(_) => "text",
        }
    }
}

/// A named, typed column of a table.
///
/// With the `serde` feature its JSON form is `{"name", "type", "values"}`, `type`
/// being [`ColumnData::type_name`] and `values` the cells, `null` for an empty one.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(into = "crate::json::RawColumn", try_from = "crate::json::RawColumn")
)]
pub struct Column {
    /// The column's name, as in the dataset's header.
    pub name: String,
    /// Its cells.
    pub data: ColumnData,
}

/// A table; every column has the same number of cells.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct Table {
    /// The table's name.
    pub name: String,
    /// Its columns, in order.
    #[cfg_attr(feature = "serde", serde(default))]
    pub columns: Vec<Column>,
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
        self.data.len()
    }

    /// Whether the column has no cells.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The column's type as the contract names it.
    pub fn type_name(&self) -> &'static str {
        self.data.type_name()
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
