//! A running container's resource usage, as Docker's stats document (API 1.41) reports it:
//! CPU (the container's cgroup CPU accounting, or, where the container has no CPU cgroup,
//! the CPU times of its processes from /proc), memory (usage, peak, limit, `memory.stat`),
//! pids, block I/O (the blkio/io cgroup files, when the container has that cgroup) and
//! network I/O (its network namespace's interfaces), from cgroup v1 or v2.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::record::{Record, ZERO_TIME};
use runtime::cgroup::{CGROUP_ROOT, CgroupVersion, detect};

/// One reading.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// RFC 3339 time of the reading (Docker's zero time for none).
    pub read: String,
    /// CPU time of the container's processes, in ns.
    pub cpu_total_ns: u64,
    /// Of which in user mode.
    pub cpu_user_ns: u64,
    /// Of which in kernel mode.
    pub cpu_kernel_ns: u64,
    /// CPU time per CPU (cgroup v1 cpuacct only; empty otherwise).
    pub percpu_ns: Vec<u64>,
    /// The host's CPU time, all CPUs, in ns (the denominator of CPU %).
    pub system_ns: u64,
    /// CPUs online.
    pub online_cpus: u64,
    /// CFS periods, throttled periods, throttled time (ns).
    pub throttling: (u64, u64, u64),
    /// Memory in use, page cache included, in bytes.
    pub memory_usage: u64,
    /// The peak of memory use, where the cgroup records it.
    pub memory_max_usage: Option<u64>,
    /// The memory limit (the host's memory when unlimited).
    pub memory_limit: u64,
    /// `memory.stat`, as the kernel writes it.
    pub memory_stat: BTreeMap<String, u64>,
    /// Processes and threads in the container.
    pub pids: u64,
    /// The pids limit, when set.
    pub pids_limit: Option<u64>,
    /// (major, minor, op, value)
    pub io_bytes: Option<Vec<(u64, u64, String, u64)>>,
    /// (major, minor, op, count) of I/O operations.
    pub io_ops: Option<Vec<(u64, u64, String, u64)>>,
    /// Interface -> rx bytes, rx packets, rx errors, rx dropped, tx the same.
    pub networks: Option<BTreeMap<String, [u64; 8]>>,
}

fn read(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok()
}

fn read_u64(path: &Path) -> Option<u64> {
    let s = read(path)?;
    let s = s.trim();
    if s == "max" {
        return None;
    }
    s.parse().ok()
}

/// `key value` lines.
fn key_values(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some((f.next()?.to_string(), f.next()?.parse().ok()?))
        })
        .collect()
}

fn clock_ticks() -> u64 {
    // SAFETY: sysconf only reads a system constant.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as u64 } else { 100 }
}

/// The host's CPU time (all CPUs, all states) in ns, and the number of CPUs, from /proc/stat.
fn system_cpu() -> (u64, u64) {
    let text = read(Path::new("/proc/stat")).unwrap_or_default();
    let ticks = clock_ticks();
    let mut total = 0;
    let mut cpus = 0;
    for l in text.lines() {
        if let Some(rest) = l.strip_prefix("cpu ") {
            total = rest
                .split_whitespace()
                .take(8)
                .filter_map(|v| v.parse::<u64>().ok())
                .sum::<u64>()
                * 1_000_000_000
                / ticks;
        } else if l.starts_with("cpu") {
            cpus += 1;
        }
    }
    (total, cpus)
}

fn host_memory() -> u64 {
    read(Path::new("/proc/meminfo"))
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// "8:0 Read 123" lines (v1 blkio).
fn blkio_v1(text: &str) -> Vec<(u64, u64, String, u64)> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (maj, min) = f.next()?.split_once(':')?;
            let op = f.next()?.to_string();
            let v = f.next()?.parse().ok()?;
            Some((maj.parse().ok()?, min.parse().ok()?, op, v))
        })
        .collect()
}

