//! A live lab node (a `lab-node.sh` node or one chassis of a
//! `cluster-lab.sh` lab, described by its env file's `LAB_*` variables)
//! laid out as sos 4.12 names what it keeps: the node's real command
//! outputs and database files under the names sos gives them.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The top directory of the report [`lay_out_as_sos`] writes for `hostname`.
pub fn sos_top(hostname: &str) -> String {
    format!("sosreport-{hostname}-2026-12-02-labsoss")
}

/// sos's name for a command's output file: `/` becomes `.`, every run of
/// other characters than letters, digits, `_`, `-` and `.` one `_`.
pub fn sos_name(command: &str) -> String {
    let mut name = String::new();
    let mut mangled = false;
    for c in command.chars() {
        if c == '/' {
            name.push('.');
            mangled = false;
        } else if c.is_alphanumeric() || "_-.".contains(c) {
            name.push(c);
            mangled = false;
        } else if !mangled {
            name.push('_');
            mangled = true;
        }
    }
    name
}

fn var<'a>(env: &'a BTreeMap<String, String>, name: &str) -> &'a str {
    env.get(name).unwrap_or_else(|| panic!("{name} not in the lab env"))
}

/// Runs `command` as sos does on the node (plain bridge names and default
/// sockets, which `OVS_RUNDIR` leads to the node's): its output as sos
/// keeps it (stdout, then stderr) and its exit code.
fn run_as_sos(env: &BTreeMap<String, String>, command: &str) -> (Vec<u8>, i32) {
    let mut words = command.split(' ');
    let program = words.next().unwrap();
    let out = Command::new(program).args(words).env("OVS_RUNDIR", var(env, "LAB_OVS_RUNDIR")).output().unwrap();
    let mut bytes = out.stdout;
    bytes.extend(out.stderr);
    (bytes, out.status.code().unwrap_or(-1))
}

/// The OpenFlow versions sos 4.12 dumps a bridge with: its `protocols`,
/// or, when it has none, the range `ovs-ofctl --version` gives (1.0–1.5).
fn sos_versions(env: &BTreeMap<String, String>, bridge: &str) -> Vec<String> {
    let protocols = super::env_tool(env, "ovs-vsctl", &["get", "Bridge", bridge, "protocols"]);
    let named: Vec<String> = protocols
        .trim()
        .trim_matches(|c| c == '[' || c == ']')
        .split(", ")
        .map(|p| p.trim_matches('"').to_string())
        .filter(|p| !p.is_empty())
        .collect();
    if named.is_empty() {
        (10..=15).map(|v| format!("OpenFlow{v}")).collect()
    } else {
        named
    }
}

/// Writes below `dir` what sos 4.12 keeps of the node `env` describes
/// (plugins openvswitch, ovn_central, ovn_host), named as sos names it,
/// from the node's real command outputs and database files: `version.txt`,
/// `sos_reports/manifest.json`, `ovs-vsctl -t 5 show` and `list interface`,
/// the datapath's `dpctl/show -s`, per bridge of `LAB_BRIDGES` and OpenFlow
/// version the `ovs-ofctl` dumps (an OpenFlow 1.0 meter dump holds
/// ovs-ofctl's error, as in a real report), `etc/openvswitch/conf.db`, and
/// with `ovn_dbs` the NB/SB it uses (`LAB_NB_DB_FILE`, `LAB_SB_DB_FILE`:
/// its zone's) where OpenShift keeps them on every node
/// (`var/lib/ovn-ic/etc`). Returns the report's top directory,
/// [`sos_top`]`(hostname)`.
pub fn lay_out_as_sos(env: &BTreeMap<String, String>, hostname: &str, ovn_dbs: bool, dir: &Path) -> PathBuf {
    let root = dir.join(sos_top(hostname));
    let put = |member: &str, bytes: &[u8]| {
        let path = root.join(member);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, bytes).unwrap();
    };
    let mut commands: Vec<(&str, String)> = vec![
        ("openvswitch", "ovs-vsctl -t 5 list-br".into()),
        ("openvswitch", "ovs-vsctl -t 5 show".into()),
        ("openvswitch", "ovs-vsctl -t 5 list Open_vSwitch".into()),
        ("openvswitch", "ovs-vsctl -t 5 list interface".into()),
        ("openvswitch", "ovs-ofctl -t 5 --version".into()),
        ("openvswitch", "ovs-appctl dpctl/dump-dps".into()),
        ("openvswitch", "ovs-appctl dpctl/show -s system@ovs-system".into()),
    ];
    for bridge in var(env, "LAB_BRIDGES").split_whitespace() {
        commands.push(("openvswitch", format!("ovs-ofctl dump-flows {bridge}")));
        commands.push(("openvswitch", format!("ovs-ofctl dump-groups {bridge}")));
        for version in sos_versions(env, bridge) {
            for command in ["dump-flows", "dump-groups", "dump-tlv-map", "dump-meters"] {
                commands.push(("openvswitch", format!("ovs-ofctl -O {version} {command} {bridge}")));
            }
        }
    }
    commands.push(("ovn_host", "ovs-ofctl -O OpenFlow13 dump-flows br-int".into()));
    commands.push(("ovn_host", "ovs-vsctl list-br".into()));
    let mut plugins = serde_json::Map::new();
    for (plugin, command) in commands {
        let (bytes, code) = run_as_sos(env, &command);
        let filepath = format!("sos_commands/{plugin}/{}", sos_name(&command));
        put(&filepath, &bytes);
        let entry = plugins.entry(plugin).or_insert_with(|| serde_json::json!({"timeout_hit": false, "commands": []}));
        entry["commands"].as_array_mut().unwrap().push(serde_json::json!({
            "exec": command, "filepath": filepath, "truncated": false, "return_code": code
        }));
    }
    let mut files = vec![("LAB_OVS_DB_FILE", "etc/openvswitch/conf.db")];
    if ovn_dbs {
        files.push(("LAB_NB_DB_FILE", "var/lib/ovn-ic/etc/ovnnb_db.db"));
        files.push(("LAB_SB_DB_FILE", "var/lib/ovn-ic/etc/ovnsb_db.db"));
    }
    for (name, member) in files {
        put(member, &fs::read(var(env, name)).unwrap());
    }
    put("version.txt", b"sos report: 4.12.0\n");
    let manifest = serde_json::json!({
        "version": "4.12.0",
        "cmdline": "report --batch -o openvswitch,ovn_central,ovn_host",
        "policy": "Debian",
        "components": {"report": {"plugins": plugins}},
    });
    put("sos_reports/manifest.json", manifest.to_string().as_bytes());
    root
}
