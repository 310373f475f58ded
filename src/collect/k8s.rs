//! `collect-k8s NODE`: a Kubernetes or OpenShift node running
//! OVN-Kubernetes, read through `kubectl` (or `oc`) only: `get node`, `get
//! pods -o json` and `exec` of the read-only commands of [`live`]. The
//! node's pods are found by `spec.nodeName` (never "the first pod"), and
//! the layout is recognised from their containers ([`Layout`]); the OVS
//! half is read where OVS's run directory is, the NB and SB where their
//! sockets are (interconnect: the node's own zone; legacy: the RAFT leader
//! when one is found, else a member's snapshot, noted). Nothing is written
//! on the cluster.

use super::live::transport::{command_text, words};
use super::live::{self, Kubectl, KubectlExec, LiveError, NodeSources, NodeSummary, OvnSource, OvsSource};
use crate::capture::writer::{CaptureError, CaptureWriter};
use crate::capture::DbKind;
use crate::quote;
use crate::workdir::Workdir;
use serde::Deserialize;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// What `collect-k8s` was asked for.
#[derive(Debug, Clone)]
pub struct K8sOptions {
    pub node: String,
    /// Prefer `oc` to `kubectl`.
    pub openshift: bool,
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    /// Look for the OVN pods in this namespace only.
    pub namespace: Option<String>,
    /// How long a `kubectl` call may print nothing before it is stopped.
    pub idle_timeout: std::time::Duration,
    pub force: bool,
}

