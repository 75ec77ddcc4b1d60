//! The resources and host entries of a build's RUN containers (`docker build --memory,
//! --memory-swap, --shm-size, --cpu-*, --cpuset-*, --ulimit, --add-host, --security-opt`),
//! checked once before the build with Docker's messages, and applied to every RUN step's
//! container as `docker run` applies them.

use anyhow::{Result, bail};
use runtime::ContainerSpec;

use crate::container::confinement::{Confinement, Ulimit};

/// What every RUN container gets.
#[derive(Debug, Clone, Default)]
pub struct RunLimits {
    /// `--memory` in bytes (0: none).
    pub memory: i64,
    /// `--memory-swap` in bytes (0: twice the memory, -1: unlimited).
    pub memory_swap: i64,
    /// CPU, ulimit, shm and security settings, in the shape `docker run` uses.
    pub confinement: Confinement,
    /// `--add-host HOST:IP` entries, appended to /etc/hosts.
    pub extra_hosts: Vec<(String, String)>,
}

impl RunLimits {
    /// Parses Docker's `--add-host HOST:IP` values (the IP may be IPv6, with colons).
    pub fn parse_hosts(list: &[String]) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        for h in list {
            let Some((host, ip)) = h.split_once(':') else {
                bail!("bad format for add-host: {h:?}");
            };
            let bare = ip.trim_start_matches('[').trim_end_matches(']');
            if host.is_empty() || bare.parse::<std::net::IpAddr>().is_err() {
                bail!("invalid IP address in add-host: {ip:?}");
            }
            out.push((host.to_string(), bare.to_string()));
        }
        Ok(out)
    }

    /// Docker's checks, before anything is built.
    pub fn validate(&self) -> Result<()> {
        crate::container::create::check_memory(self.memory, self.memory_swap)?;
        self.confinement.validate("host", self.memory)?;
        Ok(())
    }

    /// Sets them on a RUN container's spec.
    pub fn apply(&self, spec: &mut ContainerSpec) -> Result<()> {
        self.confinement.apply(spec)?;
        spec.memory_limit = (self.memory > 0).then_some(self.memory as u64);
        spec.memory_swap_limit = match self.memory_swap {
            s if s > 0 => Some(s as u64),
            // Unlimited swap: a limit no machine reaches, as `docker run` sets it.
            -1 if self.memory > 0 => Some(i64::MAX as u64),
            _ => None,
        };
        Ok(())
    }

    /// The `/etc/hosts` lines of `--add-host`.
    pub fn hosts_lines(&self) -> String {
        self.extra_hosts
            .iter()
            .map(|(host, ip)| format!("{ip}\t{host}\n"))
            .collect()
    }
}

/// Parses Docker's `--ulimit NAME=SOFT[:HARD]` flags.
pub fn parse_ulimits(list: &[String]) -> Result<Option<Vec<Ulimit>>> {
    if list.is_empty() {
        return Ok(None);
    }
    list.iter()
        .map(|u| Ulimit::parse(u))
        .collect::<Result<_>>()
        .map(Some)
}
