//! `cluster trace`: a trace that follows the packet across tunnels. Each
//! hop is an ordinary [`crate::trace::trace`] in one node's replica
//! (started on demand); when the packet leaves through a tunnel port, the
//! packet as it left (the pass's final flow plus the rewrites only the
//! datapath actions show) and the tunnel values the flows set on the way
//! to that output (`tun_id`, `tun_metadata*`, `tun_dst`) are carried to
//! the node whose encap IP the port's remote IP is, arriving on its tunnel
//! port back to the sender; and traced there, until the packet reaches a
//! port that is no tunnel, is dropped or sent to the controller, loops, or
//! leaves for a node that is not collected. Floods fan out.

use super::topology::{self, Key, Remote, Topology, TopologyError, Tunnel, TunnelKind};
use super::workspace::{Node, Workspace, WorkspaceError};
use crate::capture::manifest::Manifest;
use crate::capture::{DbKind, Provenance};
use crate::ofp_text;
use crate::quote::{self, shell};
use crate::trace::parse::{self, Pass};
use crate::trace::{self as single, Detrace, Running, TraceError, Traced};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::IpAddr;

/// At most this many hops are traced.
pub const MAX_HOPS: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum StitchError {
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
    #[error("on node {}", shell(node))]
    Trace {
        node: String,
        #[source]
        source: Box<TraceError>,
    },
    #[error("cannot read the tunnels of node {}", shell(node))]
    Topology {
        node: String,
        #[source]
        source: TopologyError,
    },
}

/// What to trace, where it starts.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub node: String,
    pub bridge: String,
    pub flow: String,
    /// `dp_hash` the packet carries on every node (picks a select group's
    /// bucket).
    pub dp_hash: Option<u32>,
    /// `--ct-next` states, given to every node's trace.
    pub ct_next: Vec<String>,
    pub detrace: bool,
}

/// The whole trace: hops in the order traced; a hop continues the one
/// whose outcome names it.
#[derive(Debug, Serialize)]
pub struct Stitched {
    pub hops: Vec<Hop>,
    /// The nodes whose replica the trace started.
    pub started: Vec<String>,
}

impl Stitched {
    /// The text form: each hop under a `== node (bridge) ==` line, its
    /// trace (annotated when it could be), then where the packet went.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for (index, hop) in self.hops.iter().enumerate() {
            let from = self.hops.iter().position(|h| h.outcome.iter().any(|o| o.continues_at(index)));
            let from =
                from.map(|f| format!(", from {} (hop {})", shell(&self.hops[f].node), f + 1)).unwrap_or_default();
            out.push_str(&format!("== hop {}: {} ({}){from} ==\n", index + 1, shell(&hop.node), shell(&hop.bridge)));
            out.push_str(&format!("flow: {}\n\n", hop.flow));
            out.push_str(hop.annotated.as_deref().unwrap_or(&hop.text).trim_end());
            out.push_str("\n\n");
            if let Some(select) = &hop.select {
                out.push_str(&format!("{}\n", select.text()));
            }
            for outcome in &hop.outcome {
                out.push_str(&format!("-> {}\n", outcome.text()));
            }
            out.push('\n');
        }
        out.push_str("== where the packet went ==\n");
        for (path, outcome) in self.endings() {
            out.push_str(&format!("{path}: {}\n", outcome.text()));
        }
        out.trim_end().to_string()
    }

    /// Every branch's end: the nodes it crossed (`node-1 -> node-2`) and
    /// the outcome that ended it (anything but a tunnel traced further).
    fn endings(&self) -> Vec<(String, &Outcome)> {
        let from: Vec<Option<usize>> = (0..self.hops.len())
            .map(|index| self.hops.iter().position(|h| h.outcome.iter().any(|o| o.continues_at(index))))
            .collect();
        let path = |mut index: usize| {
            let mut nodes = vec![shell(&self.hops[index].node)];
            // Each hop continues an earlier one: the walk ends at hop 1.
            while let Some(parent) = from[index].filter(|&p| p < index) {
                nodes.push(shell(&self.hops[parent].node));
                index = parent;
            }
            nodes.reverse();
            nodes.join(" -> ")
        };
        let mut endings = Vec::new();
        for (index, hop) in self.hops.iter().enumerate() {
            for outcome in hop.outcome.iter().filter(|o| !matches!(o, Outcome::Tunnel { .. })) {
                endings.push((path(index), outcome));
            }
        }
        endings
    }
}

impl Hop {
    /// A hop whose node could not be traced.
    fn failed(pending: Pending, error: &StitchError) -> Hop {
        let mut reason = error.to_string();
        let mut cause = std::error::Error::source(error);
        while let Some(c) = cause {
            reason.push_str(&format!(": {c}"));
            cause = c.source();
        }
        Hop {
            node: pending.node,
            bridge: pending.bridge,
            flow: pending.flow,
            text: String::new(),
            annotated: None,
            detrace: Detrace::NotAsked,
            steps: parse::Trace::default(),
            select: None,
            outcome: vec![Outcome::Failed { reason: quote::note(&reason) }],
        }
    }
}

