//! A replica's life: `start` (prepare working copies, enter the sandbox,
//! bring the daemons up under the supervisor, report) and `stop`.
//!
//! `start` runs single-threaded until the sandbox is spawned; the
//! supervisor (PID 1 of the replica) builds its own tokio runtime and
//! reports through the sandbox's notification pipe.

pub(crate) mod daemons;

use crate::capture::manifest::{Manifest, ManifestError};
use crate::capture::DbKind;
use crate::ovsdb::bridges;
use crate::ovsdb::prepare::{self, PrepareError};
use crate::sandbox::{self, Access, Bind, Notification, Notifications, Notifier, Sandbox, SandboxError};
use crate::state::{now, DaemonExit, DaemonState, PreparedDb, RunPhase, RunState};
use crate::supervisor::{self, DaemonSpec, Exit, Observer, Supervisor, SupervisorError};
use crate::tools::ToolError;
use crate::workdir::{Workdir, WorkdirError};
use daemons::Programs;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    #[error(
        "nothing collected in {}; collect a database first, e.g. 'ovs-offline collect-db-ovs /path/to/conf.db'",
        .0.display()
    )]
    NothingCollected(PathBuf),
    #[error(
        "a replica is already running in {} (supervisor pid {pid}); 'ovs-offline show' prints its sockets, \
         'ovs-offline stop' stops it",
        workdir.display()
    )]
    AlreadyRunning { workdir: PathBuf, pid: i32 },
    #[error("a replica is being started in {} by another ovs-offline; wait for it, or stop it", .0.display())]
    BeingStarted(PathBuf),
    #[error("a replica is starting in {}; wait for it, then stop it", .0.display())]
    StillStarting(PathBuf),
    #[error("collected data in {} is being changed by another ovs-offline; wait for it", .0.display())]
    Collecting(PathBuf),
    #[error(transparent)]
    Tool(#[from] ToolError),
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error(transparent)]
    Supervisor(#[from] SupervisorError),
    #[error(transparent)]
    Workdir(#[from] WorkdirError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// Making the working copy of a database.
    #[error(transparent)]
    Prepare(#[from] PrepareError),
    #[error("cannot find the ovs-offline executable")]
    Executable(#[source] std::io::Error),
    #[error("cannot read bridges from {}", socket.display())]
    Bridges { socket: PathBuf, source: std::io::Error },
    /// What the supervisor reported when it could not bring the replica up.
    #[error("{0}")]
    Failed(String),
    #[error("lost contact with the replica's supervisor")]
    LostContact(#[source] std::io::Error),
    #[error("the replica's supervisor exited during start ({}: {last_line})", log.display())]
    SupervisorExited { log: PathBuf, last_line: String },
    #[error("cannot signal the replica's supervisor (pid {pid})")]
    Signal { pid: Pid, source: nix::errno::Errno },
    #[error("the replica's supervisor (pid {pid}) did not stop; kill it with 'kill -9 {pid}'")]
    DidNotStop { pid: Pid },
}

type Result<T, E = ReplicaError> = std::result::Result<T, E>;

/// Options of `start`.
#[derive(Debug, Clone)]
pub struct StartOptions {
    /// How long daemons may take to become ready.
    pub timeout: Duration,
}

/// A replica that is up: what `start` hands to flow replay and the report.
#[derive(Debug, Clone)]
pub struct Started {
    pub dbs: Vec<PreparedDb>,
}

/// Starts the replica of what is collected in `workdir`; returns when
/// every daemon is ready.
pub fn start(workdir: &Workdir, options: &StartOptions) -> Result<Started> {
    let root = || workdir.root().to_path_buf();
    if !workdir.exists() {
        return Err(ReplicaError::NothingCollected(root()));
    }
    let Some(run_lock) = workdir.lock_run()? else {
        return Err(match workdir.load_state()?.run.and_then(|r| r.phase.supervisor_pid()) {
            Some(pid) => ReplicaError::AlreadyRunning { workdir: root(), pid },
            None => ReplicaError::BeingStarted(root()),
        });
    };
    // Collected data stays as read until the working copies are made.
    let Some(collect_lock) = workdir.try_lock_collect()? else {
        return Err(ReplicaError::Collecting(root()));
    };
    let collected = Manifest::load(workdir)?.collected;
    if collected.is_empty() {
        return Err(ReplicaError::NothingCollected(root()));
    }
    let with_vswitchd = collected.contains_key(&DbKind::Ovs);
    let programs = Programs::find(with_vswitchd)?;
    crate::tools::find("ovsdb-tool")?;
    if with_vswitchd {
        crate::tools::find("ovs-ofctl")?;
    }
    let launcher = std::env::current_exe().map_err(ReplicaError::Executable)?;
    // The supervisor keeps the run lock for the replica's whole life.
    let sandbox = sandbox(workdir, &launcher, &programs, run_lock.as_raw_fd());
    sandbox.preflight()?;

    workdir.remove_runtime_files()?;
    workdir.create_runtime_dirs()?;
    let prepared: Result<Vec<PreparedDb>> =
        collected.iter().map(|(kind, db)| Ok(prepare::prepare(workdir, *kind, &db.file)?)).collect();
    drop(collect_lock);
    let dbs = match prepared {
        Ok(dbs) => dbs,
        Err(e) => {
            let _ = workdir.remove_runtime_files();
            return Err(e);
        }
    };
    let run = RunState { started_at: now(), rootless: sandbox.rootless, dbs: dbs.clone(), ..Default::default() };
    workdir.update_state(|s| s.run = Some(run))?;

    let plan = Plan {
        workdir: workdir.clone(),
        programs,
        kinds: dbs.iter().map(|d| d.kind).collect(),
        timeout: options.timeout,
        launcher,
    };
    let spawned = sandbox::spawn(&sandbox, &workdir.log_file("supervisor"), |notify| plan.run(notify));
    let spawned = match spawned {
        Ok(spawned) => spawned,
        Err(e) => {
            abandon(workdir, None);
            return Err(e.into());
        }
    };
    // The supervisor inherited the locked file description: close ours
    // without unlocking, so the lock lives exactly as long as the replica.
    let lock_fd = run_lock.as_raw_fd();
    std::mem::forget(run_lock);
    let _ = nix::unistd::close(lock_fd);
    let supervisor_pid = spawned.pid.as_raw();
    update_run(workdir, |run| run.phase = RunPhase::Starting { supervisor_pid })?;
    if let Err(e) = wait_for_ready(workdir, spawned.notifications) {
        abandon(workdir, Some(spawned.pid));
        return Err(e);
    }
    update_run(workdir, |run| run.phase = RunPhase::Ready { supervisor_pid })?;
    Ok(Started { dbs })
}

/// Changes the state of the current run, if any.
fn update_run(workdir: &Workdir, f: impl FnOnce(&mut RunState)) -> Result<()> {
    Ok(workdir.update_state(|s| {
        if let Some(run) = &mut s.run {
            f(run);
        }
    })?)
}

/// Host system directories the daemons need, read-only in the sandbox
/// (those that exist).
const SYSTEM_DIRS: [&str; 8] = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc"];

/// The replica's view of the filesystem: system directories and the
/// programs read-only, the workdir read-write at its own path but its
/// collected data read-only, and the system OVS/OVN run directories
/// leading to the replica's own, so that no path a collected database
/// names (managers, connections, `pstream`, pcap files, …) reaches a host
/// file, socket or daemon. Everything else is empty.
fn sandbox(workdir: &Workdir, launcher: &Path, programs: &Programs, run_lock: RawFd) -> Sandbox {
    let system: Vec<&Path> = SYSTEM_DIRS.iter().map(Path::new).filter(|dir| dir.exists()).collect();
    let mut binds: Vec<Bind> = system.iter().map(|dir| Bind::read_only(*dir)).collect();
    let executables = [Some(&programs.ovsdb_server), programs.ovs_vswitchd.as_ref()];
    binds.extend(
        [launcher]
            .into_iter()
            .chain(executables.into_iter().flatten().map(PathBuf::as_path))
            .filter(|program| !system.iter().any(|dir| program.starts_with(dir)))
            .map(Bind::read_only),
    );
    binds.push(Bind::read_write(workdir.root()));
    binds.extend(workdir.collected_data().into_iter().filter(|path| path.exists()).map(Bind::read_only));
    for (target, source) in
        [("/run/openvswitch", workdir.run_dir(DbKind::Ovs)), ("/run/ovn", workdir.ovn_default_run_dir())]
    {
        binds.push(Bind { source, target: target.into(), access: Access::ReadWrite });
    }
    Sandbox::for_current_user(workdir.sandbox_root(), binds, vec![run_lock])
}

/// Reads the supervisor's notifications until it is ready or failed.
fn wait_for_ready(workdir: &Workdir, notifications: Notifications) -> Result<()> {
    for notification in notifications {
        match notification.map_err(ReplicaError::LostContact)? {
            Notification::Ready => return Ok(()),
            Notification::Error(message) => return Err(ReplicaError::Failed(message)),
            Notification::Pid(_) => {}
        }
    }
    let log = workdir.log_file("supervisor");
    let last_line = supervisor::log_tail(&log).lines().last().unwrap_or_default().to_string();
    Err(ReplicaError::SupervisorExited { log, last_line })
}

/// Takes down a replica that failed to start and removes its runtime files.
fn abandon(workdir: &Workdir, supervisor: Option<Pid>) {
    if let Some(pid) = supervisor {
        // PID 1 of the replica: killing it kills every daemon with it.
        let _ = kill(pid, Signal::SIGKILL);
        wait_until_stopped(workdir, Duration::from_secs(10));
    }
    let _ = forget_run(workdir);
}

/// Everything the supervisor needs, resolved before the sandbox exists.
struct Plan {
    workdir: Workdir,
    programs: Programs,
    kinds: Vec<DbKind>,
    timeout: Duration,
    launcher: PathBuf,
}

impl Plan {
    /// PID 1 of the replica.
    fn run(&self, mut notifier: Notifier) -> i32 {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                notifier.send(&Notification::Error(format!("cannot start the supervisor: {e}")));
                return 1;
            }
        };
        let observer = StateObserver { workdir: self.workdir.clone() };
        runtime.block_on(async {
            let mut supervisor = match Supervisor::new(self.launcher.clone(), &observer) {
                Ok(s) => s,
                Err(e) => {
                    notifier.send(&Notification::Error(e.to_string()));
                    return 1;
                }
            };
            let code = match self.bring_up(&mut supervisor).await {
                Ok(()) => {
                    notifier.send(&Notification::Ready);
                    drop(notifier);
                    supervisor.serve().await;
                    0
                }
                Err(e) => {
                    notifier.send(&Notification::Error(chain(&e)));
                    1
                }
            };
            supervisor.shutdown().await;
            tracing::info!("replica stopped");
            code
        })
    }

    /// ovsdb-servers first, then vswitchd once its database answers.
    async fn bring_up(&self, supervisor: &mut Supervisor<'_>) -> Result<()> {
        for kind in &self.kinds {
            supervisor.spawn(daemons::ovsdb_server(&self.workdir, &self.programs, *kind))?;
        }
        supervisor.wait_ready(self.timeout).await?;
        if let Some(vswitchd) = &self.programs.ovs_vswitchd {
            let socket = self.workdir.db_socket(DbKind::Ovs);
            let bridges = bridges::bridges(&socket).map_err(|source| ReplicaError::Bridges { socket, source })?;
            let names: Vec<String> = bridges.into_iter().map(|b| b.name).collect();
            supervisor.spawn(daemons::ovs_vswitchd(&self.workdir, vswitchd.clone(), &names))?;
            supervisor.wait_ready(self.timeout).await?;
        }
        Ok(())
    }
}

/// An error and its causes on one line, each cause once.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}

/// Records daemon starts and exits in the state file.
struct StateObserver {
    workdir: Workdir,
}

impl Observer for StateObserver {
    fn started(&self, spec: &DaemonSpec, generation: u32, host_pid: i32) {
        let daemon = DaemonState {
            name: spec.name.clone(),
            generation,
            pid: host_pid,
            started_at: now(),
            log: spec.log.clone(),
            ctl: daemons::control_socket(spec, host_pid),
            exit: None,
        };
        self.record(|run| run.daemon_started(daemon));
    }

    fn exited(&self, spec: &DaemonSpec, generation: u32, exit: Exit, unexpected: bool) {
        let exit = DaemonExit { how: exit, at: now(), unexpected };
        self.record(|run| {
            if !run.daemon_exited(&spec.name, generation, exit) {
                tracing::debug!(name = %spec.name, generation, "exit of a daemon never ready");
            }
        });
    }
}

impl StateObserver {
    fn record(&self, f: impl FnOnce(&mut RunState)) {
        if let Err(e) = update_run(&self.workdir, f) {
            tracing::warn!("cannot record daemon state: {}", chain(&e));
        }
    }
}

/// What `stop` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// The replica ran and is stopped now.
    Running,
    /// Its supervisor had ended on its own (killed, crashed, host
    /// rebooted); its runtime files were left over and are removed.
    Stale,
    /// Nothing ran.
    NotRunning,
}

/// Stops the replica running in `workdir`.
pub fn stop(workdir: &Workdir) -> Result<Stopped> {
    if !workdir.exists() {
        return Ok(Stopped::NotRunning);
    }
    let running = workdir.is_running()?;
    let run = workdir.load_state()?.run;
    if !running {
        if run.is_none() {
            return Ok(Stopped::NotRunning);
        }
        forget_run(workdir)?;
        return Ok(Stopped::Stale);
    }
    let Some(pid) = run.and_then(|r| r.phase.supervisor_pid()).map(Pid::from_raw) else {
        return Err(ReplicaError::StillStarting(workdir.root().to_path_buf()));
    };
    kill(pid, Signal::SIGTERM).map_err(|source| ReplicaError::Signal { pid, source })?;
    if !wait_until_stopped(workdir, Duration::from_secs(15)) {
        let _ = kill(pid, Signal::SIGKILL);
        if !wait_until_stopped(workdir, Duration::from_secs(5)) {
            return Err(ReplicaError::DidNotStop { pid });
        }
    }
    forget_run(workdir)?;
    Ok(Stopped::Running)
}

/// Removes a run's files and its state.
fn forget_run(workdir: &Workdir) -> Result<()> {
    workdir.remove_runtime_files()?;
    Ok(workdir.update_state(|s| s.run = None)?)
}

/// Waits until the supervisor released the run lock.
fn wait_until_stopped(workdir: &Workdir, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if matches!(workdir.is_running(), Ok(false)) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}
