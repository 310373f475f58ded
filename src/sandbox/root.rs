//! The sandbox's filesystem view: a fresh root, a tmpfs holding only what
//! the caller lists (host paths read-only or read-write, at their own path
//! or elsewhere) and what any program needs (`/dev/null`, `/dev/zero`,
//! `/dev/random`, `/dev/urandom`, empty `/tmp` and `/run`, `/var/run` →
//! `/run`, and a `/proc` of the sandbox's own PID namespace, its `sys`,
//! `sysrq-trigger`, … read-only), entered with `pivot_root`; the host's
//! root is detached.
//! Every other host path (`/home`, the host's `/tmp` and `/run` with their
//! sockets, …) does not exist inside, and no `/proc/<pid>/root` leads back
//! to the host's: the host's processes are not in the sandbox's `/proc`.
//!
//! [`Plan::new`] inspects the host while still outside any namespace (a
//! missing source is the caller's error, named with its path) and lists
//! the mount operations in order; [`Plan::enter`] performs them inside the
//! new mount namespace. Mount points are created without following
//! symlinks, so no step can reach outside the new root. Knows nothing
//! about OVS.

use super::{setup_error, SandboxError};
use nix::errno::Errno;
use nix::fcntl::{openat, OFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{fchmod, mkdirat, Mode};
use nix::sys::statvfs::{statvfs, FsFlags};
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

/// How the sandbox may use a host path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    ReadOnly,
    ReadWrite,
}

/// A host path (`source`) seen at `target` inside the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    pub source: PathBuf,
    pub target: PathBuf,
    pub access: Access,
}

impl Bind {
    /// The host path at its own path, read-only. A symlink is followed on
    /// the host: `/bin` → `usr/bin` shows the host's `/usr/bin` at `/bin`.
    pub fn read_only(path: impl Into<PathBuf>) -> Bind {
        let path = path.into();
        Bind { source: path.clone(), target: path, access: Access::ReadOnly }
    }

    /// The host path at its own path, read-write.
    pub fn read_write(path: impl Into<PathBuf>) -> Bind {
        let path = path.into();
        Bind { source: path.clone(), target: path, access: Access::ReadWrite }
    }
}

/// Device nodes every program may expect, bound from the host.
const DEVICES: [&str; 4] = ["/dev/null", "/dev/zero", "/dev/random", "/dev/urandom"];

/// What in `/proc` reaches the host's kernel rather than the sandbox's
/// processes: read-only (as container runtimes do), for a sandbox run as
/// root.
const PROC_READ_ONLY: [&str; 5] = ["sys", "sysrq-trigger", "irq", "bus", "fs"];

/// Empty directories of the new root, with their modes.
const EMPTY_DIRS: [(&str, u32); 3] = [("/tmp", 0o1777), ("/run", 0o755), ("/var", 0o755)];

/// How a directory on the way to a mount point is opened: never through
/// a symlink.
const DIRECTORY: OFlag = OFlag::O_DIRECTORY.union(OFlag::O_NOFOLLOW).union(OFlag::O_CLOEXEC).union(OFlag::O_RDONLY);

/// What a mount point is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Dir,
    File,
}

/// One operation in building the new root; targets are paths inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Step {
    /// A tmpfs on the new root (nothing in it is executable; programs
    /// come from binds).
    Tmpfs,
    /// An empty directory of the tmpfs.
    Dir { path: PathBuf, mode: u32 },
    /// A recursive bind of a (canonical) host path; the target's parents
    /// are plain directories of the tmpfs or of an earlier bind.
    Bind { source: PathBuf, target: PathBuf, kind: Kind, access: Access },
    /// A procfs of the sandbox's PID namespace (mounted by its PID 1,
    /// while the host's `/proc` is still visible, as the kernel requires),
    /// with [`PROC_READ_ONLY`] read-only.
    Proc,
    /// A symbolic link (made last, so no mount point is created through it).
    Link { link: PathBuf, contents: PathBuf },
    /// `pivot_root` into the new root, detaching the host's.
    Pivot,
}

/// The ordered operations that build a sandbox's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Plan {
    /// Where the new root is built (canonical).
    root: PathBuf,
    pub(super) steps: Vec<Step>,
}

