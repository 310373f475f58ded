//! `collect-sos-ovs`, `collect-sos-ovn`, `collect-sos`: the OVS database and
//! OpenFlow dumps, the OVN NB and SB databases, or whatever of them an sos
//! report holds, in ONE streaming pass over the report (`.tar.xz`,
//! `.tar.gz`, `.tar.bz2`, a plain tar, or an extracted directory): only the
//! members needed are streamed into the [`CaptureWriter`]; the report is
//! never unpacked, nothing in it is executed, and no member path is ever
//! used to write or to follow a link (a member is recognised by its name
//! inside the report; a link is only evidence of truncation). The archive's
//! sha256 is computed in the same pass, over its compressed bytes.
//!
//! Findings that real reports need: a dump sos cut to its last
//! `--log-size` bytes (a `sos_strings/<plugin>/<name>.tailed` file, or
//! `"truncated": true` in `sos_reports/manifest.json`) is restored without
//! its partial first line and recorded as incomplete for its bridge; a
//! tailed database (no OVSDB header) is not collected; a database whose
//! records were edited (`sos clean`) is collected with those records
//! re-hashed and marked OBFUSCATED (refused when one is no longer JSON);
//! an `ovs-ofctl` error message stored instead of a dump is skipped. A
//! database the report holds no file of is rebuilt from the text it keeps
//! (the OVS one from `ovsdb-client -f list dump`, NB and SB from
//! `ovn_central`'s `show`, `lflow-list` and `list <Table>` output) against
//! the local schema, and marked rebuilt. The OVN version comes from
//! `--version` output or the `northd_internal_version` a database (file or
//! `list` text) holds.

use super::archive::{read_archive, walk_directory, MemberKind};
use super::CollectError;
use crate::capture::flows::{self as captured};
use crate::capture::writer::{CaptureError, CaptureWriter};
use crate::capture::{DbKind, Obfuscated, Provenance, SourceSystem};
use crate::digest::{hex, Counted, Hashing};
use crate::ofp_text::sos_names::{parse_sos_dump_name, sos_command, sos_mangled_bridge};
use crate::ofp_text::versions;
use crate::ofp_text::{DumpKind, OfVersion};
use crate::ovsdb::ovn_text::{self, OvnTexts};
use crate::ovsdb::{rebuild, schema};
use crate::quote;
use crate::workdir::Workdir;
use serde::Deserialize;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Component, Path, PathBuf};

/// Which half of a node a command takes from the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SosPart {
    /// The OVS database and the OpenFlow state (a worker, a compute node).
    Ovs,
    /// The OVN NB and SB databases (a controller, a master).
    Ovn,
    /// Whatever the report holds.
    All,
}

impl SosPart {
    fn wants_db(self, kind: DbKind) -> bool {
        match self {
            SosPart::All => true,
            SosPart::Ovs => kind == DbKind::Ovs,
            SosPart::Ovn => kind != DbKind::Ovs,
        }
    }

    fn wants_flows(self) -> bool {
        self != SosPart::Ovn
    }

    /// What the command looked for, for the error when none is there.
    fn expected(self) -> &'static str {
        match self {
            SosPart::Ovs => "an Open vSwitch database (conf.db) or OpenFlow dumps (sos_commands/openvswitch)",
            SosPart::Ovn => "OVN databases (ovnnb_db.db, ovnsb_db.db) or their text (sos_commands/ovn_central)",
            SosPart::All => "Open vSwitch or OVN data (conf.db, OpenFlow dumps, ovnnb_db.db, ovnsb_db.db)",
        }
    }
}

/// What one sos collect took, for the user (notes are also in the manifest).
#[derive(Debug, Serialize)]
pub struct SosCollected {
    pub archive: PathBuf,
    /// One line per item: what it is and which member supplied it.
    pub items: Vec<String>,
    pub bridges: Vec<super::flows::BridgeSummary>,
    pub notes: Vec<String>,
    pub source: SourceSystem,
    /// Why databases the report has text of were not rebuilt.
    pub not_rebuilt: Vec<String>,
}

/// Where sos copies database files (field notes §5), relative to the report.
const DB_DIRS: [&str; 11] = [
    "etc/openvswitch",
    "var/lib/openvswitch",
    "usr/local/etc/openvswitch",
    "var/lib/openvswitch/ovn",
    "var/lib/ovn/etc",
    "var/lib/ovn-ic/etc",
    "var/lib/ovn",
    "etc/ovn",
    "var/snap/microovn/common/data/central/db",
    "var/lib/microovn/central/db",
    "var/snap/microovn/common/data/ovn/db",
];

/// The plugins whose command output holds per-bridge OpenFlow dumps.
const DUMP_PLUGINS: [&str; 2] = ["openvswitch", "ovn_host"];

/// The top-level names of an sos report that a collect reads (to find the
/// report one level deeper).
const REPORT_ROOTS: [&str; 7] = ["sos_commands", "sos_reports", "sos_strings", "sos_logs", "etc", "var", "usr"];

/// The text of `ovsdb-client -f list dump` that sos before 4.3 keeps
/// instead of the OVS database file.
const LIST_DUMP: &str = "sos_commands/openvswitch/ovsdb-client_-f_list_dump";

const SOS_ADVICE: &str = "re-run sos with --log-size 0 or --all-logs";

/// The most a small metadata member (version, manifest, list output) may hold.
const MAX_META_BYTES: u64 = 64 << 20;

/// The note on a database whose records `sos clean` edited.
fn obfuscated_note(o: Obfuscated) -> String {
    format!(
        "obfuscated by sos clean: {} of {} records re-hashed; addresses are sos clean's, not production's",
        o.rehashed, o.records
    )
}

fn db_kind(file: &str) -> Option<DbKind> {
    DbKind::ALL.into_iter().find(|k| k.file_name() == file)
}

