//! The SQLite implementation of the store traits.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use orchard_core::egress::{EgressEntry, Purpose};
use orchard_core::provider::{KeyInfo, KeyStatus, Model, Protocol, Provider, Quirks};
use orchard_core::{KeyId, ModelRowId, ProviderId, Timestamp, User, UserId};
use sqlx::error::ErrorKind;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteQueryResult, SqliteRow, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection, Row, Sqlite, SqliteExecutor, Transaction};

use crate::{
    EgressStore, NewModel, NewProvider, ProviderStore, RecoveryStore, Result, SealedKey,
    SettingsStore, StoreError, StoredKey, UserStore,
};

mod conversation;
mod knowledge;
mod library;
mod search;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Tuning for [`SqliteStore::open`].
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// How long to wait for a lock held by another process before giving up.
    pub busy_timeout: Duration,
    /// Connections in the pool (SQLite allows many readers and one writer at a time).
    pub max_connections: u32,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            busy_timeout: Duration::from_secs(5),
            max_connections: 4,
        }
    }
}

/// A store in one SQLite file.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to
    /// date, copying an existing database to `backups/` next to it first.
    pub async fn open(path: impl AsRef<Path>, opts: &StoreOptions) -> Result<Self> {
        Self::open_to(path.as_ref(), opts, None).await
    }

    /// Opens the database migrated only up to `version`, as an older Orchard would
    /// have left it. For upgrade tests.
    #[doc(hidden)]
    pub async fn open_at_version(
        path: impl AsRef<Path>,
        opts: &StoreOptions,
        version: i64,
    ) -> Result<Self> {
        Self::open_to(path.as_ref(), opts, Some(version)).await
    }

    /// The newest schema version this build knows.
    pub fn latest_version() -> i64 {
        MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits for every connection to close (checkpointing the WAL).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The highest schema version applied to this database.
    pub async fn schema_version(&self) -> Result<i64> {
        sqlx::query_scalar(
            "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success = 1",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(|e| self.err(e))
    }

    async fn open_to(path: &Path, opts: &StoreOptions, target: Option<i64>) -> Result<Self> {
        // An existing file is inspected read-only first, so a file that is refused (not
        // SQLite, not Orchard's, from a newer Orchard) is left exactly as it was: opening
        // it for writing would already switch it to WAL mode.
        if needs_read_only_look(path) {
            let mut conn = SqliteConnectOptions::new()
                .filename(path)
                .read_only(true)
                .busy_timeout(opts.busy_timeout)
                .connect()
                .await
                .map_err(|e| map_err(path, e))?;
            let state = SchemaState::read(&mut conn)
                .await
                .map_err(|e| map_err(path, e))?;
            let _ = conn.close().await;
            state.check(path)?;
        }
        let connect = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            // FULL: a committed message survives power loss too, not only a killed process.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(opts.busy_timeout);
        let pool = SqlitePoolOptions::new()
            .max_connections(opts.max_connections.max(1))
            .min_connections(0)
            .acquire_timeout(opts.busy_timeout + Duration::from_secs(5))
            .connect_with(connect)
            .await
            .map_err(|e| map_err(path, e))?;
        let store = Self {
            pool,
            path: path.to_path_buf(),
        };
        store.migrate(target).await?;
        Ok(store)
    }

    async fn migrate(&self, target: Option<i64>) -> Result<()> {
        // Read again on the writable pool: another process may have migrated meanwhile.
        let mut conn = self.pool.acquire().await.map_err(|e| self.err(e))?;
        let state = SchemaState::read(&mut conn)
            .await
            .map_err(|e| self.err(e))?;
        drop(conn);
        state.check(&self.path)?;
        let done: BTreeSet<i64> = state.applied.iter().map(|(v, _)| *v).collect();
        let target = target.unwrap_or_else(Self::latest_version);
        let pending = MIGRATOR
            .iter()
            .any(|m| m.version <= target && !done.contains(&m.version));
        if !pending {
            return Ok(());
        }
        if let Some(from) = done.iter().max() {
            self.backup_before_upgrade(*from, target).await?;
        }
        let result = if target == Self::latest_version() {
            MIGRATOR.run(&self.pool).await
        } else {
            MIGRATOR.run_to(target, &self.pool).await
        };
        result.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(e)
            | sqlx::migrate::MigrateError::ExecuteMigration(e, _) => self.err(e),
            other => StoreError::Other(other.to_string()),
        })?;
        tracing::info!(path = %self.path.display(), to = target, "database schema up to date");
        Ok(())
    }

    /// Copies the database with `VACUUM INTO`, which produces a consistent snapshot even
    /// with a WAL (a plain file copy could miss committed pages still in the WAL).
    async fn backup_before_upgrade(&self, from: i64, to: i64) -> Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new(".")).join("backups");
        let dest = dir.join(format!(
            "orchard-schema-v{from}-before-v{to}-{}.db",
            Timestamp::now().as_millis()
        ));
        let fail = |detail: String| StoreError::Backup {
            path: dest.clone(),
            detail,
        };
        std::fs::create_dir_all(&dir).map_err(|e| fail(e.to_string()))?;
        let dest_str = dest
            .to_str()
            .ok_or_else(|| fail("the path is not valid UTF-8".into()))?;
        sqlx::query("VACUUM INTO ?")
            .bind(dest_str)
            .execute(&self.pool)
            .await
            .map_err(|e| fail(e.to_string()))?;
        tracing::info!(backup = %dest.display(), from, to, "backed up the database before upgrading it");
        Ok(())
    }

    async fn write_tx(&self) -> Result<Transaction<'static, Sqlite>> {
        // IMMEDIATE takes the write lock up front, so the busy timeout applies instead of
        // failing on a read-to-write upgrade.
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| self.err(e))
    }

    fn err(&self, e: sqlx::Error) -> StoreError {
        map_err(&self.path, e)
    }

    /// One `UPDATE provider_keys SET <column> = ?` owned by `user`.
    async fn key_update(
        &self,
        sql: &'static str,
        user: UserId,
        key: KeyId,
        at: Timestamp,
    ) -> Result<()> {
        let res = sqlx::query(sql)
            .bind(at.as_millis())
            .bind(key.get())
            .bind(user.get())
            .execute(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        one_row(&res, "key", key)
    }

    /// One of `user`'s rows through `select`, a query whose two parameters are the id
    /// and the owner (`… WHERE id = ? AND user_id = ?`), read by `map`; a missing or
    /// foreign row is [`StoreError::NotFound`] naming `what`.
    async fn load_owned<T>(
        &self,
        ex: impl SqliteExecutor<'_>,
        select: String,
        what: &'static str,
        user: UserId,
        id: i64,
        map: fn(&SqliteRow) -> Result<T>,
    ) -> Result<T> {
        let row = sqlx::query(sqlx::AssertSqlSafe(select))
            .bind(id)
            .bind(user.get())
            .fetch_optional(ex)
            .await
            .map_err(|e| self.err(e))?;
        row.as_ref()
            .map(map)
            .transpose()?
            .ok_or_else(|| StoreError::NotFound {
                what,
                id: id.to_string(),
            })
    }

    /// Deletes row `id` of a `kind` table if it is `user`'s (what it owns goes with it,
    /// by the schema's cascades); [`StoreError::NotFound`] otherwise.
    async fn delete_owned(&self, kind: Owned, user: UserId, id: i64) -> Result<()> {
        let (table, what) = kind.table_and_name();
        let res = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM {table} WHERE id = ? AND user_id = ?"
        )))
        .bind(id)
        .bind(user.get())
        .execute(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        one_row(&res, what, id)
    }

    /// Checks that row `id` of a `kind` table exists and is `user`'s.
    async fn ensure_owned(
        &self,
        ex: impl SqliteExecutor<'_>,
        kind: Owned,
        user: UserId,
        id: i64,
    ) -> Result<()> {
        let (table, what) = kind.table_and_name();
        let owned: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT id FROM {table} WHERE id = ? AND user_id = ?"
        )))
        .bind(id)
        .bind(user.get())
        .fetch_optional(ex)
        .await
        .map_err(|e| self.err(e))?;
        owned.map(|_| ()).ok_or_else(|| StoreError::NotFound {
            what,
            id: id.to_string(),
        })
    }
}

