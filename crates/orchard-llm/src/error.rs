//! Provider failures, sorted into the kinds a person can act on.

use std::fmt;
use std::time::Duration;

use orchard_core::secret::ApiKey;
use orchard_net::{NetError, NetErrorKind};
use serde_json::Value;

/// What went wrong, independent of the protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProviderErrorKind {
    /// The key was rejected (401/403 with a key sent).
    BadKey,
    /// The provider wants a key and none was sent.
    MissingKey,
    /// The model does not exist or the key has no access to it.
    UnknownModel,
    /// Too many requests (429).
    RateLimited,
    /// The account behind the key is out of credit or quota (402, OpenAI's
    /// `insufficient_quota`, Anthropic's "credit balance is too low"): waiting will not
    /// help, another key might.
    QuotaExhausted,
    /// The conversation exceeds the model's context window.
    ContextTooLong,
    /// Access refused for a reason other than the key (403: region, plan, model access).
    Forbidden,
    /// Any other refusal of the request (4xx).
    BadRequest,
    /// The provider answered with a redirect, which Orchard does not follow (it would
    /// send the conversation to a host the person did not configure).
    Redirected,
    /// The address answered 404 for the endpoint itself: usually a wrong base URL.
    WrongEndpoint,
    /// The provider failed (5xx).
    Server,
    /// A proxy or gateway answered with an HTML page instead of the API.
    HtmlPage,
    /// The network failed (connect, DNS, TLS, proxy, timeouts, cut connection).
    Network(NetErrorKind),
    /// The stream ended before the answer was complete.
    StreamCut,
    /// The provider sent something that is not its documented format.
    Protocol,
    /// The provider reported an error inside the stream.
    InStream,
    /// The provider refused to answer the prompt (a safety block).
    Blocked,
}

impl ProviderErrorKind {
    /// A stable, machine-readable code (for the API and for scripts).
    pub fn code(&self) -> &'static str {
        match self {
            ProviderErrorKind::BadKey => "provider_bad_key",
            ProviderErrorKind::MissingKey => "provider_missing_key",
            ProviderErrorKind::UnknownModel => "provider_unknown_model",
            ProviderErrorKind::RateLimited => "provider_rate_limited",
            ProviderErrorKind::QuotaExhausted => "provider_quota_exhausted",
            ProviderErrorKind::ContextTooLong => "provider_context_too_long",
            ProviderErrorKind::Forbidden => "provider_forbidden",
            ProviderErrorKind::BadRequest => "provider_bad_request",
            ProviderErrorKind::Redirected => "provider_redirected",
            ProviderErrorKind::WrongEndpoint => "provider_wrong_endpoint",
            ProviderErrorKind::Server => "provider_server_error",
            ProviderErrorKind::HtmlPage => "provider_html_page",
            ProviderErrorKind::Network(NetErrorKind::Proxy) => "proxy_unreachable",
            ProviderErrorKind::Network(NetErrorKind::Tls) => "provider_tls",
            ProviderErrorKind::Network(
                NetErrorKind::ConnectTimeout(_)
                | NetErrorKind::FirstByteTimeout(_)
                | NetErrorKind::IdleTimeout(_),
            ) => "provider_timeout",
            ProviderErrorKind::Network(_) => "provider_unreachable",
            ProviderErrorKind::StreamCut => "provider_stream_cut",
            ProviderErrorKind::Protocol => "provider_protocol",
            ProviderErrorKind::InStream => "provider_stream_error",
            ProviderErrorKind::Blocked => "provider_blocked",
        }
    }
}

