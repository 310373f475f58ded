//! Loading flows into a bridge, never all-or-nothing.
//!
//! A share of a dump is normalised straight into `ovs-ofctl add-flows -`
//! (bundled where the OpenFlow version allows), without a copy on disk, so
//! loading starts with the first line read. When OVS refuses the batch,
//! the share is normalised once more into one copy (the only scratch, removed
//! after the share) and the offending lines are isolated on sets of its
//! lines fed through stdin, from an explicit work list shared by a few
//! workers, never by recursion: a parse error names its line, which is
//! rejected while parsing goes on after it; an OpenFlow error rejects the
//! whole bundle, so the set is halved until the failing lines stand alone.
//! A lone line is retried once with its fix (a placeholder meter for a
//! missing meter, a placeholder group for a missing group, the version the
//! dump was taken with when the bridge's most expressive one refused it, the
//! more permissive OpenFlow 1.0 without `reset_counts` for a match/action
//! inconsistency) and otherwise rejected with OVS's error text.

use crate::capture::DbKind;
use crate::ofp_text::groups::{group_ids_in_flow, placeholder_group};
use crate::ofp_text::meters::{meter_ids_in_flow, placeholder_meter};
use crate::ofp_text::version::OfVersion;
use crate::ofp_text::{flows, DumpStats};
use crate::ovsdb::bridges;
use crate::tools::{self, ToolError};
use crate::workdir::Workdir;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::{Condvar, Mutex};

