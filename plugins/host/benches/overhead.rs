//! What the sandbox costs, as ratios measured in one run:
//!
//! 1. a whole `analyze` call (fresh instance from the pre-instantiated
//!    component, deterministic WASI, report checked and serialised) on a tiny
//!    input, warm cache (aim: under 100 µs);
//! 2. first install (compile) against loading the compiled artifact from the
//!    cache (aim: at least 100×);
//! 3. `remittance-indicators` on tables of 1,000, 10,000 and 100,000 rows as a
//!    plugin, on the node's default limits, against the same code compiled
//!    natively with the node's work around it (the view's copy, the report's
//!    canonical JSON) (aim: at most 1.2×).
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

    // 3. remittance-indicators on 1,000, 10,000 and 100,000 rows: plugin (on
    // the node's default limits, as `kp analyze` runs it) against the same
    // code native.
    let host = Host::new(Limits::default(), None).expect("host");
    let plugin = host.load(&indicators).expect("load");
    let misbehave_plugin = host.load(&misbehave).expect("load");
    for n in [1_000, 10_000, 100_000] {
        let (c, y, r, g, o) = rows(n);
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
        let runs = if n >= 100_000 { 7 } else { 21 };
        let json_time = median(runs, || {
            std::hint::black_box(out.report.canonical_json());
        });
        // The part of it that is the view's copy into a fresh instance: a
        // plugin that reads nothing of it (misbehave's `ok`).
        let mut bare = doc.clone();
        bare.params = misbehave_plugin
            .info()
            .apply_params(&BTreeMap::new())
            .expect("params");
        let copy_time = median(runs, || {
            host.run(&misbehave_plugin, &bare).expect("a run");
        });
        use kp_plugin_sdk as sdk;
        // The view the node hands the plugin is the very document the SDK runs natively.
        let native = sdk::run::<remittance_indicators::RemittanceIndicators>(doc.clone())
            .expect("native run");
        assert_eq!(native, out.report, "plugin and native agree");
        // Paired and interleaved: the plugin, then native with what the node
        // does around a run natively too (the copy of the view and the
        // canonical JSON of the report).
        let (mut wasm_times, mut native_times, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..runs {
            let t = Instant::now();
            host.run(&plugin, &doc).expect("plugin run");
            let w = t.elapsed();
            let t = Instant::now();
            let r = sdk::run::<remittance_indicators::RemittanceIndicators>(doc.clone())
                .expect("native run");
            std::hint::black_box(r.canonical_json());
            let a = t.elapsed();
            wasm_times.push(w);
            native_times.push(a);
            ratios.push(w.as_secs_f64() / a.as_secs_f64());
        }
        wasm_times.sort();
        native_times.sort();
        ratios.sort_by(f64::total_cmp);
        let (wasm_time, native_time, ratio) = (
            wasm_times[runs / 2],
            native_times[runs / 2],
            ratios[runs / 2],
        );
        println!(
            "remittance-indicators on {n} rows: plugin {:.1} ms (fuel {}), native {:.1} ms: \
             {:.2}x (aim <= 1.2x); of the plugin's time, the view's copy into the \
             sandbox {:.1} ms; the report {} KiB, its canonical JSON {:.1} ms",
            wasm_time.as_secs_f64() * 1e3,
            out.fuel_used,
            native_time.as_secs_f64() * 1e3,
            ratio,
            copy_time.as_secs_f64() * 1e3,
            out.report_json.len() / 1024,
            json_time.as_secs_f64() * 1e3,
        );
    }
}
