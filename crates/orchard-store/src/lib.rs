//! `orchard-store`: where Orchard keeps things.
//!
//! The traits in this crate are the seam between the application and the database:
//! services hold an `Arc<dyn Store>` and never see SQL. Every method that reads or
//! changes a person's data takes that person's [`UserId`] and filters by it in the
//! query itself, so a caller that forgets the owner does not compile, and a caller that
//! passes the wrong owner finds nothing.
//!
//! [`sqlite::SqliteStore`] is the implementation used by the local studio: one file,
//! WAL, foreign keys on, migrations embedded in the binary and a backup taken before
//! any migration touches an existing database.

mod error;
pub mod sqlite;

use async_trait::async_trait;
use orchard_core::assistant::{Assistant, AssistantFields};
use orchard_core::egress::EgressEntry;
use orchard_core::knowledge::{
    ChunkLocation, DocStatus, Document, EmbedderSpec, KnowledgeBase, Passage, RerankSpec,
};
use orchard_core::message::{
    Block, BranchPage, Folder, Message, MessageStatus, ModelSnapshot, Role, SearchHit, Timings,
    Topic, TopicArchive, TopicSummary, Usage,
};
use orchard_core::provider::{KeyInfo, KeyStatus, Model, Protocol, Provider, Quirks};
pub use orchard_core::secret::SealedKey;
use orchard_core::{
    AssistantId, ChunkId, DocumentId, FolderId, KeyId, KnowledgeBaseId, MessageId, ProviderId,
    Timestamp, TopicId, User, UserId,
};

pub use error::StoreError;

/// Result of store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A provider to create.
#[derive(Clone, Debug)]
pub struct NewProvider {
    /// Name the person will use.
    pub name: String,
    /// Catalogue entry it came from.
    pub catalogue_id: Option<String>,
    /// Wire protocol.
    pub protocol: Protocol,
    /// Base URL as given.
    pub base_url: String,
    /// Protocol quirks.
    pub quirks: Quirks,
}

/// A stored key: what may be shown, and the sealed secret for the vault to open.
#[derive(Clone, Debug)]
pub struct StoredKey {
    /// Displayable facts.
    pub info: KeyInfo,
    /// The encrypted key.
    pub sealed: SealedKey,
}

/// A model to record for a provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewModel {
    /// The provider's id for it.
    pub model_id: String,
    /// Name to show.
    pub display_name: Option<String>,
    /// Owning organisation, as the provider says.
    pub owned_by: Option<String>,
}

/// A message to add to a topic.
#[derive(Clone, Debug)]
pub struct NewMessage {
    /// Topic.
    pub topic_id: TopicId,
    /// Parent in the tree; `None` for a first message.
    pub parent_id: Option<MessageId>,
    /// Author.
    pub role: Role,
    /// Initial status.
    pub status: MessageStatus,
    /// Model that answers (assistant messages).
    pub model: Option<ModelSnapshot>,
    /// Content.
    pub blocks: Vec<Block>,
    /// Instance id of the process that will keep writing it (open messages only).
    pub writer: Option<String>,
}

/// New state of an open message (a reply being streamed).
#[derive(Clone, Debug)]
pub struct MessageUpdate {
    /// Status after this update; a closed status also clears the writer.
    pub status: MessageStatus,
    /// The whole content so far (replaces the previous blocks).
    pub blocks: Vec<Block>,
    /// Token counts, if known.
    pub usage: Usage,
    /// Durations, if known.
    pub timings: Timings,
    /// Finish reason, if known.
    pub finish_reason: Option<String>,
}

/// Changes to a topic's metadata; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct TopicPatch {
    /// New title.
    pub title: Option<String>,
    /// Pin or unpin.
    pub pinned: Option<bool>,
    /// Move into a folder (`Some(None)` takes it out of any folder).
    pub folder: Option<Option<FolderId>>,
    /// Use an assistant (`Some(None)` for none).
    pub assistant: Option<Option<AssistantId>>,
    /// Replace its tags with these names (tags are created as needed; unused ones
    /// remain for reuse).
    pub tags: Option<Vec<String>>,
}

/// People.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// The local studio's one person, created on first use.
    async fn ensure_local_user(&self) -> Result<User>;
}

