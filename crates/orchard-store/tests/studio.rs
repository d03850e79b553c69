//! The store methods behind the web studio, against real database files: branch
//! paging, siblings, branch switching, deletion, topic metadata, search, import,
//! assistants and folders, and the upgrade to schema version 3.

use std::time::{Duration, Instant};

use orchard_core::assistant::{AssistantFields, AssistantModel};
use orchard_core::message::{
    ArchivedBlock, ArchivedMessage, ArchivedModel, Block, BlockKind, MessageStatus, Role,
    SNIPPET_END, SNIPPET_START, Timings, TopicArchive, Usage,
};
use orchard_core::{MessageId, Timestamp, TopicId, UserId};
use orchard_store::sqlite::SqliteStore;
use orchard_store::{
    AssistantStore, ConversationStore, FolderStore, MessageUpdate, NewModel, ProviderStore,
    StoreError, TopicPatch, UserStore,
};

mod common;
use common::*;

async fn count(store: &SqliteStore, sql: &str) -> i64 {
    let mut c = raw(store.path()).await;
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(&mut c)
        .await
        .unwrap()
}

/// Asks FTS5 to compare its index with the text blocks; errors if they disagree.
async fn search_index_is_consistent(store: &SqliteStore) {
    let mut c = raw(store.path()).await;
    sqlx::query("INSERT INTO message_search (message_search) VALUES ('integrity-check')")
        .execute(&mut c)
        .await
        .unwrap();
}

async fn say(
    store: &SqliteStore,
    user: UserId,
    topic: TopicId,
    parent: Option<MessageId>,
    s: &str,
) -> MessageId {
    store
        .append_message(user, &text(Role::User, topic, parent, s))
        .await
        .unwrap()
        .id
}

fn archived(parent: Option<usize>, s: &str, at: i64) -> ArchivedMessage {
    ArchivedMessage {
        parent,
        role: Role::User,
        status: MessageStatus::Done,
        model: None,
        blocks: vec![ArchivedBlock {
            kind: BlockKind::Text,
            content: s.into(),
            data: None,
        }],
        created_at: Timestamp::from_millis(at),
    }
}

/// A topic of `n` messages, each the child of the one before.
fn linear(title: &str, n: usize) -> TopicArchive {
    TopicArchive {
        title: title.into(),
        created_at: Timestamp::from_millis(1),
        updated_at: Timestamp::from_millis(2),
        messages: (0..n)
            .map(|i| archived(i.checked_sub(1), &format!("message {i}"), i as i64))
            .collect(),
        current: None,
    }
}

fn not_found<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::NotFound { .. }))
}

fn marked(s: &str) -> String {
    s.replace(SNIPPET_START, "[").replace(SNIPPET_END, "]")
}

#[tokio::test]
async fn upgrading_keeps_blocks_and_makes_old_text_searchable() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("orchard.db");
    let (me, t, q, a) = {
        let old = SqliteStore::open_at_version(&db, &opts(), 2).await.unwrap();
        let me = old.ensure_local_user().await.unwrap().id;
        let t = old.create_topic(me, "from version 2").await.unwrap().id;
        let q = say(&old, me, t, None, "what is an orchard?").await;
        let mut answer = text(
            Role::Assistant,
            t,
            Some(q),
            "A place where fruit trees grow.",
        );
        answer
            .blocks
            .insert(0, Block::new(BlockKind::Thinking, "private reasoning"));
        let a = old.append_message(me, &answer).await.unwrap();
        old.close().await;
        (me, t, q, a)
    };
    let store = SqliteStore::open(&db, &opts()).await.unwrap();
    assert_eq!(
        store.schema_version().await.unwrap(),
        SqliteStore::latest_version()
    );

    // The blocks survived the table rebuild, with their ids and order.
    assert_eq!(store.message(me, a.id).await.unwrap().blocks, a.blocks);
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM message_blocks").await,
        3
    );
    // Old text is found; thinking blocks are not indexed.
    let hits = store.search_messages(me, "fruit trees", 10).await.unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].message_id, a.id);
    assert_eq!(hits[0].topic_id, t);
    assert!(
        store
            .search_messages(me, "reasoning", 10)
            .await
            .unwrap()
            .is_empty()
    );
    search_index_is_consistent(&store).await;

    // The new kind is accepted, and the rebuilt table still refuses a block attached to
    // someone else's message.
    let mut divider = text(Role::User, t, Some(a.id), "");
    divider.blocks = vec![Block::new(BlockKind::Divider, "")];
    let d = store.append_message(me, &divider).await.unwrap();
    assert_eq!(d.blocks[0].kind, BlockKind::Divider);
    let bob = second_user(&store).await;
    let mut c = raw(store.path()).await;
    let err = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO message_blocks (message_id, user_id, position, kind) VALUES ({q}, {bob}, 5, 'text')"
    )))
    .execute(&mut c)
    .await
    .unwrap_err();
    assert!(err.to_string().contains("FOREIGN KEY"), "{err}");
    let problems = sqlx::query("PRAGMA foreign_key_check")
        .fetch_all(&mut c)
        .await
        .unwrap();
    assert!(problems.is_empty());
}

