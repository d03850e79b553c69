//! `orchard-llm`: talking to model providers.
//!
//! Every wire protocol is an adapter behind [`ChatProvider`]; every adapter turns its
//! provider's stream into the same [`ChatEvent`]s and its provider's errors into the
//! same [`ProviderError`] kinds. Embeddings ([`EmbeddingProvider`]) and reranking
//! ([`RerankProvider`]) have adapters of their own. Adapters never touch the database
//! and never open a connection themselves: they are handed an
//! [`orchard_net::HttpClient`] and a [`ProviderEndpoint`] whose key was already
//! decrypted by the caller.

// ProviderError carries everything a person or a support ticket needs (status, the
// provider's code and message, request id, key mask). It travels only on the failure
// path, where its size costs nothing measurable.
#![allow(clippy::result_large_err)]

mod anthropic;
pub mod embed;
mod error;
mod gemini;
mod ollama;
mod openai;
pub mod rerank;
mod responses;
pub mod sse;
mod stream;
mod think;
mod transport;

#[cfg(test)]
mod wire_tests;

use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use futures_util::Stream;
use orchard_core::message::{Role, Usage};
use orchard_core::provider::{Protocol, Quirks};
use orchard_core::secret::ApiKey;
use orchard_net::{HttpClient, Url};

pub use embed::{EmbedOptions, EmbeddingProvider, EmbeddingSet, Embeddings, embed_all};
pub use error::{ProviderError, ProviderErrorKind};
pub use rerank::{RankedDocument, RerankDialect, RerankProvider, Reranking};

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

/// A piece of a message's content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    /// Text.
    Text(String),
    /// An image, sent inline in the form each protocol expects (a data URL, a base64
    /// source block, `inline_data`, or Ollama's `images`).
    Image {
        /// MIME type, such as `image/png`.
        media_type: String,
        /// The image file's bytes.
        data: Vec<u8>,
    },
}

/// A tool the model may call.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolSpec {
    /// Function name.
    pub name: String,
    /// What it does, for the model.
    pub description: String,
    /// JSON Schema of its arguments.
    pub parameters: serde_json::Value,
}

/// A call the model made to a tool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolCall {
    /// The provider's id for the call (generated for protocols without ids).
    pub id: String,
    /// Function name.
    pub name: String,
    /// Arguments as JSON text.
    pub arguments: String,
}

/// The model's reasoning in an earlier turn, with the provider's signature over it
/// (Anthropic requires both back to continue a conversation that used extended thinking).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Thinking {
    /// The reasoning text.
    pub text: String,
    /// The provider's signature, if it gave one.
    pub signature: Option<String>,
}

/// One turn of a conversation as sent to a model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatMessage {
    /// Author.
    pub role: Role,
    /// Content.
    pub parts: Vec<Part>,
    /// For assistant turns: the tool calls it made.
    pub tool_calls: Vec<ToolCall>,
    /// For tool turns: the call this is the result of.
    pub tool_result_for: Option<ToolCall>,
    /// For assistant turns: its reasoning, when the protocol wants it back.
    pub thinking: Option<Thinking>,
}

impl ChatMessage {
    /// A turn with only text.
    pub fn text(role: Role, text: impl Into<String>) -> Self {
        Self {
            role,
            parts: vec![Part::Text(text.into())],
            tool_calls: Vec::new(),
            tool_result_for: None,
            thinking: None,
        }
    }

    /// All text parts joined.
    pub fn text_content(&self) -> String {
        self.parts
            .iter()
            .filter_map(|p| match p {
                Part::Text(t) => Some(t.as_str()),
                Part::Image { .. } => None,
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The images in this turn.
    pub fn images(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.parts.iter().filter_map(|p| match p {
            Part::Image { media_type, data } => Some((media_type.as_str(), data.as_slice())),
            Part::Text(_) => None,
        })
    }
}

/// A chat request in provider-neutral form.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChatRequest {
    /// The provider's model id (for Azure, the deployment name).
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
    /// Tools the model may call.
    pub tools: Vec<ToolSpec>,
    /// Reasoning budget in tokens (Anthropic extended thinking, Gemini's thinking
    /// budget); `None` leaves the model's default.
    pub thinking_budget: Option<u32>,
}

/// What a provider sends back, normalized across protocols.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChatEvent {
    /// More answer text.
    TextDelta(String),
    /// More reasoning ("thinking") text.
    ThinkingDelta(String),
    /// The provider's signature over the reasoning (Anthropic), to be sent back with
    /// it in the next turn.
    ThinkingSignature(String),
    /// A tool call begins.
    ToolCallStart {
        /// Position of the call in this answer.
        index: usize,
        /// The call's id.
        id: String,
        /// The function called.
        name: String,
    },
    /// More of a tool call's JSON arguments.
    ToolCallArgs {
        /// Which call.
        index: usize,
        /// The next piece of the JSON text.
        delta: String,
    },
    /// A tool call's arguments are complete.
    ToolCallEnd {
        /// Which call.
        index: usize,
    },
    /// Token counts (may arrive before or after `Finish`).
    Usage(Usage),
    /// The model finished. The reason is normalized: `stop`, `length`, `tool_calls`,
    /// `safety`, or the provider's own word for anything else.
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
        Protocol::OpenAi | Protocol::Azure => Arc::new(openai::OpenAiChat::new(endpoint, http)),
        Protocol::OpenAiResponses => Arc::new(responses::ResponsesChat::new(endpoint, http)),
        Protocol::Anthropic => Arc::new(anthropic::AnthropicChat::new(endpoint, http)),
        Protocol::Gemini => Arc::new(gemini::GeminiChat::new(endpoint, http)),
        Protocol::Ollama => Arc::new(ollama::OllamaChat::new(endpoint, http)),
    }
}

