//! Workspaces of several node replicas (issue #19): collecting nodes named
//! by their captures, selecting one with -W/--node, starting replicas on
//! demand, status with memory, hostile node names. Real OVS daemons and
//! tools, real sos fixtures.

mod support;

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::workspace::{failure, Workspace as Ws};
use support::{give, is_root, make_db, run_ok, stdout, Replica};

impl Ws {
    fn node_names(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(&self.root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != "workspace.json")
            .collect();
        names.sort();
        names
    }
}

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sos").join(name)
}

const SOS_V4_12: &str = "trixie-ovs3.5-ovn25.03-sos4.12.tar.xz";
const SOS_V4_0: &str = "bookworm-ovs3.1-ovn23.03-sos4.0.tar.xz";

/// A minimal extracted sos report: an OVS database (one bridge `br0`) whose
/// `Open_vSwitch` row has `external_ids` `hostname` and `ovn-encap-ip`,
/// and `br0`'s flow dump.
fn tiny_sos(dir: &Path, report: &str, hostname: &str, encap_ip: &str) -> PathBuf {
    let root = dir.join(report);
    let db_dir = root.join("var/lib/openvswitch");
    let dumps = root.join("sos_commands/openvswitch");
    fs::create_dir_all(&db_dir).unwrap();
    fs::create_dir_all(&dumps).unwrap();
    let db = make_db(&support::installed_schema("ovs"), &db_dir, "conf.db");
    let ids = serde_json::json!(["map", [["hostname", hostname], ["ovn-encap-ip", encap_ip]]]);
    let txn = serde_json::json!(["Open_vSwitch",
        {"op": "update", "table": "Open_vSwitch", "where": [], "row": {"external_ids": ids}}]);
    run_ok(Command::new("ovsdb-tool").arg("transact").arg(&db).arg(txn.to_string()));
    let flows = "OFPST_FLOW reply (OF1.5) (xid=0x2):\n \
        cookie=0x1, duration=1.0s, table=0, n_packets=0, n_bytes=0, priority=100,ip,nw_dst=10.0.0.1 actions=drop\n \
        cookie=0x2, duration=1.0s, table=0, n_packets=0, n_bytes=0, priority=50,ip actions=resubmit(,1)\n \
        cookie=0x3, duration=1.0s, table=1, n_packets=0, n_bytes=0, priority=0 actions=NORMAL\n";
    fs::write(dumps.join("ovs-ofctl_-O_OpenFlow15_dump-flows_br0"), flows).unwrap();
    support::make_readable(&root);
    root
}

#[test]
fn collect_sos_names_nodes_by_hostname_and_a_bad_report_costs_only_its_node() {
    let ws = Ws::new();
    let base = ws.replica.base.path();
    let good = give(&fixture(SOS_V4_12), base);
    let corrupt = base.join("broken.tar.xz");
    let bytes = fs::read(&good).unwrap();
    fs::write(&corrupt, &bytes[..bytes.len() / 2]).unwrap();
    support::make_readable(base);

    let out = ws
        .cmd(&[OsString::from("cluster"), "collect-sos".into(), good.clone().into(), corrupt.clone().into()])
        .output()
        .unwrap();
    let err = failure(out.clone());
    let err: Vec<&str> = err.lines().filter(|l| !l.starts_with("warning: ")).collect();
    assert_eq!(err.len(), 1, "{err:?}");
    assert!(err[0].contains("broken.tar.xz") && !err[0].contains(SOS_V4_12), "{err:?}");
    let text = stdout(out);
    assert!(text.contains("Node prod-node-1, from the sos report"), "{text}");
    assert!(text.contains("--node prod-node-1 start"), "{text}");
    assert_eq!(ws.node_names(), ["prod-node-1"], "the bad report left nothing, staging included");

    // The node is an ordinary workdir: single-node commands work on it.
    let single = [OsString::from("-w"), ws.root.join("prod-node-1").into(), "status".into()];
    let status = stdout(run_ok(&mut ws.bare(&single)));
    assert!(status.contains("Open_vSwitch"), "{status}");

    // Another report of the same host: refused without --force.
    let old = give(&fixture(SOS_V4_0), base);
    let err = ws.fails(&[OsString::from("cluster"), "collect-sos".into(), old.clone().into()]);
    assert!(err.contains("node prod-node-1 is already in workspace") && err.contains("--force"), "{err}");
    ws.ok(&["cluster", "collect-sos", "--force", old.to_str().unwrap()]);
    let status = ws.status();
    assert_eq!(status["nodes"][0]["flow_files"], 5, "replaced by the 4.0 report: {status}");

    // Two reports naming one host in one command: neither is taken.
    let err = ws.fails(&[
        OsString::from("cluster"),
        "collect-sos".into(),
        "--force".into(),
        good.clone().into(),
        old.clone().into(),
    ]);
    assert!(
        err.contains("name the same node prod-node-1") && err.contains(SOS_V4_12) && err.contains(SOS_V4_0),
        "{err}"
    );
    assert_eq!(ws.status()["nodes"][0]["flow_files"], 5);

    // --name gives each its own.
    ws.ok(&["cluster", "collect-sos", good.to_str().unwrap(), old.to_str().unwrap(), "--name", "a", "--name", "b"]);
    assert_eq!(ws.node_names(), ["a", "b", "prod-node-1"]);
    let status = ws.status();
    assert_eq!(status["nodes"][0]["encap_ip"], "192.0.2.10", "{status}");
    assert_eq!(status["running"], 0);
}

