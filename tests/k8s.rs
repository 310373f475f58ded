//! collect-k8s against the four OVN-Kubernetes layouts. Kubernetes cannot
//! run here, so only its transport is emulated (`support::k8s`): a
//! `kubectl`/`oc` stand-in first on `PATH` answers `get node`,
//! `get pods -o json` with each layout's pod shapes, and runs `exec`
//! commands for real against a live lab node, the container's socket paths
//! mapped to the lab's. The replica started from what was collected must
//! equal the live node. Also: the `Local` transport (collect-local's half)
//! and every error of the issue, one line each, workdir unchanged.

mod support;

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::k8s::{
    db_map, openshift_node_labels, ovs_map, ovs_node_labels, pod, upstream_node_labels, Cluster, Mappings,
    OPENSHIFT_IC_NODE, OPENSHIFT_NS, UPSTREAM_IC_NODE, UPSTREAM_NS,
};
use support::{run_ok, LabNode, Replica};

const NODE: &str = "worker-1";
const NODES: [&str; 6] = ["master-0", "master-1", "master-2", "worker-1", "worker-2", "worker-3"];

/// The lab node, reachable by the unprivileged test user (who runs
/// collect-k8s, and so the stand-in and the commands it execs).
fn lab() -> LabNode {
    let lab = LabNode::start();
    support::k8s::open_to_everyone(lab.dir.path());
    lab
}

fn lab_ovs(lab: &LabNode) -> Mappings {
    ovs_map(lab.var("LAB_OVS_RUNDIR"))
}

/// The sockets of the lab's NB (`nb`) or SB (`sb`) as a container has them.
fn lab_db(lab: &LabNode, which: &str) -> Mappings {
    db_map(which, lab.var(if which == "nb" { "LAB_NB_DB" } else { "LAB_SB_DB" }))
}

fn unrelated() -> Value {
    pod("kube-system", "coredns-7db6d8ff4d-x2x9k", NODE, json!({"k8s-app": "kube-dns"}), &["coredns"])
}

/// Upstream interconnect: ovnkube-node (NB/SB) and ovs-node (OVS) on
/// worker-1; worker-2 has the same pods (never read).
fn upstream_interconnect(cluster_lab: &LabNode) -> Cluster {
    let mut pods = vec![unrelated()];
    for (node, suffix) in [("worker-2", "q7b2x"), (NODE, "h4k9s")] {
        pods.push(pod(UPSTREAM_NS, &format!("ovnkube-node-{suffix}"), node, upstream_node_labels(), &UPSTREAM_IC_NODE));
        pods.push(pod(UPSTREAM_NS, &format!("ovs-node-{suffix}"), node, ovs_node_labels(), &["ovs-daemons"]));
    }
    let cluster = Cluster::new(&NODES, Value::Array(pods));
    cluster.container(UPSTREAM_NS, "ovs-node-h4k9s", "ovs-daemons", &lab_ovs(cluster_lab));
    cluster.container(UPSTREAM_NS, "ovnkube-node-h4k9s", "nb-ovsdb", &lab_db(cluster_lab, "nb"));
    cluster.container(UPSTREAM_NS, "ovnkube-node-h4k9s", "sb-ovsdb", &lab_db(cluster_lab, "sb"));
    cluster
}

/// The replica serves what the live node holds: flows per bridge, groups,
/// meters, TLV maps, `ovs-vsctl show`, `ovn-nbctl show`, `ovn-sbctl show`.
fn assert_replica_equals_lab(replica: &Replica, lab: &LabNode) {
    for bridge in ["br-int", "br-ex"] {
        for what in ["dump-flows", "dump-groups", "dump-meters", "dump-tlv-map"] {
            let args = ["-O", "OpenFlow15", what, "--no-stats", bridge];
            let args: Vec<&str> = args.iter().copied().filter(|a| what == "dump-flows" || *a != "--no-stats").collect();
            let live = support::dump_set(&lab.tool("ovs-ofctl", &args));
            assert!(!live.is_empty(), "{bridge} {what} empty on the lab node");
            assert_eq!(support::dump_set(&replica.tool("ovs-ofctl", &args)), live, "{bridge} {what}");
        }
    }
    assert_eq!(
        support::normalise_vsctl_show(&replica.tool("ovs-vsctl", &["show"])),
        support::normalise_vsctl_show(&lab.tool("ovs-vsctl", &["show"]))
    );
    for tool in ["ovn-nbctl", "ovn-sbctl"] {
        assert_eq!(replica.tool(tool, &["show"]), lab.tool(tool, &["show"]), "{tool} show");
    }
}