/// A failed provider call. `Display` is the sentence shown to the person; it never
/// contains a key (the provider's own message is scrubbed of it).
#[derive(Clone, Debug)]
pub struct ProviderError {
    /// The kind.
    pub kind: ProviderErrorKind,
    /// The provider's name in Orchard.
    pub provider: String,
    /// The model asked for, if the request named one.
    pub model: Option<String>,
    /// HTTP status, if a response arrived.
    pub status: Option<u16>,
    /// The provider's error code (`invalid_api_key`, `model_not_found`, …).
    pub code: Option<String>,
    /// The provider's own message, scrubbed of keys and shortened.
    pub message: Option<String>,
    /// The provider's request id, for support tickets.
    pub request_id: Option<String>,
    /// How long the provider asked us to wait (429).
    pub retry_after: Option<Duration>,
    /// The mask of the key used, if any.
    pub key_mask: Option<String>,
    /// The network failure, for network kinds.
    pub net: Option<NetError>,
}

impl std::error::Error for ProviderError {}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &self.provider;
        let status = self.status.map(|s| format!(" ({s})")).unwrap_or_default();
        let said = self
            .message
            .as_deref()
            .map(|m| format!(": {m}"))
            .unwrap_or_default();
        let model = self.model.as_deref().unwrap_or("?");
        match &self.kind {
            ProviderErrorKind::BadKey => {
                let key = self
                    .key_mask
                    .as_deref()
                    .map(|m| format!(" {m}"))
                    .unwrap_or_default();
                write!(f, "{p} rejected the API key{key}{status}{said}")?;
            }
            ProviderErrorKind::MissingKey => {
                write!(f, "{p} needs an API key and none is stored{status}{said}")?
            }
            ProviderErrorKind::UnknownModel => {
                write!(f, "{p} does not offer the model '{model}'{status}{said}")?
            }
            ProviderErrorKind::RateLimited => {
                let wait = self
                    .retry_after
                    .map(|d| format!("; it asks to wait {} s", d.as_secs().max(1)))
                    .unwrap_or_default();
                write!(f, "{p} is limiting requests{status}{wait}{said}")?;
            }
            ProviderErrorKind::QuotaExhausted => write!(
                f,
                "{p} says the account is out of credit or quota{status}{said}; check its billing, or add a key of another account"
            )?,
            ProviderErrorKind::ContextTooLong => write!(
                f,
                "the conversation is too long for '{model}' at {p}{status}{said}; start a new topic or shorten the message"
            )?,
            ProviderErrorKind::Forbidden => write!(f, "{p} refused access{status}{said}")?,
            ProviderErrorKind::BadRequest => write!(f, "{p} refused the request{status}{said}")?,
            ProviderErrorKind::Redirected => write!(
                f,
                "{p} redirects the request elsewhere{status}{said}; Orchard does not follow redirects, so the conversation went nowhere else. Update the provider's base URL if the new address is right"
            )?,
            ProviderErrorKind::WrongEndpoint => write!(
                f,
                "{p} has no chat endpoint at the configured address{status}; check the provider's base URL{said}"
            )?,
            ProviderErrorKind::Server => {
                write!(f, "{p} had a server error{status}{said}; try again later")?
            }
            ProviderErrorKind::HtmlPage => write!(
                f,
                "{p} answered with a web page instead of the API{status}; a proxy or gateway in between may be failing, or the base URL is wrong"
            )?,
            ProviderErrorKind::Network(_) => match &self.net {
                Some(net) => write!(f, "cannot reach {p}: {net}")?,
                None => write!(f, "cannot reach {p}")?,
            },
            ProviderErrorKind::StreamCut => {
                write!(
                    f,
                    "the connection to {p} was cut before the answer was complete{said}"
                )?;
            }
            ProviderErrorKind::Protocol => {
                write!(f, "{p} sent a response Orchard cannot read{said}")?
            }
            ProviderErrorKind::InStream => {
                write!(f, "{p} reported an error while answering{said}")?
            }
            ProviderErrorKind::Blocked => {
                write!(f, "{p} blocked the prompt and gave no answer{said}")?
            }
        }
        if let Some(id) = &self.request_id {
            write!(f, " (request id {id})")?;
        }
        Ok(())
    }
}

