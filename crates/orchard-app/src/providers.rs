//! Providers: add (from the catalogue or custom), list, remove, keys, models.

use orchard_core::KeyId;
use orchard_core::base_url::resolve_for;
use orchard_core::capabilities::{Capabilities, CapabilityOverride};
use orchard_core::catalogue::CatalogueEntry;
use orchard_core::egress::Purpose;
use orchard_core::provider::{KeyInfo, KeyStatus, Model, Protocol, Provider, Quirks};
use orchard_core::secret::ApiKey;
use orchard_llm::connect;
use orchard_privacy::vault::KeyOwner;
use orchard_store::{NewModel, NewProvider};

use crate::{App, AppError};

/// What `provider add` asks for.
#[derive(Debug, Clone, Default)]
pub struct AddProvider {
    /// Name; if it is a catalogue id, the catalogue supplies the defaults.
    pub name: String,
    /// Protocol, if not from the catalogue (default: OpenAI-compatible).
    pub protocol: Option<Protocol>,
    /// Base URL, if not from the catalogue.
    pub base_url: Option<String>,
    /// Keys, in order of use.
    pub keys: Vec<ApiKey>,
}

/// A provider as shown to the person: never a key, only masks.
#[derive(Debug, Clone)]
pub struct ProviderView {
    /// The provider.
    pub provider: Provider,
    /// Its keys (masks and health).
    pub keys: Vec<KeyInfo>,
    /// How many models are known.
    pub model_count: usize,
    /// The catalogue entry it came from.
    pub catalogue: Option<CatalogueEntry>,
}

impl ProviderView {
    /// The provider's privacy policy (promise L5), if known.
    pub fn privacy_url(&self) -> Option<&str> {
        self.catalogue
            .as_ref()
            .map(|c| c.privacy_url.as_str())
            .filter(|u| !u.is_empty())
    }
}

impl App {
    /// Whether `name` is a catalogue provider that needs a key.
    pub fn key_required(&self, name: &str) -> bool {
        self.catalogue().get(name).is_some_and(|e| e.key_required)
    }

    /// Adds a provider and its keys.
    pub async fn add_provider(&self, input: AddProvider) -> Result<ProviderView, AppError> {
        let name = input.name.trim().to_owned();
        if name.is_empty() || name.contains(':') || name.chars().any(char::is_whitespace) {
            return Err(AppError::invalid(format!(
                "'{name}' cannot be a provider name: use letters, digits, '-' or '_' (no spaces or ':')"
            )));
        }
        let entry = self.catalogue().get(&name).cloned();
        let base_url = input
            .base_url
            .or_else(|| entry.as_ref().map(|e| e.base_url.clone()))
            .filter(|u| !u.trim().is_empty())
            .ok_or_else(|| {
                AppError::new(
                    "base_url_required",
                    format!("'{name}' is not in the catalogue, so it needs a base URL"),
                )
            })?;
        let protocol = input
            .protocol
            .or_else(|| entry.as_ref().map(|e| e.protocol))
            .unwrap_or(Protocol::OpenAi);
        resolve_for(protocol, &base_url).map_err(|e| AppError::invalid(e.to_string()))?;
        let provider = self
            .store()
            .create_provider(
                self.user(),
                &NewProvider {
                    name: name.clone(),
                    catalogue_id: entry.as_ref().map(|e| e.id.clone()),
                    protocol,
                    base_url,
                    quirks: entry
                        .as_ref()
                        .map(|e| e.quirks.clone())
                        .unwrap_or_else(Quirks::default),
                },
            )
            .await?;
        if let Err(e) = self.store_keys(&provider, &input.keys).await {
            // Do not leave a half-added provider behind.
            let _ = self.store().delete_provider(self.user(), provider.id).await;
            return Err(e);
        }
        self.view(provider).await
    }

    async fn store_keys(
        &self,
        provider: &Provider,
        keys: &[ApiKey],
    ) -> Result<Vec<KeyId>, AppError> {
        let owner = KeyOwner {
            user: self.user(),
            provider: provider.id,
        };
        let mut ids = Vec::with_capacity(keys.len());
        for key in keys {
            let sealed = self.vault().seal(key, owner)?;
            ids.push(
                self.store()
                    .add_key(self.user(), provider.id, &sealed, &key.mask())
                    .await?,
            );
        }
        Ok(ids)
    }

