//! `diaspora-savings`: the annual savings of a diaspora, by origin country (theme 8,
//! datasets).
//!
//! The input is a table of migrant stocks, one row per origin and (optionally)
//! destination: the number of migrants, the average income in the destination (per
//! person and year), the share of the migrants with tertiary education and the
//! saving rate of the origin country.
//!
//! The estimate follows Ratha, D. and Mohapatra, S. (2011), "Preliminary Estimates of
//! Diaspora Savings", Migration and Development Brief 14, World Bank: migrants with
//! tertiary education earn the average income of their host country, the others a
//! third of it, and both save at the saving rate of their home country. For each row:
//!
//! `savings = migrants × income × (t × f_tertiary + (1 − t) × f_other) × rate / 100`
//!
//! with `t` the tertiary share, `f_tertiary = 1` and `f_other = 1/3` by default (both
//! parameters), summed per origin. When the tertiary share is unknown, every migrant
//! of the row is counted at `f_other` (the conservative choice) and a finding says
//! so. A sensitivity table gives the total for `f_other` = 1/4, 1/3 and 1/2.
//! Savings are reported in billions of the income's currency, not rounded.

use std::collections::BTreeMap;

use kp_plugin_sdk::{
    Analysis, AnalysisError, Column, DocKind, Document, Param, ParamKind, PluginInfo, Report,
    Severity, Table,
};

/// The plugin.
#[derive(Debug)]
pub struct DiasporaSavings;

/// One row's estimate.
#[derive(Debug, Clone)]
struct Estimate {
    origin: String,
    destination: Option<String>,
    migrants: f64,
    income: f64,
    tertiary: Option<f64>,
    rate_pct: f64,
}

impl Estimate {
    /// Savings in units of the income's currency, for the given income factors.
    fn savings(&self, f_tertiary: f64, f_other: f64) -> f64 {
        let t = self.tertiary.unwrap_or(0.0) / 100.0;
        self.migrants * self.income * (t * f_tertiary + (1.0 - t) * f_other) * self.rate_pct / 100.0
    }
}

/// Reads a factor written as a decimal (`0.5`) or a fraction (`1/3`), between 0 and 10.
fn factor(doc: &Document, name: &str, default: f64) -> Result<f64, AnalysisError> {
    let Some(raw) = doc.param(name).map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(default);
    };
    let bad = || {
        AnalysisError::BadParam(format!(
            "parameter `{name}`: `{raw}` is not a number or fraction between 0 and 10 (for example 0.5 or 1/3)"
        ))
    };
    let value = match raw.split_once('/') {
        Some((n, d)) => {
            let n: f64 = n.trim().parse().map_err(|_| bad())?;
            let d: f64 = d.trim().parse().map_err(|_| bad())?;
            if d == 0.0 {
                return Err(bad());
            }
            n / d
        }
        None => raw.parse().map_err(|_| bad())?,
    };
    if value.is_finite() && (0.0..=10.0).contains(&value) {
        Ok(value)
    } else {
        Err(bad())
    }
}

const BILLION: f64 = 1e9;

