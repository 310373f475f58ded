//! What OpenFlow state `restore_flows/` holds, per bridge, whatever form it
//! came in: ovs-save output (`do_restore.sh` read as data, with
//! `<bridge>.flows.dump` / `<bridge>.groups.dump` beside it or in an
//! `ovs-save.XXXXXXXXXX/` subdirectory) or per-bridge files named like sos
//! output (`ovs-ofctl_-O_OpenFlowNN_dump-{flows,groups,tlv-map,meters}_<br>`,
//! and the MAC learning table as `ovs-appctl_fdb.show_<br>`).
//! Nothing here executes or modifies anything.

use crate::ofp_text::ovs_save::RestoreScriptError;
use crate::ofp_text::ovs_save::{self, ScriptKind};
use crate::ofp_text::sos_names::{parse_ovs_save_dump_name, parse_sos_dump_name, sos_mangled_bridge};
use crate::ofp_text::tlv::TlvMapping;
use crate::ofp_text::{DumpKind, OfVersion};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::BufReader;
use std::path::{Path, PathBuf};

pub const DO_RESTORE: &str = "do_restore.sh";

#[derive(Debug, thiserror::Error)]
pub enum FlowsError {
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Script {
        path: PathBuf,
        #[source]
        source: RestoreScriptError,
    },
}

type Result<T, E = FlowsError> = std::result::Result<T, E>;

fn read_error(path: &Path) -> impl FnOnce(std::io::Error) -> FlowsError + '_ {
    move |source| FlowsError::Read { path: path.to_path_buf(), source }
}
pub const RESTORE_WRAPPER: &str = "restore.sh";

/// One dump file and the OpenFlow version it was taken with (`None`: not
/// known, e.g. sos's plain `ovs-ofctl dump-flows`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dump {
    pub path: PathBuf,
    pub version: Option<OfVersion>,
}

/// The OpenFlow state of one bridge to restore.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BridgeDumps {
    pub bridge: String,
    /// The version ovs-save used for this bridge (`-O` in do_restore.sh).
    pub script_version: Option<OfVersion>,
    /// TLV mappings from do_restore.sh.
    pub tlv_map: Vec<TlvMapping>,
    pub flows: Option<Dump>,
    pub groups: Option<Dump>,
    pub meters: Option<Dump>,
    /// A `dump-tlv-map` output file (sos form).
    pub tlv_dump: Option<Dump>,
    /// An `ovs-appctl fdb/show` output file (sos form,
    /// `ovs-appctl_fdb.show_<br>`): the bridge's MAC learning table.
    pub fdb: Option<Dump>,
}

impl BridgeDumps {
    /// The OpenFlow version the flows were dumped with, else the one
    /// do_restore.sh names.
    pub fn dumped_version(&self) -> Option<OfVersion> {
        self.flows.as_ref().and_then(|d| d.version).or(self.script_version)
    }

    fn slot(&mut self, kind: DumpKind) -> &mut Option<Dump> {
        match kind {
            DumpKind::Flows => &mut self.flows,
            DumpKind::Groups => &mut self.groups,
            DumpKind::Meters => &mut self.meters,
            DumpKind::TlvMap => &mut self.tlv_dump,
            DumpKind::Fdb => &mut self.fdb,
        }
    }

    /// Keeps the dump with the highest version (what only OF1.5 can say is
    /// lost in older dumps); on a tie, the one already there.
    fn offer(&mut self, kind: DumpKind, dump: Dump) {
        let slot = self.slot(kind);
        if slot.as_ref().is_none_or(|old| dump.version > old.version) {
            *slot = Some(dump);
        }
    }
}

#[derive(Debug, Default, Clone)]
pub struct FlowPlan {
    pub bridges: BTreeMap<String, BridgeDumps>,
    /// What was ignored or missing, one line each.
    pub notes: Vec<String>,
}

