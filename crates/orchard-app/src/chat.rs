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
use orchard_core::message::{
    Block, BlockKind, Message, MessageStatus, ModelSnapshot, Role, Timings, Usage,
};
use orchard_core::model_ref::ModelRef;
use orchard_core::{MessageId, TopicId, UserId};
use orchard_llm::{
    ChatEvent, ChatMessage, ChatRequest, ChatStream, Part, ProviderError, Thinking, ToolCall,
    connect,
};
use orchard_store::{MessageUpdate, NewMessage, Store, StoreError};
use serde_json::json;
use tokio::time::{Instant, sleep, sleep_until};
use tokio_util::sync::CancellationToken;

use crate::attachments::ImageInput;
use crate::{App, AppError};

/// The longest a streamed reply goes unsaved while text is arriving.
pub const FLUSH_EVERY: Duration = Duration::from_millis(250);

/// How long to keep trying to save a finished answer while the database refuses.
const SAVE_PATIENCE: Duration = Duration::from_secs(30);

/// Setting that remembers the last model used.
const LAST_MODEL: &str = "chat.last_model";

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
            blocks.push(Block {
                kind: BlockKind::Thinking,
                content: self.thinking.clone(),
                data: (!self.signature.is_empty() && !self.unsigned)
                    .then(|| json!({"signature": self.signature}).to_string()),
            });
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

/// Owns an open reply until it is closed. If the chat future is dropped mid-answer (a
/// server request whose client went away), the reply is closed as `interrupted` with the
/// text received so far, from a task, since `Drop` cannot wait.
struct ReplyGuard {
    store: Arc<dyn Store>,
    user: UserId,
    id: MessageId,
    reply: Reply,
    closed: bool,
    warned: bool,
}

impl ReplyGuard {
    /// Saves progress. A failure is logged and the answer goes on: the text stays in
    /// memory and the next write carries it.
    async fn save_progress(&mut self) -> bool {
        match self
            .store
            .update_open_message(
                self.user,
                self.id,
                &self.reply.update(MessageStatus::Streaming, None, None),
            )
            .await
        {
            Ok(()) => true,
            Err(e) => {
                if !std::mem::replace(&mut self.warned, true) {
                    tracing::warn!(error = %e, "could not save the answer so far; it is kept in memory and saved as soon as the database allows");
                }
                false
            }
        }
    }

    /// Writes the final state, retrying while the database is locked or busy.
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
                .store
                .update_open_message(self.user, self.id, &update)
                .await
            {
                Ok(()) => {
                    self.closed = true;
                    return Ok(());
                }
                // Already closed by someone else (recovered as interrupted): nothing to add.
                Err(StoreError::Conflict(_)) => {
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
        let text = input.text.trim().to_owned();
        if text.is_empty() {
            return Err(AppError::invalid("the message is empty"));
        }
        let model = self.resolve_model(input.model).await?;
        let provider = self.provider_named(&model.provider).await?;
        // Refusals that need no request happen before anything is stored.
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
        let lacks = |what: &str, flag: &str| {
            AppError::new(
                "model_lacks_capability",
                format!(
                    "the model '{}' of {} does not {what} (as far as Orchard knows); if it does, say so with `orchard provider model {} {} --{flag} on`",
                    model.model, provider.name, provider.name, model.model
                ),
            )
            .about(&provider.name)
        };
        if !input.images.is_empty() && !caps.vision {
            return Err(lacks("accept images", "vision"));
        }
        if input.thinking_budget.is_some() && !caps.reasoning {
            return Err(lacks("reason before answering", "reasoning"));
        }
        let http = self.http()?.clone();
        let mut blocks = vec![Block::new(BlockKind::Text, text.as_str())];
        for image in &input.images {
            blocks.push(self.save_image(image)?);
        }
        let store = self.store();
        let user = self.user();

        let topic = match input.topic {
            TopicChoice::New => store.create_topic(user, &title_from(&text)).await?,
            TopicChoice::Continue(id) => store.topic(user, id).await?,
        };
        let mut parent = topic.current_message_id;
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
        // Used once the question is in, even if the answer never completes. Not worth
        // failing the answer for.
        if let Err(e) = store
            .set_setting(user, LAST_MODEL, &model.to_string())
            .await
        {
            tracing::warn!(error = %e, "could not remember the last model");
        }
        let reply = store
            .append_message(
                user,
                &NewMessage {
                    topic_id: topic.id,
                    parent_id: Some(question.id),
                    role: Role::Assistant,
                    status: MessageStatus::Pending,
                    model: Some(ModelSnapshot {
                        provider_id: Some(provider.id),
                        provider_name: provider.name.clone(),
                        model_id: model.model.clone(),
                    }),
                    blocks: Vec::new(),
                    writer: Some(self.writer_id().to_owned()),
                },
            )
            .await?;
        // From here on, every path closes the reply.
        let mut guard = ReplyGuard {
            store: store.clone(),
            user,
            id: reply.id,
            reply: Reply::default(),
            closed: false,
            warned: false,
        };

        let started = Instant::now();
        // The branch ending at this question: another process may move the topic's
        // current leaf meanwhile, and its question must not end up in this request.
        let end = match store.branch_to(user, question.id).await {
            Err(e) => End::Failed(Box::new(e.into())),
            Ok(branch) => {
                let mut request =
                    self.build_request(&model.model, &branch, input.stream, caps.vision);
                request.thinking_budget = input.thinking_budget;
                let request = &request;
                // Keys rotate and fail over, and transient failures are retried, only
                // until the answer's first content: `prime` holds that back until then.
                let call = self.call_provider(&provider, |endpoint| {
                    let http = http.clone();
                    async move { prime(connect(endpoint, http).chat(request).await?).await }
                });
                tokio::select! {
                    biased;
                    () = cancel.cancelled() => End::Cancelled,
                    result = call => match result {
                        Err(e) => End::Failed(Box::new(e)),
                        Ok(primed) => receive(primed, &mut guard, observer, cancel, started, input.stream).await,
                    },
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
            topic: topic.id,
            question: question.id,
            reply: reply.id,
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
    ) -> ChatRequest {
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
            observer.on_text(&t);
            reply.text.push_str(&t);
            true
        }
        ChatEvent::ThinkingDelta(t) => {
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
        dirty = !guard.save_progress().await;
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
                        dirty = !guard.save_progress().await;
                        last_write = Some(Instant::now());
                    }
                }
            },
            () = sleep_until(due), if dirty => {
                dirty = !guard.save_progress().await;
                last_write = Some(Instant::now());
            }
        }
    }
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