/// Why a share could not be loaded (lines OVS refused are no error: they
/// are [`Rejected`]).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot run ovs-ofctl")]
    Spawn(#[source] io::Error),
    #[error("cannot read port and table names from {}", socket.display())]
    Names {
        socket: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("isolating refused lines panicked")]
    Panicked,
    #[error("cannot read the flow dump")]
    Feed(#[source] io::Error),
    #[error("lost ovs-ofctl")]
    Wait(#[source] io::Error),
    #[error(transparent)]
    Tool(#[from] ToolError),
    #[error(transparent)]
    Io(#[from] io::Error),
}

type Result<T, E = LoadError> = std::result::Result<T, E>;

impl LoadError {
    fn read(path: &Path) -> impl FnOnce(io::Error) -> LoadError + '_ {
        move |source| LoadError::Read { path: path.to_path_buf(), source }
    }
}

/// How `ovs-ofctl` names its input in parse errors when reading stdin.
const STDIN: &str = "-";

/// A bridge as `ovs-ofctl` reaches it.
#[derive(Debug, Clone)]
pub struct Target {
    pub bridge: String,
    /// `unix:<workdir>/var-run/ovs/<bridge>.mgmt`
    pub vconn: String,
    /// The most expressive version the bridge allows: OVS keeps how an
    /// action was encoded and prints it so in traces, and only OpenFlow 1.5
    /// encodes a masked `set_field` (as ovn-controller installs it).
    pub version: OfVersion,
    /// The version the dumps were taken with, when it differs: for a line
    /// `version` refuses.
    pub dumped: Option<OfVersion>,
    /// OpenFlow 1.0, when the bridge allows it: the most permissive
    /// version for flows production accepted without consistency checks.
    pub permissive: Option<OfVersion>,
}

impl Target {
    /// `ovs-ofctl -O <version> <command> <bridge> <args…>`.
    fn args(&self, version: OfVersion, command: &str, args: &[&str]) -> Vec<String> {
        let head = ["-O", version.as_str(), command, self.vconn.as_str()];
        head.iter().chain(args).map(|a| a.to_string()).collect()
    }

    /// Runs `ovs-ofctl` on the bridge; returns its stdout.
    pub fn ofctl(&self, version: OfVersion, command: &str, args: &[&str]) -> Result<String, ToolError> {
        tools::run("ovs-ofctl", self.args(version, command, args))
    }

    /// `add-flows` of `input` (a file, or `-` for stdin), bundled where the
    /// version allows.
    fn add_flows_args(&self, version: OfVersion, input: &str, names: Names) -> Vec<String> {
        let bundle: &[&str] = if version.supports_bundle() { &["--bundle"] } else { &[] };
        let names: &[&str] = match names {
            Names::Resolve => &[],
            Names::NumbersOnly => &["--no-names"],
        };
        self.args(version, "add-flows", &[&[input], bundle, names].concat())
    }

    /// Spawns `add-flows -` (stdin piped, stderr to `stderr`); returns the
    /// child and its arguments.
    fn spawn_add_flows(
        &self,
        version: OfVersion,
        names: Names,
        stderr: impl Into<Stdio>,
    ) -> Result<(Child, Vec<String>)> {
        let args = self.add_flows_args(version, STDIN, names);
        let child = tools::command("ovs-ofctl")?
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(LoadError::Spawn)?;
        Ok((child, args))
    }

    fn add_meter(&self, meter: &str) -> Result<(), ToolError> {
        self.ofctl(self.version.max(OfVersion::OpenFlow13), "add-meter", &[meter]).map(drop)
    }

    /// Adds a group with the flows' version: OVS refused the flow with it
    /// for the group's absence, so it speaks groups.
    fn add_group(&self, group: &str) -> Result<(), ToolError> {
        self.ofctl(self.version, "add-group", &[group]).map(drop)
    }
}

/// Whether `ovs-ofctl` resolves port and table names in the flows it
/// reads. Resolving fetches the bridge's ports and table features first
/// (~25 ms per run against vswitchd); flows that name no port or table
/// parse the same without.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Names {
    Resolve,
    NumbersOnly,
}

/// A line OVS refused, with its error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub line: String,
    pub error: String,
}

#[derive(Debug, Default)]
pub struct Outcome {
    pub loaded: usize,
    pub rejected: Vec<Rejected>,
    /// Meters created as placeholders for flows that referenced them.
    pub placeholder_meters: Vec<u32>,
    /// Groups created as placeholders for flows that referenced them.
    pub placeholder_groups: Vec<u32>,
    /// Lines loaded only with the permissive OpenFlow version.
    pub permissive: usize,
    /// Lines loaded only with the dumps' own OpenFlow version.
    pub dumped: usize,
}

impl Outcome {
    /// Adds what became of another part of the same dump.
    pub fn merge(&mut self, other: Outcome) {
        self.loaded += other.loaded;
        self.permissive += other.permissive;
        self.dumped += other.dumped;
        self.rejected.extend(other.rejected);
        self.placeholder_meters.extend(other.placeholder_meters);
        self.placeholder_meters.sort_unstable();
        self.placeholder_meters.dedup();
        self.placeholder_groups.extend(other.placeholder_groups);
        self.placeholder_groups.sort_unstable();
        self.placeholder_groups.dedup();
    }
}

/// A contiguous byte range of a dump file, starting at a line start:
/// share `index` of the dump.
#[derive(Debug, Clone)]
pub struct Share {
    pub path: PathBuf,
    pub index: usize,
    pub start: u64,
    pub len: u64,
}

impl Share {
    fn reader(&self) -> Result<BufReader<io::Take<File>>> {
        let mut file = File::open(&self.path).map_err(LoadError::read(&self.path))?;
        file.seek(SeekFrom::Start(self.start))?;
        Ok(BufReader::with_capacity(1 << 16, file.take(self.len)))
    }
}

/// A share of a flow dump fed to its own `add-flows` connection, whose
/// `ovs-ofctl` may still be sending it to vswitchd.
pub struct Feeding<'w> {
    child: Child,
    args: Vec<String>,
    share: Share,
    stats: DumpStats,
    workdir: &'w Workdir,
}

