//! The SQLite store against real database files.

use orchard_core::capabilities::CapabilityOverride;
use orchard_core::egress::{EgressEntry, Purpose};
use orchard_core::message::{Block, BlockKind, MessageStatus, ModelSnapshot, Role, Timings, Usage};
use orchard_core::provider::KeyStatus;
use orchard_core::{MessageId, Timestamp};
use orchard_store::sqlite::SqliteStore;
use orchard_store::{
    ConversationStore, EgressStore, MessageUpdate, NewMessage, NewModel, ProviderStore,
    RecoveryStore, SealedKey, SettingsStore, StoreError, UserStore,
};
use sqlx::Connection;
use sqlx::sqlite::SqliteConnection;

mod common;
use common::*;

#[tokio::test]
async fn opens_in_wal_mode_with_foreign_keys_and_latest_schema() {
    let (_dir, store, _) = fresh().await;
    let mut c = raw(store.path()).await;
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    assert_eq!(
        store.schema_version().await.unwrap(),
        SqliteStore::latest_version()
    );
    // A parent that does not exist is refused (foreign-key enforcement itself is proven
    // by the cascade in providers_keys_and_models_round_trip).
    let me = store.ensure_local_user().await.unwrap().id;
    let t = store.create_topic(me, "t").await.unwrap();
    let err = store
        .append_message(me, &text(Role::User, t.id, Some(MessageId::new(999)), "x"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::NotFound {
                what: "message",
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn local_user_is_created_once() {
    let (_dir, store, me) = fresh().await;
    assert_eq!(store.ensure_local_user().await.unwrap().id, me);
    let mut c = raw(store.path()).await;
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn message_tree_branches_follow_the_current_leaf() {
    let (_dir, store, me) = fresh().await;
    let t = store.create_topic(me, "tree").await.unwrap();
    let q = store
        .append_message(me, &text(Role::User, t.id, None, "question"))
        .await
        .unwrap();
    let a1 = store
        .append_message(me, &text(Role::Assistant, t.id, Some(q.id), "answer one"))
        .await
        .unwrap();
    let branch = store.branch(me, t.id).await.unwrap();
    assert_eq!(
        branch.iter().map(|m| m.text()).collect::<Vec<_>>(),
        ["question", "answer one"]
    );
    // A regenerated answer is a sibling, and becomes current.
    let a2 = store
        .append_message(me, &text(Role::Assistant, t.id, Some(q.id), "answer two"))
        .await
        .unwrap();
    assert_eq!(a2.parent_id, Some(q.id));
    let branch = store.branch(me, t.id).await.unwrap();
    assert_eq!(
        branch.iter().map(|m| m.text()).collect::<Vec<_>>(),
        ["question", "answer two"]
    );
    // The first answer is still there.
    assert_eq!(store.message(me, a1.id).await.unwrap().text(), "answer one");
    let topics = store.topics(me).await.unwrap();
    assert_eq!(topics.len(), 1);
    assert_eq!(topics[0].message_count, 3);
    assert_eq!(topics[0].topic.current_message_id, Some(a2.id));
}

#[tokio::test]
async fn open_messages_update_until_closed_then_refuse() {
    let (_dir, store, me) = fresh().await;
    let t = store.create_topic(me, "stream").await.unwrap();
    let q = store
        .append_message(me, &text(Role::User, t.id, None, "hi"))
        .await
        .unwrap();
    let reply = store
        .append_message(
            me,
            &NewMessage {
                topic_id: t.id,
                parent_id: Some(q.id),
                role: Role::Assistant,
                status: MessageStatus::Pending,
                model: Some(ModelSnapshot {
                    provider_id: None,
                    provider_name: "fake".into(),
                    model_id: "m".into(),
                }),
                blocks: vec![],
                writer: Some("w1".into()),
            },
        )
        .await
        .unwrap();
    let upd = |status, text: &str| MessageUpdate {
        status,
        blocks: vec![
            Block::new(BlockKind::Thinking, "hmm"),
            Block::new(BlockKind::Text, text),
        ],
        usage: Usage {
            input_tokens: Some(3),
            output_tokens: Some(5),
            reasoning_tokens: None,
        },
        timings: Timings {
            first_token_ms: Some(12),
            total_ms: Some(40),
        },
        finish_reason: Some("stop".into()),
    };
    store
        .update_open_message(me, reply.id, &upd(MessageStatus::Streaming, "Hel"))
        .await
        .unwrap();
    assert_eq!(store.open_writers().await.unwrap(), vec!["w1".to_string()]);
    store
        .update_open_message(me, reply.id, &upd(MessageStatus::Done, "Hello"))
        .await
        .unwrap();
    let m = store.message(me, reply.id).await.unwrap();
    assert_eq!(m.status, MessageStatus::Done);
    assert_eq!(m.text(), "Hello");
    assert_eq!(m.blocks_of(BlockKind::Thinking), "hmm");
    assert_eq!(m.usage.output_tokens, Some(5));
    assert_eq!(m.timings.first_token_ms, Some(12));
    assert_eq!(m.model.unwrap().provider_name, "fake");
    assert!(store.open_writers().await.unwrap().is_empty());
    let err = store
        .update_open_message(me, reply.id, &upd(MessageStatus::Streaming, "late"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    assert_eq!(store.message(me, reply.id).await.unwrap().text(), "Hello");
}

#[tokio::test]
async fn recovery_interrupts_only_the_dead_writers_messages() {
    let (_dir, store, me) = fresh().await;
    let t = store.create_topic(me, "r").await.unwrap();
    let mk = |writer: &str| NewMessage {
        topic_id: t.id,
        parent_id: None,
        role: Role::Assistant,
        status: MessageStatus::Streaming,
        model: None,
        blocks: vec![Block::new(BlockKind::Text, "partial")],
        writer: Some(writer.into()),
    };
    let dead = store.append_message(me, &mk("dead")).await.unwrap();
    let alive = store.append_message(me, &mk("alive")).await.unwrap();
    let mut writers = store.open_writers().await.unwrap();
    writers.sort();
    assert_eq!(writers, ["alive", "dead"]);
    assert_eq!(store.interrupt_writer("dead").await.unwrap(), 1);
    let d = store.message(me, dead.id).await.unwrap();
    assert_eq!(
        (d.status, d.text().as_str()),
        (MessageStatus::Interrupted, "partial")
    );
    assert_eq!(
        store.message(me, alive.id).await.unwrap().status,
        MessageStatus::Streaming
    );
}

#[tokio::test]
async fn every_user_data_query_is_scoped_to_its_owner() {
    let (_dir, store, me) = fresh().await;
    let bob = second_user(&store).await;
    let p = store.create_provider(me, &provider("mine")).await.unwrap();
    let key = store
        .add_key(
            me,
            p.id,
            &SealedKey {
                nonce: vec![0; 24],
                ciphertext: vec![1; 40],
            },
            "sk-…0001",
        )
        .await
        .unwrap();
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
    let t = store.create_topic(me, "private").await.unwrap();
    let q = store
        .append_message(me, &text(Role::User, t.id, None, "secret question"))
        .await
        .unwrap();
    store
        .set_setting(me, "last_model", "mine:m1")
        .await
        .unwrap();

    // Bob sees none of it and can change none of it.
    assert!(store.providers(bob).await.unwrap().is_empty());
    assert!(store.provider_by_name(bob, "mine").await.unwrap().is_none());
    assert!(store.keys(bob, p.id).await.unwrap().is_empty());
    assert!(store.models(bob, p.id).await.unwrap().is_empty());
    assert!(store.topics(bob).await.unwrap().is_empty());
    assert!(store.latest_topic(bob).await.unwrap().is_none());
    assert!(matches!(
        store.topic(bob, t.id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.branch(bob, t.id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.message(bob, q.id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(store.setting(bob, "last_model").await.unwrap().is_none());
    assert!(matches!(
        store
            .append_message(bob, &text(Role::User, t.id, None, "intrusion"))
            .await,
        Err(StoreError::NotFound { .. })
    ));
    let upd = MessageUpdate {
        status: MessageStatus::Done,
        blocks: vec![],
        usage: Usage::default(),
        timings: Timings::default(),
        finish_reason: None,
    };
    assert!(matches!(
        store.update_open_message(bob, q.id, &upd).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.delete_key(bob, key).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.delete_provider(bob, p.id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store
            .add_key(
                bob,
                p.id,
                &SealedKey {
                    nonce: vec![],
                    ciphertext: vec![]
                },
                "x"
            )
            .await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.upsert_models(bob, p.id, &[]).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store
            .set_key_status(bob, key, KeyStatus::Invalid, Some("hijack"))
            .await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store
            .rest_key(bob, key, Timestamp::from_millis(i64::MAX))
            .await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.touch_key(bob, key).await,
        Err(StoreError::NotFound { .. })
    ));
    let vision = CapabilityOverride {
        vision: Some(true),
        ..Default::default()
    };
    assert!(matches!(
        store.set_model_capabilities(bob, p.id, "m1", &vision).await,
        Err(StoreError::NotFound { .. })
    ));

    // And everything of mine is intact.
    assert_eq!(
        store.keys(me, p.id).await.unwrap()[0].info.status,
        KeyStatus::Unknown
    );
    assert_eq!(
        store.branch(me, t.id).await.unwrap()[0].text(),
        "secret question"
    );
    let mine = store.keys(me, p.id).await.unwrap();
    assert_eq!(mine[0].info.rest_until, None);
    assert_eq!(mine[0].info.last_used_at, None);
    let models = store.models(me, p.id).await.unwrap();
    assert_eq!(models.len(), 1);
    assert_eq!(models[0].capabilities, CapabilityOverride::default());
}

#[tokio::test]
async fn key_rest_and_use_and_model_capabilities_round_trip() {
    let (_dir, store, me) = fresh().await;
    let p = store.create_provider(me, &provider("fake")).await.unwrap();
    let key = store
        .add_key(
            me,
            p.id,
            &SealedKey {
                nonce: vec![1],
                ciphertext: vec![2],
            },
            "sk-…aaaa",
        )
        .await
        .unwrap();
    let fresh_key = &store.keys(me, p.id).await.unwrap()[0].info;
    assert_eq!((fresh_key.rest_until, fresh_key.last_used_at), (None, None));

    let until = Timestamp::from_millis(Timestamp::now().as_millis() + 60_000);
    store.rest_key(me, key, until).await.unwrap();
    store.touch_key(me, key).await.unwrap();
    let info = &store.keys(me, p.id).await.unwrap()[0].info;
    assert_eq!(info.rest_until, Some(until));
    assert!(info.last_used_at.is_some());

    // A verdict about the key (a check, a rejection) ends any rest.
    store
        .set_key_status(me, key, KeyStatus::Ok, None)
        .await
        .unwrap();
    assert_eq!(store.keys(me, p.id).await.unwrap()[0].info.rest_until, None);

    // Capabilities can be set on a model the provider never listed, and a later
    // listing keeps them.
    let caps = CapabilityOverride {
        vision: Some(false),
        context: Some(32_768),
        ..Default::default()
    };
    store
        .set_model_capabilities(me, p.id, "private-model", &caps)
        .await
        .unwrap();
    store
        .upsert_models(
            me,
            p.id,
            &[NewModel {
                model_id: "private-model".into(),
                display_name: Some("Private".into()),
                owned_by: None,
            }],
        )
        .await
        .unwrap();
    let models = store.models(me, p.id).await.unwrap();
    assert_eq!(models.len(), 1);
    assert_eq!(models[0].display_name.as_deref(), Some("Private"));
    assert_eq!(models[0].capabilities, caps);
}

#[tokio::test]
async fn providers_keys_and_models_round_trip() {
    let (_dir, store, me) = fresh().await;
    let p = store.create_provider(me, &provider("fake")).await.unwrap();
    let dup = store
        .create_provider(me, &provider("fake"))
        .await
        .unwrap_err();
    assert!(dup.to_string().contains("already exists"), "{dup}");
    let k1 = store
        .add_key(
            me,
            p.id,
            &SealedKey {
                nonce: vec![1],
                ciphertext: vec![2],
            },
            "sk-…aaaa",
        )
        .await
        .unwrap();
    let k2 = store
        .add_key(
            me,
            p.id,
            &SealedKey {
                nonce: vec![3],
                ciphertext: vec![4],
            },
            "sk-…bbbb",
        )
        .await
        .unwrap();
    let keys = store.keys(me, p.id).await.unwrap();
    assert_eq!(keys.iter().map(|k| k.info.id).collect::<Vec<_>>(), [k1, k2]);
    assert_eq!(keys[1].sealed.ciphertext, vec![4]);
    store
        .set_key_status(me, k1, KeyStatus::Invalid, Some("401: bad key"))
        .await
        .unwrap();
    let keys = store.keys(me, p.id).await.unwrap();
    assert_eq!(keys[0].info.status, KeyStatus::Invalid);
    assert_eq!(keys[0].info.status_reason.as_deref(), Some("401: bad key"));
    store
        .upsert_models(
            me,
            p.id,
            &[
                NewModel {
                    model_id: "b".into(),
                    display_name: None,
                    owned_by: Some("x".into()),
                },
                NewModel {
                    model_id: "a".into(),
                    display_name: Some("A".into()),
                    owned_by: None,
                },
            ],
        )
        .await
        .unwrap();
    store
        .upsert_models(
            me,
            p.id,
            &[NewModel {
                model_id: "a".into(),
                display_name: None,
                owned_by: Some("y".into()),
            }],
        )
        .await
        .unwrap();
    let models = store.models(me, p.id).await.unwrap();
    assert_eq!(
        models
            .iter()
            .map(|m| m.model_id.as_str())
            .collect::<Vec<_>>(),
        ["a", "b"]
    );
    assert_eq!(models[0].display_name.as_deref(), Some("A"));
    assert_eq!(models[0].owned_by.as_deref(), Some("y"));
    store.delete_provider(me, p.id).await.unwrap();
    assert!(store.keys(me, p.id).await.unwrap().is_empty());
    assert!(store.models(me, p.id).await.unwrap().is_empty());
}

#[tokio::test]
async fn egress_rows_are_written_ahead_and_completed() {
    let (_dir, store, _) = fresh().await;
    let entry = |at: i64, host: &str, outcome: &str| EgressEntry {
        at: Timestamp::from_millis(at),
        host: host.into(),
        port: 443,
        purpose: Purpose::chat("deepseek"),
        method: "POST".into(),
        bytes_sent: 10,
        bytes_received: 0,
        status: None,
        outcome: outcome.into(),
        via_proxy: None,
        duration_ms: 0,
    };
    let a = store
        .begin_egress(&entry(1000, "a.example", "in-flight"))
        .await
        .unwrap();
    let b = store
        .begin_egress(&entry(2000, "b.example", "in-flight"))
        .await
        .unwrap();
    let all = store.egress_since(Timestamp::from_millis(0)).await.unwrap();
    assert_eq!(
        all.iter().map(|e| e.outcome.as_str()).collect::<Vec<_>>(),
        ["in-flight", "in-flight"]
    );
    let mut done = entry(1000, "a.example", "ok");
    done.bytes_received = 20;
    done.status = Some(200);
    done.duration_ms = 5;
    store.finish_egress(&[(a, done.clone())]).await.unwrap();
    let all = store.egress_since(Timestamp::from_millis(0)).await.unwrap();
    assert_eq!(all[0], done);
    assert_eq!(
        all[1].outcome, "in-flight",
        "{b}: still running, or its process ended"
    );
    let later = store
        .egress_since(Timestamp::from_millis(1500))
        .await
        .unwrap();
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].host, "b.example");
}

#[tokio::test]
async fn the_database_itself_refuses_rows_attached_to_someone_elses_parent() {
    let (_dir, store, me) = fresh().await;
    let bob = second_user(&store).await;
    let t = store.create_topic(me, "mine").await.unwrap();
    let q = store
        .append_message(me, &text(Role::User, t.id, None, "q"))
        .await
        .unwrap();
    let p = store.create_provider(me, &provider("p")).await.unwrap();
    let mut c = raw(store.path()).await;
    for (what, sql) in [
        (
            "message in my topic",
            format!(
                "INSERT INTO messages (user_id, topic_id, role, status, created_at, updated_at) VALUES ({bob}, {}, 'user', 'done', 0, 0)",
                t.id
            ),
        ),
        (
            "block on my message",
            format!(
                "INSERT INTO message_blocks (message_id, user_id, position, kind, content) VALUES ({}, {bob}, 9, 'text', 'x')",
                q.id
            ),
        ),
        (
            "key on my provider",
            format!(
                "INSERT INTO provider_keys (user_id, provider_id, nonce, ciphertext, mask, position, created_at) VALUES ({bob}, {}, x'00', x'00', 'm', 1, 0)",
                p.id
            ),
        ),
        (
            "model on my provider",
            format!(
                "INSERT INTO models (user_id, provider_id, model_id, created_at, updated_at) VALUES ({bob}, {}, 'm', 0, 0)",
                p.id
            ),
        ),
    ] {
        let err = sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut c)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("FOREIGN KEY"), "{what}: {err}");
    }
}

#[tokio::test]
async fn a_branch_can_be_read_up_to_any_leaf() {
    let (_dir, store, me) = fresh().await;
    let t = store.create_topic(me, "t").await.unwrap();
    let q1 = store
        .append_message(me, &text(Role::User, t.id, None, "first"))
        .await
        .unwrap();
    let a = store
        .append_message(me, &text(Role::Assistant, t.id, Some(q1.id), "answer"))
        .await
        .unwrap();
    let q2 = store
        .append_message(me, &text(Role::User, t.id, Some(a.id), "mine"))
        .await
        .unwrap();
    // Another writer moves the topic's current leaf elsewhere meanwhile.
    store
        .append_message(me, &text(Role::User, t.id, Some(a.id), "someone else's"))
        .await
        .unwrap();
    let to_q2 = store.branch_to(me, q2.id).await.unwrap();
    assert_eq!(
        to_q2.iter().map(|m| m.text()).collect::<Vec<_>>(),
        ["first", "answer", "mine"]
    );
    let current = store.branch(me, t.id).await.unwrap();
    assert_eq!(current.last().unwrap().text(), "someone else's");
    let bob = second_user(&store).await;
    assert!(matches!(
        store.branch_to(bob, q2.id).await,
        Err(StoreError::NotFound { .. })
    ));
}

#[tokio::test]
async fn an_existing_database_is_backed_up_before_a_migration_changes_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("orchard.db");
    {
        let old = SqliteStore::open_at_version(&db, &opts(), 1).await.unwrap();
        assert_eq!(old.schema_version().await.unwrap(), 1);
        let me = old.ensure_local_user().await.unwrap().id;
        let t = old.create_topic(me, "from an older Orchard").await.unwrap();
        old.append_message(me, &text(Role::User, t.id, None, "keep me"))
            .await
            .unwrap();
        old.close().await;
    }
    assert!(
        !dir.path().join("backups").exists(),
        "no backup for a fresh database"
    );

    let store = SqliteStore::open(&db, &opts()).await.unwrap();
    assert_eq!(
        store.schema_version().await.unwrap(),
        SqliteStore::latest_version()
    );
    let backups: Vec<_> = std::fs::read_dir(dir.path().join("backups"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    let name = backups[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_string();
    let expected = format!(
        "orchard-schema-v1-before-v{}-",
        SqliteStore::latest_version()
    );
    assert!(name.starts_with(&expected), "{name}");

    // The backup is a complete, consistent database at the old version.
    let mut c = raw(&backups[0]).await;
    let v: i64 = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(v, 1);
    let content: String = sqlx::query_scalar("SELECT content FROM message_blocks")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(content, "keep me");

    // Opening again at the latest version takes no further backup.
    store.close().await;
    SqliteStore::open(&db, &opts()).await.unwrap();
    assert_eq!(
        std::fs::read_dir(dir.path().join("backups"))
            .unwrap()
            .count(),
        1
    );
}

#[tokio::test]
async fn a_database_from_a_newer_orchard_is_refused_and_left_alone() {
    let (dir, store, me) = fresh().await;
    store.create_topic(me, "t").await.unwrap();
    let path = store.path().to_path_buf();
    store.close().await;
    {
        let mut c = raw(&path).await;
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (9999, 'future', 1, x'00', 0)",
        )
        .execute(&mut c)
        .await
        .unwrap();
        c.close().await.unwrap();
    }
    let err = SqliteStore::open(&path, &opts()).await.unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, StoreError::NewerSchema { found: 9999, .. }),
        "{msg}"
    );
    assert!(
        msg.contains("newer Orchard")
            && msg.contains("9999")
            && msg.contains("nothing was changed"),
        "{msg}"
    );
    assert!(!dir.path().join("backups").exists());
    let mut c = raw(&path).await;
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM topics")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn a_changed_migration_is_refused() {
    let (_dir, store, _) = fresh().await;
    let path = store.path().to_path_buf();
    store.close().await;
    let mut c = raw(&path).await;
    sqlx::query("UPDATE _sqlx_migrations SET checksum = x'0102' WHERE version = 1")
        .execute(&mut c)
        .await
        .unwrap();
    c.close().await.unwrap();
    let err = SqliteStore::open(&path, &opts()).await.unwrap_err();
    assert!(
        matches!(err, StoreError::SchemaMismatch { version: 1, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn a_file_that_is_not_sqlite_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orchard.db");
    std::fs::write(
        &path,
        b"this is my shopping list, not a database\n".repeat(200),
    )
    .unwrap();
    let err = SqliteStore::open(&path, &opts()).await.unwrap_err();
    assert!(matches!(err, StoreError::NotADatabase { .. }), "{err:?}");
    assert!(
        err.to_string().contains("is not an Orchard database"),
        "{err}"
    );
    // Untouched.
    assert!(
        std::fs::read(&path)
            .unwrap()
            .starts_with(b"this is my shopping list")
    );
}

#[tokio::test]
async fn a_foreign_sqlite_database_is_not_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orchard.db");
    {
        let mut c = SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", path.display()))
            .await
            .unwrap();
        sqlx::query("CREATE TABLE recipes (name TEXT)")
            .execute(&mut c)
            .await
            .unwrap();
        c.close().await.unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let err = SqliteStore::open(&path, &opts()).await.unwrap_err();
    assert!(matches!(err, StoreError::NotOrchard { .. }), "{err:?}");
    // Refused means untouched: not even switched to WAL mode.
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert!(!dir.path().join("orchard.db-wal").exists());
    let mut c = raw(&path).await;
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(n, 1, "no tables were added");
}

#[tokio::test]
async fn a_database_locked_by_someone_else_gives_a_clear_error() {
    let (_dir, store, _) = fresh().await;
    let path = store.path().to_path_buf();
    store.close().await;
    let mut holder = raw(&path).await;
    sqlx::query("PRAGMA locking_mode = EXCLUSIVE")
        .execute(&mut holder)
        .await
        .unwrap();
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut holder)
        .await
        .unwrap();
    let err = SqliteStore::open(&path, &opts()).await.unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
    assert!(
        err.to_string().contains("locked by another process"),
        "{err}"
    );
    sqlx::query("COMMIT").execute(&mut holder).await.unwrap();
    holder.close().await.unwrap();
    SqliteStore::open(&path, &opts())
        .await
        .expect("opens once the lock is released");
}
