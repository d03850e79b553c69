//! Ollama's native API (`/api/chat`, `/api/tags`, `/api/embed`).
//!
//! Streams are NDJSON: one JSON object per line with `message.content` (and
//! `message.thinking` when the model thinks), ending with an object that has
//! `"done": true`, the stop reason and the token counts. Tool calls arrive whole in
//! `message.tool_calls`. Images are base64 strings in a message's `images`. Ollama needs
//! no key; one is sent as a bearer token if configured (for servers behind a proxy).

use async_trait::async_trait;
use base64::Engine as _;
use orchard_core::base_url::endpoint;
use orchard_core::message::Usage;
use orchard_net::HttpClient;
use serde_json::{Map, Value, json};

use crate::embed::{EmbeddingProvider, Embeddings};
use crate::error::scrub;
use crate::openai::floats;
use crate::stream::{Ctx, Decoder, Flow, Framing, Out, events, whole, whole_call};
use crate::think::ThinkSplitter;
use crate::transport::{Auth, EMBEDDINGS, Transport};
use crate::{
    ChatEvent, ChatMessage, ChatProvider, ChatRequest, ChatStream, Part, ProviderEndpoint,
    ProviderError, ProviderErrorKind, RemoteModel,
};

pub(crate) struct OllamaChat {
    t: Transport,
}

fn message(m: &ChatMessage) -> Value {
    let mut msg = Map::new();
    msg.insert("role".into(), json!(m.role.as_str()));
    msg.insert("content".into(), json!(m.text_content()));
    let images: Vec<String> = m
        .parts
        .iter()
        .filter_map(|p| match p {
            Part::Image { data, .. } => {
                Some(base64::engine::general_purpose::STANDARD.encode(data))
            }
            Part::Text(_) => None,
        })
        .collect();
    if !images.is_empty() {
        msg.insert("images".into(), json!(images));
    }
    if !m.tool_calls.is_empty() {
        let calls: Vec<Value> = m
            .tool_calls
            .iter()
            .map(|c| {
                let args: Value = serde_json::from_str(&c.arguments).unwrap_or_else(|_| json!({}));
                json!({"function": {"name": c.name, "arguments": args}})
            })
            .collect();
        msg.insert("tool_calls".into(), Value::Array(calls));
    }
    if let Some(call) = &m.tool_result_for {
        msg.insert("tool_name".into(), json!(call.name));
    }
    Value::Object(msg)
}

