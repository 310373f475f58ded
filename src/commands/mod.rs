//! One function per subcommand: call into the library, print what happened
//! and what to run next. Work comes first, printing after (a closed stdout
//! never skips work, see [`crate::output`]); every path and collected name
//! is printed quoted ([`ovs_offline::quote`]), every note as one bounded
//! line.

mod cluster;

use crate::cli;
use crate::output::{inform, say, tell};
use anyhow::{bail, Context, Result};
use ovs_offline::capture::manifest::Manifest;
use ovs_offline::capture::DbKind;
use ovs_offline::capture::SourceSystem;
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
use std::process::Command;
use std::time::Duration;

pub use cluster::{cluster, no_node_chosen, node_workdir};

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
    match (&args.packet.pcap, &args.flow) {
        (Some(pcap), _) => {
            let (flow, frame, note) = captured_packet(&running, &args.bridge, pcap, &args.packet)?;
            (request.flow, request.packet, frame_note) = (flow, Some(frame), note);
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

/// The frame `packet` names, read from `pcap`: the flow giving its
/// metadata (the port it came in on), its bytes, and a note when the
/// capture cut it.
fn captured_packet(
    running: &trace::Running,
    bridge: &str,
    pcap: &std::path::Path,
    packet: &cli::CapturedPacket,
) -> Result<(String, Vec<u8>, Option<String>)> {
    let frame = trace::pcap::read_frame(pcap, usize::try_from(packet.frame).unwrap_or(usize::MAX))?;
    let flow = trace::packet_flow(running, bridge, &frame, packet.in_port.as_deref())?;
    let note = frame.truncated().then(|| {
        format!(
            "frame {} of {} was captured cut to {} of its {} bytes: the trace sees only those",
            packet.frame,
            quote::path(pcap),
            frame.data.len(),
            frame.original_len
        )
    });
    Ok((flow, frame.data, note))
}

/// `2 = vif2 (production 5)`.
fn datapath_port_text(port: &trace::ports::DatapathPort) -> String {
    let name = port.name.as_deref().map_or("no port".to_string(), quote::shell);
    let production = port.production.map(|n| format!(" (production {n})")).unwrap_or_default();
    format!("{} = {name}{production}", port.replica)
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
