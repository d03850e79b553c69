//! Knowledge bases: their settings and documents, ingestion in the background, live
//! document status over SSE, the search test, passages for citations, and the bases
//! an assistant answers from.

use std::collections::HashMap;
use std::convert::Infallible;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use orchard_app::AppError;
use orchard_app::embedders::LocalModel;
use orchard_app::knowledge::{EmbedderChange, KbEvent, KbHit, KbSettings, Retrieval};
use orchard_core::knowledge::{
    DocStatus, Document, EmbedderSpec, KnowledgeBase, Passage, RerankSpec,
};
use orchard_core::{AssistantId, ChunkId, DocumentId, KnowledgeBaseId, Timestamp};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::RecvError;

use super::chat::{Attachment, double_option};
use super::{DONE, Done};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::ui::i18n::Lang;
use crate::ui::kb as view;

/// Documents of a base by status.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub(crate) struct Counts {
    pub queued: u64,
    pub parsing: u64,
    pub embedding: u64,
    pub ready: u64,
    pub failed: u64,
}

impl Counts {
    pub(crate) fn of(docs: &[Document]) -> Self {
        let mut c = Counts::default();
        for d in docs {
            *match d.status {
                DocStatus::Queued => &mut c.queued,
                DocStatus::Parsing => &mut c.parsing,
                DocStatus::Embedding => &mut c.embedding,
                DocStatus::Ready => &mut c.ready,
                DocStatus::Failed => &mut c.failed,
            } += 1;
        }
        c
    }
}

/// A base as the API shows it.
#[derive(Serialize)]
pub(crate) struct KbOut {
    id: KnowledgeBaseId,
    name: String,
    /// `none`, `local:MODEL` or `PROVIDER:MODEL`, as given when creating it.
    embedder: String,
    /// Whether passages are sent to a provider to be embedded.
    sends_text_away: bool,
    chunk_size: u32,
    chunk_overlap: u32,
    /// `PROVIDER:MODEL`, or null.
    rerank: Option<String>,
    documents: u64,
    passages: u64,
    counts: Counts,
    created_at: Timestamp,
    updated_at: Timestamp,
}

async fn kb_out(s: &AppState, kb: KnowledgeBase) -> ApiResult<KbOut> {
    let docs = s.app().kb_documents(kb.id).await?;
    Ok(KbOut {
        id: kb.id,
        embedder: kb.embedder.to_string(),
        sends_text_away: kb.embedder.sends_text_away(),
        chunk_size: kb.chunk_size,
        chunk_overlap: kb.chunk_overlap,
        rerank: kb.rerank.map(|r| format!("{}:{}", r.provider, r.model)),
        documents: docs.len() as u64,
        passages: docs.iter().map(|d| d.chunks).sum(),
        counts: Counts::of(&docs),
        created_at: kb.created_at,
        updated_at: kb.updated_at,
        name: kb.name,
    })
}

/// Refusals of knowledge-base use cases whose codes the app does not give a status.
fn kb_error(e: AppError) -> ApiError {
    let status = match e.code {
        "too_large" => StatusCode::PAYLOAD_TOO_LARGE,
        "fetch_failed" => StatusCode::BAD_GATEWAY,
        "source_unreadable" | "unreadable" => StatusCode::UNPROCESSABLE_ENTITY,
        _ => return e.into(),
    };
    ApiError::new(status, e.code, e.message)
}

fn parse_embedder(s: &str) -> ApiResult<EmbedderSpec> {
    EmbedderSpec::parse(s).map_err(ApiError::invalid)
}

fn parse_rerank(s: &str) -> ApiResult<Option<RerankSpec>> {
    let s = s.trim();
    if s.is_empty() || s.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    match s.split_once(':') {
        Some((p, m)) if !p.trim().is_empty() && !m.trim().is_empty() => Ok(Some(RerankSpec {
            provider: p.trim().to_owned(),
            model: m.trim().to_owned(),
        })),
        _ => Err(ApiError::invalid(format!(
            "'{s}' is not a rerank model; use PROVIDER:MODEL"
        ))),
    }
}

