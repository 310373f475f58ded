//! `collect-local`: this host's own OVS and OVN (an OpenStack compute or
//! controller, a bare OVS host, an OVN central node), read through their
//! sockets with the same read-only commands as `collect-k8s`
//! ([`super::live::collect_local`]) into a private scratch workdir, then
//! packed as one portable capture bundle ([`crate::capture::bundle::pack`])
//! for `collect-capture` on the analyst's machine. Nothing on the host is
//! written but the bundle; the scratch workdir (a private directory in
//! `$TMPDIR`, checked like any workdir) is removed whatever happens.
//!
//! Where the sockets are: given (`--ovs-rundir`, `--ovn-rundir`,
//! `--nb-db`, `--sb-db`), they must exist; else the packaged defaults are
//! looked for, and a half that is not there (a compute node has no NB/SB,
//! an OVN central node may have no OVS) is skipped with a note.

use super::live::{self, LiveError, LocalSockets, NodeSummary};
use crate::capture::bundle::{self, BundleError};
use crate::capture::DbKind;
use crate::quote;
use crate::workdir::{Workdir, WorkdirError};
use nix::unistd::{access, AccessFlags};
use serde::Serialize;
use std::fs;
use std::io;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

/// Where the packaged OVS keeps `db.sock` and the bridges' `.mgmt`
/// sockets (`/var/run` is `/run` on current distributions).
const OVS_RUNDIRS: [&str; 2] = ["/var/run/openvswitch", "/run/openvswitch"];