/// Tables whose rows [`SqliteStore::ensure_owned`] checks.
#[derive(Clone, Copy, Debug)]
enum Owned {
    Provider,
    Topic,
    Folder,
    Assistant,
    KnowledgeBase,
    Document,
}

impl Owned {
    /// The table, and the thing's name in messages.
    const fn table_and_name(self) -> (&'static str, &'static str) {
        match self {
            Owned::Provider => ("providers", "provider"),
            Owned::Topic => ("topics", "topic"),
            Owned::Folder => ("folders", "folder"),
            Owned::Assistant => ("assistants", "assistant"),
            Owned::KnowledgeBase => ("knowledge_bases", "knowledge base"),
            Owned::Document => ("kb_documents", "document"),
        }
    }
}

/// A JSON array, to pass a list as one parameter and read it with `json_each`.
fn json_list<T: Into<serde_json::Value>>(items: impl IntoIterator<Item = T>) -> String {
    serde_json::Value::Array(items.into_iter().map(Into::into).collect()).to_string()
}

/// Whether `path` must be inspected read-only before it is opened for writing: only
/// when opening it in WAL mode could change it, i.e. an existing file that is not
/// already a WAL-mode SQLite database (header bytes 18 and 19 are 2 in WAL mode). An
/// Orchard database is always in WAL mode, so the usual start skips this.
fn needs_read_only_look(path: &Path) -> bool {
    use std::io::Read;
    let mut header = [0u8; 20];
    match std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut header)) {
        Ok(()) => !(header.starts_with(b"SQLite format 3\0") && header[18] == 2 && header[19] == 2),
        // Missing or empty: created fresh. Shorter than a header: not SQLite, look.
        Err(_) => std::fs::metadata(path).is_ok_and(|m| m.len() > 0),
    }
}

