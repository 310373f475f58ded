//! Replaying collected OpenFlow state into a running replica: per bridge,
//! TLV map → groups → meters → flows → MAC learning table, then counting
//! what the replica holds.
//! Bridges are independent and restored concurrently.
//!
//! Owns the replay step ([`run`]) and its result ([`report`]); neither
//! prints nor records anything: the caller records the report in the run
//! state and [`crate::report`] formats it. Bridges ovs-vswitchd refused
//! (see [`daemons::Refusal`]) are reported, never restored.

pub(crate) mod bridge;
pub(crate) mod fdb;
pub(crate) mod load;
pub mod report;

pub use report::{BridgeRestore, Count, ReplayReport};

use crate::capture::flows::{self as captured, BridgeDumps, FlowPlan};
use crate::capture::DbKind;
use crate::ofp_text::valid_bridge_name;
use crate::ovsdb::bridges::{self, Bridge};
use crate::replica::daemons;
use crate::workdir::Workdir;
use bridge::BridgeError;
use std::io;
use std::path::PathBuf;

/// Why nothing was replayed (a bridge's own failure is reported with it,
/// in [`BridgeRestore::error`]).
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("cannot read bridges from {}", socket.display())]
    Bridges {
        socket: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot read the Open_vSwitch table from {}", socket.display())]
    OpenVswitch {
        socket: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Reading `restore_flows/` failed.
    #[error(transparent)]
    Discover(#[from] crate::capture::flows::FlowsError),
}

/// Restores whatever `restore_flows/` holds into the running replica and
/// returns what each bridge got.
pub fn run(workdir: &Workdir) -> Result<ReplayReport, ReplayError> {
    let socket = workdir.db_socket(DbKind::Ovs);
    let db_bridges =
        bridges::bridges(&socket).map_err(|source| ReplayError::Bridges { socket: socket.clone(), source })?;
    let ovn_geneve = bridges::ovn_geneve_bridge(&socket)
        .map_err(|source| ReplayError::OpenVswitch { socket: socket.clone(), source })?;
    let names: Vec<String> = db_bridges.iter().map(|b| b.name.clone()).collect();
    let FlowPlan { bridges, mut notes } =
        captured::discover(&workdir.restore_flows_dir(), &names).map_err(ReplayError::Discover)?;
    let refused = refused(workdir, &names);
    let mut work = Vec::new();
    for (name, dumps) in bridges {
        match db_bridges.iter().find(|b| b.name == name) {
            _ if refused.iter().any(|r| r.bridge == name) => {}
            Some(_) if !valid_bridge_name(&name) => {
                notes.push(format!("bridge name {name:?} is unsafe as a file name or argument; not restored"))
            }
            Some(db) => work.push((dumps, db.clone())),
            None => notes.push(format!("dumps for bridge {name}, which is not in the OVS database, were not restored")),
        }
    }
    let mut bridges = restore_concurrently(workdir, &work, ovn_geneve.as_deref());
    bridges.extend(refused);
    Ok(ReplayReport { bridges, notes })
}

/// The bridges ovs-vswitchd refused, with what it said.
fn refused(workdir: &Workdir, names: &[String]) -> Vec<BridgeRestore> {
    let log = daemons::vswitchd_log(workdir);
    names
        .iter()
        .filter_map(|name| {
            let refusal = daemons::refusal(workdir, name, &log)?;
            Some(BridgeRestore { bridge: name.clone(), refused: Some(refusal.to_string()), ..Default::default() })
        })
        .collect()
}

/// Restores each bridge in a thread of its own; one bridge's failure is
/// reported with it, the others stand.
fn restore_concurrently(
    workdir: &Workdir,
    work: &[(BridgeDumps, Bridge)],
    ovn_geneve: Option<&str>,
) -> Vec<BridgeRestore> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = work
            .iter()
            .map(|(dumps, db)| {
                let ovn_geneve = ovn_geneve == Some(db.name.as_str());
                scope.spawn(move || bridge::restore(workdir, dumps, db, ovn_geneve))
            })
            .collect();
        handles
            .into_iter()
            .zip(work)
            .map(|(handle, (_, db))| {
                let result = handle.join().unwrap_or(Err(BridgeError::Panicked));
                result.unwrap_or_else(|e| BridgeRestore {
                    bridge: db.name.clone(),
                    error: Some(chain(&e)),
                    ..Default::default()
                })
            })
            .collect()
    })
}

/// An error and its causes, `: `-separated (as anyhow's `{:#}` prints them).
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cause = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_lists_every_cause() {
        let e = BridgeError::Read { path: "/x".into(), source: io::Error::other("gone") };
        assert_eq!(chain(&e), "cannot read /x: gone");
        assert_eq!(chain(&BridgeError::Panicked), "bridge restore panicked");
    }
}
