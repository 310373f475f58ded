//! One function per subcommand: call into the library, print what happened
//! and what to run next. Work comes first, printing after (a closed stdout
//! never skips work, see [`crate::output`]); every path and collected name
//! is printed quoted ([`ovs_offline::quote`]), every note as one bounded
//! line.

use crate::cli;
use crate::output::{say, tell};
use anyhow::{bail, Context, Result};
use ovs_offline::capture::manifest::Manifest;
use ovs_offline::capture::DbKind;
use ovs_offline::capture::SourceSystem;
use ovs_offline::collect::flows::BridgeSummary;
use ovs_offline::collect::must_gather::{self, Layout, MustGather};
use ovs_offline::collect::sos::SosPart;
use ovs_offline::quote::{self, note};
use ovs_offline::replay::ReplayReport;
use ovs_offline::replica::{self, ReplicaError, RootChoice, StartOptions, Stopped};
use ovs_offline::report::{self, Show, Status};
use ovs_offline::workdir::Workdir;
use ovs_offline::{activate, collect, trace};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

pub fn collect_db(workdir: &Workdir, kind: DbKind, args: &cli::CollectDb) -> Result<()> {
    let db = collect::db::collect_db(workdir, kind, &args.file, args.force)?;
    for n in &db.notes {
        tell!("warning: {}: {}", db.source, note(n));
    }
    let layout = if db.clustered { "clustered" } else { "standalone" };
    say!("Collected {} {} ({layout}) from {}", note(&db.schema), note(&db.version), db.source);
    say!("Offline OVS Debugging: {} data collected and stored in {}", data_label(kind), quote::path(workdir.root()));
    Ok(())
}

pub fn collect_flows(workdir: &Workdir, args: &cli::CollectFlows) -> Result<()> {
    let collected = collect::flows::collect_flows(workdir, &args.path, args.force)?;
    print_bridges(&collected.bridges);
    for n in &collected.notes {
        say!("note: {}", note(n));
    }
    say!(
        "Offline OVS Debugging: OpenFlow state ({} files) collected and stored in {}",
        collected.files,
        quote::path(&workdir.restore_flows_dir())
    );
    Ok(())
}

pub fn collect_sos(workdir: &Workdir, part: SosPart, args: &cli::CollectSos) -> Result<()> {
    let collected = collect::sos::collect_sos(workdir, &args.sos, part, args.force)?;
    say!("From the sos report {}:", quote::path(&collected.archive));
    print_collected(&collected.source, &collected.items, &collected.bridges, &collected.notes);
    let label = match part {
        SosPart::Ovs => "OVS",
        SosPart::Ovn => "OVN",
        SosPart::All => "OVS/OVN",
    };
    say!("Offline OVS Debugging: {label} data collected and stored in {}", quote::path(workdir.root()));
    Ok(())
}

pub fn collect_must_gather(workdir: &Workdir, args: &cli::CollectMustGather) -> Result<()> {
    let collected = collect::must_gather::collect_must_gather(workdir, &args.path, args.node.as_deref(), args.force)?;
    let w = quote::path(workdir.root());
    match collected {
        MustGather::Listed { archive, pods } => {
            let archive = quote::path(&archive);
            say!("The must-gather {archive} holds the OVN databases of {} nodes (interconnect):", pods.len());
            for pod in &pods {
                let kinds: Vec<&str> = pod.kinds.iter().map(|k| k.schema_name()).collect();
                say!("  {}: {}", pod.label(), kinds.join(", "));
            }
            say!("Nothing collected. Collect one node's databases with: ovs-offline -w {w} collect-must-gather {archive} --node NODE");
            say!("note: {}", must_gather::ovs_half_note());
        }
        MustGather::Collected { archive, layout, pod, items, notes } => {
            let from = match (layout, &pod) {
                (Layout::Interconnect, Some(pod)) => format!("interconnect, node {}", pod.label()),
                (Layout::Interconnect, None) => "interconnect".to_string(),
                (Layout::Legacy, _) => "legacy, the RAFT leader's databases".to_string(),
            };
            say!("From the must-gather {} ({from}):", quote::path(&archive));
            for item in &items {
                say!("  {item}");
            }
            for n in &notes {
                say!("note: {}", note(n));
            }
            say!("Offline OVS Debugging: OVN data collected and stored in {w}");
            let node = pod.and_then(|p| p.node).map_or("NODE".to_string(), |n| quote::shell(&n));
            say!("Add that node's OVS half with: ovs-offline -w {w} collect-sos-ovs SOSREPORT (or collect-k8s {node})");
        }
    }
    Ok(())
}

