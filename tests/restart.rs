//! Faults a replica must ride out: daemons that die are restarted (and
//! vswitchd's OpenFlow state replayed again), a daemon that keeps dying is
//! left stopped and reported, a killed supervisor leaves a state every
//! command recovers from, and an interrupted start is either finished by
//! the replica or recorded as interrupted, with no scratch files left.

mod support;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use std::time::{Duration, Instant};
use support::{installed_schema, make_db, Replica};

/// Polls `status --json` until `done` holds; the last status.
fn wait_for_status(replica: &Replica, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = replica.status();
        if done(&status) {
            return status;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}: {status:#}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The status entries of one daemon, generation 0 first.
fn generations(status: &Value, name: &str) -> Vec<Value> {
    status["daemons"].as_array().unwrap().iter().filter(|d| d["name"] == name).cloned().collect()
}

/// The running process of a daemon, once its `generation` is up.
fn running(status: &Value, name: &str, generation: u64) -> Option<Value> {
    generations(status, name).into_iter().find(|d| d["generation"] == generation && d["state"] == "running")
}

fn pid_of(daemon: &Value) -> Pid {
    Pid::from_raw(daemon["pid"].as_i64().unwrap() as i32)
}

fn kill_daemon(replica: &Replica, name: &str, generation: u64) {
    let status = replica.status();
    let daemon = running(&status, name, generation).unwrap_or_else(|| panic!("{name} {generation} not running"));
    kill(pid_of(&daemon), Signal::SIGKILL).unwrap();
}

/// A replica of an OVS database with bridge br0 and an empty NB database.
fn ovs_and_nb_replica() -> Replica {
    let replica = Replica::new();
    let conf = make_db(&installed_schema("ovs"), replica.base.path(), "conf.db");
    let nb = make_db(&installed_schema("ovn_nb"), replica.base.path(), "ovnnb_db.db");
    replica.ok(&["collect-db-ovs", conf.to_str().unwrap()]);
    replica.ok(&["collect-db-ovn-nb", nb.to_str().unwrap()]);
    replica
}

#[test]
fn killed_ovsdb_servers_are_restarted_and_serve_again() {
    let replica = ovs_and_nb_replica();
    replica.ok(&["start"]);
    replica.tool("ovn-nbctl", &["ls-add", "sw0"]);
    for name in ["ovsdb-server-ovn_nb", "ovsdb-server-ovs"] {
        kill_daemon(&replica, name, 0);
        let status = wait_for_status(&replica, "the restart", |s| running(s, name, 1).is_some());
        let first = &generations(&status, name)[0];
        assert_eq!((&first["state"], &first["signal"]), (&"exited".into(), &9.into()), "{status:#}");
        let record = status["restarts"].as_array().unwrap().iter().find(|r| r["name"] == name).unwrap().clone();
        assert_eq!((&record["restarts"], &record["last_exit"]["signal"]), (&1.into(), &9.into()), "{record}");
    }
    assert_eq!(replica.tool("ovn-nbctl", &["ls-list"]).split_whitespace().nth(1), Some("(sw0)"));
    assert_eq!(replica.tool("ovs-vsctl", &["list-br"]), "br0\n");
    let text = replica.ok(&["status"]);
    assert!(text.contains("restarted 1 time; last exit: killed by signal 9"), "{text}");
    let show: Value = serde_json::from_str(&replica.ok(&["show", "--json"])).unwrap();
    assert_eq!(show["db_sockets"].as_object().unwrap().len(), 2, "{show}");
}

/// A daemon whose restarts keep failing is left stopped, reported, and its
/// socket no longer offered (was: `status` said "running" for a dead
/// daemon and `show` listed its dead sockets).
#[test]
fn show_and_status_tell_a_daemon_left_stopped() {
    let replica = ovs_and_nb_replica();
    replica.ok(&["start"]);
    // Every restart of the NB server now fails: its database is gone.
    std::fs::remove_file(replica.workdir.join("replica/ovn_nb.db")).unwrap();
    kill_daemon(&replica, "ovsdb-server-ovn_nb", 0);
    let status = wait_for_status(&replica, "giving up", |s| {
        s["restarts"].as_array().unwrap().iter().any(|r| r["given_up"].is_string())
    });
    let record = &status["restarts"][0];
    assert_eq!(record["name"], "ovsdb-server-ovn_nb", "{status:#}");
    assert_eq!(record["restarts"], 5, "{status:#}");
    assert_eq!(record["last_exit"]["code"], 1, "{status:#}");
    assert_eq!(record["given_up"], "exited 6 times within 60 s");
    assert_eq!(status["running"], true, "the rest of the replica runs on");
    for daemon in generations(&status, "ovsdb-server-ovn_nb") {
        assert_ne!(daemon["state"], "running", "{status:#}");
    }
    let text = replica.ok(&["status"]);
    assert!(text.contains("left stopped after 5 restarts (exited 6 times within 60 s); last exit: exited with code 1"));
    let show: Value = serde_json::from_str(&replica.ok(&["show", "--json"])).unwrap();
    assert!(show["db_sockets"].get("ovn_nb").is_none(), "{show}");
    assert!(show["db_sockets"].get("ovs").is_some(), "{show}");
    assert!(replica.ok(&["stop"]).contains("stopped"));
}

/// After SIGKILL of the supervisor, `status` says so and `start` works
/// again without a `stop` first.
#[test]
fn a_killed_supervisor_leaves_a_stale_state_start_recovers_from() {
    let replica = ovs_and_nb_replica();
    replica.ok(&["start"]);
    let status = replica.status();
    let supervisor = Pid::from_raw(status["supervisor_pid"].as_i64().unwrap() as i32);
    kill(supervisor, Signal::SIGKILL).unwrap();
    let status = wait_for_status(&replica, "the supervisor's end", |s| s["running"] == false);
    assert_eq!(status["stale"], true, "{status:#}");
    assert!(status["daemons"].as_array().unwrap().is_empty(), "{status:#}");
    let text = replica.ok(&["status"]);
    assert!(text.contains("not running (its supervisor ended without stopping it"), "{text}");
    assert!(replica.ok(&["show"]).contains("is not running"));
    replica.ok(&["start"]);
    let status = replica.status();
    assert_eq!((&status["running"], &status["stale"]), (&true.into(), &false.into()), "{status:#}");
    assert_eq!(replica.tool("ovs-vsctl", &["list-br"]), "br0\n");
}

/// A replica of bridge br0 whose collected OpenFlow state is `flows` (an
/// OpenFlow 1.5 dump as sos names it).
fn br0_replica_with_flows(flows: &str) -> Replica {
    let replica = Replica::new();
    let conf = make_db(&installed_schema("ovs"), replica.base.path(), "conf.db");
    replica.ok(&["collect-db-ovs", conf.to_str().unwrap()]);
    let dumps = support::user_dir("dumps-");
    std::fs::write(dumps.path().join("ovs-ofctl_-O_OpenFlow15_dump-flows_br0"), flows).unwrap();
    support::make_readable(dumps.path());
    replica.ok(&["collect-flows", dumps.path().to_str().unwrap()]);
    replica
}

/// `n` distinct flows (plus a table-miss) in an OpenFlow 1.5 dump.
fn many_flows(n: u32) -> String {
    let mut text = String::from("OFPST_FLOW reply (OF1.5) (xid=0x2):\n");
    for i in 0..n {
        text.push_str(&format!(
            " priority=100,ip,nw_dst={}.{}.{}.1 actions=drop\n",
            10 + i / 65536,
            (i / 256) % 256,
            i % 256
        ));
    }
    text.push_str(" priority=0 actions=drop\n");
    text
}

fn replay_outcome(status: &Value) -> &str {
    status["replay"]["outcome"].as_str().unwrap_or("")
}

/// Nothing left of replay's scratch space.
fn no_scratch_files(replica: &Replica) -> bool {
    let scratch = replica.workdir.join("replica/flows");
    let leftovers: Vec<_> = walk(&scratch).into_iter().filter(|p| p.is_file()).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    true
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let entries = std::fs::read_dir(dir).into_iter().flatten().flatten();
    entries.flat_map(|e| std::iter::once(e.path()).chain(walk(&e.path()))).collect()
}

/// The `ovs-offline start` process behind a spawned command (as root, the
/// command is `runuser`, whose only child it is).
fn start_process(child: &std::process::Child) -> Pid {
    if !support::is_root() {
        return Pid::from_raw(child.id() as i32);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", child.id())).unwrap_or_default();
        if let Some(pid) = children.split_whitespace().next() {
            return Pid::from_raw(pid.parse().unwrap());
        }
        assert!(Instant::now() < deadline, "no start process under runuser");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn killed_vswitchd_is_restarted_with_its_flows_and_traces_as_before() {
    let flows = "OFPST_FLOW reply (OF1.5) (xid=0x2):\n \
        cookie=0x1, table=0, priority=100,ip,nw_dst=10.0.0.1 actions=mod_nw_tos:16,resubmit(,1)\n \
        cookie=0x2, table=0, priority=0 actions=drop\n \
        cookie=0x3, table=1, priority=10,ip actions=dec_ttl,LOCAL\n";
    let replica = br0_replica_with_flows(flows);
    let out = replica.ok(&["start"]);
    assert!(out.contains("br0: 3/3 flows"), "{out}");
    let trace = || replica.tool("ovs-appctl", &["ofproto/trace", "br0", "in_port=LOCAL,ip,nw_dst=10.0.0.1,nw_ttl=64"]);
    let before = trace();
    assert!(before.contains("priority 100, cookie 0x1") && before.contains("cookie 0x3"), "{before}");
    let dump = || replica.tool("ovs-ofctl", &["-O", "OpenFlow15", "dump-flows", "--no-stats", "br0"]);
    let flows_before = dump();

    kill_daemon(&replica, "ovs-vswitchd", 0);
    let status = wait_for_status(&replica, "the replay into the restarted vswitchd", |s| {
        s["replay"]["vswitchd_generation"] == 1 && replay_outcome(s) == "finished"
    });
    assert!(running(&status, "ovs-vswitchd", 1).is_some(), "{status:#}");
    assert_eq!(status["restore"][0]["flows"]["restored"], 3, "{status:#}");
    assert_eq!(dump(), flows_before);
    assert_eq!(trace(), before, "the same answer as before the kill");
    let text = replica.ok(&["status"]);
    assert!(text.contains("OpenFlow state restored after ovs-vswitchd restart 1"), "{text}");
    assert!(text.contains("br0: 3/3 flows"), "{text}");
    let show: Value = serde_json::from_str(&replica.ok(&["show", "--json"])).unwrap();
    let ctl = show["vswitchd_ctl"].as_str().unwrap();
    assert!(ctl.ends_with(&format!("ovs-vswitchd.{}.ctl", pid_of(&running(&status, "ovs-vswitchd", 1).unwrap()))));
    assert!(no_scratch_files(&replica));
}

/// `start` in the background, once the supervisor is restoring.
fn start_until_restoring(replica: &Replica) -> std::process::Child {
    let child = replica
        .cmd(&["start"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_status(replica, "the restore", |s| replay_outcome(s) == "running");
    child
}

/// Ctrl-C of `start` during a long restore (was: the restore stopped half
/// way, 50,410 of 200,833 flows loaded, and `status` called the replica
/// running with no restore record): the replica goes on restoring and
/// `start` says so.
#[test]
fn ctrl_c_of_start_during_the_restore_leaves_the_replica_restoring() {
    let replica = br0_replica_with_flows(&many_flows(200_000));
    let child = start_until_restoring(&replica);
    let start = start_process(&child);
    kill(start, Signal::SIGINT).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("start interrupted by SIGINT") && stderr.contains("keeps running and restoring"),
        "{stderr}"
    );
    assert!(stderr.contains("status"), "{stderr}");
    let status = wait_for_status(&replica, "the end of the restore", |s| replay_outcome(s) != "running");
    assert_eq!(replay_outcome(&status), "finished", "{status:#}");
    assert_eq!(status["restore"][0]["flows"]["restored"], 200_001, "{status:#}");
    assert_eq!(status["running"], true);
    assert!(no_scratch_files(&replica));
}

/// `stop` during the restore interrupts it, records and says so, and
/// leaves no scratch files; `start` reports the stop.
#[test]
fn stop_during_the_restore_records_it_interrupted() {
    let replica = br0_replica_with_flows(&many_flows(200_000));
    let child = start_until_restoring(&replica);
    let stopped = replica.ok(&["stop"]);
    assert!(stopped.contains("the restore was interrupted"), "{stopped}");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("was stopped while its OpenFlow state was being restored"), "{stderr}");
    let status = replica.status();
    assert_eq!((&status["running"], &status["stale"]), (&false.into(), &false.into()), "{status:#}");
    assert!(!replica.workdir.join("replica").exists(), "scratch files left");
    let log = std::fs::read_to_string(replica.workdir.join("log/supervisor.log")).unwrap();
    assert!(log.contains("interrupting it"), "{log}");
}
