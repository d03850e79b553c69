//! Knowledge bases: adding documents, reading them into passages, embedding those, and
//! finding them again by keyword and by meaning.
//!
//! Every document says where it stands (`queued → parsing → embedding → ready`, or
//! `failed` with the reason), and the truth of that is kept in the database at each step:
//! a restart resumes where it stopped, and passages already embedded are not embedded
//! again (people pay per token). A document without text is never `ready`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use orchard_core::egress::Purpose;
use orchard_core::knowledge::{
    ChunkLocation, DocStatus, Document, EmbedderSpec, KnowledgeBase, Passage, RerankSpec,
};
use orchard_core::{ChunkId, DocumentId, KnowledgeBaseId};
use orchard_rag::chunk::{ChunkOptions, chunk};
use orchard_rag::loaders::{DocKind, Limits, LoadError, load};
use orchard_rag::vector::VectorIndex;
use orchard_store::{KnowledgeBaseFields, NewChunk, ParsedDocument};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::broadcast;

use crate::{App, AppError};

/// Text a base's loader may produce from one document (characters).
const MAX_DOCUMENT_CHARS: usize = 20_000_000;
/// Largest page or sitemap fetched from the web.
const MAX_FETCH_BYTES: u64 = 50 * 1024 * 1024;
/// Candidates each retriever contributes before fusion.
const CANDIDATES: usize = 50;
/// Share of a base's passages above which a word is left out of a keyword search that
/// has rarer words, in bases of at least [`PRUNE_FROM`] passages.
const COMMON_WORD_SHARE: f64 = 0.1;
/// Passages from which keyword searches leave out common words.
const PRUNE_FROM: u64 = 20_000;
/// Most plain words a keyword search of a large base looks for (the rarest ones).
const MAX_WORDS: usize = 4;
/// Longest wait for a query's vector before searching by keyword alone.
const QUERY_EMBED_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);
/// Documents read per transaction.
const READ_BATCH: usize = 64;
/// URLs one sitemap may add.
const MAX_SITEMAP_URLS: usize = 10_000;

/// A knowledge base's settings, as a person gives them.
#[derive(Debug, Clone)]
pub struct KbSettings {
    /// Name, unique per person.
    pub name: String,
    /// What embeds its passages.
    pub embedder: EmbedderSpec,
    /// Passage size in tokens.
    pub chunk_size: u32,
    /// Overlap in tokens.
    pub chunk_overlap: u32,
    /// Optional reranking.
    pub rerank: Option<RerankSpec>,
}

impl KbSettings {
    /// A base called `name` with the default passage size and no embedder.
    pub fn named(name: &str) -> Self {
        Self {
            name: name.into(),
            embedder: EmbedderSpec::None,
            chunk_size: 512,
            chunk_overlap: 64,
            rerank: None,
        }
    }

    fn fields(&self) -> KnowledgeBaseFields {
        KnowledgeBaseFields {
            name: self.name.clone(),
            embedder: self.embedder.clone(),
            chunk_size: self.chunk_size,
            chunk_overlap: self.chunk_overlap,
            rerank: self.rerank.clone(),
        }
    }
}

/// What ingestion reports as it goes, for progress bars and live pages.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum KbEvent {
    /// A document changed status (or its counts moved).
    Document {
        /// Its state now.
        document: Document,
    },
    /// Passages of a document embedded so far.
    Embedded {
        /// The document.
        document: DocumentId,
        /// Passages embedded.
        done: u64,
        /// Passages in all.
        total: u64,
    },
}

/// What one ingestion run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IngestReport {
    /// Documents that became ready.
    pub ready: u64,
    /// Documents that failed (their reasons are on the documents).
    pub failed: u64,
    /// Passages embedded in this run.
    pub embedded: u64,
}

/// What adding sources queued, and what it skipped.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Added {
    /// Documents queued (new, or queued again).
    pub queued: Vec<DocumentId>,
    /// Paths left out while walking directories, with why (ignored, a loop, unreadable).
    pub skipped: Vec<(String, String)>,
}

/// What changing a base's embedder will cost, said before doing it.
#[derive(Debug, Clone, Serialize)]
pub struct EmbedderChange {
    /// Passages to embed again.
    pub chunks: u64,
    /// Their tokens (an estimate).
    pub tokens: u64,
    /// Whether the passages will be sent to a provider.
    pub sends_text_away: bool,
}

/// One found passage, with why it was found.
#[derive(Debug, Clone, Serialize)]
pub struct KbHit {
    /// The passage.
    pub passage: Passage,
    /// The fused score (reciprocal-rank fusion), or the rerank score when reranked.
    pub score: f32,
    /// Rank (from 1) and BM25 score in keyword search, if it found it.
    pub keyword: Option<(usize, f64)>,
    /// Rank (from 1) and cosine similarity in vector search, if it found it.
    pub vector: Option<(usize, f32)>,
    /// The rerank model's score, when the base reranks.
    pub rerank: Option<f32>,
}

/// Which retrievers a search uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retrieval {
    /// BM25 only.
    Keyword,
    /// Vectors only (nothing when the base has no embedder).
    Vector,
    /// Both, fused by reciprocal rank (what chat uses).
    Hybrid,
}

/// The result of a search.
#[derive(Debug, Clone, Serialize)]
pub struct KbSearch {
    /// Best first.
    pub hits: Vec<KbHit>,
    /// `keyword`, `vector` or `hybrid`.
    pub mode: &'static str,
    /// Anything the person should know (vector search unavailable, and why).
    pub notes: Vec<String>,
}

/// A base's vector index and the generation it was built at.
type CachedIndex = (u64, Arc<dyn VectorIndex>);

/// Per-process state: the live event channel and the vector indexes in memory.
pub(crate) struct KnowledgeState {
    events: broadcast::Sender<KbEvent>,
    /// Bumped by every change to passages or vectors; indexes built before are stale.
    generation: AtomicU64,
    indexes: Mutex<HashMap<(KnowledgeBaseId, String), CachedIndex>>,
}