pub fn collect_capture(workdir: &Workdir, args: &cli::CollectCapture) -> Result<()> {
    let imported = collect::bundle::collect_capture(workdir, &args.file, args.force)?;
    say!(
        "From the capture bundle {} (made by ovs-offline {} at {}), checksums verified:",
        quote::path(&imported.bundle),
        imported.made_by,
        imported.created_at
    );
    print_collected(&imported.source, &imported.items, &imported.bridges, &imported.notes);
    say!("Offline OVS Debugging: captured data collected and stored in {}", quote::path(workdir.root()));
    Ok(())
}

pub fn collect_k8s(workdir: &Workdir, args: &cli::CollectK8s) -> Result<()> {
    let options = collect::k8s::K8sOptions {
        node: args.node.clone(),
        openshift: args.openshift,
        kubeconfig: args.kubeconfig.clone(),
        context: args.context.clone(),
        namespace: args.namespace.clone(),
        idle_timeout: Duration::from_secs(args.idle_timeout),
        force: args.force,
    };
    let collected = collect::k8s::collect_k8s(workdir, &options)?;
    say!("Node {} (through {}): {} layout", quote::shell(&args.node), collected.client, collected.layout);
    for source in &collected.sources {
        say!("  {source}");
    }
    print_collected(&collected.node.source, &collected.node.items, &collected.node.bridges, &collected.node.notes);
    say!("Offline OVS Debugging: OVS/OVN data collected and stored in {}", quote::path(workdir.root()));
    say!("Start the replica with: ovs-offline -w {} start", quote::path(workdir.root()));
    Ok(())
}

pub fn collect_local(args: &cli::CollectLocal) -> Result<()> {
    let options = collect::local::LocalOptions {
        ovs_rundir: args.ovs_rundir.clone(),
        ovn_rundir: args.ovn_rundir.clone(),
        nb: args.nb_db.clone(),
        sb: args.sb_db.clone(),
    };
    let collected = collect::local::collect_local(&options, &args.output)?;
    say!("This host, read through its sockets:");
    print_collected(&collected.node.source, &collected.node.items, &collected.node.bridges, &collected.node.notes);
    for n in &collected.skipped {
        say!("note: {n}");
    }
    let bundle = quote::path(&collected.bundle);
    say!("Offline OVS Debugging: capture written to {bundle}");
    say!("Copy it to the analysis machine and run there: ovs-offline -w WORKDIR collect-capture {bundle}");
    Ok(())
}

/// What a collect gave: the source system (and whether the local tools
/// are older), one line per item, the bridges, the notes.
fn print_collected(source: &SourceSystem, items: &[String], bridges: &[BridgeSummary], notes: &[String]) {
    let line = report::source_system_line(source);
    if !line.is_empty() {
        say!("  source: {line}");
    }
    for warning in report::older_locally(source) {
        tell!("warning: {warning}");
    }
    for item in items {
        say!("  {item}");
    }
    print_bridges(bridges);
    for n in notes {
        say!("note: {}", note(n));
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
        say!("{}{version}: {}", quote::shell(&b.bridge), parts.join(", "));
        if !b.members.is_empty() {
            say!("  restores {}", b.members.join("; "));
        }
    }
}

fn data_label(kind: DbKind) -> &'static str {
    match kind {
        DbKind::Ovs => "OVS",
        DbKind::OvnNb | DbKind::OvnSb => "OVN",
    }
}

pub fn start(workdir: &Workdir, args: &cli::Start) -> Result<()> {
    let ovs_root = match (&args.ovs_root, args.no_ovs_root) {
        (Some(dir), _) => RootChoice::Set(dir.clone()),
        (None, true) => RootChoice::Local,
        (None, false) => RootChoice::Remembered,
    };
    let started = replica::start(workdir, &StartOptions { timeout: Duration::from_secs(args.timeout), ovs_root })?;
    activate::write(workdir)?;
    let has_ovs_db = started.dbs.iter().any(|d| d.kind == DbKind::Ovs);
    // The supervisor replays the OpenFlow state; wait for its report.
    let replay = match started.restore.map(|restoring| restoring.wait(workdir)) {
        None => None,
        Some(Ok(report)) => Some(Ok(report)),
        Some(Err(ReplicaError::NotRestored(error))) => Some(Err(error)),
        Some(Err(e)) => return Err(e.into()),
    };
    let flows_waiting = !has_ovs_db && Manifest::load(workdir)?.flows.is_some();
    let show = Show::gather(workdir)?;
    for db in &started.dbs {
        for change in &db.changes {
            say!("{} database: {}", db.kind, note(change));
        }
    }
    if flows_waiting {
        say!("note: OpenFlow state is collected but no OVS database: it is restored once 'collect-db-ovs' adds one");
    }
    say!("Offline OVS Debugging started");
    say!("******************************");
    say!("{}", show.text().trim_end());
    let outcome = match replay {
        Some(Ok(replay)) => report_replay(workdir, replay),
        Some(Err(e)) => Err(anyhow::anyhow!("OpenFlow state not restored (the replica runs without it): {e}")),
        None => Ok(()),
    };
    say!("Stop it with: ovs-offline -w {} stop", quote::path(workdir.root()));
    outcome
}

