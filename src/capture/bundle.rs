//! The portable capture bundle: a workdir's committed capture as one
//! self-describing `ovs-offline-capture-<host>-<UTC time>.tar.xz`, made on
//! the affected host ([`pack`], behind `collect-local`) and imported on
//! the analyst's machine (`collect-capture`, [`crate::collect::bundle`]).
//!
//! Layout, below one top directory named like the file:
//! - [`INDEX`] first: the bundle [`FORMAT`], the tool and its version, and
//!   the path, size and sha256 of every other member, so that an importer
//!   verifies each member while streaming it;
//! - `capture.json`, the workdir's manifest (each item's provenance, the
//!   source system, the notes);
//! - `db/<kind>/<file>` and `restore_flows/<path>`, as in the workdir.

use super::manifest::{Manifest, ManifestError};
use super::{DbKind, SourceSystem};
use crate::digest::{hex, Hashing};
use crate::quote;
use crate::workdir::{Workdir, WorkdirError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

/// The bundle format this version writes and reads.
pub const FORMAT: u32 = 1;

/// The first member: the bundle's [`Index`].
pub const INDEX: &str = "ovs-offline-bundle.json";

/// The manifest member.
pub const MANIFEST: &str = "capture.json";

/// The bundle's own description, its first member.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Index {
    pub bundle_format: u32,
    pub tool: String,
    pub tool_version: String,
    pub created_at: String,
    /// Every other member, in the order they follow.
    pub files: Vec<IndexedFile>,
}

