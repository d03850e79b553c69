//! Saving streaming answers, in the background and in batches (group commit).
//!
//! Every open answer is saved a few times a second so a crash loses at most a moment of
//! text. Written one commit per save, 500 answers streaming at once asked SQLite for
//! 2,000 durable commits a second; the database fell behind and every answer stalled
//! while it waited its turn. Answers finishing together stalled the same way, each
//! waiting for the closes queued before it.
//!
//! Here an answer leaves its latest state in a map and goes on. One task writes whatever
//! is in the map in a single transaction; states that arrive meanwhile are coalesced
//! into the next one. A final state ([`ProgressWriter::finish`]) waits for the commit
//! that carries it, so "done" is only announced once it is on disk.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::Duration;

use orchard_core::{MessageId, UserId};
use orchard_store::{MessageUpdate, Store, StoreError};
use tokio::sync::{Notify, oneshot};

/// Longest pause between attempts while the database refuses writes.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// The background writer of answers. Cheap to clone; one per [`crate::App`].
#[derive(Clone)]
pub(crate) struct ProgressWriter {
    shared: Arc<Shared>,
}

/// Told whether a final state was written (false: the message was already closed or is
/// gone), or why the database refused it.
type Waiter = oneshot::Sender<Result<bool, StoreError>>;

struct Queued {
    user: UserId,
    update: MessageUpdate,
    /// Set for a final state: its caller waits for the commit.
    waiter: Option<Waiter>,
}

struct Shared {
    store: Arc<dyn Store>,
    pending: Mutex<HashMap<MessageId, Queued>>,
    /// Held by the task too, so it can wait without keeping the rest alive.
    wake: Arc<Notify>,
    task: OnceLock<()>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, HashMap<MessageId, Queued>> {
        // Nothing panics while holding the lock, and the map is consistent if it did.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Let a waiting task see that the writer is gone, and end.
        self.wake.notify_one();
    }
}

impl ProgressWriter {
    pub(crate) fn new(store: Arc<dyn Store>) -> Self {
        ProgressWriter {
            shared: Arc::new(Shared {
                store,
                pending: Mutex::new(HashMap::new()),
                wake: Arc::new(Notify::new()),
                task: OnceLock::new(),
            }),
        }
    }

    /// Queues the latest state of an open answer, replacing one not yet written. Never
    /// waits for the database. Must be called inside a Tokio runtime.
    pub(crate) fn put(&self, user: UserId, id: MessageId, update: MessageUpdate) {
        {
            let mut pending = self.shared.lock();
            if pending.get(&id).is_some_and(|q| q.waiter.is_some()) {
                return; // A final state is queued; nothing may replace it.
            }
            pending.insert(
                id,
                Queued {
                    user,
                    update,
                    waiter: None,
                },
            );
        }
        self.wake();
    }

    /// Writes the final state of an answer together with whatever else is queued, and
    /// returns once it is committed: `Ok(false)` if the message was already closed or
    /// is gone (nothing was overwritten).
    pub(crate) async fn finish(
        &self,
        user: UserId,
        id: MessageId,
        update: MessageUpdate,
    ) -> Result<bool, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.shared.lock().insert(
            id,
            Queued {
                user,
                update,
                waiter: Some(tx),
            },
        );
        self.wake();
        rx.await.unwrap_or_else(|_| {
            Err(StoreError::Other(
                "the database writer stopped before saving the answer".into(),
            ))
        })
    }

    /// Drops a queued state of an answer that is being closed some other way.
    pub(crate) fn forget(&self, id: MessageId) {
        self.shared.lock().remove(&id);
    }

    fn wake(&self) {
        self.shared.task.get_or_init(|| {
            tokio::spawn(run(Arc::downgrade(&self.shared), self.shared.wake.clone()));
        });
        self.shared.wake.notify_one();
    }
}