#[tokio::test]
async fn the_search_index_follows_streamed_replaced_and_deleted_text() {
    let (_dir, store, me) = fresh().await;
    let t = store.create_topic(me, "t").await.unwrap().id;
    let q = say(&store, me, t, None, "question").await;
    let mut open = text(Role::Assistant, t, Some(q), "");
    open.status = MessageStatus::Streaming;
    open.writer = Some("w".into());
    let a = store.append_message(me, &open).await.unwrap().id;
    for (status, body) in [
        (MessageStatus::Streaming, "first draft"),
        (MessageStatus::Done, "final wording"),
    ] {
        store
            .update_open_message(
                me,
                a,
                &MessageUpdate {
                    status,
                    blocks: vec![Block::new(BlockKind::Text, body)],
                    usage: Usage::default(),
                    timings: Timings::default(),
                    finish_reason: None,
                },
            )
            .await
            .unwrap();
    }
    assert!(
        store
            .search_messages(me, "draft", 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.search_messages(me, "wording", 10).await.unwrap()[0].message_id,
        a
    );
    // An in-place edit (no code does this today) is followed too.
    let mut c = raw(store.path()).await;
    sqlx::query("UPDATE message_blocks SET content = 'edited by hand' WHERE message_id = ?")
        .bind(a.get())
        .execute(&mut c)
        .await
        .unwrap();
    assert_eq!(
        store
            .search_messages(me, "by hand", 10)
            .await
            .unwrap()
            .len(),
        1
    );
    store.delete_message(me, a).await.unwrap();
    assert!(
        store
            .search_messages(me, "by hand", 10)
            .await
            .unwrap()
            .is_empty()
    );
    search_index_is_consistent(&store).await;
}

fn streaming(body: &str) -> MessageUpdate {
    MessageUpdate {
        status: MessageStatus::Streaming,
        blocks: vec![Block::new(BlockKind::Text, body)],
        usage: Usage::default(),
        timings: Timings::default(),
        finish_reason: None,
    }
}

#[tokio::test]
async fn many_answers_are_saved_in_one_batch_and_closed_or_foreign_ones_are_skipped() {
    let (_dir, store, me) = fresh().await;
    let bob = second_user(&store).await;
    let t = store.create_topic(me, "t").await.unwrap().id;
    let q = say(&store, me, t, None, "question").await;
    let mut open = text(Role::Assistant, t, Some(q), "");
    open.status = MessageStatus::Streaming;
    open.writer = Some("w".into());
    let a = store.append_message(me, &open).await.unwrap().id;
    let b = store.append_message(me, &open).await.unwrap().id;
    let closed = store.append_message(me, &open).await.unwrap().id;
    let mut done = streaming("finished answer");
    done.status = MessageStatus::Done;
    store.update_open_message(me, closed, &done).await.unwrap();

    let written = store
        .update_open_messages(&[
            (me, a, streaming("apples so far")),
            (me, b, streaming("pears so far")),
            (me, closed, streaming("a late save")),
            (bob, a, streaming("not bob's to write")),
        ])
        .await
        .unwrap();
    assert_eq!(written, vec![true, true, false, false]);
    assert_eq!(store.message(me, a).await.unwrap().text(), "apples so far");
    assert_eq!(store.message(me, b).await.unwrap().text(), "pears so far");
    let kept = store.message(me, closed).await.unwrap();
    assert_eq!(kept.text(), "finished answer");
    assert_eq!(kept.status, MessageStatus::Done);
    // Text still streaming is not in the search index; it is once the answer closes.
    assert!(
        store
            .search_messages(me, "so far", 10)
            .await
            .unwrap()
            .is_empty()
    );
    let mut end = streaming("apples in the end");
    end.status = MessageStatus::Done;
    store.update_open_message(me, a, &end).await.unwrap();
    let hits = store.search_messages(me, "in the end", 10).await.unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].message_id, a);
    // Deleting streamed, closed and never-indexed blocks leaves the index consistent.
    store.delete_message(me, b).await.unwrap();
    store.delete_message(me, a).await.unwrap();
    search_index_is_consistent(&store).await;
}

#[tokio::test]
async fn pages_of_a_long_branch_fit_together() {
    let (_dir, store, me) = fresh().await;
    let t = store
        .import_topics(me, &[linear("long", 1000)])
        .await
        .unwrap()[0];
    let leaf = store
        .topic(me, t)
        .await
        .unwrap()
        .current_message_id
        .unwrap();
    let all: Vec<MessageId> = store
        .topic_messages(me, t)
        .await
        .unwrap()
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(all.len(), 1000);

    let mut pages = Vec::new();
    let mut before = None;
    loop {
        let page = store.branch_page(me, leaf, before, 64).await.unwrap();
        assert!(!page.entries.is_empty());
        before = Some(page.entries[0].message.id);
        let has_more = page.has_more;
        pages.push(page);
        if !has_more {
            break;
        }
    }
    assert_eq!(pages.len(), 16); // 15 full pages and 40 messages
    assert_eq!(pages[0].entries.last().unwrap().message.id, leaf);
    assert!(
        pages[..15]
            .iter()
            .all(|p| p.entries.len() == 64 && p.has_more)
    );
    // Newest page first: reversing the pages gives the branch from its root.
    let walked: Vec<MessageId> = pages
        .iter()
        .rev()
        .flat_map(|p| p.entries.iter().map(|e| e.message.id))
        .collect();
    assert_eq!(walked, all, "no gap, no duplicate, oldest first");
    let first = &pages.last().unwrap().entries[0];
    assert_eq!(first.message.parent_id, None);
    assert_eq!(first.message.text(), "message 0");
    // Above the root there is nothing.
    let top = store
        .branch_page(me, leaf, Some(first.message.id), 64)
        .await
        .unwrap();
    assert!(top.entries.is_empty() && !top.has_more);
}

