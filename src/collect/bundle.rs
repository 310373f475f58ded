//! `collect-capture FILE`: imports a portable capture bundle
//! ([`crate::capture::bundle`], made by `collect-local` on the affected
//! host) in one streaming pass through [`super::archive`], as hostile
//! evidence: the index must come first and be of this version's format;
//! every other member must be the next one the index lists, a regular file
//! below the bundle's top directory, and match its size and sha256 while
//! it streams into the [`CaptureWriter`]. Anything else refuses the whole
//! bundle and leaves the workdir as it was. Each item keeps the provenance
//! the bundle recorded, as [`Provenance::Bundle`]'s `original`.

use super::archive::{read_archive, MemberKind};
use super::flows::{summarise, BridgeSummary};
use super::CollectError;
use crate::capture::bundle::{db_kind_of_dir, Index, FORMAT, INDEX, MANIFEST};
use crate::capture::flows as captured;
use crate::capture::manifest::{self, Manifest};
use crate::capture::writer::CaptureWriter;
use crate::capture::{Provenance, SourceSystem};
use crate::digest::{Counted, Hashing};
use crate::quote;
use crate::workdir::Workdir;
use serde::Serialize;
use sha2::Sha256;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

/// The most the index or the manifest may hold.
const MAX_JSON_BYTES: u64 = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum BundleImportError {
    #[error("{} is not an ovs-offline capture bundle (its first member is not {INDEX}); give the .tar.xz file collect-local wrote", quote::path(.0))]
    NotABundle(PathBuf),
    #[error("{} is a capture bundle of format {found} (made by ovs-offline {}); this ovs-offline ({}) reads format {FORMAT} only: import it with ovs-offline {}, or make it again with this version", quote::path(bundle), quote::shell(tool_version), env!("CARGO_PKG_VERSION"), quote::shell(tool_version))]
    OtherFormat { bundle: PathBuf, found: u32, tool_version: String },
    #[error("{}: {member} is damaged; nothing collected (copy the bundle again)", quote::path(bundle))]
    Damaged {
        bundle: PathBuf,
        member: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "{}: its capture.json has format {found}, newer than this ovs-offline reads ({}); upgrade ovs-offline",
        quote::path(bundle),
        manifest::FORMAT
    )]
    NewerManifest { bundle: PathBuf, found: u32 },
    #[error("{}: member {} is {why}; nothing collected (a bundle holds only the regular files its index lists, in that order)", quote::path(bundle), quote::path(member))]
    Hostile { bundle: PathBuf, member: PathBuf, why: &'static str },
    #[error("{}: member {} does not match the size and sha256 its index records: the bundle was altered or damaged; nothing collected (copy it again from where collect-local made it)", quote::path(bundle), quote::shell(member))]
    Tampered { bundle: PathBuf, member: String },
    #[error(
        "{}: member {} (listed in its index) is missing: the bundle is cut short; nothing collected (copy it again)",
        quote::path(bundle),
        quote::shell(member)
    )]
    Missing { bundle: PathBuf, member: String },
    #[error(
        "{}: member {} is not one its capture.json describes; nothing collected",
        quote::path(bundle),
        quote::shell(member)
    )]
    Undescribed { bundle: PathBuf, member: String },
}

/// What one `collect-capture` took, for the user.
#[derive(Debug, Serialize)]
pub struct Imported {
    pub bundle: PathBuf,
    /// The ovs-offline that made it, and when.
    pub made_by: String,
    pub created_at: String,
    /// One line per database: what it is and where it came from originally.
    pub items: Vec<String>,
    pub bridges: Vec<BridgeSummary>,
    pub notes: Vec<String>,
    pub source: SourceSystem,
}

