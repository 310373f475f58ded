//! OVS OpenFlow text formats: everything ovs-offline reads or writes as
//! `ovs-ofctl` text, as pure functions.
//!
//! Owns: OpenFlow version names ([`version`]), bridge names that are safe as
//! file names and arguments ([`bridge`]), normalising `dump-flows` and
//! `dump-groups` output into what `add-flows`/`add-groups` accept
//! ([`flows`], [`groups`]), turning `dump-meters` and `dump-tlv-map` output
//! into `add-meter` and `add-tlv-map` arguments ([`meters`], [`tlv`]),
//! reading an ovs-save `do_restore.sh` as data ([`ovs_save`]), a bridge's
//! MAC learning table from `ovs-appctl fdb/show` ([`fdb`]), the names
//! sos gives its dump files ([`sos_names`]) and counting flows from
//! `dump-tables` ([`tables`]).
//!
//! Never runs a program, never touches the filesystem or the network: text
//! in, text or values out. Dumps can be hundreds of MB, so the dump
//! normalisers stream (`impl BufRead` in, `impl Write` out) one line at a
//! time.

pub mod bridge;
pub mod fdb;
pub mod flows;
pub mod groups;
pub mod meters;
pub mod ovs_save;
pub mod sos_names;
pub mod tables;
pub mod tlv;
pub mod version;
pub(crate) mod versions;

pub use bridge::valid_bridge_name;
pub use version::OfVersion;

use std::io::{self, BufRead, Write};

/// A decimal or `0x` hexadecimal number, as OVS prints integer fields
/// (`0x1f` or `31`); `None` when it is neither or does not fit `T`.
pub fn number<T: TryFrom<u128>>(text: &str) -> Option<T> {
    let value = match text.strip_prefix("0x") {
        Some(hex) => u128::from_str_radix(hex, 16).ok()?,
        None => text.parse().ok()?,
    };
    T::try_from(value).ok()
}

/// Which per-bridge OpenFlow dump a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DumpKind {
    Flows,
    Groups,
    TlvMap,
    Meters,
    /// `ovs-appctl fdb/show` output: the bridge's MAC learning table.
    Fdb,
}

/// What a streaming normaliser ([`flows::normalise_flows`],
/// [`groups::normalise_groups`]) did with a dump.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DumpStats {
    /// Entries (flows or groups) written, one per line.
    pub written: usize,
    /// `***decode error: …***` blocks: replies `ovs-ofctl` could not decode.
    /// Entries of those replies are missing from the dump (it is incomplete).
    pub decode_errors: usize,
    /// Lines that are neither an entry, a reply header nor part of a
    /// decode-error block (an `ovs-ofctl: …` error message stored in the same
    /// file, a line that is not UTF-8, …). Never written.
    pub ignored: usize,
    /// The first ignored line, to quote in a message.
    pub first_ignored: Option<String>,
    /// Flows whose `idle_timeout`/`hard_timeout` was dropped.
    pub timeouts: usize,
}

impl DumpStats {
    /// Adds the stats of another part of the same dump.
    pub fn merge(&mut self, other: DumpStats) {
        self.written += other.written;
        self.decode_errors += other.decode_errors;
        self.ignored += other.ignored;
        self.first_ignored = self.first_ignored.take().or(other.first_ignored);
        self.timeouts += other.timeouts;
    }

    fn ignore(&mut self, line: &str) {
        self.ignored += 1;
        if self.first_ignored.is_none() {
            self.first_ignored = Some(line.to_string());
        }
    }
}

/// Calls `f` with each line of `reader` (without `\n` or `\r\n`), or `None`
/// for a line that is not UTF-8. One buffer is reused for every line.
pub(crate) fn for_each_line<R: BufRead>(
    mut reader: R,
    mut f: impl FnMut(Option<&str>) -> io::Result<()>,
) -> io::Result<()> {
    let mut buf = Vec::with_capacity(4096);
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            return Ok(());
        }
        let mut line = buf.as_slice();
        if let Some(rest) = line.strip_suffix(b"\n") {
            line = rest;
        }
        if let Some(rest) = line.strip_suffix(b"\r") {
            line = rest;
        }
        f(std::str::from_utf8(line).ok())?;
    }
}

