//! Hostile input (issue #13): collected data and workdirs crafted to trick
//! ovs-offline. Every input kind — DB file, flow/group/meter/TLV dumps,
//! `do_restore.sh` — empty, truncated, random, one 100 MB line, of the
//! wrong type, with traversal and absolute paths, symlink, hard-link, FIFO
//! and device tricks, names with shell metacharacters and newlines. Each
//! is a non-zero exit with one clear line (or a clean success where the
//! input is usable), never a panic; nothing is executed, nothing written
//! outside the workdir, and the inputs stay byte-identical.

mod support;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::{installed_schema, make_db, run_ok, Replica};

/// One line naming what is wrong (no panic, no chain of causes).
fn one_line(stderr: &str) -> &str {
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "expected one line, got: {stderr:.2000}");
    assert!(stderr.len() < 2000, "a line of {} bytes: {stderr:.2000}", stderr.len());
    stderr.trim_end()
}

/// Every file below `dir` (not following links) with its contents.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            pending.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else if meta.is_file() {
            let bytes = std::fs::read(&path).unwrap_or_default();
            files.insert(path, bytes);
        } else {
            files.insert(path, Vec::new());
        }
    }
    files
}

/// How [`watch`] tells a command that hangs from one that is slow.
struct Limits {
    /// How long the command's process tree may sit blocked: every process
    /// asleep (none runnable or in disk wait) and no CPU time used. A read
    /// that never returns (a FIFO without a writer, a terminal) blocks at
    /// once and for ever; a command merely slowed by a loaded machine is
    /// runnable, so it is never counted stalled, however long it takes.
    stall: Duration,
    /// The CPU time the tree may use: an endless read (`/dev/zero`) or a
    /// quadratic walk over a 100 MB line runs past it whatever the load,
    /// as CPU time does not grow with waiting for a CPU.
    cpu: Duration,
    /// A last resort against what neither catches (a livelock of sleeps).
    wall: Duration,
}

/// What ovs-offline runs under: none of its commands here blocks, and the
/// worst (a 100 MB input) used 12 s of CPU in a debug build (39 s of wall
/// time on a loaded machine: past the 30 s the guard once allowed).
const OVS_OFFLINE: Limits =
    Limits { stall: Duration::from_secs(20), cpu: Duration::from_secs(120), wall: Duration::from_secs(1800) };

/// `/proc` counts CPU time in USER_HZ ticks, 100 a second on Linux.
const USER_HZ: u64 = 100;

/// One process of a watched tree, from `/proc/<pid>/stat`.
#[derive(Clone, Copy)]
struct Proc {
    pid: i32,
    ppid: i32,
    state: char,
    /// Its own CPU ticks and those of its reaped children.
    ticks: u64,
}

fn proc_stat(pid: i32) -> Option<Proc> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name, which may hold spaces and parentheses.
    let fields: Vec<&str> = stat.rsplit_once(") ")?.1.split_whitespace().collect();
    let tick = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    Some(Proc {
        pid,
        ppid: fields.get(1)?.parse().ok()?,
        state: fields.first()?.chars().next()?,
        ticks: tick(11) + tick(12) + tick(13) + tick(14),
    })
}

/// `root` and its live descendants, parents before their children.
fn process_tree(root: i32) -> Vec<Proc> {
    let all: Vec<Proc> = std::fs::read_dir("/proc")
        .map(|dir| dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).filter_map(proc_stat).collect())
        .unwrap_or_default();
    let mut tree: Vec<Proc> = all.iter().filter(|p| p.pid == root).copied().collect();
    let mut next = 0;
    while let Some(parent) = tree.get(next).map(|p| p.pid) {
        tree.extend(all.iter().filter(|p| p.ppid == parent).copied());
        next += 1;
    }
    tree
}

/// Why a watched command was stopped.
#[derive(Debug)]
enum Hang {
    /// Blocked: each process and the kernel function it sleeps in.
    Stalled(Vec<String>),
    OverCpu(Duration),
    OverWall,
}

