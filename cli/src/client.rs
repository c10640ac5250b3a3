//! Connecting to the node's local API over its Unix socket, and what a
//! command holds while it talks to the node.

use std::path::{Path, PathBuf};

use hyper_util::rt::TokioIo;
use kp_proto::local as pb;
use kp_proto::local::local_client::LocalClient;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint};

/// The node's local API, connected.
pub(crate) type Api = LocalClient<Channel>;

/// What a command that talks to the node works with.
pub(crate) struct Ctx {
    /// The connection.
    pub(crate) api: Api,
    /// `--json`: print JSON instead of tables (see [`crate::output::emit`]).
    pub(crate) json: bool,
    /// `--author` (or `$KP_AUTHOR`); empty for the node's own setting.
    pub(crate) author: String,
}

/// A failed request, shown as the node's message alone (or kp's own, for a
/// message over a size limit).
pub(crate) fn refused(status: tonic::Status) -> anyhow::Error {
    match too_large(&status) {
        Some(msg) => anyhow::anyhow!("{msg}"),
        None => anyhow::anyhow!("{}", status.message()),
    }
}

/// No node answers on the data directory's socket.
#[derive(Debug)]
pub(crate) struct Unreachable {
    dir: PathBuf,
    reason: String,
}

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "no kpd is running on {} ({}); start one with `kpd run --data-dir {}`",
            self.dir.display(),
            self.reason,
            self.dir.display()
        )
    }
}

impl std::error::Error for Unreachable {}

/// Largest reply accepted (a big dataset shown in full), and the largest request
/// sent until the node has told its own limit.
const MAX_REPLY_BYTES: usize = 512 << 20;

/// Connects to the node whose data directory is `dir`.
pub(crate) async fn connect(dir: &Path) -> Result<Api, Unreachable> {
    let socket = dir.join(kp_proto::SOCKET_FILE);
    let unreachable = |reason: String| Unreachable {
        dir: dir.to_owned(),
        reason,
    };
    if !socket.exists() {
        return Err(unreachable(format!("no socket at {}", socket.display())));
    }
    // The URI is required by the API but unused: the connector below decides
    // where the bytes go.
    let endpoint = Endpoint::from_static("http://kpd.local");
    let path = socket.clone();
    let channel = endpoint
        .connect_with_connector(tower::service_fn(move |_| {
            let path = path.clone();
            async move { UnixStream::connect(path).await.map(TokioIo::new) }
        }))
        .await
        .map_err(|e| {
            let reason = std::error::Error::source(&e)
                .map(|s| s.to_string())
                .unwrap_or_else(|| e.to_string());
            unreachable(format!("{}: {reason}", socket.display()))
        })?;
    Ok(LocalClient::new(channel)
        .max_decoding_message_size(MAX_REPLY_BYTES)
        .max_encoding_message_size(MAX_REPLY_BYTES))
}

/// Asks the node for its size limits. This client then sends nothing larger
/// than the node's request limit, which [`check_request`] enforces before
/// sending (tonic's own check, as it encodes, would only break the stream).
pub(crate) async fn limits(api: &mut Api) -> anyhow::Result<pb::NodeLimits> {
    let s = api
        .status(pb::StatusRequest {})
        .await
        .map_err(refused)?
        .into_inner();
    let Some(limits) = s.limits else {
        anyhow::bail!(
            "this node (kpd {}) does not report its size limits; run a kpd of the same version as this kp",
            s.version
        );
    };
    let request = usize::try_from(limits.max_request_kib.saturating_mul(1024))
        .unwrap_or(usize::MAX)
        .min(MAX_REPLY_BYTES);
    *api = api.clone().max_encoding_message_size(request);
    Ok(limits)
}

/// Refuses a request larger than the node takes, before it is sent.
pub(crate) fn check_request(
    req: &impl prost::Message,
    limits: &pb::NodeLimits,
) -> anyhow::Result<()> {
    let limit = usize::try_from(limits.max_request_kib.saturating_mul(1024))
        .unwrap_or(usize::MAX)
        .min(MAX_REPLY_BYTES);
    let len = req.encoded_len();
    if len > limit {
        anyhow::bail!("{}", over_request(len, limit));
    }
    Ok(())
}

fn over_request(len: usize, limit: usize) -> String {
    format!(
        "the request is {} KiB, over this node's limit for any request: the limit is {} KiB; `[limits] max_request_kib` in kpd.toml raises it",
        len.div_ceil(1024),
        limit / 1024
    )
}

/// kp's own words for tonic's complaint that a message is over a size limit:
/// a request over the node's limit (refused by this client as it encodes it, or
/// by the node as it decodes it), or a reply over kp's. `None` for any other
/// status.
pub(crate) fn too_large(status: &tonic::Status) -> Option<String> {
    if !matches!(
        status.code(),
        tonic::Code::OutOfRange | tonic::Code::ResourceExhausted
    ) {
        return None;
    }
    // tonic says "Error, encoded (or decoded) message length too large: found
    // N bytes, the limit is: M bytes".
    let msg = status.message();
    let number_after = |key: &str| -> Option<usize> {
        let rest = &msg[msg.find(key)? + key.len()..];
        let end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        rest[..end].parse().ok()
    };
    let encoded = msg.contains("encoded message length too large");
    if !encoded && !msg.contains("decoded message length too large") {
        return None;
    }
    let found = number_after("found ");
    let limit = number_after("the limit is: ");
    // This client decodes replies with MAX_REPLY_BYTES; the node decodes
    // requests with its own limit.
    if !encoded && limit == Some(MAX_REPLY_BYTES) {
        return Some(format!(
            "the node's reply is over kp's limit for a reply ({} MiB); ask for less (`kp dataset show --limit N` shows the first N rows)",
            MAX_REPLY_BYTES >> 20
        ));
    }
    Some(match (found, limit) {
        (Some(found), Some(limit)) => over_request(found, limit),
        _ => "the request is over this node's limit for any request; `[limits] max_request_kib` in kpd.toml raises it".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tonics_size_complaints_are_worded_by_kp() {
        let node = tonic::Status::out_of_range(
            "Error, decoded message length too large: found 140012 bytes, the limit is: 131072 bytes",
        );
        assert_eq!(
            too_large(&node).as_deref(),
            Some(
                "the request is 137 KiB, over this node's limit for any request: the limit is 128 KiB; `[limits] max_request_kib` in kpd.toml raises it"
            )
        );
        let reply = tonic::Status::out_of_range(format!(
            "Error, decoded message length too large: found 600000000 bytes, the limit is: {MAX_REPLY_BYTES} bytes"
        ));
        let msg = too_large(&reply).unwrap();
        assert!(
            msg.starts_with("the node's reply is over kp's limit for a reply (512 MiB)"),
            "{msg}"
        );
        let odd = tonic::Status::resource_exhausted("encoded message length too large");
        let msg = too_large(&odd).unwrap();
        assert!(msg.contains("`[limits] max_request_kib`"), "{msg}");
        // The node's own refusals, and other codes, keep their words.
        let own = tonic::Status::resource_exhausted(
            "the text is 5000 KiB; the limit is 4096 KiB (limits.max_text_kib in kpd.toml)",
        );
        assert_eq!(too_large(&own), None);
        let other = tonic::Status::internal("decoded message length too large");
        assert_eq!(too_large(&other), None);
    }
}
