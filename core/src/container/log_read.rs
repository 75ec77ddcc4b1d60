//! `engine logs`: the json-file log, with `--tail`, `-t` and `-f`.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, bail};

use crate::container::list::system_time;
use crate::container::log::{self, Entry, read_entries};
use crate::container::record::Record;
use crate::container::store::ContainerStore;

/// `--tail`: a number, or `all` (also `-1`) for everything.
pub fn parse_tail(tail: &str) -> Result<Option<usize>> {
    match tail {
        "" | "all" | "-1" => Ok(None),
        n => {
            Ok(Some(n.parse::<usize>().with_context(|| {
                format!("invalid value for --tail: {n:?}")
            })?))
        }
    }
}

/// Which entries of a container's log to read.
#[derive(Debug, Default, Clone)]
pub struct LogQuery {
    /// Only the last N (before following).
    pub tail: Option<usize>,
    /// Keep reading until the container's monitor is gone.
    pub follow: bool,
    /// Only entries at or after this time.
    pub since: Option<SystemTime>,
    /// Only entries before this time.
    pub until: Option<SystemTime>,
}

impl LogQuery {
    fn wants(&self, e: &Entry) -> bool {
        if self.since.is_none() && self.until.is_none() {
            return true;
        }
        let Some(t) = system_time(&e.time) else {
            return true;
        };
        self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t < u)
    }
}

/// Docker's refusal to read the log of a container whose driver keeps none.
pub fn check_readable(record: &Record) -> Result<()> {
    if !record.host_config.options.log_config.keeps_log() {
        return Err(crate::error::EngineError::invalid(
            "configured logging driver does not support reading",
        )
        .into());
    }
    Ok(())
}

/// Hands each wanted entry of the container's json-file log to `emit`, following it as
/// `query` says until the container stops or `cancelled` says so. The CLI prints the
/// entries; the API frames them for its client.
pub fn read_log(
    store: &ContainerStore,
    record: &Record,
    query: &LogQuery,
    cancelled: &dyn Fn() -> bool,
    emit: &mut dyn FnMut(&Entry) -> Result<()>,
) -> Result<()> {
    check_readable(record)?;
    let path = std::path::Path::new(&record.log_path);
    // The rotated files first (oldest first), whole; then the current one.
    let mut text = Vec::new();
    for older in log::files(path).iter().filter(|p| p.as_path() != path) {
        if let Ok(mut f) = File::open(older) {
            f.read_to_end(&mut text)?;
            if !text.is_empty() && !text.ends_with(b"\n") {
                text.push(b'\n');
            }
        }
    }
    let mut file = match File::open(&record.log_path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if !query.follow {
                return Ok(());
            }
            // Not started yet: nothing to show until it writes.
            File::create(&record.log_path)
                .with_context(|| format!("creating {}", record.log_path))?
        }
        Err(e) => bail!("opening {}: {e}", record.log_path),
    };
    let before = text.len();
    file.read_to_end(&mut text)?;
    // Only whole lines; a torn last line is read again when following.
    let complete = text.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    let mut offset = complete.saturating_sub(before) as u64;
    let mut entries: Vec<Entry> = read_entries(&text[..complete])
        .into_iter()
        .filter(|e| query.wants(e))
        .collect();
    if let Some(n) = query.tail {
        let skip = entries.len().saturating_sub(n);
        entries.drain(..skip);
    }
    for e in &entries {
        emit(e)?;
    }
    if !query.follow {
        return Ok(());
    }
    loop {
        // Checked before reading, so the last lines written before the exit are still shown.
        let done = !store.monitor_alive(&record.id) || cancelled();
        // Rotated since the last look: the rest of the old file, then the new one.
        let rotated = std::fs::metadata(path)
            .ok()
            .zip(file.metadata().ok())
            .is_some_and(|(now, open)| now.ino() != open.ino());
        file.seek(SeekFrom::Start(offset))?;
        let mut more = Vec::new();
        file.read_to_end(&mut more)?;
        let complete = more.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        for e in read_entries(&more[..complete]) {
            if query.wants(&e) {
                emit(&e)?;
            }
        }
        offset += complete as u64;
        if rotated && let Ok(f) = File::open(path) {
            file = f;
            offset = 0;
            continue;
        }
        if done {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
