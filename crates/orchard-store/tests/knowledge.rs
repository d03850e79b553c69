//! Knowledge bases against a real database file: documents and their statuses, passages
//! with the keyword index, vectors tagged by model, embedder changes, and ownership.

use orchard_core::assistant::AssistantFields;
use orchard_core::knowledge::{ChunkLocation, DocStatus, EmbedderSpec};
use orchard_core::{ChunkId, UserId};
use orchard_store::sqlite::SqliteStore;
use orchard_store::{
    AssistantStore, KnowledgeBaseFields, KnowledgeStore, NewChunk, ParsedDocument, StoreError,
};

mod common;
use common::*;

fn fields(name: &str, embedder: EmbedderSpec) -> KnowledgeBaseFields {
    KnowledgeBaseFields {
        name: name.into(),
        embedder,
        chunk_size: 256,
        chunk_overlap: 32,
        rerank: None,
    }
}

fn local() -> EmbedderSpec {
    EmbedderSpec::Local {
        model: "mini".into(),
    }
}

/// A parsed document whose passages are `texts`; `search` is the index form of each.
fn parsed(texts: &[(&str, &str)]) -> ParsedDocument {
    let mut at = 0;
    ParsedDocument {
        title: Some("Title".into()),
        kind: "markdown".into(),
        text: texts.iter().map(|t| t.0).collect::<Vec<_>>().join("\n\n"),
        bytes: 42,
        content_hash: "abc".into(),
        chunks: texts
            .iter()
            .map(|(text, search)| {
                let start = at;
                at += text.len() as u64 + 2;
                NewChunk {
                    text: (*text).into(),
                    search_text: (*search).into(),
                    location: ChunkLocation {
                        start,
                        end: start + text.len() as u64,
                        page: Some(3),
                        heading_path: vec!["Part".into(), "Section".into()],
                    },
                    tokens: 7,
                }
            })
            .collect(),
    }
}

async fn fts_rows(store: &SqliteStore) -> i64 {
    let mut c = raw(store.path()).await;
    sqlx::query_scalar("SELECT COUNT(*) FROM kb_chunk_search")
        .fetch_one(&mut c)
        .await
        .unwrap()
}

