//! What `start`, `show` and `status` print: the sockets and commands of a
//! replica (as the original tool printed them), the state of its daemons,
//! databases and bridges, as text or JSON, restarts, and what flow replay
//! restored ([`restore_summary`]; read from its result, never by running
//! it). A daemon counts as running only while its process exists, so
//! neither report shows a dead daemon as running or lists its sockets.
//! Every path and collected name in the text is quoted the way a shell
//! reads it back ([`crate::quote`]); the JSON carries them as they are.

use crate::capture::manifest::{Manifest, ManifestError};
use crate::capture::DbKind;
use crate::capture::{CollectedDb, Provenance, SourceSystem};
use crate::ofp_text::versions;
use crate::ovsdb::schema::compare_versions;
use crate::quote::{self, note};
use crate::replay::BridgeRestore;
use crate::replica::daemons::{ovsdb_server_name, VSWITCHD};
use crate::state::{
    DaemonExit, DaemonRestarts, DaemonState, PreparedDb, ReplayOutcome, ReplayRecord, RootVersions, State,
};
use crate::supervisor::Exit;
use crate::workdir::{Workdir, WorkdirError};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Why a report could not be gathered: the workdir's files could not be
/// read.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Workdir(#[from] WorkdirError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
}

type Result<T, E = ReportError> = std::result::Result<T, E>;

/// Sockets and entry points of a replica.
#[derive(Debug, Serialize)]
pub struct Show {
    pub workdir: PathBuf,
    pub running: bool,
    pub collected: Vec<DbKind>,
    /// Databases rebuilt from a report's text (no database file).
    pub rebuilt: Vec<DbKind>,
    pub vswitchd_ctl: Option<PathBuf>,
    pub db_sockets: BTreeMap<DbKind, PathBuf>,
    pub mgmt_sockets: BTreeMap<String, PathBuf>,
    pub activate: Option<PathBuf>,
    /// The `--ovs-root` the daemons run from.
    pub ovs_root: Option<RootVersions>,
    /// Debugging tools found on `PATH` that `show` prints commands for
    /// (`ovs-flowviz`, `ovn-debug`: only where installed).
    pub installed: Vec<String>,
}

/// Tools `show` names only when they are installed.
const OPTIONAL_TOOLS: [&str; 2] = ["ovs-flowviz", "ovn-debug"];

impl Show {
    pub fn gather(workdir: &Workdir) -> Result<Show> {
        let state = workdir.load_state()?;
        let manifest = Manifest::load(workdir)?;
        let rebuilt = manifest.collected.iter().filter(|(_, db)| db.rebuilt).map(|(kind, _)| *kind).collect();
        let collected = manifest.collected.into_keys().collect();
        let running = workdir.exists() && workdir.is_running()?;
        let run = state.run.as_ref().filter(|_| running);
        let live = |name: &str| run.and_then(|r| daemon(&r.daemons, name)).filter(|d| alive(d));
        let vswitchd = live(VSWITCHD);
        let vswitchd_ctl = vswitchd.and_then(|d| d.ctl.clone());
        let db_sockets = run
            .map(|r| r.dbs.iter().filter(|d| live(&ovsdb_server_name(d.kind)).is_some()))
            .into_iter()
            .flatten()
            .map(|d| (d.kind, d.socket.clone()))
            .collect();
        let mgmt_sockets = match vswitchd {
            Some(_) => mgmt_sockets(&workdir.run_dir(DbKind::Ovs)),
            None => BTreeMap::new(),
        };
        let activate = Some(workdir.activate_script()).filter(|p| running && p.exists());
        let installed =
            OPTIONAL_TOOLS.iter().filter(|t| crate::tools::find(t).is_ok()).map(|t| t.to_string()).collect();
        Ok(Show {
            workdir: workdir.root().to_path_buf(),
            running,
            collected,
            rebuilt,
            vswitchd_ctl,
            db_sockets,
            mgmt_sockets,
            activate,
            ovs_root: run.and_then(|r| r.ovs_root.clone()),
            installed,
        })
    }

