//! The command line: every subcommand and flag, with its help text. The
//! single source for `--help`, the man page ([`crate::manual`]) and the
//! shell completions.

use clap::error::ErrorKind;
use clap::parser::ValueSource;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "ovs-offline",
    version,
    about = "Rootless offline replicas of Open vSwitch / OVN nodes",
    long_about = "Rebuilds an offline replica of an Open vSwitch / OVN node from collected databases and flow dumps, \
                  using the locally installed ovsdb-server and ovs-vswitchd (dummy datapath) in private user, mount, \
                  network and PID namespaces: no root, no containers, no network."
)]
pub struct Cli {
    /// Working directory holding collected data and the running replica
    #[arg(short, long, global = true, env = "OVS_DBG_WORKDIR", default_value = ovs_offline::workdir::DEFAULT_WORKDIR)]
    pub workdir: PathBuf,

    /// A workspace: one working directory per node of a cluster ('cluster' commands; others act on the node --node names)
    #[arg(short = 'W', long, global = true, env = "OVS_OFFLINE_WORKSPACE", value_name = "DIR")]
    pub workspace: Option<PathBuf>,

    /// The node of the workspace (-W) that a single-node command acts on (given before the command)
    #[arg(long, value_name = "NAME")]
    pub node: Option<String>,

    /// Verbose logs and the full chain of causes on errors
    #[arg(short, long, global = true)]
    pub debug: bool,

    /// Print only data (show, status, --json) and problems (errors, warnings): no summaries, notes or progress
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// Accepted for compatibility with the container-based ovs-offline (no container runtime is used)
    #[arg(short = 'p', long = "podman", global = true)]
    pub podman: bool,

    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Parses the command line. `-w` and `-W` name different things: given
    /// both, it is an error; one given on the command line wins over the
    /// other's environment variable; both only from the environment, an
    /// error naming the two variables. Commands that use neither (the
    /// daemons' launcher among them, which inherits the user's
    /// environment) are not checked.
    pub fn parse_args() -> Cli {
        let matches = Cli::command().get_matches();
        let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
        if !cli.command.chooses_a_workdir() {
            return cli;
        }
        let from = |id: &str| matches.value_source(id);
        let workdir = from("workdir");
        match (workdir, from("workspace")) {
            (Some(ValueSource::CommandLine), Some(ValueSource::CommandLine)) => Cli::command()
                .error(ErrorKind::ArgumentConflict, "-w (one working directory) and -W (a workspace of nodes) exclude each other; give one")
                .exit(),
            (Some(ValueSource::CommandLine), Some(ValueSource::EnvVariable)) => cli.workspace = None,
            (Some(ValueSource::EnvVariable), Some(ValueSource::EnvVariable)) => Cli::command()
                .error(ErrorKind::ArgumentConflict, "both OVS_DBG_WORKDIR and OVS_OFFLINE_WORKSPACE are set; unset one, or choose with -w DIR or -W DIR")
                .exit(),
            _ => {}
        }
        cli
    }
}

