//! A replica's life: `start` (prepare working copies, enter the sandbox,
//! bring the daemons up under the supervisor, report) and `stop`.
//!
//! `start` runs single-threaded until the sandbox is spawned; the
//! supervisor (PID 1 of the replica) builds its own tokio runtime.

pub mod daemons;

use crate::capture::manifest::Manifest;
use crate::capture::DbKind;
use crate::ovsdb::{bridges, prepare};
use crate::sandbox::{self, Bind, Sandbox};
use crate::state::{now, DaemonExit, DaemonState, PreparedDb, RunState};
use crate::supervisor::{self, DaemonSpec, Observer, Supervisor};
use crate::workdir::Workdir;
use anyhow::{anyhow, bail, Context, Result};
use daemons::Programs;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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
    let nothing = || {
        anyhow!(
            "nothing collected in {}; collect a database first, e.g. 'ovs-offline collect-db-ovs /path/to/conf.db'",
            workdir.root().display()
        )
    };
    if !workdir.exists() {
        return Err(nothing());
    }
    let Some(run_lock) = workdir.lock_run()? else {
        let w = workdir.root().display();
        match workdir.load_state()?.run.map(|r| r.supervisor_pid).filter(|&pid| pid > 0) {
            Some(pid) => bail!(
                "a replica is already running in {w} (supervisor pid {pid}); 'ovs-offline show' prints its sockets, \
                 'ovs-offline stop' stops it"
            ),
            None => bail!("a replica is being started in {w} by another ovs-offline; wait for it, or stop it"),
        }
    };
    // Collected data stays as read until the working copies are made.
    let Some(collect_lock) = workdir.try_lock_collect()? else {
        bail!("collected data in {} is being changed by another ovs-offline; wait for it", workdir.root().display());
    };
    let collected = Manifest::load(workdir)?.collected;
    if collected.is_empty() {
        return Err(nothing());
    }
    let with_vswitchd = collected.contains_key(&DbKind::Ovs);
    let programs = Programs::find(with_vswitchd)?;
    crate::tools::find("ovsdb-tool")?;
    if with_vswitchd {
        crate::tools::find("ovs-ofctl")?;
    }
    let sandbox = Sandbox::for_current_user(host_binds(workdir));
    sandbox.preflight()?;

    workdir.remove_runtime_files()?;
    workdir.create_runtime_dirs()?;
    let prepared: Result<Vec<PreparedDb>, prepare::PrepareError> =
        collected.iter().map(|(kind, db)| prepare::prepare(workdir, *kind, &db.file)).collect();
    drop(collect_lock);
    let dbs = match prepared {
        Ok(dbs) => dbs,
        Err(e) => {
            let _ = workdir.remove_runtime_files();
            return Err(e.into());
        }
    };
    let run = RunState { started_at: now(), rootless: sandbox.rootless, dbs: dbs.clone(), ..Default::default() };
    workdir.update_state(|s| s.run = Some(run))?;

    let launcher = std::env::current_exe().context("cannot find the ovs-offline executable")?;
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
    let lock_fd = std::os::fd::AsRawFd::as_raw_fd(&*run_lock);
    std::mem::forget(run_lock);
    let _ = nix::unistd::close(lock_fd);
    let supervisor_pid = spawned.pid.as_raw();
    workdir.update_state(|s| {
        if let Some(run) = &mut s.run {
            run.supervisor_pid = supervisor_pid;
        }
    })?;
    if let Err(e) = wait_for_ready(workdir, spawned.notify) {
        abandon(workdir, Some(spawned.pid));
        return Err(e);
    }
    workdir.update_state(|s| {
        if let Some(run) = &mut s.run {
            run.ready = true;
        }
    })?;
    Ok(Started { dbs })
}

/// Binds that point the system OVS/OVN run directories at the replica's
/// own, so no path in a collected database reaches the host's daemons.
fn host_binds(workdir: &Workdir) -> Vec<Bind> {
    [("/run/openvswitch", workdir.run_dir(DbKind::Ovs)), ("/run/ovn", workdir.ovn_default_run_dir())]
        .into_iter()
        .filter(|(target, _)| Path::new(target).is_dir())
        .map(|(target, source)| Bind { source, target: target.into() })
        .collect()
}

/// Reads the supervisor's notifications until `ready` or an error.
fn wait_for_ready(workdir: &Workdir, notify: File) -> Result<()> {
    for line in BufReader::new(notify).lines() {
        let line = line.context("lost contact with the replica's supervisor")?;
        if line == "ready" {
            return Ok(());
        }
        if let Some(message) = line.strip_prefix("error ") {
            let message: String = serde_json::from_str(message).unwrap_or_else(|_| message.to_string());
            bail!("{message}");
        }
    }
    let log = workdir.log_file("supervisor");
    let last = supervisor::log_tail(&log).lines().last().unwrap_or_default().to_string();
    Err(anyhow!("the replica's supervisor exited during start ({}: {last})", log.display()))
}