impl ProviderError {
    /// An error of `kind` about `provider`, with nothing else known yet (callers set
    /// `message` and the rest with struct update syntax).
    pub fn new(kind: ProviderErrorKind, provider: &str) -> Self {
        Self {
            kind,
            provider: provider.to_owned(),
            model: None,
            status: None,
            code: None,
            message: None,
            request_id: None,
            retry_after: None,
            key_mask: None,
            net: None,
        }
    }

    pub(crate) fn from_net(provider: &str, net: NetError) -> Self {
        let kind = match net.kind {
            NetErrorKind::Cut => ProviderErrorKind::StreamCut,
            ref k => ProviderErrorKind::Network(k.clone()),
        };
        Self {
            net: Some(net),
            ..Self::new(kind, provider)
        }
    }

    /// Whether the failure is about the key (so the key should be marked invalid).
    pub fn is_key_problem(&self) -> bool {
        matches!(self.kind, ProviderErrorKind::BadKey)
    }
}

/// The provider-independent facts of an HTTP error response.
pub(crate) struct HttpFailure<'a> {
    pub status: u16,
    pub content_type: &'a str,
    pub body: &'a [u8],
    pub request_id: Option<String>,
    pub retry_after: Option<Duration>,
    /// Where a redirect points (host only is shown).
    pub location: Option<String>,
}

