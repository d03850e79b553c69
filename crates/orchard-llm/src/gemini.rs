//! Google Gemini (`models/{model}:generateContent`, `:streamGenerateContent?alt=sse`,
//! `:batchEmbedContents`).
//!
//! Turns are `contents` with roles `user` and `model`; the system prompt is
//! `systemInstruction`; images are `inline_data` parts. A stream is SSE `data:` chunks of
//! `GenerateContentResponse` with no end marker: the last chunk carries `finishReason`
//! and `usageMetadata`, and a chunk may hold several parts (thought parts are marked
//! `thought: true`). A prompt blocked by safety filters comes back as `promptFeedback`
//! without candidates. The key goes in the `x-goog-api-key` header, never in the URL,
//! so it cannot land in a proxy's or server's access log.

use async_trait::async_trait;
use base64::Engine as _;
use orchard_core::base_url::endpoint;
use orchard_core::message::{Role, Usage};
use orchard_net::{HttpClient, Url};
use serde_json::{Map, Value, json};

use crate::embed::{EmbeddingProvider, Embeddings};
use crate::openai::floats;
use crate::stream::{Ctx, Decoder, Flow, Framing, Out, events, whole, whole_call};
use crate::transport::{Auth, EMBEDDINGS, Paging, Transport};
use crate::{
    ChatEvent, ChatMessage, ChatProvider, ChatRequest, ChatStream, Part, ProviderEndpoint,
    ProviderError, ProviderErrorKind, RemoteModel,
};

pub(crate) struct GeminiChat {
    t: Transport,
}

fn parts(m: &ChatMessage) -> Vec<Value> {
    let mut out = Vec::new();
    if let Some(call) = &m.tool_result_for {
        let text = m.text_content();
        let response = serde_json::from_str::<Value>(&text)
            .ok()
            .filter(Value::is_object)
            .unwrap_or_else(|| json!({"content": text}));
        out.push(json!({"functionResponse": {"name": call.name, "response": response}}));
        return out;
    }
    for p in &m.parts {
        match p {
            Part::Text(t) if t.is_empty() => {}
            Part::Text(t) => out.push(json!({"text": t})),
            Part::Image { media_type, data } => out.push(json!({
                "inline_data": {
                    "mime_type": media_type,
                    "data": base64::engine::general_purpose::STANDARD.encode(data),
                }
            })),
        }
    }
    for call in &m.tool_calls {
        let args: Value = serde_json::from_str(&call.arguments).unwrap_or_else(|_| json!({}));
        out.push(json!({"functionCall": {"name": call.name, "args": args}}));
    }
    out
}

/// The JSON body sent for `req` (keys sorted by serde_json: deterministic).
pub(crate) fn request_body(req: &ChatRequest) -> Vec<u8> {
    let mut body = Map::new();
    let mut contents: Vec<Value> = Vec::new();
    let mut after_tool_result = false;
    for m in &req.messages {
        let role = if m.role == Role::Assistant {
            "model"
        } else {
            "user"
        };
        let is_tool_result = m.tool_result_for.is_some();
        // The results of parallel calls go back in one turn: Gemini wants as many
        // function responses there as the model's turn had function calls.
        if is_tool_result
            && after_tool_result
            && let Some(Value::Array(prev)) = contents.last_mut().and_then(|c| c.get_mut("parts"))
        {
            prev.extend(parts(m));
        } else {
            contents.push(json!({"role": role, "parts": parts(m)}));
        }
        after_tool_result = is_tool_result;
    }
    body.insert("contents".into(), Value::Array(contents));
    if let Some(system) = req.system.as_deref().filter(|s| !s.trim().is_empty()) {
        body.insert(
            "systemInstruction".into(),
            json!({"parts": [{"text": system}]}),
        );
    }
    if !req.tools.is_empty() {
        let decls: Vec<Value> = req
            .tools
            .iter()
            .map(|t| json!({"name": t.name, "description": t.description, "parameters": t.parameters}))
            .collect();
        body.insert("tools".into(), json!([{"functionDeclarations": decls}]));
    }
    let mut config = Map::new();
    if let Some(t) = req.temperature {
        config.insert("temperature".into(), json!(t));
    }
    if let Some(p) = req.top_p {
        config.insert("topP".into(), json!(p));
    }
    if let Some(m) = req.max_tokens {
        config.insert("maxOutputTokens".into(), json!(m));
    }
    if let Some(b) = req.thinking_budget {
        config.insert(
            "thinkingConfig".into(),
            json!({"thinkingBudget": b, "includeThoughts": true}),
        );
    }
    if !config.is_empty() {
        body.insert("generationConfig".into(), Value::Object(config));
    }
    serde_json::to_vec(&Value::Object(body)).unwrap_or_default()
}

fn finish_word(reason: &str) -> String {
    match reason {
        "STOP" => "stop".to_owned(),
        "MAX_TOKENS" => "length".to_owned(),
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" => {
            "safety".to_owned()
        }
        other => other.to_ascii_lowercase(),
    }
}

fn usage_of(v: &Value) -> Option<Usage> {
    let u = v.get("usageMetadata").filter(|u| u.is_object())?;
    let thoughts = u["thoughtsTokenCount"].as_u64();
    Some(Usage {
        input_tokens: u["promptTokenCount"].as_u64(),
        // Gemini counts thinking apart from the answer; Orchard's output includes both.
        output_tokens: u["candidatesTokenCount"]
            .as_u64()
            .map(|c| c + thoughts.unwrap_or(0)),
        reasoning_tokens: thoughts,
    })
}

/// A model id as the URL wants it (people often paste `models/…`).
fn model_path(model: &str) -> String {
    format!("models/{}", model.trim_start_matches("models/"))
}

