//! Query parameters as Docker's API sends them: repeated keys (`t=a&t=b`, `changes=...`),
//! booleans as `1`/`true`, JSON `filters`.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::error::ApiError;

/// The decoded query string.
#[derive(Debug, Default, Clone)]
pub struct Params(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(Params::parse(parts.uri.query().unwrap_or("")))
    }
}

impl Params {
    /// Parses `a=1&b=x%20y&b=z`.
    pub fn parse(query: &str) -> Params {
        Params(
            query
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (decode(k), decode(v))
                })
                .collect(),
        )
    }

    /// The last value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The last value of `key`, unless empty.
    pub fn non_empty(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.is_empty())
    }

    /// Every value of `key`, in order.
    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// `key` as Docker's booleans (`1`, `true`, `True`).
    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("1" | "true" | "True" | "yes"))
    }

    /// `key` as a number, when given.
    pub fn number(&self, key: &str) -> Result<Option<i64>, ApiError> {
        match self.non_empty(key) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("invalid value for {key}: {v:?}"))),
        }
    }

    /// `filters` as `KEY=VALUE` strings (the CLI's `--filter` form).
    pub fn filters(&self) -> Result<Vec<String>, ApiError> {
        let map = super::images::parse_filters(self.get("filters"))?;
        Ok(flatten_filters(&map))
    }

    /// A time given as Unix seconds (`1700000000.123456789`) or RFC 3339.
    pub fn time(&self, key: &str) -> Result<Option<SystemTime>, ApiError> {
        let Some(v) = self.non_empty(key).filter(|v| *v != "0") else {
            return Ok(None);
        };
        parse_time(v)
            .map(Some)
            .ok_or_else(|| ApiError::bad_request(format!("invalid time for {key}: {v:?}")))
    }
}

/// `{"status":["running"]}` -> `["status=running"]`.
pub fn flatten_filters(map: &HashMap<String, Vec<String>>) -> Vec<String> {
    let mut out: Vec<String> = map
        .iter()
        .flat_map(|(k, vs)| vs.iter().map(move |v| format!("{k}={v}")))
        .collect();
    out.sort();
    out
}

/// Unix seconds with an optional fraction, or RFC 3339.
pub fn parse_time(v: &str) -> Option<SystemTime> {
    if let Some((secs, frac)) = v.split_once('.')
        && let (Ok(s), Ok(_)) = (secs.parse::<u64>(), frac.parse::<u64>())
    {
        let nanos: u32 = format!("{frac:0<9}")[..9].parse().ok()?;
        return Some(UNIX_EPOCH + Duration::new(s, nanos));
    }
    if let Ok(s) = v.parse::<u64>() {
        return Some(UNIX_EPOCH + Duration::from_secs(s));
    }
    humantime::parse_rfc3339_weak(v).ok()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() && s.is_char_boundary(i + 3) => {
                match u8::from_str_radix(&s[i + 1..i + 3], 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_flags_and_escapes() {
        let p = Params::parse("t=a%3A1&t=b&q=1&changes=CMD+%5B%22x%22%5D&bad=%zz&end=%4");
        assert_eq!(p.all("t"), ["a:1", "b"]);
        assert!(p.flag("q"));
        assert!(!p.flag("nocache"));
        assert_eq!(p.get("changes"), Some("CMD [\"x\"]"));
        assert_eq!(p.get("bad"), Some("%zz"));
        assert_eq!(p.get("end"), Some("%4"));
    }

    #[test]
    fn times_parse_as_docker_sends_them() {
        let t = parse_time("1700000000.5").unwrap();
        assert_eq!(
            t.duration_since(UNIX_EPOCH).unwrap(),
            Duration::new(1_700_000_000, 500_000_000)
        );
        assert!(parse_time("1700000000").is_some());
        assert!(parse_time("2024-01-01T00:00:00Z").is_some());
        assert!(parse_time("soon").is_none());
    }
}
