//! Shared test support: a live "production" lab node built by
//! `lab-node.sh` from real OVS/OVN daemons, multi-node labs built by
//! `cluster-lab.sh` and plain-OVS (Neutron-like) ones by `vxlan-lab.sh`
//! (`cluster`), live nodes laid out as sos reports (`sos_layout`), the
//! emulated Kubernetes API in front of them (`k8s`), and the built
//! `ovs-offline` binary run as an unprivileged user (CI runs as root) on a
//! workdir (`Replica`) or a workspace (`workspace`).

#![allow(dead_code)]

pub mod cluster;
pub mod k8s;
pub mod packets;
pub mod sos_layout;
pub mod trace_compare;
pub mod workspace;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub const TEST_USER: &str = "ovs-offline-test";

/// A live OVN node (NB/SB/OVS ovsdb-servers, ovn-northd, ovs-vswitchd
/// dummy, ovn-controller) in a temp dir, stopped on drop.
pub struct LabNode {
    pub dir: tempfile::TempDir,
    pub env: BTreeMap<String, String>,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/lab-node.sh")
}

impl LabNode {
    pub fn start() -> LabNode {
        let dir = tempfile::Builder::new().prefix("lab-node-").tempdir().unwrap();
        run_ok(Command::new("bash").arg(script()).arg("start").arg(dir.path()));
        LabNode::running_in(dir)
    }

    /// The real `sos report` (`sos` on PATH) of a lab node that it sees at
    /// the packaged default paths, its OVN databases in `ovn_db_dir`
    /// (`/var/lib/ovn` or `/var/lib/openvswitch`): `sosreport-lab.sh` starts
    /// the node and runs sos in a private mount and UTS namespace (root
    /// only). Returns the running node and the report's archive, written
    /// below `out`.
    pub fn start_with_sos_report(out: &Path, ovn_db_dir: &str) -> (LabNode, PathBuf) {
        let dir = tempfile::Builder::new().prefix("lab-node-").tempdir().unwrap();
        let sos_script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/sosreport-lab.sh");
        let mut cmd = Command::new("unshare");
        cmd.args(["--mount", "--uts", "--propagation", "private", "bash"])
            .arg(sos_script)
            .arg(dir.path())
            .arg(out)
            .arg(ovn_db_dir);
        let output = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
        // Once started, the node is stopped on drop whatever sos did.
        let lab = dir.path().join("env").exists().then(|| LabNode::running_in(dir));
        assert!(
            output.status.success(),
            "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let archive = std::fs::read_dir(out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with(".tar.xz"))
            .unwrap_or_else(|| panic!("sos left no .tar.xz in {}", out.display()));
        (lab.unwrap(), archive)
    }

    /// The node started in `dir`, as its `env` file describes it.
    fn running_in(dir: tempfile::TempDir) -> LabNode {
        let env = read_env(&dir.path().join("env"));
        LabNode { dir, env }
    }

    pub fn var(&self, name: &str) -> &str {
        self.env.get(name).unwrap_or_else(|| panic!("{name} not in lab env"))
    }

    /// Runs an OVS/OVN client against the lab node.
    pub fn tool(&self, tool: &str, args: &[&str]) -> String {
        env_tool(&self.env, tool, args)
    }

    /// The node laid out below `dir` as sos 4.12 names what it keeps, its
    /// NB and SB included; returns the report's top directory.
    pub fn lay_out_as_sos(&self, dir: &Path) -> PathBuf {
        sos_layout::lay_out_as_sos(&self.env, "lab-node", true, dir)
    }

    /// A clustered copy of one of the lab's DB files.
    pub fn clustered(&self, db_file: &str, out: &Path) {
        run_ok(Command::new("bash").arg(script()).arg("clustered").arg(self.dir.path()).arg(db_file).arg(out));
    }

    pub fn save_flows(&self, out: &Path) {
        run_ok(Command::new("bash").arg(script()).arg("save-flows").arg(self.dir.path()).arg(out));
    }

    /// Its datapath port numbers by port name (`dpctl/show`).
    pub fn datapath_ports(&self) -> BTreeMap<String, u32> {
        ovs_offline::trace::ports::parse_dpctl_show(&self.tool("ovs-appctl", &["-t", "ovs-vswitchd", "dpctl/show"]))
    }

    /// `ports` of `replica`, started from a live collect of this node,
    /// gives every port the node's datapath port as production's.
    pub fn assert_production_ports(&self, replica: &Replica) {
        let live = self.datapath_ports();
        assert!(["vif1", "vif2", "vif3", "vif4", "br-int"].iter().all(|p| live.contains_key(*p)), "{live:?}");
        let ports: serde_json::Value = serde_json::from_str(&replica.ok(&["ports", "--json"])).unwrap();
        for port in ports.as_array().unwrap() {
            let name = port["name"].as_str().unwrap();
            let production = port["production_datapath_port"].as_u64().map(|n| n as u32);
            assert_eq!(production, live.get(name).copied(), "{name}: {port}");
        }
        let text = replica.ok(&["ports", "br-int"]);
        assert!(text.contains("the production node's are from the capture"), "{text}");
    }
}

impl Drop for LabNode {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(script()).arg("stop").arg(self.dir.path()).output();
    }
}