/// `Retry-After` (seconds or an HTTP date) or OpenAI's `retry-after-ms`.
pub(crate) fn retry_after(ms: Option<&str>, header: Option<&str>) -> Option<Duration> {
    if let Some(ms) = ms.and_then(|v| v.trim().parse::<u64>().ok()) {
        return Some(Duration::from_millis(ms));
    }
    let v = header?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// Words that say an error is about a key (used when no key was sent: the provider
/// wants one).
const KEY_WORDS: &[&str] = &[
    "invalid_api_key",
    "api key",
    "api_key",
    "apikey",
    "invalid key",
    "incorrect key",
    "unauthorized",
    "unauthenticated",
    "authentication",
    "invalid token",
    "invalid_token",
    "expired key",
];

/// Words that say a 400 or 403 rejects the key itself. Narrower than [`KEY_WORDS`]: a
/// 403 that only mentions the key ("your API key does not have permission to use this
/// model") is about access, and must not get a good key marked invalid.
const BAD_KEY_WORDS: &[&str] = &[
    "invalid_api_key",
    "invalid api key",
    "incorrect api key",
    "api key not valid",
    "api_key_invalid",
    "invalid x-api-key",
    "authentication_error",
    "invalid_token",
    "invalid token",
    "invalid key",
    "incorrect key",
    "expired key",
    "key expired",
    "api key expired",
];

/// Words of an account out of credit (not a rate limit that passes).
const QUOTA_WORDS: &[&str] = &[
    "insufficient_quota",
    "insufficient balance",
    "insufficient_balance",
    "credit balance is too low",
    "billing_hard_limit",
];

/// Sorts an HTTP error response into a kind, reading the common JSON error shapes:
/// `{"error":{"message","type","code"}}`, `{"error":"…"}`, `{"message":"…"}`,
/// `{"detail":"…"}`.
pub(crate) fn from_http(
    provider: &str,
    model: Option<&str>,
    f: HttpFailure<'_>,
    key: Option<&ApiKey>,
) -> ProviderError {
    let text = String::from_utf8_lossy(f.body);
    let looks_html = f.content_type.contains("text/html")
        || text.trim_start().starts_with('<') && text.to_ascii_lowercase().contains("<html");
    let (message, code) = match serde_json::from_slice::<Value>(f.body) {
        Ok(v) => read_error_json(&v),
        Err(_) if looks_html => (None, None),
        Err(_) => (Some(text.trim().to_owned()).filter(|s| !s.is_empty()), None),
    };
    // Keywords are looked for in the whole body: providers put the telling word in
    // different fields (OpenAI `code`, Anthropic `error.type`, Gemini `status` and
    // `details[].reason`).
    let lower = text.to_ascii_lowercase();
    let about_model = model.is_some()
        && (lower.contains("model") || lower.contains("deployment"))
        && !lower.contains("invalid url");
    let key_words = KEY_WORDS.iter().any(|w| lower.contains(w));
    let bad_key_words = BAD_KEY_WORDS.iter().any(|w| lower.contains(w))
        && !lower.contains("permission_error")
        && !lower.contains("does not have permission");
    let quota_words = QUOTA_WORDS.iter().any(|w| lower.contains(w));
    let context_words = [
        "context_length",
        "context length",
        "maximum context",
        "too many tokens",
        "reduce the length",
        "prompt is too long",
        "exceeds the maximum number of tokens",
        "input token count",
    ]
    .iter()
    .any(|w| lower.contains(w));
    let kind = match f.status {
        300..=399 => ProviderErrorKind::Redirected,
        _ if looks_html && message.is_none() => ProviderErrorKind::HtmlPage,
        401 | 403 if key.is_none() => ProviderErrorKind::MissingKey,
        401 => ProviderErrorKind::BadKey,
        // Gemini answers an invalid key with 400 API_KEY_INVALID.
        400 | 403 if bad_key_words && key.is_some() => ProviderErrorKind::BadKey,
        400 if key_words && key.is_none() => ProviderErrorKind::MissingKey,
        402 => ProviderErrorKind::QuotaExhausted,
        400 | 403 | 429 if quota_words => ProviderErrorKind::QuotaExhausted,
        403 => ProviderErrorKind::Forbidden,
        429 => ProviderErrorKind::RateLimited,
        404 if about_model => ProviderErrorKind::UnknownModel,
        404 => ProviderErrorKind::WrongEndpoint,
        400 | 413 | 422 if context_words => ProviderErrorKind::ContextTooLong,
        400..=499
            if about_model
                && (lower.contains("model_not_found")
                    || lower.contains("does not exist")
                    || lower.contains("not found")) =>
        {
            ProviderErrorKind::UnknownModel
        }
        500..=599 => ProviderErrorKind::Server,
        _ => ProviderErrorKind::BadRequest,
    };
    // Gemini puts the wait in the body (google.rpc.RetryInfo) rather than a header.
    let retry = f.retry_after.or_else(|| body_retry_delay(f.body));
    let message = match kind {
        ProviderErrorKind::Redirected => {
            f.location.as_deref().map(|l| format!("to {}", host_of(l)))
        }
        _ => message.map(|m| scrub(&m, key)),
    };
    ProviderError {
        model: model.map(str::to_owned),
        status: Some(f.status),
        code,
        message,
        request_id: f.request_id,
        retry_after: retry,
        key_mask: key.map(ApiKey::mask),
        ..ProviderError::new(kind, provider)
    }
}

/// `"retryDelay": "7s"` anywhere in a JSON error body (Gemini's RetryInfo detail).
fn body_retry_delay(body: &[u8]) -> Option<Duration> {
    fn find(v: &Value) -> Option<&str> {
        match v {
            Value::Object(m) => m
                .get("retryDelay")
                .and_then(Value::as_str)
                .or_else(|| m.values().find_map(find)),
            Value::Array(a) => a.iter().find_map(find),
            _ => None,
        }
    }
    let v: Value = serde_json::from_slice(body).ok()?;
    let text = find(&v)?.trim().trim_end_matches('s');
    let secs: f64 = text.parse().ok()?;
    // A hostile or broken body must not panic us: `from_secs_f64` would, on 1e20.
    Duration::try_from_secs_f64(secs).ok()
}

/// The host of a URL, without path or query (which could carry anything).
fn host_of(location: &str) -> String {
    orchard_net::Url::parse(location)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "another address".to_owned())
}

