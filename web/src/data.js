// Data and analyses: a dataset as a table, an installed plugin run on it with
// its parameters, its reports with their figures; and the donors' indicators.
import { call } from "./api.js";
import { drawing, fill, h, say, svg, when } from "./dom.js";

const SHOWN_ROWS = 500;

/** A dataset cell (`{value: {integer|number|boolean|text: …}}`; none when empty). */
function cellText(c) {
  const v = c && c.value ? Object.values(c.value)[0] : undefined;
  return v === undefined || v === null ? "" : fmt(v);
}

export async function datasetView(app, ctx, id) {
  const ds = await call("get_dataset", { id, limit: SHOWN_ROWS });
  const s = ds.summary;
  const plugins = (await call("list_plugins")).plugins || [];
  const analyses = h("div", { "data-testid": "analyses" });
  const params = h("textarea", { rows: 3, "aria-label": "Parameters, one NAME=VALUE a line", placeholder: "year=2011" });
  const plugin = h("select", { "aria-label": "Plugin" }, plugins.map((p) => h("option", { value: p.name }, `${p.name} ${p.version}`)));
  const showAnalyses = async () => {
    const list = (await call("list_analyses", { doc_id: id })).analyses || [];
    fill(analyses, list.length ? list.map(analysisCard) : h("p.muted", "No analysis yet."));
  };
  fill(
    app,
    h("h1", s.title),
    h("p.muted", `${s.rows} rows · ${(s.columns || []).length} columns`, ds.source ? ` · source: ${ds.source}` : "", ds.licence ? ` · licence: ${ds.licence}` : "", ds.open ? " · open data (shown on public portals)" : ""),
    h(
      "div.table-wrap",
      { tabindex: 0, role: "region", "aria-label": "The dataset" },
      h(
        "table",
        h("thead", h("tr", (s.columns || []).map((c) => h("th", { scope: "col" }, c.name, h("span.muted", ` ${c.column_type}`))))),
        h("tbody", (ds.rows || []).map((r) => h("tr", (r.cells || []).map((c) => h("td", cellText(c)))))),
      ),
    ),
    s.rows > SHOWN_ROWS ? h("p.muted", `The first ${SHOWN_ROWS} of ${s.rows} rows.`) : null,
    h(
      "section.panel",
      h("h2", "Run an analysis"),
      plugins.length
        ? h(
            "form.stack",
            {
              onsubmit: async (e) => {
                e.preventDefault();
                const list = params.value
                  .split("\n")
                  .map((l) => l.trim())
                  .filter(Boolean)
                  .map((l) => {
                    const i = l.indexOf("=");
                    return i < 0 ? { name: l, value: "" } : { name: l.slice(0, i).trim(), value: l.slice(i + 1).trim() };
                  });
                say("Running…");
                try {
                  await call("analyze", { doc_id: id, plugin: plugin.value, params: list });
                  say("The analysis is stored with the dataset");
                  await showAnalyses();
                } catch (err) {
                  say(err.message, "error");
                }
              },
            },
            plugin,
            params,
            h("button", { type: "submit" }, "Run"),
          )
        : h("p.muted", "No plugin is installed on this node (kp plugin install)."),
    ),
    h("section.panel", h("h2", "Analyses"), analyses),
  );
  await showAnalyses();
}

function analysisCard(a) {
  let report = {};
  try {
    report = JSON.parse(a.report_json);
  } catch {
    // shown as it is below
  }
  return h(
    "article.analysis",
    { "data-testid": "analysis" },
    h("h3", `${a.plugin} ${a.plugin_version}`),
    h("p.muted", `${a.author} · ${when(a.created_at)} · plugin ${a.plugin_sha256.slice(0, 12)} · on heads ${(a.doc_heads || []).map((x) => x.slice(0, 8)).join(", ")}`),
    report.summary ? h("p", report.summary) : null,
    (report.metrics || []).length
      ? h("table", h("tbody", report.metrics.map((m) => h("tr", h("th", { scope: "row" }, m.name), h("td", `${fmt(m.value)} ${m.unit || ""}`)))))
      : null,
    (report.findings || []).length ? h("ul", report.findings.map((f) => h("li", { class: f.severity }, f.message))) : null,
    // The report's own figures, as the node draws them.
    // (their titles are drawn in them).
    (a.figures_svg || []).map((s) => h("figure.report-figure", { "data-testid": "figure" }, drawing(s))),
    // A report that draws its own figures gets no guessed chart beside them.
    (report.tables || []).map((t) => tableOf(t, !(report.figures || []).length)),
  );
}

/** A number as people read it, by the node's rule (kp_plugin_types::readable):
 * six significant digits at most after the point, the whole part never
 * rounded, no trailing zeros, thousands grouped from five digits on. */
function fmt(v) {
  if (typeof v !== "number" || !Number.isFinite(v)) return String(v);
  const magnitude = v === 0 ? 0 : Math.floor(Math.log10(Math.abs(v)));
  let s = v.toFixed(Math.min(12, Math.max(0, 5 - magnitude)));
  if (s.includes(".")) s = s.replace(/0+$/, "").replace(/\.$/, "");
  const negative = s.startsWith("-");
  let [int, frac] = (negative ? s.slice(1) : s).split(".");
  if (int.length > 4) int = int.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const sign = negative && !(int === "0" && !frac) ? "-" : "";
  return sign + int + (frac ? `.${frac}` : "");
}

