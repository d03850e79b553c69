//! The egress ledger's vocabulary (promise L3).
//!
//! Every request that leaves the machine produces one [`EgressEntry`]: when, which host
//! and port, why, how many bytes, and how it ended. Nothing else: no path, no query
//! string, no header, no body. The type has no field that could carry content, which is
//! the point.

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
    /// `ok`, or a short error class such as `connect`, `timeout`, `tls`, `cut`.
    pub outcome: String,
    /// Whether it went through a proxy (and which host the proxy was).
    pub via_proxy: Option<String>,
    /// Wall time from start to end of the body.
    pub duration_ms: u64,
}

/// Where the HTTP client reports requests. Implementations must not block: the client
/// calls this on its hot path and from `Drop`.
pub trait EgressSink: Send + Sync {
    /// Records one finished (or failed, or abandoned) request.
    fn record(&self, entry: EgressEntry);
}
