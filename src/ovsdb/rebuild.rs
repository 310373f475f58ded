//! Rebuilds a standalone OVSDB database file from the text of
//! `ovsdb-client -f list dump` (what sos before 4.3 keeps instead of
//! `conf.db`), against a local schema.
//!
//! The text holds, per table, a header `<Table> table` and records of
//! `column : value` lines separated by blank lines, values in OVSDB's text
//! syntax (as `ovs-vsctl` prints them): atoms (strings bare or quoted with
//! JSON escapes, integers, reals, booleans, UUIDs), sets `[a, b]`, maps
//! `{k=v, …}`. The file written has two records: the local schema as is,
//! and one transaction inserting every row with its ORIGINAL `_uuid`, each
//! value typed by the local schema's column type (references kept as
//! `["uuid", …]`). Tables and columns the local schema lacks, values it
//! does not accept and references to rows that are not there are dropped
//! and counted, never guessed. Pure: text in, bytes out; reads no file and
//! runs nothing.
//!
//! The writing half ([`write_tables`]) takes tables of rows whose values
//! are OVSDB text, whatever text they were read from: `ovn-nbctl list
//! <Table>` output ([`parse_list`]) is the same format, and
//! [`super::ovn_text`] turns `show`/`lflow-list` text into such rows.

use crate::digest::hex;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use sha1::{Digest, Sha1};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error("line {line}: {reason}")]
    Syntax { line: usize, reason: String },
    #[error("no rows of the local schema's tables in the text")]
    NoRows,
    #[error("the local schema is unreadable")]
    Schema(#[source] serde_json::Error),
}

/// A database file rebuilt from dump text, and what was left out.
#[derive(Debug)]
pub struct Rebuilt {
    /// The whole standalone OVSDB file.
    pub file: Vec<u8>,
    pub schema_version: String,
    pub rows: usize,
    /// `Table:column` of columns the local schema lacks (or whose values
    /// it refuses), with how many values were dropped.
    pub dropped_columns: BTreeMap<String, usize>,
    /// Tables the local schema lacks, with their rows.
    pub dropped_tables: BTreeMap<String, usize>,
    /// References to rows the dump does not hold, dropped.
    pub dangling_refs: usize,
    /// Rows whose uuid an earlier row has, dropped.
    pub duplicate_rows: usize,
}

impl Rebuilt {
    /// Values dropped (columns the local schema lacks or refuses).
    pub fn dropped_values(&self) -> usize {
        self.dropped_columns.values().sum()
    }

    /// One line: what was rebuilt and what was left out.
    pub fn summary(&self) -> String {
        let mut line = format!(
            "against the local schema {}: {} rows, {} columns dropped",
            self.schema_version,
            self.rows,
            self.dropped_values()
        );
        if !self.dropped_columns.is_empty() {
            let names: Vec<&str> = self.dropped_columns.keys().map(String::as_str).collect();
            line.push_str(&format!(" ({})", names.join(", ")));
        }
        for (table, rows) in &self.dropped_tables {
            line.push_str(&format!("; table {table} ({rows} rows) not in the local schema, dropped"));
        }
        if self.dangling_refs > 0 {
            line.push_str(&format!("; {} references to rows the dump lacks dropped", self.dangling_refs));
        }
        if self.duplicate_rows > 0 {
            line.push_str(&format!("; {} rows with the uuid of an earlier row dropped", self.duplicate_rows));
        }
        line
    }
}

/// Rebuilds the database `dump` (the text of `ovsdb-client -f list dump`)
/// against `schema` (a `.ovsschema` file's bytes); `comment` and `date_ms`
/// go into the transaction record.
pub fn rebuild(dump: &str, schema: &[u8], comment: &str, date_ms: u64) -> Result<Rebuilt, RebuildError> {
    write_tables(&parse_dump(dump)?, schema, comment, date_ms)
}