    async fn view(&self, provider: Provider) -> Result<ProviderView, AppError> {
        let keys = self.store().keys(self.user(), provider.id).await?;
        let model_count = self.store().models(self.user(), provider.id).await?.len();
        let catalogue = provider
            .catalogue_id
            .as_deref()
            .and_then(|id| self.catalogue().get(id))
            .cloned();
        Ok(ProviderView {
            provider,
            keys: keys.into_iter().map(|k| k.info).collect(),
            model_count,
            catalogue,
        })
    }

    /// All providers.
    pub async fn list_providers(&self) -> Result<Vec<ProviderView>, AppError> {
        let mut out = Vec::new();
        for p in self.store().providers(self.user()).await? {
            out.push(self.view(p).await?);
        }
        Ok(out)
    }

    /// The provider called `name`, or an error listing the ones that exist.
    pub async fn provider_named(&self, name: &str) -> Result<Provider, AppError> {
        if let Some(p) = self.store().provider_by_name(self.user(), name).await? {
            return Ok(p);
        }
        let known: Vec<String> = self
            .store()
            .providers(self.user())
            .await?
            .into_iter()
            .map(|p| p.name)
            .collect();
        let have = if known.is_empty() {
            "no providers are configured yet".to_owned()
        } else {
            format!("configured: {}", known.join(", "))
        };
        Err(AppError::new(
            "unknown_provider",
            format!("there is no provider named '{name}' ({have})"),
        )
        .about(name))
    }

    /// Removes a provider with its keys and models (conversations keep their history).
    pub async fn remove_provider(&self, name: &str) -> Result<(), AppError> {
        let p = self.provider_named(name).await?;
        self.store().delete_provider(self.user(), p.id).await?;
        Ok(())
    }

    /// Adds keys to a provider, after its existing ones.
    pub async fn add_keys(&self, name: &str, keys: &[ApiKey]) -> Result<ProviderView, AppError> {
        let p = self.provider_named(name).await?;
        self.store_keys(&p, keys).await?;
        self.view(p).await
    }

