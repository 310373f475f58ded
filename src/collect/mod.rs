//! Collectors: bring evidence into the workdir without modifying it.
//!
//! Every collector reads its input and hands it to a
//! [`crate::capture::writer::CaptureWriter`], which validates, stages and
//! commits it with its provenance. Later collectors (sos reports,
//! Kubernetes) land here beside [`db`] and [`flows`].

pub mod db;
pub mod flows;

use crate::capture::writer::CaptureError;
use crate::capture::Provenance;
use std::fs::File;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error("cannot read {}", path.display())]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a flow dump or an ovs-save do_restore.sh; give collect-flows the directory ovs-save wrote", .0.display())]
    NotFlows(std::path::PathBuf),
    #[error("{} holds no flow dumps; expected do_restore.sh with <bridge>.flows.dump files (ovs-save), or files named ovs-ofctl_-O_OpenFlowNN_dump-flows_<bridge>", .0.display())]
    NoDumps(std::path::PathBuf),
    #[error("cannot collect the OpenFlow state in {}", path.display())]
    Flows {
        path: std::path::PathBuf,
        #[source]
        source: crate::capture::flows::FlowsError,
    },
}

/// Opens a local file to collect, with its provenance.
fn open(path: &Path) -> Result<(File, Provenance), CollectError> {
    let file = File::open(path).map_err(|source| CollectError::Read { path: path.to_path_buf(), source })?;
    Ok((file, Provenance::file(path)))
}
