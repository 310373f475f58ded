//! Reading archives as hostile evidence, shared by the collectors that take
//! one (sos reports, must-gathers): a tar stream (plain, xz, gzip or bzip2,
//! recognised by its magic bytes) or an extracted directory is visited
//! member by member in one pass; nothing is unpacked, no link is followed,
//! and only regular files are ever opened. What a member's path means, and
//! which paths are refused, is the visitor's to decide.

use super::CollectError;
use crate::capture::writer::CaptureError;
use crate::digest::{hex, Hashing};
use crate::progress::Progress;
use crate::quote;
use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::io::{self, Read, Seek};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

/// What one member of an archive (or an extracted directory) is.
pub(super) enum MemberKind<'r> {
    File(&'r mut dyn Read),
    /// A symbolic link and its target as stored (never followed).
    Symlink(PathBuf),
    /// A hard link, device, FIFO…: never read.
    Other,
}

/// Reads the archive at `path` member by member, in one pass, hashing its
/// compressed bytes; returns the sha256.
pub(super) fn read_archive(
    path: &Path,
    visit: &mut dyn FnMut(&Path, MemberKind<'_>) -> Result<(), CollectError>,
) -> Result<String, CollectError> {
    let (mut file, _) = super::open(path, true)?;
    let mut magic = [0u8; 6];
    let n =
        read_up_to(&mut file, &mut magic).map_err(|e| CollectError::Read { path: path.to_path_buf(), source: e })?;
    file.rewind().map_err(|e| CollectError::Read { path: path.to_path_buf(), source: e })?;
    let compression = Compression::from_magic(&magic[..n]);
    let size = file.metadata().map_err(|e| CollectError::Read { path: path.to_path_buf(), source: e })?.len();
    let progress = Progress::new("reading", size);
    let mut hashing = Hashing::<_, Sha256>::new(progress.reader(file));
    let broken = |source: io::Error| CollectError::BrokenArchive {
        archive: path.to_path_buf(),
        compression: compression.name(),
        source,
    };
    {
        let mut rest = read_entries(compression.decoder(&mut hashing), &broken, &mut |raw, kind| {
            progress.reading(|| quote::path(raw));
            visit(raw, kind).map_err(|e| reclassify(e, path, compression))
        })?;
        io::copy(&mut rest, &mut io::sink()).map_err(broken)?;
    }
    io::copy(&mut hashing, &mut io::sink()).map_err(|e| CollectError::Read { path: path.to_path_buf(), source: e })?;
    Ok(hex(hashing.digest.finalize()))
}

/// Visits each member of the tar stream `decoder` in order (directories
/// are skipped); a broken stream is `broken`'s error. Returns the stream,
/// for the caller to read to its end.
pub(super) fn read_entries<R: Read>(
    decoder: R,
    broken: &dyn Fn(io::Error) -> CollectError,
    visit: &mut dyn FnMut(&Path, MemberKind<'_>) -> Result<(), CollectError>,
) -> Result<R, CollectError> {
    let mut archive = tar::Archive::new(decoder);
    let entries = archive.entries().map_err(broken)?;
    for entry in entries {
        let mut entry = entry.map_err(broken)?;
        let raw = entry.path().map_err(broken)?.into_owned();
        let kind = entry.header().entry_type();
        if kind.is_symlink() {
            let target = entry.link_name().map_err(broken)?.map(|t| t.into_owned()).unwrap_or_default();
            visit(&raw, MemberKind::Symlink(target))?;
        } else if kind.is_file() {
            visit(&raw, MemberKind::File(&mut entry))?;
        } else if !kind.is_dir() {
            visit(&raw, MemberKind::Other)?;
        }
    }
    Ok(archive.into_inner())
}

/// A read error inside a member is the archive's: its compression or tar
/// stream is broken.
fn reclassify(error: CollectError, archive: &Path, compression: Compression) -> CollectError {
    match error {
        CollectError::Read { path, source } if path == archive => {
            CollectError::BrokenArchive { archive: archive.to_path_buf(), compression: compression.name(), source }
        }
        CollectError::Capture(CaptureError::Read { error, .. }) => CollectError::BrokenArchive {
            archive: archive.to_path_buf(),
            compression: compression.name(),
            source: error,
        },
        other => other,
    }
}

fn read_up_to(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Compression {
    Xz,
    Gzip,
    Bzip2,
    None,
}

impl Compression {
    pub(super) fn from_magic(magic: &[u8]) -> Compression {
        if magic.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Compression::Xz
        } else if magic.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if magic.starts_with(b"BZh") {
            Compression::Bzip2
        } else {
            Compression::None
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Compression::Xz => "xz-compressed tar archive",
            Compression::Gzip => "gzip-compressed tar archive",
            Compression::Bzip2 => "bzip2-compressed tar archive",
            Compression::None => "tar archive (.tar.xz, .tar.gz, .tar.bz2 or an extracted directory)",
        }
    }

    /// Decompresses `input`.
    pub(super) fn decoder<'a>(self, input: impl Read + 'a) -> Box<dyn Read + 'a> {
        match self {
            Compression::Xz => Box::new(xz2::read::XzDecoder::new(input)),
            Compression::Gzip => Box::new(flate2::read::GzDecoder::new(input)),
            Compression::Bzip2 => Box::new(bzip2::read::BzDecoder::new(input)),
            Compression::None => Box::new(input),
        }
    }
}

/// Walks an extracted archive, in a stable order (names in `first` first
/// in each directory); never follows a link, and opens only the regular
/// files `wanted` names.
pub(super) fn walk_directory(
    root: &Path,
    first: &[&str],
    wanted: &dyn Fn(&Path) -> bool,
    visit: &mut dyn FnMut(&Path, MemberKind<'_>) -> Result<(), CollectError>,
) -> Result<(), CollectError> {
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let dir = root.join(&relative);
        let mut entries: Vec<_> = fs::read_dir(&dir)
            .and_then(|e| e.map(|e| e.map(|e| e.file_name())).collect::<Result<Vec<_>, _>>())
            .map_err(|e| CollectError::Read { path: dir.clone(), source: e })?;
        entries.sort();
        entries.sort_by_key(|n| !first.iter().any(|f| n == f));
        let mut subdirs = Vec::new();
        for name in entries {
            let rel = relative.join(&name);
            let full = root.join(&rel);
            let meta = fs::symlink_metadata(&full).map_err(|e| CollectError::Read { path: full.clone(), source: e })?;
            let kind = meta.file_type();
            if kind.is_dir() {
                subdirs.push(rel);
            } else if kind.is_symlink() {
                let target = fs::read_link(&full).map_err(|e| CollectError::Read { path: full.clone(), source: e })?;
                visit(&rel, MemberKind::Symlink(target))?;
            } else if kind.is_file() && !kind.is_fifo() {
                if !wanted(&rel) {
                    continue;
                }
                let (mut file, _) = super::open(&full, false)?;
                visit(&rel, MemberKind::File(&mut file))?;
            } else {
                visit(&rel, MemberKind::Other)?;
            }
        }
        pending.extend(subdirs.into_iter().rev());
    }
    Ok(())
}
