//! A workspace: `WORKSPACE/workspace.json` (the marker: format version and
//! creation time) and one ordinary workdir per node, `WORKSPACE/<node>/`.
//!
//! This module owns the layout, node names (a node's name is a directory
//! name: one safe path component, checked wherever a name enters —
//! [`check_name`]) and starting a node's replica on demand
//! ([`Workspace::ensure_running`], the same start and restore wait as the
//! `start` command, quietly). Each node workdir is used through
//! [`Workdir`] exactly as a single-node one, so it keeps every safety
//! check of its own; the workspace root is checked the same way.

use crate::capture::manifest::{Manifest, ManifestError};
use crate::capture::DbKind;
use crate::ovsdb::rows as collected_db;
use crate::quote;
use crate::replica::{self, ReplicaError, RootChoice, StartOptions};
use crate::state::now;
use crate::workdir::{write_atomic, Workdir, WorkdirError};
use serde::{Deserialize, Serialize};
use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The marker file naming a directory a workspace.
pub const MARKER: &str = "workspace.json";

/// The marker format this version writes (and the newest it reads).
pub const FORMAT: u32 = 1;

/// How long each daemon of a replica started on demand may take to become
/// ready (as `start`'s default).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The longest node name: a directory name's limit.
const NAME_MAX_BYTES: usize = 255;

#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error(
        "{} is not an ovs-offline workspace (it has no {MARKER}); fill one with 'ovs-offline -W {} cluster \
         collect-sos SOSREPORT…'",
        quote::path(.0), quote::path(.0)
    )]
    NotAWorkspace(PathBuf),
    #[error(
        "{} is a single-node working directory, not a workspace; use it with -w {}, or choose another \
         directory for -W",
        quote::path(.0), quote::path(.0)
    )]
    IsAWorkdir(PathBuf),
    #[error(
        "{} exists and holds other files: not made a workspace; choose an empty or new directory for -W",
        quote::path(.0)
    )]
    NotEmpty(PathBuf),
    #[error("{} is damaged; remove it only if the directory is a workspace you made", quote::path(path))]
    Damaged {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "{} has format {found}, newer than this ovs-offline reads ({FORMAT}); upgrade ovs-offline",
        quote::path(path)
    )]
    Newer { path: PathBuf, found: u32 },
    #[error("{}", not_in_workspace(name, root, known))]
    NotInWorkspace { name: String, root: PathBuf, known: Vec<String> },
    #[error("node name {} cannot name a directory ({why}); give the node a name with --name NAME", quote::shell(name))]
    BadName { name: String, why: &'static str },
    #[error("cannot start the replica of node {}", quote::shell(node))]
    Start {
        node: String,
        #[source]
        source: Box<ReplicaError>,
    },
    #[error(
        "the replica of node {} runs without its OpenFlow state ({why}); see 'ovs-offline -W {} --node {} status'",
        quote::shell(node),
        quote::path(root),
        quote::shell(node)
    )]
    NotRestored { node: String, root: PathBuf, why: String },
    #[error(
        "node {} is already in workspace {}; replace it with --force, or give this capture another name with \
         --name NAME",
        quote::shell(name),
        quote::path(root)
    )]
    Exists { name: String, root: PathBuf },
    #[error(
        "the replica of node {} runs; stop it first with 'ovs-offline -W {} --node {} stop'",
        quote::shell(name),
        quote::path(root),
        quote::shell(name)
    )]
    Running { name: String, root: PathBuf },
    #[error("{} is in the workspace but is not a node's working directory; not replaced", quote::path(.0))]
    NotANode(PathBuf),
    #[error("cannot {action} {}", quote::path(path))]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Workdir(#[from] WorkdirError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
}

/// `no node 'x' in workspace W (it holds a, b); …` with the way to add it.
fn not_in_workspace(name: &str, root: &Path, known: &[String]) -> String {
    let w = quote::path(root);
    let holds = match known {
        [] => "it holds no node yet".to_string(),
        known => format!("it holds {}", known.iter().map(|n| quote::shell(n)).collect::<Vec<_>>().join(", ")),
    };
    format!(
        "no node {} in workspace {w} ({holds}); add it with 'ovs-offline -W {w} cluster collect-sos SOSREPORT' \
         (or cluster collect-capture, collect-k8s, collect-must-gather)",
        quote::shell(name)
    )
}

