//! The host against real components built from source: the test plugins in
//! plugins/testing, built to wasm on first use.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use kp_plugin_host::view::{Column, ColumnData, ParamKind, Section, Table};
use kp_plugin_host::{DocKind, DocumentView, Host, Limits, PluginError};

/// The bytes of a workspace plugin crate built to a wasm component.
fn wasm(package: &str) -> Vec<u8> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let file = kp_plugin_sdk::testing::build_component(&root, package);
    std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

fn draft() -> DocumentView {
    DocumentView {
        id: "doc1".into(),
        kind: DocKind::Draft,
        heads: vec!["ab12".into()],
        title: "Remittances in 2011".into(),
        themes: vec![7],
        metadata: BTreeMap::new(),
        sections: vec![
            Section {
                heading: String::new(),
                level: 0,
                text: "Élan vital.\n".into(),
            },
            Section {
                heading: "Costs".into(),
                level: 1,
                text: "Fees fell.\n".into(),
            },
        ],
        tables: Vec::new(),
        params: BTreeMap::new(),
    }
}

fn with_mode(host: &Host, plugin: &kp_plugin_host::Plugin, mode: &str) -> DocumentView {
    let mut doc = draft();
    let mut given = BTreeMap::new();
    given.insert("mode".to_owned(), mode.to_owned());
    doc.params = plugin.info().apply_params(&given).unwrap();
    let _ = host;
    doc
}

fn host() -> Host {
    Host::new(Limits::default(), None).unwrap()
}

#[test]
fn a_good_run_is_deterministic_and_sandboxed() {
    let host = host();
    let plugin = host.load(&wasm("kp-test-misbehave")).unwrap();
    assert_eq!(plugin.info().name, "misbehave");
    assert_eq!(plugin.info().kinds, vec![DocKind::Draft, DocKind::Dataset]);
    let doc = with_mode(&host, &plugin, "ok");
    let a = host.run(&plugin, &doc).unwrap();
    let b = host.run(&plugin, &doc).unwrap();
    assert_eq!(a.report_json, b.report_json);
    assert_eq!(a.fuel_used, b.fuel_used);
    assert!(a.fuel_used > 0);
    let m = |name: &str| {
        a.report
            .metrics
            .iter()
            .find(|m| m.name == name)
            .unwrap()
            .value
    };
    assert_eq!(m("words"), 4.0);
    assert_eq!(m("clock"), 0.0, "the wall clock is frozen at the epoch");
    assert_eq!(
        a.report.summary,
        "Remittances in 2011 has 0 rows and 4 words"
    );
    // The first anchor ends after `É`, two bytes: on a boundary, so accepted.
    assert_eq!(a.report.findings[0].anchor.map(|r| r.end), Some(2));
    // The log import and stdout are captured.
    assert!(
        a.logs
            .iter()
            .any(|l| l.level == "info" && l.message == "mode ok"),
        "{:?}",
        a.logs
    );
    assert!(
        a.logs
            .iter()
            .any(|l| l.level == "stdout" && l.message == "analysing doc1"),
        "{:?}",
        a.logs
    );
    // Randomness is seeded from the inputs: other parameters, another seed.
    let mut other = doc.clone();
    other.params.insert("note".into(), "x".into());
    let c = host.run(&plugin, &other).unwrap();
    let rc = c
        .report
        .metrics
        .iter()
        .find(|m| m.name == "random")
        .unwrap()
        .value;
    assert_ne!(m("random"), rc);
    // The canonical bytes parse back to the same report.
    let back: kp_plugin_host::Report = serde_json::from_slice(&a.report_json).unwrap();
    assert_eq!(back, a.report);
}

#[test]
fn an_infinite_loop_runs_out_of_fuel_in_about_a_second() {
    let host = host();
    let plugin = host.load(&wasm("kp-test-misbehave")).unwrap();
    let t = Instant::now();
    let e = host
        .run(&plugin, &with_mode(&host, &plugin, "loop"))
        .unwrap_err();
    let took = t.elapsed();
    assert!(
        matches!(e.error, PluginError::OutOfFuel { budget } if budget == kp_plugin_host::DEFAULT_FUEL),
        "{e}"
    );
    let want = format!("ran out of fuel (budget {})", kp_plugin_host::DEFAULT_FUEL);
    assert!(e.to_string().contains(&want), "{e}");
    assert_eq!(e.fuel_used, kp_plugin_host::DEFAULT_FUEL);
    assert!(took < Duration::from_secs(5), "took {took:?}");
    eprintln!("infinite loop stopped after {took:?}");
}

#[test]
fn the_wall_clock_deadline_stops_a_run_with_plenty_of_fuel() {
    let limits = Limits {
        fuel: u64::MAX / 2,
        timeout_ms: 200,
        ..Limits::default()
    };
    let host = Host::new(limits, None).unwrap();
    let plugin = host.load(&wasm("kp-test-misbehave")).unwrap();
    let t = Instant::now();
    let e = host
        .run(&plugin, &with_mode(&host, &plugin, "loop"))
        .unwrap_err();
    assert!(matches!(e.error, PluginError::Timeout { ms: 200 }), "{e}");
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
}