pub(crate) async fn list(State(s): State<AppState>) -> ApiResult<Json<Vec<KbOut>>> {
    let mut out = Vec::new();
    for kb in s.app().kb_list().await? {
        out.push(kb_out(&s, kb).await?);
    }
    Ok(Json(out))
}

#[derive(Deserialize)]
pub(crate) struct KbIn {
    name: String,
    #[serde(default)]
    embedder: Option<String>,
    #[serde(default)]
    chunk_size: Option<u32>,
    #[serde(default)]
    chunk_overlap: Option<u32>,
    #[serde(default)]
    rerank: Option<String>,
}

pub(crate) async fn create(
    State(s): State<AppState>,
    Json(input): Json<KbIn>,
) -> ApiResult<Json<KbOut>> {
    let name = input.name.trim();
    if name.is_empty() {
        return Err(ApiError::invalid("a knowledge base needs a name"));
    }
    let mut settings = KbSettings::named(name);
    settings.embedder = parse_embedder(input.embedder.as_deref().unwrap_or("none"))?;
    if let Some(n) = input.chunk_size {
        settings.chunk_size = n;
    }
    if let Some(n) = input.chunk_overlap {
        settings.chunk_overlap = n;
    }
    settings.rerank = parse_rerank(input.rerank.as_deref().unwrap_or(""))?;
    let kb = s.app().kb_create(&settings).await?;
    Ok(Json(kb_out(&s, kb).await?))
}

pub(crate) async fn get_one(
    State(s): State<AppState>,
    Path(id): Path<KnowledgeBaseId>,
) -> ApiResult<Json<KbOut>> {
    let kb = s.app().kb(id).await?;
    Ok(Json(kb_out(&s, kb).await?))
}

#[derive(Deserialize)]
pub(crate) struct KbPatchIn {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    embedder: Option<String>,
    #[serde(default)]
    chunk_size: Option<u32>,
    #[serde(default)]
    chunk_overlap: Option<u32>,
    #[serde(default, deserialize_with = "double_option")]
    rerank: Option<Option<String>>,
    /// Go ahead with an embedder change (whose cost a first request without it told).
    #[serde(default)]
    confirm: bool,
}

/// What an embedder change costs, in words.
pub(crate) fn cost_message(lang: Lang, to: &EmbedderSpec, cost: &EmbedderChange) -> String {
    let t = lang.s();
    let mut m = t
        .kb_change_cost
        .replace("{chunks}", &cost.chunks.to_string())
        .replace("{tokens}", &cost.tokens.to_string());
    m.push(' ');
    match to {
        EmbedderSpec::Provider { provider, .. } => {
            m.push_str(&t.kb_change_away.replace("{provider}", provider));
        }
        _ => m.push_str(t.kb_change_local),
    }
    m
}

/// Refuses an embedder that does not exist before its cost is worked out.
async fn check_embedder(s: &AppState, spec: &EmbedderSpec) -> ApiResult<()> {
    match spec {
        EmbedderSpec::None => {}
        EmbedderSpec::Provider { provider, .. } => {
            s.app().provider_named(provider).await?;
        }
        EmbedderSpec::Local { model } => {
            if !s.app().local_models()?.iter().any(|m| &m.name == model) {
                return Err(ApiError::not_found(format!(
                    "there is no local model '{model}'; add one with `orchard embedder add DIR` or `orchard embedder pull MODEL_ID`"
                )));
            }
        }
    }
    Ok(())
}

