//! `remittance-indicators` against hand-computed values: the published tables in
//! tests/fixtures/remittances/ (World Bank, Migration and Development Brief 17) and an
//! illustrative panel with GDP and aid.

use kp_plugin_sdk::testing::{dataset, draft, metric, table_from_csv};
use kp_plugin_sdk::{AnalysisError, ColumnData, Report, Severity, check_report, run};
use remittance_indicators::RemittanceIndicators;

const TOP_2011: &str = include_str!("../../../tests/fixtures/remittances/top-recipients-2011.csv");
const SHARE_2010: &str = include_str!("../../../tests/fixtures/remittances/share-of-gdp-2010.csv");
const TOTALS: &str =
    include_str!("../../../tests/fixtures/remittances/developing-country-totals.csv");
const PANEL: &str = include_str!("fixtures/panel-illustrative.csv");

fn analyse(csv: &str, params: &[(&str, &str)]) -> Result<Report, AnalysisError> {
    let doc = dataset(
        "Remittances",
        &[1, 7],
        table_from_csv("t", csv).expect("csv"),
        params,
    );
    let report = run::<RemittanceIndicators>(doc.clone())?;
    check_report(&doc, &report).expect("report keeps the contract");
    Ok(report)
}

fn numbers(r: &Report, table: &str, column: &str) -> Vec<Option<f64>> {
    let t = r
        .get_table(table)
        .unwrap_or_else(|| panic!("no table {table}"));
    match &t
        .column(column)
        .unwrap_or_else(|| panic!("no column {column}"))
        .data
    {
        ColumnData::Number(v) => v.clone(),
        other => panic!("{other:?}"),
    }
}

