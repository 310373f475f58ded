//! Port bindings ↔ interfaces: every VIF port bound to this chassis has an
//! interface on the integration bridge with `external_ids:iface-id` naming
//! it and a valid ofport; every interface with an iface-id is bound here
//! (else: bound elsewhere, where; nowhere, and what `requested-chassis`
//! says; or no such port); interfaces with `error` or `ofport=-1`; a port
//! bound here and on another chassis at once (`chassis` and
//! `additional_chassis`): a live migration when `requested-chassis` names
//! them all, else a double binding.

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
        findings.extend(several_chassis_finding(binding, node));
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

/// A port binding bound to more than one chassis (`chassis` and
/// `additional_chassis`), if it is: a warning while `requested-chassis`
/// names them all (a live migration), else an error.
fn several_chassis_finding(binding: &Row, node: &Node) -> Option<Finding> {
    let mut chassis: Vec<&str> = Vec::new();
    for uuid in binding.refs("chassis").into_iter().chain(binding.refs("additional_chassis")) {
        if !chassis.contains(&uuid) {
            chassis.push(uuid);
        }
    }
    if chassis.len() < 2 {
        return None;
    }
    let port = binding.str("logical_port");
    let requested = requested_chassis(binding);
    // `requested-chassis` lists chassis names or hostnames, by commas.
    let is_requested = |uuid: &&str| match (requested, node.chassis_by_uuid.get(uuid)) {
        (Some(r), Some(c)) => r.split(',').map(str::trim).any(|n| n == c.str("name") || n == c.str("hostname")),
        _ => false,
    };
    let migrating = chassis.iter().all(is_requested);
    let names: Vec<String> = chassis.iter().map(|uuid| node.chassis_name(uuid)).collect();
    let requested_text =
        requested.map(|r| format!("requested-chassis={}", shell(r))).unwrap_or("no requested-chassis".into());
    let (severity, why) = match migrating {
        true => (Severity::Warning, "a live migration in progress: the port gets its traffic on each until it ends"),
        false => (Severity::Error, "not a requested migration: the chassis compete for the port"),
    };
    let mut objects = vec![port.to_string()];
    objects
        .extend(chassis.iter().map(|uuid| node.chassis_by_uuid.get(uuid).map_or(*uuid, |c| c.str("name")).to_string()));
    Some(finding(
        severity,
        "bound-to-several-chassis",
        objects,
        format!(
            "port binding {} is bound to {} chassis at once: {} (chassis, then additional_chassis; {requested_text}): {why}",
            shell(port),
            chassis.len(),
            names.join(", ")
        ),
    ))
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
