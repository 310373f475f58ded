//! `collect-must-gather` against must-gathers laid out here from a live lab
//! node's database files (as `oc adm must-gather` stores them: an
//! interconnect `network_logs/ovnk_database_store.tar.gz` with per-pod
//! `<pod>_nbdb` / `<pod>_sbdb`, or the legacy leader's `.gz` files), the
//! OVS half from an sos report fixture, each replica started as the
//! unprivileged user; and hostile or broken stores, which must leave the
//! workdir as it was.

mod support;

use std::ffi::OsString;
use std::fs;
use std::path::Path;
use support::{gz, must_gather, pod_yaml, tar_of, LabNode, Replica};

const SOS_V4_12: &str = "trixie-ovs3.5-ovn25.03-sos4.12.tar.xz";

fn arg(path: &Path) -> OsString {
    path.as_os_str().to_owned()
}

/// Two nodes' databases from one lab node: pod `ovnkube-node-aaaaa` (node
/// from its YAML, standalone) holds the NB as zone `node-a`, pod
/// `ovnkube-node-bbbbb` (node from its NB_Global name, clustered) the NB
/// renamed to zone `node-b`.
#[test]
fn interconnect_store_lists_its_nodes_and_collects_one_with_the_sos_ovs_half() {
    let lab = LabNode::start();
    let replica = Replica::new();
    let read = |var: &str| fs::read(lab.var(var)).unwrap();
    lab.tool("ovn-nbctl", &["set", "NB_Global", ".", "name=node-a"]);
    let nb_a = read("LAB_NB_DB_FILE");
    lab.tool("ovn-nbctl", &["set", "NB_Global", ".", "name=node-b"]);
    let clustered = |var: &str, name: &str| {
        let out = replica.base.path().join(name);
        lab.clustered(lab.var(var), &out);
        fs::read(&out).unwrap()
    };
    let (nb_b, sb_b) = (clustered("LAB_NB_DB_FILE", "nb-b.db"), clustered("LAB_SB_DB_FILE", "sb-b.db"));
    let store = gz(&tar_of(&[
        ("ovnk_database_store/ovnkube-node-aaaaa_nbdb".into(), nb_a),
        ("ovnk_database_store/ovnkube-node-aaaaa_sbdb".into(), read("LAB_SB_DB_FILE")),
        ("ovnk_database_store/ovnkube-node-bbbbb_nbdb".into(), nb_b),
        ("ovnk_database_store/ovnkube-node-bbbbb_sbdb".into(), sb_b),
    ]));
    let yaml = pod_yaml("ovnkube-node-aaaaa", "node-a");
    let mg = must_gather(replica.base.path(), "must-gather.tar.gz", &store, &[yaml]);

    // No --node: the nodes are listed, nothing is collected.
    let out = replica.ok(&[OsString::from("collect-must-gather"), arg(&mg)]);
    assert!(out.contains("holds the OVN databases of 2 nodes (interconnect)"), "{out}");
    assert!(out.contains("node-a (pod ovnkube-node-aaaaa): OVN_Northbound, OVN_Southbound"), "{out}");
    assert!(out.contains("node-b (pod ovnkube-node-bbbbb)"), "{out}");
    assert!(out.contains("--node NODE") && out.contains("collect-sos-ovs"), "{out}");
    assert!(!replica.workdir.exists(), "listing writes nothing");

    let err = replica.fails(&[OsString::from("collect-must-gather"), arg(&mg), "--node".into(), "node-z".into()]);
    assert!(
        err.contains("has no databases of node node-z") && err.contains("node-a (pod ovnkube-node-aaaaa)"),
        "{err}"
    );
    assert!(!replica.workdir.exists());

    let out = replica.ok(&[OsString::from("collect-must-gather"), arg(&mg), "--node".into(), "node-b".into()]);
    assert!(out.contains("(interconnect, node node-b (pod ovnkube-node-bbbbb))"), "{out}");
    assert!(
        out.contains(
            "(clustered) from member network_logs/ovnk_database_store.tar.gz, inside it ovnkube-node-bbbbb_nbdb"
        ),
        "{out}"
    );
    assert!(out.contains("no OVS database and no OpenFlow state"), "{out}");
    let sos = support::give(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sos").join(SOS_V4_12),
        replica.base.path(),
    );
    replica.ok(&[OsString::from("collect-sos-ovs"), arg(&sos)]);
    let status = replica.status();
    let nb = &status["capture"]["collected"]["ovn_nb"]["source"];
    assert_eq!(
        (nb["kind"].as_str(), nb["inner"].as_str()),
        (Some("nested_member"), Some("ovnkube-node-bbbbb_nbdb")),
        "{status}"
    );
    assert_eq!(nb["archive_sha256"].as_str().map(str::len), Some(64), "{status}");

    let start = replica.ok(&["start"]);
    assert!(start.contains("br-int"), "{start}");
    assert_eq!(replica.tool("ovn-nbctl", &["get", "NB_Global", ".", "name"]).trim(), "node-b");
    assert_eq!(replica.tool("ovn-nbctl", &["show"]), lab.tool("ovn-nbctl", &["show"]));
    assert_eq!(replica.tool("ovn-sbctl", &["lflow-list"]), lab.tool("ovn-sbctl", &["lflow-list"]));
    replica.ok(&["stop"]);

    // The legacy layout, extracted: the leader's databases, gzipped.
    let legacy = Replica::new();
    let dir = legacy.base.path().join("must-gather.local.1");
    let logs = dir.join("quay-io-image/network_logs");
    fs::create_dir_all(&logs).unwrap();
    fs::write(logs.join("leader_nbdb.gz"), gz(&read("LAB_NB_DB_FILE"))).unwrap();
    fs::write(logs.join("leader_sbdb.gz"), gz(&read("LAB_SB_DB_FILE"))).unwrap();
    support::make_readable(&dir);
    let out = legacy.ok(&[OsString::from("collect-must-gather"), arg(&dir)]);
    assert!(out.contains("(legacy, the RAFT leader's databases)"), "{out}");
    assert!(out.contains("from member network_logs/leader_sbdb.gz"), "{out}");
    legacy.ok(&["start"]);
    assert_eq!(legacy.tool("ovn-sbctl", &["lflow-list"]), lab.tool("ovn-sbctl", &["lflow-list"]));
}

