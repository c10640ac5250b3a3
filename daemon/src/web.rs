//! The web listener (`[web]` in `kpd.toml`): researchers' logins and
//! automerge-repo's WebSocket endpoint on the node's own repository.
//!
//! | route              | what                                                  |
//! |--------------------|-------------------------------------------------------|
//! | `GET /login?token` | redeems a login link; sets the session cookie         |
//! | `POST /api/login`  | the same for programs: `{"token"}` → `{"name","session"}` |
//! | `POST /api/logout` | ends the session                                      |
//! | `GET /api/me`      | who is logged in                                      |
//! | `GET /api/home`    | the person, the node's spaces and drafts, their review inbox |
//! | `POST /api/call/M` | the workspace's calls ([`crate::workspace`])          |
//! | `GET /sync`        | the WebSocket (automerge-repo protocol "1")           |
//! | `GET /`, `/assets/F` | the workspace's page, built into kpd                |
//!
//! Every request must name this node in `Host` (one of the loopback names of
//! the listener's port, or a name in `[web] hosts`): a page of another site
//! that resolves its own name to this address (DNS rebinding) is refused. A
//! request that carries `Origin` (every browser's WebSocket and POST does) must
//! come from this node's own origin, so another site cannot use a logged-in
//! browser's cookie (cross-site WebSocket hijacking). The WebSocket takes the
//! session from the `kp_session_<node>` cookie (HttpOnly, SameSite=Strict), an
//! `Authorization: Bearer` header, or a `session` query parameter (for clients
//! that can set neither, such as automerge-repo's WebSocket adapter); without
//! a valid session the upgrade is refused with 401.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::{broadcast, watch};

use crate::accounts::{AccountError, Accounts};
use kp_core::authorship::Attestation;
use kp_repo::Repo;
use kp_sync::Budget;
use kp_sync::client::{ClientError, ClientSession, Signer};
use kp_sync::repo_wire::{self, Ephemeral};

/// A logged-in person, for whom the node vouches.
struct Person {
    key: kp_core::identity::NodeKey,
    name: String,
}

impl Signer for Person {
    fn person(&self) -> &str {
        &self.name
    }

    fn vouch(&self, actor: &automerge::ActorId, hash: automerge::ChangeHash) -> Attestation {
        Attestation::vouched(&self.key, actor, hash, &self.name)
    }
}

/// What the web listener serves with.
#[derive(Debug)]
pub(crate) struct Web {
    pub(crate) repo: Repo,
    pub(crate) accounts: Arc<Accounts>,
    /// The node's operations, as the local API has them.
    pub(crate) service: Arc<crate::service::Service>,
    /// The peer id this node gives itself in automerge-repo's protocol.
    pub(crate) peer_id: String,
    /// The session cookie's name: `kp_session_` and the node's short id, as
    /// browsers keep one cookie jar per host name whatever the port (two
    /// nodes on one machine must not take each other's).
    pub(crate) cookie: String,
    /// `Host` values this listener answers to.
    pub(crate) hosts: Vec<String>,
    /// Served over TLS (cookies are then `Secure`).
    pub(crate) tls: bool,
    /// Largest WebSocket message taken, bytes.
    pub(crate) max_message: usize,
    /// Messages a client may send per second on average.
    pub(crate) max_per_sec: u32,
    /// A client silent this long is disconnected.
    pub(crate) idle: std::time::Duration,
    /// Connections open at once; more are refused until one closes.
    pub(crate) slots: Arc<tokio::sync::Semaphore>,
    /// The node's key, which vouches for its people's changes.
    pub(crate) key: kp_core::identity::NodeKey,
    /// `ephemeral` messages between the clients.
    pub(crate) presence: Arc<Presence>,
    /// Turns true when the node stops.
    pub(crate) stop: watch::Receiver<bool>,
}

