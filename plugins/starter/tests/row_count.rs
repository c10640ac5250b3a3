//! `row-count` run as a node runs it, on a table read as a node reads a CSV file.

use kp_plugin_sdk::testing::{dataset, table_from_csv};
use kp_plugin_sdk::{check_describe, check_report, run};

#[test]
fn the_node_would_install_it() {
    // What `describe` says, checked as the node checks it at install: a
    // name, a version, each default of its parameter's kind.
    check_describe::<row_count::RowCount>().expect("a description the node accepts");
}

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
    // Refused before the analysis runs, as the node refuses it.
    let err = run::<row_count::RowCount>(doc).expect_err("a refusal");
    assert!(err.to_string().contains("`min` takes an integer"), "{err}");
}
