//! `kp plugin`, `kp analyze` and `kp analysis`: analysis plugins on the node,
//! and `kp plugin run`, which runs a plugin on a local file without a node.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use kp_proto::local as pb;
use serde_json::json;

use crate::client::{self, Ctx, refused};
use crate::input::{Bound, read_bytes, read_text};
use crate::output::{Deferred, emit};
use crate::render::{number, one_line, plural, short, table, time};

#[derive(Debug, Subcommand)]
pub(super) enum PluginCmd {
    /// Install an analysis plugin (a wasm component) on the node.
    ///
    /// The node checks that the file is a component of the kp:analysis world
    /// (version 0.1.0), that it imports nothing outside the sandbox (no file
    /// system, network or environment), and reads its description; then it
    /// compiles it. Installing a plugin of the same name replaces it.
    #[command(after_help = "\
Examples:
  cargo build --profile plugin --target wasm32-wasip2 -p remittance-indicators
  kp plugin install target/wasm32-wasip2/plugin/remittance_indicators.wasm")]
    Install {
        /// The component (.wasm).
        file: PathBuf,
    },
    /// List the installed plugins.
    List,
    /// Show a plugin: what it analyses, its parameters, its hash.
    Show {
        /// The plugin's name.
        name: String,
    },
    /// Remove a plugin (the analyses it made stay).
    Remove {
        /// The plugin's name.
        name: String,
    },
    /// Run a plugin without a node on a CSV file (as a dataset), a Markdown
    /// file (as a draft) or a document view in JSON, and print the report, the
    /// fuel it used and its log. A CSV or Markdown file is read as a node reads
    /// it: the same typed columns, the same sections.
    #[command(after_help = "\
Examples:
  kp plugin run target/wasm32-wasip2/plugin/remittance_indicators.wasm \\
     --csv top-recipients-2011.csv --param top=3
  kp plugin run target/wasm32-wasip2/plugin/brief_readability.wasm \\
     --markdown draft.md --type policy-brief
  kp plugin run target/wasm32-wasip2/plugin/remittance_indicators.wasm \\
     --input doc.json --param top=5 --fuel 100000000 --json

With --input, the file is a document view:
  {\"id\": \"example\", \"kind\": \"dataset\", \"title\": \"Top recipients 2011\", \"themes\": [7],
   \"tables\": [{\"name\": \"data\", \"columns\": [
      {\"name\": \"country\", \"type\": \"text\", \"values\": [\"India\", \"China\", \"Mexico\"]},
      {\"name\": \"year\", \"type\": \"integer\", \"values\": [2011, 2011, 2011]},
      {\"name\": \"remittances_usd_bn\", \"type\": \"number\", \"values\": [58, 57, 24]}]}]}
(kind draft: \"sections\": [{\"heading\": \"Costs\", \"level\": 1, \"text\": \"...\"}])")]
    Run(RunArgs),
    /// Write a new plugin crate to start from: a plugin that counts a
    /// dataset's rows and empty cells, its tests, a CSV file to try it on, and
    /// in `kp/` the plugin SDK and the contract of this kp. It builds and
    /// tests anywhere, with no node and no copy of kp's sources.
    #[command(after_help = "\
Examples:
  kp plugin new remittance-trends
  kp plugin new remittance-trends --dir plugins/trends

Then, in its directory:
  cargo test
  cargo build --profile plugin --target wasm32-wasip2
  kp plugin run target/wasm32-wasip2/plugin/remittance_trends.wasm --csv data.csv")]
    New {
        /// The plugin's name: lower-case words joined by `-`.
        name: String,
        /// Where to write it (new or empty) [default: ./NAME].
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("document").required(true).args(["input", "csv", "markdown"])))]
pub(super) struct RunArgs {
    /// The component (.wasm).
    file: PathBuf,
    /// A document view, as JSON (`-` reads standard input).
    #[arg(long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// A CSV file, read as a dataset (`-` reads standard input).
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
    /// A Markdown file, read as a draft (`-` reads standard input).
    #[arg(long, value_name = "FILE")]
    markdown: Option<PathBuf>,
    /// The document's title [default: the file's name].
    #[arg(long)]
    title: Option<String>,
    /// The draft's type (working-paper, policy-brief, …).
    #[arg(long = "type", value_name = "TYPE", default_value = "working-paper")]
    draft_type: String,
    /// A theme of the document's space (1–11; repeatable) [default: the
    /// plugin's first theme].
    #[arg(long = "theme", value_name = "N")]
    themes: Vec<u8>,
    /// A parameter, NAME=VALUE; repeat for more.
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_param)]
    params: Vec<(String, String)>,
    /// The fuel budget [default: the node's default].
    #[arg(long)]
    fuel: Option<u64>,
    /// The memory limit in MiB [default: 64].
    #[arg(long, value_name = "MIB")]
    memory: Option<u64>,
    #[command(flatten)]
    svg: SvgArg,
}

