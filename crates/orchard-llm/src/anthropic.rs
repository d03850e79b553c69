//! Anthropic Messages (`POST {base}/messages`).
//!
//! Streams are SSE with named events: `message_start` (input usage), then for each
//! content block `content_block_start`, `content_block_delta` (`text_delta`,
//! `thinking_delta`, `signature_delta`, `input_json_delta`) and `content_block_stop`,
//! then `message_delta` (stop reason, output usage) and `message_stop`; `ping` may come
//! at any time, and an `error` event can arrive mid-stream. The key goes in `x-api-key`
//! with an `anthropic-version` header. Extended thinking takes a token budget; its
//! signature is kept and sent back with the thinking in later turns, as required.

use std::collections::HashMap;

use async_trait::async_trait;
use base64::Engine as _;
use futures_util::stream;
use orchard_core::base_url::endpoint;
use orchard_core::message::{Role, Usage};
use orchard_net::HttpClient;
use serde_json::{Map, Value, json};

use crate::error::scrub;
use crate::stream::{Ctx, Decoder, Flow, Framing, Out, events};
use crate::transport::{Auth, Paging, Transport};
use crate::{
    ChatEvent, ChatMessage, ChatProvider, ChatRequest, ChatStream, Part, ProviderEndpoint,
    ProviderError, ProviderErrorKind, RemoteModel,
};

/// The API version Orchard speaks.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";
/// `max_tokens` is required by the API; this is used when the person set none. 4096 is
/// the output limit of the smallest current models (Claude 3 Haiku and Opus), so every
/// model accepts it.
const DEFAULT_MAX_TOKENS: u32 = 4096;
/// The smallest thinking budget the API accepts.
const MIN_THINKING_BUDGET: u32 = 1024;

pub(crate) struct AnthropicChat {
    t: Transport,
}

fn content_blocks(m: &ChatMessage) -> Vec<Value> {
    let mut blocks = Vec::new();
    if let Some(th) = &m.thinking {
        // Thinking goes back only with its signature; without one the API refuses it.
        if let Some(sig) = &th.signature {
            blocks.push(json!({"type": "thinking", "thinking": th.text, "signature": sig}));
        }
    }
    if let Some(call) = &m.tool_result_for {
        blocks.push(
            json!({"type": "tool_result", "tool_use_id": call.id, "content": m.text_content()}),
        );
        return blocks;
    }
    for part in &m.parts {
        match part {
            Part::Text(t) if t.is_empty() => {}
            Part::Text(t) => blocks.push(json!({"type": "text", "text": t})),
            Part::Image { media_type, data } => blocks.push(json!({
                "type": "image",
                "source": {
                    "type": "base64",
                    "media_type": media_type,
                    "data": base64::engine::general_purpose::STANDARD.encode(data),
                }
            })),
        }
    }
    for call in &m.tool_calls {
        let input: Value = serde_json::from_str(&call.arguments).unwrap_or_else(|_| json!({}));
        blocks.push(json!({"type": "tool_use", "id": call.id, "name": call.name, "input": input}));
    }
    blocks
}

/// The JSON body sent for `req` (serde_json sorts object keys, so the bytes are
/// deterministic and snapshots are stable).
pub(crate) fn request_body(req: &ChatRequest) -> Vec<u8> {
    let mut body = Map::new();
    body.insert("model".into(), json!(req.model));
    let budget = req.thinking_budget.map(|b| b.max(MIN_THINKING_BUDGET));
    // max_tokens must exceed the thinking budget.
    let max_tokens = req
        .max_tokens
        .unwrap_or(DEFAULT_MAX_TOKENS)
        .max(budget.map_or(0, |b| b.saturating_add(1024)));
    body.insert("max_tokens".into(), json!(max_tokens));
    if let Some(system) = req.system.as_deref().filter(|s| !s.trim().is_empty()) {
        body.insert("system".into(), json!(system));
    }
    let messages: Vec<Value> = req
        .messages
        .iter()
        .map(|m| {
            // Tool results are user turns in this protocol.
            let role = if m.role == Role::Assistant {
                "assistant"
            } else {
                "user"
            };
            json!({"role": role, "content": content_blocks(m)})
        })
        .collect();
    body.insert("messages".into(), Value::Array(messages));
    body.insert("stream".into(), json!(req.stream));
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.parameters}))
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    match budget {
        Some(b) => {
            // Sampling parameters cannot be combined with extended thinking.
            body.insert(
                "thinking".into(),
                json!({"type": "enabled", "budget_tokens": b}),
            );
        }
        None => {
            if let Some(t) = req.temperature {
                body.insert("temperature".into(), json!(t));
            }
            if let Some(p) = req.top_p {
                body.insert("top_p".into(), json!(p));
            }
        }
    }
    serde_json::to_vec(&Value::Object(body)).unwrap_or_default()
}

