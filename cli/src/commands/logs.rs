//! `engine` commands: logs.

use crate::args::LogsArgs;
use anyhow::Result;
use engine_core::container::log::Entry;
use engine_core::container::log_read::{LogQuery, parse_tail, read_log};
use engine_core::container::store::ContainerStore;
use engine_core::engine::Engine;
use std::io::{self, Write};
use std::process::ExitCode;

pub fn run(engine: &Engine, args: LogsArgs) -> Result<ExitCode> {
    let store = ContainerStore::open(&engine.settings.data_root)?;
    let record = store.resolve(&args.container)?;
    let query = LogQuery {
        tail: parse_tail(&args.tail)?,
        follow: args.follow,
        since: None,
        until: None,
    };
    read_log(&store, &record, &query, &|| false, &mut |e| {
        print_entry(e, args.timestamps)
    })?;
    Ok(ExitCode::SUCCESS)
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
