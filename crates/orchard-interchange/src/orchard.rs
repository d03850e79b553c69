//! Orchard's own JSON export: `{"format": "orchard-topics", "version": 1, "topics": […]}`
//! where each topic is a [`TopicArchive`] as serde writes it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use orchard_core::message::{MessageStatus, TopicArchive};

use crate::error::{Format, ImportError, Place};

/// The value of the `format` field that marks an Orchard export.
pub(crate) const FORMAT_TAG: &str = "orchard-topics";
/// The version this code writes and reads.
const VERSION: u64 = 1;

#[derive(Serialize)]
struct Document<'a> {
    format: &'static str,
    version: u64,
    topics: &'a [TopicArchive],
}

/// Writes the export, pretty-printed, with a final newline.
pub(crate) fn write(topics: &[TopicArchive]) -> String {
    let doc = Document {
        format: FORMAT_TAG,
        version: VERSION,
        topics,
    };
    // Plain data with string keys: serde_json cannot fail on it.
    let mut out = serde_json::to_string_pretty(&doc)
        .expect("an archive of plain data always serializes to JSON");
    out.push('\n');
    out
}

/// Messages in the file, for the size limit.
pub(crate) fn count(doc: &Map<String, Value>) -> usize {
    doc.get("topics")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|t| t.get("messages").and_then(Value::as_array))
        .map(Vec::len)
        .fold(0usize, usize::saturating_add)
}

/// Reads an export whose `format` is already known to be ours.
pub(crate) fn read(doc: &Map<String, Value>) -> Result<Vec<TopicArchive>, ImportError> {
    let file = Place::file(Format::Orchard);
    match doc.get("version") {
        Some(v) if v.as_u64() == Some(VERSION) => {}
        Some(v) => {
            return Err(ImportError::UnsupportedVersion {
                found: crate::error::short(&v.to_string()),
            });
        }
        None => return Err(file.err("it has no \"version\"")),
    }
    let topics = doc
        .get("topics")
        .and_then(Value::as_array)
        .ok_or_else(|| file.err("it has no \"topics\" list"))?;
    let mut out = Vec::with_capacity(topics.len());
    for (i, t) in topics.iter().enumerate() {
        let mut place = Place::conversation(Format::Orchard, i);
        place.title = t.get("title").and_then(Value::as_str).map(str::to_owned);
        let mut topic = TopicArchive::deserialize(t).map_err(|e| place.err(e.to_string()))?;
        check(&topic, &place)?;
        // Nothing is still being written in a file: open statuses mean "cut short".
        for m in &mut topic.messages {
            if m.status.is_open() {
                m.status = MessageStatus::Interrupted;
            }
        }
        out.push(topic);
    }
    Ok(out)
}

/// The rules serde cannot check: parents come first, `current` is a message.
fn check(topic: &TopicArchive, place: &Place) -> Result<(), ImportError> {
    for (i, m) in topic.messages.iter().enumerate() {
        if let Some(p) = m.parent
            && p >= i
        {
            return Err(place.err(format!(
                "the message at index {i} names the message at index {p} as its parent, \
                 but a parent must come before its children"
            )));
        }
    }
    if let Some(c) = topic.current
        && c >= topic.messages.len()
    {
        return Err(place.err(format!(
            "its current message is index {c}, but it has {} messages",
            topic.messages.len()
        )));
    }
    Ok(())
}
