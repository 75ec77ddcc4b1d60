//! The workload tool of `benches/compare.sh`: writes the layers the comparison uses, and runs
//! the shared write workloads (`benches/workloads/mod.rs`, the very code the criterion bench
//! runs) on any directory by hand. compare.sh itself runs the workloads inside each
//! contender's containers through `engine bench --run-workloads` (the same code), so that the
//! driver and the limit are measured from the same process context.
//!
//! ```text
//! cargo build --release --example workload
//! target/release/examples/workload run DIR [--quick]         JSON timings (seconds) on stdout
//! target/release/examples/workload base-tar OUT [--quick] [--busybox PATH]
//! target/release/examples/workload apply-tar OUT [--quick]
//! ```
//!
//! `run` expects DIR to hold the image layer's files (a container root made from the
//! `base-tar` layer, or the layer extracted on the bare filesystem) and leaves its output
//! under `DIR/bench-out`.

#[path = "workloads/mod.rs"]
mod workloads;

use std::io::BufWriter;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use workloads::Sizes;

#[derive(Parser, Debug)]
#[command(about = "Runs the engine benchmark workloads on a directory")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the four write workloads on DIR and print their timings as JSON.
    Run {
        /// A container's root directory (or a bare one holding the image layer's files).
        dir: PathBuf,
        /// Smoke-test sizes instead of the benchmark's.
        #[arg(long)]
        quick: bool,
    },
    /// Write the image layer (64 MiB + 100 MiB files, small files) as a tar.
    BaseTar {
        out: PathBuf,
        #[arg(long)]
        quick: bool,
        /// A static busybox to include as /bin/busybox (with sh, sleep, true).
        #[arg(long)]
        busybox: Option<PathBuf>,
    },
    /// Write the 150 MB / 10,000-file layer of the apply/load benchmark as a tar.
    ApplyTar {
        out: PathBuf,
        #[arg(long)]
        quick: bool,
    },
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("workload: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<()> {
    match args.command {
        Command::Run { dir, quick } => {
            let sizes = Sizes::pick(quick);
            let timings = workloads::run_all(&dir, &sizes)
                .with_context(|| format!("running the workloads on {}", dir.display()))?;
            let doc = serde_json::json!({ "timings": timings, "sizes": sizes });
            println!("{doc}");
        }
        Command::BaseTar {
            out,
            quick,
            busybox,
        } => {
            let file = create(&out)?;
            workloads::write_base_layer(file, &Sizes::pick(quick), busybox.as_deref())
                .with_context(|| format!("writing {}", out.display()))?;
        }
        Command::ApplyTar { out, quick } => {
            let file = create(&out)?;
            workloads::write_apply_layer(file, &Sizes::pick(quick))
                .with_context(|| format!("writing {}", out.display()))?;
        }
    }
    Ok(())
}

fn create(path: &PathBuf) -> Result<BufWriter<std::fs::File>> {
    let f = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    Ok(BufWriter::new(f))
}
