//! Metrics in the Prometheus text format (`[metrics] listen`, off by
//! default; `GET /metrics`), by prometheus-client. Names follow Prometheus'
//! conventions: the `kp_` prefix, base units (seconds, bytes), `_total` for
//! counters, and labels with few values only (a document kind, a partner
//! node, a plugin — never a document or a person).
//!
//! What the node keeps anyway (documents, the store's size, partners'
//! traffic, sessions) is read at each scrape by [`NodeCollector`]; what
//! happens (plugin runs) is counted as it happens in [`Metrics`].

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::service::Service;

/// A plugin run's labels.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RunLabels {
    plugin: String,
    outcome: &'static str,
}

/// A plugin's label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct PluginLabel {
    plugin: String,
}

/// What is counted as it happens.
#[derive(Debug, Clone)]
pub(crate) struct Metrics {
    plugin_runs: Family<RunLabels, Counter>,
    plugin_fuel: Family<PluginLabel, Counter>,
    plugin_seconds: Family<PluginLabel, Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            plugin_runs: Family::default(),
            plugin_fuel: Family::default(),
            plugin_seconds: Family::new_with_constructor(|| {
                Histogram::new([0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])
            }),
        }
    }
}

impl Metrics {
    /// A plugin run: its outcome, the fuel it used and how long it took.
    pub(crate) fn plugin_run(&self, plugin: &str, ok: bool, fuel: u64, seconds: f64) {
        self.plugin_runs
            .get_or_create(&RunLabels {
                plugin: plugin.to_owned(),
                outcome: if ok { "ok" } else { "failed" },
            })
            .inc();
        let label = PluginLabel {
            plugin: plugin.to_owned(),
        };
        self.plugin_fuel.get_or_create(&label).inc_by(fuel);
        self.plugin_seconds.get_or_create(&label).observe(seconds);
    }

    /// The registry a scrape encodes: these and what `service` holds.
    pub(crate) fn registry(
        &self,
        service: Arc<Service>,
        web_clients: Option<WebClients>,
    ) -> Registry {
        let mut r = Registry::with_prefix("kp");
        r.register(
            "plugin_runs",
            "Plugin runs, by plugin and outcome (ok, failed)",
            self.plugin_runs.clone(),
        );
        r.register(
            "plugin_fuel",
            "Fuel (wasm instructions, roughly) the plugin's runs used",
            self.plugin_fuel.clone(),
        );
        r.register_with_unit(
            "plugin_run_duration",
            "How long the plugin's runs took",
            prometheus_client::registry::Unit::Seconds,
            self.plugin_seconds.clone(),
        );
        r.register_collector(Box::new(NodeCollector {
            service,
            web_clients,
        }));
        r
    }
}

/// The web listener's WebSocket slots: (in use, the limit).
#[derive(Debug, Clone)]
pub(crate) struct WebClients {
    pub(crate) slots: Arc<tokio::sync::Semaphore>,
    pub(crate) max: usize,
}

