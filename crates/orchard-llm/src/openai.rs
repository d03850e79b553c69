//! OpenAI Chat Completions (`POST {base}/chat/completions`), spoken by OpenAI and by
//! most other providers (DeepSeek, Groq, OpenRouter, Mistral, LM Studio, …), and by Azure
//! OpenAI at deployment URLs with an `api-version` and an `api-key` header.
//!
//! Streaming follows the documented framing: `data: {chunk}` events, optional comment
//! lines as keep-alives, a final chunk with `finish_reason`, a usage chunk with empty
//! `choices` when `stream_options.include_usage` is set, and `data: [DONE]`. Reasoning
//! arrives as `delta.reasoning_content` (DeepSeek), `delta.reasoning` (OpenRouter) or
//! `<think>…</think>` inside the text (DeepSeek-R1 and Qwen on many servers).

use async_trait::async_trait;
use base64::Engine as _;
use futures_util::stream;
use orchard_core::base_url::endpoint;
use orchard_core::message::Usage;
use orchard_core::provider::Protocol;
use orchard_net::{HttpClient, Url};
use serde::Serialize;
use serde_json::{Value, json};

use crate::embed::{EmbeddingProvider, Embeddings};
use crate::error::scrub;
use crate::stream::{Ctx, Decoder, Flow, Framing, Out, events, whole_call};
use crate::think::ThinkSplitter;
use crate::transport::{Auth, EMBEDDINGS, Transport};
use crate::{
    ChatEvent, ChatMessage, ChatProvider, ChatRequest, ChatStream, Part, ProviderEndpoint,
    ProviderError, ProviderErrorKind, RemoteModel,
};

/// Azure's generally available API version, used when the base URL names none.
pub const AZURE_API_VERSION: &str = "2024-10-21";

pub(crate) struct OpenAiChat {
    t: Transport,
    azure_version: Option<String>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum WireContent<'a> {
    Text(&'a str),
    Parts(Vec<WirePart<'a>>),
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WirePart<'a> {
    Text { text: &'a str },
    ImageUrl { image_url: ImageUrl },
}

#[derive(Serialize)]
struct ImageUrl {
    url: String,
}

#[derive(Serialize)]
struct WireToolCall<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: WireFunctionCall<'a>,
}

#[derive(Serialize)]
struct WireFunctionCall<'a> {
    name: &'a str,
    arguments: &'a str,
}

#[derive(Serialize)]
struct WireMessage<'a> {
    role: &'static str,
    content: Option<WireContent<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<WireToolCall<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_call_id: Option<&'a str>,
}

#[derive(Serialize)]
struct WireTool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: WireFunction<'a>,
}

#[derive(Serialize)]
struct WireFunction<'a> {
    name: &'a str,
    description: &'a str,
    parameters: &'a Value,
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
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u32>,
}

/// `data:` URL of an image, as OpenAI's `image_url` part expects.
pub(crate) fn data_url(media_type: &str, data: &[u8]) -> String {
    format!(
        "data:{media_type};base64,{}",
        base64::engine::general_purpose::STANDARD.encode(data)
    )
}

fn wire_message(m: &ChatMessage) -> WireMessage<'_> {
    let only_text = m.parts.iter().all(|p| matches!(p, Part::Text(_)));
    let content = if m.parts.is_empty() {
        None
    } else if only_text && m.parts.len() == 1 {
        match &m.parts[0] {
            Part::Text(t) => Some(WireContent::Text(t)),
            Part::Image { .. } => None,
        }
    } else {
        Some(WireContent::Parts(
            m.parts
                .iter()
                .map(|p| match p {
                    Part::Text(text) => WirePart::Text { text },
                    Part::Image { media_type, data } => WirePart::ImageUrl {
                        image_url: ImageUrl {
                            url: data_url(media_type, data),
                        },
                    },
                })
                .collect(),
        ))
    };
    WireMessage {
        role: m.role.as_str(),
        content,
        tool_calls: m
            .tool_calls
            .iter()
            .map(|c| WireToolCall {
                id: &c.id,
                kind: "function",
                function: WireFunctionCall {
                    name: &c.name,
                    arguments: &c.arguments,
                },
            })
            .collect(),
        tool_call_id: m.tool_result_for.as_ref().map(|c| c.id.as_str()),
    }
}

