//! The multi-node lab (tests/support/cluster-lab.sh, `support::cluster`)
//! is what it claims to be, and the facts a cross-node trace relies on,
//! observed on its live nodes with `ovs-appctl ofproto/trace`.
//!
//! LAB FACTS (OVS 3.1, OVN 23.03, `ovs-vswitchd --enable-dummy=override`):
//! - A geneve tunnel port is a plain dummy port: `dpif/show` prints it as
//!   `ovn-node-2-0 2/3: (geneve)` but the trace ends in `output:<its
//!   ofport>` and the datapath actions in its datapath port number, with no
//!   `set(tunnel(…))` and no tnl_push. The tunnel values are only in the
//!   trace steps of table 39 (OFTABLE_REMOTE_OUTPUT):
//!   `set_field:0x<dp key>/0xffffff->tun_id`, `set_field:0x<egress port
//!   key>->tun_metadata0`, `move:NXM_NX_REG14[0..14]->NXM_NX_TUN_METADATA0[16..30]`
//!   followed by ` -> NXM_NX_TUN_METADATA0[16..30] is now 0x<ingress port
//!   key>`, then `output:<tunnel ofport>`. So on the wire: tun_id = the
//!   logical switch's Datapath_Binding tunnel_key, tun_metadata0 =
//!   (ingress Port_Binding tunnel_key << 16) | egress tunnel_key (0x8000 =
//!   the flood group `_MC_flood`). tun_src/tun_dst are not in the trace:
//!   they are the sender's `ovn-encap-ip` and the port's `options:remote_ip`.
//! - The "Final flow:" line is no oracle for what left: it shows `tun_id`
//!   only when no router (clone/patch) came between, never `tun_metadata0`
//!   on the sending node, and never the router's rewrites. The packet as it
//!   left = the last segment's Final flow (NAT by `ct(…nat(dst=…))` of an
//!   earlier recirculation IS in it: `nw_dst`, `tp_dst`) + the last
//!   "Datapath actions:" line's `set(eth(src=…,dst=…))` and
//!   `set(ipv4(ttl=…))` (after lr1: eth src = lr1-ls2's MAC, dst = the
//!   destination pod's MAC, ttl 64 → 63).
//! - On the receiving node, the trace of
//!   `in_port=<geneve port whose remote_ip is the sender's encap IP>,
//!   tun_id=…,tun_src=<sender ip>,tun_dst=<receiver ip>,tun_metadata0=…,<inner>`
//!   goes table 0 → 38 (metadata = tun_id, reg14/reg15 from tun_metadata0)
//!   → the egress pipeline → table 65 `output:<pod ofport>`. The inner
//!   packet must carry the rewrites: the destination's egress port security
//!   drops it otherwise (OpenFlow tables 50 → 75 `check_out_port_sec`, 51
//!   `drop`; logical ls_out_check_port_sec / ls_out_apply_port_sec).
//! - The trace's first line (`Flow: …`) is no input for another trace: it
//!   holds `gtpu_flags=0,gtpu_msgtype=0`, which ofproto/trace refuses
//!   ("unknown field gtpu_flags"), and leaves `tun_id` out of an arrival's
//!   flow (printed with `tun_flags=0`). Build the next node's flow from
//!   the values themselves.
//! - Without `--ct-next` a traced `ct` resumes as `trk,new`
//!   ("resume conntrack with default ct_state=trk|new").
//! - A load balancer is a `type=select,selection_method=dp_hash` group even
//!   with one backend. Without `dp_hash` in the traced flow the group says
//!   ` -> no live bucket` and the datapath actions end in
//!   `hash(l4(0)),recirc(…)`: the trace stops there. With `dp_hash=H` in the
//!   flow (H ≠ 0: dp_hash=0 reads as no hash) the trace says
//!   ` -> using bucket N` and goes on; for two equal buckets N = H & 1
//!   (lb2: odd → bucket 1 = pod4, even → bucket 0 = pod3).
//! - A broadcast (ARP request for an unknown IP) from pod1 on ls1 leaves
//!   through one `output:` per chassis with an ls1 port (node-2, node-3), with
//!   tun_metadata0 = (pod1's key << 16) | 0x8000, and also goes to the
//!   controller (`userspace(…controller…)` in the datapath actions).
//! - Tunnel port names are `ovn-` + the peer chassis name cut to 6
//!   characters + `-<n>` (`ovn-node-2-0`, but `ovn-az1-no-0` for both
//!   az1-node-1 and az1-node-2; with 20 chassis node-1, node-10…node-19 are
//!   `ovn-node-1-<n>` in no fixed order): find the port by
//!   `options:remote_ip`.
//! - Interconnect: the transit switch's datapath key comes from the IC-SB
//!   (0xff0002 here, above OVN's local range), its port keys too; the
//!   packet from az1-pod1 leaves az1-node-1 through `lr-az1` with lr-az1's
//!   rewrites and arrives on az2-node-1 in ts1, is routed by lr-az2 there
//!   (second rewrite, ttl 63 → 62) and delivered to az2-pod1. From
//!   az1-pod2 on az1-node-2 (no gateway) it takes three hops: az1-node-2
//!   routes (rewrites, ttl 63) and tunnels to the gateway with tun_id =
//!   lr-az1's key, egress = `cr-lr-az1-ts1`; the gateway relays it
//!   tunnel → tunnel (ts1's key, no rewrite: datapath actions are the bare
//!   port) — its Final flow still shows the arrival's `tun_metadata0`;
//!   az2-node-1 delivers it (tun_src = the gateway's IP). A non-gateway
//!   chassis has no tunnel to the other zone.
//! - A chassis laid out as an sos report (`ClusterLab::lay_out_as_sos`),
//!   collected and started as a replica, traces each step as the live
//!   chassis (sending and arrival sides), except the datapath port numbers:
//!   the replica numbers its dummy datapath's ports in its own order (2
//!   chassis, node-1: ovn-node-2-0 is datapath port 3 live, 2 on the
//!   replica). Compare datapath actions by port name (`dpctl/show`).
//! - Timing here (2 shared cores): `start(2)` ~1.5 s, `start(3)` ~1.5 s,
//!   `start_ic()` ~2.5 s, `start(20)` ~7.5 s (a full mesh: 19 tunnels per
//!   chassis; per chassis RSS ~18 MiB ovs-vswitchd, ~9 MiB ovn-controller,
//!   ~7 MiB ovsdb-server).

