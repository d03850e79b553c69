//! What the fake provider answers: scripted [`Reply`] values and their builders.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::wire;

/// One scripted answer to a `POST /v1/chat/completions` request.
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
/// The server frames it as SSE if the request had `"stream": true`, else as
/// one JSON `chat.completion` object. Every field has a default, so a script
/// file may give only the ones it cares about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Answer {
    /// Reasoning pieces, streamed first as `delta.reasoning_content`
    /// (DeepSeek style); in JSON joined into `message.reasoning_content`.
    pub reasoning: Vec<String>,
    /// Content pieces, one SSE delta per element; in JSON joined.
    pub content: Vec<String>,
    /// The `finish_reason` of the final chunk / choice (default `"stop"`).
    pub finish_reason: String,
    /// `(prompt_tokens, completion_tokens)`. `None` computes it: prompt =
    /// request body chars / 4, completion = number of pieces.
    pub usage: Option<(u32, u32)>,
    /// How the bytes go over the wire.
    pub shape: StreamShape,
}

impl Default for Answer {
    fn default() -> Self {
        Answer {
            reasoning: Vec::new(),
            content: Vec::new(),
            finish_reason: "stop".to_owned(),
            usage: None,
            shape: StreamShape::default(),
        }
    }
}

/// Byte-level shape of a streamed (and, where it makes sense, a JSON) answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StreamShape {
    /// SSE lines end with `"\r\n"` instead of `"\n"`.
    pub crlf: bool,
    /// A `": keep-alive"` comment line plus a blank line before every event.
    pub keepalive_comments: bool,
    /// Write every SSE event (or the JSON body) in pieces of this many bytes,
    /// each its own HTTP chunk, flushed separately, yielding in between.
    pub split_every: Option<usize>,
    /// Wait this long before sending the status line.
    pub first_byte_delay_ms: u64,
    /// Wait this long between SSE events.
    pub chunk_delay_ms: u64,
    /// How the stream ends.
    pub end: StreamEnd,
}

/// How a streamed answer ends.
///
/// `after` counts content/reasoning delta events; the opening role chunk is
/// always sent. An `after` larger than the number of pieces means "after all
/// pieces, before the finish chunk".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamEnd {
    /// Finish chunk, usage chunk (if asked), `data: [DONE]`, terminating chunk.
    #[default]
    Done,
    /// After `after` events, close the TCP connection abruptly: no finish
    /// chunk, no `[DONE]`, no terminating HTTP chunk. For a non-streamed
    /// request the connection is closed without any response.
    Cut {
        /// Number of content/reasoning events sent before the cut.
        after: usize,
    },
    /// After `after` events, wait until [`FakeProvider::release`] or the client
    /// disconnects; if released, continue like `Done`. For a non-streamed
    /// request the whole response waits.
    ///
    /// [`FakeProvider::release`]: crate::FakeProvider::release
    Hang {
        /// Number of content/reasoning events sent before hanging.
        after: usize,
    },
    /// After `after` events, send `data: {"error": {...}}` and end the HTTP
    /// body (terminating chunk) without `[DONE]`.
    ErrorEvent {
        /// Number of content/reasoning events sent before the error.
        after: usize,
        /// `error.message` of the in-stream error.
        message: String,
    },
    /// Finish chunk (and usage chunk if asked) and terminating HTTP chunk,
    /// but no `data: [DONE]`; the server then closes the connection.
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

    /// Fixes the reported token usage instead of computing it.
    pub fn usage(mut self, prompt: u32, completion: u32) -> Answer {
        self.usage = Some((prompt, completion));
        self
    }

    /// Sets the `finish_reason` (e.g. `"length"`).
    pub fn finish(mut self, reason: &str) -> Answer {
        reason.clone_into(&mut self.finish_reason);
        self
    }

    /// SSE lines end with CRLF.
    pub fn crlf(mut self) -> Answer {
        self.shape.crlf = true;
        self
    }

    /// Sends `": keep-alive"` comments before every event.
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

    /// Cuts the connection after `n` content/reasoning events.
    pub fn cut_after(mut self, n: usize) -> Answer {
        self.shape.end = StreamEnd::Cut { after: n };
        self
    }

    /// Holds the stream after `n` events until `release()` or disconnect.
    pub fn hang_after(mut self, n: usize) -> Answer {
        self.shape.end = StreamEnd::Hang { after: n };
        self
    }

    /// Sends an in-stream error event after `n` events.
    pub fn error_after(mut self, n: usize, message: &str) -> Answer {
        self.shape.end = StreamEnd::ErrorEvent {
            after: n,
            message: message.to_owned(),
        };
        self
    }

    /// Ends the stream without `data: [DONE]`.
    pub fn no_done(mut self) -> Answer {
        self.shape.end = StreamEnd::NoDone;
        self
    }
}

