//! `ovs-ofctl dump-tables` output: how many flows a bridge holds, far
//! cheaper to get than `dump-aggregate` on a million-flow table.
//!
//! Identical neighbouring tables are folded into `tables 2...7: ditto`
//! (the same stats as the table printed before them), so their counts are
//! expanded, not skipped.

/// Sum of `active=` over every table, `ditto` ranges included.
pub fn active_flows(dump: &str) -> usize {
    let mut total = 0;
    let mut last = 0;
    for line in dump.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("active=") {
            last = rest.split(|c: char| !c.is_ascii_digit()).next().and_then(|n| n.parse().ok()).unwrap_or(0);
            total += last;
        } else if let Some(range) = line.strip_suffix(": ditto") {
            total += last * ditto_tables(range);
        }
    }
    total
}

/// `tables 2...7` → 6, `table 9` → 1.
fn ditto_tables(range: &str) -> usize {
    let range = range.trim_start_matches("tables ").trim_start_matches("table ");
    match range.split_once("...") {
        Some((a, b)) => match (a.trim().parse::<usize>(), b.trim().parse::<usize>()) {
            (Ok(a), Ok(b)) if b >= a => b - a + 1,
            _ => 0,
        },
        None => usize::from(range.trim().parse::<usize>().is_ok()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_ditto_ranges() {
        let dump = "OFPST_TABLE reply (OF1.5) (xid=0x2):\n  table 0:\n    active=5, lookup=0, matched=0\n\n  \
                    table 1:\n    active=0, lookup=0, matched=0\n\n  tables 2...7: ditto\n\n  table 17:\n    \
                    active=4, lookup=0, matched=0\n\n  tables 18...19: ditto\n\n  table 20:\n    active=3, lookup=9, \
                    matched=1\n\n  table 21: ditto\n";
        assert_eq!(active_flows(dump), 5 + 4 * 3 + 3 * 2);
    }

    #[test]
    fn nothing_to_count() {
        assert_eq!(active_flows(""), 0);
        assert_eq!(active_flows("ovs-ofctl: br0 is not a bridge or a socket"), 0);
    }
}
