//! GNU tar's PAX sparse files (`tar --sparse --format=posix`), which the `tar` crate does not
//! know: it sees a regular file named `GNUSparseFile.N/NAME` holding a map and the data
//! fragments. GNU tar writes three versions, all described by PAX records:
//!
//! - 0.0: `GNU.sparse.size`, and `GNU.sparse.offset`/`GNU.sparse.numbytes` pairs in order;
//! - 0.1: `GNU.sparse.size`, `GNU.sparse.name` and `GNU.sparse.map=off,len,off,len,...`;
//! - 1.0 (GNU tar's default): `GNU.sparse.major=1`, `GNU.sparse.minor=0`, `GNU.sparse.name`,
//!   `GNU.sparse.realsize`, and the map at the start of the content: decimal numbers, one a
//!   line (the fragment count, then offset and length of each), padded to 512 bytes.
//!
//! In every version the content (after a 1.0 map) is the fragments' data back to back; what
//! lies between fragments is a hole. The map is checked as Go's archive/tar checks it
//! (ascending, not overlapping, inside the real size) and the fragments must add up to the
//! content, so a hostile map can neither write outside the file nor make a reader spin.

use std::io::{self, Read};

use super::entry_size::parse_decimal;
use crate::error::{Error, Result};

/// The longest 1.0 map read (its text, padding included).
const MAX_MAP_BYTES: u64 = 16 << 20;
const BLOCK: u64 = 512;

/// A PAX sparse entry's description.
#[derive(Debug, Clone)]
pub(super) struct Sparse {
    /// The file's name (`GNU.sparse.name`), when given (0.0 keeps the header's name).
    pub(super) name: Option<Vec<u8>>,
    /// The file's logical size.
    pub(super) real_size: u64,
    /// (offset, length) of each data fragment; None for 1.0 until the map is read.
    pub(super) fragments: Option<Vec<(u64, u64)>>,
}

/// The sparse description in `entry`'s PAX records, or None for any other entry.
pub(super) fn from_pax<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    name: &str,
) -> Result<Option<Sparse>> {
    let bad = |why: String| Error::bad_archive(name, format!("GNU sparse file: {why}"));
    let Some(records) = entry
        .pax_extensions()
        .map_err(|e| bad(format!("invalid PAX header: {e}")))?
    else {
        return Ok(None);
    };
    let mut seen = false;
    let (mut major, mut minor) = (None, None);
    let (mut size, mut realsize, mut sparse_name, mut map) = (None, None, None, None);
    let mut pairs: Vec<(u64, u64)> = Vec::new();
    let mut pending_offset: Option<u64> = None;
    let number = |key: &str, v: &[u8]| {
        parse_decimal(v)
            .ok_or_else(|| bad(format!("invalid {key} {:?}", String::from_utf8_lossy(v))))
    };
    for record in records {
        let record = record.map_err(|e| bad(format!("invalid PAX record: {e}")))?;
        let key = record.key_bytes();
        let Some(sub) = key.strip_prefix(b"GNU.sparse.") else {
            continue;
        };
        seen = true;
        let v = record.value_bytes();
        match sub {
            b"major" => major = Some(number("GNU.sparse.major", v)?),
            b"minor" => minor = Some(number("GNU.sparse.minor", v)?),
            b"size" => size = Some(number("GNU.sparse.size", v)?),
            b"realsize" => realsize = Some(number("GNU.sparse.realsize", v)?),
            b"name" => sparse_name = Some(v.to_vec()),
            b"map" => {
                map = Some(parse_map_list(v).ok_or_else(|| {
                    bad(format!(
                        "invalid GNU.sparse.map {:?}",
                        String::from_utf8_lossy(v)
                    ))
                })?)
            }
            b"numblocks" => {}
            b"offset" => {
                if pending_offset.is_some() {
                    return Err(bad("GNU.sparse.offset without its numbytes".into()));
                }
                pending_offset = Some(number("GNU.sparse.offset", v)?);
            }
            b"numbytes" => {
                let Some(offset) = pending_offset.take() else {
                    return Err(bad("GNU.sparse.numbytes without an offset".into()));
                };
                pairs.push((offset, number("GNU.sparse.numbytes", v)?));
            }
            other => {
                return Err(bad(format!(
                    "unknown record GNU.sparse.{}",
                    String::from_utf8_lossy(other)
                )));
            }
        }
    }
    if !seen {
        return Ok(None);
    }
    let kind = entry.header().entry_type();
    if !matches!(kind, tar::EntryType::Regular | tar::EntryType::Continuous) {
        return Err(bad(format!(
            "records on an entry of type {:?}, not a regular file",
            kind.as_byte() as char
        )));
    }
    if pending_offset.is_some() {
        return Err(bad("GNU.sparse.offset without its numbytes".into()));
    }
    let fragments = match (major, minor) {
        (Some(1), Some(0)) => None,
        (None, None) => Some(map.unwrap_or(pairs)),
        (major, minor) => {
            return Err(bad(format!(
                "unsupported version {}.{}",
                major.map_or("?".into(), |m| m.to_string()),
                minor.map_or("?".into(), |m| m.to_string())
            )));
        }
    };
    let real_size = match fragments {
        None => realsize,
        Some(_) => size.or(realsize),
    }
    .ok_or_else(|| bad("no real size (GNU.sparse.realsize or GNU.sparse.size)".into()))?;
    Ok(Some(Sparse {
        name: sparse_name,
        real_size,
        fragments,
    }))
}