impl Command {
    /// True for the commands that act on the workdir (-w) or the workspace
    /// (-W) the user chose.
    fn chooses_a_workdir(&self) -> bool {
        !matches!(
            self,
            Command::CollectLocal(_) | Command::Completion(_) | Command::Man | Command::Launch(_) | Command::Replay
        )
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Collect an Open_vSwitch database file (conf.db)
    CollectDbOvs(CollectDb),
    /// Collect an OVN_Northbound database file (ovnnb_db.db)
    CollectDbOvnNb(CollectDb),
    /// Collect an OVN_Southbound database file (ovnsb_db.db)
    CollectDbOvnSb(CollectDb),
    /// Collect OpenFlow state: an ovs-save directory (do_restore.sh and dumps) or sos-named dump files
    CollectFlows(CollectFlows),
    /// Collect from an sos report the OVS database and OpenFlow state (a worker or compute node)
    CollectSosOvs(CollectSos),
    /// Collect from an sos report the OVN NB and SB databases (a controller or master node)
    CollectSosOvn(CollectSos),
    /// Collect whatever OVS and OVN data an sos report holds
    CollectSos(CollectSos),
    /// Collect from an OpenShift must-gather the OVN NB and SB databases of one node
    CollectMustGather(CollectMustGather),
    /// Import a capture bundle (ovs-offline-capture-*.tar.xz) made on another host; checksums are verified
    CollectCapture(CollectCapture),
    /// Collect a Kubernetes/OpenShift node running OVN-Kubernetes through kubectl (or oc): read-only commands only
    CollectK8s(CollectK8s),
    /// Read this host's OVS and OVN through their sockets into a capture bundle for collect-capture (read-only; needs no workdir)
    CollectLocal(CollectLocal),
    /// Start the replica of what is collected; returns when it is ready
    Start(Start),
    /// Stop the replica; collected data is kept unless --purge
    Stop(Stop),
    /// Print the replica's sockets and ready-to-paste commands
    Show(JsonFlag),
    /// Print the state of the replica's daemons, databases and bridges
    Status(JsonFlag),
    /// Check what this node installed against what OVN asked for (lflows, bindings, tunnels, sync, openflow); exit 1 when something is found
    Audit(Audit),
    /// Run a command with the replica's environment (no need to source bin/activate)
    Exec(Exec),
    /// Trace a flow, or a captured packet, through a bridge of the replica (ofproto/trace, annotated by ovn-detrace)
    Trace(Trace),
    /// List the replica's ports: types, OpenFlow and datapath port numbers
    Ports(Ports),
    /// Replicas of several nodes side by side in a workspace (-W DIR): collect, start, stop, status, show, trace
    Cluster(Cluster),
    /// Print the shell completion script for bash, zsh or fish
    #[command(
        after_help = "bash: ovs-offline completion bash > ~/.local/share/bash-completion/completions/ovs-offline\n\
                            zsh:  ovs-offline completion zsh > ~/.zfunc/_ovs-offline (with ~/.zfunc in fpath)\n\
                            fish: ovs-offline completion fish > ~/.config/fish/completions/ovs-offline.fish"
    )]
    Completion(Completion),
    /// Print the man page (roff), every subcommand included: ovs-offline man | man -l -
    Man,
    /// Internal: lock a pidfile with the host pid, then exec a daemon
    #[command(name = "__launch", hide = true)]
    Launch(Launch),
    /// Internal: the supervisor's flow replay helper (reports JSON on stdout)
    #[command(name = "__replay", hide = true)]
    Replay,
}

#[derive(Debug, Args)]
pub struct Cluster {
    #[command(subcommand)]
    pub command: ClusterCommand,
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Collect sos reports, each into its node (named by the hostname the report gives)
    CollectSos(ClusterCollectFiles),
    /// Import capture bundles (made by collect-local), each into its node
    CollectCapture(ClusterCollectFiles),
    /// Collect Kubernetes/OpenShift nodes through kubectl (or oc), each into its node
    CollectK8s(ClusterCollectK8s),
    /// Collect an OpenShift must-gather's per-node OVN databases, each joined with the OVS half of the node's sos report
    CollectMustGather(ClusterCollectMustGather),
    /// Start the replicas of these nodes (default: all)
    Start(ClusterStart),
    /// Stop the replicas of these nodes (default: every one running)
    Stop(ClusterStop),
    /// One line per node: what it holds, whether its replica runs, its memory; and the totals
    Status(JsonFlag),
    /// 'show' of every running node
    Show(JsonFlag),
    /// Trace a flow from one node and follow it through tunnels to the nodes it reaches (their replicas started on demand)
    Trace(ClusterTrace),
}

