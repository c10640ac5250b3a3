//! Analysis plugins end to end: real components built from source, installed on
//! a real `kpd` with the real `kp`, run on drafts and datasets; bad plugins are
//! refused or fail within their limits while the node keeps serving.

use std::time::{Duration, Instant};

use kp_tests::{Kpd, bin, plugin_wasm};

const BODY: &str =
    "Remittances grew in 2011.\n# Costs\nThe global average cost fell to 9 percent.\n";

fn path(p: &std::path::Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// A node with a space (theme 7), a draft and a dataset; returns (draft, dataset).
fn setup(node: &Kpd) -> (String, String) {
    node.ok(&["space", "create", "Remittances WG", "--theme", "7"]);
    let f = node.scratch().join("draft.md");
    std::fs::write(&f, BODY).unwrap();
    let draft = node
        .ok(&[
            "draft",
            "new",
            "--space",
            "Remittances WG",
            "--title",
            "Costs",
            "--file",
            path(&f),
        ])
        .trim()
        .to_owned();
    let csv = node.scratch().join("data.csv");
    std::fs::write(
        &csv,
        "country,year,usd_bn\nIndia,2011,64\nMexico,2011,24\nNepal,,4.2\n",
    )
    .unwrap();
    let dataset = import_dataset(node, path(&csv), "Top");
    (draft, dataset)
}

/// `kp dataset import FILE` into the space "Remittances WG": the dataset's id.
fn import_dataset(node: &Kpd, file: &str, title: &str) -> String {
    node.ok(&[
        "dataset",
        "import",
        file,
        "--space",
        "Remittances WG",
        "--title",
        title,
    ])
    .trim()
    .to_owned()
}

/// `kp analyze DOC --plugin misbehave --param mode=MODE`, which must fail:
/// what it said.
fn misbehave_fails(node: &Kpd, doc: &str, mode: &str) -> String {
    let param = format!("mode={mode}");
    node.fails(
        1,
        &["analyze", doc, "--plugin", "misbehave", "--param", &param],
    )
}

fn install_misbehave(node: &Kpd) {
    let wasm = plugin_wasm("kp-test-misbehave");
    let p = node.json(&["plugin", "install", path(&wasm)]);
    assert_eq!(p["name"], "misbehave");
}

#[test]
fn install_list_show_remove() {
    let node = Kpd::started();
    let wasm = plugin_wasm("kp-test-misbehave");
    let bytes = std::fs::read(&wasm).unwrap();
    let p = node.json(&["plugin", "install", path(&wasm)]);
    assert_eq!(p["name"], "misbehave");
    assert_eq!(p["version"], "0.1.0");
    assert_eq!(p["api"], "kp:analysis@0.2.0");
    assert_eq!(p["size"], bytes.len() as u64);
    let sha = p["sha256"].as_str().unwrap().to_owned();
    assert_eq!(sha.len(), 64);
    // The component is kept under the data directory by its hash.
    let stored = node.data_dir().join("plugins").join(format!("{sha}.wasm"));
    assert_eq!(std::fs::read(&stored).unwrap(), bytes);

    let list = node.json(&["plugin", "list"]);
    assert_eq!(list["plugins"].as_array().unwrap().len(), 1);
    let shown = node.json(&["plugin", "show", "misbehave"]);
    assert_eq!(shown["params"][0]["name"], "mode");
    assert_eq!(shown["params"][0]["default_value"], "ok");
    assert_eq!(shown["params"][0]["kind"], "choice");
    assert_eq!(shown["params"][0]["choices"][1], "loop");
    let human = node.ok(&["plugin", "show", "misbehave"]);
    assert!(human.contains("mode") && human.contains(&sha), "{human}");
    assert!(
        human.contains("KIND") && human.contains("one of ok, loop, alloc"),
        "{human}"
    );

    // A plugin of the previous contract installs beside it, and says so.
    let (_, dataset) = setup(&node);
    let old = node.json(&[
        "plugin",
        "install",
        path(&plugin_wasm("kp-test-contract-0-1")),
    ]);
    assert_eq!(old["api"], "kp:analysis@0.1.0");
    let a = node.json(&[
        "analyze",
        &dataset,
        "--plugin",
        "old-contract",
        "--param",
        "label=countries",
    ]);
    assert_eq!(a["report"]["summary"], "3 countries.");
    node.ok(&["plugin", "remove", "old-contract"]);

    // The list survives a restart.
    let mut node = node;
    node.stop();
    node.start();
    assert_eq!(
        node.json(&["plugin", "list"])["plugins"][0]["sha256"],
        sha.as_str()
    );

    node.ok(&["plugin", "remove", "misbehave"]);
    assert!(
        node.json(&["plugin", "list"])["plugins"]
            .as_array()
            .is_none_or(Vec::is_empty)
    );
    assert!(!stored.exists());
    let err = node.fails(1, &["plugin", "show", "misbehave"]);
    assert!(err.contains("no plugin named `misbehave`"), "{err}");
    let err = node.fails(1, &["plugin", "remove", "misbehave"]);
    assert!(err.contains("no plugin named `misbehave`"), "{err}");
}

#[test]
fn install_refuses_what_is_not_an_analysis_plugin() {
    let node = Kpd::started();
    let garbage = node.scratch().join("garbage.wasm");
    std::fs::write(&garbage, b"this is not wasm at all").unwrap();
    let err = node.fails(1, &["plugin", "install", path(&garbage)]);
    assert!(
        err.contains("garbage.wasm: not a WebAssembly component"),
        "{err}"
    );
    assert!(err.contains("wasm32-wasip2"), "{err}");

    let core = node.scratch().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let err = node.fails(1, &["plugin", "install", path(&core)]);
    assert!(
        err.contains("core WebAssembly module, not a component"),
        "{err}"
    );

    let wrong = plugin_wasm("kp-test-wrong-world");
    let err = node.fails(1, &["plugin", "install", path(&wrong)]);
    assert!(
        err.contains(
            "expected a component of world `analysis` exporting `kp:analysis/analyzer@0.2.0`"
        ),
        "{err}"
    );
    assert!(err.contains("kp:greeting/greeter@0.1.0"), "{err}");

    let future = plugin_wasm("kp-test-future-version");
    let err = node.fails(1, &["plugin", "install", path(&future)]);
    assert!(
        err.contains(
            "kp:analysis/analyzer@0.3.0; this node supports kp:analysis@0.2.0 and \
             kp:analysis@0.1.0"
        ),
        "{err}"
    );

    let bad = plugin_wasm("kp-test-bad-default");
    let err = node.fails(1, &["plugin", "install", path(&bad)]);
    assert!(
        err.contains("the default of parameter `top`, `ten`, is not an integer"),
        "{err}"
    );

    let files = plugin_wasm("kp-test-reads-files");
    let err = node.fails(1, &["plugin", "install", path(&files)]);
    assert!(err.contains("imports `wasi:filesystem/"), "{err}");

    let err = node.fails(1, &["plugin", "install", "/nonexistent.wasm"]);
    assert!(err.contains("cannot read /nonexistent.wasm"), "{err}");
    assert!(
        node.json(&["plugin", "list"])["plugins"]
            .as_array()
            .is_none_or(Vec::is_empty)
    );
}

#[test]
fn analyses_are_stored_and_reproducible() {
    let node = Kpd::started();
    let (draft, dataset) = setup(&node);
    install_misbehave(&node);

    let a = node.json(&["analyze", &draft, "--plugin", "misbehave"]);
    let b = node.json(&["analyze", &draft, "--plugin", "misbehave"]);
    assert_ne!(a["id"], b["id"], "each run is its own analysis document");
    assert_eq!(
        a["report_json"], b["report_json"],
        "same heads and params, same bytes"
    );
    assert_eq!(a["fuel_used"], b["fuel_used"]);
    assert!(a["fuel_used"].as_u64().unwrap() > 0);
    assert_eq!(
        a["params"]["mode"], "ok",
        "the default is applied and recorded"
    );
    assert_eq!(a["doc_id"], draft.as_str());
    let heads = node.json(&["draft", "show", &draft])["heads"].clone();
    assert_eq!(a["doc_heads"], heads);
    assert_eq!(a["report"]["summary"], "Costs has 0 rows and 12 words");
    assert_eq!(
        a["plugin_sha256"],
        node.json(&["plugin", "show", "misbehave"])["sha256"]
    );
    // Sections: the text before the first heading, then `# Costs`.
    assert_eq!(a["report"]["findings"][1]["message"], "section `Costs`");

    // A dataset reaches the plugin as a typed table.
    let d = node.json(&[
        "analyze",
        &dataset,
        "--plugin",
        "misbehave",
        "--param",
        "note=x",
    ]);
    assert_eq!(d["report"]["metrics"][0]["value"], 3.0);
    assert_eq!(d["params"]["note"], "x");

    // After an edit the heads differ, and the analysis records the new ones.
    let f = node.scratch().join("edit.md");
    std::fs::write(&f, format!("{BODY}More words here.\n")).unwrap();
    node.ok(&[
        "draft",
        "edit",
        &draft,
        "--file",
        path(&f),
        "--base",
        "current",
    ]);
    let c = node.json(&["analyze", &draft, "--plugin", "misbehave"]);
    assert_ne!(c["doc_heads"], a["doc_heads"]);
    assert_eq!(c["report"]["summary"], "Costs has 0 rows and 15 words");

    let list = node.json(&["analysis", "list", &draft]);
    let ids: Vec<&str> = list["analyses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 3, "{list}");
    for want in [&a["id"], &b["id"], &c["id"]] {
        assert!(ids.contains(&want.as_str().unwrap()));
    }
    assert_eq!(
        node.json(&["analysis", "list", &dataset])["analyses"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // The human forms print the report and the list.
    let out = node.ok(&["analyze", &draft, "--plugin", "misbehave"]);
    assert!(
        out.contains("Costs has 0 rows and 15 words") && out.contains("METRIC"),
        "{out}"
    );
    let out = node.ok(&["analysis", "list", &draft]);
    assert!(
        out.contains("misbehave 0.1.0") && out.contains("mode=ok"),
        "{out}"
    );
    // Analyses are documents of the space, and survive a restart.
    let mut node = node;
    node.stop();
    node.start();
    assert_eq!(
        node.json(&["analysis", "list", &draft])["analyses"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
}

#[test]
fn bad_requests_are_refused_with_the_reason() {
    let node = Kpd::started();
    let (draft, _) = setup(&node);
    install_misbehave(&node);
    let err = node.fails(1, &["analyze", &draft, "--plugin", "nope"]);
    assert!(err.contains("no plugin named `nope` is installed"), "{err}");
    let err = node.fails(
        1,
        &[
            "analyze",
            &draft,
            "--plugin",
            "misbehave",
            "--param",
            "colour=red",
        ],
    );
    assert!(
        err.contains("no parameter `colour`; it accepts: mode, note"),
        "{err}"
    );
    let err = node.fails(
        2,
        &[
            "analyze",
            &draft,
            "--plugin",
            "misbehave",
            "--param",
            "novalue",
        ],
    );
    assert!(err.contains("write NAME=VALUE"), "{err}");
    let err = node.fails(
        1,
        &[
            "analyze",
            &draft,
            "--plugin",
            "misbehave",
            "--param",
            "mode=ok",
            "--param",
            "mode=loop",
        ],
    );
    assert!(err.contains("parameter `mode` is given twice"), "{err}");
    // A value not of its parameter's kind never reaches the plugin.
    let err = misbehave_fails(&node, &draft, "explode");
    assert!(
        err.contains("plugin misbehave: parameter `mode` takes one of ok, loop")
            && err.contains("`explode` is not"),
        "{err}"
    );
    let err = node.fails(1, &["analyze", "not-an-id", "--plugin", "misbehave"]);
    assert!(!err.is_empty());
    let space = node.json(&["space", "show", "Remittances WG"])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let err = node.fails(1, &["analyze", &space, "--plugin", "misbehave"]);
    assert!(
        err.contains("is a space; plugins analyse drafts and datasets"),
        "{err}"
    );
    // A plugin's own refusal is reported, and nothing is stored.
    let err = misbehave_fails(&node, &draft, "refuse");
    assert!(
        err.contains("invalid input: misbehave was asked to refuse"),
        "{err}"
    );
    assert!(
        node.json(&["analysis", "list", &draft])["analyses"]
            .as_array()
            .is_none_or(Vec::is_empty)
    );
}

#[test]
fn misbehaving_plugins_fail_within_their_limits_while_the_node_serves() {
    let node = Kpd::started();
    let (draft, _) = setup(&node);
    install_misbehave(&node);

    // A looping plugin runs out of fuel in about a second; meanwhile the node
    // answers other requests.
    let t = Instant::now();
    let mut looping = node.kp_command();
    looping.args([
        "analyze",
        &draft,
        "--plugin",
        "misbehave",
        "--param",
        "mode=loop",
    ]);
    let looping = looping
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let s = Instant::now();
    node.ok(&["status"]);
    node.ok(&["draft", "show", &draft]);
    let served = s.elapsed();
    let out = looping.wait_with_output().unwrap();
    let took = t.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("ran out of fuel (budget 8000000000)"), "{err}");
    assert!(took < Duration::from_secs(10), "the loop ran {took:?}");
    assert!(
        served < took,
        "status answered in {served:?}, during a run of {took:?}"
    );

    for (mode, want) in [
        ("alloc", "exceeded its memory limit of 64 MiB"),
        ("panic", "trapped: "),
        ("panic", "misbehave was asked to panic"),
        (
            "bad-anchor",
            "malformed report: finding 1's anchor 0..1000000 is outside section 0",
        ),
        ("nan", "malformed report: metric `ratio` is NaN"),
        (
            "table-mismatch",
            "malformed report: table `t`: column `b` has 1 cells",
        ),
    ] {
        let err = misbehave_fails(&node, &draft, mode);
        assert!(err.contains(want), "{mode}: {err}");
    }
    // Nothing was stored for the failures; the node is still well.
    assert!(
        node.json(&["analysis", "list", &draft])["analyses"]
            .as_array()
            .is_none_or(Vec::is_empty)
    );
    node.json(&["analyze", &draft, "--plugin", "misbehave"]);
}

#[test]
fn limits_come_from_kpd_toml() {
    let mut node = Kpd::init();
    node.set(&[
        ("fuel", "5000000"),
        ("memory_mib", "16"),
        ("max_report_kib", "1024"),
    ]);
    node.start();
    let (draft, _) = setup(&node);
    install_misbehave(&node);
    let t = Instant::now();
    let err = misbehave_fails(&node, &draft, "loop");
    assert!(err.contains("ran out of fuel (budget 5000000)"), "{err}");
    assert!(t.elapsed() < Duration::from_secs(3));
    let err = misbehave_fails(&node, &draft, "alloc");
    assert!(err.contains("memory limit of 16 MiB"), "{err}");
    // A 2 MiB report over a 1 MiB limit: too large, and the setting named.
    let err = misbehave_fails(&node, &draft, "huge");
    assert!(
        err.contains("report is too large") && err.contains("max_report_kib"),
        "{err}"
    );
}

#[test]
fn plugin_run_works_without_a_node() {
    let dir = tempfile::tempdir().unwrap();
    let doc = dir.path().join("doc.json");
    std::fs::write(
        &doc,
        r#"{"id": "local", "kind": "dataset", "title": "Top", "themes": [7],
            "tables": [{"name": "data", "columns": [
               {"name": "usd_bn", "type": "number", "values": [64, 24, null]}]}]}"#,
    )
    .unwrap();
    let wasm = plugin_wasm("kp-test-misbehave");
    let run = |extra: &[&str]| {
        let mut c = std::process::Command::new(bin("kp"));
        c.args([
            "--data-dir",
            path(dir.path()),
            "plugin",
            "run",
            path(&wasm),
            "--input",
            path(&doc),
        ]);
        c.args(extra).output().unwrap()
    };
    let out = run(&["--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["report"]["summary"], "Top has 3 rows and 0 words");
    assert!(v["fuel_used"].as_u64().unwrap() > 0);
    let again: serde_json::Value = serde_json::from_slice(&run(&["--json"]).stdout).unwrap();
    assert_eq!(v["fuel_used"], again["fuel_used"]);
    assert_eq!(v["report"], again["report"]);

    let out = run(&[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("misbehave 0.1.0: fuel used"), "{err}");

    let out = run(&["--param", "mode=loop", "--fuel", "1000000"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("ran out of fuel (budget 1000000)"), "{err}");

    std::fs::write(&doc, r#"{"id": "x", "kind": "spreadsheet"}"#).unwrap();
    let out = run(&[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is not a document view") && err.contains("spreadsheet"),
        "{err}"
    );
}

/// Two of the theme plugins we ship, built from source and run by a node on real
/// inputs: the published-style corridor quotes (figures checked against the
/// fixture itself) and a short policy brief (a jargon term found at its place).
/// `kp --json plugin run` of the shipped plugin `package` with `args`, with
/// no node: what it printed.
fn run_local(package: &str, args: &[&str]) -> serde_json::Value {
    let out = kp_tests::run_ok(
        std::process::Command::new(bin("kp"))
            .args(["--json", "plugin", "run"])
            .arg(plugin_wasm(package))
            .args(args),
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn shipped_theme_plugins_analyse_datasets_and_drafts() {
    let node = Kpd::started();
    node.ok(&["space", "create", "Remittances WG", "--theme", "7"]);
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/remittances/corridor-quotes-illustrative.csv");
    let dataset = import_dataset(&node, path(&fixture), "Quotes");
    node.ok(&["plugin", "install", path(&plugin_wasm("remittance-cost"))]);
    let r = node.json(&["analyze", &dataset, "--plugin", "remittance-cost"]);
    let metric = |name: &str| -> f64 {
        r["report"]["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .unwrap_or_else(|| panic!("no metric {name}: {r}"))["value"]
            .as_f64()
            .unwrap()
    };
    // The total cost of each quote, from the CSV: (fee + margin% × amount) / amount.
    let text = std::fs::read_to_string(&fixture).unwrap();
    let costs: Vec<f64> = text
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<f64> = l.split(',').skip(3).map(|x| x.parse().unwrap()).collect();
            (f[1] + f[2] / 100.0 * f[0]) / f[0] * 100.0
        })
        .collect();
    assert_eq!(metric("quotes"), costs.len() as f64);
    let mean = costs.iter().sum::<f64>() / costs.len() as f64;
    assert!((metric("average total cost over quotes") - mean).abs() < 1e-9);
    // RPW's published global averages: a trend against the SDG target.
    let rpw = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/remittances/rpw-global-averages.csv");
    let series = import_dataset(&node, path(&rpw), "RPW global averages");
    let r = node.json(&["analyze", &series, "--plugin", "remittance-cost"]);
    // Without a node, on the CSV file itself: the report the node made.
    let local = run_local("remittance-cost", &["--csv", path(&rpw)]);
    assert_eq!(
        local["report"], r["report"],
        "kp plugin run --csv reads as the node"
    );
    let summary = r["report"]["summary"].as_str().unwrap_or_default();
    assert!(
        summary.starts_with("The global average was 6.18% in 2023Q3, 3.18 points above")
            && summary.ends_with("at that pace the target is reached in 2054."),
        "{summary}"
    );

    node.ok(&["plugin", "install", path(&plugin_wasm("brief-readability"))]);
    let body = "Remittances rose again. KYC rules slow small transfers.\n";
    let f = node.scratch().join("brief.md");
    std::fs::write(&f, body).unwrap();
    let draft = node
        .ok(&[
            "draft",
            "new",
            "--space",
            "Remittances WG",
            "--title",
            "Brief",
            "--type",
            "policy-brief",
            "--file",
            path(&f),
        ])
        .trim()
        .to_owned();
    let r = node.json(&["analyze", &draft, "--plugin", "brief-readability"]);
    let local = run_local(
        "brief-readability",
        &[
            "--markdown",
            path(&f),
            "--type",
            "policy-brief",
            "--title",
            "Brief",
        ],
    );
    assert_eq!(
        local["report"], r["report"],
        "kp plugin run --markdown reads as the node"
    );
    let metrics = r["report"]["metrics"].as_array().unwrap();
    let words = metrics.iter().find(|m| m["name"] == "words").unwrap();
    assert_eq!(words["value"], 8.0, "{r}");
    let sentences = metrics.iter().find(|m| m["name"] == "sentences").unwrap();
    assert_eq!(sentences["value"], 2.0, "{r}");
    let kyc = r["report"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|f| {
            f["anchor"].as_object().filter(|_| {
                f["message"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("jargon: \"KYC\"")
            })
        })
        .unwrap_or_else(|| panic!("a finding anchored on KYC: {r}"));
    let (start, end) = (
        kyc["start"].as_u64().unwrap() as usize,
        kyc["end"].as_u64().unwrap() as usize,
    );
    assert_eq!(&body[start..end], "KYC");
}

/// The CSV `file` imported into the space "Remittances WG" as `title`, and
/// `remittance-indicators` installed: the dataset's id.
fn with_indicators(node: &Kpd, file: &str, title: &str) -> String {
    let dataset = import_dataset(node, file, title);
    let wasm = plugin_wasm("remittance-indicators");
    node.ok(&["plugin", "install", path(&wasm)]);
    dataset
}

/// Country, year, remittances and GDP (USD m).
type PanelRow = (String, i64, Option<f64>, Option<f64>);

/// A world panel as the World Bank publishes them: 217 countries over 60
/// years (1965–2024), remittances and GDP in USD m, made up but shaped like
/// the real thing (a few countries near or above 10% of GDP, gaps).
fn world_panel() -> (String, Vec<PanelRow>) {
    let mut rows = Vec::new();
    let mut csv = String::from("country,year,remittances_usd_m,gdp_usd_m\n");
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = || {
        // xorshift: the same panel on every run.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    for c in 0..217 {
        let country = format!("Country {c:03}");
        let gdp0 = 500.0 + 200_000.0 * next();
        let dependence = if c % 19 == 0 {
            0.12 + 0.2 * next()
        } else {
            0.08 * next()
        };
        for y in 1965..2025 {
            let t = (y - 1965) as f64;
            let gdp = (gdp0 * (1.0 + 0.03 * t) * 1000.0).round() / 1000.0;
            let rem = (gdp * dependence * (0.9 + 0.2 * next()) * 1000.0).round() / 1000.0;
            // Some gaps: a missing GDP, a missing remittance value.
            let gdp = (!(c % 23 == 0 && y % 7 == 0)).then_some(gdp);
            let rem = (!(c % 31 == 0 && y % 5 == 0)).then_some(rem);
            let cell = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
            csv.push_str(&format!("{country},{y},{},{}\n", cell(rem), cell(gdp)));
            rows.push((country.clone(), y, rem, gdp));
        }
    }
    (csv, rows)
}

#[test]
fn a_world_panel_is_analysed_through_the_node_and_its_figures_hold() {
    let node = Kpd::started();
    node.ok(&["space", "create", "Remittances WG", "--theme", "7"]);
    let (csv, rows) = world_panel();
    assert_eq!(rows.len(), 217 * 60);
    let file = node.scratch().join("panel.csv");
    std::fs::write(&file, &csv).unwrap();
    let dataset = with_indicators(&node, path(&file), "World panel");
    // On the node's default limits: not refused as too large.
    let a = node.json(&["analyze", &dataset, "--plugin", "remittance-indicators"]);
    let report = &a["report"];
    let metric = |name: &str| -> f64 {
        report["metrics"]
            .as_array()
            .and_then(|m| m.iter().find(|m| m["name"] == name))
            .and_then(|m| m["value"].as_f64())
            .unwrap_or_else(|| panic!("no metric {name}: {report}"))
    };
    // The figures, computed here from the rows, not by the plugin's code.
    let in_2024: Vec<_> = rows.iter().filter(|r| r.1 == 2024).collect();
    let total: f64 = in_2024.iter().filter_map(|r| r.2).sum();
    let with_value = in_2024.iter().filter(|r| r.2.is_some()).count();
    let above = in_2024
        .iter()
        .filter(|r| matches!((r.2, r.3), (Some(x), Some(g)) if g > 0.0 && 100.0 * x / g > 10.0))
        .count();
    let both: Vec<_> = in_2024
        .iter()
        .filter_map(|r| {
            let before = rows.iter().find(|p| p.0 == r.0 && p.1 == 2023)?.2?;
            Some((r.2?, before))
        })
        .collect();
    let growth = 100.0
        * (both.iter().map(|b| b.0).sum::<f64>() / both.iter().map(|b| b.1).sum::<f64>() - 1.0);
    assert_eq!(metric("ranking year"), 2024.0);
    assert!(
        (metric("total remittances 2024") - total).abs() < 1e-6 * total,
        "{total}"
    );
    assert_eq!(metric("countries above 10% of GDP"), above as f64);
    assert!(
        (metric("growth 2023-2024") - growth).abs() < 1e-9,
        "{growth}"
    );
    let top = in_2024
        .iter()
        .filter_map(|r| Some((r.0.clone(), r.2?)))
        .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
        .expect("a largest");
    let summary = report["summary"].as_str().unwrap_or_default();
    assert!(
        summary.starts_with(&format!(
            "In 2024, the {with_value} countries in the table received "
        )) && summary.contains(&format!("the largest recipient was {}", top.0)),
        "{summary}"
    );
    // The indicators of every country-year are in the stored report.
    let tables = report["tables"].as_array().expect("tables");
    let indicators = tables
        .iter()
        .find(|t| t["name"] == "indicators")
        .expect("the indicators table");
    assert_eq!(
        indicators["columns"][0]["values"].as_array().map(Vec::len),
        Some(217 * 60)
    );
    // Shown to a person: the numbers as people read them, the table cut
    // short with a word on the rest, every finding whole.
    let shown = node.ok(&["analysis", "show", a["id"].as_str().unwrap()]);
    assert!(
        shown.contains(&format!("… {} more rows", 217 * 60 - 30)),
        "{shown}"
    );
    assert!(!shown.contains("00000000"), "float noise shown: {shown}");
    // The JSON carries the report exactly as stored.
    let again = node.json(&["analysis", "show", a["id"].as_str().unwrap()]);
    assert_eq!(again["report_json"], a["report_json"]);
    let stored: serde_json::Value =
        serde_json::from_str(again["report_json"].as_str().unwrap()).unwrap();
    assert_eq!(
        again["report"], stored,
        "every number as stored, to the bit"
    );

    // Its figures, against the rows: the totals of every year, the top
    // recipients and the top shares of GDP in the ranking year.
    let figures = report["figures"].as_array().expect("figures");
    assert_eq!(figures.len(), 3, "{figures:?}");
    let trend = &figures[0]["chart"]["lines"];
    let years: Vec<f64> = (1965..2025).map(|y| y as f64).collect();
    assert_eq!(trend["x"], serde_json::json!(years));
    for (i, y) in (1965..2025).enumerate() {
        let total: f64 = rows.iter().filter(|r| r.1 == y).filter_map(|r| r.2).sum();
        let drawn = trend["series"][0]["values"][i].as_f64().expect("a value");
        assert!((drawn - total).abs() < 1e-9 * total, "{y}: {drawn} {total}");
    }
    let mut by_value: Vec<(String, f64)> = in_2024
        .iter()
        .filter_map(|r| Some((r.0.clone(), r.2?)))
        .collect();
    by_value.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut by_share: Vec<(String, f64)> = in_2024
        .iter()
        .filter_map(|r| match (r.2, r.3) {
            (Some(x), Some(g)) if g > 0.0 => Some((r.0.clone(), 100.0 * x / g)),
            _ => None,
        })
        .collect();
    by_share.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    for (figure, want, title) in [
        (&figures[1], &by_value, "Top recipients in 2024"),
        (
            &figures[2],
            &by_share,
            "Remittances as a share of GDP in 2024",
        ),
    ] {
        assert_eq!(figure["title"], title);
        let bars = figure["chart"]["bars"].as_array().expect("bars");
        assert_eq!(bars.len(), 5);
        for (bar, (country, value)) in bars.iter().zip(want.iter()) {
            assert_eq!(bar["label"], country.as_str());
            let drawn = bar["value"].as_f64().unwrap();
            assert!(
                (drawn - value).abs() < 1e-9 * value,
                "{country}: {drawn} {value}"
            );
        }
    }
    assert_eq!(figures[2]["marks"][0]["value"], 10.0);

    // Drawn: one file per figure, the page's own drawing.
    let svg = node.scratch().join("panel.svg");
    let id = a["id"].as_str().unwrap();
    node.ok(&["analysis", "show", id, "--svg", path(&svg)]);
    let second = node.scratch().join("panel-2.svg");
    let third = node.scratch().join("panel-3.svg");
    let drawn = std::fs::read_to_string(&svg).unwrap();
    assert!(
        drawn.starts_with("<svg") && drawn.contains("1965–2024"),
        "{drawn}"
    );
    let bars = std::fs::read_to_string(&second).unwrap();
    assert!(bars.contains(&format!(">{}<", by_value[0].0)), "{bars}");
    assert!(third.exists());
    // Again: the drawings are replaced; a file that is not one is not.
    node.ok(&["analysis", "show", id, "--svg", path(&svg)]);
    std::fs::write(&third, "my notes").unwrap();
    let err = node.fails(1, &["analysis", "show", id, "--svg", path(&svg)]);
    assert!(
        err.contains("panel-3.svg exists and is not a drawing"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&third).unwrap(), "my notes");
}

/// The cost series of Remittance Prices Worldwide through the node: the
/// figure holds the CSV's own values, the target and the ceiling; and the
/// README's figure is what `kp analyze --svg` draws of it.
#[test]
fn a_published_cost_series_is_drawn_against_the_sdg_target() {
    let node = Kpd::started();
    node.ok(&["space", "create", "Remittances WG", "--theme", "7"]);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let fixture = root.join("fixtures/remittances/rpw-global-averages.csv");
    let dataset = import_dataset(&node, path(&fixture), "RPW global averages");
    node.ok(&["plugin", "install", path(&plugin_wasm("remittance-cost"))]);
    let svg = node.scratch().join("cost.svg");
    let a = node.json(&[
        "analyze",
        &dataset,
        "--plugin",
        "remittance-cost",
        "--svg",
        path(&svg),
    ]);
    // The CSV read here, by hand.
    let text = std::fs::read_to_string(&fixture).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let figure = &a["report"]["figures"][0];
    let chart = &figure["chart"]["lines"];
    let periods: Vec<&str> = rows.iter().map(|r| r[0]).collect();
    assert_eq!(chart["labels"], serde_json::json!(periods));
    let series = chart["series"].as_array().unwrap();
    assert_eq!(series[0]["name"], "global average");
    for s in series {
        let name = s["name"].as_str().unwrap().replace(' ', "_") + "_pct";
        let col = header.iter().position(|h| *h == name).expect("a column");
        let want: Vec<Option<f64>> = rows.iter().map(|r| r[col].parse().ok()).collect();
        let got: Vec<Option<f64>> = s["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(serde_json::Value::as_f64)
            .collect();
        assert_eq!(got, want, "{name}");
    }
    assert_eq!(figure["marks"][0]["value"], 3.0);
    assert_eq!(figure["marks"][1]["value"], 5.0);
    assert_eq!(figure["unit"], "%");
    // Output piped into a reader that stops at once (`| head -1`): the
    // drawing is there all the same.
    let piped = node.scratch().join("piped.svg");
    let mut child = node
        .kp_command()
        .args(["analyze", &dataset, "--plugin", "remittance-cost", "--svg"])
        .arg(&piped)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    child.wait().unwrap();
    assert!(
        piped.exists(),
        "no drawing when the output pipe closed early"
    );
    let drawn = std::fs::read_to_string(&svg).unwrap();
    let readme_figure = root.join("../docs/figures/rpw-global-average.svg");
    assert_eq!(
        drawn,
        std::fs::read_to_string(&readme_figure).unwrap_or_default(),
        "the README's figure is out of date: copy {} to {}",
        svg.display(),
        readme_figure.display()
    );
}

#[test]
fn a_report_over_the_nodes_limits_is_too_large_and_names_the_setting() {
    let mut node = Kpd::init();
    node.set(&[("max_report_items", "10")]);
    node.start();
    node.ok(&["space", "create", "Remittances WG", "--theme", "7"]);
    let csv = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/remittances/top-recipients-2011.csv"
    );
    let dataset = with_indicators(&node, csv, "Top");
    let err = node.fails(
        1,
        &["analyze", &dataset, "--plugin", "remittance-indicators"],
    );
    assert!(
        err.contains("too large") && err.contains("max_report_items") && !err.contains("malformed"),
        "{err}"
    );
    // Nothing was stored.
    let list = node.json(&["analysis", "list", &dataset]);
    assert_eq!(list["analyses"].as_array().map(Vec::len), Some(0), "{list}");
}