#[test]
fn twenty_nodes_start_on_demand_one_at_a_time() {
    let ws = Ws::new();
    let reports = support::user_dir("tiny-sos-");
    let mut args = os(&["cluster", "collect-sos"]);
    for i in 1..=20 {
        // The report's name is not the node's: the OVS database's hostname is.
        args.push(
            tiny_sos(reports.path(), &format!("sosreport-{i}"), &format!("n-{i}"), &format!("192.0.2.{i}")).into(),
        );
    }
    let out = run_ok(&mut ws.cmd(&args));
    assert!(stdout(out).contains("nodes collected: 20"));
    let status = ws.status();
    let nodes = status["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 20, "{status}");
    assert!(nodes.iter().all(|n| n["running"] == false && n["encap_ip"].as_str().unwrap().starts_with("192.0.2.")));
    assert_eq!(status["running"], 0);

    // A trace on n-3 starts n-3, and only it.
    let out = run_ok(&mut ws.cmd(&os(&[
        "--node",
        "n-3",
        "trace",
        "--no-detrace",
        "br0",
        "in_port=LOCAL,ip,nw_dst=10.0.0.1",
    ])));
    assert!(String::from_utf8_lossy(&out.stderr).contains("started the replica of n-3"));
    assert!(stdout(out).contains("drop"));
    let status = ws.status();
    assert_eq!(status["running"], 1, "{status}");
    let n3 = status["nodes"].as_array().unwrap().iter().find(|n| n["name"] == "n-3").unwrap().clone();
    assert_eq!((n3["running"].as_bool(), n3["flows_restored"].as_u64()), (Some(true), Some(3)), "{n3}");
    let kib = n3["memory_kib"].as_u64().unwrap();
    assert!(kib > 1024 && n3["processes"].as_u64().unwrap() >= 3, "{n3}");
    let pss = n3["memory_pss_kib"].as_u64().unwrap();
    assert!(pss > 0 && pss <= kib, "{n3}");
    eprintln!("one running replica (OVS database, one bridge, 3 flows): RSS {kib} KiB, PSS {pss} KiB");
    let text = ws.ok(&["cluster", "status"]);
    assert!(text.contains("nodes: 20, running: 1,"), "{text}");

    // Running already: no second start, no note.
    let out = run_ok(&mut ws.cmd(&os(&["--node", "n-3", "ports"])));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("started"));
    let show = ws.ok(&["cluster", "show"]);
    assert!(show.contains("Node n-3:") && !show.contains("Node n-4:"), "{show}");

    let out = ws.ok(&["cluster", "stop"]);
    assert!(out.contains("Stopped the replica of n-3") && out.contains("replicas stopped: 1;"), "{out}");
    assert_eq!(ws.status()["running"], 0);
}

