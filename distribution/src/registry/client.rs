//! One registry endpoint, found and authorised as Docker does.
//!
//! [`Client::connect`] tries `https://HOST/v2/` first and, for an insecure registry (loopback,
//! `--insecure-registry`, daemon.json `insecure-registries`), `http://HOST/v2/` after it, with
//! certificate checks off on HTTPS as Docker does for those. Secure registries are checked
//! against the system roots plus `<certs dir>/<host:port>/*.crt` (`/etc/docker/certs.d`,
//! or `ENGINE_CERTS_DIR`).
//!
//! Authorisation is lazy: a request answered `401` is retried once with what the
//! `WWW-Authenticate` challenge asks for, Basic credentials or a Bearer token fetched from the
//! challenge's realm for this client's scope; the header is then kept for later requests.

use std::fs::File;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;
use ureq::http::{self, Response};
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};
use ureq::{Agent, Body};

use super::auth::{Challenge, Credentials, parse_challenge};

/// Where Docker keeps per-registry CA certificates.
const DEFAULT_CERTS_DIR: &str = "/etc/docker/certs.d";
/// System CA bundles, Debian's first.
const SYSTEM_CA_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
];
/// How long error bodies and small documents may be.
const SMALL_BODY_LIMIT: u64 = 4 << 20;

/// What the command line and daemon.json say about registries.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// `host[:port]` or CIDR entries allowed plain HTTP and unchecked TLS.
    pub insecure: Vec<String>,
}

/// A request body that can be sent again (a retry after a 401 re-reads it).
#[derive(Debug, Clone, Copy)]
pub enum RequestBody<'a> {
    /// No body.
    Empty,
    /// Bytes in memory (a manifest, a config).
    Bytes(&'a [u8]),
    /// A file sent from its start each time (a layer blob).
    File(&'a Path),
}

/// A registry endpoint with its authorisation state.
#[derive(Debug)]
pub struct Client {
    agent: Agent,
    /// `https://host:port` or `http://host:port`.
    base: String,
    /// The registry as references name it (`docker.io`, `127.0.0.1:5000`).
    registry: String,
    credentials: Option<Credentials>,
    /// The token scope (`repository:library/busybox:pull`), none for a login check.
    scope: Option<String>,
    authorization: Mutex<Option<String>>,
}

/// The host that serves a registry's API (Docker Hub's differs from its name).
pub fn api_host(registry: &str) -> &str {
    if registry == graph::image::DEFAULT_DOMAIN || registry == "index.docker.io" {
        "registry-1.docker.io"
    } else {
        registry
    }
}

/// Whether `registry` may be reached over plain HTTP and unchecked TLS.
pub fn is_insecure(registry: &str, options: &RegistryOptions) -> bool {
    let host = host_of(registry);
    if host == "localhost" {
        return true;
    }
    let ip = host.trim_matches(['[', ']']).parse::<IpAddr>().ok();
    if ip.is_some_and(|ip| ip.is_loopback()) {
        return true;
    }
    options.insecure.iter().any(|entry| {
        entry == registry || entry == host || ip.is_some_and(|ip| cidr_contains(entry, ip))
    })
}

/// `host:port` -> `host` (IPv6 literals keep their brackets).
fn host_of(registry: &str) -> &str {
    if let Some(end) = registry.find(']') {
        return &registry[..=end];
    }
    registry.rsplit_once(':').map_or(registry, |(h, _)| h)
}

fn cidr_contains(cidr: &str, ip: IpAddr) -> bool {
    let Some((net, bits)) = cidr.split_once('/') else {
        return false;
    };
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

fn certs_dir() -> PathBuf {
    std::env::var_os("ENGINE_CERTS_DIR")
        .filter(|d| !d.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT_CERTS_DIR), PathBuf::from)
}

fn pem_certificates(path: &Path) -> Result<Vec<Certificate<'static>>> {
    let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        if let PemItem::Certificate(c) =
            item.with_context(|| format!("parsing certificates in {}", path.display()))?
        {
            certs.push(c);
        }
    }
    Ok(certs)
}

