//! Reads the restore script `ovs-save save-flows` prints (`do_restore.sh`)
//! as data: which bridges it restores, with which OpenFlow version, which
//! TLV map, and the names of their flow and group dumps. Never executes or
//! expands anything in it.
//!
//! Current ovs-save (OVS ≥ 3.1) writes, per bridge:
//!
//! ```text
//! ovs-ofctl -O OpenFlow15 add-tlv-map br-ex '{class=0xffff,type=0x1,len=4}->tun_metadata0'
//! ovs-ofctl -O OpenFlow15 add-groups br-ex               "/tmp/ovs-save.X/br-ex.groups.dump"  --bundle
//! ovs-ofctl -O OpenFlow15 replace-flows br-ex               "/tmp/ovs-save.X/br-ex.flows.dump"  --bundle
//! ```
//!
//! and a final `rm -rf "/tmp/ovs-save.X"`. Older versions omit `-O` on
//! `add-tlv-map` (before 3.1), write no `add-groups` and use `add-flows`
//! (before 2.11), omit `--bundle` below OpenFlow 1.4, or inline the flows in
//! a here-document (before 2.9; ignored here). Every line is split into
//! words with the shell's quoting rules (single and double quotes,
//! whitespace); a line that would make a shell expand or redirect anything
//! (`$`, backticks, `;`, `|`, `>`, globs, …) is ignored with its reason,
//! like every other line that is not one of these `ovs-ofctl` commands.
//!
//! The hand-written `restore.sh` of the ovs-dbg tutorial (`CURR_DIR=$(dirname
//! $(realpath $0))`, `ln -s …`, `sh $CURR_DIR/do_restore.sh`) is recognised
//! as a wrapper around `do_restore.sh`; all its lines are ignored.

use super::tlv::{parse_tlv_arg, TlvMapping};
use super::{for_each_line, valid_bridge_name, OfVersion};
use std::fmt;
use std::io::{self, BufRead};

/// Longest line text kept in an [`IgnoredLine`].
const MAX_QUOTED: usize = 300;

/// What the script restores on one bridge.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SavedBridge {
    pub bridge: String,
    /// The `-O` of its flows command, else of its groups command, else of
    /// its `add-tlv-map`; `None` when none has `-O`.
    pub version: Option<OfVersion>,
    /// Its `add-tlv-map` argument, parsed (empty when the script has none or
    /// an empty one, as ovs-save writes for a bridge without a TLV map).
    pub tlv_map: Vec<TlvMapping>,
    /// Base name of its flow dump (`br-int.flows.dump`).
    pub flows_file: Option<String>,
    /// Base name of its group dump (`br-int.groups.dump`).
    pub groups_file: Option<String>,
}

/// What kind of script it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptKind {
    /// ovs-save's own output (possibly with no bridge at all: ovs-save prints
    /// nothing for OVS ≤ 2.7).
    DoRestore,
    /// A hand-written wrapper that runs `do_restore.sh` (the tutorial's
    /// `restore.sh`): read `do_restore.sh` instead.
    Wrapper,
}

/// Why a line was not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IgnoreReason {
    Comment,
    /// `rm -rf "<dir>/ovs-save.XXXX"`: ovs-save's cleanup of its dump
    /// directory.
    Cleanup,
    /// A line of a wrapper around `do_restore.sh`.
    Wrapper,
    /// Not UTF-8 text.
    NotText,
    /// Something a shell would expand, substitute, redirect or chain.
    ShellSyntax(&'static str),
    /// A here-document (flows inline in the script, ovs-save before OVS 2.9):
    /// the command and its `lines` lines of data.
    HereDocument {
        lines: usize,
    },
    /// A command other than `ovs-ofctl`.
    NotOfctl(String),
    /// An `ovs-ofctl` command this reader does not take.
    Unsupported(String),
    /// A second command of the same kind for the same bridge.
    Duplicate(String),
}

