//! `row-count` run as a node runs it, on a table read as a node reads a CSV file.

use kp_plugin_sdk::testing::{dataset, table_from_csv};
use kp_plugin_sdk::{check_report, run};

#[test]
fn counts_rows_and_empty_cells() {
    let table = table_from_csv("data", "fee_usd,note\n5.0,a\n,b\n2.5,\n").expect("csv");
    let doc = dataset("Quotes", &[7], table, &[("min", "5")]);
    let report = run::<row_count::RowCount>(doc.clone()).expect("a report");
    check_report(&doc, &report).expect("a report the node accepts");
    assert_eq!(report.get_metric("rows").map(|m| m.value), Some(3.0));
    assert_eq!(report.get_metric("empty cells").map(|m| m.value), Some(2.0));
    // Fewer than 5 rows.
    assert_eq!(report.findings.len(), 1);
}

#[test]
fn a_bad_parameter_is_refused() {
    let table = table_from_csv("data", "a\n1\n").expect("csv");
    let doc = dataset("One", &[], table, &[("min", "many")]);
    assert!(run::<row_count::RowCount>(doc).is_err());
}
