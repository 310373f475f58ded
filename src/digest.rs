//! Readers that streamed input passes through once: one that hashes what
//! it reads (SHA-1 of OVSDB records, SHA-256 of collected files and
//! archives), one that counts it; and the hex form digests are written in.

use sha2::Digest;
use std::io::{self, BufRead, Read};

/// Hashes what is read through it with `D`.
pub(crate) struct Hashing<R, D> {
    pub inner: R,
    pub digest: D,
}

impl<R, D: Digest> Hashing<R, D> {
    pub fn new(inner: R) -> Self {
        Hashing { inner, digest: D::new() }
    }

    /// The digest of what was read so far, in hex.
    pub fn hex(&self) -> String
    where
        D: Clone,
    {
        hex(self.digest.clone().finalize())
    }
}

impl<R: Read, D: Digest> Read for Hashing<R, D> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.digest.update(&buf[..n]);
        Ok(n)
    }
}

/// Counts the bytes read through it.
pub(crate) struct Counted<R> {
    pub inner: R,
    pub count: u64,
}

impl<R> Counted<R> {
    pub fn new(inner: R) -> Self {
        Counted { inner, count: 0 }
    }
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Counted<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        self.count += amt as u64;
        self.inner.consume(amt)
    }
}

/// A digest as lowercase hex, as `sha256sum` and OVSDB headers print it.
pub(crate) fn hex(digest: impl AsRef<[u8]>) -> String {
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_and_counts_what_passes() {
        let mut reader = Counted::new(Hashing::<_, sha2::Sha256>::new(&b"abc"[..]));
        io::copy(&mut reader, &mut io::sink()).unwrap();
        assert_eq!(reader.count, 3);
        assert_eq!(
            hex(reader.inner.digest.finalize()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
