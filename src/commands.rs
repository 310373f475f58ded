//! One function per subcommand: call into the library, print what happened
//! and what to run next. Work comes first, printing after (a closed stdout
//! never skips work, see [`crate::output`]); every path and collected name
//! is printed quoted ([`ovs_offline::quote`]), every note as one bounded
//! line.

use crate::cli;
use crate::output::{inform, say, tell};
use anyhow::{bail, Context, Result};
use ovs_offline::capture::manifest::Manifest;
use ovs_offline::capture::DbKind;
use ovs_offline::capture::SourceSystem;
use ovs_offline::cluster::status::{ClusterStatus, NodeStatus};
use ovs_offline::cluster::workspace::{capture_name, file_stem_name, Node, Staged, Workspace};
use ovs_offline::collect::flows::BridgeSummary;
use ovs_offline::collect::must_gather::{self, Layout, MustGather};
use ovs_offline::collect::sos::SosPart;
use ovs_offline::progress::Spinner;
use ovs_offline::quote::{self, note};
use ovs_offline::replay::ReplayReport;
use ovs_offline::replica::{self, RootChoice, StartOptions, Stopped};
use ovs_offline::report::{self, Show, Status};
use ovs_offline::state::PreparedDb;
use ovs_offline::workdir::Workdir;
use ovs_offline::{activate, collect, trace};
use serde::Serialize;
use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub fn collect_db(workdir: &Workdir, kind: DbKind, args: &cli::CollectDb) -> Result<()> {
    let db = collect::db::collect_db(workdir, kind, &args.file, args.force)?;
    for n in &db.notes {
        tell!("warning: {}: {}", db.source, note(n));
    }
    emit(args.json, &db, || {
        let layout = if db.clustered { "clustered" } else { "standalone" };
        inform!("Collected {} {} ({layout}) from {}", note(&db.schema), note(&db.version), db.source);
        inform!(
            "Offline OVS Debugging: {} data collected and stored in {}",
            data_label(kind),
            quote::path(workdir.root())
        );
    })
}

pub fn collect_flows(workdir: &Workdir, args: &cli::CollectFlows) -> Result<()> {
    let collected = collect::flows::collect_flows(workdir, &args.path, args.force)?;
    emit(args.json, &collected, || {
        print_bridges(&collected.bridges);
        for n in &collected.notes {
            inform!("note: {}", note(n));
        }
        inform!(
            "Offline OVS Debugging: OpenFlow state ({} files) collected and stored in {}",
            collected.files,
            quote::path(&workdir.restore_flows_dir())
        );
    })
}

pub fn collect_sos(workdir: &Workdir, part: SosPart, args: &cli::CollectSos) -> Result<()> {
    let collected = collect::sos::collect_sos(workdir, &args.sos, part, args.force)?;
    warn_older(&collected.source);
    emit(args.json, &collected, || {
        inform!("From the sos report {}:", quote::path(&collected.archive));
        print_collected(&collected.source, &collected.items, &collected.bridges, &collected.notes);
        let label = match part {
            SosPart::Ovs => "OVS",
            SosPart::Ovn => "OVN",
            SosPart::All => "OVS/OVN",
        };
        inform!("Offline OVS Debugging: {label} data collected and stored in {}", quote::path(workdir.root()));
    })
}

pub fn collect_must_gather(workdir: &Workdir, args: &cli::CollectMustGather) -> Result<()> {
    let collected = collect::must_gather::collect_must_gather(workdir, &args.path, args.node.as_deref(), args.force)?;
    emit(args.json, &collected, || print_must_gather(workdir, &collected))
}

