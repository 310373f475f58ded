//! The OVSDB on-disk log format: detection, schema identity, torn tails.
//!
//! A database file is a sequence of records, each a header line
//! `OVSDB JSON <len> <sha1>` (standalone) or `OVSDB CLUSTER <len> <sha1>`
//! (RAFT) followed by `<len>` bytes of JSON ending in a newline. The first
//! record holds the schema (standalone) or a snapshot whose `prev_data[0]`
//! is the schema (clustered). Pure reading; never writes.

use serde::de::IgnoredAny;
use serde::Deserialize;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Standalone,
    Clustered,
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
    BadSchema(String),
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

const MAX_HEADER: u64 = 256;

/// Reads the headers of every record (skipping their bodies) and the schema
/// of the first one.
pub fn inspect(path: &Path) -> Result<DbFileInfo, DbFileError> {
    let file = File::open(path)?;
    let file_len = file.metadata()?.len();
    if file_len == 0 {
        return Err(DbFileError::Empty);
    }
    let mut reader = BufReader::new(file);
    let Some((format, first_len)) = read_header(&mut reader)? else {
        return Err(DbFileError::NotOvsdb);
    };
    let Some(mut pos) = record_end(header_end(&mut reader)?, first_len, file_len) else {
        return Err(DbFileError::FirstRecordTorn);
    };
    let (schema, version) = read_schema(&mut reader, format, first_len)?;
    let mut records = 1;
    loop {
        match read_header(&mut reader) {
            Ok(Some((f, len))) if f == format => {
                let Some(end) = record_end(header_end(&mut reader)?, len, file_len) else { break };
                reader.seek(SeekFrom::Start(end))?;
                pos = end;
                records += 1;
            }
            _ => break,
        }
    }
    Ok(DbFileInfo { format, schema, version, complete_len: pos, file_len, records })
}

fn header_end(reader: &mut BufReader<File>) -> io::Result<u64> {
    reader.stream_position()
}

/// Where a record whose body starts at `start` ends, if it fits in the file
/// (a length from a corrupt header may be anything).
fn record_end(start: u64, len: u64, file_len: u64) -> Option<u64> {
    start.checked_add(len).filter(|&end| end <= file_len)
}

/// Parses one `OVSDB <JSON|CLUSTER> <len> <sha1>` line; `None` at EOF or on
/// anything else.
fn read_header(reader: &mut BufReader<File>) -> io::Result<Option<(Format, u64)>> {
    let mut line = Vec::new();
    reader.by_ref().take(MAX_HEADER).read_until(b'\n', &mut line)?;
    if line.last() != Some(&b'\n') {
        return Ok(None);
    }
    Ok(parse_header(&line))
}

fn parse_header(line: &[u8]) -> Option<(Format, u64)> {
    let line = std::str::from_utf8(line).ok()?.trim_end();
    let mut words = line.split(' ');
    if words.next()? != "OVSDB" {
        return None;
    }
    let format = match words.next()? {
        "JSON" => Format::Standalone,
        "CLUSTER" => Format::Clustered,
        _ => return None,
    };
    let len = words.next()?.parse().ok()?;
    let sha1 = words.next()?;
    (sha1.len() == 40 && words.next().is_none()).then_some((format, len))
}

fn read_schema(reader: &mut BufReader<File>, format: Format, len: u64) -> Result<(String, String), DbFileError> {
    let body = reader.by_ref().take(len);
    let bad = |e: serde_json::Error| DbFileError::BadSchema(e.to_string());
    let head = match format {
        Format::Standalone => serde_json::from_reader::<_, SchemaHead>(body).map_err(bad)?,
        Format::Clustered => {
            serde_json::from_reader::<_, ClusterSnapshot>(body)
                .map_err(bad)?
                .prev_data
                .ok_or(DbFileError::NoSnapshot)?
                .0
        }
    };
    Ok((head.name, head.version.unwrap_or_else(|| "unversioned".into())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn record(kind: &str, json: &str) -> String {
        let body = format!("{json}\n");
        format!("OVSDB {kind} {} {}\n{body}", body.len(), "0".repeat(40))
    }

    fn write(contents: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(contents.as_bytes()).unwrap();
        f
    }

    #[test]
    fn standalone_schema_and_records() {
        let text = record("JSON", r#"{"name":"OVN_Northbound","version":"7.0.0","tables":{}}"#)
            + &record("JSON", r#"{"NB_Global":{}}"#);
        let info = inspect(write(&text).path()).unwrap();
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
        let info = inspect(write(&text).path()).unwrap();
        assert_eq!(info.format, Format::Clustered);
        assert_eq!(info.version, "20.27.0");
    }

    #[test]
    fn clustered_without_snapshot_says_so() {
        let text = record("CLUSTER", r#"{"name":"OVN_Southbound","local_address":"tcp:1.2.3.4:6644","server_id":"x"}"#);
        assert!(matches!(inspect(write(&text).path()), Err(DbFileError::NoSnapshot)));
    }

    #[test]
    fn torn_tail_is_measured() {
        let complete = record("JSON", r#"{"name":"Open_vSwitch","version":"8.3.1"}"#);
        let torn = &record("JSON", r#"{"Bridge":{"x":{}}}"#)[..30];
        let info = inspect(write(&(complete.clone() + torn)).path()).unwrap();
        assert_eq!(info.complete_len, complete.len() as u64);
        assert_eq!(info.torn_bytes(), 30);
    }

    #[test]
    fn absurd_lengths_are_a_torn_tail() {
        let complete = record("JSON", r#"{"name":"Open_vSwitch","version":"8.3.1"}"#);
        let text = complete.clone() + &format!("OVSDB JSON 18446744073709551615 {}\n{{}}\n", "0".repeat(40));
        let info = inspect(write(&text).path()).unwrap();
        assert_eq!(info.complete_len, complete.len() as u64);
        let huge = format!("OVSDB JSON 18446744073709551615 {}\n{{}}\n", "0".repeat(40));
        assert!(matches!(inspect(write(&huge).path()), Err(DbFileError::FirstRecordTorn)));
    }

    #[test]
    fn rejects_other_files() {
        assert!(matches!(inspect(write("hello\n").path()), Err(DbFileError::NotOvsdb)));
        assert!(matches!(inspect(write("").path()), Err(DbFileError::Empty)));
        let cut = &record("JSON", r#"{"name":"Open_vSwitch","version":"8.3.1"}"#)[..70];
        assert!(matches!(inspect(write(cut).path()), Err(DbFileError::FirstRecordTorn)));
    }
}