#[tokio::test]
async fn a_page_costs_the_page_not_the_branch() {
    let (_dir, store, me) = fresh().await;
    let t = store
        .import_topics(me, &[linear("very long", 10_000)])
        .await
        .unwrap()[0];
    let leaf = store
        .topic(me, t)
        .await
        .unwrap()
        .current_message_id
        .unwrap();
    let mut fastest = Duration::MAX;
    for _ in 0..5 {
        let started = Instant::now();
        let page = store.branch_page(me, leaf, None, 50).await.unwrap();
        fastest = fastest.min(started.elapsed());
        assert_eq!(page.entries.len(), 50);
        assert!(page.has_more);
        assert_eq!(page.entries[49].message.id, leaf);
        assert_eq!(page.entries[0].message.text(), "message 9950");
    }
    // Walking the whole branch takes far longer; a page takes a few milliseconds
    // (generous bound: the machine may be busy).
    assert!(fastest < Duration::from_millis(100), "{fastest:?}");
    eprintln!("newest 50 of 10,000 messages: {fastest:?}");
}

#[tokio::test]
async fn entries_list_their_siblings_and_roots_theirs() {
    let (_dir, store, me) = fresh().await;
    let t = store.create_topic(me, "tree").await.unwrap().id;
    let q1 = say(&store, me, t, None, "question").await;
    let a1 = say(&store, me, t, Some(q1), "answer one").await;
    let a2 = say(&store, me, t, Some(q1), "answer two").await;
    let follow = say(&store, me, t, Some(a1), "follow-up").await;
    let q2 = say(&store, me, t, None, "question, edited").await;
    let other = store.create_topic(me, "other").await.unwrap().id;
    say(&store, me, other, None, "a root elsewhere").await;

    let page = store.branch_page(me, follow, None, 10).await.unwrap();
    assert!(!page.has_more);
    let got: Vec<(MessageId, Vec<MessageId>, usize)> = page
        .entries
        .iter()
        .map(|e| (e.message.id, e.siblings.clone(), e.position()))
        .collect();
    assert_eq!(
        got,
        [
            (q1, vec![q1, q2], 0),
            (a1, vec![a1, a2], 0),
            (follow, vec![follow], 0),
        ]
    );
    let page = store.branch_page(me, a2, None, 1).await.unwrap();
    assert!(page.has_more);
    assert_eq!(page.entries[0].siblings, [a1, a2]);
    assert_eq!(page.entries[0].position(), 1);
    let page = store.branch_page(me, q2, None, 10).await.unwrap();
    assert_eq!(page.entries[0].siblings, [q1, q2]);
}

#[tokio::test]
async fn topic_messages_lists_every_branch_parents_first() {
    let (_dir, store, me) = fresh().await;
    let t = store.create_topic(me, "tree").await.unwrap().id;
    assert!(store.topic_messages(me, t).await.unwrap().is_empty());
    let q = say(&store, me, t, None, "q").await;
    let a1 = say(&store, me, t, Some(q), "a1").await;
    let a2 = say(&store, me, t, Some(q), "a2").await;
    let f = say(&store, me, t, Some(a1), "f").await;
    let all = store.topic_messages(me, t).await.unwrap();
    assert_eq!(all.iter().map(|m| m.id).collect::<Vec<_>>(), [q, a1, a2, f]);
    assert_eq!(all[3].text(), "f");
    for (i, m) in all.iter().enumerate() {
        if let Some(p) = m.parent_id {
            assert!(all[..i].iter().any(|o| o.id == p));
        }
    }
}

#[tokio::test]
async fn switching_goes_to_the_latest_leaf_below() {
    let (_dir, store, me) = fresh().await;
    let t = store.create_topic(me, "tree").await.unwrap().id;
    let q = say(&store, me, t, None, "q").await;
    let a1 = say(&store, me, t, Some(q), "a1").await;
    let f1 = say(&store, me, t, Some(a1), "f1").await;
    let f2 = say(&store, me, t, Some(a1), "f2").await;
    let a2 = say(&store, me, t, Some(q), "a2").await;
    assert_eq!(
        store.topic(me, t).await.unwrap().current_message_id,
        Some(a2)
    );
    let before = store.topic(me, t).await.unwrap().updated_at;

    assert_eq!(store.switch_branch(me, a1).await.unwrap(), f2);
    assert_eq!(
        store.topic(me, t).await.unwrap().current_message_id,
        Some(f2)
    );
    assert_eq!(store.switch_branch(me, f1).await.unwrap(), f1);
    assert_eq!(store.branch(me, t).await.unwrap().len(), 3);
    assert_eq!(store.switch_branch(me, q).await.unwrap(), a2);
    // Looking at another branch is not a change to the topic.
    assert_eq!(store.topic(me, t).await.unwrap().updated_at, before);
    assert!(not_found(
        store.switch_branch(me, MessageId::new(9999)).await
    ));
}

