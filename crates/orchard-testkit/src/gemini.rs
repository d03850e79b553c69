//! Gemini (Generative Language API): `models/{m}:generateContent`,
//! `:streamGenerateContent` (`?alt=sse`, else a streamed JSON array),
//! `:embedContent`, `:batchEmbedContents`, and the models list, under
//! `/v1beta/` (and `/v1/` for the `:method` paths).

use serde_json::Value;

use crate::embed::fake_embedding;
use crate::errors::{self, ErrCtx};
use crate::json::{J, obj};
use crate::proto::{self, Protocol, query_param};
use crate::provider::{
    Conn, Next, RecordedRequest, Shared, content_text, deny, json_object, next_answer,
};
use crate::reply::ErrorReply;
use crate::stream::{Ev, Finish, Framing, Keepalive, Plan, StreamOut, json_reply, write_stream};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Generate,
    Stream,
    Embed,
    BatchEmbed,
}

enum Target<'a> {
    List,
    Get(&'a str),
    Call(&'a str, Method),
}

fn parse(path: &str) -> Option<Target<'_>> {
    let rest = path
        .strip_prefix("/v1beta/")
        .or_else(|| path.strip_prefix("/v1/"))?;
    if rest == "models" {
        return Some(Target::List);
    }
    let model = rest.strip_prefix("models/")?;
    match model.split_once(':') {
        None if !model.is_empty() && !model.contains('/') => Some(Target::Get(model)),
        None => None,
        Some((m, method)) if !m.is_empty() => {
            let method = match method {
                "generateContent" => Method::Generate,
                "streamGenerateContent" => Method::Stream,
                "embedContent" => Method::Embed,
                "batchEmbedContents" => Method::BatchEmbed,
                _ => return None,
            };
            Some(Target::Call(m, method))
        }
        Some(_) => None,
    }
}

pub(crate) async fn route(conn: &mut Conn, shared: &Shared, req: &RecordedRequest) -> Next {
    let mut ctx = conn.ctx(Protocol::Gemini);
    let target = parse(&req.path);
    let wanted = match target {
        Some(Target::Call(..)) => "POST",
        _ => "GET",
    };
    let Some(target) = target.filter(|_| req.method == wanted) else {
        let r = errors::unknown_path(&ctx, &req.method, &req.path);
        return conn.respond_rendered(ctx.proto, &r).await;
    };
    if let Target::Call(model, _) = target {
        model.clone_into(&mut ctx.model);
    }
    if let Some(next) = deny(conn, shared, &ctx, req).await {
        return next;
    }
    match target {
        Target::List => {
            // `pageSize` (default 50) and an opaque `pageToken`, as documented.
            let query = req.query.as_deref();
            let size = query_param(query, "pageSize").and_then(|s| s.parse().ok());
            let start = query_param(query, "pageToken")
                .and_then(|t| t.strip_prefix("page-").and_then(|n| n.parse().ok()))
                .unwrap_or(0);
            let (page, more) = shared.model_page(size, 50, start);
            let models: Vec<J> = page.iter().map(|m| model_object(m)).collect();
            let body = if more {
                let token = format!("page-{}", start + page.len());
                obj! { "models": models, "nextPageToken": token }
            } else {
                obj! { "models": models }
            };
            conn.respond_json(ctx.proto, &body.pretty()).await
        }
        Target::Get(id) => {
            if shared.knows_model(ctx.proto, id) {
                conn.respond_json(ctx.proto, &model_object(id).pretty())
                    .await
            } else {
                conn.respond_error(&ctx, &ErrorReply::model_not_found(id))
                    .await
            }
        }
        Target::Call(model, Method::Generate) => {
            generate(conn, shared, req, ctx, model, None).await
        }
        Target::Call(model, Method::Stream) => {
            let framing = if query_param(req.query.as_deref(), "alt").as_deref() == Some("sse") {
                Framing::Sse
            } else {
                Framing::JsonArray
            };
            generate(conn, shared, req, ctx, model, Some(framing)).await
        }
        Target::Call(_, Method::Embed) => embed(conn, shared, req, ctx, false).await,
        Target::Call(_, Method::BatchEmbed) => embed(conn, shared, req, ctx, true).await,
    }
}

