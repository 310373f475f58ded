//! One streaming pass over each bridge's collected flow dump: flows counted
//! per cookie (OVN's 32-bit cookies, for the logical-flow check), and the
//! groups and meters the flows use that the bridge's own dumps lack (one
//! example line each). Memory grows with distinct cookies and missing ids,
//! never with the dump's size.

use super::AuditError;
use crate::capture::flows::{Dump, FlowPlan};
use crate::ofp_text::flows::{actions_start, is_flow_header};
use crate::ofp_text::groups::{group_id, group_ids_in_flow};
use crate::ofp_text::meters::{meter_ids_in_flow, parse_meters};
use crate::ofp_text::{for_each_line, is_decode_error, is_hex_dump};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufReader};
use std::path::Path;

/// The reserved meters (`slowpath`, `controller`, `all`): never in a dump.
const RESERVED_METERS: u32 = 0xffff_fffd;

/// What the flow dump of one bridge says.
#[derive(Debug, Default)]
pub struct FlowIndex {
    pub flows: usize,
    /// Flows per cookie (cookies that fit in 32 bits, as OVN's do; 0 is
    /// left out).
    pub cookies: HashMap<u32, u32>,
    /// Cookies `known` did not hold: the first flow of each.
    pub unknown_cookies: BTreeMap<u32, String>,
    /// Groups used but not in the group dump: flows and the first one.
    pub missing_groups: BTreeMap<u32, Uses>,
    /// Meters used but not in the meter dump.
    pub missing_meters: BTreeMap<u32, Uses>,
}

/// How many flows use an id, and the first of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uses {
    pub flows: usize,
    pub example: String,
}

/// Ids a dump holds; `None`: the capture has no such dump.
pub type Present = Option<BTreeSet<u32>>;

/// One bridge's index, and which of its dumps the capture lacks.
#[derive(Debug)]
pub struct BridgeIndex {
    pub index: FlowIndex,
    /// `groups`, `meters`: not collected, so not checked.
    pub unchecked: Vec<&'static str>,
}

/// Streams each collected bridge's flow dump once; on `cookie_bridge` (the
/// integration bridge) cookies outside `known` are kept apart.
pub fn index_bridges(
    plan: &FlowPlan,
    cookie_bridge: &str,
    known: Option<&HashSet<u32>>,
) -> Result<BTreeMap<String, BridgeIndex>, AuditError> {
    let mut indexes = BTreeMap::new();
    for (bridge, dumps) in &plan.bridges {
        let Some(dump) = dumps.flows.as_ref() else { continue };
        // Without a dump (ovs-save never dumps meters) nothing can be said.
        let groups = ids(dumps.groups.as_ref(), group_ids)?;
        let meters = ids(dumps.meters.as_ref(), meter_ids)?;
        let unchecked = [("groups", &groups), ("meters", &meters)]
            .into_iter()
            .filter(|(_, ids)| ids.is_none())
            .map(|(what, _)| what)
            .collect();
        let known = known.filter(|_| bridge == cookie_bridge);
        let index = index(&dump.path, &groups, &meters, known)
            .map_err(|source| AuditError::Dump { path: dump.path.clone(), source })?;
        indexes.insert(bridge.clone(), BridgeIndex { index, unchecked });
    }
    Ok(indexes)
}

/// The ids `read` finds in `dump` (`None` without a dump).
fn ids(dump: Option<&Dump>, read: fn(&Path) -> io::Result<BTreeSet<u32>>) -> Result<Present, AuditError> {
    dump.map(|dump| read(&dump.path).map_err(|source| AuditError::Dump { path: dump.path.clone(), source })).transpose()
}

/// The group ids of a `dump-groups` file.
pub fn group_ids(path: &Path) -> io::Result<BTreeSet<u32>> {
    let mut ids = BTreeSet::new();
    for_each_line(BufReader::new(File::open(path)?), |line| {
        ids.extend(line.and_then(group_id));
        Ok(())
    })?;
    Ok(ids)
}

/// The meter ids of a `dump-meters` file (empty when it does not parse).
pub fn meter_ids(path: &Path) -> io::Result<BTreeSet<u32>> {
    let meters = parse_meters(BufReader::new(File::open(path)?)).unwrap_or_default();
    Ok(meters.into_iter().map(|m| m.id).collect())
}

