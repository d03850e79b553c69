//! HTML fragments of a conversation: messages, turns, live answers, search snippets.
//! The same functions render the page and the fragments the API returns, so a message
//! looks the same whether it came with the page or arrived later.

use maud::{Markup, PreEscaped, html};
use orchard_core::message::{
    BlockKind, BranchEntry, Message, MessageStatus, Role, SNIPPET_END, SNIPPET_START,
};

use super::escape;
use super::i18n::Lang;

/// Model output, rendered safely (see `orchard-render`).
pub fn answer_html(markdown: &str) -> String {
    if markdown.is_empty() {
        return String::new();
    }
    orchard_render::render_markdown(markdown)
}

/// A search snippet: the text escaped, the matches in `<mark>`.
pub fn snippet_html(snippet: &str) -> String {
    escape(snippet)
        .replace(SNIPPET_START, "<mark>")
        .replace(SNIPPET_END, "</mark>")
}

/// Messages of a branch, in order.
pub fn entries(entries: &[BranchEntry], lang: Lang) -> Markup {
    html! {
        @for e in entries { (entry(e, lang)) }
    }
}

/// A question and the replies started for it; several replies (one per model) are
/// shown side by side.
pub fn turn(question: Option<&BranchEntry>, replies: &[BranchEntry], lang: Lang) -> Markup {
    html! {
        @if let Some(q) = question { (entry(q, lang)) }
        @if replies.len() > 1 {
            div class=(format!("replies multi n{}", replies.len().min(4))) {
                @for r in replies { (entry(r, lang)) }
            }
        } @else {
            @for r in replies { (entry(r, lang)) }
        }
    }
}

fn json_field(data: Option<&str>, field: &str) -> Option<serde_json::Value> {
    data.and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        .map(|v| v[field].clone())
        .filter(|v| !v.is_null())
}

/// One entry of a reply's citation block: which passage `[n]` refers to.
#[derive(serde::Deserialize)]
struct Cite {
    n: u32,
    chunk: i64,
    #[serde(default)]
    label: String,
}

/// The passages a reply was given, numbered as the model saw them.
fn citations(m: &Message) -> Vec<Cite> {
    m.blocks
        .iter()
        .filter(|b| b.kind == BlockKind::Citation)
        .filter_map(|b| b.data.as_deref())
        .filter_map(|d| serde_json::from_str::<Vec<Cite>>(d).ok())
        .flatten()
        .collect()
}

fn seconds(ms: u64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

/// Usage and speed of a reply: `12 → 340 tokens · first token 0.8 s · 45 tokens/s`.
fn stats(m: &Message, lang: Lang) -> Option<String> {
    let s = lang.s();
    let mut parts = Vec::new();
    if let (Some(i), Some(o)) = (m.usage.input_tokens, m.usage.output_tokens) {
        parts.push(format!("{i} → {o} {}", s.tokens));
    }
    if let Some(ft) = m.timings.first_token_ms {
        parts.push(format!("{} {}", s.first_token, seconds(ft)));
    }
    if let (Some(o), Some(ft), Some(total)) = (
        m.usage.output_tokens,
        m.timings.first_token_ms,
        m.timings.total_ms,
    ) && total > ft
    {
        let rate = o as f64 * 1000.0 / (total - ft) as f64;
        parts.push(format!("{rate:.0} {}", s.tokens_per_second));
    }
    (!parts.is_empty()).then(|| parts.join(" · "))
}

fn status_label(status: MessageStatus, lang: Lang) -> Option<&'static str> {
    let s = lang.s();
    match status {
        MessageStatus::Pending => Some(s.status_pending),
        MessageStatus::Streaming => Some(s.status_streaming),
        MessageStatus::Cancelled => Some(s.status_cancelled),
        MessageStatus::Interrupted => Some(s.status_interrupted),
        MessageStatus::Error => Some(s.status_error),
        MessageStatus::Done => None,
    }
}