/// What `collect-must-gather` did: the nodes it holds, or what it took.
fn print_must_gather(workdir: &Workdir, collected: &MustGather) {
    let w = quote::path(workdir.root());
    match collected {
        MustGather::Listed { archive, pods } => {
            let archive = quote::path(archive);
            say!("The must-gather {archive} holds the OVN databases of {} nodes (interconnect):", pods.len());
            for pod in pods {
                let kinds: Vec<&str> = pod.kinds.iter().map(|k| k.schema_name()).collect();
                say!("  {}: {}", pod.label(), kinds.join(", "));
            }
            inform!("Nothing collected. Collect one node's databases with: ovs-offline -w {w} collect-must-gather {archive} --node NODE");
            inform!("note: {}", must_gather::ovs_half_note());
        }
        MustGather::Collected { archive, layout, pod, items, notes } => {
            let from = match (layout, pod) {
                (Layout::Interconnect, Some(pod)) => format!("interconnect, node {}", pod.label()),
                (Layout::Interconnect, None) => "interconnect".to_string(),
                (Layout::Legacy, _) => "legacy, the RAFT leader's databases".to_string(),
            };
            inform!("From the must-gather {} ({from}):", quote::path(archive));
            for item in items {
                inform!("  {item}");
            }
            for n in notes {
                inform!("note: {}", note(n));
            }
            inform!("Offline OVS Debugging: OVN data collected and stored in {w}");
            let node = pod.as_ref().and_then(|p| p.node.as_deref()).map_or("NODE".to_string(), quote::shell);
            inform!(
                "Add that node's OVS half with: ovs-offline -w {w} collect-sos-ovs SOSREPORT (or collect-k8s {node})"
            );
        }
    }
}

pub fn collect_capture(workdir: &Workdir, args: &cli::CollectCapture) -> Result<()> {
    let imported = collect::bundle::collect_capture(workdir, &args.file, args.force)?;
    warn_older(&imported.source);
    emit(args.json, &imported, || {
        inform!(
            "From the capture bundle {} (made by ovs-offline {} at {}), checksums verified:",
            quote::path(&imported.bundle),
            imported.made_by,
            imported.created_at
        );
        print_collected(&imported.source, &imported.items, &imported.bridges, &imported.notes);
        inform!("Offline OVS Debugging: captured data collected and stored in {}", quote::path(workdir.root()));
    })
}

/// collect-k8s's options for `node` from the command line's.
fn k8s_options(kubectl: &cli::KubectlArgs, node: &str, force: bool) -> collect::k8s::K8sOptions {
    collect::k8s::K8sOptions {
        node: node.to_string(),
        openshift: kubectl.openshift,
        kubeconfig: kubectl.kubeconfig.clone(),
        context: kubectl.context.clone(),
        namespace: kubectl.namespace.clone(),
        idle_timeout: Duration::from_secs(kubectl.idle_timeout),
        force,
    }
}

pub fn collect_k8s(workdir: &Workdir, args: &cli::CollectK8s) -> Result<()> {
    let options = k8s_options(&args.kubectl, &args.node, args.force);
    let collected = collect::k8s::collect_k8s(workdir, &options)?;
    warn_older(&collected.node.source);
    emit(args.json, &collected, || {
        inform!("Node {} (through {}): {} layout", quote::shell(&args.node), collected.client, collected.layout);
        for source in &collected.sources {
            inform!("  {source}");
        }
        let node = &collected.node;
        print_collected(&node.source, &node.items, &node.bridges, &node.notes);
        inform!("Offline OVS Debugging: OVS/OVN data collected and stored in {}", quote::path(workdir.root()));
        inform!("Start the replica with: ovs-offline -w {} start", quote::path(workdir.root()));
    })
}

pub fn collect_local(args: &cli::CollectLocal) -> Result<()> {
    let options = collect::local::LocalOptions {
        ovs_rundir: args.ovs_rundir.clone(),
        ovn_rundir: args.ovn_rundir.clone(),
        nb: args.nb_db.clone(),
        sb: args.sb_db.clone(),
    };
    let collected = collect::local::collect_local(&options, &args.output)?;
    warn_older(&collected.node.source);
    emit(args.json, &collected, || {
        inform!("This host, read through its sockets:");
        let node = &collected.node;
        print_collected(&node.source, &node.items, &node.bridges, &node.notes);
        for n in &collected.skipped {
            inform!("note: {n}");
        }
        let bundle = quote::path(&collected.bundle);
        inform!("Offline OVS Debugging: capture written to {bundle}");
        inform!("Copy it to the analysis machine and run there: ovs-offline -w WORKDIR collect-capture {bundle}");
    })
}

/// `--json` prints `value` as JSON (data); else `text` prints it for
/// people (left out with `--quiet`, see [`crate::output`]).
fn emit<T: Serialize>(json: bool, value: &T, text: impl FnOnce()) -> Result<()> {
    if json {
        say!("{}", serde_json::to_string_pretty(value)?);
    } else {
        text();
    }
    Ok(())
}

