//! A branch as a Markdown document a person can read anywhere.

use orchard_core::message::{Block, BlockKind, Message, MessageStatus, Role, Topic};

use crate::util::{fenced, format_utc};

/// The branch `branch` (root first, as shown) of `topic` as Markdown.
///
/// The document starts with `# Title`; system prompts come first, under
/// `## System prompt`; then each message has a heading naming its author
/// (`## You`, `## Assistant (provider · model)`, `## Tool`) and the time it was written
/// in UTC. Thinking is a blockquote headed "Thinking" (no HTML, so it reads the same
/// everywhere), errors are labelled "Error", and images and files are named (their
/// bytes are not part of the document).
pub fn export_markdown(topic: &Topic, branch: &[Message]) -> String {
    let title = one_line(&topic.title);
    let title = if title.is_empty() {
        crate::DEFAULT_TITLE.to_owned()
    } else {
        title
    };
    let mut out = format!("# {title}\n");
    let (system, rest): (Vec<&Message>, Vec<&Message>) =
        branch.iter().partition(|m| m.role == Role::System);
    for m in system {
        out.push_str("\n## System prompt\n\n");
        body(&mut out, m);
    }
    for m in rest {
        let who = match m.role {
            Role::User => "You".to_owned(),
            Role::Assistant => match &m.model {
                Some(s) => {
                    let parts: Vec<String> = [&s.provider_name, &s.model_id]
                        .into_iter()
                        .map(|p| one_line(p))
                        .filter(|p| !p.is_empty())
                        .collect();
                    if parts.is_empty() {
                        "Assistant".to_owned()
                    } else {
                        format!("Assistant ({})", parts.join(" · "))
                    }
                }
                None => "Assistant".to_owned(),
            },
            Role::Tool => "Tool".to_owned(),
            Role::System => "System prompt".to_owned(),
        };
        out.push_str(&format!("\n## {who} — {}\n\n", format_utc(m.created_at)));
        body(&mut out, m);
    }
    out
}

/// A message's blocks in order, separated by blank lines, then a note on its status.
fn body(out: &mut String, m: &Message) {
    let mut parts: Vec<String> = m.blocks.iter().filter_map(block).collect();
    let has_error = m.blocks.iter().any(|b| b.kind == BlockKind::Error);
    let note = match m.status {
        MessageStatus::Done => None,
        MessageStatus::Error if has_error => None,
        MessageStatus::Error => Some("*This answer failed.*"),
        MessageStatus::Interrupted => Some("*Interrupted before it was finished.*"),
        MessageStatus::Cancelled => Some("*Stopped before it was finished.*"),
        MessageStatus::Pending | MessageStatus::Streaming => {
            Some("*Still being written when exported.*")
        }
    };
    parts.extend(note.map(str::to_owned));
    if parts.is_empty() {
        parts.push("*(empty)*".to_owned());
    }
    out.push_str(&parts.join("\n\n"));
    out.push('\n');
}

fn block(b: &Block) -> Option<String> {
    let content = b.content.trim_end();
    if content.trim().is_empty() && b.kind != BlockKind::Divider {
        return None;
    }
    Some(match b.kind {
        BlockKind::Text => content.to_owned(),
        BlockKind::Thinking => quoted("**Thinking**", content),
        BlockKind::Citation => quoted("**Source**", content),
        BlockKind::ToolCall => format!("**Tool call**\n\n{}", fenced("", content)),
        BlockKind::Image => format!("*[Image: {}]*", escape(&one_line(content))),
        BlockKind::File => format!("*[File: {}]*", escape(&one_line(content))),
        BlockKind::Error => format!("**Error:** {content}"),
        BlockKind::Divider => {
            "---\n\n*Context cleared: the messages above were not sent to the model.*".to_owned()
        }
    })
}

/// `content` as a blockquote under a bold label.
fn quoted(label: &str, content: &str) -> String {
    let mut out = format!("> {label}\n>");
    for line in content.lines() {
        out.push('\n');
        if line.is_empty() {
            out.push('>');
        } else {
            out.push_str("> ");
            out.push_str(line);
        }
    }
    out
}

/// Text for a heading or an inline label: one line, no surrounding space.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A name with Markdown's inline punctuation escaped, so "my_*file*.png" stays a name.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '*' | '_' | '[' | ']' | '`' | '<' | '>') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