/// One message.
pub fn entry(e: &BranchEntry, lang: Lang) -> Markup {
    let m = &e.message;
    let s = lang.s();
    if m.blocks.iter().any(|b| b.kind == BlockKind::Divider) {
        return html! {
            div class="divider" role="separator" id=(format!("m{}", m.id)) data-id=(m.id) data-role="divider" {
                span { (s.context_cleared) }
                button type="button" class="icon" data-act="delete" aria-label=(s.delete) title=(s.delete) { "×" }
            }
        };
    }
    let who = match m.role {
        Role::User => s.you.to_owned(),
        Role::System => s.system.to_owned(),
        Role::Assistant | Role::Tool => m.model.as_ref().map_or_else(
            || "Assistant".to_owned(),
            |mm| format!("{} · {}", mm.provider_name, mm.model_id),
        ),
    };
    let pos = e.position();
    let count = e.siblings.len();
    let thinking = m.blocks.iter().find(|b| b.kind == BlockKind::Thinking);
    let error = m.blocks.iter().find(|b| b.kind == BlockKind::Error);
    let text = m.text();
    let body = match m.role {
        // The person's own words are shown as written, not as Markdown.
        Role::User => orchard_render::render_plain(&text),
        _ => answer_html(&text),
    };
    let time = super::iso(m.created_at);
    html! {
        article class=(format!("msg role-{} status-{}", m.role.as_str(), m.status.as_str()))
            id=(format!("m{}", m.id)) data-id=(m.id) data-role=(m.role.as_str())
            data-status=(m.status.as_str()) data-parent=(m.parent_id.map(|p| p.to_string()).unwrap_or_default())
            aria-label=(who) {
            header {
                span class="who" { (who) }
                time datetime=(time) { (time.get(..16).unwrap_or(&time).replace('T', " ")) }
                @if count > 1 {
                    nav class="siblings" aria-label=(s.versions) {
                        button type="button" class="icon" data-act="switch"
                            data-to=(e.siblings[if pos == 0 { count - 1 } else { pos - 1 }])
                            aria-label=(s.previous_version) title=(s.previous_version) { "‹" }
                        span class="pos" { (pos + 1) "/" (count) }
                        button type="button" class="icon" data-act="switch"
                            data-to=(e.siblings[(pos + 1) % count])
                            aria-label=(s.next_version) title=(s.next_version) { "›" }
                    }
                }
            }
            @if let Some(t) = thinking {
                details class="thinking" {
                    summary {
                        (s.thinking)
                        @if let Some(ms) = json_field(t.data.as_deref(), "ms").and_then(|v| v.as_u64()) {
                            " · " (s.thought_for) " " (seconds(ms))
                        }
                    }
                    div class="md thinking-body" { (PreEscaped(answer_html(&t.content))) }
                }
            } @else if m.role == Role::Assistant && m.status.is_open() {
                details class="thinking" hidden {
                    summary { (s.thinking) }
                    div class="md thinking-body" {}
                }
            }
            div class="md body" { (PreEscaped(body)) }
            @let cites = citations(m);
            @if !cites.is_empty() {
                section class="sources" aria-label=(s.sources) {
                    h4 { (s.sources) }
                    ol {
                        @for c in &cites {
                            li { a href=(format!("/kb/passage/{}", c.chunk)) data-cite=(c.n) { "[" (c.n) "] " (c.label) } }
                        }
                    }
                }
            }
            @let files: Vec<_> = m.blocks.iter().filter(|b| matches!(b.kind, BlockKind::Image | BlockKind::File)).collect();
            @if !files.is_empty() {
                ul class="attachments" {
                    @for f in files {
                        li { (if f.kind == BlockKind::Image { s.attachment_image } else { s.attachment_file }) ": " (f.content) }
                    }
                }
            }
            @if let Some(label) = status_label(m.status, lang) {
                p class="status" role="status" { (label) }
            }
            @if let Some(err) = error {
                div class="error" role="alert" {
                    p { (err.content) }
                    button type="button" data-act="regenerate" { (s.retry) }
                }
            }
            footer {
                @if let Some(st) = stats(m, lang) { span class="stats" { (st) } }
                span class="actions" {
                    button type="button" class="icon" data-act="copy" aria-label=(s.copy) title=(s.copy) { "❐" }
                    @if m.role == Role::Assistant {
                        button type="button" class="icon" data-act="regenerate" aria-label=(s.regenerate) title=(s.regenerate) { "↻" }
                    }
                    @if m.role == Role::User {
                        button type="button" class="icon" data-act="edit" aria-label=(s.edit) title=(s.edit) { "✎" }
                    }
                    button type="button" class="icon" data-act="delete" aria-label=(s.delete) title=(s.delete) { "✕" }
                }
            }
        }
    }
}
