//! The bridges of a running Open_vSwitch database, as vswitchd and flow
//! replay need them, and which of them is OVN's integration bridge.

use super::client;
use std::io;
use std::path::Path;

#[derive(Debug, Clone)]
pub struct Bridge {
    pub name: String,
    /// Its `protocols` column (empty: every OpenFlow version allowed).
    pub protocols: Vec<String>,
    /// How many ports it has.
    pub ports: usize,
}

/// Every bridge, sorted by name.
pub fn bridges(socket: &Path) -> io::Result<Vec<Bridge>> {
    let rows = client::select(socket, "Open_vSwitch", "Bridge", &["name", "protocols", "ports"])?;
    let mut bridges: Vec<Bridge> = rows
        .iter()
        .map(|r| Bridge {
            name: r["name"].as_str().unwrap_or_default().to_string(),
            protocols: client::set_elements(&r["protocols"])
                .iter()
                .filter_map(|p| p.as_str().map(String::from))
                .collect(),
            ports: client::set_elements(&r["ports"]).len(),
        })
        .collect();
    bridges.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(bridges)
}

/// Every name `ovs-ofctl` could resolve in a flow when it accepts names:
/// interface (OpenFlow port) and flow table names, of every bridge.
pub fn openflow_names(socket: &Path) -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    for table in ["Interface", "Flow_Table"] {
        let rows = client::select(socket, "Open_vSwitch", table, &["name"])?;
        names.extend(
            rows.iter().flat_map(|r| client::set_elements(&r["name"])).filter_map(|n| n.as_str().map(String::from)),
        );
    }
    names.retain(|n| !n.is_empty());
    names.sort();
    names.dedup();
    Ok(names)
}

/// OVN's integration bridge (`external_ids:ovn-bridge`, default `br-int`)
/// when this node is an OVN chassis using geneve tunnels
/// (`external_ids:ovn-encap-type`): ovn-controller then installs its geneve
/// TLV mapping on that bridge.
pub fn ovn_geneve_bridge(socket: &Path) -> io::Result<Option<String>> {
    let rows = client::select(socket, "Open_vSwitch", "Open_vSwitch", &["external_ids"])?;
    let Some(ids) = rows.first().map(|r| &r["external_ids"]) else { return Ok(None) };
    let geneve = client::map_value(ids, "ovn-encap-type").is_some_and(|t| t.split(',').any(|t| t.trim() == "geneve"));
    Ok(geneve.then(|| client::map_value(ids, "ovn-bridge").unwrap_or("br-int").to_string()))
}
