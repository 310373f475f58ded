//! The supervisor: PID 1 of a replica. Spawns daemons from specs, probes
//! their readiness, reaps every child (its own and orphans), records exits,
//! restarts daemons by their [`RestartPolicy`] and takes the whole replica
//! down on SIGTERM/SIGINT/SIGHUP.
//!
//! It knows daemons as [`DaemonSpec`]s (argv, env, pidfile, log, probe,
//! restart policy), not as OVS concepts: what a probe checks is up to the
//! caller. It keeps every spec for the life of the replica, so a spec can
//! be spawned again; each process of a spec has a generation (0 for the
//! first). A restarted process is probed again like the first and reported
//! by [`Supervisor::serve`] once ready, so the caller can restore what the
//! daemon lost. Each daemon runs in its own process group; shutdown is TERM
//! to every group, a grace period, then KILL.
//!
//! Reaping: as PID 1 it must reap every zombie, so it waits for any child
//! (`waitpid(-1)`). Its own direct children are therefore only daemons
//! (through `__launch`) and helper processes it never waits for by pid
//! (the caller's flow replay runs as such a helper: its `ovs-ofctl`s are
//! the helper's children, out of this reaper's reach). Nothing else in the
//! supervisor's process may spawn and wait for a child: the reaper could
//! take its exit status first.

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
/// While the replica comes up, probes start this soon after a spawn and
/// back off (doubling) to [`PROBE_INTERVAL`]: the daemons are ready within
/// a few milliseconds, and `start` waits for them.
const FIRST_PROBE_INTERVAL: Duration = Duration::from_millis(1);
const GRACE: Duration = Duration::from_secs(5);
/// The longest wait before a restart, however many failures came before.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// When a daemon counts as ready: checked every few milliseconds after it
/// was spawned, until it passes.
pub trait Probe: Send + Sync + std::fmt::Debug {
    fn passes(&self) -> bool;
}

/// What the supervisor does when a daemon exits on its own (an exit it
/// caused while stopping never counts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RestartPolicy {
    /// Record the exit and leave the daemon down.
    #[default]
    Never,
    /// Start the next generation after `backoff`, doubled for each earlier
    /// failure still within `window`; a daemon that fails more than
    /// `max_restarts` times within `window` is left down ("given up").
    OnFailure { max_restarts: u32, window: Duration, backoff: Duration },
}

impl RestartPolicy {
    /// What follows an unexpected exit at `now`; `failures` holds the
    /// earlier ones still counted and gets this one.
    fn after_failure(self, failures: &mut Vec<Instant>, now: Instant) -> AfterExit {
        let RestartPolicy::OnFailure { max_restarts, window, backoff } = self else { return AfterExit::Down };
        failures.retain(|&at| now.duration_since(at) < window);
        failures.push(now);
        let failed = u32::try_from(failures.len()).unwrap_or(u32::MAX);
        if failed > max_restarts {
            return AfterExit::GaveUp { failures: failed, window };
        }
        let delay = backoff.saturating_mul(1 << (failed - 1).min(16)).min(MAX_BACKOFF);
        AfterExit::Restart { delay, failures: failed }
    }
}

/// What the supervisor does after a daemon's process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterExit {
    /// The supervisor stopped it.
    Stopped,
    /// It exited on its own; its policy leaves it down.
    Down,
    /// It exited on its own; its next generation starts after `delay`.
    /// `failures`: unexpected exits within the policy's window, this one
    /// included.
    Restart { delay: Duration, failures: u32 },
    /// It failed `failures` times within `window`: left down.
    GaveUp { failures: u32, window: Duration },
}

impl AfterExit {
    /// True unless the supervisor stopped it.
    pub fn unexpected(self) -> bool {
        self != AfterExit::Stopped
    }
}

/// One supervised daemon.
#[derive(Debug)]
pub struct DaemonSpec {
    /// Unique label; the key of its recorded state, with the generation.
    pub name: String,
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub env: Vec<(String, OsString)>,
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
    /// It ended, and what the supervisor does next.
    fn exited(&self, spec: &DaemonSpec, generation: u32, exit: Exit, next: AfterExit);
    /// Its next generation could not be spawned; it stays down.
    fn restart_failed(&self, spec: &DaemonSpec, error: &SupervisorError);
}

