//! `ovs-offline audit`: what the control plane asked for (OVN NB and SB)
//! against what this node installed (its OVS database and OpenFlow state),
//! from the workdir's capture alone — no replica needs to run.
//!
//! Owns the checks ([`Check`]), their findings ([`Finding`], one line of
//! evidence each, collected names quoted) and the report. The databases are
//! read through standalone copies ([`crate::ovsdb::rows`]), the flow dumps streamed once
//! ([`flows`]); each check lives in its own module.

mod bindings;
pub mod flows;
mod lflows;
mod node;
mod openflow;
mod sync;
mod tunnels;

use crate::capture::flows::{discover, FlowsError};
use crate::capture::manifest::{Manifest, ManifestError};
use crate::capture::DbKind;
use crate::ovsdb::rows::{self, Db, RowsError};
use crate::state::BridgeRestore;
use crate::workdir::{IoContext, Workdir, WorkdirError};
use node::Node;
use serde::Serialize;
use std::path::PathBuf;

/// One audit check, as `--check` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Check {
    /// SB logical flows of local datapaths ↔ br-int flow cookies.
    Lflows,
    /// Port bindings ↔ OVS interfaces.
    Bindings,
    /// Chassis encaps ↔ tunnel ports on br-int.
    Tunnels,
    /// nb_cfg of NB, SB and chassis; NB ports without a binding.
    Sync,
    /// Groups and meters flows use; what a replay rejected or replaced.
    Openflow,
}

impl Check {
    pub const ALL: [Check; 5] = [Check::Lflows, Check::Bindings, Check::Tunnels, Check::Sync, Check::Openflow];

    pub fn name(self) -> &'static str {
        match self {
            Check::Lflows => "lflows",
            Check::Bindings => "bindings",
            Check::Tunnels => "tunnels",
            Check::Sync => "sync",
            Check::Openflow => "openflow",
        }
    }
}

/// How much a finding matters; findings print most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Traffic of the objects named is (or may be) dropped or misdirected.
    Error,
    /// Inconsistent state that may explain a symptom.
    Warning,
}

/// One thing found: what, on which objects, and the evidence, as one line.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub check: Check,
    /// A stable name for the kind of finding (`missing-lflow`, …).
    pub kind: &'static str,
    /// The objects involved, as collected (unquoted).
    pub objects: Vec<String>,
    /// The line printed: names quoted, evidence included.
    pub message: String,
}

impl Finding {
    fn new(severity: Severity, check: Check, kind: &'static str, objects: Vec<String>, message: String) -> Finding {
        Finding { severity, check, kind, objects, message: crate::quote::note(&message) }
    }
}

/// What one check did.
#[derive(Debug, Serialize)]
pub struct CheckSummary {
    pub check: Check,
    #[serde(flatten)]
    pub outcome: Outcome,
}

#[derive(Debug, Serialize)]
#[serde(tag = "outcome", rename_all = "lowercase")]
pub enum Outcome {
    /// It ran: how much it looked at, and how many findings it made.
    Ran { looked_at: String, findings: usize },
    /// The capture lacks what it needs.
    Skipped { reason: String },
}

/// The whole audit.
#[derive(Debug, Serialize)]
pub struct Report {
    pub checks: Vec<CheckSummary>,
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn found_something(&self) -> bool {
        !self.findings.is_empty()
    }