/// The JSON body sent for `req`.
pub(crate) fn request_body(ep: &ProviderEndpoint, req: &ChatRequest) -> Vec<u8> {
    let mut messages = Vec::with_capacity(req.messages.len() + 1);
    if let Some(system) = req.system.as_deref().filter(|s| !s.trim().is_empty()) {
        messages.push(WireMessage {
            role: "system",
            content: Some(WireContent::Text(system)),
            tool_calls: Vec::new(),
            tool_call_id: None,
        });
    }
    messages.extend(req.messages.iter().map(wire_message));
    let completion_field = ep.quirks.max_tokens_field == "max_completion_tokens";
    let body = WireRequest {
        model: &req.model,
        messages,
        stream: req.stream,
        stream_options: (req.stream && ep.quirks.stream_usage).then_some(StreamOptions {
            include_usage: true,
        }),
        tools: req
            .tools
            .iter()
            .map(|t| WireTool {
                kind: "function",
                function: WireFunction {
                    name: &t.name,
                    description: &t.description,
                    parameters: &t.parameters,
                },
            })
            .collect(),
        temperature: req.temperature,
        top_p: req.top_p,
        max_tokens: req.max_tokens.filter(|_| !completion_field),
        max_completion_tokens: req.max_tokens.filter(|_| completion_field),
    };
    // Serializing plain structs of strings, numbers and JSON values cannot fail.
    serde_json::to_vec(&body).unwrap_or_default()
}

/// Normalizes a finish reason to `stop`, `length`, `tool_calls` or `safety`.
fn finish_word(reason: &str) -> String {
    match reason {
        "tool_calls" | "function_call" => "tool_calls".to_owned(),
        "content_filter" => "safety".to_owned(),
        other => other.to_owned(),
    }
}

impl OpenAiChat {
    pub(crate) fn new(ep: ProviderEndpoint, http: HttpClient) -> Self {
        let azure_version = (ep.protocol == Protocol::Azure).then(|| {
            ep.base_url
                .query_pairs()
                .find(|(k, _)| k == "api-version")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_else(|| AZURE_API_VERSION.to_owned())
        });
        let auth = if azure_version.is_some() {
            Auth::Header("api-key")
        } else {
            Auth::Bearer
        };
        Self {
            t: Transport::new(ep, http, auth),
            azure_version,
        }
    }

    /// Azure: `{base}/openai/deployments/{deployment}/{what}?api-version=V`.
    fn azure_url(&self, deployment: &str, what: &str, version: &str) -> Url {
        let mut url = self.t.ep.base_url.clone();
        url.set_query(None);
        {
            let mut segs = url.path_segments_mut().expect("http URLs have paths");
            segs.pop_if_empty()
                .extend(["openai", "deployments", deployment])
                .extend(what.split('/'));
        }
        url.query_pairs_mut().append_pair("api-version", version);
        url
    }

    fn url(&self, model: &str, what: &str) -> Url {
        match &self.azure_version {
            Some(v) => self.azure_url(model, what, v),
            None => endpoint(&self.t.ep.base_url, what),
        }
    }
}

