//! `ovs-ofctl dump-flows` output → lines `ovs-ofctl add-flows` accepts.
//!
//! Handles both `--no-stats` dumps (as ovs-save writes them) and dumps with
//! statistics (as sos stores them): reply headers (`NXST_FLOW reply …`,
//! `OFPST_FLOW reply … flags=[more]`) and blank lines go; the statistics
//! `duration=`, `n_packets=`, `n_bytes=`, `idle_age=`, `hard_age=` go (the
//! parser would ignore them, but they are noise in a 1M-flow file); so do
//! `idle_timeout=` and `hard_timeout=` (counted: a replica sees no traffic,
//! and a timed flow would vanish from it while it is being used); and, as
//! ovs-save does, the IGMP spelling the printer uses but the parser rejects
//! is rewritten: `igmp_type` → `tp_src`, `igmp_code` → `tp_dst`, `igmp` →
//! `ip,nw_proto=2`. Only the part before `actions=` is touched, item by item,
//! so `igmp_type=` never becomes `ip,nw_proto=2_type=` (ovs-dbg's bug).
//! OVS ≥ 2.17 prints `ip,nw_proto=2` itself; the rewrite matters for dumps
//! of older switches.
//!
//! `***decode error: …***` lines and the hex dump after them (a reply
//! `ovs-ofctl` could not decode) are never written, only counted: the dump is
//! then incomplete (`ovs-ofctl` stops decoding that reply message at the
//! bad flow: the flows after it in the message, up to 64 KiB of them, are
//! lost too). Does not check that a flow is valid; the
//! real parser does that when the replica loads it.
//!
//! Text cannot say everything: OVN's `dec_ttl()` (no controller ids) is
//! printed so but parsed back as plain `dec_ttl` (controller id 0); that
//! flow differs in the replica, here as with ovs-save.

use super::{filter_dump, DumpStats};
use std::io::{self, BufRead, Write};

/// Statistics printed before the match; never part of a flow to add.
const STATS: [&str; 5] = ["duration", "n_packets", "n_bytes", "idle_age", "hard_age"];

/// Timeouts: a replica sees no traffic, so an idle or hard timeout would
/// only make the flow vanish from it seconds or minutes after start.
const TIMEOUTS: [&str; 2] = ["idle_timeout", "hard_timeout"];

/// True for a flow-stats reply header, with or without ` flags=[more]`.
pub fn is_flow_header(line: &str) -> bool {
    let line = line.trim_start();
    line.starts_with("NXST_FLOW reply") || line.starts_with("OFPST_FLOW reply")
}

/// One dumped flow as `add-flows` takes it: trimmed, statistics and
/// timeouts removed and IGMP fields respelled, in the part before
/// `actions=` only.
///
/// ` cookie=0x0, duration=7.866s, table=0, n_packets=0, n_bytes=0, reset_counts idle_age=7, priority=50,ip,in_port=1 actions=ct(table=1,zone=64000)`
/// becomes
/// `cookie=0x0, table=0, reset_counts priority=50,ip,in_port=1 actions=ct(table=1,zone=64000)`.
#[cfg(test)]
fn normalise_flow(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    normalise_flow_into(line, &mut out);
    out
}

/// Normalises `line` into `out` (see `normalise_flow`); returns true when
/// a timeout was dropped.
fn normalise_flow_into(line: &str, out: &mut String) -> bool {
    let line = line.trim();
    let split = actions_start(line).unwrap_or(line.len());
    let (head, actions) = line.split_at(split);
    let mut timeout = false;
    for (item, sep) in Items::new(head) {
        match item.split_once('=') {
            Some((name, _)) if STATS.contains(&name) => continue,
            Some((name, _)) if TIMEOUTS.contains(&name) => {
                timeout = true;
                continue;
            }
            Some(("igmp_type", value)) => {
                out.push_str("tp_src=");
                out.push_str(value);
            }
            Some(("igmp_code", value)) => {
                out.push_str("tp_dst=");
                out.push_str(value);
            }
            None if item == "igmp" => out.push_str("ip,nw_proto=2"),
            _ => out.push_str(item),
        }
        out.push_str(sep);
    }
    out.push_str(actions);
    timeout
}

