//! `engine update`: new resource limits and restart policy for containers, with Docker's
//! flags (`engine_core::container::update` does the work).

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use engine_core::container::lifecycle::store;
use engine_core::container::restart;
use engine_core::container::update::{Update, update};
use engine_core::engine::Engine;

use crate::args::UpdateArgs;

fn bytes(value: &Option<String>, flag: &str) -> Result<Option<i64>> {
    value
        .as_deref()
        .map(|v| match v {
            "-1" if flag == "--memory-swap" => Ok(-1),
            _ => graph::options::parse_bytes(v)
                .map(|n| n as i64)
                .with_context(|| format!("invalid argument {v:?} for \"{flag}\" flag")),
        })
        .transpose()
}

/// The flags as an [`Update`]; Docker's CLI refuses an update without any.
fn wanted(args: &UpdateArgs) -> Result<Update> {
    if args.blkio_weight.is_some_and(|w| w != 0) {
        bail!("--blkio-weight is not supported by this engine (no blkio weight at create either)");
    }
    let nano_cpus = match &args.cpus {
        None => None,
        Some(c) => {
            let v: f64 = c
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite() && *v >= 0.0)
                .with_context(|| format!("invalid argument {c:?} for \"--cpus\" flag"))?;
            Some((v * 1e9).round() as i64)
        }
    };
    let u = Update {
        memory: bytes(&args.memory, "--memory")?,
        memory_swap: bytes(&args.memory_swap, "--memory-swap")?,
        memory_reservation: bytes(&args.memory_reservation, "--memory-reservation")?,
        cpu_shares: args.cpu_shares,
        nano_cpus,
        cpu_period: args.cpu_period,
        cpu_quota: args.cpu_quota,
        cpuset_cpus: args.cpuset_cpus.clone(),
        cpuset_mems: args.cpuset_mems.clone(),
        pids_limit: args.pids_limit,
        restart_policy: args.restart.as_deref().map(restart::parse).transpose()?,
    };
    if u == Update::default() {
        bail!("you must provide one or more flags when using this command");
    }
    Ok(u)
}

pub fn run(engine: &Engine, args: UpdateArgs) -> Result<ExitCode> {
    let u = wanted(&args)?;
    let store = store(engine)?;
    super::lifecycle::each(&args.containers, |name| {
        let record = store.resolve(name)?;
        for w in update(engine, &store, &record, &u)? {
            eprintln!("{w}");
        }
        Ok(())
    })
}
