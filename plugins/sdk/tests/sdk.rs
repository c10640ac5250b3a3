//! The SDK's helpers on real inputs: a published table, drafts, bad parameters.

use kp_plugin_sdk::testing::{dataset, draft, sections, table_from_csv};
use kp_plugin_sdk::{
    Analysis, AnalysisError, ColumnData, DocKind, Document, InvalidReport, Param, ParamKind,
    PluginInfo, Report, Severity, TextRange, check_report, run,
};

const TOP_2011: &str = include_str!("../../../tests/fixtures/remittances/top-recipients-2011.csv");

/// Echoes its parameters as metrics and findings, to observe what `run` passes on.
struct Echo;

impl Analysis for Echo {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "echo".into(),
            version: "0.1.0".into(),
            summary: "test".into(),
            kinds: vec![DocKind::Dataset],
            themes: vec![],
            params: vec![
                Param::new("top", "5", "n").of(ParamKind::Integer),
                Param::optional("year", "y"),
            ],
        }
    }

    fn analyze(doc: &Document) -> Result<Report, AnalysisError> {
        let mut r = Report::default();
        r.metric("top", doc.param_or::<u32>("top", 0)?.into(), "");
        r.finding(Severity::Info, format!("year={:?}", doc.param("year")));
        Ok(r)
    }
}

fn top_2011(params: &[(&str, &str)]) -> Document {
    dataset(
        "Top recipients 2011",
        &[7],
        table_from_csv("t", TOP_2011).expect("csv"),
        params,
    )
}

#[test]
fn csv_columns_are_typed_like_an_import() {
    let t = table_from_csv("t", "a,b,c,d,e\n1,1.5,yes,x,\n2,,no,,\n").expect("csv");
    let types: Vec<&str> = t.columns.iter().map(|c| c.type_name()).collect();
    assert_eq!(types, ["integer", "number", "boolean", "text", "text"]);
    assert_eq!(t.row_count(), 2);
    assert_eq!(t.columns[1].data, ColumnData::Number(vec![Some(1.5), None]));
    assert!(
        table_from_csv("t", "a,b\n1\n").is_err(),
        "a short row is an error"
    );
}

#[test]
fn columns_by_name_and_as_numbers() {
    let doc = top_2011(&[]);
    let t = doc.table().expect("table");
    // Case and surrounding spaces do not matter.
    let c = t.column(" Remittances_USD_BN ").expect("column");
    assert_eq!(
        c.numbers().expect("numbers"),
        [Some(58.0), Some(57.0), Some(24.0), Some(23.0)]
    );
    assert_eq!(t.find_column(&["gdp", "year"]).expect("year").name, "year");
    assert_eq!(
        t.column("year").expect("year").integers().expect("ints")[0],
        Some(2011)
    );
    assert_eq!(
        t.column("country").expect("c").texts()[3].as_deref(),
        Some("Philippines")
    );
    let err = t.column("country").expect("c").numbers().expect_err("text");
    assert!(matches!(err, AnalysisError::Unsupported(m) if m.contains("`country` holds text")));
    let err = t.require_column("gdp").expect_err("missing");
    assert!(
        matches!(err, AnalysisError::Unsupported(m) if m.contains("country, year, remittances_usd_bn"))
    );
}

#[test]
fn integers_refuse_fractions() {
    let t = table_from_csv("t", "y,z\n2010.5,2011\n").expect("csv");
    assert!(
        matches!(t.columns[0].integers(), Err(AnalysisError::InvalidInput(m)) if m.contains("row 1"))
    );
    assert_eq!(t.columns[1].integers().expect("ints"), [Some(2011)]);
}

