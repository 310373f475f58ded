//! The ports of a running replica: per port its name, interface type as
//! collected and as the dummy datapath runs it, OpenFlow port, replica
//! datapath port (`ovs-appctl dpif/show` and the Interface table) and the
//! production node's datapath port when the capture has it (`dpctl/show`
//! of an sos report or a live collect, read by [`parse_dpctl_show`]). Datapath port numbers are
//! the replica's own: a trace's datapath actions name them, and
//! [`datapath_ports`] names them back, with production's numbers.

use super::{Running, TraceError};
use crate::ovsdb::client;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum PortsError {
    #[error("the replica has no bridge named {}; 'ovs-offline ports' lists its bridges", crate::quote::shell(.0))]
    NoBridge(String),
    #[error("cannot read the Interface table of the replica")]
    Interfaces(#[source] std::io::Error),
}

/// One port of a bridge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Port {
    pub bridge: String,
    pub name: String,
    /// The Interface's `type` as collected (`""`: system).
    pub collected_type: String,
    /// The type the dummy datapath runs it as (`dummy-internal`, …).
    pub run_type: String,
    /// The OpenFlow port number (`LOCAL` is 65534).
    pub ofport: Option<u32>,
    /// The replica's datapath port number.
    pub datapath_port: Option<u32>,
    /// The production node's datapath port number, when the capture has
    /// it (`dpctl/show` of an sos report or a live collect).
    pub production_datapath_port: Option<u32>,
}

/// Every port of the replica, or of `bridge`, by bridge then OpenFlow port.
pub fn ports(running: &Running, bridge: Option<&str>) -> Result<Vec<Port>, TraceError> {
    let mut ports = parse_dpif_show(&running.appctl(&["dpif/show"])?);
    if let Some(bridge) = bridge {
        ports.retain(|p| p.bridge == bridge);
        if ports.is_empty() {
            return Err(PortsError::NoBridge(bridge.to_string()).into());
        }
    }
    let types = match running.dbs.get(&crate::capture::DbKind::Ovs) {
        Some(socket) => interface_types(socket).map_err(PortsError::Interfaces)?,
        None => BTreeMap::new(),
    };
    for port in &mut ports {
        let replaced = running.replaced_types.get(&port.name);
        port.collected_type = replaced.or(types.get(&port.name)).cloned().unwrap_or_default();
        port.production_datapath_port = running.production_ports.get(&port.name).copied();
    }
    Ok(ports)
}

/// A replica datapath port a trace names, and what it is in production.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DatapathPort {
    /// The number in the replica's datapath actions.
    pub replica: u32,
    /// Its port, when the replica has one of that number.
    pub name: Option<String>,
    /// The same port's number on the production node, when captured.
    pub production: Option<u32>,
}

/// The replica's datapath ports `numbers`, named, with production's
/// number of each port when the capture has it.
pub fn datapath_ports(running: &Running, numbers: &[u32]) -> Result<Vec<DatapathPort>, TraceError> {
    let ports = parse_dpif_show(&running.appctl(&["dpif/show"])?);
    let name = |n: u32| ports.iter().find(|p| p.datapath_port == Some(n)).map(|p| p.name.clone());
    Ok(numbers
        .iter()
        .map(|&replica| {
            let name = name(replica);
            let production = name.as_ref().and_then(|n| running.production_ports.get(n).copied());
            DatapathPort { replica, name, production }
        })
        .collect())
}

/// Interface name → type, from the replica's database: as collected, but
/// for the interfaces `start` replaced by `dummy` ([`Running::replaced_types`]).
fn interface_types(socket: &std::path::Path) -> std::io::Result<BTreeMap<String, String>> {
    let rows = client::select(socket, "Open_vSwitch", "Interface", &["name", "type"])?;
    Ok(rows
        .iter()
        .filter_map(|r| Some((r["name"].as_str()?.to_string(), r["type"].as_str().unwrap_or_default().to_string())))
        .collect())
}

/// Reads `ovs-appctl dpif/show`:
///
/// ```text
/// system@ovs-system: hit:0 missed:0
///   br-int:
///     br-int 65534/5: (dummy-internal)
///     vif1 1/1: (dummy-internal)
///     patch-x 3/none: (patch: peer=patch-y)
/// ```
pub fn parse_dpif_show(text: &str) -> Vec<Port> {
    let mut ports = Vec::new();
    let mut bridge = None;
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        let line = line.trim();
        match indent {
            2 => bridge = line.strip_suffix(':').map(String::from),
            4.. => {
                if let (Some(bridge), Some(port)) = (&bridge, port_line(line)) {
                    ports.push(Port { bridge: bridge.clone(), ..port });
                }
            }
            _ => bridge = None,
        }
    }
    ports.sort_by(|a, b| (&a.bridge, a.ofport, &a.name).cmp(&(&b.bridge, b.ofport, &b.name)));
    ports
}

