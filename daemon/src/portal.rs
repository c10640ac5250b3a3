//! The public portal (`[portal]` in `kpd.toml`, off by default): the
//! published work and the open data of the spaces the node chooses to show,
//! read-only, with no login, no cookie and no script.
//!
//! | path                       | what                                         |
//! |----------------------------|----------------------------------------------|
//! | `/`                        | publications by theme and year, open data; `?q=` searches titles, authors and text |
//! | `/p/ID/VERSION/`           | a publication's standalone page, at the version its publication froze |
//! | `/p/ID/VERSION/brief.pdf`  | the same as a PDF                            |
//! | `/d/ID/`                   | an open dataset: source, licence, columns, rows, and its analyses with their figures |
//! | `/d/ID/data.csv`           | the dataset as CSV                           |
//! | `/d/ID/datapackage.json`   | its Frictionless Data package: title, source, licence, schema |
//! | `/feed.atom`               | an Atom feed of publications, newest first   |
//!
//! A page's address never changes once published: `published-N` names a text
//! frozen by the review workflow, and a later edit of the draft is never
//! shown. Anything else — a draft not published, a dataset not open, a space
//! not named in `[portal] spaces`, a version that is no publication — is 404,
//! alike. Every link is relative, so the same pages work written out as files
//! (`kp portal build DIR`) under any address of an institution's web server;
//! [`Site`] makes both, so what is served and what is written agree.
//!
//! Views of publications and datasets and downloads of datasets are counted
//! per day and item (see `service::audience`): nothing about the visitor.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use kp_core::ids::DocId;
use kp_model::export::{FIGURE_STYLE, bar_chart_svg, escape_html, figure_html, number};
use kp_proto::local as pb;
use serde::Deserialize;

use crate::service::Service;
use crate::service::audience::Tally;
use crate::service::workflow::{OpenDataset, Published};

/// Rows of a dataset shown on its page (the CSV holds all).
const PAGE_ROWS: usize = 200;
/// Rows of an analysis's table shown.
const ANALYSIS_ROWS: usize = 50;

/// A page: its media type and bytes, and what a view of it counts toward.
#[derive(Debug)]
pub(crate) struct Page {
    pub(crate) content_type: &'static str,
    pub(crate) body: Vec<u8>,
    /// `p/ID` or `d/ID`, and whether this is a download.
    pub(crate) counts: Option<(String, bool)>,
}

impl Page {
    fn html(body: String, counts: Option<(String, bool)>) -> Self {
        Self {
            content_type: "text/html; charset=utf-8",
            body: body.into_bytes(),
            counts,
        }
    }
}

/// The portal's pages, from the node's documents.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Site<'a> {
    service: &'a Service,
    /// True when served (a search form); false when written out as files.
    live: bool,
}

impl<'a> Site<'a> {
    pub(crate) fn new(service: &'a Service, live: bool) -> Self {
        Self { service, live }
    }

