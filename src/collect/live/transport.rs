//! How a read-only command reaches a live node: [`Local`] runs it on this
//! host, [`KubectlExec`] in a pod's container through `kubectl exec` (or
//! `oc exec`). Commands are argument vectors, never shell text; their
//! stdout is streamed to the caller ([`stream`]), and a command that exits
//! non-zero is an error carrying what it said on stderr, even when its
//! output looked complete.

use super::LiveError;
use crate::capture::Provenance;
use crate::quote;
use crate::tools;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::io::{self, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The most of a command's stderr kept for its error message.
const MAX_STDERR: u64 = 64 << 10;

/// The most a small answer ([`text`]: versions, lists, JSON) may hold.
const MAX_TEXT: u64 = 64 << 20;

/// Runs argument vectors on a node and says where they ran.
pub trait Transport {
    /// The process that runs `argv` on the node.
    fn command(&self, argv: &[&str]) -> Result<Command, LiveError>;
    /// Where the output of `argv` comes from, for the manifest.
    fn provenance(&self, argv: &[&str]) -> Provenance;
    /// Where commands run, for messages (`pod ns/name container c`).
    fn place(&self) -> String;
    /// How long a command may print nothing before it is taken for hung.
    fn idle_limit(&self) -> Duration;
}

/// How long a command may print nothing, unless told otherwise: far more
/// than `ovsdb-client backup` of a large database takes to start writing.
pub const DEFAULT_IDLE_LIMIT: Duration = Duration::from_secs(300);

/// This host: `argv` runs as is (found on `PATH`).
#[derive(Debug, Clone)]
pub struct Local {
    pub host: String,
    pub idle_limit: Duration,
}

impl Local {
    /// This host, by its kernel host name.
    pub fn new() -> Local {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        Local { host: quote::note(host.trim()), idle_limit: DEFAULT_IDLE_LIMIT }
    }
}

impl Default for Local {
    fn default() -> Self {
        Local::new()
    }
}

impl Transport for Local {
    fn command(&self, argv: &[&str]) -> Result<Command, LiveError> {
        let (program, args) = argv.split_first().ok_or(LiveError::EmptyCommand)?;
        let mut command = tools::command(program)?;
        command.args(args);
        Ok(command)
    }

    fn provenance(&self, argv: &[&str]) -> Provenance {
        Provenance::Local { host: self.host.clone(), command: argv.iter().map(|a| a.to_string()).collect() }
    }

    fn place(&self) -> String {
        format!("host {}", quote::shell(&self.host))
    }

    fn idle_limit(&self) -> Duration {
        self.idle_limit
    }
}

/// The cluster client and how it reaches the cluster.
#[derive(Debug, Clone)]
pub struct Kubectl {
    /// `kubectl` or `oc`, as found on `PATH`.
    pub program: PathBuf,
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    /// How long a `kubectl` call may print nothing before it is taken for
    /// hung.
    pub idle_limit: Duration,
}

impl Kubectl {
    /// `kubectl [--kubeconfig F] [--context C] args…`.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.program);
        if let Some(kubeconfig) = &self.kubeconfig {
            command.arg("--kubeconfig").arg(kubeconfig);
        }
        if let Some(context) = &self.context {
            command.arg("--context").arg(context);
        }
        command.args(args);
        command
    }

    /// The client's name (`kubectl`, `oc`) for messages.
    pub fn name(&self) -> String {
        self.program.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    }
}

/// A container of a pod: `kubectl exec -n NS POD -c CONTAINER -- argv…`.
#[derive(Debug, Clone)]
pub struct KubectlExec {
    pub kubectl: Kubectl,
    pub namespace: String,
    pub pod: String,
    pub container: String,
}

impl Transport for KubectlExec {
    fn command(&self, argv: &[&str]) -> Result<Command, LiveError> {
        if argv.is_empty() {
            return Err(LiveError::EmptyCommand);
        }
        let exec = ["exec", "-n", &self.namespace, &self.pod, "-c", &self.container, "--"];
        Ok(self.kubectl.command(&[&exec[..], argv].concat()))
    }

    fn provenance(&self, argv: &[&str]) -> Provenance {
        Provenance::Pod {
            context: self.kubectl.context.clone(),
            namespace: self.namespace.clone(),
            pod: self.pod.clone(),
            container: self.container.clone(),
            command: argv.iter().map(|a| a.to_string()).collect(),
        }
    }

    fn place(&self) -> String {
        format!(
            "pod {}/{} container {}",
            quote::shell(&self.namespace),
            quote::shell(&self.pod),
            quote::shell(&self.container)
        )
    }

    fn idle_limit(&self) -> Duration {
        self.kubectl.idle_limit
    }
}

/// Runs `argv` through `transport` and hands its stdout to `consume`,
/// which must read it to its end. The command's failure (non-zero exit,
/// with its stderr) wins over what `consume` made of a short stream; an
/// error of `consume` on a command that succeeded is returned as is.
pub fn stream<T, E>(
    transport: &dyn Transport,
    argv: &[&str],
    consume: impl FnOnce(&mut dyn Read) -> Result<T, E>,
) -> Result<T, LiveError>
where
    LiveError: From<E>,
{
    let command = transport.command(argv)?;
    stream_command(command, &transport.place(), argv, transport.idle_limit(), consume)
}

