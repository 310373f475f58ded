//! A live multi-node OVN lab built by `cluster-lab.sh`: one NB/SB with
//! several chassis (`ClusterLab::start`), or two interconnected zones
//! (`ClusterLab::start_ic`), each chassis with its own ovsdb-server,
//! ovs-vswitchd (dummy datapath) and ovn-controller; or a plain-OVS
//! overlay as the Neutron OVS agent builds one, by `vxlan-lab.sh`
//! (`ClusterLab::start_vxlan`: its VMs are the pods); stopped on drop.
//! Tests run the real tools against one chassis (`tool`, `live_trace`) and
//! lay a chassis out as an sos report (`lay_out_as_sos`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One pod (a VIF bound to a logical switch port of the same name).
#[derive(Clone, Debug)]
pub struct Pod {
    pub name: String,
    pub chassis: String,
    /// Its OpenFlow port on the chassis's br-int.
    pub ofport: u32,
    pub mac: String,
    pub ip: String,
    /// Its logical switch.
    pub switch: String,
}

/// One chassis: its name (= system-id = hostname) and env file.
struct Chassis {
    name: String,
    env: BTreeMap<String, String>,
}

/// A geneve port of a chassis towards another chassis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tunnel {
    pub name: String,
    pub ofport: u32,
    pub remote_ip: String,
}

pub struct ClusterLab {
    pub dir: tempfile::TempDir,
    /// The script that built it (and stops it).
    script: PathBuf,
    chassis: Vec<Chassis>,
    pods: Vec<Pod>,
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support").join(name)
}

impl ClusterLab {
    /// One NB/SB + ovn-northd and `n` chassis (2 to 64) `node-1`…:
    /// switches ls1/ls2, router lr1, pods pod1…pod5 on node-1…node-3 (on
    /// node-1 and node-2 when `n` is 2), load balancers lb1 and lb2 on ls1
    /// (see cluster-lab.sh).
    pub fn start(n: usize) -> ClusterLab {
        ClusterLab::run_start("cluster-lab.sh", &["start".to_string(), "--chassis".to_string(), n.to_string()])
    }

    /// OVN interconnect: zones az1 and az2, each with its NB/SB, northd and
    /// ovn-ic, transit switch ts1; chassis az1-node-1 and az2-node-1 (their
    /// zone's ts1 gateway) and az1-node-2 (see cluster-lab.sh).
    pub fn start_ic() -> ClusterLab {
        ClusterLab::run_start("cluster-lab.sh", &["start-ic".to_string()])
    }

    /// Plain OVS, no OVN (Neutron ML2/OVS): nodes node-1…node-3, tunnel IP
    /// 10.10.0.K, br-int and br-tun, one vxlan port per peer, VM vmK
    /// (ofport 5) on network VNI 0x64 (see vxlan-lab.sh); with `gre`, gre
    /// ports `gre-0a0a000P` instead.
    pub fn start_vxlan(gre: bool) -> ClusterLab {
        let kind = if gre { "gre" } else { "vxlan" };
        ClusterLab::run_start("vxlan-lab.sh", &["start".to_string(), "--type".to_string(), kind.to_string()])
    }

    fn run_start(name: &str, args: &[String]) -> ClusterLab {
        let dir = tempfile::Builder::new().prefix("cluster-lab-").tempdir().unwrap();
        let (cmd, rest) = args.split_first().unwrap();
        let script = script(name);
        let out = Command::new("bash").arg(&script).arg(cmd).arg(dir.path()).args(rest).output().unwrap();
        // Whatever started is stopped on drop, even when start failed.
        let mut lab = ClusterLab { dir, script, chassis: Vec::new(), pods: Vec::new() };
        assert!(
            out.status.success(),
            "{name} {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        lab.read_layout();
        lab
    }

    /// Reads `lab.env` (the chassis), each chassis's env and `pods`.
    fn read_layout(&mut self) {
        let top = super::read_env(&self.dir.path().join("lab.env"));
        let zones = top["LAB_ZONES"].split_whitespace().collect::<Vec<_>>();
        for name in top["LAB_CHASSIS_LIST"].split_whitespace() {
            let zone_dir = zones.iter().find(|z| name.starts_with(&format!("{z}-")));
            let dir = match zone_dir {
                Some(zone) => self.dir.path().join(zone).join(name),
                None => self.dir.path().join(name),
            };
            self.chassis.push(Chassis { name: name.to_string(), env: super::read_env(&dir.join("env")) });
        }
        let pods = std::fs::read_to_string(self.dir.path().join("pods")).unwrap();
        for line in pods.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            let [name, chassis, ofport, mac, ip, switch] = f[..] else { panic!("pods: {line}") };
            self.pods.push(Pod {
                name: name.into(),
                chassis: chassis.into(),
                ofport: ofport.parse().unwrap(),
                mac: mac.into(),
                ip: ip.into(),
                switch: switch.into(),
            });
        }
    }

