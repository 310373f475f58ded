//! The bridges of a running Open_vSwitch database, as vswitchd and flow
//! replay need them, and which of them is OVN's integration bridge.

use super::client;
use serde_json::Value;
use std::collections::BTreeMap;
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

/// The interfaces of `bridge` by OpenFlow port number (`ofport`, as the
/// running vswitchd assigned it), with their full names: OpenFlow port
/// descriptions cut names to 15 characters (`patch-ext-local` for
/// `patch-ext-localnet-to-br-int`), which `ovs-appctl fdb/add` does not
/// know. Interfaces without a port number are left out.
pub fn interfaces_by_ofport(socket: &Path, bridge: &str) -> io::Result<BTreeMap<u16, String>> {
    let bridges = client::select(socket, "Open_vSwitch", "Bridge", &["name", "ports"])?;
    let Some(row) = bridges.iter().find(|r| r["name"] == bridge) else { return Ok(BTreeMap::new()) };
    let ports = client::set_elements(&row["ports"]);
    let interfaces: Vec<Value> = client::select(socket, "Open_vSwitch", "Port", &["_uuid", "interfaces"])?
        .iter()
        .filter(|p| ports.contains(&p["_uuid"]))
        .flat_map(|p| client::set_elements(&p["interfaces"]))
        .collect();
    Ok(client::select(socket, "Open_vSwitch", "Interface", &["_uuid", "name", "ofport"])?
        .iter()
        .filter(|i| interfaces.contains(&i["_uuid"]))
        .filter_map(|i| {
            let ofport = client::set_elements(&i["ofport"]).first()?.as_u64()?;
            Some((u16::try_from(ofport).ok()?, i["name"].as_str()?.to_string()))
        })
        .collect())
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
