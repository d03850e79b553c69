//! The web UI: pages rendered on the server, one script and one style sheet.
//!
//! The script (`assets/app.js`) and styles (`assets/app.css`) are plain files written
//! here and embedded in the binary: no build step, no CDN, no external fonts. Pages
//! work with the JSON API for everything they change.

pub mod i18n;
pub(crate) mod kb;
pub mod view;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use maud::{DOCTYPE, Markup, html};
use orchard_core::message::{BranchEntry, TopicSummary};
use orchard_core::{AssistantId, MessageId, Timestamp, TopicId};
use serde::Deserialize;

use crate::api::chat_page_size;
use crate::error::ApiError;
use crate::session;
use crate::{AppState, Prefs};
use i18n::Lang;

/// The script, embedded.
pub const APP_JS: &str = include_str!("../../assets/app.js");
/// The styles, embedded.
pub const APP_CSS: &str = include_str!("../../assets/app.css");

/// Escapes text for HTML.
pub fn escape(text: &str) -> String {
    html! { (text) }.into_string()
}

/// A timestamp as RFC 3339 (UTC).
pub(crate) fn iso(ts: Timestamp) -> String {
    jiff::Timestamp::from_millisecond(ts.as_millis())
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// Adds the UI's routes.
pub(crate) fn routes(r: Router<AppState>) -> Router<AppState> {
    r.route("/", get(chat_page))
        .route("/t/{id}", get(topic_page))
        .route("/settings", get(settings_general))
        .route("/settings/providers", get(settings_providers))
        .route("/settings/assistants", get(settings_assistants))
        .route("/kb", get(kb::list_page))
        .route("/kb/{id}", get(kb::base_page))
        .route("/kb/passage/{chunk}", get(kb::passage_page))
        .route(
            "/assets/app.js",
            get(|| asset(APP_JS, "text/javascript; charset=utf-8")),
        )
        .route(
            "/assets/app.css",
            get(|| asset(APP_CSS, "text/css; charset=utf-8")),
        )
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
}

async fn asset(body: &'static str, mime: &'static str) -> Response {
    let mut r = body.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// A page: the session cookie is set if the browser has none, and the page carries
/// the CSRF token for the script.
struct Page {
    session: String,
    fresh: bool,
    token: String,
    prefs: Prefs,
}

impl Page {
    async fn new(s: &AppState, headers: &HeaderMap) -> Result<Page, ApiError> {
        let (session, fresh) = match session::session_of(headers) {
            Some(v) => (v, false),
            None => (session::new_session(), true),
        };
        Ok(Page {
            token: s.secret.token(&session),
            session,
            fresh,
            prefs: Prefs::load(s, Some(headers)).await?,
        })
    }

    fn lang(&self) -> Lang {
        self.prefs.lang
    }

    fn respond(self, title: &str, body: Markup) -> Response {
        let lang = self.lang();
        let doc = html! {
            (DOCTYPE)
            html lang=(lang.code()) data-theme=(self.prefs.theme) {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    meta name="csrf-token" content=(self.token);
                    title { (title) " · Orchard" }
                    link rel="stylesheet" href="/assets/app.css";
                    script src="/assets/app.js" defer {}
                }
                body { (body) }
            }
        };
        let mut resp = Html(doc.into_string()).into_response();
        if self.fresh {
            resp.headers_mut()
                .insert(header::SET_COOKIE, session::cookie(&self.session));
        }
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        resp
    }
}

#[derive(Deserialize)]
struct ChatQuery {
    #[serde(default)]
    assistant: Option<AssistantId>,
    #[serde(default)]
    m: Option<MessageId>,
}

async fn chat_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ChatQuery>,
) -> Result<Response, ApiError> {
    let page = Page::new(&s, &headers).await?;
    chat(&s, page, None, q).await
}

