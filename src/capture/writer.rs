//! The one way collected data enters a workdir. A [`CaptureWriter`] holds
//! the collect lock, stages what a collector contributes (any subset of
//! the OVS, NB and SB databases and the OpenFlow state) in
//! `.capture.new/`, in the workdir's own layout, validating each item as it
//! streams in, and on [`CaptureWriter::commit`] moves each staged part into
//! place by rename and writes the manifest. Dropped without a commit — an
//! error anywhere, a panic — it removes the staging directory, and the
//! workdir itself when it created it: the workdir is left exactly as it
//! was. Staged files are new (`O_EXCL`, never through a link) and private
//! (0600, directories 0700); none may exceed [`MAX_COLLECTED_BYTES`], and
//! notes are kept as one bounded line ([`crate::quote::note`]).

use super::manifest::{Manifest, ManifestError};
use super::{CollectedDb, CollectedFile, CollectedFlows, DbKind, Obfuscated, Provenance, SourceSystem};
use crate::digest::hex;
use crate::ovsdb::file::{self, DbFileError, DbFileInfo, Format};
use crate::ovsdb::rehash::{BrokenRecord, Rehash};
use crate::quote;
use crate::state::now;
use crate::workdir::{remove_dir_if_exists, IoContext, Workdir, WorkdirError};
use nix::fcntl::Flock;
use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

/// The most one collected file may hold: far above any real OVSDB file or
/// flow dump, far below an endless input.
pub const MAX_COLLECTED_BYTES: u64 = 32 << 30;

/// The longest record re-hashed (held in memory while it is): above the
/// largest database sos copies by default (300 MiB for `openshift_ovn`); a
/// longer one is staged as it is, and noted if edited.
const MAX_REHASHED_RECORD: u64 = 512 << 20;

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error(transparent)]
    Workdir(#[from] WorkdirError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("another ovs-offline is collecting into {}; wait for it to finish", .0.display())]
    Busy(PathBuf),
    #[error("a replica is running in {}; run 'ovs-offline stop' first or choose another working directory with -w", .0.display())]
    Running(PathBuf),
    #[error("{} database already collected in {} (from {previous}); use --force to replace it, or choose another working directory with -w", kind.schema_name(), workdir.display())]
    DbCollected { kind: DbKind, workdir: PathBuf, previous: Box<Provenance> },
    #[error("OpenFlow state already collected in {}; use --force to replace it, or choose another working directory with -w", .0.display())]
    FlowsCollected(PathBuf),
    #[error("cannot read {origin}")]
    Read {
        origin: Box<Provenance>,
        #[source]
        error: io::Error,
    },
    #[error("{origin} {error}")]
    Db {
        origin: Box<Provenance>,
        #[source]
        error: DbFileError,
    },
    #[error("{origin} is an {found} database, not {}; collect it with 'ovs-offline {} {origin}'", expected.schema_name(), DbKind::from_schema_name(found).map_or("", |k| k.collect_command()))]
    OtherDb { origin: Box<Provenance>, expected: DbKind, found: String },
    #[error("{origin} holds a {found} database, not {}; give {} the {} database file", expected.schema_name(), expected.collect_command(), expected.schema_name())]
    NotADb { origin: Box<Provenance>, expected: DbKind, found: String },
    #[error("{origin}: {} is not a plain relative path; not collected", quote::path(path))]
    UnsafePath { origin: Box<Provenance>, path: PathBuf },
    #[error("{origin}: {error}: an edited record can be re-hashed only while it is JSON; not collected (collect the database from the original, unobfuscated report)")]
    BrokenRecord {
        origin: Box<Provenance>,
        #[source]
        error: BrokenRecord,
    },
    #[error("{origin} holds more than {limit} bytes, more than any OVSDB file or flow dump; not collected")]
    TooLarge { origin: Box<Provenance>, limit: u64 },
}

type Result<T, E = CaptureError> = std::result::Result<T, E>;

