//! Flow replay end to end: the real ovs-save output of a live lab node
//! (plus OpenFlow 1.5 group and meter dumps named as sos names them, as an
//! engineer collects them by hand) is collected, a replica started as an
//! unprivileged user, and its OpenFlow state and traces compared with the
//! live node's.

mod support;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use support::{LabNode, Replica};

/// The flows a trace hits (`N. match, priority P, cookie C`) and its
/// datapath actions; datapath meter ids are allocation order, not state.
fn trace_path(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| {
            l.starts_with("Datapath actions:")
                || l.split_once(". ").is_some_and(|(n, rest)| n.parse::<u32>().is_ok() && rest.contains("priority"))
        })
        .map(|l| {
            let mut out = String::new();
            let mut rest = l;
            while let Some(i) = rest.find("meter(") {
                out.push_str(&rest[..i + 6]);
                rest = &rest[i + 6..];
                rest = &rest[rest.find(')').unwrap_or(0)..];
                out.push('N');
            }
            out.push_str(rest);
            out
        })
        .collect()
}

/// A replica of one bridge `br0` (no flows of its own) with `files` (name,
/// content) collected as its OpenFlow state.
fn br0_replica_with(files: &[(&str, &str)]) -> Replica {
    let replica = Replica::new();
    let conf = support::make_db(&support::installed_schema("ovs"), replica.base.path(), "conf.db");
    replica.ok(&["collect-db-ovs", conf.to_str().unwrap()]);
    let dumps = support::user_dir("dumps-");
    for (name, content) in files {
        std::fs::write(dumps.path().join(name), content).unwrap();
    }
    support::make_readable(dumps.path());
    replica.ok(&["collect-flows", dumps.path().to_str().unwrap()]);
    replica
}