mod support;

use std::time::Instant;
use support::cluster::ClusterLab;
use support::trace_compare::{comparable, datapath_ports, tunnel_values};

const BR: &str = "br-int";

fn started(what: &str, start: impl FnOnce() -> ClusterLab) -> ClusterLab {
    let began = Instant::now();
    let lab = start();
    eprintln!("{what}: {:.1} s", began.elapsed().as_secs_f64());
    lab
}

/// The `tunnel_key` of one SB row (`find TABLE CONDITION`) on `chassis`'s SB.
fn sb_key(lab: &ClusterLab, chassis: &str, table: &str, condition: &str) -> u32 {
    let text = lab.tool(chassis, "ovn-sbctl", &["--bare", "--columns=tunnel_key", "find", table, condition]);
    text.trim().parse().unwrap_or_else(|e| panic!("{table} {condition}: {text:?}: {e}"))
}

fn datapath_key(lab: &ClusterLab, chassis: &str, switch: &str) -> u32 {
    sb_key(lab, chassis, "Datapath_Binding", &format!("external_ids:name={switch}"))
}

fn port_key(lab: &ClusterLab, chassis: &str, port: &str) -> u32 {
    sb_key(lab, chassis, "Port_Binding", &format!("logical_port={port}"))
}

/// The last "Datapath actions:" line of a trace (after every recirculation).
fn datapath_actions(trace: &str) -> &str {
    trace.lines().rev().find_map(|l| l.strip_prefix("Datapath actions: ")).unwrap_or_else(|| panic!("{trace}"))
}

/// The OpenFlow `output:N` steps of a trace, in order.
fn of_outputs(trace: &str) -> Vec<u32> {
    trace.lines().filter_map(|l| l.trim().strip_prefix("output:")).map(|n| n.parse().unwrap()).collect()
}

/// The value of `key=` inside the first `name(…)` of the datapath actions.
fn action_field<'a>(actions: &'a str, name: &str, key: &str) -> Option<&'a str> {
    let inner = actions.split(&format!("{name}(")).nth(1)?;
    let inner = &inner[..inner.find(')')?];
    inner.split(',').find_map(|kv| kv.strip_prefix(&format!("{key}=")))
}

