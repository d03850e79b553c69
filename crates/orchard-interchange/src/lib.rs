//! Moving topics in and out of Orchard as files.
//!
//! - [`import`] reads ChatGPT's and Claude's `conversations.json` and Orchard's own JSON
//!   export into [`TopicArchive`]s, keeping every branch.
//! - [`export_json`] writes Orchard's JSON export; [`archive`] builds the archive of a
//!   stored topic; [`export_markdown`] writes a branch for people to read.
//!
//! Nothing here touches a file or the network: callers pass bytes in and get values or
//! strings back. Every input, however broken, gives an [`ImportError`] rather than a
//! panic, and the error says in words which conversation and message is at fault.

mod archive;
mod chatgpt;
mod claude;
mod error;
mod markdown;
mod orchard;
mod tree;
mod util;

use serde_json::Value;

use orchard_core::message::TopicArchive;

pub use archive::archive;
pub use error::{Format, ImportError};
pub use markdown::export_markdown;

/// The most messages one file may hold. An import is kept in memory whole and then
/// written in one transaction; this keeps both bounded.
pub const MAX_MESSAGES: usize = 100_000;

/// The title of a conversation that has none (the same as a new topic's).
pub(crate) const DEFAULT_TITLE: &str = "New topic";

/// Reads a ChatGPT `conversations.json`, a Claude export's `conversations.json` or an
/// Orchard JSON export, telling them apart by their shape.
///
/// Conversations come back in file order, each with all its branches and the branch
/// that was on screen as `current`. An empty array is a valid export with no
/// conversations; a single conversation object, or a list wrapped in
/// `{"conversations": […]}`, is read too. Files with more than [`MAX_MESSAGES`]
/// messages are refused. Errors count conversations from 1, in file order.
pub fn import(bytes: &[u8]) -> Result<Vec<TopicArchive>, ImportError> {
    if bytes.starts_with(b"PK\x03\x04") {
        return Err(ImportError::UnknownFormat {
            found: "a zip archive: unzip the export and import the conversations.json inside it"
                .to_owned(),
        });
    }
    let text = decode(bytes)?;
    let value: Value = serde_json::from_str(text).map_err(|e| ImportError::from_json(&e, text))?;
    match shape(&value)? {
        Shape::Empty => Ok(Vec::new()),
        Shape::Orchard(doc) => {
            limit(Format::Orchard, orchard::count(doc))?;
            orchard::read(doc)
        }
        Shape::ChatGpt(list) => {
            limit(Format::ChatGpt, chatgpt::count(list))?;
            list.iter()
                .enumerate()
                .map(|(i, c)| chatgpt::conversation(i, c))
                .collect()
        }
        Shape::Claude(list) => {
            limit(Format::Claude, claude::count(list))?;
            list.iter()
                .enumerate()
                .map(|(i, c)| claude::conversation(i, c))
                .collect()
        }
    }
}

/// Writes `topics` as Orchard's JSON export:
/// `{"format": "orchard-topics", "version": 1, "topics": […]}`, pretty-printed.
/// [`import`] reads it back into equal archives.
pub fn export_json(topics: &[TopicArchive]) -> String {
    orchard::write(topics)
}

fn limit(format: Format, count: usize) -> Result<(), ImportError> {
    if count > MAX_MESSAGES {
        return Err(ImportError::TooManyMessages {
            format,
            count,
            limit: MAX_MESSAGES,
        });
    }
    Ok(())
}

/// The bytes as text: UTF-8, with or without a byte-order mark.
fn decode(bytes: &[u8]) -> Result<&str, ImportError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    std::str::from_utf8(bytes).map_err(|e| {
        let good = bytes.get(..e.valid_up_to()).unwrap_or_default();
        // The prefix is valid UTF-8 by definition, so it can be counted in characters.
        let good = std::str::from_utf8(good).unwrap_or_default();
        let line = good.matches('\n').count().saturating_add(1);
        let column = good
            .rsplit('\n')
            .next()
            .unwrap_or_default()
            .chars()
            .count()
            .saturating_add(1);
        let utf16 = bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF");
        ImportError::NotUtf8 {
            line,
            column,
            hint: if utf16 {
                " (it looks like UTF-16; save it as UTF-8, or use the original export file)"
            } else {
                " (exports are UTF-8: is this the conversations.json from the export?)"
            },
        }
    })
}

enum Shape<'a> {
    Empty,
    ChatGpt(&'a [Value]),
    Claude(&'a [Value]),
    Orchard(&'a serde_json::Map<String, Value>),
}

/// Which format `value` is, from the keys of its first conversation.
fn shape(value: &Value) -> Result<Shape<'_>, ImportError> {
    let unknown = || ImportError::UnknownFormat {
        found: util::describe(value),
    };
    match value {
        Value::Array(list) => match list.first() {
            None => Ok(Shape::Empty),
            Some(Value::Object(first)) if first.contains_key("mapping") => Ok(Shape::ChatGpt(list)),
            Some(Value::Object(first)) if first.contains_key("chat_messages") => {
                Ok(Shape::Claude(list))
            }
            Some(_) => Err(unknown()),
        },
        Value::Object(map) => {
            if map.get("format").and_then(Value::as_str) == Some(orchard::FORMAT_TAG) {
                return Ok(Shape::Orchard(map));
            }
            // One conversation on its own, as some tools save it.
            if map.contains_key("mapping") {
                return Ok(Shape::ChatGpt(std::slice::from_ref(value)));
            }
            if map.contains_key("chat_messages") {
                return Ok(Shape::Claude(std::slice::from_ref(value)));
            }
            // Some exports wrap the list: {"conversations": […]}.
            match map.get("conversations") {
                Some(inner @ Value::Array(_)) => match shape(inner)? {
                    Shape::Orchard(_) => Err(unknown()),
                    other => Ok(other),
                },
                _ => Err(unknown()),
            }
        }
        _ => Err(unknown()),
    }
}