fn model_object(id: &str) -> J {
    let embedding = id.contains("embed");
    let mut fields = vec![
        ("name", J::from(format!("models/{id}"))),
        ("version", J::from("001")),
        ("displayName", J::from(proto::display_name(id))),
        ("description", J::from(format!("Fake model {id}"))),
        (
            "inputTokenLimit",
            J::from(if embedding { 2048u32 } else { 1_048_576 }),
        ),
        (
            "outputTokenLimit",
            J::from(if embedding { 1u32 } else { 8192 }),
        ),
    ];
    let methods: &[&str] = if embedding {
        &["embedContent", "countTextTokens", "countTokens"]
    } else {
        &[
            "generateContent",
            "countTokens",
            "createCachedContent",
            "batchGenerateContent",
        ]
    };
    fields.push((
        "supportedGenerationMethods",
        J::Arr(methods.iter().map(|m| J::from(*m)).collect()),
    ));
    if !embedding {
        fields.extend([
            ("temperature", J::from(1.0)),
            ("topP", J::from(0.95)),
            ("topK", J::from(40u32)),
            ("maxTemperature", J::from(2.0)),
        ]);
    }
    J::Obj(fields)
}

/// Text of the last entry of `contents`.
fn last_content_text(body: &Value) -> String {
    content_text(
        body.get("contents")
            .and_then(Value::as_array)
            .and_then(|c| c.last())
            .and_then(|c| c.get("parts")),
    )
}

fn finish_reason(finish: &Finish) -> String {
    match finish {
        Finish::Stop | Finish::ToolCalls => "STOP".to_owned(),
        Finish::Length => "MAX_TOKENS".to_owned(),
        Finish::Safety => "SAFETY".to_owned(),
        Finish::Other(s) => s.to_uppercase(),
    }
}

fn safety_ratings(flagged: bool) -> J {
    let rating = |category: &str, high: bool| {
        let mut fields = vec![
            ("category", J::from(category)),
            (
                "probability",
                J::from(if high { "HIGH" } else { "NEGLIGIBLE" }),
            ),
        ];
        if high {
            fields.push(("blocked", J::from(true)));
        }
        J::Obj(fields)
    };
    J::Arr(vec![
        rating("HARM_CATEGORY_SEXUALLY_EXPLICIT", false),
        rating("HARM_CATEGORY_HATE_SPEECH", false),
        rating("HARM_CATEGORY_HARASSMENT", false),
        rating("HARM_CATEGORY_DANGEROUS_CONTENT", flagged),
    ])
}

fn usage(plan: &Plan<'_>) -> J {
    let thoughts = plan.reasoning_tokens;
    let mut fields = vec![
        ("promptTokenCount", J::from(plan.prompt_tokens)),
        (
            "candidatesTokenCount",
            J::from(plan.completion_tokens.saturating_sub(thoughts)),
        ),
        (
            "totalTokenCount",
            J::from(plan.prompt_tokens.saturating_add(plan.completion_tokens)),
        ),
    ];
    if thoughts > 0 {
        fields.push(("thoughtsTokenCount", J::from(thoughts)));
    }
    J::Obj(fields)
}

fn text_part(text: &str) -> J {
    obj! { "text": text }
}

fn thought_part(text: &str) -> J {
    obj! { "text": text, "thought": true }
}

fn call_part(name: &str, args: &J) -> J {
    obj! { "functionCall": obj! { "name": name, "args": args.clone() } }
}

/// What a response (or chunk) of one answer shares.
struct Resp<'a> {
    model: &'a str,
    id: String,
}

