//! `ovs-ofctl dump-tlv-map` output → the one argument `add-tlv-map` takes.
//!
//! The dump ends with a table whose rows are printed with `%#6x %#4x %6u`:
//!
//! ```text
//!  mapping table:
//!   class  type  length  match field
//!  ------  ----  ------  --------------
//!   0x102  0x80       4  tun_metadata0
//! ```
//!
//! `%#x` prints zero as `0`, without `0x`: a class or type 0 row reads
//! ` 0  0x80  4  tun_metadata1` (ovs-save's `awk '/^  *0x/'` misses those).

use std::fmt;

/// One Geneve option ↔ `tun_metadataN` mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlvMapping {
    pub class: u16,
    pub option_type: u8,
    pub len: u8,
    /// `tun_metadata0` … `tun_metadata63`.
    pub field: String,
}

impl fmt::Display for TlvMapping {
    /// `{class=0x102,type=0x80,len=4}->tun_metadata0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{class={:#x},type={:#x},len={}}}->{}", self.class, self.option_type, self.len, self.field)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlvError {
    #[error("not a TLV map dump (no \"mapping table:\" line)")]
    NoTable,
    #[error("line {line}: not a TLV mapping row: {text:?}")]
    BadRow { line: usize, text: String },
    #[error("not an add-tlv-map argument: {0:?}")]
    BadArg(String),
}

/// The mappings of a whole `dump-tlv-map` output (small: at most 64 rows),
/// in table order. An empty table gives an empty `Vec`.
pub fn parse_tlv_map(text: &str) -> Result<Vec<TlvMapping>, TlvError> {
    let mut lines = text.lines().enumerate();
    lines.find(|(_, l)| l.trim() == "mapping table:").ok_or(TlvError::NoTable)?;
    let mut in_rows = false;
    let mut mappings = Vec::new();
    for (i, line) in lines {
        let row = line.trim();
        if row.is_empty() {
            continue;
        }
        if !in_rows {
            in_rows = row.starts_with("------");
            continue;
        }
        mappings.push(parse_row(row).ok_or_else(|| TlvError::BadRow { line: i + 1, text: row.into() })?);
    }
    Ok(mappings)
}

fn parse_row(row: &str) -> Option<TlvMapping> {
    let mut cols = row.split_whitespace();
    let class = u16::from_str_radix(hex_digits(cols.next()?), 16).ok()?;
    let option_type = u8::from_str_radix(hex_digits(cols.next()?), 16).ok()?;
    let len = cols.next()?.parse().ok()?;
    let field = cols.next()?;
    let index = field.strip_prefix("tun_metadata")?;
    let valid = !index.is_empty() && index.bytes().all(|b| b.is_ascii_digit()) && cols.next().is_none();
    valid.then(|| TlvMapping { class, option_type, len, field: field.into() })
}

fn hex_digits(col: &str) -> &str {
    col.strip_prefix("0x").unwrap_or(col)
}

/// Reads an `add-tlv-map` argument back (`{class=0x102,type=0x80,len=4}->tun_metadata0,…`,
/// as ovs-save writes it; values in hex or decimal, keys in this order as
/// `ovs-ofctl` requires). Empty for an empty argument.
pub(crate) fn parse_tlv_arg(arg: &str) -> Result<Vec<TlvMapping>, TlvError> {
    let bad = || TlvError::BadArg(arg.to_string());
    let mut mappings = Vec::new();
    let mut rest = arg.trim();
    while !rest.is_empty() {
        let body = rest.strip_prefix("{class=").ok_or_else(bad)?;
        let (class, body) = body.split_once(",type=").ok_or_else(bad)?;
        let (option_type, body) = body.split_once(",len=").ok_or_else(bad)?;
        let (len, body) = body.split_once("}->tun_metadata").ok_or_else(bad)?;
        let end = body.find(',').unwrap_or(body.len());
        let index = &body[..end];
        if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        mappings.push(TlvMapping {
            class: super::number(class).ok_or_else(bad)?,
            option_type: super::number(option_type).ok_or_else(bad)?,
            len: super::number(len).ok_or_else(bad)?,
            field: format!("tun_metadata{index}"),
        });
        rest = body[end..].strip_prefix(',').unwrap_or(&body[end..]);
        if end < body.len() && rest.is_empty() {
            return Err(bad());
        }
    }
    Ok(mappings)
}