/// True when tests run as root and so must drop to [`TEST_USER`].
pub fn is_root() -> bool {
    nix::unistd::Uid::effective().is_root()
}

fn test_user() -> &'static (u32, u32) {
    static USER: OnceLock<(u32, u32)> = OnceLock::new();
    USER.get_or_init(|| {
        if !is_root() {
            return (nix::unistd::getuid().as_raw(), nix::unistd::getgid().as_raw());
        }
        if nix::unistd::User::from_name(TEST_USER).unwrap().is_none() {
            let _ = Command::new("useradd").args(["--system", "--no-create-home", TEST_USER]).output();
        }
        let user = nix::unistd::User::from_name(TEST_USER).unwrap().expect("cannot create the test user");
        (user.uid.as_raw(), user.gid.as_raw())
    })
}

pub fn test_uid() -> u32 {
    test_user().0
}

pub fn test_gid() -> u32 {
    test_user().1
}

/// A temp dir the unprivileged test user owns (world-readable).
pub fn user_dir(prefix: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let (uid, gid) = *test_user();
    std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
    dir
}

/// Copies a file into `dir` for the test user to read; returns the copy.
pub fn give(file: &Path, dir: &Path) -> PathBuf {
    let dest = dir.join(file.file_name().unwrap());
    std::fs::copy(file, &dest).unwrap();
    std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o644)).unwrap();
    dest
}

/// The workdir of one replica, driven through the built binary as the
/// unprivileged user.
pub struct Replica {
    pub base: tempfile::TempDir,
    pub workdir: PathBuf,
    /// The built binary, copied into `base`: the unprivileged user may not
    /// read the checkout (a clone under /root is mode 700).
    binary: PathBuf,
    /// Run the binary as the test runner even when it is root.
    as_root: bool,
}

impl Replica {
    pub fn new() -> Replica {
        let base = user_dir("ovs-offline-test-");
        let workdir = base.path().join("work");
        let binary = base.path().join("ovs-offline");
        std::fs::copy(env!("CARGO_BIN_EXE_ovs-offline"), &binary).unwrap();
        Replica { base, workdir, binary, as_root: false }
    }

    /// A replica driven as the test runner itself, root or not (as
    /// [`Replica::new`] when not root).
    pub fn new_as_runner() -> Replica {
        let mut replica = Replica::new();
        replica.as_root = true;
        // The runner's workdir lies below a directory of its own: ovs-offline
        // refuses one below another user's directory.
        let (uid, gid) = (nix::unistd::getuid().as_raw(), nix::unistd::getgid().as_raw());
        std::os::unix::fs::chown(replica.base.path(), Some(uid), Some(gid)).unwrap();
        replica
    }

