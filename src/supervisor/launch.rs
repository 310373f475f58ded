//! The launch step between the supervisor and a daemon (`ovs-offline
//! __launch`): it writes and locks the daemon's pidfile with the daemon's
//! *host* pid, then execs the daemon, which inherits the lock.
//!
//! Why: tools outside the replica (`ovs-appctl -t ovs-vswitchd`, used with
//! `OVS_RUNDIR`) check that the pid in a pidfile is the pid holding its
//! lock, as seen from their own PID namespace. A daemon writing its own
//! pidfile inside the replica's PID namespace fails that check from the
//! host. The exec keeps the pid, so the lock holder and the file agree, and
//! the `{pid}` in the control socket name (`ovs-vswitchd.<pid>.ctl`) is the
//! same one.

use anyhow::{Context, Result};
use nix::fcntl::{fcntl, open, FcntlArg, OFlag};
use nix::sys::stat::Mode;
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

/// Placeholder replaced by the host pid in [`launch`]'s `pid_arg`.
pub const PID_PLACEHOLDER: &str = "{pid}";

/// Never returns on success: the process becomes `program`.
pub fn launch(pidfile: &Path, pid_arg: Option<&str>, program: &OsString, args: &[OsString]) -> Result<()> {
    let pid = crate::sandbox::host_pid().context("cannot read /proc/self")?;
    // Lock first, then truncate: a pidfile locked by a running daemon is
    // never emptied.
    let fd = open(pidfile, OFlag::O_CREAT | OFlag::O_WRONLY, Mode::from_bits_truncate(0o644))
        .with_context(|| format!("cannot create pidfile {}", pidfile.display()))?;
    let lock = libc::flock {
        l_type: libc::F_WRLCK as libc::c_short,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: 0,
        l_len: 0,
        l_pid: 0,
    };
    fcntl(&fd, FcntlArg::F_SETLK(&lock))
        .with_context(|| format!("pidfile {} is locked by another process", pidfile.display()))?;
    nix::unistd::ftruncate(&fd, 0).context("cannot truncate pidfile")?;
    nix::unistd::write(&fd, format!("{pid}\n").as_bytes()).context("cannot write pidfile")?;
    // The descriptor is not close-on-exec: the daemon inherits the lock.
    std::mem::forget(fd);
    let mut command = Command::new(program);
    command.args(args);
    if let Some(arg) = pid_arg {
        command.arg(arg.replace(PID_PLACEHOLDER, &pid.to_string()));
    }
    let err = command.exec();
    Err(err).with_context(|| format!("cannot execute {}", program.to_string_lossy()))
}
