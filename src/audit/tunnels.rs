//! Chassis ↔ tunnels: this chassis' own encaps in SB match its
//! `ovn-encap-type`/`ovn-encap-ip`; every other chassis it shares an encap
//! type (and a transport zone, when both name some) with has a tunnel port
//! on the integration bridge of that type with `options:remote_ip` one of
//! its encap IPs; a tunnel port whose remote IP (or `ovn-chassis-id`) is
//! no chassis' leads nowhere.

use super::node::Node;
use super::{Check, Checked, Finding, Inputs, Severity};
use crate::ovsdb::rows::Row;
use crate::quote::shell;
use std::collections::HashSet;

const TUNNEL_TYPES: &[&str] = &["geneve", "vxlan", "stt"];

pub fn check(inputs: &Inputs, node: &Node) -> Checked {
    let me = node.needs_chassis(inputs)?;
    let (Some(sb), Some(ovs)) = (inputs.sb.as_ref(), inputs.ovs.as_ref()) else {
        return Err("no OVN_Southbound or Open_vSwitch database collected".into());
    };
    let encaps: Vec<&Row> = sb.rows("Encap").iter().collect();
    let encaps_of = |chassis: &Row| -> Vec<(&str, &str)> {
        let ids = chassis.refs("encaps");
        encaps.iter().filter(|e| ids.contains(&e.uuid())).map(|e| (e.str("type"), e.str("ip"))).collect()
    };
    let mut findings = Vec::new();
    let ovs_row = ovs.rows("Open_vSwitch").first();
    let local_types: Vec<&str> = ovs_row
        .and_then(|r| r.map("external_ids", "ovn-encap-type"))
        .map(|t| t.split(',').map(str::trim).collect())
        .unwrap_or_default();
    let local_ips: Vec<&str> = ovs_row
        .and_then(|r| r.map("external_ids", "ovn-encap-ip"))
        .map(|t| t.split(',').map(str::trim).collect())
        .unwrap_or_default();
    let mine = encaps_of(me);
    for ty in &local_types {
        for ip in &local_ips {
            if !mine.contains(&(ty, ip)) {
                findings.push(finding(
                    Severity::Warning,
                    "own-encap-differs",
                    vec![me.str("name").into()],
                    format!(
                        "this chassis ({}) is configured with encap {ty} {} but its SB Chassis has {}",
                        shell(me.str("name")),
                        shell(ip),
                        describe(&mine)
                    ),
                ));
            }
        }
    }
    let tunnels: Vec<&Row> =
        node.br_int_interfaces.iter().copied().filter(|i| TUNNEL_TYPES.contains(&i.str("type"))).collect();
    let my_zones = zones(me);
    let mut remote_ips: HashSet<&str> = HashSet::new();
    let mut names: HashSet<&str> = HashSet::new();
    let mut expected = 0;
    for chassis in sb.rows("Chassis").iter().filter(|c| c.uuid() != me.uuid()) {
        let theirs = encaps_of(chassis);
        remote_ips.extend(theirs.iter().map(|(_, ip)| *ip));
        names.insert(chassis.str("name"));
        let shared: Vec<(&str, &str)> = theirs.iter().copied().filter(|(t, _)| local_types.contains(t)).collect();
        let their_zones = zones(chassis);
        let zoned_apart = !my_zones.is_empty() && !their_zones.is_empty() && my_zones.is_disjoint(&their_zones);
        if shared.is_empty() || zoned_apart {
            continue;
        }
        expected += 1;
        let reached = tunnels
            .iter()
            .any(|t| shared.contains(&(t.str("type"), t.map("options", "remote_ip").unwrap_or_default())));
        if !reached {
            findings.push(finding(
                Severity::Error,
                "missing-tunnel",
                vec![chassis.str("name").into()],
                format!(
                    "no tunnel port on {} to chassis {} ({})",
                    shell(&node.integration_bridge),
                    shell(chassis.str("name")),
                    describe(&shared)
                ),
            ));
        }
    }
    for tunnel in &tunnels {
        let remote = tunnel.map("options", "remote_ip").unwrap_or_default();
        let chassis_id = tunnel.map("external_ids", "ovn-chassis-id");
        let known_chassis = chassis_id.is_none_or(|id| names.contains(id.split('@').next().unwrap_or(id)));
        if remote == "flow" || (remote_ips.contains(remote) && known_chassis) {
            continue;
        }
        let chassis_text = chassis_id.map(|c| format!(" (ovn-chassis-id {})", shell(c))).unwrap_or_default();
        findings.push(finding(
            Severity::Warning,
            "stale-tunnel",
            vec![tunnel.str("name").into()],
            format!(
                "tunnel port {} ({} to {}){chassis_text} leads to no chassis in SB",
                shell(tunnel.str("name")),
                tunnel.str("type"),
                shell(remote)
            ),
        ));
    }
    let looked_at = format!(
        "{expected} remote chassis to reach, {} tunnel port{} on {}",
        tunnels.len(),
        super::plural(tunnels.len()),
        shell(&node.integration_bridge)
    );
    Ok((looked_at, findings))
}

fn finding(severity: Severity, kind: &'static str, objects: Vec<String>, message: String) -> Finding {
    Finding::new(severity, Check::Tunnels, kind, objects, message)
}

fn zones(chassis: &Row) -> HashSet<&str> {
    chassis.strs("transport_zones").into_iter().collect()
}

fn describe(encaps: &[(&str, &str)]) -> String {
    if encaps.is_empty() {
        return "no encap".into();
    }
    encaps.iter().map(|(t, ip)| format!("{t} {}", shell(ip))).collect::<Vec<_>>().join(", ")
}