    fn spaces(&self) -> &'a [String] {
        &self.service.portal_config().spaces
    }

    fn institution(&self) -> &'a str {
        self.service.node_name()
    }

    /// Every page's path (`/`-rooted; a page with its own links ends in `/`).
    pub(crate) fn paths(&self) -> Vec<String> {
        let mut out = vec!["/".to_owned(), "/feed.atom".to_owned()];
        for p in self.service.published_in(self.spaces(), None) {
            out.push(format!("/p/{}/{}/", p.id, p.version));
            out.push(format!("/p/{}/{}/brief.pdf", p.id, p.version));
        }
        for d in self.service.open_datasets_in(self.spaces(), None, Some(0)) {
            for file in ["", "data.csv", "datapackage.json"] {
                out.push(format!("/d/{}/{file}", d.id));
            }
        }
        out
    }

    /// The page at `path` (searching for `q` on the index), or `None`.
    pub(crate) fn page(&self, path: &str, q: &str) -> Option<Page> {
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match parts.as_slice() {
            [""] => Some(Page::html(self.index(q), None)),
            ["feed.atom"] => Some(Page {
                content_type: "application/atom+xml; charset=utf-8",
                body: self.feed().into_bytes(),
                counts: None,
            }),
            ["p", id, version, ""] => self.publication(id, version, false),
            ["p", id, version, "brief.pdf"] => self.publication(id, version, true),
            ["d", id, ""] => self.dataset_page(id),
            ["d", id, "data.csv"] => {
                let d = self.dataset(id, None)?;
                Some(Page {
                    content_type: "text/csv; charset=utf-8",
                    body: kp_model::dataset::to_csv(&d.data.table),
                    counts: Some((format!("d/{id}"), true)),
                })
            }
            ["d", id, "datapackage.json"] => {
                let d = self.dataset(id, Some(0))?;
                Some(Page {
                    content_type: "application/json",
                    body: datapackage(&d).into_bytes(),
                    counts: Some((format!("d/{id}"), true)),
                })
            }
            _ => None,
        }
    }

    fn dataset(&self, id: &str, rows: Option<usize>) -> Option<OpenDataset> {
        let doc: DocId = id.parse().ok()?;
        self.service
            .open_datasets_in(self.spaces(), Some(&doc), rows)
            .into_iter()
            .next()
    }

    /// A publication's page, or its PDF (`pdf`).
    fn publication(&self, id: &str, version: &str, pdf: bool) -> Option<Page> {
        let doc: DocId = id.parse().ok()?;
        let shown = self
            .service
            .published_in(self.spaces(), Some(&doc))
            .into_iter()
            .any(|p| p.version == version);
        if !shown {
            return None;
        }
        let r = self
            .service
            .export_draft(pb::ExportDraftRequest {
                id: id.to_owned(),
                format: if pdf { "pdf" } else { "html" }.into(),
                version: version.to_owned(),
                with_comments: false,
                pdf_link: true,
            })
            .ok()?;
        if pdf {
            return Some(Page {
                content_type: "application/pdf",
                body: r.data,
                counts: Some((format!("p/{id}"), true)),
            });
        }
        Some(Page::html(r.content, Some((format!("p/{id}"), false))))
    }

    fn index(&self, q: &str) -> String {
        let needle = q.trim().to_lowercase();
        let matches = |texts: &[&str]| {
            needle.is_empty() || texts.iter().any(|t| t.to_lowercase().contains(&needle))
        };
        let items: Vec<Published> = self
            .service
            .published_in(self.spaces(), None)
            .into_iter()
            .filter(|p| matches(&[&p.title, &p.authors, &p.text]))
            .collect();
        let data: Vec<OpenDataset> = self
            .service
            .open_datasets_in(self.spaces(), None, Some(0))
            .into_iter()
            .filter(|d| matches(&[&d.data.title, &d.data.source]))
            .collect();
        let name = escape_html(self.institution());
        let mut out = String::new();
        if self.live {
            out.push_str(&format!(
                "<form method=\"get\" action=\"./\" role=\"search\"><label for=\"q\">Search titles, \
                 authors and text</label> <input id=\"q\" name=\"q\" value=\"{}\"> \
                 <button type=\"submit\">Search</button></form>\n",
                escape_html(q)
            ));
        }
        out.push_str(
            "<p class=\"meta\"><a href=\"feed.atom\">Feed of new publications (Atom)</a> · \
             <a href=\"#data\">Open data</a></p>\n<h2 id=\"publications\">Publications</h2>\n",
        );
        if items.is_empty() {
            out.push_str(if needle.is_empty() {
                "<p>Nothing is published here yet.</p>\n"
            } else {
                "<p>No publication matches.</p>\n"
            });
        }
        // By theme, then by year, newest first within each.
        let mut themes: Vec<&str> = items.iter().map(|p| p.theme.as_str()).collect();
        themes.sort_unstable();
        themes.dedup();
        for theme in themes {
            let label = if theme.is_empty() { "Other" } else { theme };
            out.push_str(&format!("<section>\n<h3>{}</h3>\n", escape_html(label)));
            let in_theme: Vec<&Published> = items.iter().filter(|p| p.theme == theme).collect();
            let mut years: Vec<String> = in_theme.iter().map(|p| year(p.at)).collect();
            years.dedup();
            for y in years {
                out.push_str(&format!("<h4>{y}</h4>\n<ul>\n"));
                for p in in_theme.iter().filter(|p| year(p.at) == y) {
                    out.push_str(&format!(
                        "<li><a href=\"p/{}/{}/\">{}</a><br><span class=\"meta\">{} · {} · {} · {}</span></li>\n",
                        escape_html(&p.id),
                        escape_html(&p.version),
                        escape_html(&p.title),
                        escape_html(&p.authors),
                        escape_html(&p.draft_type.replace('-', " ")),
                        escape_html(&p.space),
                        kp_model::date::format_day(p.at),
                    ));
                }
                out.push_str("</ul>\n");
            }
            out.push_str("</section>\n");
        }
        out.push_str("<h2 id=\"data\">Open data</h2>\n");
        if data.is_empty() {
            out.push_str(if needle.is_empty() {
                "<p>No dataset is open here yet.</p>\n"
            } else {
                "<p>No dataset matches.</p>\n"
            });
        } else {
            out.push_str("<ul>\n");
            for d in &data {
                out.push_str(&format!(
                    "<li><a href=\"d/{}/\">{}</a><br><span class=\"meta\">{} rows · {} · {} · \
                     licence: {}</span></li>\n",
                    d.id,
                    escape_html(&d.data.title),
                    d.data.total_rows,
                    escape_html(&d.data.source),
                    escape_html(&d.space),
                    escape_html(&d.data.licence),
                ));
            }
            out.push_str("</ul>\n");
        }
        page(&format!("Publications and data — {name}"), &out, "")
    }

    fn dataset_page(&self, id: &str) -> Option<Page> {
        let d = self.dataset(id, Some(PAGE_ROWS))?;
        let t = &d.data;
        let mut out = format!(
            "<dl class=\"meta\"><dt>Source</dt><dd>{}</dd><dt>Licence</dt><dd>{}</dd>\
             <dt>Working group</dt><dd>{}</dd><dt>Theme</dt><dd>{}</dd><dt>Imported</dt><dd>{}</dd><dt>Rows</dt><dd>{}</dd></dl>\n\
             <p><a href=\"data.csv\" download>Download the data (CSV)</a> · \
             <a href=\"datapackage.json\">Data package (source, licence, schema)</a></p>\n",
            escape_html(&t.source),
            escape_html(&t.licence),
            escape_html(&d.space),
            escape_html(&d.theme),
            kp_model::date::format_day(t.created_at),
            t.total_rows,
        );
        let analyses = self
            .service
            .list_analyses(pb::ListAnalysesRequest {
                doc_id: id.to_owned(),
            })
            .map(|l| l.analyses)
            .unwrap_or_default();
        if !analyses.is_empty() {
            out.push_str("<h2>Analyses</h2>\n");
            for a in &analyses {
                out.push_str(&analysis_html(a));
            }
        }
        out.push_str("<h2>The data</h2>\n<div class=\"scroll\"><table>\n<thead><tr>");
        for c in &t.table.columns {
            out.push_str(&format!("<th scope=\"col\">{}</th>", escape_html(&c.name)));
        }
        out.push_str("</tr></thead>\n<tbody>\n");
        for row in &t.table.rows {
            out.push_str("<tr>");
            for c in row {
                let (text, num) = match c {
                    kp_model::dataset::Cell::Empty => (String::new(), false),
                    kp_model::dataset::Cell::Integer(n) => (n.to_string(), true),
                    kp_model::dataset::Cell::Number(x) => (x.to_string(), true),
                    kp_model::dataset::Cell::Boolean(b) => (b.to_string(), false),
                    kp_model::dataset::Cell::Text(s) => (s.clone(), false),
                };
                let class = if num { " class=\"n\"" } else { "" };
                out.push_str(&format!("<td{class}>{}</td>", escape_html(&text)));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody>\n</table></div>\n");
        if t.total_rows > t.table.rows.len() {
            out.push_str(&format!(
                "<p class=\"meta\">The first {} of {} rows; the CSV holds all.</p>\n",
                t.table.rows.len(),
                t.total_rows
            ));
        }
        Some(Page::html(
            page(&escape_html(&t.title), &out, "../../"),
            Some((format!("d/{id}"), false)),
        ))
    }

    fn feed(&self) -> String {
        let items = self.service.published_in(self.spaces(), None);
        let updated = items.first().map_or(0, |p| p.at);
        // Links are relative to the feed's own address, so the feed is the
        // same served and written out.
        let mut out = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n\
             <title>Publications — {}</title>\n<id>urn:kp:portal:{}</id>\n<updated>{}</updated>\n\
             <link rel=\"self\" href=\"feed.atom\"/>\n<link href=\"./\"/>\n",
            escape_html(self.institution()),
            self.service.node_id(),
            rfc3339(updated),
        );
        for p in items.iter().take(50) {
            let summary: String = p.text.chars().take(400).collect();
            out.push_str(&format!(
                "<entry>\n<title>{}</title>\n<id>urn:kp:{}:{}</id>\n<updated>{}</updated>\n\
                 <link href=\"p/{}/{}/\"/>\n<author><name>{}</name></author>\n<summary>{}</summary>\n</entry>\n",
                escape_html(&p.title),
                escape_html(&p.id),
                escape_html(&p.version),
                rfc3339(p.at),
                escape_html(&p.id),
                escape_html(&p.version),
                escape_html(if p.authors.is_empty() { &p.space } else { &p.authors }),
                escape_html(&summary),
            ));
        }
        out.push_str("</feed>\n");
        out
    }
}

