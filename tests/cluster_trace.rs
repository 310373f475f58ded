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
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;
use support::cluster::ClusterLab;
use support::k8s::Interconnect;
use support::{is_root, run_ok, Replica, TEST_USER};

const BR: &str = "br-int";

/// A workspace driven through the built binary as the test user.
struct Ws {
    replica: Replica,
    root: PathBuf,
}

impl Ws {
    fn new() -> Ws {
        let replica = Replica::new();
        let root = replica.base.path().join("ws");
        Ws { replica, root }
    }

    /// `ovs-offline -W WS args…`.
    fn cmd<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Command {
        let binary = self.replica.base.path().join("ovs-offline");
        let mut cmd = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", TEST_USER, "--"]).arg(binary);
            c
        } else {
            Command::new(binary)
        };
        cmd.arg("-W").arg(&self.root).args(args).current_dir(self.replica.base.path());
        cmd.env_remove("OVS_DBG_WORKDIR").env_remove("OVS_OFFLINE_WORKSPACE");
        cmd
    }

    fn ok<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> String {
        String::from_utf8_lossy(&run_ok(&mut self.cmd(args)).stdout).into_owned()
    }

    /// `cluster trace --json --no-detrace --node NODE br-int FLOW extra…`.
    fn trace(&self, node: &str, flow: &str, extra: &[&str]) -> Value {
        let mut args = vec!["cluster", "trace", "--json", "--no-detrace", "--node", node, BR, flow];
        args.extend(extra);
        serde_json::from_str(&self.ok(&args)).unwrap()
    }

    /// The nodes whose replica runs.
    fn running(&self) -> Vec<String> {
        let status: Value = serde_json::from_str(&self.ok(&["cluster", "status", "--json"])).unwrap();
        let nodes = status["nodes"].as_array().unwrap_or_else(|| panic!("{status}"));
        nodes.iter().filter(|n| n["running"] == true).map(|n| n["name"].as_str().unwrap().to_string()).collect()
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

impl Drop for Ws {
    fn drop(&mut self) {
        let _ = self.cmd(&["cluster", "stop"]).output();
    }
}

/// Datapath port number → port name, from `ovs-appctl dpctl/show`.
fn datapath_ports(dpctl_show: &str) -> BTreeMap<String, String> {
    dpctl_show
        .lines()
        .filter_map(|l| l.trim().strip_prefix("port "))
        .filter_map(|l| l.split_once(": "))
        .map(|(n, rest)| (n.to_string(), rest.split(' ').next().unwrap_or(rest).to_string()))
        .collect()
}

/// A trace as another run of it on an equivalent node prints it:
/// recirculation ids and datapath port numbers (named) are each node's own,
/// and `dec_ttl()` reads back from dump text as `dec_ttl`.
fn comparable(trace: &str, ports: &BTreeMap<String, String>) -> String {
    let lines = trace.lines().map(|line| {
        let line = match line.strip_prefix("Datapath actions: ") {
            Some(actions) => {
                let named: Vec<String> = split_top(actions)
                    .iter()
                    .map(|p| ports.get(*p).cloned().unwrap_or_else(|| p.to_string()))
                    .collect();
                format!("Datapath actions: {}", named.join(","))
            }
            None => line.to_string(),
        };
        without_recirc_ids(&line).replace("dec_ttl()", "dec_ttl")
    });
    lines.collect::<Vec<_>>().join("\n")
}

fn split_top(actions: &str) -> Vec<&str> {
    let (mut depth, mut start, mut parts) = (0usize, 0usize, Vec::new());
    for (i, c) in actions.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&actions[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&actions[start..]);
    parts
}

fn without_recirc_ids(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = ["recirc_id=", "recirc("].iter().filter_map(|m| rest.find(m).map(|i| i + m.len())).min() {
        out.push_str(&rest[..at]);
        let id = rest[at..].chars().take_while(|c| c.is_ascii_hexdigit() || *c == 'x').count();
        out.push('N');
        rest = &rest[at + id..];
    }
    out.push_str(rest);
    out
}

/// What the live trace's flows put in the tunnel: (tun_id,
/// tun_metadata0), composed as its steps leave them.
fn live_tunnel_values(trace: &str) -> (String, String) {
    let hex = |s: &str| u32::from_str_radix(s.trim_start_matches("0x"), 16).unwrap();
    let (mut tun_id, mut egress, mut ingress) = (None, None, None);
    for line in trace.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("set_field:").and_then(|s| s.strip_suffix("/0xffffff->tun_id")) {
            tun_id = Some(hex(v));
        } else if let Some(v) = line.strip_prefix("set_field:").and_then(|s| s.strip_suffix("->tun_metadata0")) {
            egress = Some(hex(v));
        } else if let Some(v) = line.strip_prefix("-> NXM_NX_TUN_METADATA0[16..30] is now ") {
            ingress = Some(hex(v));
        }
    }
    let (Some(id), Some(egress), Some(ingress)) = (tun_id, egress, ingress) else {
        panic!("no tunnel values:\n{trace}")
    };
    (format!("{id:#x}"), format!("{:#x}", ingress << 16 | egress))
}