/// Warns when the tools here are older than the source system's.
fn warn_older(source: &SourceSystem) {
    for warning in report::older_locally(source) {
        tell!("warning: {warning}");
    }
}

/// What a collect gave: the source system, one line per item, the
/// bridges, the notes.
fn print_collected(source: &SourceSystem, items: &[String], bridges: &[BridgeSummary], notes: &[String]) {
    let line = report::source_system_line(source);
    if !line.is_empty() {
        inform!("  source: {line}");
    }
    for item in items {
        inform!("  {item}");
    }
    print_bridges(bridges);
    for n in notes {
        inform!("note: {}", note(n));
    }
}

/// One line per bridge: what its dumps hold (and, from an sos report,
/// which member supplied each).
fn print_bridges(bridges: &[collect::flows::BridgeSummary]) {
    for b in bridges {
        let mut parts = Vec::new();
        if let Some(n) = b.flows {
            parts.push(format!("{n} flows"));
        }
        if let Some(n) = b.groups {
            parts.push(format!("{n} groups"));
        }
        if b.meters {
            parts.push("meters".to_string());
        }
        if b.tlv_map {
            parts.push("TLV map".to_string());
        }
        // An empty MAC table (a bridge without NORMAL) is not worth a word.
        if let Some(n) = b.fdb.filter(|&n| n > 0) {
            parts.push(format!("{n} MAC table entries"));
        }
        if b.is_empty() {
            parts.push("no dumps (see the notes below)".to_string());
        }
        let version = b.version.as_deref().map(|v| format!(" ({})", note(v))).unwrap_or_default();
        inform!("{}{version}: {}", quote::shell(&b.bridge), parts.join(", "));
        if !b.members.is_empty() {
            inform!("  restores {}", b.members.join("; "));
        }
    }
}

fn data_label(kind: DbKind) -> &'static str {
    match kind {
        DbKind::Ovs => "OVS",
        DbKind::OvnNb | DbKind::OvnSb => "OVN",
    }
}

/// What `start` reports: the databases served (and what preparation
/// changed), the replica's sockets, and the OpenFlow state restored.
#[derive(Serialize)]
struct StartReport {
    databases: Vec<PreparedDb>,
    /// OpenFlow state is collected but waits for an OVS database.
    flows_waiting: bool,
    replica: Show,
    restored: Option<ReplayReport>,
    /// Why the OpenFlow state was not restored, when it was not.
    restore_error: Option<String>,
    /// Bridges whose dumps the capture knows to be cut (sos --log-size).
    incomplete: BTreeMap<String, String>,
}

pub fn start(workdir: &Workdir, args: &cli::Start) -> Result<()> {
    let ovs_root = match (&args.ovs_root, args.no_ovs_root) {
        (Some(dir), _) => RootChoice::Set(dir.clone()),
        (None, true) => RootChoice::Local,
        (None, false) => RootChoice::Remembered,
    };
    let starting = Spinner::new("preparing the databases and starting the daemons");
    let started = replica::start(workdir, &StartOptions { timeout: Duration::from_secs(args.timeout), ovs_root })?;
    drop(starting);
    // The supervisor replays the OpenFlow state; wait for its report.
    let restoring = Spinner::new("restoring the OpenFlow state");
    let finished = started.finish(workdir)?;
    drop(restoring);
    let unrestored: Vec<String> = finished.unrestored_bridges().into_iter().map(quote::shell).collect();
    let has_ovs_db = finished.dbs.iter().any(|d| d.kind == DbKind::Ovs);
    let flows = Manifest::load(workdir)?.flows;
    let report = StartReport {
        databases: finished.dbs,
        flows_waiting: !has_ovs_db && flows.is_some(),
        replica: Show::gather(workdir)?,
        restored: finished.restored,
        restore_error: finished.restore_error,
        incomplete: flows.map(|f| f.incomplete).unwrap_or_default(),
    };
    emit(args.json, &report, || print_start(workdir, &report))?;
    check_start(workdir, &report, &unrestored)
}

fn print_start(workdir: &Workdir, report: &StartReport) {
    for db in &report.databases {
        for change in &db.changes {
            inform!("{} database: {}", db.kind, note(change));
        }
    }
    if report.flows_waiting {
        inform!("note: OpenFlow state is collected but no OVS database: it is restored once 'collect-db-ovs' adds one");
    }
    inform!("Offline OVS Debugging started");
    inform!("******************************");
    inform!("{}", report.replica.text().trim_end());
    if let Some(replay) = &report.restored {
        print_replay(workdir, replay, &report.incomplete);
    }
    inform!("Stop it with: ovs-offline -w {} stop", quote::path(workdir.root()));
}

