//! `remittance-cost`: the total cost of sending remittances, per corridor, against
//! the SDG 10.c target (theme 7, datasets).
//!
//! The input is a table of price quotes, one row per quote: sending country,
//! receiving country, amount sent, fee, and the exchange-rate margin in percent.
//!
//! Formulas (World Bank, Remittance Prices Worldwide methodology,
//! <https://remittanceprices.worldbank.org/methodology>):
//!
//! - total cost of a quote, in % of the amount sent:
//!   `cost = (fee + margin / 100 × amount) / amount × 100`;
//! - a corridor's average: the simple mean of its quotes' total costs;
//! - the overall average: the simple mean of the corridor averages (as RPW's global
//!   average), reported beside the mean over all quotes.
//!
//! Findings: corridors whose average is above the SDG 10.c target of 3% (UN SDG
//! indicator 10.c.1, custodian the World Bank) and above 5% (the target also says
//! to eliminate corridors costing more than 5%). Both thresholds are parameters.
//! Quotes with an empty cell, an amount that is not positive, or a negative fee are
//! left out, and a finding says which rows. Values are not rounded; messages show
//! two decimals.
//!
//! A table with no sending-country column and a period column (`quarter` such as
//! `2023Q3`, `year`, or `period`) is a published series instead, such as RPW's global
//! average: its latest value against the target (the gap, in percentage points) and
//! the 5% ceiling, the pace of the last years (the least-squares slope of the values
//! over the last `pace-years`, in points a year), and at that pace the year the
//! target is reached; the latest value of every other `_pct` column beside it.

use std::collections::BTreeMap;

use kp_plugin_sdk::{
    Analysis, AnalysisError, Chart, Column, DocKind, Document, Figure, Lines, Mark, Param,
    ParamKind, PluginInfo, Report, Series, Severity, Table, readable,
};

/// The plugin.
#[derive(Debug)]
pub struct RemittanceCost;

const SENDING: &str = "sending_country";
const RECEIVING: &str = "receiving_country";
const AMOUNT: &str = "amount_sent_usd";
const FEE: &str = "fee_usd";
const MARGIN: &str = "fx_margin_pct";
const PERIOD: &str = "quarter,period,year,date";
const SERIES: &str = "global_average_pct,average_cost_pct,total_cost_pct";

/// One quote's cost.
#[derive(Debug, Clone, PartialEq)]
struct Quote {
    row: usize,
    amount: f64,
    fee: f64,
    margin_pct: f64,
    cost_pct: f64,
}

/// Total cost of one transfer in % of the amount sent.
pub fn total_cost_pct(amount: f64, fee: f64, margin_pct: f64) -> f64 {
    (fee + margin_pct / 100.0 * amount) / amount * 100.0
}

fn mean(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values
        .into_iter()
        .fold((0.0, 0u32), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / f64::from(n))
}

