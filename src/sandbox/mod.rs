//! The rootless sandbox: new user (when not root), mount, network and PID
//! namespaces, entered in the order the kernel requires, with `lo` up and
//! nothing else, and a filesystem view of its own ([`root`]): a fresh root
//! holding only the host paths the caller lists. Knows nothing about OVS.
//!
//! [`spawn`] validates the filesystem view, then forks twice: the first
//! child detaches (own session, stdio to a log), unshares the namespaces
//! and forks the second, which becomes PID 1 of the new PID namespace,
//! builds and enters the new root and runs the caller's `init`. When it
//! exits the kernel kills everything left in the namespace. The caller must
//! still be single-threaded: `unshare(CLONE_NEWUSER)` fails in a threaded
//! process.
//!
//! It owns the notification pipe from the sandbox to the caller and its
//! one message type, [`Notification`], written as JSON lines.

mod loopback;
mod root;

pub use root::{Access, Bind};

use nix::fcntl::OFlag;
use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::sys::wait::waitpid;
use nix::unistd::{fork, setsid, ForkResult, Gid, Pid, Uid};
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, IntoRawFd, RawFd};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("unprivileged user namespaces are disabled (user.max_user_namespaces = 0); enable them with 'sysctl -w user.max_user_namespaces=15000' or run as root")]
    MaxUserNamespaces,
    #[error("unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone = 0); enable them with 'sysctl -w kernel.unprivileged_userns_clone=1' or run as root")]
    UnprivilegedCloneDisabled,
    #[error("AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns = 1): {step} failed; allow it with 'sysctl -w kernel.apparmor_restrict_unprivileged_userns=0', an AppArmor profile with a 'userns,' rule for ovs-offline, or run as root")]
    AppArmor { step: String },
    #[error("cannot create the replica's namespaces: {step}: {errno}")]
    Setup { step: String, errno: nix::errno::Errno },
    #[error("cannot start the replica's supervisor: {0}")]
    Io(#[from] std::io::Error),
    #[error("cannot start the replica's supervisor: {0}")]
    Reported(String),
    #[error("cannot make {} visible in the replica's sandbox", path.display())]
    Source {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot create the replica's root {}", path.display())]
    Root {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("a path inside the replica's sandbox must be absolute and plain, not {}", .0.display())]
    Target(PathBuf),
}

/// What the sandbox looks like.
#[derive(Debug, Clone)]
pub struct Sandbox {
    /// Map the caller to root in a new user namespace (false when root).
    pub rootless: bool,
    /// An empty directory (created if missing) on which the sandbox's root
    /// is built; the host sees it empty.
    pub root: PathBuf,
    /// The host paths the sandbox sees, mounted in this order (a bind may
    /// sit inside an earlier one).
    pub binds: Vec<Bind>,
    /// Descriptors the sandbox keeps besides stdio and the notification
    /// pipe; every other one the caller holds is closed, so none leads
    /// back to the host (e.g. through `/proc/1/fd`).
    pub inherit: Vec<RawFd>,
}

impl Sandbox {
    pub fn for_current_user(root: PathBuf, binds: Vec<Bind>, inherit: Vec<RawFd>) -> Sandbox {
        Sandbox { rootless: !Uid::effective().is_root(), root, binds, inherit }
    }

    /// Fails early, with the setting to change, where the kernel is known to
    /// refuse unprivileged user namespaces.
    pub fn preflight(&self) -> Result<(), SandboxError> {
        self.preflight_with(sysctl)
    }

    fn preflight_with(&self, sysctl: impl Fn(&str) -> Option<i64>) -> Result<(), SandboxError> {
        if !self.rootless {
            return Ok(());
        }
        if sysctl("user/max_user_namespaces") == Some(0) {
            return Err(SandboxError::MaxUserNamespaces);
        }
        if sysctl("kernel/unprivileged_userns_clone") == Some(0) {
            return Err(SandboxError::UnprivilegedCloneDisabled);
        }
        Ok(())
    }
}

/// What the sandbox tells its caller on the notification pipe: first PID
/// 1's host pid (or why setup failed), then what `init` reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Notification {
    /// The host pid of PID 1: the sandbox exists and `init` runs.
    Pid(i32),
    /// `init` is up.
    Ready,
    /// `init` finished restoring what it serves (the caller reads the
    /// outcome where `init` recorded it).
    Restored,
    /// Setup or `init` failed, with this message.
    Error(String),
}