/// A scripted HTTP error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ErrorReply {
    /// HTTP status code.
    pub status: u16,
    /// Extra response headers, sent in order after the standard ones.
    pub headers: Vec<(String, String)>,
    /// The response body, sent as is.
    pub body: String,
    /// The `content-type` header value.
    pub content_type: String,
    /// Wait this long before sending the status line.
    pub first_byte_delay_ms: u64,
}

impl Default for ErrorReply {
    fn default() -> Self {
        ErrorReply::server_error(500)
    }
}

impl ErrorReply {
    fn openai(
        status: u16,
        message: &str,
        kind: &str,
        param: Option<&str>,
        code: Option<&str>,
    ) -> Self {
        ErrorReply {
            status,
            headers: Vec::new(),
            body: wire::error_body(message, kind, param, code),
            content_type: "application/json".to_owned(),
            first_byte_delay_ms: 0,
        }
    }

    /// 401 `invalid_api_key`, as OpenAI answers a wrong key (here for a
    /// made-up key `sk-fake-...`; [`FakeProvider::require_key`] masks the
    /// key actually sent).
    ///
    /// [`FakeProvider::require_key`]: crate::FakeProvider::require_key
    pub fn invalid_api_key() -> Self {
        Self::incorrect_api_key("sk-fake-0000000000000000000000000000000000000000")
    }

    /// 401 for a wrong key: `Incorrect API key provided: <masked key>. ...`.
    pub(crate) fn incorrect_api_key(provided: &str) -> Self {
        let message = format!(
            "Incorrect API key provided: {}. You can find your API key at https://platform.openai.com/account/api-keys.",
            wire::mask_key(provided)
        );
        Self::openai(
            401,
            &message,
            "invalid_request_error",
            None,
            Some("invalid_api_key"),
        )
    }

    /// 401 for a request without a bearer key (OpenAI sends `code: null`).
    pub(crate) fn missing_api_key() -> Self {
        Self::openai(
            401,
            "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username and password. You can obtain an API key from https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            None,
            None,
        )
    }

    /// 404 `model_not_found` for `model`.
    pub fn model_not_found(model: &str) -> Self {
        let message =
            format!("The model `{model}` does not exist or you do not have access to it.");
        Self::openai(
            404,
            &message,
            "invalid_request_error",
            None,
            Some("model_not_found"),
        )
    }

    /// 400 `context_length_exceeded` (8192-token model, 9000-token prompt).
    pub fn context_length_exceeded() -> Self {
        Self::openai(
            400,
            "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens. Please reduce the length of the messages.",
            "invalid_request_error",
            Some("messages"),
            Some("context_length_exceeded"),
        )
    }

    /// 429 `rate_limit_exceeded` with `retry-after` and `x-ratelimit-*` headers.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        let message = format!(
            "Rate limit reached for fake-small in organization org-fake on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in {retry_after_secs}s. Visit https://platform.openai.com/account/rate-limits to learn more."
        );
        let mut reply = Self::openai(429, &message, "requests", None, Some("rate_limit_exceeded"));
        let reset = format!("{retry_after_secs}s");
        reply.headers = vec![
            ("retry-after".to_owned(), retry_after_secs.to_string()),
            ("x-ratelimit-limit-requests".to_owned(), "3".to_owned()),
            ("x-ratelimit-limit-tokens".to_owned(), "40000".to_owned()),
            ("x-ratelimit-remaining-requests".to_owned(), "0".to_owned()),
            (
                "x-ratelimit-remaining-tokens".to_owned(),
                "40000".to_owned(),
            ),
            ("x-ratelimit-reset-requests".to_owned(), reset),
            ("x-ratelimit-reset-tokens".to_owned(), "0s".to_owned()),
        ];
        reply
    }

    /// An OpenAI-style `server_error` body with the given status (500, 502,
    /// 503, ...).
    pub fn server_error(status: u16) -> Self {
        let message = match status {
            502 => "Bad gateway.",
            503 => "The server is overloaded or not ready yet.",
            _ => "The server had an error while processing your request. Sorry about that!",
        };
        Self::openai(status, message, "server_error", None, None)
    }

    /// A non-JSON HTML page (e.g. a proxy's error page), `text/html`.
    pub fn html(status: u16, html: &str) -> Self {
        ErrorReply {
            status,
            headers: Vec::new(),
            body: html.to_owned(),
            content_type: "text/html".to_owned(),
            first_byte_delay_ms: 0,
        }
    }

    /// Any JSON body with any status.
    pub fn custom(status: u16, json_body: &str) -> Self {
        ErrorReply {
            status,
            headers: Vec::new(),
            body: json_body.to_owned(),
            content_type: "application/json".to_owned(),
            first_byte_delay_ms: 0,
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