/// Every command exec'd on the cluster is one of the read-only commands
/// the README lists.
fn assert_read_only(calls: &str) {
    const READ_ONLY: [&str; 12] = [
        "ovsdb-client backup ",
        "ovsdb-client --no-leader-only backup ",
        "ovs-vsctl --db=unix:/var/run/openvswitch/db.sock --timeout=30 --format=json --columns=name,protocols list Bridge -- --columns=ovs_version,external_ids list Open_vSwitch",
        "ovs-vswitchd --version",
        "ovn-nbctl --version",
        "ovn-sbctl --version",
        "ovs-appctl -t /var/run/ovn/ovn",
        "cat /var/run/openvswitch/ovs-vswitchd.pid",
        "ovs-appctl -t /var/run/openvswitch/ovs-vswitchd.",
        "ovs-ofctl -O OpenFlow",
        "ovs-ofctl -O OpenFlow15 --timeout=30 dump-aggregate ",
        "ovs-ofctl -O OpenFlow13 --timeout=30 dump-aggregate ",
    ];
    const OFCTL: [&str; 5] =
        ["dump-tlv-map", "dump-groups", "dump-meters", "dump-flows --no-stats --no-names", "dump-aggregate"];
    for line in calls.lines().filter(|l| l.starts_with("exec ")) {
        let command = line.split_once(" -- ").unwrap().1;
        assert!(READ_ONLY.iter().any(|r| command.starts_with(r)), "not a listed read-only command: {command}");
        if command.starts_with("ovs-ofctl") {
            assert!(OFCTL.iter().any(|c| command.contains(c)), "{command}");
        }
        if command.starts_with("ovs-appctl") {
            let read_only = [" cluster/status OVN_", ".ctl fdb/show "];
            assert!(read_only.iter().any(|c| command.contains(c)) || command.ends_with(".ctl dpctl/show"), "{command}");
        }
    }
}

#[test]
fn upstream_interconnect_node_is_replicated() {
    let lab = lab();
    let cluster = upstream_interconnect(&lab);
    let replica = Replica::new();
    let out = cluster.collect(&replica, &[NODE, "--context", "prod"]);
    assert!(out.contains("upstream ovn-kubernetes interconnect"), "{out}");
    assert!(out.contains("OVS: pod ovn-kubernetes/ovs-node-h4k9s container ovs-daemons"), "{out}");
    assert!(out.contains("NB: pod ovn-kubernetes/ovnkube-node-h4k9s container nb-ovsdb"), "{out}");
    // br-ex (fail_mode=secure, no NORMAL) learns nothing: its table is read
    // (the calls below), empty, and not worth a word.
    assert!(out.contains("br-ex (OpenFlow15): 6 flows, 1 groups, meters, TLV map\n"), "{out}");
    assert!(out.contains("source: ") && out.contains("lab-node"), "{out}");
    let calls = cluster.calls();
    assert!(calls.contains("fdb/show br-ex"), "{calls}");
    assert!(calls.lines().all(|l| l.starts_with("--context prod ")), "{calls}");
    assert!(calls.contains("get pods -A -o json --field-selector spec.nodeName=worker-1"), "{calls}");
    assert_read_only(&calls);
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(replica.workdir.join("capture.json")).unwrap()).unwrap();
    assert_eq!(manifest["source"]["node"], NODE, "{manifest}");
    let ovs = &manifest["collected"]["ovs"]["source"];
    assert_eq!((ovs["kind"].as_str(), ovs["context"].as_str()), (Some("pod"), Some("prod")), "{manifest}");
    assert_eq!(ovs["container"], "ovs-daemons");
    let files = manifest["flows"]["files"].as_array().unwrap();
    assert!(files.iter().all(|f| f["source"]["kind"] == "pod" && f["source"]["pod"] == "ovs-node-h4k9s"), "{manifest}");

    assert!(calls.contains(".ctl dpctl/show"), "{calls}");

    replica.ok(&["start"]);
    assert_replica_equals_lab(&replica, &lab);
    lab.assert_production_ports(&replica);
}

