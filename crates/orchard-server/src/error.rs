//! The API's one error format: `{"error": {"code": "...", "message": "..."}}`.
//!
//! The code is stable (clients and the UI branch on it); the message is written for a
//! person and never holds a secret; the cause, if any, goes to the log only.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use orchard_app::AppError;
use serde::Serialize;

/// A failed API request.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    /// An error with an explicit status.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// Bad input.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_input", message)
    }

    /// Nothing there (or not the person's).
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The message for the person.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        if let Some(cause) = &e.cause {
            tracing::info!(code = e.code, cause = %cause, "request failed");
        }
        let status = e.http_status();
        Self {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code: e.code,
            message: e.message,
        }
    }
}

impl From<orchard_store::StoreError> for ApiError {
    fn from(e: orchard_store::StoreError) -> Self {
        AppError::from(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: Inner {
                code: self.code,
                message: &self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

/// Result of an API handler.
pub type ApiResult<T> = Result<T, ApiError>;

/// Puts axum's own refusals (a body that is not JSON, a path id that is not a number,
/// a wrong content type, a body over the limit) into the API's one error format, so a
/// client never has to parse plain text.
pub(crate) async fn json_errors(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let resp = next.run(req).await;
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| {
            v.as_bytes().starts_with(b"application/json")
                || v.as_bytes().starts_with(b"text/event-stream")
        });
    if !api || is_json || !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let text = axum::body::to_bytes(resp.into_body(), 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        s if s.is_client_error() => "invalid_input",
        _ => "internal",
    };
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "the request is too large (the limit is 64 MB)".to_owned(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            "send the request body as JSON (Content-Type: application/json)".to_owned()
        }
        StatusCode::METHOD_NOT_ALLOWED => "this route does not take that method".to_owned(),
        _ if text.is_empty() => status.canonical_reason().unwrap_or("error").to_owned(),
        _ => text,
    };
    ApiError::new(status, code, message).into_response()
}
