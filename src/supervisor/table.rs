//! The supervisor's bookkeeping: every spec it was given, the current
//! process of each (pid, generation, exit, readiness, launch time) and its
//! restart history (recent failures, a restart due, given up). Plain data,
//! no processes or signals, so it is tested on its own.

use super::{DaemonSpec, Exit};
use nix::unistd::Pid;
use std::time::Instant;

/// One process of a spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Process {
    /// Pid in the supervisor's PID namespace.
    pub pid: Pid,
    /// 0 for the first start of the spec, one more for each respawn.
    pub generation: u32,
    pub exit: Option<Exit>,
    /// True once the spec's probe passed for this process.
    pub ready: bool,
    pub launched_at: Instant,
}

impl Process {
    pub fn running(&self) -> bool {
        self.exit.is_none()
    }
}

/// A spec, its current (or last) process (none before the first spawn)
/// and what its restart policy has seen.
#[derive(Debug)]
pub(super) struct Supervised {
    pub spec: DaemonSpec,
    pub process: Option<Process>,
    /// Unexpected exits its restart policy still counts.
    pub failures: Vec<Instant>,
    /// When its next process is due, after an unexpected exit.
    pub restart_at: Option<Instant>,
}

/// The supervised daemons, in the order they were added.
#[derive(Debug, Default)]
pub(super) struct Table {
    entries: Vec<Supervised>,
}

impl Table {
    /// Adds a spec, not yet spawned; its index.
    pub fn add(&mut self, spec: DaemonSpec) -> usize {
        self.entries.push(Supervised { spec, process: None, failures: Vec::new(), restart_at: None });
        self.entries.len() - 1
    }

    pub fn get(&self, i: usize) -> &Supervised {
        &self.entries[i]
    }

    pub fn get_mut(&mut self, i: usize) -> &mut Supervised {
        &mut self.entries[i]
    }

    /// Records a new process for the spec at `i`, replacing the last one:
    /// generation 0 for its first process, one more for each respawn.
    pub fn launched(&mut self, i: usize, pid: Pid, now: Instant) -> Process {
        let entry = &mut self.entries[i];
        let generation = entry.process.map_or(0, |p| p.generation + 1);
        let process = Process { pid, generation, exit: None, ready: false, launched_at: now };
        entry.process = Some(process);
        entry.restart_at = None;
        process
    }

    /// Marks the process at `i` ready.
    pub fn mark_ready(&mut self, i: usize) {
        if let Some(p) = &mut self.entries[i].process {
            p.ready = true;
        }
    }

    /// Indexes of running processes whose probe has not passed yet.
    pub fn unready(&self) -> Vec<usize> {
        self.indexes(|p| p.running() && !p.ready)
    }

    /// Records the exit of the running process with `pid`; its index, or
    /// `None` for an orphan that is none of ours.
    pub fn exited(&mut self, pid: Pid, exit: Exit) -> Option<usize> {
        let i = self.indexes(|p| p.running() && p.pid == pid).into_iter().next()?;
        if let Some(p) = &mut self.entries[i].process {
            p.exit = Some(exit);
        }
        Some(i)
    }

    /// Pids of the processes still running.
    pub fn running(&self) -> Vec<Pid> {
        self.indexes(Process::running).into_iter().filter_map(|i| self.entries[i].process.map(|p| p.pid)).collect()
    }

    /// Indexes of specs whose restart is due at `now`.
    pub fn restarts_due(&self, now: Instant) -> Vec<usize> {
        let due = |e: &Supervised| e.restart_at.is_some_and(|at| at <= now);
        self.entries.iter().enumerate().filter(|(_, e)| due(e)).map(|(i, _)| i).collect()
    }

    /// The earliest restart scheduled, if any.
    pub fn next_restart(&self) -> Option<Instant> {
        self.entries.iter().filter_map(|e| e.restart_at).min()
    }

    /// Forgets every scheduled restart (the supervisor is stopping).
    pub fn cancel_restarts(&mut self) {
        for entry in &mut self.entries {
            entry.restart_at = None;
        }
    }

    fn indexes(&self, matches: impl Fn(&Process) -> bool) -> Vec<usize> {
        let has = |e: &Supervised| e.process.as_ref().is_some_and(&matches);
        self.entries.iter().enumerate().filter(|(_, e)| has(e)).map(|(i, _)| i).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervisor::tests::spec;
    use std::time::Duration;

    #[test]
    fn generations_count_the_spawns_of_a_spec() {
        let mut table = Table::default();
        let now = Instant::now();
        let i = table.add(spec("switch"));
        assert!(table.get(i).process.is_none());
        assert_eq!(table.launched(i, Pid::from_raw(10), now).generation, 0);
        assert_eq!(table.exited(Pid::from_raw(10), Exit::Signal(9)), Some(i));
        let respawned = table.launched(i, Pid::from_raw(11), now);
        assert_eq!(
            respawned,
            Process { pid: Pid::from_raw(11), generation: 1, exit: None, ready: false, launched_at: now }
        );
        assert_eq!(table.running(), vec![Pid::from_raw(11)]);
    }

    #[test]
    fn exits_are_recorded_once_on_the_process_with_that_pid() {
        let mut table = Table::default();
        let now = Instant::now();
        let a = table.add(spec("db"));
        let b = table.add(spec("switch"));
        table.launched(a, Pid::from_raw(10), now);
        table.launched(b, Pid::from_raw(11), now);
        assert_eq!(table.exited(Pid::from_raw(99), Exit::Code(0)), None, "an orphan");
        assert_eq!(table.exited(Pid::from_raw(11), Exit::Code(1)), Some(b));
        assert_eq!(table.exited(Pid::from_raw(11), Exit::Code(1)), None, "already reaped");
        assert_eq!(table.get(b).process.unwrap().exit, Some(Exit::Code(1)));
        assert_eq!(table.get(a).process.unwrap().exit, None);
        assert_eq!(table.running(), vec![Pid::from_raw(10)]);
    }

    #[test]
    fn unready_lists_running_processes_until_their_probe_passed() {
        let mut table = Table::default();
        let now = Instant::now();
        let a = table.add(spec("db"));
        let b = table.add(spec("db2"));
        let never_spawned = table.add(spec("switch"));
        table.launched(a, Pid::from_raw(10), now);
        table.launched(b, Pid::from_raw(11), now);
        assert_eq!(table.unready(), vec![a, b]);
        table.mark_ready(a);
        assert_eq!(table.unready(), vec![b]);
        table.exited(Pid::from_raw(11), Exit::Code(1));
        assert!(table.unready().is_empty());
        assert!(!table.unready().contains(&never_spawned));
    }

    #[test]
    fn restarts_fall_due_in_order_and_a_launch_clears_them() {
        let mut table = Table::default();
        let now = Instant::now();
        let a = table.add(spec("db"));
        let b = table.add(spec("switch"));
        assert_eq!(table.next_restart(), None);
        table.get_mut(a).restart_at = Some(now + Duration::from_millis(200));
        table.get_mut(b).restart_at = Some(now + Duration::from_millis(100));
        assert_eq!(table.next_restart(), Some(now + Duration::from_millis(100)));
        assert!(table.restarts_due(now).is_empty());
        assert_eq!(table.restarts_due(now + Duration::from_millis(150)), vec![b]);
        table.launched(b, Pid::from_raw(12), now);
        assert_eq!(table.restarts_due(now + Duration::from_secs(1)), vec![a]);
        table.cancel_restarts();
        assert_eq!(table.next_restart(), None);
    }
}
