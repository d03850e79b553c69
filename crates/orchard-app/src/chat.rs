//! Sending a message and receiving the answer, crash-safely.
//!
//! Order of events, and why:
//! 1. The person's message is committed before the provider is called, so it survives
//!    whatever happens next.
//! 2. The reply row exists (status `pending`, stamped with this process's writer id)
//!    before the request leaves, so a crash at any later point leaves a visible trace.
//! 3. The reply is written on its first token and then at least every
//!    [`FLUSH_EVERY`] while text arrives, so a `kill -9` loses at most the last fraction
//!    of a second; the next start marks it `interrupted` (see [`crate::lease`]).
//! 4. Every ending is written: `done`, `error` (the reason as an error block, the text
//!    so far kept), `cancelled`, or `interrupted` if the caller drops the answer. A
//!    database that refuses a write mid-answer (locked, full) does not stop the answer:
//!    it is kept in memory and written when the database lets it.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use orchard_core::assistant::Assistant;
use orchard_core::capabilities::Capabilities;
use orchard_core::knowledge::Passage;
use orchard_core::message::{
    Block, BlockKind, Message, MessageStatus, ModelSnapshot, Role, Timings, Usage,
};
use orchard_core::model_ref::ModelRef;
use orchard_core::provider::Provider;
use orchard_core::{AssistantId, KnowledgeBaseId, MessageId, TopicId, UserId};
use orchard_llm::{
    ChatEvent, ChatMessage, ChatRequest, ChatStream, Part, ProviderError, Thinking, ToolCall,
    connect,
};
use orchard_store::{MessageUpdate, NewMessage, Store, TopicPatch};
use serde_json::json;
use tokio::time::{Instant, sleep, sleep_until};
use tokio_util::sync::CancellationToken;

use crate::attachments::{FileInput, ImageInput, file_text};
use crate::progress::ProgressWriter;
use crate::{App, AppError};

/// The longest a streamed reply goes unsaved while text is arriving.
pub const FLUSH_EVERY: Duration = Duration::from_millis(250);

/// How long to keep trying to save a finished answer while the database refuses.
const SAVE_PATIENCE: Duration = Duration::from_secs(30);

/// Setting that remembers the last model used (`PROVIDER:MODEL`).
pub const LAST_MODEL: &str = "chat.last_model";

/// Which conversation a message goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TopicChoice {
    /// Start a new topic.
    New,
    /// Continue this topic from its current leaf.
    Continue(TopicId),
}

/// A message to send.
#[derive(Clone, Debug)]
pub struct ChatInput {
    /// The model; `None` uses the last one used.
    pub model: Option<ModelRef>,
    /// Where it goes.
    pub topic: TopicChoice,
    /// A system prompt to add (stored in the topic, so later turns keep it).
    pub system: Option<String>,
    /// The message.
    pub text: String,
    /// Stream the answer (the default) or ask for it in one piece.
    pub stream: bool,
    /// Images to send with the message (refused for models that do not accept images).
    pub images: Vec<ImageInput>,
    /// A reasoning budget in tokens, for models that think.
    pub thinking_budget: Option<u32>,
    /// Knowledge bases to answer from.
    pub knowledge: Vec<KnowledgeBaseId>,
}

/// Receives the answer as it arrives (the CLI prints it; the server forwards it).
pub trait ReplyObserver: Send {
    /// More answer text.
    fn on_text(&mut self, delta: &str);
    /// More reasoning text.
    fn on_thinking(&mut self, delta: &str);
}

/// How a chat turn ended. Returned once both messages are stored, whatever the ending.
#[derive(Debug)]
pub struct ChatOutcome {
    /// The topic.
    pub topic: TopicId,
    /// The person's message.
    pub question: MessageId,
    /// The reply.
    pub reply: MessageId,
    /// `Done`, `Error` or `Cancelled`.
    pub status: MessageStatus,
    /// Why it failed, for `Error`.
    pub error: Option<AppError>,
    /// The model used.
    pub model: ModelRef,
    /// Token counts.
    pub usage: Usage,
    /// Durations.
    pub timings: Timings,
    /// The normalized finish reason (`stop`, `length`, `tool_calls`, `safety`), if any.
    pub finish: Option<String>,
}

enum End {
    Done,
    Cancelled,
    Failed(Box<AppError>),
}

/// The answer received so far.
#[derive(Clone, Default)]
struct Reply {
    text: String,
    thinking: String,
    /// The provider's signature over the thinking (sent back in later turns).
    signature: String,
    /// Thinking came in more than one block, so the one signature cannot vouch for the
    /// joined text: it is not kept (the thinking then stays out of later requests,
    /// which providers allow).
    unsigned: bool,
    tool_calls: Vec<ToolCall>,
    usage: Usage,
    finish: Option<String>,
    first_token_ms: Option<u64>,
    /// When reasoning began, and how long it lasted (until the answer's first text).
    thinking_from_ms: Option<u64>,
    thinking_ms: Option<u64>,
    /// The knowledge-base passages the model was given, numbered from 1.
    citations: Vec<Passage>,
}

