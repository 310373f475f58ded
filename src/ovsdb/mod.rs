//! Everything about OVSDB: the on-disk format ([`file`]), preparing the
//! working copies a replica serves ([`prepare`]), the installed schemas
//! ([`schema`]), a minimal JSON-RPC client for live servers ([`client`]) and
//! the bridges of a running OVS database ([`bridges`]), databases
//! rebuilt from `ovsdb-client -f list dump` text ([`rebuild`]) or from
//! OVN's `show`/`lflow-list`/`list` text ([`ovn_text`]), files whose
//! edited records get their length and SHA-1 again ([`rehash`]), and a
//! collected database's rows read without a replica ([`rows`]).

pub mod bridges;
pub mod client;
pub mod file;
pub mod ovn_text;
pub mod prepare;
pub mod rebuild;
pub mod rehash;
pub mod rows;
pub mod schema;
