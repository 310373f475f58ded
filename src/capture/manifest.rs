//! `capture.json`: the versioned manifest of what is collected in a
//! workdir — each item's provenance, the source system and collection
//! notes — kept apart from the run state (`state.json`).
//!
//! Workdirs made before the manifest existed kept this under `collected`
//! and `flows` in `state.json`; [`upgrade_legacy`] moves it here once.

use super::{CollectedDb, CollectedFile, CollectedFlows, DbKind, Provenance, SourceSystem};
use crate::workdir::{to_json, write_atomic, Workdir, WorkdirError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The manifest format this version writes (and the newest it reads).
pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    #[serde(default)]
    pub source: SourceSystem,
    #[serde(default)]
    pub collected: BTreeMap<DbKind, CollectedDb>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flows: Option<CollectedFlows>,
    /// About the capture as a whole, one line each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Default for Manifest {
    fn default() -> Manifest {
        Manifest {
            format: FORMAT,
            source: SourceSystem::default(),
            collected: BTreeMap::new(),
            flows: None,
            notes: vec![],
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error(transparent)]
    Workdir(#[from] WorkdirError),
    #[error("{} is damaged; collect again into a new working directory", path.display())]
    Damaged {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{} has format {found}, newer than this ovs-offline reads ({FORMAT}); upgrade ovs-offline", path.display())]
    Newer { path: PathBuf, found: u32 },
}

impl Manifest {
    /// Reads `capture.json`; none is an empty capture.
    pub fn load(workdir: &Workdir) -> Result<Manifest, ManifestError> {
        let path = workdir.capture_manifest();
        let Some(bytes) = workdir.read_if_exists(&path)? else { return Ok(Manifest::default()) };
        let manifest: Manifest =
            serde_json::from_slice(&bytes).map_err(|source| ManifestError::Damaged { path: path.clone(), source })?;
        if manifest.format > FORMAT {
            return Err(ManifestError::Newer { path, found: manifest.format });
        }
        Ok(manifest)
    }

    /// Writes `capture.json` atomically.
    pub fn save(&self, workdir: &Workdir) -> Result<(), WorkdirError> {
        write_atomic(&workdir.capture_manifest(), &to_json(&Manifest { format: FORMAT, ..self.clone() }))
    }

    pub fn is_empty(&self) -> bool {
        self.collected.is_empty() && self.flows.is_none()
    }
}

/// `state.json` as versions before the manifest wrote it: provenance was a
/// bare path.
#[derive(Deserialize)]
struct LegacyState {
    #[serde(default)]
    collected: BTreeMap<DbKind, LegacyDb>,
    #[serde(default)]
    flows: Option<LegacyFlows>,
}

#[derive(Deserialize)]
struct LegacyDb {
    source: PathBuf,
    file: String,
    size: u64,
    sha256: String,
    schema: String,
    version: String,
    clustered: bool,
    collected_at: String,
}

#[derive(Deserialize)]
struct LegacyFlows {
    source: PathBuf,
    files: Vec<LegacyFile>,
    collected_at: String,
}

#[derive(Deserialize)]
struct LegacyFile {
    path: PathBuf,
    size: u64,
    sha256: String,
}

impl From<LegacyState> for Manifest {
    fn from(legacy: LegacyState) -> Manifest {
        let collected = legacy
            .collected
            .into_iter()
            .map(|(kind, db)| {
                let db = CollectedDb {
                    source: Provenance::File { path: db.source },
                    file: db.file,
                    size: db.size,
                    sha256: db.sha256,
                    schema: db.schema,
                    version: db.version,
                    clustered: db.clustered,
                    collected_at: db.collected_at,
                    rebuilt: false,
                    notes: vec![],
                    obfuscated: None,
                };
                (kind, db)
            })
            .collect();
        let flows = legacy.flows.map(|flows| CollectedFlows {
            incomplete: BTreeMap::new(),
            files: flows
                .files
                .into_iter()
                .map(|f| CollectedFile {
                    source: Provenance::File { path: flows.source.join(&f.path) },
                    path: f.path,
                    size: f.size,
                    sha256: f.sha256,
                })
                .collect(),
            source: Provenance::File { path: flows.source },
            collected_at: flows.collected_at,
            notes: vec![],
        });
        Manifest { collected, flows, ..Manifest::default() }
    }
}

/// The capture an older version recorded in its `state.json`.
pub(crate) fn from_legacy_state(state: &serde_json::Value) -> Result<Manifest, serde_json::Error> {
    LegacyState::deserialize(state).map(Manifest::from)
}

/// Moves what an older version recorded in `state.json` into
/// `capture.json`, and its run state into the current form, once; a
/// workdir without it is left alone.
pub fn upgrade_legacy(workdir: &Workdir) -> Result<(), ManifestError> {
    if !workdir.exists() || workdir.capture_manifest().exists() {
        return Ok(());
    }
    let path = workdir.state_file();
    let Some(bytes) = workdir.read_if_exists(&path)? else { return Ok(()) };
    let damaged = |source| ManifestError::Damaged { path: path.clone(), source };
    let mut state: serde_json::Value = serde_json::from_slice(&bytes).map_err(damaged)?;
    let manifest = from_legacy_state(&state).map_err(damaged)?;
    if manifest.is_empty() {
        return Ok(());
    }
    manifest.save(workdir)?;
    if let Some(fields) = state.as_object_mut() {
        fields.remove("collected");
        fields.remove("flows");
    }
    crate::state::upgrade_legacy_run(&mut state);
    write_atomic(&path, &to_json(&state))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `state.json` as ovs-offline 0.1 left it after collect-db-ovn-nb and
    /// collect-flows, with a replica running.
    const LEGACY_STATE: &str = r#"{
      "collected": {"ovn_nb": {"source": "/cases/42/ovnnb_db.db", "file": "ovnnb_db.db", "size": 1234,
        "sha256": "ab", "schema": "OVN_Northbound", "version": "7.0.4", "clustered": true,
        "collected_at": "2026-11-01T10:00:00Z"}},
      "flows": {"source": "/cases/42/flows", "files": [{"path": "do_restore.sh", "size": 10, "sha256": "cd"}],
        "collected_at": "2026-11-01T10:01:00Z"},
      "run": {"supervisor_pid": 4242, "started_at": "2026-11-01T10:02:00Z", "ready": true, "rootless": true,
        "dbs": [], "daemons": [{"name": "ovs-vswitchd", "pid": 4250, "started_at": "2026-11-01T10:02:01Z",
          "log": "/w/log/ovs-vswitchd.log", "exit": {"code": null, "signal": 9, "at": "2026-11-01T10:05:00Z",
          "unexpected": true}}]}
    }"#;

    #[test]
    fn old_workdir_is_read_and_upgraded() {
        let dir = tempfile::tempdir().unwrap();
        let workdir = Workdir::new(dir.path()).unwrap();
        std::fs::write(workdir.state_file(), LEGACY_STATE).unwrap();
        upgrade_legacy(&workdir).unwrap();

        let manifest = Manifest::load(&workdir).unwrap();
        let nb = &manifest.collected[&DbKind::OvnNb];
        assert_eq!(nb.source, Provenance::File { path: "/cases/42/ovnnb_db.db".into() });
        assert_eq!((nb.file.as_str(), nb.size, nb.clustered), ("ovnnb_db.db", 1234, true));
        let flows = manifest.flows.as_ref().unwrap();
        assert_eq!(flows.source, Provenance::File { path: "/cases/42/flows".into() });
        assert_eq!(flows.files[0].source, Provenance::File { path: "/cases/42/flows/do_restore.sh".into() });

        let state: serde_json::Value = serde_json::from_slice(&std::fs::read(workdir.state_file()).unwrap()).unwrap();
        assert!(state.get("collected").is_none() && state.get("flows").is_none(), "{state}");
        let run = workdir.load_state().unwrap().run.expect("the run state is kept");
        assert_eq!(run.phase.supervisor_pid(), Some(4242));
        assert_eq!(run.daemons[0].exit.as_ref().unwrap().how.signal(), Some(9));
        let again = std::fs::read(workdir.capture_manifest()).unwrap();
        upgrade_legacy(&workdir).unwrap();
        assert_eq!(std::fs::read(workdir.capture_manifest()).unwrap(), again, "upgraded once");
    }

    #[test]
    fn newer_formats_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let workdir = Workdir::new(dir.path()).unwrap();
        std::fs::write(workdir.capture_manifest(), r#"{"format": 99}"#).unwrap();
        let err = Manifest::load(&workdir).unwrap_err();
        assert!(err.to_string().contains("upgrade ovs-offline"), "{err}");
    }

    #[test]
    fn provenance_is_tagged() {
        let member = Provenance::ArchiveMember {
            archive: "/cases/sosreport-node1.tar.xz".into(),
            archive_sha256: "ef".into(),
            member: "sosreport-node1/etc/openvswitch/conf.db".into(),
        };
        let json = serde_json::to_value(&member).unwrap();
        assert_eq!(json["kind"], "archive_member");
        assert_eq!(serde_json::from_value::<Provenance>(json).unwrap(), member);
        assert_eq!(
            member.to_string(),
            "/cases/sosreport-node1.tar.xz (member sosreport-node1/etc/openvswitch/conf.db)"
        );
    }
}
