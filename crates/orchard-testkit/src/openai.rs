//! OpenAI: Chat Completions, Responses, embeddings and models; and Azure
//! OpenAI, which speaks the Chat Completions and embeddings formats on its
//! own paths, with its own key header and errors.

use serde_json::Value;

use crate::embed::{base64_f32, batch_dims, fake_embedding, tokens};
use crate::errors::{self, ErrCtx};
use crate::http;
use crate::json::{J, obj};
use crate::proto::{self, Protocol, query_param};
use crate::provider::{
    Conn, Next, RecordedRequest, Shared, content_text, deny, embedding_inputs, json_object,
    last_message_text, next_answer,
};
use crate::reply::ErrorReply;
use crate::stream::{Ev, Finish, Framing, Keepalive, Plan, StreamOut, json_reply, write_stream};
use crate::wire::{self, Completion, Delta, FunctionDelta, ToolCall, ToolCallDelta, Usage};

/// OpenAI's answer to a body that is not a JSON object.
const BAD_JSON: &str = "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Chat,
    Embeddings,
    Responses,
    Models,
}

/// `/v1/...` requests that are not Anthropic's or Gemini's.
pub(crate) async fn route(conn: &mut Conn, shared: &Shared, req: &RecordedRequest) -> Next {
    let path = req.path.as_str();
    let ctx = conn.ctx(Protocol::OpenAi);
    let endpoint = match path {
        "/v1/chat/completions" => Endpoint::Chat,
        "/v1/embeddings" => Endpoint::Embeddings,
        "/v1/responses" => Endpoint::Responses,
        "/v1/models" => Endpoint::Models,
        _ if path.starts_with("/v1/models/") => Endpoint::Models,
        _ => {
            let r = errors::unknown_path(&ctx, &req.method, path);
            return conn.respond_rendered(ctx.proto, &r).await;
        }
    };
    let wanted = if endpoint == Endpoint::Models {
        "GET"
    } else {
        "POST"
    };
    if req.method != wanted {
        let msg = format!("Invalid method for URL ({} {})", req.method, path);
        let r = errors::openai(&ctx, 405, &msg, "invalid_request_error");
        return conn.respond_rendered(ctx.proto, &r).await;
    }
    if let Some(next) = deny(conn, shared, &ctx, req).await {
        return next;
    }
    match endpoint {
        Endpoint::Chat => chat(conn, shared, req, ctx, None).await,
        Endpoint::Embeddings => embeddings(conn, shared, req, ctx, None).await,
        Endpoint::Responses => responses(conn, shared, req, ctx).await,
        Endpoint::Models => models(conn, shared, ctx, path.strip_prefix("/v1/models/")).await,
    }
}

async fn models(conn: &mut Conn, shared: &Shared, ctx: ErrCtx, id: Option<&str>) -> Next {
    let models = shared.models();
    match id {
        None => {
            conn.respond_json(ctx.proto, &wire::model_list(&models))
                .await
        }
        Some(id) if models.iter().any(|m| m == id) => {
            conn.respond_json(ctx.proto, &wire::model(id)).await
        }
        Some(id) => {
            conn.respond_error(&ctx, &ErrorReply::model_not_found(id))
                .await
        }
    }
}

