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
//! `ip,nw_proto=2`. These rewrites touch only the part before `actions=`, item by item,
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
//! In the actions, one spelling the printer uses and the parser rejects is
//! respelled: a `set_field` with a mask on a field ovs-fields(7) calls "not
//! maskable" (`set_field:10/0xfffff->mpls_label`, printed by OpenFlow 1.5
//! for a `load:` into the field) becomes that `load:`
//! (`load:0xa->mpls_label[0..19]`), which OVS encodes as the original did:
//! dumps in every version then print what production's print.
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
    respell_actions(actions, out);
    timeout
}

/// Fields OVS can write but not mask (ovs-fields(7) of OVS 3.1: "Masking:
/// not maskable", "Access: read/write"), aliases included. OVS prints a
/// masked `load:` into one of them as `set_field:V/M->F` (OpenFlow 1.5) and
/// refuses that text: `invalid mask for field F`.
const UNMASKABLE: [&str; 23] = [
    "in_port",
    "in_port_oxm",
    "vlan_pcp",
    "mpls_label",
    "mpls_tc",
    "mpls_ttl",
    "nw_ttl",
    "nw_tos",
    "ip_dscp",
    "nw_ecn",
    "ip_ecn",
    "arp_op",
    "nsh_ttl",
    "nsh_spi",
    "nsp",
    "nsh_si",
    "nsi",
    "icmp_type",
    "icmp_code",
    "icmpv6_type",
    "icmpv6_code",
    "nd_reserved",
    "nd_options_type",
];

const SET_FIELD: &str = "set_field:";

/// Copies `actions` to `out`, each masked `set_field` into an unmaskable
/// field respelled as the `load:` actions it stands for (one per run of
/// set bits of the mask, as OVS prints a `load:`). Measured on 1M OVN
/// flows: ~0.07 s over copying the actions as they are (memchr's search;
/// `str::find` took ten times that).
fn respell_actions(actions: &str, out: &mut String) {
    let mut rest = actions;
    while let Some(at) = memchr::memmem::find(rest.as_bytes(), SET_FIELD.as_bytes()) {
        let start = at + SET_FIELD.len();
        let boundary = at == 0 || matches!(rest.as_bytes()[at - 1], b',' | b'(' | b'=');
        let end = rest[start..].find([',', ')']).map_or(rest.len(), |e| start + e);
        match masked_load(&rest[start..end]).filter(|_| boundary) {
            Some(loads) => {
                out.push_str(&rest[..at]);
                out.push_str(&loads);
            }
            None => out.push_str(&rest[..end]),
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
}

/// `V/M->F` with F unmaskable → `load:…->F[a..b]`, one per run of M's set
/// bits; `None` for anything else (left as it is).
fn masked_load(arg: &str) -> Option<String> {
    let (value, field) = arg.split_once("->")?;
    if !UNMASKABLE.contains(&field) {
        return None;
    }
    let (value, mask) = value.split_once('/')?;
    let (value, mut mask) = (super::number::<u64>(value)?, super::number::<u64>(mask)?);
    let mut loads = Vec::new();
    while mask != 0 {
        let low = mask.trailing_zeros();
        let len = (mask >> low).trailing_ones();
        let run = if len == 64 { u64::MAX } else { ((1u64 << len) - 1) << low };
        loads.push(format!("load:{:#x}->{field}[{low}..{}]", (value & run) >> low, low + len - 1));
        mask &= !run;
    }
    (!loads.is_empty()).then(|| loads.join(","))
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
    fn statistics_and_igmp_words_in_actions_are_kept() {
        let line = "priority=1 actions=learn(table=69,idle_age=5,n_packets=1),note:69676d70,controller(userdata=00.01)";
        assert_eq!(normalise_flow(line), line);
        let line = "priority=1,ip actions=set_field:2->nw_proto,igmp";
        assert_eq!(normalise_flow(line), line);
    }

    /// OVS 3.1 prints a `load:` into a field that takes no mask as a masked
    /// `set_field` in OpenFlow 1.5 dumps (`load:10->mpls_label[]` dumps as
    /// `set_field:10/0xfffff->mpls_label`) and refuses that text ("invalid
    /// mask for field mpls_label"); the `load:` it stands for is accepted and
    /// dumps as production's in 1.5 and in 1.3/1.4 (`load:0xa->OXM_OF_MPLS_LABEL[]`).
    #[test]
    fn full_masks_on_unmaskable_fields_become_loads() {
        let cases = [
            ("set_field:10/0xfffff->mpls_label,output:2", "load:0xa->mpls_label[0..19],output:2"),
            ("set_field:63/0x3f->ip_dscp", "load:0x3f->ip_dscp[0..5]"),
            ("set_field:4/0xfc->nw_tos", "load:0x1->nw_tos[2..7]"),
            ("set_field:1/0x3->nw_ecn", "load:0x1->nw_ecn[0..1]"),
            ("clone(set_field:5/0x5->mpls_tc)", "clone(load:0x1->mpls_tc[0..0],load:0x1->mpls_tc[2..2])"),
            (
                "ct(commit,exec(set_field:0x1/0x1->ct_mark)),set_field:0x1234/0xffffff->nsh_spi",
                "ct(commit,exec(set_field:0x1/0x1->ct_mark)),load:0x1234->nsh_spi[0..23]",
            ),
        ];
        for (actions, respelled) in cases {
            let line = format!("priority=1,ip actions={actions}");
            assert_eq!(normalise_flow(&line), format!("priority=1,ip actions={respelled}"), "{actions}");
        }
        // Maskable fields, unmasked values, names and notes stay as printed.
        for keep in [
            "set_field:0x2/0x2->xxreg0,set_field:0x4/0xffffff->tun_id",
            "set_field:10->mpls_label",
            "set_field:1/0xff->in_port_name",
            "note:7365745f6669656c643a31302f3078662d3e6d706c735f6c6162656c",
            "xset_field:1/0x1->nw_ecn",
            "set_field:LOCAL/0xff->in_port",
            "set_field:0/0->nw_ecn",
        ] {
            let line = format!("priority=1 actions={keep}");
            assert_eq!(normalise_flow(&line), line);
        }
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