/// `__replay`: the supervisor's flow replay helper.
pub fn replay(workdir: &Workdir) -> Result<()> {
    Ok(replica::restore::run_helper(workdir)?)
}

/// Prints what flow replay restored.
fn print_replay(workdir: &Workdir, replay: &ReplayReport, incomplete: &BTreeMap<String, String>) {
    if replay.bridges.is_empty() && replay.notes.is_empty() {
        return;
    }
    inform!("* OpenFlow state restored from {}:", quote::path(&workdir.restore_flows_dir()));
    for bridge in &replay.bridges {
        for line in report::restore_lines(workdir, bridge, incomplete) {
            inform!("{line}");
        }
        for n in &bridge.notes {
            inform!("  note: {n}");
        }
    }
    for n in &replay.notes {
        inform!("note: {n}");
    }
}

/// Fails when the OpenFlow state was not restored, or a bridge with dumped
/// flows got none; warns of incomplete captures and refused entries.
fn check_start(workdir: &Workdir, report: &StartReport, empty: &[String]) -> Result<()> {
    if let Some(e) = &report.restore_error {
        bail!("OpenFlow state not restored (the replica runs without it): {e}");
    }
    let Some(replay) = report.restored.as_ref().filter(|r| !r.bridges.is_empty() || !r.notes.is_empty()) else {
        return Ok(());
    };
    let rejected: usize = replay.bridges.iter().map(|b| b.rejected).sum();
    if !empty.is_empty() {
        bail!(
            "OpenFlow state not restored on {} (the replica keeps running; see the lines above and {})",
            empty.join(", "),
            quote::path(&workdir.log_dir())
        );
    }
    if !report.incomplete.is_empty() {
        let names: Vec<String> = report.incomplete.keys().map(|b| quote::shell(b)).collect();
        tell!(
            "warning: the capture of {} is incomplete (see the lines above): traces may miss flows",
            names.join(", ")
        );
    }
    if rejected > 0 {
        tell!("warning: {rejected} OpenFlow entries were not restored; each is listed with OVS's error in the log named above");
    }
    Ok(())
}

pub fn stop(workdir: &Workdir, args: &cli::Stop) -> Result<()> {
    let w = quote::path(workdir.root());
    if activate::is_active_here(workdir) {
        bail!("this shell has the replica in {w} activated; run 'deactivate' (or 'ovs-offline-deactivate') first");
    }
    // Checked before stopping, which may leave lock files behind.
    let purge = args.purge && workdir.exists();
    if purge && !workdir.is_workdir() {
        return Err(ovs_offline::workdir::WorkdirError::NotAWorkdir(workdir.root().to_path_buf()).into());
    }
    let stopped = replica::stop(workdir)?;
    if purge {
        workdir.purge()?;
    }
    match stopped {
        Stopped::Running { restore_interrupted } => {
            inform!("Offline OVS Debugging stopped");
            inform!("*****************************");
            if restore_interrupted {
                inform!("Its OpenFlow state was still being restored: the restore was interrupted");
            }
        }
        Stopped::Stale => inform!(
            "The replica in {w} had already stopped (its supervisor ended; see {}); removed its runtime files",
            quote::path(&workdir.log_file("supervisor"))
        ),
        Stopped::NotRunning => inform!("No replica running in {w}"),
    }
    if purge {
        inform!("Removed {w}");
    } else if matches!(stopped, Stopped::Running { .. }) {
        inform!("Collected data kept in {w} (remove it with 'ovs-offline -w {w} stop --purge')");
    }
    Ok(())
}

pub fn show(workdir: &Workdir, args: &cli::JsonFlag) -> Result<()> {
    let show = Show::gather(workdir)?;
    emit(args.json, &show, || say!("{}", show.text().trim_end()))
}

pub fn status(workdir: &Workdir, args: &cli::JsonFlag) -> Result<()> {
    let status = Status::gather(workdir)?;
    emit(args.json, &status, || say!("{}", status.text(workdir).trim_end()))
}

