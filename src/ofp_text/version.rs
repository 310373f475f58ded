//! OpenFlow protocol versions as OVS names them (`OpenFlow13`, `OF1.3`),
//! and ovs-save's rule for picking a bridge's version from its `protocols`.

use std::fmt;
use std::str::FromStr;

/// An OpenFlow version `ovs-ofctl -O` accepts. Ordered: older < newer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OfVersion {
    OpenFlow10,
    OpenFlow11,
    OpenFlow12,
    OpenFlow13,
    OpenFlow14,
    OpenFlow15,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown OpenFlow version {0:?} (expected OpenFlow10 … OpenFlow15 or OF1.0 … OF1.5)")]
pub struct UnknownVersion(pub String);

impl OfVersion {
    pub const ALL: [OfVersion; 6] = [
        OfVersion::OpenFlow10,
        OfVersion::OpenFlow11,
        OfVersion::OpenFlow12,
        OfVersion::OpenFlow13,
        OfVersion::OpenFlow14,
        OfVersion::OpenFlow15,
    ];

    /// The name `ovs-ofctl -O` and the `protocols` column use.
    pub fn as_str(self) -> &'static str {
        match self {
            OfVersion::OpenFlow10 => "OpenFlow10",
            OfVersion::OpenFlow11 => "OpenFlow11",
            OfVersion::OpenFlow12 => "OpenFlow12",
            OfVersion::OpenFlow13 => "OpenFlow13",
            OfVersion::OpenFlow14 => "OpenFlow14",
            OfVersion::OpenFlow15 => "OpenFlow15",
        }
    }

    /// Minor version number: 0 for OpenFlow10 … 5 for OpenFlow15.
    fn minor(self) -> u8 {
        self as u8
    }

    /// Bundles (`--bundle`, atomic multi-message changes) exist from 1.4,
    /// and in 1.3 as ONF's extension, which OVS implements (checked with
    /// OVS 3.1: a refused flow rolls the whole 1.3 bundle back). ovs-save
    /// bundles from 1.4 only, so loads 1.3 bridges one message at a time.
    pub fn supports_bundle(self) -> bool {
        self >= OfVersion::OpenFlow13
    }

    /// ovs-save's choice for a bridge: the highest version in its
    /// `protocols` column (ovs-vsctl prints the set sorted, ovs-save takes the
    /// last), `OpenFlow14` when the column is empty. Names this build does
    /// not know are skipped; if none is known, `OpenFlow14` too.
    pub fn from_protocols<S: AsRef<str>>(protocols: &[S]) -> OfVersion {
        protocols.iter().filter_map(|p| p.as_ref().parse().ok()).max().unwrap_or(OfVersion::OpenFlow14)
    }
}

impl fmt::Display for OfVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OfVersion {
    type Err = UnknownVersion;

    /// `OpenFlow13` (any case) or `OF1.3`, the form in reply headers.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let unknown = || UnknownVersion(s.to_string());
        let minor = if s.len() == 10
            && s.get(..8).is_some_and(|p| p.eq_ignore_ascii_case("openflow"))
            && s.as_bytes()[8] == b'1'
        {
            s.as_bytes()[9]
        } else if let Some(rest) = s.strip_prefix("OF1.") {
            *rest.as_bytes().first().filter(|_| rest.len() == 1).ok_or_else(unknown)?
        } else {
            return Err(unknown());
        };
        OfVersion::ALL.into_iter().find(|v| b'0' + v.minor() == minor).ok_or_else(unknown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_forms() {
        assert_eq!("OpenFlow13".parse(), Ok(OfVersion::OpenFlow13));
        assert_eq!("openflow10".parse(), Ok(OfVersion::OpenFlow10));
        assert_eq!("OF1.5".parse(), Ok(OfVersion::OpenFlow15));
        assert_eq!("OF1.0".parse(), Ok(OfVersion::OpenFlow10));
        for bad in ["OpenFlow16", "OpenFlow1", "OF1.6", "OF1.", "OF1.33", "1.3", "", "OpenFlow13 "] {
            assert!(bad.parse::<OfVersion>().is_err(), "{bad}");
        }
    }

    #[test]
    fn display_round_trips() {
        for v in OfVersion::ALL {
            assert_eq!(v.to_string().parse(), Ok(v));
        }
        assert_eq!(OfVersion::OpenFlow13.to_string(), "OpenFlow13");
    }

    #[test]
    fn ordering_and_bundles() {
        assert!(OfVersion::OpenFlow10 < OfVersion::OpenFlow15);
        assert!(!OfVersion::OpenFlow12.supports_bundle());
        assert!(OfVersion::OpenFlow13.supports_bundle());
        assert!(OfVersion::OpenFlow14.supports_bundle());
        assert!(OfVersion::OpenFlow15.supports_bundle());
    }

    #[test]
    fn non_ascii_is_unknown_not_a_panic() {
        assert!("OpenFloé1".parse::<OfVersion>().is_err());
        assert!("éOpenFlow13".parse::<OfVersion>().is_err());
    }

    #[test]
    fn from_protocols_is_ovs_save_rule() {
        let none: [String; 0] = [];
        assert_eq!(OfVersion::from_protocols(&none), OfVersion::OpenFlow14);
        let p = ["OpenFlow10".to_string(), "OpenFlow13".to_string()];
        assert_eq!(OfVersion::from_protocols(&p), OfVersion::OpenFlow13);
        assert_eq!(OfVersion::from_protocols(&["OpenFlow15", "OpenFlow10"]), OfVersion::OpenFlow15);
        assert_eq!(OfVersion::from_protocols(&["OpenFlow99"]), OfVersion::OpenFlow14);
    }
}