/// What a database file says about its schema.
struct SchemaState {
    applied: Vec<(i64, Vec<u8>)>,
    other_tables: i64,
}

impl SchemaState {
    async fn read(conn: &mut SqliteConnection) -> sqlx::Result<Self> {
        let has_ledger: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_one(&mut *conn)
        .await?;
        let other_tables: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'",
        )
        .fetch_one(&mut *conn)
        .await?;
        let applied = if has_ledger > 0 {
            sqlx::query_as(
                "SELECT version, checksum FROM _sqlx_migrations WHERE success = 1 ORDER BY version",
            )
            .fetch_all(&mut *conn)
            .await?
        } else {
            Vec::new()
        };
        Ok(Self {
            applied,
            other_tables,
        })
    }

    /// Refuses databases that are not Orchard's, were written by a newer Orchard, or
    /// were migrated by a different build.
    fn check(&self, path: &Path) -> Result<()> {
        if self.applied.is_empty() && self.other_tables > 0 {
            return Err(StoreError::NotOrchard {
                path: path.to_path_buf(),
            });
        }
        if self
            .applied
            .iter()
            .any(|(v, _)| !MIGRATOR.version_exists(*v))
        {
            return Err(StoreError::NewerSchema {
                path: path.to_path_buf(),
                found: self.applied.iter().map(|(v, _)| *v).max().unwrap_or(0),
                known: SqliteStore::latest_version(),
            });
        }
        for (version, checksum) in &self.applied {
            let ours = MIGRATOR.iter().find(|m| m.version == *version);
            if ours.is_some_and(|m| m.checksum.as_ref() != checksum.as_slice()) {
                return Err(StoreError::SchemaMismatch {
                    path: path.to_path_buf(),
                    version: *version,
                });
            }
        }
        Ok(())
    }
}

