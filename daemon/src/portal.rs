//! The public portal (`[portal]` in `kpd.toml`, off by default): the
//! published work of the spaces the node chooses to show, read-only, with no
//! login, no cookie and no script.
//!
//! | route                | what                                               |
//! |----------------------|----------------------------------------------------|
//! | `GET /`              | publications by theme and year; `?q=` searches titles, authors and text |
//! | `GET /p/ID/VERSION`  | a publication's standalone page, at the version its publication froze |
//! | `GET /feed.atom`     | an Atom feed of publications, newest first         |
//!
//! A page's address never changes once published: `published-N` names a text
//! frozen by the review workflow, and a later edit of the draft is never
//! shown. Anything else — a draft not published, a space not named in
//! `[portal] spaces`, a version that is no publication — is 404, alike.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use kp_model::export::escape_html;
use serde::Deserialize;

use crate::service::Service;
use crate::service::workflow::Published;

/// What the portal serves with.
pub(crate) struct Portal {
    pub(crate) service: Arc<Service>,
    /// The spaces shown, by name or id.
    pub(crate) spaces: Vec<String>,
    /// The institution serving it.
    pub(crate) institution: String,
}

/// The portal's router.
pub(crate) fn router(portal: Arc<Portal>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/p/{id}/{version}", get(page))
        .route("/feed.atom", get(feed))
        .fallback(|| async { not_found() })
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
    let mut r = crate::web::standalone(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Not found</title></head>\
         <body><main><h1>Not found</h1><p><a href=\"/\">The publications</a></p></main></body></html>\n"
            .into(),
    );
    *r.status_mut() = StatusCode::NOT_FOUND;
    r
}

/// The publications (of the one draft `only`, if given), read where
/// blocking is allowed.
async fn published(portal: &Arc<Portal>, only: Option<kp_core::ids::DocId>) -> Vec<Published> {
    let p = Arc::clone(portal);
    tokio::task::spawn_blocking(move || p.service.published_in(&p.spaces, only.as_ref()))
        .await
        .unwrap_or_default()
}

#[derive(Deserialize)]
struct Search {
    q: Option<String>,
}

const STYLE: &str = "body{max-width:48rem;margin:2rem auto;padding:0 1rem;font:17px/1.55 Georgia,serif;color:#222}\
h1{font-size:1.8rem}h2{font-size:1.35rem;margin-top:2rem;border-bottom:1px solid #ccc}h3{font-size:1.1rem}\
li{margin:.4rem 0}.meta{color:#555;font-size:.95rem}a{color:#0b5cad}";

async fn index(State(portal): State<Arc<Portal>>, Query(s): Query<Search>) -> Response {
    let q = s.q.unwrap_or_default();
    let needle = q.trim().to_lowercase();
    let items: Vec<Published> = published(&portal, None)
        .await
        .into_iter()
        .filter(|p| {
            needle.is_empty()
                || [&p.title, &p.authors, &p.text]
                    .iter()
                    .any(|t| t.to_lowercase().contains(&needle))
        })
        .collect();
    let name = escape_html(&portal.institution);
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Publications — {name}</title>\n\
         <link rel=\"alternate\" type=\"application/atom+xml\" href=\"/feed.atom\" title=\"New publications\">\n\
         <style>{STYLE}</style>\n</head>\n<body>\n<main>\n<h1>Publications — {name}</h1>\n\
         <form method=\"get\" action=\"/\" role=\"search\"><label for=\"q\">Search titles, authors and text</label> \
         <input id=\"q\" name=\"q\" value=\"{}\"> <button type=\"submit\">Search</button></form>\n\
         <p class=\"meta\"><a href=\"/feed.atom\">Feed of new publications (Atom)</a></p>\n",
        escape_html(&q)
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
        out.push_str(&format!("<section>\n<h2>{}</h2>\n", escape_html(label)));
        let in_theme: Vec<&Published> = items.iter().filter(|p| p.theme == theme).collect();
        let mut years: Vec<String> = in_theme.iter().map(|p| year(p.at)).collect();
        years.dedup();
        for y in years {
            out.push_str(&format!("<h3>{y}</h3>\n<ul>\n"));
            for p in in_theme.iter().filter(|p| year(p.at) == y) {
                out.push_str(&format!(
                    "<li><a href=\"/p/{}/{}\">{}</a><br><span class=\"meta\">{} · {} · {} · {}</span></li>\n",
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
    out.push_str("</main>\n</body>\n</html>\n");
    crate::web::standalone(out)
}

fn year(at: i64) -> String {
    kp_model::date::format_day(at)[..4].to_string()
}

async fn page(
    State(portal): State<Arc<Portal>>,
    Path((id, version)): Path<(String, String)>,
) -> Response {
    let Ok(doc) = id.parse::<kp_core::ids::DocId>() else {
        return not_found();
    };
    let shown = published(&portal, Some(doc))
        .await
        .into_iter()
        .any(|p| p.version == version);
    if !shown {
        return not_found();
    }
    let service = Arc::clone(&portal.service);
    let req = kp_proto::local::ExportDraftRequest {
        id,
        format: "html".into(),
        version,
        with_comments: false,
    };
    match tokio::task::spawn_blocking(move || service.export_draft(req)).await {
        Ok(Ok(r)) => crate::web::standalone(r.content),
        _ => not_found(),
    }
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

async fn feed(State(portal): State<Arc<Portal>>, headers: axum::http::HeaderMap) -> Response {
    let items = published(&portal, None).await;
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let base = format!("http://{host}");
    let updated = items.first().map_or(0, |p| p.at);
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n\
         <title>Publications — {}</title>\n<id>{}/</id>\n<updated>{}</updated>\n\
         <link rel=\"self\" href=\"{}/feed.atom\"/>\n",
        escape_html(&portal.institution),
        escape_html(&base),
        rfc3339(updated),
        escape_html(&base),
    );
    for p in items.iter().take(50) {
        let summary: String = p.text.chars().take(400).collect();
        out.push_str(&format!(
            "<entry>\n<title>{}</title>\n<id>urn:kp:{}:{}</id>\n<updated>{}</updated>\n\
             <link href=\"{}/p/{}/{}\"/>\n<author><name>{}</name></author>\n<summary>{}</summary>\n</entry>\n",
            escape_html(&p.title),
            escape_html(&p.id),
            escape_html(&p.version),
            rfc3339(p.at),
            escape_html(&base),
            escape_html(&p.id),
            escape_html(&p.version),
            escape_html(if p.authors.is_empty() { &p.space } else { &p.authors }),
            escape_html(&summary),
        ));
    }
    out.push_str("</feed>\n");
    (
        [(header::CONTENT_TYPE, "application/atom+xml; charset=utf-8")],
        out,
    )
        .into_response()
}

/// Serves the portal on `listener` until `stop`.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    portal: Arc<Portal>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let app = router(portal);
    let shutdown = async move { crate::web::stopped(&mut stop).await };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::error!("the portal stopped: {e}");
    }
}
