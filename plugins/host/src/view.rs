//! The document view a plugin receives and the report it returns, as plain Rust
//! types with their JSON form.
//!
//! The JSON of a document view is what `kp plugin run --input` reads:
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
//! A report serialises to canonical JSON: fields in a fixed order, maps sorted,
//! numbers in their shortest round-trip form, so the same report is always the
//! same bytes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What kind of document a view holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DocKind {
    /// A draft: text split into sections.
    Draft,
    /// A dataset: one table.
    Dataset,
}

impl DocKind {
    /// The word used in JSON and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            DocKind::Draft => "draft",
            DocKind::Dataset => "dataset",
        }
    }
}

/// A part of a draft's text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Section {
    /// The heading, without its `#` marks; empty before the first heading.
    #[serde(default)]
    pub heading: String,
    /// The number of `#`; 0 for text before the first heading.
    #[serde(default)]
    pub level: u8,
    /// The text after the heading line.
    #[serde(default)]
    pub text: String,
}

/// A column's cells, typed; `None` is an empty cell.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnData {
    /// Whole numbers.
    Integer(Vec<Option<i64>>),
    /// Decimal numbers.
    Number(Vec<Option<f64>>),
    /// Truth values.
    Boolean(Vec<Option<bool>>),
    /// Text.
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

    /// The type's name: `integer`, `number`, `boolean` or `text`.
    pub fn type_name(&self) -> &'static str {
        match self {
            ColumnData::Integer(_) => "integer",
            ColumnData::Number(_) => "number",
            ColumnData::Boolean(_) => "boolean",
            ColumnData::Text(_) => "text",
        }
    }
}

/// A named, typed column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "RawColumn", try_from = "RawColumn")]
pub struct Column {
    /// Its name.
    pub name: String,
    /// Its cells.
    pub data: ColumnData,
}

/// The JSON form of a column: `{"name", "type", "values"}`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawColumn {
    name: String,
    #[serde(rename = "type")]
    column_type: String,
    values: Vec<serde_json::Value>,
}

impl From<Column> for RawColumn {
    fn from(c: Column) -> Self {
        use serde_json::Value;
        fn cells<T>(v: Vec<Option<T>>, f: impl Fn(T) -> Value) -> Vec<Value> {
            v.into_iter().map(|x| x.map_or(Value::Null, &f)).collect()
        }
        let column_type = c.data.type_name().to_owned();
        let values = match c.data {
            ColumnData::Integer(v) => cells(v, Value::from),
            // A non-finite number has no JSON form; reports are checked before
            // they are serialised, so this only affects hand-made values.
            ColumnData::Number(v) => cells(v, Value::from),
            ColumnData::Boolean(v) => cells(v, Value::from),
            ColumnData::Text(v) => cells(v, Value::from),
        };
        RawColumn {
            name: c.name,
            column_type,
            values,
        }
    }
}

impl TryFrom<RawColumn> for Column {
    type Error = String;

