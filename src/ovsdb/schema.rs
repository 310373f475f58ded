//! The schemas installed with the local OVS/OVN packages, and schema version
//! ordering.

use crate::capture::DbKind;
use std::cmp::Ordering;
use std::path::{Path, PathBuf};

/// Directories distros install `*.ovsschema` files to, after the
/// `OVS_PKGDATADIR` / `OVN_PKGDATADIR` overrides OVS itself honours.
fn schema_dirs(kind: DbKind) -> Vec<PathBuf> {
    let (env, base) = match kind {
        DbKind::Ovs => ("OVS_PKGDATADIR", "openvswitch"),
        DbKind::OvnNb | DbKind::OvnSb => ("OVN_PKGDATADIR", "ovn"),
    };
    let mut dirs: Vec<PathBuf> = std::env::var_os(env).map(PathBuf::from).into_iter().collect();
    dirs.extend([format!("/usr/share/{base}"), format!("/usr/local/share/{base}")].map(PathBuf::from));
    dirs
}

/// The locally installed schema of `kind`, with its version.
pub fn installed(kind: DbKind) -> Option<(PathBuf, String)> {
    schema_dirs(kind).into_iter().find_map(|d| in_dir(&d, kind))
}

/// The schema of `kind` in `dir` (e.g. an `--ovs-root`'s
/// `usr/share/openvswitch`), with its version.
pub fn in_dir(dir: &Path, kind: DbKind) -> Option<(PathBuf, String)> {
    let path = dir.join(kind.schema_file());
    let text = std::fs::read(&path).ok()?;
    let json: serde_json::Value = serde_json::from_slice(&text).ok()?;
    let version = json.get("version")?.as_str()?.to_string();
    Some((path, version))
}

/// Orders `x.y.z` schema versions numerically.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let parse = |v: &str| v.split('.').map(|p| p.parse::<u64>().unwrap_or(0)).collect::<Vec<_>>();
    parse(a).cmp(&parse(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        assert_eq!(compare_versions("8.3.1", "8.10.0"), Ordering::Less);
        assert_eq!(compare_versions("20.27.0", "20.27.0"), Ordering::Equal);
        assert_eq!(compare_versions("7.0.0", "6.3.0"), Ordering::Greater);
    }
}
