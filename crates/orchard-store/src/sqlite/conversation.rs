//! Topics and their message trees.
//!
//! Parents are always stored before their children (appends need an existing parent,
//! imports insert in archive order), so within a topic a child's id is greater than
//! its parent's and ordering by id puts parents first.

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use orchard_core::message::{
    Block, BlockKind, BranchEntry, BranchPage, Message, MessageStatus, ModelSnapshot, Role,
    SearchHit, Timings, Topic, TopicArchive, TopicSummary, Usage,
};
use orchard_core::{AssistantId, FolderId, MessageId, ProviderId, Timestamp, TopicId, UserId};
use sqlx::sqlite::{SqliteConnection, SqliteRow};
use sqlx::{Row, Sqlite, SqliteExecutor, Transaction};

use super::{Owned, SqliteStore, corrupt, json_list, one_row};
use crate::{ConversationStore, MessageUpdate, NewMessage, Result, StoreError, TopicPatch};

/// Turns rows of messages joined with their blocks (ordered by message, then block
/// position) into messages.
fn group_messages(rows: &[SqliteRow]) -> Result<Vec<Message>> {
    let mut out: Vec<Message> = Vec::new();
    for row in rows {
        let id = MessageId::new(row.get("id"));
        if out.last().is_none_or(|m| m.id != id) {
            out.push(message_from_row(row)?);
        }
        let kind: Option<String> = row.get("b_kind");
        if let Some(kind) = kind {
            let kind = BlockKind::parse(&kind).ok_or_else(|| corrupt("block kind", &kind))?;
            if let Some(last) = out.last_mut() {
                last.blocks.push(Block {
                    kind,
                    content: row.get("b_content"),
                    data: row.get("b_data"),
                });
            }
        }
    }
    Ok(out)
}

fn opt_u64(row: &SqliteRow, col: &str) -> Option<u64> {
    row.get::<Option<i64>, _>(col)
        .and_then(|v| u64::try_from(v).ok())
}

fn opt_i64(v: Option<u64>) -> Option<i64> {
    v.and_then(|v| i64::try_from(v).ok())
}

fn message_from_row(row: &SqliteRow) -> Result<Message> {
    let role: String = row.get("role");
    let status: String = row.get("status");
    let model_id: Option<String> = row.get("model_id");
    Ok(Message {
        id: MessageId::new(row.get("id")),
        user_id: UserId::new(row.get("user_id")),
        topic_id: TopicId::new(row.get("topic_id")),
        parent_id: row.get::<Option<i64>, _>("parent_id").map(MessageId::new),
        role: Role::parse(&role).ok_or_else(|| corrupt("role", &role))?,
        status: MessageStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        model: model_id.map(|model_id| ModelSnapshot {
            provider_id: row
                .get::<Option<i64>, _>("provider_id")
                .map(ProviderId::new),
            provider_name: row
                .get::<Option<String>, _>("provider_name")
                .unwrap_or_default(),
            model_id,
        }),
        blocks: Vec::new(),
        usage: Usage {
            input_tokens: opt_u64(row, "input_tokens"),
            output_tokens: opt_u64(row, "output_tokens"),
            reasoning_tokens: opt_u64(row, "reasoning_tokens"),
        },
        timings: Timings {
            first_token_ms: opt_u64(row, "first_token_ms"),
            total_ms: opt_u64(row, "total_ms"),
        },
        finish_reason: row.get("finish_reason"),
        created_at: Timestamp::from_millis(row.get("created_at")),
        updated_at: Timestamp::from_millis(row.get("updated_at")),
    })
}

fn topic_from_row(row: &SqliteRow) -> Topic {
    Topic {
        id: TopicId::new(row.get("id")),
        user_id: UserId::new(row.get("user_id")),
        title: row.get("title"),
        assistant_id: row
            .get::<Option<i64>, _>("assistant_id")
            .map(AssistantId::new),
        folder_id: row.get::<Option<i64>, _>("folder_id").map(FolderId::new),
        pinned: row.get::<i64, _>("pinned") != 0,
        current_message_id: row
            .get::<Option<i64>, _>("current_message_id")
            .map(MessageId::new),
        created_at: Timestamp::from_millis(row.get("created_at")),
        updated_at: Timestamp::from_millis(row.get("updated_at")),
    }
}