/// A standalone NB database made by the real ovsdb-tool.
fn nb_db(dir: &Path) -> Vec<u8> {
    fs::read(support::make_db(&support::installed_schema("ovn_nb"), dir, "nb.db")).unwrap()
}

#[test]
fn hostile_or_broken_stores_are_refused_and_write_nothing() {
    let replica = Replica::new();
    let db = nb_db(replica.base.path());
    let base = replica.base.path();
    let cases: Vec<(&str, Vec<u8>, &str)> = {
        let hostile = |name: &str, kind: tar::EntryType, link: &str| {
            let mut tar = Vec::new();
            support::raw_member(&mut tar, "ovnk_database_store/ovnkube-node-a_nbdb", tar::EntryType::Regular, "", &db);
            support::raw_member(&mut tar, name, kind, link, if kind == tar::EntryType::Regular { &db } else { b"" });
            tar.extend_from_slice(&[0; 1024]);
            gz(&tar)
        };
        let mut corrupt = gz(&tar_of(&[("ovnkube-node-a_nbdb".into(), db.clone())]));
        let len = corrupt.len();
        corrupt[len / 2..].fill(0x55);
        vec![
            (
                "traversal",
                hostile("../../ovnkube-node-b_nbdb", tar::EntryType::Regular, ""),
                "a path that leaves the archive",
            ),
            (
                "absolute",
                hostile("/tmp/ovnkube-node-b_nbdb", tar::EntryType::Regular, ""),
                "a path that leaves the archive",
            ),
            ("symlink", hostile("ovnkube-node-b_nbdb", tar::EntryType::Symlink, "/etc/shadow"), "a symbolic link"),
            (
                "hardlink",
                hostile("ovnkube-node-b_sbdb", tar::EntryType::Link, "ovnkube-node-a_nbdb"),
                "a hard link or a device",
            ),
            (
                "duplicate",
                hostile("other/ovnkube-node-a_nbdb", tar::EntryType::Regular, ""),
                "holds ovnkube-node-a_nbdb, a second time",
            ),
            ("corrupt", corrupt, "is not a readable gzip-compressed tar archive: it is corrupt or cut short"),
        ]
    };
    for (name, store, expected) in cases {
        let mg = must_gather(base, &format!("{name}.tar.gz"), &store, &[]);
        let err =
            replica.fails(&[OsString::from("collect-must-gather"), arg(&mg), "--node".into(), "ovnkube-node-a".into()]);
        assert!(err.contains("network_logs/ovnk_database_store.tar.gz") && err.contains(expected), "{name}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{name}: one line: {err}");
        assert!(!replica.workdir.exists(), "{name}: nothing written");
    }

    // A link at the store's own name, in an extracted must-gather.
    let dir = base.join("linked");
    fs::create_dir_all(dir.join("network_logs")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", dir.join("network_logs/ovnk_database_store.tar.gz")).unwrap();
    support::make_readable(&dir);
    let err = replica.fails(&[OsString::from("collect-must-gather"), arg(&dir)]);
    assert!(err.contains("is a symbolic link, not a file; not followed"), "{err}");

    // Something else entirely.
    let other = must_gather(base, "other.tar.gz", &gz(&tar_of(&[])), &[]);
    fs::write(&other, gz(&tar_of(&[("photos/cat.jpg".into(), b"meow".to_vec())]))).unwrap();
    let err = replica.fails(&[OsString::from("collect-must-gather"), arg(&other)]);
    assert!(err.contains("holds neither network_logs/ovnk_database_store.tar.gz"), "{err}");
    assert!(!replica.workdir.exists());
}