/// Normalises `share` straight into one `add-flows` connection. Returns
/// once the share is written: `ovs-ofctl` has parsed it and sends it on
/// while the caller feeds the next share. The share's scratch directory
/// ([`Workdir::replay_share_dir`]) must exist.
pub fn feed<'w>(workdir: &'w Workdir, target: &Target, share: Share) -> Result<Feeding<'w>> {
    let stderr = workdir.replay_share_stderr(&target.bridge, share.index);
    let (mut child, args) = target.spawn_add_flows(target.version, Names::Resolve, File::create(&stderr)?)?;
    let mut pipe = Feed::new(&mut child);
    let stats = flows::normalise_flows(share.reader()?, &mut pipe).map_err(LoadError::Feed)?;
    drop(pipe);
    Ok(Feeding { child, args, share, stats, workdir })
}

impl Feeding<'_> {
    /// Waits for the load; on failure normalises the share again into one
    /// copy and isolates the refused lines in it. Returns what the share
    /// held and what became of it.
    pub fn finish(mut self, target: &Target) -> Result<(DumpStats, Outcome)> {
        let status = self.child.wait().map_err(LoadError::Wait)?;
        if status.success() {
            let loaded = self.stats.written;
            return Ok((self.stats, Outcome { loaded, ..Default::default() }));
        }
        let (workdir, bridge, share) = (self.workdir, target.bridge.as_str(), self.share.index);
        let stderr = workdir.replay_share_stderr(bridge, share);
        let error = tools::failed("ovs-ofctl", &self.args, &read_stderr(&stderr), status).into_stderr();
        let socket = workdir.db_socket(DbKind::Ovs);
        let names = bridges::openflow_names(&socket).map_err(|source| LoadError::Names { socket, source })?;
        let path = workdir.replay_share_copy(bridge, share);
        let copy = Copy::create(&path, &self.share, &names)?;
        let outcome = isolate(target, &copy, error);
        // Scratch holds one share's copy at a time.
        std::fs::remove_file(&path).ok();
        let outcome = outcome?;
        Ok((self.stats, outcome))
    }
}

