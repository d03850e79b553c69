//! Providers, their keys and models, as the rest of Orchard sees them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{KeyId, ModelRowId, ProviderId, Timestamp, UserId};

/// A wire protocol Orchard speaks. Several providers share one protocol; the catalogue
/// says which provider speaks which.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Protocol {
    /// OpenAI Chat Completions (`POST {base}/chat/completions`) and the many
    /// providers compatible with it.
    #[serde(rename = "openai")]
    OpenAi,
    /// OpenAI's Responses API (`POST {base}/responses`), with reasoning summaries.
    #[serde(rename = "openai-responses")]
    OpenAiResponses,
    /// Anthropic Messages (`POST {base}/messages`).
    #[serde(rename = "anthropic")]
    Anthropic,
    /// Google Gemini (`generateContent`, `streamGenerateContent`).
    #[serde(rename = "gemini")]
    Gemini,
    /// Ollama's native API (`/api/chat`, NDJSON streams).
    #[serde(rename = "ollama")]
    Ollama,
    /// Azure OpenAI (deployment URLs, `api-version`, `api-key` header).
    #[serde(rename = "azure")]
    Azure,
}

impl Protocol {
    /// Every protocol this build implements.
    pub const ALL: &'static [Protocol] = &[
        Protocol::OpenAi,
        Protocol::OpenAiResponses,
        Protocol::Anthropic,
        Protocol::Gemini,
        Protocol::Ollama,
        Protocol::Azure,
    ];

    /// The name used in config, the CLI and the database.
    pub const fn as_str(self) -> &'static str {
        match self {
            Protocol::OpenAi => "openai",
            Protocol::OpenAiResponses => "openai-responses",
            Protocol::Anthropic => "anthropic",
            Protocol::Gemini => "gemini",
            Protocol::Ollama => "ollama",
            Protocol::Azure => "azure",
        }
    }

    /// The API version segment appended to a base URL that has none, if the protocol
    /// puts one there (`/v1`, Gemini's `/v1beta`); Ollama and Azure paths start at the
    /// host.
    pub const fn version_segment(self) -> Option<&'static str> {
        match self {
            Protocol::OpenAi | Protocol::OpenAiResponses | Protocol::Anthropic => Some("v1"),
            Protocol::Gemini => Some("v1beta"),
            Protocol::Ollama | Protocol::Azure => None,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A protocol name this build does not implement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown protocol '{given}'; this Orchard speaks: {known}")]
pub struct UnknownProtocol {
    /// What was asked for.
    pub given: String,
    /// The names that would have worked, comma separated.
    pub known: String,
}

impl FromStr for Protocol {
    type Err = UnknownProtocol;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Protocol::ALL
            .iter()
            .copied()
            .find(|p| p.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownProtocol {
                given: s.to_owned(),
                known: Protocol::ALL
                    .iter()
                    .map(|p| p.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

/// Behaviour that differs between providers speaking the same protocol.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Quirks {
    /// Ask for usage in the final stream chunk (`stream_options.include_usage`).
    pub stream_usage: bool,
    /// The request field that limits output tokens.
    pub max_tokens_field: String,
}

impl Default for Quirks {
    fn default() -> Self {
        Self {
            stream_usage: true,
            max_tokens_field: "max_tokens".to_owned(),
        }
    }
}

/// A provider configured by a person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Provider {
    /// Row id.
    pub id: ProviderId,
    /// Owner.
    pub user_id: UserId,
    /// The name the person uses for it (`-m NAME:model`).
    pub name: String,
    /// The catalogue entry it was created from, if any.
    pub catalogue_id: Option<String>,
    /// Wire protocol.
    pub protocol: Protocol,
    /// Base URL as the person gave it (the rule in [`crate::base_url`] is applied on use).
    pub base_url: String,
    /// Provider-specific behaviour.
    pub quirks: Quirks,
    /// Whether chat may use it.
    pub enabled: bool,
    /// When it was added.
    pub created_at: Timestamp,
}

/// Health of one stored key, as last observed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    /// Not used yet, or last use succeeded.
    Unknown,
    /// Last use succeeded.
    Ok,
    /// The provider rejected it (401/403).
    Invalid,
}

str_enum!(KeyStatus { Unknown => "unknown", Ok => "ok", Invalid => "invalid" });

/// What may be shown about a stored key: never the key itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeyInfo {
    /// Row id.
    pub id: KeyId,
    /// The provider it belongs to.
    pub provider_id: ProviderId,
    /// Display form, such as `sk-…7f3a`.
    pub mask: String,
    /// Order of use (lowest first).
    pub position: i64,
    /// Last observed health.
    pub status: KeyStatus,
    /// The provider's reason when it was rejected (already scrubbed of the key).
    pub status_reason: Option<String>,
    /// Rate-limited until then (the provider's Retry-After); not used before.
    pub rest_until: Option<Timestamp>,
    /// Last time it was used (rotation picks the least recently used key).
    pub last_used_at: Option<Timestamp>,
}

/// A model known for a provider (fetched from its model list or typed by the person).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Model {
    /// Row id.
    pub id: ModelRowId,
    /// The provider offering it.
    pub provider_id: ProviderId,
    /// The provider's own id for it, as sent in requests.
    pub model_id: String,
    /// Name to show.
    pub display_name: Option<String>,
    /// The organisation the provider says owns it.
    pub owned_by: Option<String>,
    /// Whether it shows in pickers.
    pub enabled: bool,
    /// Capabilities the person set for this model (over the rules).
    pub capabilities: crate::capabilities::CapabilityOverride,
}
