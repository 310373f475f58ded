//! `collect-sos`, `collect-sos-ovs`, `collect-sos-ovn` against the real sos
//! reports in tests/fixtures/sos (see its README: sos 4.0 without OVS
//! database, 4.9.1, 4.12, a truncated `--log-size 1` one and an obfuscated
//! one), each replica started as the unprivileged user; and hostile or
//! broken archives built here, which must leave the workdir as it was and
//! write nothing outside it.

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::Replica;

const V4_0: &str = "bookworm-ovs3.1-ovn23.03-sos4.0.tar.xz";
const V4_9: &str = "trixie-ovs3.5-ovn25.03-sos4.9.1.tar.xz";
const V4_12: &str = "trixie-ovs3.5-ovn25.03-sos4.12.tar.xz";
const LOGSIZE1: &str = "trixie-ovs3.5-ovn25.03-sos4.12-logsize1.tar.xz";
const OBFUSCATED: &str = "trixie-ovs3.5-ovn25.03-sos4.12-obfuscated.tar.xz";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sos").join(name)
}

/// A copy of the fixture the test user can read; its path as an argument.
fn report(replica: &Replica, name: &str) -> String {
    support::give(&fixture(name), replica.base.path()).to_str().unwrap().to_string()
}

#[test]
fn sos_4_9_1_report_replays_every_flow() {
    let replica = Replica::new();
    let out = replica.ok(&["collect-sos", &report(&replica, V4_9)]);
    assert!(out.contains("source: host prod-node-1, OVS 3.5.0, OVN 25.03.0, sos 4.9.1"), "{out}");
    assert!(out.contains("Open_vSwitch 8.8.0 (standalone) from member var/lib/openvswitch/conf.db"), "{out}");
    assert!(out.contains("OVN_Northbound 7.11.0 (standalone) from member var/lib/openvswitch/ovnnb_db.db"), "{out}");
    assert!(out.contains("OVN_Southbound 20.41.0 (standalone) from member var/lib/openvswitch/ovnsb_db.db"), "{out}");
    assert!(out.contains("br-int (OpenFlow13): 2020 flows, 4 groups"), "{out}");
    assert!(out.contains("breth0 (OpenFlow15): 3 flows, 1 groups, meters, TLV map"), "{out}");
    // Which dump each bridge restores from, and the error file skipped.
    assert!(out.contains("flows from sos_commands/ovn_host/ovs-ofctl_-O_OpenFlow13_dump-flows_br-int"), "{out}");
    assert!(out.contains("groups from sos_commands/openvswitch/ovs-ofctl_dump-groups_br-int"), "{out}");
    assert!(out.contains("ovs-ofctl_-O_OpenFlow10_dump-meters_breth0 holds an error message, not a dump"), "{out}");
    let start = replica.ok(&["start"]);
    assert!(start.contains("br-int: 2020/2020 flows, 4/4 groups, 0/0 meters, TLV map 1 entry"), "{start}");
    assert!(
        start.contains("breth0: 3/3 flows, 1/1 groups, 1/1 meters, 1/1 MAC table entries, TLV map 1 entry"),
        "{start}"
    );
    assert!(!start.contains("INCOMPLETE"), "{start}");
    check_against_report(&replica, V4_9, &out, &[]);
    assert!(replica.tool("ovn-nbctl", &["ls-list"]).contains("sw1"));
    let status = replica.status();
    let capture = &status["capture"];
    assert_eq!(capture["source"]["sos_version"], "4.9.1");
    let sha = capture["collected"]["ovs"]["source"]["archive_sha256"].as_str().unwrap();
    assert_eq!(sha, support::sha256(&fixture(V4_9)));
    replica.ok(&["stop"]);
    let text = replica.ok(&["status"]);
    assert!(text.contains("Source system: host prod-node-1, OVS 3.5.0, OVN 25.03.0, sos 4.9.1"), "{text}");
    // The report's OVS 3.5.0 against the local one: said when the local one is older.
    let local = support::stdout(support::run_ok(std::process::Command::new("ovs-vswitchd").arg("--version")));
    let local = local.lines().next().unwrap().split_whitespace().last().unwrap().to_string();
    let older = local.split('.').map(|p| p.parse::<u32>().unwrap_or(0)).collect::<Vec<_>>() < vec![3, 5, 0];
    let warning = format!("warning: the local Open vSwitch {local} is older than the source system's 3.5.0");
    assert_eq!(text.contains(&warning), older, "{text}");
    assert!(text.contains("(member var/lib/openvswitch/conf.db)"), "{text}");
    // The report holds no OVN --version output: the version is the
    // northd_internal_version in the databases' global options.
    assert_eq!(capture["source"]["ovn_version"], "25.03.0");
    let local = support::stdout(support::run_ok(std::process::Command::new("ovn-nbctl").arg("--version")));
    let local = local.split_whitespace().nth(1).unwrap().to_string();
    let older = local.split('.').map(|p| p.parse::<u32>().unwrap_or(0)).collect::<Vec<_>>() < vec![25, 3, 0];
    let warning = format!("warning: the local OVN {local} is older than the source system's 25.03.0");
    assert_eq!(text.contains(&warning), older, "{text}");
}

#[test]
fn sos_4_12_report_replays_every_flow_and_meter() {
    let replica = Replica::new();
    let out = replica.ok(&["collect-sos", &report(&replica, V4_12)]);
    assert!(out.contains("source: host prod-node-1, OVS 3.5.0, OVN 25.03.0, sos 4.12.0"), "{out}");
    for line in [
        "Open_vSwitch 8.8.0 (standalone) from member var/lib/openvswitch/conf.db",
        "OVN_Northbound 7.11.0 (standalone) from member var/lib/openvswitch/ovnnb_db.db",
        "OVN_Southbound 20.41.0 (standalone) from member var/lib/openvswitch/ovnsb_db.db",
        "br-int (OpenFlow15): 2152 flows, 4 groups, meters, TLV map",
        "breth0 (OpenFlow15): 3 flows, 1 groups, meters, TLV map",
    ] {
        assert!(out.contains(line), "{line}: {out}");
    }
    assert!(out.contains("etc/openvswitch/conf.db is a link to var/lib/openvswitch/conf.db in the report"), "{out}");
    // The OF1.0-1.2 meter files hold an ovs-ofctl error: they never win.
    assert!(out.contains("meters from sos_commands/openvswitch/ovs-ofctl_-O_OpenFlow15_dump-meters_br-int"), "{out}");
    let start = replica.ok(&["start"]);
    assert!(start.contains("br-int: 2152/2152 flows, 4/4 groups, 1/1 meters, TLV map 1 entry"), "{start}");
    assert!(
        start.contains("breth0: 3/3 flows, 1/1 groups, 1/1 meters, 1/1 MAC table entries, TLV map 1 entry"),
        "{start}"
    );
    check_against_report(&replica, V4_12, &out, &[]);
    // The MAC learned on OVN's localnet patch port comes back on it: its
    // full name, not the 15 characters OpenFlow port descriptions keep.
    let entries = |show: &str| -> Vec<Vec<String>> {
        show.lines().skip(1).map(|l| l.split_whitespace().take(3).map(String::from).collect()).collect()
    };
    let captured = member_text(V4_12, "sos_commands/openvswitch/ovs-appctl_fdb.show_breth0");
    let restored = replica.tool("ovs-appctl", &["-t", "ovs-vswitchd", "fdb/show", "breth0"]);
    assert_eq!(entries(&restored), entries(&captured), "{restored}");
    let trace = replica.tool("ovs-appctl", &["ofproto/trace", "breth0", "in_port=1,ip", "--ct-next", "trk,new"]);
    assert!(trace.contains("Datapath actions:"), "{trace}");
}