#[test]
fn misbehaviour_is_an_error_that_says_what_happened() {
    let host = host();
    let plugin = host.load(&wasm("kp-test-misbehave")).unwrap();
    let run = |mode: &str| {
        host.run(&plugin, &with_mode(&host, &plugin, mode))
            .unwrap_err()
    };

    let e = run("alloc");
    assert!(
        matches!(e.error, PluginError::MemoryLimit { limit_mib: 64, .. }),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("exceeded its memory limit of 64 MiB"),
        "{e}"
    );

    let e = run("panic");
    assert!(matches!(e.error, PluginError::Trapped(_)), "{e}");
    let said = e.to_string();
    assert!(said.contains("misbehave was asked to panic"), "{said}");
    // Where, and no advice about RUST_BACKTRACE, which no user can set.
    assert!(said.contains("src/lib.rs:"), "{said}");
    assert!(!said.contains("RUST_BACKTRACE"), "{said}");

    let e = run("bad-anchor");
    assert!(
        e.to_string()
            .contains("malformed report: finding 1's anchor 0..1000000 is outside section 0"),
        "{e}"
    );

    let e = run("nan");
    assert!(
        e.to_string()
            .contains("malformed report: metric `ratio` is NaN"),
        "{e}"
    );

    let e = run("table-mismatch");
    assert!(e.to_string().contains("column `b` has 1 cells"), "{e}");

    // Over the node's limits (set low here): too large, by bytes or by
    // items, and said so with the setting to raise, not as malformed.
    let small = Host::new(
        Limits {
            max_report_kib: 1024,
            max_report_items: 1,
            ..Limits::default()
        },
        None,
    )
    .unwrap();
    let tight = small.load(&wasm("kp-test-misbehave")).unwrap();
    let e = small
        .run(&tight, &with_mode(&small, &tight, "huge"))
        .unwrap_err();
    assert!(
        matches!(
            e.error,
            PluginError::ReportTooLarge {
                limit: 1_048_576,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("max_report_kib"), "{e}");
    let e = small
        .run(&tight, &with_mode(&small, &tight, "ok"))
        .unwrap_err();
    assert!(
        matches!(e.error, PluginError::ReportTooManyItems { limit: 1, .. }),
        "{e}"
    );
    let said = e.to_string();
    assert!(
        said.contains("too large")
            && said.contains("max_report_items")
            && !said.contains("malformed"),
        "{said}"
    );
    // The node's defaults take the 2 MiB report.
    assert!(
        host.run(&plugin, &with_mode(&host, &plugin, "huge"))
            .is_ok()
    );

    let e = run("refuse");
    assert!(
        e.to_string().contains(
            "could not analyse the document: invalid input: misbehave was asked to refuse"
        ),
        "{e}"
    );
    assert!(
        e.logs.iter().any(|l| l.message == "mode refuse"),
        "{:?}",
        e.logs
    );

    // The host is unharmed: a good run still works.
    assert!(host.run(&plugin, &with_mode(&host, &plugin, "ok")).is_ok());
}

#[test]
fn install_refuses_what_is_not_an_analysis_plugin() {
    let host = host();
    let e = host.load(b"definitely not wasm").unwrap_err();
    assert!(matches!(e, PluginError::NotWasm), "{e}");
    assert!(
        e.to_string()
            .contains("expected a component built with `cargo build --target wasm32-wasip2`"),
        "{e}"
    );

    // The smallest core module: magic and version 1.
    let e = host.load(b"\0asm\x01\0\0\0").unwrap_err();
    assert!(matches!(e, PluginError::CoreModule), "{e}");

    // A component header followed by garbage.
    let e = host.load(b"\0asm\x0d\0\x01\0garbage").unwrap_err();
    assert!(matches!(e, PluginError::Invalid(_)), "{e}");

    let e = host.load(&wasm("kp-test-wrong-world")).unwrap_err();
    assert!(matches!(e, PluginError::WrongWorld { .. }), "{e}");
    assert!(
        e.to_string().contains(
            "exporting `kp:analysis/analyzer@0.2.0`; it exports kp:greeting/greeter@0.1.0"
        ),
        "{e}"
    );

    let e = host.load(&wasm("kp-test-future-version")).unwrap_err();
    assert!(
        e.to_string().contains(
            "built against kp:analysis/analyzer@0.3.0; this node supports kp:analysis@0.2.0 and \
             kp:analysis@0.1.0"
        ),
        "{e}"
    );

    // A default not of its parameter's kind would fail every run without
    // the parameter: refused at install, naming it.
    let e = host.load(&wasm("kp-test-bad-default")).unwrap_err();
    assert!(matches!(e, PluginError::BadDescription(_)), "{e}");
    assert!(
        e.to_string()
            .contains("the default of parameter `top`, `ten`, is not an integer"),
        "{e}"
    );

    let e = host.load(&wasm("kp-test-reads-files")).unwrap_err();
    assert!(
        matches!(&e, PluginError::ForbiddenImport(i) if i.starts_with("wasi:filesystem/")),
        "{e}"
    );
}

#[test]
fn compiled_components_are_cached_and_a_damaged_artifact_is_recompiled() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = wasm("kp-test-misbehave");
    let host = Host::new(Limits::default(), Some(dir.path().to_owned())).unwrap();
    let first = host.load(&bytes).unwrap();
    assert!(!first.from_cache());
    let second = host.load(&bytes).unwrap();
    assert!(second.from_cache());
    assert_eq!(first.sha256(), second.sha256());
    let files: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with(first.sha256()) && name.ends_with("-wasmtime48.0.8.cwasm"),
        "{name}"
    );
    // Damage it: the next load compiles again (and runs correctly).
    std::fs::write(&files[0], b"damaged").unwrap();
    let third = host.load(&bytes).unwrap();
    assert!(!third.from_cache());
    let doc = with_mode(&host, &third, "ok");
    assert_eq!(
        host.run(&third, &doc).unwrap().report_json,
        host.run(&second, &doc).unwrap().report_json
    );
}

