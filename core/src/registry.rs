//! Registry commands: pull, push, login, logout.

use anyhow::{Context, Result};
use graph::image::{DEFAULT_DOMAIN, Reference};

use crate::config::Settings;
use crate::engine::Engine;
use distribution::progress::Progress;
use distribution::registry::auth::Credentials;
use distribution::registry::client::{Client, RegistryOptions, RequestBody, status_error};
use distribution::registry::open_repository;
use distribution::registry::pull::PullRequest;

/// The registry client's options from the engine's settings (insecure registries).
pub fn options(settings: &Settings) -> RegistryOptions {
    RegistryOptions {
        insecure: settings.insecure_registries.clone(),
    }
}

/// Pulls `reference` for a command that found it missing (`run`, `create`, `build`), as
/// Docker does; quiet but for the final status line, written to `report`.
pub fn pull_missing(
    engine: &Engine,
    reference: &Reference,
    report: &mut dyn std::io::Write,
) -> Result<()> {
    let progress = Progress::new(true);
    let repo = open_repository(reference, &options(&engine.settings), "pull")?;
    let request = PullRequest {
        reference: reference.clone(),
        platform: None,
    };
    crate::transfer::pull(engine, &repo, &request, &progress)?;
    writeln!(
        report,
        "Status: Downloaded newer image for {}",
        reference.familiar()
    )?;
    Ok(())
}

/// `https://host:port/v2/` or `host:port` -> `host:port`; none -> Docker Hub.
pub fn server_name(server: Option<&str>) -> String {
    let Some(s) = server else {
        return DEFAULT_DOMAIN.to_string();
    };
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    let host = rest.split('/').next().unwrap_or(rest);
    match host {
        "index.docker.io" | "registry-1.docker.io" => DEFAULT_DOMAIN.to_string(),
        h => h.to_string(),
    }
}

/// Whether `credentials` log in to `server` (its `/v2/` answers them); the failure says why.
pub fn check_login(settings: &Settings, server: &str, credentials: &Credentials) -> Result<()> {
    let client = Client::connect(server, &options(settings), Some(credentials.clone()), None)?;
    let response = client
        .request("GET", "/v2/", &[], RequestBody::Empty)
        .with_context(|| format!("logging in to {server}"))?;
    if response.status() == ureq::http::StatusCode::UNAUTHORIZED {
        return Err(crate::error::EngineError::unauthorized(format!(
            "login to {server} failed: unauthorized: incorrect username or password"
        ))
        .into());
    }
    if !response.status().is_success() {
        return Err(status_error(&format!("login to {server} failed"), response));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_are_normalised() {
        assert_eq!(server_name(None), "docker.io");
        assert_eq!(
            server_name(Some("https://index.docker.io/v1/")),
            "docker.io"
        );
        assert_eq!(
            server_name(Some("http://127.0.0.1:5000/v2/")),
            "127.0.0.1:5000"
        );
        assert_eq!(server_name(Some("localhost:5000")), "localhost:5000");
    }
}