/// `__replay`: the supervisor's flow replay helper.
pub fn replay(workdir: &Workdir) -> Result<()> {
    Ok(replica::restore::run_helper(workdir)?)
}

/// Prints what flow replay restored; fails when a bridge with dumped flows
/// got none.
fn report_replay(workdir: &Workdir, replay: ReplayReport) -> Result<()> {
    if replay.bridges.is_empty() && replay.notes.is_empty() {
        return Ok(());
    }
    say!("* OpenFlow state restored from {}:", quote::path(&workdir.restore_flows_dir()));
    // Bridges whose dumps the capture knows to be cut (sos --log-size).
    let incomplete = Manifest::load(workdir)?.flows.map(|f| f.incomplete).unwrap_or_default();
    for bridge in &replay.bridges {
        for line in report::restore_lines(workdir, bridge, &incomplete) {
            say!("{line}");
        }
        for n in &bridge.notes {
            say!("  note: {n}");
        }
    }
    for n in &replay.notes {
        say!("note: {n}");
    }
    let empty: Vec<String> = replay
        .bridges
        .iter()
        .filter(|b| b.error.is_some() || (b.flows.expected > 0 && b.flows.restored == 0))
        .map(|b| quote::shell(&b.bridge))
        .collect();
    let rejected: usize = replay.bridges.iter().map(|b| b.rejected).sum();
    if !empty.is_empty() {
        bail!(
            "OpenFlow state not restored on {} (the replica keeps running; see the lines above and {})",
            empty.join(", "),
            quote::path(&workdir.log_dir())
        );
    }
    if !incomplete.is_empty() {
        let names: Vec<String> = incomplete.keys().map(|b| quote::shell(b)).collect();
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
            say!("Offline OVS Debugging stopped");
            say!("*****************************");
            if restore_interrupted {
                say!("Its OpenFlow state was still being restored: the restore was interrupted");
            }
        }
        Stopped::Stale => say!(
            "The replica in {w} had already stopped (its supervisor ended; see {}); removed its runtime files",
            quote::path(&workdir.log_file("supervisor"))
        ),
        Stopped::NotRunning => say!("No replica running in {w}"),
    }
    if purge {
        say!("Removed {w}");
    } else if matches!(stopped, Stopped::Running { .. }) {
        say!("Collected data kept in {w} (remove it with 'ovs-offline -w {w} stop --purge')");
    }
    Ok(())
}

pub fn show(workdir: &Workdir, args: &cli::JsonFlag) -> Result<()> {
    let show = Show::gather(workdir)?;
    print_report(&show, args, || show.text())
}

pub fn status(workdir: &Workdir, args: &cli::JsonFlag) -> Result<()> {
    let status = Status::gather(workdir)?;
    print_report(&status, args, || status.text(workdir))
}

/// Audits the capture; exit code 1 when something was found.
pub fn audit(workdir: &Workdir, args: &cli::Audit) -> Result<std::process::ExitCode> {
    let inputs = ovs_offline::audit::gather(workdir)?;
    let report = ovs_offline::audit::run(&inputs, &args.checks)?;
    print_report(&report, &cli::JsonFlag { json: args.json }, || report.text())?;
    if report.found_something() && !args.json {
        let w = quote::path(workdir.root());
        say!("\nStart the replica to look closer: ovs-offline -w {w} start; then ovn-sbctl lflow-list, ovs-ofctl dump-flows br-int");
    }
    Ok(if report.found_something() { std::process::ExitCode::FAILURE } else { std::process::ExitCode::SUCCESS })
}

/// `--json` prints the report as JSON, else as text.
fn print_report(report: &impl serde::Serialize, args: &cli::JsonFlag, text: impl FnOnce() -> String) -> Result<()> {
    if args.json {
        say!("{}", serde_json::to_string_pretty(report)?);
    } else {
        say!("{}", text().trim_end());
    }
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
    for n in frame_note.iter().chain(detrace_note(&traced.detrace).iter()) {
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
        true => "the production node's are from the capture (sos dpctl/show)",
        false => "the capture has not the production node's (an sos report's dpctl/show has them)",
    };
    say!(
        "note: a trace's datapath actions use the replica's datapath port numbers (its dummy datapath numbers ports \
         as it adds them); {production}"
    );
    Ok(())
}
