//! ChatGPT's `conversations.json`: an array of conversations, each a tree of nodes
//! (`mapping`: node id → `{id, message, parent, children}`) with `current_node` naming
//! the leaf of the branch on screen.
//!
//! What is kept, and why:
//! - user, assistant and visible system messages, with every branch (an edited question
//!   or a regenerated answer is a second child of the same node, so it becomes a sibling);
//! - reasoning (`thoughts`, `reasoning_recap`) as thinking blocks, folded into the
//!   assistant answer that follows when there is exactly one (see
//!   [`fold_thinking`](crate::tree::fold_thinking));
//! - images in `multimodal_text` as image blocks named after their asset (the export's
//!   image files are not part of `conversations.json`, so the blocks have no file).
//!
//! What is left out, with its children moved up to the nearest kept ancestor:
//! - structural nodes (`message: null`), hidden messages
//!   (`is_visually_hidden_from_conversation`, which covers custom instructions) and
//!   messages with no text (ChatGPT's empty system prompt);
//! - tool traffic: `tool` messages and assistant messages addressed to a tool
//!   (`recipient` other than `all`). Orchard replays a branch to the model when a topic
//!   is continued, and tool results without the provider's matching call ids would make
//!   providers reject the request; ChatGPT's UI mostly hides these steps too.

use serde_json::{Map, Value};

use orchard_core::Timestamp;
use orchard_core::message::{ArchivedBlock, ArchivedModel, BlockKind, MessageStatus, Role};

use crate::error::{Format, ImportError, Place, short};
use crate::tree::{self, Draft, Node};
use crate::util::{fenced, from_seconds};

/// Messages (nodes with a message) in the file, for the size limit.
pub(crate) fn count(conversations: &[Value]) -> usize {
    conversations
        .iter()
        .filter_map(|c| c.get("mapping").and_then(Value::as_object))
        .map(|m| {
            m.values()
                .filter(|n| n.get("message").is_some_and(|m| !m.is_null()))
                .count()
        })
        .fold(0usize, usize::saturating_add)
}

/// One conversation (`index` from 0) as an archive.
pub(crate) fn conversation(
    index: usize,
    value: &Value,
) -> Result<orchard_core::message::TopicArchive, ImportError> {
    let mut place = Place::conversation(Format::ChatGpt, index);
    let obj = value
        .as_object()
        .ok_or_else(|| place.err("it is not a JSON object"))?;
    let title = match obj.get("title") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.trim().to_owned()),
        Some(_) => return Err(place.err("its title is not a string")),
    };
    place.title = title.clone();
    let mapping = obj
        .get("mapping")
        .and_then(Value::as_object)
        .ok_or_else(|| place.err("it has no \"mapping\" (its tree of messages)"))?;
    let created = seconds(obj, "create_time", &place)?;
    let updated = seconds(obj, "update_time", &place)?;
    let current = match obj.get("current_node") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => return Err(place.err("its \"current_node\" is not a string")),
    };

    let mut nodes = Vec::with_capacity(mapping.len());
    for (id, node) in mapping {
        nodes.push(read_node(id, node, &place)?);
    }
    let first_time = nodes
        .iter()
        .filter_map(|n| n.draft.as_ref().and_then(|d| d.created_at))
        .min();
    let last_time = nodes
        .iter()
        .filter_map(|n| n.draft.as_ref().and_then(|d| d.created_at))
        .max();
    let created_at = created.or(first_time).unwrap_or(Timestamp::from_millis(0));
    let updated_at = updated.or(last_time).unwrap_or(created_at);

    // Without a current node, the last message in file order stands in (`None`).
    let (messages, current) = tree::build(nodes, current, created_at, &place)?;
    let (messages, current) = tree::fold_thinking(messages, current);
    Ok(orchard_core::message::TopicArchive {
        title: title
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| crate::DEFAULT_TITLE.to_owned()),
        created_at,
        updated_at,
        messages,
        current,
    })
}

