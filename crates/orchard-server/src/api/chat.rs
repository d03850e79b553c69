//! Topics, messages, live answers, search, export and import.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use futures_util::Stream;
use orchard_app::attachments::{FileInput, ImageInput, sniff_image};
use orchard_app::chat::{Ask, Asked, TopicChoice};
use orchard_app::live::LiveState;
use orchard_core::message::{BranchEntry, Message, SearchHit, Topic, TopicSummary};
use orchard_core::model_ref::ModelRef;
use orchard_core::{AssistantId, FolderId, MessageId, TopicId};
use orchard_store::TopicPatch;
use serde::{Deserialize, Deserializer, Serialize};

use super::{DONE, Done};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::ui::{self, i18n::Lang};

/// Messages per page of a conversation.
pub(crate) const PAGE: usize = 40;

/// How often a growing answer is re-rendered for its subscribers.
const RENDER_EVERY: Duration = Duration::from_millis(120);

pub(crate) async fn topics(State(s): State<AppState>) -> ApiResult<Json<Vec<TopicSummary>>> {
    Ok(Json(s.app().topics().await?))
}

pub(crate) async fn topic(
    State(s): State<AppState>,
    Path(id): Path<TopicId>,
) -> ApiResult<Json<Topic>> {
    Ok(Json(s.app().store().topic(s.app().user(), id).await?))
}

/// `Some(None)` for an explicit `null`, `None` when the field is absent.
pub(crate) fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
pub(crate) struct TopicPatchIn {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    pinned: Option<bool>,
    #[serde(default, deserialize_with = "double_option")]
    folder_id: Option<Option<FolderId>>,
    #[serde(default, deserialize_with = "double_option")]
    assistant_id: Option<Option<AssistantId>>,
    #[serde(default)]
    tags: Option<Vec<String>>,
}

pub(crate) async fn update_topic(
    State(s): State<AppState>,
    Path(id): Path<TopicId>,
    Json(input): Json<TopicPatchIn>,
) -> ApiResult<Json<Topic>> {
    if input.title.as_deref().is_some_and(|t| t.trim().is_empty()) {
        return Err(ApiError::invalid("a topic needs a title"));
    }
    let patch = TopicPatch {
        title: input.title.map(|t| t.trim().to_owned()),
        pinned: input.pinned,
        folder: input.folder_id,
        assistant: input.assistant_id,
        tags: input.tags.map(|t| {
            t.into_iter()
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty())
                .collect()
        }),
    };
    Ok(Json(
        s.app()
            .store()
            .update_topic(s.app().user(), id, &patch)
            .await?,
    ))
}

pub(crate) async fn delete_topic(
    State(s): State<AppState>,
    Path(id): Path<TopicId>,
) -> ApiResult<Json<Done>> {
    s.app().store().delete_topic(s.app().user(), id).await?;
    Ok(Json(DONE))
}

#[derive(Deserialize)]
pub(crate) struct PageQuery {
    #[serde(default)]
    before: Option<MessageId>,
    #[serde(default)]
    limit: Option<usize>,
}

/// A page of a conversation, rendered.
#[derive(Serialize)]
pub(crate) struct PageOut {
    /// The messages' HTML, oldest first.
    html: String,
    /// Whether older messages exist.
    has_more: bool,
    /// The oldest message on the page (pass it as `before` for the next page).
    oldest: Option<MessageId>,
    /// The messages as data.
    messages: Vec<BranchEntry>,
}

