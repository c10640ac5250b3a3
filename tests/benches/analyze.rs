//! `kp analyze` with `remittance-indicators` on tables of 1,000, 10,000 and
//! 100,000 rows through a node, beside the same code run natively on the same
//! table (read as the node reads a CSV file, with the report's canonical
//! JSON), in one run: the whole command (the CLI, the local API, the view of
//! the stored dataset, the sandboxed run, the checks, the stored analysis)
//! against what the analysis itself costs. Runs are paired and interleaved,
//! so the ratios hold on a noisy machine.
//!
//! `cargo build --release --bins && cargo build --profile plugin --target
//! wasm32-wasip2 -p remittance-indicators && cargo bench -p kp-tests --bench analyze`

use std::time::{Duration, Instant};

use kp_tests::{Kpd, plugin_wasm};

/// Country, year, remittances, GDP and aid: 500 countries over as many
/// years as it takes (the host benchmark's table).
fn csv(n: usize) -> String {
    let mut out = String::from("country,year,remittances_usd,gdp_usd,oda_usd\n");
    for i in 0..n {
        let k = i % 500;
        let x = (i * 7919 % 1000) as f64;
        out.push_str(&format!(
            "Country {k:03},{},{},{},{}\n",
            1800 + i / 500,
            1.0 + x,
            50.0 + 3.0 * x + k as f64,
            0.5 + x / 2.0
        ));
    }
    out
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let node = Kpd::started();
    node.ok(&["space", "create", "Bench", "--theme", "7"]);
    let wasm = plugin_wasm("remittance-indicators");
    node.ok(&["plugin", "install", wasm.to_str().expect("a UTF-8 path")]);
    // The floor of any command: its start, the connection, one small call.
    let floor = median(
        (0..11)
            .map(|_| {
                let t = Instant::now();
                node.ok(&["plugin", "list"]);
                t.elapsed().as_secs_f64()
            })
            .collect(),
    );
    println!(
        "a command that does next to nothing (kp plugin list): {:.1} ms",
        floor * 1e3
    );
    for n in [1_000, 10_000, 100_000] {
        let text = csv(n);
        let file = node.scratch().join(format!("panel-{n}.csv"));
        std::fs::write(&file, &text).expect("write the table");
        let id = node
            .ok(&[
                "dataset",
                "import",
                file.to_str().expect("a UTF-8 path"),
                "--space",
                "Bench",
                "--title",
                &format!("{n} rows"),
            ])
            .trim()
            .to_owned();
        // The same view natively, and the same report.
        let table = kp_model::dataset::parse_csv(text.as_bytes(), "panel").expect("the table");
        let d = kp_model::dataset::Dataset::of_table(format!("{n} rows"), table);
        let doc = kp_model::view::dataset(id.clone(), Vec::new(), &d, vec![7]);
        let native = || {
            let r = kp_plugin_sdk::run::<remittance_indicators::RemittanceIndicators>(doc.clone())
                .expect("a native report");
            std::hint::black_box(r.canonical_json());
            r
        };
        let through_node = node.json(&["analyze", &id, "--plugin", "remittance-indicators"]);
        assert_eq!(
            through_node["report"]["summary"],
            native().summary.as_str(),
            "the node and the native run agree"
        );
        let runs = if n >= 100_000 { 5 } else { 11 };
        let (mut whole, mut alone, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..runs {
            let t = Instant::now();
            node.ok(&["analyze", &id, "--plugin", "remittance-indicators"]);
            let w = t.elapsed();
            let t = Instant::now();
            native();
            let a = t.elapsed();
            whole.push(w.as_secs_f64());
            alone.push(a.as_secs_f64());
            ratios.push(w.as_secs_f64() / a.as_secs_f64());
        }
        let ms = |s: f64| Duration::from_secs_f64(s).as_secs_f64() * 1e3;
        println!(
            "kp analyze on {n} rows: {:.1} ms the whole command, {:.1} ms the same analysis \
             native: {:.2}x (median of {runs} pairs)",
            ms(median(whole)),
            ms(median(alone)),
            median(ratios)
        );
    }
}
