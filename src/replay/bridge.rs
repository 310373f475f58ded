//! Restores one bridge: TLV map → groups → meters → flows (in that order:
//! flows reference groups and meters, and tunnel metadata fields need
//! their TLV mapping) → MAC learning table ([`super::fdb`]), then counts
//! what the bridge holds.

use super::load::{self, LoadError, Rejected, Target};
use super::report::BridgeRestore;
use crate::capture::flows::{BridgeDumps, Dump};
use crate::ofp_text::tlv::TlvMapping;
use crate::ofp_text::{groups, meters, tables, tlv, DumpStats, OfVersion};
use crate::ovsdb::bridges::Bridge;
use crate::tools::ToolError;
use crate::workdir::Workdir;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Why the restore of one bridge stopped (recorded with the bridge; the
/// other bridges stand).
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    #[error("cannot create {}", path.display())]
    Create {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot normalise {}", path.display())]
    Normalise {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot clear the bridge's flow table")]
    ClearFlows(#[source] ToolError),
    #[error("cannot count {what}")]
    Count {
        what: &'static str,
        #[source]
        source: ToolError,
    },
    #[error("bridge restore panicked")]
    Panicked,
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Io(#[from] io::Error),
}

type Result<T, E = BridgeError> = std::result::Result<T, E>;

impl BridgeError {
    fn read(path: &Path) -> impl FnOnce(io::Error) -> BridgeError + '_ {
        move |source| BridgeError::Read { path: path.to_path_buf(), source }
    }

    fn create(path: &Path) -> impl FnOnce(io::Error) -> BridgeError + '_ {
        move |source| BridgeError::Create { path: path.to_path_buf(), source }
    }

    fn count(what: &'static str) -> impl FnOnce(ToolError) -> BridgeError {
        move |source| BridgeError::Count { what, source }
    }
}

/// A flow dump goes in as one bundle per share of about this size, fed one
/// after the other so that parsing (ovs-ofctl) and committing (vswitchd)
/// overlap. Measured with scripts/bench-restore on 2 cores, 1M flows:
/// 16-64 sequential shares 5.7-5.9 s, 2-4 concurrent shares 6.4-6.5 s, one
/// bundle 7.0-8.1 s.
const SHARE_BYTES: u64 = 4 << 20;
const MAX_SHARES: u64 = 64;

/// May the bridge speak `version`?
fn allows(db: &Bridge, version: OfVersion) -> bool {
    db.protocols.is_empty() || db.protocols.iter().any(|p| p == version.as_str())
}

/// The most expressive version the bridge speaks: everything goes in with
/// it (only OpenFlow 1.5 encodes a select group's `selection_method` and a
/// masked `set_field`, which OVS then prints in traces as production does).
fn highest_allowed(db: &Bridge) -> OfVersion {
    OfVersion::ALL.into_iter().rev().find(|v| allows(db, *v)).unwrap_or(OfVersion::OpenFlow15)
}

/// Restores `dumps` into the running bridge `db`; `ovn_geneve` when it is
/// OVN's integration bridge on a geneve chassis.
pub fn restore(workdir: &Workdir, dumps: &BridgeDumps, db: &Bridge, ovn_geneve: bool) -> Result<BridgeRestore> {
    let scratch = workdir.replay_dir(&db.name);
    fs::create_dir_all(&scratch).map_err(BridgeError::create(&scratch))?;
    let mut report = BridgeRestore { bridge: db.name.clone(), ..Default::default() };
    let target = target(workdir, dumps, db, &mut report);
    report.version = target.version.to_string();
    let mut rejected = Vec::new();

    let version = target.version;
    // Each step is a round trip of its own `ovs-ofctl`: the meters and the
    // clearing of the flow table, which nothing else here depends on, run
    // alongside the TLV map and the groups (a group's buckets may set a
    // tunnel metadata field: TLV map first).
    let meters = std::thread::scope(|scope| -> Result<MetersRestore> {
        let meters = scope.spawn(|| restore_meters(&target, db, dumps));
        let cleared = dumps.flows.as_ref().map(|_| scope.spawn(|| clear_flows(&target)));
        report.tlv_entries = restore_tlv_map(&target, dumps, ovn_geneve, &mut report.notes)?;
        if let Some(dump) = &dumps.groups {
            let file = workdir.replay_groups(&db.name);
            let before = rejected.len();
            report.groups.expected = restore_groups(&target, version, dump, &file, &mut rejected, &mut report.notes)?;
            report.groups.rejected = rejected.len() - before;
        }
        if let Some(cleared) = cleared {
            cleared.join().unwrap_or(Err(BridgeError::Panicked))?;
        }
        meters.join().unwrap_or(Err(BridgeError::Panicked))
    })?;
    report.meters.expected = meters.expected;
    report.meters.rejected = meters.rejected.len();
    rejected.extend(meters.rejected);
    report.notes.extend(meters.notes);
    if let Some(dump) = &dumps.flows {
        let outcome = restore_flows(workdir, &target, dump, &mut report)?;
        report.flows.rejected = outcome.rejected.len();
        rejected.extend(outcome.rejected);
        report.placeholder_meters = outcome.placeholder_meters;
        report.placeholder_groups = outcome.placeholder_groups;
        note_refused_placeholders(&report.placeholder_groups, &rejected, &mut report.notes);
        if let Some(dumped) = target.dumped.filter(|_| outcome.dumped > 0) {
            report.notes.push(format!(
                "{} flows refused with {} were restored with the dumps' {dumped}",
                outcome.dumped, target.version
            ));
        }
        if outcome.permissive > 0 {
            report.notes.push(format!(
                "{} flows accepted only with OpenFlow10 (production accepted them without consistency checks)",
                outcome.permissive
            ));
        }
    }
    count_restored(&target, &mut report)?;
    if let Some(dump) = &dumps.fdb {
        // The flows stand whatever happens to the MAC table.
        match super::fdb::restore(workdir, &target, dump, &mut rejected, &mut report.notes) {
            Ok(count) => report.fdb = Some(count),
            Err(e) => report.notes.push(format!("MAC learning table not restored: {}", super::chain(&e))),
        }
    }
    report.rejected = rejected.len();
    if !rejected.is_empty() {
        let log = workdir.restore_errors_log(&db.name);
        write_errors_log(&log, &db.name, &rejected)?;
        report.errors_log = Some(log);
    }
    fs::remove_dir_all(&scratch).ok();
    Ok(report)
}

/// Picks the OpenFlow versions: the most expressive the bridge allows, and
/// for the lines it refuses the dumps' own when the bridge allows it, else
/// ovs-save's rule on the bridge's protocols.
fn target(workdir: &Workdir, dumps: &BridgeDumps, db: &Bridge, report: &mut BridgeRestore) -> Target {
    let version = highest_allowed(db);
    let fallback = OfVersion::from_protocols(&db.protocols);
    let dumped = match dumps.dumped_version() {
        Some(v) if allows(db, v) => v,
        Some(v) => {
            report.notes.push(format!(
                "the dumps were taken with {v}, which the bridge's protocols ({}) do not allow; restored with {version} \
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
        dumped: Some(dumped).filter(|v| *v != version),
        permissive: Some(OfVersion::OpenFlow10).filter(|v| allows(db, *v) && *v != version),
    }
}

/// The mapping ovn-controller installs for its geneve option (class
/// 0x0102, type 0x80: logical ingress/egress ports).
fn ovn_geneve_mapping() -> TlvMapping {
    TlvMapping { class: 0x102, option_type: 0x80, len: 4, field: "tun_metadata0".into() }
}

fn restore_tlv_map(target: &Target, dumps: &BridgeDumps, ovn_geneve: bool, notes: &mut Vec<String>) -> Result<usize> {
    let mut mappings = dumps.tlv_map.clone();
    if let Some(dump) = &dumps.tlv_dump {
        let text = fs::read_to_string(&dump.path).map_err(BridgeError::read(&dump.path))?;
        match tlv::parse_tlv_map(&text) {
            Ok(parsed) => mappings.extend(parsed.into_iter().filter(|m| !dumps.tlv_map.contains(m))),
            Err(e) => notes.push(format!("TLV map dump {} unreadable: {e}", dump.path.display())),
        }
    }
    if mappings.is_empty() && ovn_geneve {
        // sos stores no TLV dump for a bridge without `protocols` (as OVN
        // leaves br-int); without the mapping every flow that touches
        // tun_metadata0 is refused.
        mappings.push(ovn_geneve_mapping());
        notes.push(format!(
            "no TLV map was captured; OVN's geneve mapping {} (what ovn-controller installs) was assumed",
            mappings[0]
        ));
    }
    if mappings.is_empty() {
        return Ok(0);
    }
    if let Err(e) = target.ofctl(target.version, "add-tlv-map", &[&tlv::tlv_map_arg(&mappings)]) {
        notes.push(format!("TLV map not restored: {e}"));
        return Ok(0);
    }
    Ok(mappings.len())
}

/// Notes what a normalised dump showed the capture lacks.
fn note_incomplete(dump: &Dump, stats: &DumpStats, what: &str, notes: &mut Vec<String>) {
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
}

fn restore_groups(
    target: &Target,
    version: OfVersion,
    dump: &Dump,
    file: &Path,
    rejected: &mut Vec<Rejected>,
    notes: &mut Vec<String>,
) -> Result<usize> {
    let input = File::open(&dump.path).map_err(BridgeError::read(&dump.path))?;
    let stats = groups::normalise_groups(BufReader::new(input), BufWriter::new(File::create(file)?))
        .map_err(|source| BridgeError::Normalise { path: dump.path.clone(), source })?;
    note_incomplete(dump, &stats, "groups", notes);
    if stats.written == 0 {
        return Ok(0);
    }
    if let Some(dumped) = dump.version.filter(|v| *v < OfVersion::OpenFlow15) {
        let (mut select, mut method) = (false, false);
        for line in BufReader::new(File::open(file)?).lines() {
            let line = line?;
            select |= line.contains("type=select");
            method |= line.contains("selection_method=");
        }
        if select && !method {
            notes.push(format!(
                "select groups dumped with {dumped} carry no selection_method (only OpenFlow15 prints it); for \
                 exact load balancing collect 'ovs-ofctl -O OpenFlow15 dump-groups {}' as \
                 ovs-ofctl_-O_OpenFlow15_dump-groups_{}",
                target.bridge, target.bridge
            ));
        }
    }
    let mut args = vec![file.to_str().unwrap_or_default()];
    if version.supports_bundle() {
        args.push("--bundle");
    }
    if target.ofctl(version, "add-groups", &args).is_err() {
        // One at a time while that makes progress: a group may chain to
        // one listed after it.
        let mut pending: Vec<String> = BufReader::new(File::open(file)?).lines().collect::<Result<_, _>>()?;
        loop {
            let failed: Vec<Rejected> = pending
                .iter()
                .filter_map(|group| {
                    let error = target.ofctl(version, "add-group", &[group]).err()?;
                    Some(Rejected { line: group.clone(), error: error.into_stderr() })
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

/// What restoring the meters found, for the bridge's report.
#[derive(Debug, Default)]
struct MetersRestore {
    /// Meters in the dump.
    expected: usize,
    rejected: Vec<Rejected>,
    notes: Vec<String>,
}

fn restore_meters(target: &Target, db: &Bridge, dumps: &BridgeDumps) -> Result<MetersRestore> {
    let mut done = MetersRestore::default();
    let Some(dump) = &dumps.meters else { return Ok(done) };
    if target.version < OfVersion::OpenFlow13 {
        done.notes.push(format!(
            "meters need OpenFlow13 or later, which the bridge's protocols ({}) do not allow; not restored",
            db.protocols.join(",")
        ));
        return Ok(done);
    }
    let input = File::open(&dump.path).map_err(BridgeError::read(&dump.path))?;
    let meters = match meters::parse_meters(BufReader::new(input)) {
        Ok(meters) => meters,
        Err(e) => {
            done.notes.push(format!("meters not restored: {}: {e}", dump.path.display()));
            return Ok(done);
        }
    };
    for meter in &meters {
        if let Err(e) = target.ofctl(target.version, "add-meter", &[&meter.spec]) {
            done.rejected.push(Rejected { line: meter.spec.clone(), error: e.into_stderr() });
        }
    }
    done.expected = meters.len();
    Ok(done)
}

/// The replica's bridge may hold vswitchd's default NORMAL flow: the dump
/// alone decides what the table holds.
fn clear_flows(target: &Target) -> Result<()> {
    target.ofctl(target.version, "del-flows", &[]).map_err(BridgeError::ClearFlows).map(drop)
}

/// Loads the flow dump into the bridge, whose flow table is cleared.
fn restore_flows(workdir: &Workdir, target: &Target, dump: &Dump, report: &mut BridgeRestore) -> Result<load::Outcome> {
    let size = fs::metadata(&dump.path).map_err(BridgeError::read(&dump.path))?.len();
    let shares = shares(&dump.path, size, size.div_ceil(SHARE_BYTES).clamp(1, MAX_SHARES) as usize)?;
    // Shares are fed one after the other: ovs-ofctl parses share i+1 while
    // vswitchd commits share i; all are awaited at the end.
    let mut feedings = Vec::new();
    for (index, &(start, len)) in shares.iter().enumerate() {
        let dir = workdir.replay_share_dir(&target.bridge, index);
        fs::create_dir_all(&dir).map_err(BridgeError::create(&dir))?;
        feedings.push(load::feed(workdir, target, load::Share { path: dump.path.clone(), index, start, len })?);
    }
    let mut stats = DumpStats::default();
    let mut total = load::Outcome::default();
    for feeding in feedings {
        let (share_stats, outcome) = feeding.finish(target)?;
        stats.merge(share_stats);
        total.merge(outcome);
    }
    note_incomplete(dump, &stats, "flows", &mut report.notes);
    if stats.timeouts > 0 {
        report.notes.push(format!(
            "{} flows had an idle or hard timeout; restored without it, so that they do not expire in a replica that \
             sees no traffic",
            stats.timeouts
        ));
    }
    report.flows.expected = stats.written;
    Ok(total)
}

/// Splits the file into `n` contiguous byte ranges starting at line starts.
fn shares(path: &Path, size: u64, n: usize) -> Result<Vec<(u64, u64)>> {
    let mut file = BufReader::new(File::open(path).map_err(BridgeError::read(path))?);
    let mut starts = vec![0u64];
    for i in 1..n as u64 {
        let mut at = (size * i / n as u64).max(*starts.last().unwrap_or(&0));
        file.seek(SeekFrom::Start(at))?;
        let mut rest = Vec::new();
        at += file.read_until(b'\n', &mut rest)? as u64;
        starts.push(at.min(size));
    }
    starts.push(size);
    Ok(starts.windows(2).map(|w| (w[0], w[1] - w[0])).collect())
}

/// Notes the placeholder groups that stand for groups of the capture OVS
/// refused (rejected before the flows): the other placeholders stand for
/// groups the capture lacks.
fn note_refused_placeholders(placeholders: &[u32], rejected: &[Rejected], notes: &mut Vec<String>) {
    let refused: Vec<String> = placeholders
        .iter()
        .filter(|id| rejected.iter().any(|r| groups::group_id(&r.line) == Some(**id)))
        .map(u32::to_string)
        .collect();
    if !refused.is_empty() {
        notes.push(format!(
            "groups {} of the capture were refused (see the log): the flows that use them go to empty placeholder groups",
            refused.join(", ")
        ));
    }
}

/// Counts flows, groups and meters the bridge holds now, in the bridge's
/// most expressive OpenFlow version; the three dumps are independent round
/// trips, made concurrently.
fn count_restored(target: &Target, report: &mut BridgeRestore) -> Result<()> {
    let version = target.version;
    let with_groups = report.groups.expected > 0 || !report.placeholder_groups.is_empty();
    let with_meters =
        version >= OfVersion::OpenFlow13 && (report.meters.expected > 0 || !report.placeholder_meters.is_empty());
    let dump =
        |command: &str, what: &'static str| target.ofctl(version, command, &[]).map_err(BridgeError::count(what));
    let (tables, groups, meters) = std::thread::scope(|scope| {
        let groups = with_groups.then(|| scope.spawn(|| dump("dump-groups", "groups")));
        let meters = with_meters.then(|| scope.spawn(|| dump("dump-meters", "meters")));
        let tables = dump("dump-tables", "flows");
        let join = |handle: Option<std::thread::ScopedJoinHandle<'_, Result<String>>>| {
            handle.map(|h| h.join().unwrap_or(Err(BridgeError::Panicked))).transpose()
        };
        (tables, join(groups), join(meters))
    });
    report.flows.restored = tables::active_flows(&tables?);
    if let Some(dump) = groups? {
        let restored = dump.lines().filter(|l| groups::group_id(l).is_some()).count();
        report.groups.restored = restored.saturating_sub(report.placeholder_groups.len());
    }
    if let Some(dump) = meters? {
        let restored = dump.lines().filter(|l| l.starts_with("meter=")).count();
        report.meters.restored = restored.saturating_sub(report.placeholder_meters.len());
    }
    Ok(())
}

fn write_errors_log(path: &Path, bridge: &str, rejected: &[Rejected]) -> Result<()> {
    let file = File::create(path).map_err(|source| BridgeError::Write { path: path.to_path_buf(), source })?;
    let mut out = BufWriter::new(file);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_start_at_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flows");
        let text = "aaaa\nbb\ncccccc\nd\neeeeeeee\n";
        fs::write(&path, text).unwrap();
        let shares = shares(&path, text.len() as u64, 3).unwrap();
        let pieces: Vec<&str> = shares.iter().map(|&(s, l)| &text[s as usize..(s + l) as usize]).collect();
        assert_eq!(pieces.concat(), text);
        assert!(pieces.iter().all(|p| p.is_empty() || p.ends_with('\n')), "{pieces:?}");
        assert_eq!(shares.len(), 3);
        assert_eq!(super::shares(&path, text.len() as u64, 1).unwrap(), vec![(0, text.len() as u64)]);
    }
}
