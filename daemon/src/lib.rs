//! The kp node: its configuration, the partner transport and the peers it keeps
//! sessions with, the local API that `kp` talks to, and the analysis plugins.
//! It is built on the layer crates beside it (`kp-core`, `kp-model`,
//! `kp-store`, `kp-repo`, `kp-sync`); the `kpd` binary is a thin shell over
//! [`node`].

mod accounts;
mod api;
pub mod backup;
pub mod config;
mod driver;
mod figures;
mod metrics;
pub mod node;
mod pdf;
pub mod peers;
mod plugins;
mod portal;
mod service;
#[cfg(test)]
mod sim;
pub mod transport;
mod web;
mod workspace;
