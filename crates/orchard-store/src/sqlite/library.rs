//! Assistants and folders: what a person files and reuses across topics.

use async_trait::async_trait;
use orchard_core::assistant::{Assistant, AssistantFields, AssistantModel};
use orchard_core::message::Folder;
use orchard_core::{AssistantId, FolderId, ProviderId, Timestamp, UserId};
use sqlx::error::ErrorKind;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, Sqlite, SqliteExecutor, Transaction};

use super::{Owned, SqliteStore, corrupt, one_row};
use crate::{AssistantStore, FolderStore, Result, StoreError};

const ASSISTANT_COLUMNS: &str = "id, user_id, name, emoji, system_prompt, provider_id, model_id, \
     temperature, top_p, max_tokens, context_count, created_at, updated_at";

fn opt_u32(row: &SqliteRow, col: &str) -> Result<Option<u32>> {
    row.get::<Option<i64>, _>(col)
        .map(|v| u32::try_from(v).map_err(|_| corrupt(col, &v.to_string())))
        .transpose()
}

fn assistant_from_row(row: &SqliteRow) -> Result<Assistant> {
    let provider: Option<i64> = row.get("provider_id");
    let model_id: Option<String> = row.get("model_id");
    Ok(Assistant {
        id: AssistantId::new(row.get("id")),
        user_id: UserId::new(row.get("user_id")),
        fields: AssistantFields {
            name: row.get("name"),
            emoji: row.get("emoji"),
            system_prompt: row.get("system_prompt"),
            // A deleted provider clears provider_id: the model is then unknown.
            model: provider.zip(model_id).map(|(p, model_id)| AssistantModel {
                provider_id: ProviderId::new(p),
                model_id,
            }),
            temperature: row.get("temperature"),
            top_p: row.get("top_p"),
            max_tokens: opt_u32(row, "max_tokens")?,
            context_count: opt_u32(row, "context_count")?,
        },
        created_at: Timestamp::from_millis(row.get("created_at")),
        updated_at: Timestamp::from_millis(row.get("updated_at")),
    })
}

/// A folder name as stored: trimmed, and not empty.
fn folder_name(name: &str) -> Result<&str> {
    match name.trim() {
        "" => Err(StoreError::Conflict("a folder needs a name".into())),
        name => Ok(name),
    }
}

impl SqliteStore {
    async fn load_assistant(
        &self,
        ex: impl SqliteExecutor<'_>,
        user: UserId,
        id: AssistantId,
    ) -> Result<Assistant> {
        let select =
            format!("SELECT {ASSISTANT_COLUMNS} FROM assistants WHERE id = ? AND user_id = ?");
        self.load_owned(ex, select, "assistant", user, id.get(), assistant_from_row)
            .await
    }

    /// Runs an INSERT or UPDATE of an assistant whose parameters `?1`–`?11` are the
    /// fields, the time and the owner (`?12`: the id, for an update) and which returns
    /// the row id; `None` when no row was updated.
    async fn save_assistant(
        &self,
        tx: &mut Transaction<'static, Sqlite>,
        sql: &'static str,
        user: UserId,
        id: Option<AssistantId>,
        fields: &AssistantFields,
    ) -> Result<Option<AssistantId>> {
        fields.validate().map_err(StoreError::Conflict)?;
        // assistants.provider_id references a provider by id alone, so the database
        // would accept someone else's: check the owner here.
        if let Some(model) = &fields.model {
            self.ensure_owned(&mut **tx, Owned::Provider, user, model.provider_id.get())
                .await?;
        }
        let mut q = sqlx::query_scalar(sql)
            .bind(fields.name.trim())
            .bind(&fields.emoji)
            .bind(&fields.system_prompt)
            .bind(fields.model.as_ref().map(|m| m.provider_id.get()))
            .bind(fields.model.as_ref().map(|m| m.model_id.as_str()))
            .bind(fields.temperature)
            .bind(fields.top_p)
            .bind(fields.max_tokens.map(i64::from))
            .bind(fields.context_count.map(i64::from))
            .bind(Timestamp::now().as_millis())
            .bind(user.get());
        if let Some(id) = id {
            q = q.bind(id.get());
        }
        let saved: Option<i64> = q.fetch_optional(&mut **tx).await.map_err(|e| self.err(e))?;
        Ok(saved.map(AssistantId::new))
    }