#[test]
fn datasets_reach_the_plugin_as_typed_columns() {
    let host = host();
    let plugin = host.load(&wasm("kp-test-misbehave")).unwrap();
    let mut doc = with_mode(&host, &plugin, "ok");
    doc.kind = DocKind::Dataset;
    doc.sections.clear();
    doc.tables.push(Table {
        name: "data".into(),
        columns: vec![Column {
            name: "year".into(),
            data: ColumnData::Integer(vec![Some(2010), None, Some(2012)]),
        }],
    });
    let out = host.run(&plugin, &doc).unwrap();
    assert_eq!(out.report.metrics[0].value, 3.0);
}

#[test]
fn a_plugin_of_the_previous_contract_still_installs_and_runs() {
    let host = host();
    let plugin = host.load(&wasm("kp-test-contract-0-1")).unwrap();
    assert_eq!(plugin.contract(), kp_plugin_host::Contract::V0_1);
    assert_eq!(plugin.info().name, "old-contract");
    // Its parameters are text: any value goes, as it did.
    assert_eq!(plugin.info().params[0].kind, ParamKind::Text);
    let mut doc = draft();
    doc.kind = DocKind::Dataset;
    doc.sections.clear();
    doc.tables.push(Table {
        name: "data".into(),
        columns: vec![Column {
            name: "year".into(),
            data: ColumnData::Integer(vec![Some(2010), Some(2011)]),
        }],
    });
    let given = BTreeMap::from([("label".to_owned(), "years".to_owned())]);
    doc.params = plugin.info().apply_params(&given).unwrap();
    let out = host.run(&plugin, &doc).unwrap();
    assert_eq!(out.report.summary, "2 years.");
    assert_eq!(out.report.metrics[0].value, 2.0);
    assert!(out.report.figures.is_empty());
    assert!(
        out.logs.iter().any(|l| l.message == "counted 2 years"),
        "{:?}",
        out.logs
    );
    // A report without figures has the bytes it had under 0.1.0: no
    // `figures` field.
    assert!(
        !String::from_utf8_lossy(&out.report_json).contains("figures"),
        "{}",
        String::from_utf8_lossy(&out.report_json)
    );
    // The current contract's plugin beside it.
    let current = host.load(&wasm("kp-test-misbehave")).unwrap();
    assert_eq!(current.contract(), kp_plugin_host::Contract::V0_2);
}

#[test]
fn figures_are_checked_like_the_rest_of_the_report() {
    let host = host();
    let plugin = host.load(&wasm("kp-test-misbehave")).unwrap();
    let out = host
        .run(&plugin, &with_mode(&host, &plugin, "figure"))
        .unwrap();
    let f = &out.report.figures[0];
    assert_eq!(f.title, "A trend");
    match &f.chart {
        kp_plugin_host::view::Chart::Lines(l) => {
            assert_eq!(l.x, [2010.0, 2011.0, 2012.0]);
            assert_eq!(l.series[0].values, [Some(10.0), Some(11.0), Some(12.0)]);
        }
        other => panic!("{other:?}"),
    }
    let back: kp_plugin_host::Report = serde_json::from_slice(&out.report_json).unwrap();
    assert_eq!(back, out.report);

    let e = host
        .run(&plugin, &with_mode(&host, &plugin, "bad-figure"))
        .unwrap_err();
    assert!(matches!(e.error, PluginError::MalformedReport(_)), "{e}");
    assert!(
        e.to_string()
            .contains("figure `A trend`: the axis' positions must be finite and increasing"),
        "{e}"
    );
    // A value not among a choice parameter's words never reaches the plugin.
    let given = BTreeMap::from([("mode".to_owned(), "explode".to_owned())]);
    let err = plugin.info().apply_params(&given).unwrap_err();
    assert!(
        err.contains("parameter `mode` takes one of ok, loop"),
        "{err}"
    );
}
