//! Which per-bridge OpenFlow dump a file holds, from its name: the names
//! sos gives command outputs in `sos_commands/{openvswitch,ovn_host}/`, and
//! the names ovs-save gives its dumps.
//!
//! sos names a command's output after the command line: characters other
//! than word characters, `-`, `.` and `/` become `_` (a run of them one
//! `_`), `/` becomes `.`, then `._-` and spaces are stripped from both ends;
//! a second output with the same name gets `.1`, `.2`, … So
//! `ovs-ofctl -O OpenFlow13 dump-flows br-int` is
//! `ovs-ofctl_-O_OpenFlow13_dump-flows_br-int`. Only the dumps a replica
//! restores are recognised (`dump-flows`, `dump-groups`, `dump-tlv-map`,
//! `dump-meters`, and `ovs-appctl fdb/show BR`, i.e.
//! `ovs-appctl_fdb.show_<br>`); `dump-group-stats`, `meter-stats`,
//! `dump-ports*`, `show` and the rest are not.
//!
//! A command sos ran in a container or through a snap carries a prefix:
//! `podman exec <container> ovn-nbctl …` (`Plugin.fmt_container_cmd`: the
//! runtime's `exec`, then the container's name, or its id for crictl) is
//! `podman_exec_ovn-dbs-bundle-podman-0_ovn-nbctl_--no-leader-only_show`;
//! Sunbeam and MicroOVN's snap commands are `openstack-hypervisor.ovs-vsctl_…`
//! and `microovn.ovn-nbctl_…`. [`sos_command`] drops any such prefix.

use super::{DumpKind, OfVersion};

/// What a sos dump file name says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SosDumpName {
    /// The `-O` version, `None` for the plain `ovs-ofctl dump-flows BR`.
    pub version: Option<OfVersion>,
    pub kind: DumpKind,
    /// The bridge as it appears in the name, i.e. after sos's mangling (see
    /// [`sos_mangled_bridge`]); the same as the real name for names made of
    /// letters, digits, `-`, `_` and `.`.
    pub bridge: String,
}

const COMMANDS: [(&str, DumpKind); 4] = [
    ("dump-flows_", DumpKind::Flows),
    ("dump-groups_", DumpKind::Groups),
    ("dump-tlv-map_", DumpKind::TlvMap),
    ("dump-meters_", DumpKind::Meters),
];

const OFCTL: &str = "ovs-ofctl_";

/// `ovs-appctl fdb/show <bridge>` as sos names it.
const FDB_SHOW: &str = "ovs-appctl_fdb.show_";

/// The OVS and OVN programs whose output a replica reads, as the start of
/// a sos command file name.
const PROGRAMS: [&str; 7] =
    [OFCTL, "ovs-vsctl_", "ovs-appctl_", "ovsdb-client_", "ovn-nbctl_", "ovn-sbctl_", "ovn-appctl_"];

/// The command part of a sos command file name (a path is reduced to its
/// last component): from the first OVS or OVN program named at the start
/// or after a `_` or `.`, so without the prefix of a command run in a
/// container or through a snap (see the module documentation). The name
/// itself when it names none of them.
pub fn sos_command(name: &str) -> &str {
    let name = name.rsplit('/').next().unwrap_or(name);
    let at_boundary = |i: usize| i == 0 || matches!(name.as_bytes()[i - 1], b'.' | b'_');
    PROGRAMS
        .iter()
        .filter_map(|program| name.match_indices(program).map(|(i, _)| i).find(|&i| at_boundary(i)))
        .min()
        .map_or(name, |start| &name[start..])
}

/// Parses a sos file name (a path is reduced to its last component) such
/// as `ovs-ofctl_-O_OpenFlow15_dump-groups_breth0` or
/// `ovs-ofctl_dump-flows_br-int`. A command prefix before `ovs-ofctl`
/// (`openstack-hypervisor.ovs-ofctl_…`, `podman_exec_…_ovs-ofctl_…`, see
/// [`sos_command`]) is allowed. `None` for other commands and for sos's duplicate copies
/// (`….1`): a bridge whose real name ends in `.<digits>` cannot be told
/// from such a copy and is not recognised.
pub fn parse_sos_dump_name(name: &str) -> Option<SosDumpName> {
    let command = sos_command(name);
    if let Some(bridge) = command.strip_prefix(FDB_SHOW) {
        return dump_of_bridge(None, DumpKind::Fdb, bridge);
    }
    let mut rest = command.strip_prefix(OFCTL)?;
    let mut version = None;
    if let Some(after) = rest.strip_prefix("-O_") {
        let (v, tail) = after.split_once('_')?;
        version = Some(v.parse().ok()?);
        rest = tail;
    }
    let (kind, bridge) = COMMANDS.iter().find_map(|(cmd, kind)| Some((*kind, rest.strip_prefix(cmd)?)))?;
    dump_of_bridge(version, kind, bridge)
}

fn dump_of_bridge(version: Option<OfVersion>, kind: DumpKind, bridge: &str) -> Option<SosDumpName> {
    if bridge.is_empty() || is_duplicate_suffix(bridge) {
        return None;
    }
    Some(SosDumpName { version, kind, bridge: bridge.into() })
}