#[tokio::test]
async fn bases_are_named_uniquely_and_validated() {
    let (_dir, store, me) = fresh().await;
    let kb = store
        .create_knowledge_base(me, &fields("  Notes ", EmbedderSpec::None))
        .await
        .unwrap();
    assert_eq!(kb.name, "Notes");
    assert_eq!(kb.embedder, EmbedderSpec::None);
    let err = store
        .create_knowledge_base(me, &fields("Notes", local()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    let mut bad = fields("Other", local());
    bad.chunk_overlap = 300;
    let err = store.create_knowledge_base(me, &bad).await.unwrap_err();
    assert!(
        err.to_string().contains("smaller than the passage size"),
        "{err}"
    );
    let second = store
        .create_knowledge_base(me, &fields("Books", local()))
        .await
        .unwrap();
    assert_eq!(second.embedder, local());
    let names: Vec<_> = store
        .knowledge_bases(me)
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.name)
        .collect();
    assert_eq!(names, ["Books", "Notes"]);
    assert_eq!(
        store.knowledge_base_named(me, "Books").await.unwrap().id,
        second.id
    );
}

#[tokio::test]
async fn a_document_goes_from_queued_to_ready_and_is_found_by_keyword_including_chinese() {
    let (_dir, store, me) = fresh().await;
    let kb = store
        .create_knowledge_base(me, &fields("kb", EmbedderSpec::None))
        .await
        .unwrap();
    let doc = store
        .queue_document(me, kb.id, "/docs/orchard.md", Some(42))
        .await
        .unwrap();
    assert_eq!(doc.status, DocStatus::Queued);
    // Adding the same source again is the same document, queued again.
    let again = store
        .queue_document(me, kb.id, "/docs/orchard.md", None)
        .await
        .unwrap();
    assert_eq!(again.id, doc.id);
    assert_eq!(again.bytes, Some(42));

    // Ready without passages is refused: a document with no text is never ready.
    let err = store
        .store_parsed(me, doc.id, &parsed(&[]), DocStatus::Ready)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");

    store
        .set_document_status(me, doc.id, DocStatus::Parsing, None)
        .await
        .unwrap();
    store
        .store_parsed(
            me,
            doc.id,
            &parsed(&[
                (
                    "Apple trees need pruning in winter.",
                    "Apple trees need pruning in winter.",
                ),
                ("知识库让文档可以搜索。", "知 识 库 让 文 档 可 以 搜 索 。"),
            ]),
            DocStatus::Ready,
        )
        .await
        .unwrap();
    let doc = store.document(me, doc.id).await.unwrap();
    assert_eq!(doc.status, DocStatus::Ready);
    assert_eq!(doc.chunks, 2);
    assert_eq!(doc.title.as_deref(), Some("Title"));

    let hits = store
        .keyword_search(me, kb.id, "\"pruning\"", 10)
        .await
        .unwrap();
    assert_eq!(hits.len(), 1);
    let zh = store
        .keyword_search(me, kb.id, "\"知 识 库\"", 10)
        .await
        .unwrap();
    assert_eq!(zh.len(), 1);
    let passages = store.passages(me, &[zh[0].0, hits[0].0]).await.unwrap();
    assert_eq!(passages[0].text, "知识库让文档可以搜索。");
    assert_eq!(passages[1].location.page, Some(3));
    assert_eq!(passages[1].location.heading_path, ["Part", "Section"]);
    assert_eq!(passages[1].source, "/docs/orchard.md");
    let text = store.document_text(me, doc.id).await.unwrap();
    let loc = &passages[1].location;
    assert_eq!(
        &text[loc.start as usize..loc.end as usize],
        "Apple trees need pruning in winter."
    );

    // Reading it again replaces the passages and their index rows.
    store
        .store_parsed(
            me,
            doc.id,
            &parsed(&[("Pear trees too.", "Pear trees too.")]),
            DocStatus::Ready,
        )
        .await
        .unwrap();
    assert!(
        store
            .keyword_search(me, kb.id, "\"pruning\"", 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(fts_rows(&store).await, 1);
    store.delete_document(me, doc.id).await.unwrap();
    assert_eq!(fts_rows(&store).await, 0);
}

#[tokio::test]
async fn keyword_search_keeps_bases_apart_and_reads_only_passage_text() {
    let (_dir, store, me) = fresh().await;
    let one = store
        .create_knowledge_base(me, &fields("one", EmbedderSpec::None))
        .await
        .unwrap();
    let two = store
        .create_knowledge_base(me, &fields("two", EmbedderSpec::None))
        .await
        .unwrap();
    for (kb, text) in [(one.id, "apples in one"), (two.id, "apples in two")] {
        let doc = store.queue_document(me, kb, text, None).await.unwrap();
        store
            .store_parsed(me, doc.id, &parsed(&[(text, text)]), DocStatus::Ready)
            .await
            .unwrap();
    }
    let hits = store
        .keyword_search(me, one.id, "\"apples\"", 10)
        .await
        .unwrap();
    let texts = store
        .passages(me, &hits.iter().map(|h| h.0).collect::<Vec<_>>())
        .await
        .unwrap();
    assert_eq!(texts.len(), 1);
    assert_eq!(texts[0].text, "apples in one");
    // The word that names a base in the index is not searchable text.
    let token = format!("\"kb{}\"", one.id);
    assert!(
        store
            .keyword_search(me, one.id, &token, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn vectors_are_kept_per_model_and_a_new_embedder_drops_them() {
    let (_dir, store, me) = fresh().await;
    let kb = store
        .create_knowledge_base(me, &fields("kb", local()))
        .await
        .unwrap();
    let doc = store.queue_document(me, kb.id, "a.md", None).await.unwrap();
    store
        .store_parsed(
            me,
            doc.id,
            &parsed(&[("one", "one"), ("two", "two"), ("three", "three")]),
            DocStatus::Embedding,
        )
        .await
        .unwrap();
    let key = local().key().unwrap();
    let todo = store.chunks_to_embed(me, doc.id, &key, 2).await.unwrap();
    assert_eq!(
        todo.iter().map(|t| t.1.as_str()).collect::<Vec<_>>(),
        ["one", "two"]
    );
    store
        .store_embeddings(
            me,
            &key,
            &[(todo[0].0, vec![1.0, 0.0]), (todo[1].0, vec![0.0, -2.5])],
        )
        .await
        .unwrap();
    // Only the passage without a vector is left; the counts follow.
    let left = store.chunks_to_embed(me, doc.id, &key, 10).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].1, "three");
    assert_eq!(store.document(me, doc.id).await.unwrap().embedded, 2);
    let mut vectors = store.base_vectors(me, kb.id, &key).await.unwrap();
    vectors.sort_by_key(|v| v.0);
    assert_eq!(vectors[1].1, vec![0.0, -2.5]);
    assert!(
        store
            .base_vectors(me, kb.id, "other:model")
            .await
            .unwrap()
            .is_empty()
    );

    store
        .set_document_status(me, doc.id, DocStatus::Ready, None)
        .await
        .unwrap();
    let changed = store
        .update_knowledge_base(
            me,
            kb.id,
            &fields(
                "kb",
                EmbedderSpec::Provider {
                    provider: "openai".into(),
                    model: "text-embedding-3-small".into(),
                },
            ),
        )
        .await
        .unwrap();
    assert!(changed.embedder.sends_text_away());
    let doc = store.document(me, doc.id).await.unwrap();
    assert_eq!(doc.status, DocStatus::Embedding);
    assert_eq!(doc.embedded, 0);
    assert!(
        store
            .base_vectors(me, kb.id, &key)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .chunks_to_embed(me, doc.id, "openai:text-embedding-3-small", 10)
            .await
            .unwrap()
            .len(),
        3
    );
    // Status changes: failed keeps its reason and counts attempts; others clear it.
    store
        .set_document_status(
            me,
            doc.id,
            DocStatus::Failed,
            Some("embedding provider returned 429 after 5 retries"),
        )
        .await
        .unwrap();
    let failed = store.documents_in(me, &[DocStatus::Failed]).await.unwrap();
    assert_eq!(failed.len(), 1);
    assert!(failed[0].error.as_deref().unwrap().contains("429"));
    store
        .set_document_status(me, doc.id, DocStatus::Queued, Some("ignored"))
        .await
        .unwrap();
    assert_eq!(store.document(me, doc.id).await.unwrap().error, None);
}

#[tokio::test]
async fn another_person_sees_and_changes_none_of_it() {
    let (_dir, store, me) = fresh().await;
    let bob: UserId = second_user(&store).await;
    let kb = store
        .create_knowledge_base(me, &fields("mine", local()))
        .await
        .unwrap();
    let doc = store.queue_document(me, kb.id, "a.md", None).await.unwrap();
    store
        .store_parsed(
            me,
            doc.id,
            &parsed(&[("secret plans", "secret plans")]),
            DocStatus::Ready,
        )
        .await
        .unwrap();
    let chunk: ChunkId = store
        .keyword_search(me, kb.id, "\"secret\"", 1)
        .await
        .unwrap()[0]
        .0;
    let nf = |r: Result<(), StoreError>| matches!(r, Err(StoreError::NotFound { .. }));
    assert!(store.knowledge_bases(bob).await.unwrap().is_empty());
    assert!(store.knowledge_base(bob, kb.id).await.is_err());
    assert!(store.documents(bob, kb.id).await.is_err());
    assert!(store.document(bob, doc.id).await.is_err());
    assert!(
        store
            .queue_document(bob, kb.id, "b.md", None)
            .await
            .is_err()
    );
    assert!(matches!(
        store.keyword_search(bob, kb.id, "\"secret\"", 5).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(store.passages(bob, &[chunk]).await.unwrap().is_empty());
    assert!(store.document_text(bob, doc.id).await.is_err());
    assert!(nf(store.delete_document(bob, doc.id).await));
    assert!(nf(store.delete_knowledge_base(bob, kb.id).await));
    assert!(
        store
            .store_parsed(bob, doc.id, &parsed(&[("x", "x")]), DocStatus::Ready)
            .await
            .is_err()
    );
    store
        .store_embeddings(bob, "local:mini", &[(chunk, vec![1.0])])
        .await
        .unwrap();
    assert!(
        store
            .base_vectors(me, kb.id, "local:mini")
            .await
            .unwrap()
            .is_empty()
    );
    // An assistant of mine can use my base; bob cannot link his to mine.
    let a = store
        .create_assistant(
            me,
            &AssistantFields {
                name: "Helper".into(),
                ..AssistantFields::default()
            },
        )
        .await
        .unwrap();
    store
        .set_assistant_knowledge_bases(me, a.id, &[kb.id])
        .await
        .unwrap();
    assert_eq!(
        store.assistant_knowledge_bases(me, a.id).await.unwrap(),
        [kb.id]
    );
    assert!(
        store
            .set_assistant_knowledge_bases(bob, a.id, &[kb.id])
            .await
            .is_err()
    );
    // Deleting the base takes documents, passages and index rows with it.
    store.delete_knowledge_base(me, kb.id).await.unwrap();
    assert_eq!(fts_rows(&store).await, 0);
    assert!(
        store
            .assistant_knowledge_bases(me, a.id)
            .await
            .unwrap()
            .is_empty()
    );
}