/// Audits the capture; exit code 1 when something was found.
pub fn audit(workdir: &Workdir, args: &cli::Audit) -> Result<std::process::ExitCode> {
    let inputs = ovs_offline::audit::gather(workdir)?;
    let report = ovs_offline::audit::run(&inputs, &args.checks)?;
    emit(args.json, &report, || say!("{}", report.text().trim_end()))?;
    if report.found_something() && !args.json {
        let w = quote::path(workdir.root());
        let look = "ovn-sbctl lflow-list, ovs-ofctl dump-flows br-int";
        if workdir.is_running().unwrap_or(false) {
            let activate = quote::path(&workdir.activate_script());
            inform!("\nLook closer in the running replica: source {activate}; then {look}");
        } else {
            inform!("\nStart the replica to look closer: ovs-offline -w {w} start; then {look}");
        }
    }
    Ok(if report.found_something() { std::process::ExitCode::FAILURE } else { std::process::ExitCode::SUCCESS })
}

/// `completion SHELL`: the completion script, on stdout.
pub fn completion(args: &cli::Completion) {
    let mut script = Vec::new();
    crate::manual::completion(args.shell, &mut script);
    say!("{}", String::from_utf8_lossy(&script).trim_end());
}

/// `man`: the man page (roff), on stdout.
pub fn man() -> Result<()> {
    let mut page = Vec::new();
    crate::manual::render(&mut page)?;
    say!("{}", String::from_utf8_lossy(&page).trim_end());
    Ok(())
}

/// Replaces this process with the command, in the replica's environment.
pub fn exec(workdir: &Workdir, args: &cli::Exec) -> Result<()> {
    if !workdir.exists() || !workdir.is_running()? {
        let w = quote::path(workdir.root());
        bail!("no replica running in {w}; start it with 'ovs-offline -w {w} start'");
    }
    let (program, rest) = args.command.split_first().context("no command given")?;
    let err = Command::new(program).args(rest).envs(activate::environment(workdir)).exec();
    Err(err).with_context(|| format!("cannot run {}", quote::path(std::path::Path::new(program))))
}

pub fn launch(args: &cli::Launch) -> Result<()> {
    let (program, rest) = args.command.split_first().context("no command given")?;
    Ok(ovs_offline::supervisor::launch::launch(&args.pidfile, args.pid_arg.as_deref(), program, rest)?)
}

/// `trace`: the trace (annotated when it can be) on stdout, what it could
/// not do and how to read its datapath ports on stderr.
pub fn trace(workdir: &Workdir, args: &cli::Trace) -> Result<()> {
    let running = trace::Running::of(workdir)?;
    let mut request = trace::Request {
        bridge: args.bridge.clone(),
        ct_next: args.ct_next.clone(),
        detrace: !args.no_detrace,
        ..Default::default()
    };
    let mut frame_note = None;
    match (&args.pcap, &args.flow) {
        (Some(pcap), _) => {
            let frame_number = usize::try_from(args.frame).unwrap_or(usize::MAX);
            let frame = trace::pcap::read_frame(pcap, frame_number)?;
            request.flow = trace::packet_flow(&running, &args.bridge, &frame, args.in_port.as_deref())?;
            frame_note = frame.truncated().then(|| {
                format!(
                    "frame {} of {} was captured cut to {} of its {} bytes: the trace sees only those",
                    args.frame,
                    quote::path(pcap),
                    frame.data.len(),
                    frame.original_len
                )
            });
            request.packet = Some(frame.data);
        }
        (None, Some(flow)) => request.flow = flow.clone(),
        (None, None) => bail!("give a flow to trace, or a capture with --pcap FILE"),
    }
    let traced = trace::trace(&running, &request)?;
    if args.json {
        say!("{}", serde_json::to_string_pretty(&traced)?);
    } else {
        say!("{}", traced.annotated.as_deref().unwrap_or(&traced.text).trim_end());
    }
    let ttl_note = args.flow.as_deref().and_then(trace::ttl_note).map(str::to_string);
    for n in frame_note.iter().chain(ttl_note.iter()).chain(detrace_note(&traced.detrace).iter()) {
        tell!("note: {n}");
    }
    if !traced.datapath_ports.is_empty() {
        let ports: Vec<String> = traced.datapath_ports.iter().map(datapath_port_text).collect();
        tell!(
            "note: datapath actions name the replica's datapath ports ({}); 'ovs-offline ports' maps them",
            ports.join(", ")
        );
    }
    Ok(())
}

