//! `collect-must-gather PATH [--node NODE]`: the OVN NB and SB databases
//! of an OpenShift must-gather (a directory, or a `.tar`, `.tar.gz`,
//! `.tar.xz` of it), read as hostile evidence through [`super::archive`].
//!
//! Interconnect clusters (4.14+) keep every node's own databases in
//! `network_logs/ovnk_database_store.tar.gz`, members `<pod>_nbdb` and
//! `<pod>_sbdb` named after the node's `ovnkube-node` pod; the pod's node
//! is its YAML's `spec.nodeName`
//! (`namespaces/openshift-ovn-kubernetes/pods/<pod>/<pod>.yaml`), else the
//! NB database's `NB_Global` name (the node's zone). Legacy clusters keep
//! the RAFT leader's databases as `network_logs/leader_nbdb.gz` and
//! `leader_sbdb.gz`. Two passes: the first surveys (which pods, which
//! node, every stream readable), the second stages the chosen databases;
//! an archive that changed in between is refused. A must-gather holds no
//! OVS database and no OpenFlow state: the result says what fills that
//! half.

use super::archive::{read_archive, read_entries, walk_directory, Compression, MemberKind};
use super::CollectError;
use crate::capture::writer::CaptureWriter;
use crate::capture::{DbKind, Provenance};
use crate::ovsdb::file::{self, DbFileError};
use crate::quote;
use crate::workdir::Workdir;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Component, Path, PathBuf};

const STORE: &str = "network_logs/ovnk_database_store.tar.gz";
const NAMESPACE: &str = "openshift-ovn-kubernetes";
/// The most a pod YAML may hold that is read.
const MAX_YAML_BYTES: u64 = 4 << 20;

#[derive(Debug, thiserror::Error)]
pub enum MustGatherError {
    #[error("{} holds neither {STORE} (interconnect) nor network_logs/leader_nbdb.gz or leader_sbdb.gz (legacy); give the directory or archive 'oc adm must-gather' wrote", quote::path(.0))]
    NotMustGather(PathBuf),
    #[error("{}: member {} is {kind}, not a file; not followed, nothing collected (give the must-gather as 'oc adm must-gather' wrote it)", quote::path(archive), quote::shell(member))]
    NotAFile { archive: PathBuf, member: String, kind: &'static str },
    #[error(
        "{}: {} holds {}, {why}; nothing collected (give the must-gather as 'oc adm must-gather' wrote it)",
        quote::path(archive),
        quote::shell(member),
        quote::path(inner)
    )]
    HostileStore { archive: PathBuf, member: String, inner: PathBuf, why: &'static str },
    #[error("{}: member {} is not a readable {compression}: it is corrupt or cut short; nothing collected (run must-gather again, or copy it again)", quote::path(archive), quote::shell(member))]
    BrokenMember {
        archive: PathBuf,
        member: String,
        compression: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("the must-gather {} has no databases of node {}; it holds those of {known}; run 'ovs-offline collect-must-gather {} --node NODE' with one of them", quote::path(archive), quote::shell(node), quote::path(archive))]
    UnknownNode { archive: PathBuf, node: String, known: String },
    #[error(
        "the must-gather {} holds databases of several pods on node {} ({pods}); give the pod name to --node instead",
        quote::path(archive),
        quote::shell(node)
    )]
    SeveralPods { archive: PathBuf, node: String, pods: String },
    #[error("{} changed while it was read (its sha256 differs between the survey and the copy); nothing collected (copy it to a place nothing writes to, and collect again)", quote::path(.0))]
    Changed(PathBuf),
}

/// How the must-gather keeps the OVN databases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// Per node, in `network_logs/ovnk_database_store.tar.gz`.
    Interconnect,
    /// The RAFT leader's, `network_logs/leader_{nb,sb}db.gz`.
    Legacy,
}

/// Where a pod's node name was learnt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeSource {
    /// `spec.nodeName` of the pod's YAML.
    PodYaml,
    /// `NB_Global` `name` of its NB database (the zone).
    NbGlobal,
}

