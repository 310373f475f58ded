//! `cluster trace` on workspaces of the multi-chassis lab
//! (`support::cluster`): every chassis collected (its sos layout through
//! `cluster collect-sos`, or `collect-local` → `cluster collect-capture`),
//! and the stitched trace's hops compared with the live chassis' own
//! `ofproto/trace` of the same flow, the tunnel values it carried with what
//! the live trace set. Replicas run as the unprivileged test user and start
//! on demand.

mod support;

use serde_json::Value;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::process::Command;
use std::time::Instant;
use support::cluster::ClusterLab;
use support::k8s::Interconnect;
use support::trace_compare::{comparable, datapath_ports, tunnel_settings};
use support::workspace::Workspace as Ws;
use support::{packets, run_ok, Replica};

const BR: &str = "br-int";

impl Ws {
    /// `cluster trace --json --no-detrace --node NODE br-int FLOW extra…`.
    fn trace(&self, node: &str, flow: &str, extra: &[&str]) -> Value {
        let mut args = vec!["cluster", "trace", "--json", "--no-detrace", "--node", node, BR, flow];
        args.extend(extra);
        serde_json::from_str(&self.ok(&args)).unwrap()
    }

    /// The replica's datapath port number → port name.
    fn datapath_ports(&self, node: &str) -> BTreeMap<String, String> {
        datapath_ports(&self.ok(&["--node", node, "exec", "ovs-appctl", "dpctl/show"]))
    }

    /// Collects `chassis` of `lab` laid out as its sos report.
    fn collect_sos(&self, lab: &ClusterLab, chassis: &[&str]) {
        let mut args: Vec<OsString> = vec!["cluster".into(), "collect-sos".into()];
        for name in chassis {
            let dir = self.replica.base.path().join(format!("sos-{name}"));
            args.push(lab.lay_out_as_sos(name, true, &dir).into());
            support::make_readable(&dir);
        }
        self.ok(&args);
    }

    /// Collects `chassis` with `collect-local` (as the sockets' owner) into
    /// a bundle, imported with `cluster collect-capture`.
    fn collect_local(&self, lab: &ClusterLab, chassis: &str) {
        let host = Replica::new_as_runner();
        let out = support::user_dir("bundle-");
        let mut args = vec!["collect-local".to_string(), "--output".into(), out.path().display().to_string()];
        args.extend(lab.collect_local_args(chassis, true));
        host.ok(&args);
        let bundle = std::fs::read_dir(out.path()).unwrap().next().unwrap().unwrap().path();
        support::make_readable(&bundle);
        self.ok(&[OsString::from("cluster"), "collect-capture".into(), bundle.into()]);
    }
}

/// Every hop's steps equal the live chassis' own trace of the hop's flow,
/// and every tunnel leg carries what the live trace set. Returns the hops.
fn assert_like_live<'a>(ws: &Ws, lab: &ClusterLab, stitched: &'a Value) -> &'a [Value] {
    let hops = stitched["hops"].as_array().unwrap_or_else(|| panic!("{stitched}"));
    for hop in hops {
        let (node, flow) = (hop["node"].as_str().unwrap(), hop["flow"].as_str().unwrap());
        let live = lab.live_trace(node, hop["bridge"].as_str().unwrap(), flow);
        let live_ports = lab.datapath_ports(node);
        let text = hop["text"].as_str().unwrap();
        assert_eq!(comparable(text, &ws.datapath_ports(node)), comparable(&live, &live_ports), "{node}: {flow}");
        for outcome in hop["outcome"].as_array().unwrap().iter().filter(|o| o["kind"] == "tunnel") {
            let next = &hops[outcome["hop"].as_u64().unwrap() as usize];
            assert_eq!(outcome["leg"]["arrival"]["flow"], next["flow"], "{outcome}");
            let carried = &outcome["leg"]["carried"];
            let (tun_id, metadata) = tunnel_settings(&live);
            assert_eq!(
                (carried["tun_id"].as_str(), carried["tun_metadata0"].as_str()),
                (Some(&*format!("{tun_id:#x}")), metadata.map(|m| format!("{m:#x}")).as_deref())
            );
        }
    }
    hops
}