/// The message and code of the common JSON error shapes.
fn read_error_json(v: &Value) -> (Option<String>, Option<String>) {
    let s = |v: Option<&Value>| match v {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    match v.get("error") {
        Some(Value::Object(e)) => (
            s(e.get("message")),
            s(e.get("code")).or_else(|| s(e.get("type"))),
        ),
        Some(Value::String(m)) => (Some(m.clone()), None),
        _ => (
            s(v.get("message"))
                .or_else(|| s(v.get("detail")))
                .or_else(|| s(v.get("msg"))),
            s(v.get("code")),
        ),
    }
}

/// Makes a provider's message safe to show: removes every trace of the key (the key
/// itself, and any word in which the provider echoed a starred-out part of it: OpenAI's
/// 401 message shows the first eight and last four characters), puts it on one line,
/// and bounds its length.
pub(crate) fn scrub(message: &str, key: Option<&ApiKey>) -> String {
    let mask = key.map(ApiKey::mask);
    let replacement = mask.as_deref().unwrap_or("[key]");
    let secret = key.map(ApiKey::expose).filter(|k| !k.is_empty());
    // The first eight characters identify a key as well as the whole one does.
    let head = secret
        .and_then(|k| k.get(..8))
        .filter(|h| h.chars().count() == 8);
    let words: Vec<String> = message
        .split_whitespace()
        .map(|word| {
            let core = word.trim_end_matches(['.', ',', ';', ')', '"', '\'']);
            let leaks = core.contains("***")
                || secret.is_some_and(|k| core.contains(k))
                || head.is_some_and(|h| core.contains(h));
            if leaks {
                format!("{replacement}{}", &word[core.len()..])
            } else {
                word.to_owned()
            }
        })
        .collect();
    let mut out = words.join(" ");
    const MAX: usize = 400;
    if out.chars().count() > MAX {
        out = out.chars().take(MAX).collect::<String>() + "…";
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "sk-abcdefgh12345678wxyz";

    fn http(status: u16, content_type: &str, body: &str) -> HttpFailure<'static> {
        HttpFailure {
            status,
            content_type: if content_type == "json" {
                "application/json"
            } else {
                "text/html"
            },
            body: Box::leak(body.as_bytes().to_vec().into_boxed_slice()),
            request_id: Some("req_1".into()),
            retry_after: None,
            location: None,
        }
    }

    fn failure(status: u16, body: &str) -> ProviderError {
        let key = ApiKey::parse(KEY).unwrap();
        from_http(
            "DeepSeek",
            Some("deepseek-chat"),
            http(status, "json", body),
            Some(&key),
        )
    }

    #[test]
    fn access_and_billing_refusals_do_not_condemn_the_key() {
        // Anthropic's documented 403: the key is fine, this model is not for it.
        let e = failure(
            403,
            r#"{"type":"error","error":{"type":"permission_error","message":"Your API key does not have permission to use the specified resource."}}"#,
        );
        assert_eq!(e.kind, ProviderErrorKind::Forbidden);
        assert!(!e.is_key_problem());
        // Gemini's invalid key is a 400, and it is the key.
        let e = failure(
            400,
            r#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID"}]}}"#,
        );
        assert_eq!(e.kind, ProviderErrorKind::BadKey);
        // Out of credit: no wait will help.
        for (status, body) in [
            (
                429,
                r#"{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#,
            ),
            (
                402,
                r#"{"error":{"message":"Insufficient Balance","type":"unknown_error"}}"#,
            ),
            (
                400,
                r#"{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API."}}"#,
            ),
        ] {
            let e = failure(status, body);
            assert_eq!(
                e.kind,
                ProviderErrorKind::QuotaExhausted,
                "{status}: {body}"
            );
            assert!(e.to_string().contains("out of credit or quota"), "{e}");
        }
    }

    #[test]
    fn an_absurd_retry_delay_is_ignored_not_a_panic() {
        let e = failure(
            429,
            r#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"1e20s"}]}}"#,
        );
        assert_eq!(e.kind, ProviderErrorKind::RateLimited);
        assert_eq!(e.retry_after, None);
        let e = failure(429, r#"{"error":{"details":[{"retryDelay":"7.5s"}]}}"#);
        assert_eq!(e.retry_after, Some(Duration::from_millis(7500)));
    }

    #[test]
    fn openai_error_shapes_map_to_kinds() {
        let e = failure(
            401,
            r#"{"error":{"message":"Incorrect API key provided: sk-abcde**********wxyz. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#,
        );
        assert_eq!(e.kind, ProviderErrorKind::BadKey);
        assert_eq!(e.code.as_deref(), Some("invalid_api_key"));
        let e = failure(
            404,
            r#"{"error":{"message":"The model `x` does not exist or you do not have access to it.","type":"invalid_request_error","param":null,"code":"model_not_found"}}"#,
        );
        assert_eq!(e.kind, ProviderErrorKind::UnknownModel);
        let e = failure(
            400,
            r#"{"error":{"message":"This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#,
        );
        assert_eq!(e.kind, ProviderErrorKind::ContextTooLong);
        assert_eq!(
            failure(429, r#"{"error":"slow down"}"#).kind,
            ProviderErrorKind::RateLimited
        );
        assert_eq!(
            failure(503, r#"{"message":"overloaded"}"#).kind,
            ProviderErrorKind::Server
        );
        assert_eq!(
            failure(404, r#"{"detail":"Not Found"}"#).kind,
            ProviderErrorKind::WrongEndpoint
        );
        assert_eq!(
            failure(400, r#"{"error":{"message":"temperature too high"}}"#).kind,
            ProviderErrorKind::BadRequest
        );
        let html = from_http(
            "X",
            None,
            http(
                502,
                "html",
                "<html><body><h1>502 Bad Gateway</h1></body></html>",
            ),
            None,
        );
        assert_eq!(html.kind, ProviderErrorKind::HtmlPage);
        assert!(
            html.to_string().contains("web page instead of the API"),
            "{html}"
        );
    }

    #[test]
    fn other_protocols_error_shapes_map_to_the_same_kinds() {
        let gemini_key = r#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}}"#;
        assert_eq!(failure(400, gemini_key).kind, ProviderErrorKind::BadKey);
        let gemini_429 = r#"{"error":{"code":429,"message":"You exceeded your current quota","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"7s"}]}}"#;
        let e = failure(429, gemini_429);
        assert_eq!(
            (e.kind, e.retry_after),
            (ProviderErrorKind::RateLimited, Some(Duration::from_secs(7)))
        );
        let gemini_ctx = r#"{"error":{"code":400,"message":"The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).","status":"INVALID_ARGUMENT"}}"#;
        assert_eq!(
            failure(400, gemini_ctx).kind,
            ProviderErrorKind::ContextTooLong
        );
        let anthropic_ctx = r#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}}"#;
        assert_eq!(
            failure(400, anthropic_ctx).kind,
            ProviderErrorKind::ContextTooLong
        );
        let anthropic_key = r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#;
        assert_eq!(failure(401, anthropic_key).kind, ProviderErrorKind::BadKey);
        let anthropic_overloaded =
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        assert_eq!(
            failure(529, anthropic_overloaded).kind,
            ProviderErrorKind::Server
        );
        let ollama_model = r#"{"error":"model \"llama9\" not found, try pulling it first"}"#;
        assert_eq!(
            failure(404, ollama_model).kind,
            ProviderErrorKind::UnknownModel
        );
        let azure_deployment = r#"{"error":{"code":"DeploymentNotFound","message":"The API deployment for this resource does not exist."}}"#;
        assert_eq!(
            failure(404, azure_deployment).kind,
            ProviderErrorKind::UnknownModel
        );
        let azure_key = r#"{"error":{"code":"401","message":"Access denied due to invalid subscription key or wrong API endpoint."}}"#;
        assert_eq!(failure(401, azure_key).kind, ProviderErrorKind::BadKey);
    }

    #[test]
    fn a_403_is_about_the_key_only_when_the_provider_says_so() {
        let e = failure(
            403,
            r#"{"error":{"message":"Country, region, or territory not supported","type":"request_forbidden","code":"unsupported_country_region_territory"}}"#,
        );
        assert_eq!(e.kind, ProviderErrorKind::Forbidden);
        assert!(
            !e.is_key_problem(),
            "a region block must not mark the key rejected"
        );
        assert!(
            e.to_string()
                .starts_with("DeepSeek refused access (403): Country, region"),
            "{e}"
        );
        let e = failure(
            403,
            r#"{"error":{"message":"Invalid API key","code":"invalid_api_key"}}"#,
        );
        assert_eq!(e.kind, ProviderErrorKind::BadKey);
    }

    #[test]
    fn a_404_is_an_unknown_model_only_when_a_model_was_asked_for() {
        let body = r#"{"error":{"message":"Invalid URL (GET /v1/models)","type":"invalid_request_error","param":null,"code":null}}"#;
        let e = from_http("X", None, http(404, "json", body), None);
        assert_eq!(e.kind, ProviderErrorKind::WrongEndpoint);
        let e = failure(
            404,
            r#"{"error":{"message":"Invalid URL (POST /v1/chat/completions)"}}"#,
        );
        assert_eq!(e.kind, ProviderErrorKind::WrongEndpoint);
    }

    #[test]
    fn redirects_name_only_the_target_host() {
        let mut f = http(307, "json", "");
        f.location = Some("https://elsewhere.example/v1/chat?token=SECRET".into());
        let e = from_http("X", Some("m"), f, None);
        assert_eq!(e.kind, ProviderErrorKind::Redirected);
        let shown = e.to_string();
        assert!(
            shown.contains("to elsewhere.example") && !shown.contains("SECRET"),
            "{shown}"
        );
    }

    #[test]
    fn retry_after_is_read_in_seconds_milliseconds_and_http_dates() {
        assert_eq!(retry_after(None, Some("7")), Some(Duration::from_secs(7)));
        assert_eq!(
            retry_after(Some("1500"), Some("7")),
            Some(Duration::from_millis(1500))
        );
        let in_a_minute =
            httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(60));
        let d = retry_after(None, Some(&in_a_minute)).unwrap();
        assert!(
            d > Duration::from_secs(55) && d <= Duration::from_secs(60),
            "{d:?}"
        );
        assert_eq!(
            retry_after(None, Some("Wed, 21 Oct 2015 07:28:00 GMT")),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(None, Some("soon")), None);
    }

    #[test]
    fn provider_messages_become_one_line() {
        let e = failure(
            500,
            "{\"error\":{\"message\":\"line one\\nline two\\r\\n\\tthree\"}}",
        );
        assert!(e.to_string().contains("line one line two three"), "{e}");
    }

    #[test]
    fn p_l2_provider_messages_lose_every_echo_of_the_key() {
        let key = "sk-abcdefgh12345678wxyz";
        let e = failure(
            401,
            r#"{"error":{"message":"Incorrect API key provided: sk-abcde**********wxyz. You can find your API key at https://platform.openai.com/account/api-keys.","code":"invalid_api_key"}}"#,
        );
        let shown = e.to_string();
        assert!(!shown.contains("sk-abcde"), "{shown}");
        assert!(shown.contains("sk-…wxyz"), "{shown}");
        let e = failure(401, &format!(r#"{{"error":"key {key} is not valid"}}"#));
        assert!(!e.to_string().contains(key), "{e}");
        let e = failure(
            403,
            &format!(r#"{{"error":"key {}… is not valid"}}"#, &key[..10]),
        );
        assert!(!e.to_string().contains(&key[..8]), "{e}");
    }

    #[test]
    fn a_401_without_a_key_says_a_key_is_needed() {
        let body = r#"{"error":{"message":"You didn't provide an API key."}}"#;
        let e = from_http("DeepSeek", None, http(401, "json", body), None);
        assert_eq!(e.kind, ProviderErrorKind::MissingKey);
        assert!(
            e.to_string()
                .starts_with("DeepSeek needs an API key and none is stored")
        );
    }
}
