//! The `ovs-offline` binary: parse the command line, run one subcommand,
//! turn an error into one line (what failed and its root cause; the whole
//! chain with `-d`) and exit code 1. A closed stdout is not an error
//! ([`output`]).

mod cli;
mod commands;
mod manual;
mod output;

use cli::{Cli, Command};
use output::tell;
use ovs_offline::capture::manifest::upgrade_legacy;
use ovs_offline::capture::DbKind;
use ovs_offline::collect::sos::SosPart;
use ovs_offline::quote;
use ovs_offline::workdir::Workdir;
use std::process::ExitCode;

/// An error is one line; collected text quoted in it cannot make it longer
/// than this (`-d` prints everything).
const ERROR_MAX_CHARS: usize = 1000;

fn main() -> ExitCode {
    let cli = Cli::parse_args();
    init_logging(cli.debug);
    if cli.quiet {
        output::set_quiet();
        ovs_offline::progress::hide();
    }
    if !matches!(cli.command, Command::Exec(_)) {
        // What the tool and its daemons create is private, whatever the
        // caller's umask; `exec` runs the user's command as it would run.
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    }
    let result = run(&cli).and_then(|code| {
        use anyhow::Context;
        output::finish().context("cannot write to standard output")?;
        Ok(code)
    });
    match result {
        Ok(code) => code,
        Err(err) => {
            tell!("ovs-offline: error: {}", quote::line(&one_line(&err, cli.debug), ERROR_MAX_CHARS));
            ExitCode::FAILURE
        }
    }
}

/// Runs the subcommand; its exit code (`audit` exits 1 when it found
/// something).
fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    if cli.podman {
        tell!("note: -p is accepted for compatibility; ovs-offline runs no container runtime");
    }
    // Every user command works on a workdir that is checked and, if an
    // older version made it, upgraded first.
    // Without -W, --node and the cluster commands use the workspace the
    // current directory is in.
    let enclosing = || {
        let wanted = cli.node.is_some() || matches!(cli.command, Command::Cluster(_));
        let cwd = std::env::current_dir().ok().filter(|_| wanted)?;
        ovs_offline::cluster::workspace::Workspace::enclosing(&cwd)
    };
    let workspace = cli.workspace.clone().or_else(enclosing);
    let workdir = || -> anyhow::Result<Workdir> {
        let workdir = match (&workspace, &cli.node) {
            (None, None) => Workdir::new(&cli.workdir)?,
            (None, Some(node)) => anyhow::bail!(
                "--node {} names a node of a workspace: give the workspace too, 'ovs-offline -W WORKSPACE --node {} …' \
                 (or set OVS_OFFLINE_WORKSPACE, or run it from inside the workspace)",
                quote::shell(node),
                quote::shell(node)
            ),
            (Some(root), None) => return Err(commands::no_node_chosen(root)),
            (Some(root), Some(node)) => commands::node_workdir(root, node, &cli.command)?,
        };
        upgrade_legacy(&workdir)?;
        Ok(workdir)
    };
    match &cli.command {
        Command::CollectDbOvs(args) => commands::collect_db(&workdir()?, DbKind::Ovs, args),
        Command::CollectDbOvnNb(args) => commands::collect_db(&workdir()?, DbKind::OvnNb, args),
        Command::CollectDbOvnSb(args) => commands::collect_db(&workdir()?, DbKind::OvnSb, args),
        Command::CollectFlows(args) => commands::collect_flows(&workdir()?, args),
        Command::CollectSosOvs(args) => commands::collect_sos(&workdir()?, SosPart::Ovs, args),
        Command::CollectSosOvn(args) => commands::collect_sos(&workdir()?, SosPart::Ovn, args),
        Command::CollectSos(args) => commands::collect_sos(&workdir()?, SosPart::All, args),
        Command::CollectMustGather(args) => commands::collect_must_gather(&workdir()?, args),
        Command::CollectCapture(args) => commands::collect_capture(&workdir()?, args),
        Command::CollectK8s(args) => commands::collect_k8s(&workdir()?, args),
        Command::CollectLocal(args) => commands::collect_local(args),
        Command::Start(args) => commands::start(&workdir()?, args),
        Command::Stop(args) => commands::stop(&workdir()?, args),
        Command::Show(args) => commands::show(&workdir()?, args),
        Command::Status(args) => commands::status(&workdir()?, args),
        Command::Exec(args) => commands::exec(&workdir()?, args),
        Command::Trace(args) => commands::trace(&workdir()?, args),
        Command::Ports(args) => commands::ports(&workdir()?, args),
        Command::Cluster(args) => commands::cluster(workspace.as_deref(), cli.node.as_deref(), args),
        Command::Completion(args) => {
            commands::completion(args);
            Ok(())
        }
        Command::Man => commands::man(),
        Command::Launch(args) => commands::launch(args),
        Command::Replay => commands::replay(&Workdir::inside_replica(&cli.workdir)?),
        Command::Audit(args) => return commands::audit(&workdir()?, args),
    }
    .map(|()| ExitCode::SUCCESS)
}

/// What failed and its root cause (with `debug`, every cause between), each
/// said once: a message that already quotes its cause is not followed by it.
pub(crate) fn one_line(err: &anyhow::Error, debug: bool) -> String {
    let mut line = err.to_string();
    let causes: Vec<String> = err.chain().skip(1).map(|c| c.to_string()).collect();
    let shown = if debug { &causes[..] } else { &causes[causes.len().saturating_sub(1)..] };
    for cause in shown {
        if !line.contains(cause.as_str()) {
            line.push_str(": ");
            line.push_str(cause);
        }
    }
    line
}

/// Logs go to stderr: warnings by default, everything with `-d`.
fn init_logging(debug: bool) {
    let level = if debug { "debug" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("OVS_OFFLINE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
}
