//! Whose a workdir is: the checks that make a shared `/tmp` safe. A
//! workdir is used only when it is owned by the caller, not writable by
//! other users (group-writable only with the caller's private group),
//! below directories only the caller or root can change (or sticky), with
//! no symbolic link on the way that another user owns, and holding no file
//! of another user. Reads only; every refusal names the way out.

use super::{IoContext, Result, WorkdirError};
use crate::quote;
use nix::unistd::{Gid, Group, Uid, User};
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Refuses a workdir another user could change, or in which a run as
/// another user left files.
pub(super) fn check(root: &Path) -> Result<()> {
    let me = Uid::effective();
    check_path_symlinks(root, me)?;
    let real = fs::canonicalize(root).at("resolve working directory", root)?;
    let meta = fs::metadata(&real).at("inspect working directory", root)?;
    if !meta.is_dir() {
        return Err(WorkdirError::NotADirectory(root.to_path_buf()));
    }
    if meta.uid() != me.as_raw() {
        return Err(WorkdirError::NotYours { path: root.to_path_buf(), owner: owner_name(meta.uid()) });
    }
    if writable_by_others(&meta) {
        return Err(WorkdirError::WritableByOthers { path: root.to_path_buf(), mode: meta.mode() & 0o7777 });
    }
    for parent in real.ancestors().skip(1) {
        let meta = fs::metadata(parent).at("inspect", parent)?;
        let why = if meta.uid() != 0 && meta.uid() != me.as_raw() {
            format!("belongs to {}", owner_name(meta.uid()))
        } else if writable_by_others(&meta) && meta.mode() & libc::S_ISVTX == 0 {
            format!("can be changed by other users (mode {:04o}, not sticky)", meta.mode() & 0o7777)
        } else {
            continue;
        };
        return Err(WorkdirError::UnsafeParent { parent: parent.to_path_buf(), path: root.to_path_buf(), why });
    }
    check_own_files(root, &real, me)
}

/// Everything the tool keeps in the workdir belongs to the caller (a run
/// as root leaves files the user cannot change).
fn check_own_files(root: &Path, real: &Path, me: Uid) -> Result<()> {
    let mut pending = vec![real.to_path_buf()];
    while let Some(dir) = pending.pop() {
        // A running replica adds and removes files meanwhile.
        let entries = match fs::read_dir(&dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            entries => entries.at("read", &dir)?,
        };
        for entry in entries {
            let path = entry.at("read", &dir)?.path();
            let meta = match fs::symlink_metadata(&path) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                meta => meta.at("inspect", &path)?,
            };
            if meta.uid() != me.as_raw() {
                let shown = root.join(path.strip_prefix(real).unwrap_or(&path));
                return Err(WorkdirError::ForeignFile { path: shown, owner: owner_name(meta.uid()) });
            }
            if meta.is_dir() {
                pending.push(path);
            }
        }
    }
    Ok(())
}

/// Every symbolic link on the way to `path`, as given, must belong to the
/// caller or root: another user's link could be pointed elsewhere.
fn check_path_symlinks(path: &Path, me: Uid) -> Result<()> {
    let mut prefix = PathBuf::new();
    for component in path.components() {
        prefix.push(component);
        let Ok(meta) = fs::symlink_metadata(&prefix) else { return Ok(()) };
        if meta.file_type().is_symlink() && meta.uid() != 0 && meta.uid() != me.as_raw() {
            let why = format!("is a symbolic link that belongs to {}", owner_name(meta.uid()));
            return Err(WorkdirError::UnsafeParent { parent: prefix, path: path.to_path_buf(), why });
        }
    }
    Ok(())
}

/// Group- or other-writable, except group-writable with the caller's own
/// private group (the user-private-group convention with umask 002).
fn writable_by_others(meta: &fs::Metadata) -> bool {
    meta.mode() & 0o002 != 0 || (meta.mode() & 0o020 != 0 && !is_private_group(meta.gid()))
}

/// The caller's primary group, named like the caller, with no other member.
fn is_private_group(gid: u32) -> bool {
    let Ok(Some(user)) = User::from_uid(Uid::effective()) else { return false };
    let Ok(Some(group)) = Group::from_gid(Gid::from_raw(gid)) else { return false };
    user.gid.as_raw() == gid && group.name == user.name && group.mem.iter().all(|m| *m == user.name)
}

/// "alice (uid 1001)", or "uid 1001" for an unknown user.
fn owner_name(uid: u32) -> String {
    match User::from_uid(Uid::from_raw(uid)) {
        Ok(Some(user)) => format!("{} (uid {uid})", quote::shell(&user.name)),
        _ => format!("uid {uid}"),
    }
}
