//! OpenAI's Responses API (`POST {base}/responses`), used for the official OpenAI
//! provider so reasoning models can show their reasoning summaries.
//!
//! Streams are SSE with named events (`response.output_text.delta`,
//! `response.reasoning_summary_text.delta`, `response.output_item.added` for function
//! calls, `response.function_call_arguments.delta`/`.done`, `response.completed` with
//! usage, `response.incomplete`, `response.failed`, `error`). Requests are sent with
//! `"store": false`: the API would otherwise keep the conversation on OpenAI's servers.

use async_trait::async_trait;
use futures_util::stream;
use orchard_core::base_url::endpoint;
use orchard_core::message::{Role, Usage};
use orchard_net::HttpClient;
use serde_json::{Map, Value, json};

use crate::error::scrub;
use crate::openai::{data_url, list_models};
use crate::stream::{Ctx, Decoder, Flow, Framing, Out, events};
use crate::transport::{Auth, Transport};
use crate::{
    ChatEvent, ChatProvider, ChatRequest, ChatStream, Part, ProviderEndpoint, ProviderError,
    ProviderErrorKind, RemoteModel,
};

pub(crate) struct ResponsesChat {
    t: Transport,
}

/// `reasoning.effort` for a thinking budget.
fn effort(budget: u32) -> &'static str {
    match budget {
        0..2048 => "low",
        2048..8192 => "medium",
        _ => "high",
    }
}

/// The JSON body sent for `req` (keys sorted by serde_json: deterministic).
pub(crate) fn request_body(req: &ChatRequest) -> Vec<u8> {
    let mut input = Vec::new();
    for m in &req.messages {
        if let Some(call) = &m.tool_result_for {
            input.push(json!({"type": "function_call_output", "call_id": call.id, "output": m.text_content()}));
            continue;
        }
        let assistant = m.role == Role::Assistant;
        let content: Vec<Value> = m
            .parts
            .iter()
            .filter(|p| !matches!(p, Part::Text(t) if t.is_empty()))
            .map(|p| match p {
                Part::Text(t) if assistant => json!({"type": "output_text", "text": t}),
                Part::Text(t) => json!({"type": "input_text", "text": t}),
                Part::Image { media_type, data } => {
                    json!({"type": "input_image", "image_url": data_url(media_type, data)})
                }
            })
            .collect();
        if !content.is_empty() {
            input.push(
                json!({"role": if assistant { "assistant" } else { "user" }, "content": content}),
            );
        }
        for call in &m.tool_calls {
            input.push(json!({"type": "function_call", "call_id": call.id, "name": call.name, "arguments": call.arguments}));
        }
    }
    let mut body = Map::new();
    body.insert("model".into(), json!(req.model));
    body.insert("input".into(), Value::Array(input));
    if let Some(system) = req.system.as_deref().filter(|s| !s.trim().is_empty()) {
        body.insert("instructions".into(), json!(system));
    }
    body.insert("stream".into(), json!(req.stream));
    // Privacy: without this the API keeps the conversation on OpenAI's servers.
    body.insert("store".into(), json!(false));
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| json!({"type": "function", "name": t.name, "description": t.description, "parameters": t.parameters}))
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(b) = req.thinking_budget {
        body.insert(
            "reasoning".into(),
            json!({"effort": effort(b), "summary": "auto"}),
        );
    }
    // Reasoning models refuse sampling settings ("Unsupported parameter").
    if req.thinking_budget.is_none() {
        if let Some(t) = req.temperature {
            body.insert("temperature".into(), json!(t));
        }
        if let Some(p) = req.top_p {
            body.insert("top_p".into(), json!(p));
        }
    }
    if let Some(m) = req.max_tokens {
        body.insert("max_output_tokens".into(), json!(m));
    }
    serde_json::to_vec(&Value::Object(body)).unwrap_or_default()
}

fn usage_of(response: &Value) -> Option<Usage> {
    let u = response.get("usage").filter(|u| u.is_object())?;
    Some(Usage {
        input_tokens: u["input_tokens"].as_u64(),
        output_tokens: u["output_tokens"].as_u64(),
        reasoning_tokens: u
            .pointer("/output_tokens_details/reasoning_tokens")
            .and_then(Value::as_u64),
    })
}

impl ResponsesChat {
    pub(crate) fn new(ep: ProviderEndpoint, http: HttpClient) -> Self {
        Self {
            t: Transport::new(ep, http, Auth::Bearer),
        }
    }
}

#[async_trait]
impl ChatProvider for ResponsesChat {
    async fn chat(&self, req: &ChatRequest) -> Result<ChatStream, ProviderError> {
        let url = endpoint(&self.t.ep.base_url, "responses");
        let resp = self
            .t
            .generate(url, req, "text/event-stream", request_body(req))
            .await?;
        let ctx = self.t.ctx(&req.model);
        if !req.stream {
            let v = self
                .t
                .read_json(resp, Some(&req.model), "the answer")
                .await?;
            return Ok(Box::pin(stream::iter(parse_response(&ctx, &v))));
        }
        Ok(events(resp, Framing::Sse, ResponsesDecoder::default(), ctx))
    }

