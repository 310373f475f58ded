//! The last state of a collected database as rows, read without a running
//! replica (by `audit` and the cluster topology): a standalone copy (torn
//! tail cut, clustered converted) in a scratch directory, queried with
//! `ovsdb-tool query` (one read-only transaction selecting every table the
//! caller needs that the file's own schema has). The collected original is
//! never touched.

use super::file::parse_header;
use super::prepare::{standalone_copy, PrepareError};
use crate::capture::{CollectedDb, DbKind};
use crate::tools::{self, ToolError};
use crate::workdir::Workdir;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// Why a collected database could not be read as rows.
#[derive(Debug, thiserror::Error)]
pub enum RowsError {
    #[error("cannot read {}", crate::quote::path(path))]
    Copy {
        path: PathBuf,
        #[source]
        source: Box<PrepareError>,
    },
    #[error("cannot read the schema of {}", crate::quote::path(path))]
    Schema {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot query {}", crate::quote::path(path))]
    Query {
        path: PathBuf,
        #[source]
        source: ToolError,
    },
    #[error("ovsdb-tool returned invalid JSON for {}", crate::quote::path(path))]
    Reply {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// One row: column name → OVSDB JSON value (RFC 7047 §5.1).
#[derive(Debug, Clone, Default)]
pub struct Row(Map<String, Value>);

/// The rows of the tables read, by table name (a table the schema lacks
/// has none).
#[derive(Debug, Default)]
pub struct Db {
    tables: HashMap<String, Vec<Row>>,
}

impl Db {
    pub fn rows(&self, table: &str) -> &[Row] {
        self.tables.get(table).map(Vec::as_slice).unwrap_or_default()
    }

    /// Builds a database from `(table, rows)` (tests).
    #[cfg(test)]
    pub fn from_rows(tables: Vec<(&str, Vec<Value>)>) -> Db {
        let tables = tables
            .into_iter()
            .map(|(t, rows)| {
                (t.to_string(), rows.into_iter().filter_map(|r| r.as_object().cloned()).map(Row).collect())
            })
            .collect();
        Db { tables }
    }
}

impl Row {
    fn get(&self, column: &str) -> Option<&Value> {
        self.0.get(column)
    }

    /// This row's UUID.
    pub fn uuid(&self) -> &str {
        self.get("_uuid").and_then(uuid_atom).unwrap_or_default()
    }

    /// A string column (empty when absent or an empty optional).
    pub fn str(&self, column: &str) -> &str {
        self.atoms(column).into_iter().find_map(Value::as_str).unwrap_or_default()
    }

    /// An integer column (`None` when absent or an empty optional).
    pub fn int(&self, column: &str) -> Option<i64> {
        self.atoms(column).into_iter().find_map(Value::as_i64)
    }

    /// The UUIDs a reference column (single or set) holds.
    pub fn refs(&self, column: &str) -> Vec<&str> {
        self.atoms(column).into_iter().filter_map(uuid_atom).collect()
    }

    /// The strings a set-of-strings column holds.
    pub fn strs(&self, column: &str) -> Vec<&str> {
        self.atoms(column).into_iter().filter_map(Value::as_str).collect()
    }

    /// The value of `key` in a map column.
    pub fn map(&self, column: &str, key: &str) -> Option<&str> {
        let pairs = self.get(column)?.get(1)?.as_array()?;
        pairs.iter().find(|p| p.get(0).and_then(Value::as_str) == Some(key)).and_then(|p| p.get(1)?.as_str())
    }

    /// The atoms of a column: a set's elements, else the value itself.
    fn atoms(&self, column: &str) -> Vec<&Value> {
        match self.get(column) {
            Some(Value::Array(pair)) if pair.first().and_then(Value::as_str) == Some("set") => {
                pair.get(1).and_then(Value::as_array).map(|a| a.iter().collect()).unwrap_or_default()
            }
            Some(value) => vec![value],
            None => vec![],
        }
    }
}

/// The UUID in `["uuid", "…"]`.
fn uuid_atom(value: &Value) -> Option<&str> {
    match value.as_array()?.as_slice() {
        [kind, uuid] if kind == "uuid" => uuid.as_str(),
        _ => None,
    }
}

/// Reads `tables` of the collected database `db` of `kind`, through a copy
/// in `scratch`.
pub fn read(
    workdir: &Workdir,
    kind: DbKind,
    db: &CollectedDb,
    scratch: &Path,
    tables: &[&str],
) -> Result<Db, RowsError> {
    let source = workdir.collected_db(kind, &db.file);
    let copy = scratch.join(format!("{}.db", kind.dir_name()));
    let clustered = scratch.join(format!("{}.clustered.db", kind.dir_name()));
    standalone_copy(&source, &copy, &clustered)
        .map_err(|e| RowsError::Copy { path: source.clone(), source: Box::new(e) })?;
    let present = schema_tables(&copy).map_err(|e| RowsError::Schema { path: source.clone(), source: e })?;
    let wanted: Vec<&str> = tables.iter().copied().filter(|t| present.iter().any(|p| p == t)).collect();
    let mut txn = vec![json!(kind.schema_name())];
    txn.extend(wanted.iter().map(|t| json!({"op": "select", "table": t, "where": []})));
    let out = tools::run(
        "ovsdb-tool",
        [std::ffi::OsStr::new("query"), copy.as_os_str(), Value::Array(txn).to_string().as_ref()],
    )
    .map_err(|e| RowsError::Query { path: source.clone(), source: e })?;
    std::fs::remove_file(&copy).ok();
    let reply: Vec<Value> =
        serde_json::from_str(&out).map_err(|e| RowsError::Reply { path: source.clone(), source: e })?;
    let mut result = Db::default();
    for (table, answer) in wanted.iter().zip(reply) {
        let rows = answer.get("rows").and_then(Value::as_array).cloned().unwrap_or_default();
        let rows = rows.into_iter().filter_map(|r| match r {
            Value::Object(map) => Some(Row(map)),
            _ => None,
        });
        result.tables.insert(table.to_string(), rows.collect());
    }
    Ok(result)
}

/// The table names of a standalone file's schema (its first record).
fn schema_tables(path: &Path) -> std::io::Result<Vec<String>> {
    let mut reader = BufReader::new(File::open(path)?);
    let mut header = Vec::new();
    reader.read_until(b'\n', &mut header)?;
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "no schema record");
    let (_, len, _) = parse_header(&header).ok_or_else(bad)?;
    let schema: Value = serde_json::from_reader(reader.take(len))?;
    Ok(schema.get("tables").and_then(Value::as_object).map(|t| t.keys().cloned().collect()).unwrap_or_default())
}