impl Select {
    fn text(&self) -> String {
        match self {
            Select::Bucket(bucket) => {
                format!("select group: bucket {} taken (by the dp_hash given)", quote::note(bucket))
            }
            Select::NeedsDpHash => "select group: the bucket depends on dp_hash, which a trace does not compute; \
                                    pass one with --dp-hash N to follow a bucket"
                .to_string(),
        }
    }
}

impl Outcome {
    /// True when this outcome is continued as hop `index`.
    fn continues_at(&self, index: usize) -> bool {
        matches!(self, Outcome::Tunnel { hop, .. } if *hop == index)
    }

    fn text(&self) -> String {
        match self {
            Outcome::Output { port: Some(port), logical_port: Some(logical), .. } => {
                format!("output to {} (VIF of logical port {})", shell(port), shell(logical))
            }
            Outcome::Output { port: Some(port), .. } => format!("output to {}", shell(port)),
            Outcome::Output { port: None, datapath_port, .. } => {
                format!("output to datapath port {datapath_port} (no port of that number)")
            }
            Outcome::Tunnel { leg, hop } => format!("{}; traced as hop {}", leg.text(), hop + 1),
            Outcome::NotCollected { leg, command } => {
                format!(
                    "{}: leaves to {} (not collected); add that node with: {command}",
                    leg.text(),
                    shell(&leg.remote_ip)
                )
            }
            Outcome::Loop { leg, hop } => {
                format!("{}; the same packet was traced there as hop {}: not followed again", leg.text(), hop + 1)
            }
            Outcome::MaxHops { leg } => format!("{}; not followed: {MAX_HOPS} hops traced", leg.text()),
            Outcome::NoArrival { leg } => format!(
                "{}; that node has no {} tunnel port back to this one: not followed",
                leg.text(),
                leg.kind.name()
            ),
            Outcome::Controller => "sent to the controller (userspace action)".to_string(),
            Outcome::Failed { reason } => format!("not traced on this node: {reason}"),
            Outcome::SelectHash => "stops at the select group: give --dp-hash N to follow a bucket".to_string(),
            Outcome::Dropped => "dropped (no output)".to_string(),
        }
    }
}

impl Leg {
    /// `geneve to node-2 (192.168.50.2) through 'ovn-node-2-0': tun_id=…`.
    fn text(&self) -> String {
        let to = match &self.node {
            Some(node) => format!("{} ({})", shell(node), shell(&self.remote_ip)),
            None => shell(&self.remote_ip),
        };
        let mut values: Vec<String> = self.carried.iter().map(|(k, v)| format!("{k}={v}")).collect();
        values.extend(self.local_ip.iter().map(|ip| format!("tun_src={}", shell(ip))));
        let mut text = format!("{} to {to} out of {}: {}", self.kind.name(), shell(&self.port), values.join(", "));
        if !self.rewrites.is_empty() {
            let rewrites: Vec<String> = self.rewrites.iter().map(|(k, v)| format!("{k}={v}")).collect();
            text.push_str(&format!("; rewritten by the datapath: {}", rewrites.join(", ")));
        }
        if let Some(arrival) = &self.arrival {
            text.push_str(&format!("; arrives on {}", shell(&arrival.port)));
        }
        text
    }
}

/// One node's part.
#[derive(Debug, Serialize)]
pub struct Hop {
    pub node: String,
    pub bridge: String,
    /// The flow traced there.
    pub flow: String,
    /// What `ofproto/trace` printed.
    pub text: String,
    /// `ovn-detrace`'s annotation of it.
    pub annotated: Option<String>,
    pub detrace: Detrace,
    pub steps: parse::Trace,
    /// A select group's choice, when the packet met one.
    pub select: Option<Select>,
    pub outcome: Vec<Outcome>,
}

/// How a select group chose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "choice", content = "bucket")]
pub enum Select {
    /// `-> using bucket N`.
    Bucket(String),
    /// No bucket without `dp_hash`: the trace stops at the hash.
    NeedsDpHash,
}

/// Where the packet went from a hop.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Outcome {
    /// Out of a port that is no tunnel (VIF, localnet, physical); a VIF's
    /// logical port.
    Output { port: Option<String>, datapath_port: u32, logical_port: Option<String> },
    /// Through a tunnel to a node of the workspace, traced as hop `hop`.
    Tunnel { leg: Leg, hop: usize },
    /// Through a tunnel to a node not collected.
    NotCollected { leg: Leg, command: String },
    /// The same packet already arrived there: hop `hop`.
    Loop { leg: Leg, hop: usize },
    /// Not followed: [`MAX_HOPS`] hops traced.
    MaxHops { leg: Leg },
    /// The receiving node has no tunnel port back to the sender.
    NoArrival { leg: Leg },
    /// To the controller (`userspace(…)`).
    Controller,
    /// Stopped at a select group's hash: no bucket without `dp_hash`.
    SelectHash,
    /// This node could not be traced: why.
    Failed { reason: String },
    /// No output.
    Dropped,
}

