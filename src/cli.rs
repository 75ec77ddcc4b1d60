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
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// List images
    Images(ImagesArgs),
    /// Manage images
    #[command(subcommand)]
    Image(ImageCommand),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag {
        source: String,
        target: String,
    },
    /// Remove one or more images
    Rmi(RmiArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Manage read-only layers in the layer store
    #[command(subcommand)]
    Layer(LayerCommand),
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image (CMD, ENTRYPOINT, ENV, ...)
    #[arg(short, long = "change", value_name = "INSTRUCTION")]
    pub changes: Vec<String>,
    /// Set commit message for imported image
    #[arg(short, long)]
    pub message: Option<String>,
    /// Set platform if server is multi-platform capable (only this host's is accepted)
    #[arg(long)]
    pub platform: Option<String>,
    /// The tarball (plain, gzip or zstd), or - for standard input
    pub file: String,
    /// Name and tag for the image
    pub reference: Option<String>,
}

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short, long)]
    pub all: bool,
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Filter output based on conditions provided (dangling=true|false, reference=PATTERN)
    #[arg(short, long = "filter")]
    pub filters: Vec<String>,
    /// Only images of this repository (and tag)
    pub reference: Option<String>,
}

#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short, long)]
    pub force: bool,
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    pub image: String,
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// List images
    #[command(alias = "list")]
    Ls(ImagesArgs),
    /// Display detailed information on one or more images
    Inspect {
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Remove one or more images
    #[command(alias = "remove")]
    Rm(RmiArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag { source: String, target: String },
    /// Remove unused (dangling) images
    Prune {
        /// Remove all images without at least one container... (all unused images)
        #[arg(short, long)]
        all: bool,
        /// Do not prompt for confirmation
        #[arg(short, long)]
        force: bool,
    },
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
