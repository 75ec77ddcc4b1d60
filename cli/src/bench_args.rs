//! The arguments of `engine bench` (the command itself: `commands/bench.rs`). Kept apart from
//! `cli.rs` so the command's options live beside nothing else.

use std::path::PathBuf;

use clap::Args;

/// `engine bench`: the storage workloads on this host's disk, per storage driver, against
/// the bare filesystem.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Small sizes and one repetition: a smoke run of seconds per driver
    #[arg(long)]
    pub quick: bool,
    /// Repetitions per driver (fresh container on the driver, and a fresh bare directory)
    /// [default: 3, with --quick 1]
    #[arg(long, value_name = "N")]
    pub reps: Option<u32>,
    /// Directory on the disk to measure, where each suite's scratch filesystem image goes
    /// (4 GiB at a time, 1 GiB with --quick) [default: the data root]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Filesystem made in each suite's scratch image: ext4, or xfs (made with reflink=1)
    #[arg(long, value_name = "FS", default_value = "ext4")]
    pub backing_fs: String,
    /// Output format: table or json
    #[arg(long, value_name = "FORMAT", default_value = "table")]
    pub format: String,
    /// Inside a benchmark container: run the workloads on DIR and print their timings.
    #[arg(long, hide = true, value_name = "DIR")]
    pub run_workloads: Option<PathBuf>,
    /// For benches/compare.sh: print how a container runs this program (its `-v` binds and
    /// command line) as JSON, so other engines run it the same way.
    #[arg(long, hide = true)]
    pub print_program: bool,
}