impl Reply {
    fn update(
        &self,
        status: MessageStatus,
        error: Option<&str>,
        total_ms: Option<u64>,
    ) -> MessageUpdate {
        let mut blocks = Vec::new();
        if !self.thinking.is_empty() {
            let mut data = serde_json::Map::new();
            if !self.signature.is_empty() && !self.unsigned {
                data.insert("signature".into(), json!(self.signature));
            }
            if let Some(ms) = self.thinking_ms {
                data.insert("ms".into(), json!(ms));
            }
            blocks.push(Block {
                kind: BlockKind::Thinking,
                content: self.thinking.clone(),
                data: (!data.is_empty()).then(|| serde_json::Value::Object(data).to_string()),
            });
        }
        if !self.citations.is_empty() {
            blocks.push(citation_block(&self.citations));
        }
        if !self.text.is_empty() {
            blocks.push(Block::new(BlockKind::Text, self.text.clone()));
        }
        for call in &self.tool_calls {
            blocks.push(Block {
                kind: BlockKind::ToolCall,
                content: format!("{}({})", call.name, call.arguments),
                data: Some(
                    json!({"id": call.id, "name": call.name, "arguments": call.arguments})
                        .to_string(),
                ),
            });
        }
        if let Some(e) = error {
            blocks.push(Block::new(BlockKind::Error, e));
        }
        MessageUpdate {
            status,
            blocks,
            usage: self.usage,
            timings: Timings {
                first_token_ms: self.first_token_ms,
                total_ms,
            },
            finish_reason: self.finish.clone().filter(|_| !status.is_open()),
        }
    }
}

/// Passages given to the model with one question.
const MAX_PASSAGES: usize = 6;

