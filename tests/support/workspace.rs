//! A workspace of node workdirs (`-W`) driven through the built binary as
//! the test user, in a `Replica`'s base directory; `cluster stop` on drop.

use super::{run_ok, stdout, Replica};
use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::Command;

pub struct Workspace {
    pub replica: Replica,
    pub root: PathBuf,
}

impl Workspace {
    pub fn new() -> Workspace {
        let replica = Replica::new();
        let root = replica.base.path().join("ws");
        Workspace { replica, root }
    }

    /// `ovs-offline args…` without -w or -W, and without the environment
    /// variables that stand for them.
    pub fn bare<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        let mut cmd = self.replica.bare(args);
        cmd.env_remove("OVS_DBG_WORKDIR").env_remove("OVS_OFFLINE_WORKSPACE");
        cmd
    }

    /// `ovs-offline -W WS args…`.
    pub fn cmd<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        let mut cmd = self.bare(&[OsStr::new("-W"), self.root.as_os_str()]);
        cmd.args(args);
        cmd
    }

    /// Runs `-W WS args…` and asserts success; returns stdout.
    pub fn ok<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        stdout(run_ok(&mut self.cmd(args)))
    }

    /// Runs `-W WS args…` and asserts failure; returns stderr.
    pub fn fails<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        failure(self.cmd(args).output().unwrap())
    }

    /// `cluster status --json`.
    pub fn status(&self) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["cluster", "status", "--json"])).unwrap()
    }

    /// The nodes whose replica runs.
    pub fn running(&self) -> Vec<String> {
        let status = self.status();
        let nodes = status["nodes"].as_array().unwrap_or_else(|| panic!("{status}"));
        nodes.iter().filter(|n| n["running"] == true).map(|n| n["name"].as_str().unwrap().to_string()).collect()
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        let _ = self.cmd(&["cluster", "stop"]).output();
    }
}

/// Asserts a failure; its stderr.
pub fn failure(out: std::process::Output) -> String {
    assert!(!out.status.success(), "expected a failure, got: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}
