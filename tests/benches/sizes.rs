//! Big drafts and big tables through a node, each beside its floor measured
//! in the same run.
//!
//! `kp draft new` of a draft of 40 KB, 400 KB and 4 MB, against automerge's
//! own splice of that text, commit and save in this process; a one-word
//! `kp draft edit` of each (the file as `kp draft show -o` wrote it, one word
//! added in the middle), against a command that does next to nothing
//! (`kp space list`) plus automerge's splice of the word.
//!
//! `kp dataset import` through a node, beside its floor measured in the same
//! run: the same CSV parsed and written into one automerge transaction,
//! committed and saved, in this process. Two shapes, each at 1×, 10× and
//! 100×: a long table (country, year and three figures; 3,700 to 370,000
//! rows, 15 MiB at the largest) and a wide one (one row under a header of
//! 2,000 to 200,000 columns), and the widest again through `kp --json`,
//! whose reply names every column. Runs are paired and interleaved, so the ratios
//! hold on a noisy machine; the throughput is the CSV's bytes over the whole
//! command's time (the CLI, the local API, the parse, the document, the
//! durable store).
//!
//! `cargo build --release --bins && cargo bench -p kp-tests --bench sizes`

use std::time::Instant;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ROOT, ReadDoc};
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

/// `KP_BENCH_ONLY=drafts` or `datasets` runs one part.
fn only(part: &str) -> bool {
    std::env::var("KP_BENCH_ONLY").map_or(true, |v| v.split(',').any(|p| p == part))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// What the import cannot beat: the parse and one transaction, committed.
fn floor(csv: &str) -> usize {
    let table = dataset::read_csv(csv.as_bytes(), "bench.csv").expect("the table");
    let mut doc = AutoCommit::new();
    let info = dataset::Info {
        title: "Bench",
        source: "",
        licence: "",
    };
    dataset::init_csv(&mut doc, &DocId::random(), info, &table, 0).expect("a document");
    doc.commit();
    doc.get_heads().len()
}

/// A draft's text of about `bytes`: lines of a brief.
fn brief(bytes: usize) -> String {
    let words = [
        "remittances",
        "migration",
        "diaspora",
        "corridor",
        "cost",
        "savings",
        "policy",
        "brief",
        "household",
        "income",
        "transfer",
        "development",
        "partners",
    ];
    let mut out = String::with_capacity(bytes + 200);
    let mut i = 0usize;
    while out.len() < bytes {
        for _ in 0..14 {
            i = i
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            out.push_str(words[(i >> 33) % words.len()]);
            out.push(' ');
        }
        out.pop();
        out.push_str(".\n");
    }
    out
}

/// Automerge's own cost of a new text: the splice and the commit.
fn splice_floor(text: &str) -> AutoCommit {
    let mut doc = AutoCommit::new();
    let body = doc.put_object(ROOT, "body", ObjType::Text).expect("a text");
    doc.splice_text(&body, 0, 0, text).expect("the splice");
    doc.commit();
    doc
}

/// What a new draft cannot beat: automerge's splice and commit, and the
/// document saved (a durable store must write its bytes).
fn new_floor(text: &str) -> usize {
    splice_floor(text).save().len()
}

fn drafts(node: &Kpd) {
    println!(
        "| draft | kp draft new | floor (splice + commit + save) | ratio | one-word kp draft edit | floor (a command + the splice) | ratio |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for bytes in [40_000, 400_000, 4_000_000] {
        let text = brief(bytes);
        let file = node.scratch().join(format!("brief-{bytes}.md"));
        std::fs::write(&file, &text).expect("write the draft");
        let path = file.to_str().expect("a UTF-8 path");
        let runs = if bytes >= 4_000_000 { 3 } else { 5 };
        let (mut new, mut floor_new, mut new_ratio) = (Vec::new(), Vec::new(), Vec::new());
        let mut id = String::new();
        for i in 0..runs {
            let t = Instant::now();
            id = node
                .ok(&[
                    "draft",
                    "new",
                    "--space",
                    "Bench",
                    "--title",
                    &format!("B{i}"),
                    "--file",
                    path,
                ])
                .trim()
                .to_owned();
            let w = t.elapsed().as_secs_f64();
            let t = Instant::now();
            std::hint::black_box(new_floor(&text));
            let a = t.elapsed().as_secs_f64();
            new.push(w);
            floor_new.push(a);
            new_ratio.push(w / a);
        }
        // One word added in the middle of the text as it was shown, each time.
        let shown = node.scratch().join("shown.md");
        let shown_path = shown.to_str().expect("a UTF-8 path");
        let mut doc = splice_floor(&text);
        let body = doc.get(ROOT, "body").ok().flatten().expect("the body").1;
        let (mut edit, mut floor_edit, mut edit_ratio) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..runs * 2 {
            // Shown afresh each time (kp keeps a file it did not write).
            let _ = std::fs::remove_file(&shown);
            node.ok(&["draft", "show", &id, "-o", shown_path]);
            let mut now = std::fs::read_to_string(&shown).expect("the shown draft");
            let mid = (now.len() / 2..)
                .find(|k| now.is_char_boundary(*k))
                .unwrap_or(0);
            now.insert_str(mid, &format!("word{i} "));
            std::fs::write(&shown, &now).expect("write the edit");
            let t = Instant::now();
            let out = node.json(&["draft", "edit", &id, "--file", shown_path]);
            let w = t.elapsed().as_secs_f64();
            assert_eq!(out["changed"], true, "{out}");
            let t = Instant::now();
            node.ok(&["space", "list"]);
            doc.splice_text(&body, mid, 0, &format!("word{i} "))
                .expect("the word");
            doc.commit();
            let a = t.elapsed().as_secs_f64();
            edit.push(w);
            floor_edit.push(a);
            edit_ratio.push(w / a);
        }
        println!(
            "| {:.2} MB | {:.0} ms | {:.0} ms | {:.2}× | {:.1} ms | {:.1} ms | {:.2}× |",
            text.len() as f64 / 1e6,
            median(new) * 1e3,
            median(floor_new) * 1e3,
            median(new_ratio),
            median(edit) * 1e3,
            median(floor_edit) * 1e3,
            median(edit_ratio)
        );
    }
}

fn main() {
    let node = Kpd::started();
    node.ok(&["space", "create", "Bench", "--theme", "1"]);
    if only("drafts") {
        drafts(&node);
    }
    if !only("datasets") {
        return;
    }
    println!("| shape | CSV | kp dataset import | floor (parse + one transaction) | ratio |");
    println!("| --- | --- | --- | --- | --- |");
    type Make = fn(usize) -> String;
    // The last shape is the widest again as `kp --json` imports it: the
    // reply then names every column, where `kp` alone asks for those it prints.
    let shapes: [(&str, Make, &[usize], bool); 3] = [
        ("rows", long, &[3_700, 37_000, 370_000], false),
        ("columns", wide, &[2_000, 20_000, 200_000], false),
        ("columns, --json", wide, &[200_000], true),
    ];
    for (what, make, sizes, json) in shapes {
        for &n in sizes {
            let text = make(n);
            let mb = text.len() as f64 / 1e6;
            let file = node
                .scratch()
                .join(format!("{}-{n}.csv", what.replace([',', ' '], "")));
            std::fs::write(&file, &text).expect("write the table");
            let path = file.to_str().expect("a UTF-8 path");
            let runs = if text.len() > 4_000_000 { 3 } else { 7 };
            let (mut whole, mut alone, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
            for i in 0..runs {
                let title = format!("{what} {n} {i}");
                let mut args = vec![
                    "dataset", "import", path, "--space", "Bench", "--title", &title,
                ];
                if json {
                    args.insert(0, "--json");
                }
                let t = Instant::now();
                let out = node.ok(&args);
                let w = t.elapsed().as_secs_f64();
                let id = if json {
                    let reply: serde_json::Value =
                        serde_json::from_str(&out).expect("kp --json prints JSON");
                    assert_eq!(reply["columns"].as_array().map(Vec::len), Some(n));
                    reply["id"].as_str().expect("an id").to_owned()
                } else {
                    out
                };
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
