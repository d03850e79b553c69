//! The Anthropic Messages protocol of the fake provider, on raw bytes.

mod common;

use common::{Client, post, request, roundtrip, sse_events};
use orchard_testkit::{Answer, ErrorReply, FakeProvider};
use serde_json::{Value, json};

const VERSION: (&str, &str) = ("anthropic-version", "2023-06-01");

fn body(stream: bool) -> Value {
    json!({
        "model": "fake-small",
        "max_tokens": 1024,
        "stream": stream,
        "messages": [{"role": "user", "content": "weather?"}],
    })
}

fn scripted() -> Answer {
    Answer::text(&["Sun", "ny."])
        .reasoning(&["Let me ", "check."])
        .tool_call("get_weather", r#"{"city": "Paris"}"#)
        .usage(10, 5)
}

/// The value of `"id":"<prefix>..."` in `text`.
fn id_with_prefix(text: &str, prefix: &str) -> String {
    let start = text
        .find(&format!("\"id\":\"{prefix}"))
        .unwrap_or_else(|| panic!("no {prefix} id in {text}"))
        + 6;
    let end = start + text[start..].find('"').unwrap();
    text[start..end].to_owned()
}

#[tokio::test]
async fn stream_exact_framing_with_thinking_text_and_tool_use() {
    let p = FakeProvider::start().await;
    p.push(scripted());
    let resp = roundtrip(
        p.addr(),
        &post(
            "/v1/messages",
            &[VERSION, ("x-api-key", "any")],
            &body(true),
        ),
    )
    .await;
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.header("content-type"),
        Some("text/event-stream; charset=utf-8")
    );
    assert!(resp.header("request-id").unwrap().starts_with("req_"));
    assert!(resp.complete);
    let text = resp.text();
    let msg = id_with_prefix(&text, "msg_01");
    let tool = id_with_prefix(&text, "toolu_01");
    let expected = [
        format!(
            "event: message_start\ndata: {{\"type\":\"message_start\",\"message\":{{\"id\":\"{msg}\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"fake-small\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{{\"input_tokens\":10,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":1}}}}}}\n\n"
        ),
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}\n\n".to_owned(),
        "event: ping\ndata: {\"type\": \"ping\"}\n\n".to_owned(),
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"Let me \"}}\n\n".to_owned(),
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"check.\"}}\n\n".to_owned(),
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"sig-fake\"}}\n\n".to_owned(),
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n".to_owned(),
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n".to_owned(),
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"Sun\"}}\n\n".to_owned(),
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"ny.\"}}\n\n".to_owned(),
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n".to_owned(),
        format!(
            "event: content_block_start\ndata: {{\"type\":\"content_block_start\",\"index\":2,\"content_block\":{{\"type\":\"tool_use\",\"id\":\"{tool}\",\"name\":\"get_weather\",\"input\":{{}}}}}}\n\n"
        ),
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\"}}\n\n".to_owned(),
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"city\\\":\"}}\n\n".to_owned(),
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\\\"Paris\\\"}\"}}\n\n".to_owned(),
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":2}\n\n".to_owned(),
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":5}}\n\n".to_owned(),
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n".to_owned(),
    ]
    .concat();
    assert_eq!(text, expected);
    // One HTTP chunk per event.
    assert_eq!(resp.chunks.len(), 18);
    // The partial JSON pieces rebuild the arguments.
    let args: String = sse_events(&text)
        .iter()
        .filter_map(|(_, d)| {
            let v: Value = serde_json::from_str(d).unwrap();
            v.pointer("/delta/partial_json")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(args, r#"{"city":"Paris"}"#);
}

#[tokio::test]
async fn non_stream_message_shape() {
    let p = FakeProvider::start().await;
    p.push(scripted().signature("sig-123"));
    let resp = roundtrip(p.addr(), &post("/v1/messages", &[VERSION], &body(false))).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("application/json"));
    let v = resp.json();
    let text = resp.text();
    assert!(text.starts_with("{\"id\":\"msg_01"), "{text}");
    assert_eq!(
        v,
        json!({
            "id": v["id"],
            "type": "message",
            "role": "assistant",
            "model": "fake-small",
            "content": [
                {"type": "thinking", "thinking": "Let me check.", "signature": "sig-123"},
                {"type": "text", "text": "Sunny."},
                {"type": "tool_use", "id": v["content"][2]["id"], "name": "get_weather", "input": {"city": "Paris"}}
            ],
            "stop_reason": "tool_use",
            "stop_sequence": null,
            "usage": {"input_tokens": 10, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 5}
        })
    );
    assert!(
        v["content"][2]["id"]
            .as_str()
            .unwrap()
            .starts_with("toolu_01")
    );

    // Echo and finish words.
    let resp = roundtrip(p.addr(), &post("/v1/messages", &[VERSION], &body(false))).await;
    let v = resp.json();
    assert_eq!(
        v["content"],
        json!([{"type": "text", "text": "echo: weather?"}])
    );
    assert_eq!(v["stop_reason"], "end_turn");
    p.push(Answer::text(&["cut"]).finish("length"));
    let resp = roundtrip(p.addr(), &post("/v1/messages", &[VERSION], &body(false))).await;
    assert_eq!(resp.json()["stop_reason"], "max_tokens");
}

#[tokio::test]
async fn ping_keepalives_and_mid_stream_error() {
    let p = FakeProvider::start().await;
    p.push(
        Answer::text(&["a", "b"])
            .keepalive()
            .error_after(1, "Overloaded"),
    );
    let mut c = Client::connect(p.addr()).await;
    let resp = c
        .roundtrip(&post("/v1/messages", &[VERSION], &body(true)))
        .await;
    assert!(
        resp.complete,
        "the body ends properly after the error event"
    );
    let text = resp.text();
    let names: Vec<String> = sse_events(&text)
        .into_iter()
        .map(|(n, _)| n.unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "message_start",
            "ping",
            "content_block_start",
            "ping",
            "ping",
            "ping",
            "content_block_delta",
            "ping",
            "error"
        ]
    );
    assert!(text.ends_with(
        "event: ping\ndata: {\"type\": \"ping\"}\n\nevent: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"
    ));
    assert!(!text.contains("message_stop"));
    // The connection stays usable.
    let again = c
        .roundtrip(&post("/v1/messages", &[VERSION], &body(false)))
        .await;
    assert_eq!(again.status, 200);
    p.wait_stream_closed(1).await;
}