async fn topic_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<ChatQuery>,
) -> Result<Response, ApiError> {
    let Ok(id) = id.parse::<TopicId>() else {
        return Ok(Redirect::to("/").into_response());
    };
    let page = Page::new(&s, &headers).await?;
    chat(&s, page, Some(id), q).await
}

/// How many messages a jump to an old message may load at most.
const JUMP_LIMIT: usize = 2000;

async fn chat(
    s: &AppState,
    page: Page,
    topic_id: Option<TopicId>,
    q: ChatQuery,
) -> Result<Response, ApiError> {
    let app = s.app();
    let user = app.user();
    let lang = page.lang();
    let t = lang.s();
    let topics = app.topics().await?;
    let assistants = app.store().assistants(user).await?;
    let folders = app.store().folders(user).await?;
    let models = crate::api::pickable_models(s).await?;
    let bases = app.kb_list().await?;
    let topic = match topic_id {
        Some(id) => Some(app.store().topic(user, id).await?),
        None => None,
    };
    let assistant_id = topic.as_ref().map_or(q.assistant, |t| t.assistant_id);
    let assistant = assistants.iter().find(|a| Some(a.id) == assistant_id);
    // Preselected models: the assistant's, else the last used.
    let last = app
        .store()
        .setting(user, orchard_app::chat::LAST_MODEL)
        .await?
        .unwrap_or_default();
    let default_model = assistant
        .and_then(|a| a.fields.model.as_ref())
        .and_then(|m| {
            models
                .iter()
                .find(|p| p.model == m.model_id && p.provider_id == m.provider_id)
        })
        .map_or(last, |p| p.id.clone());

    let (entries, has_more) = match topic.as_ref().and_then(|t| t.current_message_id) {
        None => (Vec::new(), false),
        Some(leaf) => {
            let mut page_ = app
                .store()
                .branch_page(user, leaf, None, chat_page_size())
                .await?;
            // A jump to an older message loads pages until it is there.
            if let Some(m) = q.m {
                let mut loaded = page_.entries.len();
                while page_.has_more
                    && loaded < JUMP_LIMIT
                    && !page_.entries.iter().any(|e| e.message.id == m)
                {
                    let before = page_.entries.first().map(|e| e.message.id);
                    let older = app
                        .store()
                        .branch_page(user, leaf, before, chat_page_size())
                        .await?;
                    loaded += older.entries.len();
                    let mut entries = older.entries;
                    entries.append(&mut page_.entries);
                    page_.entries = entries;
                    page_.has_more = older.has_more;
                }
            }
            (page_.entries, page_.has_more)
        }
    };
    let leaf = entries.last().map(|e: &BranchEntry| e.message.id);
    let title = topic
        .as_ref()
        .map_or(t.new_topic, |t| t.title.as_str())
        .to_owned();

    let body = html! {
        a class="skip" href="#composer-text" { (t.skip_to_composer) }
        div class="app" {
            (sidebar(&topics, &assistants, &folders, topic_id, lang))
            main class="chat" id="chat"
                data-topic=(topic_id.map(|i| i.to_string()).unwrap_or_default())
                data-leaf=(leaf.map(|i| i.to_string()).unwrap_or_default())
                data-assistant=(assistant_id.map(|i| i.to_string()).unwrap_or_default())
                data-jump=(q.m.map(|i| i.to_string()).unwrap_or_default()) {
                header class="topbar" {
                    h1 id="topic-title" { (title) }
                    @if let Some(a) = assistant {
                        span class="badge" { (a.fields.emoji.as_deref().unwrap_or("🤖")) " " (a.fields.name) }
                    }
                    @if let Some(id) = topic_id {
                        span class="tools" {
                            button type="button" data-act="divider" { (t.clear_context) }
                            a href=(format!("/api/v1/topics/{id}/export?format=md")) download id="export-md" { (t.export_md) }
                            a href=(format!("/api/v1/topics/{id}/export?format=json")) download id="export-json" { (t.export_json) }
                        }
                    }
                }
                div id="messages" role="log" aria-live="polite" aria-label=(t.topics)
                    data-has-more=(if has_more { "1" } else { "" })
                    data-oldest=(entries.first().map(|e| e.message.id.to_string()).unwrap_or_default()) {
                    @if has_more {
                        button type="button" id="load-older" class="link" { (t.load_older) }
                    }
                    @if entries.is_empty() {
                        p class="empty" { (t.empty_chat) }
                    }
                    (view::entries(&entries, lang))
                }
                form id="composer" autocomplete="off" {
                    div class="composer-row" {
                        details class="model-picker" id="model-picker" {
                            summary id="model-summary" aria-label=(t.choose_models) { (t.models) }
                            fieldset {
                                legend { (t.choose_models) }
                                @if models.is_empty() {
                                    p { a href="/settings/providers" { (t.no_models) } }
                                }
                                @for m in &models {
                                    label {
                                        input type="checkbox" name="model" value=(m.id) checked[m.id == default_model];
                                        " " (m.id)
                                        @if m.vision { " 👁" }
                                    }
                                }
                            }
                        }
                        @if !bases.is_empty() {
                            details class="model-picker kb-picker" id="kb-picker" {
                                summary id="kb-summary" aria-label=(t.choose_knowledge) { (t.knowledge) }
                                fieldset {
                                    legend { (t.choose_knowledge) }
                                    @for kb in &bases {
                                        label {
                                            input type="checkbox" name="kb" value=(kb.id);
                                            " " (kb.name)
                                        }
                                    }
                                }
                            }
                        }
                        label class="attach" {
                            span class="sr-only" { (t.attach) }
                            input type="file" id="attach" multiple aria-label=(t.attach);
                            span aria-hidden="true" { "+ " (t.attach) }
                        }
                        ul id="attached" class="attached" {}
                    }
                    textarea id="composer-text" rows="3" aria-label=(t.message) placeholder=(t.message_placeholder) {}
                    div class="composer-row" {
                        button type="submit" id="send" class="primary" { (t.send) }
                        button type="button" id="stop" hidden { (t.stop) " (Esc)" }
                        p id="notice" class="notice" role="alert" {}
                    }
                }
            }
        }
        (strings_for_script(lang))
    };
    Ok(page.respond(&title, body))
}