const STYLE: &str = "body{max-width:52rem;margin:2rem auto;padding:0 1rem;font:17px/1.55 Georgia,serif;color:#222}\
h1{font-size:1.8rem}h2{font-size:1.35rem;margin-top:2rem;border-bottom:1px solid #ccc}h3{font-size:1.15rem}\
h4{font-size:1rem;margin-bottom:.2rem}li{margin:.4rem 0}.meta{color:#555;font-size:.95rem}a{color:#0b5cad}\
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}dd{margin:0}\
table{border-collapse:collapse;font:14px/1.4 sans-serif}th,td{border:1px solid #ccc;padding:.2rem .5rem;text-align:left}\
td.n{text-align:right;font-variant-numeric:tabular-nums}.scroll{overflow-x:auto}\
.analysis{border-left:3px solid #ccc;padding-left:1rem;margin:1.5rem 0}";

/// A portal page around `body`; `root` is the relative way back to `/`.
fn page(title: &str, body: &str, root: &str) -> String {
    let home = if root.is_empty() { "./" } else { root };
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n\
         <link rel=\"alternate\" type=\"application/atom+xml\" href=\"{root}feed.atom\" title=\"New publications\">\n\
         <style>{STYLE}{FIGURE_STYLE}</style>\n</head>\n<body>\n<header><nav aria-label=\"Portal\"><a href=\"{home}\">Publications and data</a></nav></header>\n\
         <main>\n<h1>{title}</h1>\n{body}</main>\n</body>\n</html>\n"
    )
}

