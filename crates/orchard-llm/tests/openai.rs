//! The OpenAI Chat Completions adapter against the fake provider: framing, content,
//! and every documented error.

mod common;

use common::*;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use orchard_core::base_url::resolve_api_base;
use orchard_core::message::{Role, Usage};
use orchard_core::provider::{Protocol, Quirks};
use orchard_core::secret::ApiKey;
use orchard_llm::{
    ChatEvent, ChatMessage, ChatProvider, ChatRequest, ProviderEndpoint, ProviderErrorKind,
};
use orchard_net::{NetConfig, NetErrorKind};
use orchard_testkit::{Answer, ErrorReply, FakeProvider};

const KEY: &str = "sk-Zq8Lx-abcdefghijklmnopqrstuvwx7f3a";

fn provider_for(fake: &FakeProvider, key: Option<&str>, cfg: NetConfig) -> Arc<dyn ChatProvider> {
    let http = http(cfg);
    orchard_llm::connect(
        ProviderEndpoint {
            name: "fake".into(),
            protocol: Protocol::OpenAi,
            base_url: resolve_api_base(&fake.base_url()).unwrap(),
            key: key.map(|k| ApiKey::parse(k).unwrap()),
            quirks: Quirks::default(),
        },
        http,
    )
}

fn request(model: &str, stream: bool) -> ChatRequest {
    ChatRequest {
        model: model.into(),
        system: Some("Be brief.".into()),
        messages: vec![ChatMessage::text(Role::User, "Say hello")],
        stream,
        ..ChatRequest::default()
    }
}

