//! Error responses in each protocol's documented shape.

use crate::http;
use crate::json::{J, obj};
use crate::proto::{self, Protocol};
use crate::reply::{ErrorKind, ErrorReply};
use crate::wire;

/// What an error is rendered for.
#[derive(Debug, Clone)]
pub(crate) struct ErrCtx {
    pub proto: Protocol,
    /// Model (or deployment) of the request, if known.
    pub model: String,
    /// Azure `api-version` of the request (`v1` on the v1 paths).
    pub api_version: String,
    /// Numbers the response, for request ids in bodies.
    pub n: u64,
}

impl ErrCtx {
    pub fn openai() -> ErrCtx {
        ErrCtx::new(Protocol::OpenAi, 0)
    }

    pub fn new(proto: Protocol, n: u64) -> ErrCtx {
        ErrCtx {
            proto,
            model: String::new(),
            api_version: "2024-10-21".to_owned(),
            n,
        }
    }
}

/// A concrete error response.
#[derive(Debug, Clone)]
pub(crate) struct Rendered {
    pub status: u16,
    pub content_type: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Rendered {
    fn json(ctx: &ErrCtx, status: u16, body: String) -> Rendered {
        Rendered {
            status,
            content_type: ctx.proto.json_type().to_owned(),
            headers: Vec::new(),
            body,
        }
    }

    fn with_header(mut self, name: &str, value: String) -> Rendered {
        self.headers.push((name.to_owned(), value));
        self
    }
}

/// `reply` as `ctx.proto` sends it: its kind rendered for the protocol, or
/// as given; then the reply's extra headers.
pub(crate) fn render(reply: &ErrorReply, ctx: &ErrCtx) -> Rendered {
    let mut out = match reply.kind {
        Some(_) => render_kind(reply, ctx),
        None => Rendered {
            status: reply.status,
            content_type: reply.content_type.clone(),
            headers: Vec::new(),
            body: reply.body.clone(),
        },
    };
    out.headers.extend(reply.headers.iter().cloned());
    out
}

/// The protocol rendering of `reply.kind` (without the reply's headers).
pub(crate) fn render_kind(reply: &ErrorReply, ctx: &ErrCtx) -> Rendered {
    let Some(kind) = &reply.kind else {
        return Rendered::json(ctx, reply.status, reply.body.clone());
    };
    match ctx.proto {
        Protocol::OpenAi => openai_kind(kind, reply.status, ctx),
        Protocol::Azure => azure_kind(kind, reply.status, ctx),
        Protocol::Anthropic => anthropic_kind(kind, reply.status, ctx),
        Protocol::Gemini => gemini_kind(kind, reply.status, ctx),
        Protocol::Ollama => ollama_kind(kind, reply.status, ctx),
    }
}

/// A 400 for a malformed or invalid request, in the protocol's shape.
pub(crate) fn bad_request(ctx: &ErrCtx, message: &str) -> Rendered {
    match ctx.proto {
        Protocol::OpenAi | Protocol::Azure => openai(ctx, 400, message, "invalid_request_error"),
        Protocol::Anthropic => anthropic(ctx, 400, "invalid_request_error", message),
        Protocol::Gemini => gemini(ctx, 400, "INVALID_ARGUMENT", message, Vec::new()),
        Protocol::Ollama => ollama(ctx, 400, message),
    }
}

/// A 404 for an unknown path (or method), in the protocol's shape.
pub(crate) fn unknown_path(ctx: &ErrCtx, method: &str, path: &str) -> Rendered {
    match ctx.proto {
        Protocol::OpenAi => openai(
            ctx,
            404,
            &format!("Invalid URL ({method} {path})"),
            "invalid_request_error",
        ),
        Protocol::Azure => azure_apim(ctx, 404, "404", "Resource not found"),
        Protocol::Anthropic => anthropic(ctx, 404, "not_found_error", "Not Found"),
        Protocol::Gemini => gemini(ctx, 404, "NOT_FOUND", "Method not found.", Vec::new()),
        Protocol::Ollama => Rendered {
            status: 404,
            content_type: "text/plain".to_owned(),
            headers: Vec::new(),
            body: "404 page not found".to_owned(),
        },
    }
}

/// A request that tried to embed more inputs than the batch limit.
pub(crate) fn too_many_inputs(ctx: &ErrCtx, max: usize) -> Rendered {
    match ctx.proto {
        Protocol::OpenAi => openai(
            ctx,
            400,
            "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.",
            "invalid_request_error",
        ),
        Protocol::Azure => openai(
            ctx,
            400,
            &format!(
                "Too many inputs. The max number of inputs is {max}.  We hope to increase the number of inputs per request soon. Please contact us through an Azure support request at: https://go.microsoft.com/fwlink/?linkid=2213926 for further questions."
            ),
            "invalid_request_error",
        ),
        Protocol::Gemini => gemini(
            ctx,
            400,
            "INVALID_ARGUMENT",
            &format!(
                "* BatchEmbedContentsRequest.requests: at most {max} requests can be in one batch\n"
            ),
            Vec::new(),
        ),
        Protocol::Ollama => ollama(
            ctx,
            400,
            &format!("too many inputs: at most {max} can be embedded in one request"),
        ),
        Protocol::Anthropic => anthropic(ctx, 400, "invalid_request_error", "too many inputs"),
    }
}

/// An OpenAI-shaped error with `type` `kind` and no param or code.
pub(crate) fn openai(ctx: &ErrCtx, status: u16, message: &str, kind: &str) -> Rendered {
    Rendered::json(ctx, status, wire::error_body(message, kind, None, None))
}

fn openai_kind(kind: &ErrorKind, status: u16, ctx: &ErrCtx) -> Rendered {
    let body = |message: &str, kind: &str, param: Option<&str>, code: Option<&str>| {
        wire::error_body(message, kind, param, code)
    };
    match kind {
        ErrorKind::InvalidApiKey { key } => {
            let message = format!(
                "Incorrect API key provided: {}. You can find your API key at https://platform.openai.com/account/api-keys.",
                wire::mask_key(key)
            );
            let b = body(
                &message,
                "invalid_request_error",
                None,
                Some("invalid_api_key"),
            );
            Rendered::json(ctx, 401, b)
        }
        ErrorKind::MissingApiKey => Rendered::json(
            ctx,
            401,
            body(
                "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username and password. You can obtain an API key from https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                None,
                None,
            ),
        ),
        ErrorKind::ModelNotFound { model } => {
            let message =
                format!("The model `{model}` does not exist or you do not have access to it.");
            Rendered::json(
                ctx,
                404,
                body(
                    &message,
                    "invalid_request_error",
                    None,
                    Some("model_not_found"),
                ),
            )
        }
        ErrorKind::ContextLengthExceeded => Rendered::json(
            ctx,
            400,
            body(
                "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens. Please reduce the length of the messages.",
                "invalid_request_error",
                Some("messages"),
                Some("context_length_exceeded"),
            ),
        ),
        ErrorKind::RateLimited { retry_after_secs } => {
            let secs = *retry_after_secs;
            let message = format!(
                "Rate limit reached for fake-small in organization org-fake on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in {secs}s. Visit https://platform.openai.com/account/rate-limits to learn more."
            );
            Rendered::json(
                ctx,
                429,
                body(&message, "requests", None, Some("rate_limit_exceeded")),
            )
            .with_header("retry-after", secs.to_string())
            .with_header("x-ratelimit-limit-requests", "3".to_owned())
            .with_header("x-ratelimit-limit-tokens", "40000".to_owned())
            .with_header("x-ratelimit-remaining-requests", "0".to_owned())
            .with_header("x-ratelimit-remaining-tokens", "40000".to_owned())
            .with_header("x-ratelimit-reset-requests", format!("{secs}s"))
            .with_header("x-ratelimit-reset-tokens", "0s".to_owned())
        }
        ErrorKind::ServerError => {
            let message = match status {
                502 => "Bad gateway.",
                503 => "The server is overloaded or not ready yet.",
                _ => "The server had an error while processing your request. Sorry about that!",
            };
            Rendered::json(ctx, status, body(message, "server_error", None, None))
        }
    }
}

/// Azure API Management's own error bodies, spaced the way APIM writes
/// them (`{"error":{"code":"404","message": "Resource not found"}}`, 56
/// bytes, as a real response's `content-length` shows).
fn azure_apim(ctx: &ErrCtx, status: u16, code: &str, message: &str) -> Rendered {
    let body = format!(
        "{{\"error\":{{\"code\":{},\"message\": {}}}}}",
        J::from(code).render(),
        J::from(message).render()
    );
    Rendered::json(ctx, status, body)
}

fn azure_kind(kind: &ErrorKind, status: u16, ctx: &ErrCtx) -> Rendered {
    match kind {
        ErrorKind::InvalidApiKey { .. } => azure_apim(
            ctx,
            401,
            "401",
            "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.",
        ),
        ErrorKind::MissingApiKey => azure_apim(
            ctx,
            401,
            "401",
            "Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API.",
        ),
        ErrorKind::ModelNotFound { .. } => Rendered::json(
            ctx,
            404,
            obj! { "error": obj! {
                "code": "DeploymentNotFound",
                "message": "The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again.",
            }}
            .render(),
        ),
        ErrorKind::RateLimited { retry_after_secs } => {
            let secs = *retry_after_secs;
            let message = format!(
                "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version {} have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after {secs} seconds. Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit.",
                ctx.api_version
            );
            Rendered::json(
                ctx,
                429,
                obj! { "error": obj! { "code": "429", "message": message } }.render(),
            )
            .with_header("retry-after", secs.to_string())
            .with_header("retry-after-ms", (secs.saturating_mul(1000)).to_string())
            .with_header("x-ratelimit-remaining-requests", "0".to_owned())
            .with_header("x-ratelimit-remaining-tokens", "0".to_owned())
        }
        // Azure passes the model's own errors through in OpenAI's shape.
        ErrorKind::ContextLengthExceeded | ErrorKind::ServerError => {
            let mut r = openai_kind(kind, status, ctx);
            r.content_type = ctx.proto.json_type().to_owned();
            r
        }
    }
}

fn anthropic(ctx: &ErrCtx, status: u16, kind: &str, message: &str) -> Rendered {
    let body = obj! {
        "type": "error",
        "error": obj! { "type": kind, "message": message },
        "request_id": proto::anthropic_request_id(ctx.n),
    };
    Rendered::json(ctx, status, body.render())
}

/// The `data` of an Anthropic in-stream `error` event.
pub(crate) fn anthropic_stream_error(message: &str) -> String {
    obj! { "type": "error", "error": obj! { "type": "overloaded_error", "message": message } }
        .render()
}

fn anthropic_kind(kind: &ErrorKind, status: u16, ctx: &ErrCtx) -> Rendered {
    match kind {
        ErrorKind::InvalidApiKey { .. } => {
            anthropic(ctx, 401, "authentication_error", "invalid x-api-key")
        }
        ErrorKind::MissingApiKey => anthropic(
            ctx,
            401,
            "authentication_error",
            "x-api-key header is required",
        ),
        ErrorKind::ModelNotFound { model } => {
            anthropic(ctx, 404, "not_found_error", &format!("model: {model}"))
        }
        ErrorKind::ContextLengthExceeded => anthropic(
            ctx,
            400,
            "invalid_request_error",
            "prompt is too long: 9000 tokens > 8192 maximum",
        ),
        ErrorKind::RateLimited { retry_after_secs } => {
            let secs = *retry_after_secs;
            let reset = http::rfc3339(http::unix_now().saturating_add(secs), 0);
            anthropic(
                ctx,
                429,
                "rate_limit_error",
                "This request would exceed the rate limit for your organization (org-fake) of 50 requests per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see the response headers for current usage. Please reduce the prompt length or the maximum tokens requested, or try again later. You may also contact sales at https://www.anthropic.com/contact-sales to discuss your options for a rate limit increase.",
            )
            .with_header("retry-after", secs.to_string())
            .with_header("anthropic-ratelimit-requests-limit", "50".to_owned())
            .with_header("anthropic-ratelimit-requests-remaining", "0".to_owned())
            .with_header("anthropic-ratelimit-requests-reset", reset)
        }
        ErrorKind::ServerError if status == 529 => {
            anthropic(ctx, 529, "overloaded_error", "Overloaded")
        }
        ErrorKind::ServerError => anthropic(ctx, status, "api_error", "Internal server error"),
    }
}

fn gemini(ctx: &ErrCtx, code: u16, status: &str, message: &str, details: Vec<J>) -> Rendered {
    let mut error = vec![
        ("code", J::from(u32::from(code))),
        ("message", J::from(message)),
        ("status", J::from(status)),
    ];
    if !details.is_empty() {
        error.push(("details", J::Arr(details)));
    }
    Rendered::json(ctx, code, obj! { "error": J::Obj(error) }.pretty())
}

/// The `data` of a Gemini in-stream error.
pub(crate) fn gemini_stream_error(message: &str) -> String {
    obj! { "error": obj! { "code": 500u32, "message": message, "status": "INTERNAL" } }.render()
}

fn gemini_kind(kind: &ErrorKind, status: u16, ctx: &ErrCtx) -> Rendered {
    match kind {
        ErrorKind::InvalidApiKey { .. } => {
            let message = "API key not valid. Please pass a valid API key.";
            gemini(
                ctx,
                400,
                "INVALID_ARGUMENT",
                message,
                vec![
                    obj! {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID",
                        "domain": "googleapis.com",
                        "metadata": obj! { "service": "generativelanguage.googleapis.com" },
                    },
                    obj! {
                        "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                        "locale": "en-US",
                        "message": message,
                    },
                ],
            )
        }
        ErrorKind::MissingApiKey => gemini(
            ctx,
            403,
            "PERMISSION_DENIED",
            "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
            Vec::new(),
        ),
        ErrorKind::ModelNotFound { model } => {
            let model = model.strip_prefix("models/").unwrap_or(model);
            gemini(
                ctx,
                404,
                "NOT_FOUND",
                &format!(
                    "models/{model} is not found for API version v1beta, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods."
                ),
                Vec::new(),
            )
        }
        ErrorKind::ContextLengthExceeded => gemini(
            ctx,
            400,
            "INVALID_ARGUMENT",
            "The input token count (9000) exceeds the maximum number of tokens allowed (8192).",
            Vec::new(),
        ),
        ErrorKind::RateLimited { retry_after_secs } => {
            let model = if ctx.model.is_empty() {
                "fake-small"
            } else {
                ctx.model.as_str()
            };
            // Gemini sends no `retry-after` header: the delay is only in
            // the RetryInfo detail.
            gemini(
                ctx,
                429,
                "RESOURCE_EXHAUSTED",
                "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.",
                vec![
                    obj! {
                        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                        "violations": vec![obj! {
                            "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                            "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                            "quotaDimensions": obj! { "location": "global", "model": model },
                            "quotaValue": "10",
                        }],
                    },
                    obj! {
                        "@type": "type.googleapis.com/google.rpc.Help",
                        "links": vec![obj! {
                            "description": "Learn more about Gemini API quotas",
                            "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                        }],
                    },
                    obj! {
                        "@type": "type.googleapis.com/google.rpc.RetryInfo",
                        "retryDelay": format!("{retry_after_secs}s"),
                    },
                ],
            )
        }
        ErrorKind::ServerError => {
            let (code_status, message) = match status {
                503 => (
                    "UNAVAILABLE",
                    "The model is overloaded. Please try again later.",
                ),
                504 => (
                    "DEADLINE_EXCEEDED",
                    "Deadline expired before operation could complete.",
                ),
                _ => (
                    "INTERNAL",
                    "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
                ),
            };
            gemini(ctx, status, code_status, message, Vec::new())
        }
    }
}

fn ollama(ctx: &ErrCtx, status: u16, message: &str) -> Rendered {
    Rendered::json(ctx, status, obj! { "error": message }.render())
}

/// An Ollama in-stream error line.
pub(crate) fn ollama_stream_error(message: &str) -> String {
    obj! { "error": message }.render()
}

fn ollama_kind(kind: &ErrorKind, status: u16, ctx: &ErrCtx) -> Rendered {
    match kind {
        ErrorKind::InvalidApiKey { .. } | ErrorKind::MissingApiKey => {
            ollama(ctx, 401, "unauthorized")
        }
        ErrorKind::ModelNotFound { model } => ollama(
            ctx,
            404,
            &format!("model \"{model}\" not found, try pulling it first"),
        ),
        ErrorKind::ContextLengthExceeded => {
            ollama(ctx, 400, "the input length exceeds the context length")
        }
        ErrorKind::RateLimited { retry_after_secs } => ollama(ctx, 429, "too many requests")
            .with_header("retry-after", retry_after_secs.to_string()),
        ErrorKind::ServerError if status == 503 => ollama(
            ctx,
            503,
            "server busy, please try again.  maximum pending requests exceeded",
        ),
        ErrorKind::ServerError => ollama(
            ctx,
            status,
            "llama runner process has terminated: exit status 2",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn azure_apim_body_is_spaced_like_apim() {
        let ctx = ErrCtx::new(Protocol::Azure, 1);
        let r = unknown_path(&ctx, "POST", "/openai/x");
        assert_eq!(
            r.body,
            r#"{"error":{"code":"404","message": "Resource not found"}}"#
        );
        assert_eq!(r.body.len(), 56);
    }

    #[test]
    fn openai_rendering_matches_the_historical_bodies() {
        let r = ErrorReply::server_error(503);
        assert_eq!(
            r.body,
            r#"{"error":{"message":"The server is overloaded or not ready yet.","type":"server_error","param":null,"code":null}}"#
        );
        assert_eq!(r.status, 503);
        let r = ErrorReply::rate_limited(4);
        assert_eq!(r.status, 429);
        assert!(r.headers.is_empty(), "rate-limit headers are rendered");
        let openai = render(&r, &ErrCtx::openai());
        assert_eq!(openai.headers[0], ("retry-after".into(), "4".into()));
    }

    #[test]
    fn gemini_errors_are_pretty_and_have_no_retry_after() {
        let ctx = ErrCtx::new(Protocol::Gemini, 1);
        let r = render(&ErrorReply::rate_limited(7), &ctx);
        assert_eq!(r.status, 429);
        assert!(r.headers.is_empty());
        assert!(r.body.starts_with("{\n  \"error\": {\n    \"code\": 429,"));
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(v["error"]["details"][2]["retryDelay"], "7s");
    }
}