/// Reads the node's state at each scrape.
#[derive(Debug)]
struct NodeCollector {
    service: Arc<Service>,
    web_clients: Option<WebClients>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PeerLabel {
    peer: String,
}

fn gauge(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&prometheus_client::registry::Unit>,
    v: f64,
) -> Result<(), std::fmt::Error> {
    let g = ConstGauge::new(v);
    let m = e.encode_descriptor(name, help, unit, g.metric_type())?;
    g.encode(m)
}

fn counter(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&prometheus_client::registry::Unit>,
    v: u64,
) -> Result<(), std::fmt::Error> {
    let c = ConstCounter::new(v);
    let m = e.encode_descriptor(name, help, unit, c.metric_type())?;
    c.encode(m)
}

/// A gauge with one series per label set.
fn gauges<L: EncodeLabelSet>(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&prometheus_client::registry::Unit>,
    series: &[(L, f64)],
) -> Result<(), std::fmt::Error> {
    let mut m = e.encode_descriptor(name, help, unit, MetricType::Gauge)?;
    for (labels, v) in series {
        ConstGauge::new(*v).encode(m.encode_family(labels)?)?;
    }
    Ok(())
}

/// A counter with one series per label set.
fn counters<L: EncodeLabelSet>(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&prometheus_client::registry::Unit>,
    series: &[(L, u64)],
) -> Result<(), std::fmt::Error> {
    let mut m = e.encode_descriptor(name, help, unit, MetricType::Counter)?;
    for (labels, v) in series {
        ConstCounter::new(*v).encode(m.encode_family(labels)?)?;
    }
    Ok(())
}

impl Collector for NodeCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use prometheus_client::registry::Unit;
        let state = self.service.metrics_state();
        let kinds: Vec<(KindLabel, f64)> = state
            .documents
            .iter()
            .map(|(k, n)| (KindLabel { kind: k.clone() }, *n as f64))
            .collect();
        gauges(
            &mut e,
            "documents",
            "Documents this node holds, by kind",
            None,
            &kinds,
        )?;
        gauge(
            &mut e,
            "store_size",
            "What the store occupies on disk",
            Some(&Unit::Bytes),
            state.store_bytes as f64,
        )?;
        counter(
            &mut e,
            "commit_rounds",
            "Rounds of the committer that wrote (each one group commit with its fsyncs)",
            None,
            state.rounds.count,
        )?;
        let h = e.encode_descriptor(
            "commit_round_duration",
            "How long a round's durable writes (index commit, document fsyncs) took",
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
        {
            let mut h = h;
            h.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
                state.rounds.seconds,
                state.rounds.count,
                // Per bucket, as the encoder sums them up; the rest over the
                // last bound.
                &state
                    .rounds
                    .buckets
                    .iter()
                    .copied()
                    .chain([(
                        f64::INFINITY,
                        state
                            .rounds
                            .count
                            .saturating_sub(state.rounds.buckets.iter().map(|(_, n)| n).sum()),
                    )])
                    .collect::<Vec<_>>(),
                None,
            )?;
        }
        let peer = |p: &crate::peers::PeerInfo| PeerLabel {
            peer: p.id.to_string(),
        };
        let peers = &state.peers;
        gauge(
            &mut e,
            "peers_connected",
            "Partner nodes with a session open now",
            None,
            peers.iter().filter(|p| p.sessions > 0).count() as f64,
        )?;
        let series = |f: &dyn Fn(&crate::peers::PeerInfo) -> f64| -> Vec<(PeerLabel, f64)> {
            peers.iter().map(|p| (peer(p), f(p))).collect()
        };
        gauges(
            &mut e,
            "peer_connected",
            "1 while a session with the partner is open",
            None,
            &series(&|p| f64::from(u8::from(p.sessions > 0))),
        )?;
        gauges(
            &mut e,
            "peer_documents_behind",
            "Shared documents whose latest changes here the partner has not confirmed",
            None,
            &series(&|p| p.behind as f64),
        )?;
        gauges(
            &mut e,
            "peer_documents_missing",
            "Shared documents where the partner has changes this node has not yet",
            None,
            &series(&|p| p.missing as f64),
        )?;
        gauges(
            &mut e,
            "peer_since_last_exchange",
            "Time since the last frame from the partner (-1: never)",
            Some(&Unit::Seconds),
            &series(&|p| {
                if p.last_seen > 0 {
                    (state.now - p.last_seen).max(0) as f64
                } else {
                    -1.0
                }
            }),
        )?;
        type Count = fn(&crate::peers::PeerInfo) -> u64;
        let traffic: [(&str, &str, Option<&Unit>, Count); 4] = [
            (
                "peer_received",
                "Bytes received from the partner",
                Some(&Unit::Bytes),
                |p| p.bytes_in,
            ),
            (
                "peer_sent",
                "Bytes sent to the partner",
                Some(&Unit::Bytes),
                |p| p.bytes_out,
            ),
            (
                "peer_edits_received",
                "Changes (edits) from the partner that were new here",
                None,
                |p| p.edits_in,
            ),
            (
                "peer_edits_sent",
                "Changes (edits) carried to the partner (a document sent whole counts all \
                 of its changes)",
                None,
                |p| p.edits_out,
            ),
        ];
        for (name, help, unit, count) in traffic {
            let series: Vec<(PeerLabel, u64)> = peers.iter().map(|p| (peer(p), count(p))).collect();
            counters(&mut e, name, help, unit, &series)?;
        }
        gauges(
            &mut e,
            "peer_refused",
            "1 when the partner's last session was refused for a reason an operator can fix",
            None,
            &series(&|p| f64::from(u8::from(p.refusal.is_some()))),
        )?;
        let refusals: Vec<(ReasonLabel, u64)> = state
            .refusals
            .iter()
            .map(|(r, n)| {
                (
                    ReasonLabel {
                        reason: (*r).to_owned(),
                    },
                    *n,
                )
            })
            .collect();
        counters(
            &mut e,
            "refusals",
            "Partner connections and sessions refused, by reason (not_pinned, \
             certificate_refused_there, tls, tls_timeout, session_rate, protocol, hello, \
             dial_not_pinned_there, dial_wrong_node)",
            None,
            &refusals,
        )?;
        gauge(
            &mut e,
            "web_sessions",
            "Researchers' sessions (logged-in browsers and programs) still valid",
            None,
            state.web_sessions as f64,
        )?;
        if let Some(w) = &self.web_clients {
            let in_use = w.max.saturating_sub(w.slots.available_permits());
            gauge(
                &mut e,
                "web_clients",
                "WebSocket clients (browser pages, programs) connected now",
                None,
                in_use as f64,
            )?;
        }
        Ok(())
    }
}

/// Serves `/metrics` on `listener` until `stop`.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    registry: Registry,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let registry = Arc::new(registry);
    let app = Router::new()
        .route(
            "/metrics",
            get(move || {
                let registry = Arc::clone(&registry);
                async move { scrape(&registry).await }
            }),
        )
        .fallback(|| async {
            (
                axum::http::StatusCode::NOT_FOUND,
                "metrics are at /metrics\n",
            )
        });
    let shutdown = async move { crate::web::stopped(&mut stop).await };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::error!("the metrics listener stopped: {e}");
    }
}

async fn scrape(registry: &Arc<Registry>) -> Response {
    let r = Arc::clone(registry);
    // The collector reads the store's index: off the async threads.
    let text = tokio::task::spawn_blocking(move || {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &r).map(|()| out)
    })
    .await;
    match text {
        Ok(Ok(out)) => {
            let mut r = out.into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            r
        }
        _ => (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "the metrics could not be read\n",
        )
            .into_response(),
    }
}
