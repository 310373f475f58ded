//! A node's place in the overlay, from its capture alone (no replica
//! runs): the IPs it is reached at (its SB `Chassis`' `Encap` rows, the
//! chassis named as the OVS `external_ids:system-id`; the OVS
//! `external_ids:ovn-encap-ip`; and its tunnel interfaces'
//! `options:local_ip`, all a plain OVS node such as a Neutron OVS agent's
//! has), its tunnel interfaces (geneve, vxlan, stt, gre) per bridge with
//! their OpenFlow port, remote and local IP and keys, and the logical port
//! each VIF is bound to.

use crate::capture::manifest::{Manifest, ManifestError};
use crate::capture::DbKind;
use crate::ovsdb::rows::{self, Db, Row, RowsError};
use crate::workdir::{IoContext, Workdir, WorkdirError};
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::IpAddr;

#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    #[error(transparent)]
    Workdir(#[from] WorkdirError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Rows(#[from] RowsError),
    #[error("another ovs-offline is collecting into {}; trace when it has finished", crate::quote::path(.0))]
    Busy(std::path::PathBuf),
}

/// A tunnel's encapsulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TunnelKind {
    Geneve,
    Vxlan,
    Stt,
    Gre,
}

impl TunnelKind {
    fn of(interface_type: &str) -> Option<TunnelKind> {
        match interface_type {
            "geneve" => Some(TunnelKind::Geneve),
            "vxlan" => Some(TunnelKind::Vxlan),
            "stt" => Some(TunnelKind::Stt),
            "gre" => Some(TunnelKind::Gre),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            TunnelKind::Geneve => "geneve",
            TunnelKind::Vxlan => "vxlan",
            TunnelKind::Stt => "stt",
            TunnelKind::Gre => "gre",
        }
    }
}

/// Where a tunnel port sends to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "ip")]
pub enum Remote {
    /// `options:remote_ip=IP`.
    Ip(String),
    /// `options:remote_ip=flow`: the flow's `tun_dst` says.
    Flow,
}

/// A tunnel key (VNI) option: `in_key`/`out_key`, else `key`, else 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum Key {
    /// `flow`: the flow's `tun_id` says (sent) or is set to it (received).
    Flow,
    /// A fixed key: sent whatever `tun_id` is; only it is received.
    Fixed(u64),
}

impl Key {
    /// The key option `name` (`in_key`, `out_key`) of an interface;
    /// `None` for a value OVS refuses (the tunnel does not work).
    fn of(interface: &Row, name: &str) -> Option<Key> {
        let value = interface.map("options", name).or_else(|| interface.map("options", "key"));
        match value.map(str::trim) {
            Some("flow") => Some(Key::Flow),
            Some(value) => crate::ofp_text::number(value).map(Key::Fixed),
            None => Some(Key::Fixed(0)),
        }
    }

    /// True when a packet with `tun_id` is received on a port of this key.
    pub fn receives(self, tun_id: Option<u64>) -> bool {
        match self {
            Key::Flow => true,
            Key::Fixed(key) => key == tun_id.unwrap_or(0),
        }
    }
}

/// One tunnel interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tunnel {
    pub bridge: String,
    /// The interface name, as collected.
    pub name: String,
    pub kind: TunnelKind,
    pub ofport: Option<i64>,
    pub remote: Remote,
    /// `options:local_ip`.
    pub local_ip: Option<String>,
    /// The key it receives (`options:in_key`, else `key`).
    pub in_key: Key,
    /// The key it sends (`options:out_key`, else `key`).
    pub out_key: Key,
}

/// What the overlay knows of one node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Topology {
    /// `Open_vSwitch` `external_ids:system-id`.
    pub system_id: Option<String>,
    /// The IPs other nodes' tunnels reach this node at: the encap IPs,
    /// then its tunnels' local IPs.
    pub encap_ips: Vec<String>,
    pub tunnels: Vec<Tunnel>,
    /// Interfaces bound to a logical port (`external_ids:iface-id`): the
    /// logical port by interface name.
    pub logical_ports: BTreeMap<String, String>,
}

impl Topology {
    /// True when `ip` is one of this node's encap IPs.
    pub fn reached_at(&self, ip: &str) -> bool {
        self.encap_ips.iter().any(|mine| same_ip(mine, ip))
    }