    /// The listing of sockets and commands, as the original tool printed it.
    pub fn text(&self) -> String {
        let mut s = String::new();
        let w = quote::path(&self.workdir);
        if !self.running {
            let collected: Vec<String> = self.collected.iter().map(|k| k.to_string()).collect();
            let collected = if collected.is_empty() { "nothing".to_string() } else { collected.join(", ") };
            let _ = writeln!(s, "Offline OVS Debugging is not running in {w} (collected: {collected}).");
            let _ = writeln!(s, "Start it with: ovs-offline -w {w} start");
            return s;
        }
        let _ = writeln!(s, "Working directory: {w}:");
        if let Some(root) = &self.ovs_root {
            let version = |v: &Option<String>| v.as_deref().map(note).unwrap_or_else(|| "?".into());
            let _ = writeln!(
                s,
                "* daemons run from --ovs-root {} (Open vSwitch {}, OVN {}); this host's clients work against \
                 the sockets below",
                quote::path(&root.dir),
                version(&root.ovs),
                version(&root.ovn)
            );
        }
        if let Some(ctl) = &self.vswitchd_ctl {
            let ctl = quote::path(ctl);
            let _ = writeln!(s, "* openvswitch control found at {ctl}");
            let _ = writeln!(s, "You can run ovs-appctl commands as:");
            let _ = writeln!(s, "ovs-appctl --target={ctl} [...]");
        }
        for (kind, socket) in &self.db_sockets {
            let _ = writeln!(s, "* {kind} ovsdb-server socket found at {}", quote::path(socket));
            if self.rebuilt.contains(kind) {
                let _ = writeln!(
                    s,
                    "  (REBUILT from the report's text, not a database file: 'ovs-offline status' says what it lacks)"
                );
            }
            let _ = writeln!(s, "You can run commands such as:");
            let unix = unix(socket);
            let _ = writeln!(s, "{} --db {unix} [...]", kind.ctl_tool());
            let _ = writeln!(s, "or");
            let _ = writeln!(s, "ovsdb-client [...] {unix}");
        }
        if !self.mgmt_sockets.is_empty() {
            let paths: Vec<String> = self.mgmt_sockets.values().map(|p| quote::path(p)).collect();
            let _ = writeln!(s, "* openflow bridge management sockets found at {}", paths.join("\n"));
            let _ = writeln!(s, "You can run ofproto commands such as:");
            for path in &paths {
                let _ = writeln!(s, "ovs-ofctl [...] {path}");
            }
        }
        self.ovn_tracing_text(&mut s);
        if let Some(activate) = &self.activate {
            let _ = writeln!(s, "* You can also run offline commands directly with the following:");
            let _ = writeln!(s, "source {}", quote::path(activate));
        }
        s
    }
}

impl Show {
    /// With OVN's NB and SB: ready-to-paste logical traces (`ovn-trace`
    /// against the replica's SB), OpenFlow traces annotated by
    /// `ovn-detrace`, and `ovs-flowviz`/`ovn-debug` where installed.
    fn ovn_tracing_text(&self, s: &mut String) {
        let (Some(nb), Some(sb)) = (self.db_sockets.get(&DbKind::OvnNb), self.db_sockets.get(&DbKind::OvnSb)) else {
            return;
        };
        let (nb, sb) = (unix(nb), unix(sb));
        let br_int = self.mgmt_sockets.get("br-int");
        let ovs = br_int.map(|mgmt| format!(" --ovs={}", unix(mgmt))).unwrap_or_default();
        let _ = writeln!(s, "* OVN logical flows can be traced against the replica's Southbound database:");
        let _ = writeln!(s, "ovn-trace --db {sb}{ovs} [...] DATAPATH MICROFLOW");
        if let (Some(ctl), Some(db)) = (&self.vswitchd_ctl, self.db_sockets.get(&DbKind::Ovs)) {
            let w = quote::path(&self.workdir);
            let _ = writeln!(s, "* OpenFlow traces annotated with the logical flows behind each cookie:");
            let _ = writeln!(s, "ovs-offline -w {w} trace BRIDGE FLOW");
            let _ = writeln!(s, "or");
            let _ = writeln!(
                s,
                "ovs-appctl --target={} ofproto/trace BRIDGE FLOW | ovn-detrace --ovnnb={nb} --ovnsb={sb} --ovsdb={}",
                quote::path(ctl),
                unix(db)
            );
        }
        if let (Some(mgmt), true) = (br_int, self.installed.iter().any(|t| t == "ovs-flowviz")) {
            let _ = writeln!(s, "* The integration bridge's flows grouped by logical flow:");
            let _ = writeln!(
                s,
                "ovs-ofctl dump-flows {} | ovs-flowviz openflow logic --ovn-detrace --ovnnb-db {nb} --ovnsb-db {sb}",
                quote::path(mgmt)
            );
        }
        if self.installed.iter().any(|t| t == "ovn-debug") {
            let _ = writeln!(s, "* Logical flow stages and OpenFlow tables:");
            let _ = writeln!(s, "ovn-debug lflow-stage-to-oftable STAGE");
        }
    }
}