/// Maps SQLite result codes to errors a person can act on.
fn map_err(path: &Path, e: sqlx::Error) -> StoreError {
    let path = path.to_path_buf();
    match &e {
        sqlx::Error::Database(db) => {
            let code: i32 = db.code().and_then(|c| c.parse().ok()).unwrap_or(0);
            match code & 0xff {
                5 | 6 => StoreError::Locked { path },
                26 => StoreError::NotADatabase { path },
                14 => StoreError::CannotOpen {
                    path,
                    detail: "the file cannot be opened or created; check that the data directory exists and is writable".into(),
                },
                8 => StoreError::CannotOpen {
                    path,
                    detail: "the database is read-only; check the permissions of the file and its directory".into(),
                },
                13 => StoreError::CannotOpen {
                    path,
                    detail: "the disk is full".into(),
                },
                11 => StoreError::Corrupt(format!(
                    "{} is damaged (SQLite reports corruption); restore a copy from the backups folder",
                    path.display()
                )),
                _ if db.kind() == ErrorKind::UniqueViolation => StoreError::Conflict(db.message().to_owned()),
                _ => StoreError::Other(db.message().to_owned()),
            }
        }
        sqlx::Error::Io(io) => StoreError::CannotOpen {
            path,
            detail: io.to_string(),
        },
        sqlx::Error::PoolTimedOut => StoreError::Locked { path },
        _ => StoreError::Other(e.to_string()),
    }
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what} '{value}'"))
}

fn provider_from_row(row: &SqliteRow) -> Result<Provider> {
    let protocol: String = row.get("protocol");
    let quirks: String = row.get("quirks");
    Ok(Provider {
        id: ProviderId::new(row.get("id")),
        user_id: UserId::new(row.get("user_id")),
        name: row.get("name"),
        catalogue_id: row.get("catalogue_id"),
        protocol: Protocol::from_str(&protocol).map_err(|_| corrupt("protocol", &protocol))?,
        base_url: row.get("base_url"),
        quirks: serde_json::from_str::<Quirks>(&quirks).map_err(|_| corrupt("quirks", &quirks))?,
        enabled: row.get::<i64, _>("enabled") != 0,
        created_at: Timestamp::from_millis(row.get("created_at")),
    })
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn ensure_local_user(&self) -> Result<User> {
        let now = Timestamp::now().as_millis();
        sqlx::query(
            "INSERT OR IGNORE INTO users (kind, nickname, created_at) VALUES ('local', 'me', ?)",
        )
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        let row =
            sqlx::query("SELECT id, kind, nickname, created_at FROM users WHERE kind = 'local'")
                .fetch_one(&self.pool)
                .await
                .map_err(|e| self.err(e))?;
        Ok(User {
            id: UserId::new(row.get("id")),
            kind: row.get("kind"),
            nickname: row.get("nickname"),
            created_at: Timestamp::from_millis(row.get("created_at")),
        })
    }
}

const PROVIDER_COLUMNS: &str =
    "id, user_id, name, catalogue_id, protocol, base_url, quirks, enabled, created_at";