#[tokio::test]
async fn a_streamed_answer_arrives_as_normalized_events() {
    let fake = FakeProvider::start().await;
    fake.require_key(KEY);
    fake.push(
        Answer::text(&["Hel", "lo ", "wörld 你好"])
            .reasoning(&["Let me ", "think."])
            .usage(11, 7),
    );
    let p = provider_for(&fake, Some(KEY), NetConfig::default());
    let (events, err) = collect(p.as_ref(), &request("fake-small", true)).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(thinking_of(&events), "Let me think.");
    assert_eq!(text_of(&events), "Hello wörld 你好");
    assert!(events.contains(&ChatEvent::Finish("stop".into())));
    assert!(events.contains(&ChatEvent::Usage(Usage {
        input_tokens: Some(11),
        output_tokens: Some(7),
        reasoning_tokens: None
    })));
    // What went over the wire.
    let sent = fake.requests().pop().unwrap();
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(
        sent.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(sent.header("accept"), Some("text/event-stream"));
    let body = sent.json();
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"]["include_usage"], true);
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(body["messages"][1]["content"], "Say hello");
}

#[tokio::test]
async fn every_framing_variant_yields_the_same_answer() {
    let fake = FakeProvider::start().await;
    let p = provider_for(&fake, None, NetConfig::default());
    let parts = ["Ünï", "cödé ", "splits ", "😀 across ", "reads"];
    let variants: Vec<Answer> = vec![
        Answer::text(&parts),
        Answer::text(&parts).crlf(),
        Answer::text(&parts).keepalive(),
        Answer::text(&parts).crlf().keepalive(),
        Answer::text(&parts).split_every(1),
        Answer::text(&parts).split_every(3),
        Answer::text(&parts).crlf().split_every(5),
        Answer::text(&parts).no_done(),
    ];
    for (i, v) in variants.into_iter().enumerate() {
        fake.push(v);
        let (events, err) = collect(p.as_ref(), &request("fake-small", true)).await;
        assert!(err.is_none(), "variant {i}: {err:?}");
        assert_eq!(text_of(&events), parts.concat(), "variant {i}");
        assert!(
            events.contains(&ChatEvent::Finish("stop".into())),
            "variant {i}"
        );
    }
}

#[tokio::test]
async fn a_non_streamed_answer_gives_the_same_events() {
    let fake = FakeProvider::start().await;
    fake.push(
        Answer::text(&["All ", "at once"])
            .reasoning(&["hmm"])
            .usage(3, 4)
            .finish("length"),
    );
    let p = provider_for(&fake, None, NetConfig::default());
    let (events, err) = collect(p.as_ref(), &request("fake-small", false)).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(
        events,
        vec![
            ChatEvent::ThinkingDelta("hmm".into()),
            ChatEvent::TextDelta("All at once".into()),
            ChatEvent::Usage(Usage {
                input_tokens: Some(3),
                output_tokens: Some(4),
                reasoning_tokens: None
            }),
            ChatEvent::Finish("length".into()),
        ]
    );
    assert_eq!(fake.requests()[0].json()["stream"], false);
}

#[tokio::test]
async fn p_l2_a_rejected_key_is_named_by_its_mask_only() {
    let fake = FakeProvider::start().await;
    fake.require_key("sk-the-right-key-000000000000000000");
    let p = provider_for(&fake, Some(KEY), NetConfig::default());
    let (_, err) = collect(p.as_ref(), &request("fake-small", true)).await;
    let err = err.unwrap();
    assert_eq!(err.kind, ProviderErrorKind::BadKey);
    assert_eq!(err.status, Some(401));
    assert!(err.is_key_problem());
    let shown = err.to_string();
    assert!(
        shown.starts_with("fake rejected the API key sk-…7f3a (401)"),
        "{shown}"
    );
    assert!(
        !shown.contains(KEY) && !shown.contains(&KEY[..8]),
        "{shown}"
    );
    assert!(!format!("{err:?}").contains(KEY));
}

#[tokio::test]
async fn a_missing_key_is_reported_as_missing() {
    let fake = FakeProvider::start().await;
    fake.require_key(KEY);
    let p = provider_for(&fake, None, NetConfig::default());
    let (_, err) = collect(p.as_ref(), &request("fake-small", true)).await;
    assert_eq!(err.unwrap().kind, ProviderErrorKind::MissingKey);
    assert!(fake.requests()[0].header("authorization").is_none());
}

#[tokio::test]
async fn documented_error_responses_map_to_clear_kinds() {
    let fake = FakeProvider::start().await;
    let p = provider_for(&fake, Some(KEY), NetConfig::default());

    let (_, err) = collect(p.as_ref(), &request("no-such-model", true)).await;
    let err = err.unwrap();
    assert_eq!(err.kind, ProviderErrorKind::UnknownModel);
    assert!(
        err.to_string()
            .contains("does not offer the model 'no-such-model'"),
        "{err}"
    );

    fake.push(ErrorReply::context_length_exceeded());
    let (_, err) = collect(p.as_ref(), &request("fake-small", true)).await;
    let err = err.unwrap();
    assert_eq!(err.kind, ProviderErrorKind::ContextTooLong);
    assert!(err.to_string().contains("maximum context length"), "{err}");

    fake.push(ErrorReply::rate_limited(7));
    let (_, err) = collect(p.as_ref(), &request("fake-small", true)).await;
    let err = err.unwrap();
    assert_eq!(err.kind, ProviderErrorKind::RateLimited);
    assert_eq!(err.retry_after, Some(Duration::from_secs(7)));
    assert!(err.to_string().contains("wait 7 s"), "{err}");
    assert!(
        err.request_id
            .as_deref()
            .is_some_and(|id| id.starts_with("req_"))
    );

    for status in [500, 502, 503] {
        fake.push(ErrorReply::server_error(status));
        let (_, err) = collect(p.as_ref(), &request("fake-small", true)).await;
        let err = err.unwrap();
        assert_eq!(
            (err.kind.clone(), err.status),
            (ProviderErrorKind::Server, Some(status)),
            "{err}"
        );
    }

    fake.push(ErrorReply::html(
        502,
        "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
    ));
    let (_, err) = collect(p.as_ref(), &request("fake-small", true)).await;
    assert_eq!(err.unwrap().kind, ProviderErrorKind::HtmlPage);
}

#[tokio::test]
async fn a_stream_cut_mid_answer_keeps_what_arrived_and_says_cut() {
    let fake = FakeProvider::start().await;
    let p = provider_for(&fake, None, NetConfig::default());
    fake.push(Answer::text(&["kept ", "part ", "lost"]).cut_after(2));
    let (events, err) = collect(p.as_ref(), &request("fake-small", true)).await;
    assert_eq!(text_of(&events), "kept part ");
    let err = err.expect("a cut stream must end in an error");
    assert_eq!(err.kind, ProviderErrorKind::StreamCut, "{err:?}");
    assert!(
        err.to_string()
            .contains("cut before the answer was complete"),
        "{err}"
    );
}

#[tokio::test]
async fn an_error_inside_the_stream_ends_it_with_the_providers_message() {
    let fake = FakeProvider::start().await;
    let p = provider_for(&fake, None, NetConfig::default());
    fake.push(
        Answer::text(&["a ", "b"])
            .error_after(1, "The server had an error while processing your request."),
    );
    let (events, err) = collect(p.as_ref(), &request("fake-small", true)).await;
    assert_eq!(text_of(&events), "a ");
    let err = err.unwrap();
    assert_eq!(err.kind, ProviderErrorKind::InStream);
    assert!(
        err.to_string().contains("had an error while processing"),
        "{err}"
    );
}

#[tokio::test]
async fn unreachable_and_slow_providers_give_network_errors() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let http = http(NetConfig::default());
    let p = orchard_llm::connect(
        ProviderEndpoint {
            name: "gone".into(),
            protocol: Protocol::OpenAi,
            base_url: resolve_api_base(&format!("http://127.0.0.1:{port}")).unwrap(),
            key: None,
            quirks: Quirks::default(),
        },
        http,
    );
    let (_, err) = collect(p.as_ref(), &request("m", true)).await;
    let err = err.unwrap();
    assert_eq!(err.kind, ProviderErrorKind::Network(NetErrorKind::Connect));
    assert!(
        err.to_string()
            .starts_with("cannot reach gone: could not connect to 127.0.0.1"),
        "{err}"
    );

    let fake = FakeProvider::start().await;
    let slow = provider_for(
        &fake,
        None,
        NetConfig {
            first_byte_timeout: Duration::from_millis(150),
            ..NetConfig::default()
        },
    );
    fake.push(Answer::text(&["zzz"]).first_byte_delay(Duration::from_secs(5)));
    let (_, err) = collect(slow.as_ref(), &request("fake-small", true)).await;
    assert_eq!(err.unwrap().kind.code(), "provider_timeout");
}

