//! Restores a bridge's MAC learning table from its captured `ovs-appctl
//! fdb/show` output: one `ovs-appctl fdb/add BRIDGE PORT VLAN MAC` per
//! entry, static so that it never ages out of a replica that sees no
//! traffic. fdb/show prints OpenFlow port numbers, fdb/add takes port
//! names: the replica's database maps one to the other (its interfaces'
//! `ofport`, which vswitchd keeps from the capture; `LOCAL` is the
//! bridge's own port, named like the bridge). Bridges that
//! forward with `NORMAL` then trace as production does (unicast to the
//! learned port, not flooding).

use super::load::{Rejected, Target};
use super::report::Count;
use crate::capture::flows::Dump;
use crate::capture::DbKind;
use crate::ofp_text::fdb::{self, FdbEntry, FdbPort};
use crate::ovsdb::bridges;
use crate::replica::daemons::VSWITCHD;
use crate::tools::{self, ToolError};
use crate::workdir::Workdir;
use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufReader};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum FdbError {
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot find ovs-vswitchd's control socket in the run state")]
    State(#[source] crate::workdir::WorkdirError),
    #[error("ovs-vswitchd's control socket is not in the run state")]
    NoControlSocket,
    #[error("cannot read the bridge's interfaces from the OVS database")]
    Ports(#[source] io::Error),
    #[error("cannot read the restored MAC learning table")]
    Show(#[source] ToolError),
}

/// Adds the entries of `dump` to the bridge of `target`; what vswitchd
/// refused goes to `rejected` (one `fdb/add` line each).
pub fn restore(
    workdir: &Workdir,
    target: &Target,
    dump: &Dump,
    rejected: &mut Vec<Rejected>,
    notes: &mut Vec<String>,
) -> Result<Count, FdbError> {
    let read = |source| FdbError::Read { path: dump.path.clone(), source };
    let table = fdb::parse_fdb_show(BufReader::new(File::open(&dump.path).map_err(read)?)).map_err(read)?;
    if let Some(first) = &table.first_ignored {
        notes.push(format!(
            "{}: {} lines are no MAC learning table entry and were skipped (first: {first})",
            dump.path.display(),
            table.ignored
        ));
    }
    let mut count = Count { expected: table.entries.len(), ..Count::default() };
    if table.entries.is_empty() {
        return Ok(count);
    }
    let ctl = vswitchd_ctl(workdir)?;
    let socket = workdir.db_socket(DbKind::Ovs);
    let names = bridges::interfaces_by_ofport(&socket, &target.bridge).map_err(FdbError::Ports)?;
    for entry in &table.entries {
        let port = match entry.port {
            FdbPort::Local => Some(target.bridge.clone()),
            FdbPort::Number(n) => names.get(&n).cloned(),
        };
        let args = add_args(&target.bridge, port.as_deref().unwrap_or_default(), entry);
        let line = format!("fdb/add {}", args[1..].join(" "));
        let outcome = match port {
            Some(_) => appctl(&ctl, &args).map(drop).map_err(ToolError::into_stderr),
            None => Err(format!("the bridge has no port with OpenFlow number {}", entry.port)),
        };
        if let Err(error) = outcome {
            rejected.push(Rejected { line, error });
            count.rejected += 1;
        }
    }
    let shown = appctl(&ctl, &["fdb/show".to_string(), target.bridge.clone()]).map_err(FdbError::Show)?;
    count.restored = restored(&table.entries, &shown);
    Ok(count)
}

/// `fdb/add BRIDGE PORT VLAN MAC`.
fn add_args(bridge: &str, port: &str, entry: &FdbEntry) -> Vec<String> {
    vec!["fdb/add".into(), bridge.into(), port.into(), entry.vlan.to_string(), fdb::mac_text(&entry.mac)]
}

fn appctl(ctl: &Path, args: &[String]) -> Result<String, ToolError> {
    let target = format!("--target={}", ctl.display());
    tools::run("ovs-appctl", std::iter::once(target).chain(args.iter().cloned()))
}

/// How many of `expected` the replica's table (`shown`) holds on the same
/// port, VLAN and MAC.
fn restored(expected: &[FdbEntry], shown: &str) -> usize {
    let held: BTreeSet<(FdbPort, u16, [u8; 6])> = fdb::parse_fdb_show(shown.as_bytes())
        .unwrap_or_default()
        .entries
        .iter()
        .map(|e| (e.port, e.vlan, e.mac))
        .collect();
    expected.iter().filter(|e| held.contains(&(e.port, e.vlan, e.mac))).count()
}

/// The control socket of the running ovs-vswitchd, as the supervisor
/// recorded it.
fn vswitchd_ctl(workdir: &Workdir) -> Result<PathBuf, FdbError> {
    let state = workdir.load_state().map_err(FdbError::State)?;
    state
        .run
        .iter()
        .flat_map(|run| &run.daemons)
        .filter(|d| d.name == VSWITCHD && d.exit.is_none())
        .max_by_key(|d| d.generation)
        .and_then(|d| d.ctl.clone())
        .ok_or(FdbError::NoControlSocket)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restored_counts_entries_on_the_same_port_vlan_and_mac() {
        let expected = fdb::parse_fdb_show(
            " port  VLAN  MAC                Age\n    1     0  50:54:00:00:00:01    3\nLOCAL    10  50:54:00:00:00:02    1\n"
                .as_bytes(),
        )
        .unwrap()
        .entries;
        let shown = " port  VLAN  MAC                Age\n    1     0  50:54:00:00:00:01  static\n\
                     LOCAL     0  50:54:00:00:00:02  static\n";
        assert_eq!(restored(&expected, shown), 1);
        assert_eq!(
            add_args("br-ex", "br-ex", &expected[1]),
            vec!["fdb/add", "br-ex", "br-ex", "10", "50:54:00:00:00:02"]
        );
    }
}