/// A packet in a tunnel.
#[derive(Debug, Clone, Serialize)]
pub struct Leg {
    pub kind: TunnelKind,
    /// The sender's tunnel port.
    pub port: String,
    pub remote_ip: String,
    pub local_ip: Option<String>,
    /// `tun_id`, `tun_metadataN` as the flows set them.
    pub carried: BTreeMap<String, String>,
    /// Fields only the datapath actions rewrote (`dl_dst`, `nw_ttl`, …).
    pub rewrites: Vec<(String, String)>,
    /// The node reached, when collected.
    pub node: Option<String>,
    /// Where it arrives there, when that node has a tunnel port back.
    pub arrival: Option<Arrival>,
}

/// A packet arriving through a tunnel.
#[derive(Debug, Clone, Serialize)]
pub struct Arrival {
    /// The receiving node's tunnel port.
    pub port: String,
    pub bridge: String,
    /// The flow traced there.
    pub flow: String,
}

/// A hop to trace.
struct Pending {
    node: String,
    bridge: String,
    flow: String,
}

/// Traces `request` across the nodes of `workspace`.
pub fn trace(workspace: &Workspace, request: &Request) -> Result<Stitched, StitchError> {
    workspace.node(&request.node)?;
    let nodes = workspace.nodes()?;
    let mut stitcher = Stitcher { workspace, request, nodes, topologies: HashMap::new(), started: Vec::new() };
    let first = Pending {
        node: request.node.clone(),
        bridge: request.bridge.clone(),
        flow: with_dp_hash(&request.flow, request.dp_hash),
    };
    let mut queue = VecDeque::from([first]);
    let mut seen: HashMap<(String, String, String), usize> = HashMap::new();
    let mut hops = Vec::new();
    let mut queued = 1;
    while let Some(pending) = queue.pop_front() {
        seen.insert((pending.node.clone(), pending.bridge.clone(), pending.flow.clone()), hops.len());
        let mut hop = match stitcher.hop(&pending) {
            Ok(hop) => hop,
            // A later node that cannot be traced ends its branch only.
            Err(error) if !hops.is_empty() => Hop::failed(pending, &error),
            Err(error) => return Err(error),
        };
        for outcome in &mut hop.outcome {
            let Outcome::Tunnel { leg, hop: next } = outcome else { continue };
            let (Some(node), Some(arrival)) = (&leg.node, &leg.arrival) else { continue };
            let (node, bridge, flow) = (node.clone(), arrival.bridge.clone(), arrival.flow.clone());
            let key = (node.clone(), bridge.clone(), flow.clone());
            if let Some(&earlier) = seen.get(&key) {
                *outcome = Outcome::Loop { leg: leg.clone(), hop: earlier };
            } else if queued >= MAX_HOPS {
                *outcome = Outcome::MaxHops { leg: leg.clone() };
            } else {
                *next = queued;
                seen.insert(key, queued);
                queued += 1;
                queue.push_back(Pending { node, bridge, flow });
            }
        }
        hops.push(hop);
    }
    Ok(Stitched { hops, started: stitcher.started })
}

struct Stitcher<'a> {
    workspace: &'a Workspace,
    request: &'a Request,
    nodes: Vec<Node>,
    topologies: HashMap<String, Topology>,
    started: Vec<String>,
}