/// `ephemeral` messages (presence) between the node's clients, and to and
/// from its partners (see `driver`).
#[derive(Debug)]
pub(crate) struct Presence {
    /// Every message to relay, from a client or a partner.
    pub(crate) tx: broadcast::Sender<Arc<Ephemeral>>,
    /// The messages relayed lately.
    pub(crate) relayed: Relayed,
}

impl Default for Presence {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(1024).0,
            relayed: Relayed::default(),
        }
    }
}

impl Presence {
    /// Relays `e` unless it was relayed already.
    pub(crate) fn relay(&self, e: Ephemeral) {
        if self.relayed.first_time(&e) {
            let _ = self.tx.send(Arc::new(e));
        }
    }
}

/// The `ephemeral` messages relayed lately, by session and number. A client
/// passes on what it receives to its other peers (automerge-repo's gossip),
/// and the node is its only peer: a message coming back is not relayed
/// again, so nobody receives their own presence, or someone else's as if it
/// were a third person's.
#[derive(Debug, Default)]
pub(crate) struct Relayed(Mutex<RelayedKeys>);

/// Messages by (session, number): a set, and the order they came in.
type RelayedKeys = (
    std::collections::HashSet<(String, u64)>,
    std::collections::VecDeque<(String, u64)>,
);

impl Relayed {
    /// How many messages are remembered.
    const KEPT: usize = 8192;

    /// True the first time a message is seen.
    pub(crate) fn first_time(&self, e: &Ephemeral) -> bool {
        let key = (e.session.clone(), e.count);
        let mut g = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (set, order) = &mut *g;
        if !set.insert(key.clone()) {
            return false;
        }
        order.push_back(key);
        if order.len() > Self::KEPT
            && let Some(old) = order.pop_front()
        {
            set.remove(&old);
        }
        true
    }
}