fn finish_word(reason: &str) -> String {
    match reason {
        "end_turn" | "stop_sequence" | "pause_turn" => "stop".to_owned(),
        "max_tokens" => "length".to_owned(),
        "tool_use" => "tool_calls".to_owned(),
        "refusal" => "safety".to_owned(),
        other => other.to_owned(),
    }
}

fn usage(input: Option<u64>, output: Option<u64>) -> Usage {
    Usage {
        input_tokens: input,
        output_tokens: output,
        reasoning_tokens: None,
    }
}

impl AnthropicChat {
    pub(crate) fn new(ep: ProviderEndpoint, http: HttpClient) -> Self {
        let mut t = Transport::new(ep, http, Auth::Header("x-api-key"));
        t.fixed = &[("anthropic-version", ANTHROPIC_VERSION)];
        Self { t }
    }
}

#[async_trait]
impl ChatProvider for AnthropicChat {
    async fn chat(&self, req: &ChatRequest) -> Result<ChatStream, ProviderError> {
        let url = endpoint(&self.t.ep.base_url, "messages");
        let resp = self
            .t
            .generate(url, req, "text/event-stream", request_body(req))
            .await?;
        let ctx = self.t.ctx(&req.model);
        if !req.stream {
            let body = self.t.body(resp, Some(&req.model)).await?;
            let events = parse_message(&ctx, &body)?;
            return Ok(Box::pin(stream::iter(events.into_iter().map(Ok))));
        }
        Ok(events(resp, Framing::Sse, AnthropicDecoder::default(), ctx))
    }

    async fn models(&self) -> Result<Vec<RemoteModel>, ProviderError> {
        let paging = Paging {
            size: "limit",
            cursor: "after_id",
            next: |v| {
                v.get("has_more")
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
                    .then(|| v.get("last_id").and_then(Value::as_str).map(str::to_owned))
                    .flatten()
            },
        };
        let url = endpoint(&self.t.ep.base_url, "models");
        self.t
            .model_list(url, "data", Some(paging), |m| {
                Some(RemoteModel {
                    id: m.get("id")?.as_str()?.to_owned(),
                    owned_by: Some("anthropic".to_owned()),
                })
            })
            .await
    }
}

fn api_error(ctx: &Ctx, v: &Value) -> ProviderError {
    let err = v.get("error").unwrap_or(v);
    let kind = err.get("type").and_then(Value::as_str).unwrap_or("error");
    let message = err
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("unknown error");
    ProviderError {
        model: Some(ctx.model.clone()),
        code: Some(kind.to_owned()),
        message: Some(scrub(message, ctx.key.as_ref())),
        ..ProviderError::new(
            if kind == "overloaded_error" || kind == "api_error" {
                ProviderErrorKind::Server
            } else {
                ProviderErrorKind::InStream
            },
            &ctx.provider,
        )
    }
}

/// A whole message object as events.
fn parse_message(ctx: &Ctx, body: &[u8]) -> Result<Vec<ChatEvent>, ProviderError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ctx.bad_frame(format!("the answer is not JSON ({e})")))?;
    if v.get("type").and_then(Value::as_str) == Some("error") {
        return Err(api_error(ctx, &v));
    }
    let mut events = Vec::new();
    let mut tool = 0;
    for block in v
        .get("content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => events.push(ChatEvent::TextDelta(
                block["text"].as_str().unwrap_or_default().to_owned(),
            )),
            Some("thinking") => {
                events.push(ChatEvent::ThinkingDelta(
                    block["thinking"].as_str().unwrap_or_default().to_owned(),
                ));
                if let Some(sig) = block.get("signature").and_then(Value::as_str) {
                    events.push(ChatEvent::ThinkingSignature(sig.to_owned()));
                }
            }
            Some("tool_use") => {
                events.push(ChatEvent::ToolCallStart {
                    index: tool,
                    id: block["id"].as_str().unwrap_or_default().to_owned(),
                    name: block["name"].as_str().unwrap_or_default().to_owned(),
                });
                events.push(ChatEvent::ToolCallArgs {
                    index: tool,
                    delta: block
                        .get("input")
                        .map_or_else(|| "{}".to_owned(), Value::to_string),
                });
                events.push(ChatEvent::ToolCallEnd { index: tool });
                tool += 1;
            }
            _ => {}
        }
    }
    let u = v.get("usage").unwrap_or(&Value::Null);
    events.push(ChatEvent::Usage(usage(
        u["input_tokens"].as_u64(),
        u["output_tokens"].as_u64(),
    )));
    events.push(ChatEvent::Finish(finish_word(
        v["stop_reason"].as_str().unwrap_or("end_turn"),
    )));
    Ok(events)
}