type Result<T, E = WorkspaceError> = std::result::Result<T, E>;

/// `workspace.json`.
#[derive(Debug, Serialize, Deserialize)]
struct Marker {
    version: u32,
    created: String,
}

/// A directory of node workdirs.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// Also checked as a workdir is: owned by the caller, not writable by
    /// others, no foreign symbolic link on the way.
    dir: Workdir,
}

/// One node of a workspace: its name and its workdir.
#[derive(Debug, Clone)]
pub struct Node {
    pub name: String,
    pub workdir: Workdir,
}

impl Node {
    /// The line a caller prints when [`Workspace::ensure_running`] started
    /// this node's replica.
    pub fn started_note(&self) -> String {
        format!("started the replica of {}", quote::shell(&self.name))
    }
}

impl Workspace {
    /// The workspace `dir` is in: `dir` itself or the nearest directory
    /// above it holding the marker (so `--node NAME` works from inside a
    /// workspace or one of its nodes without `-W`).
    pub fn enclosing(dir: &Path) -> Option<PathBuf> {
        dir.ancestors().find(|d| fs::symlink_metadata(d.join(MARKER)).is_ok_and(|m| m.is_file())).map(Path::to_path_buf)
    }

    /// Opens an existing workspace.
    pub fn open(root: &Path) -> Result<Workspace> {
        let dir = Workdir::new(root)?;
        let marker = dir.root().join(MARKER);
        let Some(bytes) = dir.read_if_exists(&marker)? else {
            return Err(match dir.is_workdir() {
                true => WorkspaceError::IsAWorkdir(dir.root().to_path_buf()),
                false => WorkspaceError::NotAWorkspace(dir.root().to_path_buf()),
            });
        };
        let read: Marker = serde_json::from_slice(&bytes)
            .map_err(|source| WorkspaceError::Damaged { path: marker.clone(), source })?;
        if read.version > FORMAT {
            return Err(WorkspaceError::Newer { path: marker, found: read.version });
        }
        Ok(Workspace { dir })
    }

