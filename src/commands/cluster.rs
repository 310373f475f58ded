//! The `cluster` commands and node selection: a workspace (-W) of node
//! workdirs filled from several captures, started, stopped and listed
//! together, and traces that cross nodes.

use super::{detrace_note, emit, k8s_options, print_collected};
use crate::cli;
use crate::output::{inform, say, tell};
use anyhow::{bail, Context, Result};
use ovs_offline::capture::DbKind;
use ovs_offline::capture::SourceSystem;
use ovs_offline::cluster::status::{ClusterStatus, NodeStatus};
use ovs_offline::cluster::workspace::{capture_name, file_stem_name, Node, Staged, Workspace};
use ovs_offline::collect::flows::BridgeSummary;
use ovs_offline::collect::must_gather::MustGather;
use ovs_offline::collect::sos::SosPart;
use ovs_offline::progress::Spinner;
use ovs_offline::quote;
use ovs_offline::replica::{self, Stopped};
use ovs_offline::report::{self, Show};
use ovs_offline::workdir::Workdir;
use ovs_offline::{activate, collect, trace};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The workdir of `--node NAME` in the workspace `root` for a single-node
/// command: made for a collect; for trace, ports and exec, its replica is
/// started first when it does not run (said on stderr).
pub fn node_workdir(root: &Path, name: &str, command: &cli::Command) -> Result<Workdir> {
    use cli::Command as C;
    match command {
        C::CollectDbOvs(_)
        | C::CollectDbOvnNb(_)
        | C::CollectDbOvnSb(_)
        | C::CollectFlows(_)
        | C::CollectSosOvs(_)
        | C::CollectSosOvn(_)
        | C::CollectSos(_)
        | C::CollectMustGather(_)
        | C::CollectCapture(_)
        | C::CollectK8s(_) => Ok(Workspace::create(root)?.node_to_collect(name)?.workdir),
        C::Trace(_) | C::Ports(_) | C::Exec(_) => {
            let workspace = Workspace::open(root)?;
            let node = workspace.node(name)?;
            if workspace.ensure_running(&node)? {
                tell!("note: {}", node.started_note());
            }
            Ok(node.workdir)
        }
        _ => Ok(Workspace::open(root)?.node(name)?.workdir),
    }
}

/// The error for a single-node command given a workspace but no node.
pub fn no_node_chosen(root: &Path) -> anyhow::Error {
    let w = quote::path(root);
    let nodes = Workspace::open(root).and_then(|ws| ws.nodes());
    let holds = match nodes {
        Ok(nodes) if nodes.is_empty() => "it holds no node yet".to_string(),
        Ok(nodes) => format!("it holds {}", nodes.iter().map(|n| quote::shell(&n.name)).collect::<Vec<_>>().join(", ")),
        Err(e) => return e.into(),
    };
    anyhow::anyhow!(
        "with a workspace (-W {w}) choose the node this command acts on: 'ovs-offline -W {w} --node NAME …' ({holds}); \
         or act on them all with 'ovs-offline -W {w} cluster …'"
    )
}

/// `cluster …`.
pub fn cluster(root: Option<&Path>, node: Option<&str>, args: &cli::Cluster) -> Result<()> {
    let Some(root) = root else {
        bail!("cluster commands act on a workspace: give it with -W DIR (or OVS_OFFLINE_WORKSPACE), e.g. 'ovs-offline -W ./cluster cluster collect-sos A.tar.xz B.tar.xz'");
    };
    if let Some(node) = node {
        bail!(
            "--node {} selects a node for single-node commands; cluster commands take their nodes as arguments",
            quote::shell(node)
        );
    }
    use cli::ClusterCommand as C;
    match &args.command {
        C::CollectSos(args) => cluster_collect_files(root, FileKind::Sos, args),
        C::CollectCapture(args) => cluster_collect_files(root, FileKind::Bundle, args),
        C::CollectK8s(args) => cluster_collect_k8s(root, args),
        C::CollectMustGather(args) => cluster_collect_must_gather(root, args),
        C::Start(args) => cluster_start(&Workspace::open(root)?, args),
        C::Stop(args) => cluster_stop(&Workspace::open(root)?, args),
        C::Status(args) => cluster_status(&Workspace::open(root)?, args),
        C::Show(args) => cluster_show(&Workspace::open(root)?, args),
        C::Trace(args) => cluster_trace(&Workspace::open(root)?, args),
    }
}

