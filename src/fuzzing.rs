//! Entry points for the `cargo fuzz` targets in `fuzz/` (built only with
//! the `fuzzing` feature): every parser of collected text, each fed
//! arbitrary bytes, checking that it never panics and that what it
//! promises holds. Nothing here is part of the tool.

use crate::capture::manifest;
use crate::ofp_text::{fdb, flows, groups, meters, ovs_save, sos_names, tlv, DumpStats};
use crate::ovsdb::file;
use crate::ovsdb::rehash::Rehash;
use std::io;

/// A flow dump: normalising never panics, writes one line per flow, and
/// normalising its own output changes nothing.
pub fn flow_dump(data: &[u8]) {
    normalises_once(data, |input, out| flows::normalise_flows(input, out));
}

/// A group dump: as [`flow_dump`].
pub fn group_dump(data: &[u8]) {
    normalises_once(data, |input, out| groups::normalise_groups(input, out));
}

fn normalises_once(data: &[u8], normalise: impl Fn(&[u8], &mut Vec<u8>) -> io::Result<DumpStats>) {
    let mut once = Vec::new();
    let Ok(stats) = normalise(data, &mut once) else { return };
    assert_eq!(once.iter().filter(|&&b| b == b'\n').count(), stats.written);
    let mut twice = Vec::new();
    let again = normalise(&once, &mut twice).expect("reading memory");
    assert_eq!((again.written, &twice), (stats.written, &once), "normalising is idempotent");
}

/// The answers of a live node's commands and of kubectl (`ovs-vsctl
/// --format=json list`, `dump-aggregate`, `cluster/status`, `get pods -o
/// json`): never a panic.
pub fn live_answers(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = crate::collect::live::parse_vsctl_lists(text);
    let _ = crate::collect::live::flow_count(text);
    let _ = crate::collect::k8s::role_of(text);
    let _ = serde_json::from_str::<crate::collect::k8s::PodList>(text);
}

/// A meter dump: every meter parsed is one `add-meter` argument line.
pub fn meter_dump(data: &[u8]) {
    if let Ok(meters) = meters::parse_meters(data) {
        for meter in meters {
            assert!(meter.spec.starts_with("meter=") && !meter.spec.contains('\n'), "{:?}", meter.spec);
        }
    }
}

/// A TLV map dump: what parses prints as an `add-tlv-map` argument that
/// parses back to the same mappings.
pub fn tlv_dump(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(mappings) = tlv::parse_tlv_map(text) else { return };
    if mappings.is_empty() {
        return;
    }
    let arg = tlv::tlv_map_arg(&mappings);
    assert_eq!(tlv::parse_tlv_arg(&arg).as_ref(), Ok(&mappings), "{arg}");
}

/// `ovs-appctl fdb/show` output: every entry taken is one `fdb/add` of a
/// valid port, VLAN and MAC, and every other non-blank line is counted.
pub fn fdb_show(data: &[u8]) {
    let table = fdb::parse_fdb_show(data).expect("reading memory");
    for entry in &table.entries {
        assert!(entry.vlan < 4096 && fdb::mac_text(&entry.mac).len() == 17, "{entry:?}");
    }
    let lines = data.split(|b| *b == b'\n').filter(|l| l.iter().any(|b| !b.is_ascii_whitespace())).count();
    assert!(table.entries.len() + table.ignored <= lines);
    assert_eq!(table.first_ignored.is_some(), table.ignored > 0);
}

/// A `do_restore.sh`, read as data.
pub fn restore_script(data: &[u8]) {
    let _ = ovs_save::parse_restore_script(data);
}

/// File names in an sos report or an ovs-save directory.
pub fn dump_name(data: &[u8]) {
    let Ok(name) = std::str::from_utf8(data) else { return };
    if let Some(parsed) = sos_names::parse_sos_dump_name(name) {
        assert!(!parsed.bridge.is_empty());
    }
    if let Some((_, bridge)) = sos_names::parse_ovs_save_dump_name(name) {
        assert!(!bridge.is_empty());
    }
    let _ = sos_names::sos_mangled_bridge(name);
}

/// An OVSDB database file: inspecting never panics, and its complete
/// records never end past the file; nor does reading its `NB_Global` name
/// (a must-gather's node).
pub fn db_file(data: &[u8]) {
    let info = file::inspect(data);
    if let Ok(info) = &info {
        assert!(info.complete_len <= info.file_len && info.file_len == data.len() as u64);
    }
    let _ = file::nb_global_name(data);
    // Re-hashing: a file without edited records comes back byte for byte,
    // and what comes back has no edited record left.
    let mut rehash = Rehash::new(data, data.len() as u64 + 1);
    let mut out = Vec::new();
    if io::Read::read_to_end(&mut rehash, &mut out).is_err() {
        assert!(rehash.broken.is_some());
        return;
    }
    if rehash.rehashed == 0 {
        assert_eq!(out, data);
    }
    if let (Ok(before), Ok(after)) = (info, file::inspect(&out[..])) {
        assert_eq!(after.edited_record, None, "{before:?}");
    }
}

