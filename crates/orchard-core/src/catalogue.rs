//! The provider catalogue: which providers Orchard knows out of the box, as data.
//!
//! The built-in list is `catalogue.toml`, compiled into the binary. A person can add
//! providers or change fields of built-in ones with a file of the same shape; fields
//! left out of an override keep their built-in value.

use serde::{Deserialize, Serialize};

use crate::base_url::resolve_for;
use crate::provider::{Protocol, Quirks};

const BUILTIN: &str = include_str!("../catalogue.toml");

/// One provider preset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CatalogueEntry {
    /// Stable identifier and default provider name.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Wire protocol.
    pub protocol: Protocol,
    /// Default base URL; empty when the person must supply one.
    pub base_url: String,
    /// The provider's API documentation.
    pub docs_url: String,
    /// The provider's privacy policy (promise L5); empty for "custom".
    pub privacy_url: String,
    /// Whether requests need an API key.
    pub key_required: bool,
    /// Whether the default endpoint runs on this machine.
    pub local: bool,
    /// Protocol quirks.
    pub quirks: Quirks,
}

/// The whole catalogue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Catalogue {
    entries: Vec<CatalogueEntry>,
}

/// A catalogue file that could not be used. The message carries the line and column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogueError {
    /// Not valid TOML, or fields of the wrong type.
    #[error("{0}")]
    Parse(String),
    /// A new entry (not overriding a built-in one) lacks a required field.
    #[error("catalogue entry '{id}' is new, so it needs '{field}'")]
    Missing {
        /// Entry id.
        id: String,
        /// Missing field name.
        field: &'static str,
    },
    /// A base URL that the base-URL rule refuses.
    #[error("catalogue entry '{id}': {reason}")]
    BadUrl {
        /// Entry id.
        id: String,
        /// Why.
        reason: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    provider: Vec<PartialEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PartialEntry {
    id: String,
    name: Option<String>,
    protocol: Option<Protocol>,
    base_url: Option<String>,
    docs_url: Option<String>,
    privacy_url: Option<String>,
    key_required: Option<bool>,
    local: Option<bool>,
    quirks: Option<Quirks>,
}

impl Catalogue {
    /// The compiled-in catalogue.
    pub fn builtin() -> Self {
        // The file ships inside the binary and a unit test parses it, so a failure here
        // is a build defect, not bad input.
        Self::default_empty()
            .with_overrides(BUILTIN)
            .expect("the built-in catalogue.toml is valid (checked by tests)")
    }

    fn default_empty() -> Self {
        Self {
            entries: Vec::new(),
        }
    }

    /// Applies a catalogue file on top of this one: entries with a known id change only
    /// the fields they give; entries with a new id are added and must be complete.
    pub fn with_overrides(mut self, toml_text: &str) -> Result<Self, CatalogueError> {
        let file: File =
            toml::from_str(toml_text).map_err(|e| CatalogueError::Parse(e.to_string()))?;
        for p in file.provider {
            if let Some(existing) = self.entries.iter_mut().find(|e| e.id == p.id) {
                apply(existing, p);
                continue;
            }
            let need = |field: &'static str| CatalogueError::Missing {
                id: p.id.clone(),
                field,
            };
            let entry = CatalogueEntry {
                name: p.name.clone().ok_or_else(|| need("name"))?,
                protocol: p.protocol.ok_or_else(|| need("protocol"))?,
                base_url: p.base_url.clone().ok_or_else(|| need("base_url"))?,
                docs_url: p.docs_url.clone().unwrap_or_default(),
                privacy_url: p.privacy_url.clone().unwrap_or_default(),
                key_required: p.key_required.unwrap_or(true),
                local: p.local.unwrap_or(false),
                quirks: p.quirks.clone().unwrap_or_default(),
                id: p.id,
            };
            self.entries.push(entry);
        }
        for e in &self.entries {
            if !e.base_url.is_empty() {
                resolve_for(e.protocol, &e.base_url).map_err(|err| CatalogueError::BadUrl {
                    id: e.id.clone(),
                    reason: err.to_string(),
                })?;
            }
        }
        Ok(self)
    }

    /// The entry with this id.
    pub fn get(&self, id: &str) -> Option<&CatalogueEntry> {
        self.entries.iter().find(|e| e.id.eq_ignore_ascii_case(id))
    }

    /// All entries, in file order.
    pub fn entries(&self) -> &[CatalogueEntry] {
        &self.entries
    }
}

