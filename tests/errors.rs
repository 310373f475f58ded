//! Bad input and misuse: every case gets one clear line naming the file and
//! the fix, a non-zero exit, and leaves the workdir and the user's data
//! intact.

mod support;

use std::io::Write;
use support::{installed_schema, make_db, schema_with_version, Replica};

fn one_line(stderr: &str) -> &str {
    assert_eq!(stderr.trim_end().lines().count(), 1, "expected one line, got: {stderr}");
    stderr.trim_end()
}

#[test]
fn not_an_ovsdb_file_is_refused() {
    let replica = Replica::new();
    let file = replica.base.path().join("conf.db");
    std::fs::write(&file, "hello, I am a text file\n").unwrap();
    let err = replica.fails(&["collect-db-ovs", file.to_str().unwrap()]);
    let line = one_line(&err);
    assert!(line.contains(file.to_str().unwrap()) && line.contains("is not an OVSDB database file"), "{line}");
    assert!(!replica.workdir.exists(), "a refused file must not create the workdir");

    std::fs::write(&file, "").unwrap();
    assert!(one_line(&replica.fails(&["collect-db-ovs", file.to_str().unwrap()])).contains("is empty"));
    let missing = replica.base.path().join("missing.db");
    assert!(one_line(&replica.fails(&["collect-db-ovs", missing.to_str().unwrap()])).contains("cannot read"));
}

#[test]
fn wrong_database_type_names_the_right_command() {
    let replica = Replica::new();
    let nb = make_db(&installed_schema("ovn_nb"), replica.base.path(), "ovnnb_db.db");
    let err = replica.fails(&["collect-db-ovn-sb", nb.to_str().unwrap()]);
    let line = one_line(&err);
    assert!(line.contains("is an OVN_Northbound database, not OVN_Southbound"), "{line}");
    assert!(line.contains(&format!("ovs-offline collect-db-ovn-nb {}", nb.display())), "{line}");
}

#[test]
fn file_cut_inside_its_schema_is_refused() {
    let replica = Replica::new();
    let db = make_db(&installed_schema("ovs"), replica.base.path(), "conf.db");
    let bytes = std::fs::read(&db).unwrap();
    std::fs::write(&db, &bytes[..200]).unwrap();
    let line = one_line(&replica.fails(&["collect-db-ovs", db.to_str().unwrap()])).to_string();
    assert!(line.contains("cut inside its first record"), "{line}");
}

#[test]
fn torn_tail_is_dropped_from_the_copy_only() {
    let replica = Replica::new();
    let db = make_db(&installed_schema("ovs"), replica.base.path(), "conf.db");
    std::fs::OpenOptions::new()
        .append(true)
        .open(&db)
        .unwrap()
        .write_all(b"OVSDB JSON 300 0123456789012345678901234567890123456789\n{\"Bridge\":")
        .unwrap();
    let before = support::sha256(&db);
    let collect = replica.run(&["collect-db-ovs", db.to_str().unwrap()]);
    assert!(collect.status.success());
    assert!(String::from_utf8_lossy(&collect.stderr).contains("incomplete record"));
    let out = replica.ok(&["start"]);
    assert!(out.contains("dropped an incomplete last record (66 bytes"), "{out}");
    assert_eq!(replica.tool("ovs-vsctl", &["list-br"]), "br0\n");
    assert_eq!(support::sha256(&db), before);
    assert_eq!(support::sha256(&replica.workdir.join("db/ovs/conf.db")), before, "the collected copy stays as given");
}