#[async_trait]
impl ChatProvider for OpenAiChat {
    async fn chat(&self, req: &ChatRequest) -> Result<ChatStream, ProviderError> {
        let url = self.url(&req.model, "chat/completions");
        let body = request_body(&self.t.ep, req);
        let resp = self.t.generate(url, req, "text/event-stream", body).await?;
        // Some servers answer a stream request with one JSON object (an error, or the
        // whole answer); read it as such instead of finding no events in it.
        let is_sse = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.contains("text/event-stream"));
        if !req.stream || !is_sse {
            let body = self.t.body(resp, Some(&req.model)).await?;
            let events = parse_completion(&self.t.ctx(&req.model), &body)?;
            return Ok(Box::pin(stream::iter(events.into_iter().map(Ok))));
        }
        Ok(events(
            resp,
            Framing::Sse,
            OpenAiDecoder::default(),
            self.t.ctx(&req.model),
        ))
    }

    async fn models(&self) -> Result<Vec<RemoteModel>, ProviderError> {
        let url = match &self.azure_version {
            // Azure's v1 API lists the models a resource can deploy.
            Some(_) => {
                let mut u = self.t.ep.base_url.clone();
                u.set_query(None);
                endpoint(&u, "openai/v1/models")
            }
            None => endpoint(&self.t.ep.base_url, "models"),
        };
        list_models(&self.t, url).await
    }
}

/// `GET url` → `{"data":[{"id":…,"owned_by":…}]}`, as OpenAI-style model lists are.
pub(crate) async fn list_models(
    t: &Transport,
    url: Url,
) -> Result<Vec<RemoteModel>, ProviderError> {
    t.model_list(url, "data", None, |m| {
        Some(RemoteModel {
            id: m.get("id")?.as_str()?.to_owned(),
            owned_by: m.get("owned_by").and_then(Value::as_str).map(str::to_owned),
        })
    })
    .await
}

#[async_trait]
impl EmbeddingProvider for OpenAiChat {
    fn name(&self) -> &str {
        &self.t.ep.name
    }

    fn max_batch(&self) -> usize {
        // OpenAI accepts 2048 inputs per request; compatible servers often far fewer.
        256
    }

    async fn embed_batch(
        &self,
        model: &str,
        inputs: &[String],
    ) -> Result<Embeddings, ProviderError> {
        let body = json!({"model": model, "input": inputs, "encoding_format": "float"});
        let v = self
            .t
            .embed(self.url(model, "embeddings"), model, &body)
            .await?;
        let mut rows: Vec<(u64, Vec<f32>)> = self
            .t
            .array(&v, "data", Some(model), EMBEDDINGS)?
            .iter()
            .map(|d| {
                (
                    d.get("index").and_then(Value::as_u64).unwrap_or(0),
                    floats(d.get("embedding")),
                )
            })
            .collect();
        rows.sort_by_key(|(i, _)| *i);
        Ok(Embeddings {
            vectors: rows.into_iter().map(|(_, v)| v).collect(),
            input_tokens: v.pointer("/usage/prompt_tokens").and_then(Value::as_u64),
        })
    }
}

/// A JSON array of numbers as `f32`s.
pub(crate) fn floats(v: Option<&Value>) -> Vec<f32> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_f64)
                .map(|f| f as f32)
                .collect()
        })
        .unwrap_or_default()
}

fn reasoning_of(v: &Value) -> Option<&str> {
    v.get("reasoning_content")
        .or_else(|| v.get("reasoning"))
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
}

