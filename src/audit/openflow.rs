//! OpenFlow consistency of each collected bridge: flows that use groups or
//! meters the bridge's dumps lack, and, when a replica restored the flows,
//! what the replay rejected or replaced with placeholders.

use super::flows::{BridgeIndex, Uses};
use super::{Check, Checked, Finding, Inputs, Severity};
use crate::quote::{self, shell};
use std::collections::BTreeMap;

pub fn check(inputs: &Inputs, indexes: &BTreeMap<String, BridgeIndex>) -> Checked {
    if inputs.flows.is_empty() {
        return Err("no OpenFlow state collected".into());
    }
    let mut findings = Vec::new();
    let mut unchecked = Vec::new();
    for (bridge, BridgeIndex { index, unchecked: lacking }) in indexes {
        unchecked.extend(lacking.iter().map(|what| format!("{what} of {}", shell(bridge))));
        for (what, missing) in [("group", &index.missing_groups), ("meter", &index.missing_meters)] {
            for (id, uses) in missing {
                findings.push(missing_finding(bridge, what, *id, uses));
            }
        }
    }
    for restore in &inputs.restore {
        findings.extend(restore_findings(restore));
    }
    let flows: usize = indexes.values().map(|b| b.index.flows).sum();
    let bridges = indexes.len();
    let mut looked_at = format!("{flows} flows on {bridges} bridge{}", super::plural(bridges));
    if !unchecked.is_empty() {
        looked_at.push_str(&format!("; not collected, so not checked: {}", unchecked.join(", ")));
    }
    Ok((looked_at, findings))
}

fn missing_finding(bridge: &str, what: &str, id: u32, uses: &Uses) -> Finding {
    Finding::new(
        Severity::Error,
        Check::Openflow,
        if what == "group" { "missing-group" } else { "missing-meter" },
        vec![bridge.to_string(), id.to_string()],
        format!(
            "{} flow{} on {} use {what} {id}, which the {what} dump lacks; first: {}",
            uses.flows,
            super::plural(uses.flows),
            shell(bridge),
            uses.example
        ),
    )
}

fn restore_findings(restore: &crate::state::BridgeRestore) -> Vec<Finding> {
    let bridge = &restore.bridge;
    let log = restore.errors_log.as_ref().map(|p| format!(" (see {})", quote::path(p))).unwrap_or_default();
    let mut findings = Vec::new();
    if restore.rejected > 0 {
        findings.push(Finding::new(
            Severity::Warning,
            Check::Openflow,
            "replay-rejected",
            vec![bridge.clone()],
            format!("the replay into the replica rejected {} lines of {}{log}", restore.rejected, shell(bridge)),
        ));
    }
    for (what, ids) in [("groups", &restore.placeholder_groups), ("meters", &restore.placeholder_meters)] {
        if !ids.is_empty() {
            let ids: Vec<String> = ids.iter().map(u32::to_string).collect();
            findings.push(Finding::new(
                Severity::Warning,
                Check::Openflow,
                "replay-placeholder",
                vec![bridge.clone()],
                format!("the replay into the replica gave {} placeholder {what} {}", shell(bridge), ids.join(", ")),
            ));
        }
    }
    findings
}