fn read_stderr(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// `ovs-ofctl`'s stdin, until it stops reading (it exits at the first line
/// it cannot parse); whatever follows is still accepted (and dropped), so
/// the caller reads its input to the end.
struct Feed {
    pipe: Option<BufWriter<ChildStdin>>,
}

impl Feed {
    fn new(child: &mut Child) -> Feed {
        Feed { pipe: child.stdin.take().map(|p| BufWriter::with_capacity(1 << 16, p)) }
    }
}

impl Write for Feed {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(pipe) = &mut self.pipe {
            if pipe.write_all(buf).is_err() {
                self.pipe = None;
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if let Some(pipe) = &mut self.pipe {
            if pipe.flush().is_err() {
                self.pipe = None;
            }
        }
        Ok(())
    }
}

/// The normalised copy of a refused share, indexed by line: lines are
/// isolated on sets of its lines fed to `ovs-ofctl` through stdin, so no
/// piece of it is ever written again.
struct Copy {
    file: File,
    /// Byte offset of each line's start, and the file's length last.
    starts: Vec<u64>,
    /// The lines (ascending) holding a port or table name of the replica:
    /// only they may need `ovs-ofctl` to resolve names.
    named: Vec<usize>,
}

impl Copy {
    /// Normalises `share` into `path`; `names` are the port and table
    /// names `ovs-ofctl` could resolve.
    fn create(path: &Path, share: &Share, names: &[String]) -> Result<Copy> {
        let mut out = BufWriter::new(File::create(path)?);
        flows::normalise_flows(share.reader()?, &mut out)?;
        out.flush()?;
        let file = File::open(path).map_err(LoadError::read(path))?;
        let mut starts = vec![0u64];
        let mut reader = BufReader::with_capacity(1 << 16, &file);
        let mut named = Vec::new();
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = reader.read_until(b'\n', &mut line).map_err(LoadError::read(path))?;
            if n == 0 {
                break;
            }
            let text = String::from_utf8_lossy(&line);
            if names.iter().any(|name| text.contains(name.as_str())) {
                named.push(starts.len() - 1);
            }
            starts.push(starts[starts.len() - 1] + n as u64);
        }
        Ok(Copy { file, starts, named })
    }

    fn lines(&self) -> usize {
        self.starts.len() - 1
    }

    /// Line `i` (0-based), without its newline.
    fn line(&self, i: usize) -> Result<String> {
        let mut bytes = vec![0; (self.starts[i + 1] - self.starts[i]) as usize];
        self.file.read_exact_at(&mut bytes, self.starts[i])?;
        let text = String::from_utf8_lossy(&bytes);
        Ok(text.strip_suffix('\n').unwrap_or(&text).to_string())
    }

    /// Writes `lines` to `out`, in order.
    fn write(&self, lines: &Lines, out: &mut impl Write) -> io::Result<()> {
        let mut buf = vec![0; 1 << 16];
        for range in &lines.0 {
            let (mut at, end) = (self.starts[range.start], self.starts[range.end]);
            while at < end {
                let n = buf.len().min((end - at) as usize);
                self.file.read_exact_at(&mut buf[..n], at)?;
                out.write_all(&buf[..n])?;
                at += n as u64;
            }
        }
        out.flush()
    }
}

/// A set of lines of a [`Copy`] (0-based indices), as ascending,
/// non-overlapping ranges.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Lines(Vec<Range<usize>>);

impl Lines {
    fn all(n: usize) -> Lines {
        let mut lines = Lines::default();
        lines.push(0..n);
        lines
    }

    fn len(&self) -> usize {
        self.0.iter().map(ExactSizeIterator::len).sum()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Appends lines after the last ones held.
    fn push(&mut self, range: Range<usize>) {
        if range.is_empty() {
            return;
        }
        match self.0.last_mut() {
            Some(last) if last.end == range.start => last.end = range.end,
            _ => self.0.push(range),
        }
    }

    fn append(&mut self, other: Lines) {
        other.0.into_iter().for_each(|r| self.push(r));
    }

    /// The first `n` lines and the rest.
    fn split_at(self, mut n: usize) -> (Lines, Lines) {
        let (mut first, mut rest) = (Lines::default(), Lines::default());
        for range in self.0 {
            let take = n.min(range.len());
            first.push(range.start..range.start + take);
            rest.push(range.start + take..range.end);
            n -= take;
        }
        (first, rest)
    }

    /// The lines not in `named` (ascending) and those in it.
    fn partition(self, named: &[usize]) -> (Lines, Lines) {
        let (mut plain, mut with) = (Lines::default(), Lines::default());
        for range in self.0 {
            let mut at = range.start;
            let first = named.partition_point(|&n| n < range.start);
            for &n in named[first..].iter().take_while(|&&n| n < range.end) {
                plain.push(at..n);
                with.push(n..n + 1);
                at = n + 1;
            }
            plain.push(at..range.end);
        }
        (plain, with)
    }

    /// The lines before the `n`th (0-based), its index, the lines after.
    fn split_around(self, n: usize) -> (Lines, Option<usize>, Lines) {
        let (before, rest) = self.split_at(n);
        let (at, after) = rest.split_at(1);
        (before, at.0.first().map(|r| r.start), after)
    }
}

/// Isolates the lines OVS refused in one share's copy, iteratively: a
/// parse error names its line, which is rejected, and parsing goes on with
/// the lines after it (the lines before it parsed and are loaded together
/// later); an OpenFlow error rejects a whole bundle, which is halved until
/// each failing line stands alone. `ovs-ofctl` runs about once per parse
/// error and log2(lines) times per OpenFlow error; lines that name no port
/// or table go in apart from those that do, without name resolution.
/// A few workers share the work list: each run costs mostly `ovs-ofctl`'s
/// own start.
fn isolate(target: &Target, copy: &Copy, error: String) -> Result<Outcome> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(MAX_WORKERS);
    let list = WorkList {
        state: Mutex::new(Work { items: vec![(Lines::all(copy.lines()), Some(error))], ..Default::default() }),
        changed: Condvar::new(),
        workers,
    };
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| Worker { target, copy, outcome: Outcome::default(), rejected: Vec::new() }.run(&list))
            })
            .collect();
        let (mut total, mut rejected) = (Outcome::default(), Vec::new());
        for handle in handles {
            let (outcome, lines) = handle.join().unwrap_or(Err(LoadError::Panicked))?;
            total.merge(outcome);
            rejected.extend(lines);
        }
        // In the order of the dump, whichever worker found them.
        rejected.sort_by_key(|(index, _)| *index);
        total.rejected = rejected.into_iter().map(|(_, r)| r).collect();
        Ok(total)
    })
}

