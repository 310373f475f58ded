//! One function per subcommand: call into the library, print what happened
//! and what to run next.

use crate::activate;
use crate::capture::DbKind;
use crate::cli;
use crate::collect;
use crate::replica::{self, StartOptions};
use crate::report::{Show, Status};
use crate::workdir::{write_atomic, Workdir};
use anyhow::{bail, Context, Result};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

pub fn collect_db(workdir: &Workdir, kind: DbKind, args: &cli::CollectDb) -> Result<()> {
    let collected = collect::db::collect_db(workdir, kind, &args.file, args.force)?;
    for warning in &collected.warnings {
        eprintln!("warning: {warning}");
    }
    let db = &collected.db;
    let layout = if db.clustered { "clustered" } else { "standalone" };
    println!("Collected {} {} ({layout}) from {}", db.schema, db.version, db.source.display());
    println!("Offline OVS Debugging: {} data collected and stored in {}", data_label(kind), workdir.root().display());
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
    println!("Offline OVS Debugging started");
    println!("******************************");
    print!("{}", Show::gather(workdir)?.text());
    println!("Stop it with: ovs-offline -w {} stop", workdir.root().display());
    Ok(())
}

pub fn stop(workdir: &Workdir, args: &cli::Stop) -> Result<()> {
    if activate::is_active_here(workdir) {
        bail!(
            "this shell has the replica in {} activated; run 'deactivate' (or 'ovs-offline-deactivate') first",
            workdir.root().display()
        );
    }
    let was_running = workdir.exists() && replica::stop(workdir)?;
    if was_running {
        println!("Offline OVS Debugging stopped");
        println!("*****************************");
    } else {
        println!("No replica running in {}", workdir.root().display());
    }
    if args.purge && workdir.exists() {
        std::fs::remove_dir_all(workdir.root())
            .with_context(|| format!("cannot remove {}", workdir.root().display()))?;
        println!("Removed {}", workdir.root().display());
    } else if was_running {
        println!(
            "Collected data kept in {} (remove it with 'ovs-offline -w {} stop --purge')",
            workdir.root().display(),
            workdir.root().display()
        );
    }
    Ok(())
}

pub fn show(workdir: &Workdir, args: &cli::JsonFlag) -> Result<()> {
    let show = Show::gather(workdir)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&show)?);
    } else {
        print!("{}", show.text());
    }
    Ok(())
}

pub fn status(workdir: &Workdir, args: &cli::JsonFlag) -> Result<()> {
    let status = Status::gather(workdir)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print!("{}", status.text());
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
    crate::supervisor::launch::launch(&args.pidfile, args.pid_arg.as_deref(), program, rest)
}
