//! Makes PAX xattr records that hold a newline readable by the `tar` crate.
//!
//! PAX records are length-prefixed, so a binary xattr value (a `security.capability` with a
//! 0x0a byte, say) may contain `\n`; Go's archive/tar, and so Docker, write them that way. The
//! `tar` crate splits PAX data at newlines and reports such records as malformed. This reader
//! sits in front of it: it walks the stream header by header and rewrites each
//! `SCHILY.xattr.NAME` record whose value holds a newline as `ENGINE.xattr.hex.NAME=<hex>`,
//! fixing the PAX header's size and checksum. Everything else passes through untouched, and
//! the layer digest is taken before this reader, on the original bytes.

use std::io::{self, Read};

use super::tar_writer::pax_record;

/// The key prefix of a rewritten xattr record; the value is hex.
pub(super) const ESCAPED_XATTR_PREFIX: &[u8] = b"ENGINE.xattr.hex.";
const XATTR_PREFIX: &[u8] = b"SCHILY.xattr.";
const BLOCK: usize = 512;
/// A PAX header bigger than this is passed through as it is (the tar crate reads it whole too).
const MAX_PAX: u64 = 16 << 20;

/// The escaping reader.
pub(super) struct PaxEscaper<R> {
    inner: R,
    /// Bytes ready to hand out.
    out: Vec<u8>,
    pos: usize,
    /// Content bytes (with padding) of the current entry still to pass through.
    skip: u64,
    /// A size a preceding PAX header set for the next entry.
    pax_size: Option<u64>,
    done: bool,
}

impl<R> std::fmt::Debug for PaxEscaper<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaxEscaper")
            .field("skip", &self.skip)
            .finish_non_exhaustive()
    }
}

impl<R: Read> PaxEscaper<R> {
    pub(super) fn new(inner: R) -> Self {
        PaxEscaper {
            inner,
            out: Vec::new(),
            pos: 0,
            skip: 0,
            pax_size: None,
            done: false,
        }
    }

    /// Reads exactly `buf.len()` bytes, or fewer at the end of the stream.
    fn read_full(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut n = 0;
        while n < buf.len() {
            match self.inner.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    /// Fills `out` with the next header (rewritten if needed) and its PAX data.
    fn next_header(&mut self) -> io::Result<()> {
        let mut header = [0u8; BLOCK];
        let n = self.read_full(&mut header)?;
        self.out.clear();
        self.pos = 0;
        self.out.extend_from_slice(&header[..n]);
        if n < BLOCK || header.iter().all(|b| *b == 0) || !checksum_ok(&header) {
            // The end, a zero block, or not a header we understand: from here on, pass through.
            self.done = n < BLOCK || !header.iter().all(|b| *b == 0) && !checksum_ok(&header);
            return Ok(());
        }
        let size = parse_size(&header[124..136]).unwrap_or(0);
        let Some(padded) = padded_size(size) else {
            // Past any real stream: pass through and let the tar reader refuse it.
            self.done = true;
            return Ok(());
        };
        match header[156] {
            b'x' if size <= MAX_PAX => {
                let mut data = vec![0u8; padded as usize];
                let got = self.read_full(&mut data)?;
                data.truncate(got);
                let body = &data[..(size as usize).min(got)];
                self.pax_size = pax_size(body);
                if got == padded as usize
                    && let Some(escaped) = escape_records(body)
                {
                    let new_size = escaped.len() as u64;
                    let mut h = header;
                    write_octal(&mut h[124..136], new_size);
                    set_checksum(&mut h);
                    self.out.clear();
                    self.out.extend_from_slice(&h);
                    self.out.extend_from_slice(&escaped);
                    self.out.resize(
                        BLOCK + (new_size.div_ceil(BLOCK as u64) * BLOCK as u64) as usize,
                        0,
                    );
                } else {
                    self.out.extend_from_slice(&data);
                }
            }
            b'g' | b'x' | b'L' | b'K' => {
                self.skip = padded;
            }
            _ => {
                let size = self.pax_size.take().unwrap_or(size);
                match padded_size(size) {
                    Some(padded) => self.skip = padded,
                    None => self.done = true,
                }
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for PaxEscaper<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.pos < self.out.len() {
                let n = buf.len().min(self.out.len() - self.pos);
                buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            if self.done || self.skip > 0 {
                let want = if self.done {
                    buf.len()
                } else {
                    buf.len().min(self.skip as usize)
                };
                let n = self.inner.read(&mut buf[..want])?;
                if !self.done {
                    if n == 0 {
                        self.done = true;
                    }
                    self.skip -= n as u64;
                }
                return Ok(n);
            }
            self.next_header()?;
            if self.out.is_empty() {
                return Ok(0);
            }
        }
    }
}

/// `size` rounded up to whole blocks; None when that overflows.
fn padded_size(size: u64) -> Option<u64> {
    size.checked_next_multiple_of(BLOCK as u64)
}

fn checksum_ok(header: &[u8; BLOCK]) -> bool {
    let Some(stored) = parse_octal(&header[148..156]) else {
        return false;
    };
    let sum: u64 = header
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                u64::from(b' ')
            } else {
                u64::from(*b)
            }
        })
        .sum();
    sum == stored
}

fn set_checksum(header: &mut [u8; BLOCK]) {
    header[148..156].fill(b' ');
    let sum: u64 = header.iter().map(|b| u64::from(*b)).sum();
    let digits = format!("{sum:06o}\0 ");
    header[148..156].copy_from_slice(digits.as_bytes());
}

fn parse_octal(field: &[u8]) -> Option<u64> {
    let text: Vec<u8> = field
        .iter()
        .copied()
        .filter(|b| *b != 0 && *b != b' ')
        .collect();
    if text.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(std::str::from_utf8(&text).ok()?, 8).ok()
}

/// A size field: octal, or GNU base-256 when the high bit of the first byte is set.
fn parse_size(field: &[u8]) -> Option<u64> {
    if field[0] & 0x80 != 0 {
        let mut v: u64 = u64::from(field[0] & 0x7f);
        for b in &field[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(*b))?;
        }
        return Some(v);
    }
    parse_octal(field)
}