/// The flow of `inner` as it arrives on `to` from `from` through their
/// tunnel, with the tunnel values the sender's flows set.
fn arrival_flow(lab: &ClusterLab, from: &str, to: &str, (tun_id, md): (u32, u32), inner: &str) -> String {
    format!(
        "in_port={},tun_id={tun_id:#x},tun_src={},tun_dst={},tun_metadata0={md:#x},{inner}",
        lab.tunnel_to(to, from).ofport,
        lab.encap_ip(from),
        lab.encap_ip(to)
    )
}

/// Traces `inner` as it arrives on `to` from `from` through their tunnel.
fn trace_arrival(lab: &ClusterLab, from: &str, to: &str, values: (u32, u32), inner: &str) -> String {
    lab.live_trace(to, BR, &arrival_flow(lab, from, to, values, inner))
}

/// The last segment's "Final flow:" line of a trace.
fn final_flow(trace: &str) -> &str {
    trace.lines().rev().find(|l| l.starts_with("Final flow:")).unwrap_or_else(|| panic!("{trace}"))
}

/// pod1 → pod3:8080 as it leaves lr1 for ls2: from lr1-ls2's MAC to pod3's,
/// ttl 63.
fn pod1_to_pod3_routed_by_lr1(lab: &ClusterLab) -> String {
    let (_, _, pod3_mac, pod3_ip) = lab.pod("pod3");
    lab.tcp("pod1", pod3_mac, pod3_ip, 8080)
        .replace("dl_src=0a:00:00:00:01:0b", "dl_src=00:00:00:00:ff:02")
        .replace("nw_ttl=64", "nw_ttl=63")
}

/// `lab.icmp_to_az2_pod1(from)` as lr-az1 routes it onto ts1.
fn routed_by_lr_az1(lab: &ClusterLab, from: &str) -> String {
    let (_, _, mac, _) = lab.pod(from);
    lab.icmp_to_az2_pod1(from)
        .replace(&format!("dl_src={mac}"), "dl_src=aa:aa:aa:aa:aa:01")
        .replace("dl_dst=00:00:00:01:ff:01", "dl_dst=aa:aa:aa:aa:aa:02")
        .replace("nw_ttl=64", "nw_ttl=63")
}

/// The trace's datapath actions carry lr-az1's rewrites (onto ts1, ttl 63).
fn assert_routed_by_lr_az1(trace: &str) {
    let actions = datapath_actions(trace);
    assert_eq!(action_field(actions, "set(eth", "src"), Some("aa:aa:aa:aa:aa:01"), "{actions}");
    assert_eq!(action_field(actions, "set(eth", "dst"), Some("aa:aa:aa:aa:aa:02"), "{actions}");
    assert_eq!(action_field(actions, "set(ipv4", "ttl"), Some("63"), "{actions}");
}

/// An arrival on az2-node-1 is routed by lr-az2 (ttl 62) to az2-pod1.
fn assert_delivered_to_az2_pod1(lab: &ClusterLab, arrived: &str) {
    let (_, az2_port, az2_mac, _) = lab.pod("az2-pod1");
    assert_eq!(of_outputs(arrived), [az2_port], "{arrived}");
    let actions = datapath_actions(arrived);
    assert_eq!(action_field(actions, "set(eth", "dst"), Some(az2_mac), "{actions}");
    assert_eq!(action_field(actions, "set(ipv4", "ttl"), Some("62"), "{actions}");
}

/// ts1's tunnel values from az1's gateway to az2's: (ts1's datapath key,
/// ts1-az1 << 16 | ts1-az2).
fn ts1_values(lab: &ClusterLab) -> (u32, u32) {
    let md = port_key(lab, "az1-node-1", "ts1-az1") << 16 | port_key(lab, "az1-node-1", "ts1-az2");
    (datapath_key(lab, "az1-node-1", "ts1"), md)
}

