//! End to end: a live lab node, its databases collected, a replica started
//! as an unprivileged user, and the replica compared with the live node.

mod support;

use std::path::Path;
use std::process::Command;
use support::{process_alive, run_ok, stdout, LabNode, Replica};

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
        support::normalise_vsctl_show(&replica.tool("ovs-vsctl", &["show"])),
        support::normalise_vsctl_show(&lab.tool("ovs-vsctl", &["show"]))
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

/// Every command of the tutorial's "Debugging Methods" section, spelled as
/// the tutorial spells it (sockets and control file given explicitly).
#[test]
fn tutorial_debugging_commands_work() {
    let lab = LabNode::start();
    let replica = Replica::new();
    replica.collect_lab(&lab);
    replica.ok(&["start"]);
    let w = replica.workdir.display().to_string();
    let ctl = replica.status()["daemons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "ovs-vswitchd")
        .map(|d| format!("{w}/var-run/ovs/ovs-vswitchd.{}.ctl", d["pid"]))
        .unwrap();
    let (ovs, nb, sb) = (
        format!("unix:{w}/var-run/ovs/db.sock"),
        format!("unix:{w}/var-run/ovn_nb/db.sock"),
        format!("unix:{w}/var-run/ovn_sb/db.sock"),
    );
    let mgmt = |br: &str| format!("{w}/var-run/ovs/{br}.mgmt");
    let router = lab.tool("ovn-nbctl", &["--bare", "--columns=_uuid", "find", "logical_router", "name=lr0"]);
    let switch = lab.tool("ovn-nbctl", &["--bare", "--columns=_uuid", "find", "logical_switch", "name=ls-web"]);
    let commands: Vec<Vec<String>> = vec![
        vec!["ovs-vsctl".into(), "--db".into(), ovs.clone(), "show".into()],
        vec!["ovs-vsctl".into(), "--db".into(), ovs.clone(), "list-br".into()],
        vec!["ovs-vsctl".into(), "--db".into(), ovs.clone(), "list-ports".into(), "br-int".into()],
        vec!["ovs-vsctl".into(), "--db".into(), ovs.clone(), "list-ifaces".into(), "br-int".into()],
        vec!["ovs-vsctl".into(), "--db".into(), ovs.clone(), "list".into(), "interface".into()],
        vec!["ovs-ofctl".into(), "-O".into(), "OpenFlow13".into(), "dump-tables".into(), mgmt("br-ex")],
        vec!["ovs-ofctl".into(), "dump-flows".into(), mgmt("br-int")],
        vec!["ovs-ofctl".into(), "dump-flows".into(), mgmt("br-int"), "icmp".into()],
        vec!["ovs-appctl".into(), format!("--target={ctl}"), "dpif/show".into()],
        vec!["ovsdb-client".into(), "list-tables".into(), ovs.clone()],
        vec!["ovsdb-client".into(), "list-columns".into(), ovs.clone(), "Port".into()],
        vec!["ovn-nbctl".into(), "--db".into(), nb.clone(), "show".into()],
        vec!["ovn-nbctl".into(), "--db".into(), nb.clone(), "acl-list".into(), switch.trim().into()],
        vec!["ovn-nbctl".into(), "--db".into(), nb.clone(), "list".into(), "meter".into()],
        vec!["ovn-nbctl".into(), "--db".into(), nb.clone(), "lr-route-list".into(), router.trim().into()],
        vec!["ovn-nbctl".into(), "--db".into(), nb.clone(), "lr-nat-list".into(), router.trim().into()],
        vec!["ovn-sbctl".into(), "--db".into(), sb.clone(), "show".into()],
        vec!["ovn-sbctl".into(), "--db".into(), sb.clone(), "lflow-list".into()],
        vec![
            "ovs-appctl".into(),
            format!("--target={ctl}"),
            "ofproto/trace".into(),
            "br-int".into(),
            "in_port=1,ip,nw_proto=1,nw_src=10.0.1.10,nw_dst=10.0.1.11,eth_src=00:00:00:00:01:0a,eth_dst=00:00:00:00:01:0b".into(),
        ],
        vec!["ovs-appctl".into(), format!("--target={ctl}"), "dpctl/dump-flows".into()],
    ];
    for command in commands {
        let out = Command::new(&command[0]).args(&command[1..]).output().unwrap();
        assert!(out.status.success(), "{command:?}: {}", String::from_utf8_lossy(&out.stderr));
        let may_be_empty = ["dpctl/dump-flows", "lr-route-list"].iter().any(|c| command.iter().any(|a| a == c));
        assert!(!out.stdout.is_empty() || may_be_empty, "{command:?} printed nothing");
    }
    // The same through bin/activate, tool defaults only.
    let script = format!(
        "set -e; source {w}/bin/activate >/dev/null; ovs-appctl dpctl/dump-flows; ovs-ofctl dump-flows br-int >/dev/null; \
         ovs-appctl ofproto/trace br-ex in_port=1,ip >/dev/null; ovsdb-client list-dbs | grep -q Open_vSwitch; \
         ovsdb-client list-dbs $OVN_NB_DB | grep -q OVN_Northbound; ovsdb-client list-dbs $OVN_SB_DB | grep -q OVN_Southbound; \
         ovs-offline-deactivate; echo done"
    );
    assert!(stdout(run_ok(Command::new("bash").arg("-c").arg(&script))).ends_with("done\n"));
}