const MAX_WORKERS: usize = 4;

/// Lines to load, with OVS's error when it is already known.
type Item = (Lines, Option<String>);

#[derive(Default)]
struct Work {
    items: Vec<Item>,
    /// Lines known to parse, not yet loaded: loaded together once nothing
    /// else is left.
    parsed: Lines,
    /// Workers running an item.
    busy: usize,
    /// A worker failed: the others stop.
    failed: bool,
}

struct WorkList {
    state: Mutex<Work>,
    changed: Condvar,
    workers: usize,
}

impl WorkList {
    fn lock(&self) -> std::sync::MutexGuard<'_, Work> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The next item, waiting while other workers may still add some;
    /// `None` when all is done (or a worker failed).
    fn next(&self) -> Option<Item> {
        let mut work = self.lock();
        loop {
            if work.failed {
                return None;
            }
            let item = work.items.pop().or_else(|| {
                (work.busy == 0 && !work.parsed.is_empty()).then(|| (std::mem::take(&mut work.parsed), None))
            });
            if let Some(item) = item {
                work.busy += 1;
                return Some(item);
            }
            if work.busy == 0 {
                return None;
            }
            work = self.changed.wait(work).unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    /// Records what became of an item.
    fn done(&self, step: Result<Step>) -> Result<()> {
        let mut work = self.lock();
        work.busy -= 1;
        let result = match step {
            Ok(step) => {
                work.parsed.append(step.parsed);
                work.items.extend(step.items);
                if let Some(rest) = step.rest {
                    // The lines after a parse error: halved when a worker
                    // waits, so that it has lines to parse too.
                    if work.items.is_empty() && work.busy + 1 < self.workers && rest.len() > 1 {
                        let half = rest.len() / 2;
                        let (first, second) = rest.split_at(half);
                        work.items.extend([(second, None), (first, None)]);
                    } else {
                        work.items.push((rest, None));
                    }
                }
                Ok(())
            }
            Err(e) => {
                work.failed = true;
                Err(e)
            }
        };
        self.changed.notify_all();
        result
    }
}

/// What one run left to do.
#[derive(Default)]
struct Step {
    items: Vec<Item>,
    parsed: Lines,
    /// The lines after a parse error.
    rest: Option<Lines>,
}

struct Worker<'a> {
    target: &'a Target,
    copy: &'a Copy,
    outcome: Outcome,
    /// Refused lines, by index in the copy.
    rejected: Vec<(usize, Rejected)>,
}

impl Worker<'_> {
    fn run(mut self, list: &WorkList) -> Result<(Outcome, Vec<(usize, Rejected)>)> {
        while let Some((lines, known)) = list.next() {
            let step = self.step(lines, known);
            list.done(step)?;
        }
        Ok((self.outcome, self.rejected))
    }

