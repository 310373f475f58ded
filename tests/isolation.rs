//! Isolation, proven with real daemons: a collected database naming every
//! outward target at once (managers, controllers, sFlow/IPFIX/NetFlow
//! collectors, OVN connections and RAFT peers on 127.0.0.1; unix sockets,
//! pcap and SSL files on the host) reaches none of them for the replica's
//! whole life, as the unprivileged user and as root; and a host's own OVS
//! is unchanged by a replica whose database names its sockets.

mod support;

use serde_json::{json, Value};
use std::net::{TcpListener, UdpSocket};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use support::{run_ok, LabNode, Replica};

/// How long the replica holds its hostile configuration: long enough for
/// OVS's first connection attempts and collector timers.
const HOLD: Duration = Duration::from_millis(2500);

/// What the host offers a leaky replica: listeners that count every
/// connection or datagram, sentinel files at paths the database names
/// for sockets and captures, and paths that must never appear.
struct Host {
    dir: tempfile::TempDir,
    unix: Vec<UnixListener>,
    tcp: Vec<TcpListener>,
    udp: Vec<UdpSocket>,
    sentinels: Vec<PathBuf>,
    absent: Vec<PathBuf>,
}

impl Host {
    /// A host directory outside the workdir, owned by the test user (so a
    /// leaky replica could replace its files).
    fn new() -> Host {
        let dir = support::user_dir("isolation-host-");
        Host { dir, unix: Vec::new(), tcp: Vec::new(), udp: Vec::new(), sentinels: Vec::new(), absent: Vec::new() }
    }

    /// The host directory's name, unique to this host.
    fn name(&self) -> String {
        self.dir.path().file_name().unwrap().to_string_lossy().into_owned()
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// A unix socket listener anybody may connect to.
    fn unix_listener(&mut self, name: &str) -> String {
        let path = self.path(name);
        let listener = UnixListener::bind(&path).unwrap();
        listener.set_nonblocking(true).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).unwrap();
        self.unix.push(listener);
        path
    }

