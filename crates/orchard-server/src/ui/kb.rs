//! Knowledge-base pages: the bases, one base (documents with live status, adding
//! documents, the search test, settings), and a cited passage in its document.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use orchard_core::knowledge::{DocStatus, Document, EmbedderSpec, KnowledgeBase};
use orchard_core::{ChunkId, KnowledgeBaseId};

use super::i18n::Lang;
use super::{Page, settings_page};
use crate::AppState;
use crate::api::kb::{Counts, Embedders, choices, passage_view};
use crate::error::ApiError;

/// Characters of the document shown on each side of a cited passage.
const PASSAGE_CONTEXT: usize = 50_000;

/// What to call a document: its file name, web address or note title.
pub(crate) fn doc_name(d: &Document) -> String {
    if let Some(rest) = d.source.strip_prefix("note:") {
        // `note:HASH:first line`
        let title = rest.split_once(':').map_or(rest, |(_, t)| t).trim();
        return if title.is_empty() {
            "note".to_owned()
        } else {
            title.to_owned()
        };
    }
    if d.source.starts_with("http://") || d.source.starts_with("https://") {
        return d.source.clone();
    }
    d.source
        .rsplit(['/', '\\'])
        .find(|s| !s.is_empty())
        .unwrap_or(&d.source)
        .to_owned()
}

fn status_label(status: DocStatus, lang: Lang) -> &'static str {
    let t = lang.s();
    match status {
        DocStatus::Queued => t.kb_status_queued,
        DocStatus::Parsing => t.kb_status_parsing,
        DocStatus::Embedding => t.kb_status_embedding,
        DocStatus::Ready => t.kb_status_ready,
        DocStatus::Failed => t.kb_status_failed,
    }
}

/// A document's status in words, with embedding progress.
fn status_text(d: &Document, lang: Lang) -> String {
    match d.status {
        DocStatus::Embedding => format!(
            "{} {}/{}",
            status_label(d.status, lang),
            d.embedded,
            d.chunks
        ),
        s => status_label(s, lang).to_owned(),
    }
}

/// An embedder in words, saying whether text leaves the machine.
pub(crate) fn describe_embedder(spec: &EmbedderSpec, lang: Lang) -> String {
    let t = lang.s();
    match spec {
        EmbedderSpec::None => t.kb_embedder_none.to_owned(),
        EmbedderSpec::Local { model } => {
            format!("{} {model} — {}", t.kb_local_model, t.kb_nothing_leaves)
        }
        EmbedderSpec::Provider { provider, model } => {
            format!("{provider}:{model} — {} {provider}", t.kb_sent_to)
        }
    }
}

/// One row of the documents table (also sent, rendered, with each live update).
pub(crate) fn doc_row(d: &Document, lang: Lang) -> Markup {
    let t = lang.s();
    let name = doc_name(d);
    html! {
        tr id=(format!("doc{}", d.id)) data-doc=(d.id) data-status=(d.status.as_str())
            data-updated=(d.updated_at.as_millis()) {
            td class="doc-name" {
                span class="name" { (name) }
                @if let Some(title) = d.title.as_deref().filter(|t| !t.trim().is_empty() && *t != name) {
                    " " small { (title) }
                }
            }
            td class="doc-status" {
                span class=(format!("st st-{}", d.status.as_str())) { (status_text(d, lang)) }
                @if d.status == DocStatus::Failed {
                    @if let Some(reason) = &d.error { " " span class="reason" { (reason) } }
                    " "
                    button type="button" data-kb-act="retry" aria-label=(format!("{} {name}", t.retry)) { (t.retry) }
                }
            }
            td class="num" { (d.chunks) }
            td {
                button type="button" class="icon" data-kb-act="remove"
                    aria-label=(format!("{} {name}", t.remove)) title=(t.remove) { "✕" }
            }
        }
    }
}

fn counts_line(counts: &Counts, documents: usize, passages: u64, lang: Lang) -> Markup {
    let t = lang.s();
    let by_status = [
        (DocStatus::Queued, counts.queued),
        (DocStatus::Parsing, counts.parsing),
        (DocStatus::Embedding, counts.embedding),
        (DocStatus::Ready, counts.ready),
        (DocStatus::Failed, counts.failed),
    ];
    html! {
        p class="counts" {
            (t.kb_documents) ": " (documents)
            @for (status, n) in by_status {
                @if n > 0 {
                    " · " span class=(format!("st st-{}", status.as_str())) data-count=(status.as_str()) {
                        (status_label(status, lang)) " " (n)
                    }
                }
            }
            " · " (t.kb_passages) ": " (passages)
        }
    }
}