/// Every hop's steps equal the live chassis' own trace of the hop's flow,
/// and every tunnel leg carries what the live trace set. Returns the hops.
fn assert_like_live<'a>(ws: &Ws, lab: &ClusterLab, stitched: &'a Value) -> &'a [Value] {
    let hops = stitched["hops"].as_array().unwrap_or_else(|| panic!("{stitched}"));
    for hop in hops {
        let (node, flow) = (hop["node"].as_str().unwrap(), hop["flow"].as_str().unwrap());
        let live = lab.live_trace(node, BR, flow);
        let live_ports = datapath_ports(&lab.tool(node, "ovs-appctl", &["dpctl/show"]));
        let text = hop["text"].as_str().unwrap();
        assert_eq!(comparable(text, &ws.datapath_ports(node)), comparable(&live, &live_ports), "{node}: {flow}");
        for outcome in hop["outcome"].as_array().unwrap().iter().filter(|o| o["kind"] == "tunnel") {
            let next = &hops[outcome["hop"].as_u64().unwrap() as usize];
            assert_eq!(outcome["leg"]["arrival"]["flow"], next["flow"], "{outcome}");
            let carried = &outcome["leg"]["carried"];
            let (tun_id, metadata) = live_tunnel_values(&live);
            assert_eq!(
                (carried["tun_id"].as_str(), carried["tun_metadata0"].as_str()),
                (Some(&*tun_id), Some(&*metadata))
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

fn tcp(lab: &ClusterLab, from: &str, dl_dst: &str, nw_dst: &str, tp_dst: u16) -> String {
    let (_, ofport, mac, ip) = lab.pod(from);
    format!("in_port={ofport},tcp,dl_src={mac},dl_dst={dl_dst},nw_src={ip},nw_dst={nw_dst},nw_ttl=64,tp_src=1234,tp_dst={tp_dst}")
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

/// Twenty chassis collected, none running: a trace from pod1 (node-1) to
/// pod2 (node-2) starts those two replicas and no other.
#[test]
fn twenty_nodes_start_only_the_nodes_a_trace_reaches() {
    let lab = ClusterLab::start(20);
    let ws = Ws::new();
    let chassis: Vec<String> = lab.chassis().iter().map(|c| c.to_string()).collect();
    ws.collect_sos(&lab, &chassis.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(ws.running().is_empty());
    let (_, _, pod2_mac, pod2_ip) = lab.pod("pod2");
    let stitched = ws.trace("node-1", &tcp(&lab, "pod1", pod2_mac, pod2_ip, 80), &[]);
    let hops = assert_like_live(&ws, &lab, &stitched);
    assert_eq!(path(hops), [hop("node-1", &["tunnel node-2"]), hop("node-2", &["output pod2"])]);
    assert_eq!(ws.running(), ["node-1", "node-2"]);
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
    let (_, ofport, mac, ip) = lab.pod("az1-pod1");
    let (_, _, _, az2_ip) = lab.pod("az2-pod1");
    let flow = format!(
        "in_port={ofport},icmp,dl_src={mac},dl_dst=00:00:00:01:ff:01,nw_src={ip},nw_dst={az2_ip},nw_ttl=64,icmp_type=8,icmp_code=0"
    );
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
    let (_, ofport, mac, ip) = lab.pod("az1-pod2");
    let flow = format!(
        "in_port={ofport},icmp,dl_src={mac},dl_dst=00:00:00:01:ff:01,nw_src={ip},nw_dst={az2_ip},nw_ttl=64,icmp_type=8,icmp_code=0"
    );
    let stitched = ws.trace("az1-node-2", &flow, &[]);
    let hops = assert_like_live(&ws, &lab, &stitched);
    let expected = [
        hop("az1-node-2", &["tunnel az1-node-1"]),
        hop("az1-node-1", &["tunnel az2-node-1"]),
        hop("az2-node-1", &["output az2-pod1"]),
    ];
    assert_eq!(path(hops), expected);
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

    let (_, _, pod2_mac, pod2_ip) = lab.pod("pod2");
    let stitched = ws.trace("node-1", &tcp(&lab, "pod1", pod2_mac, pod2_ip, 80), &[]);
    let hops = assert_like_live(&ws, &lab, &stitched);
    assert_eq!(path(hops), [hop("node-1", &["tunnel node-2"]), hop("node-2", &["output pod2"])]);
    assert_eq!(ws.running(), ["node-1", "node-2"]);

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
    let stitched = ws.trace("az1-node-2", &flow, &[]);
    let hops = assert_like_live(&ws, &lab, &stitched);
    let expected = [
        hop("az1-node-2", &["tunnel az1-node-1"]),
        hop("az1-node-1", &["tunnel az2-node-1"]),
        hop("az2-node-1", &["output az2-pod1"]),
    ];
    assert_eq!(path(hops), expected);
}
