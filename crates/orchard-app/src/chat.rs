//! Sending a message and receiving the answer, crash-safely.
//!
//! Order of events, and why:
//! 1. The person's message is committed before the provider is called, so it survives
//!    whatever happens next.
//! 2. The reply row exists (status `pending`, stamped with this process's writer id)
//!    before the request leaves, so a crash at any later point leaves a visible trace.
//! 3. The reply is written on its first token and then at least every
//!    [`FLUSH_EVERY`], so a `kill -9` loses at most the last fraction of a second;
//!    the next start marks it `interrupted` (see [`crate::lease`]).
//! 4. Every ending is written: `done`, `error` (with the reason as an error block, the
//!    text so far kept), or `cancelled`.

use std::time::Duration;

use futures_util::StreamExt;
use orchard_core::message::{
    Block, BlockKind, Message, MessageStatus, ModelSnapshot, Role, Timings, Usage,
};
use orchard_core::model_ref::ModelRef;
use orchard_core::{MessageId, TopicId};
use orchard_llm::{ChatEvent, ChatMessage, ChatRequest, ProviderError, connect};
use orchard_store::{MessageUpdate, NewMessage};
use tokio::time::{Instant, MissedTickBehavior, interval_at};
use tokio_util::sync::CancellationToken;

use crate::{App, AppError};

/// The longest a streamed reply goes unsaved.
pub const FLUSH_EVERY: Duration = Duration::from_millis(250);

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
}

enum End {
    Done,
    Cancelled,
    Failed(Box<ProviderError>),
}

#[derive(Default)]
struct Reply {
    text: String,
    thinking: String,
    usage: Usage,
    finish: Option<String>,
    first_token_ms: Option<u64>,
}

impl Reply {
    fn blocks(&self, error: Option<&str>) -> Vec<Block> {
        let mut blocks = Vec::new();
        if !self.thinking.is_empty() {
            blocks.push(Block::new(BlockKind::Thinking, self.thinking.clone()));
        }
        if !self.text.is_empty() {
            blocks.push(Block::new(BlockKind::Text, self.text.clone()));
        }
        if let Some(e) = error {
            blocks.push(Block::new(BlockKind::Error, e));
        }
        blocks
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
    /// The model `input` asks for, or the last one used.
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
    /// ending is returned as an [`ChatOutcome`].
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
        let (endpoint, key_id) = self.endpoint_for(&provider).await?;
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
                .append_message(user, &closed(topic.id, parent, Role::System, system))
                .await?;
            parent = Some(m.id);
        }
        let question = store
            .append_message(user, &closed(topic.id, parent, Role::User, &text))
            .await?;
        store
            .set_setting(user, LAST_MODEL, &model.to_string())
            .await?;

        let request = build_request(
            &model.model,
            &store.branch(user, topic.id).await?,
            input.stream,
        );
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

        let started = Instant::now();
        let mut acc = Reply::default();
        let client = connect(endpoint, self.http().clone());
        let end = match client.chat(&request).await {
            Err(e) => {
                self.note_key_result(key_id, Some(&e)).await;
                End::Failed(Box::new(e))
            }
            Ok(mut stream) => {
                self.note_key_result(key_id, None).await;
                let mut ticker = interval_at(started + FLUSH_EVERY, FLUSH_EVERY);
                ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
                let mut dirty = false;
                let mut written_once = false;
                loop {
                    tokio::select! {
                        biased;
                        () = cancel.cancelled() => break End::Cancelled,
                        item = stream.next() => match item {
                            None => break End::Done,
                            Some(Err(e)) => break End::Failed(Box::new(e)),
                            Some(Ok(event)) => {
                                let content = match event {
                                    ChatEvent::TextDelta(t) => {
                                        observer.on_text(&t);
                                        acc.text.push_str(&t);
                                        true
                                    }
                                    ChatEvent::ThinkingDelta(t) => {
                                        observer.on_thinking(&t);
                                        acc.thinking.push_str(&t);
                                        true
                                    }
                                    ChatEvent::Usage(u) => {
                                        acc.usage = u;
                                        false
                                    }
                                    ChatEvent::Finish(r) => {
                                        acc.finish = Some(r);
                                        false
                                    }
                                };
                                if content && acc.first_token_ms.is_none() {
                                    acc.first_token_ms = Some(elapsed_ms(started));
                                }
                                dirty |= content;
                                if dirty && !written_once {
                                    self.write_progress(reply.id, &acc).await?;
                                    written_once = true;
                                    dirty = false;
                                }
                            }
                        },
                        _ = ticker.tick(), if dirty => {
                            self.write_progress(reply.id, &acc).await?;
                            dirty = false;
                        }
                    }
                }
                // Dropping the stream closes the connection, which tells the provider
                // to stop generating.
            }
        };

        let (status, error) = match end {
            End::Done => (MessageStatus::Done, None),
            End::Cancelled => (MessageStatus::Cancelled, None),
            End::Failed(e) => (MessageStatus::Error, Some(AppError::from(*e))),
        };
        let timings = Timings {
            first_token_ms: acc.first_token_ms,
            total_ms: Some(elapsed_ms(started)),
        };
        store
            .update_open_message(
                user,
                reply.id,
                &MessageUpdate {
                    status,
                    blocks: acc.blocks(error.as_ref().map(|e| e.message.as_str())),
                    usage: acc.usage,
                    timings,
                    finish_reason: acc.finish.clone(),
                },
            )
            .await?;
        // After the answer, not before the request: one fsync fewer before the first byte.
        store
            .set_setting(user, LAST_MODEL, &model.to_string())
            .await?;
        Ok(ChatOutcome {
            topic: topic.id,
            question: question.id,
            reply: reply.id,
            status,
            error,
            model,
            usage: acc.usage,
            timings,
        })
    }

    async fn write_progress(&self, reply: MessageId, acc: &Reply) -> Result<(), AppError> {
        self.store()
            .update_open_message(
                self.user(),
                reply,
                &MessageUpdate {
                    status: MessageStatus::Streaming,
                    blocks: acc.blocks(None),
                    usage: acc.usage,
                    timings: Timings {
                        first_token_ms: acc.first_token_ms,
                        total_ms: None,
                    },
                    finish_reason: None,
                },
            )
            .await?;
        Ok(())
    }
}

fn closed(topic: TopicId, parent: Option<MessageId>, role: Role, text: &str) -> NewMessage {
    NewMessage {
        topic_id: topic,
        parent_id: parent,
        role,
        status: MessageStatus::Done,
        model: None,
        blocks: vec![Block::new(BlockKind::Text, text)],
        writer: None,
    }
}

/// The request for the current branch: the latest system message becomes the system
/// prompt; user and assistant turns with text are sent in order (a failed reply with no
/// text is left out; a partial one is kept, as the person saw it).
fn build_request(model: &str, branch: &[Message], stream: bool) -> ChatRequest {
    let system = branch
        .iter()
        .rev()
        .find(|m| m.role == Role::System)
        .map(Message::text);
    let messages = branch
        .iter()
        .filter(|m| matches!(m.role, Role::User | Role::Assistant))
        .map(|m| ChatMessage {
            role: m.role,
            content: m.text(),
        })
        .filter(|m| !m.content.trim().is_empty())
        .collect();
    ChatRequest {
        model: model.to_owned(),
        system,
        messages,
        stream,
        ..ChatRequest::default()
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
}