#[async_trait]
impl ProviderStore for SqliteStore {
    async fn create_provider(&self, user: UserId, new: &NewProvider) -> Result<Provider> {
        let now = Timestamp::now().as_millis();
        let quirks =
            serde_json::to_string(&new.quirks).map_err(|e| StoreError::Other(e.to_string()))?;
        let res = sqlx::query(
            "INSERT INTO providers (user_id, name, catalogue_id, protocol, base_url, quirks, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(user.get())
        .bind(&new.name)
        .bind(&new.catalogue_id)
        .bind(new.protocol.as_str())
        .bind(&new.base_url)
        .bind(quirks)
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await;
        match res {
            Ok(_) => {}
            Err(sqlx::Error::Database(db)) if db.kind() == ErrorKind::UniqueViolation => {
                return Err(StoreError::Conflict(format!(
                    "a provider named '{}' already exists (see `orchard provider list`)",
                    new.name
                )));
            }
            Err(e) => return Err(self.err(e)),
        }
        self.provider_by_name(user, &new.name)
            .await?
            .ok_or_else(|| StoreError::Other("provider vanished after insert".into()))
    }

    async fn providers(&self, user: UserId) -> Result<Vec<Provider>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {PROVIDER_COLUMNS} FROM providers WHERE user_id = ? ORDER BY name"
        )))
        .bind(user.get())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        rows.iter().map(provider_from_row).collect()
    }

    async fn provider_by_name(&self, user: UserId, name: &str) -> Result<Option<Provider>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {PROVIDER_COLUMNS} FROM providers WHERE user_id = ? AND name = ?"
        )))
        .bind(user.get())
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        row.as_ref().map(provider_from_row).transpose()
    }

    async fn delete_provider(&self, user: UserId, id: ProviderId) -> Result<()> {
        self.delete_owned(Owned::Provider, user, id.get()).await
    }

    async fn add_key(
        &self,
        user: UserId,
        provider: ProviderId,
        sealed: &SealedKey,
        mask: &str,
    ) -> Result<KeyId> {
        let mut tx = self.write_tx().await?;
        self.ensure_owned(&mut *tx, Owned::Provider, user, provider.get())
            .await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO provider_keys (user_id, provider_id, nonce, ciphertext, mask, position, created_at) \
             VALUES (?, ?, ?, ?, ?, (SELECT COALESCE(MAX(position), 0) + 1 FROM provider_keys WHERE provider_id = ? AND user_id = ?), ?) \
             RETURNING id",
        )
        .bind(user.get())
        .bind(provider.get())
        .bind(&sealed.nonce)
        .bind(&sealed.ciphertext)
        .bind(mask)
        .bind(provider.get())
        .bind(user.get())
        .bind(Timestamp::now().as_millis())
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(KeyId::new(id))
    }

    async fn keys(&self, user: UserId, provider: ProviderId) -> Result<Vec<StoredKey>> {
        let rows = sqlx::query(
            "SELECT id, provider_id, nonce, ciphertext, mask, position, status, status_reason, rest_until, last_used_at \
             FROM provider_keys WHERE user_id = ? AND provider_id = ? ORDER BY position",
        )
        .bind(user.get())
        .bind(provider.get())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(rows
            .iter()
            .map(|row| StoredKey {
                info: KeyInfo {
                    id: KeyId::new(row.get("id")),
                    provider_id: ProviderId::new(row.get("provider_id")),
                    mask: row.get("mask"),
                    position: row.get("position"),
                    status: KeyStatus::parse(row.get("status")).unwrap_or(KeyStatus::Unknown),
                    status_reason: row.get("status_reason"),
                    rest_until: row
                        .get::<Option<i64>, _>("rest_until")
                        .map(Timestamp::from_millis),
                    last_used_at: row
                        .get::<Option<i64>, _>("last_used_at")
                        .map(Timestamp::from_millis),
                },
                sealed: SealedKey {
                    nonce: row.get("nonce"),
                    ciphertext: row.get("ciphertext"),
                },
            })
            .collect())
    }

    async fn delete_key(&self, user: UserId, key: KeyId) -> Result<()> {
        let res = sqlx::query("DELETE FROM provider_keys WHERE id = ? AND user_id = ?")
            .bind(key.get())
            .bind(user.get())
            .execute(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        one_row(&res, "key", key)
    }

    async fn set_key_status(
        &self,
        user: UserId,
        key: KeyId,
        status: KeyStatus,
        reason: Option<&str>,
    ) -> Result<()> {
        let res = sqlx::query(
            "UPDATE provider_keys SET status = ?, status_reason = ?, rest_until = NULL, last_used_at = ? WHERE id = ? AND user_id = ?",
        )
        .bind(status.as_str())
        .bind(reason)
        .bind(Timestamp::now().as_millis())
        .bind(key.get())
        .bind(user.get())
        .execute(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        one_row(&res, "key", key)
    }

    async fn upsert_models(
        &self,
        user: UserId,
        provider: ProviderId,
        models: &[NewModel],
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        self.ensure_owned(&mut *tx, Owned::Provider, user, provider.get())
            .await?;
        let now = Timestamp::now().as_millis();
        for m in models {
            sqlx::query(
                "INSERT INTO models (user_id, provider_id, model_id, display_name, owned_by, created_at, updated_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?) \
                 ON CONFLICT (provider_id, model_id) DO UPDATE SET \
                   display_name = COALESCE(excluded.display_name, models.display_name), \
                   owned_by = excluded.owned_by, updated_at = excluded.updated_at",
            )
            .bind(user.get())
            .bind(provider.get())
            .bind(&m.model_id)
            .bind(&m.display_name)
            .bind(&m.owned_by)
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        }
        tx.commit().await.map_err(|e| self.err(e))
    }

    async fn set_model_enabled(
        &self,
        user: UserId,
        provider: ProviderId,
        model_id: &str,
        enabled: bool,
    ) -> Result<()> {
        let res = sqlx::query(
            "UPDATE models SET enabled = ?, updated_at = ? WHERE provider_id = ? AND model_id = ? AND user_id = ?",
        )
        .bind(enabled)
        .bind(Timestamp::now().as_millis())
        .bind(provider.get())
        .bind(model_id)
        .bind(user.get())
        .execute(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        one_row(&res, "model", model_id)
    }

    async fn models(&self, user: UserId, provider: ProviderId) -> Result<Vec<Model>> {
        let rows = sqlx::query(
            "SELECT id, provider_id, model_id, display_name, owned_by, enabled, capabilities FROM models \
             WHERE user_id = ? AND provider_id = ? ORDER BY model_id",
        )
        .bind(user.get())
        .bind(provider.get())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(rows
            .iter()
            .map(|row| Model {
                id: ModelRowId::new(row.get("id")),
                provider_id: ProviderId::new(row.get("provider_id")),
                model_id: row.get("model_id"),
                display_name: row.get("display_name"),
                owned_by: row.get("owned_by"),
                enabled: row.get::<i64, _>("enabled") != 0,
                capabilities: serde_json::from_str(&row.get::<String, _>("capabilities"))
                    .unwrap_or_default(),
            })
            .collect())
    }

    async fn rest_key(&self, user: UserId, key: KeyId, until: Timestamp) -> Result<()> {
        self.key_update(
            "UPDATE provider_keys SET rest_until = ? WHERE id = ? AND user_id = ?",
            user,
            key,
            until,
        )
        .await
    }

    async fn touch_key(&self, user: UserId, key: KeyId) -> Result<()> {
        self.key_update(
            "UPDATE provider_keys SET last_used_at = ? WHERE id = ? AND user_id = ?",
            user,
            key,
            Timestamp::now(),
        )
        .await
    }

    async fn set_model_capabilities(
        &self,
        user: UserId,
        provider: ProviderId,
        model_id: &str,
        caps: &orchard_core::capabilities::CapabilityOverride,
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        self.ensure_owned(&mut *tx, Owned::Provider, user, provider.get())
            .await?;
        let json = serde_json::to_string(caps).map_err(|e| StoreError::Other(e.to_string()))?;
        let now = Timestamp::now().as_millis();
        sqlx::query(
            "INSERT INTO models (user_id, provider_id, model_id, capabilities, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?) \
             ON CONFLICT (provider_id, model_id) DO UPDATE SET capabilities = excluded.capabilities, \
               updated_at = excluded.updated_at",
        )
        .bind(user.get())
        .bind(provider.get())
        .bind(model_id)
        .bind(json)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        tx.commit().await.map_err(|e| self.err(e))
    }
}

#[async_trait]
impl SettingsStore for SqliteStore {
    async fn setting(&self, user: UserId, key: &str) -> Result<Option<String>> {
        sqlx::query_scalar("SELECT value FROM settings WHERE user_id = ? AND key = ?")
            .bind(user.get())
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.err(e))
    }

    async fn set_setting(&self, user: UserId, key: &str, value: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO settings (user_id, key, value) VALUES (?, ?, ?) \
             ON CONFLICT (user_id, key) DO UPDATE SET value = excluded.value",
        )
        .bind(user.get())
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }
}