#[tokio::test]
async fn models_are_listed_sorted() {
    let fake = FakeProvider::start().await;
    fake.set_models(&["zeta", "alpha", "mid"]);
    let p = provider_for(&fake, Some(KEY), NetConfig::default());
    let models = p.models().await.unwrap();
    assert_eq!(
        models.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        ["alpha", "mid", "zeta"]
    );
    assert_eq!(fake.requests()[0].path, "/v1/models");
    assert_eq!(
        fake.requests()[0].header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
}

#[tokio::test]
async fn dropping_the_stream_closes_the_connection() {
    let fake = FakeProvider::start().await;
    let p = provider_for(&fake, None, NetConfig::default());
    fake.push(Answer::text(&["first ", "second ", "third"]).hang_after(1));
    let mut stream = p.chat(&request("fake-small", true)).await.unwrap();
    assert_eq!(
        stream.next().await.unwrap().unwrap(),
        ChatEvent::TextDelta("first ".into())
    );
    drop(stream);
    // The provider sees the client go away: that is what stops generation (and billing).
    fake.wait_stream_closed(1).await;
}

#[tokio::test]
async fn a_json_answer_to_a_stream_request_is_read_as_json() {
    // Some OpenAI-compatible servers ignore "stream": true and answer in one piece, or
    // answer an error with status 200 as JSON.
    let fake = FakeProvider::start().await;
    let p = provider_for(&fake, None, NetConfig::default());
    fake.push(ErrorReply::custom(
        200,
        r#"{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"whole"},"finish_reason":"stop"}]}"#,
    ));
    let (events, err) = collect(p.as_ref(), &request("fake-small", true)).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(text_of(&events), "whole");
    fake.push(ErrorReply::custom(
        200,
        r#"{"error":{"message":"quota exhausted","code":"insufficient_quota"}}"#,
    ));
    let (_, err) = collect(p.as_ref(), &request("fake-small", true)).await;
    let err = err.unwrap();
    assert!(err.to_string().contains("quota exhausted"), "{err}");
}

#[tokio::test]
async fn a_redirect_is_reported_not_followed() {
    let fake = FakeProvider::start().await;
    let other = FakeProvider::start().await;
    fake.push(ErrorReply::custom(308, "").header(
        "location",
        &format!("{}/chat/completions", other.base_url()),
    ));
    let p = provider_for(&fake, Some(KEY), NetConfig::default());
    let (_, err) = collect(p.as_ref(), &request("fake-small", true)).await;
    let err = err.unwrap();
    assert_eq!(err.kind, ProviderErrorKind::Redirected);
    assert!(
        err.to_string()
            .contains("redirects the request elsewhere (308)"),
        "{err}"
    );
    assert!(other.requests().is_empty());
}

#[tokio::test]
async fn reasoning_in_all_three_shapes_becomes_one_kind_of_thinking() {
    let fake = FakeProvider::start().await;
    let p = provider_for(&fake, None, NetConfig::default());
    let chunk = |delta: &str, finish: &str| {
        format!(
            "data: {{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"fake-small\",\"choices\":[{{\"index\":0,\"delta\":{delta},\"finish_reason\":{finish}}}]}}\n\n"
        )
    };
    // DeepSeek's `reasoning_content`, OpenRouter's `reasoning`, and `<think>` tags
    // inside the text (R1 and Qwen through many servers).
    let shapes = [
        format!(
            "{}{}{}data: [DONE]\n\n",
            chunk(r#"{"reasoning_content":"Two and two."}"#, "null"),
            chunk(r#"{"content":"Four."}"#, "null"),
            chunk("{}", "\"stop\"")
        ),
        format!(
            "{}{}{}data: [DONE]\n\n",
            chunk(r#"{"reasoning":"Two and two."}"#, "null"),
            chunk(r#"{"content":"Four."}"#, "null"),
            chunk("{}", "\"stop\"")
        ),
        format!(
            "{}{}{}{}data: [DONE]\n\n",
            chunk(r#"{"content":"<think>Two and"}"#, "null"),
            chunk(r#"{"content":" two.</thi"}"#, "null"),
            chunk(r#"{"content":"nk>Four."}"#, "null"),
            chunk("{}", "\"stop\"")
        ),
    ];
    for body in shapes {
        fake.push(ErrorReply {
            content_type: "text/event-stream".into(),
            ..ErrorReply::custom(200, &body)
        });
        let (events, err) = collect(p.as_ref(), &request("fake-small", true)).await;
        assert!(err.is_none(), "{err:?}");
        assert_eq!(thinking_of(&events), "Two and two.", "{body}");
        assert_eq!(text_of(&events), "Four.", "{body}");
    }
}