pub(crate) async fn update(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<KnowledgeBaseId>,
    Json(input): Json<KbPatchIn>,
) -> ApiResult<Json<KbOut>> {
    let app = s.app();
    let before = app.kb(id).await?;
    let mut settings = KbSettings {
        name: before.name.clone(),
        embedder: before.embedder.clone(),
        chunk_size: before.chunk_size,
        chunk_overlap: before.chunk_overlap,
        rerank: before.rerank.clone(),
    };
    if let Some(name) = &input.name {
        let name = name.trim();
        if name.is_empty() {
            return Err(ApiError::invalid("a knowledge base needs a name"));
        }
        settings.name = name.to_owned();
    }
    if let Some(e) = &input.embedder {
        settings.embedder = parse_embedder(e)?;
    }
    if let Some(n) = input.chunk_size {
        settings.chunk_size = n;
    }
    if let Some(n) = input.chunk_overlap {
        settings.chunk_overlap = n;
    }
    if let Some(r) = &input.rerank {
        settings.rerank = parse_rerank(r.as_deref().unwrap_or(""))?;
    }
    let new_embedder = settings.embedder != before.embedder;
    if new_embedder && !input.confirm {
        check_embedder(&s, &settings.embedder).await?;
        let cost = app.kb_embedder_change(id, &settings.embedder).await?;
        let lang = s.lang(&headers).await;
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "embedder_change_cost",
            cost_message(lang, &settings.embedder, &cost),
        ));
    }
    let after = app.kb_update(id, &settings).await?;
    let recut =
        after.chunk_size != before.chunk_size || after.chunk_overlap != before.chunk_overlap;
    if new_embedder || recut {
        s.ingest(id);
    }
    Ok(Json(kb_out(&s, after).await?))
}

pub(crate) async fn delete(
    State(s): State<AppState>,
    Path(id): Path<KnowledgeBaseId>,
) -> ApiResult<Json<Done>> {
    s.app().kb_delete(id).await?;
    Ok(Json(DONE))
}

/// A document as the API shows it.
#[derive(Serialize)]
pub(crate) struct DocOut {
    #[serde(flatten)]
    document: Document,
    /// What to call it: its file name, web address or note title.
    name: String,
    /// Its row of the documents table, rendered (only where a page asked for it).
    #[serde(skip_serializing_if = "Option::is_none")]
    html: Option<String>,
}

fn doc_out(document: Document, lang: Option<Lang>) -> DocOut {
    DocOut {
        name: view::doc_name(&document),
        html: lang.map(|l| view::doc_row(&document, l).into_string()),
        document,
    }
}

#[derive(Deserialize)]
pub(crate) struct DocumentsQuery {
    /// Include each document's table row, rendered (what a page needs to catch up).
    #[serde(default)]
    html: bool,
}

pub(crate) async fn documents(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<KnowledgeBaseId>,
    Query(q): Query<DocumentsQuery>,
) -> ApiResult<Json<Vec<DocOut>>> {
    let docs = s.app().kb_documents(id).await?;
    let lang = if q.html {
        Some(s.lang(&headers).await)
    } else {
        None
    };
    Ok(Json(docs.into_iter().map(|d| doc_out(d, lang)).collect()))
}

#[derive(Deserialize)]
pub(crate) struct AddIn {
    /// Files, base64-encoded (as chat attachments).
    #[serde(default)]
    files: Vec<Attachment>,
    /// Web pages (a sitemap adds the pages it lists).
    #[serde(default)]
    urls: Vec<String>,
    /// Text typed by the person.
    #[serde(default)]
    note: Option<String>,
}

#[derive(Serialize)]
pub(crate) struct AddedOut {
    /// The documents queued (or, for a note, already read).
    documents: Vec<DocOut>,
    /// Sources left out, with why.
    skipped: Vec<(String, String)>,
}

