//! The text `ovs-appctl ofproto/trace` prints, read into structured steps:
//! one [`Pass`] per pipeline run (the first, then one per recirculation),
//! each with the OpenFlow tables it went through ([`Step`]: table,
//! priority, cookie, match, actions, resubmits, outputs, drops), its final
//! flow, megaflow and datapath actions. The text is what a replica's
//! vswitchd printed for collected flows: hostile-safe (any bytes give a
//! result, nothing is trusted to be well formed), every kept value one
//! line. Nesting is read from indentation, as OVS prints it.

use serde::Serialize;

/// A whole trace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Trace {
    pub passes: Vec<Pass>,
}

/// One run of the pipeline: the first, or a resumed recirculation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Pass {
    /// The recirculation header (`recirc(0x1) - resume conntrack …`), for
    /// every pass but the first.
    pub recirc: Option<String>,
    /// The flow the pass started with (`Flow:`).
    pub flow: Option<String>,
    pub steps: Vec<Step>,
    pub final_flow: Option<String>,
    pub megaflow: Option<String>,
    /// The datapath actions; `drop` when OVS printed that.
    pub datapath_actions: Option<String>,
    /// Other lines of the pass outside any table (`thaw`, `Resuming from
    /// table 15`, warnings).
    pub notes: Vec<String>,
    /// The steps' lines in the order OVS executed them: a resubmitted
    /// table's lines come between its caller's (for values that change
    /// along the way, as `tun_metadata0` set, moved into and output).
    #[serde(skip)]
    pub executed: Vec<Executed>,
}

/// One line of a step, by index: an action or one of OVS's notes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Executed {
    pub step: usize,
    pub line: Line,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line {
    Action(usize),
    Note(usize),
}

impl Pass {
    /// The steps' lines in execution order, with the step of each.
    pub fn executed(&self) -> impl Iterator<Item = (&Step, &str)> {
        self.executed.iter().filter_map(|e| {
            let step = self.steps.get(e.step)?;
            let line = match e.line {
                Line::Action(n) => step.actions.get(n)?,
                Line::Note(n) => step.notes.get(n)?,
            };
            Some((step, line.as_str()))
        })
    }
}

/// One OpenFlow table lookup.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Step {
    pub bridge: String,
    /// How deep in resubmits (0: looked up by the pipeline itself).
    pub depth: usize,
    pub table: u32,
    /// False for `No match.`.
    pub matched: bool,
    /// The flow's match, as OVS printed it (empty for a catch-all).
    #[serde(rename = "match")]
    pub flow_match: String,
    pub priority: Option<u32>,
    pub cookie: Option<String>,
    /// The actions executed, one per line, as printed.
    pub actions: Vec<String>,
    /// OVS's explanations (`-> …` lines, `>> …` errors).
    pub notes: Vec<String>,
    /// Tables resubmitted to (`resubmit(,N)`, `goto_table:N`).
    pub resubmits: Vec<u32>,
    /// Ports output to (`output:N`, `NORMAL`, `IN_PORT`, …).
    pub outputs: Vec<String>,
    /// The step ends the packet's path: no match, or an explicit drop.
    pub drop: bool,
}

/// The longest a kept value may be: a trace line is bounded by OVS, the
/// text given to the parser is not.
const MAX_LINE: usize = 64 * 1024;

/// Reads a trace. Lines that fit no known shape are kept as notes.
pub fn parse(text: &str) -> Trace {
    let mut parser = Parser::default();
    for line in text.lines() {
        parser.line(line);
    }
    parser.finish()
}

#[derive(Default)]
struct Parser {
    trace: Trace,
    pass: Pass,
    /// Bridges entered, innermost last: (indentation, name).
    bridges: Vec<(usize, String)>,
    /// Steps open for actions, innermost last: (indentation, index).
    open: Vec<(usize, usize)>,
    /// Inside a `=====` banner (a recirculation header).
    in_banner: bool,
}

