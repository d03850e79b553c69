//! Calling a provider with its keys: rotation, failover and retries, in one place.
//!
//! - **Rotation:** keys are used least recently used first, so load spreads over them.
//! - **Failover:** a key the provider rejects (401/403) is marked invalid, with the
//!   provider's reason, and the call moves to the next key; a rate-limited key (429)
//!   rests for its `Retry-After` and the call moves on. Only when every key has failed
//!   does the person see an error, naming each key by its mask and why it failed.
//! - **Retries:** connection failures, 5xx and cut streams are retried with exponential
//!   backoff and jitter. A call counts as done once content has reached the person
//!   (see `chat`), so a retry never repeats text.

use std::future::Future;
use std::time::Duration;

use orchard_core::base_url::resolve_for;
use orchard_core::provider::{KeyStatus, Provider};
use orchard_core::{KeyId, Timestamp};
use orchard_llm::{ProviderEndpoint, ProviderError, ProviderErrorKind};
use orchard_net::NetErrorKind;
use orchard_privacy::vault::KeyOwner;
use orchard_store::StoredKey;

use crate::{App, AppError};

/// How long a key rests after a 429 that named no wait.
const DEFAULT_REST: Duration = Duration::from_secs(20);
/// The shortest rest after a 429, whatever its `Retry-After` says.
const MIN_REST: Duration = Duration::from_secs(1);

/// When to retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (per key for transient failures; in total for
    /// waiting out rate limits).
    pub retries: u32,
    /// First backoff; it doubles with each retry (with ±50 % jitter).
    pub base: Duration,
    /// The longest single wait: a rate limit asking for longer fails instead.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            retries: 2,
            base: Duration::from_millis(500),
            max_wait: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self.base.saturating_mul(2u32.saturating_pow(attempt));
        let mut r = [0u8; 2];
        let jitter = if getrandom::fill(&mut r).is_ok() {
            0.5 + f64::from(u16::from_le_bytes(r)) / f64::from(u16::MAX)
        } else {
            1.0
        };
        exp.mul_f64(jitter).min(self.max_wait)
    }
}

