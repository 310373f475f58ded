//! The node the capture is of, as the checks need it: its chassis (by
//! `external_ids:system-id`), its integration bridge and the interfaces on
//! it, and the SB ports bound here.

use super::Inputs;
use crate::ovsdb::rows::{Db, Row};
use crate::quote::shell;
use std::collections::{HashMap, HashSet};

pub struct Node<'a> {
    /// `Open_vSwitch` `external_ids:system-id`.
    pub system_id: Option<&'a str>,
    /// The SB `Chassis` row of this node.
    pub chassis: Option<&'a Row>,
    /// `external_ids:ovn-bridge`, default `br-int`.
    pub integration_bridge: String,
    /// Interfaces on the integration bridge.
    pub br_int_interfaces: Vec<&'a Row>,
    /// SB `Chassis` rows by UUID.
    pub chassis_by_uuid: HashMap<&'a str, &'a Row>,
    /// SB `Port_Binding` rows by logical port.
    pub ports: HashMap<&'a str, &'a Row>,
}

impl<'a> Node<'a> {
    pub fn new(inputs: &'a Inputs) -> Node<'a> {
        let ovs_row = inputs.ovs.as_ref().and_then(|db| db.rows("Open_vSwitch").first());
        let system_id = ovs_row.and_then(|r| r.map("external_ids", "system-id"));
        let integration_bridge =
            ovs_row.and_then(|r| r.map("external_ids", "ovn-bridge")).unwrap_or("br-int").to_string();
        let br_int_interfaces =
            inputs.ovs.as_ref().map(|db| bridge_interfaces(db, &integration_bridge)).unwrap_or_default();
        let sb_rows = |table| inputs.sb.as_ref().map(|db| db.rows(table)).unwrap_or_default();
        let chassis_by_uuid: HashMap<&str, &Row> = sb_rows("Chassis").iter().map(|c| (c.uuid(), c)).collect();
        let chassis = system_id.and_then(|id| sb_rows("Chassis").iter().find(|c| c.str("name") == id));
        let ports = sb_rows("Port_Binding").iter().map(|p| (p.str("logical_port"), p)).collect();
        Node { system_id, chassis, integration_bridge, br_int_interfaces, chassis_by_uuid, ports }
    }

    /// True when the port binding's chassis (or one of its additional
    /// chassis) is this node.
    pub fn bound_here(&self, binding: &Row) -> bool {
        let Some(me) = self.chassis.map(Row::uuid) else { return false };
        binding.refs("chassis").contains(&me) || binding.refs("additional_chassis").contains(&me)
    }

    /// A chassis named for a message: its name, quoted (or its UUID).
    pub fn chassis_name(&self, uuid: &str) -> String {
        match self.chassis_by_uuid.get(uuid) {
            Some(c) => shell(c.str("name")),
            None => format!("(missing chassis {uuid})"),
        }
    }

    /// Why the checks that need this node's chassis cannot run, if they
    /// cannot.
    pub fn needs_chassis(&self, inputs: &Inputs) -> Result<&'a Row, String> {
        if inputs.ovs.is_none() {
            return Err("no Open_vSwitch database collected".into());
        }
        if inputs.sb.is_none() {
            return Err("no OVN_Southbound database collected".into());
        }
        let Some(id) = self.system_id else {
            return Err("the OVS database has no external_ids:system-id (not an OVN chassis)".into());
        };
        self.chassis.ok_or_else(|| format!("no SB Chassis named {} (this node's system-id)", shell(id)))
    }

    /// UUIDs of the datapaths local to this node: those with a port bound
    /// here, and those reached from them through patch ports (as
    /// ovn-controller's local datapaths).
    pub fn local_datapaths(&self, sb: &'a Db) -> HashSet<&'a str> {
        let mut local: HashSet<&str> =
            sb.rows("Port_Binding").iter().filter(|p| self.bound_here(p)).flat_map(|p| p.refs("datapath")).collect();
        let mut patches: HashMap<&str, Vec<&str>> = HashMap::new();
        for port in sb.rows("Port_Binding").iter().filter(|p| p.str("type") == "patch") {
            let peer = port.map("options", "peer").and_then(|peer| self.ports.get(peer));
            for (dp, peer_dp) in
                port.refs("datapath").into_iter().zip(peer.map(|p| p.refs("datapath")).unwrap_or_default())
            {
                patches.entry(dp).or_default().push(peer_dp);
            }
        }
        let mut todo: Vec<&str> = local.iter().copied().collect();
        while let Some(dp) = todo.pop() {
            for &next in patches.get(dp).into_iter().flatten() {
                if local.insert(next) {
                    todo.push(next);
                }
            }
        }
        local
    }
}

/// The interfaces of `bridge`'s ports.
fn bridge_interfaces<'a>(db: &'a Db, bridge: &str) -> Vec<&'a Row> {
    let by_uuid = |table| db.rows(table).iter().map(|r| (r.uuid(), r)).collect::<HashMap<&str, &Row>>();
    let (ports, interfaces) = (by_uuid("Port"), by_uuid("Interface"));
    let Some(bridge) = db.rows("Bridge").iter().find(|b| b.str("name") == bridge) else { return vec![] };
    bridge
        .refs("ports")
        .into_iter()
        .filter_map(|p| ports.get(p))
        .flat_map(|p| p.refs("interfaces"))
        .filter_map(|i| interfaces.get(i).copied())
        .collect()
}

impl Node<'_> {
    /// True when `name` (a chassis name or hostname, as `requested-chassis`
    /// takes it) is this node.
    pub fn is_me(&self, name: &str) -> bool {
        self.chassis.is_some_and(|c| c.str("name") == name || c.str("hostname") == name)
    }
}
