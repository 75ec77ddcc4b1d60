//! At start: containers whose monitors died (a crash, a reboot) are recorded as exited
//! (reading the store does that), and those whose restart policy says so are started again,
//! as dockerd does: `always`, and `unless-stopped` unless the user stopped it. Running
//! containers are left alone: their monitors own them, and outlive any daemon.

use super::server::{AppState, blocking, reap};
use engine_core::container::lifecycle;
use engine_core::container::record::{Record, ZERO_TIME};
use engine_core::container::store::ContainerStore;

/// Whether a container that no monitor owns is started when the daemon starts. One never
/// started is left as created.
pub fn starts_at_boot(r: &Record) -> bool {
    if r.state.started_at == ZERO_TIME || r.state.dead {
        return false;
    }
    match r.host_config.restart_policy.name.as_str() {
        "always" => true,
        "unless-stopped" => !r.has_been_manually_stopped,
        _ => false,
    }
}

/// Starts the containers [`starts_at_boot`] picks; failures are logged, not fatal.
pub async fn restart_containers(state: AppState) {
    let started = blocking(&state, |engine| {
        let store = ContainerStore::open(&engine.settings.data_root)?;
        let mut children = Vec::new();
        for record in store.list()? {
            if store.monitor_alive(&record.id) || !starts_at_boot(&record) {
                continue;
            }
            tracing::info!(container = %record.id, "starting container (restart policy)");
            match lifecycle::start_one(engine, &store, &record) {
                Ok(Some(child)) => children.push(child),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(container = %record.id, error = %format!("{e:#}"), "cannot restart container");
                }
            }
        }
        Ok(children)
    })
    .await;
    match started {
        Ok(children) => children.into_iter().for_each(reap),
        Err(e) => tracing::warn!(error = %e.message, "restoring containers failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(policy: &str, stopped: bool, started: bool) -> Record {
        let mut r: Record = serde_json::from_value(serde_json::json!({
            "Id": "a", "Created": "", "Path": "sh", "Args": [], "Image": "", "Name": "/a",
            "RestartCount": 0, "Driver": "vfs",
            "State": {"Status": "exited", "Running": false, "Paused": false,
                "Restarting": false, "OOMKilled": false, "Dead": false, "Pid": 0,
                "ExitCode": 0, "Error": "", "StartedAt": ZERO_TIME, "FinishedAt": ZERO_TIME},
            "Config": {"Hostname": "", "User": "", "OpenStdin": false, "Tty": false,
                "Env": [], "Cmd": null, "Entrypoint": null, "Image": "", "WorkingDir": ""},
            "HostConfig": {"Binds": [], "NetworkMode": "bridge", "PortBindings": {},
                "RestartPolicy": {"Name": policy, "MaximumRetryCount": 0},
                "AutoRemove": false, "Memory": 0, "MemorySwap": 0},
            "HostnamePath": "", "HostsPath": "", "ResolvConfPath": "", "LogPath": ""
        }))
        .unwrap();
        r.has_been_manually_stopped = stopped;
        if started {
            r.state.started_at = "2024-01-01T00:00:00Z".into();
        }
        r
    }

    #[test]
    fn restart_policies_decide_as_dockerd_does() {
        assert!(starts_at_boot(&record("always", false, true)));
        assert!(starts_at_boot(&record("always", true, true)));
        assert!(starts_at_boot(&record("unless-stopped", false, true)));
        assert!(!starts_at_boot(&record("unless-stopped", true, true)));
        assert!(!starts_at_boot(&record("on-failure", false, true)));
        assert!(!starts_at_boot(&record("no", false, true)));
        assert!(!starts_at_boot(&record("always", false, false)));
    }
}