const MESSAGE_COLUMNS: &str = "m.id, m.user_id, m.topic_id, m.parent_id, m.role, m.status, m.provider_id, \
     m.provider_name, m.model_id, m.input_tokens, m.output_tokens, m.reasoning_tokens, m.first_token_ms, \
     m.total_ms, m.finish_reason, m.created_at, m.updated_at, \
     b.kind AS b_kind, b.content AS b_content, b.data AS b_data";

/// Up to `?3` messages (with their blocks) walking from message `?1` of user `?2`
/// towards the root, oldest first. The recursion stops after `?3` steps, so the cost
/// is that of the page, not of the whole branch.
fn chain_sql() -> String {
    format!(
        "WITH RECURSIVE chain(id, depth) AS ( \
             SELECT id, 0 FROM messages WHERE id = ?1 AND user_id = ?2 \
             UNION ALL \
             SELECT m.parent_id, c.depth + 1 FROM chain c JOIN messages m ON m.id = c.id \
              WHERE m.parent_id IS NOT NULL AND m.user_id = ?2 AND c.depth + 1 < ?3) \
         SELECT {MESSAGE_COLUMNS} FROM chain c JOIN messages m ON m.id = c.id AND m.user_id = ?2 \
           LEFT JOIN message_blocks b ON b.message_id = m.id AND b.user_id = m.user_id \
         ORDER BY c.depth DESC, b.position"
    )
}

/// The latest leaf at or below message `?1` of user `?2`: the child with the greatest
/// id, repeatedly. Costs one index probe per level.
const LATEST_LEAF: &str = "WITH RECURSIVE down(id, depth) AS ( \
         SELECT ?1, 0 \
         UNION ALL \
         SELECT (SELECT c.id FROM messages c WHERE c.parent_id = down.id AND c.user_id = ?2 \
                  ORDER BY c.id DESC LIMIT 1), depth + 1 \
           FROM down WHERE down.id IS NOT NULL) \
     SELECT id FROM down WHERE id IS NOT NULL ORDER BY depth DESC LIMIT 1";

