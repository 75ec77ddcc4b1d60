//! `engine`: a container engine built around pluggable copy-on-write storage drivers.
//!
//! The binary is thin: it parses the command line and daemon.json ([`config`]), picks the
//! storage driver from the explicit table in [`drivers`] (selection itself lives in `graph`),
//! opens the stores ([`engine::Engine`]) and runs one command from [`commands`].

// The API's JSON documents (`/info`) are large `json!` literals.
#![recursion_limit = "256"]

mod build;
mod changes;
mod cli;
mod cli_bench;
mod commands;
mod config;
mod container;
mod daemon;
mod drivers;
mod engine;
mod events;
mod human;
mod image_archive;
mod network;
mod owned;
mod progress;
mod registry;
mod reserve;
mod sweep;
mod template;
mod volume;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
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
    let settings = match config::resolve(&cli.global) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("Error: {e:#}");
            return ExitCode::from(1);
        }
    };
    init_tracing(settings.log_level.as_deref());
    match commands::run(cli.command, settings) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::from(1)
        }
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
