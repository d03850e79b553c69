//! Claude's `conversations.json`: an array of conversations
//! (`{uuid, name, created_at, updated_at, chat_messages}`), times in ISO 8601.
//!
//! - When messages carry `parent_message_uuid`, they form a tree (edits and retries are
//!   siblings); a parent of all zeros ("00000000-0000-4000-8000-000000000000") or none
//!   marks a root. The current leaf is `current_leaf_message_uuid` when the file has it,
//!   otherwise the last message in the file. Without parent ids the list is one branch.
//! - Content comes from the typed `content` list (`text`, `thinking`); the flat `text`
//!   field is used when the list has no text. `tool_use` and `tool_result` items are left
//!   out, for the same reason as ChatGPT's tool messages (see the `chatgpt` module).
//! - Attachments with `extracted_content` become text in the message, headed by the file
//!   name, because that text is what Claude itself was shown; `files` (and attachments
//!   without text) become image or file blocks with a name and no file.
//! - Claude's export does not say which model answered; a conversation-level `model`
//!   is used when present.

use serde_json::{Map, Value};

use orchard_core::Timestamp;
use orchard_core::message::{
    ArchivedBlock, ArchivedModel, BlockKind, MessageStatus, Role, TopicArchive,
};

use crate::error::{Format, ImportError, Place, short};
use crate::tree::{self, Draft, Node};
use crate::util::{fenced, parse_iso};

/// Messages in the file, for the size limit.
pub(crate) fn count(conversations: &[Value]) -> usize {
    conversations
        .iter()
        .filter_map(|c| c.get("chat_messages").and_then(Value::as_array))
        .map(Vec::len)
        .fold(0usize, usize::saturating_add)
}

/// One conversation (`index` from 0) as an archive.
pub(crate) fn conversation(index: usize, value: &Value) -> Result<TopicArchive, ImportError> {
    let mut place = Place::conversation(Format::Claude, index);
    let obj = value
        .as_object()
        .ok_or_else(|| place.err("it is not a JSON object"))?;
    let title = match obj.get("name") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.trim().to_owned()),
        Some(_) => return Err(place.err("its name is not a string")),
    };
    place.title = title.clone();
    let list = obj
        .get("chat_messages")
        .and_then(Value::as_array)
        .ok_or_else(|| place.err("it has no \"chat_messages\" list"))?;
    let created = time(obj, "created_at", "it has", &place)?;
    let updated = time(obj, "updated_at", "it has", &place)?;
    let model = obj
        .get("model")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(|m| ArchivedModel {
            provider: "anthropic".to_owned(),
            model: m.to_owned(),
        });

    let tree_mode = list
        .iter()
        .any(|m| m.get("parent_message_uuid").is_some_and(|p| p.is_string()));
    let mut nodes: Vec<Node> = Vec::with_capacity(list.len());
    for (i, m) in list.iter().enumerate() {
        let n = i.saturating_add(1);
        let m = m
            .as_object()
            .ok_or_else(|| place.err(format!("message {n} is not a JSON object")))?;
        let uuid = match m.get("uuid") {
            Some(Value::String(u)) if !u.trim().is_empty() => Some(u.as_str()),
            None | Some(Value::Null) => None,
            Some(_) => {
                return Err(place.err(format!("message {n} has a uuid that is not a string")));
            }
        };
        let id = match (uuid, tree_mode) {
            (Some(u), true) => u.to_owned(),
            (None, true) => {
                return Err(place.err(format!(
                    "message {n} has no uuid, but other messages name their parents by uuid"
                )));
            }
            // Linear: positions are the ids, so duplicate or missing uuids do no harm.
            (_, false) => format!("#{n}"),
        };
        let label = uuid.map_or_else(|| format!("{n}"), |u| format!("'{}'", short(u)));
        let parent = if tree_mode {
            match m.get("parent_message_uuid") {
                None | Some(Value::Null) => None,
                Some(Value::String(p)) if is_root_marker(p) => None,
                Some(Value::String(p)) => Some(p.clone()),
                Some(_) => {
                    return Err(place.err(format!(
                        "message {label} has a parent_message_uuid that is not a string"
                    )));
                }
            }
        } else {
            nodes.last().map(|prev| prev.id.clone())
        };
        let draft = read_message(m, &label, model.as_ref(), &place)?;
        nodes.push(Node {
            id,
            parent,
            children: Vec::new(),
            draft,
        });
    }

    let current = if tree_mode {
        obj.get("current_leaf_message_uuid")
            .and_then(Value::as_str)
            .filter(|c| nodes.iter().any(|n| n.id == *c))
            .map(str::to_owned)
            .or_else(|| nodes.last().map(|n| n.id.clone()))
    } else {
        nodes.last().map(|n| n.id.clone())
    };
    let times = nodes
        .iter()
        .filter_map(|n| n.draft.as_ref().and_then(|d| d.created_at));
    let first_time = times.clone().min();
    let last_time = times.max();
    let created_at = created.or(first_time).unwrap_or(Timestamp::from_millis(0));
    let updated_at = updated.or(last_time).unwrap_or(created_at);
    let (messages, current) = tree::build(nodes, current.as_deref(), created_at, &place)?;
    Ok(TopicArchive {
        title: title
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| crate::DEFAULT_TITLE.to_owned()),
        created_at,
        updated_at,
        messages,
        current,
    })
}

