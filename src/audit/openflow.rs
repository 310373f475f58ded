//! OpenFlow consistency of each collected bridge: flows that use groups or
//! meters the bridge's dumps lack (or no dump of them was collected), and,
//! when a replica restored the flows, what the replay rejected or replaced
//! with placeholders.

use super::flows::{self, Present};
use super::{AuditError, Check, Checked, Finding, Inputs, Severity};
use crate::capture::flows::{BridgeDumps, Dump};
use crate::quote::{self, shell};
use std::collections::BTreeSet;
use std::io;
use std::path::Path;

pub fn check(inputs: &Inputs) -> Result<Checked, AuditError> {
    if inputs.flows.is_empty() {
        return Ok(Err("no OpenFlow state collected".into()));
    }
    let mut findings = Vec::new();
    let mut flows_seen = 0;
    let mut unchecked = Vec::new();
    for dumps in inputs.flows.bridges.values() {
        let Some(dump) = dumps.flows.as_ref() else { continue };
        let read = |e| AuditError::Dump { path: dump.path.clone(), source: e };
        // Without a dump (ovs-save never dumps meters) nothing can be said.
        let groups = ids(dumps.groups.as_ref(), flows::group_ids)?;
        let meters = ids(dumps.meters.as_ref(), flows::meter_ids)?;
        for (what, ids) in [("groups", &groups), ("meters", &meters)] {
            if ids.is_none() {
                unchecked.push(format!("{what} of {}", shell(&dumps.bridge)));
            }
        }
        let index = flows::index(&dump.path, &groups, &meters, None).map_err(read)?;
        flows_seen += index.flows;
        for (what, missing) in [("group", &index.missing_groups), ("meter", &index.missing_meters)] {
            for (id, uses) in missing {
                findings.push(missing_finding(dumps, what, *id, uses));
            }
        }
    }
    for restore in &inputs.restore {
        findings.extend(restore_findings(restore));
    }
    let bridges = inputs.flows.bridges.len();
    let mut looked_at = format!("{flows_seen} flows on {bridges} bridge{}", super::plural(bridges));
    if !unchecked.is_empty() {
        looked_at.push_str(&format!("; not collected, so not checked: {}", unchecked.join(", ")));
    }
    Ok(Ok((looked_at, findings)))
}

/// The ids `read` finds in `dump` (`None` without a dump).
fn ids(dump: Option<&Dump>, read: fn(&Path) -> io::Result<BTreeSet<u32>>) -> Result<Present, AuditError> {
    dump.map(|dump| read(&dump.path).map_err(|source| AuditError::Dump { path: dump.path.clone(), source })).transpose()
}

fn missing_finding(dumps: &BridgeDumps, what: &str, id: u32, uses: &flows::Uses) -> Finding {
    let bridge = &dumps.bridge;
    Finding::new(
        Severity::Error,
        Check::Openflow,
        if what == "group" { "missing-group" } else { "missing-meter" },
        vec![bridge.clone(), id.to_string()],
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
