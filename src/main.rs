//! `engine`: a container engine built around pluggable copy-on-write storage drivers.
//!
//! The binary is thin: it parses the command line (`engine_cli`), resolves the settings from
//! the flags and daemon.json (`engine_core::config`), then either runs one command through
//! the CLI or, for `engine daemon`, opens the engine and serves the Docker Engine API
//! (`engine_api`). Everything else lives in the crates:
//!
//! ```text
//! engine (bin) -> engine-cli, engine-api -> engine-core -> engine-distribution, graph,
//!                                                          overlay2, devicemapper, vfs, runtime
//! ```

use std::process::ExitCode;

use clap::Parser;
use engine_cli::{Cli, Command, DaemonArgs};
use engine_core::config::{self, Overrides};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                // Docker's CLI exits 125 when the engine itself could not run the command.
                _ => 125,
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let settings = match config::resolve(&Overrides::from(&cli.global)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("Error: {e:#}");
            return ExitCode::from(1);
        }
    };
    init_tracing(settings.log_level.as_deref());
    let outcome = match cli.command {
        Command::Daemon(args) => engine_core::Engine::open(settings)
            .and_then(|engine| engine_api::run(engine, daemon_options(args))),
        command => engine_cli::run(command, settings),
    };
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// `engine daemon`'s flags, as the API crate takes them.
fn daemon_options(a: DaemonArgs) -> engine_api::DaemonOptions {
    engine_api::DaemonOptions {
        hosts: a.hosts,
        group: a.group,
        tls: a.tls,
        tlsverify: a.tlsverify,
        tlscacert: a.tlscacert,
        tlscert: a.tlscert,
        tlskey: a.tlskey,
        api_header_timeout: a.api_header_timeout,
        api_max_connections: a.api_max_connections,
    }
}

fn init_tracing(level: Option<&str>) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ENGINE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level.unwrap_or("warn")));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
