//! Restores one bridge: TLV map → groups → meters → flows (in that order:
//! flows reference groups and meters, and tunnel metadata fields need
//! their TLV mapping), then counts what the bridge holds.

use super::load::{self, Rejected, Target};
use super::plan::{BridgeDumps, Dump};
use crate::ofp_text::{flows, groups, meters, tlv, DumpStats, OfVersion};
use crate::ovsdb::bridges::Bridge;
use crate::state::BridgeRestore;
use crate::tools;
use crate::workdir::Workdir;
use anyhow::{Context, Result};
use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Flow files larger than this are loaded over several connections.
const SPLIT_ABOVE_BYTES: u64 = 8 << 20;
/// Concurrent `add-flows` connections for a large flow table.
const CONNECTIONS: usize = 4;

/// May the bridge speak `version`?
fn allows(db: &Bridge, version: OfVersion) -> bool {
    db.protocols.is_empty() || db.protocols.iter().any(|p| p == version.as_str())
}

/// A dump goes back in with its own version where the bridge allows it (an
/// OpenFlow 1.5 select group keeps its `selection_method` only then), else
/// with `default`.
fn version_for(db: &Bridge, dump: &Dump, default: OfVersion) -> OfVersion {
    dump.version.filter(|v| allows(db, *v) && *v > default).unwrap_or(default)
}

/// Restores `dumps` into the running bridge `db`.
pub fn restore(workdir: &Workdir, dumps: &BridgeDumps, db: &Bridge) -> Result<BridgeRestore> {
    let scratch = workdir.replay_dir(&db.name);
    fs::create_dir_all(&scratch).with_context(|| format!("cannot create {}", scratch.display()))?;
    let mut report = BridgeRestore { bridge: db.name.clone(), ..Default::default() };
    let target = target(workdir, dumps, db, &mut report);
    report.version = target.version.to_string();
    let mut rejected = Vec::new();

    report.tlv_entries = restore_tlv_map(&target, dumps, &mut report.notes)?;
    if let Some(dump) = &dumps.groups {
        let version = version_for(db, dump, target.version);
        report.groups.expected = restore_groups(&target, version, dump, &scratch, &mut rejected, &mut report.notes)?;
    }
    if let Some(dump) = &dumps.meters {
        let version = version_for(db, dump, target.version.max(OfVersion::OpenFlow13));
        report.meters.expected = restore_meters(&target, version, dump, &mut rejected, &mut report.notes)?;
    }
    if let Some(dump) = &dumps.flows {
        let outcome = restore_flows(&target, dump, &scratch, &mut report)?;
        rejected.extend(outcome.rejected);
        report.placeholder_meters = outcome.placeholder_meters;
        if outcome.permissive > 0 {
            report.notes.push(format!(
                "{} flows accepted only with OpenFlow10 (production accepted them without consistency checks)",
                outcome.permissive
            ));
        }
    }
    count_restored(&target, &mut report)?;
    report.rejected = rejected.len();
    if !rejected.is_empty() {
        let log = workdir.restore_errors_log(&db.name);
        write_errors_log(&log, &db.name, &rejected)?;
        report.errors_log = Some(log);
    }
    fs::remove_dir_all(&scratch).ok();
    Ok(report)
}

/// Picks the OpenFlow version: the dumps' own when the bridge allows it,
/// else ovs-save's rule on the bridge's protocols.
fn target(workdir: &Workdir, dumps: &BridgeDumps, db: &Bridge, report: &mut BridgeRestore) -> Target {
    let dumped = dumps.flows.as_ref().and_then(|d| d.version).or(dumps.script_version);
    let fallback = OfVersion::from_protocols(&db.protocols);
    let version = match dumped {
        Some(v) if allows(db, v) => v,
        Some(v) => {
            report.notes.push(format!(
                "the dumps were taken with {v}, which the bridge's protocols ({}) do not allow; restored with {fallback} \
                 (older ovs-save, e.g. OVS 2.15, picks OpenFlow14 regardless of protocols and writes empty dumps: if the counts \
                 below are 0, dump the flows again with 'ovs-ofctl -O {fallback} dump-flows {}')",
                db.protocols.join(","),
                db.name
            ));
            fallback
        }
        None => fallback,
    };
    Target {
        bridge: db.name.clone(),
        vconn: format!("unix:{}", workdir.mgmt_socket(&db.name).display()),
        version,
        permissive: Some(OfVersion::OpenFlow10).filter(|v| allows(db, *v) && *v != version),
    }
}

fn ofctl(target: &Target, version: OfVersion, command: &str, args: &[&str]) -> Result<String, tools::ToolError> {
    let mut argv = vec!["-O", version.as_str(), command, target.vconn.as_str()];
    argv.extend_from_slice(args);
    tools::run("ovs-ofctl", &argv)
}

