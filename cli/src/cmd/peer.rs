//! `kp peer`: partner nodes, who may connect and whom this node dials.

use clap::Subcommand;
use kp_proto::local as pb;
use serde_json::json;

use crate::client::{Ctx, refused};
use crate::output::emit;
use crate::render::{one_line, table, time};

#[derive(Debug, Subcommand)]
pub(super) enum PeerCmd {
    /// Pin a partner node by its id (from its `kp status`) and dial it at ADDRESS.
    ///
    /// Only pinned nodes may connect, and a node answering at ADDRESS with
    /// another key is refused. Without ADDRESS the partner may connect to this
    /// node but is not dialled. Adding a known peer changes its address.
    Add {
        /// The partner's node id.
        id: String,
        /// host:port where the partner accepts connections.
        address: Option<String>,
    },
    /// List partner nodes: connected or not, last seen, traffic, how many shared
    /// documents each has yet to catch up on (BEHIND), last error.
    List,
    /// Unpin a partner added with `kp peer add`, and disconnect it.
    Remove {
        /// The partner's node id.
        id: String,
    },
}

/// `kp peer …`.
pub(super) async fn handle(ctx: &mut Ctx, cmd: PeerCmd) -> anyhow::Result<()> {
    match cmd {
        PeerCmd::Add { id, address } => {
            let req = pb::AddPeerRequest {
                node_id: id,
                address: address.unwrap_or_default(),
            };
            let p = ctx.api.add_peer(req).await.map_err(refused)?.into_inner();
            emit(ctx.json, &p, |p| {
                if p.address.is_empty() {
                    outln!("pinned {}; it may connect to this node", p.node_id);
                } else {
                    outln!("pinned {}; dialling {}", p.node_id, p.address);
                }
                Ok(())
            })
        }
        PeerCmd::List => {
            let list = ctx
                .api
                .list_peers(pb::ListPeersRequest {})
                .await
                .map_err(refused)?
                .into_inner();
            emit(ctx.json, &list, print_peers)
        }
        PeerCmd::Remove { id } => {
            ctx.api
                .remove_peer(pb::RemovePeerRequest {
                    node_id: id.clone(),
                })
                .await
                .map_err(refused)?;
            emit(ctx.json, &json!({"node_id": id, "removed": true}), |_| {
                outln!("removed {id}");
                Ok(())
            })
        }
    }
}

/// The partner nodes as a table, and the fix for each refusal.
fn print_peers(list: &pb::PeerList) -> anyhow::Result<()> {
    if list.peers.is_empty() {
        outln!("no partner nodes; pin one with `kp peer add ID ADDRESS`");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = list
        .peers
        .iter()
        .map(|p| {
            vec![
                p.node_id.clone(),
                if p.name.is_empty() {
                    "-".into()
                } else {
                    p.name.clone()
                },
                if p.address.is_empty() {
                    "(accept only)".into()
                } else {
                    p.address.clone()
                },
                if p.connected {
                    "connected".into()
                } else {
                    "no".into()
                },
                time(p.last_seen),
                format!("{} / {}", p.bytes_in, p.bytes_out),
                p.documents_behind.to_string(),
                one_line(&p.last_error, 60),
            ]
        })
        .collect();
    table(
        &[
            "NODE",
            "INSTITUTION",
            "ADDRESS",
            "CONNECTED",
            "LAST SEEN",
            "BYTES IN / OUT",
            "BEHIND",
            "LAST ERROR",
        ],
        &rows,
    );
    // A refusal says what to run where, which the table's column cuts off.
    for p in list.peers.iter().filter(|p| p.refusal.is_some()) {
        outln!();
        outln!("{}", p.last_error);
    }
    Ok(())
}
