//! Health checks, as Docker runs them (moby's `daemon/health.go`): a container whose
//! `Config.Healthcheck` has a test (`CMD ...` or `CMD-SHELL ...`, from the image's
//! `HEALTHCHECK` merged with `--health-*`) is probed by its monitor every interval. A probe is
//! an exec of the test in the container, with the container's confinement; exit 0 is a
//! success, anything else (or running past the timeout) a failure. The outcome is kept in
//! `State.Health`: `starting` until the first success, `healthy` after one, `unhealthy` after
//! `retries` failures in a row (failures inside the start period do not count while it is
//! still `starting`), with the last five results.
//!
//! The state lives in the container's record, written under its lock by the monitor's probe
//! thread ([`probe`]), so `inspect`, `ps` and the daemon read it as any other state. A start
//! sets `starting` again (the log is kept); the end of a run or a pause sets `unhealthy`, as
//! Docker's monitor does when it stops probing.

pub mod config;
pub mod duration;
pub mod probe;

use serde::{Deserialize, Deserializer, Serialize};

pub use config::HealthConfig;

/// Docker keeps at most this many bytes of a probe's output.
pub const MAX_OUTPUT: usize = 4096;
/// Results kept in `State.Health.Log`.
pub const MAX_LOG: usize = 5;
/// Docker's default interval between probes (and before the first one).
pub const DEFAULT_INTERVAL: i64 = 30_000_000_000;
/// Docker's default probe timeout.
pub const DEFAULT_TIMEOUT: i64 = 30_000_000_000;
/// Docker's default number of failures in a row that make a container unhealthy.
pub const DEFAULT_RETRIES: i64 = 3;

/// Not probed yet, or failing inside the start period.
pub const STARTING: &str = "starting";
/// The last probe succeeded.
pub const HEALTHY: &str = "healthy";
/// `retries` probes in a row failed, or probing stopped (the container ended or paused).
pub const UNHEALTHY: &str = "unhealthy";
/// What the `health` filter calls a container without health checks.
pub const NONE: &str = "none";

/// Docker's `State.Health`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    /// starting, healthy or unhealthy.
    pub status: String,
    /// Failures in a row (those inside the start period not counted).
    pub failing_streak: i64,
    /// The last [`MAX_LOG`] results, oldest first.
    #[serde(default, deserialize_with = "nullable")]
    pub log: Vec<HealthResult>,
}

/// One probe (Docker's `HealthcheckResult`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct HealthResult {
    /// RFC 3339 time the probe started.
    pub start: String,
    /// RFC 3339 time it ended.
    pub end: String,
    /// 0 healthy, 1 unhealthy, -1 the probe could not run or timed out.
    pub exit_code: i64,
    /// Its output (stdout and stderr), at most [`MAX_OUTPUT`] bytes.
    pub output: String,
}

impl Health {
    /// The state at a (re)start: `starting` with no failures, the log of earlier runs kept.
    pub fn starting(previous: Option<Health>) -> Health {
        let mut h = previous.unwrap_or_default();
        h.status = STARTING.into();
        h.failing_streak = 0;
        h
    }

    /// Records a probe's result (`retries` 0 means Docker's default); `in_start_period`
    /// when it started inside the start period. Returns whether the status changed.
    pub fn record(&mut self, result: HealthResult, retries: i64, in_start_period: bool) -> bool {
        let before = self.status.clone();
        let retries = if retries <= 0 {
            DEFAULT_RETRIES
        } else {
            retries
        };
        let success = result.exit_code == 0;
        self.log.push(result);
        if self.log.len() > MAX_LOG {
            self.log.drain(..self.log.len() - MAX_LOG);
        }
        if success {
            self.failing_streak = 0;
            self.status = HEALTHY.into();
        } else if !(self.status == STARTING && in_start_period) {
            self.failing_streak += 1;
            if self.failing_streak >= retries {
                self.status = UNHEALTHY.into();
            }
        }
        self.status != before
    }

    /// How `ps` shows it after "Up ...": "health: starting", "healthy", "unhealthy".
    pub fn describe(&self) -> String {
        if self.status == STARTING {
            "health: starting".into()
        } else {
            self.status.clone()
        }
    }
}

/// The status the `health` filter matches: the container's, or [`NONE`].
pub fn filter_status(health: Option<&Health>) -> &str {
    health.map_or(NONE, |h| h.status.as_str())
}

/// Checks a `health` filter value, with Docker's message.
pub fn check_filter_value(value: &str) -> anyhow::Result<()> {
    if [STARTING, HEALTHY, UNHEALTHY, NONE].contains(&value) {
        Ok(())
    } else {
        Err(crate::error::EngineError::invalid(format!(
            "Unrecognised filter value for health: {value}"
        ))
        .into())
    }
}

/// A field that may be `null` in JSON, read as its default.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(code: i64) -> HealthResult {
        HealthResult {
            exit_code: code,
            ..Default::default()
        }
    }

    #[test]
    fn streaks_and_status_follow_docker() {
        let mut h = Health::starting(None);
        // Failures inside the start period do not count while starting.
        assert!(!h.record(result(1), 2, true));
        assert_eq!((h.status.as_str(), h.failing_streak), (STARTING, 0));
        assert!(!h.record(result(1), 2, false));
        assert_eq!(h.failing_streak, 1);
        assert!(h.record(result(1), 2, false));
        assert_eq!((h.status.as_str(), h.failing_streak), (UNHEALTHY, 2));
        assert!(h.record(result(0), 2, false));
        assert_eq!((h.status.as_str(), h.failing_streak), (HEALTHY, 0));
        // Once healthy, the start period no longer spares failures.
        h.record(result(1), 2, true);
        assert_eq!((h.status.as_str(), h.failing_streak), (HEALTHY, 1));
        // Default retries: 3.
        let mut d = Health::starting(None);
        d.record(result(1), 0, false);
        d.record(result(1), 0, false);
        assert_eq!(d.status, STARTING);
        d.record(result(-1), 0, false);
        assert_eq!(d.status, UNHEALTHY);
    }

    #[test]
    fn log_keeps_the_last_five_and_survives_a_restart() {
        let mut h = Health::starting(None);
        for code in 0..8 {
            h.record(result(code), 3, false);
        }
        let codes: Vec<i64> = h.log.iter().map(|r| r.exit_code).collect();
        assert_eq!(codes, [3, 4, 5, 6, 7]);
        let again = Health::starting(Some(h));
        assert_eq!((again.status.as_str(), again.failing_streak), (STARTING, 0));
        assert_eq!(again.log.len(), 5);
        assert_eq!(again.describe(), "health: starting");
    }

    #[test]
    fn filter_values() {
        for ok in ["starting", "healthy", "unhealthy", "none"] {
            check_filter_value(ok).unwrap();
        }
        let e = check_filter_value("sick").unwrap_err();
        assert_eq!(e.to_string(), "Unrecognised filter value for health: sick");
        assert_eq!(filter_status(None), "none");
    }
}
