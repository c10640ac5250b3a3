//! Figures drawn from analyses' reports, by one rule wherever they are
//! shown (the portal's dataset pages, published briefs, the workspace's
//! preview; the workspace's page draws its charts by the same rule).

use kp_model::export::number;
use kp_plugin_types::{ColumnData, Table};

/// Bars in a figure at most (a table of more rows has none).
const BARS: usize = 60;

/// A cell as text, and whether it is a number.
pub(crate) fn cell(data: &ColumnData, i: usize) -> (String, bool) {
    match data {
        ColumnData::Integer(v) => (v[i].map(|n| n.to_string()).unwrap_or_default(), true),
        ColumnData::Number(v) => (v[i].map(number).unwrap_or_default(), true),
        ColumnData::Boolean(v) => (v[i].map(|b| b.to_string()).unwrap_or_default(), false),
        ColumnData::Text(v) => (v[i].clone().unwrap_or_default(), false),
    }
}

/// The bars of a table's figure, by the rule the workspace's page draws
/// with: labels from the first text column whose values differ (else the
/// `year` column), values from the first other numeric column with values
/// that is not a rank; a table of 2 to [`BARS`] rows.
pub(crate) fn bars_of(t: &Table) -> Option<Vec<(String, f64)>> {
    let rows = t.row_count();
    if !(2..=BARS).contains(&rows) {
        return None;
    }
    let year = t.columns.iter().position(|c| c.name == "year");
    let text = t.columns.iter().position(|c| match &c.data {
        ColumnData::Text(v) => v.iter().collect::<std::collections::BTreeSet<_>>().len() > 1,
        _ => false,
    });
    let label = text.or(year)?;
    let values: Vec<Option<f64>> = t.columns.iter().enumerate().find_map(|(i, c)| {
        if c.name == "rank" || Some(i) == year || i == label {
            return None;
        }
        let v: Vec<Option<f64>> = match &c.data {
            ColumnData::Number(v) => v.clone(),
            ColumnData::Integer(v) => v.iter().map(|n| n.map(|n| n as f64)).collect(),
            _ => return None,
        };
        v.iter().any(Option::is_some).then_some(v)
    })?;
    let bars: Vec<(String, f64)> = (0..rows)
        .filter_map(|i| Some((cell(&t.columns[label].data, i).0, values[i]?)))
        .collect();
    (bars.len() >= 2).then_some(bars)
}

/// The bars (and the table's name) of a report's table `table` (its first table that makes a
/// chart when `None`), or `None` when there is no such table or the report
/// cannot be read.
pub(crate) fn report_bars(
    report_json: &str,
    table: Option<&str>,
) -> Option<(String, Vec<(String, f64)>)> {
    let report: kp_plugin_host::Report = serde_json::from_str(report_json).ok()?;
    report
        .tables
        .iter()
        .filter(|t| table.is_none_or(|name| t.name == name))
        .find_map(|t| bars_of(t).map(|bars| (t.name.clone(), bars)))
}
