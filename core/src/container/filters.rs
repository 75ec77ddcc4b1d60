//! The `--filter`s of `ps` and `GET /containers/json`, as Docker 1.41 reads them:
//! `name` and `id` are regular expressions (unanchored; a name is tried with its leading `/`,
//! so `^/web$` selects exactly `web`), `before`/`since` name a container, `network` is a
//! network's name or an id prefix, `volume` a volume's name (a bind's source) or a mount's
//! destination, `publish`/`expose` a port or range with an optional protocol. Several values
//! of one key match any of them, except `label`, whose values must all match; different keys
//! must all match.

use std::collections::BTreeMap;

use anyhow::Result;
use regex::Regex;

use crate::container::list::status_word;
use crate::container::record::Record;
use crate::container::store::ContainerStore;
use crate::error::EngineError;

/// Parsed filters.
#[derive(Debug, Default)]
pub struct Filters {
    by_key: BTreeMap<String, Vec<String>>,
    names: Vec<Regex>,
    ids: Vec<Regex>,
    /// `before=`: created before this (creation time, container id).
    before: Option<(String, String)>,
    /// `since=`: created after this.
    since: Option<(String, String)>,
    publish: Vec<PortRange>,
    expose: Vec<PortRange>,
}

/// `80`, `80/udp`, `8000-8080/tcp`.
#[derive(Debug)]
struct PortRange {
    first: u16,
    last: u16,
    proto: String,
}

impl PortRange {
    fn parse(key: &str, v: &str) -> Result<PortRange> {
        let bad = || {
            EngineError::invalid(format!(
                "invalid filter '{key}={v}': want PORT[-PORT][/PROTOCOL]"
            ))
        };
        let (ports, proto) = v.split_once('/').unwrap_or((v, "tcp"));
        let (a, b) = ports.split_once('-').unwrap_or((ports, ports));
        let first: u16 = a.parse().map_err(|_| bad())?;
        let last: u16 = b.parse().map_err(|_| bad())?;
        if first > last || !matches!(proto, "tcp" | "udp" | "sctp") {
            return Err(bad().into());
        }
        Ok(PortRange {
            first,
            last,
            proto: proto.to_string(),
        })
    }

    fn contains(&self, port: u16, proto: &str) -> bool {
        (self.first..=self.last).contains(&port) && self.proto == proto
    }
}

impl Filters {
    /// Parses `KEY=VALUE` strings; `store` resolves the containers `before=`/`since=` name.
    pub fn parse(filters: &[String], store: &ContainerStore) -> Result<Filters> {
        let mut parsed = Filters::default();
        for f in filters {
            let Some((key, value)) = f.split_once('=') else {
                return Err(EngineError::invalid(format!(
                    "bad format of filter (expected name=value): {f}"
                ))
                .into());
            };
            match key {
                "status" | "ancestor" | "exited" | "label" | "network" | "volume" => {}
                "name" | "id" => {
                    let re = Regex::new(value).map_err(|e| {
                        EngineError::invalid(format!("invalid filter '{key}={value}': {e}"))
                    })?;
                    if key == "name" {
                        parsed.names.push(re);
                    } else {
                        parsed.ids.push(re);
                    }
                }
                "before" | "since" => {
                    let r = store.resolve(value)?;
                    let at = Some((r.created.clone(), r.id.clone()));
                    if key == "before" {
                        parsed.before = at;
                    } else {
                        parsed.since = at;
                    }
                }
                "publish" => parsed.publish.push(PortRange::parse(key, value)?),
                "expose" => parsed.expose.push(PortRange::parse(key, value)?),
                "health" => super::health::check_filter_value(value)?,
                "is-task" | "isolation" => {
                    return Err(EngineError::invalid(format!(
                        "filter '{key}' is not supported by this engine (containers have no {})",
                        match key {
                            "is-task" => "swarm tasks",
                            _ => "isolation technology other than the default",
                        }
                    ))
                    .into());
                }
                _ => return Err(EngineError::invalid(format!("invalid filter '{key}'")).into()),
            }
            parsed
                .by_key
                .entry(key.to_string())
                .or_default()
                .push(value.to_string());
        }
        Ok(parsed)
    }

