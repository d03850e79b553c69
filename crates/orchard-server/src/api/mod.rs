//! The JSON API under `/api/v1`: everything the web UI does, for any client.
//!
//! [`routes`] is the one list of routes: the router is built from it and the OpenAPI
//! drift test compares it with `docs/openapi.json`, so neither can change alone.

mod chat;
pub(crate) mod kb;
mod settings;

use axum::Json;
use axum::http::Method;
use axum::routing::{MethodRouter, delete, get, patch, post, put};
use serde::Serialize;

use crate::AppState;

/// The committed OpenAPI document, served at `/api/v1/openapi.json`.
pub const OPENAPI: &str = include_str!("../../../../docs/openapi.json");

/// Every API route: method, path (axum syntax, which is also OpenAPI's) and handler.
pub(crate) fn routes() -> Vec<(Method, &'static str, MethodRouter<AppState>)> {
    use Method as M;
    vec![
        (M::GET, "/api/v1/openapi.json", get(openapi)),
        // Providers, keys and models.
        (M::GET, "/api/v1/catalogue", get(settings::catalogue)),
        (M::GET, "/api/v1/providers", get(settings::providers)),
        (M::POST, "/api/v1/providers", post(settings::add_provider)),
        (
            M::DELETE,
            "/api/v1/providers/{name}",
            delete(settings::remove_provider),
        ),
        (
            M::POST,
            "/api/v1/providers/{name}/keys",
            post(settings::add_key),
        ),
        (
            M::DELETE,
            "/api/v1/providers/{name}/keys/{mask}",
            delete(settings::remove_key),
        ),
        (
            M::POST,
            "/api/v1/providers/{name}/check",
            post(settings::check_keys),
        ),
        (
            M::GET,
            "/api/v1/providers/{name}/models",
            get(settings::provider_models),
        ),
        (
            M::POST,
            "/api/v1/providers/{name}/models/fetch",
            post(settings::fetch_models),
        ),
        (
            M::PUT,
            "/api/v1/providers/{name}/models/{model}",
            put(settings::set_model),
        ),
        (M::GET, "/api/v1/models", get(settings::enabled_models)),
        // Assistants and folders.
        (M::GET, "/api/v1/assistants", get(settings::assistants)),
        (
            M::POST,
            "/api/v1/assistants",
            post(settings::create_assistant),
        ),
        (M::GET, "/api/v1/assistants/{id}", get(settings::assistant)),
        (
            M::PUT,
            "/api/v1/assistants/{id}",
            put(settings::update_assistant),
        ),
        (
            M::DELETE,
            "/api/v1/assistants/{id}",
            delete(settings::delete_assistant),
        ),
        (
            M::GET,
            "/api/v1/assistants/{id}/knowledge",
            get(kb::assistant_knowledge),
        ),
        (
            M::PUT,
            "/api/v1/assistants/{id}/knowledge",
            put(kb::set_assistant_knowledge),
        ),
        (M::GET, "/api/v1/folders", get(settings::folders)),
        (M::POST, "/api/v1/folders", post(settings::create_folder)),
        (M::PUT, "/api/v1/folders/{id}", put(settings::rename_folder)),
        (
            M::DELETE,
            "/api/v1/folders/{id}",
            delete(settings::delete_folder),
        ),
        // Settings of the person.
        (M::GET, "/api/v1/settings", get(settings::get_settings)),
        (M::PUT, "/api/v1/settings", put(settings::put_settings)),
        // Topics and messages.
        (M::GET, "/api/v1/topics", get(chat::topics)),
        (M::GET, "/api/v1/topics/{id}", get(chat::topic)),
        (M::PATCH, "/api/v1/topics/{id}", patch(chat::update_topic)),
        (M::DELETE, "/api/v1/topics/{id}", delete(chat::delete_topic)),
        (M::GET, "/api/v1/topics/{id}/messages", get(chat::messages)),
        (M::POST, "/api/v1/topics/{id}/divider", post(chat::divider)),
        (M::GET, "/api/v1/topics/{id}/export", get(chat::export)),
        (M::POST, "/api/v1/chat", post(chat::send)),
        (M::GET, "/api/v1/messages/{id}", get(chat::message)),
        (
            M::DELETE,
            "/api/v1/messages/{id}",
            delete(chat::delete_message),
        ),
        (M::GET, "/api/v1/messages/{id}/stream", get(chat::stream)),
        (M::POST, "/api/v1/messages/{id}/stop", post(chat::stop)),
        (
            M::POST,
            "/api/v1/messages/{id}/regenerate",
            post(chat::regenerate),
        ),
        (M::POST, "/api/v1/messages/{id}/edit", post(chat::edit)),
        (M::POST, "/api/v1/messages/{id}/switch", post(chat::switch)),
        (M::GET, "/api/v1/search", get(chat::search)),
        (M::POST, "/api/v1/import", post(chat::import)),
        // Knowledge bases.
        (M::GET, "/api/v1/kb", get(kb::list)),
        (M::POST, "/api/v1/kb", post(kb::create)),
        (M::GET, "/api/v1/kb/events", get(kb::events)),
        (M::GET, "/api/v1/kb/{id}", get(kb::get_one)),
        (M::PATCH, "/api/v1/kb/{id}", patch(kb::update)),
        (M::DELETE, "/api/v1/kb/{id}", delete(kb::delete)),
        (M::GET, "/api/v1/kb/{id}/documents", get(kb::documents)),
        (M::POST, "/api/v1/kb/{id}/documents", post(kb::add)),
        (M::POST, "/api/v1/kb/{id}/reindex", post(kb::reindex)),
        (M::GET, "/api/v1/kb/{id}/search", get(kb::search)),
        (M::POST, "/api/v1/kb/documents/{doc}/retry", post(kb::retry)),
        (M::DELETE, "/api/v1/kb/documents/{doc}", delete(kb::remove)),
        (M::GET, "/api/v1/kb/passages/{chunk}", get(kb::passage)),
        (M::GET, "/api/v1/embedders", get(kb::embedders)),
    ]
}

/// Every API route as (method, path): what the drift test compares with the OpenAPI
/// document.
pub fn route_list() -> Vec<(Method, &'static str)> {
    routes().into_iter().map(|(m, p, _)| (m, p)).collect()
}

pub(crate) use settings::pickable as pickable_models;

/// Messages per page of a conversation.
pub(crate) fn chat_page_size() -> usize {
    chat::PAGE
}

async fn openapi() -> Json<serde_json::Value> {
    Json(serde_json::from_str(OPENAPI).unwrap_or_default())
}

/// `{"ok": true}` for requests that return nothing else.
#[derive(Serialize)]
pub(crate) struct Done {
    ok: bool,
}

pub(crate) const DONE: Done = Done { ok: true };
