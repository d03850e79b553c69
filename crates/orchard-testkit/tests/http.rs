//! Non-streamed answers, errors, auth, models and HTTP/1.1 handling of the
//! fake provider, checked with a raw TCP client.

mod common;

use common::{Client, chat, chat_body, request, roundtrip};
use orchard_testkit::{Answer, ErrorReply, FakeProvider, Reply};
use serde_json::json;

#[tokio::test]
async fn json_answer_shape() {
    let p = FakeProvider::start().await;
    let body = chat_body("fake-large", "hi there", false);
    let sent = body.to_string();
    let resp = roundtrip(p.addr(), &chat(&body, &[])).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("application/json"));
    assert_eq!(
        resp.header("content-length"),
        Some(resp.body.len().to_string().as_str())
    );
    assert!(resp.header("transfer-encoding").is_none());
    assert!(
        resp.header("x-request-id")
            .is_some_and(|v| v.starts_with("req_"))
    );
    let v = resp.json();
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(v["object"], "chat.completion");
    assert!(v["created"].as_u64().unwrap() > 1_700_000_000);
    assert_eq!(v["model"], "fake-large");
    assert_eq!(
        v["choices"],
        json!([{
            "index": 0,
            "message": {"role": "assistant", "content": "echo: hi there", "refusal": null},
            "logprobs": null,
            "finish_reason": "stop"
        }])
    );
    let prompt = u64::try_from(sent.chars().count() / 4).unwrap();
    assert_eq!(
        v["usage"],
        json!({"prompt_tokens": prompt, "completion_tokens": 3, "total_tokens": prompt + 3})
    );
    assert!(v["system_fingerprint"].is_string());
    // Field order as OpenAI sends it.
    assert!(resp.text().starts_with("{\"id\":\"chatcmpl-"));
    assert!(
        resp.text()
            .contains("\"object\":\"chat.completion\",\"created\":")
    );
}

#[tokio::test]
async fn json_answer_with_reasoning_and_fixed_usage() {
    let p = FakeProvider::start().await;
    p.push(
        Answer::text(&["4", "2"])
            .reasoning(&["hm", "m"])
            .usage(5, 7)
            .finish("length"),
    );
    let resp = roundtrip(p.addr(), &chat(&chat_body("fake-small", "q", false), &[])).await;
    let v = resp.json();
    let message = &v["choices"][0]["message"];
    assert_eq!(message["content"], "42");
    assert_eq!(message["reasoning_content"], "hmm");
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    assert_eq!(
        v["usage"],
        json!({"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12})
    );
}

#[tokio::test]
async fn wrong_or_missing_key_gets_openai_401() {
    let p = FakeProvider::start().await;
    let key = "sk-test-0123456789abcdefwxyz";
    p.require_key(key);

    let wrong = "sk-abcdefghijklmnopqrstuvwxyz";
    let resp = roundtrip(
        p.addr(),
        &chat(
            &chat_body("fake-small", "x", true),
            &[("authorization", &format!("Bearer {wrong}"))],
        ),
    )
    .await;
    assert_eq!(resp.status, 401);
    assert!(resp.raw_head.starts_with("HTTP/1.1 401 Unauthorized\r\n"));
    assert_eq!(resp.header("content-type"), Some("application/json"));
    let masked = format!("sk-abcde{}wxyz", "*".repeat(wrong.len() - 12));
    assert_eq!(
        resp.json(),
        json!({"error": {
            "message": format!("Incorrect API key provided: {masked}. You can find your API key at https://platform.openai.com/account/api-keys."),
            "type": "invalid_request_error",
            "param": null,
            "code": "invalid_api_key"
        }})
    );
    assert!(
        !resp.text().contains("fghijklmnopqrstu"),
        "the key must be masked"
    );

    let missing = roundtrip(p.addr(), &chat(&chat_body("fake-small", "x", true), &[])).await;
    assert_eq!(missing.status, 401);
    let err = &missing.json()["error"];
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .starts_with("You didn't provide an API key.")
    );
    assert_eq!(err["type"], "invalid_request_error");
    assert_eq!(err["code"], json!(null));

    let models = roundtrip(p.addr(), &request("GET", "/v1/models", &[], "")).await;
    assert_eq!(models.status, 401, "models require the key too");

    let ok = roundtrip(
        p.addr(),
        &chat(
            &chat_body("fake-small", "x", false),
            &[("Authorization", &format!("Bearer {key}"))],
        ),
    )
    .await;
    assert_eq!(ok.status, 200);
    // Failed auth does not consume queued replies: nothing was queued, and
    // the successful one echoed.
    assert_eq!(ok.json()["choices"][0]["message"]["content"], "echo: x");
}

#[tokio::test]
async fn unknown_model_gets_404_unless_a_reply_is_queued() {
    let p = FakeProvider::start().await;
    let resp = roundtrip(p.addr(), &chat(&chat_body("gpt-nope", "x", true), &[])).await;
    assert_eq!(resp.status, 404);
    assert_eq!(
        resp.json(),
        json!({"error": {
            "message": "The model `gpt-nope` does not exist or you do not have access to it.",
            "type": "invalid_request_error",
            "param": null,
            "code": "model_not_found"
        }})
    );

    p.push(Answer::text(&["scripted"]));
    let resp = roundtrip(p.addr(), &chat(&chat_body("gpt-nope", "x", false), &[])).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json()["choices"][0]["message"]["content"], "scripted");

    p.set_models(&["gpt-nope"]);
    let resp = roundtrip(p.addr(), &chat(&chat_body("gpt-nope", "x", false), &[])).await;
    assert_eq!(resp.status, 200);
    let resp = roundtrip(p.addr(), &chat(&chat_body("fake-small", "x", false), &[])).await;
    assert_eq!(resp.status, 404);
}