impl Analysis for DiasporaSavings {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "diaspora-savings".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            summary: "Annual diaspora savings by origin: migrants × income × saving rate (Ratha and Mohapatra, 2011)".into(),
            kinds: vec![DocKind::Dataset],
            themes: vec![8],
            params: vec![
                Param::new("origin-column", "origin", "column naming the origin country"),
                Param::new("destination-column", "destination", "column naming the destination country (optional column)"),
                Param::new("migrants-column", "migrants", "column of the migrant stock, in persons"),
                Param::new("income-column", "income_usd", "column of the average income in the destination, per person and year"),
                Param::new("tertiary-column", "tertiary_pct", "column of the share of migrants with tertiary education, in percent (optional column)"),
                Param::new("saving-rate-column", "saving_rate_pct", "column of the origin's saving rate, in percent (optional column)"),
                Param::optional("saving-rate", "saving rate in percent for rows without one (no default: an assumption to state)").of(ParamKind::Number),
                Param::optional("tertiary-pct", "tertiary share in percent for rows without one (without it such rows count every migrant at the other income factor)").of(ParamKind::Number),
                Param::new("tertiary-income-factor", "1", "income of tertiary-educated migrants as a fraction of the average income"),
                Param::new("other-income-factor", "1/3", "income of other migrants as a fraction of the average income"),
            ],
        }
    }

    fn analyze(doc: &Document) -> Result<Report, AnalysisError> {
        let table = doc.table()?;
        table.check_shape()?;
        let name =
            |param: &str, default: &'static str| doc.param(param).unwrap_or(default).to_owned();
        let origins = table
            .require_column(&name("origin-column", "origin"))?
            .texts();
        let destinations = table
            .column(&name("destination-column", "destination"))
            .map(Column::texts);
        let migrants = table
            .require_column(&name("migrants-column", "migrants"))?
            .numbers()?;
        let incomes = table
            .require_column(&name("income-column", "income_usd"))?
            .numbers()?;
        let tertiary_name = name("tertiary-column", "tertiary_pct");
        let tertiary = table
            .column(&tertiary_name)
            .map(Column::numbers)
            .transpose()?;
        let rate_name = name("saving-rate-column", "saving_rate_pct");
        let rates = table.column(&rate_name).map(Column::numbers).transpose()?;
        let default_rate = doc.param_as::<f64>("saving-rate")?;
        let default_tertiary = doc.param_as::<f64>("tertiary-pct")?;
        for (p, v) in [
            ("saving-rate", default_rate),
            ("tertiary-pct", default_tertiary),
        ] {
            if let Some(v) = v
                && !(0.0..=100.0).contains(&v)
            {
                return Err(AnalysisError::BadParam(format!(
                    "parameter `{p}`: {v} is outside 0 to 100"
                )));
            }
        }
        let f_tertiary = factor(doc, "tertiary-income-factor", 1.0)?;
        let f_other = factor(doc, "other-income-factor", 1.0 / 3.0)?;
        if rates.is_none() && default_rate.is_none() {
            return Err(AnalysisError::BadParam(format!(
                "no saving rate: the table has no column `{rate_name}`; give one with the parameter `saving-rate`"
            )));
        }

        let mut report = Report::default();
        let mut rows = Vec::new();
        let (mut incomplete, mut out_of_range, mut no_tertiary) =
            (Vec::new(), Vec::new(), Vec::new());
        for i in 0..table.row_count() {
            let pick = |v: &Option<Vec<Option<f64>>>| v.as_ref().and_then(|v| v[i]);
            let tertiary_pct = pick(&tertiary).or(default_tertiary);
            let (Some(origin), Some(m), Some(y), Some(rate_pct)) = (
                origins[i].clone(),
                migrants[i],
                incomes[i],
                pick(&rates).or(default_rate),
            ) else {
                incomplete.push(i + 1);
                continue;
            };
            if m < 0.0
                || y < 0.0
                || !(0.0..=100.0).contains(&rate_pct)
                || tertiary_pct.is_some_and(|t| !(0.0..=100.0).contains(&t))
            {
                out_of_range.push(i + 1);
                continue;
            }
            if tertiary_pct.is_none() {
                no_tertiary.push(i + 1);
            }
            rows.push(Estimate {
                origin,
                destination: destinations.as_ref().and_then(|d| d[i].clone()),
                migrants: m,
                income: y,
                tertiary: tertiary_pct,
                rate_pct,
            });
        }
        if rows.is_empty() {
            return Err(AnalysisError::InvalidInput(format!(
                "no complete row among {}: each needs an origin, migrants, an income and a saving rate",
                table.row_count()
            )));
        }
        if !incomplete.is_empty() {
            report.finding(
                Severity::Warning,
                format!(
                    "rows left out for a missing origin, migrant stock, income or saving rate: {}",
                    list(&incomplete)
                ),
            );
        }
        if !out_of_range.is_empty() {
            report.finding(
                Severity::Warning,
                format!(
                    "rows left out for a negative value or a percentage outside 0 to 100: {}",
                    list(&out_of_range)
                ),
            );
        }
        if !no_tertiary.is_empty() {
            report.finding(
                Severity::Warning,
                format!(
                    "no tertiary share in rows {}: all their migrants are counted at the other income factor ({f_other:.3}), which understates savings",
                    list(&no_tertiary)
                ),
            );
        }

        let mut by_origin: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
        for r in &rows {
            let e = by_origin.entry(&r.origin).or_insert((0.0, 0.0));
            e.0 += r.migrants;
            e.1 += r.savings(f_tertiary, f_other) / BILLION;
        }
        let total: f64 = by_origin.values().map(|v| v.1).sum();
        report.metric("diaspora savings", total, "USD bn");
        report.metric("migrants", by_origin.values().map(|v| v.0).sum(), "persons");
        report.metric("origins", by_origin.len() as f64, "countries");
        for (origin, (_, s)) in &by_origin {
            report.metric(format!("diaspora savings: {origin}"), *s, "USD bn");
        }
        let largest = by_origin
            .iter()
            .max_by(|a, b| a.1.1.total_cmp(&b.1.1).then_with(|| b.0.cmp(a.0)));
        report.summary = format!(
            "Estimated diaspora savings: {total:.2} USD bn a year from {} migrants of {} origin(s){}, \
             assuming tertiary-educated migrants earn {f_tertiary:.3} and others {f_other:.3} of the average income \
             and save at their origin's rate.",
            by_origin.values().map(|v| v.0).sum::<f64>(),
            by_origin.len(),
            largest.map_or(String::new(), |(o, (_, s))| format!(
                "; the largest is {o} ({s:.2} USD bn)"
            )),
        );

        report.tables.push(Table {
            name: "by origin".into(),
            columns: vec![
                Column::text(
                    "origin",
                    by_origin.keys().map(|o| Some((*o).to_owned())).collect(),
                ),
                Column::number("migrants", by_origin.values().map(|v| Some(v.0)).collect()),
                Column::number(
                    "savings_usd_bn",
                    by_origin.values().map(|v| Some(v.1)).collect(),
                ),
            ],
        });
        report.tables.push(Table {
            name: "rows".into(),
            columns: vec![
                Column::text(
                    "origin",
                    rows.iter().map(|r| Some(r.origin.clone())).collect(),
                ),
                Column::text(
                    "destination",
                    rows.iter().map(|r| r.destination.clone()).collect(),
                ),
                Column::number("migrants", rows.iter().map(|r| Some(r.migrants)).collect()),
                Column::number("income", rows.iter().map(|r| Some(r.income)).collect()),
                Column::number("tertiary_pct", rows.iter().map(|r| r.tertiary).collect()),
                Column::number(
                    "saving_rate_pct",
                    rows.iter().map(|r| Some(r.rate_pct)).collect(),
                ),
                Column::number(
                    "savings_usd_bn",
                    rows.iter()
                        .map(|r| Some(r.savings(f_tertiary, f_other) / BILLION))
                        .collect(),
                ),
            ],
        });
        let factors = [("1/4", 0.25), ("1/3", 1.0 / 3.0), ("1/2", 0.5)];
        report.tables.push(Table {
            name: "sensitivity".into(),
            columns: vec![
                Column::text(
                    "other_income_factor",
                    factors.iter().map(|f| Some(f.0.to_owned())).collect(),
                ),
                Column::number(
                    "savings_usd_bn",
                    factors
                        .iter()
                        .map(|(_, f)| {
                            Some(
                                rows.iter().map(|r| r.savings(f_tertiary, *f)).sum::<f64>()
                                    / BILLION,
                            )
                        })
                        .collect(),
                ),
            ],
        });
        Ok(report)
    }
}

fn list(rows: &[usize]) -> String {
    rows.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

kp_plugin_sdk::export_analysis!(DiasporaSavings);
