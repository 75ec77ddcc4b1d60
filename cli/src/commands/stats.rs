//! `engine stats`: Docker's columns (CPU %, memory usage / limit, memory %, network and block
//! I/O, pids) for running containers (or those named, or all with `-a`); one table with
//! `--no-stream`, else a table redrawn every second.

use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use serde_json::Value;

use crate::args::StatsArgs;
use crate::template;
use engine_core::container::record::Record;
use engine_core::container::stats::{self, Row, Sample};
use engine_core::container::store::ContainerStore;
use engine_core::engine::Engine;

const FIELDS: &[(&str, &str)] = &[
    ("Container", "CONTAINER"),
    ("ID", "CONTAINER ID"),
    ("Name", "NAME"),
    ("CPUPerc", "CPU %"),
    ("MemUsage", "MEM USAGE / LIMIT"),
    ("MemPerc", "MEM %"),
    ("NetIO", "NET I/O"),
    ("BlockIO", "BLOCK I/O"),
    ("PIDs", "PIDS"),
];

const DEFAULT_TABLE: &str = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

/// Go's `%.{prec}g` for the magnitudes sizes take here (below 10^prec): `prec` significant
/// digits, trailing zeros dropped.
fn go_g(v: f64, prec: usize) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let digits = v.abs().log10().floor() as i64 + 1;
    let decimals = (prec as i64 - digits).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

fn size_in(v: f64, base: f64, units: &[&str], prec: usize) -> String {
    let mut size = v;
    let mut i = 0;
    while size >= base && i < units.len() - 1 {
        size /= base;
        i += 1;
    }
    format!("{}{}", go_g(size, prec), units[i])
}

/// Docker's `units.BytesSize` (binary units, 4 digits).
pub fn bytes_size(v: f64) -> String {
    size_in(
        v,
        1024.0,
        &["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"],
        4,
    )
}

/// Docker's `units.HumanSizeWithPrecision(v, 3)` (decimal units).
pub fn human_size(v: f64) -> String {
    size_in(v, 1000.0, &["B", "kB", "MB", "GB", "TB", "PB", "EB"], 3)
}

fn row_value(record: &Record, doc: &Value, no_trunc: bool) -> Value {
    let r = Row::from_json(doc);
    let running = doc["read"] != engine_core::container::record::ZERO_TIME;
    let id = if no_trunc {
        record.id.clone()
    } else {
        record.short_id().to_string()
    };
    template::row(FIELDS, &|f| {
        Some(match f {
            "Container" => id.clone(),
            "ID" => id.clone(),
            "Name" => record.short_name().to_string(),
            "CPUPerc" if !running => "--".into(),
            "MemUsage" if !running => "-- / --".into(),
            "MemPerc" if !running => "--".into(),
            "NetIO" if !running => "--".into(),
            "BlockIO" if !running => "--".into(),
            "PIDs" if !running => "--".into(),
            "CPUPerc" => format!("{:.2}%", r.cpu_percent),
            "MemUsage" => format!("{} / {}", bytes_size(r.mem), bytes_size(r.mem_limit)),
            "MemPerc" => format!("{:.2}%", r.mem_percent),
            "NetIO" => format!("{} / {}", human_size(r.net_rx), human_size(r.net_tx)),
            "BlockIO" => format!(
                "{} / {}",
                human_size(r.block_read),
                human_size(r.block_write)
            ),
            "PIDs" => r.pids.to_string(),
            _ => return None,
        })
    })
}

pub fn run(engine: &Engine, args: StatsArgs) -> Result<ExitCode> {
    let store = ContainerStore::open(&engine.settings.data_root)?;
    let targets = |store: &ContainerStore| -> Result<Vec<Record>> {
        if args.containers.is_empty() {
            Ok(store
                .list()?
                .into_iter()
                .filter(|r| args.all || (r.state.running && store.monitor_alive(&r.id)))
                .collect())
        } else {
            args.containers.iter().map(|c| store.resolve(c)).collect()
        }
    };
    let header = template::row(FIELDS, &|f| {
        FIELDS
            .iter()
            .find(|(k, _)| *k == f)
            .map(|(_, h)| h.to_string())
    });
    let format = args.format.clone().unwrap_or_else(|| DEFAULT_TABLE.into());
    let mut prev: Vec<(String, Sample)> = Vec::new();
    let sample_all = |records: &[Record]| -> Vec<(String, Sample)> {
        records
            .iter()
            .map(|r| (r.id.clone(), stats::sample(r)))
            .collect()
    };
    if args.no_stream {
        // Two readings, so CPU % has an interval to be computed over.
        let first = sample_all(&targets(&store)?);
        std::thread::sleep(Duration::from_millis(500));
        prev = first;
    }
    loop {
        let records = targets(&store)?;
        let now = sample_all(&records);
        let rows: Vec<Value> = records
            .iter()
            .zip(&now)
            .map(|(r, (_, cur))| {
                let before = prev.iter().find(|(id, _)| *id == r.id).map(|(_, s)| s);
                row_value(r, &stats::to_json(r, cur, before), args.no_trunc)
            })
            .collect();
        let mut out = io::stdout().lock();
        if !args.no_stream {
            // Clear the screen and go home, as Docker's CLI redraws.
            write!(out, "\x1b[2J\x1b[H")?;
        }
        template::print_listing(&mut out, &format, DEFAULT_TABLE, &header, &rows)?;
        out.flush()?;
        if args.no_stream {
            return Ok(ExitCode::SUCCESS);
        }
        prev = now;
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_print_as_dockers_units() {
        assert_eq!(bytes_size(0.0), "0B");
        assert_eq!(bytes_size(1_572_864.0), "1.5MiB");
        assert_eq!(bytes_size(8_205_979_648.0), "7.642GiB");
        assert_eq!(human_size(1234.0), "1.23kB");
        assert_eq!(human_size(0.0), "0B");
        assert_eq!(human_size(999.0), "999B");
    }
}