#[test]
fn sos_4_0_report_without_ovs_database_gives_its_flows_and_says_so() {
    let replica = Replica::new();
    let sos = report(&replica, V4_0);
    let out = replica.ok(&["collect-sos-ovs", &sos]);
    assert!(out.contains("note: no conf.db in the report"), "{out}");
    assert!(out.contains("br-int (OpenFlow13): 1852 flows"), "{out}");
    assert!(out.contains("breth0 (OpenFlow15): 3 flows, 1 groups"), "{out}");
    assert!(!out.contains("OVN_Northbound"), "collect-sos-ovs takes no OVN database: {out}");
    let status = replica.status();
    assert_eq!(status["capture"]["source"]["sos_version"], "4.0");
}

/// The text of a member of a fixture report.
fn member_text(name: &str, member: &str) -> String {
    let out = Command::new("tar")
        .args(["-xJOf", fixture(name).to_str().unwrap(), "--wildcards", &format!("*/{member}")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The text of a dump member; for a member sos cut (a link to its
/// `sos_strings/<plugin>/<file>.tailed` copy, which tar prints as nothing),
/// that copy.
fn dump_text(name: &str, member: &str) -> String {
    let text = member_text(name, member);
    if !text.is_empty() {
        return text;
    }
    let (plugin, file) = member.trim_start_matches("sos_commands/").split_once('/').unwrap();
    member_text(name, &format!("sos_strings/{plugin}/{file}.tailed"))
}

/// `(bridge, member)`: the dump each bridge restores its flows from, as
/// collect-sos printed it.
fn flow_members(collected: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut bridge = None;
    for line in collected.lines() {
        if let Some((name, _)) = line.split_once(" (OpenFlow") {
            bridge = Some(name.to_string());
        }
        if let Some(rest) = line.trim_start().strip_prefix("restores flows from ") {
            found.push((bridge.take().unwrap(), rest.split(';').next().unwrap().to_string()));
        }
    }
    found
}

/// The whole flows of a dump (a line sos cut at its start is no flow).
fn flows_in_dump(text: &str) -> usize {
    text.lines().filter(|l| l.trim_start().starts_with("cookie=") && l.contains(" actions=")).count()
}

/// `(bridge, port, interface)` of every interface `ovs-vsctl show` lists.
fn ports_of_show(text: &str) -> Vec<(String, String, String)> {
    let (mut bridge, mut port, mut found) = (String::new(), String::new(), Vec::new());
    for line in text.lines() {
        let Some((kind, name)) = line.trim().split_once(' ') else { continue };
        let name = name.trim_matches('"').to_string();
        match kind {
            "Bridge" => bridge = name,
            "Port" => port = name,
            "Interface" => found.push((bridge.clone(), port.clone(), name)),
            _ => {}
        }
    }
    found.sort();
    found
}

/// `(name, ofport)` of every interface in `ovs-vsctl list interface` text.
fn ofports(text: &str) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = text
        .split("\n\n")
        .map(|record| {
            let value = |key: &str| {
                let line = record.lines().find(|l| l.split_once(':').is_some_and(|(k, _)| k.trim() == key));
                line.and_then(|l| l.split_once(':')).map(|(_, v)| v.trim().trim_matches('"').to_string())
            };
            (value("name").unwrap_or_default(), value("ofport").unwrap_or_default())
        })
        .filter(|(name, _)| !name.is_empty())
        .collect();
    found.sort();
    found
}

/// A started replica against the report's own dumps: per bridge, the flows
/// of the dump it restored from (less those OVS `rejected`), and the
/// bridges, ports, interfaces and ofports the report's `ovs-vsctl show`
/// and `list interface` give.
fn check_against_report(replica: &Replica, name: &str, collected: &str, rejected: &[(&str, usize)]) {
    let members = flow_members(collected);
    assert!(!members.is_empty(), "{collected}");
    for (bridge, member) in members {
        let held = flows_in_dump(&dump_text(name, &member));
        let refused = rejected.iter().find(|(b, _)| *b == bridge).map_or(0, |(_, n)| *n);
        let aggregate = replica.tool("ovs-ofctl", &["-O", "OpenFlow15", "dump-aggregate", &bridge]);
        let count = aggregate.split("flow_count=").nth(1).unwrap().trim();
        assert_eq!(count, (held - refused).to_string(), "{name}: {bridge}, flows of {member}");
    }
    let show = member_text(name, "sos_commands/openvswitch/ovs-vsctl_-t_5_show");
    assert!(ports_of_show(&show).len() > 4, "{show}");
    assert_eq!(ports_of_show(&replica.tool("ovs-vsctl", &["show"])), ports_of_show(&show), "{name}");
    let interfaces = member_text(name, "sos_commands/openvswitch/ovs-vsctl_-t_5_list_interface");
    assert_eq!(ofports(&replica.tool("ovs-vsctl", &["list", "interface"])), ofports(&interfaces), "{name}");
}

/// `(bridge, port, interface, ofport)` of every interface, from the text
/// of `ovsdb-client -f list dump` (a test-side reading of its own).
fn interfaces_of_list_dump(text: &str) -> Vec<(String, String, String, String)> {
    let mut tables: BTreeMap<String, Vec<BTreeMap<String, String>>> = BTreeMap::new();
    let mut table = String::new();
    for block in text.split("\n\n") {
        let mut row = BTreeMap::new();
        for line in block.lines() {
            match line.split_once(':') {
                Some((column, value)) => {
                    row.insert(column.trim().to_string(), value.trim().to_string());
                }
                None => table = line.trim_end_matches(" table").to_string(),
            }
        }
        if !row.is_empty() {
            tables.entry(table.clone()).or_default().push(row);
        }
    }
    let by_uuid = |table: &str, uuid: &str| tables[table].iter().find(|r| r["_uuid"] == uuid).unwrap().clone();
    let list = |value: &str| -> Vec<String> {
        value.trim_matches(|c| c == '[' || c == ']').split(", ").filter(|s| !s.is_empty()).map(String::from).collect()
    };
    let mut found = Vec::new();
    for bridge in &tables["Bridge"] {
        for port in list(&bridge["ports"]).iter().map(|u| by_uuid("Port", u)) {
            for iface in list(&port["interfaces"]).iter().map(|u| by_uuid("Interface", u)) {
                found.push((
                    bridge["name"].clone(),
                    port["name"].clone(),
                    iface["name"].clone(),
                    iface["ofport"].clone(),
                ));
            }
        }
    }
    found.sort();
    found
}

#[test]
fn sos_4_0_report_without_ovs_database_is_rebuilt_from_its_list_dump() {
    let replica = Replica::new();
    let out = replica.ok(&["collect-sos-ovs", &report(&replica, V4_0)]);
    // Against the local schema, whatever its version.
    assert!(
        out.contains("(standalone, REBUILT) from member sos_commands/openvswitch/ovsdb-client_-f_list_dump"),
        "{out}"
    );
    assert!(
        out.contains("note: no conf.db in the report; rebuilt from sos_commands/openvswitch/ovsdb-client_-f_list_dump against the local schema "),
        "{out}"
    );
    let status = replica.status();
    let ovs = &status["capture"]["collected"]["ovs"];
    assert_eq!(ovs["source"]["member"], "sos_commands/openvswitch/ovsdb-client_-f_list_dump", "{status}");
    assert!(ovs["notes"][0].as_str().unwrap().contains("rebuilt from"), "{status}");
    let start = replica.ok(&["start"]);
    // sos 4.0 keeps no group dump of br-int: the 4 flows that use its load
    // balancers' groups load with placeholder groups, said so.
    assert!(
        start.contains(
            "br-int: 1852/1852 flows, 0/0 groups, 0/0 meters, TLV map 1 entry; 4 placeholder groups for missing groups 1, 2, 3, 4 (empty: packets sent to them are dropped)"
        ),
        "{start}"
    );
    assert_eq!(
        replica.tool("ovs-ofctl", &["-O", "OpenFlow13", "dump-groups", "br-int"]).matches("type=all").count(),
        4
    );
    assert!(start.contains("breth0: 3/3 flows, 1/1 groups"), "{start}");
    check_against_report(&replica, V4_0, &out, &[]);
    assert_eq!(replica.tool("ovs-vsctl", &["list-br"]), "br-int\nbreth0\n");
    let dump = member_text(V4_0, "sos_commands/openvswitch/ovsdb-client_-f_list_dump");
    let expected = interfaces_of_list_dump(&dump);
    assert!(expected.len() > 20, "{expected:?}");
    // What the replica's vswitchd made of it, read the same way.
    let live = replica.tool("ovsdb-client", &["-f", "list", "dump", &replica.socket("ovs")]);
    assert_eq!(interfaces_of_list_dump(&live), expected);
    let trace = replica.tool(
        "ovs-appctl",
        &["ofproto/trace", "br-int", "in_port=11,dl_src=00:00:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff"],
    );
    assert!(trace.contains("Datapath actions:"), "{trace}");
    let text = replica.ok(&["status"]);
    assert!(text.contains("4 placeholder groups for missing groups 1, 2, 3, 4"), "{text}");
    let status = replica.status();
    let br_int = status["restore"].as_array().unwrap().iter().find(|b| b["bridge"] == "br-int").unwrap();
    assert_eq!(br_int["placeholder_groups"], serde_json::json!([1, 2, 3, 4]), "{status}");
    replica.ok(&["stop"]);
    let text = replica.ok(&["status"]);
    assert!(text.contains("no conf.db in the report; rebuilt from"), "{text}");
}

/// An extracted sos 4.0-style report in `dir` holding `files` (path in the
/// report, contents) and `links` (path, target), readable by the test user.
fn directory_report(dir: &Path, files: &[(&str, &str)], links: &[(&str, &str)]) -> String {
    let root = dir.join("sosreport-node-2026");
    for (path, text) in files.iter().chain([&("version.txt", "sosreport: 4.0\n")]) {
        let path = root.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    for (path, target) in links {
        let path = root.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, path).unwrap();
    }
    support::make_readable(dir);
    root.to_str().unwrap().to_string()
}

/// Sunbeam runs OVS through its snap: sos names the commands
/// `openstack-hypervisor.ovs-vsctl_…` (its openvswitch plugin's
/// `ovs_cmd_pre`); the version, host and bridge list are read all the same.
#[test]
fn commands_run_through_a_snap_are_recognised() {
    let replica = Replica::new();
    let dir = support::user_dir("ovs-offline-snap-");
    let ovs = "sos_commands/openvswitch/openstack-hypervisor.";
    let sos = directory_report(
        dir.path(),
        &[
            ("etc/openvswitch/conf.db", &empty_ovs_db(dir.path())),
            (&format!("{ovs}ovs-vsctl_-t_5_list-br"), "br:ex\n"),
            (
                &format!("{ovs}ovs-vsctl_-t_5_list_Open_vSwitch"),
                "external_ids        : {hostname=hv-1}\novs_version         : \"3.3.0\"\n",
            ),
            (
                &format!("{ovs}ovs-ofctl_-O_OpenFlow15_dump-flows_br_ex"),
                "OFPST_FLOW reply (OF1.5) (xid=0x4):\n priority=0 actions=drop\n",
            ),
        ],
        &[],
    );
    let out = replica.ok(&["collect-sos-ovs", &sos]);
    assert!(out.contains("source: host hv-1, OVS 3.3.0, sos 4.0"), "{out}");
    // The mangled `br_ex` is the listed bridge `br:ex`.
    assert!(out.contains("br:ex (OpenFlow15): 1 flows"), "{out}");
}

/// The text of an empty OVS database made with the local schema.
fn empty_ovs_db(dir: &Path) -> String {
    let db = dir.join("empty-conf.db");
    support::run_ok(Command::new("ovsdb-tool").arg("create").arg(&db).arg("/usr/share/openvswitch/vswitch.ovsschema"));
    let text = fs::read_to_string(&db).unwrap();
    fs::remove_file(&db).unwrap();
    text
}

/// sos ≥ 4.7.1 runs `ovs-ofctl --version` once per bridge: the copies
/// `….1`, `….2` may hold an error; the one holding a version is read.
#[test]
fn of_several_version_files_the_one_holding_a_version_is_read() {
    let replica = Replica::new();
    let dir = support::user_dir("ovs-offline-versions-");
    let version = "sos_commands/openvswitch/ovs-ofctl_-t_5_--version";
    let sos = directory_report(
        dir.path(),
        &[
            ("etc/openvswitch/conf.db", &empty_ovs_db(dir.path())),
            (version, "timeout: failed to run command 'ovs-ofctl': No such file or directory\n"),
            (&format!("{version}.1"), "ovs-ofctl (Open vSwitch) 3.4.1\nOpenFlow versions 0x1:0x6\n"),
            (&format!("{version}.2"), "ovs-ofctl (Open vSwitch) 3.4.1\nOpenFlow versions 0x1:0x6\n"),
        ],
        &[],
    );
    let out = replica.ok(&["collect-sos-ovs", &sos]);
    assert!(out.contains("source: OVS 3.4.1, sos 4.0"), "{out}");
}

/// sos before 4.10.1 skips openshift_ovn on crio nodes: an OpenShift node's
/// report without OVN databases says so, and how to get them.
#[test]
fn openshift_node_without_ovn_databases_says_sos_skipped_openshift_ovn() {
    let replica = Replica::new();
    let dir = support::user_dir("ovs-offline-openshift-");
    let ps = "CONTAINER      IMAGE     CREATED       STATE     NAME                 ATTEMPT   POD ID         POD\n\
              0c3f8a2b1d4e   quay.io   2 hours ago   Running   ovnkube-controller   0         7a1b2c3d4e5f   ovnkube-node-x7k2p\n";
    let sos = directory_report(
        dir.path(),
        &[("etc/openvswitch/conf.db", &empty_ovs_db(dir.path())), ("sos_commands/crio/crictl_ps", ps)],
        &[],
    );
    let out = replica.ok(&["collect-sos", &sos]);
    assert!(out.contains("sos < 4.10.1 skips openshift_ovn on crio nodes: re-run with `-e openshift_ovn`"), "{out}");
}

/// A plugin that hit its time limit lost the commands it had not run: the
/// ones a replica needs are named.
#[test]
fn a_plugin_that_timed_out_names_the_missing_commands() {
    let replica = Replica::new();
    let dir = support::user_dir("ovs-offline-timeout-");
    let manifest = r#"{"version":"4.12.0","components":{"report":{"plugins":{"openvswitch":{"timeout_hit":true}}}}}"#;
    let sos = directory_report(
        dir.path(),
        &[
            ("etc/openvswitch/conf.db", &empty_ovs_db(dir.path())),
            ("sos_reports/manifest.json", manifest),
            ("sos_commands/openvswitch/ovs-vsctl_-t_5_list-br", "br-ex\nbr-int\n"),
            ("sos_commands/openvswitch/ovs-ofctl_dump-flows_br-int", " priority=0 actions=drop\n"),
        ],
        &[],
    );
    let out = replica.ok(&["collect-sos-ovs", &sos]);
    assert!(
        out.contains(
            "sos's openvswitch plugin hit its time limit: missing from the report: ovs-ofctl dump-flows br-ex\n"
        ),
        "{out}"
    );
}

const LIST_DUMP: &str = "sos_commands/openvswitch/ovsdb-client_-f_list_dump";

/// The lab node's OVS database, through `ovsdb-client -f list dump` and a
/// rebuild, gives a replica whose `ovs-vsctl show` is the live node's.
#[test]
fn lab_node_list_dump_rebuilds_to_the_same_ovs_vsctl_show() {
    let lab = support::LabNode::start();
    let dump = lab.tool("ovsdb-client", &["-f", "list", "dump", lab.var("LAB_OVS_DB")]);
    let replica = Replica::new();
    let sos = directory_report(replica.base.path(), &[(LIST_DUMP, &dump)], &[]);
    let out = replica.ok(&["collect-sos-ovs", &sos]);
    assert!(out.contains(", 0 columns dropped"), "{out}");
    replica.ok(&["start"]);
    assert_eq!(replica.tool("ovs-vsctl", &["show"]), lab.tool("ovs-vsctl", &["show"]));
}

const OVN_CENTRAL: &str = "sos_commands/ovn_central";

/// `show` text as a tree whose children are sorted under their parent:
/// rows whose uuids a rebuild had to make up (ports, chassis) are listed
/// in another order by `show`, which walks them in uuid order; nothing
/// else may differ.
fn sorted_tree(text: &str) -> Vec<String> {
    let lines: Vec<(usize, &str)> =
        text.lines().filter(|l| !l.trim().is_empty()).map(|l| (l.len() - l.trim_start().len(), l)).collect();
    fn nodes(lines: &[(usize, &str)]) -> Vec<String> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < lines.len() {
            let (indent, line) = lines[i];
            let end = lines[i + 1..].iter().position(|(d, _)| *d <= indent).map_or(lines.len(), |p| i + 1 + p);
            out.push(format!("{line}\n{}", nodes(&lines[i + 1..end]).concat()));
            i = end;
        }
        out.sort();
        out
    }
    nodes(&lines)
}

/// The lab node's NB and SB as an sos 4.0 report keeps them (`ovn-nbctl
/// show`, `ovn-sbctl show`, `ovn-sbctl lflow-list`, no database file):
/// the replica gives back the same logical flows, line for line, and the
/// same `show` text.
#[test]
fn lab_node_ovn_show_and_lflow_list_rebuild_to_the_same_text() {
    let lab = support::LabNode::start();
    let nb_show = lab.tool("ovn-nbctl", &["show"]);
    let sb_show = lab.tool("ovn-sbctl", &["show"]);
    let lflows = lab.tool("ovn-sbctl", &["lflow-list"]);
    assert!(lflows.lines().count() > 400 && nb_show.contains("router ") && sb_show.contains("Port_Binding cr-"));
    let replica = Replica::new();
    let files = [
        (format!("{OVN_CENTRAL}/ovn-nbctl_show"), nb_show.as_str()),
        (format!("{OVN_CENTRAL}/ovn-sbctl_show"), sb_show.as_str()),
        (format!("{OVN_CENTRAL}/ovn-sbctl_lflow-list"), lflows.as_str()),
    ];
    let files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), *t)).collect();
    let sos = directory_report(replica.base.path(), &files, &[]);
    let out = replica.ok(&["collect-sos-ovn", &sos]);
    assert!(out.contains("(standalone, REBUILT) from member sos_commands/ovn_central/ovn-nbctl_show"), "{out}");
    assert!(out.contains("(standalone, REBUILT) from member sos_commands/ovn_central/ovn-sbctl_show"), "{out}");
    assert!(!out.contains("port bindings dropped"), "every bound port's datapath is named: {out}");
    assert!(!out.contains("not understood"), "{out}");
    replica.ok(&["start"]);
    assert_eq!(replica.tool("ovn-sbctl", &["lflow-list"]), lflows);
    assert_eq!(sorted_tree(&replica.tool("ovn-nbctl", &["show"])), sorted_tree(&nb_show));
    assert_eq!(sorted_tree(&replica.tool("ovn-sbctl", &["show"])), sorted_tree(&sb_show));
}