/// The rows of `ovn-nbctl list <Table>` / `ovn-sbctl list <Table>` output
/// (records without the `<Table> table` header) as table `table`.
pub(crate) fn parse_list(text: &str, table: &str) -> Result<TableDump, RebuildError> {
    let mut tables = parse_dump(&format!("{table} table\n{text}")).map_err(|e| match e {
        // Line numbers of the list text, not of the header added here.
        RebuildError::Syntax { line, reason } => RebuildError::Syntax { line: line.saturating_sub(1), reason },
        other => other,
    })?;
    Ok(tables.pop().unwrap_or(TableDump { name: table.to_string(), rows: Vec::new() }))
}

/// Writes `tables` (values as OVSDB text) as a standalone database file
/// against `schema`: the schema record, then one transaction inserting
/// every row with its uuid.
pub(crate) fn write_tables(
    tables: &[TableDump],
    schema: &[u8],
    comment: &str,
    date_ms: u64,
) -> Result<Rebuilt, RebuildError> {
    let parsed: Schema = serde_json::from_slice(schema).map_err(RebuildError::Schema)?;
    let mut rebuilt = Rebuilt {
        file: Vec::new(),
        schema_version: parsed.version.clone(),
        rows: 0,
        dropped_columns: BTreeMap::new(),
        dropped_tables: BTreeMap::new(),
        dangling_refs: 0,
        duplicate_rows: 0,
    };
    // Every row the file will hold, per table: what references may name.
    let mut present: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for table in tables {
        if parsed.tables.contains_key(&table.name) {
            present.entry(&table.name).or_default().extend(table.rows.iter().map(|r| r.uuid.as_str()));
        } else if !table.rows.is_empty() {
            *rebuilt.dropped_tables.entry(table.name.clone()).or_default() += table.rows.len();
        }
    }
    // The transaction is written row by row (a whole JSON tree of a large
    // SB would take several times the text's size).
    let mut txn = format!("{{\"_date\":{date_ms},\"_comment\":{}", json!(comment)).into_bytes();
    let mut by_table: BTreeMap<&str, Vec<&RowDump>> = BTreeMap::new();
    for table in tables.iter().filter(|t| parsed.tables.contains_key(&t.name)) {
        by_table.entry(&table.name).or_default().extend(&table.rows);
    }
    let mut seen = BTreeSet::new();
    for (name, rows) in by_table {
        let table_schema = &parsed.tables[name];
        let mut first = true;
        for row in rows {
            if !seen.insert(row.uuid.as_str()) {
                rebuilt.duplicate_rows += 1;
                continue;
            }
            let mut columns = Map::new();
            for (column, text) in &row.columns {
                let typed = table_schema.columns.get(column).and_then(|c| {
                    let datum = parse_value(text).ok()?;
                    c.kind.to_json(&datum, &present, &mut rebuilt.dangling_refs)
                });
                match typed {
                    Some(value) => {
                        columns.insert(column.clone(), value);
                    }
                    None => *rebuilt.dropped_columns.entry(format!("{name}:{column}")).or_default() += 1,
                }
            }
            let open = if first { format!(",{}:{{", json!(name)) } else { ",".to_string() };
            txn.extend_from_slice(open.as_bytes());
            txn.extend_from_slice(format!("{}:", json!(row.uuid)).as_bytes());
            serde_json::to_writer(&mut txn, &Value::Object(columns)).expect("JSON values serialize");
            first = false;
            rebuilt.rows += 1;
        }
        if !first {
            txn.push(b'}');
        }
    }
    if rebuilt.rows == 0 {
        return Err(RebuildError::NoRows);
    }
    txn.extend_from_slice(b"}\n");
    let mut schema_body = schema.trim_ascii().to_vec();
    schema_body.push(b'\n');
    let mut file = record_header(&schema_body);
    file.extend_from_slice(&schema_body);
    file.extend_from_slice(&record_header(&txn));
    file.append(&mut txn);
    rebuilt.file = file;
    Ok(rebuilt)
}

