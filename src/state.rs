//! The workdir's run state (`state.json`): while a replica runs, what runs
//! where. What is collected is the capture's manifest
//! ([`crate::capture::manifest`]).
//!
//! Plain data, and how a run records its daemons (one entry per name and
//! generation, one restart record per name that exited on its own) and its
//! flow replays (the latest one); reading and writing the file belongs to
//! [`crate::workdir`].

use crate::capture::DbKind;
pub use crate::replay::report::{BridgeRestore, Count};
use crate::supervisor::Exit;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct State {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<RunState>,
    /// What `start` remembers for the next runs.
    #[serde(default)]
    pub settings: Settings,
}

/// Workdir settings `start` remembers.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// `--ovs-root`: the root filesystem the daemons run from (cleared by
    /// `--no-ovs-root`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ovs_root: Option<PathBuf>,
}

/// The `--ovs-root` a run uses, and the versions its programs print.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootVersions {
    pub dir: PathBuf,
    /// `ovs-vswitchd --version` of the root (`3.5.0`).
    pub ovs: Option<String>,
    /// `ovn-nbctl --version` of the root (`25.03.0`), if it has OVN.
    pub ovn: Option<String>,
}

/// One run of a replica, from `start` to `stop`.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct RunState {
    #[serde(flatten)]
    pub phase: RunPhase,
    pub started_at: String,
    /// True when the replica runs in a user namespace of its own.
    pub rootless: bool,
    pub dbs: Vec<PreparedDb>,
    pub daemons: Vec<DaemonState>,
    /// What the supervisor did about daemons that exited on their own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restarts: Vec<DaemonRestarts>,
    /// What the replay in [`RunState::replay`] restored, per bridge (empty
    /// until it finished).
    #[serde(default)]
    pub restore: Vec<BridgeRestore>,
    /// The latest flow replay: into which ovs-vswitchd, when, how it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<ReplayRecord>,
    /// The `--ovs-root` the daemons run from (none: the local OVS/OVN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ovs_root: Option<RootVersions>,
}

/// The unexpected exits of one daemon (by name, across generations).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonRestarts {
    pub name: String,
    /// Restarts the supervisor made (or scheduled).
    pub restarts: u32,
    pub last_exit: DaemonExit,
    /// Why the supervisor left it stopped, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_up: Option<String>,
}

/// One replay of the collected OpenFlow state into a vswitchd process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayRecord {
    /// The generation of `ovs-vswitchd` it restores (0: the first start).
    pub vswitchd_generation: u32,
    pub started_at: String,
    #[serde(flatten)]
    pub outcome: ReplayOutcome,
}

/// How far a replay got; `"outcome"` in the state file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ReplayOutcome {
    /// Still loading.
    Running,
    /// Every bridge was replayed; per bridge results in [`RunState::restore`].
    Finished {
        finished_at: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        notes: Vec<String>,
    },
    /// Nothing could be replayed.
    Failed { finished_at: String, error: String },
    /// The replica was stopped before the replay finished.
    Interrupted { finished_at: String },
}

/// How far a run got; `"phase"` and, once known, `"supervisor_pid"` (the
/// host pid of PID 1 of the replica's PID namespace) in the state file.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum RunPhase {
    /// `start` prepares the working copies; no supervisor yet.
    #[default]
    Preparing,
    /// The supervisor runs and brings the daemons up.
    Starting { supervisor_pid: i32 },
    /// Every daemon answered its readiness probe.
    Ready { supervisor_pid: i32 },
}

impl RunPhase {
    pub fn supervisor_pid(self) -> Option<i32> {
        match self {
            RunPhase::Preparing => None,
            RunPhase::Starting { supervisor_pid } | RunPhase::Ready { supervisor_pid } => Some(supervisor_pid),
        }
    }
}

/// A database as the replica serves it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PreparedDb {
    pub kind: DbKind,
    pub schema: String,
    /// Schema version of the collected file.
    pub collected_version: String,
    /// Schema version served (differs after a conversion).
    pub served_version: String,
    pub socket: PathBuf,
    /// What preparation changed in the working copy, one line each.
    pub changes: Vec<String>,
    /// Interfaces whose type the working copy runs as `dummy`: name → the
    /// type collected.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub replaced_types: BTreeMap<String, String>,
}

impl RunState {
    /// Records a daemon whose probe passed (again, for a respawned one).
    pub fn daemon_started(&mut self, daemon: DaemonState) {
        match self.daemon_mut(&daemon.name, daemon.generation) {
            Some(known) => *known = daemon,
            None => self.daemons.push(daemon),
        }
    }