#[derive(Debug, Args)]
pub(super) struct AnalyzeArgs {
    /// The draft's or dataset's id.
    doc_id: String,
    /// The installed plugin's name.
    #[arg(long)]
    plugin: String,
    /// A parameter, NAME=VALUE; repeat for more. Parameters the plugin
    /// declares with a default may be left out; others are refused.
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_param)]
    params: Vec<(String, String)>,
    #[command(flatten)]
    svg: SvgArg,
}

/// `--svg FILE`: the report's figures drawn.
#[derive(Debug, Args)]
pub(super) struct SvgArg {
    /// Draw the report's figures as SVG: the first in FILE, the next in
    /// FILE-2.svg, FILE-3.svg… An existing file is replaced only if it is a
    /// drawing (it starts with `<svg`); a device such as /dev/stdout gets the
    /// first figure.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(super) enum AnalysisCmd {
    /// List the analyses of a draft or dataset, oldest first.
    List {
        /// The draft's or dataset's id.
        doc_id: String,
    },
    /// Show an analysis: its report (summary, metrics, findings, tables),
    /// which plugin made it with which parameters, on which version of the
    /// document.
    #[command(after_help = "\
Examples:
  kp analysis show ANALYSIS_ID
  kp analysis show ANALYSIS_ID --svg trend.svg   (its figures, drawn)
  kp --json analysis show ANALYSIS_ID   (the report exactly as stored, in report_json)")]
    Show {
        /// The analysis's id (`kp analysis list DOC_ID` names them).
        id: String,
        #[command(flatten)]
        svg: SvgArg,
    },
}

/// Parses a `NAME=VALUE` parameter.
fn parse_param(p: &str) -> Result<(String, String), String> {
    p.split_once('=')
        .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("`{p}`: write NAME=VALUE"))
}

/// A plugin: what it analyses, its parameters, its hash.
fn print_plugin(p: &pb::PluginInfo) -> anyhow::Result<()> {
    outln!("{} {}", p.name, p.version);
    outln!("{}", p.summary);
    outln!("analyses: {}", p.kinds.join(", "));
    if p.themes.is_empty() {
        outln!("themes: all");
    } else {
        let t: Vec<String> = p.themes.iter().map(u32::to_string).collect();
        outln!("themes: {}", t.join(", "));
    }
    outln!("sha256: {}", p.sha256);
    outln!("size: {} bytes, contract {}", p.size, p.api);
    outln!("installed: {}", time(p.installed_at));
    if !p.params.is_empty() {
        outln!();
        let rows: Vec<Vec<String>> = p
            .params
            .iter()
            .map(|q| {
                vec![
                    q.name.clone(),
                    match q.kind.as_str() {
                        "choice" => format!("one of {}", q.choices.join(", ")),
                        "" => "text".to_owned(),
                        k => k.to_owned(),
                    },
                    if q.has_default {
                        q.default_value.clone()
                    } else {
                        "(optional)".into()
                    },
                    q.description.clone(),
                ]
            })
            .collect();
        table(&["PARAMETER", "KIND", "DEFAULT", "WHAT"], &rows);
    }
    Ok(())
}

