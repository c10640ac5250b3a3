//! The document a plugin analyses: its kind, a draft's sections (and the one
//! splitter that makes them), a dataset's table, and the parameters of the run.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::str::FromStr;

use crate::{AnalysisError, Table, same_name};

/// What kind of document a view holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum DocKind {
    /// A draft: its text, split into sections.
    Draft,
    /// A dataset: one table.
    Dataset,
}

impl DocKind {
    /// The kind's name as the contract, the JSON form and messages spell it: `draft`
    /// or `dataset`.
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

/// A part of a draft's text, as [`split_sections`] cuts it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct Section {
    /// The heading, without its `#` marks; empty for text before the first heading.
    #[cfg_attr(feature = "serde", serde(default))]
    pub heading: String,
    /// The number of `#` of the heading; 0 for text before the first heading.
    #[cfg_attr(feature = "serde", serde(default))]
    pub level: u8,
    /// The section's text after its heading line.
    #[cfg_attr(feature = "serde", serde(default))]
    pub text: String,
}

/// Splits a draft's body into sections. A line starting with `#` opens a section:
/// its heading is the rest of the line without the marks, trimmed, and its `level`
/// the number of `#` (at most 255); the lines up to the next heading are its `text`,
/// each with its line ending.
///
/// Text before the first heading is a section of level 0 with an empty heading
/// whenever it is not empty, *even when it is only blank lines*: `"\n# One\n"` has two
/// sections, the first with the text `"\n"`. Only a body that starts with a heading
/// (or is empty) has no such section.
///
/// Why a blank prefix counts: it is what the node has always done, so it is what
/// deployed plugins see and what the anchors of stored reports count from, and the
/// contract (`plugins/wit/analysis.wit`) makes text before the first heading a
/// section with no exception for blank text. The SDK's test helper used to drop a
/// blank prefix, so a plugin's native tests numbered the sections of such a draft one
/// lower than the node; dropping it in the node instead would renumber the sections
/// of existing drafts, and two nodes of different versions would give different
/// reports for the same heads.
///
/// Otherwise a heading line is taken as it is: no space is needed after the marks
/// (`#Intro` is the heading `Intro`), closing marks stay (`## Two ##` is `Two ##`),
/// and a `#` anywhere but at the very start of a line opens nothing.
pub fn split_sections(body: &str) -> Vec<Section> {
    // The section before the first heading is the only one of level 0, and the
    // only one that is left out, when its text is empty.
    let keep = |s: &Section| s.level > 0 || !s.text.is_empty();
    let mut sections = Vec::new();
    let mut current = Section {
        heading: String::new(),
        level: 0,
        text: String::new(),
    };
    for line in body.split_inclusive('\n') {
        if line.starts_with('#') {
            let marks = line.bytes().take_while(|b| *b == b'#').count();
            let next = Section {
                heading: line[marks..].trim().to_owned(),
                level: u8::try_from(marks).unwrap_or(u8::MAX),
                text: String::new(),
            };
            let done = std::mem::replace(&mut current, next);
            if keep(&done) {
                sections.push(done);
            }
        } else {
            current.text.push_str(line);
        }
    }
    if keep(&current) {
        sections.push(current);
    }
    sections
}

/// The copy of a document a plugin analyses.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct Document {
    /// The document's id.
    pub id: String,
    /// Draft or dataset.
    pub kind: DocKind,
    /// The automerge heads (hex) the view was taken at.
    #[cfg_attr(feature = "serde", serde(default))]
    pub heads: Vec<String>,
    /// The document's title.
    #[cfg_attr(feature = "serde", serde(default))]
    pub title: String,
    /// The space's themes (1 to 11).
    #[cfg_attr(feature = "serde", serde(default))]
    pub themes: Vec<u8>,
    /// Other fields by name: for a draft `type`, `status`, `authors`; for a dataset
    /// `source`, `licence`.
    #[cfg_attr(feature = "serde", serde(default))]
    pub metadata: BTreeMap<String, String>,
    /// A draft's text, split by [`split_sections`]; empty for a dataset.
    #[cfg_attr(feature = "serde", serde(default))]
    pub sections: Vec<Section>,
    /// A dataset's table; empty for a draft.
    #[cfg_attr(feature = "serde", serde(default))]
    pub tables: Vec<Table>,
    /// The caller's parameters, after the plugin's defaults were applied.
    #[cfg_attr(feature = "serde", serde(default))]
    pub params: BTreeMap<String, String>,
}

