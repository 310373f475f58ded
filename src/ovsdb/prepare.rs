//! Turns a collected database into the working copy a replica serves,
//! never touching the original: torn tails are cut, clustered files made
//! standalone, old schemas upgraded, and (OVS DB only) interfaces the dummy
//! datapath cannot open become `dummy` and bridges with a controller stop
//! failing open.

use super::file::{self, Format};
use super::{client, schema};
use crate::capture::DbKind;
use crate::state::PreparedDb;
use crate::tools;
use crate::workdir::{remove_file_if_exists, Workdir};
use anyhow::{Context, Result};
use serde_json::{json, Value};
use std::cmp::Ordering;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::Path;

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

/// Prepares the working copy of one collected database.
pub fn prepare(workdir: &Workdir, kind: DbKind, collected_file: &str) -> Result<PreparedDb> {
    let source = workdir.collected_db(kind, collected_file);
    let target = workdir.replica_db(kind);
    let info = file::inspect(&source).map_err(|e| anyhow::anyhow!("{} {e}", source.display()))?;
    let mut changes = Vec::new();
    remove_file_if_exists(&target)?;
    if info.torn_bytes() > 0 {
        changes.push(format!(
            "dropped an incomplete last record ({} bytes; the file was copied while being written)",
            info.torn_bytes()
        ));
    }
    match info.format {
        Format::Standalone => copy_prefix(&source, &target, info.complete_len)?,
        Format::Clustered => {
            let complete = workdir.replica_dir().join(format!("{}.clustered", kind.dir_name()));
            copy_prefix(&source, &complete, info.complete_len)?;
            tools::run("ovsdb-tool", [os("cluster-to-standalone"), target.as_os_str(), complete.as_os_str()])
                .with_context(|| format!("cannot convert clustered {} to standalone", source.display()))?;
            fs::remove_file(&complete).ok();
            changes.push("converted from a clustered (RAFT) database to standalone".into());
        }
    }
    let served_version = upgrade_schema(kind, &target, &info.version, &mut changes)?;
    if kind == DbKind::Ovs {
        changes.extend(make_vswitchd_safe(&target)?);
    }
    Ok(PreparedDb {
        kind,
        schema: info.schema,
        collected_version: info.version,
        served_version,
        socket: workdir.db_socket(kind),
        changes,
    })
}

/// Upgrades an older schema to the installed one; a newer one is served
/// as is. Returns the version served.
fn upgrade_schema(kind: DbKind, db: &Path, version: &str, changes: &mut Vec<String>) -> Result<String> {
    let Some((schema_path, local)) = schema::installed(kind) else {
        changes.push(format!("no local {} found; schema {version} served as is", kind.schema_file()));
        return Ok(version.to_string());
    };
    match schema::compare_versions(version, &local) {
        Ordering::Equal => Ok(version.to_string()),
        Ordering::Greater => {
            changes.push(format!(
                "schema {version} is newer than the local {local}; served as is (local clients may warn about unknown columns)"
            ));
            Ok(version.to_string())
        }
        Ordering::Less => {
            tools::run("ovsdb-tool", [os("convert"), db.as_os_str(), schema_path.as_os_str()])
                .with_context(|| format!("cannot upgrade {} from schema {version} to {local}", db.display()))?;
            changes.push(format!("upgraded schema {version} to the local {local}"));
            Ok(local)
        }
    }
}

/// Rewrites interfaces the dummy datapath cannot open to `type=dummy`,
/// drops `other_config:dpdk-init`, and makes bridges with a controller
/// `fail_mode=secure`: their controller is unreachable offline, and in
/// standalone mode vswitchd would "fail open" after the probe interval,
/// adding a hidden NORMAL flow that changes every trace. Returns one line
/// per change.
fn make_vswitchd_safe(db: &Path) -> Result<Vec<String>> {
    let rows =
        query(db, json!({"op": "select", "table": "Interface", "where": [], "columns": ["_uuid", "name", "type"]}))?;
    let mut ops = Vec::new();
    let mut changes = Vec::new();
    for row in rows {
        let kind = row["type"].as_str().unwrap_or_default();
        if DUMMY_SAFE_TYPES.contains(&kind) {
            continue;
        }
        let name = row["name"].as_str().unwrap_or_default();
        changes.push(format!("interface {name}: type {kind} replaced by dummy"));
        ops.push(json!({"op": "update", "table": "Interface", "where": [["_uuid", "==", row["_uuid"]]], "row": {"type": "dummy"}}));
    }
    let ovs = query(db, json!({"op": "select", "table": "Open_vSwitch", "where": [], "columns": ["other_config"]}))?;
    if ovs.iter().any(|row| map_has_key(&row["other_config"], "dpdk-init")) {
        changes.push("other_config:dpdk-init removed (DPDK is not initialised in a replica)".into());
        ops.push(json!({"op": "mutate", "table": "Open_vSwitch", "where": [],
                        "mutations": [["other_config", "delete", ["set", ["dpdk-init"]]]]}));
    }
    let bridges = query(
        db,
        json!({"op": "select", "table": "Bridge", "where": [], "columns": ["_uuid", "name", "controller", "fail_mode"]}),
    )?;
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

fn query(db: &Path, op: Value) -> Result<Vec<Value>> {
    let txn = json!(["Open_vSwitch", op]).to_string();
    let out = tools::run("ovsdb-tool", [os("query"), db.as_os_str(), os(&txn)])
        .with_context(|| format!("cannot read {}", db.display()))?;
    let reply: Value = serde_json::from_str(&out).context("ovsdb-tool query returned invalid JSON")?;
    Ok(reply[0]["rows"].as_array().cloned().unwrap_or_default())
}

fn transact(db: &Path, ops: Vec<Value>) -> Result<()> {
    let mut txn = vec![json!("Open_vSwitch")];
    txn.extend(ops);
    let out = tools::run("ovsdb-tool", [os("transact"), db.as_os_str(), os(&Value::Array(txn).to_string())])
        .with_context(|| format!("cannot update {}", db.display()))?;
    let reply: Value = serde_json::from_str(&out).context("ovsdb-tool transact returned invalid JSON")?;
    if let Some(err) = reply.as_array().into_iter().flatten().find_map(|r| r.get("error")) {
        anyhow::bail!("cannot update {}: {err}", db.display());
    }
    Ok(())
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

/// Copies the first `len` bytes of `source` to a new file `target`.
fn copy_prefix(source: &Path, target: &Path, len: u64) -> Result<()> {
    let mut input = File::open(source).with_context(|| format!("cannot read {}", source.display()))?.take(len);
    let mut output = File::create(target).with_context(|| format!("cannot write {}", target.display()))?;
    io::copy(&mut input, &mut output).with_context(|| format!("cannot copy {}", source.display()))?;
    Ok(())
}
