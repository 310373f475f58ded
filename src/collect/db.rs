//! `collect-db-ovs`, `collect-db-ovn-nb`, `collect-db-ovn-sb`: one OVSDB file
//! given by hand, validated and copied into `db/<kind>/`.

use crate::capture::{CollectedDb, DbKind};
use crate::ovsdb::file::{self, Format};
use crate::state::now;
use crate::workdir::Workdir;
use anyhow::{bail, Result};
use std::fs;
use std::path::Path;

/// A database collected, with what the user should know about it.
pub struct Collected {
    pub db: CollectedDb,
    pub warnings: Vec<String>,
}

/// Validates `source` as a database of `kind` and copies it into the workdir.
pub fn collect_db(workdir: &Workdir, kind: DbKind, source: &Path, force: bool) -> Result<Collected> {
    let info = file::inspect(source).map_err(|e| anyhow::anyhow!("{} {e}", source.display()))?;
    check_schema(kind, source, &info.schema)?;
    let _lock = super::lock_collected_data(workdir)?;
    let previous = workdir.load_state()?.collected.get(&kind).cloned();
    if let (Some(prev), false) = (&previous, force) {
        bail!(
            "{} database already collected in {} (from {}); use --force to replace it, or choose another working directory with -w",
            kind.schema_name(),
            workdir.root().display(),
            prev.source.display()
        );
    }
    let file_name =
        source.file_name().and_then(|n| n.to_str()).filter(|n| !n.starts_with('.')).unwrap_or("db.db").to_string();
    let dest = workdir.collected_db(kind, &file_name);
    let (size, sha256) = super::copy_hashed(source, &dest)?;
    if let Some(prev) = previous.filter(|p| p.file != file_name) {
        fs::remove_file(workdir.collected_db(kind, &prev.file)).ok();
    }
    let collected = CollectedDb {
        source: std::path::absolute(source).unwrap_or_else(|_| source.to_path_buf()),
        file: file_name,
        size,
        sha256,
        schema: info.schema.clone(),
        version: info.version.clone(),
        clustered: info.format == Format::Clustered,
        collected_at: now(),
    };
    workdir.update_state(|s| s.collected.insert(kind, collected.clone()))?;
    let mut warnings = Vec::new();
    if info.torn_bytes() > 0 {
        warnings.push(format!(
            "{}: the last {} bytes are an incomplete record (file copied while being written); start will drop them",
            source.display(),
            info.torn_bytes()
        ));
    }
    Ok(Collected { db: collected, warnings })
}

fn check_schema(kind: DbKind, source: &Path, schema: &str) -> Result<()> {
    if schema == kind.schema_name() {
        return Ok(());
    }
    match DbKind::from_schema_name(schema) {
        Some(actual) => bail!(
            "{} is an {schema} database, not {}; collect it with 'ovs-offline {} {}'",
            source.display(),
            kind.schema_name(),
            actual.collect_command(),
            source.display()
        ),
        None => bail!(
            "{} holds a {schema} database, not {}; give {} the {} database file",
            source.display(),
            kind.schema_name(),
            kind.collect_command(),
            kind.schema_name()
        ),
    }
}