/// The `Host` values a listener on `addr` answers to: its address, and the
/// loopback names when it is on loopback, each with its port; and `extra`
/// (names an institution serves it under), with or without a port.
pub(crate) fn hosts(addr: SocketAddr, extra: &[String]) -> Vec<String> {
    let port = addr.port();
    let mut out = vec![addr.to_string()];
    if addr.ip().is_loopback() || addr.ip().is_unspecified() {
        for h in ["127.0.0.1", "localhost", "[::1]"] {
            out.push(format!("{h}:{port}"));
        }
    }
    for h in extra {
        out.push(h.to_ascii_lowercase());
        if !h.contains(':') {
            out.push(format!("{}:{port}", h.to_ascii_lowercase()));
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The router of the web listener.
pub(crate) fn router(web: Arc<Web>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/assets/{name}", get(asset))
        .route("/api/call/{method}", post(call))
        .route("/published/{id}", get(published))
        .route("/login", get(login_link))
        .route("/api/login", post(login_api))
        .route("/api/logout", post(logout))
        .route("/api/me", get(me))
        .route("/health", get(health))
        .route("/api/home", get(home_api))
        .route("/sync", get(sync))
        .layer(axum::extract::DefaultBodyLimit::max(web.max_message))
        .layer(middleware::from_fn_with_state(Arc::clone(&web), guard))
        .layer(middleware::from_fn(secure_headers))
        .with_state(web)
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// Refuses requests for another host, and cross-origin requests.
async fn guard(State(web): State<Arc<Web>>, request: Request, next: Next) -> Response {
    // A monitor may ask for health under any name: it says nothing private.
    if request.uri().path() == "/health" && request.method() == axum::http::Method::GET {
        return next.run(request).await;
    }
    let headers = request.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_ascii_lowercase);
    let Some(host) = host.filter(|h| web.hosts.contains(h)) else {
        return refuse(
            StatusCode::MISDIRECTED_REQUEST,
            "this node does not answer to that host name; an operator adds it to `[web] hosts` in kpd.toml",
        );
    };
    if let Some(origin) = headers.get(header::ORIGIN) {
        let scheme = if web.tls { "https" } else { "http" };
        if origin.as_bytes() != format!("{scheme}://{host}").as_bytes() {
            return refuse(
                StatusCode::FORBIDDEN,
                "requests from another site's pages are refused",
            );
        }
    }
    next.run(request).await
}

/// The policy every response carries: the page runs only the node's own
/// scripts (never inline ones; WebAssembly for automerge), talks only to the
/// node, and is never framed by another site.
const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
                   style-src 'self'; img-src 'self' data:; connect-src 'self'; \
                   object-src 'none'; base-uri 'none'; form-action 'self'; \
                   frame-ancestors 'none'";

/// Adds the security headers to every response (a policy or caching a
/// handler set is kept).
pub(crate) async fn secure_headers(request: Request, next: Next) -> Response {
    let mut r = next.run(request).await;
    let h = r.headers_mut();
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    r
}

/// What a logged-in person's workspace opens on: who they are, the spaces
/// and drafts of the node, and what awaits them in review.
async fn home_api(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    run_call(&web, &headers, "home".into(), Vec::new()).await
}

/// `POST /api/call/METHOD`: one of the workspace's calls. The body must be
/// JSON and say so (`Content-Type: application/json`): a form of another site
/// cannot send that without the browser asking first, and the Origin check
/// and the SameSite cookie refuse it besides.
async fn call(
    State(web): State<Arc<Web>>,
    axum::extract::Path(method): axum::extract::Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().map(str::trim) == Some("application/json"));
    if !json {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the call as JSON (Content-Type: application/json)",
        );
    }
    run_call(&web, &headers, method, body.to_vec()).await
}

async fn run_call(web: &Web, headers: &HeaderMap, method: String, body: Vec<u8>) -> Response {
    use crate::workspace::CallError;
    let Some(person) = logged_in(web, secret(web, headers)).await else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "not logged in: open the login link your node's operator gave you",
        );
    };
    let service = Arc::clone(&web.service);
    let done = tokio::task::spawn_blocking(move || {
        crate::workspace::call(&service, &person, &method, &body)
    })
    .await;
    match done {
        Ok(Ok(v)) => Json(v).into_response(),
        Ok(Err(e @ CallError::Unknown(_))) => refuse(StatusCode::NOT_FOUND, &e.to_string()),
        Ok(Err(e @ CallError::BadRequest { .. })) => {
            refuse(StatusCode::BAD_REQUEST, &e.to_string())
        }
        Ok(Err(CallError::Api(e))) => {
            let status = crate::api::status(e);
            let code = match status.code() {
                tonic::Code::InvalidArgument | tonic::Code::OutOfRange => StatusCode::BAD_REQUEST,
                tonic::Code::NotFound => StatusCode::NOT_FOUND,
                tonic::Code::AlreadyExists | tonic::Code::Aborted => StatusCode::CONFLICT,
                tonic::Code::PermissionDenied => StatusCode::FORBIDDEN,
                tonic::Code::FailedPrecondition => StatusCode::CONFLICT,
                tonic::Code::ResourceExhausted => StatusCode::PAYLOAD_TOO_LARGE,
                tonic::Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            if code == StatusCode::INTERNAL_SERVER_ERROR {
                tracing::warn!("a workspace call failed: {}", status.message());
            }
            refuse(code, status.message())
        }
        Err(_) => refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the request failed inside the node",
        ),
    }
}

/// A draft's standalone page (its published version once it has one), as
/// `kp draft export --format html` writes it. It holds its own style sheet
/// and no script, so its policy allows that style and nothing else.
async fn published(
    State(web): State<Arc<Web>>,
    axum::extract::Path(id): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Response {
    if logged_in(&web, secret(&web, &headers)).await.is_none() {
        return refuse(StatusCode::UNAUTHORIZED, "not logged in");
    }
    let service = Arc::clone(&web.service);
    let req = kp_proto::local::ExportDraftRequest {
        id,
        format: "html".into(),
        ..Default::default()
    };
    match tokio::task::spawn_blocking(move || service.export_draft(req)).await {
        Ok(Ok(r)) => standalone(r.content),
        Ok(Err(e)) => refuse(StatusCode::NOT_FOUND, &e.to_string()),
        Err(_) => refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the request failed inside the node",
        ),
    }
}