/// Providers, their keys and models.
#[async_trait]
pub trait ProviderStore: Send + Sync {
    /// Adds a provider; fails with [`StoreError::Conflict`] if the name is taken.
    async fn create_provider(&self, user: UserId, new: &NewProvider) -> Result<Provider>;
    /// All of a person's providers, by name.
    async fn providers(&self, user: UserId) -> Result<Vec<Provider>>;
    /// One provider by name (case-sensitive).
    async fn provider_by_name(&self, user: UserId, name: &str) -> Result<Option<Provider>>;
    /// Removes a provider with its keys and models. Messages keep their model snapshot.
    async fn delete_provider(&self, user: UserId, id: ProviderId) -> Result<()>;
    /// Adds a sealed key after the existing ones.
    async fn add_key(
        &self,
        user: UserId,
        provider: ProviderId,
        sealed: &SealedKey,
        mask: &str,
    ) -> Result<KeyId>;
    /// A provider's keys in order of use.
    async fn keys(&self, user: UserId, provider: ProviderId) -> Result<Vec<StoredKey>>;
    /// Removes one key.
    async fn delete_key(&self, user: UserId, key: KeyId) -> Result<()>;
    /// Records the last observed health of a key; [`StoreError::NotFound`] if it is not
    /// the person's.
    async fn set_key_status(
        &self,
        user: UserId,
        key: KeyId,
        status: KeyStatus,
        reason: Option<&str>,
    ) -> Result<()>;
    /// Marks a key rate-limited until `until` (its status is kept).
    async fn rest_key(&self, user: UserId, key: KeyId, until: Timestamp) -> Result<()>;
    /// Records that a key is being used now (for least-recently-used rotation).
    async fn touch_key(&self, user: UserId, key: KeyId) -> Result<()>;
    /// Sets the capabilities the person chose for one model (adding the model if it is
    /// not known yet).
    async fn set_model_capabilities(
        &self,
        user: UserId,
        provider: ProviderId,
        model_id: &str,
        caps: &orchard_core::capabilities::CapabilityOverride,
    ) -> Result<()>;
    /// Records models fetched from the provider (new ones added, known ones refreshed).
    async fn upsert_models(
        &self,
        user: UserId,
        provider: ProviderId,
        models: &[NewModel],
    ) -> Result<()>;
    /// Shows or hides a model in pickers; [`StoreError::NotFound`] if the provider does
    /// not know it.
    async fn set_model_enabled(
        &self,
        user: UserId,
        provider: ProviderId,
        model_id: &str,
        enabled: bool,
    ) -> Result<()>;
    /// A provider's known models.
    async fn models(&self, user: UserId, provider: ProviderId) -> Result<Vec<Model>>;
}

/// Topics and their message trees.
#[async_trait]
pub trait ConversationStore: Send + Sync {
    /// Starts a topic.
    async fn create_topic(&self, user: UserId, title: &str) -> Result<Topic>;
    /// One topic; [`StoreError::NotFound`] if it does not exist or is not the person's.
    async fn topic(&self, user: UserId, id: TopicId) -> Result<Topic>;
    /// The most recently changed topic, if any.
    async fn latest_topic(&self, user: UserId) -> Result<Option<Topic>>;
    /// All topics, pinned first, then most recently changed first.
    async fn topics(&self, user: UserId) -> Result<Vec<TopicSummary>>;
    /// Adds a message (in one transaction with its blocks) and makes it the topic's
    /// current leaf.
    async fn append_message(&self, user: UserId, new: &NewMessage) -> Result<Message>;
    /// Updates an open message. Fails with [`StoreError::NotFound`] if it is not the
    /// person's, and with [`StoreError::Conflict`] if it is already closed (so a late
    /// writer cannot overwrite a recovered or finished message).
    async fn update_open_message(
        &self,
        user: UserId,
        id: MessageId,
        update: &MessageUpdate,
    ) -> Result<()>;
    /// Saves the progress of many open messages in one transaction, so hundreds of
    /// answers streaming at once cost one commit, not one each. Entry `i` of the result
    /// says whether update `i` was written; a closed, missing or foreign message is
    /// skipped (false), never overwritten.
    async fn update_open_messages(
        &self,
        updates: &[(UserId, MessageId, MessageUpdate)],
    ) -> Result<Vec<bool>>;
    /// One message.
    async fn message(&self, user: UserId, id: MessageId) -> Result<Message>;
    /// The current branch of a topic, from its first message to its current leaf.
    async fn branch(&self, user: UserId, topic: TopicId) -> Result<Vec<Message>>;
    /// The branch ending at `leaf`, from the topic's first message. Unlike
    /// [`ConversationStore::branch`] this does not depend on the topic's current leaf, which
    /// another process may move at any moment.
    async fn branch_to(&self, user: UserId, leaf: MessageId) -> Result<Vec<Message>>;