/// `ovn-sbctl --uuid lflow-list` prints each flow's cookie (its uuid's first
/// 32 bits): the rebuilt flows keep it, so the replica prints the same
/// cookies, and every OVN cookie of the lab node's br-int names one of its
/// logical flows (what `ovn-detrace` resolves).
#[test]
fn lab_node_lflow_list_with_uuids_keeps_the_cookies() {
    let lab = support::LabNode::start();
    let lflows = lab.tool("ovn-sbctl", &["--uuid", "lflow-list"]);
    let replica = Replica::new();
    let member = format!("{OVN_CENTRAL}/ovn-sbctl_--uuid_lflow-list");
    let sos = directory_report(replica.base.path(), &[(&member, &lflows)], &[]);
    let out = replica.ok(&["collect-sos-ovn", &sos]);
    assert!(!out.contains("Logical_Flow uuids"), "no flow uuid is made up: {out}");
    replica.ok(&["start"]);
    let rebuilt = replica.tool("ovn-sbctl", &["--uuid", "lflow-list"]);
    assert_eq!(rebuilt, lflows);
    let flows = lab.tool("ovs-ofctl", &["dump-flows", "br-int"]);
    // ovs-ofctl prints a cookie without its leading zeros, lflow-list with.
    let cookies: std::collections::BTreeSet<String> =
        flows.split("cookie=0x").skip(1).filter_map(|f| f.split(',').next()).map(|c| format!("{c:0>8}")).collect();
    let resolved = cookies.iter().filter(|c| rebuilt.contains(&format!("uuid=0x{c},"))).count();
    eprintln!("{resolved} of {} br-int cookies name a rebuilt logical flow", cookies.len());
    assert!(resolved > 100, "{resolved} of {} cookies", cookies.len());
}

