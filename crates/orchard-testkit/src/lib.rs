//! Test fixtures for Orchard.
//!
//! - [`FakeProvider`]: a scriptable fake model provider that speaks every
//!   protocol Orchard talks to at once, chosen by request path: OpenAI
//!   (Chat Completions, Responses, embeddings, models), Anthropic Messages,
//!   Gemini, Ollama and Azure OpenAI, and the rerank API of Jina, Cohere
//!   and Voyage. A real HTTP/1.1 server on loopback
//!   written by hand on `tokio::net::TcpListener`, so tests control every
//!   byte: CRLF or LF framing, events split across TCP writes, keep-alives,
//!   a slow first byte, connections cut mid-stream, streams held open.
//! - [`FakeHttpProxy`] and [`FakeSocks5Proxy`]: tiny proxies that relay to
//!   one fixed upstream whatever host the client asks for.
//! - [`FakeTlsServer`]: a TLS server with a self-signed certificate, for
//!   testing that clients refuse it, and [`FakeBadTlsPeer`], a plain-HTTP
//!   server that answers a TLS handshake with `400 Bad Request` as web servers do.
//! - [`FakeBlackhole`]: an address where connecting hangs, for connect timeouts.
//! - [`FakeSite`]: a plain website (fixed pages and redirects by path), and
//!   [`FakeTripwire`]: a listener that proves nothing connected to it, for
//!   testing fetches of addresses a person gives and the guard around them.
//!
//! ```no_run
//! # async fn demo() {
//! use orchard_testkit::{Answer, ErrorReply, FakeProvider};
//!
//! let provider = FakeProvider::start().await;
//! provider.push(Answer::text(&["Hel", "lo"]).crlf().split_every(7));
//! provider.push(
//!     Answer::text(&["Sunny."])
//!         .reasoning(&["Let me ", "check."])
//!         .tool_call("get_weather", r#"{"city":"Paris"}"#),
//! );
//! provider.push(ErrorReply::rate_limited(2));
//! // ... point the client under test at provider.base_url() (OpenAI,
//! // Anthropic) or provider.root_url() (Gemini, Ollama, Azure) ...
//! let first = provider.wait_for_request(1).await;
//! assert_eq!(first.path, "/v1/chat/completions");
//! # }
//! ```
//!
//! # Endpoints
//! Generation requests pop the next queued [`Reply`] and render it in
//! their own protocol; with the queue empty they echo
//! `"echo: " + last message` (split after each space) for a known model, or
//! answer the protocol's model-not-found error. Embedding requests return
//! [`fake_embedding`] vectors for any model name (and pop a queued error,
//! never an answer).
//!
//! - Rerank (Jina, Cohere, Voyage; see [`FakeProvider::set_rerank_format`]):
//!   `POST /v1/rerank`, `POST /v2/rerank`; key `Authorization: Bearer`;
//!   scores from [`fake_relevance`]; queued errors are popped as for
//!   embeddings, and rendered in the imitated provider's error shape.
//! - OpenAI: `POST /v1/chat/completions`, `POST /v1/responses`,
//!   `POST /v1/embeddings`, `GET /v1/models`, `GET /v1/models/{id}`;
//!   key `Authorization: Bearer`.
//! - Anthropic: `POST /v1/messages`, and `GET /v1/models[/{id}]` when the
//!   request carries `anthropic-version` (or `x-api-key` without a bearer
//!   token); key `x-api-key`; `anthropic-version` is required.
//! - Gemini: `POST /v1beta/models/{m}:generateContent`,
//!   `:streamGenerateContent` (`?alt=sse` for SSE, else a streamed JSON
//!   array), `:embedContent`, `:batchEmbedContents` (also under `/v1/`),
//!   `GET /v1beta/models[/{m}]`; key `x-goog-api-key` or `?key=`.
//! - Ollama: `POST /api/chat` (NDJSON unless `"stream": false`),
//!   `POST /api/embed`, `GET /api/tags`, `GET /api/version`, `GET /`; no
//!   key unless [`FakeProvider::accept_keys`] was called (then bearer).
//! - Azure OpenAI: `POST /openai/deployments/{d}/chat/completions` and
//!   `.../embeddings` (with `?api-version=`), `POST /openai/v1/chat/completions`,
//!   `POST /openai/v1/embeddings`, `GET /openai/v1/models`; key `api-key`.
//! - Anything else: the protocol's 404 (OpenAI's `Invalid URL (METHOD /path)`
//!   outside the prefixes above).

mod anthropic;
pub mod browser;
mod embed;
mod errors;
mod gemini;
mod http;
mod json;
mod ollama;
mod openai;
mod peers;
mod proto;
mod provider;
mod proxy;
mod reply;
mod rerank;
mod site;
mod stream;
mod wire;

pub use embed::fake_embedding;
pub use peers::{FakeBadTlsPeer, FakeBlackhole, FakeTlsServer};
pub use provider::{FakeProvider, RecordedRequest};
pub use proxy::{FakeHttpProxy, FakeSocks5Proxy};
pub use reply::{Answer, ErrorKind, ErrorReply, FakeToolCall, Reply, StreamEnd, StreamShape};
pub use rerank::{RerankFormat, fake_relevance};
pub use site::{FakeSite, FakeTripwire, Page};