    /// A TCP listener on 127.0.0.1; its port.
    fn tcp_port(&mut self) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        self.tcp.push(listener);
        port
    }

    /// A UDP socket on 127.0.0.1; its port.
    fn udp_port(&mut self) -> u16 {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_nonblocking(true).unwrap();
        let port = socket.local_addr().unwrap().port();
        self.udp.push(socket);
        port
    }

    /// A regular file the test user could replace or append to.
    fn sentinel(&mut self, name: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, sentinel_bytes(&path)).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        std::os::unix::fs::chown(&path, Some(support::test_uid()), None).unwrap();
        self.sentinels.push(path.clone());
        path.display().to_string()
    }

    /// A path nothing may create.
    fn absent(&mut self, path: impl Into<PathBuf>) -> String {
        let path = path.into();
        assert!(path.symlink_metadata().is_err(), "{} exists before the test", path.display());
        self.absent.push(path.clone());
        path.display().to_string()
    }

    /// Connections and datagrams received since the last call.
    fn contacts(&self) -> Vec<String> {
        let mut contacts = Vec::new();
        for listener in &self.unix {
            while listener.accept().is_ok() {
                contacts.push(format!("unix connection to {:?}", listener.local_addr().unwrap()));
            }
        }
        for listener in &self.tcp {
            while listener.accept().is_ok() {
                contacts.push(format!("TCP connection to {}", listener.local_addr().unwrap()));
            }
        }
        for socket in &self.udp {
            let mut buf = [0u8; 65536];
            while socket.recv(&mut buf).is_ok() {
                contacts.push(format!("UDP datagram to {}", socket.local_addr().unwrap()));
            }
        }
        contacts
    }

    /// Nothing reached, every sentinel the regular file it was, nothing
    /// new in the host directory or at any named path.
    fn assert_untouched(&self, when: &str) {
        assert_eq!(self.contacts(), Vec::<String>::new(), "{when}: the replica reached the host");
        for sentinel in &self.sentinels {
            let meta = sentinel.symlink_metadata().unwrap_or_else(|e| panic!("{when}: {}: {e}", sentinel.display()));
            assert!(meta.file_type().is_file(), "{when}: {} is no longer a regular file", sentinel.display());
            assert_eq!(std::fs::read(sentinel).unwrap(), sentinel_bytes(sentinel), "{when}: {}", sentinel.display());
        }
        for path in &self.absent {
            assert!(path.symlink_metadata().is_err(), "{when}: {} was created", path.display());
        }
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let mut expected: Vec<String> = self
            .sentinels
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .chain(self.unix.iter().map(|l| {
                let addr = l.local_addr().unwrap();
                addr.as_pathname().unwrap().file_name().unwrap().to_string_lossy().into_owned()
            }))
            .collect();
        expected.sort();
        assert_eq!(names, expected, "{when}: files appeared in {}", self.dir.path().display());
        for listener in &self.unix {
            let path = listener.local_addr().unwrap().as_pathname().unwrap().to_path_buf();
            assert!(path.symlink_metadata().unwrap().file_type().is_socket(), "{when}: {}", path.display());
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        for path in &self.absent {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn sentinel_bytes(path: &Path) -> Vec<u8> {
    format!("sentinel {}\n", path.display()).into_bytes()
}

/// Applies one OVSDB transaction to a database file with the real tool.
fn transact(db: &Path, txn: Value) {
    let out = support::stdout(run_ok(Command::new("ovsdb-tool").arg("transact").arg(db).arg(txn.to_string())));
    assert!(!out.contains("\"error\""), "{out}");
}

fn named(name: &str) -> Value {
    json!(["named-uuid", name])
}

fn set(items: Vec<Value>) -> Value {
    json!(["set", items])
}

fn map(pairs: &[(&str, String)]) -> Value {
    json!(["map", pairs.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>()])
}

/// An Open_vSwitch database naming every outward target the schema has.
fn hostile_ovs_db(host: &mut Host, dir: &Path) -> PathBuf {
    let db = support::make_db(&support::installed_schema("ovs"), dir, "conf.db");
    let managers = [
        format!("punix:{}", host.sentinel("manager-punix")),
        format!("unix:{}", host.unix_listener("manager.sock")),
        format!("tcp:127.0.0.1:{}", host.tcp_port()),
        format!("ssl:127.0.0.1:{}", host.tcp_port()),
        format!("punix:{}", host.absent(format!("/tmp/{}.sock", host.name()))),
        format!("punix:{}", host.absent(format!("/run/{}.sock", host.name()))),
        // Through the host's /proc, into the host's root.
        format!("punix:/proc/1/root{}", host.absent(host.path("via-proc.sock"))),
    ];
    // Through whatever PID 1 of the sandbox holds open, into the host's
    // /proc and the root of this test (a host process).
    let via_fds: Vec<String> = (3..=6)
        .map(|fd| {
            let path = host.absent(host.path(&format!("via-fd-{fd}.sock")));
            format!("punix:/proc/1/fd/{fd}/{}/root{path}", std::process::id())
        })
        .collect();
    // Through a descriptor of the host directory the caller of start left
    // open (see `start_with_inherited_dir`).
    host.absent(host.path("via-inherited.sock"));
    let inherited = format!("punix:/proc/1/fd/{INHERITED_FD}/via-inherited.sock");
    let managers: Vec<String> = managers.into_iter().chain(via_fds).chain([inherited]).collect();
    let controllers = [
        format!("unix:{}", host.unix_listener("controller.sock")),
        format!("tcp:127.0.0.1:{}", host.tcp_port()),
        format!("ssl:127.0.0.1:{}", host.tcp_port()),
        format!("punix:{}", host.sentinel("controller-punix")),
    ];
    let interfaces = [
        ("p-stream", map(&[("stream", format!("unix:{}", host.unix_listener("stream.sock")))])),
        ("p-pstream", map(&[("pstream", format!("punix:{}", host.sentinel("pstream")))])),
        ("p-pcap", map(&[("pcap", host.sentinel("pcap")), ("rxq_pcap", host.absent(host.path("rxq.pcap")))])),
    ];
    let mut ops = vec![json!({"op": "update", "table": "Bridge", "where": [["name", "==", "br0"]],
        "row": {"fail_mode": "standalone", "sflow": named("sflow"), "ipfix": named("ipfix"),
                "netflow": named("netflow"),
                "controller": set(controllers.iter().enumerate().map(|(i, _)| named(&format!("c{i}"))).collect())}})];
    for (i, target) in managers.iter().enumerate() {
        ops.push(json!({"op": "insert", "table": "Manager", "uuid-name": format!("m{i}"), "row": {"target": target}}));
    }
    for (i, target) in controllers.iter().enumerate() {
        ops.push(
            json!({"op": "insert", "table": "Controller", "uuid-name": format!("c{i}"), "row": {"target": target}}),
        );
    }
    ops.push(json!({"op": "insert", "table": "sFlow", "uuid-name": "sflow",
        "row": {"targets": format!("127.0.0.1:{}", host.udp_port()), "polling": 1, "sampling": 1}}));
    ops.push(json!({"op": "insert", "table": "IPFIX", "uuid-name": "ipfix",
        "row": {"targets": format!("127.0.0.1:{}", host.udp_port()), "cache_active_timeout": 1}}));
    ops.push(json!({"op": "insert", "table": "NetFlow", "uuid-name": "netflow",
        "row": {"targets": format!("127.0.0.1:{}", host.udp_port()), "active_timeout": 1}}));
    ops.push(json!({"op": "insert", "table": "SSL", "uuid-name": "ssl", "row": {
        "private_key": host.absent(host.path("ssl-key.pem")),
        "certificate": host.absent(host.path("ssl-cert.pem")),
        "ca_cert": host.absent(host.path("ssl-ca.pem")),
        "bootstrap_ca_cert": true}}));
    for (i, (name, options)) in interfaces.iter().enumerate() {
        ops.push(json!({"op": "insert", "table": "Interface", "uuid-name": format!("i{i}"),
            "row": {"name": name, "options": options}}));
        ops.push(json!({"op": "insert", "table": "Port", "uuid-name": format!("p{i}"),
            "row": {"name": name, "interfaces": named(&format!("i{i}"))}}));
        ops.push(json!({"op": "mutate", "table": "Bridge", "where": [["name", "==", "br0"]],
            "mutations": [["ports", "insert", set(vec![named(&format!("p{i}"))])]]}));
    }
    let managers: Vec<Value> = (0..managers.len()).map(|i| named(&format!("m{i}"))).collect();
    ops.push(json!({"op": "update", "table": "Open_vSwitch", "where": [],
        "row": {"manager_options": set(managers), "ssl": named("ssl")}}));
    let mut txn = vec![json!("Open_vSwitch")];
    txn.extend(ops);
    transact(&db, Value::Array(txn));
    db
}

/// A clustered OVN_Northbound database whose RAFT servers (itself and a
/// peer) are 127.0.0.1 ports the host listens on, with connections to the
/// host.
fn hostile_clustered_nb(host: &mut Host, dir: &Path) -> PathBuf {
    let standalone = support::make_db(&support::installed_schema("ovn_nb"), dir, "nb-standalone.db");
    let connections = [
        format!("punix:{}", host.sentinel("nb-punix")),
        format!("unix:{}", host.unix_listener("nb.sock")),
        format!("tcp:127.0.0.1:{}", host.tcp_port()),
    ];
    let mut txn = vec![json!("OVN_Northbound")];
    for (i, target) in connections.iter().enumerate() {
        txn.push(
            json!({"op": "insert", "table": "Connection", "uuid-name": format!("n{i}"), "row": {"target": target}}),
        );
    }
    let refs: Vec<Value> = (0..connections.len()).map(|i| named(&format!("n{i}"))).collect();
    txn.push(json!({"op": "insert", "table": "NB_Global", "row": {"connections": set(refs)}}));
    transact(&standalone, Value::Array(txn));
    let [port_a, port_b] = [free_port(), free_port()];
    let clustered = two_server_cluster(&standalone, dir, port_a, port_b);
    // Only now: the cluster's servers used these ports a moment ago.
    for port in [port_a, port_b] {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        host.tcp.push(listener);
    }
    std::fs::set_permissions(&clustered, std::fs::Permissions::from_mode(0o644)).unwrap();
    clustered
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Runs a real two-server RAFT cluster on 127.0.0.1 (server A created from
/// `contents`, B joining it) until B has joined; returns A's file, which
/// then names B as its peer.
fn two_server_cluster(contents: &Path, dir: &Path, port_a: u16, port_b: u16) -> PathBuf {
    let file = |name: &str| dir.join(name);
    let (a, b) = (file("nb-a.db"), file("nb-b.db"));
    let raft = |port: u16| format!("tcp:127.0.0.1:{port}");
    run_ok(Command::new("ovsdb-tool").arg("create-cluster").arg(&a).arg(contents).arg(raft(port_a)));
    run_ok(Command::new("ovsdb-tool").args(["join-cluster"]).arg(&b).args([
        "OVN_Northbound",
        &raft(port_b),
        &raft(port_a),
    ]));
    let server = |name: &str, db: &Path| {
        run_ok(
            Command::new("ovsdb-server")
                .arg(db)
                .arg("--detach")
                .arg("--no-chdir")
                .arg(format!("--pidfile={}", file(&format!("{name}.pid")).display()))
                .arg(format!("--unixctl={}", file(&format!("{name}.ctl")).display()))
                .arg(format!("--remote=punix:{}", file(&format!("{name}.sock")).display()))
                .arg(format!("--log-file={}", file(&format!("{name}.log")).display())),
        );
    };
    server("a", &a);
    server("b", &b);
    let joined = Command::new("timeout")
        .args(["10", "ovsdb-client", "wait"])
        .arg(format!("unix:{}", file("b.sock").display()))
        .args(["OVN_Northbound", "connected"])
        .output()
        .unwrap();
    for name in ["b", "a"] {
        let pid: i32 = std::fs::read_to_string(file(&format!("{name}.pid"))).unwrap().trim().parse().unwrap();
        let _ = Command::new("ovs-appctl").arg("-t").arg(file(&format!("{name}.ctl"))).arg("exit").output();
        while support::process_alive(pid) {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    assert!(joined.status.success(), "the RAFT cluster did not form: {}", String::from_utf8_lossy(&joined.stderr));
    a
}

/// The descriptor number `start` inherits from its caller.
const INHERITED_FD: i32 = 9;

/// `start`, its caller holding a directory of the host open (not
/// close-on-exec) as [`INHERITED_FD`], as a careless shell or parent may.
fn start_with_inherited_dir(replica: &Replica, dir: &Path) -> String {
    let dir = std::fs::File::open(dir).unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&dir);
    let mut cmd = replica.cmd(&["start"]);
    // SAFETY: dup2 is async-signal-safe; the copy is not close-on-exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
            if libc::dup2(fd, INHERITED_FD) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    support::stdout(run_ok(&mut cmd))
}

/// The proof for one replica (as the user or as root).
fn hostile_db_reaches_nothing(replica: Replica) {
    let mut host = Host::new();
    let conf = hostile_ovs_db(&mut host, replica.base.path());
    let nb = hostile_clustered_nb(&mut host, replica.base.path());
    replica.ok(&[Path::new("collect-db-ovs"), conf.as_path()]);
    replica.ok(&[Path::new("collect-db-ovn-nb"), nb.as_path()]);
    host.assert_untouched("after collecting");

    let out = start_with_inherited_dir(&replica, host.dir.path());
    assert!(out.contains("converted from a clustered (RAFT) database to standalone"), "{out}");
    std::thread::sleep(HOLD);
    // The replica serves the hostile configuration…
    let managers = replica.tool("ovs-vsctl", &["get-manager"]);
    assert!(managers.contains(&host.path("manager-punix")), "{managers}");
    assert!(replica.tool("ovs-vsctl", &["get-controller", "br0"]).contains(&host.path("controller.sock")));
    assert!(replica.tool("ovn-nbctl", &["get-connection"]).contains(&host.path("nb.sock")));
    // …and reaches nothing of the host.
    host.assert_untouched("while the replica runs");
    // What in its /proc reaches the host's kernel is read-only.
    for pid in replica.pids() {
        let mountinfo = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
        for path in ["/proc/sys", "/proc/sysrq-trigger"].into_iter().filter(|p| Path::new(p).exists()) {
            let mount = mountinfo.lines().find(|l| l.split(' ').nth(4) == Some(path));
            assert!(mount.is_some_and(|l| l.split(' ').nth(5).unwrap().starts_with("ro")), "{path}: {mountinfo}");
        }
    }

    replica.ok(&["stop"]);
    host.assert_untouched("after stop");
}

#[test]
fn a_hostile_database_reaches_nothing_on_the_host_as_the_user() {
    hostile_db_reaches_nothing(Replica::new());
}

#[test]
fn a_hostile_database_reaches_nothing_on_the_host_as_root() {
    if !support::is_root() {
        eprintln!("skipped: not root");
        return;
    }
    hostile_db_reaches_nothing(Replica::new_as_runner());
}

/// What a host's OVS looks like, minus what changes by itself.
fn lab_view(lab: &LabNode) -> Vec<String> {
    let show = lab.tool("ovs-vsctl", &["show"]);
    let show = show.lines().filter(|l| !l.trim_start().starts_with("is_connected")).collect::<Vec<_>>().join("\n");
    let mut view = vec![show, lab.tool("ovs-vsctl", &["--columns=name,ports,controller", "list", "bridge"])];
    view.push(lab.tool("ovs-vsctl", &["--columns=target", "list", "manager"]));
    for bridge in ["br-int", "br-ex"] {
        view.push(lab.tool("ovs-ofctl", &["-O", "OpenFlow15", "--no-stats", "dump-flows", bridge]));
        view.push(lab.tool("ovs-ofctl", &["-O", "OpenFlow15", "dump-groups", bridge]));
        view.push(lab.tool("ovs-ofctl", &["-O", "OpenFlow15", "dump-meters", bridge]));
    }
    view.push(lab.tool("ovs-appctl", &["dpctl/dump-dps"]));
    let dpif = lab.tool("ovs-appctl", &["dpif/show"]);
    view.push(dpif.lines().filter(|l| !l.contains("hit:")).collect::<Vec<_>>().join("\n"));
    view
}

#[test]
fn a_replica_naming_the_host_ovs_sockets_leaves_the_host_ovs_unchanged() {
    let lab = LabNode::start();
    let rundir = PathBuf::from(lab.var("LAB_OVS_RUNDIR"));
    let socket = |name: &str| rundir.join(name).display().to_string();
    let replica = Replica::new_as_runner();
    let conf = support::make_db(&support::installed_schema("ovs"), replica.base.path(), "conf.db");
    let managers = [format!("unix:{}", socket("db.sock")), format!("punix:{}", socket("br-ex.mgmt"))];
    let controllers = [format!("unix:{}", socket("br-int.mgmt")), format!("punix:{}", socket("br-int.mgmt"))];
    let mut txn = vec![json!("Open_vSwitch")];
    for (i, target) in managers.iter().enumerate() {
        txn.push(json!({"op": "insert", "table": "Manager", "uuid-name": format!("m{i}"), "row": {"target": target}}));
    }
    for (i, target) in controllers.iter().enumerate() {
        txn.push(
            json!({"op": "insert", "table": "Controller", "uuid-name": format!("c{i}"), "row": {"target": target}}),
        );
    }
    txn.push(json!({"op": "insert", "table": "Interface", "uuid-name": "i", "row": {"name": "p-stream",
        "options": map(&[("stream", format!("unix:{}", socket("br-int.mgmt")))])}}));
    txn.push(json!({"op": "insert", "table": "Port", "uuid-name": "p", "row": {"name": "p-stream", "interfaces": named("i")}}));
    txn.push(json!({"op": "mutate", "table": "Bridge", "where": [["name", "==", "br0"]],
        "mutations": [["ports", "insert", set(vec![named("p")])]]}));
    txn.push(json!({"op": "update", "table": "Bridge", "where": [["name", "==", "br0"]],
        "row": {"controller": set(vec![named("c0"), named("c1")])}}));
    txn.push(json!({"op": "update", "table": "Open_vSwitch", "where": [],
        "row": {"manager_options": set(vec![named("m0"), named("m1")])}}));
    transact(&conf, Value::Array(txn));
    replica.ok(&[Path::new("collect-db-ovs"), conf.as_path()]);

    let before = lab_view(&lab);
    replica.ok(&["start"]);
    std::thread::sleep(HOLD);
    assert!(replica.tool("ovs-vsctl", &["get-controller", "br0"]).contains(&socket("br-int.mgmt")));
    assert_eq!(lab_view(&lab), before, "while the replica runs");
    replica.ok(&["stop"]);
    assert_eq!(lab_view(&lab), before, "after stop");
    for name in ["db.sock", "br-int.mgmt", "br-ex.mgmt"] {
        let meta = std::fs::symlink_metadata(socket(name)).unwrap();
        assert!(meta.file_type().is_socket(), "{name} of the host's OVS was replaced");
    }
}