impl Parser {
    fn line(&mut self, raw: &str) {
        let text = bounded(raw.trim());
        let indent = raw.len() - raw.trim_start().len();
        if text.is_empty() || text.chars().all(|c| c == '-') {
            return;
        }
        if text.chars().all(|c| c == '=') {
            self.banner();
            return;
        }
        if self.in_banner {
            self.banner_line(text);
            return;
        }
        if let Some(rest) = text.strip_prefix("Flow: ") {
            self.pass.flow = Some(rest.to_string());
        } else if let Some(rest) = text.strip_prefix("Final flow: ") {
            self.pass.final_flow = Some(rest.to_string());
        } else if let Some(rest) = text.strip_prefix("Megaflow: ") {
            self.pass.megaflow = Some(rest.to_string());
        } else if let Some(rest) = text.strip_prefix("Datapath actions: ") {
            self.pass.datapath_actions = Some(rest.to_string());
        } else if let Some(name) = bridge_name(text) {
            self.bridges.retain(|(i, _)| *i < indent);
            self.bridges.push((indent, name.to_string()));
            self.open.retain(|(i, _)| *i < indent);
        } else if let Some(step) = step_header(text) {
            // Table numbers are right-aligned: nesting is where they end.
            let width = text.find('.').unwrap_or_default();
            self.step(indent + width, step);
        } else {
            self.action(indent, text);
        }
    }

    /// A `=====` line: the first opens a recirculation header, the second
    /// closes it.
    fn banner(&mut self) {
        if self.in_banner {
            self.in_banner = false;
            return;
        }
        self.in_banner = true;
        let done = std::mem::take(&mut self.pass);
        if done != Pass::default() {
            self.trace.passes.push(done);
        }
        self.bridges.clear();
        self.open.clear();
    }

    fn banner_line(&mut self, text: &str) {
        match &mut self.pass.recirc {
            None => self.pass.recirc = Some(text.to_string()),
            Some(_) => self.pass.notes.push(text.to_string()),
        }
    }

    /// A table lookup whose number ends at column `end`.
    fn step(&mut self, end: usize, mut step: Step) {
        self.bridges.retain(|(i, _)| *i < end);
        self.open.retain(|(i, _)| *i < end);
        let base = self.bridges.last().map_or(0, |(i, _)| *i);
        step.bridge = self.bridges.last().map(|(_, b)| b.clone()).unwrap_or_default();
        step.depth = end.saturating_sub(base + 2) / 4;
        self.open.push((end, self.pass.steps.len()));
        self.pass.steps.push(step);
    }

    fn action(&mut self, indent: usize, text: &str) {
        self.open.retain(|(i, _)| *i < indent);
        let Some(&(_, index)) = self.open.last() else {
            self.pass.notes.push(text.to_string());
            return;
        };
        let Some(step) = self.pass.steps.get_mut(index) else { return };
        if text.starts_with("->") || text.starts_with(">>") {
            self.pass.executed.push(Executed { step: index, line: Line::Note(step.notes.len()) });
            step.notes.push(text.to_string());
            return;
        }
        self.pass.executed.push(Executed { step: index, line: Line::Action(step.actions.len()) });
        if let Some(table) = resubmit_table(text) {
            step.resubmits.push(table);
        }
        if let Some(port) = output_port(text) {
            step.outputs.push(port.to_string());
        }
        if text == "drop" {
            step.drop = true;
        }
        step.actions.push(text.to_string());
    }

    fn finish(mut self) -> Trace {
        if self.pass != Pass::default() {
            self.trace.passes.push(self.pass);
        }
        self.trace
    }
}

