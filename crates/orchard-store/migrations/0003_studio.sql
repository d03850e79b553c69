-- The web studio: 'divider' blocks, full-text search over message text, cheap sibling
-- lookups and unique folder names.

-- SQLite cannot change a CHECK constraint, so message_blocks is rebuilt with the new
-- kind. Block ids are kept (the search index below uses them as its rowids). No table
-- references message_blocks, so dropping the old one is safe with foreign keys on.
CREATE TABLE message_blocks_v3 (
    id          INTEGER PRIMARY KEY,
    message_id  INTEGER NOT NULL,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('text', 'thinking', 'citation', 'tool_call', 'image', 'file', 'error', 'divider')),
    content     TEXT    NOT NULL DEFAULT '',
    data        TEXT,
    UNIQUE (message_id, position),
    FOREIGN KEY (message_id, user_id) REFERENCES messages (id, user_id) ON DELETE CASCADE
);
INSERT INTO message_blocks_v3 (id, message_id, user_id, position, kind, content, data)
    SELECT id, message_id, user_id, position, kind, content, data FROM message_blocks;
DROP TABLE message_blocks;
ALTER TABLE message_blocks_v3 RENAME TO message_blocks;

-- Full-text search over text blocks. The trigram tokenizer matches any substring of at
-- least three characters, so Chinese or Japanese text (no spaces between words) is
-- searchable too. The index keeps no second copy of the text: FTS5 reads it by block id
-- from the view ("external content"). The view holds only text blocks, so the index's
-- own 'rebuild' and 'integrity-check' agree with what the triggers maintain.
CREATE VIEW message_text AS
    SELECT id, content FROM message_blocks WHERE kind = 'text';
CREATE VIRTUAL TABLE message_search USING fts5 (
    content,
    content = 'message_text',
    content_rowid = 'id',
    tokenize = 'trigram'
);
-- An external-content index must be told the old text to forget it.
CREATE TRIGGER message_search_insert AFTER INSERT ON message_blocks
WHEN new.kind = 'text' BEGIN
    INSERT INTO message_search (rowid, content) VALUES (new.id, new.content);
END;
CREATE TRIGGER message_search_delete AFTER DELETE ON message_blocks
WHEN old.kind = 'text' BEGIN
    INSERT INTO message_search (message_search, rowid, content) VALUES ('delete', old.id, old.content);
END;
-- Blocks are replaced, never edited, today (update_open_message deletes and re-inserts
-- them); this keeps the index right should that change.
CREATE TRIGGER message_search_update AFTER UPDATE OF id, kind, content ON message_blocks BEGIN
    INSERT INTO message_search (message_search, rowid, content)
        SELECT 'delete', old.id, old.content WHERE old.kind = 'text';
    INSERT INTO message_search (rowid, content)
        SELECT new.id, new.content WHERE new.kind = 'text';
END;
-- Index the text already stored.
INSERT INTO message_search (message_search) VALUES ('rebuild');

-- Siblings: the children of a parent in id order, and the roots of a topic.
DROP INDEX messages_by_parent;
CREATE INDEX messages_by_parent ON messages (parent_id, id);
CREATE INDEX messages_roots ON messages (topic_id, id) WHERE parent_id IS NULL;
-- Deleting a message clears topics.current_message_id (ON DELETE SET NULL); without
-- this index every deleted message would scan all topics.
CREATE INDEX topics_by_current_message ON topics (current_message_id);

-- Folder names are unique per person. Nothing created folders before this version, but
-- rename any duplicates (a hand-edited database) rather than fail the upgrade.
UPDATE folders SET name = name || ' (' || id || ')'
 WHERE EXISTS (SELECT 1 FROM folders f
                WHERE f.user_id = folders.user_id AND f.name = folders.name AND f.id < folders.id);
CREATE UNIQUE INDEX folders_by_name ON folders (user_id, name);