/// The hops' (node, outcome kinds with their port or next node).
fn path(hops: &[Value]) -> Vec<(String, Vec<String>)> {
    hops.iter()
        .map(|hop| {
            let outcomes = hop["outcome"].as_array().unwrap().iter().map(|o| {
                let to = o["port"].as_str().or(o["leg"]["node"].as_str()).or(o["leg"]["remote_ip"].as_str());
                format!("{}{}", o["kind"].as_str().unwrap(), to.map(|t| format!(" {t}")).unwrap_or_default())
            });
            (hop["node"].as_str().unwrap().to_string(), outcomes.collect())
        })
        .collect()
}

fn hop(node: &str, outcomes: &[&str]) -> (String, Vec<String>) {
    (node.to_string(), outcomes.iter().map(|o| o.to_string()).collect())
}

/// `ClusterLab::tcp` entering on pod `from`'s port.
fn tcp(lab: &ClusterLab, from: &str, dl_dst: &str, nw_dst: &str, tp_dst: u16) -> String {
    format!("in_port={},{}", lab.pod(from).1, lab.tcp(from, dl_dst, nw_dst, tp_dst))
}

/// `ClusterLab::icmp_to_az2_pod1` entering on pod `from`'s port.
fn icmp_to_az2_pod1(lab: &ClusterLab, from: &str) -> String {
    format!("in_port={},{}", lab.pod(from).1, lab.icmp_to_az2_pod1(from))
}

fn have_ovn_detrace() -> bool {
    Command::new("ovn-detrace").arg("--help").output().is_ok_and(|o| o.status.success())
}

/// lr1's port on ls1.
const LR1_LS1_MAC: &str = "00:00:00:00:ff:01";

