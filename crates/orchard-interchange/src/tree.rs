//! Turning a foreign message tree (ids and parent ids, some nodes empty) into the
//! index-based tree of a [`TopicArchive`](orchard_core::message::TopicArchive).
//!
//! Everything here is iterative: a long linear conversation is a tree as deep as it has
//! messages, and recursion that deep would overflow the stack.

use std::collections::HashMap;

use orchard_core::Timestamp;
use orchard_core::message::{ArchivedBlock, ArchivedMessage, ArchivedModel, MessageStatus, Role};

use crate::error::{ImportError, Place, short};

/// A message as read from a foreign file, before it has an index.
#[derive(Debug)]
pub(crate) struct Draft {
    pub role: Role,
    pub status: MessageStatus,
    pub model: Option<ArchivedModel>,
    pub blocks: Vec<ArchivedBlock>,
    /// `None` when the file does not say; the message then takes its parent's time.
    pub created_at: Option<Timestamp>,
}

/// One node of a foreign tree.
#[derive(Debug)]
pub(crate) struct Node {
    /// The file's id for it (unique within the conversation).
    pub id: String,
    /// The file's id of its parent; `None` for a root.
    pub parent: Option<String>,
    /// The order the file lists its children in, if it does; children not listed here
    /// follow in file order.
    pub children: Vec<String>,
    /// Its message; `None` for structural nodes and messages left out of the import
    /// (their children move up to the nearest kept ancestor).
    pub draft: Option<Draft>,
}

/// The archive's messages and the index of the current one.
pub(crate) type Built = (Vec<ArchivedMessage>, Option<usize>);

/// Orders `nodes` parents first (each parent's children in the file's order), drops the
/// empty ones and maps `current` (a node id) to the nearest kept message at or above it.
pub(crate) fn build(
    mut nodes: Vec<Node>,
    current: Option<&str>,
    fallback_time: Timestamp,
    place: &Place,
) -> Result<Built, ImportError> {
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(nodes.len());
    for (i, n) in nodes.iter().enumerate() {
        if index.insert(n.id.as_str(), i).is_some() {
            return Err(place.err(format!("the message id '{}' appears twice", short(&n.id))));
        }
    }

    let mut parent: Vec<Option<usize>> = Vec::with_capacity(nodes.len());
    for n in &nodes {
        parent.push(match &n.parent {
            None => None,
            Some(p) => Some(*index.get(p.as_str()).ok_or_else(|| {
                place.err(format!(
                    "message '{}' has parent '{}', which is not in the file",
                    short(&n.id),
                    short(p)
                ))
            })?),
        });
    }

    // Children: first as the file lists them (that is the order of siblings a person
    // saw), then any the list forgot, in file order. A listed child whose own parent
    // says otherwise is not moved: the parent link is what places a message.
    let mut kids: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    let mut placed = vec![false; nodes.len()];
    for (i, n) in nodes.iter().enumerate() {
        for c in &n.children {
            if let Some(&c) = index.get(c.as_str())
                && parent[c] == Some(i)
                && !placed[c]
            {
                placed[c] = true;
                kids[i].push(c);
            }
        }
    }
    for (c, p) in parent.iter().enumerate() {
        if let Some(p) = *p
            && !placed[c]
        {
            placed[c] = true;
            kids[p].push(c);
        }
    }

    let mut order = Vec::with_capacity(nodes.len());
    let mut stack: Vec<usize> = (0..nodes.len())
        .filter(|&i| parent[i].is_none())
        .rev()
        .collect();
    while let Some(n) = stack.pop() {
        order.push(n);
        stack.extend(kids[n].iter().rev());
    }
    if order.len() < nodes.len() {
        // Every node has one parent, so the unreached ones hang off a loop.
        let mut reached = vec![false; nodes.len()];
        for &n in &order {
            reached[n] = true;
        }
        let stuck = reached.iter().position(|r| !r).unwrap_or(0);
        let id = nodes.get(stuck).map(|n| n.id.as_str()).unwrap_or_default();
        return Err(place.err(format!(
            "message '{}' is its own ancestor (its parent links form a loop)",
            short(id)
        )));
    }

    let current_node = current.and_then(|id| index.get(id).copied());

    // Walk parents first; a dropped node passes its nearest kept ancestor (and that
    // ancestor's time) down to its children.
    let mut nearest: Vec<Option<usize>> = vec![None; nodes.len()];
    let mut time: Vec<Option<Timestamp>> = vec![None; nodes.len()];
    let mut messages = Vec::new();
    for &n in &order {
        let kept_parent = parent[n].and_then(|p| nearest[p]);
        let parent_time = parent[n].and_then(|p| time[p]);
        match nodes[n].draft.take() {
            Some(d) => {
                let created_at = d.created_at.or(parent_time).unwrap_or(fallback_time);
                nearest[n] = Some(messages.len());
                time[n] = Some(created_at);
                messages.push(ArchivedMessage {
                    parent: kept_parent,
                    role: d.role,
                    status: d.status,
                    model: d.model,
                    blocks: d.blocks,
                    created_at,
                });
            }
            None => {
                nearest[n] = kept_parent;
                time[n] = parent_time;
            }
        }
    }

    Ok((messages, current_node.and_then(|n| nearest[n])))
}

