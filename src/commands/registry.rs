//! Registry commands: pull, push, login, logout.

use std::io::{self, BufRead, IsTerminal, Read, Write};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use graph::image::{DEFAULT_DOMAIN, Reference};

use crate::cli::{LoginArgs, PullArgs, PushArgs};
use crate::config::Settings;
use crate::engine::Engine;
use crate::progress::Progress;
use crate::registry::auth::{self, Credentials};
use crate::registry::client::{Client, RegistryOptions, RequestBody, status_error};
use crate::registry::manifest::Platform;
use crate::registry::pull::{self, PullRequest};
use crate::registry::{open_repository, push};

pub fn options(settings: &Settings) -> RegistryOptions {
    RegistryOptions {
        insecure: settings.insecure_registries.clone(),
    }
}

/// Parses NAME[:TAG|@DIGEST], saying "Using default tag: latest" when neither is given.
fn parse_reference(name: &str, progress: &Progress) -> Result<Reference> {
    let bare = Reference::parse_name_only(name)?;
    if bare.tag().is_none() && bare.digest().is_none() {
        progress.line("Using default tag: latest");
    }
    Ok(Reference::parse(name)?)
}

pub fn pull(engine: &Engine, args: PullArgs) -> Result<()> {
    let progress = Progress::new(args.quiet);
    let platform = args.platform.as_deref().map(Platform::parse).transpose()?;
    let reference = parse_reference(&args.name, &progress)?;
    let repo = open_repository(&reference, &options(&engine.settings), "pull")?;
    let request = PullRequest {
        reference: reference.clone(),
        platform,
    };
    pull::pull(engine, &repo, &request, &progress)?;
    progress.result(&reference.to_string());
    Ok(())
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
    pull::pull(engine, &repo, &request, &progress)?;
    writeln!(
        report,
        "Status: Downloaded newer image for {}",
        reference.familiar()
    )?;
    Ok(())
}

pub fn push(engine: &Engine, args: PushArgs) -> Result<()> {
    let progress = Progress::new(args.quiet);
    let reference = parse_reference(&args.name, &progress)?;
    if reference.digest().is_some() {
        bail!(
            "cannot push a digest reference ({}): push a tag",
            reference.familiar()
        );
    }
    let repo = open_repository(&reference, &options(&engine.settings), "pull,push")?;
    push::push(engine, &repo, &reference, &progress)?;
    if args.quiet {
        progress.result(&reference.to_string());
    }
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

fn prompt(label: &str) -> Result<String> {
    eprint!("{label}");
    io::stderr().flush()?;
    let mut line = String::new();
    io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

/// Reads a password from the terminal without echoing it.
fn prompt_password() -> Result<String> {
    use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};
    let stdin = io::stdin();
    let saved = tcgetattr(&stdin).context("reading the terminal settings")?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    tcsetattr(&stdin, SetArg::TCSANOW, &quiet).context("turning off echo")?;
    let read = prompt("Password: ");
    let _ = tcsetattr(&stdin, SetArg::TCSANOW, &saved);
    eprintln!();
    read
}

pub fn login(settings: &Settings, args: LoginArgs) -> Result<ExitCode> {
    let server = server_name(args.server.as_deref());
    let interactive = io::stdin().is_terminal();
    if args.password_stdin && args.username.is_none() {
        bail!("Must provide --username with --password-stdin");
    }
    let username = match args.username {
        Some(u) => u,
        None if interactive => prompt("Username: ")?,
        None => bail!("Cannot perform an interactive login from a non TTY device"),
    };
    let password = if let Some(p) = args.password {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
        p
    } else if args.password_stdin {
        let mut p = String::new();
        io::stdin()
            .lock()
            .read_to_string(&mut p)
            .context("reading the password from stdin")?;
        p.trim_end_matches(['\n', '\r']).to_string()
    } else if interactive {
        prompt_password()?
    } else {
        bail!("Cannot perform an interactive login from a non TTY device");
    };
    if username.is_empty() || password.is_empty() {
        bail!("a username and a password are required to log in to {server}");
    }
    let credentials = Credentials { username, password };
    check_login(settings, &server, &credentials)?;
    let path = auth::store(&server, &credentials)?;
    eprintln!(
        "WARNING! Your password will be stored unencrypted in {}.",
        path.display()
    );
    println!("Login Succeeded");
    Ok(ExitCode::SUCCESS)
}

/// Whether `credentials` log in to `server` (its `/v2/` answers them); the failure says why.
pub fn check_login(settings: &Settings, server: &str, credentials: &Credentials) -> Result<()> {
    let client = Client::connect(server, &options(settings), Some(credentials.clone()), None)?;
    let response = client
        .request("GET", "/v2/", &[], RequestBody::Empty)
        .with_context(|| format!("logging in to {server}"))?;
    if response.status() == ureq::http::StatusCode::UNAUTHORIZED {
        return Err(Unauthorized(format!(
            "login to {server} failed: unauthorized: incorrect username or password"
        ))
        .into());
    }
    if !response.status().is_success() {
        return Err(status_error(&format!("login to {server} failed"), response));
    }
    Ok(())
}

/// The registry refused the credentials (the API answers 401).
#[derive(Debug)]
pub struct Unauthorized(pub String);

impl std::fmt::Display for Unauthorized {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unauthorized {}

pub fn logout(server: Option<&str>) -> Result<ExitCode> {
    let server = server_name(server);
    let shown = auth::server_key(&server);
    if auth::erase(&server)? {
        println!("Removing login credentials for {shown}");
    } else {
        println!("Not logged in to {shown}");
    }
    Ok(ExitCode::SUCCESS)
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