fn apply(e: &mut CatalogueEntry, p: PartialEntry) {
    if let Some(v) = p.name {
        e.name = v;
    }
    if let Some(v) = p.protocol {
        e.protocol = v;
    }
    if let Some(v) = p.base_url {
        e.base_url = v;
    }
    if let Some(v) = p.docs_url {
        e.docs_url = v;
    }
    if let Some(v) = p.privacy_url {
        e.privacy_url = v;
    }
    if let Some(v) = p.key_required {
        e.key_required = v;
    }
    if let Some(v) = p.local {
        e.local = v;
    }
    if let Some(v) = p.quirks {
        e.quirks = v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUIRED: &[&str] = &[
        "openai",
        "deepseek",
        "openrouter",
        "groq",
        "mistral",
        "xai",
        "together",
        "siliconflow",
        "moonshot",
        "zhipu",
        "dashscope",
        "lmstudio",
        "custom",
    ];

    #[test]
    fn builtin_catalogue_has_every_required_provider() {
        let c = Catalogue::builtin();
        for id in REQUIRED {
            assert!(c.get(id).is_some(), "missing {id}");
        }
        assert!(c.entries().len() >= 30, "{} presets", c.entries().len());
    }

    #[test]
    fn every_protocol_has_a_preset_and_each_base_url_resolves_for_its_protocol() {
        let c = Catalogue::builtin();
        for p in Protocol::ALL {
            assert!(
                c.entries().iter().any(|e| e.protocol == *p),
                "no preset speaks {p}"
            );
        }
        for e in c.entries().iter().filter(|e| !e.base_url.is_empty()) {
            resolve_for(e.protocol, &e.base_url).unwrap_or_else(|err| panic!("{}: {err}", e.id));
        }
        let r = |id: &str| {
            let e = c.get(id).unwrap();
            resolve_for(e.protocol, &e.base_url).unwrap().to_string()
        };
        assert_eq!(r("perplexity"), "https://api.perplexity.ai/");
        assert_eq!(r("github"), "https://models.github.ai/inference");
        assert_eq!(
            r("gemini"),
            "https://generativelanguage.googleapis.com/v1beta"
        );
        assert_eq!(r("anthropic"), "https://api.anthropic.com/v1");
    }

    #[test]
    fn p_l5_every_hosted_provider_links_its_privacy_policy() {
        for e in Catalogue::builtin().entries() {
            if e.id == "custom" {
                continue;
            }
            if e.base_url.is_empty() {
                // Azure: the person's own resource URL.
                assert_eq!(e.id, "azure");
                assert!(e.privacy_url.starts_with("https://"));
                continue;
            }
            assert!(
                e.privacy_url.starts_with("https://"),
                "{}: {:?}",
                e.id,
                e.privacy_url
            );
            assert!(
                e.docs_url.starts_with("https://"),
                "{}: {:?}",
                e.id,
                e.docs_url
            );
            assert!(!e.base_url.is_empty(), "{}", e.id);
        }
    }

    #[test]
    fn catalogue_ids_are_unique() {
        let c = Catalogue::builtin();
        let mut ids: Vec<_> = c.entries().iter().map(|e| e.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), c.entries().len());
    }

    #[test]
    fn overrides_change_only_given_fields_and_add_new_entries() {
        let c = Catalogue::builtin()
            .with_overrides(
                r#"
                [[provider]]
                id = "deepseek"
                base_url = "https://deepseek.internal.example/v1"

                [[provider]]
                id = "acme"
                name = "Acme AI"
                protocol = "openai"
                base_url = "https://api.acme.example"
                "#,
            )
            .unwrap();
        let d = c.get("deepseek").unwrap();
        assert_eq!(d.base_url, "https://deepseek.internal.example/v1");
        assert_eq!(d.name, "DeepSeek");
        assert!(d.privacy_url.contains("deepseek"));
        assert_eq!(c.get("acme").unwrap().name, "Acme AI");
    }

    #[test]
    fn bad_override_files_say_where_and_what() {
        let err = Catalogue::builtin()
            .with_overrides("[[provider]]\nid = \"x\"\nprotocol = \"carrier-pigeon\"\n")
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("line 3"), "{msg}");
        let err = Catalogue::builtin()
            .with_overrides("[[provider]]\nid = \"new\"\nname = \"N\"\nprotocol = \"openai\"\n")
            .unwrap_err();
        assert_eq!(
            err,
            CatalogueError::Missing {
                id: "new".into(),
                field: "base_url"
            }
        );
    }
}