impl Stitcher<'_> {
    /// The node called `name`.
    fn node(&self, name: &str) -> Result<Node, StitchError> {
        match self.nodes.iter().find(|n| n.name == name) {
            Some(node) => Ok(node.clone()),
            None => Ok(self.workspace.node(name)?),
        }
    }

    /// The topology of `node`, read once.
    fn topology(&mut self, node: &str) -> Result<&Topology, StitchError> {
        if !self.topologies.contains_key(node) {
            let workdir = self.node(node)?.workdir;
            let topology =
                topology::read(&workdir).map_err(|source| StitchError::Topology { node: node.to_string(), source })?;
            self.topologies.insert(node.to_string(), topology);
        }
        Ok(&self.topologies[node])
    }

    /// The node reached at `ip`, reading topologies as needed.
    fn node_at(&mut self, ip: &str) -> Result<Option<String>, StitchError> {
        let names: Vec<String> = self.nodes.iter().map(|n| n.name.clone()).collect();
        for name in names {
            if self.topology(&name)?.reached_at(ip) {
                return Ok(Some(name));
            }
        }
        Ok(None)
    }

    /// The command that adds the node reached at `ip`, collected as `from`
    /// (the node the packet leaves) was: through Kubernetes (with its
    /// context), else from its sos report.
    fn add_command(&self, from: &str, ip: &str) -> String {
        let w = quote::path(self.workspace.root());
        match self.kubernetes_context(from) {
            Some(context) => {
                let context = context.map(|c| format!("--context {} ", shell(&c))).unwrap_or_default();
                format!("ovs-offline -W {w} cluster collect-k8s {context}NODE (the Kubernetes node at {})", shell(ip))
            }
            None => format!(
                "ovs-offline -W {w} cluster collect-sos SOSREPORT (the sos report of the node at {})",
                shell(ip)
            ),
        }
    }

    /// `Some(context)` when `node`'s OVS database was read through
    /// Kubernetes (a hint only: an unreadable capture manifest says no).
    fn kubernetes_context(&self, node: &str) -> Option<Option<String>> {
        let manifest = Manifest::load(&self.node(node).ok()?.workdir).ok()?;
        match &manifest.collected.get(&DbKind::Ovs)?.source {
            Provenance::Pod { context, .. } => Some(context.clone()),
            _ => None,
        }
    }

    /// Traces one hop and works out where the packet goes from there.
    fn hop(&mut self, pending: &Pending) -> Result<Hop, StitchError> {
        let node = pending.node.as_str();
        let handle = self.node(node)?;
        if self.workspace.ensure_running(&handle)? {
            self.started.push(node.to_string());
        }
        let on_node = |source: TraceError| StitchError::Trace { node: node.to_string(), source: Box::new(source) };
        let running = Running::of(&handle.workdir).map_err(on_node)?;
        let request = single::Request {
            bridge: pending.bridge.clone(),
            flow: pending.flow.clone(),
            packet: None,
            ct_next: self.request.ct_next.clone(),
            detrace: self.request.detrace,
        };
        let traced = single::trace(&running, &request).map_err(on_node)?;
        let topology = self.topology(node)?.clone();
        let mut outcome = Vec::new();
        for (pass, departures) in traced.trace.passes.iter().zip(tunnel_outputs(&traced.trace, &topology)) {
            outcome.extend(self.pass_outcome(node, pass, departures, &traced, &topology)?);
        }
        let controller =
            traced.trace.passes.iter().filter_map(|p| p.datapath_actions.as_deref()).any(|a| a.contains("userspace("));
        if controller {
            outcome.push(Outcome::Controller);
        }
        let select = select(&traced.trace);
        if outcome.is_empty() {
            outcome.push(match select {
                Some(Select::NeedsDpHash) => Outcome::SelectHash,
                _ => Outcome::Dropped,
            });
        }
        Ok(Hop {
            node: node.to_string(),
            bridge: pending.bridge.clone(),
            flow: pending.flow.clone(),
            select,
            text: traced.text,
            annotated: traced.annotated,
            detrace: traced.detrace,
            steps: traced.trace,
            outcome,
        })
    }

    /// The outcomes of one pass's datapath outputs, tunnel outputs paired in
    /// order with the OpenFlow outputs to the same tunnel port.
    fn pass_outcome(
        &mut self,
        node: &str,
        pass: &Pass,
        mut departures: Vec<Departure>,
        traced: &Traced,
        topology: &Topology,
    ) -> Result<Vec<Outcome>, StitchError> {
        let mut outcome = Vec::new();
        let actions = pass.datapath_actions.as_deref().unwrap_or_default();
        for (datapath_port, rewrites) in parse::datapath_rewrites(actions) {
            let name = traced.datapath_ports.iter().find(|p| p.replica == datapath_port).and_then(|p| p.name.clone());
            let tunnel = name.as_deref().and_then(|n| topology.tunnels.iter().find(|t| t.name == n));
            let Some(tunnel) = tunnel else {
                let logical_port = name.as_ref().and_then(|n| topology.logical_ports.get(n)).cloned();
                outcome.push(Outcome::Output { port: name, datapath_port, logical_port });
                continue;
            };
            let at = departures.iter().position(|d| d.tunnel == tunnel.name);
            let tun = at.map(|i| departures.remove(i).tun).unwrap_or_default();
            outcome.push(self.leave(node, pass, tunnel, tun, rewrites, topology)?);
        }
        Ok(outcome)
    }

    /// The packet leaving `from` through `tunnel`: where it arrives, and
    /// the flow it is traced with there.
    fn leave(
        &mut self,
        from: &str,
        pass: &Pass,
        tunnel: &Tunnel,
        tun: TunState,
        rewrites: Vec<(String, String)>,
        topology: &Topology,
    ) -> Result<Outcome, StitchError> {
        let remote_ip = match &tunnel.remote {
            Remote::Ip(ip) => ip.clone(),
            Remote::Flow => tun.ips.get("tun_dst").cloned().unwrap_or_default(),
        };
        let local_ip = topology.source_ip(tunnel).filter(|ip| ip.parse::<IpAddr>().is_ok());
        let mut carried = tun.carried();
        // A fixed out_key is sent whatever tun_id the flows set.
        if let Key::Fixed(key) = tunnel.out_key {
            carried.insert("tun_id".to_string(), format!("{key:#x}"));
        }
        let mut leg = Leg {
            kind: tunnel.kind,
            port: tunnel.name.clone(),
            remote_ip: remote_ip.clone(),
            local_ip: local_ip.clone(),
            carried,
            rewrites: rewrites.clone(),
            node: None,
            arrival: None,
        };
        if remote_ip.parse::<IpAddr>().is_err() {
            return Ok(Outcome::NoArrival { leg });
        }
        let Some(node) = self.node_at(&remote_ip)? else {
            return Ok(Outcome::NotCollected { command: self.add_command(from, &remote_ip), leg });
        };
        leg.node = Some(node.clone());
        let Some(local_ip) = local_ip else { return Ok(Outcome::NoArrival { leg }) };
        let theirs = self.topology(&node)?;
        let tun_id = leg.carried.get("tun_id").and_then(|v| number(v)).and_then(|v| u64::try_from(v).ok());
        let Some(arrival) = theirs.arrival(tunnel.kind, &local_ip, &remote_ip, tun_id) else {
            return Ok(Outcome::NoArrival { leg });
        };
        let Some(ofport) = arrival.ofport else { return Ok(Outcome::NoArrival { leg }) };
        let (port, bridge) = (arrival.name.clone(), arrival.bridge.clone());
        let mut fields = vec![format!("in_port={ofport}")];
        fields.extend(leg.carried.iter().map(|(k, v)| format!("{k}={v}")));
        fields.push(format!("tun_src={local_ip}"));
        fields.push(format!("tun_dst={remote_ip}"));
        let (final_flow, flow) = (pass.final_flow.as_deref(), pass.flow.as_deref());
        fields.extend(inner_packet(final_flow.unwrap_or_default(), flow.unwrap_or_default(), &rewrites));
        let flow = with_dp_hash(&fields.join(","), self.request.dp_hash);
        leg.arrival = Some(Arrival { port, bridge, flow });
        // The hop it becomes is numbered when it is queued.
        Ok(Outcome::Tunnel { leg, hop: 0 })
    }
}

