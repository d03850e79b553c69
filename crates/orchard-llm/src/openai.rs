//! OpenAI Chat Completions (`POST {base}/chat/completions`), spoken by OpenAI and by
//! most other providers (DeepSeek, Groq, OpenRouter, Mistral, LM Studio, …).
//!
//! Streaming follows the documented framing: `data: {chunk}` events, optional comment
//! lines as keep-alives, a final chunk with `finish_reason`, a usage chunk with empty
//! `choices` when `stream_options.include_usage` is set, and `data: [DONE]`. Reasoning
//! arrives as `delta.reasoning_content` (DeepSeek) or `delta.reasoning` (OpenRouter).

use std::collections::VecDeque;

use async_trait::async_trait;
use futures_util::stream;
use orchard_core::base_url::endpoint;
use orchard_core::egress::Purpose;
use orchard_core::message::Usage;
use orchard_core::secret::ApiKey;
use orchard_net::header::{ACCEPT, AUTHORIZATION, HeaderValue};
use orchard_net::{HttpClient, Method, NetErrorKind, RequestBuilder, Response};
use serde::Serialize;
use serde_json::Value;

use crate::error::{HttpFailure, ProviderErrorKind, from_http, retry_after, scrub};
use crate::sse::{SseEvent, SseParser};
use crate::{
    ChatEvent, ChatProvider, ChatRequest, ChatStream, ProviderEndpoint, ProviderError, RemoteModel,
};

/// Largest non-streamed body accepted (a chat completion or a model list).
const MAX_BODY: u64 = 32 * 1024 * 1024;
/// Largest error body read.
const MAX_ERROR_BODY: u64 = 64 * 1024;
/// Most bytes read after `[DONE]` to finish the response cleanly.
const MAX_TRAILER: usize = 64 * 1024;

pub(crate) struct OpenAiChat {
    ep: ProviderEndpoint,
    http: HttpClient,
}

#[derive(Serialize)]
struct WireMessage<'a> {
    role: &'static str,
    content: &'a str,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

/// The request body, with fields in a fixed order so snapshots are stable.
#[derive(Serialize)]
struct WireRequest<'a> {
    model: &'a str,
    messages: Vec<WireMessage<'a>>,
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u32>,
}

/// The JSON body sent for `req`.
pub(crate) fn request_body(ep: &ProviderEndpoint, req: &ChatRequest) -> Vec<u8> {
    let mut messages = Vec::with_capacity(req.messages.len() + 1);
    if let Some(system) = req.system.as_deref().filter(|s| !s.trim().is_empty()) {
        messages.push(WireMessage {
            role: "system",
            content: system,
        });
    }
    messages.extend(req.messages.iter().map(|m| WireMessage {
        role: m.role.as_str(),
        content: &m.content,
    }));
    let completion_field = ep.quirks.max_tokens_field == "max_completion_tokens";
    let body = WireRequest {
        model: &req.model,
        messages,
        stream: req.stream,
        stream_options: (req.stream && ep.quirks.stream_usage).then_some(StreamOptions {
            include_usage: true,
        }),
        temperature: req.temperature,
        top_p: req.top_p,
        max_tokens: req.max_tokens.filter(|_| !completion_field),
        max_completion_tokens: req.max_tokens.filter(|_| completion_field),
    };
    // Serializing plain structs of strings and numbers cannot fail.
    serde_json::to_vec(&body).unwrap_or_default()
}

fn protocol_error(provider: &str, model: Option<&str>, detail: String) -> ProviderError {
    ProviderError {
        model: model.map(str::to_owned),
        message: Some(detail),
        ..ProviderError::new(ProviderErrorKind::Protocol, provider)
    }
}

impl OpenAiChat {
    pub(crate) fn new(ep: ProviderEndpoint, http: HttpClient) -> Self {
        Self { ep, http }
    }