pub(crate) fn usage_of(v: &Value) -> Option<Usage> {
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

/// An `{"error": …}` object in a stream or a 200 body.
pub(crate) fn in_stream_error(ctx: &Ctx, err: &Value) -> ProviderError {
    let message = err
        .get("message")
        .and_then(Value::as_str)
        .or_else(|| err.as_str())
        .unwrap_or("unknown error");
    ProviderError {
        model: Some(ctx.model.clone()),
        code: err.get("code").and_then(|c| {
            c.as_str()
                .map(str::to_owned)
                .or_else(|| c.as_u64().map(|n| n.to_string()))
        }),
        message: Some(scrub(message, ctx.key.as_ref())),
        ..ProviderError::new(ProviderErrorKind::InStream, &ctx.provider)
    }
}

/// A whole `chat.completion` object as events.
fn parse_completion(ctx: &Ctx, body: &[u8]) -> Result<Vec<ChatEvent>, ProviderError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ctx.bad_frame(format!("the answer is not JSON ({e})")))?;
    if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
        return Err(in_stream_error(ctx, err));
    }
    let choice = v
        .get("choices")
        .and_then(|c| c.get(0))
        .ok_or_else(|| ctx.bad_frame("the answer has no choices"))?;
    let message = choice.get("message").unwrap_or(&Value::Null);
    let mut events = Vec::new();
    if let Some(t) = reasoning_of(message) {
        events.push(ChatEvent::ThinkingDelta(t.to_owned()));
    }
    if let Some(t) = message.get("content").and_then(Value::as_str) {
        let mut think = ThinkSplitter::default();
        think.feed(t, |e| events.push(e));
        think.finish(|e| events.push(e));
    }
    for (index, call) in message
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let f = call.get("function").unwrap_or(&Value::Null);
        whole_call(
            |e| events.push(e),
            index,
            call["id"].as_str(),
            f["name"].as_str().unwrap_or_default(),
            f.get("arguments"),
        );
    }
    if let Some(u) = usage_of(&v) {
        events.push(ChatEvent::Usage(u));
    }
    let reason = choice
        .get("finish_reason")
        .and_then(Value::as_str)
        .unwrap_or("stop");
    events.push(ChatEvent::Finish(finish_word(reason)));
    Ok(events)
}

/// Chat Completions stream chunks.
#[derive(Default)]
pub(crate) struct OpenAiDecoder {
    think: ThinkSplitter,
    /// Tool calls seen, by the index the provider gives them.
    open_calls: Vec<usize>,
    finished: bool,
}

impl OpenAiDecoder {
    fn end_calls(&mut self, out: &mut Out) {
        self.think.finish(|e| out.push(Ok(e)));
        for index in self.open_calls.drain(..) {
            out.push(Ok(ChatEvent::ToolCallEnd { index }));
        }
    }
}

impl Decoder for OpenAiDecoder {
    fn frame(&mut self, ctx: &Ctx, _event: Option<&str>, data: &str, out: &mut Out) -> Flow {
        if data == "[DONE]" {
            return Flow::End;
        }
        if data.is_empty() {
            return Flow::More;
        }
        let Some(v) = ctx.json(data, out) else {
            return Flow::More;
        };
        if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
            out.push(Err(in_stream_error(ctx, err)));
            return Flow::More;
        }
        if let Some(choice) = v.get("choices").and_then(|c| c.get(0)) {
            let delta = choice.get("delta").unwrap_or(&Value::Null);
            if let Some(t) = reasoning_of(delta) {
                out.push(Ok(ChatEvent::ThinkingDelta(t.to_owned())));
            }
            if let Some(t) = delta
                .get("content")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
            {
                self.think.feed(t, |e| out.push(Ok(e)));
            }
            for call in delta
                .get("tool_calls")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let index = call.get("index").and_then(Value::as_u64).unwrap_or(0) as usize;
                let f = call.get("function").unwrap_or(&Value::Null);
                if !self.open_calls.contains(&index) {
                    self.open_calls.push(index);
                    out.push(Ok(ChatEvent::ToolCallStart {
                        index,
                        id: call
                            .get("id")
                            .and_then(Value::as_str)
                            .map_or_else(|| format!("call_{index}"), str::to_owned),
                        name: f
                            .get("name")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                    }));
                }
                if let Some(args) = f
                    .get("arguments")
                    .and_then(Value::as_str)
                    .filter(|a| !a.is_empty())
                {
                    out.push(Ok(ChatEvent::ToolCallArgs {
                        index,
                        delta: args.to_owned(),
                    }));
                }
            }
            if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
                self.end_calls(out);
                self.finished = true;
                out.push(Ok(ChatEvent::Finish(finish_word(reason))));
            }
        }
        if let Some(u) = usage_of(&v) {
            out.push(Ok(ChatEvent::Usage(u)));
        }
        Flow::More
    }

    fn finished(&self) -> bool {
        self.finished
    }

    fn close(&mut self, out: &mut Out) {
        self.end_calls(out);
    }
}
