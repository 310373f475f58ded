//! ovs-offline: rootless offline replicas of Open vSwitch / OVN nodes.
//!
//! The data path is the layout: [`collect`] brings evidence into the
//! [`workdir`] as a [`capture`]; [`ovsdb::prepare`] makes working copies;
//! [`replica`] runs the daemons under the [`supervisor`] inside the
//! [`sandbox`]; [`report`] and [`activate`] tell the user how to reach it.

//!
//! The binary (`src/main.rs`, with the command line and one printing
//! function per subcommand) uses the public modules; the rest is the
//! crate's own.

pub mod activate;
pub mod audit;
pub mod capture;
pub mod cluster;
pub mod collect;
pub(crate) mod digest;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub(crate) mod ofp_text;
pub(crate) mod ovsdb;
pub mod progress;
pub mod quote;
pub mod replay;
pub mod replica;
pub mod report;
pub(crate) mod sandbox;
pub mod state;
pub mod supervisor;
pub(crate) mod tools;
pub mod trace;
pub mod workdir;