/// Why [`Supervisor::serve`] returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Served {
    /// SIGTERM, SIGINT or SIGHUP: time to shut down.
    StopRequested,
    /// A restarted daemon passed its probe.
    Ready { name: String, generation: u32 },
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
    /// Set by the first [`Supervisor::serve`]: restart policies apply from
    /// then on (an exit while the replica comes up fails the start).
    serving: bool,
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
            serving: false,
            stopping: false,
        })
    }

    /// Takes a spec under supervision and starts its first process.
    pub fn spawn(&mut self, spec: DaemonSpec) -> Result<(), SupervisorError> {
        let i = self.table.add(spec);
        self.start_process(i)
    }

    /// Starts a process of the spec at `i`, its next generation. The
    /// `Child` handle is dropped: the reaper collects its exit.
    fn start_process(&mut self, i: usize) -> Result<(), SupervisorError> {
        let spec = &self.table.get(i).spec;
        let child = launch_command(&self.launcher, spec)
            .and_then(|mut command| command.spawn())
            .map_err(|source| SupervisorError::Spawn { name: spec.name.clone(), source })?;
        tracing::info!(name = %spec.name, pid = child.id(), "spawned");
        self.table.launched(i, Pid::from_raw(child.id() as i32), Instant::now());
        Ok(())
    }

    /// Waits until every running daemon's probe passes. Fails when one
    /// exits, on timeout, or when asked to stop.
    pub async fn wait_ready(&mut self, timeout: Duration) -> Result<(), SupervisorError> {
        let deadline = Instant::now() + timeout;
        let mut interval = FIRST_PROBE_INTERVAL;
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
                _ = tokio::time::sleep(interval) => {}
                _ = self.sigchld.recv() => {}
                _ = stop_requested(&mut self.stop_signals) => return Err(SupervisorError::Interrupted),
            }
            interval = (interval * 2).min(PROBE_INTERVAL);
        }
    }

    /// Runs the probe of the daemon at `i`; records it started once it
    /// passes and returns its generation then.
    fn probe(&mut self, i: usize) -> Option<u32> {
        let supervised = self.table.get(i);
        let (spec, Some(process)) = (&supervised.spec, supervised.process) else { return None };
        if !spec.probe.passes() {
            return None;
        }
        self.observer.started(spec, process.generation, read_pidfile(&spec.pidfile).unwrap_or(process.pid.as_raw()));
        self.table.mark_ready(i);
        Some(process.generation)
    }

    /// Serves until SIGTERM, SIGINT or SIGHUP, or until a restarted daemon
    /// is ready (call again to go on): reaps and records exits, restarts
    /// daemons by their policy and probes restarted ones, killing one that
    /// is not ready within `ready_timeout` (a failure like any other).
    pub async fn serve(&mut self, ready_timeout: Duration) -> Served {
        self.serving = true;
        loop {
            self.reap();
            self.restart_due();
            let now = Instant::now();
            for i in self.table.unready() {
                if let Some(generation) = self.probe(i) {
                    return Served::Ready { name: self.table.get(i).spec.name.clone(), generation };
                }
                self.kill_if_late(i, now, ready_timeout);
            }
            let wake = match (self.table.unready().is_empty(), self.table.next_restart()) {
                (false, _) => Some(now + PROBE_INTERVAL),
                (true, at) => at,
            };
            let sleep = async {
                match wake {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = sleep => {}
                _ = self.sigchld.recv() => {}
                _ = stop_requested(&mut self.stop_signals) => return Served::StopRequested,
            }
        }
    }

    /// Spawns the next generation of every spec whose restart is due.
    fn restart_due(&mut self) {
        for i in self.table.restarts_due(Instant::now()) {
            self.table.get_mut(i).restart_at = None;
            if let Err(e) = self.start_process(i) {
                tracing::error!(name = %self.table.get(i).spec.name, "cannot restart: {e}");
                self.observer.restart_failed(&self.table.get(i).spec, &e);
            }
        }
    }

    /// SIGKILL to a restarted daemon still unready after `timeout`.
    fn kill_if_late(&self, i: usize, now: Instant, timeout: Duration) {
        let supervised = self.table.get(i);
        let Some(process) = supervised.process else { return };
        if now.duration_since(process.launched_at) >= timeout {
            tracing::warn!(name = %supervised.spec.name, process.generation, "not ready after {} s; killed", timeout.as_secs());
            let _ = killpg(process.pid, Signal::SIGKILL);
        }
    }

    /// TERM to every daemon's process group, then KILL after the grace
    /// period; returns once all are reaped.
    pub async fn shutdown(&mut self) {
        self.stopping = true;
        self.table.cancel_restarts();
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

    /// Reaps every exited child, our daemons, helpers and orphans
    /// re-parented to us; records and returns our daemons among them.
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

    /// Applies the spec's restart policy (a restart is scheduled, spawned
    /// by [`Supervisor::serve`]), then tells the observer.
    fn record_exit(&mut self, i: usize, exit: Exit) {
        let now = Instant::now();
        let (stopping, serving) = (self.stopping, self.serving);
        let supervised = self.table.get_mut(i);
        let Some(process) = supervised.process else { return };
        let next = match (stopping, serving) {
            (true, _) => AfterExit::Stopped,
            (false, false) => AfterExit::Down,
            (false, true) => supervised.spec.restart.after_failure(&mut supervised.failures, now),
        };
        let name = &supervised.spec.name;
        match next {
            AfterExit::Stopped => {}
            AfterExit::Down => tracing::warn!(name = %name, process.generation, %exit, "daemon exited unexpectedly"),
            AfterExit::Restart { delay, failures } => {
                tracing::warn!(name = %name, process.generation, %exit, failures, "daemon exited unexpectedly; restarting in {delay:?}");
                supervised.restart_at = Some(now + delay);
            }
            AfterExit::GaveUp { failures, window } => tracing::error!(
                name = %name, process.generation, %exit,
                "daemon exited unexpectedly, {failures} times within {} s; left stopped", window.as_secs()
            ),
        }
        self.observer.exited(&self.table.get(i).spec, process.generation, exit, next);
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
        let mut failures = Vec::new();
        assert_eq!(RestartPolicy::Never.after_failure(&mut failures, Instant::now()), AfterExit::Down);
        assert!(!AfterExit::Stopped.unexpected() && AfterExit::Down.unexpected());
    }

    #[test]
    fn restarts_back_off_exponentially_then_give_up() {
        let ms = Duration::from_millis;
        let window = Duration::from_secs(60);
        let policy = RestartPolicy::OnFailure { max_restarts: 3, window, backoff: ms(100) };
        let start = Instant::now();
        let mut failures = Vec::new();
        let delays: Vec<AfterExit> = (0..4).map(|n| policy.after_failure(&mut failures, start + ms(n))).collect();
        assert_eq!(
            delays,
            [
                AfterExit::Restart { delay: ms(100), failures: 1 },
                AfterExit::Restart { delay: ms(200), failures: 2 },
                AfterExit::Restart { delay: ms(400), failures: 3 },
                AfterExit::GaveUp { failures: 4, window },
            ]
        );
    }

    #[test]
    fn failures_older_than_the_window_are_forgotten() {
        let window = Duration::from_secs(60);
        let policy = RestartPolicy::OnFailure { max_restarts: 1, window, backoff: Duration::from_millis(100) };
        let start = Instant::now();
        let mut failures = Vec::new();
        assert!(matches!(policy.after_failure(&mut failures, start), AfterExit::Restart { failures: 1, .. }));
        let later = start + window + Duration::from_secs(1);
        assert!(matches!(policy.after_failure(&mut failures, later), AfterExit::Restart { failures: 1, .. }));
        assert!(matches!(policy.after_failure(&mut failures, later), AfterExit::GaveUp { failures: 2, .. }));
    }

    #[test]
    fn backoff_is_capped() {
        let policy = RestartPolicy::OnFailure {
            max_restarts: 100,
            window: Duration::from_secs(3600),
            backoff: Duration::from_secs(1),
        };
        let mut failures = Vec::new();
        let now = Instant::now();
        let last = (0..40).map(|_| policy.after_failure(&mut failures, now)).last().unwrap();
        assert_eq!(last, AfterExit::Restart { delay: MAX_BACKOFF, failures: 40 });
    }
}
