//! End to end: a live lab node, its databases collected, a replica started
//! as an unprivileged user, and the replica compared with the live node.

mod support;

use std::path::Path;
use std::process::Command;
use support::{process_alive, run_ok, stdout, LabNode, Replica};

/// Drops what legitimately differs between two running vswitchds.
fn normalise_vsctl_show(text: &str) -> String {
    text.lines().filter(|l| !l.trim_start().starts_with("is_connected")).collect::<Vec<_>>().join("\n")
}

fn status_field(pid: i32, field: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().to_string()
}

fn netns(pid: &str) -> std::path::PathBuf {
    std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap()
}

#[test]
fn replica_matches_live_node() {
    let lab = LabNode::start();
    let replica = Replica::new();
    replica.collect_lab(&lab);
    let collected: Vec<_> = ["conf.db", "ovnnb_db.db", "ovnsb_db.db"].map(|f| replica.base.path().join(f)).to_vec();
    let hashes: Vec<_> = collected.iter().map(|f| support::sha256(f)).collect();
    let out = replica.ok(&["start"]);
    assert!(out.contains("Offline OVS Debugging started"), "{out}");
    assert!(
        out.contains(&format!("* ovs ovsdb-server socket found at {}/var-run/ovs/db.sock", replica.workdir.display())),
        "{out}"
    );
    assert!(out.contains("/var-run/ovs/br-int.mgmt"), "{out}");

    assert_eq!(
        normalise_vsctl_show(&replica.tool("ovs-vsctl", &["show"])),
        normalise_vsctl_show(&lab.tool("ovs-vsctl", &["show"]))
    );
    let columns = ["--columns=name,type,ofport,external_ids", "list", "interface"];
    assert_eq!(replica.tool("ovs-vsctl", &columns), lab.tool("ovs-vsctl", &columns));
    for (tool, args) in [("ovn-nbctl", vec!["show"]), ("ovn-sbctl", vec!["show"]), ("ovn-sbctl", vec!["lflow-list"])] {
        assert_eq!(replica.tool(tool, &args), lab.tool(tool, &args), "{tool} {args:?}");
    }

    // Rootless and isolated: the daemons run as the test user, in a
    // network namespace that is not ours.
    let status = replica.status();
    assert_eq!(status["daemons"].as_array().unwrap().len(), 4, "{status}");
    for daemon in status["daemons"].as_array().unwrap() {
        let pid = daemon["pid"].as_i64().unwrap() as i32;
        assert_eq!(daemon["state"], "running");
        assert_eq!(status_field(pid, "Uid:"), support::test_uid().to_string(), "{daemon}");
        assert_ne!(netns(&pid.to_string()), netns("self"), "{daemon} shares our network namespace");
    }

    // The tutorial's commands, by pidfile and through bin/activate.
    assert!(replica.tool("ovs-appctl", &["-t", "ovs-vswitchd", "version"]).contains("ovs-vswitchd"));
    assert!(replica.ok(&["exec", "--", "ovs-appctl", "dpif/show"]).contains("br-int"));
    let script = format!(
        "set -e; source {}/bin/activate >/dev/null; test \"$OVS_OFFLINE_ENV\" = {w}; \
         ovs-vsctl show >/dev/null; ovs-ofctl dump-flows br-int >/dev/null; ovs-appctl dpif/show | grep -q br-int; \
         ovn-nbctl show | grep -q ls-web; ovn-sbctl lflow-list | grep -q Datapath; \
         ovsdb-client list-tables unix:{w}/var-run/ovs/db.sock | grep -q Bridge; \
         ovs-offline-deactivate; test -z \"${{OVS_OFFLINE_ENV-}}\"; echo done",
        replica.workdir.display(),
        w = replica.workdir.display()
    );
    assert_eq!(stdout(run_ok(Command::new("bash").arg("-c").arg(&script))).trim(), "done");
    // zsh, with no other `deactivate` around: ours is defined and restores
    // the variables it changed.
    let zsh = format!(
        "export OVN_NB_DB=before; source {}/bin/activate >/dev/null; ovn-nbctl show | grep -q ls-web; \
         test \"$OVN_NB_DB\" != before; deactivate; test \"$OVN_NB_DB\" = before; \
         test -z \"${{OVS_OFFLINE_ENV-}}\"; echo done",
        replica.workdir.display()
    );
    let out = run_ok(Command::new("zsh").arg("-c").arg(&zsh).env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"));
    assert_eq!(stdout(out).trim(), "done");
    let executed = Command::new("bash").arg(replica.workdir.join("bin/activate")).output().unwrap();
    assert!(!executed.status.success());
    assert!(String::from_utf8_lossy(&executed.stderr).contains("must be sourced"));

    // stop refuses from an activated shell, then stops everything.
    let refused = replica.cmd(&["stop"]).env("OVS_OFFLINE_ENV", &replica.workdir).output().unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("deactivate"));
    let pids = replica.pids();
    assert!(replica.ok(&["stop"]).contains("Offline OVS Debugging stopped"));
    for pid in pids {
        assert!(!process_alive(pid), "pid {pid} survived stop");
    }
    assert!(!replica.workdir.join("var-run").exists());
    assert!(!replica.workdir.join("bin/activate").exists());
    assert!(replica.workdir.join("db/ovs/conf.db").exists(), "collected data must survive stop");
    for (file, hash) in collected.iter().zip(hashes) {
        assert_eq!(support::sha256(file), hash, "{} was modified", file.display());
    }
    assert!(replica.ok(&["stop"]).contains("No replica running"));
    replica.ok(&["stop", "--purge"]);
    assert!(!replica.workdir.exists());
}