    /// Makes a workspace (0700) in a new or empty directory, or opens the
    /// one there.
    pub fn create(root: &Path) -> Result<Workspace> {
        let dir = Workdir::new(root)?;
        let path = dir.root().to_path_buf();
        if fs::symlink_metadata(path.join(MARKER)).is_ok() {
            return Workspace::open(&path);
        }
        if dir.is_workdir() {
            return Err(WorkspaceError::IsAWorkdir(path));
        }
        let builder = || {
            let mut b = fs::DirBuilder::new();
            b.mode(0o700);
            b
        };
        if let Some(parent) = path.parent() {
            builder().recursive(true).create(parent).map_err(|source| io_error("create", parent, source))?;
        }
        match builder().create(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let mut entries = fs::read_dir(&path).map_err(|source| io_error("read", &path, source))?;
                if entries.next().is_some() {
                    return Err(WorkspaceError::NotEmpty(path));
                }
            }
            Err(source) => return Err(io_error("create workspace", &path, source)),
        }
        // Checked now that it exists (a new directory's parents included).
        let dir = Workdir::new(&path)?;
        let marker = Marker { version: FORMAT, created: now() };
        write_atomic(&path.join(MARKER), &serde_json::to_vec_pretty(&marker).unwrap_or_default())?;
        Ok(Workspace { dir })
    }

    pub fn root(&self) -> &Path {
        self.dir.root()
    }

    /// The nodes, sorted by name: every directory below the root with a
    /// valid node name that is a workdir (staging directories of a collect
    /// in progress start with a dot and are not nodes).
    pub fn nodes(&self) -> Result<Vec<Node>> {
        let root = self.root();
        let entries = fs::read_dir(root).map_err(|source| io_error("read workspace", root, source))?;
        let mut nodes = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| io_error("read workspace", root, source))?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else { continue };
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            if !is_dir || check_name(&name).is_err() {
                continue;
            }
            let workdir = Workdir::new(&entry.path())?;
            if workdir.is_workdir() {
                nodes.push(Node { name, workdir });
            }
        }
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(nodes)
    }

    /// The node called `name`; an error listing the nodes there are (and
    /// how to add one) when there is none.
    pub fn node(&self, name: &str) -> Result<Node> {
        check_name(name)?;
        let workdir = Workdir::new(&self.node_dir(name))?;
        if workdir.is_workdir() {
            return Ok(Node { name: name.to_string(), workdir });
        }
        let known = self.nodes()?.into_iter().map(|n| n.name).collect();
        Err(WorkspaceError::NotInWorkspace { name: name.to_string(), root: self.root().to_path_buf(), known })
    }

    /// Starts the node's replica (OpenFlow state restored) unless it runs;
    /// Ok(true) when it started it ([`Node::started_note`] says so). The
    /// same start and restore wait as `start`, without its output; a start
    /// another command made meanwhile counts as running.
    pub fn ensure_running(&self, node: &Node) -> Result<bool> {
        let workdir = &node.workdir;
        if workdir.is_running()? {
            return Ok(false);
        }
        let options = StartOptions { timeout: START_TIMEOUT, ovs_root: RootChoice::Remembered };
        let start_error = |e| WorkspaceError::Start { node: node.name.clone(), source: Box::new(e) };
        let started = match replica::start(workdir, &options) {
            Ok(started) => started,
            Err(ReplicaError::AlreadyRunning { .. }) => return Ok(false),
            Err(e) => return Err(start_error(e)),
        };
        let finished = started.finish(workdir).map_err(start_error)?;
        let not_restored =
            |why: String| WorkspaceError::NotRestored { node: node.name.clone(), root: self.root().to_path_buf(), why };
        if let Some(error) = finished.restore_error.clone() {
            return Err(not_restored(error));
        }
        let unrestored = finished.unrestored_bridges();
        if !unrestored.is_empty() {
            let bridges: Vec<String> = unrestored.into_iter().map(quote::shell).collect();
            return Err(not_restored(format!("none restored on {}", bridges.join(", "))));
        }
        Ok(true)
    }

    /// The workdir of node `name` for a collect into it (`-W … --node
    /// NAME collect-…`): made if needed, the workspace too.
    pub fn node_to_collect(&self, name: &str) -> Result<Node> {
        check_name(name)?;
        Ok(Node { name: name.to_string(), workdir: Workdir::new(&self.node_dir(name))? })
    }

    /// A new, empty workdir under the root (a dot name, so never a node)
    /// to collect one capture into before its node's name is known; it is
    /// removed unless [`Workspace::adopt`]ed.
    pub fn stage(&self) -> Result<Staged> {
        let dir = tempfile::Builder::new()
            .prefix(".collect-")
            .tempdir_in(self.root())
            .map_err(|source| io_error("create a directory in", self.root(), source))?;
        let workdir = Workdir::new(dir.path())?;
        Ok(Staged { dir, workdir })
    }

    /// Makes a staged capture the node `name`. A node of that name is
    /// replaced only with `force`, and never while its replica runs.
    pub fn adopt(&self, staged: Staged, name: &str, force: bool) -> Result<Node> {
        check_name(name)?;
        let target = self.node_dir(name);
        let root = || self.root().to_path_buf();
        let mut replaced = None;
        if fs::symlink_metadata(&target).is_ok() {
            let old = Workdir::new(&target)?;
            if !old.is_workdir() {
                return Err(WorkspaceError::NotANode(target));
            }
            if !force {
                return Err(WorkspaceError::Exists { name: name.to_string(), root: root() });
            }
            if old.is_running()? {
                return Err(WorkspaceError::Running { name: name.to_string(), root: root() });
            }
            // Moved aside into a dot directory, removed once the new one is in.
            let trash = self.stage()?;
            let aside = trash.dir.path().join("old");
            fs::rename(&target, &aside).map_err(|source| io_error("move aside", &target, source))?;
            replaced = Some(trash);
        }
        if let Err(source) = fs::rename(staged.dir.path(), &target) {
            // The node replaced (if any) goes back; the staged capture is removed.
            if let Some(trash) = &replaced {
                let _ = fs::rename(trash.dir.path().join("old"), &target);
            }
            return Err(io_error("rename into place", staged.dir.path(), source));
        }
        // Now at `target`: nothing left for the temporary directory to remove.
        let _ = staged.dir.keep();
        drop(replaced);
        Ok(Node { name: name.to_string(), workdir: Workdir::new(&target)? })
    }

    /// Removes the whole workspace, every node's collected data included;
    /// refused while a node's replica runs.
    pub fn purge(&self) -> Result<()> {
        for node in self.nodes()? {
            if node.workdir.is_running()? {
                return Err(WorkspaceError::Running { name: node.name, root: self.root().to_path_buf() });
            }
        }
        fs::remove_dir_all(self.root()).map_err(|source| io_error("remove", self.root(), source))
    }

    /// `WORKSPACE/<name>/` (`name` already checked).
    fn node_dir(&self, name: &str) -> PathBuf {
        self.root().join(name)
    }
}

