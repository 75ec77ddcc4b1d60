//! `engine info`: what `docker info` shows, for this engine.

use std::path::Path;

use anyhow::Result;

use crate::container::store::ContainerStore;
use crate::engine::Engine;

/// What `info` reports, gathered once for the CLI's text and the API's JSON.
#[derive(Debug)]
pub struct SystemInfo {
    /// Containers of every state.
    pub containers: usize,
    /// Containers running (paused ones not included).
    pub running: usize,
    /// Running but frozen (counted apart from `running`, as Docker does).
    pub paused: usize,
    /// Images in the store.
    pub images: usize,
    /// The storage driver's name.
    pub driver: String,
    /// The driver's own report (backing filesystem, pool usage, ...).
    pub driver_status: Vec<(String, String)>,
    /// Layers in the layer store.
    pub layers: usize,
    /// `1` or `2`.
    pub cgroup_version: &'static str,
    /// The kernel release (`uname -r`).
    pub kernel: String,
    /// The host's operating system, from /etc/os-release.
    pub os: String,
    /// This build's architecture (`x86_64`).
    pub arch: &'static str,
    /// CPUs this process may run on.
    pub cpus: usize,
    /// Physical memory.
    pub memory_bytes: u64,
    /// The data root.
    pub root_dir: String,
}

/// Counts and describes what the engine and its host have now.
pub fn gather(engine: &Engine) -> Result<SystemInfo> {
    let store = ContainerStore::open(&engine.settings.data_root)?;
    let containers = store.list()?;
    let live: Vec<_> = containers
        .iter()
        .filter(|c| c.state.running && store.monitor_alive(&c.id))
        .collect();
    let paused = live.iter().filter(|c| c.state.paused).count();
    let running = live.len() - paused;
    let cgroup_version = match runtime::cgroup::detect(Path::new(runtime::cgroup::CGROUP_ROOT)) {
        Some((runtime::cgroup::CgroupVersion::V1, _)) => "1",
        Some((runtime::cgroup::CgroupVersion::V2, _)) => "2",
        None => "none (no memory controller)",
    };
    Ok(SystemInfo {
        containers: containers.len(),
        running,
        paused,
        images: engine.images.list()?.len(),
        driver: engine.driver.name().to_string(),
        driver_status: engine.driver.status(),
        layers: engine.layers.list()?.len(),
        cgroup_version,
        kernel: nix::sys::utsname::uname()?
            .release()
            .to_string_lossy()
            .into_owned(),
        os: os_name(),
        arch: std::env::consts::ARCH,
        cpus: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        memory_bytes: total_memory(),
        root_dir: engine.settings.data_root.display().to_string(),
    })
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

/// Bytes of RAM (MemTotal), 0 when unknown.
fn total_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}
