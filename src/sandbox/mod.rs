//! The rootless sandbox: new user (when not root), mount, network and PID
//! namespaces, entered in the order the kernel requires, with `lo` up and
//! nothing else. Knows nothing about OVS.
//!
//! [`spawn`] forks twice: the first child detaches (own session, stdio to a
//! log), unshares the namespaces and forks the second, which becomes PID 1
//! of the new PID namespace and runs the caller's `init`. When it exits the
//! kernel kills everything left in the namespace. The caller must still be
//! single-threaded: `unshare(CLONE_NEWUSER)` fails in a threaded process.

mod loopback;

use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::sys::wait::waitpid;
use nix::unistd::{fork, setsid, ForkResult, Gid, Pid, Uid};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
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
}

/// A bind mount inside the sandbox's private mount namespace.
#[derive(Debug, Clone)]
pub struct Bind {
    pub source: PathBuf,
    pub target: PathBuf,
}

/// What the sandbox looks like.
#[derive(Debug, Clone)]
pub struct Sandbox {
    /// Map the caller to root in a new user namespace (false when root).
    pub rootless: bool,
    pub binds: Vec<Bind>,
}

impl Sandbox {
    pub fn for_current_user(binds: Vec<Bind>) -> Sandbox {
        Sandbox { rootless: !Uid::effective().is_root(), binds }
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

/// The sandbox's PID 1, seen from the caller.
pub struct Spawned {
    /// Host pid of the init process.
    pub pid: Pid,
    /// Read end of the notification pipe whose write end `init` received.
    pub notify: File,
}

/// Starts `init` as PID 1 of a new, detached sandbox. `init` gets the write
/// end of a pipe to report progress to the caller; its return value is the
/// sandbox's exit code. Setup errors are written to the pipe as
/// `error <message>` lines.
pub fn spawn(sandbox: &Sandbox, log: &Path, init: impl FnOnce(File) -> i32) -> Result<Spawned, SandboxError> {
    let (notify_r, notify_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(std::io::Error::from)?;
    let log = OpenOptions::new().create(true).append(true).open(log)?;
    // SAFETY: the caller is single-threaded (documented requirement), so the
    // child may allocate and run arbitrary code after fork.
    match unsafe { fork() }.map_err(std::io::Error::from)? {
        ForkResult::Child => {
            drop(notify_r);
            exit_child(|| detach_and_enter(sandbox, log, File::from(notify_w), init))
        }
        ForkResult::Parent { child } => {
            drop(notify_w);
            let _ = waitpid(child, None);
            let mut notify = File::from(notify_r);
            let pid = read_pid_line(&mut notify)?;
            Ok(Spawned { pid, notify })
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

/// First child: detach, enter the namespaces, fork PID 1 (which reports
/// its host pid itself).
fn detach_and_enter(sandbox: &Sandbox, log: File, mut notify: File, init: impl FnOnce(File) -> i32) -> i32 {
    if let Err(e) = detach(log).and_then(|()| enter(sandbox)) {
        let _ = writeln!(notify, "error {e}");
        return 1;
    }
    // SAFETY: still single-threaded.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => exit_child(|| {
            // PID 1 reports its own host pid first: it is the only writer
            // from now on, so the caller reads that line before any other.
            match host_pid() {
                Ok(pid) => {
                    let _ = writeln!(notify, "pid {pid}");
                    init(notify)
                }
                Err(e) => {
                    let _ = writeln!(notify, "error cannot read /proc/self: {e}");
                    1
                }
            }
        }),
        Ok(ForkResult::Parent { .. }) => 0,
        Err(errno) => {
            let _ = writeln!(notify, "error cannot fork the replica's init: {errno}");
            1
        }
    }
}

fn read_pid_line(notify: &mut File) -> Result<Pid, SandboxError> {
    // The first line is either "pid N" from PID 1 or a setup error;
    // read byte by byte so later lines stay in the pipe for the caller.
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    use std::io::Read;
    while notify.read(&mut byte)? == 1 && byte[0] != b'\n' {
        line.push(byte[0]);
    }
    let line = String::from_utf8_lossy(&line).into_owned();
    if let Some(pid) = line.strip_prefix("pid ").and_then(|p| p.trim().parse().ok()) {
        return Ok(Pid::from_raw(pid));
    }
    let message = line.strip_prefix("error ").unwrap_or("the sandbox exited during setup").to_string();
    Err(SandboxError::Io(std::io::Error::other(message)))
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
    for bind in &sandbox.binds {
        mount(Some(&bind.source), &bind.target, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
            .map_err(|errno| setup_error(&format!("bind mount on {}", bind.target.display()), errno))?;
    }
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

/// This process's pid as the host sees it: the sandbox keeps the host's
/// `/proc` mounted, whose `self` resolves in the host's PID namespace.
pub fn host_pid() -> std::io::Result<i32> {
    let link = fs::read_link("/proc/self")?;
    link.to_str().and_then(|s| s.parse().ok()).ok_or_else(|| std::io::Error::other("unexpected /proc/self"))
}

fn sysctl(name: &str) -> Option<i64> {
    fs::read_to_string(Path::new("/proc/sys").join(name)).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rootless() -> Sandbox {
        Sandbox { rootless: true, binds: Vec::new() }
    }

    #[test]
    fn preflight_names_the_setting_to_change() {
        let err = rootless().preflight_with(|name| (name == "user/max_user_namespaces").then_some(0)).unwrap_err();
        assert!(err.to_string().contains("sysctl -w user.max_user_namespaces="), "{err}");
        let err =
            rootless().preflight_with(|name| (name == "kernel/unprivileged_userns_clone").then_some(0)).unwrap_err();
        assert!(err.to_string().contains("kernel.unprivileged_userns_clone=1"), "{err}");
        assert!(rootless().preflight_with(|_| Some(1)).is_ok());
        assert!(Sandbox { rootless: false, binds: Vec::new() }.preflight_with(|_| Some(0)).is_ok());
    }
}
