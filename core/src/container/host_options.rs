//! Docker's `HostConfig` fields besides confinement and networking that this engine
//! enforces: memory swappiness and reservation, the OOM score, supplementary groups, DNS
//! options, the cgroup namespace, the logging driver and the volume driver.
//!
//! One struct, in Docker's JSON shape, serves the run flags, the API's create body and the
//! stored record (flattened into [`super::record::HostConfig`]); [`HostOptions::validate`]
//! checks and normalizes it at create with Docker's messages, [`HostOptions::apply`] puts it
//! in the runtime's spec at every start. Nothing here is accepted and then dropped.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Result, bail};
use runtime::{ContainerSpec, ProcessSpec};
use serde::{Deserialize, Serialize};

/// A field clients may send as null: its default.
fn null_default<'de, D, T>(d: D) -> std::result::Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// The log drivers this engine has.
pub const LOG_DRIVERS: &[&str] = &["json-file", "none"];

/// Docker's `HostConfig` fields of this module.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostOptions {
    /// `--memory-swappiness` 0..=100 (`None`, or Docker's -1: the kernel's).
    pub memory_swappiness: Option<i64>,
    /// `--memory-reservation` in bytes (0: none).
    #[serde(deserialize_with = "null_default")]
    pub memory_reservation: i64,
    /// `--oom-score-adj`, -1000..=1000.
    #[serde(deserialize_with = "null_default")]
    pub oom_score_adj: i64,
    /// `--group-add`: names (in the container's /etc/group) or numbers.
    pub group_add: Option<Vec<String>>,
    /// `--dns-option`: the `options` line of /etc/resolv.conf.
    #[serde(deserialize_with = "null_default")]
    pub dns_options: Vec<String>,
    /// `--cgroupns`: "host" or "private" (stored resolved: Docker's default is host on
    /// cgroup v1, private on v2).
    #[serde(deserialize_with = "null_default")]
    pub cgroupns_mode: String,
    /// `--log-driver`, `--log-opt`.
    #[serde(deserialize_with = "null_default")]
    pub log_config: LogConfig,
    /// `--volume-driver`: the driver of volumes `-v` creates ("" or "local").
    #[serde(deserialize_with = "null_default")]
    pub volume_driver: String,
}

/// `HostConfig.LogConfig`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct LogConfig {
    /// The driver: json-file (Docker's default) or none.
    #[serde(rename = "Type", deserialize_with = "null_default")]
    pub kind: String,
    /// Driver options (`max-size`, `max-file` for json-file).
    #[serde(deserialize_with = "null_default")]
    pub config: BTreeMap<String, String>,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            kind: "json-file".into(),
            config: BTreeMap::new(),
        }
    }
}

/// How the json-file log rotates: at most `max_size` bytes per file, `max_files` files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Bytes a file may hold before it is rotated (`max-size`).
    pub max_size: u64,
    /// Files kept, the current one included (`max-file`, at least 1).
    pub max_files: u32,
}

impl LogConfig {
    /// Whether the container keeps a log at all (`--log-driver none` keeps none).
    pub fn keeps_log(&self) -> bool {
        self.kind != "none"
    }

    /// The json-file rotation asked for, if any (a `max-size`).
    pub fn rotation(&self) -> Result<Option<Rotation>> {
        let max_files = match self.config.get("max-file") {
            None => 1,
            Some(v) => match v.parse::<u32>() {
                Ok(n) if n >= 1 => n,
                _ => bail!("max-file cannot be less than 1"),
            },
        };
        let Some(size) = self.config.get("max-size") else {
            return Ok(None);
        };
        let max_size = human_size(size)
            .filter(|n| *n > 0)
            .ok_or_else(|| anyhow::anyhow!("max-size must be a positive number (got {size:?})"))?;
        Ok(Some(Rotation {
            max_size,
            max_files,
        }))
    }

