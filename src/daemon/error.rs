//! Errors in Docker's JSON shape (`{"message": "..."}`) with the status Docker gives, so the
//! docker CLI prints them as it prints dockerd's.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An API error: status and message.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 304: nothing to do (start of a running container, stop of a stopped one).
    pub fn not_modified() -> Self {
        Self::new(StatusCode::NOT_MODIFIED, "")
    }
}

/// The status an engine error maps to: graph's error kind where there is one, else the
/// wording Docker's own errors use.
impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        let message = format!("{e:#}");
        if let Some(status) = typed_status(&e) {
            return ApiError { status, message };
        }
        let kind = e
            .chain()
            .find_map(|c| c.downcast_ref::<graph::Error>())
            .map(graph::Error::kind);
        let status = match kind {
            Some(graph::ErrorKind::NotFound) => StatusCode::NOT_FOUND,
            Some(graph::ErrorKind::AlreadyExists | graph::ErrorKind::Busy) => StatusCode::CONFLICT,
            Some(graph::ErrorKind::InvalidInput) => StatusCode::BAD_REQUEST,
            _ if message.starts_with("No such ") || message.contains("not found") => {
                StatusCode::NOT_FOUND
            }
            _ if message.starts_with("conflict") || message.contains("is already in use") => {
                StatusCode::CONFLICT
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError { status, message }
    }
}

/// The status of the engine's own typed errors.
fn typed_status(e: &anyhow::Error) -> Option<StatusCode> {
    use crate::commands::registry::Unauthorized;
    use crate::container::{Conflict, ExitError, NoSuchImage};
    for cause in e.chain() {
        if cause.is::<NoSuchImage>() || cause.is::<crate::network::NoSuchNetwork>() {
            return Some(StatusCode::NOT_FOUND);
        }
        if cause.is::<crate::volume::NoSuchVolume>() {
            return Some(StatusCode::NOT_FOUND);
        }
        if cause.is::<crate::container::copy::NoSuchPath>() {
            return Some(StatusCode::NOT_FOUND);
        }
        if cause.is::<crate::container::copy::BadPath>() {
            return Some(StatusCode::BAD_REQUEST);
        }
        if cause.is::<crate::network::Forbidden>() {
            return Some(StatusCode::FORBIDDEN);
        }
        if cause.is::<Conflict>() {
            return Some(StatusCode::CONFLICT);
        }
        if cause.is::<Unauthorized>() {
            return Some(StatusCode::UNAUTHORIZED);
        }
        // A command that cannot run (not found, not executable): the request's fault.
        if let Some(x) = cause.downcast_ref::<ExitError>()
            && matches!(x.code, 126 | 127)
        {
            return Some(StatusCode::BAD_REQUEST);
        }
    }
    None
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status == StatusCode::NOT_MODIFIED {
            return self.status.into_response();
        }
        (self.status, Json(json!({ "message": self.message }))).into_response()
    }
}

/// What handlers return.
pub type ApiResult<T> = Result<T, ApiError>;