/// The Azure OpenAI paths: `/openai/deployments/{d}/chat/completions` and
/// `/openai/deployments/{d}/embeddings` (which need `?api-version=`), and
/// the v1 API `/openai/v1/chat/completions`, `/openai/v1/embeddings`,
/// `/openai/v1/models`.
pub(crate) async fn azure_route(conn: &mut Conn, shared: &Shared, req: &RecordedRequest) -> Next {
    let path = req.path.as_str();
    let mut ctx = conn.ctx(Protocol::Azure);
    let api_version = query_param(req.query.as_deref(), "api-version").filter(|v| !v.is_empty());
    let (endpoint, deployment) = if let Some(rest) = path.strip_prefix("/openai/deployments/") {
        match rest.split_once('/') {
            Some((d, "chat/completions")) if !d.is_empty() => (Some(Endpoint::Chat), Some(d)),
            Some((d, "embeddings")) if !d.is_empty() => (Some(Endpoint::Embeddings), Some(d)),
            _ => (None, None),
        }
    } else {
        let e = match path {
            "/openai/v1/chat/completions" => Some(Endpoint::Chat),
            "/openai/v1/embeddings" => Some(Endpoint::Embeddings),
            "/openai/v1/models" => Some(Endpoint::Models),
            _ => None,
        };
        (e, None)
    };
    let wanted = if endpoint == Some(Endpoint::Models) {
        "GET"
    } else {
        "POST"
    };
    // Azure answers a deployments path without `api-version` like an
    // unknown path: 404 "Resource not found".
    let Some(endpoint) = endpoint
        .filter(|_| req.method == wanted)
        .filter(|_| deployment.is_none() || api_version.is_some())
    else {
        let r = errors::unknown_path(&ctx, &req.method, path);
        return conn.respond_rendered(ctx.proto, &r).await;
    };
    ctx.api_version = api_version.unwrap_or_else(|| "v1".to_owned());
    if let Some(next) = deny(conn, shared, &ctx, req).await {
        return next;
    }
    match endpoint {
        Endpoint::Chat => chat(conn, shared, req, ctx, deployment).await,
        Endpoint::Embeddings => embeddings(conn, shared, req, ctx, deployment).await,
        _ => {
            let models = shared.models();
            conn.respond_json(ctx.proto, &wire::model_list(&models))
                .await
        }
    }
}

/// A `chatcmpl-` id of 29 base62-ish characters, unique per server.
fn completion_id(n: u64) -> String {
    proto::id("chatcmpl-", n, 29)
}

/// Chat Completions' word for a finish reason.
fn chat_finish(finish: &Finish) -> String {
    match finish {
        Finish::Stop => "stop".to_owned(),
        Finish::Length => "length".to_owned(),
        Finish::ToolCalls => "tool_calls".to_owned(),
        Finish::Safety => "content_filter".to_owned(),
        Finish::Other(s) => s.clone(),
    }
}