    /// The tunnel interface of `bridge` with OpenFlow port `ofport`.
    pub fn tunnel_at(&self, bridge: &str, ofport: i64) -> Option<&Tunnel> {
        self.tunnels.iter().find(|t| t.bridge == bridge && t.ofport == Some(ofport))
    }

    /// The tunnel a packet of `kind` from `remote_ip` to `local_ip` with
    /// `tun_id` arrives on, as OVS picks it: of those whose key receives
    /// `tun_id` and whose `local_ip` is unset, `flow` or `local_ip`, the one whose
    /// remote IP is `remote_ip`, else one with `remote_ip=flow`.
    pub fn arrival(&self, kind: TunnelKind, remote_ip: &str, local_ip: &str, tun_id: Option<u64>) -> Option<&Tunnel> {
        let candidates = || {
            self.tunnels.iter().filter(move |t| {
                t.kind == kind
                    && t.in_key.receives(tun_id)
                    && t.local_ip.as_deref().is_none_or(|mine| mine == "flow" || same_ip(mine, local_ip))
            })
        };
        candidates()
            .find(|t| matches!(&t.remote, Remote::Ip(ip) if same_ip(ip, remote_ip)))
            .or_else(|| candidates().find(|t| t.remote == Remote::Flow))
    }

    /// The IP this node's tunnels send from: the tunnel's `local_ip`, else
    /// its first encap IP.
    pub fn source_ip(&self, tunnel: &Tunnel) -> Option<String> {
        tunnel.local_ip.clone().or_else(|| self.encap_ips.first().cloned())
    }
}