/// The JSON body sent for `req` (keys sorted by serde_json: deterministic).
pub(crate) fn request_body(req: &ChatRequest) -> Vec<u8> {
    let mut body = Map::new();
    body.insert("model".into(), json!(req.model));
    let mut messages = Vec::new();
    if let Some(system) = req.system.as_deref().filter(|s| !s.trim().is_empty()) {
        messages.push(json!({"role": "system", "content": system}));
    }
    messages.extend(req.messages.iter().map(message));
    body.insert("messages".into(), Value::Array(messages));
    body.insert("stream".into(), json!(req.stream));
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| json!({"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}))
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    if req.thinking_budget.is_some() {
        body.insert("think".into(), json!(true));
    }
    let mut options = Map::new();
    if let Some(t) = req.temperature {
        options.insert("temperature".into(), json!(t));
    }
    if let Some(p) = req.top_p {
        options.insert("top_p".into(), json!(p));
    }
    if let Some(m) = req.max_tokens {
        options.insert("num_predict".into(), json!(m));
    }
    if !options.is_empty() {
        body.insert("options".into(), Value::Object(options));
    }
    serde_json::to_vec(&Value::Object(body)).unwrap_or_default()
}

impl OllamaChat {
    pub(crate) fn new(ep: ProviderEndpoint, http: HttpClient) -> Self {
        Self {
            t: Transport::new(ep, http, Auth::Bearer),
        }
    }
}

#[async_trait]
impl ChatProvider for OllamaChat {
    async fn chat(&self, req: &ChatRequest) -> Result<ChatStream, ProviderError> {
        let url = endpoint(&self.t.ep.base_url, "api/chat");
        let resp = self
            .t
            .generate(url, req, "application/x-ndjson", request_body(req))
            .await?;
        let ctx = self.t.ctx(&req.model);
        if !req.stream {
            let body = self.t.body(resp, Some(&req.model)).await?;
            return Ok(whole(OllamaDecoder::default(), &ctx, &body));
        }
        Ok(events(resp, Framing::Ndjson, OllamaDecoder::default(), ctx))
    }

    async fn models(&self) -> Result<Vec<RemoteModel>, ProviderError> {
        let url = endpoint(&self.t.ep.base_url, "api/tags");
        self.t
            .model_list(url, "models", None, |m| {
                Some(RemoteModel {
                    id: m
                        .get("name")
                        .or_else(|| m.get("model"))?
                        .as_str()?
                        .to_owned(),
                    owned_by: None,
                })
            })
            .await
    }
}

#[async_trait]
impl EmbeddingProvider for OllamaChat {
    fn name(&self) -> &str {
        &self.t.ep.name
    }

    fn max_batch(&self) -> usize {
        // No documented limit; keep requests (and memory on a small machine) modest.
        64
    }

    async fn embed_batch(
        &self,
        model: &str,
        inputs: &[String],
    ) -> Result<Embeddings, ProviderError> {
        let url = endpoint(&self.t.ep.base_url, "api/embed");
        let v = self
            .t
            .embed(url, model, &json!({"model": model, "input": inputs}))
            .await?;
        let vectors = self
            .t
            .array(&v, "embeddings", Some(model), EMBEDDINGS)?
            .iter()
            .map(|e| floats(Some(e)))
            .collect();
        Ok(Embeddings {
            vectors,
            input_tokens: v["prompt_eval_count"].as_u64(),
        })
    }
}

/// `/api/chat` objects.
#[derive(Default)]
pub(crate) struct OllamaDecoder {
    think: ThinkSplitter,
    tools: usize,
    finished: bool,
}

impl Decoder for OllamaDecoder {
    fn frame(&mut self, ctx: &Ctx, _event: Option<&str>, data: &str, out: &mut Out) -> Flow {
        if data.is_empty() {
            return Flow::More;
        }
        let Some(v) = ctx.json(data, out) else {
            return Flow::More;
        };
        if let Some(err) = v.get("error").and_then(Value::as_str) {
            out.push(Err(ProviderError {
                model: Some(ctx.model.clone()),
                message: Some(scrub(err, ctx.key.as_ref())),
                ..ProviderError::new(ProviderErrorKind::InStream, &ctx.provider)
            }));
            return Flow::More;
        }
        let msg = v.get("message").unwrap_or(&Value::Null);
        if let Some(t) = msg
            .get("thinking")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        {
            out.push(Ok(ChatEvent::ThinkingDelta(t.to_owned())));
        }
        if let Some(t) = msg
            .get("content")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        {
            // Thinking models without `think` put their reasoning in <think> tags.
            self.think.feed(t, |e| out.push(Ok(e)));
        }
        for call in msg
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let index = self.tools;
            self.tools += 1;
            let f = call.get("function").unwrap_or(&Value::Null);
            whole_call(
                |e| out.push(Ok(e)),
                index,
                call["id"].as_str(),
                f["name"].as_str().unwrap_or_default(),
                f.get("arguments"),
            );
        }
        if v.get("done").and_then(Value::as_bool) == Some(true) {
            self.think.finish(|e| out.push(Ok(e)));
            out.push(Ok(ChatEvent::Usage(Usage {
                input_tokens: v["prompt_eval_count"].as_u64(),
                output_tokens: v["eval_count"].as_u64(),
                reasoning_tokens: None,
            })));
            let reason = match v["done_reason"].as_str() {
                _ if self.tools > 0 => "tool_calls".to_owned(),
                Some("length") => "length".to_owned(),
                Some(other) => other.to_owned(),
                None => "stop".to_owned(),
            };
            self.finished = true;
            out.push(Ok(ChatEvent::Finish(reason)));
            return Flow::End;
        }
        Flow::More
    }

    fn finished(&self) -> bool {
        self.finished
    }
}
