//! `engine update` and `POST /containers/{id}/update`: new resource limits and restart policy
//! for a container, running or not. The live cgroup is written first (so a limit the kernel
//! refuses, such as memory below what is in use, changes nothing), then the record, which
//! the next start applies again.

use std::path::Path;

use anyhow::{Context, Result, bail};
use runtime::{ContainerSpec, Resources};

use super::record::{HostConfig, Record, RestartPolicy};
use super::store::ContainerStore;
use super::{create, restart};
use crate::engine::Engine;
use crate::error::EngineError;

/// What to change; `None` leaves a setting as it is (Docker's 0 / "").
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Update {
    /// `-m` in bytes.
    pub memory: Option<i64>,
    /// `--memory-swap` in bytes (-1: unlimited).
    pub memory_swap: Option<i64>,
    /// `--memory-reservation` in bytes.
    pub memory_reservation: Option<i64>,
    /// `--cpu-shares`.
    pub cpu_shares: Option<i64>,
    /// `--cpus` in billionths of a CPU.
    pub nano_cpus: Option<i64>,
    /// `--cpu-period` (microseconds).
    pub cpu_period: Option<i64>,
    /// `--cpu-quota` (microseconds).
    pub cpu_quota: Option<i64>,
    /// `--cpuset-cpus`.
    pub cpuset_cpus: Option<String>,
    /// `--cpuset-mems`.
    pub cpuset_mems: Option<String>,
    /// `--pids-limit` (0 or -1: unlimited).
    pub pids_limit: Option<i64>,
    /// `--restart`.
    pub restart_policy: Option<RestartPolicy>,
}

/// Docker's conflict answer (409), worded as dockerd words it.
fn conflict(id: &str, why: &str) -> anyhow::Error {
    EngineError::conflict(format!("Cannot update container {id}: {why}")).into()
}

/// Memory plus swap as the kernel has it: the stored value, or twice the memory limit when
/// none was given (Docker's default); 0 when unlimited.
fn effective_swap(hc: &HostConfig) -> i64 {
    match hc.memory_swap {
        0 if hc.memory > 0 => hc.memory.saturating_mul(2),
        s => s,
    }
}

/// The host config `u` makes of `hc`, refused with Docker's conflicts and checks.
fn updated(id: &str, hc: &HostConfig, u: &Update) -> Result<(HostConfig, Vec<String>)> {
    let mut new = hc.clone();
    let c = &hc.confinement;
    let set = |v: Option<i64>| v.is_some_and(|n| n > 0);
    if set(u.nano_cpus) && c.cpu_period > 0 {
        return Err(conflict(
            id,
            "Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set",
        ));
    }
    if set(u.nano_cpus) && c.cpu_quota > 0 {
        return Err(conflict(
            id,
            "Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set",
        ));
    }
    if set(u.cpu_period) && c.nano_cpus > 0 {
        return Err(conflict(
            id,
            "Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set",
        ));
    }
    if set(u.cpu_quota) && c.nano_cpus > 0 {
        return Err(conflict(
            id,
            "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set",
        ));
    }
    if let Some(m) = u.memory {
        let swap = effective_swap(hc);
        // A container without a memory limit has no memory+swap limit to be under: it gets
        // Docker's default (twice the memory) with the new limit.
        if swap > 0 && m > swap && u.memory_swap.is_none() {
            return Err(conflict(
                id,
                "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time",
            ));
        }
        if hc.memory_swap == 0 && hc.memory > 0 && u.memory_swap.is_none() {
            // Keep the swap the container has (Docker stores the doubled value at create).
            new.memory_swap = swap;
        }
        new.memory = m;
    }
    if let Some(s) = u.memory_swap {
        new.memory_swap = s;
    }
    if let Some(r) = u.memory_reservation {
        new.options.memory_reservation = r;
    }
    let nc = &mut new.confinement;
    if let Some(v) = u.cpu_shares {
        nc.cpu_shares = v;
    }
    if let Some(v) = u.nano_cpus {
        nc.nano_cpus = v;
    }
    if let Some(v) = u.cpu_period {
        nc.cpu_period = v;
    }
    if let Some(v) = u.cpu_quota {
        nc.cpu_quota = v;
    }
    if let Some(v) = &u.cpuset_cpus {
        nc.cpuset_cpus = v.clone();
    }
    if let Some(v) = &u.cpuset_mems {
        nc.cpuset_mems = v.clone();
    }
    if let Some(v) = u.pids_limit {
        nc.pids_limit = Some(v);
    }
    if let Some(p) = &u.restart_policy {
        restart::parse(&p.name)?;
        if p.maximum_retry_count > 0 && p.name != "on-failure" {
            bail!("invalid restart policy: maximum retry count can only be used with 'on-failure'");
        }
        if hc.auto_remove && restart::is_set(p) {
            return Err(conflict(
                id,
                "Restart policy cannot be updated because AutoRemove is enabled for the container",
            ));
        }
        new.restart_policy = p.clone();
    }
    create::check_memory(new.memory, new.memory_swap)?;
    let mut warnings = new
        .confinement
        .validate(&new.network_mode, new.memory)
        .with_context(|| format!("Cannot update container {id}"))?;
    let mut options = new.options.clone();
    warnings.extend(
        options
            .validate(new.memory)
            .with_context(|| format!("Cannot update container {id}"))?,
    );
    Ok((new, warnings))
}