/// The lab as deployed: chassis, encaps, bindings, tunnels, pods' ports.
fn assert_deployed(lab: &ClusterLab, n: usize) {
    let names: Vec<String> = (1..=n).map(|k| format!("node-{k}")).collect();
    assert_eq!(lab.chassis(), names);
    let sb_show = lab.tool("node-1", "ovn-sbctl", &["show"]);
    for (k, name) in names.iter().enumerate() {
        let ip = format!("192.168.50.{}", k + 1);
        assert_eq!(lab.encap_ip(name), ip);
        assert!(sb_show.contains(&format!("Chassis {name}\n    hostname: {name}\n")), "{sb_show}");
        assert!(sb_show.contains(&format!("ip: \"{ip}\"")), "{sb_show}");
        let ids = lab.tool(name, "ovs-vsctl", &["get", "Open_vSwitch", ".", "external_ids"]);
        assert!(ids.contains(&format!("system-id={name}")) && ids.contains(&format!("hostname={name}")), "{ids}");
        let tunnels = lab.tunnels(name);
        assert_eq!(tunnels.len(), n - 1, "{name}: {tunnels:?}");
        for peer in names.iter().filter(|p| *p != name) {
            let tunnel = lab.tunnel_to(name, peer);
            assert_eq!(tunnel.name, format!("ovn-{peer}-0"));
        }
        assert!(lab.dir(name).join("ovs/br-int.mgmt").exists());
    }
    assert_eq!(lab.pods().len(), 5);
    for pod in lab.pods() {
        let bound = lab.tool(
            &pod.chassis,
            "ovn-sbctl",
            &["--bare", "--columns=chassis", "find", "Port_Binding", &format!("logical_port={}", pod.name)],
        );
        let chassis =
            lab.tool(&pod.chassis, "ovn-sbctl", &["--bare", "--columns=name", "list", "Chassis", bound.trim()]);
        assert_eq!(chassis.trim(), pod.chassis, "{}", pod.name);
        let ofport = lab.tool(&pod.chassis, "ovs-vsctl", &["get", "Interface", &pod.name, "ofport"]);
        assert_eq!(ofport.trim(), pod.ofport.to_string(), "{}", pod.name);
    }
}

#[test]
fn two_chassis_lab_binds_every_pod_and_tunnels_both_ways() {
    let lab = started("start(2)", || ClusterLab::start(2));
    assert_deployed(&lab, 2);
    // node-3's pods are on node-2.
    assert_eq!(lab.pod("pod4").0, "node-2");
    assert_eq!(lab.pod("pod5").0, "node-2");
    assert_eq!(lab.pod("pod1"), ("node-1", 1, "0a:00:00:00:01:0b", "10.0.1.11"));
}

/// Twenty chassis (the 20-node workspace): a full mesh of tunnels.
#[test]
fn twenty_chassis_start_with_a_full_mesh_of_tunnels() {
    let lab = started("start(20)", || ClusterLab::start(20));
    assert_eq!(lab.chassis().len(), 20);
    for chassis in lab.chassis() {
        assert_eq!(lab.tunnels(chassis).len(), 19, "{chassis}");
    }
    assert_eq!(lab.encap_ip("node-20"), "192.168.50.20");
    // node-1 and node-10…node-19 share the cut name: ovn-node-1-<n>, n in
    // no fixed order.
    assert!(lab.tunnel_to("node-20", "node-1").name.starts_with("ovn-node-1-"));
}

/// pod1 (node-1) → pod2 (node-2), both on ls1.
#[test]
fn pod_to_pod_on_one_switch_leaves_node_1_by_geneve_and_reaches_pod2_on_node_2() {
    let lab = started("start(3)", || ClusterLab::start(3));
    assert_deployed(&lab, 3);
    let (_, pod2_port, pod2_mac, pod2_ip) = lab.pod("pod2");
    let packet = lab.tcp("pod1", pod2_mac, pod2_ip, 80);
    let sent = lab.live_trace("node-1", BR, &format!("in_port=1,{packet}"));
    let tunnel = lab.tunnel_to("node-1", "node-2");
    assert_eq!(of_outputs(&sent), [tunnel.ofport], "{sent}");
    let values = tunnel_values(&sent);
    let expected = (
        datapath_key(&lab, "node-1", "ls1"),
        port_key(&lab, "node-1", "pod1") << 16 | port_key(&lab, "node-1", "pod2"),
    );
    assert_eq!(values, expected, "{sent}");
    // Same switch: no rewrite; the datapath port of the tunnel is last.
    let actions = datapath_actions(&sent);
    assert!(!actions.contains("set(eth(") && !actions.contains("set(tunnel("), "{actions}");
    // The Final flow shows tun_id (no router came between) but not tun_metadata0.
    let final_flow = final_flow(&sent);
    let tun_id = format!(",tun_id={:#x},", values.0);
    assert!(final_flow.contains(&tun_id) && !final_flow.contains("tun_metadata0"), "{final_flow}");
    let arrived = trace_arrival(&lab, "node-1", "node-2", values, &packet);
    assert_eq!(of_outputs(&arrived), [pod2_port], "{arrived}");
}

