//! `engine logs`: the json-file log, with `--tail`, `-t` and `-f`.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::cli::LogsArgs;
use crate::container::log::{Entry, read_entries};
use crate::container::store::ContainerStore;
use crate::engine::Engine;

pub fn run(engine: &Engine, args: LogsArgs) -> Result<ExitCode> {
    let store = ContainerStore::open(&engine.settings.data_root)?;
    let record = store.resolve(&args.container)?;
    let tail = match args.tail.as_str() {
        "all" | "-1" => None,
        n => Some(
            n.parse::<usize>()
                .with_context(|| format!("invalid value for --tail: {n:?}"))?,
        ),
    };
    let mut file = match File::open(&record.log_path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if !args.follow {
                return Ok(ExitCode::SUCCESS);
            }
            // Not started yet: nothing to show until it writes.
            File::create(&record.log_path)
                .with_context(|| format!("creating {}", record.log_path))?
        }
        Err(e) => bail!("opening {}: {e}", record.log_path),
    };
    let mut text = Vec::new();
    file.read_to_end(&mut text)?;
    // Only whole lines; a torn last line is read again when following.
    let complete = text.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    let mut entries = read_entries(&text[..complete]);
    if let Some(n) = tail {
        let skip = entries.len().saturating_sub(n);
        entries.drain(..skip);
    }
    for e in &entries {
        print_entry(e, args.timestamps)?;
    }
    if !args.follow {
        return Ok(ExitCode::SUCCESS);
    }
    let mut offset = complete as u64;
    loop {
        // Checked before reading, so the last lines written before the exit are still shown.
        let done = !store.monitor_alive(&record.id);
        file.seek(SeekFrom::Start(offset))?;
        let mut more = Vec::new();
        file.read_to_end(&mut more)?;
        let complete = more.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        for e in read_entries(&more[..complete]) {
            print_entry(&e, args.timestamps)?;
        }
        offset += complete as u64;
        if done {
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn print_entry(e: &Entry, timestamps: bool) -> Result<()> {
    let prefix = if timestamps {
        format!("{} ", e.time)
    } else {
        String::new()
    };
    if e.stream == "stderr" {
        let mut err = io::stderr().lock();
        write!(err, "{prefix}{}", e.log)?;
        err.flush()?;
    } else {
        let mut out = io::stdout().lock();
        write!(out, "{prefix}{}", e.log)?;
        out.flush()?;
    }
    Ok(())
}