/// `2 = vif2 (production 5)`.
fn datapath_port_text(port: &trace::ports::DatapathPort) -> String {
    let name = port.name.as_deref().map_or("no port".to_string(), quote::shell);
    let production = port.production.map(|n| format!(" (production {n})")).unwrap_or_default();
    format!("{} = {name}{production}", port.replica)
}

/// `cluster trace`: the stitched trace on stdout (text or JSON); the
/// replicas it started, and why a hop is not annotated, on stderr.
fn cluster_trace(workspace: &Workspace, args: &cli::ClusterTrace) -> Result<()> {
    let request = ovs_offline::cluster::trace::Request {
        node: args.node.clone(),
        bridge: args.bridge.clone(),
        flow: args.flow.clone(),
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
    for node in &stitched.started {
        tell!(
            "note: started the replica of {} (stop it with 'ovs-offline -W {} cluster stop {}')",
            quote::shell(node),
            quote::path(workspace.root()),
            quote::shell(node)
        );
    }
    if let Some(note) = trace::ttl_note(&args.flow) {
        tell!("note: {note}");
    }
    let notes: std::collections::BTreeSet<String> =
        stitched.hops.iter().filter_map(|h| detrace_note(&h.detrace)).collect();
    for note in notes {
        tell!("note: {note}");
    }
    Ok(())
}

/// Why the trace is not annotated, when the user can change that.
fn detrace_note(detrace: &trace::Detrace) -> Option<String> {
    match detrace {
        trace::Detrace::Annotated | trace::Detrace::NotAsked => None,
        trace::Detrace::NoOvnDatabases => Some(
            "no OVN NB and SB databases in the replica: cookies are not annotated with logical flows \
             (collect them with collect-db-ovn-nb and collect-db-ovn-sb, or collect-sos-ovn)"
                .into(),
        ),
        trace::Detrace::NotInstalled => {
            Some(format!("ovn-detrace is not installed: cookies are not annotated; {}", trace::DETRACE_PACKAGES))
        }
        trace::Detrace::Failed(reason) => Some(format!("ovn-detrace failed ({reason}): the plain trace is printed")),
    }
}

/// `ports`: one table per bridge.
pub fn ports(workdir: &Workdir, args: &cli::Ports) -> Result<()> {
    let running = trace::Running::of(workdir)?;
    let ports = trace::ports::ports(&running, args.bridge.as_deref())?;
    if args.json {
        say!("{}", serde_json::to_string_pretty(&ports)?);
        return Ok(());
    }
    let number = |n: Option<u32>| n.map_or("-".to_string(), |n| n.to_string());
    let rows: Vec<[String; 6]> = ports
        .iter()
        .map(|p| {
            let collected = if p.collected_type.is_empty() { "system" } else { &p.collected_type };
            [
                quote::shell(&p.name),
                quote::shell(collected),
                quote::shell(&p.run_type),
                number(p.ofport),
                number(p.datapath_port),
                number(p.production_datapath_port),
            ]
        })
        .collect();
    let header = ["PORT", "TYPE", "RUN AS", "OFPORT", "REPLICA DP PORT", "PRODUCTION DP PORT"].map(String::from);
    let widths: Vec<usize> =
        (0..6).map(|i| rows.iter().chain([&header]).map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    let line = |r: &[String; 6]| {
        let cells: Vec<String> = r.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        format!("  {}", cells.join("  ").trim_end())
    };
    let mut bridge = None;
    for (port, row) in ports.iter().zip(&rows) {
        if bridge != Some(&port.bridge) {
            bridge = Some(&port.bridge);
            say!("Bridge {}:", quote::shell(&port.bridge));
            say!("{}", line(&header));
        }
        say!("{}", line(row));
    }
    let production = match ports.iter().any(|p| p.production_datapath_port.is_some()) {
        true => "the production node's are from the capture (its dpctl/show)",
        false => "the capture has not the production node's (an sos report's or a live collect's dpctl/show has them)",
    };
    say!(
        "note: a trace's datapath actions use the replica's datapath port numbers (its dummy datapath numbers ports \
         as it adds them); {production}"
    );
    Ok(())
}

// Cluster replicas: a workspace (-W) of node workdirs.

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
