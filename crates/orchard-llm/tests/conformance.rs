//! One conformance suite, run against every protocol: the same scripted answers and
//! failures from the fake provider, in each protocol's documented wire format, must
//! come out as the same normalized events and error kinds.

mod common;

use common::*;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use orchard_core::base_url::resolve_for;
use orchard_core::message::Role;
use orchard_core::provider::{Protocol, Quirks};
use orchard_core::secret::ApiKey;
use orchard_llm::{
    ChatEvent, ChatMessage, ChatProvider, ChatRequest, EmbedOptions, Part, ProviderEndpoint,
    ProviderErrorKind, ToolSpec,
};
use orchard_net::{NetConfig, NetErrorKind};
use orchard_testkit::{Answer, ErrorReply, FakeProvider, RecordedRequest};
use serde_json::{Value, json};

const ALL: [Protocol; 6] = [
    Protocol::OpenAi,
    Protocol::Azure,
    Protocol::OpenAiResponses,
    Protocol::Anthropic,
    Protocol::Gemini,
    Protocol::Ollama,
];
const KEY: &str = "sk-Zq8Lx-conformance-abcdefghij0123456789";

fn endpoint(fake: &FakeProvider, protocol: Protocol, key: Option<&str>) -> ProviderEndpoint {
    ProviderEndpoint {
        name: "fake".into(),
        protocol,
        base_url: resolve_for(protocol, &fake.root_url()).unwrap(),
        key: key.map(|k| ApiKey::parse(k).unwrap()),
        quirks: Quirks::default(),
    }
}

fn provider(
    fake: &FakeProvider,
    protocol: Protocol,
    key: Option<&str>,
    cfg: NetConfig,
) -> Arc<dyn ChatProvider> {
    orchard_llm::connect(endpoint(fake, protocol, key), http(cfg))
}

fn request(stream: bool) -> ChatRequest {
    ChatRequest {
        model: "fake-small".into(),
        system: Some("Be brief.".into()),
        messages: vec![ChatMessage::text(Role::User, "Say hello")],
        stream,
        ..ChatRequest::default()
    }
}

/// The generation request among what the fake recorded (not a model list).
fn generation(fake: &FakeProvider) -> RecordedRequest {
    fake.requests()
        .into_iter()
        .rev()
        .find(|r| r.method == "POST")
        .expect("a generation request")
}

#[tokio::test]
async fn streamed_and_whole_answers_come_out_as_the_same_events() {
    let fake = FakeProvider::start().await;
    for protocol in ALL {
        for stream in [true, false] {
            fake.push(
                Answer::text(&["Hel", "lo, ", "wörld"])
                    .reasoning(&["Let me ", "think."])
                    .usage(7, 3),
            );
            let p = provider(&fake, protocol, None, NetConfig::default());
            let (events, err) = collect(p.as_ref(), &request(stream)).await;
            let what = format!("{protocol} stream={stream}");
            assert!(err.is_none(), "{what}: {err:?}");
            assert_eq!(text_of(&events), "Hello, wörld", "{what}");
            assert_eq!(thinking_of(&events), "Let me think.", "{what}");
            assert_eq!(finish_of(&events), Some("stop"), "{what}");
            let usage = events.iter().find_map(|e| {
                if let ChatEvent::Usage(u) = e {
                    Some(*u)
                } else {
                    None
                }
            });
            assert_eq!(
                usage.and_then(|u| u.input_tokens),
                Some(7),
                "{what}: {usage:?}"
            );
            assert!(usage.and_then(|u| u.output_tokens).is_some(), "{what}");
            // The system prompt and the turn reached the provider.
            let body = String::from_utf8(generation(&fake).body).unwrap();
            assert!(
                body.contains("Be brief.") && body.contains("Say hello"),
                "{what}: {body}"
            );
        }
    }
}

#[tokio::test]
async fn every_framing_variant_yields_the_same_answer() {
    let fake = FakeProvider::start().await;
    let parts = ["Ünï", "cödé ", "splits ", "😀 across ", "reads"];
    for protocol in ALL {
        let variants = [
            Answer::text(&parts).crlf(),
            Answer::text(&parts).keepalive(),
            Answer::text(&parts).split_every(1),
            Answer::text(&parts).crlf().split_every(3),
        ];
        for (i, v) in variants.into_iter().enumerate() {
            fake.push(v);
            let p = provider(&fake, protocol, None, NetConfig::default());
            let (events, err) = collect(p.as_ref(), &request(true)).await;
            assert!(err.is_none(), "{protocol} variant {i}: {err:?}");
            assert_eq!(text_of(&events), parts.concat(), "{protocol} variant {i}");
        }
    }
}