#[test]
fn pod_to_pod_through_the_router_carries_its_rewrites_to_node_2() {
    let lab = started("start(3)", || ClusterLab::start(3));
    let (_, pod3_port, pod3_mac, pod3_ip) = lab.pod("pod3");
    let packet = lab.tcp("pod1", "00:00:00:00:ff:01", pod3_ip, 8080);
    let sent = lab.live_trace("node-1", BR, &format!("in_port=1,{packet}"));
    assert_eq!(of_outputs(&sent), [lab.tunnel_to("node-1", "node-2").ofport], "{sent}");
    let values = tunnel_values(&sent);
    // ls2, entered from its router port ls2-lr1, out to pod3.
    let expected = (
        datapath_key(&lab, "node-1", "ls2"),
        port_key(&lab, "node-1", "ls2-lr1") << 16 | port_key(&lab, "node-1", "pod3"),
    );
    assert_eq!(values, expected, "{sent}");
    let actions = datapath_actions(&sent);
    assert_eq!(action_field(actions, "set(eth", "src"), Some("00:00:00:00:ff:02"), "{actions}");
    assert_eq!(action_field(actions, "set(eth", "dst"), Some(pod3_mac), "{actions}");
    assert_eq!(action_field(actions, "set(ipv4", "ttl"), Some("63"), "{actions}");
    // The Final flow keeps the packet as it entered.
    let final_flow = final_flow(&sent);
    assert!(final_flow.contains("dl_dst=00:00:00:00:ff:01") && final_flow.contains("nw_ttl=64"), "{final_flow}");

    let rewritten = pod1_to_pod3_routed_by_lr1(&lab);
    let arrived = trace_arrival(&lab, "node-1", "node-2", values, &rewritten);
    assert_eq!(of_outputs(&arrived), [pod3_port], "{arrived}");
    // Unrewritten, pod3's port security drops it.
    let raw = trace_arrival(&lab, "node-1", "node-2", values, &packet);
    assert!(of_outputs(&raw).is_empty(), "{raw}");
}

/// pod1 → lb1's VIP 10.0.0.10:80, backend pod3:8080 on node-2; lb2's two
/// buckets chosen by dp_hash.
#[test]
fn pod_to_service_picks_its_bucket_by_dp_hash_and_lands_on_the_backends_node() {
    let lab = started("start(3)", || ClusterLab::start(3));
    let (_, pod3_port, pod3_mac, _) = lab.pod("pod3");
    let packet = lab.tcp("pod1", "00:00:00:00:ff:01", "10.0.0.10", 80);

    let no_hash = lab.live_trace("node-1", BR, &format!("in_port=1,{packet}"));
    assert!(no_hash.contains(" -> no live bucket"), "{no_hash}");
    let zero = lab.live_trace("node-1", BR, &format!("in_port=1,dp_hash=0,{packet}"));
    assert!(zero.contains(" -> no live bucket"), "dp_hash=0 reads as no hash: {zero}");
    assert!(datapath_actions(&no_hash).starts_with("hash(l4(0)),recirc("), "{no_hash}");
    assert!(of_outputs(&no_hash).is_empty(), "{no_hash}");

    let sent = lab.live_trace("node-1", BR, &format!("in_port=1,dp_hash=0x5,{packet}"));
    assert!(sent.contains(" -> using bucket 0"), "{sent}");
    assert!(sent.contains("nat(dst=10.0.2.13:8080)"), "{sent}");
    assert_eq!(of_outputs(&sent), [lab.tunnel_to("node-1", "node-2").ofport], "{sent}");
    let values = tunnel_values(&sent);
    assert_eq!(values.0, datapath_key(&lab, "node-1", "ls2"));
    let actions = datapath_actions(&sent);
    assert_eq!(action_field(actions, "set(eth", "dst"), Some(pod3_mac), "{actions}");
    assert_eq!(action_field(actions, "set(ipv4", "ttl"), Some("63"), "{actions}");
    // The last segment's Final flow holds the DNAT.
    let final_flow = final_flow(&sent);
    assert!(final_flow.contains("nw_dst=10.0.2.13") && final_flow.contains("tp_dst=8080"), "{final_flow}");
    let inner = pod1_to_pod3_routed_by_lr1(&lab);
    let arrived = trace_arrival(&lab, "node-1", "node-2", values, &inner);
    assert_eq!(of_outputs(&arrived), [pod3_port], "{arrived}");

    // lb2: 10.0.0.11:80 → pod3 (bucket 0, node-2), pod4 (bucket 1, node-3).
    for (dp_hash, bucket, backend) in [(1, 1, "pod4"), (2, 0, "pod3"), (3, 1, "pod4"), (4, 0, "pod3")] {
        let packet = lab.tcp("pod1", "00:00:00:00:ff:01", "10.0.0.11", 80);
        let sent = lab.live_trace("node-1", BR, &format!("in_port=1,dp_hash={dp_hash},{packet}"));
        assert!(sent.contains(&format!(" -> using bucket {bucket}")), "dp_hash={dp_hash}: {sent}");
        let (chassis, _, mac, ip) = lab.pod(backend);
        assert!(sent.contains(&format!("nat(dst={ip}:8080)")), "{sent}");
        assert_eq!(of_outputs(&sent), [lab.tunnel_to("node-1", chassis).ofport], "dp_hash={dp_hash}: {sent}");
        assert_eq!(action_field(datapath_actions(&sent), "set(eth", "dst"), Some(mac));
    }
}