/// Three chassis from their sos layouts, nothing running: pod1 → pod2
/// starts exactly node-1 and node-2; then pod1 → pod3 through lr1, pod1 →
/// lb1's VIP (a select group: stops without --dp-hash, lands on pod3 with
/// it) and an ARP broadcast (one leg per chassis of ls1) each trace as the
/// live chassis do.
#[test]
fn stitched_traces_equal_the_live_chassis_traces() {
    let lab = ClusterLab::start(3);
    let ws = Ws::new();
    ws.collect_sos(&lab, &["node-1", "node-2", "node-3"]);
    assert!(ws.running().is_empty());

    let (_, _, pod2_mac, pod2_ip) = lab.pod("pod2");
    let began = Instant::now();
    let stitched = ws.trace("node-1", &tcp(&lab, "pod1", pod2_mac, pod2_ip, 80), &[]);
    eprintln!("pod1 → pod2, both replicas started on demand: {:.1} s", began.elapsed().as_secs_f64());
    assert_eq!(ws.running(), ["node-1", "node-2"], "started on demand: only the nodes the trace reached");
    let began = Instant::now();
    ws.trace("node-1", &tcp(&lab, "pod1", pod2_mac, pod2_ip, 80), &[]);
    eprintln!("pod1 → pod2, replicas running: {:.1} s", began.elapsed().as_secs_f64());
    let hops = assert_like_live(&ws, &lab, &stitched);
    assert_eq!(path(hops), [hop("node-1", &["tunnel node-2"]), hop("node-2", &["output pod2"])]);
    // A captured frame (a pcap names no interface: --in-port) crosses as
    // its flow does.
    let (_, ofport, mac, ip) = lab.pod("pod1");
    let frame = packets::icmp_echo(mac, pod2_mac, ip, pod2_ip);
    let pcap = packets::write_pcap(&ws.replica.base.path().join("pod1.pcap"), &[&frame]);
    let args = ["cluster", "trace", "--json", "--no-detrace", "--node", "node-1", BR, "--pcap"];
    let out = ws.ok(&[&args[..], &[pcap.to_str().unwrap(), "--in-port", &ofport.to_string()]].concat());
    let captured: Value = serde_json::from_str(&out).unwrap();
    let hops = assert_like_live(&ws, &lab, &captured);
    assert_eq!(path(hops), [hop("node-1", &["tunnel node-2"]), hop("node-2", &["output pod2"])]);
    assert!(hops[0]["flow"].as_str().unwrap().contains(",icmp_type=8,"), "{captured}");
    if have_ovn_detrace() {
        let flow = tcp(&lab, "pod1", pod2_mac, pod2_ip, 80);
        let text = ws.ok(&["cluster", "trace", "--node", "node-1", BR, &flow]);
        let (sent, arrived) = text.split_once("== hop 2: node-2").unwrap_or_else(|| panic!("{text}"));
        for (expected, part) in [("Logical datapath: \"ls1\"", sent), ("logical_port \"pod2\"", arrived)] {
            assert!(part.contains("Logical flow: table=") && part.contains(expected), "{expected:?} not in:\n{part}");
        }
    }

    let (_, _, pod3_mac, pod3_ip) = lab.pod("pod3");
    let stitched = ws.trace("node-1", &tcp(&lab, "pod1", LR1_LS1_MAC, pod3_ip, 8080), &[]);
    let hops = assert_like_live(&ws, &lab, &stitched);
    assert_eq!(path(hops), [hop("node-1", &["tunnel node-2"]), hop("node-2", &["output pod3"])]);
    let rewrites = &hops[0]["outcome"][0]["leg"]["rewrites"];
    assert!(rewrites.as_array().unwrap().contains(&serde_json::json!(["dl_dst", pod3_mac])), "{rewrites}");
    assert!(rewrites.as_array().unwrap().contains(&serde_json::json!(["nw_ttl", "63"])), "{rewrites}");

    let to_vip = tcp(&lab, "pod1", LR1_LS1_MAC, "10.0.0.10", 80);
    let stopped = ws.trace("node-1", &to_vip, &[]);
    assert_eq!(path(stopped["hops"].as_array().unwrap()), [hop("node-1", &["select_hash"])]);
    assert_eq!(stopped["hops"][0]["select"]["choice"], "needs_dp_hash");
    let text = ws.ok(&["cluster", "trace", "--no-detrace", "--node", "node-1", BR, &to_vip]);
    assert!(text.contains("give --dp-hash N to follow a bucket"), "{text}");
    let stitched = ws.trace("node-1", &to_vip, &["--dp-hash", "1"]);
    let hops = assert_like_live(&ws, &lab, &stitched);
    assert_eq!(hops[0]["select"], serde_json::json!({"choice": "bucket", "bucket": "0"}));
    assert_eq!(path(hops), [hop("node-1", &["tunnel node-2"]), hop("node-2", &["output pod3"])]);
    assert!(hops[1]["flow"].as_str().unwrap().contains(&format!("nw_dst={pod3_ip},")), "{}", hops[1]["flow"]);

    let (_, ofport, mac, ip) = lab.pod("pod1");
    let arp = format!(
        "in_port={ofport},arp,dl_src={mac},dl_dst=ff:ff:ff:ff:ff:ff,arp_op=1,arp_spa={ip},arp_tpa=10.0.1.99,arp_sha={mac}"
    );
    let stitched = ws.trace("node-1", &arp, &[]);
    let hops = assert_like_live(&ws, &lab, &stitched);
    let mut first = path(&hops[..1]);
    first[0].1.sort();
    assert_eq!(first, [hop("node-1", &["controller", "tunnel node-2", "tunnel node-3"])]);
    let mut rest = path(&hops[1..]);
    rest.sort();
    assert_eq!(rest, [hop("node-2", &["output pod2"]), hop("node-3", &["output pod5"])]);

    let text = ws.ok(&["cluster", "trace", "--no-detrace", "--node", "node-1", BR, &arp]);
    assert!(text.starts_with("== hop 1: node-1 (br-int) =="), "{text}");
    assert!(text.contains("== hop 2: node-2 (br-int), from node-1 (hop 1) =="), "{text}");
    assert!(text.contains("-> geneve to node-3 (192.168.50.3) out of ovn-node-3-0: tun_id=0x"), "{text}");
    assert!(text.contains("\n-> output to pod5 (VIF of logical port pod5)\n"), "{text}");

    // The same chassis collected live (collect-local bundles) trace alike.
    let local = Ws::new();
    for chassis in ["node-1", "node-2", "node-3"] {
        local.collect_local(&lab, chassis);
    }
    let stitched = local.trace("node-1", &tcp(&lab, "pod1", LR1_LS1_MAC, pod3_ip, 8080), &[]);
    let hops = assert_like_live(&local, &lab, &stitched);
    assert_eq!(path(hops), [hop("node-1", &["tunnel node-2"]), hop("node-2", &["output pod3"])]);
    assert_eq!(local.running(), ["node-1", "node-2"]);
}