/// The roots for a secure registry: the system's plus its certs.d CA certificates.
fn root_certs(registry: &str) -> Result<RootCerts> {
    let dir = certs_dir().join(registry);
    let mut extra = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for path in paths
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "crt"))
        {
            extra.extend(pem_certificates(path)?);
        }
    }
    let system = SYSTEM_CA_BUNDLES
        .iter()
        .map(Path::new)
        .find(|p| p.exists())
        .map(pem_certificates)
        .transpose()?;
    Ok(match system {
        Some(mut certs) => {
            certs.extend(extra);
            RootCerts::new_with_certs(&certs)
        }
        None if extra.is_empty() => RootCerts::WebPki,
        None => RootCerts::new_with_certs(&extra),
    })
}

fn agent(tls: TlsConfig) -> Agent {
    Agent::config_builder()
        .http_status_as_error(false)
        .tls_config(tls)
        .timeout_connect(Some(Duration::from_secs(15)))
        .timeout_recv_response(Some(Duration::from_secs(120)))
        .user_agent(concat!("engine/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// The registry's error document: `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"..."}]}`.
#[derive(Debug, Deserialize)]
struct ErrorDoc {
    #[serde(default)]
    errors: Vec<ErrorEntry>,
}

#[derive(Debug, Deserialize)]
struct ErrorEntry {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// `what: manifest unknown: manifest unknown`, as Docker shows registry errors, else the status.
pub fn status_error(what: &str, mut response: Response<Body>) -> anyhow::Error {
    let status = response.status();
    let body = response
        .body_mut()
        .with_config()
        .limit(SMALL_BODY_LIMIT)
        .read_to_vec()
        .unwrap_or_default();
    let detail = serde_json::from_slice::<ErrorDoc>(&body)
        .ok()
        .filter(|d| !d.errors.is_empty())
        .map(|d| {
            d.errors
                .iter()
                .map(|e| {
                    let code = e.code.to_ascii_lowercase().replace('_', " ");
                    match (code.is_empty(), e.message.is_empty()) {
                        (false, false) => format!("{code}: {}", e.message),
                        (false, true) => code,
                        _ => e.message.clone(),
                    }
                })
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(&body);
            let text = text.trim();
            if status == http::StatusCode::UNAUTHORIZED {
                "unauthorized: authentication required".to_string()
            } else if text.is_empty() || text.len() > 200 {
                status.to_string()
            } else {
                format!("{status}: {text}")
            }
        });
    let hint = if status == http::StatusCode::UNAUTHORIZED {
        " (log in with `engine login`)"
    } else {
        ""
    };
    anyhow!("{what}: {detail}{hint}")
}

/// A transport error in words: `connection refused`, `invalid peer certificate: UnknownIssuer`.
fn describe(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Io(io) => io.to_string(),
        other => other.to_string(),
    }
}

impl Client {
    /// Finds the registry's endpoint (HTTPS, then HTTP when insecure) by asking `/v2/`.
    pub fn connect(
        registry: &str,
        options: &RegistryOptions,
        credentials: Option<Credentials>,
        scope: Option<String>,
    ) -> Result<Client> {
        let host = api_host(registry);
        let insecure = is_insecure(registry, options);
        let mut candidates = Vec::new();
        if insecure {
            let tls = TlsConfig::builder().disable_verification(true).build();
            candidates.push((format!("https://{host}"), agent(tls)));
            candidates.push((format!("http://{host}"), agent(TlsConfig::default())));
        } else {
            let tls = TlsConfig::builder()
                .root_certs(root_certs(registry)?)
                .build();
            candidates.push((format!("https://{host}"), agent(tls)));
        }
        let mut failures = Vec::new();
        for (base, agent) in candidates {
            let url = format!("{base}/v2/");
            match agent.get(&url).call() {
                Ok(r)
                    if r.status().is_success() || r.status() == http::StatusCode::UNAUTHORIZED =>
                {
                    tracing::debug!(%url, status = %r.status(), "registry endpoint found");
                    return Ok(Client {
                        agent,
                        base,
                        registry: registry.to_string(),
                        credentials,
                        scope,
                        authorization: Mutex::new(None),
                    });
                }
                Ok(r) => failures.push(format!("{url}: {}", r.status())),
                Err(e) => failures.push(format!("{url}: {}", describe(&e))),
            }
        }
        let hint = if insecure {
            ""
        } else {
            " (for a registry with a private CA, put its certificate in /etc/docker/certs.d/HOST:PORT/ca.crt; for plain HTTP, use --insecure-registry)"
        };
        bail!(
            "cannot reach registry {registry}: {}{hint}",
            failures.join("; ")
        )
    }

    /// The registry as references name it.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// `path` (`/v2/...`) on this endpoint, or an absolute URL (an upload `Location`) as is.
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        }
    }

    /// Sends a request, authorising and retrying once when the registry answers 401.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: RequestBody<'_>,
    ) -> Result<Response<Body>> {
        let url = self.url(path);
        let mut authorization = self.current_authorization();
        for attempt in 0..2 {
            let response = self.send(method, &url, headers, authorization.as_deref(), body)?;
            if response.status() != http::StatusCode::UNAUTHORIZED || attempt == 1 {
                return Ok(response);
            }
            let challenge = response
                .headers()
                .get(http::header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_challenge);
            match self.authorize(challenge)? {
                Some(header) => {
                    *self.authorization.lock().unwrap_or_else(|e| e.into_inner()) =
                        Some(header.clone());
                    authorization = Some(header);
                }
                None => return Ok(response),
            }
        }
        unreachable!("the loop returns on its second attempt")
    }

    fn current_authorization(&self) -> Option<String> {
        self.authorization
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        authorization: Option<&str>,
        body: RequestBody<'_>,
    ) -> Result<Response<Body>> {
        let mut builder = http::Request::builder().method(method).uri(url);
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        if let Some(a) = authorization {
            builder = builder.header(http::header::AUTHORIZATION, a);
        }
        let sent = match body {
            RequestBody::Empty => {
                let request = if matches!(method, "PUT" | "POST" | "PATCH") {
                    builder.header(http::header::CONTENT_LENGTH, "0").body(())
                } else {
                    builder.body(())
                };
                self.agent
                    .run(request.with_context(|| format!("building {method} {url}"))?)
            }
            RequestBody::Bytes(bytes) => {
                let request = builder
                    .body(bytes)
                    .with_context(|| format!("building {method} {url}"))?;
                self.agent.run(request)
            }
            RequestBody::File(path) => {
                let file =
                    File::open(path).with_context(|| format!("opening {}", path.display()))?;
                let request = builder
                    .body(file)
                    .with_context(|| format!("building {method} {url}"))?;
                self.agent.run(request)
            }
        };
        sent.map_err(|e| anyhow!("{method} {url}: {}", describe(&e)))
    }

    /// The `Authorization` header a challenge asks for; None when there is nothing to offer.
    fn authorize(&self, challenge: Option<Challenge>) -> Result<Option<String>> {
        match challenge {
            Some(Challenge::Basic) => Ok(self.credentials.as_ref().map(Credentials::basic_header)),
            Some(Challenge::Bearer { params }) => {
                let token = self.fetch_token(&params)?;
                Ok(Some(format!("Bearer {token}")))
            }
            None => Ok(None),
        }
    }

    /// GETs a token from the challenge's realm, with the credentials when there are any.
    fn fetch_token(&self, params: &std::collections::BTreeMap<String, String>) -> Result<String> {
        let realm = params.get("realm").with_context(|| {
            format!(
                "registry {} sent a Bearer challenge without a realm",
                self.registry
            )
        })?;
        let mut query = Vec::new();
        if let Some(service) = params.get("service") {
            query.push(format!("service={}", encode_query(service)));
        }
        if let Some(scope) = self.scope.as_ref().or(params.get("scope")) {
            query.push(format!("scope={}", encode_query(scope)));
        }
        if let Some(c) = &self.credentials {
            query.push(format!("account={}", encode_query(&c.username)));
        }
        let url = if query.is_empty() {
            realm.clone()
        } else {
            let sep = if realm.contains('?') { '&' } else { '?' };
            format!("{realm}{sep}{}", query.join("&"))
        };
        let mut request = self.agent.get(&url);
        if let Some(c) = &self.credentials {
            request = request.header(http::header::AUTHORIZATION, c.basic_header());
        }
        let mut response = request
            .call()
            .map_err(|e| anyhow!("getting a token from {realm}: {}", describe(&e)))?;
        if response.status() == http::StatusCode::UNAUTHORIZED
            || response.status() == http::StatusCode::FORBIDDEN
        {
            bail!("getting a token from {realm}: unauthorized: incorrect username or password");
        }
        if !response.status().is_success() {
            return Err(status_error(
                &format!("getting a token from {realm}"),
                response,
            ));
        }
        #[derive(Deserialize)]
        struct Token {
            #[serde(default)]
            token: String,
            #[serde(default)]
            access_token: String,
        }
        let token: Token = serde_json::from_slice(
            &response
                .body_mut()
                .with_config()
                .limit(SMALL_BODY_LIMIT)
                .read_to_vec()
                .with_context(|| format!("reading the token from {realm}"))?,
        )
        .with_context(|| format!("the token server {realm} sent no JSON token"))?;
        let token = if token.token.is_empty() {
            token.access_token
        } else {
            token.token
        };
        if token.is_empty() {
            bail!("the token server {realm} sent an empty token");
        }
        Ok(token)
    }
}