#[tokio::test]
async fn no_done_leaves_out_message_stop_and_closes() {
    let p = FakeProvider::start().await;
    p.push(Answer::text(&["a"]).no_done().crlf());
    let mut c = Client::connect(p.addr()).await;
    let resp = c
        .roundtrip(&post("/v1/messages", &[VERSION], &body(true)))
        .await;
    assert!(resp.complete);
    let text = resp.text();
    assert!(text.contains("event: message_delta\r\n"));
    assert!(!text.contains("message_stop"));
    assert!(!text.replace("\r\n", "").contains('\n'), "CRLF only");
    assert!(c.at_eof().await);
}

#[tokio::test]
async fn version_header_and_error_shapes() {
    let p = FakeProvider::start().await;
    let resp = roundtrip(p.addr(), &post("/v1/messages", &[], &body(false))).await;
    assert_eq!(resp.status, 400);
    let v = resp.json();
    assert_eq!(v["type"], "error");
    assert_eq!(
        v["error"],
        json!({"type": "invalid_request_error", "message": "anthropic-version: header is required"})
    );
    assert!(v["request_id"].as_str().unwrap().starts_with("req_"));
    assert!(
        resp.text()
            .starts_with("{\"type\":\"error\",\"error\":{\"type\":")
    );

    let no_max = json!({"model": "fake-small", "messages": []});
    let resp = roundtrip(p.addr(), &post("/v1/messages", &[VERSION], &no_max)).await;
    assert_eq!(
        (resp.status, resp.json()["error"]["message"].clone()),
        (400, json!("max_tokens: Field required"))
    );

    let mut unknown = body(false);
    unknown["model"] = json!("claude-nope");
    let resp = roundtrip(p.addr(), &post("/v1/messages", &[VERSION], &unknown)).await;
    assert_eq!(resp.status, 404);
    assert_eq!(
        resp.json()["error"],
        json!({"type": "not_found_error", "message": "model: claude-nope"})
    );

    let cases: Vec<(ErrorReply, u16, &str)> = vec![
        (ErrorReply::invalid_api_key(), 401, "authentication_error"),
        (ErrorReply::model_not_found("m"), 404, "not_found_error"),
        (
            ErrorReply::context_length_exceeded(),
            400,
            "invalid_request_error",
        ),
        (ErrorReply::rate_limited(7), 429, "rate_limit_error"),
        (ErrorReply::server_error(500), 500, "api_error"),
        (ErrorReply::server_error(529), 529, "overloaded_error"),
    ];
    for (reply, status, kind) in cases {
        p.push(reply);
        let resp = roundtrip(p.addr(), &post("/v1/messages", &[VERSION], &body(true))).await;
        assert_eq!(resp.status, status, "{kind}");
        assert_eq!(resp.json()["error"]["type"], kind);
        if status == 429 {
            assert_eq!(resp.header("retry-after"), Some("7"));
            assert_eq!(
                resp.header("anthropic-ratelimit-requests-remaining"),
                Some("0")
            );
        }
    }
    // Sent as given.
    p.push(ErrorReply::custom(418, r#"{"x":1}"#));
    let resp = roundtrip(p.addr(), &post("/v1/messages", &[VERSION], &body(true))).await;
    assert_eq!((resp.status, resp.text()), (418, r#"{"x":1}"#.to_owned()));
}

#[tokio::test]
async fn x_api_key_is_the_key_header() {
    let p = FakeProvider::start().await;
    p.accept_keys(&["sk-ant-1", "sk-ant-2"]);
    let send = |key: Option<(&'static str, &'static str)>| {
        let mut headers = vec![VERSION];
        headers.extend(key);
        post("/v1/messages", &headers, &body(false))
    };
    let missing = roundtrip(p.addr(), &send(None)).await;
    assert_eq!(missing.status, 401);
    assert_eq!(
        missing.json()["error"],
        json!({"type": "authentication_error", "message": "x-api-key header is required"})
    );
    let bearer = roundtrip(p.addr(), &send(Some(("authorization", "Bearer sk-ant-1")))).await;
    assert_eq!(
        bearer.status, 401,
        "a bearer token is not Anthropic's key header"
    );
    let wrong = roundtrip(p.addr(), &send(Some(("x-api-key", "nope")))).await;
    assert_eq!(
        wrong.json()["error"],
        json!({"type": "authentication_error", "message": "invalid x-api-key"})
    );
    for key in ["sk-ant-1", "sk-ant-2"] {
        let ok = roundtrip(
            p.addr(),
            &post("/v1/messages", &[VERSION, ("x-api-key", key)], &body(false)),
        )
        .await;
        assert_eq!(ok.status, 200);
    }
    let recorded = p.requests();
    assert_eq!(
        recorded.last().unwrap().header("x-api-key"),
        Some("sk-ant-2")
    );
}

#[tokio::test]
async fn models_in_anthropic_shape() {
    let p = FakeProvider::start().await;
    p.set_models(&["claude-a", "claude-b"]);
    let resp = roundtrip(p.addr(), &request("GET", "/v1/models", &[VERSION], "")).await;
    assert_eq!(resp.status, 200);
    let v = resp.json();
    assert_eq!(v["has_more"], false);
    assert_eq!(v["first_id"], "claude-a");
    assert_eq!(v["last_id"], "claude-b");
    assert_eq!(
        v["data"][0],
        json!({"type": "model", "id": "claude-a", "display_name": "Claude A", "created_at": "2025-02-19T00:00:00Z"})
    );
    let one = roundtrip(
        p.addr(),
        &request("GET", "/v1/models/claude-b", &[VERSION], ""),
    )
    .await;
    assert_eq!(one.json()["id"], "claude-b");
    let none = roundtrip(p.addr(), &request("GET", "/v1/models/zz", &[VERSION], "")).await;
    assert_eq!(none.json()["error"]["type"], "not_found_error");
    // Without Anthropic headers the same path is OpenAI's.
    let openai = roundtrip(p.addr(), &request("GET", "/v1/models", &[], "")).await;
    assert_eq!(openai.json()["object"], "list");
}