/// A `capture.json`, the `state.json` of a workdir before it, and a
/// capture bundle's index.
pub fn capture_manifest(data: &[u8]) {
    let _ = serde_json::from_slice::<manifest::Manifest>(data);
    let _ = serde_json::from_slice::<crate::capture::bundle::Index>(data);
    if let Ok(state) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = manifest::from_legacy_state(&state);
        let mut state = state;
        crate::state::upgrade_legacy_run(&mut state);
    }
}

/// sos report metadata (`sos_reports/manifest.json`, `version.txt`,
/// `ovs-vsctl list Open_vSwitch`, `--version` output) and a must-gather's
/// pod YAML: reading never panics, and every value kept is one line.
pub fn sos_metadata(data: &[u8]) {
    use crate::collect::sos;
    let text = String::from_utf8_lossy(data);
    let one_line = |v: &Option<String>| assert!(v.as_ref().is_none_or(|v| !v.contains('\n')), "{v:?}");
    if let Some(facts) = sos::parse_manifest(&text) {
        one_line(&facts.version);
    }
    one_line(&sos::sos_version_txt(&text));
    one_line(&crate::ofp_text::versions::ovs(&text));
    one_line(&crate::ofp_text::versions::ovn(&text));
    let row = sos::open_vswitch_row(&text);
    one_line(&row.hostname);
    one_line(&row.ovs_version);
    one_line(&crate::collect::must_gather::node_name(&text));
}

/// The text of `ovsdb-client -f list dump`: rebuilding never panics, and
/// what it rebuilds is a standalone OVSDB file of two intact records.
pub fn list_dump(data: &[u8]) {
    const SCHEMA: &str = r#"{"name":"Open_vSwitch","version":"8.3.1","tables":{
        "Open_vSwitch":{"columns":{"bridges":{"type":{"key":{"type":"uuid","refTable":"Bridge"},"min":0,"max":"unlimited"}}}},
        "Bridge":{"columns":{"name":{"type":"string"},"stp_enable":{"type":"boolean"},
            "fail_mode":{"type":{"key":{"type":"string","enum":["set",["standalone","secure"]]},"min":0,"max":1}},
            "external_ids":{"type":{"key":"string","value":"string","min":0,"max":"unlimited"}},
            "ofport":{"type":{"key":"integer","min":0,"max":1}},"x":{"type":"real"}}}}}"#;
    let text = String::from_utf8_lossy(data);
    let Ok(rebuilt) = crate::ovsdb::rebuild::rebuild(&text, SCHEMA.as_bytes(), "fuzz", 0) else { return };
    let info = file::inspect(&rebuilt.file[..]).expect("a rebuilt file is a database");
    assert_eq!((info.records, info.torn_bytes(), info.edited_record), (2, 0, None));
}

/// `ovn-nbctl show`, `ovn-sbctl show` and `ovn-sbctl lflow-list` text (the
/// same bytes as each): rebuilding never panics, and what it rebuilds is
/// a standalone OVSDB file of two intact records.
pub fn ovn_text(data: &[u8]) {
    use crate::capture::DbKind;
    use crate::ovsdb::ovn_text::{self, OvnTexts, Text, TEXT_SCHEMA};
    let text = String::from_utf8_lossy(data).into_owned();
    let given = |member: &str| Some(Text { member: member.into(), text: text.clone() });
    let nb = OvnTexts { show: given("nb"), ..OvnTexts::default() };
    let sb = OvnTexts { show: given("sb"), lflows: given("lflows"), ..OvnTexts::default() };
    for (kind, texts) in [(DbKind::OvnNb, &nb), (DbKind::OvnSb, &sb)] {
        let Ok(built) = ovn_text::rebuild(kind, texts, &nb, TEXT_SCHEMA.as_bytes(), "fuzz", 0) else { continue };
        let info = file::inspect(&built.rebuilt.file[..]).expect("a rebuilt file is a database");
        assert_eq!((info.records, info.torn_bytes(), info.edited_record), (2, 0, None));
    }
}

/// `ofproto/trace` text and `dpif/show` text (the same bytes as each):
/// reading never panics, every step belongs to a pass and every kept value
/// is one line, every line in execution order is a kept one; the datapath
/// ports of its datapath actions are read too.
pub fn trace_text(data: &[u8]) {
    use crate::trace::{parse, ports};
    let text = String::from_utf8_lossy(data);
    let trace = parse::parse(&text);
    for pass in &trace.passes {
        let one_line = |v: &str| assert!(!v.contains('\n'), "{v:?}");
        pass.flow.iter().chain(&pass.datapath_actions).chain(&pass.notes).for_each(|v| one_line(v));
        for step in &pass.steps {
            step.actions.iter().chain(&step.notes).chain([&step.flow_match]).for_each(|v| one_line(v));
        }
        assert_eq!(pass.executed().count(), pass.executed.len());
        let _ = pass.datapath_actions.as_deref().map(parse::datapath_outputs);
    }
    let _ = parse::datapath_outputs(&text);
    let _ = ports::parse_dpif_show(&text);
}

/// A packet capture (pcap or pcapng): reading its first and second frame
/// never panics, and a frame given is Ethernet and small enough to trace.
pub fn packet_capture(data: &[u8]) {
    use crate::trace::pcap;
    for frame in [1, 2] {
        if let Ok(found) = pcap::frame_of(data, frame) {
            assert!(found.data.len() <= pcap::MAX_FRAME);
        }
    }
}