/// pod1 (node-1) → pod2 (node-2) in a workspace where nothing runs: two
/// hops, each as the live chassis traces it, and only those two replicas
/// started.
fn assert_pod1_to_pod2_starts_two_nodes(ws: &Ws, lab: &ClusterLab) {
    assert!(ws.running().is_empty());
    let (_, _, pod2_mac, pod2_ip) = lab.pod("pod2");
    let stitched = ws.trace("node-1", &tcp(lab, "pod1", pod2_mac, pod2_ip, 80), &[]);
    let hops = assert_like_live(ws, lab, &stitched);
    assert_eq!(path(hops), [hop("node-1", &["tunnel node-2"]), hop("node-2", &["output pod2"])]);
    assert_eq!(ws.running(), ["node-1", "node-2"]);
}

/// Twenty chassis collected, none running: a trace from pod1 (node-1) to
/// pod2 (node-2) starts those two replicas and no other.
#[test]
fn twenty_nodes_start_only_the_nodes_a_trace_reaches() {
    let lab = ClusterLab::start(20);
    let ws = Ws::new();
    let chassis: Vec<String> = lab.chassis().iter().map(|c| c.to_string()).collect();
    ws.collect_sos(&lab, &chassis.iter().map(String::as_str).collect::<Vec<_>>());
    assert_pod1_to_pod2_starts_two_nodes(&ws, &lab);
}

/// `flow` from az1's non-gateway chassis: three hops to az2-pod1, through
/// az1's gateway, each as its live chassis traces it.
fn assert_three_hops_through_the_gateway(ws: &Ws, lab: &ClusterLab, flow: &str) {
    let stitched = ws.trace("az1-node-2", flow, &[]);
    let hops = assert_like_live(ws, lab, &stitched);
    let expected = [
        hop("az1-node-2", &["tunnel az1-node-1"]),
        hop("az1-node-1", &["tunnel az2-node-1"]),
        hop("az2-node-1", &["output az2-pod1"]),
    ];
    assert_eq!(path(hops), expected);
}

/// Interconnect: a workspace of az1's gateway chassis alone ends the trace
/// at the tunnel to az2 ("not collected", with the command to add it); with
/// az2's chassis collected too (all by collect-local → cluster
/// collect-capture) the packet crosses the transit switch and reaches
/// az2-pod1, each zone's hop as its live chassis traces it; from az1's
/// other chassis it takes three hops, through the gateway.
#[test]
fn cross_zone_trace_through_the_transit_switch() {
    let lab = ClusterLab::start_ic();
    let ws = Ws::new();
    ws.collect_local(&lab, "az1-node-1");
    let flow = icmp_to_az2_pod1(&lab, "az1-pod1");
    let alone = ws.trace("az1-node-1", &flow, &[]);
    assert_eq!(path(alone["hops"].as_array().unwrap()), [hop("az1-node-1", &["not_collected 192.168.60.2"])]);
    let text = ws.ok(&["cluster", "trace", "--no-detrace", "--node", "az1-node-1", BR, &flow]);
    assert!(text.contains("leaves to 192.168.60.2 (not collected); add that node with: ovs-offline -W "), "{text}");
    assert!(text.contains(" cluster collect-sos SOSREPORT"), "{text}");

    ws.collect_local(&lab, "az2-node-1");
    let stitched = ws.trace("az1-node-1", &flow, &[]);
    let hops = assert_like_live(&ws, &lab, &stitched);
    assert_eq!(path(hops), [hop("az1-node-1", &["tunnel az2-node-1"]), hop("az2-node-1", &["output az2-pod1"])]);

    // From az1's other chassis: three hops, through az1's gateway.
    ws.collect_local(&lab, "az1-node-2");
    let flow = icmp_to_az2_pod1(&lab, "az1-pod2");
    assert_three_hops_through_the_gateway(&ws, &lab, &flow);
}

