//! Re-hashing an OVSDB file whose records were edited (`sos clean`).
//!
//! `sos clean` rewrites addresses and host names inside each record's JSON
//! and leaves the record headers (`OVSDB JSON <len> <sha1>`, `OVSDB CLUSTER
//! …` alike) as they were: the length and SHA-1 no longer match, and
//! `ovsdb-server` serves only the records before the first edited one.
//! OVSDB writes each record body as ONE line of JSON, so a [`Rehash`]
//! reader hands out the file record by record: header line, body line; a
//! record whose body still matches its header goes through byte for byte,
//! an edited one whose body is still JSON gets a header with its length and
//! SHA-1 recomputed. A body over several lines (ovs-offline's own rebuild
//! writes the schema so) is taken by its header's length and must match
//! it. Any other record stops the read ([`Rehash::broken`] says which and
//! why). Anything after the last whole
//! record (a torn tail, text that is no record) goes through as it is, for
//! [`super::file::inspect`] to judge. One record is held in memory at a
//! time. Never writes anywhere but to its reader.

use super::file::{parse_header, Format, MAX_HEADER};
use crate::digest::hex;
use serde::de::IgnoredAny;
use sha1::{Digest, Sha1};
use std::io::{self, BufRead, BufReader, Read};

/// A record whose body is no longer JSON: the file cannot be re-hashed.
#[derive(Debug, thiserror::Error)]
#[error("record {record} is not JSON any more ({source})")]
pub struct BrokenRecord {
    /// Counting from 1.
    pub record: u64,
    #[source]
    pub source: serde_json::Error,
}

/// Where the reader is in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading record by record.
    Records,
    /// Past the last whole record: the rest goes through as it is.
    Rest,
}

/// Reads an OVSDB file with every edited record re-hashed (see the module
/// documentation).
pub struct Rehash<R> {
    input: BufReader<R>,
    state: State,
    /// The most one record body may hold.
    limit: u64,
    /// Output not handed out yet, from `at`.
    out: Vec<u8>,
    at: usize,
    /// Whole records read.
    pub records: u64,
    /// Records whose header was recomputed.
    pub rehashed: u64,
    /// Set when a record's body is no longer JSON; the read then fails.
    pub broken: Option<BrokenRecord>,
}

impl<R: Read> Rehash<R> {
    /// Re-hashes `input`; a record body longer than `limit` bytes is taken
    /// as a torn tail (and goes through as it is).
    pub fn new(input: R, limit: u64) -> Rehash<R> {
        Rehash { state: State::Records, limit, ..Rehash::passthrough(input) }
    }

    /// Reads `input` as it is (nothing is re-hashed).
    pub fn passthrough(input: R) -> Rehash<R> {
        Rehash {
            input: BufReader::with_capacity(1 << 16, input),
            state: State::Rest,
            limit: 0,
            out: Vec::new(),
            at: 0,
            records: 0,
            rehashed: 0,
            broken: None,
        }
    }

    /// Fills `out` with the next record; leaves it empty at the end of the
    /// records.
    fn next_record(&mut self) -> io::Result<()> {
        self.out.clear();
        self.at = 0;
        (&mut self.input).take(MAX_HEADER).read_until(b'\n', &mut self.out)?;
        let header = match self.out.last() {
            Some(b'\n') => parse_header(&self.out),
            _ => None,
        };
        let Some((format, len, sha1)) = header else {
            self.state = State::Rest;
            return Ok(());
        };
        let mut body = Vec::new();
        (&mut self.input).take(self.limit).read_until(b'\n', &mut body)?;
        if body.last() != Some(&b'\n') {
            // Cut: as it is, and the rest too.
            self.out.extend_from_slice(&body);
            self.state = State::Rest;
            return Ok(());
        }
        self.records += 1;
        let intact = |body: &[u8]| body.len() as u64 == len && hex(Sha1::digest(body)) == sha1;
        if intact(&body) {
            self.out.extend_from_slice(&body);
            return Ok(());
        }
        let source = match serde_json::from_slice::<IgnoredAny>(&body) {
            Ok(_) => return self.rehashed_record(format, body),
            Err(source) => source,
        };
        // A body over several lines (OVSDB writes one; ovs-offline's own
        // rebuild writes the schema as the schema file has it): whole only
        // as its header says.
        if (body.len() as u64) < len {
            (&mut self.input).take(len - body.len() as u64).read_to_end(&mut body)?;
            if intact(&body) || (body.len() as u64) < len {
                // Intact, or cut: as it is (a cut one, and the rest too).
                self.state = if intact(&body) { State::Records } else { State::Rest };
                self.out.extend_from_slice(&body);
                return Ok(());
            }
        }
        let broken = BrokenRecord { record: self.records, source };
        let error = io::Error::new(io::ErrorKind::InvalidData, broken.to_string());
        self.broken = Some(broken);
        Err(error)
    }

    /// Fills `out` with an edited record whose `body` is still JSON, under
    /// a header with its length and SHA-1.
    fn rehashed_record(&mut self, format: Format, body: Vec<u8>) -> io::Result<()> {
        self.rehashed += 1;
        let sha1 = hex(Sha1::digest(&body));
        self.out.clear();
        self.out.extend_from_slice(format!("OVSDB {} {} {sha1}\n", format.header_word(), body.len()).as_bytes());
        self.out.extend_from_slice(&body);
        Ok(())
    }
}

