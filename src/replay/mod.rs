//! Replaying collected OpenFlow state into a running replica: per bridge,
//! TLV map → groups → meters → flows, then counting what the replica holds
//! and reporting it. Bridges are independent and restored concurrently.

pub mod bridge;
pub mod load;

use crate::capture::flows::{self as captured, FlowPlan};
use crate::capture::DbKind;
use crate::ofp_text::valid_bridge_name;
use crate::ovsdb::bridges;
use crate::state::BridgeRestore;
use crate::workdir::Workdir;
use anyhow::{Context, Result};

/// What a replay did: per bridge, plus notes about the capture.
#[derive(Debug, Default)]
pub struct Replay {
    pub bridges: Vec<BridgeRestore>,
    pub notes: Vec<String>,
}

/// Restores whatever `restore_flows/` holds into the running replica and
/// records the result in the state file.
pub fn restore(workdir: &Workdir) -> Result<Replay> {
    let socket = workdir.db_socket(DbKind::Ovs);
    let db_bridges =
        bridges::bridges(&socket).with_context(|| format!("cannot read bridges from {}", socket.display()))?;
    let ovn_geneve = bridges::ovn_geneve_bridge(&socket)
        .with_context(|| format!("cannot read the Open_vSwitch table from {}", socket.display()))?;
    let names: Vec<String> = db_bridges.iter().map(|b| b.name.clone()).collect();
    let FlowPlan { bridges, mut notes } = captured::discover(&workdir.restore_flows_dir(), &names)?;
    let mut work = Vec::new();
    for (name, dumps) in bridges {
        match db_bridges.iter().find(|b| b.name == name) {
            Some(_) if !valid_bridge_name(&name) => {
                notes.push(format!("bridge name {name:?} is unsafe as a file name or argument; not restored"))
            }
            Some(db) => work.push((dumps, db.clone())),
            None => notes.push(format!("dumps for bridge {name}, which is not in the OVS database, were not restored")),
        }
    }
    let results: Vec<BridgeRestore> = std::thread::scope(|scope| {
        let handles: Vec<_> = work
            .iter()
            .map(|(dumps, db)| {
                let ovn_geneve = ovn_geneve.as_deref() == Some(db.name.as_str());
                scope.spawn(move || bridge::restore(workdir, dumps, db, ovn_geneve))
            })
            .collect();
        handles
            .into_iter()
            .zip(&work)
            .map(|(handle, (_, db))| {
                // One bridge's failure is reported with it; the others stand.
                let result = handle.join().unwrap_or_else(|_| Err(anyhow::anyhow!("bridge restore panicked")));
                result.unwrap_or_else(|e| BridgeRestore {
                    bridge: db.name.clone(),
                    error: Some(format!("{e:#}")),
                    ..Default::default()
                })
            })
            .collect()
    });
    workdir.update_state(|s| {
        if let Some(run) = &mut s.run {
            run.restore = results.clone();
        }
    })?;
    Ok(Replay { bridges: results, notes })
}

/// One line per bridge, e.g. `br-int: 42228/42228 flows, 12/12 groups,
/// 1/1 meters, TLV map 1 entry`.
pub fn summary(workdir: &Workdir, r: &BridgeRestore) -> String {
    if let Some(error) = &r.error {
        return format!("{}: not restored: {error}", r.bridge);
    }
    let mut line = format!("{}: {}/{} flows", r.bridge, r.flows.restored, r.flows.expected);
    if let Some(log) = &r.errors_log {
        let shown = log.strip_prefix(workdir.root()).unwrap_or(log);
        line.push_str(&format!(" ({} rejected, see {})", r.rejected, shown.display()));
    }
    line.push_str(&format!(
        ", {}/{} groups, {}/{} meters",
        r.groups.restored, r.groups.expected, r.meters.restored, r.meters.expected
    ));
    match r.tlv_entries {
        0 => {}
        1 => line.push_str(", TLV map 1 entry"),
        n => line.push_str(&format!(", TLV map {n} entries")),
    }
    if !r.placeholder_meters.is_empty() {
        let ids: Vec<String> = r.placeholder_meters.iter().map(u32::to_string).collect();
        line.push_str(&format!(
            "; placeholder meters {} (missing from the capture, they drop nothing)",
            ids.join(", ")
        ));
    }
    line
}
