//! `engine`'s command line, shaped like Docker's: the arguments ([`args`], clap) and one
//! module per command that calls the core (`engine_core`) and prints what it returns in
//! Docker's formats (tables, `--format` templates, progress).
//!
//! `engine daemon` is parsed here but served by `engine_api`, which the binary calls
//! directly: the CLI and the API are siblings over the same core.

// The clap definitions of `engine run` are a large derive.
#![recursion_limit = "256"]

pub mod args;
pub mod bench_args;
mod commands;
pub mod health_args;
mod template;

use std::process::ExitCode;

use anyhow::Result;
use engine_core::config::{Overrides, Settings};

pub use args::{Cli, Command, DaemonArgs, GlobalOpts};

/// Runs one command (any but `daemon`) with the settings in effect.
pub fn run(command: Command, settings: Settings) -> Result<ExitCode> {
    commands::run(command, settings)
}

impl From<&GlobalOpts> for Overrides {
    fn from(g: &GlobalOpts) -> Self {
        Overrides {
            storage_driver: g.storage_driver.clone(),
            storage_opts: g.storage_opts.clone(),
            data_root: g.data_root.clone(),
            config: g.config.clone(),
            log_level: g.log_level.clone(),
            insecure_registries: g.insecure_registries.clone(),
            bip: g.bip.clone(),
            bridge: g.bridge.clone(),
            default_address_pools: g.default_address_pools.clone(),
        }
    }
}
