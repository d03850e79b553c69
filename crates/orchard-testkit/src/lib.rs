//! Test fixtures for Orchard.
//!
//! - [`FakeProvider`]: a scriptable fake OpenAI-compatible model provider, a
//!   real HTTP/1.1 server on loopback written by hand on
//!   `tokio::net::TcpListener`, so tests control every byte: CRLF or LF SSE
//!   framing, events split across TCP writes, keep-alive comments, a slow
//!   first byte, connections cut mid-stream, streams held open.
//! - [`FakeHttpProxy`] and [`FakeSocks5Proxy`]: tiny proxies that relay to
//!   one fixed upstream whatever host the client asks for.
//! - [`FakeTlsServer`]: a TLS server with a self-signed certificate, for
//!   testing that clients refuse it, and [`FakeBadTlsPeer`], a plain-HTTP
//!   server that answers a TLS handshake with `400 Bad Request` as web servers do.
//! - [`FakeBlackhole`]: an address where connecting hangs, for connect timeouts.
//!
//! ```no_run
//! # async fn demo() {
//! use orchard_testkit::{Answer, ErrorReply, FakeProvider};
//!
//! let provider = FakeProvider::start().await;
//! provider.push(Answer::text(&["Hel", "lo"]).crlf().split_every(7));
//! provider.push(ErrorReply::rate_limited(2));
//! // ... point the client under test at provider.base_url() ...
//! let first = provider.wait_for_request(1).await;
//! assert_eq!(first.path, "/v1/chat/completions");
//! # }
//! ```
//!
//! # Endpoints
//! - `POST /v1/chat/completions`: pops the next queued [`Reply`]; with the
//!   queue empty, echoes `"echo: " + last message` (split after each space)
//!   for a known model, or answers 404 `model_not_found`.
//! - `GET /v1/models`, `GET /v1/models/{id}`.
//! - Anything else: OpenAI's 404 `Invalid URL (METHOD /path)` body.

mod http;
mod peers;
mod provider;
mod proxy;
mod reply;
mod wire;

pub use peers::{FakeBadTlsPeer, FakeBlackhole, FakeTlsServer};
pub use provider::{FakeProvider, RecordedRequest};
pub use proxy::{FakeHttpProxy, FakeSocks5Proxy};
pub use reply::{Answer, ErrorReply, Reply, StreamEnd, StreamShape};
