//! Logical flows ↔ installed flows. ovn-controller gives every OpenFlow
//! flow it compiles from an SB `Logical_Flow` the first 32 bits of the
//! flow's UUID as cookie (`controller/lflow.c`), so each logical flow of a
//! local datapath that compiles here shows as a cookie on br-int.
//!
//! A logical flow is expected here when one of its datapaths (its own, or
//! its `Logical_DP_Group`'s) is local, unless ovn-controller skips it by
//! design: its `tags:in_out_port` names a port not related to this chassis
//! (`lport_id_is_local`), or its match requires `is_chassis_resident()` of
//! a port resident elsewhere (the match is then false).
//!
//! A cookie on br-int is stale when no SB row it could come from exists.
//! Besides logical flows, ovn-controller uses the UUID prefix of: port
//! bindings (`physical.c`, `lflow.c` port-security flows), datapath
//! bindings, multicast groups and chassis (`physical.c`), MAC bindings and
//! static MAC bindings (`mac-cache.c`, neighbour flows), FDB entries and SB
//! load balancers (hairpin flows, `lflow.c`).

use super::flows::{uuid_cookie, FlowIndex};
use super::node::Node;
use super::{Check, Checked, Finding, Inputs, Severity};
use crate::ovsdb::rows::{Db, Row};
use crate::quote::shell;
use std::collections::{BTreeMap, HashMap, HashSet};

/// SB tables whose UUID prefix ovn-controller uses as a cookie, besides
/// `Logical_Flow`.
const COOKIE_SOURCES: &[&str] = &[
    "Port_Binding",
    "Datapath_Binding",
    "Multicast_Group",
    "Chassis",
    "MAC_Binding",
    "Static_MAC_Binding",
    "FDB",
    "Load_Balancer",
];

/// Port types ovn-controller counts as related to every chassis where
/// their datapath is local.
const RELATED_EVERYWHERE: &[&str] = &["patch", "localnet", "localport", "l2gateway"];

/// `index`: the integration bridge's flows, cookies outside
/// [`known_cookies`] kept apart.
pub fn check(inputs: &Inputs, node: &Node, index: Option<&FlowIndex>) -> Checked {
    node.needs_chassis(inputs)?;
    let Some(sb) = inputs.sb.as_ref() else { return Err("no OVN_Southbound database collected".into()) };
    let bridge = &node.integration_bridge;
    let Some(index) = index else {
        return Err(format!("no flow dump of {} collected", shell(bridge)));
    };
    let local = node.local_datapaths(sb);
    let groups: HashMap<&str, Vec<&str>> =
        sb.rows("Logical_DP_Group").iter().map(|g| (g.uuid(), g.refs("datapaths"))).collect();
    let names: HashMap<&str, &str> = sb.rows("Datapath_Binding").iter().map(|d| (d.uuid(), datapath_name(d))).collect();
    let mut missing: Vec<(&str, &Row)> = Vec::new();
    let mut expected = 0;
    for lflow in sb.rows("Logical_Flow") {
        let mut datapaths = lflow.refs("logical_datapath");
        for group in lflow.refs("logical_dp_group") {
            datapaths.extend(groups.get(group).into_iter().flatten());
        }
        let Some(dp) = datapaths.into_iter().find(|dp| local.contains(dp)) else { continue };
        if !compiles_here(lflow, node) {
            continue;
        }
        expected += 1;
        if !uuid_cookie(lflow.uuid()).is_some_and(|c| index.cookies.contains_key(&c)) {
            missing.push((names.get(dp).copied().unwrap_or(dp), lflow));
        }
    }
    missing.sort_by_key(|(dp, l)| (*dp, l.str("pipeline"), l.int("table_id"), -l.int("priority").unwrap_or(0)));
    let mut by_stage: BTreeMap<String, usize> = BTreeMap::new();
    let mut findings: Vec<Finding> = Vec::new();
    for (dp, lflow) in &missing {
        *by_stage.entry(stage(lflow)).or_default() += 1;
        findings.push(missing_finding(dp, lflow));
    }
    for (cookie, example) in &index.unknown_cookies {
        let flows = index.cookies.get(cookie).copied().unwrap_or_default();
        findings.push(Finding::new(
            Severity::Warning,
            Check::Lflows,
            "stale-cookie",
            vec![bridge.clone(), format!("{cookie:#x}")],
            format!(
                "cookie {cookie:#x} on {}: {flows} flow{} from no SB logical flow or other row OVN uses as a cookie \
                 (left by a deleted one?); first: {example}",
                shell(bridge),
                super::plural(flows as usize)
            ),
        ));
    }
    let mut looked_at = format!(
        "{} of {expected} logical flows of {} local datapaths installed on {}",
        expected - missing.len(),
        local.len(),
        shell(bridge)
    );
    if !by_stage.is_empty() {
        let stages: Vec<String> = by_stage.iter().map(|(s, n)| format!("{s} {n}")).collect();
        looked_at.push_str(&format!("; missing by stage: {}", stages.join(", ")));
    }
    Ok((looked_at, findings))
}

