//! Which bridge names ovs-offline accepts: they become file names in the
//! workdir and arguments of `ovs-ofctl`, so they must be harmless as both.

/// Longest name accepted (a file name component on Linux is at most 255
/// bytes; OVS itself allows names longer than IFNAMSIZ).
const MAX_LEN: usize = 255;

/// True for a non-empty name of at most 255 bytes made only of ASCII
/// letters, digits and `-` `_` `.` `:` `@`, not starting with `-` (it
/// would read as an option) or `.` (hidden file, `.`/`..`). Rules out `/`,
/// NUL, whitespace, quotes and every shell metacharacter.
pub fn valid_bridge_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_LEN
        && !name.starts_with(['-', '.'])
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:@".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_real_names() {
        for ok in ["br-int", "br-ex", "breth0", "br_tun", "br0.100", "br:1", "br@x", "a", "BR-Int9"] {
            assert!(valid_bridge_name(ok), "{ok}");
        }
        assert!(valid_bridge_name(&"b".repeat(255)), "long names are fine");
    }

    #[test]
    fn rejects_dangerous_names() {
        let bad = [
            "", "-br", ".hidden", ".", "..", "a/b", "a b", "a\tb", "a\0b", "a\nb", "$(x)", "`x`", "a;b", "a|b", "a&b",
            "a>b", "a<b", "a'b", "a\"b", "a*b", "a?b", "a\\b", "a$b", "a~b", "a{b}", "a(b", "a#b", "brü",
        ];
        for name in bad {
            assert!(!valid_bridge_name(name), "{name:?}");
        }
        assert!(!valid_bridge_name(&"b".repeat(256)));
    }
}
