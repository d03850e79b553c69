//! Assistants: prompt presets a topic can use.

use serde::{Deserialize, Serialize};

use crate::{AssistantId, ProviderId, Timestamp, UserId};

/// A prompt preset: a system prompt, a default model and sampling settings. Every
/// sampling setting is optional: `None` means "not sent", so the provider's default
/// applies.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Assistant {
    /// Row id.
    pub id: AssistantId,
    /// Owner.
    pub user_id: UserId,
    /// Its settings.
    #[serde(flatten)]
    pub fields: AssistantFields,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
}

/// What a person sets on an assistant.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AssistantFields {
    /// Name shown in lists.
    pub name: String,
    /// One emoji shown beside the name.
    #[serde(default)]
    pub emoji: Option<String>,
    /// The system prompt.
    #[serde(default)]
    pub system_prompt: String,
    /// Default model: the provider row and the provider's model id.
    #[serde(default)]
    pub model: Option<AssistantModel>,
    /// Sampling temperature; `None` is not sent.
    #[serde(default)]
    pub temperature: Option<f64>,
    /// Nucleus sampling; `None` is not sent.
    #[serde(default)]
    pub top_p: Option<f64>,
    /// Answer length limit; `None` is not sent.
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// How many earlier messages to send; `None` sends the whole branch.
    #[serde(default)]
    pub context_count: Option<u32>,
}

/// An assistant's default model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssistantModel {
    /// The provider.
    pub provider_id: ProviderId,
    /// The provider's model id.
    pub model_id: String,
}

impl AssistantFields {
    /// Checks the values a person typed; the message says which one is wrong and why.
    pub fn validate(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("an assistant needs a name".into());
        }
        if self.name.chars().count() > 100 {
            return Err("an assistant's name can be at most 100 characters".into());
        }
        if let Some(t) = self.temperature
            && !(0.0..=2.0).contains(&t)
        {
            return Err(format!("temperature must be between 0 and 2, not {t}"));
        }
        if let Some(p) = self.top_p
            && !(0.0..=1.0).contains(&p)
        {
            return Err(format!("top_p must be between 0 and 1, not {p}"));
        }
        if self.max_tokens == Some(0) {
            return Err("max tokens must be at least 1".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_wrong_value() {
        let ok = AssistantFields {
            name: "Translator".into(),
            temperature: Some(0.7),
            ..AssistantFields::default()
        };
        assert_eq!(ok.validate(), Ok(()));
        let hot = AssistantFields {
            temperature: Some(3.0),
            ..ok.clone()
        };
        assert!(hot.validate().unwrap_err().contains("temperature"));
        let nameless = AssistantFields {
            name: "  ".into(),
            ..ok
        };
        assert!(nameless.validate().unwrap_err().contains("name"));
    }
}