/// Streams the flow dump at `path`; `known` (when given) are the cookies
/// with a known source, the others land in `unknown_cookies`.
pub fn index(path: &Path, groups: &Present, meters: &Present, known: Option<&HashSet<u32>>) -> io::Result<FlowIndex> {
    let mut index = FlowIndex::default();
    for_each_line(BufReader::new(File::open(path)?), |line| {
        if let Some(line) = line.map(str::trim).filter(|l| is_flow(l)) {
            index.add(line, groups, meters, known);
        }
        Ok(())
    })?;
    Ok(index)
}

fn is_flow(line: &str) -> bool {
    !line.is_empty()
        && !is_flow_header(line)
        && !is_decode_error(line)
        && !is_hex_dump(line)
        && actions_start(line).is_some()
}

impl FlowIndex {
    fn add(&mut self, line: &str, groups: &Present, meters: &Present, known: Option<&HashSet<u32>>) {
        self.flows += 1;
        if let Some(cookie) = cookie(line).filter(|&c| c != 0) {
            *self.cookies.entry(cookie).or_default() += 1;
            if known.is_some_and(|k| !k.contains(&cookie)) {
                self.unknown_cookies.entry(cookie).or_insert_with(|| line.to_string());
            }
        }
        if let Some(present) = groups {
            for id in group_ids_in_flow(line).into_iter().filter(|id| !present.contains(id)) {
                used(&mut self.missing_groups, id, line);
            }
        }
        if let Some(present) = meters {
            let absent = |id: &u32| *id < RESERVED_METERS && !present.contains(id);
            for id in meter_ids_in_flow(line).into_iter().filter(absent) {
                used(&mut self.missing_meters, id, line);
            }
        }
    }
}

fn used(map: &mut BTreeMap<u32, Uses>, id: u32, line: &str) {
    map.entry(id).or_insert_with(|| Uses { flows: 0, example: line.to_string() }).flows += 1;
}

/// The cookie of a dumped flow (`cookie=0x…` first, as `ovs-ofctl` prints
/// it), when it fits in 32 bits; none printed is cookie 0.
pub fn cookie(line: &str) -> Option<u32> {
    let Some(rest) = line.strip_prefix("cookie=") else { return Some(0) };
    let end = rest.find([',', ' ']).unwrap_or(rest.len());
    let hex = rest[..end].strip_prefix("0x")?;
    u32::from_str_radix(hex, 16).ok()
}

/// OVN's cookie for a row: the first 32 bits of its UUID.
pub fn uuid_cookie(uuid: &str) -> Option<u32> {
    u32::from_str_radix(uuid.get(..8)?, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_groups_and_meters() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flows");
        std::fs::write(
            &path,
            "NXST_FLOW reply (xid=0x4):\n cookie=0xab12cd34, duration=1s, table=8, priority=5 actions=group:3,meter:7\n\
             \x20cookie=0xab12cd34, table=9, priority=1 actions=meter:2,group:1\n priority=0 actions=drop\n\
             \x20cookie=0x1234567890, table=1 actions=drop\n cookie=0x5, table=1 actions=meter:4294967294\n",
        )
        .unwrap();
        let groups = Some(BTreeSet::from([1]));
        let meters = Some(BTreeSet::from([2]));
        let known = HashSet::from([0xab12cd34]);
        let index = index(&path, &groups, &meters, Some(&known)).unwrap();
        assert_eq!(index.flows, 5);
        assert_eq!(index.cookies[&0xab12cd34], 2);
        assert_eq!(index.unknown_cookies.keys().collect::<Vec<_>>(), [&5]);
        assert_eq!(index.missing_groups[&3].flows, 1);
        assert!(index.missing_groups[&3].example.contains("table=8"));
        assert_eq!(index.missing_meters.keys().collect::<Vec<_>>(), [&7]);
        assert_eq!(uuid_cookie("ab12cd34-0000-4000-8000-000000000000"), Some(0xab12cd34));
        assert_eq!(uuid_cookie("x"), None);
    }
}