/// The four ways OVN-Kubernetes lays a node out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// OpenShift 4.14+: `ovnkube-node` with `nbdb`, `sbdb`, `northd`,
    /// `ovnkube-controller`, `ovn-controller`; OVS on the host, its
    /// sockets mounted in the pod.
    OpenShiftInterconnect,
    /// Upstream: `ovnkube-node` with `nb-ovsdb`, `sb-ovsdb`, `ovn-northd`,
    /// `ovnkube-controller`, `ovn-controller`; OVS in `ovs-node`
    /// (`ovs-daemons`).
    UpstreamInterconnect,
    /// OpenShift ≤ 4.13: NB/SB in `ovnkube-master` pods (`nbdb`, `sbdb`),
    /// RAFT.
    OpenShiftLegacy,
    /// Older upstream clusters: NB/SB in `ovnkube-db` / `ovnkube-db-raft`
    /// pods (`nb-ovsdb`, `sb-ovsdb`).
    UpstreamLegacy,
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layout::OpenShiftInterconnect => "OpenShift interconnect (4.14+, per-node NB/SB in ovnkube-node)",
            Layout::UpstreamInterconnect => "upstream ovn-kubernetes interconnect (per-node NB/SB in ovnkube-node)",
            Layout::OpenShiftLegacy => "OpenShift legacy (4.13 and older, NB/SB in ovnkube-master)",
            Layout::UpstreamLegacy => "upstream ovn-kubernetes legacy (NB/SB in ovnkube-db)",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum K8sError {
    #[error("{0} is not a Kubernetes node name (lowercase letters, digits, '-' and '.'); give the name 'kubectl get nodes' prints")]
    BadNodeName(String),
    #[error("neither kubectl nor oc is on PATH: collect-k8s reads the cluster through one of them; install kubectl (oc for OpenShift) or add it to PATH")]
    NoClient,
    #[error("node {node} not found in the cluster{context}; list the nodes with '{client} get nodes'")]
    NodeNotFound { node: String, context: String, client: String },
    #[error("no OVN-Kubernetes pods run on node {node}{namespace} (no running pod with a container nb-ovsdb, nbdb, ovnkube-node or ovs-daemons); is the cluster using OVN-Kubernetes?")]
    NoOvnPods { node: String, namespace: String },
    #[error("node {node} has the {layout} layout, but no running pod on it has the container {container} ({what}); nothing collected")]
    MissingContainer { node: String, layout: Layout, container: &'static str, what: &'static str },
    #[error("no running {what} pod (containers {containers}) in namespace {namespace} for the {layout} layout; nothing collected")]
    NoDbPod { namespace: String, layout: Layout, what: &'static str, containers: &'static str },
    #[error("{command} printed what is not the JSON expected: {why}")]
    BadJson { command: String, why: String },
    #[error(transparent)]
    Live(#[from] LiveError),
    #[error(transparent)]
    Capture(#[from] CaptureError),
}

/// What `collect-k8s` did, for the user.
#[derive(Debug, Serialize)]
pub struct K8sCollected {
    pub client: String,
    pub layout: Layout,
    /// Where each part was read: `OVS: pod ns/name container c`.
    pub sources: Vec<String>,
    pub node: NodeSummary,
}

/// Collects `options.node` into `workdir`.
pub fn collect_k8s(workdir: &Workdir, options: &K8sOptions) -> Result<K8sCollected, K8sError> {
    if !is_k8s_name(&options.node) {
        return Err(K8sError::BadNodeName(quote::shell(&options.node)));
    }
    let kubectl = client(options)?;
    let cluster = Cluster { kubectl: &kubectl, options };
    cluster.check_node()?;
    let on_node = cluster.pods(options.namespace.as_deref(), true)?;
    let plan = cluster.plan(&on_node)?;
    let exec = |c: &Container| KubectlExec {
        kubectl: kubectl.clone(),
        namespace: c.namespace.clone(),
        pod: c.pod.clone(),
        container: c.container.to_string(),
    };
    let (ovs, nb, sb) = (exec(&plan.ovs), exec(&plan.nb.0), exec(&plan.sb.0));
    let sources = NodeSources {
        ovs: Some(OvsSource { transport: &ovs, rundir: live::OVS_RUNDIR.to_string() }),
        nb: Some(OvnSource { transport: &nb, socket: live::ovn_socket(DbKind::OvnNb).into(), notes: plan.nb.1 }),
        sb: Some(OvnSource { transport: &sb, socket: live::ovn_socket(DbKind::OvnSb).into(), notes: plan.sb.1 }),
    };
    let mut capture = CaptureWriter::begin(workdir, options.force)?;
    let mut node = live::read_node(&sources, &mut capture)?;
    node.source.node = Some(quote::note(&options.node));
    capture.source_system(node.source.clone());
    capture.note(format!("collect-k8s: node {}, {} layout", quote::shell(&options.node), plan.layout));
    capture.commit()?;
    let place = |what: &str, t: &KubectlExec| format!("{what}: {}", live::Transport::place(t));
    let sources = vec![place("OVS", &ovs), place("NB", &nb), place("SB", &sb)];
    Ok(K8sCollected { client: kubectl.name(), layout: plan.layout, sources, node })
}

/// `kubectl`, or `oc` with `--openshift`; the other when the first is
/// missing.
fn client(options: &K8sOptions) -> Result<Kubectl, K8sError> {
    let order = if options.openshift { ["oc", "kubectl"] } else { ["kubectl", "oc"] };
    let program = order.iter().find_map(|tool| which::which(tool).ok()).ok_or(K8sError::NoClient)?;
    Ok(Kubectl {
        program,
        kubeconfig: options.kubeconfig.clone(),
        context: options.context.clone(),
        idle_limit: options.idle_timeout,
    })
}

/// One container of a running pod.
#[derive(Debug, Clone)]
struct Container {
    namespace: String,
    pod: String,
    container: &'static str,
}

/// Which container each part is read from.
struct Plan {
    layout: Layout,
    ovs: Container,
    nb: (Container, Vec<String>),
    sb: (Container, Vec<String>),
}

/// The container names that tell the layouts apart.
const NB_OPENSHIFT: &str = "nbdb";
const SB_OPENSHIFT: &str = "sbdb";
const NB_UPSTREAM: &str = "nb-ovsdb";
const SB_UPSTREAM: &str = "sb-ovsdb";
const OVS_DAEMONS: &str = "ovs-daemons";
const OVN_CONTROLLER: &str = "ovn-controller";
const OVNKUBE_NODE: &str = "ovnkube-node";

#[derive(Debug, Deserialize)]
pub(crate) struct PodList {
    #[serde(default)]
    items: Vec<Pod>,
}

#[derive(Debug, Deserialize)]
struct Pod {
    metadata: Metadata,
    spec: PodSpec,
    #[serde(default)]
    status: PodStatus,
}

#[derive(Debug, Deserialize)]
struct Metadata {
    name: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct PodSpec {
    #[serde(default, rename = "nodeName")]
    node_name: Option<String>,
    #[serde(default)]
    containers: Vec<ContainerSpec>,
}

#[derive(Debug, Deserialize)]
struct ContainerSpec {
    name: String,
}

#[derive(Debug, Default, Deserialize)]
struct PodStatus {
    #[serde(default)]
    phase: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Node {
    metadata: Metadata,
}

impl Pod {
    fn has(&self, containers: &[&str]) -> bool {
        containers.iter().all(|c| self.spec.containers.iter().any(|s| s.name == *c))
    }

    fn container(&self, container: &'static str) -> Container {
        Container { namespace: self.metadata.namespace.clone(), pod: self.metadata.name.clone(), container }
    }

    fn is_running(&self) -> bool {
        self.status.phase.as_deref() == Some("Running")
    }

    /// Its namespace and name are what Kubernetes allows (DNS labels and
    /// subdomains): safe as `kubectl` arguments, never read as options.
    fn has_valid_names(&self) -> bool {
        [&self.metadata.namespace, &self.metadata.name].iter().all(|n| is_k8s_name(n))
    }
}

/// A DNS-1123 subdomain: lowercase letters, digits, `-` and `.`, starting
/// and ending with a letter or digit, at most 253 characters.
fn is_k8s_name(name: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    name.len() <= 253
        && name.starts_with(alnum)
        && name.ends_with(alnum)
        && name.chars().all(|c| alnum(c) || c == '-' || c == '.')
}

/// The cluster, through the client.
struct Cluster<'a> {
    kubectl: &'a Kubectl,
    options: &'a K8sOptions,
}

impl Cluster<'_> {
    fn get(&self, args: &[&str]) -> Result<String, LiveError> {
        let argv: Vec<&str> = std::iter::once("kubectl").chain(args.iter().copied()).collect();
        command_text(self.kubectl.command(args), "the cluster", &argv, self.kubectl.idle_limit)
    }

    fn json<T: for<'de> Deserialize<'de>>(&self, args: &[&str], text: &str) -> Result<T, K8sError> {
        serde_json::from_str(text).map_err(|e| K8sError::BadJson {
            command: format!("{} {}", self.kubectl.name(), words(args)),
            why: quote::note(&e.to_string()),
        })
    }

    fn check_node(&self) -> Result<(), K8sError> {
        let node = &self.options.node;
        let args = ["get", "node", node.as_str(), "-o", "json"];
        let text = self.get(&args).map_err(|e| match e {
            LiveError::Failed { ref stderr, .. } if stderr.contains("NotFound") || stderr.contains("not found") => {
                K8sError::NodeNotFound {
                    node: quote::shell(node),
                    context: self
                        .options
                        .context
                        .as_deref()
                        .map(|c| format!(" (context {})", quote::shell(c)))
                        .unwrap_or_default(),
                    client: self.kubectl.name(),
                }
            }
            other => other.into(),
        })?;
        let found: Node = self.json(&args, &text)?;
        if found.metadata.name != *node {
            return Err(K8sError::BadJson { command: words(&args), why: "another node's name".into() });
        }
        Ok(())
    }

    /// The running pods of `namespace` (all namespaces: `None`), only those
    /// on the node when `on_node`.
    fn pods(&self, namespace: Option<&str>, on_node: bool) -> Result<Vec<Pod>, K8sError> {
        let selector = format!("spec.nodeName={}", self.options.node);
        let mut args = vec!["get", "pods"];
        match namespace {
            Some(ns) => args.extend(["-n", ns]),
            None => args.push("-A"),
        }
        args.extend(["-o", "json"]);
        if on_node {
            args.extend(["--field-selector", &selector]);
        }
        let text = self.get(&args)?;
        let list: PodList = self.json(&args, &text)?;
        let node = self.options.node.as_str();
        let pods = list
            .items
            .into_iter()
            .filter(|p| p.is_running() && p.has_valid_names())
            .filter(|p| !on_node || p.spec.node_name.as_deref() == Some(node))
            .collect();
        Ok(pods)
    }

    fn plan(&self, on_node: &[Pod]) -> Result<Plan, K8sError> {
        let find = |containers: &[&str]| on_node.iter().find(|p| p.has(containers));
        let node = quote::shell(&self.options.node);
        if let Some(pod) = find(&[NB_OPENSHIFT, SB_OPENSHIFT]) {
            let layout = Layout::OpenShiftInterconnect;
            let ovs = find(&[OVN_CONTROLLER]).ok_or_else(|| K8sError::MissingContainer {
                node: node.clone(),
                layout,
                container: OVN_CONTROLLER,
                what: "it has OVS's sockets at /var/run/openvswitch",
            })?;
            return Ok(Plan {
                layout,
                ovs: ovs.container(OVN_CONTROLLER),
                nb: (pod.container(NB_OPENSHIFT), Vec::new()),
                sb: (pod.container(SB_OPENSHIFT), Vec::new()),
            });
        }
        let ovs_node = find(&[OVS_DAEMONS]);
        if let Some(pod) = find(&[NB_UPSTREAM, SB_UPSTREAM]) {
            let layout = Layout::UpstreamInterconnect;
            let ovs = ovs_node.ok_or_else(|| K8sError::MissingContainer {
                node: node.clone(),
                layout,
                container: OVS_DAEMONS,
                what: "the ovs-node pod, where OVS runs",
            })?;
            return Ok(Plan {
                layout,
                ovs: ovs.container(OVS_DAEMONS),
                nb: (pod.container(NB_UPSTREAM), Vec::new()),
                sb: (pod.container(SB_UPSTREAM), Vec::new()),
            });
        }
        let node_pod = on_node
            .iter()
            .find(|p| p.has(&[OVNKUBE_NODE]) || p.metadata.labels.get("app").is_some_and(|a| a == OVNKUBE_NODE));
        let Some(anchor) = node_pod.or(ovs_node) else {
            let namespace = self
                .options
                .namespace
                .as_deref()
                .map(|n| format!(" in namespace {}", quote::shell(n)))
                .unwrap_or_default();
            return Err(K8sError::NoOvnPods { node, namespace });
        };
        self.legacy(anchor, ovs_node, on_node)
    }

    /// The legacy layouts: OVS on the node, NB/SB in database pods of the
    /// OVN namespace, wherever they run.
    fn legacy(&self, anchor: &Pod, ovs_node: Option<&Pod>, on_node: &[Pod]) -> Result<Plan, K8sError> {
        let namespace = anchor.metadata.namespace.clone();
        let pods = self.pods(Some(&namespace), false)?;
        let openshift: Vec<&Pod> = pods.iter().filter(|p| p.has(&[NB_OPENSHIFT, SB_OPENSHIFT])).collect();
        let upstream: Vec<&Pod> = pods.iter().filter(|p| p.has(&[NB_UPSTREAM, SB_UPSTREAM])).collect();
        let (layout, db_pods, nb, sb) = if !openshift.is_empty() && (self.options.openshift || upstream.is_empty()) {
            (Layout::OpenShiftLegacy, openshift, NB_OPENSHIFT, SB_OPENSHIFT)
        } else {
            (Layout::UpstreamLegacy, upstream, NB_UPSTREAM, SB_UPSTREAM)
        };
        if db_pods.is_empty() {
            let (what, containers) = if self.options.openshift {
                ("ovnkube-master", "nbdb, sbdb")
            } else {
                ("ovnkube-db or ovnkube-master", "nb-ovsdb, sb-ovsdb or nbdb, sbdb")
            };
            return Err(K8sError::NoDbPod { namespace: quote::shell(&namespace), layout, what, containers });
        }
        let ovs = match ovs_node {
            Some(pod) => pod.container(OVS_DAEMONS),
            None => on_node.iter().find(|p| p.has(&[OVN_CONTROLLER])).map(|p| p.container(OVN_CONTROLLER)).ok_or_else(
                || K8sError::MissingContainer {
                    node: quote::shell(&self.options.node),
                    layout,
                    container: OVN_CONTROLLER,
                    what: "ovnkube-node's, with OVS's sockets at /var/run/openvswitch; or ovs-node's ovs-daemons",
                },
            )?,
        };
        let nb = self.member(DbKind::OvnNb, &db_pods, nb)?;
        let sb = self.member(DbKind::OvnSb, &db_pods, sb)?;
        Ok(Plan { layout, ovs, nb, sb })
    }

    /// The database pod to read `kind` from: the RAFT leader, a standalone
    /// server, else a member (noted: its copy may lag the leader's).
    fn member(
        &self,
        kind: DbKind,
        pods: &[&Pod],
        container: &'static str,
    ) -> Result<(Container, Vec<String>), K8sError> {
        let mut roles = Vec::new();
        for pod in pods {
            let c = pod.container(container);
            let role = self.role(kind, &c)?;
            match role {
                Role::Leader => {
                    let note = format!(
                        "{} is clustered (RAFT): read from the leader, pod {}",
                        kind.schema_name(),
                        quote::shell(&c.pod)
                    );
                    return Ok((c, vec![note]));
                }
                Role::Standalone => return Ok((c, Vec::new())),
                Role::Other(role) => roles.push((c, role)),
            }
        }
        let on_node = roles.iter().position(|(c, _)| {
            pods.iter()
                .any(|p| p.metadata.name == c.pod && p.spec.node_name.as_deref() == Some(self.options.node.as_str()))
        });
        let (c, role) = roles.swap_remove(on_node.unwrap_or(0));
        let note = format!(
            "{} is clustered (RAFT) and no leader was found among {} member(s): read from pod {} ({}), whose copy may lag the leader's",
            kind.schema_name(),
            pods.len(),
            quote::shell(&c.pod),
            quote::note(&role)
        );
        Ok((c, vec![note]))
    }

    /// The role of the server of `kind` in container `c`, from
    /// `ovs-appctl -t <ctl> cluster/status <db>`.
    fn role(&self, kind: DbKind, c: &Container) -> Result<Role, K8sError> {
        let exec = KubectlExec {
            kubectl: self.kubectl.clone(),
            namespace: c.namespace.clone(),
            pod: c.pod.clone(),
            container: c.container.to_string(),
        };
        let argv = ["ovs-appctl", "-t", live::ovn_ctl(kind), "cluster/status", kind.schema_name()];
        match live::transport::text(&exec, &argv) {
            Ok(status) => Ok(role_of(&status)),
            Err(LiveError::Failed { stderr, .. })
                if stderr.contains("not a valid command") || stderr.contains("not clustered") =>
            {
                Ok(Role::Standalone)
            }
            Err(LiveError::Failed { stderr, .. }) => Ok(Role::Other(format!("cluster/status failed: {stderr}"))),
            Err(e) => Err(e.into()),
        }
    }
}

/// A database server's place in its cluster.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Leader,
    Standalone,
    /// Follower, candidate, or unknown: what `cluster/status` said.
    Other(String),
}

/// `Role: leader` in `cluster/status` output.
pub(crate) fn role_of(status: &str) -> Role {
    let role = status.lines().find_map(|l| l.trim().strip_prefix("Role:")).map(str::trim).unwrap_or("unknown role");
    if role == "leader" {
        Role::Leader
    } else {
        Role::Other(format!("role {role}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_from_cluster_status() {
        assert_eq!(role_of("abcd\nName: OVN_Northbound\nRole: leader\nTerm: 2\n"), Role::Leader);
        assert_eq!(role_of("Role: follower\n"), Role::Other("role follower".into()));
        assert_eq!(role_of(""), Role::Other("role unknown role".into()));
    }

    #[test]
    fn only_kubernetes_names_are_used() {
        for ok in ["ovn-kubernetes", "ovnkube-node-h4k9s", "a", "x.y-1"] {
            assert!(is_k8s_name(ok), "{ok}");
        }
        for bad in ["", "-n", "--all", "A", "a b", "a/b", "a-", ".a", "é"] {
            assert!(!is_k8s_name(bad), "{bad}");
        }
    }

    #[test]
    fn pods_parse_from_kubectl_json() {
        let text = r#"{"items":[{"metadata":{"name":"ovnkube-node-x","namespace":"openshift-ovn-kubernetes","labels":{"app":"ovnkube-node"}},
            "spec":{"nodeName":"w1","containers":[{"name":"nbdb"},{"name":"sbdb"},{"name":"ovn-controller"}]},"status":{"phase":"Running"}}]}"#;
        let list: PodList = serde_json::from_str(text).unwrap();
        let pod = &list.items[0];
        assert!(pod.is_running() && pod.has(&[NB_OPENSHIFT, SB_OPENSHIFT]) && !pod.has(&[NB_UPSTREAM]));
        assert_eq!(pod.container(NB_OPENSHIFT).pod, "ovnkube-node-x");
    }
}