impl Document {
    /// The parameter's value, if the caller (or the plugin's default) gave one.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
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

/// How a parameter's expected type reads in a message.
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Each section as (heading, level, text).
    fn split(body: &str) -> Vec<(String, u8, String)> {
        split_sections(body)
            .into_iter()
            .map(|s| (s.heading, s.level, s.text))
            .collect()
    }

    fn s(heading: &str, level: u8, text: &str) -> (String, u8, String) {
        (heading.to_owned(), level, text.to_owned())
    }

    #[test]
    fn text_before_the_first_heading_is_section_zero() {
        assert_eq!(
            split("intro\n# One\nbody 1\n## Two two\nbody 2\n"),
            [
                s("", 0, "intro\n"),
                s("One", 1, "body 1\n"),
                s("Two two", 2, "body 2\n")
            ]
        );
        // Without any heading, the whole body is that section.
        assert_eq!(split("just text"), [s("", 0, "just text")]);
    }

    #[test]
    fn blank_lines_before_the_first_heading_are_a_section_too() {
        // What the node has always done: anchors count sections from here.
        assert_eq!(
            split("\n\n# One\nbody\n"),
            [s("", 0, "\n\n"), s("One", 1, "body\n")]
        );
        assert_eq!(split("  \n# One\n"), [s("", 0, "  \n"), s("One", 1, "")]);
        assert_eq!(split("\n"), [s("", 0, "\n")]);
    }

    #[test]
    fn a_body_that_starts_with_a_heading_has_no_section_zero() {
        assert_eq!(split("# Only\n"), [s("Only", 1, "")]);
        assert_eq!(split("# Only"), [s("Only", 1, "")]);
        assert!(split("").is_empty());
    }

    #[test]
    fn heading_lines() {
        assert_eq!(
            split("#Intro\nno space needed\n### Deep ###\n#\n########## Ten\n"),
            [
                s("Intro", 1, "no space needed\n"),
                s("Deep ###", 3, ""),
                s("", 1, ""),
                s("Ten", 10, ""),
            ]
        );
        // Only a `#` at the very start of a line opens a section.
        assert_eq!(
            split(" # not a heading\ntext # nor this\n"),
            [s("", 0, " # not a heading\ntext # nor this\n")]
        );
        let deep = format!("{} Abyss\n", "#".repeat(300));
        assert_eq!(split(&deep), [s("Abyss", 255, "")]);
    }

    #[test]
    fn line_endings_stay_in_the_text() {
        assert_eq!(
            split("a\r\n# One\r\nb\r\nc"),
            [s("", 0, "a\r\n"), s("One", 1, "b\r\nc")]
        );
        // Empty sections between headings are kept: their numbers count.
        assert_eq!(split("# A\n# B\nb\n"), [s("A", 1, ""), s("B", 1, "b\n")]);
    }

    fn doc(params: &[(&str, &str)]) -> Document {
        Document {
            id: "d".into(),
            kind: DocKind::Draft,
            heads: vec![],
            title: "Brief".into(),
            themes: vec![],
            metadata: [("type".to_owned(), "policy-brief".to_owned())].into(),
            sections: vec![],
            tables: vec![],
            params: params
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn parameters_and_metadata() {
        let d = doc(&[("n", " 12 "), ("x", "1.5"), ("list", "a, ,b,"), ("e", " ")]);
        assert_eq!(d.param("n"), Some(" 12 "));
        assert_eq!(d.param_as::<u32>("n"), Ok(Some(12)));
        assert_eq!(d.param_as::<u32>("e"), Ok(None));
        assert_eq!(d.param_or::<u32>("missing", 3), Ok(3));
        let e = d.param_as::<u32>("x").unwrap_err();
        assert!(
            e.to_string()
                .contains("parameter `x`: cannot read `1.5` as a whole number of 0 or more"),
            "{e}"
        );
        assert_eq!(d.param_number("x", 0.0, 0.0, 2.0), Ok(1.5));
        assert!(d.param_number("x", 0.0, 0.0, 1.0).is_err());
        assert_eq!(d.param_list("list"), ["a", "b"]);
        assert!(d.param_list("missing").is_empty());
        assert_eq!(d.metadata(" TYPE "), Some("policy-brief"));
        assert!(d.table().is_err(), "a draft has no table");
        assert!(d.require_kind(DocKind::Draft).is_ok());
    }
}
