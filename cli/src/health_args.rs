//! The `--health-*` flags of `run` and `create` (Docker's), as the core's health check.

use anyhow::Result;
use clap::Args;
use engine_core::container::health::HealthConfig;
use engine_core::container::health::config::{Flags, parse_flag};

#[derive(Debug, Default, Args)]
pub struct HealthArgs {
    /// Command to run to check health
    #[arg(long, value_name = "string")]
    pub health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h) (default 0s)
    #[arg(long, value_name = "duration", allow_hyphen_values = true)]
    pub health_interval: Option<String>,
    /// Consecutive failures needed to report unhealthy
    #[arg(long, value_name = "int", allow_hyphen_values = true)]
    pub health_retries: Option<i64>,
    /// Start period for the container to initialize before starting health-retries countdown
    /// (ms|s|m|h) (default 0s)
    #[arg(long, value_name = "duration", allow_hyphen_values = true)]
    pub health_start_period: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h) (default 0s)
    #[arg(long, value_name = "duration", allow_hyphen_values = true)]
    pub health_timeout: Option<String>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long)]
    pub no_healthcheck: bool,
}

impl HealthArgs {
    /// `Config.Healthcheck` as Docker's CLI makes it from these flags (`None`: the image's).
    pub fn config(&self) -> Result<Option<HealthConfig>> {
        let duration = |flag: &str, v: &Option<String>| -> Result<i64> {
            v.as_deref().map_or(Ok(0), |v| parse_flag(flag, v))
        };
        Flags {
            cmd: self.health_cmd.clone(),
            interval: duration("--health-interval", &self.health_interval)?,
            timeout: duration("--health-timeout", &self.health_timeout)?,
            start_period: duration("--health-start-period", &self.health_start_period)?,
            retries: self.health_retries.unwrap_or(0),
            disable: self.no_healthcheck,
        }
        .config()
    }
}
