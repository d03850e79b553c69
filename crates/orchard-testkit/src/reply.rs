//! What the fake provider answers: scripted [`Reply`] values and their builders.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One scripted answer to a generation request, in whichever protocol the
/// request speaks (Chat Completions, Responses, Messages, Gemini, Ollama,
/// Azure).
///
/// Serialized externally tagged in snake case, so a script file reads
/// `[{"answer": {"content": ["Hel", "lo"]}}, {"error": {"status": 503}}]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// A successful completion, streamed or not depending on the request.
    Answer(Answer),
    /// An HTTP error response (any status, headers and body).
    Error(ErrorReply),
}

impl From<Answer> for Reply {
    fn from(answer: Answer) -> Self {
        Reply::Answer(answer)
    }
}

impl From<ErrorReply> for Reply {
    fn from(error: ErrorReply) -> Self {
        Reply::Error(error)
    }
}

/// What the model "says".
///
/// Each protocol renders it in its own wire format: streamed (SSE, or
/// NDJSON for Ollama) if the request asked for a stream, else as one JSON
/// object. Pieces come out in the order reasoning, content, tool calls.
/// Every field has a default, so a script file may give only the ones it
/// cares about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Answer {
    /// Reasoning pieces, streamed first: `delta.reasoning_content` (Chat
    /// Completions, DeepSeek style), a reasoning summary (Responses), a
    /// thinking block (Anthropic), `thought` parts (Gemini),
    /// `message.thinking` (Ollama). Joined in non-streamed answers.
    pub reasoning: Vec<String>,
    /// Content pieces, one streamed delta per element; joined in
    /// non-streamed answers.
    pub content: Vec<String>,
    /// Tool calls, after the content. Their arguments are streamed in small
    /// pieces where the protocol streams them (Chat Completions, Responses,
    /// Anthropic) and sent whole where it does not (Gemini, Ollama).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<FakeToolCall>,
    /// Signature of the Anthropic thinking block; `None` sends `"sig-fake"`
    /// when there is reasoning.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// Gemini: the prompt is blocked with this `blockReason` (e.g.
    /// `"SAFETY"`): `promptFeedback` and no candidates. Other protocols
    /// answer with no pieces and finish reason `"safety"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocked: Option<String>,
    /// Normalized finish reason (default `"stop"`): `"stop"`, `"length"`,
    /// `"tool_calls"` or `"safety"`; each protocol renders its own word
    /// (`end_turn`/`max_tokens`/`tool_use`/`refusal`,
    /// `STOP`/`MAX_TOKENS`/`SAFETY`, `content_filter`, a Responses status).
    /// `"stop"` with tool calls means `"tool_calls"`. Other words are sent
    /// as given.
    pub finish_reason: String,
    /// `(prompt_tokens, completion_tokens)`. `None` computes it: prompt =
    /// request body chars / 4, completion = number of reasoning, content
    /// and tool-call pieces. Reasoning tokens (where reported) = number of
    /// reasoning pieces, at most the completion tokens.
    pub usage: Option<(u32, u32)>,
    /// How the bytes go over the wire.
    pub shape: StreamShape,
}

impl Default for Answer {
    fn default() -> Self {
        Answer {
            reasoning: Vec::new(),
            content: Vec::new(),
            tool_calls: Vec::new(),
            signature: None,
            blocked: None,
            finish_reason: "stop".to_owned(),
            usage: None,
            shape: StreamShape::default(),
        }
    }
}

/// A tool (function) call the fake model makes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FakeToolCall {
    /// Function name.
    pub name: String,
    /// Arguments as JSON text, e.g. `{"city":"Paris"}`. Sent minified;
    /// protocols that carry arguments as an object (Anthropic, Gemini,
    /// Ollama) need a JSON object and get `{}` otherwise.
    pub arguments: String,
}

impl FakeToolCall {
    /// A call of `name` with `arguments` (JSON text).
    pub fn new(name: &str, arguments: &str) -> FakeToolCall {
        FakeToolCall {
            name: name.to_owned(),
            arguments: arguments.to_owned(),
        }
    }
}

/// Byte-level shape of a streamed (and, where it makes sense, a JSON) answer.
/// Applies to every protocol.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StreamShape {
    /// SSE lines (and NDJSON lines) end with `"\r\n"` instead of `"\n"`.
    pub crlf: bool,
    /// Keep-alives: a `": keep-alive"` comment plus a blank line before
    /// every SSE event (Chat Completions, Responses, Gemini, Azure); an
    /// Anthropic `ping` event between events; nothing for NDJSON (Ollama).
    pub keepalive_comments: bool,
    /// Write every event (or the JSON body) in pieces of this many bytes,
    /// each its own HTTP chunk, flushed separately, yielding in between.
    pub split_every: Option<usize>,
    /// Wait this long before sending the status line.
    pub first_byte_delay_ms: u64,
    /// Wait this long between events.
    pub chunk_delay_ms: u64,
    /// How the stream ends.
    pub end: StreamEnd,
}

