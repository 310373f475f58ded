//! `ovs-ofctl dump-groups` output → lines `ovs-ofctl add-groups` accepts.
//!
//! A group is one line, ` group_id=N,type=…,bucket=…`, and is written back
//! trimmed and otherwise untouched; the `OFPST_GROUP_DESC`/`NXST_GROUP_DESC`
//! reply headers go, decode-error blocks are counted and dropped as for
//! flows. Does not read `dump-group-stats` output. Also the groups a flow's
//! actions send to, and the placeholder group for one the capture lacks.

use super::{filter_dump, DumpStats};
use std::io::{self, BufRead, Write};

/// True for a group-description reply header (`OFPST_GROUP_DESC reply
/// (OF1.3) (xid=0x2):`, `NXST_GROUP_DESC reply (xid=0x2):`).
pub fn is_group_header(line: &str) -> bool {
    let line = line.trim_start();
    line.starts_with("OFPST_GROUP_DESC reply") || line.starts_with("NXST_GROUP_DESC reply")
}

/// The group id of a dumped or normalised group line (`group_id=7,type=…`).
pub fn group_id(line: &str) -> Option<u32> {
    let rest = line.trim_start().strip_prefix("group_id=")?;
    super::number(rest.split(',').next()?)
}

/// Streams a `dump-groups` output from `reader` to `writer`, one trimmed
/// group per line. Lines that are not groups are counted in `ignored`.
pub fn normalise_groups<R: BufRead, W: Write>(reader: R, writer: W) -> io::Result<DumpStats> {
    filter_dump(reader, writer, is_group_header, |line, out| {
        if group_id(line).is_none() {
            return false;
        }
        out.push_str(line);
        true
    })
}

/// What `ovs-ofctl add-group` takes for a placeholder of group `id`, which
/// a flow uses but the capture lacks: an `all` group without buckets, so a
/// packet sent to it goes nowhere (a trace shows the group and no output)
/// rather than somewhere the capture never said.
pub fn placeholder_group(id: u32) -> String {
    format!("group_id={id},type=all")
}

/// The groups a flow's actions send to through `group:N` (ovs-actions(7):
/// the only action naming a group), each once, in order.
pub fn group_ids_in_flow(line: &str) -> Vec<u32> {
    super::flows::action_ids(line, "group:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_a_flow_uses() {
        // From the sos 4.0 fixture's br-int (OVN load balancers).
        let flow = " cookie=0x4be5401b, duration=3.211s, table=20, n_packets=0, n_bytes=0, idle_age=3, priority=120,ct_state=+new+trk,tcp,metadata=0x7,nw_dst=172.30.0.5,tp_dst=80 actions=load:0->NXM_NX_XXREG0[97],group:1";
        assert_eq!(group_ids_in_flow(flow), [1]);
        assert_eq!(group_ids_in_flow("priority=1 actions=group:3,clone(group:4,output:1),group:3"), [3, 4]);
        assert_eq!(group_ids_in_flow("priority=1 actions=drop"), Vec::<u32>::new());
        assert_eq!(group_ids_in_flow("priority=1 actions=note:67726f75703a31"), Vec::<u32>::new());
        assert_eq!(group_ids_in_flow("group:1 priority=1 actions=drop"), Vec::<u32>::new());
        assert_eq!(placeholder_group(4), "group_id=4,type=all");
    }

    #[test]
    fn headers() {
        assert!(is_group_header("OFPST_GROUP_DESC reply (OF1.3) (xid=0x2):"));
        assert!(is_group_header("NXST_GROUP_DESC reply (xid=0x2):"));
        assert!(!is_group_header("OFPST_GROUP reply (OF1.3) (xid=0x6):"));
        assert!(!is_group_header(" group_id=1,type=select"));
    }

    #[test]
    fn ids() {
        assert_eq!(group_id(" group_id=1,type=select,bucket=weight:100,actions=output:1"), Some(1));
        assert_eq!(group_id("group_id=4294967040,type=all"), Some(4_294_967_040));
        assert_eq!(group_id("group_id=0x10,type=all"), Some(16));
        assert_eq!(group_id("group_id=7"), Some(7));
        assert_eq!(group_id("group_id=,type=all"), None);
        assert_eq!(group_id("type=all,group_id=1"), None);
        assert_eq!(group_id("ovs-ofctl: error"), None);
    }

    #[test]
    fn stream() {
        let input = "\
OFPST_GROUP_DESC reply (OF1.5) (xid=0x2):
 group_id=1,type=select,selection_method=dp_hash,bucket=bucket_id:0,weight:100,actions=ct(commit,table=22,zone=NXM_NX_REG13[0..15],nat(dst=10.0.1.2:8080))
 group_id=2,type=all,bucket=bucket_id:0,actions=output:1

NXST_GROUP_DESC reply (xid=0x2):
***decode error: OFPBAC_BAD_TYPE***
00000000  01 02
ovs-ofctl: something went wrong
";
        let mut out = Vec::new();
        let stats = normalise_groups(input.as_bytes(), &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "group_id=1,type=select,selection_method=dp_hash,bucket=bucket_id:0,weight:100,actions=ct(commit,table=22,zone=NXM_NX_REG13[0..15],nat(dst=10.0.1.2:8080))\n\
             group_id=2,type=all,bucket=bucket_id:0,actions=output:1\n"
        );
        assert_eq!((stats.written, stats.decode_errors, stats.ignored), (2, 1, 1));
    }
}