/// The header `OVSDB JSON <len> <sha1>` of a standalone record of `body`.
fn record_header(body: &[u8]) -> Vec<u8> {
    format!("OVSDB JSON {} {}\n", body.len(), hex(Sha1::digest(body))).into_bytes()
}

/// One table of rows to write.
#[derive(Debug)]
pub(crate) struct TableDump {
    pub name: String,
    pub rows: Vec<RowDump>,
}

#[derive(Debug)]
pub(crate) struct RowDump {
    pub uuid: String,
    /// Column name and value text (OVSDB text syntax), `_uuid` excluded.
    pub columns: Vec<(String, String)>,
}

/// Splits the dump text into tables and rows (values left as text).
fn parse_dump(text: &str) -> Result<Vec<TableDump>, RebuildError> {
    let mut tables: Vec<TableDump> = Vec::new();
    let mut row: Vec<(String, String)> = Vec::new();
    let mut uuids = BTreeSet::new();
    let mut row_line = 0;
    let syntax = |line: usize, reason: &str| RebuildError::Syntax { line, reason: reason.to_string() };
    for (index, line) in text.lines().chain([""]).enumerate() {
        let number = index + 1;
        let line = line.trim_end();
        let header = line.strip_suffix(" table").filter(|n| is_identifier(n));
        if line.is_empty() || header.is_some() {
            if !row.is_empty() {
                let table = tables.last_mut().ok_or_else(|| syntax(row_line, "a row before any table header"))?;
                let uuid_at = row
                    .iter()
                    .position(|(c, _)| c == "_uuid")
                    .ok_or_else(|| syntax(row_line, "a row without _uuid"))?;
                let uuid = row.remove(uuid_at).1;
                if !is_uuid(&uuid) {
                    return Err(syntax(row_line, "_uuid is not a UUID"));
                }
                if !uuids.insert(uuid.clone()) {
                    return Err(syntax(row_line, "a _uuid seen twice"));
                }
                table.rows.push(RowDump { uuid, columns: std::mem::take(&mut row) });
            }
            if let Some(name) = header {
                tables.push(TableDump { name: name.to_string(), rows: Vec::new() });
            }
            continue;
        }
        let (column, value) =
            line.split_once(':').ok_or_else(|| syntax(number, "neither 'column : value' nor '<Table> table'"))?;
        let column = column.trim();
        if !is_identifier(column) {
            return Err(syntax(number, "not a column name before ':'"));
        }
        if row.is_empty() {
            row_line = number;
        }
        row.push((column.to_string(), value.trim().to_string()));
    }
    Ok(tables)
}

fn is_identifier(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub(crate) fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups.iter().all(|g| g.chars().all(|c| c.is_ascii_hexdigit()))
}

/// An atom as printed: quoted (JSON string syntax) or bare.
#[derive(Debug, Clone, PartialEq)]
enum TextAtom {
    Quoted(String),
    Bare(String),
}

/// A value as printed: one atom, a set `[…]` or a map `{…}`.
#[derive(Debug, PartialEq)]
enum Datum {
    Atom(TextAtom),
    Set(Vec<TextAtom>),
    Map(Vec<(TextAtom, TextAtom)>),
}

/// Parses a value in OVSDB's text syntax.
fn parse_value(text: &str) -> Result<Datum, String> {
    let mut cursor = Cursor { rest: text.trim() };
    let datum = match cursor.peek() {
        Some('[') => {
            cursor.bump();
            Datum::Set(cursor.items(']', |c| c.atom())?)
        }
        Some('{') => {
            cursor.bump();
            Datum::Map(cursor.items('}', |c| {
                let key = c.atom()?;
                c.expect('=')?;
                Ok((key, c.atom()?))
            })?)
        }
        _ => Datum::Atom(cursor.atom()?),
    };
    match cursor.rest.trim() {
        "" => Ok(datum),
        rest => Err(format!("unexpected {rest:?} after the value")),
    }
}

