//! Numbers as Docker's CLI prints them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Docker's `units.HumanDuration`: "About a minute", "3 hours", "2 weeks".
pub fn duration(d: Duration) -> String {
    let secs = d.as_secs();
    let minutes = secs / 60;
    let hours = (d.as_secs_f64() / 3600.0).round() as u64;
    if secs < 1 {
        "Less than a second".into()
    } else if secs == 1 {
        "1 second".into()
    } else if secs < 60 {
        format!("{secs} seconds")
    } else if minutes == 1 {
        "About a minute".into()
    } else if minutes < 60 {
        format!("{minutes} minutes")
    } else if hours == 1 {
        "About an hour".into()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", hours / 24 / 365)
    }
}

/// "5 minutes ago" for a Unix time, as `docker images` shows CREATED.
pub fn ago(unix_secs: Option<u64>) -> String {
    let Some(t) = unix_secs else {
        return "N/A".into();
    };
    let then = UNIX_EPOCH + Duration::from_secs(t);
    let elapsed = SystemTime::now().duration_since(then).unwrap_or_default();
    format!("{} ago", duration(elapsed))
}

/// Docker's `units.HumanSizeWithPrecision(size, 3)`: decimal units, 3 significant digits.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    let digits = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    let mut s = format!("{v:.digits$}");
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{s}{}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_docker() {
        assert_eq!(size(0), "0B");
        assert_eq!(size(999), "999B");
        assert_eq!(size(1_240_000), "1.24MB");
        assert_eq!(size(4_000), "4kB");
        assert_eq!(size(72_800_000), "72.8MB");
        assert_eq!(size(150_000_000), "150MB");
    }

    #[test]
    fn durations_like_docker() {
        assert_eq!(duration(Duration::from_millis(10)), "Less than a second");
        assert_eq!(duration(Duration::from_secs(45)), "45 seconds");
        assert_eq!(duration(Duration::from_secs(70)), "About a minute");
        assert_eq!(duration(Duration::from_secs(3600)), "About an hour");
        assert_eq!(duration(Duration::from_secs(5 * 3600)), "5 hours");
        assert_eq!(duration(Duration::from_secs(3 * 86400)), "3 days");
    }
}