/// One `ovnkube-node` pod's databases in the interconnect store.
#[derive(Debug, Clone, Serialize)]
pub struct PodDbs {
    pub pod: String,
    pub node: Option<String>,
    pub node_source: Option<NodeSource>,
    pub kinds: BTreeSet<DbKind>,
}

/// What `collect-must-gather` did.
#[derive(Debug, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum MustGather {
    /// Several nodes and no `--node`: nothing collected.
    Listed { archive: PathBuf, pods: Vec<PodDbs> },
    Collected {
        archive: PathBuf,
        layout: Layout,
        /// The pod whose databases were taken (interconnect).
        pod: Option<PodDbs>,
        /// One line per database: what it is and which member supplied it.
        items: Vec<String>,
        notes: Vec<String>,
    },
}

/// The note every must-gather collect ends with.
pub fn ovs_half_note() -> &'static str {
    "a must-gather holds no OVS database and no OpenFlow state: add them to this working directory with collect-sos-ovs (that node's sos report) or collect-k8s NODE"
}

/// A member of the must-gather a collect reads.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Member {
    Store,
    Leader(DbKind),
    PodYaml(String),
}

impl Member {
    /// Recognises `path` below at most two top directories
    /// (`must-gather.local.<N>/<image>/`); `None` for anything else and for
    /// paths that are not plain relative ones.
    fn of(path: &Path) -> Option<Member> {
        let parts = plain_parts(path)?;
        let start = parts.iter().position(|p| *p == "network_logs" || *p == "namespaces")?;
        if start > 2 {
            return None;
        }
        match &parts[start..] {
            ["network_logs", "ovnk_database_store.tar.gz"] => Some(Member::Store),
            ["network_logs", "leader_nbdb.gz"] => Some(Member::Leader(DbKind::OvnNb)),
            ["network_logs", "leader_sbdb.gz"] => Some(Member::Leader(DbKind::OvnSb)),
            ["namespaces", NAMESPACE, "pods", pod, file] if *file == format!("{pod}.yaml") => {
                Some(Member::PodYaml(pod.to_string()))
            }
            _ => None,
        }
    }

    fn name(&self) -> String {
        match self {
            Member::Store => STORE.to_string(),
            Member::Leader(kind) => format!("network_logs/leader_{}.gz", store_suffix(*kind)),
            Member::PodYaml(pod) => format!("namespaces/{NAMESPACE}/pods/{pod}/{pod}.yaml"),
        }
    }
}

fn plain_parts(path: &Path) -> Option<Vec<&str>> {
    let mut parts = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => parts.push(p.to_str()?),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(parts)
}

fn store_suffix(kind: DbKind) -> &'static str {
    match kind {
        DbKind::OvnSb => "sbdb",
        DbKind::OvnNb | DbKind::Ovs => "nbdb",
    }
}

/// The longest name Kubernetes gives an object (a DNS subdomain).
const MAX_POD_NAME: usize = 253;

/// `<pod>_nbdb` / `<pod>_sbdb`, the last component of a store member.
fn store_db(name: &str) -> Option<(&str, DbKind)> {
    let (pod, kind) = if let Some(pod) = name.strip_suffix("_nbdb") {
        (pod, DbKind::OvnNb)
    } else {
        (name.strip_suffix("_sbdb")?, DbKind::OvnSb)
    };
    (!pod.is_empty() && pod.len() <= MAX_POD_NAME).then_some((pod, kind))
}