impl Plan {
    /// Validates the sources and lists the steps: tmpfs, empty dirs, the
    /// caller's binds in order, devices, `/proc`, `/var/run`, pivot.
    pub(super) fn new(root: &Path, binds: &[Bind]) -> Result<Plan, SandboxError> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .create(root)
            .map_err(|source| SandboxError::Root { path: root.to_path_buf(), source })?;
        let root = canonical(root)?;
        let mut steps = vec![Step::Tmpfs];
        steps.extend(EMPTY_DIRS.iter().map(|(path, mode)| Step::Dir { path: path.into(), mode: *mode }));
        let devices = DEVICES.iter().map(|d| Bind::read_write(*d));
        for bind in binds.iter().cloned().chain(devices) {
            if !bind.target.is_absolute() || bind.target.components().any(|c| c == Component::ParentDir) {
                return Err(SandboxError::Target(bind.target));
            }
            let source = canonical(&bind.source)?;
            let kind = if source.is_dir() { Kind::Dir } else { Kind::File };
            steps.push(Step::Bind { source, target: bind.target, kind, access: bind.access });
        }
        steps.push(Step::Proc);
        steps.push(Step::Link { link: "/var/run".into(), contents: "/run".into() });
        steps.push(Step::Pivot);
        Ok(Plan { root, steps })
    }

    /// Builds the new root and enters it. Runs inside the new mount
    /// namespace, `/` already private.
    pub(super) fn enter(&self) -> Result<(), SandboxError> {
        self.steps.iter().try_for_each(|step| self.apply(step))
    }

    fn apply(&self, step: &Step) -> Result<(), SandboxError> {
        match step {
            Step::Tmpfs => mount(
                Some("tmpfs"),
                &self.root,
                Some("tmpfs"),
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                Some("mode=0755,size=16m"),
            )
            .map_err(|errno| setup_error(&format!("mounting a tmpfs on {}", self.root.display()), errno)),
            Step::Dir { path, mode } => self
                .mount_point(path, Kind::Dir)
                .and_then(|dir| fchmod(dir, Mode::from_bits_truncate(*mode)))
                .map_err(|errno| setup_error(&format!("creating {} in the sandbox", path.display()), errno)),
            Step::Bind { source, target, kind, access } => self.bind(source, target, *kind, *access).map_err(|errno| {
                setup_error(&format!("binding {} on {} in the sandbox", source.display(), target.display()), errno)
            }),
            Step::Proc => self.proc().map_err(|errno| setup_error("mounting /proc in the sandbox", errno)),
            Step::Link { link, contents } => self.link(link, contents).map_err(|errno| {
                setup_error(&format!("linking {} to {} in the sandbox", link.display(), contents.display()), errno)
            }),
            Step::Pivot => pivot(&self.root).map_err(|errno| setup_error("pivot_root into the sandbox", errno)),
        }
    }

    /// The host-side path of a path inside the new root.
    fn inside(&self, target: &Path) -> PathBuf {
        self.root.join(target.strip_prefix("/").unwrap_or(target))
    }

    fn bind(&self, source: &Path, target: &Path, kind: Kind, access: Access) -> nix::Result<()> {
        self.mount_point(target, kind)?;
        let at = self.inside(target);
        mount(Some(source), &at, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)?;
        // A bind of a tree holding the new root holds a copy of it.
        if let Ok(nested) = self.root.strip_prefix(source) {
            umount2(&at.join(nested), MntFlags::MNT_DETACH)?;
        }
        if access == Access::ReadOnly {
            remount_read_only(&at)?;
        }
        Ok(())
    }

    fn proc(&self) -> nix::Result<()> {
        self.mount_point(Path::new("/proc"), Kind::Dir)?;
        let at = self.inside(Path::new("/proc"));
        let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        mount(Some("proc"), &at, Some("proc"), flags, None::<&str>)?;
        for name in PROC_READ_ONLY {
            let path = at.join(name);
            if path.symlink_metadata().is_ok() {
                mount(Some(&path), &path, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)?;
                remount_read_only(&path)?;
            }
        }
        Ok(())
    }

    fn link(&self, link: &Path, contents: &Path) -> nix::Result<()> {
        let parent = link.parent().unwrap_or(Path::new("/"));
        let dir = self.mount_point(parent, Kind::Dir)?;
        let name = link.file_name().ok_or(Errno::EINVAL)?;
        nix::unistd::symlinkat(contents, &dir, name)
    }

    /// Opens (creating what is missing) `target` inside the new root, one
    /// component at a time, never following a symlink.
    fn mount_point(&self, target: &Path, kind: Kind) -> nix::Result<OwnedFd> {
        let mut dir = nix::fcntl::open(&self.root, DIRECTORY, Mode::empty())?;
        let names: Vec<_> = target
            .components()
            .filter_map(|c| match c {
                Component::Normal(name) => Some(name),
                _ => None,
            })
            .collect();
        let Some((last, parents)) = names.split_last() else { return Ok(dir) };
        for name in parents {
            dir = open_dir(&dir, Path::new(name))?;
        }
        match kind {
            Kind::Dir => open_dir(&dir, Path::new(last)),
            Kind::File => {
                let flags = OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_PATH;
                match openat(&dir, Path::new(last), flags, Mode::empty()) {
                    Err(Errno::ENOENT) => {
                        let create = OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_CLOEXEC;
                        openat(&dir, Path::new(last), create, Mode::from_bits_truncate(0o644))
                    }
                    opened => opened,
                }
            }
        }
    }
}

