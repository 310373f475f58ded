//! Reading a live OVS/OVN node through read-only commands ([`read_node`]):
//! each command's stdout is streamed straight into the [`CaptureWriter`],
//! which validates and hashes it on the way; nothing is written on the
//! node. Where the commands run is a [`Transport`]: this host ([`Local`],
//! for `collect-local`) or a pod's container ([`KubectlExec`], for
//! `collect-k8s`). The commands, all of them (the README lists them too):
//!
//! - `ovsdb-client backup unix:<ovs rundir>/db.sock Open_vSwitch`
//! - `ovs-vsctl --db=unix:<ovs rundir>/db.sock --timeout=30 --format=json
//!   --columns=name,protocols list Bridge -- --columns=ovs_version,external_ids
//!   list Open_vSwitch`
//! - per bridge, in its highest OpenFlow version (the last of its
//!   `protocols`; without any, the first of 1.5, 1.4, 1.3, 1.0 its
//!   `dump-tlv-map` accepts): `ovs-ofctl -O <version> dump-tlv-map`,
//!   `dump-groups`, `dump-meters` (1.3 and later), `dump-flows --no-stats
//!   --no-names`, then `dump-aggregate`, on `unix:<ovs rundir>/<bridge>.mgmt`
//! - `cat <ovs rundir>/ovs-vswitchd.pid`, then per bridge `ovs-appctl -t
//!   <ovs rundir>/ovs-vswitchd.<pid>.ctl fdb/show <bridge>` (its MAC
//!   learning table; a failure is a note, the rest is collected), and
//!   `ovs-appctl -t <same socket> dpctl/show` (the production datapath's
//!   port numbers, kept as sos's are: a failure is a note)
//! - `ovsdb-client --no-leader-only backup unix:<socket> OVN_Northbound`
//!   (`OVN_Southbound`)
//! - `ovs-vswitchd --version` (when the database has no `ovs_version`),
//!   `ovn-nbctl --version` (`ovn-sbctl`): facts for the report, their
//!   failure fails nothing
//!
//! A stream that breaks is an error, never a short dump: the command must
//! exit 0 (`kubectl exec` passes the remote exit status on), its output
//! must end with a complete line, a database backup must hold its two
//! records (schema and data), and the flows streamed from a bridge must be
//! as many as `dump-aggregate` counts right after (a bridge whose flows
//! change meanwhile is dumped once more; a second mismatch is an error).
//! Commands are exec'd as argument vectors, never through a shell.

pub mod transport;

pub use transport::{Kubectl, KubectlExec, Local, Transport};

use super::flows::{summarise, BridgeSummary};
use super::CollectError;
use crate::capture::flows as captured;
use crate::capture::writer::{CaptureError, CaptureWriter};
use crate::capture::{DbKind, SourceSystem};
use crate::ofp_text::sos_names::sos_mangled_bridge;
use crate::ofp_text::{flows, valid_bridge_name, versions, DumpStats, OfVersion};
use crate::ovsdb::client::{map_value, set_elements};
use crate::quote;
use crate::tools::ToolError;
use crate::trace::ports::parse_dpctl_show;
use crate::workdir::Workdir;
use serde::Serialize;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use transport::{stream, text, words};

/// Where OVS keeps its sockets, in its container or on a host.
pub const OVS_RUNDIR: &str = "/var/run/openvswitch";

/// OVN's database sockets and control sockets, in their containers or on
/// a host (`/var/run/ovn`, which ovn-kubernetes and OpenShift keep too).
pub fn ovn_socket(kind: DbKind) -> &'static str {
    match kind {
        DbKind::OvnSb => "/var/run/ovn/ovnsb_db.sock",
        _ => "/var/run/ovn/ovnnb_db.sock",
    }
}

/// The control socket of the ovsdb-server serving `kind` (for
/// `cluster/status`).
pub fn ovn_ctl(kind: DbKind) -> &'static str {
    match kind {
        DbKind::OvnSb => "/var/run/ovn/ovnsb_db.ctl",
        _ => "/var/run/ovn/ovnnb_db.ctl",
    }
}

/// How long the small queries (`ovs-vsctl`, `dump-aggregate`) may wait.
const QUERY_TIMEOUT: &str = "--timeout=30";

