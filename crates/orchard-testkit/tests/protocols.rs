//! What every protocol shares: key handling, protocol-neutral errors and
//! stream endings, checked the same way in each protocol.

mod common;

use common::{Client, Response, post, roundtrip};
use orchard_testkit::{Answer, ErrorReply, FakeProvider};
use serde_json::json;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum P {
    OpenAi,
    Responses,
    Anthropic,
    Gemini,
    GeminiQuery,
    Ollama,
    Azure,
}

const ALL: [P; 7] = [
    P::OpenAi,
    P::Responses,
    P::Anthropic,
    P::Gemini,
    P::GeminiQuery,
    P::Ollama,
    P::Azure,
];

/// A generation request in protocol `p`, with `key` sent its way.
fn generation(p: P, key: Option<&str>, stream: bool) -> Vec<u8> {
    let bearer = key.map(|k| format!("Bearer {k}"));
    let messages = json!([{"role": "user", "content": "hi"}]);
    match p {
        P::OpenAi => {
            let headers: Vec<(&str, &str)> = bearer
                .iter()
                .map(|b| ("authorization", b.as_str()))
                .collect();
            post(
                "/v1/chat/completions",
                &headers,
                &json!({"model": "fake-small", "stream": stream, "messages": messages}),
            )
        }
        P::Responses => {
            let headers: Vec<(&str, &str)> = bearer
                .iter()
                .map(|b| ("authorization", b.as_str()))
                .collect();
            post(
                "/v1/responses",
                &headers,
                &json!({"model": "fake-small", "stream": stream, "input": "hi"}),
            )
        }
        P::Anthropic => {
            let mut headers = vec![("anthropic-version", "2023-06-01")];
            headers.extend(key.map(|k| ("x-api-key", k)));
            post(
                "/v1/messages",
                &headers,
                &json!({"model": "fake-small", "max_tokens": 10, "stream": stream, "messages": messages}),
            )
        }
        P::Gemini | P::GeminiQuery => {
            let method = if stream {
                "streamGenerateContent?alt=sse"
            } else {
                "generateContent"
            };
            let mut path = format!("/v1beta/models/fake-small:{method}");
            let mut headers = Vec::new();
            match (p, key) {
                (P::GeminiQuery, Some(k)) => {
                    path.push(if stream { '&' } else { '?' });
                    path.push_str(&format!("key={k}"));
                }
                (_, Some(k)) => headers.push(("x-goog-api-key", k)),
                _ => {}
            }
            post(
                &path,
                &headers,
                &json!({"contents": [{"parts": [{"text": "hi"}]}]}),
            )
        }
        P::Ollama => {
            let headers: Vec<(&str, &str)> = bearer
                .iter()
                .map(|b| ("authorization", b.as_str()))
                .collect();
            post(
                "/api/chat",
                &headers,
                &json!({"model": "fake-small", "stream": stream, "messages": messages}),
            )
        }
        P::Azure => {
            let headers: Vec<(&str, &str)> = key.map(|k| ("api-key", k)).into_iter().collect();
            post(
                "/openai/deployments/fake-small/chat/completions?api-version=2024-10-21",
                &headers,
                &json!({"stream": stream, "messages": messages}),
            )
        }
    }
}

/// One generation request in `proto` on a new connection.
async fn send(p: &FakeProvider, proto: P, key: Option<&str>) -> Response {
    roundtrip(p.addr(), &generation(proto, key, false)).await
}

