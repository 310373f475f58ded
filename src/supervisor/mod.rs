//! The supervisor: PID 1 of a replica. Spawns daemons from specs, probes
//! their readiness, reaps every child (its own and orphans), records exits
//! and takes the whole replica down on SIGTERM/SIGINT/SIGHUP.
//!
//! It knows daemons as [`DaemonSpec`]s (argv, env, pidfile, log, probe,
//! restart policy), not as OVS concepts: what a probe checks is up to the
//! caller. It keeps every spec for the life of the replica, so a spec can
//! be spawned again; each process of a spec has a generation (0 for the
//! first). Each daemon runs in its own process group; shutdown is TERM to
//! every group, a grace period, then KILL.

pub mod launch;
mod table;

use nix::sys::signal::{killpg, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use table::Table;
use tokio::signal::unix::{signal, Signal as SignalStream, SignalKind};

const PROBE_INTERVAL: Duration = Duration::from_millis(10);
const GRACE: Duration = Duration::from_secs(5);

/// When a daemon counts as ready: checked every few milliseconds after it
/// was spawned, until it passes.
pub trait Probe: Send + Sync + std::fmt::Debug {
    fn passes(&self) -> bool;
}

/// What the supervisor does when a daemon exits on its own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RestartPolicy {
    /// Record the exit and leave the daemon down.
    #[default]
    Never,
}

/// One supervised daemon.
#[derive(Debug)]
pub struct DaemonSpec {
    /// Unique label; the key of its recorded state, with the generation.
    pub name: String,
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub env: Vec<(String, PathBuf)>,
    /// Pidfile written (with the host pid) and locked before exec.
    pub pidfile: PathBuf,
    /// Extra last argument with [`launch::PID_PLACEHOLDER`] replaced by the
    /// host pid.
    pub pid_arg: Option<String>,
    /// Receives the daemon's stdout and stderr.
    pub log: PathBuf,
    pub probe: Box<dyn Probe>,
    pub restart: RestartPolicy,
}

/// How a daemon's process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Exit {
    /// It exited with this code.
    Code(i32),
    /// It was killed by this signal (number).
    Signal(i32),
}

impl Exit {
    /// `None` for a status that is no end (stopped, continued).
    fn of(status: WaitStatus) -> Option<Exit> {
        match status {
            WaitStatus::Exited(_, code) => Some(Exit::Code(code)),
            WaitStatus::Signaled(_, signal, _) => Some(Exit::Signal(signal as i32)),
            _ => None,
        }
    }

    pub fn code(self) -> Option<i32> {
        match self {
            Exit::Code(code) => Some(code),
            Exit::Signal(_) => None,
        }
    }

    pub fn signal(self) -> Option<i32> {
        match self {
            Exit::Signal(number) => Some(number),
            Exit::Code(_) => None,
        }
    }
}

/// "exit code 1", "killed by SIGSEGV".
impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Exit::Code(code) => write!(f, "exit code {code}"),
            Exit::Signal(number) => match Signal::try_from(number) {
                Ok(signal) => write!(f, "killed by {signal}"),
                Err(_) => write!(f, "killed by signal {number}"),
            },
        }
    }
}

/// What happened to a daemon, for the caller to record. A daemon is the
/// process of one generation of a spec.
pub trait Observer {
    /// Its probe passed; `host_pid` is its pid as the host sees it.
    fn started(&self, spec: &DaemonSpec, generation: u32, host_pid: i32);
    /// It ended; `unexpected` unless the supervisor stopped it.
    fn exited(&self, spec: &DaemonSpec, generation: u32, exit: Exit, unexpected: bool);
}

#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error("cannot start {name}: {source}")]
    Spawn { name: String, source: std::io::Error },
    #[error("{name} exited during start ({exit}); last lines of {log}:\n{tail}")]
    ExitedEarly { name: String, exit: Exit, log: String, tail: String },
    #[error("{name} not ready after {secs} s; last lines of {log}:\n{tail}")]
    Timeout { name: String, secs: u64, log: String, tail: String },
    #[error("stopped by a signal during start")]
    Interrupted,
    #[error("cannot set up signal handling: {0}")]
    Signals(#[source] std::io::Error),
}