/// Imports the bundle `source` into `workdir`.
pub fn collect_capture(workdir: &Workdir, source: &Path, force: bool) -> Result<Imported, CollectError> {
    let bundle = std::path::absolute(source).unwrap_or_else(|_| source.to_path_buf());
    let mut capture = CaptureWriter::begin(workdir, force)?;
    let mut import = Import {
        bundle: &bundle,
        top: None,
        index: None,
        next: 0,
        manifest: None,
        flows_begun: false,
        items: Vec::new(),
    };
    let sha256 = read_archive(source, &mut |raw, kind| import.member(&mut capture, raw, kind))?;
    let (index, manifest) = match (import.index, import.manifest) {
        (Some(index), Some(manifest)) => (index, manifest),
        (None, _) => return Err(BundleImportError::NotABundle(bundle).into()),
        (Some(index), None) => return Err(missing(&bundle, &index, import.next)),
    };
    if import.next < index.files.len() {
        return Err(missing(&bundle, &index, import.next));
    }
    let mut bridges = Vec::new();
    if let Some(flows) = &manifest.flows {
        for note in &flows.notes {
            capture.note_flows(note);
        }
        for (bridge, note) in &flows.incomplete {
            capture.flows_incomplete(bridge, note);
        }
        let plan = captured::discover(&capture.staged_flows_dir(), &[])
            .map_err(|error| CollectError::Flows { path: bundle.clone(), source: error })?;
        bridges = plan.bridges.values().map(summarise).collect::<Result<_, _>>()?;
    }
    let mut notes = manifest.notes.clone();
    notes.push(format!(
        "imported from the capture bundle {} made by ovs-offline {} at {}",
        quote::path(&bundle),
        quote::note(&index.tool_version),
        quote::note(&index.created_at)
    ));
    for n in &notes {
        capture.note(n.clone());
    }
    capture.source_system(manifest.source.clone());
    capture.archive_sha256(&bundle, &sha256);
    capture.commit()?;
    let items = import.items;
    Ok(Imported {
        bundle,
        made_by: quote::note(&index.tool_version),
        created_at: quote::note(&index.created_at),
        items,
        bridges,
        notes: notes.iter().map(|n| quote::note(n)).collect(),
        source: manifest.source,
    })
}

fn missing(bundle: &Path, index: &Index, next: usize) -> CollectError {
    let member = index.files.get(next).map_or(MANIFEST, |f| f.path.as_str()).to_string();
    BundleImportError::Missing { bundle: bundle.to_path_buf(), member }.into()
}

/// The state of the one pass over a bundle.
struct Import<'a> {
    bundle: &'a Path,
    /// The top directory every member lies below.
    top: Option<String>,
    index: Option<Index>,
    /// The position in the index of the member expected next.
    next: usize,
    manifest: Option<Manifest>,
    flows_begun: bool,
    items: Vec<String>,
}

