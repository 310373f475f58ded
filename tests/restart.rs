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
