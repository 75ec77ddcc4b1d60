//! The content size an entry declares, checked before anything trusts it.
//!
//! The `tar` crate takes a PAX `size` record that does not parse (`-1`, `1e9`, a number past
//! u64) as absent and falls back to the header's size field, so a hostile archive could pass
//! its content off as an empty file; Go's archive/tar, and so Docker, refuses it. A size
//! beyond Go's int64 is refused too, and content that the stream ends inside is reported with
//! the entry's name and the sizes involved.

use std::io::{self, Read};

use crate::error::{Error, Result};

/// The largest content size a tar reader accepts (Go's archive/tar keeps sizes in an int64).
const MAX_SIZE: u64 = i64::MAX as u64;

/// The content size of `entry` (`name` for messages), after checking its PAX `size` record
/// and its range.
pub(super) fn checked_size<R: Read>(entry: &mut tar::Entry<'_, R>, name: &str) -> Result<u64> {
    let bad_pax = |e: io::Error| Error::bad_archive(name, format!("invalid PAX header: {e}"));
    if let Some(records) = entry.pax_extensions().map_err(bad_pax)? {
        for record in records {
            let record = record.map_err(bad_pax)?;
            if record.key_bytes() == b"size" && parse_decimal(record.value_bytes()).is_none() {
                return Err(Error::bad_archive(
                    name,
                    format!(
                        "invalid size {:?} in its PAX header: not a size in bytes",
                        String::from_utf8_lossy(record.value_bytes())
                    ),
                ));
            }
        }
    }
    let size = entry.size();
    if size > MAX_SIZE {
        return Err(Error::bad_archive(
            name,
            format!("size field {size} is out of range (at most {MAX_SIZE})"),
        ));
    }
    Ok(size)
}

/// A PAX decimal number as Go's archive/tar accepts it: digits only, within an int64.
pub(super) fn parse_decimal(v: &[u8]) -> Option<u64> {
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v)
        .ok()?
        .parse::<u64>()
        .ok()
        .filter(|n| *n <= MAX_SIZE)
}

/// The error for content that the stream ends inside: `got` of the `want` bytes the entry's
/// size field promised.
pub(super) fn runs_past_the_end(name: &str, want: u64, got: u64) -> Error {
    Error::bad_archive(
        name,
        format!(
            "its size field ({want} bytes) runs past the end of the archive (only {got} bytes follow)"
        ),
    )
}

/// Reads the rest of an entry's content and checks it is all there.
pub(super) fn drain<R: Read>(entry: &mut tar::Entry<'_, R>, name: &str, size: u64) -> Result<()> {
    let got = io::copy(entry, &mut io::sink())
        .map_err(|e| Error::bad_archive(name, format!("reading content: {e}")))?;
    if got < size {
        return Err(runs_past_the_end(name, size, got));
    }
    Ok(())
}

/// A tar reader's error between entries, naming the last entry read (the damage is in its
/// content or in the header after it).
pub(super) fn header_error(e: io::Error, last: Option<&str>) -> Error {
    match last {
        Some(last) => Error::bad_archive("<header>", format!("{e} (after entry {last:?})")),
        None => Error::bad_archive("<header>", e.to_string()),
    }
}
