//! The portable capture bundle: a live lab node's databases and ovs-save
//! output collected into one workdir, packed (`capture::bundle::pack`, what
//! `collect-local` ends with), imported with `collect-capture` into
//! another workdir as the unprivileged user, and the replica started from
//! it compared with the live node; and bundles altered, made hostile or of
//! another format, which must be refused leaving the workdir as it was.

mod support;

use ovs_offline::capture::bundle;
use ovs_offline::workdir::Workdir;
use std::ffi::OsString;
use std::fs;
use std::io::Read;
use std::path::Path;
use support::{LabNode, Replica};

/// Asserts two dumps are the same set, naming only the lines that differ.
fn assert_same(replica: &[String], live: &[String], what: &str) {
    let only = |a: &[String], b: &[String]| a.iter().filter(|l| !b.contains(l)).cloned().collect::<Vec<_>>();
    assert!(
        replica == live,
        "{what}: only in the replica {:?}, only live {:?}",
        only(replica, live),
        only(live, replica)
    );
}

/// The members of a bundle, in order: name and contents.
fn members(path: &Path) -> Vec<(String, Vec<u8>)> {
    let file = fs::File::open(path).unwrap();
    let mut archive = tar::Archive::new(xz2::read::XzDecoder::new(file));
    let mut out = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        out.push((name, data));
    }
    out
}

/// Writes `members` (name, type, link, contents) as a .tar.xz the test
/// user can read.
fn write_bundle(path: &Path, members: &[(String, tar::EntryType, String, Vec<u8>)]) {
    let mut tar = Vec::new();
    for (name, kind, link, data) in members {
        support::raw_member(&mut tar, name, *kind, link, data);
    }
    tar.extend_from_slice(&[0; 1024]);
    let mut out = Vec::new();
    xz2::read::XzEncoder::new(&tar[..], 1).read_to_end(&mut out).unwrap();
    fs::write(path, out).unwrap();
    support::make_readable(path);
}

