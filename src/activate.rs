//! `bin/activate` and the environment a replica is used with: the same
//! variables for the sourced script and for `ovs-offline exec`. Every path
//! in the script is quoted ([`crate::quote`]): a workdir named with a
//! newline or `$(…)` is read back as a name, never run.

use crate::capture::DbKind;
use crate::quote;
use crate::workdir::{write_atomic_mode, Workdir, WorkdirError};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Variables that point OVS/OVN clients at the replica (paths byte for
/// byte, whatever their encoding).
pub fn environment(workdir: &Workdir) -> Vec<(&'static str, OsString)> {
    let unix = |kind| {
        let mut value = OsString::from("unix:");
        value.push(workdir.db_socket(kind));
        value
    };
    vec![
        ("OVS_RUNDIR", workdir.run_dir(DbKind::Ovs).into_os_string()),
        ("OVN_RUNDIR", workdir.ovn_default_run_dir().into_os_string()),
        ("OVN_NB_DB", unix(DbKind::OvnNb)),
        ("OVN_SB_DB", unix(DbKind::OvnSb)),
        ("OVS_OFFLINE_ENV", workdir.root().as_os_str().to_owned()),
    ]
}

/// True when the calling shell has this workdir's replica activated.
pub fn is_active_here(workdir: &Workdir) -> bool {
    std::env::var_os("OVS_OFFLINE_ENV").is_some_and(|v| Path::new(&v) == workdir.root())
}

/// Writes `bin/activate` (0700: private, and run by mistake it says how
/// to source it); returns its path.
pub fn write(workdir: &Workdir) -> Result<PathBuf, WorkdirError> {
    let path = workdir.activate_script();
    write_atomic_mode(&path, script(workdir).as_bytes(), 0o700)?;
    Ok(path)
}

/// The bash/zsh script written to `bin/activate`.
fn script(workdir: &Workdir) -> String {
    let source = format!("source {}", quote::path(&workdir.activate_script()));
    let vars = environment(workdir);
    let names: Vec<&str> = vars.iter().map(|(n, _)| *n).collect();
    let mut s = String::new();
    s.push_str(&format!(
        r#"#!/bin/bash
# ovs-offline: point OVS/OVN tools at the replica in {root}
# Use it with:  {source}      (bash or zsh)
_ovs_offline_sourced=1
if [ -n "${{ZSH_VERSION-}}" ]; then
    case "${{ZSH_EVAL_CONTEXT-}}" in *:file*) ;; *) _ovs_offline_sourced=0 ;; esac
elif [ -n "${{BASH_VERSION-}}" ] && [ "${{BASH_SOURCE[0]}}" = "$0" ]; then
    _ovs_offline_sourced=0
fi
if [ "$_ovs_offline_sourced" = 0 ]; then
    printf 'This script must be sourced, not executed: run %s\n' {source} >&2
    exit 1
fi
unset _ovs_offline_sourced
if [ -n "${{OVS_OFFLINE_ENV-}}" ] && command -v ovs-offline-deactivate >/dev/null 2>&1; then
    ovs-offline-deactivate
fi
"#,
        root = quote::path(workdir.root()),
        source = quote::shell(&source)
    ));
    for name in &names {
        s.push_str(&format!(
            "if [ -n \"${{{name}+x}}\" ]; then _OVS_OFFLINE_OLD_{name}=\"${name}\"; else unset _OVS_OFFLINE_OLD_{name}; fi\n"
        ));
    }
    s.push_str("_OVS_OFFLINE_OLD_PS1=\"${PS1-}\"\n");
    for (name, value) in &vars {
        s.push_str(&format!("export {name}={}\n", quote::path(Path::new(value))));
    }
    s.push_str("PS1=\"(ovs-offline) ${PS1-}\"\n\novs-offline-deactivate() {\n");
    for name in &names {
        s.push_str(&format!(
            "    if [ -n \"${{_OVS_OFFLINE_OLD_{name}+x}}\" ]; then export {name}=\"$_OVS_OFFLINE_OLD_{name}\"; else unset {name}; fi\n    unset _OVS_OFFLINE_OLD_{name}\n"
        ));
    }
    s.push_str(
        r#"    PS1="$_OVS_OFFLINE_OLD_PS1"
    unset _OVS_OFFLINE_OLD_PS1
    if [ -n "${_OVS_OFFLINE_OWNS_DEACTIVATE-}" ]; then
        unset -f deactivate
        unset _OVS_OFFLINE_OWNS_DEACTIVATE
    fi
    unset -f ovs-offline-deactivate
}

echo "* You can now run the following offline commands directly:"
echo "ovs-appctl [...]"
echo "ovs-vsctl [...]"
echo "ovsdb-client [...]"
echo "ovn-nbctl [...]"
echo "ovsdb-client [...] \$OVN_NB_DB"
echo "ovn-sbctl [...]"
echo "ovsdb-client [...] \$OVN_SB_DB"
echo "ovs-ofctl [...] [bridge]"
echo "* You can restore your previous environment with:"
if command -v deactivate >/dev/null 2>&1; then
    echo "ovs-offline-deactivate    ('deactivate' already exists in this shell, e.g. from a Python venv)"
else
    deactivate() { ovs-offline-deactivate; }
    _OVS_OFFLINE_OWNS_DEACTIVATE=1
    echo "deactivate"
fi
"#,
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_exports_every_variable() {
        let workdir = Workdir::new(std::path::Path::new("/tmp/w x")).unwrap();
        let text = script(&workdir);
        assert!(text.contains("export OVN_SB_DB='unix:/tmp/w x/var-run/ovn_sb/db.sock'"));
        assert!(text.contains("export OVS_RUNDIR='/tmp/w x/var-run/ovs'"));
        assert!(text.contains("ovs-offline-deactivate()"));
    }

    /// Issue #13: a workdir path with a newline or `$(…)` broke the script
    /// (and ran the command substitution when sourced).
    #[test]
    fn hostile_workdir_path_is_read_back_not_run() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("w\n$(touch pwned)'`touch pwned2`");
        let workdir = Workdir::new(&root).unwrap();
        let file = dir.path().join("activate");
        std::fs::write(&file, script(&workdir)).unwrap();
        let sourced = std::process::Command::new("bash")
            .current_dir(dir.path())
            .args(["-c", r#"source "$1" >/dev/null && printf %s "$OVS_OFFLINE_ENV""#, "bash"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(sourced.status.success(), "{}", String::from_utf8_lossy(&sourced.stderr));
        assert_eq!(sourced.stdout, root.as_os_str().as_encoded_bytes());
        let executed = std::process::Command::new("bash").current_dir(dir.path()).arg(&file).output().unwrap();
        assert!(String::from_utf8_lossy(&executed.stderr).contains("must be sourced, not executed: run source "));
        assert!(!dir.path().join("pwned").exists() && !dir.path().join("pwned2").exists());
    }
}