impl Default for KnowledgeState {
    fn default() -> Self {
        Self {
            events: broadcast::channel(1024).0,
            generation: AtomicU64::new(0),
            indexes: Mutex::new(HashMap::new()),
        }
    }
}

impl KnowledgeState {
    fn changed(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}

fn kind_name(kind: DocKind) -> String {
    match kind {
        DocKind::Text => "text".into(),
        DocKind::Markdown => "markdown".into(),
        DocKind::Code { language } => format!("code:{language}"),
        DocKind::Pdf => "pdf".into(),
        DocKind::Html => "html".into(),
        DocKind::Docx => "docx".into(),
        DocKind::Csv => "csv".into(),
        DocKind::Json => "json".into(),
        _ => "other".into(),
    }
}

fn is_url(source: &str) -> bool {
    source.starts_with("http://") || source.starts_with("https://")
}

/// What reading one document came to.
enum ReadOutcome {
    Parsed(ParsedDocument),
    /// The same bytes as last time, already cut into passages.
    Unchanged,
    Failed(String),
}

/// What reading a source gave: its bytes and the name to read them by.
struct Fetched {
    name: String,
    bytes: Vec<u8>,
}

impl App {
    fn kb_notify(&self, event: KbEvent) {
        // Nobody listening is fine.
        let _ = self.knowledge_state().events.send(event);
    }

    async fn kb_notify_doc(&self, id: DocumentId) {
        // Reading the document costs a query; skip it when no page or progress bar
        // is listening.
        if self.knowledge_state().events.receiver_count() == 0 {
            return;
        }
        if let Ok(document) = self.store().document(self.user(), id).await {
            self.kb_notify(KbEvent::Document { document });
        }
    }

    /// Live ingestion events of every base.
    pub fn kb_subscribe(&self) -> broadcast::Receiver<KbEvent> {
        self.knowledge_state().events.subscribe()
    }

    /// Creates a base. The embedder must exist (a provider with that name, or an
    /// installed local model).
    pub async fn kb_create(&self, settings: &KbSettings) -> Result<KnowledgeBase, AppError> {
        self.check_settings(settings).await?;
        Ok(self
            .store()
            .create_knowledge_base(self.user(), &settings.fields())
            .await?)
    }

    async fn check_settings(&self, settings: &KbSettings) -> Result<(), AppError> {
        ChunkOptions {
            size: settings.chunk_size as usize,
            overlap: settings.chunk_overlap as usize,
        }
        .validate()
        .map_err(AppError::invalid)?;
        match &settings.embedder {
            EmbedderSpec::None => {}
            EmbedderSpec::Provider { provider, .. } => {
                self.provider_named(provider).await?;
            }
            EmbedderSpec::Local { model } => {
                if !self.local_models()?.iter().any(|m| &m.name == model) {
                    return Err(AppError::not_found(format!(
                        "there is no local model '{model}'; add one with `orchard embedder add DIR` or `orchard embedder pull MODEL_ID`"
                    )));
                }
            }
        }
        if let Some(r) = &settings.rerank {
            self.provider_named(&r.provider).await?;
        }
        Ok(())
    }

    /// All bases.
    pub async fn kb_list(&self) -> Result<Vec<KnowledgeBase>, AppError> {
        Ok(self.store().knowledge_bases(self.user()).await?)
    }

