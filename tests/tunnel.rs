//! A packet that leaves through a geneve tunnel (its destination port is
//! bound on a remote chassis) traces in the replica as on the live node:
//! the same tables, `tun_id`, `tun_metadata0`, the output to the tunnel
//! port whose `remote_ip` the replica's database holds. The dummy datapath
//! needs no route nor neighbour entry for it (README, "OpenFlow state:
//! what `start` replays").

mod support;

use std::time::{Duration, Instant};
use support::{LabNode, Replica};

const REMOTE_IP: &str = "192.168.50.2";
/// An ARP reply from web1 (vif1) to web3, bound on the remote chassis.
const TO_REMOTE: &str = "in_port=1,dl_src=00:00:00:00:01:0a,dl_dst=00:00:00:00:01:0c,arp,arp_spa=10.0.1.10,\
                         arp_tpa=10.0.1.12,arp_op=2,arp_sha=00:00:00:00:01:0a";

fn eventually(what: &str, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < Duration::from_secs(30), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The lab node with a second chassis (geneve, [`REMOTE_IP`]) holding
/// logical port web3 of ls-web.
fn lab_with_remote_port() -> LabNode {
    let lab = LabNode::start();
    lab.tool("ovn-sbctl", &["chassis-add", "remote-ch", "geneve", REMOTE_IP]);
    lab.tool(
        "ovn-nbctl",
        &["lsp-add", "ls-web", "web3", "--", "lsp-set-addresses", "web3", "00:00:00:00:01:0c 10.0.1.12"],
    );
    eventually("web3's port binding", || {
        let sb = [lab.var("LAB_SB_DB")].map(|db| format!("--db={db}"));
        std::process::Command::new("ovn-sbctl")
            .args(&sb)
            .args(["lsp-bind", "web3", "remote-ch"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    eventually("the output to the tunnel port", || {
        lab.tool("ovs-appctl", &["-t", "ovs-vswitchd", "ofproto/trace", "br-int", TO_REMOTE]).contains("tun_metadata0")
    });
    lab
}

/// The trace without its datapath actions (datapath port numbers differ
/// between two vswitchds).
fn openflow_trace(text: &str) -> Vec<&str> {
    text.lines().filter(|l| !l.starts_with("Datapath actions:")).collect()
}

#[test]
fn tunnel_egress_traces_as_live_without_routes() {
    let lab = lab_with_remote_port();
    let host = Replica::new_as_runner();
    let out_dir = support::user_dir("bundles-");
    let dir = lab.var("LAB_DIR");
    let (nb, sb) = (format!("unix:{dir}/nb/db.sock"), format!("{dir}/sb/db.sock"));
    let output = out_dir.path().to_str().unwrap();
    host.ok(&[
        "collect-local",
        "--output",
        output,
        "--ovs-rundir",
        lab.var("LAB_OVS_RUNDIR"),
        "--nb-db",
        &nb,
        "--sb-db",
        &sb,
    ]);
    let bundle = std::fs::read_dir(out_dir.path()).unwrap().next().unwrap().unwrap().path();
    support::make_readable(&bundle);
    let replica = Replica::new();
    replica.ok(&["collect-capture", bundle.to_str().unwrap()]);
    replica.ok(&["start"]);

    let live = lab.tool("ovs-appctl", &["-t", "ovs-vswitchd", "ofproto/trace", "br-int", TO_REMOTE]);
    let replayed = replica.tool("ovs-appctl", &["-t", "ovs-vswitchd", "ofproto/trace", "br-int", TO_REMOTE]);
    for expected in ["/0xffffff->tun_id", "->tun_metadata0", "output:"] {
        assert!(live.contains(expected), "{expected}: {live}");
    }
    assert_eq!(openflow_trace(&replayed), openflow_trace(&live), "replica:\n{replayed}\nlive:\n{live}");
    let remote = ["--bare", "--columns=options", "find", "Interface", "type=geneve"];
    let options = replica.tool("ovs-vsctl", &remote);
    assert!(options.contains(&format!("remote_ip={REMOTE_IP}")), "{options}");
    // Neither the node nor the replica has a route to the remote chassis:
    // the dummy datapath outputs to the tunnel port all the same.
    let routes = replica.tool("ovs-appctl", &["-t", "ovs-vswitchd", "ovs/route/show"]);
    assert!(!routes.contains(REMOTE_IP), "{routes}");
    assert!(replayed.lines().any(|l| l.starts_with("Datapath actions: ") && !l.contains("drop")), "{replayed}");
}