/// `dp_hash=N,FLOW` when asked.
fn with_dp_hash(flow: &str, dp_hash: Option<u32>) -> String {
    match dp_hash {
        Some(hash) => format!("dp_hash={hash:#x},{flow}"),
        None => flow.to_string(),
    }
}

/// What a select group did: the first `using bucket`/`no live bucket`.
fn select(trace: &parse::Trace) -> Option<Select> {
    let notes = trace.passes.iter().flat_map(|p| &p.steps).flat_map(|s| &s.notes);
    notes.filter_map(|note| note.strip_prefix("-> ")).find_map(|note| {
        if let Some(bucket) = note.strip_prefix("using bucket ") {
            return Some(Select::Bucket(bucket.to_string()));
        }
        (note == "no live bucket").then_some(Select::NeedsDpHash)
    })
}

/// The packet's own fields in a final flow, with the datapath's rewrites:
/// pipeline metadata (registers, conntrack, tunnel, recirculation, port)
/// left out. Its VLAN headers are those of the pass's input `flow` as the
/// datapath's `push_vlan`/`pop_vlan` change them (a `vlan_tci` rewrite):
/// the final flow's are one bridge's view (a patch port's peer, such as a
/// Neutron br-tun, strips the VLAN its br-int's final flow still shows).
fn inner_packet(final_flow: &str, flow: &str, rewrites: &[(String, String)]) -> Vec<String> {
    const METADATA: [&str; 10] = [
        "recirc_id",
        "dp_hash",
        "skb_priority",
        "skb_mark",
        "pkt_mark",
        "metadata",
        "in_port",
        "in_port_oxm",
        "actset_output",
        "packet_type",
    ];
    const PREFIXES: [&str; 6] = ["ct_", "reg", "xreg", "xxreg", "tun_", "gtpu_"];
    let fields_of = |flow: &str| -> Vec<(String, Option<String>)> {
        flow.split(',')
            .map(str::trim)
            .filter(|f| !f.is_empty() && *f != "eth")
            .map(|f| match f.split_once('=') {
                Some((k, v)) => (k.to_string(), Some(v.to_string())),
                None => (f.to_string(), None),
            })
            .filter(|(k, _)| !METADATA.contains(&k.as_str()) && !PREFIXES.iter().any(|p| k.starts_with(p)))
            .collect()
    };
    let vlan = |key: &str| key.starts_with("vlan_tci") || key.starts_with("dl_vlan");
    let mut fields = fields_of(final_flow);
    let input_vlan: Vec<_> = fields_of(flow).into_iter().filter(|(k, _)| vlan(k)).collect();
    // Where the final flow had its VLAN fields (after dl_type), the input's.
    let at = fields.iter().position(|(k, _)| vlan(k)).unwrap_or(fields.len().min(1));
    fields.retain(|(k, _)| !vlan(k));
    let at = at.min(fields.len());
    fields.splice(at..at, input_vlan);
    for (key, value) in rewrites {
        if key == "vlan_tci" {
            fields.retain(|(k, _)| !vlan(k) || k == "vlan_tci");
        }
        match fields.iter_mut().find(|(k, _)| k == key) {
            Some(field) => field.1 = Some(value.clone()),
            None => fields.push((key.clone(), Some(value.clone()))),
        }
    }
    fields.into_iter().map(|(k, v)| v.map(|v| format!("{k}={v}")).unwrap_or(k)).collect()
}

