//! The foundations every layer of a kp node builds on: who a node is
//! ([`identity`]), how documents, actors and ids minted inside documents are
//! named ([`ids`]), and how a change is proven to come from the node that
//! signed it ([`authorship`]).

pub mod authorship;
pub mod identity;
pub mod ids;
