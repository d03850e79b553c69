//! Ollama's native API: `POST /api/chat` (NDJSON stream by default),
//! `POST /api/embed`, `GET /api/tags`, `GET /api/version`, `GET /`.

use serde_json::Value;

use crate::embed::{batch_dims, fake_embedding, tokens};
use crate::errors::{self, ErrCtx, Rendered};
use crate::http;
use crate::json::{J, obj};
use crate::proto::Protocol;
use crate::provider::{
    Conn, Next, RecordedRequest, Shared, deny, embedding_inputs, json_object, last_message_text,
    next_answer,
};
use crate::stream::{Ev, Finish, Framing, Keepalive, Plan, StreamOut, json_reply, write_stream};

/// Version `GET /api/version` reports.
const VERSION: &str = "0.12.6";

fn text(status: u16, body: &str) -> Rendered {
    Rendered {
        status,
        content_type: "text/plain; charset=utf-8".to_owned(),
        headers: Vec::new(),
        body: body.to_owned(),
    }
}

pub(crate) async fn route(conn: &mut Conn, shared: &Shared, req: &RecordedRequest) -> Next {
    let ctx = conn.ctx(Protocol::Ollama);
    let path = req.path.as_str();
    let known = ["/", "/api/chat", "/api/embed", "/api/tags", "/api/version"];
    if !known.contains(&path) {
        let r = errors::unknown_path(&ctx, &req.method, path);
        return conn.respond_rendered(ctx.proto, &r).await;
    }
    let wanted = if path == "/api/chat" || path == "/api/embed" {
        "POST"
    } else {
        "GET"
    };
    if req.method != wanted && !(wanted == "GET" && req.method == "HEAD") {
        return conn
            .respond_rendered(ctx.proto, &text(405, "405 method not allowed"))
            .await;
    }
    if path == "/" {
        return conn
            .respond_rendered(ctx.proto, &text(200, "Ollama is running"))
            .await;
    }
    if let Some(next) = deny(conn, shared, &ctx, req).await {
        return next;
    }
    match path {
        "/api/chat" => chat(conn, shared, req, ctx).await,
        "/api/embed" => embed(conn, shared, req, ctx).await,
        "/api/version" => {
            conn.respond_json(ctx.proto, &obj! { "version": VERSION }.render())
                .await
        }
        _ => tags(conn, shared).await,
    }
}

/// A stable fake sha256-looking digest of `name`.
fn digest(name: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (0..4)
        .map(|i| format!("{:016x}", h.rotate_left(i * 16) ^ (u64::from(i) << 60)))
        .collect()
}

async fn tags(conn: &mut Conn, shared: &Shared) -> Next {
    let models: Vec<J> = shared
        .models()
        .iter()
        .map(|m| {
            // Listed as given (real Ollama shows `name:latest` for an
            // untagged pull: set that name to get it).
            let name = m.as_str();
            obj! {
                "name": name,
                "model": name,
                "modified_at": "2025-01-01T00:00:00Z",
                "size": 4_661_224_676u64,
                "digest": digest(name),
                "details": obj! {
                    "parent_model": "",
                    "format": "gguf",
                    "family": "llama",
                    "families": vec![J::from("llama")],
                    "parameter_size": "8.0B",
                    "quantization_level": "Q4_K_M",
                },
            }
        })
        .collect();
    conn.respond_json(Protocol::Ollama, &obj! { "models": models }.render())
        .await
}

fn now() -> String {
    let (secs, nanos) = http::now_with_nanos();
    http::rfc3339(secs, nanos)
}

fn done_reason(finish: &Finish) -> String {
    match finish {
        Finish::Length => "length".to_owned(),
        Finish::Other(s) => s.clone(),
        Finish::Stop | Finish::ToolCalls | Finish::Safety => "stop".to_owned(),
    }
}

fn message(content: &str, thinking: Option<&str>, tool_calls: Option<Vec<J>>) -> J {
    let mut fields = vec![
        ("role", J::from("assistant")),
        ("content", J::from(content)),
    ];
    if let Some(t) = thinking {
        fields.push(("thinking", J::from(t)));
    }
    if let Some(calls) = tool_calls {
        fields.push(("tool_calls", J::Arr(calls)));
    }
    J::Obj(fields)
}

fn tool_call(name: &str, arguments: &J) -> J {
    obj! { "function": obj! { "name": name, "arguments": arguments.clone() } }
}

/// A streamed line before the end.
fn line(model: &str, message: J) -> String {
    obj! { "model": model, "created_at": now(), "message": message, "done": false }.render()
}