/// The versions tried, best first, on a bridge without `protocols`.
const TRIED_VERSIONS: [OfVersion; 4] =
    [OfVersion::OpenFlow15, OfVersion::OpenFlow14, OfVersion::OpenFlow13, OfVersion::OpenFlow10];

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(transparent)]
    Tool(#[from] ToolError),
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error(transparent)]
    Collect(#[from] Box<CollectError>),
    #[error("no command given")]
    EmptyCommand,
    #[error("cannot run {command} in {place}")]
    Spawn {
        place: String,
        command: String,
        #[source]
        source: io::Error,
    },
    #[error("{command} failed in {place} ({status}): {stderr}; nothing collected")]
    Failed { place: String, command: String, status: String, stderr: String },
    #[error("the cluster refused {command} in {place}: {stderr}; collect-k8s needs 'get' on nodes, 'list' on pods and 'create' on pods/exec (ask the cluster admin, or use another --context)")]
    Forbidden { place: String, command: String, stderr: String },
    #[error("cannot read the output of {command} in {place}")]
    Read {
        place: String,
        command: String,
        #[source]
        source: io::Error,
    },
    #[error("{command} in {place} printed nothing for {secs} s and was stopped; nothing collected (is the node or the API server reachable? --idle-timeout allows more)")]
    Hung { place: String, command: String, secs: u64 },
    #[error("the output of {command} in {place} is cut short ({why}); nothing collected (run the collect again)")]
    Incomplete { place: String, command: String, why: String },
    #[error("{command} in {place} printed what is not {expected}: {got}")]
    Unexpected { place: String, command: String, expected: &'static str, got: String },
    #[error("cannot read the staged copy {}", quote::path(path))]
    Staged {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("bridge {} has no OpenFlow management socket: {stderr}", quote::shell(bridge))]
    Unreachable { bridge: String, stderr: String },
    #[error("no OpenFlow version reaches bridge {bridge} in {place}: {stderr}")]
    NoVersion { place: String, bridge: String, stderr: String },
}

impl From<io::Error> for LiveError {
    fn from(source: io::Error) -> Self {
        LiveError::Read { place: String::new(), command: String::new(), source }
    }
}

impl LiveError {
    /// The error of a command that exited non-zero; a refusal by the
    /// cluster's RBAC is named as such.
    fn failed(place: &str, argv: &[&str], status: std::process::ExitStatus, stderr: &str) -> LiveError {
        let (place, command) = (place.to_string(), words(argv));
        let lines: Vec<&str> = stderr.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        if let Some(line) = lines.iter().find(|l| l.contains("(Forbidden)") || l.contains(" is forbidden: ")) {
            return LiveError::Forbidden { place, command, stderr: quote::note(line) };
        }
        let stderr = quote::note(&lines.join(" / "));
        let status = status.code().map_or_else(|| status.to_string(), |code| format!("exit status {code}"));
        LiveError::Failed { place, command, status, stderr }
    }

    /// Names the command of a read error that does not name one yet.
    fn read_by(self, place: &str, argv: &[&str]) -> LiveError {
        match self {
            LiveError::Read { command, source, .. } if command.is_empty() => {
                LiveError::Read { place: place.to_string(), command: words(argv), source }
            }
            other => other,
        }
    }

    /// True when the command could not talk OpenFlow `-O` to the bridge.
    fn is_version_refused(&self) -> bool {
        matches!(self, LiveError::Failed { stderr, .. } if stderr.contains("version negotiation failed"))
    }
}

/// Where OVS runs: a transport to a place that has its run directory.
pub struct OvsSource<'t> {
    pub transport: &'t dyn Transport,
    pub rundir: String,
}

/// Where one OVN database is served, and what the collector knows about
/// that server (e.g. that it is a follower of a cluster).
pub struct OvnSource<'t> {
    pub transport: &'t dyn Transport,
    pub socket: String,
    pub notes: Vec<String>,
}

/// What to read from a node; any part may be absent.
#[derive(Default)]
pub struct NodeSources<'t> {
    pub ovs: Option<OvsSource<'t>>,
    pub nb: Option<OvnSource<'t>>,
    pub sb: Option<OvnSource<'t>>,
}

