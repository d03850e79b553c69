//! Streaming (SSE) behaviour of the fake provider, checked on raw bytes.

mod common;

use std::time::Duration;

use common::{Client, chat, chat_body, roundtrip, sse_data, sse_json, streamed_content};
use orchard_testkit::{Answer, FakeProvider};
use serde_json::{Value, json};

/// Builds the exact bytes of one chunk event as OpenAI frames it.
fn event(id: &str, created: u64, model: &str, delta: &str, finish: &str, usage: &str) -> String {
    format!(
        "data: {{\"id\":\"{id}\",\"object\":\"chat.completion.chunk\",\"created\":{created},\"model\":\"{model}\",\"system_fingerprint\":\"fp_f4ke5e7c91\",\"choices\":[{{\"index\":0,\"delta\":{delta},\"logprobs\":null,\"finish_reason\":{finish}}}]{usage}}}\n\n"
    )
}

fn id_and_created(body: &str) -> (String, u64) {
    let first = &sse_json(body)[0];
    (
        first["id"].as_str().expect("id").to_owned(),
        first["created"].as_u64().expect("created"),
    )
}

#[tokio::test]
async fn echo_stream_exact_bytes() {
    let p = FakeProvider::start().await;
    let resp = roundtrip(
        p.addr(),
        &chat(&chat_body("fake-small", "hi there", true), &[]),
    )
    .await;

    assert_eq!(resp.status, 200);
    assert!(
        resp.raw_head.starts_with("HTTP/1.1 200 OK\r\n"),
        "{}",
        resp.raw_head
    );
    assert_eq!(
        resp.header("content-type"),
        Some("text/event-stream; charset=utf-8")
    );
    assert_eq!(resp.header("transfer-encoding"), Some("chunked"));
    assert!(resp.header("content-length").is_none());
    assert!(
        resp.header("x-request-id")
            .is_some_and(|v| v.starts_with("req_"))
    );
    assert!(resp.complete, "terminating chunk must be sent");

    let body = resp.text();
    let (id, created) = id_and_created(&body);
    assert!(id.starts_with("chatcmpl-"), "{id}");
    let m = "fake-small";
    let expected = [
        event(
            &id,
            created,
            m,
            r#"{"role":"assistant","content":""}"#,
            "null",
            "",
        ),
        event(&id, created, m, r#"{"content":"echo: "}"#, "null", ""),
        event(&id, created, m, r#"{"content":"hi "}"#, "null", ""),
        event(&id, created, m, r#"{"content":"there"}"#, "null", ""),
        event(&id, created, m, "{}", "\"stop\"", ""),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat();
    assert_eq!(body, expected);
    // Without split_every, one HTTP chunk per event.
    assert_eq!(resp.chunks.len(), 6);
}

#[tokio::test]
async fn crlf_mode_ends_every_line_with_crlf() {
    let p = FakeProvider::start().await;
    p.push(Answer::text(&["a", "b"]).crlf());
    let resp = roundtrip(p.addr(), &chat(&chat_body("fake-small", "x", true), &[])).await;
    let body = resp.text();
    assert!(body.ends_with("data: [DONE]\r\n\r\n"), "{body:?}");
    assert!(body.starts_with("data: {"));
    let bare_lf = body
        .char_indices()
        .filter(|(i, c)| *c == '\n' && (*i == 0 || body.as_bytes()[i - 1] != b'\r'))
        .count();
    assert_eq!(bare_lf, 0, "no bare LF in CRLF mode: {body:?}");
    assert_eq!(body.matches("\r\n\r\n").count(), 5);
    assert_eq!(streamed_content(&body), "ab");
}

#[tokio::test]
async fn usage_chunk_only_when_requested() {
    let p = FakeProvider::start().await;

    // Not requested: no usage anywhere.
    let plain = roundtrip(p.addr(), &chat(&chat_body("fake-small", "hi", true), &[])).await;
    assert!(!plain.text().contains("usage"), "{}", plain.text());

    // Requested: `"usage":null` on every chunk, then a usage chunk with
    // `"choices":[]` right before [DONE].
    let mut body = chat_body("fake-small", "hi there", true);
    body["stream_options"] = json!({"include_usage": true});
    let sent = body.to_string();
    let resp = roundtrip(p.addr(), &chat(&body, &[])).await;
    let text = resp.text();
    let data = sse_data(&text);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    let chunks = sse_json(&text);
    let (usage_chunk, others) = chunks.split_last().unwrap();
    assert_eq!(others.len(), 5);
    for c in others {
        assert_eq!(c.get("usage"), Some(&Value::Null), "{c}");
        assert_eq!(c["choices"].as_array().unwrap().len(), 1);
    }
    assert_eq!(usage_chunk["choices"], json!([]));
    let prompt = u64::try_from(sent.chars().count() / 4).unwrap();
    assert_eq!(
        usage_chunk["usage"],
        json!({"prompt_tokens": prompt, "completion_tokens": 3, "total_tokens": prompt + 3})
    );
    let (id, created) = id_and_created(&text);
    let usage_line = format!(
        "data: {{\"id\":\"{id}\",\"object\":\"chat.completion.chunk\",\"created\":{created},\"model\":\"fake-small\",\"system_fingerprint\":\"fp_f4ke5e7c91\",\"choices\":[],\"usage\":{{\"prompt_tokens\":{prompt},\"completion_tokens\":3,\"total_tokens\":{}}}}}\n\ndata: [DONE]\n\n",
        prompt + 3
    );
    assert!(text.ends_with(&usage_line), "{text}");

    // Scripted usage wins over the computed one.
    p.push(Answer::text(&["x"]).usage(11, 22));
    let resp = roundtrip(p.addr(), &chat(&body, &[])).await;
    let last = sse_json(&resp.text()).pop().unwrap();
    assert_eq!(last["usage"]["total_tokens"], 33);
}

#[tokio::test]
async fn reasoning_streams_first_then_content() {
    let p = FakeProvider::start().await;
    p.push(
        Answer::text(&["42"])
            .reasoning(&["think", "ing"])
            .finish("length"),
    );
    let resp = roundtrip(p.addr(), &chat(&chat_body("whatever", "q", true), &[])).await;
    let chunks = sse_json(&resp.text());
    let deltas: Vec<&Value> = chunks.iter().map(|c| &c["choices"][0]["delta"]).collect();
    assert_eq!(
        deltas[1],
        &json!({"content": null, "reasoning_content": "think"})
    );
    assert_eq!(
        deltas[2],
        &json!({"content": null, "reasoning_content": "ing"})
    );
    assert_eq!(deltas[3], &json!({"content": "42"}));
    assert_eq!(chunks[4]["choices"][0]["finish_reason"], "length");
    assert_eq!(
        chunks[0]["model"], "whatever",
        "queued replies echo the requested model"
    );
}

#[tokio::test]
async fn cut_closes_without_terminating_chunk() {
    let p = FakeProvider::start().await;
    p.push(Answer::text(&["a", "b", "c"]).cut_after(1));
    let mut c = Client::connect(p.addr()).await;
    c.send(&chat(&chat_body("fake-small", "x", true), &[]))
        .await;
    let mut resp = c.read_head().await;
    assert_eq!(resp.status, 200);
    c.read_chunked_rest(&mut resp).await;
    assert!(
        !resp.complete,
        "a cut stream must not end with the terminating chunk"
    );
    let text = resp.text();
    assert_eq!(streamed_content(&text), "a");
    assert!(!text.contains("[DONE]"));
    assert!(!text.contains("finish_reason\":\"stop"));
    p.wait_stream_closed(1).await;
}

#[tokio::test]
async fn hang_until_release_then_finish() {
    let p = FakeProvider::start().await;
    p.push(Answer::text(&["a", "b"]).hang_after(1));
    let mut c = Client::connect(p.addr()).await;
    c.send(&chat(&chat_body("fake-small", "x", true), &[]))
        .await;
    let mut resp = c.read_head().await;
    c.read_chunks_until(&mut resp, "\"content\":\"a\"}").await;

    // Held: nothing more arrives while not released.
    let more = tokio::time::timeout(Duration::from_millis(300), c.read_chunk()).await;
    assert!(more.is_err(), "stream should hang, got {more:?}");

    p.release();
    c.read_chunked_rest(&mut resp).await;
    assert!(resp.complete);
    let text = resp.text();
    assert_eq!(streamed_content(&text), "ab");
    assert!(text.ends_with("data: [DONE]\n\n"));
    p.wait_stream_closed(1).await;

    // Released for good: a later hang passes straight through.
    p.push(Answer::text(&["c"]).hang_after(0));
    let resp = roundtrip(p.addr(), &chat(&chat_body("fake-small", "x", true), &[])).await;
    assert!(resp.complete);
    assert_eq!(streamed_content(&resp.text()), "c");
}

#[tokio::test]
async fn hang_ends_when_client_goes_away() {
    let p = FakeProvider::start().await;
    p.push(Answer::text(&["a", "b"]).hang_after(1));
    let mut c = Client::connect(p.addr()).await;
    c.send(&chat(&chat_body("fake-small", "x", true), &[]))
        .await;
    let mut resp = c.read_head().await;
    c.read_chunks_until(&mut resp, "\"content\":\"a\"}").await;
    drop(c);
    // Resolves without release(): the server noticed the EOF.
    p.wait_stream_closed(1).await;
}

#[tokio::test]
async fn split_every_produces_many_small_chunks() {
    let p = FakeProvider::start().await;
    // Three 2-byte characters in a row: some 3-byte piece must split one.
    p.push(Answer::text(&["héllo ", "wörld ", "ééé"]).split_every(3));
    let resp = roundtrip(p.addr(), &chat(&chat_body("fake-small", "x", true), &[])).await;
    assert!(resp.complete);
    assert!(resp.chunks.len() > 50, "only {} chunks", resp.chunks.len());
    assert!(resp.chunks.iter().all(|c| c.len() <= 3));
    assert!(
        resp.chunks.iter().any(|c| std::str::from_utf8(c).is_err()),
        "some chunk should split a UTF-8 character"
    );
    assert_eq!(streamed_content(&resp.text()), "héllo wörld ééé");
}

#[tokio::test]
async fn keepalive_comments_between_events() {
    let p = FakeProvider::start().await;
    p.push(Answer::text(&["a"]).keepalive());
    let resp = roundtrip(p.addr(), &chat(&chat_body("fake-small", "x", true), &[])).await;
    let text = resp.text();
    assert!(text.starts_with(": keep-alive\n\ndata: {"), "{text:?}");
    // role, a, finish, [DONE]: one comment before each.
    assert_eq!(text.matches(": keep-alive\n\n").count(), 4);
    assert!(text.ends_with(": keep-alive\n\ndata: [DONE]\n\n"));
    assert_eq!(streamed_content(&text), "a");
}

#[tokio::test]
async fn error_event_then_end_without_done() {
    let p = FakeProvider::start().await;
    p.push(Answer::text(&["a", "b"]).error_after(1, "overloaded mid-stream"));
    let mut c = Client::connect(p.addr()).await;
    let resp = c
        .roundtrip(&chat(&chat_body("fake-small", "x", true), &[]))
        .await;
    assert!(resp.complete);
    let text = resp.text();
    assert!(!text.contains("[DONE]"));
    assert!(text.ends_with(
        "data: {\"error\":{\"message\":\"overloaded mid-stream\",\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\n"
    ));
    assert_eq!(
        streamed_content(&text.replace("data: {\"error\"", "x")),
        "a"
    );
    // The connection stays usable.
    let again = c
        .roundtrip(&chat(&chat_body("fake-small", "y", true), &[]))
        .await;
    assert_eq!(streamed_content(&again.text()), "echo: y");
    p.wait_stream_closed(2).await;
}

#[tokio::test]
async fn no_done_finishes_then_closes() {
    let p = FakeProvider::start().await;
    p.push(Answer::text(&["a"]).no_done());
    let mut c = Client::connect(p.addr()).await;
    let resp = c
        .roundtrip(&chat(&chat_body("fake-small", "x", true), &[]))
        .await;
    assert!(resp.complete);
    let text = resp.text();
    assert!(!text.contains("[DONE]"));
    assert!(text.contains("\"finish_reason\":\"stop\""));
    assert!(
        c.at_eof().await,
        "connection should end after a NoDone stream"
    );
}

#[tokio::test]
async fn first_byte_and_chunk_delays_hold_the_bytes_back() {
    let p = FakeProvider::start().await;
    p.push(
        Answer::text(&["a", "b"])
            .first_byte_delay(Duration::from_millis(200))
            .chunk_delay(Duration::from_millis(50)),
    );
    let mut c = Client::connect(p.addr()).await;
    let started = std::time::Instant::now();
    c.send(&chat(&chat_body("fake-small", "x", true), &[]))
        .await;
    let mut resp = c.read_head().await;
    assert!(started.elapsed() >= Duration::from_millis(200));
    c.read_chunked_rest(&mut resp).await;
    // 4 more events after the first, 50 ms apart.
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(streamed_content(&resp.text()), "ab");
}

#[tokio::test]
async fn stream_closed_counts_finished_streams() {
    let p = FakeProvider::start().await;
    let mut c = Client::connect(p.addr()).await;
    for _ in 0..2 {
        let r = c
            .roundtrip(&chat(&chat_body("fake-small", "x", true), &[]))
            .await;
        assert!(r.complete);
    }
    p.wait_stream_closed(2).await;
}