/// Folds assistant messages that hold nothing but thinking into their only child when
/// that child is an assistant message (ChatGPT stores reasoning as separate nodes before
/// the answer), so an answer carries its thinking the way Orchard's own answers do.
/// Thinking with no single answer below it stays a message of its own.
pub(crate) fn fold_thinking(messages: Vec<ArchivedMessage>, current: Option<usize>) -> Built {
    let len = messages.len();
    let mut kids: Vec<Vec<usize>> = vec![Vec::new(); len];
    for (i, m) in messages.iter().enumerate() {
        if let Some(p) = m.parent.filter(|&p| p < i) {
            kids[p].push(i);
        }
    }
    let mut messages = messages;
    // `into[i]`: the message `i` was folded into (always later in the list).
    let mut into: Vec<Option<usize>> = vec![None; len];
    let resolve = |into: &[Option<usize>], mut i: usize| {
        while let Some(next) = into[i] {
            i = next;
        }
        i
    };
    // Last to first, so a chain of thinking nodes collapses into the answer at its end.
    for i in (0..len).rev() {
        let m = &messages[i];
        let thinking_only = m.role == Role::Assistant
            && !m.blocks.is_empty()
            && m.blocks
                .iter()
                .all(|b| b.kind == orchard_core::message::BlockKind::Thinking);
        if !thinking_only {
            continue;
        }
        let [child] = kids[i][..] else { continue };
        let target = resolve(&into, child);
        if messages[target].role != Role::Assistant {
            continue;
        }
        let mut blocks = std::mem::take(&mut messages[i].blocks);
        let model = messages[i].model.take();
        let t = &mut messages[target];
        blocks.append(&mut t.blocks);
        t.blocks = blocks;
        if t.model.is_none() {
            t.model = model;
        }
        into[i] = Some(target);
    }

    let mut new_index: Vec<Option<usize>> = vec![None; len];
    let mut kept = 0;
    for (i, slot) in new_index.iter_mut().enumerate() {
        if into[i].is_none() {
            *slot = Some(kept);
            kept += 1;
        }
    }
    // A folded message's child takes its place, and so its parent.
    let mut parents: Vec<Option<usize>> = messages.iter().map(|m| m.parent).collect();
    for i in 0..len {
        let mut p = parents[i];
        while let Some(q) = p.filter(|&q| q < len && into[q].is_some()) {
            p = parents[q];
        }
        parents[i] = p;
    }
    let out: Vec<ArchivedMessage> = messages
        .into_iter()
        .enumerate()
        .filter(|(i, _)| into[*i].is_none())
        .map(|(i, mut m)| {
            m.parent = parents[i].and_then(|p| new_index[p]);
            m
        })
        .collect();
    let current = current
        .filter(|&c| c < len)
        .and_then(|c| new_index[resolve(&into, c)]);
    (out, current)
}