/// Strings the script shows, as a JSON data island (not script: the CSP forbids
/// inline script, and this is never executed).
fn strings_for_script(lang: Lang) -> Markup {
    let json = serde_json::to_string(lang.s()).unwrap_or_default();
    html! {
        template id="strings" data-json=(json) {}
    }
}

fn sidebar(
    topics: &[TopicSummary],
    assistants: &[orchard_core::assistant::Assistant],
    folders: &[orchard_core::message::Folder],
    current: Option<TopicId>,
    lang: Lang,
) -> Markup {
    let t = lang.s();
    let folder_name = |id| {
        folders
            .iter()
            .find(|f| Some(f.id) == id)
            .map(|f| f.name.as_str())
    };
    let pinned: Vec<_> = topics.iter().filter(|x| x.topic.pinned).collect();
    let mut groups: Vec<(Option<&str>, Vec<&TopicSummary>)> = Vec::new();
    for x in topics.iter().filter(|x| !x.topic.pinned) {
        let name = folder_name(x.topic.folder_id);
        match groups.iter_mut().find(|(n, _)| *n == name) {
            Some((_, list)) => list.push(x),
            None => groups.push((name, vec![x])),
        }
    }
    // Filed topics first, by folder name; unfiled last.
    groups.sort_by_key(|(n, _)| (n.is_none(), n.map(str::to_owned)));
    html! {
        aside class="sidebar" aria-label=(t.topics) {
            div class="brand" { a href="/" { "Orchard" } }
            button type="button" id="new-topic" class="primary" title="Ctrl+Shift+O" { "+ " (t.new_topic) }
            div class="search" role="search" {
                input type="search" id="search" aria-label=(t.search) placeholder=(t.search_placeholder) aria-controls="search-results";
                ul id="search-results" class="search-results" aria-label=(t.search) hidden {}
            }
            @if !assistants.is_empty() {
                section aria-label=(t.assistants) {
                    h2 { (t.assistants) }
                    ul class="assistants" {
                        @for a in assistants {
                            li { a href=(format!("/?assistant={}", a.id)) { (a.fields.emoji.as_deref().unwrap_or("🤖")) " " (a.fields.name) } }
                        }
                    }
                }
            }
            section aria-label=(t.topics) {
                h2 { (t.topics) }
                @if topics.is_empty() { p class="empty" { (t.no_topics) } }
                @if !pinned.is_empty() {
                    h3 { (t.pinned) }
                    ul class="topics" { @for x in &pinned { (topic_item(x, current, lang)) } }
                }
                @for (name, list) in &groups {
                    @if let Some(n) = name { h3 { "📁 " (n) } }
                    ul class="topics" { @for x in list { (topic_item(x, current, lang)) } }
                }
            }
            nav class="bottom" {
                a href="/kb" id="kb-link" { "📚 " (t.knowledge_bases) }
                a href="/settings" { "⚙ " (t.settings) }
            }
        }
    }
}

