//! `engine ps` / `container ls`: Docker's columns, filters and a Go-template subset for
//! `--format`.

use std::time::{Duration, SystemTime};

use anyhow::Result;

pub use crate::container::filters::Filters;
use crate::container::record::Record;
use crate::container::store::ContainerStore;
use crate::engine::Engine;
use distribution::human;

/// The containers `ps` shows: running ones (or all), newest first, `KEY=VALUE` filters
/// applied, at most `limit` (which, as a status filter, implies all).
pub fn list(
    engine: &Engine,
    all: bool,
    limit: Option<usize>,
    filters: &[String],
) -> Result<Vec<Record>> {
    let store = ContainerStore::open(&engine.settings.data_root)?;
    let records = store.list()?;
    let parsed = Filters::parse(filters, &store)?;
    let all = all || limit.is_some() || parsed.wants_all();
    // Docker: several values of one key match any of them, except labels, which must all
    // match (compose selects a service by project and service label); different keys must
    // all match.
    let mut rows: Vec<Record> = records
        .into_iter()
        .filter(|r| all || r.state.running)
        .filter(|r| parsed.matches(r))
        .collect();
    if let Some(n) = limit {
        rows.truncate(n);
    }
    Ok(rows)
}

/// Docker's container summary (`GET /containers/json`).
pub fn summary_json(r: &Record) -> serde_json::Value {
    let mut ports = Vec::new();
    if r.state.running {
        for key in r.config.exposed_ports.keys() {
            let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
            let private: u16 = port.parse().unwrap_or(0);
            match r.network_settings.ports.get(key) {
                Some(Some(bindings)) if !bindings.is_empty() => {
                    for b in bindings {
                        ports.push(serde_json::json!({
                            "IP": b.host_ip,
                            "PrivatePort": private,
                            "PublicPort": b.host_port.parse::<u16>().unwrap_or(0),
                            "Type": proto,
                        }));
                    }
                }
                _ => ports.push(serde_json::json!({ "PrivatePort": private, "Type": proto })),
            }
        }
    }
    let mounts: Vec<serde_json::Value> = r.mounts.iter().map(|m| m.public_json()).collect();
    serde_json::json!({
        "Id": r.id,
        "Names": [r.name],
        "Image": r.config.image,
        "ImageID": r.image,
        "Command": command(r),
        "Created": unix_secs(&r.created).unwrap_or(0),
        "Ports": ports,
        "Labels": r.config.labels,
        "State": status_word(r),
        "Status": status(r),
        "HostConfig": { "NetworkMode": r.host_config.network_mode },
        "NetworkSettings": { "Networks": r.network_settings.networks },
        "Mounts": mounts,
    })
}

/// The command as Docker shows it: the path and its arguments, space-separated.
pub fn command(r: &Record) -> String {
    std::iter::once(r.path.as_str())
        .chain(r.args.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ")
}

/// created, restarting, running, exited, dead (Docker's `State`).
pub fn status_word(r: &Record) -> &str {
    if r.state.restarting {
        "restarting"
    } else {
        &r.state.status
    }
}

/// Parses an RFC 3339 time as stored.
pub fn system_time(s: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(s).ok()
}

pub fn unix_secs(s: &str) -> Option<u64> {
    system_time(s)
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
}

fn since(s: &str) -> Duration {
    system_time(s)
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .unwrap_or_default()
}

/// Docker's STATUS column: "Up 5 seconds", "Exited (0) 2 minutes ago", "Created", ...
pub fn status(r: &Record) -> String {
    let st = &r.state;
    if st.restarting {
        return format!(
            "Restarting ({}) {} ago",
            st.exit_code,
            human::duration(since(&st.finished_at))
        );
    }
    match st.status.as_str() {
        "running" => {
            let up = format!("Up {}", human::duration(since(&st.started_at)));
            match &st.health {
                Some(h) => format!("{up} ({})", h.describe()),
                None => up,
            }
        }
        "paused" => format!("Up {} (Paused)", human::duration(since(&st.started_at))),
        "exited" => format!(
            "Exited ({}) {} ago",
            st.exit_code,
            human::duration(since(&st.finished_at))
        ),
        "dead" => "Dead".into(),
        "removing" => "Removal In Progress".into(),
        _ => "Created".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_times_parse() {
        let t = crate::container::log::now();
        assert!(system_time(&t).is_some(), "{t}");
    }
}