/// The tables of an installed schema.
fn schema_tables(kind: &str) -> Vec<String> {
    let schema: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(support::installed_schema(kind)).unwrap()).unwrap();
    schema["tables"].as_object().unwrap().keys().cloned().collect()
}

/// With `ovn-nbctl list <Table>` / `ovn-sbctl list <Table>` of every table
/// (as sos 4.12 names them), the rebuilt NB and SB hold every row of the
/// lab node's as it is: `ovsdb-client -f list dump` gives the same text.
#[test]
fn lab_node_ovn_list_files_rebuild_every_row() {
    let lab = support::LabNode::start();
    let mut files = Vec::new();
    for (tool, kind) in [("ovn-nbctl", "ovn_nb"), ("ovn-sbctl", "ovn_sb")] {
        files.push((format!("{OVN_CENTRAL}/{tool}_--no-leader-only_show"), lab.tool(tool, &["show"])));
        for table in schema_tables(kind) {
            let text = lab.tool(tool, &["list", &table]);
            files.push((format!("{OVN_CENTRAL}/{tool}_--no-leader-only_list_{table}"), text));
        }
    }
    let files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    let replica = Replica::new();
    let sos = directory_report(replica.base.path(), &files, &[]);
    let out = replica.ok(&["collect-sos-ovn", &sos]);
    assert!(out.contains(", 0 columns dropped"), "{out}");
    assert!(!out.contains("made up"), "{out}");
    replica.ok(&["start"]);
    for (kind, db) in [("ovn_nb", "LAB_NB_DB"), ("ovn_sb", "LAB_SB_DB")] {
        let dump = |socket: &str| lab.tool("ovsdb-client", &["-f", "list", "dump", socket]);
        assert_eq!(dump(&replica.socket(kind)), dump(lab.var(db)), "{kind}");
    }
}