#[test]
fn two_replicas_run_side_by_side() {
    let lab = LabNode::start();
    let (a, b) = (Replica::new(), Replica::new());
    for replica in [&a, &b] {
        replica.collect_lab(&lab);
        replica.ok(&["start"]);
    }
    for replica in [&a, &b] {
        assert!(replica.tool("ovs-vsctl", &["list-br"]).contains("br-int"));
        assert!(replica.tool("ovn-nbctl", &["ls-list"]).contains("ls-web"));
    }
    let pids_a = a.pids();
    a.ok(&["stop"]);
    assert!(pids_a.iter().all(|&p| !process_alive(p)));
    assert!(b.tool("ovs-vsctl", &["list-br"]).contains("br-int"), "stopping one replica must not touch the other");
}

#[test]
fn clustered_databases_are_served_standalone() {
    let lab = LabNode::start();
    let replica = Replica::new();
    for (cmd, var, name) in
        [("collect-db-ovn-nb", "LAB_NB_DB_FILE", "nb.db"), ("collect-db-ovn-sb", "LAB_SB_DB_FILE", "sb.db")]
    {
        let clustered = replica.base.path().join(name);
        lab.clustered(lab.var(var), &clustered);
        std::fs::set_permissions(&clustered, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
        assert!(replica.ok(&[cmd, clustered.to_str().unwrap()]).contains("(clustered)"));
    }
    let out = replica.ok(&["start"]);
    assert!(out.contains("converted from a clustered (RAFT) database to standalone"), "{out}");
    assert_eq!(replica.tool("ovn-nbctl", &["show"]), lab.tool("ovn-nbctl", &["show"]));
    assert_eq!(replica.tool("ovn-sbctl", &["lflow-list"]), lab.tool("ovn-sbctl", &["lflow-list"]));
}

#[test]
fn dpdk_interfaces_become_dummy() {
    let lab = LabNode::start();
    lab.tool(
        "ovs-vsctl",
        &[
            "add-port",
            "br-ex",
            "dpdk0",
            "--",
            "set",
            "interface",
            "dpdk0",
            "type=dpdk",
            "ofport_request=7",
            "options:dpdk-devargs=0000:01:00.0",
            "--",
            "set",
            "open_vswitch",
            ".",
            "other_config:dpdk-init=true",
        ],
    );
    let replica = Replica::new();
    let conf = support::give(Path::new(lab.var("LAB_OVS_DB_FILE")), replica.base.path());
    replica.ok(&["collect-db-ovs", conf.to_str().unwrap()]);
    let out = replica.ok(&["start"]);
    assert!(out.contains("interface dpdk0: type dpdk replaced by dummy"), "{out}");
    assert!(out.contains("dpdk-init removed"), "{out}");
    assert_eq!(replica.tool("ovs-vsctl", &["get", "interface", "dpdk0", "type", "ofport"]), "dummy\n7\n");
    assert!(replica.tool("ovs-ofctl", &["-O", "OpenFlow13", "show", "br-ex"]).contains("7(dpdk0)"));
    assert!(!replica.tool("ovs-vsctl", &["get", "open_vswitch", ".", "other_config"]).contains("dpdk-init"));
}
