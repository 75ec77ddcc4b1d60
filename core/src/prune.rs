//! The `--filter`s of the prune commands (`image|container|network|volume|builder prune` and
//! `POST /{images,containers,networks,volumes,build}/prune`), parsed once here so the CLI and
//! the API enforce the same rules, which are Docker's (Engine API 1.41):
//!
//! - each prune accepts its own keys and refuses any other with "invalid filter 'KEY'";
//! - `until=TIMESTAMP` keeps what was created after the time (a duration back from now such
//!   as `1h`, Unix seconds, or an RFC 3339 date-time); given twice it is refused;
//! - `label=K` / `label=K=V`: every one of them must match;
//! - `label!=K` / `label!=K=V`: an object is kept when it matches every one of them (Docker
//!   tests the `label!` values together, as one condition, not each on its own).

use std::collections::BTreeMap;
use std::time::SystemTime;

use anyhow::Result;

use crate::error::EngineError;

/// The keys a prune of each kind accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Images: `dangling`, `until`, `label`, `label!`.
    Images,
    /// Containers and networks: `until`, `label`, `label!`.
    Containers,
    /// Networks: as containers.
    Networks,
    /// Volumes (API 1.41): `label`, `label!`.
    Volumes,
    /// The build cache: `until`, `label`, `label!` (its entries carry no labels).
    BuildCache,
}

impl Kind {
    fn accepts(self, key: &str) -> bool {
        match self {
            Kind::Images => matches!(key, "dangling" | "until" | "label" | "label!"),
            Kind::Containers | Kind::Networks | Kind::BuildCache => {
                matches!(key, "until" | "label" | "label!")
            }
            Kind::Volumes => matches!(key, "label" | "label!"),
        }
    }
}

/// Parsed prune filters.
#[derive(Debug, Default, Clone)]
pub struct PruneFilter {
    /// `dangling=`: `Some(false)` prunes every unused image, not only dangling ones.
    pub dangling: Option<bool>,
    /// `until=`: only what was created before this time.
    pub until: Option<SystemTime>,
    /// `label=` values, all of which must match.
    pub labels: Vec<String>,
    /// `label!=` values: an object matching all of them is kept.
    pub not_labels: Vec<String>,
}

impl PruneFilter {
    /// Parses `KEY=VALUE` strings (the CLI's `--filter`, the API's `filters` flattened) for
    /// a prune of `kind`.
    pub fn parse(kind: Kind, filters: &[String]) -> Result<PruneFilter> {
        Self::parse_at(kind, filters, SystemTime::now())
    }

    fn parse_at(kind: Kind, filters: &[String], now: SystemTime) -> Result<PruneFilter> {
        let mut parsed = PruneFilter::default();
        let mut untils = 0;
        for f in filters {
            let Some((key, value)) = f.split_once('=') else {
                return Err(EngineError::invalid(format!(
                    "bad format of filter (expected name=value): {f}"
                ))
                .into());
            };
            if !kind.accepts(key) {
                return Err(EngineError::invalid(format!("invalid filter '{key}'")).into());
            }
            match key {
                "dangling" => {
                    let v = match value {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => {
                            return Err(EngineError::invalid(format!(
                                "invalid filter 'dangling={value}'"
                            ))
                            .into());
                        }
                    };
                    if parsed.dangling.is_some_and(|d| d != v) {
                        return Err(EngineError::invalid(
                            "invalid filter 'dangling': true and false given",
                        )
                        .into());
                    }
                    parsed.dangling = Some(v);
                }
                "until" => {
                    untils += 1;
                    if untils > 1 {
                        return Err(
                            EngineError::invalid("more than one until filter specified").into()
                        );
                    }
                    let t = crate::events::parse_time(value, now)
                        .map_err(|e| EngineError::invalid(format!("{e:#}")))?;
                    parsed.until = Some(t);
                }
                "label" => parsed.labels.push(value.to_string()),
                _ => parsed.not_labels.push(value.to_string()),
            }
        }
        Ok(parsed)
    }

