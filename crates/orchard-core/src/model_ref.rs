//! `PROVIDER:MODEL` references as typed on the command line.

use std::fmt;
use std::str::FromStr;

/// A model chosen by provider name and the provider's own model id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRef {
    /// The provider's name in Orchard (for example `deepseek` or `work-gateway`).
    pub provider: String,
    /// The model id as the provider spells it (may itself contain `:` or `/`).
    pub model: String,
}

/// A `-m` value that is not `PROVIDER:MODEL`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not PROVIDER:MODEL (for example deepseek:deepseek-chat)")]
pub struct ModelRefError(pub String);

impl FromStr for ModelRef {
    type Err = ModelRefError;

    /// Splits at the first `:` only, so `ollama:llama3:8b` is provider `ollama`, model
    /// `llama3:8b`, and `openrouter:anthropic/claude-3.5-sonnet` keeps its slash.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            Some((p, m)) if !p.trim().is_empty() && !m.trim().is_empty() => Ok(Self {
                provider: p.trim().to_owned(),
                model: m.trim().to_owned(),
            }),
            _ => Err(ModelRefError(s.to_owned())),
        }
    }
}

impl fmt::Display for ModelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.provider, self.model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_the_first_colon_only() {
        let r: ModelRef = "ollama:llama3:8b".parse().unwrap();
        assert_eq!(
            (r.provider.as_str(), r.model.as_str()),
            ("ollama", "llama3:8b")
        );
        let r: ModelRef = "openrouter:anthropic/claude-3.5-sonnet".parse().unwrap();
        assert_eq!(r.model, "anthropic/claude-3.5-sonnet");
        assert_eq!(r.to_string(), "openrouter:anthropic/claude-3.5-sonnet");
    }

    #[test]
    fn refuses_missing_parts() {
        for bad in ["deepseek", ":m", "p:", ""] {
            assert!(bad.parse::<ModelRef>().is_err(), "{bad}");
        }
    }
}
