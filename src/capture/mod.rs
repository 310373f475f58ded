//! The collected data model shared by every collector and by `start`.
//!
//! A capture is what a collector leaves in the workdir: one database file per
//! [`DbKind`] plus its provenance, and the per-bridge OpenFlow state in
//! `restore_flows/` ([`flows`]). Collectors only produce it; nothing
//! downstream knows where the data came from.

pub mod flows;

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;

/// The three OVSDB databases a replica can serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DbKind {
    Ovs,
    OvnNb,
    OvnSb,
}

impl DbKind {
    pub const ALL: [DbKind; 3] = [DbKind::Ovs, DbKind::OvnNb, DbKind::OvnSb];

    /// Directory name under `db/` and `var-run/` (as the original tool).
    pub fn dir_name(self) -> &'static str {
        match self {
            DbKind::Ovs => "ovs",
            DbKind::OvnNb => "ovn_nb",
            DbKind::OvnSb => "ovn_sb",
        }
    }

    /// The OVSDB schema name stored in the database file.
    pub fn schema_name(self) -> &'static str {
        match self {
            DbKind::Ovs => "Open_vSwitch",
            DbKind::OvnNb => "OVN_Northbound",
            DbKind::OvnSb => "OVN_Southbound",
        }
    }

    /// File name of the schema as installed by the distro packages.
    pub fn schema_file(self) -> &'static str {
        match self {
            DbKind::Ovs => "vswitch.ovsschema",
            DbKind::OvnNb => "ovn-nb.ovsschema",
            DbKind::OvnSb => "ovn-sb.ovsschema",
        }
    }

    /// The subcommand that collects a database of this kind.
    pub fn collect_command(self) -> &'static str {
        match self {
            DbKind::Ovs => "collect-db-ovs",
            DbKind::OvnNb => "collect-db-ovn-nb",
            DbKind::OvnSb => "collect-db-ovn-sb",
        }
    }

    /// The client most users reach this database with.
    pub fn ctl_tool(self) -> &'static str {
        match self {
            DbKind::Ovs => "ovs-vsctl",
            DbKind::OvnNb => "ovn-nbctl",
            DbKind::OvnSb => "ovn-sbctl",
        }
    }

    pub fn from_schema_name(name: &str) -> Option<DbKind> {
        DbKind::ALL.into_iter().find(|k| k.schema_name() == name)
    }
}

impl fmt::Display for DbKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.dir_name())
    }
}

/// Provenance of one collected database file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CollectedDb {
    /// Where the user's original came from (never modified).
    pub source: PathBuf,
    /// File name of the copy under `db/<kind>/`.
    pub file: String,
    pub size: u64,
    pub sha256: String,
    pub schema: String,
    pub version: String,
    pub clustered: bool,
    pub collected_at: String,
}

/// Provenance of the OpenFlow state collected into `restore_flows/`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CollectedFlows {
    pub source: PathBuf,
    pub files: Vec<CollectedFile>,
    pub collected_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CollectedFile {
    /// Path relative to `restore_flows/`.
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
}