#[test]
fn collecting_twice_needs_force() {
    let replica = Replica::new();
    let first = make_db(&installed_schema("ovn_nb"), replica.base.path(), "first.db");
    let second = make_db(&installed_schema("ovn_nb"), replica.base.path(), "second.db");
    replica.ok(&["collect-db-ovn-nb", first.to_str().unwrap()]);
    let line = one_line(&replica.fails(&["collect-db-ovn-nb", second.to_str().unwrap()])).to_string();
    assert!(line.contains("already collected") && line.contains("--force"), "{line}");
    replica.ok(&["collect-db-ovn-nb", "--force", second.to_str().unwrap()]);
    assert!(replica.workdir.join("db/ovn_nb/second.db").exists());
    assert!(!replica.workdir.join("db/ovn_nb/first.db").exists());
    let capture: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(replica.workdir.join("capture.json")).unwrap()).unwrap();
    assert_eq!(capture["collected"]["ovn_nb"]["schema"], "OVN_Northbound");
    assert_eq!(capture["collected"]["ovn_nb"]["sha256"].as_str().unwrap().len(), 64);
    assert!(capture["collected"]["ovn_nb"]["source"]["path"].as_str().unwrap().ends_with("second.db"));
}

#[test]
fn start_needs_collected_data_and_runs_once() {
    let replica = Replica::new();
    let line = one_line(&replica.fails(&["start"])).to_string();
    assert!(line.contains("nothing collected") && line.contains("collect-db-ovs"), "{line}");
    assert!(replica.ok(&["stop"]).contains("No replica running"));
    assert!(one_line(&replica.fails(&["exec", "--", "true"])).contains("no replica running"));
    assert!(replica.ok(&["show"]).contains("not running"));

    let nb = make_db(&installed_schema("ovn_nb"), replica.base.path(), "ovnnb_db.db");
    replica.ok(&["collect-db-ovn-nb", nb.to_str().unwrap()]);
    replica.ok(&["start"]);
    let line = one_line(&replica.fails(&["start"])).to_string();
    assert!(line.contains("already running"), "{line}");
    let line = one_line(&replica.fails(&["collect-db-ovn-nb", "--force", nb.to_str().unwrap()])).to_string();
    assert!(line.contains("is running"), "{line}");
    assert_eq!(replica.ok(&["exec", "--", "ovn-nbctl", "ls-list"]), "");
}

#[test]
fn failed_start_leaves_nothing_running() {
    let replica = Replica::new();
    let nb = make_db(&installed_schema("ovn_nb"), replica.base.path(), "ovnnb_db.db");
    replica.ok(&["collect-db-ovn-nb", nb.to_str().unwrap()]);
    let err = replica.fails(&["start", "--timeout", "0"]);
    assert!(err.contains("ovsdb-server-ovn_nb not ready after 0 s"), "{err}");
    assert!(!replica.workdir.join("var-run").exists());
    assert_eq!(replica.status()["running"], false);
    replica.ok(&["start"]);
    assert_eq!(replica.status()["running"], true);
}

#[test]
fn older_schema_is_upgraded_newer_served_as_is() {
    let replica = Replica::new();
    let old = make_db(&schema_with_version("ovs", "8.2.0", replica.base.path()), replica.base.path(), "conf.db");
    let new = make_db(&schema_with_version("ovn_nb", "99.0.0", replica.base.path()), replica.base.path(), "nb.db");
    replica.ok(&["collect-db-ovs", old.to_str().unwrap()]);
    replica.ok(&["collect-db-ovn-nb", new.to_str().unwrap()]);
    let out = replica.ok(&["start"]);
    assert!(out.contains("ovs database: upgraded schema 8.2.0 to the local"), "{out}");
    assert!(out.contains("ovn_nb database: schema 99.0.0 is newer than the local"), "{out}");
    let dbs = replica.status()["dbs"].clone();
    let ovs = dbs.as_array().unwrap().iter().find(|d| d["kind"] == "ovs").unwrap();
    assert_eq!(ovs["converted"], true);
    assert_eq!(replica.tool("ovs-vsctl", &["list-br"]), "br0\n");
}