/// "8:0 rbytes=1 wbytes=2 rios=3 wios=4 ..." lines (v2 io.stat): bytes and operations.
type IoEntries = Vec<(u64, u64, String, u64)>;
fn io_stat_v2(text: &str) -> (IoEntries, IoEntries) {
    let mut bytes = Vec::new();
    let mut ops = Vec::new();
    for l in text.lines() {
        let mut f = l.split_whitespace();
        let Some((maj, min)) = f.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(maj), Ok(min)) = (maj.parse::<u64>(), min.parse::<u64>()) else {
            continue;
        };
        for kv in f {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let Ok(v) = v.parse::<u64>() else { continue };
            match k {
                "rbytes" => bytes.push((maj, min, "read".to_string(), v)),
                "wbytes" => bytes.push((maj, min, "write".to_string(), v)),
                "rios" => ops.push((maj, min, "read".to_string(), v)),
                "wios" => ops.push((maj, min, "write".to_string(), v)),
                _ => {}
            }
        }
    }
    (bytes, ops)
}

/// /proc/PID/net/dev of the container's init: its namespace's interfaces but loopback.
fn networks(pid: i32) -> Option<BTreeMap<String, [u64; 8]>> {
    let text = read(Path::new(&format!("/proc/{pid}/net/dev")))?;
    let mut out = BTreeMap::new();
    for l in text.lines().skip(2) {
        let Some((name, rest)) = l.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name == "lo" {
            continue;
        }
        let v: Vec<u64> = rest
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        if v.len() < 12 {
            continue;
        }
        out.insert(
            name.to_string(),
            [v[0], v[1], v[2], v[3], v[8], v[9], v[10], v[11]],
        );
    }
    Some(out)
}

/// CPU times (total, user, kernel) in ns of the processes listed in `procs`, their reaped
/// children included: for a container without a CPU cgroup of its own.
fn cpu_from_proc(procs: &[i32]) -> (u64, u64, u64) {
    let ns_per_tick = 1_000_000_000 / clock_ticks();
    let (mut user, mut kernel) = (0, 0);
    for pid in procs {
        let Some(stat) = read(Path::new(&format!("/proc/{pid}/stat"))) else {
            continue;
        };
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        // Fields 14-17 (utime, stime, cutime, cstime), counted after the command name.
        let f: Vec<u64> = rest
            .split_whitespace()
            .skip(11)
            .take(4)
            .filter_map(|x| x.parse().ok())
            .collect();
        if let [ut, st, cut, cst] = f[..] {
            user += (ut + cut) * ns_per_tick;
            kernel += (st + cst) * ns_per_tick;
        }
    }
    (user + kernel, user, kernel)
}

/// Reads container `record`'s usage now (zeros for a container that does not run).
pub fn sample(record: &Record) -> Sample {
    sample_under(Path::new(CGROUP_ROOT), record)
}