#[tokio::test]
async fn tools_go_out_as_definitions_and_come_back_as_calls() {
    let fake = FakeProvider::start().await;
    let tool = ToolSpec {
        name: "get_weather".into(),
        description: "Weather for a city".into(),
        parameters: json!({"type": "object", "properties": {"city": {"type": "string"}}}),
    };
    for protocol in ALL {
        for stream in [true, false] {
            fake.push(
                Answer::text(&["Checking."])
                    .tool_call("get_weather", r#"{"city":"Utrecht","days":3}"#),
            );
            let p = provider(&fake, protocol, None, NetConfig::default());
            let req = ChatRequest {
                tools: vec![tool.clone()],
                ..request(stream)
            };
            let (events, err) = collect(p.as_ref(), &req).await;
            let what = format!("{protocol} stream={stream}");
            assert!(err.is_none(), "{what}: {err:?}");
            let start = events.iter().find_map(|e| match e {
                ChatEvent::ToolCallStart { index, id, name } => {
                    Some((*index, id.clone(), name.clone()))
                }
                _ => None,
            });
            let (index, id, name) =
                start.unwrap_or_else(|| panic!("{what}: no tool call in {events:?}"));
            assert_eq!(name, "get_weather", "{what}");
            assert!(!id.is_empty(), "{what}");
            let args: String = events
                .iter()
                .filter_map(|e| match e {
                    ChatEvent::ToolCallArgs { index: i, delta } if *i == index => {
                        Some(delta.as_str())
                    }
                    _ => None,
                })
                .collect();
            let args: Value = serde_json::from_str(&args)
                .unwrap_or_else(|e| panic!("{what}: arguments {args:?}: {e}"));
            assert_eq!(args, json!({"city": "Utrecht", "days": 3}), "{what}");
            assert!(events.contains(&ChatEvent::ToolCallEnd { index }), "{what}");
            assert_eq!(finish_of(&events), Some("tool_calls"), "{what}");
            // The definition went out in the protocol's shape.
            let body = generation(&fake).json();
            let name = match protocol {
                Protocol::OpenAi | Protocol::Azure | Protocol::Ollama => {
                    &body["tools"][0]["function"]["name"]
                }
                Protocol::OpenAiResponses | Protocol::Anthropic => &body["tools"][0]["name"],
                Protocol::Gemini => &body["tools"][0]["functionDeclarations"][0]["name"],
            };
            assert_eq!(name, "get_weather", "{what}: {body}");
        }
    }
}

#[tokio::test]
async fn images_reach_the_provider_in_its_own_form() {
    let fake = FakeProvider::start().await;
    let png = b"\x89PNG\r\n\x1a\nFAKEIMAGE".to_vec();
    for protocol in ALL {
        let p = provider(&fake, protocol, None, NetConfig::default());
        let req = ChatRequest {
            messages: vec![ChatMessage {
                parts: vec![
                    Part::Text("What is this?".into()),
                    Part::Image {
                        media_type: "image/png".into(),
                        data: png.clone(),
                    },
                ],
                ..ChatMessage::text(Role::User, "")
            }],
            ..request(true)
        };
        let (_, err) = collect(p.as_ref(), &req).await;
        assert!(err.is_none(), "{protocol}: {err:?}");
        let body = generation(&fake).json();
        let b64 = "iVBORw0KGgpGQUtFSU1BR0U=";
        let found = match protocol {
            Protocol::OpenAi | Protocol::Azure => {
                body["messages"][1]["content"][1]["image_url"]["url"]
                    == format!("data:image/png;base64,{b64}")
            }
            Protocol::OpenAiResponses => {
                body["input"][0]["content"][1]["image_url"]
                    == format!("data:image/png;base64,{b64}")
            }
            Protocol::Anthropic => body["messages"][0]["content"][1]["source"]["data"] == b64,
            Protocol::Gemini => body["contents"][0]["parts"][1]["inline_data"]["data"] == b64,
            Protocol::Ollama => body["messages"][1]["images"][0] == b64,
        };
        assert!(found, "{protocol}: {body}");
    }
}

#[tokio::test]
async fn p_l2_each_protocol_sends_the_key_only_in_its_own_header() {
    let fake = FakeProvider::start().await;
    fake.require_key(KEY);
    for protocol in ALL {
        let p = provider(&fake, protocol, Some(KEY), NetConfig::default());
        let (_, err) = collect(p.as_ref(), &request(true)).await;
        assert!(err.is_none(), "{protocol}: {err:?}");
        p.models()
            .await
            .unwrap_or_else(|e| panic!("{protocol} models: {e}"));
        let mut sent = 2;
        if let Some(e) = orchard_llm::connect_embedder(
            endpoint(&fake, protocol, Some(KEY)),
            http(NetConfig::default()),
        ) {
            e.embed_batch("fake-embed", &["a passage".to_owned()])
                .await
                .unwrap_or_else(|e| panic!("{protocol} embed: {e}"));
            sent += 1;
        }
        let expected = match protocol {
            Protocol::OpenAi | Protocol::OpenAiResponses | Protocol::Ollama => {
                ("authorization", format!("Bearer {KEY}"))
            }
            Protocol::Anthropic => ("x-api-key", KEY.to_owned()),
            Protocol::Gemini => ("x-goog-api-key", KEY.to_owned()),
            Protocol::Azure => ("api-key", KEY.to_owned()),
        };
        let recorded = fake.requests();
        for r in recorded.iter().rev().take(sent) {
            assert_eq!(
                r.header(expected.0),
                Some(expected.1.as_str()),
                "{protocol} {}: {:?}",
                r.path,
                r.headers
            );
            // Nowhere else: not in the path or query (proxy and server logs), not in
            // the body, not in another header.
            assert!(
                !r.path.contains(KEY) && !r.query.as_deref().unwrap_or("").contains(KEY),
                "{protocol}: {} {:?}",
                r.path,
                r.query
            );
            assert!(
                !String::from_utf8_lossy(&r.body).contains(KEY),
                "{protocol}"
            );
            let elsewhere = r
                .headers
                .iter()
                .filter(|(n, v)| n != expected.0 && v.contains(KEY))
                .count();
            assert_eq!(elsewhere, 0, "{protocol}: {:?}", r.headers);
        }
    }
}

#[tokio::test]
async fn p_l2_a_rejected_key_is_named_by_its_mask_in_every_protocol() {
    let fake = FakeProvider::start().await;
    fake.reject_key(KEY);
    for protocol in ALL.into_iter().filter(|p| *p != Protocol::Ollama) {
        let p = provider(&fake, protocol, Some(KEY), NetConfig::default());
        let (_, err) = collect(p.as_ref(), &request(true)).await;
        let err = err.unwrap_or_else(|| panic!("{protocol}: accepted a rejected key"));
        assert_eq!(err.kind, ProviderErrorKind::BadKey, "{protocol}: {err}");
        let shown = format!("{err} {err:?}");
        assert!(
            !shown.contains(KEY) && !shown.contains(&KEY[..8]),
            "{protocol}: {shown}"
        );
        assert!(err.to_string().contains("sk-…6789"), "{protocol}: {err}");
    }
}

#[tokio::test]
async fn documented_errors_map_to_the_same_kinds_everywhere() {
    let fake = FakeProvider::start().await;
    for protocol in ALL {
        let p = provider(&fake, protocol, None, NetConfig::default());
        let cases: Vec<(ErrorReply, ProviderErrorKind)> = vec![
            (
                ErrorReply::model_not_found("nope"),
                ProviderErrorKind::UnknownModel,
            ),
            (ErrorReply::rate_limited(3), ProviderErrorKind::RateLimited),
            (ErrorReply::server_error(503), ProviderErrorKind::Server),
            (
                ErrorReply::context_length_exceeded(),
                ProviderErrorKind::ContextTooLong,
            ),
            (
                ErrorReply::html(502, "<html><body>Bad gateway</body></html>"),
                ProviderErrorKind::HtmlPage,
            ),
        ];
        for (reply, kind) in cases {
            fake.push(reply);
            let (_, err) = collect(p.as_ref(), &request(true)).await;
            let err = err.unwrap_or_else(|| panic!("{protocol}: expected {kind:?}"));
            assert_eq!(err.kind, kind, "{protocol}: {err}");
            if kind == ProviderErrorKind::RateLimited {
                assert_eq!(
                    err.retry_after,
                    Some(Duration::from_secs(3)),
                    "{protocol}: {err:?}"
                );
            }
        }
        // An unknown model with nothing queued is the provider's own 404.
        let (_, err) = collect(
            p.as_ref(),
            &ChatRequest {
                model: "no-such-model".into(),
                ..request(true)
            },
        )
        .await;
        assert_eq!(
            err.unwrap().kind,
            ProviderErrorKind::UnknownModel,
            "{protocol}"
        );
    }
}

#[tokio::test]
async fn cut_and_failed_streams_keep_what_arrived() {
    let fake = FakeProvider::start().await;
    for protocol in ALL {
        let p = provider(&fake, protocol, None, NetConfig::default());
        fake.push(Answer::text(&["kept ", "part ", "lost"]).cut_after(2));
        let (events, err) = collect(p.as_ref(), &request(true)).await;
        assert_eq!(text_of(&events), "kept part ", "{protocol}");
        assert_eq!(
            err.map(|e| e.kind),
            Some(ProviderErrorKind::StreamCut),
            "{protocol}"
        );

        fake.push(Answer::text(&["a ", "b"]).error_after(1, "Overloaded"));
        let (events, err) = collect(p.as_ref(), &request(true)).await;
        assert_eq!(text_of(&events), "a ", "{protocol}");
        let err = err.unwrap_or_else(|| {
            panic!("{protocol}: a mid-stream error must end the stream with an error")
        });
        assert!(
            matches!(
                err.kind,
                ProviderErrorKind::InStream | ProviderErrorKind::Server
            ),
            "{protocol}: {err:?}"
        );
        assert!(err.to_string().contains("Overloaded"), "{protocol}: {err}");
    }
}

#[tokio::test]
async fn a_stream_that_ends_without_its_final_event_is_judged_by_its_finish() {
    let fake = FakeProvider::start().await;
    for protocol in ALL {
        let p = provider(&fake, protocol, None, NetConfig::default());
        fake.push(Answer::text(&["all ", "there"]).no_done());
        let (events, err) = collect(p.as_ref(), &request(true)).await;
        assert_eq!(text_of(&events), "all there", "{protocol}");
        // Where the finish reason comes before the end marker (OpenAI's `[DONE]`,
        // Anthropic's `message_stop`), nothing is lost; where the last event is the one
        // carrying it (Responses, Gemini, Ollama), the answer is incomplete.
        let finish_came_first = matches!(
            protocol,
            Protocol::OpenAi | Protocol::Azure | Protocol::Anthropic
        );
        if finish_came_first {
            assert_eq!(finish_of(&events), Some("stop"), "{protocol}");
            assert!(err.is_none(), "{protocol}: {err:?}");
        } else {
            assert_eq!(finish_of(&events), None, "{protocol}");
            assert_eq!(
                err.map(|e| e.kind),
                Some(ProviderErrorKind::StreamCut),
                "{protocol}: no finish and no error"
            );
        }
    }
}

#[tokio::test]
async fn slow_providers_time_out_and_dropped_streams_close_the_connection() {
    // Two fakes, so that counting closed streams on one is not muddled by the slow
    // answers still sleeping on the other.
    let slow_fake = FakeProvider::start().await;
    let fake = FakeProvider::start().await;
    for (i, protocol) in ALL.into_iter().enumerate() {
        let slow = provider(
            &slow_fake,
            protocol,
            None,
            NetConfig {
                first_byte_timeout: Duration::from_millis(150),
                ..NetConfig::default()
            },
        );
        slow_fake.push(Answer::text(&["zzz"]).first_byte_delay(Duration::from_secs(30)));
        let (_, err) = collect(slow.as_ref(), &request(true)).await;
        let err = err.unwrap();
        assert_eq!(
            err.kind,
            ProviderErrorKind::Network(NetErrorKind::FirstByteTimeout(Duration::from_millis(150))),
            "{protocol}"
        );

        let p = provider(&fake, protocol, None, NetConfig::default());
        fake.push(Answer::text(&["first ", "second ", "third"]).hang_after(1));
        let mut stream = p.chat(&request(true)).await.unwrap();
        loop {
            match stream.next().await.unwrap().unwrap() {
                ChatEvent::TextDelta(t) if !t.is_empty() => break,
                _ => {}
            }
        }
        drop(stream);
        // The provider sees the client go away: that is what stops generation. The
        // stream is held, never released, so only the client's leaving can end it.
        fake.wait_stream_closed(i + 1).await;
    }
}

#[tokio::test]
async fn every_protocol_lists_models() {
    let fake = FakeProvider::start().await;
    fake.set_models(&["zeta", "alpha", "mid", "omega", "beta"]);
    // Anthropic's and Gemini's lists come in pages; make the fake's pages small.
    fake.set_max_page(2);
    for protocol in ALL {
        let before = fake.requests().len();
        let models = provider(&fake, protocol, None, NetConfig::default())
            .models()
            .await
            .unwrap_or_else(|e| panic!("{protocol}: {e}"));
        assert_eq!(
            models.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
            ["alpha", "beta", "mid", "omega", "zeta"],
            "{protocol}"
        );
        let pages = fake.requests().len() - before;
        let paginated = matches!(protocol, Protocol::Anthropic | Protocol::Gemini);
        assert_eq!(pages, if paginated { 3 } else { 1 }, "{protocol}");
    }
}

#[tokio::test]
async fn anthropic_thinking_comes_with_its_signature_and_the_version_header() {
    let fake = FakeProvider::start().await;
    fake.push(
        Answer::text(&["Hi."])
            .reasoning(&["hmm"])
            .signature("sig-XYZ")
            .keepalive(),
    );
    let p = provider(&fake, Protocol::Anthropic, None, NetConfig::default());
    let req = ChatRequest {
        thinking_budget: Some(2048),
        ..request(true)
    };
    let (events, err) = collect(p.as_ref(), &req).await;
    assert!(err.is_none(), "{err:?}");
    let sig: String = events
        .iter()
        .filter_map(|e| {
            if let ChatEvent::ThinkingSignature(s) = e {
                Some(s.as_str())
            } else {
                None
            }
        })
        .collect();
    assert_eq!(sig, "sig-XYZ");
    let r = generation(&fake);
    assert_eq!(
        r.header("anthropic-version"),
        Some(orchard_llm::constants::ANTHROPIC_VERSION)
    );
    assert_eq!(
        r.json()["thinking"],
        json!({"type": "enabled", "budget_tokens": 2048})
    );
}

#[tokio::test]
async fn gemini_blocks_and_safety_stops_are_reported_as_such() {
    let fake = FakeProvider::start().await;
    let p = provider(&fake, Protocol::Gemini, None, NetConfig::default());
    fake.push(Answer::text(&[]).blocked("SAFETY"));
    let (_, err) = collect(p.as_ref(), &request(true)).await;
    let err = err.unwrap();
    assert_eq!(err.kind, ProviderErrorKind::Blocked);
    assert!(
        err.to_string().contains("blocked the prompt") && err.to_string().contains("SAFETY"),
        "{err}"
    );
    fake.push(Answer::text(&["Some ", "text"]).finish("safety"));
    let (events, err) = collect(p.as_ref(), &request(true)).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(finish_of(&events), Some("safety"));
}

#[tokio::test]
async fn the_responses_api_is_asked_not_to_store_the_conversation() {
    let fake = FakeProvider::start().await;
    let p = provider(&fake, Protocol::OpenAiResponses, None, NetConfig::default());
    let (_, err) = collect(
        p.as_ref(),
        &ChatRequest {
            thinking_budget: Some(4096),
            ..request(true)
        },
    )
    .await;
    assert!(err.is_none(), "{err:?}");
    let body = generation(&fake).json();
    assert_eq!(body["store"], false);
    assert_eq!(body["reasoning"]["summary"], "auto");
}

#[tokio::test]
async fn azure_uses_deployment_urls_and_an_api_version() {
    let fake = FakeProvider::start().await;
    let p = provider(&fake, Protocol::Azure, None, NetConfig::default());
    let (_, err) = collect(p.as_ref(), &request(true)).await;
    assert!(err.is_none(), "{err:?}");
    let r = generation(&fake);
    assert_eq!(r.path, "/openai/deployments/fake-small/chat/completions");
    assert_eq!(
        r.query.as_deref(),
        Some(format!("api-version={}", orchard_llm::constants::AZURE_API_VERSION).as_str())
    );
}

#[tokio::test]
async fn embeddings_are_batched_sized_and_wait_out_rate_limits() {
    let fake = FakeProvider::start().await;
    fake.set_embedding_dims(5);
    fake.set_max_batch(3);
    let inputs: Vec<String> = (0..7).map(|i| format!("passage number {i}")).collect();
    for protocol in [Protocol::OpenAi, Protocol::Gemini, Protocol::Ollama] {
        let e = orchard_llm::connect_embedder(
            endpoint(&fake, protocol, None),
            http(NetConfig::default()),
        )
        .unwrap();
        let before = fake.requests().len();
        let opts = EmbedOptions {
            batch_size: Some(3),
            ..EmbedOptions::default()
        };
        let set = orchard_llm::embed_all(e.as_ref(), "fake-embed", &inputs, opts)
            .await
            .unwrap_or_else(|err| panic!("{protocol}: {err}"));
        assert_eq!((set.vectors.len(), set.dimensions), (7, 5), "{protocol}");
        assert_eq!(
            fake.requests().len() - before,
            3,
            "{protocol}: 7 inputs in batches of 3"
        );
        // Deterministic per text, different across texts.
        assert_ne!(set.vectors[0], set.vectors[1], "{protocol}");
        let again = orchard_llm::embed_all(e.as_ref(), "fake-embed", &inputs[..1], opts)
            .await
            .unwrap();
        assert_eq!(again.vectors[0], set.vectors[0], "{protocol}");
        // A batch over the provider's limit is the provider's error, not silence.
        let too_many = EmbedOptions {
            batch_size: Some(10),
            ..opts
        };
        assert!(
            orchard_llm::embed_all(e.as_ref(), "fake-embed", &inputs, too_many)
                .await
                .is_err(),
            "{protocol}"
        );
    }
    // Rate limits are waited out.
    let e = orchard_llm::connect_embedder(
        endpoint(&fake, Protocol::OpenAi, None),
        http(NetConfig::default()),
    )
    .unwrap();
    fake.push(ErrorReply::rate_limited(1));
    let set = orchard_llm::embed_all(
        e.as_ref(),
        "fake-embed",
        &inputs[..2],
        EmbedOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(set.vectors.len(), 2);
    assert!(
        orchard_llm::connect_embedder(
            endpoint(&fake, Protocol::Anthropic, None),
            http(NetConfig::default())
        )
        .is_none()
    );
}

/// One good frame with the text "partial ", then a frame that is not JSON, in each
/// protocol's own framing.
fn stream_with_a_broken_event(protocol: Protocol) -> ErrorReply {
    let (body, content_type) = match protocol {
        Protocol::OpenAi | Protocol::Azure => (
            "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"fake-small\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"partial \"},\"finish_reason\":null}]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"lost\n\n",
            "text/event-stream",
        ),
        Protocol::OpenAiResponses => (
            "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"delta\":\"partial \"}\n\nevent: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"lost\n\n",
            "text/event-stream",
        ),
        Protocol::Anthropic => (
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"fake-small\",\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"partial \"}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"lost\n\n",
            "text/event-stream",
        ),
        Protocol::Gemini => (
            "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"partial \"}],\"role\":\"model\"},\"index\":0}]}\r\n\r\ndata: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"lost\r\n\r\n",
            "text/event-stream",
        ),
        Protocol::Ollama => (
            "{\"model\":\"fake-small\",\"created_at\":\"2026-11-23T10:00:00Z\",\"message\":{\"role\":\"assistant\",\"content\":\"partial \"},\"done\":false}\n{\"model\":\"fake-small\",\"message\":{\"content\":\"lost\n",
            "application/x-ndjson",
        ),
    };
    ErrorReply {
        content_type: content_type.into(),
        ..ErrorReply::custom(200, body)
    }
}

#[tokio::test]
async fn a_malformed_stream_event_ends_the_stream_naming_the_provider_and_keeps_the_text() {
    let fake = FakeProvider::start().await;
    for protocol in ALL {
        let p = provider(&fake, protocol, None, NetConfig::default());
        fake.push(stream_with_a_broken_event(protocol));
        let mut stream = p
            .chat(&request(true))
            .await
            .unwrap_or_else(|e| panic!("{protocol}: {e}"));
        let mut events = Vec::new();
        let err = loop {
            match stream.next().await {
                Some(Ok(ev)) => events.push(ev),
                Some(Err(e)) => break e,
                None => panic!("{protocol}: the stream ended without an error"),
            }
        };
        assert_eq!(
            text_of(&events),
            "partial ",
            "{protocol}: what arrived before is delivered"
        );
        assert_eq!(err.kind, ProviderErrorKind::Protocol, "{protocol}: {err:?}");
        let shown = err.to_string();
        assert!(
            shown.contains("fake") && shown.contains("not valid JSON"),
            "{protocol}: {shown}"
        );
        // Nothing follows the error: the stream is closed.
        assert!(stream.next().await.is_none(), "{protocol}");
    }
}
