//! What `start` hears while it waits for the replica's supervisor: the
//! sandbox's notifications, or a signal asking it to stop waiting.
//!
//! SIGINT (Ctrl-C), SIGTERM and SIGHUP are blocked while [`Reports`]
//! lives and read from a signalfd next to the notification pipe, so
//! `start` decides what an interruption means (before the replica is up:
//! take it down; during the restore: leave the replica restoring and say
//! so) instead of dying half-way. Dropping it restores the signal mask.

use crate::sandbox::{Notification, Notifications};
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use std::os::fd::AsFd;

/// One thing heard.
#[derive(Debug)]
pub(crate) enum Heard {
    Notification(Notification),
    /// Every writer closed the pipe: the supervisor is gone.
    End,
    /// `start` was asked to stop waiting.
    Signal(Signal),
}

/// The notification pipe and the signals that interrupt a wait on it.
pub(crate) struct Reports {
    notifications: Notifications,
    signals: SignalFd,
    previous_mask: SigSet,
}

impl Reports {
    pub fn new(notifications: Notifications) -> std::io::Result<Reports> {
        let mut mask = SigSet::empty();
        for signal in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
            mask.add(signal);
        }
        let mut previous_mask = SigSet::empty();
        pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&mask), Some(&mut previous_mask))?;
        match SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK) {
            Ok(signals) => Ok(Reports { notifications, signals, previous_mask }),
            Err(e) => {
                let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&previous_mask), None);
                Err(e.into())
            }
        }
    }

    /// Blocks until a notification, the end of the pipe or a signal; a
    /// notification that arrived wins over a signal.
    pub fn next(&mut self) -> std::io::Result<Heard> {
        loop {
            if !self.notifications.buffered() {
                let (notified, signalled) = self.poll()?;
                if !notified {
                    if let Some(signal) = signalled.then(|| self.read_signal()).transpose()?.flatten() {
                        return Ok(Heard::Signal(signal));
                    }
                    continue;
                }
            }
            return match self.notifications.next() {
                None => Ok(Heard::End),
                Some(notification) => notification.map(Heard::Notification),
            };
        }
    }

    /// Waits until the pipe or the signalfd is readable; which ones.
    fn poll(&self) -> std::io::Result<(bool, bool)> {
        let readable = PollFlags::POLLIN;
        let mut fds = [PollFd::new(self.notifications.as_fd(), readable), PollFd::new(self.signals.as_fd(), readable)];
        loop {
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => break,
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        let ready = |fd: &PollFd| fd.revents().is_some_and(|r| !r.is_empty());
        Ok((ready(&fds[0]), ready(&fds[1])))
    }

    fn read_signal(&self) -> std::io::Result<Option<Signal>> {
        let info = self.signals.read_signal()?;
        Ok(info.and_then(|i| Signal::try_from(i.ssi_signo as i32).ok()))
    }
}

impl Drop for Reports {
    fn drop(&mut self) {
        let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&self.previous_mask), None);
    }
}