    /// `ovs-offline -w WORKDIR args…` as the test user.
    pub fn cmd<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        let mut cmd = self.bare(&[OsStr::new("-w"), self.workdir.as_os_str()]);
        cmd.args(args);
        cmd
    }

    /// `ovs-offline args…` (no -w) as the test user, in `base`.
    pub fn bare<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        let mut cmd = if is_root() && !self.as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", TEST_USER, "--"]).arg(&self.binary);
            c
        } else {
            Command::new(&self.binary)
        };
        cmd.args(args).current_dir(self.base.path()).env_remove("OVS_OFFLINE_ENV");
        cmd
    }

    pub fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        stdout(run_ok(&mut self.cmd(args)))
    }

    /// Runs and asserts failure; returns stderr.
    pub fn fails<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "expected failure of {:?}, got: {}",
            self.cmd(args),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Collects the lab node's three databases (copies the test user can read).
    pub fn collect_lab(&self, lab: &LabNode) {
        for (cmd, var) in [
            ("collect-db-ovs", "LAB_OVS_DB_FILE"),
            ("collect-db-ovn-nb", "LAB_NB_DB_FILE"),
            ("collect-db-ovn-sb", "LAB_SB_DB_FILE"),
        ] {
            let copy = give(Path::new(lab.var(var)), self.base.path());
            self.ok(&[OsStr::new(cmd), copy.as_os_str()]);
        }
    }

    /// Collects the lab's databases and OpenFlow state: the real ovs-save
    /// output plus OpenFlow 1.5 group and meter dumps named as sos names
    /// them (as an engineer collects them by hand). Returns the directory
    /// collected from (kept; the caller removes it).
    pub fn collect_lab_with_flows(&self, lab: &LabNode) -> PathBuf {
        self.collect_lab(lab);
        let saved = user_dir("ovs-save-out-");
        lab.save_flows(saved.path());
        for bridge in ["br-int", "br-ex"] {
            for what in ["dump-groups", "dump-meters"] {
                let text = lab.tool("ovs-ofctl", &["-O", "OpenFlow15", what, bridge]);
                std::fs::write(saved.path().join(format!("ovs-ofctl_-O_OpenFlow15_{what}_{bridge}")), text).unwrap();
            }
        }
        make_readable(saved.path());
        self.ok(&["collect-flows", saved.path().to_str().unwrap()]);
        saved.keep()
    }

    pub fn socket(&self, kind: &str) -> String {
        format!("unix:{}/var-run/{kind}/db.sock", self.workdir.display())
    }

    /// Runs an OVS/OVN client against the replica (as the test runner).
    pub fn tool(&self, tool: &str, args: &[&str]) -> String {
        let dbs = ["ovs", "ovn_nb", "ovn_sb"].map(|kind| self.socket(kind));
        client(tool, args, dbs, &self.workdir.join("var-run/ovs"))
    }

    pub fn status(&self) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["status", "--json"])).unwrap()
    }

    /// Host pids of the replica's daemons and supervisor.
    pub fn pids(&self) -> Vec<i32> {
        let status = self.status();
        let mut pids: Vec<i32> =
            status["daemons"].as_array().unwrap().iter().map(|d| d["pid"].as_i64().unwrap() as i32).collect();
        pids.push(status["supervisor_pid"].as_i64().unwrap() as i32);
        pids
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.cmd(&["stop"]).output();
    }
}

/// The `NAME="value"` lines of a lab's env file.
fn read_env(path: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
        .collect()
}

/// Runs an OVS/OVN client against the live node a lab env file describes
/// (`LAB_OVS_DB`, `LAB_NB_DB`, `LAB_SB_DB`, `LAB_OVS_RUNDIR`).
fn env_tool(env: &BTreeMap<String, String>, tool: &str, args: &[&str]) -> String {
    let var = |name: &str| env.get(name).unwrap_or_else(|| panic!("{name} not in the lab env")).clone();
    let dbs = [var("LAB_OVS_DB"), var("LAB_NB_DB"), var("LAB_SB_DB")];
    client(tool, args, dbs, Path::new(&var("LAB_OVS_RUNDIR")))
}

/// Runs an OVS/OVN client with the database of its kind (`dbs`: OVS, NB,
/// SB) and `OVS_RUNDIR` (for bridge names and `ovs-appctl`).
fn client(tool: &str, args: &[&str], dbs: [String; 3], ovs_rundir: &Path) -> String {
    let [ovs, nb, sb] = dbs;
    let db = match tool {
        "ovs-vsctl" => Some(ovs),
        "ovn-nbctl" => Some(nb),
        "ovn-sbctl" => Some(sb),
        _ => None,
    };
    let mut cmd = Command::new(tool);
    if let Some(db) = db {
        cmd.arg(format!("--db={db}"));
    }
    cmd.args(args).env("OVS_RUNDIR", ovs_rundir);
    stdout(run_ok(&mut cmd))
}

pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn stdout(out: Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// True while a process with this host pid exists (and is no zombie).
pub fn process_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'),
        Err(_) => false,
    }
}

pub fn sha256(path: &Path) -> String {
    use sha2::Digest;
    let bytes = std::fs::read(path).unwrap();
    sha2::Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The schema installed for a database kind (`ovs`, `ovn_nb`, `ovn_sb`).
pub fn installed_schema(kind: &str) -> PathBuf {
    PathBuf::from(match kind {
        "ovs" => "/usr/share/openvswitch/vswitch.ovsschema",
        "ovn_nb" => "/usr/share/ovn/ovn-nb.ovsschema",
        _ => "/usr/share/ovn/ovn-sb.ovsschema",
    })
}

/// A standalone database made by the real `ovsdb-tool` from `schema`, the
/// test user can read. An OVS database gets one bridge `br0`.
pub fn make_db(schema: &Path, dir: &Path, name: &str) -> PathBuf {
    let db = dir.join(name);
    run_ok(Command::new("ovsdb-tool").arg("create").arg(&db).arg(schema));
    let text = std::fs::read_to_string(schema).unwrap();
    if text.contains("\"Open_vSwitch\"") {
        let txn = r#"["Open_vSwitch",
            {"op":"insert","table":"Interface","row":{"name":"br0","type":"internal"},"uuid-name":"i"},
            {"op":"insert","table":"Port","row":{"name":"br0","interfaces":["named-uuid","i"]},"uuid-name":"p"},
            {"op":"insert","table":"Bridge","row":{"name":"br0","ports":["named-uuid","p"]},"uuid-name":"b"},
            {"op":"insert","table":"Open_vSwitch","row":{"bridges":["named-uuid","b"]}}]"#;
        run_ok(Command::new("ovsdb-tool").arg("transact").arg(&db).arg(txn));
    }
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    db
}