/// The knowledge bases a question asked for (kept in its text block's data).
fn question_knowledge(m: &Message) -> Vec<KnowledgeBaseId> {
    m.blocks
        .iter()
        .filter(|b| b.kind == BlockKind::Text)
        .filter_map(|b| b.data.as_deref())
        .filter_map(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        .filter_map(|v| serde_json::from_value::<Vec<KnowledgeBaseId>>(v["knowledge"].clone()).ok())
        .flatten()
        .collect()
}

/// Where a passage is, in words: "guide.pdf, p. 3 · Setup › Keys".
pub fn passage_label(p: &Passage) -> String {
    let name = p
        .title
        .clone()
        .filter(|t| !t.trim().is_empty())
        .unwrap_or_else(|| {
            p.source
                .rsplit(['/', '\\'])
                .find(|s| !s.is_empty())
                .unwrap_or(&p.source)
                .to_owned()
        });
    let mut out = name;
    if let Some(page) = p.location.page {
        out.push_str(&format!(", p. {page}"));
    }
    if !p.location.heading_path.is_empty() {
        out.push_str(" · ");
        out.push_str(&p.location.heading_path.join(" › "));
    }
    out
}

/// The instruction and numbered passages that go to the model with the question.
fn passages_prompt(passages: &[Passage]) -> String {
    let mut out = String::from(
        "Answer using the numbered passages below from the person's own documents when they are relevant. \
         Cite each passage you use with its number in square brackets, like [1] or [2][3], right after the \
         statement it supports. If the passages do not answer the question, say so.\n",
    );
    for (i, p) in passages.iter().enumerate() {
        out.push_str(&format!(
            "\n[{}] {}\n{}\n",
            i + 1,
            passage_label(p),
            p.text.trim()
        ));
    }
    out
}

/// The block that keeps which passage each `[n]` of a reply refers to.
fn citation_block(passages: &[Passage]) -> Block {
    let list: Vec<serde_json::Value> = passages
        .iter()
        .enumerate()
        .map(|(i, p)| {
            json!({
                "n": i + 1,
                "chunk": p.id,
                "document": p.document_id,
                "label": passage_label(p),
                "source": p.source,
                "page": p.location.page,
                "headings": p.location.heading_path,
                "start": p.location.start,
                "end": p.location.end,
            })
        })
        .collect();
    Block {
        kind: BlockKind::Citation,
        content: passages
            .iter()
            .enumerate()
            .map(|(i, p)| format!("[{}] {}", i + 1, passage_label(p)))
            .collect::<Vec<_>>()
            .join("\n"),
        data: Some(serde_json::Value::Array(list).to_string()),
    }
}

/// Owns an open reply until it is closed. If the chat future is dropped mid-answer (a
/// server request whose client went away), the reply is closed as `interrupted` with the
/// text received so far, from a task, since `Drop` cannot wait.
struct ReplyGuard {
    store: Arc<dyn Store>,
    progress: ProgressWriter,
    user: UserId,
    id: MessageId,
    reply: Reply,
    closed: bool,
}

impl ReplyGuard {
    /// Hands the answer so far to the background writer; never waits for the database.
    fn save_progress(&self) {
        self.progress.put(
            self.user,
            self.id,
            self.reply.update(MessageStatus::Streaming, None, None),
        );
    }

    /// Writes the final state, retrying while the database is locked or busy. It goes
    /// through the background writer, so answers ending together share commits.
    async fn close(
        &mut self,
        status: MessageStatus,
        error: Option<&str>,
        total_ms: u64,
    ) -> Result<(), AppError> {
        let update = self.reply.update(status, error, Some(total_ms));
        let give_up = Instant::now() + SAVE_PATIENCE;
        let mut pause = Duration::from_millis(50);
        loop {
            match self
                .progress
                .finish(self.user, self.id, update.clone())
                .await
            {
                // Written, or already closed by someone else (recovered as interrupted,
                // or deleted): nothing to add either way.
                Ok(_) => {
                    self.closed = true;
                    return Ok(());
                }
                Err(e) if Instant::now() < give_up => {
                    tracing::warn!(error = %e, "could not save the answer yet; retrying");
                    sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl Drop for ReplyGuard {
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return; // The next start recovers it (the writer lease is gone with us).
        };
        self.progress.forget(self.id);
        let (store, user, id) = (self.store.clone(), self.user, self.id);
        let update = self.reply.update(MessageStatus::Interrupted, None, None);
        runtime.spawn(async move {
            if let Err(e) = store.update_open_message(user, id, &update).await {
                tracing::warn!(error = %e, "could not close an abandoned answer; the next start will");
            }
        });
    }
}

fn title_from(text: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("New topic");
    let mut title: String = line.chars().take(60).collect();
    if line.chars().count() > 60 {
        title.push('…');
    }
    title
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// What a page or the CLI asks: a new message, with the models that should answer it.
#[derive(Clone, Debug)]
pub struct Ask {
    /// Where it goes.
    pub topic: TopicChoice,
    /// The message it follows, for an existing topic; `None` continues from the topic's
    /// current leaf. A page sends the leaf it shows, so two tabs sending at once make
    /// two sibling branches instead of one interleaved one.
    pub parent: Option<MessageId>,
    /// The models that answer, each as its own sibling reply. Empty: the topic's
    /// assistant's model, else the last one used.
    pub models: Vec<ModelRef>,
    /// The assistant of a new topic.
    pub assistant: Option<AssistantId>,
    /// A system prompt to add (stored in the topic, so later turns keep it).
    pub system: Option<String>,
    /// The message.
    pub text: String,
    /// Images (refused for models that do not accept images).
    pub images: Vec<ImageInput>,
    /// Other files: their text is extracted and sent with the message.
    pub files: Vec<FileInput>,
    /// A reasoning budget in tokens, for models that think.
    pub thinking_budget: Option<u32>,
    /// Stream the answers (the default) or ask for them in one piece.
    pub stream: bool,
    /// Knowledge bases to answer from, besides the assistant's. Kept with the message,
    /// so a regenerated answer uses them too.
    pub knowledge: Vec<KnowledgeBaseId>,
}

/// A reply row, stored as `pending` and owned by this process, waiting to be answered
/// with [`App::answer`]. Dropping it unanswered leaves the row for recovery to close.
#[derive(Debug, Clone)]
pub struct PendingReply {
    /// The topic.
    pub topic: TopicId,
    /// The question it answers.
    pub question: MessageId,
    /// The reply row.
    pub reply: MessageId,
    /// The model that answers.
    pub model: ModelRef,
    target: Target,
    stream: bool,
    thinking_budget: Option<u32>,
}

/// The questions and reply rows made by [`App::ask`], [`App::regenerate`] or
/// [`App::edit_and_resend`].
#[derive(Debug)]
pub struct Asked {
    /// The topic.
    pub topic: TopicId,
    /// The question.
    pub question: MessageId,
    /// One reply per model, in the order the models were given.
    pub replies: Vec<PendingReply>,
}

#[derive(Debug, Clone)]
struct Target {
    provider: Provider,
    caps: Capabilities,
}

impl App {
    /// The model asked for, or the last one used.
    pub async fn resolve_model(&self, explicit: Option<ModelRef>) -> Result<ModelRef, AppError> {
        if let Some(m) = explicit {
            return Ok(m);
        }
        let last = self.store().setting(self.user(), LAST_MODEL).await?;
        last.and_then(|s| s.parse().ok()).ok_or_else(|| {
            AppError::new(
                "no_model_chosen",
                "no model chosen, and no model was used before",
            )
        })
    }

    /// Sends `input` and streams the answer to `observer`. Errors returned as `Err`
    /// happened before anything was stored; once the person's message is stored, every
    /// ending is returned as a [`ChatOutcome`].
    pub async fn chat(
        &self,
        input: ChatInput,
        observer: &mut dyn ReplyObserver,
        cancel: &CancellationToken,
    ) -> Result<ChatOutcome, AppError> {
        let asked = self
            .ask(Ask {
                topic: input.topic,
                parent: None,
                models: input.model.into_iter().collect(),
                assistant: None,
                system: input.system,
                text: input.text,
                images: input.images,
                files: Vec::new(),
                thinking_budget: input.thinking_budget,
                stream: input.stream,
                knowledge: input.knowledge,
            })
            .await?;
        let pending =
            asked.replies.into_iter().next().ok_or_else(|| {
                AppError::new("internal", "no reply was prepared for the question")
            })?;
        self.answer(pending, observer, cancel).await
    }

    /// Stores a new question and one pending reply per model. Everything that can be
    /// refused without a request (no model, no key, a model that cannot see images, a
    /// message longer than the model's context) is refused before anything is stored.
    pub async fn ask(&self, input: Ask) -> Result<Asked, AppError> {
        let text = input.text.trim().to_owned();
        if text.is_empty() && input.images.is_empty() && input.files.is_empty() {
            return Err(AppError::invalid("the message is empty"));
        }
        let store = self.store();
        let user = self.user();
        let existing = match input.topic {
            TopicChoice::New => None,
            TopicChoice::Continue(id) => Some(store.topic(user, id).await?),
        };
        let assistant_id = existing
            .as_ref()
            .map_or(input.assistant, |t| t.assistant_id);
        let assistant = self.assistant_of(assistant_id).await?;
        let models = self.models_for(input.models, assistant.as_ref()).await?;
        let mut targets = Vec::with_capacity(models.len());
        for model in &models {
            let target = self.target(model).await?;
            if !input.images.is_empty() && !target.caps.vision {
                return Err(lacks(model, &target.provider, "accept images", "vision"));
            }
            if input.thinking_budget.is_some() && !target.caps.reasoning {
                return Err(lacks(
                    model,
                    &target.provider,
                    "reason before answering",
                    "reasoning",
                ));
            }
            check_fits(&text, model, &target.caps)?;
            targets.push(target);
        }
        let mut blocks = Vec::new();
        if !text.is_empty() {
            let mut block = Block::new(BlockKind::Text, text.as_str());
            if !input.knowledge.is_empty() {
                for kb in &input.knowledge {
                    store.knowledge_base(user, *kb).await?;
                }
                block.data = Some(json!({ "knowledge": input.knowledge }).to_string());
            }
            blocks.push(block);
        }
        blocks.extend(self.attachment_blocks(&input.images, &input.files).await?);
        let topic = match existing {
            Some(t) => t,
            None => {
                let title = if text.is_empty() {
                    input
                        .files
                        .first()
                        .map(|f| f.name.clone())
                        .or_else(|| input.images.first().map(|i| i.name.clone()))
                        .unwrap_or_else(|| "New topic".into())
                } else {
                    title_from(&text)
                };
                let t = store.create_topic(user, &title).await?;
                if let Some(a) = assistant_id {
                    store
                        .update_topic(
                            user,
                            t.id,
                            &TopicPatch {
                                assistant: Some(Some(a)),
                                ..TopicPatch::default()
                            },
                        )
                        .await?
                } else {
                    t
                }
            }
        };
        let mut parent = input.parent.or(topic.current_message_id);
        if let Some(system) = input
            .system
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let m = store
                .append_message(
                    user,
                    &closed(
                        topic.id,
                        parent,
                        Role::System,
                        vec![Block::new(BlockKind::Text, system)],
                    ),
                )
                .await?;
            parent = Some(m.id);
        }
        let question = store
            .append_message(user, &closed(topic.id, parent, Role::User, blocks))
            .await?;
        self.open_replies(
            topic.id,
            question.id,
            models.into_iter().zip(targets).collect(),
            input.stream,
            input.thinking_budget,
        )
        .await
    }

    /// A new answer to the question of `message` (an assistant reply: its question; a
    /// question: itself), stored as a sibling of the earlier answers. `models` empty:
    /// the model of `message` if it is a reply, else the default.
    pub async fn regenerate(
        &self,
        message: MessageId,
        models: Vec<ModelRef>,
        stream: bool,
    ) -> Result<Asked, AppError> {
        let store = self.store();
        let m = store.message(self.user(), message).await?;
        let (question, own_model) = match m.role {
            Role::User => (m.id, None),
            Role::Assistant => (
                m.parent_id
                    .ok_or_else(|| AppError::invalid("this reply answers no question"))?,
                m.model.as_ref().map(|s| ModelRef {
                    provider: s.provider_name.clone(),
                    model: s.model_id.clone(),
                }),
            ),
            _ => {
                return Err(AppError::invalid(
                    "only answers and questions can be regenerated",
                ));
            }
        };
        let topic = store.topic(self.user(), m.topic_id).await?;
        let assistant = self.assistant_of(topic.assistant_id).await?;
        let models = if models.is_empty() {
            match own_model {
                Some(m) => vec![m],
                None => self.models_for(Vec::new(), assistant.as_ref()).await?,
            }
        } else {
            models
        };
        let mut pairs = Vec::new();
        for model in models {
            let target = self.target(&model).await?;
            pairs.push((model, target));
        }
        self.open_replies(topic.id, question, pairs, stream, None)
            .await
    }

    /// Stores an edited copy of the person's message `message` as its sibling (a new
    /// branch; the original stays) and answers it. Attachments are kept.
    pub async fn edit_and_resend(
        &self,
        message: MessageId,
        text: &str,
        models: Vec<ModelRef>,
        stream: bool,
    ) -> Result<Asked, AppError> {
        let store = self.store();
        let user = self.user();
        let m = store.message(user, message).await?;
        if m.role != Role::User {
            return Err(AppError::invalid("only your own messages can be edited"));
        }
        let text = text.trim();
        if text.is_empty() {
            return Err(AppError::invalid("the message is empty"));
        }
        let topic = store.topic(user, m.topic_id).await?;
        let assistant = self.assistant_of(topic.assistant_id).await?;
        let models = self.models_for(models, assistant.as_ref()).await?;
        let mut pairs = Vec::new();
        for model in models {
            let target = self.target(&model).await?;
            check_fits(text, &model, &target.caps)?;
            pairs.push((model, target));
        }
        let mut blocks = vec![Block::new(BlockKind::Text, text)];
        blocks.extend(m.blocks.into_iter().filter(|b| b.kind != BlockKind::Text));
        let question = store
            .append_message(user, &closed(topic.id, m.parent_id, Role::User, blocks))
            .await?;
        self.open_replies(topic.id, question.id, pairs, stream, None)
            .await
    }

    /// Adds a "clear context" divider after the topic's current leaf: later questions
    /// are sent without the messages above it.
    pub async fn clear_context(&self, topic: TopicId) -> Result<MessageId, AppError> {
        let store = self.store();
        let t = store.topic(self.user(), topic).await?;
        let m = store
            .append_message(
                self.user(),
                &closed(
                    topic,
                    t.current_message_id,
                    Role::System,
                    vec![Block::new(BlockKind::Divider, "")],
                ),
            )
            .await?;
        Ok(m.id)
    }

    /// The assistant a topic uses, if any.
    async fn assistant_of(&self, id: Option<AssistantId>) -> Result<Option<Assistant>, AppError> {
        Ok(match id {
            Some(id) => Some(self.store().assistant(self.user(), id).await?),
            None => None,
        })
    }

    /// The models that answer: those asked for, else the assistant's, else the last used.
    async fn models_for(
        &self,
        asked: Vec<ModelRef>,
        assistant: Option<&Assistant>,
    ) -> Result<Vec<ModelRef>, AppError> {
        if !asked.is_empty() {
            return Ok(asked);
        }
        if let Some(m) = assistant.and_then(|a| a.fields.model.as_ref()) {
            let providers = self.store().providers(self.user()).await?;
            if let Some(p) = providers.iter().find(|p| p.id == m.provider_id) {
                return Ok(vec![ModelRef {
                    provider: p.name.clone(),
                    model: m.model_id.clone(),
                }]);
            }
        }
        Ok(vec![self.resolve_model(None).await?])
    }

    /// The provider of `model`, checked to be usable (it exists and has a key if it
    /// needs one), with the model's capabilities.
    async fn target(&self, model: &ModelRef) -> Result<Target, AppError> {
        let provider = self.provider_named(&model.provider).await?;
        if self
            .store()
            .keys(self.user(), provider.id)
            .await?
            .is_empty()
            && let Some(e) = self.key_missing(&provider)
        {
            return Err(e);
        }
        let caps = self.capabilities(&provider, &model.model).await?;
        Ok(Target { provider, caps })
    }

    /// Stores one pending reply per model under `question`.
    async fn open_replies(
        &self,
        topic: TopicId,
        question: MessageId,
        targets: Vec<(ModelRef, Target)>,
        stream: bool,
        thinking_budget: Option<u32>,
    ) -> Result<Asked, AppError> {
        let store = self.store();
        let user = self.user();
        if let Some((model, _)) = targets.first()
            // Used once the question is in, even if the answer never completes. Not
            // worth failing the answer for.
            && let Err(e) = store
                .set_setting(user, LAST_MODEL, &model.to_string())
                .await
        {
            tracing::warn!(error = %e, "could not remember the last model");
        }
        let mut replies = Vec::with_capacity(targets.len());
        for (model, target) in targets {
            let reply = store
                .append_message(
                    user,
                    &NewMessage {
                        topic_id: topic,
                        parent_id: Some(question),
                        role: Role::Assistant,
                        status: MessageStatus::Pending,
                        model: Some(ModelSnapshot {
                            provider_id: Some(target.provider.id),
                            provider_name: target.provider.name.clone(),
                            model_id: model.model.clone(),
                        }),
                        blocks: Vec::new(),
                        writer: Some(self.writer_id().to_owned()),
                    },
                )
                .await?;
            replies.push(PendingReply {
                topic,
                question,
                reply: reply.id,
                model,
                target,
                stream,
                thinking_budget,
            });
        }
        Ok(Asked {
            topic,
            question,
            replies,
        })
    }

    /// Answers a pending reply: calls the provider and streams the answer into the
    /// reply row (and to `observer`) until it ends, fails or `cancel` fires.
    pub async fn answer(
        &self,
        pending: PendingReply,
        observer: &mut dyn ReplyObserver,
        cancel: &CancellationToken,
    ) -> Result<ChatOutcome, AppError> {
        let store = self.store();
        let user = self.user();
        let PendingReply {
            topic,
            question,
            reply,
            model,
            target: Target { provider, caps },
            stream,
            thinking_budget,
        } = pending;
        // From here on, every path closes the reply.
        let mut guard = ReplyGuard {
            store: store.clone(),
            progress: self.progress.clone(),
            user,
            id: reply,
            reply: Reply::default(),
            closed: false,
        };
        let started = Instant::now();
        let end = match self
            .request_for(question, &model, stream, caps.vision)
            .await
        {
            Err(e) => End::Failed(Box::new(e)),
            Ok((mut request, passages)) => {
                request.thinking_budget = thinking_budget;
                if !passages.is_empty() {
                    guard.reply.citations = passages;
                    guard.save_progress();
                }
                let request = &request;
                match self.http() {
                    Err(e) => End::Failed(Box::new(e)),
                    Ok(http) => {
                        let http = http.clone();
                        // Keys rotate and fail over, and transient failures are retried,
                        // only until the answer's first content: `prime` holds that back
                        // until then.
                        let call = self.call_provider(&provider, |endpoint| {
                            let http = http.clone();
                            async move { prime(connect(endpoint, http).chat(request).await?).await }
                        });
                        tokio::select! {
                            biased;
                            () = cancel.cancelled() => End::Cancelled,
                            result = call => match result {
                                Err(e) => End::Failed(Box::new(e)),
                                Ok(primed) => receive(primed, &mut guard, observer, cancel, started, stream).await,
                            },
                        }
                    }
                }
            }
        };

        let (status, error) = match end {
            End::Done => (MessageStatus::Done, None),
            End::Cancelled => (MessageStatus::Cancelled, None),
            End::Failed(e) => (MessageStatus::Error, Some(*e)),
        };
        let total_ms = elapsed_ms(started);
        guard
            .close(status, error.as_ref().map(|e| e.message.as_str()), total_ms)
            .await?;
        Ok(ChatOutcome {
            topic,
            question,
            reply,
            status,
            error,
            model,
            usage: guard.reply.usage,
            timings: Timings {
                first_token_ms: guard.reply.first_token_ms,
                total_ms: Some(total_ms),
            },
            finish: guard.reply.finish.clone(),
        })
    }

    /// The request answering `question`: its branch (read by id, since another process
    /// may move the topic's current leaf meanwhile), cut at the last "clear context"
    /// divider and to the assistant's context count, with the assistant's system prompt
    /// and sampling settings.
    async fn request_for(
        &self,
        question: MessageId,
        model: &ModelRef,
        stream: bool,
        vision: bool,
    ) -> Result<(ChatRequest, Vec<Passage>), AppError> {
        let store = self.store();
        let branch = store.branch_to(self.user(), question).await?;
        let topic = match branch.first() {
            Some(m) => store.topic(self.user(), m.topic_id).await?,
            None => return Err(AppError::not_found("the question is gone")),
        };
        let assistant = match topic.assistant_id {
            Some(id) => store.assistant(self.user(), id).await.ok(),
            None => None,
        };
        let context = assistant
            .as_ref()
            .and_then(|a| a.fields.context_count)
            .map(|n| n as usize);
        let mut request = self.build_request(&model.model, &branch, stream, vision, context);
        if let Some(a) = assistant {
            let prompt = a.fields.system_prompt.trim();
            if !prompt.is_empty() {
                request.system = Some(match request.system.take() {
                    Some(own) => format!("{prompt}\n\n{own}"),
                    None => prompt.to_owned(),
                });
            }
            request.temperature = a.fields.temperature.map(|t| t as f32);
            request.top_p = a.fields.top_p.map(|t| t as f32);
            request.max_tokens = a.fields.max_tokens;
        }
        let mut bases = match topic.assistant_id {
            Some(id) => store.assistant_knowledge_bases(self.user(), id).await?,
            None => Vec::new(),
        };
        let asked = branch.last();
        for kb in asked.map(question_knowledge).unwrap_or_default() {
            if !bases.contains(&kb) {
                bases.push(kb);
            }
        }
        let passages = match (bases.is_empty(), asked) {
            (false, Some(q)) => self.retrieve(&bases, &q.text()).await?,
            _ => Vec::new(),
        };
        if !passages.is_empty() {
            let context = passages_prompt(&passages);
            request.system = Some(match request.system.take() {
                Some(own) => format!("{own}\n\n{context}"),
                None => context,
            });
        }
        Ok((request, passages))
    }

    /// The best passages for `query` across `bases`, at most [`MAX_PASSAGES`].
    async fn retrieve(
        &self,
        bases: &[KnowledgeBaseId],
        query: &str,
    ) -> Result<Vec<Passage>, AppError> {
        let mut hits = Vec::new();
        for kb in bases {
            let name = self.kb(*kb).await.map(|k| k.name).unwrap_or_default();
            let found = self
                .kb_search(*kb, query, MAX_PASSAGES)
                .await
                .map_err(|e| {
                    AppError::new(
                        e.code,
                        format!(
                            "could not search the knowledge base '{name}': {}",
                            e.message
                        ),
                    )
                })?;
            hits.extend(found.hits);
        }
        hits.sort_by(|a, b| b.score.total_cmp(&a.score));
        hits.truncate(MAX_PASSAGES);
        Ok(hits.into_iter().map(|h| h.passage).collect())
    }

    /// The request for a branch: the latest system message becomes the system prompt;
    /// user and assistant turns are sent in order with their images, tool calls and
    /// signed thinking (a failed reply with nothing in it is left out; a partial one is
    /// kept, as the person saw it).
    ///
    /// Images go only to a model with `vision`; for others, and for an image whose file
    /// is gone, the message says so in words, so the conversation can go on.
    fn build_request(
        &self,
        model: &str,
        branch: &[Message],
        stream: bool,
        vision: bool,
        context: Option<usize>,
    ) -> ChatRequest {
        // Nothing above the last "clear context" divider is sent.
        let from = branch
            .iter()
            .rposition(|m| m.blocks.iter().any(|b| b.kind == BlockKind::Divider))
            .map_or(0, |i| i + 1);
        let branch = &branch[from..];
        let system = branch
            .iter()
            .rev()
            .find(|m| m.role == Role::System)
            .map(Message::text);
        let mut messages = Vec::new();
        for m in branch
            .iter()
            .filter(|m| matches!(m.role, Role::User | Role::Assistant | Role::Tool))
        {
            let mut parts = Vec::new();
            let mut tool_calls = Vec::new();
            let mut thinking = None;
            for b in &m.blocks {
                match b.kind {
                    BlockKind::Text if !b.content.trim().is_empty() => {
                        parts.push(Part::Text(b.content.clone()))
                    }
                    BlockKind::File => parts.push(Part::Text(file_text(b))),
                    BlockKind::Image if !vision => parts.push(Part::Text(format!(
                        "[image '{}' not sent: this model does not accept images]",
                        b.content
                    ))),
                    BlockKind::Image => parts.push(self.load_image(b).unwrap_or_else(|e| {
                        tracing::warn!(error = %e, "an attachment is missing");
                        Part::Text(format!("[image '{}' is no longer available]", b.content))
                    })),
                    BlockKind::ToolCall => {
                        if let Some(d) = b
                            .data
                            .as_deref()
                            .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
                        {
                            tool_calls.push(ToolCall {
                                id: d["id"].as_str().unwrap_or_default().to_owned(),
                                name: d["name"].as_str().unwrap_or_default().to_owned(),
                                arguments: d["arguments"].as_str().unwrap_or("{}").to_owned(),
                            });
                        }
                    }
                    BlockKind::Thinking => {
                        let signature = b
                            .data
                            .as_deref()
                            .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
                            .and_then(|d| d["signature"].as_str().map(str::to_owned));
                        thinking = Some(Thinking {
                            text: b.content.clone(),
                            signature,
                        });
                    }
                    _ => {}
                }
            }
            if parts.is_empty() && tool_calls.is_empty() {
                continue;
            }
            messages.push(ChatMessage {
                role: m.role,
                parts,
                tool_calls,
                tool_result_for: None,
                thinking,
            });
        }
        // The assistant's context count: the question and that many messages before it.
        if let Some(n) = context {
            let keep = n.saturating_add(1);
            if messages.len() > keep {
                messages.drain(..messages.len() - keep);
            }
        }
        ChatRequest {
            model: model.to_owned(),
            system,
            messages,
            stream,
            ..ChatRequest::default()
        }
    }
}

/// An answer whose first content has arrived (or that ended without any).
struct Primed {
    head: Vec<ChatEvent>,
    rest: ChatStream,
}

/// Reads until the first content event. A failure before it is the call's failure (so
/// it can be retried or fail over); after it, failures belong to the answer.
async fn prime(mut stream: ChatStream) -> Result<Primed, ProviderError> {
    let mut head = Vec::new();
    while let Some(item) = stream.next().await {
        let event = item?;
        let content = matches!(
            event,
            ChatEvent::TextDelta(_)
                | ChatEvent::ThinkingDelta(_)
                | ChatEvent::ThinkingSignature(_)
                | ChatEvent::ToolCallStart { .. }
        );
        head.push(event);
        if content {
            break;
        }
    }
    Ok(Primed { head, rest: stream })
}

/// Applies one event to the answer; returns whether it added content.
fn apply(
    reply: &mut Reply,
    event: ChatEvent,
    observer: &mut dyn ReplyObserver,
    started: Instant,
) -> bool {
    let content = match event {
        ChatEvent::TextDelta(t) => {
            if let Some(from) = reply.thinking_from_ms
                && reply.thinking_ms.is_none()
            {
                reply.thinking_ms = Some(elapsed_ms(started).saturating_sub(from));
            }
            observer.on_text(&t);
            reply.text.push_str(&t);
            true
        }
        ChatEvent::ThinkingDelta(t) => {
            reply
                .thinking_from_ms
                .get_or_insert_with(|| elapsed_ms(started));
            observer.on_thinking(&t);
            // Thinking after a signature is a second thinking block.
            reply.unsigned |= !reply.signature.is_empty();
            reply.thinking.push_str(&t);
            true
        }
        ChatEvent::ThinkingSignature(sig) => {
            reply.signature.push_str(&sig);
            false
        }
        ChatEvent::ToolCallStart { id, name, .. } => {
            reply.tool_calls.push(ToolCall {
                id,
                name,
                arguments: String::new(),
            });
            true
        }
        ChatEvent::ToolCallArgs { index, delta } => {
            // Indexes count calls in order of their start.
            let at = index.min(reply.tool_calls.len().saturating_sub(1));
            if let Some(call) = reply.tool_calls.get_mut(at) {
                call.arguments.push_str(&delta);
            }
            true
        }
        ChatEvent::ToolCallEnd { .. } => false,
        ChatEvent::Usage(u) => {
            reply.usage = u;
            false
        }
        ChatEvent::Finish(r) => {
            reply.finish = Some(r);
            false
        }
    };
    if content && reply.first_token_ms.is_none() {
        reply.first_token_ms = Some(elapsed_ms(started));
    }
    content
}

/// Reads the answer until it ends, is cancelled or fails, saving it as it grows.
async fn receive(
    primed: Primed,
    guard: &mut ReplyGuard,
    observer: &mut dyn ReplyObserver,
    cancel: &CancellationToken,
    started: Instant,
    streaming: bool,
) -> End {
    let Primed {
        head,
        rest: mut stream,
    } = primed;
    let mut dirty = false;
    for event in head {
        dirty |= apply(&mut guard.reply, event, observer, started);
    }
    if !streaming {
        // The whole answer is already here: keep it, whatever else happens now.
        while let Some(item) = stream.next().await {
            match item {
                Ok(event) => {
                    apply(&mut guard.reply, event, observer, started);
                }
                Err(e) => return End::Failed(Box::new(e.into())),
            }
        }
        return End::Done;
    }
    // Written on the first content, then whenever FLUSH_EVERY has passed since the last
    // write: checked after every event (so a burst cannot starve it) and by a timer (so
    // a pause does not leave text unsaved).
    let mut last_write: Option<Instant> = None;
    if dirty {
        guard.save_progress();
        dirty = false;
        last_write = Some(Instant::now());
    }
    loop {
        let due = last_write.map_or(started, |t| t + FLUSH_EVERY);
        tokio::select! {
            () = cancel.cancelled() => return End::Cancelled,
            item = stream.next() => match item {
                None => return End::Done,
                Some(Err(e)) => return End::Failed(Box::new(e.into())),
                Some(Ok(event)) => {
                    dirty |= apply(&mut guard.reply, event, observer, started);
                    if dirty && last_write.is_none_or(|t| t.elapsed() >= FLUSH_EVERY) {
                        guard.save_progress();
                        dirty = false;
                        last_write = Some(Instant::now());
                    }
                }
            },
            () = sleep_until(due), if dirty => {
                guard.save_progress();
                dirty = false;
                last_write = Some(Instant::now());
            }
        }
    }
}

/// Refusal for a model that lacks what the message needs.
fn lacks(model: &ModelRef, provider: &Provider, what: &str, flag: &str) -> AppError {
    AppError::new(
        "model_lacks_capability",
        format!(
            "the model '{}' of {} does not {what} (as far as Orchard knows); if it does, say so with `orchard provider model {} {} --{flag} on` or in Settings → Providers",
            model.model, provider.name, provider.name, model.model
        ),
    )
    .about(&provider.name)
}

/// Refuses a message that cannot fit the model's context window, naming the limit.
/// The estimate (four characters a token) is low for most text, so nothing that fits
/// is refused; the provider's own refusal covers the rest.
fn check_fits(text: &str, model: &ModelRef, caps: &Capabilities) -> Result<(), AppError> {
    let Some(limit) = caps.context else {
        return Ok(());
    };
    let estimate = text.chars().count() / 4;
    if estimate > limit as usize {
        return Err(AppError::new(
            "message_too_long",
            format!(
                "the message is about {estimate} tokens long, but the context window of '{}' is {limit} tokens; shorten it or choose a model with a larger context",
                model.model
            ),
        ));
    }
    Ok(())
}

fn closed(topic: TopicId, parent: Option<MessageId>, role: Role, blocks: Vec<Block>) -> NewMessage {
    NewMessage {
        topic_id: topic,
        parent_id: parent,
        role,
        status: MessageStatus::Done,
        model: None,
        blocks,
        writer: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_the_first_line_shortened() {
        assert_eq!(title_from("\n  Hello there \nsecond"), "Hello there");
        let long = "x".repeat(80);
        assert_eq!(title_from(&long).chars().count(), 61);
        assert!(title_from(&long).ends_with('…'));
    }

    #[test]
    fn progress_updates_stay_open_and_final_ones_carry_everything() {
        let reply = Reply {
            text: "answer".into(),
            thinking: "hmm".into(),
            finish: Some("stop".into()),
            first_token_ms: Some(7),
            ..Reply::default()
        };
        let progress = reply.update(MessageStatus::Streaming, None, None);
        assert_eq!(progress.finish_reason, None, "not finished while streaming");
        assert_eq!(progress.blocks.len(), 2);
        let last = reply.update(MessageStatus::Error, Some("cut"), Some(90));
        assert_eq!(
            last.blocks.iter().map(|b| b.kind).collect::<Vec<_>>(),
            [BlockKind::Thinking, BlockKind::Text, BlockKind::Error]
        );
        assert_eq!(
            (last.timings.first_token_ms, last.timings.total_ms),
            (Some(7), Some(90))
        );
    }
}