#[test]
fn openshift_interconnect_node_is_replicated_with_oc() {
    let lab = lab();
    let pods = vec![
        unrelated(),
        pod(OPENSHIFT_NS, "ovnkube-node-7xq2p", NODE, openshift_node_labels(), &OPENSHIFT_IC_NODE),
        pod(OPENSHIFT_NS, "ovnkube-node-b9d5m", "worker-2", openshift_node_labels(), &OPENSHIFT_IC_NODE),
        pod(
            OPENSHIFT_NS,
            "ovnkube-control-plane-6d8f9-abcde",
            "master-0",
            json!({"app": "ovnkube-control-plane"}),
            &["kube-rbac-proxy", "ovnkube-cluster-manager"],
        ),
    ];
    let cluster = Cluster::new(&NODES, Value::Array(pods));
    cluster.container(OPENSHIFT_NS, "ovnkube-node-7xq2p", "ovn-controller", &lab_ovs(&lab));
    cluster.container(OPENSHIFT_NS, "ovnkube-node-7xq2p", "nbdb", &lab_db(&lab, "nb"));
    cluster.container(OPENSHIFT_NS, "ovnkube-node-7xq2p", "sbdb", &lab_db(&lab, "sb"));
    let replica = Replica::new();
    // -o after NODE, as the tutorial writes it; oc is used.
    std::fs::write(cluster.dir.path().join("bin/kubectl"), "#!/bin/sh\nexit 99\n").unwrap();
    let out = cluster.collect(&replica, &[NODE, "-o"]);
    assert!(out.contains("(through oc): OpenShift interconnect"), "{out}");
    assert!(out.contains("OVS: pod openshift-ovn-kubernetes/ovnkube-node-7xq2p container ovn-controller"), "{out}");
    assert_read_only(&cluster.calls());
    replica.ok(&["start"]);
    assert_replica_equals_lab(&replica, &lab);
}

