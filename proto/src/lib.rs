//! The protobuf messages and gRPC services of kp, generated at build time from
//! the `.proto` files beside this crate.

/// The local API: `kp` and the node's own daemon, over a Unix socket.
pub mod local {
    #![allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
    tonic::include_proto!("kp.local.v1");
}

/// Replication between partner nodes, over mutual TLS.
pub mod replication {
    #![allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
    tonic::include_proto!("kp.replication.v1");
}

/// The encoded `FileDescriptorSet` of both APIs, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/kp_descriptor.bin"));

use std::path::PathBuf;

/// The local API's socket, inside the node's data directory.
pub const SOCKET_FILE: &str = "kpd.sock";

/// The environment variable naming the node's data directory, for `kp` and
/// `kpd` alike.
pub const DATA_DIR_ENV: &str = "KP_DATA_DIR";

/// The data directory when neither `--data-dir` nor [`DATA_DIR_ENV`] names
/// one (relative to the working directory).
pub const DEFAULT_DATA_DIR: &str = "kp-data";

/// The data directory to use: `--data-dir` (`flag`), else `$KP_DATA_DIR`,
/// else `./kp-data`.
#[must_use]
pub fn resolve_data_dir(flag: Option<PathBuf>) -> PathBuf {
    // Set but empty counts as not set (not as the current directory).
    flag.or_else(|| {
        std::env::var_os(DATA_DIR_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    })
    .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR))
}