fn seconds(
    obj: &Map<String, Value>,
    key: &str,
    place: &Place,
) -> Result<Option<Timestamp>, ImportError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64().and_then(from_seconds)),
        Some(_) => Err(place.err(format!("its \"{key}\" is not a number of seconds"))),
    }
}

fn read_node(id: &str, node: &Value, place: &Place) -> Result<Node, ImportError> {
    let obj = node
        .as_object()
        .ok_or_else(|| place.err(format!("the node '{}' is not a JSON object", short(id))))?;
    let parent = match obj.get("parent") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) => Some(p.clone()),
        Some(_) => {
            return Err(place.err(format!(
                "message '{}' has a parent that is not a string",
                short(id)
            )));
        }
    };
    let children = match obj.get("children") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|c| c.as_str().map(str::to_owned))
            .collect(),
        Some(_) => {
            return Err(place.err(format!(
                "message '{}' has \"children\" that are not a list",
                short(id)
            )));
        }
    };
    let draft = match obj.get("message") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => read_message(id, m, place)?,
        Some(_) => {
            return Err(place.err(format!("message '{}' is not a JSON object", short(id))));
        }
    };
    Ok(Node {
        id: id.to_owned(),
        parent,
        children,
        draft,
    })
}

/// A message, or `None` when it is left out (see the module documentation).
fn read_message(
    id: &str,
    m: &Map<String, Value>,
    place: &Place,
) -> Result<Option<Draft>, ImportError> {
    let role = match m.get("author").and_then(|a| a.get("role")) {
        Some(Value::String(r)) => match r.as_str() {
            "user" => Role::User,
            "assistant" => Role::Assistant,
            "system" => Role::System,
            "tool" => return Ok(None),
            other => {
                return Err(place.err(format!(
                    "message '{}' has the author role '{}' (expected system, user, \
                     assistant or tool)",
                    short(id),
                    short(other)
                )));
            }
        },
        _ => {
            return Err(place.err(format!("message '{}' has no author role", short(id))));
        }
    };
    let metadata = m.get("metadata").and_then(Value::as_object);
    let flag = |key: &str| {
        metadata
            .and_then(|md| md.get(key))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    if flag("is_visually_hidden_from_conversation") {
        return Ok(None);
    }
    let recipient = m.get("recipient").and_then(Value::as_str).unwrap_or("all");
    if role == Role::Assistant && recipient != "all" {
        return Ok(None);
    }
    let Some(content) = m.get("content").and_then(Value::as_object) else {
        return Ok(None);
    };
    let blocks = blocks(content);
    if blocks.is_empty() {
        return Ok(None);
    }
    let created_at = match m.get("create_time") {
        Some(Value::Number(n)) => n.as_f64().and_then(from_seconds),
        _ => None,
    };
    let model = (role == Role::Assistant)
        .then(|| {
            metadata
                .and_then(|md| md.get("model_slug"))
                .and_then(Value::as_str)
        })
        .flatten()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|slug| ArchivedModel {
            provider: "openai".to_owned(),
            model: slug.to_owned(),
        });
    let finish = metadata
        .and_then(|md| md.get("finish_details"))
        .and_then(|f| f.get("type"))
        .and_then(Value::as_str);
    let status = match (m.get("status").and_then(Value::as_str), finish) {
        // The person pressed stop.
        (_, Some("interrupted")) => MessageStatus::Cancelled,
        (Some("in_progress" | "finished_partial_completion"), _) => MessageStatus::Interrupted,
        _ => MessageStatus::Done,
    };
    Ok(Some(Draft {
        role,
        status,
        model,
        blocks,
        created_at,
    }))
}

fn text_block(s: &str) -> Option<ArchivedBlock> {
    (!s.trim().is_empty()).then(|| block(BlockKind::Text, s.to_owned()))
}