impl Analysis for RemittanceCost {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "remittance-cost".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            summary: "Total cost of sending money per corridor (fee + FX margin) against the SDG 10.c targets of 3% and 5%".into(),
            kinds: vec![DocKind::Dataset],
            themes: vec![7],
            params: vec![
                Param::new("sending-column", SENDING, "column naming the sending country"),
                Param::new("receiving-column", RECEIVING, "column naming the receiving country"),
                Param::new("amount-column", AMOUNT, "column of the amount sent"),
                Param::new("fee-column", FEE, "column of the fee, in the currency of the amount"),
                Param::new("margin-column", MARGIN, "column of the exchange-rate margin, in percent"),
                Param::new("target", "3", "SDG 10.c target for the total cost, in percent").of(ParamKind::Number),
                Param::new("upper", "5", "cost above which a corridor should be eliminated, in percent").of(ParamKind::Number),
                Param::new("period-column", PERIOD, "for a published series: the column of the period (2023Q3, 2023 or 2023-09; the first found)"),
                Param::new("series-column", SERIES, "for a published series: the cost to follow (the first found, else the first column ending in _pct)"),
                Param::new("pace-years", "3", "for a published series: the last years the pace is measured over").of(ParamKind::Integer),
            ],
        }
    }

    fn analyze(doc: &Document) -> Result<Report, AnalysisError> {
        let table = doc.table()?;
        table.check_shape()?;
        let sending_name = doc.param("sending-column").unwrap_or(SENDING);
        let periods = table.find_column(&names(doc, "period-column", PERIOD));
        if let (None, Some(period)) = (table.column(sending_name), periods) {
            return series(doc, table, period);
        }
        let col =
            |param: &str, default: &str| table.require_column(doc.param(param).unwrap_or(default));
        let sending = col("sending-column", SENDING)?.texts();
        let receiving = col("receiving-column", RECEIVING)?.texts();
        let amounts = col("amount-column", AMOUNT)?.numbers()?;
        let fees = col("fee-column", FEE)?.numbers()?;
        let margins = col("margin-column", MARGIN)?.numbers()?;
        let target = doc.param_number("target", 3.0, 0.0, 100.0)?;
        let upper = doc.param_number("upper", 5.0, 0.0, 100.0)?;
        if upper < target {
            return Err(AnalysisError::BadParam(format!(
                "parameter `upper` ({upper}) is below `target` ({target})"
            )));
        }

        let mut corridors: BTreeMap<(String, String), Vec<Quote>> = BTreeMap::new();
        let mut incomplete = Vec::new();
        let mut impossible = Vec::new();
        for row in 0..table.row_count() {
            let (Some(s), Some(r), Some(amount), Some(fee), Some(margin_pct)) = (
                sending[row].clone(),
                receiving[row].clone(),
                amounts[row],
                fees[row],
                margins[row],
            ) else {
                incomplete.push(row + 1);
                continue;
            };
            if amount <= 0.0 || fee < 0.0 {
                impossible.push(row + 1);
                continue;
            }
            let cost_pct = total_cost_pct(amount, fee, margin_pct);
            corridors.entry((s, r)).or_default().push(Quote {
                row: row + 1,
                amount,
                fee,
                margin_pct,
                cost_pct,
            });
        }
        if corridors.is_empty() {
            return Err(AnalysisError::InvalidInput(format!(
                "no complete quote in {} rows",
                table.row_count()
            )));
        }

        let mut report = Report::default();
        let averages: Vec<((&String, &String), f64, usize)> = corridors
            .iter()
            .filter_map(|((s, r), qs)| {
                mean(qs.iter().map(|q| q.cost_pct)).map(|m| ((s, r), m, qs.len()))
            })
            .collect();
        let overall = mean(averages.iter().map(|a| a.1)).unwrap_or(0.0);
        let all_quotes: Vec<&Quote> = corridors.values().flatten().collect();
        let per_quote = mean(all_quotes.iter().map(|q| q.cost_pct)).unwrap_or(0.0);
        let above_target = averages.iter().filter(|a| a.1 > target).count();
        let above_upper = averages.iter().filter(|a| a.1 > upper).count();

        report.metric("average total cost", overall, "%");
        report.metric("average total cost over quotes", per_quote, "%");
        report.metric("corridors", averages.len() as f64, "corridors");
        report.metric("quotes", all_quotes.len() as f64, "quotes");
        report.metric(
            format!("corridors above {target}%"),
            above_target as f64,
            "corridors",
        );
        report.metric(
            format!("corridors above {upper}%"),
            above_upper as f64,
            "corridors",
        );

        for ((s, r), avg, n) in &averages {
            if *avg > upper {
                report.finding(
                    Severity::Warning,
                    format!(
                        "{s} → {r}: average total cost {avg:.2}% over {n} quote(s), above {upper}%"
                    ),
                );
            } else if *avg > target {
                report.finding(
                    Severity::Info,
                    format!("{s} → {r}: average total cost {avg:.2}% over {n} quote(s), above the SDG 10.c target of {target}%"),
                );
            }
        }
        if !incomplete.is_empty() {
            report.finding(
                Severity::Warning,
                format!("rows left out for an empty cell: {}", list(&incomplete)),
            );
        }
        if !impossible.is_empty() {
            report.finding(
                Severity::Warning,
                format!(
                    "rows left out for an amount that is not positive or a negative fee: {}",
                    list(&impossible)
                ),
            );
        }

        report.tables.push(Table {
            name: "corridors".into(),
            columns: vec![
                Column::text(
                    "sending",
                    averages.iter().map(|a| Some(a.0.0.clone())).collect(),
                ),
                Column::text(
                    "receiving",
                    averages.iter().map(|a| Some(a.0.1.clone())).collect(),
                ),
                Column::integer(
                    "quotes",
                    averages.iter().map(|a| i64::try_from(a.2).ok()).collect(),
                ),
                Column::number(
                    "average_cost_pct",
                    averages.iter().map(|a| Some(a.1)).collect(),
                ),
            ],
        });
        let quote_rows: Vec<(&(String, String), &Quote)> = corridors
            .iter()
            .flat_map(|(k, qs)| qs.iter().map(move |q| (k, q)))
            .collect();
        report.tables.push(Table {
            name: "quotes".into(),
            columns: vec![
                Column::integer(
                    "row",
                    quote_rows
                        .iter()
                        .map(|(_, q)| i64::try_from(q.row).ok())
                        .collect(),
                ),
                Column::text(
                    "sending",
                    quote_rows.iter().map(|(k, _)| Some(k.0.clone())).collect(),
                ),
                Column::text(
                    "receiving",
                    quote_rows.iter().map(|(k, _)| Some(k.1.clone())).collect(),
                ),
                Column::number(
                    "amount",
                    quote_rows.iter().map(|(_, q)| Some(q.amount)).collect(),
                ),
                Column::number("fee", quote_rows.iter().map(|(_, q)| Some(q.fee)).collect()),
                Column::number(
                    "fx_margin_pct",
                    quote_rows.iter().map(|(_, q)| Some(q.margin_pct)).collect(),
                ),
                Column::number(
                    "total_cost_pct",
                    quote_rows.iter().map(|(_, q)| Some(q.cost_pct)).collect(),
                ),
            ],
        });

        report.summary = format!(
            "{} quotes in {} corridors: the average total cost is {overall:.2}% of the amount sent \
             (mean of corridor averages). {above_target} corridor(s) cost more than the SDG 10.c target \
             of {target}%, {above_upper} more than {upper}%.",
            all_quotes.len(),
            averages.len()
        );
        kp_plugin_sdk::log::debug!("{} quotes read", all_quotes.len());
        Ok(report)
    }
}