#[tokio::test]
async fn deleting_a_message_takes_its_subtree_and_moves_the_current_leaf() {
    let (_dir, store, me) = fresh().await;
    let t = store.create_topic(me, "tree").await.unwrap().id;
    let q = say(&store, me, t, None, "q").await;
    let a1 = say(&store, me, t, Some(q), "a1").await;
    let f1 = say(&store, me, t, Some(a1), "f1").await;
    let a2 = say(&store, me, t, Some(q), "a2").await;
    let f2 = say(&store, me, t, Some(a2), "f2 unique words").await;
    let current = || async { store.topic(me, t).await.unwrap().current_message_id };

    // Not on the current branch: the current leaf stays.
    store.delete_message(me, a1).await.unwrap();
    assert_eq!(current().await, Some(f2));
    assert!(not_found(store.message(me, f1).await));
    // On it: the latest leaf below the parent becomes current.
    let a3 = say(&store, me, t, Some(q), "a3").await;
    let f3 = say(&store, me, t, Some(a3), "f3").await;
    store.switch_branch(me, a2).await.unwrap();
    store.delete_message(me, a2).await.unwrap();
    assert_eq!(current().await, Some(f3));
    assert!(
        store
            .search_messages(me, "unique words", 10)
            .await
            .unwrap()
            .is_empty()
    );
    // A root: the latest leaf of the other root, then nothing.
    let r2 = say(&store, me, t, None, "second root").await;
    let r2a = say(&store, me, t, Some(r2), "its answer").await;
    store.switch_branch(me, q).await.unwrap();
    store.delete_message(me, q).await.unwrap();
    assert_eq!(current().await, Some(r2a));
    store.delete_message(me, r2).await.unwrap();
    assert_eq!(current().await, None);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM messages").await, 0);
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM message_blocks").await,
        0
    );
    search_index_is_consistent(&store).await;
}

#[tokio::test]
async fn branches_deeper_than_sqlites_trigger_limit_can_be_deleted() {
    // A parent's ON DELETE CASCADE nests one trigger level per generation, and SQLite
    // stops at 1,000 levels.
    let (_dir, store, me) = fresh().await;
    let ids = store
        .import_topics(me, &[linear("one", 1500), linear("two", 1500)])
        .await
        .unwrap();
    let root = store.topic_messages(me, ids[0]).await.unwrap()[0].id;
    store.delete_message(me, root).await.unwrap();
    assert!(store.topic_messages(me, ids[0]).await.unwrap().is_empty());
    assert_eq!(
        store.topic(me, ids[0]).await.unwrap().current_message_id,
        None
    );
    store.delete_topic(me, ids[1]).await.unwrap();
    assert_eq!(count(&store, "SELECT COUNT(*) FROM messages").await, 0);
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM message_blocks").await,
        0
    );
    search_index_is_consistent(&store).await;
}