/// `unix:<socket>`, quoted as one shell word.
fn unix(socket: &Path) -> String {
    let mut address = std::ffi::OsString::from("unix:");
    address.push(socket);
    quote::path(Path::new(&address))
}

/// The latest generation of a daemon.
fn daemon<'a>(daemons: &'a [DaemonState], name: &str) -> Option<&'a DaemonState> {
    daemons.iter().filter(|d| d.name == name).max_by_key(|d| d.generation)
}

/// True while the daemon's process exists (a zombie is dead).
fn alive(d: &DaemonState) -> bool {
    d.exit.is_none() && process_exists(d.pid)
}

fn process_exists(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state letter follows the parenthesised command name.
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => false,
    }
}

/// `<bridge>.mgmt` sockets vswitchd created, by bridge name.
fn mgmt_sockets(dir: &Path) -> BTreeMap<String, PathBuf> {
    let entries = std::fs::read_dir(dir).into_iter().flatten().flatten();
    entries
        .filter_map(|e| {
            let name = e.file_name().to_str()?.strip_suffix(".mgmt")?.to_string();
            Some((name, e.path()))
        })
        .collect()
}

/// The state of a replica, for `status`.
#[derive(Debug, Serialize)]
pub struct Status {
    pub workdir: PathBuf,
    pub running: bool,
    /// A run is recorded but its supervisor is gone (killed, crashed, host
    /// rebooted): `stop` or `start` cleans up.
    pub stale: bool,
    pub supervisor_pid: Option<i32>,
    pub started_at: Option<String>,
    pub uptime_secs: Option<u64>,
    pub rootless: Option<bool>,
    pub daemons: Vec<DaemonStatus>,
    pub dbs: Vec<DbStatus>,
    pub bridges: Vec<BridgeStatus>,
    /// Daemons that exited on their own: restarts, last exit, given up.
    pub restarts: Vec<DaemonRestarts>,
    /// The latest flow replay: into which vswitchd, when, how it ended.
    pub replay: Option<ReplayRecord>,
    /// What that replay restored, per bridge.
    pub restore: Vec<BridgeRestore>,
    /// What is collected, with its provenance (`capture.json`).
    pub capture: Manifest,
    /// The `--ovs-root` the replica runs from (or, not running, the one the
    /// next start uses), with the versions its programs printed.
    pub ovs_root: Option<RootVersions>,
    /// Local, root's and source system's versions side by side.
    pub versions: Vec<VersionRow>,
    /// Where the running OVS/OVN is older than the source system's, or
    /// differs while another choice matches.
    pub version_warnings: Vec<String>,
}

/// Whether a daemon's process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProcessState {
    Running,
    /// Its exit is recorded.
    Exited,
    /// It ended without a recorded exit.
    Gone,
}

#[derive(Debug, Serialize)]
pub struct DaemonStatus {
    pub name: String,
    pub generation: u32,
    pub pid: i32,
    pub state: ProcessState,
    pub uptime_secs: Option<u64>,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub exited_at: Option<String>,
    pub log: PathBuf,
}

