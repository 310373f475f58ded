//! docs/tutorial.md kept working: every command it shows after a `$ `
//! (or `(ovs-offline) $ `, run with the replica's `bin/activate` sourced)
//! in a ```console block is run for real, in order, as the unprivileged
//! test user, against the inputs the tutorial names: a live lab node (read
//! through the `kubectl` stand-in and by `collect-local`), the sos report
//! fixtures and examples/lab-node. Blocks after `<!-- not run: … -->` need
//! a cluster or a host and are skipped. A command must succeed and every
//! output line the tutorial shows (except `[...]` lines) must still appear,
//! once volatile values (pids, times, UUIDs, recirculation ids) are masked.
//! The tutorial's paths are mapped onto the test's files by [`Session`].

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::k8s::{
    db_map, ovs_map, ovs_node_labels, pod, upstream_node_labels, Cluster, UPSTREAM_IC_NODE, UPSTREAM_NS,
};
use support::{run_ok, LabNode};

const DOC: &str = "docs/tutorial.md";
const NOT_RUN: &str = "<!-- not run:";
const ACTIVATED: &str = "(ovs-offline) $ ";

/// The sos reports the tutorial names, and the fixture each one is.
const SOS_REPORTS: [(&str, &str); 4] = [
    ("/tmp/sosreport-worker-0-2026-12-01-iguyder.tar.xz", "trixie-ovs3.5-ovn25.03-sos4.12.tar.xz"),
    ("/tmp/sosreport-master-0-2026-12-01-pssdfxu.tar.xz", "trixie-ovs3.5-ovn25.03-sos4.12.tar.xz"),
    ("/tmp/openstack/sosreport-compute-2-2026-12-01-ghresdq.tar.xz", "trixie-ovs3.5-ovn25.03-sos4.9.1.tar.xz"),
    ("/tmp/openstack/sosreport-controller-2-2026-12-01-zveckho.tar.xz", "trixie-ovs3.5-ovn25.03-sos4.9.1.tar.xz"),
];

/// Where the tutorial's customer saved examples/lab-node (`flows/` as
/// `ovs-save/`).
const CASE_DIR: &str = "/tmp/case-1234";

/// The must-gather the tutorial names, laid out by [`MUST_GATHER_LAYOUT`].
const MUST_GATHER: &str = "/tmp/must-gather.local.4242";

