//! Sync: `NB_Global.nb_cfg` (what the last `--wait` asked for) against
//! `SB_Global.nb_cfg` (what ovn-northd reached) and each chassis'
//! `Chassis_Private.nb_cfg` (what its ovn-controller reached): who is
//! behind, by how much; NB logical switch and router ports without an SB
//! `Port_Binding` (northd has not processed them).

use super::node::Node;
use super::{Check, Checked, Finding, Inputs, Severity};
use crate::quote::shell;
use std::collections::HashSet;

pub fn check(inputs: &Inputs, node: &Node) -> Checked {
    let (Some(nb), Some(sb)) = (inputs.nb.as_ref(), inputs.sb.as_ref()) else {
        return Err("needs both the OVN_Northbound and OVN_Southbound databases".into());
    };
    let mut findings = Vec::new();
    let nb_cfg = nb.rows("NB_Global").first().and_then(|r| r.int("nb_cfg")).unwrap_or(0);
    let sb_cfg = sb.rows("SB_Global").first().and_then(|r| r.int("nb_cfg")).unwrap_or(0);
    if sb_cfg < nb_cfg {
        findings.push(finding(
            Severity::Warning,
            "northd-behind",
            vec![],
            format!("ovn-northd is {} behind: NB_Global.nb_cfg {nb_cfg}, SB_Global.nb_cfg {sb_cfg}", nb_cfg - sb_cfg),
        ));
    }
    for private in sb.rows("Chassis_Private") {
        let cfg = private.int("nb_cfg").unwrap_or(0);
        if cfg >= sb_cfg {
            continue;
        }
        let name = private.str("name");
        let who = if node.system_id == Some(name) { " (this node)" } else { "" };
        findings.push(finding(
            if who.is_empty() { Severity::Warning } else { Severity::Error },
            "controller-behind",
            vec![name.into()],
            format!(
                "ovn-controller of chassis {}{who} is {} behind: Chassis_Private.nb_cfg {cfg}, SB_Global.nb_cfg {sb_cfg}",
                shell(name),
                sb_cfg - cfg
            ),
        ));
    }
    let bound: HashSet<&str> = sb.rows("Port_Binding").iter().map(|p| p.str("logical_port")).collect();
    let mut ports = 0;
    for (table, what) in [("Logical_Switch_Port", "logical switch port"), ("Logical_Router_Port", "logical router port")] {
        for port in nb.rows(table) {
            ports += 1;
            let name = port.str("name");
            if !bound.contains(name) {
                findings.push(finding(
                    Severity::Warning,
                    "port-without-binding",
                    vec![name.into()],
                    format!("NB {what} {} has no SB Port_Binding (ovn-northd has not processed it)", shell(name)),
                ));
            }
        }
    }
    let looked_at = format!("nb_cfg NB {nb_cfg}, SB {sb_cfg}, {} chassis; {ports} NB ports", sb.rows("Chassis_Private").len());
    Ok((looked_at, findings))
}

fn finding(severity: Severity, kind: &'static str, objects: Vec<String>, message: String) -> Finding {
    Finding::new(severity, Check::Sync, kind, objects, message)
}