fn write_octal(field: &mut [u8], value: u64) {
    let digits = format!("{value:0width$o}\0", width = field.len() - 1);
    field.copy_from_slice(digits.as_bytes());
}

/// The records of PAX data, by their length prefixes: (key, value) pairs.
fn records(body: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    let mut out = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let space = rest.iter().position(|b| *b == b' ')?;
        let len: usize = std::str::from_utf8(&rest[..space]).ok()?.parse().ok()?;
        if len <= space + 1 || len > rest.len() || rest[len - 1] != b'\n' {
            return None;
        }
        let record = &rest[space + 1..len - 1];
        let eq = record.iter().position(|b| *b == b'=')?;
        out.push((&record[..eq], &record[eq + 1..]));
        rest = &rest[len..];
    }
    Some(out)
}

fn pax_size(body: &[u8]) -> Option<u64> {
    records(body)?
        .into_iter()
        .find(|(k, _)| *k == b"size")
        .and_then(|(_, v)| std::str::from_utf8(v).ok()?.parse().ok())
}

/// The PAX data with newline-holding xattr values hex-escaped, or None when nothing changes.
fn escape_records(body: &[u8]) -> Option<Vec<u8>> {
    let recs = records(body)?;
    if !recs
        .iter()
        .any(|(k, v)| k.starts_with(XATTR_PREFIX) && v.contains(&b'\n'))
    {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() * 2);
    for (key, value) in recs {
        match key.strip_prefix(XATTR_PREFIX) {
            Some(name) if value.contains(&b'\n') => {
                let key = [ESCAPED_XATTR_PREFIX, name].concat();
                pax_record(&mut out, &key, hex::encode(value).as_bytes());
            }
            _ => pax_record(&mut out, key, value),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_with_xattr(value: &[u8]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut pax = Vec::new();
        pax_record(&mut pax, b"SCHILY.xattr.security.capability", value);
        pax_record(&mut pax, b"SCHILY.xattr.user.plain", b"ok");
        let mut ph = tar::Header::new_ustar();
        ph.set_entry_type(tar::EntryType::XHeader);
        ph.set_size(pax.len() as u64);
        ph.set_path("PaxHeader").unwrap();
        ph.set_cksum();
        b.append(&ph, &pax[..]).unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_size(5);
        h.set_mode(0o644);
        h.set_path("f").unwrap();
        h.set_cksum();
        b.append(&h, &b"hello"[..]).unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_size(3);
        h.set_mode(0o644);
        h.set_path("g").unwrap();
        h.set_cksum();
        b.append(&h, &b"abc"[..]).unwrap();
        b.into_inner().unwrap()
    }

    /// Path, PAX records and content of each entry.
    type Entries = Vec<(String, Vec<(Vec<u8>, Vec<u8>)>, Vec<u8>)>;

    fn read_back(bytes: &[u8]) -> Entries {
        let mut a = tar::Archive::new(PaxEscaper::new(bytes));
        let mut out = Vec::new();
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            let path = e.path().unwrap().display().to_string();
            let mut recs = Vec::new();
            if let Some(p) = e.pax_extensions().unwrap() {
                for r in p {
                    let r = r.unwrap();
                    recs.push((r.key_bytes().to_vec(), r.value_bytes().to_vec()));
                }
            }
            let mut body = Vec::new();
            e.read_to_end(&mut body).unwrap();
            out.push((path, recs, body));
        }
        out
    }

    #[test]
    fn newline_values_are_escaped_and_the_rest_is_untouched() {
        let cap = [1u8, 0, 0, 2, 0x0a, 0, 0, 0, 0x0a, 0x0a];
        let entries = read_back(&tar_with_xattr(&cap));
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].0, "f");
        assert_eq!(entries[0].2, b"hello");
        assert_eq!(entries[1].2, b"abc");
        let recs = &entries[0].1;
        assert!(recs.contains(&(
            b"ENGINE.xattr.hex.security.capability".to_vec(),
            hex::encode(cap).into_bytes()
        )));
        assert!(recs.contains(&(b"SCHILY.xattr.user.plain".to_vec(), b"ok".to_vec())));
    }

    #[test]
    fn archives_without_newlines_pass_through_byte_for_byte() {
        let original = tar_with_xattr(b"no newline here");
        let mut out = Vec::new();
        PaxEscaper::new(&original[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, original);
    }
}
