//! sos reports the suite makes itself from a live lab node
//! (tests/support/lab-node.sh), end to end: the real `sos report` (Debian's
//! sosreport package) run against the node seen at the packaged default
//! paths in a private mount namespace (root only), and the node's own
//! command outputs and database files laid out as sos 4.12 names them, as
//! `.tar.xz`, `.tar.gz` and a directory. Each is collected with
//! `collect-sos`, started as the unprivileged test user, and the replica
//! compared with the live node while it still runs: flows, groups and
//! meters per bridge, `ovs-vsctl show`, and `ofproto/trace` of a few packets.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;
use support::{LabNode, Replica};

/// The lab node's bridges.
const BRIDGES: [&str; 2] = ["br-ex", "br-int"];

/// Packets traced on the live node and on the replica: a VIF to another VIF
/// of its switch (web1 → web2), a VIF through router lr0 to a VIF of
/// another switch (web1 → db1, allowed by ls-db's ACL), a VIF to the
/// router's own address (ICMP echo to lr0-web), and br-ex's hand-made
/// flows (its select group).
const TRACES: [(&str, &str); 4] = [
    (
        "br-int",
        "in_port=1,tcp,dl_src=00:00:00:00:01:0a,dl_dst=00:00:00:00:01:0b,\
         nw_src=10.0.1.10,nw_dst=10.0.1.11,nw_ttl=64,tp_dst=80",
    ),
    (
        "br-int",
        "in_port=1,tcp,dl_src=00:00:00:00:01:0a,dl_dst=00:00:00:00:01:01,\
         nw_src=10.0.1.10,nw_dst=10.0.2.10,nw_ttl=64,tp_dst=5432",
    ),
    (
        "br-int",
        "in_port=1,icmp,dl_src=00:00:00:00:01:0a,dl_dst=00:00:00:00:01:01,\
         nw_src=10.0.1.10,nw_dst=10.0.1.1,nw_ttl=64,icmp_type=8,icmp_code=0",
    ),
    ("br-ex", "in_port=1,ip,nw_src=192.168.1.1,nw_dst=192.168.2.2"),
];

/// A packet from a VIF to load balancer lb-web's VIP: through a select
/// group of br-int (which sos 4.0 does not keep).
const LB_TRACE: (&str, &str) = (
    "br-int",
    "in_port=1,tcp,dl_src=00:00:00:00:01:0a,dl_dst=00:00:00:00:01:01,\
     nw_src=10.0.1.10,nw_dst=172.16.0.100,nw_ttl=64,tp_dst=80",
);

/// The one thing normalised before comparing with the live node: OVN's
/// `dec_ttl()` (no controller ids) has no text form that parses back to
/// it (`dec_ttl()` reads as `dec_ttl`, controller id 0), so a replica fed
/// from dump text, as from ovs-save, holds `dec_ttl` (see
/// src/ofp_text/flows.rs). Only a packet whose TTL runs out tells them apart.
/// Datapath port numbers are compared as they are: both sides run the
/// dummy datapath over the same database, and they come out the same.
fn normalise(text: &str) -> String {
    text.replace("dec_ttl()", "dec_ttl")
}

/// What `ovs-ofctl` shows of a bridge, sorted (dump order is not part of
/// the state): without statistics, through OpenFlow 1.5.
fn of_state(tool: impl Fn(&str, &[&str]) -> String, command: &str, bridge: &str) -> Vec<String> {
    let text = normalise(&tool("ovs-ofctl", &["-O", "OpenFlow15", "--no-stats", command, bridge]));
    let mut lines: Vec<String> = text.lines().skip(1).map(|l| l.trim().to_string()).collect();
    lines.sort();
    lines
}

fn lab_tool(lab: &LabNode) -> impl Fn(&str, &[&str]) -> String + '_ {
    |tool, args| lab.tool(tool, args)
}

fn replica_tool(replica: &Replica) -> impl Fn(&str, &[&str]) -> String + '_ {
    |tool, args| replica.tool(tool, args)
}