#[tokio::test]
async fn models_list_and_retrieve() {
    let p = FakeProvider::start().await;
    let resp = roundtrip(p.addr(), &request("GET", "/v1/models", &[], "")).await;
    assert_eq!(resp.status, 200);
    let v = resp.json();
    assert_eq!(v["object"], "list");
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["fake-small", "fake-large"]);
    for m in v["data"].as_array().unwrap() {
        assert_eq!(m["object"], "model");
        assert!(m["created"].is_u64());
        assert!(m["owned_by"].is_string());
    }

    p.set_models(&["a", "b", "c"]);
    let v = roundtrip(p.addr(), &request("GET", "/v1/models", &[], ""))
        .await
        .json();
    assert_eq!(v["data"].as_array().unwrap().len(), 3);
    let one = roundtrip(p.addr(), &request("GET", "/v1/models/b", &[], "")).await;
    assert_eq!(one.json()["id"], "b");
    let none = roundtrip(p.addr(), &request("GET", "/v1/models/zz", &[], "")).await;
    assert_eq!(none.status, 404);
}

#[tokio::test]
async fn unknown_path_and_method() {
    let p = FakeProvider::start().await;
    let resp = roundtrip(p.addr(), &request("GET", "/v1/nope?x=1", &[], "")).await;
    assert_eq!(resp.status, 404);
    assert_eq!(
        resp.json()["error"]["message"],
        "Invalid URL (GET /v1/nope)"
    );
    let resp = roundtrip(p.addr(), &request("GET", "/chat/completions", &[], "")).await;
    assert_eq!(resp.status, 404);
    let resp = roundtrip(p.addr(), &request("GET", "/v1/chat/completions", &[], "")).await;
    assert_eq!(resp.status, 405);
    // Every request is recorded, whatever the path.
    let recorded = p.requests();
    assert_eq!(recorded.len(), 3);
    assert_eq!(recorded[0].path, "/v1/nope");
    assert_eq!(recorded[0].query.as_deref(), Some("x=1"));
}

#[tokio::test]
async fn bad_json_gets_400() {
    let p = FakeProvider::start().await;
    let resp = roundtrip(
        p.addr(),
        &request(
            "POST",
            "/v1/chat/completions",
            &[("content-type", "application/json")],
            "{nope",
        ),
    )
    .await;
    assert_eq!(resp.status, 400);
    assert_eq!(resp.json()["error"]["type"], "invalid_request_error");
}

