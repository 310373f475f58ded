//! `start --ovs-root DIR`: the trixie sos fixture (OVS 3.5 / OVN 25.03,
//! newer than the local OVS) replayed by daemons from a Debian trixie root
//! filesystem, as the unprivileged test user. The root is made once by
//! `scripts/make-ovs-root` (mmdebstrap, from Debian's archive) and cached
//! outside the repository, in `OVS_OFFLINE_TEST_ROOT` or
//! /var/cache/ovs-offline-test/trixie-root.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;
use support::Replica;

const ARCHIVE: &str = "tests/fixtures/sos/trixie-ovs3.5-ovn25.03-sos4.9.1.tar.xz";

/// A flow only OVS ≥ 3.4 parses (observation ids taken from registers):
/// OVS 3.1 refuses it with "invalid numeric format NXM_NX_REG0[]".
const OVS_3_5_FLOW: &str = " cookie=0x0, duration=6.320s, table=99, n_packets=0, n_bytes=0, idle_age=6, \
    priority=7,reg5=0x77 actions=sample(probability=65535,collector_set_id=1,obs_domain_id=NXM_NX_REG0[],\
    obs_point_id=NXM_NX_REG1[])\n";

/// The cached trixie root, made (about 80 s, once) when absent.
fn trixie_root() -> PathBuf {
    let root = std::env::var_os("OVS_OFFLINE_TEST_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/var/cache/ovs-offline-test/trixie-root".into());
    let began = Instant::now();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/make-ovs-root");
    support::run_ok(Command::new(script).arg("trixie").arg(&root));
    eprintln!("trixie root ready in {:.1} s at {}", began.elapsed().as_secs_f64(), root.display());
    root
}

/// Unpacks the report where the test user can read it; returns its top directory.
fn unpack(into: &Path) -> PathBuf {
    let archive = Path::new(env!("CARGO_MANIFEST_DIR")).join(ARCHIVE);
    support::run_ok(Command::new("tar").arg("-xJf").arg(archive).arg("-C").arg(into));
    support::make_readable(into);
    std::fs::read_dir(into).unwrap().map(|e| e.unwrap().path()).find(|p| p.is_dir()).unwrap()
}

/// The `version` a daemon of the replica answers through its control socket.
fn daemon_version(replica: &Replica, target: &str) -> String {
    replica.tool("ovs-appctl", &["-t", target, "version"])
}

fn schema_version(schema: &Path) -> String {
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(schema).unwrap()).unwrap();
    json["version"].as_str().unwrap().to_string()
}

#[test]
fn the_trixie_root_runs_the_daemons_and_restores_every_flow() {
    let root = trixie_root();
    let replica = Replica::new();
    let sos = unpack(replica.base.path());
    // Added to each of the report's br-int dumps (collect-sos takes one).
    for dump in ["openvswitch/ovs-ofctl_dump-flows_br-int", "ovn_host/ovs-ofctl_-O_OpenFlow13_dump-flows_br-int"] {
        let dump = sos.join("sos_commands").join(dump);
        let mut text = std::fs::read_to_string(&dump).unwrap();
        text.push_str(OVS_3_5_FLOW);
        std::fs::write(&dump, text).unwrap();
    }
    replica.ok(&["collect-sos", sos.to_str().unwrap()]);

    // A directory without the daemons: one line naming them, nothing changed.
    let empty = replica.base.path().join("not-a-root");
    std::fs::create_dir(&empty).unwrap();
    let before = support::snapshot(&replica.workdir);
    let err = replica.fails(&["start", "--ovs-root", empty.to_str().unwrap()]);
    assert!(err.contains("no ovsdb-server, ovs-vswitchd, ovsdb-tool in usr/sbin or usr/bin"), "{err}");
    assert!(err.contains("mmdebstrap --mode=unshare"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_eq!(support::snapshot(&replica.workdir), before);

    let began = Instant::now();
    let out = replica.ok(&["start", "--ovs-root", root.to_str().unwrap()]);
    eprintln!("start with the trixie root: {:.2} s", began.elapsed().as_secs_f64());
    assert!(out.contains("br-int: 2021/2021 flows, 4/4 groups"), "{out}");
    assert!(out.contains("breth0: 3/3 flows, 1/1 groups, 1/1 meters"), "{out}");
    assert!(!out.contains("is newer than"), "the root's schemas are the production's: {out}");
    assert!(out.contains("daemons run from --ovs-root"), "{out}");
    let flows = replica.tool("ovs-appctl", &["bridge/dump-flows", "br-int"]);
    assert!(flows.contains("obs_domain_id=NXM_NX_REG0[]"), "the 3.5-only flow is restored: {flows}");

    // The daemons are the root's: their own answer, through the host's client.
    assert!(daemon_version(&replica, "ovs-vswitchd").contains("(Open vSwitch) 3.5."), "vswitchd");
    assert!(daemon_version(&replica, "ovsdb-server").contains("(Open vSwitch) 3.5."), "ovsdb-server");
    let status = replica.status();
    for (kind, schema) in [("ovn_nb", "usr/share/ovn/ovn-nb.ovsschema"), ("ovn_sb", "usr/share/ovn/ovn-sb.ovsschema")] {
        let db = status["dbs"].as_array().unwrap().iter().find(|d| d["kind"] == kind).unwrap();
        assert_eq!(db["served_version"], schema_version(&root.join(schema)), "{kind}");
    }
    let row = |product: &str| status["versions"].as_array().unwrap().iter().find(|r| r["product"] == product).cloned();
    let ovs = row("Open vSwitch").unwrap();
    assert!(ovs["root"].as_str().unwrap().starts_with("3.5."), "{ovs}");
    assert_eq!(ovs["production"], "3.5.0");
    assert!(row("OVN").unwrap()["root"].as_str().unwrap().starts_with("25.03."), "{status}");
    assert_eq!(status["version_warnings"].as_array().unwrap().len(), 0, "{status}");
    if support::is_root() {
        let vswitchd = status["daemons"].as_array().unwrap().iter().find(|d| d["name"] == "ovs-vswitchd").unwrap();
        let proc = std::fs::read_to_string(format!("/proc/{}/status", vswitchd["pid"])).unwrap();
        let uid = proc.lines().find(|l| l.starts_with("Uid:")).unwrap().split_whitespace().nth(1).unwrap();
        assert_eq!(uid, support::test_uid().to_string(), "the root's vswitchd runs unprivileged");
    }

    // Remembered: the next start uses the root; --no-ovs-root forgets it.
    replica.ok(&["stop"]);
    let text = replica.ok(&["status"]);
    assert!(text.contains("start --no-ovs-root"), "{text}");
    replica.ok(&["start"]);
    assert!(daemon_version(&replica, "ovs-vswitchd").contains("(Open vSwitch) 3.5."));
    replica.ok(&["stop"]);
    let out = replica.ok(&["start", "--no-ovs-root"]);
    assert!(out.contains("br-int: 2020/2021 flows"), "the local OVS 3.1 refuses the 3.5-only flow: {out}");
    let local = support::stdout(support::run_ok(Command::new("ovs-vswitchd").arg("--version")));
    let local = local.split_whitespace().nth(3).unwrap().to_string();
    assert!(daemon_version(&replica, "ovs-vswitchd").contains(&format!("(Open vSwitch) {local}")));
    assert!(replica.status()["ovs_root"].is_null());
}
