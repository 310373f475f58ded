//! The working directory: every path of a replica and its state file.
//!
//! Layout (compatible with the container-based `ovs-offline`):
//! `db/{ovs,ovn_nb,ovn_sb}/` collected originals, `restore_flows/`,
//! `var-run/{ovs,ovn_nb,ovn_sb}/` sockets, `bin/activate`, plus `log/`,
//! `replica/` (working copies the daemons serve) and `state.json`.
//! No other module joins workdir paths by hand.

use crate::capture::DbKind;
use crate::state::State;
use anyhow::{bail, Context, Result};
use nix::fcntl::{Flock, FlockArg};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub const DEFAULT_WORKDIR: &str = "/tmp/ovs-offline";

#[derive(Debug, Clone)]
pub struct Workdir {
    root: PathBuf,
}

impl Workdir {
    /// Names a workdir; nothing is created. Relative paths are made absolute
    /// because they end up in sockets, scripts and daemon arguments.
    pub fn new(root: &Path) -> Result<Workdir> {
        let root = std::path::absolute(root)
            .with_context(|| format!("cannot resolve working directory {}", root.display()))?;
        if root.exists() && !root.is_dir() {
            bail!("working directory {} exists and is not a directory; choose another with -w DIR", root.display());
        }
        Ok(Workdir { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn exists(&self) -> bool {
        self.root.is_dir()
    }

    /// Creates the workdir (mode 0700) and its collected-data directories.
    pub fn create(&self) -> Result<()> {
        if !self.root.exists() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&self.root)
                .with_context(|| format!("cannot create working directory {}", self.root.display()))?;
            fs::set_permissions(&self.root, fs::Permissions::from_mode(0o700))?;
        }
        for kind in DbKind::ALL {
            mkdir(&self.db_dir(kind))?;
        }
        mkdir(&self.restore_flows_dir())?;
        mkdir(&self.log_dir())
    }

    /// Creates the directories a running replica needs.
    pub fn create_runtime_dirs(&self) -> Result<()> {
        for kind in DbKind::ALL {
            mkdir(&self.run_dir(kind))?;
        }
        mkdir(&self.ovn_default_run_dir())?;
        mkdir(&self.bin_dir())?;
        mkdir(&self.replica_dir())?;
        mkdir(&self.log_dir())
    }

    /// Removes what a run leaves behind; collected data stays.
    pub fn remove_runtime_files(&self) -> Result<()> {
        for dir in [self.var_run_dir(), self.replica_dir()] {
            remove_dir_if_exists(&dir)?;
        }
        remove_file_if_exists(&self.activate_script())?;
        let bin = self.bin_dir();
        if bin.is_dir() && fs::read_dir(&bin)?.next().is_none() {
            fs::remove_dir(&bin)?;
        }
        Ok(())
    }

    pub fn db_dir(&self, kind: DbKind) -> PathBuf {
        self.root.join("db").join(kind.dir_name())
    }

    pub fn collected_db(&self, kind: DbKind, file: &str) -> PathBuf {
        self.db_dir(kind).join(file)
    }

    pub fn restore_flows_dir(&self) -> PathBuf {
        self.root.join("restore_flows")
    }

    /// Where `collect-flows` assembles a new `restore_flows/`.
    pub fn restore_flows_staging(&self) -> PathBuf {
        self.root.join(".restore_flows.new")
    }

    pub fn var_run_dir(&self) -> PathBuf {
        self.root.join("var-run")
    }

    /// `var-run/<kind>/`: the database socket, and for `ovs` also
    /// vswitchd's control and bridge management sockets.
    pub fn run_dir(&self, kind: DbKind) -> PathBuf {
        self.var_run_dir().join(kind.dir_name())
    }

    /// Stands in for the system OVN run directory (`/run/ovn`) inside the
    /// replica's mount namespace.
    pub fn ovn_default_run_dir(&self) -> PathBuf {
        self.var_run_dir().join("ovn")
    }

    pub fn db_socket(&self, kind: DbKind) -> PathBuf {
        self.run_dir(kind).join("db.sock")
    }

    /// `var-run/ovs/<bridge>.mgmt`
    pub fn mgmt_socket(&self, bridge: &str) -> PathBuf {
        self.run_dir(DbKind::Ovs).join(format!("{bridge}.mgmt"))
    }

    pub fn bin_dir(&self) -> PathBuf {
        self.root.join("bin")
    }

    pub fn activate_script(&self) -> PathBuf {
        self.bin_dir().join("activate")
    }

    pub fn log_dir(&self) -> PathBuf {
        self.root.join("log")
    }

    pub fn log_file(&self, name: &str) -> PathBuf {
        self.log_dir().join(format!("{name}.log"))
    }

    /// Working copies served by the replica's ovsdb-servers.
    pub fn replica_dir(&self) -> PathBuf {
        self.root.join("replica")
    }

    pub fn replica_db(&self, kind: DbKind) -> PathBuf {
        self.replica_dir().join(format!("{}.db", kind.dir_name()))
    }

    /// Scratch space for one bridge's normalised dumps during replay.
    pub fn replay_dir(&self, bridge: &str) -> PathBuf {
        self.replica_dir().join("flows").join(bridge)
    }

    /// `log/restore-errors.<bridge>.log`: what OVS refused, with its error.
    pub fn restore_errors_log(&self, bridge: &str) -> PathBuf {
        self.log_dir().join(format!("restore-errors.{bridge}.log"))
    }

    pub fn state_file(&self) -> PathBuf {
        self.root.join("state.json")
    }

    fn state_lock_file(&self) -> PathBuf {
        self.root.join(".state.lock")
    }

    /// Held for the whole life of a replica's supervisor.
    pub fn run_lock_file(&self) -> PathBuf {
        self.root.join(".run.lock")
    }

    /// Takes the run lock without waiting; `None` when a replica holds it.
    pub fn try_lock_run(&self) -> Result<Option<Flock<File>>> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.run_lock_file())
            .with_context(|| format!("cannot open {}", self.run_lock_file().display()))?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => Ok(Some(lock)),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
            Err((_, e)) => Err(e).with_context(|| format!("cannot lock {}", self.run_lock_file().display())),
        }
    }

    /// Takes the run lock, riding out the instant another command holds it
    /// to check whether a replica runs ([`Workdir::is_running`]); `None`
    /// when a replica (or a start, or a collect) holds it.
    pub fn lock_run(&self) -> Result<Option<Flock<File>>> {
        for _ in 0..20 {
            if let Some(lock) = self.try_lock_run()? {
                return Ok(Some(lock));
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        Ok(None)
    }

    /// True while a supervisor holds the run lock.
    pub fn is_running(&self) -> Result<bool> {
        if !self.run_lock_file().exists() {
            return Ok(false);
        }
        Ok(self.try_lock_run()?.is_none())
    }

    /// Reads the state file; an absent file is an empty state.
    pub fn load_state(&self) -> Result<State> {
        let path = self.state_file();
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("state file {} is damaged; remove it and collect again", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// Read-modify-write of the state file under a lock, written atomically.
    pub fn update_state<T>(&self, f: impl FnOnce(&mut State) -> T) -> Result<T> {
        let lock_file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.state_lock_file())
            .with_context(|| format!("cannot open {}", self.state_lock_file().display()))?;
        let _lock = Flock::lock(lock_file, FlockArg::LockExclusive)
            .map_err(|(_, e)| e)
            .context("cannot lock the state file")?;
        let mut state = self.load_state()?;
        let out = f(&mut state);
        write_atomic(&self.state_file(), &serde_json::to_vec_pretty(&state)?)?;
        Ok(out)
    }

    // replay paths

    /// `replica/flows/<bridge>/groups`: the bridge's normalised group dump.
    pub fn replay_groups(&self, bridge: &str) -> PathBuf {
        self.replay_dir(bridge).join("groups")
    }

    /// `replica/flows/<bridge>/share.<share>/`: scratch space for one share
    /// of the bridge's flow dump.
    pub fn replay_share_dir(&self, bridge: &str, share: usize) -> PathBuf {
        self.replay_dir(bridge).join(format!("share.{share}"))
    }

    /// `…/share.<share>/stderr`: what `ovs-ofctl add-flows` said of the share.
    pub fn replay_share_stderr(&self, bridge: &str, share: usize) -> PathBuf {
        self.replay_share_dir(bridge, share).join("stderr")
    }

    /// `…/share.<share>/share`: the share normalised again, when OVS refused
    /// part of it.
    pub fn replay_share_copy(&self, bridge: &str, share: usize) -> PathBuf {
        self.replay_share_dir(bridge, share).join("share")
    }

    /// `…/share.<share>/piece.<piece>`: a part of the share split off while
    /// isolating the lines OVS refused.
    pub fn replay_share_piece(&self, bridge: &str, share: usize, piece: usize) -> PathBuf {
        self.replay_share_dir(bridge, share).join(format!("piece.{piece}"))
    }
}

/// Writes through a temporary file in the same directory, then renames.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    file.write_all(contents)?;
    file.sync_all()?;
    fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

fn mkdir(dir: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))
}

fn remove_dir_if_exists(dir: &Path) -> Result<()> {
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("cannot remove {}", dir.display()))
        }
        _ => Ok(()),
    }
}

/// Removes a file; one that is not there is fine.
pub fn remove_file_if_exists(file: &Path) -> Result<()> {
    match fs::remove_file(file) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("cannot remove {}", file.display()))
        }
        _ => Ok(()),
    }
}