/// Collects `part` of the sos report at `source`.
pub fn collect_sos(workdir: &Workdir, source: &Path, part: SosPart, force: bool) -> Result<SosCollected, CollectError> {
    let archive = std::path::absolute(source).unwrap_or_else(|_| source.to_path_buf());
    let meta = fs::metadata(source).map_err(|e| CollectError::Read { path: source.to_path_buf(), source: e })?;
    let mut capture = CaptureWriter::begin(workdir, force)?;
    // An obfuscated report's databases are edited: re-hashed, never served partially.
    capture.rehash_edited_databases();
    let mut pass = Pass::new(&archive, part);
    let sha256 = if meta.is_dir() {
        // Metadata first: the manifest names truncated members.
        let first = ["sos_reports", "version.txt"];
        walk_directory(source, &first, &wanted_on_disk, &mut |raw, kind| pass.member(&mut capture, raw, kind))?;
        String::new()
    } else {
        read_archive(source, &mut |raw, kind| pass.member(&mut capture, raw, kind))?
    };
    if !pass.is_sos {
        return Err(CollectError::NotSos(archive));
    }
    let collected = pass.finish(&mut capture)?;
    if !sha256.is_empty() {
        capture.archive_sha256(&archive, &sha256);
    }
    if collected.items.is_empty() && collected.bridges.is_empty() {
        if !collected.not_rebuilt.is_empty() {
            let why = collected.not_rebuilt.join("; ");
            return Err(CollectError::NothingUsableInSos { archive, expected: part.expected(), why });
        }
        return Err(CollectError::NothingInSos { archive, expected: part.expected() });
    }
    capture.commit()?;
    Ok(collected)
}

/// A candidate dump staged under `sos.<plugin>/<name>`.
struct Candidate {
    relative: PathBuf,
    member: String,
    version: Option<OfVersion>,
    /// Bytes kept when sos cut it.
    tailed: Option<u64>,
    plugin_rank: usize,
}

/// Higher is better: complete over cut, then the newer OpenFlow version
/// (the plain `dump-flows` last), then the openvswitch plugin over ovn_host.
type Rank = (bool, Option<OfVersion>, std::cmp::Reverse<usize>);

impl Candidate {
    fn rank(&self) -> Rank {
        (self.tailed.is_none(), self.version, std::cmp::Reverse(self.plugin_rank))
    }
}

/// The state of the one pass over a report.
struct Pass<'a> {
    archive: &'a Path,
    part: SosPart,
    /// Seen something only sos writes.
    is_sos: bool,
    items: Vec<String>,
    notes: Vec<String>,
    source: SourceSystem,
    /// Per kind: the member taken and its sha256.
    dbs: BTreeMap<DbKind, (String, String)>,
    /// Copies of a database seen after one was taken: member and sha256.
    db_copies: Vec<(DbKind, String, String)>,
    flows_begun: bool,
    /// The best dump staged so far per (mangled) bridge and kind; a worse
    /// one is never staged, a better one replaces it.
    best: BTreeMap<(String, DumpKind), Candidate>,
    /// Command outputs sos marked truncated (by their path in the report).
    truncated: BTreeSet<String>,
    bridges_listed: Vec<String>,
    /// Kinds of database some member of the report stood for (taken or not).
    dbs_seen: BTreeSet<DbKind>,
    /// What the report holds of [`LIST_DUMP`] (the OVS database of a
    /// report without `conf.db`).
    list_dump: Option<StoredText>,
    /// Per OVN database, the text `ovn_central` keeps of it (`show`,
    /// `lflow-list`, `list <Table>`): what a report without its file
    /// rebuilds it from.
    ovn_texts: BTreeMap<DbKind, OvnTexts>,
    /// Per OVN database, text members sos cut or too large to read.
    ovn_texts_unusable: BTreeMap<DbKind, Vec<String>>,
    /// Why databases with text but no file were not rebuilt.
    not_rebuilt: Vec<String>,
    /// Plugins that hit their time limit (`timeout_hit` in the manifest).
    timed_out: Vec<String>,
    /// What says the report is an OpenShift node's, and whether sos's
    /// `openshift_ovn` plugin ran.
    openshift: OpenShiftSigns,
}

/// An OpenShift node's report, as far as OVN is concerned: its crio
/// plugin lists ovnkube containers or pods (`sos_commands/crio/crictl_ps`,
/// `crictl_ps_-a`, `crictl_pods`), and sos's `openshift_ovn` plugin ran or
/// not (sos before 4.10.1 looked for those containers with podman and
/// skipped the plugin on crio nodes, so the report has no OVN database).
#[derive(Debug, Default, Clone, Copy)]
struct OpenShiftSigns {
    ovnkube_on_crio: bool,
    openshift_ovn_ran: bool,
}

/// The sos release whose `openshift_ovn` plugin finds its containers on
/// crio nodes.
const OPENSHIFT_OVN_ON_CRIO: &str = "4.10.1";

/// Command output a database is rebuilt from, as the report holds it.
enum StoredText {
    Complete(String),
    /// Cut by sos (`--log-size`).
    Cut,
    TooLarge,
}

impl StoredText {
    /// The text of the member at `path`, unless sos marked it truncated
    /// or it is too large to hold.
    fn read(pass: &Pass<'_>, path: &str, input: &mut dyn Read) -> Result<StoredText, CollectError> {
        let text = read_meta(input).map_err(|e| pass.read_error(e))?;
        Ok(if pass.truncated.contains(path) {
            StoredText::Cut
        } else if text.len() as u64 >= MAX_META_BYTES {
            StoredText::TooLarge
        } else {
            StoredText::Complete(text)
        })
    }
}

