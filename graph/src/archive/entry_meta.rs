//! The metadata a tar entry carries: owner, mode, mtime, device numbers, xattrs.

use std::io::Read;

use nix::sys::time::TimeSpec;

use super::whiteout::OVERLAY_XATTR_PREFIX;
use super::xattrs::Xattr;
use crate::error::{Error, Result};

/// PAX key prefix of an xattr record (the GNU tar / star convention Docker uses).
const PAX_XATTR_PREFIX: &[u8] = b"SCHILY.xattr.";

/// Metadata of one entry, validated.
#[derive(Debug)]
pub(super) struct EntryMeta {
    /// Owner.
    pub(super) uid: u32,
    /// Group.
    pub(super) gid: u32,
    /// Permission bits with setuid, setgid and sticky.
    pub(super) mode: u32,
    /// Modification time (PAX `mtime` keeps its fraction).
    pub(super) mtime: TimeSpec,
    /// Device major and minor numbers (character and block devices).
    pub(super) device: (u64, u64),
    /// Extended attributes from PAX `SCHILY.xattr.*` records.
    pub(super) xattrs: Vec<Xattr>,
}

impl EntryMeta {
    /// Reads the metadata of `entry` (`name` is its path for messages).
    pub(super) fn read<R: Read>(entry: &mut tar::Entry<'_, R>, name: &str) -> Result<Self> {
        let bad = |what: &str, e: std::io::Error| {
            Error::bad_archive(name, format!("invalid {what}: {e}"))
        };
        let header = entry.header();
        let old = header.as_old();
        let mode = or_zero(&old.mode, header.mode()).map_err(|e| bad("mode", e))? & 0o7777;
        let uid = or_zero(&old.uid, header.uid()).map_err(|e| bad("uid", e))?;
        let gid = or_zero(&old.gid, header.gid()).map_err(|e| bad("gid", e))?;
        let uid = u32::try_from(uid)
            .map_err(|_| Error::bad_archive(name, format!("uid {uid} is out of range")))?;
        let gid = u32::try_from(gid)
            .map_err(|_| Error::bad_archive(name, format!("gid {gid} is out of range")))?;
        let mtime = or_zero(&old.mtime, header.mtime()).map_err(|e| bad("mtime", e))?;
        let mut mtime = TimeSpec::new(i64::try_from(mtime).unwrap_or(i64::MAX), 0);
        let device = if header.entry_type().is_character_special()
            || header.entry_type().is_block_special()
        {
            let major = header
                .device_major()
                .map_err(|e| bad("device major", e))?
                .unwrap_or(0);
            let minor = header
                .device_minor()
                .map_err(|e| bad("device minor", e))?
                .unwrap_or(0);
            (u64::from(major), u64::from(minor))
        } else {
            (0, 0)
        };
        let mut xattrs = Vec::new();
        if let Some(pax) = entry.pax_extensions().map_err(|e| bad("PAX header", e))? {
            for record in pax {
                let record = record.map_err(|e| bad("PAX record", e))?;
                let key = record.key_bytes();
                let (xattr, value) = if let Some(x) = key.strip_prefix(PAX_XATTR_PREFIX) {
                    (Some(x), record.value_bytes().to_vec())
                } else if let Some(x) = key.strip_prefix(super::pax_escape::ESCAPED_XATTR_PREFIX) {
                    let value = hex::decode(record.value_bytes())
                        .map_err(|_| Error::bad_archive(name, "invalid escaped xattr value"))?;
                    (Some(x), value)
                } else {
                    (None, Vec::new())
                };
                if let Some(xattr) = xattr {
                    if xattr.is_empty() || xattr.contains(&0) {
                        return Err(Error::bad_archive(name, "invalid xattr name in PAX header"));
                    }
                    if xattr.starts_with(OVERLAY_XATTR_PREFIX) {
                        // overlayfs internals (redirects, metacopy, opaque) only ever come from
                        // whiteout entries, never straight from an archive.
                        tracing::debug!(entry = name, "ignoring overlay xattr in archive");
                        continue;
                    }
                    xattrs.push((xattr.to_vec(), value));
                } else if key == b"mtime" {
                    mtime = parse_pax_time(record.value_bytes())
                        .ok_or_else(|| Error::bad_archive(name, "invalid PAX mtime"))?;
                }
            }
        }
        Ok(EntryMeta {
            uid,
            gid,
            mode,
            mtime,
            device,
            xattrs,
        })
    }
}

/// Parses a PAX time, `[-]SECONDS[.FRACTION]`.
fn parse_pax_time(value: &[u8]) -> Option<TimeSpec> {
    let text = std::str::from_utf8(value).ok()?;
    let (secs, frac) = text.split_once('.').unwrap_or((text, ""));
    let negative = secs.starts_with('-');
    let secs: i64 = secs.parse().ok()?;
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
    let nanos: i64 = digits.parse().ok()?;
    if negative && nanos > 0 {
        // -1.5 is 1.5 s before the epoch: -2 s + 0.5 s.
        Some(TimeSpec::new(secs - 1, 1_000_000_000 - nanos))
    } else {
        Some(TimeSpec::new(secs, nanos))
    }
}

/// A numeric header field left empty (all NUL or spaces) reads as 0, as Go's archive/tar
/// (and so Docker) reads it; anything else must parse.
fn or_zero<T: Default>(raw: &[u8], parsed: std::io::Result<T>) -> std::io::Result<T> {
    if raw.iter().all(|b| *b == 0 || *b == b' ') {
        return Ok(T::default());
    }
    parsed
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn pax_times_parse() {
        assert_eq!(
            parse_pax_time(b"1700000000"),
            Some(TimeSpec::new(1_700_000_000, 0))
        );
        assert_eq!(
            parse_pax_time(b"1700000000.5"),
            Some(TimeSpec::new(1_700_000_000, 500_000_000))
        );
        assert_eq!(
            parse_pax_time(b"12.123456789123"),
            Some(TimeSpec::new(12, 123_456_789))
        );
        assert_eq!(
            parse_pax_time(b"-1.5"),
            Some(TimeSpec::new(-2, 500_000_000))
        );
        assert_eq!(parse_pax_time(b"abc"), None);
        assert_eq!(parse_pax_time(b"1.2x"), None);
    }
}
