//! The OpenAI Responses protocol, and tool calls in Chat Completions.

mod common;

use common::{Client, chat, chat_body, post, roundtrip, sse_events, sse_frame};
use orchard_testkit::{Answer, ErrorReply, FakeProvider};
use serde_json::{Value, json};

fn body(stream: bool) -> Value {
    json!({"model": "fake-small", "stream": stream, "input": "weather?", "instructions": "Be brief."})
}

fn scripted() -> Answer {
    Answer::text(&["Sun", "ny."])
        .reasoning(&["Let me ", "check."])
        .tool_call("get_weather", r#"{"city": "Paris"}"#)
        .usage(10, 5)
}

fn parse(events: &[(Option<String>, String)]) -> Vec<Value> {
    events
        .iter()
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect()
}

#[tokio::test]
async fn stream_event_sequence_and_framing() {
    let p = FakeProvider::start().await;
    p.push(scripted());
    let resp = roundtrip(p.addr(), &post("/v1/responses", &[], &body(true))).await;
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.header("content-type"),
        Some("text/event-stream; charset=utf-8")
    );
    assert!(resp.complete);
    let text = resp.text();
    let events = sse_events(&text);
    // Exact framing: every event is `event: NAME\ndata: JSON\n\n`, nothing else.
    assert_eq!(sse_frame(&events), text);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_deref().unwrap()).collect();
    assert_eq!(
        names,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.reasoning_summary_part.added",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.done",
            "response.reasoning_summary_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let data = parse(&events);
    for (i, (d, name)) in data.iter().zip(&names).enumerate() {
        assert_eq!(d["type"], *name, "every event carries its type");
        assert_eq!(d["sequence_number"], i, "and its sequence number");
    }
    let msg = data[9]["item"]["id"].as_str().unwrap();
    assert!(msg.starts_with("msg_"));
    assert_eq!(
        events[11].1,
        format!(
            "{{\"type\":\"response.output_text.delta\",\"item_id\":\"{msg}\",\"output_index\":1,\"content_index\":0,\"delta\":\"Sun\",\"logprobs\":[],\"sequence_number\":11}}"
        )
    );
    let rs = data[2]["item"]["id"].as_str().unwrap();
    assert_eq!(
        events[4].1,
        format!(
            "{{\"type\":\"response.reasoning_summary_text.delta\",\"item_id\":\"{rs}\",\"output_index\":0,\"summary_index\":0,\"delta\":\"Let me \",\"sequence_number\":4}}"
        )
    );
    assert_eq!(data[16]["item"]["type"], "function_call");
    assert_eq!(data[16]["item"]["arguments"], "");
    let args: String = data[17..19]
        .iter()
        .map(|d| d["delta"].as_str().unwrap())
        .collect();
    assert_eq!(args, r#"{"city":"Paris"}"#);
    assert_eq!(data[19]["arguments"], r#"{"city":"Paris"}"#);
    assert_eq!(data[0]["response"]["status"], "in_progress");
    assert_eq!(data[0]["response"]["instructions"], "Be brief.");
    let done = &data[21]["response"];
    assert_eq!(done["status"], "completed");
    assert_eq!(
        done["usage"],
        json!({
            "input_tokens": 10,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 5,
            "output_tokens_details": {"reasoning_tokens": 2},
            "total_tokens": 15
        })
    );
    assert_eq!(done["output"].as_array().unwrap().len(), 3);
    assert_eq!(done["output"][2]["call_id"], data[16]["item"]["call_id"]);
}

#[tokio::test]
async fn non_stream_response_object() {
    let p = FakeProvider::start().await;
    p.push(scripted());
    let resp = roundtrip(p.addr(), &post("/v1/responses", &[], &body(false))).await;
    assert_eq!(resp.header("content-type"), Some("application/json"));
    assert!(resp.text().starts_with("{\"id\":\"resp_"));
    let v = resp.json();
    assert_eq!(v["object"], "response");
    assert_eq!(v["status"], "completed");
    assert_eq!(v["incomplete_details"], Value::Null);
    let output = v["output"].as_array().unwrap();
    assert_eq!(
        output[0]["summary"],
        json!([{"type": "summary_text", "text": "Let me check."}])
    );
    assert_eq!(output[1]["type"], "message");
    assert_eq!(output[1]["content"][0]["text"], "Sunny.");
    assert_eq!(output[2]["type"], "function_call");
    assert_eq!(output[2]["name"], "get_weather");
    assert!(output[2]["call_id"].as_str().unwrap().starts_with("call_"));
    assert_eq!(v["usage"]["output_tokens_details"]["reasoning_tokens"], 2);

    // Echo of an input array's last item.
    let items = json!({"model": "fake-small", "input": [
        {"role": "user", "content": [{"type": "input_text", "text": "hi there"}]}
    ]});
    let resp = roundtrip(p.addr(), &post("/v1/responses", &[], &items)).await;
    assert_eq!(
        resp.json()["output"][0]["content"][0]["text"],
        "echo: hi there"
    );
}

#[tokio::test]
async fn length_ends_incomplete_and_errors_mid_stream() {
    let p = FakeProvider::start().await;
    p.push(Answer::text(&["a"]).finish("length"));
    let resp = roundtrip(p.addr(), &post("/v1/responses", &[], &body(true))).await;
    let events = sse_events(&resp.text());
    let (name, data) = events.last().unwrap();
    assert_eq!(name.as_deref(), Some("response.incomplete"));
    let v: Value = serde_json::from_str(data).unwrap();
    assert_eq!(v["response"]["status"], "incomplete");
    assert_eq!(
        v["response"]["incomplete_details"],
        json!({"reason": "max_output_tokens"})
    );

    p.push(Answer::text(&["a", "b"]).error_after(1, "server hiccup"));
    let mut c = Client::connect(p.addr()).await;
    let resp = c.roundtrip(&post("/v1/responses", &[], &body(true))).await;
    assert!(resp.complete);
    let events = sse_events(&resp.text());
    let (name, data) = events.last().unwrap();
    assert_eq!(name.as_deref(), Some("error"));
    let seq = events.len() - 1;
    assert_eq!(
        *data,
        format!(
            "{{\"type\":\"error\",\"code\":\"server_error\",\"message\":\"server hiccup\",\"param\":null,\"sequence_number\":{seq}}}"
        )
    );
    assert!(!resp.text().contains("response.completed"));
    let again = c.roundtrip(&post("/v1/responses", &[], &body(false))).await;
    assert_eq!(again.status, 200);
}

#[tokio::test]
async fn bearer_key_and_openai_errors() {
    let p = FakeProvider::start().await;
    p.require_key("sk-right-0000000000000000");
    let wrong = roundtrip(
        p.addr(),
        &post(
            "/v1/responses",
            &[("authorization", "Bearer sk-wrong-000000000000000")],
            &body(false),
        ),
    )
    .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.json()["error"]["code"], "invalid_api_key");
    p.push(ErrorReply::context_length_exceeded());
    let ok = roundtrip(
        p.addr(),
        &post(
            "/v1/responses",
            &[("authorization", "Bearer sk-right-0000000000000000")],
            &body(false),
        ),
    )
    .await;
    assert_eq!(ok.status, 400);
    assert_eq!(ok.json()["error"]["code"], "context_length_exceeded");
}

#[tokio::test]
async fn chat_completions_stream_tool_calls_in_pieces() {
    let p = FakeProvider::start().await;
    p.push(Answer::default().tool_call("lookup", r#"{"query": "rust async"}"#));
    let resp = roundtrip(p.addr(), &chat(&chat_body("fake-small", "x", true), &[])).await;
    let text = resp.text();
    let chunks = common::sse_json(&text);
    let deltas: Vec<&Value> = chunks.iter().map(|c| &c["choices"][0]["delta"]).collect();
    let id = deltas[1]["tool_calls"][0]["id"].as_str().unwrap();
    assert!(id.starts_with("call_"));
    assert_eq!(
        deltas[1],
        &json!({"tool_calls": [{"index": 0, "id": id, "type": "function", "function": {"name": "lookup", "arguments": ""}}]})
    );
    let pieces: Vec<&str> = deltas[2..deltas.len() - 1]
        .iter()
        .map(|d| {
            d["tool_calls"][0]["function"]["arguments"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert!(pieces.len() > 1, "arguments come in pieces: {pieces:?}");
    assert_eq!(pieces.concat(), r#"{"query":"rust async"}"#);
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "tool_calls"
    );
    assert!(text.ends_with("data: [DONE]\n\n"));

    p.push(Answer::default().tool_call("lookup", r#"{"q":1}"#));
    let resp = roundtrip(p.addr(), &chat(&chat_body("fake-small", "x", false), &[])).await;
    let message = &resp.json()["choices"][0]["message"];
    assert_eq!(message["content"], Value::Null);
    assert_eq!(
        message["tool_calls"][0]["function"]["arguments"],
        r#"{"q":1}"#
    );
    assert_eq!(resp.json()["choices"][0]["finish_reason"], "tool_calls");
}
