//! Topics, messages and their typed blocks.
//!
//! Messages form a tree per topic (`parent_id`): regenerating an answer or editing a
//! question adds a sibling instead of overwriting, and the topic remembers which leaf
//! is current. A message's content is a list of typed blocks (text, thinking, …) so new
//! kinds of content do not need new columns.

use serde::{Deserialize, Serialize};

use crate::{AssistantId, FolderId, MessageId, ProviderId, Timestamp, TopicId, UserId};

/// Who wrote a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Instructions for the model.
    System,
    /// The person.
    User,
    /// The model.
    Assistant,
    /// A tool's result.
    Tool,
}

/// Lifecycle of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    /// Created, provider not answering yet.
    Pending,
    /// Content is arriving.
    Streaming,
    /// Complete.
    Done,
    /// The provider or the network failed; any text received is kept.
    Error,
    /// The process writing it died; the text received so far is kept.
    Interrupted,
    /// The person stopped it; the text received so far is kept.
    Cancelled,
}

/// Kind of a content block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockKind {
    /// Answer or question text (Markdown).
    Text,
    /// The model's reasoning, shown collapsed.
    Thinking,
    /// A citation of a knowledge-base passage.
    Citation,
    /// A tool call and its arguments.
    ToolCall,
    /// An image.
    Image,
    /// An attached file.
    File,
    /// What went wrong, in words a person can act on.
    Error,
    /// A "clear context" divider: messages above it are not sent to the model.
    Divider,
}

str_enum!(Role { System => "system", User => "user", Assistant => "assistant", Tool => "tool" });
str_enum!(MessageStatus {
    Pending => "pending", Streaming => "streaming", Done => "done", Error => "error",
    Interrupted => "interrupted", Cancelled => "cancelled",
});
str_enum!(BlockKind {
    Text => "text", Thinking => "thinking", Citation => "citation", ToolCall => "tool_call",
    Image => "image", File => "file", Error => "error", Divider => "divider",
});

impl MessageStatus {
    /// Whether the message can still change.
    pub const fn is_open(self) -> bool {
        matches!(self, MessageStatus::Pending | MessageStatus::Streaming)
    }
}

/// Token counts reported by the provider. `None` when the provider did not say.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: Option<u64>,
    /// Completion tokens (including reasoning).
    pub output_tokens: Option<u64>,
    /// Of the completion tokens, how many were reasoning.
    pub reasoning_tokens: Option<u64>,
}

/// How long an answer took.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timings {
    /// From sending the request to the first content.
    pub first_token_ms: Option<u64>,
    /// From sending the request to the end.
    pub total_ms: Option<u64>,
}

/// One piece of a message's content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Block {
    /// What it is.
    pub kind: BlockKind,
    /// Its text (for non-text kinds, a short human-readable form).
    pub content: String,
    /// Structured data for kinds that need it (JSON), such as tool-call arguments.
    pub data: Option<String>,
}

impl Block {
    /// A block with text and no structured data.
    pub fn new(kind: BlockKind, content: impl Into<String>) -> Self {
        Self {
            kind,
            content: content.into(),
            data: None,
        }
    }
}

/// Which model produced a message, frozen at the time (providers can be renamed or
/// removed later; the history must still say what answered).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelSnapshot {
    /// The provider row, while it exists.
    pub provider_id: Option<ProviderId>,
    /// The provider's name at the time.
    pub provider_name: String,
    /// The model id sent.
    pub model_id: String,
}

/// A message in a topic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Message {
    /// Row id.
    pub id: MessageId,
    /// Owner.
    pub user_id: UserId,
    /// The topic it belongs to.
    pub topic_id: TopicId,
    /// Its parent in the tree; `None` for the first message.
    pub parent_id: Option<MessageId>,
    /// Author.
    pub role: Role,
    /// Lifecycle state.
    pub status: MessageStatus,
    /// For assistant messages: which model answered.
    pub model: Option<ModelSnapshot>,
    /// Content.
    pub blocks: Vec<Block>,
    /// Token counts.
    pub usage: Usage,
    /// Durations.
    pub timings: Timings,
    /// The provider's finish reason (`stop`, `length`, …).
    pub finish_reason: Option<String>,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
}

