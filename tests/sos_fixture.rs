//! A real sos report (tests/fixtures/sos, taken with the real sos tool on
//! a lab node with OVS 3.5 / OVN 25.03, newer than the local OVS): its
//! databases and OpenFlow dumps collected by hand, as the tutorial's manual
//! path does, and replayed by a replica running as an unprivileged user.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use support::Replica;

const ARCHIVE: &str = "tests/fixtures/sos/trixie-ovs3.5-ovn25.03-sos4.9.1.tar.xz";

/// Unpacks the report where the test user can read it; returns its top directory.
fn unpack(into: &Path) -> PathBuf {
    let archive = Path::new(env!("CARGO_MANIFEST_DIR")).join(ARCHIVE);
    support::run_ok(Command::new("tar").arg("-xJf").arg(archive).arg("-C").arg(into));
    support::make_readable(into);
    std::fs::read_dir(into).unwrap().map(|e| e.unwrap().path()).find(|p| p.is_dir()).unwrap()
}

#[test]
fn real_sos_report_replays_every_flow() {
    let replica = Replica::new();
    let sos = unpack(replica.base.path());
    let file = |rel: &str| sos.join(rel).to_str().unwrap().to_string();
    replica.ok(&["collect-db-ovs", &file("etc/openvswitch/conf.db")]);
    replica.ok(&["collect-db-ovn-nb", &file("var/lib/openvswitch/ovnnb_db.db")]);
    replica.ok(&["collect-db-ovn-sb", &file("var/lib/openvswitch/ovnsb_db.db")]);
    let collected = replica.ok(&["collect-flows", &file("sos_commands/openvswitch")]);
    assert!(collected.contains("br-int: 2020 flows, 4 groups"), "{collected}");
    let out = replica.ok(&["start"]);
    assert!(out.contains("ovs database: schema 8.8.0 is newer than the local"), "{out}");
    // Flow counts are those the fixture's README reports from the live node.
    assert!(out.contains("br-int: 2020/2020 flows, 4/4 groups, 0/0 meters, TLV map 1 entry"), "{out}");
    assert!(out.contains("OVN's geneve mapping {class=0x102,type=0x80,len=4}->tun_metadata0"), "{out}");
    assert!(out.contains("breth0: 3/3 flows, 1/1 groups, 1/1 meters, 1/1 MAC table entries, TLV map 1 entry"), "{out}");
    let groups = replica.tool("ovs-ofctl", &["-O", "OpenFlow15", "dump-groups", "br-int"]);
    assert_eq!(groups.matches("selection_method=dp_hash").count(), 4, "{groups}");
    assert!(replica.tool("ovn-nbctl", &["ls-list"]).contains("sw1"));
    let trace = replica.tool("ovs-appctl", &["ofproto/trace", "breth0", "in_port=1,ip", "--ct-next", "trk,new"]);
    assert!(trace.contains("Datapath actions:"), "{trace}");
}
