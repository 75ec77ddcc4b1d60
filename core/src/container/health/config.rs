//! `Config.Healthcheck`: Docker's `HealthConfig`, from the run flags (Docker's CLI rules),
//! checked (the daemon's rules) and merged over the image's `HEALTHCHECK`.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use super::{DEFAULT_INTERVAL, DEFAULT_TIMEOUT, duration, nullable};
use crate::error::EngineError;

/// The shortest interval, timeout or start period Docker takes (`MinimumDuration`).
pub const MINIMUM: i64 = 1_000_000;

/// Docker's `HealthConfig`; durations in nanoseconds, 0 meaning "the default" (or, merged
/// over an image's, "the image's").
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthConfig {
    /// `[]` inherit the image's, `["NONE"]` none, `["CMD", args...]` exec'd,
    /// `["CMD-SHELL", command]` run with `/bin/sh -c`.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    /// Between the end of a probe and the start of the next, and before the first.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_zero")]
    pub interval: i64,
    /// A probe running longer fails (and is killed).
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_zero")]
    pub timeout: i64,
    /// Failures in this time after the start do not count while the container is starting.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_zero")]
    pub start_period: i64,
    /// The interval while starting inside the start period (API 1.44's field, which
    /// `HEALTHCHECK --start-interval` sets); 0: the interval.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_zero")]
    pub start_interval: i64,
    /// Failures in a row that make the container unhealthy (0: 3).
    #[serde(deserialize_with = "nullable", skip_serializing_if = "is_zero")]
    pub retries: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// The `--health-*` flags of `run`/`create`, durations already parsed (nanoseconds).
#[derive(Debug, Clone, Default)]
pub struct Flags {
    /// `--health-cmd`.
    pub cmd: Option<String>,
    /// `--health-interval`.
    pub interval: i64,
    /// `--health-timeout`.
    pub timeout: i64,
    /// `--health-start-period`.
    pub start_period: i64,
    /// `--health-retries`.
    pub retries: i64,
    /// `--no-healthcheck`.
    pub disable: bool,
}

impl Flags {
    /// The `Config.Healthcheck` the flags ask for, as Docker's CLI makes it (`None` when no
    /// flag is given: the image's applies).
    pub fn config(&self) -> Result<Option<HealthConfig>> {
        let cmd = self.cmd.as_deref().unwrap_or("");
        let any = !cmd.is_empty()
            || self.interval != 0
            || self.timeout != 0
            || self.start_period != 0
            || self.retries != 0;
        if self.disable {
            if any {
                bail!("--no-healthcheck conflicts with --health-* options");
            }
            return Ok(Some(HealthConfig {
                test: vec!["NONE".into()],
                ..Default::default()
            }));
        }
        if !any {
            return Ok(None);
        }
        for (value, flag) in [
            (self.interval, "--health-interval"),
            (self.timeout, "--health-timeout"),
            (self.retries, "--health-retries"),
            (self.start_period, "--health-start-period"),
        ] {
            if value < 0 {
                bail!("{flag} cannot be negative");
            }
        }
        Ok(Some(HealthConfig {
            test: if cmd.is_empty() {
                Vec::new()
            } else {
                vec!["CMD-SHELL".into(), cmd.into()]
            },
            interval: self.interval,
            timeout: self.timeout,
            start_period: self.start_period,
            start_interval: 0,
            retries: self.retries,
        }))
    }
}

/// Parses a `--health-*` duration flag, with the message Docker's CLI gives.
pub fn parse_flag(flag: &str, value: &str) -> Result<i64> {
    duration::parse(value).with_context(|| format!("invalid argument {value:?} for {flag:?} flag"))
}

impl HealthConfig {
    /// The daemon's checks of a create request's health check (Docker's messages), and the
    /// test's type, which Docker would ignore with a warning in its log.
    pub fn validate(&self) -> Result<()> {
        let min = duration::format(MINIMUM);
        let invalid = |m: String| -> anyhow::Error { EngineError::invalid(m).into() };
        for (value, name) in [
            (self.interval, "Interval"),
            (self.timeout, "Timeout"),
            (self.start_period, "StartPeriod"),
            (self.start_interval, "StartInterval"),
        ] {
            if value != 0 && value < MINIMUM {
                return Err(invalid(format!(
                    "{name} in Healthcheck cannot be less than {min}"
                )));
            }
        }
        if self.retries < 0 {
            return Err(invalid("Retries in Healthcheck cannot be negative".into()));
        }
        match self.test.first().map(String::as_str) {
            None | Some("NONE" | "CMD" | "CMD-SHELL") => Ok(()),
            Some(other) => Err(invalid(format!(
                "unknown Healthcheck test type {other:?} (expected CMD, CMD-SHELL or NONE)"
            ))),
        }
    }

    /// Whether the container is probed: a `CMD` or `CMD-SHELL` test.
    pub fn probes(&self) -> bool {
        matches!(
            self.test.first().map(String::as_str),
            Some("CMD" | "CMD-SHELL")
        )
    }

    /// The command a probe runs (empty when the test has none).
    pub fn command(&self) -> Vec<String> {
        let rest = self.test.iter().skip(1).cloned();
        match self.test.first().map(String::as_str) {
            Some("CMD") => rest.collect(),
            Some("CMD-SHELL") if self.test.len() > 1 => ["/bin/sh", "-c"]
                .into_iter()
                .map(String::from)
                .chain(rest)
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The interval, Docker's default when unset.
    pub fn interval(&self) -> Duration {
        nanos(self.interval, DEFAULT_INTERVAL)
    }

    /// The probe timeout, Docker's default when unset.
    pub fn timeout(&self) -> Duration {
        nanos(self.timeout, DEFAULT_TIMEOUT)
    }

    /// The start period (none when unset).
    pub fn start_period(&self) -> Duration {
        nanos(self.start_period, 0)
    }

    /// The interval inside the start period while starting: the interval when unset.
    pub fn start_interval(&self) -> Duration {
        if self.start_interval == 0 {
            self.interval()
        } else {
            nanos(self.start_interval, 0)
        }
    }
}

/// `value` nanoseconds, `default` when 0.
fn nanos(value: i64, default: i64) -> Duration {
    let v = if value == 0 { default } else { value };
    Duration::from_nanos(v.max(0) as u64)
}

/// The container's health check: the request's over the image's (`image`, the image
/// config's `Healthcheck`), field by field as Docker merges them.
pub fn merge(
    image: Option<&serde_json::Value>,
    user: Option<&HealthConfig>,
) -> Result<Option<HealthConfig>> {
    let image: Option<HealthConfig> = image
        .filter(|v| !v.is_null())
        .map(|v| serde_json::from_value(v.clone()))
        .transpose()
        .context("the image's Healthcheck is not a valid HealthConfig")?;
    Ok(match (image, user.cloned()) {
        (None, user) => user,
        (Some(image), None) => Some(image),
        (Some(image), Some(mut user)) => {
            if user.test.is_empty() {
                user.test = image.test;
            }
            for (mine, theirs) in [
                (&mut user.interval, image.interval),
                (&mut user.timeout, image.timeout),
                (&mut user.start_period, image.start_period),
                (&mut user.start_interval, image.start_interval),
                (&mut user.retries, image.retries),
            ] {
                if *mine == 0 {
                    *mine = theirs;
                }
            }
            Some(user)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flags_as_dockers_cli_makes_them() {
        assert_eq!(Flags::default().config().unwrap(), None);
        let off = Flags {
            disable: true,
            ..Default::default()
        };
        assert_eq!(off.config().unwrap().unwrap().test, ["NONE"]);
        let both = Flags {
            disable: true,
            retries: 2,
            ..Default::default()
        };
        assert_eq!(
            both.config().unwrap_err().to_string(),
            "--no-healthcheck conflicts with --health-* options"
        );
        let neg = Flags {
            interval: -1,
            ..Default::default()
        };
        assert_eq!(
            neg.config().unwrap_err().to_string(),
            "--health-interval cannot be negative"
        );
        let hc = Flags {
            cmd: Some("exit 1".into()),
            interval: 1_000_000_000,
            retries: 2,
            ..Default::default()
        }
        .config()
        .unwrap()
        .unwrap();
        assert_eq!(hc.test, ["CMD-SHELL", "exit 1"]);
        assert_eq!(hc.command(), ["/bin/sh", "-c", "exit 1"]);
        assert_eq!(
            serde_json::to_value(&hc).unwrap(),
            json!({"Test": ["CMD-SHELL", "exit 1"], "Interval": 1_000_000_000i64, "Retries": 2})
        );
        assert_eq!(
            format!("{:#}", parse_flag("--health-interval", "soon").unwrap_err()),
            "invalid argument \"soon\" for \"--health-interval\" flag: time: invalid duration \"soon\""
        );
    }

    #[test]
    fn validation_messages_are_dockers() {
        let hc = |v: serde_json::Value| serde_json::from_value::<HealthConfig>(v).unwrap();
        assert_eq!(
            hc(json!({"Test": ["CMD", "true"], "Interval": 1000}))
                .validate()
                .unwrap_err()
                .to_string(),
            "Interval in Healthcheck cannot be less than 1ms"
        );
        assert_eq!(
            hc(json!({"Retries": -1}))
                .validate()
                .unwrap_err()
                .to_string(),
            "Retries in Healthcheck cannot be negative"
        );
        assert!(hc(json!({"Test": ["BOGUS"]})).validate().is_err());
        // What clients send for "no health check settings".
        let empty = hc(json!({"Test": null, "Interval": 0, "Timeout": 0}));
        empty.validate().unwrap();
        assert!(!empty.probes());
        assert_eq!(hc(json!({"Test": ["CMD", "a", "b"]})).command(), ["a", "b"]);
        assert_eq!(hc(json!({"Test": ["CMD"]})).command(), Vec::<String>::new());
    }

    #[test]
    fn merge_is_field_by_field() {
        let image =
            json!({"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000i64, "Retries": 2});
        let merged = merge(Some(&image), None).unwrap().unwrap();
        assert_eq!(merged.interval(), Duration::from_secs(5));
        assert_eq!(merged.timeout(), Duration::from_secs(30));
        let user = HealthConfig {
            interval: 1_000_000_000,
            ..Default::default()
        };
        let merged = merge(Some(&image), Some(&user)).unwrap().unwrap();
        assert_eq!(merged.test, ["CMD-SHELL", "true"]);
        assert_eq!((merged.interval, merged.retries), (1_000_000_000, 2));
        let none = HealthConfig {
            test: vec!["NONE".into()],
            ..Default::default()
        };
        let merged = merge(Some(&image), Some(&none)).unwrap().unwrap();
        assert!(!merged.probes());
        assert_eq!(merge(None, None).unwrap(), None);
        assert!(merge(Some(&json!("nonsense")), None).is_err());
    }
}