/// `bash -c MUST_GATHER_LAYOUT _ DIR SOSREPORT` lays out in DIR a
/// must-gather as `oc adm must-gather` does (interconnect store, one pod's
/// YAML) holding worker-0's NB and SB: those of the sos report.
const MUST_GATHER_LAYOUT: &str = r#"set -euo pipefail
top="$1/quay-io-openshift-release-dev-ocp-v4-0-art-dev-sha256-0123"; pod=ovnkube-node-7xq2p; work=$(mktemp -d)
tar -xJf "$2" -C "$work" --wildcards '*/var/lib/openvswitch/ovn*_db.db'
mkdir -p "$work/ovnk_database_store" "$top/network_logs" "$top/namespaces/openshift-ovn-kubernetes/pods/$pod"
for db in nb sb; do mv "$work"/*/var/lib/openvswitch/ovn${db}_db.db "$work/ovnk_database_store/${pod}_${db}db"; done
tar -czf "$top/network_logs/ovnk_database_store.tar.gz" -C "$work" ovnk_database_store
printf 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\nspec:\n  nodeName: worker-0\n' "$pod" \
    >"$top/namespaces/openshift-ovn-kubernetes/pods/$pod/$pod.yaml"
rm -rf "$work""#;

/// The host name the tutorial's output was captured on.
const DOC_HOST: &str = "vm";

/// One command of the tutorial and the output lines it shows.
struct Step {
    line: usize,
    command: String,
    activated: bool,
    shown: Vec<String>,
}

/// The commands of every ```console block not marked "not run", in order.
fn steps(doc: &str) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let (mut in_block, mut skip, mut run_block) = (false, false, false);
    for (index, line) in doc.lines().enumerate() {
        if !in_block {
            if line.starts_with(NOT_RUN) {
                skip = true;
            } else if line == "```console" {
                (in_block, run_block, skip) = (true, !skip, false);
            }
            continue;
        }
        if line == "```" {
            in_block = false;
        } else if !run_block {
        } else if let Some(command) = line.strip_prefix("$ ") {
            steps.push(Step { line: index + 1, command: command.to_string(), activated: false, shown: Vec::new() });
        } else if let Some(command) = line.strip_prefix(ACTIVATED) {
            steps.push(Step { line: index + 1, command: command.to_string(), activated: true, shown: Vec::new() });
        } else if let Some(step) = steps.last_mut() {
            step.shown.push(line.to_string());
        }
    }
    steps
}

/// Replaces the run of `chars` after each `prefix` with `#`.
fn mask_after(text: &str, prefix: &str, chars: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        let (head, tail) = rest.split_at(at + prefix.len());
        out.push_str(head);
        let end = tail.find(|c: char| !chars.contains(c)).unwrap_or(tail.len());
        if end > 0 {
            out.push('#');
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Replaces every UUID with `<uuid>`.
fn mask_uuids(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let is_uuid = |w: &[char]| {
        w.iter().enumerate().all(|(i, c)| if [8, 13, 18, 23].contains(&i) { *c == '-' } else { c.is_ascii_hexdigit() })
    };
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        if i + 36 <= chars.len() && is_uuid(&chars[i..i + 36]) {
            out.push_str("<uuid>");
            i += 36;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

const DIGITS: &str = "0123456789";
const TIME: &str = "0123456789-:.TZ";
const HEX: &str = "0123456789abcdefx";

/// What differs from run to run, after which prefix.
const VOLATILE: [(&str, &str); 12] = [
    (" pid ", DIGITS),
    ("vswitchd.", DIGITS),
    ("since ", TIME),
    ("finished ", TIME),
    (" at ", TIME),
    ("up ", "0123456789smhdwy "),
    ("duration=", "0123456789."),
    ("idle_age=", DIGITS),
    ("recirc(", HEX),
    ("recirc_id=", HEX),
    ("xid=", HEX),
    ("-lab-node-", "0123456789TZ"),
];

/// A line with its volatile values masked and its spaces collapsed, for
/// comparison.
fn normalise(line: &str) -> String {
    let mut text = mask_uuids(line.trim());
    for (prefix, chars) in VOLATILE {
        text = mask_after(&text, prefix, chars);
    }
    // Columns padded to a pid's width.
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The emulated cluster of the tutorial (a KIND cluster, upstream
/// ovn-kubernetes interconnect): its `kubectl` stand-in serves ovn-worker's
/// pods from the live `lab` node.
/// The kind cluster the tutorial reads: ovn-control-plane and ovn-worker,
/// each with its ovnkube-node and ovs-node pods; ovn-worker's are the lab
/// node's.
fn cluster(lab: &LabNode) -> Cluster {
    let mut pods: Vec<Value> = Vec::new();
    for (node, ovnkube, ovs) in [("ovn-control-plane", "fs94v", "f74f2"), ("ovn-worker", "gw4nx", "xx9b7")] {
        let ovnkube = format!("ovnkube-node-{ovnkube}");
        pods.push(pod(UPSTREAM_NS, &ovnkube, node, upstream_node_labels(), &UPSTREAM_IC_NODE));
        pods.push(pod(UPSTREAM_NS, &format!("ovs-node-{ovs}"), node, ovs_node_labels(), &["ovs-daemons"]));
    }
    let cluster = Cluster::new(&["ovn-control-plane", "ovn-worker"], Value::Array(pods));
    cluster.container(UPSTREAM_NS, "ovs-node-xx9b7", "ovs-daemons", &ovs_map(lab.var("LAB_OVS_RUNDIR")));
    cluster.container(UPSTREAM_NS, "ovnkube-node-gw4nx", "nb-ovsdb", &db_map("nb", lab.var("LAB_NB_DB")));
    cluster.container(UPSTREAM_NS, "ovnkube-node-gw4nx", "sb-ovsdb", &db_map("sb", lab.var("LAB_SB_DB")));
    cluster
}

/// The tutorial's machine, in a scratch directory standing for `/tmp`: its
/// working directory, inputs and the commands' current directory.
struct Session {
    scratch: tempfile::TempDir,
    cwd: PathBuf,
    /// (as the tutorial writes it, as it is here): mapped in a command last
    /// to first (`/tmp/` first), in what it printed first to last (the lab
    /// node's sockets, below `/tmp`, first).
    paths: Vec<(String, String)>,
    env: Vec<(String, String)>,
    _kube: Cluster,
    _lab: LabNode,
}

impl Session {
    fn new() -> Session {
        let scratch = support::user_dir("tutorial-");
        let root = scratch.path().to_str().unwrap().to_string();
        let lab = LabNode::start();
        support::k8s::open_to_everyone(lab.dir.path());
        let kube = cluster(&lab);
        let standin = kube.dir.path();
        let bin = scratch.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        std::fs::copy(env!("CARGO_BIN_EXE_ovs-offline"), bin.join("ovs-offline")).unwrap();
        Session::inputs(scratch.path());
        let path = format!(
            "{}/bin:{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            standin.display(),
            bin.display()
        );
        let env = vec![
            ("PATH".to_string(), path),
            ("HOME".to_string(), root.clone()),
            ("KUBECTL_STANDIN_DIR".to_string(), standin.display().to_string()),
            ("OVS_DBG_WORKDIR".to_string(), format!("{root}/ovs-offline")),
        ];
        let lab_dir = lab.var("LAB_DIR");
        let paths = vec![
            ("/var/run/openvswitch".to_string(), lab.var("LAB_OVS_RUNDIR").to_string()),
            ("/var/run/ovn/ovnnb_db.sock".to_string(), format!("{lab_dir}/nb/db.sock")),
            ("/var/run/ovn/ovnsb_db.sock".to_string(), format!("{lab_dir}/sb/db.sock")),
            ("/tmp/".to_string(), format!("{root}/")),
        ];
        run_ok(
            Command::new("chown").arg("-R").arg(format!("{}:{}", support::test_uid(), support::test_gid())).arg(&root),
        );
        Session { cwd: scratch.path().to_path_buf(), scratch, paths, env, _kube: kube, _lab: lab }
    }

    /// The sos reports, the must-gather and the case directory, as the
    /// tutorial names them.
    fn inputs(root: &Path) {
        let here = |doc_path: &str| root.join(doc_path.strip_prefix("/tmp/").unwrap());
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sos");
        for (doc_path, fixture) in SOS_REPORTS {
            std::fs::create_dir_all(here(doc_path).parent().unwrap()).unwrap();
            std::fs::copy(fixtures.join(fixture), here(doc_path)).unwrap();
        }
        let mut layout = Command::new("bash");
        layout.args(["-c", MUST_GATHER_LAYOUT, "must-gather"]).arg(here(MUST_GATHER)).arg(here(SOS_REPORTS[0].0));
        run_ok(&mut layout);
        let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/lab-node");
        let case = here(CASE_DIR);
        run_ok(Command::new("cp").arg("-R").arg(&sample).arg(&case));
        std::fs::rename(case.join("flows"), case.join("ovs-save")).unwrap();
        support::make_readable(root);
    }

    /// The tutorial's command as it runs here: its paths mapped, the pid
    /// of a control socket (the tutorial's own run's) left to the shell.
    fn command(&self, text: &str) -> String {
        let mut command = text.to_string();
        for (doc, here) in self.paths.iter().rev() {
            command = command.replace(doc.as_str(), here);
        }
        let pid = "$(cat \"$OVS_DBG_WORKDIR\"/var-run/ovs/ovs-vswitchd.pid)";
        mask_after(&command, "ovs-vswitchd.", DIGITS).replace("ovs-vswitchd.#.ctl", &format!("ovs-vswitchd.{pid}.ctl"))
    }

    /// What a command printed, with this machine's paths and host name as
    /// the tutorial has them.
    fn as_documented(&self, output: &str) -> String {
        let mut text = output.to_string();
        for (doc, here) in &self.paths {
            text = text.replace(here.as_str(), doc);
        }
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        text.replace(&format!("host {}:", host.trim()), &format!("host {DOC_HOST}:"))
    }

    /// `bash -c script` as the test user, with the session's environment.
    fn shell(&self, script: &str) -> Command {
        let mut cmd = Command::new(if support::is_root() { "runuser" } else { "bash" });
        if support::is_root() {
            cmd.args(["-u", support::TEST_USER, "--", "bash"]);
        }
        cmd.arg("-c").arg(script).env_clear().envs(self.env.iter().cloned()).current_dir(&self.cwd);
        cmd
    }

    fn run(&mut self, step: &Step) {
        let command = self.command(&step.command);
        if let Some(dir) = command.strip_prefix("cd ") {
            self.cwd = PathBuf::from(dir.trim());
            return;
        }
        let script = if step.activated {
            format!("source {}/ovs-offline/bin/activate >/dev/null && {command}", self.scratch.path().display())
        } else {
            command
        };
        let cmd = self.shell(&script);
        let out = { cmd }.output().unwrap_or_else(|e| panic!("{DOC}:{}: cannot run {script}: {e}", step.line));
        let printed = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{DOC}:{}: `{}` failed ({}):\n{printed}", step.line, step.command, out.status);
        check_shown(step, &self.as_documented(&printed));
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.shell("ovs-offline stop").output();
    }
}

/// Every line the tutorial shows for `step` (but `[...]`) is among what
/// it printed.
fn check_shown(step: &Step, printed: &str) {
    let printed: Vec<String> = printed.lines().map(normalise).collect();
    for shown in step.shown.iter().filter(|l| !l.contains("[...]") && !l.trim().is_empty()) {
        assert!(
            printed.contains(&normalise(shown)),
            "{DOC}:{}: `{}` no longer prints the line\n  {shown}\nIt printed:\n{}",
            step.line,
            step.command,
            printed.join("\n")
        );
    }
}

#[test]
fn every_tutorial_command_runs_and_prints_what_the_tutorial_shows() {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(DOC)).unwrap();
    let steps = steps(&doc);
    let starts = steps.iter().filter(|s| s.command == "ovs-offline start").count();
    assert!(starts >= 5, "the tutorial's journeys each start a replica: {starts} starts found");
    let mut session = Session::new();
    for step in &steps {
        session.run(step);
    }
}

#[test]
fn commands_are_found_in_console_blocks_not_marked_not_run() {
    let doc = "<!-- not run: needs a cluster -->\n```console\n$ kubectl get nodes\nNAME\n```\n\
               ```sh\n$ not-console\n```\n```console\n$ ovs-offline start\nOffline OVS Debugging started\n\
               (ovs-offline) $ ovs-vsctl show\n```\n";
    let steps = steps(doc);
    let found: Vec<(&str, bool, usize)> =
        steps.iter().map(|s| (s.command.as_str(), s.activated, s.shown.len())).collect();
    assert_eq!(found, [("ovs-offline start", false, 1), ("ovs-vsctl show", true, 0)]);
}

#[test]
fn volatile_values_are_masked() {
    assert_eq!(
        normalise("  ovs-vswitchd         pid 29470    running, up 1m 5s"),
        normalise("ovs-vswitchd         pid 1    running, up 2s")
    );
    assert_eq!(normalise("_uuid : e172ea8f-e460-49b0-8059-c5c36d2da393"), "_uuid : <uuid>");
    assert_eq!(normalise("Datapath actions: ct(zone=2,nat),recirc(0x4)"), "Datapath actions: ct(zone=2,nat),recirc(#)");
    assert_ne!(normalise("br-int: 877/877 flows"), normalise("br-int: 876/877 flows"));
}
