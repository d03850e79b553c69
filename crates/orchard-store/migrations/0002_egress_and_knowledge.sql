-- The egress ledger (promise L3) and the knowledge-base tables.

-- One row per outbound request: never a path, query string, header or body. The row is
-- written (outcome 'in-flight') before the request leaves and completed when it ends.
CREATE TABLE egress_log (
    id              INTEGER PRIMARY KEY,
    at              INTEGER NOT NULL,
    host            TEXT    NOT NULL,
    port            INTEGER NOT NULL,
    purpose         TEXT    NOT NULL,
    method          TEXT    NOT NULL,
    bytes_sent      INTEGER NOT NULL,
    bytes_received  INTEGER NOT NULL,
    status          INTEGER,
    outcome         TEXT    NOT NULL,
    via_proxy       TEXT,
    duration_ms     INTEGER NOT NULL
);
CREATE INDEX egress_log_by_time ON egress_log (at);

CREATE TABLE knowledge_bases (
    id             INTEGER PRIMARY KEY,
    user_id        INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name           TEXT    NOT NULL,
    embedder       TEXT,     -- JSON: none / provider model / local model
    chunk_size     INTEGER NOT NULL DEFAULT 512,
    chunk_overlap  INTEGER NOT NULL DEFAULT 64,
    rerank         TEXT,     -- JSON, NULL when off
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    UNIQUE (user_id, name),
    UNIQUE (id, user_id)
);

CREATE TABLE kb_documents (
    id            INTEGER PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kb_id         INTEGER NOT NULL,
    source        TEXT    NOT NULL,
    kind          TEXT,
    status        TEXT    NOT NULL CHECK (status IN ('queued', 'parsing', 'embedding', 'ready', 'failed')),
    error         TEXT,
    bytes         INTEGER,
    content_hash  TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    UNIQUE (id, user_id),
    FOREIGN KEY (kb_id, user_id) REFERENCES knowledge_bases (id, user_id) ON DELETE CASCADE
);
CREATE INDEX kb_documents_by_kb ON kb_documents (kb_id);

CREATE TABLE kb_chunks (
    id               INTEGER PRIMARY KEY,
    user_id          INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    document_id      INTEGER NOT NULL,
    position         INTEGER NOT NULL,
    text             TEXT    NOT NULL,
    byte_start       INTEGER NOT NULL,
    byte_end         INTEGER NOT NULL,
    page             INTEGER,
    heading_path     TEXT,
    token_count      INTEGER,
    embedding        BLOB,
    embedding_model  TEXT,
    created_at       INTEGER NOT NULL,
    FOREIGN KEY (document_id, user_id) REFERENCES kb_documents (id, user_id) ON DELETE CASCADE
);
CREATE INDEX kb_chunks_by_document ON kb_chunks (document_id, position);

CREATE TABLE assistant_knowledge_bases (
    assistant_id  INTEGER NOT NULL,
    kb_id         INTEGER NOT NULL,
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (assistant_id, kb_id),
    FOREIGN KEY (assistant_id, user_id) REFERENCES assistants (id, user_id) ON DELETE CASCADE,
    FOREIGN KEY (kb_id, user_id) REFERENCES knowledge_bases (id, user_id) ON DELETE CASCADE
);