/// The embeddings adapter for `endpoint`'s protocol, if it has an embeddings API
/// (Anthropic has none; OpenAI's Responses provider embeds through `/embeddings`).
pub fn connect_embedder(
    endpoint: ProviderEndpoint,
    http: HttpClient,
) -> Option<Arc<dyn EmbeddingProvider>> {
    match endpoint.protocol {
        Protocol::OpenAi | Protocol::Azure | Protocol::OpenAiResponses => {
            Some(Arc::new(openai::OpenAiChat::new(endpoint, http)))
        }
        Protocol::Gemini => Some(Arc::new(gemini::GeminiChat::new(endpoint, http))),
        Protocol::Ollama => Some(Arc::new(ollama::OllamaChat::new(endpoint, http))),
        Protocol::Anthropic => None,
    }
}

/// The rerank adapter for `endpoint`, if its protocol can have one: rerank providers
/// (Jina, Cohere, Voyage, and gateways in front of them) are configured as
/// OpenAI-compatible base URLs and answer `POST {base}/rerank`; the dialect is chosen
/// by [`RerankDialect::for_url`]. No other protocol has a rerank API.
pub fn connect_reranker(
    endpoint: ProviderEndpoint,
    http: HttpClient,
) -> Option<Arc<dyn RerankProvider>> {
    match endpoint.protocol {
        Protocol::OpenAi => {
            let dialect = RerankDialect::for_url(&endpoint.base_url);
            Some(connect_reranker_as(endpoint, http, dialect))
        }
        Protocol::OpenAiResponses
        | Protocol::Azure
        | Protocol::Anthropic
        | Protocol::Gemini
        | Protocol::Ollama => None,
    }
}

/// The rerank adapter for `endpoint` speaking `dialect`, whatever its protocol and host
/// (for a server whose host does not tell, and for tests).
pub fn connect_reranker_as(
    endpoint: ProviderEndpoint,
    http: HttpClient,
    dialect: RerankDialect,
) -> Arc<dyn RerankProvider> {
    Arc::new(rerank::RerankAdapter::new(endpoint, http, dialect))
}

/// Protocol constants callers may show or need.
pub mod constants {
    pub use crate::anthropic::ANTHROPIC_VERSION;
    pub use crate::openai::AZURE_API_VERSION;
}

/// For the benchmark only: runs a protocol's real framing and decoder over a streamed
/// body held in memory, delivered in reads of `read_size` bytes, and returns the events.
#[doc(hidden)]
pub mod bench {
    use orchard_core::provider::Protocol;

    use crate::stream::{Ctx, Decoder, Framing, Pipeline};
    use crate::{ChatEvent, ProviderError, anthropic, gemini, ollama, openai, responses};

    fn run<D: Decoder>(
        framing: Framing,
        decoder: D,
        body: &[u8],
        read_size: usize,
        out: &mut Vec<ChatEvent>,
    ) -> Result<(), ProviderError> {
        let ctx = Ctx {
            provider: "bench".into(),
            model: "bench".into(),
            key: None,
        };
        let mut p = Pipeline::new(framing, decoder, ctx);
        for piece in body.chunks(read_size.max(1)) {
            p.feed(piece);
            while let Some(e) = p.pop() {
                out.push(e?);
            }
        }
        p.eof();
        while let Some(e) = p.pop() {
            out.push(e?);
        }
        Ok(())
    }

    /// Decodes `body` as `protocol`'s stream.
    pub fn decode(
        protocol: Protocol,
        body: &[u8],
        read_size: usize,
    ) -> Result<Vec<ChatEvent>, ProviderError> {
        let mut out = Vec::new();
        match protocol {
            Protocol::OpenAi | Protocol::Azure => run(
                Framing::Sse,
                openai::OpenAiDecoder::default(),
                body,
                read_size,
                &mut out,
            )?,
            Protocol::OpenAiResponses => run(
                Framing::Sse,
                responses::ResponsesDecoder::default(),
                body,
                read_size,
                &mut out,
            )?,
            Protocol::Anthropic => run(
                Framing::Sse,
                anthropic::AnthropicDecoder::default(),
                body,
                read_size,
                &mut out,
            )?,
            Protocol::Gemini => run(
                Framing::Sse,
                gemini::GeminiDecoder::default(),
                body,
                read_size,
                &mut out,
            )?,
            Protocol::Ollama => run(
                Framing::Ndjson,
                ollama::OllamaDecoder::default(),
                body,
                read_size,
                &mut out,
            )?,
        }
        Ok(out)
    }
}