    /// Loads `lines` (unless OVS's error for them is `known`) and says what
    /// is left of them.
    fn step(&mut self, lines: Lines, known: Option<String>) -> Result<Step> {
        let error = match known {
            Some(error) => error,
            None => {
                let (plain, named) = lines.clone().partition(&self.copy.named);
                if !plain.is_empty() && !named.is_empty() {
                    return Ok(Step { items: vec![(named, None), (plain, None)], ..Default::default() });
                }
                match self.load(self.target.version, &lines)? {
                    Some(error) => error,
                    None => return Ok(Step::default()),
                }
            }
        };
        match parse_error_line(&error, STDIN).filter(|at| (1..=lines.len()).contains(at)) {
            Some(at) => {
                let (before, bad, after) = lines.split_around(at - 1);
                if let Some(bad) = bad {
                    self.retry_alone(bad, error)?;
                }
                Ok(Step { parsed: before, rest: Some(after).filter(|a| !a.is_empty()), ..Default::default() })
            }
            None if lines.len() == 1 => {
                if let Some(index) = lines.0.first().map(|r| r.start) {
                    self.retry_alone(index, error)?;
                }
                Ok(Step::default())
            }
            None => {
                let half = lines.len() / 2;
                let (first, second) = lines.split_at(half);
                Ok(Step { items: vec![(second, None), (first, None)], ..Default::default() })
            }
        }
    }

    /// Feeds `lines` to one `add-flows`; `None` when OVS took them all,
    /// else what it said.
    fn load(&mut self, version: OfVersion, lines: &Lines) -> Result<Option<String>> {
        if lines.is_empty() {
            return Ok(None);
        }
        let names =
            if lines.clone().partition(&self.copy.named).1.is_empty() { Names::NumbersOnly } else { Names::Resolve };
        let error = self.add_flows(version, names, |pipe| self.copy.write(lines, pipe))?;
        if error.is_none() {
            self.outcome.loaded += lines.len();
        }
        Ok(error)
    }

    /// Feeds one line, as given, to one `add-flows`; `None` when OVS took
    /// it, else what it said.
    fn load_line(&mut self, version: OfVersion, line: &str) -> Result<Option<String>> {
        let error = self.add_flows(version, Names::Resolve, |pipe| writeln!(pipe, "{line}"))?;
        if error.is_none() {
            self.outcome.loaded += 1;
        }
        Ok(error)
    }

    /// Runs one `add-flows -` fed by `write`; `None` when it succeeded,
    /// else what OVS said.
    fn add_flows(
        &self,
        version: OfVersion,
        names: Names,
        write: impl FnOnce(&mut Feed) -> io::Result<()>,
    ) -> Result<Option<String>> {
        // ovs-ofctl reads all its input (or stops at a parse error) before
        // it writes more than a line to stderr: a pipe cannot fill up.
        let (mut child, args) = self.target.spawn_add_flows(version, names, Stdio::piped())?;
        let mut pipe = Feed::new(&mut child);
        write(&mut pipe).map_err(LoadError::Feed)?;
        drop(pipe);
        let mut stderr = String::new();
        if let Some(mut out) = child.stderr.take() {
            out.read_to_string(&mut stderr).map_err(LoadError::Wait)?;
        }
        let status = child.wait().map_err(LoadError::Wait)?;
        if status.success() {
            return Ok(None);
        }
        Ok(Some(tools::failed("ovs-ofctl", &args, &stderr, status).into_stderr()))
    }

