//! The collected data model shared by every collector and by `start`.
//!
//! A capture is what collectors leave in the workdir: one database file per
//! [`DbKind`] under `db/<kind>/`, the per-bridge OpenFlow state in
//! `restore_flows/` ([`flows`]), and a versioned manifest (`capture.json`,
//! [`manifest`]) with each item's typed [`Provenance`], the source system's
//! identity and collection notes. Collectors write it only through the
//! staged [`writer`]; nothing downstream knows where the data came from.
//! A capture travels between machines as one [`bundle`].

pub mod bundle;
pub(crate) mod flows;
pub mod manifest;
pub(crate) mod writer;

use crate::quote;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

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

    /// The file name the packages give a database of this kind (and the
    /// one it gets under `db/<kind>/` when collected from a report, a
    /// must-gather or a live node).
    pub fn file_name(self) -> &'static str {
        match self {
            DbKind::Ovs => "conf.db",
            DbKind::OvnNb => "ovnnb_db.db",
            DbKind::OvnSb => "ovnsb_db.db",
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

/// Where one collected item came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Provenance {
    /// A local file given by hand.
    File { path: PathBuf },
    /// A member of an archive (an sos report, a must-gather).
    ArchiveMember { archive: PathBuf, archive_sha256: String, member: String },
    /// A member (`inner`) of an archive that is itself the member `member`
    /// of an archive (a must-gather's `ovnk_database_store.tar.gz`).
    NestedMember { archive: PathBuf, archive_sha256: String, member: String, inner: String },
    /// The output of a command run in a pod's container.
    Pod {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        context: Option<String>,
        namespace: String,
        pod: String,
        container: String,
        command: Vec<String>,
    },
    /// A member of a portable capture bundle (`collect-local`), and where
    /// the bundle says the member came from.
    Bundle {
        bundle: PathBuf,
        bundle_sha256: String,
        member: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        original: Option<Box<Provenance>>,
    },
    /// The output of a command run on the collecting host itself.
    Local { host: String, command: Vec<String> },
}

impl Provenance {
    /// A local file, by its absolute path.
    pub fn file(path: &Path) -> Provenance {
        Provenance::File { path: std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()) }
    }
}

impl fmt::Display for Provenance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Paths and names as shell words: they may come from collected data.
        let word = |text: &str| quote::shell(text);
        match self {
            Provenance::File { path } => write!(f, "{}", quote::path(path)),
            Provenance::ArchiveMember { archive, member, .. } => {
                write!(f, "{} (member {})", quote::path(archive), word(member))
            }
            Provenance::Pod { context, namespace, pod, container, command } => {
                let context = context.as_deref().map(|c| format!("{}/", word(c))).unwrap_or_default();
                let command: Vec<String> = command.iter().map(|a| word(a)).collect();
                let (namespace, pod, container) = (word(namespace), word(pod), word(container));
                write!(f, "pod {context}{namespace}/{pod} container {container}: {}", command.join(" "))
            }
            Provenance::NestedMember { archive, member, inner, .. } => {
                write!(f, "{} (member {}, inside it {})", quote::path(archive), word(member), word(inner))
            }
            Provenance::Bundle { bundle, member, original, .. } => {
                write!(f, "{} (member {})", quote::path(bundle), word(member))?;
                match original {
                    Some(original) => write!(f, ", originally {original}"),
                    None => Ok(()),
                }
            }
            Provenance::Local { host, command } => {
                let command: Vec<String> = command.iter().map(|a| word(a)).collect();
                write!(f, "host {}: {}", word(host), command.join(" "))
            }
        }
    }
}

/// The system a capture was taken from, as far as the collectors learnt it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceSystem {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// The Kubernetes/OpenShift node name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ovs_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ovn_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sos_version: Option<String>,
    /// Its datapath port numbers by port name (`dpctl/show`, from sos or
    /// read live): a replica's datapath numbers its ports differently.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub datapath_ports: BTreeMap<String, u32>,
}

impl SourceSystem {
    /// Fills in what `self` does not know from `other`.
    pub fn merge(&mut self, other: SourceSystem) {
        let fill = |mine: &mut Option<String>, theirs: Option<String>| {
            if mine.is_none() {
                *mine = theirs;
            }
        };
        fill(&mut self.hostname, other.hostname);
        fill(&mut self.node, other.node);
        fill(&mut self.ovs_version, other.ovs_version);
        fill(&mut self.ovn_version, other.ovn_version);
        fill(&mut self.sos_version, other.sos_version);
        if self.datapath_ports.is_empty() {
            self.datapath_ports = other.datapath_ports;
        }
    }
}

/// One collected database file under `db/<kind>/`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CollectedDb {
    pub source: Provenance,
    /// File name of the copy under `db/<kind>/`.
    pub file: String,
    pub size: u64,
    pub sha256: String,
    pub schema: String,
    pub version: String,
    pub clustered: bool,
    pub collected_at: String,
    /// Rebuilt from a report's text (it held no database file): its notes
    /// say from what, and what the text lacked.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rebuilt: bool,
    /// What the collector noticed about it, one line each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Set when the copy is an obfuscated file (`sos clean`) whose edited
    /// records were re-hashed: its addresses and names are not production's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub obfuscated: Option<Obfuscated>,
}

/// How much of an obfuscated database was re-hashed: `rehashed` of its
/// `records` records had their length and SHA-1 recomputed (the original
/// stays untouched where it was collected from).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Obfuscated {
    pub rehashed: u64,
    pub records: u64,
}

/// The OpenFlow state collected into `restore_flows/`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CollectedFlows {
    /// What the collector was pointed at.
    pub source: Provenance,
    pub files: Vec<CollectedFile>,
    pub collected_at: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Bridges whose dumps are known to be incomplete (e.g. cut by sos's
    /// `--log-size`), with what is missing: `start` never presents them as
    /// complete.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub incomplete: BTreeMap<String, String>,
}

/// One file under `restore_flows/`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CollectedFile {
    /// Path relative to `restore_flows/`.
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
    pub source: Provenance,
}
