//! Flow replay as the replica's supervisor runs it: after the first start
//! of `ovs-vswitchd` and again after each restart of it, so the bridges
//! hold the collected OpenFlow state whenever vswitchd runs. Each replay is
//! recorded in the run state ([`RunState::replay`]: which vswitchd
//! generation, when, how it ended; [`RunState::restore`]: per bridge).
//!
//! A replay runs in a helper process, `ovs-offline __replay` (this program
//! again, [`run_helper`]), never in the supervisor's own process: the
//! supervisor is PID 1 and reaps every child with `waitpid(-1)`, which
//! would steal the exit status of the `ovs-ofctl`s replay spawns and waits
//! for (`ECHILD`). In the helper they are the helper's children, out of the
//! reaper's reach; the helper itself is reaped like an orphan and reports
//! through a pipe (one JSON [`HelperReport`] on its stdout), read by a
//! thread so the supervisor's loop never blocks. The helper runs in a
//! process group of its own: stopping the replica kills the group (helper
//! and its `ovs-ofctl`s) and records the replay as interrupted.
//!
//! Never prints: `start` reads the outcome from the run state once the
//! supervisor notified it ([`crate::sandbox::Notification::Restored`]).
//!
//! [`RunState::replay`]: crate::state::RunState::replay
//! [`RunState::restore`]: crate::state::RunState::restore

use crate::replay::{self, BridgeRestore, ReplayReport};
use crate::state::{now, ReplayOutcome, RunState};
use crate::workdir::Workdir;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use tokio::sync::oneshot;

/// What the helper writes on its stdout.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum HelperReport {
    Replayed { bridges: Vec<BridgeRestore>, notes: Vec<String> },
    Failed { error: String },
}

/// `ovs-offline __replay`: replays the collected OpenFlow state into the
/// running replica and writes the outcome on stdout for the supervisor.
pub fn run_helper(workdir: &Workdir) -> std::io::Result<()> {
    let report = match replay::run(workdir).map(ReplayReport::bounded) {
        Ok(ReplayReport { bridges, notes }) => HelperReport::Replayed { bridges, notes },
        Err(e) => HelperReport::Failed { error: super::chain(&e) },
    };
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer(&mut stdout, &report).map_err(std::io::Error::other)?;
    stdout.flush()
}

/// A replay helper running for one vswitchd generation.
pub(crate) struct Replay {
    /// Its pid and process group (the supervisor's PID namespace).
    pid: Pid,
    /// Everything it wrote on stdout, once it closed it.
    output: oneshot::Receiver<Vec<u8>>,
}

impl Replay {
    /// Records a replay into `generation` as running and starts its helper
    /// (`launcher` is this program).
    pub fn start(launcher: &Path, workdir: &Workdir, generation: u32) -> std::io::Result<Replay> {
        record(workdir, |run| run.replay_started(generation));
        let mut child = Command::new(launcher)
            .arg("-w")
            .arg(workdir.root())
            .arg("__replay")
            // For the `ovs-ofctl`s it runs, which parse the flows.
            .env(super::daemons::MALLOC_TUNABLES.0, super::daemons::MALLOC_TUNABLES.1)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .process_group(0)
            .spawn()
            .inspect_err(|e| record(workdir, |run| run.replay_ended(failed(format!("cannot run: {e}")), Vec::new())))?;
        let pid = Pid::from_raw(child.id() as i32);
        let mut stdout = child.stdout.take().ok_or_else(|| std::io::Error::other("no pipe"))?;
        // `child` is dropped unwaited: the supervisor's reaper collects it.
        let (tx, output) = oneshot::channel();
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = stdout.read_to_end(&mut bytes);
            let _ = tx.send(bytes);
        });
        tracing::info!(%pid, generation, "replaying the OpenFlow state");
        Ok(Replay { pid, output })
    }

    /// Waits until the helper is done and records how the replay ended.
    pub async fn finish(&mut self, workdir: &Workdir) {
        let bytes = (&mut self.output).await.unwrap_or_default();
        let (outcome, bridges) = match serde_json::from_slice(&bytes) {
            Ok(HelperReport::Replayed { bridges, notes }) => {
                (ReplayOutcome::Finished { finished_at: now(), notes }, bridges)
            }
            Ok(HelperReport::Failed { error }) => (failed(error), Vec::new()),
            Err(_) => (failed("the replay helper ended without a report; see log/supervisor.log".into()), Vec::new()),
        };
        record(workdir, |run| run.replay_ended(outcome, bridges));
    }

    /// Kills the helper and its `ovs-ofctl`s; records the replay as
    /// interrupted once they are gone.
    pub async fn interrupt(mut self, workdir: &Workdir) {
        let _ = killpg(self.pid, Signal::SIGKILL);
        let _ = (&mut self.output).await;
        record(workdir, |run| run.replay_ended(ReplayOutcome::Interrupted { finished_at: now() }, Vec::new()));
    }
}

fn failed(error: String) -> ReplayOutcome {
    ReplayOutcome::Failed { finished_at: now(), error }
}

fn record(workdir: &Workdir, f: impl FnOnce(&mut RunState)) {
    if let Err(e) = super::update_run(workdir, f) {
        tracing::warn!("cannot record the replay: {}", super::chain(&e));
    }
}