/// What [`read_node`] staged, for the user.
#[derive(Debug, Default, Serialize)]
pub struct NodeSummary {
    /// One line per database: what it is and where it came from.
    pub items: Vec<String>,
    pub bridges: Vec<BridgeSummary>,
    pub notes: Vec<String>,
    pub source: SourceSystem,
}

/// Reads `sources` into `capture` (not committed: the caller adds its own
/// notes first).
pub fn read_node(sources: &NodeSources<'_>, capture: &mut CaptureWriter<'_>) -> Result<NodeSummary, LiveError> {
    let mut summary = NodeSummary::default();
    if let Some(ovs) = &sources.ovs {
        read_ovs(ovs, capture, &mut summary)?;
    }
    for (kind, source) in [(DbKind::OvnNb, &sources.nb), (DbKind::OvnSb, &sources.sb)] {
        if let Some(source) = source {
            read_ovn(kind, source, capture, &mut summary)?;
        }
    }
    for note in &summary.notes {
        capture.note(note.clone());
    }
    capture.source_system(summary.source.clone());
    Ok(summary)
}

/// Where a host's own OVS and OVN keep their sockets (`collect-local`);
/// `None` skips that part.
#[derive(Debug, Clone)]
pub struct LocalSockets {
    /// OVS's run directory (`db.sock`, `<bridge>.mgmt`).
    pub ovs_rundir: Option<String>,
    pub nb: Option<String>,
    pub sb: Option<String>,
}

/// Reads this host's OVS and OVN through their sockets into `workdir`
/// (the collecting half of `collect-local`).
pub fn collect_local(workdir: &Workdir, sockets: &LocalSockets, force: bool) -> Result<NodeSummary, LiveError> {
    let local = Local::new();
    let ovn = |socket: &Option<String>| {
        socket.as_ref().map(|s| OvnSource { transport: &local, socket: s.clone(), notes: Vec::new() })
    };
    let sources = NodeSources {
        ovs: sockets.ovs_rundir.as_ref().map(|r| OvsSource { transport: &local, rundir: r.clone() }),
        nb: ovn(&sockets.nb),
        sb: ovn(&sockets.sb),
    };
    let mut capture = CaptureWriter::begin(workdir, force)?;
    let mut summary = read_node(&sources, &mut capture)?;
    if summary.source.hostname.is_none() {
        summary.source.hostname = Some(local.host.clone());
        capture.source_system(summary.source.clone());
    }
    capture.commit()?;
    Ok(summary)
}

/// Remembers the end of what was read through it: a complete text ends
/// with a newline.
struct Ending<R> {
    inner: R,
    lines: u64,
    last: Option<u8>,
}

impl<R: Read> Read for Ending<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.lines += buf[..n].iter().filter(|b| **b == b'\n').count() as u64;
        if n > 0 {
            self.last = Some(buf[n - 1]);
        }
        Ok(n)
    }
}

impl<R> Ending<R> {
    fn new(inner: R) -> Self {
        Ending { inner, lines: 0, last: None }
    }

    /// Why the text is not complete, if it is not.
    fn cut(&self) -> Option<String> {
        (self.last.is_some_and(|b| b != b'\n')).then(|| "it ends inside a line".to_string())
    }
}

/// Streams one database backup into the capture; checks it is whole.
fn backup(
    kind: DbKind,
    transport: &dyn Transport,
    argv: &[&str],
    name: &str,
    capture: &mut CaptureWriter<'_>,
) -> Result<String, LiveError> {
    let origin = transport.provenance(argv);
    let (db, lines, cut) = stream(transport, argv, |out| {
        let mut ending = Ending::new(out);
        let db = capture.stage_db(kind, &mut ending, name, origin.clone())?;
        Ok::<_, CaptureError>((db, ending.lines, ending.cut()))
    })?;
    // `ovsdb-client backup` writes a header and a body for the schema, then
    // for all the data: four lines.
    let why = cut.or_else(|| (lines < 4).then(|| format!("{lines} lines, a backup has 4")));
    if let Some(why) = why {
        return Err(LiveError::Incomplete { place: transport.place(), command: words(argv), why });
    }
    let layout = if db.clustered { "clustered" } else { "standalone" };
    Ok(format!("{} {} ({layout}) from {}", quote::note(&db.schema), quote::note(&db.version), db.source))
}