/// True when `bridge` ends in `.<digits>`, sos's suffix for a repeated name.
fn is_duplicate_suffix(bridge: &str) -> bool {
    bridge.rsplit_once('.').is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The bridge name as it appears at the end of a sos file name, to match
/// [`SosDumpName::bridge`] against the bridges of the collected database:
/// runs of characters other than word characters, `-` and `.` become one
/// `_`, trailing `.`, `_`, `-` go (`br:1` → `br_1`, `br-` → `br`).
pub fn sos_mangled_bridge(bridge: &str) -> String {
    let mut out = String::with_capacity(bridge.len());
    let mut in_run = false;
    for c in bridge.chars() {
        if c.is_alphanumeric() || matches!(c, '_' | '-' | '.') {
            out.push(c);
            in_run = false;
        } else if c == '/' {
            out.push('.');
            in_run = false;
        } else if !in_run {
            out.push('_');
            in_run = true;
        }
    }
    out.trim_end_matches(['.', '_', '-', ' ']).to_string()
}

/// Parses an ovs-save dump file name, `<bridge>.flows.dump` or
/// `<bridge>.groups.dump` (a path is reduced to its last component).
pub fn parse_ovs_save_dump_name(name: &str) -> Option<(DumpKind, &str)> {
    let name = name.rsplit('/').next().unwrap_or(name);
    let (bridge, kind) = if let Some(b) = name.strip_suffix(".flows.dump") {
        (b, DumpKind::Flows)
    } else {
        (name.strip_suffix(".groups.dump")?, DumpKind::Groups)
    };
    (!bridge.is_empty()).then_some((kind, bridge))
}

#[cfg(test)]
mod tests {
    use super::*;
    use OfVersion::*;

    fn sos(version: Option<OfVersion>, kind: DumpKind, bridge: &str) -> Option<SosDumpName> {
        Some(SosDumpName { version, kind, bridge: bridge.into() })
    }

    #[test]
    fn versioned_names() {
        assert_eq!(
            parse_sos_dump_name("ovs-ofctl_-O_OpenFlow13_dump-flows_br-int"),
            sos(Some(OpenFlow13), DumpKind::Flows, "br-int")
        );
        assert_eq!(
            parse_sos_dump_name("ovs-ofctl_-O_OpenFlow15_dump-groups_breth0"),
            sos(Some(OpenFlow15), DumpKind::Groups, "breth0")
        );
        assert_eq!(
            parse_sos_dump_name("ovs-ofctl_-O_OpenFlow10_dump-tlv-map_breth0"),
            sos(Some(OpenFlow10), DumpKind::TlvMap, "breth0")
        );
        assert_eq!(
            parse_sos_dump_name("ovs-ofctl_-O_OpenFlow14_dump-meters_br_ex"),
            sos(Some(OpenFlow14), DumpKind::Meters, "br_ex")
        );
    }

    #[test]
    fn versionless_names() {
        assert_eq!(parse_sos_dump_name("ovs-ofctl_dump-flows_br-int"), sos(None, DumpKind::Flows, "br-int"));
        assert_eq!(parse_sos_dump_name("ovs-ofctl_dump-groups_br-int"), sos(None, DumpKind::Groups, "br-int"));
    }

    /// sos's openvswitch plugin runs `ovs-appctl fdb/show <bridge>` per bridge.
    #[test]
    fn fdb_show_names() {
        assert_eq!(parse_sos_dump_name("ovs-appctl_fdb.show_br-ex"), sos(None, DumpKind::Fdb, "br-ex"));
        assert_eq!(
            parse_sos_dump_name("openstack-hypervisor.ovs-appctl_fdb.show_br_1"),
            sos(None, DumpKind::Fdb, "br_1")
        );
        for name in ["ovs-appctl_fdb.show_", "ovs-appctl_fdb.show_br-ex.1", "ovs-appctl_fdb.stats-show_br-ex"] {
            assert_eq!(parse_sos_dump_name(name), None, "{name}");
        }
    }

    #[test]
    fn paths_and_prefixes() {
        assert_eq!(
            parse_sos_dump_name("sosreport-x/sos_commands/ovn_host/ovs-ofctl_-O_OpenFlow13_dump-flows_br-int"),
            sos(Some(OpenFlow13), DumpKind::Flows, "br-int")
        );
        assert_eq!(
            parse_sos_dump_name("openstack-hypervisor.ovs-ofctl_dump-flows_br-int"),
            sos(None, DumpKind::Flows, "br-int")
        );
        assert_eq!(parse_sos_dump_name("xovs-ofctl_dump-flows_br-int"), None);
    }

    /// Names sos gives commands run in a container or a snap, from its
    /// plugins (ovn_central in a TripleO bundle or a clustered OSP DB
    /// container, openshift_ovn through crictl, Sunbeam, MicroOVN).
    #[test]
    fn container_and_snap_prefixes() {
        for (name, command) in [
            ("podman_exec_ovn-dbs-bundle-podman-0_ovn-nbctl_--no-leader-only_show", "ovn-nbctl_--no-leader-only_show"),
            (
                "podman_exec_ovn_cluster_north_db_server_ovn-sbctl_--no-leader-only_lflow-list",
                "ovn-sbctl_--no-leader-only_lflow-list",
            ),
            (
                "docker_exec_ovn-dbs-bundle-docker-0_ovs-appctl_-t_.var.run.openvswitch.ovnnb_db.ctl_cluster.status_OVN_Northbound",
                "ovs-appctl_-t_.var.run.openvswitch.ovnnb_db.ctl_cluster.status_OVN_Northbound",
            ),
            (
                "crictl_exec_8d3c0f7a1b2e_ovn-appctl_-t_.var.run.ovn.ovnnb_db.ctl_cluster.status_OVN_Northbound",
                "ovn-appctl_-t_.var.run.ovn.ovnnb_db.ctl_cluster.status_OVN_Northbound",
            ),
            ("openstack-hypervisor.ovs-vsctl_-t_5_list-br", "ovs-vsctl_-t_5_list-br"),
            ("openstack-hypervisor.ovs-ofctl_-t_5_--version", "ovs-ofctl_-t_5_--version"),
            ("microovn.ovn-nbctl_--no-leader-only_show", "ovn-nbctl_--no-leader-only_show"),
            ("sos_commands/openvswitch/ovs-vsctl_-t_5_list-br", "ovs-vsctl_-t_5_list-br"),
            ("ovs-vsctl_-t_5_list_Open_vSwitch", "ovs-vsctl_-t_5_list_Open_vSwitch"),
            ("ls_-laZ_.run.openvswitch", "ls_-laZ_.run.openvswitch"),
            ("xovs-vsctl_list-br", "xovs-vsctl_list-br"),
        ] {
            assert_eq!(sos_command(name), command, "{name}");
        }
        // The same prefix rule for a dump run in a container.
        assert_eq!(
            parse_sos_dump_name("podman_exec_ovn_controller_ovs-ofctl_-O_OpenFlow13_dump-flows_br-int"),
            sos(Some(OpenFlow13), DumpKind::Flows, "br-int")
        );
        assert_eq!(
            parse_sos_dump_name("openstack-hypervisor.ovs-ofctl_-O_OpenFlow15_dump-groups_br-ex"),
            sos(Some(OpenFlow15), DumpKind::Groups, "br-ex")
        );
    }

    #[test]
    fn other_commands_ignored() {
        for name in [
            "ovs-ofctl_-O_OpenFlow13_dump-group-stats_breth0",
            "ovs-ofctl_-O_OpenFlow13_meter-stats_breth0",
            "ovs-ofctl_-O_OpenFlow13_dump-ports-desc_breth0",
            "ovs-ofctl_dump-ports_br-int",
            "ovs-ofctl_show_br-int",
            "ovs-ofctl_-O_OpenFlow13_show_breth0",
            "ovs-ofctl_queue-stats_br-int",
            "ovs-appctl_bridge.dump-flows_--offload-stats_br-int",
            "ovs-ofctl_-t_5_--version",
            "ovs-ofctl_-O_OpenFlow99_dump-flows_br-int",
            "ovs-ofctl_-O_dump-flows_br-int",
            "ovs-ofctl_dump-flows_",
            "ovs-vsctl_-t_5_list-br",
        ] {
            assert_eq!(parse_sos_dump_name(name), None, "{name}");
        }
    }

    #[test]
    fn duplicates_ignored() {
        assert_eq!(parse_sos_dump_name("ovs-ofctl_dump-flows_br-int.1"), None);
        assert_eq!(parse_sos_dump_name("ovs-ofctl_-O_OpenFlow13_dump-flows_br-int.12"), None);
        assert_eq!(parse_sos_dump_name("ovs-ofctl_dump-flows_br0.v2"), sos(None, DumpKind::Flows, "br0.v2"));
    }

    #[test]
    fn mangling() {
        assert_eq!(sos_mangled_bridge("br-int"), "br-int");
        assert_eq!(sos_mangled_bridge("br_ex.100"), "br_ex.100");
        assert_eq!(sos_mangled_bridge("br:1"), "br_1");
        assert_eq!(sos_mangled_bridge("br@:x"), "br_x");
        assert_eq!(sos_mangled_bridge("br-"), "br");
        assert_eq!(sos_mangled_bridge("br:"), "br");
    }

    #[test]
    fn ovs_save_names() {
        assert_eq!(parse_ovs_save_dump_name("br-int.flows.dump"), Some((DumpKind::Flows, "br-int")));
        assert_eq!(parse_ovs_save_dump_name("/tmp/ovs-save.X/br-ex.groups.dump"), Some((DumpKind::Groups, "br-ex")));
        assert_eq!(parse_ovs_save_dump_name("br.flows.dump.groups.dump"), Some((DumpKind::Groups, "br.flows.dump")));
        for name in [".flows.dump", "br-int.flows", "br-int.meters.dump", "do_restore.sh"] {
            assert_eq!(parse_ovs_save_dump_name(name), None, "{name}");
        }
    }
}
