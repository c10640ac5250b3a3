//! The kp node: identity, store, document model, and the local API that `kp`
//! talks to. The `kpd` binary is a thin shell over [`node`].

pub mod api;
pub mod authorship;
pub mod config;
pub mod identity;
pub mod ids;
pub mod model;
pub mod node;
pub mod peer_input;
pub mod peers;
pub mod plugins;
pub mod replicate;
pub mod repo;
pub mod service;
#[cfg(test)]
mod sim;
pub mod store;
pub mod transport;