fn trace(tool: impl Fn(&str, &[&str]) -> String, bridge: &str, flow: &str) -> String {
    normalise(&tool("ovs-appctl", &["ofproto/trace", bridge, flow, "--ct-next", "trk,new"]))
}

/// Asserts that the replica shows the live node's lines; names only those
/// that differ (flow tables are long).
fn assert_same_lines(replica: &[String], live: &[String], what: &str) {
    if replica == live {
        return;
    }
    let missing: Vec<&String> = live.iter().filter(|l| !replica.contains(l)).collect();
    let extra: Vec<&String> = replica.iter().filter(|l| !live.contains(l)).collect();
    panic!(
        "{what}: {} lines on the replica, {} live; only live: {missing:#?}; only on the replica: {extra:#?}",
        replica.len(),
        live.len()
    );
}

/// The lines of a trace that say what happens to the packet.
fn trace_outcome(trace: &str) -> Vec<&str> {
    trace.lines().filter(|l| l.starts_with("Final flow:") || l.starts_with("Datapath actions:")).collect()
}

/// The number of flows `ovs-ofctl dump-aggregate` counts on a bridge.
fn flow_count(tool: impl Fn(&str, &[&str]) -> String, bridge: &str) -> usize {
    let text = tool("ovs-ofctl", &["-O", "OpenFlow15", "dump-aggregate", bridge]);
    let count = text.split("flow_count=").nth(1).unwrap_or_else(|| panic!("{text}"));
    count.trim().parse().unwrap()
}

/// The real sos (Debian bookworm's sosreport, 4.0) run against a lab node
/// whose OVN databases are seen in `ovn_db_dir`; `None` when not root
/// (said on stderr). Returns the node, still running, the replica collected
/// from the report and started, `collect-sos`'s and `start`'s output.
fn real_sos_report(ovn_db_dir: &str) -> Option<(LabNode, Replica, String, String)> {
    if !support::is_root() {
        eprintln!(
            "skipped: the real sos report needs root (a private mount namespace over /run, /etc/openvswitch, \
             {ovn_db_dir}); CI runs as root"
        );
        return None;
    }
    assert!(
        Command::new("sos").arg("--help").output().is_ok_and(|o| o.status.success()),
        "the real sos report is missing: install Debian's sosreport (or Fedora's sos) package; scripts/test does"
    );
    let out = tempfile::Builder::new().prefix("sosreport-").tempdir().unwrap();
    let began = Instant::now();
    let (lab, archive) = LabNode::start_with_sos_report(out.path(), ovn_db_dir);
    eprintln!("lab node + sos report: {:.1} s", began.elapsed().as_secs_f64());
    let replica = Replica::new();
    let sos = support::give(&archive, replica.base.path());
    let collected = replica.ok(&[std::ffi::OsStr::new("collect-sos"), sos.as_os_str()]);
    // sos 4.0 copies no conf.db: the OVS database is rebuilt from its
    // `ovsdb-client -f list dump`.
    assert!(collected.contains("source: host lab-node, ") && collected.contains(" sos 4.0\n"), "{collected}");
    assert!(collected.contains("(standalone, REBUILT) from member sos_commands/openvswitch/ovsdb-client_-f_list_dump"));
    let started = replica.ok(&["start"]);
    Some((lab, replica, collected, started))
}