/// How a streamed answer ends.
///
/// `after` counts scripted pieces: each reasoning piece, each content piece,
/// each tool call (with all its argument fragments). The protocol's opening
/// events (role chunk, `response.created`, `message_start`, ...) are always
/// sent. An `after` larger than the number of pieces means "after all
/// pieces, before the finish events". Where one event carries several
/// pieces (a Gemini chunk with two parts), the stop comes after that event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamEnd {
    /// The protocol's normal ending (OpenAI: finish chunk, usage chunk if
    /// asked, `data: [DONE]`), then the terminating HTTP chunk.
    #[default]
    Done,
    /// After `after` pieces, close the TCP connection abruptly: no finish
    /// events, no terminating HTTP chunk. For a non-streamed request the
    /// connection is closed without any response.
    Cut {
        /// Number of pieces sent before the cut.
        after: usize,
    },
    /// After `after` pieces, wait until [`FakeProvider::release`] or the client
    /// disconnects; if released, continue like `Done`. For a non-streamed
    /// request the whole response waits.
    ///
    /// [`FakeProvider::release`]: crate::FakeProvider::release
    Hang {
        /// Number of pieces sent before hanging.
        after: usize,
    },
    /// After `after` pieces, send the protocol's in-stream error (OpenAI
    /// `data: {"error": {...}}`, Responses and Anthropic `event: error`,
    /// Gemini `data: {"error": {...}}`, Ollama `{"error": "..."}`) and end
    /// the HTTP body (terminating chunk) without the final event.
    ErrorEvent {
        /// Number of pieces sent before the error.
        after: usize,
        /// `error.message` of the in-stream error.
        message: String,
    },
    /// Everything but the protocol's final event (`data: [DONE]`,
    /// `message_stop`, Gemini's final chunk, Ollama's `"done": true`
    /// object, `response.completed`), then the terminating HTTP chunk; the
    /// server then closes the connection.
    NoDone,
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn owned(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|p| (*p).to_owned()).collect()
}

impl Answer {
    /// An answer whose content is streamed as these pieces, in order.
    pub fn text(parts: &[&str]) -> Answer {
        Answer {
            content: owned(parts),
            ..Answer::default()
        }
    }

    /// Adds reasoning pieces, streamed before the content.
    pub fn reasoning(mut self, parts: &[&str]) -> Answer {
        self.reasoning = owned(parts);
        self
    }

    /// Adds a tool call (arguments as JSON text); streamed after the content.
    /// With the default finish reason the answer finishes as a tool use.
    ///
    /// # Panics
    /// If `arguments` is not valid JSON.
    pub fn tool_call(mut self, name: &str, arguments: &str) -> Answer {
        assert!(
            crate::json::minify(arguments).is_some(),
            "Answer::tool_call({name:?}): arguments are not JSON: {arguments:?}"
        );
        self.tool_calls.push(FakeToolCall::new(name, arguments));
        self
    }

    /// Sets the Anthropic thinking-block signature (default `"sig-fake"`).
    pub fn signature(mut self, signature: &str) -> Answer {
        self.signature = Some(signature.to_owned());
        self
    }

    /// Gemini blocks the prompt with this `blockReason` (e.g. `"SAFETY"`).
    pub fn blocked(mut self, reason: &str) -> Answer {
        self.blocked = Some(reason.to_owned());
        self
    }

    /// Fixes the reported token usage instead of computing it.
    pub fn usage(mut self, prompt: u32, completion: u32) -> Answer {
        self.usage = Some((prompt, completion));
        self
    }

    /// Sets the normalized finish reason (e.g. `"length"`).
    pub fn finish(mut self, reason: &str) -> Answer {
        reason.clone_into(&mut self.finish_reason);
        self
    }

    /// SSE lines end with CRLF.
    pub fn crlf(mut self) -> Answer {
        self.shape.crlf = true;
        self
    }

    /// Sends keep-alives between events (SSE comments, Anthropic pings).
    pub fn keepalive(mut self) -> Answer {
        self.shape.keepalive_comments = true;
        self
    }

    /// Writes the body in pieces of `n` bytes, each its own HTTP chunk.
    pub fn split_every(mut self, n: usize) -> Answer {
        self.shape.split_every = Some(n);
        self
    }