impl fmt::Display for IgnoreReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IgnoreReason::Comment => f.write_str("comment"),
            IgnoreReason::Cleanup => f.write_str("removes ovs-save's dump directory; nothing to do offline"),
            IgnoreReason::Wrapper => {
                f.write_str("part of a wrapper around do_restore.sh; do_restore.sh is read instead")
            }
            IgnoreReason::NotText => f.write_str("not UTF-8 text"),
            IgnoreReason::ShellSyntax(what) => write!(f, "shell syntax ({what}); never run or expanded"),
            IgnoreReason::HereDocument { lines } => {
                write!(f, "here-document with {lines} inline lines (ovs-save before OVS 2.9); not supported")
            }
            IgnoreReason::NotOfctl(cmd) => write!(f, "not an ovs-ofctl command ({cmd:?})"),
            IgnoreReason::Unsupported(what) => write!(f, "unsupported ovs-ofctl usage: {what}"),
            IgnoreReason::Duplicate(what) => write!(f, "second {what} for this bridge; the first one is used"),
        }
    }
}

/// A line of the script that was not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredLine {
    /// 1-based line number.
    pub line: usize,
    /// The line (cut after 300 bytes).
    pub text: String,
    pub reason: IgnoreReason,
}

/// Everything read from a restore script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreScript {
    pub kind: ScriptKind,
    /// In order of first appearance.
    pub bridges: Vec<SavedBridge>,
    pub ignored: Vec<IgnoredLine>,
}

#[derive(Debug, thiserror::Error)]
pub enum RestoreScriptError {
    #[error("cannot read the restore script: {0}")]
    Io(#[from] io::Error),
    #[error("line {line}: invalid bridge name {bridge:?}: {text:?}")]
    BadBridge { line: usize, bridge: String, text: String },
}

/// Reads a `do_restore.sh` (or a wrapper around one) line by line.
pub fn parse_restore_script<R: BufRead>(reader: R) -> Result<RestoreScript, RestoreScriptError> {
    let mut parser = Parser::default();
    let mut error = None;
    for_each_line(reader, |line| {
        if error.is_none() {
            if let Err(e) = parser.line(line) {
                error = Some(e);
            }
        }
        Ok(())
    })?;
    if let Some(e) = error {
        return Err(e);
    }
    Ok(parser.finish())
}

#[derive(Default)]
struct Parser {
    line_no: usize,
    bridges: Vec<Bridge>,
    ignored: Vec<IgnoredLine>,
    mentions_do_restore: bool,
    /// Inside a here-document: its delimiter and where it started.
    heredoc: Option<(String, usize)>,
}

/// A bridge being collected, with the version of each command.
#[derive(Default)]
struct Bridge {
    saved: SavedBridge,
    tlv_seen: bool,
    tlv_version: Option<OfVersion>,
    groups_version: Option<OfVersion>,
    flows_version: Option<OfVersion>,
}

/// One recognised `ovs-ofctl` command.
struct Ofctl {
    version: Option<OfVersion>,
    subcommand: Subcommand,
    bridge: String,
    arg: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Subcommand {
    AddTlvMap,
    AddGroups,
    Flows,
}

impl Parser {
    fn line(&mut self, line: Option<&str>) -> Result<(), RestoreScriptError> {
        self.line_no += 1;
        if let Some((delimiter, start)) = &self.heredoc {
            if line.is_some_and(|l| l.trim() == delimiter) {
                let (lines, start) = (self.line_no - *start - 1, *start);
                self.heredoc = None;
                if let Some(entry) = self.ignored.iter_mut().rev().find(|e| e.line == start) {
                    entry.reason = IgnoreReason::HereDocument { lines };
                }
            }
            return Ok(());
        }
        let Some(line) = line else {
            self.ignore("<not UTF-8>", IgnoreReason::NotText);
            return Ok(());
        };
        self.mentions_do_restore |= line.contains("do_restore.sh");
        let text = line.trim();
        if text.is_empty() {
            return Ok(());
        }
        if text.starts_with('#') {
            self.ignore(text, IgnoreReason::Comment);
            return Ok(());
        }
        let words = match split_words(text) {
            Ok(words) => words,
            Err(Stop::Syntax(what)) => {
                self.ignore(text, IgnoreReason::ShellSyntax(what));
                return Ok(());
            }
            Err(Stop::HereDocument(delimiter)) => {
                self.heredoc = Some((delimiter, self.line_no));
                self.ignore(text, IgnoreReason::HereDocument { lines: 0 });
                return Ok(());
            }
        };
        let Some(command) = words.first() else {
            return Ok(());
        };
        let program = command.rsplit('/').next().unwrap_or(command);
        match program {
            "ovs-ofctl" => match parse_ofctl(&words[1..]) {
                Ok(cmd) => self.ofctl(text, cmd)?,
                Err(what) => self.ignore(text, IgnoreReason::Unsupported(what)),
            },
            "rm" if is_cleanup(&words[1..]) => self.ignore(text, IgnoreReason::Cleanup),
            _ => self.ignore(text, IgnoreReason::NotOfctl(program.to_string())),
        }
        Ok(())
    }