pub(crate) async fn messages(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<TopicId>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<PageOut>> {
    let lang = s.lang(&headers).await;
    let app = s.app();
    let topic = app.store().topic(app.user(), id).await?;
    let Some(leaf) = topic.current_message_id else {
        return Ok(Json(PageOut {
            html: String::new(),
            has_more: false,
            oldest: None,
            messages: Vec::new(),
        }));
    };
    let limit = q.limit.unwrap_or(PAGE).clamp(1, 200);
    let page = app
        .store()
        .branch_page(app.user(), leaf, q.before, limit)
        .await?;
    Ok(Json(PageOut {
        html: ui::view::entries(&page.entries, lang).into_string(),
        has_more: page.has_more,
        oldest: page.entries.first().map(|e| e.message.id),
        messages: page.entries,
    }))
}

pub(crate) async fn divider(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<TopicId>,
) -> ApiResult<Json<Fragment>> {
    let lang = s.lang(&headers).await;
    let m = s.app().clear_context(id).await?;
    let entry = s.entry(m).await?;
    Ok(Json(Fragment {
        html: ui::view::entries(std::slice::from_ref(&entry), lang).into_string(),
    }))
}

/// Rendered HTML.
#[derive(Serialize)]
pub(crate) struct Fragment {
    html: String,
}

#[derive(Deserialize)]
pub(crate) struct Attachment {
    pub(crate) name: String,
    /// The file, base64-encoded.
    data: String,
}

impl Attachment {
    /// The file's bytes.
    pub(crate) fn decode(&self) -> ApiResult<Vec<u8>> {
        base64::engine::general_purpose::STANDARD
            .decode(self.data.as_bytes())
            .map_err(|_| {
                ApiError::invalid(format!(
                    "the attachment '{}' is not valid base64",
                    self.name
                ))
            })
    }
}

#[derive(Deserialize)]
pub(crate) struct SendIn {
    #[serde(default)]
    topic_id: Option<TopicId>,
    #[serde(default)]
    parent_id: Option<MessageId>,
    #[serde(default)]
    assistant_id: Option<AssistantId>,
    #[serde(default)]
    text: String,
    #[serde(default)]
    models: Vec<String>,
    #[serde(default)]
    attachments: Vec<Attachment>,
    /// Knowledge bases to answer from, besides the assistant's.
    #[serde(default)]
    knowledge: Vec<orchard_core::KnowledgeBaseId>,
}

/// What a send, regenerate or edit started.
#[derive(Serialize)]
pub(crate) struct Started {
    topic_id: TopicId,
    question_id: MessageId,
    reply_ids: Vec<MessageId>,
    /// The question (for sends and edits) and the pending replies, rendered.
    html: String,
}

fn model_refs(models: &[String]) -> ApiResult<Vec<ModelRef>> {
    models
        .iter()
        .map(|m| {
            m.parse()
                .map_err(|e: orchard_core::model_ref::ModelRefError| {
                    ApiError::invalid(e.to_string())
                })
        })
        .collect()
}

impl AppState {
    /// A message with its siblings.
    pub(crate) async fn entry(&self, id: MessageId) -> ApiResult<BranchEntry> {
        let page = self
            .app()
            .store()
            .branch_page(self.app().user(), id, None, 1)
            .await?;
        page.entries
            .into_iter()
            .next()
            .ok_or_else(|| ApiError::not_found(format!("message {id} not found")))
    }

    /// Starts the answers of `asked` and renders what the page shows for them.
    async fn start(&self, asked: Asked, with_question: bool, lang: Lang) -> ApiResult<Started> {
        let (topic_id, question_id) = (asked.topic, asked.question);
        let reply_ids: Vec<MessageId> = asked.replies.iter().map(|r| r.reply).collect();
        self.studio.start(asked);
        let question = if with_question {
            Some(self.entry(question_id).await?)
        } else {
            None
        };
        let mut replies = Vec::new();
        for id in &reply_ids {
            replies.push(self.entry(*id).await?);
        }
        Ok(Started {
            topic_id,
            question_id,
            reply_ids,
            html: ui::view::turn(question.as_ref(), &replies, lang).into_string(),
        })
    }
}

pub(crate) async fn send(
    State(s): State<AppState>,
    headers: HeaderMap,
    Json(input): Json<SendIn>,
) -> ApiResult<Json<Started>> {
    let lang = s.lang(&headers).await;
    let mut images = Vec::new();
    let mut files = Vec::new();
    for a in input.attachments {
        let data = a.decode()?;
        if sniff_image(&data).is_some() {
            images.push(ImageInput { name: a.name, data });
        } else {
            files.push(FileInput { name: a.name, data });
        }
    }
    let models = model_refs(&input.models)?;
    let asked = s
        .app()
        .ask(Ask {
            topic: input
                .topic_id
                .map_or(TopicChoice::New, TopicChoice::Continue),
            parent: input.parent_id,
            models,
            assistant: input.assistant_id,
            system: None,
            text: input.text,
            images,
            files,
            thinking_budget: None,
            stream: true,
            knowledge: input.knowledge,
        })
        .await?;
    Ok(Json(s.start(asked, true, lang).await?))
}

#[derive(Deserialize, Default)]
pub(crate) struct RegenerateIn {
    #[serde(default)]
    models: Vec<String>,
}

pub(crate) async fn regenerate(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<MessageId>,
    body: Option<Json<RegenerateIn>>,
) -> ApiResult<Json<Started>> {
    let lang = s.lang(&headers).await;
    let models = model_refs(&body.map(|b| b.0).unwrap_or_default().models)?;
    let asked = s.app().regenerate(id, models, true).await?;
    Ok(Json(s.start(asked, false, lang).await?))
}

#[derive(Deserialize)]
pub(crate) struct EditIn {
    text: String,
    #[serde(default)]
    models: Vec<String>,
}

pub(crate) async fn edit(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<MessageId>,
    Json(input): Json<EditIn>,
) -> ApiResult<Json<Started>> {
    let lang = s.lang(&headers).await;
    let models = model_refs(&input.models)?;
    let asked = s
        .app()
        .edit_and_resend(id, &input.text, models, true)
        .await?;
    Ok(Json(s.start(asked, true, lang).await?))
}

/// A message as data and as HTML.
#[derive(Serialize)]
pub(crate) struct MessageOut {
    #[serde(flatten)]
    entry: BranchEntry,
    html: String,
}

pub(crate) async fn message(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<MessageId>,
) -> ApiResult<Json<MessageOut>> {
    let lang = s.lang(&headers).await;
    let entry = s.entry(id).await?;
    let html = ui::view::entries(std::slice::from_ref(&entry), lang).into_string();
    Ok(Json(MessageOut { entry, html }))
}

pub(crate) async fn delete_message(
    State(s): State<AppState>,
    Path(id): Path<MessageId>,
) -> ApiResult<Json<Done>> {
    s.studio.stop(id);
    s.app().store().delete_message(s.app().user(), id).await?;
    Ok(Json(DONE))
}

#[derive(Serialize)]
pub(crate) struct Switched {
    leaf: MessageId,
}

pub(crate) async fn switch(
    State(s): State<AppState>,
    Path(id): Path<MessageId>,
) -> ApiResult<Json<Switched>> {
    let leaf = s.app().store().switch_branch(s.app().user(), id).await?;
    Ok(Json(Switched { leaf }))
}

#[derive(Serialize)]
pub(crate) struct Stopped {
    /// Whether the answer was running here.
    stopped: bool,
}

pub(crate) async fn stop(
    State(s): State<AppState>,
    Path(id): Path<MessageId>,
) -> ApiResult<Json<Stopped>> {
    // Ownership: the person must be able to read it.
    s.app().store().message(s.app().user(), id).await?;
    Ok(Json(Stopped {
        stopped: s.studio.stop(id),
    }))
}

/// A live update of an answer.
#[derive(Serialize)]
struct Update<'a> {
    status: &'a str,
    html: String,
    thinking_html: String,
}

