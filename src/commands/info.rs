//! `engine info`: what `docker info` shows, for this engine.

use std::io::Write;
use std::path::Path;

use anyhow::Result;

use crate::container::store::ContainerStore;
use crate::engine::Engine;

pub fn run(engine: &Engine) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let uname = nix::sys::utsname::uname()?;
    let store = ContainerStore::open(&engine.settings.data_root)?;
    let containers = store.list()?;
    let running = containers
        .iter()
        .filter(|c| c.state.running && store.monitor_alive(&c.id))
        .count();
    writeln!(out, "Containers: {}", containers.len())?;
    writeln!(out, " Running: {running}")?;
    writeln!(out, " Paused: 0")?;
    writeln!(out, " Stopped: {}", containers.len() - running)?;
    writeln!(out, "Images: {}", engine.images.list()?.len())?;
    writeln!(out, "Server Version: {}", env!("CARGO_PKG_VERSION"))?;
    writeln!(out, "Storage Driver: {}", engine.driver.name())?;
    for (k, v) in engine.driver.status() {
        writeln!(out, " {k}: {v}")?;
    }
    writeln!(out, " Layers: {}", engine.layers.list()?.len())?;
    writeln!(out, "Logging Driver: json-file")?;
    writeln!(out, "Cgroup Driver: cgroupfs")?;
    let cgroup_version = match runtime::cgroup::detect(Path::new(runtime::cgroup::CGROUP_ROOT)) {
        Some((runtime::cgroup::CgroupVersion::V1, _)) => "1",
        Some((runtime::cgroup::CgroupVersion::V2, _)) => "2",
        None => "none (no memory controller)",
    };
    writeln!(out, "Cgroup Version: {cgroup_version}")?;
    writeln!(out, "Kernel Version: {}", uname.release().to_string_lossy())?;
    writeln!(out, "Operating System: {}", os_name())?;
    writeln!(out, "Architecture: {}", std::env::consts::ARCH)?;
    writeln!(
        out,
        "CPUs: {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    )?;
    writeln!(out, "Total Memory: {}", total_memory())?;
    writeln!(
        out,
        "Engine Root Dir: {}",
        engine.settings.data_root.display()
    )?;
    Ok(())
}

fn os_name() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn total_memory() -> String {
    let kib = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    });
    match kib {
        Some(k) => format!("{:.2}GiB", k as f64 / (1024.0 * 1024.0)),
        None => "unknown".into(),
    }
}
