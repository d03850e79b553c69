//! Fixtures shared by the store's integration tests: a fresh database file, a raw
//! connection for looking underneath the store, a second person, and small builders.

#![allow(dead_code)]

use std::time::Duration;

use orchard_core::message::{Block, BlockKind, MessageStatus, Role};
use orchard_core::provider::{Protocol, Quirks};
use orchard_core::{MessageId, TopicId, UserId};
use orchard_store::sqlite::{SqliteStore, StoreOptions};
use orchard_store::{NewMessage, NewProvider, UserStore};
use sqlx::Connection;
use sqlx::sqlite::SqliteConnection;

/// Options with a short busy timeout, so a locking bug fails fast.
pub fn opts() -> StoreOptions {
    StoreOptions {
        busy_timeout: Duration::from_millis(300),
        max_connections: 2,
    }
}

/// A new database in a temporary directory, with its local person.
pub async fn fresh() -> (tempfile::TempDir, SqliteStore, UserId) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("orchard.db"), &opts())
        .await
        .unwrap();
    let me = store.ensure_local_user().await.unwrap().id;
    (dir, store, me)
}

/// A connection that bypasses the store.
pub async fn raw(path: &std::path::Path) -> SqliteConnection {
    SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap()
}

/// Another person (an account, inserted underneath the store, which has no API for it
/// yet).
pub async fn second_user(store: &SqliteStore) -> UserId {
    let mut c = raw(store.path()).await;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO users (kind, nickname, created_at) VALUES ('account', 'bob', 0) RETURNING id",
    )
    .fetch_one(&mut c)
    .await
    .unwrap();
    UserId::new(id)
}

/// An OpenAI-compatible provider on a closed port.
pub fn provider(name: &str) -> NewProvider {
    NewProvider {
        name: name.into(),
        catalogue_id: None,
        protocol: Protocol::OpenAi,
        base_url: "http://127.0.0.1:9/v1".into(),
        quirks: Quirks::default(),
    }
}

/// A finished message with one text block.
pub fn text(role: Role, topic: TopicId, parent: Option<MessageId>, s: &str) -> NewMessage {
    NewMessage {
        topic_id: topic,
        parent_id: parent,
        role,
        status: MessageStatus::Done,
        model: None,
        blocks: vec![Block::new(BlockKind::Text, s)],
        writer: None,
    }
}