/// The 4.0 fixture with its OVN database files withheld: NB and SB are
/// rebuilt from `ovn-nbctl show`, `ovn-sbctl show` and `lflow-list`.
#[test]
fn sos_4_0_report_without_ovn_databases_is_rebuilt_from_its_text() {
    let replica = Replica::new();
    let dir = replica.base.path().join("extracted");
    fs::create_dir(&dir).unwrap();
    support::run_ok(Command::new("tar").arg("-xJf").arg(fixture(V4_0)).arg("-C").arg(&dir));
    let root = fs::read_dir(&dir).unwrap().next().unwrap().unwrap().path();
    for db in ["ovnnb_db.db", "ovnsb_db.db"] {
        fs::remove_file(root.join("var/lib/openvswitch").join(db)).unwrap();
    }
    support::make_readable(&dir);
    let out = replica.ok(&["collect-sos", root.to_str().unwrap()]);
    assert!(out.contains("(standalone, REBUILT) from member sos_commands/ovn_central/ovn-nbctl_show"), "{out}");
    assert!(out.contains("(standalone, REBUILT) from member sos_commands/ovn_central/ovn-sbctl_show"), "{out}");
    assert!(
        out.contains("made up (the text has none): 5 Logical_Router_Port uuids, 22 Logical_Switch_Port uuids"),
        "{out}"
    );
    // lflow-list prints no uuids: ovn-detrace cannot resolve the cookies.
    assert!(out.contains("891 Logical_Flow uuids"), "{out}");
    assert!(out.contains("logical flows printed without uuid=0x… cookies"), "{out}");
    let start = replica.ok(&["start"]);
    assert!(start.contains("br-int: 1852/1852 flows"), "{start}");
    let text = |member: &str| fs::read_to_string(root.join(OVN_CENTRAL).join(member)).unwrap();
    assert_eq!(replica.tool("ovn-sbctl", &["lflow-list"]), text("ovn-sbctl_lflow-list"));
    assert_eq!(sorted_tree(&replica.tool("ovn-nbctl", &["show"])), sorted_tree(&text("ovn-nbctl_show")));
    assert_eq!(sorted_tree(&replica.tool("ovn-sbctl", &["show"])), sorted_tree(&text("ovn-sbctl_show")));
    let status = replica.ok(&["status"]);
    assert!(status.contains(" REBUILT  unix:"), "{status}");
    let show = replica.ok(&["show"]);
    assert!(show.contains("(REBUILT from the report's text"), "{show}");
    assert_eq!(replica.status()["capture"]["collected"]["ovn_sb"]["rebuilt"], true);
}

#[test]
fn cut_or_unreadable_list_dump_is_named_and_not_rebuilt() {
    let flows = (
        "sos_commands/openvswitch/ovs-ofctl_dump-flows_br0",
        " cookie=0x0, duration=1.0s, table=0, n_packets=0, n_bytes=0, priority=0 actions=NORMAL\n",
    );
    let replica = Replica::new();
    let tailed = "sos_strings/openvswitch/ovsdb-client_-f_list_dump.tailed";
    let sos = directory_report(
        replica.base.path(),
        &[flows, (tailed, "x\n_uuid : 26627813-e57b-4546-be25-bcfcc38937e7\n")],
        &[(LIST_DUMP, "../../sos_strings/openvswitch/ovsdb-client_-f_list_dump.tailed")],
    );
    let out = replica.ok(&["collect-sos-ovs", &sos]);
    assert!(
        out.contains(
            "note: no conf.db in the report, and its OVS database cannot be rebuilt: \
             sos_commands/openvswitch/ovsdb-client_-f_list_dump is cut (sos --log-size)"
        ),
        "{out}"
    );
    assert!(replica.status()["capture"]["collected"].as_object().unwrap().is_empty());
    let other = Replica::new();
    let sos = directory_report(other.base.path(), &[flows, (LIST_DUMP, "Bridge table\nname : br0\n")], &[]);
    let out = other.ok(&["collect-sos-ovs", &sos]);
    assert!(
        out.contains(
            "cannot be rebuilt: sos_commands/openvswitch/ovsdb-client_-f_list_dump: line 2: a row without _uuid"
        ),
        "{out}"
    );
    assert!(other.status()["capture"]["collected"].as_object().unwrap().is_empty());
}

