//! A reader that hashes (SHA-256) and counts what passes through it.

use std::io::{self, Read};

use sha2::{Digest as _, Sha256};

use crate::id::Digest;

/// Wraps a reader; [`DigestReader::digest`] is the SHA-256 of every byte read so far.
#[derive(Debug)]
pub struct DigestReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> DigestReader<R> {
    /// Starts hashing `inner`.
    pub fn new(inner: R) -> Self {
        DigestReader {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// Reads `inner` to its end, so the digest covers all of it (tar readers stop at the
    /// end-of-archive blocks and would leave padding unhashed).
    pub fn drain(&mut self) -> io::Result<u64> {
        io::copy(self, &mut io::sink())
    }

    /// Bytes read so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The digest of everything read so far.
    pub fn digest(&self) -> Digest {
        Digest::from_sha256(self.hasher.clone())
    }

    /// Gives back the inner reader.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> Read for DigestReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// Wraps a writer; [`DigestWriter::digest`] is the SHA-256 of every byte written so far.
#[derive(Debug)]
pub struct DigestWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: io::Write> DigestWriter<W> {
    /// Starts hashing what goes to `inner`.
    pub fn new(inner: W) -> Self {
        DigestWriter {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// Bytes written so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The digest of everything written so far.
    pub fn digest(&self) -> Digest {
        Digest::from_sha256(self.hasher.clone())
    }

    /// Gives back the inner writer.
    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: io::Write> io::Write for DigestWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