/// Collects the NB and SB databases of `node` (interconnect; not needed
/// when the must-gather holds one node, or the legacy leader's).
pub fn collect_must_gather(
    workdir: &Workdir,
    source: &Path,
    node: Option<&str>,
    force: bool,
) -> Result<MustGather, CollectError> {
    let archive = std::path::absolute(source).unwrap_or_else(|_| source.to_path_buf());
    let is_dir =
        fs::metadata(source).map_err(|e| CollectError::Read { path: source.to_path_buf(), source: e })?.is_dir();
    let mut survey = Survey::new(&archive);
    let surveyed_sha = visit_members(source, is_dir, &mut |member, kind| survey.member(member, kind))?;
    let mut notes = Vec::new();
    let (layout, pod) = if survey.store {
        let pods = survey.pods(&mut notes);
        let pod = match (node, pods.len()) {
            (None, 1) => pods[0].clone(),
            (None, _) => return Ok(MustGather::Listed { archive, pods }),
            (Some(node), _) => choose(&archive, &pods, node)?,
        };
        if !survey.leaders.is_empty() {
            notes
                .push("the must-gather also holds legacy leader databases (network_logs/leader_*.gz); not used".into());
        }
        (Layout::Interconnect, Some(pod))
    } else if !survey.leaders.is_empty() {
        if let Some(node) = node {
            notes.push(format!(
                "legacy must-gather: the RAFT leader's databases hold the whole cluster; --node {} not needed",
                quote::shell(node)
            ));
        }
        (Layout::Legacy, None)
    } else {
        return Err(MustGatherError::NotMustGather(archive).into());
    };
    let mut capture = CaptureWriter::begin(workdir, force)?;
    let mut copy = Copy { archive: &archive, pod: pod.as_ref().map(|p| p.pod.as_str()), items: Vec::new() };
    let copied_sha = visit_members(source, is_dir, &mut |member, kind| copy.member(&mut capture, member, kind))?;
    if copied_sha != surveyed_sha {
        return Err(MustGatherError::Changed(archive).into());
    }
    if !copied_sha.is_empty() {
        capture.archive_sha256(&archive, &copied_sha);
    }
    let wanted = pod.as_ref().map_or_else(|| survey.leaders.clone(), |p| p.kinds.clone());
    for kind in [DbKind::OvnNb, DbKind::OvnSb].into_iter().filter(|k| !wanted.contains(k)) {
        notes.push(format!("the must-gather holds no {} database for it", kind.schema_name()));
    }
    let items = copy.items;
    notes.push(ovs_half_note().to_string());
    for n in &notes {
        capture.note(n.clone());
    }
    capture.commit()?;
    Ok(MustGather::Collected { archive, layout, pod, items, notes: notes.iter().map(|n| quote::note(n)).collect() })
}

/// Visits the members a collect reads; the archive's sha256 (empty for a
/// directory).
fn visit_members(
    source: &Path,
    is_dir: bool,
    visit: &mut dyn FnMut(Member, MemberKind<'_>) -> Result<(), CollectError>,
) -> Result<String, CollectError> {
    let mut recognised = |raw: &Path, kind: MemberKind<'_>| match Member::of(raw) {
        Some(member) => visit(member, kind),
        None => Ok(()),
    };
    if is_dir {
        walk_directory(source, &[], &|rel| Member::of(rel).is_some(), &mut recognised)?;
        Ok(String::new())
    } else {
        read_archive(source, &mut recognised)
    }
}

/// The pod `node` names (a node, or a pod name).
fn choose(archive: &Path, pods: &[PodDbs], node: &str) -> Result<PodDbs, MustGatherError> {
    if let Some(pod) = pods.iter().find(|p| p.pod == node) {
        return Ok(pod.clone());
    }
    let on_node: Vec<&PodDbs> = pods.iter().filter(|p| p.node.as_deref() == Some(node)).collect();
    match on_node.as_slice() {
        [pod] => Ok((*pod).clone()),
        [] => Err(MustGatherError::UnknownNode {
            archive: archive.to_path_buf(),
            node: node.to_string(),
            known: pods.iter().map(PodDbs::label).collect::<Vec<_>>().join(", "),
        }),
        several => Err(MustGatherError::SeveralPods {
            archive: archive.to_path_buf(),
            node: node.to_string(),
            pods: several.iter().map(|p| quote::shell(&p.pod)).collect::<Vec<_>>().join(", "),
        }),
    }
}