fn sample_under(root: &Path, record: &Record) -> Sample {
    let mut s = Sample {
        read: ZERO_TIME.into(),
        ..Default::default()
    };
    if !record.state.running || record.state.pid <= 0 {
        return s;
    }
    let Some((version, base)) = detect(root) else {
        return s;
    };
    s.read = super::log::now();
    let id = &record.id;
    let own: PathBuf = base.join("engine").join(id);
    let procs: Vec<i32> = read(&own.join("cgroup.procs"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    let (system, cpus) = system_cpu();
    s.system_ns = system;
    s.online_cpus = cpus;
    let host_mem = host_memory();
    match version {
        CgroupVersion::V1 => {
            let cpuacct = root.join("cpuacct").join("engine").join(id);
            if let Some(total) = read_u64(&cpuacct.join("cpuacct.usage")) {
                s.cpu_total_ns = total;
                let ticks = key_values(&read(&cpuacct.join("cpuacct.stat")).unwrap_or_default());
                let ns = 1_000_000_000 / clock_ticks();
                s.cpu_user_ns = ticks.get("user").copied().unwrap_or(0) * ns;
                s.cpu_kernel_ns = ticks.get("system").copied().unwrap_or(0) * ns;
                s.percpu_ns = read(&cpuacct.join("cpuacct.usage_percpu"))
                    .unwrap_or_default()
                    .split_whitespace()
                    .filter_map(|v| v.parse().ok())
                    .collect();
            } else {
                (s.cpu_total_ns, s.cpu_user_ns, s.cpu_kernel_ns) = cpu_from_proc(&procs);
            }
            let cpu = root.join("cpu").join("engine").join(id);
            let t = key_values(&read(&cpu.join("cpu.stat")).unwrap_or_default());
            s.throttling = (
                t.get("nr_periods").copied().unwrap_or(0),
                t.get("nr_throttled").copied().unwrap_or(0),
                t.get("throttled_time").copied().unwrap_or(0),
            );
            s.memory_usage = read_u64(&own.join("memory.usage_in_bytes")).unwrap_or(0);
            s.memory_max_usage = read_u64(&own.join("memory.max_usage_in_bytes"));
            s.memory_limit = read_u64(&own.join("memory.limit_in_bytes")).unwrap_or(u64::MAX);
            s.memory_stat = key_values(&read(&own.join("memory.stat")).unwrap_or_default());
            let pids = root.join("pids").join("engine").join(id);
            s.pids = read_u64(&pids.join("pids.current")).unwrap_or_else(|| {
                read(&own.join("tasks")).map_or(0, |t| t.lines().count() as u64)
            });
            s.pids_limit = read_u64(&pids.join("pids.max"));
            let blkio = root.join("blkio").join("engine").join(id);
            if blkio.exists() {
                let pick = |a: &str, b: &str| {
                    read(&blkio.join(a))
                        .filter(|t| !t.trim().is_empty() && !t.starts_with("Total 0"))
                        .or_else(|| read(&blkio.join(b)))
                        .map(|t| blkio_v1(&t))
                };
                s.io_bytes = pick(
                    "blkio.throttle.io_service_bytes_recursive",
                    "blkio.io_service_bytes_recursive",
                );
                s.io_ops = pick(
                    "blkio.throttle.io_serviced_recursive",
                    "blkio.io_serviced_recursive",
                );
            }
        }
        CgroupVersion::V2 => {
            let cpu = key_values(&read(&own.join("cpu.stat")).unwrap_or_default());
            s.cpu_total_ns = cpu.get("usage_usec").copied().unwrap_or(0) * 1000;
            s.cpu_user_ns = cpu.get("user_usec").copied().unwrap_or(0) * 1000;
            s.cpu_kernel_ns = cpu.get("system_usec").copied().unwrap_or(0) * 1000;
            s.throttling = (
                cpu.get("nr_periods").copied().unwrap_or(0),
                cpu.get("nr_throttled").copied().unwrap_or(0),
                cpu.get("throttled_usec").copied().unwrap_or(0) * 1000,
            );
            s.memory_usage = read_u64(&own.join("memory.current")).unwrap_or(0);
            s.memory_max_usage = read_u64(&own.join("memory.peak"));
            s.memory_limit = read_u64(&own.join("memory.max")).unwrap_or(u64::MAX);
            s.memory_stat = key_values(&read(&own.join("memory.stat")).unwrap_or_default());
            s.pids = read_u64(&own.join("pids.current")).unwrap_or_else(|| {
                read(&own.join("cgroup.threads")).map_or(0, |t| t.lines().count() as u64)
            });
            s.pids_limit = read_u64(&own.join("pids.max"));
            if let Some(t) = read(&own.join("io.stat")) {
                let (bytes, ops) = io_stat_v2(&t);
                s.io_bytes = Some(bytes);
                s.io_ops = Some(ops);
            }
        }
    }
    // Unlimited: the host's memory is the limit (as Docker reports it).
    if host_mem > 0 && s.memory_limit > host_mem {
        s.memory_limit = host_mem;
    }
    if record.host_config.network_mode != "host" {
        s.networks = networks(record.state.pid);
    }
    s
}

fn io_json(entries: &Option<Vec<(u64, u64, String, u64)>>) -> Value {
    match entries {
        None => Value::Null,
        Some(list) => Value::Array(
            list.iter()
                .map(|(maj, min, op, v)| json!({"major": maj, "minor": min, "op": op, "value": v}))
                .collect(),
        ),
    }
}

fn cpu_json(s: &Sample) -> Value {
    let mut usage = json!({
        "total_usage": s.cpu_total_ns,
        "usage_in_kernelmode": s.cpu_kernel_ns,
        "usage_in_usermode": s.cpu_user_ns,
    });
    if !s.percpu_ns.is_empty() {
        usage["percpu_usage"] = json!(s.percpu_ns);
    }
    let mut v = json!({
        "cpu_usage": usage,
        "throttling_data": {
            "periods": s.throttling.0,
            "throttled_periods": s.throttling.1,
            "throttled_time": s.throttling.2,
        },
    });
    if s.system_ns > 0 {
        v["system_cpu_usage"] = json!(s.system_ns);
        v["online_cpus"] = json!(s.online_cpus);
    }
    v
}

/// Docker's stats document from a reading and the one before it (`precpu_stats`).
pub fn to_json(record: &Record, cur: &Sample, prev: Option<&Sample>) -> Value {
    let empty = Sample {
        read: ZERO_TIME.into(),
        ..Default::default()
    };
    let prev = prev.unwrap_or(&empty);
    let mut memory = json!({});
    if cur.read != ZERO_TIME {
        memory = json!({
            "usage": cur.memory_usage,
            "stats": cur.memory_stat,
            "limit": cur.memory_limit,
        });
        if let Some(m) = cur.memory_max_usage {
            memory["max_usage"] = json!(m);
        }
    }
    let mut pids = json!({});
    if cur.read != ZERO_TIME {
        pids = json!({ "current": cur.pids });
        if let Some(l) = cur.pids_limit {
            pids["limit"] = json!(l);
        }
    }
    let mut doc = json!({
        "read": cur.read,
        "preread": prev.read,
        "pids_stats": pids,
        "blkio_stats": {
            "io_service_bytes_recursive": io_json(&cur.io_bytes),
            "io_serviced_recursive": io_json(&cur.io_ops),
            "io_queue_recursive": null,
            "io_service_time_recursive": null,
            "io_wait_time_recursive": null,
            "io_merged_recursive": null,
            "io_time_recursive": null,
            "sectors_recursive": null,
        },
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": cpu_json(cur),
        "precpu_stats": cpu_json(prev),
        "memory_stats": memory,
        "name": record.name,
        "id": record.id,
    });
    if let Some(nets) = &cur.networks {
        let mut map = serde_json::Map::new();
        for (name, v) in nets {
            map.insert(
                name.clone(),
                json!({
                    "rx_bytes": v[0], "rx_packets": v[1], "rx_errors": v[2], "rx_dropped": v[3],
                    "tx_bytes": v[4], "tx_packets": v[5], "tx_errors": v[6], "tx_dropped": v[7],
                }),
            );
        }
        doc["networks"] = Value::Object(map);
    }
    doc
}

/// The numbers `docker stats` shows, computed from a document as Docker's CLI does:
/// CPU %, memory used (without the inactive page cache) and limit, memory %, network rx/tx,
/// block read/write, pids.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    /// CPU use since the previous reading, in percent of one CPU.
    pub cpu_percent: f64,
    /// Memory used, without the inactive page cache, in bytes.
    pub mem: f64,
    /// The memory limit, in bytes.
    pub mem_limit: f64,
    /// `mem` in percent of `mem_limit`.
    pub mem_percent: f64,
    /// Bytes received on every interface.
    pub net_rx: f64,
    /// Bytes sent on every interface.
    pub net_tx: f64,
    /// Bytes read from block devices.
    pub block_read: f64,
    /// Bytes written to block devices.
    pub block_write: f64,
    /// Processes and threads.
    pub pids: u64,
}

impl Row {
    /// The row of one stats document (with its `precpu_stats`).
    pub fn from_json(v: &Value) -> Row {
        let n = |v: &Value| v.as_f64().unwrap_or(0.0);
        let cpu_delta = n(&v["cpu_stats"]["cpu_usage"]["total_usage"])
            - n(&v["precpu_stats"]["cpu_usage"]["total_usage"]);
        let system_delta =
            n(&v["cpu_stats"]["system_cpu_usage"]) - n(&v["precpu_stats"]["system_cpu_usage"]);
        let cpus = match n(&v["cpu_stats"]["online_cpus"]) {
            c if c > 0.0 => c,
            _ => v["cpu_stats"]["cpu_usage"]["percpu_usage"]
                .as_array()
                .map_or(1.0, |a| a.len().max(1) as f64),
        };
        let cpu_percent = if cpu_delta > 0.0 && system_delta > 0.0 {
            cpu_delta / system_delta * cpus * 100.0
        } else {
            0.0
        };
        let stats = &v["memory_stats"]["stats"];
        let inactive = stats
            .get("total_inactive_file")
            .or_else(|| stats.get("inactive_file"))
            .map_or(0.0, n);
        let usage = n(&v["memory_stats"]["usage"]);
        let mem = if inactive < usage {
            usage - inactive
        } else {
            usage
        };
        let mem_limit = n(&v["memory_stats"]["limit"]);
        let mem_percent = if mem_limit > 0.0 {
            mem / mem_limit * 100.0
        } else {
            0.0
        };
        let (mut rx, mut tx) = (0.0, 0.0);
        if let Some(nets) = v["networks"].as_object() {
            for i in nets.values() {
                rx += n(&i["rx_bytes"]);
                tx += n(&i["tx_bytes"]);
            }
        }
        let (mut br, mut bw) = (0.0, 0.0);
        if let Some(list) = v["blkio_stats"]["io_service_bytes_recursive"].as_array() {
            for e in list {
                match e["op"].as_str().map(str::to_ascii_lowercase).as_deref() {
                    Some("read") => br += n(&e["value"]),
                    Some("write") => bw += n(&e["value"]),
                    _ => {}
                }
            }
        }
        Row {
            cpu_percent,
            mem,
            mem_limit,
            mem_percent,
            net_rx: rx,
            net_tx: tx,
            block_read: br,
            block_write: bw,
            pids: v["pids_stats"]["current"].as_u64().unwrap_or(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_files_parse() {
        let (b, o) = io_stat_v2("8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0\n");
        assert_eq!(
            b,
            vec![(8, 0, "read".into(), 10), (8, 0, "write".into(), 20)]
        );
        assert_eq!(o.len(), 2);
        assert_eq!(
            blkio_v1("8:0 Read 5\n8:0 Write 6\nTotal 11\n"),
            vec![(8, 0, "Read".into(), 5), (8, 0, "Write".into(), 6)]
        );
        assert_eq!(key_values("cache 4096\nrss 8192\n")["rss"], 8192);
    }

    #[test]
    fn rows_compute_as_dockers_cli() {
        let v = json!({
            "cpu_stats": {"cpu_usage": {"total_usage": 300}, "system_cpu_usage": 2000, "online_cpus": 2},
            "precpu_stats": {"cpu_usage": {"total_usage": 100}, "system_cpu_usage": 1000},
            "memory_stats": {"usage": 1000, "limit": 4000, "stats": {"total_inactive_file": 200}},
            "networks": {"eth0": {"rx_bytes": 5, "tx_bytes": 7}},
            "blkio_stats": {"io_service_bytes_recursive": [{"op": "Read", "value": 3}, {"op": "write", "value": 4}]},
            "pids_stats": {"current": 3},
        });
        let r = Row::from_json(&v);
        assert!((r.cpu_percent - 40.0).abs() < 1e-9);
        assert_eq!(r.mem, 800.0);
        assert!((r.mem_percent - 20.0).abs() < 1e-9);
        assert_eq!(
            (r.net_rx, r.net_tx, r.block_read, r.block_write, r.pids),
            (5.0, 7.0, 3.0, 4.0, 3)
        );
    }
}
