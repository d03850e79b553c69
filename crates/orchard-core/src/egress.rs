//! The egress ledger's vocabulary (promise L3).
//!
//! Every request that leaves the machine produces one [`EgressEntry`]: when, which host
//! and port, why, how many bytes, and how it ended. Nothing else: no path, no query
//! string, no header, no body. The type has no field that could carry content, which is
//! the point.

use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// Why a request was made, in a fixed vocabulary: `chat:<provider>`,
/// `models:<provider>`. Never free text from a conversation.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Purpose(String);

impl Purpose {
    /// A chat request to the named provider.
    pub fn chat(provider: &str) -> Self {
        Self(format!("chat:{provider}"))
    }

    /// An embeddings request to the named provider.
    pub fn embeddings(provider: &str) -> Self {
        Self(format!("embeddings:{provider}"))
    }

    /// A probe for a local model server (`orchard provider detect`).
    pub fn detect(what: &str) -> Self {
        Self(format!("detect:{what}"))
    }

    /// A rerank request to the named provider.
    pub fn rerank(provider: &str) -> Self {
        Self(format!("rerank:{provider}"))
    }

    /// A page or file fetched for a knowledge base.
    pub fn knowledge(base: &str) -> Self {
        Self(format!("knowledge:{base}"))
    }

    /// A local embedding model downloaded from a model hub.
    pub fn model_download(model: &str) -> Self {
        Self(format!("model-download:{model}"))
    }

    /// A model-list request to the named provider.
    pub fn models(provider: &str) -> Self {
        Self(format!("models:{provider}"))
    }

    /// Rebuilds a stored purpose.
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }

    /// The text form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One outbound request, as recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EgressEntry {
    /// When the request started.
    pub at: Timestamp,
    /// Host name or IP literal contacted (or asked of the proxy).
    pub host: String,
    /// Port.
    pub port: u16,
    /// Why.
    pub purpose: Purpose,
    /// HTTP method.
    pub method: String,
    /// Request body bytes sent.
    pub bytes_sent: u64,
    /// Response body bytes received.
    pub bytes_received: u64,
    /// HTTP status, if a response arrived.
    pub status: Option<u16>,
    /// `in-flight` until it ends; then `ok`, or a short error class such as `connect`,
    /// `first-byte-timeout`, `tls`, `cut`, or `abandoned` (the response was dropped
    /// unread, e.g. the person pressed Stop). A row left `in-flight` belongs to a request
    /// still running, or to a process that ended before it could record the end.
    pub outcome: String,
    /// Whether it went through a proxy (and which host the proxy was).
    pub via_proxy: Option<String>,
    /// Wall time from start to end of the body.
    pub duration_ms: u64,
}

/// The ledger row of a request that has been recorded as leaving.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EgressTicket(pub i64);

/// A request that could not be recorded. Such a request is not sent: "every outbound
/// request is in the ledger" is kept by refusing the ones that would not be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the request was not sent because it could not be recorded in the egress ledger ({0})")]
pub struct EgressError(pub String);

/// A boxed future, so that [`EgressSink`] can be used as a trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where the HTTP client records requests.
///
/// Write-ahead: [`EgressSink::begin`] is awaited, and must be durable, before the
/// request leaves, so even a process killed mid-request leaves its row (outcome
/// `in-flight`). [`EgressSink::finish`] fills in how it ended; it must not block, as the
/// client calls it on its hot path and from `Drop`.
pub trait EgressSink: Send + Sync {
    /// Records that `entry` is about to be sent.
    fn begin<'a>(
        &'a self,
        entry: &'a EgressEntry,
    ) -> BoxFuture<'a, Result<EgressTicket, EgressError>>;

    /// Records the final state of a request started with `begin`.
    fn finish(&self, ticket: EgressTicket, entry: EgressEntry);
}
