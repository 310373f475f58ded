//! The OVS/OVN daemons of a replica as supervisor specs: one `ovsdb-server`
//! per collected database and `ovs-vswitchd` on the dummy datapath. Never
//! `ovn-northd` or `ovn-controller`: a replica replays state.

use crate::capture::DbKind;
use crate::supervisor::launch::PID_PLACEHOLDER;
use crate::supervisor::{DaemonSpec, Probe};
use crate::tools::{self, ToolError};
use crate::workdir::Workdir;
use std::ffi::OsString;
use std::path::PathBuf;

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

fn log_args(log: &std::path::Path) -> [OsString; 3] {
    [format!("--log-file={}", log.display()).into(), "-vconsole:off".into(), "-vfile:info".into()]
}

pub fn ovsdb_server(workdir: &Workdir, programs: &Programs, kind: DbKind) -> DaemonSpec {
    let name = format!("ovsdb-server-{}", kind.dir_name());
    let rundir = workdir.run_dir(kind);
    let log = workdir.log_file(&name);
    let mut args: Vec<OsString> = vec![
        workdir.replica_db(kind).into(),
        format!("--remote=punix:{}", workdir.db_socket(kind).display()).into(),
        format!("--remote={}", db_remote(kind)).into(),
    ];
    args.extend(log_args(&log));
    DaemonSpec {
        pid_arg: Some(format!("--unixctl={}/ovsdb-server.{PID_PLACEHOLDER}.ctl", rundir.display())),
        pidfile: rundir.join("ovsdb-server.pid"),
        env: env(workdir, rundir),
        program: programs.ovsdb_server.clone(),
        probe: Probe::OvsdbAnswers(workdir.db_socket(kind)),
        args,
        log,
        name,
    }
}

pub fn ovs_vswitchd(workdir: &Workdir, vswitchd: PathBuf, bridges: &[String]) -> DaemonSpec {
    let name = "ovs-vswitchd".to_string();
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
        pid_arg: Some(format!("--unixctl={}/ovs-vswitchd.{PID_PLACEHOLDER}.ctl", rundir.display())),
        pidfile: rundir.join("ovs-vswitchd.pid"),
        env: env(workdir, rundir),
        program: vswitchd,
        probe: Probe::PathsExist(bridges.iter().map(|b| workdir.mgmt_socket(b)).collect()),
        args,
        log,
        name,
    }
}
