//! `remittance-cost` against hand-computed values on the illustrative corridor quotes
//! (tests/fixtures/remittances/corridor-quotes-illustrative.csv, made up by design so
//! that the arithmetic can be checked by hand).

use kp_plugin_sdk::testing::{dataset, draft, metric, table_from_csv};
use kp_plugin_sdk::{AnalysisError, ColumnData, Report, Severity, check_report, run};
use remittance_cost::{RemittanceCost, total_cost_pct};

const QUOTES: &str =
    include_str!("../../../tests/fixtures/remittances/corridor-quotes-illustrative.csv");
const RPW: &str = include_str!("../../../tests/fixtures/remittances/rpw-global-averages.csv");

fn analyse(csv: &str, params: &[(&str, &str)]) -> Result<Report, AnalysisError> {
    let doc = dataset(
        "Corridor quotes",
        &[7],
        table_from_csv("quotes", csv).expect("csv"),
        params,
    );
    let report = run::<RemittanceCost>(doc.clone())?;
    check_report(&doc, &report).expect("report keeps the contract");
    Ok(report)
}

fn numbers(r: &Report, table: &str, column: &str) -> Vec<f64> {
    let t = r.get_table(table).expect("table");
    match &t.column(column).expect("column").data {
        ColumnData::Number(v) => v.iter().map(|x| x.expect("cell")).collect(),
        other => panic!("{other:?}"),
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn total_cost_of_each_quote() {
    let r = analyse(QUOTES, &[]).expect("report");
    // Quotes, in corridor order (sending, receiving), cost = (fee + margin% × 200) / 200 × 100:
    // Russian Federation → Tajikistan:  (2.00 + 0.014 × 200) / 200 = 4.80 / 200 = 2.40%
    // Saudi Arabia → India:             (2.50 + 0.006 × 200) / 200 = 3.70 / 200 = 1.85%
    // South Africa → Malawi:            (30.00 + 0.040 × 200) / 200 = 38.00 / 200 = 19.00%
    // United Kingdom → Nigeria:         (6.00 + 0.031 × 200) / 200 = 12.20 / 200 = 6.10%
    // United States → Mexico (MTO):     (5.00 + 0.012 × 200) / 200 = 7.40 / 200 = 3.70%
    // United States → Mexico (bank):    (25.00 + 0.025 × 200) / 200 = 30.00 / 200 = 15.00%
    let costs = numbers(&r, "quotes", "total_cost_pct");
    let expected = [2.4, 1.85, 19.0, 6.1, 3.7, 15.0];
    assert_eq!(costs.len(), expected.len());
    for (c, e) in costs.iter().zip(expected) {
        assert!(close(*c, e), "{costs:?}");
    }
    assert!(close(total_cost_pct(200.0, 5.0, 1.2), 3.7));
}

#[test]
fn corridor_and_overall_averages() {
    let r = analyse(QUOTES, &[]).expect("report");
    // United States → Mexico: (3.70 + 15.00) / 2 = 9.35%; the others have one quote each.
    let averages = numbers(&r, "corridors", "average_cost_pct");
    for (a, e) in averages.iter().zip([2.4, 1.85, 19.0, 6.1, 9.35]) {
        assert!(close(*a, e), "{averages:?}");
    }
    // Mean of corridor averages: (2.40 + 1.85 + 19.00 + 6.10 + 9.35) / 5 = 38.70 / 5 = 7.74%.
    assert!(close(metric(&r, "average total cost"), 7.74));
    // Mean over quotes: (2.40 + 1.85 + 19.00 + 6.10 + 3.70 + 15.00) / 6 = 48.05 / 6 = 8.008333…%.
    assert!(close(
        metric(&r, "average total cost over quotes"),
        48.05 / 6.0
    ));
    assert!(close(metric(&r, "corridors"), 5.0));
    assert!(close(metric(&r, "quotes"), 6.0));
}

#[test]
fn corridors_above_three_and_five_percent() {
    let r = analyse(QUOTES, &[]).expect("report");
    // Above 3%: South Africa → Malawi 19.00, United Kingdom → Nigeria 6.10, United States →
    // Mexico 9.35 — all three also above 5%; Russia → Tajikistan 2.40 and Saudi Arabia →
    // India 1.85 meet the target.
    assert!(close(metric(&r, "corridors above 3%"), 3.0));
    assert!(close(metric(&r, "corridors above 5%"), 3.0));
    let warnings: Vec<&str> = r
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .map(|f| f.message.as_str())
        .collect();
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    assert!(warnings[0].starts_with("South Africa → Malawi: average total cost 19.00%"));
    assert!(warnings[2].starts_with("United States → Mexico: average total cost 9.35%"));
    assert!(!r.findings.iter().any(|f| f.message.contains("Tajikistan")));
}

#[test]
fn thresholds_are_parameters() {
    let r = analyse(QUOTES, &[("upper", "10")]).expect("report");
    // With 10%: only South Africa → Malawi (19.00) is above it; Mexico (9.35) and Nigeria
    // (6.10) are only above the 3% target, so they become info findings.
    assert!(close(metric(&r, "corridors above 10%"), 1.0));
    assert!(close(metric(&r, "corridors above 3%"), 3.0));
    let sev: Vec<Severity> = r.findings.iter().map(|f| f.severity).collect();
    assert_eq!(sev, [Severity::Warning, Severity::Info, Severity::Info]);
}

#[test]
fn column_names_are_parameters_and_case_insensitive() {
    let csv = "From,To,Sent,FEE_USD,Margin\nA,B,100,1.5,2.5\nA,B,400,0,1\n";
    let r = analyse(
        csv,
        &[
            ("sending-column", "from"),
            ("receiving-column", "TO"),
            ("amount-column", "sent"),
            ("margin-column", "margin"),
        ],
    )
    .expect("report");
    // (1.50 + 0.025 × 100) / 100 = 4.00%; (0 + 0.01 × 400) / 400 = 1.00%; corridor A → B 2.50%.
    assert_eq!(numbers(&r, "quotes", "total_cost_pct"), [4.0, 1.0]);
    assert!(close(metric(&r, "average total cost"), 2.5));
    assert!(r.findings.is_empty(), "{:?}", r.findings);
}

#[test]
fn incomplete_and_impossible_rows_are_left_out_and_named() {
    let csv = "sending_country,receiving_country,amount_sent_usd,fee_usd,fx_margin_pct\n\
               A,B,200,4,1\n\
               A,B,,4,1\n\
               A,B,0,4,1\n\
               A,B,200,-1,1\n";
    let r = analyse(csv, &[]).expect("report");
    // Only row 1 counts: (4 + 0.01 × 200) / 200 = 3.00%, not above the target.
    assert!(close(metric(&r, "average total cost"), 3.0));
    assert!(close(metric(&r, "corridors above 3%"), 0.0));
    let messages: Vec<&str> = r.findings.iter().map(|f| f.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "rows left out for an empty cell: 2",
            "rows left out for an amount that is not positive or a negative fee: 3, 4"
        ]
    );
}

#[test]
fn wrong_input_is_refused_clearly() {
    let doc = draft("A brief", "policy-brief", "Some text.", &[]);
    assert!(
        matches!(run::<RemittanceCost>(doc), Err(AnalysisError::Unsupported(m)) if m.contains("dataset"))
    );

    let missing = "sending_country,receiving_country,amount_sent_usd,fee_usd\nA,B,200,5\n";
    assert!(
        matches!(analyse(missing, &[]), Err(AnalysisError::Unsupported(m)) if m.contains("`fx_margin_pct`"))
    );

    let text_fee =
        "sending_country,receiving_country,amount_sent_usd,fee_usd,fx_margin_pct\nA,B,200,five,1\n";
    assert!(
        matches!(analyse(text_fee, &[]), Err(AnalysisError::Unsupported(m)) if m.contains("fee_usd"))
    );

    let nothing =
        "sending_country,receiving_country,amount_sent_usd,fee_usd,fx_margin_pct\nA,B,,5,1\n";
    assert!(matches!(
        analyse(nothing, &[]),
        Err(AnalysisError::InvalidInput(_))
    ));

    assert!(
        matches!(analyse(QUOTES, &[("target", "three")]), Err(AnalysisError::BadParam(m)) if m.contains("`target`"))
    );
    assert!(matches!(
        analyse(QUOTES, &[("target", "-1")]),
        Err(AnalysisError::BadParam(_))
    ));
    assert!(
        matches!(analyse(QUOTES, &[("upper", "2")]), Err(AnalysisError::BadParam(m)) if m.contains("below"))
    );
    assert!(
        matches!(analyse(QUOTES, &[("treshold", "2")]), Err(AnalysisError::BadParam(m)) if m.contains("no parameter `treshold`"))
    );
}

/// The slope of the least-squares line through `points`, worked out here
/// from its textbook formula, apart from the plugin's code.
fn least_squares(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), p| (a + p.0, b + p.1));
    let (sxx, sxy) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), p| (a + p.0 * p.0, b + p.0 * p.1));
    (n * sxy - sx * sy) / (n * sxx - sx * sx)
}

