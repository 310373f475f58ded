//! `collect-flows PATH`: OpenFlow state gathered by hand — ovs-save output
//! (`do_restore.sh` with its `<bridge>.flows.dump` / `<bridge>.groups.dump`,
//! beside it or in an `ovs-save.XXXXXXXXXX/` subdirectory) or per-bridge
//! dumps named like sos output — validated and copied into
//! `restore_flows/`. Scripts are read as data, never executed.

use crate::capture::flows::{self as captured, file_name, BridgeDumps, DO_RESTORE, RESTORE_WRAPPER};
use crate::capture::{CollectedFile, CollectedFlows};
use crate::ofp_text::sos_names::{parse_ovs_save_dump_name, parse_sos_dump_name};
use crate::ofp_text::{flows, groups};
use crate::state::now;
use crate::workdir::Workdir;
use anyhow::{bail, Context, Result};
use std::fs::{self, File};
use std::io::BufReader;
use std::path::{Path, PathBuf};

/// What was collected, per bridge, for the user.
pub struct Collected {
    pub flows: CollectedFlows,
    pub bridges: Vec<BridgeSummary>,
    pub notes: Vec<String>,
}

pub struct BridgeSummary {
    pub bridge: String,
    pub version: Option<String>,
    pub flows: Option<usize>,
    pub groups: Option<usize>,
    pub meters: bool,
    pub tlv_map: bool,
}

pub fn collect_flows(workdir: &Workdir, source: &Path, force: bool) -> Result<Collected> {
    let files = source_files(source)?;
    let _lock = super::lock_collected_data(workdir)?;
    let target = workdir.restore_flows_dir();
    if !force && fs::read_dir(&target).is_ok_and(|mut d| d.next().is_some()) {
        bail!(
            "OpenFlow state already collected in {}; use --force to replace it, or choose another working directory with -w",
            target.display()
        );
    }
    let staging = workdir.restore_flows_staging();
    fs::remove_dir_all(&staging).ok();
    // Validated and summarised in staging; the summary reads only counts,
    // so it stays true once the files move under restore_flows/.
    let staged = stage(&files, &staging).and_then(|copied| {
        let plan = captured::discover(&staging, &[])
            .with_context(|| format!("cannot collect the OpenFlow state in {}", source.display()))?;
        if plan.is_empty() {
            bail!(
                "{} holds no flow dumps; expected do_restore.sh with <bridge>.flows.dump files (ovs-save), or files named \
                 ovs-ofctl_-O_OpenFlowNN_dump-flows_<bridge>",
                source.display()
            );
        }
        let bridges = plan.bridges.values().map(summarise).collect::<Result<Vec<_>>>()?;
        Ok((copied, bridges, plan.notes))
    });
    let (copied, bridges, notes) = match staged {
        Ok(staged) => staged,
        Err(e) => {
            fs::remove_dir_all(&staging).ok();
            return Err(e);
        }
    };
    replace_dir(&staging, &target)?;
    let flows = CollectedFlows {
        source: std::path::absolute(source).unwrap_or_else(|_| source.to_path_buf()),
        files: copied,
        collected_at: now(),
    };
    workdir.update_state(|s| s.flows = Some(flows.clone()))?;
    Ok(Collected { flows, bridges, notes })
}

/// The files to collect from `source`, with their paths relative to
/// `restore_flows/`.
fn source_files(source: &Path) -> Result<Vec<(PathBuf, PathBuf)>> {
    let meta = fs::metadata(source).with_context(|| format!("cannot read {}", source.display()))?;
    let dir = if meta.is_dir() {
        source.to_path_buf()
    } else {
        let name = file_name(source);
        if name == DO_RESTORE || name == RESTORE_WRAPPER {
            source.parent().unwrap_or(Path::new(".")).to_path_buf()
        } else if recognised(name) {
            return Ok(vec![(source.to_path_buf(), PathBuf::from(name))]);
        } else {
            bail!(
                "{} is not a flow dump or an ovs-save do_restore.sh; give collect-flows the directory ovs-save wrote",
                source.display()
            );
        }
    };
    let files = captured::dump_files(&dir)?
        .into_iter()
        .filter(|p| recognised(file_name(p)))
        .map(|p| {
            let relative = p.strip_prefix(&dir).unwrap_or(&p).to_path_buf();
            (p, relative)
        })
        .collect();
    Ok(files)
}

fn recognised(name: &str) -> bool {
    name == DO_RESTORE
        || name == RESTORE_WRAPPER
        || parse_ovs_save_dump_name(name).is_some()
        || parse_sos_dump_name(name).is_some()
}

fn stage(files: &[(PathBuf, PathBuf)], staging: &Path) -> Result<Vec<CollectedFile>> {
    let mut copied = Vec::new();
    for (source, relative) in files {
        let dest = staging.join(relative);
        let parent = dest.parent().context("no parent")?;
        fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        let (size, sha256) = super::copy_hashed(source, &dest)?;
        copied.push(CollectedFile { path: relative.clone(), size, sha256 });
    }
    Ok(copied)
}

/// Puts `staging` in place of `target` (whose old content goes).
fn replace_dir(staging: &Path, target: &Path) -> Result<()> {
    let old = target.with_extension("old");
    fs::remove_dir_all(&old).ok();
    if target.exists() {
        fs::rename(target, &old).with_context(|| format!("cannot replace {}", target.display()))?;
    }
    fs::rename(staging, target).with_context(|| format!("cannot create {}", target.display()))?;
    fs::remove_dir_all(&old).ok();
    Ok(())
}

fn summarise(dumps: &BridgeDumps) -> Result<BridgeSummary> {
    let count = |dump: &Option<captured::Dump>, normaliser: fn(BufReader<File>) -> std::io::Result<usize>| {
        dump.as_ref()
            .map(|d| {
                let file = File::open(&d.path).with_context(|| format!("cannot read {}", d.path.display()))?;
                normaliser(BufReader::new(file)).with_context(|| format!("cannot read {}", d.path.display()))
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
    })
}