fn topic_item(x: &TopicSummary, current: Option<TopicId>, lang: Lang) -> Markup {
    let t = lang.s();
    let id = x.topic.id;
    html! {
        li class=(if Some(id) == current { "topic current" } else { "topic" }) data-topic=(id)
            data-pinned=(if x.topic.pinned { "1" } else { "" }) data-title=(x.topic.title)
            data-tags=(x.tags.join(", ")) {
            a href=(format!("/t/{id}")) aria-current=[(Some(id) == current).then_some("page")] {
                @if x.topic.pinned { "📌 " }
                (x.topic.title)
            }
            @if !x.tags.is_empty() {
                span class="tags" { @for tag in &x.tags { span class="tag" { "#" (tag) } } }
            }
            details class="menu" {
                summary aria-label=(format!("{} – {}", x.topic.title, t.settings)) { "⋯" }
                div class="menu-items" {
                    button type="button" data-topic-act="rename" { (t.rename) }
                    button type="button" data-topic-act="pin" { (if x.topic.pinned { t.unpin } else { t.pin }) }
                    button type="button" data-topic-act="folder" { (t.move_to_folder) }
                    button type="button" data-topic-act="tags" { (t.edit_tags) }
                    button type="button" data-topic-act="delete" class="danger" { (t.delete) }
                }
            }
        }
    }
}

fn settings_nav(lang: Lang, current: &str) -> Markup {
    let t = lang.s();
    let item = |href: &str, label: &str| {
        html! { a href=(href) aria-current=[(href == current).then_some("page")] { (label) } }
    };
    html! {
        nav class="settings-nav" aria-label=(t.settings) {
            a href="/" { "← " (t.back_to_chat) }
            (item("/settings", t.settings_general))
            (item("/settings/providers", t.settings_providers))
            (item("/settings/assistants", t.settings_assistants))
            (item("/kb", t.knowledge_bases))
        }
    }
}

fn settings_page(page: Page, current: &str, title: &str, content: Markup) -> Response {
    let lang = page.lang();
    let body = html! {
        div class="settings" {
            (settings_nav(lang, current))
            main id="settings" { h1 { (title) } (content) }
        }
        (strings_for_script(lang))
    };
    page.respond(title, body)
}

