//! Progress on stderr for long work: a bar while a long read runs (an sos
//! report's archive: bytes read of the total and what is being read), a
//! [`Spinner`] for work of unknown size (`start`: preparing the databases
//! and starting the daemons, restoring the OpenFlow state). Drawn only when
//! stderr is a terminal and only once the work has taken more than
//! [`QUIET_FOR`]; cleared when it ends. Anywhere else (a pipe, a file, the
//! tests) nothing is ever printed, nor after [`hide`] (`--quiet`).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::cell::Cell;
use std::io::{self, IsTerminal, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A read shorter than this shows no bar at all.
const QUIET_FOR: Duration = Duration::from_secs(1);

const TEMPLATE: &str = "{prefix} {bar:20} {bytes}/{total_bytes} ({eta} left) {wide_msg}";

/// Set by [`hide`]: no bar is ever drawn.
static HIDDEN: AtomicBool = AtomicBool::new(false);

/// No progress bar from now on, even on a terminal.
pub fn hide() {
    HIDDEN.store(true, Ordering::Relaxed);
}

/// Progress of reading `total` bytes; a no-op unless stderr is a terminal.
pub struct Progress {
    bar: Option<Bar>,
}

struct Bar {
    bar: ProgressBar,
    started: Instant,
    shown: Cell<bool>,
}

impl Progress {
    /// Progress of reading `total` bytes, labelled `prefix` (e.g. `reading`).
    pub fn new(prefix: &str, total: u64) -> Progress {
        if HIDDEN.load(Ordering::Relaxed) || !io::stderr().is_terminal() {
            return Progress { bar: None };
        }
        let style = ProgressStyle::with_template(TEMPLATE).map(|s| s.progress_chars("=> "));
        let bar =
            ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden()).with_prefix(prefix.to_string());
        if let Ok(style) = style {
            bar.set_style(style);
        }
        Progress { bar: Some(Bar { bar, started: Instant::now(), shown: Cell::new(false) }) }
    }

    /// `n` more bytes read.
    pub fn advance(&self, n: usize) {
        if let Some(bar) = &self.bar {
            bar.bar.inc(n as u64);
            bar.show_when_slow();
        }
    }

    /// What is being read now (printable: quote collected names first),
    /// worked out only when there is a bar to show it.
    pub fn reading(&self, what: impl FnOnce() -> String) {
        if let Some(bar) = &self.bar {
            bar.bar.set_message(what());
            bar.show_when_slow();
        }
    }

    /// Wraps `inner`: every byte read through it advances the bar.
    pub fn reader<R: Read>(&self, inner: R) -> Advancing<'_, R> {
        Advancing { inner, progress: self }
    }
}

impl Bar {
    fn show_when_slow(&self) {
        if !self.shown.get() && self.started.elapsed() >= QUIET_FOR {
            self.shown.set(true);
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
        }
    }
}

impl Drop for Progress {
    /// The bar disappears when the read ends, however it ends.
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.bar.finish_and_clear();
        }
    }
}

/// A reader that advances a [`Progress`] by what is read through it.
pub struct Advancing<'p, R> {
    inner: R,
    progress: &'p Progress,
}

impl<R: Read> Read for Advancing<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.advance(n);
        Ok(n)
    }
}

/// Work of unknown size (a replica starting, its OpenFlow state restored):
/// a spinner with what is going on and the time it has taken, under the
/// same rules as [`Progress`] (a terminal only, after [`QUIET_FOR`],
/// never after [`hide`]); cleared when dropped.
pub struct Spinner {
    shown: Option<Arc<Mutex<Option<ProgressBar>>>>,
}

impl Spinner {
    pub fn new(what: &str) -> Spinner {
        if HIDDEN.load(Ordering::Relaxed) || !io::stderr().is_terminal() {
            return Spinner { shown: None };
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden()).with_message(what.to_string());
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
            bar.set_style(style);
        }
        let shown = Arc::new(Mutex::new(Some(bar)));
        let later = Arc::clone(&shown);
        std::thread::spawn(move || {
            std::thread::sleep(QUIET_FOR);
            if let Some(bar) = later.lock().ok().as_deref().and_then(Option::as_ref) {
                bar.set_draw_target(ProgressDrawTarget::stderr());
                bar.enable_steady_tick(Duration::from_millis(120));
            }
        });
        Spinner { shown: Some(shown) }
    }
}

impl Drop for Spinner {
    /// Taken out under the lock: the delayed start never draws it again.
    fn drop(&mut self) {
        if let Some(bar) = self.shown.as_ref().and_then(|s| s.lock().ok()?.take()) {
            bar.finish_and_clear();
        }
    }
}
