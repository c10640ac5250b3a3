//! `remittance-indicators`: remittance dependence, growth and rankings (themes 1 and
//! 7, datasets).
//!
//! The input is a table with a country, a year, remittance inflows, GDP and, where
//! present, official development assistance (ODA), all in one currency unit. Any of
//! these may be missing: the plugin computes what the columns allow and says in its
//! findings what it could not compute. A table that already carries remittances as a
//! share of GDP is used as it is; a table without a country column is one series (for
//! example totals for all developing countries).
//!
//! Formulas, as in the World Bank's World Development Indicators and its Migration and
//! Development Briefs:
//!
//! - remittances as % of GDP: `100 × R / GDP` (WDI BX.TRF.PWKR.DT.GD.ZS, personal
//!   remittances received, % of GDP);
//! - year-on-year growth: `100 × (R_t / R_{t−1} − 1)`, only between consecutive
//!   years; the growth of the total sums the countries that have both years;
//! - top recipients by value and by share of GDP in the ranking year (by default the
//!   latest year that the data's own status column, if any, does not mark as a
//!   forecast or projection), ties broken by country name;
//! - countries whose remittances are above a share of GDP (10% by default, a
//!   parameter);
//! - ratio of remittances to aid: `R / ODA` (WDI DT.ODA.ODAT.CD, net ODA received).
//!
//! Values are not rounded; messages show one decimal for shares and growth, and other
//! numbers as people write them ([`readable`]). A sum over a table of countries is
//! said to be that ("the 4 countries in the table received…"), not a total; a year
//! the status column marks as an estimate or a forecast is said to be one.

use std::collections::{BTreeMap, BTreeSet};

use kp_plugin_sdk::{
    Analysis, AnalysisError, Bar, Chart, Column, DocKind, Document, Figure, Lines, Mark, Param,
    ParamKind, PluginInfo, Report, Series, Severity, Table, readable,
};

/// The plugin.
#[derive(Debug)]
pub struct RemittanceIndicators;

const REMITTANCES: &str =
    "remittances,remittances_usd,remittances_usd_bn,remittances_usd_m,remittance_inflows";
const GDP: &str = "gdp,gdp_usd,gdp_usd_bn,gdp_usd_m";
const SHARE: &str = "remittances_pct_gdp,remittances_share_gdp,share_of_gdp,pct_gdp";
const ODA: &str = "oda,oda_usd,oda_usd_bn,oda_usd_m,aid";
const STATUS: &str = "status,flag,status_flag,estimate_type,type";

/// What the data says of a value: observed, or an estimate or a forecast
/// (from its status column; a value without one is observed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Status {
    Observed,
    Estimate,
    Forecast,
}

impl Status {
    fn of(word: Option<&str>) -> Self {
        let w = word.unwrap_or_default().to_ascii_lowercase();
        if w.contains("forecast") || w.contains("projec") {
            Status::Forecast
        } else if w.contains("estimat") || w.contains("prelim") || w.contains("nowcast") {
            Status::Estimate
        } else {
            Status::Observed
        }
    }

    fn word(self) -> &'static str {
        match self {
            Status::Observed => "observed",
            Status::Estimate => "estimate",
            Status::Forecast => "forecast",
        }
    }
}

/// One country-year.
#[derive(Debug, Clone)]
struct Row {
    /// The country's place among the table's countries in name order (see
    /// `Countries`): rows are ordered and compared by it, with no string
    /// compared or copied per row.
    country: u32,
    year: i64,
    /// Its row in the table, from 0.
    line: usize,
    remittances: Option<f64>,
    oda: Option<f64>,
    share: Option<f64>,
    growth: Option<f64>,
    to_oda: Option<f64>,
    status: Status,
}

/// The table's countries, each named once, numbered in name order.
struct Countries<'a> {
    /// Names by number.
    names: Vec<&'a str>,
    /// Each row's country number; `None` where the row names none.
    of_row: Vec<Option<u32>>,
}

