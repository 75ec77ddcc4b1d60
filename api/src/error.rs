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

/// The status of an engine error: its kind (see `engine_core::error`), never its text.
impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        use engine_core::ErrorKind;
        let status = match engine_core::error::kind_of(&e) {
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::InvalidArgument | ErrorKind::NotRunnable => StatusCode::BAD_REQUEST,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorKind::NoSpace | ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError {
            status,
            message: format!("{e:#}"),
        }
    }
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
