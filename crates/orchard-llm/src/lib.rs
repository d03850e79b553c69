//! `orchard-llm`: talking to model providers.
//!
//! Every wire protocol is an adapter behind [`ChatProvider`]; every adapter turns its
//! provider's stream into the same [`ChatEvent`]s and its provider's errors into the
//! same [`ProviderError`] kinds. Adapters never touch the database and never open a
//! connection themselves: they are handed an [`orchard_net::HttpClient`] and a
//! [`ProviderEndpoint`] whose key was already decrypted by the caller.

// ProviderError carries everything a person or a support ticket needs (status, the
// provider's code and message, request id, key mask). It travels only on the failure
// path, where its size costs nothing measurable.
#![allow(clippy::result_large_err)]

mod error;
mod openai;
pub mod sse;

use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use futures_util::Stream;
use orchard_core::message::{Role, Usage};
use orchard_core::provider::{Protocol, Quirks};
use orchard_core::secret::ApiKey;
use orchard_net::{HttpClient, Url};

pub use error::{ProviderError, ProviderErrorKind};

/// Where and how to reach one provider.
#[derive(Clone, Debug)]
pub struct ProviderEndpoint {
    /// The person's name for it (used in purposes and messages: `deepseek`).
    pub name: String,
    /// Wire protocol.
    pub protocol: Protocol,
    /// Base URL after the base-URL rule (see [`orchard_core::base_url`]).
    pub base_url: Url,
    /// The key to send, if any.
    pub key: Option<ApiKey>,
    /// Protocol quirks.
    pub quirks: Quirks,
}

/// One turn of a conversation as sent to a model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatMessage {
    /// Author.
    pub role: Role,
    /// Text.
    pub content: String,
}

/// A chat request in provider-neutral form.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChatRequest {
    /// The provider's model id.
    pub model: String,
    /// System prompt.
    pub system: Option<String>,
    /// The conversation, oldest first.
    pub messages: Vec<ChatMessage>,
    /// Sampling temperature; `None` leaves the provider's default.
    pub temperature: Option<f32>,
    /// Nucleus sampling; `None` leaves the provider's default.
    pub top_p: Option<f32>,
    /// Output token limit; `None` leaves the provider's default.
    pub max_tokens: Option<u32>,
    /// Stream the answer (true) or receive it in one piece.
    pub stream: bool,
}

/// What a provider sends back, normalized across protocols.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChatEvent {
    /// More answer text.
    TextDelta(String),
    /// More reasoning ("thinking") text.
    ThinkingDelta(String),
    /// Token counts (may arrive before or after `Finish`).
    Usage(Usage),
    /// The model finished, with the provider's reason (`stop`, `length`, …).
    Finish(String),
}

/// A stream of events; it ends after the last event, or with one error.
pub type ChatStream = Pin<Box<dyn Stream<Item = Result<ChatEvent, ProviderError>> + Send>>;

/// A model offered by a provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteModel {
    /// The id to send in requests.
    pub id: String,
    /// The owning organisation, if the provider says.
    pub owned_by: Option<String>,
}

/// A model provider.
#[async_trait]
pub trait ChatProvider: Send + Sync {
    /// Starts a chat. Resolves once the provider has accepted the request (HTTP
    /// success); errors before that (bad key, unknown model, unreachable) are returned
    /// here, errors after it arrive on the stream.
    async fn chat(&self, request: &ChatRequest) -> Result<ChatStream, ProviderError>;

    /// The provider's model list.
    async fn models(&self) -> Result<Vec<RemoteModel>, ProviderError>;
}

/// The adapter for `endpoint`'s protocol.
pub fn connect(endpoint: ProviderEndpoint, http: HttpClient) -> Arc<dyn ChatProvider> {
    match endpoint.protocol {
        Protocol::OpenAi => Arc::new(openai::OpenAiChat::new(endpoint, http)),
    }
}