#[test]
fn run_applies_defaults_and_refuses_unknown_params() {
    let r = run::<Echo>(top_2011(&[])).expect("report");
    assert_eq!(r.metrics[0].value, 5.0, "default applied");
    assert_eq!(
        r.findings[0].message, "year=None",
        "optional parameter stays absent"
    );
    let r = run::<Echo>(top_2011(&[("top", "3"), ("year", "2011")])).expect("report");
    assert_eq!(r.metrics[0].value, 3.0);
    assert_eq!(r.findings[0].message, "year=Some(\"2011\")");
    let err = run::<Echo>(top_2011(&[("tpo", "3")])).expect_err("unknown");
    assert_eq!(
        err,
        AnalysisError::BadParam("plugin echo has no parameter `tpo`; it accepts: top, year".into())
    );
    let err = run::<Echo>(top_2011(&[("top", "three")])).expect_err("bad");
    assert!(
        matches!(err, AnalysisError::BadParam(m) if m.contains("`top`") && m.contains("`three`"))
    );
    let err = run::<Echo>(draft("A draft", "policy-brief", "Text.", &[])).expect_err("kind");
    assert!(
        matches!(err, AnalysisError::Unsupported(m) if m.contains("datasets") && m.contains("draft"))
    );
}

#[test]
fn params_as_lists_and_bounded_numbers() {
    let doc = top_2011(&[("top", " a, b ,,c "), ("year", "150")]);
    assert_eq!(doc.param_list("top"), ["a", "b", "c"]);
    assert!(doc.param_list("missing").is_empty());
    assert!(
        matches!(doc.param_number("year", 1.0, 0.0, 100.0), Err(AnalysisError::BadParam(m)) if m.contains("outside"))
    );
    assert_eq!(doc.param_number("missing", 7.0, 0.0, 100.0), Ok(7.0));
}

#[test]
fn drafts_split_into_sections() {
    let s = sections("Preface.\n# One\ntext 1\n## Two ##\ntext 2\n");
    let got: Vec<(&str, u8, &str)> = s
        .iter()
        .map(|s| (s.heading.as_str(), s.level, s.text.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("", 0, "Preface.\n"),
            ("One", 1, "text 1\n"),
            ("Two ##", 2, "text 2\n")
        ]
    );
    assert_eq!(sections("# Only\n").len(), 1, "no empty leading section");
    // As on a node: blank lines before the first heading are section 0.
    let s = sections("\n# One\ntext\n");
    assert_eq!((s.len(), s[0].level, s[1].heading.as_str()), (2, 0, "One"));
    let d = draft("Brief", "policy-brief", "x", &[]);
    assert_eq!(d.metadata("TYPE"), Some("policy-brief"));
}

#[test]
fn check_report_catches_broken_anchors_and_numbers() {
    let doc = draft("Brief", "policy-brief", "Café au lait.", &[]);
    let mut r = Report::default();
    r.anchored(
        Severity::Info,
        "ok",
        TextRange {
            section: 0,
            start: 0,
            end: 5,
        },
    );
    assert_eq!(check_report(&doc, &r), Ok(()));
    // Byte 4 is inside "é".
    r.anchored(
        Severity::Info,
        "bad",
        TextRange {
            section: 0,
            start: 0,
            end: 4,
        },
    );
    assert!(matches!(
        check_report(&doc, &r),
        Err(InvalidReport::BadRange { finding: 1, .. })
    ));
    let mut r = Report::default();
    r.anchored(
        Severity::Info,
        "bad",
        TextRange {
            section: 3,
            start: 0,
            end: 1,
        },
    );
    assert!(matches!(
        check_report(&doc, &r),
        Err(InvalidReport::NoSuchSection { section: 3, .. })
    ));
    let mut r = Report::default();
    r.metric("ratio", f64::NAN, "");
    assert_eq!(
        check_report(&doc, &r),
        Err(InvalidReport::NotFinite("ratio".into()))
    );
}

#[test]
fn csv_is_read_as_the_node_reads_it() {
    // Cells trimmed, as `kp dataset import` trims them: ` 2` is the integer 2.
    let t = table_from_csv("t", "country, usd_bn\nIndia, 58\nNepal,  4\n").expect("csv");
    assert_eq!(t.columns[1].name, "usd_bn");
    assert_eq!(
        t.columns[1].data,
        ColumnData::Integer(vec![Some(58), Some(4)])
    );
    // Refused where the node refuses, with the node's words.
    let err = table_from_csv("t.csv", "a,b\n1,2\n3\n").expect_err("ragged");
    assert!(
        err.to_string()
            .contains("t.csv: line 3: this row has 1 field but the header has 2"),
        "{err}"
    );
    let err = table_from_csv("t.csv", "a,b\n\"open,2\n").expect_err("open quote");
    assert!(err.to_string().contains("never closed"), "{err}");
}
