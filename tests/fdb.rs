//! A bridge that forwards with NORMAL traces as production does only with
//! its MAC learning table: the live lab node learns MACs from injected
//! packets, its `ovs-appctl fdb/show` is captured (as sos names it, in an
//! sos-layout directory and through `collect-flows`) and `start` restores
//! it with static `fdb/add`s.

mod support;

use std::fs;
use std::path::Path;
use support::{LabNode, Replica};

const BRIDGE: &str = "br-fdb";
/// A unicast from p2 to the MAC learned on p1.
const UNICAST: &str = "in_port=2,dl_src=50:54:00:00:00:02,dl_dst=50:54:00:00:00:01";

/// Packets that teach the bridge three MACs: on p1 and p2 (VLAN 0), and on
/// the access port p3 (VLAN 10).
const PACKETS: [(&str, &str); 3] = [
    ("p1", "in_port(1),eth(src=50:54:00:00:00:01,dst=ff:ff:ff:ff:ff:ff),eth_type(0x0806),arp(sip=10.0.0.1,tip=10.0.0.2,op=1,sha=50:54:00:00:00:01,tha=00:00:00:00:00:00)"),
    ("p2", "in_port(2),eth(src=50:54:00:00:00:02,dst=50:54:00:00:00:01),eth_type(0x0800),ipv4(src=10.0.0.2,dst=10.0.0.1,proto=6,tos=0,ttl=64,frag=no),tcp(src=80,dst=1000)"),
    ("p3", "in_port(3),eth(src=50:54:00:00:00:03,dst=ff:ff:ff:ff:ff:ff),eth_type(0x0806),arp(sip=10.0.0.3,tip=10.0.0.2,op=1,sha=50:54:00:00:00:03,tha=00:00:00:00:00:00)"),
];

/// The lab node with a NORMAL bridge that learned the MACs of [`PACKETS`].
fn lab_with_learned_macs() -> LabNode {
    let lab = LabNode::start();
    lab.tool(
        "ovs-vsctl",
        &[
            "add-br",
            BRIDGE,
            "--",
            "add-port",
            BRIDGE,
            "p1",
            "--",
            "set",
            "Interface",
            "p1",
            "ofport_request=1",
            "--",
            "add-port",
            BRIDGE,
            "p2",
            "--",
            "set",
            "Interface",
            "p2",
            "ofport_request=2",
            "--",
            "add-port",
            BRIDGE,
            "p3",
            "tag=10",
            "--",
            "set",
            "Interface",
            "p3",
            "ofport_request=3",
        ],
    );
    for (port, packet) in PACKETS {
        lab.tool("ovs-appctl", &["-t", "ovs-vswitchd", "netdev-dummy/receive", port, packet]);
    }
    assert_eq!(fdb_entries(&lab.tool("ovs-appctl", &["-t", "ovs-vswitchd", "fdb/show", BRIDGE])).len(), 3);
    lab
}

/// Port, VLAN and MAC of each entry of fdb/show (not the age: the
/// replica's entries are static).
fn fdb_entries(show: &str) -> Vec<Vec<String>> {
    let mut entries: Vec<Vec<String>> =
        show.lines().skip(1).map(|l| l.split_whitespace().take(3).map(String::from).collect()).collect();
    entries.sort();
    entries
}

/// The trace without its datapath actions (datapath port numbers differ
/// between two vswitchds), and whether the datapath output goes to one
/// port only.
fn trace(text: &str) -> (Vec<String>, bool) {
    let actions = text.lines().find_map(|l| l.strip_prefix("Datapath actions: ")).unwrap_or_default();
    let lines = text.lines().filter(|l| !l.starts_with("Datapath actions:")).map(String::from).collect();
    (lines, !actions.contains(','))
}

/// The capture files: the OVS database, the bridge's flows and (when
/// `with_fdb`) its fdb/show, under the names sos gives them.
fn write_capture(lab: &LabNode, dir: &Path, with_fdb: bool) {
    fs::copy(lab.var("LAB_OVS_DB_FILE"), dir.join("conf.db")).unwrap();
    let flows = lab.tool("ovs-ofctl", &["-O", "OpenFlow15", "dump-flows", BRIDGE]);
    fs::write(dir.join(format!("ovs-ofctl_-O_OpenFlow15_dump-flows_{BRIDGE}")), flows).unwrap();
    if with_fdb {
        let show = lab.tool("ovs-appctl", &["-t", "ovs-vswitchd", "fdb/show", BRIDGE]);
        fs::write(dir.join(format!("ovs-appctl_fdb.show_{BRIDGE}")), show).unwrap();
    }
}