fn restore_tlv_map(target: &Target, dumps: &BridgeDumps, notes: &mut Vec<String>) -> Result<usize> {
    let mut mappings = dumps.tlv_map.clone();
    if let Some(dump) = &dumps.tlv_dump {
        let text = fs::read_to_string(&dump.path).with_context(|| format!("cannot read {}", dump.path.display()))?;
        match tlv::parse_tlv_map(&text) {
            Ok(parsed) => mappings.extend(parsed.into_iter().filter(|m| !dumps.tlv_map.contains(m))),
            Err(e) => notes.push(format!("TLV map dump {} unreadable: {e}", dump.path.display())),
        }
    }
    if mappings.is_empty() {
        return Ok(0);
    }
    if let Err(e) = ofctl(target, target.version, "add-tlv-map", &[&tlv::tlv_map_arg(&mappings)]) {
        notes.push(format!("TLV map not restored: {e}"));
        return Ok(0);
    }
    Ok(mappings.len())
}

/// Normalises `dump` into `out`, noting what the capture lacks.
fn normalise(
    dump: &Dump,
    out: impl Write,
    what: &str,
    notes: &mut Vec<String>,
    normaliser: fn(BufReader<File>, Box<dyn Write + '_>) -> std::io::Result<DumpStats>,
) -> Result<DumpStats> {
    let input = File::open(&dump.path).with_context(|| format!("cannot read {}", dump.path.display()))?;
    let stats = normaliser(BufReader::new(input), Box::new(out))
        .with_context(|| format!("cannot normalise {}", dump.path.display()))?;
    if stats.decode_errors > 0 {
        notes.push(format!(
            "{} holds {} replies ovs-ofctl could not decode: their {what} are missing from the capture",
            dump.path.display(),
            stats.decode_errors
        ));
    }
    if let Some(first) = &stats.first_ignored {
        notes.push(format!(
            "{}: {} lines are not {what} and were skipped (first: {first})",
            dump.path.display(),
            stats.ignored
        ));
    }
    Ok(stats)
}

fn restore_groups(
    target: &Target,
    version: OfVersion,
    dump: &Dump,
    scratch: &Path,
    rejected: &mut Vec<Rejected>,
    notes: &mut Vec<String>,
) -> Result<usize> {
    let file = scratch.join("groups");
    let stats =
        normalise(dump, BufWriter::new(File::create(&file)?), "groups", notes, |r, w| groups::normalise_groups(r, w))?;
    if stats.written == 0 {
        return Ok(0);
    }
    if version < OfVersion::OpenFlow15 && fs::read_to_string(&file)?.contains("type=select") {
        notes.push(format!(
            "select groups dumped with {version} carry no selection_method (only OpenFlow15 does); for exact load \
             balancing collect 'ovs-ofctl -O OpenFlow15 dump-groups {}' as ovs-ofctl_-O_OpenFlow15_dump-groups_{}",
            target.bridge, target.bridge
        ));
    }
    let mut args = vec![file.to_str().unwrap_or_default()];
    if version.supports_bundle() {
        args.push("--bundle");
    }
    if ofctl(target, version, "add-groups", &args).is_err() {
        // One at a time while that makes progress: a group may chain to
        // one listed after it.
        let mut pending: Vec<String> = fs::read_to_string(&file)?.lines().map(String::from).collect();
        loop {
            let failed: Vec<Rejected> = pending
                .iter()
                .filter_map(|group| {
                    let error = ofctl(target, version, "add-group", &[group]).err()?;
                    Some(Rejected { line: group.clone(), error: stderr_of(error) })
                })
                .collect();
            if failed.is_empty() || failed.len() == pending.len() {
                rejected.extend(failed);
                break;
            }
            pending = failed.into_iter().map(|r| r.line).collect();
        }
    }
    Ok(stats.written)
}

fn restore_meters(
    target: &Target,
    version: OfVersion,
    dump: &Dump,
    rejected: &mut Vec<Rejected>,
    notes: &mut Vec<String>,
) -> Result<usize> {
    let input = File::open(&dump.path).with_context(|| format!("cannot read {}", dump.path.display()))?;
    let meters = match meters::parse_meters(BufReader::new(input)) {
        Ok(meters) => meters,
        Err(e) => {
            notes.push(format!("meters not restored: {}: {e}", dump.path.display()));
            return Ok(0);
        }
    };
    for meter in &meters {
        if let Err(e) = ofctl(target, version, "add-meter", &[&meter.spec]) {
            rejected.push(Rejected { line: meter.spec.clone(), error: stderr_of(e) });
        }
    }
    Ok(meters.len())
}

fn restore_flows(target: &Target, dump: &Dump, scratch: &Path, report: &mut BridgeRestore) -> Result<load::Outcome> {
    let size = fs::metadata(&dump.path).map(|m| m.len()).unwrap_or(0);
    let connections = if size > SPLIT_ABOVE_BYTES { CONNECTIONS } else { 1 };
    let chunks: Vec<PathBuf> = (0..connections).map(|i| scratch.join(format!("flows.{i}"))).collect();
    let mut writer = RoundRobin::create(&chunks)?;
    let stats = normalise(dump, &mut writer, "flows", &mut report.notes, |r, w| flows::normalise_flows(r, w))?;
    let counts = writer.finish()?;
    report.flows.expected = stats.written;
    // The replica's bridge may hold vswitchd's default NORMAL flow: the
    // dump alone decides what the table holds.
    ofctl(target, target.version, "del-flows", &[]).context("cannot clear the bridge's flow table")?;
    let outcomes: Vec<Result<load::Outcome>> = std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .iter()
            .zip(&counts)
            .enumerate()
            .map(|(i, (chunk, &lines))| {
                let pieces = scratch.join(format!("pieces.{i}"));
                scope.spawn(move || {
                    fs::create_dir_all(&pieces)?;
                    load::load_flows(target, chunk, lines, &pieces)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("flow loader panicked")))).collect()
    });
    let mut total = load::Outcome::default();
    for outcome in outcomes {
        let outcome = outcome?;
        total.loaded += outcome.loaded;
        total.permissive += outcome.permissive;
        total.rejected.extend(outcome.rejected);
        total.placeholder_meters.extend(outcome.placeholder_meters);
    }
    total.placeholder_meters.sort_unstable();
    total.placeholder_meters.dedup();
    Ok(total)
}