#[tokio::test]
async fn topics_are_renamed_pinned_filed_and_tagged() {
    let (_dir, store, me) = fresh().await;
    let t = store.create_topic(me, "draft").await.unwrap();
    let other = store.create_topic(me, "other").await.unwrap();
    let folder = store.create_folder(me, "Work").await.unwrap();
    let helper = store
        .create_assistant(
            me,
            &AssistantFields {
                name: "Helper".into(),
                ..AssistantFields::default()
            },
        )
        .await
        .unwrap();

    let patched = store
        .update_topic(
            me,
            t.id,
            &TopicPatch {
                title: Some("  Plans  ".into()),
                pinned: Some(true),
                folder: Some(Some(folder.id)),
                assistant: Some(Some(helper.id)),
                tags: Some(vec![
                    "zeta".into(),
                    " alpha ".into(),
                    "".into(),
                    "zeta".into(),
                ]),
            },
        )
        .await
        .unwrap();
    assert_eq!(patched.title, "Plans");
    assert!(patched.pinned);
    assert_eq!(patched.folder_id, Some(folder.id));
    assert_eq!(patched.assistant_id, Some(helper.id));
    assert_eq!(patched.updated_at, t.updated_at, "metadata is not activity");
    let list = store.topics(me).await.unwrap();
    assert_eq!(list[0].topic, patched, "pinned first");
    assert_eq!(list[0].tags, ["alpha", "zeta"]);
    assert!(list[1].tags.is_empty());

    // None leaves a field alone; Some(None) clears it; tags replace the set.
    let patched = store
        .update_topic(
            me,
            t.id,
            &TopicPatch {
                folder: Some(None),
                tags: Some(vec!["beta".into(), "alpha".into()]),
                ..TopicPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(patched.title, "Plans");
    assert_eq!(patched.folder_id, None);
    assert_eq!(patched.assistant_id, Some(helper.id));
    store
        .update_topic(
            me,
            other.id,
            &TopicPatch {
                tags: Some(vec!["alpha".into()]),
                ..TopicPatch::default()
            },
        )
        .await
        .unwrap();
    let list = store.topics(me).await.unwrap();
    assert_eq!(list[0].tags, ["alpha", "beta"]);
    assert_eq!(list[1].tags, ["alpha"]);
    // Unused tags stay for reuse, shared by name.
    assert_eq!(count(&store, "SELECT COUNT(*) FROM tags").await, 3);

    let err = store
        .update_topic(
            me,
            t.id,
            &TopicPatch {
                title: Some("   ".into()),
                ..TopicPatch::default()
            },
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("title"), "{err}");
    assert!(not_found(
        store
            .update_topic(me, TopicId::new(9999), &TopicPatch::default())
            .await
    ));

    // Deleting the assistant unlinks it; the topic stays.
    store.delete_assistant(me, helper.id).await.unwrap();
    assert_eq!(store.topic(me, t.id).await.unwrap().assistant_id, None);
}

#[tokio::test]
async fn deleting_a_topic_takes_its_messages_blocks_and_tag_links() {
    let (_dir, store, me) = fresh().await;
    let t = store.create_topic(me, "doomed").await.unwrap().id;
    let keep = store.create_topic(me, "kept").await.unwrap().id;
    let q = say(&store, me, t, None, "gone soon").await;
    say(&store, me, t, Some(q), "also gone").await;
    say(&store, me, keep, None, "still here").await;
    let tags = TopicPatch {
        tags: Some(vec!["x".into()]),
        ..TopicPatch::default()
    };
    store.update_topic(me, t, &tags).await.unwrap();
    store.update_topic(me, keep, &tags).await.unwrap();

    store.delete_topic(me, t).await.unwrap();
    assert!(not_found(store.topic(me, t).await));
    assert!(not_found(store.message(me, q).await));
    assert!(not_found(store.delete_topic(me, t).await));
    assert_eq!(count(&store, "SELECT COUNT(*) FROM messages").await, 1);
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM message_blocks").await,
        1
    );
    assert_eq!(count(&store, "SELECT COUNT(*) FROM topic_tags").await, 1);
    assert!(
        store
            .search_messages(me, "gone", 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.topics(me).await.unwrap()[0].tags, ["x"]);
    search_index_is_consistent(&store).await;
}

#[tokio::test]
async fn search_finds_english_and_chinese_newest_first_with_marked_snippets() {
    let (_dir, store, me) = fresh().await;
    let t = store.create_topic(me, "greetings").await.unwrap().id;
    let older = say(&store, me, t, None, "Hello from the orchard").await;
    let cn = say(&store, me, t, Some(older), "你好世界").await;
    let newer = say(&store, me, t, Some(cn), "Another hello, later on").await;

    let hits = store.search_messages(me, "HELLO", 10).await.unwrap();
    assert_eq!(
        hits.iter().map(|h| h.message_id).collect::<Vec<_>>(),
        [newer, older],
        "newest first"
    );
    assert_eq!(hits[1].topic_title, "greetings");
    assert_eq!(hits[1].role, Role::User);
    assert_eq!(marked(&hits[1].snippet), "[Hello] from the orchard");
    assert_eq!(
        store.search_messages(me, "hello", 1).await.unwrap().len(),
        1
    );

    // Three characters or more: the trigram index.
    let hits = store.search_messages(me, "你好世", 10).await.unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].message_id, cn);
    assert_eq!(marked(&hits[0].snippet), "[你好世]界");
    // Fewer: the substring scan, same markers.
    let hits = store.search_messages(me, "世界", 10).await.unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(marked(&hits[0].snippet), "你好[世界]");
    let hits = store.search_messages(me, "he", 10).await.unwrap();
    assert_eq!(
        hits.iter().map(|h| h.message_id).collect::<Vec<_>>(),
        [newer, older]
    );
    assert!(marked(&hits[1].snippet).starts_with("[He]llo"));

    // A long text is cut around the match.
    let long = format!("{} needle {}", "word ".repeat(100), "word ".repeat(100));
    say(&store, me, t, Some(newer), &long).await;
    let hit = &store.search_messages(me, "needle", 10).await.unwrap()[0];
    assert!(
        hit.snippet
            .contains(&format!("{SNIPPET_START}needle{SNIPPET_END}"))
    );
    assert!(hit.snippet.starts_with('…') && hit.snippet.ends_with('…'));
    assert!(hit.snippet.chars().count() < 80, "{}", hit.snippet);
}

#[tokio::test]
async fn newest_means_written_last_even_for_imported_messages() {
    let (_dir, store, me) = fresh().await;
    // Imported in tree order, but the reply was written before the question
    // according to the archive.
    let archive = TopicArchive {
        title: "imported".into(),
        created_at: Timestamp::from_millis(1),
        updated_at: Timestamp::from_millis(1),
        messages: vec![
            archived(None, "apple pie", 2_000),
            archived(Some(0), "apple tart", 1_000),
        ],
        current: None,
    };
    store.import_topics(me, &[archive]).await.unwrap();
    let hits = store.search_messages(me, "apple", 10).await.unwrap();
    assert_eq!(marked(&hits[0].snippet), "[apple] pie");
    assert_eq!(hits[0].created_at, Timestamp::from_millis(2_000));
    assert_eq!(marked(&hits[1].snippet), "[apple] tart");
}

