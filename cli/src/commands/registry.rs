//! `engine` commands: registry.

use crate::args::{LoginArgs, PullArgs, PushArgs};
use anyhow::{Context, Result, bail};
use distribution::progress::Progress;
use distribution::registry::auth::{self, Credentials};
use distribution::registry::manifest::Platform;
use distribution::registry::open_repository;
use distribution::registry::pull::PullRequest;
use engine_core::config::Settings;
use engine_core::engine::Engine;
use engine_core::registry::{check_login, options, server_name};
use graph::image::Reference;
use std::io::{self, BufRead, IsTerminal, Read, Write};
use std::process::ExitCode;

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
    engine_core::transfer::pull(engine, &repo, &request, &progress)?;
    progress.result(&reference.to_string());
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
    engine_core::transfer::push(engine, &repo, &reference, &progress)?;
    if args.quiet {
        progress.result(&reference.to_string());
    }
    Ok(())
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
