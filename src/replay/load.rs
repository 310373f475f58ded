//! Loading flows into a bridge, never all-or-nothing.
//!
//! A share of a dump is normalised straight into `ovs-ofctl add-flows -`
//! (bundled where the OpenFlow version allows) while a copy is kept on
//! disk, so loading starts with the first line read. When OVS refuses the
//! batch, the offending lines are isolated in the copy: a parse
//! error names its line, so the lines before it and after it are loaded
//! separately; an OpenFlow error rejects the whole bundle, so the file is
//! split in halves until the failing lines stand alone. A lone line is
//! retried once with its fix (a placeholder meter for a missing meter, the
//! more permissive OpenFlow 1.0 for a match/action inconsistency) and
//! otherwise rejected with OVS's error text.

use crate::ofp_text::meters::{meter_ids_in_flow, placeholder_meter};
use crate::ofp_text::version::OfVersion;
use crate::ofp_text::{flows, DumpStats};
use crate::tools::{self, ToolError};
use crate::workdir::Workdir;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Stdio};

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
    #[error("cannot read the flow dump")]
    Feed(#[source] io::Error),
    #[error("lost ovs-ofctl")]
    Wait(#[source] io::Error),
    #[error("empty flow file")]
    EmptyFile,
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
    pub version: OfVersion,
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
    fn add_flows_args(&self, version: OfVersion, input: &str) -> Vec<String> {
        let bundle: &[&str] = if version.supports_bundle() { &["--bundle"] } else { &[] };
        self.args(version, "add-flows", &[&[input], bundle].concat())
    }

    fn add_flows(&self, version: OfVersion, file: &Path) -> Result<(), ToolError> {
        tools::run("ovs-ofctl", self.add_flows_args(version, &file.display().to_string())).map(drop)
    }

    fn add_meter(&self, meter: &str) -> Result<(), ToolError> {
        self.ofctl(self.version.max(OfVersion::OpenFlow13), "add-meter", &[meter]).map(drop)
    }
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
    /// Lines loaded only with the permissive OpenFlow version.
    pub permissive: usize,
}

impl Outcome {
    /// Adds what became of another part of the same dump.
    pub fn merge(&mut self, other: Outcome) {
        self.loaded += other.loaded;
        self.permissive += other.permissive;
        self.rejected.extend(other.rejected);
        self.placeholder_meters.extend(other.placeholder_meters);
        self.placeholder_meters.sort_unstable();
        self.placeholder_meters.dedup();
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
    child: std::process::Child,
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
    let args = target.add_flows_args(target.version, STDIN);
    let mut child = tools::command("ovs-ofctl")?
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(File::create(workdir.replay_share_stderr(&target.bridge, share.index))?)
        .spawn()
        .map_err(LoadError::Spawn)?;
    let mut pipe = Feed { pipe: child.stdin.take().map(|p| BufWriter::with_capacity(1 << 16, p)) };
    let stats = flows::normalise_flows(share.reader()?, &mut pipe).map_err(LoadError::Feed)?;
    drop(pipe);
    Ok(Feeding { child, args, share, stats, workdir })
}

impl Feeding<'_> {
    /// Waits for the load; on failure normalises the share again into a
    /// file and isolates the refused lines. Returns what the share held
    /// and what became of it.
    pub fn finish(mut self, target: &Target) -> Result<(DumpStats, Outcome)> {
        let status = self.child.wait().map_err(LoadError::Wait)?;
        let mut outcome = Outcome::default();
        if status.success() {
            outcome.loaded = self.stats.written;
            return Ok((self.stats, outcome));
        }
        let (workdir, bridge, share) = (self.workdir, target.bridge.as_str(), self.share.index);
        let stderr = std::fs::read_to_string(workdir.replay_share_stderr(bridge, share)).unwrap_or_default();
        let stderr = tools::failed("ovs-ofctl", &self.args, &stderr, status).into_stderr();
        let copy = workdir.replay_share_copy(bridge, share);
        flows::normalise_flows(self.share.reader()?, BufWriter::new(File::create(&copy)?))?;
        let mut loader = Loader { target, workdir, share, pieces: 0, outcome: &mut outcome };
        loader.isolate(&copy, STDIN, self.stats.written, stderr)?;
        Ok((self.stats, outcome))
    }
}

/// `ovs-ofctl`'s stdin, until it stops reading (it exits at the first line
/// it cannot parse); the rest of the share is then still read and counted.
struct Feed {
    pipe: Option<BufWriter<ChildStdin>>,
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

/// Isolates the lines OVS refused in one share, splitting it into pieces
/// in the share's scratch directory.
struct Loader<'a> {
    target: &'a Target,
    workdir: &'a Workdir,
    share: usize,
    pieces: usize,
    outcome: &'a mut Outcome,
}

impl Loader<'_> {
    fn load(&mut self, file: &Path, lines: usize) -> Result<()> {
        if lines == 0 {
            return Ok(());
        }
        match self.target.add_flows(self.target.version, file) {
            Ok(()) => {
                self.outcome.loaded += lines;
                Ok(())
            }
            Err(ToolError::Failed { stderr, .. }) => {
                let name = file.display().to_string();
                self.isolate(file, &name, lines, stderr)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// `file` (`lines` flows, named `name` in `ovs-ofctl`'s messages) was
    /// refused with `error`: load what is good in it, reject the rest.
    fn isolate(&mut self, file: &Path, name: &str, lines: usize, error: String) -> Result<()> {
        if let Some(bad) = parse_error_line(&error, name) {
            let (before, line, after) = self.split_around(file, bad)?;
            self.outcome.rejected.push(Rejected { line, error: error.clone() });
            self.load(&before, bad - 1)?;
            return self.load(&after, lines - bad);
        }
        if lines == 1 {
            let line = first_line(file)?;
            return self.retry_alone(file, line, error);
        }
        let half = lines / 2;
        let (first, second) = self.split_at(file, half)?;
        self.load(&first, half)?;
        self.load(&second, lines - half)
    }

    /// One refused line: fix what can be fixed, else reject it.
    fn retry_alone(&mut self, file: &Path, line: String, error: String) -> Result<()> {
        if error.contains("OFPMMFC_INVALID_METER") || error.contains("OFPMMFC_UNKNOWN_METER") {
            let ids = meter_ids_in_flow(&line);
            for id in &ids {
                if self.target.add_meter(&placeholder_meter(*id)).is_ok() {
                    self.outcome.placeholder_meters.push(*id);
                }
            }
            if !ids.is_empty() && self.target.add_flows(self.target.version, file).is_ok() {
                self.outcome.loaded += 1;
                return Ok(());
            }
        }
        if let Some(version) = self.target.permissive.filter(|_| error.contains("OFPBAC_MATCH_INCONSISTENT")) {
            if self.target.add_flows(version, file).is_ok() {
                self.outcome.loaded += 1;
                self.outcome.permissive += 1;
                return Ok(());
            }
        }
        self.outcome.rejected.push(Rejected { line, error });
        Ok(())
    }

    fn piece(&mut self) -> PathBuf {
        self.pieces += 1;
        self.workdir.replay_share_piece(&self.target.bridge, self.share, self.pieces)
    }

    /// Lines `1..at` and `at+1..` to new files; line `at` returned.
    fn split_around(&mut self, file: &Path, at: usize) -> Result<(PathBuf, String, PathBuf)> {
        let (before, after) = (self.piece(), self.piece());
        let mut line_at = String::new();
        let mut out_before = BufWriter::new(File::create(&before)?);
        let mut out_after = BufWriter::new(File::create(&after)?);
        for (i, line) in lines(file)?.enumerate() {
            let line = line?;
            match (i + 1).cmp(&at) {
                std::cmp::Ordering::Less => writeln!(out_before, "{line}")?,
                std::cmp::Ordering::Equal => line_at = line,
                std::cmp::Ordering::Greater => writeln!(out_after, "{line}")?,
            }
        }
        out_before.flush()?;
        out_after.flush()?;
        Ok((before, line_at, after))
    }

    /// The first `at` lines and the rest, to new files.
    fn split_at(&mut self, file: &Path, at: usize) -> Result<(PathBuf, PathBuf)> {
        let (first, second) = (self.piece(), self.piece());
        let mut out_first = BufWriter::new(File::create(&first)?);
        let mut out_second = BufWriter::new(File::create(&second)?);
        for (i, line) in lines(file)?.enumerate() {
            let out = if i < at { &mut out_first } else { &mut out_second };
            writeln!(out, "{}", line?)?;
        }
        out_first.flush()?;
        out_second.flush()?;
        Ok((first, second))
    }
}

fn lines(file: &Path) -> Result<std::io::Lines<BufReader<File>>> {
    Ok(BufReader::new(File::open(file).map_err(LoadError::read(file))?).lines())
}

fn first_line(file: &Path) -> Result<String> {
    lines(file)?.next().transpose()?.ok_or(LoadError::EmptyFile)
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

    #[test]
    fn finds_the_line_of_a_parse_error() {
        let file = "/w/replica/flows/br-int/piece.3";
        assert_eq!(parse_error_line(&format!("ovs-ofctl: {file}:12: unknown keyword foo"), file), Some(12));
        assert_eq!(parse_error_line("ovs-ofctl: -:7: unknown keyword foo", STDIN), Some(7));
        assert_eq!(parse_error_line("OFPT_ERROR (OF1.3) (xid=0x8): OFPBAC_BAD_OUT_GROUP", STDIN), None);
    }
}