/// OVN text sos cut is never rebuilt from: a database with nothing else is
/// named as not rebuilt, one with other text is rebuilt without it and
/// says so; a `list` file that does not parse is named.
#[test]
fn cut_or_unreadable_ovn_text_is_named_and_not_rebuilt_from() {
    let sb_show = member_text(V4_0, "sos_commands/ovn_central/ovn-sbctl_show");
    let lflows = member_text(V4_0, "sos_commands/ovn_central/ovn-sbctl_lflow-list");
    let cut_lflows = &lflows[lflows.len() / 2..];
    let replica = Replica::new();
    let sos = directory_report(
        replica.base.path(),
        &[
            ("sos_strings/ovn_central/ovn-nbctl_show.tailed", "    port sw1-p1\n"),
            (&format!("{OVN_CENTRAL}/ovn-sbctl_show"), &sb_show),
            ("sos_strings/ovn_central/ovn-sbctl_lflow-list.tailed", cut_lflows),
        ],
        &[
            (&format!("{OVN_CENTRAL}/ovn-nbctl_show"), "../../sos_strings/ovn_central/ovn-nbctl_show.tailed"),
            (
                &format!("{OVN_CENTRAL}/ovn-sbctl_lflow-list"),
                "../../sos_strings/ovn_central/ovn-sbctl_lflow-list.tailed",
            ),
        ],
    );
    let out = replica.ok(&["collect-sos-ovn", &sos]);
    assert!(
        out.contains(
            "note: no ovnnb_db.db in the report, and its OVN_Northbound database cannot be rebuilt: \
             sos_commands/ovn_central/ovn-nbctl_show cut (sos --log-size)"
        ),
        "{out}"
    );
    assert!(out.contains("not read (cut by sos): sos_commands/ovn_central/ovn-sbctl_lflow-list"), "{out}");
    // Without NB text no port binding's datapath is known.
    assert!(out.contains("18 port bindings dropped (no text names their datapath)"), "{out}");
    let collected = replica.status()["capture"]["collected"].clone();
    assert_eq!(collected.as_object().unwrap().keys().collect::<Vec<_>>(), ["ovn_sb"], "{collected}");
    let other = Replica::new();
    let list = (format!("{OVN_CENTRAL}/ovn-nbctl_list_Logical_Switch"), "name : sw1\n");
    let sos = directory_report(other.base.path(), &[(&list.0, list.1)], &[]);
    let out = other.fails(&["collect-sos-ovn", &sos]);
    assert!(
        out.contains(
            "holds no usable OVN databases (ovnnb_db.db, ovnsb_db.db) or their text (sos_commands/ovn_central): \
             OVN_Northbound: sos_commands/ovn_central/ovn-nbctl_list_Logical_Switch: line 1: a row without _uuid; \
             nothing collected"
        ),
        "{out}"
    );
    assert!(other.status()["capture"]["collected"].as_object().unwrap().is_empty());
}

#[test]
fn truncated_report_restores_what_is_there_and_says_what_is_missing() {
    let replica = Replica::new();
    let out = replica.ok(&["collect-sos", &report(&replica, LOGSIZE1)]);
    // 9040 flows on the live node; the tailed OF1.5 dump keeps 4965 whole ones.
    assert!(out.contains("br-int (OpenFlow15): 4965 flows, 16 groups, meters, TLV map"), "{out}");
    assert!(
        out.contains(
            "note: br-int: the report kept only the last 1047544 bytes of \
             sos_commands/openvswitch/ovs-ofctl_-O_OpenFlow15_dump-flows_br-int (sos --log-size); the first flows \
             are missing; re-run sos with --log-size 0 or --all-logs"
        ),
        "{out}"
    );
    assert!(
        out.contains("OVN_Southbound database var/lib/openvswitch/ovnsb_db.db not collected: the report kept only"),
        "{out}"
    );
    assert!(out.contains("OVN_Northbound 7.11.0 (standalone)"), "{out}");
    let start = replica.ok(&["start"]);
    assert!(
        start.contains("br-int: 4965/4965 flows, 16/16 groups, 1/1 meters, TLV map 1 entry (INCOMPLETE capture"),
        "{start}"
    );
    assert!(start.contains("  incomplete: br-int: the report kept only the last 1047544 bytes"), "{start}");
    assert!(
        start.contains("breth0: 3/3 flows, 1/1 groups, 1/1 meters, 1/1 MAC table entries, TLV map 1 entry\n"),
        "{start}"
    );
    check_against_report(&replica, LOGSIZE1, &out, &[]);
    // status, read later, says it as start did.
    let status = replica.ok(&["status"]);
    assert!(status.contains("1/1 meters, TLV map 1 entry (INCOMPLETE capture"), "{status}");
    assert!(status.contains("incomplete: br-int: the report kept only the last 1047544 bytes"), "{status}");
}

#[test]
fn obfuscated_report_databases_are_rehashed_marked_and_served() {
    let replica = Replica::new();
    let out = replica.ok(&["collect-sos", &report(&replica, OBFUSCATED)]);
    for (db, schema) in
        [("conf.db", "Open_vSwitch"), ("ovnnb_db.db", "OVN_Northbound"), ("ovnsb_db.db", "OVN_Southbound")]
    {
        let line = format!(" (standalone, OBFUSCATED) from member var/lib/openvswitch/{db}");
        assert!(out.lines().any(|l| l.starts_with(&format!("  {schema} ")) && l.ends_with(&line)), "{db}: {out}");
    }
    assert!(
        out.contains("note: var/lib/openvswitch/conf.db: obfuscated by sos clean: 3 of 62 records re-hashed; addresses are sos clean's, not production's"),
        "{out}"
    );
    assert!(out.contains("br-int (OpenFlow15): 2152 flows, 4 groups, meters, TLV map"), "{out}");
    let status = replica.status();
    let collected = &status["capture"]["collected"];
    for kind in ["ovs", "ovn_nb", "ovn_sb"] {
        assert!(collected[kind]["obfuscated"]["rehashed"].as_u64().unwrap() > 0, "{kind}: {status}");
        let file = replica.workdir.join("db").join(kind).join(collected[kind]["file"].as_str().unwrap());
        // The copy is a sound OVSDB file again.
        let log = support::run_ok(Command::new("ovsdb-tool").arg("show-log").arg(&file));
        assert!(log.status.success());
    }
    assert_eq!(collected["ovs"]["obfuscated"], serde_json::json!({"rehashed": 3, "records": 62}), "{status}");
    let text = replica.ok(&["status"]);
    assert!(text.contains("ovs     Open_vSwitch 8.8.0 OBFUSCATED from"), "{text}");
    // The dumps are obfuscated too: what sos clean made unparseable (a NAT
    // address turned into a prefix, hex in controller userdata) is refused
    // and logged; the flows using the 4 refused groups get placeholders.
    let start = replica.ok(&["start"]);
    // Each refused line is counted with its kind.
    let line = "br-int: 2078/2152 flows (74 rejected, see log/restore-errors.br-int.log), 0/4 groups (4 rejected), 1/1 meters, TLV map 1 entry; 4 placeholder groups for missing groups 1, 2, 3, 4";
    assert!(start.contains(line), "{start}");
    let errors = fs::read_to_string(replica.workdir.join("log/restore-errors.br-int.log")).unwrap();
    assert!(errors.contains("garbage (/24:8080) after nat range"), "{errors}");
    assert!(start.contains("note: groups 1, 2, 3, 4 of the capture were refused (see the log)"), "{start}");
    assert!(
        start.contains("breth0: 3/3 flows, 1/1 groups, 1/1 meters, 1/1 MAC table entries, TLV map 1 entry"),
        "{start}"
    );
    let text = replica.ok(&["status"]);
    assert!(text.contains("  ovn_sb  OVN_Southbound 20.41.0 OBFUSCATED"), "{text}");
    // Every record is served, not only those before the first edited one.
    let show = replica.tool("ovs-vsctl", &["show"]);
    for name in ["Bridge br-int", "Bridge breth0", "Port patch-br-int-to-ext-localnet"] {
        assert!(show.contains(name), "{name}: {show}");
    }
    assert_eq!(replica.tool("ovs-vsctl", &["list-br"]), "br-int\nbreth0\n");
    let nb = replica.tool("ovn-nbctl", &["show"]);
    assert!(nb.contains("switch "), "{nb}");
    let sb = replica.tool("ovn-sbctl", &["show"]);
    assert!(sb.contains("Chassis "), "{sb}");
    check_against_report(&replica, OBFUSCATED, &out, &[("br-int", 74)]);
}

