//! The Ollama protocol of the fake provider, on raw bytes.

mod common;

use common::{Client, ndjson, post, request, roundtrip};
use orchard_testkit::{Answer, ErrorReply, FakeProvider};
use serde_json::{Value, json};

fn body(stream: Option<bool>) -> Value {
    let mut b =
        json!({"model": "fake-small", "messages": [{"role": "user", "content": "weather?"}]});
    if let Some(s) = stream {
        b["stream"] = json!(s);
    }
    b
}

fn scripted() -> Answer {
    Answer::text(&["Sun", "ny."])
        .reasoning(&["Let me ", "check."])
        .tool_call("get_weather", r#"{"city": "Paris"}"#)
        .usage(10, 5)
}

/// Whether `s` looks like Go's RFC 3339 UTC time with nanoseconds.
fn is_timestamp(s: &str) -> bool {
    s.len() >= 20 && s.ends_with('Z') && s.as_bytes()[10] == b'T' && s[..4].parse::<u32>().is_ok()
}

#[tokio::test]
async fn ndjson_stream_exact_framing_and_final_done_object() {
    let p = FakeProvider::start().await;
    p.push(scripted());
    // Streaming is Ollama's default.
    let resp = roundtrip(p.addr(), &post("/api/chat", &[], &body(None))).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("application/x-ndjson"));
    assert!(resp.complete);
    let text = resp.text();
    let lines = ndjson(&text);
    let times: Vec<String> = lines
        .iter()
        .map(|l| l["created_at"].as_str().unwrap().to_owned())
        .collect();
    assert!(times.iter().all(|t| is_timestamp(t)), "{times:?}");
    let line = |i: usize, message: &str| {
        format!(
            "{{\"model\":\"fake-small\",\"created_at\":\"{}\",\"message\":{message},\"done\":false}}\n",
            times[i]
        )
    };
    let expected = [
        line(0, r#"{"role":"assistant","content":"","thinking":"Let me "}"#),
        line(1, r#"{"role":"assistant","content":"","thinking":"check."}"#),
        line(2, r#"{"role":"assistant","content":"Sun"}"#),
        line(3, r#"{"role":"assistant","content":"ny."}"#),
        line(
            4,
            r#"{"role":"assistant","content":"","tool_calls":[{"function":{"name":"get_weather","arguments":{"city":"Paris"}}}]}"#,
        ),
        format!(
            "{{\"model\":\"fake-small\",\"created_at\":\"{}\",\"message\":{{\"role\":\"assistant\",\"content\":\"\"}},\"done_reason\":\"stop\",\"done\":true,\"total_duration\":112000000,\"load_duration\":1000000,\"prompt_eval_count\":10,\"prompt_eval_duration\":10000000,\"eval_count\":5,\"eval_duration\":100000000}}\n",
            times[5]
        ),
    ]
    .concat();
    assert_eq!(text, expected);
    // One HTTP chunk per line.
    assert_eq!(resp.chunks.len(), 6);
    let done = lines.last().unwrap();
    assert_eq!(done["done"], true);
    assert_eq!(done["done_reason"], "stop");
}

#[tokio::test]
async fn stream_false_gives_one_object() {
    let p = FakeProvider::start().await;
    p.push(scripted().finish("length"));
    let resp = roundtrip(p.addr(), &post("/api/chat", &[], &body(Some(false)))).await;
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert!(resp.header("content-length").is_some());
    let mut v = resp.json();
    assert!(is_timestamp(v["created_at"].as_str().unwrap()));
    v["created_at"] = json!("T");
    assert_eq!(
        v,
        json!({
            "model": "fake-small",
            "created_at": "T",
            "message": {
                "role": "assistant",
                "content": "Sunny.",
                "thinking": "Let me check.",
                "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]
            },
            "done_reason": "length",
            "done": true,
            "total_duration": 112000000,
            "load_duration": 1000000,
            "prompt_eval_count": 10,
            "prompt_eval_duration": 10000000,
            "eval_count": 5,
            "eval_duration": 100000000
        })
    );
    // Echo by default.
    let resp = roundtrip(p.addr(), &post("/api/chat", &[], &body(Some(false)))).await;
    assert_eq!(resp.json()["message"]["content"], "echo: weather?");
}

#[tokio::test]
async fn errors_are_plain_error_strings() {
    let p = FakeProvider::start().await;
    let mut unknown = body(Some(false));
    unknown["model"] = json!("llama9");
    let resp = roundtrip(p.addr(), &post("/api/chat", &[], &unknown)).await;
    assert_eq!(resp.status, 404);
    assert_eq!(
        resp.text(),
        r#"{"error":"model \"llama9\" not found, try pulling it first"}"#
    );

    p.push(ErrorReply::server_error(503));
    let resp = roundtrip(p.addr(), &post("/api/chat", &[], &body(None))).await;
    assert_eq!(resp.status, 503);
    assert!(resp.json()["error"].is_string());

    let resp = roundtrip(p.addr(), &post("/api/chat", &[], &json!({"messages": []}))).await;
    assert_eq!(resp.text(), r#"{"error":"model is required"}"#);

    let resp = roundtrip(p.addr(), &request("GET", "/api/nope", &[], "")).await;
    assert_eq!(
        (resp.status, resp.text()),
        (404, "404 page not found".to_owned())
    );

    // Mid-stream error: an `{"error": ...}` line, then the body ends.
    p.push(
        Answer::text(&["a", "b"])
            .error_after(1, "llama runner crashed")
            .keepalive(),
    );
    let mut c = Client::connect(p.addr()).await;
    let resp = c.roundtrip(&post("/api/chat", &[], &body(None))).await;
    assert!(resp.complete);
    let text = resp.text();
    assert!(!text.contains("keep-alive"), "NDJSON has no keep-alives");
    let lines = ndjson(&text);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["message"]["content"], "a");
    assert_eq!(lines[1], json!({"error": "llama runner crashed"}));
    let again = c
        .roundtrip(&post("/api/chat", &[], &body(Some(false))))
        .await;
    assert_eq!(again.status, 200);
}

#[tokio::test]
async fn keys_are_ignored_until_accept_keys() {
    let p = FakeProvider::start().await;
    p.reject_key("whatever");
    let resp = roundtrip(
        p.addr(),
        &post(
            "/api/chat",
            &[("authorization", "Bearer whatever")],
            &body(Some(false)),
        ),
    )
    .await;
    assert_eq!(resp.status, 200, "Ollama has no auth by default");

    p.accept_keys(&["ollama-key"]);
    let missing = roundtrip(p.addr(), &post("/api/chat", &[], &body(Some(false)))).await;
    assert_eq!(
        (missing.status, missing.text()),
        (401, r#"{"error":"unauthorized"}"#.to_owned())
    );
    let ok = roundtrip(
        p.addr(),
        &post(
            "/api/chat",
            &[("authorization", "Bearer ollama-key")],
            &body(Some(false)),
        ),
    )
    .await;
    assert_eq!(ok.status, 200);
    let rejected = roundtrip(
        p.addr(),
        &post(
            "/api/chat",
            &[("authorization", "Bearer whatever")],
            &body(Some(false)),
        ),
    )
    .await;
    assert_eq!(rejected.status, 401);
}

#[tokio::test]
async fn tags_version_and_root() {
    let p = FakeProvider::start().await;
    p.set_models(&["llama3", "qwen3:8b"]);
    let resp = roundtrip(p.addr(), &request("GET", "/api/tags", &[], "")).await;
    let v = resp.json();
    let names: Vec<&str> = v["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["llama3", "qwen3:8b"], "listed as set");
    assert_eq!(v["models"][0]["model"], "llama3");
    assert_eq!(v["models"][0]["details"]["format"], "gguf");
    assert_eq!(v["models"][0]["digest"].as_str().unwrap().len(), 64);

    // `llama3` and `llama3:latest` name the same model.
    let mut b = body(Some(false));
    b["model"] = json!("llama3:latest");
    assert_eq!(
        roundtrip(p.addr(), &post("/api/chat", &[], &b))
            .await
            .status,
        200
    );
    b["model"] = json!("qwen3");
    assert_eq!(
        roundtrip(p.addr(), &post("/api/chat", &[], &b))
            .await
            .status,
        404
    );

    let version = roundtrip(p.addr(), &request("GET", "/api/version", &[], "")).await;
    assert!(version.json()["version"].is_string());
    let root = roundtrip(p.addr(), &request("GET", "/", &[], "")).await;
    assert_eq!(root.text(), "Ollama is running");
}