/// A clustered NB (one RAFT member, the leader) served from `dir`, with
/// the lab's NB content: `(socket, ctl, pidfile)`.
fn clustered_nb(lab: &LabNode, dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let snapshot = dir.join("nb-snapshot.db");
    let text =
        support::stdout(run_ok(Command::new("ovsdb-client").args(["backup", lab.var("LAB_NB_DB"), "OVN_Northbound"])));
    std::fs::write(&snapshot, text).unwrap();
    let db = dir.join("nb-clustered.db");
    let raft = format!("unix:{}", dir.join("nb.raft").display());
    run_ok(Command::new("ovsdb-tool").arg("create-cluster").arg(&db).arg(&snapshot).arg(&raft));
    let (socket, ctl, pidfile) = (dir.join("nb.sock"), dir.join("nb.ctl"), dir.join("nb.pid"));
    run_ok(
        Command::new("ovsdb-server")
            .arg("--detach")
            .arg(format!("--pidfile={}", pidfile.display()))
            .arg(format!("--unixctl={}", ctl.display()))
            .arg(format!("--remote=punix:{}", socket.display()))
            .arg(format!("--log-file={}", dir.join("nb.log").display()))
            .arg(&db),
    );
    for _ in 0..100 {
        let status =
            Command::new("ovs-appctl").arg("-t").arg(&ctl).args(["cluster/status", "OVN_Northbound"]).output().unwrap();
        if String::from_utf8_lossy(&status.stdout).contains("Role: leader") {
            run_ok(Command::new("chmod").arg("-R").arg("a+rwX").arg(dir));
            return (socket, ctl, pidfile);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("the clustered NB never became leader");
}

/// Stops the clustered NB on drop.
struct Server(PathBuf);

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(&self.0) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
}

#[test]
fn openshift_legacy_node_reads_the_raft_leader() {
    let lab = lab();
    let raft = support::user_dir("raft-nb-");
    let (nb_socket, nb_ctl, pidfile) = clustered_nb(&lab, raft.path());
    let _server = Server(pidfile);
    let master = ["northd", "nbdb", "kube-rbac-proxy", "sbdb", "ovnkube-master"];
    let master_labels =
        json!({"app": "ovnkube-master", "component": "network", "type": "infra", "openshift.io/component": "network"});
    let pods = vec![
        unrelated(),
        pod(
            OPENSHIFT_NS,
            "ovnkube-node-zr5wq",
            NODE,
            openshift_node_labels(),
            &["ovn-controller", "ovn-acl-logging", "kube-rbac-proxy", "ovnkube-node"],
        ),
        pod(OPENSHIFT_NS, "ovnkube-master-4kx8c", "master-0", master_labels.clone(), &master),
        pod(OPENSHIFT_NS, "ovnkube-master-9vmt2", "master-1", master_labels.clone(), &master),
        pod(OPENSHIFT_NS, "ovnkube-master-pq7lz", "master-2", master_labels, &master),
    ];
    let cluster = Cluster::new(&NODES, Value::Array(pods));
    cluster.container(OPENSHIFT_NS, "ovnkube-node-zr5wq", "ovn-controller", &lab_ovs(&lab));
    // master-0's nbdb answers nothing (its server is down); master-1's is
    // the clustered NB's leader; SB is standalone on every master.
    let nb_leader = vec![
        ("/var/run/ovn/ovnnb_db.sock".to_string(), nb_socket.display().to_string()),
        ("/var/run/ovn/ovnnb_db.ctl".to_string(), nb_ctl.display().to_string()),
    ];
    let down = vec![("/var/run/ovn/".to_string(), raft.path().join("absent/").display().to_string())];
    for pod in ["ovnkube-master-4kx8c", "ovnkube-master-9vmt2", "ovnkube-master-pq7lz"] {
        cluster.container(OPENSHIFT_NS, pod, "sbdb", &lab_db(&lab, "sb"));
    }
    let replica = Replica::new();
    // No member answers cluster/status: a member's snapshot is read, and
    // said to be one.
    let no_status = vec![
        ("/var/run/ovn/ovnnb_db.sock".to_string(), nb_socket.display().to_string()),
        ("/var/run/ovn/ovnnb_db.ctl".to_string(), raft.path().join("absent.ctl").display().to_string()),
    ];
    for pod in ["ovnkube-master-4kx8c", "ovnkube-master-9vmt2", "ovnkube-master-pq7lz"] {
        cluster.container(OPENSHIFT_NS, pod, "nbdb", &no_status);
    }
    let out = cluster.collect(&replica, &["-o", NODE]);
    assert!(
        out.contains("OVN_Northbound is clustered (RAFT) and no leader was found among 3 member(s): read from pod ovnkube-master-4kx8c (cluster/status failed: "),
        "{out}"
    );
    cluster.container(OPENSHIFT_NS, "ovnkube-master-4kx8c", "nbdb", &down);
    cluster.container(OPENSHIFT_NS, "ovnkube-master-9vmt2", "nbdb", &nb_leader);
    cluster.container(OPENSHIFT_NS, "ovnkube-master-pq7lz", "nbdb", &nb_leader);
    let out = cluster.collect(&replica, &["-o", NODE, "--force"]);
    assert!(out.contains("OpenShift legacy"), "{out}");
    assert!(out.contains("NB: pod openshift-ovn-kubernetes/ovnkube-master-9vmt2 container nbdb"), "{out}");
    assert!(
        out.contains("OVN_Northbound is clustered (RAFT): read from the leader, pod ovnkube-master-9vmt2"),
        "{out}"
    );
    assert!(out.contains("SB: pod openshift-ovn-kubernetes/ovnkube-master-4kx8c container sbdb"), "{out}");
    assert_read_only(&cluster.calls());
    replica.ok(&["start"]);
    assert_replica_equals_lab(&replica, &lab);
}

#[test]
fn upstream_legacy_node_reads_ovs_on_the_node_and_ovn_from_the_db_pod() {
    let lab = lab();
    let pods = vec![
        unrelated(),
        pod(
            UPSTREAM_NS,
            "ovnkube-node-w8n2c",
            NODE,
            upstream_node_labels(),
            &["ovnkube-node", "ovn-controller", "ovs-metrics-exporter"],
        ),
        pod(UPSTREAM_NS, "ovs-node-w8n2c", NODE, json!({"app": "ovs-node", "name": "ovs-node"}), &["ovs-daemons"]),
        pod(
            UPSTREAM_NS,
            "ovnkube-db-5c6f9d7b8-2kqzt",
            "master-0",
            json!({"name": "ovnkube-db", "component": "network", "type": "infra"}),
            &["nb-ovsdb", "sb-ovsdb"],
        ),
        pod(
            UPSTREAM_NS,
            "ovnkube-master-6b7c9-x9z8k",
            "master-0",
            json!({"name": "ovnkube-master"}),
            &["ovn-northd", "ovnkube-master"],
        ),
    ];
    let cluster = Cluster::new(&NODES, Value::Array(pods));
    cluster.container(UPSTREAM_NS, "ovs-node-w8n2c", "ovs-daemons", &lab_ovs(&lab));
    cluster.container(UPSTREAM_NS, "ovnkube-db-5c6f9d7b8-2kqzt", "nb-ovsdb", &lab_db(&lab, "nb"));
    cluster.container(UPSTREAM_NS, "ovnkube-db-5c6f9d7b8-2kqzt", "sb-ovsdb", &lab_db(&lab, "sb"));
    let replica = Replica::new();
    let out = cluster.collect(&replica, &[NODE, "-n", UPSTREAM_NS]);
    assert!(out.contains("upstream ovn-kubernetes legacy"), "{out}");
    assert!(out.contains("NB: pod ovn-kubernetes/ovnkube-db-5c6f9d7b8-2kqzt container nb-ovsdb"), "{out}");
    assert!(cluster.calls().contains("get pods -n ovn-kubernetes -o json --field-selector"), "{}", cluster.calls());
    assert_read_only(&cluster.calls());
    replica.ok(&["start"]);
    assert_replica_equals_lab(&replica, &lab);
}

/// Every path and file below `dir`, with its content.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        if meta.is_dir() {
            pending.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        }
        let content = if meta.is_file() { std::fs::read(&path).unwrap() } else { Vec::new() };
        out.insert(path, content);
    }
    out
}