    /// One refused line (line `index` of the copy): fix what can be fixed,
    /// else reject it.
    fn retry_alone(&mut self, index: usize, error: String) -> Result<()> {
        let mut lines = Lines::default();
        lines.push(index..index + 1);
        let line = self.copy.line(index)?;
        if error.contains("OFPMMFC_INVALID_METER") || error.contains("OFPMMFC_UNKNOWN_METER") {
            let ids = meter_ids_in_flow(&line);
            for id in &ids {
                if self.target.add_meter(&placeholder_meter(*id)).is_ok() {
                    self.outcome.placeholder_meters.push(*id);
                }
            }
            if !ids.is_empty() && self.load(self.target.version, &lines)?.is_none() {
                return Ok(());
            }
        }
        if error.contains("OFPBAC_BAD_OUT_GROUP") {
            let ids = group_ids_in_flow(&line);
            for id in &ids {
                if self.target.add_group(&placeholder_group(*id)).is_ok() {
                    self.outcome.placeholder_groups.push(*id);
                }
            }
            if !ids.is_empty() && self.load(self.target.version, &lines)?.is_none() {
                return Ok(());
            }
        }
        // A parse error does not depend on the version (but for the
        // consistency checks, which OpenFlow 1.0 relaxes, below).
        let parse_error = parse_error_line(&error, STDIN).is_some();
        if let Some(version) = self.target.dumped.filter(|_| !parse_error) {
            if self.load(version, &lines)?.is_none() {
                self.outcome.dumped += 1;
                return Ok(());
            }
        }
        if let Some(version) = self.target.permissive.filter(|_| inconsistent(&error)) {
            if self.load_line(version, &without_reset_counts(&line))?.is_none() {
                self.outcome.permissive += 1;
                return Ok(());
            }
        }
        self.rejected.push((index, Rejected { line, error }));
        Ok(())
    }
}

/// Whether OVS refused a flow for actions its match does not allow (a
/// check OpenFlow 1.0 does not make): the switch's
/// `OFPBAC_MATCH_INCONSISTENT`, or `ovs-ofctl` finding that only OpenFlow
/// 1.0 could carry the flow.
fn inconsistent(error: &str) -> bool {
    error.contains("OFPBAC_MATCH_INCONSISTENT") || error.contains("none of the usable flow formats")
}

/// `line` without the `reset_counts` flag OpenFlow 1.3+ dumps print on
/// every flow: OpenFlow 1.0 has no such flag, and with it `ovs-ofctl`
/// needs 1.2+ and checks actions against the match again (OVS 3.1:
/// `-O OpenFlow10` refuses `reset_counts in_port=1 actions=dec_ttl`,
/// accepts it without the flag, and dumps it as production did).
fn without_reset_counts(line: &str) -> String {
    let Some(at) = line.find("reset_counts") else { return line.to_string() };
    let actions = flows::actions_start(line).unwrap_or(line.len());
    let boundary = |i: usize| i >= line.len() || matches!(line.as_bytes()[i], b' ' | b',');
    let end = at + "reset_counts".len();
    if at > actions || !(at == 0 || boundary(at - 1)) || !boundary(end) {
        return line.to_string();
    }
    let skip = line[end..].len() - line[end..].trim_start_matches([' ', ',']).len();
    format!("{}{}", &line[..at], &line[end + skip..])
}