/// Takes down a replica that failed to start and removes its runtime files.
fn abandon(workdir: &Workdir, supervisor: Option<Pid>) {
    if let Some(pid) = supervisor {
        // PID 1 of the replica: killing it kills every daemon with it.
        let _ = kill(pid, Signal::SIGKILL);
        wait_until_stopped(workdir, Duration::from_secs(10));
    }
    let _ = workdir.remove_runtime_files();
    let _ = workdir.update_state(|s| s.run = None);
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
    fn run(&self, mut notify: File) -> i32 {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                let _ = writeln!(notify, "error {}", serde_json::json!(format!("cannot start the supervisor: {e}")));
                return 1;
            }
        };
        let observer = StateObserver { workdir: self.workdir.clone() };
        runtime.block_on(async {
            let mut supervisor = match Supervisor::new(self.launcher.clone(), &observer) {
                Ok(s) => s,
                Err(e) => {
                    let _ = writeln!(notify, "error {}", serde_json::json!(e.to_string()));
                    return 1;
                }
            };
            let code = match self.bring_up(&mut supervisor).await {
                Ok(()) => {
                    let _ = writeln!(notify, "ready");
                    drop(notify);
                    supervisor.serve().await;
                    0
                }
                Err(e) => {
                    let _ = writeln!(notify, "error {}", serde_json::json!(format!("{e:#}")));
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
            let bridges =
                bridges::bridges(&socket).with_context(|| format!("cannot read bridges from {}", socket.display()))?;
            let names: Vec<String> = bridges.into_iter().map(|b| b.name).collect();
            supervisor.spawn(daemons::ovs_vswitchd(&self.workdir, vswitchd.clone(), &names))?;
            supervisor.wait_ready(self.timeout).await?;
        }
        Ok(())
    }
}

/// Records daemon starts and exits in the state file.
struct StateObserver {
    workdir: Workdir,
}

impl Observer for StateObserver {
    fn started(&self, spec: &DaemonSpec, host_pid: i32) {
        let ctl =
            spec.pid_arg.as_ref().and_then(|a| a.split_once('=')).map(|(_, path)| {
                PathBuf::from(path.replace(supervisor::launch::PID_PLACEHOLDER, &host_pid.to_string()))
            });
        let daemon = DaemonState {
            name: spec.name.clone(),
            pid: host_pid,
            started_at: now(),
            log: spec.log.clone(),
            ctl,
            exit: None,
        };
        self.record(|run| run.daemons.push(daemon));
    }

    fn exited(&self, name: &str, status: &WaitStatus, unexpected: bool) {
        let (code, signal) = match status {
            WaitStatus::Exited(_, code) => (Some(*code), None),
            WaitStatus::Signaled(_, sig, _) => (None, Some(*sig as i32)),
            _ => (None, None),
        };
        let exit = DaemonExit { code, signal, at: now(), unexpected };
        self.record(|run| {
            if let Some(d) = run.daemons.iter_mut().find(|d| d.name == name) {
                d.exit = Some(exit);
            }
        });
    }
}

impl StateObserver {
    fn record(&self, f: impl FnOnce(&mut RunState)) {
        let result = self.workdir.update_state(|s| {
            if let Some(run) = &mut s.run {
                f(run);
            }
        });
        if let Err(e) = result {
            tracing::warn!("cannot record daemon state: {e:#}");
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
    if !workdir.is_running()? {
        if workdir.load_state()?.run.is_none() {
            return Ok(Stopped::NotRunning);
        }
        workdir.remove_runtime_files()?;
        workdir.update_state(|s| s.run = None)?;
        return Ok(Stopped::Stale);
    }
    let pid = workdir.load_state()?.run.map(|r| r.supervisor_pid).filter(|&p| p > 0);
    let Some(pid) = pid.map(Pid::from_raw) else {
        bail!("a replica is starting in {}; wait for it, then stop it", workdir.root().display());
    };
    kill(pid, Signal::SIGTERM).with_context(|| format!("cannot signal the replica's supervisor (pid {pid})"))?;
    if !wait_until_stopped(workdir, Duration::from_secs(15)) {
        let _ = kill(pid, Signal::SIGKILL);
        if !wait_until_stopped(workdir, Duration::from_secs(5)) {
            bail!("the replica's supervisor (pid {pid}) did not stop; kill it with 'kill -9 {pid}'");
        }
    }
    workdir.remove_runtime_files()?;
    workdir.update_state(|s| s.run = None)?;
    Ok(Stopped::Running)
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
