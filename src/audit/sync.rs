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
    for (table, what) in
        [("Logical_Switch_Port", "logical switch port"), ("Logical_Router_Port", "logical router port")]
    {
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
    let looked_at =
        format!("nb_cfg NB {nb_cfg}, SB {sb_cfg}, {} chassis; {ports} NB ports", sb.rows("Chassis_Private").len());
    Ok((looked_at, findings))
}

fn finding(severity: Severity, kind: &'static str, objects: Vec<String>, message: String) -> Finding {
    Finding::new(severity, Check::Sync, kind, objects, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ovsdb::rows::Db;
    use serde_json::json;

    #[test]
    fn lag_is_measured_and_unbound_ports_named() {
        let nb = Db::from_rows(vec![
            ("NB_Global", vec![json!({"nb_cfg": 7})]),
            ("Logical_Switch_Port", vec![json!({"name": "p1"}), json!({"name": "new\nport"})]),
        ]);
        let sb = Db::from_rows(vec![
            ("SB_Global", vec![json!({"nb_cfg": 5})]),
            ("Chassis_Private", vec![json!({"name": "c1", "nb_cfg": 3}), json!({"name": "c2", "nb_cfg": 5})]),
            ("Port_Binding", vec![json!({"logical_port": "p1"})]),
        ]);
        let inputs = Inputs { ovs: None, nb: Some(nb), sb: Some(sb), flows: Default::default(), restore: vec![] };
        let (_, findings) = check(&inputs, &Node::new(&inputs)).unwrap();
        let messages: Vec<&str> = findings.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "ovn-northd is 2 behind: NB_Global.nb_cfg 7, SB_Global.nb_cfg 5",
                "ovn-controller of chassis c1 is 2 behind: Chassis_Private.nb_cfg 3, SB_Global.nb_cfg 5",
                "NB logical switch port $'new\\nport' has no SB Port_Binding (ovn-northd has not processed it)",
            ]
        );
    }
}
