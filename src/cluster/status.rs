//! `cluster status`: per node, what its capture holds, whether its
//! replica runs and the memory that replica takes, summed over the
//! supervisor and every process below it, read from the host's `/proc`
//! (which sees into the replica's PID namespace): the resident set (RSS,
//! which counts shared library pages in every process) and the
//! proportional set (PSS, which shares them out: what the replica adds).

use super::workspace::{ovs_facts, Node, Workspace, WorkspaceError};
use crate::capture::manifest::Manifest;
use crate::capture::DbKind;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::fs;

/// One node's line.
#[derive(Debug, Clone, Serialize)]
pub struct NodeStatus {
    pub name: String,
    /// The databases collected (`Open_vSwitch`, `OVN_Northbound`, …).
    pub databases: Vec<DbKind>,
    /// Files of OpenFlow state collected.
    pub flow_files: usize,
    /// `Open_vSwitch external_ids:ovn-encap-ip` of the collected OVS database.
    pub encap_ip: Option<String>,
    pub running: bool,
    /// Flows the running replica restored, summed over its bridges.
    pub flows_restored: Option<usize>,
    /// Resident memory (RSS) of the running replica's processes, in KiB.
    pub memory_kib: Option<u64>,
    /// Their proportional set size (PSS), in KiB, when readable.
    pub memory_pss_kib: Option<u64>,
    /// Processes the running replica has (supervisor included).
    pub processes: Option<usize>,
}

/// Every node's status, sorted by name, and the totals.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterStatus {
    pub nodes: Vec<NodeStatus>,
    pub running: usize,
    /// RSS summed over the running replicas, in KiB.
    pub memory_kib: u64,
    /// PSS summed over the running replicas, in KiB.
    pub memory_pss_kib: u64,
}

impl ClusterStatus {
    pub fn gather(workspace: &Workspace) -> Result<ClusterStatus, WorkspaceError> {
        let nodes = workspace.nodes()?;
        let table = ProcessTable::read();
        let nodes: Vec<NodeStatus> = nodes.iter().map(|n| node_status(n, &table)).collect::<Result<_, _>>()?;
        let running = nodes.iter().filter(|n| n.running).count();
        let memory_kib = nodes.iter().filter_map(|n| n.memory_kib).sum();
        let memory_pss_kib = nodes.iter().filter_map(|n| n.memory_pss_kib).sum();
        Ok(ClusterStatus { nodes, running, memory_kib, memory_pss_kib })
    }
}

fn node_status(node: &Node, table: &ProcessTable) -> Result<NodeStatus, WorkspaceError> {
    let workdir = &node.workdir;
    let manifest = Manifest::load(workdir)?;
    let running = workdir.is_running()?;
    let run = if running { workdir.load_state()?.run } else { None };
    let supervisor = run.as_ref().and_then(|r| r.phase.supervisor_pid());
    let pids = supervisor.map(|pid| table.tree(pid));
    Ok(NodeStatus {
        name: node.name.clone(),
        databases: manifest.collected.keys().copied().collect(),
        flow_files: manifest.flows.map_or(0, |f| f.files.len()),
        encap_ip: ovs_facts(workdir)?.encap_ip,
        running,
        flows_restored: run.as_ref().map(|r| r.restore.iter().map(|b| b.flows.restored).sum()),
        memory_kib: pids.as_ref().map(|pids| pids.iter().filter_map(|pid| rss_kib(*pid)).sum()),
        memory_pss_kib: pids.as_ref().and_then(|pids| pids.iter().map(|pid| pss_kib(*pid)).sum()),
        processes: pids.map(|pids| pids.len()),
    })
}

/// Parent of every process the host's `/proc` shows.
struct ProcessTable {
    children: HashMap<i32, Vec<i32>>,
}

impl ProcessTable {
    fn read() -> ProcessTable {
        let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
        let entries = fs::read_dir("/proc").into_iter().flatten().flatten();
        for pid in entries.filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok()) {
            if let Some(ppid) = parent(pid) {
                children.entry(ppid).or_default().push(pid);
            }
        }
        ProcessTable { children }
    }

    /// `root` and every process below it.
    fn tree(&self, root: i32) -> Vec<i32> {
        let mut seen = HashSet::from([root]);
        let mut todo = vec![root];
        while let Some(pid) = todo.pop() {
            for child in self.children.get(&pid).into_iter().flatten() {
                if seen.insert(*child) {
                    todo.push(*child);
                }
            }
        }
        let mut pids: Vec<i32> = seen.into_iter().filter(|pid| rss_kib(*pid).is_some()).collect();
        pids.sort_unstable();
        pids
    }
}

/// The parent pid in `/proc/PID/stat` (the field after the command name,
/// which may itself hold spaces and parentheses).
fn parent(pid: i32) -> Option<i32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// `VmRSS` of `/proc/PID/status`, in KiB; `None` for a process gone (or a
/// kernel thread).
fn rss_kib(pid: i32) -> Option<u64> {
    proc_kib(pid, "status", "VmRSS:")
}

/// `Pss` of `/proc/PID/smaps_rollup`, in KiB; `None` when not readable
/// (another user's process).
fn pss_kib(pid: i32) -> Option<u64> {
    proc_kib(pid, "smaps_rollup", "Pss:")
}

/// A `FIELD: N kB` line of `/proc/PID/FILE`.
fn proc_kib(pid: i32, file: &str, field: &str) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/{file}")).ok()?;
    let line = text.lines().find_map(|l| l.strip_prefix(field))?;
    line.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_in_its_own_tree_with_its_memory() {
        let me = std::process::id() as i32;
        let table = ProcessTable::read();
        assert_eq!(table.tree(me).first(), Some(&me));
        assert!(rss_kib(me).is_some_and(|kib| kib > 0));
        assert!(pss_kib(me).is_some_and(|kib| kib > 0 && kib <= rss_kib(me).unwrap_or(0) + 1024));
        assert!(parent(me).is_some());
    }
}
