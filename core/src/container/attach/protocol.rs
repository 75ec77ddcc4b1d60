//! The wire format of the attach socket: a hello line each way, then frames with Docker's
//! 8-byte header `[kind, 0, 0, 0, len as u32 big-endian]` followed by `len` bytes.

use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};

/// Output frame: the container's stdout (all output of a TTY container).
pub const STDOUT: u8 = 1;
/// Output frame: the container's stderr.
pub const STDERR: u8 = 2;
/// Output frame: this run of the container has ended; the payload is its exit code in
/// decimal. The monitor closes the connection after it.
pub const EXIT: u8 = 3;

/// Input frame: bytes for the container's stdin.
pub const STDIN: u8 = 0;
/// Input frame: this client's stdin has ended (empty payload).
pub const CLOSE_STDIN: u8 = 1;
/// Input frame: a TTY resize; the payload is `rows cols` in decimal.
pub const RESIZE: u8 = 2;

/// The largest frame accepted (larger stdin writes are split by the sender).
pub const MAX_FRAME: usize = 1 << 20;

/// The client's first line: what it wants.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Hello {
    /// It will send stdin (ignored unless the container was created with `-i`).
    #[serde(default)]
    pub stdin: bool,
    /// It wants stdout.
    #[serde(default)]
    pub stdout: bool,
    /// It wants stderr.
    #[serde(default)]
    pub stderr: bool,
    /// The pending-attach token it registered before the container started, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// The monitor's answer line.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Welcome {
    /// The container has a TTY: one output stream, resizes apply.
    pub tty: bool,
    /// The container's stdin is open (`-i`): stdin frames reach it.
    pub open_stdin: bool,
}

/// Writes `value` as one JSON line.
pub fn write_line(w: &mut impl Write, value: &impl Serialize) -> io::Result<()> {
    let mut bytes = serde_json::to_vec(value).map_err(io::Error::other)?;
    bytes.push(b'\n');
    w.write_all(&bytes)?;
    w.flush()
}

/// Reads one JSON line (at most 4 KiB) byte by byte, so nothing after it is consumed.
pub fn read_line<T: for<'de> Deserialize<'de>>(r: &mut impl Read) -> io::Result<T> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match r.read(&mut byte) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) => line.push(byte[0]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        if line.len() > 4096 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "attach hello line too long",
            ));
        }
    }
    serde_json::from_slice(&line).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Docker's 8-byte frame header.
pub fn header(kind: u8, len: usize) -> [u8; 8] {
    let len = u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes();
    [kind, 0, 0, 0, len[0], len[1], len[2], len[3]]
}

/// Writes one frame (header and payload in one write, so frames from several threads sharing
/// a locked writer never interleave).
pub fn write_frame(w: &mut impl Write, kind: u8, payload: &[u8]) -> io::Result<()> {
    let mut buf = Vec::with_capacity(8 + payload.len());
    buf.extend_from_slice(&header(kind, payload.len()));
    buf.extend_from_slice(payload);
    w.write_all(&buf)?;
    w.flush()
}

/// Reads one frame; `None` at a clean end of stream between frames.
pub fn read_frame(r: &mut impl Read) -> io::Result<Option<(u8, Vec<u8>)>> {
    let mut head = [0u8; 8];
    let mut got = 0;
    while got < head.len() {
        match r.read(&mut head[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let len = u32::from_be_bytes([head[4], head[5], head[6], head[7]]) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("attach frame of {len} bytes is too large"),
        ));
    }
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload)?;
    Ok(Some((head[0], payload)))
}

/// The payload of a [`RESIZE`] frame.
pub fn resize_payload(rows: u16, cols: u16) -> Vec<u8> {
    format!("{rows} {cols}").into_bytes()
}

/// Parses a [`RESIZE`] payload.
pub fn parse_resize(payload: &[u8]) -> Option<(u16, u16)> {
    let text = std::str::from_utf8(payload).ok()?;
    let (rows, cols) = text.trim().split_once(' ')?;
    Some((rows.parse().ok()?, cols.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_with_dockers_header() {
        let mut buf = Vec::new();
        write_frame(&mut buf, STDERR, b"oops\n").unwrap();
        assert_eq!(&buf[..8], &[2, 0, 0, 0, 0, 0, 0, 5]);
        write_frame(&mut buf, STDOUT, b"").unwrap();
        let mut r = &buf[..];
        assert_eq!(
            read_frame(&mut r).unwrap(),
            Some((STDERR, b"oops\n".to_vec()))
        );
        assert_eq!(read_frame(&mut r).unwrap(), Some((STDOUT, Vec::new())));
        assert_eq!(read_frame(&mut r).unwrap(), None);
    }

    #[test]
    fn a_torn_frame_is_an_error() {
        let mut r = &[1u8, 0, 0][..];
        assert!(read_frame(&mut r).is_err());
        let mut r = &[1u8, 0, 0, 0, 0, 0, 0, 9, b'x'][..];
        assert!(read_frame(&mut r).is_err());
    }

    #[test]
    fn hello_line_leaves_the_rest_unread() {
        let mut buf = Vec::new();
        write_line(
            &mut buf,
            &Hello {
                stdin: true,
                stdout: true,
                ..Hello::default()
            },
        )
        .unwrap();
        write_frame(&mut buf, STDIN, b"x").unwrap();
        let mut r = &buf[..];
        let hello: Hello = read_line(&mut r).unwrap();
        assert!(hello.stdin && hello.stdout && !hello.stderr && hello.token.is_none());
        assert_eq!(read_frame(&mut r).unwrap(), Some((STDIN, b"x".to_vec())));
    }

    #[test]
    fn resize_payload_round_trips() {
        assert_eq!(parse_resize(&resize_payload(24, 80)), Some((24, 80)));
        assert_eq!(parse_resize(b"24"), None);
        assert_eq!(parse_resize(b"a b"), None);
    }
}