impl FlowPlan {
    pub fn is_empty(&self) -> bool {
        self.bridges.is_empty()
    }
}

/// Reads `dir`. `db_bridges` (the bridges of the OVS database, when known)
/// maps sos's mangled names back to real bridge names.
pub fn discover(dir: &Path, db_bridges: &[String]) -> Result<FlowPlan> {
    let mut plan = FlowPlan::default();
    let files = dump_files(dir)?;
    let script = dir.join(DO_RESTORE);
    if script.is_file() {
        read_script(&script, &files, &mut plan)?;
    }
    if dir.join(RESTORE_WRAPPER).is_file() {
        plan.notes.push(format!("{RESTORE_WRAPPER} (a wrapper around {DO_RESTORE}) was read as data and not run"));
    }
    for path in &files {
        let name = file_name(path);
        if let Some(sos) = parse_sos_dump_name(name) {
            let bridge = real_bridge(&sos.bridge, db_bridges);
            entry(&mut plan, &bridge).offer(sos.kind, Dump { path: path.clone(), version: sos.version });
        } else if let Some((kind, bridge)) = parse_ovs_save_dump_name(name) {
            entry(&mut plan, bridge).offer(kind, Dump { path: path.clone(), version: None });
        }
    }
    Ok(plan)
}

fn entry<'a>(plan: &'a mut FlowPlan, bridge: &str) -> &'a mut BridgeDumps {
    plan.bridges
        .entry(bridge.to_string())
        .or_insert_with(|| BridgeDumps { bridge: bridge.to_string(), ..Default::default() })
}

/// sos writes `:` and `@` in bridge names as `_`; find the real name.
fn real_bridge(mangled: &str, db_bridges: &[String]) -> String {
    db_bridges.iter().find(|b| sos_mangled_bridge(b) == mangled).cloned().unwrap_or_else(|| mangled.to_string())
}

fn read_script(script: &Path, files: &[PathBuf], plan: &mut FlowPlan) -> Result<()> {
    let reader = BufReader::new(File::open(script).map_err(read_error(script))?);
    let parsed = ovs_save::parse_restore_script(reader)
        .map_err(|source| FlowsError::Script { path: script.to_path_buf(), source })?;
    if parsed.kind == ScriptKind::Wrapper {
        plan.notes.push(format!("{DO_RESTORE} is a wrapper around another do_restore.sh, not ovs-save output"));
    }
    for ignored in &parsed.ignored {
        plan.notes.push(format!("{DO_RESTORE} line {} ignored ({}): {}", ignored.line, ignored.reason, ignored.text));
    }
    let mut missing = Vec::new();
    for saved in parsed.bridges {
        let version = saved.version;
        let bridge = entry(plan, &saved.bridge);
        bridge.script_version = version;
        bridge.tlv_map = saved.tlv_map;
        for (kind, name) in [(DumpKind::Flows, &saved.flows_file), (DumpKind::Groups, &saved.groups_file)] {
            let Some(name) = name else { continue };
            match files.iter().find(|p| file_name(p) == name) {
                Some(path) => bridge.offer(kind, Dump { path: path.clone(), version }),
                None => missing.push(format!(
                    "{DO_RESTORE} names {name} for bridge {}, but no such file was collected",
                    saved.bridge
                )),
            }
        }
    }
    plan.notes.extend(missing);
    Ok(())
}

/// Regular files in `dir` and in its `ovs-save.*` subdirectories (where
/// `kubectl cp` of the ovs-save directory leaves them) and `sos.<plugin>/`
/// subdirectories (`collect-sos`). Symlinks are not followed.
pub fn dump_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    if !dir.is_dir() {
        return Ok(files);
    }
    for entry in read_dir_sorted(dir)? {
        let kind = fs::symlink_metadata(&entry).map_err(read_error(&entry))?.file_type();
        if kind.is_file() {
            files.push(entry);
        } else if kind.is_dir() && is_dump_subdir(file_name(&entry)) {
            for inner in read_dir_sorted(&entry)? {
                if fs::symlink_metadata(&inner).map_err(read_error(&inner))?.file_type().is_file() {
                    files.push(inner);
                }
            }
        }
    }
    Ok(files)
}