#[test]
fn restored_openflow_state_matches_live_node() {
    let lab = LabNode::start();
    let replica = Replica::new();
    let saved = support::collect_lab_with_flows(&lab, &replica);
    let out = replica.ok(&["start"]);
    let flows = |bridge: &str, version: &str| lab.tool("ovs-ofctl", &["-O", version, "dump-aggregate", bridge]);
    let count = |text: String| text.split("flow_count=").nth(1).unwrap().trim().to_string();
    let int_flows = count(flows("br-int", "OpenFlow15"));
    assert!(
        out.contains(&format!("br-int: {int_flows}/{int_flows} flows, 2/2 groups, 1/1 meters, TLV map 1 entry")),
        "{out}"
    );
    assert!(out.contains("br-ex: 6/6 flows, 1/1 groups, 1/1 meters, TLV map 1 entry"), "{out}");

    // ovs-save dumped br-int with OpenFlow14 and br-ex with OpenFlow15:
    // compare each in its version (how OVS prints an action depends on it).
    for (bridge, version) in [("br-int", "OpenFlow14"), ("br-ex", "OpenFlow15")] {
        let dump_flows = ["-O", version, "dump-flows", "--no-stats", bridge];
        assert_eq!(
            support::dump_set(&replica.tool("ovs-ofctl", &dump_flows)),
            support::dump_set(&lab.tool("ovs-ofctl", &dump_flows))
        );
        for what in ["dump-groups", "dump-meters", "dump-tlv-map"] {
            let args = ["-O", "OpenFlow15", what, bridge];
            assert_eq!(
                support::dump_set(&replica.tool("ovs-ofctl", &args)),
                support::dump_set(&lab.tool("ovs-ofctl", &args)),
                "{bridge} {what}"
            );
        }
    }

    let packets = [
        ("br-ex", "in_port=1,ip,nw_src=10.1.1.1,nw_dst=10.2.2.2", ""),
        ("br-ex", "in_port=2,ip,nw_src=10.9.9.9,nw_dst=192.168.1.1,nw_ttl=64", ""),
        ("br-ex", "in_port=LOCAL,tun_metadata0=0x1234", ""),
        ("br-int", "in_port=1,tcp,dl_src=00:00:00:00:01:0a,dl_dst=00:00:00:00:01:01,nw_src=10.0.1.10,nw_dst=172.16.0.100,tp_dst=80,nw_ttl=64", "trk,new"),
        ("br-int", "in_port=1,tcp,dl_src=00:00:00:00:01:0a,dl_dst=00:00:00:00:01:0b,nw_src=10.0.1.10,nw_dst=10.0.1.11,tp_dst=80,nw_ttl=64", "trk,new"),
        ("br-int", "in_port=3,tcp,dl_src=00:00:00:00:02:0a,dl_dst=00:00:00:00:02:01,nw_src=10.0.2.10,nw_dst=10.0.1.10,tp_dst=22,nw_ttl=64", "trk,new"),
        ("br-int", "in_port=2,arp,dl_src=00:00:00:00:01:0b,dl_dst=ff:ff:ff:ff:ff:ff,arp_op=1,arp_spa=10.0.1.11,arp_tpa=10.0.1.1,arp_sha=00:00:00:00:01:0b", ""),
    ];
    let mut hit_group = false;
    for (bridge, flow, ct) in packets {
        let mut args = vec!["ofproto/trace", bridge, flow];
        if !ct.is_empty() {
            args.extend(["--ct-next", ct]);
        }
        let live = lab.tool("ovs-appctl", &args);
        let offline = replica.tool("ovs-appctl", &args);
        hit_group |= live.contains("group:");
        assert_eq!(trace_path(&offline), trace_path(&live), "trace {bridge} {flow}:\n{offline}");
        assert!(trace_path(&live).len() > 1, "{live}");
    }
    assert!(hit_group, "no trace went through a group");

    // OVN's own tools read the replica's NB/SB like production's.
    let microflow = r#"inport == "web1" && eth.src == 00:00:00:00:01:0a && eth.dst == 00:00:00:00:01:01 && ip4.src == 10.0.1.10 && ip4.dst == 10.0.2.10 && ip.ttl == 64 && tcp.dst == 5432"#;
    let ovn_trace = |sb: String| {
        support::stdout(support::run_ok(
            Command::new("ovn-trace").arg(format!("--db={sb}")).args(["ls-web", microflow]),
        ))
    };
    assert_eq!(ovn_trace(replica.socket("ovn_sb")), ovn_trace(lab.var("LAB_SB_DB").to_string()));
    let (bridge, flow, ct) = packets[3];
    let detrace = |trace: String, [ovs, nb, sb]: [String; 3]| {
        let mut child = Command::new("ovn-detrace")
            .args([format!("--ovsdb={ovs}"), format!("--ovnnb={nb}"), format!("--ovnsb={sb}")])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(trace.as_bytes()).unwrap();
        String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap()
    };
    let args = ["ofproto/trace", bridge, flow, "--ct-next", ct];
    let offline = detrace(replica.tool("ovs-appctl", &args), ["ovs", "ovn_nb", "ovn_sb"].map(|k| replica.socket(k)));
    let live = detrace(
        lab.tool("ovs-appctl", &args),
        ["LAB_OVS_DB", "LAB_NB_DB", "LAB_SB_DB"].map(|v| lab.var(v).to_string()),
    );
    assert!(offline.contains("Logical flow"), "{offline}");
    assert_eq!(trace_path(&offline), trace_path(&live));
    let lflows = |text: &str| text.lines().filter(|l| l.contains("Logical flow")).map(String::from).collect::<Vec<_>>();
    assert_eq!(lflows(&offline), lflows(&live));
    let status = replica.status();
    let restore = status["restore"].as_array().unwrap();
    assert_eq!(restore.len(), 2);
    assert!(restore.iter().all(|r| r["rejected"] == 0), "{status}");
    std::fs::remove_dir_all(saved).ok();
}

/// A flows dump with one line OVS cannot parse, one OVS refuses (table 254
/// is read-only), one referencing a missing group and two a missing meter;
/// everything else must load (the missing group and meter as placeholders).
#[test]
fn rejected_lines_are_isolated_and_reported() {
    let mut text = String::from("OFPST_FLOW reply (OF1.5) (xid=0x2):\n");
    for i in 0..200 {
        text.push_str(&format!(" cookie=0x{i:x}, duration=1.5s, table=0, n_packets=3, n_bytes=180, idle_age=1, priority={},ip,nw_dst=10.0.{}.{} actions=drop\n", 100 + i, i / 250, i % 250));
    }
    text.push_str(" cookie=0x1, table=0, priority=9,ip,frobnicate=7 actions=drop\n");
    text.push_str(" cookie=0x2, table=1, priority=10,ip actions=group:99\n");
    text.push_str(" cookie=0x3, table=1, priority=11,udp actions=meter:5,drop\n");
    text.push_str(" cookie=0x4, table=1, priority=12,tcp actions=meter:6,resubmit(,2)\n");
    text.push_str(" cookie=0x5, table=254, priority=13 actions=drop\n");
    let replica = br0_replica_with(&[("ovs-ofctl_-O_OpenFlow15_dump-flows_br0", &text)]);
    let out = replica.run(&["start"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("br0: 202/205 flows (3 rejected, see log/restore-errors.br0.log)"), "{stdout}");
    assert!(stdout.contains("placeholder meters 6"), "{stdout}");
    assert!(
        stdout.contains("; 1 placeholder group for missing group 99 (empty: packets sent to it are dropped)"),
        "{stdout}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning: 3 OpenFlow entries were not restored"));
    let log = std::fs::read_to_string(replica.workdir.join("log/restore-errors.br0.log")).unwrap();
    assert!(log.contains("frobnicate=7") && log.contains("unknown keyword"), "{log}");
    assert!(log.contains("table=254") && log.contains("OFPBRC_EPERM"), "{log}");
    assert!(!log.contains("group:99"), "{log}");
    assert!(log.contains("meter:5,drop"), "{log}");
    let flows = replica.tool("ovs-ofctl", &["-O", "OpenFlow15", "dump-flows", "br0"]);
    assert!(flows.contains("meter:6") && flows.contains("group:99"), "{flows}");
    let groups = replica.tool("ovs-ofctl", &["-O", "OpenFlow15", "dump-groups", "br0"]);
    assert!(groups.contains("group_id=99,type=all\n"), "{groups}");
}