    /// Records the exit of one generation of a daemon; false when that
    /// generation was never recorded started.
    pub fn daemon_exited(&mut self, name: &str, generation: u32, exit: DaemonExit) -> bool {
        let daemon = self.daemon_mut(name, generation);
        let known = daemon.is_some();
        if let Some(d) = daemon {
            d.exit = Some(exit);
        }
        known
    }

    /// Records an exit the supervisor did not cause: `restarting` when it
    /// starts the daemon again, else `given_up` says why it is left down
    /// (none when its policy never restarts).
    pub fn daemon_failed(&mut self, name: &str, exit: DaemonExit, restarting: bool, given_up: Option<String>) {
        let i = match self.restarts.iter().position(|r| r.name == name) {
            Some(i) => i,
            None => {
                let first = DaemonRestarts { name: name.into(), restarts: 0, last_exit: exit.clone(), given_up: None };
                self.restarts.push(first);
                self.restarts.len() - 1
            }
        };
        let record = &mut self.restarts[i];
        record.last_exit = exit;
        record.restarts += u32::from(restarting);
        record.given_up = given_up;
    }

    /// Records that the supervisor left a daemon stopped, and why.
    pub fn daemon_given_up(&mut self, name: &str, why: String) {
        if let Some(record) = self.restarts.iter_mut().find(|r| r.name == name) {
            record.given_up = Some(why);
        }
    }

    /// Records that a replay into `vswitchd_generation` began now; the
    /// results of an earlier one (for a vswitchd that is gone) are dropped.
    pub fn replay_started(&mut self, vswitchd_generation: u32) {
        self.replay = Some(ReplayRecord { vswitchd_generation, started_at: now(), outcome: ReplayOutcome::Running });
        self.restore.clear();
    }

    /// Records how the running replay ended, with its per-bridge results.
    pub fn replay_ended(&mut self, outcome: ReplayOutcome, restore: Vec<BridgeRestore>) {
        if let Some(replay) = &mut self.replay {
            replay.outcome = outcome;
        }
        self.restore = restore;
    }

    fn daemon_mut(&mut self, name: &str, generation: u32) -> Option<&mut DaemonState> {
        self.daemons.iter_mut().find(|d| d.name == name && d.generation == generation)
    }
}

impl PreparedDb {
    pub fn converted(&self) -> bool {
        self.collected_version != self.served_version
    }
}

/// One process of a supervised daemon: the spec's name and its
/// generation (0 for the first start, one more for each restart) key it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonState {
    pub name: String,
    #[serde(default)]
    pub generation: u32,
    /// Host pid (as `ps` outside the replica shows it).
    pub pid: i32,
    pub started_at: String,
    pub log: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ctl: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<DaemonExit>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonExit {
    /// `"code": N` or `"signal": N`.
    #[serde(flatten)]
    pub how: Exit,
    pub at: String,
    /// False when the supervisor stopped it on purpose.
    pub unexpected: bool,
}

/// Rewrites a run recorded by a version before [`RunPhase`] (a
/// `supervisor_pid` of 0 while preparing, a `ready` flag, exits with a
/// `null` code or signal) in the current form.
pub fn upgrade_legacy_run(state: &mut serde_json::Value) {
    let Some(run) = state.get_mut("run").and_then(|r| r.as_object_mut()) else { return };
    if run.contains_key("phase") {
        return;
    }
    let pid = run.get("supervisor_pid").and_then(|p| p.as_i64()).unwrap_or(0);
    let ready = run.remove("ready").and_then(|r| r.as_bool()).unwrap_or(false);
    let phase = match (pid, ready) {
        (0, _) => "preparing",
        (_, false) => "starting",
        (_, true) => "ready",
    };
    if pid == 0 {
        run.remove("supervisor_pid");
    }
    run.insert("phase".into(), phase.into());
    let daemons = run.get_mut("daemons").and_then(|d| d.as_array_mut()).into_iter().flatten();
    for exit in daemons.filter_map(|d| d.get_mut("exit").and_then(|e| e.as_object_mut())) {
        exit.retain(|_, v| !v.is_null());
    }
}

