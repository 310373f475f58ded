//! Tracing in a running replica: `ofproto/trace` of a flow or of a
//! captured packet ([`pcap`]) through the replica's vswitchd, annotated by
//! `ovn-detrace` against the replica's databases when OVN's are there and
//! the tool is installed, read into structured steps ([`parse`]) for
//! `--json` and for chaining traces; and the replica's ports ([`ports`]),
//! which turn the datapath port numbers a trace prints into names.

pub mod parse;
pub mod pcap;
pub mod ports;

use crate::capture::manifest::{Manifest, ManifestError};
use crate::capture::DbKind;
use crate::report::{ReportError, Show};
use crate::tools::{self, ToolError};
use parse::Trace;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("no replica running in {}; start it with 'ovs-offline -w {} start'", .0.display(), .0.display())]
    NotRunning(PathBuf),
    #[error("the replica in {} runs no ovs-vswitchd (no OVS database collected): there is nothing to trace", .0.display())]
    NoVswitchd(PathBuf),
    #[error("ofproto/trace refused: {0}")]
    Refused(String),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Workdir(#[from] crate::workdir::WorkdirError),
    #[error(transparent)]
    Tool(#[from] ToolError),
    #[error(transparent)]
    Pcap(#[from] pcap::PcapError),
    #[error(transparent)]
    Ports(#[from] ports::PortsError),
    #[error(
        "the capture names no port of {} for the frame{}; give the port it came in on with --in-port PORT \
         ('ovs-offline ports {}' lists them)",
        crate::quote::shell(bridge),
        interface.as_deref().map(|i| format!(" (its interface: {})", crate::quote::shell(i))).unwrap_or_default(),
        crate::quote::shell(bridge)
    )]
    InPortRequired { bridge: String, interface: Option<String> },
}

type Result<T, E = TraceError> = std::result::Result<T, E>;

/// What to trace.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The bridge (name, or datapath `system@ovs-system` as OVS accepts).
    pub bridge: String,
    /// The flow, in `ovs-ofctl` syntax; port names are accepted.
    pub flow: String,
    /// A packet's bytes: the flow then gives only its metadata (`in_port`).
    pub packet: Option<Vec<u8>>,
    /// `--ct-next` states, one per recirculation.
    pub ct_next: Vec<String>,
    /// Pipe through `ovn-detrace` when it can.
    pub detrace: bool,
}

/// Whether the trace is annotated with OVN's logical flows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "reason")]
pub enum Detrace {
    Annotated,
    /// `--no-detrace`.
    NotAsked,
    /// No OVN NB and SB database in the replica.
    NoOvnDatabases,
    /// `ovn-detrace` is not installed.
    NotInstalled,
    /// `ovn-detrace` ran and failed: what it said.
    Failed(String),
}

/// A trace done in the replica.
#[derive(Debug, Serialize)]
pub struct Traced {
    pub bridge: String,
    /// The flow traced (with a packet: its metadata).
    pub flow: String,
    /// What `ofproto/trace` printed.
    pub text: String,
    /// What `ovn-detrace` made of it.
    pub annotated: Option<String>,
    pub detrace: Detrace,
    pub trace: Trace,
    /// The ports the trace's datapath actions output to.
    pub datapath_ports: Vec<ports::DatapathPort>,
}

/// A running replica with a vswitchd: its sockets, and what the capture
/// says of production's datapath ports.
pub struct Running {
    pub vswitchd_ctl: PathBuf,
    pub dbs: BTreeMap<DbKind, PathBuf>,
    /// Production's datapath port numbers by port name, when captured.
    pub production_ports: BTreeMap<String, u32>,
    /// Interfaces the replica runs as `dummy`: their collected type.
    pub replaced_types: BTreeMap<String, String>,
}

impl Running {
    /// The replica running in `workdir`; fails when it is not running or
    /// runs no vswitchd.
    pub fn of(workdir: &crate::workdir::Workdir) -> Result<Running> {
        let show = Show::gather(workdir)?;
        if !show.running {
            return Err(TraceError::NotRunning(workdir.root().to_path_buf()));
        }
        let vswitchd_ctl = show.vswitchd_ctl.ok_or_else(|| TraceError::NoVswitchd(workdir.root().to_path_buf()))?;
        let production_ports = Manifest::load(workdir)?.source.datapath_ports;
        let run = workdir.load_state()?.run;
        let ovs = run.into_iter().flat_map(|r| r.dbs).find(|db| db.kind == DbKind::Ovs);
        let replaced_types = ovs.map(|db| db.replaced_types).unwrap_or_default();
        Ok(Running { vswitchd_ctl, dbs: show.db_sockets, production_ports, replaced_types })
    }

    /// `ovs-appctl --target=CTL args…`: its stdout.
    pub fn appctl<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Result<String> {
        let mut target = std::ffi::OsString::from("--target=");
        target.push(&self.vswitchd_ctl);
        let args = std::iter::once(target).chain(args.iter().map(|a| a.as_ref().to_os_string()));
        Ok(tools::run("ovs-appctl", args)?)
    }
}

/// Traces `request` in the replica.
pub fn trace(running: &Running, request: &Request) -> Result<Traced> {
    let mut args: Vec<String> = vec!["ofproto/trace".into()];
    for state in &request.ct_next {
        args.extend(["--ct-next".into(), state.clone()]);
    }
    args.extend([request.bridge.clone(), request.flow.clone()]);
    args.extend(request.packet.as_deref().map(hex));
    let text = running.appctl(&args).map_err(|e| match e {
        TraceError::Tool(ToolError::Failed { stderr, .. }) => TraceError::Refused(first_line(&stderr)),
        other => other,
    })?;
    let (annotated, detrace) = match request.detrace {
        true => detrace(running, &text),
        false => (None, Detrace::NotAsked),
    };
    let trace = parse::parse(&text);
    let mut outputs: Vec<u32> =
        trace.passes.iter().filter_map(|p| p.datapath_actions.as_deref()).flat_map(parse::datapath_outputs).collect();
    outputs.sort_unstable();
    outputs.dedup();
    let datapath_ports = ports::datapath_ports(running, &outputs)?;
    Ok(Traced {
        bridge: request.bridge.clone(),
        flow: request.flow.clone(),
        text,
        annotated,
        detrace,
        trace,
        datapath_ports,
    })
}