enum Phase {
    Live(tokio::sync::watch::Receiver<LiveState>, bool),
    Stored,
    Finished,
}

/// Server-sent events for one answer: `update` with the rendered answer so far (at most
/// every [`RENDER_EVERY`]), then one `done` with the stored message's final HTML. An
/// answer that is not running here (finished, or written by another process) gets its
/// stored state, followed until it closes.
pub(crate) async fn stream(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<MessageId>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let lang = s.lang(&headers).await;
    s.app().store().message(s.app().user(), id).await?;
    let phase = match s.studio.subscribe(id) {
        Some(rx) => Phase::Live(rx, true),
        None => Phase::Stored,
    };
    let events = futures_util::stream::unfold((s, phase), move |(s, phase)| async move {
        match phase {
            Phase::Finished => None,
            Phase::Live(mut rx, first) => {
                if !first {
                    // Throttle: render at most every RENDER_EVERY, whatever the token rate.
                    tokio::time::sleep(RENDER_EVERY).await;
                    if rx.changed().await.is_err() {
                        return Some((final_event(&s, id, lang).await, (s, Phase::Finished)));
                    }
                }
                let state = rx.borrow_and_update().clone();
                if !state.status.is_open() {
                    return Some((final_event(&s, id, lang).await, (s, Phase::Finished)));
                }
                let update = Update {
                    status: state.status.as_str(),
                    html: ui::view::answer_html(&state.text),
                    thinking_html: ui::view::answer_html(&state.thinking),
                };
                let event = Event::default()
                    .event("update")
                    .json_data(update)
                    .unwrap_or_default();
                Some((Ok(event), (s, Phase::Live(rx, false))))
            }
            Phase::Stored => {
                // Written by another process: follow the stored row until it closes.
                match s.app().store().message(s.app().user(), id).await {
                    Ok(m) if m.status.is_open() => {
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        if let Some(rx) = s.studio.subscribe(id) {
                            return Some((stored_update(&m), (s, Phase::Live(rx, true))));
                        }
                        Some((stored_update(&m), (s, Phase::Stored)))
                    }
                    _ => Some((final_event(&s, id, lang).await, (s, Phase::Finished))),
                }
            }
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

fn stored_update(m: &Message) -> Result<Event, Infallible> {
    let update = Update {
        status: m.status.as_str(),
        html: ui::view::answer_html(&m.text()),
        thinking_html: ui::view::answer_html(
            &m.blocks_of(orchard_core::message::BlockKind::Thinking),
        ),
    };
    Ok(Event::default()
        .event("update")
        .json_data(update)
        .unwrap_or_default())
}

async fn final_event(s: &AppState, id: MessageId, lang: Lang) -> Result<Event, Infallible> {
    let html = match s.entry(id).await {
        Ok(entry) => ui::view::entries(std::slice::from_ref(&entry), lang).into_string(),
        Err(e) => format!("<p class=\"error\">{}</p>", ui::escape(e.message())),
    };
    Ok(Event::default()
        .event("done")
        .json_data(Fragment { html })
        .unwrap_or_default())
}

#[derive(Deserialize)]
pub(crate) struct SearchQuery {
    q: String,
    #[serde(default)]
    limit: Option<usize>,
}

/// A search hit with its snippet as HTML (escaped, matches in `<mark>`).
#[derive(Serialize)]
pub(crate) struct HitOut {
    #[serde(flatten)]
    hit: SearchHit,
    snippet_html: String,
    url: String,
}

pub(crate) async fn search(
    State(s): State<AppState>,
    Query(q): Query<SearchQuery>,
) -> ApiResult<Json<Vec<HitOut>>> {
    let hits = s
        .app()
        .store()
        .search_messages(
            s.app().user(),
            q.q.trim(),
            q.limit.unwrap_or(30).clamp(1, 200),
        )
        .await?;
    Ok(Json(
        hits.into_iter()
            .map(|hit| HitOut {
                snippet_html: ui::view::snippet_html(&hit.snippet),
                url: format!(
                    "/t/{}?m={}#m{}",
                    hit.topic_id, hit.message_id, hit.message_id
                ),
                hit,
            })
            .collect(),
    ))
}

#[derive(Deserialize)]
pub(crate) struct ExportQuery {
    #[serde(default)]
    format: Option<String>,
}

pub(crate) async fn export(
    State(s): State<AppState>,
    Path(id): Path<TopicId>,
    Query(q): Query<ExportQuery>,
) -> ApiResult<Response> {
    let format = q.format.as_deref().unwrap_or("md");
    let (body, mime, ext) = match format {
        "md" | "markdown" => (
            s.app().export_markdown(id).await?,
            "text/markdown; charset=utf-8",
            "md",
        ),
        "json" => (
            s.app().export_json(&[id]).await?,
            "application/json",
            "json",
        ),
        other => {
            return Err(ApiError::invalid(format!(
                "unknown export format '{other}' (use md or json)"
            )));
        }
    };
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"topic-{id}.{ext}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

#[derive(Serialize)]
pub(crate) struct Imported {
    topic_ids: Vec<TopicId>,
}

pub(crate) async fn import(State(s): State<AppState>, body: Bytes) -> ApiResult<Json<Imported>> {
    let topic_ids = s.app().import(&body).await?;
    Ok(Json(Imported { topic_ids }))
}
