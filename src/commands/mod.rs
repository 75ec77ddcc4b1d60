//! One module per command.

mod info;
mod layer;

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::{Cli, Command};
use crate::config;
use crate::engine::Engine;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    let settings = config::resolve(&cli.global)?;
    let engine = Engine::open(settings)?;
    match cli.command {
        Command::Info => info::run(&engine)?,
        Command::Layer(cmd) => layer::run(&engine, cmd)?,
    }
    Ok(ExitCode::SUCCESS)
}