/// An ARP request for an unknown address from pod1 floods ls1: one tunnel
/// per chassis with an ls1 port, each delivering it to its local pods.
#[test]
fn broadcast_from_pod1_leaves_through_every_tunnel_of_its_switch() {
    let lab = started("start(3)", || ClusterLab::start(3));
    let (_, _, mac, ip) = lab.pod("pod1");
    let packet =
        format!("arp,dl_src={mac},dl_dst=ff:ff:ff:ff:ff:ff,arp_op=1,arp_spa={ip},arp_tpa=10.0.1.99,arp_sha={mac}");
    let sent = lab.live_trace("node-1", BR, &format!("in_port=1,{packet}"));
    let to2 = lab.tunnel_to("node-1", "node-2");
    let to3 = lab.tunnel_to("node-1", "node-3");
    let mut outputs = of_outputs(&sent);
    outputs.sort();
    assert_eq!(outputs, [to2.ofport, to3.ofport], "{sent}");
    let values = tunnel_values(&sent);
    assert_eq!(values, (datapath_key(&lab, "node-1", "ls1"), port_key(&lab, "node-1", "pod1") << 16 | 0x8000));
    assert!(datapath_actions(&sent).contains("userspace("), "{sent}");
    for (node, pod) in [("node-2", "pod2"), ("node-3", "pod5")] {
        let arrived = trace_arrival(&lab, "node-1", node, values, &packet);
        assert_eq!(of_outputs(&arrived), [lab.pod(pod).1], "{node}: {arrived}");
    }
}

/// Each chassis laid out as an sos report is collected by `collect-sos`
/// with its OVS database, its br-int flows and its datapath ports.
#[test]
fn each_chassis_lays_out_as_an_sos_report() {
    let lab = started("start(2)", || ClusterLab::start(2));
    for chassis in lab.chassis() {
        let replica = support::Replica::new();
        let dir = replica.base.path().join("report");
        let root = lab.lay_out_as_sos(chassis, chassis == "node-1", &dir);
        assert!(root.ends_with(support::sos_layout::sos_top(chassis)));
        let peer = if chassis == "node-1" { "node-2" } else { "node-1" };
        let dpctl = root.join("sos_commands/openvswitch/ovs-appctl_dpctl.show_-s_system_ovs-system");
        let dpctl = std::fs::read_to_string(dpctl).unwrap();
        assert!(dpctl.contains(&format!("ovn-{peer}-0 (geneve)")), "{dpctl}");
        support::make_readable(&dir);
        let out = replica.ok(&[std::ffi::OsStr::new("collect-sos"), root.as_os_str()]);
        assert!(out.contains(&format!("source: host {chassis}, ")), "{out}");
        assert!(out.contains("(standalone) from member etc/openvswitch/conf.db"), "{out}");
        let flows = "restores flows from sos_commands/openvswitch/ovs-ofctl_-O_OpenFlow15_dump-flows_br-int";
        assert!(out.contains(flows), "{out}");
        assert_eq!(out.contains("var/lib/ovn-ic/etc/ovnsb_db.db"), chassis == "node-1", "{out}");
    }
}