pub struct Supervisor<'a> {
    launcher: PathBuf,
    observer: &'a dyn Observer,
    table: Table,
    sigchld: SignalStream,
    stop_signals: [SignalStream; 3],
    stopping: bool,
}

impl<'a> Supervisor<'a> {
    /// `launcher` is this program, run as `__launch` before each daemon.
    pub fn new(launcher: PathBuf, observer: &'a dyn Observer) -> Result<Self, SupervisorError> {
        let sig = |kind| signal(kind).map_err(SupervisorError::Signals);
        Ok(Supervisor {
            launcher,
            observer,
            table: Table::default(),
            sigchld: sig(SignalKind::child())?,
            stop_signals: [sig(SignalKind::terminate())?, sig(SignalKind::interrupt())?, sig(SignalKind::hangup())?],
            stopping: false,
        })
    }

    /// Takes a spec under supervision and starts its first process.
    pub fn spawn(&mut self, spec: DaemonSpec) -> Result<(), SupervisorError> {
        let i = self.table.add(spec);
        self.start_process(i)
    }

    /// Starts a process of the spec at `i`, its next generation.
    fn start_process(&mut self, i: usize) -> Result<(), SupervisorError> {
        let spec = &self.table.get(i).spec;
        let child = launch_command(&self.launcher, spec)
            .and_then(|mut command| command.spawn())
            .map_err(|source| SupervisorError::Spawn { name: spec.name.clone(), source })?;
        tracing::info!(name = %spec.name, pid = child.id(), "spawned");
        self.table.launched(i, Pid::from_raw(child.id() as i32));
        Ok(())
    }

    /// Waits until every running daemon's probe passes. Fails when one
    /// exits, on timeout, or when asked to stop.
    pub async fn wait_ready(&mut self, timeout: Duration) -> Result<(), SupervisorError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(&(i, exit)) = self.reap().first() {
                return Err(self.exited_early(i, exit));
            }
            for i in self.table.unready() {
                self.probe(i);
            }
            let Some(&waiting) = self.table.unready().first() else { return Ok(()) };
            if Instant::now() >= deadline {
                let spec = &self.table.get(waiting).spec;
                return Err(SupervisorError::Timeout {
                    name: spec.name.clone(),
                    secs: timeout.as_secs(),
                    log: spec.log.display().to_string(),
                    tail: log_tail(&spec.log),
                });
            }
            tokio::select! {
                _ = tokio::time::sleep(PROBE_INTERVAL) => {}
                _ = self.sigchld.recv() => {}
                _ = stop_requested(&mut self.stop_signals) => return Err(SupervisorError::Interrupted),
            }
        }
    }

    /// Runs the probe of the daemon at `i`; records it started once it passes.
    fn probe(&mut self, i: usize) {
        let supervised = self.table.get(i);
        let (spec, Some(process)) = (&supervised.spec, supervised.process) else { return };
        if spec.probe.passes() {
            self.observer.started(
                spec,
                process.generation,
                read_pidfile(&spec.pidfile).unwrap_or(process.pid.as_raw()),
            );
            self.table.mark_ready(i);
        }
    }

    /// Serves until SIGTERM, SIGINT or SIGHUP, reaping and recording any
    /// daemon that exits meanwhile.
    pub async fn serve(&mut self) {
        loop {
            tokio::select! {
                _ = self.sigchld.recv() => { self.reap(); }
                _ = stop_requested(&mut self.stop_signals) => return,
            }
        }
    }

    /// TERM to every daemon's process group, then KILL after the grace
    /// period; returns once all are reaped.
    pub async fn shutdown(&mut self) {
        self.stopping = true;
        self.signal_all(Signal::SIGTERM);
        let deadline = Instant::now() + GRACE;
        while !self.table.running().is_empty() {
            if Instant::now() >= deadline {
                self.signal_all(Signal::SIGKILL);
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                _ = self.sigchld.recv() => {}
            }
            self.reap();
        }
    }

    fn signal_all(&self, signal: Signal) {
        for pid in self.table.running() {
            let _ = killpg(pid, signal);
        }
    }

    /// Reaps every exited child, our daemons and orphans re-parented to us;
    /// records and returns our daemons among them.
    fn reap(&mut self) -> Vec<(usize, Exit)> {
        let mut exited = Vec::new();
        while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            let Some(pid) = status.pid() else { break };
            let Some(exit) = Exit::of(status) else { continue };
            if let Some(i) = self.table.exited(pid, exit) {
                self.record_exit(i, exit);
                exited.push((i, exit));
            }
        }
        exited
    }

    /// Tells the observer, then applies the spec's restart policy.
    fn record_exit(&self, i: usize, exit: Exit) {
        let supervised = self.table.get(i);
        let (spec, Some(process)) = (&supervised.spec, supervised.process) else { return };
        let unexpected = !self.stopping;
        if unexpected {
            tracing::warn!(name = %spec.name, process.generation, %exit, "daemon exited unexpectedly");
        }
        self.observer.exited(spec, process.generation, exit, unexpected);
        // A policy that restarts runs `start_process(i)` again: the next
        // generation of the same spec.
        match spec.restart {
            RestartPolicy::Never => {}
        }
    }

    fn exited_early(&self, i: usize, exit: Exit) -> SupervisorError {
        let spec = &self.table.get(i).spec;
        SupervisorError::ExitedEarly {
            name: spec.name.clone(),
            exit,
            log: spec.log.display().to_string(),
            tail: log_tail(&spec.log),
        }
    }
}