/// Streams a `dump-flows` output from `reader` to `writer`, one normalised
/// flow per line (statistics and timeouts removed, IGMP fields respelled). Memory use does not depend on
/// the dump's size.
pub fn normalise_flows<R: BufRead, W: Write>(reader: R, writer: W) -> io::Result<DumpStats> {
    let mut timeouts = 0;
    let mut stats = filter_dump(reader, writer, is_flow_header, |line, out| {
        if actions_start(line).is_none() {
            return false;
        }
        timeouts += usize::from(normalise_flow_into(line, out));
        true
    })?;
    stats.timeouts = timeouts;
    Ok(stats)
}

/// Byte offset of the `actions=` that ends the match: at the start of the
/// line or after a space or comma.
pub(crate) fn actions_start(line: &str) -> Option<usize> {
    line.match_indices("actions=").map(|(i, _)| i).find(|&i| i == 0 || matches!(line.as_bytes()[i - 1], b' ' | b','))
}

/// The numbers `keyword` (`meter:`, `group:`) takes in a flow's actions,
/// each once, in order, wherever the action stands (also inside `clone(…)`):
/// `keyword` counts only after `=`, `,` or `(`, so `meter_id=1` or a note's
/// hex never do.
pub(crate) fn action_ids(line: &str, keyword: &str) -> Vec<u32> {
    let Some(start) = actions_start(line) else {
        return Vec::new();
    };
    let actions = &line[start..];
    let mut ids = Vec::new();
    for (i, _) in actions.match_indices(keyword) {
        if !matches!(actions.as_bytes()[i - 1], b'=' | b',' | b'(') {
            continue;
        }
        let digits: &str = &actions[i + keyword.len()..];
        let end = digits.find(|c: char| !c.is_ascii_digit()).unwrap_or(digits.len());
        if let Ok(id) = digits[..end].parse::<u32>() {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    ids
}

/// The items of a flow's head (everything before `actions=`): split at
/// commas and spaces outside parentheses (`packet_type=(0,0x800)`) and
/// double quotes (`in_port="my port"`); each comes with the separators that
/// follow it, so the line can be rebuilt byte for byte.
struct Items<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Items<'a> {
    fn new(s: &'a str) -> Self {
        Items { s, pos: 0 }
    }
}

impl<'a> Iterator for Items<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        let b = self.s.as_bytes();
        if self.pos >= b.len() {
            return None;
        }
        let start = self.pos;
        let (mut depth, mut quoted) = (0usize, false);
        let mut i = start;
        while i < b.len() {
            match b[i] {
                b'"' => quoted = !quoted,
                b'(' if !quoted => depth += 1,
                b')' if !quoted => depth = depth.saturating_sub(1),
                b',' | b' ' if !quoted && depth == 0 => break,
                _ => {}
            }
            i += 1;
        }
        let end = i;
        while i < b.len() && matches!(b[i], b',' | b' ') {
            i += 1;
        }
        self.pos = i;
        Some((&self.s[start..end], &self.s[end..i]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &str) -> (String, DumpStats) {
        let mut out = Vec::new();
        let stats = normalise_flows(input.as_bytes(), &mut out).unwrap();
        (String::from_utf8(out).unwrap(), stats)
    }

    #[test]
    fn timeouts_are_dropped_and_counted() {
        let (out, stats) = run(" cookie=0x1, duration=3s, table=0, n_packets=0, n_bytes=0, idle_timeout=2, hard_timeout=300, \
                                idle_age=1, priority=5,ip actions=learn(table=1,idle_timeout=10,NXM_OF_IP_DST[]),drop\n \
                                cookie=0x2, priority=4 actions=drop\n");
        assert_eq!(
            out,
            "cookie=0x1, table=0, priority=5,ip actions=learn(table=1,idle_timeout=10,NXM_OF_IP_DST[]),drop\n\
             cookie=0x2, priority=4 actions=drop\n"
        );
        assert_eq!((stats.written, stats.timeouts), (2, 1));
    }

    #[test]
    fn headers() {
        assert!(is_flow_header("NXST_FLOW reply (xid=0x4):"));
        assert!(is_flow_header("NXST_FLOW reply (xid=0x4): flags=[more]"));
        assert!(is_flow_header("OFPST_FLOW reply (OF1.3) (xid=0x2): flags=[more]"));
        assert!(is_flow_header("OFPST_FLOW reply (OF1.5) (xid=0x2):"));
        assert!(!is_flow_header(" cookie=0x0, priority=0 actions=drop"));
        assert!(!is_flow_header("OFPST_GROUP_DESC reply (OF1.3) (xid=0x2):"));
    }

    #[test]
    fn actions_start_needs_a_boundary() {
        assert_eq!(actions_start("priority=0 actions=drop"), Some(11));
        assert_eq!(actions_start("actions=NORMAL"), Some(0));
        assert_eq!(actions_start("priority=0,actions=drop"), Some(11));
        assert_eq!(actions_start("ovs-ofctl: br0 is not a bridge or a socket"), None);
        assert_eq!(actions_start("priority=0 xactions=drop"), None);
    }

    #[test]
    fn stats_removed_sos_reset_counts_example() {
        let line = " cookie=0x0, duration=7.866s, table=0, n_packets=0, n_bytes=0, reset_counts idle_age=7, priority=50,ip,in_port=1 actions=ct(table=1,zone=64000)";
        assert_eq!(
            normalise_flow(line),
            "cookie=0x0, table=0, reset_counts priority=50,ip,in_port=1 actions=ct(table=1,zone=64000)"
        );
    }

    #[test]
    fn stats_and_timeouts_removed_keeps_other_fields() {
        let line = " cookie=0x2a, duration=1.5s, table=3, n_packets=?, n_bytes=12, idle_timeout=60, hard_timeout=120, send_flow_rem check_overlap importance=7, idle_age=1, hard_age=0, priority=10,tcp,tp_dst=80 actions=output:2";
        assert_eq!(
            normalise_flow(line),
            "cookie=0x2a, table=3, send_flow_rem check_overlap importance=7, priority=10,tcp,tp_dst=80 actions=output:2"
        );
    }

    #[test]
    fn empty_match_and_no_stats_lines() {
        assert_eq!(
            normalise_flow(" cookie=0x0, duration=2s, table=0, n_packets=3, n_bytes=126, idle_age=3, actions=NORMAL"),
            "cookie=0x0, table=0, actions=NORMAL"
        );
        assert_eq!(normalise_flow(" actions=NORMAL"), "actions=NORMAL");
        assert_eq!(
            normalise_flow(" cookie=0xe1, priority=100,ip,in_port=1 actions=group:1"),
            "cookie=0xe1, priority=100,ip,in_port=1 actions=group:1"
        );
    }

    #[test]
    fn actions_are_never_touched() {
        let line = "priority=1 actions=learn(table=69,idle_age=5,n_packets=1),note:69676d70,controller(userdata=00.01)";
        assert_eq!(normalise_flow(line), line);
        let line = "priority=1,ip actions=set_field:2->nw_proto,igmp";
        assert_eq!(normalise_flow(line), line);
    }

    #[test]
    fn igmp_rewrites_in_order_with_word_boundaries() {
        assert_eq!(normalise_flow("priority=5,igmp actions=drop"), "priority=5,ip,nw_proto=2 actions=drop");
        assert_eq!(
            normalise_flow("priority=5,igmp,igmp_type=0x11,igmp_code=0 actions=drop"),
            "priority=5,ip,nw_proto=2,tp_src=0x11,tp_dst=0 actions=drop"
        );
        // igmp as the first or only item, next to other fields.
        assert_eq!(normalise_flow("igmp,in_port=1 actions=NORMAL"), "ip,nw_proto=2,in_port=1 actions=NORMAL");
        assert_eq!(normalise_flow("igmp actions=NORMAL"), "ip,nw_proto=2 actions=NORMAL");
        // Never inside other words or values.
        for keep in [
            "priority=5,igmpx actions=drop",
            "priority=5,reg0=0x1,xigmp actions=drop",
            "priority=5,igmp_typex=1 actions=drop",
        ] {
            assert_eq!(normalise_flow(keep), keep);
        }
        assert!(!normalise_flow("igmp,igmp_type=17 actions=drop").contains("nw_proto=2_type"));
    }

    #[test]
    fn parentheses_and_quotes_stay_whole() {
        assert_eq!(
            normalise_flow("duration=1s, packet_type=(0,0x800),n_packets=1, priority=1 actions=drop"),
            "packet_type=(0,0x800),priority=1 actions=drop"
        );
        assert_eq!(
            normalise_flow(r#"n_bytes=0, in_port="my port, igmp",priority=1 actions=drop"#),
            r#"in_port="my port, igmp",priority=1 actions=drop"#
        );
    }

    #[test]
    fn stream_drops_headers_blanks_and_decode_errors() {
        let input = "\
NXST_FLOW reply (xid=0x4): flags=[more]
 cookie=0x1, duration=1.0s, table=0, n_packets=0, n_bytes=0, idle_age=1, priority=1 actions=drop

NXST_FLOW reply (xid=0x4):
 cookie=0x2, duration=1.0s, table=1, n_packets=0, n_bytes=0, idle_age=1, priority=2,igmp actions=NORMAL
***decode error: OFPBAC_BAD_TYPE***
00000000  01 0e 00 58 00 00 00 02-00 00 00 00 00 00 00 00 |...X............|
00000010  00 00 00 00 00 00 00 00-00 00 00 00 00 00 00 00 |................|
OFPST_FLOW reply (OF1.3) (xid=0x2): ***decode error: OFPBRC_BAD_LEN***
00000000  04 13 00 10 00 00 00 02-00 01 00 00 00 00 00 00 |................|
 cookie=0x3, table=2, priority=3 actions=drop
";
        let (out, stats) = run(input);
        assert_eq!(
            out,
            "cookie=0x1, table=0, priority=1 actions=drop\n\
             cookie=0x2, table=1, priority=2,ip,nw_proto=2 actions=NORMAL\n\
             cookie=0x3, table=2, priority=3 actions=drop\n"
        );
        assert_eq!(stats, DumpStats { written: 3, decode_errors: 2, ..Default::default() });
    }

    #[test]
    fn stream_ignores_error_messages() {
        let (out, stats) = run("ovs-ofctl: br9 is not a bridge or a socket\n");
        assert_eq!(out, "");
        assert_eq!(stats.written, 0);
        assert_eq!(stats.ignored, 1);
        assert_eq!(stats.first_ignored.as_deref(), Some("ovs-ofctl: br9 is not a bridge or a socket"));
    }

    #[test]
    fn stream_empty_input() {
        let (out, stats) = run("");
        assert_eq!((out.as_str(), stats), ("", DumpStats::default()));
    }

    /// Found by `scripts/fuzz flow_dump`: without its statistics a line read
    /// as a reply header, so normalising the output again dropped it.
    #[test]
    fn statistics_never_hide_a_header() {
        let dump = "duration=7s, n_packets=0, NXST_FLOW reply priority=50,ip actions=drop\n\
                    duration=7s, 00000000  01 0e actions=drop\npriority=0 actions=NORMAL\n";
        let (out, stats) = run(dump);
        assert_eq!((out.as_str(), stats.written, stats.ignored), ("priority=0 actions=NORMAL\n", 1, 2));
        assert_eq!(run(&out).0, out);
    }
}