/// The embedder, passage size and rerank fields of the create and settings forms.
fn settings_fields(choices: &Embedders, kb: Option<&KnowledgeBase>, lang: Lang) -> Markup {
    let t = lang.s();
    let current = kb.map_or_else(|| "none".to_owned(), |k| k.embedder.to_string());
    let known = current == "none"
        || choices.local.iter().any(|m| m.id == current)
        || choices.provider.iter().any(|m| m.id == current);
    let rerank = kb
        .and_then(|k| k.rerank.as_ref())
        .map(|r| format!("{}:{}", r.provider, r.model))
        .unwrap_or_default();
    html! {
        label { (t.kb_embedder) " "
            select name="embedder" {
                option value="none" selected[current == "none"] { (t.kb_embedder_none) }
                @for m in &choices.local {
                    option value=(m.id) selected[m.id == current] {
                        (describe_embedder(&EmbedderSpec::Local { model: m.model.name.clone() }, lang))
                    }
                }
                @for m in &choices.provider {
                    option value=(m.id) selected[m.id == current] {
                        (describe_embedder(&EmbedderSpec::Provider { provider: m.provider.clone(), model: m.model.clone() }, lang))
                    }
                }
                @if !known {
                    @if let Some(k) = kb {
                        option value=(current) selected { (describe_embedder(&k.embedder, lang)) }
                    }
                }
            }
        }
        label { (t.kb_chunk_size) " "
            input type="number" name="chunk_size" min="1" step="1" value=(kb.map_or(512, |k| k.chunk_size));
        }
        label { (t.kb_chunk_overlap) " "
            input type="number" name="chunk_overlap" min="0" step="1" value=(kb.map_or(64, |k| k.chunk_overlap));
        }
        label { (t.kb_rerank) " "
            select name="rerank" {
                option value="" { (t.kb_rerank_none) }
                @for m in &choices.rerank {
                    option value=(m.id) selected[m.id == rerank] { (m.id) }
                }
                @if !rerank.is_empty() && !choices.rerank.iter().any(|m| m.id == rerank) {
                    option value=(rerank) selected { (rerank) }
                }
            }
        }
    }
}

/// `/kb`: the bases and a form to create one.
pub(crate) async fn list_page(
    State(s): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let page = Page::new(&s, &headers).await?;
    let lang = page.lang();
    let t = lang.s();
    let app = s.app();
    let mut bases = Vec::new();
    for kb in app.kb_list().await? {
        let docs = app.kb_documents(kb.id).await?;
        let passages: u64 = docs.iter().map(|d| d.chunks).sum();
        bases.push((Counts::of(&docs), docs.len(), passages, kb));
    }
    let choices = choices(&s).await?;
    let content = html! {
        p class="help" { (t.kb_intro) }
        section class="card" {
            h2 { (t.kb_create) }
            form id="kb-create" class="kb-form" {
                label { (t.name) " " input name="name" id="kb-name" required; }
                (settings_fields(&choices, None, lang))
                button type="submit" class="primary" { (t.kb_create) }
            }
            p id="kb-notice" class="notice" role="alert" {}
        }
        @if bases.is_empty() { p class="empty" { (t.kb_no_bases) } }
        @for (counts, n, passages, kb) in &bases {
            section class="card kb" data-kb-id=(kb.id) {
                h2 { a href=(format!("/kb/{}", kb.id)) { (kb.name) } }
                p class="embedder" { (t.kb_embedder) ": " (describe_embedder(&kb.embedder, lang)) }
                (counts_line(counts, *n, *passages, lang))
            }
        }
    };
    Ok(settings_page(page, "/kb", t.knowledge_bases, content))
}

