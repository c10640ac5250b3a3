//! `kp status`: the node's identity, settings and what it holds.

use kp_proto::local as pb;

use crate::client::{Ctx, refused};
use crate::output::emit;
use crate::render::table;

/// `kp status`.
pub(super) async fn handle(ctx: &mut Ctx) -> anyhow::Result<()> {
    let s = ctx
        .api
        .status(pb::StatusRequest {})
        .await
        .map_err(refused)?
        .into_inner();
    let peers = ctx
        .api
        .list_peers(pb::ListPeersRequest {})
        .await
        .map_err(refused)?
        .into_inner()
        .peers;
    let connected = peers.iter().filter(|p| p.connected).count();
    let partners = if peers.is_empty() {
        "none (kp peer add)".to_owned()
    } else {
        let (send, fetch): (u64, u64) = peers
            .iter()
            .filter(|p| p.connected)
            .fold((0, 0), |(s, f), p| {
                (s + p.documents_behind, f + p.documents_missing)
            });
        let state = if connected == 0 {
            String::new()
        } else if send == 0 && fetch == 0 && peers.iter().filter(|p| p.connected).all(|p| p.in_sync)
        {
            ", all in sync".to_owned()
        } else {
            format!(", {send} documents to send, {fetch} to fetch (kp peer list --watch)")
        };
        format!("{} pinned, {connected} connected{state}", peers.len())
    };
    emit(ctx.json, &s, |s| {
        let author = if s.default_author.is_empty() {
            "(none: pass --author or set KP_AUTHOR)".to_owned()
        } else {
            s.default_author.clone()
        };
        table(
            &["", ""],
            &[
                vec!["node id".into(), s.node_id.clone()],
                vec!["institution".into(), s.node_name.clone()],
                vec!["data dir".into(), s.data_dir.clone()],
                vec!["default author".into(), author],
                vec!["kpd version".into(), s.version.clone()],
                vec![
                    "web".into(),
                    if s.web_url.is_empty() {
                        s.web_error.clone()
                    } else {
                        format!("{} (accounts: kp user add)", s.web_url)
                    },
                ],
                vec![
                    "portal".into(),
                    match (s.portal_url.is_empty(), s.portal_error.is_empty()) {
                        (false, _) => format!("{} (public: [portal] spaces)", s.portal_url),
                        (true, false) => s.portal_error.clone(),
                        (true, true) => "off ([portal] listen in kpd.toml)".into(),
                    },
                ],
                vec![
                    "metrics".into(),
                    match (s.metrics_url.is_empty(), s.metrics_error.is_empty()) {
                        (false, _) => s.metrics_url.clone(),
                        (true, false) => s.metrics_error.clone(),
                        (true, true) => "off ([metrics] listen in kpd.toml)".into(),
                    },
                ],
                vec![
                    "partner listener".into(),
                    if s.peer_address.is_empty() {
                        "off: this node only dials ([peers] listen in kpd.toml)".into()
                    } else {
                        s.peer_address.clone()
                    },
                ],
                vec!["partners".into(), partners.clone()],
                vec!["incarnation".into(), s.incarnation.to_string()],
                vec!["up".into(), format!("{} s", s.uptime_secs)],
                vec![
                    "documents".into(),
                    format!(
                        "{} spaces, {} drafts, {} datasets ({} loaded)",
                        s.spaces, s.drafts, s.datasets, s.cached_documents
                    ),
                ],
                vec![
                    "store".into(),
                    format!("{} KiB on disk", s.store_bytes / 1024),
                ],
                vec![
                    "limits".into(),
                    s.limits.as_ref().map_or_else(String::new, |l| {
                        format!(
                            "text {} KiB, CSV {} KiB, plugin {} KiB, request {} KiB",
                            l.max_text_kib, l.max_csv_kib, l.max_wasm_kib, l.max_request_kib
                        )
                    }),
                ],
            ],
        );
        Ok(())
    })
}