struct Cursor<'a> {
    rest: &'a str,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<char> {
        self.rest.chars().next()
    }

    fn bump(&mut self) {
        let mut chars = self.rest.chars();
        chars.next();
        self.rest = chars.as_str();
    }

    fn skip_spaces(&mut self) {
        self.rest = self.rest.trim_start();
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        self.skip_spaces();
        match self.rest.strip_prefix(c) {
            Some(rest) => {
                self.rest = rest;
                Ok(())
            }
            None => Err(format!("expected {c:?} at {:?}", self.rest)),
        }
    }

    /// Items separated by `, ` up to `close` (already past the opening).
    fn items<T>(
        &mut self,
        close: char,
        mut item: impl FnMut(&mut Self) -> Result<T, String>,
    ) -> Result<Vec<T>, String> {
        let mut items = Vec::new();
        self.skip_spaces();
        if self.rest.starts_with(close) {
            self.bump();
            return Ok(items);
        }
        loop {
            items.push(item(self)?);
            self.skip_spaces();
            match self.peek() {
                Some(',') => self.bump(),
                Some(c) if c == close => {
                    self.bump();
                    return Ok(items);
                }
                _ => return Err(format!("expected ',' or {close:?} at {:?}", self.rest)),
            }
        }
    }

    fn atom(&mut self) -> Result<TextAtom, String> {
        self.skip_spaces();
        if self.rest.starts_with('"') {
            return self.quoted();
        }
        let end = self.rest.find(|c: char| ",]}=".contains(c) || c.is_whitespace()).unwrap_or(self.rest.len());
        if end == 0 {
            return Err(format!("expected a value at {:?}", self.rest));
        }
        let (bare, rest) = self.rest.split_at(end);
        self.rest = rest;
        Ok(TextAtom::Bare(bare.to_string()))
    }

    /// A JSON string (the quotes, `\"`, `\\`, `\n`, `\uXXXX` …).
    fn quoted(&mut self) -> Result<TextAtom, String> {
        let mut escaped = false;
        let end = self.rest.char_indices().skip(1).find_map(|(i, c)| {
            let closes = c == '"' && !escaped;
            escaped = c == '\\' && !escaped;
            closes.then_some(i + 1)
        });
        let end = end.ok_or_else(|| format!("unterminated string {:?}", self.rest))?;
        let (quoted, rest) = self.rest.split_at(end);
        let text: String = serde_json::from_str(quoted).map_err(|e| format!("bad string {quoted}: {e}"))?;
        self.rest = rest;
        Ok(TextAtom::Quoted(text))
    }
}

/// The parts of a `.ovsschema` a rebuild needs.
#[derive(Deserialize)]
struct Schema {
    version: String,
    tables: BTreeMap<String, TableSchema>,
}

#[derive(Deserialize)]
struct TableSchema {
    columns: BTreeMap<String, ColumnSchema>,
}

#[derive(Deserialize)]
struct ColumnSchema {
    #[serde(rename = "type")]
    kind: ColumnType,
}

