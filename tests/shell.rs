//! Shell integration and output: the completion scripts parse in their
//! shells, the man page renders, `--quiet` prints only data and problems,
//! and `--json` gives every collect summary and start's report as JSON.

mod support;

use std::path::Path;
use std::process::Command;
use support::{make_readable, run_ok, stdout, Replica};

fn ovs_offline(args: &[&str]) -> String {
    stdout(run_ok(Command::new(env!("CARGO_BIN_EXE_ovs-offline")).args(args)))
}

fn installed(tool: &str) -> bool {
    Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().is_ok_and(|o| o.status.success())
}

#[test]
fn completions_parse_in_their_shells() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let script = ovs_offline(&["completion", shell]);
        assert!(script.contains("collect-sos-ovs") && script.contains("workdir"), "{shell}: {script}");
        if shell != "bash" && !installed(shell) {
            eprintln!("{shell} not installed: its completion is not parsed");
            continue;
        }
        let file = dir.path().join(shell);
        std::fs::write(&file, script).unwrap();
        run_ok(Command::new(shell).arg("-n").arg(&file));
    }
}

#[test]
fn man_page_renders_every_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("ovs-offline.1");
    std::fs::write(&page, ovs_offline(&["man"])).unwrap();
    let text = stdout(run_ok(Command::new("man").arg("-l").arg(&page).env("MANWIDTH", "200").env("MANPAGER", "cat")));
    let help = ovs_offline(&["--help"]);
    let commands = help.lines().skip_while(|l| *l != "Commands:").skip(1).take_while(|l| !l.is_empty());
    for line in commands.filter(|l| !l.trim_start().starts_with("help")) {
        let name = line.split_whitespace().next().unwrap();
        assert!(text.contains(&format!("ovs-offline {name}")), "{name} missing from the man page:\n{text}");
    }
    for section in ["SUBCOMMANDS", "ENVIRONMENT", "FILES", "OVS_DBG_WORKDIR", "restore_flows/"] {
        assert!(text.contains(section), "{section} missing:\n{text}");
    }
}

/// The sample capture, readable by the test user.
fn sample(replica: &Replica) -> std::path::PathBuf {
    let dir = replica.base.path().join("sample");
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/lab-node");
    run_ok(Command::new("cp").arg("-r").arg(&from).arg(&dir));
    make_readable(&dir);
    dir
}

#[test]
fn quiet_prints_nothing_but_data() {
    let replica = Replica::new();
    let sample = sample(&replica);
    for (cmd, file) in [("collect-db-ovs", "conf.db"), ("collect-db-ovn-nb", "ovnnb_db.db"), ("collect-flows", "flows")]
    {
        let out = replica.ok(&["-q", cmd, sample.join(file).to_str().unwrap()]);
        assert_eq!(out, "", "{cmd} -q printed");
    }
    assert_eq!(replica.ok(&["--quiet", "start"]), "");
    let show = replica.ok(&["-q", "show"]);
    assert!(show.contains("db.sock"), "show is data, printed with -q: {show}");
    assert_eq!(replica.ok(&["-q", "stop", "--purge"]), "");
}

#[test]
fn json_collect_summaries_and_start_report() {
    let replica = Replica::new();
    let sample = sample(&replica);
    let json = |args: &[&str]| -> serde_json::Value {
        let out = replica.ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    };
    let db = json(&["collect-db-ovs", "--json", sample.join("conf.db").to_str().unwrap()]);
    assert_eq!(db["schema"], "Open_vSwitch", "{db}");
    let sb = json(&["collect-db-ovn-sb", "--json", sample.join("ovnsb_db.db").to_str().unwrap()]);
    assert_eq!(sb["schema"], "OVN_Southbound", "{sb}");
    let flows = json(&["collect-flows", "--json", sample.join("flows").to_str().unwrap()]);
    let bridges: Vec<&str> =
        flows["bridges"].as_array().unwrap().iter().map(|b| b["bridge"].as_str().unwrap()).collect();
    assert!(bridges.contains(&"br-int"), "{flows}");
    assert!(flows["bridges"][0]["flows"].as_u64().unwrap() > 0, "{flows}");

    let started = json(&["start", "--json"]);
    let restored = started["restored"]["bridges"].as_array().unwrap();
    let br_int = restored.iter().find(|b| b["bridge"] == "br-int").unwrap();
    assert!(br_int["flows"]["restored"].as_u64().unwrap() > 0, "{started}");
    assert_eq!(br_int["flows"]["restored"], br_int["flows"]["expected"], "{started}");
    assert!(started["replica"].is_object() && started["databases"].as_array().unwrap().len() == 2, "{started}");
    assert!(started["restore_error"].is_null(), "{started}");
    replica.ok(&["stop", "--purge"]);
}
