//! The json-file log driver: one JSON object per line,
//! `{"log":"hello\n","stream":"stdout","time":"2024-01-01T00:00:00.000000001Z"}`.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

/// Docker splits lines longer than this into several entries.
const MAX_LINE: usize = 16 * 1024;

/// One log entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Entry {
    /// The bytes, with their newline when the line had one.
    pub log: String,
    /// "stdout" or "stderr".
    pub stream: String,
    /// RFC 3339 with nanoseconds.
    pub time: String,
}

/// The current time as Docker writes it.
pub fn now() -> String {
    humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string()
}

/// An open log file shared by the stream copiers.
#[derive(Debug, Clone)]
pub struct LogWriter {
    file: Arc<Mutex<File>>,
}

impl LogWriter {
    /// Opens `path` for appending.
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(LogWriter {
            file: Arc::new(Mutex::new(file)),
        })
    }

    /// Appends one entry.
    pub fn write(&self, stream: &str, line: &[u8]) -> io::Result<()> {
        let entry = Entry {
            log: String::from_utf8_lossy(line).into_owned(),
            stream: stream.to_string(),
            time: now(),
        };
        let mut bytes = serde_json::to_vec(&entry).map_err(io::Error::other)?;
        bytes.push(b'\n');
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        file.write_all(&bytes)
    }

    /// Copies `input` line by line into the log as `stream`, and every byte also to `echo`
    /// when given (a foreground run's terminal), until end of input.
    pub fn copy(
        &self,
        stream: &str,
        mut input: impl Read,
        mut echo: Option<Box<dyn Write + Send>>,
    ) {
        let mut pending: Vec<u8> = Vec::new();
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = match input.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // EIO: a pty whose container side has gone.
                Err(_) => break,
            };
            if let Some(out) = echo.as_mut()
                && (out.write_all(&buf[..n]).is_err() || out.flush().is_err())
            {
                echo = None;
            }
            pending.extend_from_slice(&buf[..n]);
            while let Some(pos) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=pos).collect();
                self.write_or_warn(stream, &line);
            }
            if pending.len() >= MAX_LINE {
                let chunk = std::mem::take(&mut pending);
                self.write_or_warn(stream, &chunk);
            }
        }
        if !pending.is_empty() {
            self.write_or_warn(stream, &pending);
        }
    }

    fn write_or_warn(&self, stream: &str, line: &[u8]) {
        if let Err(e) = self.write(stream, line) {
            tracing::warn!(error = %e, "cannot write container log");
        }
    }
}

/// Reads entries from `reader`, skipping lines that are not entries (a torn last line).
pub fn read_entries(reader: impl Read) -> Vec<Entry> {
    BufReader::new(reader)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str(&l).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let w = LogWriter::open(&path).unwrap();
        w.copy("stdout", &b"one\ntwo\npartial"[..], None);
        let entries = read_entries(File::open(&path).unwrap());
        let logs: Vec<&str> = entries.iter().map(|e| e.log.as_str()).collect();
        assert_eq!(logs, ["one\n", "two\n", "partial"]);
        assert!(
            entries
                .iter()
                .all(|e| e.stream == "stdout" && e.time.ends_with('Z'))
        );
    }
}