fn texts(r: &Report, table: &str, column: &str) -> Vec<String> {
    let t = r
        .get_table(table)
        .unwrap_or_else(|| panic!("no table {table}"));
    t.column(column)
        .expect("column")
        .texts()
        .into_iter()
        .map(|c| c.unwrap_or_default())
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

fn says(r: &Report, part: &str) -> bool {
    r.findings.iter().any(|f| f.message.contains(part))
}

#[test]
fn totals_growth_2010_to_2011_is_eight_percent() {
    // developing-country-totals.csv has no country column: one series.
    let r = analyse(TOTALS, &[("year", "2011")]).expect("report");
    // 351 / 325 − 1 = 0.08 exactly: "an 8 percent increase" (Brief 17).
    assert!(close(metric(&r, "growth 2010-2011"), 8.0));
    assert!(close(metric(&r, "total remittances 2011"), 351.0));
    // 2009 → 2010: 325 / 316 − 1 = 9 / 316 = 2.848…%; 2011 → 2014 is not year on year.
    let growth = numbers(&r, "indicators", "growth_pct");
    assert_eq!(growth.len(), 4);
    assert!(growth[0].is_none() && growth[3].is_none());
    assert!(close(growth[1].expect("2010"), 100.0 * 9.0 / 316.0));
    assert!(close(growth[2].expect("2011"), 8.0));
    assert!(says(&r, "read as one series"));
    assert!(says(&r, "no GDP column"));
    assert!(says(&r, "ratio of remittances to aid is not computed"));
    assert_eq!(r.get_metric("countries above 10% of GDP"), None);
}

#[test]
fn totals_rank_the_latest_year_that_is_not_a_forecast() {
    let r = analyse(TOTALS, &[]).expect("report");
    // The file marks 2014 as a forecast and 2011 as an estimate: the default
    // year is 2011, said to be an estimate, and the forecast is named.
    assert!(close(metric(&r, "ranking year"), 2011.0));
    assert!(close(metric(&r, "total remittances 2011"), 351.0));
    assert_eq!(
        r.summary,
        "In 2011 (estimate), remittances were 351 USD bn, 8.0% more than in 2010."
    );
    assert!(
        says(&r, "2014 is a forecast in column `status`"),
        "{:?}",
        r.findings
    );
    assert_eq!(
        texts(&r, "indicators", "status"),
        ["observed", "observed", "estimate", "forecast"]
    );
    assert_eq!(
        r.get_table("top by value"),
        None,
        "one series has no ranking"
    );
    // Asked for, the forecast year is ranked, and said to be a forecast; 2013
    // is absent, so there is no growth.
    let r = analyse(TOTALS, &[("year", "2014")]).expect("report");
    assert!(close(metric(&r, "total remittances 2014"), 441.0));
    assert_eq!(r.get_metric("growth 2013-2014"), None);
    assert_eq!(
        r.summary,
        "In 2014 (forecast), remittances were 441 USD bn."
    );
}

#[test]
fn top_recipients_2011_by_value() {
    let r = analyse(TOP_2011, &[("top", "3")]).expect("report");
    assert_eq!(
        texts(&r, "top by value", "country"),
        ["India", "China", "Mexico"]
    );
    assert_eq!(
        numbers(&r, "top by value", "remittances"),
        [Some(58.0), Some(57.0), Some(24.0)]
    );
    // 58 + 57 + 24 + 23 = 162, in USD bn (read from the column name).
    let total = r.get_metric("total remittances 2011").expect("total");
    assert!(close(total.value, 162.0));
    assert_eq!(total.unit, "USD bn");
    assert!(says(&r, "no GDP column"));
    assert!(says(&r, "growth is not computed"));
    // The sum of four countries is said to be that, not a total.
    assert!(
        r.summary.starts_with(
            "In 2011, the 4 countries in the table received 162 USD bn together; \
             the largest recipient was India (58 USD bn)"
        ),
        "{}",
        r.summary
    );
}

#[test]
fn share_of_gdp_2010_as_published() {
    let r = analyse(SHARE_2010, &[("top", "7")]).expect("report");
    // Shares as published; Lebanon, Nepal and Tonga tie at 20% and are ordered by name.
    assert_eq!(
        texts(&r, "top by share of GDP", "country"),
        [
            "Tajikistan",
            "Lesotho",
            "Samoa",
            "Moldova",
            "Kyrgyz Republic",
            "Lebanon",
            "Nepal"
        ]
    );
    // All ten are above 10% of GDP (the lowest, El Salvador, is 16%).
    assert!(close(metric(&r, "countries above 10% of GDP"), 10.0));
    let first = r
        .findings
        .iter()
        .find(|f| f.message.starts_with("Tajikistan"))
        .expect("finding");
    assert_eq!(
        first.message,
        "Tajikistan: remittances were 31.0% of GDP in 2010, above 10%"
    );
    assert!(says(&r, "taken as given in column `remittances_pct_gdp`"));
    assert!(says(&r, "no remittance values"));
    assert_eq!(r.get_table("top by value"), None);
    assert_eq!(
        r.summary,
        "In 2010, the highest share of GDP was Tajikistan's (31.0%); 10 countries were above 10% of GDP."
    );
}

#[test]
fn threshold_is_a_parameter() {
    let r = analyse(SHARE_2010, &[("threshold", "21")]).expect("report");
    // Strictly above 21%: Tajikistan 31, Lesotho 29, Samoa 25, Moldova 23 (Kyrgyz 21 is not).
    assert!(close(metric(&r, "countries above 21% of GDP"), 4.0));
}

#[test]
fn panel_with_gdp_and_aid() {
    let r = analyse(PANEL, &[]).expect("report");
    // Column names differ in case (Country, Remittances_USD_bn, ...): matched anyway.
    // 2020 shares: A 2.5/20 = 12.5%; B 9/360 = 2.5%; C 1.2/4 = 30%.
    assert_eq!(
        texts(&r, "top by share of GDP", "country"),
        ["Country C", "Country A", "Country B"]
    );
    assert_eq!(
        numbers(&r, "top by share of GDP", "share_of_gdp_pct"),
        [Some(30.0), Some(12.5), Some(2.5)]
    );
    assert_eq!(
        texts(&r, "top by value", "country"),
        ["Country B", "Country A", "Country C"]
    );
    assert!(close(metric(&r, "countries above 10% of GDP"), 2.0));
    // Growth 2019 → 2020: A 2.5/2 − 1 = 25%; B 9/10 − 1 = −10%; C 1.2/1 − 1 = 20%.
    let growth = numbers(&r, "indicators", "growth_pct");
    assert_eq!(growth[0], None);
    assert!(close(growth[1].expect("A"), 25.0));
    assert!(close(growth[3].expect("B"), -10.0));
    assert!(close(growth[5].expect("C"), 20.0));
    // Total: 2019 2 + 10 + 1 = 13, 2020 2.5 + 9 + 1.2 = 12.7: 12.7/13 − 1 = −2.3077%.
    assert!(close(
        metric(&r, "growth 2019-2020"),
        100.0 * (12.7 / 13.0 - 1.0)
    ));
    // Ratio to aid per row: A 2019 2/1 = 2, A 2020 2.5/0.5 = 5, B 2019 none (no ODA),
    // B 2020 9/3 = 3, C 2019 1/2 = 0.5, C 2020 1.2/2.4 = 0.5.
    let to_oda = numbers(&r, "indicators", "remittances_to_oda");
    let expected = [Some(2.0), Some(5.0), None, Some(3.0), Some(0.5), Some(0.5)];
    for (a, e) in to_oda.iter().zip(expected) {
        assert_eq!(a.is_some(), e.is_some());
        if let (Some(a), Some(e)) = (a, e) {
            assert!(close(*a, e), "{to_oda:?}");
        }
    }
    // 2020 totals: 12.7 / (0.5 + 3.0 + 2.4) = 12.7 / 5.9 = 2.1525…
    assert!(close(metric(&r, "remittances to ODA 2020"), 12.7 / 5.9));
    let warnings = r
        .findings
        .iter()
        .filter(|f| f.severity != Severity::Info)
        .count();
    assert_eq!(warnings, 0, "{:?}", r.findings);
}

#[test]
fn ranking_year_and_columns_are_parameters() {
    let r = analyse(
        PANEL,
        &[("year", "2019"), ("gdp-column", "nothing"), ("top", "1")],
    )
    .expect("report");
    // 2019 by value: B 10 first; without GDP no share is computed.
    assert_eq!(texts(&r, "top by value", "country"), ["Country B"]);
    assert!(says(&r, "looked for nothing"));
    assert_eq!(r.get_table("top by share of GDP"), None);
}

#[test]
fn wrong_input_is_refused_clearly() {
    let doc = draft("A brief", "policy-brief", "Text.", &[]);
    assert!(matches!(
        run::<RemittanceIndicators>(doc),
        Err(AnalysisError::Unsupported(_))
    ));
    assert!(matches!(
        analyse("country,year,fee\nA,2010,3\n", &[]),
        Err(AnalysisError::Unsupported(m)) if m.contains("no remittance column")
    ));
    assert!(matches!(
        analyse("country,remittances\nA,3\n", &[]),
        Err(AnalysisError::Unsupported(m)) if m.contains("`year`")
    ));
    assert!(matches!(
        analyse("country,year,remittances\nA,2010.5,3\n", &[]),
        Err(AnalysisError::InvalidInput(m)) if m.contains("whole number")
    ));
    assert!(matches!(
        analyse("country,year,remittances\nA,2010,3\nA,2010,4\n", &[]),
        Err(AnalysisError::InvalidInput(m)) if m.contains("two rows for A in 2010")
    ));
    // The first row that repeats a country-year is the one named, whatever
    // the countries' order.
    let err = analyse(
        "country,year,remittances\nB,2010,1\nA,2011,2\nB,2011,3\nB,2010,4\nA,2011,5\nB,2011,6\n",
        &[],
    )
    .unwrap_err();
    assert_eq!(
        err,
        AnalysisError::InvalidInput("two rows for B in 2010 (the second is row 4)".into())
    );
    assert!(matches!(
        analyse("country,year,remittances\nA,2010,lots\n", &[]),
        Err(AnalysisError::Unsupported(m)) if m.contains("remittances")
    ));
    assert!(matches!(
        analyse(PANEL, &[("top", "0")]),
        Err(AnalysisError::BadParam(_))
    ));
    assert!(
        matches!(analyse(PANEL, &[("top", "-2")]), Err(AnalysisError::BadParam(m)) if m.contains("`top`"))
    );
    assert!(
        matches!(analyse(PANEL, &[("year", "1999")]), Err(AnalysisError::BadParam(m)) if m.contains("1999"))
    );
    assert!(matches!(
        analyse(PANEL, &[("threshold", "x")]),
        Err(AnalysisError::BadParam(_))
    ));
}

#[test]
fn rows_without_country_or_year_are_named() {
    let r = analyse("country,year,remittances\nA,2010,3\n,2010,4\nB,,5\n", &[]).expect("report");
    assert!(says(
        &r,
        "rows left out for a missing country or year: 2, 3"
    ));
    assert!(close(metric(&r, "total remittances 2010"), 3.0));
}

#[test]
fn a_fall_is_said_as_a_fall() {
    // 300 → 270: 10% less.
    let csv = "year,remittances_usd_bn\n2019,300\n2020,270\n";
    let r = analyse(csv, &[]).expect("report");
    assert!(close(metric(&r, "growth 2019-2020"), -10.0));
    assert_eq!(
        r.summary,
        "In 2020, remittances were 270 USD bn, 10.0% less than in 2019."
    );
}

#[test]
fn the_totals_figure_draws_a_forecast_as_its_own_line() {
    let r = analyse(TOTALS, &[]).expect("report");
    let figure = r.figures.first().expect("a figure");
    assert_eq!(figure.title, "Remittances, 2009–2014");
    assert_eq!(figure.unit, "USD bn");
    let kp_plugin_sdk::Chart::Lines(lines) = &figure.chart else {
        panic!("{figure:?}")
    };
    // The years and values as the file has them, read here line by line.
    let rows: Vec<(f64, f64, &str)> = TOTALS
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].parse().unwrap(), f[1].parse().unwrap(), f[2])
        })
        .collect();
    assert_eq!(lines.x, rows.iter().map(|r| r.0).collect::<Vec<_>>());
    let known: Vec<Option<f64>> = rows
        .iter()
        .map(|r| (r.2 != "forecast").then_some(r.1))
        .collect();
    assert_eq!(lines.series[0].values, known);
    // The forecast starts from the last year that is not one, so the line
    // goes on where the record stops.
    assert_eq!(lines.series[1].name, "forecast");
    assert_eq!(
        lines.series[1].values,
        [None, None, Some(351.0), Some(441.0)]
    );
    // One series, so no ranking is drawn.
    assert_eq!(r.figures.len(), 1);
}

#[test]
fn the_rankings_are_drawn_as_they_are_listed() {
    let r = analyse(SHARE_2010, &[("top", "3")]).expect("report");
    let f = r
        .figures
        .iter()
        .find(|f| f.title == "Remittances as a share of GDP in 2010")
        .expect("the share ranking");
    let kp_plugin_sdk::Chart::Bars(bars) = &f.chart else {
        panic!("{f:?}")
    };
    let labels: Vec<&str> = bars.iter().map(|b| b.label.as_str()).collect();
    assert_eq!(labels, ["Tajikistan", "Lesotho", "Samoa"]);
    assert_eq!(bars[0].value, 31.0);
    assert_eq!(f.marks[0].value, 10.0);
    assert_eq!(f.unit, "%");
}