impl PodDbs {
    /// `node (pod P)`, or the pod alone when its node is unknown.
    pub fn label(&self) -> String {
        match &self.node {
            Some(node) => format!("{} (pod {})", quote::shell(node), quote::shell(&self.pod)),
            None => format!("pod {} (node unknown)", quote::shell(&self.pod)),
        }
    }
}

/// The first pass: what the must-gather holds.
struct Survey<'a> {
    archive: &'a Path,
    /// The must-gather holds the interconnect store.
    store: bool,
    /// Per pod in the store: its databases and its zone name.
    store_pods: BTreeMap<String, (BTreeSet<DbKind>, Option<String>)>,
    /// `spec.nodeName` per pod YAML.
    yaml_nodes: BTreeMap<String, String>,
    leaders: BTreeSet<DbKind>,
}

impl<'a> Survey<'a> {
    fn new(archive: &'a Path) -> Survey<'a> {
        Survey {
            archive,
            store: false,
            store_pods: BTreeMap::new(),
            yaml_nodes: BTreeMap::new(),
            leaders: BTreeSet::new(),
        }
    }

    fn member(&mut self, member: Member, kind: MemberKind<'_>) -> Result<(), CollectError> {
        let input = regular(self.archive, &member, kind)?;
        match member {
            Member::Store => {
                self.store = true;
                let archive = self.archive.to_path_buf();
                read_store(self.archive, input, &mut |pod, kind, input| {
                    let zone = match kind {
                        DbKind::OvnNb => match file::nb_global_name(input) {
                            Ok(name) => name.map(|n| quote::note(&n)),
                            Err(DbFileError::Io(e)) => {
                                return Err(CollectError::Read { path: archive.clone(), source: e })
                            }
                            Err(_) => None,
                        },
                        _ => None,
                    };
                    let entry = self.store_pods.entry(pod.to_string()).or_default();
                    if !entry.0.insert(kind) {
                        return Err(MustGatherError::HostileStore {
                            archive: archive.clone(),
                            member: STORE.to_string(),
                            inner: PathBuf::from(format!("{pod}_{}", store_suffix(kind))),
                            why: "a second time (two copies of one database)",
                        }
                        .into());
                    }
                    entry.1 = entry.1.take().or(zone);
                    Ok(())
                })
            }
            Member::Leader(db) => {
                // Read to its end now: a broken gzip is found before any copy.
                io::copy(&mut flate2::read::GzDecoder::new(input), &mut io::sink())
                    .map_err(|source| broken(self.archive, &member, Compression::Gzip, source))?;
                self.leaders.insert(db);
                Ok(())
            }
            Member::PodYaml(pod) => {
                let mut text = Vec::new();
                input.take(MAX_YAML_BYTES).read_to_end(&mut text).map_err(|e| self.read_error(e))?;
                io::copy(input, &mut io::sink()).map_err(|e| self.read_error(e))?;
                if let Some(node) = node_name(&String::from_utf8_lossy(&text)) {
                    self.yaml_nodes.insert(pod, node);
                }
                Ok(())
            }
        }
    }

    fn read_error(&self, source: io::Error) -> CollectError {
        CollectError::Read { path: self.archive.to_path_buf(), source }
    }

    /// The store's pods with their nodes; notes where the two sources
    /// disagree.
    fn pods(&self, notes: &mut Vec<String>) -> Vec<PodDbs> {
        let mut pods = Vec::new();
        for (pod, (kinds, zone)) in &self.store_pods {
            let (node, node_source) = match (self.yaml_nodes.get(pod), zone) {
                (Some(node), zone) => {
                    if zone.as_ref().is_some_and(|z| z != node) {
                        notes.push(format!(
                            "pod {}: its YAML puts it on node {}, its NB database names zone {}; took the node",
                            quote::shell(pod),
                            quote::shell(node),
                            quote::shell(zone.as_deref().unwrap_or_default())
                        ));
                    }
                    (Some(node.clone()), Some(NodeSource::PodYaml))
                }
                (None, Some(zone)) => (Some(zone.clone()), Some(NodeSource::NbGlobal)),
                (None, None) => (None, None),
            };
            pods.push(PodDbs { pod: pod.clone(), node, node_source, kinds: kinds.clone() });
        }
        pods
    }
}

/// The second pass: stages the chosen databases.
struct Copy<'a> {
    archive: &'a Path,
    /// The pod whose store databases are taken; `None`: the leader's.
    pod: Option<&'a str>,
    items: Vec<String>,
}

