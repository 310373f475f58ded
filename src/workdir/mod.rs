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
//!
//! A workdir is used only when it is safe ([`safety`]; [`Workdir::new`] checks one that
//! exists, [`Workdir::create`] one it makes): owned by the caller, not
//! writable by other users, below directories only the caller or root can
//! change, with no symbolic link on the way that another user owns.
//! Everything the tool creates in it is private (directories 0700, files
//! 0600) whatever the umask or the workdir's own mode; files are created
//! without following symbolic links (`O_NOFOLLOW`, `O_EXCL` for new ones,
//! atomic writes through a randomly named temporary file). `stop --purge`
//! removes only a directory holding the workdir's own marker files.

mod safety;

use crate::capture::DbKind;
use crate::quote;
use crate::state::State;
use nix::fcntl::{Flock, FlockArg};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub const DEFAULT_WORKDIR: &str = "/tmp/ovs-offline";

/// A failed operation on a workdir path, with the path and the cause.
#[derive(Debug, thiserror::Error)]
pub enum WorkdirError {
    #[error("working directory {} exists and is not a directory; choose another with -w DIR", quote::path(.0))]
    NotADirectory(PathBuf),
    #[error("working directory {} belongs to {owner}, not to you; use a directory of your own with -w DIR (or OVS_DBG_WORKDIR)", quote::path(path))]
    NotYours { path: PathBuf, owner: String },
    #[error("working directory {} can be changed by other users (mode {mode:04o}); run 'chmod go-w {}' or use another with -w DIR", quote::path(path), quote::path(path))]
    WritableByOthers { path: PathBuf, mode: u32 },
    #[error("{} {why}, so working directory {} could be swapped by another user; use a directory below ones only you or root can change, with -w DIR", quote::path(parent), quote::path(path))]
    UnsafeParent { parent: PathBuf, path: PathBuf, why: String },
    #[error("{} belongs to {owner}, not to you (left by a run as another user?); remove it as that user, or use another working directory with -w DIR", quote::path(path))]
    ForeignFile { path: PathBuf, owner: String },
    #[error("{} is a symbolic link or another kind of file where ovs-offline keeps its own; remove it", quote::path(.0))]
    Unexpected(PathBuf),
    #[error("{} is not an ovs-offline working directory (it has none of .collect.lock, .run.lock, capture.json); not removed", quote::path(.0))]
    NotAWorkdir(PathBuf),
    #[error("cannot {action} {}", quote::path(path))]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("state file {} is damaged; remove it and collect again", quote::path(path))]
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
    /// because they end up in sockets, scripts and daemon arguments. One
    /// that exists must be safe to use (see the module documentation).
    pub fn new(root: &Path) -> Result<Workdir> {
        let root = std::path::absolute(root).at("resolve working directory", root)?;
        let workdir = Workdir { root };
        if fs::symlink_metadata(&workdir.root).is_ok() {
            safety::check(&workdir.root)?;
        }
        Ok(workdir)
    }