impl Resp<'_> {
    fn response(&self, parts: Vec<J>, finish: Option<(&str, bool)>, usage: Option<J>) -> J {
        let mut candidate = vec![("content", obj! { "parts": parts, "role": "model" })];
        if let Some((reason, safety)) = finish {
            candidate.push(("finishReason", J::from(reason)));
            if safety {
                candidate.push(("safetyRatings", safety_ratings(true)));
            }
        }
        candidate.push(("index", J::from(0u32)));
        let mut fields = vec![("candidates", J::Arr(vec![J::Obj(candidate)]))];
        if let Some(usage) = usage {
            fields.push(("usageMetadata", usage));
        }
        fields.push(("modelVersion", J::from(self.model)));
        fields.push(("responseId", J::from(self.id.as_str())));
        J::Obj(fields)
    }

    fn blocked(&self, reason: &str, prompt_tokens: u32) -> J {
        obj! {
            "promptFeedback": obj! { "blockReason": reason, "safetyRatings": safety_ratings(true) },
            "usageMetadata": obj! { "promptTokenCount": prompt_tokens, "totalTokenCount": prompt_tokens },
            "modelVersion": self.model,
            "responseId": self.id.as_str(),
        }
    }
}

/// `:generateContent` (`framing` `None`) and `:streamGenerateContent`.
async fn generate(
    conn: &mut Conn,
    shared: &Shared,
    req: &RecordedRequest,
    ctx: ErrCtx,
    model: &str,
    framing: Option<Framing>,
) -> Next {
    let Some(body) = json_object(req) else {
        let r = errors::bad_request(&ctx, "Invalid JSON payload received. Expected an object.");
        return conn.respond_rendered(ctx.proto, &r).await;
    };
    let answer =
        match next_answer(conn, shared, &ctx, model, None, || last_content_text(&body)).await {
            Ok(a) => a,
            Err(next) => return next,
        };
    let plan = Plan::new(&answer, &req.body);
    let resp = Resp {
        model,
        id: proto::id("", shared.next_id(), 22),
    };
    let finish = finish_reason(&plan.finish);
    let safety = plan.finish == Finish::Safety;

    let Some(framing) = framing else {
        let json = match &answer.blocked {
            Some(reason) => resp.blocked(reason, plan.prompt_tokens),
            None => {
                let mut parts = Vec::new();
                if !plan.reasoning.is_empty() {
                    parts.push(thought_part(&plan.reasoning_text()));
                }
                if !plan.content.is_empty() {
                    parts.push(text_part(&plan.content_text()));
                }
                parts.extend(plan.tools.iter().map(|t| call_part(&t.name, &t.object)));
                if parts.is_empty() {
                    parts.push(text_part(""));
                }
                resp.response(parts, Some((&finish, safety)), Some(usage(&plan)))
            }
        };
        return json_reply(conn, shared, ctx.proto, &answer.shape, &json.pretty()).await;
    };

    let mut events = Vec::new();
    if let Some(reason) = &answer.blocked {
        events.push(Ev::closing(
            None,
            resp.blocked(reason, plan.prompt_tokens).render(),
        ));
    } else {
        let mut content = plan.content.iter().peekable();
        let last_thought = plan.reasoning.len().saturating_sub(1);
        for (i, r) in plan.reasoning.iter().enumerate() {
            let mut parts = vec![thought_part(r)];
            // Where the thoughts end and the answer starts, one chunk
            // carries both: a chunk may have several parts.
            if i == last_thought
                && let Some(first) = content.next()
            {
                parts.push(text_part(first));
            }
            let weight = parts.len();
            events.push(Ev::piece(
                None,
                resp.response(parts, None, None).render(),
                weight,
            ));
        }
        for t in content {
            events.push(Ev::piece(
                None,
                resp.response(vec![text_part(t)], None, None).render(),
                1,
            ));
        }
        if !plan.tools.is_empty() {
            let parts: Vec<J> = plan
                .tools
                .iter()
                .map(|t| call_part(&t.name, &t.object))
                .collect();
            events.push(Ev::piece(
                None,
                resp.response(parts, None, None).render(),
                plan.tools.len(),
            ));
        }
        events.push(Ev::terminal(
            None,
            resp.response(
                vec![text_part("")],
                Some((&finish, safety)),
                Some(usage(&plan)),
            )
            .render(),
        ));
    }
    let keepalive = if framing == Framing::Sse {
        Keepalive::Comment
    } else {
        Keepalive::Nothing
    };
    let out = StreamOut::new(
        ctx.proto,
        framing,
        keepalive,
        events,
        &answer.shape.end,
        |_, message| Ev::open(None, errors::gemini_stream_error(message)),
    );
    write_stream(conn, shared, &answer.shape, out).await
}

