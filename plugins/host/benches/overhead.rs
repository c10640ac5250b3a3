//! What the sandbox costs, as ratios measured in one run:
//!
//! 1. a whole `analyze` call (fresh instance from the pre-instantiated
//!    component, deterministic WASI, report checked and serialised) on a tiny
//!    input, warm cache (aim: under 100 µs);
//! 2. first install (compile) against loading the compiled artifact from the
//!    cache (aim: at least 100×);
//! 3. `remittance-indicators` on a 100,000-row table as a plugin against the same
//!    code compiled natively (aim: at most 2×).
//!
//! `cargo bench -p kp-plugin-host --bench overhead` (builds the plugins to wasm first).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use kp_plugin_host::view::{Column, ColumnData, Table};
use kp_plugin_host::{DocKind, DocumentView, Host, Limits};

fn wasm(package: &str) -> Vec<u8> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let file = kp_plugin_sdk::testing::build_component(&root, package);
    std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// The median of `n` timings of `f`.
fn median(n: usize, mut f: impl FnMut()) -> Duration {
    let mut t: Vec<Duration> = (0..n)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed()
        })
        .collect();
    t.sort();
    t[n / 2]
}

const COUNTRIES: usize = 500;

/// Country, year, remittances, GDP and aid columns.
type Columns = (Vec<String>, Vec<i64>, Vec<f64>, Vec<f64>, Vec<f64>);

fn rows(n: usize) -> Columns {
    let mut c = Vec::with_capacity(n);
    let mut y = Vec::with_capacity(n);
    let (mut r, mut g, mut o) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        let k = i % COUNTRIES;
        c.push(format!("Country {k:03}"));
        y.push(1800 + (i / COUNTRIES) as i64);
        let x = (i * 7919 % 1000) as f64;
        r.push(1.0 + x);
        g.push(50.0 + 3.0 * x + k as f64);
        o.push(0.5 + x / 2.0);
    }
    (c, y, r, g, o)
}

fn main() {
    let misbehave = wasm("kp-test-misbehave");
    let indicators = wasm("remittance-indicators");

    // 1. Per-call overhead on a tiny input.
    let host = Host::new(Limits::default(), None).expect("host");
    let plugin = host.load(&misbehave).expect("load");
    let mut tiny = DocumentView {
        id: "tiny".into(),
        kind: DocKind::Dataset,
        heads: vec![],
        title: "t".into(),
        themes: vec![7],
        metadata: BTreeMap::new(),
        sections: vec![],
        tables: vec![],
        params: BTreeMap::new(),
    };
    tiny.params = plugin
        .info()
        .apply_params(&BTreeMap::new())
        .expect("params");
    for _ in 0..50 {
        host.run(&plugin, &tiny).expect("run");
    }
    let call = median(501, || {
        host.run(&plugin, &tiny).expect("run");
    });
    println!(
        "analyze on a tiny input, warm: {:.1} µs per call (aim < 100 µs)",
        call.as_secs_f64() * 1e6
    );

    // 2. First install (compile) against a cached load.
    let mut compile = Vec::new();
    let mut cached = Vec::new();
    for _ in 0..5 {
        let dir = tempfile::tempdir().expect("tempdir");
        let host = Host::new(Limits::default(), Some(dir.path().to_owned())).expect("host");
        let s = Instant::now();
        let p = host.load(&indicators).expect("compile");
        compile.push(s.elapsed());
        assert!(!p.from_cache());
        let s = Instant::now();
        let p = host.load(&indicators).expect("cached");
        cached.push(s.elapsed());
        assert!(p.from_cache());
    }
    compile.sort();
    cached.sort();
    let (c, l) = (compile[2], cached[2]);
    println!(
        "install of remittance-indicators ({} KiB): compile {:.1} ms, cached load {:.2} ms: {:.0}x (aim >= 100x)",
        indicators.len() / 1024,
        c.as_secs_f64() * 1e3,
        l.as_secs_f64() * 1e3,
        c.as_secs_f64() / l.as_secs_f64()
    );

    // 3. remittance-indicators on 100,000 rows: plugin against native.
    let n = 100_000;
    let (c, y, r, g, o) = rows(n);
    // The plugin returns every row with its indicators: a report far over the
    // default limits, which are raised here.
    let host = Host::new(
        Limits {
            fuel: u64::MAX / 4,
            timeout_ms: 600_000,
            memory_mib: 1024,
            max_report_kib: 1 << 20,
            max_report_items: usize::MAX,
            ..Limits::default()
        },
        None,
    )
    .expect("host");
    let plugin = host.load(&indicators).expect("load");
    let mut doc = DocumentView {
        id: "big".into(),
        kind: DocKind::Dataset,
        heads: vec![],
        title: "Remittances".into(),
        themes: vec![7],
        metadata: BTreeMap::new(),
        sections: vec![],
        tables: vec![Table {
            name: "data".into(),
            columns: vec![
                Column {
                    name: "country".into(),
                    data: ColumnData::Text(c.iter().cloned().map(Some).collect()),
                },
                Column {
                    name: "year".into(),
                    data: ColumnData::Integer(y.iter().copied().map(Some).collect()),
                },
                Column {
                    name: "remittances_usd".into(),
                    data: ColumnData::Number(r.iter().copied().map(Some).collect()),
                },
                Column {
                    name: "gdp_usd".into(),
                    data: ColumnData::Number(g.iter().copied().map(Some).collect()),
                },
                Column {
                    name: "oda_usd".into(),
                    data: ColumnData::Number(o.iter().copied().map(Some).collect()),
                },
            ],
        }],
        params: BTreeMap::new(),
    };
    doc.params = plugin
        .info()
        .apply_params(&BTreeMap::new())
        .expect("params");
    let out = host.run(&plugin, &doc).expect("plugin run");
    let wasm_time = median(5, || {
        host.run(&plugin, &doc).expect("plugin run");
    });

    let json_time = median(5, || {
        std::hint::black_box(out.report.canonical_json());
    });
    use kp_plugin_sdk as sdk;
    // The view the node hands the plugin is the very document the SDK runs natively.
    let native_doc = doc.clone();
    let native = sdk::run::<remittance_indicators::RemittanceIndicators>(native_doc.clone())
        .expect("native run");
    assert_eq!(
        native.summary, out.report.summary,
        "plugin and native agree"
    );
    assert_eq!(native.metrics.len(), out.report.metrics.len());
    let native_time = median(5, || {
        sdk::run::<remittance_indicators::RemittanceIndicators>(native_doc.clone())
            .expect("native run");
    });
    println!(
        "remittance-indicators on {n} rows: plugin {:.1} ms (fuel {}), native {:.1} ms: {:.2}x (aim <= 2x)",
        wasm_time.as_secs_f64() * 1e3,
        out.fuel_used,
        native_time.as_secs_f64() * 1e3,
        wasm_time.as_secs_f64() / native_time.as_secs_f64()
    );
    println!(
        "  of which serialising the {} KiB report to canonical JSON: {:.1} ms",
        out.report_json.len() / 1024,
        json_time.as_secs_f64() * 1e3
    );
}