    fn net_error(
        &self,
        model: Option<&str>,
    ) -> impl Fn(orchard_net::NetError) -> ProviderError + '_ {
        let model = model.map(str::to_owned);
        move |e| ProviderError {
            model: model.clone(),
            ..ProviderError::from_net(&self.ep.name, e)
        }
    }

    /// Sends a request with the key in the `Authorization` header (the only place the
    /// key ever goes) and returns a successful response, or the provider's error.
    async fn send(
        &self,
        rb: RequestBuilder,
        model: Option<&str>,
    ) -> Result<Response, ProviderError> {
        let rb = match &self.ep.key {
            Some(key) => rb
                .secret_header(AUTHORIZATION, &format!("Bearer {}", key.expose()))
                .map_err(self.net_error(model))?,
            None => rb,
        };
        let resp = rb.send().await.map_err(self.net_error(model))?;
        if resp.status().is_success() {
            Ok(resp)
        } else {
            Err(self.failure(resp, model).await)
        }
    }

    /// Reads an error response and sorts it.
    async fn failure(&self, resp: Response, model: Option<&str>) -> ProviderError {
        let status = resp.status().as_u16();
        // Read the headers before the body consumes the response.
        let (content_type, request_id, location, retry) = {
            let header = |name: &str| {
                resp.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let retry = retry_after(
                header("retry-after-ms").as_deref(),
                header("retry-after").as_deref(),
            );
            (
                header("content-type").unwrap_or_default(),
                header("x-request-id"),
                header("location"),
                retry,
            )
        };
        let body = resp.bytes(MAX_ERROR_BODY).await.unwrap_or_default();
        from_http(
            &self.ep.name,
            model,
            HttpFailure {
                status,
                content_type: &content_type,
                body: &body,
                request_id,
                retry_after: retry,
                location,
            },
            self.ep.key.as_ref(),
        )
    }

    /// A whole `chat.completion` object as events.
    fn parse_completion(&self, model: &str, body: &[u8]) -> Result<Vec<ChatEvent>, ProviderError> {
        let v: Value = serde_json::from_slice(body).map_err(|e| {
            protocol_error(
                &self.ep.name,
                Some(model),
                format!("the answer is not JSON ({e})"),
            )
        })?;
        if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
            return Err(in_stream_error(
                &self.ep.name,
                model,
                err,
                self.ep.key.as_ref(),
            ));
        }
        let choice = v.get("choices").and_then(|c| c.get(0)).ok_or_else(|| {
            protocol_error(
                &self.ep.name,
                Some(model),
                "the answer has no choices".into(),
            )
        })?;
        let message = choice.get("message").unwrap_or(&Value::Null);
        let mut events = Vec::new();
        if let Some(t) = reasoning_of(message) {
            events.push(ChatEvent::ThinkingDelta(t.to_owned()));
        }
        if let Some(t) = message
            .get("content")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        {
            events.push(ChatEvent::TextDelta(t.to_owned()));
        }
        if let Some(u) = usage_of(&v) {
            events.push(ChatEvent::Usage(u));
        }
        let reason = choice
            .get("finish_reason")
            .and_then(Value::as_str)
            .unwrap_or("stop");
        events.push(ChatEvent::Finish(reason.to_owned()));
        Ok(events)
    }
}

#[async_trait]
impl ChatProvider for OpenAiChat {
    async fn chat(&self, req: &ChatRequest) -> Result<ChatStream, ProviderError> {
        let model = Some(req.model.as_str());
        let accept = if req.stream {
            "text/event-stream"
        } else {
            "application/json"
        };
        let rb = self
            .http
            .request(
                Method::POST,
                endpoint(&self.ep.base_url, "chat/completions"),
                Purpose::chat(&self.ep.name),
            )
            .header(ACCEPT, HeaderValue::from_static(accept))
            .json_body(request_body(&self.ep, req));
        let resp = self.send(rb, model).await?;
        // Some servers answer a stream request with one JSON object (an error, or the
        // whole answer); read it as such instead of finding no events in it.
        let is_sse = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.contains("text/event-stream"));
        if !req.stream || !is_sse {
            let body = resp.bytes(MAX_BODY).await.map_err(self.net_error(model))?;
            let events = self.parse_completion(&req.model, &body)?;
            return Ok(Box::pin(stream::iter(events.into_iter().map(Ok))));
        }
        let state = StreamState {
            resp,
            parser: SseParser::new(),
            queue: VecDeque::new(),
            provider: self.ep.name.clone(),
            model: req.model.clone(),
            key: self.ep.key.clone(),
            finished: false,
            saw_finish: false,
            saw_done: false,
            scratch: Vec::new(),
        };
        Ok(Box::pin(stream::unfold(state, StreamState::next)))
    }

    async fn models(&self) -> Result<Vec<RemoteModel>, ProviderError> {
        let rb = self
            .http
            .request(
                Method::GET,
                endpoint(&self.ep.base_url, "models"),
                Purpose::models(&self.ep.name),
            )
            .header(ACCEPT, HeaderValue::from_static("application/json"));
        let resp = self.send(rb, None).await?;
        let body = resp.bytes(MAX_BODY).await.map_err(self.net_error(None))?;
        let bad = |detail: String| protocol_error(&self.ep.name, None, detail);
        let v: Value = serde_json::from_slice(&body)
            .map_err(|e| bad(format!("the model list is not JSON ({e})")))?;
        let data = v
            .get("data")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("the model list has no \"data\" array".into()))?;
        let mut models: Vec<RemoteModel> = data
            .iter()
            .filter_map(|m| {
                Some(RemoteModel {
                    id: m.get("id")?.as_str()?.to_owned(),
                    owned_by: m.get("owned_by").and_then(Value::as_str).map(str::to_owned),
                })
            })
            .collect();
        models.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(models)
    }
}