    /// Up to `limit` messages of the branch ending at `leaf`, walking towards the root
    /// and starting at `before`'s parent when given (the next older page), returned
    /// oldest first with their siblings. Costs O(limit), not O(length of the branch).
    async fn branch_page(
        &self,
        user: UserId,
        leaf: MessageId,
        before: Option<MessageId>,
        limit: usize,
    ) -> Result<BranchPage>;
    /// Every message of a topic, all branches, parents before children.
    async fn topic_messages(&self, user: UserId, topic: TopicId) -> Result<Vec<Message>>;
    /// Makes the branch through `message` current: the topic's current leaf becomes the
    /// leaf reached by following the newest child at each level below `message` (or
    /// `message` itself). Returns it. One lookup per level, whatever the subtree's size.
    async fn switch_branch(&self, user: UserId, message: MessageId) -> Result<MessageId>;
    /// Deletes a message and everything below it. If the current leaf was among them,
    /// the branch through the parent becomes current.
    async fn delete_message(&self, user: UserId, id: MessageId) -> Result<()>;
    /// Changes a topic's metadata.
    async fn update_topic(&self, user: UserId, id: TopicId, patch: &TopicPatch) -> Result<Topic>;
    /// Deletes a topic and all its messages.
    async fn delete_topic(&self, user: UserId, id: TopicId) -> Result<()>;
    /// Searches the text of every message of the person (FTS5 with the trigram
    /// tokenizer, so CJK text matches; queries shorter than three characters fall back
    /// to a substring scan). Newest first.
    async fn search_messages(
        &self,
        user: UserId,
        query: &str,
        limit: usize,
    ) -> Result<Vec<SearchHit>>;
    /// Stores whole topics (an import) in one transaction: all of them or none.
    async fn import_topics(&self, user: UserId, topics: &[TopicArchive]) -> Result<Vec<TopicId>>;
}

/// Assistants (prompt presets).
#[async_trait]
pub trait AssistantStore: Send + Sync {
    /// Adds an assistant.
    async fn create_assistant(&self, user: UserId, fields: &AssistantFields) -> Result<Assistant>;
    /// All of a person's assistants, by name.
    async fn assistants(&self, user: UserId) -> Result<Vec<Assistant>>;
    /// One assistant.
    async fn assistant(&self, user: UserId, id: AssistantId) -> Result<Assistant>;
    /// Replaces an assistant's settings.
    async fn update_assistant(
        &self,
        user: UserId,
        id: AssistantId,
        fields: &AssistantFields,
    ) -> Result<Assistant>;
    /// Deletes an assistant; its topics keep their messages and lose the link.
    async fn delete_assistant(&self, user: UserId, id: AssistantId) -> Result<()>;
}

/// Folders that group topics.
#[async_trait]
pub trait FolderStore: Send + Sync {
    /// Adds a folder; [`StoreError::Conflict`] if the name is taken.
    async fn create_folder(&self, user: UserId, name: &str) -> Result<Folder>;
    /// All folders, by name.
    async fn folders(&self, user: UserId) -> Result<Vec<Folder>>;
    /// Renames a folder.
    async fn rename_folder(&self, user: UserId, id: FolderId, name: &str) -> Result<()>;
    /// Deletes a folder; its topics stay, outside any folder.
    async fn delete_folder(&self, user: UserId, id: FolderId) -> Result<()>;
}

/// Per-person settings (small key/value pairs such as the last used model).
#[async_trait]
pub trait SettingsStore: Send + Sync {
    /// A setting's value.
    async fn setting(&self, user: UserId, key: &str) -> Result<Option<String>>;
    /// Sets a setting.
    async fn set_setting(&self, user: UserId, key: &str, value: &str) -> Result<()>;
}

/// The egress ledger (promise L3). It belongs to the installation, not to a person.
#[async_trait]
pub trait EgressStore: Send + Sync {
    /// Records a request about to leave; returns its row id. Durable when it returns.
    async fn begin_egress(&self, entry: &EgressEntry) -> Result<i64>;
    /// Records how requests ended, in one transaction.
    async fn finish_egress(&self, done: &[(i64, EgressEntry)]) -> Result<()>;
    /// Entries at or after `since`, oldest first.
    async fn egress_since(&self, since: Timestamp) -> Result<Vec<EgressEntry>>;
}

