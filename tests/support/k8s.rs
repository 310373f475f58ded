//! The emulated Kubernetes API for collect-k8s tests: Kubernetes cannot run
//! here, so a `kubectl`/`oc` stand-in (`kubectl-standin.sh`) first on
//! `PATH` answers `get node`, `get pods -o json` with the pods a test lays
//! out, and runs `exec` commands for real against live lab nodes, the
//! containers' socket paths mapped to the lab's. One lab node
//! ([`super::LabNode`]) or every chassis of a [`ClusterLab`], each a node
//! with its OVN-Kubernetes interconnect pods ([`Cluster::of_lab`]).

use super::cluster::ClusterLab;
use serde_json::{json, Value};
use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

const STANDIN: &str = "tests/support/kubectl-standin.sh";

pub const UPSTREAM_NS: &str = "ovn-kubernetes";
pub const OPENSHIFT_NS: &str = "openshift-ovn-kubernetes";

/// The containers of an upstream interconnect `ovnkube-node` pod.
pub const UPSTREAM_IC_NODE: [&str; 6] =
    ["nb-ovsdb", "sb-ovsdb", "ovn-northd", "ovnkube-controller", "ovn-controller", "ovs-metrics-exporter"];

/// The containers of an OpenShift interconnect `ovnkube-node` pod.
pub const OPENSHIFT_IC_NODE: [&str; 8] = [
    "ovn-controller",
    "ovn-acl-logging",
    "kube-rbac-proxy-node",
    "kube-rbac-proxy-ovn-metrics",
    "northd",
    "nbdb",
    "sbdb",
    "ovnkube-controller",
];

/// The pods of one node of an interconnect cluster (field-notes §6).
#[derive(Clone, Copy, Debug)]
pub enum Interconnect {
    /// `ovnkube-node-<node>` (NB, SB) and `ovs-node-<node>` (OVS).
    Upstream,
    /// `ovnkube-node-<node>`, OVS's sockets mounted into its ovn-controller.
    OpenShift,
}

/// A container: its pod and name.
pub type Container = (String, &'static str);

impl Interconnect {
    pub fn namespace(self) -> &'static str {
        match self {
            Interconnect::Upstream => UPSTREAM_NS,
            Interconnect::OpenShift => OPENSHIFT_NS,
        }
    }

    /// The node's pods.
    pub fn pods(self, node: &str) -> Vec<Value> {
        let ovnkube = format!("ovnkube-node-{node}");
        match self {
            Interconnect::Upstream => vec![
                pod(UPSTREAM_NS, &ovnkube, node, upstream_node_labels(), &UPSTREAM_IC_NODE),
                pod(UPSTREAM_NS, &format!("ovs-node-{node}"), node, ovs_node_labels(), &["ovs-daemons"]),
            ],
            Interconnect::OpenShift => {
                vec![pod(OPENSHIFT_NS, &ovnkube, node, openshift_node_labels(), &OPENSHIFT_IC_NODE)]
            }
        }
    }

    /// The node's containers that see OVS, NB and SB.
    pub fn containers(self, node: &str) -> (Container, Container, Container) {
        let ovnkube = format!("ovnkube-node-{node}");
        match self {
            Interconnect::Upstream => {
                ((format!("ovs-node-{node}"), "ovs-daemons"), (ovnkube.clone(), "nb-ovsdb"), (ovnkube, "sb-ovsdb"))
            }
            Interconnect::OpenShift => {
                ((ovnkube.clone(), "ovn-controller"), (ovnkube.clone(), "nbdb"), (ovnkube, "sbdb"))
            }
        }
    }
}

/// Container path → lab path, one mapping of a container.
pub type Mappings = Vec<(String, String)>;

/// The emulated cluster: the stand-in's configuration directory and a
/// `bin/` with `kubectl` and `oc`.
pub struct Cluster {
    pub dir: tempfile::TempDir,
}

impl Cluster {
    /// A cluster of `nodes` running `pods`.
    pub fn new(nodes: &[&str], pods: Value) -> Cluster {
        let dir = super::user_dir("k8s-standin-");
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(STANDIN);
        for tool in ["kubectl", "oc"] {
            std::fs::copy(&script, bin.join(tool)).unwrap();
        }
        let nodes: String = nodes.iter().map(|n| format!("{n}\n")).collect();
        std::fs::write(dir.path().join("nodes"), nodes).unwrap();
        std::fs::write(dir.path().join("pods.json"), json!({ "items": pods }).to_string()).unwrap();
        std::fs::write(dir.path().join("calls.log"), "").unwrap();
        let cluster = Cluster { dir };
        cluster.readable();
        cluster
    }

    /// Every chassis of `lab` is a node of that name running `layout`'s
    /// pods: its OVS is the chassis's, its NB and SB sockets are those of
    /// the chassis's zone (the central ones in a one-zone lab). The lab is
    /// opened to the test user, who runs the stand-in.
    pub fn of_lab(lab: &ClusterLab, layout: Interconnect) -> Cluster {
        open_to_everyone(lab.dir.path());
        let nodes = lab.chassis();
        let pods = nodes.iter().flat_map(|node| layout.pods(node)).collect();
        let cluster = Cluster::new(&nodes, Value::Array(pods));
        for node in &nodes {
            let (ovs, nb, sb) = layout.containers(node);
            cluster.container(layout.namespace(), &ovs.0, ovs.1, &ovs_map(lab.var(node, "LAB_OVS_RUNDIR")));
            cluster.container(layout.namespace(), &nb.0, nb.1, &db_map("nb", lab.var(node, "LAB_NB_DB")));
            cluster.container(layout.namespace(), &sb.0, sb.1, &db_map("sb", lab.var(node, "LAB_SB_DB")));
        }
        cluster
    }

