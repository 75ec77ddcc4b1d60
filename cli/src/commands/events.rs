//! `engine events`: Docker's `docker events`, read from the event journal
//! ([`engine_core::events`]) directly, so it works with or without a daemon.

use std::io::{self, Write};
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::template::Template;
use engine_core::engine::Engine;
use engine_core::events::{self, Filter, Follower};

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Show all events created since timestamp (Unix seconds, RFC 3339, or a duration back
    /// from now such as 10m)
    #[arg(long)]
    pub since: Option<String>,
    /// Stream events until this timestamp (same forms as --since)
    #[arg(long)]
    pub until: Option<String>,
    /// Filter output based on conditions provided (type, event, container, image, label,
    /// volume, network, ...)
    #[arg(short, long = "filter", value_name = "KEY=VALUE")]
    pub filters: Vec<String>,
    /// Format the output using the given Go template
    #[arg(long)]
    pub format: Option<String>,
}

/// Prints events as they are recorded, the kept ones first with `--since`/`--until`; ends at
/// `--until`, else runs until interrupted.
pub fn run(engine: &Engine, args: EventsArgs) -> Result<ExitCode> {
    let now = SystemTime::now();
    let at = |flag: &str, v: &Option<String>| -> Result<Option<u64>> {
        v.as_deref()
            .map(|v| {
                events::parse_time(v, now)
                    .map(events::nanos)
                    .with_context(|| format!("invalid --{flag}"))
            })
            .transpose()
    };
    let since = at("since", &args.since)?;
    let until = at("until", &args.until)?;
    if let (Some(s), Some(u)) = (since, until)
        && u < s
    {
        bail!(
            "`since` time ({}) cannot be after `until` time ({})",
            args.since.as_deref().unwrap_or(""),
            args.until.as_deref().unwrap_or("")
        );
    }
    let filter = Filter::from_args(&args.filters)?;
    let template = args
        .format
        .as_deref()
        .map(|f| Template::parse(&f.replace("\\t", "\t").replace("\\n", "\n")))
        .transpose()
        .context("invalid --format")?;
    let mut follower = Follower::open(
        &engine.settings.data_root,
        since.is_some() || until.is_some(),
    )?;
    let mut out = io::stdout().lock();
    loop {
        let last = until.is_some_and(|u| events::nanos(SystemTime::now()) > u);
        let got = if last {
            follower.poll_settled()?
        } else {
            follower.poll()?
        };
        for v in &got {
            let stamp = events::stamp_of(v);
            if until.is_some_and(|u| stamp > u) {
                return Ok(ExitCode::SUCCESS);
            }
            if since.is_some_and(|s| stamp < s) || !filter.matches(v) {
                continue;
            }
            let line = match &template {
                Some(t) => t.render(v)?,
                None => events::pretty(v),
            };
            // A closed pipe (`engine events | head`) ends the command quietly.
            if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
                return Ok(ExitCode::SUCCESS);
            }
        }
        if last {
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(events::POLL_EVERY);
    }
}