/// Plain OVS without OVN (a Neutron OVS agent's br-int + br-tun, one vxlan
/// port per peer, no Chassis/Encap rows: each node is reached at its
/// tunnels' local_ip), collected from sos layouts: VM1 → VM2 leaves
/// node-1's br-tun with the VNI (tun_id 0x64) and arrives on node-2's
/// vxlan port back to node-1, untagged (br-tun strips br-int's local
/// VLAN), to reach vm2; an ARP broadcast floods to both peers. Every hop
/// as the live node traces it. Collected live (collect-local bundles),
/// node-1 alone: the flood leaves to two nodes not collected; with node-2,
/// one branch reaches vm2.
#[test]
fn neutron_vxlan_trace_equals_the_live_nodes() {
    let lab = ClusterLab::start_vxlan(false);
    let ws = Ws::new();
    ws.collect_sos(&lab, &["node-1", "node-2", "node-3"]);
    let (_, ofport, mac, ip) = lab.pod("vm1");
    let (_, _, vm2_mac, vm2_ip) = lab.pod("vm2");
    let flow = format!("in_port={ofport},icmp,dl_src={mac},dl_dst={vm2_mac},nw_src={ip},nw_dst={vm2_ip},nw_ttl=64");
    let stitched = ws.trace("node-1", &flow, &[]);
    let hops = assert_like_live(&ws, &lab, &stitched);
    assert_eq!(path(hops), [hop("node-1", &["tunnel node-2"]), hop("node-2", &["output tap-vm2"])]);
    let leg = &hops[0]["outcome"][0]["leg"];
    assert_eq!((leg["kind"].as_str(), leg["port"].as_str()), (Some("vxlan"), Some("vxlan-0a0a0002")), "{leg}");
    assert_eq!(leg["arrival"]["port"], "vxlan-0a0a0001", "{leg}");
    assert_eq!(hops[1]["bridge"], "br-tun");
    let arrived = hops[1]["flow"].as_str().unwrap();
    assert!(arrived.contains(",tun_id=0x64,tun_src=10.10.0.1,tun_dst=10.10.0.2,"), "{arrived}");
    assert!(arrived.contains(",vlan_tci=0x0000,") && !arrived.contains("dl_vlan"), "{arrived}");

    let arp = format!("in_port={ofport},arp,dl_src={mac},dl_dst=ff:ff:ff:ff:ff:ff,arp_op=1,arp_spa={ip},arp_tpa={vm2_ip},arp_sha={mac}");
    let stitched = ws.trace("node-1", &arp, &[]);
    let hops = assert_like_live(&ws, &lab, &stitched);
    let mut first = path(&hops[..1]);
    first[0].1.sort();
    assert_eq!(first, [hop("node-1", &["tunnel node-2", "tunnel node-3"])]);
    let mut rest = path(&hops[1..]);
    rest.sort();
    assert_eq!(rest, [hop("node-2", &["output tap-vm2"]), hop("node-3", &["output tap-vm3"])]);
    let text = ws.ok(&["cluster", "trace", "--no-detrace", "--node", "node-1", BR, &arp]);
    assert!(text.contains("-> vxlan to node-3 (10.10.0.3) out of vxlan-0a0a0003: tun_id=0x64, tun_src=10.10.0.1; arrives on vxlan-0a0a0001; traced as hop"), "{text}");

    let local = Ws::new();
    local.collect_local(&lab, "node-1");
    let alone = local.trace("node-1", &arp, &[]);
    let mut ends = path(alone["hops"].as_array().unwrap());
    ends[0].1.sort();
    assert_eq!(ends, [hop("node-1", &["not_collected 10.10.0.2", "not_collected 10.10.0.3"])]);
    local.collect_local(&lab, "node-2");
    let stitched = local.trace("node-1", &arp, &[]);
    let hops = assert_like_live(&local, &lab, &stitched);
    let mut first = path(&hops[..1]);
    first[0].1.sort();
    assert_eq!(first, [hop("node-1", &["not_collected 10.10.0.3", "tunnel node-2"])]);
    assert_eq!(path(&hops[1..]), [hop("node-2", &["output tap-vm2"])]);
}