/// One replaceable piece of a capture, a directory of the workdir.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Db(DbKind),
    Flows,
}

impl Part {
    fn dir(self, workdir: &Workdir) -> PathBuf {
        match self {
            Part::Db(kind) => workdir.db_dir(kind),
            Part::Flows => workdir.restore_flows_dir(),
        }
    }
}

/// A collect in progress: see the module documentation.
pub struct CaptureWriter<'w> {
    workdir: &'w Workdir,
    /// `--force`: contributions replace what is collected.
    replace: bool,
    manifest: Manifest,
    parts: Vec<Part>,
    /// The most a staged file may hold.
    limit: u64,
    /// Re-hash the edited records of databases (else: note them).
    rehash_edited: bool,
    created_workdir: bool,
    committed: bool,
    _lock: Flock<File>,
}

impl<'w> CaptureWriter<'w> {
    /// Creates the workdir if needed and takes its collect lock; refuses
    /// while a replica runs there.
    pub fn begin(workdir: &'w Workdir, replace: bool) -> Result<CaptureWriter<'w>> {
        let created_workdir = !workdir.exists();
        workdir.create()?;
        let Some(lock) = workdir.try_lock_collect()? else {
            return Err(CaptureError::Busy(workdir.root().to_path_buf()));
        };
        let mut writer = CaptureWriter {
            workdir,
            replace,
            manifest: Manifest::default(),
            parts: Vec::new(),
            limit: MAX_COLLECTED_BYTES,
            rehash_edited: false,
            created_workdir,
            committed: false,
            _lock: lock,
        };
        if workdir.is_running()? {
            return Err(CaptureError::Running(workdir.root().to_path_buf()));
        }
        // Left by a collect that was killed: never committed, never used.
        remove_dir_if_exists(&workdir.capture_staging())?;
        remove_dir_if_exists(&workdir.capture_replaced())?;
        writer.manifest = Manifest::load(workdir)?;
        Ok(writer)
    }

    /// Streams a database of `kind` into staging, inspecting and hashing it
    /// on the way, and checks it is one. `name` is the original file name
    /// (kept when it is a plain one).
    pub fn stage_db(&mut self, kind: DbKind, input: impl Read, name: &str, origin: Provenance) -> Result<CollectedDb> {
        if let (Some(previous), false) = (self.manifest.collected.get(&kind), self.replace) {
            return Err(CaptureError::DbCollected {
                kind,
                workdir: self.workdir.root().to_path_buf(),
                previous: Box::new(previous.source.clone()),
            });
        }
        let file = plain_file_name(name).unwrap_or("db.db").to_string();
        self.staged_dir(Part::Db(kind))?;
        let dest = self.workdir.staged(&self.workdir.collected_db(kind, &file));
        let mut input =
            if self.rehash_edited { Rehash::new(input, MAX_REHASHED_RECORD) } else { Rehash::passthrough(input) };
        let staged =
            stage_file(&dest, &mut input, self.limit, |tee| file::inspect(tee)).map_err(|e| e.with(&origin))?;
        if let Some(error) = input.broken.take() {
            return Err(CaptureError::BrokenRecord { origin: Box::new(origin), error });
        }
        let info = staged.read.map_err(|error| CaptureError::Db { origin: Box::new(origin.clone()), error })?;
        check_schema(kind, &info, &origin)?;
        let obfuscated =
            (input.rehashed > 0).then_some(Obfuscated { rehashed: input.rehashed, records: input.records });
        let mut notes = Vec::new();
        if let Some(record) = info.edited_record {
            notes.push(format!(
                "record {record} does not match the SHA-1 in its header (the file was edited): start will fail to convert or serve it past that record"
            ));
        }
        if info.torn_bytes() > 0 {
            notes.push(format!(
                "the last {} bytes are an incomplete record (file copied while being written); start will drop them",
                info.torn_bytes()
            ));
        }
        let db = CollectedDb {
            source: origin,
            file,
            size: staged.size,
            sha256: staged.sha256,
            schema: info.schema,
            version: info.version,
            clustered: info.format == Format::Clustered,
            collected_at: now(),
            rebuilt: false,
            notes,
            obfuscated,
        };
        self.mark(Part::Db(kind));
        self.manifest.collected.insert(kind, db.clone());
        Ok(db)
    }

    /// Marks the staged database of `kind` as rebuilt from text, with a
    /// note (kept as one bounded line) saying from what.
    pub fn rebuilt_db(&mut self, kind: DbKind, note: &str) {
        if let Some(db) = self.manifest.collected.get_mut(&kind) {
            db.rebuilt = true;
        }
        self.note_db(kind, note);
    }

    /// A note about the staged database of `kind` (e.g. that it was
    /// re-hashed), kept as one bounded line.
    pub fn note_db(&mut self, kind: DbKind, note: &str) {
        if let Some(db) = self.manifest.collected.get_mut(&kind) {
            db.notes.push(quote::note(note));
        }
    }

    /// From now on, a database whose records do not match their length
    /// and SHA-1 (edited, e.g. by `sos clean`) is staged with those records
    /// re-hashed ([`Rehash`]; the collected DB says how many) instead of
    /// noted; one whose edited record is no longer JSON is refused.
    pub fn rehash_edited_databases(&mut self) {
        self.rehash_edited = true;
    }

    /// Starts staging the OpenFlow state collected from `origin`.
    pub fn begin_flows(&mut self, origin: Provenance) -> Result<()> {
        if self.manifest.flows.is_some() && !self.replace {
            return Err(CaptureError::FlowsCollected(self.workdir.restore_flows_dir()));
        }
        self.staged_dir(Part::Flows)?;
        self.manifest.flows = Some(CollectedFlows {
            source: origin,
            files: Vec::new(),
            collected_at: now(),
            notes: Vec::new(),
            incomplete: Default::default(),
        });
        self.mark(Part::Flows);
        Ok(())
    }

    /// Streams one file of OpenFlow state to `relative` under the staged
    /// `restore_flows/` (after [`CaptureWriter::begin_flows`]).
    pub fn stage_flow_file(&mut self, relative: &Path, input: impl Read, origin: Provenance) -> Result<()> {
        if !is_plain_relative(relative) {
            return Err(CaptureError::UnsafePath { origin: Box::new(origin), path: relative.to_path_buf() });
        }
        let dest = self.workdir.staged(&self.workdir.restore_flows_file(relative));
        if let Some(parent) = dest.parent() {
            self.workdir.create_private_dir(parent)?;
        }
        let staged =
            stage_file(&dest, input, self.limit, |tee| io::copy(tee, &mut io::sink())).map_err(|e| e.with(&origin))?;
        staged.read.map_err(|error| CaptureError::Read { origin: Box::new(origin.clone()), error })?;
        let file =
            CollectedFile { path: relative.to_path_buf(), size: staged.size, sha256: staged.sha256, source: origin };
        self.flows_mut().files.push(file);
        Ok(())
    }

    /// The staged `restore_flows/`, for the collector to validate.
    pub fn staged_flows_dir(&self) -> PathBuf {
        self.workdir.staged(&self.workdir.restore_flows_dir())
    }

    /// A note about the staged OpenFlow state, kept as one bounded line.
    pub fn note_flows(&mut self, note: &str) {
        self.flows_mut().notes.push(quote::note(note));
    }

    /// Removes a staged file of OpenFlow state again (a collector that
    /// found a better dump of the same thing).
    pub fn discard_flow_file(&mut self, relative: &Path) -> Result<()> {
        let Some(flows) = self.manifest.flows.as_mut() else { return Ok(()) };
        flows.files.retain(|f| f.path != relative);
        let staged = self.workdir.staged(&self.workdir.restore_flows_file(relative));
        fs::remove_file(&staged).at("remove", &staged)?;
        Ok(())
    }

    /// Records that `bridge`'s staged dumps are incomplete, and what is
    /// missing (one bounded line, added to what is known).
    pub fn flows_incomplete(&mut self, bridge: &str, note: &str) {
        let entry = self.flows_mut().incomplete.entry(bridge.to_string()).or_default();
        if !entry.is_empty() {
            entry.push_str("; ");
        }
        entry.push_str(note);
        *entry = quote::note(entry);
    }

    /// A note about the capture as a whole, kept as one bounded line.
    pub fn note(&mut self, note: String) {
        self.manifest.notes.push(quote::note(&note));
    }

    /// What the collector learnt about the source system (fills in what is
    /// not known yet).
    pub fn source_system(&mut self, source: SourceSystem) {
        self.manifest.source.merge(source);
    }

    /// Fills in the sha256 of `archive` in the provenance of what this
    /// collect staged from it (known only once the archive is read).
    pub fn archive_sha256(&mut self, archive: &Path, sha256: &str) {
        let fill = |origin: &mut Provenance| {
            let (a, archive_sha256) = match origin {
                Provenance::ArchiveMember { archive, archive_sha256, .. }
                | Provenance::NestedMember { archive, archive_sha256, .. } => (archive, archive_sha256),
                Provenance::Bundle { bundle, bundle_sha256, .. } => (bundle, bundle_sha256),
                Provenance::File { .. } | Provenance::Pod { .. } | Provenance::Local { .. } => return,
            };
            if a == archive && archive_sha256.is_empty() {
                *archive_sha256 = sha256.to_string();
            }
        };
        self.manifest.collected.values_mut().for_each(|db| fill(&mut db.source));
        if let Some(flows) = self.manifest.flows.as_mut() {
            fill(&mut flows.source);
            flows.files.iter_mut().for_each(|f| fill(&mut f.source));
        }
    }

    /// Moves every staged part into place and writes the manifest; on any
    /// error puts back what it moved.
    pub fn commit(mut self) -> Result<Manifest> {
        let replaced = self.workdir.capture_replaced();
        self.workdir.create_private_dir(&replaced)?;
        let mut moved = Vec::new();
        let result = self.parts.iter().try_for_each(|&part| {
            let had_old = self.swap_in(part)?;
            moved.push((part, had_old));
            Ok::<_, WorkdirError>(())
        });
        let result = result.and_then(|()| self.manifest.save(self.workdir));
        if let Err(e) = result {
            let restored = moved.iter().rev().all(|&(part, had_old)| self.swap_back(part, had_old));
            if restored {
                let _ = remove_dir_if_exists(&replaced);
            }
            return Err(e.into());
        }
        self.committed = true;
        let _ = remove_dir_if_exists(&replaced);
        let _ = remove_dir_if_exists(&self.workdir.capture_staging());
        Ok(std::mem::take(&mut self.manifest))
    }

    /// Moves the current `part` aside (if any) and the staged one in its
    /// place; true when there was a current one.
    fn swap_in(&self, part: Part) -> Result<bool, WorkdirError> {
        let target = part.dir(self.workdir);
        let had_old = target.exists();
        if had_old {
            let aside = self.aside(&target)?;
            fs::rename(&target, &aside).at("replace", &target)?;
        }
        fs::rename(self.workdir.staged(&target), &target).at("create", &target)?;
        Ok(had_old)
    }

    /// Undoes [`CaptureWriter::swap_in`]; false when the old part could
    /// not be put back (it then stays in [`Workdir::capture_replaced`]).
    fn swap_back(&self, part: Part, had_old: bool) -> bool {
        let target = part.dir(self.workdir);
        let _ = fs::rename(&target, self.workdir.staged(&target));
        !had_old || fs::rename(self.workdir.replaced(&target), &target).is_ok()
    }

    fn aside(&self, target: &Path) -> Result<PathBuf, WorkdirError> {
        let aside = self.workdir.replaced(target);
        if let Some(parent) = aside.parent() {
            self.workdir.create_private_dir(parent)?;
        }
        Ok(aside)
    }

    /// Creates the staged twin of `part`'s directory, empty.
    fn staged_dir(&self, part: Part) -> Result<(), WorkdirError> {
        let dir = self.workdir.staged(&part.dir(self.workdir));
        remove_dir_if_exists(&dir)?;
        self.workdir.create_private_dir(&dir)
    }

    fn mark(&mut self, part: Part) {
        if !self.parts.contains(&part) {
            self.parts.push(part);
        }
    }

    fn flows_mut(&mut self) -> &mut CollectedFlows {
        self.manifest.flows.get_or_insert_with(|| CollectedFlows {
            source: Provenance::File { path: PathBuf::new() },
            files: Vec::new(),
            collected_at: now(),
            notes: Vec::new(),
            incomplete: Default::default(),
        })
    }
}

impl Drop for CaptureWriter<'_> {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        let _ = remove_dir_if_exists(&self.workdir.capture_staging());
        if self.created_workdir {
            let _ = remove_dir_if_exists(self.workdir.root());
        }
    }
}