pub(crate) async fn add(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<KnowledgeBaseId>,
    Json(input): Json<AddIn>,
) -> ApiResult<Json<AddedOut>> {
    let app = s.app();
    app.kb(id).await?;
    // Everything is checked before anything is kept.
    let mut files = Vec::new();
    for f in &input.files {
        files.push((f.name.as_str(), f.decode()?));
    }
    let urls: Vec<String> = input
        .urls
        .iter()
        .map(|u| u.trim().to_owned())
        .filter(|u| !u.is_empty())
        .collect();
    if let Some(bad) = urls
        .iter()
        .find(|u| !(u.starts_with("http://") || u.starts_with("https://")))
    {
        return Err(ApiError::invalid(format!(
            "'{bad}' is not a web address (http:// or https://); send files in `files`"
        )));
    }
    let note = input
        .note
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty());
    if files.is_empty() && urls.is_empty() && note.is_none() {
        return Err(ApiError::invalid(
            "nothing to add: send files, urls or a note",
        ));
    }
    let mut queued = Vec::new();
    let mut skipped = Vec::new();
    let result: ApiResult<()> = async {
        for (name, bytes) in &files {
            queued.push(app.kb_add_upload(id, name, bytes).await.map_err(kb_error)?);
        }
        if !urls.is_empty() {
            let added = app.kb_add(id, &urls).await.map_err(kb_error)?;
            queued.extend(added.queued);
            skipped.extend(added.skipped);
        }
        if let Some(text) = note {
            queued.push(app.kb_note(id, text).await.map_err(kb_error)?.id);
        }
        Ok(())
    }
    .await;
    // Whatever was queued before a refusal is read all the same.
    if !queued.is_empty() {
        s.ingest(id);
    }
    result?;
    let lang = s.lang(&headers).await;
    let mut documents = Vec::new();
    for doc in queued {
        let d = app.store().document(app.user(), doc).await?;
        documents.push(doc_out(d, Some(lang)));
    }
    Ok(Json(AddedOut { documents, skipped }))
}

pub(crate) async fn retry(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(doc): Path<DocumentId>,
) -> ApiResult<Json<DocOut>> {
    let d = s.app().kb_retry(doc).await?;
    s.ingest(d.kb_id);
    let lang = s.lang(&headers).await;
    Ok(Json(doc_out(d, Some(lang))))
}

pub(crate) async fn remove(
    State(s): State<AppState>,
    Path(doc): Path<DocumentId>,
) -> ApiResult<Json<Done>> {
    let app = s.app();
    let d = app.store().document(app.user(), doc).await?;
    app.kb_remove(d.kb_id, &doc.to_string()).await?;
    Ok(Json(DONE))
}

#[derive(Serialize)]
pub(crate) struct Reindexed {
    /// Documents queued to be read again.
    queued: u64,
}

pub(crate) async fn reindex(
    State(s): State<AppState>,
    Path(id): Path<KnowledgeBaseId>,
) -> ApiResult<Json<Reindexed>> {
    let queued = s.app().kb_reindex(id).await?;
    s.ingest(id);
    Ok(Json(Reindexed { queued }))
}

#[derive(Deserialize)]
pub(crate) struct SearchIn {
    #[serde(default)]
    q: String,
    #[serde(default)]
    top: Option<usize>,
    /// `hybrid` (the default, what chat uses), `keyword` or `vector`.
    #[serde(default)]
    mode: Option<String>,
}

#[derive(Serialize)]
pub(crate) struct KeywordRank {
    /// Rank among the keyword results, from 1.
    rank: usize,
    /// BM25 score (higher is better).
    bm25: f64,
}

#[derive(Serialize)]
pub(crate) struct VectorRank {
    /// Rank among the vector results, from 1.
    rank: usize,
    /// Cosine similarity with the query.
    cosine: f32,
}

/// A found passage, with why it was found.
#[derive(Serialize)]
pub(crate) struct HitOut {
    passage: Passage,
    /// Where it is, in words: "guide.pdf, p. 3 · Setup › Keys".
    label: String,
    /// The page that shows it in its document.
    url: String,
    /// Fused score, or the rerank score when reranked.
    score: f32,
    keyword: Option<KeywordRank>,
    vector: Option<VectorRank>,
    rerank: Option<f32>,
}

impl From<KbHit> for HitOut {
    fn from(h: KbHit) -> Self {
        HitOut {
            label: orchard_app::chat::passage_label(&h.passage),
            url: format!("/kb/passage/{}", h.passage.id),
            score: h.score,
            keyword: h.keyword.map(|(rank, bm25)| KeywordRank { rank, bm25 }),
            vector: h.vector.map(|(rank, cosine)| VectorRank { rank, cosine }),
            rerank: h.rerank,
            passage: h.passage,
        }
    }
}

