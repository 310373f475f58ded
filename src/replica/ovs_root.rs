//! `--ovs-root DIR`: a root filesystem holding the OVS/OVN version a replica
//! should run instead of the local one (e.g. the production's). The user's
//! own directory, never collected evidence.
//!
//! Design: the sandbox already builds a private root from a list of binds
//! ([`crate::sandbox`]). Without a root its system directories (`/usr`,
//! `/lib*`, `/etc`, …) are the host's; with one they are DIR's, read-only,
//! and everything else stays as it is: the workdir at its own path, the
//! run directories, `/dev`, `/proc`. So inside the replica every program
//! — `ovsdb-server`, `ovs-vswitchd`, the replay's `ovs-ofctl` — and every
//! schema is DIR's, run with DIR's C library, while the sockets stay in
//! the workdir where the host's clients reach them. The only host program
//! run inside is ovs-offline itself (the launcher), bound at [`LAUNCHER`];
//! it needs a C library in DIR at least as new as the one it was built
//! against (the static musl build needs none). The working copies of the
//! databases are still made on the host (host `ovsdb-tool`: the file format
//! does not change between versions), upgraded to DIR's schema.

use crate::capture::DbKind;
use crate::sandbox::Bind;
use std::path::{Path, PathBuf};

/// Where the launcher is bound inside a sandbox whose `/usr` is DIR's.
pub const LAUNCHER: &str = "/run/ovs-offline/ovs-offline";

/// Programs a root must hold, by where they are found in it.
const REQUIRED: [&str; 3] = ["ovsdb-server", "ovs-vswitchd", "ovsdb-tool"];

/// Directories programs are looked up in, inside a root.
const PROGRAM_DIRS: [&str; 4] = ["usr/sbin", "usr/bin", "sbin", "bin"];

#[derive(Debug, thiserror::Error)]
pub enum OvsRootError {
    #[error("--ovs-root {}: not a directory", .0.display())]
    NotADirectory(PathBuf, #[source] std::io::Error),
    #[error(
        "--ovs-root {}: no {} in usr/sbin or usr/bin; make a root holding OVS and OVN, e.g. 'mmdebstrap \
         --mode=unshare --variant=apt --include=openvswitch-switch,ovn-central,ovn-host trixie {}' (see README, \
         \"Running the production's OVS version\")",
        dir.display(), missing.join(", "), dir.display()
    )]
    Missing { dir: PathBuf, missing: Vec<&'static str> },
}

/// A validated root: canonical, with the programs a replica runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OvsRoot {
    dir: PathBuf,
}

impl OvsRoot {
    /// Checks that `dir` holds `ovsdb-server`, `ovs-vswitchd` and
    /// `ovsdb-tool`; names every one missing.
    pub fn open(dir: &Path) -> Result<OvsRoot, OvsRootError> {
        let canonical = std::fs::canonicalize(dir)
            .and_then(|d| if d.is_dir() { Ok(d) } else { Err(std::io::ErrorKind::NotADirectory.into()) })
            .map_err(|e| OvsRootError::NotADirectory(dir.to_path_buf(), e))?;
        let root = OvsRoot { dir: canonical };
        let missing: Vec<&'static str> = REQUIRED.into_iter().filter(|p| root.program(p).is_none()).collect();
        if !missing.is_empty() {
            return Err(OvsRootError::Missing { dir: dir.to_path_buf(), missing });
        }
        Ok(root)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where `program` is inside the sandbox (`/usr/sbin/ovs-vswitchd`), if
    /// the root has it as a regular file. Never leaves the root: a
    /// symlink is not followed.
    pub fn program(&self, program: &str) -> Option<PathBuf> {
        PROGRAM_DIRS.iter().map(|d| Path::new(d).join(program)).find_map(|rel| {
            let meta = self.dir.join(&rel).symlink_metadata().ok()?;
            meta.is_file().then(|| Path::new("/").join(rel))
        })
    }

    /// The sandbox's system directories taken from the root (those it has
    /// among `dirs`), read-only at the same paths. `/bin` → `usr/bin` in a
    /// merged-usr root is followed inside the root, never out of it.
    pub fn system_binds(&self, dirs: &[&str]) -> Vec<Bind> {
        dirs.iter()
            .filter_map(|target| {
                let source = std::fs::canonicalize(self.dir.join(target.trim_start_matches('/'))).ok()?;
                (source.starts_with(&self.dir) && source.is_dir()).then(|| Bind {
                    source,
                    target: PathBuf::from(target),
                    access: crate::sandbox::Access::ReadOnly,
                })
            })
            .collect()
    }

    /// The root's schema of `kind` (`<DIR>/usr/share/openvswitch/…`).
    pub fn schema_dir(&self, kind: DbKind) -> PathBuf {
        let base = match kind {
            DbKind::Ovs => "openvswitch",
            DbKind::OvnNb | DbKind::OvnSb => "ovn",
        };
        self.dir.join("usr/share").join(base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program(root: &Path, rel: &str) {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "").unwrap();
    }

    #[test]
    fn a_root_without_the_daemons_names_each_one_and_how_to_make_it() {
        let dir = tempfile::tempdir().unwrap();
        program(dir.path(), "usr/bin/ovsdb-tool");
        let err = OvsRoot::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains("no ovsdb-server, ovs-vswitchd in usr/sbin or usr/bin"), "{err}");
        assert!(err.contains("mmdebstrap --mode=unshare"), "{err}");
        let absent = OvsRoot::open(&dir.path().join("absent")).unwrap_err().to_string();
        assert!(absent.contains("not a directory"), "{absent}");
    }

    #[test]
    fn programs_and_system_dirs_stay_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        for p in ["usr/sbin/ovsdb-server", "usr/sbin/ovs-vswitchd", "usr/bin/ovsdb-tool"] {
            program(dir.path(), p);
        }
        std::os::unix::fs::symlink("usr/bin", dir.path().join("bin")).unwrap();
        std::os::unix::fs::symlink("/usr/lib", dir.path().join("lib")).unwrap();
        std::os::unix::fs::symlink("/usr/bin/true", dir.path().join("usr/bin/ovs-ofctl")).unwrap();
        let root = OvsRoot::open(dir.path()).unwrap();
        assert_eq!(root.program("ovs-vswitchd"), Some(PathBuf::from("/usr/sbin/ovs-vswitchd")));
        assert_eq!(root.program("ovsdb-tool"), Some(PathBuf::from("/usr/bin/ovsdb-tool")));
        assert_eq!(root.program("ovs-ofctl"), None, "a symlink out of the root is not a program of the root");
        let binds = root.system_binds(&["/usr", "/bin", "/lib", "/etc"]);
        let targets: Vec<_> = binds.iter().map(|b| b.target.to_str().unwrap()).collect();
        assert_eq!(targets, ["/usr", "/bin"]);
        assert_eq!(binds[1].source, root.dir().join("usr/bin"));
    }
}