#[test]
fn rpws_global_average_against_the_sdg_target() {
    // RPW Issues 37 and 47: 6.51 (2020Q4), 6.38 (2021Q1), 6.20 (2023Q2), 6.18 (2023Q3).
    let r = analyse(RPW, &[]).expect("a series is read");
    assert!(close(metric(&r, "global average 2023Q3"), 6.18));
    // 6.18 − 3 = 3.18 points above the target, and above the 5% ceiling.
    assert!(close(metric(&r, "gap to the target"), 3.18));
    assert!(close(metric(&r, "above 5%"), 1.0));
    // The last three years (from 2020Q3 on): all four quarters, at the start of
    // each (2020.75, 2021.0, 2023.25, 2023.5).
    let pace = least_squares(&[
        (2020.75, 6.51),
        (2021.0, 6.38),
        (2023.25, 6.20),
        (2023.5, 6.18),
    ]);
    assert!((metric(&r, "pace") - pace).abs() < 1e-9, "{pace}");
    assert!(pace < -0.1 && pace > -0.11, "{pace}");
    // 3.18 points at that pace: 30.6 years after 2023Q3, in 2054.
    let reached = (2023.5 + 3.18 / -pace).floor();
    assert_eq!(reached, 2054.0);
    assert!(close(metric(&r, "target reached at this pace"), reached));
    assert_eq!(
        r.summary,
        "The global average was 6.18% in 2023Q3, 3.18 points above the SDG 10.c target of 3% \
         and above 5%; from 2020Q4 to 2023Q3 it fell 0.104 points a year: at that pace the \
         target is reached in 2054."
    );
    // Every cost series' latest value beside it; the share of corridors below 5%
    // is not a cost.
    let latest = r.get_table("latest").expect("latest");
    assert_eq!(latest.column("series").expect("series").data.len(), 6);
    assert_eq!(
        numbers(&r, "latest", "value_pct"),
        [6.18, 4.78, 3.36, 5.44, 7.39, 11.48]
    );
    // Over one year only the last two quarters count.
    let r = analyse(RPW, &[("pace-years", "1")]).expect("report");
    let pace = least_squares(&[(2023.25, 6.20), (2023.5, 6.18)]);
    assert!((metric(&r, "pace") - pace).abs() < 1e-9);
    // South Asia's average, which rose (4.64 in 2021Q1, 5.44 in 2023Q3): the
    // target is not reached at that pace.
    let r = analyse(RPW, &[("series-column", "south_asia_pct")]).expect("report");
    assert!(r.summary.contains("never reached"), "{}", r.summary);
    assert!(r.findings.iter().any(|f| f.severity == Severity::Warning));
    // A period that is not one is refused with its row.
    let bad = RPW.replace("2021Q1", "early 2021");
    let e = analyse(&bad, &[]).unwrap_err().to_string();
    assert!(e.contains("row 2: `early 2021`"), "{e}");
}