#[derive(Serialize)]
pub(crate) struct SearchOut {
    /// `keyword`, `vector` or `hybrid`: the retrievers that ran.
    mode: &'static str,
    /// What the person should know (vector search unavailable, and why).
    notes: Vec<String>,
    hits: Vec<HitOut>,
}

pub(crate) async fn search(
    State(s): State<AppState>,
    Path(id): Path<KnowledgeBaseId>,
    Query(q): Query<SearchIn>,
) -> ApiResult<Json<SearchOut>> {
    let query = q.q.trim();
    if query.is_empty() {
        return Err(ApiError::invalid("the search needs a query (q)"));
    }
    let retrieval = match q.mode.as_deref().unwrap_or("hybrid") {
        "hybrid" => Retrieval::Hybrid,
        "keyword" => Retrieval::Keyword,
        "vector" => Retrieval::Vector,
        other => {
            return Err(ApiError::invalid(format!(
                "unknown mode '{other}' (use hybrid, keyword or vector)"
            )));
        }
    };
    let found = s
        .app()
        .kb_search_with(id, query, q.top.unwrap_or(5).clamp(1, 100), retrieval)
        .await?;
    Ok(Json(SearchOut {
        mode: found.mode,
        notes: found.notes,
        hits: found.hits.into_iter().map(HitOut::from).collect(),
    }))
}

#[derive(Deserialize)]
pub(crate) struct EventsQuery {
    /// Only this base's documents.
    #[serde(default)]
    kb: Option<KnowledgeBaseId>,
}

#[derive(Serialize)]
struct EmbeddedOut {
    document: DocumentId,
    done: u64,
    total: u64,
}

#[derive(Serialize)]
struct LaggedOut {
    missed: u64,
}

fn event(name: &str, data: impl Serialize) -> Result<Event, Infallible> {
    Ok(Event::default()
        .event(name)
        .json_data(data)
        .unwrap_or_default())
}

struct Follow {
    s: AppState,
    rx: tokio::sync::broadcast::Receiver<KbEvent>,
    closing: tokio::sync::watch::Receiver<bool>,
    kb: Option<KnowledgeBaseId>,
    /// The base of each document seen, so progress of other bases is left out.
    bases: HashMap<DocumentId, Option<KnowledgeBaseId>>,
    lang: Lang,
    started: bool,
}

impl Follow {
    async fn base_of(&mut self, doc: DocumentId) -> Option<KnowledgeBaseId> {
        if let Some(kb) = self.bases.get(&doc) {
            return *kb;
        }
        let app = self.s.app();
        let kb = app
            .store()
            .document(app.user(), doc)
            .await
            .ok()
            .map(|d| d.kb_id);
        self.bases.insert(doc, kb);
        kb
    }

