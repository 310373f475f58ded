//! The OVSDB on-disk log format: detection, schema identity, torn tails.
//!
//! A database file is a sequence of records, each a header line
//! `OVSDB JSON <len> <sha1>` (standalone) or `OVSDB CLUSTER <len> <sha1>`
//! (RAFT) followed by `<len>` bytes of JSON ending in a newline. The first
//! record holds the schema (standalone) or a snapshot whose `prev_data[0]`
//! is the schema (clustered). Pure reading over any [`Read`] (a local file,
//! an archive member, a command's output), in one pass and constant memory;
//! never writes.

use crate::digest::{Counted, Hashing};
use serde::de::IgnoredAny;
use serde::Deserialize;
use sha1::Sha1;
use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Standalone,
    Clustered,
}

impl Format {
    /// The word after `OVSDB` in a record header.
    pub fn header_word(self) -> &'static str {
        match self {
            Format::Standalone => "JSON",
            Format::Clustered => "CLUSTER",
        }
    }
}

/// What a database file is, read from its records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbFileInfo {
    pub format: Format,
    pub schema: String,
    pub version: String,
    /// Bytes up to the end of the last complete record.
    pub complete_len: u64,
    pub file_len: u64,
    pub records: u64,
    /// The first record (counting from 1) whose body does not match the
    /// SHA-1 in its header: the file was edited (e.g. by `sos clean`), and
    /// `ovsdb-server` would serve only the records before it.
    pub edited_record: Option<u64>,
}

