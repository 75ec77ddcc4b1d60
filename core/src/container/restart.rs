//! Restart policies (`--restart`) and Docker's restart backoff.

use std::time::Duration;

use anyhow::{Result, bail};

use super::record::RestartPolicy;

/// The first delay before a restart; it doubles on each restart.
const BACKOFF_START: Duration = Duration::from_millis(100);
/// The longest delay.
const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// A container that ran at least this long resets the delay.
const RAN_LONG_ENOUGH: Duration = Duration::from_secs(10);

/// Parses `no`, `always`, `unless-stopped`, `on-failure[:N]`.
pub fn parse(s: &str) -> Result<RestartPolicy> {
    let (name, count) = match s.split_once(':') {
        Some((n, c)) => (n, Some(c)),
        None => (s, None),
    };
    let maximum_retry_count = match (name, count) {
        ("on-failure", Some(c)) => match c.parse::<u32>() {
            Ok(n) => n,
            Err(_) => {
                bail!("invalid restart policy format: maximum retry count must be an integer")
            }
        },
        (_, Some(_)) => bail!(
            "invalid restart policy format: maximum retry count can only be used with 'on-failure'"
        ),
        _ => 0,
    };
    if !["no", "always", "unless-stopped", "on-failure"].contains(&name) {
        bail!(
            "invalid restart policy format: unknown policy {name:?} (use no, always, unless-stopped or on-failure[:max-retries])"
        );
    }
    Ok(RestartPolicy {
        name: name.to_string(),
        maximum_retry_count,
    })
}

/// Whether the policy is something other than `no`.
pub fn is_set(policy: &RestartPolicy) -> bool {
    !(policy.name.is_empty() || policy.name == "no")
}

/// Whether a container that exited with `exit_code` is to be restarted, having been
/// restarted `restart_count` times; a container stopped by `stop`/`kill` never is.
pub fn should_restart(
    policy: &RestartPolicy,
    exit_code: i32,
    restart_count: u32,
    manually_stopped: bool,
) -> bool {
    if manually_stopped {
        return false;
    }
    match policy.name.as_str() {
        "always" | "unless-stopped" => true,
        "on-failure" => {
            exit_code != 0
                && (policy.maximum_retry_count == 0 || restart_count < policy.maximum_retry_count)
        }
        _ => false,
    }
}

/// Docker's restart delay: 100 ms doubling per restart, back to 100 ms after a run of 10 s or
/// more, at most a minute.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            next: BACKOFF_START,
        }
    }
}

impl Backoff {
    /// The delay before the next restart, given how long the last run lasted.
    pub fn delay(&mut self, ran_for: Duration) -> Duration {
        if ran_for >= RAN_LONG_ENOUGH {
            self.next = BACKOFF_START;
        }
        let delay = self.next;
        self.next = (self.next * 2).min(BACKOFF_MAX);
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dockers_policies() {
        assert_eq!(parse("on-failure:3").unwrap().maximum_retry_count, 3);
        assert_eq!(parse("always").unwrap().name, "always");
        assert!(parse("always:3").is_err());
        assert!(parse("sometimes").is_err());
        assert!(parse("on-failure:x").is_err());
    }

    #[test]
    fn decisions_follow_docker() {
        let on_failure = parse("on-failure:2").unwrap();
        assert!(should_restart(&on_failure, 1, 0, false));
        assert!(should_restart(&on_failure, 1, 1, false));
        assert!(!should_restart(&on_failure, 1, 2, false));
        assert!(!should_restart(&on_failure, 0, 0, false));
        let always = parse("always").unwrap();
        assert!(should_restart(&always, 0, 100, false));
        assert!(!should_restart(&always, 137, 0, true));
        assert!(!should_restart(&parse("no").unwrap(), 1, 0, false));
    }

    #[test]
    fn backoff_doubles_and_resets() {
        let mut b = Backoff::default();
        let short = Duration::from_millis(10);
        assert_eq!(b.delay(short), Duration::from_millis(100));
        assert_eq!(b.delay(short), Duration::from_millis(200));
        assert_eq!(b.delay(short), Duration::from_millis(400));
        assert_eq!(b.delay(Duration::from_secs(11)), Duration::from_millis(100));
    }
}