    fn ofctl(&mut self, text: &str, cmd: Ofctl) -> Result<(), RestoreScriptError> {
        if !valid_bridge_name(&cmd.bridge) {
            return Err(RestoreScriptError::BadBridge { line: self.line_no, bridge: cmd.bridge, text: text.into() });
        }
        let tlv_map = match cmd.subcommand {
            Subcommand::AddTlvMap => match parse_tlv_arg(&cmd.arg) {
                Ok(maps) => maps,
                Err(e) => {
                    self.ignore(text, IgnoreReason::Unsupported(e.to_string()));
                    return Ok(());
                }
            },
            _ => Vec::new(),
        };
        let file = match cmd.subcommand {
            Subcommand::AddTlvMap => String::new(),
            _ => {
                let base = cmd.arg.rsplit('/').next().unwrap_or_default();
                if !valid_bridge_name(base) {
                    let what = format!("dump file {:?} is not a plain file name", cmd.arg);
                    self.ignore(text, IgnoreReason::Unsupported(what));
                    return Ok(());
                }
                base.to_string()
            }
        };
        let index = match self.bridges.iter().position(|b| b.saved.bridge == cmd.bridge) {
            Some(i) => i,
            None => {
                self.bridges.push(Bridge {
                    saved: SavedBridge { bridge: cmd.bridge.clone(), ..SavedBridge::default() },
                    ..Bridge::default()
                });
                self.bridges.len() - 1
            }
        };
        let bridge = &mut self.bridges[index];
        let duplicate = match cmd.subcommand {
            Subcommand::AddTlvMap if bridge.tlv_seen => Some("add-tlv-map"),
            Subcommand::AddTlvMap => {
                bridge.tlv_seen = true;
                bridge.tlv_version = cmd.version;
                bridge.saved.tlv_map = tlv_map;
                None
            }
            Subcommand::AddGroups if bridge.saved.groups_file.is_some() => Some("add-groups"),
            Subcommand::AddGroups => {
                bridge.groups_version = cmd.version;
                bridge.saved.groups_file = Some(file);
                None
            }
            Subcommand::Flows if bridge.saved.flows_file.is_some() => Some("replace-flows/add-flows"),
            Subcommand::Flows => {
                bridge.flows_version = cmd.version;
                bridge.saved.flows_file = Some(file);
                None
            }
        };
        if let Some(what) = duplicate {
            self.ignore(text, IgnoreReason::Duplicate(what.into()));
        }
        Ok(())
    }

    fn ignore(&mut self, text: &str, reason: IgnoreReason) {
        let mut end = text.len().min(MAX_QUOTED);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        self.ignored.push(IgnoredLine { line: self.line_no, text: text[..end].to_string(), reason });
    }