#[async_trait]
impl EgressStore for SqliteStore {
    async fn begin_egress(&self, e: &EgressEntry) -> Result<i64> {
        sqlx::query_scalar(
            "INSERT INTO egress_log (at, host, port, purpose, method, bytes_sent, bytes_received, status, outcome, \
               via_proxy, duration_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(e.at.as_millis())
        .bind(&e.host)
        .bind(i64::from(e.port))
        .bind(e.purpose.as_str())
        .bind(&e.method)
        .bind(i64::try_from(e.bytes_sent).unwrap_or(i64::MAX))
        .bind(i64::try_from(e.bytes_received).unwrap_or(i64::MAX))
        .bind(e.status.map(i64::from))
        .bind(&e.outcome)
        .bind(&e.via_proxy)
        .bind(i64::try_from(e.duration_ms).unwrap_or(i64::MAX))
        .fetch_one(&self.pool)
        .await
        .map_err(|e| self.err(e))
    }

    async fn finish_egress(&self, done: &[(i64, EgressEntry)]) -> Result<()> {
        if done.is_empty() {
            return Ok(());
        }
        let mut tx = self.write_tx().await?;
        for (id, e) in done {
            sqlx::query(
                "UPDATE egress_log SET bytes_sent = ?, bytes_received = ?, status = ?, outcome = ?, duration_ms = ? \
                 WHERE id = ?",
            )
            .bind(i64::try_from(e.bytes_sent).unwrap_or(i64::MAX))
            .bind(i64::try_from(e.bytes_received).unwrap_or(i64::MAX))
            .bind(e.status.map(i64::from))
            .bind(&e.outcome)
            .bind(i64::try_from(e.duration_ms).unwrap_or(i64::MAX))
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        }
        tx.commit().await.map_err(|e| self.err(e))
    }

    async fn egress_since(&self, since: Timestamp) -> Result<Vec<EgressEntry>> {
        let rows = sqlx::query("SELECT * FROM egress_log WHERE at >= ? ORDER BY at, id")
            .bind(since.as_millis())
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(rows
            .iter()
            .map(|r| EgressEntry {
                at: Timestamp::from_millis(r.get("at")),
                host: r.get("host"),
                port: u16::try_from(r.get::<i64, _>("port")).unwrap_or(0),
                purpose: Purpose::from_stored(r.get("purpose")),
                method: r.get("method"),
                bytes_sent: u64::try_from(r.get::<i64, _>("bytes_sent")).unwrap_or(0),
                bytes_received: u64::try_from(r.get::<i64, _>("bytes_received")).unwrap_or(0),
                status: r
                    .get::<Option<i64>, _>("status")
                    .and_then(|s| u16::try_from(s).ok()),
                outcome: r.get("outcome"),
                via_proxy: r.get("via_proxy"),
                duration_ms: u64::try_from(r.get::<i64, _>("duration_ms")).unwrap_or(0),
            })
            .collect())
    }
}

#[async_trait]
impl RecoveryStore for SqliteStore {
    async fn open_writers(&self) -> Result<Vec<String>> {
        sqlx::query_scalar(
            "SELECT DISTINCT COALESCE(writer, '') FROM messages WHERE status IN ('pending', 'streaming')",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))
    }

    async fn interrupt_writer(&self, writer: &str) -> Result<u64> {
        let res = sqlx::query(
            "UPDATE messages SET status = 'interrupted', writer = NULL, updated_at = ? \
             WHERE status IN ('pending', 'streaming') AND COALESCE(writer, '') = ?",
        )
        .bind(Timestamp::now().as_millis())
        .bind(writer)
        .execute(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(res.rows_affected())
    }
}

/// `Ok` if the statement changed a row; else `what` `id` is not found (or not the
/// caller's, which is the same to them).
fn one_row(res: &SqliteQueryResult, what: &'static str, id: impl std::fmt::Display) -> Result<()> {
    if res.rows_affected() == 0 {
        return Err(StoreError::NotFound {
            what,
            id: id.to_string(),
        });
    }
    Ok(())
}