#[derive(Clone, Copy)]
enum FileKind {
    Sos,
    Bundle,
}

/// One capture collected into a staged workdir, before its node is named.
struct Capture {
    /// What it came from, for messages: `the sos report 'a.tar.xz'`.
    from: String,
    /// The node's name when the capture does not give one.
    fallback: Option<String>,
    /// Its node's name when known already (`--name`, or read while collecting).
    name: Option<String>,
    staged: Staged,
    summary: Summary,
}

/// What a collect said, printed (or as JSON) once its node is named.
#[derive(Serialize)]
struct Summary {
    #[serde(skip)]
    source: SourceSystem,
    #[serde(skip)]
    items: Vec<String>,
    #[serde(skip)]
    bridges: Vec<BridgeSummary>,
    #[serde(skip)]
    notes: Vec<String>,
    #[serde(flatten)]
    json: serde_json::Value,
}

impl Summary {
    /// `json` is the collect's own summary, taken before its parts move here.
    fn new(
        json: serde_json::Value,
        source: SourceSystem,
        items: Vec<String>,
        bridges: Vec<BridgeSummary>,
        notes: Vec<String>,
    ) -> Summary {
        Summary { source, items, bridges, notes, json }
    }
}

fn json_of<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or_default()
}

/// What `cluster collect-…` did: the nodes collected, the captures not.
#[derive(Serialize)]
struct ClusterCollected {
    workspace: PathBuf,
    nodes: Vec<CollectedNode>,
    failed: Vec<String>,
}

#[derive(Serialize)]
struct CollectedNode {
    name: String,
    from: String,
    collected: Summary,
}

fn cluster_collect_files(root: &Path, kind: FileKind, args: &cli::ClusterCollectFiles) -> Result<()> {
    let names = names_per_input(&args.name, args.files.len())?;
    let workspace = Workspace::create(root)?;
    let mut staging = Staging::new(&workspace);
    for (file, name) in args.files.iter().zip(names) {
        let from = match kind {
            FileKind::Sos => format!("the sos report {}", quote::path(file)),
            FileKind::Bundle => format!("the capture bundle {}", quote::path(file)),
        };
        staging.collect(from, name, file_stem_name(file), |workdir| {
            let summary = match kind {
                FileKind::Sos => {
                    let c = collect::sos::collect_sos(workdir, file, SosPart::All, false)?;
                    Summary::new(json_of(&c), c.source, c.items, c.bridges, c.notes)
                }
                FileKind::Bundle => {
                    let c = collect::bundle::collect_capture(workdir, file, false)?;
                    Summary::new(json_of(&c), c.source, c.items, c.bridges, c.notes)
                }
            };
            Ok((summary, None))
        });
    }
    staging.finish(args.force, args.json)
}

/// One `--name` per input, or none.
fn names_per_input(names: &[String], inputs: usize) -> Result<Vec<Option<String>>> {
    match names.len() {
        0 => Ok(vec![None; inputs]),
        n if n == inputs => Ok(names.iter().cloned().map(Some).collect()),
        n => bail!("{n} --name given for {inputs} captures: give one --name per capture, in the same order, or none"),
    }
}

fn cluster_collect_k8s(root: &Path, args: &cli::ClusterCollectK8s) -> Result<()> {
    let mut seen = std::collections::BTreeSet::new();
    if let Some(twice) = args.nodes.iter().find(|node| !seen.insert(*node)) {
        bail!("node {} is given twice: give each Kubernetes node once", quote::shell(twice));
    }
    let names = names_per_input(&args.name, args.nodes.len())?;
    let workspace = Workspace::create(root)?;
    let mut staging = Staging::new(&workspace);
    for (node, name) in args.nodes.iter().zip(names) {
        let options = k8s_options(&args.kubectl, node, false);
        let from = format!("Kubernetes node {}", quote::shell(node));
        staging.collect(from, name, Some(node.clone()), |workdir| {
            let c = collect::k8s::collect_k8s(workdir, &options)?;
            let json = json_of(&c);
            let mut items = vec![format!("through {}: {} layout", c.client, c.layout)];
            items.extend(c.node.items);
            Ok((Summary::new(json, c.node.source, items, c.node.bridges, c.node.notes), None))
        });
    }
    staging.finish(args.force, args.json)
}

