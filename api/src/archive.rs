//! `HEAD|GET|PUT /containers/{id}/archive`: `docker cp` both ways, on running and stopped
//! containers, through `container::copy` (paths resolved inside the container's view).

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, ApiResult};
use super::params::Params;
use super::server::{AppState, blocking};
use super::stream::{self, BodyReader, TAR};
use engine_core::container::copy::{self, PathStat};
use engine_core::container::store::ContainerStore;

/// The header Docker carries a path's stat in.
const STAT_HEADER: &str = "X-Docker-Container-Path-Stat";

fn path_param(params: &Params) -> ApiResult<String> {
    params
        .non_empty("path")
        .map(str::to_string)
        .ok_or_else(|| ApiError::bad_request("path is required (path=)"))
}

fn stat_headers(st: &PathStat) -> ApiResult<HeaderMap> {
    let mut h = HeaderMap::new();
    h.insert(
        STAT_HEADER,
        HeaderValue::from_str(&st.header())
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?,
    );
    Ok(h)
}

/// `HEAD /containers/{id}/archive?path=`: the stat header, no body.
pub async fn head(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let path = path_param(&params)?;
    let st = blocking(&state, move |engine| {
        let record = ContainerStore::open(&engine.settings.data_root)?.resolve(&id)?;
        copy::stat(engine, &record, &path)
    })
    .await?;
    Ok((stat_headers(&st)?, ()).into_response())
}

/// `GET /containers/{id}/archive?path=`: the tar, with the stat header.
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let path = path_param(&params)?;
    let (writer, mut response) = stream::channel(TAR);
    let (tx, rx) = tokio::sync::oneshot::channel::<ApiResult<PathStat>>();
    let tx = Arc::new(Mutex::new(Some(tx)));
    let engine = Arc::clone(&state.engine);
    let on_error = Arc::clone(&tx);
    tokio::task::spawn_blocking(move || {
        let mut writer = writer;
        let sent = |r: ApiResult<PathStat>| {
            if let Some(tx) = tx.lock().ok().and_then(|mut t| t.take()) {
                let _ = tx.send(r);
                true
            } else {
                false
            }
        };
        let mut with_stat = |st: &PathStat| -> anyhow::Result<()> {
            sent(Ok(st.clone()));
            Ok(())
        };
        let result = ContainerStore::open(&engine.settings.data_root)
            .and_then(|s| s.resolve(&id))
            .and_then(|record| {
                let mut out = std::io::BufWriter::with_capacity(1 << 16, &mut writer);
                copy::read(&engine, &record, &path, None, &mut with_stat, &mut out)?;
                use std::io::Write;
                out.flush()?;
                Ok(())
            });
        if let Err(e) = result {
            let message = format!("{e:#}");
            // Before the stat: the status carries the error; after: the stream breaks.
            let early = on_error
                .lock()
                .ok()
                .and_then(|mut t| t.take())
                .map(|tx| tx.send(Err(ApiError::from(e))));
            if early.is_none() {
                writer.abort(message);
            }
        }
    });
    let st = rx
        .await
        .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the copy ended early"))??;
    response.headers_mut().extend(stat_headers(&st)?);
    Ok(response)
}

/// `PUT /containers/{id}/archive?path=&noOverwriteDirNonDir=&copyUIDGID=`: extracts the tar
/// body into the directory `path`.
pub async fn put(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Params,
    body: Body,
) -> ApiResult<StatusCode> {
    let path = path_param(&params)?;
    let no_overwrite = params.flag("noOverwriteDirNonDir");
    let copy_uid_gid = params.flag("copyUIDGID");
    let mut reader = BodyReader::new(body);
    blocking(&state, move |engine| {
        let record = ContainerStore::open(&engine.settings.data_root)?.resolve(&id)?;
        let written = copy::write(
            engine,
            &record,
            &path,
            &mut reader,
            no_overwrite,
            if copy_uid_gid {
                copy::Ownership::ContainerUser
            } else {
                copy::Ownership::FromArchive
            },
        );
        // The whole body is read even when the extraction stopped early, so the client
        // gets the answer rather than a reset connection.
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
        written
    })
    .await?;
    Ok(StatusCode::OK)
}