/// Writes a message's blocks. Those of an open message are kept out of the search
/// index (`searchable = 0`): it is written again within the second, and indexed once,
/// when it closes. Closed blocks take the column's default, so the statement also runs
/// on a schema from before the column (tests build such databases with this code).
async fn insert_blocks(
    tx: &mut Transaction<'static, Sqlite>,
    user: UserId,
    message: i64,
    blocks: &[Block],
    open: bool,
) -> sqlx::Result<()> {
    let sql = if open {
        "INSERT INTO message_blocks (message_id, user_id, position, kind, content, data, searchable) VALUES (?, ?, ?, ?, ?, ?, 0)"
    } else {
        "INSERT INTO message_blocks (message_id, user_id, position, kind, content, data) VALUES (?, ?, ?, ?, ?, ?)"
    };
    for (position, block) in blocks.iter().enumerate() {
        sqlx::query(sql)
            .bind(message)
            .bind(user.get())
            .bind(position as i64)
            .bind(block.kind.as_str())
            .bind(&block.content)
            .bind(&block.data)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Applies `update` to one of `user`'s messages if it is still open; false (and nothing
/// written) when it is closed, missing or someone else's.
async fn write_open_update(
    tx: &mut Transaction<'static, Sqlite>,
    user: UserId,
    id: MessageId,
    update: &MessageUpdate,
    at: Timestamp,
) -> sqlx::Result<bool> {
    let now = at.as_millis();
    let res = sqlx::query(
        "UPDATE messages SET status = ?1, input_tokens = ?2, output_tokens = ?3, reasoning_tokens = ?4, \
           first_token_ms = ?5, total_ms = ?6, finish_reason = ?7, updated_at = ?8, \
           writer = CASE WHEN ?1 IN ('pending', 'streaming') THEN writer ELSE NULL END \
         WHERE id = ?9 AND user_id = ?10 AND status IN ('pending', 'streaming')",
    )
    .bind(update.status.as_str())
    .bind(opt_i64(update.usage.input_tokens))
    .bind(opt_i64(update.usage.output_tokens))
    .bind(opt_i64(update.usage.reasoning_tokens))
    .bind(opt_i64(update.timings.first_token_ms))
    .bind(opt_i64(update.timings.total_ms))
    .bind(&update.finish_reason)
    .bind(now)
    .bind(id.get())
    .bind(user.get())
    .execute(&mut **tx)
    .await?;
    if res.rows_affected() == 0 {
        return Ok(false);
    }
    // The search index follows through the triggers on message_blocks.
    sqlx::query("DELETE FROM message_blocks WHERE message_id = ? AND user_id = ?")
        .bind(id.get())
        .bind(user.get())
        .execute(&mut **tx)
        .await?;
    insert_blocks(tx, user, id.get(), &update.blocks, update.status.is_open()).await?;
    sqlx::query(
        "UPDATE topics SET updated_at = ?1 WHERE user_id = ?2 AND id = (SELECT topic_id FROM messages WHERE id = ?3 AND user_id = ?2)",
    )
    .bind(now)
    .bind(user.get())
    .bind(id.get())
    .execute(&mut **tx)
    .await?;
    Ok(true)
}

/// Trimmed, non-empty, distinct tag names.
fn tag_names(tags: &[String]) -> BTreeSet<&str> {
    tags.iter()
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
        .collect()
}

impl SqliteStore {
    async fn load_topic(
        &self,
        ex: impl SqliteExecutor<'_>,
        user: UserId,
        id: TopicId,
    ) -> Result<Topic> {
        let row = sqlx::query("SELECT * FROM topics WHERE id = ? AND user_id = ?")
            .bind(id.get())
            .bind(user.get())
            .fetch_optional(ex)
            .await
            .map_err(|e| self.err(e))?;
        row.as_ref()
            .map(topic_from_row)
            .ok_or_else(|| StoreError::NotFound {
                what: "topic",
                id: id.to_string(),
            })
    }

    async fn insert_topic(
        &self,
        ex: impl SqliteExecutor<'_>,
        user: UserId,
        title: &str,
        created_at: Timestamp,
        updated_at: Timestamp,
    ) -> Result<i64> {
        sqlx::query_scalar(
            "INSERT INTO topics (user_id, title, created_at, updated_at) VALUES (?, ?, ?, ?) RETURNING id",
        )
        .bind(user.get())
        .bind(title)
        .bind(created_at.as_millis())
        .bind(updated_at.as_millis())
        .fetch_one(ex)
        .await
        .map_err(|e| self.err(e))
    }

    /// Inserts a message and its blocks, written at `at`; the caller has checked the
    /// topic and parent.
    async fn insert_message(
        &self,
        tx: &mut Transaction<'static, Sqlite>,
        user: UserId,
        new: &NewMessage,
        at: Timestamp,
    ) -> Result<i64> {
        let model = new.model.as_ref();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO messages (user_id, topic_id, parent_id, role, status, provider_id, provider_name, model_id, \
               writer, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(user.get())
        .bind(new.topic_id.get())
        .bind(new.parent_id.map(MessageId::get))
        .bind(new.role.as_str())
        .bind(new.status.as_str())
        .bind(model.and_then(|m| m.provider_id).map(ProviderId::get))
        .bind(model.map(|m| m.provider_name.as_str()))
        .bind(model.map(|m| m.model_id.as_str()))
        .bind(new.writer.as_deref().filter(|_| new.status.is_open()))
        .bind(at.as_millis())
        .bind(at.as_millis())
        .fetch_one(&mut **tx)
        .await
        .map_err(|e| self.err(e))?;
        insert_blocks(tx, user, id, &new.blocks, new.status.is_open())
            .await
            .map_err(|e| self.err(e))?;
        Ok(id)
    }

    /// The topic and parent of one of `user`'s messages.
    async fn locate(
        &self,
        conn: &mut SqliteConnection,
        user: UserId,
        id: MessageId,
    ) -> Result<(TopicId, Option<MessageId>)> {
        let row: Option<(i64, Option<i64>)> =
            sqlx::query_as("SELECT topic_id, parent_id FROM messages WHERE id = ? AND user_id = ?")
                .bind(id.get())
                .bind(user.get())
                .fetch_optional(&mut *conn)
                .await
                .map_err(|e| self.err(e))?;
        row.map(|(t, p)| (TopicId::new(t), p.map(MessageId::new)))
            .ok_or_else(|| StoreError::NotFound {
                what: "message",
                id: id.to_string(),
            })
    }

    async fn latest_leaf(
        &self,
        conn: &mut SqliteConnection,
        user: UserId,
        from: MessageId,
    ) -> Result<MessageId> {
        let leaf: Option<i64> = sqlx::query_scalar(LATEST_LEAF)
            .bind(from.get())
            .bind(user.get())
            .fetch_optional(&mut *conn)
            .await
            .map_err(|e| self.err(e))?;
        Ok(leaf.map_or(from, MessageId::new))
    }

    /// Deletes messages (with their blocks) by id.
    async fn delete_messages(
        &self,
        conn: &mut SqliteConnection,
        user: UserId,
        ids: &[i64],
    ) -> Result<()> {
        let ids = json_list(ids.iter().copied());
        // Unlink first: a parent's ON DELETE CASCADE would otherwise delete a chain one
        // nested trigger level per message, and SQLite gives up after 1,000 levels ("too
        // many levels of trigger recursion") — a long conversation is deeper than that.
        for sql in [
            "UPDATE messages SET parent_id = NULL WHERE user_id = ?1 AND id IN (SELECT value FROM json_each(?2))",
            "DELETE FROM messages WHERE user_id = ?1 AND id IN (SELECT value FROM json_each(?2))",
        ] {
            sqlx::query(sql)
                .bind(user.get())
                .bind(&ids)
                .execute(&mut *conn)
                .await
                .map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    /// The ids of a message and everything below it.
    async fn subtree(
        &self,
        conn: &mut SqliteConnection,
        user: UserId,
        root: MessageId,
    ) -> Result<Vec<i64>> {
        sqlx::query_scalar(
            "WITH RECURSIVE sub(id) AS ( \
                 SELECT ?1 \
                 UNION ALL \
                 SELECT m.id FROM messages m JOIN sub ON m.parent_id = sub.id WHERE m.user_id = ?2) \
             SELECT id FROM sub",
        )
        .bind(root.get())
        .bind(user.get())
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| self.err(e))
    }

    /// The siblings of each message of a branch page, keyed by parent (`None`: the
    /// topic's roots), oldest first.
    async fn siblings(
        &self,
        conn: &mut SqliteConnection,
        user: UserId,
        page: &[Message],
    ) -> Result<HashMap<Option<MessageId>, Vec<MessageId>>> {
        let Some(topic) = page.first().map(|m| m.topic_id) else {
            return Ok(HashMap::new());
        };
        let has_root = page.iter().any(|m| m.parent_id.is_none());
        // `+topic_id`: look children up by parent; the topic index would read the
        // whole topic.
        let rows: Vec<(Option<i64>, i64)> = sqlx::query_as(
            "SELECT parent_id, id FROM messages \
              WHERE user_id = ?1 AND +topic_id = ?2 AND parent_id IN (SELECT value FROM json_each(?3)) \
             UNION ALL \
             SELECT NULL, id FROM messages WHERE user_id = ?1 AND topic_id = ?2 AND parent_id IS NULL AND ?4 \
             ORDER BY 2",
        )
        .bind(user.get())
        .bind(topic.get())
        .bind(json_list(
            page.iter().filter_map(|m| m.parent_id.map(MessageId::get)),
        ))
        .bind(has_root)
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| self.err(e))?;
        let mut out: HashMap<Option<MessageId>, Vec<MessageId>> = HashMap::new();
        for (parent, id) in rows {
            out.entry(parent.map(MessageId::new))
                .or_default()
                .push(MessageId::new(id));
        }
        Ok(out)
    }
}

#[async_trait]
impl ConversationStore for SqliteStore {
    async fn create_topic(&self, user: UserId, title: &str) -> Result<Topic> {
        let now = Timestamp::now();
        let id = self.insert_topic(&self.pool, user, title, now, now).await?;
        self.topic(user, TopicId::new(id)).await
    }

    async fn topic(&self, user: UserId, id: TopicId) -> Result<Topic> {
        self.load_topic(&self.pool, user, id).await
    }

    async fn latest_topic(&self, user: UserId) -> Result<Option<Topic>> {
        let row = sqlx::query(
            "SELECT * FROM topics WHERE user_id = ? ORDER BY updated_at DESC, id DESC LIMIT 1",
        )
        .bind(user.get())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(row.as_ref().map(topic_from_row))
    }

    async fn topics(&self, user: UserId) -> Result<Vec<TopicSummary>> {
        let rows = sqlx::query(
            "SELECT t.*, \
               (SELECT COUNT(*) FROM messages m WHERE m.topic_id = t.id AND m.user_id = t.user_id) AS message_count, \
               (SELECT json_group_array(g.name ORDER BY g.name) FROM topic_tags tt \
                  JOIN tags g ON g.id = tt.tag_id AND g.user_id = tt.user_id \
                 WHERE tt.topic_id = t.id AND tt.user_id = t.user_id) AS tags \
             FROM topics t WHERE t.user_id = ? ORDER BY t.pinned DESC, t.updated_at DESC, t.id DESC",
        )
        .bind(user.get())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|row| {
                let tags: String = row.get("tags");
                Ok(TopicSummary {
                    topic: topic_from_row(row),
                    message_count: u64::try_from(row.get::<i64, _>("message_count")).unwrap_or(0),
                    tags: serde_json::from_str(&tags).map_err(|_| corrupt("tag list", &tags))?,
                })
            })
            .collect()
    }

    async fn append_message(&self, user: UserId, new: &NewMessage) -> Result<Message> {
        let now = Timestamp::now();
        let mut tx = self.write_tx().await?;
        self.ensure_owned(&mut *tx, Owned::Topic, user, new.topic_id.get())
            .await?;
        if let Some(parent) = new.parent_id {
            let ok: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM messages WHERE id = ? AND topic_id = ? AND user_id = ?",
            )
            .bind(parent.get())
            .bind(new.topic_id.get())
            .bind(user.get())
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
            if ok.is_none() {
                return Err(StoreError::NotFound {
                    what: "message",
                    id: parent.to_string(),
                });
            }
        }
        let id = self.insert_message(&mut tx, user, new, now).await?;
        sqlx::query(
            "UPDATE topics SET current_message_id = ?, updated_at = ? WHERE id = ? AND user_id = ?",
        )
        .bind(id)
        .bind(now.as_millis())
        .bind(new.topic_id.get())
        .bind(user.get())
        .execute(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        tx.commit().await.map_err(|e| self.err(e))?;
        self.message(user, MessageId::new(id)).await
    }

    async fn update_open_message(
        &self,
        user: UserId,
        id: MessageId,
        update: &MessageUpdate,
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        if write_open_update(&mut tx, user, id, update, Timestamp::now())
            .await
            .map_err(|e| self.err(e))?
        {
            return tx.commit().await.map_err(|e| self.err(e));
        }
        let status: Option<String> =
            sqlx::query_scalar("SELECT status FROM messages WHERE id = ? AND user_id = ?")
                .bind(id.get())
                .bind(user.get())
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
        Err(match status {
            None => StoreError::NotFound {
                what: "message",
                id: id.to_string(),
            },
            Some(s) => StoreError::Conflict(format!("message {id} is already closed ({s})")),
        })
    }

    async fn update_open_messages(
        &self,
        updates: &[(UserId, MessageId, MessageUpdate)],
    ) -> Result<Vec<bool>> {
        let now = Timestamp::now();
        let mut tx = self.write_tx().await?;
        let mut written = Vec::with_capacity(updates.len());
        for (user, id, update) in updates {
            written.push(
                write_open_update(&mut tx, *user, *id, update, now)
                    .await
                    .map_err(|e| self.err(e))?,
            );
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(written)
    }

    async fn message(&self, user: UserId, id: MessageId) -> Result<Message> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m LEFT JOIN message_blocks b ON b.message_id = m.id AND b.user_id = m.user_id \
             WHERE m.id = ? AND m.user_id = ? ORDER BY b.position"
        )))
        .bind(id.get())
        .bind(user.get())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        group_messages(&rows)?
            .pop()
            .ok_or_else(|| StoreError::NotFound {
                what: "message",
                id: id.to_string(),
            })
    }

    async fn branch(&self, user: UserId, topic: TopicId) -> Result<Vec<Message>> {
        // Ownership first, so a foreign topic is "not found" rather than "empty".
        match self.topic(user, topic).await?.current_message_id {
            Some(leaf) => self.branch_to(user, leaf).await,
            None => Ok(Vec::new()),
        }
    }

    async fn branch_to(&self, user: UserId, leaf: MessageId) -> Result<Vec<Message>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(chain_sql()))
            .bind(leaf.get())
            .bind(user.get())
            .bind(i64::MAX)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        let branch = group_messages(&rows)?;
        if branch.is_empty() {
            return Err(StoreError::NotFound {
                what: "message",
                id: leaf.to_string(),
            });
        }
        Ok(branch)
    }

    async fn branch_page(
        &self,
        user: UserId,
        leaf: MessageId,
        before: Option<MessageId>,
        limit: usize,
    ) -> Result<BranchPage> {
        // A page of nothing would tell the caller nothing; ask for at least one.
        let limit = i64::try_from(limit.max(1)).unwrap_or(i64::MAX);
        // One read transaction: the page and its siblings come from the same snapshot.
        let mut tx = self.pool.begin().await.map_err(|e| self.err(e))?;
        let start = match before {
            None => Some(leaf),
            // `before` must be the person's and in `leaf`'s topic. That it lies on
            // `leaf`'s branch is not checked: proving it means walking from `leaf`,
            // which costs the branch's length; the page above `before` is the same
            // either way.
            Some(before) => {
                let parent: Option<Option<i64>> = sqlx::query_scalar(
                    "SELECT b.parent_id FROM messages b \
                       JOIN messages l ON l.id = ?2 AND l.user_id = b.user_id AND l.topic_id = b.topic_id \
                      WHERE b.id = ?1 AND b.user_id = ?3",
                )
                .bind(before.get())
                .bind(leaf.get())
                .bind(user.get())
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
                parent
                    .ok_or_else(|| StoreError::NotFound {
                        what: "message",
                        id: before.to_string(),
                    })?
                    .map(MessageId::new)
            }
        };
        let Some(start) = start else {
            // `before` is a root: nothing above it.
            return Ok(BranchPage {
                entries: Vec::new(),
                has_more: false,
            });
        };
        let rows = sqlx::query(sqlx::AssertSqlSafe(chain_sql()))
            .bind(start.get())
            .bind(user.get())
            .bind(limit)
            .fetch_all(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        let messages = group_messages(&rows)?;
        let Some(oldest) = messages.first() else {
            return Err(StoreError::NotFound {
                what: "message",
                id: leaf.to_string(),
            });
        };
        let has_more = oldest.parent_id.is_some();
        let mut siblings = self.siblings(&mut tx, user, &messages).await?;
        let entries = messages
            .into_iter()
            .map(|message| {
                // Each message of a branch has its own parent.
                let mut ids = siblings.remove(&message.parent_id).unwrap_or_default();
                // Always present; only a write between the two reads could drop it.
                if !ids.contains(&message.id) {
                    ids.push(message.id);
                    ids.sort();
                }
                BranchEntry {
                    message,
                    siblings: ids,
                }
            })
            .collect();
        Ok(BranchPage { entries, has_more })
    }

    async fn topic_messages(&self, user: UserId, topic: TopicId) -> Result<Vec<Message>> {
        let mut tx = self.pool.begin().await.map_err(|e| self.err(e))?;
        // Ownership first, so a foreign topic is "not found" rather than "empty".
        self.ensure_owned(&mut *tx, Owned::Topic, user, topic.get())
            .await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m \
               LEFT JOIN message_blocks b ON b.message_id = m.id AND b.user_id = m.user_id \
             WHERE m.topic_id = ? AND m.user_id = ? ORDER BY m.id, b.position"
        )))
        .bind(topic.get())
        .bind(user.get())
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        group_messages(&rows)
    }

    async fn switch_branch(&self, user: UserId, message: MessageId) -> Result<MessageId> {
        let mut tx = self.write_tx().await?;
        let (topic, _) = self.locate(&mut tx, user, message).await?;
        let leaf = self.latest_leaf(&mut tx, user, message).await?;
        // Not `updated_at`: looking at another branch changes nothing in the topic.
        sqlx::query("UPDATE topics SET current_message_id = ? WHERE id = ? AND user_id = ?")
            .bind(leaf.get())
            .bind(topic.get())
            .bind(user.get())
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(leaf)
    }

    async fn delete_message(&self, user: UserId, id: MessageId) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let (topic, parent) = self.locate(&mut tx, user, id).await?;
        let doomed = self.subtree(&mut tx, user, id).await?;
        self.delete_messages(&mut tx, user, &doomed).await?;
        // The foreign key has cleared the current leaf if it was deleted.
        let current: Option<i64> = sqlx::query_scalar(
            "SELECT current_message_id FROM topics WHERE id = ? AND user_id = ?",
        )
        .bind(topic.get())
        .bind(user.get())
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        let current = match (current, parent) {
            (Some(current), _) => Some(MessageId::new(current)),
            (None, Some(parent)) => Some(self.latest_leaf(&mut tx, user, parent).await?),
            (None, None) => {
                let root: Option<i64> = sqlx::query_scalar(
                    "SELECT id FROM messages WHERE topic_id = ? AND user_id = ? AND parent_id IS NULL \
                     ORDER BY id DESC LIMIT 1",
                )
                .bind(topic.get())
                .bind(user.get())
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
                match root {
                    Some(root) => Some(
                        self.latest_leaf(&mut tx, user, MessageId::new(root))
                            .await?,
                    ),
                    None => None,
                }
            }
        };
        sqlx::query(
            "UPDATE topics SET current_message_id = ?, updated_at = ? WHERE id = ? AND user_id = ?",
        )
        .bind(current.map(MessageId::get))
        .bind(Timestamp::now().as_millis())
        .bind(topic.get())
        .bind(user.get())
        .execute(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        tx.commit().await.map_err(|e| self.err(e))
    }

    async fn update_topic(&self, user: UserId, id: TopicId, patch: &TopicPatch) -> Result<Topic> {
        let title = match &patch.title {
            Some(title) if title.trim().is_empty() => {
                return Err(StoreError::Conflict("a topic needs a title".into()));
            }
            Some(title) => Some(title.trim()),
            None => None,
        };
        let mut tx = self.write_tx().await?;
        self.ensure_owned(&mut *tx, Owned::Topic, user, id.get())
            .await?;
        // topics.folder_id and assistant_id reference rows by id alone, so the
        // database would accept someone else's: check the owner here.
        if let Some(Some(folder)) = patch.folder {
            self.ensure_owned(&mut *tx, Owned::Folder, user, folder.get())
                .await?;
        }
        if let Some(Some(assistant)) = patch.assistant {
            self.ensure_owned(&mut *tx, Owned::Assistant, user, assistant.get())
                .await?;
        }
        // Metadata only: `updated_at` tracks the conversation, so renaming or filing a
        // topic does not move it up the list.
        sqlx::query(
            "UPDATE topics SET title = COALESCE(?1, title), pinned = COALESCE(?2, pinned), \
               folder_id = CASE WHEN ?3 THEN ?4 ELSE folder_id END, \
               assistant_id = CASE WHEN ?5 THEN ?6 ELSE assistant_id END \
             WHERE id = ?7 AND user_id = ?8",
        )
        .bind(title)
        .bind(patch.pinned)
        .bind(patch.folder.is_some())
        .bind(patch.folder.flatten().map(FolderId::get))
        .bind(patch.assistant.is_some())
        .bind(patch.assistant.flatten().map(AssistantId::get))
        .bind(id.get())
        .bind(user.get())
        .execute(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        if let Some(tags) = &patch.tags {
            let names = json_list(tag_names(tags));
            for sql in [
                // `WHERE true` tells the parser that ON CONFLICT is the upsert clause.
                "INSERT INTO tags (user_id, name) SELECT ?1, value FROM json_each(?3) WHERE true \
                 ON CONFLICT (user_id, name) DO NOTHING",
                "DELETE FROM topic_tags WHERE topic_id = ?2 AND user_id = ?1",
                "INSERT INTO topic_tags (topic_id, tag_id, user_id) \
                 SELECT ?2, id, ?1 FROM tags WHERE user_id = ?1 AND name IN (SELECT value FROM json_each(?3))",
            ] {
                sqlx::query(sql)
                    .bind(user.get())
                    .bind(id.get())
                    .bind(&names)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.err(e))?;
            }
        }
        let topic = self.load_topic(&mut *tx, user, id).await?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(topic)
    }

    async fn delete_topic(&self, user: UserId, id: TopicId) -> Result<()> {
        let mut tx = self.write_tx().await?;
        self.ensure_owned(&mut *tx, Owned::Topic, user, id.get())
            .await?;
        let messages: Vec<i64> =
            sqlx::query_scalar("SELECT id FROM messages WHERE topic_id = ? AND user_id = ?")
                .bind(id.get())
                .bind(user.get())
                .fetch_all(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
        self.delete_messages(&mut tx, user, &messages).await?;
        // Its tag links go with it (ON DELETE CASCADE); the tags stay for reuse.
        let res = sqlx::query("DELETE FROM topics WHERE id = ? AND user_id = ?")
            .bind(id.get())
            .bind(user.get())
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        one_row(&res, "topic", id)?;
        tx.commit().await.map_err(|e| self.err(e))
    }

    async fn search_messages(
        &self,
        user: UserId,
        query: &str,
        limit: usize,
    ) -> Result<Vec<SearchHit>> {
        self.search(user, query, limit).await
    }

    async fn import_topics(&self, user: UserId, topics: &[TopicArchive]) -> Result<Vec<TopicId>> {
        let mut tx = self.write_tx().await?;
        let mut out = Vec::with_capacity(topics.len());
        for (n, archive) in topics.iter().enumerate() {
            let invalid = |detail: String| {
                StoreError::Conflict(format!(
                    "cannot import topic {} ('{}'): {detail}; nothing was imported",
                    n + 1,
                    archive.title
                ))
            };
            let topic = TopicId::new(
                self.insert_topic(
                    &mut *tx,
                    user,
                    &archive.title,
                    archive.created_at,
                    archive.updated_at,
                )
                .await?,
            );
            // Index in the archive → new id; only earlier messages are in it yet.
            let mut ids: Vec<MessageId> = Vec::with_capacity(archive.messages.len());
            for (i, m) in archive.messages.iter().enumerate() {
                let parent = m
                    .parent
                    .map(|p| {
                        ids.get(p).copied().ok_or_else(|| {
                            invalid(format!(
                                "message {i} names message {p} as its parent, which does not come before it"
                            ))
                        })
                    })
                    .transpose()?;
                let new = NewMessage {
                    topic_id: topic,
                    parent_id: parent,
                    role: m.role,
                    // Nothing is writing an imported message any more.
                    status: if m.status.is_open() {
                        MessageStatus::Interrupted
                    } else {
                        m.status
                    },
                    model: m.model.as_ref().map(|model| ModelSnapshot {
                        provider_id: None,
                        provider_name: model.provider.clone(),
                        model_id: model.model.clone(),
                    }),
                    blocks: m
                        .blocks
                        .iter()
                        .map(|b| Block {
                            kind: b.kind,
                            content: b.content.clone(),
                            data: b.data.clone(),
                        })
                        .collect(),
                    writer: None,
                };
                ids.push(MessageId::new(
                    self.insert_message(&mut tx, user, &new, m.created_at)
                        .await?,
                ));
            }
            let current =
                match archive.current {
                    Some(c) => Some(ids.get(c).copied().ok_or_else(|| {
                        invalid(format!("its current message {c} does not exist"))
                    })?),
                    None => ids.last().copied(),
                };
            sqlx::query("UPDATE topics SET current_message_id = ? WHERE id = ? AND user_id = ?")
                .bind(current.map(MessageId::get))
                .bind(topic.get())
                .bind(user.get())
                .execute(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
            out.push(topic);
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(out)
    }
}