#[test]
fn bridge_whose_flows_all_fail_fails_start() {
    let flows = "table=254,priority=1 actions=drop\ntable=254,priority=2 actions=drop\n";
    let replica = br0_replica_with(&[("br0.flows.dump", flows)]);
    let err = replica.fails(&["start"]);
    assert!(err.contains("OpenFlow state not restored on br0"), "{err}");
    assert_eq!(replica.status()["running"], true, "the replica stays up for inspection");
}

#[test]
fn do_restore_script_is_read_never_executed() {
    let lab = LabNode::start();
    let replica = Replica::new();
    replica.collect_lab(&lab);
    let saved = support::user_dir("ovs-save-out-");
    lab.save_flows(saved.path());
    let marker = saved.path().join("MARKER");
    let script = saved.path().join("do_restore.sh");
    let mut text = std::fs::read_to_string(&script).unwrap();
    let m = marker.display();
    text.insert_str(0, &format!("touch {m}\nrm -rf /tmp/ovs-offline-should-not-exist\n`touch {m}`\necho $(touch {m})\novs-ofctl add-flow br-int \"$(touch {m})\"\n"));
    std::fs::write(&script, text).unwrap();
    support::make_readable(saved.path());
    let out = replica.ok(&["collect-flows", script.to_str().unwrap()]);
    assert!(out.contains("br-int") && out.contains("ignored"), "{out}");
    let out = replica.ok(&["start"]);
    assert!(out.contains("br-ex: 6/6 flows"), "{out}");
    assert!(!marker.exists(), "do_restore.sh was executed");
    assert!(replica.workdir.join("restore_flows/do_restore.sh").exists());
}

#[test]
fn collect_flows_refuses_what_holds_no_dumps() {
    let replica = Replica::new();
    let empty = support::user_dir("empty-");
    std::fs::write(empty.path().join("notes.txt"), "nothing here").unwrap();
    let err = replica.fails(&["collect-flows", empty.path().to_str().unwrap()]);
    assert!(err.contains("holds no flow dumps"), "{err}");
    assert!(!Path::new(&replica.workdir.join("restore_flows")).read_dir().is_ok_and(|mut d| d.next().is_some()));
}

/// ovs-save before OVS 2.17 dumps with OpenFlow14 whatever the bridge's
/// protocols allow, and writes empty dumps; a dump holding undecodable
/// replies is incomplete. Both are said, not silently restored as nothing.
#[test]
fn incomplete_captures_are_reported() {
    let replica = Replica::new();
    let dir = replica.base.path();
    let conf = support::make_db(&support::installed_schema("ovs"), dir, "conf.db");
    support::run_ok(std::process::Command::new("ovsdb-tool").arg("transact").arg(&conf).arg(
        r#"["Open_vSwitch",{"op":"update","table":"Bridge","where":[["name","==","br0"]],
                "row":{"protocols":["set",["OpenFlow10","OpenFlow13"]]}}]"#,
    ));
    replica.ok(&["collect-db-ovs", conf.to_str().unwrap()]);
    let dumps = support::user_dir("dumps-");
    std::fs::write(
        dumps.path().join("do_restore.sh"),
        "ovs-ofctl add-tlv-map br0 ''\n\
         ovs-ofctl -O OpenFlow14 add-groups br0 \"/tmp/ovs-save.abc/br0.groups.dump\" --bundle\n\
         ovs-ofctl -O OpenFlow14 replace-flows br0 \"/tmp/ovs-save.abc/br0.flows.dump\" --bundle\n",
    )
    .unwrap();
    std::fs::create_dir(dumps.path().join("ovs-save.abc")).unwrap();
    std::fs::write(dumps.path().join("ovs-save.abc/br0.groups.dump"), "").unwrap();
    std::fs::write(
        dumps.path().join("ovs-save.abc/br0.flows.dump"),
        "OFPST_FLOW reply (OF1.3) (xid=0x2): ***decode error: OFPBAC_BAD_VENDOR_TYPE***\n\
         00000000  04 13 00 a8 00 00 00 02-00 01 00 00 00 00 00 00 |................|\n",
    )
    .unwrap();
    support::make_readable(dumps.path());
    replica.ok(&["collect-flows", dumps.path().to_str().unwrap()]);
    let out = replica.ok(&["start"]);
    assert!(out.contains("br0: 0/0 flows"), "{out}");
    assert!(out.contains("do not allow") && out.contains("ovs-ofctl -O OpenFlow13 dump-flows br0"), "{out}");
    assert!(out.contains("could not decode"), "{out}");
}