/// One member: its path below the top directory, size and sha256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexedFile {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error(transparent)]
    Workdir(#[from] WorkdirError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("nothing is collected in {}; collect first, then pack", quote::path(.0))]
    Empty(PathBuf),
    #[error("another ovs-offline is collecting into {}; wait for it to finish", quote::path(.0))]
    Busy(PathBuf),
    #[error("{} is not the name of a .tar.xz file or a directory; give a directory or a name ending in .tar.xz", quote::path(.0))]
    BadOutput(PathBuf),
    #[error("{} exists; not replaced (remove it or give another name)", quote::path(.0))]
    Exists(PathBuf),
    #[error("{} changed since it was collected (its sha256 is not the one capture.json records); not packed (collect again)", quote::path(.0))]
    Changed(PathBuf),
    #[error("capture.json names {}, which is not a plain relative path; not packed", quote::path(.0))]
    UnsafePath(PathBuf),
    #[error("cannot write the bundle {}", quote::path(path))]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot read {}", quote::path(path))]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// A file of the workdir to pack, and what the manifest says it holds.
struct Packed {
    member: String,
    path: PathBuf,
    size: u64,
    sha256: String,
}

/// Writes the capture committed in `workdir` as a bundle: into the
/// directory `out` under its standard name, or as `out` when that ends in
/// `.tar.xz`. Holds the collect lock meanwhile; every file is checked
/// against the sha256 the manifest records as it is packed. Returns the
/// bundle's path; on any error nothing is left behind.
pub fn pack(workdir: &Workdir, out: &Path) -> Result<PathBuf, BundleError> {
    let Some(_lock) = workdir.try_lock_collect()? else {
        return Err(BundleError::Busy(workdir.root().to_path_buf()));
    };
    let manifest = Manifest::load(workdir)?;
    if manifest.is_empty() {
        return Err(BundleError::Empty(workdir.root().to_path_buf()));
    }
    let stem = format!("ovs-offline-capture-{}-{}", host_label(&manifest.source), utc_stamp());
    let (dir, name) = if out.is_dir() {
        (out.to_path_buf(), format!("{stem}.tar.xz"))
    } else {
        let name = out.file_name().and_then(|n| n.to_str()).filter(|n| n.ends_with(".tar.xz") && n.len() > 7);
        let Some(name) = name else { return Err(BundleError::BadOutput(out.to_path_buf())) };
        let dir = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        (dir.to_path_buf(), name.to_string())
    };
    let path = dir.join(&name);
    let top = name.trim_end_matches(".tar.xz");
    let manifest_bytes = crate::workdir::to_json(&manifest);
    let files = files_of(workdir, &manifest)?;
    let mut listed = vec![IndexedFile {
        path: MANIFEST.to_string(),
        size: manifest_bytes.len() as u64,
        sha256: hex(Sha256::digest(&manifest_bytes)),
    }];
    listed.extend(files.iter().map(|f| IndexedFile { path: f.member.clone(), size: f.size, sha256: f.sha256.clone() }));
    let index = Index {
        bundle_format: FORMAT,
        tool: env!("CARGO_PKG_NAME").to_string(),
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        created_at: crate::state::now(),
        files: listed,
    };
    let write_error = |source| BundleError::Write { path: path.clone(), source };
    let tmp = tempfile::Builder::new().prefix(".ovs-offline-bundle-").tempfile_in(&dir).map_err(write_error)?;
    let mut tar = tar::Builder::new(xz2::write::XzEncoder::new(tmp, 6));
    append(&mut tar, top, INDEX, &crate::workdir::to_json(&index)[..]).map_err(write_error)?;
    append(&mut tar, top, MANIFEST, &manifest_bytes[..]).map_err(write_error)?;
    for file in &files {
        let input = File::open(&file.path).map_err(|source| BundleError::Read { path: file.path.clone(), source })?;
        let mut hashing = Hashing::<_, Sha256>::new(input.take(file.size));
        let copied = append_sized(&mut tar, top, &file.member, file.size, &mut hashing).map_err(write_error)?;
        if copied != file.size || hex(hashing.digest.finalize()) != file.sha256 {
            return Err(BundleError::Changed(file.path.clone()));
        }
    }
    let tmp = tar.into_inner().and_then(|xz| xz.finish()).map_err(write_error)?;
    tmp.as_file().sync_all().map_err(write_error)?;
    tmp.persist_noclobber(&path).map_err(|e| match e.error.kind() {
        io::ErrorKind::AlreadyExists => BundleError::Exists(path.clone()),
        _ => write_error(e.error),
    })?;
    Ok(path)
}

/// The workdir files the manifest names, with their recorded size and
/// sha256.
fn files_of(workdir: &Workdir, manifest: &Manifest) -> Result<Vec<Packed>, BundleError> {
    let mut files = Vec::new();
    for (kind, db) in &manifest.collected {
        let relative = Path::new(kind.dir_name()).join(&db.file);
        check_plain(&relative)?;
        files.push(Packed {
            member: format!("db/{}/{}", kind.dir_name(), db.file),
            path: workdir.collected_db(*kind, &db.file),
            size: db.size,
            sha256: db.sha256.clone(),
        });
    }
    for file in manifest.flows.iter().flat_map(|f| &f.files) {
        check_plain(&file.path)?;
        let relative = file.path.to_str().ok_or_else(|| BundleError::UnsafePath(file.path.clone()))?;
        files.push(Packed {
            member: format!("restore_flows/{relative}"),
            path: workdir.restore_flows_file(&file.path),
            size: file.size,
            sha256: file.sha256.clone(),
        });
    }
    Ok(files)
}

fn check_plain(path: &Path) -> Result<(), BundleError> {
    let plain = path.components().next().is_some() && path.components().all(|c| matches!(c, Component::Normal(_)));
    if plain {
        Ok(())
    } else {
        Err(BundleError::UnsafePath(path.to_path_buf()))
    }
}

fn append<W: Write>(tar: &mut tar::Builder<W>, top: &str, member: &str, data: &[u8]) -> io::Result<()> {
    append_sized(tar, top, member, data.len() as u64, data).map(drop)
}

/// Appends a regular file of `size` bytes read from `input`; returns how
/// many it read (fewer: the file shrank, and the bundle is unusable).
fn append_sized<W: Write>(
    tar: &mut tar::Builder<W>,
    top: &str,
    member: &str,
    size: u64,
    input: impl Read,
) -> io::Result<u64> {
    let mut header = tar::Header::new_gnu();
    header.set_size(size);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mtime(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()));
    let mut counted = crate::digest::Counted::new(input);
    tar.append_data(&mut header, format!("{top}/{member}"), &mut counted)?;
    Ok(counted.count)
}

/// The source's host name (else this host's) as a file name part.
fn host_label(source: &SourceSystem) -> String {
    let local = || std::fs::read_to_string("/proc/sys/kernel/hostname").ok().map(|h| h.trim().to_string());
    let host = source.hostname.clone().or_else(|| source.node.clone()).or_else(local).unwrap_or_default();
    let label: String = host
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' { c } else { '_' })
        .take(64)
        .collect();
    let label = label.trim_start_matches(['.', '-']).to_string();
    if label.is_empty() {
        "unknown-host".into()
    } else {
        label
    }
}