fn check_schema(expected: DbKind, info: &DbFileInfo, origin: &Provenance) -> Result<()> {
    if info.schema == expected.schema_name() {
        return Ok(());
    }
    let (origin, found) = (Box::new(origin.clone()), info.schema.clone());
    match DbKind::from_schema_name(&found) {
        Some(_) => Err(CaptureError::OtherDb { origin, expected, found }),
        None => Err(CaptureError::NotADb { origin, expected, found }),
    }
}

/// `name` when it is a plain, visible file name.
fn plain_file_name(name: &str) -> Option<&str> {
    let plain = !name.is_empty() && !name.starts_with('.') && !name.contains('/') && !name.contains('\0');
    plain.then_some(name)
}

/// Relative, without `..`, `.` or a root: it stays below where it is joined.
fn is_plain_relative(path: &Path) -> bool {
    path.components().next().is_some() && path.components().all(|c| matches!(c, Component::Normal(_)))
}

/// A file streamed into staging: its size and sha256, and what the reader
/// given to [`stage_file`] made of it.
struct Staged<T> {
    size: u64,
    sha256: String,
    read: T,
}

/// Why staging a file failed before its reader could judge it.
enum StageError {
    Workdir(WorkdirError),
    /// The input held more than the limit.
    TooLarge(u64),
}