impl Message {
    /// All text blocks joined: what a person reads as "the message".
    pub fn text(&self) -> String {
        self.blocks_of(BlockKind::Text)
    }

    /// All blocks of `kind`, joined.
    pub fn blocks_of(&self, kind: BlockKind) -> String {
        self.blocks
            .iter()
            .filter(|b| b.kind == kind)
            .map(|b| b.content.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Topic {
    /// Row id.
    pub id: TopicId,
    /// Owner.
    pub user_id: UserId,
    /// Title shown in lists.
    pub title: String,
    /// The assistant (preset) it uses, if any.
    pub assistant_id: Option<AssistantId>,
    /// Folder, if filed.
    pub folder_id: Option<FolderId>,
    /// Pinned to the top of lists.
    pub pinned: bool,
    /// The leaf of the branch currently shown and continued.
    pub current_message_id: Option<MessageId>,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
}

/// A topic as listed: with its message count and tags.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TopicSummary {
    /// The topic.
    pub topic: Topic,
    /// Messages in it (all branches).
    pub message_count: u64,
    /// Its tags, by name.
    pub tags: Vec<String>,
}

/// A message as shown in a branch: with its siblings, for `‹ 2/3 ›` navigation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BranchEntry {
    /// The message.
    pub message: Message,
    /// The ids of it and its siblings (same parent, same topic), oldest first; always
    /// contains the message itself.
    pub siblings: Vec<MessageId>,
}

impl BranchEntry {
    /// Position of the message among its siblings, from 0.
    pub fn position(&self) -> usize {
        self.siblings
            .iter()
            .position(|id| *id == self.message.id)
            .unwrap_or(0)
    }
}

/// One page of a branch, read from its leaf towards its root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BranchPage {
    /// The messages, oldest first.
    pub entries: Vec<BranchEntry>,
    /// Whether older messages exist above the first entry.
    pub has_more: bool,
}

/// A folder of topics.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Folder {
    /// Row id.
    pub id: FolderId,
    /// Name.
    pub name: String,
}

/// A search hit: one message whose text matches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SearchHit {
    /// The topic.
    pub topic_id: TopicId,
    /// Its title.
    pub topic_title: String,
    /// The message.
    pub message_id: MessageId,
    /// Who wrote it.
    pub role: Role,
    /// A short excerpt around the match. Matched text is wrapped in
    /// [`SNIPPET_START`] and [`SNIPPET_END`]; the rest is plain text (not HTML).
    pub snippet: String,
    /// When the message was written.
    pub created_at: Timestamp,
}

/// Marks the start of a match in [`SearchHit::snippet`] (a private-use character, so it
/// cannot be confused with text and is replaced by markup only after escaping).
pub const SNIPPET_START: char = '\u{E000}';
/// Marks the end of a match in [`SearchHit::snippet`].
pub const SNIPPET_END: char = '\u{E001}';

/// A whole topic, tree and all, in a form that is independent of row ids: what an
/// import produces and the JSON export holds. Messages refer to their parents by index.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TopicArchive {
    /// Title.
    pub title: String,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
    /// Every message of every branch. A parent always comes before its children.
    pub messages: Vec<ArchivedMessage>,
    /// Index of the leaf of the branch to show; `None` shows the last message.
    pub current: Option<usize>,
}

/// One message of a [`TopicArchive`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedMessage {
    /// Index of its parent in [`TopicArchive::messages`], which must be smaller than its own.
    pub parent: Option<usize>,
    /// Author.
    pub role: Role,
    /// Status (open statuses are stored as `interrupted`).
    pub status: MessageStatus,
    /// Model that answered, if known.
    pub model: Option<ArchivedModel>,
    /// Content.
    pub blocks: Vec<ArchivedBlock>,
    /// Written.
    pub created_at: Timestamp,
}

/// The model of an [`ArchivedMessage`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedModel {
    /// Provider name.
    pub provider: String,
    /// Model id.
    pub model: String,
}

/// One block of an [`ArchivedMessage`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedBlock {
    /// Kind.
    pub kind: BlockKind,
    /// Text.
    pub content: String,
    /// Structured data (JSON), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
}