#[derive(Debug, Serialize)]
pub struct DbStatus {
    pub kind: DbKind,
    pub schema: String,
    pub collected_version: String,
    pub served_version: String,
    pub converted: bool,
    pub socket: PathBuf,
    pub changes: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct BridgeStatus {
    pub name: String,
    pub ports: usize,
}

impl Status {
    pub fn gather(workdir: &Workdir) -> Result<Status> {
        let State { run, settings } = workdir.load_state()?;
        let capture = Manifest::load(workdir)?;
        let running = workdir.exists() && workdir.is_running()?;
        let stale = !running && run.is_some();
        let run = run.filter(|_| running);
        // The running replica's root (with its versions), else the setting.
        let ovs_root = match run.as_ref() {
            Some(r) => r.ovs_root.clone(),
            None => settings.ovs_root.map(|dir| RootVersions { dir, ..Default::default() }),
        };
        let from_root = run.as_ref().is_some_and(|r| r.ovs_root.is_some());
        let versions = version_rows(&capture.source, ovs_root.as_ref());
        let bridges = if run.as_ref().is_some_and(|r| r.dbs.iter().any(|d| d.kind == DbKind::Ovs)) {
            bridge_ports(&workdir.db_socket(DbKind::Ovs))
        } else {
            Vec::new()
        };
        Ok(Status {
            workdir: workdir.root().to_path_buf(),
            running,
            stale,
            supervisor_pid: run.as_ref().and_then(|r| r.phase.supervisor_pid()),
            uptime_secs: run.as_ref().and_then(|r| uptime(&r.started_at)),
            started_at: run.as_ref().map(|r| r.started_at.clone()),
            rootless: run.as_ref().map(|r| r.rootless),
            daemons: run.as_ref().map(|r| r.daemons.iter().map(daemon_status).collect()).unwrap_or_default(),
            dbs: run.as_ref().map(|r| r.dbs.iter().map(db_status).collect()).unwrap_or_default(),
            bridges,
            restarts: run.as_ref().map(|r| r.restarts.clone()).unwrap_or_default(),
            replay: run.as_ref().and_then(|r| r.replay.clone()),
            restore: run.as_ref().map(|r| r.restore.clone()).unwrap_or_default(),
            version_warnings: version_warnings(&versions, from_root),
            versions,
            ovs_root,
            capture,
        })
    }

    pub fn text(&self, workdir: &Workdir) -> String {
        let mut s = String::new();
        let w = quote::path(&self.workdir);
        if self.stale {
            let _ = writeln!(
                s,
                "Replica in {w}: not running (its supervisor ended without stopping it; 'ovs-offline -w {w} stop' \
                 cleans up, 'ovs-offline -w {w} start' starts it again)"
            );
        } else if !self.running {
            let _ = writeln!(s, "Replica in {w}: not running");
        } else {
            let _ = writeln!(
                s,
                "Replica in {w}: running since {} (up {}), supervisor pid {}, {}",
                self.started_at.as_deref().unwrap_or("?"),
                duration(self.uptime_secs),
                self.supervisor_pid.unwrap_or_default(),
                if self.rootless == Some(true) { "rootless" } else { "as root" }
            );
        }
        if !self.daemons.is_empty() {
            let _ = writeln!(s, "Daemons:");
            for d in &self.daemons {
                let _ = writeln!(s, "  {:<20} pid {:<8} {}", d.name, d.pid, d.state_text());
            }
        }
        if !self.restarts.is_empty() {
            let _ = writeln!(s, "Restarts:");
            for r in &self.restarts {
                let _ = writeln!(s, "  {:<20} {}", r.name, restarts_text(r));
            }
        }
        if !self.dbs.is_empty() {
            let _ = writeln!(s, "Databases:");
            for db in &self.dbs {
                let mut conversion =
                    if db.converted { format!(" (converted from {})", db.collected_version) } else { String::new() };
                if self.capture.collected.get(&db.kind).is_some_and(|c| c.rebuilt) {
                    conversion.push_str(" REBUILT");
                }
                let _ = writeln!(
                    s,
                    "  {:<7} {} {}{}{conversion}  {}",
                    db.kind,
                    note(&db.schema),
                    note(&db.served_version),
                    obfuscated_mark(self.capture.collected.get(&db.kind)),
                    unix(&db.socket)
                );
            }
        }
        if !self.bridges.is_empty() {
            let _ = writeln!(s, "Bridges:");
            for b in &self.bridges {
                let _ = writeln!(s, "  {:<20} {} ports", quote::shell(&b.name), b.ports);
            }
        }
        if let Some(replay) = &self.replay {
            let _ = writeln!(s, "{}", replay_text(replay));
            let incomplete = self.capture.flows.as_ref().map(|f| f.incomplete.clone()).unwrap_or_default();
            for r in &self.restore {
                for line in restore_lines(workdir, r, &incomplete) {
                    let _ = writeln!(s, "  {line}");
                }
            }
        }
        let source = source_system_line(&self.capture.source);
        if !source.is_empty() {
            let _ = writeln!(s, "Source system: {source}");
        }
        s.push_str(&versions_text(&self.versions, self.ovs_root.as_ref(), &w));
        for warning in &self.version_warnings {
            let _ = writeln!(s, "warning: {warning}");
        }
        if !self.running && self.capture.is_empty() {
            let _ = writeln!(s, "Collected: nothing (collect with 'ovs-offline collect-db-ovs FILE' and friends)");
        } else if !self.running {
            let _ = writeln!(s, "Collected:");
            for (kind, c) in &self.capture.collected {
                let (schema, version) = (note(&c.schema), note(&c.version));
                let mark = obfuscated_mark(Some(c));
                let _ = writeln!(s, "  {kind:<7} {schema} {version}{mark} from {} ({})", c.source, c.collected_at);
                for n in &c.notes {
                    let _ = writeln!(s, "          {}", note(n));
                }
            }
            if let Some(flows) = &self.capture.flows {
                let _ =
                    writeln!(s, "  flows   {} files from {} ({})", flows.files.len(), flows.source, flows.collected_at);
                for file in &flows.files {
                    if let Provenance::ArchiveMember { member, .. } = &file.source {
                        let _ =
                            writeln!(s, "          {} from member {}", quote::path(&file.path), quote::shell(member));
                    }
                }
                for (bridge, missing) in &flows.incomplete {
                    let _ = writeln!(s, "  incomplete {}: {}", quote::shell(bridge), note(missing));
                }
            }
            for n in &self.capture.notes {
                let _ = writeln!(s, "  note: {}", note(n));
            }
        }
        s
    }
}

/// The versions table, and where the root is and how to forget it.
fn versions_text(rows: &[VersionRow], root: Option<&RootVersions>, w: &str) -> String {
    let mut s = String::new();
    let cell = |v: &Option<String>| v.as_deref().map(note).unwrap_or_else(|| "-".into());
    if root.is_some() {
        let _ = writeln!(s, "Versions:       local        --ovs-root   source system");
    } else {
        let _ = writeln!(s, "Versions:       local        source system");
    }
    for row in rows {
        let root_cell = if root.is_some() { format!("{:<12} ", cell(&row.root)) } else { String::new() };
        let _ = writeln!(s, "  {:<13} {:<12} {root_cell}{}", row.product, cell(&row.local), cell(&row.production));
    }
    if let Some(root) = root {
        let _ = writeln!(
            s,
            "--ovs-root: {} (the daemons run from it; forget it with 'ovs-offline -w {w} start --no-ovs-root')",
            quote::path(&root.dir)
        );
    }
    s
}

/// The source system in one line (`host h, OVS 3.5.0, OVN 25.03.0, sos
/// 4.12.0`); empty when nothing is known.
pub fn source_system_line(source: &SourceSystem) -> String {
    let fields = [
        ("host", &source.hostname),
        ("node", &source.node),
        ("OVS", &source.ovs_version),
        ("OVN", &source.ovn_version),
        ("sos", &source.sos_version),
    ];
    let parts: Vec<String> =
        fields.iter().filter_map(|(label, value)| value.as_deref().map(|v| format!("{label} {}", note(v)))).collect();
    parts.join(", ")
}

/// One product's versions side by side: the local programs', the
/// `--ovs-root`'s (when the replica runs from one) and the source system's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionRow {
    pub product: &'static str,
    pub local: Option<String>,
    pub root: Option<String>,
    pub production: Option<String>,
}