/// `/kb/{id}`: one base.
pub(crate) async fn base_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let Ok(id) = id.parse::<KnowledgeBaseId>() else {
        return Ok(Redirect::to("/kb").into_response());
    };
    let page = Page::new(&s, &headers).await?;
    let lang = page.lang();
    let t = lang.s();
    let app = s.app();
    let kb = app.kb(id).await?;
    let docs = app.kb_documents(id).await?;
    let passages: u64 = docs.iter().map(|d| d.chunks).sum();
    let choices = choices(&s).await?;
    let content = html! {
        div id="kb" data-kb=(kb.id) {
            p { a href="/kb" { "← " (t.knowledge_bases) } }
            p class="embedder" { (t.kb_embedder) ": " (describe_embedder(&kb.embedder, lang)) }
            (counts_line(&Counts::of(&docs), docs.len(), passages, lang))
            section class="card" {
                h2 { (t.kb_add) }
                label class="file" { (t.kb_add_files) " " input type="file" id="kb-files" multiple; }
                form id="kb-urls" {
                    label class="wide" { (t.kb_add_urls)
                        textarea name="urls" rows="2" placeholder="https://…" {}
                    }
                    p class="help" { (t.kb_urls_help) }
                    button type="submit" { (t.kb_add) }
                }
                form id="kb-note" {
                    label class="wide" { (t.kb_add_note) textarea name="note" rows="3" {} }
                    button type="submit" { (t.kb_add) }
                }
                p id="kb-notice" class="notice" role="alert" {}
            }
            section class="card" {
                h2 { (t.kb_documents) }
                table class="docs" {
                    thead {
                        tr {
                            th scope="col" { (t.kb_document) }
                            th scope="col" { (t.kb_status) }
                            th scope="col" { (t.kb_passages) }
                            th scope="col" { span class="sr-only" { (t.remove) } }
                        }
                    }
                    tbody id="docs" aria-live="polite" {
                        @for d in &docs { (doc_row(d, lang)) }
                    }
                }
                @if docs.is_empty() { p class="empty" id="docs-empty" { (t.kb_no_documents) } }
                p { button type="button" data-kb-act="reindex" { (t.kb_reindex) } }
            }
            section class="card" {
                h2 { (t.kb_search_test) }
                p class="help" { (t.kb_search_help) }
                form id="kb-search" role="search" {
                    input type="search" name="q" id="kb-query" required
                        aria-label=(t.kb_query) placeholder=(t.kb_query);
                    label { (t.kb_mode) " "
                        select name="mode" {
                            option value="hybrid" { (t.kb_mode_hybrid) }
                            option value="keyword" { (t.kb_keyword) }
                            option value="vector" { (t.kb_vector) }
                        }
                    }
                    label { (t.kb_results) " " input type="number" name="top" value="5" min="1" max="50"; }
                    button type="submit" class="primary" { (t.search) }
                }
                p id="kb-search-mode" role="status" {}
                ol id="kb-hits" class="kb-hits" {}
            }
            section class="card" {
                h2 { (t.kb_settings) }
                form id="kb-settings" class="kb-form" {
                    label { (t.name) " " input name="name" value=(kb.name) required; }
                    (settings_fields(&choices, Some(&kb), lang))
                    button type="submit" class="primary" { (t.kb_save) }
                    p id="kb-cost" class="cost" role="alert" {}
                    button type="button" id="kb-confirm" class="primary" hidden { (t.kb_confirm_change) }
                    p id="kb-settings-notice" class="notice" role="alert" {}
                }
                p { button type="button" class="danger" data-kb-act="delete" { (t.kb_delete) } }
            }
        }
    };
    Ok(settings_page(page, "/kb", &kb.name, content))
}

/// `/kb/passage/{chunk}`: a cited passage, highlighted in its document's text.
pub(crate) async fn passage_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(chunk): Path<String>,
) -> Result<Response, ApiError> {
    let Ok(chunk) = chunk.parse::<ChunkId>() else {
        return Ok(Redirect::to("/kb").into_response());
    };
    let page = Page::new(&s, &headers).await?;
    let lang = page.lang();
    let t = lang.s();
    let v = passage_view(&s, chunk, PASSAGE_CONTEXT).await?;
    let loc = &v.passage.location;
    let content = html! {
        p { a href=(format!("/kb/{}", v.kb.id)) id="kb-back" { "← " (t.kb_back) " (" (v.kb.name) ")" } }
        dl class="passage-meta" {
            dt { (t.kb_source) } dd { (doc_name(&v.document)) }
            @if let Some(p) = loc.page { dt { (t.kb_page) } dd id="passage-page" { (p) } }
            @if !loc.heading_path.is_empty() {
                dt { (t.kb_section) } dd id="passage-headings" { (loc.heading_path.join(" › ")) }
            }
        }
        div class="doc-text" id="doc-text" {
            @if v.window.cut_before { "…" }
            (v.window.before)
            mark id="passage" tabindex="-1" data-start=(loc.start) data-end=(loc.end) { (v.window.text) }
            (v.window.after)
            @if v.window.cut_after { "…" }
        }
    };
    Ok(settings_page(page, "/kb", &v.label, content))
}
