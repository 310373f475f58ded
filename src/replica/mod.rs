//! A replica's life: `start` (prepare working copies, enter the sandbox,
//! bring the daemons up under the supervisor, report) and `stop`.
//!
//! `start` runs single-threaded until the sandbox is spawned; the
//! supervisor (PID 1 of the replica) builds its own tokio runtime and
//! reports through the sandbox's notification pipe: ready, then (with an
//! OVS database) restored, once it replayed the OpenFlow state
//! ([`restore`]; it replays again after each vswitchd restart). `start`
//! waits for both ([`Started::restore`]); interrupted before the replica is
//! up it takes the replica down, during the restore it leaves the replica
//! restoring ([`reports`]). `stop` during a restore interrupts it, and
//! says so.

pub(crate) mod daemons;
pub mod ovs_root;
mod reports;
pub mod restore;

use crate::capture::manifest::{Manifest, ManifestError};
use crate::capture::DbKind;
use crate::ovsdb::bridges;
use crate::ovsdb::prepare::{self, PrepareError};
use crate::replay::ReplayReport;
use crate::sandbox::{self, Access, Bind, Notification, Notifier, Sandbox, SandboxError};
use crate::state::{now, DaemonExit, DaemonState, PreparedDb, ReplayOutcome, RootVersions, RunPhase, RunState};
use crate::supervisor::{self, AfterExit, DaemonSpec, Exit, Observer, Served, Supervisor, SupervisorError};
use crate::tools::ToolError;
use crate::workdir::{Workdir, WorkdirError};
use daemons::Programs;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use ovs_root::{OvsRoot, OvsRootError};
use reports::{Heard, Reports};
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
        "only OpenFlow dumps are collected in {}, no database: a replica needs the OVS database; collect it, \
         e.g. 'ovs-offline collect-db-ovs /path/to/conf.db'",
        .0.display()
    )]
    FlowsWithoutDatabase(PathBuf),
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
    #[error(
        "too little free space on the file system of {} ({} KiB free, about {} KiB needed for working copies and \
         logs); free some space there, or start the replica in another working directory with -w",
        workdir.display(), free / 1024, needed / 1024
    )]
    NoSpace { workdir: PathBuf, free: u64, needed: u64 },
    #[error("cannot signal the replica's supervisor (pid {pid})")]
    Signal { pid: Pid, source: nix::errno::Errno },
    #[error("the replica's supervisor (pid {pid}) did not stop; kill it with 'kill -9 {pid}'")]
    DidNotStop { pid: Pid },
    #[error("start interrupted by {signal}; the replica in {} was taken down", workdir.display())]
    Interrupted { workdir: PathBuf, signal: &'static str },
    #[error(
        "start interrupted by {signal}; the replica in {} keeps running and restoring its OpenFlow state: \
         see 'ovs-offline -w {} status'",
        workdir.display(), workdir.display()
    )]
    StillRestoring { workdir: PathBuf, signal: &'static str },
    #[error("the replica in {} was stopped while its OpenFlow state was being restored (the restore was interrupted)", .0.display())]
    StoppedDuringRestore(PathBuf),
    /// Flow replay could not run at all (the replica runs without it).
    #[error("{0}")]
    NotRestored(String),
    #[error(transparent)]
    OvsRoot(#[from] OvsRootError),
    #[error(
        "the --ovs-root this workdir remembers is unusable: {source}; give another with 'ovs-offline -w {} start \
         --ovs-root DIR' or run the local OVS/OVN with 'ovs-offline -w {} start --no-ovs-root'",
        workdir.display(), workdir.display()
    )]
    RememberedRoot { workdir: PathBuf, source: OvsRootError },
}

type Result<T, E = ReplicaError> = std::result::Result<T, E>;

/// Options of `start`.
#[derive(Debug, Clone)]
pub struct StartOptions {
    /// How long daemons may take to become ready.
    pub timeout: Duration,
    /// Where the daemons come from.
    pub ovs_root: RootChoice,
}

/// `start`'s choice of OVS/OVN programs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootChoice {
    /// The workdir's setting: the `--ovs-root` given last, else the local ones.
    Remembered,
    /// `--ovs-root DIR`: DIR's, remembered for the next starts.
    Set(PathBuf),
    /// `--no-ovs-root`: the local ones, and forget the setting.
    Local,
}