/// The OVS and OVN rows for a source system and, when the replica runs
/// from one, an `--ovs-root`.
pub fn version_rows(source: &SourceSystem, root: Option<&RootVersions>) -> Vec<VersionRow> {
    type Parse = fn(&str) -> Option<String>;
    let local = |tool: &str, parse: Parse| crate::tools::run(tool, ["--version"]).ok().and_then(|text| parse(&text));
    vec![
        VersionRow {
            product: "Open vSwitch",
            local: local("ovs-vswitchd", versions::ovs),
            root: root.and_then(|r| r.ovs.clone()),
            production: source.ovs_version.clone(),
        },
        VersionRow {
            product: "OVN",
            local: local("ovn-nbctl", versions::ovn),
            root: root.and_then(|r| r.ovn.clone()),
            production: source.ovn_version.clone(),
        },
    ]
}

/// One warning per product whose running version (the root's with
/// `from_root`, else the local one) is older than the source system's —
/// newer match fields or actions in its dumps may be refused, and traces
/// follow the older code — or differs from it while the other choice
/// matches; each says which start would avoid it.
pub fn version_warnings(rows: &[VersionRow], from_root: bool) -> Vec<String> {
    use std::cmp::Ordering::{Equal, Less};
    rows.iter()
        .filter_map(|row| {
            let theirs = row.production.as_deref()?;
            let (runs, whose) =
                if from_root { (row.root.as_deref()?, "--ovs-root's") } else { (row.local.as_deref()?, "local") };
            let order = compare_versions(runs, theirs);
            let other_matches = from_root && row.local.as_deref().is_some_and(|l| compare_versions(l, theirs) == Equal);
            let product = row.product;
            let (runs, theirs_q) = (note(runs), note(theirs));
            let avoid = match (from_root, other_matches) {
                (true, true) => format!("; the local {product} is {theirs_q}: 'start --no-ovs-root' runs it"),
                (true, false) => String::new(),
                (false, _) => format!(
                    "; to run {theirs_q}, make a root filesystem holding it and start with '--ovs-root DIR' (README: \
                     \"Running the production's OVS version\")"
                ),
            };
            match order {
                Less => Some(format!(
                    "the {whose} {product} {runs} is older than the source system's {theirs_q}: what only \
                     {theirs_q} knows may be refused when restored, and traces follow the {whose} code{avoid}"
                )),
                Equal => None,
                _ if other_matches => Some(format!(
                    "the {whose} {product} {runs} differs from the source system's {theirs_q}: traces follow \
                     {runs}'s code{avoid}"
                )),
                _ => None,
            }
        })
        .collect()
}