/// The OVS database, its bridges' OpenFlow state and its version.
fn read_ovs(ovs: &OvsSource<'_>, capture: &mut CaptureWriter<'_>, summary: &mut NodeSummary) -> Result<(), LiveError> {
    let t = ovs.transport;
    let db = format!("unix:{}/db.sock", ovs.rundir);
    let item =
        backup(DbKind::Ovs, t, &["ovsdb-client", "backup", &db, "Open_vSwitch"], DbKind::Ovs.file_name(), capture)?;
    summary.items.push(item);
    let db_arg = format!("--db={db}");
    let list = [
        "ovs-vsctl",
        &db_arg,
        QUERY_TIMEOUT,
        "--format=json",
        "--columns=name,protocols",
        "list",
        "Bridge",
        "--",
        "--columns=ovs_version,external_ids",
        "list",
        "Open_vSwitch",
    ];
    let listed = text(t, &list)?;
    let (bridges, system) = parse_vsctl_lists(&listed).map_err(|got| LiveError::Unexpected {
        place: t.place(),
        command: words(&list),
        expected: "JSON tables",
        got,
    })?;
    summary.source.merge(system);
    if summary.source.ovs_version.is_none() {
        // Only a fact for the report: a container without the program
        // fails nothing.
        summary.source.ovs_version = text(t, &["ovs-vswitchd", "--version"]).ok().and_then(|v| versions::ovs(&v));
    }
    capture.begin_flows(t.provenance(&list))?;
    let ctl = vswitchd_ctl(t, &ovs.rundir)
        .inspect_err(|why| {
            summary.notes.push(format!("MAC learning tables and datapath port numbers not collected: {why}"))
        })
        .ok();
    if let Some(ctl) = &ctl {
        read_datapath_ports(t, ctl, summary);
    }
    let mut names = Vec::new();
    for ListedBridge { name: bridge, protocols } in bridges {
        if !valid_bridge_name(&bridge) {
            summary
                .notes
                .push(format!("bridge {} has a name ovs-offline does not use; not dumped", quote::shell(&bridge)));
            continue;
        }
        match dump_bridge(t, &ovs.rundir, &bridge, &protocols, capture) {
            Ok(()) => {
                if let Some(ctl) = &ctl {
                    stage_fdb(t, ctl, &bridge, capture, &mut summary.notes)?;
                }
                names.push(bridge)
            }
            Err(e @ LiveError::Unreachable { .. }) => {
                let note = format!("{e} (ovs-vswitchd does not run it); no OpenFlow state collected for it");
                capture.flows_incomplete(&bridge, &note);
                summary.notes.push(note);
            }
            Err(e) => return Err(e),
        }
    }
    let plan = captured::discover(&capture.staged_flows_dir(), &names)
        .map_err(|source| Box::new(CollectError::Flows { path: PathBuf::from(&ovs.rundir), source }))?;
    for dumps in plan.bridges.values() {
        summary.bridges.push(summarise(dumps).map_err(Box::new)?);
    }
    Ok(())
}

/// ovs-vswitchd's control socket, `<rundir>/ovs-vswitchd.<pid>.ctl`, from
/// its pidfile; `Err` says why it is not known.
fn vswitchd_ctl(t: &dyn Transport, rundir: &str) -> Result<String, String> {
    let pidfile = format!("{rundir}/ovs-vswitchd.pid");
    let argv = ["cat", pidfile.as_str()];
    let answer = text(t, &argv).map_err(|e| e.to_string())?;
    let pid = answer.trim();
    if pid.is_empty() || pid.len() > 10 || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{} in {} holds no pid: {}", words(&argv), t.place(), quote::note(pid)));
    }
    Ok(format!("{rundir}/ovs-vswitchd.{pid}.ctl"))
}