fn reasoning_of(v: &Value) -> Option<&str> {
    v.get("reasoning_content")
        .or_else(|| v.get("reasoning"))
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
}

fn usage_of(v: &Value) -> Option<Usage> {
    let u = v.get("usage").filter(|u| u.is_object())?;
    let n = |k: &str| u.get(k).and_then(Value::as_u64);
    Some(Usage {
        input_tokens: n("prompt_tokens"),
        output_tokens: n("completion_tokens"),
        reasoning_tokens: u
            .get("completion_tokens_details")
            .and_then(|d| d.get("reasoning_tokens"))
            .and_then(Value::as_u64),
    })
}

fn in_stream_error(
    provider: &str,
    model: &str,
    err: &Value,
    key: Option<&ApiKey>,
) -> ProviderError {
    let message = err
        .get("message")
        .and_then(Value::as_str)
        .or_else(|| err.as_str())
        .unwrap_or("unknown error");
    ProviderError {
        model: Some(model.to_owned()),
        code: err.get("code").and_then(|c| {
            c.as_str()
                .map(str::to_owned)
                .or_else(|| c.as_u64().map(|n| n.to_string()))
        }),
        message: Some(scrub(message, key)),
        ..ProviderError::new(ProviderErrorKind::InStream, provider)
    }
}

struct StreamState {
    resp: Response,
    parser: SseParser,
    queue: VecDeque<Result<ChatEvent, ProviderError>>,
    provider: String,
    model: String,
    key: Option<ApiKey>,
    finished: bool,
    saw_finish: bool,
    saw_done: bool,
    scratch: Vec<SseEvent>,
}

impl StreamState {
    async fn next(mut self) -> Option<(Result<ChatEvent, ProviderError>, Self)> {
        loop {
            if let Some(item) = self.queue.pop_front() {
                return Some((item, self));
            }
            if self.finished {
                if self.saw_done {
                    self.drain().await;
                }
                return None;
            }
            match self.resp.chunk().await {
                Ok(Some(bytes)) => {
                    let mut events = std::mem::take(&mut self.scratch);
                    if let Err(e) = self.parser.feed(&bytes, &mut events) {
                        self.fail(protocol_error(
                            &self.provider,
                            Some(&self.model),
                            e.to_string(),
                        ));
                    }
                    for ev in events.drain(..) {
                        self.handle(&ev);
                    }
                    self.scratch = events;
                }
                Ok(None) => {
                    let mut events = Vec::new();
                    self.parser.finish(&mut events);
                    for ev in &events {
                        self.handle(ev);
                    }
                    if !self.finished && !self.saw_finish {
                        // The body ended cleanly at the HTTP level but the answer never
                        // finished: a server that dropped the stream.
                        self.queue.push_back(Err(ProviderError {
                            model: Some(self.model.clone()),
                            ..ProviderError::new(ProviderErrorKind::StreamCut, &self.provider)
                        }));
                    }
                    self.finished = true;
                }
                Err(net) => {
                    self.finished = true;
                    // A cut after the finish chunk loses nothing of the answer.
                    if !(self.saw_finish && net.kind == NetErrorKind::Cut) {
                        self.queue.push_back(Err(ProviderError {
                            model: Some(self.model.clone()),
                            ..ProviderError::from_net(&self.provider, net)
                        }));
                    }
                }
            }
        }
    }

