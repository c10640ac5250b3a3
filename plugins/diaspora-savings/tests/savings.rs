//! `diaspora-savings` against hand-computed values on an illustrative table
//! (tests/fixtures/diaspora-illustrative.csv).

use diaspora_savings::DiasporaSavings;
use kp_plugin_sdk::testing::{dataset, draft, metric, table_from_csv};
use kp_plugin_sdk::{AnalysisError, ColumnData, Report, check_report, run};

const ROWS: &str = include_str!("fixtures/diaspora-illustrative.csv");

fn analyse(csv: &str, params: &[(&str, &str)]) -> Result<Report, AnalysisError> {
    let doc = dataset(
        "Diaspora",
        &[8],
        table_from_csv("t", csv).expect("csv"),
        params,
    );
    let report = run::<DiasporaSavings>(doc.clone())?;
    check_report(&doc, &report).expect("report keeps the contract");
    Ok(report)
}

fn numbers(r: &Report, table: &str, column: &str) -> Vec<f64> {
    match &r
        .get_table(table)
        .expect("table")
        .column(column)
        .expect("column")
        .data
    {
        ColumnData::Number(v) => v.iter().map(|x| x.expect("cell")).collect(),
        other => panic!("{other:?}"),
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn savings_with_the_ratha_mohapatra_assumptions() {
    let r = analyse(ROWS, &[]).expect("report");
    // Income factor = t × 1 + (1 − t) × 1/3; savings = migrants × income × factor × rate.
    // P/X: t 0.30 → 0.3 + 0.7/3 = 8/15; 1,000,000 × 45,000 × 8/15 × 0.25 = 24e9 × 0.25 = 6.00 bn
    // P/Y: t 0.60 → 0.6 + 0.4/3 = 11/15; 500,000 × 30,000 × 11/15 × 0.25 = 11e9 × 0.25 = 2.75 bn
    // Q/X: t unknown → 1/3;            200,000 × 45,000 × 1/3 × 0.10 = 3e9 × 0.10 = 0.30 bn
    // Q/Z: no saving rate and no `saving-rate` parameter → left out.
    assert_eq!(numbers(&r, "rows", "savings_usd_bn").len(), 3);
    for (a, e) in numbers(&r, "rows", "savings_usd_bn")
        .iter()
        .zip([6.0, 2.75, 0.3])
    {
        assert!(close(*a, e), "{a} {e}");
    }
    assert!(close(metric(&r, "diaspora savings: Country P"), 8.75));
    assert!(close(metric(&r, "diaspora savings: Country Q"), 0.3));
    assert!(close(metric(&r, "diaspora savings"), 9.05));
    assert!(close(metric(&r, "migrants"), 1_700_000.0));
    let messages: Vec<&str> = r.findings.iter().map(|f| f.message.as_str()).collect();
    assert!(messages[0].ends_with("saving rate: 4"), "{messages:?}");
    assert!(
        messages[1].starts_with("no tertiary share in rows 3:"),
        "{messages:?}"
    );
    assert!(
        r.summary.contains("the largest is Country P (8.75 USD bn)"),
        "{}",
        r.summary
    );
}

#[test]
fn sensitivity_to_the_income_of_other_migrants() {
    let r = analyse(ROWS, &[]).expect("report");
    // f_other = 1/4: P/X 45e9 × (0.3 + 0.175) × 0.25 = 5.34375; P/Y 15e9 × (0.6 + 0.1) × 0.25
    //   = 2.625; Q/X 9e9 × 0.25 × 0.1 = 0.225 → 8.19375 bn
    // f_other = 1/3: 9.05 bn (above)
    // f_other = 1/2: P/X 45e9 × 0.65 × 0.25 = 7.3125; P/Y 15e9 × 0.8 × 0.25 = 3.0;
    //   Q/X 9e9 × 0.5 × 0.1 = 0.45 → 10.7625 bn
    let s = numbers(&r, "sensitivity", "savings_usd_bn");
    for (a, e) in s.iter().zip([8.19375, 9.05, 10.7625]) {
        assert!(close(*a, e), "{s:?}");
    }
}

#[test]
fn assumptions_are_parameters() {
    // A saving rate for rows without one: Q/Z t 0.20 → 0.2 + 0.8/3 = 7/15;
    // 300,000 × 12,000 × 7/15 × 0.15 = 1.68e9 × 0.15 = 0.252 bn; Q = 0.30 + 0.252 = 0.552.
    let r = analyse(ROWS, &[("saving-rate", "15")]).expect("report");
    assert!(close(metric(&r, "diaspora savings: Country Q"), 0.552));
    assert!(close(metric(&r, "diaspora savings"), 9.302));
    // Other migrants earning half: P/X 7.3125 + P/Y 3.0 = 10.3125 for P.
    let r = analyse(ROWS, &[("other-income-factor", "1/2")]).expect("report");
    assert!(close(metric(&r, "diaspora savings: Country P"), 10.3125));
    // A tertiary share for rows without one: Q/X t 0.5 → 0.5 + 0.5/3 = 2/3;
    // 9e9 × 2/3 × 0.1 = 0.6 bn.
    let r = analyse(ROWS, &[("tertiary-pct", "50")]).expect("report");
    assert!(close(metric(&r, "diaspora savings: Country Q"), 0.6));
    assert!(
        !r.findings
            .iter()
            .any(|f| f.message.starts_with("no tertiary share"))
    );
}

#[test]
fn a_table_without_tertiary_or_rates_needs_a_rate() {
    let csv = "origin,migrants,income_usd\nA,1000,30000\n";
    assert!(
        matches!(analyse(csv, &[]), Err(AnalysisError::BadParam(m)) if m.contains("saving-rate"))
    );
    // 1,000 × 30,000 × 1/3 × 0.30 = 3e6 → 0.003 bn.
    let r = analyse(csv, &[("saving-rate", "30")]).expect("report");
    assert!(close(metric(&r, "diaspora savings"), 0.003));
}

#[test]
fn wrong_input_is_refused_clearly() {
    let doc = draft("A brief", "policy-brief", "Text.", &[]);
    assert!(matches!(
        run::<DiasporaSavings>(doc),
        Err(AnalysisError::Unsupported(_))
    ));
    assert!(matches!(
        analyse("origin,income_usd,saving_rate_pct\nA,3,4\n", &[]),
        Err(AnalysisError::Unsupported(m)) if m.contains("`migrants`")
    ));
    assert!(matches!(
        analyse("origin,migrants,income_usd,saving_rate_pct\nA,many,3,4\n", &[]),
        Err(AnalysisError::Unsupported(m)) if m.contains("migrants")
    ));
    assert!(matches!(
        analyse(
            "origin,migrants,income_usd,saving_rate_pct\nA,-5,3,4\n",
            &[]
        ),
        Err(AnalysisError::InvalidInput(_))
    ));
    for bad in ["1/0", "x", "-1", "11", "1/x"] {
        assert!(
            matches!(analyse(ROWS, &[("other-income-factor", bad)]), Err(AnalysisError::BadParam(m)) if m.contains("other-income-factor")),
            "{bad}"
        );
    }
    assert!(matches!(
        analyse(ROWS, &[("saving-rate", "120")]),
        Err(AnalysisError::BadParam(_))
    ));
}

#[test]
fn out_of_range_rows_are_left_out_and_named() {
    let csv = "origin,migrants,income_usd,tertiary_pct,saving_rate_pct\nA,1000,30000,50,10\nA,1000,30000,150,10\nB,1000,30000,50,-3\n";
    let r = analyse(csv, &[]).expect("report");
    assert!(
        r.findings
            .iter()
            .any(|f| f.message.ends_with("outside 0 to 100: 2, 3"))
    );
    // Row 1 only: 1,000 × 30,000 × (0.5 + 0.5/3) × 0.10 = 3e7 × 2/3 × 0.1 = 2e6 → 0.002 bn.
    assert!(close(metric(&r, "diaspora savings"), 0.002));
}