impl StageError {
    fn with(self, origin: &Provenance) -> CaptureError {
        match self {
            StageError::Workdir(e) => e.into(),
            StageError::TooLarge(limit) => CaptureError::TooLarge { origin: Box::new(origin.clone()), limit },
        }
    }
}

/// Streams at most `limit` bytes of `input` into the new private file
/// `dest` through `read`, which must read it to its end (an error reading
/// `input` is its to return), hashing on the way. Failing to write `dest`
/// is a workdir error.
fn stage_file<T>(
    dest: &Path,
    mut input: impl Read,
    limit: u64,
    read: impl FnOnce(&mut Tee<'_>) -> T,
) -> Result<Staged<T>, StageError> {
    let out = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(dest)
        .at("create", dest)
        .map_err(StageError::Workdir)?;
    let mut tee =
        Tee { input: &mut input, out: BufWriter::new(out), hasher: Sha256::new(), size: 0, limit, write_error: None };
    let read = read(&mut tee);
    let flushed = tee.out.flush();
    if let Some(error) = tee.write_error.take() {
        return Err(StageError::Workdir(WorkdirError::Io { action: "write", path: dest.to_path_buf(), source: error }));
    }
    if tee.size > limit {
        return Err(StageError::TooLarge(limit));
    }
    flushed.at("write", dest).map_err(StageError::Workdir)?;
    let sha256 = hex(tee.hasher.finalize());
    Ok(Staged { size: tee.size, sha256, read })
}

/// Copies what is read through it to the staged file and the hash.
struct Tee<'a> {
    input: &'a mut dyn Read,
    out: BufWriter<File>,
    hasher: Sha256,
    size: u64,
    /// Past this many bytes the reader sees an error, and the caller
    /// reports [`StageError::TooLarge`].
    limit: u64,
    /// Set when writing the staged copy failed; the reader then sees an
    /// error too, and the caller reports this one.
    write_error: Option<io::Error>,
}

