//! Importing ChatGPT and Claude exports: branches, roles, text, models and times survive;
//! broken files give errors that say where, and nothing panics.

use orchard_core::Timestamp;
use orchard_core::message::{ArchivedModel, BlockKind, Role, TopicArchive};
use orchard_interchange::{ImportError, MAX_MESSAGES, export_json, import};
use serde_json::{Value, json};

const CHATGPT: &[u8] = include_bytes!("fixtures/chatgpt.json");
const CLAUDE: &[u8] = include_bytes!("fixtures/claude.json");

/// Index of the message whose text contains `needle`.
fn find(t: &TopicArchive, needle: &str) -> usize {
    t.messages
        .iter()
        .position(|m| {
            m.blocks
                .iter()
                .any(|b| b.kind == BlockKind::Text && b.content.contains(needle))
        })
        .unwrap_or_else(|| panic!("no message says {needle:?}"))
}

fn children(t: &TopicArchive, parent: usize) -> Vec<usize> {
    (0..t.messages.len())
        .filter(|&i| t.messages[i].parent == Some(parent))
        .collect()
}

fn text(t: &TopicArchive, i: usize) -> String {
    t.messages[i]
        .blocks
        .iter()
        .filter(|b| b.kind == BlockKind::Text)
        .map(|b| b.content.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The texts of the branch from the root to `leaf`.
fn branch(t: &TopicArchive, leaf: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut at = Some(leaf);
    while let Some(i) = at {
        out.push(text(t, i));
        at = t.messages[i].parent;
    }
    out.reverse();
    out
}

fn parents_come_first(t: &TopicArchive) {
    for (i, m) in t.messages.iter().enumerate() {
        if let Some(p) = m.parent {
            assert!(
                p < i,
                "message {i} has parent {p} after it in {:?}",
                t.title
            );
        }
    }
    if let Some(c) = t.current {
        assert!(c < t.messages.len());
    }
}

fn model(provider: &str, model: &str) -> Option<ArchivedModel> {
    Some(ArchivedModel {
        provider: provider.to_owned(),
        model: model.to_owned(),
    })
}

#[test]
fn chatgpt_keeps_every_branch_and_the_current_leaf() {
    let topics = import(CHATGPT).unwrap();
    assert_eq!(topics.len(), 2);
    let t = &topics[0];
    parents_come_first(t);
    assert_eq!(t.title, "Trip plan");
    assert_eq!(t.created_at, Timestamp::from_millis(1_714_564_799_500));
    assert_eq!(t.updated_at, Timestamp::from_millis(1_714_565_110_750));
    // The root node and the hidden system prompt are gone; thinking and its recap are
    // folded into the answer they preceded.
    assert_eq!(t.messages.len(), 7);

    let question = find(t, "Plan a weekend in Lisbon");
    let first_answer = find(t, "Day 1: Alfama");
    let eat = find(t, "What should we eat?");
    let eat_cheap = find(t, "What should we eat on a budget?");
    let bifanas = find(t, "Bifanas");
    let prato = find(t, "prato do dia");

    // The hidden system prompt's child moved up to become the root.
    assert_eq!(t.messages[question].parent, None);
    assert_eq!(t.messages[question].role, Role::User);
    // The edited question is a sibling of the original, in the order ChatGPT lists them.
    assert_eq!(children(t, first_answer), vec![eat, eat_cheap]);
    // The regenerated answer is a sibling of the first answer.
    assert_eq!(children(t, eat_cheap), vec![bifanas, prato]);
    assert_eq!(t.current, Some(prato));
    assert_eq!(
        branch(t, prato),
        [
            "Plan a weekend in Lisbon around this map.",
            "Day 1: Alfama and the castle. Day 2: Belém and the river.",
            "What should we eat on a budget?",
            "Try the prato do dia at a tasca: soup, main and wine for about 12 euros.",
        ]
    );

    let q = &t.messages[question];
    assert_eq!(q.blocks[0].kind, BlockKind::Image);
    assert_eq!(q.blocks[0].content, "file-LisbonMap");
    let data: Value = serde_json::from_str(q.blocks[0].data.as_deref().unwrap()).unwrap();
    assert_eq!(data["asset_pointer"], "file-service://file-LisbonMap");
    assert_eq!(data["width"], 1024);
    assert_eq!(q.created_at, Timestamp::from_millis(1_714_564_800_500));
    assert_eq!(q.model, None);

    let a = &t.messages[first_answer];
    assert_eq!(a.role, Role::Assistant);
    assert_eq!(a.model, model("openai", "gpt-4o"));
    assert_eq!(a.created_at, Timestamp::from_millis(1_714_564_810_250));

    let p = &t.messages[prato];
    assert_eq!(p.model, model("openai", "o3"));
    assert_eq!(p.created_at, Timestamp::from_millis(1_714_565_110_000));
    let kinds: Vec<BlockKind> = p.blocks.iter().map(|b| b.kind).collect();
    assert_eq!(
        kinds,
        [BlockKind::Thinking, BlockKind::Thinking, BlockKind::Text]
    );
    assert_eq!(
        p.blocks[0].content,
        "Budget food\n\nCheap Lisbon staples: bifanas, prego, soup of the day."
    );
    assert_eq!(p.blocks[1].content, "Thought for 4 seconds");
}

#[test]
fn chatgpt_tool_traffic_is_left_out_and_untitled_gets_a_title() {
    let topics = import(CHATGPT).unwrap();
    let t = &topics[1];
    parents_come_first(t);
    assert_eq!(t.title, "New topic");
    assert_eq!(t.messages.len(), 2);
    assert_eq!(branch(t, 1), ["What is 17 * 23?", "17 × 23 = 391."]);
    assert_eq!(t.messages[1].model, model("openai", "gpt-4o"));
    // No current_node in the file: the last message is shown.
    assert_eq!(t.current, None);
}

#[test]
fn chatgpt_thinking_without_a_single_answer_stays_its_own_message() {
    let file = json!([{
        "title": "Two answers after thinking",
        "create_time": 1.0,
        "mapping": {
            "q": {"parent": null, "children": ["t"], "message": {
                "author": {"role": "user"}, "content": {"content_type": "text", "parts": ["Q"]}}},
            "t": {"parent": "q", "children": ["a", "b"], "message": {
                "author": {"role": "assistant"},
                "content": {"content_type": "reasoning_recap", "content": "Thought briefly"}}},
            "a": {"parent": "t", "children": [], "message": {
                "author": {"role": "assistant"}, "content": {"content_type": "text", "parts": ["A"]}}},
            "b": {"parent": "t", "children": [], "message": {
                "author": {"role": "assistant"}, "content": {"content_type": "text", "parts": ["B"]}}}
        },
        "current_node": "b"
    }]);
    let t = &import(file.to_string().as_bytes()).unwrap()[0];
    parents_come_first(t);
    assert_eq!(t.messages.len(), 4);
    assert_eq!(t.messages[1].blocks[0].kind, BlockKind::Thinking);
    assert_eq!(children(t, 1).len(), 2);
    assert_eq!(text(t, t.current.unwrap()), "B");
    // Times the file does not give come from the parent, then the conversation.
    assert!(t.messages.iter().all(|m| m.created_at.as_millis() == 1000));
}

#[test]
fn claude_linear_conversation_with_attachment_and_thinking() {
    let topics = import(CLAUDE).unwrap();
    assert_eq!(topics.len(), 2);
    let t = &topics[0];
    parents_come_first(t);
    assert_eq!(t.title, "Reading notes");
    assert_eq!(t.created_at, Timestamp::from_millis(1_717_232_400_000));
    assert_eq!(t.updated_at, Timestamp::from_millis(1_717_232_530_500));
    assert_eq!(t.messages.len(), 4);
    let parents: Vec<Option<usize>> = t.messages.iter().map(|m| m.parent).collect();
    assert_eq!(parents, [None, Some(0), Some(1), Some(2)]);
    let roles: Vec<Role> = t.messages.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [Role::User, Role::Assistant, Role::User, Role::Assistant]
    );
    assert_eq!(t.current, Some(3));

    let q = &t.messages[0];
    assert_eq!(q.blocks.len(), 3);
    assert_eq!(q.blocks[0].content, "Summarise the attached notes.");
    assert_eq!(q.blocks[1].kind, BlockKind::Text);
    assert_eq!(
        q.blocks[1].content,
        "Attached file notes.txt:\n\n```\nMeeting moved to Friday.\nBring the slides.\n```"
    );
    assert_eq!(q.blocks[2].kind, BlockKind::Image);
    assert_eq!(q.blocks[2].content, "whiteboard.png");

    let a = &t.messages[1];
    assert_eq!(a.blocks[0].kind, BlockKind::Thinking);
    assert_eq!(
        a.blocks[0].content,
        "Two facts: the new day and the slides."
    );
    assert_eq!(
        text(t, 1),
        "The meeting is now on Friday; bring the slides."
    );
    assert_eq!(a.created_at, Timestamp::from_millis(1_717_232_405_250));
    // Claude's export does not say which model answered.
    assert_eq!(a.model, None);

    // Tool use and results are left out; the answer's text stays.
    assert_eq!(t.messages[3].blocks.len(), 1);
    assert_eq!(text(t, 3), "Sunny and about 21 °C.");
}

#[test]
fn claude_parent_uuids_make_branches() {
    let topics = import(CLAUDE).unwrap();
    let t = &topics[1];
    parents_come_first(t);
    assert_eq!(t.title, "Name ideas");
    assert_eq!(t.messages.len(), 7);
    let first = find(t, "Suggest a name");
    let crumb = find(t, "Crumb & Co.");
    let shorter = find(t, "Something shorter?");
    let french = find(t, "Something in French?");
    let mie = find(t, "La Mie Dorée.");
    let perdu = find(t, "Pain Perdu.");
    assert_eq!(t.messages[first].parent, None);
    assert_eq!(children(t, crumb), vec![shorter, french]);
    assert_eq!(children(t, french), vec![mie, perdu]);
    // The file names the current leaf, and it is not the last message.
    assert_eq!(t.current, Some(mie));
}

#[test]
fn claude_without_a_current_leaf_shows_the_newest_message() {
    let mut file: Value = serde_json::from_slice(CLAUDE).unwrap();
    file[1]
        .as_object_mut()
        .unwrap()
        .remove("current_leaf_message_uuid");
    let topics = import(file.to_string().as_bytes()).unwrap();
    let t = &topics[1];
    assert_eq!(t.current, Some(find(t, "Pain Perdu.")));
}

#[test]
fn claude_model_comes_from_the_conversation_when_given() {
    let file = json!([{"name": "m", "model": "claude-sonnet-4-5", "chat_messages": [
        {"sender": "human", "text": "hi", "created_at": "2024-01-01T00:00:00Z"},
        {"sender": "assistant", "text": "hello", "created_at": "2024-01-01T00:00:01Z"}
    ]}]);
    let t = &import(file.to_string().as_bytes()).unwrap()[0];
    assert_eq!(t.messages[0].model, None);
    assert_eq!(t.messages[1].model, model("anthropic", "claude-sonnet-4-5"));
    assert_eq!(t.created_at, Timestamp::from_millis(1_704_067_200_000));
    assert_eq!(t.updated_at, Timestamp::from_millis(1_704_067_201_000));
}

#[test]
fn a_file_of_another_kind_is_named_as_such() {
    let expected = "this file is not a ChatGPT conversations.json, a Claude export or an \
                    Orchard export (expected a JSON array of conversations, each with a \
                    \"mapping\" (ChatGPT) or \"chat_messages\" (Claude), or an object with \
                    \"format\": \"orchard-topics\"; found ";
    for (input, found) in [
        (
            r#"{"name": "x", "messages": []}"#,
            r#"a JSON object with keys "messages", "name""#,
        ),
        ("[1, 2, 3]", "an array whose first item is a number"),
        (
            r#"[{"id": "a"}]"#,
            r#"an array whose first item is an object with keys "id""#,
        ),
        (r#""conversations""#, "a string"),
        ("null", "null"),
    ] {
        let err = import(input.as_bytes()).unwrap_err();
        assert!(
            matches!(err, ImportError::UnknownFormat { .. }),
            "{input}: {err:?}"
        );
        assert_eq!(err.to_string(), format!("{expected}{found})"));
    }
    assert_eq!(import(b"[]").unwrap(), vec![]);
}

#[test]
fn a_broken_chatgpt_file_names_the_conversation_and_message() {
    let ok = json!({"title": "fine", "mapping": {}});
    let broken = json!({
        "title": "Trip plan",
        "mapping": {
            "abc": {"parent": "zzz", "children": [], "message": {
                "author": {"role": "user"}, "content": {"content_type": "text", "parts": ["hi"]}}}
        }
    });
    let file = json!([ok, ok, broken]);
    let err = import(file.to_string().as_bytes()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "ChatGPT export, conversation 3 ('Trip plan'): message 'abc' has parent 'zzz', which is \
         not in the file"
    );

    let looped = json!([{"title": "Loop", "mapping": {
        "a": {"parent": "b", "children": ["b"], "message": null},
        "b": {"parent": "a", "children": ["a"], "message": null}
    }}]);
    assert_eq!(
        import(looped.to_string().as_bytes())
            .unwrap_err()
            .to_string(),
        "ChatGPT export, conversation 1 ('Loop'): message 'a' is its own ancestor (its parent \
         links form a loop)"
    );

    let role = json!([{"title": "Odd", "mapping": {
        "m": {"parent": null, "children": [], "message": {
            "author": {"role": "robot"}, "content": {"content_type": "text", "parts": ["x"]}}}
    }}]);
    assert_eq!(
        import(role.to_string().as_bytes()).unwrap_err().to_string(),
        "ChatGPT export, conversation 1 ('Odd'): message 'm' has the author role 'robot' \
         (expected system, user, assistant or tool)"
    );

    let no_mapping = json!([{"title": "fine", "mapping": {}}, {"title": "Empty", "mapping": 3}]);
    assert_eq!(
        import(no_mapping.to_string().as_bytes())
            .unwrap_err()
            .to_string(),
        "ChatGPT export, conversation 2 ('Empty'): it has no \"mapping\" (its tree of messages)"
    );
}

#[test]
fn a_broken_claude_file_names_the_conversation_and_message() {
    let file = json!([{"name": "Names", "chat_messages": [
        {"uuid": "u1", "parent_message_uuid": "00000000-0000-4000-8000-000000000000",
         "sender": "human", "text": "hi"},
        {"uuid": "u2", "parent_message_uuid": "gone", "sender": "assistant", "text": "hello"}
    ]}]);
    assert_eq!(
        import(file.to_string().as_bytes()).unwrap_err().to_string(),
        "Claude export, conversation 1 ('Names'): message 'u2' has parent 'gone', which is not \
         in the file"
    );

    let file = json!([{"name": "Times", "chat_messages": [
        {"uuid": "u1", "sender": "human", "text": "hi", "created_at": "last Tuesday"}
    ]}]);
    assert_eq!(
        import(file.to_string().as_bytes()).unwrap_err().to_string(),
        "Claude export, conversation 1 ('Times'): message 'u1' has created_at 'last Tuesday', \
         which is not an ISO 8601 time"
    );

    let file =
        json!([{"name": "Who", "chat_messages": [{"uuid": "u1", "sender": "bot", "text": "x"}]}]);
    assert_eq!(
        import(file.to_string().as_bytes()).unwrap_err().to_string(),
        "Claude export, conversation 1 ('Who'): message 'u1' has the sender 'bot' (expected \
         \"human\" or \"assistant\")"
    );
}

#[test]
fn text_that_is_not_json_says_where() {
    let err = import(b"[\n  {\"a\": \"\xff\"}]").unwrap_err();
    assert!(
        matches!(
            err,
            ImportError::NotUtf8 {
                line: 2,
                column: 10,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("this file is not UTF-8 text: the bytes at line 2, column 10"),
        "{err}"
    );
    let utf16 = b"\xFF\xFE[\x00]\x00";
    assert!(import(utf16).unwrap_err().to_string().contains("UTF-16"));

    let err = import(b"[\n  {,}]").unwrap_err();
    assert_eq!(
        err.to_string(),
        "this file is not valid JSON: key must be a string at line 2, column 4"
    );

    let err = import(&CHATGPT[..200]).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(
            "this file is not valid JSON: the file ends in the middle of the data at line "
        ),
        "{text}"
    );
    assert!(text.ends_with("(is it truncated? try downloading or unzipping the export again)"));

    // The export's other files get advice.
    let err = import(b"<!DOCTYPE html><html><body>chats</body></html>").unwrap_err();
    assert_eq!(
        err.to_string(),
        "this file is not valid JSON: expected value at line 1, column 1 (a conversations.json \
         starts with '['; chat.html and the export's other files cannot be imported)"
    );
    let err = import(b"PK\x03\x04\x14\x00\x00\x00\x08\x00\xff\xfe").unwrap_err();
    assert!(
        err.to_string().ends_with(
            "found a zip archive: unzip the export and import the conversations.json inside it)"
        ),
        "{err}"
    );

    // A byte-order mark is not an error.
    let mut with_bom = b"\xEF\xBB\xBF".to_vec();
    with_bom.extend_from_slice(CLAUDE);
    assert_eq!(import(&with_bom).unwrap(), import(CLAUDE).unwrap());
}

#[test]
fn files_with_too_many_messages_are_refused() {
    let mut file = String::from(r#"[{"name": "Huge", "chat_messages": ["#);
    for i in 0..=MAX_MESSAGES {
        if i > 0 {
            file.push(',');
        }
        file.push_str(r#"{"sender":"human","text":"x"}"#);
    }
    file.push_str("]}]");
    let err = import(file.as_bytes()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "this Claude export holds 100001 messages; Orchard imports at most 100000 messages from \
         one file (export fewer conversations, or split the file)"
    );
}

#[test]
fn a_long_linear_conversation_does_not_overflow_the_stack() {
    let mut file = String::from(r#"[{"name": "Long", "chat_messages": ["#);
    for i in 0..MAX_MESSAGES {
        if i > 0 {
            file.push(',');
        }
        let sender = if i % 2 == 0 { "human" } else { "assistant" };
        file.push_str(&format!(r#"{{"sender":"{sender}","text":"m{i}"}}"#));
    }
    file.push_str("]}]");
    let topics = import(file.as_bytes()).unwrap();
    let t = &topics[0];
    assert_eq!(t.messages.len(), MAX_MESSAGES);
    assert_eq!(t.messages[MAX_MESSAGES - 1].parent, Some(MAX_MESSAGES - 2));
    // And back through the Orchard format, which checks the same tree.
    assert_eq!(&import(export_json(&topics).as_bytes()).unwrap(), &topics);
}

#[test]
fn orchard_exports_from_the_future_or_with_broken_trees_are_refused() {
    let file = json!({"format": "orchard-topics", "version": 2, "topics": []});
    assert_eq!(
        import(file.to_string().as_bytes()).unwrap_err().to_string(),
        "this Orchard export is version 2, but this Orchard reads version 1; update Orchard to \
         import it"
    );
    let topic = json!({"title": "Bad", "created_at": 0, "updated_at": 0, "current": null,
        "messages": [{"parent": 0, "role": "user", "status": "done", "model": null,
                      "blocks": [], "created_at": 0}]});
    let file = json!({"format": "orchard-topics", "version": 1, "topics": [topic]});
    assert_eq!(
        import(file.to_string().as_bytes()).unwrap_err().to_string(),
        "Orchard export, topic 1 ('Bad'): the message at index 0 names the message at index 0 \
         as its parent, but a parent must come before its children"
    );
    let topic = json!({"title": "Odd", "created_at": 0, "updated_at": 0, "current": null,
        "messages": [{"parent": null, "role": "robot", "status": "done", "model": null,
                      "blocks": [], "created_at": 0}]});
    let file = json!({"format": "orchard-topics", "version": 1, "topics": [topic]});
    let text = import(file.to_string().as_bytes()).unwrap_err().to_string();
    assert!(
        text.starts_with("Orchard export, topic 1 ('Odd'): unknown variant `robot`"),
        "{text}"
    );
}