impl<'a> Countries<'a> {
    /// The countries of a column of names (one country, `all`, without one).
    fn of(column: Option<&'a [Option<String>]>, rows: usize) -> Self {
        let Some(column) = column else {
            return Countries {
                names: vec!["all"],
                of_row: vec![Some(0); rows],
            };
        };
        // Numbered as first seen (a row of the country before costs one
        // comparison), then renumbered in name order.
        let mut seen: BTreeMap<&str, u32> = BTreeMap::new();
        let mut first: Vec<&str> = Vec::new();
        let mut last: Option<(&str, u32)> = None;
        let in_order: Vec<Option<u32>> = column
            .iter()
            .map(|name| {
                let name = name.as_deref()?;
                if let Some((n, id)) = last
                    && n == name
                {
                    return Some(id);
                }
                let id = *seen.entry(name).or_insert_with(|| {
                    first.push(name);
                    (first.len() - 1) as u32
                });
                last = Some((name, id));
                Some(id)
            })
            .collect();
        let mut by_name: Vec<u32> = (0..first.len() as u32).collect();
        by_name.sort_by(|a, b| first[*a as usize].cmp(first[*b as usize]));
        let mut place = vec![0u32; first.len()];
        for (p, id) in by_name.iter().enumerate() {
            place[*id as usize] = p as u32;
        }
        Countries {
            names: by_name.iter().map(|id| first[*id as usize]).collect(),
            of_row: in_order
                .into_iter()
                .map(|id| id.map(|id| place[id as usize]))
                .collect(),
        }
    }

    fn name(&self, country: u32) -> &'a str {
        self.names[country as usize]
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

/// The unit of the remittance values, read from the column's name.
fn unit_from_name(name: &str) -> &'static str {
    let n = name.to_ascii_lowercase();
    if n.ends_with("_usd_bn") {
        "USD bn"
    } else if n.ends_with("_usd_m") {
        "USD m"
    } else if n.ends_with("_usd") {
        "USD"
    } else {
        ""
    }
}

fn with_unit(v: f64, unit: &str) -> String {
    if unit.is_empty() {
        readable(v)
    } else {
        format!("{} {unit}", readable(v))
    }
}