/// A note when an IP `flow` (ovs-ofctl syntax) gives no TTL: `ofproto/trace`
/// then traces TTL 0, which every logical router on the path turns into a
/// TTL-exceeded drop or a packet to the controller — rarely what was meant.
pub fn ttl_note(flow: &str) -> Option<&'static str> {
    const IP_PROTOCOLS: &[&str] = &["ip", "ipv6", "tcp", "tcp6", "udp", "udp6", "icmp", "icmp6", "sctp", "sctp6"];
    const IP_FIELDS: &[&str] = &["nw_src=", "nw_dst=", "ipv6_src=", "ipv6_dst=", "dl_type=0x0800", "dl_type=0x86dd"];
    let fields: Vec<&str> = flow.split(',').map(str::trim).collect();
    let ip = fields.iter().any(|f| IP_PROTOCOLS.contains(f) || IP_FIELDS.iter().any(|p| f.starts_with(p)));
    let ttl = fields.iter().any(|f| f.starts_with("nw_ttl="));
    (ip && !ttl).then_some(
        "the flow gives no nw_ttl, so it is traced with TTL 0: a router on its path drops it or sends it to the \
         controller (TTL exceeded); add nw_ttl=64 for a packet as a host sends it",
    )
}

/// The flow that gives a captured frame its metadata: `in_port=PORT`, the
/// port given (as OVS reads a port: name or number), else the OpenFlow
/// port of the bridge's port named as the interface the capture names —
/// by number, so that no collected name is read as flow syntax.
pub fn packet_flow(running: &Running, bridge: &str, frame: &pcap::Frame, in_port: Option<&str>) -> Result<String> {
    if let Some(port) = in_port {
        return Ok(format!("in_port={port}"));
    }
    let ports = ports::ports(running, Some(bridge))?;
    let named = frame.interface.as_ref().and_then(|i| ports.iter().find(|p| &p.name == i));
    match named.and_then(|p| p.ofport) {
        Some(ofport) => Ok(format!("in_port={ofport}")),
        None => Err(TraceError::InPortRequired { bridge: bridge.to_string(), interface: frame.interface.clone() }),
    }
}

/// What a daemon answered first: its reason (`ovs-appctl` adds its own
/// summary line after it).
fn first_line(stderr: &str) -> String {
    crate::quote::note(stderr.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("no reason given"))
}

/// Lower-case hex of `bytes`, as `ofproto/trace` takes a packet.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs `ovn-detrace` on `text` against the replica's OVS, NB and SB
/// databases.
fn detrace(running: &Running, text: &str) -> (Option<String>, Detrace) {
    let (Some(nb), Some(sb), Some(ovs)) =
        (running.dbs.get(&DbKind::OvnNb), running.dbs.get(&DbKind::OvnSb), running.dbs.get(&DbKind::Ovs))
    else {
        return (None, Detrace::NoOvnDatabases);
    };
    let Ok(mut command) = tools::command("ovn-detrace") else {
        return (None, Detrace::NotInstalled);
    };
    command.arg(db_option("--ovnnb", nb)).arg(db_option("--ovnsb", sb)).arg(db_option("--ovsdb", ovs));
    match run_with_input(command, text.as_bytes()) {
        Ok(out) => (Some(out), Detrace::Annotated),
        Err(reason) => (None, Detrace::Failed(crate::quote::note(&reason))),
    }
}

/// `--NAME=unix:SOCKET`.
fn db_option(name: &str, socket: &Path) -> std::ffi::OsString {
    let mut option = std::ffi::OsString::from(format!("{name}=unix:"));
    option.push(socket);
    option
}

/// Runs `command` with `input` on its stdin; its stdout, or why it failed.
fn run_with_input(mut command: std::process::Command, input: &[u8]) -> Result<String, String> {
    command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().map_err(|e| e.to_string())?;
    let mut stdin = child.stdin.take();
    let output = std::thread::scope(|scope| {
        scope.spawn(move || stdin.as_mut().map(|s| s.write_all(input)));
        child.wait_with_output()
    });
    let output = output.map_err(|e| e.to_string())?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    Err(stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no output").to_string())
}

/// What to install for `ovn-detrace`, by distro.
pub const DETRACE_PACKAGES: &str =
    "ovn-detrace ships with OVN (Debian/Ubuntu: ovn-common and python3-openvswitch; Fedora/RHEL: ovn)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_note_only_for_ip_flows_without_a_ttl() {
        assert!(ttl_note("in_port=1,tcp,nw_dst=10.0.0.1").is_some());
        assert!(ttl_note("in_port=1,dl_type=0x0800").is_some());
        assert!(ttl_note("in_port=1,tcp,nw_dst=10.0.0.1,nw_ttl=64").is_none());
        assert!(ttl_note("in_port=1,arp,arp_tpa=10.0.0.1").is_none());
        assert!(ttl_note("in_port=1,dl_dst=ff:ff:ff:ff:ff:ff").is_none());
    }

    #[test]
    fn packets_as_hex() {
        assert_eq!(hex(&[0, 0x0b, 0xff]), "000bff");
    }
}
