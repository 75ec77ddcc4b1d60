//! `engine` commands: info.

use anyhow::Result;
use engine_core::engine::Engine;
use engine_core::info::gather;
use std::io::Write;

pub fn run(engine: &Engine) -> Result<()> {
    let info = gather(engine)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "Containers: {}", info.containers)?;
    writeln!(out, " Running: {}", info.running)?;
    writeln!(out, " Paused: {}", info.paused)?;
    writeln!(
        out,
        " Stopped: {}",
        info.containers - info.running - info.paused
    )?;
    writeln!(out, "Images: {}", info.images)?;
    writeln!(out, "Server Version: {}", env!("CARGO_PKG_VERSION"))?;
    writeln!(out, "Storage Driver: {}", info.driver)?;
    for (k, v) in &info.driver_status {
        writeln!(out, " {k}: {v}")?;
    }
    writeln!(out, " Layers: {}", info.layers)?;
    writeln!(out, "Logging Driver: json-file")?;
    writeln!(out, "Cgroup Driver: cgroupfs")?;
    writeln!(out, "Cgroup Version: {}", info.cgroup_version)?;
    writeln!(out, "Kernel Version: {}", info.kernel)?;
    writeln!(out, "Operating System: {}", info.os)?;
    writeln!(out, "Architecture: {}", info.arch)?;
    writeln!(out, "CPUs: {}", info.cpus)?;
    let gib = info.memory_bytes as f64 / (1024.0 * 1024.0 * 1024.0);
    writeln!(out, "Total Memory: {gib:.2}GiB")?;
    writeln!(out, "Engine Root Dir: {}", info.root_dir)?;
    Ok(())
}
