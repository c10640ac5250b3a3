//! What a plugin returns: a summary, metrics, findings anchored to the text, and
//! result tables.

use crate::{Figure, Table};

/// A range of a section's text: UTF-8 byte offsets, start inclusive, end exclusive,
/// on character boundaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TextRange {
    /// Index into [`Document::sections`](crate::Document::sections).
    pub section: u32,
    /// First byte of the range.
    pub start: u32,
    /// One past the last byte of the range.
    pub end: u32,
}

/// A named value in a report.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Metric {
    /// What it measures.
    pub name: String,
    /// Its value; always finite in a checked report.
    pub value: f64,
    /// For example `%`, `USD`, `words`; empty for a pure number.
    #[cfg_attr(feature = "serde", serde(default))]
    pub unit: String,
}

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
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
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Finding {
    /// How much it matters.
    pub severity: Severity,
    /// What was found, for a reader.
    pub message: String,
    /// Where in the text it applies, if anywhere.
    #[cfg_attr(feature = "serde", serde(default))]
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

/// What an analysis returns. Its JSON, read by a node, may hold fields a later
/// contract added: they are ignored, so a partner on an older kp still shows
/// the rest of a newer plugin's report.
#[derive(Debug, Clone, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Report {
    /// A few sentences for a reader.
    pub summary: String,
    /// Named values with units.
    #[cfg_attr(feature = "serde", serde(default))]
    pub metrics: Vec<Metric>,
    /// Findings, in the order the plugin chose.
    #[cfg_attr(feature = "serde", serde(default))]
    pub findings: Vec<Finding>,
    /// Result tables.
    #[cfg_attr(feature = "serde", serde(default))]
    pub tables: Vec<Table>,
    /// Figures to draw (contract 0.2 on); a report without any has no
    /// `figures` field in its JSON, so its bytes are those of contract 0.1.
    /// Read from JSON, a figure this version cannot read (a later contract's
    /// kind of chart) is left out rather than failing the whole report.
    #[cfg_attr(
        feature = "serde",
        serde(
            default,
            skip_serializing_if = "Vec::is_empty",
            deserialize_with = "known_figures"
        )
    )]
    pub figures: Vec<Figure>,
}

/// The figures of a report's JSON that this version can read.
#[cfg(feature = "serde")]
fn known_figures<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Figure>, D::Error> {
    use serde::Deserialize;
    let values = Vec::<serde_json::Value>::deserialize(d)?;
    Ok(values
        .into_iter()
        .filter_map(|v| serde_json::from_value(v).ok())
        .collect())
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

    /// Adds a figure.
    pub fn figure(&mut self, figure: Figure) {
        self.figures.push(figure);
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

/// A number as people read it: six significant digits at most after the
/// decimal point (a computed value's floating-point noise goes:
/// `8.000000000000007` is 8, `3.7000000000000006` is 3.7), the whole part
/// never rounded, no trailing zeros, thousands grouped from five digits on
/// (a year stays `2011`). Reports keep every bit in their JSON; this is for
/// the page, the terminal and the PDF.
pub fn readable(x: f64) -> String {
    if !x.is_finite() {
        return format!("{x}");
    }
    let magnitude = if x == 0.0 {
        0
    } else {
        x.abs().log10().floor() as i32
    };
    let decimals = (6 - 1 - magnitude).clamp(0, 12) as usize;
    let s = format!("{x:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s.as_str()
    };
    let (sign, digits) = s.strip_prefix('-').map_or(("", s), |d| ("-", d));
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && int.len() > 4 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if grouped == "0" && frac.is_empty() {
        ""
    } else {
        sign
    };
    if frac.is_empty() {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped}.{frac}")
    }
}

#[cfg(test)]
mod readable_tests {
    use super::readable;

    #[test]
    fn numbers_read_as_people_write_them() {
        assert_eq!(readable(8.000000000000007), "8");
        assert_eq!(readable(3.7000000000000006), "3.7");
        assert_eq!(readable(100.0 * 9.0 / 316.0), "2.8481");
        assert_eq!(readable(351.0), "351");
        assert_eq!(readable(0.1 + 0.2), "0.3");
        assert_eq!(readable(6.51), "6.51");
        assert_eq!(readable(-2.5), "-2.5");
        assert_eq!(readable(0.00000152), "0.00000152");
        assert_eq!(readable(-0.0001), "-0.0001");
        assert_eq!(readable(1234567.891), "1,234,568");
        assert_eq!(readable(2011.0), "2011");
        assert_eq!(readable(-15000.5), "-15,000.5");
        assert_eq!(readable(-1500.5), "-1500.5");
        assert_eq!(readable(0.0), "0");
        assert_eq!(readable(-0.0), "0");
    }
}
