//! The launch step between the supervisor and a daemon (`ovs-offline
//! __launch`): it writes and locks the daemon's pidfile with the daemon's
//! *host* pid, then execs the daemon, which inherits the lock.
//!
//! Why: tools outside the replica check that the pid in a pidfile is the
//! pid holding its lock, as seen from their own PID namespace. A daemon
//! writing its own pidfile inside the replica's PID namespace fails that
//! check from the host. The exec keeps the pid, so the lock holder and the
//! file agree, and the host pid the launcher puts in the daemon's
//! arguments ([`PID_PLACEHOLDER`]) is the same one.

use nix::fcntl::{fcntl, open, FcntlArg, OFlag};
use nix::sys::stat::Mode;
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Placeholder replaced by the host pid in [`launch`]'s `pid_arg`.
pub const PID_PLACEHOLDER: &str = "{pid}";

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("cannot read /proc/self")]
    HostPid(#[source] std::io::Error),
    #[error("cannot create pidfile {}", .0.display())]
    CreatePidfile(PathBuf, #[source] nix::errno::Errno),
    #[error("pidfile {} is locked by another process", .0.display())]
    Locked(PathBuf, #[source] nix::errno::Errno),
    #[error("cannot {0} pidfile")]
    WritePidfile(&'static str, #[source] nix::errno::Errno),
    #[error("cannot execute {0}")]
    Exec(String, #[source] std::io::Error),
}

/// Never returns on success: the process becomes `program`.
pub fn launch(pidfile: &Path, pid_arg: Option<&str>, program: &OsString, args: &[OsString]) -> Result<(), LaunchError> {
    let pid = crate::sandbox::host_pid().map_err(LaunchError::HostPid)?;
    // Lock first, then truncate: a pidfile locked by a running daemon is
    // never emptied.
    let fd = open(pidfile, OFlag::O_CREAT | OFlag::O_WRONLY, Mode::from_bits_truncate(0o644))
        .map_err(|e| LaunchError::CreatePidfile(pidfile.into(), e))?;
    let lock = libc::flock {
        l_type: libc::F_WRLCK as libc::c_short,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: 0,
        l_len: 0,
        l_pid: 0,
    };
    fcntl(&fd, FcntlArg::F_SETLK(&lock)).map_err(|e| LaunchError::Locked(pidfile.into(), e))?;
    nix::unistd::ftruncate(&fd, 0).map_err(|e| LaunchError::WritePidfile("truncate", e))?;
    nix::unistd::write(&fd, format!("{pid}\n").as_bytes()).map_err(|e| LaunchError::WritePidfile("write", e))?;
    // The descriptor is not close-on-exec: the daemon inherits the lock.
    std::mem::forget(fd);
    let mut command = Command::new(program);
    command.args(args);
    if let Some(arg) = pid_arg {
        command.arg(arg.replace(PID_PLACEHOLDER, &pid.to_string()));
    }
    Err(LaunchError::Exec(program.to_string_lossy().into_owned(), command.exec()))
}