/// The production datapath's port numbers by port name (`dpctl/show`),
/// into the source system as an sos report's are; a failure is a note.
fn read_datapath_ports(t: &dyn Transport, ctl: &str, summary: &mut NodeSummary) {
    let argv = ["ovs-appctl", "-t", ctl, "dpctl/show"];
    let datapath_ports = match text(t, &argv) {
        Ok(shown) => parse_dpctl_show(&shown),
        Err(e) => {
            summary.notes.push(format!("datapath port numbers not collected: {e}"));
            return;
        }
    };
    if datapath_ports.is_empty() {
        summary.notes.push(format!(
            "datapath port numbers not collected: {} in {} lists no port",
            words(&argv),
            t.place()
        ));
        return;
    }
    summary.source.merge(SourceSystem { datapath_ports, ..SourceSystem::default() });
}

/// Stages the MAC learning table of `bridge` as sos names it
/// (`ovs-appctl_fdb.show_<br>`); a table that cannot be read is a note.
fn stage_fdb(
    t: &dyn Transport,
    ctl: &str,
    bridge: &str,
    capture: &mut CaptureWriter<'_>,
    notes: &mut Vec<String>,
) -> Result<(), LiveError> {
    let argv = ["ovs-appctl", "-t", ctl, "fdb/show", bridge];
    match stage_dump(t, &argv, &format!("ovs-appctl_fdb.show_{}", sos_mangled_bridge(bridge)), capture) {
        Ok(()) => Ok(()),
        Err(e @ (LiveError::Capture(_) | LiveError::Collect(_) | LiveError::Staged { .. })) => Err(e),
        Err(e) => {
            notes.push(format!("MAC learning table of {} not collected: {e}", quote::shell(bridge)));
            Ok(())
        }
    }
}

/// A bridge as `ovs-vsctl list Bridge` shows it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ListedBridge {
    name: String,
    /// Its `protocols` column (empty: ovs-vswitchd's default versions).
    protocols: Vec<String>,
}

/// The bridges and what the Open_vSwitch row says, from the two JSON
/// tables `ovs-vsctl --format=json list` prints; `Err` quotes what was not
/// understood.
pub(crate) fn parse_vsctl_lists(text: &str) -> Result<(Vec<ListedBridge>, SourceSystem), String> {
    let unexpected = || quote::note(text.lines().next().unwrap_or_default());
    let mut tables = serde_json::Deserializer::from_str(text).into_iter::<serde_json::Value>();
    let mut rows = || -> Result<Vec<serde_json::Value>, String> {
        let table = tables.next().and_then(Result::ok).ok_or_else(unexpected)?;
        table["data"].as_array().cloned().ok_or_else(unexpected)
    };
    let mut bridges = Vec::new();
    for row in rows()? {
        let name = row[0].as_str().ok_or_else(unexpected)?.to_string();
        let protocols = set_elements(&row[1]).iter().filter_map(|p| p.as_str().map(String::from)).collect();
        bridges.push(ListedBridge { name, protocols });
    }
    // In name order, whatever order the database keeps them in.
    bridges.sort_by(|a, b| a.name.cmp(&b.name));
    let mut system = SourceSystem::default();
    if let Some(row) = rows()?.first() {
        system.ovs_version =
            set_elements(&row[0]).first().and_then(|v| v.as_str()).filter(|v| !v.is_empty()).map(quote::note);
        system.hostname = map_value(&row[1], "hostname").map(quote::note);
    }
    Ok((bridges, system))
}