/// Waits for `child`, reading its output as it comes (a full pipe would
/// block it), and stops its whole tree when [`Limits`] says it hangs.
fn watch(mut child: std::process::Child, limits: &Limits) -> Result<Output, Hang> {
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let root = child.id() as i32;
    let (start, mut last_ticks, mut stalled_since) = (Instant::now(), 0, None);
    let verdict = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Ok(status);
        }
        let tree = process_tree(root);
        let ticks: u64 = tree.iter().map(|p| p.ticks).sum();
        let blocked = !tree.is_empty() && tree.iter().all(|p| !matches!(p.state, 'R' | 'D')) && ticks == last_ticks;
        last_ticks = ticks;
        stalled_since = if blocked { stalled_since.or(Some(Instant::now())) } else { None };
        if stalled_since.is_some_and(|since: Instant| since.elapsed() > limits.stall) {
            let wchan = |p: &Proc| std::fs::read_to_string(format!("/proc/{}/wchan", p.pid)).unwrap_or_default();
            break Err(Hang::Stalled(
                tree.iter().map(|p| format!("pid {} {} in {}", p.pid, p.state, wchan(p))).collect(),
            ));
        }
        if ticks * 1000 / USER_HZ > limits.cpu.as_millis() as u64 {
            break Err(Hang::OverCpu(Duration::from_millis(ticks * 1000 / USER_HZ)));
        }
        if start.elapsed() > limits.wall {
            break Err(Hang::OverWall);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    match verdict {
        Ok(status) => Ok(Output { status, stdout: stdout.join().unwrap(), stderr: stderr.join().unwrap() }),
        Err(hang) => {
            // Children first: a parent must not outlive them to respawn.
            for p in process_tree(root).iter().rev() {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p.pid), nix::sys::signal::Signal::SIGKILL);
            }
            let _ = child.wait();
            Err(hang)
        }
    }
}

/// Runs `ovs-offline args…`, stopping it (and failing) if it hangs.
fn run_bounded(replica: &Replica, args: &[&OsStr]) -> Output {
    let child = replica.cmd(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    watch(child, &OVS_OFFLINE).unwrap_or_else(|hang| panic!("ovs-offline {args:?} hangs: {hang:?}"))
}

/// The guard itself: a read blocked on a FIFO is stopped as stalled, an
/// endless read of `/dev/zero` past its CPU time, while a command busy for
/// longer than the stall window, or printing more than a pipe holds,
/// finishes.
#[test]
fn the_hang_guard_tells_a_blocked_or_endless_read_from_a_slow_one() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let limits = Limits { stall: Duration::from_secs(2), cpu: Duration::from_secs(2), wall: Duration::from_secs(300) };
    let sh = |script: String| {
        Command::new("sh").arg("-c").arg(script).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
    };
    match watch(sh(format!("cat {} && echo read", fifo.display())), &limits) {
        Err(Hang::Stalled(procs)) => assert_eq!(procs.len(), 2, "sh and cat: {procs:?}"),
        other => panic!("a FIFO without a writer: {other:?}"),
    }
    match watch(sh("cat /dev/zero >/dev/null".into()), &limits) {
        Err(Hang::OverCpu(used)) => assert!(used >= limits.cpu, "{used:?}"),
        other => panic!("an endless read: {other:?}"),
    }
    let busy = "end=$(($(date +%s) + 4)); while [ $(date +%s) -lt $end ]; do :; done; head -c 1000000 /dev/zero";
    let limits = Limits { cpu: Duration::from_secs(60), ..limits };
    let out = watch(sh(busy.into()), &limits).unwrap();
    assert!(out.status.success() && out.stdout.len() == 1_000_000, "{:?}", out.status);
}

/// A directory of inputs the test user can read.
fn inputs(replica: &Replica) -> PathBuf {
    let dir = replica.base.path().join("inputs");
    std::fs::create_dir(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: impl AsRef<Path>, bytes: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, bytes).unwrap();
    support::make_readable(dir);
    path
}