#[tokio::test]
async fn scripted_errors() {
    let p = FakeProvider::start().await;
    p.push(ErrorReply::rate_limited(7));
    p.push(ErrorReply::context_length_exceeded());
    p.push(ErrorReply::server_error(503));
    p.push(ErrorReply::html(
        502,
        "<html><body>Bad Gateway</body></html>",
    ));
    p.push(ErrorReply::custom(418, r#"{"error":{"message":"teapot"}}"#).header("x-extra", "1"));
    p.push(ErrorReply::invalid_api_key());
    p.push(ErrorReply::model_not_found("m1"));
    let mut c = Client::connect(p.addr()).await;
    let body = chat(&chat_body("fake-small", "x", true), &[]);

    let r = c.roundtrip(&body).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("7"));
    assert_eq!(r.header("x-ratelimit-remaining-requests"), Some("0"));
    assert_eq!(r.header("x-ratelimit-reset-requests"), Some("7s"));
    assert_eq!(r.json()["error"]["code"], "rate_limit_exceeded");

    let r = c.roundtrip(&body).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["code"], "context_length_exceeded");
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("maximum context length is 8192 tokens")
    );

    let r = c.roundtrip(&body).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["error"]["type"], "server_error");

    let r = c.roundtrip(&body).await;
    assert_eq!(r.status, 502);
    assert_eq!(r.header("content-type"), Some("text/html"));
    assert_eq!(r.text(), "<html><body>Bad Gateway</body></html>");

    let r = c.roundtrip(&body).await;
    assert_eq!(r.status, 418);
    assert_eq!(r.header("x-extra"), Some("1"));

    let r = c.roundtrip(&body).await;
    assert_eq!(
        (r.status, r.json()["error"]["code"].clone()),
        (401, json!("invalid_api_key"))
    );

    let r = c.roundtrip(&body).await;
    assert_eq!(
        (r.status, r.json()["error"]["code"].clone()),
        (404, json!("model_not_found"))
    );

    // Queue empty again: echo.
    let r = c.roundtrip(&body).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn wait_for_request_records_everything() {
    let p = FakeProvider::start().await;
    let addr = p.addr();
    let client = tokio::spawn(async move {
        let mut c = Client::connect(addr).await;
        // Chunked request body, mixed-case header names.
        c.send(
            b"POST /v1/chat/completions?trace=1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Custom: Yes\r\nTransfer-Encoding: chunked\r\n\r\n",
        )
        .await;
        let body = chat_body("fake-small", "chunked hello", false).to_string();
        let (a, b) = body.split_at(10);
        c.send(format!("{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n", a.len(), b.len()).as_bytes())
            .await;
        c.read_response().await
    });
    let req = p.wait_for_request(1).await;
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/v1/chat/completions");
    assert_eq!(req.query.as_deref(), Some("trace=1"));
    assert_eq!(req.header("x-custom"), Some("Yes"));
    assert_eq!(req.header("X-CUSTOM"), Some("Yes"));
    assert_eq!(
        req.headers
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>(),
        ["host", "content-type", "x-custom", "transfer-encoding"]
    );
    assert_eq!(req.json()["messages"][0]["content"], "chunked hello");
    let resp = client.await.unwrap();
    assert_eq!(
        resp.json()["choices"][0]["message"]["content"],
        "echo: chunked hello"
    );
    assert_eq!(p.requests(), vec![req]);
}

#[tokio::test]
async fn keep_alive_and_pipelining() {
    let p = FakeProvider::start().await;
    let mut c = Client::connect(p.addr()).await;
    let a = c
        .roundtrip(&chat(&chat_body("fake-small", "one", true), &[]))
        .await;
    let b = c
        .roundtrip(&chat(&chat_body("fake-small", "two", false), &[]))
        .await;
    assert_eq!(common::streamed_content(&a.text()), "echo: one");
    assert_eq!(b.json()["choices"][0]["message"]["content"], "echo: two");
    assert_eq!(a.header("connection"), Some("keep-alive"));

    // Two requests in one write, answered in order.
    let mut both = chat(&chat_body("fake-small", "three", false), &[]);
    both.extend(request("GET", "/v1/models", &[("connection", "close")], ""));
    c.send(&both).await;
    let r3 = c.read_response().await;
    let r4 = c.read_response().await;
    assert_eq!(r3.json()["choices"][0]["message"]["content"], "echo: three");
    assert_eq!(r4.json()["object"], "list");
    assert_eq!(r4.header("connection"), Some("close"));
    assert!(c.at_eof().await, "server closes after `connection: close`");
    assert_eq!(p.requests().len(), 4);
}

#[tokio::test]
async fn expect_100_continue() {
    let p = FakeProvider::start().await;
    let body = chat_body("fake-small", "later", false).to_string();
    let mut c = Client::connect(p.addr()).await;
    c.send(
        format!(
            "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .await;
    let interim = c.read_head().await;
    assert_eq!(interim.status, 100);
    c.send(body.as_bytes()).await;
    let resp = c.read_response().await;
    assert_eq!(
        resp.json()["choices"][0]["message"]["content"],
        "echo: later"
    );
}

#[tokio::test]
async fn non_stream_cut_closes_without_response() {
    let p = FakeProvider::start().await;
    p.push(Answer::text(&["x"]).cut_after(0));
    let mut c = Client::connect(p.addr()).await;
    c.send(&chat(&chat_body("fake-small", "x", false), &[]))
        .await;
    assert!(c.at_eof().await);
}

#[test]
fn replies_deserialize_from_script_json() {
    let script = r#"[
        {"answer": {"content": ["Hel", "lo"], "shape": {"crlf": true, "end": {"cut": {"after": 1}}}}},
        {"answer": {"content": ["x"], "shape": {"end": "no_done"}}},
        {"error": {"status": 503}}
    ]"#;
    let replies: Vec<Reply> = serde_json::from_str(script).unwrap();
    assert_eq!(
        replies[0],
        Reply::from(Answer::text(&["Hel", "lo"]).crlf().cut_after(1))
    );
    assert_eq!(replies[1], Reply::from(Answer::text(&["x"]).no_done()));
    let Reply::Error(e) = &replies[2] else {
        panic!("{:?}", replies[2])
    };
    assert_eq!(e.status, 503);
    assert_eq!(e.content_type, "application/json");
    // Round trip.
    let again: Vec<Reply> =
        serde_json::from_str(&serde_json::to_string(&replies).unwrap()).unwrap();
    assert_eq!(again, replies);
}
