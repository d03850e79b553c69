//! Knowledge bases: documents, their passages, the keyword index and the vectors.
//!
//! Vectors are stored as little-endian `f32` BLOBs beside the passage, tagged with the
//! embedder that made them, so a base that changes embedder never compares vectors of
//! two models.

use async_trait::async_trait;
use orchard_core::knowledge::{
    ChunkLocation, DocStatus, Document, EmbedderSpec, KnowledgeBase, Passage, RerankSpec,
};
use orchard_core::{AssistantId, ChunkId, DocumentId, KnowledgeBaseId, Timestamp, UserId};
use sqlx::error::ErrorKind;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteExecutor};

use super::{Owned, SqliteStore, corrupt, json_list, one_row};
use crate::{KnowledgeBaseFields, KnowledgeStore, ParsedDocument, Result, StoreError};

const KB_COLUMNS: &str =
    "id, name, embedder, chunk_size, chunk_overlap, rerank, created_at, updated_at";

/// A document with its passage counts; `?2` is the model whose vectors count as
/// embedded (the base's current one).
const DOCUMENT_SELECT: &str = "SELECT d.id, d.kb_id, d.source, d.title, d.kind, d.status, d.error, d.bytes, \
       d.content_hash, d.created_at, d.updated_at, \
       (SELECT COUNT(*) FROM kb_chunks c WHERE c.document_id = d.id) AS chunks, \
       (SELECT COALESCE(SUM(c.token_count), 0) FROM kb_chunks c WHERE c.document_id = d.id) AS tokens, \
       (SELECT COUNT(*) FROM kb_chunks c WHERE c.document_id = d.id AND c.embedding IS NOT NULL \
          AND c.embedding_model = (SELECT json_extract(k.embedder, '$.key') FROM knowledge_bases k WHERE k.id = d.kb_id)) AS embedded \
     FROM kb_documents d";

fn to_u32(v: i64, col: &str) -> Result<u32> {
    u32::try_from(v).map_err(|_| corrupt(col, &v.to_string()))
}

fn to_u64(v: i64, col: &str) -> Result<u64> {
    u64::try_from(v).map_err(|_| corrupt(col, &v.to_string()))
}

/// The embedder as stored: its JSON form plus its `key`, which the document query reads
/// to count passages embedded by the current model.
fn embedder_json(spec: &EmbedderSpec) -> String {
    let mut v = serde_json::to_value(spec).unwrap_or(serde_json::Value::Null);
    if let (Some(map), Some(key)) = (v.as_object_mut(), spec.key()) {
        map.insert("key".into(), key.into());
    }
    v.to_string()
}

fn kb_from_row(row: &SqliteRow) -> Result<KnowledgeBase> {
    let embedder: Option<String> = row.get("embedder");
    let embedder = match embedder {
        None => EmbedderSpec::None,
        Some(json) => {
            let mut v: serde_json::Value =
                serde_json::from_str(&json).map_err(|_| corrupt("embedder", &json))?;
            if let Some(map) = v.as_object_mut() {
                map.remove("key");
            }
            serde_json::from_value(v).map_err(|_| corrupt("embedder", &json))?
        }
    };
    let rerank: Option<String> = row.get("rerank");
    let rerank: Option<RerankSpec> = rerank
        .map(|json| serde_json::from_str(&json).map_err(|_| corrupt("rerank", &json)))
        .transpose()?;
    Ok(KnowledgeBase {
        id: KnowledgeBaseId::new(row.get("id")),
        name: row.get("name"),
        embedder,
        chunk_size: to_u32(row.get("chunk_size"), "chunk_size")?,
        chunk_overlap: to_u32(row.get("chunk_overlap"), "chunk_overlap")?,
        rerank,
        created_at: Timestamp::from_millis(row.get("created_at")),
        updated_at: Timestamp::from_millis(row.get("updated_at")),
    })
}

fn document_from_row(row: &SqliteRow) -> Result<Document> {
    let status: String = row.get("status");
    Ok(Document {
        id: DocumentId::new(row.get("id")),
        kb_id: KnowledgeBaseId::new(row.get("kb_id")),
        source: row.get("source"),
        title: row.get("title"),
        kind: row.get("kind"),
        status: DocStatus::parse(&status).ok_or_else(|| corrupt("document status", &status))?,
        error: row.get("error"),
        bytes: row
            .get::<Option<i64>, _>("bytes")
            .map(|b| to_u64(b, "bytes"))
            .transpose()?,
        content_hash: row.get("content_hash"),
        chunks: to_u64(row.get("chunks"), "chunks")?,
        embedded: to_u64(row.get("embedded"), "embedded")?,
        tokens: to_u64(row.get("tokens"), "tokens")?,
        created_at: Timestamp::from_millis(row.get("created_at")),
        updated_at: Timestamp::from_millis(row.get("updated_at")),
    })
}

