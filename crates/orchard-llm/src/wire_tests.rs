//! The exact bytes each adapter sends for the same conversation, held as snapshots.

use orchard_core::base_url::resolve_for;
use orchard_core::message::Role;
use orchard_core::provider::{Protocol, Quirks};
use serde_json::json;

use crate::{ChatMessage, ChatRequest, Part, ProviderEndpoint, Thinking, ToolCall, ToolSpec};

/// A conversation using everything: a system prompt, several turns, an image, tools, a
/// tool call and its result, and signed thinking from an earlier turn.
fn rich(stream: bool) -> ChatRequest {
    let call = ToolCall {
        id: "call_1".into(),
        name: "get_weather".into(),
        arguments: r#"{"city":"Utrecht"}"#.into(),
    };
    ChatRequest {
        model: "model-x".into(),
        system: Some("You are terse.".into()),
        messages: vec![
            ChatMessage {
                parts: vec![
                    Part::Text("What is in this picture, and the weather?".into()),
                    Part::Image {
                        media_type: "image/png".into(),
                        data: vec![0x89, b'P', b'N', b'G'],
                    },
                ],
                ..ChatMessage::text(Role::User, "")
            },
            ChatMessage {
                tool_calls: vec![call.clone()],
                thinking: Some(Thinking {
                    text: "I need the weather.".into(),
                    signature: Some("sig-abc".into()),
                }),
                ..ChatMessage::text(Role::Assistant, "A cat. Checking the weather.")
            },
            ChatMessage {
                tool_result_for: Some(call),
                ..ChatMessage::text(Role::Tool, r#"{"temp_c":12}"#)
            },
        ],
        temperature: Some(0.5),
        top_p: None,
        max_tokens: Some(1024),
        stream,
        tools: vec![ToolSpec {
            name: "get_weather".into(),
            description: "Current weather for a city".into(),
            parameters: json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
        }],
        thinking_budget: None,
    }
}

fn simple(stream: bool) -> ChatRequest {
    ChatRequest {
        model: "gpt-4o-mini".into(),
        system: Some("You are terse.".into()),
        messages: vec![
            ChatMessage::text(Role::User, "Hi"),
            ChatMessage::text(Role::Assistant, "Hello."),
            ChatMessage::text(Role::User, "2+2?"),
        ],
        temperature: Some(0.5),
        max_tokens: Some(256),
        stream,
        ..ChatRequest::default()
    }
}

fn ep(protocol: Protocol, quirks: Quirks) -> ProviderEndpoint {
    ProviderEndpoint {
        name: "p".into(),
        protocol,
        base_url: resolve_for(protocol, "https://api.example.com").unwrap(),
        key: None,
        quirks,
    }
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap()
}

#[test]
fn openai_streaming_request_body() {
    insta::assert_snapshot!(text(crate::openai::request_body(
        &ep(Protocol::OpenAi, Quirks::default()),
        &simple(true)
    )));
}

#[test]
fn openai_non_streaming_request_body_with_max_completion_tokens() {
    let q = Quirks {
        max_tokens_field: "max_completion_tokens".into(),
        stream_usage: true,
    };
    insta::assert_snapshot!(text(crate::openai::request_body(
        &ep(Protocol::OpenAi, q),
        &simple(false)
    )));
}

#[test]
fn openai_providers_that_refuse_stream_options_do_not_get_them() {
    let q = Quirks {
        stream_usage: false,
        ..Quirks::default()
    };
    let body = text(crate::openai::request_body(
        &ep(Protocol::OpenAi, q),
        &simple(true),
    ));
    assert!(!body.contains("stream_options"), "{body}");
}

#[test]
fn openai_rich_request_body() {
    insta::assert_snapshot!(text(crate::openai::request_body(
        &ep(Protocol::OpenAi, Quirks::default()),
        &rich(true)
    )));
}

#[test]
fn anthropic_rich_request_body() {
    insta::assert_snapshot!(text(crate::anthropic::request_body(&rich(true))));
}

#[test]
fn anthropic_thinking_request_drops_sampling_and_raises_max_tokens() {
    let mut req = simple(true);
    req.thinking_budget = Some(4000);
    insta::assert_snapshot!(text(crate::anthropic::request_body(&req)));
}

#[test]
fn gemini_rich_request_body() {
    let mut req = rich(true);
    req.thinking_budget = Some(2048);
    insta::assert_snapshot!(text(crate::gemini::request_body(&req)));
}

#[test]
fn ollama_rich_request_body() {
    insta::assert_snapshot!(text(crate::ollama::request_body(&rich(true))));
}

#[test]
fn responses_rich_request_body() {
    let mut req = rich(true);
    req.thinking_budget = Some(4096);
    insta::assert_snapshot!(text(crate::responses::request_body(&req)));
}

#[test]
fn gemini_answers_parallel_calls_in_one_turn() {
    let call = |id: &str, city: &str| ToolCall {
        id: id.into(),
        name: "get_weather".into(),
        arguments: format!(r#"{{"city":"{city}"}}"#),
    };
    let (a, b) = (call("c1", "Utrecht"), call("c2", "Delft"));
    let req = ChatRequest {
        model: "gemini-2.5-flash".into(),
        messages: vec![
            ChatMessage::text(Role::User, "Weather in Utrecht and Delft?"),
            ChatMessage {
                tool_calls: vec![a.clone(), b.clone()],
                ..ChatMessage::text(Role::Assistant, "")
            },
            ChatMessage {
                tool_result_for: Some(a),
                ..ChatMessage::text(Role::Tool, r#"{"temp_c":12}"#)
            },
            ChatMessage {
                tool_result_for: Some(b),
                ..ChatMessage::text(Role::Tool, r#"{"temp_c":13}"#)
            },
        ],
        ..ChatRequest::default()
    };
    let body: serde_json::Value =
        serde_json::from_slice(&crate::gemini::request_body(&req)).unwrap();
    let contents = body["contents"].as_array().unwrap();
    assert_eq!(contents.len(), 3, "{body}");
    assert_eq!(contents[1]["parts"].as_array().unwrap().len(), 2);
    let answers = contents[2]["parts"].as_array().unwrap();
    assert_eq!(
        answers.len(),
        2,
        "as many responses as calls, in one turn: {body}"
    );
    assert_eq!(answers[1]["functionResponse"]["response"]["temp_c"], 13);
}

#[test]
fn responses_leave_out_sampling_when_reasoning() {
    let mut req = simple(true);
    req.top_p = Some(0.9);
    let plain = text(crate::responses::request_body(&req));
    assert!(
        plain.contains("\"temperature\"") && plain.contains("\"top_p\""),
        "{plain}"
    );
    req.thinking_budget = Some(2048);
    let reasoning = text(crate::responses::request_body(&req));
    assert!(
        !reasoning.contains("temperature") && !reasoning.contains("top_p"),
        "{reasoning}"
    );
}