#[tokio::test]
async fn key_rules_apply_to_every_protocol() {
    let p = FakeProvider::start().await;
    p.accept_keys(&["good", "also-good"]);
    p.reject_key("revoked");
    p.rate_limit_key("busy", 9);
    for proto in ALL {
        let status = |r: &Response| r.status;
        let get = |key: Option<&'static str>| send(&p, proto, key);
        assert_eq!(status(&get(Some("good")).await), 200, "{proto:?} good");
        assert_eq!(
            status(&get(Some("also-good")).await),
            200,
            "{proto:?} also-good"
        );
        let (missing, wrong) = match proto {
            P::Gemini | P::GeminiQuery => (403, 400),
            _ => (401, 401),
        };
        assert_eq!(status(&get(None).await), missing, "{proto:?} missing");
        assert_eq!(status(&get(Some("wrong")).await), wrong, "{proto:?} wrong");
        assert_eq!(
            status(&get(Some("revoked")).await),
            wrong,
            "{proto:?} revoked"
        );
        let busy = get(Some("busy")).await;
        assert_eq!(busy.status, 429, "{proto:?} busy");
        let retry_after = match proto {
            // Gemini sends the delay only in the body.
            P::Gemini | P::GeminiQuery => None,
            _ => Some("9"),
        };
        assert_eq!(busy.header("retry-after"), retry_after, "{proto:?}");
    }
    // Failed key checks do not consume queued replies.
    p.push(Answer::text(&["kept"]));
    let denied = roundtrip(p.addr(), &generation(P::OpenAi, Some("wrong"), false)).await;
    assert_eq!(denied.status, 401);
    let ok = roundtrip(p.addr(), &generation(P::OpenAi, Some("good"), false)).await;
    assert_eq!(ok.json()["choices"][0]["message"]["content"], "kept");
}

#[tokio::test]
async fn reject_and_rate_limit_work_without_accept_keys() {
    let p = FakeProvider::start().await;
    p.reject_key("revoked");
    p.rate_limit_key("busy", 3);
    p.rate_limit_key("busy", 4);
    for proto in [P::OpenAi, P::Anthropic, P::Gemini, P::Azure] {
        let get = |key: Option<&'static str>| send(&p, proto, key);
        assert_eq!(get(None).await.status, 200, "{proto:?}: any key by default");
        assert_eq!(get(Some("anything")).await.status, 200, "{proto:?}");
        assert_ne!(get(Some("revoked")).await.status, 200, "{proto:?}");
        assert_eq!(get(Some("busy")).await.status, 429, "{proto:?}");
    }
    let busy = roundtrip(p.addr(), &generation(P::OpenAi, Some("busy"), false)).await;
    assert_eq!(
        busy.header("retry-after"),
        Some("4"),
        "the latest delay wins"
    );
}

#[tokio::test]
async fn neutral_errors_render_per_protocol() {
    let p = FakeProvider::start().await;
    // (reply, [OpenAI, Responses, Anthropic, Gemini, GeminiQuery, Ollama, Azure] statuses)
    let table: Vec<(ErrorReply, [u16; 7])> = vec![
        (
            ErrorReply::invalid_api_key(),
            [401, 401, 401, 400, 400, 401, 401],
        ),
        (ErrorReply::model_not_found("m"), [404; 7]),
        (ErrorReply::context_length_exceeded(), [400; 7]),
        (ErrorReply::rate_limited(5), [429; 7]),
        (ErrorReply::server_error(503), [503; 7]),
        (ErrorReply::server_error(529), [529; 7]),
    ];
    for (reply, statuses) in table {
        for (proto, status) in ALL.iter().zip(statuses) {
            p.push(reply.clone().header("x-scripted", "yes"));
            let resp = roundtrip(p.addr(), &generation(*proto, None, true)).await;
            assert_eq!(resp.status, status, "{proto:?} {reply:?}");
            assert_eq!(resp.header("x-scripted"), Some("yes"));
            let v = resp.json();
            let shaped = match proto {
                P::OpenAi | P::Responses => v["error"]["message"].is_string(),
                P::Anthropic => v["type"] == "error" && v["error"]["type"].is_string(),
                P::Gemini | P::GeminiQuery => {
                    v["error"]["code"] == status && v["error"]["status"].is_string()
                }
                P::Ollama => v["error"].is_string(),
                P::Azure => v["error"]["message"].is_string(),
            };
            assert!(shaped, "{proto:?}: {v}");
        }
    }
    // HTML and custom replies go out as given everywhere.
    for proto in ALL {
        p.push(ErrorReply::html(502, "<html>bad gateway</html>"));
        let resp = roundtrip(p.addr(), &generation(proto, None, false)).await;
        assert_eq!(resp.status, 502);
        assert_eq!(resp.header("content-type"), Some("text/html"));
        assert_eq!(resp.text(), "<html>bad gateway</html>");
    }
}