/// `__launch` of `launcher` running the spec's program in a process group
/// of its own, output appended to its log.
fn launch_command(launcher: &Path, spec: &DaemonSpec) -> std::io::Result<Command> {
    let log = OpenOptions::new().create(true).append(true).open(&spec.log)?;
    let mut command = Command::new(launcher);
    command.arg("__launch").arg("--pidfile").arg(&spec.pidfile);
    if let Some(arg) = &spec.pid_arg {
        command.arg("--pid-arg").arg(arg);
    }
    command
        .arg("--")
        .arg(&spec.program)
        .args(&spec.args)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    Ok(command)
}

async fn stop_requested(signals: &mut [SignalStream; 3]) {
    let [term, int, hup] = signals;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
        _ = hup.recv() => {}
    }
}

fn read_pidfile(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The last lines of a daemon's log, for error messages.
pub fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join("\n")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[derive(Debug)]
    struct Passes;

    impl Probe for Passes {
        fn passes(&self) -> bool {
            true
        }
    }

    /// A spec that is never run.
    pub(crate) fn spec(name: &str) -> DaemonSpec {
        DaemonSpec {
            name: name.into(),
            program: "/bin/true".into(),
            args: Vec::new(),
            env: Vec::new(),
            pidfile: format!("/nonexistent/{name}.pid").into(),
            pid_arg: None,
            log: format!("/nonexistent/{name}.log").into(),
            probe: Box::new(Passes),
            restart: RestartPolicy::default(),
        }
    }

    #[test]
    fn exits_read_as_the_daemon_ended() {
        let pid = Pid::from_raw(10);
        assert_eq!(Exit::of(WaitStatus::Exited(pid, 1)), Some(Exit::Code(1)));
        assert_eq!(Exit::of(WaitStatus::Signaled(pid, Signal::SIGKILL, false)), Some(Exit::Signal(9)));
        assert_eq!(Exit::of(WaitStatus::Stopped(pid, Signal::SIGSTOP)), None);
        assert_eq!(Exit::Code(1).to_string(), "exit code 1");
        assert_eq!(Exit::Signal(11).to_string(), "killed by SIGSEGV");
        assert_eq!(Exit::Signal(200).to_string(), "killed by signal 200");
    }

    #[test]
    fn specs_never_restart_unless_told() {
        assert_eq!(spec("switch").restart, RestartPolicy::Never);
    }
}
