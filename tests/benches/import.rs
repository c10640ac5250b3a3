//! `kp dataset import` through a node, beside its floor measured in the same
//! run: the same CSV parsed and written into one automerge transaction,
//! committed and saved, in this process. Two shapes, each at 1×, 10× and
//! 100×: a long table (country, year and three figures; 3,700 to 370,000
//! rows, 15 MiB at the largest) and a wide one (one row under a header of
//! 2,000 to 200,000 columns). Runs are paired and interleaved, so the ratios
//! hold on a noisy machine; the throughput is the CSV's bytes over the whole
//! command's time (the CLI, the local API, the parse, the document, the
//! durable store).
//!
//! `cargo build --release --bins && cargo bench -p kp-tests --bench import`

use std::time::Instant;

use automerge::AutoCommit;
use kp_core::ids::DocId;
use kp_model::dataset;
use kp_tests::Kpd;

fn long(rows: usize) -> String {
    let mut out = String::from("country,year,remittances_usd,gdp_usd,share\n");
    for i in 0..rows {
        let k = i % 217;
        let x = (i * 7919 % 100_000) as f64 / 8.0;
        out.push_str(&format!(
            "Country {k:03},{},{x},{},{}\n",
            1960 + i / 217 % 65,
            x * 31.0 + k as f64,
            (i % 97) as f64 / 10.0
        ));
    }
    out
}

fn wide(columns: usize) -> String {
    let header: Vec<String> = (0..columns).map(|i| format!("c{i:06}")).collect();
    let row: Vec<String> = (0..columns).map(|i| (i % 1000).to_string()).collect();
    format!("{}\n{}\n", header.join(","), row.join(","))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// What the import cannot beat: the parse and one transaction, committed.
fn floor(csv: &str) -> usize {
    let table = dataset::parse_csv(csv.as_bytes(), "bench.csv").expect("the table");
    let mut doc = AutoCommit::new();
    let info = dataset::Info {
        title: "Bench",
        source: "",
        licence: "",
    };
    dataset::init(&mut doc, &DocId::random(), info, &table, 0).expect("a document");
    doc.commit();
    doc.get_heads().len()
}

fn main() {
    let node = Kpd::started();
    node.ok(&["space", "create", "Bench", "--theme", "1"]);
    println!("| shape | CSV | kp dataset import | floor (parse + one transaction) | ratio |");
    println!("| --- | --- | --- | --- | --- |");
    type Make = fn(usize) -> String;
    let shapes: [(&str, Make, [usize; 3]); 2] = [
        ("rows", long, [3_700, 37_000, 370_000]),
        ("columns", wide, [2_000, 20_000, 200_000]),
    ];
    for (what, make, sizes) in shapes {
        for n in sizes {
            let text = make(n);
            let mb = text.len() as f64 / 1e6;
            let file = node.scratch().join(format!("{what}-{n}.csv"));
            std::fs::write(&file, &text).expect("write the table");
            let path = file.to_str().expect("a UTF-8 path");
            let runs = if text.len() > 4_000_000 { 3 } else { 7 };
            let (mut whole, mut alone, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
            for i in 0..runs {
                let t = Instant::now();
                let id = node.ok(&[
                    "dataset",
                    "import",
                    path,
                    "--space",
                    "Bench",
                    "--title",
                    &format!("{what} {n} {i}"),
                ]);
                let w = t.elapsed().as_secs_f64();
                let t = Instant::now();
                std::hint::black_box(floor(&text));
                let a = t.elapsed().as_secs_f64();
                if i == 0 {
                    // The stored table is the file's.
                    let shown = node.json(&["dataset", "show", id.trim(), "--limit", "1"]);
                    assert_eq!(
                        shown["total_rows"].as_u64(),
                        Some(if what == "rows" { n as u64 } else { 1 }),
                        "{shown}"
                    );
                }
                whole.push(w);
                alone.push(a);
                ratios.push(w / a);
            }
            let (w, a) = (median(whole), median(alone));
            println!(
                "| {n} {what} | {mb:.2} MB | {:.0} ms, {:.1} MB/s | {:.0} ms, {:.1} MB/s | {:.2}× |",
                w * 1e3,
                mb / w,
                a * 1e3,
                mb / a,
                median(ratios)
            );
        }
    }
}
