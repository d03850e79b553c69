//! Exports: the JSON export reads back into equal archives, `archive` maps stored rows to
//! indexes, and the Markdown of a branch reads well.

use orchard_core::message::{
    Block, BlockKind, Message, MessageStatus, ModelSnapshot, Role, Timings, Topic, TopicArchive,
    Usage,
};
use orchard_core::{MessageId, Timestamp, TopicId, UserId};
use orchard_interchange::{archive, export_json, export_markdown, import};
use serde_json::Value;

const CHATGPT: &[u8] = include_bytes!("fixtures/chatgpt.json");
const CLAUDE: &[u8] = include_bytes!("fixtures/claude.json");

/// 2024-05-01 12:00:00 UTC plus `secs`.
fn at(secs: i64) -> Timestamp {
    Timestamp::from_millis(1_714_564_800_000 + secs * 1000)
}

fn topic(current: Option<i64>) -> Topic {
    Topic {
        id: TopicId::new(7),
        user_id: UserId::new(1),
        title: "Trip plan".to_owned(),
        assistant_id: None,
        folder_id: None,
        pinned: false,
        current_message_id: current.map(MessageId::new),
        created_at: at(0),
        updated_at: at(600),
    }
}

fn message(id: i64, parent: Option<i64>, role: Role, blocks: Vec<Block>, secs: i64) -> Message {
    Message {
        id: MessageId::new(id),
        user_id: UserId::new(1),
        topic_id: TopicId::new(7),
        parent_id: parent.map(MessageId::new),
        role,
        status: MessageStatus::Done,
        model: None,
        blocks,
        usage: Usage::default(),
        timings: Timings::default(),
        finish_reason: None,
        created_at: at(secs),
        updated_at: at(secs),
    }
}

fn text(s: &str) -> Block {
    Block::new(BlockKind::Text, s)
}

fn answered_by(mut m: Message, provider: &str, model: &str) -> Message {
    m.model = Some(ModelSnapshot {
        provider_id: None,
        provider_name: provider.to_owned(),
        model_id: model.to_owned(),
    });
    m
}

#[test]
fn the_json_export_reads_back_into_equal_archives() {
    let mut topics: Vec<TopicArchive> = import(CHATGPT).unwrap();
    topics.extend(import(CLAUDE).unwrap());
    let exported = export_json(&topics);
    let doc: Value = serde_json::from_str(&exported).unwrap();
    assert_eq!(doc["format"], "orchard-topics");
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["topics"].as_array().unwrap().len(), 4);
    assert!(exported.starts_with("{\n  \"format\": \"orchard-topics\",\n  \"version\": 1,\n"));
    assert_eq!(import(exported.as_bytes()).unwrap(), topics);
    // And again: the export of an import of an export is the same text.
    assert_eq!(export_json(&import(exported.as_bytes()).unwrap()), exported);
    assert_eq!(import(export_json(&[]).as_bytes()).unwrap(), vec![]);
}

#[test]
fn archive_maps_ids_to_indexes_and_closes_open_messages() {
    let mut streaming = answered_by(
        message(12, Some(11), Role::Assistant, vec![text("Partial")], 20),
        "OpenAI",
        "gpt-4o",
    );
    streaming.status = MessageStatus::Streaming;
    let mut with_data = Block::new(BlockKind::Image, "map.png (10 bytes)");
    with_data.data = Some(r#"{"sha256":"ab"}"#.to_owned());
    let messages = vec![
        message(10, None, Role::System, vec![text("Be brief.")], 0),
        message(
            11,
            Some(10),
            Role::User,
            vec![with_data, text("Plan it")],
            10,
        ),
        streaming,
        // Listed before its parent (13): it is moved to just after it.
        message(15, Some(13), Role::Assistant, vec![text("Answer 2")], 50),
        message(13, Some(12), Role::User, vec![text("And food?")], 40),
        // A regenerated answer: a sibling of 12.
        message(14, Some(11), Role::Assistant, vec![text("Other plan")], 30),
        // Its parent is not among the messages: a root.
        message(16, Some(99), Role::User, vec![text("Stray")], 60),
    ];
    let a = archive(&topic(Some(15)), &messages);
    assert_eq!(a.title, "Trip plan");
    assert_eq!((a.created_at, a.updated_at), (at(0), at(600)));
    let texts: Vec<String> = a
        .messages
        .iter()
        .map(|m| m.blocks.last().unwrap().content.clone())
        .collect();
    assert_eq!(
        texts,
        [
            "Be brief.",
            "Plan it",
            "Partial",
            "And food?",
            "Answer 2",
            "Other plan",
            "Stray"
        ]
    );
    let parents: Vec<Option<usize>> = a.messages.iter().map(|m| m.parent).collect();
    assert_eq!(
        parents,
        [None, Some(0), Some(1), Some(2), Some(3), Some(1), None]
    );
    assert_eq!(a.current, Some(4));
    assert_eq!(a.messages[2].status, MessageStatus::Interrupted);
    let model = a.messages[2].model.as_ref().unwrap();
    assert_eq!(
        (model.provider.as_str(), model.model.as_str()),
        ("OpenAI", "gpt-4o")
    );
    assert_eq!(
        a.messages[1].blocks[0].data.as_deref(),
        Some(r#"{"sha256":"ab"}"#)
    );
    assert_eq!(a.messages[4].created_at, at(50));

    assert_eq!(archive(&topic(Some(404)), &messages).current, None);
    let round = import(export_json(std::slice::from_ref(&a)).as_bytes()).unwrap();
    assert_eq!(round, vec![a]);
}

#[test]
fn markdown_of_a_branch() {
    let thinking_answer = answered_by(
        message(
            3,
            Some(2),
            Role::Assistant,
            vec![
                Block::new(
                    BlockKind::Thinking,
                    "The map shows Alfama.\n\nKeep it short.",
                ),
                text("**Day 1:** Alfama and the castle.\n\n**Day 2:** Belém."),
            ],
            12,
        ),
        "OpenAI",
        "gpt-4o",
    );
    let mut failed = answered_by(
        message(
            5,
            Some(4),
            Role::Assistant,
            vec![
                text("Bifanas are"),
                Block::new(BlockKind::Error, "the provider closed the connection"),
            ],
            75,
        ),
        "Anthropic",
        "claude-sonnet-4-5",
    );
    failed.status = MessageStatus::Error;
    let mut stopped = answered_by(
        message(7, Some(6), Role::Assistant, vec![text("Start at")], 130),
        "",
        "llama3.2",
    );
    stopped.status = MessageStatus::Cancelled;
    let branch = vec![
        message(1, None, Role::System, vec![text("You plan trips.")], 0),
        message(
            2,
            Some(1),
            Role::User,
            vec![
                Block::new(BlockKind::Image, "lisbon_map.png"),
                Block::new(BlockKind::File, "hotels.pdf"),
                text("Plan a weekend in Lisbon."),
            ],
            5,
        ),
        thinking_answer,
        message(4, Some(3), Role::User, vec![text("What to eat?")], 70),
        failed,
        message(6, Some(5), Role::User, vec![text("Where to start?")], 120),
        stopped,
    ];
    insta::assert_snapshot!(export_markdown(&topic(Some(7)), &branch));
}