/// Claude's "no parent": a uuid whose digits are all zero apart from the version and
/// variant digits ("00000000-0000-4000-8000-000000000000").
fn is_root_marker(uuid: &str) -> bool {
    let hex: Vec<char> = uuid.trim().chars().filter(|c| *c != '-').collect();
    hex.len() == 32
        && hex
            .iter()
            .enumerate()
            .all(|(i, c)| *c == '0' || i == 12 || i == 16)
}

fn time(
    obj: &Map<String, Value>,
    key: &str,
    who: &str,
    place: &Place,
) -> Result<Option<Timestamp>, ImportError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => parse_iso(s).map(Some).ok_or_else(|| {
            place.err(format!(
                "{who} {key} '{}', which is not an ISO 8601 time",
                short(s)
            ))
        }),
        Some(_) => Err(place.err(format!("{who} a {key} that is not a string"))),
    }
}

/// A message, or `None` when it has nothing to show (its children move up).
fn read_message(
    m: &Map<String, Value>,
    label: &str,
    model: Option<&ArchivedModel>,
    place: &Place,
) -> Result<Option<Draft>, ImportError> {
    let role = match m.get("sender").and_then(Value::as_str) {
        Some("human" | "user") => Role::User,
        Some("assistant") => Role::Assistant,
        Some("system") => Role::System,
        Some(other) => {
            return Err(place.err(format!(
                "message {label} has the sender '{}' (expected \"human\" or \"assistant\")",
                short(other)
            )));
        }
        None => return Err(place.err(format!("message {label} has no sender"))),
    };
    let created_at = time(m, "created_at", &format!("message {label} has"), place)?;

    let mut blocks = Vec::new();
    let mut has_text = false;
    if let Some(items) = m.get("content").and_then(Value::as_array) {
        for item in items.iter().filter_map(Value::as_object) {
            let kind = item.get("type").and_then(Value::as_str).unwrap_or("");
            let (block_kind, field) = match kind {
                "thinking" => (BlockKind::Thinking, "thinking"),
                // Tool calls and results are left out (see the module documentation).
                "tool_use" | "tool_result" => continue,
                _ => (BlockKind::Text, "text"),
            };
            if let Some(s) = item
                .get(field)
                .and_then(Value::as_str)
                .filter(|s| !s.trim().is_empty())
            {
                has_text |= block_kind == BlockKind::Text;
                blocks.push(block(block_kind, s.to_owned()));
            }
        }
    }
    if !has_text
        && let Some(s) = m
            .get("text")
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
    {
        blocks.push(block(BlockKind::Text, s.to_owned()));
    }

    let mut named: Vec<String> = Vec::new();
    for a in list(m, "attachments") {
        let name = file_name(a);
        match a
            .get("extracted_content")
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
        {
            Some(text) => blocks.push(block(
                BlockKind::Text,
                format!("Attached file {}:\n\n{}", name, fenced("", text)),
            )),
            None => blocks.push(file_block(&name)),
        }
        named.push(name);
    }
    for f in list(m, "files").chain(list(m, "files_v2")) {
        let name = file_name(f);
        // The same upload can be listed in several of these lists.
        if !named.contains(&name) {
            blocks.push(file_block(&name));
            named.push(name);
        }
    }
    if blocks.is_empty() {
        return Ok(None);
    }
    Ok(Some(Draft {
        role,
        status: MessageStatus::Done,
        model: (role == Role::Assistant).then(|| model.cloned()).flatten(),
        blocks,
        created_at,
    }))
}

fn list<'a>(
    m: &'a Map<String, Value>,
    key: &str,
) -> impl Iterator<Item = &'a Map<String, Value>> + use<'a> {
    m.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(Value::as_object)
}

fn file_name(f: &Map<String, Value>) -> String {
    f.get("file_name")
        .and_then(Value::as_str)
        .map(|s| s.trim().replace(['\n', '\r'], " "))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unnamed file".to_owned())
}

fn file_block(name: &str) -> ArchivedBlock {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    let image = matches!(
        ext.as_deref(),
        Some("png" | "jpg" | "jpeg" | "gif" | "webp" | "heic")
    );
    block(
        if image {
            BlockKind::Image
        } else {
            BlockKind::File
        },
        name.to_owned(),
    )
}

fn block(kind: BlockKind, content: String) -> ArchivedBlock {
    ArchivedBlock {
        kind,
        content,
        data: None,
    }
}