/// A dump large enough to be fed as several bundles, with a refused line
/// in the middle: only that line is missing.
#[test]
fn large_dump_loads_in_shares_around_a_bad_line() {
    let mut text = String::from("OFPST_FLOW reply (OF1.5) (xid=0x2): flags=[more]\n");
    for i in 0..60_000u32 {
        if i == 45_000 {
            text.push_str(" cookie=0xbad, duration=1.5s, table=254, n_packets=0, n_bytes=0, priority=7 actions=drop\n");
        }
        text.push_str(&format!(
            " cookie=0x{i:x}, duration=12.345s, table={}, n_packets=1234, n_bytes=56789, idle_age=3, hard_age=5, \
             priority={},ip,nw_src=192.168.{}.{},nw_dst=10.{}.{}.{} actions=set_field:0x{i:x}->reg13,resubmit(,9)\n",
            i % 8,
            100 + i % 50,
            i % 200,
            i % 250,
            i >> 16,
            (i >> 8) & 255,
            i & 255
        ));
    }
    assert!(text.len() > 8 << 20, "the dump must span several shares");
    let replica = br0_replica_with(&[("ovs-ofctl_-O_OpenFlow15_dump-flows_br0", &text)]);
    let out = replica.ok(&["start"]);
    assert!(out.contains("br0: 60000/60001 flows (1 rejected, see log/restore-errors.br0.log)"), "{out}");
    let log = std::fs::read_to_string(replica.workdir.join("log/restore-errors.br0.log")).unwrap();
    assert!(log.contains("cookie=0xbad") && log.contains("OFPBRC_EPERM"), "{log}");
}

/// A dump with thousands of unparseable lines among valid ones (issue #13:
/// 6,000 overflowed the stack of the isolating thread after 26 s; 878 of
/// 2,632 took 21 s and 347 MB of scratch): each bad line is rejected and
/// every good one loaded, with about one `ovs-ofctl` run per bad line and
/// never more scratch than a copy of the dump; the refused lines of a
/// bundle (flows in the read-only table 254) are still found by halving.
#[test]
fn thousands_of_unparseable_lines_are_isolated_quickly() {
    let bad: usize = 2_500;
    let read_only = |i: usize| i % 1_000 == 500;
    let mut text = String::from("OFPST_FLOW reply (OF1.5) (xid=0x2):\n");
    for i in 0..bad {
        text.push_str(&format!(
            " cookie=0x{i:x}, table=0, priority={},ip,nw_dst=10.1.{}.{} actions=drop\n",
            100 + i,
            i / 250,
            i % 250
        ));
        text.push_str(&format!(" cookie=0x{i:x}, table=1, priority={},ip,frobnicate={i} actions=drop\n", 100 + i));
        if read_only(i) {
            text.push_str(&format!(" cookie=0x{i:x}, table=254, priority={} actions=drop\n", 100 + i));
        }
    }
    let replica = br0_replica_with(&[("ovs-ofctl_-O_OpenFlow15_dump-flows_br0", &text)]);
    let scratch = replica.workdir.join("replica/flows/br0");
    let done = std::sync::atomic::AtomicBool::new(false);
    let started = std::time::Instant::now();
    let (out, peak) = std::thread::scope(|scope| {
        let sampler = scope.spawn(|| {
            let mut peak = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(dir_size(&scratch));
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            peak
        });
        let out = replica.ok(&["start"]);
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        (out, sampler.join().unwrap())
    });
    let took = started.elapsed();
    let read_only = (0..bad).filter(|&i| read_only(i)).count();
    let refused = bad + read_only;
    let expected = format!("br0: {bad}/{} flows ({refused} rejected, see log/restore-errors.br0.log)", bad + refused);
    assert!(out.contains(&expected), "{out}");
    assert!(peak <= 2 * text.len() as u64, "scratch peaked at {peak} bytes for a dump of {}", text.len());
    assert!(took < std::time::Duration::from_secs(60), "isolation took {took:?}");
    let log = std::fs::read_to_string(replica.workdir.join("log/restore-errors.br0.log")).unwrap();
    assert_eq!(log.matches("frobnicate=").count(), bad);
    assert_eq!(log.matches("OFPBRC_EPERM").count(), read_only);
    assert!(!scratch.exists(), "scratch is removed");
    eprintln!("{bad} unparseable lines isolated: start took {took:?}, scratch peaked at {peak} bytes");
}