fn model_of(body: &Value) -> String {
    body.get("model")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn wants_stream(body: &Value) -> bool {
    body.get("stream").and_then(Value::as_bool).unwrap_or(false)
}

/// Chat Completions for OpenAI, and for Azure (`deployment` set on the
/// deployments paths).
async fn chat(
    conn: &mut Conn,
    shared: &Shared,
    req: &RecordedRequest,
    mut ctx: ErrCtx,
    deployment: Option<&str>,
) -> Next {
    let Some(body) = json_object(req) else {
        let r = errors::openai(&ctx, 400, BAD_JSON, "invalid_request_error");
        return conn.respond_rendered(ctx.proto, &r).await;
    };
    let model = deployment.map_or_else(|| model_of(&body), str::to_owned);
    ctx.model.clone_from(&model);
    let stream = wants_stream(&body);
    let include_usage = stream
        && body
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            .unwrap_or(false);
    let missing = errors::openai(
        &ctx,
        400,
        "you must provide a model parameter",
        "invalid_request_error",
    );
    let answer = match next_answer(conn, shared, &ctx, &model, Some(missing), || {
        last_message_text(&body)
    })
    .await
    {
        Ok(a) => a,
        Err(next) => return next,
    };
    let plan = Plan::new(&answer, &req.body);
    let usage = Usage::new((plan.prompt_tokens, plan.completion_tokens));
    let id = completion_id(shared.next_id());
    let completion = Completion {
        id: &id,
        created: http::unix_now(),
        model: &model,
        include_usage,
    };
    let call_ids: Vec<String> = plan
        .tools
        .iter()
        .map(|_| proto::id("call_", shared.next_id(), 24))
        .collect();
    let azure = ctx.proto == Protocol::Azure;
    if stream {
        let events = chat_events(&plan, &completion, usage, &call_ids, azure);
        let out = StreamOut::new(
            ctx.proto,
            Framing::Sse,
            Keepalive::Comment,
            events,
            &answer.shape.end,
            |_, message| Ev::open(None, wire::error_body(message, "server_error", None, None)),
        );
        write_stream(conn, shared, &answer.shape, out).await
    } else {
        let content = plan.content_text();
        let reasoning = plan.reasoning_text();
        let tool_calls: Vec<ToolCall<'_>> = plan
            .tools
            .iter()
            .zip(&call_ids)
            .map(|(t, id)| ToolCall {
                id,
                kind: "function",
                function: wire::Function {
                    name: &t.name,
                    arguments: &t.arguments,
                },
            })
            .collect();
        let has_tools = !tool_calls.is_empty();
        let mut json = completion.completion_json(
            (!(content.is_empty() && has_tools)).then_some(content.as_str()),
            (!reasoning.is_empty()).then_some(reasoning.as_str()),
            has_tools.then_some(tool_calls),
            &chat_finish(&plan.finish),
            usage,
        );
        if azure {
            json = with_prompt_filter_results(&json);
        }
        json_reply(conn, shared, ctx.proto, &answer.shape, &json).await
    }
}

/// Azure's content-filter verdicts, all clear.
fn filter_results() -> J {
    let clear = || obj! { "filtered": false, "severity": "safe" };
    obj! { "hate": clear(), "self_harm": clear(), "sexual": clear(), "violence": clear() }
}

fn prompt_filter_results() -> J {
    J::Arr(vec![
        obj! { "prompt_index": 0u32, "content_filter_results": filter_results() },
    ])
}

/// An Azure completion: the OpenAI one plus `prompt_filter_results`.
fn with_prompt_filter_results(json: &str) -> String {
    let Ok(Value::Object(mut map)) = serde_json::from_str::<Value>(json) else {
        return json.to_owned();
    };
    if let Ok(pfr) = serde_json::from_str(&prompt_filter_results().render()) {
        map.insert("prompt_filter_results".to_owned(), pfr);
    }
    Value::Object(map).to_string()
}

fn chat_events(
    plan: &Plan<'_>,
    c: &Completion<'_>,
    usage: Usage,
    call_ids: &[String],
    azure: bool,
) -> Vec<Ev> {
    let mut events = Vec::new();
    if azure {
        // Azure opens with the prompt's filter results and no choices.
        events.push(Ev::open(
            None,
            obj! {
                "choices": J::Arr(Vec::new()),
                "created": 0u32,
                "id": "",
                "model": "",
                "object": "",
                "prompt_filter_results": prompt_filter_results(),
            }
            .render(),
        ));
    }
    let role = Delta {
        role: Some("assistant"),
        content: Some(Some("")),
        ..Delta::default()
    };
    events.push(Ev::open(None, c.delta_chunk(role, None)));
    for r in &plan.reasoning {
        let delta = Delta {
            content: Some(None),
            reasoning_content: Some(r),
            ..Delta::default()
        };
        events.push(Ev::piece(None, c.delta_chunk(delta, None), 1));
    }
    for t in &plan.content {
        let delta = Delta {
            content: Some(Some(t)),
            ..Delta::default()
        };
        events.push(Ev::piece(None, c.delta_chunk(delta, None), 1));
    }
    for (index, (tool, call_id)) in plan.tools.iter().zip(call_ids).enumerate() {
        let head = Delta {
            tool_calls: Some(vec![ToolCallDelta {
                index,
                id: Some(call_id),
                kind: Some("function"),
                function: FunctionDelta {
                    name: Some(&tool.name),
                    arguments: "",
                },
            }]),
            ..Delta::default()
        };
        let head_weight = usize::from(tool.fragments.is_empty());
        events.push(Ev::piece(None, c.delta_chunk(head, None), head_weight));
        let last = tool.fragments.len().saturating_sub(1);
        for (j, fragment) in tool.fragments.iter().enumerate() {
            let delta = Delta {
                tool_calls: Some(vec![ToolCallDelta {
                    index,
                    id: None,
                    kind: None,
                    function: FunctionDelta {
                        name: None,
                        arguments: fragment,
                    },
                }]),
                ..Delta::default()
            };
            events.push(Ev::piece(
                None,
                c.delta_chunk(delta, None),
                usize::from(j == last),
            ));
        }
    }
    let finish = chat_finish(&plan.finish);
    events.push(Ev::closing(
        None,
        c.delta_chunk(Delta::default(), Some(&finish)),
    ));
    if c.include_usage {
        events.push(Ev::closing(None, c.usage_chunk(usage)));
    }
    events.push(Ev::terminal(None, "[DONE]".to_owned()));
    events
}

/// `POST /v1/embeddings` (and Azure's embeddings paths).
async fn embeddings(
    conn: &mut Conn,
    shared: &Shared,
    req: &RecordedRequest,
    mut ctx: ErrCtx,
    deployment: Option<&str>,
) -> Next {
    let Some(body) = json_object(req) else {
        let r = errors::openai(&ctx, 400, BAD_JSON, "invalid_request_error");
        return conn.respond_rendered(ctx.proto, &r).await;
    };
    let model = deployment.map_or_else(|| model_of(&body), str::to_owned);
    ctx.model.clone_from(&model);
    // Held until `release()`, or until the client goes away.
    if shared.embedding_hangs() && !conn.hang(shared).await {
        return Next::Close;
    }
    if let Some(e) = shared.pop_error() {
        return conn.respond_error(&ctx, &e).await;
    }
    let Some(inputs) = embedding_inputs(body.get("input")) else {
        let r = errors::openai(
            &ctx,
            400,
            "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.",
            "invalid_request_error",
        );
        return conn.respond_rendered(ctx.proto, &r).await;
    };
    if model.is_empty() {
        let r = errors::openai(
            &ctx,
            400,
            "you must provide a model parameter",
            "invalid_request_error",
        );
        return conn.respond_rendered(ctx.proto, &r).await;
    }
    let dims = match batch_dims(shared, &ctx, inputs.len(), body.get("dimensions")) {
        Ok(d) => d,
        Err(r) => return conn.respond_rendered(ctx.proto, &r).await,
    };
    let base64 = body.get("encoding_format").and_then(Value::as_str) == Some("base64");
    let data: Vec<J> = inputs
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let values = fake_embedding(text, dims);
            let embedding = if base64 {
                J::from(base64_f32(&values))
            } else {
                J::Arr(values.into_iter().map(J::F32).collect())
            };
            obj! { "object": "embedding", "index": i, "embedding": embedding }
        })
        .collect();
    let prompt: u32 = inputs.iter().map(|t| tokens(t)).sum();
    let out = obj! {
        "object": "list",
        "data": data,
        "model": model,
        "usage": obj! { "prompt_tokens": prompt, "total_tokens": prompt },
    };
    conn.respond_json(ctx.proto, &out.render()).await
}