#[test]
fn a_packed_capture_imports_into_a_replica_equal_to_the_node_and_altered_bundles_are_refused() {
    let lab = LabNode::start();
    let packer = Replica::new_as_runner();
    packer.collect_lab(&lab);
    let saved = support::user_dir("ovs-save-out-");
    lab.save_flows(saved.path());
    // As an engineer adds them by hand: ovs-save's groups lose their
    // selection method, and it saves no meters.
    for bridge in lab.var("LAB_BRIDGES").split_whitespace() {
        for what in ["dump-groups", "dump-meters"] {
            let text = lab.tool("ovs-ofctl", &["-O", "OpenFlow15", what, bridge]);
            fs::write(saved.path().join(format!("ovs-ofctl_-O_OpenFlow15_{what}_{bridge}")), text).unwrap();
        }
    }
    support::make_readable(saved.path());
    packer.ok(&[OsString::from("collect-flows"), saved.path().as_os_str().into()]);
    let out_dir = support::user_dir("bundles-");
    let packed = bundle::pack(&Workdir::new(&packer.workdir).unwrap(), out_dir.path()).unwrap();
    support::make_readable(&packed);
    let name = packed.file_name().unwrap().to_str().unwrap();
    assert!(name.starts_with("ovs-offline-capture-") && name.ends_with("Z.tar.xz"), "{name}");

    let replica = Replica::new();
    let out = replica.ok(&[OsString::from("collect-capture"), packed.clone().into()]);
    assert!(out.contains("checksums verified") && out.contains("originally from"), "{out}");
    assert!(out.contains("br-int"), "{out}");
    let status = replica.status();
    let source = &status["capture"]["collected"]["ovn_sb"]["source"];
    assert_eq!(source["kind"], "bundle", "{status}");
    assert_eq!(source["original"]["kind"], "file", "{status}");
    assert_eq!(source["bundle_sha256"].as_str().map(str::len), Some(64), "{status}");

    let start = replica.ok(&["start"]);
    assert!(start.contains("Offline OVS Debugging started"), "{start}");
    assert_eq!(
        support::normalise_vsctl_show(&replica.tool("ovs-vsctl", &["show"])),
        support::normalise_vsctl_show(&lab.tool("ovs-vsctl", &["show"]))
    );
    for bridge in lab.var("LAB_BRIDGES").split_whitespace() {
        let dump = ["-O", "OpenFlow15", "dump-flows", "--no-stats", bridge];
        assert_same(
            &support::dump_set(&replica.tool("ovs-ofctl", &dump)),
            &support::dump_set(&lab.tool("ovs-ofctl", &dump)),
            bridge,
        );
        for what in ["dump-groups", "dump-meters"] {
            let dump = ["-O", "OpenFlow15", what, bridge];
            assert_same(
                &support::dump_set(&replica.tool("ovs-ofctl", &dump)),
                &support::dump_set(&lab.tool("ovs-ofctl", &dump)),
                bridge,
            );
        }
    }
    for (tool, args) in [("ovn-nbctl", ["show"]), ("ovn-sbctl", ["show"]), ("ovn-sbctl", ["lflow-list"])] {
        assert_eq!(replica.tool(tool, &args), lab.tool(tool, &args), "{tool} {args:?}");
    }
    replica.ok(&["stop"]);

    // Altered, hostile and foreign bundles: refused, the workdir unchanged.
    let before = support::snapshot(&replica.workdir);
    let original: Vec<_> =
        members(&packed).into_iter().map(|(n, d)| (n, tar::EntryType::Regular, String::new(), d)).collect();
    let top = original[0].0.split('/').next().unwrap().to_string();
    let nb = original.iter().position(|m| m.0.ends_with("ovnnb_db.db")).unwrap();
    let dir = out_dir.path();
    let import = |name: &str, members: &[(String, tar::EntryType, String, Vec<u8>)]| {
        let path = dir.join(name);
        write_bundle(&path, members);
        let err = replica.fails(&[OsString::from("collect-capture"), "--force".into(), path.into()]);
        assert_eq!(err.trim().lines().count(), 1, "{name}: one line: {err}");
        assert_eq!(support::snapshot(&replica.workdir), before, "{name}");
        err
    };

    let mut tampered = original.clone();
    let text = String::from_utf8(tampered[nb].3.clone()).unwrap().replacen("ls-web", "ls-bad", 1);
    tampered[nb].3 = text.into_bytes();
    let err = import("tampered.tar.xz", &tampered);
    assert!(err.contains("member db/ovn_nb/ovnnb_db.db does not match the size and sha256"), "{err}");

    let mut cut = original.clone();
    cut.pop();
    let err = import("cut.tar.xz", &cut);
    assert!(err.contains("(listed in its index) is missing"), "{err}");

    let mut linked = original.clone();
    linked[nb] = (original[nb].0.clone(), tar::EntryType::Symlink, "/etc/shadow".into(), Vec::new());
    let err = import("linked.tar.xz", &linked);
    assert!(err.contains("ovnnb_db.db is a symbolic link"), "{err}");

    let mut traversal = original.clone();
    traversal.insert(2, (format!("{top}/../../etc/cron.d/x"), tar::EntryType::Regular, String::new(), b"x".to_vec()));
    let err = import("traversal.tar.xz", &traversal);
    assert!(err.contains("is a path that leaves the bundle"), "{err}");

    let mut extra = original.clone();
    extra.insert(2, (format!("{top}/db/ovs/evil.db"), tar::EntryType::Regular, String::new(), b"x".to_vec()));
    let err = import("extra.tar.xz", &extra);
    assert!(err.contains("is not listed in its index"), "{err}");

    let mut newer = original.clone();
    let mut index: serde_json::Value = serde_json::from_slice(&newer[0].3).unwrap();
    index["bundle_format"] = 2.into();
    index["tool_version"] = "9.9.9".into();
    newer[0].3 = index.to_string().into_bytes();
    let err = import("newer.tar.xz", &newer);
    assert!(err.contains("is a capture bundle of format 2 (made by ovs-offline 9.9.9)"), "{err}");
    assert!(err.contains("reads format 1 only: import it with ovs-offline 9.9.9"), "{err}");

    let err = import("not-a-bundle.tar.xz", &original[1..]);
    assert!(err.contains("is not an ovs-offline capture bundle"), "{err}");
}