#[tokio::test]
async fn search_takes_any_input_literally() {
    let (_dir, store, me) = fresh().await;
    let t = store.create_topic(me, "t").await.unwrap().id;
    let m = say(
        &store,
        me,
        t,
        None,
        r#"she said "hi" AND left (quickly) * ok"#,
    )
    .await;
    for q in [
        r#""hi""#,
        r#""h"#,
        r#"""#,
        r#"said "hi"#,
        "AND left",
        "(quickly)",
        "* ok",
        "(",
    ] {
        let hits = store.search_messages(me, q, 10).await.unwrap();
        assert_eq!(
            hits.iter().map(|h| h.message_id).collect::<Vec<_>>(),
            [m],
            "{q}"
        );
    }
    for q in [
        "",
        "   ",
        "NEAR(a b)",
        "col:umn",
        "^start",
        "-minus",
        "a OR b",
        "'; DROP TABLE messages; --",
        "\u{0}\u{0}\u{0}",
        "x\"",
    ] {
        assert!(
            store.search_messages(me, q, 10).await.unwrap().is_empty(),
            "{q:?}"
        );
    }
    assert!(store.search_messages(me, "hi", 0).await.unwrap().is_empty());
}

#[tokio::test]
async fn import_keeps_titles_times_models_statuses_and_the_current_leaf() {
    let (_dir, store, me) = fresh().await;
    let mut answer = archived(Some(0), "answer", 20);
    answer.role = Role::Assistant;
    answer.model = Some(ArchivedModel {
        provider: "Elsewhere".into(),
        model: "big-model".into(),
    });
    answer.blocks.insert(
        0,
        ArchivedBlock {
            kind: BlockKind::ToolCall,
            content: "lookup".into(),
            data: Some(r#"{"q":1}"#.into()),
        },
    );
    let mut streaming = archived(Some(0), "cut short", 30);
    streaming.status = MessageStatus::Streaming;
    let archive = TopicArchive {
        title: "Imported".into(),
        created_at: Timestamp::from_millis(5),
        updated_at: Timestamp::from_millis(50),
        messages: vec![archived(None, "question", 10), answer, streaming],
        current: Some(1),
    };
    let ids = store
        .import_topics(me, &[archive, linear("second", 3)])
        .await
        .unwrap();
    assert_eq!(ids.len(), 2);

    let topic = store.topic(me, ids[0]).await.unwrap();
    assert_eq!(topic.title, "Imported");
    assert_eq!(topic.created_at, Timestamp::from_millis(5));
    assert_eq!(topic.updated_at, Timestamp::from_millis(50));
    let all = store.topic_messages(me, ids[0]).await.unwrap();
    assert_eq!(topic.current_message_id, Some(all[1].id));
    assert_eq!(all[1].parent_id, Some(all[0].id));
    assert_eq!(all[2].parent_id, Some(all[0].id));
    assert_eq!(all[1].created_at, Timestamp::from_millis(20));
    let model = all[1].model.as_ref().unwrap();
    assert_eq!(
        (
            model.provider_id,
            model.provider_name.as_str(),
            model.model_id.as_str()
        ),
        (None, "Elsewhere", "big-model")
    );
    assert_eq!(all[1].blocks[0].kind, BlockKind::ToolCall);
    assert_eq!(all[1].blocks[0].data.as_deref(), Some(r#"{"q":1}"#));
    assert_eq!(all[1].text(), "answer");
    assert_eq!(all[2].status, MessageStatus::Interrupted);
    // Without `current`, the last message is current.
    let second = store.topic(me, ids[1]).await.unwrap();
    let last = store.topic_messages(me, ids[1]).await.unwrap()[2].id;
    assert_eq!(second.current_message_id, Some(last));
    assert_eq!(
        store
            .search_messages(me, "cut short", 5)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn an_import_with_a_bad_archive_stores_nothing() {
    let (_dir, store, me) = fresh().await;
    let mut bad = linear("bad", 3);
    bad.messages[1].parent = Some(2); // not before it
    let err = store
        .import_topics(me, &[linear("good", 3), bad])
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("topic 2") && msg.contains("'bad'") && msg.contains("parent"),
        "{msg}"
    );
    let mut bad_current = linear("bad current", 2);
    bad_current.current = Some(2);
    assert!(
        store
            .import_topics(me, &[linear("good", 3), bad_current])
            .await
            .is_err()
    );
    assert!(store.topics(me).await.unwrap().is_empty());
    for table in ["topics", "messages", "message_blocks"] {
        assert_eq!(
            count(&store, &format!("SELECT COUNT(*) FROM {table}")).await,
            0,
            "{table}"
        );
    }
    assert!(
        store
            .search_messages(me, "message", 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn models_can_be_hidden_and_shown() {
    let (_dir, store, me) = fresh().await;
    let p = store.create_provider(me, &provider("p")).await.unwrap();
    let model = |id: &str| NewModel {
        model_id: id.into(),
        display_name: None,
        owned_by: None,
    };
    store
        .upsert_models(me, p.id, &[model("m1"), model("m2")])
        .await
        .unwrap();
    store
        .set_model_enabled(me, p.id, "m1", false)
        .await
        .unwrap();
    let enabled = |models: Vec<orchard_core::provider::Model>| {
        models
            .into_iter()
            .map(|m| (m.model_id, m.enabled))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        enabled(store.models(me, p.id).await.unwrap()),
        [("m1".to_string(), false), ("m2".to_string(), true)]
    );
    store.set_model_enabled(me, p.id, "m1", true).await.unwrap();
    assert!(store.models(me, p.id).await.unwrap()[0].enabled);
    let err = store
        .set_model_enabled(me, p.id, "unknown", false)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound { what: "model", .. }),
        "{err}"
    );
}

#[tokio::test]
async fn assistants_round_trip_and_are_validated() {
    let (_dir, store, me) = fresh().await;
    let p = store.create_provider(me, &provider("p")).await.unwrap();
    let fields = AssistantFields {
        name: "Translator".into(),
        emoji: Some("🌐".into()),
        system_prompt: "Translate into French.".into(),
        model: Some(AssistantModel {
            provider_id: p.id,
            model_id: "m1".into(),
        }),
        temperature: Some(0.3),
        top_p: Some(0.9),
        max_tokens: Some(512),
        context_count: Some(4),
    };
    let a = store.create_assistant(me, &fields).await.unwrap();
    assert_eq!(a.fields, fields);
    assert_eq!(a.user_id, me);
    assert_eq!(store.assistant(me, a.id).await.unwrap(), a);
    let b = store
        .create_assistant(
            me,
            &AssistantFields {
                name: "Critic".into(),
                ..AssistantFields::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(b.fields.model, None);
    assert_eq!(b.fields.temperature, None);
    let names: Vec<String> = store
        .assistants(me)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.fields.name)
        .collect();
    assert_eq!(names, ["Critic", "Translator"]);

    let changed = AssistantFields {
        name: "French".into(),
        temperature: None,
        ..fields.clone()
    };
    let updated = store.update_assistant(me, a.id, &changed).await.unwrap();
    assert_eq!(updated.fields, changed);
    assert_eq!(updated.created_at, a.created_at);

    let err = store
        .create_assistant(
            me,
            &AssistantFields {
                temperature: Some(5.0),
                ..fields.clone()
            },
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("temperature"), "{err}");
    let err = store
        .update_assistant(
            me,
            a.id,
            &AssistantFields {
                name: " ".into(),
                ..fields.clone()
            },
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("name"), "{err}");
    assert_eq!(store.assistant(me, a.id).await.unwrap(), updated);

    // Removing the provider forgets the default model, not the assistant.
    store.delete_provider(me, p.id).await.unwrap();
    assert_eq!(store.assistant(me, a.id).await.unwrap().fields.model, None);
    store.delete_assistant(me, a.id).await.unwrap();
    assert!(not_found(store.assistant(me, a.id).await));
    assert!(not_found(store.delete_assistant(me, a.id).await));
}

#[tokio::test]
async fn folder_names_are_unique_per_person_and_deleting_one_keeps_its_topics() {
    let (_dir, store, me) = fresh().await;
    let bob = second_user(&store).await;
    let work = store.create_folder(me, "  Work ").await.unwrap();
    assert_eq!(work.name, "Work");
    let err = store.create_folder(me, "Work").await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(m) if m == "a folder named 'Work' already exists"),
        "{err}"
    );
    assert!(store.create_folder(me, " ").await.is_err());
    let home = store.create_folder(me, "Home").await.unwrap();
    assert!(matches!(
        store.rename_folder(me, home.id, "Work").await,
        Err(StoreError::Conflict(_))
    ));
    store.rename_folder(me, home.id, "Family").await.unwrap();
    assert_eq!(
        store
            .folders(me)
            .await
            .unwrap()
            .into_iter()
            .map(|f| f.name)
            .collect::<Vec<_>>(),
        ["Family", "Work"]
    );
    // Bob has his own names.
    store.create_folder(bob, "Work").await.unwrap();

    let t = store.create_topic(me, "filed").await.unwrap().id;
    let patch = TopicPatch {
        folder: Some(Some(work.id)),
        ..TopicPatch::default()
    };
    store.update_topic(me, t, &patch).await.unwrap();
    store.delete_folder(me, work.id).await.unwrap();
    assert_eq!(store.topic(me, t).await.unwrap().folder_id, None);
    assert!(not_found(store.delete_folder(me, work.id).await));
    assert!(not_found(store.rename_folder(me, work.id, "x").await));
}

#[tokio::test]
async fn another_person_can_neither_see_nor_change_any_of_it() {
    let (_dir, store, me) = fresh().await;
    let bob = second_user(&store).await;
    let p = store.create_provider(me, &provider("mine")).await.unwrap();
    store
        .upsert_models(
            me,
            p.id,
            &[NewModel {
                model_id: "m1".into(),
                display_name: None,
                owned_by: None,
            }],
        )
        .await
        .unwrap();
    let t = store.create_topic(me, "private").await.unwrap().id;
    let q = say(&store, me, t, None, "secret question").await;
    let a = say(&store, me, t, Some(q), "secret answer").await;
    let folder = store.create_folder(me, "Mine").await.unwrap();
    let helper = store
        .create_assistant(
            me,
            &AssistantFields {
                name: "Mine".into(),
                ..AssistantFields::default()
            },
        )
        .await
        .unwrap();
    let bobs_topic = store.create_topic(bob, "bob's").await.unwrap().id;
    let bobs_msg = say(&store, bob, bobs_topic, None, "bob says secret things").await;
    let bobs_folder = store.create_folder(bob, "Bob's").await.unwrap();
    let bobs_helper = store
        .create_assistant(
            bob,
            &AssistantFields {
                name: "Bob's".into(),
                ..AssistantFields::default()
            },
        )
        .await
        .unwrap();

    // Reading.
    assert!(not_found(store.branch_page(bob, a, None, 10).await));
    assert!(not_found(
        store.branch_page(bob, bobs_msg, Some(a), 10).await
    ));
    assert!(not_found(
        store.branch_page(me, a, Some(bobs_msg), 10).await
    ));
    assert!(not_found(store.topic_messages(bob, t).await));
    assert!(not_found(store.assistant(bob, helper.id).await));
    assert!(
        store
            .assistants(bob)
            .await
            .unwrap()
            .iter()
            .all(|x| x.id == bobs_helper.id)
    );
    assert!(
        store
            .folders(bob)
            .await
            .unwrap()
            .iter()
            .all(|f| f.id == bobs_folder.id)
    );
    for query in ["secret", "se"] {
        let hits = store.search_messages(bob, query, 10).await.unwrap();
        assert_eq!(
            hits.iter().map(|h| h.message_id).collect::<Vec<_>>(),
            [bobs_msg],
            "{query}"
        );
        let hits = store.search_messages(me, query, 10).await.unwrap();
        assert!(hits.iter().all(|h| h.message_id != bobs_msg), "{query}");
        assert_eq!(hits.len(), 2);
    }

    // Changing.
    assert!(not_found(store.switch_branch(bob, q).await));
    assert!(not_found(store.delete_message(bob, q).await));
    let rename = TopicPatch {
        title: Some("mine now".into()),
        ..TopicPatch::default()
    };
    assert!(not_found(store.update_topic(bob, t, &rename).await));
    assert!(not_found(store.delete_topic(bob, t).await));
    assert!(not_found(
        store.set_model_enabled(bob, p.id, "m1", false).await
    ));
    assert!(not_found(
        store
            .update_assistant(
                bob,
                helper.id,
                &AssistantFields {
                    name: "taken".into(),
                    ..AssistantFields::default()
                }
            )
            .await
    ));
    assert!(not_found(store.delete_assistant(bob, helper.id).await));
    assert!(not_found(
        store.rename_folder(bob, folder.id, "taken").await
    ));
    assert!(not_found(store.delete_folder(bob, folder.id).await));
    // Nor attach my things to theirs, or theirs to mine.
    let into_my_folder = TopicPatch {
        folder: Some(Some(folder.id)),
        ..TopicPatch::default()
    };
    assert!(not_found(
        store.update_topic(bob, bobs_topic, &into_my_folder).await
    ));
    let with_bobs = TopicPatch {
        folder: Some(Some(bobs_folder.id)),
        ..TopicPatch::default()
    };
    assert!(not_found(store.update_topic(me, t, &with_bobs).await));
    let with_bobs_helper = TopicPatch {
        assistant: Some(Some(bobs_helper.id)),
        ..TopicPatch::default()
    };
    assert!(not_found(
        store.update_topic(me, t, &with_bobs_helper).await
    ));
    let on_my_provider = AssistantFields {
        name: "sneaky".into(),
        model: Some(AssistantModel {
            provider_id: p.id,
            model_id: "m1".into(),
        }),
        ..AssistantFields::default()
    };
    assert!(not_found(
        store.create_assistant(bob, &on_my_provider).await
    ));
    // Tags are per person too.
    let tag = TopicPatch {
        tags: Some(vec!["shared name".into()]),
        ..TopicPatch::default()
    };
    store.update_topic(bob, bobs_topic, &tag).await.unwrap();
    assert!(store.topics(me).await.unwrap()[0].tags.is_empty());
    // Imports land in the importer's account.
    store
        .import_topics(bob, &[linear("bob's import", 2)])
        .await
        .unwrap();
    assert_eq!(store.topics(me).await.unwrap().len(), 1);

    // Everything of mine is as it was.
    let topic = store.topic(me, t).await.unwrap();
    assert_eq!(topic.title, "private");
    assert_eq!(topic.current_message_id, Some(a));
    assert_eq!(topic.folder_id, None);
    assert_eq!(topic.assistant_id, None);
    assert_eq!(store.topic_messages(me, t).await.unwrap().len(), 2);
    assert_eq!(
        store.assistant(me, helper.id).await.unwrap().fields.name,
        "Mine"
    );
    assert_eq!(store.folders(me).await.unwrap()[0].name, "Mine");
    assert!(store.models(me, p.id).await.unwrap()[0].enabled);
}
