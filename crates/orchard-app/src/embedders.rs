//! What turns text into vectors: a provider's embedding model or a model that runs here.
//!
//! Both sit behind [`Embedder`], so ingestion and search do not care which. Local
//! models live in `models/<name>/` under the data directory; `orchard embedder add DIR`
//! copies one there and `orchard embedder pull ID` downloads one from a model hub.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use orchard_core::egress::Purpose;
use orchard_core::knowledge::EmbedderSpec;
use orchard_embed::LocalEmbedder;
use orchard_llm::embed::{EmbedOptions, embed_all};

use crate::{App, AppError};

/// Files a local model directory may hold; the first three are required.
const MODEL_FILES: &[&str] = &[
    "config.json",
    "tokenizer.json",
    "model.safetensors",
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "1_Pooling/config.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
];
const REQUIRED_FILES: usize = 3;

/// Turns passages into vectors.
#[async_trait]
pub trait Embedder: Send + Sync {
    /// The identity stored beside each vector ([`EmbedderSpec::key`]).
    fn key(&self) -> &str;
    /// How many texts to hand over at once (and store before the next batch, so an
    /// interruption never pays for the same passage twice).
    fn batch(&self) -> usize;
    /// One vector per text, in order.
    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, AppError>;
}

/// A model running in this process, on the CPU.
struct Local {
    key: String,
    model: Arc<LocalEmbedder>,
}

#[async_trait]
impl Embedder for Local {
    fn key(&self) -> &str {
        &self.key
    }

    fn batch(&self) -> usize {
        32
    }

    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, AppError> {
        let model = self.model.clone();
        tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            model.embed(&refs)
        })
        .await
        .map_err(|e| AppError::new("internal", format!("the local embedder stopped: {e}")))?
        .map_err(|e| AppError::new("embedder_failed", e.to_string()))
    }
}

/// A provider's embedding model, called with the provider's keys.
struct Remote<'a> {
    app: &'a App,
    key: String,
    provider: orchard_core::provider::Provider,
    model: String,
}

#[async_trait]
impl Embedder for Remote<'_> {
    fn key(&self) -> &str {
        &self.key
    }

    fn batch(&self) -> usize {
        64
    }

    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, AppError> {
        let http = self.app.http()?.clone();
        let model = self.model.clone();
        let texts = &texts;
        let provider_name = &self.provider.name;
        self.app
            .call_provider(&self.provider, |endpoint| {
                let http = http.clone();
                let model = model.clone();
                async move {
                    let Some(embedder) = orchard_llm::connect_embedder(endpoint, http) else {
                        return Err(orchard_llm::ProviderError {
                            message: Some("this provider has no embeddings API".into()),
                            ..orchard_llm::ProviderError::new(
                                orchard_llm::ProviderErrorKind::BadRequest,
                                provider_name,
                            )
                        });
                    };
                    embed_all(embedder.as_ref(), &model, texts, EmbedOptions::default())
                        .await
                        .map(|set| set.vectors)
                }
            })
            .await
            .map_err(|e| {
                let message = if e.code == "provider_rate_limited" {
                    format!(
                        "the embedding provider {} returned 429 (rate limited) after {} retries: {}",
                        self.provider.name,
                        EmbedOptions::default().max_retries,
                        e.message
                    )
                } else {
                    format!("the embedding provider {} failed: {}", self.provider.name, e.message)
                };
                AppError::new("embedder_failed", message).about(&self.provider.name)
            })
    }
}

/// Local models already loaded, by directory: loading reads ~100 MB of weights.
#[derive(Default)]
pub(crate) struct LoadedModels(Mutex<HashMap<PathBuf, Arc<LocalEmbedder>>>);

/// A local model that can be used.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LocalModel {
    /// Its name (the directory under `models/`).
    pub name: String,
    /// Vector size.
    pub dims: usize,
    /// Longest input in tokens.
    pub max_tokens: usize,
    /// Size of its files in bytes.
    pub bytes: u64,
}

impl App {
    /// The directory local models live in.
    pub fn models_dir(&self) -> PathBuf {
        self.config().data_dir.join("models")
    }