/// The write end of the notification pipe.
pub struct Notifier(File);

impl Notifier {
    /// Best effort: a caller that stopped listening is no reason to fail.
    pub fn send(&mut self, notification: &Notification) {
        if let Ok(mut line) = serde_json::to_vec(notification) {
            line.push(b'\n');
            let _ = self.0.write_all(&line);
        }
    }
}

/// The read end of the notification pipe; ends once every writer is gone.
/// Pollable: it has a notification to read when [`Notifications::buffered`]
/// or its descriptor is readable.
pub struct Notifications(BufReader<File>);

impl Notifications {
    /// True when read data waits in the buffer (the descriptor may then be
    /// idle although a notification is there).
    pub fn buffered(&self) -> bool {
        !self.0.buffer().is_empty()
    }
}

impl std::os::fd::AsFd for Notifications {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.0.get_ref().as_fd()
    }
}

impl Iterator for Notifications {
    type Item = std::io::Result<Notification>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut line = String::new();
        match self.0.read_line(&mut line) {
            Ok(0) => None,
            Ok(_) => Some(serde_json::from_str(&line).map_err(std::io::Error::other)),
            Err(e) => Some(Err(e)),
        }
    }
}

/// The sandbox's PID 1, seen from the caller.
pub struct Spawned {
    /// Host pid of the init process.
    pub pid: Pid,
    /// What `init` reports through the [`Notifier`] it received.
    pub notifications: Notifications,
}

/// Starts `init` as PID 1 of a new, detached sandbox. `init` gets the write
/// end of the notification pipe to report progress to the caller; its
/// return value is the sandbox's exit code.
pub fn spawn(sandbox: &Sandbox, log: &Path, init: impl FnOnce(Notifier) -> i32) -> Result<Spawned, SandboxError> {
    let plan = root::Plan::new(&sandbox.root, &sandbox.binds)?;
    let (notify_r, notify_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(std::io::Error::from)?;
    let log = OpenOptions::new().create(true).append(true).open(log)?;
    // SAFETY: the caller is single-threaded (documented requirement), so the
    // child may allocate and run arbitrary code after fork.
    match unsafe { fork() }.map_err(std::io::Error::from)? {
        ForkResult::Child => {
            drop(notify_r);
            exit_child(|| detach_and_enter(sandbox, &plan, log, Notifier(File::from(notify_w)), init))
        }
        ForkResult::Parent { child } => {
            drop(notify_w);
            let _ = waitpid(child, None);
            let mut notifications = Notifications(BufReader::new(File::from(notify_r)));
            let pid = read_pid(&mut notifications)?;
            Ok(Spawned { pid, notifications })
        }
    }
}

/// Runs a forked child's code and ends the child with its exit code. A
/// panic must not unwind into the parent's frames (a fork shares them).
fn exit_child(child: impl FnOnce() -> i32) -> ! {
    let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(child)).unwrap_or(101);
    let _ = std::io::stdout().flush();
    // SAFETY: ends this process without running anything of the parent's.
    unsafe { libc::_exit(code) }
}

/// First child: detach, enter the namespaces, fork PID 1 (which enters
/// the new root and reports its host pid itself).
fn detach_and_enter(
    sandbox: &Sandbox,
    plan: &root::Plan,
    log: File,
    mut notifier: Notifier,
    init: impl FnOnce(Notifier) -> i32,
) -> i32 {
    let keep: Vec<RawFd> = sandbox.inherit.iter().copied().chain([notifier.0.as_raw_fd()]).collect();
    if let Err(e) = detach(log).and_then(|()| close_inherited(&keep)).and_then(|()| enter(sandbox)) {
        notifier.send(&Notification::Error(e.to_string()));
        return 1;
    }
    // SAFETY: still single-threaded.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => exit_child(|| {
            // PID 1 reports its own host pid first: it is the only writer
            // from now on, so the caller reads that before anything else.
            match enter_root(plan) {
                Ok(pid) => {
                    notifier.send(&Notification::Pid(pid));
                    init(notifier)
                }
                Err(e) => {
                    notifier.send(&Notification::Error(e.to_string()));
                    1
                }
            }
        }),
        Ok(ForkResult::Parent { .. }) => 0,
        Err(errno) => {
            notifier.send(&Notification::Error(format!("cannot fork the replica's init: {errno}")));
            1
        }
    }
}