/// Pseudo-random bytes (no dependency; reproducible).
fn random_bytes(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn hostile_database_files_are_refused_in_one_line() {
    let replica = Replica::new();
    let dir = inputs(&replica);
    let good = make_db(&installed_schema("ovs"), &dir, "good.db");
    let good_bytes = std::fs::read(&good).unwrap();
    let nb = make_db(&installed_schema("ovn_nb"), &dir, "nb.db");
    write(&dir, "empty.db", "");
    write(&dir, "truncated.db", &good_bytes[..good_bytes.len().min(120)]);
    write(&dir, "random.db", random_bytes(1 << 16));
    let mut huge = b"OVSDB JSON 104857600 0000000000000000000000000000000000000000\n".to_vec();
    huge.resize(100 << 20, b'x');
    write(&dir, "one-100MB-line.db", &huge);
    drop(huge);
    std::os::unix::fs::symlink("/dev/zero", dir.join("zero.db")).unwrap();
    nix::unistd::mkfifo(&dir.join("fifo.db"), nix::sys::stat::Mode::from_bits_truncate(0o666)).unwrap();
    std::fs::create_dir(dir.join("dir.db")).unwrap();
    support::make_readable(&dir);
    let before = tree(&dir);

    let cases: [(&str, &str, &str); 9] = [
        ("empty.db", "collect-db-ovs", "is empty"),
        ("truncated.db", "collect-db-ovs", ""),
        ("random.db", "collect-db-ovs", ""),
        ("one-100MB-line.db", "collect-db-ovs", ""),
        ("nb.db", "collect-db-ovs", "is an OVN_Northbound database, not Open_vSwitch"),
        ("zero.db", "collect-db-ovs", "is a character device, not a regular file"),
        ("fifo.db", "collect-db-ovn-sb", "is a named pipe (FIFO), not a regular file"),
        ("dir.db", "collect-db-ovn-nb", "is a directory, not a regular file"),
        ("/dev/null", "collect-db-ovs", "is a character device"),
    ];
    for (name, command, says) in cases {
        let path = dir.join(name);
        let out = run_bounded(&replica, &[OsStr::new(command), path.as_os_str()]);
        assert!(!out.status.success(), "{name} was collected");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let line = one_line(&stderr);
        assert!(line.contains(says) && line.len() < 1000, "{name}: {line}");
        assert!(!replica.workdir.exists(), "{name}: a refused file must not create the workdir");
    }
    // The refused FIFO did not leave the collect lock held.
    replica.ok(&[OsStr::new("collect-db-ovs"), good.as_os_str()]);
    // A hard link is a regular file: collected, as it is.
    std::fs::hard_link(&nb, dir.join("nb-link.db")).unwrap();
    replica.ok(&[OsStr::new("collect-db-ovn-nb"), dir.join("nb-link.db").as_os_str()]);
    std::fs::remove_file(dir.join("nb-link.db")).unwrap();
    assert_eq!(tree(&dir), before, "inputs changed");
}

/// An ovs-save output directory around `do_restore.sh` text.
fn ovs_save(dir: &Path, script: &str, flows: &[u8]) -> PathBuf {
    let out = dir.join("saved");
    write(&out, "do_restore.sh", script);
    write(&out, "ovs-save.X/br0.flows.dump", flows);
    out
}

const RESTORE: &str = "ovs-ofctl -O OpenFlow14 replace-flows br0 \"/tmp/ovs-save.X/br0.flows.dump\"\n";

#[test]
fn hostile_flow_inputs_never_run_or_escape() {
    let replica = Replica::new();
    let dir = inputs(&replica);
    let outside = replica.base.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    support::make_readable(replica.base.path());
    // Bridge names a shell would run, one of 100 MB: refused in one line,
    // or collected as data.
    let pwned = outside.join("pwned");
    let p = pwned.display();
    for bridge in [format!("'br$(touch {p})'"), format!("br`touch {p}`"), "b".repeat(100 << 20)] {
        let script = format!("{RESTORE}ovs-ofctl -O OpenFlow14 replace-flows {bridge} \"/etc/passwd\"\n");
        let saved = ovs_save(&dir, &script, b"priority=0 actions=NORMAL\n");
        let out = run_bounded(&replica, &[OsStr::new("collect-flows"), OsStr::new("--force"), saved.as_os_str()]);
        if !out.status.success() {
            one_line(&String::from_utf8_lossy(&out.stderr));
        }
        assert!(String::from_utf8_lossy(&out.stdout).lines().all(|l| l.chars().count() < 1200));
        assert!(!pwned.exists(), "something ran");
    }
    let _ = std::fs::remove_dir_all(&replica.workdir);
    // Commands a shell would run, traversal and absolute paths, one line
    // of 100 MB: ignored with a note each, bounded.
    let script = format!(
        "{RESTORE}touch {p}; $(touch {p}) `touch {p}`\n\
         ovs-ofctl -O OpenFlow14 add-groups br0 \"../../../{p}\"\n\
         ovs-ofctl -O OpenFlow14 add-groups br0 \"/etc/passwd\"\n\
         {long}\n",
        long = "y".repeat(100 << 20)
    );
    let saved = ovs_save(&dir, &script, b"priority=0 actions=NORMAL\n");
    // Tricks in the directory: a link out, a FIFO, a device.
    std::os::unix::fs::symlink("/etc/passwd", saved.join("ovs-save.X/br1.flows.dump")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", saved.join("ovs-save.X/br2.flows.dump")).unwrap();
    nix::unistd::mkfifo(&saved.join("ovs-save.X/br3.flows.dump"), nix::sys::stat::Mode::from_bits_truncate(0o666))
        .unwrap();
    support::make_readable(&dir);
    let before = tree(&dir);
    let out = run_bounded(&replica, &[OsStr::new("collect-flows"), saved.as_os_str()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.lines().all(|l| l.chars().count() < 1200), "a note was not capped: {stdout:.2000}");
    let manifest = std::fs::metadata(replica.workdir.join("capture.json")).unwrap();
    assert!(manifest.len() < 100_000, "capture.json holds {} bytes", manifest.len());
    let collected: Vec<PathBuf> = tree(&replica.workdir.join("restore_flows")).into_keys().collect();
    assert_eq!(collected.len(), 2, "only the regular files: {collected:?}");
    assert!(!pwned.exists(), "something ran");
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0, "written outside the workdir");
    assert_eq!(tree(&dir), before, "inputs changed");

    // Each kind of dump, empty, random or one 100 MB line, named by hand.
    let mut big = b"priority=1,".to_vec();
    big.resize(100 << 20, b'z');
    let junk: [(&str, Vec<u8>); 3] = [("empty", Vec::new()), ("random", random_bytes(1 << 16)), ("huge", big)];
    for (label, bytes) in junk {
        for what in ["dump-flows", "dump-groups", "dump-meters", "dump-tlv-map"] {
            let name = format!("ovs-ofctl_-O_OpenFlow15_{what}_br-{label}");
            let file = write(&dir, format!("{label}/{name}"), &bytes);
            let out = run_bounded(&replica, &[OsStr::new("collect-flows"), OsStr::new("--force"), file.as_os_str()]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!stderr.contains("panicked"), "{name}: {stderr}");
            if !out.status.success() {
                one_line(&stderr);
            }
            assert!(String::from_utf8_lossy(&out.stdout).lines().all(|l| l.chars().count() < 1200), "{name}");
        }
        std::fs::remove_dir_all(dir.join(label)).unwrap();
    }
}

/// Issue #13: a `do_restore.sh` whose dumps were left behind "restored"
/// 0/0 and exited 0.
#[test]
fn do_restore_without_its_dumps_is_named_empty() {
    let replica = Replica::new();
    let dir = inputs(&replica);
    let script = write(&dir, "do_restore.sh", RESTORE);
    let line = one_line(&replica.fails(&[OsStr::new("collect-flows"), script.as_os_str()])).to_string();
    assert!(line.contains("holds no flow dumps"), "{line}");
    let line = one_line(&replica.fails(&[OsStr::new("collect-flows"), dir.as_os_str()])).to_string();
    assert!(line.contains("holds no flow dumps"), "{line}");
    assert!(!replica.workdir.exists());
}

/// Issue #13: names from a collected DB reached the terminal unquoted, so
/// pasting the commands `show` prints ran `touch`; a newline split lines.
#[test]
fn show_quotes_hostile_bridge_names() {
    let replica = Replica::new();
    let dir = inputs(&replica);
    let db = dir.join("conf.db");
    run_ok(Command::new("ovsdb-tool").arg("create").arg(&db).arg(installed_schema("ovs")));
    let names = ["br;touch x", "br$(touch y)", "br\nfake line"];
    let mut ops = vec![r#""Open_vSwitch""#.to_string()];
    let mut refs = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let name = serde_json::to_string(name).unwrap();
        ops.push(format!(
            r#"{{"op":"insert","table":"Interface","row":{{"name":{name},"type":"internal"}},"uuid-name":"i{i}"}},
               {{"op":"insert","table":"Port","row":{{"name":{name},"interfaces":["named-uuid","i{i}"]}},"uuid-name":"p{i}"}},
               {{"op":"insert","table":"Bridge","row":{{"name":{name},"ports":["named-uuid","p{i}"]}},"uuid-name":"b{i}"}}"#
        ));
        refs.push(format!(r#"["named-uuid","b{i}"]"#));
    }
    ops.push(format!(r#"{{"op":"insert","table":"Open_vSwitch","row":{{"bridges":["set",[{}]]}}}}"#, refs.join(",")));
    run_ok(Command::new("ovsdb-tool").arg("transact").arg(&db).arg(format!("[{}]", ops.join(","))));
    support::make_readable(&dir);
    replica.ok(&[OsStr::new("collect-db-ovs"), db.as_os_str()]);
    let started = replica.ok(&["start"]);
    let show = replica.ok(&["show"]);
    for text in [&started, &show] {
        assert!(!text.lines().any(|l| l.starts_with("fake line")), "a name split the output:\n{text}");
    }
    let ofctl: Vec<&str> = show.lines().filter_map(|l| l.strip_prefix("ovs-ofctl [...] ")).collect();
    assert_eq!(ofctl.len(), names.len(), "{show}");
    for word in ofctl {
        // What a user pasting the line gets: the socket, and nothing run.
        let out =
            run_ok(Command::new("bash").current_dir(replica.base.path()).arg("-c").arg(format!("printf %s {word}")));
        let path = PathBuf::from(OsStr::from_bytes(&out.stdout));
        assert!(path.exists() && path.starts_with(&replica.workdir), "{word} -> {path:?}");
    }
    assert!(!replica.base.path().join("x").exists() && !replica.base.path().join("y").exists(), "a name ran");
    let status = replica.ok(&["status"]);
    assert!(status.contains("'br;touch x'") && status.contains(r"$'br\nfake line'"), "{status}");
}

/// A command whose stdout is closed before it prints (`| true`).
fn with_closed_stdout(replica: &Replica, args: &[&str]) -> Output {
    let (read, write) = nix::unistd::pipe().unwrap();
    drop(read);
    replica.cmd(args).stdout(Stdio::from(write)).stderr(Stdio::piped()).output().unwrap()
}

/// Issue #13: `| head` made every command panic ("failed printing to
/// stdout", rc 101), and `stop --purge | true` skipped the purge.
#[test]
fn closed_stdout_is_success_and_skips_no_work() {
    let replica = Replica::new();
    let db = make_db(&installed_schema("ovs"), replica.base.path(), "conf.db");
    replica.ok(&[OsStr::new("collect-db-ovs"), db.as_os_str()]);
    for args in [&["status"][..], &["show"], &["status", "--json"], &["start"], &["show"], &["stop", "--purge"]] {
        let out = with_closed_stdout(&replica, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && !stderr.contains("panicked"), "{args:?}: {:?} {stderr}", out.status);
    }
    assert!(!replica.workdir.exists(), "stop --purge | true did not purge");
}

/// Issue #13: `stop --purge` removed any directory it was given.
#[test]
fn purge_refuses_a_directory_that_is_no_workdir() {
    let replica = Replica::new();
    std::fs::create_dir(&replica.workdir).unwrap();
    write(&replica.workdir, "thesis.tex", "years of work");
    write(&replica.workdir, "state.json", "{}");
    std::os::unix::fs::chown(&replica.workdir, Some(support::test_uid()), None).unwrap();
    std::fs::set_permissions(&replica.workdir, std::fs::Permissions::from_mode(0o755)).unwrap();
    for file in ["thesis.tex", "state.json"] {
        std::os::unix::fs::chown(replica.workdir.join(file), Some(support::test_uid()), None).unwrap();
    }
    let before = tree(&replica.workdir);
    let line = one_line(&replica.fails(&["stop", "--purge"])).to_string();
    assert!(line.contains("is not an ovs-offline working directory") && line.contains("not removed"), "{line}");
    assert_eq!(tree(&replica.workdir), before);
}

/// Makes `dir` (and what is in it) the test user's, with `mode`.
fn give_dir(dir: &Path, mode: u32) {
    std::fs::create_dir_all(dir).unwrap();
    std::os::unix::fs::chown(dir, Some(support::test_uid()), None).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Issue #13: a workdir others can write to let them plant files.
#[test]
fn workdir_writable_by_others_is_refused() {
    let mut replica = Replica::new();
    let db = make_db(&installed_schema("ovs"), replica.base.path(), "conf.db");
    give_dir(&replica.workdir, 0o777);
    let line = one_line(&replica.fails(&[OsStr::new("collect-db-ovs"), db.as_os_str()])).to_string();
    assert!(line.contains("can be changed by other users (mode 0777)") && line.contains("chmod go-w"), "{line}");
    // Below a directory others can write to (not sticky): refused too.
    let shared = replica.base.path().join("shared");
    give_dir(&shared, 0o777);
    replica.workdir = shared.join("work");
    let line = one_line(&replica.fails(&[OsStr::new("collect-db-ovs"), db.as_os_str()])).to_string();
    assert!(line.contains("could be swapped by another user") && line.contains("-w DIR"), "{line}");
    assert!(!replica.workdir.exists());
}

/// Issue #13: a workdir made 0755 by the user left the replica's DB
/// copies and logs readable by others.
#[test]
fn files_of_the_tool_are_private_whatever_the_workdir_mode() {
    let replica = Replica::new();
    give_dir(&replica.workdir, 0o755);
    let db = make_db(&installed_schema("ovs"), replica.base.path(), "conf.db");
    replica.ok(&[OsStr::new("collect-db-ovs"), db.as_os_str()]);
    replica.ok(&["start"]);
    let mut pending = vec![replica.workdir.clone()];
    let mut seen = 0;
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            assert_eq!(meta.mode() & 0o077, 0, "{} is mode {:o}", path.display(), meta.mode() & 0o7777);
            seen += 1;
            if meta.is_dir() {
                pending.push(path);
            }
        }
    }
    assert!(seen > 20, "{seen}");
    let script = std::fs::metadata(replica.workdir.join("bin/activate")).unwrap();
    assert_eq!(script.mode() & 0o777, 0o700);
}

/// Issue #13: another local user who creates the (shared `/tmp`) workdir
/// first, with links to the victim's files inside, made the victim
/// overwrite them; after a run as root the user's next command failed
/// naming no path. Needs root to play the other user.
#[test]
fn workdir_of_another_user_is_refused() {
    if !support::is_root() {
        eprintln!("skipped: needs root to play the other user");
        return;
    }
    let replica = Replica::new();
    let db = make_db(&installed_schema("ovs"), replica.base.path(), "conf.db");
    let victim = write(replica.base.path(), "bashrc", "# the victim's own file\n");
    std::os::unix::fs::chown(&victim, Some(support::test_uid()), None).unwrap();
    // The attacker's (root's, here) workdir, world-readable, full of links.
    std::fs::create_dir(&replica.workdir).unwrap();
    std::fs::set_permissions(&replica.workdir, std::fs::Permissions::from_mode(0o755)).unwrap();
    for name in ["state.json", "capture.json", ".collect.lock", ".run.lock", ".state.lock", "state.tmp"] {
        std::os::unix::fs::symlink(&victim, replica.workdir.join(name)).unwrap();
    }
    let before = std::fs::read(&victim).unwrap();
    for args in [&["collect-db-ovs", db.to_str().unwrap()][..], &["start"], &["show"], &["stop", "--purge"]] {
        let line = one_line(&replica.fails(args)).to_string();
        assert!(line.contains("belongs to root (uid 0), not to you") && line.contains("-w DIR"), "{args:?}: {line}");
    }
    assert_eq!(std::fs::read(&victim).unwrap(), before);
    std::fs::remove_dir_all(&replica.workdir).unwrap();

    // The user's own workdir, with a file a run as root left.
    replica.ok(&[OsStr::new("collect-db-ovs"), db.as_os_str()]);
    std::fs::write(replica.workdir.join("log/left-by-root.log"), "").unwrap();
    let line = one_line(&replica.fails(&["start"])).to_string();
    assert!(line.contains("log/left-by-root.log belongs to root (uid 0)"), "{line}");
}
