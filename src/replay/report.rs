//! What a replay restored: per bridge, expected (in the dumps) and restored
//! (in the replica) entries, plus notes. Plain data: the caller records it
//! (in the run state) and prints it (see [`crate::report`]).

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// What a replay did: per bridge, plus notes about the capture.
#[derive(Debug, Default, Serialize)]
pub struct ReplayReport {
    pub bridges: Vec<BridgeRestore>,
    pub notes: Vec<String>,
}

impl ReplayReport {
    /// Every note and error as one bounded line (they quote collected
    /// text), as it is recorded and printed.
    pub fn bounded(mut self) -> ReplayReport {
        let bound = |notes: &mut Vec<String>| notes.iter_mut().for_each(|n| *n = crate::quote::note(n));
        for bridge in &mut self.bridges {
            bound(&mut bridge.notes);
            bridge.error = bridge.error.as_deref().map(crate::quote::note);
        }
        bound(&mut self.notes);
        self
    }
}

/// Expected (in the dumps) and restored (in the replica) entries.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Count {
    pub expected: usize,
    pub restored: usize,
    /// Lines of this kind OVS refused (listed in the bridge's `errors_log`).
    #[serde(default)]
    pub rejected: usize,
}

/// The OpenFlow state restored on one bridge.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct BridgeRestore {
    pub bridge: String,
    /// OpenFlow version used (`-O`).
    pub version: String,
    pub flows: Count,
    pub groups: Count,
    pub meters: Count,
    pub tlv_entries: usize,
    /// MAC learning table entries (`fdb/show` of the capture, added with
    /// `fdb/add`), when the capture has the table; refused ones are listed
    /// in `errors_log`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fdb: Option<Count>,
    /// Lines OVS refused (flows, groups, meters and MAC table entries),
    /// listed in `errors_log`.
    pub rejected: usize,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub placeholder_meters: Vec<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub placeholder_groups: Vec<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors_log: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Why ovs-vswitchd runs without the bridge or its management socket,
    /// when it does: nothing was restored on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    /// Why the restore of this bridge stopped, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
