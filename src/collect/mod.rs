//! Collectors: bring evidence into the workdir without modifying it.
//!
//! Every collector validates its input, copies it under the workdir and
//! records provenance (source, size, sha256, time) in the state file.
//! Later collectors (sos reports, Kubernetes) land here beside [`db`] and
//! [`flows`].

pub mod db;
pub mod flows;

use crate::workdir::Workdir;
use anyhow::{bail, Context, Result};
use nix::fcntl::Flock;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

/// Creates the workdir and holds its run lock while collected data
/// changes: never under a running (or starting) replica, never two
/// collects at once.
fn lock_collected_data(workdir: &Workdir) -> Result<Flock<File>> {
    workdir.create()?;
    match workdir.lock_run()? {
        Some(lock) => Ok(lock),
        None => bail!(
            "a replica is running in {}; run 'ovs-offline stop' first or choose another working directory with -w",
            workdir.root().display()
        ),
    }
}

/// Copies through a temp file in the destination directory, hashing on the
/// way; the destination appears only complete. Returns size and sha256.
fn copy_hashed(source: &Path, dest: &Path) -> Result<(u64, String)> {
    let dir = dest.parent().context("destination has no parent")?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).with_context(|| format!("cannot write in {}", dir.display()))?;
    let mut input = File::open(source).with_context(|| format!("cannot read {}", source.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", source.display())),
        };
        hasher.update(&buf[..n]);
        tmp.write_all(&buf[..n])?;
        size += n as u64;
    }
    tmp.persist(dest).with_context(|| format!("cannot write {}", dest.display()))?;
    let sha256 = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok((size, sha256))
}
