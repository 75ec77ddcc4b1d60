//! The json-file log driver: one JSON object per line,
//! `{"log":"hello\n","stream":"stdout","time":"2024-01-01T00:00:00.000000001Z"}`,
//! rotated as Docker's is with `max-size`/`max-file` (`<id>-json.log` is the current file,
//! `.1` the one before, and so on); and the `none` driver, which keeps nothing.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::host_options::{LogConfig, Rotation};

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
    sink: Arc<Mutex<Sink>>,
}

#[derive(Debug)]
struct Sink {
    /// `None`: the `none` driver.
    file: Option<File>,
    path: PathBuf,
    size: u64,
    rotation: Option<Rotation>,
}

/// The rotated files of the log at `path` that exist, oldest first, then `path` itself
/// (whether or not it exists).
pub fn files(path: &Path) -> Vec<PathBuf> {
    let mut rotated: Vec<PathBuf> = (1..)
        .map(|n| rotated_name(path, n))
        .take_while(|p| p.exists())
        .collect();
    rotated.reverse();
    rotated.push(path.to_path_buf());
    rotated
}

fn rotated_name(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

impl LogWriter {
    /// Opens `path` for appending, without rotation.
    pub fn open(path: &Path) -> io::Result<Self> {
        Self::open_with(path, &LogConfig::default())
    }

    /// The writer `config` asks for: json-file at `path` (rotated when it says so), or
    /// nothing kept for `none`.
    pub fn open_with(path: &Path, config: &LogConfig) -> io::Result<Self> {
        let rotation = config
            .rotation()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{e:#}")))?;
        let file = if config.keeps_log() {
            Some(OpenOptions::new().create(true).append(true).open(path)?)
        } else {
            None
        };
        let size = match &file {
            Some(f) => f.metadata()?.len(),
            None => 0,
        };
        Ok(LogWriter {
            sink: Arc::new(Mutex::new(Sink {
                file,
                path: path.to_path_buf(),
                size,
                rotation,
            })),
        })
    }

    /// Appends one entry, rotating first when the file has reached its `max-size`.
    pub fn write(&self, stream: &str, line: &[u8]) -> io::Result<()> {
        let mut sink = self.sink.lock().unwrap_or_else(|p| p.into_inner());
        if sink.file.is_none() {
            return Ok(());
        }
        let entry = Entry {
            log: String::from_utf8_lossy(line).into_owned(),
            stream: stream.to_string(),
            time: now(),
        };
        let mut bytes = serde_json::to_vec(&entry).map_err(io::Error::other)?;
        bytes.push(b'\n');
        if let Some(r) = sink.rotation
            && sink.size > 0
            && sink.size >= r.max_size
        {
            sink.rotate(r.max_files)?;
        }
        let Some(file) = sink.file.as_mut() else {
            return Ok(());
        };
        file.write_all(&bytes)?;
        sink.size += bytes.len() as u64;
        Ok(())
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

impl Sink {
    /// `path.(n-1)` is dropped, each older file moves up one, `path` becomes `path.1`, and a
    /// new empty `path` is opened (one file only: `path` starts again empty), as Docker does.
    fn rotate(&mut self, max_files: u32) -> io::Result<()> {
        if max_files >= 2 {
            for n in (1..max_files - 1).rev() {
                match std::fs::rename(rotated_name(&self.path, n), rotated_name(&self.path, n + 1))
                {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
            std::fs::rename(&self.path, rotated_name(&self.path, 1))?;
        } else {
            match std::fs::remove_file(&self.path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        self.file = Some(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?,
        );
        self.size = 0;
        Ok(())
    }
}

/// Every entry of the log at `path`, its rotated files first.
pub fn read_all(path: &Path) -> Vec<Entry> {
    files(path)
        .iter()
        .filter_map(|p| File::open(p).ok())
        .flat_map(read_entries)
        .collect()
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

    #[test]
    fn rotation_keeps_max_file_files_of_about_max_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let config = LogConfig {
            kind: "json-file".into(),
            config: [("max-size", "1k"), ("max-file", "3")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let w = LogWriter::open_with(&path, &config).unwrap();
        for i in 0..200 {
            w.write("stdout", format!("line {i}\n").as_bytes()).unwrap();
        }
        let names = files(&path);
        assert_eq!(names.len(), 3, "{names:?}");
        assert!(!rotated_name(&path, 3).exists());
        for p in &names {
            // Rotated at the first entry past 1000 bytes.
            assert!(std::fs::metadata(p).unwrap().len() < 1200);
        }
        let all = read_all(&path);
        assert_eq!(all.last().unwrap().log, "line 199\n");
        // The oldest kept entries are gone, the rest are in order.
        let first: u32 = all[0].log[5..].trim().parse().unwrap();
        assert!(first > 0);
        for (i, e) in all.iter().enumerate() {
            assert_eq!(e.log, format!("line {}\n", first as usize + i));
        }
        // One file only: it starts again.
        let one = dir.path().join("one-json.log");
        let config = LogConfig {
            kind: "json-file".into(),
            config: [("max-size".to_string(), "1k".to_string())].into(),
        };
        let w = LogWriter::open_with(&one, &config).unwrap();
        for i in 0..100 {
            w.write("stdout", format!("line {i}\n").as_bytes()).unwrap();
        }
        assert_eq!(files(&one).len(), 1);
        assert!(std::fs::metadata(&one).unwrap().len() < 1200);
        // none keeps nothing.
        let none = dir.path().join("none-json.log");
        let w = LogWriter::open_with(
            &none,
            &LogConfig {
                kind: "none".into(),
                config: Default::default(),
            },
        )
        .unwrap();
        w.write("stdout", b"x\n").unwrap();
        assert!(!none.exists());
    }
}