    fn finish(mut self) -> RestoreScript {
        if let Some((_, start)) = self.heredoc.take() {
            let lines = self.line_no - start;
            if let Some(entry) = self.ignored.iter_mut().rev().find(|e| e.line == start) {
                entry.reason = IgnoreReason::HereDocument { lines };
            }
        }
        let bridges: Vec<SavedBridge> = self
            .bridges
            .into_iter()
            .map(|b| SavedBridge { version: b.flows_version.or(b.groups_version).or(b.tlv_version), ..b.saved })
            .collect();
        let kind = if bridges.is_empty() && self.mentions_do_restore {
            for entry in &mut self.ignored {
                entry.reason = IgnoreReason::Wrapper;
            }
            ScriptKind::Wrapper
        } else {
            ScriptKind::DoRestore
        };
        RestoreScript { kind, bridges, ignored: self.ignored }
    }
}

/// `ovs-ofctl` arguments (after the program name) → a command, or why not.
fn parse_ofctl(args: &[String]) -> Result<Ofctl, String> {
    let mut version = None;
    let mut positional = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let value = match arg.as_str() {
            "-O" | "--protocols" => Some(args.next().ok_or_else(|| format!("{arg} without a version"))?.as_str()),
            a => a.strip_prefix("--protocols=").or_else(|| a.strip_prefix("-O").filter(|v| !v.is_empty())),
        };
        if let Some(value) = value {
            version = Some(parse_versions(value)?);
        } else if arg == "--bundle" {
            // Replayed with --bundle whenever the version allows it anyway.
        } else if arg.starts_with('-') && arg != "-" {
            return Err(format!("option {arg}"));
        } else {
            positional.push(arg.as_str());
        }
    }
    let [subcommand, bridge, arg] = positional[..] else {
        return Err(format!("expected SUBCOMMAND BRIDGE ARGUMENT, got {positional:?}"));
    };
    let subcommand = match subcommand {
        "add-tlv-map" => Subcommand::AddTlvMap,
        "add-groups" => Subcommand::AddGroups,
        "replace-flows" | "add-flows" => Subcommand::Flows,
        other => return Err(format!("subcommand {other:?}")),
    };
    Ok(Ofctl { version, subcommand, bridge: bridge.into(), arg: arg.into() })
}

/// `OpenFlow13` or a list `OpenFlow10,OpenFlow13` (the highest counts).
fn parse_versions(value: &str) -> Result<OfVersion, String> {
    let versions: Result<Vec<OfVersion>, _> = value.split(',').map(str::parse).collect();
    versions.map_err(|e| e.to_string())?.into_iter().max().ok_or_else(|| "empty -O".into())
}

/// `rm -rf <dir>/ovs-save.XXXX`, as ovs-save ends its script.
fn is_cleanup(args: &[String]) -> bool {
    match args {
        [flags, dir] => {
            let base = dir.trim_end_matches('/').rsplit('/').next().unwrap_or_default();
            flags == "-rf" && base.starts_with("ovs-save.") && !base.contains("..")
        }
        _ => false,
    }
}

/// Why [`split_words`] stopped.
#[derive(Debug, PartialEq, Eq)]
enum Stop {
    Syntax(&'static str),
    /// `<< WORD`: a here-document ending at a line `WORD`.
    HereDocument(String),
}

/// Splits a line into words like a shell would, without expanding
/// anything: whitespace separates words, single quotes keep everything
/// literally, double quotes keep everything but `$`, backticks and `\`
/// (refused), `#` at the start of a word starts a comment. Any unquoted
/// character a shell would act on is refused.
fn split_words(line: &str) -> Result<Vec<String>, Stop> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '#' if !in_word => break,
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(Stop::Syntax("unterminated single quote")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('$' | '`' | '\\') => return Err(Stop::Syntax("$, ` or \\ inside double quotes")),
                        Some(c) => word.push(c),
                        None => return Err(Stop::Syntax("unterminated double quote")),
                    }
                }
            }
            '<' if chars.peek() == Some(&'<') => {
                chars.next();
                return Err(here_document(chars.collect::<String>().as_str()));
            }
            '$' => return Err(Stop::Syntax("$ expansion or command substitution")),
            '`' => return Err(Stop::Syntax("command substitution with backticks")),
            '\\' => return Err(Stop::Syntax("backslash escape or line continuation")),
            ';' | '&' | '|' => return Err(Stop::Syntax("command separator or pipe")),
            '<' | '>' => return Err(Stop::Syntax("redirection")),
            '(' | ')' | '{' | '}' => return Err(Stop::Syntax("subshell, group or brace expansion")),
            '*' | '?' | '[' | ']' => return Err(Stop::Syntax("glob pattern")),
            '~' if !in_word => return Err(Stop::Syntax("tilde expansion")),
            '!' => return Err(Stop::Syntax("history expansion or negation")),
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// What follows `<<`: an optional `-`, then the delimiter word (quotes
/// removed).
fn here_document(rest: &str) -> Stop {
    let rest = rest.strip_prefix('-').unwrap_or(rest).trim_start();
    let word = rest.split_whitespace().next().unwrap_or_default().replace(['\'', '"'], "");
    if word.is_empty() {
        Stop::Syntax("here-document without a delimiter")
    } else {
        Stop::HereDocument(word)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: &str = r#"ovs-ofctl -O OpenFlow15 add-tlv-map br-ex '{class=0xffff,type=0x1,len=4}->tun_metadata0'
ovs-ofctl -O OpenFlow15 add-groups br-ex               "/tmp/save1/ovs-save.FETVZzvR9S/br-ex.groups.dump"  --bundle
ovs-ofctl -O OpenFlow15 replace-flows br-ex               "/tmp/save1/ovs-save.FETVZzvR9S/br-ex.flows.dump"  --bundle
ovs-ofctl -O OpenFlow14 add-tlv-map br-int '{class=0x102,type=0x80,len=4}->tun_metadata0'
ovs-ofctl -O OpenFlow14 add-groups br-int               "/tmp/save1/ovs-save.FETVZzvR9S/br-int.groups.dump"  --bundle
ovs-ofctl -O OpenFlow14 replace-flows br-int               "/tmp/save1/ovs-save.FETVZzvR9S/br-int.flows.dump"  --bundle
rm -rf "/tmp/save1/ovs-save.FETVZzvR9S"
"#;

    fn parse(text: &str) -> RestoreScript {
        parse_restore_script(text.as_bytes()).unwrap()
    }

    fn tlv(class: u16, option_type: u8) -> TlvMapping {
        TlvMapping { class, option_type, len: 4, field: "tun_metadata0".into() }
    }

    fn reasons(script: &RestoreScript) -> Vec<(usize, IgnoreReason)> {
        script.ignored.iter().map(|i| (i.line, i.reason.clone())).collect()
    }

    #[test]
    fn real_script() {
        let script = parse(REAL);
        assert_eq!(script.kind, ScriptKind::DoRestore);
        assert_eq!(
            script.bridges,
            [
                SavedBridge {
                    bridge: "br-ex".into(),
                    version: Some(OfVersion::OpenFlow15),
                    tlv_map: vec![tlv(0xffff, 1)],
                    flows_file: Some("br-ex.flows.dump".into()),
                    groups_file: Some("br-ex.groups.dump".into()),
                },
                SavedBridge {
                    bridge: "br-int".into(),
                    version: Some(OfVersion::OpenFlow14),
                    tlv_map: vec![tlv(0x102, 0x80)],
                    flows_file: Some("br-int.flows.dump".into()),
                    groups_file: Some("br-int.groups.dump".into()),
                },
            ]
        );
        assert_eq!(reasons(&script), [(7, IgnoreReason::Cleanup)]);
    }

    #[test]
    fn older_ovs_save_forms() {
        // OVS 2.9–2.10: add-tlv-map without -O, add-flows, no groups; OF1.3 without --bundle.
        let text = "ovs-ofctl add-tlv-map br-int ''\novs-ofctl -O OpenFlow13 add-flows br-int  \"/tmp/ovs-save.a/br-int.flows.dump\"\nrm -rf \"/tmp/ovs-save.a\"\n";
        let script = parse(text);
        assert_eq!(
            script.bridges,
            [SavedBridge {
                bridge: "br-int".into(),
                version: Some(OfVersion::OpenFlow13),
                tlv_map: vec![],
                flows_file: Some("br-int.flows.dump".into()),
                groups_file: None,
            }]
        );
        assert_eq!(reasons(&script), [(3, IgnoreReason::Cleanup)]);
        // Only add-tlv-map has -O: it gives the version.
        let script = parse("ovs-ofctl -OOpenFlow13 add-tlv-map br0 ''\novs-ofctl --protocols=OpenFlow10,OpenFlow12 add-groups br1 br1.groups.dump\n");
        assert_eq!(script.bridges[0].version, Some(OfVersion::OpenFlow13));
        assert_eq!(script.bridges[1].version, Some(OfVersion::OpenFlow12));
        assert_eq!(script.bridges[1].groups_file.as_deref(), Some("br1.groups.dump"));
    }

    #[test]
    fn old_here_document() {
        let text = b"ovs-ofctl add-tlv-map br-int ''\novs-ofctl add-flows br-int - << EOF\n priority=1 actions=drop\n priority=0 actions=NORMAL \xff\nEOF\nrm -rf x\n";
        let script = parse_restore_script(&text[..]).unwrap();
        assert_eq!(script.bridges.len(), 1);
        assert_eq!(script.bridges[0].flows_file, None);
        assert_eq!(
            reasons(&script),
            [(2, IgnoreReason::HereDocument { lines: 2 }), (6, IgnoreReason::NotOfctl("rm".into()))]
        );
        // Never terminated: everything after it is data.
        let script = parse(
            "ovs-ofctl add-flows br-int - <<'EOF'\n priority=1 actions=drop\novs-ofctl add-flows br0 br0.flows.dump\n",
        );
        assert!(script.bridges.is_empty());
        assert_eq!(reasons(&script), [(1, IgnoreReason::HereDocument { lines: 2 })]);
    }

    #[test]
    fn hostile_lines_are_ignored_never_run() {
        let text = "\
#!/bin/sh
# a comment
rm -rf /
touch `id`
$(touch /tmp/x)
ovs-ofctl add-flows br-int \"$(touch /tmp/x)\"
ovs-ofctl add-flows br-int /tmp/a; rm -rf /
ovs-ofctl add-flows br-int /tmp/*.dump
ovs-ofctl add-flows br-int x > /etc/passwd
ovs-ofctl add-flows br-int 'unterminated
ovs-ofctl add-flows br-int ~/x
ovs-ofctl add-flows br-int ../..
ovs-ofctl add-flows br-int -
ovs-ofctl --strict add-flows br-int a.dump
ovs-ofctl dump-flows br-int
ovs-ofctl -O OpenFlow99 add-flows br-int a.dump
ovs-ofctl add-tlv-map br-int 'garbage'
eval ovs-ofctl add-flows br-int a.dump
";
        let script = parse(text);
        assert!(script.bridges.is_empty(), "{:?}", script.bridges);
        let r = reasons(&script);
        assert_eq!(r.len(), 18);
        assert_eq!(r[0], (1, IgnoreReason::Comment));
        assert_eq!(r[1], (2, IgnoreReason::Comment));
        assert_eq!(r[2], (3, IgnoreReason::NotOfctl("rm".into())));
        for (line, reason) in &r[3..11] {
            assert!(matches!(reason, IgnoreReason::ShellSyntax(_)), "line {line}: {reason:?}");
        }
        for (line, reason) in &r[11..17] {
            assert!(matches!(reason, IgnoreReason::Unsupported(_)), "line {line}: {reason:?}");
        }
        assert_eq!(r[17], (18, IgnoreReason::NotOfctl("eval".into())));
        assert_eq!(script.kind, ScriptKind::DoRestore);
    }

    #[test]
    fn bad_bridge_is_an_error_naming_the_line() {
        for bad in ["'$(touch /tmp/x)'", "'br int'", "'a;b'", "../br", ".br"] {
            let text = format!("rm -rf /tmp/ovs-save.x\novs-ofctl -O OpenFlow13 add-flows {bad} /tmp/br.flows.dump\n");
            match parse_restore_script(text.as_bytes()) {
                Err(RestoreScriptError::BadBridge { line: 2, .. }) => {}
                other => panic!("{bad}: {other:?}"),
            }
        }
        let e = parse_restore_script("ovs-ofctl add-groups 'a b' x.dump\n".as_bytes()).unwrap_err();
        assert_eq!(e.to_string(), "line 1: invalid bridge name \"a b\": \"ovs-ofctl add-groups 'a b' x.dump\"");
    }

    #[test]
    fn duplicates_keep_the_first() {
        let text = "ovs-ofctl add-flows br0 /a/br0.flows.dump\novs-ofctl add-flows br0 /b/other.dump\n";
        let script = parse(text);
        assert_eq!(script.bridges[0].flows_file.as_deref(), Some("br0.flows.dump"));
        assert_eq!(reasons(&script), [(2, IgnoreReason::Duplicate("replace-flows/add-flows".into()))]);
    }

    #[test]
    fn tutorial_wrapper() {
        let text = "CURR_DIR=$(dirname $(realpath $0))\nln -s $CURR_DIR /tmp/ovs-save.Ab12Cd34Ef\nsh $CURR_DIR/do_restore.sh\n";
        let script = parse(text);
        assert_eq!(script.kind, ScriptKind::Wrapper);
        assert!(script.bridges.is_empty());
        assert_eq!(script.ignored.len(), 3);
        assert!(script.ignored.iter().all(|i| i.reason == IgnoreReason::Wrapper));
        assert_eq!(script.ignored[2].text, "sh $CURR_DIR/do_restore.sh");
    }

    #[test]
    fn empty_script() {
        let script = parse("");
        assert_eq!((script.kind, script.bridges.len(), script.ignored.len()), (ScriptKind::DoRestore, 0, 0));
    }

    #[test]
    fn long_and_binary_lines() {
        let long = format!("echo {}\n", "é".repeat(400));
        let script = parse(&long);
        assert!(script.ignored[0].text.len() <= MAX_QUOTED);
        let script = parse_restore_script(&b"\xff\xfe\n"[..]).unwrap();
        assert_eq!(reasons(&script), [(1, IgnoreReason::NotText)]);
    }

    #[test]
    fn words() {
        assert_eq!(split_words(r#"a 'b c' "d e"f  g#h # comment"#).unwrap(), ["a", "b c", "d ef", "g#h"]);
        assert_eq!(split_words("'$(x)' '`y`'").unwrap(), ["$(x)", "`y`"]);
        assert_eq!(split_words("''").unwrap(), [""]);
        assert_eq!(split_words("a=~b").unwrap(), ["a=~b"]);
        assert_eq!(split_words("cat <<'EOF'"), Err(Stop::HereDocument("EOF".into())));
        assert_eq!(split_words("cat <<- END x"), Err(Stop::HereDocument("END".into())));
        assert_eq!(split_words("cat <<"), Err(Stop::Syntax("here-document without a delimiter")));
        for bad in ["$x", "\"$x\"", "`x`", "a\\", "a;b", "a|b", "a&", "a>b", "(a)", "a*", "~x", "!a", "{a,b}"] {
            assert!(matches!(split_words(bad), Err(Stop::Syntax(_))), "{bad}");
        }
    }

    #[test]
    fn reasons_read_well() {
        assert_eq!(
            IgnoreReason::ShellSyntax("command separator or pipe").to_string(),
            "shell syntax (command separator or pipe); never run or expanded"
        );
        assert_eq!(IgnoreReason::NotOfctl("rm".into()).to_string(), "not an ovs-ofctl command (\"rm\")");
    }
}
