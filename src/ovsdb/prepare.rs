//! Turns a collected database into the working copy a replica serves,
//! never touching the original: torn tails are cut, clustered files made
//! standalone, old schemas upgraded, and (OVS DB only) interfaces the dummy
//! datapath cannot open become `dummy` and bridges with a controller stop
//! failing open.

use super::file::{self, DbFileError, Format};
use super::{client, schema};
use crate::capture::DbKind;
use crate::state::PreparedDb;
use crate::tools::{self, ToolError};
use crate::workdir::{remove_file_if_exists, IoContext, Workdir, WorkdirError};
use serde_json::{json, Value};
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error(transparent)]
    Workdir(#[from] WorkdirError),
    #[error("{} {source}", path.display())]
    Inspect {
        path: PathBuf,
        #[source]
        source: DbFileError,
    },
    #[error("cannot convert clustered {} to standalone", path.display())]
    Standalone {
        path: PathBuf,
        #[source]
        source: ToolError,
    },
    #[error("cannot upgrade {} from schema {from} to {to}", path.display())]
    Upgrade {
        path: PathBuf,
        from: String,
        to: String,
        #[source]
        source: ToolError,
    },
    #[error("cannot read {}", path.display())]
    Query {
        path: PathBuf,
        #[source]
        source: ToolError,
    },
    #[error("cannot update {}", path.display())]
    Transact {
        path: PathBuf,
        #[source]
        source: ToolError,
    },
    #[error("ovsdb-tool returned invalid JSON for {}", path.display())]
    Reply {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot update {}: {error}", path.display())]
    Refused { path: PathBuf, error: Value },
}

type Result<T, E = PrepareError> = std::result::Result<T, E>;

/// Interface types ovs-vswitchd's dummy datapath replaces or handles itself;
/// anything else (dpdk, dpdkvhostuser*, afxdp*, unknown types) is rewritten.
const DUMMY_SAFE_TYPES: &[&str] = &[
    "",
    "system",
    "internal",
    "tap",
    "patch",
    "geneve",
    "gre",
    "vxlan",
    "lisp",
    "stt",
    "erspan",
    "ip6erspan",
    "ip6gre",
    "gtpu",
    "bareudp",
    "srv6",
    "dummy",
    "dummy-internal",
    "dummy-pmd",
];

/// Prepares the working copy of one collected database, for the schemas in
/// `schema_dir` (an `--ovs-root`'s) or else the locally installed ones.
pub fn prepare(workdir: &Workdir, kind: DbKind, collected_file: &str, schema_dir: Option<&Path>) -> Result<PreparedDb> {
    let source = workdir.collected_db(kind, collected_file);
    let target = workdir.replica_db(kind);
    remove_file_if_exists(&target)?;
    let info = standalone_copy(&source, &target, &workdir.replica_clustered_db(kind))?;
    let mut changes = Vec::new();
    if info.torn_bytes() > 0 {
        changes.push(format!(
            "dropped an incomplete last record ({} bytes; the file was copied while being written)",
            info.torn_bytes()
        ));
    }
    if info.format == Format::Clustered {
        changes.push("converted from a clustered (RAFT) database to standalone".into());
    }
    let served_version = upgrade_schema(kind, schema_dir, &target, &info.version, &mut changes)?;
    let mut replaced_types = BTreeMap::new();
    if kind == DbKind::Ovs {
        changes.extend(make_vswitchd_safe(&target, &mut replaced_types)?);
    }
    Ok(PreparedDb {
        kind,
        schema: info.schema,
        collected_version: info.version,
        served_version,
        socket: workdir.db_socket(kind),
        changes,
        replaced_types,
    })
}

/// Copies `source` to a new standalone file `target` that `ovsdb-tool`
/// and `ovsdb-server` read whole: without a torn last record, and a
/// clustered file converted (through `scratch`, removed after). Returns
/// what `source` is.
pub(crate) fn standalone_copy(source: &Path, target: &Path, scratch: &Path) -> Result<file::DbFileInfo> {
    let inspect = |source: &Path| {
        let file = File::open(source).map_err(DbFileError::from)?;
        file::inspect(BufReader::new(file))
    };
    let info = inspect(source).map_err(|e| PrepareError::Inspect { path: source.to_path_buf(), source: e })?;
    match info.format {
        Format::Standalone => copy_prefix(source, target, info.complete_len)?,
        Format::Clustered => {
            copy_prefix(source, scratch, info.complete_len)?;
            let converted =
                tools::run("ovsdb-tool", [os("cluster-to-standalone"), target.as_os_str(), scratch.as_os_str()]);
            fs::remove_file(scratch).ok();
            converted.map_err(|e| PrepareError::Standalone { path: source.to_path_buf(), source: e })?;
        }
    }
    Ok(info)
}

/// Upgrades an older schema to the installed one (or `schema_dir`'s); a
/// newer one is served as is. Returns the version served.
fn upgrade_schema(
    kind: DbKind,
    schema_dir: Option<&Path>,
    db: &Path,
    version: &str,
    changes: &mut Vec<String>,
) -> Result<String> {
    let whose = if schema_dir.is_some() { "--ovs-root's" } else { "local" };
    let schema = match schema_dir {
        Some(dir) => schema::in_dir(dir, kind),
        None => schema::installed(kind),
    };
    let Some((schema_path, local)) = schema else {
        changes.push(format!("no {whose} {} found; schema {version} served as is", kind.schema_file()));
        return Ok(version.to_string());
    };
    match schema::compare_versions(version, &local) {
        Ordering::Equal => Ok(version.to_string()),
        Ordering::Greater => {
            changes.push(format!(
                "schema {version} is newer than the {whose} {local}; served as is (local clients may warn about unknown columns)"
            ));
            Ok(version.to_string())
        }
        Ordering::Less => {
            tools::run("ovsdb-tool", [os("convert"), db.as_os_str(), schema_path.as_os_str()]).map_err(|source| {
                PrepareError::Upgrade { path: db.to_path_buf(), from: version.to_string(), to: local.clone(), source }
            })?;
            changes.push(format!("upgraded schema {version} to the {whose} {local}"));
            Ok(local)
        }
    }
}

/// Rewrites interfaces the dummy datapath cannot open to `type=dummy`,
/// drops `other_config:dpdk-init`, and makes bridges with a controller
/// `fail_mode=secure`: their controller is unreachable offline, and in
/// standalone mode vswitchd would "fail open" after the probe interval,
/// adding a hidden NORMAL flow that changes every trace. Returns one line
/// per change; records each interface's replaced type in `replaced`.
fn make_vswitchd_safe(db: &Path, replaced: &mut BTreeMap<String, String>) -> Result<Vec<String>> {
    // One read for the three tables: each ovsdb-tool run costs 10-35 ms of
    // the replica's start.
    let [interfaces, ovs, bridges] = query(
        db,
        [
            json!({"op": "select", "table": "Interface", "where": [], "columns": ["_uuid", "name", "type"]}),
            json!({"op": "select", "table": "Open_vSwitch", "where": [], "columns": ["other_config"]}),
            json!({"op": "select", "table": "Bridge", "where": [], "columns": ["_uuid", "name", "controller", "fail_mode"]}),
        ],
    )?;
    let mut ops = Vec::new();
    let mut changes = Vec::new();
    for row in interfaces {
        let kind = row["type"].as_str().unwrap_or_default();
        if DUMMY_SAFE_TYPES.contains(&kind) {
            continue;
        }
        let name = row["name"].as_str().unwrap_or_default();
        changes.push(format!("interface {name}: type {kind} replaced by dummy"));
        replaced.insert(name.to_string(), kind.to_string());
        ops.push(json!({"op": "update", "table": "Interface", "where": [["_uuid", "==", row["_uuid"]]], "row": {"type": "dummy"}}));
    }
    if ovs.iter().any(|row| map_has_key(&row["other_config"], "dpdk-init")) {
        changes.push("other_config:dpdk-init removed (DPDK is not initialised in a replica)".into());
        ops.push(json!({"op": "mutate", "table": "Open_vSwitch", "where": [],
                        "mutations": [["other_config", "delete", ["set", ["dpdk-init"]]]]}));
    }
    for row in bridges {
        let fail_mode = row["fail_mode"].as_str().unwrap_or("standalone");
        if client::set_elements(&row["controller"]).is_empty() || fail_mode == "secure" {
            continue;
        }
        let name = row["name"].as_str().unwrap_or_default();
        changes.push(format!(
            "bridge {name}: fail_mode secure (was {fail_mode}): its controller is unreachable offline, and {fail_mode} \
             would fail open (a hidden NORMAL flow) after the probe interval"
        ));
        ops.push(json!({"op": "update", "table": "Bridge", "where": [["_uuid", "==", row["_uuid"]]], "row": {"fail_mode": "secure"}}));
    }
    if !ops.is_empty() {
        transact(db, ops)?;
    }
    Ok(changes)
}

fn map_has_key(map: &Value, key: &str) -> bool {
    map.get(1).and_then(Value::as_array).is_some_and(|pairs| pairs.iter().any(|p| p[0] == key))
}

/// The rows each select of `ops` found, in one read-only transaction.
fn query<const N: usize>(db: &Path, ops: [Value; N]) -> Result<[Vec<Value>; N]> {
    let mut txn = vec![json!("Open_vSwitch")];
    txn.extend(ops);
    let out = tools::run("ovsdb-tool", [os("query"), db.as_os_str(), os(&Value::Array(txn).to_string())])
        .map_err(|source| PrepareError::Query { path: db.to_path_buf(), source })?;
    let reply = parse_reply(db, &out)?;
    Ok(std::array::from_fn(|i| reply[i]["rows"].as_array().cloned().unwrap_or_default()))
}

fn transact(db: &Path, ops: Vec<Value>) -> Result<()> {
    let mut txn = vec![json!("Open_vSwitch")];
    txn.extend(ops);
    let out = tools::run("ovsdb-tool", [os("transact"), db.as_os_str(), os(&Value::Array(txn).to_string())])
        .map_err(|source| PrepareError::Transact { path: db.to_path_buf(), source })?;
    let reply = parse_reply(db, &out)?;
    if let Some(error) = reply.as_array().into_iter().flatten().find_map(|r| r.get("error")) {
        return Err(PrepareError::Refused { path: db.to_path_buf(), error: error.clone() });
    }
    Ok(())
}

fn parse_reply(db: &Path, out: &str) -> Result<Value> {
    serde_json::from_str(out).map_err(|source| PrepareError::Reply { path: db.to_path_buf(), source })
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

/// Copies the first `len` bytes of `source` to a new file `target`.
fn copy_prefix(source: &Path, target: &Path, len: u64) -> Result<()> {
    let mut input = File::open(source).at("read", source)?.take(len);
    let mut output = File::create(target).at("write", target)?;
    io::copy(&mut input, &mut output).at("copy", source)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A workdir in `dir`, ready for `start`'s preparation.
    fn workdir_in(dir: &Path) -> Workdir {
        let workdir = Workdir::new(dir).unwrap();
        workdir.create().unwrap();
        workdir.create_runtime_dirs().unwrap();
        workdir
    }

    /// A collected OVS database: a bridge with a controller, a DPDK port,
    /// dpdk-init, and a torn last record; then prepared.
    #[test]
    fn working_copy_is_made_safe_and_the_original_kept() {
        let dir = tempfile::tempdir().unwrap();
        let workdir = workdir_in(dir.path());
        let (schema, _) = schema::installed(DbKind::Ovs).expect("Open vSwitch is installed (scripts/install-deps)");
        let original = workdir.collected_db(DbKind::Ovs, "conf.db");
        tools::run("ovsdb-tool", [os("create"), original.as_os_str(), schema.as_os_str()]).unwrap();
        let txn = r#"["Open_vSwitch",
            {"op":"insert","table":"Open_vSwitch","row":{"bridges":["named-uuid","br"],
             "other_config":["map",[["dpdk-init","true"]]]}},
            {"op":"insert","table":"Bridge","uuid-name":"br","row":{"name":"br0","ports":["named-uuid","p"],
             "controller":["named-uuid","c"]}},
            {"op":"insert","table":"Controller","uuid-name":"c","row":{"target":"tcp:192.0.2.1:6653"}},
            {"op":"insert","table":"Port","uuid-name":"p","row":{"name":"dpdk0","interfaces":["named-uuid","i"]}},
            {"op":"insert","table":"Interface","uuid-name":"i","row":{"name":"dpdk0","type":"dpdk"}}]"#;
        tools::run("ovsdb-tool", [os("transact"), original.as_os_str(), os(txn)]).unwrap();
        fs::OpenOptions::new().append(true).open(&original).unwrap().write_all(b"OVSDB JSON 99 x\n{").unwrap();
        let before = fs::read(&original).unwrap();

        let prepared = prepare(&workdir, DbKind::Ovs, "conf.db", None).unwrap();
        assert_eq!(fs::read(&original).unwrap(), before, "the collected original is never modified");
        let changes = prepared.changes.join("\n");
        for expected in [
            "dropped an incomplete last record (17 bytes",
            "interface dpdk0: type dpdk replaced by dummy",
            "other_config:dpdk-init removed",
            "bridge br0: fail_mode secure (was standalone)",
        ] {
            assert!(changes.contains(expected), "{expected:?} not in:\n{changes}");
        }
        assert!(!prepared.converted());
        assert_eq!(prepared.replaced_types, BTreeMap::from([("dpdk0".to_string(), "dpdk".to_string())]));
        let copy = workdir.replica_db(DbKind::Ovs);
        let [interfaces, bridges] = query(
            &copy,
            [
                json!({"op": "select", "table": "Interface", "where": [], "columns": ["type"]}),
                json!({"op": "select", "table": "Bridge", "where": [], "columns": ["fail_mode"]}),
            ],
        )
        .unwrap();
        assert_eq!(interfaces[0]["type"], "dummy");
        assert_eq!(bridges[0]["fail_mode"], "secure");
    }

    #[test]
    fn a_damaged_file_names_itself() {
        let dir = tempfile::tempdir().unwrap();
        let workdir = workdir_in(dir.path());
        fs::write(workdir.collected_db(DbKind::OvnNb, "nb.db"), "not a database\n").unwrap();
        let err = prepare(&workdir, DbKind::OvnNb, "nb.db", None).unwrap_err();
        assert!(matches!(err, PrepareError::Inspect { source: DbFileError::NotOvsdb, .. }), "{err}");
        assert!(err.to_string().ends_with("db/ovn_nb/nb.db is not an OVSDB database file (it does not start with an \"OVSDB JSON\" or \"OVSDB CLUSTER\" header)"), "{err}");
    }
}