/// Starts a replica from files named as sos names them, through
/// `collect-flows`; returns it and start's output.
fn replica_from_flow_files(lab: &LabNode, with_fdb: bool) -> (Replica, String) {
    let replica = Replica::new();
    let dir = replica.base.path().join("capture");
    fs::create_dir(&dir).unwrap();
    write_capture(lab, &dir, with_fdb);
    support::make_readable(replica.base.path());
    replica.ok(&["collect-db-ovs", dir.join("conf.db").to_str().unwrap()]);
    fs::remove_file(dir.join("conf.db")).unwrap();
    replica.ok(&["collect-flows", dir.to_str().unwrap()]);
    let out = replica.ok(&["start"]);
    (replica, out)
}

fn check_replica_matches_live(lab: &LabNode, replica: &Replica, out: &str) {
    assert!(out.contains(&format!("{BRIDGE}: 1/1 flows, 0/0 groups, 0/0 meters, 3/3 MAC table entries")), "{out}");
    let status = replica.status();
    let restore = status["restore"].as_array().unwrap().iter().find(|b| b["bridge"] == BRIDGE).unwrap();
    assert_eq!(restore["fdb"], serde_json::json!({"expected": 3, "restored": 3, "rejected": 0}), "{status}");
    let live = lab.tool("ovs-appctl", &["-t", "ovs-vswitchd", "fdb/show", BRIDGE]);
    let restored = replica.tool("ovs-appctl", &["-t", "ovs-vswitchd", "fdb/show", BRIDGE]);
    assert_eq!(fdb_entries(&restored), fdb_entries(&live), "{restored}");
    let live = lab.tool("ovs-appctl", &["-t", "ovs-vswitchd", "ofproto/trace", BRIDGE, UNICAST]);
    let replayed = replica.tool("ovs-appctl", &["-t", "ovs-vswitchd", "ofproto/trace", BRIDGE, UNICAST]);
    assert!(live.contains("forwarding to learned port"), "{live}");
    assert_eq!(trace(&replayed), trace(&live), "{replayed}");
    assert!(trace(&live).1, "{live}");
}

#[test]
fn learned_macs_from_flow_files_trace_as_live() {
    let lab = lab_with_learned_macs();
    let (replica, out) = replica_from_flow_files(&lab, true);
    check_replica_matches_live(&lab, &replica, &out);
    // Without the table, the replica floods where production unicasts.
    let (bare, out) = replica_from_flow_files(&lab, false);
    assert!(!out.contains("MAC table"), "{out}");
    let flooded = bare.tool("ovs-appctl", &["-t", "ovs-vswitchd", "ofproto/trace", BRIDGE, UNICAST]);
    assert!(flooded.contains("no learned MAC for destination, flooding"), "{flooded}");
}

#[test]
fn learned_macs_from_an_sos_layout_directory_trace_as_live() {
    let lab = lab_with_learned_macs();
    let replica = Replica::new();
    let root = replica.base.path().join("sosreport-node-2026");
    let commands = root.join("sos_commands/openvswitch");
    let etc = root.join("etc/openvswitch");
    fs::create_dir_all(&commands).unwrap();
    fs::create_dir_all(&etc).unwrap();
    fs::write(root.join("version.txt"), "sosreport: 4.0\n").unwrap();
    write_capture(&lab, &commands, true);
    fs::rename(commands.join("conf.db"), etc.join("conf.db")).unwrap();
    support::make_readable(replica.base.path());
    let collected = replica.ok(&["collect-sos-ovs", root.to_str().unwrap()]);
    assert!(collected.contains("3 MAC table entries"), "{collected}");
    assert!(collected.contains("MAC table from sos_commands/openvswitch/ovs-appctl_fdb.show_br-fdb"), "{collected}");
    let out = replica.ok(&["start"]);
    check_replica_matches_live(&lab, &replica, &out);
}

/// collect-local reads the table with `ovs-appctl fdb/show` on the live
/// node (vswitchd's control socket found from its pidfile); the bundle
/// restores it.
#[test]
fn learned_macs_read_live_by_collect_local_trace_as_live() {
    let lab = lab_with_learned_macs();
    let host = Replica::new_as_runner();
    let out_dir = support::user_dir("bundles-");
    let out = host.ok(&[
        "collect-local",
        "--output",
        out_dir.path().to_str().unwrap(),
        "--ovs-rundir",
        lab.var("LAB_OVS_RUNDIR"),
    ]);
    assert!(
        out.contains(&format!("{BRIDGE} (OpenFlow15): 1 flows, 0 groups, meters, TLV map, 3 MAC table entries")),
        "{out}"
    );
    let bundle = fs::read_dir(out_dir.path()).unwrap().next().unwrap().unwrap().path();
    support::make_readable(&bundle);
    let replica = Replica::new();
    replica.ok(&["collect-capture", bundle.to_str().unwrap()]);
    let out = replica.ok(&["start"]);
    check_replica_matches_live(&lab, &replica, &out);
}