    /// Waits `d` before the status line.
    pub fn first_byte_delay(mut self, d: Duration) -> Answer {
        self.shape.first_byte_delay_ms = millis(d);
        self
    }

    /// Waits `d` between events.
    pub fn chunk_delay(mut self, d: Duration) -> Answer {
        self.shape.chunk_delay_ms = millis(d);
        self
    }

    /// Cuts the connection after `n` pieces.
    pub fn cut_after(mut self, n: usize) -> Answer {
        self.shape.end = StreamEnd::Cut { after: n };
        self
    }

    /// Holds the stream after `n` pieces until `release()` or disconnect.
    pub fn hang_after(mut self, n: usize) -> Answer {
        self.shape.end = StreamEnd::Hang { after: n };
        self
    }

    /// Sends an in-stream error event after `n` pieces.
    pub fn error_after(mut self, n: usize, message: &str) -> Answer {
        self.shape.end = StreamEnd::ErrorEvent {
            after: n,
            message: message.to_owned(),
        };
        self
    }

    /// Ends the stream without its final event (`data: [DONE]`,
    /// `message_stop`, ...).
    pub fn no_done(mut self) -> Answer {
        self.shape.end = StreamEnd::NoDone;
        self
    }
}

/// A protocol-neutral error: each protocol renders it in its own
/// documented status, headers and body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// A wrong API key (OpenAI names it masked in the message).
    InvalidApiKey {
        /// The key the message mentions.
        key: String,
    },
    /// No API key at all.
    MissingApiKey,
    /// The requested model (or Azure deployment) does not exist.
    ModelNotFound {
        /// The model named in the message.
        model: String,
    },
    /// The prompt is longer than the model's context window.
    ContextLengthExceeded,
    /// Too many requests; retry after this many seconds.
    RateLimited {
        /// Seconds the client should wait.
        retry_after_secs: u64,
    },
    /// A server-side failure with the reply's `status` (500, 503, 529, ...).
    ServerError,
}

/// A scripted HTTP error response.
///
/// The named constructors ([`invalid_api_key`](Self::invalid_api_key),
/// [`model_not_found`](Self::model_not_found),
/// [`context_length_exceeded`](Self::context_length_exceeded),
/// [`rate_limited`](Self::rate_limited),
/// [`server_error`](Self::server_error)) are protocol-neutral: they set
/// [`kind`](Self::kind), and each protocol renders its own documented status,
/// headers (e.g. `retry-after` where the real API sends it) and body; then
/// `status`, `body` and `content_type` hold the OpenAI rendering. Replies
/// without a kind ([`html`](Self::html), [`custom`](Self::custom), or a
/// script entry without `"kind"`) are sent exactly as given to every
/// protocol. Headers added with [`header`](Self::header) are sent either way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ErrorReply {
    /// HTTP status code (for [`ErrorKind::ServerError`], the status every
    /// protocol uses).
    pub status: u16,
    /// Extra response headers, sent in order after the standard ones.
    pub headers: Vec<(String, String)>,
    /// The response body, sent as is when `kind` is `None`.
    pub body: String,
    /// The `content-type` header value when `kind` is `None`.
    pub content_type: String,
    /// Wait this long before sending the status line.
    pub first_byte_delay_ms: u64,
    /// Protocol-neutral meaning; `None` sends `status`/`body` as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ErrorKind>,
}

impl Default for ErrorReply {
    fn default() -> Self {
        ErrorReply::server_error(500)
    }
}

/// A made-up key for [`ErrorReply::invalid_api_key`].
const MADE_UP_KEY: &str = "sk-fake-0000000000000000000000000000000000000000";

impl ErrorReply {
    /// A reply of `kind`, with the OpenAI rendering as its status and body.
    pub(crate) fn of_kind(kind: ErrorKind, status: u16) -> Self {
        let mut reply = ErrorReply {
            status,
            headers: Vec::new(),
            body: String::new(),
            content_type: "application/json".to_owned(),
            first_byte_delay_ms: 0,
            kind: Some(kind),
        };
        let openai = crate::errors::render_kind(&reply, &crate::errors::ErrCtx::openai());
        reply.status = openai.status;
        reply.body = openai.body;
        reply
    }

    /// A wrong API key: OpenAI 401 `invalid_api_key` (for a made-up key
    /// `sk-fake-...`), Anthropic 401 `authentication_error`, Gemini 400
    /// `API_KEY_INVALID`, Azure 401 "Access denied ...", Ollama 401. (The
    /// key checks of [`FakeProvider`] name the key actually sent.)
    ///
    /// [`FakeProvider`]: crate::FakeProvider
    pub fn invalid_api_key() -> Self {
        Self::of_kind(
            ErrorKind::InvalidApiKey {
                key: MADE_UP_KEY.to_owned(),
            },
            401,
        )
    }