/// A clustered database has the same records: `sos clean`'s edit of the
/// RAFT snapshot (its server's address) is re-hashed, and start converts
/// the copy to standalone and serves it.
#[test]
fn obfuscated_clustered_database_is_rehashed_and_served() {
    let replica = Replica::new();
    let dir = support::user_dir("ovs-offline-clustered-");
    let db = dir.path().join("nb.db");
    support::run_ok(
        Command::new("ovsdb-tool")
            .arg("create-cluster")
            .arg(&db)
            .arg("/usr/share/ovn/ovn-nb.ovsschema")
            .arg("tcp:192.168.1.10:6643"),
    );
    let obfuscated = fs::read_to_string(&db).unwrap().replace("192.168.1.10", "100.0.0.1");
    fs::remove_file(&db).unwrap();
    let sos = directory_report(dir.path(), &[("var/lib/openvswitch/ovnnb_db.db", &obfuscated)], &[]);
    let out = replica.ok(&["collect-sos-ovn", &sos]);
    assert!(out.contains("(clustered, OBFUSCATED) from member var/lib/openvswitch/ovnnb_db.db"), "{out}");
    assert!(out.contains("obfuscated by sos clean: 1 of 1 records re-hashed"), "{out}");
    replica.ok(&["start"]);
    replica.tool("ovn-nbctl", &["show"]);
    let text = replica.ok(&["status"]);
    // The local schema's version, whatever it is.
    assert!(text.lines().any(|l| l.starts_with("  ovn_nb  OVN_Northbound ") && l.contains(" OBFUSCATED ")), "{text}");
}

#[test]
fn worker_and_master_halves_from_two_collects_make_one_replica() {
    let replica = Replica::new();
    let worker = report(&replica, V4_12);
    let master_dir = support::user_dir("ovs-offline-master-");
    let master = support::give(&fixture(V4_9), master_dir.path());
    let out = replica.ok(&["collect-sos-ovs", &worker]);
    assert!(!out.contains("OVN_"), "{out}");
    let out = replica.ok(&[OsArg::from("collect-sos-ovn"), master.as_os_str().into()]);
    assert!(out.contains("OVN_Northbound 7.11.0") && out.contains("OVN_Southbound 20.41.0"), "{out}");
    assert!(!out.contains("flows"), "{out}");
    let err = replica.fails(&["collect-sos-ovs", &worker]);
    assert!(err.contains("already collected") && err.contains("--force"), "{err}");
    let start = replica.ok(&["start"]);
    assert!(start.contains("br-int: 2152/2152 flows"), "{start}");
    assert!(replica.tool("ovn-sbctl", &["list", "Chassis"]).contains("chassis-remote-2"));
}

type OsArg = std::ffi::OsString;

#[test]
fn extracted_gzip_and_bzip2_reports_give_the_same() {
    let replica = Replica::new();
    let dir = replica.base.path().join("extracted");
    fs::create_dir(&dir).unwrap();
    support::run_ok(Command::new("tar").arg("-xJf").arg(fixture(V4_9)).arg("-C").arg(&dir));
    support::make_readable(&dir);
    let expected = "br-int (OpenFlow13): 2020 flows, 4 groups";
    // The directory holding the report's top directory: one level deeper.
    let out = replica.ok(&[OsArg::from("collect-sos"), dir.clone().into()]);
    assert!(out.contains(expected) && out.contains("Open_vSwitch 8.8.0"), "{out}");
    for (ext, compress) in [("tar.gz", "gzip"), ("tar.bz2", "bzip2")] {
        let archive = replica.base.path().join(format!("report.{ext}"));
        let raw = support::run_ok(Command::new("xz").arg("-dc").arg(fixture(V4_9))).stdout;
        let mut child = Command::new(compress)
            .arg("-c")
            .stdin(std::process::Stdio::piped())
            .stdout(fs::File::create(&archive).unwrap())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&raw).unwrap();
        assert!(child.wait().unwrap().success());
        support::make_readable(&archive);
        let out = replica.ok(&[OsArg::from("collect-sos"), OsArg::from("--force"), archive.into()]);
        assert!(out.contains(expected) && out.contains("OVN_Southbound 20.41.0"), "{ext}: {out}");
    }
}

fn gzip(tar: &[u8], path: &Path) {
    let mut encoder = flate2::write::GzEncoder::new(fs::File::create(path).unwrap(), flate2::Compression::fast());
    encoder.write_all(tar).unwrap();
    encoder.finish().unwrap();
    support::make_readable(path);
}

/// A workdir holding the 4.9.1 report's data, its snapshot, and the base
/// directory's snapshot (nothing may appear there either).
fn collected_replica() -> (Replica, BTreeMap<PathBuf, Vec<u8>>) {
    let replica = Replica::new();
    replica.ok(&["collect-sos", &report(&replica, V4_9)]);
    let before = support::snapshot(&replica.workdir);
    (replica, before)
}