/// A parameter's list of names, or the default's.
fn names(doc: &Document, param: &str, default: &str) -> Vec<String> {
    match doc.param_list(param) {
        l if l.is_empty() => default.split(',').map(str::to_owned).collect(),
        l => l,
    }
}

/// A period as a point in time, in years: `2023Q3` is 2023.5, `2023` 2023,
/// `2023-09` 2023.667 (the start of the quarter, year or month).
fn period_time(p: &str) -> Option<f64> {
    let p = p.trim();
    let year = |y: &str| y.parse::<i32>().ok().filter(|y| (1000..=9999).contains(y));
    if let Some((y, q)) = p.split_once(['Q', 'q']) {
        let q: u8 = q.trim().parse().ok().filter(|q| (1..=4).contains(q))?;
        return Some(f64::from(year(y.trim())?) + f64::from(q - 1) / 4.0);
    }
    if let Some((y, m)) = p.split_once('-') {
        let m: u8 = m.trim().parse().ok().filter(|m| (1..=12).contains(m))?;
        return Some(f64::from(year(y.trim())?) + f64::from(m - 1) / 12.0);
    }
    year(p).map(f64::from)
}

/// The least-squares slope of `points` (time, value), if they span time.
fn slope(points: &[(f64, f64)]) -> Option<f64> {
    let n = points.len() as f64;
    let (mt, mv) = (
        points.iter().map(|p| p.0).sum::<f64>() / n,
        points.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let var: f64 = points.iter().map(|p| (p.0 - mt).powi(2)).sum();
    (var > 0.0).then(|| points.iter().map(|p| (p.0 - mt) * (p.1 - mv)).sum::<f64>() / var)
}

/// A column's name as words: `global_average_pct` is "global average".
fn words(column: &str) -> String {
    column
        .trim_end_matches("_pct")
        .replace('_', " ")
        .trim()
        .to_owned()
}

/// A published series of average costs (see the crate's documentation).
fn series(doc: &Document, table: &Table, period: &Column) -> Result<Report, AnalysisError> {
    let target = doc.param_number("target", 3.0, 0.0, 100.0)?;
    let upper = doc.param_number("upper", 5.0, 0.0, 100.0)?;
    let pace_years = doc.param_number("pace-years", 3.0, 0.25, 100.0)?;
    let costs: Vec<&Column> = table
        .columns
        .iter()
        .filter(|c| c.name.trim().to_ascii_lowercase().ends_with("_pct"))
        .collect();
    let main = table
        .find_column(&names(doc, "series-column", SERIES))
        .or_else(|| costs.first().copied())
        .ok_or_else(|| {
            AnalysisError::Unsupported(format!(
                "a series needs a cost column ending in _pct; the table has {}",
                table.column_names()
            ))
        })?;
    let labels = period.texts();
    let mut times = Vec::with_capacity(labels.len());
    for (row, label) in labels.iter().enumerate() {
        let t = match label {
            Some(l) => Some(period_time(l).ok_or_else(|| {
                AnalysisError::InvalidInput(format!(
                    "row {}: `{l}` in column `{}` is not a period (write 2023Q3, 2023 or 2023-09)",
                    row + 1,
                    period.name
                ))
            })?),
            None => None,
        };
        times.push(t);
    }
    // (time, period, value) of a column, in time order.
    let points_of = |c: &Column| -> Result<Vec<(f64, String, f64)>, AnalysisError> {
        let values = c.numbers()?;
        let mut points: Vec<(f64, String, f64)> = (0..labels.len())
            .filter_map(|i| Some((times[i]?, labels[i].clone()?, values[i]?)))
            .collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        Ok(points)
    };
    let points = points_of(main)?;
    let Some((t_last, last_period, last)) = points.last().cloned() else {
        return Err(AnalysisError::InvalidInput(format!(
            "column `{}` has no value in a row with a period",
            main.name
        )));
    };
    let name = words(&main.name);
    let mut report = Report::default();
    let gap = last - target;
    report.metric(format!("{name} {last_period}"), last, "%");
    report.metric("gap to the target", gap, "percentage points");
    report.metric(
        format!("above {upper}%"),
        f64::from(u8::from(last > upper)),
        "",
    );
    let window: Vec<(f64, f64)> = points
        .iter()
        .filter(|p| p.0 >= t_last - pace_years)
        .map(|p| (p.0, p.2))
        .collect();
    let first_period = points
        .iter()
        .find(|p| p.0 >= t_last - pace_years)
        .map_or(last_period.clone(), |p| p.1.clone());
    let pace = if window.len() >= 2 {
        slope(&window)
    } else {
        None
    };
    let mut summary = format!(
        "The {name} was {}% in {last_period}, {}",
        readable(last),
        if gap > 0.0 {
            format!(
                "{} points above the SDG 10.c target of {target}%",
                readable(gap)
            )
        } else {
            format!("at or below the SDG 10.c target of {target}%")
        }
    );
    if last > upper {
        summary.push_str(&format!(" and above {upper}%"));
    }
    match pace {
        Some(pace) => {
            report.metric("pace", pace, "percentage points a year");
            summary.push_str(&format!(
                "; from {first_period} to {last_period} it {} {} points a year",
                if pace < 0.0 { "fell" } else { "rose" },
                readable((pace.abs() * 1000.0).round() / 1000.0)
            ));
            if gap > 0.0 && pace < 0.0 {
                let reached = t_last + gap / -pace;
                report.metric("target reached at this pace", reached.floor(), "year");
                summary.push_str(&format!(
                    ": at that pace the target is reached in {}",
                    reached.floor()
                ));
            } else if gap > 0.0 {
                summary.push_str(": at that pace the target is never reached");
                report.finding(
                    Severity::Warning,
                    format!(
                        "the {name} is not falling ({} points a year from {first_period} to {last_period}): the target of {target}% is not reached at this pace",
                        readable(pace)
                    ),
                );
            }
        }
        None => report.finding(
            Severity::Info,
            format!(
                "one value in the last {pace_years} years: no pace is measured (pass pace-years to look further back)"
            ),
        ),
    }
    report.summary = format!("{summary}.");
    report.tables.push(Table {
        name: "series".into(),
        columns: vec![
            Column::text("period", points.iter().map(|p| Some(p.1.clone())).collect()),
            Column::number(&main.name, points.iter().map(|p| Some(p.2)).collect()),
            Column::number(
                "gap_to_target",
                points.iter().map(|p| Some(p.2 - target)).collect(),
            ),
        ],
    });
    // Every cost series's latest value, beside the one followed; and every
    // cost series drawn over the periods of the one followed, with the
    // target and the ceiling across.
    let mut latest = Vec::new();
    let axis: BTreeMap<u64, &(f64, String, f64)> =
        points.iter().map(|p| (p.0.to_bits(), p)).collect();
    let mut drawn = Vec::new();
    for c in costs
        .iter()
        .copied()
        .chain((!costs.contains(&main)).then_some(main))
    {
        let of_c = points_of(c)?;
        if let Some(p) = of_c.last() {
            latest.push((c.name.clone(), p.1.clone(), p.2));
        }
        let at: BTreeMap<u64, f64> = of_c.iter().map(|p| (p.0.to_bits(), p.2)).collect();
        let series = Series {
            name: words(&c.name),
            values: axis.keys().map(|t| at.get(t).copied()).collect(),
        };
        if std::ptr::eq(c, main) {
            drawn.insert(0, series);
        } else {
            drawn.push(series);
        }
    }
    if latest.len() > costs.len() {
        latest.pop();
    }
    report.figure(Figure {
        title: format!(
            "Total cost of sending remittances ({name}), {}–{last_period}",
            points[0].1
        ),
        unit: "%".into(),
        chart: Chart::Lines(Lines {
            axis: "period".into(),
            x: axis.values().map(|p| p.0).collect(),
            labels: axis.values().map(|p| p.1.clone()).collect(),
            series: drawn,
        }),
        marks: vec![
            Mark::new(format!("SDG 10.c target, {target}%"), target),
            Mark::new(format!("{upper}% ceiling"), upper),
        ],
    });
    report.tables.push(Table {
        name: "latest".into(),
        columns: vec![
            Column::text("series", latest.iter().map(|l| Some(l.0.clone())).collect()),
            Column::text("period", latest.iter().map(|l| Some(l.1.clone())).collect()),
            Column::number("value_pct", latest.iter().map(|l| Some(l.2)).collect()),
            Column::number(
                "gap_to_target",
                latest.iter().map(|l| Some(l.2 - target)).collect(),
            ),
        ],
    });
    Ok(report)
}

fn list(rows: &[usize]) -> String {
    rows.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

kp_plugin_sdk::export_analysis!(RemittanceCost);