    /// The model does not exist: OpenAI 404 `model_not_found`, Anthropic
    /// 404 `not_found_error`, Gemini 404 `NOT_FOUND`, Azure 404
    /// `DeploymentNotFound`, Ollama 404 `model "x" not found, try pulling
    /// it first`.
    pub fn model_not_found(model: &str) -> Self {
        Self::of_kind(
            ErrorKind::ModelNotFound {
                model: model.to_owned(),
            },
            404,
        )
    }

    /// The prompt is too long (8192-token model, 9000-token prompt): OpenAI
    /// and Azure 400 `context_length_exceeded`, Anthropic 400 `prompt is too
    /// long`, Gemini 400 `INVALID_ARGUMENT`, Ollama 400.
    pub fn context_length_exceeded() -> Self {
        Self::of_kind(ErrorKind::ContextLengthExceeded, 400)
    }

    /// Rate limited: 429 everywhere, in each protocol's shape, with
    /// `retry-after` (and rate-limit headers) where the real API sends it;
    /// Gemini sends no `retry-after` but a `google.rpc.RetryInfo` detail
    /// with `retryDelay` `"<secs>s"`.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Self::of_kind(ErrorKind::RateLimited { retry_after_secs }, 429)
    }

    /// A server error with the given status (500, 502, 503, 529, ...) in
    /// each protocol's shape (Anthropic: `overloaded_error` for 529,
    /// `api_error` otherwise; Gemini: `INTERNAL`, `UNAVAILABLE`, ...).
    pub fn server_error(status: u16) -> Self {
        Self::of_kind(ErrorKind::ServerError, status)
    }

    /// A non-JSON HTML page (e.g. a proxy's error page), `text/html`.
    pub fn html(status: u16, html: &str) -> Self {
        ErrorReply {
            status,
            headers: Vec::new(),
            body: html.to_owned(),
            content_type: "text/html".to_owned(),
            first_byte_delay_ms: 0,
            kind: None,
        }
    }

    /// Any JSON body with any status, sent as given.
    pub fn custom(status: u16, json_body: &str) -> Self {
        ErrorReply {
            status,
            headers: Vec::new(),
            body: json_body.to_owned(),
            content_type: "application/json".to_owned(),
            first_byte_delay_ms: 0,
            kind: None,
        }
    }

    /// Adds a response header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Waits `d` before the status line.
    pub fn first_byte_delay(mut self, d: Duration) -> Self {
        self.first_byte_delay_ms = millis(d);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_fields_round_trip_through_scripts() {
        let script = r#"[
            {"answer": {"content": ["a"], "tool_calls": [{"name": "f", "arguments": "{\"x\":1}"}], "signature": "s", "blocked": "SAFETY"}},
            {"error": {"status": 503, "kind": "server_error"}},
            {"error": {"kind": {"rate_limited": {"retry_after_secs": 3}}}},
            {"error": {"status": 503}}
        ]"#;
        let replies: Vec<Reply> = serde_json::from_str(script).unwrap();
        assert_eq!(
            replies[0],
            Reply::from(
                Answer::text(&["a"])
                    .tool_call("f", r#"{"x":1}"#)
                    .signature("s")
                    .blocked("SAFETY")
            )
        );
        let Reply::Error(e) = &replies[1] else {
            panic!()
        };
        assert_eq!(
            (e.status, e.kind.clone()),
            (503, Some(ErrorKind::ServerError))
        );
        let Reply::Error(e) = &replies[2] else {
            panic!()
        };
        assert_eq!(
            e.kind,
            Some(ErrorKind::RateLimited {
                retry_after_secs: 3
            })
        );
        let Reply::Error(e) = &replies[3] else {
            panic!()
        };
        assert_eq!(e.kind, None, "without a kind the body is sent as given");
        let again: Vec<Reply> =
            serde_json::from_str(&serde_json::to_string(&replies).unwrap()).unwrap();
        assert_eq!(again, replies);
        // Old scripts serialize without the new, empty fields.
        let plain = serde_json::to_string(&Answer::text(&["x"])).unwrap();
        assert!(!plain.contains("tool_calls") && !plain.contains("kind"));
    }

    #[test]
    #[should_panic(expected = "arguments are not JSON")]
    fn tool_call_arguments_must_be_json() {
        let _ = Answer::default().tool_call("f", "{nope");
    }
}