impl GeminiChat {
    pub(crate) fn new(ep: ProviderEndpoint, http: HttpClient) -> Self {
        Self {
            t: Transport::new(ep, http, Auth::Header("x-goog-api-key")),
        }
    }

    fn url(&self, model: &str, method: &str) -> Url {
        endpoint(
            &self.t.ep.base_url,
            &format!("{}:{method}", model_path(model)),
        )
    }
}

#[async_trait]
impl ChatProvider for GeminiChat {
    async fn chat(&self, req: &ChatRequest) -> Result<ChatStream, ProviderError> {
        let url = if req.stream {
            let mut u = self.url(&req.model, "streamGenerateContent");
            u.query_pairs_mut().append_pair("alt", "sse");
            u
        } else {
            self.url(&req.model, "generateContent")
        };
        let resp = self
            .t
            .generate(url, req, "text/event-stream", request_body(req))
            .await?;
        let ctx = self.t.ctx(&req.model);
        if !req.stream {
            let body = self.t.body(resp, Some(&req.model)).await?;
            return Ok(whole(GeminiDecoder::default(), &ctx, &body));
        }
        Ok(events(resp, Framing::Sse, GeminiDecoder::default(), ctx))
    }

    async fn models(&self) -> Result<Vec<RemoteModel>, ProviderError> {
        let paging = Paging {
            size: "pageSize",
            cursor: "pageToken",
            next: |v| {
                v.get("nextPageToken")
                    .and_then(Value::as_str)
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned)
            },
        };
        let url = endpoint(&self.t.ep.base_url, "models");
        self.t
            .model_list(url, "models", Some(paging), |m| {
                Some(RemoteModel {
                    id: m
                        .get("name")?
                        .as_str()?
                        .trim_start_matches("models/")
                        .to_owned(),
                    owned_by: Some("google".to_owned()),
                })
            })
            .await
    }
}

#[async_trait]
impl EmbeddingProvider for GeminiChat {
    fn name(&self) -> &str {
        &self.t.ep.name
    }

    fn max_batch(&self) -> usize {
        // batchEmbedContents accepts at most 100 requests.
        100
    }

    async fn embed_batch(
        &self,
        model: &str,
        inputs: &[String],
    ) -> Result<Embeddings, ProviderError> {
        let requests: Vec<Value> = inputs
            .iter()
            .map(|text| json!({"model": model_path(model), "content": {"parts": [{"text": text}]}}))
            .collect();
        let url = self.url(model, "batchEmbedContents");
        let v = self
            .t
            .embed(url, model, &json!({"requests": requests}))
            .await?;
        let vectors = self
            .t
            .array(&v, "embeddings", Some(model), EMBEDDINGS)?
            .iter()
            .map(|e| floats(e.get("values")))
            .collect();
        Ok(Embeddings {
            vectors,
            input_tokens: None,
        })
    }
}

/// `GenerateContentResponse` chunks.
#[derive(Default)]
pub(crate) struct GeminiDecoder {
    tools: usize,
    finished: bool,
}

impl GeminiDecoder {
    fn chunk(&mut self, ctx: &Ctx, v: &Value, out: &mut Out) {
        if let Some(err) = v.get("error") {
            out.push(Err(crate::openai::in_stream_error(ctx, err)));
            return;
        }
        let candidate = v.get("candidates").and_then(|c| c.get(0));
        if candidate.is_none()
            && let Some(reason) = v
                .pointer("/promptFeedback/blockReason")
                .and_then(Value::as_str)
        {
            out.push(Err(ProviderError {
                model: Some(ctx.model.clone()),
                code: Some(reason.to_owned()),
                message: Some(format!("block reason {reason}")),
                ..ProviderError::new(ProviderErrorKind::Blocked, &ctx.provider)
            }));
            return;
        }
        if let Some(c) = candidate {
            for part in c
                .pointer("/content/parts")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(call) = part.get("functionCall") {
                    let index = self.tools;
                    self.tools += 1;
                    whole_call(
                        |e| out.push(Ok(e)),
                        index,
                        call["id"].as_str(),
                        call["name"].as_str().unwrap_or_default(),
                        call.get("args"),
                    );
                } else if let Some(text) = part
                    .get("text")
                    .and_then(Value::as_str)
                    .filter(|t| !t.is_empty())
                {
                    let thought = part
                        .get("thought")
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                    out.push(Ok(if thought {
                        ChatEvent::ThinkingDelta(text.to_owned())
                    } else {
                        ChatEvent::TextDelta(text.to_owned())
                    }));
                }
            }
        }
        if let Some(u) =
            usage_of(v).filter(|_| candidate.and_then(|c| c.get("finishReason")).is_some())
        {
            out.push(Ok(ChatEvent::Usage(u)));
        }
        if let Some(reason) = candidate
            .and_then(|c| c.get("finishReason"))
            .and_then(Value::as_str)
        {
            self.finished = true;
            // Gemini says STOP even when it called a function.
            let word = if self.tools > 0 && reason == "STOP" {
                "tool_calls".to_owned()
            } else {
                finish_word(reason)
            };
            out.push(Ok(ChatEvent::Finish(word)));
        }
    }
}

impl Decoder for GeminiDecoder {
    fn frame(&mut self, ctx: &Ctx, _event: Option<&str>, data: &str, out: &mut Out) -> Flow {
        if data.is_empty() {
            return Flow::More;
        }
        if let Some(v) = ctx.json(data, out) {
            self.chunk(ctx, &v, out);
        }
        Flow::More
    }

    fn finished(&self) -> bool {
        self.finished
    }
}