/// A column type: an atomic type name, or key/value/min/max.
#[derive(Deserialize)]
#[serde(from = "ColumnTypeJson")]
struct ColumnType {
    key: BaseType,
    value: Option<BaseType>,
    min: u64,
    max: u64,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ColumnTypeJson {
    Atomic(BaseType),
    /// `max` is a count or `"unlimited"`.
    Full {
        key: BaseType,
        value: Option<BaseType>,
        min: Option<u64>,
        max: Option<Value>,
    },
}

impl From<ColumnTypeJson> for ColumnType {
    fn from(json: ColumnTypeJson) -> ColumnType {
        match json {
            ColumnTypeJson::Atomic(key) => ColumnType { key, value: None, min: 1, max: 1 },
            ColumnTypeJson::Full { key, value, min, max } => {
                ColumnType { key, value, min: min.unwrap_or(1), max: max.map_or(1, |m| m.as_u64().unwrap_or(u64::MAX)) }
            }
        }
    }
}

/// An atomic type with what constrains it that a rebuild checks.
#[derive(Deserialize)]
#[serde(from = "BaseTypeJson")]
struct BaseType {
    atomic: AtomicType,
    ref_table: Option<String>,
    /// The allowed values, as JSON atoms.
    allowed: Option<Vec<Value>>,
    /// `minInteger`..=`maxInteger` of an integer type.
    range: (i64, i64),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum BaseTypeJson {
    Atomic(AtomicType),
    Full {
        #[serde(rename = "type")]
        atomic: AtomicType,
        #[serde(rename = "refTable")]
        ref_table: Option<String>,
        #[serde(rename = "enum")]
        allowed: Option<Value>,
        #[serde(rename = "minInteger")]
        min_integer: Option<i64>,
        #[serde(rename = "maxInteger")]
        max_integer: Option<i64>,
    },
}

impl From<BaseTypeJson> for BaseType {
    fn from(json: BaseTypeJson) -> BaseType {
        match json {
            BaseTypeJson::Atomic(atomic) => BaseType { atomic, ref_table: None, allowed: None, range: FULL_RANGE },
            BaseTypeJson::Full { atomic, ref_table, allowed, min_integer, max_integer } => {
                // An OVSDB set `["set", [...]]` or a single atom.
                let allowed = allowed.map(|a| match a {
                    Value::Array(pair) if pair.first() == Some(&json!("set")) => {
                        pair.get(1).and_then(Value::as_array).cloned().unwrap_or_default()
                    }
                    atom => vec![atom],
                });
                let range = (min_integer.unwrap_or(i64::MIN), max_integer.unwrap_or(i64::MAX));
                BaseType { atomic, ref_table, allowed, range }
            }
        }
    }
}

const FULL_RANGE: (i64, i64) = (i64::MIN, i64::MAX);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum AtomicType {
    Integer,
    Real,
    Boolean,
    String,
    Uuid,
}

type Present<'a> = BTreeMap<&'a str, BTreeSet<&'a str>>;

impl ColumnType {
    /// The value in OVSDB's JSON form, or `None` when this type does not
    /// accept it. A reference to a row not `present` is left out (counted
    /// in `dangling`).
    fn to_json(&self, datum: &Datum, present: &Present<'_>, dangling: &mut usize) -> Option<Value> {
        let mut atom = |base: &BaseType, text: &TextAtom| -> Option<Option<Value>> {
            let value = base.to_json(text)?;
            let missing = base.atomic == AtomicType::Uuid
                && base
                    .ref_table
                    .as_deref()
                    .is_some_and(|t| !present.get(t).is_some_and(|rows| rows.contains(text_of(text))));
            if missing {
                *dangling += 1;
                return Some(None);
            }
            Some(Some(value))
        };
        let value = match (&self.value, datum) {
            (Some(value_type), Datum::Map(pairs)) => {
                let mut out = Vec::new();
                for (k, v) in pairs {
                    if let (Some(k), Some(v)) = (atom(&self.key, k)?, atom(value_type, v)?) {
                        out.push(json!([k, v]));
                    }
                }
                self.fits(out.len())?;
                return Some(json!(["map", out]));
            }
            (Some(_), Datum::Set(items)) if items.is_empty() => return self.fits(0).map(|()| json!(["map", []])),
            (Some(_), _) => return None,
            (None, Datum::Atom(a)) => vec![atom(&self.key, a)?],
            (None, Datum::Set(items)) => items.iter().map(|a| atom(&self.key, a)).collect::<Option<Vec<_>>>()?,
            (None, Datum::Map(pairs)) if pairs.is_empty() => Vec::new(),
            (None, Datum::Map(_)) => return None,
        };
        let atoms: Vec<Value> = value.into_iter().flatten().collect();
        self.fits(atoms.len())?;
        match <[Value; 1]>::try_from(atoms) {
            Ok([one]) if self.max == 1 => Some(one),
            Ok([one]) => Some(json!(["set", [one]])),
            Err(atoms) => Some(json!(["set", atoms])),
        }
    }

