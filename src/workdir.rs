//! The working directory: every path of a replica and its state file.
//!
//! Layout (compatible with the container-based `ovs-offline`):
//! `db/{ovs,ovn_nb,ovn_sb}/` collected originals, `restore_flows/`,
//! `var-run/{ovs,ovn_nb,ovn_sb}/` sockets, `bin/activate`, plus `log/`,
//! `replica/` (working copies the daemons serve), `capture.json` (what is
//! collected, see [`crate::capture::manifest`]) and `state.json` (the run
//! state). No other module joins workdir paths by hand.
//!
//! Two locks, each meaning one thing: the *collect lock* is held while
//! collected data changes (a collect, or `start` reading it to prepare
//! working copies); the *run lock* is held by `start` and then by the
//! replica's supervisor for its whole life, so it answers "is a replica
//! running here".

use crate::capture::DbKind;
use crate::state::State;
use nix::fcntl::{Flock, FlockArg};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub const DEFAULT_WORKDIR: &str = "/tmp/ovs-offline";

/// A failed operation on a workdir path, with the path and the cause.
#[derive(Debug, thiserror::Error)]
pub enum WorkdirError {
    #[error("working directory {} exists and is not a directory; choose another with -w DIR", .0.display())]
    NotADirectory(PathBuf),
    #[error("cannot {action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("state file {} is damaged; remove it and collect again", path.display())]
    DamagedState {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// Attaches what was being done, and to which path, to an I/O error.
pub(crate) trait IoContext<T> {
    fn at(self, action: &'static str, path: &Path) -> Result<T, WorkdirError>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, action: &'static str, path: &Path) -> Result<T, WorkdirError> {
        self.map_err(|source| WorkdirError::Io { action, path: path.to_path_buf(), source })
    }
}

type Result<T, E = WorkdirError> = std::result::Result<T, E>;

#[derive(Debug, Clone)]
pub struct Workdir {
    root: PathBuf,
}

impl Workdir {
    /// Names a workdir; nothing is created. Relative paths are made absolute
    /// because they end up in sockets, scripts and daemon arguments.
    pub fn new(root: &Path) -> Result<Workdir> {
        let root = std::path::absolute(root).at("resolve working directory", root)?;
        if root.exists() && !root.is_dir() {
            return Err(WorkdirError::NotADirectory(root));
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
                .at("create working directory", &self.root)?;
            fs::set_permissions(&self.root, fs::Permissions::from_mode(0o700)).at("set the mode of", &self.root)?;
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
        if bin.is_dir() && fs::read_dir(&bin).at("read", &bin)?.next().is_none() {
            fs::remove_dir(&bin).at("remove", &bin)?;
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

    /// A file of OpenFlow state, by its path relative to `restore_flows/`.
    pub fn restore_flows_file(&self, relative: &Path) -> PathBuf {
        self.restore_flows_dir().join(relative)
    }

    /// `capture.json`: the manifest of what is collected.
    pub fn capture_manifest(&self) -> PathBuf {
        self.root.join("capture.json")
    }

    /// Where a collector stages what it adds, in the workdir's layout,
    /// until it commits.
    pub fn capture_staging(&self) -> PathBuf {
        self.root.join(".capture.new")
    }

    /// Where a commit moves what it replaces, until it is done.
    pub fn capture_replaced(&self) -> PathBuf {
        self.root.join(".capture.old")
    }

    /// The twin of a workdir path under [`Workdir::capture_staging`].
    pub fn staged(&self, path: &Path) -> PathBuf {
        self.capture_staging().join(path.strip_prefix(&self.root).unwrap_or(path))
    }

    /// The twin of a workdir path under [`Workdir::capture_replaced`].
    pub fn replaced(&self, path: &Path) -> PathBuf {
        self.capture_replaced().join(path.strip_prefix(&self.root).unwrap_or(path))
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

    /// `var-run/<kind>/<program>.pid`
    pub fn pidfile(&self, kind: DbKind, program: &str) -> PathBuf {
        self.run_dir(kind).join(format!("{program}.pid"))
    }

    /// `var-run/<kind>/<program>.<pid>.ctl`: a daemon's control socket
    /// (`pid` may be a placeholder the launcher fills in).
    pub fn control_socket(&self, kind: DbKind, program: &str, pid: &str) -> PathBuf {
        self.run_dir(kind).join(format!("{program}.{pid}.ctl"))
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

    /// The complete records of a clustered database, before it is made
    /// standalone.
    pub fn replica_clustered_db(&self, kind: DbKind) -> PathBuf {
        self.replica_dir().join(format!("{}.clustered", kind.dir_name()))
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

    /// Held while collected data changes.
    fn collect_lock_file(&self) -> PathBuf {
        self.root.join(".collect.lock")
    }

    /// Held for the whole life of a replica's supervisor.
    pub fn run_lock_file(&self) -> PathBuf {
        self.root.join(".run.lock")
    }

    /// Takes the collect lock without waiting; `None` when another
    /// command holds it.
    pub fn try_lock_collect(&self) -> Result<Option<Flock<File>>> {
        try_lock(&self.collect_lock_file())
    }

    /// Takes the run lock without waiting; `None` when a replica holds it.
    pub fn try_lock_run(&self) -> Result<Option<Flock<File>>> {
        try_lock(&self.run_lock_file())
    }

    /// Takes the run lock, riding out the instant another command holds it
    /// to check whether a replica runs ([`Workdir::is_running`]); `None`
    /// when a replica (or a start) holds it.
    pub fn lock_run(&self) -> Result<Option<Flock<File>>> {
        for _ in 0..20 {
            if let Some(lock) = self.try_lock_run()? {
                return Ok(Some(lock));
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        Ok(None)
    }

    /// True while a replica runs (or is being started); a collect in
    /// progress does not count.
    pub fn is_running(&self) -> Result<bool> {
        if !self.run_lock_file().exists() {
            return Ok(false);
        }
        Ok(self.try_lock_run()?.is_none())
    }

    /// The contents of `path`, `None` when it does not exist.
    pub fn read_if_exists(&self, path: &Path) -> Result<Option<Vec<u8>>> {
        match fs::read(path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).at("read", path),
        }
    }

    /// Reads the state file; an absent file is an empty state.
    pub fn load_state(&self) -> Result<State> {
        let path = self.state_file();
        match self.read_if_exists(&path)? {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|source| WorkdirError::DamagedState { path, source }),
            None => Ok(State::default()),
        }
    }

    /// Read-modify-write of the state file under a lock, written atomically.
    pub fn update_state<T>(&self, f: impl FnOnce(&mut State) -> T) -> Result<T> {
        let path = self.state_lock_file();
        let _lock = Flock::lock(open_lock_file(&path)?, FlockArg::LockExclusive)
            .map_err(|(_, e)| io::Error::from(e))
            .at("lock", &path)?;
        let mut state = self.load_state()?;
        let out = f(&mut state);
        write_atomic(&self.state_file(), &to_json(&state))?;
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

    // sandbox paths

    /// `replica/root/`: where the replica's sandbox builds its own root
    /// (empty as seen from the host).
    pub fn sandbox_root(&self) -> PathBuf {
        self.replica_dir().join("root")
    }

    /// What the replica must never change: collected databases and flows,
    /// and the capture manifest.
    pub fn collected_data(&self) -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = DbKind::ALL.iter().map(|kind| self.db_dir(*kind)).collect();
        paths.push(self.restore_flows_dir());
        paths.push(self.capture_manifest());
        paths
    }
}

/// Pretty JSON of plain data (maps keyed by strings or enums), which
/// serialises without error.
pub(crate) fn to_json(value: &impl serde::Serialize) -> Vec<u8> {
    serde_json::to_vec_pretty(value).unwrap_or_default()
}

fn open_lock_file(path: &Path) -> Result<File> {
    OpenOptions::new().create(true).truncate(false).write(true).open(path).at("open", path)
}

/// An exclusive lock on `path` if nobody holds it.
fn try_lock(path: &Path) -> Result<Option<Flock<File>>> {
    match Flock::lock(open_lock_file(path)?, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(Some(lock)),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, e)) => Err(io::Error::from(e)).at("lock", path),
    }
}

/// Writes through a temporary file in the same directory, then renames.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = File::create(&tmp).at("write", &tmp)?;
    file.write_all(contents).and_then(|()| file.sync_all()).at("write", &tmp)?;
    fs::rename(&tmp, path).at("write", path)
}

fn mkdir(dir: &Path) -> Result<()> {
    fs::DirBuilder::new().recursive(true).mode(0o755).create(dir).at("create", dir)
}

/// Removes a directory tree; one that is not there is fine.
pub fn remove_dir_if_exists(dir: &Path) -> Result<()> {
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e).at("remove", dir),
        _ => Ok(()),
    }
}

/// Removes a file; one that is not there is fine.
pub fn remove_file_if_exists(file: &Path) -> Result<()> {
    match fs::remove_file(file) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e).at("remove", file),
        _ => Ok(()),
    }
}