#[derive(Debug, Args)]
pub struct ClusterCollectFiles {
    /// Print the summary as JSON
    #[arg(long)]
    pub json: bool,
    /// The files (sos reports: archives or extracted directories; bundles: .tar.xz)
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Name the nodes instead of the captures' hostnames: one --name per file, in order
    #[arg(long, value_name = "NAME")]
    pub name: Vec<String>,
    /// Replace a node of the same name collected before
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ClusterCollectK8s {
    /// Print the summary as JSON
    #[arg(long)]
    pub json: bool,
    /// The nodes' names, as 'kubectl get nodes' prints them
    #[arg(required = true)]
    pub nodes: Vec<String>,
    /// Name the workspace's nodes instead of the captures' hostnames: one --name per node, in order
    #[arg(long, value_name = "NAME")]
    pub name: Vec<String>,
    #[command(flatten)]
    pub kubectl: KubectlArgs,
    /// Replace a node of the same name collected before
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ClusterCollectMustGather {
    /// Print the summary as JSON
    #[arg(long)]
    pub json: bool,
    /// The must-gather: its directory, or a .tar, .tar.gz or .tar.xz of it
    pub path: PathBuf,
    /// The sos reports of the nodes: each gives its node's OVS half
    #[arg(long, value_name = "SOSREPORT", num_args = 1..)]
    pub with_sos: Vec<PathBuf>,
    /// Replace a node of the same name collected before
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ClusterStart {
    /// The nodes (default: all)
    pub nodes: Vec<String>,
    /// Seconds each daemon may take to become ready
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct ClusterStop {
    /// The nodes (default: every one running)
    pub nodes: Vec<String>,
    /// Also remove the whole workspace, every node's collected data included
    #[arg(long, conflicts_with = "nodes")]
    pub purge: bool,
}

#[derive(Debug, Args)]
pub struct Audit {
    /// Machine-readable output
    #[arg(long)]
    pub json: bool,
    /// Run only these checks (repeat or separate with commas); all by default
    #[arg(long = "check", value_name = "NAME", value_enum, value_delimiter = ',')]
    pub checks: Vec<ovs_offline::audit::Check>,
}

#[derive(Debug, Args)]
pub struct CollectDb {
    /// Print the summary as JSON
    #[arg(long)]
    pub json: bool,
    /// The database file (standalone or clustered)
    pub file: PathBuf,
    /// Replace a database of this type collected before
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct CollectFlows {
    /// Print the summary as JSON
    #[arg(long)]
    pub json: bool,
    /// A directory, a do_restore.sh (its dumps are taken from beside it) or one dump file
    pub path: PathBuf,
    /// Replace OpenFlow state collected before
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct CollectSos {
    /// Print the summary as JSON
    #[arg(long)]
    pub json: bool,
    /// The sos report: a .tar.xz, .tar.gz or .tar.bz2 archive, or its extracted directory
    pub sos: PathBuf,
    /// Replace data of the same kind collected before
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct CollectMustGather {
    /// Print the summary as JSON
    #[arg(long)]
    pub json: bool,
    /// The must-gather: its directory, or a .tar, .tar.gz or .tar.xz of it
    pub path: PathBuf,
    /// The node (or its ovnkube-node pod) whose databases to collect; without it, the nodes are listed
    #[arg(long)]
    pub node: Option<String>,
    /// Replace the OVN databases collected before
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct CollectCapture {
    /// Print the summary as JSON
    #[arg(long)]
    pub json: bool,
    /// The bundle, as collect-local wrote it
    pub file: PathBuf,
    /// Replace data of the same kind collected before
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct CollectLocal {
    /// Print the summary as JSON
    #[arg(long)]
    pub json: bool,
    /// Where to write the bundle: a directory (named ovs-offline-capture-<host>-<UTC time>.tar.xz) or a name ending in .tar.xz
    #[arg(long, default_value = ".")]
    pub output: PathBuf,
    /// OVS's run directory, holding db.sock and the bridges' .mgmt sockets [default: /var/run/openvswitch]
    #[arg(long)]
    pub ovs_rundir: Option<PathBuf>,
    /// OVN's run directory, holding ovnnb_db.sock and ovnsb_db.sock [default: /var/run/ovn, else OVS's]
    #[arg(long)]
    pub ovn_rundir: Option<PathBuf>,
    /// The OVN Northbound database socket (as ovn-nbctl --db names it, unix:PATH or PATH)
    #[arg(long)]
    pub nb_db: Option<String>,
    /// The OVN Southbound database socket (as ovn-sbctl --db names it, unix:PATH or PATH)
    #[arg(long)]
    pub sb_db: Option<String>,
}

/// How collect-k8s and cluster collect-k8s reach the cluster.
#[derive(Debug, Args)]
pub struct KubectlArgs {
    /// OpenShift: use oc (when installed) instead of kubectl
    #[arg(short = 'o', long)]
    pub openshift: bool,
    /// The kubeconfig file kubectl/oc use
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use
    #[arg(long)]
    pub context: Option<String>,
    /// Look for the OVN-Kubernetes pods in this namespace only (default: all)
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// Seconds a kubectl call may print nothing before it is stopped
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub idle_timeout: u64,
}

#[derive(Debug, Args)]
pub struct CollectK8s {
    /// Print the summary as JSON
    #[arg(long)]
    pub json: bool,
    /// The node's name, as 'kubectl get nodes' prints it
    pub node: String,
    #[command(flatten)]
    pub kubectl: KubectlArgs,
    /// Replace data collected before
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct Start {
    /// Print the summary as JSON
    #[arg(long)]
    pub json: bool,
    /// Seconds each daemon may take to become ready
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub timeout: u64,
    /// Run ovsdb-server and ovs-vswitchd (and their schemas) from this root filesystem holding the wanted OVS/OVN
    /// version (e.g. made by mmdebstrap; see README); remembered for later starts of this workdir
    #[arg(long, value_name = "DIR", conflicts_with = "no_ovs_root")]
    pub ovs_root: Option<PathBuf>,
    /// Forget a remembered --ovs-root: run the locally installed OVS/OVN again
    #[arg(long)]
    pub no_ovs_root: bool,
}

#[derive(Debug, Args)]
pub struct Stop {
    /// Also remove the whole working directory, collected data included
    #[arg(long)]
    pub purge: bool,
}

#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Machine-readable output
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct Completion {
    /// The shell
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct Exec {
    /// The command and its arguments
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<OsString>,
}

#[derive(Debug, Args)]
pub struct Trace {
    /// The bridge (as ofproto/trace accepts it)
    pub bridge: String,
    /// The flow, as ovs-ofctl reads one; port names are accepted, e.g. in_port=vif1,icmp,nw_dst=10.0.0.2
    #[arg(required_unless_present = "pcap", conflicts_with = "pcap")]
    pub flow: Option<String>,
    /// The conntrack state of each recirculation, in turn (e.g. trk,est); repeat for later ones
    #[arg(long = "ct-next", value_name = "STATE")]
    pub ct_next: Vec<String>,
    /// Print the plain trace, without ovn-detrace's annotations
    #[arg(long)]
    pub no_detrace: bool,
    #[command(flatten)]
    pub packet: CapturedPacket,
    /// Machine-readable output: the trace as steps
    #[arg(long)]
    pub json: bool,
}

/// A captured packet to trace instead of a flow.
#[derive(Debug, Args)]
pub struct CapturedPacket {
    /// Trace a packet of this capture (pcap or pcapng) instead of a flow
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
    /// Which frame of the capture (1 is the first)
    #[arg(long, default_value_t = 1, requires = "pcap", value_parser = clap::value_parser!(u64).range(1..))]
    pub frame: u64,
    /// The port the captured packet came in on [default: the interface a pcapng capture names, when the bridge has it]
    #[arg(long, value_name = "PORT", requires = "pcap")]
    pub in_port: Option<String>,
}

#[derive(Debug, Args)]
pub struct ClusterTrace {
    /// The node the packet starts on
    #[arg(long, value_name = "NAME")]
    pub node: String,
    /// The bridge there (as ofproto/trace accepts it)
    pub bridge: String,
    /// The flow, as ovs-ofctl reads one, e.g. in_port=pod1,icmp,dl_src=…,dl_dst=…,nw_src=…,nw_dst=…,nw_ttl=64
    #[arg(required_unless_present = "pcap", conflicts_with = "pcap")]
    pub flow: Option<String>,
    #[command(flatten)]
    pub packet: CapturedPacket,
    /// The dp_hash the packet carries, on every node: picks a select group's bucket (a load balancer's backend); not 0, which OVS reads as no hash
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub dp_hash: Option<u32>,
    /// The conntrack state of each recirculation, in turn (e.g. trk,est), on every node
    #[arg(long = "ct-next", value_name = "STATE")]
    pub ct_next: Vec<String>,
    /// Print the plain traces, without ovn-detrace's annotations
    #[arg(long)]
    pub no_detrace: bool,
    /// Machine-readable output: the hops, each with its steps, outcome and the next hop
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct Ports {
    /// Only this bridge's ports
    pub bridge: Option<String>,
    /// Machine-readable output
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct Launch {
    #[arg(long)]
    pub pidfile: PathBuf,
    #[arg(long)]
    pub pid_arg: Option<String>,
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<OsString>,
}