async fn settings_general(
    State(s): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let page = Page::new(&s, &headers).await?;
    let lang = page.lang();
    let t = lang.s();
    let prefs = page.prefs.clone();
    let content = html! {
        form id="prefs" class="card" {
            label { (t.theme) " "
                select name="theme" id="pref-theme" {
                    @for (v, label) in [("system", t.theme_system), ("light", t.theme_light), ("dark", t.theme_dark)] {
                        option value=(v) selected[prefs.theme == v] { (label) }
                    }
                }
            }
            label { (t.language) " "
                select name="language" id="pref-language" {
                    option value="auto" selected[prefs.language == "auto"] { (t.language_auto) }
                    @for l in Lang::ALL {
                        option value=(l.code()) selected[Lang::parse(&prefs.language) == Some(l)] { (l.name()) }
                    }
                }
            }
        }
        section class="card" {
            h2 { (t.import_title) }
            p { (t.import_help) }
            form id="import" {
                input type="file" id="import-file" accept=".json,application/json" aria-label=(t.import_title);
                button type="submit" { (t.import_button) }
            }
            p id="import-result" role="status" {}
        }
    };
    Ok(settings_page(
        page,
        "/settings",
        t.settings_general,
        content,
    ))
}

async fn settings_providers(
    State(s): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let page = Page::new(&s, &headers).await?;
    let lang = page.lang();
    let t = lang.s();
    let providers = s.app().list_providers().await?;
    let mut models = Vec::new();
    for p in &providers {
        models.push(
            s.app()
                .store()
                .models(s.app().user(), p.provider.id)
                .await?,
        );
    }
    let catalogue = s.app().catalogue().entries().to_vec();
    let content = html! {
        section class="card" {
            h2 { (t.add_provider) }
            form id="add-provider" {
                label { (t.from_catalogue) " "
                    select name="catalogue" id="provider-catalogue" {
                        option value="" { (t.custom_provider) }
                        @for c in &catalogue {
                            option value=(c.id) data-key-required=(if c.key_required { "1" } else { "" }) { (c.name) }
                        }
                    }
                }
                label { (t.name) " " input name="name" id="provider-name" required; }
                label { (t.protocol) " "
                    select name="protocol" id="provider-protocol" {
                        @for p in ["openai", "anthropic", "gemini", "ollama", "responses", "azure"] {
                            option value=(p) { (p) }
                        }
                    }
                }
                label { (t.base_url) " " input name="base_url" id="provider-url" type="url" placeholder="https://…/v1"; }
                label { (t.api_key) " " input name="key" id="provider-key" type="password" autocomplete="off"; }
                button type="submit" class="primary" { (t.add_provider) }
            }
            p id="provider-notice" class="notice" role="alert" {}
        }
        @if providers.is_empty() { p class="empty" { (t.no_providers) } }
        @for (v, ms) in providers.iter().zip(&models) {
            section class="card provider" data-provider=(v.provider.name) {
                h2 { (v.provider.name) " " small { (v.provider.protocol.as_str()) " · " (v.provider.base_url) } }
                p class="links" {
                    @if let Some(url) = v.privacy_url() {
                        a href=(url) rel="noopener noreferrer" target="_blank" { (t.privacy_policy) }
                    }
                    @if let Some(c) = &v.catalogue { @if !c.docs_url.is_empty() {
                        " · " a href=(c.docs_url) rel="noopener noreferrer" target="_blank" { (t.docs) }
                    } }
                }
                h3 { (t.keys) }
                ul class="keys" {
                    @for k in &v.keys {
                        li data-mask=(k.mask) {
                            code { (k.mask) } " "
                            span class="key-status" { (k.status.as_str()) @if let Some(r) = &k.status_reason { ": " (r) } }
                            " " button type="button" data-provider-act="remove-key" { (t.remove) }
                        }
                    }
                }
                form class="add-key" {
                    input type="password" name="key" aria-label=(t.api_key) placeholder=(t.api_key) autocomplete="off";
                    button type="submit" { (t.add_key) }
                }
                p {
                    button type="button" data-provider-act="check" { (t.check_keys) }
                    " "
                    button type="button" data-provider-act="fetch" { (t.fetch_models) }
                    " "
                    button type="button" data-provider-act="remove" class="danger" { (t.remove) }
                }
                ul class="check-results" role="status" {}
                h3 { (t.models) " (" (ms.len()) ")" }
                ul class="models" {
                    @for m in ms {
                        li { label {
                            input type="checkbox" data-model=(m.model_id) checked[m.enabled];
                            " " (m.model_id)
                        } }
                    }
                }
            }
        }
    };
    Ok(settings_page(
        page,
        "/settings/providers",
        t.settings_providers,
        content,
    ))
}

