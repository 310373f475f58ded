//! `ovs-ofctl dump-meters` output → one `ovs-ofctl add-meter` argument per
//! meter, placeholder meters, and the meters a flow's actions need.
//!
//! The dump prints a meter over several lines, meters separated by a blank
//! line:
//!
//! ```text
//! OFPST_METER_CONFIG reply (OF1.3) (xid=0x2):
//! meter=1 pktps stats bands=
//! type=drop rate=10
//!
//! meter=2 kbps burst stats bands=
//! type=drop rate=10 burst_size=20
//! type=drop rate=50 burst_size=60
//! ```
//!
//! `ovs-ofctl` has no bulk meter command, so each meter becomes
//! `meter=1,pktps,stats,bands=type=drop,rate=10` for its own `add-meter`.
//! Meter dumps are small (one entry per meter, not per flow): they are read
//! whole into a `Vec`.

use super::for_each_line;
use std::io::{self, BufRead};

/// Meter ids above this are the reserved virtual meters.
const MAX_ID: u32 = 0xffff_0000;
/// The reserved meters `ovs-ofctl` names instead of numbering.
const NAMED_IDS: [(u32, &str); 3] = [(0xffff_fffd, "slowpath"), (0xffff_fffe, "controller"), (0xffff_ffff, "all")];
/// Meter flags the `add-meter` parser knows.
const FLAGS: [&str; 4] = ["kbps", "pktps", "burst", "stats"];
/// Band properties the `add-meter` parser knows.
const BAND_KEYS: [&str; 4] = ["type", "rate", "burst_size", "prec_level"];