/// `ovs-save.XXXXXXXXXX/` (ovs-save's own directory) or `sos.<plugin>/`
/// (dumps from one plugin of an sos report, kept apart because two plugins
/// store dumps under the same name).
fn is_dump_subdir(name: &str) -> bool {
    name.starts_with("ovs-save.") || name.starts_with("sos.")
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .and_then(|entries| entries.map(|e| e.map(|e| e.path())).collect())
        .map_err(read_error(dir))?;
    entries.sort();
    Ok(entries)
}

/// The last component of `path` as text (empty when it has none).
pub fn file_name(path: &Path) -> &str {
    path.file_name().and_then(|n| n.to_str()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        let path = dir.join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    #[test]
    fn ovs_save_output_in_a_subdirectory() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            DO_RESTORE,
            "ovs-ofctl -O OpenFlow15 add-tlv-map br-ex '{class=0xffff,type=0x1,len=4}->tun_metadata0'\n\
             ovs-ofctl -O OpenFlow15 add-groups br-ex \"/tmp/ovs-save.X/br-ex.groups.dump\" --bundle\n\
             ovs-ofctl -O OpenFlow15 replace-flows br-ex \"/tmp/ovs-save.X/br-ex.flows.dump\" --bundle\n\
             rm -rf \"/tmp/ovs-save.X\"\n",
        );
        write(dir.path(), "ovs-save.X/br-ex.flows.dump", "priority=0 actions=drop\n");
        write(dir.path(), "ovs-save.X/br-ex.groups.dump", "");
        let plan = discover(dir.path(), &[]).unwrap();
        let br = &plan.bridges["br-ex"];
        assert_eq!(br.script_version, Some(OfVersion::OpenFlow15));
        assert_eq!(br.tlv_map.len(), 1);
        assert!(br.flows.as_ref().unwrap().path.ends_with("ovs-save.X/br-ex.flows.dump"));
        assert_eq!(br.flows.as_ref().unwrap().version, Some(OfVersion::OpenFlow15));
        assert!(br.groups.is_some());
        assert!(plan.notes.iter().any(|n| n.contains("line 4 ignored")), "{:?}", plan.notes);
    }

    #[test]
    fn sos_dumps_keep_the_highest_version_and_real_names() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "ovs-ofctl_dump-flows_br-int",
            "ovs-ofctl_-O_OpenFlow13_dump-flows_br-int",
            "ovs-ofctl_-O_OpenFlow15_dump-flows_br-int",
            "ovs-ofctl_-O_OpenFlow13_dump-meters_br_1",
            "ovs-ofctl_-O_OpenFlow15_meter-stats_br-int",
            "ovs-appctl_fdb.show_br_1",
        ] {
            write(dir.path(), name, "");
        }
        let plan = discover(dir.path(), &["br:1".to_string()]).unwrap();
        let flows = plan.bridges["br-int"].flows.as_ref().unwrap();
        assert_eq!(flows.version, Some(OfVersion::OpenFlow15));
        assert!(plan.bridges["br:1"].meters.is_some());
        assert!(plan.bridges["br:1"].fdb.is_some());
        assert_eq!(plan.bridges.len(), 2);
    }

    #[test]
    fn missing_dumps_are_noted() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            DO_RESTORE,
            "ovs-ofctl -O OpenFlow14 replace-flows br-int \"/tmp/x/br-int.flows.dump\" --bundle\n",
        );
        let plan = discover(dir.path(), &[]).unwrap();
        assert!(plan.notes.iter().any(|n| n.contains("br-int.flows.dump")));
        assert!(plan.bridges["br-int"].flows.is_none());
    }
}