/// A standalone page (an export, a portal page): its own inline style
/// sheet, and nothing else runs or loads.
pub(crate) fn standalone(html: String) -> Response {
    let mut r = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
    r.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; \
             base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    r
}

/// The workspace's files, built into kpd (see `daemon/build.rs`).
mod assets {
    /// Name, media type, contents, gzipped contents, entity tag.
    pub(super) type File = (
        &'static str,
        &'static str,
        &'static [u8],
        Option<&'static [u8]>,
        &'static str,
    );
    include!(concat!(env!("OUT_DIR"), "/web/assets.rs"));
}

/// One of the workspace's files.
struct Asset {
    kind: &'static str,
    bytes: std::borrow::Cow<'static, [u8]>,
    gzip: Option<&'static [u8]>,
    /// For browsers' caches; none for a file read from `KP_WEB_ASSETS`.
    tag: Option<&'static str>,
}

/// One of the workspace's files: from `KP_WEB_ASSETS` (a directory the page
/// was bundled to, for those who work on the page) or from the binary.
fn asset_bytes(name: &str) -> Option<Asset> {
    let (_, kind, bytes, gzip, tag) = assets::ASSETS.iter().find(|(n, ..)| *n == name)?;
    if let Some(dir) = std::env::var_os("KP_WEB_ASSETS")
        && let Ok(b) = std::fs::read(std::path::Path::new(&dir).join(name))
    {
        return Some(Asset {
            kind,
            bytes: b.into(),
            gzip: None,
            tag: None,
        });
    }
    Some(Asset {
        kind,
        bytes: std::borrow::Cow::Borrowed(bytes),
        gzip: *gzip,
        tag: Some(tag),
    })
}

/// A file of the page: compressed when the browser takes gzip, and kept by
/// browsers, who ask again each time (`no-cache`) and get `304` while it is
/// the same.
async fn asset(
    axum::extract::Path(name): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(a) = asset_bytes(&name) else {
        return refuse(StatusCode::NOT_FOUND, "no such file");
    };
    let listed = |h: header::HeaderName, want: &str| {
        headers
            .get_all(h)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|e| e.split(';').next().map(str::trim) == Some(want))
    };
    let mut r = match (a.tag, a.gzip) {
        (Some(tag), _) if listed(header::IF_NONE_MATCH, tag) => {
            StatusCode::NOT_MODIFIED.into_response()
        }
        (_, Some(gz)) if listed(header::ACCEPT_ENCODING, "gzip") => {
            ([(header::CONTENT_ENCODING, "gzip")], gz).into_response()
        }
        _ => a.bytes.into_owned().into_response(),
    };
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(a.kind));
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if let Some(tag) = a.tag {
        h.insert(header::ETAG, HeaderValue::from_static(tag));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    r
}

/// The workspace's page (the same for every view: the page routes itself).
/// Its editor adds its style sheets as `<style>` elements, which the policy
/// allows by a nonce fresh for each load (and nothing else inline).
async fn page() -> Response {
    use ring::rand::SecureRandom;
    let Some(Asset { kind, bytes, .. }) = asset_bytes("index.html") else {
        return refuse(StatusCode::NOT_FOUND, "no page");
    };
    let mut n = [0u8; 16];
    if ring::rand::SystemRandom::new().fill(&mut n).is_err() {
        return refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            "no randomness for the page",
        );
    }
    let nonce = bs58::encode(n).into_string();
    let html = String::from_utf8_lossy(&bytes).replace("{{STYLE_NONCE}}", &nonce);
    let mut r = ([(header::CONTENT_TYPE, kind)], html).into_response();
    let csp = CSP.replace(
        "style-src 'self'",
        &format!("style-src 'self' 'nonce-{nonce}'"),
    );
    r.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_str(&csp).expect("a nonce is base58"),
    );
    r
}