/// Each sos report gives a node its OVS half; the must-gather's databases
/// of the node of the same name are added to it. Nodes of the must-gather
/// without a report get their OVN half alone.
fn cluster_collect_must_gather(root: &Path, args: &cli::ClusterCollectMustGather) -> Result<()> {
    let workspace = Workspace::create(root)?;
    let pods = must_gather_nodes(&workspace, &args.path)?;
    let mut staging = Staging::new(&workspace);
    let mut joined = std::collections::BTreeSet::new();
    for sos in &args.with_sos {
        let from = format!("the sos report {}", quote::path(sos));
        staging.collect(from, None, None, |workdir| {
            let c = collect::sos::collect_sos(workdir, sos, SosPart::Ovs, false)?;
            let mut summary = Summary::new(json_of(&c), c.source, c.items, c.bridges, c.notes);
            let name = capture_name(workdir)?.or_else(|| file_stem_name(sos));
            match name.as_ref().filter(|n| pods.contains(*n)) {
                Some(node) => {
                    let mg = collect::must_gather::collect_must_gather(workdir, &args.path, Some(node), false)?;
                    if let MustGather::Collected { items, .. } = mg {
                        summary.items.extend(items);
                    }
                    joined.insert(node.clone());
                }
                None => summary.notes.push("the must-gather has no OVN databases of this node: OVS half only".into()),
            }
            Ok((summary, name))
        });
    }
    for node in pods.iter().filter(|n| !joined.contains(*n)) {
        let from = format!("node {} of the must-gather {}", quote::shell(node), quote::path(&args.path));
        staging.collect(from, Some(node.clone()), None, |workdir| {
            let mg = collect::must_gather::collect_must_gather(workdir, &args.path, Some(node), false)?;
            let mut summary = Summary::new(json_of(&mg), SourceSystem::default(), vec![], vec![], vec![]);
            if let MustGather::Collected { items, notes, .. } = mg {
                summary.items = items;
                summary.notes = notes;
            }
            let only = "no sos report given for this node: OVN half only (no OVS database, no OpenFlow state)";
            summary.notes.push(only.into());
            Ok((summary, None))
        });
    }
    staging.finish(args.force, args.json)
}

/// Captures collected one by one, each into a staging workdir of its own,
/// and those that failed (one line each, naming what they came from).
struct Staging<'w> {
    workspace: &'w Workspace,
    captures: Vec<Capture>,
    failed: Vec<String>,
}

