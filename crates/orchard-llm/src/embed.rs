//! Embeddings through the provider layer: one trait per protocol for a single request,
//! and [`embed_all`] for everything around it (batches within the provider's limit,
//! waiting out rate limits, checking that every vector has the same dimension).

use std::time::Duration;

use async_trait::async_trait;

use crate::{ProviderError, ProviderErrorKind};

/// One request's embeddings.
#[derive(Clone, Debug, PartialEq)]
pub struct Embeddings {
    /// One vector per input, in input order.
    pub vectors: Vec<Vec<f32>>,
    /// Tokens billed, if the provider says.
    pub input_tokens: Option<u64>,
}

/// A provider that can embed text.
#[async_trait]
pub trait EmbeddingProvider: Send + Sync {
    /// The provider's name in Orchard, for messages.
    fn name(&self) -> &str;

    /// Most inputs one request may carry.
    fn max_batch(&self) -> usize;

    /// Embeds one batch (at most [`EmbeddingProvider::max_batch`] inputs).
    async fn embed_batch(
        &self,
        model: &str,
        inputs: &[String],
    ) -> Result<Embeddings, ProviderError>;
}

/// Limits for [`embed_all`].
#[derive(Clone, Copy, Debug)]
pub struct EmbedOptions {
    /// Longest single wait for a rate limit to pass; a longer `Retry-After` fails.
    pub max_wait: Duration,
    /// How many times one batch may be retried after a rate limit.
    pub max_retries: u32,
    /// Override of the provider's batch size (smaller only).
    pub batch_size: Option<usize>,
}

impl Default for EmbedOptions {
    fn default() -> Self {
        Self {
            max_wait: Duration::from_secs(60),
            max_retries: 5,
            batch_size: None,
        }
    }
}

/// Embeddings of a whole set of inputs.
#[derive(Clone, Debug, PartialEq)]
pub struct EmbeddingSet {
    /// One vector per input, in input order.
    pub vectors: Vec<Vec<f32>>,
    /// The vectors' dimension, detected from the first one.
    pub dimensions: usize,
    /// Tokens billed, summed over the requests that reported them.
    pub input_tokens: Option<u64>,
}

/// Embeds `inputs` in batches, waiting out rate limits (up to `opts.max_wait` each,
/// `opts.max_retries` times per batch). Fails on the first error that is not a rate
/// limit; vectors of batches already done are not returned then, so callers embed in
/// units they can store (a document's chunks) to avoid paying twice.
pub async fn embed_all(
    provider: &dyn EmbeddingProvider,
    model: &str,
    inputs: &[String],
    opts: EmbedOptions,
) -> Result<EmbeddingSet, ProviderError> {
    let size = opts
        .batch_size
        .unwrap_or(usize::MAX)
        .min(provider.max_batch())
        .max(1);
    let mut vectors = Vec::with_capacity(inputs.len());
    let mut tokens: Option<u64> = None;
    for batch in inputs.chunks(size) {
        let mut retries = 0;
        let got = loop {
            match provider.embed_batch(model, batch).await {
                Ok(e) => break e,
                Err(e)
                    if e.kind == ProviderErrorKind::RateLimited && retries < opts.max_retries =>
                {
                    let wait = e
                        .retry_after
                        .unwrap_or(Duration::from_secs(1) * 2u32.pow(retries));
                    if wait > opts.max_wait {
                        return Err(e);
                    }
                    retries += 1;
                    tracing::info!(
                        wait_ms = wait.as_millis() as u64,
                        retries,
                        "embedding rate-limited; waiting"
                    );
                    tokio::time::sleep(wait).await;
                }
                Err(e) => return Err(e),
            }
        };
        if got.vectors.len() != batch.len() {
            return Err(mismatch(
                provider,
                model,
                format!("{} vectors for {} inputs", got.vectors.len(), batch.len()),
            ));
        }
        if let Some(t) = got.input_tokens {
            tokens = Some(tokens.unwrap_or(0) + t);
        }
        vectors.extend(got.vectors);
    }
    let dimensions = vectors.first().map_or(0, Vec::len);
    if let Some(v) = vectors.iter().find(|v| v.len() != dimensions) {
        return Err(mismatch(
            provider,
            model,
            format!("vectors of {} and {} dimensions", dimensions, v.len()),
        ));
    }
    if !vectors.is_empty() && dimensions == 0 {
        return Err(mismatch(provider, model, "empty vectors".into()));
    }
    Ok(EmbeddingSet {
        vectors,
        dimensions,
        input_tokens: tokens,
    })
}

fn mismatch(provider: &dyn EmbeddingProvider, model: &str, detail: String) -> ProviderError {
    ProviderError {
        model: Some(model.to_owned()),
        message: Some(format!("the embeddings do not fit the request: {detail}")),
        ..ProviderError::new(ProviderErrorKind::Protocol, provider.name())
    }
}
