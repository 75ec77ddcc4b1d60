//! `GET /containers/{id}/stats?stream=&one-shot=`: Docker's stats documents, one a second
//! while streaming; with `stream=false`, one document whose `precpu_stats` is a reading taken
//! a moment before (so a CPU percentage can be computed), unless `one-shot`.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::Response;

use super::error::ApiResult;
use super::params::Params;
use super::server::{AppState, blocking};
use super::stream::{self, JSON};
use engine_core::container::stats;
use engine_core::container::store::ContainerStore;

/// Between two readings of a stream (Docker's pace).
const INTERVAL: Duration = Duration::from_secs(1);
/// Between the two readings of a single document.
const PRE_READ: Duration = Duration::from_millis(500);

pub async fn stats(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let stream = params
        .get("stream")
        .is_none_or(|v| matches!(v, "1" | "true" | "True"));
    let one_shot = params.flag("one-shot");
    // A missing container is a 404 before any body.
    let record = blocking(&state, move |engine| {
        ContainerStore::open(&engine.settings.data_root)?.resolve(&id)
    })
    .await?;
    Ok(stream::stream_blocking(&state, JSON, move |engine, out| {
        let store = ContainerStore::open(&engine.settings.data_root)?;
        let id = record.id.clone();
        if !stream {
            let first = stats::sample(&store.load(&id)?);
            if one_shot || first.read == engine_core::container::record::ZERO_TIME {
                return Ok(out.json(&stats::to_json(&record, &first, None))?);
            }
            std::thread::sleep(PRE_READ);
            let record = store.load(&id)?;
            let second = stats::sample(&record);
            return Ok(out.json(&stats::to_json(&record, &second, Some(&first)))?);
        }
        let mut prev: Option<stats::Sample> = None;
        loop {
            let record = store.load(&id)?;
            let cur = stats::sample(&record);
            out.json(&stats::to_json(&record, &cur, prev.as_ref()))?;
            if !record.state.running {
                return Ok(());
            }
            prev = Some(cur);
            std::thread::sleep(INTERVAL);
            if out.closed() {
                return Ok(());
            }
        }
    }))
}