/// `kp plugin ...` on the node.
pub(super) async fn handle(ctx: &mut Ctx, cmd: PluginCmd) -> anyhow::Result<()> {
    match cmd {
        PluginCmd::Install { file } => {
            let limits = client::limits(&mut ctx.api).await?;
            let bound = Bound::node(
                limits.max_wasm_kib,
                "a plugin component",
                "[plugins] max_wasm_kib",
            );
            let req = pb::InstallPluginRequest {
                wasm: read_bytes(&file, &bound)?,
                file_name: file.display().to_string(),
            };
            client::check_request(&req, &limits)?;
            let p = ctx
                .api
                .install_plugin(req)
                .await
                .map_err(refused)?
                .into_inner();
            emit(ctx.json, &p, |p| {
                outln!("{}", p.name);
                eprintln!(
                    "installed {} {} ({} bytes, sha256 {})",
                    p.name,
                    p.version,
                    p.size,
                    short(&p.sha256, 12)
                );
                Ok(())
            })
        }
        PluginCmd::List => {
            let l = ctx
                .api
                .list_plugins(pb::ListPluginsRequest {})
                .await
                .map_err(refused)?
                .into_inner();
            emit(ctx.json, &l, |l| {
                let rows: Vec<Vec<String>> = l
                    .plugins
                    .iter()
                    .map(|p| {
                        vec![
                            p.name.clone(),
                            p.version.clone(),
                            p.kinds.join(","),
                            short(&p.sha256, 12),
                            one_line(&p.summary, 60),
                        ]
                    })
                    .collect();
                table(&["NAME", "VERSION", "ANALYSES", "SHA256", "SUMMARY"], &rows);
                Ok(())
            })
        }
        PluginCmd::Show { name } => {
            let p = ctx
                .api
                .get_plugin(pb::GetPluginRequest { name })
                .await
                .map_err(refused)?
                .into_inner();
            emit(ctx.json, &p, print_plugin)
        }
        PluginCmd::Remove { name } => {
            ctx.api
                .remove_plugin(pb::RemovePluginRequest { name: name.clone() })
                .await
                .map_err(refused)?;
            emit(ctx.json, &json!({ "removed": name }), |_| {
                eprintln!("removed plugin {name}");
                Ok(())
            })
        }
        PluginCmd::Run(_) | PluginCmd::New { .. } => {
            anyhow::bail!("`kp plugin run` and `kp plugin new` run without a node");
        }
    }
}

/// The report as JSON, for printing (the stored canonical bytes parsed).
fn report_value(report_json: &str) -> serde_json::Value {
    serde_json::from_str(report_json).unwrap_or(serde_json::Value::Null)
}

/// Prints a report for a reader.
fn print_report(report: &kp_plugin_host::Report) {
    outln!("{}", report.summary.trim());
    if !report.metrics.is_empty() {
        outln!();
        let rows: Vec<Vec<String>> = report
            .metrics
            .iter()
            .map(|m| vec![m.name.clone(), number(m.value), m.unit.clone()])
            .collect();
        table(&["METRIC", "VALUE", "UNIT"], &rows);
    }
    if !report.findings.is_empty() {
        outln!();
        // Whole: a finding cut short says less than it should.
        for f in &report.findings {
            let at = f.anchor.map_or_else(String::new, |a| {
                format!(" (§{} {}..{})", a.section, a.start, a.end)
            });
            outln!(
                "{}: {}{at}",
                format!("{:?}", f.severity).to_lowercase(),
                f.message.split_whitespace().collect::<Vec<_>>().join(" ")
            );
        }
    }
    for t in &report.tables {
        outln!();
        outln!("{}", t.name);
        let header: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
        let all = t.columns.first().map_or(0, |c| c.data.len());
        let rows = all.min(SHOWN_ROWS);
        let cell = |c: &kp_plugin_host::view::Column, i: usize| -> String {
            use kp_plugin_host::view::ColumnData as D;
            let v = match &c.data {
                D::Integer(v) => v.get(i).copied().flatten().map(|x| x.to_string()),
                D::Number(v) => v.get(i).copied().flatten().map(number),
                D::Boolean(v) => v.get(i).copied().flatten().map(|x| x.to_string()),
                D::Text(v) => v.get(i).cloned().flatten(),
            };
            v.unwrap_or_default()
        };
        let body: Vec<Vec<String>> = (0..rows)
            .map(|i| t.columns.iter().map(|c| cell(c, i)).collect())
            .collect();
        table(&header, &body);
        if all > rows {
            outln!("… {} more rows (all of them with --json)", all - rows);
        }
    }
    if !report.figures.is_empty() {
        outln!();
        for (i, f) in report.figures.iter().enumerate() {
            use kp_plugin_host::view::Chart;
            let what = match &f.chart {
                Chart::Lines(l) => format!(
                    "{} over {} {}s",
                    plural(l.series.len(), "line"),
                    l.x.len(),
                    if l.axis.is_empty() { "point" } else { &l.axis }
                ),
                Chart::Bars(b) => plural(b.len(), "bar"),
                Chart::Histogram(h) => format!("histogram of {}", plural(h.counts.len(), "bin")),
            };
            outln!("figure {}: {} ({what})", i + 1, f.title);
        }
        outln!("(drawn with --svg FILE)");
    }
}