/// The final object: `done_reason`, `done: true` and the metrics.
fn finished(model: &str, message: J, plan: &Plan<'_>) -> String {
    let prompt = u64::from(plan.prompt_tokens);
    let eval = u64::from(plan.completion_tokens);
    let load = 1_000_000u64;
    let prompt_duration = prompt * 1_000_000;
    let eval_duration = eval * 20_000_000;
    obj! {
        "model": model,
        "created_at": now(),
        "message": message,
        "done_reason": done_reason(&plan.finish),
        "done": true,
        "total_duration": load + prompt_duration + eval_duration + 1_000_000,
        "load_duration": load,
        "prompt_eval_count": plan.prompt_tokens,
        "prompt_eval_duration": prompt_duration,
        "eval_count": plan.completion_tokens,
        "eval_duration": eval_duration,
    }
    .render()
}

async fn chat(conn: &mut Conn, shared: &Shared, req: &RecordedRequest, mut ctx: ErrCtx) -> Next {
    let Some(body) = json_object(req) else {
        let r = errors::bad_request(
            &ctx,
            "invalid character in request body: expected a JSON object",
        );
        return conn.respond_rendered(ctx.proto, &r).await;
    };
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    ctx.model.clone_from(&model);
    let missing = errors::bad_request(&ctx, "model is required");
    let answer = match next_answer(conn, shared, &ctx, &model, Some(missing), || {
        last_message_text(&body)
    })
    .await
    {
        Ok(a) => a,
        Err(next) => return next,
    };
    let plan = Plan::new(&answer, &req.body);
    let calls: Vec<J> = plan
        .tools
        .iter()
        .map(|t| tool_call(&t.name, &t.object))
        .collect();
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(true);
    if !stream {
        let reasoning = plan.reasoning_text();
        let msg = message(
            &plan.content_text(),
            (!reasoning.is_empty()).then_some(reasoning.as_str()),
            (!calls.is_empty()).then_some(calls),
        );
        let json = finished(&model, msg, &plan);
        return json_reply(conn, shared, ctx.proto, &answer.shape, &json).await;
    }
    let mut events = Vec::new();
    for r in &plan.reasoning {
        events.push(Ev::piece(None, line(&model, message("", Some(r), None)), 1));
    }
    for t in &plan.content {
        events.push(Ev::piece(None, line(&model, message(t, None, None)), 1));
    }
    for call in calls {
        events.push(Ev::piece(
            None,
            line(&model, message("", None, Some(vec![call]))),
            1,
        ));
    }
    events.push(Ev::terminal(
        None,
        finished(&model, message("", None, None), &plan),
    ));
    let out = StreamOut::new(
        ctx.proto,
        Framing::Ndjson,
        Keepalive::Nothing,
        events,
        &answer.shape.end,
        |_, message| Ev::open(None, errors::ollama_stream_error(message)),
    );
    write_stream(conn, shared, &answer.shape, out).await
}

async fn embed(conn: &mut Conn, shared: &Shared, req: &RecordedRequest, mut ctx: ErrCtx) -> Next {
    let Some(body) = json_object(req) else {
        let r = errors::bad_request(
            &ctx,
            "invalid character in request body: expected a JSON object",
        );
        return conn.respond_rendered(ctx.proto, &r).await;
    };
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    ctx.model.clone_from(&model);
    if let Some(e) = shared.pop_error() {
        return conn.respond_error(&ctx, &e).await;
    }
    if model.is_empty() {
        let r = errors::bad_request(&ctx, "model is required");
        return conn.respond_rendered(ctx.proto, &r).await;
    }
    let Some(inputs) = embedding_inputs(body.get("input")) else {
        let r = errors::bad_request(&ctx, "invalid input type");
        return conn.respond_rendered(ctx.proto, &r).await;
    };
    let dims = match batch_dims(shared, &ctx, inputs.len(), body.get("dimensions")) {
        Ok(d) => d,
        Err(r) => return conn.respond_rendered(ctx.proto, &r).await,
    };
    let embeddings: Vec<J> = inputs
        .iter()
        .map(|t| J::Arr(fake_embedding(t, dims).into_iter().map(J::F32).collect()))
        .collect();
    let prompt: u32 = inputs.iter().map(|t| tokens(t)).sum();
    let json = obj! {
        "model": model.as_str(),
        "embeddings": embeddings,
        "total_duration": 2_000_000u64,
        "load_duration": 1_000_000u64,
        "prompt_eval_count": prompt,
    };
    conn.respond_json(ctx.proto, &json.render()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_digests() {
        let d = digest("llama3:latest");
        assert_eq!(d.len(), 64);
        assert_eq!(d, digest("llama3:latest"));
        assert_ne!(d, digest("llama3:8b"));
    }
}