    /// The workdir as the replica's own helpers (`__replay`) see it inside
    /// the sandbox: `start` checked it before any namespace existed, and
    /// in a user namespace the owners read differently (users not mapped
    /// show as `nobody`), so it is not checked again.
    pub fn inside_replica(root: &Path) -> Result<Workdir> {
        let root = std::path::absolute(root).at("resolve working directory", root)?;
        Ok(Workdir { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn exists(&self) -> bool {
        self.root.is_dir()
    }

    /// Creates the workdir (mode 0700; one that exists is checked, not
    /// changed) and its collected-data directories.
    pub fn create(&self) -> Result<()> {
        if let Some(parent) = self.root.parent() {
            fs::DirBuilder::new().recursive(true).mode(0o700).create(parent).at("create", parent)?;
        }
        let created = match fs::DirBuilder::new().mode(0o700).create(&self.root) {
            Ok(()) => true,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => false,
            Err(e) => return Err(e).at("create working directory", &self.root),
        };
        if let Err(e) = safety::check(&self.root) {
            if created {
                let _ = fs::remove_dir(&self.root);
            }
            return Err(e);
        }
        for kind in DbKind::ALL {
            self.create_private_dir(&self.db_dir(kind))?;
        }
        self.create_private_dir(&self.restore_flows_dir())?;
        self.create_private_dir(&self.log_dir())
    }

    /// Creates the directories a running replica needs.
    pub fn create_runtime_dirs(&self) -> Result<()> {
        for kind in DbKind::ALL {
            self.create_private_dir(&self.run_dir(kind))?;
        }
        self.create_private_dir(&self.ovn_default_run_dir())?;
        self.create_private_dir(&self.bin_dir())?;
        self.create_private_dir(&self.replica_dir())?;
        self.create_private_dir(&self.log_dir())
    }

    /// Creates `dir` below the workdir and its missing parents, each 0700;
    /// one that exists is made 0700, a symbolic link in the way refused.
    pub(crate) fn create_private_dir(&self, dir: &Path) -> Result<()> {
        let relative = dir.strip_prefix(&self.root).map_err(|_| WorkdirError::Unexpected(dir.to_path_buf()))?;
        let mut path = self.root.clone();
        for component in relative.components() {
            path.push(component);
            private_dir(&path)?;
        }
        Ok(())
    }

    /// True when the directory holds files only ovs-offline makes: its locks
    /// or its manifest.
    pub fn is_workdir(&self) -> bool {
        [self.collect_lock_file(), self.run_lock_file(), self.state_lock_file(), self.capture_manifest()]
            .iter()
            .any(|marker| fs::symlink_metadata(marker).is_ok_and(|m| m.is_file()))
    }

    /// Removes the whole workdir (never following a symbolic link), only
    /// when it is one ([`Workdir::is_workdir`]).
    pub fn purge(&self) -> Result<()> {
        if !self.is_workdir() {
            return Err(WorkdirError::NotAWorkdir(self.root.clone()));
        }
        fs::remove_dir_all(&self.root).at("remove", &self.root)
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

    /// Bytes an unprivileged user may still write on the workdir's file
    /// system.
    pub fn free_space(&self) -> Result<u64> {
        let stat = nix::sys::statvfs::statvfs(&self.root)
            .map_err(io::Error::from)
            .at("inspect the file system of", &self.root)?;
        Ok(stat.blocks_available() as u64 * stat.fragment_size() as u64)
    }

    /// The contents of `path` (never through a symbolic link), `None` when
    /// it does not exist.
    pub fn read_if_exists(&self, path: &Path) -> Result<Option<Vec<u8>>> {
        let file = OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC).open(path);
        let mut bytes = Vec::new();
        match file.and_then(|mut f| f.read_to_end(&mut bytes)) {
            Ok(_) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(nofollow_error(e, "read", path)),
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

    /// `…/share.<share>/stderr`: what `ovs-ofctl add-flows` said of the share
    /// (or of the last part of it loaded while isolating refused lines).
    pub fn replay_share_stderr(&self, bridge: &str, share: usize) -> PathBuf {
        self.replay_share_dir(bridge, share).join("stderr")
    }

    /// `…/share.<share>/share`: the share normalised again, when OVS refused
    /// part of it.
    pub fn replay_share_copy(&self, bridge: &str, share: usize) -> PathBuf {
        self.replay_share_dir(bridge, share).join("share")
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

/// Opens (creating it 0600) a lock file, never through a symbolic link.
fn open_lock_file(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| nofollow_error(e, "open", path))
}

/// `ELOOP` from an `O_NOFOLLOW` open means a symbolic link is in the way.
fn nofollow_error(e: io::Error, action: &'static str, path: &Path) -> WorkdirError {
    if e.raw_os_error() == Some(libc::ELOOP) {
        return WorkdirError::Unexpected(path.to_path_buf());
    }
    WorkdirError::Io { action, path: path.to_path_buf(), source: e }
}

/// An exclusive lock on `path` if nobody holds it.
fn try_lock(path: &Path) -> Result<Option<Flock<File>>> {
    match Flock::lock(open_lock_file(path)?, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(Some(lock)),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, e)) => Err(io::Error::from(e)).at("lock", path),
    }
}

/// Writes a private file (0600) through a new, randomly named temporary
/// file in the same directory, then renames it over `path` (which replaces
/// a symbolic link there rather than following it).
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    write_atomic_mode(path, contents, 0o600)
}

/// [`write_atomic`] with another mode (`bin/activate` is 0700).
pub(crate) fn write_atomic_mode(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .permissions(fs::Permissions::from_mode(mode))
        .tempfile_in(dir)
        .at("write", path)?;
    tmp.write_all(contents).and_then(|()| tmp.as_file().sync_all()).at("write", path)?;
    tmp.persist(path).map_err(|e| e.error).at("write", path)?;
    Ok(())
}

/// Creates one directory 0700; one that exists is made 0700, anything
/// else in the way is refused.
fn private_dir(dir: &Path) -> Result<()> {
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e).at("create", dir),
        Err(_) => {}
    }
    let meta = fs::symlink_metadata(dir).at("inspect", dir)?;
    if !meta.is_dir() {
        return Err(WorkdirError::Unexpected(dir.to_path_buf()));
    }
    if meta.mode() & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).at("set the mode of", dir)?;
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue #13: a link planted in the workdir (`state.tmp` → the user's
    /// `~/.bashrc`) made a write overwrite the file it points to.
    #[test]
    fn writes_never_follow_a_planted_link() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("bashrc");
        fs::write(&victim, "mine").unwrap();
        let workdir = Workdir::new(&dir.path().join("work")).unwrap();
        workdir.create().unwrap();
        for name in ["state.json", "state.tmp", ".state.json.tmp"] {
            std::os::unix::fs::symlink(&victim, workdir.root().join(name)).unwrap();
        }
        std::os::unix::fs::symlink(&victim, workdir.collect_lock_file()).unwrap();
        assert!(matches!(workdir.try_lock_collect(), Err(WorkdirError::Unexpected(_))));
        assert!(matches!(workdir.load_state(), Err(WorkdirError::Unexpected(_))));
        write_atomic(&workdir.state_file(), b"{}").unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"mine");
        let meta = fs::symlink_metadata(workdir.state_file()).unwrap();
        assert!(meta.is_file() && meta.mode() & 0o777 == 0o600);
    }

    #[test]
    fn only_a_workdir_is_purged() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("state.json"), "{}").unwrap();
        let workdir = Workdir::new(dir.path()).unwrap();
        assert!(matches!(workdir.purge(), Err(WorkdirError::NotAWorkdir(_))));
        drop(workdir.try_lock_collect().unwrap());
        workdir.purge().unwrap();
        assert!(!dir.path().exists());
    }
}