/// Text of the last input of a Responses request.
fn responses_input_text(body: &Value) -> String {
    match body.get("input") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items.last().map_or_else(String::new, |item| match item {
            Value::String(s) => s.clone(),
            other => content_text(other.get("content")),
        }),
        _ => String::new(),
    }
}

fn hex_id(prefix: &str, n: u64) -> String {
    format!(
        "{prefix}{}",
        proto::random_chars(n, 48, b"0123456789abcdef")
    )
}

/// What the Responses objects of one answer share.
struct Resp<'a> {
    id: String,
    created: u64,
    model: &'a str,
    body: &'a Value,
}

impl Resp<'_> {
    fn object(&self, status: &str, incomplete: Option<&str>, output: Vec<J>, usage: J) -> J {
        let echo = |key: &str| {
            self.body
                .get(key)
                .filter(|v| !v.is_null())
                .map_or(J::Null, |v| J::Raw(v.to_string()))
        };
        let reasoning = |key: &str| {
            self.body
                .pointer(&format!("/reasoning/{key}"))
                .filter(|v| !v.is_null())
                .map_or(J::Null, |v| J::Raw(v.to_string()))
        };
        obj! {
            "id": self.id.as_str(),
            "object": "response",
            "created_at": self.created,
            "status": status,
            "error": J::Null,
            "incomplete_details": incomplete.map(|r| obj! { "reason": r }),
            "instructions": echo("instructions"),
            "max_output_tokens": echo("max_output_tokens"),
            "model": self.model,
            "output": output,
            "parallel_tool_calls": true,
            "previous_response_id": echo("previous_response_id"),
            "reasoning": obj! { "effort": reasoning("effort"), "summary": reasoning("summary") },
            "store": true,
            "temperature": 1.0,
            "text": obj! { "format": obj! { "type": "text" } },
            "tool_choice": "auto",
            "tools": J::Arr(Vec::new()),
            "top_p": 1.0,
            "truncation": "disabled",
            "usage": usage,
            "user": J::Null,
            "metadata": J::Obj(Vec::new()),
        }
    }
}

