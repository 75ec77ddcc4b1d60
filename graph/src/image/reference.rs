//! Image references, parsed and normalised as Docker parses them:
//! `busybox` is `docker.io/library/busybox:latest`, `localhost:5000/app@sha256:...` keeps its
//! registry and digest.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::id::Digest;

/// The registry an unqualified name belongs to.
pub const DEFAULT_DOMAIN: &str = "docker.io";
const OFFICIAL_PREFIX: &str = "library/";
const DEFAULT_TAG: &str = "latest";
/// The longest repository name (domain and path) Docker accepts.
const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// A normalised image reference: registry domain, repository path, and a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parses `s`, adding Docker's defaults (`docker.io`, `library/`, and tag `latest` when
    /// neither a tag nor a digest is given).
    pub fn parse(s: &str) -> Result<Self> {
        let mut r = Self::parse_name_only(s)?;
        if r.tag.is_none() && r.digest.is_none() {
            r.tag = Some(DEFAULT_TAG.to_string());
        }
        Ok(r)
    }

    /// Parses `s` without adding a default tag (for `engine images REPO`).
    pub fn parse_name_only(s: &str) -> Result<Self> {
        let bad = |why: &str| Error::InvalidInput(format!("invalid reference format {s:?}: {why}"));
        if s.is_empty() {
            return Err(bad("empty"));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((name, d)) => (
                name,
                Some(d.parse::<Digest>().map_err(|_| bad("bad digest"))?),
            ),
            None => (s, None),
        };
        // A tag follows the last ':' that comes after the last '/'.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(tag) = tag {
            let ok = !tag.is_empty()
                && tag.len() <= 128
                && tag.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
                && tag
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
            if !ok {
                return Err(bad("invalid tag"));
            }
        }
        if name.chars().any(|c| c.is_ascii_uppercase()) && !name.contains('/') {
            return Err(bad("repository name must be lowercase"));
        }
        let (domain, path) = match name.split_once('/') {
            Some((first, rest))
                if first.contains(['.', ':'])
                    || first == "localhost"
                    || first.chars().any(|c| c.is_ascii_uppercase()) =>
            {
                (first.to_string(), rest.to_string())
            }
            _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
        };
        let path = if domain == DEFAULT_DOMAIN && !path.contains('/') {
            format!("{OFFICIAL_PREFIX}{path}")
        } else {
            path
        };
        if !valid_domain(&domain) {
            return Err(bad("invalid registry host"));
        }
        if path.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(bad("repository name must be lowercase"));
        }
        if !path.split('/').all(valid_component) {
            return Err(bad(
                "repository name components must be lowercase letters, digits and separators (. _ __ -)",
            ));
        }
        // Docker counts the normalised name (`docker.io/library/` included), tag and digest
        // excluded.
        if domain.len() + 1 + path.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(bad(&format!(
                "repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"
            )));
        }
        Ok(Reference {
            domain,
            path,
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// The registry host (and port).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path within the registry (`library/busybox`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The tag, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if any.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The repository as Docker shows it: `busybox`, `me/app`, `localhost:5000/app`.
    pub fn familiar_name(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            self.path
                .strip_prefix(OFFICIAL_PREFIX)
                .unwrap_or(&self.path)
                .to_string()
        } else {
            format!("{}/{}", self.domain, self.path)
        }
    }

    /// The reference as Docker shows it: `busybox:latest`, `app@sha256:...`.
    pub fn familiar(&self) -> String {
        let mut s = self.familiar_name();
        if let Some(tag) = &self.tag {
            s.push(':');
            s.push_str(tag);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(&d.to_string());
        }
        s
    }

    /// The same repository with another tag and no digest.
    pub fn with_tag(&self, tag: &str) -> Self {
        Reference {
            tag: Some(tag.to_string()),
            digest: None,
            ..self.clone()
        }
    }
}

fn valid_domain(d: &str) -> bool {
    let (host, port) = match d.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (d, None),
    };
    !host.is_empty()
        && host
            .split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        && port.is_none_or(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

/// A path component: `[a-z0-9]+` joined by `.`, `_`, `__` or runs of `-`.
fn valid_component(c: &str) -> bool {
    if c.is_empty()
        || !c.starts_with(|x: char| x.is_ascii_alphanumeric())
        || !c.ends_with(|x: char| x.is_ascii_alphanumeric())
    {
        return false;
    }
    let bytes = c.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_lowercase() || b.is_ascii_digit() {
            i += 1;
            continue;
        }
        let sep_len = match b {
            b'.' => 1,
            b'_' if bytes.get(i + 1) == Some(&b'_') => 2,
            b'_' => 1,
            b'-' => bytes[i..].iter().take_while(|&&x| x == b'-').count(),
            _ => return false,
        };
        i += sep_len;
        if !bytes
            .get(i)
            .is_some_and(|x| x.is_ascii_lowercase() || x.is_ascii_digit())
        {
            return false;
        }
    }
    true
}

impl fmt::Display for Reference {
    /// The fully qualified form: `docker.io/library/busybox:latest`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.domain, self.path)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl FromStr for Reference {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Reference::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_like_docker() {
        let cases = [
            (
                "busybox",
                "docker.io/library/busybox:latest",
                "busybox:latest",
            ),
            (
                "busybox:1.36",
                "docker.io/library/busybox:1.36",
                "busybox:1.36",
            ),
            ("me/app", "docker.io/me/app:latest", "me/app:latest"),
            (
                "localhost:5000/app:v1",
                "localhost:5000/app:v1",
                "localhost:5000/app:v1",
            ),
            (
                "localhost/app",
                "localhost/app:latest",
                "localhost/app:latest",
            ),
            ("quay.io/a/b/c:t", "quay.io/a/b/c:t", "quay.io/a/b/c:t"),
            (
                "docker.io/library/alpine",
                "docker.io/library/alpine:latest",
                "alpine:latest",
            ),
            (
                "my_app-x.y",
                "docker.io/library/my_app-x.y:latest",
                "my_app-x.y:latest",
            ),
        ];
        for (input, full, familiar) in cases {
            let r = Reference::parse(input).unwrap();
            assert_eq!(r.to_string(), full, "{input}");
            assert_eq!(r.familiar(), familiar, "{input}");
        }
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let r = Reference::parse(&format!("app@{d}")).unwrap();
        assert_eq!(r.tag(), None);
        assert_eq!(r.digest().unwrap().to_string(), d);
    }

    #[test]
    fn rejects_what_docker_rejects() {
        for bad in [
            "",
            "Busybox",
            "a/B",
            "app:",
            "app:-x",
            "-app",
            "a//b",
            "a..b",
            "app@sha256:zz",
            "a b",
            "host:port/x",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn refuses_repository_names_over_255_characters() {
        // `docker.io/library/` + 237 = 255: the longest official name.
        let longest = "a".repeat(237);
        let r = Reference::parse(&format!("{longest}:v1")).unwrap();
        assert_eq!(r.to_string().len(), 255 + ":v1".len());
        for too_long in [
            "a".repeat(238),
            format!("me/{}", "b".repeat(300)),
            format!("localhost:5000/{}", "c".repeat(241)),
            "d".repeat(100_000),
        ] {
            let err = Reference::parse(&too_long).unwrap_err().to_string();
            assert!(
                err.contains("repository name must not be more than 255 characters"),
                "{err}"
            );
        }
        // The tag does not count.
        assert!(Reference::parse(&format!("{longest}:{}", "t".repeat(128))).is_ok());
    }
}