#[test]
fn errors_are_one_clear_line_and_leave_the_workdir_unchanged() {
    let lab = lab();
    let cluster = upstream_interconnect(&lab);
    let replica = Replica::new();

    // Nothing collected yet: no workdir is left behind.
    let err = cluster.collect_fails(&replica, &["worker-9"]);
    assert!(err.contains("node worker-9 not found in the cluster; list the nodes with 'kubectl get nodes'"), "{err}");
    let err = cluster.collect_fails(&replica, &["--", "--all-namespaces"]);
    assert!(err.contains("--all-namespaces is not a Kubernetes node name"), "{err}");
    let err = cluster.collect_fails(&replica, &["worker-3"]);
    assert!(err.contains("no OVN-Kubernetes pods run on node worker-3"), "{err}");
    // worker-2's ovs-node pod is gone: the container OVS runs in is missing.
    let pods: Value =
        serde_json::from_str(&std::fs::read_to_string(cluster.dir.path().join("pods.json")).unwrap()).unwrap();
    let kept: Vec<Value> = pods["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["metadata"]["name"] != "ovs-node-q7b2x")
        .cloned()
        .collect();
    cluster.set("pods.json", &json!({ "items": kept }).to_string());
    let err = cluster.collect_fails(&replica, &["worker-2"]);
    assert!(err.contains("no running pod on it has the container ovs-daemons"), "{err}");
    // worker-2's pods exist but the stand-in knows none of their containers.
    cluster.set("pods.json", &pods.to_string());
    let err = cluster.collect_fails(&replica, &["worker-2"]);
    assert!(err.contains("container not found (\"ovs-daemons\")") && err.contains("ovs-node-q7b2x"), "{err}");
    assert!(!replica.workdir.exists());

    cluster.collect(&replica, &[NODE]);
    let before = tree(&replica.workdir);
    let collect_again = |cluster: &Cluster| cluster.collect_fails(&replica, &[NODE, "--force"]);

    cluster.set("forbidden", "");
    let err = collect_again(&cluster);
    assert!(err.contains("the cluster refused") && err.contains("pods/exec"), "{err}");
    cluster.unset("forbidden");
    assert!(tree(&replica.workdir) == before, "workdir changed");

    cluster.set("cut", "dump-flows\n");
    let err = collect_again(&cluster);
    assert!(
        err.contains("dump-flows --no-stats --no-names")
            && err.contains("failed in pod ovn-kubernetes/ovs-node-h4k9s container ovs-daemons (exit status 1)"),
        "{err}"
    );
    assert!(err.contains("connection reset by peer"), "{err}");
    assert!(tree(&replica.workdir) == before, "workdir changed");

    // A stream cut at a line's end with exit status 0: the flow count
    // read right after tells.
    cluster.set("cut", "dump-flows\nsilent\n");
    let err = collect_again(&cluster);
    assert!(err.contains("is cut short") && err.contains("counted by dump-aggregate right after, twice"), "{err}");
    assert!(tree(&replica.workdir) == before, "workdir changed");

    cluster.set("cut", "backup unix:/var/run/openvswitch/db.sock\n");
    let err = collect_again(&cluster);
    assert!(err.contains("ovsdb-client backup unix:/var/run/openvswitch/db.sock Open_vSwitch failed"), "{err}");
    assert!(tree(&replica.workdir) == before, "workdir changed");
    cluster.set("cut", "backup unix:/var/run/ovn/ovnsb_db.sock\nsilent\n");
    let err = collect_again(&cluster);
    assert!(err.contains("OVN_Southbound in pod ovn-kubernetes/ovnkube-node-h4k9s container sb-ovsdb is cut short (2 lines, a backup has 4)"), "{err}");
    assert!(tree(&replica.workdir) == before, "workdir changed");
    cluster.unset("cut");

    // A command that prints nothing (an unreachable node) is stopped. (5 s:
    // a loaded machine must not make a real command look silent.)
    cluster.set("hang", "dump-groups");
    let started = std::time::Instant::now();
    let err = cluster.collect_fails(&replica, &[NODE, "--force", "--idle-timeout", "5"]);
    assert!(err.contains("dump-groups unix:/var/run/openvswitch/br-ex.mgmt in pod ovn-kubernetes/ovs-node-h4k9s container ovs-daemons printed nothing for 5 s and was stopped"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(60), "{:?}", started.elapsed());
    assert!(tree(&replica.workdir) == before, "workdir changed");
    cluster.unset("hang");

    // Neither kubectl nor oc: never a word about installing OVS.
    let mut cmd = replica.cmd(&["collect-k8s", NODE, "--force"]);
    let out = cmd.env("PATH", "/usr/sbin:/sbin").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("neither kubectl nor oc is on PATH"), "{err}");
    assert!(!err.contains("Open vSwitch"), "{err}");
    assert!(tree(&replica.workdir) == before, "workdir changed");

    // A bridge ovs-vswitchd does not run (no management socket) is named
    // and marked incomplete; the rest is collected.
    let add = ["add-br", "br-bad", "--", "set", "bridge", "br-bad", "datapath_type=nosuch"];
    let _ = Command::new("ovs-vsctl").arg(format!("--db={}", lab.var("LAB_OVS_DB"))).args(add).output().unwrap();
    let out = cluster.collect(&replica, &[NODE, "--force"]);
    assert!(
        out.contains("note: bridge br-bad has no OpenFlow management socket: ovs-ofctl: connecting to unix:"),
        "{out}"
    );
    assert!(out.contains("br-int (OpenFlow15): "), "{out}");
    let manifest = std::fs::read_to_string(replica.workdir.join("capture.json")).unwrap();
    assert!(manifest.contains("\"br-bad\": \"bridge br-bad has no OpenFlow management socket"), "{manifest}");
}

/// collect-local's half: the `Local` transport reads the lab node through
/// its sockets; the replica equals it.
#[test]
fn local_transport_reads_a_lab_node() {
    let lab = LabNode::start();
    let replica = Replica::new_as_runner();
    let workdir = ovs_offline::workdir::Workdir::new(&replica.workdir).unwrap();
    let dir = lab.var("LAB_DIR");
    let sockets = ovs_offline::collect::live::LocalSockets {
        ovs_rundir: Some(lab.var("LAB_OVS_RUNDIR").into()),
        nb: Some(format!("{dir}/nb/db.sock")),
        sb: Some(format!("{dir}/sb/db.sock")),
    };
    let summary = ovs_offline::collect::live::collect_local(&workdir, &sockets, false).unwrap();
    assert_eq!(summary.items.len(), 3, "{:?}", summary.items);
    assert!(summary.items[0].contains("from host "), "{:?}", summary.items);
    assert_eq!(summary.bridges.len(), 2);
    assert_eq!(summary.source.hostname.as_deref(), Some("lab-node"));
    assert_eq!(summary.source.datapath_ports, lab.datapath_ports());
    replica.ok(&["start"]);
    assert_replica_equals_lab(&replica, &lab);
    lab.assert_production_ports(&replica);
}

/// A vswitchd whose control socket refuses (its pidfile names a dead
/// process): its datapath ports and MAC tables are notes, the rest is
/// collected.
#[test]
fn a_refused_vswitchd_control_socket_is_a_note() {
    let lab = LabNode::start();
    let replica = Replica::new_as_runner();
    let workdir = ovs_offline::workdir::Workdir::new(&replica.workdir).unwrap();
    let rundir = tempfile::tempdir().unwrap();
    let live = Path::new(lab.var("LAB_OVS_RUNDIR"));
    for socket in ["db.sock", "br-int.mgmt", "br-ex.mgmt"] {
        std::os::unix::fs::symlink(live.join(socket), rundir.path().join(socket)).unwrap();
    }
    std::fs::write(rundir.path().join("ovs-vswitchd.pid"), "999999999\n").unwrap();
    let sockets = ovs_offline::collect::live::LocalSockets {
        ovs_rundir: Some(rundir.path().display().to_string()),
        nb: None,
        sb: None,
    };
    let summary = ovs_offline::collect::live::collect_local(&workdir, &sockets, false).unwrap();
    assert_eq!(summary.bridges.len(), 2);
    assert!(summary.source.datapath_ports.is_empty(), "{:?}", summary.source);
    let notes = summary.notes.join("\n");
    assert!(notes.contains("datapath port numbers not collected: ovs-appctl -t "), "{notes}");
    assert!(notes.contains("ovs-vswitchd.999999999.ctl dpctl/show failed"), "{notes}");
    let manifest = std::fs::read_to_string(replica.workdir.join("capture.json")).unwrap();
    assert!(manifest.contains("datapath port numbers not collected") && !manifest.contains("datapath_ports"));
}
