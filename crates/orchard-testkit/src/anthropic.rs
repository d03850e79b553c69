//! Anthropic Messages: `POST /v1/messages`, `GET /v1/models[/{id}]`.

use serde_json::Value;

use crate::errors::{self, ErrCtx};
use crate::json::{J, obj};
use crate::proto::{self, Protocol, query_param};
use crate::provider::{
    Conn, Next, RecordedRequest, Shared, deny, json_object, last_message_text, next_answer,
};
use crate::reply::ErrorReply;
use crate::stream::{Ev, Finish, Framing, Keepalive, Plan, StreamOut, json_reply, write_stream};

/// `created_at` of every listed model.
const MODEL_CREATED: &str = "2025-02-19T00:00:00Z";

/// Anthropic requests: `/v1/messages`, and `/v1/models` when the request
/// carries Anthropic headers.
pub(crate) async fn route(conn: &mut Conn, shared: &Shared, req: &RecordedRequest) -> Next {
    let path = req.path.as_str();
    let ctx = conn.ctx(Protocol::Anthropic);
    let is_messages = path == "/v1/messages";
    let wanted = if is_messages { "POST" } else { "GET" };
    if req.method != wanted {
        let r = errors::unknown_path(&ctx, &req.method, path);
        return conn.respond_rendered(ctx.proto, &r).await;
    }
    if req.header("anthropic-version").is_none() {
        let r = errors::bad_request(&ctx, "anthropic-version: header is required");
        return conn.respond_rendered(ctx.proto, &r).await;
    }
    if let Some(next) = deny(conn, shared, &ctx, req).await {
        return next;
    }
    if is_messages {
        messages(conn, shared, req, ctx).await
    } else {
        models(conn, shared, req, ctx, path.strip_prefix("/v1/models/")).await
    }
}

fn model_object(id: &str) -> J {
    obj! {
        "type": "model",
        "id": id,
        "display_name": proto::display_name(id),
        "created_at": MODEL_CREATED,
    }
}

async fn models(
    conn: &mut Conn,
    shared: &Shared,
    req: &RecordedRequest,
    ctx: ErrCtx,
    id: Option<&str>,
) -> Next {
    let models = shared.models();
    let body = match id {
        None => {
            // `limit` (default 20) and `after_id`, as documented.
            let query = req.query.as_deref();
            let limit = query_param(query, "limit").and_then(|l| l.parse().ok());
            let start = query_param(query, "after_id")
                .and_then(|a| models.iter().position(|m| *m == a))
                .map_or(0, |i| i + 1);
            let (page, more) = shared.model_page(limit, 20, start);
            obj! {
                "data": page.iter().map(|m| model_object(m)).collect::<Vec<_>>(),
                "has_more": more,
                "first_id": page.first(),
                "last_id": page.last(),
            }
        }
        Some(id) if models.iter().any(|m| m == id) => model_object(id),
        Some(id) => {
            return conn
                .respond_error(&ctx, &ErrorReply::model_not_found(id))
                .await;
        }
    };
    conn.respond_json(ctx.proto, &body.render()).await
}

fn stop_reason(finish: &Finish) -> String {
    match finish {
        Finish::Stop => "end_turn".to_owned(),
        Finish::Length => "max_tokens".to_owned(),
        Finish::ToolCalls => "tool_use".to_owned(),
        Finish::Safety => "refusal".to_owned(),
        Finish::Other(s) => s.clone(),
    }
}

fn usage(input: u32, output: u32) -> J {
    obj! {
        "input_tokens": input,
        "cache_creation_input_tokens": 0u32,
        "cache_read_input_tokens": 0u32,
        "output_tokens": output,
    }
}

/// A content block of the answer.
enum Block {
    Thinking,
    Text,
    Tool(usize),
}