/// A replica that is up: what `start` reports.
pub struct Started {
    pub dbs: Vec<PreparedDb>,
    /// With an OVS database: the supervisor restores the OpenFlow state.
    pub restore: Option<Restoring>,
}

/// The supervisor's first replay of the OpenFlow state, still running.
pub struct Restoring {
    reports: Reports,
}

impl Restoring {
    /// Waits until the supervisor restored the OpenFlow state; what it
    /// restored. Fails when `start` is interrupted meanwhile (the replica
    /// goes on), when the replica stops, or when nothing could be replayed
    /// ([`ReplicaError::NotRestored`]).
    pub fn wait(mut self, workdir: &Workdir) -> Result<ReplayReport> {
        let stopped = || ReplicaError::StoppedDuringRestore(workdir.root().to_path_buf());
        loop {
            match self.reports.next().map_err(ReplicaError::LostContact)? {
                Heard::Notification(Notification::Restored) => break,
                Heard::Notification(_) => {}
                Heard::End => return Err(stopped()),
                Heard::Signal(signal) => {
                    return Err(ReplicaError::StillRestoring {
                        workdir: workdir.root().into(),
                        signal: signal.as_str(),
                    })
                }
            }
        }
        let run = workdir.load_state()?.run.ok_or_else(stopped)?;
        match run.replay.map(|r| r.outcome) {
            Some(ReplayOutcome::Finished { notes, .. }) => Ok(ReplayReport { bridges: run.restore, notes }),
            Some(ReplayOutcome::Failed { error, .. }) => Err(ReplicaError::NotRestored(error)),
            _ => Err(stopped()),
        }
    }
}

impl Started {
    /// Writes `bin/activate`, then waits for the first restore of the
    /// OpenFlow state (with an OVS database): what `start` reports, and
    /// what a workspace waits for before it uses a node's replica.
    pub fn finish(self, workdir: &Workdir) -> Result<Finished> {
        crate::activate::write(workdir)?;
        let (restored, restore_error) = match self.restore.map(|restoring| restoring.wait(workdir)) {
            None => (None, None),
            Some(Ok(report)) => (Some(report), None),
            Some(Err(ReplicaError::NotRestored(error))) => (None, Some(error)),
            Some(Err(e)) => return Err(e),
        };
        Ok(Finished { dbs: self.dbs, restored, restore_error })
    }
}

/// A replica that is up, its OpenFlow state restored (or why it was not).
pub struct Finished {
    pub dbs: Vec<PreparedDb>,
    pub restored: Option<ReplayReport>,
    /// Why the OpenFlow state was not restored, when replay could not run.
    pub restore_error: Option<String>,
}

impl Finished {
    /// Bridges whose OpenFlow state was not restored: replay failed on
    /// them, or none of their dumped flows went in.
    pub fn unrestored_bridges(&self) -> Vec<&str> {
        let bridges = self.restored.iter().flat_map(|r| &r.bridges);
        bridges
            .filter(|b| b.error.is_some() || (b.flows.expected > 0 && b.flows.restored == 0))
            .map(|b| b.bridge.as_str())
            .collect()
    }
}