/// At most [`MAX_LINE`] bytes of `text`, cut on a character boundary.
fn bounded(text: &str) -> &str {
    if text.len() <= MAX_LINE {
        return text;
    }
    let mut end = MAX_LINE;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// `bridge("NAME")`: the name.
fn bridge_name(text: &str) -> Option<&str> {
    text.strip_prefix("bridge(\"")?.strip_suffix("\")")
}

/// `N. MATCH, priority P, cookie C`, `N. priority P` or `N. No match.`.
fn step_header(text: &str) -> Option<Step> {
    let (table, rest) = text.split_once(". ")?;
    if table.is_empty() || table.len() > 3 || !table.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let table = table.parse().ok()?;
    if rest == "No match." {
        return Some(Step { table, drop: true, ..Step::default() });
    }
    let (rest, cookie) = match rest.rsplit_once(", cookie ") {
        Some((before, cookie)) => (before, Some(cookie.to_string())),
        None => (rest, None),
    };
    let (flow_match, priority) = match rest.rsplit_once("priority ") {
        Some((before, p)) if p.bytes().all(|b| b.is_ascii_digit()) && (before.is_empty() || before.ends_with(", ")) => {
            (before.trim_end_matches(", "), p.parse().ok())
        }
        _ => return None,
    };
    Some(Step { table, matched: true, flow_match: flow_match.to_string(), priority, cookie, ..Step::default() })
}

/// The table of `resubmit(PORT,N)`, `resubmit(,N)` or `goto_table:N`.
fn resubmit_table(action: &str) -> Option<u32> {
    if let Some(n) = action.strip_prefix("goto_table:") {
        return n.parse().ok();
    }
    let args = action.strip_prefix("resubmit(")?.strip_suffix(')')?;
    let table = args.split(',').nth(1)?;
    table.parse().ok()
}

/// The port of `output:PORT`, or a reserved port action (`NORMAL`, …).
fn output_port(action: &str) -> Option<&str> {
    const RESERVED: [&str; 6] = ["NORMAL", "IN_PORT", "FLOOD", "ALL", "LOCAL", "CONTROLLER"];
    if let Some(port) = action.strip_prefix("output:") {
        return Some(port);
    }
    RESERVED.contains(&action).then_some(action)
}

/// The datapath ports a datapath action list outputs to: bare numbers at
/// its top level or inside `clone(…)` and `sample(…actions(…))`.
pub fn datapath_outputs(actions: &str) -> Vec<u32> {
    datapath_rewrites(actions).into_iter().map(|(port, _)| port).collect()
}

/// Each datapath output of a datapath action list, in order, with the
/// packet rewrites in effect there (`set(eth(…))`, `set(ipv4(…))`, …)
/// as flow fields (`dl_src`, `nw_ttl`, …; `push_vlan`/`pop_vlan` as
/// `vlan_tci`): what the packet is as it leaves
/// through that port, beyond what the trace's final flow says. Outputs
/// count at the top level and inside `clone(…)` and `sample(…actions(…))`,
/// whose rewrites stay inside them; partially masked values are left out.
pub fn datapath_rewrites(actions: &str) -> Vec<(u32, Vec<(String, String)>)> {
    let mut outputs = Vec::new();
    walk_datapath(actions, 0, &mut Vec::new(), &mut outputs);
    outputs
}

/// How deep `clone(…)`/`sample(…)` nesting is followed (OVS nests a few).
const MAX_NESTING: usize = 32;

fn walk_datapath(
    actions: &str,
    depth: usize,
    rewrites: &mut Vec<(String, String)>,
    outputs: &mut Vec<(u32, Vec<(String, String)>)>,
) {
    if depth > MAX_NESTING {
        return;
    }
    for item in split_top(actions) {
        let (name, args) = match item.split_once('(') {
            Some((name, rest)) => (name.trim(), rest.strip_suffix(')').unwrap_or(rest)),
            None => (item.trim(), ""),
        };
        match name {
            "clone" | "actions" => walk_datapath(args, depth + 1, &mut rewrites.clone(), outputs),
            "sample" => walk_datapath(args, depth + 1, rewrites, outputs),
            "set" => rewrites.extend(set_fields(args)),
            "push_vlan" => rewrites.extend(pushed_vlan(args)),
            "pop_vlan" => rewrites.push(("vlan_tci".to_string(), "0x0000".to_string())),
            _ if args.is_empty() && !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) => {
                outputs.extend(name.parse().ok().map(|port| (port, rewrites.clone())));
            }
            _ => {}
        }
    }
}

/// `push_vlan(vid=V,pcp=P)` as the `vlan_tci` it leaves (CFI bit set).
fn pushed_vlan(args: &str) -> Option<(String, String)> {
    let value = |key: &str| {
        split_top(args).filter_map(|kv| kv.split_once('=')).find(|(k, _)| k.trim() == key).map(|(_, v)| v.trim())
    };
    let vid: u16 = value("vid")?.parse().ok().filter(|v| *v < 4096)?;
    let pcp: u16 = value("pcp").map_or(Some(0), |p| p.parse().ok().filter(|p| *p < 8))?;
    Some(("vlan_tci".to_string(), format!("{:#06x}", 0x1000 | pcp << 13 | vid)))
}