    /// The text form: a summary line per check, then the findings by
    /// severity.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for summary in &self.checks {
            let line = match &summary.outcome {
                Outcome::Ran { looked_at, findings: 0 } => format!("passed ({looked_at})"),
                Outcome::Ran { looked_at, findings } => {
                    format!("{findings} finding{} ({looked_at})", plural(*findings))
                }
                Outcome::Skipped { reason } => format!("skipped: {reason}"),
            };
            out.push_str(&format!("{:<9} {line}\n", summary.check.name()));
        }
        if !self.findings.is_empty() {
            out.push('\n');
        }
        for finding in &self.findings {
            let severity = match finding.severity {
                Severity::Error => "ERROR",
                Severity::Warning => "WARNING",
            };
            out.push_str(&format!("{severity:<7} {}: {}\n", finding.check.name(), finding.message));
        }
        out
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Workdir(#[from] WorkdirError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Flows(#[from] FlowsError),
    #[error(
        "nothing is collected in {}; collect a node first (e.g. ovs-offline collect-sos REPORT)",
        crate::quote::path(path)
    )]
    Empty { path: PathBuf },
    #[error("another ovs-offline is collecting into {}; audit when it has finished", crate::quote::path(.0))]
    Busy(PathBuf),
    #[error(transparent)]
    Rows(#[from] RowsError),
    #[error("cannot read {}", crate::quote::path(path))]
    Dump {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What the checks read from the capture.
pub struct Inputs {
    pub ovs: Option<Db>,
    pub nb: Option<Db>,
    pub sb: Option<Db>,
    /// Per bridge, the flow dumps collected.
    pub flows: crate::capture::flows::FlowPlan,
    /// What the latest replay rejected or replaced (empty when no replica
    /// restored flows).
    pub restore: Vec<BridgeRestore>,
}

/// Tables each database is read for.
const OVS_TABLES: &[&str] = &["Open_vSwitch", "Bridge", "Port", "Interface"];
const NB_TABLES: &[&str] = &["NB_Global", "Logical_Switch_Port", "Logical_Router_Port"];
const SB_TABLES: &[&str] = &[
    "SB_Global",
    "Chassis",
    "Chassis_Private",
    "Encap",
    "Datapath_Binding",
    "Port_Binding",
    "Logical_Flow",
    "Logical_DP_Group",
    "Multicast_Group",
    "MAC_Binding",
    "Static_MAC_Binding",
    "FDB",
    "Load_Balancer",
    "Address_Set",
    "Port_Group",
];

/// Reads the capture of `workdir`.
pub fn gather(workdir: &Workdir) -> Result<Inputs, AuditError> {
    if !workdir.exists() {
        return Err(AuditError::Empty { path: workdir.root().to_path_buf() });
    }
    // Held while reading: a collect cannot replace what is being read.
    let Some(_lock) = workdir.try_lock_collect()? else {
        return Err(AuditError::Busy(workdir.root().to_path_buf()));
    };
    let manifest = Manifest::load(workdir)?;
    if manifest.is_empty() {
        return Err(AuditError::Empty { path: workdir.root().to_path_buf() });
    }
    let scratch = tempfile::Builder::new()
        .prefix(".audit.")
        .tempdir_in(workdir.root())
        .at("create a scratch directory in", workdir.root())?;
    let read = |kind: DbKind, tables: &[&str]| {
        manifest.collected.get(&kind).map(|db| rows::read(workdir, kind, db, scratch.path(), tables)).transpose()
    };
    let ovs = read(DbKind::Ovs, OVS_TABLES)?;
    let nb = read(DbKind::OvnNb, NB_TABLES)?;
    let sb = read(DbKind::OvnSb, SB_TABLES)?;
    let bridge_names: Vec<String> =
        ovs.iter().flat_map(|db| db.rows("Bridge").iter().map(|b| b.str("name").to_string())).collect();
    let flows = match manifest.flows {
        Some(_) => discover(&workdir.restore_flows_dir(), &bridge_names)?,
        None => Default::default(),
    };
    let restore = workdir.load_state()?.run.map(|run| run.restore).unwrap_or_default();
    Ok(Inputs { ovs, nb, sb, flows, restore })
}

/// Runs `checks` (all when empty) on `inputs`.
pub fn run(inputs: &Inputs, checks: &[Check]) -> Result<Report, AuditError> {
    let checks: Vec<Check> = if checks.is_empty() { Check::ALL.to_vec() } else { dedup(checks) };
    let node = Node::new(inputs);
    // Each flow dump is streamed once, for both checks that read it.
    let indexes = if checks.contains(&Check::Lflows) || checks.contains(&Check::Openflow) {
        let known = inputs.sb.as_ref().map(lflows::known_cookies);
        flows::index_bridges(&inputs.flows, &node.integration_bridge, known.as_ref())?
    } else {
        Default::default()
    };
    let mut summaries = Vec::new();
    let mut findings = Vec::new();
    for check in checks {
        let result = match check {
            Check::Lflows => lflows::check(inputs, &node, indexes.get(&node.integration_bridge).map(|b| &b.index)),
            Check::Bindings => bindings::check(inputs, &node),
            Check::Tunnels => tunnels::check(inputs, &node),
            Check::Sync => sync::check(inputs, &node),
            Check::Openflow => openflow::check(inputs, &indexes),
        };
        let outcome = match result {
            Ok((looked_at, found)) => {
                let outcome = Outcome::Ran { looked_at, findings: found.len() };
                findings.extend(found);
                outcome
            }
            Err(reason) => Outcome::Skipped { reason },
        };
        summaries.push(CheckSummary { check, outcome });
    }
    findings.sort_by_key(|f| (f.severity, f.check));
    Ok(Report { checks: summaries, findings })
}

fn dedup(checks: &[Check]) -> Vec<Check> {
    let mut checks = checks.to_vec();
    checks.sort();
    checks.dedup();
    checks
}

/// A check's result: what it looked at and its findings, or why it could
/// not run.
type Checked = Result<(String, Vec<Finding>), String>;