    async fn models(&self) -> Result<Vec<RemoteModel>, ProviderError> {
        list_models(&self.t, endpoint(&self.t.ep.base_url, "models")).await
    }
}

fn failure(ctx: &Ctx, err: &Value) -> ProviderError {
    let message = err["message"].as_str().unwrap_or("the response failed");
    ProviderError {
        model: Some(ctx.model.clone()),
        code: err["code"].as_str().map(str::to_owned),
        message: Some(scrub(message, ctx.key.as_ref())),
        ..ProviderError::new(ProviderErrorKind::InStream, &ctx.provider)
    }
}

fn finish_of(response: &Value, tools: usize) -> String {
    match response["status"].as_str() {
        Some("incomplete") => match response
            .pointer("/incomplete_details/reason")
            .and_then(Value::as_str)
        {
            Some("content_filter") => "safety".to_owned(),
            _ => "length".to_owned(),
        },
        _ if tools > 0 => "tool_calls".to_owned(),
        _ => "stop".to_owned(),
    }
}

/// A whole response object as events.
fn parse_response(ctx: &Ctx, v: &Value) -> Vec<Result<ChatEvent, ProviderError>> {
    if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
        return vec![Err(failure(ctx, err))];
    }
    let mut out = Vec::new();
    let mut tools = 0;
    for item in v["output"].as_array().into_iter().flatten() {
        match item["type"].as_str() {
            Some("reasoning") => {
                for s in item["summary"].as_array().into_iter().flatten() {
                    if let Some(t) = s["text"].as_str() {
                        out.push(Ok(ChatEvent::ThinkingDelta(t.to_owned())));
                    }
                }
            }
            Some("message") => {
                for c in item["content"].as_array().into_iter().flatten() {
                    if let Some(t) = c["text"].as_str() {
                        out.push(Ok(ChatEvent::TextDelta(t.to_owned())));
                    }
                }
            }
            Some("function_call") => {
                out.push(Ok(ChatEvent::ToolCallStart {
                    index: tools,
                    id: item["call_id"].as_str().unwrap_or_default().to_owned(),
                    name: item["name"].as_str().unwrap_or_default().to_owned(),
                }));
                out.push(Ok(ChatEvent::ToolCallArgs {
                    index: tools,
                    delta: item["arguments"].as_str().unwrap_or("{}").to_owned(),
                }));
                out.push(Ok(ChatEvent::ToolCallEnd { index: tools }));
                tools += 1;
            }
            _ => {}
        }
    }
    if let Some(u) = usage_of(v) {
        out.push(Ok(ChatEvent::Usage(u)));
    }
    out.push(Ok(ChatEvent::Finish(finish_of(v, tools))));
    out
}

/// Responses API stream events.
#[derive(Default)]
pub(crate) struct ResponsesDecoder {
    /// Function calls by output index.
    calls: Vec<(u64, usize)>,
    finished: bool,
}

impl Decoder for ResponsesDecoder {
    fn frame(&mut self, ctx: &Ctx, event: Option<&str>, data: &str, out: &mut Out) -> Flow {
        if data.is_empty() || data == "[DONE]" {
            return Flow::More;
        }
        let Some(v) = ctx.json(data, out) else {
            return Flow::More;
        };
        let kind = event.or_else(|| v["type"].as_str()).unwrap_or_default();
        let text = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
        match kind {
            "response.output_text.delta" => out.push(Ok(ChatEvent::TextDelta(text("delta")))),
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
                out.push(Ok(ChatEvent::ThinkingDelta(text("delta"))));
            }
            "response.output_item.added"
                if v.pointer("/item/type").and_then(Value::as_str) == Some("function_call") =>
            {
                let index = self.calls.len();
                self.calls
                    .push((v["output_index"].as_u64().unwrap_or(0), index));
                out.push(Ok(ChatEvent::ToolCallStart {
                    index,
                    id: v
                        .pointer("/item/call_id")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    name: v
                        .pointer("/item/name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                }));
            }
            "response.function_call_arguments.delta" | "response.function_call_arguments.done" => {
                let output = v["output_index"].as_u64().unwrap_or(0);
                if let Some(&(_, index)) = self.calls.iter().find(|(o, _)| *o == output) {
                    if kind.ends_with("delta") {
                        out.push(Ok(ChatEvent::ToolCallArgs {
                            index,
                            delta: text("delta"),
                        }));
                    } else {
                        out.push(Ok(ChatEvent::ToolCallEnd { index }));
                    }
                }
            }
            "response.completed" | "response.incomplete" => {
                let response = &v["response"];
                if let Some(u) = usage_of(response) {
                    out.push(Ok(ChatEvent::Usage(u)));
                }
                self.finished = true;
                out.push(Ok(ChatEvent::Finish(finish_of(response, self.calls.len()))));
                return Flow::End;
            }
            "response.failed" => out.push(Err(failure(ctx, &v["response"]["error"]))),
            "error" => out.push(Err(failure(ctx, &v))),
            _ => {}
        }
        Flow::More
    }

    fn finished(&self) -> bool {
        self.finished
    }
}
