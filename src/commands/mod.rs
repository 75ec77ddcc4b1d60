//! One module per command.

mod image;
mod info;
mod layer;

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::Command;
use crate::config::Settings;
use crate::engine::Engine;

/// Runs one command with the settings in effect.
pub fn run(command: Command, settings: Settings) -> Result<ExitCode> {
    let engine = Engine::open(settings)?;
    match command {
        Command::Info => info::run(&engine)?,
        Command::Layer(cmd) => layer::run(&engine, cmd)?,
        Command::Import(args) => image::import(&engine, args)?,
        Command::Images(args) => image::list(&engine, args)?,
        Command::Tag { source, target } => image::tag(&engine, &source, &target)?,
        Command::Rmi(args) => image::remove(&engine, args)?,
        Command::History(args) => image::history(&engine, args)?,
        Command::Image(cmd) => image::run(&engine, cmd)?,
    }
    Ok(ExitCode::SUCCESS)
}