/// Where figure `i` (from 0) of `--svg FILE` goes: FILE, then FILE-2.svg…
fn svg_path(file: &std::path::Path, i: usize) -> PathBuf {
    if i == 0 {
        return file.to_owned();
    }
    let stem = file.file_stem().unwrap_or_default().to_string_lossy();
    let ext = file
        .extension()
        .map_or_else(|| "svg".to_owned(), |e| e.to_string_lossy().into_owned());
    file.with_file_name(format!("{stem}-{}.{ext}", i + 1))
}

/// Whether a file starts as an SVG drawing does (its first 512 bytes, not
/// the whole file, are read).
fn starts_as_drawing(f: std::fs::File) -> bool {
    use std::io::Read;
    let mut head = Vec::with_capacity(512);
    let _ = f.take(512).read_to_end(&mut head);
    String::from_utf8_lossy(&head)
        .trim_start()
        .starts_with("<svg")
}

/// Draws the report's figures into `file` (see [`SvgArg`]); says on stderr
/// where each went. `after` ends the error when there is nothing to draw
/// (what already happened, such as the analysis being stored).
fn write_svgs(
    report: &kp_plugin_host::Report,
    file: &std::path::Path,
    after: &str,
) -> anyhow::Result<()> {
    use std::io::Write;
    if report.figures.is_empty() {
        anyhow::bail!(
            "the report has no figure, so nothing was written to {}{after}",
            file.display()
        );
    }
    let device = std::fs::metadata(file).is_ok_and(|m| !m.is_file());
    if device {
        let drawing = kp_model::figure::svg(&report.figures[0]);
        std::fs::OpenOptions::new()
            .write(true)
            .open(file)
            .and_then(|mut f| f.write_all(drawing.as_bytes()))
            .with_context(|| format!("cannot write {}", file.display()))?;
        if report.figures.len() > 1 {
            eprintln!(
                "the first of {} figures went to {}; name a file to have them all",
                report.figures.len(),
                file.display()
            );
        }
        return Ok(());
    }
    let paths: Vec<PathBuf> = (0..report.figures.len())
        .map(|i| svg_path(file, i))
        .collect();
    // Nothing is written unless every file may be: a file that is not a
    // drawing is someone's work.
    for p in &paths {
        if let Ok(f) = std::fs::File::open(p)
            && !starts_as_drawing(f)
        {
            anyhow::bail!(
                "{} exists and is not a drawing: kp replaces only an SVG it can tell is one; \
                 name another file{after}",
                p.display()
            );
        }
    }
    for (f, p) in report.figures.iter().zip(&paths) {
        let tmp = p.with_file_name(format!(
            ".{}.kp-{}",
            p.file_name().unwrap_or_default().to_string_lossy(),
            std::process::id()
        ));
        let written =
            std::fs::write(&tmp, kp_model::figure::svg(f)).and_then(|()| std::fs::rename(&tmp, p));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written.with_context(|| format!("cannot write {}", p.display()))?;
        eprintln!("figure \"{}\" drawn in {}", f.title, p.display());
    }
    Ok(())
}

/// Rows of a report's table shown on a terminal; `--json` has them all.
const SHOWN_ROWS: usize = 30;

/// `kp analyze`.
pub(super) async fn analyze(ctx: &mut Ctx, a: AnalyzeArgs) -> anyhow::Result<()> {
    let params = a
        .params
        .into_iter()
        .map(|(name, value)| pb::Param { name, value })
        .collect();
    let r = ctx
        .api
        .analyze(pb::AnalyzeRequest {
            doc_id: a.doc_id,
            plugin: a.plugin,
            params,
            author: ctx.author.clone(),
        })
        .await
        .map_err(refused)?
        .into_inner();
    let report = || -> anyhow::Result<kp_plugin_host::Report> {
        serde_json::from_str(&r.report_json)
            .context("the node returned a report that does not parse")
    };
    // Drawn before anything is printed: output piped into `head` ends
    // the command when the pipe closes, and the files must be there.
    let drawn = a.svg.svg.as_ref().map(|file| {
        write_svgs(
            &report()?,
            file,
            &format!(" (the analysis is stored: kp analysis show {})", r.id),
        )
    });
    emit(ctx.json, &Deferred(|| analysis_json(&r)), |_| {
        print_report(&report()?);
        eprintln!(
            "\nanalysis {} by {} {} (fuel {})",
            r.id, r.plugin, r.plugin_version, r.fuel_used
        );
        Ok(())
    })?;
    drawn.unwrap_or(Ok(()))
}