impl<'w> Staging<'w> {
    fn new(workspace: &'w Workspace) -> Staging<'w> {
        Staging { workspace, captures: Vec::new(), failed: Vec::new() }
    }

    /// Collects one capture with `collect`, which says what it collected
    /// and, when it learnt it, the node's name (`name` wins: `--name`).
    fn collect(
        &mut self,
        from: String,
        name: Option<String>,
        fallback: Option<String>,
        collect: impl FnOnce(&Workdir) -> Result<(Summary, Option<String>)>,
    ) {
        let collected = self.workspace.stage().map_err(anyhow::Error::from).and_then(|staged| {
            let (summary, found) = collect(&staged.workdir)?;
            Ok(Capture { from: from.clone(), fallback, name: name.or(found), staged, summary })
        });
        match collected {
            Ok(capture) => self.captures.push(capture),
            Err(e) => self.failed.push(format!("{from}: {}", crate::one_line(&e, false))),
        }
    }

    fn finish(self, force: bool, json: bool) -> Result<()> {
        finish_cluster_collect(self.workspace, self.captures, self.failed, force, json)
    }
}

/// The node names whose OVN databases an interconnect must-gather holds.
fn must_gather_nodes(workspace: &Workspace, path: &Path) -> Result<std::collections::BTreeSet<String>> {
    let scratch = workspace.stage()?;
    let listed = collect::must_gather::collect_must_gather(&scratch.workdir, path, None, false)?;
    let pods = match listed {
        MustGather::Listed { pods, .. } => pods,
        MustGather::Collected { pod: Some(pod), .. } => vec![pod],
        MustGather::Collected { pod: None, .. } => bail!(
            "the must-gather {} holds the central OVN databases (legacy layout), not per-node ones; collect the nodes \
             with 'ovs-offline -W {} cluster collect-sos SOSREPORT…' and the central databases with \
             'ovs-offline -w DIR collect-must-gather'",
            quote::path(path),
            quote::path(workspace.root())
        ),
    };
    Ok(pods.into_iter().filter_map(|p| p.node).collect())
}

/// Names each staged capture, refuses names two captures share, moves
/// the rest into place and reports; fails when any capture was not
/// collected (the others stay).
fn finish_cluster_collect(
    workspace: &Workspace,
    captures: Vec<Capture>,
    mut failed: Vec<String>,
    force: bool,
    json: bool,
) -> Result<()> {
    let mut named: BTreeMap<String, Vec<Capture>> = BTreeMap::new();
    for capture in captures {
        let name = match &capture.name {
            Some(name) => Some(name.clone()),
            None => capture_name(&capture.staged.workdir)?.or_else(|| capture.fallback.clone()),
        };
        match name {
            Some(name) => named.entry(name).or_default().push(capture),
            None => failed.push(format!("{}: it names no host; give its node a name with --name NAME", capture.from)),
        }
    }
    let mut nodes = Vec::new();
    for (name, mut same) in named {
        if same.len() > 1 {
            let froms: Vec<&str> = same.iter().map(|c| c.from.as_str()).collect();
            failed.push(format!(
                "{} name the same node {}: none collected; give each its own name with --name (one per capture, in order)",
                froms.join(" and "),
                quote::shell(&name)
            ));
            continue;
        }
        let Some(capture) = same.pop() else { continue };
        match workspace.adopt(capture.staged, &name, force) {
            Ok(_) => nodes.push(CollectedNode { name, from: capture.from, collected: capture.summary }),
            Err(e) => failed.push(format!("{}: {}", capture.from, crate::one_line(&e.into(), false))),
        }
    }
    warn_older_nodes(&nodes);
    let report = ClusterCollected { workspace: workspace.root().to_path_buf(), nodes, failed };
    emit(json, &report, || print_cluster_collected(workspace, &report))?;
    fail_with(&report.failed)
}

/// [`warn_older`] for the nodes collected: each warning once, naming the
/// nodes it holds for.
fn warn_older_nodes(nodes: &[CollectedNode]) {
    let mut warnings: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for node in nodes {
        for warning in report::older_locally(&node.collected.source) {
            warnings.entry(warning).or_default().push(quote::shell(&node.name));
        }
    }
    for (warning, names) in warnings {
        let nodes = if names.len() == 1 { "node" } else { "nodes" };
        tell!("warning: {nodes} {}: {warning}", names.join(", "));
    }
}

fn print_cluster_collected(workspace: &Workspace, report: &ClusterCollected) {
    let w = quote::path(workspace.root());
    for node in &report.nodes {
        let c = &node.collected;
        inform!("Node {}, from {}:", quote::shell(&node.name), node.from);
        print_collected(&c.source, &c.items, &c.bridges, &c.notes);
    }
    let Some(first) = report.nodes.first().map(|n| quote::shell(&n.name)) else { return };
    let total = workspace.nodes().map(|n| n.len()).unwrap_or(0);
    inform!(
        "Offline OVS Debugging: nodes collected: {} into the workspace {w} (nodes there: {total})",
        report.nodes.len()
    );
    inform!(
        "Start a node with: ovs-offline -W {w} --node {first} start, or trace across nodes with: \
         ovs-offline -W {w} cluster trace --node {first} BRIDGE FLOW"
    );
}

/// The nodes named, or all.
fn chosen_nodes(workspace: &Workspace, names: &[String]) -> Result<Vec<Node>> {
    if names.is_empty() {
        return Ok(workspace.nodes()?);
    }
    Ok(names.iter().map(|name| workspace.node(name)).collect::<Result<_, _>>()?)
}

/// Starts each node's replica that does not run; a node that cannot start
/// is one line, and the others are still started.
fn cluster_start(workspace: &Workspace, args: &cli::ClusterStart) -> Result<()> {
    let nodes = chosen_nodes(workspace, &args.nodes)?;
    let w = quote::path(workspace.root());
    let mut started = 0;
    let mut failed = Vec::new();
    for node in &nodes {
        let starting = Spinner::new(&format!("starting the replica of {}", quote::shell(&node.name)));
        let ran = workspace.ensure_running(node);
        drop(starting);
        match ran {
            Ok(true) => {
                started += 1;
                inform!("{}", capitalised(&node.started_note()));
            }
            Ok(false) => inform!("The replica of {} already runs", quote::shell(&node.name)),
            Err(e) => failed.push(crate::one_line(&e.into(), false)),
        }
    }
    inform!("Offline OVS Debugging: replicas started: {started} in the workspace {w}");
    inform!("See them with: ovs-offline -W {w} cluster status; stop them with: ovs-offline -W {w} cluster stop");
    fail_with(&failed)
}

/// Fails with the last line when there are failures, the others printed
/// before it as errors of their own.
fn fail_with(failed: &[String]) -> Result<()> {
    let Some((last, others)) = failed.split_last() else { return Ok(()) };
    for line in others {
        tell!("ovs-offline: error: {line}");
    }
    bail!("{last}")
}

fn capitalised(line: &str) -> String {
    let mut chars = line.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

fn cluster_stop(workspace: &Workspace, args: &cli::ClusterStop) -> Result<()> {
    let w = quote::path(workspace.root());
    let nodes = chosen_nodes(workspace, &args.nodes)?;
    if let Some(node) = nodes.iter().find(|n| activate::is_active_here(&n.workdir)) {
        bail!(
            "this shell has the replica of {} activated; run 'deactivate' (or 'ovs-offline-deactivate') first",
            quote::shell(&node.name)
        );
    }
    let mut stopped = 0;
    for node in &nodes {
        if let Stopped::Running { .. } = replica::stop(&node.workdir)? {
            stopped += 1;
            inform!("Stopped the replica of {}", quote::shell(&node.name));
        }
    }
    if args.purge {
        workspace.purge()?;
        inform!("Offline OVS Debugging: replicas stopped: {stopped}; removed the workspace {w}");
        return Ok(());
    }
    inform!("Offline OVS Debugging: replicas stopped: {stopped}; collected data kept in {w}");
    Ok(())
}

fn cluster_status(workspace: &Workspace, args: &cli::JsonFlag) -> Result<()> {
    let status = ClusterStatus::gather(workspace)?;
    emit(args.json, &status, || print_cluster_status(workspace, &status))
}

fn print_cluster_status(workspace: &Workspace, status: &ClusterStatus) {
    let w = quote::path(workspace.root());
    if status.nodes.is_empty() {
        say!("The workspace {w} holds no node yet");
        return;
    }
    let rows: Vec<[String; 5]> = status.nodes.iter().map(node_row).collect();
    let header = ["NODE", "HOLDS", "ENCAP IP", "REPLICA", "MEMORY"].map(String::from);
    let widths: Vec<usize> =
        (0..5).map(|i| rows.iter().chain([&header]).map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    let line = |r: &[String; 5]| {
        let cells: Vec<String> = r.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        cells.join("  ").trim_end().to_string()
    };
    say!("{}", line(&header));
    for row in &rows {
        say!("{}", line(row));
    }
    say!(
        "nodes: {}, running: {}, memory of their replicas: {} resident (PSS {})",
        status.nodes.len(),
        status.running,
        memory_text(status.memory_kib),
        memory_text(status.memory_pss_kib)
    );
    if status.running == 0 {
        inform!("Start one with: ovs-offline -W {w} --node NAME start (trace, ports and exec start it on demand)");
    }
}

fn node_row(node: &NodeStatus) -> [String; 5] {
    let mut holds: Vec<String> = node
        .databases
        .iter()
        .map(|kind| match kind {
            DbKind::Ovs => "OVS DB".to_string(),
            DbKind::OvnNb => "NB".to_string(),
            DbKind::OvnSb => "SB".to_string(),
        })
        .collect();
    if node.flow_files > 0 {
        holds.push(match node.flows_restored {
            Some(n) => format!("{n} flows"),
            None => format!("flows ({} files)", node.flow_files),
        });
    }
    let replica = match (node.running, node.processes) {
        (true, Some(n)) => format!("running ({n} processes)"),
        (true, None) => "running".to_string(),
        (false, _) => "stopped".to_string(),
    };
    [
        quote::shell(&node.name),
        if holds.is_empty() { "nothing".into() } else { holds.join(", ") },
        node.encap_ip.as_deref().map_or("-".to_string(), quote::shell),
        replica,
        match (node.memory_kib, node.memory_pss_kib) {
            (Some(rss), Some(pss)) => format!("{} (PSS {})", memory_text(rss), memory_text(pss)),
            (Some(rss), None) => memory_text(rss),
            (None, _) => "-".to_string(),
        },
    ]
}

/// `12.3 MiB`.
fn memory_text(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn cluster_show(workspace: &Workspace, args: &cli::JsonFlag) -> Result<()> {
    let mut shown = BTreeMap::new();
    for node in workspace.nodes()? {
        if node.workdir.is_running()? {
            shown.insert(node.name, Show::gather(&node.workdir)?);
        }
    }
    emit(args.json, &shown, || {
        if shown.is_empty() {
            say!("No replica runs in the workspace {}", quote::path(workspace.root()));
        }
        for (name, show) in &shown {
            say!("Node {}:", quote::shell(name));
            say!("{}\n", show.text().trim_end());
        }
    })
}

/// `cluster trace`: the stitched trace on stdout (text or JSON); the
/// replicas it started, and why a hop is not annotated, on stderr.
fn cluster_trace(workspace: &Workspace, args: &cli::ClusterTrace) -> Result<()> {
    let (mut notes, mut started) = (Vec::new(), Vec::new());
    let flow = match (&args.packet.pcap, &args.flow) {
        (Some(pcap), _) => packet_as_flow(workspace, args, pcap, &mut notes, &mut started)?,
        (None, Some(flow)) => flow.clone(),
        (None, None) => bail!("give a flow to trace, or a capture with --pcap FILE"),
    };
    notes.extend(trace::ttl_note(&flow).map(str::to_string));
    let request = ovs_offline::cluster::trace::Request {
        node: args.node.clone(),
        bridge: args.bridge.clone(),
        flow,
        dp_hash: args.dp_hash,
        ct_next: args.ct_next.clone(),
        detrace: !args.no_detrace,
    };
    let stitched = ovs_offline::cluster::trace::trace(workspace, &request)?;
    if args.json {
        say!("{}", serde_json::to_string_pretty(&stitched)?);
    } else {
        say!("{}", stitched.text());
    }
    started.extend(stitched.started.iter().cloned());
    for node in &started {
        tell!(
            "note: started the replica of {} (stop it with 'ovs-offline -W {} cluster stop {}')",
            quote::shell(node),
            quote::path(workspace.root()),
            quote::shell(node)
        );
    }
    let detrace: std::collections::BTreeSet<String> =
        stitched.hops.iter().filter_map(|h| detrace_note(&h.detrace)).collect();
    for note in notes.into_iter().chain(detrace) {
        tell!("note: {note}");
    }
    Ok(())
}

/// The flow of a captured frame as its first node reads it: the frame is
/// traced there once (its replica started first when it does not run), and
/// the `Flow:` line OVS printed (every header field of the packet) is what
/// the cross-node trace follows. The node is added to `started` when this
/// started its replica.
fn packet_as_flow(
    workspace: &Workspace,
    args: &cli::ClusterTrace,
    pcap: &Path,
    notes: &mut Vec<String>,
    started: &mut Vec<String>,
) -> Result<String> {
    let node = workspace.node(&args.node)?;
    if workspace.ensure_running(&node)? {
        started.push(node.name.clone());
    }
    let running = trace::Running::of(&node.workdir)?;
    let (metadata, frame, note) = super::captured_packet(&running, &args.bridge, pcap, &args.packet)?;
    notes.extend(note);
    let request =
        trace::Request { bridge: args.bridge.clone(), flow: metadata, packet: Some(frame), ..Default::default() };
    let traced = trace::trace(&running, &request)?;
    let flow = traced.trace.passes.first().and_then(|pass| pass.flow.clone());
    let flow = flow.with_context(|| {
        format!("ofproto/trace printed no Flow: line for frame {} of {}", args.packet.frame, quote::path(pcap))
    })?;
    notes.push(format!("frame {} of {} traced as the flow {flow}", args.packet.frame, quote::path(pcap)));
    Ok(flow)
}