function columnValues(col) {
  return Array.isArray(col.values) ? col.values : [];
}

const isNumeric = (c) => c.type === "number" || c.type === "integer";

function tableOf(t, chart = true) {
  const cols = t.columns || [];
  const n = Math.max(0, ...cols.map((c) => columnValues(c).length));
  const rows = [];
  for (let i = 0; i < Math.min(n, SHOWN_ROWS); i++) rows.push(cols.map((c) => columnValues(c)[i]));
  // A series over years where there is one, else a ranking by the first
  // text column.
  const year = cols.findIndex((c) => c.name === "year");
  const text = cols.findIndex((c) => c.type === "text" && new Set(columnValues(c)).size > 1);
  const label = text >= 0 ? text : year;
  const numeric = cols.findIndex((c, i) => isNumeric(c) && c.name !== "rank" && i !== year && i !== label && columnValues(c).some((v) => v !== null));
  return h(
    "div.report-table",
    h("h4", t.name),
    chart && numeric >= 0 && label >= 0 && n > 1 && n <= 60 ? barChart(t.name, rows.map((r) => [String(r[label] ?? ""), Number(r[numeric])]), cols[numeric].name) : null,
    h(
      "div.table-wrap",
      { tabindex: 0, role: "region", "aria-label": t.name },
      h("table", h("thead", h("tr", cols.map((c) => h("th", { scope: "col" }, c.name)))), h("tbody", rows.map((r) => h("tr", r.map((v) => h("td", v === null || v === undefined ? "" : fmt(v))))))),
    ),
  );
}

/** A horizontal bar chart, drawn as SVG (labels are text nodes). */
export function barChart(title, pairs, unit) {
  const data = pairs.filter(([, v]) => Number.isFinite(v));
  const max = Math.max(...data.map(([, v]) => Math.abs(v)), 1e-9);
  const row = 22;
  const width = 640;
  const left = 180;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${data.length * row + 10}`, role: "img", "aria-label": `${title}: ${unit}`, class: "chart" });
  data.forEach(([label, v], i) => {
    const w = (Math.abs(v) / max) * (width - left - 90);
    chart.append(
      svg("text", { x: left - 6, y: i * row + 16, "text-anchor": "end", class: "label" }, label.slice(0, 28)),
      svg("rect", { x: left, y: i * row + 4, width: Math.max(w, 1), height: row - 8, class: v < 0 ? "bar neg" : "bar" }),
      svg("text", { x: left + w + 6, y: i * row + 16, class: "value" }, fmt(v)),
    );
  });
  return chart;
}

export async function indicatorsView(app) {
  const year = new Date().getFullYear();
  const from = h("input", { type: "date", value: `${year}-01-01`, "aria-label": "From" });
  const to = h("input", { type: "date", value: `${year}-12-31`, "aria-label": "To" });
  const out = h("div", { "data-testid": "indicators" });
  const show = async () => {
    const r = await call("indicators", { from: from.value, to: to.value });
    const list = r.indicators || [];
    const cell = (v) => `"${String(v).replace(/"/g, '""')}"`;
    const csv =
      ["id,indicator,space,status,value,unit,how",
        ...list.map((i) => [i.id, cell(i.name), "", "", i.value, cell(i.unit), cell(i.how)].join(",")),
        ...(r.drafts_by_status || []).map((s) => ["", "drafts by status", cell(s.space_name), s.status, s.drafts, "drafts", "drafts of the space as they stand now"].join(",")),
      ].join("\n") + "\n";
    const link = h("a.button", { href: URL.createObjectURL(new Blob([csv], { type: "text/csv" })), download: `kp-indicators-${r.from}-${r.to}.csv` }, "Download CSV");
    fill(
      out,
      h("h2", `${r.from} to ${r.to}`),
      h(
        "table",
        h("thead", h("tr", ["", "Indicator", "Value", "Unit", "How it is measured"].map((c) => h("th", { scope: "col" }, c)))),
        h(
          "tbody",
          list.map((i) =>
            h("tr", h("td", i.id), h("th", { scope: "row" }, i.name), h("td.n", i.value < 0 ? "–" : fmt(i.value)), h("td", i.unit), h("td.muted", i.how)),
          ),
        ),
      ),
      (r.drafts_by_status || []).length ? barChart("Drafts by status", r.drafts_by_status.map((s) => [`${s.space_name}: ${s.status}`, Number(s.drafts)]), "drafts") : null,
      h("p", link),
    );
  };
  fill(
    app,
    h("h1", "The partnership's indicators"),
    h("p.muted", "What the donors' results framework counts, for a period, from the documents this node holds."),
    h("form.inline", { onsubmit: (e) => (e.preventDefault(), show().catch((err) => say(err.message, "error"))) }, from, to, h("button", { type: "submit" }, "Show")),
    out,
  );
  await show();
}