/// PID 1, still seeing the host's root: learns its host pid, keeps the
/// host's `/proc/self` for the launcher ([`host_pid`]), enters the new root.
fn enter_root(plan: &root::Plan) -> Result<i32, SandboxError> {
    std::env::remove_var(HOST_PROC_SELF_FD);
    let pid = host_pid().map_err(|e| SandboxError::Reported(format!("cannot read /proc/self: {e}")))?;
    keep_host_proc_self()?;
    plan.enter()?;
    Ok(pid)
}

/// The first notification: PID 1's host pid, or why there is none.
fn read_pid(notifications: &mut Notifications) -> Result<Pid, SandboxError> {
    match notifications.next().transpose()? {
        Some(Notification::Pid(pid)) => Ok(Pid::from_raw(pid)),
        Some(Notification::Error(message)) => Err(SandboxError::Reported(message)),
        Some(Notification::Ready | Notification::Restored) => {
            Err(SandboxError::Reported("the sandbox reported no pid".into()))
        }
        None => Err(SandboxError::Reported("the sandbox exited during setup".into())),
    }
}

/// New session, stdin from /dev/null, stdout/stderr to the log.
fn detach(log: File) -> Result<(), SandboxError> {
    setsid().map_err(|errno| SandboxError::Setup { step: "setsid".into(), errno })?;
    let null = File::open("/dev/null")?;
    let io = |r: nix::Result<()>| r.map_err(std::io::Error::from);
    io(nix::unistd::dup2_stdin(&null))?;
    io(nix::unistd::dup2_stdout(&log))?;
    io(nix::unistd::dup2_stderr(&log))?;
    Ok(())
}

/// Closes every descriptor above stdio but those in `keep`.
fn close_inherited(keep: &[RawFd]) -> Result<(), SandboxError> {
    let open: Vec<RawFd> = fs::read_dir("/proc/self/fd")?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd > 2 && !keep.contains(fd))
        .collect();
    for fd in open {
        // The directory listing's own descriptor is already closed: EBADF.
        let _ = nix::unistd::close(fd);
    }
    Ok(())
}

/// Unshares the namespaces and sets them up, in kernel order.
fn enter(sandbox: &Sandbox) -> Result<(), SandboxError> {
    let uid = Uid::effective();
    let gid = Gid::effective();
    let mut flags = CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWPID;
    if sandbox.rootless {
        flags |= CloneFlags::CLONE_NEWUSER;
    }
    unshare(flags).map_err(|errno| setup_error("unshare", errno))?;
    if sandbox.rootless {
        map_ids(uid, gid)?;
    }
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)
        .map_err(|errno| setup_error("making / private in the mount namespace", errno))?;
    loopback::up().map_err(|errno| setup_error("bringing lo up", errno))
}

/// Maps the caller's uid/gid to root in the new user namespace.
fn map_ids(uid: Uid, gid: Gid) -> Result<(), SandboxError> {
    let write = |file: &str, text: String| {
        fs::write(format!("/proc/self/{file}"), text).map_err(|e| {
            setup_error(
                &format!("writing /proc/self/{file}"),
                nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0)),
            )
        })
    };
    write("setgroups", "deny".into())?;
    write("uid_map", format!("0 {uid} 1\n"))?;
    write("gid_map", format!("0 {gid} 1\n"))
}

/// Names the distro restriction behind an `EPERM` where one is in force.
fn setup_error(step: &str, errno: nix::errno::Errno) -> SandboxError {
    let apparmor = sysctl("kernel/apparmor_restrict_unprivileged_userns") == Some(1);
    match errno {
        nix::errno::Errno::EPERM | nix::errno::Errno::EACCES if apparmor => {
            SandboxError::AppArmor { step: step.into() }
        }
        nix::errno::Errno::ENOSPC if step == "unshare" => SandboxError::MaxUserNamespaces,
        _ => SandboxError::Setup { step: step.into(), errno },
    }
}

