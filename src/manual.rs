//! The man page and the shell completions, both generated from the clap
//! definition in [`crate::cli`], so a subcommand or flag added there appears
//! in them with no other change. One page covers every subcommand:
//! clap_mangen renders the main page, and each visible subcommand follows
//! in a SUBCOMMANDS section with its synopsis and options; ENVIRONMENT and
//! FILES close it.

use crate::cli::Cli;
use clap::{Arg, Command, CommandFactory};
use clap_mangen::roff::{bold, italic, roman, Roff};
use std::io::{self, Write};

/// The binary's name, as installed.
const NAME: &str = "ovs-offline";

/// The environment variables ovs-offline reads, and what for.
const ENVIRONMENT: [(&str, &str); 4] = [
    ("OVS_DBG_WORKDIR", "The working directory when -w is not given (default /tmp/ovs-offline)."),
    ("OVS_OFFLINE_WORKSPACE", "The workspace when -W is not given (and -w is not either)."),
    (
        "OVS_OFFLINE_LOG",
        "A tracing filter for the logs on standard error (e.g. debug, or ovs_offline::replay=trace); \
         overrides -d.",
    ),
    (
        "OVS_OFFLINE_ENV",
        "Set by bin/activate and exec to the workdir whose replica the shell uses; stop refuses to stop \
         the replica a shell still has activated.",
    ),
];

/// The working directory's layout (README, "Working directory").
const FILES: [(&str, &str); 9] = [
    ("db/{ovs,ovn_nb,ovn_sb}/", "Collected database files (originals, never modified)."),
    ("restore_flows/", "Collected OpenFlow state (ovs-save layout), restored by start."),
    (
        "capture.json",
        "What is collected: per item its provenance, size, sha256 (and schema), the source system, notes.",
    ),
    ("replica/", "Working copies the daemons serve, and the sandbox's root while running."),
    ("var-run/{ovs,ovn_nb,ovn_sb}/", "The replica's sockets (db.sock, .ctl, bridges' .mgmt) and pidfiles."),
    ("log/", "supervisor.log, one log per daemon, and the OpenFlow lines OVS refused."),
    ("bin/activate", "Sourced by bash or zsh to point the OVS and OVN tools at the replica (while it runs)."),
    ("state.json", "The state of the run: phase, daemons, databases served, restore result."),
    ("/usr/share/doc/ovs-offline/", "README and tutorial (packaged installs)."),
];

/// The whole man page, as roff.
pub fn render(w: &mut dyn Write) -> io::Result<()> {
    let cmd = command();
    let man = clap_mangen::Man::new(cmd.clone());
    man.render_title(w)?;
    man.render_name_section(w)?;
    man.render_synopsis_section(w)?;
    man.render_description_section(w)?;
    man.render_options_section(w)?;
    let mut roff = Roff::new();
    roff.control("SH", ["SUBCOMMANDS"]);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        subcommand(&mut roff, sub, None);
    }
    roff.control("SH", ["ENVIRONMENT"]);
    for (name, what) in ENVIRONMENT {
        entry(&mut roff, name, what);
    }
    roff.control("SH", ["FILES"]);
    roff.text([roman("In the working directory (-w):")]);
    for (name, what) in FILES {
        entry(&mut roff, name, what);
    }
    roff.to_writer(w)?;
    man.render_version_section(w)
}

/// The completion script for `shell`.
pub fn completion(shell: clap_complete::Shell, w: &mut dyn Write) {
    clap_complete::generate(shell, &mut Cli::command(), NAME, w);
}

/// The CLI with its usage strings built (so subcommands' usage names
/// `ovs-offline SUBCOMMAND`).
fn command() -> Command {
    let mut cmd = Cli::command().bin_name(NAME);
    cmd.build();
    cmd
}

/// One subcommand: its usage, what it does, its own arguments; then its
/// own subcommands (`cluster collect-sos`), each named after its parent.
fn subcommand(roff: &mut Roff, sub: &Command, parent: Option<&str>) {
    let mut sub = sub.clone();
    let usage = sub.render_usage().to_string();
    let name = match parent {
        Some(parent) => format!("{parent} {}", sub.get_name()),
        None => sub.get_name().to_string(),
    };
    roff.control("SS", [name.as_str()]);
    roff.text([bold(usage.trim_start_matches("Usage: ").to_string())]);
    let about = sub.get_long_about().or(sub.get_about()).map(|a| a.to_string()).unwrap_or_default();
    roff.control("PP", []).text([roman(about)]);
    let own = |a: &&Arg| !a.is_hide_set() && !a.is_global_set() && a.get_id() != "help";
    for arg in sub.get_arguments().filter(own) {
        roff.control("TP", []).text(argument(arg));
        let help = arg.get_long_help().or(arg.get_help()).map(|h| h.to_string()).unwrap_or_default();
        roff.text([roman(help + &defaults(arg))]);
    }
    // `help`'s own subcommands only repeat the others.
    let nested = sub.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help");
    for nested in nested.filter(|_| sub.get_name() != "help") {
        subcommand(roff, nested, Some(&name));
    }
}

/// How an argument is written: `-n, --namespace NAMESPACE` or `FILE`.
fn argument(arg: &Arg) -> Vec<clap_mangen::roff::Inline> {
    let value = arg.get_value_names().map(|v| v.join(" ")).unwrap_or_else(|| arg.get_id().to_string().to_uppercase());
    if arg.is_positional() {
        return vec![italic(value)];
    }
    let mut flags = Vec::new();
    if let Some(short) = arg.get_short() {
        flags.push(format!("-{short}"));
    }
    if let Some(long) = arg.get_long() {
        flags.push(format!("--{long}"));
    }
    let mut inlines = vec![bold(flags.join(", "))];
    if arg.get_action().takes_values() {
        inlines.extend([roman(" "), italic(value)]);
    }
    inlines
}

/// ` [default: …]` when the argument takes a value and has a default.
fn defaults(arg: &Arg) -> String {
    if !arg.get_action().takes_values() {
        return String::new();
    }
    let values: Vec<String> = arg.get_default_values().iter().map(|v| v.to_string_lossy().into_owned()).collect();
    if values.is_empty() {
        String::new()
    } else {
        format!(" [default: {}]", values.join(" "))
    }
}

/// A tagged paragraph: the name in bold, then what it is.
fn entry(roff: &mut Roff, name: &str, what: &str) {
    roff.control("TP", []).text([bold(name)]).text([roman(what)]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> String {
        let mut out = Vec::new();
        render(&mut out).expect("rendering into memory");
        String::from_utf8(out).expect("roff is UTF-8")
    }

    #[test]
    fn man_page_covers_every_visible_subcommand() {
        let page = page();
        for sub in command().get_subcommands().filter(|s| !s.is_hide_set()) {
            assert!(page.contains(&format!(".SS {}\n", sub.get_name())), "{} missing", sub.get_name());
        }
        assert!(page.contains(".SS \"cluster collect-sos\"\n") && !page.contains(".SS \"help cluster\""));
        assert!(!page.contains("__launch") && !page.contains("__replay"));
        for section in [".SH SUBCOMMANDS", ".SH ENVIRONMENT", ".SH FILES", "OVS_DBG_WORKDIR", "capture.json"] {
            assert!(page.contains(section), "{section} missing");
        }
    }

    #[test]
    fn man_page_lists_subcommand_options_with_defaults() {
        let page = page();
        assert!(page.contains("\\-\\-idle\\-timeout") || page.contains("--idle-timeout"));
        assert!(page.contains("[default: 300]"));
    }
}