    fn readable(&self) {
        super::make_readable(self.dir.path());
        for f in ["bin/kubectl", "bin/oc"] {
            std::fs::set_permissions(self.dir.path().join(f), std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::set_permissions(self.dir.path().join("calls.log"), std::fs::Permissions::from_mode(0o666)).unwrap();
    }

    /// `container` of `namespace/pod` exists and sees `mappings` (container
    /// path → lab path).
    pub fn container(&self, namespace: &str, pod: &str, container: &str, mappings: &[(String, String)]) {
        let dir = self.dir.path().join("exec").join(namespace).join(pod);
        std::fs::create_dir_all(&dir).unwrap();
        let text: String = mappings.iter().map(|(from, to)| format!("{from} {to}\n")).collect();
        std::fs::write(dir.join(container), text).unwrap();
        self.readable();
    }

    /// Writes the stand-in's configuration file `name` (see the script).
    pub fn set(&self, name: &str, content: &str) {
        std::fs::write(self.dir.path().join(name), content).unwrap();
        self.readable();
    }

    pub fn unset(&self, name: &str) {
        std::fs::remove_file(self.dir.path().join(name)).unwrap();
    }

    /// `PATH` with the stand-in first.
    pub fn path(&self) -> String {
        format!("{}:{}", self.dir.path().join("bin").display(), std::env::var("PATH").unwrap_or_default())
    }

    /// Points `cmd` (an `ovs-offline` command) at the emulated cluster.
    pub fn reach<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        cmd.env("PATH", self.path()).env("KUBECTL_STANDIN_DIR", self.dir.path())
    }

    pub fn cmd<S: AsRef<OsStr>>(&self, replica: &super::Replica, args: &[S]) -> Command {
        let mut cmd = replica.cmd(args);
        self.reach(&mut cmd);
        cmd
    }

    /// `collect-k8s args…` into `replica`'s workdir; its stdout.
    pub fn collect(&self, replica: &super::Replica, args: &[&str]) -> String {
        let args: Vec<&str> = ["collect-k8s"].iter().chain(args).copied().collect();
        super::stdout(super::run_ok(&mut self.cmd(replica, &args)))
    }

    /// Runs collect-k8s expecting a failure; returns its stderr, which must
    /// be one line.
    pub fn collect_fails(&self, replica: &super::Replica, args: &[&str]) -> String {
        let args: Vec<&str> = ["collect-k8s"].iter().chain(args).copied().collect();
        let out: Output = self.cmd(replica, &args).output().unwrap();
        assert!(!out.status.success(), "collect-k8s {args:?} succeeded: {}", String::from_utf8_lossy(&out.stdout));
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(stderr.trim_end().lines().count(), 1, "not one line: {stderr}");
        stderr
    }

    /// Every call the stand-in answered, one a line.
    pub fn calls(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("calls.log")).unwrap()
    }
}

/// Opens `dir` (a lab's) to the unprivileged test user: its sockets too.
pub fn open_to_everyone(dir: &Path) {
    super::make_readable(dir);
    super::run_ok(Command::new("chmod").arg("-R").arg("a+rwX").arg(dir));
}

/// The OVS run directory as an OVS container has it.
pub fn ovs_map(ovs_rundir: &str) -> Mappings {
    vec![("/var/run/openvswitch".into(), ovs_rundir.into())]
}

/// The sockets of an NB (`nb`) or SB (`sb`) served at `socket` (`unix:`
/// optional), its control socket `ovsdb-server.ctl` beside it, as a
/// container has them.
pub fn db_map(which: &str, socket: &str) -> Mappings {
    let socket = Path::new(socket.strip_prefix("unix:").unwrap_or(socket));
    let ctl = socket.with_file_name("ovsdb-server.ctl");
    let db = if which == "nb" { "ovnnb_db" } else { "ovnsb_db" };
    vec![
        (format!("/var/run/ovn/{db}.sock"), socket.display().to_string()),
        (format!("/var/run/ovn/{db}.ctl"), ctl.display().to_string()),
    ]
}

/// A running pod's `kubectl get pods -o json` item.
pub fn pod(namespace: &str, name: &str, node: &str, labels: Value, containers: &[&str]) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"nodeName": node, "containers": containers.iter().map(|c| json!({"name": c, "image": "quay.io/ovn:x"})).collect::<Vec<_>>()},
        "status": {"phase": "Running", "hostIP": "10.0.0.1"},
    })
}

pub fn upstream_node_labels() -> Value {
    json!({"app": "ovnkube-node", "name": "ovnkube-node", "component": "network", "type": "infra", "kubernetes.io/os": "linux", "ovn-db-pod": "true"})
}

pub fn ovs_node_labels() -> Value {
    json!({"app": "ovs-node", "name": "ovs-node", "component": "network", "type": "infra"})
}

pub fn openshift_node_labels() -> Value {
    json!({"app": "ovnkube-node", "component": "network", "type": "infra", "openshift.io/component": "network", "kubernetes.io/os": "linux"})
}
