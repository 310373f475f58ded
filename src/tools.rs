//! The one door to external OVS/OVN programs: found on `PATH` with `which`,
//! run with argument vectors (never a shell), stderr folded into errors.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::{Command, Output};

#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("{tool} not found on PATH; install {packages}")]
    Missing { tool: String, packages: &'static str },
    #[error("cannot run {tool}: {source}")]
    Spawn { tool: String, source: std::io::Error },
    #[error("{command} failed: {}", last_line(stderr))]
    Failed { command: String, stderr: String },
}

impl ToolError {
    /// What the tool said on stderr (all of it), else the error itself.
    pub fn into_stderr(self) -> String {
        match self {
            ToolError::Failed { stderr, .. } => stderr,
            other => other.to_string(),
        }
    }
}

/// Which distro packages ship a tool, for the "not found" message.
fn packages_for(tool: &str) -> &'static str {
    if tool.starts_with("ovn-") {
        "OVN (Debian/Ubuntu: ovn-central ovn-host ovn-common; Fedora/RHEL: ovn ovn-central ovn-host)"
    } else {
        "Open vSwitch (Debian/Ubuntu: openvswitch-switch openvswitch-common; Fedora/RHEL: openvswitch)"
    }
}

/// Locates `tool` on `PATH` (and the sbin directories distros install
/// daemons to, which a normal user's `PATH` often lacks).
pub fn find(tool: &str) -> Result<PathBuf, ToolError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    dirs.extend(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from));
    let search = std::env::join_paths(dirs).unwrap_or(path);
    let cwd = std::env::current_dir().unwrap_or_else(|_| "/".into());
    which::which_in(tool, Some(search), cwd)
        .map_err(|_| ToolError::Missing { tool: tool.to_string(), packages: packages_for(tool) })
}

/// A command for `tool`, found on `PATH`, for callers that need to wire
/// its stdio themselves.
pub fn command(tool: &str) -> Result<Command, ToolError> {
    Ok(Command::new(find(tool)?))
}

/// The error for a tool that ran and failed, with its whole stderr.
pub fn failed(tool: &str, args: &[String], stderr: &str, status: std::process::ExitStatus) -> ToolError {
    let command = std::iter::once(tool).chain(args.iter().map(String::as_str)).collect::<Vec<_>>().join(" ");
    let stderr = stderr.trim();
    ToolError::Failed { command, stderr: if stderr.is_empty() { status.to_string() } else { stderr.to_string() } }
}

/// Runs `tool args…`; returns its stdout when it exits 0.
pub fn run<I, S>(tool: &str, args: I) -> Result<String, ToolError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let output = output(tool, args)?;
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Runs `tool args…` and returns its whole output when it exits 0.
pub fn output<I, S>(tool: &str, args: I) -> Result<Output, ToolError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_os_string()).collect();
    tracing::debug!(tool, ?args, "running");
    let output =
        command(tool)?.args(&args).output().map_err(|source| ToolError::Spawn { tool: tool.to_string(), source })?;
    if output.status.success() {
        return Ok(output);
    }
    let args: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    Err(failed(tool, &args, &String::from_utf8_lossy(&output.stderr), output.status))
}

/// The last non-empty line of a tool's stderr: its own summary of what failed.
fn last_line(stderr: &str) -> &str {
    stderr.lines().rev().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default()
}