/// Crash recovery. These methods cross owners on purpose: they only close messages whose
/// writing process died, whoever they belong to, and never read content.
#[async_trait]
pub trait RecoveryStore: Send + Sync {
    /// Instance ids of processes with open (pending/streaming) messages.
    async fn open_writers(&self) -> Result<Vec<String>>;
    /// Marks every open message of `writer` as interrupted; returns how many.
    async fn interrupt_writer(&self, writer: &str) -> Result<u64>;
}

/// A passage to store, as the chunker made it.
#[derive(Clone, Debug)]
pub struct NewChunk {
    /// The passage (with its overlap).
    pub text: String,
    /// The text the keyword index holds (CJK characters spaced apart).
    pub search_text: String,
    /// Where it lies in the document.
    pub location: ChunkLocation,
    /// Its size in tokens (an estimate).
    pub tokens: u32,
}

/// What reading a document produced.
#[derive(Clone, Debug)]
pub struct ParsedDocument {
    /// Its title, if it has one.
    pub title: Option<String>,
    /// What it was read as.
    pub kind: String,
    /// The extracted text.
    pub text: String,
    /// Size of the source in bytes.
    pub bytes: u64,
    /// SHA-256 of the source's bytes.
    pub content_hash: String,
    /// Its passages, in order.
    pub chunks: Vec<NewChunk>,
}

/// Settings of a new knowledge base, or new settings of one.
#[derive(Clone, Debug)]
pub struct KnowledgeBaseFields {
    /// Name, unique per person.
    pub name: String,
    /// What embeds its passages.
    pub embedder: EmbedderSpec,
    /// Passage size in tokens.
    pub chunk_size: u32,
    /// Overlap in tokens.
    pub chunk_overlap: u32,
    /// Optional reranking.
    pub rerank: Option<RerankSpec>,
}

/// Knowledge bases, their documents and passages.
#[async_trait]
pub trait KnowledgeStore: Send + Sync {
    /// Adds a base; [`StoreError::Conflict`] if the name is taken.
    async fn create_knowledge_base(
        &self,
        user: UserId,
        fields: &KnowledgeBaseFields,
    ) -> Result<KnowledgeBase>;
    /// All bases, by name.
    async fn knowledge_bases(&self, user: UserId) -> Result<Vec<KnowledgeBase>>;
    /// One base.
    async fn knowledge_base(&self, user: UserId, id: KnowledgeBaseId) -> Result<KnowledgeBase>;
    /// One base, by name.
    async fn knowledge_base_named(&self, user: UserId, name: &str) -> Result<KnowledgeBase>;
    /// Replaces a base's settings. A different embedder drops the old vectors (in the
    /// same transaction) and puts every document with passages back to `embedding`.
    async fn update_knowledge_base(
        &self,
        user: UserId,
        id: KnowledgeBaseId,
        fields: &KnowledgeBaseFields,
    ) -> Result<KnowledgeBase>;
    /// Deletes a base with its documents and passages.
    async fn delete_knowledge_base(&self, user: UserId, id: KnowledgeBaseId) -> Result<()>;