async fn messages(
    conn: &mut Conn,
    shared: &Shared,
    req: &RecordedRequest,
    mut ctx: ErrCtx,
) -> Next {
    let Some(body) = json_object(req) else {
        let r = errors::bad_request(&ctx, "invalid request: the body must be a JSON object");
        return conn.respond_rendered(ctx.proto, &r).await;
    };
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    ctx.model.clone_from(&model);
    let missing = if model.is_empty() {
        Some("model: Field required")
    } else if body.get("max_tokens").and_then(Value::as_u64).is_none() {
        Some("max_tokens: Field required")
    } else {
        None
    };
    if let Some(message) = missing {
        let r = errors::bad_request(&ctx, message);
        return conn.respond_rendered(ctx.proto, &r).await;
    }
    let answer = match next_answer(conn, shared, &ctx, &model, None, || {
        last_message_text(&body)
    })
    .await
    {
        Ok(a) => a,
        Err(next) => return next,
    };
    let plan = Plan::new(&answer, &req.body);
    let id = proto::id("msg_01", shared.next_id(), 22);
    let tool_ids: Vec<String> = plan
        .tools
        .iter()
        .map(|_| proto::id("toolu_01", shared.next_id(), 22))
        .collect();
    let mut blocks = Vec::new();
    if !plan.reasoning.is_empty() {
        blocks.push(Block::Thinking);
    }
    if !plan.content.is_empty() || (plan.reasoning.is_empty() && plan.tools.is_empty()) {
        blocks.push(Block::Text);
    }
    blocks.extend((0..plan.tools.len()).map(Block::Tool));
    let stop = stop_reason(&plan.finish);

    if !body.get("stream").and_then(Value::as_bool).unwrap_or(false) {
        let content: Vec<J> = blocks
            .iter()
            .map(|b| match b {
                Block::Thinking => obj! {
                    "type": "thinking",
                    "thinking": plan.reasoning_text(),
                    "signature": plan.signature.as_str(),
                },
                Block::Text => obj! { "type": "text", "text": plan.content_text() },
                Block::Tool(i) => obj! {
                    "type": "tool_use",
                    "id": tool_ids[*i].as_str(),
                    "name": plan.tools[*i].name.as_str(),
                    "input": plan.tools[*i].object.clone(),
                },
            })
            .collect();
        let message = obj! {
            "id": id,
            "type": "message",
            "role": "assistant",
            "model": model.as_str(),
            "content": content,
            "stop_reason": stop,
            "stop_sequence": J::Null,
            "usage": usage(plan.prompt_tokens, plan.completion_tokens),
        };
        return json_reply(conn, shared, ctx.proto, &answer.shape, &message.render()).await;
    }

    let mut events = vec![Ev::open(
        Some("message_start"),
        obj! {
            "type": "message_start",
            "message": obj! {
                "id": id,
                "type": "message",
                "role": "assistant",
                "model": model.as_str(),
                "content": J::Arr(Vec::new()),
                "stop_reason": J::Null,
                "stop_sequence": J::Null,
                "usage": usage(plan.prompt_tokens, 1),
            },
        }
        .render(),
    )];
    let delta = |index: usize, delta: J| {
        obj! { "type": "content_block_delta", "index": index, "delta": delta }.render()
    };
    for (index, block) in blocks.iter().enumerate() {
        let start = match block {
            Block::Thinking => obj! { "type": "thinking", "thinking": "", "signature": "" },
            Block::Text => obj! { "type": "text", "text": "" },
            Block::Tool(i) => obj! {
                "type": "tool_use",
                "id": tool_ids[*i].as_str(),
                "name": plan.tools[*i].name.as_str(),
                "input": J::Obj(Vec::new()),
            },
        };
        events.push(Ev::open(
            Some("content_block_start"),
            obj! { "type": "content_block_start", "index": index, "content_block": start }.render(),
        ));
        if index == 0 {
            // The API's first ping follows the first block's start, and is
            // spaced unlike the other events.
            events.push(Ev::open(Some("ping"), "{\"type\": \"ping\"}".to_owned()));
        }
        match block {
            Block::Thinking => {
                for r in &plan.reasoning {
                    let d = obj! { "type": "thinking_delta", "thinking": *r };
                    events.push(Ev::piece(Some("content_block_delta"), delta(index, d), 1));
                }
                let d = obj! { "type": "signature_delta", "signature": plan.signature.as_str() };
                events.push(Ev::open(Some("content_block_delta"), delta(index, d)));
            }
            Block::Text => {
                for t in &plan.content {
                    let d = obj! { "type": "text_delta", "text": *t };
                    events.push(Ev::piece(Some("content_block_delta"), delta(index, d), 1));
                }
            }
            Block::Tool(i) => {
                let tool = &plan.tools[*i];
                let d = obj! { "type": "input_json_delta", "partial_json": "" };
                let weight = usize::from(tool.fragments.is_empty());
                events.push(Ev::piece(
                    Some("content_block_delta"),
                    delta(index, d),
                    weight,
                ));
                let last = tool.fragments.len().saturating_sub(1);
                for (j, fragment) in tool.fragments.iter().enumerate() {
                    let d = obj! { "type": "input_json_delta", "partial_json": fragment.as_str() };
                    events.push(Ev::piece(
                        Some("content_block_delta"),
                        delta(index, d),
                        usize::from(j == last),
                    ));
                }
            }
        }
        events.push(Ev::open(
            Some("content_block_stop"),
            obj! { "type": "content_block_stop", "index": index }.render(),
        ));
    }
    events.push(Ev::closing(
        Some("message_delta"),
        obj! {
            "type": "message_delta",
            "delta": obj! { "stop_reason": stop, "stop_sequence": J::Null },
            "usage": obj! { "output_tokens": plan.completion_tokens },
        }
        .render(),
    ));
    events.push(Ev::terminal(
        Some("message_stop"),
        obj! { "type": "message_stop" }.render(),
    ));
    let out = StreamOut::new(
        ctx.proto,
        Framing::Sse,
        Keepalive::Ping,
        events,
        &answer.shape.end,
        |_, message| Ev::open(Some("error"), errors::anthropic_stream_error(message)),
    );
    write_stream(conn, shared, &answer.shape, out).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_reasons() {
        assert_eq!(stop_reason(&Finish::ToolCalls), "tool_use");
        assert_eq!(stop_reason(&Finish::Length), "max_tokens");
    }
}