/// Whether a streamed body in `proto` contains its final event.
fn has_final_event(proto: P, text: &str) -> bool {
    match proto {
        P::OpenAi | P::Azure => text.contains("data: [DONE]"),
        P::Responses => text.contains("event: response.completed"),
        P::Anthropic => text.contains("event: message_stop"),
        P::Gemini | P::GeminiQuery => text.contains("finishReason"),
        P::Ollama => text.contains("\"done\":true"),
    }
}

#[tokio::test]
async fn stream_endings_in_every_protocol() {
    let p = FakeProvider::start().await;
    for proto in ALL {
        // Cut: no terminating chunk, first piece there, second not.
        p.push(Answer::text(&["first-piece", "second-piece"]).cut_after(1));
        let mut c = Client::connect(p.addr()).await;
        c.send(&generation(proto, None, true)).await;
        let mut resp = c.read_head().await;
        c.read_chunked_rest(&mut resp).await;
        let text = resp.text();
        assert!(!resp.complete, "{proto:?}: cut");
        assert!(
            text.contains("first-piece") && !text.contains("second-piece"),
            "{proto:?}: {text}"
        );
        assert!(!has_final_event(proto, &text), "{proto:?}");

        // Hang, then release: the stream finishes normally. (A fresh
        // provider each time: release() is for good.)
        let p = FakeProvider::start().await;
        p.push(Answer::text(&["before", "after"]).hang_after(1));
        let mut c = Client::connect(p.addr()).await;
        c.send(&generation(proto, None, true)).await;
        let mut resp = c.read_head().await;
        c.read_chunks_until(&mut resp, "before").await;
        assert!(!String::from_utf8_lossy(&resp.body).contains("after"));
        p.release();
        c.read_chunked_rest(&mut resp).await;
        assert!(resp.complete, "{proto:?}: released");
        assert!(has_final_event(proto, &resp.text()), "{proto:?}");
    }
}

#[tokio::test]
async fn no_done_crlf_and_split_in_every_protocol() {
    let p = FakeProvider::start().await;
    for proto in ALL {
        p.push(Answer::text(&["héllo ", "wörld"]).no_done());
        let mut c = Client::connect(p.addr()).await;
        let resp = c.roundtrip(&generation(proto, None, true)).await;
        assert!(resp.complete, "{proto:?}");
        let text = resp.text();
        assert!(text.contains("wörld"), "{proto:?}");
        assert!(!has_final_event(proto, &text) || proto == P::Gemini || proto == P::GeminiQuery);
        if matches!(proto, P::Gemini | P::GeminiQuery) {
            assert!(
                !text.contains("finishReason"),
                "{proto:?}: final chunk left out"
            );
        }
        assert!(c.at_eof().await, "{proto:?}: closes after NoDone");

        p.push(Answer::text(&["héllo ", "wörld"]).crlf().split_every(3));
        let resp = roundtrip(p.addr(), &generation(proto, None, true)).await;
        assert!(resp.complete, "{proto:?}");
        assert!(resp.chunks.iter().all(|c| c.len() <= 3), "{proto:?}");
        let text = resp.text();
        let bare_lf = text
            .char_indices()
            .filter(|(i, ch)| *ch == '\n' && (*i == 0 || text.as_bytes()[i - 1] != b'\r'))
            .count();
        assert_eq!(bare_lf, 0, "{proto:?}: CRLF only: {text:?}");
        assert!(has_final_event(proto, &text), "{proto:?}");
    }
    p.wait_stream_closed(ALL.len() * 2).await;
}