/// Starts the replica of what is collected in `workdir`; returns when
/// every daemon is ready.
pub fn start(workdir: &Workdir, options: &StartOptions) -> Result<Started> {
    let root = || workdir.root().to_path_buf();
    if !workdir.exists() {
        return Err(ReplicaError::NothingCollected(root()));
    }
    // Checked first: a bad --ovs-root leaves the workdir as it was.
    let ovs_root = choose_root(workdir, &options.ovs_root)?;
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
    let manifest = Manifest::load(workdir)?;
    if manifest.collected.is_empty() {
        return Err(match manifest.flows {
            Some(_) => ReplicaError::FlowsWithoutDatabase(root()),
            None => ReplicaError::NothingCollected(root()),
        });
    }
    let collected = manifest.collected;
    check_space(workdir, collected.values().map(|db| db.size).sum())?;
    let with_vswitchd = collected.contains_key(&DbKind::Ovs);
    let programs = match &ovs_root {
        Some(root) => root_programs(root, with_vswitchd)?,
        None => Programs::find(with_vswitchd)?,
    };
    crate::tools::find("ovsdb-tool")?;
    if with_vswitchd && ovs_root.is_none() {
        crate::tools::find("ovs-ofctl")?;
    }
    let host_launcher = std::env::current_exe().map_err(ReplicaError::Executable)?;
    // The supervisor keeps the run lock for the replica's whole life.
    let sandbox = sandbox(workdir, &host_launcher, &programs, ovs_root.as_ref(), run_lock.as_raw_fd());
    sandbox.preflight()?;

    workdir.remove_runtime_files()?;
    workdir.create_runtime_dirs()?;
    let schema_dir = |kind: DbKind| ovs_root.as_ref().map(|root| root.schema_dir(kind));
    let prepared: Result<Vec<PreparedDb>> = collected
        .iter()
        .map(|(kind, db)| Ok(prepare::prepare(workdir, *kind, &db.file, schema_dir(*kind).as_deref())?))
        .collect();
    drop(collect_lock);
    let dbs = match prepared {
        Ok(dbs) => dbs,
        Err(e) => {
            let _ = workdir.remove_runtime_files();
            return Err(e);
        }
    };
    let run = RunState {
        started_at: now(),
        rootless: sandbox.rootless,
        dbs: dbs.clone(),
        ovs_root: ovs_root.as_ref().map(|root| RootVersions { dir: root.dir().to_path_buf(), ..Default::default() }),
        ..Default::default()
    };
    workdir.update_state(|s| {
        s.settings.ovs_root = ovs_root.as_ref().map(|r| r.dir().to_path_buf());
        s.run = Some(run);
    })?;

    let plan = Plan {
        workdir: workdir.clone(),
        from_root: ovs_root.is_some(),
        programs,
        kinds: dbs.iter().map(|d| d.kind).collect(),
        timeout: options.timeout,
        launcher: match ovs_root {
            Some(_) => PathBuf::from(ovs_root::LAUNCHER),
            None => host_launcher,
        },
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
    let ready = Reports::new(spawned.notifications)
        .map_err(ReplicaError::LostContact)
        .and_then(|mut reports| wait_for_ready(workdir, &mut reports).map(|()| reports));
    let reports = match ready {
        Ok(reports) => reports,
        Err(e) => {
            abandon(workdir, Some(spawned.pid));
            return Err(e);
        }
    };
    update_run(workdir, |run| run.phase = RunPhase::Ready { supervisor_pid })?;
    Ok(Started { dbs, restore: with_vswitchd.then_some(Restoring { reports }) })
}

/// The root the daemons run from, validated: `--ovs-root`'s, or the one
/// remembered in the workdir. Changes nothing.
fn choose_root(workdir: &Workdir, choice: &RootChoice) -> Result<Option<OvsRoot>> {
    match choice {
        RootChoice::Set(dir) => Ok(Some(OvsRoot::open(dir)?)),
        RootChoice::Local => Ok(None),
        RootChoice::Remembered => match workdir.load_state()?.settings.ovs_root {
            Some(dir) => OvsRoot::open(&dir)
                .map(Some)
                .map_err(|source| ReplicaError::RememberedRoot { workdir: workdir.root().into(), source }),
            None => Ok(None),
        },
    }
}

/// The daemons inside a sandbox whose system directories are `root`'s,
/// with the `ovs-ofctl` the replay runs there.
fn root_programs(root: &OvsRoot, with_vswitchd: bool) -> Result<Programs> {
    let missing = |program: &'static str| OvsRootError::Missing { dir: root.dir().into(), missing: vec![program] };
    let ovsdb_server = root.program("ovsdb-server").ok_or_else(|| missing("ovsdb-server"))?;
    let ovs_vswitchd = match with_vswitchd {
        true => {
            root.program("ovs-ofctl").ok_or_else(|| missing("ovs-ofctl"))?;
            Some(root.program("ovs-vswitchd").ok_or_else(|| missing("ovs-vswitchd"))?)
        }
        false => None,
    };
    Ok(Programs { ovsdb_server, ovs_vswitchd })
}

/// Changes the state of the current run, if any; what `f` returned.
fn update_run<T>(workdir: &Workdir, f: impl FnOnce(&mut RunState) -> T) -> Result<Option<T>> {
    Ok(workdir.update_state(|s| s.run.as_mut().map(f))?)
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
fn sandbox(
    workdir: &Workdir,
    launcher: &Path,
    programs: &Programs,
    ovs_root: Option<&OvsRoot>,
    run_lock: RawFd,
) -> Sandbox {
    let mut binds = match ovs_root {
        Some(root) => root_binds(root, launcher),
        None => host_binds(launcher, programs),
    };
    binds.push(Bind::read_write(workdir.root()));
    binds.extend(workdir.collected_data().into_iter().filter(|path| path.exists()).map(Bind::read_only));
    for (target, source) in
        [("/run/openvswitch", workdir.run_dir(DbKind::Ovs)), ("/run/ovn", workdir.ovn_default_run_dir())]
    {
        binds.push(Bind { source, target: target.into(), access: Access::ReadWrite });
    }
    Sandbox::for_current_user(workdir.sandbox_root(), binds, vec![run_lock])
}

/// The host's system directories, the launcher and the daemons.
fn host_binds(launcher: &Path, programs: &Programs) -> Vec<Bind> {
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
    binds
}

/// The root's system directories (its programs among them), and the
/// launcher at [`ovs_root::LAUNCHER`], wherever it is on the host.
fn root_binds(root: &OvsRoot, launcher: &Path) -> Vec<Bind> {
    let mut binds = root.system_binds(&SYSTEM_DIRS);
    let target = PathBuf::from(ovs_root::LAUNCHER);
    binds.push(Bind { source: launcher.to_path_buf(), target, access: Access::ReadOnly });
    binds
}

/// Reads the supervisor's notifications until it is ready or failed, or
/// `start` is interrupted.
fn wait_for_ready(workdir: &Workdir, reports: &mut Reports) -> Result<()> {
    loop {
        match reports.next().map_err(ReplicaError::LostContact)? {
            Heard::Notification(Notification::Ready) => return Ok(()),
            Heard::Notification(Notification::Error(message)) => return Err(ReplicaError::Failed(message)),
            Heard::Notification(Notification::Pid(_) | Notification::Restored) => {}
            Heard::Signal(signal) => {
                return Err(ReplicaError::Interrupted { workdir: workdir.root().into(), signal: signal.as_str() })
            }
            Heard::End => break,
        }
    }
    // A supervisor that cannot even write its log says nothing: a full
    // disk is the likely cause, name it.
    check_space(workdir, 0)?;
    let log = workdir.log_file("supervisor");
    let last_line = supervisor::log_tail(&log).lines().last().unwrap_or_default().to_string();
    Err(ReplicaError::SupervisorExited { log, last_line })
}

/// Room the daemons' logs, sockets and the run state need beyond the
/// working copies of the databases.
const RUNTIME_BYTES: u64 = 1 << 20;

/// Refuses to go on when the workdir's file system cannot hold the working
/// copies of `db_bytes` of databases and the replica's logs.
fn check_space(workdir: &Workdir, db_bytes: u64) -> Result<()> {
    let needed = db_bytes + RUNTIME_BYTES;
    match workdir.free_space() {
        Ok(free) if free < needed => Err(ReplicaError::NoSpace { workdir: workdir.root().into(), free, needed }),
        _ => Ok(()),
    }
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
    /// The daemons come from an `--ovs-root` (the sandbox's system dirs).
    from_root: bool,
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
            if self.from_root {
                self.record_root_versions();
            }
            let code = match self.bring_up(&mut supervisor).await {
                Ok(()) => {
                    self.serve(&mut supervisor, notifier).await;
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

    /// Serves a replica that is up until asked to stop: replays the
    /// OpenFlow state into vswitchd (after its first start, then after each
    /// restart; one replay at a time, a restart during a replay queues the
    /// next), tells `start` once the first replay ended, and interrupts a
    /// replay still running when the replica stops.
    async fn serve(&self, supervisor: &mut Supervisor<'_>, mut notifier: Notifier) {
        let with_vswitchd = self.programs.ovs_vswitchd.is_some();
        let mut replay = if with_vswitchd { self.replay(0) } else { None };
        notifier.send(&Notification::Ready);
        // `start` waits for the first replay's end, if there is one.
        let mut waiting = replay.is_some().then_some(notifier);
        let mut queued: Option<u32> = None;
        loop {
            tokio::select! {
                served = supervisor.serve(self.timeout) => match served {
                    Served::StopRequested => break,
                    Served::Ready { name, generation } if name == daemons::VSWITCHD => match replay {
                        Some(_) => queued = Some(generation),
                        None => replay = self.replay(generation),
                    },
                    Served::Ready { .. } => {}
                },
                () = finished(&mut replay, &self.workdir) => {
                    if let Some(mut notifier) = waiting.take() {
                        notifier.send(&Notification::Restored);
                    }
                    replay = queued.take().and_then(|generation| self.replay(generation));
                }
            }
        }
        if let Some(replay) = replay {
            tracing::warn!("stopped during the OpenFlow restore; interrupting it");
            replay.interrupt(&self.workdir).await;
        }
    }

    /// Starts a replay into vswitchd `generation`; `None` when its helper
    /// cannot run (recorded as failed).
    fn replay(&self, generation: u32) -> Option<restore::Replay> {
        restore::Replay::start(&self.launcher, &self.workdir, generation)
            .inspect_err(|e| tracing::error!("cannot start the OpenFlow replay: {e}"))
            .ok()
    }

    /// Records the versions the root's programs print (the sandbox's
    /// programs are the root's), for `status`.
    fn record_root_versions(&self) {
        let version = |tool: &str, parse: fn(&str) -> Option<String>| {
            crate::tools::run(tool, ["--version"]).ok().and_then(|text| parse(&text))
        };
        let ovs = version("ovs-vswitchd", crate::ofp_text::versions::ovs);
        let ovn = version("ovn-nbctl", crate::ofp_text::versions::ovn);
        let recorded = update_run(&self.workdir, |run| {
            if let Some(root) = run.ovs_root.as_mut() {
                root.ovs = ovs;
                root.ovn = ovn;
            }
        });
        if let Err(e) = recorded {
            tracing::warn!("cannot record the --ovs-root's versions: {}", chain(&e));
        }
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

/// Once the running replay (if any) ended and was recorded.
async fn finished(replay: &mut Option<restore::Replay>, workdir: &Workdir) {
    match replay {
        Some(running) => {
            running.finish(workdir).await;
            *replay = None;
        }
        None => std::future::pending().await,
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

    /// Records the exit and what follows; removes the control socket a
    /// killed daemon left behind.
    fn exited(&self, spec: &DaemonSpec, generation: u32, exit: Exit, next: AfterExit) {
        let name = spec.name.as_str();
        let exit = DaemonExit { how: exit, at: now(), unexpected: next.unexpected() };
        let ctl = self.record(|run| {
            if !run.daemon_exited(name, generation, exit.clone()) {
                tracing::debug!(name, generation, "exit of a daemon never ready");
            }
            match next {
                AfterExit::Stopped => {}
                AfterExit::Down => run.daemon_failed(name, exit, false, None),
                AfterExit::Restart { .. } => run.daemon_failed(name, exit, true, None),
                AfterExit::GaveUp { failures, window } => {
                    let why = format!("exited {failures} times within {} s", window.as_secs());
                    run.daemon_failed(name, exit, false, Some(why));
                }
            }
            run.daemons.iter().find(|d| d.name == name && d.generation == generation).and_then(|d| d.ctl.clone())
        });
        if let Some(ctl) = ctl.flatten().filter(|_| next.unexpected()) {
            let _ = std::fs::remove_file(ctl);
        }
    }

    fn restart_failed(&self, spec: &DaemonSpec, error: &SupervisorError) {
        self.record(|run| run.daemon_given_up(&spec.name, format!("cannot restart: {}", chain(error))));
    }
}

impl StateObserver {
    fn record<T>(&self, f: impl FnOnce(&mut RunState) -> T) -> Option<T> {
        match update_run(&self.workdir, f) {
            Ok(out) => out,
            Err(e) => {
                tracing::warn!("cannot record daemon state: {}", chain(&e));
                None
            }
        }
    }
}

/// What `stop` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// The replica ran and is stopped now; `restore_interrupted` when it
    /// was still restoring its OpenFlow state.
    Running { restore_interrupted: bool },
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
    let replay = workdir.load_state()?.run.and_then(|r| r.replay);
    let restore_interrupted = replay.is_some_and(|r| matches!(r.outcome, ReplayOutcome::Interrupted { .. }));
    forget_run(workdir)?;
    Ok(Stopped::Running { restore_interrupted })
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