async fn settings_assistants(
    State(s): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let page = Page::new(&s, &headers).await?;
    let lang = page.lang();
    let t = lang.s();
    let assistants = s.app().store().assistants(s.app().user()).await?;
    let models = crate::api::pickable_models(&s).await?;
    let bases = s.app().kb_list().await?;
    let mut uses = std::collections::HashMap::new();
    for a in &assistants {
        uses.insert(
            a.id,
            s.app()
                .store()
                .assistant_knowledge_bases(s.app().user(), a.id)
                .await?,
        );
    }
    let providers = s.app().store().providers(s.app().user()).await?;
    let model_of = |a: &orchard_core::assistant::Assistant| {
        a.fields.model.as_ref().and_then(|m| {
            providers
                .iter()
                .find(|p| p.id == m.provider_id)
                .map(|p| format!("{}:{}", p.name, m.model_id))
        })
    };
    let form = |a: Option<&orchard_core::assistant::Assistant>| {
        let f = a.map(|a| a.fields.clone()).unwrap_or_default();
        let current = a.and_then(model_of).unwrap_or_default();
        let num = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
        html! {
            form class="assistant card" data-assistant=(a.map(|a| a.id.to_string()).unwrap_or_default()) {
                h2 { @if let Some(a) = a { (a.fields.emoji.as_deref().unwrap_or("🤖")) " " (a.fields.name) } @else { (t.new_assistant) } }
                label { (t.name) " " input name="name" value=(f.name) required; }
                label { (t.emoji) " " input name="emoji" value=(f.emoji.unwrap_or_default()) maxlength="8"; }
                label class="wide" { (t.system_prompt) textarea name="system_prompt" rows="4" { (f.system_prompt) } }
                label { (t.default_model) " "
                    select name="model" {
                        option value="" { "—" }
                        @for m in &models { option value=(m.id) selected[m.id == current] { (m.id) } }
                    }
                }
                @for (key, label, value, step) in [
                    ("temperature", t.temperature, num(f.temperature), "0.1"),
                    ("top_p", t.top_p, num(f.top_p), "0.05"),
                    ("max_tokens", t.max_tokens, f.max_tokens.map(|v| v.to_string()).unwrap_or_default(), "1"),
                    ("context_count", t.context_count, f.context_count.map(|v| v.to_string()).unwrap_or_default(), "1"),
                ] {
                    fieldset class="switchable" {
                        legend { (label) }
                        label { input type="checkbox" name=(format!("{key}_on")) checked[!value.is_empty()]; " " (t.send_this) }
                        input type="number" name=(key) value=(value) step=(step) min="0" aria-label=(label);
                    }
                }
                p class="help" { (t.context_count_help) }
                @if !bases.is_empty() {
                    @let used = a.and_then(|a| uses.get(&a.id));
                    fieldset class="kb-use" {
                        legend { (t.kb_assistant_help) }
                        @for kb in &bases {
                            label {
                                input type="checkbox" name="kb" value=(kb.id)
                                    checked[used.is_some_and(|u| u.contains(&kb.id))];
                                " " (kb.name)
                            }
                        }
                    }
                }
                button type="submit" class="primary" { (t.save) }
                @if a.is_some() { " " button type="button" data-assistant-act="delete" class="danger" { (t.delete) } }
                p class="notice" role="alert" {}
            }
        }
    };
    let content = html! {
        (form(None))
        @for a in &assistants { (form(Some(a))) }
    };
    Ok(settings_page(
        page,
        "/settings/assistants",
        t.settings_assistants,
        content,
    ))
}
