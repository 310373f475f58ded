//! How names and paths are printed. Bridge, interface and file names come
//! from collected data, paths from the user: printed bare, a bridge named
//! `br;touch x` would run a command when its socket path is pasted, and a
//! newline in a name would forge a line of output. [`shell`] and [`path`]
//! write a word that bash and zsh read back as exactly the same bytes
//! (left bare when nothing in it is special, so ordinary output reads as
//! before); [`note`] makes collected text one bounded line. This module
//! decides how, never what, to print.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The most characters of collected text a note keeps (then `…`).
pub const NOTE_MAX_CHARS: usize = 1000;

/// `word` as one shell word: bare when plain, else in single quotes, or
/// `$'…'` with escapes when it holds control or invisible characters.
pub fn shell(word: &str) -> String {
    if !word.is_empty() && !word.starts_with('=') && word.chars().all(is_plain) {
        return word.to_string();
    }
    if word.chars().any(is_hidden) {
        return ansi_c(word.as_bytes());
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// A path as one shell word (see [`shell`]); bytes that are not UTF-8 are
/// kept as `\xNN` escapes.
pub fn path(path: &Path) -> String {
    match path.to_str() {
        Some(text) => shell(text),
        None => ansi_c(path.as_os_str().as_bytes()),
    }
}

/// Collected text as one line of at most [`NOTE_MAX_CHARS`] characters
/// (then `…`), control and invisible characters escaped.
pub fn note(text: &str) -> String {
    line(text, NOTE_MAX_CHARS)
}

/// `text` as one line of at most `max_chars` characters (then `…`),
/// control and invisible characters escaped.
pub fn line(text: &str, max_chars: usize) -> String {
    let mut line = String::new();
    for (count, c) in text.chars().enumerate() {
        if count == max_chars {
            line.push('…');
            break;
        }
        if is_hidden(c) {
            line.extend(c.escape_default());
        } else {
            line.push(c);
        }
    }
    line
}

/// Characters a shell word may hold unquoted (`=` not first: zsh expands
/// `=cmd`).
fn is_plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || "/._-+:,@%=".contains(c)
}

/// Control characters and the invisible ones that reorder or hide text.
fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// Bash/zsh ANSI-C quoting: `$'…'`, with `\\`, `\'`, `\n`, `\t` and `\xNN`.
fn ansi_c(bytes: &[u8]) -> String {
    let mut quoted = String::from("$'");
    let hex = |quoted: &mut String, bytes: &[u8]| bytes.iter().for_each(|b| quoted.push_str(&format!("\\x{b:02x}")));
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => quoted.push_str(r"\\"),
                '\'' => quoted.push_str(r"\'"),
                '\n' => quoted.push_str(r"\n"),
                '\t' => quoted.push_str(r"\t"),
                c if is_hidden(c) => hex(&mut quoted, c.encode_utf8(&mut [0; 4]).as_bytes()),
                c => quoted.push(c),
            }
        }
        hex(&mut quoted, chunk.invalid());
    }
    quoted.push('\'');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;
    use std::process::Command;

    /// What bash makes of `word` (`printf %s WORD`).
    fn read_back(shell_name: &str, word: &str) -> Vec<u8> {
        let out = Command::new(shell_name).arg("-c").arg(format!("printf %s {word}")).output().unwrap();
        assert!(out.status.success(), "{word}: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    }

    #[test]
    fn plain_words_stay_bare() {
        assert_eq!(shell("/tmp/ovs-offline/var-run/ovs/br-int.mgmt"), "/tmp/ovs-offline/var-run/ovs/br-int.mgmt");
        assert_eq!(shell("br-ex"), "br-ex");
        assert_eq!(shell(""), "''");
        assert_eq!(shell("=ls"), "'=ls'");
    }

    #[test]
    fn hostile_names_read_back_as_they_are() {
        assert_eq!(shell("/tmp/a'b"), r"'/tmp/a'\''b'");
        assert_eq!(shell("br$(touch y)"), "'br$(touch y)'");
        assert_eq!(shell("a\nb"), r"$'a\nb'");
        let names = ["br;touch x", "br$(touch y)", "a'b", "a\nb\tc\\d'e", "`id`", "x\u{202e}y", "é ü", "=ls", "~root"];
        for name in names {
            let quoted = shell(name);
            assert!(!quoted.contains('\n'), "{quoted}");
            for shell_name in ["bash", "zsh"].into_iter().filter(|s| which::which(s).is_ok()) {
                assert_eq!(read_back(shell_name, &quoted), name.as_bytes(), "{shell_name}: {quoted}");
            }
        }
        let raw = OsStr::from_bytes(b"/tmp/\xff\x01x");
        assert_eq!(path(Path::new(raw)), r"$'/tmp/\xff\x01x'");
        assert_eq!(read_back("bash", &path(Path::new(raw))), raw.as_bytes());
    }

    #[test]
    fn notes_are_one_bounded_line() {
        assert_eq!(note("line 3 ignored: echo\nrm -rf /"), r"line 3 ignored: echo\nrm -rf /");
        let long = note(&"x".repeat(100_000_000));
        assert_eq!(long.chars().count(), NOTE_MAX_CHARS + 1);
        assert!(long.ends_with('…'));
    }
}
