//! `ovs-appctl fdb/show BRIDGE` output (a bridge's MAC learning table) read
//! as hostile text: one [`FdbEntry`] per well-formed line, everything else
//! counted and skipped.
//!
//! OVS prints a header, then one entry per line: the OpenFlow port number
//! (`LOCAL` for the bridge's own port), the VLAN, the MAC and the age in
//! seconds (`static` for entries added with `fdb/add`):
//!
//! ```text
//!  port  VLAN  MAC                Age
//!     1     0  50:54:00:00:00:01    1
//! LOCAL     0  50:54:00:00:00:09  static
//! ```

use std::fmt;
use std::io::{self, BufRead};

/// The port an entry points at, as fdb/show prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FdbPort {
    /// An OpenFlow port number (below OVS's reserved range, 0xff00).
    Number(u16),
    /// The bridge's local port (`LOCAL`), named like the bridge.
    Local,
}

/// One MAC learning table entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct FdbEntry {
    pub port: FdbPort,
    /// 0 to 4095.
    pub vlan: u16,
    pub mac: [u8; 6],
    /// Added with `fdb/add` (never ages out) rather than learned.
    pub is_static: bool,
}

/// What a fdb/show text held.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FdbTable {
    pub entries: Vec<FdbEntry>,
    /// Lines that are neither the header, blank, nor an entry.
    pub ignored: usize,
    /// The first of them, bounded for a note.
    pub first_ignored: Option<String>,
}

const HEADER: [&str; 4] = ["port", "VLAN", "MAC", "Age"];

/// The first OpenFlow port number OVS reserves (`OFPP_MAX` + 1 in its
/// 16-bit port space).
const RESERVED_PORTS: u16 = 0xff00;

/// Reads fdb/show output line by line.
pub fn parse_fdb_show(input: impl BufRead) -> io::Result<FdbTable> {
    let mut table = FdbTable::default();
    for line in input.split(b'\n') {
        let line = line?;
        let text = String::from_utf8_lossy(&line);
        let words: Vec<&str> = text.split_whitespace().collect();
        if words.is_empty() || words == HEADER {
            continue;
        }
        match parse_entry(&words) {
            Some(entry) => table.entries.push(entry),
            None => {
                table.ignored += 1;
                table.first_ignored.get_or_insert_with(|| crate::quote::note(text.trim()));
            }
        }
    }
    Ok(table)
}

fn parse_entry(words: &[&str]) -> Option<FdbEntry> {
    let [port, vlan, mac, age] = words else { return None };
    let port = match *port {
        "LOCAL" => FdbPort::Local,
        n => FdbPort::Number(decimal::<u16>(n).filter(|n| *n < RESERVED_PORTS)?),
    };
    let vlan = decimal::<u16>(vlan).filter(|v| *v < 4096)?;
    let mac = parse_mac(mac)?;
    let is_static = match *age {
        "static" => true,
        n => decimal::<u32>(n).map(|_| false)?,
    };
    Some(FdbEntry { port, vlan, mac, is_static })
}

/// Plain decimal digits only (no sign, no `+`), as OVS prints them.
fn decimal<T: std::str::FromStr>(text: &str) -> Option<T> {
    (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())).then(|| text.parse().ok()).flatten()
}

/// `xx:xx:xx:xx:xx:xx`, two hex digits per byte.
fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = text.split(':');
    for byte in &mut mac {
        let part = parts.next().filter(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))?;
        *byte = u8::from_str_radix(part, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

impl fmt::Display for FdbPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FdbPort::Number(n) => write!(f, "{n}"),
            FdbPort::Local => f.write_str("LOCAL"),
        }
    }
}

/// The MAC as OVS prints it (lower-case, `:`-separated).
pub fn mac_text(mac: &[u8; 6]) -> String {
    mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOW: &str = " port  VLAN  MAC                Age\n\
                            1     0  50:54:00:00:00:01    1\n\
                            3    10  50:54:00:00:00:03  293\n\
                        LOCAL     0  50:54:00:00:00:09  static\n";

    #[test]
    fn entries_as_ovs_prints_them() {
        let table = parse_fdb_show(SHOW.as_bytes()).unwrap();
        assert_eq!(table.ignored, 0);
        assert_eq!(
            table.entries,
            vec![
                FdbEntry { port: FdbPort::Number(1), vlan: 0, mac: [0x50, 0x54, 0, 0, 0, 1], is_static: false },
                FdbEntry { port: FdbPort::Number(3), vlan: 10, mac: [0x50, 0x54, 0, 0, 0, 3], is_static: false },
                FdbEntry { port: FdbPort::Local, vlan: 0, mac: [0x50, 0x54, 0, 0, 0, 9], is_static: true },
            ]
        );
        assert_eq!(mac_text(&table.entries[0].mac), "50:54:00:00:00:01");
        assert_eq!(table.entries[2].port.to_string(), "LOCAL");
    }

    /// Hostile or foreign lines are counted, never taken: an error message
    /// of ovs-appctl, out-of-range numbers, malformed MACs, extra words.
    #[test]
    fn anything_else_is_counted_and_skipped() {
        let text = "ovs-appctl: /run/openvswitch/ovs-vswitchd.1.ctl: server returned an error\n\
                    no such bridge\n\
                    65280 0 50:54:00:00:00:01 1\n\
                    1 4096 50:54:00:00:00:01 1\n\
                    1 0 50:54:00:00:00:0g 1\n\
                    1 0 50:54:00:00:00:01:02 1\n\
                    1 0 50:54:0:00:00:01 1\n\
                    -1 0 50:54:00:00:00:01 1\n\
                    +1 0 50:54:00:00:00:01 1\n\
                    1 0 50:54:00:00:00:01 soon\n\
                    1 0 50:54:00:00:00:01 1 ; rm -rf /\n\
                    \u{fffd}\n\
                    2 0 AA:BB:CC:DD:EE:FF 7\n";
        let table = parse_fdb_show(text.as_bytes()).unwrap();
        assert_eq!(table.ignored, 12);
        assert_eq!(table.first_ignored.as_deref(), Some(text.lines().next().unwrap()));
        assert_eq!(table.entries.len(), 1);
        assert_eq!(mac_text(&table.entries[0].mac), "aa:bb:cc:dd:ee:ff");
    }

    #[test]
    fn empty_table_and_invalid_utf8() {
        assert_eq!(parse_fdb_show(" port  VLAN  MAC                Age\n".as_bytes()).unwrap(), FdbTable::default());
        let table = parse_fdb_show(&b"\xff\xfe 0 50:54:00:00:00:01 1\n"[..]).unwrap();
        assert_eq!(table.ignored, 1);
    }
}