/// Counts flows, groups and meters the bridge holds now.
fn count_restored(target: &Target, report: &mut BridgeRestore) -> Result<()> {
    let aggregate = ofctl(target, target.version, "dump-aggregate", &[]).context("cannot count flows")?;
    report.flows.restored = aggregate
        .split_whitespace()
        .find_map(|w| w.strip_prefix("flow_count="))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    if report.groups.expected > 0 {
        let dump = ofctl(target, target.version, "dump-groups", &[]).context("cannot count groups")?;
        report.groups.restored = dump.lines().filter(|l| groups::group_id(l).is_some()).count();
    }
    if report.meters.expected > 0 || !report.placeholder_meters.is_empty() {
        let version = target.version.max(OfVersion::OpenFlow13);
        let dump = ofctl(target, version, "dump-meters", &[]).context("cannot count meters")?;
        let restored = dump.lines().filter(|l| l.starts_with("meter=")).count();
        report.meters.restored = restored.saturating_sub(report.placeholder_meters.len());
    }
    Ok(())
}

fn stderr_of(error: tools::ToolError) -> String {
    match error {
        tools::ToolError::Failed { stderr, .. } => stderr,
        other => other.to_string(),
    }
}

fn write_errors_log(path: &Path, bridge: &str, rejected: &[Rejected]) -> Result<()> {
    let mut out = BufWriter::new(File::create(path).with_context(|| format!("cannot write {}", path.display()))?);
    writeln!(out, "# ovs-offline: what OVS refused when restoring bridge {bridge}, with its error")?;
    for r in rejected {
        writeln!(out, "{}", r.line)?;
        for line in r.error.lines() {
            writeln!(out, "    {line}")?;
        }
    }
    out.flush()?;
    Ok(())
}

/// Deals lines to several files in turn, counting each file's lines.
struct RoundRobin {
    files: Vec<BufWriter<File>>,
    counts: Vec<usize>,
    next: usize,
    partial: Vec<u8>,
}

impl RoundRobin {
    fn create(paths: &[PathBuf]) -> Result<RoundRobin> {
        let files = paths
            .iter()
            .map(|p| File::create(p).map(BufWriter::new).with_context(|| format!("cannot write {}", p.display())))
            .collect::<Result<_>>()?;
        Ok(RoundRobin { files, counts: vec![0; paths.len()], next: 0, partial: Vec::new() })
    }

    fn finish(mut self) -> Result<Vec<usize>> {
        if !self.partial.is_empty() {
            self.partial.push(b'\n');
            let line = std::mem::take(&mut self.partial);
            self.write_line(&line)?;
        }
        for file in &mut self.files {
            file.flush()?;
        }
        Ok(self.counts)
    }

    fn write_line(&mut self, line: &[u8]) -> std::io::Result<()> {
        self.files[self.next].write_all(line)?;
        self.counts[self.next] += 1;
        self.next = (self.next + 1) % self.files.len();
        Ok(())
    }
}

impl Write for RoundRobin {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut rest = buf;
        while let Some(pos) = rest.iter().position(|&b| b == b'\n') {
            if self.partial.is_empty() {
                self.write_line(&rest[..=pos])?;
            } else {
                self.partial.extend_from_slice(&rest[..=pos]);
                let line = std::mem::take(&mut self.partial);
                self.write_line(&line)?;
            }
            rest = &rest[pos + 1..];
        }
        self.partial.extend_from_slice(rest);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_deals_whole_lines() {
        let dir = tempfile::tempdir().unwrap();
        let paths: Vec<PathBuf> = (0..3).map(|i| dir.path().join(i.to_string())).collect();
        let mut rr = RoundRobin::create(&paths).unwrap();
        rr.write_all(b"a\nb\nc").unwrap();
        rr.write_all(b"c\nd\n").unwrap();
        rr.write_all(b"e").unwrap();
        assert_eq!(rr.finish().unwrap(), vec![2, 2, 1]);
        let read = |i: usize| fs::read_to_string(&paths[i]).unwrap();
        assert_eq!((read(0), read(1), read(2)), ("a\nd\n".into(), "b\ne\n".into(), "cc\n".into()));
    }
}