    /// Removes the key shown as `mask`.
    pub async fn remove_key(&self, name: &str, mask: &str) -> Result<(), AppError> {
        let p = self.provider_named(name).await?;
        let keys = self.store().keys(self.user(), p.id).await?;
        let matching: Vec<_> = keys.iter().filter(|k| k.info.mask == mask.trim()).collect();
        match matching.as_slice() {
            [one] => Ok(self.store().delete_key(self.user(), one.info.id).await?),
            [] => Err(AppError::not_found(format!(
                "{name} has no key shown as '{mask}' (its keys: {})",
                keys.iter()
                    .map(|k| k.info.mask.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
            _ => Err(AppError::invalid(format!(
                "several keys of {name} are shown as '{mask}'; remove the provider and add it again"
            ))),
        }
    }

    /// Asks the provider for its models (with its keys' failover) and remembers them.
    pub async fn fetch_models(&self, name: &str) -> Result<Vec<Model>, AppError> {
        let p = self.provider_named(name).await?;
        let http = self.http()?.clone();
        let models = self
            .call_provider(&p, |ep| {
                let http = http.clone();
                async move { connect(ep, http).models().await }
            })
            .await?;
        let new: Vec<NewModel> = models
            .into_iter()
            .map(|m| NewModel {
                model_id: m.id,
                display_name: None,
                owned_by: m.owned_by,
            })
            .collect();
        self.store().upsert_models(self.user(), p.id, &new).await?;
        Ok(self.store().models(self.user(), p.id).await?)
    }

    /// Tries every key of a provider with the smallest request there is (its model list,
    /// which costs no tokens) and records what each answer says about its key.
    pub async fn check_keys(&self, name: &str) -> Result<Vec<KeyCheck>, AppError> {
        let p = self.provider_named(name).await?;
        let http = self.http()?.clone();
        let keys = self.store().keys(self.user(), p.id).await?;
        if keys.is_empty() {
            let result = connect(self.endpoint(&p, None)?, http).models().await;
            return Ok(vec![KeyCheck {
                mask: None,
                result: result.map(|m| m.len()).map_err(|e| e.to_string()),
            }]);
        }
        let owner = KeyOwner {
            user: self.user(),
            provider: p.id,
        };
        let mut out = Vec::new();
        for k in keys {
            let key = self.vault().open(&k.sealed, owner)?;
            let result = connect(self.endpoint(&p, Some(key))?, http.clone())
                .models()
                .await;
            let status = match &result {
                Ok(_) => Some((KeyStatus::Ok, None)),
                Err(e) if e.is_key_problem() => Some((KeyStatus::Invalid, Some(e.to_string()))),
                Err(_) => None,
            };
            if let Some((status, reason)) = status {
                self.store()
                    .set_key_status(self.user(), k.info.id, status, reason.as_deref())
                    .await?;
            }
            out.push(KeyCheck {
                mask: Some(k.info.mask),
                result: result.map(|m| m.len()).map_err(|e| e.to_string()),
            });
        }
        Ok(out)
    }

    /// What `model_id` of `p` can do: the capability rules, then the person's settings.
    pub async fn capabilities(
        &self,
        p: &Provider,
        model_id: &str,
    ) -> Result<Capabilities, AppError> {
        let known = self.store().models(self.user(), p.id).await?;
        Ok(match known.iter().find(|m| m.model_id == model_id) {
            Some(m) => self.model_capabilities(m),
            None => self.rules().for_model(model_id),
        })
    }

    /// What a known model can do: the capability rules, then the person's settings.
    /// No I/O, for callers that already listed the models.
    pub fn model_capabilities(&self, m: &Model) -> Capabilities {
        let mut caps = self.rules().for_model(&m.model_id);
        m.capabilities.apply(&mut caps);
        caps
    }

    /// Sets capabilities of one model (fields left unset keep their value) and returns
    /// what it can do now.
    pub async fn set_capabilities(
        &self,
        name: &str,
        model_id: &str,
        set: &CapabilityOverride,
    ) -> Result<Capabilities, AppError> {
        let p = self.provider_named(name).await?;
        let mut stored = self
            .store()
            .models(self.user(), p.id)
            .await?
            .into_iter()
            .find(|m| m.model_id == model_id)
            .map(|m| m.capabilities)
            .unwrap_or_default();
        stored.merge(set);
        self.store()
            .set_model_capabilities(self.user(), p.id, model_id, &stored)
            .await?;
        self.capabilities(&p, model_id).await
    }

    /// Looks for local model servers at exactly two addresses: Ollama's
    /// (`127.0.0.1:11434`) and LM Studio's (`127.0.0.1:1234`). Nothing else is probed.
    pub async fn detect_local(&self) -> Result<Vec<Detected>, AppError> {
        let http = self.http()?;
        let mut found = Vec::new();
        for (kind, addr, path, list) in [
            ("ollama", self.config().detect.ollama, "api/tags", "models"),
            (
                "lmstudio",
                self.config().detect.lmstudio,
                "v1/models",
                "data",
            ),
        ] {
            let base = format!("http://{addr}");
            let Ok(url) = orchard_net::Url::parse(&format!("{base}/{path}")) else {
                continue;
            };
            let Ok(resp) = http
                .request(orchard_net::Method::GET, url, Purpose::detect(kind))
                .send()
                .await
            else {
                continue;
            };
            if !resp.status().is_success() {
                continue;
            }
            let Ok(body) = resp.bytes(4 * 1024 * 1024).await else {
                continue;
            };
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) else {
                continue;
            };
            let models: Vec<String> = v[list]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| {
                    m.get("name")
                        .or_else(|| m.get("id"))
                        .and_then(|n| n.as_str())
                        .map(str::to_owned)
                })
                .collect();
            found.push(Detected {
                kind,
                base_url: base,
                models,
            });
        }
        Ok(found)
    }
}

/// The result of trying one key.
#[derive(Debug, Clone)]
pub struct KeyCheck {
    /// The key's mask (`None` for a provider without keys).
    pub mask: Option<String>,
    /// How many models it can see, or why it failed.
    pub result: Result<usize, String>,
}

/// A local model server that answered.
#[derive(Debug, Clone)]
pub struct Detected {
    /// `ollama` or `lmstudio` (their catalogue ids).
    pub kind: &'static str,
    /// Where it answered.
    pub base_url: String,
    /// The models it offers.
    pub models: Vec<String>,
}