impl<R: Read> Read for Rehash<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.at == self.out.len() {
            match self.state {
                State::Records => self.next_record()?,
                State::Rest => return self.input.read(buf),
            }
            if self.out.is_empty() {
                return self.input.read(buf);
            }
        }
        let n = buf.len().min(self.out.len() - self.at);
        buf[..n].copy_from_slice(&self.out[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ovsdb::file::inspect;

    fn record(kind: &str, json: &str) -> String {
        let body = format!("{json}\n");
        format!("OVSDB {kind} {} {}\n{body}", body.len(), hex(Sha1::digest(body.as_bytes())))
    }

    /// What a [`Rehash`] of `text` gave: its output (or error), records,
    /// records re-hashed, broken record.
    fn rehash(text: &str) -> (io::Result<String>, u64, u64, Option<BrokenRecord>) {
        let mut reader = Rehash::new(text.as_bytes(), 1 << 20);
        let mut out = String::new();
        let result = reader.read_to_string(&mut out).map(|_| out);
        (result, reader.records, reader.rehashed, reader.broken)
    }

    /// As `sos clean` leaves a file: bodies rewritten, headers kept.
    fn obfuscated(text: &str) -> String {
        text.replace("192.168.1.10", "100.0.0.1").replace("node-1", "host0")
    }

    #[test]
    fn edited_records_get_their_length_and_sha1_again() {
        let schema = record("JSON", r#"{"name":"Open_vSwitch","version":"8.8.0","tables":{}}"#);
        let a = r#"{"Open_vSwitch":{"u":{"external_ids":["map",[["hostname","node-1"]]]}}}"#;
        let b = record("JSON", r#"{"Bridge":{"v":{"name":"br-int"}}}"#);
        let c = r#"{"Interface":{"w":{"options":["map",[["remote_ip","192.168.1.10"]]]}}}"#;
        let original = schema.clone() + &record("JSON", a) + &b + &record("JSON", c);
        let edited = obfuscated(&original);
        assert_eq!(inspect(edited.as_bytes()).unwrap().edited_record, Some(2));
        let (out, records, rehashed, _) = rehash(&edited);
        let out = out.unwrap();
        assert_eq!((records, rehashed), (4, 2));
        // The same as if OVSDB had written the edited records itself.
        assert_eq!(out, schema + &record("JSON", &obfuscated(a)) + &b + &record("JSON", &obfuscated(c)));
        let info = inspect(out.as_bytes()).unwrap();
        assert_eq!((info.edited_record, info.records, info.torn_bytes()), (None, 4, 0));
        // An intact file goes through byte for byte.
        let (out, _, rehashed, _) = rehash(&original);
        assert_eq!((out.unwrap(), rehashed), (original, 0));
    }

    #[test]
    fn clustered_records_are_rehashed_alike() {
        let json = r#"{"name":"OVN_Southbound","local_address":"tcp:192.168.1.10:6644","prev_data":[{"name":"OVN_Southbound","version":"20.27.0"},{}]}"#;
        let (out, _, rehashed, _) = rehash(&obfuscated(&record("CLUSTER", json)));
        assert_eq!(rehashed, 1);
        assert_eq!(out.unwrap(), record("CLUSTER", &obfuscated(json)));
    }

    /// As `ovsdb::rebuild` writes a schema: pretty-printed, several lines.
    #[test]
    fn intact_records_over_several_lines_go_through() {
        let schema = record("JSON", "{\n  \"name\": \"Open_vSwitch\",\n  \"version\": \"8.8.0\"\n}");
        let edited = record("JSON", r#"{"Bridge":{"v":{"name":"br-int"}}}"#).replace("br-int", "br-xyz0");
        let (out, records, rehashed, _) = rehash(&(schema.clone() + &edited));
        assert_eq!((records, rehashed), (2, 1));
        assert_eq!(out.unwrap(), schema.clone() + &record("JSON", r#"{"Bridge":{"v":{"name":"br-xyz0"}}}"#));
        // Cut inside: as it is.
        let cut = &schema[..schema.len() - 5];
        assert_eq!(rehash(cut).0.unwrap(), cut);
        // Edited: cannot be told apart from what follows.
        let (out, _, _, broken) = rehash(&schema.replace("8.8.0", "8.8.10"));
        assert!(out.is_err());
        assert_eq!(broken.unwrap().record, 1);
    }

    #[test]
    fn a_record_that_is_no_longer_json_stops_the_read() {
        let schema = record("JSON", r#"{"name":"Open_vSwitch","version":"8.8.0"}"#);
        let bad = record("JSON", r#"{"Bridge":{"v":{"name":"br-int"}}}"#).replace("}}}", "}");
        let after = record("JSON", r#"{"Port":{"p":{"name":"br-int"}}}"#);
        let (out, _, _, broken) = rehash(&(schema + &bad + &after));
        assert!(out.is_err());
        let broken = broken.unwrap();
        assert_eq!(broken.record, 2);
        assert!(broken.to_string().starts_with("record 2 is not JSON any more ("), "{broken}");
    }

    #[test]
    fn torn_tails_and_other_text_go_through() {
        let schema = record("JSON", r#"{"name":"Open_vSwitch","version":"8.8.0"}"#);
        let torn = &record("JSON", r#"{"Bridge":{"v":{"name":"br-int"}}}"#)[..60];
        for text in [schema.clone() + torn, schema.clone() + "garbage\nmore", "hello\n".to_string(), String::new()] {
            let (out, _, rehashed, _) = rehash(&text);
            assert_eq!((out.unwrap(), rehashed), (text, 0));
        }
    }
}
