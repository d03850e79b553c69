//! The Gemini protocol of the fake provider, on raw bytes.

mod common;

use common::{Client, post, request, roundtrip, sse_events};
use orchard_testkit::{Answer, ErrorReply, FakeProvider};
use serde_json::{Value, json};

const STREAM: &str = "/v1beta/models/fake-small:streamGenerateContent?alt=sse";
const GENERATE: &str = "/v1beta/models/fake-small:generateContent";

fn body() -> Value {
    json!({"contents": [{"role": "user", "parts": [{"text": "weather?"}]}]})
}

fn scripted() -> Answer {
    Answer::text(&["Sun", "ny."])
        .reasoning(&["Let me ", "check."])
        .tool_call("get_weather", r#"{"city": "Paris"}"#)
        .usage(10, 5)
}

#[tokio::test]
async fn stream_exact_framing_with_a_multi_part_chunk() {
    let p = FakeProvider::start().await;
    p.push(scripted());
    let resp = roundtrip(p.addr(), &post(STREAM, &[], &body())).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("text/event-stream"));
    assert!(resp.complete);
    let text = resp.text();
    let first: Value = serde_json::from_str(&sse_events(&text)[0].1).unwrap();
    let rid = first["responseId"].as_str().unwrap().to_owned();
    let tail = format!(",\"modelVersion\":\"fake-small\",\"responseId\":\"{rid}\"}}\n\n");
    let chunk = |parts: &str| {
        format!(
            "data: {{\"candidates\":[{{\"content\":{{\"parts\":[{parts}],\"role\":\"model\"}},\"index\":0}}]{tail}"
        )
    };
    let expected = [
        chunk(r#"{"text":"Let me ","thought":true}"#),
        // The last thought and the first text share a chunk.
        chunk(r#"{"text":"check.","thought":true},{"text":"Sun"}"#),
        chunk(r#"{"text":"ny."}"#),
        chunk(r#"{"functionCall":{"name":"get_weather","args":{"city":"Paris"}}}"#),
        format!(
            "data: {{\"candidates\":[{{\"content\":{{\"parts\":[{{\"text\":\"\"}}],\"role\":\"model\"}},\"finishReason\":\"STOP\",\"index\":0}}],\"usageMetadata\":{{\"promptTokenCount\":10,\"candidatesTokenCount\":3,\"totalTokenCount\":15,\"thoughtsTokenCount\":2}}{tail}"
        ),
    ]
    .concat();
    assert_eq!(text, expected);
    assert!(!text.contains("[DONE]"));
    assert_eq!(resp.chunks.len(), 5);
}

#[tokio::test]
async fn without_alt_sse_the_stream_is_a_json_array() {
    let p = FakeProvider::start().await;
    p.push(Answer::text(&["a", "b"]).finish("length"));
    let resp = roundtrip(
        p.addr(),
        &post(
            "/v1beta/models/fake-small:streamGenerateContent",
            &[],
            &body(),
        ),
    )
    .await;
    assert!(resp.complete);
    let chunks: Vec<Value> = serde_json::from_slice(&resp.body).expect("a JSON array");
    assert_eq!(chunks.len(), 3);
    assert_eq!(chunks[2]["candidates"][0]["finishReason"], "MAX_TOKENS");
}

#[tokio::test]
async fn non_stream_shape() {
    let p = FakeProvider::start().await;
    p.push(scripted());
    let resp = roundtrip(p.addr(), &post(GENERATE, &[], &body())).await;
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.header("content-type"),
        Some("application/json; charset=UTF-8")
    );
    assert!(resp.text().starts_with("{\n  \"candidates\": [\n"));
    let v = resp.json();
    assert_eq!(
        v,
        json!({
            "candidates": [{
                "content": {"parts": [
                    {"text": "Let me check.", "thought": true},
                    {"text": "Sunny."},
                    {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}
                ], "role": "model"},
                "finishReason": "STOP",
                "index": 0
            }],
            "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 3, "totalTokenCount": 15, "thoughtsTokenCount": 2},
            "modelVersion": "fake-small",
            "responseId": v["responseId"]
        })
    );
    // Echo of the last content's parts, no thoughts count without reasoning.
    let resp = roundtrip(p.addr(), &post(GENERATE, &[], &body())).await;
    let v = resp.json();
    assert_eq!(
        v["candidates"][0]["content"]["parts"],
        json!([{"text": "echo: weather?"}])
    );
    assert!(v["usageMetadata"].get("thoughtsTokenCount").is_none());
}

#[tokio::test]
async fn blocked_prompt_has_feedback_and_no_candidates() {
    let p = FakeProvider::start().await;
    p.push(Answer::text(&["never"]).blocked("SAFETY").usage(9, 0));
    let resp = roundtrip(p.addr(), &post(GENERATE, &[], &body())).await;
    assert_eq!(resp.status, 200);
    let v = resp.json();
    assert!(v.get("candidates").is_none());
    assert_eq!(v["promptFeedback"]["blockReason"], "SAFETY");
    assert!(v["promptFeedback"]["safetyRatings"].is_array());
    assert_eq!(
        v["usageMetadata"],
        json!({"promptTokenCount": 9, "totalTokenCount": 9})
    );

    p.push(Answer::text(&["never"]).blocked("OTHER"));
    let resp = roundtrip(p.addr(), &post(STREAM, &[], &body())).await;
    assert!(resp.complete);
    let events = sse_events(&resp.text());
    assert_eq!(events.len(), 1);
    let chunk: Value = serde_json::from_str(&events[0].1).unwrap();
    assert_eq!(chunk["promptFeedback"]["blockReason"], "OTHER");
    assert!(chunk.get("candidates").is_none());

    // Other protocols see a blocked answer as an empty one finished for safety.
    p.push(Answer::text(&["never"]).blocked("SAFETY"));
    let resp = roundtrip(
        p.addr(),
        &common::chat(&common::chat_body("fake-small", "x", false), &[]),
    )
    .await;
    assert_eq!(resp.json()["choices"][0]["finish_reason"], "content_filter");
    assert_eq!(resp.json()["choices"][0]["message"]["content"], "");
}

#[tokio::test]
async fn safety_finish_and_mid_stream_error() {
    let p = FakeProvider::start().await;
    p.push(Answer::text(&["a"]).finish("safety"));
    let resp = roundtrip(p.addr(), &post(GENERATE, &[], &body())).await;
    let cand = &resp.json()["candidates"][0];
    assert_eq!(cand["finishReason"], "SAFETY");
    assert_eq!(cand["safetyRatings"][3]["blocked"], true);

    p.push(Answer::text(&["a", "b"]).error_after(1, "boom").keepalive());
    let mut c = Client::connect(p.addr()).await;
    let resp = c.roundtrip(&post(STREAM, &[], &body())).await;
    assert!(resp.complete);
    let text = resp.text();
    assert!(text.starts_with(": keep-alive\n\ndata: {\"candidates\""));
    assert!(text.ends_with(
        ": keep-alive\n\ndata: {\"error\":{\"code\":500,\"message\":\"boom\",\"status\":\"INTERNAL\"}}\n\n"
    ));
    assert!(!text.contains("finishReason"));
    let again = c.roundtrip(&post(GENERATE, &[], &body())).await;
    assert_eq!(again.status, 200);
}

#[tokio::test]
async fn key_header_or_query_and_error_shapes() {
    let p = FakeProvider::start().await;
    p.accept_keys(&["AIza-good"]);
    p.reject_key("AIza-revoked");

    let missing = roundtrip(p.addr(), &post(GENERATE, &[], &body())).await;
    assert_eq!(missing.status, 403);
    assert_eq!(missing.json()["error"]["status"], "PERMISSION_DENIED");

    let header = roundtrip(
        p.addr(),
        &post(GENERATE, &[("x-goog-api-key", "AIza-good")], &body()),
    )
    .await;
    assert_eq!(header.status, 200);
    let query = roundtrip(
        p.addr(),
        &post(&format!("{GENERATE}?key=AIza-good"), &[], &body()),
    )
    .await;
    assert_eq!(query.status, 200);
    let recorded = p.requests();
    assert_eq!(recorded[2].query.as_deref(), Some("key=AIza-good"));
    assert_eq!(recorded[1].header("x-goog-api-key"), Some("AIza-good"));

    let revoked = roundtrip(
        p.addr(),
        &post(GENERATE, &[("x-goog-api-key", "AIza-revoked")], &body()),
    )
    .await;
    assert_eq!(revoked.status, 400);
    assert_eq!(
        revoked.json(),
        json!({"error": {
            "code": 400,
            "message": "API key not valid. Please pass a valid API key.",
            "status": "INVALID_ARGUMENT",
            "details": [
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}},
                {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US", "message": "API key not valid. Please pass a valid API key."}
            ]
        }})
    );
    assert!(
        revoked
            .text()
            .starts_with("{\n  \"error\": {\n    \"code\": 400,\n")
    );

    // Rate limit: RetryInfo in the body, no retry-after header (like Gemini).
    p.push(ErrorReply::rate_limited(7));
    let limited = roundtrip(
        p.addr(),
        &post(STREAM, &[("x-goog-api-key", "AIza-good")], &body()),
    )
    .await;
    assert_eq!(limited.status, 429);
    assert!(limited.header("retry-after").is_none());
    let err = &limited.json()["error"];
    assert_eq!(err["status"], "RESOURCE_EXHAUSTED");
    let retry = err["details"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["@type"] == "type.googleapis.com/google.rpc.RetryInfo")
        .unwrap();
    assert_eq!(retry["retryDelay"], "7s");

    let unknown = roundtrip(
        p.addr(),
        &post(
            "/v1beta/models/gemini-nope:generateContent",
            &[("x-goog-api-key", "AIza-good")],
            &body(),
        ),
    )
    .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["error"]["status"], "NOT_FOUND");
    assert!(
        unknown.json()["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("models/gemini-nope is not found for API version v1beta")
    );
}

#[tokio::test]
async fn models_list_names_models_slash_id() {
    let p = FakeProvider::start().await;
    p.set_models(&["gemini-x", "text-embedding-y"]);
    let resp = roundtrip(p.addr(), &request("GET", "/v1beta/models", &[], "")).await;
    assert_eq!(resp.status, 200);
    let v = resp.json();
    let names: Vec<&str> = v["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["models/gemini-x", "models/text-embedding-y"]);
    assert_eq!(v["models"][0]["displayName"], "Gemini X");
    assert!(
        v["models"][0]["supportedGenerationMethods"]
            .as_array()
            .unwrap()
            .contains(&json!("generateContent"))
    );
    assert_eq!(
        v["models"][1]["supportedGenerationMethods"][0],
        "embedContent"
    );
    let one = roundtrip(
        p.addr(),
        &request("GET", "/v1beta/models/gemini-x", &[], ""),
    )
    .await;
    assert_eq!(one.json()["name"], "models/gemini-x");
    // A model named with its `models/` prefix in the path works too.
    let gen_ = roundtrip(
        p.addr(),
        &post("/v1beta/models/gemini-x:generateContent", &[], &body()),
    )
    .await;
    assert_eq!(gen_.status, 200);
}
