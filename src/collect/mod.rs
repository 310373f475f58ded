//! Collectors: bring evidence into the workdir without modifying it.
//!
//! Every collector reads its input and hands it to a
//! [`crate::capture::writer::CaptureWriter`], which validates, stages and
//! commits it with its provenance: [`db`] and [`flows`] (files given by
//! hand), [`sos`] (sos reports), [`must_gather`] (OpenShift must-gathers),
//! [`bundle`] (portable capture bundles), reading archives through
//! [`archive`], [`live`] (a live node read through read-only commands),
//! [`k8s`] (a Kubernetes or OpenShift node) and [`local`] (this host,
//! packed as a bundle).

mod archive;
pub mod bundle;
pub mod db;
pub mod flows;
pub mod k8s;
pub mod live;
pub mod local;
pub mod must_gather;
pub mod sos;

use crate::capture::writer::{CaptureError, MAX_COLLECTED_BYTES};
use crate::capture::Provenance;
use crate::quote;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error(transparent)]
    MustGather(#[from] must_gather::MustGatherError),
    #[error(transparent)]
    Bundle(#[from] bundle::BundleImportError),
    #[error("cannot read {}", quote::path(path))]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{} is {kind}, not a regular file; not collected (give the file itself, or a copy of it)",
        quote::path(path)
    )]
    NotARegularFile { path: PathBuf, kind: &'static str },
    #[error(
        "{} holds {size} bytes, more than any OVSDB file or flow dump (at most {MAX_COLLECTED_BYTES}); not collected",
        quote::path(path)
    )]
    TooLarge { path: PathBuf, size: u64 },
    #[error("{} is not an sos report (no sos_commands/, sos_reports/ or version.txt in it); give the sos report archive or its extracted directory", quote::path(.0))]
    NotSos(PathBuf),
    #[error("the sos report {} holds no {expected}; nothing collected", quote::path(archive))]
    NothingInSos { archive: PathBuf, expected: &'static str },
    #[error("the sos report {} holds no usable {expected}: {why}; nothing collected", quote::path(archive))]
    NothingUsableInSos { archive: PathBuf, expected: &'static str, why: String },
    #[error(
        "{} is not a readable {compression}: it is corrupt or cut short; nothing collected (copy the report again)",
        quote::path(archive)
    )]
    BrokenArchive {
        archive: PathBuf,
        compression: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a flow dump or an ovs-save do_restore.sh; give collect-flows the directory ovs-save wrote", quote::path(.0))]
    NotFlows(PathBuf),
    #[error("{} holds no flow dumps; expected do_restore.sh with <bridge>.flows.dump files (ovs-save), or files named ovs-ofctl_-O_OpenFlowNN_dump-flows_<bridge>", quote::path(.0))]
    NoDumps(PathBuf),
    #[error("cannot collect the OpenFlow state in {}", quote::path(path))]
    Flows {
        path: PathBuf,
        #[source]
        source: crate::capture::flows::FlowsError,
    },
}

/// Opens a local file to collect, with its provenance. Only a regular file
/// is read: a FIFO would hang (it is opened without blocking, and refused),
/// a device never end. `named`: the user gave this path, so a symbolic link
/// is followed; a file found in a directory is never read through one.
fn open(path: &Path, named: bool) -> Result<(File, Provenance), CollectError> {
    let read_error = |source| CollectError::Read { path: path.to_path_buf(), source };
    // Refused before opening: opening a device can have effects.
    let meta = if named { fs::metadata(path) } else { fs::symlink_metadata(path) }.map_err(read_error)?;
    check_regular(path, &meta)?;
    let nofollow = if named { 0 } else { libc::O_NOFOLLOW };
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC | nofollow)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => CollectError::NotARegularFile { path: path.to_path_buf(), kind: "a symbolic link" },
            _ => read_error(e),
        })?;
    // What was opened, in case the path changed meanwhile.
    let meta = file.metadata().map_err(read_error)?;
    check_regular(path, &meta)?;
    if meta.len() > MAX_COLLECTED_BYTES {
        return Err(CollectError::TooLarge { path: path.to_path_buf(), size: meta.len() });
    }
    fcntl(&file, FcntlArg::F_SETFL(OFlag::empty())).map_err(|e| read_error(e.into()))?;
    Ok((file, Provenance::file(path)))
}

fn check_regular(path: &Path, meta: &fs::Metadata) -> Result<(), CollectError> {
    let kind = meta.file_type();
    let kind = if kind.is_file() {
        return Ok(());
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_symlink() {
        "a symbolic link"
    } else if kind.is_fifo() {
        "a named pipe (FIFO)"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "an unknown kind of file"
    };
    Err(CollectError::NotARegularFile { path: path.to_path_buf(), kind })
}