/// Where the packaged OVN keeps `ovnnb_db.sock` / `ovnsb_db.sock`: its own
/// run directory, or OVS's (older packages, RHEL OpenStack).
const OVN_RUNDIRS: [&str; 4] = ["/var/run/ovn", "/run/ovn", "/var/run/openvswitch", "/run/openvswitch"];

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error(transparent)]
    Live(#[from] LiveError),
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(transparent)]
    Workdir(#[from] WorkdirError),
    #[error("{}: no such socket; check the path (ovs-vsctl/ovn-nbctl --db names it on this host)", quote::path(.0))]
    NoSocket(PathBuf),
    #[error("{}: permission denied; collect-local reads through OVS's and OVN's own sockets: run it as their owner (e.g. sudo ovs-offline collect-local …)", quote::path(.0))]
    Forbidden(PathBuf),
    #[error("no OVS or OVN database socket on this host (looked for db.sock in {} and ovnnb_db.sock/ovnsb_db.sock in {}); give --ovs-rundir, --ovn-rundir or --nb-db/--sb-db", OVS_RUNDIRS.join(", "), OVN_RUNDIRS.join(", "))]
    NothingFound,
    #[error("cannot make a scratch directory in {}", quote::path(dir))]
    Scratch {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Where to read from, as the user gave it (`None`: look for the defaults).
#[derive(Debug, Default)]
pub struct LocalOptions {
    pub ovs_rundir: Option<PathBuf>,
    pub ovn_rundir: Option<PathBuf>,
    pub nb: Option<String>,
    pub sb: Option<String>,
}

/// What `collect-local` wrote.
#[derive(Debug, Serialize)]
pub struct LocalCapture {
    pub bundle: PathBuf,
    pub node: NodeSummary,
    /// The halves not found at their default places.
    pub skipped: Vec<String>,
}

/// Reads this host into a bundle at `output` (a directory, or a file name
/// ending in `.tar.xz`).
pub fn collect_local(options: &LocalOptions, output: &Path) -> Result<LocalCapture, LocalError> {
    let mut skipped = Vec::new();
    let sockets = find_sockets(options, &mut skipped)?;
    let scratch = tempfile::Builder::new()
        .prefix("ovs-offline-local-")
        .tempdir()
        .map_err(|source| LocalError::Scratch { dir: std::env::temp_dir(), source })?;
    let workdir = Workdir::new(&scratch.path().join("capture"))?;
    let node = live::collect_local(&workdir, &sockets, false)?;
    let bundle = bundle::pack(&workdir, output)?;
    Ok(LocalCapture { bundle, node, skipped })
}

fn find_sockets(options: &LocalOptions, skipped: &mut Vec<String>) -> Result<LocalSockets, LocalError> {
    let ovs_socket = match &options.ovs_rundir {
        Some(dir) => Some(given(dir.join("db.sock"))?),
        None => first_socket(OVS_RUNDIRS.iter().map(|d| Path::new(d).join("db.sock")))?,
    };
    let ovs_rundir = ovs_socket.and_then(|s| s.parent().map(Path::to_path_buf));
    if ovs_rundir.is_none() {
        skipped
            .push("no OVS database socket (db.sock) found: the OVS half is not collected (give --ovs-rundir)".into());
    }
    let nb = ovn_socket(options, DbKind::OvnNb, skipped)?;
    let sb = ovn_socket(options, DbKind::OvnSb, skipped)?;
    if let (Some(dir), None, None) = (&options.ovn_rundir, &nb, &sb) {
        return Err(LocalError::NoSocket(dir.join(ovn_socket_name(DbKind::OvnNb))));
    }
    if ovs_rundir.is_none() && nb.is_none() && sb.is_none() {
        return Err(LocalError::NothingFound);
    }
    Ok(LocalSockets { ovs_rundir: ovs_rundir.map(path_string), nb: nb.map(path_string), sb: sb.map(path_string) })
}

/// The socket of the OVN database `kind`: as given (`unix:` optional), in
/// the given OVN run directory, or at a default place.
fn ovn_socket(options: &LocalOptions, kind: DbKind, skipped: &mut Vec<String>) -> Result<Option<PathBuf>, LocalError> {
    let name = ovn_socket_name(kind);
    let given_socket = if kind == DbKind::OvnSb { &options.sb } else { &options.nb };
    if let Some(socket) = given_socket {
        return given(PathBuf::from(socket.strip_prefix("unix:").unwrap_or(socket))).map(Some);
    }
    let found = match &options.ovn_rundir {
        Some(dir) => first_socket(std::iter::once(dir.join(name)))?,
        None => first_socket(OVN_RUNDIRS.iter().map(|d| Path::new(d).join(name)))?,
    };
    if found.is_none() {
        skipped.push(format!("no {name} found: {} is not collected (not an OVN central node?)", kind.schema_name()));
    }
    Ok(found)
}

/// The socket file an OVN database's ovsdb-server listens on.
fn ovn_socket_name(kind: DbKind) -> &'static str {
    if kind == DbKind::OvnSb {
        "ovnsb_db.sock"
    } else {
        "ovnnb_db.sock"
    }
}

/// What is at a socket's path, for this user.
enum Socket {
    Usable,
    Missing,
    /// There, but this user may not connect to it (or not even look).
    Forbidden,
}

/// Follows links (`/var/run` → `/run`): these are the host's own paths,
/// not collected data.
fn probe(path: &Path) -> Socket {
    match fs::metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => match access(path, AccessFlags::W_OK) {
            Ok(()) => Socket::Usable,
            Err(_) => Socket::Forbidden,
        },
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => Socket::Forbidden,
        _ => Socket::Missing,
    }
}

/// The first of `candidates` that is a socket this user can use; one that
/// is there but forbidden is an error, not skipped.
fn first_socket(candidates: impl Iterator<Item = PathBuf>) -> Result<Option<PathBuf>, LocalError> {
    for path in candidates {
        match probe(&path) {
            Socket::Usable => return Ok(Some(path)),
            Socket::Forbidden => return Err(LocalError::Forbidden(path)),
            Socket::Missing => {}
        }
    }
    Ok(None)
}

/// `path`, named by the user, must be a socket this user can use.
fn given(path: PathBuf) -> Result<PathBuf, LocalError> {
    first_socket(std::iter::once(path.clone()))?.ok_or(LocalError::NoSocket(path))
}

fn path_string(path: PathBuf) -> String {
    path.to_string_lossy().into_owned()
}
