//! The OVS/OVN daemons of a replica as supervisor specs: one `ovsdb-server`
//! per collected database and `ovs-vswitchd` on the dummy datapath. Never
//! `ovn-northd` or `ovn-controller`: a replica replays state.
//!
//! Also the OVS conventions the supervisor does not know: when a daemon is
//! ready (an ovsdb-server answers `list_dbs`; vswitchd listens on every
//! bridge's `.mgmt` socket) and where its control socket is. The launcher names that
//! socket `<program>.<host pid>.ctl` (`--unixctl`), as OVS does, so that
//! `ovs-appctl -t <program>` with `OVS_RUNDIR` finds it from the host.

use crate::capture::DbKind;
use crate::ovsdb::client;
use crate::supervisor::launch::PID_PLACEHOLDER;
use crate::supervisor::{DaemonSpec, Probe, RestartPolicy};
use crate::tools::{self, ToolError};
use crate::workdir::Workdir;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A daemon that dies is started again after 100 ms, then 200 ms, 400 ms…;
/// one that dies more than 5 times within a minute is left stopped.
const RESTART: RestartPolicy =
    RestartPolicy::OnFailure { max_restarts: 5, window: Duration::from_secs(60), backoff: Duration::from_millis(100) };

/// The name of the `ovsdb-server` serving a kind of database.
pub fn ovsdb_server_name(kind: DbKind) -> String {
    format!("ovsdb-server-{}", kind.dir_name())
}

/// The name of the vswitchd daemon.
pub const VSWITCHD: &str = "ovs-vswitchd";

/// Programs a replica runs, resolved before the sandbox exists.
#[derive(Debug, Clone)]
pub struct Programs {
    pub ovsdb_server: PathBuf,
    pub ovs_vswitchd: Option<PathBuf>,
}

impl Programs {
    pub fn find(with_vswitchd: bool) -> Result<Programs, ToolError> {
        Ok(Programs {
            ovsdb_server: tools::find("ovsdb-server")?,
            ovs_vswitchd: if with_vswitchd { Some(tools::find("ovs-vswitchd")?) } else { None },
        })
    }
}

/// The `db:` remote through which a database's own connection rows are
/// served, as on the production node (harmless in an empty network).
fn db_remote(kind: DbKind) -> &'static str {
    match kind {
        DbKind::Ovs => "db:Open_vSwitch,Open_vSwitch,manager_options",
        DbKind::OvnNb => "db:OVN_Northbound,NB_Global,connections",
        DbKind::OvnSb => "db:OVN_Southbound,SB_Global,connections",
    }
}

/// Environment pointing every OVS/OVN default path into the workdir.
fn env(workdir: &Workdir, rundir: PathBuf) -> Vec<(String, PathBuf)> {
    vec![
        ("OVS_RUNDIR".into(), rundir.clone()),
        ("OVN_RUNDIR".into(), rundir),
        ("OVS_LOGDIR".into(), workdir.log_dir()),
        ("OVN_LOGDIR".into(), workdir.log_dir()),
        ("OVS_DBDIR".into(), workdir.replica_dir()),
        ("OVN_DBDIR".into(), workdir.replica_dir()),
        ("OVS_SYSCONFDIR".into(), workdir.replica_dir()),
        ("OVN_SYSCONFDIR".into(), workdir.replica_dir()),
    ]
}

fn log_args(log: &Path) -> [OsString; 3] {
    [format!("--log-file={}", log.display()).into(), "-vconsole:off".into(), "-vfile:info".into()]
}

const UNIXCTL: &str = "--unixctl=";

/// `--unixctl=<rundir>/<program>.{pid}.ctl`, completed by the launcher.
fn unixctl_arg(workdir: &Workdir, kind: DbKind, program: &str) -> String {
    format!("{UNIXCTL}{}", workdir.control_socket(kind, program, PID_PLACEHOLDER).display())
}

/// The control socket of a daemon running with `host_pid`.
pub fn control_socket(spec: &DaemonSpec, host_pid: i32) -> Option<PathBuf> {
    let template = spec.pid_arg.as_deref()?.strip_prefix(UNIXCTL)?;
    Some(template.replace(PID_PLACEHOLDER, &host_pid.to_string()).into())
}

/// Ready once the ovsdb-server answers `list_dbs` on this socket.
#[derive(Debug)]
struct OvsdbAnswers(PathBuf);

impl Probe for OvsdbAnswers {
    fn passes(&self) -> bool {
        client::list_dbs(&self.0).is_ok()
    }
}

/// Ready once vswitchd listens on the `.mgmt` socket of every bridge. A
/// socket file alone proves nothing: a killed vswitchd leaves its sockets
/// behind, and its restarted successor must not count as ready on them.
#[derive(Debug)]
struct MgmtSocketsListen(Vec<PathBuf>);

impl Probe for MgmtSocketsListen {
    fn passes(&self) -> bool {
        self.0.iter().all(|p| client::connect(p).is_ok())
    }
}

pub fn ovsdb_server(workdir: &Workdir, programs: &Programs, kind: DbKind) -> DaemonSpec {
    let name = ovsdb_server_name(kind);
    let rundir = workdir.run_dir(kind);
    let log = workdir.log_file(&name);
    let mut args: Vec<OsString> = vec![
        workdir.replica_db(kind).into(),
        format!("--remote=punix:{}", workdir.db_socket(kind).display()).into(),
        format!("--remote={}", db_remote(kind)).into(),
    ];
    args.extend(log_args(&log));
    DaemonSpec {
        pid_arg: Some(unixctl_arg(workdir, kind, "ovsdb-server")),
        pidfile: workdir.pidfile(kind, "ovsdb-server"),
        env: env(workdir, rundir),
        program: programs.ovsdb_server.clone(),
        probe: Box::new(OvsdbAnswers(workdir.db_socket(kind))),
        restart: RESTART,
        args,
        log,
        name,
    }
}

pub fn ovs_vswitchd(workdir: &Workdir, vswitchd: PathBuf, bridges: &[String]) -> DaemonSpec {
    let name = VSWITCHD.to_string();
    let rundir = workdir.run_dir(DbKind::Ovs);
    let log = workdir.log_file(&name);
    let mut args: Vec<OsString> = vec![
        format!("unix:{}", workdir.db_socket(DbKind::Ovs).display()).into(),
        "--enable-dummy=override".into(),
        "--disable-system".into(),
        "--disable-system-route".into(),
    ];
    args.extend(log_args(&log));
    DaemonSpec {
        pid_arg: Some(unixctl_arg(workdir, DbKind::Ovs, "ovs-vswitchd")),
        pidfile: workdir.pidfile(DbKind::Ovs, "ovs-vswitchd"),
        env: env(workdir, rundir),
        program: vswitchd,
        probe: Box::new(MgmtSocketsListen(bridges.iter().map(|b| workdir.mgmt_socket(b)).collect())),
        restart: RESTART,
        args,
        log,
        name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_control_socket_is_named_after_the_host_pid() {
        let workdir = Workdir::new(Path::new("/w")).unwrap();
        let spec = ovs_vswitchd(&workdir, "/usr/sbin/ovs-vswitchd".into(), &["br0".into()]);
        assert_eq!(spec.pid_arg.as_deref(), Some("--unixctl=/w/var-run/ovs/ovs-vswitchd.{pid}.ctl"));
        assert_eq!(control_socket(&spec, 4242), Some("/w/var-run/ovs/ovs-vswitchd.4242.ctl".into()));
    }
}