/// The limits of `hc` that `u` touches, as the runtime writes them.
fn live_resources(id: &str, hc: &HostConfig, u: &Update) -> Result<Resources> {
    let mut spec = ContainerSpec::new(id, "/", vec!["true".into()]);
    hc.confinement.apply(&mut spec)?;
    hc.options.apply(&mut spec);
    let full = spec.resources;
    let mut res = Resources::default();
    if u.memory.is_some() || u.memory_swap.is_some() {
        res.memory = (hc.memory > 0).then_some(hc.memory as u64);
        res.memory_swap = match hc.memory_swap {
            s if s > 0 => Some(s as u64),
            -1 if hc.memory > 0 => Some(i64::MAX as u64),
            _ => None,
        };
    }
    if u.memory_reservation.is_some() {
        res.memory_reservation = full.memory_reservation;
    }
    if u.cpu_shares.is_some() {
        res.cpu_shares = full.cpu_shares;
    }
    if u.nano_cpus.is_some() || u.cpu_period.is_some() || u.cpu_quota.is_some() {
        res.cpu_period = full.cpu_period;
        res.cpu_quota = full.cpu_quota;
    }
    if u.cpuset_cpus.is_some() {
        res.cpuset_cpus = full.cpuset_cpus;
    }
    if u.cpuset_mems.is_some() {
        res.cpuset_mems = full.cpuset_mems;
    }
    if u.pids_limit.is_some() {
        // Unlimited is written as "max".
        res.pids_limit = Some(full.pids_limit.unwrap_or(u64::MAX));
    }
    Ok(res)
}

/// Applies `u` to `record` (live when it runs); returns Docker's warnings.
pub fn update(
    engine: &Engine,
    store: &ContainerStore,
    record: &Record,
    u: &Update,
) -> Result<Vec<String>> {
    let id = &record.id;
    let (new, warnings) = updated(id, &record.host_config, u)?;
    if record.state.running && store.monitor_alive(id) {
        let root = Path::new(runtime::cgroup::CGROUP_ROOT);
        if let Some(cg) = runtime::cgroup::Cgroup::open(root, id) {
            let res = live_resources(id, &new, u)?;
            cg.update(&res)
                .with_context(|| format!("Cannot update container {id}"))?;
        }
    }
    let stored = store.update(id, |r| {
        let hc = &mut r.host_config;
        hc.memory = new.memory;
        hc.memory_swap = new.memory_swap;
        hc.options.memory_reservation = new.options.memory_reservation;
        hc.confinement = new.confinement.clone();
        hc.restart_policy = new.restart_policy.clone();
    })?;
    crate::events::container(&engine.settings.data_root, "update", &stored);
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hc(memory: i64, swap: i64) -> HostConfig {
        HostConfig {
            memory,
            memory_swap: swap,
            network_mode: "bridge".into(),
            ..Default::default()
        }
    }

    #[test]
    fn docker_conflicts_are_refused() {
        let err = |hc: &HostConfig, u: Update| format!("{:#}", updated("c1", hc, &u).unwrap_err());
        let e = err(
            &hc(64 << 20, 0),
            Update {
                memory: Some(256 << 20),
                ..Default::default()
            },
        );
        assert!(
            e.contains("Cannot update container c1: Memory limit should be smaller than already set memoryswap limit"),
            "{e}"
        );
        let mut cpus = hc(0, 0);
        cpus.confinement.nano_cpus = 500_000_000;
        let e = err(
            &cpus,
            Update {
                cpu_quota: Some(50_000),
                ..Default::default()
            },
        );
        assert!(e.contains("CPU Quota cannot be updated as NanoCPUs"), "{e}");
        let mut rm = hc(0, 0);
        rm.auto_remove = true;
        let e = err(
            &rm,
            Update {
                restart_policy: Some(RestartPolicy {
                    name: "always".into(),
                    maximum_retry_count: 0,
                }),
                ..Default::default()
            },
        );
        assert!(e.contains("AutoRemove is enabled"), "{e}");
        let e = err(
            &hc(0, 0),
            Update {
                memory: Some(1024),
                ..Default::default()
            },
        );
        assert!(e.contains("Minimum memory limit allowed is 6MB"), "{e}");
    }

    #[test]
    fn memory_keeps_the_swap_the_container_has() {
        let (new, _) = updated(
            "c1",
            &hc(64 << 20, 0),
            &Update {
                memory: Some(100 << 20),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!((new.memory, new.memory_swap), (100 << 20, 128 << 20));
        let (new, _) = updated(
            "c1",
            &hc(0, 0),
            &Update {
                memory: Some(100 << 20),
                pids_limit: Some(-1),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!((new.memory, new.memory_swap), (100 << 20, 0));
        let res = live_resources(
            "c1",
            &new,
            &Update {
                memory: Some(100 << 20),
                pids_limit: Some(-1),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(res.memory, Some(100 << 20));
        assert_eq!(res.pids_limit, Some(u64::MAX));
        assert_eq!(res.cpu_shares, None);
    }
}