    /// Whether a status filter asks for stopped containers too (Docker lists all then).
    pub fn wants_all(&self) -> bool {
        self.by_key.contains_key("status") || self.by_key.contains_key("exited")
    }

    /// Whether `r` passes every filter.
    pub fn matches(&self, r: &Record) -> bool {
        self.by_key.iter().all(|(key, values)| match key.as_str() {
            "label" => values.iter().all(|v| label(r, v)),
            "name" => self
                .names
                .iter()
                .any(|re| re.is_match(&r.name) || re.is_match(r.short_name())),
            "id" => self.ids.iter().any(|re| re.is_match(&r.id)),
            "before" => self.before.as_ref().is_some_and(|b| older(r, b)),
            "since" => self.since.as_ref().is_some_and(|s| older_than(s, r)),
            "publish" => {
                published(r).any(|(p, proto)| self.publish.iter().any(|x| x.contains(p, &proto)))
            }
            "expose" => {
                exposed(r).any(|(p, proto)| self.expose.iter().any(|x| x.contains(p, &proto)))
            }
            _ => values.iter().any(|v| matches(r, key, v)),
        })
    }
}

/// Created before the container at `at` (ids break a tie in creation time).
fn older(r: &Record, at: &(String, String)) -> bool {
    let mine = (created(&r.created), r.id.as_str());
    mine < (created(&at.0), at.1.as_str())
}

fn older_than(at: &(String, String), r: &Record) -> bool {
    let mine = (created(&r.created), r.id.as_str());
    (created(&at.0), at.1.as_str()) < mine
}

fn created(s: &str) -> Option<std::time::SystemTime> {
    humantime::parse_rfc3339_weak(s).ok()
}

fn label(r: &Record, want: &str) -> bool {
    match want.split_once('=') {
        Some((k, v)) => r.config.labels.get(k).is_some_and(|x| x == v),
        None => r.config.labels.contains_key(want),
    }
}

/// The ports Docker's summary lists for `r`: (container port, protocol) of each exposed port,
/// while it runs.
fn exposed(r: &Record) -> impl Iterator<Item = (u16, String)> + '_ {
    r.config
        .exposed_ports
        .keys()
        .filter(|_| r.state.running)
        .filter_map(|key| {
            let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
            Some((port.parse().ok()?, proto.to_string()))
        })
}

/// The host ports `r` publishes while it runs, with their protocols.
fn published(r: &Record) -> impl Iterator<Item = (u16, String)> + '_ {
    r.network_settings
        .ports
        .iter()
        .filter(|_| r.state.running)
        .flat_map(|(key, bindings)| {
            let proto = key.split_once('/').map_or("tcp", |(_, p)| p).to_string();
            bindings
                .iter()
                .flatten()
                .filter_map(move |b| Some((b.host_port.parse().ok()?, proto.clone())))
        })
}

fn matches(r: &Record, key: &str, value: &str) -> bool {
    match key {
        "status" => status_word(r) == value,
        "health" => super::health::filter_status(r.state.health.as_ref()) == value,
        "ancestor" => r.config.image == value || r.image.contains(value),
        "exited" => {
            status_word(r) == "exited" && value.parse::<i32>().ok() == Some(r.state.exit_code)
        }
        "network" => {
            r.network_settings.networks.contains_key(value)
                || r.network_settings
                    .networks
                    .values()
                    .any(|ep| !value.is_empty() && ep.network_id.starts_with(value))
        }
        "volume" => r.mounts.iter().any(|m| {
            m.destination == value
                || if m.name.is_empty() {
                    m.source == value
                } else {
                    m.name == value
                }
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges_parse_like_dockers() {
        let r = PortRange::parse("publish", "8000-8080/udp").unwrap();
        assert!(r.contains(8000, "udp") && r.contains(8080, "udp"));
        assert!(!r.contains(8000, "tcp") && !r.contains(8081, "udp"));
        assert!(
            PortRange::parse("publish", "80")
                .unwrap()
                .contains(80, "tcp")
        );
        assert!(PortRange::parse("expose", "http").is_err());
        assert!(PortRange::parse("expose", "90-80").is_err());
    }
}
