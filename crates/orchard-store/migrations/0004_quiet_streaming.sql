-- Answers being streamed are saved several times a second. Indexing their text for
-- search on every save rewrote the index hundreds of times for one answer, so blocks
-- now say whether they are searchable: those of open (pending or streaming) messages
-- are not, and the final save of a message writes them searchable. Existing blocks are
-- already in the index, hence the default.
ALTER TABLE message_blocks ADD COLUMN searchable INTEGER NOT NULL DEFAULT 1;

DROP TRIGGER message_search_insert;
DROP TRIGGER message_search_delete;
DROP TRIGGER message_search_update;
DROP VIEW message_text;

-- The index's own 'rebuild' and 'integrity-check' read this view, so it holds exactly
-- the rows the triggers index.
CREATE VIEW message_text AS
    SELECT id, content FROM message_blocks WHERE kind = 'text' AND searchable;

CREATE TRIGGER message_search_insert AFTER INSERT ON message_blocks
WHEN new.kind = 'text' AND new.searchable BEGIN
    INSERT INTO message_search (rowid, content) VALUES (new.id, new.content);
END;
CREATE TRIGGER message_search_delete AFTER DELETE ON message_blocks
WHEN old.kind = 'text' AND old.searchable BEGIN
    INSERT INTO message_search (message_search, rowid, content) VALUES ('delete', old.id, old.content);
END;
CREATE TRIGGER message_search_update AFTER UPDATE OF id, kind, content, searchable ON message_blocks BEGIN
    INSERT INTO message_search (message_search, rowid, content)
        SELECT 'delete', old.id, old.content WHERE old.kind = 'text' AND old.searchable;
    INSERT INTO message_search (rowid, content)
        SELECT new.id, new.content WHERE new.kind = 'text' AND new.searchable;
END;