/// Dumps one bridge's TLV map, groups, meters and flows.
fn dump_bridge(
    t: &dyn Transport,
    rundir: &str,
    bridge: &str,
    protocols: &[String],
    capture: &mut CaptureWriter<'_>,
) -> Result<(), LiveError> {
    let mgmt = format!("unix:{rundir}/{bridge}.mgmt");
    let version = bridge_version(t, &mgmt, bridge, protocols, capture)?;
    let v = version.as_str();
    stage_dump(t, &["ovs-ofctl", "-O", v, "dump-groups", &mgmt], &dump_name(v, "dump-groups", bridge), capture)?;
    if version >= OfVersion::OpenFlow13 {
        stage_dump(t, &["ovs-ofctl", "-O", v, "dump-meters", &mgmt], &dump_name(v, "dump-meters", bridge), capture)?;
    }
    let dump = ["ovs-ofctl", "-O", v, "dump-flows", "--no-stats", "--no-names", &mgmt];
    let aggregate = ["ovs-ofctl", "-O", v, QUERY_TIMEOUT, "dump-aggregate", &mgmt];
    let name = dump_name(v, "dump-flows", bridge);
    let mut attempt = 0;
    loop {
        attempt += 1;
        stage_dump(t, &dump, &name, capture)?;
        let stats = count_flows(&capture.staged_flows_dir().join(&name))?;
        if stats.decode_errors > 0 {
            // ovs-ofctl could not decode some replies: their flows are
            // missing, whatever the count says.
            let note = format!(
                "{}: ovs-ofctl could not decode {} replies of {}: flows are missing",
                quote::shell(bridge),
                stats.decode_errors,
                words(&dump)
            );
            capture.flows_incomplete(bridge, &note);
            return Ok(());
        }
        let dumped = stats.written;
        let answer = text(t, &aggregate)?;
        let counted = flow_count(&answer).ok_or_else(|| LiveError::Unexpected {
            place: t.place(),
            command: words(&aggregate),
            expected: "an aggregate flow_count",
            got: quote::note(answer.trim()),
        })?;
        if dumped == counted {
            return Ok(());
        }
        if attempt == 2 {
            let why = format!(
                "{dumped} flows streamed, {counted} counted by dump-aggregate right after, twice: the stream was cut or {} changes too fast",
                quote::shell(bridge)
            );
            return Err(LiveError::Incomplete { place: t.place(), command: words(&dump), why });
        }
        capture.discard_flow_file(Path::new(&name))?;
    }
}

/// The version to dump `bridge` with; stages its TLV map on the way (the
/// first command that talks to the bridge). `Err(Unreachable)` when the
/// bridge has no management socket (ovs-vswitchd does not run it).
fn bridge_version(
    t: &dyn Transport,
    mgmt: &str,
    bridge: &str,
    protocols: &[String],
    capture: &mut CaptureWriter<'_>,
) -> Result<OfVersion, LiveError> {
    let listed: Option<OfVersion> = protocols.iter().filter_map(|p| p.parse().ok()).max();
    let candidates: Vec<OfVersion> = listed.map_or_else(|| TRIED_VERSIONS.to_vec(), |v| vec![v]);
    let mut refusal = None;
    for version in candidates {
        let v = version.as_str();
        match stage_dump(
            t,
            &["ovs-ofctl", "-O", v, "dump-tlv-map", mgmt],
            &dump_name(v, "dump-tlv-map", bridge),
            capture,
        ) {
            Ok(()) => return Ok(version),
            Err(e) if e.is_version_refused() => refusal = Some(e),
            Err(LiveError::Failed { stderr, .. }) if is_unreachable(&stderr) => {
                return Err(LiveError::Unreachable { bridge: bridge.to_string(), stderr });
            }
            Err(e) => return Err(e),
        }
    }
    let stderr = match refusal {
        Some(LiveError::Failed { stderr, .. }) => stderr,
        _ => String::new(),
    };
    Err(LiveError::NoVersion { place: t.place(), bridge: quote::shell(bridge), stderr })
}

/// What `ovs-ofctl` says when the bridge's management socket is missing
/// or nobody listens on it.
fn is_unreachable(stderr: &str) -> bool {
    stderr.contains("(No such file or directory)") || stderr.contains("(Connection refused)")
}

/// `ovs-ofctl_-O_OpenFlow15_dump-flows_br-int`: the name sos gives the
/// dump, which flow replay reads.
fn dump_name(version: &str, command: &str, bridge: &str) -> String {
    format!("ovs-ofctl_-O_{version}_{command}_{}", sos_mangled_bridge(bridge))
}