/// Reads `ovs-appctl dpctl/show` (with or without `-s`), as sos and the
/// live collectors collect it: datapath port number by port name. A last
/// line without its newline (the text was cut) is not read: its name may
/// be cut too.
///
/// ```text
/// system@ovs-system:
///   lookups: hit:0 missed:0 lost:0
///   port 0: ovs-system (internal)
///   port 2: vif1
/// ```
pub fn parse_dpctl_show(text: &str) -> BTreeMap<String, u32> {
    let whole = text.rfind('\n').map_or("", |end| &text[..end]);
    whole
        .lines()
        .filter_map(|line| {
            let (number, rest) = line.trim().strip_prefix("port ")?.split_once(": ")?;
            let name = match rest.strip_suffix(')') {
                Some(typed) => typed.rsplit_once(" (")?.0,
                None => rest,
            };
            Some((crate::quote::note(name), number.parse().ok()?))
        })
        .collect()
}

/// `NAME OFPORT/DPPORT: (TYPE…)`; the name may hold spaces.
fn port_line(line: &str) -> Option<Port> {
    let (head, kind) = line.rsplit_once(": (")?;
    let (name, numbers) = head.rsplit_once(' ')?;
    let (ofport, datapath_port) = numbers.split_once('/')?;
    let kind = kind.strip_suffix(')')?;
    let run_type = kind.split_once(':').map_or(kind, |(t, _)| t);
    Some(Port {
        bridge: String::new(),
        name: name.to_string(),
        collected_type: String::new(),
        run_type: run_type.to_string(),
        ofport: ofport.parse().ok(),
        datapath_port: datapath_port.parse().ok(),
        production_datapath_port: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpif_show_of_a_lab_replica() {
        let text = "system@ovs-system: hit:0 missed:0\n  br-ex:\n    br-ex 65534/8: (dummy-internal)\n    \
                    eth-lab0 1/7: (system)\n    patch-1 2/none: (patch: peer=patch-2)\n  br-int:\n    \
                    vif 2 2/2: (dummy-internal)\n    vif1 1/1: (dummy-internal)\n";
        let ports = parse_dpif_show(text);
        let row = |p: &Port| (p.bridge.clone(), p.name.clone(), p.run_type.clone(), p.ofport, p.datapath_port);
        let rows: Vec<_> = ports.iter().map(row).collect();
        let expect = |b: &str, n: &str, t: &str, of, dp| (b.to_string(), n.to_string(), t.to_string(), of, dp);
        assert_eq!(
            rows,
            vec![
                expect("br-ex", "eth-lab0", "system", Some(1), Some(7)),
                expect("br-ex", "patch-1", "patch", Some(2), None),
                expect("br-ex", "br-ex", "dummy-internal", Some(65534), Some(8)),
                expect("br-int", "vif1", "dummy-internal", Some(1), Some(1)),
                expect("br-int", "vif 2", "dummy-internal", Some(2), Some(2)),
            ]
        );
    }

    #[test]
    fn dpctl_show_of_an_sos_report() {
        let text = "system@ovs-system:\n  lookups: hit:0 missed:0 lost:0\n  flows: 0\n  port 0: ovs-system (dummy-internal)\n    \
                    RX packets:0 errors:? dropped:? overruns:? frame:?\n  port 2: ovn-chassi-0 (geneve: dst_port=6081)\n  \
                    port 3: vif 1\n  port 14: vif-10";
        let ports = parse_dpctl_show(text);
        let expect: BTreeMap<String, u32> =
            [("ovs-system", 0), ("ovn-chassi-0", 2), ("vif 1", 3)].map(|(n, p)| (n.to_string(), p)).into();
        assert_eq!(ports, expect, "the cut last line is not read");
        for hostile in ["", "port : (", "  port x: y\n", "port 1: \n", "port 99999999999: a\n"] {
            let _ = parse_dpctl_show(hostile);
        }
    }

    #[test]
    fn hostile_dpif_show() {
        for text in ["", "  :\n    : (\n", "  b:\n     1/: ()\n", "  b:\n    x y/z: (a:b:c)\n"] {
            let _ = parse_dpif_show(text);
        }
    }
}
