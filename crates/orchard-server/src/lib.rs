//! `orchard-server`: the studio over HTTP.
//!
//! For now it serves `GET /healthz` and a start page; the JSON API and the web UI are
//! built on the same [`router`]. Every response carries a strict Content-Security-Policy
//! and related headers, so nothing served here can load from another origin.

use std::future::Future;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use orchard_app::App;
use serde::Serialize;
use tokio::net::TcpListener;

/// The Orchard version, as reported by `/healthz`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
}

async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok",
        version: VERSION,
    })
}

async fn index(State(app): State<Arc<App>>) -> Html<String> {
    let topics = app.topics().await.map(|t| t.len()).unwrap_or(0);
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Orchard</title></head>\
         <body><h1>Orchard {VERSION}</h1>\
         <p>The studio is running. Its web interface is not part of this release yet; \
         use the command line meanwhile (<code>orchard chat</code>, <code>orchard topics</code>).</p>\
         <p>{topics} topic(s) stored.</p></body></html>"
    ))
}

/// Adds the security headers every response must carry.
async fn security_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    resp
}

/// All routes.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/", get(index))
        .fallback(|| async { (axum::http::StatusCode::NOT_FOUND, "not found").into_response() })
        .layer(axum::middleware::map_response(security_headers))
        .with_state(app)
}

/// Serves until `shutdown` resolves, then finishes in-flight requests and returns.
pub async fn serve(
    app: Arc<App>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(app))
        .with_graceful_shutdown(shutdown)
        .await
}