#[derive(Clone, Copy)]
enum Block {
    Text,
    Thinking,
    Tool(usize),
    Other,
}

/// Messages stream events.
#[derive(Default)]
pub(crate) struct AnthropicDecoder {
    /// The kind of each content block, by the provider's block index (a map: a hostile
    /// stream of many blocks must not cost quadratic time).
    blocks: HashMap<u64, Block>,
    tools: usize,
    input_tokens: Option<u64>,
    finished: bool,
}

impl AnthropicDecoder {
    fn block(&self, index: u64) -> Block {
        self.blocks.get(&index).copied().unwrap_or(Block::Other)
    }
}

impl Decoder for AnthropicDecoder {
    fn frame(&mut self, ctx: &Ctx, event: Option<&str>, data: &str, out: &mut Out) -> Flow {
        if data.is_empty() {
            return Flow::More;
        }
        let Some(v) = ctx.json(data, out) else {
            return Flow::More;
        };
        let kind = event
            .or_else(|| v.get("type").and_then(Value::as_str))
            .unwrap_or_default();
        match kind {
            "message_start" => {
                self.input_tokens = v
                    .pointer("/message/usage/input_tokens")
                    .and_then(Value::as_u64);
            }
            "content_block_start" => {
                let index = v["index"].as_u64().unwrap_or(0);
                let cb = &v["content_block"];
                let block = match cb["type"].as_str() {
                    Some("text") => Block::Text,
                    Some("thinking") => Block::Thinking,
                    Some("tool_use") => {
                        let tool = self.tools;
                        self.tools += 1;
                        out.push(Ok(ChatEvent::ToolCallStart {
                            index: tool,
                            id: cb["id"].as_str().unwrap_or_default().to_owned(),
                            name: cb["name"].as_str().unwrap_or_default().to_owned(),
                        }));
                        Block::Tool(tool)
                    }
                    _ => Block::Other,
                };
                self.blocks.insert(index, block);
            }
            "content_block_delta" => {
                let index = v["index"].as_u64().unwrap_or(0);
                let delta = &v["delta"];
                let text = |k: &str| delta[k].as_str().unwrap_or_default().to_owned();
                match (delta["type"].as_str(), self.block(index)) {
                    (Some("text_delta"), _) => out.push(Ok(ChatEvent::TextDelta(text("text")))),
                    (Some("thinking_delta"), _) => {
                        out.push(Ok(ChatEvent::ThinkingDelta(text("thinking"))))
                    }
                    (Some("signature_delta"), _) => {
                        out.push(Ok(ChatEvent::ThinkingSignature(text("signature"))))
                    }
                    (Some("input_json_delta"), Block::Tool(tool)) => {
                        let partial = text("partial_json");
                        if !partial.is_empty() {
                            out.push(Ok(ChatEvent::ToolCallArgs {
                                index: tool,
                                delta: partial,
                            }));
                        }
                    }
                    _ => {}
                }
            }
            "content_block_stop" => {
                if let Block::Tool(tool) = self.block(v["index"].as_u64().unwrap_or(0)) {
                    out.push(Ok(ChatEvent::ToolCallEnd { index: tool }));
                }
            }
            "message_delta" => {
                let output = v.pointer("/usage/output_tokens").and_then(Value::as_u64);
                out.push(Ok(ChatEvent::Usage(usage(self.input_tokens, output))));
                if let Some(reason) = v.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    self.finished = true;
                    out.push(Ok(ChatEvent::Finish(finish_word(reason))));
                }
            }
            "message_stop" => return Flow::End,
            "error" => out.push(Err(api_error(ctx, &v))),
            // `ping`, and event types added after this was written, carry nothing for us.
            _ => {}
        }
        Flow::More
    }

    fn finished(&self) -> bool {
        self.finished
    }
}
