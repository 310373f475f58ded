//! One function per subcommand: call into the library, print what happened
//! and what to run next.

use crate::cli;
use anyhow::{bail, Context, Result};
use ovs_offline::capture::manifest::Manifest;
use ovs_offline::capture::DbKind;
use ovs_offline::replay::ReplayReport;
use ovs_offline::replica::{self, ReplicaError, StartOptions, Stopped};
use ovs_offline::report::{self, Show, Status};
use ovs_offline::workdir::{write_atomic, Workdir};
use ovs_offline::{activate, collect};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

pub fn collect_db(workdir: &Workdir, kind: DbKind, args: &cli::CollectDb) -> Result<()> {
    let db = collect::db::collect_db(workdir, kind, &args.file, args.force)?;
    for note in &db.notes {
        eprintln!("warning: {}: {note}", db.source);
    }
    let layout = if db.clustered { "clustered" } else { "standalone" };
    println!("Collected {} {} ({layout}) from {}", db.schema, db.version, db.source);
    println!("Offline OVS Debugging: {} data collected and stored in {}", data_label(kind), workdir.root().display());
    Ok(())
}

pub fn collect_flows(workdir: &Workdir, args: &cli::CollectFlows) -> Result<()> {
    let collected = collect::flows::collect_flows(workdir, &args.path, args.force)?;
    for b in &collected.bridges {
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
        let version = b.version.as_deref().map(|v| format!(" ({v})")).unwrap_or_default();
        println!("{}{version}: {}", b.bridge, parts.join(", "));
    }
    for note in &collected.notes {
        println!("note: {note}");
    }
    println!(
        "Offline OVS Debugging: OpenFlow state ({} files) collected and stored in {}",
        collected.files,
        workdir.restore_flows_dir().display()
    );
    Ok(())
}

fn data_label(kind: DbKind) -> &'static str {
    match kind {
        DbKind::Ovs => "OVS",
        DbKind::OvnNb | DbKind::OvnSb => "OVN",
    }
}

pub fn start(workdir: &Workdir, args: &cli::Start) -> Result<()> {
    let started = replica::start(workdir, &StartOptions { timeout: Duration::from_secs(args.timeout) })?;
    for db in &started.dbs {
        for change in &db.changes {
            println!("{} database: {change}", db.kind);
        }
    }
    let script = workdir.activate_script();
    write_atomic(&script, activate::script(workdir).as_bytes())?;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))?;
    let has_ovs_db = started.dbs.iter().any(|d| d.kind == DbKind::Ovs);
    // The supervisor replays the OpenFlow state; wait for its report.
    let replay = match started.restore.map(|restoring| restoring.wait(workdir)) {
        None => None,
        Some(Ok(report)) => Some(Ok(report)),
        Some(Err(ReplicaError::NotRestored(error))) => Some(Err(error)),
        Some(Err(e)) => return Err(e.into()),
    };
    if !has_ovs_db && Manifest::load(workdir)?.flows.is_some() {
        println!(
            "note: OpenFlow state is collected but no OVS database: it is restored once 'collect-db-ovs' adds one"
        );
    }
    println!("Offline OVS Debugging started");
    println!("******************************");
    print!("{}", Show::gather(workdir)?.text());
    let outcome = match replay {
        Some(Ok(replay)) => report_replay(workdir, replay),
        Some(Err(e)) => Err(anyhow::anyhow!("OpenFlow state not restored (the replica runs without it): {e}")),
        None => Ok(()),
    };
    println!("Stop it with: ovs-offline -w {} stop", workdir.root().display());
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
    println!("* OpenFlow state restored from {}:", workdir.restore_flows_dir().display());
    for bridge in &replay.bridges {
        println!("{}", report::restore_summary(workdir, bridge));
        for note in &bridge.notes {
            println!("  note: {note}");
        }
    }
    for note in &replay.notes {
        println!("note: {note}");
    }
    let empty: Vec<String> = replay
        .bridges
        .iter()
        .filter(|b| b.error.is_some() || (b.flows.expected > 0 && b.flows.restored == 0))
        .map(|b| b.bridge.clone())
        .collect();
    let rejected: usize = replay.bridges.iter().map(|b| b.rejected).sum();
    if !empty.is_empty() {
        bail!(
            "OpenFlow state not restored on {} (the replica keeps running; see the lines above and {})",
            empty.join(", "),
            workdir.log_dir().display()
        );
    }
    if rejected > 0 {
        eprintln!("warning: {rejected} OpenFlow entries were not restored; each is listed with OVS's error in the log named above");
    }
    Ok(())
}

pub fn stop(workdir: &Workdir, args: &cli::Stop) -> Result<()> {
    if activate::is_active_here(workdir) {
        bail!(
            "this shell has the replica in {} activated; run 'deactivate' (or 'ovs-offline-deactivate') first",
            workdir.root().display()
        );
    }
    let stopped = replica::stop(workdir)?;
    let w = workdir.root().display();
    match stopped {
        Stopped::Running { restore_interrupted } => {
            println!("Offline OVS Debugging stopped");
            println!("*****************************");
            if restore_interrupted {
                println!("Its OpenFlow state was still being restored: the restore was interrupted");
            }
        }
        Stopped::Stale => println!(
            "The replica in {w} had already stopped (its supervisor ended; see {}); removed its runtime files",
            workdir.log_file("supervisor").display()
        ),
        Stopped::NotRunning => println!("No replica running in {w}"),
    }
    let was_running = matches!(stopped, Stopped::Running { .. });
    if args.purge && workdir.exists() {
        std::fs::remove_dir_all(workdir.root())
            .with_context(|| format!("cannot remove {}", workdir.root().display()))?;
        println!("Removed {}", workdir.root().display());
    } else if was_running {
        println!("Collected data kept in {w} (remove it with 'ovs-offline -w {w} stop --purge')");
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

/// `--json` prints the report as JSON, else as text.
fn print_report(report: &impl serde::Serialize, args: &cli::JsonFlag, text: impl FnOnce() -> String) -> Result<()> {
    if args.json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        print!("{}", text());
    }
    Ok(())
}

/// Replaces this process with the command, in the replica's environment.
pub fn exec(workdir: &Workdir, args: &cli::Exec) -> Result<()> {
    if !workdir.exists() || !workdir.is_running()? {
        bail!(
            "no replica running in {}; start it with 'ovs-offline -w {} start'",
            workdir.root().display(),
            workdir.root().display()
        );
    }
    let (program, rest) = args.command.split_first().context("no command given")?;
    let err = Command::new(program).args(rest).envs(activate::environment(workdir)).exec();
    Err(err).with_context(|| format!("cannot run {}", program.to_string_lossy()))
}

pub fn launch(args: &cli::Launch) -> Result<()> {
    let (program, rest) = args.command.split_first().context("no command given")?;
    Ok(ovs_offline::supervisor::launch::launch(&args.pidfile, args.pid_arg.as_deref(), program, rest)?)
}