/// Now, as an RFC 3339 UTC timestamp (seconds).
pub fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn daemon(name: &str, generation: u32, pid: i32) -> DaemonState {
        DaemonState {
            name: name.into(),
            generation,
            pid,
            started_at: "2026-01-01T00:00:00Z".into(),
            log: format!("log/{name}.log").into(),
            ctl: None,
            exit: None,
        }
    }

    fn killed() -> DaemonExit {
        DaemonExit { how: Exit::Signal(9), at: "2026-01-01T00:01:00Z".into(), unexpected: true }
    }

    #[test]
    fn a_restarted_daemon_is_a_second_entry_and_exits_land_on_their_generation() {
        let mut run = RunState::default();
        run.daemon_started(daemon("ovsdb-server-ovs", 0, 10));
        run.daemon_started(daemon("ovs-vswitchd", 0, 11));
        assert!(run.daemon_exited("ovs-vswitchd", 0, killed()));
        run.daemon_started(daemon("ovs-vswitchd", 1, 12));
        assert!(!run.daemon_exited("ovs-vswitchd", 2, killed()), "never started");
        let vswitchd: Vec<&DaemonState> = run.daemons.iter().filter(|d| d.name == "ovs-vswitchd").collect();
        assert_eq!(vswitchd.len(), 2);
        assert_eq!((vswitchd[0].pid, vswitchd[0].exit.clone()), (11, Some(killed())));
        assert_eq!((vswitchd[1].pid, vswitchd[1].exit.clone()), (12, None));
        assert_eq!(run.daemons[0].exit, None, "another daemon is untouched");
    }

    #[test]
    fn restarts_are_counted_per_daemon_until_given_up() {
        let mut run = RunState::default();
        run.daemon_failed("ovs-vswitchd", killed(), true, None);
        run.daemon_failed("ovs-vswitchd", killed(), true, None);
        let exited = DaemonExit { how: Exit::Code(1), at: "t".into(), unexpected: true };
        run.daemon_failed("ovs-vswitchd", exited.clone(), false, Some("exited 3 times within 60 s".into()));
        assert_eq!(
            run.restarts,
            vec![DaemonRestarts {
                name: "ovs-vswitchd".into(),
                restarts: 2,
                last_exit: exited,
                given_up: Some("exited 3 times within 60 s".into())
            }]
        );
    }

    #[test]
    fn a_replay_is_recorded_running_then_with_its_outcome() {
        let mut run = RunState::default();
        run.replay_started(1);
        assert_eq!(run.replay.as_ref().unwrap().outcome, ReplayOutcome::Running);
        let bridge = BridgeRestore { bridge: "br0".into(), ..Default::default() };
        run.replay_ended(ReplayOutcome::Finished { finished_at: "t".into(), notes: vec![] }, vec![bridge]);
        let json = serde_json::to_value(&run).unwrap();
        assert_eq!(json["replay"]["outcome"], "finished");
        assert_eq!(json["replay"]["vswitchd_generation"], 1);
        assert_eq!(json["restore"][0]["bridge"], "br0");
        run.replay_started(2);
        assert!(run.restore.is_empty(), "results of a replay into a vswitchd that is gone");
        run.replay_ended(ReplayOutcome::Interrupted { finished_at: "t".into() }, Vec::new());
        let back: RunState = serde_json::from_value(serde_json::to_value(&run).unwrap()).unwrap();
        assert_eq!(back.replay.unwrap().outcome, ReplayOutcome::Interrupted { finished_at: "t".into() });
    }

    #[test]
    fn a_generation_started_twice_is_recorded_once() {
        let mut run = RunState::default();
        run.daemon_started(daemon("ovs-vswitchd", 0, 11));
        run.daemon_started(daemon("ovs-vswitchd", 0, 12));
        assert_eq!(run.daemons, vec![daemon("ovs-vswitchd", 0, 12)]);
    }

    #[test]
    fn the_phase_is_stored_with_the_supervisor_pid() {
        let run = RunState { phase: RunPhase::Ready { supervisor_pid: 7 }, ..Default::default() };
        let json = serde_json::to_value(&run).unwrap();
        assert_eq!((&json["phase"], &json["supervisor_pid"]), (&"ready".into(), &7.into()));
        let back: RunState = serde_json::from_value(json).unwrap();
        assert_eq!(back.phase.supervisor_pid(), Some(7));
        assert_eq!(RunState::default().phase.supervisor_pid(), None);
    }

    #[test]
    fn exits_are_stored_as_code_or_signal() {
        let json = serde_json::to_value(killed()).unwrap();
        assert_eq!(json, serde_json::json!({"signal": 9, "at": "2026-01-01T00:01:00Z", "unexpected": true}));
        let exited: DaemonExit =
            serde_json::from_value(serde_json::json!({"code": 1, "at": "t", "unexpected": false})).unwrap();
        assert_eq!(exited.how, Exit::Code(1));
    }
}
