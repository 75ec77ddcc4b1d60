//! `POST /containers/{id}/update`: Docker's `UpdateConfig` (the resources of `HostConfig`
//! and `RestartPolicy`), as Docker's CLI and the Python SDK send it: 0, "" and null leave a
//! setting as it is; a field this engine does not enforce is refused naming it.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::containers::asks_nothing;
use super::error::{ApiError, ApiResult};
use super::server::{AppState, blocking};
use engine_core::container::record::RestartPolicy;
use engine_core::container::store::ContainerStore;
use engine_core::container::update::{self, Update};

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct UpdateBody {
    memory: Option<i64>,
    memory_swap: Option<i64>,
    memory_reservation: Option<i64>,
    cpu_shares: Option<i64>,
    nano_cpus: Option<i64>,
    cpu_period: Option<i64>,
    cpu_quota: Option<i64>,
    cpuset_cpus: Option<String>,
    cpuset_mems: Option<String>,
    pids_limit: Option<i64>,
    restart_policy: Option<RestartBody>,
    /// Every other field: refused when it asks for something.
    #[serde(flatten)]
    rest: BTreeMap<String, Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct RestartBody {
    name: Option<String>,
    maximum_retry_count: Option<u32>,
}

impl UpdateBody {
    fn into_update(self) -> ApiResult<Update> {
        if let Some((key, value)) = self.rest.iter().find(|(_, v)| !asks_nothing(v)) {
            return Err(ApiError::bad_request(format!(
                "{key} is not supported by this engine's update (got {value})"
            )));
        }
        let set = |v: Option<i64>| v.filter(|n| *n != 0);
        let text = |v: Option<String>| v.filter(|s| !s.is_empty());
        Ok(Update {
            memory: set(self.memory),
            memory_swap: set(self.memory_swap),
            memory_reservation: set(self.memory_reservation),
            cpu_shares: set(self.cpu_shares),
            nano_cpus: set(self.nano_cpus),
            cpu_period: set(self.cpu_period),
            cpu_quota: set(self.cpu_quota),
            cpuset_cpus: text(self.cpuset_cpus),
            cpuset_mems: text(self.cpuset_mems),
            pids_limit: self.pids_limit,
            restart_policy: self.restart_policy.and_then(|p| {
                p.name.filter(|n| !n.is_empty()).map(|name| RestartPolicy {
                    name,
                    maximum_retry_count: p.maximum_retry_count.unwrap_or(0),
                })
            }),
        })
    }
}

/// `POST /containers/{id}/update`: `{"Warnings": [...]}`.
pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    let body: UpdateBody = if body.is_empty() {
        UpdateBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("invalid update body: {e}")))?
    };
    let wanted = body.into_update()?;
    let warnings = blocking(&state, move |engine| {
        let store = ContainerStore::open(&engine.settings.data_root)?;
        let record = store.resolve(&id)?;
        update::update(engine, &store, &record, &wanted)
    })
    .await?;
    Ok(Json(json!({ "Warnings": warnings })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockers_update_body_becomes_an_update() {
        // What Docker's CLI 20.10 sends for `docker update -m 128m --restart always c`.
        let body: UpdateBody = serde_json::from_value(json!({
            "BlkioWeight": 0, "BlkioWeightDevice": null, "CgroupParent": "", "CpuShares": 0,
            "CpuPeriod": 0, "CpuQuota": 0, "CpusetCpus": "", "CpusetMems": "", "Devices": null,
            "KernelMemory": 0, "Memory": 134217728, "MemoryReservation": 0, "MemorySwap": 0,
            "NanoCpus": 0, "PidsLimit": null, "OomKillDisable": null, "Ulimits": null,
            "RestartPolicy": {"Name": "always", "MaximumRetryCount": 0}
        }))
        .unwrap();
        let u = body.into_update().unwrap();
        assert_eq!(u.memory, Some(128 << 20));
        assert_eq!(u.memory_swap, None);
        assert_eq!(u.pids_limit, None);
        assert_eq!(u.restart_policy.unwrap().name, "always");
        let body: UpdateBody = serde_json::from_value(json!({"BlkioWeight": 300})).unwrap();
        let err = body.into_update().unwrap_err();
        assert!(format!("{err:?}").contains("BlkioWeight"), "{err:?}");
    }
}