/// Now in UTC as `20261202T193000Z`.
fn utc_stamp() -> String {
    crate::state::now().replace(['-', ':'], "")
}

/// The kind of a `db/<kind>/` directory name.
pub fn db_kind_of_dir(name: &str) -> Option<DbKind> {
    DbKind::ALL.into_iter().find(|k| k.dir_name() == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::writer::tests::db;
    use crate::capture::writer::CaptureWriter;
    use crate::capture::Provenance;

    fn collected() -> (tempfile::TempDir, Workdir) {
        let dir = tempfile::tempdir().unwrap();
        let workdir = Workdir::new(&dir.path().join("work")).unwrap();
        let mut capture = CaptureWriter::begin(&workdir, false).unwrap();
        let origin = |p: &str| Provenance::File { path: PathBuf::from("/cases/7").join(p) };
        capture.stage_db(DbKind::OvnNb, &db("OVN_Northbound")[..], "ovnnb_db.db", origin("nb")).unwrap();
        capture.begin_flows(origin("flows")).unwrap();
        let dump = Path::new("sos.openvswitch/ovs-ofctl_-O_OpenFlow13_dump-flows_br-int");
        capture.stage_flow_file(dump, &b"priority=0 actions=drop\n"[..], origin("f")).unwrap();
        capture.source_system(SourceSystem { hostname: Some("node 1/x".into()), ..SourceSystem::default() });
        capture.commit().unwrap();
        (dir, workdir)
    }

    /// The members of a bundle: path and contents.
    fn members(path: &Path) -> Vec<(String, Vec<u8>)> {
        let mut archive = tar::Archive::new(xz2::read::XzDecoder::new(File::open(path).unwrap()));
        let mut out = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            out.push((name, data));
        }
        out
    }

    #[test]
    fn a_bundle_lists_and_checksums_every_member_first() {
        let (dir, workdir) = collected();
        let path = pack(&workdir, dir.path()).unwrap();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        assert!(name.starts_with("ovs-offline-capture-node_1_x-2") && name.ends_with("Z.tar.xz"), "{name}");
        let top = name.trim_end_matches(".tar.xz");
        let members = members(&path);
        assert_eq!(members[0].0, format!("{top}/{INDEX}"));
        let index: Index = serde_json::from_slice(&members[0].1).unwrap();
        assert_eq!((index.bundle_format, index.tool_version.as_str()), (FORMAT, env!("CARGO_PKG_VERSION")));
        let rest: Vec<IndexedFile> = members[1..]
            .iter()
            .map(|(p, data)| IndexedFile {
                path: p.strip_prefix(&format!("{top}/")).unwrap().to_string(),
                size: data.len() as u64,
                sha256: hex(Sha256::digest(data)),
            })
            .collect();
        assert_eq!(index.files, rest);
        let paths: Vec<&str> = rest.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                MANIFEST,
                "db/ovn_nb/ovnnb_db.db",
                "restore_flows/sos.openvswitch/ovs-ofctl_-O_OpenFlow13_dump-flows_br-int"
            ]
        );

        // A named file; never over an existing one.
        let named = dir.path().join("case-7.tar.xz");
        assert_eq!(pack(&workdir, &named).unwrap(), named);
        assert!(matches!(pack(&workdir, &named), Err(BundleError::Exists(_))));
        assert!(matches!(pack(&workdir, &dir.path().join("case.zip")), Err(BundleError::BadOutput(_))));
    }

    #[test]
    fn a_file_changed_since_collected_is_not_packed() {
        let (dir, workdir) = collected();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let dump = workdir.restore_flows_file(Path::new("sos.openvswitch/ovs-ofctl_-O_OpenFlow13_dump-flows_br-int"));
        std::fs::write(&dump, b"priority=9 actions=drop\n").unwrap();
        assert!(matches!(pack(&workdir, &out), Err(BundleError::Changed(p)) if p == dump));
        assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0, "nothing left behind");
        let empty = Workdir::new(&dir.path().join("empty")).unwrap();
        empty.create().unwrap();
        assert!(matches!(pack(&empty, &out), Err(BundleError::Empty(_))));
    }
}
