//! Everything about OVSDB: the on-disk format ([`file`]), preparing the
//! working copies a replica serves ([`prepare`]), the installed schemas
//! ([`schema`]) and a minimal JSON-RPC client for live servers ([`client`]).

pub mod client;
pub mod file;
pub mod prepare;
pub mod schema;