/// Writes batches until the writer is dropped.
async fn run(shared: Weak<Shared>, wake: Arc<Notify>) {
    let mut backoff = Duration::from_millis(50);
    let mut warned = false;
    loop {
        // Created before the map is read, so a `put` between the read and the wait still
        // wakes us (Notify keeps one permit).
        let woken = wake.notified();
        let Some(strong) = shared.upgrade() else {
            return;
        };
        let batch: Vec<(MessageId, Queued)> = strong.lock().drain().collect();
        if batch.is_empty() {
            drop(strong);
            woken.await;
            continue;
        }
        let (updates, waiters): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .map(|(id, q)| ((q.user, id, q.update), q.waiter))
            .unzip();
        match strong.store.update_open_messages(&updates).await {
            Ok(written) => {
                backoff = Duration::from_millis(50);
                warned = false;
                for (waiter, written) in waiters.into_iter().zip(written) {
                    if let Some(w) = waiter {
                        let _ = w.send(Ok(written));
                    }
                }
            }
            Err(e) => {
                if !std::mem::replace(&mut warned, true) {
                    tracing::warn!(error = %e, answers = updates.len(), "could not save the answers so far; they are kept in memory and saved as soon as the database allows");
                }
                {
                    let mut pending = strong.lock();
                    for ((user, id, update), waiter) in updates.into_iter().zip(waiters) {
                        match waiter {
                            // A final state's caller decides whether to try again.
                            Some(w) => {
                                let _ = w.send(Err(e.clone()));
                            }
                            // Progress goes back unless a newer state replaced it.
                            None => {
                                pending.entry(id).or_insert(Queued {
                                    user,
                                    update,
                                    waiter: None,
                                });
                            }
                        }
                    }
                }
                drop(strong);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use orchard_core::message::{Block, BlockKind, MessageStatus, Role, Timings, Usage};
    use orchard_store::NewMessage;
    use orchard_store::sqlite::{SqliteStore, StoreOptions};

    use super::*;

    fn state(status: MessageStatus, text: &str) -> MessageUpdate {
        MessageUpdate {
            status,
            blocks: vec![Block::new(BlockKind::Text, text)],
            usage: Usage::default(),
            timings: Timings::default(),
            finish_reason: None,
        }
    }

    #[tokio::test]
    async fn the_last_state_wins_a_final_one_is_on_disk_when_finish_returns_and_nothing_replaces_it()
     {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = SqliteStore::open(dir.path().join("o.db"), &StoreOptions::default())
            .await
            .unwrap();
        let store: Arc<dyn Store> = Arc::new(sqlite);
        let me = store.ensure_local_user().await.unwrap().id;
        let topic = store.create_topic(me, "t").await.unwrap().id;
        let open = NewMessage {
            topic_id: topic,
            parent_id: None,
            role: Role::Assistant,
            status: MessageStatus::Streaming,
            model: None,
            blocks: vec![],
            writer: Some("test".into()),
        };
        let mut ids = Vec::new();
        for _ in 0..50 {
            ids.push(store.append_message(me, &open).await.unwrap().id);
        }
        let writer = ProgressWriter::new(store.clone());
        for round in 0..20 {
            for id in &ids {
                writer.put(
                    me,
                    *id,
                    state(MessageStatus::Streaming, &format!("round {round}")),
                );
            }
        }
        // Finishing one commits it together with everything queued before it.
        assert!(
            writer
                .finish(me, ids[0], state(MessageStatus::Done, "the end"))
                .await
                .unwrap()
        );
        let first = store.message(me, ids[0]).await.unwrap();
        assert_eq!(
            (first.status, first.text().as_str()),
            (MessageStatus::Done, "the end")
        );
        for id in &ids[1..] {
            let m = store.message(me, *id).await.unwrap();
            assert_eq!(m.status, MessageStatus::Streaming);
            assert_eq!(m.text(), "round 19");
        }
        // A late progress save of a closed answer changes nothing, and finishing it again
        // says it was already closed.
        writer.put(me, ids[0], state(MessageStatus::Streaming, "too late"));
        assert!(
            !writer
                .finish(me, ids[0], state(MessageStatus::Cancelled, "again"))
                .await
                .unwrap()
        );
        assert_eq!(store.message(me, ids[0]).await.unwrap().text(), "the end");
    }
}
