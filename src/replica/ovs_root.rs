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
use std::path::{Component, Path, PathBuf};

/// Symlinks followed at most when resolving a program inside a root.
const MAX_LINKS: usize = 40;

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
            .and_then(|d| match d.is_dir() {
                true => Ok(d),
                false => Err(std::io::Error::other("not a directory")),
            })
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
    /// it leads to a regular file of the root. Symlinks are followed as
    /// inside the root (Debian's `/etc/alternatives`), never out of it.
    pub fn program(&self, program: &str) -> Option<PathBuf> {
        PROGRAM_DIRS
            .iter()
            .map(|d| Path::new(d).join(program))
            .find(|rel| self.resolve(rel).is_some_and(|file| file.is_file()))
            .map(|rel| Path::new("/").join(rel))
    }

    /// The host path of `rel` as seen from inside the root: absolute
    /// symlink targets are taken from the root, `..` stops at its top; a
    /// path that still leads out of the root (or loops) is `None`.
    fn resolve(&self, rel: &Path) -> Option<PathBuf> {
        let mut rel = rel.to_path_buf();
        for _ in 0..MAX_LINKS {
            let host = self.dir.join(&rel);
            let Ok(target) = std::fs::read_link(&host) else {
                let canonical = std::fs::canonicalize(&host).ok()?;
                return canonical.starts_with(&self.dir).then_some(canonical);
            };
            let joined = match target.is_absolute() {
                true => target,
                false => rel.parent().unwrap_or(Path::new("")).join(target),
            };
            rel = joined.components().fold(PathBuf::new(), |mut path, c| {
                match c {
                    Component::Normal(name) => path.push(name),
                    Component::ParentDir => {
                        path.pop();
                    }
                    _ => {}
                }
                path
            });
        }
        None
    }

    /// The sandbox's system directories taken from the root (those it has
    /// among `dirs`), read-only at the same paths. `/bin` → `usr/bin` in a
    /// merged-usr root is followed inside the root, never out of it (as
    /// [`OvsRoot::program`] follows links).
    pub fn system_binds(&self, dirs: &[&str]) -> Vec<Bind> {
        dirs.iter()
            .filter_map(|target| {
                let source = self.resolve(Path::new(target.trim_start_matches('/')))?;
                source.is_dir().then(|| Bind {
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
        // Debian's alternatives: an absolute link, read inside the root.
        program(dir.path(), "usr/lib/openvswitch-switch/ovs-vswitchd");
        std::fs::remove_file(dir.path().join("usr/sbin/ovs-vswitchd")).unwrap();
        std::fs::create_dir_all(dir.path().join("etc/alternatives")).unwrap();
        std::os::unix::fs::symlink("/etc/alternatives/ovs-vswitchd", dir.path().join("usr/sbin/ovs-vswitchd")).unwrap();
        let alternative = dir.path().join("etc/alternatives/ovs-vswitchd");
        std::os::unix::fs::symlink("/usr/lib/openvswitch-switch/ovs-vswitchd", alternative).unwrap();
        let root = OvsRoot::open(dir.path()).unwrap();
        assert_eq!(root.program("ovs-vswitchd"), Some(PathBuf::from("/usr/sbin/ovs-vswitchd")));
        assert_eq!(root.program("ovsdb-tool"), Some(PathBuf::from("/usr/bin/ovsdb-tool")));
        assert_eq!(root.program("ovs-ofctl"), None, "a symlink out of the root is not a program of the root");
        let binds = root.system_binds(&["/usr", "/bin", "/lib", "/etc"]);
        let targets: Vec<_> = binds.iter().map(|b| b.target.to_str().unwrap()).collect();
        assert_eq!(targets, ["/usr", "/bin", "/lib", "/etc"]);
        assert_eq!(binds[1].source, root.dir().join("usr/bin"));
        assert_eq!(binds[2].source, root.dir().join("usr/lib"), "the absolute /lib -> /usr/lib read in the root");
    }
}