#[test]
fn node_selection_errors_name_the_fix() {
    let ws = Ws::new();
    let reports = support::user_dir("tiny-sos-");
    let a = tiny_sos(reports.path(), "sos-a", "node-a", "192.0.2.1");
    ws.ok(&["cluster", "collect-sos", a.to_str().unwrap()]);

    let err = failure(ws.bare(&os(&["--node", "node-a", "status"])).output().unwrap());
    assert!(err.contains("give the workspace too") && err.contains("-W WORKSPACE --node node-a"), "{err}");
    let err = ws.fails(&os(&["status"]));
    assert!(err.contains("--node NAME") && err.contains("it holds node-a"), "{err}");
    let err = ws.fails(&os(&["--node", "node-b", "start"]));
    assert!(err.contains("no node node-b") && err.contains("it holds node-a"), "{err}");
    let err = ws.fails(&os(&["-w", "/tmp/x", "--node", "node-a", "status"]));
    assert!(err.contains("exclude each other"), "{err}");
    // An OVS_DBG_WORKDIR in the environment yields to -W on the command line.
    run_ok(ws.cmd(&os(&["cluster", "status"])).env("OVS_DBG_WORKDIR", "/tmp/x"));
    let err = failure(ws.bare(&os(&["cluster", "status"])).output().unwrap());
    assert!(err.contains("give it with -W DIR"), "{err}");
    // From inside the workspace, or one of its nodes, -W is implied.
    let status = stdout(run_ok(ws.bare(&os(&["--node", "node-a", "status"])).current_dir(&ws.root)));
    assert!(status.contains("node-a"), "{status}");
    let status = stdout(run_ok(ws.bare(&os(&["cluster", "status"])).current_dir(ws.root.join("node-a"))));
    assert!(status.contains("node-a") && status.contains("nodes: 1"), "{status}");
    let err = ws.fails(&os(&["--node", "node-a", "cluster", "status"]));
    assert!(err.contains("take their nodes as arguments"), "{err}");
    // A single-node workdir is not a workspace, and is left as it was.
    let workdir = ws.root.join("node-a");
    let err = failure(
        ws.bare(&[OsString::from("-W"), workdir.clone().into(), "cluster".into(), "status".into()]).output().unwrap(),
    );
    assert!(err.contains("single-node working directory") && err.contains("-w"), "{err}");
    assert!(!workdir.join("workspace.json").exists());
    // -W … --node … collect-…: the node is made.
    let db = make_db(&support::installed_schema("ovs"), reports.path(), "b.db");
    ws.ok(&["--node", "node-b", "collect-db-ovs", db.to_str().unwrap()]);
    assert_eq!(ws.node_names(), ["node-a", "node-b"]);
}