    /// The next event to send, or `None` when the server is closing.
    async fn next(&mut self) -> Option<Result<Event, Infallible>> {
        if !self.started {
            // Sent at once, so the page knows it is subscribed before it adds anything.
            self.started = true;
            return Some(event("ready", serde_json::json!({})));
        }
        loop {
            if *self.closing.borrow() {
                return None;
            }
            let got = tokio::select! {
                got = self.rx.recv() => got,
                _ = self.closing.changed() => return None,
            };
            match got {
                Ok(KbEvent::Document { document }) => {
                    self.bases.insert(document.id, Some(document.kb_id));
                    if self.kb.is_some_and(|kb| kb != document.kb_id) {
                        continue;
                    }
                    return Some(event("document", doc_out(document, Some(self.lang))));
                }
                Ok(KbEvent::Embedded {
                    document,
                    done,
                    total,
                }) => {
                    if let Some(kb) = self.kb
                        && self.base_of(document).await != Some(kb)
                    {
                        continue;
                    }
                    return Some(event(
                        "embedded",
                        EmbeddedOut {
                            document,
                            done,
                            total,
                        },
                    ));
                }
                Err(RecvError::Lagged(missed)) => {
                    return Some(event("lagged", LaggedOut { missed }));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

/// Server-sent events of ingestion: `ready` once subscribed, then `document` (the
/// document's new state, with its table row rendered) and `embedded` (progress); `lagged`
/// if events were missed (reload the list).
pub(crate) async fn events(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    if let Some(kb) = q.kb {
        s.app().kb(kb).await?;
    }
    let lang = s.lang(&headers).await;
    let follow = Follow {
        rx: s.app().kb_subscribe(),
        closing: s.closing.subscribe(),
        kb: q.kb,
        bases: HashMap::new(),
        lang,
        started: false,
        s,
    };
    let stream =
        futures_util::stream::unfold(
            follow,
            |mut f| async move { f.next().await.map(|e| (e, f)) },
        );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// A passage in its document: the text before it, itself, and after it.
pub(crate) struct PassageView {
    pub passage: Passage,
    pub label: String,
    pub kb: KnowledgeBase,
    pub document: Document,
    pub window: Window,
}

/// Part of a document's text around a passage.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Window {
    pub before: String,
    pub text: String,
    pub after: String,
    pub cut_before: bool,
    pub cut_after: bool,
}

/// The passage at byte range `start..end` of `doc` (snapped to characters), with up to
/// `context` characters on each side.
pub(crate) fn window(doc: &str, start: u64, end: u64, context: usize) -> Window {
    let snap = |i: u64| {
        let mut i = usize::try_from(i).unwrap_or(usize::MAX).min(doc.len());
        while !doc.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let start = snap(start);
    let end = snap(end).max(start);
    let head = &doc[..start];
    let from = if context == 0 {
        head.len()
    } else {
        head.char_indices()
            .rev()
            .nth(context - 1)
            .map_or(0, |(i, _)| i)
    };
    let tail = &doc[end..];
    let to = tail
        .char_indices()
        .nth(context)
        .map_or(tail.len(), |(i, _)| i);
    Window {
        before: head[from..].to_owned(),
        text: doc[start..end].to_owned(),
        after: tail[..to].to_owned(),
        cut_before: from > 0,
        cut_after: to < tail.len(),
    }
}

pub(crate) async fn passage_view(
    s: &AppState,
    chunk: ChunkId,
    context: usize,
) -> ApiResult<PassageView> {
    let app = s.app();
    let (passage, text) = app.kb_passage_in_context(chunk).await?;
    let document = app
        .store()
        .document(app.user(), passage.document_id)
        .await?;
    let kb = app.kb(document.kb_id).await?;
    let window = window(&text, passage.location.start, passage.location.end, context);
    Ok(PassageView {
        label: orchard_app::chat::passage_label(&passage),
        passage,
        kb,
        document,
        window,
    })
}

#[derive(Deserialize)]
pub(crate) struct PassageQuery {
    /// Characters of the document to include on each side (default 1,000).
    #[serde(default)]
    context: Option<usize>,
}

#[derive(Serialize)]
pub(crate) struct PassageOut {
    passage: Passage,
    label: String,
    kb_id: KnowledgeBaseId,
    document: DocOut,
    /// Byte range of the passage in the document's extracted text.
    start: u64,
    end: u64,
    /// The document's text before the passage (at most `context` characters).
    before: String,
    /// The document's text in the passage's range.
    text: String,
    /// The document's text after the passage.
    after: String,
    /// Whether the document goes on beyond `before` / `after`.
    truncated_before: bool,
    truncated_after: bool,
}

pub(crate) async fn passage(
    State(s): State<AppState>,
    Path(chunk): Path<ChunkId>,
    Query(q): Query<PassageQuery>,
) -> ApiResult<Json<PassageOut>> {
    let v = passage_view(&s, chunk, q.context.unwrap_or(1000).min(1_000_000)).await?;
    Ok(Json(PassageOut {
        label: v.label,
        kb_id: v.kb.id,
        document: doc_out(v.document, None),
        start: v.passage.location.start,
        end: v.passage.location.end,
        before: v.window.before,
        text: v.window.text,
        after: v.window.after,
        truncated_before: v.window.cut_before,
        truncated_after: v.window.cut_after,
        passage: v.passage,
    }))
}

/// The bases an assistant answers from.
#[derive(Serialize, Deserialize)]
pub(crate) struct KnowledgeOf {
    knowledge: Vec<KnowledgeBaseId>,
}

pub(crate) async fn assistant_knowledge(
    State(s): State<AppState>,
    Path(id): Path<AssistantId>,
) -> ApiResult<Json<KnowledgeOf>> {
    let app = s.app();
    app.store().assistant(app.user(), id).await?;
    Ok(Json(KnowledgeOf {
        knowledge: app
            .store()
            .assistant_knowledge_bases(app.user(), id)
            .await?,
    }))
}

pub(crate) async fn set_assistant_knowledge(
    State(s): State<AppState>,
    Path(id): Path<AssistantId>,
    Json(input): Json<KnowledgeOf>,
) -> ApiResult<Json<KnowledgeOf>> {
    let app = s.app();
    app.store().assistant(app.user(), id).await?;
    let mut bases = input.knowledge;
    bases.sort_unstable();
    bases.dedup();
    for kb in &bases {
        app.kb(*kb).await?;
    }
    app.store()
        .set_assistant_knowledge_bases(app.user(), id, &bases)
        .await?;
    assistant_knowledge(State(s), Path(id)).await
}

/// A local model, with the id a base names it by.
#[derive(Serialize)]
pub(crate) struct LocalOut {
    /// `local:NAME`.
    pub id: String,
    #[serde(flatten)]
    pub model: LocalModel,
}

/// A provider's model.
#[derive(Serialize)]
pub(crate) struct ProviderModel {
    /// `PROVIDER:MODEL`.
    pub id: String,
    pub provider: String,
    pub model: String,
}

/// What can embed (and rerank) a base's passages.
#[derive(Serialize)]
pub(crate) struct Embedders {
    /// Models installed on this machine (nothing leaves it).
    pub local: Vec<LocalOut>,
    /// Providers' embedding models (passages are sent to the provider).
    pub provider: Vec<ProviderModel>,
    /// Providers' rerank models.
    pub rerank: Vec<ProviderModel>,
}

pub(crate) async fn choices(s: &AppState) -> ApiResult<Embedders> {
    let app = s.app();
    let local = app
        .local_models()?
        .into_iter()
        .map(|m| LocalOut {
            id: format!("local:{}", m.name),
            model: m,
        })
        .collect();
    let mut provider = Vec::new();
    let mut rerank = Vec::new();
    for p in app.store().providers(app.user()).await? {
        for m in app.store().models(app.user(), p.id).await? {
            let caps = app.model_capabilities(&m);
            let entry = || ProviderModel {
                id: format!("{}:{}", p.name, m.model_id),
                provider: p.name.clone(),
                model: m.model_id.clone(),
            };
            if caps.embedding {
                provider.push(entry());
            }
            if caps.rerank {
                rerank.push(entry());
            }
        }
    }
    Ok(Embedders {
        local,
        provider,
        rerank,
    })
}

pub(crate) async fn embedders(State(s): State<AppState>) -> ApiResult<Json<Embedders>> {
    Ok(Json(choices(&s).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_snaps_to_characters_and_keeps_context_on_both_sides() {
        let doc = "αβγ passage δεζ";
        let start = doc.find("passage").unwrap() as u64;
        let end = start + "passage".len() as u64;
        let w = window(doc, start, end, 2);
        assert_eq!(
            (w.before.as_str(), w.text.as_str(), w.after.as_str()),
            ("γ ", "passage", " δ")
        );
        assert!(w.cut_before && w.cut_after);
        let all = window(doc, start, end, 100);
        assert_eq!(all.before + &all.text + &all.after, doc);
        assert!(!all.cut_before && !all.cut_after);
        // A range inside a character, or past the end, is snapped, never a panic.
        let odd = window(doc, 1, 999, 0);
        assert_eq!(odd.text, doc);
        assert_eq!(odd.before, "");
    }
}
