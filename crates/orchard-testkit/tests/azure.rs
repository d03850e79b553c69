//! The Azure OpenAI protocol of the fake provider, on raw bytes.

mod common;

use common::{post, request, roundtrip, sse_events, sse_frame, sse_json};
use orchard_testkit::{Answer, ErrorReply, FakeProvider};
use serde_json::{Value, json};

const DEPLOYMENT: &str = "/openai/deployments/fake-small/chat/completions?api-version=2024-10-21";
const KEY: (&str, &str) = ("api-key", "azure-key");

fn body(stream: bool) -> Value {
    json!({"stream": stream, "messages": [{"role": "user", "content": "weather?"}]})
}

#[tokio::test]
async fn stream_opens_with_prompt_filter_results_then_chat_chunks() {
    let p = FakeProvider::start().await;
    p.push(
        Answer::text(&["Sun", "ny."])
            .reasoning(&["hm"])
            .tool_call("get_weather", r#"{"city":"Paris"}"#),
    );
    let resp = roundtrip(p.addr(), &post(DEPLOYMENT, &[KEY], &body(true))).await;
    assert_eq!(resp.status, 200);
    assert!(resp.header("apim-request-id").is_some());
    assert!(resp.complete);
    let text = resp.text();
    assert_eq!(sse_frame(&sse_events(&text)), text, "plain `data:` framing");
    assert!(text.starts_with(
        "data: {\"choices\":[],\"created\":0,\"id\":\"\",\"model\":\"\",\"object\":\"\",\"prompt_filter_results\":[{\"prompt_index\":0,\"content_filter_results\":{\"hate\":{\"filtered\":false,\"severity\":\"safe\"},\"self_harm\":{\"filtered\":false,\"severity\":\"safe\"},\"sexual\":{\"filtered\":false,\"severity\":\"safe\"},\"violence\":{\"filtered\":false,\"severity\":\"safe\"}}}]}\n\n"
    ));
    let chunks = sse_json(&text);
    assert_eq!(chunks[1]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(
        chunks[1]["model"], "fake-small",
        "the deployment names the model"
    );
    assert_eq!(chunks[2]["choices"][0]["delta"]["reasoning_content"], "hm");
    let content: String = chunks
        .iter()
        .filter_map(|c| {
            c.pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
        })
        .collect();
    assert_eq!(content, "Sunny.");
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "tool_calls"
    );
    assert!(text.ends_with("data: [DONE]\n\n"));
}

#[tokio::test]
async fn non_stream_and_v1_paths() {
    let p = FakeProvider::start().await;
    let resp = roundtrip(p.addr(), &post(DEPLOYMENT, &[KEY], &body(false))).await;
    assert_eq!(resp.status, 200);
    let v = resp.json();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["content"], "echo: weather?");
    assert_eq!(v["prompt_filter_results"][0]["prompt_index"], 0);

    // The v1 API: model in the body, no api-version needed.
    let mut v1 = body(false);
    v1["model"] = json!("fake-large");
    let resp = roundtrip(p.addr(), &post("/openai/v1/chat/completions", &[KEY], &v1)).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json()["model"], "fake-large");
    let models = roundtrip(p.addr(), &request("GET", "/openai/v1/models", &[KEY], "")).await;
    assert_eq!(models.json()["data"][0]["id"], "fake-small");
}

#[tokio::test]
async fn azure_error_shapes() {
    let p = FakeProvider::start().await;
    // No api-version on a deployments path: Azure's 404.
    let resp = roundtrip(
        p.addr(),
        &post(
            "/openai/deployments/fake-small/chat/completions",
            &[KEY],
            &body(false),
        ),
    )
    .await;
    assert_eq!(resp.status, 404);
    assert_eq!(
        resp.text(),
        r#"{"error":{"code":"404","message": "Resource not found"}}"#
    );

    let resp = roundtrip(
        p.addr(),
        &post(
            "/openai/deployments/nope/chat/completions?api-version=2024-10-21",
            &[KEY],
            &body(false),
        ),
    )
    .await;
    assert_eq!(resp.status, 404);
    assert_eq!(
        resp.json(),
        json!({"error": {"code": "DeploymentNotFound", "message": "The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again."}})
    );

    p.push(ErrorReply::rate_limited(9));
    let resp = roundtrip(p.addr(), &post(DEPLOYMENT, &[KEY], &body(true))).await;
    assert_eq!(resp.status, 429);
    assert_eq!(resp.header("retry-after"), Some("9"));
    assert_eq!(resp.header("retry-after-ms"), Some("9000"));
    assert_eq!(resp.json()["error"]["code"], "429");
    assert!(
        resp.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("API version 2024-10-21 have exceeded token rate limit")
    );

    p.push(ErrorReply::context_length_exceeded());
    let resp = roundtrip(p.addr(), &post(DEPLOYMENT, &[KEY], &body(true))).await;
    assert_eq!(resp.json()["error"]["code"], "context_length_exceeded");
}

#[tokio::test]
async fn api_key_header() {
    let p = FakeProvider::start().await;
    p.accept_keys(&["azure-key"]);
    let missing = roundtrip(p.addr(), &post(DEPLOYMENT, &[], &body(false))).await;
    assert_eq!(missing.status, 401);
    assert_eq!(
        missing.json()["error"]["message"],
        "Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API."
    );
    let wrong = roundtrip(
        p.addr(),
        &post(DEPLOYMENT, &[("api-key", "x")], &body(false)),
    )
    .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(
        wrong.text(),
        r#"{"error":{"code":"401","message": "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource."}}"#
    );
    let ok = roundtrip(p.addr(), &post(DEPLOYMENT, &[KEY], &body(false))).await;
    assert_eq!(ok.status, 200);
    assert_eq!(
        p.requests().last().unwrap().header("api-key"),
        Some("azure-key")
    );
    assert_eq!(
        p.requests().last().unwrap().query.as_deref(),
        Some("api-version=2024-10-21")
    );
}