/// A stored analysis: its plugin, summary, metrics, findings, its figures
/// (or, for a report without any, a figure for each table with labels and
/// numbers) and tables.
fn analysis_html(a: &pb::Analysis) -> String {
    let mut out = format!(
        "<section class=\"analysis\">\n<h3>{} {}</h3>\n<p class=\"meta\">Run on {} · plugin SHA-256 {}</p>\n",
        escape_html(&a.plugin),
        escape_html(&a.plugin_version),
        kp_model::date::format_day(a.created_at),
        escape_html(a.plugin_sha256.get(..12).unwrap_or(&a.plugin_sha256)),
    );
    let Ok(report) = serde_json::from_str::<kp_plugin_host::Report>(&a.report_json) else {
        out.push_str("<p>This report cannot be read by this node.</p>\n</section>\n");
        return out;
    };
    out.push_str(&format!("<p>{}</p>\n", escape_html(&report.summary)));
    if !report.metrics.is_empty() {
        out.push_str("<ul>\n");
        for m in &report.metrics {
            let value = format!("{} {}", number(m.value), m.unit);
            out.push_str(&format!(
                "<li>{}: {}</li>\n",
                escape_html(&m.name),
                escape_html(value.trim())
            ));
        }
        out.push_str("</ul>\n");
    }
    if !report.findings.is_empty() {
        out.push_str("<ul>\n");
        for f in &report.findings {
            out.push_str(&format!("<li>{}</li>\n", escape_html(&f.message)));
        }
        out.push_str("</ul>\n");
    }
    // The report's own figures; a report without any gets a figure guessed
    // from each table with labels and numbers.
    for f in &report.figures {
        // Its title is drawn in it.
        out.push_str(&format!(
            "<div class=\"figure\">{}</div>\n",
            kp_model::figure::svg(f)
        ));
    }
    for t in &report.tables {
        let rows = t.row_count();
        if report.figures.is_empty()
            && let Some(bars) = crate::figures::bars_of(t)
        {
            out.push_str(&figure_html(&bar_chart_svg(&t.name, &bars, ""), &t.name));
        }
        out.push_str(&format!(
            "<div class=\"scroll\"><table>\n<caption>{}</caption>\n<thead><tr>",
            escape_html(&t.name)
        ));
        for c in &t.columns {
            out.push_str(&format!("<th scope=\"col\">{}</th>", escape_html(&c.name)));
        }
        out.push_str("</tr></thead>\n<tbody>\n");
        for i in 0..rows.min(ANALYSIS_ROWS) {
            out.push_str("<tr>");
            for c in &t.columns {
                let (text, num) = crate::figures::cell(&c.data, i);
                let class = if num { " class=\"n\"" } else { "" };
                out.push_str(&format!("<td{class}>{}</td>", escape_html(&text)));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody>\n</table></div>\n");
        if rows > ANALYSIS_ROWS {
            out.push_str(&format!(
                "<p class=\"meta\">The first {ANALYSIS_ROWS} of {rows} rows.</p>\n"
            ));
        }
    }
    out.push_str("</section>\n");
    out
}

/// The dataset's Frictionless Data package (datapackage.json).
fn datapackage(d: &OpenDataset) -> String {
    let fields: Vec<serde_json::Value> = d
        .data
        .table
        .columns
        .iter()
        .map(|c| {
            let ty = match c.column_type {
                kp_model::dataset::ColumnType::Integer => "integer",
                kp_model::dataset::ColumnType::Number => "number",
                kp_model::dataset::ColumnType::Boolean => "boolean",
                kp_model::dataset::ColumnType::Text => "string",
            };
            serde_json::json!({ "name": c.name, "type": ty })
        })
        .collect();
    let name = format!("kp-{}", d.id.to_string().to_lowercase());
    let package = serde_json::json!({
        "name": name,
        "id": format!("urn:kp:{}", d.id),
        "title": d.data.title,
        "created": rfc3339(d.data.created_at),
        "licenses": [{ "name": d.data.licence }],
        "sources": [{ "title": d.data.source }],
        "resources": [{
            "name": "data",
            "path": "data.csv",
            "format": "csv",
            "mediatype": "text/csv",
            "encoding": "utf-8",
            "schema": { "fields": fields },
        }],
    });
    serde_json::to_string_pretty(&package).unwrap_or_default() + "\n"
}

fn year(at: i64) -> String {
    kp_model::date::format_day(at)[..4].to_string()
}

/// RFC 3339 in UTC.
fn rfc3339(at: i64) -> String {
    let s = at.rem_euclid(86_400);
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        kp_model::date::format_day(at),
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// The file a path is written to under `kp portal build DIR`: a path that
/// ends in `/` is a directory's `index.html`, which web servers serve for it.
pub(crate) fn file_of(path: &str) -> String {
    let p = path.trim_start_matches('/');
    if p.is_empty() || p.ends_with('/') {
        format!("{p}index.html")
    } else {
        p.to_owned()
    }
}

/// `kp portal build`: every path.
pub(crate) fn paths(s: &Service) -> crate::service::Result<pb::PortalPaths> {
    if s.portal_config().spaces.is_empty() {
        return Err(crate::service::invalid(
            "the portal shows no space: name the spaces to publish in [portal] spaces in \
             kpd.toml, then restart kpd",
        ));
    }
    let site = Site::new(s, false);
    Ok(pb::PortalPaths {
        files: site
            .paths()
            .into_iter()
            .map(|path| pb::PortalFileRef {
                file: file_of(&path),
                path,
            })
            .collect(),
    })
}

/// `kp portal build`: one page, as a file.
pub(crate) fn file(
    s: &Service,
    req: pb::PortalFileRequest,
) -> crate::service::Result<pb::PortalFile> {
    let page = Site::new(s, false)
        .page(&req.path, "")
        .ok_or_else(|| crate::service::not_found(format!("the portal has no page {}", req.path)))?;
    Ok(pb::PortalFile {
        content_type: page.content_type.into(),
        content: page.body,
    })
}

/// What the portal serves with.
pub(crate) struct Portal {
    pub(crate) service: Arc<Service>,
    /// Views and downloads not yet stored, by day and item.
    pub(crate) counts: Mutex<BTreeMap<String, BTreeMap<String, Tally>>>,
}

impl Portal {
    pub(crate) fn new(service: Arc<Service>) -> Self {
        Self {
            service,
            counts: Mutex::new(BTreeMap::new()),
        }
    }

    fn count(&self, item: String, download: bool) {
        let day = kp_model::date::format_day(kp_repo::now_secs());
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let t = counts.entry(day).or_default().entry(item).or_default();
        if download {
            t.downloads += 1;
        } else {
            t.hits += 1;
        }
    }

    /// Stores the counts taken since the last flush (blocking).
    fn flush(&self) {
        let taken = std::mem::take(&mut *self.counts.lock().unwrap_or_else(|e| e.into_inner()));
        for (day, counts) in taken {
            if let Err(e) = self.service.record_visits(&day, &counts) {
                tracing::warn!("the portal's counts of {day} were not stored: {e}");
            }
        }
    }
}

impl std::fmt::Debug for Portal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Portal").finish_non_exhaustive()
    }
}

/// The portal's router.
pub(crate) fn router(portal: Arc<Portal>) -> Router {
    Router::new()
        .fallback(serve_page)
        .layer(middleware::from_fn(headers))
        .layer(middleware::from_fn(crate::web::secure_headers))
        .with_state(portal)
}

/// Public pages may be kept for a few minutes.
async fn headers(request: Request, next: Next) -> Response {
    let mut r = next.run(request).await;
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    r
}

fn not_found() -> Response {
    let mut r = crate::web::standalone(page(
        "Not found",
        "<p><a href=\"/\">The publications and data</a></p>\n",
        "/",
    ));
    *r.status_mut() = StatusCode::NOT_FOUND;
    r
}

#[derive(Deserialize)]
struct Search {
    q: Option<String>,
}

async fn serve_page(
    State(portal): State<Arc<Portal>>,
    method: Method,
    Query(s): Query<Search>,
    uri: axum::http::Uri,
) -> Response {
    if method != Method::GET && method != Method::HEAD {
        let mut r = (StatusCode::METHOD_NOT_ALLOWED, "the portal is read-only\n").into_response();
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let path = uri.path().to_owned();
    // A dataset's or a publication's page without its final slash (its
    // relative links need it) leads to the page, if there is one.
    let page_without_slash = (path.starts_with("/d/") && path.matches('/').count() == 2)
        || (path.starts_with("/p/") && path.matches('/').count() == 3);
    if page_without_slash && !path.ends_with('/') {
        let p = Arc::clone(&portal);
        let slashed = format!("{path}/");
        let exists = tokio::task::spawn_blocking(move || {
            Site::new(&p.service, true).page(&slashed, "").is_some()
        })
        .await
        .unwrap_or(false);
        if !exists {
            return not_found();
        }
        let mut r = StatusCode::MOVED_PERMANENTLY.into_response();
        // Relative, so it holds behind a proxy that serves the portal under
        // a path of its own.
        let last = path.rsplit('/').next().unwrap_or_default();
        if let Ok(to) = HeaderValue::from_str(&format!("{last}/")) {
            r.headers_mut().insert(header::LOCATION, to);
        }
        return r;
    }
    let p = Arc::clone(&portal);
    let q = s.q.unwrap_or_default();
    let found =
        tokio::task::spawn_blocking(move || Site::new(&p.service, true).page(&path, &q)).await;
    let Ok(Some(page)) = found else {
        return not_found();
    };
    if let (Some((item, download)), true) = (page.counts, method == Method::GET) {
        portal.count(item, download);
    }
    let mut r = if page.content_type.starts_with("text/html") {
        crate::web::standalone(String::from_utf8(page.body).unwrap_or_default())
    } else {
        ([(header::CONTENT_TYPE, page.content_type)], page.body).into_response()
    };
    if uri.path().ends_with(".csv") {
        r.headers_mut().insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_static("attachment; filename=\"data.csv\""),
        );
    }
    if uri.path().ends_with(".pdf") {
        r.headers_mut().insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_static("inline; filename=\"brief.pdf\""),
        );
    }
    r
}

/// Serves the portal on `listener` until `stop`; the counts are stored every
/// few seconds and when it stops.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    portal: Arc<Portal>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let app = router(Arc::clone(&portal));
    let mut flush_stop = stop.clone();
    let flusher = Arc::clone(&portal);
    let flushing = tokio::spawn(async move {
        loop {
            let stopping = tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(5)) => false,
                () = crate::web::stopped(&mut flush_stop) => true,
            };
            let p = Arc::clone(&flusher);
            let _ = tokio::task::spawn_blocking(move || p.flush()).await;
            if stopping {
                break;
            }
        }
    });
    let shutdown = async move { crate::web::stopped(&mut stop).await };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::error!("the portal stopped: {e}");
    }
    let _ = flushing.await;
    let _ = tokio::task::spawn_blocking(move || portal.flush()).await;
}
