-- Orchard core schema: people, providers, assistants, topics, messages.
-- Timestamps are milliseconds since the Unix epoch (INTEGER).
-- Every user-owned row carries user_id, and every query on it filters by user_id.
-- Child rows reference their parent by (id, user_id), so the database itself refuses a
-- row attached to someone else's parent.

CREATE TABLE users (
    id          INTEGER PRIMARY KEY,
    kind        TEXT    NOT NULL CHECK (kind IN ('local', 'account')),
    nickname    TEXT    NOT NULL,
    email       TEXT,
    created_at  INTEGER NOT NULL
);
-- The local studio has exactly one person.
CREATE UNIQUE INDEX users_single_local ON users (kind) WHERE kind = 'local';

CREATE TABLE providers (
    id            INTEGER PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          TEXT    NOT NULL,
    catalogue_id  TEXT,
    protocol      TEXT    NOT NULL,
    base_url      TEXT    NOT NULL,
    quirks        TEXT    NOT NULL DEFAULT '{}',  -- JSON, see orchard_core::provider::Quirks
    headers       TEXT    NOT NULL DEFAULT '{}',  -- JSON object of extra, non-secret headers
    enabled       INTEGER NOT NULL DEFAULT 1,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    UNIQUE (user_id, name),
    UNIQUE (id, user_id)
);

-- API keys, encrypted by the vault (XChaCha20-Poly1305). Only the mask is readable.
CREATE TABLE provider_keys (
    id             INTEGER PRIMARY KEY,
    user_id        INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider_id    INTEGER NOT NULL,
    nonce          BLOB    NOT NULL,
    ciphertext     BLOB    NOT NULL,
    mask           TEXT    NOT NULL,
    position       INTEGER NOT NULL,
    status         TEXT    NOT NULL DEFAULT 'unknown' CHECK (status IN ('unknown', 'ok', 'invalid')),
    status_reason  TEXT,
    rest_until     INTEGER,
    last_used_at   INTEGER,
    created_at     INTEGER NOT NULL,
    FOREIGN KEY (provider_id, user_id) REFERENCES providers (id, user_id) ON DELETE CASCADE
);
CREATE INDEX provider_keys_by_provider ON provider_keys (provider_id, position);

CREATE TABLE models (
    id              INTEGER PRIMARY KEY,
    user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider_id     INTEGER NOT NULL,
    model_id        TEXT    NOT NULL,
    display_name    TEXT,
    owned_by        TEXT,
    capabilities    TEXT    NOT NULL DEFAULT '{}',  -- JSON: vision, reasoning, tools, embedding, rerank
    context_window  INTEGER,
    enabled         INTEGER NOT NULL DEFAULT 1,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    UNIQUE (provider_id, model_id),
    FOREIGN KEY (provider_id, user_id) REFERENCES providers (id, user_id) ON DELETE CASCADE
);

CREATE TABLE assistants (
    id             INTEGER PRIMARY KEY,
    user_id        INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name           TEXT    NOT NULL,
    emoji          TEXT,
    system_prompt  TEXT    NOT NULL DEFAULT '',
    provider_id    INTEGER REFERENCES providers (id) ON DELETE SET NULL,
    model_id       TEXT,
    temperature    REAL,     -- NULL: not sent
    top_p          REAL,     -- NULL: not sent
    max_tokens     INTEGER,  -- NULL: not sent
    context_count  INTEGER,  -- NULL: whole branch
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    UNIQUE (id, user_id)
);

CREATE TABLE folders (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    parent_id   INTEGER,
    name        TEXT    NOT NULL,
    position    INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    UNIQUE (id, user_id),
    FOREIGN KEY (parent_id, user_id) REFERENCES folders (id, user_id) ON DELETE CASCADE
);

CREATE TABLE tags (
    id       INTEGER PRIMARY KEY,
    user_id  INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name     TEXT    NOT NULL,
    UNIQUE (user_id, name),
    UNIQUE (id, user_id)
);

CREATE TABLE topics (
    id                  INTEGER PRIMARY KEY,
    user_id             INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    assistant_id        INTEGER REFERENCES assistants (id) ON DELETE SET NULL,
    folder_id           INTEGER REFERENCES folders (id) ON DELETE SET NULL,
    title               TEXT    NOT NULL,
    pinned              INTEGER NOT NULL DEFAULT 0,
    -- The leaf of the branch being shown and continued.
    current_message_id  INTEGER REFERENCES messages (id) ON DELETE SET NULL,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    UNIQUE (id, user_id)
);
CREATE INDEX topics_by_user ON topics (user_id, updated_at DESC);

CREATE TABLE topic_tags (
    topic_id  INTEGER NOT NULL,
    tag_id    INTEGER NOT NULL,
    user_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (topic_id, tag_id),
    FOREIGN KEY (topic_id, user_id) REFERENCES topics (id, user_id) ON DELETE CASCADE,
    FOREIGN KEY (tag_id, user_id) REFERENCES tags (id, user_id) ON DELETE CASCADE
);

-- Messages form a tree per topic. Siblings are alternative answers or edited questions.
CREATE TABLE messages (
    id                INTEGER PRIMARY KEY,
    user_id           INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    topic_id          INTEGER NOT NULL,
    parent_id         INTEGER,
    role              TEXT    NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool')),
    status            TEXT    NOT NULL CHECK (status IN ('pending', 'streaming', 'done', 'error', 'interrupted', 'cancelled')),
    provider_id       INTEGER REFERENCES providers (id) ON DELETE SET NULL,
    provider_name     TEXT,
    model_id          TEXT,
    input_tokens      INTEGER,
    output_tokens     INTEGER,
    reasoning_tokens  INTEGER,
    first_token_ms    INTEGER,
    total_ms          INTEGER,
    finish_reason     TEXT,
    -- Instance id of the process writing an open (pending/streaming) message; see
    -- orchard-app's recovery: a dead writer's messages become 'interrupted'.
    writer            TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    UNIQUE (id, user_id),
    FOREIGN KEY (topic_id, user_id) REFERENCES topics (id, user_id) ON DELETE CASCADE,
    FOREIGN KEY (parent_id, user_id) REFERENCES messages (id, user_id) ON DELETE CASCADE
);
CREATE INDEX messages_by_topic ON messages (topic_id, id);
CREATE INDEX messages_by_parent ON messages (parent_id);
CREATE INDEX messages_open ON messages (writer) WHERE status IN ('pending', 'streaming');

CREATE TABLE message_blocks (
    id          INTEGER PRIMARY KEY,
    message_id  INTEGER NOT NULL,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('text', 'thinking', 'citation', 'tool_call', 'image', 'file', 'error')),
    content     TEXT    NOT NULL DEFAULT '',
    data        TEXT,
    UNIQUE (message_id, position),
    FOREIGN KEY (message_id, user_id) REFERENCES messages (id, user_id) ON DELETE CASCADE
);

CREATE TABLE settings (
    user_id  INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key      TEXT    NOT NULL,
    value    TEXT    NOT NULL,
    PRIMARY KEY (user_id, key)
);
