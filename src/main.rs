//! The `ovs-offline` binary: parse the command line, run one subcommand,
//! turn an error into one line (what failed and its root cause; the whole
//! chain with `-d`) and exit code 1.

mod cli;
mod commands;

use clap::Parser;
use cli::{Cli, Command};
use ovs_offline::capture::manifest::upgrade_legacy;
use ovs_offline::capture::DbKind;
use ovs_offline::workdir::Workdir;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.debug);
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let root = err.root_cause().to_string();
            if cli.debug {
                eprintln!("ovs-offline: error: {err:#}");
            } else if err.chain().count() > 1 && !err.to_string().contains(&root) {
                eprintln!("ovs-offline: error: {err}: {root}");
            } else {
                eprintln!("ovs-offline: error: {err}");
            }
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    if cli.podman {
        eprintln!("note: -p is accepted for compatibility; ovs-offline runs no container runtime");
    }
    // Every command but `__launch` works on the workdir; one an older
    // version made is upgraded first.
    let workdir = || -> anyhow::Result<Workdir> {
        let workdir = Workdir::new(&cli.workdir)?;
        upgrade_legacy(&workdir)?;
        Ok(workdir)
    };
    match &cli.command {
        Command::CollectDbOvs(args) => commands::collect_db(&workdir()?, DbKind::Ovs, args),
        Command::CollectDbOvnNb(args) => commands::collect_db(&workdir()?, DbKind::OvnNb, args),
        Command::CollectDbOvnSb(args) => commands::collect_db(&workdir()?, DbKind::OvnSb, args),
        Command::CollectFlows(args) => commands::collect_flows(&workdir()?, args),
        Command::Start(args) => commands::start(&workdir()?, args),
        Command::Stop(args) => commands::stop(&workdir()?, args),
        Command::Show(args) => commands::show(&workdir()?, args),
        Command::Status(args) => commands::status(&workdir()?, args),
        Command::Exec(args) => commands::exec(&workdir()?, args),
        Command::Launch(args) => commands::launch(args),
        Command::Replay => commands::replay(&workdir()?),
    }
}

/// Logs go to stderr: warnings by default, everything with `-d`.
fn init_logging(debug: bool) {
    let level = if debug { "debug" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("OVS_OFFLINE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
}
