//! `kp peer`: partner nodes, who may connect and whom this node dials.

use clap::Subcommand;
use kp_proto::local as pb;
use serde_json::json;

use crate::client::{Ctx, refused};
use crate::output::emit;
use crate::render::{one_line, plural, table, time};

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
    /// List partner nodes: connected or not, last seen, traffic, whether every
    /// shared document is the same on both sides (SYNC: in sync, or how many
    /// documents the partner has yet to take and how many this node has yet
    /// to fetch), last error.
    #[command(after_help = "\
Examples:
  kp peer list
  kp peer list --watch     (until every connected partner is in sync, with a bar per catch-up)")]
    List {
        /// Follow the partners, a line each, until every connected one is in
        /// sync (at most --timeout seconds).
        #[arg(long)]
        watch: bool,
        /// With --watch: give up after this many seconds (exit 1).
        #[arg(long, default_value_t = 600, value_name = "SECONDS")]
        timeout: u64,
    },
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
        PeerCmd::List { watch, timeout } => {
            let mut list = peers(ctx).await?;
            if watch {
                list = follow(ctx, list, timeout).await?;
            }
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

async fn peers(ctx: &mut Ctx) -> anyhow::Result<pb::PeerList> {
    Ok(ctx
        .api
        .list_peers(pb::ListPeersRequest {})
        .await
        .map_err(refused)?
        .into_inner())
}

/// A partner's sync state in a few words.
fn sync_words(p: &pb::Peer) -> String {
    if p.in_sync {
        return format!(
            "in sync ({})",
            plural(p.documents_shared as usize, "document")
        );
    }
    if !p.connected && p.documents_shared == 0 {
        return "-".into();
    }
    let mut parts = Vec::new();
    if p.documents_behind > 0 {
        parts.push(format!("{} to send", p.documents_behind));
    }
    if p.documents_missing > 0 {
        parts.push(format!("{} to fetch", p.documents_missing));
    }
    if parts.is_empty() {
        "not connected".into()
    } else {
        parts.join(", ")
    }
}

/// A bar of `width` for `done` of `total`.
fn bar(done: u64, total: u64, width: usize) -> String {
    let filled = if total == 0 {
        width
    } else {
        (done.min(total) as usize * width) / total as usize
    };
    format!("[{}{}]", "#".repeat(filled), "-".repeat(width - filled))
}

/// Polls the partners until every connected one is in sync; a line each on
/// standard error (redrawn on a terminal), with a bar while one catches up.
async fn follow(
    ctx: &mut Ctx,
    mut list: pb::PeerList,
    timeout: u64,
) -> anyhow::Result<pb::PeerList> {
    use std::io::IsTerminal;
    let terminal = std::io::stderr().is_terminal();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(timeout);
    let mut drawn = 0usize;
    let mut last = String::new();
    loop {
        if list.peers.is_empty() {
            // Nothing to wait for.
            return Ok(list);
        }
        let connected: Vec<&pb::Peer> = list.peers.iter().filter(|p| p.connected).collect();
        let lines: Vec<String> = list
            .peers
            .iter()
            .map(|p| {
                let name = if p.name.is_empty() {
                    p.node_id.chars().take(10).collect()
                } else {
                    p.name.clone()
                };
                if p.catching_up_from > 0 {
                    let done = p.catching_up_from - p.documents_missing;
                    format!(
                        "{name}: catching up {} {done}/{} documents",
                        bar(done, p.catching_up_from, 20),
                        p.catching_up_from
                    )
                } else {
                    format!(
                        "{name}: {}",
                        if p.connected {
                            sync_words(p)
                        } else {
                            "not connected".into()
                        }
                    )
                }
            })
            .collect();
        let text = lines.join("\n");
        if terminal {
            if drawn > 0 {
                eprint!("\x1b[{drawn}A");
            }
            for l in &lines {
                eprintln!("\x1b[2K{l}");
            }
            drawn = lines.len();
        } else if text != last {
            eprintln!("{text}");
        }
        last = text;
        if !connected.is_empty() && connected.iter().all(|p| p.in_sync) {
            return Ok(list);
        }
        if std::time::Instant::now() >= deadline {
            anyhow::bail!(
                "not every connected partner is in sync after {timeout} s (kp peer list says where each stands)"
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        list = peers(ctx).await?;
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
                format!("{} / {}", p.edits_in, p.edits_out),
                format!("{} / {}", p.bytes_in, p.bytes_out),
                sync_words(p),
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
            "EDITS IN / OUT",
            "BYTES IN / OUT",
            "SYNC",
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