/// The text and dimensions of one `EmbedContentRequest`.
fn embed_request(request: &Value, default_dims: usize) -> (String, usize) {
    let text = content_text(request.pointer("/content/parts"));
    let dims = request
        .get("outputDimensionality")
        .and_then(Value::as_u64)
        .and_then(|d| usize::try_from(d).ok())
        .unwrap_or(default_dims);
    (text, dims)
}

fn values(text: &str, dims: usize) -> J {
    obj! { "values": J::Arr(fake_embedding(text, dims).into_iter().map(J::F32).collect()) }
}

/// `:embedContent` and `:batchEmbedContents`.
async fn embed(
    conn: &mut Conn,
    shared: &Shared,
    req: &RecordedRequest,
    ctx: ErrCtx,
    batch: bool,
) -> Next {
    let Some(body) = json_object(req) else {
        let r = errors::bad_request(&ctx, "Invalid JSON payload received. Expected an object.");
        return conn.respond_rendered(ctx.proto, &r).await;
    };
    if let Some(e) = shared.pop_error() {
        return conn.respond_error(&ctx, &e).await;
    }
    let (default_dims, max) = {
        let state = shared.lock();
        (state.embedding_dims, state.max_batch)
    };
    let json = if batch {
        let requests = body
            .get("requests")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if requests.is_empty() {
            let r = errors::bad_request(
                &ctx,
                "* BatchEmbedContentsRequest.requests: requests is not specified\n",
            );
            return conn.respond_rendered(ctx.proto, &r).await;
        }
        if requests.len() > max {
            let r = errors::too_many_inputs(&ctx, max);
            return conn.respond_rendered(ctx.proto, &r).await;
        }
        let embeddings: Vec<J> = requests
            .iter()
            .map(|r| {
                let (text, dims) = embed_request(r, default_dims);
                values(&text, dims)
            })
            .collect();
        obj! { "embeddings": embeddings }
    } else {
        let (text, dims) = embed_request(&body, default_dims);
        obj! { "embedding": values(&text, dims) }
    };
    conn.respond_json(ctx.proto, &json.pretty()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert!(matches!(parse("/v1beta/models"), Some(Target::List)));
        assert!(matches!(
            parse("/v1beta/models/g-1"),
            Some(Target::Get("g-1"))
        ));
        assert!(matches!(
            parse("/v1beta/models/g-1:streamGenerateContent"),
            Some(Target::Call("g-1", Method::Stream))
        ));
        assert!(matches!(
            parse("/v1/models/g:batchEmbedContents"),
            Some(Target::Call("g", Method::BatchEmbed))
        ));
        assert!(parse("/v1beta/models/g:nope").is_none());
        assert!(parse("/v1beta/files").is_none());
    }

    #[test]
    fn finish_words() {
        assert_eq!(finish_reason(&Finish::ToolCalls), "STOP");
        assert_eq!(finish_reason(&Finish::Length), "MAX_TOKENS");
        assert_eq!(
            finish_reason(&Finish::Other("recitation".into())),
            "RECITATION"
        );
    }
}
