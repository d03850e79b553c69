//! The one error type of Orchard's use cases: a stable code, a sentence for the person,
//! and (kept apart) a cause for the log.

use std::fmt;

use orchard_llm::ProviderError;
use orchard_privacy::vault::VaultError;
use orchard_store::StoreError;

use crate::config::ConfigError;

/// A failed use case.
#[derive(Debug, Clone)]
pub struct AppError {
    /// Stable machine-readable code (`provider_bad_key`, `not_found`, …).
    pub code: &'static str,
    /// What happened, in words a person can act on. Never contains a secret.
    pub message: String,
    /// Details for the log (never shown in the UI, never a secret).
    pub cause: Option<String>,
    /// What the error is about (a provider name), so a surface can say what to do next.
    pub subject: Option<String>,
}

impl AppError {
    /// An error with a code and a message.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            cause: None,
            subject: None,
        }
    }

    /// Names what the error is about.
    pub fn about(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// Bad input from the person.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new("invalid_input", message)
    }

    /// Something asked for does not exist (or is not the person's).
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new("not_found", message)
    }

    /// The HTTP status this error maps to in the API.
    pub fn http_status(&self) -> u16 {
        match self.code {
            "invalid_input"
            | "config_invalid"
            | "no_model_chosen"
            | "model_lacks_capability"
            | "message_too_long"
            | "import_invalid" => 400,
            "not_found" | "unknown_provider" => 404,
            "conflict" => 409,
            "provider_bad_key" | "provider_missing_key" => 424,
            "provider_rate_limited" => 429,
            c if c.starts_with("provider_") || c == "proxy_unreachable" => 502,
            "database_locked" => 503,
            _ => 500,
        }
    }
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AppError {}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        let code = match &e {
            StoreError::NotFound { .. } => "not_found",
            StoreError::Conflict(_) => "conflict",
            StoreError::NotADatabase { .. } | StoreError::NotOrchard { .. } => {
                "database_not_orchard"
            }
            StoreError::Locked { .. } => "database_locked",
            StoreError::NewerSchema { .. } => "database_newer",
            StoreError::SchemaMismatch { .. } => "database_mismatch",
            StoreError::CannotOpen { .. } => "database_unavailable",
            StoreError::Backup { .. } => "database_backup_failed",
            StoreError::Corrupt(_) => "database_corrupt",
            StoreError::Other(_) => "database_error",
        };
        Self::new(code, e.to_string())
    }
}

impl From<VaultError> for AppError {
    fn from(e: VaultError) -> Self {
        let code = match &e {
            VaultError::Decrypt => "vault_cannot_decrypt",
            _ => "vault_unavailable",
        };
        Self::new(code, e.to_string())
    }
}

impl From<ConfigError> for AppError {
    fn from(e: ConfigError) -> Self {
        Self::new("config_invalid", e.to_string())
    }
}

impl From<ProviderError> for AppError {
    fn from(e: ProviderError) -> Self {
        Self {
            code: e.kind.code(),
            message: e.to_string(),
            cause: e.net.as_ref().map(|n| n.detail.clone()),
            subject: Some(e.provider.clone()),
        }
    }
}
