//! `collect-flows PATH`: OpenFlow state gathered by hand — ovs-save output
//! (`do_restore.sh` with its `<bridge>.flows.dump` / `<bridge>.groups.dump`,
//! beside it or in an `ovs-save.XXXXXXXXXX/` subdirectory) or per-bridge
//! dumps named like sos output, with `ovs-appctl fdb/show BR` output as
//! `ovs-appctl_fdb.show_<br>` — validated and copied into
//! `restore_flows/`. Scripts are read as data, never executed.

use super::CollectError;
use crate::capture::flows::{self as captured, file_name, BridgeDumps, DO_RESTORE, RESTORE_WRAPPER};
use crate::capture::writer::CaptureWriter;
use crate::capture::Provenance;
use crate::ofp_text::sos_names::{parse_ovs_save_dump_name, parse_sos_dump_name};
use crate::ofp_text::{fdb, flows, groups};
use crate::workdir::Workdir;
use serde::Serialize;
use std::fs::{self, File};
use std::io::BufReader;
use std::path::{Path, PathBuf};

/// What was collected, per bridge, for the user.
#[derive(Debug, Serialize)]
pub struct Collected {
    /// How many files were collected.
    pub files: usize,
    pub bridges: Vec<BridgeSummary>,
    /// What was ignored or missing, one line each (also kept in the manifest).
    pub notes: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct BridgeSummary {
    pub bridge: String,
    pub version: Option<String>,
    pub flows: Option<usize>,
    pub groups: Option<usize>,
    pub meters: bool,
    pub tlv_map: bool,
    /// Entries of the MAC learning table (`ovs-appctl fdb/show`), when
    /// collected.
    pub fdb: Option<usize>,
    /// Which member supplied each dump (sos reports), one entry each.
    pub members: Vec<String>,
}

pub fn collect_flows(workdir: &Workdir, source: &Path, force: bool) -> Result<Collected, CollectError> {
    let files = source_files(source)?;
    let mut capture = CaptureWriter::begin(workdir, force)?;
    capture.begin_flows(Provenance::file(source))?;
    for (path, relative) in &files {
        let (file, origin) = super::open(path, path == source)?;
        capture.stage_flow_file(relative, file, origin)?;
    }
    // Validated and summarised in staging; the summary reads only counts,
    // so it stays true once the files move under restore_flows/.
    let plan = captured::discover(&capture.staged_flows_dir(), &[])
        .map_err(|error| CollectError::Flows { path: source.to_path_buf(), source: error })?;
    if plan.is_empty() {
        return Err(CollectError::NoDumps(source.to_path_buf()));
    }
    let bridges = plan.bridges.values().map(summarise).collect::<Result<Vec<_>, _>>()?;
    // A do_restore.sh whose dumps were left behind would restore 0/0.
    if bridges.iter().all(BridgeSummary::is_empty) {
        return Err(CollectError::NoDumps(source.to_path_buf()));
    }
    for note in &plan.notes {
        capture.note_flows(note);
    }
    capture.commit()?;
    let notes = plan.notes.iter().map(|n| crate::quote::note(n)).collect();
    Ok(Collected { files: files.len(), bridges, notes })
}

/// The files to collect from `source`, with their paths relative to
/// `restore_flows/`.
fn source_files(source: &Path) -> Result<Vec<(PathBuf, PathBuf)>, CollectError> {
    let meta = fs::metadata(source).map_err(|e| CollectError::Read { path: source.to_path_buf(), source: e })?;
    let dir = if meta.is_dir() {
        source.to_path_buf()
    } else {
        let name = file_name(source);
        if name == DO_RESTORE || name == RESTORE_WRAPPER {
            source.parent().unwrap_or(Path::new(".")).to_path_buf()
        } else if recognised(name) {
            return Ok(vec![(source.to_path_buf(), PathBuf::from(name))]);
        } else {
            return Err(CollectError::NotFlows(source.to_path_buf()));
        }
    };
    let files = captured::dump_files(&dir)
        .map_err(|error| CollectError::Flows { path: source.to_path_buf(), source: error })?
        .into_iter()
        .filter(|p| recognised(file_name(p)))
        .map(|p| {
            let relative = p.strip_prefix(&dir).unwrap_or(&p).to_path_buf();
            (p, relative)
        })
        .collect();
    Ok(files)
}

impl BridgeSummary {
    /// No dump of the bridge was found, only a mention of it.
    pub fn is_empty(&self) -> bool {
        self.flows.is_none() && self.groups.is_none() && !self.meters && self.fdb.is_none()
    }
}

fn recognised(name: &str) -> bool {
    name == DO_RESTORE
        || name == RESTORE_WRAPPER
        || parse_ovs_save_dump_name(name).is_some()
        || parse_sos_dump_name(name).is_some()
}

pub(crate) fn summarise(dumps: &BridgeDumps) -> Result<BridgeSummary, CollectError> {
    let count = |dump: &Option<captured::Dump>, normaliser: fn(BufReader<File>) -> std::io::Result<usize>| {
        dump.as_ref()
            .map(|d| {
                File::open(&d.path)
                    .and_then(|file| normaliser(BufReader::new(file)))
                    .map_err(|source| CollectError::Read { path: d.path.clone(), source })
            })
            .transpose()
    };
    let version = dumps.dumped_version().map(|v| v.to_string());
    Ok(BridgeSummary {
        bridge: dumps.bridge.clone(),
        version,
        flows: count(&dumps.flows, |r| flows::normalise_flows(r, std::io::sink()).map(|s| s.written))?,
        groups: count(&dumps.groups, |r| groups::normalise_groups(r, std::io::sink()).map(|s| s.written))?,
        meters: dumps.meters.is_some(),
        tlv_map: !dumps.tlv_map.is_empty() || dumps.tlv_dump.is_some(),
        fdb: count(&dumps.fdb, |r| fdb::parse_fdb_show(r).map(|t| t.entries.len()))?,
        members: Vec::new(),
    })
}
