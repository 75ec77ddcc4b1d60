//! What can be read out of a container: `logs`, `export`, `changes`, `top`, through the
//! CLI's own functions (`commands::logs::read_log`, `commands::container`).

use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::{Value, json};

use super::error::{ApiError, ApiResult};
use super::params::Params;
use super::server::{AppState, blocking};
use super::stream::{self, TAR};
use engine_core::container::log_read::{self as logs, LogQuery};
use engine_core::container::ops as container_cmd;
use engine_core::container::store::ContainerStore;

/// Docker's stream types in the 8-byte frame header.
const STDOUT: u8 = 1;
const STDERR: u8 = 2;

/// Docker's multiplexed frame: stream type, three zero bytes, the big-endian length.
pub fn frame(stream: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + payload.len());
    out.extend_from_slice(&[stream, 0, 0, 0]);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// `GET /containers/{id}/logs?stdout=&stderr=&follow=&tail=&timestamps=&since=&until=`:
/// framed for a container without a terminal, raw for one with.
pub async fn logs(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let (want_out, want_err) = (params.flag("stdout"), params.flag("stderr"));
    if !want_out && !want_err {
        return Err(ApiError::bad_request(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let query = LogQuery {
        tail: logs::parse_tail(params.get("tail").unwrap_or("all"))
            .map_err(|e| ApiError::bad_request(e.to_string()))?,
        follow: params.flag("follow"),
        since: params.time("since")?,
        until: params.time("until")?,
    };
    let timestamps = params.flag("timestamps");
    let record = blocking(&state, move |engine| {
        let record = ContainerStore::open(&engine.settings.data_root)?.resolve(&id)?;
        // Refused before the stream starts, so the client gets the error, not a cut stream.
        logs::check_readable(&record)?;
        Ok(record)
    })
    .await?;
    let content_type = if record.config.tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    Ok(stream::stream_blocking(
        &state,
        content_type,
        move |engine, out| {
            let store = ContainerStore::open(&engine.settings.data_root)?;
            let cancelled = {
                let out = out.clone();
                move || out.closed()
            };
            logs::read_log(&store, &record, &query, &cancelled, &mut |e| {
                let stream = if e.stream == "stderr" { STDERR } else { STDOUT };
                if (stream == STDOUT && !want_out) || (stream == STDERR && !want_err) {
                    return Ok(());
                }
                let mut payload = Vec::new();
                if timestamps {
                    payload.extend_from_slice(e.time.as_bytes());
                    payload.push(b' ');
                }
                payload.extend_from_slice(e.log.as_bytes());
                let bytes = if record.config.tty {
                    payload
                } else {
                    frame(stream, &payload)
                };
                Ok(out.send(bytes)?)
            })
        },
    ))
}

/// `GET /containers/{id}/export`: the filesystem as a tar.
pub async fn export(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    let record = blocking(&state, move |engine| {
        ContainerStore::open(&engine.settings.data_root)?.resolve(&id)
    })
    .await?;
    Ok(stream::stream_blocking(&state, TAR, move |engine, out| {
        let mut buffered = std::io::BufWriter::with_capacity(1 << 16, out);
        container_cmd::export_to(engine, &record, &mut buffered)?;
        use std::io::Write;
        buffered.flush()?;
        Ok(())
    }))
}

/// `GET /containers/{id}/changes`: `[{"Path": ..., "Kind": 0|1|2}]` (modified, added,
/// deleted).
pub async fn changes(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let changes = blocking(&state, move |engine| {
        let record = ContainerStore::open(&engine.settings.data_root)?.resolve(&id)?;
        container_cmd::changes(engine, &record)
    })
    .await?;
    Ok(Json(Value::Array(
        changes
            .iter()
            .map(|c| {
                let kind = match c.kind {
                    graph::ChangeKind::Modify => 0,
                    graph::ChangeKind::Add => 1,
                    graph::ChangeKind::Delete => 2,
                };
                json!({ "Path": c.path.display().to_string(), "Kind": kind })
            })
            .collect(),
    )))
}

/// `GET /containers/{id}/top?ps_args=`: `{"Titles": [...], "Processes": [[...]]}`.
pub async fn top(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Json<Value>> {
    let ps_args: Vec<String> = params
        .get("ps_args")
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let (header, lines) = blocking(&state, move |engine| {
        let record = ContainerStore::open(&engine.settings.data_root)?.resolve(&id)?;
        container_cmd::top_lines(&record, &ps_args)
    })
    .await?;
    let titles: Vec<&str> = header.split_whitespace().collect();
    let processes: Vec<Vec<String>> = lines
        .iter()
        .map(|l| split_columns(l, titles.len()))
        .collect();
    Ok(Json(json!({ "Titles": titles, "Processes": processes })))
}

/// Splits a `ps` line into `n` columns, the last (the command) keeping its spaces.
fn split_columns(line: &str, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line.trim_start();
    while out.len() + 1 < n {
        match rest.split_once(char::is_whitespace) {
            Some((field, tail)) => {
                out.push(field.to_string());
                rest = tail.trim_start();
            }
            None => break,
        }
    }
    out.push(rest.to_string());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_and_columns() {
        assert_eq!(frame(STDERR, b"hi"), [2, 0, 0, 0, 0, 0, 0, 2, b'h', b'i']);
        assert_eq!(
            split_columns("root   1  0 0 10:00 ?  00:00:00 httpd -f -p 80", 8),
            [
                "root",
                "1",
                "0",
                "0",
                "10:00",
                "?",
                "00:00:00",
                "httpd -f -p 80"
            ]
        );
    }
}
