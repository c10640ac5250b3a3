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