    /// Adds sources as `queued` documents, or puts existing documents of the same
    /// sources back to `queued` (to be read again), in one transaction; returns their
    /// ids in order.
    async fn queue_documents(
        &self,
        user: UserId,
        kb: KnowledgeBaseId,
        sources: &[(String, Option<u64>)],
    ) -> Result<Vec<DocumentId>>;
    /// [`KnowledgeStore::queue_documents`] for one source; returns the document.
    async fn queue_document(
        &self,
        user: UserId,
        kb: KnowledgeBaseId,
        source: &str,
        bytes: Option<u64>,
    ) -> Result<Document> {
        let ids = self
            .queue_documents(user, kb, &[(source.to_owned(), bytes)])
            .await?;
        match ids.first() {
            Some(id) => self.document(user, *id).await,
            None => Err(StoreError::Other("no document was queued".into())),
        }
    }
    /// Queues every document of a base and forgets what was read, so each is read and
    /// cut again (after its passage settings changed); returns how many.
    async fn requeue_all(&self, user: UserId, kb: KnowledgeBaseId) -> Result<u64>;
    /// One document.
    async fn document(&self, user: UserId, id: DocumentId) -> Result<Document>;
    /// The documents of a base, oldest first, with passage counts.
    async fn documents(&self, user: UserId, kb: KnowledgeBaseId) -> Result<Vec<Document>>;
    /// Documents of every base in one of `statuses` (to resume after a restart).
    async fn documents_in(&self, user: UserId, statuses: &[DocStatus]) -> Result<Vec<Document>>;
    /// Moves a document to `status`; a `Failed` one keeps `error`, others clear it.
    /// `Parsing` counts an attempt.
    async fn set_document_status(
        &self,
        user: UserId,
        id: DocumentId,
        status: DocStatus,
        error: Option<&str>,
    ) -> Result<()>;
    /// [`KnowledgeStore::set_document_status`] for many documents, in one transaction.
    async fn set_documents_status(
        &self,
        user: UserId,
        ids: &[DocumentId],
        status: DocStatus,
    ) -> Result<()>;
    /// Stores what reading a document produced, replacing its passages, and moves it to
    /// `next` — all in one transaction. Refuses (`Conflict`) to make a document `Ready`
    /// without passages.
    async fn store_parsed(
        &self,
        user: UserId,
        id: DocumentId,
        parsed: &ParsedDocument,
        next: DocStatus,
    ) -> Result<()> {
        self.store_read(user, &[(id, Ok(parsed.clone()))], next)
            .await
    }
    /// Stores the outcome of reading many documents in one transaction: passages of
    /// those that were read (which move to `next`), and the reason of those that
    /// failed (which move to `failed`).
    async fn store_read(
        &self,
        user: UserId,
        outcomes: &[(DocumentId, std::result::Result<ParsedDocument, String>)],
        next: DocStatus,
    ) -> Result<()>;
    /// Up to `limit` passages of a document without a vector of `model`, in order.
    async fn chunks_to_embed(
        &self,
        user: UserId,
        id: DocumentId,
        model: &str,
        limit: usize,
    ) -> Result<Vec<(ChunkId, String)>>;
    /// Stores vectors of `model` for passages, in one transaction.
    async fn store_embeddings(
        &self,
        user: UserId,
        model: &str,
        vectors: &[(ChunkId, Vec<f32>)],
    ) -> Result<()>;
    /// Every vector of `model` in a base.
    async fn base_vectors(
        &self,
        user: UserId,
        kb: KnowledgeBaseId,
        model: &str,
    ) -> Result<Vec<(ChunkId, Vec<f32>)>>;
    /// Passages of a base matching an FTS5 expression, best first, with their BM25
    /// score (higher is better).
    async fn keyword_search(
        &self,
        user: UserId,
        kb: KnowledgeBaseId,
        fts_query: &str,
        limit: usize,
    ) -> Result<Vec<(ChunkId, f64)>>;
    /// How many passages of the base `kb` there are, and in how many passages (of every
    /// base) each of `words` appears, for words as the keyword index folds them
    /// (lowercase, without accents).
    async fn word_counts(
        &self,
        user: UserId,
        kb: KnowledgeBaseId,
        words: &[String],
    ) -> Result<(u64, Vec<u64>)>;
    /// Passages by id, with their documents' source and title, in the order asked;
    /// ids that are not the person's are left out.
    async fn passages(&self, user: UserId, ids: &[ChunkId]) -> Result<Vec<Passage>>;
    /// A document's extracted text.
    async fn document_text(&self, user: UserId, id: DocumentId) -> Result<String>;
    /// Deletes a document with its passages.
    async fn delete_document(&self, user: UserId, id: DocumentId) -> Result<()>;
    /// The bases an assistant uses.
    async fn assistant_knowledge_bases(
        &self,
        user: UserId,
        assistant: AssistantId,
    ) -> Result<Vec<KnowledgeBaseId>>;
    /// Replaces the bases an assistant uses.
    async fn set_assistant_knowledge_bases(
        &self,
        user: UserId,
        assistant: AssistantId,
        bases: &[KnowledgeBaseId],
    ) -> Result<()>;
}

/// Everything the application needs from storage.
pub trait Store:
    UserStore
    + ProviderStore
    + ConversationStore
    + AssistantStore
    + FolderStore
    + SettingsStore
    + EgressStore
    + RecoveryStore
    + KnowledgeStore
{
}

impl<T> Store for T where
    T: UserStore
        + ProviderStore
        + ConversationStore
        + AssistantStore
        + FolderStore
        + SettingsStore
        + EgressStore
        + RecoveryStore
        + KnowledgeStore
{
}