/// The single `add-tlv-map` argument for `mappings`: each mapping, joined
/// with commas. Empty for no mappings (then there is nothing to add).
pub fn tlv_map_arg(mappings: &[TlvMapping]) -> String {
    mappings.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    const OVN: &str = "\
NXT_TLV_TABLE_REPLY (OF1.5) (xid=0x2):
 max option space=256 max fields=64
 allocated option space=4

 mapping table:
  class  type  length  match field
 ------  ----  ------  --------------
  0x102  0x80       4  tun_metadata0
";

    fn mapping(class: u16, option_type: u8, len: u8, field: &str) -> TlvMapping {
        TlvMapping { class, option_type, len, field: field.into() }
    }

    #[test]
    fn real_dumps() {
        assert_eq!(parse_tlv_map(OVN).unwrap(), [mapping(0x102, 0x80, 4, "tun_metadata0")]);
        // sos 4.9.1, breth0, OpenFlow10 (no version in the header).
        let sos = "NXT_TLV_TABLE_REPLY (xid=0x2):\n max option space=256 max fields=64\n allocated option space=4\n\n mapping table:\n  class  type  length  match field\n ------  ----  ------  --------------\n 0xffff  0x80       4  tun_metadata0\n";
        assert_eq!(parse_tlv_map(sos).unwrap(), [mapping(0xffff, 0x80, 4, "tun_metadata0")]);
    }

    #[test]
    fn empty_table() {
        let empty = "NXT_TLV_TABLE_REPLY (OF1.5) (xid=0x2):\n max option space=256 max fields=64\n allocated option space=0\n\n mapping table:\n  class  type  length  match field\n ------  ----  ------  --------------\n";
        assert_eq!(parse_tlv_map(empty).unwrap(), []);
        assert_eq!(tlv_map_arg(&[]), "");
    }

    #[test]
    fn several_rows_and_zero_values() {
        let text = format!("{OVN}      0     0      8  tun_metadata1\n 0xffff   0x1     124  tun_metadata63\n");
        let maps = parse_tlv_map(&text).unwrap();
        assert_eq!(maps[1], mapping(0, 0, 8, "tun_metadata1"));
        assert_eq!(maps[2], mapping(0xffff, 1, 124, "tun_metadata63"));
        assert_eq!(
            tlv_map_arg(&maps),
            "{class=0x102,type=0x80,len=4}->tun_metadata0,{class=0x0,type=0x0,len=8}->tun_metadata1,{class=0xffff,type=0x1,len=124}->tun_metadata63"
        );
    }

    #[test]
    fn errors() {
        assert_eq!(parse_tlv_map("ovs-ofctl: br0 is not a bridge or a socket\n"), Err(TlvError::NoTable));
        assert_eq!(parse_tlv_map(""), Err(TlvError::NoTable));
        for bad in [
            "0x102 0x80 4 tun_metadata",
            "0x102 0x80 4 tun_metadataX",
            "0x1ffff 0x80 4 tun_metadata0",
            "0x102 0x80 4",
            "0x102 0x80 4 tun_metadata0 x",
            "0x102 0x80 four tun_metadata0",
        ] {
            let text = format!("{OVN}{bad}\n");
            assert!(matches!(parse_tlv_map(&text), Err(TlvError::BadRow { line: 9, .. })), "{bad}");
        }
    }

    #[test]
    fn arg_round_trip() {
        let arg = "{class=0x102,type=0x80,len=4}->tun_metadata0,{class=0xffff,type=0x1,len=124}->tun_metadata63";
        let maps = parse_tlv_arg(arg).unwrap();
        assert_eq!(maps, [mapping(0x102, 0x80, 4, "tun_metadata0"), mapping(0xffff, 1, 124, "tun_metadata63")]);
        assert_eq!(tlv_map_arg(&maps), arg);
        assert_eq!(
            parse_tlv_arg("{class=258,type=128,len=4}->tun_metadata0").unwrap(),
            [mapping(0x102, 0x80, 4, "tun_metadata0")]
        );
        assert_eq!(parse_tlv_arg("").unwrap(), []);
    }

    #[test]
    fn bad_args() {
        for bad in [
            "x",
            "{class=0x102,type=0x80,len=4}",
            "{class=0x102,type=0x80,len=4}->tun_metadata",
            "{class=0x102,type=0x80,len=4}->tun_metadata0,",
            "{class=0x102,type=0x80,len=4}->tun_metadata0;rm",
            "{type=0x80,class=0x102,len=4}->tun_metadata0",
            "{class=0x10000,type=0x80,len=4}->tun_metadata0",
            "{class=0x102,type=0x100,len=4}->tun_metadata0",
        ] {
            assert!(matches!(parse_tlv_arg(bad), Err(TlvError::BadArg(_))), "{bad}");
        }
    }

    #[test]
    fn display() {
        assert_eq!(mapping(0xffff, 1, 4, "tun_metadata0").to_string(), "{class=0xffff,type=0x1,len=4}->tun_metadata0");
    }
}
