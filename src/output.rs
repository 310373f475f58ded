//! Printing that never panics and never stops work: a closed stdout
//! (`ovs-offline status | head`, `stop --purge | true`) is not an error —
//! like ripgrep, the command carries on and exits 0 — and any other
//! failure to write is reported once, after the work is done. With
//! `--quiet`, what only informs ([`inform!`]: summaries, notes, what to run
//! next) is left out; data ([`say!`]) and problems ([`tell!`]) are not.

use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// The first failure to write to stdout other than a closed pipe.
static FAILED: Mutex<Option<io::Error>> = Mutex::new(None);

/// `--quiet`: [`inform!`] prints nothing.
static QUIET: AtomicBool = AtomicBool::new(false);

/// `println!` to stdout, without panicking.
macro_rules! say {
    ($($arg:tt)*) => { $crate::output::stdout(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `eprintln!` to stderr, without panicking.
macro_rules! tell {
    ($($arg:tt)*) => { $crate::output::stderr(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `println!` to stdout of what only informs, left out with `--quiet`.
macro_rules! inform {
    ($($arg:tt)*) => { $crate::output::informing(format_args!("{}\n", format_args!($($arg)*))) };
}

pub(crate) use {inform, say, tell};

/// From now on, [`inform!`] prints nothing.
pub fn set_quiet() {
    QUIET.store(true, Ordering::Relaxed);
}

pub fn informing(args: fmt::Arguments<'_>) {
    if !QUIET.load(Ordering::Relaxed) {
        stdout(args);
    }
}

pub fn stdout(args: fmt::Arguments<'_>) {
    let written = io::stdout().lock().write_fmt(args);
    remember(written);
}

pub fn stderr(args: fmt::Arguments<'_>) {
    let _ = io::stderr().lock().write_fmt(args);
}

fn remember(result: io::Result<()>) {
    if let Err(e) = result {
        if e.kind() != io::ErrorKind::BrokenPipe {
            let mut failed = FAILED.lock().unwrap_or_else(|p| p.into_inner());
            failed.get_or_insert(e);
        }
    }
}

/// Flushes stdout; the first failure to write it, a closed pipe aside.
pub fn finish() -> io::Result<()> {
    remember(io::stdout().lock().flush());
    match FAILED.lock().unwrap_or_else(|p| p.into_inner()).take() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