/// An OpenFlow output to a tunnel port, with the tunnel values then.
struct Departure {
    tunnel: String,
    tun: TunState,
}

/// Per pass, its OpenFlow outputs to tunnel ports in order, with the
/// tunnel fields as the pass's flow and its actions so far left them.
fn tunnel_outputs(trace: &parse::Trace, topology: &Topology) -> Vec<Vec<Departure>> {
    trace
        .passes
        .iter()
        .map(|pass| {
            let mut tun = TunState::of_flow(pass.flow.as_deref().unwrap_or_default());
            let mut departures = Vec::new();
            for (step, line) in pass.executed() {
                tun.apply(line);
                let port = line.strip_prefix("output:").and_then(|p| p.parse().ok());
                if let Some(tunnel) = port.and_then(|p| topology.tunnel_at(&step.bridge, p)) {
                    departures.push(Departure { tunnel: tunnel.name.clone(), tun: tun.clone() });
                }
            }
            departures
        })
        .collect()
}

/// The tunnel fields of a flow: numbers (`tun_id`, `tun_metadataN`) and
/// addresses (`tun_src`, `tun_dst`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct TunState {
    numbers: BTreeMap<String, u128>,
    ips: BTreeMap<String, String>,
}

impl TunState {
    /// The tunnel fields a `Flow:` line names.
    fn of_flow(flow: &str) -> TunState {
        let mut state = TunState::default();
        for (key, value) in flow.split(',').filter_map(|f| f.split_once('=')) {
            state.set(key.trim(), value.trim(), None);
        }
        state
    }

    /// Applies one line of a step: `set_field:V[/M]->F`, `load:V->F[..]`,
    /// `set_tunnel[64]:V`, or OVS's `-> F[a..b] is now V` after a `move`.
    fn apply(&mut self, line: &str) {
        let set_tunnel = line.strip_prefix("set_tunnel:").or_else(|| line.strip_prefix("set_tunnel64:"));
        let assignment = if let Some(value) = set_tunnel {
            Some(("tun_id", value))
        } else if let Some(rest) = line.strip_prefix("set_field:").or_else(|| line.strip_prefix("load:")) {
            rest.rsplit_once("->").map(|(v, f)| (f, v))
        } else {
            line.strip_prefix("-> ").and_then(|rest| rest.split_once(" is now "))
        };
        let Some((field, value)) = assignment else { return };
        let (name, bits) = match field.split_once('[') {
            Some((name, bits)) => (name, Some(bits.trim_end_matches(']'))),
            None => (field, None),
        };
        let Some(name) = tunnel_field(name) else { return };
        if let Some((low, high)) = bits.and_then(bit_range) {
            let width = high - low + 1;
            let ones = if width >= 128 { u128::MAX } else { (1u128 << width) - 1 };
            if let Some(v) = number(value) {
                self.merge(&name, v << low, ones << low);
            }
            return;
        }
        match value.split_once('/') {
            Some((v, m)) => self.set(&name, v, number(m)),
            None => self.set(&name, value, None),
        }
    }

    fn set(&mut self, name: &str, value: &str, mask: Option<u128>) {
        let Some(name) = tunnel_field(name) else { return };
        if name == "tun_src" || name == "tun_dst" {
            self.ips.insert(name, value.to_string());
        } else if let Some(v) = number(value) {
            self.merge(&name, v, mask.unwrap_or(u128::MAX));
        }
    }

    fn merge(&mut self, name: &str, value: u128, mask: u128) {
        let old = self.numbers.entry(name.to_string()).or_default();
        *old = (*old & !mask) | (value & mask);
    }

    /// `tun_id` and `tun_metadataN` as a flow writes them.
    fn carried(&self) -> BTreeMap<String, String> {
        self.numbers.iter().map(|(k, v)| (k.clone(), format!("{v:#x}"))).collect()
    }
}

/// A tunnel field's flow name, from its flow or NXM name; `None` for any
/// other field.
fn tunnel_field(name: &str) -> Option<String> {
    let lower = name.trim().to_ascii_lowercase();
    let short = match lower.as_str() {
        "nxm_nx_tun_id" | "tun_id" | "tunnel_id" => "tun_id".to_string(),
        "nxm_nx_tun_ipv4_src" | "tun_src" => "tun_src".to_string(),
        "nxm_nx_tun_ipv4_dst" | "tun_dst" => "tun_dst".to_string(),
        other => {
            let n = other.strip_prefix("nxm_nx_tun_metadata").or_else(|| other.strip_prefix("tun_metadata"))?;
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            format!("tun_metadata{n}")
        }
    };
    Some(short)
}

/// `a..b`, `n` (one bit) or empty (the whole field: `None`).
fn bit_range(bits: &str) -> Option<(u32, u32)> {
    let (low, high) = match bits.split_once("..") {
        Some((l, h)) => (l.parse().ok()?, h.parse().ok()?),
        None => {
            let bit = bits.parse().ok()?;
            (bit, bit)
        }
    };
    (low <= high && high < 128).then_some((low, high))
}