impl Copy<'_> {
    fn member(
        &mut self,
        capture: &mut CaptureWriter<'_>,
        member: Member,
        kind: MemberKind<'_>,
    ) -> Result<(), CollectError> {
        let input = regular(self.archive, &member, kind)?;
        match (&member, self.pod) {
            (Member::Store, Some(chosen)) => read_store(self.archive, input, &mut |pod, kind, input| {
                if pod != chosen {
                    return Ok(());
                }
                let inner = format!("{pod}_{}", store_suffix(kind));
                let origin = Provenance::NestedMember {
                    archive: self.archive.to_path_buf(),
                    archive_sha256: String::new(),
                    member: STORE.to_string(),
                    inner: inner.clone(),
                };
                let label = format!("member {STORE}, inside it {}", quote::shell(&inner));
                self.stage(capture, kind, input, origin, label)
            }),
            (Member::Leader(kind), None) => {
                let origin = Provenance::ArchiveMember {
                    archive: self.archive.to_path_buf(),
                    archive_sha256: String::new(),
                    member: member.name(),
                };
                let label = format!("member {}", quote::shell(&member.name()));
                self.stage(capture, *kind, &mut flate2::read::GzDecoder::new(input), origin, label)
            }
            _ => Ok(()),
        }
    }

    fn stage(
        &mut self,
        capture: &mut CaptureWriter<'_>,
        kind: DbKind,
        input: &mut dyn Read,
        origin: Provenance,
        label: String,
    ) -> Result<(), CollectError> {
        let db = capture.stage_db(kind, input, kind.file_name(), origin)?;
        let layout = if db.clustered { "clustered" } else { "standalone" };
        self.items.push(format!("{} {} ({layout}) from {label}", quote::note(&db.schema), quote::note(&db.version)));
        Ok(())
    }
}

/// `member` when it is a regular file; a link or device at a name a
/// collect reads is refused.
fn regular<'r>(archive: &Path, member: &Member, kind: MemberKind<'r>) -> Result<&'r mut dyn Read, MustGatherError> {
    let kind = match kind {
        MemberKind::File(input) => return Ok(input),
        MemberKind::Symlink(_) => "a symbolic link",
        MemberKind::Other => "a hard link or a device",
    };
    Err(MustGatherError::NotAFile { archive: archive.to_path_buf(), member: member.name(), kind })
}

fn broken(archive: &Path, member: &Member, compression: Compression, source: io::Error) -> MustGatherError {
    MustGatherError::BrokenMember {
        archive: archive.to_path_buf(),
        member: member.name(),
        compression: compression.name(),
        source,
    }
}

/// Called with each `<pod>_nbdb` / `<pod>_sbdb` of the store: the pod,
/// the kind and the database.
type StoreVisitor<'v> = dyn FnMut(&str, DbKind, &mut dyn Read) -> Result<(), CollectError> + 'v;