/// A capture being collected into the workspace, its node not yet named.
pub struct Staged {
    dir: tempfile::TempDir,
    pub workdir: Workdir,
}

/// What a node's OVS database says of it: its `Open_vSwitch` row's
/// `external_ids:hostname` (what OVN's Chassis records as the hostname)
/// and `external_ids:ovn-encap-ip`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OvsFacts {
    pub hostname: Option<String>,
    pub encap_ip: Option<String>,
}

/// Reads [`OvsFacts`] from the collected OVS database (through a scratch
/// copy; the original is never touched). None known when there is no OVS
/// database or it cannot be read (an obfuscated one, say).
pub fn ovs_facts(workdir: &Workdir) -> Result<OvsFacts> {
    let manifest = Manifest::load(workdir)?;
    let Some(db) = manifest.collected.get(&DbKind::Ovs) else { return Ok(OvsFacts::default()) };
    let scratch = tempfile::Builder::new()
        .prefix(".facts-")
        .tempdir_in(workdir.root())
        .map_err(|source| io_error("create a directory in", workdir.root(), source))?;
    let rows = match collected_db::read(workdir, DbKind::Ovs, db, scratch.path(), &["Open_vSwitch"]) {
        Ok(rows) => rows,
        Err(e) => {
            tracing::debug!("cannot read the OVS database of {}: {e}", workdir.root().display());
            return Ok(OvsFacts::default());
        }
    };
    let row = rows.rows("Open_vSwitch").first();
    let value = |key| row.and_then(|r| r.map("external_ids", key)).filter(|v| !v.is_empty()).map(str::to_string);
    Ok(OvsFacts { hostname: value("hostname"), encap_ip: value("ovn-encap-ip") })
}

/// The name a capture gives its node: the OVS database's hostname (lab
/// chassis sharing a machine differ there), else the source system's
/// hostname (sos `hostname`), else its Kubernetes node name; `None` when
/// the capture says none (the caller names it after its file).
pub fn capture_name(workdir: &Workdir) -> Result<Option<String>> {
    if let Some(hostname) = ovs_facts(workdir)?.hostname {
        return Ok(Some(hostname));
    }
    let source = Manifest::load(workdir)?.source;
    Ok(source.hostname.or(source.node).filter(|name| !name.is_empty()))
}

/// A capture file's name without its archive extensions
/// (`node-1.tar.xz` → `node-1`): the node name of last resort.
pub fn file_stem_name(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let mut stem = name;
    for ext in [".xz", ".gz", ".bz2", ".tgz", ".tar"] {
        stem = stem.strip_suffix(ext).unwrap_or(stem);
    }
    Some(stem.strip_prefix("ovs-offline-capture-").unwrap_or(stem).to_string()).filter(|s| !s.is_empty())
}