fn analysis_json(r: &pb::Analysis) -> serde_json::Value {
    json!({
        "id": r.id, "space_id": r.space_id, "doc_id": r.doc_id, "doc_heads": r.doc_heads,
        "plugin": r.plugin, "plugin_version": r.plugin_version,
        "plugin_sha256": r.plugin_sha256,
        "params": r.params.iter().map(|p| (p.name.clone(), p.value.clone())).collect::<BTreeMap<_, _>>(),
        "fuel_used": r.fuel_used, "created_at": r.created_at, "author": r.author,
        "report": report_value(&r.report_json), "report_json": r.report_json,
        "logs": r.logs,
    })
}

/// `kp analysis ...`.
pub(super) async fn analysis(ctx: &mut Ctx, cmd: AnalysisCmd) -> anyhow::Result<()> {
    let doc_id = match cmd {
        AnalysisCmd::List { doc_id } => doc_id,
        AnalysisCmd::Show { id, svg } => {
            let r = ctx
                .api
                .get_analysis(pb::GetAnalysisRequest { id })
                .await
                .map_err(refused)?
                .into_inner();
            let report: kp_plugin_host::Report = serde_json::from_str(&r.report_json)
                .context("the node holds a report that does not parse")?;
            if let Some(file) = &svg.svg {
                return write_svgs(&report, file, "");
            }
            return emit(ctx.json, &Deferred(|| analysis_json(&r)), |_| {
                print_report(&report);
                let params: Vec<String> = r
                    .params
                    .iter()
                    .map(|p| format!("{}={}", p.name, p.value))
                    .collect();
                eprintln!(
                    "\nanalysis {} of {} by {} {}{} at {} (by {}, fuel {})",
                    r.id,
                    r.doc_id,
                    r.plugin,
                    r.plugin_version,
                    if params.is_empty() {
                        String::new()
                    } else {
                        format!(" with {}", params.join(" "))
                    },
                    time(r.created_at),
                    r.author,
                    r.fuel_used
                );
                Ok(())
            });
        }
    };
    let l = ctx
        .api
        .list_analyses(pb::ListAnalysesRequest { doc_id })
        .await
        .map_err(refused)?
        .into_inner();
    let all = Deferred(|| {
        let all: Vec<serde_json::Value> = l.analyses.iter().map(analysis_json).collect();
        json!({ "analyses": all })
    });
    emit(ctx.json, &all, |_| {
        let rows: Vec<Vec<String>> = l
            .analyses
            .iter()
            .map(|a| {
                let summary = report_value(&a.report_json)
                    .get("summary")
                    .and_then(|s| s.as_str())
                    .unwrap_or("")
                    .to_owned();
                let params: Vec<String> = a
                    .params
                    .iter()
                    .map(|p| format!("{}={}", p.name, p.value))
                    .collect();
                vec![
                    a.id.clone(),
                    time(a.created_at),
                    format!("{} {}", a.plugin, a.plugin_version),
                    // Every applied parameter, cut like the summary (`kp analysis
                    // show ID` and --json give them all).
                    one_line(&params.join(" "), 40),
                    one_line(&summary, 60),
                ]
            })
            .collect();
        table(&["ID", "WHEN", "PLUGIN", "PARAMS", "SUMMARY"], &rows);
        Ok(())
    })
}

/// The largest component `kp plugin run` reads: with no node, no node's limit
/// applies, and a bound keeps a wrong file from filling memory.
const MAX_LOCAL_WASM_BYTES: u64 = 64 << 20;

/// The largest document view `kp plugin run` reads (JSON), for the same reason.
const MAX_LOCAL_VIEW_BYTES: u64 = 256 << 20;

