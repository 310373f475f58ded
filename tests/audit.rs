//! `ovs-offline audit` against live lab nodes: a healthy node and every sos
//! fixture audit clean; faults injected on a live node (ovn-controller
//! stopped while NB changes, flows deleted, an iface-id pointing nowhere, a
//! port claimed by another chassis, a port bound on two chassis at once
//! (`additional_chassis`), a missing and a stale tunnel, nb_cfg lag) are
//! each flagged precisely, and nothing else.

mod support;

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use support::{LabNode, Replica};

/// Collects the lab node as it is now (its three databases and an ovs-save
/// of its flows) into a fresh workdir and audits it: the exit code and
/// the JSON report.
fn audit(lab: &LabNode) -> (i32, Value) {
    let replica = Replica::new();
    replica.collect_lab(lab);
    let save = replica.base.path().join("save");
    lab.save_flows(&save);
    support::make_readable(&save);
    replica.ok(&[Path::new("collect-flows"), &save]);
    let out = replica.run(&["audit", "--json"]);
    let report: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    (out.status.code().unwrap_or(-1), report)
}

/// `(kind, objects)` of every finding.
fn findings(report: &Value) -> BTreeSet<(String, Vec<String>)> {
    let list = report["findings"].as_array().unwrap();
    list.iter()
        .map(|f| {
            let objects = f["objects"].as_array().unwrap().iter().map(|o| o.as_str().unwrap().to_string()).collect();
            (f["kind"].as_str().unwrap().to_string(), objects)
        })
        .collect()
}

fn kinds(report: &Value) -> BTreeSet<String> {
    findings(report).into_iter().map(|(k, _)| k).collect()
}

fn ofctl(lab: &LabNode, args: &[&str]) -> String {
    let mgmt = format!("unix:{}/br-int.mgmt", lab.var("LAB_OVS_RUNDIR"));
    let mut full = vec!["-O", "OpenFlow15"];
    full.extend(args.iter().take(1));
    full.push(&mgmt);
    full.extend(args.iter().skip(1));
    lab.tool("ovs-ofctl", &full)
}

/// Stops ovn-controller as lab-node.sh does (`exit --restart`: its chassis
/// and bindings stay in SB).
fn stop_controller(lab: &LabNode) {
    lab.tool("ovs-appctl", &["-t", lab.var("LAB_CONTROLLER_CTL"), "exit", "--restart"]);
    let pidfile = Path::new(lab.var("LAB_OVN_RUNDIR")).join("ovn-controller.pid");
    for _ in 0..100 {
        if !pidfile.exists() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("ovn-controller did not exit");
}

/// Waits until `ovn-sbctl lflow-list` shows `text` (northd caught up).
fn wait_for_lflow(lab: &LabNode, text: &str) {
    for _ in 0..100 {
        if lab.tool("ovn-sbctl", &["lflow-list"]).contains(text) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("no logical flow with {text:?}");
}

#[test]
fn a_healthy_lab_node_audits_clean() {
    let lab = LabNode::start();
    let (code, report) = audit(&lab);
    assert_eq!(findings(&report), BTreeSet::new(), "{report:#}");
    assert_eq!(code, 0);
    let lflows = &report["checks"][0];
    assert_eq!(lflows["outcome"], "ran", "{report:#}");
    assert!(lflows["looked_at"].as_str().unwrap().contains("of 4 local datapaths installed on br-int"), "{report:#}");
}

#[test]
fn every_sos_fixture_audits_clean() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sos");
    let mut archives: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".tar.xz"))
        .collect();
    archives.sort();
    assert!(archives.len() >= 5);
    for archive in archives {
        let replica = Replica::new();
        let copy = support::give(&archive, replica.base.path());
        replica.ok(&[Path::new("collect-sos"), &copy]);
        let out = replica.run(&["audit", "--json"]);
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        // Every finding would be a real property of the node: there is none.
        assert_eq!(findings(&report), BTreeSet::new(), "{}: {report:#}", archive.display());
        assert_eq!(out.status.code(), Some(0));
        let skipped = report["checks"].as_array().unwrap().iter().filter(|c| c["outcome"] == "skipped").count();
        // The logsize1 report holds no OVN databases (a worker's report
        // without its NB/SB): only the openflow check runs there.
        let expected = if archive.to_string_lossy().contains("logsize1") { 4 } else { 0 };
        assert_eq!(skipped, expected, "{}: {report:#}", archive.display());
    }
}