/// The real sos 4.0 against a lab node at Debian's packaged paths: the
/// replica holds every flow sos kept and traces as the live node does.
#[test]
fn real_sos_report_of_a_lab_node_replays_like_the_live_node() {
    let Some((lab, replica, collected, started)) = real_sos_report("/var/lib/ovn") else { return };
    // Debian's OVN databases live in /var/lib/ovn, where sos 4.0 does not
    // look: NB and SB are rebuilt from ovn_central's text, which gives back
    // the live node's logical flows.
    for member in ["ovn-nbctl_show", "ovn-sbctl_show"] {
        let line = format!("(standalone, REBUILT) from member sos_commands/ovn_central/{member}");
        assert!(collected.contains(&line), "{line}: {collected}");
    }
    assert_eq!(replica.tool("ovn-sbctl", &["lflow-list"]), lab.tool("ovn-sbctl", &["lflow-list"]));

    // sos 4.0 dumps br-int (no `protocols`) without groups, and no bridge's
    // TLV map: the flows that use a group on br-int load with placeholder
    // groups (said so); OVS refuses the one matching tun_metadata0 (br-ex's
    // own TLV mapping) on br-ex; nothing else.
    let live_flows = |bridge: &str, with: &str| {
        let flows = of_state(lab_tool(&lab), "dump-flows", bridge);
        flows.iter().filter(|f| f.contains(with)).count()
    };
    assert!(live_flows("br-int", "group:") > 0);
    let live = flow_count(lab_tool(&lab), "br-int");
    assert_eq!(flow_count(replica_tool(&replica), "br-int"), live, "br-int: {started}");
    assert!(started.contains(&format!("br-int: {live}/{live} flows")), "{started}");
    assert!(started.contains("placeholder groups for missing groups"), "{started}");
    let rejected = live_flows("br-ex", "tun_metadata0");
    assert!(rejected > 0);
    let live = flow_count(lab_tool(&lab), "br-ex");
    assert_eq!(flow_count(replica_tool(&replica), "br-ex"), live - rejected, "br-ex: {started}");
    let line = format!("br-ex: {}/{live} flows ({rejected} rejected", live - rejected);
    assert!(started.contains(&line), "{line}: {started}");
    assert_eq!(
        of_state(replica_tool(&replica), "dump-groups", "br-ex"),
        of_state(lab_tool(&lab), "dump-groups", "br-ex")
    );
    assert_eq!(replica.tool("ovs-vsctl", &["show"]), lab.tool("ovs-vsctl", &["show"]));
    // br-ex's flows come from its OpenFlow 1.5 dump: its trace is the live
    // one. On br-int only what happens to the packet is compared: sos 4.0
    // keeps its flows as OpenFlow 1.3 text, where ovn-controller's masked
    // set_field reads `load:` (the same action, printed so by the replica's
    // trace), and the placeholder groups change what the group flows do.
    for (bridge, flow) in TRACES {
        let live = trace(lab_tool(&lab), bridge, flow);
        let replayed = trace(replica_tool(&replica), bridge, flow);
        assert!(live.contains("Datapath actions:"), "{live}");
        match bridge {
            "br-ex" => assert_eq!(replayed, live),
            _ => assert_eq!(trace_outcome(&replayed), trace_outcome(&live), "{bridge} {flow}:\n{replayed}"),
        }
    }
}

/// Older packages (and RHEL's) keep the OVN databases in
/// /var/lib/openvswitch, where sos 4.0 copies them from: the replica then
/// has the live node's NB and SB.
#[test]
fn real_sos_report_copies_ovn_databases_kept_in_var_lib_openvswitch() {
    let Some((lab, replica, collected, _)) = real_sos_report("/var/lib/openvswitch") else { return };
    for (schema, file) in [("OVN_Northbound", "ovnnb_db.db"), ("OVN_Southbound", "ovnsb_db.db")] {
        let line = format!("(standalone) from member var/lib/openvswitch/{file}");
        assert!(collected.contains(schema) && collected.contains(&line), "{line}: {collected}");
    }
    assert_eq!(replica.tool("ovn-nbctl", &["show"]), lab.tool("ovn-nbctl", &["show"]));
    assert_eq!(replica.tool("ovn-sbctl", &["show"]), lab.tool("ovn-sbctl", &["show"]));
    assert_eq!(replica.tool("ovs-vsctl", &["show"]), lab.tool("ovs-vsctl", &["show"]));
}

/// How the laid-out report is handed to `collect-sos`.
#[derive(Clone, Copy, Debug)]
enum Form {
    Directory,
    TarXz,
    TarGz,
}