/// [`version_warnings`] of the local programs (what a collect says).
pub fn older_locally(source: &SourceSystem) -> Vec<String> {
    version_warnings(&version_rows(source, None), false)
}

/// A bridge's [`restore_summary`], marked when the capture knows its dumps
/// to be cut (`incomplete`: what is missing, by bridge), then what is missing.
pub fn restore_lines(workdir: &Workdir, r: &BridgeRestore, incomplete: &BTreeMap<String, String>) -> Vec<String> {
    let summary = restore_summary(workdir, r);
    match incomplete.get(&r.bridge) {
        Some(missing) => vec![
            format!("{summary} (INCOMPLETE capture: as much as the dumps hold)"),
            format!("  incomplete: {}", note(missing)),
        ],
        None => vec![summary],
    }
}

/// One line per bridge, e.g. `br-int: 42228/42228 flows, 12/12 groups,
/// 1/1 meters, TLV map 1 entry` (and `, 3/3 MAC table entries` when the
/// capture has a bridge's MAC learning table with entries); what OVS refused follows the count of its
/// kind, the first one naming the log: `2074/2152 flows (78 rejected, see
/// log/restore-errors.br-int.log), 0/4 groups (4 rejected)`.
pub fn restore_summary(workdir: &Workdir, r: &BridgeRestore) -> String {
    let bridge = quote::shell(&r.bridge);
    if let Some(refused) = &r.refused {
        return format!("{bridge}: not restored: {}", note(refused));
    }
    if let Some(error) = &r.error {
        return format!("{bridge}: not restored: {}", note(error));
    }
    let mut log = r.errors_log.as_ref().map(|log| log.strip_prefix(workdir.root()).unwrap_or(log));
    let mut counts = Vec::new();
    // An empty table (a bridge that learned nothing) is in `status --json` only.
    let fdb = r.fdb.as_ref().filter(|count| count.expected > 0).map(|count| (count, "MAC table entries"));
    for (count, kind) in [(&r.flows, "flows"), (&r.groups, "groups"), (&r.meters, "meters")].into_iter().chain(fdb) {
        let mut text = format!("{}/{} {kind}", count.restored, count.expected);
        if count.rejected > 0 {
            match log.take() {
                Some(shown) => text.push_str(&format!(" ({} rejected, see {})", count.rejected, quote::path(shown))),
                None => text.push_str(&format!(" ({} rejected)", count.rejected)),
            }
        }
        counts.push(text);
    }
    // A restore recorded before the counts by kind: its total, as it was shown.
    if let (Some(shown), Some(flows)) = (log, counts.first_mut()) {
        flows.push_str(&format!(" ({} rejected, see {})", r.rejected, quote::path(shown)));
    }
    let mut line = format!("{bridge}: {}", counts.join(", "));
    match r.tlv_entries {
        0 => {}
        1 => line.push_str(", TLV map 1 entry"),
        n => line.push_str(&format!(", TLV map {n} entries")),
    }
    if !r.placeholder_meters.is_empty() {
        let ids: Vec<String> = r.placeholder_meters.iter().map(u32::to_string).collect();
        line.push_str(&format!(
            "; placeholder meters {} (missing from the capture, they drop nothing)",
            ids.join(", ")
        ));
    }
    if !r.placeholder_groups.is_empty() {
        let ids: Vec<String> = r.placeholder_groups.iter().map(u32::to_string).collect();
        let ids = ids.join(", ");
        line.push_str(&match r.placeholder_groups.len() {
            1 => format!("; 1 placeholder group for missing group {ids} (empty: packets sent to it are dropped)"),
            n => format!("; {n} placeholder groups for missing groups {ids} (empty: packets sent to them are dropped)"),
        });
    }
    line
}