fn block(kind: BlockKind, content: String) -> ArchivedBlock {
    ArchivedBlock {
        kind,
        content,
        data: None,
    }
}

fn str_field<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    obj.get(key).and_then(Value::as_str)
}

/// The blocks of a message's `content`, by its `content_type`.
fn blocks(content: &Map<String, Value>) -> Vec<ArchivedBlock> {
    let kind = str_field(content, "content_type").unwrap_or("text");
    match kind {
        "thoughts" => content
            .get("thoughts")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(Value::as_object)
            .filter_map(|t| {
                let parts: Vec<&str> = ["summary", "content"]
                    .iter()
                    .filter_map(|k| str_field(t, k))
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .collect();
                (!parts.is_empty()).then(|| block(BlockKind::Thinking, parts.join("\n\n")))
            })
            .collect(),
        "reasoning_recap" => str_field(content, "content")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| vec![block(BlockKind::Thinking, s.to_owned())])
            .unwrap_or_default(),
        "code" => str_field(content, "text")
            .filter(|s| !s.trim().is_empty())
            .map(|code| {
                let lang = str_field(content, "language")
                    .filter(|l| *l != "unknown" && !l.contains(['`', '\n']))
                    .unwrap_or("");
                vec![block(BlockKind::Text, fenced(lang, code))]
            })
            .unwrap_or_default(),
        "system_error" => str_field(content, "text")
            .filter(|s| !s.trim().is_empty())
            .map(|s| vec![block(BlockKind::Error, s.to_owned())])
            .unwrap_or_default(),
        // text, multimodal_text, and anything newer: parts first, then a `text` field.
        _ => {
            let mut out = Vec::new();
            let mut text = String::new();
            let parts = content
                .get("parts")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default();
            // Consecutive text parts make one text block; an image between them splits it.
            for part in parts {
                let b = match part {
                    Value::String(s) => block(BlockKind::Text, s.clone()),
                    Value::Object(p) => match object_part(p) {
                        Some(b) => b,
                        None => continue,
                    },
                    _ => continue,
                };
                if b.kind == BlockKind::Text {
                    if !b.content.is_empty() && !text.is_empty() {
                        text.push('\n');
                    }
                    text.push_str(&b.content);
                } else {
                    out.extend(text_block(&std::mem::take(&mut text)));
                    out.push(b);
                }
            }
            out.extend(text_block(&text));
            if out.is_empty()
                && let Some(s) = str_field(content, "text").or(str_field(content, "result"))
            {
                out.extend(text_block(s));
            }
            out
        }
    }
}

/// A non-text part of `multimodal_text`: an image or other asset, or a transcription.
fn object_part(p: &Map<String, Value>) -> Option<ArchivedBlock> {
    let kind = str_field(p, "content_type").unwrap_or("");
    if let Some(pointer) = str_field(p, "asset_pointer") {
        // "file-service://file-abc" or "sediment://file_123": the part after the scheme
        // is the name of the file in the export's folder.
        let name = pointer
            .split_once("://")
            .map_or(pointer, |(_, rest)| rest)
            .trim();
        let name = if name.is_empty() { "unnamed" } else { name };
        let mut data = Map::new();
        data.insert(
            "asset_pointer".to_owned(),
            Value::String(pointer.to_owned()),
        );
        for key in ["width", "height", "size_bytes"] {
            if let Some(n) = p.get(key).filter(|v| v.is_u64()) {
                data.insert(key.to_owned(), n.clone());
            }
        }
        let is_image = kind.starts_with("image");
        return Some(ArchivedBlock {
            kind: if is_image {
                BlockKind::Image
            } else {
                BlockKind::File
            },
            content: name.to_owned(),
            data: Some(Value::Object(data).to_string()),
        });
    }
    str_field(p, "text")
        .filter(|s| !s.trim().is_empty())
        .map(|s| block(BlockKind::Text, s.to_owned()))
}
