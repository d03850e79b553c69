//! From stored rows to an archive: ids become indexes.

use std::collections::{HashMap, HashSet};

use orchard_core::MessageId;
use orchard_core::message::{
    ArchivedBlock, ArchivedMessage, ArchivedModel, Message, MessageStatus, Topic, TopicArchive,
};

/// Builds the archive of `topic` from all its `messages` (every branch).
///
/// Messages keep the order given as long as parents come first (the store lists them
/// that way); a message listed before its parent is moved to just after it, so the
/// archive's rule "a parent comes before its children" always holds. A message whose
/// parent is not among `messages` becomes a root. `current` is the index of the topic's
/// `current_message_id`, or `None` when that message is not given. Messages still being
/// written (pending, streaming) are archived as interrupted: a file never changes.
/// Usage, timings and finish reasons are not part of an archive and are left out.
pub fn archive(topic: &Topic, messages: &[Message]) -> TopicArchive {
    let ids: HashSet<MessageId> = messages.iter().map(|m| m.id).collect();
    let mut order: Vec<usize> = Vec::with_capacity(messages.len());
    let mut done: HashSet<MessageId> = HashSet::with_capacity(messages.len());
    // Messages waiting for a parent that comes later in the list.
    let mut waiting: HashMap<MessageId, Vec<usize>> = HashMap::new();
    for (i, m) in messages.iter().enumerate() {
        match m.parent_id {
            Some(p) if ids.contains(&p) && !done.contains(&p) && p != m.id => {
                waiting.entry(p).or_default().push(i);
            }
            _ => emit(i, messages, &mut order, &mut done, &mut waiting),
        }
    }
    // Anything still waiting hangs off a loop of parent ids: the first of the loop
    // becomes a root rather than the whole loop being lost.
    let mut rest: Vec<usize> = waiting.into_values().flatten().collect();
    rest.sort_unstable();
    let mut waiting = HashMap::new();
    for i in rest {
        if !done.contains(&messages[i].id) {
            emit(i, messages, &mut order, &mut done, &mut waiting);
        }
    }

    let mut index: HashMap<MessageId, usize> = HashMap::with_capacity(order.len());
    let mut out = Vec::with_capacity(order.len());
    for &i in &order {
        let m = &messages[i];
        let parent = m.parent_id.and_then(|p| index.get(&p).copied());
        index.entry(m.id).or_insert(out.len());
        out.push(ArchivedMessage {
            parent,
            role: m.role,
            status: if m.status.is_open() {
                MessageStatus::Interrupted
            } else {
                m.status
            },
            model: m.model.as_ref().map(|s| ArchivedModel {
                provider: s.provider_name.clone(),
                model: s.model_id.clone(),
            }),
            blocks: m
                .blocks
                .iter()
                .map(|b| ArchivedBlock {
                    kind: b.kind,
                    content: b.content.clone(),
                    data: b.data.clone(),
                })
                .collect(),
            created_at: m.created_at,
        });
    }
    TopicArchive {
        title: topic.title.clone(),
        created_at: topic.created_at,
        updated_at: topic.updated_at,
        current: topic
            .current_message_id
            .and_then(|c| index.get(&c).copied()),
        messages: out,
    }
}

/// Puts message `i` in the order, then (iteratively) everything that waited for it.
fn emit(
    i: usize,
    messages: &[Message],
    order: &mut Vec<usize>,
    done: &mut HashSet<MessageId>,
    waiting: &mut HashMap<MessageId, Vec<usize>>,
) {
    let mut stack = vec![i];
    while let Some(i) = stack.pop() {
        let id = messages[i].id;
        if !done.insert(id) {
            continue;
        }
        order.push(i);
        if let Some(mut kids) = waiting.remove(&id) {
            kids.reverse();
            stack.extend(kids);
        }
    }
}
