//! Connecting to the node's local API over its Unix socket.

use std::path::{Path, PathBuf};

use hyper_util::rt::TokioIo;
use kp_proto::local::local_client::LocalClient;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint};

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

/// Largest reply accepted (a big dataset shown in full).
const MAX_REPLY_BYTES: usize = 512 << 20;

/// Connects to the node whose data directory is `dir`.
pub(crate) async fn connect(dir: &Path) -> Result<LocalClient<Channel>, Unreachable> {
    let socket = dir.join("kpd.sock");
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