/// Two IP addresses as text are the same address (`::1` and `0::1`).
pub fn same_ip(a: &str, b: &str) -> bool {
    match (a.parse::<IpAddr>(), b.parse::<IpAddr>()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

const OVS_TABLES: &[&str] = &["Open_vSwitch", "Bridge", "Port", "Interface"];
const SB_TABLES: &[&str] = &["Chassis", "Encap"];

/// Reads the topology of the node captured in `workdir`.
pub fn read(workdir: &Workdir) -> Result<Topology, TopologyError> {
    // Held while reading: a collect cannot replace what is being read.
    let Some(_lock) = workdir.try_lock_collect()? else {
        return Err(TopologyError::Busy(workdir.root().to_path_buf()));
    };
    let manifest = Manifest::load(workdir)?;
    let scratch = tempfile::Builder::new()
        .prefix(".topology.")
        .tempdir_in(workdir.root())
        .at("create a scratch directory in", workdir.root())?;
    let read = |kind: DbKind, tables: &[&str]| {
        manifest.collected.get(&kind).map(|db| rows::read(workdir, kind, db, scratch.path(), tables)).transpose()
    };
    let ovs = read(DbKind::Ovs, OVS_TABLES)?;
    let sb = read(DbKind::OvnSb, SB_TABLES)?;
    Ok(from_dbs(ovs.as_ref(), sb.as_ref()))
}

/// The topology the OVS and SB rows give.
fn from_dbs(ovs: Option<&Db>, sb: Option<&Db>) -> Topology {
    let ovs_row = ovs.and_then(|db| db.rows("Open_vSwitch").first());
    let system_id = ovs_row.and_then(|r| r.map("external_ids", "system-id")).map(str::to_string);
    let mut encap_ips: Vec<String> = Vec::new();
    if let (Some(sb), Some(id)) = (sb, system_id.as_deref()) {
        let mine = sb.rows("Chassis").iter().filter(|c| c.str("name") == id).flat_map(|c| c.refs("encaps"));
        let ids: Vec<&str> = mine.collect();
        encap_ips.extend(sb.rows("Encap").iter().filter(|e| ids.contains(&e.uuid())).map(|e| e.str("ip").to_string()));
    }
    let configured = ovs_row.and_then(|r| r.map("external_ids", "ovn-encap-ip")).unwrap_or_default();
    encap_ips.extend(configured.split(',').map(str::trim).filter(|ip| !ip.is_empty()).map(str::to_string));
    let tunnels = ovs.map(tunnels).unwrap_or_default();
    // A node without OVN (a Neutron OVS agent's) is reached at its
    // tunnels' local IPs.
    let local_ips = tunnels.iter().filter_map(|t| t.local_ip.as_ref()).filter(|ip| ip.parse::<IpAddr>().is_ok());
    encap_ips.extend(local_ips.cloned());
    let mut unique = Vec::new();
    for ip in encap_ips {
        if !unique.iter().any(|u: &String| same_ip(u, &ip)) {
            unique.push(ip);
        }
    }
    let logical_ports = ovs
        .map(|db| {
            let bound =
                db.rows("Interface").iter().filter_map(|i| Some((i.str("name"), i.map("external_ids", "iface-id")?)));
            bound.map(|(name, port)| (name.to_string(), port.to_string())).collect()
        })
        .unwrap_or_default();
    Topology { system_id, encap_ips: unique, tunnels, logical_ports }
}

/// The tunnel interfaces of every bridge.
fn tunnels(db: &Db) -> Vec<Tunnel> {
    let find = |table: &str, uuid: &str| db.rows(table).iter().find(|r| r.uuid() == uuid);
    let mut found = Vec::new();
    for bridge in db.rows("Bridge") {
        let interfaces = bridge
            .refs("ports")
            .into_iter()
            .filter_map(|p| find("Port", p))
            .flat_map(|p| p.refs("interfaces"))
            .filter_map(|i| find("Interface", i));
        found.extend(interfaces.filter_map(|i| tunnel(bridge.str("name"), i)));
    }
    found
}

fn tunnel(bridge: &str, interface: &Row) -> Option<Tunnel> {
    let kind = TunnelKind::of(interface.str("type"))?;
    let remote = match interface.map("options", "remote_ip") {
        Some("flow") => Remote::Flow,
        Some(ip) => Remote::Ip(ip.to_string()),
        None => return None,
    };
    Some(Tunnel {
        bridge: bridge.to_string(),
        name: interface.str("name").to_string(),
        kind,
        ofport: interface.int("ofport"),
        remote,
        local_ip: interface.map("options", "local_ip").map(str::to_string),
        in_key: Key::of(interface, "in_key")?,
        out_key: Key::of(interface, "out_key")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(pairs: &[(&str, &str)]) -> serde_json::Value {
        json!(["map", pairs.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>()])
    }

    #[test]
    fn encap_ips_and_tunnels_of_a_chassis() {
        let ovs = Db::from_rows(vec![
            (
                "Open_vSwitch",
                vec![
                    json!({"external_ids": map(&[("system-id", "node-1"), ("ovn-encap-ip", "192.168.50.1, 10.1.1.1")])}),
                ],
            ),
            ("Bridge", vec![json!({"name": "br-int", "ports": ["set", [["uuid", "p1"], ["uuid", "p2"]]]})]),
            (
                "Port",
                vec![
                    json!({"_uuid": ["uuid", "p1"], "interfaces": ["uuid", "i1"]}),
                    json!({"_uuid": ["uuid", "p2"], "interfaces": ["uuid", "i2"]}),
                ],
            ),
            (
                "Interface",
                vec![
                    json!({"_uuid": ["uuid", "i1"], "name": "ovn-node-2-0", "type": "geneve", "ofport": 1,
                        "options": map(&[("remote_ip", "192.168.50.2"), ("key", "flow")])}),
                    json!({"_uuid": ["uuid", "i2"], "name": "pod1", "type": "internal", "ofport": 11,
                        "options": map(&[]), "external_ids": map(&[("iface-id", "ns_pod1")])}),
                ],
            ),
        ]);
        let sb = Db::from_rows(vec![
            (
                "Chassis",
                vec![
                    json!({"name": "node-1", "encaps": ["uuid", "e1"]}),
                    json!({"name": "node-2", "encaps": ["uuid", "e2"]}),
                ],
            ),
            (
                "Encap",
                vec![
                    json!({"_uuid": ["uuid", "e1"], "ip": "192.168.50.1", "type": "geneve"}),
                    json!({"_uuid": ["uuid", "e2"], "ip": "192.168.50.2", "type": "geneve"}),
                ],
            ),
        ]);
        let topology = from_dbs(Some(&ovs), Some(&sb));
        assert_eq!(topology.system_id.as_deref(), Some("node-1"));
        assert_eq!(topology.encap_ips, vec!["192.168.50.1", "10.1.1.1"]);
        assert_eq!(topology.tunnels.len(), 1);
        let tunnel = &topology.tunnels[0];
        assert_eq!((tunnel.kind, tunnel.ofport, tunnel.in_key), (TunnelKind::Geneve, Some(1), Key::Flow));
        assert_eq!(topology.tunnel_at("br-int", 1), Some(tunnel));
        assert_eq!(topology.arrival(TunnelKind::Geneve, "192.168.50.2", "192.168.50.1", Some(7)), Some(tunnel));
        assert_eq!(topology.arrival(TunnelKind::Vxlan, "192.168.50.2", "192.168.50.1", Some(7)), None);
        assert!(topology.reached_at("192.168.50.1") && !topology.reached_at("192.168.50.2"));
        assert_eq!(topology.source_ip(tunnel).as_deref(), Some("192.168.50.1"));
        assert_eq!(topology.logical_ports.get("pod1").map(String::as_str), Some("ns_pod1"));
    }

    /// A Neutron OVS agent's node: no OVN, br-tun with one vxlan port per
    /// peer (`in_key`/`out_key=flow`, `local_ip`) and a gre port of a fixed
    /// key; the node is reached at the tunnels' local IP.
    #[test]
    fn a_plain_ovs_node_is_reached_at_its_tunnels_local_ip() {
        let ovs = Db::from_rows(vec![
            ("Open_vSwitch", vec![json!({"external_ids": map(&[("hostname", "compute-1")])})]),
            (
                "Bridge",
                vec![json!({"name": "br-tun", "ports": ["set", [["uuid", "p1"], ["uuid", "p2"], ["uuid", "p3"]]]})],
            ),
            (
                "Port",
                vec![
                    json!({"_uuid": ["uuid", "p1"], "interfaces": ["uuid", "i1"]}),
                    json!({"_uuid": ["uuid", "p2"], "interfaces": ["uuid", "i2"]}),
                    json!({"_uuid": ["uuid", "p3"], "interfaces": ["uuid", "i3"]}),
                ],
            ),
            (
                "Interface",
                vec![
                    json!({"_uuid": ["uuid", "i1"], "name": "vxlan-0a0a0002", "type": "vxlan", "ofport": 2,
                        "options": map(&[("remote_ip", "10.10.0.2"), ("local_ip", "10.10.0.1"),
                            ("in_key", "flow"), ("out_key", "flow")])}),
                    json!({"_uuid": ["uuid", "i2"], "name": "gre-1", "type": "gre", "ofport": 3,
                        "options": map(&[("remote_ip", "10.10.0.3"), ("local_ip", "10.10.0.1"), ("key", "0x64")])}),
                    json!({"_uuid": ["uuid", "i3"], "name": "gre-bad", "type": "gre", "ofport": 4,
                        "options": map(&[("remote_ip", "10.10.0.4"), ("key", "many")])}),
                ],
            ),
        ]);
        let topology = from_dbs(Some(&ovs), None);
        assert_eq!(topology.system_id, None);
        assert_eq!(topology.encap_ips, vec!["10.10.0.1"]);
        assert!(topology.reached_at("10.10.0.1"));
        let names: Vec<&str> = topology.tunnels.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["vxlan-0a0a0002", "gre-1"], "a key OVS refuses: no working tunnel");
        let (vxlan, gre) = (&topology.tunnels[0], &topology.tunnels[1]);
        assert_eq!((vxlan.in_key, vxlan.out_key), (Key::Flow, Key::Flow));
        assert_eq!((gre.kind, gre.in_key, gre.out_key), (TunnelKind::Gre, Key::Fixed(100), Key::Fixed(100)));
        assert_eq!(topology.arrival(TunnelKind::Vxlan, "10.10.0.2", "10.10.0.1", Some(100)), Some(vxlan));
        assert_eq!(topology.arrival(TunnelKind::Vxlan, "10.10.0.2", "10.10.0.9", Some(100)), None, "another local IP");
        assert_eq!(topology.arrival(TunnelKind::Gre, "10.10.0.3", "10.10.0.1", Some(100)), Some(gre));
        assert_eq!(topology.arrival(TunnelKind::Gre, "10.10.0.3", "10.10.0.1", Some(5)), None, "another key");
        assert_eq!(topology.source_ip(vxlan).as_deref(), Some("10.10.0.1"));
    }
}
