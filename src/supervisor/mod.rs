//! The supervisor: PID 1 of a replica. Spawns daemons from specs, probes
//! their readiness, reaps every child (its own and orphans), records exits
//! and takes the whole replica down on SIGTERM/SIGINT/SIGHUP.
//!
//! It knows daemons as [`DaemonSpec`]s (argv, env, pidfile, log, probe), not
//! as OVS concepts. Each daemon runs in its own process group; shutdown is
//! TERM to every group, a grace period, then KILL.

pub mod launch;

use nix::sys::signal::{killpg, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::ffi::OsString;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio::signal::unix::{signal, Signal as SignalStream, SignalKind};

const PROBE_INTERVAL: Duration = Duration::from_millis(10);
const GRACE: Duration = Duration::from_secs(5);

/// When a daemon counts as ready.
#[derive(Debug, Clone)]
pub enum Probe {
    /// An OVSDB server answers `list_dbs` on this socket.
    OvsdbAnswers(PathBuf),
    /// Every one of these paths exists (e.g. bridge `.mgmt` sockets).
    PathsExist(Vec<PathBuf>),
}

impl Probe {
    fn passes(&self) -> bool {
        match self {
            Probe::OvsdbAnswers(socket) => crate::ovsdb::client::list_dbs(socket).is_ok(),
            Probe::PathsExist(paths) => paths.iter().all(|p| p.exists()),
        }
    }
}

/// One supervised daemon.
#[derive(Debug, Clone)]
pub struct DaemonSpec {
    /// Unique label, e.g. `ovsdb-server-ovs`.
    pub name: String,
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub env: Vec<(String, PathBuf)>,
    /// Pidfile written (with the host pid) and locked before exec.
    pub pidfile: PathBuf,
    /// Extra last argument with [`launch::PID_PLACEHOLDER`] replaced by the
    /// host pid, e.g. `--unixctl=…/ovs-vswitchd.{pid}.ctl`.
    pub pid_arg: Option<String>,
    /// Receives the daemon's stdout and stderr.
    pub log: PathBuf,
    pub probe: Probe,
}

/// What happened to a daemon, for the caller to record.
pub trait Observer {
    fn started(&self, spec: &DaemonSpec, host_pid: i32);
    fn exited(&self, name: &str, status: &WaitStatus, unexpected: bool);
}

#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error("cannot start {name}: {source}")]
    Spawn { name: String, source: std::io::Error },
    #[error("{name} exited during start ({status}); last lines of {log}:\n{tail}")]
    ExitedEarly { name: String, status: String, log: String, tail: String },
    #[error("{name} not ready after {secs} s; last lines of {log}:\n{tail}")]
    Timeout { name: String, secs: u64, log: String, tail: String },
    #[error("stopped by a signal during start")]
    Interrupted,
    #[error("cannot set up signal handling: {0}")]
    Signals(std::io::Error),
}

struct Running {
    spec: DaemonSpec,
    pid: Pid,
    status: Option<WaitStatus>,
    ready: bool,
}

impl Running {
    fn exited(&self) -> bool {
        self.status.is_some()
    }
}

pub struct Supervisor<'a> {
    launcher: PathBuf,
    observer: &'a dyn Observer,
    daemons: Vec<Running>,
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
            daemons: Vec::new(),
            sigchld: sig(SignalKind::child())?,
            stop_signals: [sig(SignalKind::terminate())?, sig(SignalKind::interrupt())?, sig(SignalKind::hangup())?],
            stopping: false,
        })
    }

    /// Starts a daemon through the launcher, in its own process group.
    pub fn spawn(&mut self, spec: DaemonSpec) -> Result<(), SupervisorError> {
        let spawn_err = |source| SupervisorError::Spawn { name: spec.name.clone(), source };
        let log = OpenOptions::new().create(true).append(true).open(&spec.log).map_err(spawn_err)?;
        let mut command = Command::new(&self.launcher);
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
            .stdout(log.try_clone().map_err(spawn_err)?)
            .stderr(log);
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command.spawn().map_err(spawn_err)?;
        tracing::info!(name = %spec.name, pid = child.id(), "spawned");
        self.daemons.push(Running { spec, pid: Pid::from_raw(child.id() as i32), status: None, ready: false });
        Ok(())
    }

    /// Waits until every running daemon's probe passes. Fails when one
    /// exits, on timeout, or when asked to stop.
    pub async fn wait_ready(&mut self, timeout: Duration) -> Result<(), SupervisorError> {
        let deadline = Instant::now() + timeout;
        let mut pending: Vec<usize> = (0..self.daemons.len()).filter(|&i| !self.daemons[i].ready).collect();
        loop {
            if let Some(err) = self.reap_during_start() {
                return Err(err);
            }
            for &i in &pending {
                let d = &mut self.daemons[i];
                if d.spec.probe.passes() {
                    d.ready = true;
                    self.observer.started(&d.spec, read_pidfile(&d.spec.pidfile).unwrap_or(d.pid.as_raw()));
                }
            }
            pending.retain(|&i| !self.daemons[i].ready);
            if pending.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let spec = &self.daemons[pending[0]].spec;
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
        while self.daemons.iter().any(|d| !d.exited()) {
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
        for d in self.daemons.iter().filter(|d| !d.exited()) {
            let _ = killpg(d.pid, signal);
        }
    }

    /// Reaps every exited child: our daemons and orphans re-parented to us.
    fn reap(&mut self) -> Vec<usize> {
        let mut exited = Vec::new();
        while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            let Some(pid) = status.pid() else { break };
            if let Some(i) = self.daemons.iter().position(|d| d.pid == pid && !d.exited()) {
                let d = &mut self.daemons[i];
                d.status = Some(status);
                if !self.stopping {
                    tracing::warn!(name = %d.spec.name, ?status, "daemon exited unexpectedly");
                }
                self.observer.exited(&d.spec.name, &status, !self.stopping);
                exited.push(i);
            }
        }
        exited
    }

    fn reap_during_start(&mut self) -> Option<SupervisorError> {
        let i = *self.reap().first()?;
        let Running { spec, status, .. } = &self.daemons[i];
        Some(SupervisorError::ExitedEarly {
            name: spec.name.clone(),
            status: status.map(describe).unwrap_or_default(),
            log: spec.log.display().to_string(),
            tail: log_tail(&spec.log),
        })
    }
}

async fn stop_requested(signals: &mut [SignalStream; 3]) {
    let [term, int, hup] = signals;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
        _ = hup.recv() => {}
    }
}

/// "exit code 1", "killed by SIGSEGV".
pub fn describe(status: WaitStatus) -> String {
    match status {
        WaitStatus::Exited(_, code) => format!("exit code {code}"),
        WaitStatus::Signaled(_, signal, _) => format!("killed by {signal}"),
        other => format!("{other:?}"),
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