    fn fits(&self, n: usize) -> Option<()> {
        (self.min..=self.max).contains(&(n as u64)).then_some(())
    }
}

fn text_of(atom: &TextAtom) -> &str {
    match atom {
        TextAtom::Quoted(s) | TextAtom::Bare(s) => s,
    }
}

impl BaseType {
    /// The atom in OVSDB's JSON form, or `None` when it is not one of this
    /// type (or not one of its allowed values).
    fn to_json(&self, atom: &TextAtom) -> Option<Value> {
        let value = match (self.atomic, atom) {
            (AtomicType::String, a) => json!(text_of(a)),
            (AtomicType::Integer, TextAtom::Bare(s)) => {
                json!(s.parse::<i64>().ok().filter(|n| (self.range.0..=self.range.1).contains(n))?)
            }
            (AtomicType::Real, TextAtom::Bare(s)) => json!(s.parse::<f64>().ok().filter(|f| f.is_finite())?),
            (AtomicType::Boolean, TextAtom::Bare(s)) => json!(s.parse::<bool>().ok()?),
            (AtomicType::Uuid, TextAtom::Bare(s)) if is_uuid(s) => json!(["uuid", s]),
            _ => return None,
        };
        match &self.allowed {
            Some(allowed) if !allowed.contains(&value) => None,
            _ => Some(value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ovsdb::file;

    fn bare(s: &str) -> TextAtom {
        TextAtom::Bare(s.into())
    }

    fn quoted(s: &str) -> TextAtom {
        TextAtom::Quoted(s.into())
    }

    #[test]
    fn atoms_bare_and_quoted() {
        assert_eq!(parse_value("br-int"), Ok(Datum::Atom(bare("br-int"))));
        assert_eq!(parse_value("10"), Ok(Datum::Atom(bare("10"))));
        assert_eq!(parse_value("-1.5"), Ok(Datum::Atom(bare("-1.5"))));
        assert_eq!(parse_value("true"), Ok(Datum::Atom(bare("true"))));
        assert_eq!(parse_value(r#""""#), Ok(Datum::Atom(quoted(""))));
        assert_eq!(parse_value(r#""<built-in>""#), Ok(Datum::Atom(quoted("<built-in>"))));
        assert!(parse_value("a b").is_err());
        assert!(parse_value(r#""open"#).is_err());
    }

    #[test]
    fn quoting_with_escapes() {
        assert_eq!(parse_value(r#""a \"b\", c=d\\ \n\u00e9""#), Ok(Datum::Atom(quoted("a \"b\", c=d\\ \n\u{e9}"))));
        assert_eq!(
            parse_value(r#"{"k=1"="v}", x="[y]"}"#),
            Ok(Datum::Map(vec![(quoted("k=1"), quoted("v}")), (bare("x"), quoted("[y]"))]))
        );
    }

    #[test]
    fn sets_maps_and_empty_ones() {
        assert_eq!(
            parse_value("[OpenFlow10, OpenFlow13]"),
            Ok(Datum::Set(vec![bare("OpenFlow10"), bare("OpenFlow13")]))
        );
        assert_eq!(
            parse_value(r#"{disable-in-band="true", hwaddr="f6:14:87:13:3a:23"}"#),
            Ok(Datum::Map(vec![
                (bare("disable-in-band"), quoted("true")),
                (bare("hwaddr"), quoted("f6:14:87:13:3a:23"))
            ]))
        );
        assert_eq!(parse_value("[]"), Ok(Datum::Set(vec![])));
        assert_eq!(parse_value("{}"), Ok(Datum::Map(vec![])));
        assert!(parse_value("[a, b").is_err());
        assert!(parse_value("{a}").is_err());
    }

    const SCHEMA: &str = r#"{"name":"Open_vSwitch","version":"8.3.1","tables":{
        "Open_vSwitch":{"columns":{"bridges":{"type":{"key":{"type":"uuid","refTable":"Bridge"},"min":0,"max":"unlimited"}}},"isRoot":true},
        "Bridge":{"columns":{
            "name":{"type":"string"},
            "ports":{"type":{"key":{"type":"uuid","refTable":"Port"},"min":0,"max":"unlimited"}},
            "ofport":{"type":{"key":{"type":"integer","minInteger":1,"maxInteger":65279},"min":0,"max":1}},
            "fail_mode":{"type":{"key":{"type":"string","enum":["set",["standalone","secure"]]},"min":0,"max":1}},
            "protocols":{"type":{"key":{"type":"string"},"min":0,"max":"unlimited"}},
            "external_ids":{"type":{"key":"string","value":"string","min":0,"max":"unlimited"}},
            "stp_enable":{"type":"boolean"}}},
        "Port":{"columns":{"name":{"type":"string"},"tag":{"type":{"key":{"type":"integer"},"min":0,"max":1}}}}}}"#;

    const DUMP: &str = "Bridge table
_uuid               : 26627813-e57b-4546-be25-bcfcc38937e7
external_ids        : {ovn-nb-cfg=\"1\", x=y}
fail_mode           : secure
name                : \"1\"
ports               : [074107c3-f6e0-4bf8-a87d-e1ed45ffe261, 0d78ae4d-c29c-44f3-87f2-86e2fb6780cf]
protocols           : [OpenFlow13]
stp_enable          : false
mcast_snooping_enable: false

Gone table
_uuid               : 11111111-e57b-4546-be25-bcfcc38937e7
x                   : 1

Open_vSwitch table
_uuid               : 22222222-e57b-4546-be25-bcfcc38937e7
bridges             : [26627813-e57b-4546-be25-bcfcc38937e7]

Port table
_uuid               : 074107c3-f6e0-4bf8-a87d-e1ed45ffe261
name                : br-int
tag                 : 10
";

    fn transaction(rebuilt: &Rebuilt) -> Value {
        let text = String::from_utf8(rebuilt.file.clone()).unwrap();
        serde_json::from_str(text.lines().last().unwrap()).unwrap()
    }

    #[test]
    fn rows_keep_their_uuids_and_are_typed_by_the_schema() {
        let rebuilt = rebuild(DUMP, SCHEMA.as_bytes(), "test", 1).unwrap();
        assert_eq!(rebuilt.rows, 3);
        assert_eq!(rebuilt.dropped_tables, BTreeMap::from([("Gone".to_string(), 1)]));
        assert_eq!(rebuilt.dropped_columns, BTreeMap::from([("Bridge:mcast_snooping_enable".to_string(), 1)]));
        // The second port is not in the dump: its reference is dropped.
        assert_eq!(rebuilt.dangling_refs, 1);
        let txn = transaction(&rebuilt);
        let bridge = &txn["Bridge"]["26627813-e57b-4546-be25-bcfcc38937e7"];
        assert_eq!(bridge["name"], json!("1"), "a string column's 1 is a string");
        assert_eq!(bridge["fail_mode"], json!("secure"));
        assert_eq!(bridge["stp_enable"], json!(false));
        assert_eq!(bridge["protocols"], json!(["set", ["OpenFlow13"]]));
        assert_eq!(bridge["ports"], json!(["set", [["uuid", "074107c3-f6e0-4bf8-a87d-e1ed45ffe261"]]]));
        assert_eq!(bridge["external_ids"], json!(["map", [["ovn-nb-cfg", "1"], ["x", "y"]]]));
        assert_eq!(txn["Port"]["074107c3-f6e0-4bf8-a87d-e1ed45ffe261"]["tag"], json!(10));
        assert!(rebuilt.summary().starts_with("against the local schema 8.3.1: 3 rows, 1 columns dropped"));
    }

    #[test]
    fn values_the_schema_refuses_are_dropped() {
        let dump =
            "Bridge table\n_uuid : 26627813-e57b-4546-be25-bcfcc38937e7\nfail_mode : loose\nstp_enable : 1\nname : x\nofport : 65280\n";
        let rebuilt = rebuild(dump, SCHEMA.as_bytes(), "test", 1).unwrap();
        assert_eq!(rebuilt.dropped_values(), 3, "an enum, a type and an integer range refused");
        assert_eq!(transaction(&rebuilt)["Bridge"]["26627813-e57b-4546-be25-bcfcc38937e7"], json!({"name": "x"}));
    }

    #[test]
    fn the_file_is_a_standalone_database() {
        let rebuilt = rebuild(DUMP, SCHEMA.as_bytes(), "test", 1).unwrap();
        let info = file::inspect(&rebuilt.file[..]).unwrap();
        assert_eq!(info.format, file::Format::Standalone);
        assert_eq!((info.schema.as_str(), info.version.as_str()), ("Open_vSwitch", "8.3.1"));
        assert_eq!((info.records, info.torn_bytes(), info.edited_record), (2, 0, None));
    }

    /// A node's database as `ovsdb-client -f list dump` prints it (cut to
    /// a few columns), rebuilt against the installed schema: `ovsdb-tool`
    /// reads it, with the original uuids and typed values.
    #[test]
    fn ovsdb_tool_reads_the_rebuilt_file() {
        let (path, _) = crate::ovsdb::schema::installed(crate::capture::DbKind::Ovs).expect("an installed OVS schema");
        let dump = r#"Bridge table
_uuid               : 26627813-e57b-4546-be25-bcfcc38937e7
datapath_version    : "<built-in>"
external_ids        : {ct-zone-sw1-p1="13", "odd key"="a\"b"}
fail_mode           : secure
name                : br-int
ports               : [074107c3-f6e0-4bf8-a87d-e1ed45ffe261]
protocols           : []

Interface table
_uuid               : 5f040fc5-2a73-477d-925e-51b4f28a26ac
name                : vif-1-1
ofport              : 11
ofport_request      : 11
type                : dummy

Open_vSwitch table
_uuid               : 36a7c514-372e-4c03-af1a-3693e176f883
bridges             : [26627813-e57b-4546-be25-bcfcc38937e7]
ovs_version         : "3.1.0"

Port table
_uuid               : 074107c3-f6e0-4bf8-a87d-e1ed45ffe261
interfaces          : [5f040fc5-2a73-477d-925e-51b4f28a26ac]
name                : vif-1-1
tag                 : []
"#;
        let rebuilt = rebuild(dump, &std::fs::read(path).unwrap(), "test", 1).unwrap();
        assert_eq!((rebuilt.rows, rebuilt.dropped_values(), rebuilt.dangling_refs), (4, 0, 0), "{}", rebuilt.summary());
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("conf.db");
        std::fs::write(&db, &rebuilt.file).unwrap();
        let tool = |args: &[&str]| {
            let out = std::process::Command::new("ovsdb-tool").args(args).arg(&db).output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8(out.stdout).unwrap()
        };
        assert_eq!(tool(&["db-name"]), "Open_vSwitch\n");
        let log = tool(&["show-log", "-mm"]);
        assert!(log.contains(r#"table Interface insert row "vif-1-1" (5f040fc5):"#), "{log}");
        assert!(log.contains("ofport=11"), "{log}");
        assert!(log.contains(r#"external_ids={ct-zone-sw1-p1="13", "odd key"="a\"b"}"#), "{log}");
        assert!(log.contains("ports=[074107c3-f6e0-4bf8-a87d-e1ed45ffe261]"), "{log}");
    }

    #[test]
    fn malformed_dumps_name_the_line() {
        let err = |text: &str| rebuild(text, SCHEMA.as_bytes(), "t", 1).unwrap_err().to_string();
        assert_eq!(err("Bridge table\nname : x\n"), "line 2: a row without _uuid");
        assert_eq!(err("_uuid : 26627813-e57b-4546-be25-bcfcc38937e7\n"), "line 1: a row before any table header");
        assert_eq!(err("Bridge table\ngarbage\n"), "line 2: neither 'column : value' nor '<Table> table'");
        assert_eq!(err("Bridge table\n\n"), RebuildError::NoRows.to_string());
    }
}