/// The line number in `ovs-ofctl: <input>:<line>: <message>`.
fn parse_error_line(stderr: &str, input: &str) -> Option<usize> {
    let prefix = format!("ovs-ofctl: {input}:");
    let rest = stderr.split_once(&prefix)?.1;
    rest.split(':').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines from `(start, end)` pairs.
    fn lines(ranges: &[(usize, usize)]) -> Lines {
        Lines(ranges.iter().map(|&(start, end)| start..end).collect())
    }

    #[test]
    fn line_sets_split_and_join() {
        let all = lines(&[(0, 3), (5, 9)]);
        assert_eq!(all.len(), 7);
        assert_eq!(all.clone().split_at(4), (lines(&[(0, 3), (5, 6)]), lines(&[(6, 9)])));
        assert_eq!(all.clone().split_at(3), (lines(&[(0, 3)]), lines(&[(5, 9)])));
        assert_eq!(all.clone().split_around(3), (lines(&[(0, 3)]), Some(5), lines(&[(6, 9)])));
        assert_eq!(all.clone().split_around(0), (lines(&[]), Some(0), lines(&[(1, 3), (5, 9)])));
        assert_eq!(all.clone().split_around(7), (all.clone(), None, lines(&[])));
        let mut joined = lines(&[(0, 2)]);
        joined.append(lines(&[(2, 3), (4, 4), (6, 7)]));
        assert_eq!(joined, lines(&[(0, 3), (6, 7)]));
        assert_eq!(Lines::all(0), lines(&[]));
        assert_eq!(
            all.clone().partition(&[1, 4, 5, 8, 12]),
            (lines(&[(0, 1), (2, 3), (6, 8)]), lines(&[(1, 2), (5, 6), (8, 9)]))
        );
        assert_eq!(all.clone().partition(&[]), (all.clone(), lines(&[])));
    }

    #[test]
    fn a_copy_feeds_any_set_of_its_lines() {
        let dir = tempfile::tempdir().unwrap();
        let dump = dir.path().join("dump");
        std::fs::write(
            &dump,
            "OFPST_FLOW reply (OF1.5):\n priority=1 actions=drop\n priority=2 actions=drop\n priority=3 actions=drop\n",
        )
        .unwrap();
        let share = Share { path: dump, index: 0, start: 0, len: 200 };
        let copy = Copy::create(&dir.path().join("copy"), &share, &["ty=3".into()]).unwrap();
        assert_eq!(copy.lines(), 3);
        assert_eq!(copy.named, vec![2]);
        assert_eq!(copy.line(1).unwrap(), "priority=2 actions=drop");
        let mut out = Vec::new();
        copy.write(&lines(&[(0, 1), (2, 3)]), &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "priority=1 actions=drop\npriority=3 actions=drop\n");
    }

    /// OVS 3.1: OpenFlow 1.3+ dumps print `reset_counts` on every flow; a
    /// flow production took over OpenFlow 1.0 without consistency checks
    /// (`in_port=1 actions=dec_ttl,output:2`) is refused by `-O OpenFlow10`
    /// while it carries the flag and accepted without it.
    #[test]
    fn the_permissive_retry_drops_reset_counts() {
        assert_eq!(
            without_reset_counts("cookie=0x0, table=0, reset_counts priority=100,in_port=1 actions=dec_ttl,output:2"),
            "cookie=0x0, table=0, priority=100,in_port=1 actions=dec_ttl,output:2"
        );
        assert_eq!(
            without_reset_counts("reset_counts priority=99,in_port=2 actions=fin_timeout(idle_timeout=5)"),
            "priority=99,in_port=2 actions=fin_timeout(idle_timeout=5)"
        );
        assert_eq!(without_reset_counts("reset_counts,priority=1 actions=drop"), "priority=1 actions=drop");
        for keep in [
            "priority=1 actions=note:7265736574,drop",
            "priority=1 actions=learn(table=1,reset_counts),drop",
            "xreset_counts priority=1 actions=drop",
            "reset_countsx priority=1 actions=drop",
        ] {
            assert_eq!(without_reset_counts(keep), keep);
        }
        assert!(inconsistent("ovs-ofctl: -:1: actions are invalid with specified match (OFPBAC_MATCH_INCONSISTENT)"));
        assert!(inconsistent(
            "ovs-ofctl: none of the usable flow formats (none) is among the allowed flow formats (OXM-OpenFlow15)"
        ));
        assert!(!inconsistent("ovs-ofctl: -:1: unknown keyword foo"));
    }

    #[test]
    fn finds_the_line_of_a_parse_error() {
        let file = "/w/replica/flows/br-int/piece.3";
        assert_eq!(parse_error_line(&format!("ovs-ofctl: {file}:12: unknown keyword foo"), file), Some(12));
        assert_eq!(parse_error_line("ovs-ofctl: -:7: unknown keyword foo", STDIN), Some(7));
        assert_eq!(parse_error_line("OFPT_ERROR (OF1.3) (xid=0x8): OFPBAC_BAD_OUT_GROUP", STDIN), None);
    }
}
