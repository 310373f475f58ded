//! The version an OVS or OVN program prints with `--version`: read from a
//! report's stored output, or from the local program's.

use crate::quote;

/// `ovs-ofctl (Open vSwitch) 3.5.0` (any OVS program) → `3.5.0`.
pub(crate) fn ovs(text: &str) -> Option<String> {
    const MARKER: &str = "(Open vSwitch)";
    let line = text.lines().find(|l| l.contains(MARKER))?;
    let version = line.split(MARKER).nth(1)?.split_whitespace().next()?;
    Some(quote::note(version))
}

/// `ovn-controller 25.03.0` (the first line of an OVN program's
/// `--version`) → `25.03.0`.
pub(crate) fn ovn(text: &str) -> Option<String> {
    let mut words = text.lines().next()?.split_whitespace();
    let program = words.next()?;
    let version = words.next()?;
    (program.starts_with("ovn-") && version.starts_with(|c: char| c.is_ascii_digit())).then(|| quote::note(version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_of_ovs_and_ovn_programs() {
        assert_eq!(ovn("ovn-controller 25.03.0\nOpen vSwitch Library 3.5.0\n").as_deref(), Some("25.03.0"));
        assert_eq!(ovn("ovn-nbctl 23.03.1\nOpen vSwitch Library 3.1.0\n").as_deref(), Some("23.03.1"));
        assert_eq!(ovs("ovs-ofctl (Open vSwitch) 3.5.0\nOpenFlow versions 0x1:0x6\n").as_deref(), Some("3.5.0"));
        assert_eq!(ovs("ovs-vswitchd (Open vSwitch) 3.1.0\n").as_deref(), Some("3.1.0"));
        assert_eq!((ovs("hello"), ovn("ovs-vsctl 3.1.0")), (None, None));
        // What a `--version` copy of sos ≥ 4.7.1 may hold instead.
        assert_eq!(ovs("timeout: failed to run command 'ovs-ofctl': No such file or directory\n"), None);
        assert_eq!(ovs("ovs-ofctl: unix:/run/openvswitch/db.sock: database connection failed\n"), None);
    }
}