impl<'a> Pass<'a> {
    fn new(archive: &'a Path, part: SosPart) -> Pass<'a> {
        Pass {
            archive,
            part,
            is_sos: false,
            items: Vec::new(),
            notes: Vec::new(),
            source: SourceSystem::default(),
            dbs: BTreeMap::new(),
            db_copies: Vec::new(),
            flows_begun: false,
            best: BTreeMap::new(),
            truncated: BTreeSet::new(),
            bridges_listed: Vec::new(),
            dbs_seen: BTreeSet::new(),
            list_dump: None,
            ovn_texts: BTreeMap::new(),
            ovn_texts_unusable: BTreeMap::new(),
            not_rebuilt: Vec::new(),
            timed_out: Vec::new(),
            openshift: OpenShiftSigns::default(),
        }
    }

    fn origin(&self, member: &str) -> Provenance {
        Provenance::ArchiveMember {
            archive: self.archive.to_path_buf(),
            archive_sha256: String::new(),
            member: member.to_string(),
        }
    }

    fn member(
        &mut self,
        capture: &mut CaptureWriter<'_>,
        raw: &Path,
        kind: MemberKind<'_>,
    ) -> Result<(), CollectError> {
        // Its path inside the report (below the report's top directory).
        let Some(path) = report_path(raw) else { return Ok(()) };
        if matches!(path.split('/').next(), Some("sos_commands" | "sos_reports" | "sos_strings" | "sos_logs"))
            || path == "version.txt"
        {
            self.is_sos = true;
        }
        match kind {
            MemberKind::File(input) => self.file(capture, &path, input),
            MemberKind::Symlink(target) => {
                self.symlink(&path, &target);
                Ok(())
            }
            MemberKind::Other => {
                if self.is_wanted_name(&path) {
                    self.notes.push(format!(
                        "{} is not a regular file in the report (a hard link or a device); not read",
                        quote::shell(&path)
                    ));
                }
                Ok(())
            }
        }
    }

    fn is_wanted_name(&self, path: &str) -> bool {
        db_location(path).is_some() || is_dump_member(path)
    }

    fn file(&mut self, capture: &mut CaptureWriter<'_>, path: &str, input: &mut dyn Read) -> Result<(), CollectError> {
        match path {
            "version.txt" => {
                let text = read_meta(input).map_err(|e| self.read_error(e))?;
                self.source.sos_version = sos_version_txt(&text);
                return Ok(());
            }
            "sos_reports/manifest.json" => {
                let text = read_meta(input).map_err(|e| self.read_error(e))?;
                self.read_manifest(&text);
                return Ok(());
            }
            "hostname" | "sos_commands/host/hostname" | "etc/hostname" => {
                let text = read_meta(input).map_err(|e| self.read_error(e))?;
                let name = text.lines().next().unwrap_or_default().trim();
                if self.source.hostname.is_none() && !name.is_empty() {
                    self.source.hostname = Some(quote::note(name));
                }
                return Ok(());
            }
            _ => {}
        }
        if let Some((plugin, name)) = path.strip_prefix("sos_commands/").and_then(|p| p.split_once('/')) {
            return self.command_output(capture, path, plugin, name, input);
        }
        if let Some((plugin, name)) = path.strip_prefix("sos_strings/").and_then(|p| p.split_once('/')) {
            if let Some(name) = name.strip_suffix(".tailed") {
                return self.tailed(capture, path, plugin, name, input);
            }
        }
        if let Some(kind) = db_location(path) {
            return self.database(capture, kind, path, input);
        }
        Ok(())
    }

    fn command_output(
        &mut self,
        capture: &mut CaptureWriter<'_>,
        path: &str,
        plugin: &str,
        name: &str,
        input: &mut dyn Read,
    ) -> Result<(), CollectError> {
        self.openshift.openshift_ovn_ran |= plugin == "openshift_ovn";
        // Without the prefix of a command run in a container or a snap.
        match (plugin, sos_command(name)) {
            ("crio", "crictl_ps" | "crictl_ps_-a" | "crictl_pods") => {
                let text = read_meta(input).map_err(|e| self.read_error(e))?;
                self.openshift.ovnkube_on_crio |= text.split_whitespace().any(|w| w.starts_with("ovnkube-"));
            }
            ("openvswitch", "ovs-vsctl_-t_5_list-br") | ("ovn_host", "ovs-vsctl_list-br") => {
                let text = read_meta(input).map_err(|e| self.read_error(e))?;
                if self.bridges_listed.is_empty() {
                    self.bridges_listed =
                        text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect();
                }
            }
            ("openvswitch", "ovs-vsctl_-t_5_list_Open_vSwitch") | ("ovn_host", "ovs-vsctl_list_Open_vSwitch") => {
                let text = read_meta(input).map_err(|e| self.read_error(e))?;
                self.source.merge(open_vswitch_row(&text));
            }
            ("openvswitch", n)
                if n.starts_with("ovs-ofctl_-t_5_--version") || n.starts_with("ovs-vsctl_-t_5_--version") =>
            {
                let text = read_meta(input).map_err(|e| self.read_error(e))?;
                if self.source.ovs_version.is_none() {
                    self.source.ovs_version = versions::ovs(&text);
                }
            }
            ("ovn_host" | "ovn_central", n) if n.contains("--version") => {
                let text = read_meta(input).map_err(|e| self.read_error(e))?;
                if self.source.ovn_version.is_none() {
                    self.source.ovn_version = versions::ovn(&text);
                }
            }
            ("openvswitch", n) if n.starts_with("ovs-appctl_dpctl.show") && self.part.wants_flows() => {
                let text = read_meta(input).map_err(|e| self.read_error(e))?;
                let datapath_ports = crate::trace::ports::parse_dpctl_show(&text);
                self.source.merge(SourceSystem { datapath_ports, ..SourceSystem::default() });
            }
            ("openvswitch", "ovsdb-client_-f_list_dump") if self.part.wants_db(DbKind::Ovs) => {
                self.list_dump = Some(StoredText::read(self, path, input)?);
            }
            ("ovn_central", n) if ovn_text::sos_command(n).is_some_and(|(kind, _)| self.part.wants_db(kind)) => {
                self.ovn_text(path, n, input)?;
            }
            _ if DUMP_PLUGINS.contains(&plugin) => {
                let tailed = self.truncated.contains(path);
                self.dump(capture, plugin, name, tailed, input)?;
            }
            _ => {}
        }
        Ok(())
    }

    /// A file sos cut to its last bytes (`sos_strings/<plugin>/<name>.tailed`).
    fn tailed(
        &mut self,
        capture: &mut CaptureWriter<'_>,
        path: &str,
        plugin: &str,
        name: &str,
        input: &mut dyn Read,
    ) -> Result<(), CollectError> {
        if DUMP_PLUGINS.contains(&plugin) && parse_sos_dump_name(name).is_some() {
            return self.dump(capture, plugin, name, true, input);
        }
        if format!("sos_commands/{plugin}/{name}") == LIST_DUMP {
            self.list_dump = Some(StoredText::Cut);
        }
        if let Some((kind, _)) = ovn_text::sos_command(name).filter(|_| plugin == "ovn_central") {
            self.ovn_texts_unusable.entry(kind).or_default().push(format!("sos_commands/{plugin}/{name}"));
        }
        // A copied file: its path with '/' as '.'.
        if let Some(original) = DB_DIRS.iter().find_map(|dir| {
            let file = name.strip_prefix(&format!("{}.", dir.replace('/', ".")))?;
            db_kind(file).map(|kind| (kind, format!("{dir}/{file}")))
        }) {
            let (kind, original) = original;
            if self.part.wants_db(kind) {
                self.dbs_seen.insert(kind);
                self.notes.push(format!(
                    "{} database {} not collected: the report kept only the last bytes of it ({}, sos --log-size), which is no database; {SOS_ADVICE}",
                    kind.schema_name(),
                    quote::shell(&original),
                    quote::shell(path)
                ));
            }
        }
        io::copy(input, &mut io::sink()).map_err(|e| self.read_error(e))?;
        Ok(())
    }

    /// Stages the dump `name` of `plugin` (cut by sos when `tailed`) as a
    /// candidate for its bridge and kind.
    fn dump(
        &mut self,
        capture: &mut CaptureWriter<'_>,
        plugin: &str,
        name: &str,
        tailed: bool,
        input: &mut dyn Read,
    ) -> Result<(), CollectError> {
        let Some(dump) = parse_sos_dump_name(name).filter(|_| self.part.wants_flows()) else {
            return Ok(());
        };
        // The member named is the command's own path (a cut one links to it).
        let member = format!("sos_commands/{plugin}/{name}");
        let mut reader = BufReader::new(input);
        let head = reader.fill_buf().map_err(|e| self.read_error(e))?;
        if head.starts_with(b"ovs-ofctl: ") {
            let first = String::from_utf8_lossy(head.split(|b| *b == b'\n').next().unwrap_or_default()).into_owned();
            self.notes.push(format!(
                "{} holds an error message, not a dump: {}",
                quote::shell(&member),
                quote::note(&first)
            ));
            return Ok(());
        }
        if !self.flows_begun {
            capture.begin_flows(self.origin("sos_commands"))?;
            self.flows_begun = true;
        }
        let plugin_rank = DUMP_PLUGINS.iter().position(|p| *p == plugin).unwrap_or(0);
        let key = (dump.bridge.clone(), dump.kind);
        let rank: Rank = (!tailed, dump.version, std::cmp::Reverse(plugin_rank));
        if self.best.get(&key).is_some_and(|old| old.rank() >= rank) {
            return Ok(());
        }
        if let Some(old) = self.best.remove(&key) {
            capture.discard_flow_file(&old.relative)?;
        }
        let relative = PathBuf::from(format!("sos.{plugin}")).join(name);
        let mut counted = Counted::new(SkipFirstLine { inner: reader, skipping: tailed });
        capture.stage_flow_file(&relative, &mut counted, self.origin(&member))?;
        let tailed = tailed.then_some(counted.count);
        let candidate = Candidate { relative, member, version: dump.version, tailed, plugin_rank };
        self.best.insert(key, candidate);
        Ok(())
    }

    fn database(
        &mut self,
        capture: &mut CaptureWriter<'_>,
        kind: DbKind,
        path: &str,
        input: &mut dyn Read,
    ) -> Result<(), CollectError> {
        if !self.part.wants_db(kind) {
            return Ok(());
        }
        self.dbs_seen.insert(kind);
        if self.dbs.contains_key(&kind) {
            let mut hashing = Hashing::<_, Sha256>::new(input);
            io::copy(&mut hashing, &mut io::sink()).map_err(|e| self.read_error(e))?;
            self.db_copies.push((kind, path.to_string(), hex(hashing.digest.finalize())));
            return Ok(());
        }
        let name = path.rsplit('/').next().unwrap_or_default();
        let mut scan = NorthdScan { inner: input, window: Vec::new(), found: None };
        let staged = capture.stage_db(kind, &mut scan, name, self.origin(path));
        if kind != DbKind::Ovs {
            self.source.merge(SourceSystem { ovn_version: scan.found, ..SourceSystem::default() });
        }
        match staged {
            Ok(mut db) => {
                let mut layout = if db.clustered { "clustered" } else { "standalone" }.to_string();
                if let Some(obfuscated) = db.obfuscated {
                    layout.push_str(", OBFUSCATED");
                    let note = obfuscated_note(obfuscated);
                    capture.note_db(kind, &note);
                    db.notes.push(note);
                }
                self.items.push(format!(
                    "{} {} ({layout}) from member {}",
                    quote::note(&db.schema),
                    quote::note(&db.version),
                    quote::shell(path)
                ));
                for n in &db.notes {
                    self.notes.push(format!("{}: {n}", quote::shell(path)));
                }
                self.dbs.insert(kind, (path.to_string(), db.sha256));
            }
            Err(
                e @ (CaptureError::BrokenRecord { .. }
                | CaptureError::Db { .. }
                | CaptureError::OtherDb { .. }
                | CaptureError::NotADb { .. }),
            ) => {
                self.notes.push(format!("{} database not collected: {e}", kind.schema_name()));
            }
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }

    /// A link is never followed: a link at a database's or a dump's name
    /// is named, but for sos's own links to the cut copies in
    /// `sos_strings/` (read under their own names).
    fn symlink(&mut self, path: &str, target: &Path) {
        let wanted = match db_location(path) {
            Some(kind) => self.part.wants_db(kind),
            None => is_dump_member(path) && self.part.wants_flows(),
        };
        if !wanted {
            return;
        }
        match resolve_inside(path, target).as_deref() {
            Some(t) if t.starts_with("sos_strings/") => {}
            Some(t) => self.notes.push(format!(
                "{} is a link to {} in the report; not followed (the file itself is read where it is)",
                quote::shell(path),
                quote::shell(t)
            )),
            None => self.notes.push(format!(
                "{} is a link out of the report ({}); not followed",
                quote::shell(path),
                quote::path(target)
            )),
        }
    }

    fn read_manifest(&mut self, text: &str) {
        let Some(facts) = parse_manifest(text) else {
            self.notes
                .push("sos_reports/manifest.json is unreadable; truncation is known from sos_strings/ only".into());
            return;
        };
        self.source.merge(SourceSystem { sos_version: facts.version, ..SourceSystem::default() });
        self.truncated.extend(facts.truncated);
        self.timed_out.extend(facts.timed_out);
    }

    /// Names, for each plugin that hit its time limit, the commands a
    /// replica needs that are missing from the report (the plugin lost the
    /// commands it had not run yet; database files are copied before).
    fn note_timeouts(&mut self) {
        for plugin in std::mem::take(&mut self.timed_out) {
            let missing = if DUMP_PLUGINS.contains(&plugin.as_str()) { self.missing_commands() } else { Vec::new() };
            let what = if missing.is_empty() {
                "the commands it had not run yet are missing from the report".to_string()
            } else {
                format!("missing from the report: {}", missing.join(", "))
            };
            self.notes.push(format!("sos's {} plugin hit its time limit: {what}", quote::shell(&plugin)));
        }
    }

    /// `ovs-vsctl list-br` when the report lacks it, else `ovs-ofctl
    /// dump-flows <bridge>` for each listed bridge without a flow dump.
    fn missing_commands(&self) -> Vec<String> {
        if self.bridges_listed.is_empty() {
            return vec!["ovs-vsctl list-br (so the bridges without dumps are unknown)".into()];
        }
        self.bridges_listed
            .iter()
            .filter(|b| !self.best.contains_key(&(sos_mangled_bridge(b), DumpKind::Flows)))
            .map(|b| format!("ovs-ofctl dump-flows {}", quote::shell(b)))
            .collect()
    }

    /// Says why an OpenShift node's report has no OVN database, when sos
    /// skipped its `openshift_ovn` plugin.
    fn note_skipped_openshift_ovn(&mut self) {
        let no_ovn_db = !self.dbs_seen.contains(&DbKind::OvnNb) && !self.dbs_seen.contains(&DbKind::OvnSb);
        let old_sos = self
            .source
            .sos_version
            .as_deref()
            .is_none_or(|v| schema::compare_versions(v, OPENSHIFT_OVN_ON_CRIO) == std::cmp::Ordering::Less);
        let OpenShiftSigns { ovnkube_on_crio, openshift_ovn_ran } = self.openshift;
        if self.part.wants_db(DbKind::OvnNb) && no_ovn_db && ovnkube_on_crio && !openshift_ovn_ran && old_sos {
            self.notes.push(format!(
                "an OpenShift node (ovnkube containers in sos_commands/crio/) without OVN databases in the report: \
                 sos < {OPENSHIFT_OVN_ON_CRIO} skips openshift_ovn on crio nodes: re-run with `-e openshift_ovn`"
            ));
        }
    }

    fn read_error(&self, error: io::Error) -> CollectError {
        CollectError::Read { path: self.archive.to_path_buf(), source: error }
    }

    /// Keeps the best dump per bridge and kind, names what is missing.
    fn finish(mut self, capture: &mut CaptureWriter<'_>) -> Result<SosCollected, CollectError> {
        for (kind, member, sha) in std::mem::take(&mut self.db_copies) {
            let (taken, taken_sha) = &self.dbs[&kind];
            let same = if *taken_sha == sha { "the same content" } else { "different content; not used" };
            self.notes.push(format!(
                "{} also holds {} ({same}); took {}",
                quote::shell(&member),
                kind.schema_name(),
                quote::shell(taken)
            ));
        }
        if self.part.wants_db(DbKind::Ovs) && !self.dbs_seen.contains(&DbKind::Ovs) {
            let why = match self.list_dump.take() {
                Some(StoredText::Complete(dump)) => self.rebuild_ovs_db(capture, &dump)?,
                Some(StoredText::Cut) => Some(format!("{LIST_DUMP} is cut (sos --log-size); {SOS_ADVICE}")),
                Some(StoredText::TooLarge) => Some(format!("{LIST_DUMP} holds more than {MAX_META_BYTES} bytes")),
                None => None,
            };
            if let Some(why) = why {
                self.not_rebuilt(DbKind::Ovs, why);
            }
        }
        for kind in [DbKind::OvnNb, DbKind::OvnSb] {
            if self.part.wants_db(kind) && !self.dbs_seen.contains(&kind) {
                self.rebuild_ovn_db(capture, kind)?;
            }
        }
        for kind in DbKind::ALL {
            if self.part.wants_db(kind) && !self.dbs_seen.contains(&kind) {
                let what = match kind {
                    DbKind::Ovs => "no conf.db in the report, nor sos_commands/openvswitch/ovsdb-client_-f_list_dump to rebuild it from; collect the OVS database with collect-db-ovs",
                    DbKind::OvnNb => "no OVN_Northbound database (ovnnb_db.db) in the report",
                    DbKind::OvnSb => "no OVN_Southbound database (ovnsb_db.db) in the report",
                };
                if kind == DbKind::Ovs || self.part != SosPart::All || self.dbs.keys().any(|k| *k != DbKind::Ovs) {
                    self.notes.push(what.to_string());
                }
            }
        }
        self.note_skipped_openshift_ovn();
        self.note_timeouts();
        let mut bridges = Vec::new();
        if self.flows_begun {
            bridges = self.summarise_flows(capture)?;
        } else if self.part.wants_flows() {
            self.notes.push(
                "no OpenFlow dumps (sos_commands/openvswitch/ovs-ofctl_…dump-flows_<bridge>) in the report".into(),
            );
        }
        for n in &self.notes {
            capture.note(n.clone());
        }
        capture.source_system(self.source.clone());
        let notes = self.notes.iter().map(|n| quote::note(n)).collect();
        Ok(SosCollected {
            archive: self.archive.to_path_buf(),
            items: self.items,
            bridges,
            notes,
            source: self.source,
            not_rebuilt: self.not_rebuilt.iter().map(|n| quote::note(n)).collect(),
        })
    }

    /// Rebuilds the OVS database of a report without `conf.db` from
    /// [`LIST_DUMP`] against the local schema, and stages it as `conf.db`,
    /// noted as rebuilt; `Some(why)` when it cannot.
    fn rebuild_ovs_db(&mut self, capture: &mut CaptureWriter<'_>, dump: &str) -> Result<Option<String>, CollectError> {
        let rebuilt = schema::installed(DbKind::Ovs)
            .ok_or_else(|| "no local vswitch.ovsschema (is Open vSwitch installed?)".to_string())
            .and_then(|(path, _)| fs::read(&path).map_err(|e| format!("cannot read {}: {e}", quote::path(&path))))
            .and_then(|schema| {
                let comment = format!("ovs-offline: rebuilt from {LIST_DUMP}");
                rebuild::rebuild(dump, &schema, &comment, now_ms()).map_err(|e| format!("{LIST_DUMP}: {e}"))
            });
        let rebuilt = match rebuilt {
            Ok(rebuilt) => rebuilt,
            Err(why) => return Ok(Some(why)),
        };
        let note = format!("no conf.db in the report; rebuilt from {LIST_DUMP} {}", rebuilt.summary());
        self.stage_rebuilt(capture, DbKind::Ovs, &rebuilt.file, LIST_DUMP, note)?;
        Ok(None)
    }

    /// Stages `file`, a database of `kind` rebuilt from the text of
    /// `member` (and others the note names), noted as rebuilt.
    fn stage_rebuilt(
        &mut self,
        capture: &mut CaptureWriter<'_>,
        kind: DbKind,
        file: &[u8],
        member: &str,
        note: String,
    ) -> Result<(), CollectError> {
        let db = capture.stage_db(kind, file, kind.file_name(), self.origin(member))?;
        capture.rebuilt_db(kind, &note);
        self.items.push(format!(
            "{} {} (standalone, REBUILT) from member {}",
            quote::note(&db.schema),
            quote::note(&db.version),
            quote::shell(member)
        ));
        self.notes.push(note);
        self.dbs_seen.insert(kind);
        self.dbs.insert(kind, (member.to_string(), db.sha256));
        Ok(())
    }

    /// Names the database of `kind` the report has no file of and whose
    /// text cannot be rebuilt from, and why.
    fn not_rebuilt(&mut self, kind: DbKind, why: String) {
        let name = if kind == DbKind::Ovs { "OVS" } else { kind.schema_name() };
        self.dbs_seen.insert(kind);
        self.notes.push(format!(
            "no {} in the report, and its {name} database cannot be rebuilt: {why}; collect it with {}",
            kind.file_name(),
            kind.collect_command()
        ));
        self.not_rebuilt.push(format!("{name}: {why}"));
    }

    /// Keeps the text of `ovn_central`'s file `name` (at `path`) for
    /// rebuilding its database, unless sos cut it.
    fn ovn_text(&mut self, path: &str, name: &str, input: &mut dyn Read) -> Result<(), CollectError> {
        let Some((kind, command)) = ovn_text::sos_command(name) else { return Ok(()) };
        match StoredText::read(self, path, input)? {
            StoredText::Complete(text) => {
                if command == ovn_text::OvnCommand::List(kind_global(kind).to_string()) {
                    self.source.merge(SourceSystem {
                        ovn_version: versions::northd(text.as_bytes()),
                        ..SourceSystem::default()
                    });
                }
                let text = ovn_text::Text { member: path.to_string(), text };
                self.ovn_texts.entry(kind).or_default().add(command, text);
            }
            StoredText::Cut | StoredText::TooLarge => {
                self.ovn_texts_unusable.entry(kind).or_default().push(path.to_string());
            }
        }
        Ok(())
    }

    /// Rebuilds the OVN database `kind` of a report without its file from
    /// the text `ovn_central` keeps of it, against the local schema.
    fn rebuild_ovn_db(&mut self, capture: &mut CaptureWriter<'_>, kind: DbKind) -> Result<(), CollectError> {
        let texts = self.ovn_texts.entry(kind).or_default();
        // Marked truncated in a manifest read after the member.
        let truncated = &self.truncated;
        let mut unusable = self.ovn_texts_unusable.remove(&kind).unwrap_or_default();
        for slot in [&mut texts.show, &mut texts.lflows] {
            if let Some(text) = slot.take_if(|t| truncated.contains(&t.member)) {
                unusable.push(text.member);
            }
        }
        let cut_lists: Vec<String> =
            texts.lists.iter().filter(|(_, t)| truncated.contains(&t.member)).map(|(table, _)| table.clone()).collect();
        for table in cut_lists {
            unusable.extend(texts.lists.remove(&table).map(|t| t.member));
        }
        let cut: Vec<String> = unusable.iter().map(|m| quote::shell(m)).collect();
        if texts.is_empty() {
            if !cut.is_empty() {
                self.not_rebuilt(kind, format!("{} cut (sos --log-size); {SOS_ADVICE}", cut.join(", ")));
            }
            return Ok(());
        }
        let empty = OvnTexts::default();
        let texts = self.ovn_texts.get(&kind).unwrap_or(&empty);
        let nb = self.ovn_texts.get(&DbKind::OvnNb).unwrap_or(&empty);
        let comment = format!("ovs-offline: rebuilt from sos_commands/ovn_central text ({})", kind.schema_name());
        let rebuilt = schema::installed(kind)
            .ok_or_else(|| format!("no local {} (is OVN installed?)", kind.schema_file()))
            .and_then(|(path, _)| fs::read(&path).map_err(|e| format!("cannot read {}: {e}", quote::path(&path))))
            .and_then(|schema| {
                ovn_text::rebuild(kind, texts, nb, &schema, &comment, now_ms()).map_err(|e| e.to_string())
            });
        let member = texts.show.as_ref().or(texts.lflows.as_ref()).or(texts.lists.values().next());
        let member = member.map_or("sos_commands/ovn_central".to_string(), |t| t.member.clone());
        let rebuilt = match rebuilt {
            Ok(rebuilt) => rebuilt,
            Err(why) => {
                self.not_rebuilt(kind, why);
                return Ok(());
            }
        };
        let mut note = format!("no {} in the report; {}", kind.file_name(), rebuilt.summary());
        if !cut.is_empty() {
            note.push_str(&format!("; not read (cut by sos): {}", cut.join(", ")));
        }
        self.stage_rebuilt(capture, kind, &rebuilt.rebuilt.file, &member, note)
    }

    fn summarise_flows(
        &mut self,
        capture: &mut CaptureWriter<'_>,
    ) -> Result<Vec<super::flows::BridgeSummary>, CollectError> {
        let plan = captured::discover(&capture.staged_flows_dir(), &self.bridges_listed)
            .map_err(|error| CollectError::Flows { path: self.archive.to_path_buf(), source: error })?;
        let mut summaries = Vec::new();
        for dumps in plan.bridges.values() {
            let mut summary = super::flows::summarise(dumps)?;
            let bridge = quote::shell(&dumps.bridge);
            for (what, dump) in [
                ("flows", &dumps.flows),
                ("groups", &dumps.groups),
                ("meters", &dumps.meters),
                ("TLV map", &dumps.tlv_dump),
                ("MAC table", &dumps.fdb),
            ] {
                let Some(dump) = dump else { continue };
                let Some(c) = self.best.values().find(|c| dump.path.ends_with(&c.relative)) else { continue };
                summary.members.push(format!("{what} from {}", quote::shell(&c.member)));
                let member = quote::shell(&c.member);
                let note = match c.tailed {
                    Some(kept) => format!(
                        "{bridge}: the report kept only the last {kept} bytes of {member} (sos --log-size); the first {what} are missing; {SOS_ADVICE}"
                    ),
                    // Marked in a manifest that came after the member.
                    None if self.truncated.contains(&c.member) => format!(
                        "{bridge}: sos marked {member} truncated (sos --log-size); the first {what} are missing and its first line may be cut; {SOS_ADVICE}"
                    ),
                    None => continue,
                };
                capture.flows_incomplete(&dumps.bridge, &note);
                self.notes.push(note);
            }
            summaries.push(summary);
        }
        for n in &plan.notes {
            self.notes.push(n.clone());
        }
        Ok(summaries)
    }
}

/// The member's path inside the report, or `None` when it is not a
/// plain relative path (absolute, `..`): such members are never read.
/// The report's top directory (`sosreport-…/`, any name) is dropped:
/// a first component that is not one of a report's own is taken for it,
/// whatever order the archive lists its members in.
fn report_path(raw: &Path) -> Option<String> {
    let mut parts = Vec::new();
    for c in raw.components() {
        match c {
            Component::Normal(p) => parts.push(p.to_str()?),
            Component::CurDir => {}
            _ => return None,
        }
    }
    if parts.len() > 1 && !REPORT_ROOTS.contains(&parts[0]) {
        parts.remove(0);
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// `Some(kind)` when `path` is a database file at one of sos's locations.
fn db_location(path: &str) -> Option<DbKind> {
    let (dir, file) = path.rsplit_once('/')?;
    DB_DIRS.contains(&dir).then_some(())?;
    db_kind(file)
}

/// True when `path` is a per-bridge dump of a plugin that holds them.
fn is_dump_member(path: &str) -> bool {
    let Some((plugin, name)) = path.strip_prefix("sos_commands/").and_then(|p| p.split_once('/')) else {
        return false;
    };
    DUMP_PLUGINS.contains(&plugin) && parse_sos_dump_name(name).is_some()
}

/// The target of the link at `path` as a path inside the report, or `None`
/// when it leads out of it (absolute, or too many `..`).
fn resolve_inside(path: &str, target: &Path) -> Option<String> {
    let mut parts: Vec<&str> = path.split('/').collect();
    parts.pop();
    for c in target.components() {
        match c {
            Component::Normal(p) => parts.push(p.to_str()?),
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(parts.join("/"))
}

/// The table whose options hold `northd_internal_version`.
fn kind_global(kind: DbKind) -> &'static str {
    match kind {
        DbKind::OvnSb => "SB_Global",
        _ => "NB_Global",
    }
}

/// Now, in milliseconds since the epoch (an OVSDB record's `_date`).
fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// A small member as text (at most [`MAX_META_BYTES`], the rest skipped).
fn read_meta(input: &mut dyn Read) -> io::Result<String> {
    let mut bytes = Vec::new();
    input.take(MAX_META_BYTES).read_to_end(&mut bytes)?;
    io::copy(input, &mut io::sink())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// `version.txt`: `sos report: 4.12.0` (or `sosreport: 4.0`).
pub(crate) fn sos_version_txt(text: &str) -> Option<String> {
    let line = text.lines().find(|l| l.starts_with("sos"))?;
    let version = line.split_once(':')?.1.trim();
    (!version.is_empty()).then(|| quote::note(version))
}

/// What `sos_reports/manifest.json` says that a collect needs.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ManifestFacts {
    pub version: Option<String>,
    /// Paths (in the report) of command output sos marked truncated, both
    /// the `.tailed` file and the command's own path.
    pub truncated: Vec<String>,
    /// Plugins that hit their time limit.
    pub timed_out: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
struct SosManifest {
    version: Option<String>,
    #[serde(default)]
    components: Components,
}

#[derive(Debug, Default, Deserialize)]
struct Components {
    #[serde(default)]
    report: Option<ReportComponent>,
}

#[derive(Debug, Default, Deserialize)]
struct ReportComponent {
    #[serde(default)]
    plugins: BTreeMap<String, PluginRun>,
}

#[derive(Debug, Default, Deserialize)]
struct PluginRun {
    #[serde(default)]
    timeout_hit: bool,
    #[serde(default)]
    commands: Vec<CommandRun>,
}

#[derive(Debug, Default, Deserialize)]
struct CommandRun {
    #[serde(default)]
    filepath: Option<String>,
    #[serde(default)]
    truncated: bool,
}

fn manifest_facts(manifest: &SosManifest) -> ManifestFacts {
    let mut facts = ManifestFacts { version: manifest.version.as_deref().map(quote::note), ..ManifestFacts::default() };
    let Some(report) = &manifest.components.report else { return facts };
    for (name, plugin) in &report.plugins {
        if plugin.timeout_hit {
            facts.timed_out.push(name.clone());
        }
        for command in plugin.commands.iter().filter(|c| c.truncated) {
            let Some(path) = &command.filepath else { continue };
            facts.truncated.push(path.clone());
            // sos records the .tailed file; the command's own path is the link.
            if let Some(name) = path.strip_prefix("sos_strings/").and_then(|p| p.strip_suffix(".tailed")) {
                if let Some((plugin, name)) = name.split_once('/') {
                    facts.truncated.push(format!("sos_commands/{plugin}/{name}"));
                }
            }
        }
    }
    facts
}

/// Parses `sos_reports/manifest.json` (fuzzing entry point).
pub(crate) fn parse_manifest(text: &str) -> Option<ManifestFacts> {
    serde_json::from_str::<SosManifest>(text).ok().map(|m| manifest_facts(&m))
}

/// `ovs-vsctl list Open_vSwitch`: `ovs_version` and the `hostname` external id.
pub(crate) fn open_vswitch_row(text: &str) -> SourceSystem {
    let mut source = SourceSystem::default();
    for line in text.lines() {
        let Some((column, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        match column.trim() {
            "ovs_version" => source.ovs_version = unquoted(value).map(quote::note),
            "external_ids" => {
                source.hostname = value
                    .trim_matches(|c| c == '{' || c == '}')
                    .split(", ")
                    .find_map(|kv| kv.strip_prefix("hostname="))
                    .and_then(unquoted)
                    .map(quote::note);
            }
            _ => {}
        }
    }
    source
}

fn unquoted(value: &str) -> Option<&str> {
    let value = value.trim_matches('"');
    (!value.is_empty() && value != "[]").then_some(value)
}

/// Only files a collect may read are opened in a directory (logs are not).
fn wanted_on_disk(relative: &Path) -> bool {
    let text = relative.to_string_lossy();
    let name = text.rsplit('/').next().unwrap_or_default();
    text.contains("sos_commands/")
        || text.contains("sos_strings/")
        || text.ends_with("sos_reports/manifest.json")
        || name == "version.txt"
        || name == "hostname"
        || db_kind(name).is_some()
}

/// Passes a database file through, keeping the OVN version of the last
/// `northd_internal_version` it holds (NB_Global/SB_Global options).
struct NorthdScan<R> {
    inner: R,
    /// The bytes read lately: a key and its value may span two reads.
    window: Vec<u8>,
    found: Option<String>,
}

impl<R: Read> Read for NorthdScan<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        /// The key, its value and some slack.
        const KEEP: usize = 128;
        let n = self.inner.read(buf)?;
        self.window.extend_from_slice(&buf[..n]);
        if let Some(version) = versions::northd(&self.window) {
            self.found = Some(version);
        }
        let drop = self.window.len().saturating_sub(KEEP);
        self.window.drain(..drop);
        Ok(n)
    }
}

/// Drops everything up to and including the first newline when `skipping`
/// (a dump cut mid-line).
struct SkipFirstLine<R> {
    inner: R,
    skipping: bool,
}

impl<R: BufRead> Read for SkipFirstLine<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.skipping {
            let chunk = self.inner.fill_buf()?;
            if chunk.is_empty() {
                return Ok(0);
            }
            match chunk.iter().position(|b| *b == b'\n') {
                Some(i) => {
                    self.inner.consume(i + 1);
                    self.skipping = false;
                }
                None => {
                    let len = chunk.len();
                    self.inner.consume(len);
                }
            }
        }
        self.inner.read(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_manifest() {
        assert_eq!(sos_version_txt("sos report: 4.12.0").as_deref(), Some("4.12.0"));
        assert_eq!(sos_version_txt("sosreport: 4.0\n").as_deref(), Some("4.0"));
        let row = open_vswitch_row(
            "external_ids        : {hostname=prod-node-1, system-id=x}\novs_version         : \"3.1.0\"\n",
        );
        assert_eq!((row.hostname.as_deref(), row.ovs_version.as_deref()), (Some("prod-node-1"), Some("3.1.0")));
        let facts = parse_manifest(
            r#"{"version":"4.12.0","components":{"report":{"plugins":{"openvswitch":{"timeout_hit":true,"commands":[
            {"filepath":"sos_strings/openvswitch/ovs-ofctl_dump-flows_br-int.tailed","truncated":true},
            {"filepath":"sos_commands/openvswitch/x","truncated":false}]}}}}}"#,
        )
        .unwrap();
        assert_eq!(facts.version.as_deref(), Some("4.12.0"));
        assert_eq!(facts.timed_out, ["openvswitch"]);
        assert!(facts.truncated.contains(&"sos_commands/openvswitch/ovs-ofctl_dump-flows_br-int".to_string()));
    }