impl Import<'_> {
    fn hostile(&self, member: &Path, why: &'static str) -> CollectError {
        BundleImportError::Hostile { bundle: self.bundle.to_path_buf(), member: member.to_path_buf(), why }.into()
    }

    fn member(
        &mut self,
        capture: &mut CaptureWriter<'_>,
        raw: &Path,
        kind: MemberKind<'_>,
    ) -> Result<(), CollectError> {
        let mut parts = Vec::new();
        for c in raw.components() {
            match c {
                Component::Normal(p) => parts.push(p.to_str().ok_or_else(|| self.hostile(raw, "not UTF-8"))?),
                _ => return Err(self.hostile(raw, "a path that leaves the bundle")),
            }
        }
        let input = match kind {
            MemberKind::File(input) => input,
            MemberKind::Symlink(_) => return Err(self.hostile(raw, "a symbolic link")),
            MemberKind::Other => return Err(self.hostile(raw, "a hard link or a device")),
        };
        let (top, rest) = match parts.split_first() {
            Some((top, rest)) if !rest.is_empty() => (*top, rest.join("/")),
            _ => return Err(self.hostile(raw, "not below the bundle's top directory")),
        };
        let Some(index) = &self.index else {
            if rest != INDEX {
                return Err(BundleImportError::NotABundle(self.bundle.to_path_buf()).into());
            }
            self.top = Some(top.to_string());
            self.index = Some(self.read_index(input)?);
            return Ok(());
        };
        if self.top.as_deref() != Some(top) {
            return Err(self.hostile(raw, "outside the bundle's top directory"));
        }
        let Some(expected) = index.files.get(self.next).filter(|f| f.path == rest).cloned() else {
            let why = match index.files.iter().any(|f| f.path == rest) {
                true => "out of the order its index lists",
                false => "not listed in its index",
            };
            return Err(self.hostile(raw, why));
        };
        self.next += 1;
        let mut checked = Counted::new(Hashing::<_, Sha256>::new(input));
        let result = self.file(capture, &rest, &mut checked);
        // Judged on the whole member: a tampered file is named as such,
        // whatever staging made of it.
        let drained = io::copy(&mut checked, &mut io::sink());
        if drained.is_ok() && (checked.count != expected.size || checked.inner.hex() != expected.sha256) {
            return Err(BundleImportError::Tampered { bundle: self.bundle.to_path_buf(), member: rest }.into());
        }
        result
    }

    fn read_index(&self, input: &mut dyn Read) -> Result<Index, CollectError> {
        let bytes = self.read_json(input)?;
        #[derive(serde::Deserialize)]
        struct Head {
            bundle_format: u32,
            #[serde(default)]
            tool_version: String,
        }
        let damaged = |source| BundleImportError::Damaged { bundle: self.bundle.to_path_buf(), member: INDEX, source };
        let head: Head = serde_json::from_slice(&bytes).map_err(damaged)?;
        if head.bundle_format != FORMAT {
            let (bundle, found, tool_version) = (self.bundle.to_path_buf(), head.bundle_format, head.tool_version);
            return Err(BundleImportError::OtherFormat { bundle, found, tool_version }.into());
        }
        Ok(serde_json::from_slice(&bytes).map_err(damaged)?)
    }

    fn read_json(&self, input: &mut dyn Read) -> Result<Vec<u8>, CollectError> {
        let mut bytes = Vec::new();
        let read_error = |source| CollectError::Read { path: self.bundle.to_path_buf(), source };
        input.take(MAX_JSON_BYTES).read_to_end(&mut bytes).map_err(read_error)?;
        Ok(bytes)
    }

    /// Stages the listed member `rest` from `input`.
    fn file(&mut self, capture: &mut CaptureWriter<'_>, rest: &str, input: &mut dyn Read) -> Result<(), CollectError> {
        if rest == MANIFEST {
            let bytes = self.read_json(input)?;
            let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|source| BundleImportError::Damaged {
                bundle: self.bundle.to_path_buf(),
                member: MANIFEST,
                source,
            })?;
            if manifest.format > manifest::FORMAT {
                let bundle = self.bundle.to_path_buf();
                return Err(BundleImportError::NewerManifest { bundle, found: manifest.format }.into());
            }
            self.manifest = Some(manifest);
            return Ok(());
        }
        let undescribed = || BundleImportError::Undescribed { bundle: self.bundle.to_path_buf(), member: rest.into() };
        let Some(manifest) = &self.manifest else { return Err(undescribed().into()) };
        let origin = |original: &Provenance| Provenance::Bundle {
            bundle: self.bundle.to_path_buf(),
            bundle_sha256: String::new(),
            member: rest.to_string(),
            original: Some(Box::new(original.clone())),
        };
        if let Some((kind, file)) = rest.strip_prefix("db/").and_then(|r| r.split_once('/')) {
            let kind = db_kind_of_dir(kind).ok_or_else(undescribed)?;
            let original = manifest.collected.get(&kind).filter(|db| db.file == file).ok_or_else(undescribed)?;
            let db = capture.stage_db(kind, input, file, origin(&original.source))?;
            for note in original.notes.iter().filter(|n| !db.notes.contains(n)) {
                capture.note_db(kind, note);
            }
            let layout = if db.clustered { "clustered" } else { "standalone" };
            self.items.push(format!(
                "{} {} ({layout}), originally from {}",
                quote::note(&db.schema),
                quote::note(&db.version),
                original.source
            ));
            return Ok(());
        }
        let relative = rest.strip_prefix("restore_flows/").map(Path::new).ok_or_else(undescribed)?;
        let flows = manifest.flows.as_ref().ok_or_else(undescribed)?;
        let file = flows.files.iter().find(|f| f.path == relative).ok_or_else(undescribed)?;
        let file_origin = origin(&file.source);
        if !self.flows_begun {
            let flows_origin = Provenance::Bundle {
                bundle: self.bundle.to_path_buf(),
                bundle_sha256: String::new(),
                member: "restore_flows".into(),
                original: Some(Box::new(flows.source.clone())),
            };
            capture.begin_flows(flows_origin)?;
            self.flows_begun = true;
        }
        capture.stage_flow_file(relative, input, file_origin)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::bundle::IndexedFile;

    #[test]
    fn the_next_missing_member_is_named() {
        let index = Index {
            bundle_format: FORMAT,
            tool: "ovs-offline".into(),
            tool_version: "0".into(),
            created_at: String::new(),
            files: vec![IndexedFile { path: "db/ovs/conf.db".into(), size: 1, sha256: String::new() }],
        };
        let err = missing(Path::new("/b.tar.xz"), &index, 0);
        assert!(err.to_string().contains("member db/ovs/conf.db (listed in its index) is missing"), "{err}");
    }
}