    /// A base by name, or by id when `name` is a number that names no base.
    pub async fn kb_named(&self, name: &str) -> Result<KnowledgeBase, AppError> {
        match self.store().knowledge_base_named(self.user(), name).await {
            Ok(kb) => Ok(kb),
            Err(orchard_store::StoreError::NotFound { .. }) => {
                if let Ok(id) = name.parse::<KnowledgeBaseId>()
                    && let Ok(kb) = self.store().knowledge_base(self.user(), id).await
                {
                    return Ok(kb);
                }
                let known: Vec<String> =
                    self.kb_list().await?.into_iter().map(|k| k.name).collect();
                Err(AppError::not_found(if known.is_empty() {
                    format!(
                        "there is no knowledge base '{name}'; create one with `orchard kb create NAME`"
                    )
                } else {
                    format!(
                        "there is no knowledge base '{name}'; there are: {}",
                        known.join(", ")
                    )
                }))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The client for addresses a person names (pages, sitemaps, model hubs): the SSRF
    /// guard with the `knowledge` settings, redirects followed hop by hop.
    pub(crate) fn fetcher(&self) -> Result<orchard_net::HttpClient, AppError> {
        let policy = orchard_net::FetchPolicy {
            allow_local_hosts: self.config().knowledge.allow_local_hosts,
            exempt: self.config().knowledge.trusted.clone(),
        };
        self.http()?
            .fetcher(policy)
            .map_err(|e| AppError::new("fetch_failed", format!("cannot fetch: {e}")))
    }

    /// A base by id.
    pub async fn kb(&self, id: KnowledgeBaseId) -> Result<KnowledgeBase, AppError> {
        Ok(self.store().knowledge_base(self.user(), id).await?)
    }

    /// The documents of a base.
    pub async fn kb_documents(&self, kb: KnowledgeBaseId) -> Result<Vec<Document>, AppError> {
        Ok(self.store().documents(self.user(), kb).await?)
    }

    /// What changing `kb`'s embedder to `spec` would cost.
    pub async fn kb_embedder_change(
        &self,
        kb: KnowledgeBaseId,
        spec: &EmbedderSpec,
    ) -> Result<EmbedderChange, AppError> {
        let docs = self.kb_documents(kb).await?;
        let chunks: u64 = docs.iter().map(|d| d.chunks).sum();
        let estimate: u64 = docs.iter().map(|d| d.tokens).sum();
        Ok(EmbedderChange {
            chunks: if *spec == EmbedderSpec::None {
                0
            } else {
                chunks
            },
            tokens: if *spec == EmbedderSpec::None {
                0
            } else {
                estimate
            },
            sends_text_away: spec.sends_text_away(),
        })
    }

    /// Replaces a base's settings. A new embedder drops the old vectors and puts the
    /// documents back to `embedding`; run [`App::kb_ingest`] to embed them again.
    pub async fn kb_update(
        &self,
        kb: KnowledgeBaseId,
        settings: &KbSettings,
    ) -> Result<KnowledgeBase, AppError> {
        self.check_settings(settings).await?;
        let before = self.kb(kb).await?;
        let after = self
            .store()
            .update_knowledge_base(self.user(), kb, &settings.fields())
            .await?;
        if before.chunk_size != after.chunk_size || before.chunk_overlap != after.chunk_overlap {
            self.kb_reindex(kb).await?;
        }
        self.knowledge_state().changed();
        Ok(after)
    }

    /// Deletes a base with everything in it.
    pub async fn kb_delete(&self, kb: KnowledgeBaseId) -> Result<(), AppError> {
        self.store().delete_knowledge_base(self.user(), kb).await?;
        self.knowledge_state().changed();
        Ok(())
    }

    /// Queues files, directories (walked recursively, honouring `.gitignore`-style
    /// ignore files and skipping hidden files; symlinks followed, loops reported) and
    /// URLs (a sitemap adds the pages it lists).
    pub async fn kb_add(&self, kb: KnowledgeBaseId, sources: &[String]) -> Result<Added, AppError> {
        let base = self.kb(kb).await?;
        let mut added = Added::default();
        let mut files: Vec<(String, Option<u64>)> = Vec::new();
        for source in sources {
            if is_url(source) {
                for url in self.expand_url(&base, source).await? {
                    files.push((url, None));
                }
                continue;
            }
            let path = PathBuf::from(source);
            let walked = tokio::task::spawn_blocking(move || walk(&path))
                .await
                .map_err(|e| AppError::new("internal", e.to_string()))??;
            files.extend(walked.0);
            added.skipped.extend(walked.1);
        }
        let ids = self
            .store()
            .queue_documents(self.user(), kb, &files)
            .await?;
        added.queued = ids;
        Ok(added)
    }

    /// Keeps an uploaded file under `kb-files/` in the data directory (named by its
    /// hash, so the same file is kept once) and queues it. Run [`App::kb_ingest`] to
    /// read it.
    pub async fn kb_add_upload(
        &self,
        kb: KnowledgeBaseId,
        name: &str,
        bytes: &[u8],
    ) -> Result<DocumentId, AppError> {
        self.kb(kb).await?;
        let limit = self.config().knowledge.max_file_bytes;
        if bytes.len() as u64 > limit {
            return Err(too_large(name.to_owned(), bytes.len() as u64, limit));
        }
        // Only the last component, without anything that could leave the folder.
        let safe: String = name
            .rsplit(['/', '\\'])
            .next()
            .unwrap_or("upload")
            .chars()
            .filter(|c| !c.is_control() && *c != ':')
            .take(120)
            .collect();
        let safe = if safe.trim_matches('.').is_empty() {
            "upload".to_owned()
        } else {
            safe
        };
        let hash = hex::encode(Sha256::digest(bytes));
        let dir = self.config().data_dir.join("kb-files").join(&hash[..16]);
        let path = dir.join(&safe);
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| AppError::new("internal", format!("cannot keep the file: {e}")))?;
        tokio::fs::write(&path, bytes)
            .await
            .map_err(|e| AppError::new("internal", format!("cannot keep the file: {e}")))?;
        let ids = self
            .store()
            .queue_documents(
                self.user(),
                kb,
                &[(
                    path.to_string_lossy().into_owned(),
                    Some(bytes.len() as u64),
                )],
            )
            .await?;
        ids.into_iter()
            .next()
            .ok_or_else(|| AppError::new("internal", "the file was not queued"))
    }

    /// A URL, or the URLs a sitemap lists.
    async fn expand_url(&self, base: &KnowledgeBase, url: &str) -> Result<Vec<String>, AppError> {
        let parsed = orchard_net::Url::parse(url)
            .map_err(|_| AppError::invalid(format!("'{url}' is not a URL")))?;
        if !parsed.path().ends_with(".xml") {
            return Ok(vec![url.to_owned()]);
        }
        let fetched = self.fetch_url(base, url).await?;
        use orchard_rag::sitemap::{Sitemap, parse as parse_sitemap};
        match parse_sitemap(&fetched.bytes) {
            Ok(Sitemap::UrlSet { urls, .. }) => Ok(urls
                .into_iter()
                .take(MAX_SITEMAP_URLS)
                .map(|e| e.loc)
                .collect()),
            Ok(Sitemap::Index { sitemaps, .. }) => {
                let mut out = Vec::new();
                for child in sitemaps.into_iter().take(100) {
                    let page = self.fetch_url(base, &child.loc).await?;
                    if let Ok(Sitemap::UrlSet { urls, .. }) = parse_sitemap(&page.bytes) {
                        out.extend(urls.into_iter().map(|e| e.loc));
                    }
                    if out.len() >= MAX_SITEMAP_URLS {
                        break;
                    }
                }
                out.truncate(MAX_SITEMAP_URLS);
                Ok(out)
            }
            // An XML file that is not a sitemap is a document like any other.
            Err(_) => Ok(vec![url.to_owned()]),
        }
    }

    /// Adds a note (text typed by the person) and reads it at once.
    pub async fn kb_note(&self, kb: KnowledgeBaseId, text: &str) -> Result<Document, AppError> {
        let base = self.kb(kb).await?;
        let text = text.trim();
        if text.is_empty() {
            return Err(AppError::invalid("a note needs some text"));
        }
        let title: String = text
            .lines()
            .next()
            .unwrap_or_default()
            .trim_start_matches('#')
            .trim()
            .chars()
            .take(60)
            .collect();
        let hash = hex::encode(Sha256::digest(text.as_bytes()));
        let source = format!("note:{}:{}", &hash[..12], title);
        let doc = self
            .store()
            .queue_document(self.user(), kb, &source, Some(text.len() as u64))
            .await?;
        let fetched = Fetched {
            name: "note.md".into(),
            bytes: text.as_bytes().to_vec(),
        };
        self.parse_and_store(&base, &doc, fetched).await?;
        let doc = self.store().document(self.user(), doc.id).await?;
        self.kb_notify(KbEvent::Document {
            document: doc.clone(),
        });
        Ok(doc)
    }

    /// Puts a failed (or any) document back in the queue.
    pub async fn kb_retry(&self, doc: DocumentId) -> Result<Document, AppError> {
        let d = self.store().document(self.user(), doc).await?;
        self.store()
            .set_document_status(self.user(), doc, DocStatus::Queued, None)
            .await?;
        self.kb_notify_doc(d.id).await;
        Ok(self.store().document(self.user(), doc).await?)
    }

    /// Removes a document (by id, or by its source) from a base.
    pub async fn kb_remove(&self, kb: KnowledgeBaseId, doc: &str) -> Result<Document, AppError> {
        let docs = self.kb_documents(kb).await?;
        let found = docs
            .iter()
            .find(|d| d.source == doc || d.id.to_string() == doc)
            .or_else(|| {
                let canon = std::fs::canonicalize(doc).ok()?;
                docs.iter().find(|d| Path::new(&d.source) == canon)
            })
            .cloned()
            .ok_or_else(|| {
                AppError::not_found(format!(
                    "the base has no document '{doc}'; `orchard kb status` lists them with their ids"
                ))
            })?;
        self.store().delete_document(self.user(), found.id).await?;
        self.knowledge_state().changed();
        Ok(found)
    }

    /// Queues every document of a base to be read again.
    pub async fn kb_reindex(&self, kb: KnowledgeBaseId) -> Result<u64, AppError> {
        Ok(self.store().requeue_all(self.user(), kb).await?)
    }

    /// Works through every unfinished document of `kb` (all bases when `None`): reads
    /// queued ones, embeds what is not embedded. Failures are recorded on the
    /// document and the run goes on; an embedder that fails stops embedding for the
    /// rest of the run (those documents stay searchable by keyword, and `failed` says
    /// why), so a broken provider is not called once per document.
    ///
    /// Documents are read [`READ_BATCH`] at a time, two in parallel, and each batch's
    /// statuses and passages are written in one transaction: a folder of 10,000 small
    /// files costs hundreds of commits, not tens of thousands.
    pub async fn kb_ingest(&self, kb: Option<KnowledgeBaseId>) -> Result<IngestReport, AppError> {
        let todo: Vec<Document> = self
            .store()
            .documents_in(
                self.user(),
                &[DocStatus::Queued, DocStatus::Parsing, DocStatus::Embedding],
            )
            .await?
            .into_iter()
            .filter(|d| kb.is_none_or(|k| k == d.kb_id))
            .collect();
        let mut by_base: Vec<(KnowledgeBaseId, Vec<Document>)> = Vec::new();
        for d in todo {
            match by_base.iter_mut().find(|(k, _)| *k == d.kb_id) {
                Some((_, docs)) => docs.push(d),
                None => by_base.push((d.kb_id, vec![d])),
            }
        }
        let mut report = IngestReport::default();
        for (kb, docs) in by_base {
            let base = self.kb(kb).await?;
            self.ingest_base(&base, docs, &mut report).await?;
        }
        Ok(report)
    }

    async fn ingest_base(
        &self,
        base: &KnowledgeBase,
        docs: Vec<Document>,
        report: &mut IngestReport,
    ) -> Result<(), AppError> {
        let next = after_reading(base);
        let to_read: Vec<&Document> = docs
            .iter()
            .filter(|d| matches!(d.status, DocStatus::Queued | DocStatus::Parsing))
            .collect();
        // Batch k is stored while batch k + 1 is read: reading and cutting use the
        // CPU, storing mostly waits on SQLite, so the two overlap.
        let mut read: Option<Vec<(DocumentId, ReadOutcome)>> = None;
        for batch in to_read.chunks(READ_BATCH) {
            let ids: Vec<DocumentId> = batch.iter().map(|d| d.id).collect();
            self.store()
                .set_documents_status(self.user(), &ids, DocStatus::Parsing)
                .await?;
            for id in &ids {
                self.kb_notify_doc(*id).await;
            }
            let outcomes = match read.take() {
                Some(previous) => {
                    let (outcomes, stored) = tokio::join!(
                        self.read_batch(base, batch),
                        self.store_batch(previous, next)
                    );
                    stored?;
                    outcomes
                }
                None => self.read_batch(base, batch).await,
            };
            read = Some(outcomes);
        }
        if let Some(last) = read {
            self.store_batch(last, next).await?;
        }
        if let Some(key) = base.embedder.key() {
            let mut broken: Option<String> = None;
            for d in self.kb_documents(base.id).await? {
                if d.status != DocStatus::Embedding || !docs.iter().any(|x| x.id == d.id) {
                    continue;
                }
                let outcome = match &broken {
                    Some(reason) => Err(format!(
                        "not embedded: {reason} (its passages are searchable by keyword; retry when the embedder works)"
                    )),
                    None => self
                        .embed_document(base, d.id, &key, report)
                        .await
                        .map_err(|e| {
                            broken = Some(e.message.clone());
                            e.message
                        }),
                };
                let (status, error) = match &outcome {
                    Ok(()) => (DocStatus::Ready, None),
                    Err(reason) => (DocStatus::Failed, Some(reason.as_str())),
                };
                self.store()
                    .set_document_status(self.user(), d.id, status, error)
                    .await?;
                self.kb_notify_doc(d.id).await;
            }
        }
        for d in self.kb_documents(base.id).await? {
            if docs.iter().any(|x| x.id == d.id) {
                match d.status {
                    DocStatus::Ready => report.ready += 1,
                    DocStatus::Failed => report.failed += 1,
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// Reads and cuts a batch, two documents at a time (one per core).
    async fn read_batch(
        &self,
        base: &KnowledgeBase,
        batch: &[&Document],
    ) -> Vec<(DocumentId, ReadOutcome)> {
        let mut outcomes = Vec::with_capacity(batch.len());
        for pair in batch.chunks(2) {
            match pair {
                [a, b] => {
                    let (x, y) =
                        tokio::join!(self.read_and_parse(base, a), self.read_and_parse(base, b));
                    outcomes.push((a.id, x));
                    outcomes.push((b.id, y));
                }
                [a] => outcomes.push((a.id, self.read_and_parse(base, a).await)),
                _ => {}
            }
        }
        outcomes
    }

    /// Stores what reading a batch gave, in one transaction, and tells the pages.
    async fn store_batch(
        &self,
        outcomes: Vec<(DocumentId, ReadOutcome)>,
        next: DocStatus,
    ) -> Result<(), AppError> {
        let ids: Vec<DocumentId> = outcomes.iter().map(|(id, _)| *id).collect();
        let mut unchanged = Vec::new();
        let mut read = Vec::new();
        for (id, outcome) in outcomes {
            match outcome {
                ReadOutcome::Unchanged => unchanged.push(id),
                ReadOutcome::Parsed(p) => read.push((id, Ok(p))),
                ReadOutcome::Failed(reason) => read.push((id, Err(reason))),
            }
        }
        self.store().store_read(self.user(), &read, next).await?;
        if !unchanged.is_empty() {
            self.store()
                .set_documents_status(self.user(), &unchanged, next)
                .await?;
        }
        self.knowledge_state().changed();
        for id in &ids {
            self.kb_notify_doc(*id).await;
        }
        Ok(())
    }

    /// Reads a document's source and cuts it into passages, off the async threads.
    async fn read_and_parse(&self, base: &KnowledgeBase, doc: &Document) -> ReadOutcome {
        let source = if doc.source.starts_with("note:") {
            // A note has no file: its text is what was stored.
            self.store()
                .document_text(self.user(), doc.id)
                .await
                .map(|text| Fetched {
                    name: "note.md".into(),
                    bytes: text.into_bytes(),
                })
                .map_err(AppError::from)
        } else {
            self.read_source(base, &doc.source).await
        };
        let fetched = match source {
            Ok(f) => f,
            Err(e) => return ReadOutcome::Failed(e.message),
        };
        let hash = hex::encode(Sha256::digest(&fetched.bytes));
        if doc.content_hash.as_deref() == Some(hash.as_str()) && doc.chunks > 0 {
            return ReadOutcome::Unchanged;
        }
        match self.parse_off_thread(base, fetched).await {
            Ok(p) => ReadOutcome::Parsed(p),
            Err(e) => ReadOutcome::Failed(e.message),
        }
    }

    /// Embeds the passages of `doc` that have no vector of `key`, a batch at a time,
    /// storing each batch before asking for the next.
    async fn embed_document(
        &self,
        base: &KnowledgeBase,
        doc: DocumentId,
        key: &str,
        report: &mut IngestReport,
    ) -> Result<(), AppError> {
        let embedder = self
            .embedder(&base.embedder)
            .await?
            .ok_or_else(|| AppError::new("internal", "no embedder"))?;
        let total = self.store().document(self.user(), doc).await?.chunks;
        loop {
            let todo = self
                .store()
                .chunks_to_embed(self.user(), doc, key, embedder.batch())
                .await?;
            if todo.is_empty() {
                return Ok(());
            }
            let (ids, texts): (Vec<ChunkId>, Vec<String>) = todo.into_iter().unzip();
            let vectors = embedder.embed(texts).await?;
            let n = vectors.len() as u64;
            let pairs: Vec<(ChunkId, Vec<f32>)> = ids.into_iter().zip(vectors).collect();
            self.store()
                .store_embeddings(self.user(), embedder.key(), &pairs)
                .await?;
            report.embedded += n;
            self.knowledge_state().changed();
            let done = self.store().document(self.user(), doc).await?.embedded;
            self.kb_notify(KbEvent::Embedded {
                document: doc,
                done,
                total,
            });
        }
    }

    /// Loads and cuts `fetched` with the base's settings, on a blocking thread.
    async fn parse_off_thread(
        &self,
        base: &KnowledgeBase,
        fetched: Fetched,
    ) -> Result<ParsedDocument, AppError> {
        let limits = Limits {
            max_bytes: self.config().knowledge.max_file_bytes,
            max_chars: MAX_DOCUMENT_CHARS,
        };
        let opts = ChunkOptions {
            size: base.chunk_size as usize,
            overlap: base.chunk_overlap as usize,
        };
        tokio::task::spawn_blocking(move || parse(&fetched, &limits, &opts))
            .await
            .map_err(|e| AppError::new("internal", format!("reading stopped unexpectedly: {e}")))?
    }

    /// Reads, cuts and stores a document; moves it to `embedding` or `ready`.
    async fn parse_and_store(
        &self,
        base: &KnowledgeBase,
        doc: &Document,
        fetched: Fetched,
    ) -> Result<(), AppError> {
        let parsed = self.parse_off_thread(base, fetched).await?;
        let next = after_reading(base);
        self.store()
            .store_parsed(self.user(), doc.id, &parsed, next)
            .await?;
        self.knowledge_state().changed();
        Ok(())
    }

    /// The bytes of a document's source: a file, or a URL fetched with the SSRF guard.
    async fn read_source(&self, base: &KnowledgeBase, source: &str) -> Result<Fetched, AppError> {
        if is_url(source) {
            return self.fetch_url(base, source).await;
        }
        let path = PathBuf::from(source);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| source.to_owned());
        let limit = self.config().knowledge.max_file_bytes;
        let meta = tokio::fs::metadata(&path).await.map_err(|e| {
            AppError::new("source_unreadable", format!("cannot read {source}: {e}"))
        })?;
        // Refused before a byte is read: a 2 GB file must not fill the memory.
        if meta.len() > limit {
            return Err(too_large(name, meta.len(), limit));
        }
        let bytes = tokio::fs::read(&path).await.map_err(|e| {
            AppError::new("source_unreadable", format!("cannot read {source}: {e}"))
        })?;
        Ok(Fetched { name, bytes })
    }

    async fn fetch_url(&self, base: &KnowledgeBase, url: &str) -> Result<Fetched, AppError> {
        let parsed = orchard_net::Url::parse(url)
            .map_err(|_| AppError::invalid(format!("'{url}' is not a URL")))?;
        let client = self.fetcher()?;
        let resp = client
            .request(
                orchard_net::Method::GET,
                parsed.clone(),
                Purpose::knowledge(&base.name),
            )
            .send()
            .await
            .map_err(|e| {
                AppError::new(
                    "fetch_failed",
                    format!("could not fetch {}: {e}", host_of(&parsed)),
                )
            })?;
        if !resp.status().is_success() {
            return Err(AppError::new(
                "fetch_failed",
                format!(
                    "{} answered {} for this page",
                    host_of(&parsed),
                    resp.status()
                ),
            ));
        }
        let html = resp
            .headers()
            .get(orchard_net::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.contains("html"));
        let bytes = resp
            .bytes(MAX_FETCH_BYTES.min(self.config().knowledge.max_file_bytes))
            .await
            .map_err(|e| {
                AppError::new(
                    "fetch_failed",
                    format!("could not fetch {}: {e}", host_of(&parsed)),
                )
            })?;
        let last = parsed
            .path_segments()
            .and_then(|mut s| s.next_back())
            .filter(|s| s.contains('.'))
            .unwrap_or("index.html");
        let name = if html && !last.ends_with(".html") && !last.ends_with(".htm") {
            format!("{last}.html")
        } else {
            last.to_owned()
        };
        Ok(Fetched {
            name,
            bytes: bytes.to_vec(),
        })
    }

    /// Finds passages of `kb` for `query`: keyword search always, vector search when the
    /// base has an embedder, fused by reciprocal rank, then reranked if the base says so.
    pub async fn kb_search(
        &self,
        kb: KnowledgeBaseId,
        query: &str,
        top: usize,
    ) -> Result<KbSearch, AppError> {
        self.kb_search_with(kb, query, top, Retrieval::Hybrid).await
    }

    /// [`App::kb_search`] with one retriever only, or both (to compare them).
    pub async fn kb_search_with(
        &self,
        kb: KnowledgeBaseId,
        query: &str,
        top: usize,
        retrieval: Retrieval,
    ) -> Result<KbSearch, AppError> {
        let base = self.kb(kb).await?;
        let top = top.clamp(1, 100);
        let mut notes = Vec::new();
        // The two retrievers run side by side: a hybrid search takes as long as the
        // slower one, not both.
        let keyword_side = async {
            if retrieval == Retrieval::Vector {
                return Ok(Vec::new());
            }
            match self.keyword_expression(kb, query).await? {
                Some(expr) => Ok::<_, AppError>(
                    self.store()
                        .keyword_search(self.user(), kb, &expr, CANDIDATES)
                        .await?,
                ),
                None => Ok(Vec::new()),
            }
        };
        let vector_side = async {
            match base.embedder.key() {
                Some(key) if retrieval != Retrieval::Keyword => {
                    Some(self.vector_candidates(&base, &key, query).await)
                }
                _ => None,
            }
        };
        let (keyword, vector_result) = tokio::join!(keyword_side, vector_side);
        let keyword: Vec<(ChunkId, f64)> = keyword?;
        let mut vector: Vec<(ChunkId, f32)> = Vec::new();
        let mut used_vectors = false;
        match vector_result {
            Some(Ok(v)) => {
                vector = v;
                used_vectors = true;
            }
            Some(Err(e)) => notes.push(format!("searched by keyword only: {}", e.message)),
            None => {}
        }
        let rankings = vec![
            keyword
                .iter()
                .map(|(id, _)| id.get() as u64)
                .collect::<Vec<u64>>(),
            vector
                .iter()
                .map(|(id, _)| id.get() as u64)
                .collect::<Vec<u64>>(),
        ];
        let fused = orchard_rag::fuse::rrf(&rankings, orchard_rag::fuse::RRF_K);
        let want = if base.rerank.is_some() {
            (top * 3).min(CANDIDATES)
        } else {
            top
        };
        let ids: Vec<ChunkId> = fused
            .iter()
            .take(want)
            .map(|(id, _)| ChunkId::new(*id as i64))
            .collect();
        let passages = self.store().passages(self.user(), &ids).await?;
        let mut hits: Vec<KbHit> = passages
            .into_iter()
            .map(|p| {
                let raw = p.id.get() as u64;
                let score = fused
                    .iter()
                    .find(|(id, _)| *id == raw)
                    .map_or(0.0, |(_, s)| *s);
                let keyword = keyword
                    .iter()
                    .position(|(id, _)| *id == p.id)
                    .map(|i| (i + 1, keyword[i].1));
                let vector = vector
                    .iter()
                    .position(|(id, _)| *id == p.id)
                    .map(|i| (i + 1, vector[i].1));
                KbHit {
                    passage: p,
                    score,
                    keyword,
                    vector,
                    rerank: None,
                }
            })
            .collect();
        if let Some(rerank) = &base.rerank
            && !hits.is_empty()
        {
            match self.rerank(rerank, query, &hits).await {
                Ok(scores) => {
                    for (hit, s) in hits.iter_mut().zip(scores) {
                        hit.rerank = Some(s);
                        hit.score = s;
                    }
                    hits.sort_by(|a, b| b.score.total_cmp(&a.score));
                }
                Err(e) => notes.push(format!("not reranked: {}", e.message)),
            }
        }
        hits.truncate(top);
        let mode = match (retrieval, used_vectors) {
            (Retrieval::Vector, _) => "vector",
            (_, true) => "hybrid",
            _ => "keyword",
        };
        Ok(KbSearch { hits, mode, notes })
    }

    /// The keyword query for `query`. In a large base, words found in more than
    /// [`COMMON_WORD_SHARE`] of the passages are left out when rarer words remain: BM25
    /// gives them little weight, and they are most of the cost of a search (at 100,000
    /// passages, "use" alone matches tens of thousands). Small bases keep every word:
    /// there the search is cheap and the common words still help the ranking.
    async fn keyword_expression(
        &self,
        kb: KnowledgeBaseId,
        query: &str,
    ) -> Result<Option<String>, AppError> {
        let terms = orchard_rag::keyword::query_terms(query);
        // Only plain words have one entry in the index's vocabulary.
        let words: Vec<String> = terms
            .iter()
            .filter(|t| t.chars().all(|c| c.is_ascii_alphanumeric()))
            .map(|t| t.to_ascii_lowercase())
            .collect();
        if words.len() < 2 {
            return Ok(orchard_rag::keyword::match_terms(&terms));
        }
        let (total, counts) = self.store().word_counts(self.user(), kb, &words).await?;
        Ok(orchard_rag::keyword::match_terms(&prune_terms(
            &terms, &words, &counts, total,
        )))
    }

    async fn vector_candidates(
        &self,
        base: &KnowledgeBase,
        key: &str,
        query: &str,
    ) -> Result<Vec<(ChunkId, f32)>, AppError> {
        let embedder = self
            .embedder(&base.embedder)
            .await?
            .ok_or_else(|| AppError::new("internal", "no embedder"))?;
        let index = self.vector_index(base.id, key).await?;
        if index.is_empty() {
            return Ok(Vec::new());
        }
        // A search must not wait minutes for a provider that stopped answering: past
        // this, it goes on with keyword search and says why.
        let q = tokio::time::timeout(QUERY_EMBED_TIMEOUT, embedder.embed(vec![query.to_owned()]))
            .await
            .map_err(|_| {
                AppError::new(
                    "embedder_failed",
                    format!(
                        "the embedder did not answer within {} s",
                        QUERY_EMBED_TIMEOUT.as_secs()
                    ),
                )
            })??
            .pop()
            .unwrap_or_default();
        Ok(index
            .search(&q, CANDIDATES)
            .into_iter()
            .map(|(id, s)| (ChunkId::new(id as i64), s))
            .collect())
    }

    /// The base's vector index, built from the database when stale.
    async fn vector_index(
        &self,
        kb: KnowledgeBaseId,
        key: &str,
    ) -> Result<Arc<dyn VectorIndex>, AppError> {
        let state = self.knowledge_state();
        let generation = state.generation.load(Ordering::SeqCst);
        let cache_key = (kb, key.to_owned());
        if let Some((g, index)) = state
            .indexes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&cache_key)
            && *g == generation
        {
            return Ok(index.clone());
        }
        let vectors = self.store().base_vectors(self.user(), kb, key).await?;
        let dims = vectors.first().map_or(0, |v| v.1.len());
        let index: Arc<dyn VectorIndex> = Arc::from(
            tokio::task::spawn_blocking(move || {
                orchard_rag::vector::build(
                    dims,
                    vectors
                        .into_iter()
                        .map(|(id, v)| (id.get() as u64, v))
                        .collect(),
                )
            })
            .await
            .map_err(|e| AppError::new("internal", e.to_string()))?,
        );
        state
            .indexes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(cache_key, (generation, index.clone()));
        Ok(index)
    }

    async fn rerank(
        &self,
        spec: &RerankSpec,
        query: &str,
        hits: &[KbHit],
    ) -> Result<Vec<f32>, AppError> {
        let provider = self.provider_named(&spec.provider).await?;
        let http = self.http()?.clone();
        let docs: Vec<String> = hits.iter().map(|h| h.passage.text.clone()).collect();
        let docs = &docs;
        let model = spec.model.clone();
        let provider_name = provider.name.clone();
        let provider_name = &provider_name;
        let ranked = self
            .call_provider(&provider, |endpoint| {
                let http = http.clone();
                let model = model.clone();
                async move {
                    let Some(r) = orchard_llm::connect_reranker(endpoint, http) else {
                        return Err(orchard_llm::ProviderError {
                            message: Some("this provider has no rerank API".into()),
                            ..orchard_llm::ProviderError::new(
                                orchard_llm::ProviderErrorKind::BadRequest,
                                provider_name,
                            )
                        });
                    };
                    r.rerank(&model, query, docs, None).await
                }
            })
            .await?;
        let mut scores = vec![f32::MIN; hits.len()];
        for r in ranked.results {
            if let Some(s) = scores.get_mut(r.index) {
                *s = r.relevance_score as f32;
            }
        }
        Ok(scores)
    }

    /// A document's extracted text and where a passage lies in it, for citations.
    pub async fn kb_passage_in_context(
        &self,
        chunk: ChunkId,
    ) -> Result<(Passage, String), AppError> {
        let passage = self
            .store()
            .passages(self.user(), &[chunk])
            .await?
            .pop()
            .ok_or_else(|| AppError::not_found(format!("there is no passage {chunk}")))?;
        let text = self
            .store()
            .document_text(self.user(), passage.document_id)
            .await?;
        Ok((passage, text))
    }
}

/// The terms worth searching for: in a base of at least [`PRUNE_FROM`] passages, plain
/// words (`words[i]` with `counts[i]` passages of `total`) in none or in more than
/// [`COMMON_WORD_SHARE`] of them are left out, unless nothing useful would remain, and
/// at most the [`MAX_WORDS`] rarest plain words are kept.
fn prune_terms(terms: &[String], words: &[String], counts: &[u64], total: u64) -> Vec<String> {
    if total < PRUNE_FROM {
        return terms.to_vec();
    }
    // None: not a plain word (a phrase, CJK): kept, its count is unknown.
    let count = |t: &String| {
        let lower = t.to_ascii_lowercase();
        words.iter().position(|w| *w == lower).map(|i| counts[i])
    };
    let limit = total as f64 * COMMON_WORD_SHARE;
    // Words in no passage cannot match; words in most passages barely rank.
    let useful: Vec<String> = terms
        .iter()
        .filter(|t| count(t).is_none_or(|n| n > 0 && n as f64 <= limit))
        .cloned()
        .collect();
    if !useful.is_empty() {
        // The rarest words carry the ranking; each further word adds its whole list
        // of passages to the work. Phrases (unknown counts) are kept.
        let mut plain: Vec<(u64, &String)> = useful
            .iter()
            .filter_map(|t| count(t).map(|n| (n, t)))
            .collect();
        plain.sort_by_key(|(n, _)| *n);
        let rarest: Vec<&String> = plain.iter().take(MAX_WORDS).map(|(_, t)| *t).collect();
        return useful
            .iter()
            .filter(|t| count(t).is_none() || rarest.contains(t))
            .cloned()
            .collect();
    }
    // Only common words (a vague question): search with those.
    let present: Vec<String> = terms
        .iter()
        .filter(|t| count(t).is_some_and(|n| n > 0))
        .cloned()
        .collect();
    if present.is_empty() {
        terms.to_vec()
    } else {
        present
    }
}

/// Where a document goes once read: `ready`, or `embedding` when the base embeds.
fn after_reading(base: &KnowledgeBase) -> DocStatus {
    if base.embedder == EmbedderSpec::None {
        DocStatus::Ready
    } else {
        DocStatus::Embedding
    }
}

/// A file over `knowledge.max_file_bytes`, refused with the limit and the setting.
fn too_large(name: String, size: u64, limit: u64) -> AppError {
    AppError::new(
        "too_large",
        LoadError::TooLarge {
            name,
            size,
            limit,
            setting: None,
        }
        .with_setting("knowledge.max_file_bytes (or ORCHARD_KB_MAX_FILE_BYTES)")
        .to_string(),
    )
}

fn host_of(url: &orchard_net::Url) -> String {
    url.host_str().unwrap_or("the host").to_owned()
}

/// Loads and cuts a document. A document without text fails with the loader's reason.
fn parse(
    fetched: &Fetched,
    limits: &Limits,
    opts: &ChunkOptions,
) -> Result<ParsedDocument, AppError> {
    let loaded = load(&fetched.name, &fetched.bytes, limits)
        .map_err(|e| AppError::new("unreadable", e.to_string()))?;
    let chunks = chunk(&loaded, opts);
    if chunks.is_empty() {
        return Err(AppError::new(
            "unreadable",
            format!("{} has no text to search", fetched.name),
        ));
    }
    let chunks = chunks
        .into_iter()
        .map(|c| NewChunk {
            search_text: orchard_rag::keyword::index_text(&c.text),
            location: ChunkLocation {
                start: c.start as u64,
                end: c.end as u64,
                page: c.page,
                heading_path: c.heading_path,
            },
            tokens: u32::try_from(c.tokens).unwrap_or(u32::MAX),
            text: c.text,
        })
        .collect();
    Ok(ParsedDocument {
        title: loaded.title.clone(),
        kind: kind_name(loaded.kind),
        bytes: fetched.bytes.len() as u64,
        content_hash: hex::encode(Sha256::digest(&fetched.bytes)),
        text: loaded.text,
        chunks,
    })
}

/// The files under `path` (or `path` itself), with their sizes, and what was skipped.
#[allow(clippy::type_complexity)]
fn walk(path: &Path) -> Result<(Vec<(String, Option<u64>)>, Vec<(String, String)>), AppError> {
    let meta = std::fs::metadata(path).map_err(|e| {
        AppError::new(
            "source_unreadable",
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    let canon = |p: &Path| {
        std::fs::canonicalize(p)
            .unwrap_or_else(|_| p.to_path_buf())
            .to_string_lossy()
            .into_owned()
    };
    if meta.is_file() {
        return Ok((vec![(canon(path), Some(meta.len()))], Vec::new()));
    }
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    let walker = ignore::WalkBuilder::new(path)
        .follow_links(true)
        .hidden(true)
        .git_ignore(true)
        .git_global(false)
        .git_exclude(false)
        .require_git(false)
        .add_custom_ignore_filename(".orchardignore")
        .sort_by_file_path(|a, b| a.cmp(b))
        .build();
    for entry in walker {
        match entry {
            Ok(e) => {
                if e.file_type().is_some_and(|t| t.is_file()) {
                    let size = e.metadata().ok().map(|m| m.len());
                    files.push((canon(e.path()), size));
                }
            }
            Err(e) => {
                let (path, why) = describe_walk_error(&e);
                skipped.push((path, why));
            }
        }
    }
    Ok((files, skipped))
}

fn describe_walk_error(e: &ignore::Error) -> (String, String) {
    match e {
        ignore::Error::WithPath { path, err } => {
            (path.display().to_string(), describe_walk_error(err).1)
        }
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            describe_walk_error(err)
        }
        ignore::Error::Loop { child, ancestor } => (
            child.display().to_string(),
            format!("a symlink loop back to {}", ancestor.display()),
        ),
        other => (String::new(), other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn large_bases_search_without_words_found_everywhere_or_nowhere() {
        let terms = strings(&["Orchard", "quince", "zebra", "知 识"]);
        let words = strings(&["orchard", "quince", "zebra"]);
        // 100,000 passages: "orchard" in 90 %, "quince" in 12, "zebra" in none.
        let kept = prune_terms(&terms, &words, &[90_000, 12, 0], 100_000);
        assert_eq!(kept, strings(&["quince", "知 识"]));
        // Only common words: they are searched for rather than nothing.
        let kept = prune_terms(
            &strings(&["orchard", "zebra"]),
            &strings(&["orchard", "zebra"]),
            &[90_000, 0],
            100_000,
        );
        assert_eq!(kept, strings(&["orchard"]));
        // At most the four rarest words, in their order in the question.
        let many = strings(&["a1", "b2", "c3", "d4", "e5", "f6"]);
        let kept = prune_terms(&many, &many, &[60, 50, 40, 30, 20, 10], 100_000);
        assert_eq!(kept, strings(&["c3", "d4", "e5", "f6"]));
        // A small base keeps every word.
        let kept = prune_terms(&terms, &words, &[900, 1, 0], 1_000);
        assert_eq!(kept, terms);
    }
}
