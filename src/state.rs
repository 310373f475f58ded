//! The workdir's run state (`state.json`): while a replica runs, what runs
//! where. What is collected is the capture's manifest
//! ([`crate::capture::manifest`]).
//!
//! Plain data; reading and writing it belongs to [`crate::workdir`].

use crate::capture::DbKind;
pub use crate::replay::report::{BridgeRestore, Count};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct State {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<RunState>,
}

/// One run of a replica, from `start` to `stop`.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct RunState {
    /// Host pid of the supervisor (PID 1 of the replica's PID namespace).
    pub supervisor_pid: i32,
    pub started_at: String,
    /// True once every daemon answered its readiness probe.
    pub ready: bool,
    /// True when the replica runs in a user namespace of its own.
    pub rootless: bool,
    pub dbs: Vec<PreparedDb>,
    pub daemons: Vec<DaemonState>,
    /// What flow replay restored, per bridge.
    #[serde(default)]
    pub restore: Vec<BridgeRestore>,
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
}

impl PreparedDb {
    pub fn converted(&self) -> bool {
        self.collected_version != self.served_version
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DaemonState {
    pub name: String,
    /// Host pid (as `ps` outside the replica shows it).
    pub pid: i32,
    pub started_at: String,
    pub log: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ctl: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<DaemonExit>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DaemonExit {
    /// Exit code, or `None` when killed by a signal.
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub at: String,
    /// False when the supervisor stopped it on purpose.
    pub unexpected: bool,
}

/// Now, as an RFC 3339 UTC timestamp (seconds).
pub fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}