/// Streams one dump into the staged `restore_flows/` as `name`.
fn stage_dump(t: &dyn Transport, argv: &[&str], name: &str, capture: &mut CaptureWriter<'_>) -> Result<(), LiveError> {
    let origin = t.provenance(argv);
    let mut staged = false;
    let streamed = stream(t, argv, |out| {
        let mut ending = Ending::new(out);
        capture.stage_flow_file(Path::new(name), &mut ending, origin.clone())?;
        staged = true;
        Ok::<_, CaptureError>(ending.cut())
    });
    let cut = match streamed {
        Ok(cut) => cut,
        Err(e) => {
            // What a failed command printed is no dump (a retry with
            // another version must not find it).
            if staged {
                capture.discard_flow_file(Path::new(name))?;
            }
            return Err(e);
        }
    };
    match cut {
        Some(why) => Err(LiveError::Incomplete { place: t.place(), command: words(argv), why }),
        None => Ok(()),
    }
}

/// What flow replay reads of a staged dump.
fn count_flows(path: &Path) -> Result<DumpStats, LiveError> {
    let read = |source| LiveError::Staged { path: path.to_path_buf(), source };
    let file = File::open(path).map_err(read)?;
    flows::normalise_flows(BufReader::new(file), io::sink()).map_err(read)
}

/// `flow_count=N` of a `dump-aggregate` answer.
pub(crate) fn flow_count(answer: &str) -> Option<usize> {
    answer.split("flow_count=").nth(1)?.split_whitespace().next()?.parse().ok()
}

/// One OVN database and the OVN version.
fn read_ovn(
    kind: DbKind,
    source: &OvnSource<'_>,
    capture: &mut CaptureWriter<'_>,
    summary: &mut NodeSummary,
) -> Result<(), LiveError> {
    let t = source.transport;
    let socket = format!("unix:{}", source.socket);
    let argv = ["ovsdb-client", "--no-leader-only", "backup", &socket, kind.schema_name()];
    summary.items.push(backup(kind, t, &argv, kind.file_name(), capture)?);
    for note in &source.notes {
        capture.note_db(kind, note);
        summary.notes.push(note.clone());
    }
    if summary.source.ovn_version.is_none() {
        summary.source.ovn_version = text(t, &[kind.ctl_tool(), "--version"]).ok().and_then(|v| versions::ovn(&v));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_bridge_and_system_tables() {
        let text = r#"{"data":[["br-int",["set",[]]],["br-ex",["set",["OpenFlow13","OpenFlow15"]]]],"headings":["name","protocols"]}
{"data":[["3.1.0",["map",[["hostname","worker-1"],["system-id","x"]]]]],"headings":["ovs_version","external_ids"]}
"#;
        let (bridges, system) = parse_vsctl_lists(text).unwrap();
        let protocols = vec!["OpenFlow13".to_string(), "OpenFlow15".to_string()];
        assert_eq!(bridges[0], ListedBridge { name: "br-ex".into(), protocols });
        assert_eq!(bridges[1].name, "br-int");
        assert!(bridges[1].protocols.is_empty());
        assert_eq!((system.ovs_version.as_deref(), system.hostname.as_deref()), (Some("3.1.0"), Some("worker-1")));
        let empty = r#"{"data":[],"headings":[]}
{"data":[[["set",[]],["map",[]]]],"headings":[]}"#;
        let (bridges, system) = parse_vsctl_lists(empty).unwrap();
        assert!(bridges.is_empty() && system.ovs_version.is_none());
        assert!(parse_vsctl_lists("ovs-vsctl: unix:/x: database connection failed").is_err());
    }

    #[test]
    fn aggregate_counts_and_names() {
        let answer = "OFPST_AGGREGATE reply (OF1.5) (xid=0x2): packet_count=0 byte_count=0 flow_count=877\n";
        assert_eq!(flow_count(answer), Some(877));
        assert_eq!(flow_count("nothing"), None);
        assert_eq!(dump_name("OpenFlow13", "dump-flows", "br:1"), "ovs-ofctl_-O_OpenFlow13_dump-flows_br_1");
    }

    #[test]
    fn a_text_cut_inside_a_line_is_named() {
        let mut ending = Ending::new(&b"a\nb"[..]);
        io::copy(&mut ending, &mut io::sink()).unwrap();
        assert_eq!((ending.lines, ending.cut().is_some()), (1, true));
        let mut ending = Ending::new(&b""[..]);
        io::copy(&mut ending, &mut io::sink()).unwrap();
        assert!(ending.cut().is_none());
    }
}