#[test]
fn show_and_status_json() {
    let replica = Replica::new();
    let conf = make_db(&installed_schema("ovs"), replica.base.path(), "conf.db");
    replica.ok(&["collect-db-ovs", conf.to_str().unwrap()]);
    replica.ok(&["start"]);
    let show: serde_json::Value = serde_json::from_str(&replica.ok(&["show", "--json"])).unwrap();
    assert_eq!(show["running"], true);
    assert!(show["mgmt_sockets"]["br0"].as_str().unwrap().ends_with("var-run/ovs/br0.mgmt"));
    assert!(show["vswitchd_ctl"].as_str().unwrap().contains("ovs-vswitchd."));
    let status = replica.status();
    assert_eq!(status["bridges"][0]["name"], "br0");
    assert_eq!(status["bridges"][0]["ports"], 1);
    assert_eq!(status["dbs"][0]["schema"], "Open_vSwitch");
    let text = replica.ok(&["status"]);
    assert!(text.contains("ovs-vswitchd") && text.contains("running, up"), "{text}");

    // A daemon that dies is reaped and recorded, not silently lost.
    let vswitchd = status["daemons"].as_array().unwrap().iter().find(|d| d["name"] == "ovs-vswitchd").unwrap();
    let pid = nix::unistd::Pid::from_raw(vswitchd["pid"].as_i64().unwrap() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let exited = loop {
        let status = replica.status();
        let d = status["daemons"].as_array().unwrap().iter().find(|d| d["name"] == "ovs-vswitchd").unwrap().clone();
        if d["state"] == "exited" || std::time::Instant::now() > deadline {
            break d;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(exited["state"], "exited", "{exited}");
    assert_eq!(exited["signal"], 9);
    assert!(replica.ok(&["status"]).contains("killed by signal 9"));
    let log = std::fs::read_to_string(replica.workdir.join("log/supervisor.log")).unwrap();
    assert!(log.contains("daemon exited unexpectedly"), "{log}");
}

#[test]
fn corrupt_clustered_database_fails_start_cleanly() {
    let replica = Replica::new();
    let dir = replica.base.path();
    let standalone = make_db(&installed_schema("ovn_nb"), dir, "standalone.db");
    let clustered = dir.join("ovnnb_db.db");
    support::run_ok(
        std::process::Command::new("ovsdb-tool")
            .arg("create-cluster")
            .arg(&clustered)
            .arg(&standalone)
            .arg("tcp:192.0.2.10:6643"),
    );
    let mut bytes = std::fs::read(&clustered).unwrap();
    let at = bytes.windows(13).position(|w| w == b"\"prev_term\":1").unwrap();
    bytes[at + 12] = b'2';
    std::fs::write(&clustered, &bytes).unwrap();
    std::fs::set_permissions(&clustered, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    replica.ok(&["collect-db-ovn-nb", clustered.to_str().unwrap()]);
    let line = one_line(&replica.fails(&["start"])).to_string();
    assert!(line.contains("cannot convert clustered") && line.contains("SHA-1"), "{line}");
    assert!(!replica.workdir.join("var-run").exists());
    assert!(!replica.workdir.join("replica").exists());
    assert_eq!(std::fs::read(&clustered).unwrap(), bytes, "the original is untouched");
}

/// No daemon outlives the supervisor, however it ends; `stop` then cleans
/// up what it left.
#[test]
fn killing_the_supervisor_takes_the_replica_down() {
    let replica = Replica::new();
    let conf = make_db(&installed_schema("ovs"), replica.base.path(), "conf.db");
    replica.ok(&["collect-db-ovs", conf.to_str().unwrap()]);
    replica.ok(&["start"]);
    let pids = replica.pids();
    let supervisor = *pids.last().unwrap();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(supervisor), nix::sys::signal::Signal::SIGKILL).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while pids.iter().any(|&p| support::process_alive(p)) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    for pid in &pids {
        assert!(!support::process_alive(*pid), "pid {pid} outlived the supervisor");
    }
    assert_eq!(replica.status()["running"], false);
    assert!(replica.ok(&["stop"]).contains("had already stopped"));
    assert!(!replica.workdir.join("var-run").exists());
    replica.ok(&["start"]);
}

#[test]
fn concurrent_starts_start_one_replica() {
    let replica = Replica::new();
    let conf = make_db(&installed_schema("ovs"), replica.base.path(), "conf.db");
    replica.ok(&["collect-db-ovs", conf.to_str().unwrap()]);
    let outputs: Vec<std::process::Output> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..3).map(|_| scope.spawn(|| replica.run(&["start"]))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let started = outputs.iter().filter(|o| o.status.success()).count();
    assert_eq!(started, 1, "{outputs:?}");
    for refused in outputs.iter().filter(|o| !o.status.success()) {
        let err = String::from_utf8_lossy(&refused.stderr);
        assert!(err.contains("already running") || err.contains("being started"), "{err}");
    }
    assert_eq!(replica.status()["daemons"].as_array().unwrap().len(), 2);
}

/// A bridge whose controller cannot be reached offline must not fail open.
#[test]
fn bridges_with_a_controller_do_not_fail_open() {
    let replica = Replica::new();
    let conf = make_db(&installed_schema("ovs"), replica.base.path(), "conf.db");
    support::run_ok(std::process::Command::new("ovsdb-tool").arg("transact").arg(&conf).arg(
        r#"["Open_vSwitch",
            {"op":"insert","table":"Controller","row":{"target":"tcp:192.0.2.1:6653"},"uuid-name":"c"},
            {"op":"update","table":"Bridge","where":[["name","==","br0"]],"row":{"controller":["named-uuid","c"]}}]"#,
    ));
    replica.ok(&["collect-db-ovs", conf.to_str().unwrap()]);
    let out = replica.ok(&["start"]);
    assert!(out.contains("bridge br0: fail_mode secure (was standalone)"), "{out}");
    assert_eq!(replica.tool("ovs-vsctl", &["get-fail-mode", "br0"]), "secure\n");
    assert_eq!(replica.tool("ovs-vsctl", &["get-controller", "br0"]), "tcp:192.0.2.1:6653\n");
}

/// Sockets deeper than `sockaddr_un` holds (108 bytes) still work: a case
/// directory like /home/me/cases/01234567/sosreport-…/ is common.
#[test]
fn deep_workdir_paths_work() {
    let mut replica = Replica::new();
    replica.workdir = replica.base.path().join("a".repeat(60)).join("b".repeat(40)).join("work");
    assert!(replica.workdir.join("var-run/ovs/db.sock").as_os_str().len() > 108);
    let conf = make_db(&installed_schema("ovs"), replica.base.path(), "conf.db");
    replica.ok(&["collect-db-ovs", conf.to_str().unwrap()]);
    replica.ok(&["start", "--timeout", "20"]);
    assert_eq!(replica.ok(&["exec", "--", "ovs-vsctl", "list-br"]), "br0\n");
    assert_eq!(replica.status()["bridges"][0]["ports"], 1);
}

/// A workdir on a nearly full file system: `start` said "supervisor exited
/// (…supervisor.log: )" (issue #13); now it names the file system, what is
/// free and what is needed. Needs root to mount a small tmpfs.
#[test]
fn nearly_full_disk_is_named() {
    if !support::is_root() {
        return;
    }
    let mut replica = Replica::new();
    let mount = replica.base.path().join("small");
    std::fs::create_dir(&mount).unwrap();
    let options = format!("size=2m,mode=0700,uid={},gid={}", support::test_uid(), support::test_gid());
    support::run_ok(std::process::Command::new("mount").args(["-t", "tmpfs", "-o", &options, "tmpfs"]).arg(&mount));
    struct Unmount<'a>(&'a std::path::Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&mount);
    replica.workdir = mount.join("work");
    let conf = make_db(&installed_schema("ovs"), replica.base.path(), "conf.db");
    replica.ok(&["collect-db-ovs", conf.to_str().unwrap()]);
    let filler = mount.join("filler");
    let _ = std::process::Command::new("dd").arg("if=/dev/zero").arg(format!("of={}", filler.display())).output();
    let line = one_line(&replica.fails(&["start"])).to_string();
    assert!(line.contains("too little free space on the file system of") && line.contains("KiB free"), "{line}");
    assert_eq!(replica.status()["running"], false);
    std::fs::remove_file(&filler).unwrap();
    replica.ok(&["start"]);
}