/// A number as OVS prints one ([`ofp_text::number`]), spaces around it
/// left out.
fn number(text: &str) -> Option<u128> {
    ofp_text::number(text.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tunnel_values_as_the_flows_set_them() {
        let mut tun = TunState::of_flow("recirc_id=0x6,tun_id=0x9,in_port=11");
        for line in [
            "set_field:0x2/0xffffff->tun_id",
            "set_field:0x2->tun_metadata0",
            "move:NXM_NX_REG14[0..14]->NXM_NX_TUN_METADATA0[16..30]",
            "-> NXM_NX_TUN_METADATA0[16..30] is now 0x1",
            "-> NXM_NX_XXREG0[111] is now 0",
            "set_field:192.168.50.9->tun_dst",
        ] {
            tun.apply(line);
        }
        let carried: Vec<(String, String)> = tun.carried().into_iter().collect();
        assert_eq!(carried, vec![("tun_id".into(), "0x2".into()), ("tun_metadata0".into(), "0x10002".into())]);
        assert_eq!(tun.ips.get("tun_dst").map(String::as_str), Some("192.168.50.9"));
    }

    /// A Neutron br-tun's ways to set the VNI: `load:` (l2pop unicast),
    /// `set_tunnel:` (flood), `set_field:`.
    #[test]
    fn neutron_sets_the_vni() {
        for line in ["load:0x64->NXM_NX_TUN_ID[]", "set_tunnel:0x64", "set_tunnel64:0x64", "set_field:0x64->tun_id"] {
            let mut tun = TunState::of_flow("in_port=5,tun_id=0x9");
            tun.apply(line);
            assert_eq!(tun.carried().get("tun_id").map(String::as_str), Some("0x64"), "{line}");
        }
    }

    /// node-1 of the 3-chassis lab floods an ARP request from pod1 to ls1's
    /// other chassis: two outputs after table 39 set the tunnel values.
    const FLOOD: &str = include_str!("testdata/arp-flood-node-1.txt");

    #[test]
    fn each_tunnel_output_carries_the_values_then() {
        let tunnel = |name: &str, ofport| Tunnel {
            bridge: "br-int".into(),
            name: name.into(),
            kind: TunnelKind::Geneve,
            ofport: Some(ofport),
            remote: Remote::Ip("192.168.50.9".into()),
            local_ip: None,
            in_key: Key::Flow,
            out_key: Key::Flow,
        };
        let topology = Topology {
            system_id: Some("node-1".into()),
            encap_ips: vec!["192.168.50.1".into()],
            tunnels: vec![tunnel("ovn-node-2-0", 2), tunnel("ovn-node-3-0", 3)],
            logical_ports: BTreeMap::new(),
        };
        let trace = parse::parse(FLOOD);
        let departures: Vec<(String, BTreeMap<String, String>)> =
            tunnel_outputs(&trace, &topology).into_iter().flatten().map(|d| (d.tunnel, d.tun.carried())).collect();
        let carried: BTreeMap<String, String> =
            [("tun_id", "0x2"), ("tun_metadata0", "0x28000")].map(|(k, v)| (k.to_string(), v.to_string())).into();
        assert_eq!(departures, vec![("ovn-node-2-0".into(), carried.clone()), ("ovn-node-3-0".into(), carried)]);
        let last = trace.passes.last().unwrap().datapath_actions.as_deref().unwrap();
        assert_eq!(parse::datapath_rewrites(last), vec![(2, vec![]), (4, vec![])]);
    }

    #[test]
    fn the_packet_as_it_left() {
        let final_flow = "recirc_id=0x6,dp_hash=0x1,eth,tcp,reg0=0x300,reg15=0x1,tun_id=0x2,metadata=0x1,in_port=11,\
                          vlan_tci=0x0000,dl_src=00:00:00:00:01:01,dl_dst=00:00:00:00:ff:01,nw_src=10.0.1.11,\
                          nw_dst=10.0.2.13,nw_ttl=64,tp_src=5555,tp_dst=8080,tcp_flags=0";
        let rewrites = parse::datapath_rewrites(
            "ct_clear,set(eth(src=00:00:00:00:ff:02,dst=00:00:00:00:02:03)),set(ipv4(ttl=63)),3",
        );
        assert_eq!(
            inner_packet(final_flow, final_flow, &rewrites[0].1).join(","),
            "tcp,vlan_tci=0x0000,dl_src=00:00:00:00:ff:02,dl_dst=00:00:00:00:02:03,nw_src=10.0.1.11,nw_dst=10.0.2.13,\
             nw_ttl=63,tp_src=5555,tp_dst=8080,tcp_flags=0"
        );
    }

    /// br-int tags the packet and br-tun (behind a patch port) strips it:
    /// the final flow still shows br-int's tag, the datapath sends it
    /// untagged, as it came in; a datapath push_vlan/pop_vlan counts.
    #[test]
    fn the_vlan_as_the_datapath_left_it() {
        let flow = "arp,in_port=5,vlan_tci=0x0000,dl_src=fa:16:3e:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff,arp_op=1";
        let final_flow =
            "arp,in_port=5,dl_vlan=1,dl_vlan_pcp=0,vlan_tci1=0x0000,dl_src=fa:16:3e:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff,arp_op=1";
        let untagged = "arp,vlan_tci=0x0000,dl_src=fa:16:3e:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff,arp_op=1";
        assert_eq!(inner_packet(final_flow, flow, &[]).join(","), untagged);
        let pushed = parse::datapath_rewrites("push_vlan(vid=7,pcp=1),3,pop_vlan,4");
        let [(3, tagged), (4, popped)] = &pushed[..] else { panic!("{pushed:?}") };
        assert_eq!(
            inner_packet(final_flow, flow, tagged).join(","),
            "arp,vlan_tci=0x3007,dl_src=fa:16:3e:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff,arp_op=1"
        );
        assert_eq!(inner_packet(final_flow, flow, popped).join(","), untagged);
    }

    #[test]
    fn text_quotes_collected_names_and_says_where_each_branch_ends() {
        let leg = |node: Option<&str>| Leg {
            kind: TunnelKind::Geneve,
            port: "ovn-x\n0".into(),
            remote_ip: "192.168.50.9".into(),
            local_ip: Some("192.168.50.1".into()),
            carried: [("tun_id".to_string(), "0x1".to_string())].into(),
            rewrites: vec![("nw_ttl".into(), "63".into())],
            node: node.map(str::to_string),
            arrival: None,
        };
        let hop = |node: &str, outcome: Vec<Outcome>| Hop {
            node: node.into(),
            bridge: "br-int".into(),
            flow: "in_port=1".into(),
            text: "Datapath actions: 2".into(),
            annotated: None,
            detrace: Detrace::NotAsked,
            steps: parse::Trace::default(),
            select: None,
            outcome,
        };
        let stitched = Stitched {
            hops: vec![
                hop(
                    "node 1",
                    vec![
                        Outcome::Tunnel { leg: leg(Some("n'2")), hop: 1 },
                        Outcome::NotCollected {
                            leg: leg(None),
                            command: "ovs-offline -W ws cluster collect-sos SOSREPORT".into(),
                        },
                    ],
                ),
                hop(
                    "n'2",
                    vec![
                        Outcome::Output {
                            port: Some("vif 2".into()),
                            datapath_port: 3,
                            logical_port: Some("ns_p".into()),
                        },
                        Outcome::Loop { leg: leg(Some("node 1")), hop: 0 },
                        Outcome::Failed { reason: "x".into() },
                    ],
                ),
            ],
            started: vec![],
        };
        let text = stitched.text();
        assert!(text.starts_with("== hop 1: 'node 1' (br-int) ==\nflow: in_port=1\n\nDatapath actions: 2\n"), "{text}");
        assert!(
            text.contains(
                "-> geneve to 'n'\\''2' (192.168.50.9) out of $'ovn-x\\n0': tun_id=0x1, tun_src=192.168.50.1; \
                               rewritten by the datapath: nw_ttl=63; traced as hop 2\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("leaves to 192.168.50.9 (not collected); add that node with: ovs-offline -W ws"),
            "{text}"
        );
        assert!(text.contains("== hop 2: 'n'\\''2' (br-int), from 'node 1' (hop 1) =="), "{text}");
        assert!(text.contains("\n-> output to 'vif 2' (VIF of logical port ns_p)\n"), "{text}");
        assert!(text.contains("the same packet was traced there as hop 1: not followed again"), "{text}");
        assert!(text.contains("-> not traced on this node: x\n"), "{text}");
        assert!(
            text.ends_with(
                "== where the packet went ==\n'node 1': geneve to 192.168.50.9 out of $'ovn-x\\n0': tun_id=0x1, \
                 tun_src=192.168.50.1; rewritten by the datapath: nw_ttl=63: leaves to 192.168.50.9 (not collected); \
                 add that node with: ovs-offline -W ws cluster collect-sos SOSREPORT\n\
                 'node 1' -> 'n'\\''2': output to 'vif 2' (VIF of logical port ns_p)\n\
                 'node 1' -> 'n'\\''2': geneve to 'node 1' (192.168.50.9) out of $'ovn-x\\n0': tun_id=0x1, \
                 tun_src=192.168.50.1; rewritten by the datapath: nw_ttl=63; the same packet was traced there as hop 1: \
                 not followed again\n\
                 'node 1' -> 'n'\\''2': not traced on this node: x"
            ),
            "{text}"
        );
    }

    #[test]
    fn select_group_choice() {
        let trace = |note: &str| parse::parse(&format!(" 20. priority 1\n    group:1\n     -> {note}\n"));
        assert_eq!(select(&trace("using bucket 0")), Some(Select::Bucket("0".into())));
        assert_eq!(select(&trace("no live bucket")), Some(Select::NeedsDpHash));
    }
}
