//! `kpd.toml`: the node's settings, with embedded defaults written out in full
//! (and commented) when a node is initialised.

use std::path::Path;

use serde::Deserialize;

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[node]`
    pub node: NodeSection,
    /// `[store]`
    pub store: StoreSection,
    /// `[limits]`
    pub limits: Limits,
    /// `[peers]`
    pub peers: PeersSection,
    /// `[plugins]`
    pub plugins: PluginsSection,
    /// `[web]`
    pub web: WebSection,
    /// `[portal]`
    pub portal: PortalSection,
    /// `[log]`
    pub log: LogSection,
    /// `[metrics]`
    pub metrics: MetricsSection,
}

/// `[metrics]`: the Prometheus metrics listener. Off unless `listen` is set.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSection {
    /// host:port; empty for none (the default).
    pub listen: String,
}

/// `[log]`: how kpd writes its log (to standard error).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    /// `text` or `json`.
    pub format: LogFormat,
}

/// The log's form.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One line per event, for people.
    #[default]
    Text,
    /// One JSON object per line (time, level, target, message and fields),
    /// for log collectors.
    Json,
}

/// `[portal]`: the public portal of published work. Off unless `listen` is set.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PortalSection {
    /// host:port; empty for none (the default).
    pub listen: String,
    /// The spaces whose published work it shows, by name or id.
    pub spaces: Vec<String>,
}

/// `[web]`: the listener researchers' browsers and automerge-repo clients use.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WebSection {
    /// host:port; empty for none.
    pub listen: String,
    /// More names (`Host` values) the listener answers to.
    pub hosts: Vec<String>,
    /// PEM certificate chain for HTTPS; empty for plain HTTP.
    pub tls_cert: String,
    /// PEM private key for HTTPS.
    pub tls_key: String,
    /// Largest WebSocket message taken from a client, MiB.
    pub max_message_mib: usize,
    /// Clients connected at once.
    pub max_clients: usize,
}

/// The web listener's address when `kpd.toml` names none.
pub const DEFAULT_WEB_LISTEN: &str = "127.0.0.1:7480";

impl Default for WebSection {
    fn default() -> Self {
        Self {
            listen: DEFAULT_WEB_LISTEN.into(),
            hosts: Vec::new(),
            tls_cert: String::new(),
            tls_key: String::new(),
            max_message_mib: 64,
            max_clients: 500,
        }
    }
}

/// `[plugins]`: the limits analysis plugins run within.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PluginsSection {
    /// Fuel per run (about one unit per wasm instruction).
    pub fuel: u64,
    /// Wall-clock limit per run, milliseconds.
    pub timeout_ms: u64,
    /// Memory per run, MiB.
    pub memory_mib: u64,
    /// Largest report, KiB of JSON.
    pub max_report_kib: usize,
    /// Most metrics, findings and table cells in a report.
    pub max_report_items: usize,
    /// Log kept per run, KiB.
    pub max_log_kib: usize,
    /// Runs at once; more wait.
    pub max_concurrent: u32,
    /// Largest component accepted at install, KiB.
    pub max_wasm_kib: usize,
}

impl Default for PluginsSection {
    fn default() -> Self {
        let l = kp_plugin_host::Limits::default();
        Self {
            fuel: l.fuel,
            timeout_ms: l.timeout_ms,
            memory_mib: l.memory_mib,
            max_report_kib: l.max_report_kib,
            max_report_items: l.max_report_items,
            max_log_kib: l.max_log_bytes / 1024,
            max_concurrent: l.max_concurrent,
            max_wasm_kib: 16 * 1024,
        }
    }
}

/// `[peers]`: partner nodes.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PeersSection {
    /// host:port to accept partners on; empty for none.
    pub listen: String,
    /// Largest message on a partner session, KiB; larger frames are sent in parts.
    pub max_frame_kib: usize,
    /// Largest document or sync message taken from a partner, MiB.
    pub max_document_mib: usize,
    /// A partner silent for this many seconds (no frame, not even a heartbeat) is
    /// disconnected and dialled again.
    pub idle_timeout_secs: u64,
    /// Frames a partner may send per second, on average; a partner sending
    /// faster is read more slowly (its frames wait on the connection).
    pub max_frames_per_sec: u32,
    /// Partners pinned in the file.
    pub peer: Vec<PeerEntry>,
}

impl Default for PeersSection {
    fn default() -> Self {
        let l = kp_sync::Limits::default();
        Self {
            listen: String::new(),
            max_frame_kib: l.max_frame >> 10,
            max_document_mib: l.max_assembled >> 20,
            idle_timeout_secs: l.idle_timeout.as_secs(),
            max_frames_per_sec: l.max_frames_per_sec,
            peer: Vec::new(),
        }
    }
}

impl PeersSection {
    /// The session limits these settings give.
    pub fn limits(&self) -> kp_sync::Limits {
        kp_sync::Limits {
            max_frame: self.max_frame_kib << 10,
            max_assembled: self.max_document_mib << 20,
            idle_timeout: std::time::Duration::from_secs(self.idle_timeout_secs),
            heartbeat: std::time::Duration::from_secs(self.idle_timeout_secs) / 3,
            max_frames_per_sec: self.max_frames_per_sec,
        }
    }
}

/// One `[[peers.peer]]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PeerEntry {
    /// The partner's node id.
    pub id: String,
    /// host:port to dial; empty to only accept it.
    #[serde(default)]
    pub address: String,
}