    /// Checks the driver and its options as Docker does; an empty driver is json-file.
    fn validate(&mut self) -> Result<()> {
        if self.kind.is_empty() {
            self.kind = "json-file".into();
        }
        match self.kind.as_str() {
            "json-file" => {
                for (key, value) in &self.config {
                    match key.as_str() {
                        "max-size" | "max-file" => {}
                        // Off is what this engine does.
                        "compress" if value == "false" => {}
                        _ => bail!(
                            "unknown log opt '{key}' for json-file log driver (this engine supports max-size and max-file)"
                        ),
                    }
                }
                self.rotation()?;
            }
            "none" => {
                if let Some(key) = self.config.keys().next() {
                    bail!("unknown log opt '{key}' for none log driver");
                }
            }
            other => bail!(
                "logging driver \"{other}\" is not supported by this engine (supported: {})",
                LOG_DRIVERS.join(", ")
            ),
        }
        Ok(())
    }
}

impl HostOptions {
    /// Checks every field as Docker does at create and normalizes it (Docker's "unset"
    /// values, the default cgroup namespace); returns warnings to print.
    pub fn validate(&mut self, memory: i64) -> Result<Vec<String>> {
        let mut warnings = Vec::new();
        let v2 = matches!(
            runtime::cgroup::detect(Path::new(runtime::cgroup::CGROUP_ROOT)),
            Some((runtime::cgroup::CgroupVersion::V2, _))
        );
        match self.memory_swappiness {
            None | Some(-1) => self.memory_swappiness = None,
            Some(s) if !(0..=100).contains(&s) => {
                bail!("Invalid value: {s}, valid memory swappiness range is 0-100")
            }
            Some(_) if v2 => {
                // Docker's behaviour on cgroup v2, which has no such knob.
                warnings.push("WARNING: Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. Memory swappiness discarded.".into());
                self.memory_swappiness = None;
            }
            Some(_) => {}
        }
        if self.memory_reservation < 0 {
            bail!("invalid memory reservation {}", self.memory_reservation);
        }
        if self.memory_reservation > 0 && self.memory_reservation < runtime::MIN_MEMORY as i64 {
            bail!("Minimum memory reservation allowed is 6MB");
        }
        if memory > 0 && self.memory_reservation > memory {
            bail!("Minimum memory limit can not be less than memory reservation limit, see usage");
        }
        if !(-1000..=1000).contains(&self.oom_score_adj) {
            bail!(
                "Invalid value {}, range for oom score adj is [-1000, 1000]",
                self.oom_score_adj
            );
        }
        if let Some(groups) = &self.group_add {
            for g in groups {
                if g.is_empty() || g.contains([':', '\n', '\0']) {
                    bail!("invalid --group-add {g:?}: want a group name or number");
                }
            }
        }
        for o in &self.dns_options {
            if o.trim().is_empty() || o.contains(['\n', '\0']) {
                bail!("invalid --dns-option {o:?}");
            }
        }
        self.cgroupns_mode = match self.cgroupns_mode.as_str() {
            "" if v2 => "private".into(),
            "" => "host".into(),
            "host" | "private" => self.cgroupns_mode.clone(),
            other => bail!("invalid cgroup namespace mode: {other} (want host or private)"),
        };
        self.log_config.validate()?;
        match self.volume_driver.as_str() {
            "" | "local" => {}
            other => bail!(
                "volume driver \"{other}\" is not supported by this engine (only \"local\" is)"
            ),
        }
        Ok(warnings)
    }

    /// Applies the process-level settings (supplementary groups): the container's init and
    /// every `exec` in it. Group names are looked up in the container's /etc/group.
    pub fn apply_process(&self, rootfs: &Path, p: &mut ProcessSpec) -> Result<()> {
        if let Some(groups) = &self.group_add {
            runtime::add_groups(rootfs, &mut p.user, groups)?;
        }
        Ok(())
    }

    /// Applies everything else to a container's spec.
    pub fn apply(&self, spec: &mut ContainerSpec) {
        let res = &mut spec.resources;
        res.memory_swappiness = self
            .memory_swappiness
            .filter(|s| (0..=100).contains(s))
            .map(|s| s as u64);
        res.memory_reservation =
            (self.memory_reservation > 0).then_some(self.memory_reservation as u64);
        spec.oom_score_adj = (self.oom_score_adj != 0).then_some(self.oom_score_adj as i32);
        spec.private_cgroupns = self.cgroupns_mode == "private";
    }
}

