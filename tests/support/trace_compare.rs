//! Reading `ovs-appctl ofproto/trace` text for comparison across nodes:
//! the live chassis' own trace against a replica's (or a stitched hop's)
//! trace of the same flow, and the tunnel values a sending node's flows set.

use std::collections::BTreeMap;

/// Datapath port number → port name, from `ovs-appctl dpctl/show`.
pub fn datapath_ports(dpctl_show: &str) -> BTreeMap<String, String> {
    dpctl_show
        .lines()
        .filter_map(|l| l.trim().strip_prefix("port "))
        .filter_map(|l| l.split_once(": "))
        .map(|(n, rest)| (n.to_string(), rest.split(' ').next().unwrap_or(rest).to_string()))
        .collect()
}

/// A trace as two runs of it on equivalent nodes can be compared:
/// recirculation ids are allocated anew by every trace, datapath port
/// numbers are the node's own (a replica numbers its dummy datapath's ports
/// as it adds them: named here from `ports`), and OVN's `dec_ttl()` reads
/// back from dump text as `dec_ttl` (see tests/sosreport.rs).
pub fn comparable(trace: &str, ports: &BTreeMap<String, String>) -> String {
    let lines = trace.lines().map(|line| {
        let line = match line.strip_prefix("Datapath actions: ") {
            Some(actions) => format!("Datapath actions: {}", name_outputs(actions, ports)),
            None => line.to_string(),
        };
        without_recirc_ids(&line).replace("dec_ttl()", "dec_ttl")
    });
    lines.collect::<Vec<_>>().join("\n")
}

/// The top-level actions of a datapath actions line, each bare port number
/// replaced by its name.
fn name_outputs(actions: &str, ports: &BTreeMap<String, String>) -> String {
    let named: Vec<String> =
        split_top(actions).iter().map(|p| ports.get(*p).cloned().unwrap_or_else(|| p.to_string())).collect();
    named.join(",")
}

/// The comma-separated actions outside any parentheses.
fn split_top(actions: &str) -> Vec<&str> {
    let (mut depth, mut start, mut parts) = (0usize, 0usize, Vec::new());
    for (i, c) in actions.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&actions[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&actions[start..]);
    parts
}

/// The line with every `recirc_id=ID` and `recirc(ID` as `N`.
fn without_recirc_ids(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = ["recirc_id=", "recirc("].iter().filter_map(|m| rest.find(m).map(|i| i + m.len())).min() {
        out.push_str(&rest[..at]);
        let id = rest[at..].chars().take_while(|c| c.is_ascii_hexdigit() || *c == 'x').count();
        out.push('N');
        rest = &rest[at + id..];
    }
    out.push_str(rest);
    out
}

/// What OVN's flows of table 39 put in the tunnel: (tun_id,
/// tun_metadata0), the latter composed as the trace's steps leave it.
pub fn tunnel_values(trace: &str) -> (u32, u32) {
    match tunnel_settings(trace) {
        (id, Some(metadata)) => (id, metadata),
        (_, None) => panic!("no tun_metadata0 set:\n{trace}"),
    }
}

/// What a trace's flows put in the tunnel: tun_id (OVN's set_field, a
/// Neutron br-tun's `load:…->NXM_NX_TUN_ID[]` or `set_tunnel:`) and
/// tun_metadata0 (OVN only), as its steps leave them.
pub fn tunnel_settings(trace: &str) -> (u32, Option<u32>) {
    let hex = |s: &str| u32::from_str_radix(s.trim_start_matches("0x"), 16).unwrap();
    let (mut tun_id, mut egress, mut ingress) = (None, None, None);
    for line in trace.lines().map(str::trim) {
        let set_tun_id = line.strip_prefix("set_field:").and_then(|s| {
            s.strip_suffix("/0xffffff->tun_id").or(s.strip_suffix("->tun_id").filter(|v| !v.contains('/')))
        });
        let neutron = line
            .strip_prefix("set_tunnel:")
            .or(line.strip_prefix("load:").and_then(|s| s.strip_suffix("->NXM_NX_TUN_ID[]")));
        if let Some(v) = set_tun_id.or(neutron) {
            tun_id = Some(hex(v));
        } else if let Some(v) = line.strip_prefix("set_field:").and_then(|s| s.strip_suffix("->tun_metadata0")) {
            egress = Some(hex(v));
        } else if let Some(v) = line.strip_prefix("-> NXM_NX_TUN_METADATA0[16..30] is now ") {
            ingress = Some(hex(v));
        }
    }
    let Some(id) = tun_id else { panic!("no tun_id set:\n{trace}") };
    let metadata = match (egress, ingress) {
        (Some(egress), Some(ingress)) => Some(ingress << 16 | egress),
        (None, None) => None,
        _ => panic!("half the tun_metadata0 set:\n{trace}"),
    };
    (id, metadata)
}