/// Cookies with a known source: every logical flow's, and the other rows'.
pub fn known_cookies(sb: &Db) -> HashSet<u32> {
    std::iter::once("Logical_Flow")
        .chain(COOKIE_SOURCES.iter().copied())
        .flat_map(|table| sb.rows(table))
        .filter_map(|row| uuid_cookie(row.uuid()))
        .collect()
}

/// False when ovn-controller skips the flow on this chassis by design.
fn compiles_here(lflow: &Row, node: &Node) -> bool {
    if let Some(port) = lflow.map("tags", "in_out_port") {
        let related =
            node.ports.get(port).is_some_and(|p| node.bound_here(p) || RELATED_EVERYWHERE.contains(&p.str("type")));
        if !related {
            return false;
        }
    }
    // A top-level conjunct `is_chassis_resident("p")` false here makes the
    // whole match false: ovn-controller installs nothing for it.
    top_level_conjuncts(lflow.str("match")).all(|term| match resident_test(term) {
        Some((port, wanted)) => node.ports.get(port).is_some_and(|p| node.bound_here(p)) == wanted,
        None => true,
    })
}

/// The terms of a match joined by `&&` outside parentheses and quotes.
fn top_level_conjuncts(matched: &str) -> impl Iterator<Item = &str> {
    let (mut depth, mut quoted, mut start) = (0i32, false, 0);
    let mut terms = Vec::new();
    let bytes = matched.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b'(' if !quoted => depth += 1,
            b')' if !quoted => depth -= 1,
            b'&' if !quoted && depth == 0 && bytes.get(i + 1) == Some(&b'&') && start <= i => {
                terms.push(&matched[start..i]);
                start = i + 2;
            }
            _ => {}
        }
    }
    terms.push(&matched[start.min(matched.len())..]);
    terms.into_iter().map(str::trim)
}

/// `is_chassis_resident("p")` → `(p, true)`, `!is_chassis_resident("p")`
/// → `(p, false)`; anything else `None`.
fn resident_test(term: &str) -> Option<(&str, bool)> {
    let (term, wanted) = match term.strip_prefix('!') {
        Some(rest) => (rest.trim_start(), false),
        None => (term, true),
    };
    let port = term.strip_prefix("is_chassis_resident(\"")?.strip_suffix("\")")?;
    (!port.contains('"')).then_some((port, wanted))
}

fn datapath_name(dp: &Row) -> &str {
    ["name", "logical-switch", "logical-router"].iter().find_map(|k| dp.map("external_ids", k)).unwrap_or(dp.uuid())
}

/// `ingress table 9 (ls_in_acl)`.
fn stage(lflow: &Row) -> String {
    let table = lflow.int("table_id").unwrap_or(-1);
    match lflow.map("external_ids", "stage-name") {
        Some(name) => format!("{} table {table} ({name})", lflow.str("pipeline")),
        None => format!("{} table {table}", lflow.str("pipeline")),
    }
}

fn missing_finding(datapath: &str, lflow: &Row) -> Finding {
    let cookie = uuid_cookie(lflow.uuid()).unwrap_or_default();
    Finding::new(
        Severity::Error,
        Check::Lflows,
        "missing-lflow",
        vec![datapath.to_string(), lflow.uuid().to_string()],
        format!(
            "logical flow {} (cookie {cookie:#x}) not installed: datapath {} {} priority {} match {} actions {}",
            lflow.uuid(),
            shell(datapath),
            stage(lflow),
            lflow.int("priority").unwrap_or_default(),
            shell(lflow.str("match")),
            shell(lflow.str("actions")),
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resident_tests_at_the_top_level_only() {
        let terms: Vec<&str> =
            top_level_conjuncts(r#"(ip4 || ip6) && outport == "a&&b" && !is_chassis_resident("p1") && x"#).collect();
        assert_eq!(terms, ["(ip4 || ip6)", r#"outport == "a&&b""#, r#"!is_chassis_resident("p1")"#, "x"]);
        assert_eq!(resident_test(terms[2]), Some(("p1", false)));
        assert_eq!(resident_test(r#"is_chassis_resident("cr-lr0")"#), Some(("cr-lr0", true)));
        assert_eq!(resident_test("ip4"), None);
    }
}