fn output_text(text: &str) -> J {
    obj! {
        "type": "output_text",
        "annotations": J::Arr(Vec::new()),
        "logprobs": J::Arr(Vec::new()),
        "text": text,
    }
}

fn reasoning_item(id: &str, summary: Vec<J>) -> J {
    obj! { "id": id, "type": "reasoning", "summary": summary }
}

fn message_item(id: &str, status: &str, content: Vec<J>) -> J {
    obj! { "id": id, "type": "message", "status": status, "content": content, "role": "assistant" }
}

fn function_item(id: &str, status: &str, arguments: &str, call_id: &str, name: &str) -> J {
    obj! {
        "id": id,
        "type": "function_call",
        "status": status,
        "arguments": arguments,
        "call_id": call_id,
        "name": name,
    }
}

/// Builds Responses events, numbering them.
struct Seq {
    events: Vec<Ev>,
}

#[derive(Clone, Copy)]
enum Role {
    Open,
    Piece(usize),
    Terminal,
}

impl Seq {
    fn push(&mut self, name: &'static str, fields: Vec<(&'static str, J)>, role: Role) {
        let mut all = vec![("type", J::from(name))];
        all.extend(fields);
        all.push(("sequence_number", J::from(self.events.len())));
        let data = J::Obj(all).render();
        self.events.push(match role {
            Role::Open => Ev::open(Some(name), data),
            Role::Piece(w) => Ev::piece(Some(name), data, w),
            Role::Terminal => Ev::terminal(Some(name), data),
        });
    }
}