/// A size as Docker's json-file driver reads `max-size` (`units.FromHumanSize`): decimal
/// units (`1k` = 1000, `10m`), binary ones only spelt `KiB`, `MiB`.
fn human_size(text: &str) -> Option<u64> {
    let t = text.trim().to_ascii_lowercase();
    if t.ends_with("ib") {
        return graph::options::parse_bytes(&t).ok();
    }
    let t = t.strip_suffix('b').unwrap_or(&t);
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let mult: f64 = match unit.trim() {
        "" => 1.0,
        "k" => 1e3,
        "m" => 1e6,
        "g" => 1e9,
        "t" => 1e12,
        "p" => 1e15,
        _ => return None,
    };
    let value: f64 = num.parse().ok()?;
    let bytes = value * mult;
    (bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64).then_some(bytes as u64)
}

/// Docker's check of `--domainname` (a name the kernel takes: at most 64 bytes).
pub fn check_domainname(name: &str) -> Result<()> {
    if name.len() > 64 || name.contains(['\0', '\n', '/']) || name.contains(char::is_whitespace) {
        bail!("invalid domainname {name:?}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(o: HostOptions, memory: i64) -> Result<HostOptions> {
        let mut o = o;
        o.validate(memory)?;
        Ok(o)
    }

    #[test]
    fn validate_normalizes_and_refuses_like_docker() {
        let o = checked(
            HostOptions {
                memory_swappiness: Some(-1),
                ..Default::default()
            },
            0,
        )
        .unwrap();
        assert_eq!(o.memory_swappiness, None);
        assert_eq!(o.log_config.kind, "json-file");
        assert!(o.cgroupns_mode == "host" || o.cgroupns_mode == "private");
        let bad = |o: HostOptions, memory: i64, want: &str| {
            let err = checked(o, memory).unwrap_err().to_string();
            assert!(err.contains(want), "{err} does not contain {want}");
        };
        bad(
            HostOptions {
                memory_swappiness: Some(101),
                ..Default::default()
            },
            0,
            "valid memory swappiness range is 0-100",
        );
        bad(
            HostOptions {
                memory_reservation: 1024,
                ..Default::default()
            },
            0,
            "Minimum memory reservation allowed is 6MB",
        );
        bad(
            HostOptions {
                memory_reservation: 64 << 20,
                ..Default::default()
            },
            32 << 20,
            "can not be less than memory reservation",
        );
        bad(
            HostOptions {
                oom_score_adj: 1001,
                ..Default::default()
            },
            0,
            "range for oom score adj is [-1000, 1000]",
        );
        bad(
            HostOptions {
                cgroupns_mode: "shared".into(),
                ..Default::default()
            },
            0,
            "invalid cgroup namespace mode",
        );
        bad(
            HostOptions {
                volume_driver: "nfs".into(),
                ..Default::default()
            },
            0,
            "volume driver \"nfs\"",
        );
        let log = |kind: &str, opts: &[(&str, &str)]| HostOptions {
            log_config: LogConfig {
                kind: kind.into(),
                config: opts
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            },
            ..Default::default()
        };
        bad(log("syslog", &[]), 0, "logging driver \"syslog\"");
        bad(
            log("json-file", &[("labels", "a")]),
            0,
            "unknown log opt 'labels'",
        );
        bad(log("json-file", &[("max-size", "0")]), 0, "max-size");
        bad(log("json-file", &[("max-file", "0")]), 0, "max-file");
        bad(log("none", &[("max-size", "1k")]), 0, "none log driver");
        let o = checked(
            log("json-file", &[("max-size", "1k"), ("max-file", "3")]),
            0,
        )
        .unwrap();
        assert_eq!(
            o.log_config.rotation().unwrap(),
            Some(Rotation {
                max_size: 1000,
                max_files: 3
            })
        );
        assert_eq!(human_size("10m"), Some(10_000_000));
        assert_eq!(human_size("1KiB"), Some(1024));
        assert_eq!(human_size("x"), None);
        let o = checked(log("", &[]), 0).unwrap();
        assert_eq!(o.log_config.kind, "json-file");
        assert!(!checked(log("none", &[]), 0).unwrap().log_config.keeps_log());
    }
}
