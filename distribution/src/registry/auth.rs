//! Registry credentials, kept in Docker's `config.json` so `engine` and `docker` share logins,
//! and the `WWW-Authenticate` challenges a registry answers with.
//!
//! ```text
//! $DOCKER_CONFIG/config.json (else ~/.docker/config.json)
//! {"auths": {"127.0.0.1:5000": {"auth": "base64(user:password)"}}}
//! ```
//! Keys other than the one being changed are kept as they were.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

/// The key Docker stores Docker Hub credentials under.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// A user name and password (or token) for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name (`<token>` for an identity token, as Docker's config has it).
    pub username: String,
    /// The password, or the token.
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl Credentials {
    /// The value of an `Authorization: Basic` header.
    pub fn basic_header(&self) -> String {
        format!(
            "Basic {}",
            BASE64.encode(format!("{}:{}", self.username, self.password))
        )
    }
}

/// Where credentials live: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn config_path() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("config.json"));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .context("cannot find the credentials file: set HOME or DOCKER_CONFIG")?;
    Ok(PathBuf::from(home).join(".docker/config.json"))
}

/// The key a registry's credentials are stored under (Docker Hub has its historical URL).
pub fn server_key(registry: &str) -> String {
    if registry == graph::image::DEFAULT_DOMAIN || registry == "index.docker.io" {
        DOCKER_HUB_KEY.to_string()
    } else {
        registry.to_string()
    }
}

/// `https://host:port/v1/` -> `host:port`, as Docker matches stored keys.
fn normalise_key(key: &str) -> &str {
    let rest = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    rest.split('/').next().unwrap_or(rest)
}

fn read_config(path: &Path) -> Result<Value> {
    match fs::read(path) {
        Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Ok(json!({})),
        Ok(bytes) => serde_json::from_slice(&bytes)
            .with_context(|| format!("invalid credentials file {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(json!({})),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// The stored credentials for `registry`, if any.
pub fn load(registry: &str) -> Result<Option<Credentials>> {
    let path = config_path()?;
    let config = read_config(&path)?;
    let Some(auths) = config.get("auths").and_then(Value::as_object) else {
        return Ok(None);
    };
    let wanted = normalise_key(&server_key(registry)).to_string();
    let Some(entry) = auths
        .iter()
        .find(|(k, _)| normalise_key(k) == wanted)
        .map(|(_, v)| v)
    else {
        return Ok(None);
    };
    if let Some(auth) = entry.get("auth").and_then(Value::as_str) {
        let decoded = BASE64
            .decode(auth.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .with_context(|| {
                format!(
                    "invalid auth entry for {registry} in {}: not base64 of user:password",
                    path.display()
                )
            })?;
        let Some((username, password)) = decoded.split_once(':') else {
            bail!(
                "invalid auth entry for {registry} in {}: no ':' between user and password",
                path.display()
            );
        };
        return Ok(Some(Credentials {
            username: username.to_string(),
            password: password.to_string(),
        }));
    }
    Ok(None)
}

/// Stores `credentials` for `registry`; returns the file written.
pub fn store(registry: &str, credentials: &Credentials) -> Result<PathBuf> {
    let path = config_path()?;
    let mut config = read_config(&path)?;
    let Some(map) = config.as_object_mut() else {
        bail!(
            "invalid credentials file {}: not a JSON object",
            path.display()
        );
    };
    let auths = map.entry("auths").or_insert_with(|| json!({}));
    let Some(auths) = auths.as_object_mut() else {
        bail!(
            "invalid credentials file {}: \"auths\" is not an object",
            path.display()
        );
    };
    let encoded = BASE64.encode(format!("{}:{}", credentials.username, credentials.password));
    auths.insert(server_key(registry), json!({ "auth": encoded }));
    write_private(&path, &config)?;
    Ok(path)
}

/// Removes the credentials for `registry`; false when there were none.
pub fn erase(registry: &str) -> Result<bool> {
    let path = config_path()?;
    let mut config = read_config(&path)?;
    let wanted = normalise_key(&server_key(registry)).to_string();
    let Some(auths) = config.get_mut("auths").and_then(Value::as_object_mut) else {
        return Ok(false);
    };
    let keys: Vec<String> = auths
        .keys()
        .filter(|k| normalise_key(k) == wanted)
        .cloned()
        .collect();
    if keys.is_empty() {
        return Ok(false);
    }
    for k in keys {
        auths.remove(&k);
    }
    write_private(&path, &config)?;
    Ok(true)
}

/// Writes `value` to `path` readable by its owner only: temp file, fsync, rename.
fn write_private(path: &Path, value: &Value) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut bytes = serde_json::to_vec_pretty(value)?;
    bytes.push(b'\n');
    let tmp = dir.join(format!(".config.json.{}.tmp", std::process::id()));
    let written = (|| -> std::io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.set_permissions(fs::Permissions::from_mode(0o600))?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        fs::File::open(dir)?.sync_all()
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("writing {}", path.display()));
    }
    Ok(())
}

/// One `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// `Basic realm="..."`: send the user and password with every request.
    Basic,
    /// `Bearer realm="...",service="...",scope="..."`: get a token from `realm`.
    Bearer {
        /// The challenge's parameters: `realm`, `service`, `scope`.
        params: BTreeMap<String, String>,
    },
}

/// Parses a `WWW-Authenticate` header value; None for schemes this client does not speak.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => Some(Challenge::Bearer {
            params: parse_params(rest),
        }),
        _ => None,
    }
}

/// `a="x,y",b=z` -> {a: "x,y", b: "z"}; quoted values may hold commas and `\"`.
fn parse_params(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.peek().copied() {
                if c == ',' {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        out.insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_challenges_with_commas_in_quotes() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push""#,
        )
        .unwrap();
        let Challenge::Bearer { params } = c else {
            panic!("not bearer");
        };
        assert_eq!(params["realm"], "https://auth.docker.io/token");
        assert_eq!(params["service"], "registry.docker.io");
        assert_eq!(params["scope"], "repository:library/busybox:pull,push");
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Negotiate abc"), None);
    }

    #[test]
    fn keys_match_with_or_without_scheme() {
        assert_eq!(
            normalise_key("https://index.docker.io/v1/"),
            "index.docker.io"
        );
        assert_eq!(normalise_key("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(server_key("docker.io"), DOCKER_HUB_KEY);
    }

    #[test]
    fn credentials_never_print_the_password() {
        let c = Credentials {
            username: "u".into(),
            password: "secret".into(),
        };
        assert!(!format!("{c:?}").contains("secret"));
        assert_eq!(c.basic_header(), "Basic dTpzZWNyZXQ=");
    }
}