/// The report below `dir` in `form`: its top directory, or an archive of it.
fn pack(dir: &Path, root: PathBuf, form: Form) -> PathBuf {
    let (flag, ext) = match form {
        Form::Directory => return root,
        Form::TarXz => ("-cJf", "tar.xz"),
        Form::TarGz => ("-czf", "tar.gz"),
    };
    let top = root.file_name().unwrap();
    let archive = dir.join(format!("{}.{ext}", top.to_string_lossy()));
    support::run_ok(Command::new("tar").arg(flag).arg(&archive).arg("-C").arg(dir).arg(top));
    archive
}

/// Lab node → sos layout in `form` → collect-sos → start: the replica's
/// flows, groups, meters and TLV maps per bridge, `ovs-vsctl show`, OVN's
/// `show`s and traces are the live node's.
fn sos_layout_replays_like_the_live_node(form: Form) {
    let lab = LabNode::start();
    let replica = Replica::new();
    let dir = replica.base.path().join("report");
    let root = lab.lay_out_as_sos(&dir);
    let sos = pack(&dir, root, form);
    support::make_readable(&dir);
    let collected = replica.ok(&[std::ffi::OsStr::new("collect-sos"), sos.as_os_str()]);
    for line in [
        "sos 4.12.0",
        "(standalone) from member etc/openvswitch/conf.db",
        "(standalone) from member var/lib/ovn-ic/etc/ovnnb_db.db",
        "(standalone) from member var/lib/ovn-ic/etc/ovnsb_db.db",
        "restores flows from sos_commands/openvswitch/ovs-ofctl_-O_OpenFlow15_dump-flows_br-int",
        "restores flows from sos_commands/openvswitch/ovs-ofctl_-O_OpenFlow15_dump-flows_br-ex",
    ] {
        assert!(collected.contains(line), "{form:?}: {line}: {collected}");
    }
    let began = Instant::now();
    let started = replica.ok(&["start"]);
    eprintln!("{form:?}: start took {:.1} s", began.elapsed().as_secs_f64());
    assert!(!started.contains("rejected") && !started.contains("INCOMPLETE"), "{form:?}: {started}");
    for bridge in BRIDGES {
        for command in ["dump-flows", "dump-groups", "dump-meters", "dump-tlv-map"] {
            let live = of_state(lab_tool(&lab), command, bridge);
            assert!(!live.is_empty() || command == "dump-tlv-map", "{bridge} {command}");
            assert_same_lines(
                &of_state(replica_tool(&replica), command, bridge),
                &live,
                &format!("{form:?}: {bridge} {command}"),
            );
        }
    }
    assert_eq!(replica.tool("ovs-vsctl", &["show"]), lab.tool("ovs-vsctl", &["show"]), "{form:?}");
    assert_eq!(replica.tool("ovn-nbctl", &["show"]), lab.tool("ovn-nbctl", &["show"]), "{form:?}");
    assert_eq!(replica.tool("ovn-sbctl", &["show"]), lab.tool("ovn-sbctl", &["show"]), "{form:?}");
    for (bridge, flow) in TRACES.into_iter().chain([LB_TRACE]) {
        let live = trace(lab_tool(&lab), bridge, flow);
        assert!(live.contains("Datapath actions:"), "{live}");
        assert!(flow != LB_TRACE.1 || live.contains("group:"), "{live}");
        assert_eq!(trace(replica_tool(&replica), bridge, flow), live, "{form:?}: {bridge} {flow}");
    }
}

#[test]
fn lab_node_in_sos_layout_as_tar_xz_replays_like_the_live_node() {
    sos_layout_replays_like_the_live_node(Form::TarXz);
}

#[test]
fn lab_node_in_sos_layout_as_tar_gz_replays_like_the_live_node() {
    sos_layout_replays_like_the_live_node(Form::TarGz);
}

#[test]
fn lab_node_in_sos_layout_as_directory_replays_like_the_live_node() {
    sos_layout_replays_like_the_live_node(Form::Directory);
}