    fn node(&self, chassis: &str) -> &Chassis {
        self.chassis.iter().find(|c| c.name == chassis).unwrap_or_else(|| panic!("no chassis {chassis} in the lab"))
    }

    /// The chassis names, in order (`node-1`…, or `az1-node-1`, `az2-node-1`).
    pub fn chassis(&self) -> Vec<&str> {
        self.chassis.iter().map(|c| c.name.as_str()).collect()
    }

    /// The chassis's directory (its ovs/, ovn/, log/, etc/ and env).
    pub fn dir(&self, chassis: &str) -> &Path {
        Path::new(self.var(chassis, "LAB_DIR"))
    }

    /// The chassis's env file as a map (lab-node.sh's `LAB_*` variables,
    /// plus `LAB_CHASSIS`, `LAB_ENCAP_IP`, and in a zone `LAB_ZONE`,
    /// `LAB_IC_NB_DB`, `LAB_IC_SB_DB`).
    pub fn env(&self, chassis: &str) -> &BTreeMap<String, String> {
        &self.node(chassis).env
    }

    pub fn var(&self, chassis: &str, name: &str) -> &str {
        self.env(chassis).get(name).unwrap_or_else(|| panic!("{name} not in {chassis}'s env"))
    }

    /// The chassis's `ovn-encap-ip`.
    pub fn encap_ip(&self, chassis: &str) -> &str {
        self.var(chassis, "LAB_ENCAP_IP")
    }

    /// True when the chassis runs OVN (it has an NB/SB).
    pub fn has_ovn(&self, chassis: &str) -> bool {
        !self.var(chassis, "LAB_NB_DB").is_empty()
    }

    /// The chassis's zone (interconnect lab only).
    pub fn zone(&self, chassis: &str) -> Option<&str> {
        self.env(chassis).get("LAB_ZONE").map(String::as_str)
    }

    /// Runs an OVS/OVN client against the chassis: its conf.db and
    /// ovs-vswitchd (`OVS_RUNDIR`), and its zone's NB/SB.
    pub fn tool(&self, chassis: &str, tool: &str, args: &[&str]) -> String {
        super::env_tool(self.env(chassis), tool, args)
    }

    /// `ovs-appctl ofproto/trace BRIDGE FLOW [extra…]` on the live chassis
    /// (without `--ct-next` a traced `ct` resumes as `trk,new`).
    pub fn live_trace(&self, chassis: &str, bridge: &str, flow: &str) -> String {
        self.live_trace_with(chassis, bridge, flow, &[])
    }

    pub fn live_trace_with(&self, chassis: &str, bridge: &str, flow: &str, extra: &[&str]) -> String {
        let mut args = vec!["ofproto/trace", bridge, flow];
        args.extend(extra);
        self.tool(chassis, "ovs-appctl", &args)
    }

    pub fn pods(&self) -> &[Pod] {
        &self.pods
    }

    /// A pod's (chassis, ofport, mac, ip).
    pub fn pod(&self, name: &str) -> (&str, u32, &str, &str) {
        let pod = self.pods.iter().find(|p| p.name == name).unwrap_or_else(|| panic!("no pod {name} in the lab"));
        (&pod.chassis, pod.ofport, &pod.mac, &pod.ip)
    }