#[test]
fn faults_on_a_live_node_are_flagged_precisely() {
    let lab = LabNode::start();

    // 1. One logical flow's OpenFlow flows deleted behind ovn-controller.
    let lflow = lab.tool(
        "ovn-sbctl",
        &["--bare", "--columns=_uuid", "find", "Logical_Flow", "match=\"reg0[9] == 1 && (ip4 && tcp.dst == 22)\""],
    );
    let lflow = lflow.split_whitespace().next().expect("the web-ssh-drop ACL's logical flow").to_string();
    ofctl(&lab, &["del-flows", &format!("cookie=0x{}/-1", &lflow[..8])]);
    let (code, report) = audit(&lab);
    assert_eq!(code, 1);
    let deleted = findings(&report);
    assert_eq!(deleted.len(), 1, "{report:#}");
    let (kind, objects) = deleted.iter().next().unwrap();
    assert_eq!((kind.as_str(), objects[0].as_str(), objects[1].as_str()), ("missing-lflow", "ls-web", lflow.as_str()));

    // 2. ovn-controller stopped, then an ACL and a port added in NB: their
    // logical flows are missing, grouped by stage (the port's own flows
    // are not expected here: it is bound nowhere).
    stop_controller(&lab);
    lab.tool("ovn-nbctl", &["--name=db-dns", "acl-add", "ls-db", "to-lport", "950", "ip4 && udp.dst == 53", "allow"]);
    lab.tool("ovn-nbctl", &["lsp-add", "ls-web", "web3"]);
    wait_for_lflow(&lab, "udp.dst == 53");
    let (_, report) = audit(&lab);
    assert_eq!(kinds(&report), BTreeSet::from(["missing-lflow".to_string()]), "{report:#}");
    let added: Vec<_> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["message"].as_str().unwrap().contains("udp.dst == 53"))
        .collect();
    assert!(!added.is_empty(), "{report:#}");
    assert!(added.iter().all(|f| f["objects"][0] == "ls-db"), "{report:#}");
    assert!(added.iter().any(|f| f["message"].as_str().unwrap().contains("_acl")), "{report:#}");
    let summary = report["checks"][0]["looked_at"].as_str().unwrap();
    assert!(summary.contains("missing by stage:") && summary.contains("acl"), "{summary}");
    let before = findings(&report);

    // 3. nb_cfg lag: northd follows, this chassis' ovn-controller does not.
    lab.tool("ovn-nbctl", &["--wait=sb", "sync"]);
    let (_, report) = audit(&lab);
    let new: Vec<_> = findings(&report).difference(&before).cloned().collect();
    assert_eq!(new, [("controller-behind".to_string(), vec!["lab-chassis".to_string()])], "{report:#}");
    let lag = report["findings"].as_array().unwrap().iter().find(|f| f["kind"] == "controller-behind").unwrap();
    assert!(
        lag["message"].as_str().unwrap().contains("is 1 behind: Chassis_Private.nb_cfg 1, SB_Global.nb_cfg 2"),
        "{lag}"
    );
    let before = findings(&report);

    // 4. An interface's iface-id changed to a port that does not exist:
    // the interface names nothing, and web2 (still bound here) has no
    // interface.
    lab.tool("ovs-vsctl", &["set", "Interface", "vif2", "external_ids:iface-id=ghost"]);
    let (_, report) = audit(&lab);
    let new: BTreeSet<_> = findings(&report).difference(&before).cloned().collect();
    let expected = BTreeSet::from([
        ("iface-id-unknown".to_string(), vec!["vif2".to_string(), "ghost".to_string()]),
        ("binding-without-interface".to_string(), vec!["web2".to_string()]),
    ]);
    assert_eq!(new, expected, "{report:#}");
    let before = findings(&report);

    // 5. A remote chassis without its tunnel port, then a port it claims
    // while the interface is still here (bound to two chassis over time).
    // ovn-northd is stopped first: a new chassis makes it recompute, and
    // the logical flows it rewrites (new UUIDs) would rightly show as
    // missing and stale with ovn-controller down.
    lab.tool("ovs-appctl", &["-t", lab.var("LAB_NORTHD_CTL"), "exit"]);
    lab.tool("ovn-sbctl", &["chassis-add", "remote-1", "geneve", "127.0.0.2"]);
    let (_, report) = audit(&lab);
    let new: Vec<_> = findings(&report).difference(&before).cloned().collect();
    assert_eq!(new, [("missing-tunnel".to_string(), vec!["remote-1".to_string()])], "{report:#}");
    let before = findings(&report);
    let remote = lab.tool("ovn-sbctl", &["--bare", "--columns=_uuid", "find", "Chassis", "name=remote-1"]);
    lab.tool("ovn-sbctl", &["set", "Port_Binding", "db1", &format!("chassis={}", remote.trim())]);
    let (_, report) = audit(&lab);
    let new: Vec<_> = findings(&report).difference(&before).cloned().collect();
    assert_eq!(new, [("bound-elsewhere".to_string(), vec!["vif3".to_string(), "db1".to_string()])], "{report:#}");
    let claim = report["findings"].as_array().unwrap().iter().find(|f| f["kind"] == "bound-elsewhere").unwrap();
    assert!(claim["message"].as_str().unwrap().contains("bound to chassis remote-1"), "{claim}");
    let before = findings(&report);

    // 5b. A port bound here and, through additional_chassis, on remote-1
    // too: a double binding; the same with requested-chassis naming both is
    // a live migration (a warning).
    lab.tool("ovn-sbctl", &["set", "Port_Binding", "web1", &format!("additional_chassis={}", remote.trim())]);
    let (code, report) = audit(&lab);
    let new: Vec<_> = findings(&report).difference(&before).cloned().collect();
    let double =
        ("bound-to-several-chassis".to_string(), ["web1", "lab-chassis", "remote-1"].map(String::from).to_vec());
    assert_eq!(new, std::slice::from_ref(&double), "{report:#}");
    let several = |report: &Value| {
        report["findings"].as_array().unwrap().iter().find(|f| f["kind"] == "bound-to-several-chassis").unwrap().clone()
    };
    let found = several(&report);
    assert_eq!((code, found["severity"].as_str()), (1, Some("error")), "{found}");
    let message = found["message"].as_str().unwrap();
    assert!(message.contains("web1 is bound to 2 chassis at once: lab-chassis, remote-1"), "{message}");
    assert!(message.contains("no requested-chassis") && message.contains("not a requested migration"), "{message}");
    lab.tool("ovn-sbctl", &["set", "Port_Binding", "web1", "options:requested-chassis=lab-chassis,remote-1"]);
    let (_, report) = audit(&lab);
    let new: Vec<_> = findings(&report).difference(&before).cloned().collect();
    assert_eq!(new, [double], "{report:#}");
    let found = several(&report);
    assert_eq!(found["severity"], "warning", "{found}");
    assert!(found["message"].as_str().unwrap().contains("a live migration in progress"), "{found}");
    let before = findings(&report);

    // 6. A stale tunnel: a tunnel port to a chassis SB does not have.
    lab.tool(
        "ovs-vsctl",
        &[
            "add-port",
            "br-int",
            "ovn-gone-0",
            "--",
            "set",
            "Interface",
            "ovn-gone-0",
            "type=geneve",
            "options:remote_ip=127.0.0.9",
            "external_ids:ovn-chassis-id=gone",
        ],
    );
    let (_, report) = audit(&lab);
    let new: Vec<_> = findings(&report).difference(&before).cloned().collect();
    assert_eq!(new, [("stale-tunnel".to_string(), vec!["ovn-gone-0".to_string()])], "{report:#}");

    // The text form: one summary line per check, findings by severity.
    let replica = Replica::new();
    replica.collect_lab(&lab);
    let out = replica.run(&["audit", "--check", "tunnels,sync"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("tunnels   2 findings") && lines[1].starts_with("sync      1 finding"), "{text}");
    let errors = text.find("ERROR   tunnels: no tunnel port on br-int to chassis remote-1 (geneve 127.0.0.2)");
    let warnings = text.find("WARNING tunnels: tunnel port ovn-gone-0 (geneve to 127.0.0.9) (ovn-chassis-id gone)");
    assert!(errors.is_some() && warnings.is_some() && errors < warnings, "{text}");
}
