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
    let program = find(tool)?;
    let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_os_string()).collect();
    tracing::debug!(?program, ?args, "running");
    let output = Command::new(&program)
        .args(&args)
        .output()
        .map_err(|source| ToolError::Spawn { tool: tool.to_string(), source })?;
    if output.status.success() {
        return Ok(output);
    }
    let command = std::iter::once(tool.to_string())
        .chain(args.iter().map(|a| a.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ");
    let mut stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
    if stderr.is_empty() {
        stderr = output.status.to_string();
    }
    Err(ToolError::Failed { command, stderr })
}

/// The last non-empty line of a tool's stderr: its own summary of what failed.
fn last_line(stderr: &str) -> &str {
    stderr.lines().rev().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default()
}
