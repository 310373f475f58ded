//! `bin/activate` and the environment a replica is used with: the same
//! variables for the sourced script and for `ovs-offline exec`.

use crate::capture::DbKind;
use crate::workdir::Workdir;
use std::path::Path;

/// Variables that point OVS/OVN clients at the replica.
pub fn environment(workdir: &Workdir) -> Vec<(&'static str, String)> {
    let unix = |kind| format!("unix:{}", workdir.db_socket(kind).display());
    vec![
        ("OVS_RUNDIR", workdir.run_dir(DbKind::Ovs).display().to_string()),
        ("OVN_RUNDIR", workdir.ovn_default_run_dir().display().to_string()),
        ("OVN_NB_DB", unix(DbKind::OvnNb)),
        ("OVN_SB_DB", unix(DbKind::OvnSb)),
        ("OVS_OFFLINE_ENV", workdir.root().display().to_string()),
    ]
}

/// True when the calling shell has this workdir's replica activated.
pub fn is_active_here(workdir: &Workdir) -> bool {
    std::env::var_os("OVS_OFFLINE_ENV").is_some_and(|v| Path::new(&v) == workdir.root())
}

/// The bash/zsh script written to `bin/activate`.
pub fn script(workdir: &Workdir) -> String {
    let path = workdir.activate_script().display().to_string();
    let vars = environment(workdir);
    let names: Vec<&str> = vars.iter().map(|(n, _)| *n).collect();
    let mut s = String::new();
    s.push_str(&format!(
        r#"#!/bin/bash
# ovs-offline: point OVS/OVN tools at the replica in {root}
# Use it with:  source {path}      (bash or zsh)
_ovs_offline_sourced=1
if [ -n "${{ZSH_VERSION-}}" ]; then
    case "${{ZSH_EVAL_CONTEXT-}}" in *:file*) ;; *) _ovs_offline_sourced=0 ;; esac
elif [ -n "${{BASH_VERSION-}}" ] && [ "${{BASH_SOURCE[0]}}" = "$0" ]; then
    _ovs_offline_sourced=0
fi
if [ "$_ovs_offline_sourced" = 0 ]; then
    echo "This script must be sourced, not executed: run 'source {path}'" >&2
    exit 1
fi
unset _ovs_offline_sourced
if [ -n "${{OVS_OFFLINE_ENV-}}" ] && command -v ovs-offline-deactivate >/dev/null 2>&1; then
    ovs-offline-deactivate
fi
"#,
        root = workdir.root().display()
    ));
    for name in &names {
        s.push_str(&format!(
            "if [ -n \"${{{name}+x}}\" ]; then _OVS_OFFLINE_OLD_{name}=\"${name}\"; else unset _OVS_OFFLINE_OLD_{name}; fi\n"
        ));
    }
    s.push_str("_OVS_OFFLINE_OLD_PS1=\"${PS1-}\"\n");
    for (name, value) in &vars {
        s.push_str(&format!("export {name}={}\n", shell_quote(value)));
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

/// Single-quotes `value` for POSIX shells.
fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_hostile_paths() {
        assert_eq!(shell_quote("/tmp/a'b"), r"'/tmp/a'\''b'");
    }

    #[test]
    fn script_exports_every_variable() {
        let workdir = Workdir::new(std::path::Path::new("/tmp/w x")).unwrap();
        let text = script(&workdir);
        assert!(text.contains("export OVN_SB_DB='unix:/tmp/w x/var-run/ovn_sb/db.sock'"));
        assert!(text.contains("export OVS_RUNDIR='/tmp/w x/var-run/ovs'"));
        assert!(text.contains("ovs-offline-deactivate()"));
    }
}