/// True for the `***decode error: NAME***` line `ovs-ofctl` prints for a
/// reply it cannot decode (alone, or appended to the reply's header line).
pub(crate) fn is_decode_error(line: &str) -> bool {
    line.contains("***decode error")
}

/// True for a line of `ovs-ofctl`'s hex dump: 8 hex digits (the offset) and
/// two spaces, e.g. `00000000  01 0e 00 58 …`.
pub(crate) fn is_hex_dump(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() >= 10 && b[..8].iter().all(u8::is_ascii_hexdigit) && &b[8..10] == b"  "
}

/// True for what [`filter_dump`] never passes on as an entry.
fn reads_as_no_entry(line: &str, is_header: impl Fn(&str) -> bool) -> bool {
    is_header(line) || is_hex_dump(line) || is_decode_error(line)
}

/// The streaming loop shared by the flow and group normalisers: drops reply
/// headers, blank lines and decode-error blocks; `entry` turns an entry line
/// into its normalised form (`None`: not an entry, the line is ignored).
pub(crate) fn filter_dump<R: BufRead, W: Write>(
    reader: R,
    mut writer: W,
    is_header: impl Fn(&str) -> bool,
    mut entry: impl FnMut(&str, &mut String) -> bool,
) -> io::Result<DumpStats> {
    let mut stats = DumpStats::default();
    let mut in_error_block = false;
    let mut out = String::new();
    for_each_line(reader, |line| {
        let Some(line) = line else {
            stats.ignore("<line that is not UTF-8>");
            in_error_block = false;
            return Ok(());
        };
        if is_decode_error(line) {
            stats.decode_errors += 1;
            in_error_block = true;
            return Ok(());
        }
        if is_hex_dump(line) {
            if !in_error_block {
                stats.ignore(line);
            }
            return Ok(());
        }
        let trimmed = line.trim();
        if trimmed.is_empty() {
            return Ok(());
        }
        in_error_block = false;
        if is_header(trimmed) {
            return Ok(());
        }
        out.clear();
        // The normalised entry must read as one again (a line whose
        // statistics hid a header or a hex dump is no entry).
        if entry(trimmed, &mut out) && !reads_as_no_entry(&out, &is_header) {
            out.push('\n');
            writer.write_all(out.as_bytes())?;
            stats.written += 1;
        } else {
            stats.ignore(trimmed);
        }
        Ok(())
    })?;
    writer.flush()?;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_without_terminators_and_not_utf8() {
        let input: &[u8] = b"a\r\nb\n\xff\xfe\nlast";
        let mut seen = Vec::new();
        for_each_line(input, |l| {
            seen.push(l.map(str::to_string));
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, [Some("a".into()), Some("b".into()), None, Some("last".into())]);
    }

    #[test]
    fn decode_error_and_hex_lines() {
        assert!(is_decode_error("***decode error: OFPBAC_BAD_TYPE***"));
        assert!(is_decode_error("OFPST_FLOW reply (OF1.3) (xid=0x2): ***decode error: OFPBRC_BAD_LEN***"));
        assert!(!is_decode_error(" cookie=0x1, priority=1 actions=drop"));
        assert!(is_hex_dump("00000000  01 0e 00 58 00 00 00 02-00 00 00 00 00 00 00 00 |...X............|"));
        assert!(is_hex_dump("000000a0  00 00"));
        assert!(!is_hex_dump(" cookie=0x0, actions=drop"));
        assert!(!is_hex_dump("0000000g  00"));
        assert!(!is_hex_dump("00000000 00"));
    }

    #[test]
    fn filter_counts_and_drops() {
        let input =
            "HDR x\n\nkeep 1\n***decode error: X***\n00000000  01 02\n00000010  03\nkeep 2\n00000000  01\nbad line\n";
        let mut out = Vec::new();
        let stats = filter_dump(
            input.as_bytes(),
            &mut out,
            |l| l.starts_with("HDR"),
            |l, o| {
                o.push_str(l);
                l.starts_with("keep")
            },
        )
        .unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "keep 1\nkeep 2\n");
        assert_eq!((stats.written, stats.decode_errors, stats.ignored), (2, 1, 2));
        assert_eq!(stats.first_ignored.as_deref(), Some("00000000  01"));
    }
}