/// A copy of an installed schema claiming another version.
pub fn schema_with_version(kind: &str, version: &str, dir: &Path) -> PathBuf {
    let mut schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(installed_schema(kind)).unwrap()).unwrap();
    schema["version"] = serde_json::Value::String(version.to_string());
    let path = dir.join(format!("{kind}-{version}.ovsschema"));
    std::fs::write(&path, schema.to_string()).unwrap();
    path
}

/// Makes everything under `dir` readable by the test user.
pub fn make_readable(dir: &Path) {
    run_ok(Command::new("chmod").arg("-R").arg("a+rX").arg(dir));
}

/// A tar member header with any name, type and link (the tar crate's safe
/// setters refuse hostile names; archives come from anywhere).
pub fn raw_member(out: &mut Vec<u8>, name: &str, kind: tar::EntryType, link: &str, data: &[u8]) {
    let mut header = tar::Header::new_old();
    let old = header.as_old_mut();
    old.name[..name.len()].copy_from_slice(name.as_bytes());
    old.linkname[..link.len()].copy_from_slice(link.as_bytes());
    header.set_entry_type(kind);
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
}

/// Every path below `dir` with its contents: a workdir before and after a
/// refused collect must be the same.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut tree = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            pending.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        }
        let contents = if meta.is_file() { std::fs::read(&path).unwrap() } else { Vec::new() };
        tree.insert(path.strip_prefix(dir).unwrap().to_path_buf(), contents);
    }
    tree
}

/// `ovs-vsctl show` without what legitimately differs between two running
/// vswitchds.
pub fn normalise_vsctl_show(text: &str) -> String {
    text.lines().filter(|l| !l.trim_start().starts_with("is_connected")).collect::<Vec<_>>().join("\n")
}

/// An `ovs-ofctl` dump (flows, groups, meters, TLV map) as a sorted set of
/// its entries, without what differs between two equivalent tables (OVS
/// prints `dec_ttl()` but parses it back as `dec_ttl`). Compare dumps taken
/// without stats.
pub fn dump_set(text: &str) -> Vec<String> {
    let entry = |l: &str| l.starts_with(' ') || ["meter=", "type=", "group_id="].iter().any(|p| l.starts_with(p));
    let mut lines: Vec<String> =
        text.lines().filter(|l| entry(l)).map(|l| l.trim().replace("dec_ttl()", "dec_ttl")).collect();
    lines.sort();
    lines
}

// Must-gathers laid out as `oc adm must-gather` stores them.

/// The top directory of the must-gathers laid out by [`must_gather`].
pub const TOP: &str = "must-gather.local.4242/quay-io-openshift-release-dev-ocp-v4-0-art-dev-sha256-0123";

/// `data` gzipped.
pub fn gz(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut encoder, data).unwrap();
    encoder.finish().unwrap()
}

/// A tar of `(name, contents)` regular files.
pub fn tar_of(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, name, &data[..]).unwrap();
    }
    builder.into_inner().unwrap()
}

/// A must-gather tarball (`.tar.gz`) holding `store` as its interconnect
/// store and `extra` members, readable by the test user.
pub fn must_gather(dir: &Path, name: &str, store: &[u8], extra: &[(String, Vec<u8>)]) -> PathBuf {
    let mut files = vec![(format!("{TOP}/network_logs/ovnk_database_store.tar.gz"), store.to_vec())];
    files.extend_from_slice(extra);
    let path = dir.join(name);
    std::fs::write(&path, gz(&tar_of(&files))).unwrap();
    make_readable(&path);
    path
}

/// The YAML of pod `pod` on node `node`, as must-gather stores it.
pub fn pod_yaml(pod: &str, node: &str) -> (String, Vec<u8>) {
    let yaml = format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: {pod}\nspec:\n  nodeName: {node}\n");
    (format!("{TOP}/namespaces/openshift-ovn-kubernetes/pods/{pod}/{pod}.yaml"), yaml.into_bytes())
}
