//! `GET /events`: Docker's event stream, read from the event journal ([`engine_core::events`]).
//!
//! Every process (this daemon, the daemonless CLI, each container's monitor) appends an
//! event to the journal when it does the thing, so the stream shows what any of them did,
//! with the time and names of that moment. A request follows the journal: from the oldest
//! event kept when `since` or `until` is given (Docker replays its buffer then), else from
//! now; new lines are picked up by polling the file every [`events::POLL_EVERY`].

use std::time::SystemTime;

use axum::response::Response;

use super::error::{ApiError, ApiResult};
use super::params::Params;
use super::server::AppState;
use super::stream::{self, JSON};
use engine_core::events::{self, Filter, Follower};

/// `since`/`until` as Docker's API and CLI take them.
fn time(params: &Params, key: &str) -> ApiResult<Option<u64>> {
    match params.non_empty(key) {
        None => Ok(None),
        Some(v) => events::parse_time(v, SystemTime::now())
            .map(|t| Some(events::nanos(t)))
            .map_err(|e| ApiError::bad_request(format!("invalid {key}: {e:#}"))),
    }
}

/// `GET /events?since=&until=&filters=`.
pub async fn stream(
    axum::extract::State(state): axum::extract::State<AppState>,
    params: Params,
) -> ApiResult<Response> {
    let filters = super::images::parse_filters(params.get("filters"))?;
    let filter = Filter::parse(
        filters
            .iter()
            .flat_map(|(k, vs)| vs.iter().map(move |v| (k.as_str(), v.as_str()))),
    )
    .map_err(|e| ApiError::bad_request(format!("{e:#}")))?;
    let since = time(&params, "since")?;
    let until = time(&params, "until")?;
    if let (Some(s), Some(u)) = (since, until)
        && u < s
    {
        return Err(ApiError::bad_request(format!(
            "`since` time ({}) cannot be after `until` time ({})",
            params.get("since").unwrap_or(""),
            params.get("until").unwrap_or("")
        )));
    }
    let root = state.engine.settings.data_root.clone();
    let history = since.is_some() || until.is_some();
    let follower = tokio::task::spawn_blocking(move || Follower::open(&root, history))
        .await
        .map_err(|e| ApiError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| {
            ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                format!("{e:#}"),
            )
        })?;
    let (tx, response) = stream::async_channel(JSON);
    tokio::spawn(async move {
        let mut follower = Some(follower);
        loop {
            // Once `until` has passed, one last read that waits for writers already holding
            // a stamp, and the stream ends.
            let last = until.is_some_and(|u| events::nanos(SystemTime::now()) > u);
            let Some(mut f) = follower.take() else {
                return;
            };
            let read = tokio::task::spawn_blocking(move || {
                let got = if last { f.poll_settled() } else { f.poll() };
                (f, got)
            })
            .await;
            let Ok((f, got)) = read else {
                return;
            };
            follower = Some(f);
            let got = match got {
                Ok(got) => got,
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "cannot read the event journal");
                    return;
                }
            };
            for v in &got {
                let stamp = events::stamp_of(v);
                if until.is_some_and(|u| stamp > u) {
                    return;
                }
                if since.is_some_and(|s| stamp < s) || !filter.matches(v) {
                    continue;
                }
                if tx.json(v).await.is_err() {
                    return;
                }
            }
            if last {
                return;
            }
            tokio::select! {
                () = tokio::time::sleep(events::POLL_EVERY) => {}
                () = tx.closed() => return,
            }
        }
    });
    Ok(response)
}