/// Names the descriptor of the host's `/proc/self` symlink that PID 1
/// opens before it enters the new root, where `/proc` is the sandbox's own.
const HOST_PROC_SELF_FD: &str = "OVS_OFFLINE_HOST_PROC_SELF_FD";

/// This process's pid as the host sees it: the host's `/proc/self`, whose
/// target the kernel computes for the reader in the host's PID namespace.
/// Inside the sandbox that link is reached through the descriptor PID 1
/// left open for the launcher (named by [`HOST_PROC_SELF_FD`]): a handle
/// on the link itself, which reveals the reader's pid and leads nowhere
/// (no path walks through it into the host's `/proc`). Reading it marks it
/// close-on-exec, so the program the launcher execs does not inherit it.
pub fn host_pid() -> std::io::Result<i32> {
    let link = match std::env::var(HOST_PROC_SELF_FD) {
        Ok(fd) => {
            let fd: i32 = fd.parse().map_err(|_| std::io::Error::other(format!("{HOST_PROC_SELF_FD}={fd}")))?;
            // SAFETY: PID 1 opened it and never closes it; a process that
            // inherited the variable but not the descriptor gets EBADF.
            let link = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
            let target = nix::fcntl::readlinkat(link, "");
            nix::fcntl::fcntl(link, nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC))?;
            target?
        }
        Err(_) => fs::read_link("/proc/self")?.into_os_string(),
    };
    link.to_str().and_then(|s| s.parse().ok()).ok_or_else(|| std::io::Error::other("unexpected /proc/self"))
}

/// Opens the host's `/proc/self` link for [`host_pid`] in the sandbox's
/// processes (inherited, not close-on-exec) and names it in the
/// environment they inherit.
fn keep_host_proc_self() -> Result<(), SandboxError> {
    let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW;
    let link = nix::fcntl::open("/proc/self", flags, nix::sys::stat::Mode::empty())
        .map_err(|errno| setup_error("opening the host's /proc/self", errno))?;
    // PID 1 is still single-threaded.
    std::env::set_var(HOST_PROC_SELF_FD, link.into_raw_fd().to_string());
    Ok(())
}

fn sysctl(name: &str) -> Option<i64> {
    fs::read_to_string(Path::new("/proc/sys").join(name)).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rootless() -> Sandbox {
        Sandbox { rootless: true, root: PathBuf::new(), binds: Vec::new(), inherit: Vec::new() }
    }

    #[test]
    fn preflight_names_the_setting_to_change() {
        let err = rootless().preflight_with(|name| (name == "user/max_user_namespaces").then_some(0)).unwrap_err();
        assert!(err.to_string().contains("sysctl -w user.max_user_namespaces="), "{err}");
        let err =
            rootless().preflight_with(|name| (name == "kernel/unprivileged_userns_clone").then_some(0)).unwrap_err();
        assert!(err.to_string().contains("kernel.unprivileged_userns_clone=1"), "{err}");
        assert!(rootless().preflight_with(|_| Some(1)).is_ok());
        assert!(Sandbox { rootless: false, ..rootless() }.preflight_with(|_| Some(0)).is_ok());
    }

    #[test]
    fn notifications_cross_the_pipe_as_json_lines() {
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        let sent = [Notification::Pid(42), Notification::Error("no\nnewline \"here\"".into()), Notification::Ready];
        let mut notifier = Notifier(File::from(w));
        for n in &sent {
            notifier.send(n);
        }
        drop(notifier);
        let mut notifications = Notifications(BufReader::new(File::from(r)));
        assert_eq!(read_pid(&mut notifications).unwrap(), Pid::from_raw(42));
        let rest: Vec<Notification> = notifications.map(Result::unwrap).collect();
        assert_eq!(rest, sent[1..]);
    }

    #[test]
    fn a_setup_error_is_the_reason_there_is_no_pid() {
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        Notifier(File::from(w)).send(&Notification::Error("unshare: EPERM".into()));
        let err = read_pid(&mut Notifications(BufReader::new(File::from(r)))).unwrap_err();
        assert_eq!(err.to_string(), "cannot start the replica's supervisor: unshare: EPERM");
    }
}