/// Bytes in the files under `dir` (0 when it does not exist).
fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Bridges ovs-vswitchd refuses (issue #13: `start` waited for its whole
/// timeout and failed without naming them): a name with `/` (ignored by
/// vswitchd, known from the name) and a name too long for the bridge's
/// unix socket (known from vswitchd's log). `start` goes on without them,
/// restores the others, names them quoted in its output and in `status`,
/// and no socket appears outside the run directory.
#[test]
fn bridges_vswitchd_refuses_are_reported_not_awaited() {
    let replica = Replica::new();
    let dir = replica.base.path();
    let conf = support::make_db(&support::installed_schema("ovs"), dir, "conf.db");
    let long = "b".repeat(200);
    let names = ["../../x", "a/b", long.as_str()];
    let mut ops = vec![serde_json::json!("Open_vSwitch")];
    for (i, name) in names.iter().enumerate() {
        ops.push(serde_json::json!({"op": "insert", "table": "Interface", "row": {"name": name, "type": "internal"}, "uuid-name": format!("i{i}")}));
        ops.push(serde_json::json!({"op": "insert", "table": "Port", "row": {"name": name, "interfaces": ["named-uuid", format!("i{i}")]}, "uuid-name": format!("p{i}")}));
        ops.push(serde_json::json!({"op": "insert", "table": "Bridge", "row": {"name": name, "ports": ["named-uuid", format!("p{i}")]}, "uuid-name": format!("b{i}")}));
        ops.push(serde_json::json!({"op": "mutate", "table": "Open_vSwitch", "where": [], "mutations": [["bridges", "insert", ["set", [["named-uuid", format!("b{i}")]]]]]}));
    }
    support::run_ok(
        Command::new("ovsdb-tool").arg("transact").arg(&conf).arg(serde_json::Value::Array(ops).to_string()),
    );
    replica.ok(&["collect-db-ovs", conf.to_str().unwrap()]);
    let dumps = support::user_dir("dumps-");
    std::fs::write(dumps.path().join("br0.flows.dump"), "priority=5,ip actions=drop\n").unwrap();
    std::fs::write(dumps.path().join(format!("{long}.flows.dump")), "priority=5,ip actions=drop\n").unwrap();
    support::make_readable(dumps.path());
    replica.ok(&["collect-flows", dumps.path().to_str().unwrap()]);

    let started = std::time::Instant::now();
    let out = replica.ok(&["start", "--timeout", "30"]);
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "start waited {:?}", started.elapsed());
    assert!(out.contains("br0: 1/1 flows"), "{out}");
    // Names are printed as shell words (bare when nothing in them is special).
    for name in ["../../x", "a/b"] {
        assert!(
            out.contains(&format!(
                "{name}: not restored: ovs-vswitchd ignores it (a bridge name must not contain '/')"
            )),
            "{out}"
        );
    }
    let line = out
        .lines()
        .find(|l| l.starts_with(&format!("{long}: not restored: ovs-vswitchd refused it (")))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(line.contains("is longer than maximum"), "{line}");
    let status = replica.ok(&["status"]);
    assert!(status.contains("a/b: not restored") && status.contains(&format!("{long}: not restored")), "{status}");
    let json = replica.status();
    let refused: Vec<&str> = json["restore"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["refused"].is_string())
        .map(|r| r["bridge"].as_str().unwrap())
        .collect();
    assert_eq!(refused.len(), 3, "{json}");
    for outside in [replica.workdir.join("x.mgmt"), replica.workdir.join("var-run/x.mgmt"), dir.join("x.mgmt")] {
        assert!(!outside.exists(), "{}", outside.display());
    }
}