fn cookie(web: &Web, headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == web.cookie)
        .map(|(_, v)| v.to_string())
}

/// The session secret a request carries: its cookie, else an
/// `Authorization: Bearer` header.
fn secret(web: &Web, headers: &HeaderMap) -> Option<String> {
    cookie(web, headers).or_else(|| {
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_string)
    })
}

fn session_cookie(web: &Web, secret: &str, max_age: i64) -> HeaderValue {
    let secure = if web.tls { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{}={secret}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}",
        web.cookie
    ))
    .expect("a session secret is base58")
}

/// The person a session secret belongs to, if it is valid now (checked where
/// blocking is allowed: a use may renew the session in the store).
async fn logged_in(web: &Web, secret: Option<String>) -> Option<String> {
    let secret = secret?;
    let accounts = Arc::clone(&web.accounts);
    tokio::task::spawn_blocking(move || accounts.session(&secret))
        .await
        .ok()
        .flatten()
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

async fn redeem(web: &Web, token: String) -> Result<(String, String), Response> {
    let accounts = Arc::clone(&web.accounts);
    match tokio::task::spawn_blocking(move || accounts.redeem(&token)).await {
        Ok(Ok(pair)) => Ok(pair),
        Ok(Err(e @ AccountError::BadLogin)) => {
            Err(refuse(StatusCode::UNAUTHORIZED, &e.to_string()))
        }
        Ok(Err(e)) => {
            tracing::error!("a login failed: {e}");
            Err(refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "the node could not record the login; see its log",
            ))
        }
        Err(_) => Err(refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the login failed",
        )),
    }
}

async fn login_link(State(web): State<Arc<Web>>, Query(q): Query<TokenQuery>) -> Response {
    let Some(token) = q.token else {
        return refuse(StatusCode::BAD_REQUEST, "a login link carries `?token=`");
    };
    match redeem(&web, token).await {
        Ok((_, secret)) => {
            let mut r = Redirect::to("/").into_response();
            r.headers_mut().insert(
                header::SET_COOKIE,
                session_cookie(&web, &secret, crate::accounts::SESSION_DAYS * 86_400),
            );
            r
        }
        Err(r) => r,
    }
}

#[derive(Deserialize)]
struct LoginBody {
    token: String,
}

async fn login_api(State(web): State<Arc<Web>>, body: axum::body::Bytes) -> Response {
    let Ok(body) = serde_json::from_slice::<LoginBody>(&body) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "the body must be JSON: {\"token\": \"kpl_…\"} (from `kp user add` or `kp user login`)",
        );
    };
    match redeem(&web, body.token).await {
        Ok((name, secret)) => {
            let mut r = Json(json!({ "name": name, "session": secret })).into_response();
            r.headers_mut().insert(
                header::SET_COOKIE,
                session_cookie(&web, &secret, crate::accounts::SESSION_DAYS * 86_400),
            );
            r
        }
        Err(r) => r,
    }
}

async fn logout(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    if let Some(secret) = secret(&web, &headers) {
        let accounts = Arc::clone(&web.accounts);
        let _ = tokio::task::spawn_blocking(move || accounts.end_session(&secret)).await;
    }
    let mut r = Json(json!({ "logged_out": true })).into_response();
    r.headers_mut()
        .insert(header::SET_COOKIE, session_cookie(&web, "", 0));
    r
}

/// For load balancers and monitors: no login, nothing private. 200 while the
/// node reads its store, 503 (with why) when it cannot.
async fn health(State(web): State<Arc<Web>>) -> Response {
    let service = Arc::clone(&web.service);
    let checked = tokio::task::spawn_blocking(move || service.health()).await;
    let (code, body) = match checked {
        Ok(Ok(())) => (
            StatusCode::OK,
            json!({ "status": "serving", "version": env!("CARGO_PKG_VERSION") }),
        ),
        Ok(Err(why)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "status": "not serving", "why": why }),
        ),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "status": "not serving", "why": "the check failed inside the node" }),
        ),
    };
    let mut r = (code, Json(body)).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