    /// The embedder a base's spec names, ready to use; `None` for no embedder.
    pub async fn embedder(
        &self,
        spec: &EmbedderSpec,
    ) -> Result<Option<Box<dyn Embedder + '_>>, AppError> {
        let key = match spec.key() {
            Some(k) => k,
            None => return Ok(None),
        };
        match spec {
            EmbedderSpec::None => Ok(None),
            EmbedderSpec::Local { model } => Ok(Some(Box::new(Local {
                key,
                model: self.local_model(model).await?,
            }))),
            EmbedderSpec::Provider { provider, model } => {
                let provider = self.provider_named(provider).await?;
                Ok(Some(Box::new(Remote {
                    app: self,
                    key,
                    provider,
                    model: model.clone(),
                })))
            }
        }
    }

    /// Loads (once) the local model called `name`.
    async fn local_model(&self, name: &str) -> Result<Arc<LocalEmbedder>, AppError> {
        let dir = self.model_dir(name)?;
        if let Some(m) = self
            .loaded_models()
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&dir)
        {
            return Ok(m.clone());
        }
        if !dir.join("model.safetensors").is_file() {
            return Err(AppError::not_found(format!(
                "there is no local model '{name}'; add one with `orchard embedder add DIR` or `orchard embedder pull MODEL_ID` (see `orchard embedder list`)"
            )));
        }
        let load_dir = dir.clone();
        let model = tokio::task::spawn_blocking(move || LocalEmbedder::load(&load_dir))
            .await
            .map_err(|e| AppError::new("internal", format!("loading the model stopped: {e}")))?
            .map_err(|e| AppError::new("embedder_failed", e.to_string()))?;
        let model = Arc::new(model);
        self.loaded_models()
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(dir, model.clone());
        Ok(model)
    }

    fn model_dir(&self, name: &str) -> Result<PathBuf, AppError> {
        let ok = !name.is_empty()
            && name.len() <= 100
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && !name.starts_with('.');
        if !ok {
            return Err(AppError::invalid(format!(
                "'{name}' is not a model name; use letters, digits, '-', '_' and '.'"
            )));
        }
        Ok(self.models_dir().join(name))
    }

    /// The local models that are installed.
    pub fn local_models(&self) -> Result<Vec<LocalModel>, AppError> {
        let mut out = Vec::new();
        let entries = match std::fs::read_dir(self.models_dir()) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => {
                return Err(AppError::new(
                    "internal",
                    format!("cannot list {}: {e}", self.models_dir().display()),
                ));
            }
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
                continue;
            };
            if name.starts_with('.') {
                continue;
            }
            if let Ok(info) = LocalEmbedder::check_dir(&path) {
                out.push(LocalModel {
                    name,
                    dims: info.dims,
                    max_tokens: info.max_tokens,
                    bytes: dir_size(&path),
                });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Copies a model directory into `models/<name>` after checking it loads.
    pub async fn add_local_model(
        &self,
        src: &Path,
        name: Option<&str>,
    ) -> Result<LocalModel, AppError> {
        let name = match name {
            Some(n) => n.to_owned(),
            None => src
                .canonicalize()
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_default(),
        };
        let dest = self.model_dir(&name)?;
        LocalEmbedder::check_dir(src).map_err(|e| AppError::invalid(e.to_string()))?;
        let src = src.to_path_buf();
        let staging = self.models_dir().join(format!(".{name}.partial"));
        let copy_to = staging.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            let _ = std::fs::remove_dir_all(&copy_to);
            for file in MODEL_FILES {
                let from = src.join(file);
                if from.is_file() {
                    let to = copy_to.join(file);
                    if let Some(parent) = to.parent() {
                        std::fs::create_dir_all(parent)?;
                    }
                    std::fs::copy(&from, &to)?;
                }
            }
            Ok(())
        })
        .await
        .map_err(|e| AppError::new("internal", e.to_string()))?
        .map_err(|e| AppError::new("internal", format!("cannot copy the model: {e}")))?;
        self.install_model(&staging, &dest, &name).await
    }

    /// Downloads a model from the hub (`{hub}/{id}/resolve/main/{file}`) into
    /// `models/<name>`, through the SSRF-guarded client (a local hub needs
    /// `knowledge.allow_local_hosts` or a trusted address), so every hop is in the
    /// egress ledger.
    pub async fn pull_local_model(
        &self,
        hub: &str,
        id: &str,
        name: Option<&str>,
        progress: &mut (dyn FnMut(&str, u64) + Send),
    ) -> Result<LocalModel, AppError> {
        let id = id.trim().trim_matches('/');
        if id.is_empty() || id.contains("..") || id.split('/').count() > 2 {
            return Err(AppError::invalid(format!(
                "'{id}' is not a model id; use OWNER/NAME, for example sentence-transformers/all-MiniLM-L6-v2"
            )));
        }
        let name = name
            .map(str::to_owned)
            .unwrap_or_else(|| id.rsplit('/').next().unwrap_or(id).to_owned());
        let dest = self.model_dir(&name)?;
        let staging = self.models_dir().join(format!(".{name}.partial"));
        let _ = tokio::fs::remove_dir_all(&staging).await;
        // A hub answers with redirects to its file store: the guarded client follows
        // them, each hop checked and in the ledger.
        let http = self.fetcher()?;
        for (i, file) in MODEL_FILES.iter().enumerate() {
            let url = format!("{}/{id}/resolve/main/{file}", hub.trim_end_matches('/'));
            let url = orchard_net::Url::parse(&url)
                .map_err(|_| AppError::invalid(format!("'{hub}' is not a hub address")))?;
            let resp = http
                .request(
                    orchard_net::Method::GET,
                    url,
                    Purpose::model_download(&name),
                )
                .send()
                .await
                .map_err(|e| {
                    AppError::new(
                        "download_failed",
                        format!("could not download {file} of {id}: {e}"),
                    )
                })?;
            let status = resp.status();
            if status == orchard_net::StatusCode::NOT_FOUND && i >= REQUIRED_FILES {
                continue; // optional file
            }
            if !status.is_success() {
                return Err(AppError::new(
                    "download_failed",
                    format!("the hub answered {status} for {file} of {id}; check the model id"),
                ));
            }
            let bytes = resp.bytes(2 * 1024 * 1024 * 1024).await.map_err(|e| {
                AppError::new(
                    "download_failed",
                    format!("could not download {file} of {id}: {e}"),
                )
            })?;
            progress(file, bytes.len() as u64);
            let to = staging.join(file);
            if let Some(parent) = to.parent() {
                tokio::fs::create_dir_all(parent)
                    .await
                    .map_err(|e| AppError::new("internal", e.to_string()))?;
            }
            tokio::fs::write(&to, &bytes).await.map_err(|e| {
                AppError::new("internal", format!("cannot write {}: {e}", to.display()))
            })?;
        }
        LocalEmbedder::check_dir(&staging).map_err(|e| {
            AppError::new(
                "download_failed",
                format!("the downloaded model cannot be used: {e}"),
            )
        })?;
        self.install_model(&staging, &dest, &name).await
    }

    /// Moves a complete, checked model from `staging` to `dest` in one rename.
    async fn install_model(
        &self,
        staging: &Path,
        dest: &Path,
        name: &str,
    ) -> Result<LocalModel, AppError> {
        if dest.exists() {
            let _ = tokio::fs::remove_dir_all(staging).await;
            return Err(AppError::new(
                "conflict",
                format!(
                    "a local model named '{name}' exists already; choose another name with --name"
                ),
            ));
        }
        tokio::fs::rename(staging, dest)
            .await
            .map_err(|e| AppError::new("internal", format!("cannot install the model: {e}")))?;
        self.local_models()?
            .into_iter()
            .find(|m| m.name == name)
            .ok_or_else(|| AppError::new("internal", "the model was installed but cannot be read"))
    }
}

fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(t) if t.is_file() => total += e.metadata().map(|m| m.len()).unwrap_or(0),
                _ => {}
            }
        }
    }
    total
}