/// Opens (creating it if missing) the directory `name` in `dir`.
fn open_dir(dir: &OwnedFd, name: &Path) -> nix::Result<OwnedFd> {
    match openat(dir, name, DIRECTORY, Mode::empty()) {
        Err(Errno::ENOENT) => {
            mkdirat(dir, name, Mode::from_bits_truncate(0o755))?;
            openat(dir, name, DIRECTORY, Mode::empty())
        }
        opened => opened,
    }
}

fn canonical(path: &Path) -> Result<PathBuf, SandboxError> {
    std::fs::canonicalize(path).map_err(|source| SandboxError::Source { path: path.to_path_buf(), source })
}

/// Makes the bind at `at` and every mount below it read-only. In a user
/// namespace a remount must keep the flags locked by the source mount
/// (nosuid, nodev, noexec, atime), read back with statvfs.
fn remount_read_only(at: &Path) -> nix::Result<()> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").map_err(|_| Errno::EIO)?;
    let mounts: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|field| PathBuf::from(unescape(field)))
        .filter(|mount| mount.starts_with(at))
        .collect();
    if mounts.is_empty() {
        return Err(Errno::ENOENT);
    }
    for mount_point in mounts {
        let locked = locked_flags(statvfs(&mount_point)?.flags());
        let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | locked;
        mount(None::<&str>, &mount_point, None::<&str>, flags, None::<&str>)?;
    }
    Ok(())
}

/// statvfs's `ST_RELATIME` (Linux's 4096), which nix and libc leave out
/// for musl (the static build).
const ST_RELATIME: FsFlags = FsFlags::from_bits_retain(4096);

fn locked_flags(flags: FsFlags) -> MsFlags {
    [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (ST_RELATIME, MsFlags::MS_RELATIME),
    ]
    .into_iter()
    .filter(|(st, _)| flags.contains(*st))
    .fold(MsFlags::empty(), |all, (_, ms)| all | ms)
}

/// A mountinfo path field: space, tab, newline and backslash are octal
/// escapes (`\040`).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| u8::from_str_radix(std::str::from_utf8(d).ok()?, 8).ok());
        match (bytes[i], octal) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `pivot_root(".", ".")` in the new root, then detach the old one.
fn pivot(root: &Path) -> nix::Result<()> {
    nix::unistd::chdir(root)?;
    nix::unistd::pivot_root(".", ".")?;
    umount2(".", MntFlags::MNT_DETACH)?;
    nix::unistd::chdir("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_binds_in_order_following_symlinks_on_the_host() {
        let host = tempfile::tempdir().unwrap();
        let host = canonical(host.path()).unwrap();
        std::fs::create_dir(host.join("usr")).unwrap();
        std::fs::write(host.join("tool"), "").unwrap();
        std::os::unix::fs::symlink("usr", host.join("bin")).unwrap();
        let binds = [
            Bind::read_only(host.join("usr")),
            Bind::read_only(host.join("bin")),
            Bind::read_write(host.join("tool")),
            Bind { source: host.join("usr"), target: "/run/x".into(), access: Access::ReadWrite },
        ];
        let plan = Plan::new(&host.join("root"), &binds).unwrap();
        let bind = |source: &Path, target: &Path, kind, access| Step::Bind {
            source: source.into(),
            target: target.into(),
            kind,
            access,
        };
        let mut expected = vec![
            Step::Tmpfs,
            Step::Dir { path: "/tmp".into(), mode: 0o1777 },
            Step::Dir { path: "/run".into(), mode: 0o755 },
            Step::Dir { path: "/var".into(), mode: 0o755 },
            bind(&host.join("usr"), &host.join("usr"), Kind::Dir, Access::ReadOnly),
            bind(&host.join("usr"), &host.join("bin"), Kind::Dir, Access::ReadOnly),
            bind(&host.join("tool"), &host.join("tool"), Kind::File, Access::ReadWrite),
            bind(&host.join("usr"), Path::new("/run/x"), Kind::Dir, Access::ReadWrite),
        ];
        for device in DEVICES {
            expected.push(bind(Path::new(device), Path::new(device), Kind::File, Access::ReadWrite));
        }
        expected.push(Step::Proc);
        expected.push(Step::Link { link: "/var/run".into(), contents: "/run".into() });
        expected.push(Step::Pivot);
        assert_eq!(plan.steps, expected);
        assert_eq!(plan.root, host.join("root"));
    }

    #[test]
    fn a_missing_source_is_named_before_any_namespace_exists() {
        let host = tempfile::tempdir().unwrap();
        let err = Plan::new(&host.path().join("root"), &[Bind::read_only(host.path().join("absent"))]).unwrap_err();
        assert!(err.to_string().contains(&host.path().join("absent").display().to_string()), "{err}");
        let relative = Bind { source: host.path().into(), target: "run/x".into(), access: Access::ReadOnly };
        assert!(Plan::new(&host.path().join("root"), &[relative]).is_err());
    }

    #[test]
    fn mountinfo_paths_are_unescaped() {
        assert_eq!(unescape(r"/tmp/a\040b\134c"), r"/tmp/a b\c");
        assert_eq!(unescape(r"/x\0"), r"/x\0");
    }
}