/// The replica's trace of `flow` equals `live`, the live chassis' own
/// trace of it (see `trace_compare::comparable`).
fn assert_replica_traces_like(replica: &support::Replica, lab: &ClusterLab, chassis: &str, flow: &str, live: &str) {
    let replayed = replica.tool("ovs-appctl", &["ofproto/trace", BR, flow]);
    let replica_ports = datapath_ports(&replica.tool("ovs-appctl", &["dpctl/show"]));
    assert_eq!(comparable(&replayed, &replica_ports), comparable(live, &lab.datapath_ports(chassis)), "{chassis}");
}

/// Each chassis collected from its sos layout and started as a replica
/// traces as the live chassis: the sending side (pod1 → pod3 through lr1,
/// out by geneve) on node-1, the arrival with the tunnel values on node-2.
#[test]
fn replicas_of_each_chassis_from_sos_trace_like_the_live_chassis() {
    let lab = started("start(2)", || ClusterLab::start(2));
    let (_, _, _, pod3_ip) = lab.pod("pod3");
    let packet = lab.tcp("pod1", "00:00:00:00:ff:01", pod3_ip, 8080);
    let sent_flow = format!("in_port=1,{packet}");
    let sent = lab.live_trace("node-1", BR, &sent_flow);
    let values = tunnel_values(&sent);
    let inner = pod1_to_pod3_routed_by_lr1(&lab);
    let arrival_flow = arrival_flow(&lab, "node-1", "node-2", values, &inner);
    let arrived = lab.live_trace("node-2", BR, &arrival_flow);
    for (chassis, flow, live) in [("node-1", &sent_flow, &sent), ("node-2", &arrival_flow, &arrived)] {
        let replica = support::Replica::new();
        let dir = replica.base.path().join("report");
        let root = lab.lay_out_as_sos(chassis, true, &dir);
        support::make_readable(&dir);
        replica.ok(&[std::ffi::OsStr::new("collect-sos"), root.as_os_str()]);
        let began = Instant::now();
        let start = replica.ok(&["start"]);
        eprintln!("{chassis}: replica started in {:.1} s", began.elapsed().as_secs_f64());
        assert!(!start.contains("rejected") && !start.contains("INCOMPLETE"), "{chassis}: {start}");
        assert_replica_traces_like(&replica, &lab, chassis, flow, live);
    }
}

/// `collect-local` reads a chassis through its sockets into a bundle; the
/// replica imported from it traces the arrival of a tunnelled packet as
/// the live chassis does.
#[test]
fn collect_local_of_a_chassis_replays_its_arrivals() {
    let lab = started("start(2)", || ClusterLab::start(2));
    let host = support::Replica::new_as_runner();
    let out_dir = support::user_dir("bundles-");
    let mut args = vec!["collect-local".to_string(), "--output".into(), out_dir.path().display().to_string()];
    args.extend(lab.collect_local_args("node-2", false));
    let out = host.ok(&args);
    assert!(out.contains("source: host node-2"), "{out}");
    let bundle = std::fs::read_dir(out_dir.path()).unwrap().next().unwrap().unwrap().path();
    support::make_readable(&bundle);
    let replica = support::Replica::new();
    replica.ok(&[std::ffi::OsStr::new("collect-capture"), bundle.as_os_str()]);
    replica.ok(&["start"]);

    let (_, _, pod2_mac, pod2_ip) = lab.pod("pod2");
    let packet = lab.tcp("pod1", pod2_mac, pod2_ip, 80);
    let values = tunnel_values(&lab.live_trace("node-1", BR, &format!("in_port=1,{packet}")));
    let flow = arrival_flow(&lab, "node-1", "node-2", values, &packet);
    let live = lab.live_trace("node-2", BR, &flow);
    // The trace's own "Flow:" line is no input: ofproto/trace refuses its
    // `gtpu_flags`, and it leaves tun_id out (tun_flags=0 there).
    let echoed = live.lines().next().unwrap();
    assert!(echoed.contains("gtpu_flags=0") && !echoed.contains("tun_id="), "{echoed}");
    assert_replica_traces_like(&replica, &lab, "node-2", &flow, &live);
}