/// `[node]`: who this node is.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct NodeSection {
    /// The institution's name.
    pub name: String,
    /// The researcher recorded with changes when a request names none.
    pub author: String,
    /// The institution's region, recorded when this node creates a space.
    pub region: String,
    /// The income group of the institution's country, likewise.
    pub income_group: String,
}

/// `[store]`: how documents are kept.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSection {
    /// Loaded documents kept in memory.
    pub cache_documents: usize,
    /// sled's page cache in MiB.
    pub page_cache_mib: u64,
    /// Compaction threshold in KiB.
    pub compact_min_kib: u64,
    /// Compaction factor against the snapshot size.
    pub compact_factor: u64,
}

/// KiB a local request may hold beyond its largest input: room for its other
/// fields.
pub const REQUEST_MARGIN_KIB: usize = 64;

/// `[limits]`: the largest inputs accepted.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest draft body, KiB.
    pub max_text_kib: usize,
    /// Largest CSV import, KiB.
    pub max_csv_kib: usize,
    /// Largest local API request, KiB.
    pub max_request_kib: usize,
}

impl Default for NodeSection {
    fn default() -> Self {
        Self {
            name: "kp node".into(),
            author: String::new(),
            region: String::new(),
            income_group: String::new(),
        }
    }
}

impl Default for StoreSection {
    fn default() -> Self {
        Self {
            cache_documents: 256,
            page_cache_mib: 64,
            compact_min_kib: 1024,
            compact_factor: 16,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_text_kib: 4096,
            max_csv_kib: 16384,
            max_request_kib: 32768,
        }
    }
}

