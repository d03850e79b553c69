//! The studio's JSON API and live answers, over real HTTP on loopback, against a real
//! SQLite file and the fake provider.

mod common;

use std::collections::BTreeSet;

use common::{Studio, eventually};
use orchard_core::capabilities::CapabilityOverride;
use orchard_testkit::{Answer, ErrorReply};
use serde_json::{Value, json};

fn id(v: &Value) -> i64 {
    v.as_i64().unwrap_or_else(|| panic!("not an id: {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_and_the_routes_do_not_drift_apart() {
    let doc: Value =
        serde_json::from_str(orchard_server::api::OPENAPI).expect("docs/openapi.json is JSON");
    let mut documented = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let served: BTreeSet<(String, String)> = orchard_server::api::route_list()
        .into_iter()
        .map(|(m, p)| (m.to_string(), p.to_owned()))
        .collect();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty() && unserved.is_empty(),
        "routes missing from docs/openapi.json: {undocumented:?}; documented but not served: {unserved:?}"
    );

    // And the router really serves each documented route: a request reaches a handler
    // (whatever it answers), never the "no such route" fallback or a 405.
    let studio = Studio::start().await;
    let tab = studio.tab().await;
    for (method, path) in &documented {
        let concrete = path
            .replace("{id}", "999999")
            .replace("{doc}", "999999")
            .replace("{chunk}", "999999")
            .replace("{name}", "nobody")
            .replace("{mask}", "x")
            .replace("{model}", "m");
        let r = tab
            .raw(
                method,
                &concrete,
                Some(b"{}"),
                &[("content-type", "application/json")],
            )
            .await;
        assert_ne!(r.status, 405, "{method} {path}");
        if r.status == 404 {
            assert_ne!(r.code(), "no_route", "{method} {path} is not routed");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_need_the_pages_csrf_token_and_a_local_host_name() {
    let studio = Studio::start().await;
    let tab = studio.tab().await;
    let body = json!({"text": "hi", "models": ["fake:fake-small"]});

    let mut forged = tab.clone();
    forged.csrf = None;
    let r = forged.post("/api/v1/chat", &body).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (403, "csrf_failed"),
        "{}",
        r.body
    );

    forged.csrf = Some("0".repeat(64));
    assert_eq!(forged.post("/api/v1/chat", &body).await.status, 403);

    // A token belongs to its session: another session's token does not work.
    let other = studio.tab().await;
    let mut mixed = tab.clone();
    mixed.csrf = other.csrf.clone();
    assert_eq!(mixed.post("/api/v1/chat", &body).await.status, 403);

    // Requests the framework refuses still get the one error format.
    let r = tab
        .raw(
            "POST",
            "/api/v1/chat",
            Some(b"{not json"),
            &[("content-type", "application/json")],
        )
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "invalid_input"),
        "{}",
        r.body
    );
    let r = tab.get("/api/v1/topics/not-a-number").await;
    assert_eq!(r.code(), "invalid_input", "{}", r.body);
    let r = tab
        .raw(
            "POST",
            "/api/v1/chat",
            Some(b"{}"),
            &[("content-type", "text/plain")],
        )
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (415, "unsupported_media_type"),
        "{}",
        r.body
    );

    // DNS rebinding: a foreign host name is refused, even for reads.
    let r = tab
        .raw("GET", "/api/v1/topics", None, &[("host", "evil.example")])
        .await;
    assert_eq!((r.status, r.code().as_str()), (421, "host_refused"));

    // Nothing was stored by the refused requests.
    assert!(
        tab.get("/api/v1/topics")
            .await
            .json()
            .as_array()
            .unwrap()
            .is_empty()
    );
    // The session cookie is HttpOnly and SameSite=Strict.
    let mut anonymous = tab.clone();
    anonymous.cookie = None;
    let first = anonymous.get("/").await;
    let cookie = first.header("set-cookie").unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let csp = first.header("content-security-policy").unwrap();
    assert!(
        csp.starts_with("default-src 'self'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"), "{csp}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_streams_over_sse_and_is_stored() {
    let studio = Studio::start().await;
    let tab = studio.tab().await;
    studio
        .fake
        .push(Answer::text(&["Hello ", "**world**"]).reasoning(&["Let me ", "think."]));
    let started = tab
        .chat(json!({"text": "Say hello", "models": ["fake:fake-small"]}))
        .await;
    let reply = id(&started["reply_ids"][0]);
    assert!(started["html"].as_str().unwrap().contains("Say hello"));

    let mut events = tab.events(reply).await;
    let (_, done) = events.until_done().await;
    let html = done["html"].as_str().unwrap();
    assert!(html.contains("Hello <strong>world</strong>"), "{html}");
    assert!(
        html.contains("class=\"thinking\""),
        "thinking is shown collapsed: {html}"
    );
    assert!(html.contains("data-status=\"done\""), "{html}");

    let m = tab.get(&format!("/api/v1/messages/{reply}")).await.json();
    assert_eq!(m["message"]["status"], "done");
    assert_eq!(m["message"]["blocks"][1]["content"], "Hello **world**");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_finishes_and_is_stored_when_every_tab_is_closed() {
    let studio = Studio::start().await;
    let tab = studio.tab().await;
    studio
        .fake
        .push(Answer::text(&["first ", "second"]).hang_after(1));
    let started = tab
        .chat(json!({"text": "go", "models": ["fake:fake-small"]}))
        .await;
    let reply = id(&started["reply_ids"][0]);
    {
        // A tab watches, then closes.
        let mut events = tab.events(reply).await;
        events.until_text("first").await;
    }
    studio.fake.release();
    let status = eventually("the answer to be stored", || {
        let tab = tab.clone();
        async move {
            let m = tab.get(&format!("/api/v1/messages/{reply}")).await.json();
            (m["message"]["status"] != "pending" && m["message"]["status"] != "streaming")
                .then(|| m["message"].clone())
        }
    })
    .await;
    assert_eq!(status["status"], "done");
    assert_eq!(status["blocks"][0]["content"], "first second");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_tab_reattaches_mid_answer_and_stops_it() {
    let studio = Studio::start().await;
    let first = studio.tab().await;
    studio
        .fake
        .push(Answer::text(&["kept ", "never sent"]).hang_after(1));
    let started = first
        .chat(json!({"text": "go", "models": ["fake:fake-small"]}))
        .await;
    let reply = id(&started["reply_ids"][0]);
    let mut a = first.events(reply).await;
    a.until_text("kept").await;

    // A reload or a second tab: a new session, the same answer, from what arrived.
    let second = studio.tab().await;
    let page = second
        .get(&format!("/t/{}", id(&started["topic_id"])))
        .await;
    assert!(
        page.body.contains("data-status=\"streaming\""),
        "the page shows the answer as live"
    );
    // The first event a late subscriber gets already holds everything so far.
    let mut b = second.events(reply).await;
    let (name, update) = b.next().await.unwrap();
    assert_eq!(name, "update");
    assert!(
        update["html"].as_str().unwrap().contains("kept"),
        "{update}"
    );

    // Stop works from the second tab, and both tabs see the end.
    let r = second
        .post(&format!("/api/v1/messages/{reply}/stop"), &json!({}))
        .await;
    assert_eq!(r.json()["stopped"], true);
    let (_, done_b) = b.until_done().await;
    let (_, done_a) = a.until_done().await;
    for done in [done_a, done_b] {
        let html = done["html"].as_str().unwrap();
        assert!(
            html.contains("data-status=\"cancelled\"") && html.contains("kept"),
            "{html}"
        );
    }
    let m = first.get(&format!("/api/v1/messages/{reply}")).await.json();
    assert_eq!(m["message"]["status"], "cancelled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regenerate_edit_and_switch_make_and_walk_branches() {
    let studio = Studio::start().await;
    let tab = studio.tab().await;
    let started = tab
        .chat(json!({"text": "one", "models": ["fake:fake-small"]}))
        .await;
    let topic = id(&started["topic_id"]);
    let question = id(&started["question_id"]);
    let first_reply = id(&started["reply_ids"][0]);
    tab.events(first_reply).await.until_done().await;

    // Regenerate: a sibling reply.
    let again = tab
        .post(
            &format!("/api/v1/messages/{first_reply}/regenerate"),
            &json!({}),
        )
        .await
        .json();
    let second_reply = id(&again["reply_ids"][0]);
    let (_, done) = tab.events(second_reply).await.until_done().await;
    assert!(
        done["html"].as_str().unwrap().contains("2/2"),
        "{}",
        done["html"]
    );
    let m = tab
        .get(&format!("/api/v1/messages/{second_reply}"))
        .await
        .json();
    assert_eq!(m["message"]["parent_id"], question);
    assert_eq!(m["siblings"], json!([first_reply, second_reply]));

    // Switch back to the first answer: the page shows it, as version 1 of 2.
    let r = tab
        .post(
            &format!("/api/v1/messages/{first_reply}/switch"),
            &json!({}),
        )
        .await;
    assert_eq!(id(&r.json()["leaf"]), first_reply);
    let page = tab
        .get(&format!("/api/v1/topics/{topic}/messages"))
        .await
        .json();
    let ids: Vec<i64> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| id(&e["message"]["id"]))
        .collect();
    assert_eq!(ids, [question, first_reply]);
    assert!(page["html"].as_str().unwrap().contains("1/2"));

    // Edit the question: a new branch beside the old one, answered.
    let edited = tab
        .post(
            &format!("/api/v1/messages/{question}/edit"),
            &json!({"text": "two"}),
        )
        .await
        .json();
    let new_question = id(&edited["question_id"]);
    tab.finish(&edited).await;
    let q = tab
        .get(&format!("/api/v1/messages/{new_question}"))
        .await
        .json();
    assert_eq!(q["siblings"], json!([question, new_question]));
    let page = tab
        .get(&format!("/api/v1/topics/{topic}/messages"))
        .await
        .json();
    let texts: Vec<String> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["message"]["blocks"][0]["content"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(texts, ["two", "echo: two"]);
    // The model saw only the edited branch.
    let last = studio.fake.requests().last().unwrap().json();
    assert_eq!(last["messages"].as_array().unwrap().len(), 1, "{last}");

    // Delete the new branch: the old one becomes current again.
    let r = tab
        .raw(
            "DELETE",
            &format!("/api/v1/messages/{new_question}"),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let page = tab
        .get(&format!("/api/v1/topics/{topic}/messages"))
        .await
        .json();
    assert_eq!(id(&page["messages"][0]["message"]["id"]), question);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_models_answer_as_siblings_side_by_side() {
    let studio = Studio::start().await;
    let tab = studio.tab().await;
    let started = tab
        .chat(json!({"text": "compare", "models": ["fake:fake-small", "fake:fake-large"]}))
        .await;
    let replies: Vec<i64> = started["reply_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(id)
        .collect();
    assert_eq!(replies.len(), 2);
    assert!(
        started["html"]
            .as_str()
            .unwrap()
            .contains("replies multi n2")
    );
    for r in &replies {
        let (_, done) = tab.events(*r).await.until_done().await;
        assert!(done["html"].as_str().unwrap().contains("echo: compare"));
    }
    let a = tab
        .get(&format!("/api/v1/messages/{}", replies[0]))
        .await
        .json();
    let b = tab
        .get(&format!("/api/v1/messages/{}", replies[1]))
        .await
        .json();
    assert_eq!(a["siblings"], json!(replies));
    assert_eq!(a["message"]["model"]["model_id"], "fake-small");
    assert_eq!(b["message"]["model"]["model_id"], "fake-large");
    let models: BTreeSet<String> = studio
        .fake
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/chat/completions"))
        .map(|r| r.json()["model"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        models,
        BTreeSet::from(["fake-small".into(), "fake-large".into()])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tabs_sending_at_once_on_one_topic_make_two_branches() {
    let studio = Studio::start().await;
    let tab = studio.tab().await;
    let started = tab
        .chat(json!({"text": "start", "models": ["fake:fake-small"]}))
        .await;
    let topic = id(&started["topic_id"]);
    let leaf = id(&started["reply_ids"][0]);
    tab.events(leaf).await.until_done().await;

    // Both tabs show the same leaf and send at the same moment.
    let other = studio.tab().await;
    let send = |t: common::Tab, text: &'static str| async move {
        t.chat(json!({"topic_id": topic, "parent_id": leaf, "text": text, "models": ["fake:fake-small"]}))
            .await
    };
    let (a, b) = tokio::join!(send(tab.clone(), "from A"), send(other.clone(), "from B"));
    for s in [&a, &b] {
        tab.finish(s).await;
    }
    let qa = tab
        .get(&format!("/api/v1/messages/{}", id(&a["question_id"])))
        .await
        .json();
    let qb = tab
        .get(&format!("/api/v1/messages/{}", id(&b["question_id"])))
        .await
        .json();
    // Siblings under the shared leaf: neither question ended up in the other's branch.
    assert_eq!(qa["message"]["parent_id"], leaf);
    assert_eq!(qb["message"]["parent_id"], leaf);
    assert_eq!(qa["siblings"].as_array().unwrap().len(), 2);
    for r in studio.fake.requests().iter().skip(1) {
        let body = r.json();
        let texts: Vec<&str> = body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["content"].as_str())
            .collect();
        assert!(
            !(texts.contains(&"from A") && texts.contains(&"from B")),
            "a request mixed both tabs' questions: {texts:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_fails_mid_answer_keeps_the_text_shows_the_error_and_retry_works() {
    let studio = Studio::start().await;
    let tab = studio.tab().await;
    studio
        .fake
        .push(Answer::text(&["partial ", "lost"]).cut_after(1));
    let started = tab
        .chat(json!({"text": "go", "models": ["fake:fake-small"]}))
        .await;
    let reply = id(&started["reply_ids"][0]);
    let (_, done) = tab.events(reply).await.until_done().await;
    let html = done["html"].as_str().unwrap();
    assert!(html.contains("data-status=\"error\""), "{html}");
    assert!(html.contains("partial"), "the text so far is kept: {html}");
    assert!(
        html.contains("role=\"alert\"") && html.contains("data-act=\"regenerate\""),
        "{html}"
    );

    let retry = tab
        .post(&format!("/api/v1/messages/{reply}/regenerate"), &json!({}))
        .await
        .json();
    let (_, done) = tab
        .events(id(&retry["reply_ids"][0]))
        .await
        .until_done()
        .await;
    assert!(done["html"].as_str().unwrap().contains("echo: go"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_happen_before_anything_is_stored_with_a_message_that_names_the_problem() {
    let studio = Studio::start().await;
    let tab = studio.tab().await;
    studio
        .app
        .set_capabilities(
            "fake",
            "fake-small",
            &CapabilityOverride {
                context: Some(1000),
                ..CapabilityOverride::default()
            },
        )
        .await
        .unwrap();
    let huge = "word ".repeat(2000);
    let r = tab
        .post(
            "/api/v1/chat",
            &json!({"text": huge, "models": ["fake:fake-small"]}),
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (400, "message_too_long"));
    let msg = r.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        msg.contains("1000 tokens") && msg.contains("fake-small"),
        "{msg}"
    );

    // A provider's own refusal of a long context is shown with its words.
    studio.fake.push(ErrorReply::context_length_exceeded());
    let started = tab
        .chat(json!({"text": "long", "models": ["fake:fake-large"]}))
        .await;
    let (_, done) = tab
        .events(id(&started["reply_ids"][0]))
        .await
        .until_done()
        .await;
    assert!(
        done["html"].as_str().unwrap().contains("8192"),
        "{}",
        done["html"]
    );

    // An image for a model that cannot see is refused, naming the model.
    let png = base64_png();
    let r = tab
        .post(
            "/api/v1/chat",
            &json!({"text": "look", "models": ["fake:fake-small"], "attachments": [{"name": "a.png", "data": png}]}),
        )
        .await;
    assert_eq!(r.code(), "model_lacks_capability", "{}", r.body);
    assert!(r.body.contains("fake-small"));
    let topics = tab.get("/api/v1/topics").await.json();
    assert_eq!(
        topics.as_array().unwrap().len(),
        1,
        "only the provider-refused topic"
    );
}

fn base64_png() -> String {
    use base64::Engine;
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend_from_slice(&[0; 32]);
    base64::engine::general_purpose::STANDARD.encode(png)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_files_are_extracted_and_sent_with_the_question() {
    use base64::Engine;
    let studio = Studio::start().await;
    let tab = studio.tab().await;
    let code = "fn main() {\n    println!(\"secret sauce\");\n}\n";
    let started = tab
        .chat(json!({
            "text": "explain this",
            "models": ["fake:fake-small"],
            "attachments": [{"name": "main.rs", "data": base64::engine::general_purpose::STANDARD.encode(code)}]
        }))
        .await;
    tab.finish(&started).await;
    let sent = studio.fake.requests().last().unwrap().json().to_string();
    assert!(
        sent.contains("secret sauce") && sent.contains("main.rs"),
        "{sent}"
    );
    assert!(started["html"].as_str().unwrap().contains("main.rs"));

    // A binary file is refused with a reason.
    let r = tab
        .post(
            "/api/v1/chat",
            &json!({"text": "x", "models": ["fake:fake-small"],
                    "attachments": [{"name": "notes.txt", "data": base64::engine::general_purpose::STANDARD.encode([0u8, 1, 2, 0, 255, 0, 7, 0])}]}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("notes.txt"), "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assistants_divider_and_context_count_shape_what_the_model_receives() {
    let studio = Studio::start().await;
    let tab = studio.tab().await;
    let providers = tab.get("/api/v1/providers").await.json();
    let provider_id = id(&providers[0]["id"]);
    let a = tab
        .post(
            "/api/v1/assistants",
            &json!({"name": "Terse", "emoji": "🌱", "system_prompt": "Answer briefly.",
                    "model": {"provider_id": provider_id, "model_id": "fake-large"},
                    "temperature": 0.3, "context_count": 2}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let assistant = id(&a.json()["id"]);
    let bad = tab
        .post(
            "/api/v1/assistants",
            &json!({"name": "Hot", "temperature": 5}),
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("temperature"));

    // No model given: the assistant's default model answers, with its prompt.
    let started = tab
        .chat(json!({"text": "q1", "assistant_id": assistant}))
        .await;
    let topic = id(&started["topic_id"]);
    tab.finish(&started).await;
    let req = studio.fake.requests().last().unwrap().json();
    assert_eq!(req["model"], "fake-large");
    assert_eq!(req["temperature"], 0.3);
    assert_eq!(req["messages"][0]["role"], "system");
    assert_eq!(req["messages"][0]["content"], "Answer briefly.");
    for q in ["q2", "q3"] {
        let s = tab.chat(json!({"topic_id": topic, "text": q})).await;
        tab.finish(&s).await;
    }
    // Context count 2: the question and two messages before it.
    let req = studio.fake.requests().last().unwrap().json();
    let sent: Vec<&str> = req["messages"]
        .as_array()
        .unwrap()
        .iter()
        .skip(1)
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(sent, ["q2", "echo: q2", "q3"]);

    // A divider: nothing above it is sent.
    let d = tab
        .post(&format!("/api/v1/topics/{topic}/divider"), &json!({}))
        .await;
    assert!(
        d.json()["html"]
            .as_str()
            .unwrap()
            .contains("class=\"divider\"")
    );
    let s = tab.chat(json!({"topic_id": topic, "text": "fresh"})).await;
    tab.finish(&s).await;
    let req = studio.fake.requests().last().unwrap().json();
    let sent: Vec<&str> = req["messages"]
        .as_array()
        .unwrap()
        .iter()
        .skip(1)
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(sent, ["fresh"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_are_renamed_pinned_filed_tagged_searched_and_deleted() {
    let studio = Studio::start().await;
    let tab = studio.tab().await;
    let s = tab
        .chat(json!({"text": "今天天气很好 and the weather", "models": ["fake:fake-small"]}))
        .await;
    let topic = id(&s["topic_id"]);
    tab.finish(&s).await;
    let folder = tab
        .post("/api/v1/folders", &json!({"name": "Travel"}))
        .await
        .json();
    let r = tab
        .json(
            "PATCH",
            &format!("/api/v1/topics/{topic}"),
            &json!({"title": "Weather", "pinned": true, "folder_id": folder["id"], "tags": ["sky", "zh"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let list = tab.get("/api/v1/topics").await.json();
    assert_eq!(list[0]["topic"]["title"], "Weather");
    assert_eq!(list[0]["topic"]["pinned"], true);
    assert_eq!(list[0]["tags"], json!(["sky", "zh"]));
    let page = tab.get("/").await.body;
    assert!(page.contains("Weather") && page.contains("#sky"));

    for q in ["天气", "天气很好", "weather"] {
        let hits = tab
            .get(&format!("/api/v1/search?q={}", urlencode(q)))
            .await
            .json();
        let hits = hits.as_array().unwrap();
        assert!(!hits.is_empty(), "no hit for {q}");
        assert!(
            hits[0]["snippet_html"].as_str().unwrap().contains("<mark>"),
            "{q}: {hits:?}"
        );
        assert_eq!(hits[0]["topic_id"], topic);
    }
    let r = tab
        .raw("DELETE", &format!("/api/v1/topics/{topic}"), None, &[])
        .await;
    assert_eq!(r.status, 200);
    assert!(
        tab.get("/api/v1/search?q=weather")
            .await
            .json()
            .as_array()
            .unwrap()
            .is_empty()
    );
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_topics_load_in_pages_newest_first() {
    let studio = Studio::start().await;
    let tab = studio.tab().await;
    let mut topic = None;
    for i in 0..45 {
        let mut body = json!({"text": format!("question {i}"), "models": ["fake:fake-small"]});
        if let Some(t) = topic {
            body["topic_id"] = json!(t);
        }
        let s = tab.chat(body).await;
        topic = Some(id(&s["topic_id"]));
        tab.finish(&s).await;
    }
    let topic = topic.unwrap();
    let mut seen = Vec::new();
    let mut before: Option<i64> = None;
    loop {
        let url = match before {
            Some(b) => format!("/api/v1/topics/{topic}/messages?before={b}"),
            None => format!("/api/v1/topics/{topic}/messages"),
        };
        let page = tab.get(&url).await.json();
        let ids: Vec<i64> = page["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| id(&e["message"]["id"]))
            .collect();
        assert!(ids.len() <= 40);
        seen.splice(0..0, ids);
        if page["has_more"] != true {
            break;
        }
        before = Some(id(&page["oldest"]));
    }
    assert_eq!(seen, (1..=90).collect::<Vec<i64>>(), "pages fit together");
    // The page itself carries only the newest page and a way to load older ones.
    let html = tab.get(&format!("/t/{topic}")).await.body;
    assert!(html.contains("id=\"load-older\""));
    assert!(!html.contains("id=\"m1\"") && html.contains("id=\"m90\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_and_import_round_trip_and_a_bad_import_stores_nothing() {
    let studio = Studio::start().await;
    let tab = studio.tab().await;
    let s = tab
        .chat(json!({"text": "export me", "models": ["fake:fake-small"]}))
        .await;
    let topic = id(&s["topic_id"]);
    let reply = id(&s["reply_ids"][0]);
    tab.events(reply).await.until_done().await;
    let again = tab
        .post(&format!("/api/v1/messages/{reply}/regenerate"), &json!({}))
        .await
        .json();
    tab.finish(&again).await;

    let md = tab
        .get(&format!("/api/v1/topics/{topic}/export?format=md"))
        .await;
    assert!(
        md.header("content-type")
            .unwrap()
            .starts_with("text/markdown")
    );
    assert!(
        md.header("content-disposition")
            .unwrap()
            .contains("attachment")
    );
    assert!(
        md.body.contains("export me") && md.body.contains("echo: export me"),
        "{}",
        md.body
    );
    let js = tab
        .get(&format!("/api/v1/topics/{topic}/export?format=json"))
        .await;
    let export: Value = js.json();
    assert_eq!(
        export["topics"][0]["messages"].as_array().unwrap().len(),
        3,
        "both branches"
    );

    let r = tab
        .raw(
            "POST",
            "/api/v1/import",
            Some(js.body.as_bytes()),
            &[("content-type", "application/json")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let new_topic = id(&r.json()["topic_ids"][0]);
    let page = tab
        .get(&format!("/api/v1/topics/{new_topic}/messages"))
        .await
        .json();
    assert_eq!(page["messages"].as_array().unwrap().len(), 2);
    assert_eq!(page["messages"][1]["siblings"].as_array().unwrap().len(), 2);

    // Not what it claims: a clear error and nothing half-imported.
    let before = tab
        .get("/api/v1/topics")
        .await
        .json()
        .as_array()
        .unwrap()
        .len();
    let mut broken: Value = serde_json::from_str(&js.body).unwrap();
    let good = broken["topics"][0].clone();
    broken["topics"] = json!([good, {"title": "bad", "created_at": 0, "updated_at": 0,
        "messages": [{"parent": 5, "role": "user", "status": "done", "model": null, "blocks": [], "created_at": 0}],
        "current": null}]);
    let r = tab
        .raw(
            "POST",
            "/api/v1/import",
            Some(broken.to_string().as_bytes()),
            &[],
        )
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "import_invalid"),
        "{}",
        r.body
    );
    let r = tab
        .raw(
            "POST",
            "/api/v1/import",
            Some(b"<html>not a chat export</html>"),
            &[],
        )
        .await;
    assert_eq!(r.code(), "import_invalid");
    assert!(
        r.body.contains("not valid JSON") && r.body.contains("conversations.json"),
        "{}",
        r.body
    );
    let after = tab
        .get("/api/v1/topics")
        .await
        .json()
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn providers_are_added_checked_and_their_models_enabled_through_the_api() {
    let studio = Studio::start().await;
    let tab = studio.tab().await;
    studio.fake.accept_keys(&["sk-good-1234567890"]);
    let r = tab
        .post(
            "/api/v1/providers",
            &json!({"name": "work", "protocol": "openai", "base_url": studio.fake.base_url(),
                    "keys": ["sk-good-1234567890", "sk-bad-0987654321"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        !r.body.contains("sk-good-1234567890"),
        "keys are never shown: {}",
        r.body
    );
    let checks = tab
        .post("/api/v1/providers/work/check", &json!({}))
        .await
        .json();
    assert_eq!(checks[0]["ok"], true);
    assert_eq!(checks[1]["ok"], false);
    assert!(checks[1]["reason"].as_str().unwrap().len() > 10, "{checks}");

    let models = tab
        .post("/api/v1/providers/work/models/fetch", &json!({}))
        .await
        .json();
    assert_eq!(models.as_array().unwrap().len(), 2);
    let r = tab
        .json(
            "PUT",
            "/api/v1/providers/work/models/fake-large",
            &json!({"enabled": false}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let pickable: Vec<String> = tab
        .get("/api/v1/models")
        .await
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(pickable.contains(&"work:fake-small".to_owned()));
    assert!(!pickable.contains(&"work:fake-large".to_owned()));
    let page = tab.get("/settings/providers").await.body;
    assert!(
        !page.contains("sk-good-1234567890"),
        "L2: no key in any page"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_interface_follows_the_browser_language_until_the_person_chooses() {
    let studio = Studio::start().await;
    let tab = studio.tab().await;
    let zh = tab
        .raw("GET", "/", None, &[("accept-language", "zh-CN,zh;q=0.9")])
        .await;
    assert!(zh.body.contains("lang=\"zh-CN\"") && zh.body.contains("新话题"));
    let nl = tab
        .raw("GET", "/", None, &[("accept-language", "nl-NL")])
        .await;
    assert!(nl.body.contains("Nieuw onderwerp"));
    let r = tab
        .json(
            "PUT",
            "/api/v1/settings",
            &json!({"language": "nl", "theme": "dark"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let page = tab
        .raw("GET", "/", None, &[("accept-language", "zh-CN")])
        .await;
    assert!(page.body.contains("Nieuw onderwerp") && page.body.contains("data-theme=\"dark\""));
    let r = tab
        .json("PUT", "/api/v1/settings", &json!({"language": "fr"}))
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_in_progress_are_stored_as_cancelled_when_the_server_stops() {
    let studio = Studio::start().await;
    let tab = studio.tab().await;
    studio
        .fake
        .push(Answer::text(&["so far ", "never"]).hang_after(1));
    let s = tab
        .chat(json!({"text": "go", "models": ["fake:fake-small"]}))
        .await;
    let reply = orchard_core::MessageId::new(id(&s["reply_ids"][0]));
    let mut events = tab.events(id(&s["reply_ids"][0])).await;
    events.until_text("so far").await;
    let app = studio.app.clone();
    studio.stop().await;
    let m = app.store().message(app.user(), reply).await.unwrap();
    assert_eq!(m.status, orchard_core::message::MessageStatus::Cancelled);
    assert_eq!(m.text(), "so far ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_l2_keys_never_appear_in_any_page_or_api_response() {
    let studio = Studio::start().await;
    let tab = studio.tab().await;
    let key = "sk-proj-NEVERSHOWN-0123456789abcdef";
    let r = tab
        .post(
            "/api/v1/providers",
            &json!({"name": "deepseek", "keys": [key]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let fragment = &key[8..24];
    for path in [
        "/",
        "/settings",
        "/settings/providers",
        "/settings/assistants",
        "/api/v1/providers",
        "/api/v1/models",
        "/api/v1/catalogue",
        "/api/v1/settings",
    ] {
        let body = tab.get(path).await.body;
        assert!(!body.contains(fragment), "{path} shows part of the key");
    }
    assert!(
        r.body.contains("sk-…"),
        "the key is shown by its mask: {}",
        r.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_l5_the_provider_settings_page_links_the_providers_privacy_policy() {
    let studio = Studio::start().await;
    let tab = studio.tab().await;
    let r = tab
        .post(
            "/api/v1/providers",
            &json!({"name": "deepseek", "keys": ["sk-abcdefghijklmnop"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let privacy = r.json()["privacy_url"].as_str().unwrap().to_owned();
    assert!(privacy.starts_with("https://"), "{privacy}");
    let page = tab.get("/settings/providers").await.body;
    assert!(
        page.contains(&format!("href=\"{privacy}\" rel=\"noopener noreferrer\"")),
        "the settings page links {privacy}"
    );
}