impl DbFileInfo {
    /// Bytes after the last complete record (a torn or cut tail).
    pub fn torn_bytes(&self) -> u64 {
        self.file_len - self.complete_len
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbFileError {
    #[error("cannot read: {0}")]
    Io(#[from] io::Error),
    #[error("is empty")]
    Empty,
    #[error("is not an OVSDB database file (it does not start with an \"OVSDB JSON\" or \"OVSDB CLUSTER\" header)")]
    NotOvsdb,
    #[error("is cut inside its first record (schema); the file is incomplete, copy it again")]
    FirstRecordTorn,
    #[error("has an unreadable schema record: {0}")]
    BadSchema(#[source] serde_json::Error),
    #[error("is a clustered database without a snapshot (a server that joined its cluster but never synced); collect the leader's file, or take 'ovsdb-client backup' of it")]
    NoSnapshot,
}

#[derive(Deserialize)]
struct SchemaHead {
    name: String,
    version: Option<String>,
}

#[derive(Deserialize)]
struct ClusterSnapshot {
    prev_data: Option<(SchemaHead, IgnoredAny)>,
}

/// The longest record header read as one.
pub(crate) const MAX_HEADER: u64 = 256;

/// Reads every record header (skipping the bodies) and the schema of the
/// first record, to the end of `input`.
pub fn inspect(input: impl Read) -> Result<DbFileInfo, DbFileError> {
    let mut reader = Counted::new(BufReader::with_capacity(1 << 16, input));
    if reader.fill_buf()?.is_empty() {
        return Err(DbFileError::Empty);
    }
    let Some((format, first_len, first_sha1)) = read_header(&mut reader)? else {
        return Err(DbFileError::NotOvsdb);
    };
    let mut hashed = Hashing::<_, Sha1>::new(&mut reader);
    let (schema, version) = read_schema(&mut hashed, format, first_len)?;
    let mut edited_record = (hashed.hex() != first_sha1).then_some(1);
    let mut complete_len = reader.count;
    let mut records = 1;
    loop {
        match read_header(&mut reader)? {
            Some((f, len, sha1)) if f == format => {
                let Some(body_sha1) = skip(&mut reader, len)? else { break };
                complete_len = reader.count;
                records += 1;
                if body_sha1 != sha1 && edited_record.is_none() {
                    edited_record = Some(records);
                }
            }
            _ => break,
        }
    }
    io::copy(&mut reader, &mut io::sink())?;
    Ok(DbFileInfo { format, schema, version, complete_len, file_len: reader.count, records, edited_record })
}

/// The rows of `NB_Global` a record changes (`null`: deleted); only the
/// `name` column is read.
#[derive(Deserialize)]
struct NbGlobalTxn {
    #[serde(rename = "NB_Global", default)]
    nb_global: BTreeMap<String, Option<NbGlobalRow>>,
}

#[derive(Deserialize)]
struct NbGlobalRow {
    name: Option<String>,
}

/// A clustered record: the snapshot (`prev_data`) or an entry (`data`),
/// each `[schema or null, transaction]`.
#[derive(Deserialize)]
struct RaftNbGlobal {
    prev_data: Option<(IgnoredAny, Option<NbGlobalTxn>)>,
    data: Option<(IgnoredAny, Option<NbGlobalTxn>)>,
}

/// The `NB_Global` `name` an OVN_Northbound database file ends with (an
/// interconnect zone's name; ovn-kubernetes names each node's zone after
/// the node), reading every record once in constant memory. Records that
/// do not parse are passed over; `None` when no record names it.
pub fn nb_global_name(input: impl Read) -> Result<Option<String>, DbFileError> {
    let mut reader = BufReader::with_capacity(1 << 16, input);
    let Some((format, first_len, _)) = read_header(&mut reader)? else {
        return Err(DbFileError::NotOvsdb);
    };
    let mut name = None;
    let mut len = first_len;
    let mut first = true;
    loop {
        let mut body = (&mut reader).take(len);
        let txn = match (format, first) {
            (Format::Standalone, true) => None,
            (Format::Standalone, false) => serde_json::from_reader::<_, NbGlobalTxn>(&mut body).ok(),
            (Format::Clustered, _) => serde_json::from_reader::<_, RaftNbGlobal>(&mut body)
                .ok()
                .and_then(|r| r.prev_data.or(r.data))
                .and_then(|(_, txn)| txn),
        };
        io::copy(&mut body, &mut io::sink())?;
        for row in txn.into_iter().flat_map(|t| t.nb_global.into_values()) {
            name = match row {
                Some(NbGlobalRow { name: Some(n) }) => Some(n),
                Some(NbGlobalRow { name: None }) => name,
                None => None,
            };
        }
        first = false;
        match read_header(&mut reader)? {
            Some((f, next, _)) if f == format => len = next,
            _ => break,
        }
    }
    io::copy(&mut reader, &mut io::sink())?;
    Ok(name)
}

/// Skips a record body of `len` bytes, returning its SHA-1 (hex); `None`
/// when the input ends first (a length from a corrupt header may be
/// anything).
fn skip(reader: &mut impl BufRead, len: u64) -> io::Result<Option<String>> {
    let mut hashed = Hashing::<_, Sha1>::new(reader.take(len));
    let read = io::copy(&mut hashed, &mut io::sink())?;
    Ok((read == len).then(|| hashed.hex()))
}

/// Parses one `OVSDB <JSON|CLUSTER> <len> <sha1>` line; `None` at EOF or on
/// anything else.
fn read_header(reader: &mut impl BufRead) -> io::Result<Option<(Format, u64, String)>> {
    let mut line = Vec::new();
    reader.take(MAX_HEADER).read_until(b'\n', &mut line)?;
    if line.last() != Some(&b'\n') {
        return Ok(None);
    }
    Ok(parse_header(&line))
}

/// Parses a record header line (`OVSDB JSON <len> <sha1>`, newline or
/// not): its format, body length and SHA-1 (lowercase hex).
pub(crate) fn parse_header(line: &[u8]) -> Option<(Format, u64, String)> {
    let line = std::str::from_utf8(line).ok()?.trim_end();
    let mut words = line.split(' ');
    if words.next()? != "OVSDB" {
        return None;
    }
    let word = words.next()?;
    let format = [Format::Standalone, Format::Clustered].into_iter().find(|f| f.header_word() == word)?;
    let len = words.next()?.parse().ok()?;
    let sha1 = words.next()?;
    (sha1.len() == 40 && words.next().is_none()).then(|| (format, len, sha1.to_ascii_lowercase()))
}

/// Parses the schema from the first record's body, streaming (a clustered
/// snapshot holds the whole database), and consumes the body.
fn read_schema(reader: &mut impl Read, format: Format, len: u64) -> Result<(String, String), DbFileError> {
    let mut body = Counted::new(reader.take(len));
    let parsed = match format {
        Format::Standalone => serde_json::from_reader::<_, SchemaHead>(&mut body).map(Some),
        Format::Clustered => serde_json::from_reader::<_, ClusterSnapshot>(&mut body).map(|s| s.prev_data.map(|p| p.0)),
    };
    io::copy(&mut body, &mut io::sink())?;
    if body.count < len {
        return Err(DbFileError::FirstRecordTorn);
    }
    let head = parsed.map_err(DbFileError::BadSchema)?.ok_or(DbFileError::NoSnapshot)?;
    Ok((head.name, head.version.unwrap_or_else(|| "unversioned".into())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::hex;
    use sha1::Digest;
    fn record(kind: &str, json: &str) -> String {
        let body = format!("{json}\n");
        let sha1: String = hex(Sha1::digest(body.as_bytes()));
        format!("OVSDB {kind} {} {sha1}\n{body}", body.len())
    }

    /// `sos clean` rewrites addresses inside records and leaves their
    /// headers: the SHA-1 no longer matches.
    #[test]
    fn edited_records_are_found() {
        let schema = record("JSON", r#"{"name":"Open_vSwitch","version":"8.8.0","tables":{}}"#);
        let good = record("JSON", r#"{"Bridge":{"u":{"name":"br-int"}}}"#);
        let edited = good.replace("br-int", "br-xyz");
        let info = inspect((schema.clone() + &good).as_bytes()).unwrap();
        assert_eq!(info.edited_record, None);
        let info = inspect((schema + &good + &edited + &good).as_bytes()).unwrap();
        assert_eq!((info.edited_record, info.records), (Some(3), 4));
    }

    #[test]
    fn standalone_schema_and_records() {
        let text = record("JSON", r#"{"name":"OVN_Northbound","version":"7.0.0","tables":{}}"#)
            + &record("JSON", r#"{"NB_Global":{}}"#);
        let info = inspect(text.as_bytes()).unwrap();
        assert_eq!(info.format, Format::Standalone);
        assert_eq!((info.schema.as_str(), info.version.as_str()), ("OVN_Northbound", "7.0.0"));
        assert_eq!((info.records, info.torn_bytes()), (2, 0));
    }

    #[test]
    fn clustered_schema_from_snapshot() {
        let text = record(
            "CLUSTER",
            r#"{"name":"OVN_Southbound","prev_data":[{"name":"OVN_Southbound","version":"20.27.0"},{"x":1}],"prev_term":1}"#,
        );
        let info = inspect(text.as_bytes()).unwrap();
        assert_eq!(info.format, Format::Clustered);
        assert_eq!(info.version, "20.27.0");
    }

    #[test]
    fn clustered_without_snapshot_says_so() {
        let text = record("CLUSTER", r#"{"name":"OVN_Southbound","local_address":"tcp:1.2.3.4:6644","server_id":"x"}"#);
        assert!(matches!(inspect(text.as_bytes()), Err(DbFileError::NoSnapshot)));
    }

    #[test]
    fn the_zone_name_is_the_last_one_written() {
        let schema = record("JSON", r#"{"name":"OVN_Northbound","version":"7.0.0","tables":{}}"#);
        let named = record("JSON", r#"{"NB_Global":{"u":{"name":"node-a","options":["map",[]]}},"_date":1}"#);
        let renamed = record("JSON", r#"{"NB_Global":{"u":{"name":"node-b"}}}"#);
        let other = record("JSON", r#"{"Logical_Switch":{"v":{"name":"ls"}},"NB_Global":{"u":{"nb_cfg":2}}}"#);
        let text = schema.clone() + &named + &renamed + &other;
        assert_eq!(nb_global_name(text.as_bytes()).unwrap().as_deref(), Some("node-b"));
        assert_eq!(nb_global_name(schema.as_bytes()).unwrap(), None);
        let clustered = record(
            "CLUSTER",
            r#"{"name":"OVN_Northbound","prev_data":[{"name":"OVN_Northbound"},{"NB_Global":{"u":{"name":"node-c"}}}]}"#,
        ) + &record(
            "CLUSTER",
            r#"{"term":1,"index":2,"data":[null,{"NB_Global":{"u":{"name":"node-d"}}}]}"#,
        ) + &record("CLUSTER", r#"{"term":1,"vote":"x"}"#);
        assert_eq!(nb_global_name(clustered.as_bytes()).unwrap().as_deref(), Some("node-d"));
        assert!(matches!(nb_global_name("hello\n".as_bytes()), Err(DbFileError::NotOvsdb)));
    }

    #[test]
    fn torn_tail_is_measured() {
        let complete = record("JSON", r#"{"name":"Open_vSwitch","version":"8.3.1"}"#);
        let torn = &record("JSON", r#"{"Bridge":{"x":{}}}"#)[..30];
        let info = inspect((complete.clone() + torn).as_bytes()).unwrap();
        assert_eq!(info.complete_len, complete.len() as u64);
        assert_eq!(info.torn_bytes(), 30);
    }

    #[test]
    fn absurd_lengths_are_a_torn_tail() {
        let complete = record("JSON", r#"{"name":"Open_vSwitch","version":"8.3.1"}"#);
        let text = complete.clone() + &format!("OVSDB JSON 18446744073709551615 {}\n{{}}\n", "0".repeat(40));
        let info = inspect(text.as_bytes()).unwrap();
        assert_eq!(info.complete_len, complete.len() as u64);
        let huge = format!("OVSDB JSON 18446744073709551615 {}\n{{}}\n", "0".repeat(40));
        assert!(matches!(inspect(huge.as_bytes()), Err(DbFileError::FirstRecordTorn)));
    }

    /// A pipe or an archive member hands out a few bytes at a time.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(buf.len()).min(3);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn streams_read_in_small_pieces() {
        let complete = record("JSON", r#"{"name":"Open_vSwitch","version":"8.3.1"}"#) + &record("JSON", "{}");
        let text = complete.clone() + "OVSDB JSON 99";
        let info = inspect(Trickle(text.as_bytes())).unwrap();
        assert_eq!((info.records, info.complete_len, info.file_len), (2, complete.len() as u64, text.len() as u64));
    }

    #[test]
    fn rejects_other_files() {
        assert!(matches!(inspect("hello\n".as_bytes()), Err(DbFileError::NotOvsdb)));
        assert!(matches!(inspect("".as_bytes()), Err(DbFileError::Empty)));
        let cut = &record("JSON", r#"{"name":"Open_vSwitch","version":"8.3.1"}"#)[..70];
        assert!(matches!(inspect(cut.as_bytes()), Err(DbFileError::FirstRecordTorn)));
    }
}