#[test]
fn hostile_node_names_never_leave_the_workspace() {
    let ws = Ws::new();
    let reports = support::user_dir("tiny-sos-");
    for (report, hostname) in [("dotdot", "../escaped"), ("slash", "a/b"), ("newline", "x\ny"), ("dot", ".hidden")] {
        let sos = tiny_sos(reports.path(), report, hostname, "192.0.2.1");
        let err = ws.fails(&[OsString::from("cluster"), "collect-sos".into(), sos.into()]);
        assert!(err.contains("cannot name a directory") && err.contains("--name NAME"), "{hostname:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    assert!(ws.node_names().is_empty(), "{:?}", ws.node_names());
    assert!(!ws.replica.base.path().join("escaped").exists());

    let sos = tiny_sos(reports.path(), "named", "../escaped", "192.0.2.1");
    for bad in ["..", "../x", ".x"] {
        let err = ws.fails(&[
            OsString::from("cluster"),
            "collect-sos".into(),
            sos.clone().into(),
            "--name".into(),
            bad.into(),
        ]);
        assert!(err.contains("cannot name a directory"), "{err}");
        let err = ws.fails(&os(&["--node", bad, "collect-db-ovs", "/dev/null"]));
        assert!(err.contains("cannot name a directory"), "{err}");
    }
    ws.ok(&["cluster", "collect-sos", sos.to_str().unwrap(), "--name", "safe"]);
    assert_eq!(ws.node_names(), ["safe"]);
}

/// An interconnect must-gather (per-node NB/SB of `prod-node-1` and
/// `node-b`) with the sos report of `prod-node-1`: that node gets both
/// halves, `node-b` its OVN half alone, and the summary says so.
#[test]
fn must_gather_nodes_are_joined_with_their_sos_ovs_half_by_name() {
    let ws = Ws::new();
    let base = ws.replica.base.path();
    let scratch = support::user_dir("mg-dbs-");
    let db =
        |kind: &str, name: &str| fs::read(make_db(&support::installed_schema(kind), scratch.path(), name)).unwrap();
    let store = support::gz(&support::tar_of(&[
        ("ovnk_database_store/ovnkube-node-aaaaa_nbdb".into(), db("ovn_nb", "a-nb.db")),
        ("ovnk_database_store/ovnkube-node-aaaaa_sbdb".into(), db("ovn_sb", "a-sb.db")),
        ("ovnk_database_store/ovnkube-node-bbbbb_nbdb".into(), db("ovn_nb", "b-nb.db")),
        ("ovnk_database_store/ovnkube-node-bbbbb_sbdb".into(), db("ovn_sb", "b-sb.db")),
    ]));
    let pods =
        [support::pod_yaml("ovnkube-node-aaaaa", "prod-node-1"), support::pod_yaml("ovnkube-node-bbbbb", "node-b")];
    let mg = support::must_gather(base, "must-gather.tar.gz", &store, &pods);
    let sos = give(&fixture(SOS_V4_12), base);

    let out = ws.ok(&["cluster", "collect-must-gather", mg.to_str().unwrap(), "--with-sos", sos.to_str().unwrap()]);
    assert!(out.contains("Node prod-node-1, from the sos report"), "{out}");
    assert!(out.contains("Node node-b, from node node-b of the must-gather"), "{out}");
    assert!(out.contains("no sos report given for this node: OVN half only"), "{out}");
    assert_eq!(ws.node_names(), ["node-b", "prod-node-1"]);
    let status = ws.status();
    let holds = |i: usize| status["nodes"][i]["databases"].clone();
    assert_eq!(holds(0), serde_json::json!(["ovn_nb", "ovn_sb"]), "{status}");
    assert_eq!(holds(1), serde_json::json!(["ovs", "ovn_nb", "ovn_sb"]), "{status}");
    // The OVN half of prod-node-1 is the must-gather's, not the report's.
    let capture = stdout(run_ok(&mut ws.cmd(&os(&["--node", "prod-node-1", "status", "--json"]))));
    let capture: serde_json::Value = serde_json::from_str(&capture).unwrap();
    let nb = &capture["capture"]["collected"]["ovn_nb"]["source"];
    assert_eq!(nb["inner"].as_str(), Some("ovnkube-node-aaaaa_nbdb"), "{capture}");
}

/// Two chassis of one machine share its hostname but not their OVS
/// databases' `external_ids:hostname`: two collect-local bundles of a live
/// lab node (the second after renaming it there) become two nodes, and
/// `ports` on one starts its replica with the lab's OpenFlow state.
#[test]
fn capture_bundles_become_nodes_named_by_their_chassis_hostname() {
    let lab = support::LabNode::start();
    let host = Replica::new_as_runner();
    let out_dir = support::user_dir("bundles-");
    let dir = lab.var("LAB_DIR");
    let (nb, sb) = (format!("unix:{dir}/nb/db.sock"), format!("{dir}/sb/db.sock"));
    let bundle = |name: &str| {
        let out = out_dir.path().join(name);
        let sockets = ["--ovs-rundir", lab.var("LAB_OVS_RUNDIR"), "--nb-db", &nb, "--sb-db", &sb];
        let mut args = vec!["collect-local", "--output", out.to_str().unwrap()];
        args.extend(sockets);
        host.ok(&args);
        support::make_readable(&out);
        out
    };
    let first = bundle("first.tar.xz");
    lab.tool("ovs-vsctl", &["set", "Open_vSwitch", ".", "external_ids:hostname=lab-chassis-2"]);
    let second = bundle("second.tar.xz");

    let ws = Ws::new();
    let out = ws.ok(&["cluster", "collect-capture", first.to_str().unwrap(), second.to_str().unwrap()]);
    assert!(out.contains("nodes collected: 2"), "{out}");
    assert_eq!(ws.node_names(), ["lab-chassis-2", "lab-node"]);

    let out = run_ok(&mut ws.cmd(&os(&["--node", "lab-chassis-2", "ports"])));
    assert!(String::from_utf8_lossy(&out.stderr).contains("started the replica of lab-chassis-2"));
    let status = ws.status();
    let node = &status["nodes"][0];
    assert_eq!((node["name"].as_str(), node["running"].as_bool()), (Some("lab-chassis-2"), Some(true)), "{status}");
    assert!(node["flows_restored"].as_u64().unwrap() > 0, "{status}");
    assert_eq!(status["nodes"][1]["running"], false);
    eprintln!(
        "memory of the lab node's running replica (OVS, NB, SB): {} KiB in {} processes",
        node["memory_kib"], node["processes"]
    );
}

/// `cluster collect-k8s` fails per node, each in one line naming it, and
/// leaves no node behind (the collection itself is collect-k8s's, tested
/// in tests/k8s.rs).
#[test]
fn collect_k8s_without_a_client_names_each_node_and_leaves_none() {
    let ws = Ws::new();
    let out = ws
        .cmd(&os(&["cluster", "collect-k8s", "worker-1", "worker-2"]))
        .env("PATH", "/usr/sbin:/sbin")
        .output()
        .unwrap();
    let err = failure(out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines[0].contains("Kubernetes node worker-1") && lines[0].contains("neither kubectl nor oc is on PATH"),
        "{err}"
    );
    assert!(lines[1].contains("Kubernetes node worker-2"), "{err}");
    assert!(ws.node_names().is_empty());
}

/// A real sos report of a live lab node (root only: sos runs in a private
/// mount namespace) and the 4.12 fixture's: two nodes named by their
/// hosts, both started by `cluster start`, shown, and stopped.
#[test]
fn a_lab_node_sos_report_and_a_fixture_run_side_by_side() {
    if !is_root() {
        eprintln!("skipped: the real sos report needs root; CI runs as root");
        return;
    }
    let out = tempfile::Builder::new().prefix("sosreport-").tempdir().unwrap();
    let (_lab, archive) = support::LabNode::start_with_sos_report(out.path(), "/var/lib/ovn");
    let ws = Ws::new();
    let base = ws.replica.base.path();
    let (lab_sos, fixture_sos) = (give(&archive, base), give(&fixture(SOS_V4_12), base));
    ws.ok(&["cluster", "collect-sos", lab_sos.to_str().unwrap(), fixture_sos.to_str().unwrap()]);
    assert_eq!(ws.node_names(), ["lab-node", "prod-node-1"]);

    let started = ws.ok(&["cluster", "start"]);
    assert!(started.contains("replicas started: 2"), "{started}");
    let status = ws.status();
    assert_eq!(status["running"], 2, "{status}");
    assert!(status["nodes"].as_array().unwrap().iter().all(|n| n["flows_restored"].as_u64() > Some(0)), "{status}");
    let show = ws.ok(&["cluster", "show"]);
    assert!(show.contains("Node lab-node:") && show.contains("Node prod-node-1:"), "{show}");
    let stopped = ws.ok(&["cluster", "stop", "lab-node"]);
    assert!(stopped.contains("replicas stopped: 1;"), "{stopped}");
    assert_eq!(ws.status()["running"], 1);
}

/// Regression: with both OVS_DBG_WORKDIR and OVS_OFFLINE_WORKSPACE in the
/// environment, the command line's choice holds, and the daemons'
/// launcher (which inherits that environment) still starts them.
#[test]
fn both_environment_variables_set_leave_the_command_line_in_charge() {
    let ws = Ws::new();
    let reports = support::user_dir("tiny-sos-");
    let a = tiny_sos(reports.path(), "sos-a", "node-a", "192.0.2.1");
    ws.ok(&["cluster", "collect-sos", a.to_str().unwrap()]);
    let both = |cmd: &mut Command| {
        cmd.env("OVS_DBG_WORKDIR", ws.replica.base.path().join("elsewhere")).env("OVS_OFFLINE_WORKSPACE", &ws.root);
    };
    let mut start = ws.cmd(&os(&["--node", "node-a", "start"]));
    both(&mut start);
    run_ok(&mut start);
    assert_eq!(ws.status()["running"], 1);
    let mut status = ws.bare(&os(&["status"]));
    both(&mut status);
    let err = failure(status.output().unwrap());
    assert!(err.contains("both OVS_DBG_WORKDIR and OVS_OFFLINE_WORKSPACE are set"), "{err}");
}

/// Regression: a cluster collect said nothing of local tools older than
/// the nodes' (a single collect warns): each warning once, naming the
/// nodes it holds for.
#[test]
fn cluster_collect_warns_once_of_older_local_tools() {
    let ws = Ws::new();
    let sos = give(&fixture(SOS_V4_12), ws.replica.base.path());
    let sos = sos.to_str().unwrap();
    let out = run_ok(&mut ws.cmd(&os(&["cluster", "collect-sos", sos, sos, "--name", "a", "--name", "b"])));
    let err = String::from_utf8_lossy(&out.stderr);
    let local = stdout(run_ok(Command::new("ovs-vswitchd").arg("--version")));
    let local = local.lines().next().unwrap().split_whitespace().last().unwrap().to_string();
    let older = local.split('.').map(|p| p.parse::<u32>().unwrap_or(0)).collect::<Vec<_>>() < vec![3, 5, 0];
    let warning =
        format!("warning: nodes a, b: the local Open vSwitch {local} is older than the source system's 3.5.0:");
    assert_eq!(err.contains(&warning), older, "{err}");
    assert_eq!(err.matches("Open vSwitch").count(), usize::from(older), "{err}");
}

/// Regression: a Kubernetes node given twice was collected twice, then
/// refused as two captures naming one node (with `--name` as the way out).
#[test]
fn collect_k8s_refuses_a_node_given_twice_before_reading_the_cluster() {
    let ws = Ws::new();
    let out = ws.cmd(&os(&["cluster", "collect-k8s", "worker-1", "worker-2", "worker-1"])).output().unwrap();
    let err = failure(out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("node worker-1 is given twice: give each Kubernetes node once"), "{err}");
    assert!(!ws.root.exists() || ws.node_names().is_empty());
}
