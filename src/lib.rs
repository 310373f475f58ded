//! ovs-offline: rootless offline replicas of Open vSwitch / OVN nodes.
//!
//! The data path is the layout: [`collect`] brings evidence into the
//! [`workdir`] as a [`capture`]; [`ovsdb::prepare`] makes working copies;
//! [`replica`] runs the daemons under the [`supervisor`] inside the
//! [`sandbox`]; [`report`] and [`activate`] tell the user how to reach it.

pub mod activate;
pub mod capture;
pub mod cli;
pub mod collect;
pub mod commands;
pub mod ofp_text;
pub mod ovsdb;
pub mod replay;
pub mod replica;
pub mod report;
pub mod sandbox;
pub mod state;
pub mod supervisor;
pub mod tools;
pub mod workdir;