/// Both sides of the portable capture: `collect-local` on the "affected
/// host" (as its sockets' owner) reads the live lab node through its
/// sockets into one bundle, and `collect-capture` on the analyst's side
/// (the unprivileged user) gives a replica equal to the node; nothing but
/// the bundle is left where it was written.
#[test]
fn collect_local_bundle_imports_into_a_replica_equal_to_the_node() {
    let lab = LabNode::start();
    let host = Replica::new_as_runner();
    let out_dir = support::user_dir("bundles-");
    let dir = lab.var("LAB_DIR");
    let (nb, sb) = (format!("unix:{dir}/nb/db.sock"), format!("{dir}/sb/db.sock"));
    let local = |extra: &[&str]| {
        let mut args = vec!["collect-local".to_string(), "--output".into(), out_dir.path().display().to_string()];
        args.extend(extra.iter().map(|a| a.to_string()));
        args
    };
    let sockets = ["--ovs-rundir", lab.var("LAB_OVS_RUNDIR"), "--nb-db", &nb, "--sb-db", &sb];
    let out = host.ok(&local(&sockets));
    assert!(out.contains("source: host lab-node"), "{out}");
    assert!(out.contains("Offline OVS Debugging: capture written to "), "{out}");
    assert!(out.contains("collect-capture"), "{out}");
    let written: Vec<_> = fs::read_dir(out_dir.path()).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(written.len(), 1, "only the bundle: {written:?}");
    let packed = &written[0];
    let name = packed.file_name().unwrap().to_str().unwrap();
    assert!(name.starts_with("ovs-offline-capture-lab-node-") && name.ends_with("Z.tar.xz"), "{name}");
    support::make_readable(packed);

    let replica = Replica::new();
    let imported = replica.ok(&[OsString::from("collect-capture"), packed.clone().into()]);
    assert!(imported.contains("checksums verified") && imported.contains("originally from host "), "{imported}");
    replica.ok(&["start"]);
    assert_eq!(
        support::normalise_vsctl_show(&replica.tool("ovs-vsctl", &["show"])),
        support::normalise_vsctl_show(&lab.tool("ovs-vsctl", &["show"]))
    );
    for bridge in lab.var("LAB_BRIDGES").split_whitespace() {
        let dumps: [&[&str]; 3] = [
            &["-O", "OpenFlow15", "dump-flows", "--no-stats", bridge],
            &["-O", "OpenFlow15", "dump-groups", bridge],
            &["-O", "OpenFlow15", "dump-meters", bridge],
        ];
        for dump in dumps {
            assert_same(
                &support::dump_set(&replica.tool("ovs-ofctl", dump)),
                &support::dump_set(&lab.tool("ovs-ofctl", dump)),
                bridge,
            );
        }
    }
    for (tool, args) in [("ovn-nbctl", ["show"]), ("ovn-sbctl", ["show"])] {
        assert_eq!(replica.tool(tool, &args), lab.tool(tool, &args), "{tool} {args:?}");
    }
    // The node's dpctl/show travelled in the bundle: `ports` names
    // production's datapath port numbers.
    lab.assert_production_ports(&replica);
    replica.ok(&["stop"]);

    // A socket named that is not there, an OVN run directory without
    // databases, a bundle name taken: one line each, nothing left behind.
    let empty = support::user_dir("no-sockets-");
    let empty = empty.path().to_str().unwrap();
    for (extra, expected) in [
        (vec!["--ovs-rundir", empty], "db.sock: no such socket"),
        (vec!["--ovn-rundir", empty, "--ovs-rundir", lab.var("LAB_OVS_RUNDIR")], "ovnnb_db.sock: no such socket"),
    ] {
        let err = host.fails(&local(&extra));
        assert!(err.contains(expected) && err.trim().lines().count() == 1, "{extra:?}: {err}");
    }
    // Another user's sockets (the lab node's, as the test user): the fix.
    let err = replica.fails(&local(&["--ovs-rundir", lab.var("LAB_OVS_RUNDIR")]));
    assert!(err.contains("db.sock: permission denied") && err.contains("run it as their owner"), "{err}");
    let taken = packed.to_str().unwrap();
    let err = host.fails(&["collect-local", "--output", taken, "--ovs-rundir", lab.var("LAB_OVS_RUNDIR")]);
    assert!(err.contains("exists; not replaced"), "{err}");
    assert_eq!(fs::read_dir(out_dir.path()).unwrap().count(), 1, "nothing left behind");
}