    fn try_from(raw: RawColumn) -> Result<Self, String> {
        use serde_json::Value;
        let name = raw.name;
        let bad = |i: usize, what: &str| {
            format!("column `{name}`: value {} is not {what} or null", i + 1)
        };
        let data = match raw.column_type.as_str() {
            "integer" => ColumnData::Integer(
                raw.values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| match v {
                        Value::Null => Ok(None),
                        v => v.as_i64().map(Some).ok_or_else(|| bad(i, "an integer")),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            "number" => ColumnData::Number(
                raw.values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| match v {
                        Value::Null => Ok(None),
                        v => v.as_f64().map(Some).ok_or_else(|| bad(i, "a number")),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            "boolean" => ColumnData::Boolean(
                raw.values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| match v {
                        Value::Null => Ok(None),
                        v => v.as_bool().map(Some).ok_or_else(|| bad(i, "true, false")),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            "text" => ColumnData::Text(
                raw.values
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| match v {
                        Value::Null => Ok(None),
                        Value::String(s) => Ok(Some(s)),
                        _ => Err(bad(i, "a string")),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            other => {
                return Err(format!(
                    "column `{name}`: type `{other}` is not one of integer, number, boolean, text"
                ));
            }
        };
        Ok(Column { name, data })
    }
}

/// A table; every column has the same number of cells.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Table {
    /// Its name.
    pub name: String,
    /// Its columns.
    #[serde(default)]
    pub columns: Vec<Column>,
}

/// The copy of a document a plugin analyses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentView {
    /// The document's id.
    pub id: String,
    /// Draft or dataset.
    pub kind: DocKind,
    /// The automerge heads (hex) the view was taken at.
    #[serde(default)]
    pub heads: Vec<String>,
    /// Its title.
    #[serde(default)]
    pub title: String,
    /// The space's themes, 1 to 11.
    #[serde(default)]
    pub themes: Vec<u8>,
    /// Other fields, by name.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// A draft's text.
    #[serde(default)]
    pub sections: Vec<Section>,
    /// A dataset's table.
    #[serde(default)]
    pub tables: Vec<Table>,
    /// The parameters, after the plugin's defaults were applied.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
}

/// Splits a draft's body into sections: a line starting with `#` opens one
/// (its heading without the marks; `level` is the number of `#`); text before
/// the first heading is a section with an empty heading (left out when empty).
pub fn split_sections(body: &str) -> Vec<Section> {
    let mut sections = Vec::new();
    let mut current = Section {
        heading: String::new(),
        level: 0,
        text: String::new(),
    };
    for line in body.split_inclusive('\n') {
        if line.starts_with('#') {
            if current.level > 0 || !current.text.is_empty() {
                sections.push(current);
            }
            let marks = line.bytes().take_while(|b| *b == b'#').count();
            current = Section {
                heading: line[marks..].trim().to_owned(),
                level: u8::try_from(marks).unwrap_or(u8::MAX),
                text: String::new(),
            };
        } else {
            current.text.push_str(line);
        }
    }
    if current.level > 0 || !current.text.is_empty() {
        sections.push(current);
    }
    sections
}

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// For information.
    Info,
    /// Worth a look.
    Warning,
    /// Wrong.
    Error,
}

/// A range of a section's text: UTF-8 byte offsets, end exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextRange {
    /// Index into the document's sections.
    pub section: u32,
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
}

/// A named figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metric {
    /// Its name.
    pub name: String,
    /// Its value (always finite in a checked report).
    pub value: f64,
    /// Its unit; empty for a pure number.
    #[serde(default)]
    pub unit: String,
}

/// Something the analysis found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    /// How serious.
    pub severity: Severity,
    /// What, for a reader.
    pub message: String,
    /// Where in the text, if anywhere.
    #[serde(default)]
    pub anchor: Option<TextRange>,
}

/// What a plugin returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// A few sentences for a reader.
    pub summary: String,
    /// Named figures.
    #[serde(default)]
    pub metrics: Vec<Metric>,
    /// Findings.
    #[serde(default)]
    pub findings: Vec<Finding>,
    /// Result tables.
    #[serde(default)]
    pub tables: Vec<Table>,
}

impl Report {
    /// The canonical JSON bytes of the report: the same report always gives
    /// the same bytes.
    pub fn canonical_json(&self) -> Vec<u8> {
        // Serialising plain structs, vectors and strings cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// A parameter a plugin accepts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Param {
    /// Its name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// Used when the caller gives none; `None`: the parameter is optional.
    pub default: Option<String>,
}

/// What a plugin says it is (its `describe`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginInfo {
    /// Lower-case words joined by `-`.
    pub name: String,
    /// Semantic version.
    pub version: String,
    /// One line: what it does.
    pub summary: String,
    /// The kinds of document it analyses.
    pub kinds: Vec<DocKind>,
    /// The themes it is for; empty for all.
    pub themes: Vec<u8>,
    /// Its parameters.
    pub params: Vec<Param>,
}

impl PluginInfo {
    /// Fails unless the plugin analyses documents of `kind` in a space with
    /// `themes`.
    pub fn check_applies(&self, kind: DocKind, themes: &[u8]) -> Result<(), String> {
        if !self.kinds.contains(&kind) {
            let kinds: Vec<&str> = self.kinds.iter().map(|k| k.as_str()).collect();
            return Err(format!(
                "plugin {} analyses {} documents, not a {}",
                self.name,
                kinds.join(" and "),
                kind.as_str()
            ));
        }
        if !self.themes.is_empty() && !themes.iter().any(|t| self.themes.contains(t)) {
            let want: Vec<String> = self.themes.iter().map(u8::to_string).collect();
            let have: Vec<String> = themes.iter().map(u8::to_string).collect();
            return Err(format!(
                "plugin {} is for themes {}; this document's space has theme {}",
                self.name,
                want.join(", "),
                if have.is_empty() {
                    "none".to_owned()
                } else {
                    have.join(", ")
                }
            ));
        }
        Ok(())
    }