    /// After `[DONE]`, reads the (normally empty) rest of the body so the response ends
    /// cleanly: the connection can be reused and the ledger records the request as `ok`.
    async fn drain(&mut self) {
        let mut read = 0;
        while let Ok(Some(bytes)) = self.resp.chunk().await {
            read += bytes.len();
            if read > MAX_TRAILER {
                break;
            }
        }
    }

    fn fail(&mut self, e: ProviderError) {
        self.finished = true;
        self.queue.push_back(Err(e));
    }

    fn handle(&mut self, ev: &SseEvent) {
        if self.finished || self.saw_done {
            return;
        }
        let data = ev.data.trim();
        if data == "[DONE]" {
            self.saw_done = true;
            self.finished = true;
            return;
        }
        if data.is_empty() {
            return;
        }
        let v: Value = match serde_json::from_str(data) {
            Ok(v) => v,
            Err(e) => {
                let e = protocol_error(
                    &self.provider,
                    Some(&self.model),
                    format!("a stream event is not valid JSON ({e})"),
                );
                return self.fail(e);
            }
        };
        if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
            let e = in_stream_error(&self.provider, &self.model, err, self.key.as_ref());
            return self.fail(e);
        }
        if let Some(choice) = v.get("choices").and_then(|c| c.get(0)) {
            let delta = choice.get("delta").unwrap_or(&Value::Null);
            if let Some(t) = reasoning_of(delta) {
                self.queue
                    .push_back(Ok(ChatEvent::ThinkingDelta(t.to_owned())));
            }
            if let Some(t) = delta
                .get("content")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
            {
                self.queue.push_back(Ok(ChatEvent::TextDelta(t.to_owned())));
            }
            if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
                self.saw_finish = true;
                self.queue
                    .push_back(Ok(ChatEvent::Finish(reason.to_owned())));
            }
        }
        if let Some(u) = usage_of(&v) {
            self.queue.push_back(Ok(ChatEvent::Usage(u)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orchard_core::base_url::resolve_api_base;
    use orchard_core::message::Role;
    use orchard_core::provider::{Protocol, Quirks};

    use crate::ChatMessage;

    fn ep(quirks: Quirks) -> ProviderEndpoint {
        ProviderEndpoint {
            name: "openai".into(),
            protocol: Protocol::OpenAi,
            base_url: resolve_api_base("https://api.openai.com").unwrap(),
            key: None,
            quirks,
        }
    }

    fn req(stream: bool) -> ChatRequest {
        ChatRequest {
            model: "gpt-4o-mini".into(),
            system: Some("You are terse.".into()),
            messages: vec![
                ChatMessage {
                    role: Role::User,
                    content: "Hi".into(),
                },
                ChatMessage {
                    role: Role::Assistant,
                    content: "Hello.".into(),
                },
                ChatMessage {
                    role: Role::User,
                    content: "2+2?".into(),
                },
            ],
            temperature: Some(0.5),
            top_p: None,
            max_tokens: Some(256),
            stream,
        }
    }

    fn body(ep: &ProviderEndpoint, r: &ChatRequest) -> Value {
        serde_json::from_slice(&request_body(ep, r)).unwrap()
    }

    /// The exact bytes on the wire, field order included.
    fn wire(ep: &ProviderEndpoint, r: &ChatRequest) -> String {
        String::from_utf8(request_body(ep, r)).unwrap()
    }

    #[test]
    fn streaming_request_body() {
        insta::assert_snapshot!(wire(&ep(Quirks::default()), &req(true)));
    }

    #[test]
    fn non_streaming_request_body_with_max_completion_tokens() {
        let q = Quirks {
            max_tokens_field: "max_completion_tokens".into(),
            stream_usage: true,
        };
        insta::assert_snapshot!(wire(&ep(q), &req(false)));
    }

    #[test]
    fn providers_that_refuse_stream_options_do_not_get_them() {
        let q = Quirks {
            stream_usage: false,
            ..Quirks::default()
        };
        assert!(body(&ep(q), &req(true)).get("stream_options").is_none());
    }
}