/// [`stream`] of a command already made; `place` and `argv` name it in
/// errors. A command that prints nothing for `idle` is killed.
pub fn stream_command<T, E>(
    mut command: Command,
    place: &str,
    argv: &[&str],
    idle: Duration,
    consume: impl FnOnce(&mut dyn Read) -> Result<T, E>,
) -> Result<T, LiveError>
where
    LiveError: From<E>,
{
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    tracing::debug!(?command, "running");
    let spawn_error = |source| LiveError::Spawn { place: place.to_string(), command: words(argv), source };
    let mut child = command.spawn().map_err(spawn_error)?;
    let stderr = child.stderr.take().map(collect_stderr);
    let watchdog = Watchdog::start(child.id(), idle);
    // Dropped once consumed: a command whose output was abandoned gets
    // EPIPE and ends.
    let consumed = match child.stdout.take() {
        Some(stdout) => consume(&mut Active { inner: stdout, watchdog: &watchdog }),
        None => consume(&mut io::empty()),
    };
    if watchdog.stop() {
        let _ = child.wait();
        return Err(LiveError::Hung { place: place.to_string(), command: words(argv), secs: idle.as_secs() });
    }
    let status = finish(&mut child, consumed.is_err());
    let stderr = stderr.and_then(|t| t.join().ok()).unwrap_or_default();
    let status = status.map_err(spawn_error)?;
    if !status.success() {
        return Err(LiveError::failed(place, argv, status, &stderr));
    }
    consumed.map_err(|e| LiveError::from(e).read_by(place, argv))
}

/// The whole stdout of `argv` run through `transport`, as text (at most
/// [`MAX_TEXT`] bytes).
pub fn text(transport: &dyn Transport, argv: &[&str]) -> Result<String, LiveError> {
    command_text(transport.command(argv)?, &transport.place(), argv, transport.idle_limit())
}

/// The whole stdout of a command already made, as text.
pub fn command_text(command: Command, place: &str, argv: &[&str], idle: Duration) -> Result<String, LiveError> {
    stream_command(command, place, argv, idle, |out| {
        let mut bytes = Vec::new();
        out.take(MAX_TEXT + 1).read_to_end(&mut bytes)?;
        if bytes.len() as u64 > MAX_TEXT {
            return Err(io::Error::other(format!("more than {MAX_TEXT} bytes of output")));
        }
        Ok::<_, io::Error>(String::from_utf8_lossy(&bytes).into_owned())
    })
}

/// Kills a command that prints nothing for too long. Only the child it
/// was started for is ever signalled, and only before the caller reaps it.
struct Watchdog {
    /// Milliseconds from `start` to the last output.
    last: Arc<AtomicU64>,
    start: Instant,
    done: mpsc::Sender<()>,
    thread: JoinHandle<bool>,
}

impl Watchdog {
    fn start(pid: u32, idle: Duration) -> Watchdog {
        let (done, stopped) = mpsc::channel::<()>();
        let (last, start) = (Arc::new(AtomicU64::new(0)), Instant::now());
        let seen = Arc::clone(&last);
        let thread = std::thread::spawn(move || loop {
            match stopped.recv_timeout(Duration::from_millis(200)) {
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let quiet = start.elapsed().saturating_sub(Duration::from_millis(seen.load(Ordering::Relaxed)));
                    if quiet > idle {
                        let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
                        return true;
                    }
                }
                _ => return false,
            }
        });
        Watchdog { last, start, done, thread }
    }

    fn saw_output(&self) {
        self.last.store(self.start.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// Stops watching; true when the command was killed for silence.
    fn stop(self) -> bool {
        let _ = self.done.send(());
        self.thread.join().unwrap_or(false)
    }
}

/// The command's stdout, telling the watchdog about output.
struct Active<'w, R> {
    inner: R,
    watchdog: &'w Watchdog,
}

impl<R: Read> Read for Active<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.watchdog.saw_output();
        }
        Ok(n)
    }
}

/// How long a command whose output was abandoned may take to end by
/// itself (its own exit status says more than a kill's).
const ABANDONED_GRACE: Duration = Duration::from_secs(10);

/// Waits for the command; one whose output was abandoned is killed when it
/// does not end within [`ABANDONED_GRACE`].
fn finish(child: &mut Child, abandoned: bool) -> io::Result<std::process::ExitStatus> {
    if abandoned {
        let deadline = Instant::now() + ABANDONED_GRACE;
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
    }
    child.wait()
}

fn collect_stderr(stderr: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let mut limited = stderr.take(MAX_STDERR);
        let _ = limited.read_to_end(&mut bytes);
        // Drain the rest so the command never blocks on a full pipe.
        let _ = io::copy(&mut limited.into_inner(), &mut io::sink());
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// A command as shell words, for messages.
pub(crate) fn words(argv: &[&str]) -> String {
    argv.iter().map(|a| quote::shell(a)).collect::<Vec<_>>().join(" ")
}