    /// The chassis's datapath port number → port name (`dpctl/show`).
    pub fn datapath_ports(&self, chassis: &str) -> BTreeMap<String, String> {
        super::trace_compare::datapath_ports(&self.tool(chassis, "ovs-appctl", &["dpctl/show"]))
    }

    /// A TCP packet from pod `from` (its MAC and IP, port 1234, ttl 64) to
    /// `dl_dst`, `nw_dst`:`tp_dst`, without an in_port.
    pub fn tcp(&self, from: &str, dl_dst: &str, nw_dst: &str, tp_dst: u16) -> String {
        let (_, _, mac, ip) = self.pod(from);
        format!("tcp,dl_src={mac},dl_dst={dl_dst},nw_src={ip},nw_dst={nw_dst},nw_ttl=64,tp_src=1234,tp_dst={tp_dst}")
    }

    /// Interconnect lab: an ICMP echo from pod `from` (in az1) to az2-pod1,
    /// sent to lr-az1, without an in_port.
    pub fn icmp_to_az2_pod1(&self, from: &str) -> String {
        let (_, _, mac, ip) = self.pod(from);
        let (_, _, _, az2_ip) = self.pod("az2-pod1");
        format!(
            "icmp,dl_src={mac},dl_dst=00:00:00:01:ff:01,nw_src={ip},nw_dst={az2_ip},nw_ttl=64,icmp_type=8,icmp_code=0"
        )
    }

    /// The chassis's geneve ports (ovn-controller names them `ovn-<peer>-0`).
    pub fn tunnels(&self, chassis: &str) -> Vec<Tunnel> {
        let text = self.tool(
            chassis,
            "ovs-vsctl",
            &["--format=json", "--columns=name,ofport,options", "find", "Interface", "type=geneve"],
        );
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut tunnels: Vec<Tunnel> = json["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| {
                let options = row[2][1].as_array().unwrap();
                let remote_ip = options.iter().find(|kv| kv[0] == "remote_ip").map(|kv| kv[1].as_str().unwrap());
                Tunnel {
                    name: row[0].as_str().unwrap().to_string(),
                    ofport: row[1].as_u64().unwrap() as u32,
                    remote_ip: remote_ip.unwrap_or_else(|| panic!("no remote_ip: {row}")).to_string(),
                }
            })
            .collect();
        tunnels.sort_by_key(|t| t.ofport);
        tunnels
    }

    /// The geneve port of `chassis` whose remote_ip is `peer`'s encap IP.
    pub fn tunnel_to(&self, chassis: &str, peer: &str) -> Tunnel {
        let ip = self.encap_ip(peer);
        let tunnels = self.tunnels(chassis);
        tunnels
            .iter()
            .find(|t| t.remote_ip == ip)
            .cloned()
            .unwrap_or_else(|| panic!("{chassis} has no tunnel to {peer} ({ip}): {tunnels:?}"))
    }

    /// `collect-local`'s options that read the chassis through its sockets
    /// (its OVS run directory; with `ovn_dbs` on an OVN chassis, its zone's
    /// NB and SB).
    pub fn collect_local_args(&self, chassis: &str, ovn_dbs: bool) -> Vec<String> {
        let mut args = vec!["--ovs-rundir".to_string(), self.var(chassis, "LAB_OVS_RUNDIR").to_string()];
        if ovn_dbs && self.has_ovn(chassis) {
            args.extend(["--nb-db".to_string(), self.var(chassis, "LAB_NB_DB").to_string()]);
            args.extend(["--sb-db".to_string(), self.var(chassis, "LAB_SB_DB").to_string()]);
        }
        args
    }

    /// The chassis laid out below `dir` as sos 4.12 names what it keeps
    /// (see `sos_layout`); with `ovn_dbs`, its zone's NB and SB too (as on
    /// an OpenShift interconnect node; none without OVN). Returns the
    /// report's top directory.
    pub fn lay_out_as_sos(&self, chassis: &str, ovn_dbs: bool, dir: &Path) -> PathBuf {
        super::sos_layout::lay_out_as_sos(self.env(chassis), chassis, ovn_dbs && self.has_ovn(chassis), dir)
    }
}

impl Drop for ClusterLab {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(&self.script).arg("stop").arg(self.dir.path()).output();
    }
}