/// Vectors as stored: little-endian `f32`s.
fn vector_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn vector_from_bytes(b: &[u8]) -> Result<Vec<f32>> {
    if !b.len().is_multiple_of(4) {
        return Err(corrupt("embedding", &format!("{} bytes", b.len())));
    }
    Ok(b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

fn check_fields(fields: &KnowledgeBaseFields) -> Result<&str> {
    let name = fields.name.trim();
    if name.is_empty() {
        return Err(StoreError::Conflict("a knowledge base needs a name".into()));
    }
    if fields.chunk_size == 0 || fields.chunk_overlap >= fields.chunk_size {
        return Err(StoreError::Conflict(format!(
            "the overlap ({}) must be smaller than the passage size ({})",
            fields.chunk_overlap, fields.chunk_size
        )));
    }
    Ok(name)
}

impl SqliteStore {
    async fn load_kb(
        &self,
        ex: impl SqliteExecutor<'_>,
        user: UserId,
        id: KnowledgeBaseId,
    ) -> Result<KnowledgeBase> {
        let select =
            format!("SELECT {KB_COLUMNS} FROM knowledge_bases WHERE id = ? AND user_id = ?");
        self.load_owned(ex, select, "knowledge base", user, id.get(), kb_from_row)
            .await
    }

    async fn load_document(
        &self,
        ex: impl SqliteExecutor<'_>,
        user: UserId,
        id: DocumentId,
    ) -> Result<Document> {
        let select = format!("{DOCUMENT_SELECT} WHERE d.id = ? AND d.user_id = ?");
        self.load_owned(ex, select, "document", user, id.get(), document_from_row)
            .await
    }

    /// Knowledge-base errors in words: the only unique constraint is the name.
    fn kb_err(&self, e: sqlx::Error, name: &str) -> StoreError {
        match e {
            sqlx::Error::Database(db) if db.kind() == ErrorKind::UniqueViolation => {
                StoreError::Conflict(format!("a knowledge base named '{name}' already exists"))
            }
            e => self.err(e),
        }
    }
}

#[async_trait]
impl KnowledgeStore for SqliteStore {
    async fn create_knowledge_base(
        &self,
        user: UserId,
        fields: &KnowledgeBaseFields,
    ) -> Result<KnowledgeBase> {
        let name = check_fields(fields)?;
        let now = Timestamp::now().as_millis();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO knowledge_bases (user_id, name, embedder, chunk_size, chunk_overlap, rerank, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(user.get())
        .bind(name)
        .bind(embedder_json(&fields.embedder))
        .bind(i64::from(fields.chunk_size))
        .bind(i64::from(fields.chunk_overlap))
        .bind(fields.rerank.as_ref().map(|r| serde_json::to_string(r).unwrap_or_default()))
        .bind(now)
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| self.kb_err(e, name))?;
        self.load_kb(&self.pool, user, KnowledgeBaseId::new(id))
            .await
    }

    async fn knowledge_bases(&self, user: UserId) -> Result<Vec<KnowledgeBase>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {KB_COLUMNS} FROM knowledge_bases WHERE user_id = ? ORDER BY name COLLATE NOCASE"
        )))
        .bind(user.get())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        rows.iter().map(kb_from_row).collect()
    }

    async fn knowledge_base(&self, user: UserId, id: KnowledgeBaseId) -> Result<KnowledgeBase> {
        self.load_kb(&self.pool, user, id).await
    }

    async fn knowledge_base_named(&self, user: UserId, name: &str) -> Result<KnowledgeBase> {
        let id: Option<i64> =
            sqlx::query_scalar("SELECT id FROM knowledge_bases WHERE user_id = ? AND name = ?")
                .bind(user.get())
                .bind(name.trim())
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| self.err(e))?;
        match id {
            Some(id) => {
                self.load_kb(&self.pool, user, KnowledgeBaseId::new(id))
                    .await
            }
            None => Err(StoreError::NotFound {
                what: "knowledge base",
                id: name.to_owned(),
            }),
        }
    }

    async fn update_knowledge_base(
        &self,
        user: UserId,
        id: KnowledgeBaseId,
        fields: &KnowledgeBaseFields,
    ) -> Result<KnowledgeBase> {
        let name = check_fields(fields)?;
        let mut tx = self.write_tx().await?;
        let before = self.load_kb(&mut *tx, user, id).await?;
        sqlx::query(
            "UPDATE knowledge_bases SET name = ?, embedder = ?, chunk_size = ?, chunk_overlap = ?, rerank = ?, updated_at = ? \
             WHERE id = ? AND user_id = ?",
        )
        .bind(name)
        .bind(embedder_json(&fields.embedder))
        .bind(i64::from(fields.chunk_size))
        .bind(i64::from(fields.chunk_overlap))
        .bind(fields.rerank.as_ref().map(|r| serde_json::to_string(r).unwrap_or_default()))
        .bind(Timestamp::now().as_millis())
        .bind(id.get())
        .bind(user.get())
        .execute(&mut *tx)
        .await
        .map_err(|e| self.kb_err(e, name))?;
        if before.embedder != fields.embedder {
            // Vectors of another model are useless to the new one (and never compared).
            sqlx::query(
                "UPDATE kb_chunks SET embedding = NULL, embedding_model = NULL \
                 WHERE user_id = ?1 AND document_id IN (SELECT id FROM kb_documents WHERE kb_id = ?2 AND user_id = ?1)",
            )
            .bind(user.get())
            .bind(id.get())
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
            let next = if fields.embedder == EmbedderSpec::None {
                DocStatus::Ready
            } else {
                DocStatus::Embedding
            };
            sqlx::query(
                "UPDATE kb_documents SET status = ?, updated_at = ? \
                 WHERE kb_id = ? AND user_id = ? AND status IN ('ready', 'embedding')",
            )
            .bind(next.as_str())
            .bind(Timestamp::now().as_millis())
            .bind(id.get())
            .bind(user.get())
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        }
        let kb = self.load_kb(&mut *tx, user, id).await?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(kb)
    }

    async fn delete_knowledge_base(&self, user: UserId, id: KnowledgeBaseId) -> Result<()> {
        self.delete_owned(Owned::KnowledgeBase, user, id.get())
            .await
    }

    async fn queue_documents(
        &self,
        user: UserId,
        kb: KnowledgeBaseId,
        sources: &[(String, Option<u64>)],
    ) -> Result<Vec<DocumentId>> {
        let mut tx = self.write_tx().await?;
        self.ensure_owned(&mut *tx, Owned::KnowledgeBase, user, kb.get())
            .await?;
        let now = Timestamp::now().as_millis();
        let mut ids = Vec::with_capacity(sources.len());
        for (source, bytes) in sources {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO kb_documents (user_id, kb_id, source, status, bytes, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, 'queued', ?4, ?5, ?5) \
                 ON CONFLICT (kb_id, source) DO UPDATE SET status = 'queued', error = NULL, \
                    bytes = COALESCE(excluded.bytes, bytes), updated_at = excluded.updated_at \
                 RETURNING id",
            )
            .bind(user.get())
            .bind(kb.get())
            .bind(source)
            .bind(bytes.and_then(|b| i64::try_from(b).ok()))
            .bind(now)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
            ids.push(DocumentId::new(id));
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(ids)
    }

    async fn requeue_all(&self, user: UserId, kb: KnowledgeBaseId) -> Result<u64> {
        self.ensure_owned(&self.pool, Owned::KnowledgeBase, user, kb.get())
            .await?;
        let res = sqlx::query(
            "UPDATE kb_documents SET status = 'queued', error = NULL, content_hash = NULL, updated_at = ? \
             WHERE kb_id = ? AND user_id = ?",
        )
        .bind(Timestamp::now().as_millis())
        .bind(kb.get())
        .bind(user.get())
        .execute(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(res.rows_affected())
    }

    async fn document(&self, user: UserId, id: DocumentId) -> Result<Document> {
        self.load_document(&self.pool, user, id).await
    }

    async fn documents(&self, user: UserId, kb: KnowledgeBaseId) -> Result<Vec<Document>> {
        self.ensure_owned(&self.pool, Owned::KnowledgeBase, user, kb.get())
            .await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{DOCUMENT_SELECT} WHERE d.kb_id = ? AND d.user_id = ? ORDER BY d.id"
        )))
        .bind(kb.get())
        .bind(user.get())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        rows.iter().map(document_from_row).collect()
    }

    async fn documents_in(&self, user: UserId, statuses: &[DocStatus]) -> Result<Vec<Document>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{DOCUMENT_SELECT} WHERE d.user_id = ? AND d.status IN (SELECT value FROM json_each(?)) ORDER BY d.id"
        )))
        .bind(user.get())
        .bind(json_list(statuses.iter().map(|s| s.as_str())))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        rows.iter().map(document_from_row).collect()
    }

    async fn set_document_status(
        &self,
        user: UserId,
        id: DocumentId,
        status: DocStatus,
        error: Option<&str>,
    ) -> Result<()> {
        let res = sqlx::query(
            "UPDATE kb_documents SET status = ?1, error = ?2, updated_at = ?3, \
                attempts = attempts + (?1 = 'parsing') \
             WHERE id = ?4 AND user_id = ?5",
        )
        .bind(status.as_str())
        .bind(error.filter(|_| status == DocStatus::Failed))
        .bind(Timestamp::now().as_millis())
        .bind(id.get())
        .bind(user.get())
        .execute(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        one_row(&res, "document", id)
    }

    async fn set_documents_status(
        &self,
        user: UserId,
        ids: &[DocumentId],
        status: DocStatus,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE kb_documents SET status = ?1, error = NULL, updated_at = ?2, \
                attempts = attempts + (?1 = 'parsing') \
             WHERE user_id = ?3 AND id IN (SELECT value FROM json_each(?4))",
        )
        .bind(status.as_str())
        .bind(Timestamp::now().as_millis())
        .bind(user.get())
        .bind(json_list(ids.iter().map(|i| i.get())))
        .execute(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    async fn store_read(
        &self,
        user: UserId,
        outcomes: &[(DocumentId, std::result::Result<ParsedDocument, String>)],
        next: DocStatus,
    ) -> Result<()> {
        for (id, outcome) in outcomes {
            if let Ok(parsed) = outcome
                && next == DocStatus::Ready
                && parsed.chunks.is_empty()
            {
                return Err(StoreError::Conflict(format!(
                    "document {id} has no text, so it cannot be ready"
                )));
            }
        }
        let mut tx = self.write_tx().await?;
        let now = Timestamp::now().as_millis();
        for (id, outcome) in outcomes {
            self.ensure_owned(&mut *tx, Owned::Document, user, id.get())
                .await?;
            let parsed = match outcome {
                Ok(p) => p,
                Err(reason) => {
                    sqlx::query(
                        "UPDATE kb_documents SET status = 'failed', error = ?, updated_at = ? WHERE id = ? AND user_id = ?",
                    )
                    .bind(reason)
                    .bind(now)
                    .bind(id.get())
                    .bind(user.get())
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.err(e))?;
                    continue;
                }
            };
            sqlx::query("DELETE FROM kb_chunks WHERE document_id = ? AND user_id = ?")
                .bind(id.get())
                .bind(user.get())
                .execute(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
            // Two statements per document, whatever its size: each statement is a round
            // trip to SQLite's worker thread, and per-passage statements made storing,
            // not reading, the slow part of ingestion. (CROSS JOIN keeps json_each as the
            // outer loop, so each passage is one index lookup, not a scan per passage.)
            let rows: Vec<serde_json::Value> = parsed
                .chunks
                .iter()
                .map(|c| {
                    serde_json::json!({
                        "t": c.text,
                        "s": c.search_text,
                        "a": c.location.start,
                        "b": c.location.end,
                        "p": c.location.page,
                        "h": (!c.location.heading_path.is_empty())
                            .then(|| serde_json::to_string(&c.location.heading_path).unwrap_or_default()),
                        "k": c.tokens,
                    })
                })
                .collect();
            let rows = serde_json::Value::Array(rows).to_string();
            sqlx::query(
                "INSERT INTO kb_chunks (user_id, document_id, position, text, byte_start, byte_end, page, heading_path, token_count, created_at) \
                 SELECT ?1, ?2, j.key, j.value ->> 't', j.value ->> 'a', j.value ->> 'b', j.value ->> 'p', j.value ->> 'h', j.value ->> 'k', ?3 \
                 FROM json_each(?4) j",
            )
            .bind(user.get())
            .bind(id.get())
            .bind(now)
            .bind(&rows)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
            sqlx::query(
                "INSERT INTO kb_chunk_search (rowid, body, kb) \
                 SELECT c.id, j.value ->> 's', (SELECT 'kb' || kb_id FROM kb_documents WHERE id = ?2) \
                 FROM json_each(?1) j \
                 CROSS JOIN kb_chunks c ON c.document_id = ?2 AND c.position = j.key",
            )
            .bind(&rows)
            .bind(id.get())
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
            sqlx::query(
                "UPDATE kb_documents SET title = ?, kind = ?, text = ?, bytes = ?, content_hash = ?, \
                    status = ?, error = NULL, updated_at = ? WHERE id = ? AND user_id = ?",
            )
            .bind(&parsed.title)
            .bind(&parsed.kind)
            .bind(&parsed.text)
            .bind(i64::try_from(parsed.bytes).unwrap_or(i64::MAX))
            .bind(&parsed.content_hash)
            .bind(next.as_str())
            .bind(now)
            .bind(id.get())
            .bind(user.get())
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        }
        tx.commit().await.map_err(|e| self.err(e))
    }

    async fn chunks_to_embed(
        &self,
        user: UserId,
        id: DocumentId,
        model: &str,
        limit: usize,
    ) -> Result<Vec<(ChunkId, String)>> {
        let rows = sqlx::query(
            "SELECT id, text FROM kb_chunks WHERE document_id = ? AND user_id = ? \
               AND (embedding IS NULL OR embedding_model IS NOT ?) ORDER BY position LIMIT ?",
        )
        .bind(id.get())
        .bind(user.get())
        .bind(model)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(rows
            .iter()
            .map(|r| (ChunkId::new(r.get("id")), r.get("text")))
            .collect())
    }

    async fn store_embeddings(
        &self,
        user: UserId,
        model: &str,
        vectors: &[(ChunkId, Vec<f32>)],
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        for (id, v) in vectors {
            sqlx::query(
                "UPDATE kb_chunks SET embedding = ?, embedding_model = ? WHERE id = ? AND user_id = ?",
            )
            .bind(vector_bytes(v))
            .bind(model)
            .bind(id.get())
            .bind(user.get())
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        }
        tx.commit().await.map_err(|e| self.err(e))
    }

    async fn base_vectors(
        &self,
        user: UserId,
        kb: KnowledgeBaseId,
        model: &str,
    ) -> Result<Vec<(ChunkId, Vec<f32>)>> {
        let rows = sqlx::query(
            "SELECT c.id, c.embedding FROM kb_chunks c JOIN kb_documents d ON d.id = c.document_id \
             WHERE d.kb_id = ?1 AND c.user_id = ?2 AND d.user_id = ?2 AND c.embedding_model = ?3 \
               AND c.embedding IS NOT NULL",
        )
        .bind(kb.get())
        .bind(user.get())
        .bind(model)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| {
                let bytes: Vec<u8> = r.get("embedding");
                Ok((ChunkId::new(r.get("id")), vector_from_bytes(&bytes)?))
            })
            .collect()
    }

    async fn keyword_search(
        &self,
        user: UserId,
        kb: KnowledgeBaseId,
        fts_query: &str,
        limit: usize,
    ) -> Result<Vec<(ChunkId, f64)>> {
        // Ranked and cut inside FTS5 (see migration 5); only the page of results is
        // joined, to keep what is the person's. bm25 is lower for better matches;
        // negated, higher is better.
        self.ensure_owned(&self.pool, Owned::KnowledgeBase, user, kb.get())
            .await?;
        let rows = sqlx::query(
            "SELECT s.id, s.score FROM ( \
                SELECT rowid AS id, -rank AS score, rank FROM kb_chunk_search \
                WHERE kb_chunk_search MATCH ?1 ORDER BY rank LIMIT ?2 \
             ) s JOIN kb_chunks c ON c.id = s.id WHERE c.user_id = ?3 ORDER BY s.rank",
        )
        .bind(format!("kb : kb{} AND body : ({fts_query})", kb.get()))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .bind(user.get())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(rows
            .iter()
            .map(|r| (ChunkId::new(r.get("id")), r.get("score")))
            .collect())
    }

    async fn word_counts(
        &self,
        user: UserId,
        kb: KnowledgeBaseId,
        words: &[String],
    ) -> Result<(u64, Vec<u64>)> {
        self.ensure_owned(&self.pool, Owned::KnowledgeBase, user, kb.get())
            .await?;
        let mut conn = self.pool.acquire().await.map_err(|e| self.err(e))?;
        // One lookup per word: fts5vocab answers `term = ?` from the index, while an IN
        // list would scan every word.
        let mut count = async |term: &str| -> Result<u64> {
            let n: Option<i64> =
                sqlx::query_scalar("SELECT doc FROM kb_chunk_vocab WHERE term = ?")
                    .bind(term)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(|e| self.err(e))?;
            Ok(n.and_then(|n| u64::try_from(n).ok()).unwrap_or(0))
        };
        let total = count(&format!("kb{}", kb.get())).await?;
        let mut counts = Vec::with_capacity(words.len());
        for w in words {
            counts.push(count(w).await?);
        }
        Ok((total, counts))
    }

    async fn passages(&self, user: UserId, ids: &[ChunkId]) -> Result<Vec<Passage>> {
        let rows = sqlx::query(
            "SELECT c.id, c.document_id, c.text, c.byte_start, c.byte_end, c.page, c.heading_path, \
                d.source, d.title \
             FROM json_each(?1) j JOIN kb_chunks c ON c.id = j.value \
             JOIN kb_documents d ON d.id = c.document_id \
             WHERE c.user_id = ?2 ORDER BY j.key",
        )
        .bind(json_list(ids.iter().map(|i| i.get())))
        .bind(user.get())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| {
                let path: Option<String> = r.get("heading_path");
                let heading_path = match path {
                    Some(p) => serde_json::from_str(&p).map_err(|_| corrupt("heading_path", &p))?,
                    None => Vec::new(),
                };
                Ok(Passage {
                    id: ChunkId::new(r.get("id")),
                    document_id: DocumentId::new(r.get("document_id")),
                    source: r.get("source"),
                    title: r.get("title"),
                    text: r.get("text"),
                    location: ChunkLocation {
                        start: to_u64(r.get("byte_start"), "byte_start")?,
                        end: to_u64(r.get("byte_end"), "byte_end")?,
                        page: r
                            .get::<Option<i64>, _>("page")
                            .map(|p| to_u32(p, "page"))
                            .transpose()?,
                        heading_path,
                    },
                })
            })
            .collect()
    }

    async fn document_text(&self, user: UserId, id: DocumentId) -> Result<String> {
        let text: Option<Option<String>> =
            sqlx::query_scalar("SELECT text FROM kb_documents WHERE id = ? AND user_id = ?")
                .bind(id.get())
                .bind(user.get())
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| self.err(e))?;
        match text {
            Some(t) => Ok(t.unwrap_or_default()),
            None => Err(StoreError::NotFound {
                what: "document",
                id: id.to_string(),
            }),
        }
    }

    async fn delete_document(&self, user: UserId, id: DocumentId) -> Result<()> {
        self.delete_owned(Owned::Document, user, id.get()).await
    }

    async fn assistant_knowledge_bases(
        &self,
        user: UserId,
        assistant: AssistantId,
    ) -> Result<Vec<KnowledgeBaseId>> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT kb_id FROM assistant_knowledge_bases WHERE assistant_id = ? AND user_id = ? ORDER BY kb_id",
        )
        .bind(assistant.get())
        .bind(user.get())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(ids.into_iter().map(KnowledgeBaseId::new).collect())
    }

    async fn set_assistant_knowledge_bases(
        &self,
        user: UserId,
        assistant: AssistantId,
        bases: &[KnowledgeBaseId],
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        self.ensure_owned(&mut *tx, Owned::Assistant, user, assistant.get())
            .await?;
        sqlx::query("DELETE FROM assistant_knowledge_bases WHERE assistant_id = ? AND user_id = ?")
            .bind(assistant.get())
            .bind(user.get())
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        for kb in bases {
            self.ensure_owned(&mut *tx, Owned::KnowledgeBase, user, kb.get())
                .await?;
            sqlx::query(
                "INSERT OR IGNORE INTO assistant_knowledge_bases (assistant_id, kb_id, user_id) VALUES (?, ?, ?)",
            )
            .bind(assistant.get())
            .bind(kb.get())
            .bind(user.get())
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        }
        tx.commit().await.map_err(|e| self.err(e))
    }
}