/// One meter of a dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meter {
    /// Meter id; the reserved `slowpath`, `controller`, `all` meters are
    /// 0xfffffffd, 0xfffffffe, 0xffffffff.
    pub id: u32,
    /// What `ovs-ofctl add-meter BR` takes, e.g.
    /// `meter=1,pktps,stats,bands=type=drop,rate=10`.
    pub spec: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MeterError {
    #[error("cannot read the meter dump: {0}")]
    Io(#[from] io::Error),
    #[error("line {line}: not part of a meter dump: {text:?}")]
    Unrecognised { line: usize, text: String },
    #[error("line {line}: band without a meter before it: {text:?}")]
    BandWithoutMeter { line: usize, text: String },
    #[error("line {line}: meter {id} has no bands")]
    NoBands { line: usize, id: String },
    #[error("line {line}: {what} cannot be restored with add-meter: {text:?}")]
    Unsupported { line: usize, what: String, text: String },
}

/// True for a meter-configuration reply header.
fn is_meter_header(line: &str) -> bool {
    line.trim_start().starts_with("OFPST_METER_CONFIG reply")
}

/// Reads a whole `dump-meters` output. Any line that is neither a header,
/// blank, a meter line nor a band line (an `ovs-ofctl: …` error stored in
/// the file, a decode error) is an error: the dump is not usable as is.
pub fn parse_meters<R: BufRead>(reader: R) -> Result<Vec<Meter>, MeterError> {
    let mut meters = Vec::new();
    let mut current: Option<Pending> = None;
    let mut line_no = 0;
    let mut error = None;
    for_each_line(reader, |line| {
        line_no += 1;
        if error.is_none() {
            if let Err(e) = meter_line(line, line_no, &mut current, &mut meters) {
                error = Some(e);
            }
        }
        Ok(())
    })?;
    if let Some(e) = error {
        return Err(e);
    }
    if let Some(pending) = current {
        meters.push(pending.finish()?);
    }
    Ok(meters)
}

/// A meter whose band lines are still being read.
struct Pending {
    line: usize,
    id: u32,
    spec: String,
    bands: usize,
}

impl Pending {
    fn finish(self) -> Result<Meter, MeterError> {
        if self.bands == 0 {
            return Err(MeterError::NoBands { line: self.line, id: format_id(self.id) });
        }
        Ok(Meter { id: self.id, spec: self.spec })
    }
}

fn meter_line(
    line: Option<&str>,
    line_no: usize,
    current: &mut Option<Pending>,
    meters: &mut Vec<Meter>,
) -> Result<(), MeterError> {
    let Some(line) = line else {
        return Err(MeterError::Unrecognised { line: line_no, text: "<not UTF-8>".into() });
    };
    let text = line.trim();
    if text.is_empty() || is_meter_header(text) {
        return Ok(());
    }
    if text.starts_with("meter=") {
        if let Some(done) = current.take() {
            meters.push(done.finish()?);
        }
        *current = Some(parse_meter_line(text, line_no)?);
        return Ok(());
    }
    if text.starts_with("type=") {
        let Some(pending) = current.as_mut() else {
            return Err(MeterError::BandWithoutMeter { line: line_no, text: text.into() });
        };
        pending.spec.push_str(if pending.bands == 0 { "bands=" } else { "," });
        pending.spec.push_str(&parse_band_line(text, line_no)?);
        pending.bands += 1;
        return Ok(());
    }
    Err(MeterError::Unrecognised { line: line_no, text: text.into() })
}

/// `meter=1 pktps stats bands=` → the spec's head `meter=1,pktps,stats,`.
fn parse_meter_line(text: &str, line: usize) -> Result<Pending, MeterError> {
    let unsupported = |what: String| MeterError::Unsupported { line, what, text: text.into() };
    let mut words = text.split_whitespace();
    let id_text = words.next().and_then(|w| w.strip_prefix("meter=")).unwrap_or_default();
    let id = parse_id(id_text).ok_or_else(|| unsupported(format!("meter id {id_text:?}")))?;
    let mut spec = format!("meter={},", format_id(id));
    let mut saw_bands = false;
    for word in words {
        if saw_bands {
            return Err(MeterError::Unrecognised { line, text: text.into() });
        }
        if word == "bands=" {
            saw_bands = true;
        } else if FLAGS.contains(&word) {
            spec.push_str(word);
            spec.push(',');
        } else {
            return Err(unsupported(format!("meter flag {word:?}")));
        }
    }
    if !saw_bands {
        return Err(MeterError::Unrecognised { line, text: text.into() });
    }
    Ok(Pending { line, id, spec, bands: 0 })
}

/// `type=drop rate=10 burst_size=20` → `type=drop,rate=10,burst_size=20`.
fn parse_band_line(text: &str, line: usize) -> Result<String, MeterError> {
    let mut out = Vec::new();
    for word in text.split_whitespace() {
        let known = word
            .split_once('=')
            .is_some_and(|(key, value)| BAND_KEYS.contains(&key) && !value.is_empty() && !value.contains(','));
        if !known {
            let what = format!("band property {word:?}");
            return Err(MeterError::Unsupported { line, what, text: text.into() });
        }
        out.push(word);
    }
    Ok(out.join(","))
}

fn parse_id(text: &str) -> Option<u32> {
    if let Some(&(id, _)) = NAMED_IDS.iter().find(|(_, name)| *name == text) {
        return Some(id);
    }
    text.parse().ok().filter(|id| (1..=MAX_ID).contains(id))
}

fn format_id(id: u32) -> String {
    match NAMED_IDS.iter().find(|(named, _)| *named == id) {
        Some((_, name)) => name.to_string(),
        None => id.to_string(),
    }
}

/// An `add-meter` argument for a meter that lets all traffic through, for a
/// flow that refers to a meter the capture lacks (`meter:N` to a missing
/// meter is refused with `OFPMMFC_INVALID_METER`).
///
/// One drop band at the highest rate OpenFlow can express, 2^32-1 packets
/// per second: no replica (or real switch) forwards 4 billion packets per
/// second, so the band never drops. `pktps` rather than `kbps` so the limit
/// does not depend on packet size. `stats` so `meter-stats` works on it. No
/// `burst`: the datapath then uses the rate as burst size, and its token
/// bucket (rate × 1000 in 64 bits) cannot overflow.
pub fn placeholder_meter(id: u32) -> String {
    format!("meter={},pktps,stats,bands=type=drop,rate={}", format_id(id), u32::MAX)
}

/// The meters a flow's actions use through the `meter:N` instruction
/// (OpenFlow 1.3/1.4) or action (1.5), each once, in order. Ignores
/// `controller(…,meter_id=N)`, which `ovs-vswitchd` accepts without the
/// meter.
pub fn meter_ids_in_flow(line: &str) -> Vec<u32> {
    super::flows::action_ids(line, "meter:")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<Meter>, MeterError> {
        parse_meters(text.as_bytes())
    }

    fn specs(text: &str) -> Vec<String> {
        parse(text).unwrap().into_iter().map(|m| m.spec).collect()
    }

    #[test]
    fn one_meter() {
        let dump = "OFPST_METER_CONFIG reply (OF1.3) (xid=0x2):\nmeter=1 pktps stats bands=\ntype=drop rate=10\n";
        assert_eq!(parse(dump).unwrap(), [Meter { id: 1, spec: "meter=1,pktps,stats,bands=type=drop,rate=10".into() }]);
        // OVS 3.5's dump of a meter added without `stats`.
        let dump = "OFPST_METER_CONFIG reply (OF1.5) (xid=0x2):\nmeter=1 pktps bands=\ntype=drop rate=100\n";
        assert_eq!(specs(dump), ["meter=1,pktps,bands=type=drop,rate=100"]);
    }

    #[test]
    fn several_meters_and_bands() {
        let dump = "\
OFPST_METER_CONFIG reply (OF1.5) (xid=0x2):
meter=200000 pktps bands=
type=drop rate=10

meter=2 kbps burst stats bands=
type=drop rate=10 burst_size=20
type=drop rate=50 burst_size=60

meter=controller pktps bands=
type=drop rate=10
";
        let meters = parse(dump).unwrap();
        assert_eq!(
            meters.iter().map(|m| m.spec.as_str()).collect::<Vec<_>>(),
            [
                "meter=200000,pktps,bands=type=drop,rate=10",
                "meter=2,kbps,burst,stats,bands=type=drop,rate=10,burst_size=20,type=drop,rate=50,burst_size=60",
                "meter=controller,pktps,bands=type=drop,rate=10",
            ]
        );
        assert_eq!(meters.iter().map(|m| m.id).collect::<Vec<_>>(), [200_000, 2, 0xffff_fffe]);
    }

    #[test]
    fn dscp_remark_band_kept() {
        let dump = "meter=5 pktps bands=\ntype=dscp_remark rate=10 prec_level=1\n";
        assert_eq!(specs(dump), ["meter=5,pktps,bands=type=dscp_remark,rate=10,prec_level=1"]);
    }

    #[test]
    fn empty_dump() {
        assert!(parse("OFPST_METER_CONFIG reply (OF1.3) (xid=0x2):\n").unwrap().is_empty());
        assert!(parse("").unwrap().is_empty());
    }

    #[test]
    fn errors() {
        // sos stores ovs-ofctl's complaint for OpenFlow10 in the dump file.
        let of10 = "ovs-ofctl: none of the usable flow formats (OXM-OpenFlow13,OXM-OpenFlow14,OXM-OpenFlow15) is among the allowed flow formats (OpenFlow10,NXM)\n";
        assert!(matches!(parse(of10), Err(MeterError::Unrecognised { line: 1, .. })));
        assert!(matches!(parse("type=drop rate=1\n"), Err(MeterError::BandWithoutMeter { line: 1, .. })));
        assert!(matches!(
            parse("meter=1 pktps bands=\nmeter=2 pktps bands=\ntype=drop rate=1\n"),
            Err(MeterError::NoBands { line: 1, .. })
        ));
        assert!(matches!(parse("meter=3 pktps bands=\n"), Err(MeterError::NoBands { line: 1, .. })));
        assert!(matches!(
            parse("meter=1 pktps flags:0x10 bands=\ntype=drop rate=1\n"),
            Err(MeterError::Unsupported { line: 1, .. })
        ));
        assert!(matches!(parse("meter=unknown pktps bands=\n"), Err(MeterError::Unsupported { .. })));
        assert!(matches!(parse("meter=0 pktps bands=\n"), Err(MeterError::Unsupported { .. })));
        assert!(matches!(
            parse("meter=1 pktps bands=\ntype=drop rate=1 color=red\n"),
            Err(MeterError::Unsupported { line: 2, .. })
        ));
        assert!(matches!(parse("meter=1 pktps\n"), Err(MeterError::Unrecognised { .. })));
        let e = parse("meter=1 pktps bands=\n***decode error: OFPBRC_BAD_LEN***\n").unwrap_err();
        assert_eq!(e.to_string(), "line 2: not part of a meter dump: \"***decode error: OFPBRC_BAD_LEN***\"");
    }

    #[test]
    fn placeholder() {
        assert_eq!(placeholder_meter(7), "meter=7,pktps,stats,bands=type=drop,rate=4294967295");
        assert_eq!(placeholder_meter(0xffff_fffe), "meter=controller,pktps,stats,bands=type=drop,rate=4294967295");
    }

    #[test]
    fn meter_ids() {
        assert_eq!(meter_ids_in_flow("cookie=0xe2, priority=90,in_port=2 actions=meter:1,resubmit(,1)"), [1]);
        assert_eq!(meter_ids_in_flow("priority=1 actions=meter:3,clone(meter:4,output:1),meter:3"), [3, 4]);
        assert_eq!(meter_ids_in_flow("priority=1 actions=controller(userdata=00.00,meter_id=1)"), Vec::<u32>::new());
        assert_eq!(meter_ids_in_flow("priority=1 actions=drop"), Vec::<u32>::new());
        assert_eq!(meter_ids_in_flow("priority=1,reg0=1 actions=note:6d657465723a31"), Vec::<u32>::new());
        assert_eq!(meter_ids_in_flow("no actions here meter:1"), Vec::<u32>::new());
    }
}