impl Read for Tee<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let room = (self.limit - self.size.min(self.limit)).saturating_add(1);
        let len = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let n = self.input.read(&mut buf[..len])?;
        self.size += n as u64;
        if self.size > self.limit {
            return Err(io::Error::other(format!("more than {} bytes", self.limit)));
        }
        if let Err(e) = self.out.write_all(&buf[..n]) {
            let message = e.to_string();
            self.write_error = Some(e);
            return Err(io::Error::other(message));
        }
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::os::unix::fs::PermissionsExt;

    /// A minimal, valid standalone OVSDB file of `schema`.
    pub(crate) fn db(schema: &str) -> Vec<u8> {
        let body = format!("{{\"name\":\"{schema}\",\"version\":\"1.0.0\",\"tables\":{{}}}}\n");
        let sha1 = hex(sha1::Sha1::digest(body.as_bytes()));
        format!("OVSDB JSON {} {sha1}\n{body}", body.len()).into_bytes()
    }

    fn origin(name: &str) -> Provenance {
        Provenance::File { path: PathBuf::from("/cases/1").join(name) }
    }

    /// Every path below `dir` with its mode and contents.
    fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u32, Vec<u8>)> {
        let mut tree = BTreeMap::new();
        let mut pending = vec![dir.to_path_buf()];
        while let Some(path) = pending.pop() {
            let meta = fs::symlink_metadata(&path).unwrap();
            let contents = if meta.is_file() { fs::read(&path).unwrap() } else { Vec::new() };
            if meta.is_dir() {
                pending.extend(fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            }
            tree.insert(path.strip_prefix(dir).unwrap().to_path_buf(), (meta.permissions().mode(), contents));
        }
        tree
    }

    /// A workdir holding an OVS database and OpenFlow state.
    fn collected() -> (tempfile::TempDir, Workdir) {
        let dir = tempfile::tempdir().unwrap();
        let workdir = Workdir::new(&dir.path().join("work")).unwrap();
        let mut capture = CaptureWriter::begin(&workdir, false).unwrap();
        capture.stage_db(DbKind::Ovs, &db("Open_vSwitch")[..], "conf.db", origin("conf.db")).unwrap();
        capture.begin_flows(origin("flows")).unwrap();
        let dump = Path::new("ovs-save.x/br-int.flows.dump");
        capture.stage_flow_file(dump, &b"priority=0 actions=drop\n"[..], origin("flows/x")).unwrap();
        capture.commit().unwrap();
        (dir, workdir)
    }

    /// Hands out `good` bytes, then fails like a dying disk or pipe.
    struct Failing<'a>(&'a [u8]);

    impl Read for Failing<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Err(io::Error::other("input/output error"));
            }
            let n = self.0.len().min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn a_failure_mid_collect_leaves_the_workdir_as_it_was() {
        let (_dir, workdir) = collected();
        let before = snapshot(workdir.root());
        let mut capture = CaptureWriter::begin(&workdir, true).unwrap();
        capture.stage_db(DbKind::Ovs, &db("Open_vSwitch")[..], "other.db", origin("other.db")).unwrap();
        capture.stage_db(DbKind::OvnNb, &db("OVN_Northbound")[..], "nb.db", origin("nb.db")).unwrap();
        capture.begin_flows(origin("flows2")).unwrap();
        let err =
            capture.stage_flow_file(Path::new("br-int.flows.dump"), Failing(b"priority=1"), origin("f")).unwrap_err();
        assert!(err.to_string().starts_with("cannot read /cases/1/f"), "{err}");
        drop(capture);
        assert_eq!(snapshot(workdir.root()), before);

        let mut capture = CaptureWriter::begin(&workdir, true).unwrap();
        let err = capture.stage_db(DbKind::OvnSb, &db("OVN_Northbound")[..], "sb.db", origin("sb.db")).unwrap_err();
        assert!(err.to_string().contains("collect it with 'ovs-offline collect-db-ovn-nb /cases/1/sb.db'"), "{err}");
        drop(capture);
        assert_eq!(snapshot(workdir.root()), before);
    }

    #[test]
    fn a_failed_commit_puts_back_what_it_moved() {
        let (_dir, workdir) = collected();
        let before = snapshot(workdir.root());
        let mut capture = CaptureWriter::begin(&workdir, true).unwrap();
        capture.stage_db(DbKind::Ovs, &db("Open_vSwitch")[..], "other.db", origin("other.db")).unwrap();
        capture.begin_flows(origin("flows2")).unwrap();
        capture.stage_flow_file(Path::new("br-ex.flows.dump"), &b""[..], origin("f")).unwrap();
        // The manifest cannot be written (a directory is in its place): the
        // commit fails after moving the staged parts into place.
        let manifest = workdir.capture_manifest();
        let kept = fs::read(&manifest).unwrap();
        fs::remove_file(&manifest).unwrap();
        fs::create_dir(&manifest).unwrap();
        fs::write(manifest.join("in-the-way"), "").unwrap();
        assert!(capture.commit().is_err());
        fs::remove_dir_all(&manifest).unwrap();
        fs::write(&manifest, kept).unwrap();
        fs::set_permissions(&manifest, fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(snapshot(workdir.root()), before);
    }

    #[test]
    fn collectors_add_halves_and_replace_only_with_force() {
        let (_dir, workdir) = collected();
        let mut capture = CaptureWriter::begin(&workdir, false).unwrap();
        capture.stage_db(DbKind::OvnSb, &db("OVN_Southbound")[..], "ovnsb_db.db", origin("ovnsb_db.db")).unwrap();
        let err = capture.stage_db(DbKind::Ovs, &db("Open_vSwitch")[..], "conf.db", origin("conf.db")).unwrap_err();
        assert!(err.to_string().contains("already collected") && err.to_string().contains("(from /cases/1/conf.db)"));
        assert!(matches!(capture.begin_flows(origin("f")), Err(CaptureError::FlowsCollected(_))));
        let manifest = capture.commit().unwrap();
        assert_eq!(manifest.collected.keys().copied().collect::<Vec<_>>(), [DbKind::Ovs, DbKind::OvnSb]);
        assert!(workdir.restore_flows_dir().join("ovs-save.x/br-int.flows.dump").exists(), "flows kept");

        let mut capture = CaptureWriter::begin(&workdir, true).unwrap();
        let db = capture.stage_db(DbKind::Ovs, &db("Open_vSwitch")[..], "other.db", origin("other.db")).unwrap();
        assert_eq!((db.size, db.sha256.len()), (db.size, 64));
        capture.commit().unwrap();
        assert!(!workdir.collected_db(DbKind::Ovs, "conf.db").exists(), "replaced whole");
        assert!(workdir.collected_db(DbKind::Ovs, "other.db").exists());
        assert!(!workdir.capture_staging().exists() && !workdir.capture_replaced().exists());
    }

    /// collect-db-* keep an edited database with a warning (start then
    /// names the SHA-1 error); collect-sos re-hashes it, or refuses it when
    /// an edited record is no longer JSON.
    #[test]
    fn edited_databases_are_noted_rehashed_or_refused() {
        let (_dir, workdir) = collected();
        let edited = [db("OVN_Northbound"), b"OVSDB JSON 3 ".to_vec(), vec![b'0'; 40], b"\n{}\n".to_vec()].concat();
        let mut capture = CaptureWriter::begin(&workdir, false).unwrap();
        let nb = capture.stage_db(DbKind::OvnNb, &edited[..], "nb.db", origin("nb.db")).unwrap();
        assert!(nb.notes.iter().any(|n| n.starts_with("record 2 does not match the SHA-1")), "{:?}", nb.notes);
        drop(capture);
        let mut capture = CaptureWriter::begin(&workdir, false).unwrap();
        capture.rehash_edited_databases();
        let nb = capture.stage_db(DbKind::OvnNb, &edited[..], "nb.db", origin("nb.db")).unwrap();
        assert_eq!(nb.obfuscated, Some(Obfuscated { rehashed: 1, records: 2 }));
        assert!(nb.notes.is_empty(), "{:?}", nb.notes);
        drop(capture);
        let broken = [db("OVN_Northbound"), b"OVSDB JSON 3 ".to_vec(), vec![b'0'; 40], b"\n{\"a\n".to_vec()].concat();
        let mut capture = CaptureWriter::begin(&workdir, false).unwrap();
        capture.rehash_edited_databases();
        let err = capture.stage_db(DbKind::OvnNb, &broken[..], "nb.db", origin("nb.db")).unwrap_err();
        assert!(matches!(&err, CaptureError::BrokenRecord { error, .. } if error.record == 2), "{err}");
    }

    #[test]
    fn a_workdir_made_for_a_failed_collect_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let workdir = Workdir::new(&dir.path().join("new")).unwrap();
        let mut capture = CaptureWriter::begin(&workdir, false).unwrap();
        assert!(capture.stage_db(DbKind::Ovs, &b"hello\n"[..], "conf.db", origin("conf.db")).is_err());
        drop(capture);
        assert!(!workdir.exists());
    }

    #[test]
    fn names_stay_inside_the_workdir() {
        let (_dir, workdir) = collected();
        let mut capture = CaptureWriter::begin(&workdir, true).unwrap();
        capture.begin_flows(origin("f")).unwrap();
        for hostile in ["../x", "/etc/passwd", "a/../../x", ""] {
            let err = capture.stage_flow_file(Path::new(hostile), &b""[..], origin("f")).unwrap_err();
            assert!(matches!(err, CaptureError::UnsafePath { .. }), "{hostile}: {err}");
        }
        let db = capture.stage_db(DbKind::OvnNb, &db("OVN_Northbound")[..], "../../nb.db", origin("nb")).unwrap();
        assert_eq!(db.file, "db.db");
    }

    /// Issue #13: a link to `/dev/zero` copied without limit.
    #[test]
    fn an_endless_input_is_cut_off() {
        let (_dir, workdir) = collected();
        let before = snapshot(workdir.root());
        let mut capture = CaptureWriter::begin(&workdir, true).unwrap();
        capture.limit = 1 << 20;
        capture.begin_flows(origin("flows")).unwrap();
        let err =
            capture.stage_flow_file(Path::new("br-int.flows.dump"), io::repeat(b'x'), origin("zero")).unwrap_err();
        assert!(matches!(err, CaptureError::TooLarge { limit: 1048576, .. }), "{err}");
        let header = db("OVN_Northbound");
        let endless = (&header[..]).chain(io::repeat(b'\n'));
        let err = capture.stage_db(DbKind::OvnNb, endless, "nb.db", origin("nb")).unwrap_err();
        assert!(err.to_string().contains("holds more than 1048576 bytes"), "{err}");
        drop(capture);
        assert_eq!(snapshot(workdir.root()), before);
    }

    #[test]
    fn a_running_replica_or_another_collect_is_refused() {
        let (_dir, workdir) = collected();
        let capture = CaptureWriter::begin(&workdir, false).unwrap();
        assert!(matches!(CaptureWriter::begin(&workdir, false), Err(CaptureError::Busy(_))));
        assert!(!workdir.is_running().unwrap(), "a collect in progress is no replica");
        drop(capture);
        let _run = workdir.try_lock_run().unwrap().unwrap();
        assert!(matches!(CaptureWriter::begin(&workdir, false), Err(CaptureError::Running(_))));
    }
}
