//! The command line, shaped like Docker's.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// A container engine built around pluggable copy-on-write storage drivers.
#[derive(Debug, Parser)]
#[command(name = "engine", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes (Docker's daemon flags, since `engine` runs without a daemon).
#[derive(Debug, Args)]
pub struct GlobalOpts {
    /// Storage driver to use (overlay2, vfs); default: detected as Docker does
    #[arg(short = 's', long, global = true, value_name = "DRIVER")]
    pub storage_driver: Option<String>,
    /// Storage driver option, e.g. overlay2.size=10G (repeatable)
    #[arg(long = "storage-opt", global = true, value_name = "KEY=VALUE")]
    pub storage_opts: Vec<String>,
    /// Root directory of persistent engine state [default: /var/lib/engine]
    #[arg(long, global = true, value_name = "DIR")]
    pub data_root: Option<PathBuf>,
    /// Daemon configuration file [default: /etc/engine/daemon.json]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log level: error, warn, info, debug, trace
    #[arg(short = 'l', long, global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Display system-wide information
    Info,
    /// Manage read-only layers in the layer store
    #[command(subcommand)]
    Layer(LayerCommand),
}

#[derive(Debug, Subcommand)]
pub enum LayerCommand {
    /// Store a layer from a tar archive (plain, gzip or zstd); prints its chain id
    Import {
        /// The archive, or - for standard input
        file: PathBuf,
        /// Chain id of the layer to put it on
        #[arg(long)]
        parent: Option<String>,
    },
    /// List layers
    #[command(alias = "list")]
    Ls {
        /// Only print chain ids
        #[arg(short, long)]
        quiet: bool,
    },
    /// Write a layer's tar (its changes on its parent) to a file or standard output
    Export {
        chain_id: String,
        /// Write to a file instead of standard output
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// List what a layer changes on its parent (A added, C changed, D deleted)
    Diff { chain_id: String },
    /// Remove one or more layers
    #[command(alias = "remove")]
    Rm {
        #[arg(required = true)]
        chain_ids: Vec<String>,
    },
}