/// " OBFUSCATED" after a database whose edited records were re-hashed
/// (`sos clean`): its addresses are not production's.
fn obfuscated_mark(db: Option<&CollectedDb>) -> &'static str {
    if db.is_some_and(|db| db.obfuscated.is_some()) {
        " OBFUSCATED"
    } else {
        ""
    }
}

/// "restarted 2 times; last exit: killed by signal 9 at …", or why it was
/// left stopped.
fn restarts_text(r: &DaemonRestarts) -> String {
    let times = if r.restarts == 1 { "time" } else { "times" };
    let done = match &r.given_up {
        Some(why) => format!("left stopped after {} restarts ({why})", r.restarts),
        None if r.restarts == 0 => "not restarted".into(),
        None => format!("restarted {} {times}", r.restarts),
    };
    format!("{done}; last exit: {}", exit_text(&r.last_exit))
}

/// "killed by signal 9 at …", "exited with code 1 at …".
fn exit_text(exit: &DaemonExit) -> String {
    match exit.how {
        Exit::Code(code) => format!("exited with code {code} at {}", exit.at),
        Exit::Signal(signal) => format!("killed by signal {signal} at {}", exit.at),
    }
}

/// The heading of the restore lines in `status`.
fn replay_text(replay: &ReplayRecord) -> String {
    let into = match replay.vswitchd_generation {
        0 => "at start".to_string(),
        n => format!("after ovs-vswitchd restart {n}"),
    };
    match &replay.outcome {
        ReplayOutcome::Running => format!("OpenFlow state: being restored {into} (since {})", replay.started_at),
        ReplayOutcome::Finished { finished_at, notes } => {
            let mut text = format!("OpenFlow state restored {into} (finished {finished_at}):");
            for note in notes {
                text.push_str(&format!("\n  note: {note}"));
            }
            text
        }
        ReplayOutcome::Failed { finished_at, error } => {
            format!("OpenFlow state not restored {into} ({finished_at}): {error}")
        }
        ReplayOutcome::Interrupted { finished_at } => {
            format!("OpenFlow state: restore {into} interrupted at {finished_at}; not every flow is loaded")
        }
    }
}

impl DaemonStatus {
    /// "running, up 5m", "killed by signal 9 at …".
    fn state_text(&self) -> String {
        let at = self.exited_at.as_deref().unwrap_or("?");
        match (self.state, self.exit_code, self.signal) {
            (ProcessState::Running, ..) => format!("running, up {}", duration(self.uptime_secs)),
            (ProcessState::Exited, Some(code), _) => format!("exited with code {code} at {at}"),
            (ProcessState::Exited, _, Some(signal)) => format!("killed by signal {signal} at {at}"),
            (ProcessState::Exited, None, None) => "exited".into(),
            (ProcessState::Gone, ..) => "gone (its exit was not recorded)".into(),
        }
    }
}

fn daemon_status(d: &DaemonState) -> DaemonStatus {
    let state = match (&d.exit, alive(d)) {
        (Some(_), _) => ProcessState::Exited,
        (None, true) => ProcessState::Running,
        (None, false) => ProcessState::Gone,
    };
    let how = d.exit.as_ref().map(|e| e.how);
    DaemonStatus {
        name: d.name.clone(),
        generation: d.generation,
        pid: d.pid,
        state,
        uptime_secs: if state == ProcessState::Running { uptime(&d.started_at) } else { None },
        exit_code: how.and_then(Exit::code),
        signal: how.and_then(Exit::signal),
        exited_at: d.exit.as_ref().map(|e| e.at.clone()),
        log: d.log.clone(),
    }
}

fn db_status(db: &PreparedDb) -> DbStatus {
    DbStatus {
        kind: db.kind,
        schema: db.schema.clone(),
        collected_version: db.collected_version.clone(),
        served_version: db.served_version.clone(),
        converted: db.converted(),
        socket: db.socket.clone(),
        changes: db.changes.clone(),
    }
}