impl Analysis for RemittanceIndicators {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "remittance-indicators".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            summary: "Remittances as % of GDP, year-on-year growth, top recipients, countries above 10% of GDP and the ratio to aid".into(),
            kinds: vec![DocKind::Dataset],
            themes: vec![1, 7],
            params: vec![
                Param::new("country-column", "country", "column naming the country; without it the rows are one series"),
                Param::new("year-column", "year", "column of the year"),
                Param::new("remittances-column", REMITTANCES, "column of remittance inflows (the first of these names found)"),
                Param::new("gdp-column", GDP, "column of GDP, in the unit of the remittances (the first found)"),
                Param::new("share-column", SHARE, "column of remittances as % of GDP, used where GDP is missing (the first found)"),
                Param::new("oda-column", ODA, "column of official development assistance, in the unit of the remittances (the first found)"),
                Param::new("status-column", STATUS, "column saying whether a value is observed, an estimate or a forecast (the first found); a forecast year is not ranked unless asked for"),
                Param::optional("unit", "unit of the remittance values; by default read from the column name (`_usd_bn` is USD bn)"),
                Param::optional("year", "year of the rankings; by default the latest year with values that are not forecasts").of(ParamKind::Integer),
                Param::new("top", "5", "how many top recipients to list").of(ParamKind::Integer),
                Param::new("threshold", "10", "share of GDP, in percent, above which a country is reported").of(ParamKind::Number),
            ],
        }
    }

    fn analyze(doc: &Document) -> Result<Report, AnalysisError> {
        let table = doc.table()?;
        table.check_shape()?;
        let mut report = Report::default();
        let names = |param: &str, default: &str| -> Vec<String> {
            match doc.param_list(param) {
                l if l.is_empty() => default.split(',').map(str::to_owned).collect(),
                l => l,
            }
        };
        let top: usize = doc.param_or("top", 5)?;
        if top == 0 {
            return Err(AnalysisError::BadParam(
                "parameter `top` must be at least 1".into(),
            ));
        }
        let threshold = doc.param_number("threshold", 10.0, 0.0, 100.0)?;

        let year_name = doc.param("year-column").unwrap_or("year");
        let years = table.require_column(year_name)?.integers()?;
        let country_name = doc.param("country-column").unwrap_or("country");
        let countries = table.column(country_name).map(Column::texts);
        let remittance_names = names("remittances-column", REMITTANCES);
        let r_col = table.find_column(&remittance_names);
        let gdp_names = names("gdp-column", GDP);
        let gdp_col = table.find_column(&gdp_names);
        let share_names = names("share-column", SHARE);
        let share_col = table.find_column(&share_names);
        let oda_names = names("oda-column", ODA);
        let oda_col = table.find_column(&oda_names);
        let status_col = table.find_column(&names("status-column", STATUS));
        let statuses = status_col.map(Column::texts);
        if r_col.is_none() && share_col.is_none() {
            return Err(AnalysisError::Unsupported(format!(
                "no remittance column: looked for {} and for a share of GDP in {}; the table has {}",
                remittance_names.join(", "),
                share_names.join(", "),
                table.column_names()
            )));
        }
        let unit = match doc.param("unit") {
            Some(u) => u.to_owned(),
            None => r_col.map_or("", |c| unit_from_name(&c.name)).to_owned(),
        };
        let numbers = |c: Option<&Column>| -> Result<Option<Vec<Option<f64>>>, AnalysisError> {
            c.map(Column::numbers).transpose()
        };
        let rem = numbers(r_col)?;
        let gdp = numbers(gdp_col)?;
        let given_share = numbers(share_col)?;
        let oda = numbers(oda_col)?;

        if countries.is_none() {
            report.finding(
                Severity::Info,
                format!("no column `{country_name}`: the rows are read as one series"),
            );
        }
        match (r_col, gdp_col, share_col) {
            (_, None, None) => report.finding(
                Severity::Info,
                format!(
                    "no GDP column (looked for {}) and no share-of-GDP column: remittances as % of GDP and countries above {threshold}% are not computed",
                    gdp_names.join(", ")
                ),
            ),
            (Some(_), None, Some(s)) | (None, _, Some(s)) => report.finding(
                Severity::Info,
                format!("shares of GDP are taken as given in column `{}`", s.name),
            ),
            _ => {}
        }
        if r_col.is_none() {
            report.finding(
                Severity::Info,
                format!(
                    "no remittance values (looked for {}): growth, top recipients by value and the ratio to aid are not computed",
                    remittance_names.join(", ")
                ),
            );
        } else if oda_col.is_none() {
            report.finding(
                Severity::Info,
                format!(
                    "no ODA column (looked for {}): the ratio of remittances to aid is not computed",
                    oda_names.join(", ")
                ),
            );
        }

        // Rows by (country, year).
        let country_names = Countries::of(countries.as_deref(), table.row_count());
        let mut rows: Vec<Row> = Vec::with_capacity(table.row_count());
        let mut skipped = Vec::new();
        let mut bad_gdp = Vec::new();
        for i in 0..table.row_count() {
            let (Some(country), Some(year)) = (country_names.of_row[i], years[i]) else {
                skipped.push(i + 1);
                continue;
            };
            let cell = |v: &Option<Vec<Option<f64>>>| v.as_ref().and_then(|v| v[i]);
            let (r, g) = (cell(&rem), cell(&gdp));
            if g.is_some_and(|g| g <= 0.0) {
                bad_gdp.push(i + 1);
            }
            let share = ratio(r, g).map(|x| 100.0 * x).or(cell(&given_share));
            rows.push(Row {
                country,
                year,
                line: i,
                remittances: r,
                oda: cell(&oda),
                share,
                growth: None,
                to_oda: ratio(r, cell(&oda)),
                status: Status::of(statuses.as_ref().and_then(|s| s[i].as_deref())),
            });
        }
        // By country (in name order), then year; rows of one country-year
        // stay in the table's order, so the first row that repeats one is
        // the one named.
        rows.sort_unstable_by_key(|r| (r.country, r.year, r.line));
        if let Some(again) = rows
            .windows(2)
            .filter(|w| (w[0].country, w[0].year) == (w[1].country, w[1].year))
            .map(|w| &w[1])
            .min_by_key(|r| r.line)
        {
            return Err(AnalysisError::InvalidInput(format!(
                "two rows for {} in {} (the second is row {})",
                country_names.name(again.country),
                again.year,
                again.line + 1
            )));
        }
        if rows.is_empty() {
            return Err(AnalysisError::InvalidInput(
                "no row has both a country and a year".into(),
            ));
        }
        if !skipped.is_empty() {
            report.finding(
                Severity::Warning,
                format!(
                    "rows left out for a missing country or year: {}",
                    list(&skipped)
                ),
            );
        }
        if !bad_gdp.is_empty() {
            report.finding(
                Severity::Warning,
                format!(
                    "GDP is not positive in rows {}: no share computed there",
                    list(&bad_gdp)
                ),
            );
        }

        // Year-on-year growth, between consecutive years only: in key
        // order a country's previous year is the row just before.
        let mut prev: Option<&Row> = None;
        for row in rows.iter_mut() {
            let before = prev
                .filter(|p| p.country == row.country && p.year == row.year - 1)
                .and_then(|p| p.remittances);
            row.growth = ratio(row.remittances, before).map(|x| 100.0 * (x - 1.0));
            prev = Some(row);
        }
        let any_growth = rows.iter().any(|r| r.growth.is_some());
        if r_col.is_some() && !any_growth {
            report.finding(
                Severity::Info,
                "no country has remittances in two consecutive years: year-on-year growth is not computed",
            );
        }

        // The ranking year.
        let with_values = |r: &Row| r.remittances.is_some() || r.share.is_some();
        let all_years: BTreeSet<i64> = rows
            .iter()
            .filter(|r| with_values(r))
            .map(|r| r.year)
            .collect();
        // What the data says of a year: its least certain value's status.
        let mut year_status: BTreeMap<i64, Status> = BTreeMap::new();
        for r in rows.iter().filter(|r| with_values(r)) {
            let s = year_status.entry(r.year).or_insert(Status::Observed);
            *s = (*s).max(r.status);
        }
        let status_of = |y: i64| year_status.get(&y).copied().unwrap_or(Status::Observed);
        let latest = *all_years
            .last()
            .ok_or_else(|| AnalysisError::InvalidInput("no row has a remittance value".into()))?;
        let year = match doc.param_as::<i64>("year")? {
            Some(y) if all_years.contains(&y) => y,
            Some(y) => {
                return Err(AnalysisError::BadParam(format!(
                    "parameter `year`: the table has no values for {y}"
                )));
            }
            None => {
                let year = all_years
                    .iter()
                    .rev()
                    .find(|y| status_of(**y) != Status::Forecast)
                    .copied()
                    .unwrap_or(latest);
                if year != latest {
                    let later: Vec<String> = all_years
                        .range(year + 1..)
                        .map(ToString::to_string)
                        .collect();
                    report.finding(
                        Severity::Info,
                        format!(
                            "{} {} forecast in column `{}`: the rankings are of {year}, the latest year that is not (pass year={latest} to rank the forecast)",
                            later.join(", "),
                            if later.len() == 1 { "is a" } else { "are" },
                            status_col.map_or("", |c| c.name.as_str()),
                        ),
                    );
                }
                year
            }
        };
        let status = status_of(year);
        let year_said = match status {
            Status::Observed => year.to_string(),
            s => format!("{year} ({})", s.word()),
        };
        let in_year: Vec<&Row> = rows
            .iter()
            .filter(|r| r.year == year && with_values(r))
            .collect();
        report.metric("ranking year", year as f64, "");
        report.metric("countries", in_year.len() as f64, "countries");

        // Totals by year, and their growth.
        let mut totals: BTreeMap<i64, (f64, usize)> = BTreeMap::new();
        for r in rows.iter() {
            if let Some(v) = r.remittances {
                let t = totals.entry(r.year).or_insert((0.0, 0));
                t.0 += v;
                t.1 += 1;
            }
        }
        // The growth of the total, over the countries with values in both
        // years (summed in key order, as everything else).
        let mut both_years: BTreeMap<i64, (f64, f64)> = BTreeMap::new();
        let mut prev: Option<&Row> = None;
        for r in rows.iter() {
            if let (Some(v), Some(p)) = (
                r.remittances,
                prev.filter(|p| p.country == r.country && p.year == r.year - 1)
                    .and_then(|p| p.remittances),
            ) {
                let e = both_years.entry(r.year).or_insert((0.0, 0.0));
                e.0 += v;
                e.1 += p;
            }
            prev = Some(r);
        }
        let total_growth = |y: i64| -> Option<f64> {
            let (now, before) = both_years.get(&y).copied()?;
            (before > 0.0).then(|| 100.0 * (now / before - 1.0))
        };
        let mut summary = Vec::new();
        if let Some((total, n)) = totals.get(&year) {
            report.metric(format!("total remittances {year}"), *total, &unit);
            // A table of countries is what it lists, not the world.
            summary.push(if countries.is_some() {
                format!(
                    "In {year_said}, the {n} {} in the table received {}{}",
                    if *n == 1 { "country" } else { "countries" },
                    with_unit(*total, &unit),
                    if *n == 1 { "" } else { " together" }
                )
            } else {
                format!(
                    "In {year_said}, remittances were {}",
                    with_unit(*total, &unit)
                )
            });
        } else {
            summary.push(format!("In {year_said}"));
        }
        if let Some(g) = total_growth(year) {
            report.metric(format!("growth {}-{year}", year - 1), g, "%");
            // Said with the sentence on the year's remittances.
            let change = if g < 0.0 {
                format!("{:.1}% less than in {}", -g, year - 1)
            } else {
                format!("{g:.1}% more than in {}", year - 1)
            };
            match summary.first_mut() {
                Some(first) if first.contains(',') => first.push_str(&format!(", {change}")),
                _ => summary.push(change),
            }
        }

        // Rankings.
        let ranked = |key: fn(&Row) -> Option<f64>| -> Vec<(String, f64)> {
            let mut v: Vec<(String, f64)> = in_year
                .iter()
                .filter_map(|r| key(r).map(|x| (country_names.name(r.country).to_owned(), x)))
                .collect();
            v.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            v
        };
        let by_value = ranked(|r| r.remittances);
        let by_share = ranked(|r| r.share);
        if countries.is_some() {
            if let Some((c, v)) = by_value.first() {
                summary.push(format!(
                    "the largest recipient was {c} ({})",
                    with_unit(*v, &unit)
                ));
            }
            if let Some((c, s)) = by_share.first() {
                summary.push(format!("the highest share of GDP was {c}'s ({s:.1}%)"));
            }
        }
        let above: Vec<&(String, f64)> = by_share.iter().filter(|(_, s)| *s > threshold).collect();
        if gdp_col.is_some() || share_col.is_some() {
            report.metric(
                format!("countries above {threshold}% of GDP"),
                above.len() as f64,
                "countries",
            );
            summary.push(format!(
                "{} {} above {threshold}% of GDP",
                above.len(),
                if above.len() == 1 {
                    "country was"
                } else {
                    "countries were"
                }
            ));
            for (c, s) in &above {
                report.finding(
                    Severity::Info,
                    format!("{c}: remittances were {s:.1}% of GDP in {year}, above {threshold}%"),
                );
            }
        }
        let (mut r_sum, mut oda_sum) = (0.0, 0.0);
        for r in &in_year {
            if let (Some(v), Some(o)) = (r.remittances, r.oda) {
                r_sum += v;
                oda_sum += o;
            }
        }
        if oda_sum > 0.0 {
            report.metric(format!("remittances to ODA {year}"), r_sum / oda_sum, "");
            summary.push(format!("remittances were {:.1} times aid", r_sum / oda_sum));
        }

        // Tables.
        let all: Vec<&Row> = rows.iter().collect();
        let mut columns = vec![
            Column::text(
                "country",
                all.iter()
                    .map(|r| Some(country_names.name(r.country).to_owned()))
                    .collect(),
            ),
            Column::integer("year", all.iter().map(|r| Some(r.year)).collect()),
        ];
        if r_col.is_some() {
            columns.push(Column::number(
                "remittances",
                all.iter().map(|r| r.remittances).collect(),
            ));
        }
        if gdp_col.is_some() || share_col.is_some() {
            columns.push(Column::number(
                "share_of_gdp_pct",
                all.iter().map(|r| r.share).collect(),
            ));
        }
        if r_col.is_some() {
            columns.push(Column::number(
                "growth_pct",
                all.iter().map(|r| r.growth).collect(),
            ));
        }
        if r_col.is_some() && oda_col.is_some() {
            columns.push(Column::number(
                "remittances_to_oda",
                all.iter().map(|r| r.to_oda).collect(),
            ));
        }
        if status_col.is_some() {
            // What the data says of each value travels with it.
            columns.push(Column::text(
                "status",
                all.iter()
                    .map(|r| Some(r.status.word().to_owned()))
                    .collect(),
            ));
        }
        report.tables.push(Table {
            name: "indicators".into(),
            columns,
        });
        if !totals.is_empty() {
            report.tables.push(Table {
                name: "totals".into(),
                columns: vec![
                    Column::integer("year", totals.keys().map(|y| Some(*y)).collect()),
                    Column::integer(
                        "countries",
                        totals.values().map(|t| i64::try_from(t.1).ok()).collect(),
                    ),
                    Column::number("remittances", totals.values().map(|t| Some(t.0)).collect()),
                    Column::number(
                        "growth_pct",
                        totals.keys().map(|y| total_growth(*y)).collect(),
                    ),
                ],
            });
        }
        for (name, ranking, value) in [
            ("top by value", &by_value, "remittances"),
            ("top by share of GDP", &by_share, "share_of_gdp_pct"),
        ] {
            if ranking.is_empty() || countries.is_none() {
                continue;
            }
            let shown = &ranking[..top.min(ranking.len())];
            report.tables.push(Table {
                name: name.into(),
                columns: vec![
                    Column::integer(
                        "rank",
                        (1..=shown.len()).map(|n| i64::try_from(n).ok()).collect(),
                    ),
                    Column::text(
                        "country",
                        shown.iter().map(|(c, _)| Some(c.clone())).collect(),
                    ),
                    Column::number(value, shown.iter().map(|(_, v)| Some(*v)).collect()),
                ],
            });
        }

        // Figures: the totals over the years (a forecast drawn as its own
        // line, from the last year that is not one), and the two rankings.
        if totals.len() >= 2 {
            let years: Vec<i64> = totals.keys().copied().collect();
            let forecast = |y: i64| status_of(y) == Status::Forecast;
            let last_known = years.iter().rposition(|y| !forecast(*y));
            let known: Vec<Option<f64>> = years
                .iter()
                .map(|y| (!forecast(*y)).then(|| totals[y].0))
                .collect();
            let mut series = vec![Series {
                name: "remittances".into(),
                values: known,
            }];
            if years.iter().any(|y| forecast(*y)) {
                series.push(Series {
                    name: "forecast".into(),
                    values: years
                        .iter()
                        .enumerate()
                        .map(|(i, y)| (forecast(*y) || Some(i) == last_known).then(|| totals[y].0))
                        .collect(),
                });
            }
            report.figure(Figure {
                title: match countries {
                    Some(_) => format!(
                        "Remittances received by the countries in the table, {}–{}",
                        years[0],
                        years[years.len() - 1]
                    ),
                    None => format!("Remittances, {}–{}", years[0], years[years.len() - 1]),
                },
                unit: unit.clone(),
                chart: Chart::Lines(Lines {
                    axis: "year".into(),
                    x: years.iter().map(|y| *y as f64).collect(),
                    labels: Vec::new(),
                    series,
                }),
                marks: Vec::new(),
            });
        }
        if countries.is_some() {
            for (title, ranking, unit, marks) in [
                (
                    format!("Top recipients in {year_said}"),
                    &by_value,
                    unit.clone(),
                    vec![],
                ),
                (
                    format!("Remittances as a share of GDP in {year_said}"),
                    &by_share,
                    "%".to_owned(),
                    vec![Mark::new(
                        format!("threshold, {}%", readable(threshold)),
                        threshold,
                    )],
                ),
            ] {
                if ranking.is_empty() {
                    continue;
                }
                report.figure(Figure {
                    title,
                    unit,
                    chart: Chart::Bars(
                        ranking[..top.min(ranking.len())]
                            .iter()
                            .map(|(c, v)| Bar {
                                label: c.clone(),
                                value: *v,
                            })
                            .collect(),
                    ),
                    marks,
                });
            }
        }

        // "In 2010" alone (no total) joins what follows with a comma.
        let text = match summary.split_first() {
            Some((first, rest)) if !first.contains(',') && !rest.is_empty() => {
                format!("{first}, {}", rest.join("; "))
            }
            _ => summary.join("; "),
        };
        report.summary = format!("{text}.");
        Ok(report)
    }
}

fn list(rows: &[usize]) -> String {
    rows.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

kp_plugin_sdk::export_analysis!(RemittanceIndicators);