#[test]
fn hostile_archive_members_are_never_followed_or_written() {
    let (replica, before) = collected_replica();
    let dump = b"cookie=0x0, duration=1s, table=0, n_packets=0, n_bytes=0, priority=0 actions=NORMAL\n";
    let mut tar = Vec::new();
    let top = "sosreport-evil";
    support::raw_member(&mut tar, &format!("{top}/version.txt"), tar::EntryType::Regular, "", b"sos report: 4.12.0\n");
    let flows = "sos_commands/openvswitch/ovs-ofctl_dump-flows_br0";
    support::raw_member(&mut tar, &format!("{top}/../../escaped/{flows}"), tar::EntryType::Regular, "", dump);
    support::raw_member(&mut tar, "/tmp/ovs-offline-absolute-member", tar::EntryType::Regular, "", dump);
    support::raw_member(
        &mut tar,
        &format!("{top}/var/lib/openvswitch/conf.db"),
        tar::EntryType::Symlink,
        "/etc/shadow",
        b"",
    );
    support::raw_member(&mut tar, &format!("{top}/etc/openvswitch/conf.db"), tar::EntryType::Link, "/etc/passwd", b"");
    support::raw_member(&mut tar, &format!("{top}/var/lib/openvswitch/ovnnb_db.db"), tar::EntryType::Char, "", b"");
    let link = format!("{top}/sos_commands/openvswitch/ovs-ofctl_dump-flows_br1");
    support::raw_member(&mut tar, &link, tar::EntryType::Symlink, "../../../../../etc/passwd", b"");
    tar.extend_from_slice(&[0; 1024]);
    let archive = replica.base.path().join("evil.tar.gz");
    gzip(&tar, &archive);
    let base_before: Vec<_> = fs::read_dir(replica.base.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    let err = replica.fails(&[OsArg::from("collect-sos"), OsArg::from("--force"), archive.clone().into()]);
    assert!(err.contains("evil.tar.gz holds no Open vSwitch or OVN data"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(support::snapshot(&replica.workdir), before);
    let base_after: Vec<_> = fs::read_dir(replica.base.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(base_after, base_before);
    assert!(!Path::new("/tmp/ovs-offline-absolute-member").exists());
    assert!(!replica.base.path().parent().unwrap().join("escaped").exists());

    // With one good dump among them (twice, and a cut copy of the same
    // name): only it is taken, once.
    let mut tar = tar[..tar.len() - 1024].to_vec();
    let tailed = format!("{top}/sos_strings/openvswitch/ovs-ofctl_dump-flows_br0.tailed");
    support::raw_member(&mut tar, &tailed, tar::EntryType::Regular, "", &dump[20..]);
    support::raw_member(&mut tar, &format!("{top}/{flows}"), tar::EntryType::Regular, "", dump);
    support::raw_member(&mut tar, &format!("{top}/{flows}"), tar::EntryType::Regular, "", dump);
    tar.extend_from_slice(&[0; 1024]);
    gzip(&tar, &archive);
    let out = replica.ok(&[OsArg::from("collect-sos-ovs"), OsArg::from("--force"), archive.into()]);
    assert!(out.contains("br0: 1 flows"), "{out}");
    assert!(!out.contains("incomplete") && !out.contains("the report kept only"), "{out}");
    assert!(out.contains("var/lib/openvswitch/conf.db is a link out of the report"), "{out}");
    assert!(out.contains("ovs-ofctl_dump-flows_br1 is a link out of the report"), "{out}");
    assert!(out.contains("etc/openvswitch/conf.db is not a regular file in the report"), "{out}");
    let status = replica.status();
    let files = status["capture"]["flows"]["files"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{status}");
    assert_eq!(files[0]["path"], "sos.openvswitch/ovs-ofctl_dump-flows_br0");
}

#[test]
fn broken_or_foreign_archives_leave_the_workdir_unchanged() {
    let (replica, before) = collected_replica();
    // Cut short in the middle of its compressed stream.
    let bytes = fs::read(fixture(V4_12)).unwrap();
    let cut = replica.base.path().join("cut.tar.xz");
    fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    support::make_readable(&cut);
    let err = replica.fails(&[OsArg::from("collect-sos"), OsArg::from("--force"), cut.into()]);
    assert!(
        err.contains("cut.tar.xz is not a readable xz-compressed tar archive: it is corrupt or cut short"),
        "{err}"
    );
    assert_eq!(support::snapshot(&replica.workdir), before);

    // A tarball of something else.
    let mut tar = Vec::new();
    support::raw_member(&mut tar, "photos/cat.jpg", tar::EntryType::Regular, "", b"meow");
    tar.extend_from_slice(&[0; 1024]);
    let other = replica.base.path().join("photos.tar.gz");
    gzip(&tar, &other);
    let err = replica.fails(&[OsArg::from("collect-sos"), OsArg::from("--force"), other.into()]);
    assert!(err.contains("photos.tar.gz is not an sos report"), "{err}");

    // Not an archive at all.
    let text = replica.base.path().join("notes.txt");
    fs::write(&text, "hello\n".repeat(200)).unwrap();
    support::make_readable(&text);
    let err = replica.fails(&[OsArg::from("collect-sos"), OsArg::from("--force"), text.into()]);
    assert!(err.contains("notes.txt is not a readable tar archive"), "{err}");

    // A worker's report has no OVN databases.
    let mut tar = Vec::new();
    support::raw_member(&mut tar, "sosreport-w/version.txt", tar::EntryType::Regular, "", b"sos report: 4.12.0\n");
    tar.extend_from_slice(&[0; 1024]);
    let worker = replica.base.path().join("worker.tar.gz");
    gzip(&tar, &worker);
    let err = replica.fails(&[OsArg::from("collect-sos-ovn"), OsArg::from("--force"), worker.into()]);
    assert!(err.contains("worker.tar.gz holds no OVN databases (ovnnb_db.db, ovnsb_db.db)"), "{err}");
    assert_eq!(support::snapshot(&replica.workdir), before);
}

/// sos ≥ 4.2 marks cut command output in its manifest; read before or after
/// the member, the bridge is never presented as complete.
#[test]
fn truncation_marked_only_in_the_manifest_is_reported() {
    let replica = Replica::new();
    let flows = "sos_commands/openvswitch/ovs-ofctl_dump-flows_br0";
    let manifest = format!(
        r#"{{"version":"4.12.0","components":{{"report":{{"plugins":{{"openvswitch":{{"timeout_hit":true,
        "commands":[{{"filepath":"{flows}","truncated":true}}]}}}}}}}}}}"#
    );
    let dump = b"ty=0, priority=5 actions=drop\npriority=0 actions=NORMAL\npriority=1,ip actions=drop\n";
    for (order, first_line) in [("manifest first", "dropped"), ("manifest last", "kept")] {
        let mut tar = Vec::new();
        support::raw_member(&mut tar, "sosreport-m/version.txt", tar::EntryType::Regular, "", b"sos report: 4.12.0\n");
        if first_line == "dropped" {
            support::raw_member(
                &mut tar,
                "sosreport-m/sos_reports/manifest.json",
                tar::EntryType::Regular,
                "",
                manifest.as_bytes(),
            );
        }
        support::raw_member(&mut tar, &format!("sosreport-m/{flows}"), tar::EntryType::Regular, "", dump);
        if first_line == "kept" {
            support::raw_member(
                &mut tar,
                "sosreport-m/sos_reports/manifest.json",
                tar::EntryType::Regular,
                "",
                manifest.as_bytes(),
            );
        }
        tar.extend_from_slice(&[0; 1024]);
        let archive = replica.base.path().join("marked.tar.gz");
        gzip(&tar, &archive);
        let out = replica.ok(&[OsArg::from("collect-sos-ovs"), OsArg::from("--force"), archive.into()]);
        assert!(out.contains("sos's openvswitch plugin hit its time limit"), "{order}: {out}");
        if first_line == "dropped" {
            assert!(out.contains("br0: 2 flows"), "{order}: {out}");
            assert!(out.contains("br0: the report kept only the last 53 bytes of"), "{order}: {out}");
        } else {
            assert!(
                out.contains("br0: sos marked sos_commands/openvswitch/ovs-ofctl_dump-flows_br0 truncated"),
                "{order}: {out}"
            );
        }
        let status = replica.status();
        assert!(status["capture"]["flows"]["incomplete"]["br0"].is_string(), "{order}: {status}");
    }
}

/// The progress bar is drawn only on a terminal: with stderr a pipe (as
/// here, and in scripts), a collect writes only its warnings there.
#[test]
fn collect_sos_writes_no_progress_when_stderr_is_not_a_terminal() {
    let replica = Replica::new();
    let out = replica.run(&["collect-sos", &report(&replica, V4_12)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains(['\r', '\u{1b}']), "terminal control in stderr: {stderr:?}");
    assert!(stderr.lines().all(|l| l.starts_with("warning: ")), "not a warning in stderr: {stderr:?}");
}
