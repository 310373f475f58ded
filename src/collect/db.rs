//! `collect-db-ovs`, `collect-db-ovn-nb`, `collect-db-ovn-sb`: one OVSDB file
//! given by hand, validated and staged into `db/<kind>/`.

use super::CollectError;
use crate::capture::writer::CaptureWriter;
use crate::capture::{CollectedDb, DbKind};
use crate::workdir::Workdir;
use std::path::Path;

/// Validates `source` as a database of `kind` and collects it.
pub fn collect_db(workdir: &Workdir, kind: DbKind, source: &Path, force: bool) -> Result<CollectedDb, CollectError> {
    let (file, origin) = super::open(source, true)?;
    let mut capture = CaptureWriter::begin(workdir, force)?;
    let name = source.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let db = capture.stage_db(kind, file, name, origin)?;
    capture.commit()?;
    Ok(db)
}