    /// Whether `labels` pass `label=` and `label!=` (Docker's `matchLabels`).
    pub fn matches_labels(&self, labels: &BTreeMap<String, String>) -> bool {
        let all = |wanted: &[String]| wanted.iter().all(|w| label_matches(w, labels));
        all(&self.labels) && (self.not_labels.is_empty() || !all(&self.not_labels))
    }

    /// Whether something created at `created` is old enough for `until=` (all are without
    /// one; Docker keeps what was created after the time).
    pub fn old_enough(&self, created: Option<SystemTime>) -> bool {
        match (self.until, created) {
            (None, _) => true,
            (Some(until), Some(created)) => created <= until,
            // No creation time: not provably old, so kept.
            (Some(_), None) => false,
        }
    }
}

/// `K` (present) or `K=V` (present with that value).
fn label_matches(want: &str, labels: &BTreeMap<String, String>) -> bool {
    match want.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
        None => labels.contains_key(want),
    }
}

/// A stored RFC 3339 time (containers, networks, images).
pub fn stored_time(s: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(s.trim_end_matches('Z').split('.').next()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn parse(kind: Kind, f: &[&str]) -> Result<PruneFilter> {
        let f: Vec<String> = f.iter().map(|s| s.to_string()).collect();
        PruneFilter::parse(kind, &f)
    }

    #[test]
    fn unknown_keys_are_refused_with_dockers_message() {
        let e = parse(Kind::Containers, &["dangling=true"]).unwrap_err();
        assert_eq!(e.to_string(), "invalid filter 'dangling'");
        let e = parse(Kind::Volumes, &["until=1h"]).unwrap_err();
        assert_eq!(e.to_string(), "invalid filter 'until'");
        assert!(parse(Kind::Images, &["x"]).is_err());
        assert!(parse(Kind::Images, &["dangling=maybe"]).is_err());
        assert!(parse(Kind::Images, &["until=1h", "until=2h"]).is_err());
        assert!(parse(Kind::Networks, &["until=yesterday"]).is_err());
    }

    #[test]
    fn labels_all_match_and_label_not_excludes_only_when_all_match() {
        let l = labels(&[("a", "1"), ("b", "2")]);
        assert!(
            parse(Kind::Images, &["label=a"])
                .unwrap()
                .matches_labels(&l)
        );
        assert!(
            parse(Kind::Images, &["label=a=1", "label=b"])
                .unwrap()
                .matches_labels(&l)
        );
        assert!(
            !parse(Kind::Images, &["label=a=2"])
                .unwrap()
                .matches_labels(&l)
        );
        assert!(
            !parse(Kind::Images, &["label=a", "label=c"])
                .unwrap()
                .matches_labels(&l)
        );
        assert!(
            !parse(Kind::Images, &["label!=a"])
                .unwrap()
                .matches_labels(&l)
        );
        // Docker tests the label! values as one: kept only when all of them match.
        assert!(
            parse(Kind::Images, &["label!=a", "label!=c"])
                .unwrap()
                .matches_labels(&l)
        );
        assert!(
            parse(Kind::Images, &["label!=c"])
                .unwrap()
                .matches_labels(&l)
        );
        assert!(
            parse(Kind::Images, &[])
                .unwrap()
                .matches_labels(&BTreeMap::new())
        );
    }

    #[test]
    fn until_takes_durations_unix_seconds_and_rfc3339() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let f = |v: &str| {
            PruneFilter::parse_at(Kind::Containers, &[format!("until={v}")], now)
                .unwrap()
                .until
                .unwrap()
        };
        assert_eq!(f("1h"), now - Duration::from_secs(3600));
        assert_eq!(
            f("5000"),
            SystemTime::UNIX_EPOCH + Duration::from_secs(5000)
        );
        assert_eq!(
            f("1970-01-02T00:00:00Z"),
            SystemTime::UNIX_EPOCH + Duration::from_secs(86400)
        );
        let filter = PruneFilter::parse_at(Kind::Containers, &["until=1h".into()], now).unwrap();
        assert!(filter.old_enough(Some(now - Duration::from_secs(7200))));
        assert!(!filter.old_enough(Some(now - Duration::from_secs(60))));
    }
}