/// The configuration file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Reading or writing failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not valid (the message names the key and line).
    #[error("{}: {message}", path.display())]
    Parse {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// The file written at init: every setting, its default, and what it does.
pub fn default_file(name: &str, author: &str) -> String {
    let d = Config::default();
    format!(
        r#"# kpd.toml: the settings of this kp node. Every setting is listed with its
# default; edit and restart kpd to change one. Unknown keys are refused.

[node]
# The institution this node belongs to, shown with its comments and as the
# institution of the researchers who write on it.
name = {name:?}
# The researcher's name recorded with each change when `kp` is not given one
# (`kp --author NAME` or $KP_AUTHOR). Like git's user.name.
author = {author:?}
# Where the institution is, recorded in the member list of the spaces this
# node creates (members added later get theirs from `kp space add-member
# --region --income-group`). They feed the North-South indicator of
# `kp report indicators`. income_group: low, lower-middle, upper-middle, high.
region = ""
income_group = ""

[store]
# Documents kept loaded in memory; the least recently used are dropped beyond
# this (documents with unsaved changes are always kept).
cache_documents = {cache}
# sled's page cache, in MiB.
page_cache_mib = {page}
# A document's change log is compacted into one snapshot once it is larger than
# this many KiB and larger than compact_factor times the snapshot.
compact_min_kib = {cmin}
compact_factor = {cfac}

[limits]
# Largest draft body accepted, in KiB.
max_text_kib = {text}
# Largest CSV file accepted by `kp dataset import`, in KiB.
max_csv_kib = {csv}
# Largest request on the local API, in KiB. It must be at least 64 above the
# two limits above and plugins.max_wasm_kib, or kpd refuses to start.
max_request_kib = {req}

[peers]
# host:port on which partner nodes connect, over mutual TLS pinned to node ids
# (for example "0.0.0.0:7410"). Empty: this node accepts no partner connections.
listen = ""
# Largest message on a partner session, in KiB; larger documents and sync
# messages travel in parts of this size.
max_frame_kib = {frame}
# Largest document (or sync message) taken from a partner, in MiB.
max_document_mib = {docmax}
# A partner that sends nothing for this many seconds (sessions carry a heartbeat
# every third of it) is disconnected; its connection is then retried.
idle_timeout_secs = {idle}
# Frames a partner may send per second on average (bursts of up to four
# seconds' worth pass at once). A partner that floods the node is read more
# slowly, so it cannot take the time the node owes its other partners. A clone
# of thousands of documents stays well below it.
max_frames_per_sec = {fps}
# Partner nodes, pinned by node id; only these may connect. `kp peer add` adds
# more at run time. One block per partner:
# [[peers.peer]]
# id = "the partner's node id, from its `kp status`"
# address = "host:port"   # leave out to only accept its connections

[plugins]
# Analysis plugins run in a sandbox with these limits. Fuel is counted in wasm
# instructions, the same on every node: the default stops an endless loop in
# about a second.
fuel = {fuel}
# A wall-clock limit behind the fuel, in milliseconds.
timeout_ms = {ptime}
# Memory a run may use, in MiB.
memory_mib = {pmem}
# Largest report a plugin may return, in KiB of JSON, and most metrics,
# findings and table cells in it (a world panel of 217 countries over 60 years
# with six indicators is about 80,000 cells and 1 MiB).
max_report_kib = {preport}
max_report_items = {pitems}
# Log (messages and printed output) kept per run, in KiB.
max_log_kib = {plog}
# Plugin runs at the same time; further requests wait for a free one.
max_concurrent = {pconc}
# Largest component accepted by `kp plugin install`, in KiB.
max_wasm_kib = {pwasm}

[web]
# host:port of the web listener: researchers' logins (`kp user add`) and the
# automerge-repo WebSocket endpoint (/sync). On loopback by default; to serve
# an institution's network, listen on its address, name it in `hosts`, and
# give a TLS certificate. Empty: no web listener.
listen = {wlisten:?}
# Host names the listener answers to besides its address (and localhost on
# loopback), as browsers send them, for example ["kp.example.org"]. Requests
# for any other name are refused (DNS rebinding).
hosts = []
# PEM files of a certificate chain and its private key for HTTPS; both empty
# for plain HTTP (fine on loopback only).
tls_cert = ""
tls_key = ""
# Largest message a client may send, in MiB. Clients are held to the rate
# of peers.max_frames_per_sec and to its idle timeout (the node pings them).
max_message_mib = {wmax}
# Clients (browser tabs, programs) connected at once; more are refused until
# one leaves.
max_clients = {wclients}

[portal]
# host:port of the public portal: the published briefs and papers of the
# spaces named below, each at the version its publication froze, read-only,
# without login or cookies, and nothing else. Empty (the default): no portal.
listen = ""
# The spaces to show, by name or id; a space not named here is never shown.
spaces = []

[log]
# text: one line per event, for people; json: one JSON object per line (time,
# level, target, message, and the event's fields such as peer, doc and
# session), for log collectors. The level comes from $KP_LOG (default info;
# for example KP_LOG=debug or KP_LOG=kp_daemon::peers=debug).
format = "text"

[metrics]
# host:port serving Prometheus metrics at /metrics (documents, store size,
# commit rounds and their durations, partners' traffic and lag, plugin runs,
# web sessions). Empty (the default): off. They name partner nodes: keep the
# listener on a loopback or management address, such as "127.0.0.1:9464".
listen = ""
"#,
        cache = d.store.cache_documents,
        page = d.store.page_cache_mib,
        cmin = d.store.compact_min_kib,
        cfac = d.store.compact_factor,
        text = d.limits.max_text_kib,
        csv = d.limits.max_csv_kib,
        req = d.limits.max_request_kib,
        frame = d.peers.max_frame_kib,
        docmax = d.peers.max_document_mib,
        idle = d.peers.idle_timeout_secs,
        fps = d.peers.max_frames_per_sec,
        fuel = d.plugins.fuel,
        ptime = d.plugins.timeout_ms,
        pmem = d.plugins.memory_mib,
        preport = d.plugins.max_report_kib,
        pitems = d.plugins.max_report_items,
        plog = d.plugins.max_log_kib,
        pconc = d.plugins.max_concurrent,
        pwasm = d.plugins.max_wasm_kib,
        wlisten = d.web.listen,
        wmax = d.web.max_message_mib,
        wclients = d.web.max_clients,
    )
}

impl Config {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text).map_err(|message| ConfigError::Parse {
            path: path.to_owned(),
            message,
        })
    }

    fn parse(text: &str) -> Result<Self, String> {
        let cfg: Config = toml::from_str(text).map_err(|e| e.to_string().trim().to_owned())?;
        // A request carries one of these inputs with its other fields (ids,
        // title, heads, author). Were the request limit not above the largest
        // input by a margin, an input the node says it takes would be refused as
        // a request; we refuse to start rather than raise one limit behind the
        // operator's back.
        let l = &cfg.limits;
        let largest = l
            .max_text_kib
            .max(l.max_csv_kib)
            .max(cfg.plugins.max_wasm_kib);
        if l.max_request_kib < largest.saturating_add(REQUEST_MARGIN_KIB) {
            return Err(format!(
                "limits.max_request_kib is {} but must be at least {REQUEST_MARGIN_KIB} KiB above the largest input limit (limits.max_text_kib, limits.max_csv_kib, plugins.max_wasm_kib: {largest} KiB), so that a request can carry that input; set max_request_kib to {} or more",
                l.max_request_kib,
                largest.saturating_add(REQUEST_MARGIN_KIB)
            ));
        }
        if cfg.store.cache_documents == 0 {
            return Err("store.cache_documents must be at least 1".into());
        }
        kp_model::space::check_income_group(&cfg.node.income_group)
            .map_err(|e| format!("node.income_group: {e}"))?;
        let p = &cfg.peers;
        if p.max_frame_kib < 64
            || p.max_document_mib == 0
            || p.idle_timeout_secs < 3
            || p.max_frames_per_sec < 10
        {
            return Err("peers: max_frame_kib must be at least 64, max_document_mib at least 1, idle_timeout_secs at least 3 and max_frames_per_sec at least 10".into());
        }
        let pl = &cfg.plugins;
        if pl.fuel == 0
            || pl.timeout_ms == 0
            || pl.memory_mib == 0
            || pl.max_report_kib == 0
            || pl.max_report_items == 0
            || pl.max_concurrent == 0
            || pl.max_wasm_kib == 0
        {
            return Err("plugins: fuel, timeout_ms, memory_mib, max_report_kib, max_report_items, max_concurrent and max_wasm_kib must be above 0".into());
        }
        let w = &cfg.web;
        if w.tls_cert.is_empty() != w.tls_key.is_empty() {
            return Err(
                "web: tls_cert and tls_key go together; give both, or neither for plain HTTP"
                    .into(),
            );
        }
        if w.max_message_mib == 0 || w.max_clients == 0 {
            return Err("web.max_message_mib and web.max_clients must be at least 1".into());
        }
        for p in &cfg.peers.peer {
            if let Err(e) = p.id.parse::<kp_core::identity::NodeId>() {
                return Err(format!("peers.peer: {e}"));
            }
        }
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_defaults_parse_to_the_defaults() {
        let cfg = Config::parse(&default_file("Uni \"X\"", "")).unwrap();
        assert_eq!(cfg.node.name, "Uni \"X\"");
        assert_eq!(cfg.store, StoreSection::default());
        assert_eq!(cfg.limits, Limits::default());
        assert_eq!(cfg.peers, PeersSection::default());
        assert_eq!(cfg.plugins, PluginsSection::default());
        assert_eq!(cfg.web, WebSection::default());
        let err = Config::parse("[web]\ntls_cert = \"c.pem\"\n").unwrap_err();
        assert!(err.contains("tls_key"), "{err}");
    }

    #[test]
    fn typos_and_bad_limits_are_refused() {
        let err = Config::parse("[store]\ncache_docs = 3\n").unwrap_err();
        assert!(err.contains("cache_docs"), "{err}");
        assert!(Config::parse("[limits]\nmax_request_kib = 1\n").is_err());
        // The request limit must leave room above every input limit.
        let err = Config::parse("[limits]\nmax_text_kib = 40000\n").unwrap_err();
        assert!(
            err.contains("max_request_kib is 32768") && err.contains("to 40064 or more"),
            "{err}"
        );
        let err = Config::parse("[limits]\nmax_request_kib = 16400\n").unwrap_err();
        assert!(err.contains("16448 or more"), "{err}");
        let err = Config::parse("[plugins]\nmax_wasm_kib = 32768\n").unwrap_err();
        assert!(err.contains("plugins.max_wasm_kib"), "{err}");
        let ok = "[limits]\nmax_text_kib = 64\nmax_csv_kib = 64\nmax_request_kib = 128\n[plugins]\nmax_wasm_kib = 64\n";
        assert_eq!(Config::parse(ok).unwrap().limits.max_request_kib, 128);
        assert!(Config::parse("[node]\nname = 3\n").is_err());
        let err = Config::parse("[[peers.peer]]\nid = \"nope\"\n").unwrap_err();
        assert!(err.contains("not a node id"), "{err}");
    }
}