/// Refuses a node name that is not one plain path component: empty, too
/// long, `/`, a leading `.` (`.`, `..`, hidden and staging names), control
/// characters, or the marker's name.
pub fn check_name(name: &str) -> Result<()> {
    let why = if name.is_empty() {
        "it is empty"
    } else if name.len() > NAME_MAX_BYTES {
        "it is longer than 255 bytes"
    } else if name.contains('/') {
        "it holds a '/'"
    } else if name.starts_with('.') {
        "it starts with a '.'"
    } else if name.chars().any(char::is_control) {
        "it holds control characters"
    } else if name == MARKER {
        "it is the workspace's marker file"
    } else {
        return Ok(());
    };
    Err(WorkspaceError::BadName { name: name.to_string(), why })
}

fn io_error(action: &'static str, path: &Path, source: io::Error) -> WorkspaceError {
    WorkspaceError::Io { action, path: path.to_path_buf(), source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names_are_one_plain_path_component() {
        for bad in ["", ".", "..", "../x", "a/b", ".hidden", "x\ny", "x\u{1b}[31m", MARKER] {
            assert!(matches!(check_name(bad), Err(WorkspaceError::BadName { .. })), "{bad:?} accepted");
        }
        assert!(check_name(&"n".repeat(256)).is_err());
        for good in ["node-1", "worker.example.com", "n 1", "ñode"] {
            check_name(good).unwrap();
        }
    }

    #[test]
    fn a_file_names_its_node_without_its_archive_extensions() {
        let stem = |p: &str| file_stem_name(Path::new(p));
        assert_eq!(stem("/x/sosreport-node-1.tar.xz").as_deref(), Some("sosreport-node-1"));
        assert_eq!(stem("ovs-offline-capture-n2-20261203T040000Z.tar.xz").as_deref(), Some("n2-20261203T040000Z"));
        assert_eq!(stem("dir/extracted").as_deref(), Some("extracted"));
        assert_eq!(stem(".tar.gz"), None);
    }

    #[test]
    fn a_workspace_is_made_once_and_lists_only_workdirs() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ws");
        let ws = Workspace::create(&root).unwrap();
        assert!(Workspace::create(&root).is_ok());
        for name in ["b", "a", ".staging"] {
            let workdir = Workdir::new(&root.join(name)).unwrap();
            workdir.create().unwrap();
            drop(workdir.try_lock_collect().unwrap());
        }
        fs::create_dir(root.join("not-a-node")).unwrap();
        let names: Vec<String> = ws.nodes().unwrap().into_iter().map(|n| n.name).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(ws.node("a").unwrap().workdir.root(), root.join("a"));
        let err = ws.node("c").unwrap_err().to_string();
        assert!(err.contains("no node c") && err.contains("it holds a, b"), "{err}");
        assert!(matches!(ws.node("../a"), Err(WorkspaceError::BadName { .. })));
    }

    #[test]
    fn a_staged_capture_replaces_a_node_only_with_force_and_leaves_no_staging() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::create(&dir.path().join("ws")).unwrap();
        let staged = |mark: &str| {
            let staged = ws.stage().unwrap();
            staged.workdir.create().unwrap();
            drop(staged.workdir.try_lock_collect().unwrap());
            fs::write(staged.workdir.root().join("mark"), mark).unwrap();
            staged
        };
        ws.adopt(staged("one"), "n", false).unwrap();
        assert!(matches!(ws.adopt(staged("two"), "n", false), Err(WorkspaceError::Exists { .. })));
        let node = ws.adopt(staged("three"), "n", true).unwrap();
        assert_eq!(fs::read_to_string(node.workdir.root().join("mark")).unwrap(), "three");
        let left: Vec<_> = fs::read_dir(ws.root()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left.len(), 2, "marker and node only: {left:?}");
    }

    #[test]
    fn a_directory_with_other_files_or_a_workdir_is_not_made_a_workspace() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("mine"), "x").unwrap();
        assert!(matches!(Workspace::create(dir.path()), Err(WorkspaceError::NotEmpty(_))));
        assert!(matches!(Workspace::open(dir.path()), Err(WorkspaceError::NotAWorkspace(_))));
        let workdir = Workdir::new(&dir.path().join("w")).unwrap();
        workdir.create().unwrap();
        drop(workdir.try_lock_collect().unwrap());
        assert!(matches!(Workspace::create(workdir.root()), Err(WorkspaceError::IsAWorkdir(_))));
        assert!(!workdir.root().join(MARKER).exists());
    }
}