/// `POST /v1/responses`.
async fn responses(
    conn: &mut Conn,
    shared: &Shared,
    req: &RecordedRequest,
    mut ctx: ErrCtx,
) -> Next {
    let Some(body) = json_object(req) else {
        let r = errors::openai(&ctx, 400, BAD_JSON, "invalid_request_error");
        return conn.respond_rendered(ctx.proto, &r).await;
    };
    let model = model_of(&body);
    ctx.model.clone_from(&model);
    let missing = errors::openai(
        &ctx,
        400,
        "Missing required parameter: 'model'.",
        "invalid_request_error",
    );
    let answer = match next_answer(conn, shared, &ctx, &model, Some(missing), || {
        responses_input_text(&body)
    })
    .await
    {
        Ok(a) => a,
        Err(next) => return next,
    };
    let plan = Plan::new(&answer, &req.body);
    let resp = Resp {
        id: hex_id("resp_", shared.next_id()),
        created: http::unix_now(),
        model: &model,
        body: &body,
    };
    let (status, incomplete, final_event) = match plan.finish {
        Finish::Length => (
            "incomplete",
            Some("max_output_tokens"),
            "response.incomplete",
        ),
        Finish::Safety => ("incomplete", Some("content_filter"), "response.incomplete"),
        _ => ("completed", None, "response.completed"),
    };
    let usage = obj! {
        "input_tokens": plan.prompt_tokens,
        "input_tokens_details": obj! { "cached_tokens": 0u32 },
        "output_tokens": plan.completion_tokens,
        "output_tokens_details": obj! { "reasoning_tokens": plan.reasoning_tokens },
        "total_tokens": plan.prompt_tokens.saturating_add(plan.completion_tokens),
    };

    // Output items: reasoning, message, function calls.
    let reasoning = plan.reasoning_text();
    let content = plan.content_text();
    let rs_id = (!plan.reasoning.is_empty()).then(|| hex_id("rs_", shared.next_id()));
    let msg_id = (!plan.content.is_empty() || plan.tools.is_empty())
        .then(|| hex_id("msg_", shared.next_id()));
    let calls: Vec<(String, String)> = plan
        .tools
        .iter()
        .map(|_| {
            (
                hex_id("fc_", shared.next_id()),
                proto::id("call_", shared.next_id(), 24),
            )
        })
        .collect();
    let mut output = Vec::new();
    if let Some(id) = &rs_id {
        output.push(reasoning_item(
            id,
            vec![obj! { "type": "summary_text", "text": reasoning.as_str() }],
        ));
    }
    if let Some(id) = &msg_id {
        output.push(message_item(id, "completed", vec![output_text(&content)]));
    }
    for (tool, (fc, call)) in plan.tools.iter().zip(&calls) {
        output.push(function_item(
            fc,
            "completed",
            &tool.arguments,
            call,
            &tool.name,
        ));
    }

    if !body.get("stream").and_then(Value::as_bool).unwrap_or(false) {
        let json = resp.object(status, incomplete, output, usage).render();
        return json_reply(conn, shared, ctx.proto, &answer.shape, &json).await;
    }

    let mut seq = Seq { events: Vec::new() };
    let pending = || resp.object("in_progress", None, Vec::new(), J::Null);
    seq.push(
        "response.created",
        vec![("response", pending())],
        Role::Open,
    );
    seq.push(
        "response.in_progress",
        vec![("response", pending())],
        Role::Open,
    );
    let mut index = 0usize;
    if let Some(id) = &rs_id {
        let item_id = || ("item_id", J::from(id.as_str()));
        let at = |i: usize| ("output_index", J::from(i));
        let summary_index = || ("summary_index", J::from(0u32));
        let part = |text: &str| ("part", obj! { "type": "summary_text", "text": text });
        seq.push(
            "response.output_item.added",
            vec![at(index), ("item", reasoning_item(id, Vec::new()))],
            Role::Open,
        );
        seq.push(
            "response.reasoning_summary_part.added",
            vec![item_id(), at(index), summary_index(), part("")],
            Role::Open,
        );
        for r in &plan.reasoning {
            seq.push(
                "response.reasoning_summary_text.delta",
                vec![
                    item_id(),
                    at(index),
                    summary_index(),
                    ("delta", J::from(*r)),
                ],
                Role::Piece(1),
            );
        }
        seq.push(
            "response.reasoning_summary_text.done",
            vec![
                item_id(),
                at(index),
                summary_index(),
                ("text", J::from(reasoning.as_str())),
            ],
            Role::Open,
        );
        seq.push(
            "response.reasoning_summary_part.done",
            vec![item_id(), at(index), summary_index(), part(&reasoning)],
            Role::Open,
        );
        seq.push(
            "response.output_item.done",
            vec![at(index), ("item", output[index].clone())],
            Role::Open,
        );
        index += 1;
    }
    if let Some(id) = &msg_id {
        let item_id = || ("item_id", J::from(id.as_str()));
        let at = |i: usize| ("output_index", J::from(i));
        let content_index = || ("content_index", J::from(0u32));
        let logprobs = || ("logprobs", J::Arr(Vec::new()));
        seq.push(
            "response.output_item.added",
            vec![
                at(index),
                ("item", message_item(id, "in_progress", Vec::new())),
            ],
            Role::Open,
        );
        seq.push(
            "response.content_part.added",
            vec![
                item_id(),
                at(index),
                content_index(),
                ("part", output_text("")),
            ],
            Role::Open,
        );
        for t in &plan.content {
            seq.push(
                "response.output_text.delta",
                vec![
                    item_id(),
                    at(index),
                    content_index(),
                    ("delta", J::from(*t)),
                    logprobs(),
                ],
                Role::Piece(1),
            );
        }
        seq.push(
            "response.output_text.done",
            vec![
                item_id(),
                at(index),
                content_index(),
                ("text", J::from(content.as_str())),
                logprobs(),
            ],
            Role::Open,
        );
        seq.push(
            "response.content_part.done",
            vec![
                item_id(),
                at(index),
                content_index(),
                ("part", output_text(&content)),
            ],
            Role::Open,
        );
        seq.push(
            "response.output_item.done",
            vec![at(index), ("item", output[index].clone())],
            Role::Open,
        );
        index += 1;
    }
    for (tool, (fc, call)) in plan.tools.iter().zip(&calls) {
        let item_id = || ("item_id", J::from(fc.as_str()));
        let at = |i: usize| ("output_index", J::from(i));
        seq.push(
            "response.output_item.added",
            vec![
                at(index),
                (
                    "item",
                    function_item(fc, "in_progress", "", call, &tool.name),
                ),
            ],
            Role::Open,
        );
        let last = tool.fragments.len().saturating_sub(1);
        for (j, fragment) in tool.fragments.iter().enumerate() {
            seq.push(
                "response.function_call_arguments.delta",
                vec![item_id(), at(index), ("delta", J::from(fragment))],
                Role::Piece(usize::from(j == last)),
            );
        }
        seq.push(
            "response.function_call_arguments.done",
            vec![
                item_id(),
                at(index),
                ("arguments", J::from(&tool.arguments)),
            ],
            Role::Piece(usize::from(tool.fragments.is_empty())),
        );
        seq.push(
            "response.output_item.done",
            vec![at(index), ("item", output[index].clone())],
            Role::Open,
        );
        index += 1;
    }
    seq.push(
        final_event,
        vec![("response", resp.object(status, incomplete, output, usage))],
        Role::Terminal,
    );
    let out = StreamOut::new(
        ctx.proto,
        Framing::Sse,
        Keepalive::Comment,
        seq.events,
        &answer.shape.end,
        |at, message| {
            let data = obj! {
                "type": "error",
                "code": "server_error",
                "message": message,
                "param": J::Null,
                "sequence_number": at,
            };
            Ev::open(Some("error"), data.render())
        },
    );
    write_stream(conn, shared, &answer.shape, out).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completion_ids_look_like_openai() {
        let id = completion_id(1);
        assert!(id.starts_with("chatcmpl-"));
        assert_eq!(id.len(), "chatcmpl-".len() + 29);
        assert_ne!(id, completion_id(2));
    }

    #[test]
    fn responses_input_forms() {
        let s = serde_json::json!({"input": "hi"});
        assert_eq!(responses_input_text(&s), "hi");
        let items = serde_json::json!({"input": [
            {"role": "user", "content": "a"},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "b c"}]}
        ]});
        assert_eq!(responses_input_text(&items), "b c");
    }
}