async fn me(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    match logged_in(&web, secret(&web, &headers)).await {
        Some(name) => Json(json!({ "name": name })).into_response(),
        None => refuse(StatusCode::UNAUTHORIZED, "not logged in"),
    }
}

#[derive(Deserialize)]
struct SyncQuery {
    session: Option<String>,
}

async fn sync(
    State(web): State<Arc<Web>>,
    Query(q): Query<SyncQuery>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let secret = secret(&web, &headers).or(q.session);
    let name = logged_in(&web, secret.clone()).await;
    let Some((secret, name)) = secret.zip(name) else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "log in first: a session cookie, `Authorization: Bearer SESSION`, or `?session=SESSION` (from POST /api/login)",
        );
    };
    let Ok(slot) = Arc::clone(&web.slots).try_acquire_owned() else {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "the node serves as many clients as it may ([web] max_clients); try again later",
        );
    };
    // Twice the limit, so that a message just over it is read and refused
    // with a reason; the limit itself is checked on each message.
    let max = web.max_message.saturating_mul(2);
    ws.max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| async move {
            tracing::info!(person = %name, "a client connected");
            let why = client(socket, &web, &secret, &name).await;
            drop(slot);
            tracing::info!(person = %name, "a client left: {why}");
        })
}

/// Runs one client's session until it leaves, breaks the protocol, its
/// session ends, or the node stops; returns why it ended.
async fn client(mut socket: WebSocket, web: &Web, secret: &str, person: &str) -> String {
    let signer = Person {
        key: web.key.clone(),
        name: person.to_string(),
    };
    let session = Arc::new(Mutex::new(ClientSession::new(
        web.repo.clone(),
        web.peer_id.clone(),
        Box::new(signer),
    )));
    let mut durable = web.repo.subscribe();
    let mut presence = web.presence.tx.subscribe();
    let mut ended = web.accounts.ended();
    let mut stop = web.stop.clone();
    let mut budget = Budget::new(web.max_per_sec, Instant::now());
    // A ping every third of the idle timeout; a client silent for the whole
    // of it (not even a pong) is gone, and its connection is closed.
    let mut heard = Instant::now();
    let mut ping = tokio::time::interval(web.idle / 3);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Runs a step of the session where it may block (it waits for what it
    // took to be durable).
    async fn step<T: Send + 'static>(
        session: &Arc<Mutex<ClientSession>>,
        f: impl FnOnce(&mut ClientSession) -> T + Send + 'static,
    ) -> Option<T> {
        let session = Arc::clone(session);
        tokio::task::spawn_blocking(move || {
            f(&mut session.lock().unwrap_or_else(|p| p.into_inner()))
        })
        .await
        .ok()
    }
    loop {
        let out: Vec<Vec<u8>> = tokio::select! {
            biased;
            _ = stop.changed() => return "the node is stopping".into(),
            _ = ended.changed() => {
                let valid = logged_in(web, Some(secret.to_string())).await.is_some();
                if valid {
                    continue;
                }
                let _ = socket.send(Message::Binary(repo_wire::error("your session ended").into())).await;
                return "its session ended".into();
            }
            _ = ping.tick() => {
                if heard.elapsed() > web.idle {
                    return format!("it was silent for {} s", web.idle.as_secs());
                }
                // A session that expired while connected ends here.
                if logged_in(web, Some(secret.to_string())).await.is_none() {
                    let _ = socket.send(Message::Binary(repo_wire::error("your session ended").into())).await;
                    return "its session ended".into();
                }
                if socket.send(Message::Ping(Default::default())).await.is_err() {
                    return "it went away".into();
                }
                continue;
            }
            message = socket.recv() => {
                heard = Instant::now();
                let bytes = match message {
                    None => return "it disconnected".into(),
                    Some(Err(e)) => return format!("the connection failed: {e}"),
                    Some(Ok(Message::Binary(b))) if b.len() > web.max_message => {
                        // Said, then closed with "message too big"; beyond
                        // twice the limit the connection is cut unread.
                        let why = format!(
                            "a message of {} bytes, over this node's limit of {} MiB ([web] max_message_mib)",
                            b.len(),
                            web.max_message >> 20
                        );
                        let _ = socket.send(Message::Binary(repo_wire::error(&why).into())).await;
                        let _ = socket
                            .send(Message::Close(Some(axum::extract::ws::CloseFrame {
                                code: 1009,
                                reason: "message too big".into(),
                            })))
                            .await;
                        return why;
                    }
                    Some(Ok(Message::Binary(b))) => b,
                    Some(Ok(Message::Close(_))) => return "it closed the connection".into(),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Text(_))) => {
                        let _ = socket.send(Message::Binary(repo_wire::error("messages are binary CBOR").into())).await;
                        return "it sent text, not CBOR".into();
                    }
                };
                if let Some(wait) = budget.spend(1, Instant::now()) {
                    if budget.first_overdraft() {
                        tracing::warn!("a client sends more than {} messages a second; reading it more slowly", web.max_per_sec);
                    }
                    tokio::time::sleep(wait).await;
                }
                let reply = step(&session, move |s| s.receive(&bytes)).await;
                match reply {
                    Some(Ok(reply)) => {
                        if let Some(e) = reply.relay {
                            web.presence.relay(e);
                        }
                        if reply.leave {
                            return "it left".into();
                        }
                        reply.send
                    }
                    Some(Err(ClientError::Protocol(why))) => {
                        let _ = socket.send(Message::Binary(repo_wire::error(&why).into())).await;
                        return format!("it broke the protocol: {why}");
                    }
                    Some(Err(e)) => {
                        tracing::error!("a client session failed: {e}");
                        let _ = socket.send(Message::Binary(repo_wire::error("the node failed; see its log").into())).await;
                        return e.to_string();
                    }
                    None => return "its session failed inside the node".into(),
                }
            }
            ids = durable.recv() => {
                let ids = match ids {
                    Ok(ids) => Some(ids),
                    Err(broadcast::error::RecvError::Lagged(_)) => None,
                    Err(broadcast::error::RecvError::Closed) => return "the node is stopping".into(),
                };
                match step(&session, move |s| s.changed(ids.as_deref().map(|v| v.as_slice()))).await {
                    Some(Ok(out)) => out,
                    Some(Err(e)) => {
                        tracing::error!("a client session failed: {e}");
                        return e.to_string();
                    }
                    None => return "its session failed inside the node".into(),
                }
            }
            e = presence.recv() => {
                match e {
                    Ok(e) => {
                        let s = session.lock().unwrap_or_else(|p| p.into_inner());
                        s.relay(&e).into_iter().collect()
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return "the node is stopping".into(),
                }
            }
        };
        for m in out {
            if let Err(e) = socket.send(Message::Binary(m.into())).await {
                return format!("sending failed: {e}");
            }
        }
    }
}

/// Serves the web listener until `stop` turns true: plain HTTP, or HTTPS with
/// `tls`.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    web: Arc<Web>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut stop: watch::Receiver<bool>,
) {
    let app = router(web);
    let Some(tls) = tls else {
        let stopped = async move { stopped(&mut stop).await };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stopped)
            .await
        {
            tracing::error!("the web listener stopped: {e}");
        }
        return;
    };
    loop {
        let (tcp, _) = tokio::select! {
            _ = stopped(&mut stop) => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!("the web listener could not accept a connection: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let (tls, app) = (tls.clone(), app.clone());
        tokio::spawn(async move {
            let stream =
                match tokio::time::timeout(std::time::Duration::from_secs(10), tls.accept(tcp))
                    .await
                {
                    Ok(Ok(s)) => s,
                    _ => return,
                };
            let service = hyper_util::service::TowerToHyperService::new(app);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .with_upgrades()
                .await;
        });
    }
}

/// Returns once the node stops.
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
