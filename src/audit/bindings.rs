//! Port bindings ↔ interfaces: every VIF port bound to this chassis has an
//! interface on the integration bridge with `external_ids:iface-id` naming
//! it and a valid ofport; every interface with an iface-id is bound here
//! (else: bound elsewhere, where; nowhere, and what `requested-chassis`
//! says; or no such port); interfaces with `error` or `ofport=-1`.

use super::node::Node;
use super::{Check, Checked, Finding, Inputs, Severity};
use crate::ovsdb::rows::Row;
use crate::quote::shell;
use std::collections::HashSet;

/// Port types an OVS interface (iface-id) binds; the others (patch,
/// chassisredirect, l3gateway, localnet…) have none.
const VIF_TYPES: &[&str] = &["", "virtual"];

pub fn check(inputs: &Inputs, node: &Node) -> Checked {
    node.needs_chassis(inputs)?;
    let Some(sb) = inputs.sb.as_ref() else { return Err("no OVN_Southbound database collected".into()) };
    let mut findings = Vec::new();
    let mut iface_ids = HashSet::new();
    for iface in &node.br_int_interfaces {
        if let Some(id) = iface.map("external_ids", "iface-id") {
            iface_ids.insert(id);
            findings.extend(interface_finding(iface, id, node));
        }
        findings.extend(health_finding(iface));
    }
    let bound_here: Vec<&Row> =
        sb.rows("Port_Binding").iter().filter(|p| node.bound_here(p) && VIF_TYPES.contains(&p.str("type"))).collect();
    for binding in &bound_here {
        let port = binding.str("logical_port");
        if !iface_ids.contains(port) {
            findings.push(finding(
                Severity::Error,
                "binding-without-interface",
                vec![port.into()],
                format!(
                    "port binding {} is bound to this chassis but no interface on {} has external_ids:iface-id={}",
                    shell(port),
                    shell(&node.integration_bridge),
                    shell(port)
                ),
            ));
        }
    }
    let looked_at = format!(
        "{} VIF port bindings on this chassis, {} interfaces with an iface-id on {}",
        bound_here.len(),
        iface_ids.len(),
        shell(&node.integration_bridge)
    );
    Ok((looked_at, findings))
}

fn finding(severity: Severity, kind: &'static str, objects: Vec<String>, message: String) -> Finding {
    Finding::new(severity, Check::Bindings, kind, objects, message)
}

/// What is wrong with the binding of an interface's iface-id, if anything.
fn interface_finding(iface: &Row, id: &str, node: &Node) -> Option<Finding> {
    let name = iface.str("name");
    let objects = vec![name.to_string(), id.to_string()];
    let Some(binding) = node.ports.get(id) else {
        return Some(finding(
            Severity::Error,
            "iface-id-unknown",
            objects,
            format!(
                "interface {}: external_ids:iface-id={} names no logical port (no SB Port_Binding)",
                shell(name),
                shell(id)
            ),
        ));
    };
    if node.bound_here(binding) {
        return bad_ofport(iface, id);
    }
    let requested = requested_chassis(binding);
    let requested_text = requested.map(|r| format!("; requested-chassis={}", shell(r))).unwrap_or_default();
    let chassis = binding.refs("chassis");
    let (severity, kind, message) = match chassis.first() {
        Some(other) => (
            Severity::Error,
            "bound-elsewhere",
            format!(
                "interface {} (iface-id {}) is here, but the port is bound to chassis {}{requested_text}",
                shell(name),
                shell(id),
                node.chassis_name(other)
            ),
        ),
        None => (
            if requested.is_some_and(|r| !node.is_me(r)) { Severity::Warning } else { Severity::Error },
            "bound-nowhere",
            format!(
                "interface {} (iface-id {}): the port is bound to no chassis{requested_text}",
                shell(name),
                shell(id)
            ),
        ),
    };
    Some(finding(severity, kind, objects, message))
}

/// `requested-chassis` of a port binding (its column, else its option).
fn requested_chassis(binding: &Row) -> Option<&str> {
    binding.map("options", "requested-chassis").filter(|r| !r.is_empty())
}

fn bad_ofport(iface: &Row, id: &str) -> Option<Finding> {
    // ofport -1 is reported by `health_finding`.
    let valid = iface.int("ofport").is_some_and(|p| p > 0 || p == -1);
    (!valid).then(|| {
        let ofport = iface.int("ofport").map(|p| p.to_string()).unwrap_or_else(|| "none".into());
        finding(
            Severity::Error,
            "bound-without-ofport",
            vec![iface.str("name").to_string(), id.to_string()],
            format!(
                "interface {} (iface-id {}) is bound here but has no OpenFlow port (ofport {ofport})",
                shell(iface.str("name")),
                shell(id)
            ),
        )
    })
}

/// An interface OVS could not open (`error` set, `ofport=-1`), whatever
/// its binding.
fn health_finding(iface: &Row) -> Option<Finding> {
    let error = iface.str("error");
    let failed = iface.int("ofport") == Some(-1);
    if error.is_empty() && !failed {
        return None;
    }
    let name = iface.str("name");
    let error = if error.is_empty() { String::new() } else { format!(", error {}", shell(error)) };
    Some(finding(
        Severity::Warning,
        "interface-error",
        vec![name.to_string()],
        format!(
            "interface {} failed in the production database: ofport {}{error}",
            shell(name),
            iface.int("ofport").unwrap_or(-1)
        ),
    ))
}