/// Failures worth another try of the same key: the network or the provider hiccupped.
fn transient(e: &ProviderError) -> bool {
    matches!(
        e.kind,
        ProviderErrorKind::Server
            | ProviderErrorKind::StreamCut
            | ProviderErrorKind::Network(
                NetErrorKind::Connect | NetErrorKind::ConnectTimeout(_) | NetErrorKind::Cut
            )
    )
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Why one key failed during this call.
struct KeyFailure {
    id: KeyId,
    reason: String,
}

/// `err`, with the keys that failed earlier in the same call named after it.
fn with_earlier_failures(
    mut err: AppError,
    keys: &[StoredKey],
    failures: &[KeyFailure],
) -> AppError {
    let earlier: Vec<String> = failures
        .iter()
        .filter_map(|f| {
            let k = keys.iter().find(|k| k.info.id == f.id)?;
            Some(format!("{}: {}", k.info.mask, f.reason))
        })
        .collect();
    if !earlier.is_empty() {
        err.message = format!("{} (before that: {})", err.message, earlier.join("; "));
    }
    err
}

/// The error when no key could serve a call: every key by its mask, and why.
fn all_keys_failed(
    p: &Provider,
    keys: &[StoredKey],
    failures: &[KeyFailure],
    now: Timestamp,
) -> AppError {
    let why: Vec<String> = keys
        .iter()
        .map(|k| {
            let reason = if let Some(f) = failures.iter().find(|f| f.id == k.info.id) {
                f.reason.clone()
            } else if k.info.status == KeyStatus::Invalid {
                format!(
                    "rejected earlier ({})",
                    k.info.status_reason.as_deref().unwrap_or("no reason given")
                )
            } else if let Some(until) = k.info.rest_until.filter(|t| *t > now) {
                let secs = (until.as_millis() - now.as_millis() + 999) / 1000;
                format!("rate-limited, resting {secs} s more")
            } else {
                "not tried".to_owned()
            };
            format!("{}: {reason}", k.info.mask)
        })
        .collect();
    AppError::new(
        "all_keys_failed",
        format!("every key of {} failed ({})", p.name, why.join("; ")),
    )
    .about(&p.name)
}

impl App {
    /// The endpoint of `p` with `key`.
    pub(crate) fn endpoint(
        &self,
        p: &Provider,
        key: Option<orchard_core::secret::ApiKey>,
    ) -> Result<ProviderEndpoint, AppError> {
        let base_url = resolve_for(p.protocol, &p.base_url)
            .map_err(|e| AppError::invalid(format!("provider {}: {e}", p.name)))?;
        Ok(ProviderEndpoint {
            name: p.name.clone(),
            protocol: p.protocol,
            base_url,
            key,
            quirks: p.quirks.clone(),
        })
    }

    /// The error for `p` when it has no key, if its catalogue entry requires one.
    pub(crate) fn key_missing(&self, p: &Provider) -> Option<AppError> {
        let required = p
            .catalogue_id
            .as_deref()
            .is_some_and(|id| self.key_required(id));
        required.then(|| {
            AppError::new(
                "missing_key",
                format!("{} needs an API key and none is stored", p.name),
            )
            .about(&p.name)
        })
    }

    /// Runs `op` against `p` with its keys, as described in the module docs.
    pub(crate) async fn call_provider<T, F, Fut>(
        &self,
        p: &Provider,
        mut op: F,
    ) -> Result<T, AppError>
    where
        F: FnMut(ProviderEndpoint) -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        let policy = self.config().retry;
        let user = self.user();
        let owner = KeyOwner {
            user,
            provider: p.id,
        };
        let mut waits = 0;
        loop {
            let keys = self.store().keys(user, p.id).await?;
            if keys.is_empty() {
                if let Some(e) = self.key_missing(p) {
                    return Err(e);
                }
                let endpoint = self.endpoint(p, None)?;
                return self
                    .retrying(&policy, true, || op(endpoint.clone()))
                    .await
                    .map_err(AppError::from);
            }
            let now = Timestamp::now();
            let awake = |k: &&StoredKey| k.info.rest_until.is_none_or(|t| t <= now);
            // Keys rejected before are passed over while another key may serve. When
            // every key was rejected, they are tried again: a key can be re-enabled (a
            // paid bill, a fixed permission), and the person asked for this call.
            let all_rejected = keys.iter().all(|k| k.info.status == KeyStatus::Invalid);
            let mut ready: Vec<&StoredKey> = keys
                .iter()
                .filter(awake)
                .filter(|k| all_rejected || k.info.status != KeyStatus::Invalid)
                .collect();
            ready.sort_by_key(|k| k.info.last_used_at.map_or(i64::MIN, Timestamp::as_millis));
            let mut failures: Vec<KeyFailure> = Vec::new();
            let mut last_error: Option<ProviderError> = None;
            for k in ready {
                self.store().touch_key(user, k.info.id).await?;
                let key = self.vault().open(&k.sealed, owner)?;
                let endpoint = self.endpoint(p, Some(key))?;
                let e = match self.retrying(&policy, false, || op(endpoint.clone())).await {
                    Ok(v) => {
                        if k.info.status != KeyStatus::Ok {
                            self.record_key(k.info.id, KeyStatus::Ok, None).await;
                        }
                        return Ok(v);
                    }
                    Err(e) => e,
                };
                let said = e.message.as_deref().unwrap_or("no reason given");
                let reason = if e.is_key_problem() {
                    self.record_key(k.info.id, KeyStatus::Invalid, Some(&e.to_string()))
                        .await;
                    format!("rejected ({said})")
                } else if e.kind == ProviderErrorKind::RateLimited {
                    // A Retry-After already past still earns a short rest, so the next
                    // call does not hammer the key.
                    let rest = e.retry_after.unwrap_or(DEFAULT_REST).max(MIN_REST);
                    let until = Timestamp::from_millis(
                        Timestamp::now().as_millis().saturating_add(ms(rest)),
                    );
                    if let Err(se) = self.store().rest_key(user, k.info.id, until).await {
                        tracing::warn!(error = %se, "could not record that a key is resting");
                    }
                    format!("rate-limited, resting {} s", rest.as_secs().max(1))
                } else if e.kind == ProviderErrorKind::QuotaExhausted {
                    // The key's account is out of credit: no wait helps, another
                    // account's key might. The key itself is fine.
                    format!("out of credit or quota ({said})")
                } else {
                    // Not about this key: another key would fare no better. Keys that
                    // failed before it are still named.
                    return Err(with_earlier_failures(e.into(), &keys, &failures));
                };
                failures.push(KeyFailure {
                    id: k.info.id,
                    reason,
                });
                last_error = Some(e);
            }
            // Every key failed, was rejected before, or rests. Wait for the first to
            // wake if that is soon enough, else report.
            let keys = self.store().keys(user, p.id).await?;
            let now = Timestamp::now();
            let soonest = keys
                .iter()
                .filter(|k| k.info.status != KeyStatus::Invalid)
                .filter_map(|k| k.info.rest_until)
                .filter(|t| *t > now)
                .min();
            if let Some(t) = soonest {
                let wait = Duration::from_millis(
                    u64::try_from(t.as_millis() - now.as_millis()).unwrap_or(0),
                );
                if wait <= policy.max_wait && waits < policy.retries {
                    waits += 1;
                    tracing::info!(wait_ms = wait.as_millis() as u64, provider = %p.name, "every key is rate-limited; waiting");
                    tokio::time::sleep(wait).await;
                    continue;
                }
            }
            return Err(match (keys.len(), last_error) {
                // One key: the provider's own words are the clearest.
                (1, Some(e)) => AppError::from(e),
                _ => all_keys_failed(p, &keys, &failures, now),
            });
        }
    }

    /// `op` with retries on transient failures (and, when `rate_limits` is set, on rate
    /// limits that name a wait short enough), with exponential backoff and jitter.
    async fn retrying<T, Fut>(
        &self,
        policy: &RetryPolicy,
        rate_limits: bool,
        mut op: impl FnMut() -> Fut,
    ) -> Result<T, ProviderError>
    where
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        let mut attempt = 0;
        loop {
            match op().await {
                Err(e) if attempt < policy.retries && transient(&e) => {
                    let wait = policy.backoff(attempt);
                    tracing::info!(error = %e, wait_ms = wait.as_millis() as u64, "retrying");
                    tokio::time::sleep(wait).await;
                }
                Err(e)
                    if attempt < policy.retries
                        && rate_limits
                        && e.kind == ProviderErrorKind::RateLimited =>
                {
                    let wait = e.retry_after.unwrap_or_else(|| policy.backoff(attempt));
                    if wait > policy.max_wait {
                        return Err(e);
                    }
                    tracing::info!(wait_ms = wait.as_millis() as u64, "rate-limited; waiting");
                    tokio::time::sleep(wait).await;
                }
                other => return other,
            }
            attempt += 1;
        }
    }

    async fn record_key(&self, key: KeyId, status: KeyStatus, reason: Option<&str>) {
        if let Err(e) = self
            .store()
            .set_key_status(self.user(), key, status, reason)
            .await
        {
            tracing::warn!(error = %e, "could not record the key's status");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let p = RetryPolicy {
            retries: 5,
            base: Duration::from_millis(100),
            max_wait: Duration::from_secs(1),
        };
        for attempt in 0..3 {
            let d = p.backoff(attempt);
            let exp = 100.0 * f64::from(2u32.pow(attempt));
            assert!(
                d.as_secs_f64() * 1000.0 >= exp * 0.5 - 1.0
                    && d.as_secs_f64() * 1000.0 <= exp * 1.5 + 1.0,
                "{attempt}: {d:?}"
            );
        }
        assert!(p.backoff(10) <= Duration::from_secs(1));
    }
}