/// `eth(src=…,dst=…)`, `ipv4(…)`, `ipv6(…)`, `tcp(…)`, … as flow fields.
fn set_fields(header: &str) -> Vec<(String, String)> {
    let Some((proto, args)) = header.split_once('(') else { return vec![] };
    let args = args.strip_suffix(')').unwrap_or(args);
    let field = |key: &str| -> Option<&str> {
        Some(match (proto, key) {
            ("eth", "src") => "dl_src",
            ("eth", "dst") => "dl_dst",
            ("ipv4", "src") => "nw_src",
            ("ipv4", "dst") => "nw_dst",
            ("ipv4", "ttl") | ("ipv6", "hlimit") => "nw_ttl",
            ("ipv6", "src") => "ipv6_src",
            ("ipv6", "dst") => "ipv6_dst",
            ("tcp" | "udp" | "sctp", "src") => "tp_src",
            ("tcp" | "udp" | "sctp", "dst") => "tp_dst",
            _ => return None,
        })
    };
    split_top(args)
        .filter_map(|kv| kv.split_once('='))
        .filter(|(_, v)| !v.contains('/'))
        .filter_map(|(k, v)| Some((field(k.trim())?.to_string(), v.trim().to_string())))
        .collect()
}

/// The comma-separated items of `text` at its top level (commas inside
/// parentheses stay in their item).
fn split_top(text: &str) -> impl Iterator<Item = &str> {
    let mut depth = 0usize;
    let mut start = 0;
    let mut items = Vec::new();
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                items.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&text[start..]);
    items.into_iter().filter(|i| !i.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A lab node's trace of web1 → web2 (OVS 3.1, OVN 23.03): three
    /// passes, two conntrack recirculations.
    const LAB_TRACE: &str = include_str!("testdata/web1-web2.txt");

    #[test]
    fn passes_steps_and_summary_of_a_lab_trace() {
        let trace = parse(LAB_TRACE);
        assert_eq!(trace.passes.len(), 3);
        let first = &trace.passes[0];
        assert_eq!(first.recirc, None);
        assert!(first.flow.as_deref().unwrap().starts_with("icmp,in_port=1,"));
        assert_eq!(first.datapath_actions.as_deref(), Some("ct(zone=2,nat),recirc(0x1)"));
        assert!(first.megaflow.as_deref().unwrap().starts_with("recirc_id=0,eth,icmp"));
        let table0 = &first.steps[0];
        assert_eq!(
            (table0.bridge.as_str(), table0.table, table0.priority, table0.cookie.as_deref()),
            ("br-int", 0, Some(100), Some("0xa809d4ca"))
        );
        assert_eq!(table0.flow_match, "in_port=1");
        assert_eq!(table0.resubmits, vec![8]);
        assert_eq!(table0.actions.len(), 6);
        // Table 73 is resubmitted from table 8 (nested), and the actions
        // after it belong to table 8 again.
        let (t8, t73) = (&first.steps[1], &first.steps[2]);
        assert_eq!((t8.table, t8.depth, t73.table, t73.depth), (8, 0, 73, 1));
        assert_eq!(t8.resubmits, vec![73, 9]);
        assert_eq!(t73.actions, vec!["set_field:0/0x1000->reg10"]);
        assert_eq!(t8.notes, vec!["-> NXM_NX_XXREG0[111] is now 0"]);

        let second = &trace.passes[1];
        assert!(second.recirc.as_deref().unwrap().starts_with("recirc(0x1) - resume conntrack"));
        assert_eq!(second.notes[0], "Replacing src/dst IP/ports to simulate NAT:");
        assert!(second.notes.iter().any(|n| n == "Resuming from table 15"));
        assert_eq!(second.steps[0].table, 15);
        let no_match = second.steps.iter().find(|s| s.table == 68).unwrap();
        assert!(!no_match.matched && no_match.drop && no_match.depth == 1, "{no_match:?}");
        let t37 = second.steps.iter().find(|s| s.table == 37).unwrap();
        assert_eq!((t37.priority, t37.cookie.as_deref(), t37.flow_match.as_str()), (Some(0), None, ""));

        let last = &trace.passes[2];
        let out = last.steps.last().unwrap();
        assert_eq!((out.table, out.outputs.clone()), (65, vec!["2".to_string()]));
        assert_eq!(datapath_outputs(last.datapath_actions.as_deref().unwrap()), vec![2]);
    }

    #[test]
    fn lines_in_execution_order() {
        let first = &parse(LAB_TRACE).passes[0];
        let order: Vec<(u32, &str)> = first.executed().map(|(s, l)| (s.table, l)).skip(6).take(5).collect();
        assert_eq!(
            order,
            vec![
                (8, "set_field:0/0x1000->reg10"),
                (8, "resubmit(,73)"),
                (73, "set_field:0/0x1000->reg10"),
                (8, "move:NXM_NX_REG10[12]->NXM_NX_XXREG0[111]"),
                (8, "-> NXM_NX_XXREG0[111] is now 0"),
            ]
        );
    }

    #[test]
    fn nested_bridges_through_patch_ports() {
        let text = "Flow: in_port=1\n\nbridge(\"br-ex\")\n---------------\n 0. in_port=1, priority 10\n    output:2\n\n    bridge(\"br-int\")\n    ----------------\n         0. priority 0\n            drop\n    output:3\n";
        let steps = &parse(text).passes[0].steps;
        assert_eq!(steps.len(), 2);
        assert_eq!((steps[0].bridge.as_str(), steps[0].depth), ("br-ex", 0));
        assert_eq!((steps[1].bridge.as_str(), steps[1].depth, steps[1].drop), ("br-int", 1, true));
        assert_eq!(steps[0].outputs, vec!["2", "3"]);
    }

    #[test]
    fn datapath_output_ports() {
        assert_eq!(datapath_outputs("drop"), Vec::<u32>::new());
        assert_eq!(datapath_outputs("3"), vec![3]);
        assert_eq!(datapath_outputs("ct(commit,zone=3,mark=0/0x1,nat(src)),2"), vec![2]);
        assert_eq!(datapath_outputs("push_vlan(vid=5,pcp=0),1,pop_vlan,7"), vec![1, 7]);
        assert_eq!(datapath_outputs("clone(tnl_push(tnl_port(4),header(size=50)),5),recirc(0x1)"), vec![5]);
        assert_eq!(datapath_outputs("meter(0),trunc(100),sample(sample=50.0%,actions(9))"), vec![9]);
    }

    #[test]
    fn datapath_rewrites_per_output() {
        let routed = "ct_clear,set(eth(src=00:00:00:00:ff:02,dst=00:00:00:00:02:03)),set(ipv4(ttl=63)),3";
        let fields = |v: &[(&str, &str)]| v.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
        assert_eq!(
            datapath_rewrites(routed),
            vec![(3, fields(&[("dl_src", "00:00:00:00:ff:02"), ("dl_dst", "00:00:00:00:02:03"), ("nw_ttl", "63")]))]
        );
        let flood = "1,clone(set(ipv4(src=1.2.3.4,tos=0x4/0xfc)),4),set(tcp(dst=80)),5,userspace(pid=0)";
        assert_eq!(
            datapath_rewrites(flood),
            vec![(1, vec![]), (4, fields(&[("nw_src", "1.2.3.4")])), (5, fields(&[("tp_dst", "80")]))]
        );
        assert!(datapath_rewrites("drop").is_empty());
    }

    #[test]
    fn hostile_text_gives_notes_not_panics() {
        for text in [
            "",
            "\u{0}",
            "999999. x, priority 99999999999999",
            "1. ",
            "=====\n",
            "bridge(\"\n 0. No match.\n",
            "   -> x",
        ] {
            let _ = parse(text);
        }
        let nested = "clone(".repeat(MAX_LINE / 6) + "1";
        assert!(datapath_outputs(&nested).is_empty());
        assert_eq!(datapath_outputs(&("clone(".repeat(3) + "1)))")), vec![1]);
        let long = "x".repeat(MAX_LINE * 2) + "é";
        assert_eq!(parse(&long).passes[0].notes[0].len(), MAX_LINE);
    }
}