    /// Folder errors in words: the only unique constraint is the name.
    fn folder_err(&self, e: sqlx::Error, name: &str) -> StoreError {
        match e {
            sqlx::Error::Database(db) if db.kind() == ErrorKind::UniqueViolation => {
                StoreError::Conflict(format!("a folder named '{name}' already exists"))
            }
            e => self.err(e),
        }
    }
}

#[async_trait]
impl AssistantStore for SqliteStore {
    async fn create_assistant(&self, user: UserId, fields: &AssistantFields) -> Result<Assistant> {
        let mut tx = self.write_tx().await?;
        let id = self
            .save_assistant(
                &mut tx,
                "INSERT INTO assistants (name, emoji, system_prompt, provider_id, model_id, temperature, top_p, \
                   max_tokens, context_count, created_at, updated_at, user_id) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11) RETURNING id",
                user,
                None,
                fields,
            )
            .await?
            .ok_or_else(|| StoreError::Other("no id returned for a new assistant".into()))?;
        let assistant = self.load_assistant(&mut *tx, user, id).await?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(assistant)
    }

    async fn assistants(&self, user: UserId) -> Result<Vec<Assistant>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ASSISTANT_COLUMNS} FROM assistants WHERE user_id = ? ORDER BY name, id"
        )))
        .bind(user.get())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        rows.iter().map(assistant_from_row).collect()
    }

    async fn assistant(&self, user: UserId, id: AssistantId) -> Result<Assistant> {
        self.load_assistant(&self.pool, user, id).await
    }

    async fn update_assistant(
        &self,
        user: UserId,
        id: AssistantId,
        fields: &AssistantFields,
    ) -> Result<Assistant> {
        let mut tx = self.write_tx().await?;
        self.save_assistant(
            &mut tx,
            "UPDATE assistants SET name = ?1, emoji = ?2, system_prompt = ?3, provider_id = ?4, model_id = ?5, \
               temperature = ?6, top_p = ?7, max_tokens = ?8, context_count = ?9, updated_at = ?10 \
             WHERE user_id = ?11 AND id = ?12 RETURNING id",
            user,
            Some(id),
            fields,
        )
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: "assistant",
            id: id.to_string(),
        })?;
        let assistant = self.load_assistant(&mut *tx, user, id).await?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(assistant)
    }

    async fn delete_assistant(&self, user: UserId, id: AssistantId) -> Result<()> {
        // Its topics lose the link through ON DELETE SET NULL.
        self.delete_owned(Owned::Assistant, user, id.get()).await
    }
}

#[async_trait]
impl FolderStore for SqliteStore {
    async fn create_folder(&self, user: UserId, name: &str) -> Result<Folder> {
        let name = folder_name(name)?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO folders (user_id, name, created_at) VALUES (?, ?, ?) RETURNING id",
        )
        .bind(user.get())
        .bind(name)
        .bind(Timestamp::now().as_millis())
        .fetch_one(&self.pool)
        .await
        .map_err(|e| self.folder_err(e, name))?;
        Ok(Folder {
            id: FolderId::new(id),
            name: name.to_owned(),
        })
    }

    async fn folders(&self, user: UserId) -> Result<Vec<Folder>> {
        let rows: Vec<(i64, String)> =
            sqlx::query_as("SELECT id, name FROM folders WHERE user_id = ? ORDER BY name, id")
                .bind(user.get())
                .fetch_all(&self.pool)
                .await
                .map_err(|e| self.err(e))?;
        Ok(rows
            .into_iter()
            .map(|(id, name)| Folder {
                id: FolderId::new(id),
                name,
            })
            .collect())
    }

    async fn rename_folder(&self, user: UserId, id: FolderId, name: &str) -> Result<()> {
        let name = folder_name(name)?;
        let res = sqlx::query("UPDATE folders SET name = ? WHERE id = ? AND user_id = ?")
            .bind(name)
            .bind(id.get())
            .bind(user.get())
            .execute(&self.pool)
            .await
            .map_err(|e| self.folder_err(e, name))?;
        one_row(&res, "folder", id)
    }

    async fn delete_folder(&self, user: UserId, id: FolderId) -> Result<()> {
        // Its topics stay, outside any folder (topics.folder_id is ON DELETE SET NULL).
        let res = sqlx::query("DELETE FROM folders WHERE id = ? AND user_id = ?")
            .bind(id.get())
            .bind(user.get())
            .execute(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        one_row(&res, "folder", id)
    }
}