    #[test]
    fn members_are_found_below_any_top_directory() {
        let path = |p: &str| report_path(Path::new(p));
        assert_eq!(path("sosreport-x/etc/openvswitch/conf.db").as_deref(), Some("etc/openvswitch/conf.db"));
        assert_eq!(path("etc/openvswitch/conf.db").as_deref(), Some("etc/openvswitch/conf.db"));
        assert_eq!(path("./x/sos_commands/a").as_deref(), Some("sos_commands/a"));
        assert_eq!(path("version.txt").as_deref(), Some("version.txt"));
        assert_eq!(path("x/../../etc/passwd"), None);
        assert_eq!(path("/etc/openvswitch/conf.db"), None);
    }

    #[test]
    fn links_resolve_only_inside_the_report() {
        let p = Path::new;
        assert_eq!(
            resolve_inside("etc/openvswitch/conf.db", p("../../var/lib/openvswitch/conf.db")).as_deref(),
            Some("var/lib/openvswitch/conf.db")
        );
        assert_eq!(resolve_inside("etc/conf.db", p("../../../etc/shadow")), None);
        assert_eq!(resolve_inside("etc/conf.db", p("/etc/shadow")), None);
    }

    #[test]
    fn a_cut_dump_loses_its_partial_first_line() {
        let mut out = String::new();
        SkipFirstLine { inner: &b"ions=drop\npriority=1 actions=drop\n"[..], skipping: true }
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "priority=1 actions=drop\n");
    }
}
