//! Text output: tables and conversations.

use std::fmt::Write as _;

use orchard_app::providers::ProviderView;
use orchard_core::Timestamp;
use orchard_core::message::{BlockKind, Message, MessageStatus, Role, Topic, TopicSummary};
use orchard_core::provider::KeyStatus;

/// Model output is hostile input: on a terminal, control characters (escape sequences
/// that move the cursor, rewrite the title, write the clipboard) are removed. Newlines
/// and tabs stay. Pipes get the text unchanged.
pub fn for_terminal(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char =
        |c: char| (c.is_control() && c != '\n' && c != '\t') || ('\u{80}'..='\u{9f}').contains(&c);
    if text.chars().any(unsafe_char) {
        std::borrow::Cow::Owned(text.chars().filter(|c| !unsafe_char(*c)).collect())
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// Left-aligned columns separated by two spaces; the last column is not padded.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[String]| {
        let last = cells.len() - 1;
        for (i, cell) in cells.iter().enumerate() {
            out.push_str(cell);
            if i < last {
                let pad = widths[i] - cell.chars().count() + 2;
                out.push_str(&" ".repeat(pad));
            }
        }
        let trimmed = out.trim_end_matches(' ').len();
        out.truncate(trimmed);
        out.push('\n');
    };
    line(&header.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>());
    for row in rows {
        line(row);
    }
    out
}

/// `2026-11-23 15:50` in the machine's time zone.
pub fn local_time(ts: Timestamp) -> String {
    local_format(ts, "%Y-%m-%d %H:%M")
}

/// `ts` in the local time zone, written with `fmt` (strftime).
fn local_format(ts: Timestamp, fmt: &str) -> String {
    jiff::Timestamp::from_millisecond(ts.as_millis())
        .map(|t| {
            t.to_zoned(jiff::tz::TimeZone::system())
                .strftime(fmt)
                .to_string()
        })
        .unwrap_or_else(|_| "?".to_owned())
}

/// `orchard topics`.
pub fn topics(list: &[TopicSummary]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|t| {
            vec![
                t.topic.id.to_string(),
                local_time(t.topic.updated_at),
                t.message_count.to_string(),
                format!(
                    "{}{}",
                    if t.topic.pinned { "📌 " } else { "" },
                    t.topic.title
                ),
            ]
        })
        .collect();
    table(&["ID", "UPDATED", "MESSAGES", "TITLE"], &rows)
}

/// `orchard provider list`.
pub fn providers(list: &[ProviderView]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|v| {
            let keys = if v.keys.is_empty() {
                "(none)".to_owned()
            } else {
                v.keys
                    .iter()
                    .map(|k| {
                        let resting = k.rest_until.filter(|t| *t > Timestamp::now());
                        match (k.status, resting) {
                            (KeyStatus::Invalid, _) => format!("{} (rejected)", k.mask),
                            (_, Some(until)) => {
                                format!(
                                    "{} (resting until {})",
                                    k.mask,
                                    local_format(until, "%H:%M:%S")
                                )
                            }
                            (KeyStatus::Ok, None) => format!("{} (ok)", k.mask),
                            (KeyStatus::Unknown, None) => k.mask.clone(),
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            vec![
                v.provider.name.clone(),
                v.provider.protocol.to_string(),
                v.provider.base_url.clone(),
                keys,
                v.model_count.to_string(),
                v.privacy_url().unwrap_or("-").to_owned(),
            ]
        })
        .collect();
    let mut out = table(
        &[
            "NAME",
            "PROTOCOL",
            "BASE URL",
            "KEYS",
            "MODELS",
            "PRIVACY POLICY",
        ],
        &rows,
    );
    for v in list {
        for k in v.keys.iter().filter(|k| k.status == KeyStatus::Invalid) {
            if let Some(reason) = &k.status_reason {
                let _ = writeln!(
                    out,
                    "{} key {} was rejected: {reason}",
                    v.provider.name, k.mask
                );
            }
        }
    }
    out
}

fn status_note(status: MessageStatus) -> Option<&'static str> {
    match status {
        MessageStatus::Interrupted => {
            Some("interrupted: Orchard stopped before the answer was complete")
        }
        MessageStatus::Cancelled => Some("stopped by you before the answer was complete"),
        MessageStatus::Pending | MessageStatus::Streaming => Some("still being written"),
        MessageStatus::Error | MessageStatus::Done => None,
    }
}

/// `orchard show`: the current branch as Markdown.
pub fn conversation(topic: &Topic, messages: &[Message]) -> String {
    let mut out = format!("# {} (topic {})\n", topic.title, topic.id);
    for m in messages {
        let who = match m.role {
            Role::System => "System".to_owned(),
            Role::User => "You".to_owned(),
            Role::Tool => "Tool".to_owned(),
            Role::Assistant => match &m.model {
                Some(s) => format!("Assistant · {}:{}", s.provider_name, s.model_id),
                None => "Assistant".to_owned(),
            },
        };
        let mut facts = Vec::new();
        if let (Some(i), Some(o)) = (m.usage.input_tokens, m.usage.output_tokens) {
            facts.push(format!("{i}→{o} tokens"));
        }
        if let Some(ms) = m.timings.first_token_ms {
            facts.push(format!("first token {ms} ms"));
        }
        let facts = if facts.is_empty() {
            String::new()
        } else {
            format!(" · {}", facts.join(" · "))
        };
        let _ = write!(out, "\n## {who}{facts}\n\n");
        let thinking = m.blocks_of(BlockKind::Thinking);
        if !thinking.is_empty() {
            for line in thinking.lines() {
                let _ = writeln!(out, "> {line}");
            }
            out.push('\n');
        }
        let text = m.text();
        if !text.is_empty() {
            out.push_str(&text);
            if !text.ends_with('\n') {
                out.push('\n');
            }
        }
        let error = m.blocks_of(BlockKind::Error);
        if !error.is_empty() {
            let _ = writeln!(out, "\n[error: {error}]");
        }
        if let Some(note) = status_note(m.status) {
            let _ = writeln!(out, "\n[{note}]");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_output_loses_control_sequences_but_keeps_lines() {
        let hostile = "ok\x1b]52;c;ZXZpbA==\x07\x1b[2J\rline\n\tnext\u{9b}31m";
        assert_eq!(for_terminal(hostile), "ok]52;c;ZXZpbA==[2Jline\n\tnext31m");
        assert!(matches!(
            for_terminal("plain\ntext"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn tables_align_columns_and_do_not_pad_the_last() {
        let t = table(
            &["ID", "NAME"],
            &[
                vec!["1".into(), "a".into()],
                vec!["100".into(), "long name".into()],
            ],
        );
        assert_eq!(t, "ID   NAME\n1    a\n100  long name\n");
    }
}