/// Reads the nested store (`ovnk_database_store.tar.gz`) to its end,
/// handing each `<pod>_nbdb` / `<pod>_sbdb` to `visit`. Any member that
/// is not a plain relative path or not a regular file refuses the whole
/// store; `visit`'s error reading the archive is the store's corruption.
fn read_store(archive: &Path, input: &mut dyn Read, visit: &mut StoreVisitor<'_>) -> Result<(), CollectError> {
    let mut input = BufReader::new(input);
    let compression =
        Compression::from_magic(input.fill_buf().map_err(|e| broken(archive, &Member::Store, Compression::Gzip, e))?);
    let broken_store = |source: io::Error| CollectError::from(broken(archive, &Member::Store, compression, source));
    let hostile = |inner: &Path, why: &'static str| {
        CollectError::from(MustGatherError::HostileStore {
            archive: archive.to_path_buf(),
            member: STORE.to_string(),
            inner: inner.to_path_buf(),
            why,
        })
    };
    let mut rest = read_entries(compression.decoder(&mut input), &broken_store, &mut |raw, kind| {
        let Some(parts) = plain_parts(raw) else {
            return Err(hostile(raw, "a path that leaves the archive"));
        };
        let input = match kind {
            MemberKind::File(input) => input,
            MemberKind::Symlink(_) => return Err(hostile(raw, "a symbolic link")),
            MemberKind::Other => return Err(hostile(raw, "a hard link or a device")),
        };
        match parts.last().and_then(|name| store_db(name)) {
            Some((pod, kind)) => visit(pod, kind, input).map_err(|e| match e {
                CollectError::Read { path, source } if path == archive => broken_store(source),
                other => other,
            }),
            None => Ok(()),
        }
    })?;
    io::copy(&mut rest, &mut io::sink()).map_err(broken_store)?;
    Ok(())
}

/// `spec.nodeName` of a pod's YAML (as `oc get -o yaml` writes it: a
/// top-level `spec:` whose direct children share one indentation).
pub(crate) fn node_name(yaml: &str) -> Option<String> {
    let lines = yaml.lines().skip_while(|l| l.trim_end() != "spec:").skip(1);
    let first = lines.clone().find(|l| !l.trim().is_empty())?;
    let indent = first.len() - first.trim_start().len();
    let value = lines
        .take_while(|l| l.trim().is_empty() || l.starts_with(' '))
        .filter(|l| l.len() - l.trim_start().len() == indent)
        .find_map(|l| l.trim_start().strip_prefix("nodeName:"))?;
    let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
    (indent > 0 && !value.is_empty()).then(|| quote::note(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_recognised_below_the_must_gather_directories() {
        let of = |p: &str| Member::of(Path::new(p));
        assert_eq!(
            of("must-gather.local.1/quay-io-x-sha256-1/network_logs/ovnk_database_store.tar.gz"),
            Some(Member::Store)
        );
        assert_eq!(of("network_logs/leader_sbdb.gz"), Some(Member::Leader(DbKind::OvnSb)));
        assert_eq!(
            of("a/b/namespaces/openshift-ovn-kubernetes/pods/ovnkube-node-x/ovnkube-node-x.yaml"),
            Some(Member::PodYaml("ovnkube-node-x".into()))
        );
        assert_eq!(of("a/b/c/network_logs/leader_nbdb.gz"), None);
        assert_eq!(of("../network_logs/leader_nbdb.gz"), None);
        assert_eq!(of("/network_logs/leader_nbdb.gz"), None);
        assert_eq!(of("a/namespaces/openshift-ovn-kubernetes/pods/p/q.yaml"), None);
        assert_eq!(store_db("ovnkube-node-abc_nbdb"), Some(("ovnkube-node-abc", DbKind::OvnNb)));
        assert_eq!(store_db("_sbdb"), None);
        assert_eq!(store_db("ovnkube-node-abc_sbdb.1"), None);
        assert_eq!(store_db(&format!("{}_nbdb", "p".repeat(254))), None);
    }

    #[test]
    fn the_node_of_a_pod_yaml() {
        let yaml = "apiVersion: v1\nkind: Pod\nmetadata:\n  annotations:\n    x: |\n      nodeName: forged\nspec:\n  containers:\n  - name: nbdb\n    nodeName: inner\n  nodeName: worker-0.example.com\nstatus:\n  nodeName: other\n";
        assert_eq!(node_name(yaml).as_deref(), Some("worker-0.example.com"));
        assert_eq!(node_name("spec:\n  containers: []\nstatus:\n  nodeName: x\n"), None);
        assert_eq!(node_name("spec:\n  nodeName: \"\"\n"), None);
    }
}