/// `off,len,off,len,...` (0.1's `GNU.sparse.map`).
fn parse_map_list(v: &[u8]) -> Option<Vec<(u64, u64)>> {
    if v.is_empty() {
        return Some(Vec::new());
    }
    let numbers: Vec<u64> = v
        .split(|b| *b == b',')
        .map(parse_decimal)
        .collect::<Option<_>>()?;
    if !numbers.len().is_multiple_of(2) {
        return None;
    }
    Some(numbers.chunks(2).map(|p| (p[0], p[1])).collect())
}

/// Reads a 1.0 map from the start of the content: the fragments, and the bytes the map took
/// (whole blocks).
pub(super) fn read_map_1_0(r: &mut dyn Read, name: &str) -> Result<(Vec<(u64, u64)>, u64)> {
    let bad = |why: &str| Error::bad_archive(name, format!("GNU sparse file: {why}"));
    let mut text: Vec<u8> = Vec::new();
    let mut consumed: u64 = 0;
    let mut lines_done = 0usize;
    let mut numbers: Vec<u64> = Vec::new();
    let mut wanted: Option<u64> = None;
    loop {
        // Numbers complete so far (each ends with a newline).
        while let Some(nl) = text[lines_done..].iter().position(|b| *b == b'\n') {
            let line = &text[lines_done..lines_done + nl];
            let n = parse_decimal(line).ok_or_else(|| bad("invalid number in the sparse map"))?;
            lines_done += nl + 1;
            match wanted {
                None => {
                    wanted = Some(
                        n.checked_mul(2)
                            .ok_or_else(|| bad("absurd fragment count"))?,
                    );
                }
                Some(_) => numbers.push(n),
            }
            if wanted.is_some_and(|w| numbers.len() as u64 == w) {
                let fragments = numbers.chunks(2).map(|p| (p[0], p[1])).collect();
                return Ok((fragments, consumed));
            }
        }
        if consumed >= MAX_MAP_BYTES {
            return Err(bad("the sparse map is larger than 16 MiB"));
        }
        let mut block = [0u8; BLOCK as usize];
        read_exact_or(r, &mut block).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                bad("the archive ends inside the sparse map")
            } else {
                Error::bad_archive(name, format!("reading the sparse map: {e}"))
            }
        })?;
        consumed += BLOCK;
        text.extend_from_slice(&block);
    }
}

fn read_exact_or(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<()> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

impl Sparse {
    /// The data fragments, checked: a 1.0 map is read from the front of `entry`'s content
    /// (`size` bytes, the map included), then the fragments are validated against the real
    /// size and the data left. Returns them and the map's length in bytes. Apply and the
    /// tar-split scanner both start a sparse file so.
    pub(super) fn checked_fragments(
        &mut self,
        entry: &mut dyn Read,
        size: u64,
        name: &str,
    ) -> Result<(Vec<(u64, u64)>, u64)> {
        let (fragments, map_bytes) = match self.fragments.take() {
            Some(f) => (f, 0),
            None => read_map_1_0(entry, name)?,
        };
        validate(
            &fragments,
            self.real_size,
            size.saturating_sub(map_bytes),
            name,
        )?;
        Ok((fragments, map_bytes))
    }
}

/// Checks `fragments` against the real size and the content they must fill (`data` bytes).
pub(super) fn validate(
    fragments: &[(u64, u64)],
    real_size: u64,
    data: u64,
    name: &str,
) -> Result<()> {
    let bad = |why: String| Error::bad_archive(name, format!("GNU sparse file: {why}"));
    let mut end_of_previous = 0u64;
    let mut total = 0u64;
    for &(offset, len) in fragments {
        let end = offset
            .checked_add(len)
            .ok_or_else(|| bad(format!("fragment at {offset} of {len} bytes overflows")))?;
        if offset < end_of_previous {
            return Err(bad(format!(
                "fragments out of order or overlapping at offset {offset}"
            )));
        }
        if end > real_size {
            return Err(bad(format!(
                "fragment at {offset} of {len} bytes ends past the real size {real_size}"
            )));
        }
        end_of_previous = end;
        total = total
            .checked_add(len)
            .ok_or_else(|| bad("fragments overflow".into()))?;
    }
    if total != data {
        return Err(bad(format!(
            "the map's fragments hold {total} bytes but the entry has {data}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_1_0_map_and_checks_it() {
        let mut map = b"3\n0\n4096\n8192\n10\n20000\n0\n".to_vec();
        map.resize(512, 0);
        map.extend_from_slice(b"data after");
        let mut r = &map[..];
        let (fragments, used) = read_map_1_0(&mut r, "f").expect("map");
        assert_eq!(fragments, [(0, 4096), (8192, 10), (20000, 0)]);
        assert_eq!(used, 512);
        assert!(validate(&fragments, 20000, 4106, "f").is_ok());
        assert!(validate(&fragments, 19999, 4106, "f").is_err());
        assert!(validate(&fragments, 20000, 4107, "f").is_err());
        assert!(validate(&[(10, 5), (12, 5)], 100, 10, "f").is_err());
        assert!(validate(&[(u64::MAX, 5)], u64::MAX, 5, "f").is_err());
        let mut truncated = &b"3\n0\n4096\n"[..];
        assert!(read_map_1_0(&mut truncated, "f").is_err());
        let mut junk = [b'x'; 512];
        junk[3] = b'\n';
        assert!(read_map_1_0(&mut &junk[..], "f").is_err());
    }

    #[test]
    fn parses_a_0_1_map() {
        assert_eq!(
            parse_map_list(b"0,4096,4997120,4096"),
            Some(vec![(0, 4096), (4997120, 4096)])
        );
        assert_eq!(parse_map_list(b"0,4096,1"), None);
        assert_eq!(parse_map_list(b"0,-1"), None);
    }
}