/// Percent-encodes a query value.
fn encode_query(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Reads a small response body (a manifest, a config, an error) whole.
pub fn read_small(response: &mut Response<Body>, what: &str) -> Result<Vec<u8>> {
    response
        .body_mut()
        .with_config()
        .limit(SMALL_BODY_LIMIT)
        .read_to_vec()
        .with_context(|| format!("reading {what}"))
}

/// A plain HTTP(S) download (`import URL`): the body as a reader and its length when the
/// server gave one. HTTPS is checked against the system roots plus the host's certs.d.
pub fn download(url: &str) -> Result<(Option<u64>, Box<dyn std::io::Read + Send>)> {
    let uri: http::Uri = url.parse().with_context(|| format!("invalid URL {url}"))?;
    let authority = uri
        .authority()
        .map(|a| a.as_str().to_string())
        .with_context(|| format!("invalid URL {url}: no host"))?;
    let tls = TlsConfig::builder()
        .root_certs(root_certs(&authority)?)
        .build();
    let response = agent(tls)
        .get(url)
        .call()
        .map_err(|e| anyhow!("Get {url:?}: {e}"))?;
    if !response.status().is_success() {
        bail!("Get {url:?}: {}", response.status());
    }
    let length = response
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    Ok((length, Box::new(response.into_body().into_reader())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_listed_registries_are_insecure() {
        let none = RegistryOptions::default();
        assert!(is_insecure("127.0.0.1:5000", &none));
        assert!(is_insecure("127.8.0.1", &none));
        assert!(is_insecure("localhost:5000", &none));
        assert!(is_insecure("[::1]:5000", &none));
        assert!(!is_insecure("docker.io", &none));
        assert!(!is_insecure("10.1.2.3:5000", &none));
        let listed = RegistryOptions {
            insecure: vec!["myreg.example:5000".into(), "10.0.0.0/8".into()],
        };
        assert!(is_insecure("myreg.example:5000", &listed));
        assert!(!is_insecure("myreg.example:6000", &listed));
        assert!(is_insecure("10.1.2.3:5000", &listed));
        assert!(!is_insecure("11.1.2.3:5000", &listed));
    }

    #[test]
    fn docker_hub_is_served_by_registry_1() {
        assert_eq!(api_host("docker.io"), "registry-1.docker.io");
        assert_eq!(api_host("quay.io"), "quay.io");
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(
            encode_query("repository:a/b:pull,push"),
            "repository%3Aa%2Fb%3Apull%2Cpush"
        );
    }
}