/// `kp plugin run`: no node involved.
pub(super) fn run_local(a: RunArgs, json_out: bool) -> anyhow::Result<()> {
    let wasm = read_bytes(
        &a.file,
        &Bound::fixed(
            MAX_LOCAL_WASM_BYTES,
            "a plugin component run without a node",
            "it is fixed, four times what a node takes by default",
        ),
    )?;
    let bound = |what| {
        Bound::fixed(
            MAX_LOCAL_VIEW_BYTES,
            what,
            "it is fixed, far above the largest draft or dataset a node takes by default",
        )
    };
    let name = |p: &PathBuf| {
        a.title.clone().unwrap_or_else(|| {
            p.file_stem()
                .map_or_else(|| "document".into(), |s| s.to_string_lossy().into_owned())
        })
    };
    let mut doc: kp_plugin_host::DocumentView = match (&a.input, &a.csv, &a.markdown) {
        (Some(p), _, _) => serde_json::from_str(&read_text(p, &bound("a document view"))?)
            .with_context(|| format!("{} is not a document view", p.display()))?,
        (_, Some(p), _) => {
            let text = read_text(p, &bound("a CSV file"))?;
            let shown = p.display().to_string();
            let table = kp_model::dataset::parse_csv(text.as_bytes(), &shown)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let d = kp_model::dataset::Dataset::of_table(name(p), table);
            kp_model::view::dataset("local".into(), Vec::new(), &d, Vec::new())
        }
        (_, _, Some(p)) => {
            let body = read_text(p, &bound("a Markdown file"))?;
            let draft_type: kp_model::DraftType = a
                .draft_type
                .parse()
                .map_err(|e| anyhow::anyhow!("--type: {e}"))?;
            let d = kp_model::draft::Draft {
                space: String::new(),
                title: name(p),
                draft_type: draft_type.to_string(),
                status: kp_model::Status::Draft,
                authors: Vec::new(),
                body,
                versions: Vec::new(),
                created_at: 0,
            };
            kp_model::view::draft("local".into(), Vec::new(), &d, Vec::new())
        }
        (None, None, None) => anyhow::bail!("give the document: --csv, --markdown or --input"),
    };
    let mut limits = kp_plugin_host::Limits::default();
    if let Some(f) = a.fuel {
        limits.fuel = f;
    }
    if let Some(m) = a.memory {
        limits.memory_mib = m;
    }
    limits.max_concurrent = 1;
    let host = kp_plugin_host::Host::new(limits, None)?;
    let plugin = host
        .load(&wasm)
        .with_context(|| format!("{}", a.file.display()))?;
    if a.input.is_none() {
        doc.themes = if a.themes.is_empty() {
            plugin.info().themes.first().copied().into_iter().collect()
        } else {
            a.themes.clone()
        };
    }
    let mut given: BTreeMap<String, String> = doc.params.clone();
    for (k, v) in a.params {
        given.insert(k, v);
    }
    plugin
        .info()
        .check_applies(doc.kind, &doc.themes)
        .map_err(anyhow::Error::msg)?;
    doc.params = plugin
        .info()
        .apply_params(&given)
        .map_err(anyhow::Error::msg)?;
    match host.run(&plugin, &doc) {
        Ok(out) => {
            let ran = Deferred(|| {
                json!({
                    "plugin": plugin.info().name, "version": plugin.info().version,
                    "sha256": plugin.sha256(), "fuel_used": out.fuel_used,
                    "fuel_budget": host.limits().fuel, "params": doc.params,
                    "report": out.report, "logs": out.logs,
                })
            });
            // Drawn first, as `kp analyze` does.
            let drawn = a
                .svg
                .svg
                .as_ref()
                .map(|file| write_svgs(&out.report, file, ""));
            emit(json_out, &ran, |_| {
                print_report(&out.report);
                for l in &out.logs {
                    eprintln!("[{}] {}", l.level, l.message);
                }
                eprintln!(
                    "\n{} {}: fuel used {} of {}",
                    plugin.info().name,
                    plugin.info().version,
                    out.fuel_used,
                    host.limits().fuel
                );
                Ok(())
            })?;
            drawn.unwrap_or(Ok(()))
        }
        Err(e) => {
            for l in &e.logs {
                eprintln!("[{}] {}", l.level, l.message);
            }
            Err(anyhow::anyhow!("{} (fuel used {})", e.error, e.fuel_used))
        }
    }
}
