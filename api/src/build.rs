//! `POST /build` (a tar context in the body, Docker's classic builder's JSON stream out) and
//! `POST /commit`, through the CLI's `commands::build::build` and
//! `commands::container::commit_container`.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::error::{ApiError, ApiResult};
use super::params::Params;
use super::server::{AppState, blocking};
use super::stream::{self, BodyReader, JSON};
use engine_core::build::request as build_cmd;
use engine_core::build::{BuildContext, Interrupt, Output};
use engine_core::container::ops::{self as container_cmd, CommitRequest};
use engine_core::container::store::ContainerStore;

/// `POST /build`: every query parameter of API 1.41 (and those Docker's CLI adds) is
/// applied or refused with a 400 naming it; see [`request`].
pub async fn build(
    State(state): State<AppState>,
    peer: Option<axum::Extension<super::server::Peer>>,
    params: Params,
    body: Body,
) -> ApiResult<Response> {
    let mut request = super::build_params::request(&params)?;
    request.cancel = Some(Interrupt::default());
    request
        .validate()
        .map_err(|e| ApiError::bad_request(format!("{e:#}")))?;
    let dockerfile = params.non_empty("dockerfile").map(str::to_string);
    let reader = BodyReader::new(body);
    Ok(stream::deferred(&state, JSON, move |engine, out| {
        if let (Some(cancel), Some(axum::Extension(peer))) = (&request.cancel, peer) {
            out.on_gone(peer, cancel.clone());
        }
        let context = BuildContext::tar(reader, &engine.settings.data_root, "the request body")?;
        let text = build_cmd::context_dockerfile(&context, dockerfile.as_deref())?;
        let sink = {
            let out = out.clone();
            Arc::new(move |text: &str| {
                let _ = out.json(&json!({ "stream": text }));
            })
        };
        let image = build_cmd::build(engine, &request, &context, text, Output::Sink(sink), false)?;
        out.json(&json!({ "aux": { "ID": image.id.to_string() } }))?;
        Ok(())
    })
    .await)
}

/// `POST /commit?container=&repo=&tag=&comment=&author=&changes=`: `{"Id": ...}`, 201.
pub async fn commit(State(state): State<AppState>, params: Params) -> ApiResult<Response> {
    let Some(container) = params.non_empty("container").map(str::to_string) else {
        return Err(ApiError::bad_request("container is required"));
    };
    let reference = params
        .non_empty("repo")
        .map(|repo| match params.non_empty("tag") {
            Some(tag) => format!("{repo}:{tag}"),
            None => repo.to_string(),
        });
    let request = CommitRequest {
        reference: reference.clone(),
        changes: params
            .all("changes")
            .into_iter()
            .filter(|c| !c.is_empty())
            .collect(),
        author: params.non_empty("author").map(str::to_string),
        message: params.non_empty("comment").map(str::to_string),
    };
    let image = blocking(&state, move |engine| {
        let record = ContainerStore::open(&engine.settings.data_root)?.resolve(&container)?;
        container_cmd::commit_container(engine, &record, &request)
    })
    .await?;
    let body: Value = json!({ "Id": image.id.to_string() });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}
