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

use std::collections::BTreeMap;

use kp_plugin_sdk::{
    Analysis, AnalysisError, Column, DocKind, Document, Param, PluginInfo, Report, Severity, Table,
};

/// The plugin.
#[derive(Debug)]
pub struct RemittanceCost;

const SENDING: &str = "sending_country";
const RECEIVING: &str = "receiving_country";
const AMOUNT: &str = "amount_sent_usd";
const FEE: &str = "fee_usd";
const MARGIN: &str = "fx_margin_pct";

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
                Param::new("target", "3", "SDG 10.c target for the total cost, in percent"),
                Param::new("upper", "5", "cost above which a corridor should be eliminated, in percent"),
            ],
        }
    }

    fn analyze(doc: &Document) -> Result<Report, AnalysisError> {
        let table = doc.table()?;
        table.check_shape()?;
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

fn list(rows: &[usize]) -> String {
    rows.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

kp_plugin_sdk::export_analysis!(RemittanceCost);
