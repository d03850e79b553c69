-- Knowledge bases, as the ingestion pipeline uses them.

-- The document's title and its extracted text (citations open the source at the cited
-- passage, which is a byte range of this text), and how many times it was tried.
ALTER TABLE kb_documents ADD COLUMN title TEXT;
ALTER TABLE kb_documents ADD COLUMN text TEXT;
ALTER TABLE kb_documents ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
-- A source is in a base once: adding it again refreshes that document.
CREATE UNIQUE INDEX kb_documents_source ON kb_documents (kb_id, source);
CREATE INDEX kb_documents_by_status ON kb_documents (user_id, status);

-- Passages still to embed are found without scanning the vectors.
CREATE INDEX kb_chunks_to_embed ON kb_chunks (document_id, position) WHERE embedding IS NULL;

-- Keyword search with BM25. unicode61 splits words (and folds case and accents); the
-- application writes each Chinese, Japanese or Korean character as its own word, since
-- those scripts put no spaces between words. The rowid is the passage's id. `kb` holds
-- one word naming the passage's base ('kb' and its id), so a search of one base is one
-- FTS5 query (`kb : kb7 AND (…)`) ranked and cut inside FTS5: joining every match to
-- its base before ranking took seconds at 100,000 passages. The rank ignores it.
CREATE VIRTUAL TABLE kb_chunk_search USING fts5 (
    body,
    kb,
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO kb_chunk_search (kb_chunk_search, rank) VALUES ('rank', 'bm25(1.0, 0.0)');
-- How many passages hold each word (and, through its `kb` word, how many a base has),
-- so a search can leave out words found nearly everywhere: they rank little and cost
-- the most.
CREATE VIRTUAL TABLE kb_chunk_vocab USING fts5vocab (kb_chunk_search, 'row');
CREATE TRIGGER kb_chunk_search_delete AFTER DELETE ON kb_chunks BEGIN
    DELETE FROM kb_chunk_search WHERE rowid = old.id;
END;