    /// The parameters a run gets: `given`, plus each default the caller did not
    /// override. An unknown parameter is refused, naming the ones accepted.
    pub fn apply_params(
        &self,
        given: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, String> {
        for name in given.keys() {
            if !self.params.iter().any(|p| &p.name == name) {
                let known: Vec<&str> = self.params.iter().map(|p| p.name.as_str()).collect();
                return Err(format!(
                    "plugin {} has no parameter `{name}`; it accepts: {}",
                    self.name,
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ));
            }
        }
        let mut out = given.clone();
        for p in &self.params {
            if let Some(d) = &p.default {
                out.entry(p.name.clone()).or_insert_with(|| d.clone());
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_split_on_headings() {
        let s = split_sections("intro\n# One\nbody 1\n## Two two\nbody 2\n");
        assert_eq!(s.len(), 3);
        assert_eq!((s[0].heading.as_str(), s[0].level), ("", 0));
        assert_eq!(s[0].text, "intro\n");
        assert_eq!((s[1].heading.as_str(), s[1].level), ("One", 1));
        assert_eq!(s[1].text, "body 1\n");
        assert_eq!((s[2].heading.as_str(), s[2].level), ("Two two", 2));
        assert_eq!(s[2].text, "body 2\n");
        assert!(split_sections("").is_empty());
        assert_eq!(split_sections("# Only\n").len(), 1);
    }

    #[test]
    fn documents_round_trip_through_json_and_bad_cells_are_refused() {
        let json = r#"{"id":"d","kind":"dataset","themes":[7],
            "tables":[{"name":"t","columns":[
              {"name":"y","type":"integer","values":[2010,null]},
              {"name":"x","type":"number","values":[1.5,2]},
              {"name":"ok","type":"boolean","values":[true,null]},
              {"name":"c","type":"text","values":["a",null]}]}],
            "params":{"k":"v"}}"#;
        let doc: DocumentView = serde_json::from_str(json).unwrap();
        assert_eq!(
            doc.tables[0].columns[1].data,
            ColumnData::Number(vec![Some(1.5), Some(2.0)])
        );
        let again: DocumentView =
            serde_json::from_slice(&serde_json::to_vec(&doc).unwrap()).unwrap();
        assert_eq!(doc, again);

        let bad = r#"{"id":"d","kind":"dataset","tables":[{"name":"t","columns":[
              {"name":"y","type":"integer","values":[1, "two"]}]}]}"#;
        let err = serde_json::from_str::<DocumentView>(bad)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("column `y`: value 2 is not an integer"),
            "{err}"
        );
        let bad = r#"{"id":"d","kind":"dataset","tables":[{"name":"t","columns":[
              {"name":"y","type":"date","values":[]}]}]}"#;
        let err = serde_json::from_str::<DocumentView>(bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("type `date`"), "{err}");
        let err = serde_json::from_str::<DocumentView>(r#"{"id":"d","kind":"spreadsheet"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("spreadsheet"), "{err}");
    }

    fn info() -> PluginInfo {
        PluginInfo {
            name: "p".into(),
            version: "1.0.0".into(),
            summary: "s".into(),
            kinds: vec![DocKind::Dataset],
            themes: vec![1, 7],
            params: vec![
                Param {
                    name: "top".into(),
                    description: String::new(),
                    default: Some("5".into()),
                },
                Param {
                    name: "country".into(),
                    description: String::new(),
                    default: None,
                },
            ],
        }
    }

    #[test]
    fn params_get_defaults_and_unknown_ones_are_refused() {
        let i = info();
        let mut given = BTreeMap::new();
        given.insert("country".to_owned(), "NPL".to_owned());
        let p = i.apply_params(&given).unwrap();
        assert_eq!(p.get("top").map(String::as_str), Some("5"));
        assert_eq!(p.get("country").map(String::as_str), Some("NPL"));
        given.insert("topp".to_owned(), "1".to_owned());
        let err = i.apply_params(&given).unwrap_err();
        assert!(
            err.contains("no parameter `topp`; it accepts: top, country"),
            "{err}"
        );
    }

    #[test]
    fn kinds_and_themes_are_checked() {
        let i = info();
        assert!(i.check_applies(DocKind::Dataset, &[7]).is_ok());
        let err = i.check_applies(DocKind::Draft, &[7]).unwrap_err();
        assert!(
            err.contains("analyses dataset documents, not a draft"),
            "{err}"
        );
        let err = i.check_applies(DocKind::Dataset, &[3]).unwrap_err();
        assert!(err.contains("for themes 1, 7"), "{err}");
    }
}
