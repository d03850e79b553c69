//! Providers: add (from the catalogue or custom), list, remove, keys, models.

use orchard_core::KeyId;
use orchard_core::base_url::resolve_api_base;
use orchard_core::catalogue::CatalogueEntry;
use orchard_core::provider::{KeyInfo, KeyStatus, Model, Protocol, Provider, Quirks};
use orchard_core::secret::ApiKey;
use orchard_llm::{ProviderEndpoint, connect};
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
        resolve_api_base(&base_url).map_err(|e| AppError::invalid(e.to_string()))?;
        let protocol = input
            .protocol
            .or_else(|| entry.as_ref().map(|e| e.protocol))
            .unwrap_or(Protocol::OpenAi);
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

    /// Asks the provider for its models and remembers them.
    pub async fn fetch_models(&self, name: &str) -> Result<Vec<Model>, AppError> {
        let p = self.provider_named(name).await?;
        let (endpoint, key) = self.endpoint_for(&p).await?;
        let models = match connect(endpoint, self.http()?.clone()).models().await {
            Ok(m) => m,
            Err(e) => {
                self.note_key_result(key, Some(&e)).await;
                return Err(e.into());
            }
        };
        self.note_key_result(key, None).await;
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

    /// How to reach `p`, with its first usable key decrypted.
    pub(crate) async fn endpoint_for(
        &self,
        p: &Provider,
    ) -> Result<(ProviderEndpoint, Option<KeyId>), AppError> {
        let base_url = resolve_api_base(&p.base_url)
            .map_err(|e| AppError::invalid(format!("provider {}: {e}", p.name)))?;
        let keys = self.store().keys(self.user(), p.id).await?;
        // Prefer a key not known to be rejected; if all were, try the first again (the
        // provider may have fixed the account since).
        let chosen = keys
            .iter()
            .find(|k| k.info.status != KeyStatus::Invalid)
            .or(keys.first());
        let (key, key_id) = match chosen {
            Some(k) => {
                let owner = KeyOwner {
                    user: self.user(),
                    provider: p.id,
                };
                (Some(self.vault().open(&k.sealed, owner)?), Some(k.info.id))
            }
            None => {
                let needs = p
                    .catalogue_id
                    .as_deref()
                    .and_then(|id| self.catalogue().get(id))
                    .is_some_and(|e| e.key_required);
                if needs {
                    return Err(AppError::new(
                        "missing_key",
                        format!("{} needs an API key and none is stored", p.name),
                    )
                    .about(&p.name));
                }
                (None, None)
            }
        };
        Ok((
            ProviderEndpoint {
                name: p.name.clone(),
                protocol: p.protocol,
                base_url,
                key,
                quirks: p.quirks.clone(),
            },
            key_id,
        ))
    }

    /// Records what a request said about the key it used.
    pub(crate) async fn note_key_result(
        &self,
        key: Option<KeyId>,
        err: Option<&orchard_llm::ProviderError>,
    ) {
        let Some(key) = key else { return };
        let (status, reason) = match err {
            None => (KeyStatus::Ok, None),
            Some(e) if e.is_key_problem() => (KeyStatus::Invalid, Some(e.to_string())),
            Some(_) => return,
        };
        if let Err(e) = self
            .store()
            .set_key_status(self.user(), key, status, reason.as_deref())
            .await
        {
            tracing::warn!(error = %e, "could not record the key's status");
        }
    }
}