fn bridge_ports(socket: &Path) -> Vec<BridgeStatus> {
    let bridges = crate::ovsdb::bridges::bridges(socket).unwrap_or_default();
    bridges.into_iter().map(|b| BridgeStatus { name: b.name, ports: b.ports }).collect()
}

fn uptime(since: &str) -> Option<u64> {
    let start = humantime::parse_rfc3339(since).ok()?;
    SystemTime::now().duration_since(start).ok().map(|d| d.as_secs())
}

fn duration(secs: Option<u64>) -> String {
    secs.map(|s| humantime::format_duration(Duration::from_secs(s)).to_string()).unwrap_or_else(|| "?".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::report::Count;

    fn row(local: &str, root: &str, production: &str) -> VersionRow {
        let v = |s: &str| (!s.is_empty()).then(|| s.to_string());
        VersionRow { product: "Open vSwitch", local: v(local), root: v(root), production: v(production) }
    }

    #[test]
    fn version_warnings_name_the_start_that_avoids_the_mismatch() {
        let local_older = version_warnings(&[row("3.1.0", "", "3.5.0")], false);
        assert_eq!(local_older.len(), 1);
        assert!(local_older[0].starts_with("the local Open vSwitch 3.1.0 is older than the source system's 3.5.0"));
        assert!(local_older[0].contains("'--ovs-root DIR'"), "{local_older:?}");
        assert!(version_warnings(&[row("3.1.0", "3.5.0", "3.5.0")], true).is_empty(), "the root matches");
        assert!(version_warnings(&[row("3.5.0", "", "3.5.0")], false).is_empty(), "local matches");
        let root_older = version_warnings(&[row("3.5.0", "3.1.0", "3.5.0")], true);
        assert!(root_older[0].starts_with("the --ovs-root's Open vSwitch 3.1.0 is older"), "{root_older:?}");
        assert!(root_older[0].ends_with("'start --no-ovs-root' runs it"), "{root_older:?}");
        let root_newer = version_warnings(&[row("3.1.0", "3.5.0", "3.1.0")], true);
        assert!(root_newer[0].contains("3.5.0 differs from the source system's 3.1.0"), "{root_newer:?}");
        assert!(version_warnings(&[row("3.1.0", "3.6.0", "3.5.0")], true).is_empty(), "nothing better to offer");
        assert!(version_warnings(&[row("3.1.0", "", "")], false).is_empty(), "production unknown");
    }

    fn restore(flows: Count, groups: Count, rejected: usize) -> BridgeRestore {
        BridgeRestore {
            bridge: "br-int".into(),
            flows,
            groups,
            meters: Count { expected: 1, restored: 1, rejected: 0 },
            tlv_entries: 1,
            rejected,
            errors_log: Some("/nonexistent/work/log/restore-errors.br-int.log".into()),
            ..Default::default()
        }
    }

    /// Refused groups were counted with the flows (`2074/2152 flows (82
    /// rejected` when 78 flows and 4 groups were refused).
    #[test]
    fn rejected_lines_are_counted_by_kind() {
        let workdir = Workdir::new(Path::new("/nonexistent/work")).unwrap();
        let flows = Count { expected: 2152, restored: 2074, rejected: 78 };
        let groups = Count { expected: 4, restored: 0, rejected: 4 };
        assert_eq!(
            restore_summary(&workdir, &restore(flows, groups, 82)),
            "br-int: 2074/2152 flows (78 rejected, see log/restore-errors.br-int.log), 0/4 groups (4 rejected), \
             1/1 meters, TLV map 1 entry"
        );
        let flows = Count { expected: 5, restored: 5, rejected: 0 };
        assert_eq!(
            restore_summary(&workdir, &restore(flows, groups, 4)),
            "br-int: 5/5 flows, 0/4 groups (4 rejected, see log/restore-errors.br-int.log), 1/1 meters, TLV map 1 entry"
        );
    }

    #[test]
    fn mac_table_entries_follow_the_meters() {
        let workdir = Workdir::new(Path::new("/nonexistent/work")).unwrap();
        let flows = Count { expected: 1, restored: 1, rejected: 0 };
        let mut r = restore(flows, Count::default(), 1);
        r.fdb = Some(Count { expected: 3, restored: 2, rejected: 1 });
        assert_eq!(
            restore_summary(&workdir, &r),
            "br-int: 1/1 flows, 0/0 groups, 1/1 meters, 2/3 MAC table entries (1 rejected, see \
             log/restore-errors.br-int.log), TLV map 1 entry"
        );
    }
}