/// Interconnect: az1-pod1 → az2-pod1 leaves az1-node-1 through ts1's
/// tunnel and reaches az2-pod1 on az2-node-1.
#[test]
fn cross_zone_packet_traces_on_both_zones() {
    let lab = started("start_ic", ClusterLab::start_ic);
    assert_eq!(lab.chassis(), ["az1-node-1", "az1-node-2", "az2-node-1"]);
    assert_eq!(lab.zone("az1-node-1"), Some("az1"));
    assert_eq!(lab.encap_ip("az2-node-1"), "192.168.60.2");
    // Each zone has its own NB: ts1 in both, the other zone's port remote.
    let ts1 = lab.tool("az1-node-1", "ovn-nbctl", &["show", "ts1"]);
    assert!(ts1.contains("port ts1-az2\n        type: remote"), "{ts1}");
    let ts_key = datapath_key(&lab, "az1-node-1", "ts1");
    assert_eq!(ts_key, datapath_key(&lab, "az2-node-1", "ts1"));

    let packet = lab.icmp_to_az2_pod1("az1-pod1");
    let sent = lab.live_trace("az1-node-1", BR, &format!("in_port=1,{packet}"));
    assert_eq!(of_outputs(&sent), [lab.tunnel_to("az1-node-1", "az2-node-1").ofport], "{sent}");
    let values = tunnel_values(&sent);
    assert_eq!(values, ts1_values(&lab), "{sent}");
    assert_routed_by_lr_az1(&sent);

    let inner = routed_by_lr_az1(&lab, "az1-pod1");
    let arrived = trace_arrival(&lab, "az1-node-1", "az2-node-1", values, &inner);
    assert_delivered_to_az2_pod1(&lab, &arrived);
}

/// Interconnect, three hops: az1-pod2 on az1-node-2 (not a gateway) →
/// az1-node-1 (az1's transit-switch gateway) → az2-node-1 → az2-pod1.
#[test]
fn cross_zone_packet_from_a_non_gateway_chassis_hops_through_the_gateway() {
    let lab = started("start_ic", ClusterLab::start_ic);
    // A zone's non-gateway chassis tunnels to its zone's chassis only; the
    // gateway to both; tunnel port names are "ovn-" + the peer's name cut
    // to 6 characters + "-<n>": map them by remote_ip.
    assert_eq!(lab.tunnels("az1-node-2").len(), 1);
    assert_eq!(lab.tunnels("az1-node-1").len(), 2);
    assert_eq!(lab.tunnel_to("az1-node-1", "az1-node-2").name, "ovn-az1-no-0");
    assert_eq!(lab.tunnel_to("az1-node-2", "az1-node-1").name, "ovn-az1-no-0");

    let (_, pod2_port, _, _) = lab.pod("az1-pod2");
    let packet = lab.icmp_to_az2_pod1("az1-pod2");
    // Hop 1: lr-az1 routes on az1-node-2 (rewrites, ttl 63), then sends the
    // packet to the chassisredirect port on the gateway: tun_id = lr-az1's
    // datapath key, egress = cr-lr-az1-ts1.
    let sent = lab.live_trace("az1-node-2", BR, &format!("in_port={pod2_port},{packet}"));
    assert_eq!(of_outputs(&sent), [lab.tunnel_to("az1-node-2", "az1-node-1").ofport], "{sent}");
    let hop1 = tunnel_values(&sent);
    let lr = sb_key(&lab, "az1-node-1", "Datapath_Binding", "external_ids:name=lr-az1");
    let md = port_key(&lab, "az1-node-1", "lr-az1-ls") << 16 | port_key(&lab, "az1-node-1", "cr-lr-az1-ts1");
    assert_eq!(hop1, (lr, md), "{sent}");
    assert_routed_by_lr_az1(&sent);
    let inner = routed_by_lr_az1(&lab, "az1-pod2");

    // Hop 2: the gateway runs lr-az1's egress and ts1, and sends it on to
    // az2 by another tunnel. No rewrite there: the datapath actions are
    // the bare output. Its Final flow shows the ARRIVAL's tun_metadata0.
    let relayed = trace_arrival(&lab, "az1-node-2", "az1-node-1", hop1, &inner);
    assert_eq!(of_outputs(&relayed), [lab.tunnel_to("az1-node-1", "az2-node-1").ofport], "{relayed}");
    let hop2 = tunnel_values(&relayed);
    assert_eq!(hop2, ts1_values(&lab), "{relayed}");
    assert!(!datapath_actions(&relayed).contains("set("), "{relayed}");
    let final_flow = final_flow(&relayed);
    assert!(final_flow.contains(&format!("tun_metadata0={:#x}", hop1.1)), "{final_flow}");

    // Hop 3: from the gateway (tun_src = az1-node-1's IP) to az2-pod1.
    let arrived = trace_arrival(&lab, "az1-node-1", "az2-node-1", hop2, &inner);
    assert_delivered_to_az2_pod1(&lab, &arrived);
}