/// The same overlay over gre: a tunnel like vxlan, its key the VNI.
#[test]
fn neutron_gre_trace_equals_the_live_nodes() {
    let lab = ClusterLab::start_vxlan(true);
    let ws = Ws::new();
    ws.collect_sos(&lab, &["node-1", "node-2"]);
    let (_, ofport, mac, ip) = lab.pod("vm1");
    let (_, _, vm2_mac, vm2_ip) = lab.pod("vm2");
    let flow = format!("in_port={ofport},icmp,dl_src={mac},dl_dst={vm2_mac},nw_src={ip},nw_dst={vm2_ip},nw_ttl=64");
    let stitched = ws.trace("node-1", &flow, &[]);
    let hops = assert_like_live(&ws, &lab, &stitched);
    assert_eq!(path(hops), [hop("node-1", &["tunnel node-2"]), hop("node-2", &["output tap-vm2"])]);
    let leg = &hops[0]["outcome"][0]["leg"];
    assert_eq!((leg["kind"].as_str(), leg["arrival"]["port"].as_str()), (Some("gre"), Some("gre-0a0a0001")), "{leg}");
}

/// `cluster collect-k8s` through the emulated Kubernetes API
/// (`support::k8s`): the lab's three chassis are the nodes of an upstream
/// interconnect cluster, one ovnkube-node and one ovs-node pod each, their
/// NB/SB the lab's central ones. The workspace holds the three nodes named
/// by node, status gives their encap IPs, and pod1 → pod2 crosses from
/// node-1 to node-2 as the live chassis trace it. A node whose exec is
/// refused costs that node alone: one line, the others collected, exit 1.
#[test]
fn collect_k8s_nodes_trace_across_like_the_live_chassis() {
    let lab = ClusterLab::start(3);
    let kube = support::k8s::Cluster::of_lab(&lab, Interconnect::Upstream);
    let nodes = ["node-1", "node-2", "node-3"];
    let collect = |ws: &Ws| {
        let mut cmd = ws.cmd(&[&["cluster", "collect-k8s"][..], &nodes].concat());
        kube.reach(&mut cmd).output().unwrap()
    };
    let ws = Ws::new();
    let began = Instant::now();
    let out = collect(&ws);
    eprintln!("cluster collect-k8s of 3 lab nodes: {:.1} s", began.elapsed().as_secs_f64());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("nodes collected: 3"), "{text}");
    let layout = "  through kubectl: upstream ovn-kubernetes interconnect (per-node NB/SB in ovnkube-node) layout\n";
    assert_eq!(text.matches(layout).count(), 3, "{text}");
    for node in nodes {
        assert!(text.contains(&format!("Node {node}, from Kubernetes node {node}:")), "{text}");
        assert!(text.contains(&format!("from pod ovn-kubernetes/ovs-node-{node} container ovs-daemons: ")), "{text}");
    }
    let status: Value = serde_json::from_str(&ws.ok(&["cluster", "status", "--json"])).unwrap();
    let listed: Vec<(&str, &str)> = status["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["name"].as_str().unwrap(), n["encap_ip"].as_str().unwrap_or("-")))
        .collect();
    let expected: Vec<(&str, &str)> = nodes.iter().map(|n| (*n, lab.encap_ip(n))).collect();
    assert_eq!(listed, expected, "{status}");
    let text = ws.ok(&["cluster", "status"]);
    for (node, ip) in expected {
        let line = text.lines().find(|l| l.starts_with(node)).unwrap_or_else(|| panic!("{node} not in:\n{text}"));
        assert!(line.contains(ip) && line.contains("OVS DB, NB, SB"), "{line}");
    }

    assert_pod1_to_pod2_starts_two_nodes(&ws, &lab);

    kube.set("forbidden", "ovs-node-node-2\novnkube-node-node-2\n");
    let refused = Ws::new();
    let out = collect(&refused);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("Kubernetes node node-2: ") && err.contains("the cluster refused"), "{err}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("nodes collected: 2") && !text.contains("Node node-2"), "{text}");
    let status: Value = serde_json::from_str(&refused.ok(&["cluster", "status", "--json"])).unwrap();
    let names: Vec<&str> = status["nodes"].as_array().unwrap().iter().map(|n| n["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["node-1", "node-3"], "{status}");
}

/// Interconnect through the emulated Kubernetes API, OpenShift's layout
/// (`oc`, one ovnkube-node pod per node): each node's NB/SB are its zone's.
/// With az1's nodes alone the trace leaves to az2 "not collected" and says
/// to add it as az1's were (collect-k8s, same context); with az2-node-1
/// added, from az1's non-gateway chassis the packet takes three hops to
/// az2-pod1, each as its live chassis traces it.
#[test]
fn collect_k8s_openshift_interconnect_zones_trace_across_the_transit_switch() {
    let lab = ClusterLab::start_ic();
    let kube = support::k8s::Cluster::of_lab(&lab, Interconnect::OpenShift);
    let ws = Ws::new();
    let collect = |nodes: &[&str]| {
        let args = [&["cluster", "collect-k8s", "-o", "--context", "lab"][..], nodes].concat();
        String::from_utf8_lossy(&run_ok(kube.reach(&mut ws.cmd(&args))).stdout).into_owned()
    };
    let text = collect(&["az1-node-1", "az1-node-2"]);
    assert_eq!(text.matches("  through oc: OpenShift interconnect (4.14+").count(), 2, "{text}");
    assert!(kube.calls().lines().all(|l| !l.contains("ovs-node")), "{}", kube.calls());

    let (_, ofport, mac, ip) = lab.pod("az1-pod2");
    let (_, _, _, az2_ip) = lab.pod("az2-pod1");
    let flow = format!(
        "in_port={ofport},icmp,dl_src={mac},dl_dst=00:00:00:01:ff:01,nw_src={ip},nw_dst={az2_ip},nw_ttl=64,icmp_type=8,icmp_code=0"
    );
    let alone = ws.trace("az1-node-2", &flow, &[]);
    let expected = [hop("az1-node-2", &["tunnel az1-node-1"]), hop("az1-node-1", &["not_collected 192.168.60.2"])];
    assert_eq!(path(alone["hops"].as_array().unwrap()), expected);
    // Regression: the way to add it was always an sos report.
    let text = ws.ok(&["cluster", "trace", "--no-detrace", "--node", "az1-node-2", BR, &flow]);
    let add = " cluster collect-k8s --context lab NODE (the Kubernetes node at 192.168.60.2)";
    assert!(text.contains("leaves to 192.168.60.2 (not collected); add that node with: ovs-offline -W "), "{text}");
    assert!(text.contains(add), "{text}");

    collect(&["az2-node-1"]);
    for node in lab.chassis() {
        let nb = ws.ok(&["--node", node, "exec", "ovn-nbctl", "ls-list"]);
        let zone = lab.zone(node).unwrap();
        assert!(nb.contains(&format!("(ls-{zone})")), "{node}: {nb}");
    }
    ws.ok(&["cluster", "stop"]);
    assert_three_hops_through_the_gateway(&ws, &lab, &flow);
}
