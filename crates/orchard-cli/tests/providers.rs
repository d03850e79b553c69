//! Provider features of the CLI: protocols, capabilities and images, local detection,
//! reasoning in every shape.

mod common;

use common::*;
use orchard_testkit::{Answer, FakeProvider};

/// A tiny valid PNG (1×1, transparent).
const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE,
    0x42, 0x60, 0x82,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_protocol_is_accepted_by_provider_add() {
    let sb = Sandbox::new();
    for (protocol, base) in [
        ("openai", "https://a.example"),
        ("openai-responses", "https://b.example"),
        ("anthropic", "https://c.example"),
        ("gemini", "https://d.example"),
        ("ollama", "http://127.0.0.1:11434"),
        ("azure", "https://res.openai.azure.com"),
    ] {
        let name = format!("p-{protocol}");
        sb.ok(&[
            "provider",
            "add",
            &name,
            "--protocol",
            protocol,
            "--base-url",
            base,
        ])
        .await;
    }
    let list = sb.ok(&["provider", "list"]).await;
    for protocol in [
        "openai",
        "openai-responses",
        "anthropic",
        "gemini",
        "ollama",
        "azure",
    ] {
        assert!(
            list.lines()
                .any(|l| l.starts_with(&format!("p-{protocol} "))
                    && l.contains(&format!(" {protocol} "))),
            "{list}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_for_a_model_without_vision_is_refused_before_anything_is_sent() {
    let sb = Sandbox::new();
    let fake = FakeProvider::start().await;
    fake.set_models(&["deepseek-chat", "gpt-4o-mini"]);
    sb.add_fake(&fake, "fake", None).await;
    let img = sb.root.path().join("cat.png");
    std::fs::write(&img, PNG).unwrap();
    let err = fails(
        &sb,
        &[
            "chat",
            "-m",
            "fake:deepseek-chat",
            "--image",
            img.to_str().unwrap(),
            "what is this?",
        ],
    )
    .await;
    assert!(
        err.contains("the model 'deepseek-chat' of fake does not accept images"),
        "{err}"
    );
    assert!(
        err.contains("orchard provider model fake deepseek-chat --vision on"),
        "{err}"
    );
    assert!(fake.requests().is_empty(), "nothing was sent");
    assert_eq!(
        sb.ok(&["topics"]).await.lines().count(),
        1,
        "nothing was stored"
    );

    // A vision model gets the image, as a data URL in the OpenAI format.
    sb.ok(&[
        "chat",
        "-m",
        "fake:gpt-4o-mini",
        "--image",
        img.to_str().unwrap(),
        "what is this?",
    ])
    .await;
    let body = fake.requests().pop().unwrap().json();
    let parts = body["messages"][0]["content"].as_array().unwrap().clone();
    assert_eq!(parts[0]["text"], "what is this?");
    assert!(
        parts[1]["image_url"]["url"]
            .as_str()
            .unwrap()
            .starts_with("data:image/png;base64,iVBORw0KGgo"),
        "{body}"
    );
    // Kept in the attachments folder, referred to from the message, and sent again with
    // the next turn of the conversation.
    let attachments = files_under(&sb.data.join("attachments"));
    assert_eq!(attachments.len(), 1);
    assert_eq!(std::fs::read(&attachments[0]).unwrap(), PNG);
    sb.ok(&["chat", "--topic", "1", "and now?"]).await;
    let body = fake.requests().pop().unwrap().json();
    assert!(
        body["messages"][0]["content"][1]["image_url"]["url"]
            .as_str()
            .unwrap()
            .starts_with("data:image/png"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_capabilities_can_be_shown_and_set() {
    let sb = Sandbox::new();
    let fake = FakeProvider::start().await;
    fake.set_models(&["my-llava"]);
    sb.add_fake(&fake, "fake", None).await;
    let show = sb
        .ok(&["provider", "model", "fake", "claude-3-5-sonnet"])
        .await;
    assert!(
        show.contains("vision     yes")
            && show.contains("tools      yes")
            && show.contains("context    200000 tokens"),
        "{show}"
    );
    let before = sb.ok(&["provider", "model", "fake", "my-llava"]).await;
    assert!(before.contains("vision     no"), "{before}");
    let after = sb
        .ok(&[
            "provider",
            "model",
            "fake",
            "my-llava",
            "--vision",
            "on",
            "--context",
            "4096",
        ])
        .await;
    assert!(
        after.contains("vision     yes") && after.contains("context    4096 tokens"),
        "{after}"
    );
    // The setting is kept, and other fields stay as set.
    let again = sb
        .ok(&["provider", "model", "fake", "my-llava", "--tools", "on"])
        .await;
    assert!(
        again.contains("vision     yes") && again.contains("tools      yes"),
        "{again}"
    );
    let img = sb.root.path().join("x.png");
    std::fs::write(&img, PNG).unwrap();
    sb.ok(&[
        "chat",
        "-m",
        "fake:my-llava",
        "--image",
        img.to_str().unwrap(),
        "look",
    ])
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_is_not_an_image_is_refused_clearly() {
    let sb = Sandbox::new();
    let fake = FakeProvider::start().await;
    sb.add_fake(&fake, "fake", None).await;
    let pdf = sb.root.path().join("paper.png");
    std::fs::write(&pdf, b"%PDF-1.7 not an image").unwrap();
    sb.ok(&["provider", "model", "fake", "fake-small", "--vision", "on"])
        .await;
    let err = fails(
        &sb,
        &[
            "chat",
            "-m",
            "fake:fake-small",
            "--image",
            pdf.to_str().unwrap(),
            "hi",
        ],
    )
    .await;
    assert!(
        err.contains("is not a PNG, JPEG, GIF or WebP image"),
        "{err}"
    );
    assert!(fake.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn think_tags_in_answer_text_become_thinking() {
    let sb = Sandbox::new();
    let fake = FakeProvider::start().await;
    sb.add_fake(&fake, "fake", None).await;
    fake.push(Answer::text(&[
        "<thi",
        "nk>Let me count.</th",
        "ink>",
        "Four.",
    ]));
    let out = sb.ok(&["chat", "-m", "fake:fake-small", "2+2?"]).await;
    assert_eq!(out, "Four.\n", "thinking is not the answer");
    let show = sb.ok(&["show", "1"]).await;
    assert!(
        show.contains("> Let me count.") && show.contains("\n\nFour.\n"),
        "{show}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detect_probes_exactly_the_two_local_addresses() {
    let mut sb = Sandbox::new();
    let ollama = FakeProvider::start().await;
    ollama.set_models(&["llama3:8b", "qwen3:4b"]);
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    sb.env("ORCHARD_DETECT_OLLAMA", &ollama.addr().to_string());
    sb.env("ORCHARD_DETECT_LMSTUDIO", &closed.to_string());
    let out = sb.ok(&["provider", "detect"]).await;
    assert!(
        out.contains(&format!(
            "found ollama at http://{} with 2 model(s)",
            ollama.addr()
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "orchard provider add ollama --base-url http://{}",
            ollama.addr()
        )),
        "{out}"
    );
    assert!(!out.contains("lmstudio"), "{out}");
    assert_eq!(ollama.requests().len(), 1);
    assert_eq!(ollama.requests()[0].path, "/api/tags");
    // The ledger shows the two probes and nothing else.
    let mut db = sb.db().await;
    let rows: Vec<(String, i64, String)> =
        sqlx::query_as("SELECT host, port, purpose FROM egress_log ORDER BY id")
            .fetch_all(&mut db)
            .await
            .unwrap();
    assert_eq!(
        rows,
        vec![
            (
                "127.0.0.1".to_owned(),
                i64::from(ollama.addr().port()),
                "detect:ollama".to_owned()
            ),
            (
                "127.0.0.1".to_owned(),
                i64::from(closed.port()),
                "detect:lmstudio".to_owned()
            ),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_protocol_in_the_catalogue_file_is_refused_with_its_line() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(&sb.data).unwrap();
    std::fs::write(sb.data.join("catalogue.toml"), "[[provider]]\nid = \"acme\"\nprotocol = \"carrier-pigeon\"\nname = \"A\"\nbase_url = \"https://a.example\"\n").unwrap();
    let err = fails(&sb, &["provider", "list"]).await;
    assert!(
        err.contains("catalogue.toml") && err.contains("line 3") && err.contains("carrier-pigeon"),
        "{err}"
    );
}

/// Three keys, three fates: the provider rejects the first, rate-limits the second and
/// accepts the third.
const REJECTED: &str = "sk-failover-rejected-0000000bad1";
const LIMITED: &str = "sk-failover-limited-00000000lim2";
const GOOD: &str = "sk-failover-good-000000000000good";

fn bearer(r: &orchard_testkit::RecordedRequest) -> String {
    r.header("authorization")
        .unwrap_or("")
        .trim_start_matches("Bearer ")
        .to_owned()
}

/// Asserts that none of the three keys, nor a telling piece of one, is in `text`.
fn no_key_in(text: &str) {
    for key in [REJECTED, LIMITED, GOOD] {
        assert!(!text.contains(key), "{text}");
        assert!(!text.contains(&key[key.len() - 12..]), "{text}");
    }
}

async fn three_key_provider(sb: &Sandbox, fake: &FakeProvider) {
    fake.accept_keys(&[LIMITED, GOOD]);
    fake.reject_key(REJECTED);
    fake.rate_limit_key(LIMITED, 120);
    sb.add_provider("fake", None, &fake.base_url(), &[REJECTED, LIMITED, GOOD])
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_l2_failover_names_each_failed_key_by_its_mask_only() {
    let sb = Sandbox::new();
    let fake = FakeProvider::start().await;
    three_key_provider(&sb, &fake).await;
    let mut shown = String::new();

    // The rejected and the rate-limited key are passed over; the person just gets the
    // answer.
    let out = sb.run(&["chat", "-m", "fake:fake-small", "hello"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "echo: hello\n");
    shown += &stderr(&out);
    let tried: Vec<String> = fake.requests().iter().map(bearer).collect();
    assert_eq!(tried, [REJECTED, LIMITED, GOOD]);

    let list = sb.ok(&["provider", "list"]).await;
    assert!(list.contains("sk-…bad1 (rejected)"), "{list}");
    assert!(list.contains("sk-…lim2 (resting until "), "{list}");
    assert!(list.contains("sk-…good (ok)"), "{list}");
    // The provider's own reason for the rejection is kept and shown.
    assert!(
        list.contains("fake key sk-…bad1 was rejected: fake rejected the API key sk-…bad1 (401)"),
        "{list}"
    );
    shown += &list;

    // Known-bad and resting keys are not tried again while the good one serves.
    sb.ok(&["chat", "--topic", "last", "again"]).await;
    assert_eq!(
        fake.requests()
            .iter()
            .skip(3)
            .map(bearer)
            .collect::<Vec<_>>(),
        [GOOD]
    );

    // When the last key fails too, the error names every key by its mask and why.
    fake.reject_key(GOOD);
    let err = fails(&sb, &["chat", "--topic", "last", "once more"]).await;
    assert!(err.contains("every key of fake failed ("), "{err}");
    assert!(err.contains("sk-…bad1: rejected earlier ("), "{err}");
    assert!(err.contains("sk-…lim2: rate-limited, resting "), "{err}");
    assert!(err.contains("sk-…good: rejected ("), "{err}");
    assert_eq!(fake.requests().len(), 5, "only the last good key was tried");
    shown += &err;
    shown += &sb.ok(&["show", "1"]).await;
    no_key_in(&shown);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_take_turns_least_recently_used_first() {
    let sb = Sandbox::new();
    let fake = FakeProvider::start().await;
    fake.accept_keys(&[LIMITED, GOOD]);
    sb.add_provider("fake", None, &fake.base_url(), &[GOOD, LIMITED])
        .await;
    for i in 0..4 {
        sb.ok(&["chat", "-m", "fake:fake-small", &format!("question {i}")])
            .await;
    }
    let used: Vec<String> = fake.requests().iter().map(bearer).collect();
    assert_eq!(used, [GOOD, LIMITED, GOOD, LIMITED]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_says_per_key_ok_or_the_exact_reason() {
    let sb = Sandbox::new();
    let fake = FakeProvider::start().await;
    fake.set_models(&["m-one", "m-two"]);
    three_key_provider(&sb, &fake).await;
    let out = sb.run(&["provider", "check", "fake"]).await;
    assert_eq!(out.status.code(), Some(1), "a failing key makes check fail");
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(lines.len(), 3, "{report}");
    assert!(
        lines[0].starts_with("sk-…bad1  fake rejected the API key sk-…bad1 (401)"),
        "{report}"
    );
    assert!(
        lines[1].starts_with("sk-…lim2  ") && lines[1].contains("rate") && lines[1].contains("120"),
        "{report}"
    );
    assert_eq!(lines[2], "sk-…good  OK (2 models)");
    // Each key was tried once, with the cheapest request there is.
    let reqs = fake.requests();
    assert_eq!(
        reqs.iter().map(bearer).collect::<Vec<_>>(),
        [REJECTED, LIMITED, GOOD]
    );
    assert!(
        reqs.iter()
            .all(|r| r.method == "GET" && r.path == "/v1/models"),
        "{reqs:?}"
    );
    no_key_in(&format!("{report}{}", stderr(&out)));
    let list = sb.ok(&["provider", "list"]).await;
    assert!(
        list.contains("sk-…bad1 (rejected)") && list.contains("sk-…good (ok)"),
        "{list}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_and_model_lists_work_with_every_protocol() {
    let sb = Sandbox::new();
    let fake = FakeProvider::start().await;
    fake.set_models(&["fake-small"]);
    let key = "sk-every-protocol-000000000000p1ay";
    for protocol in [
        "openai",
        "openai-responses",
        "anthropic",
        "gemini",
        "ollama",
        "azure",
    ] {
        let name = format!("via-{protocol}");
        sb.add_provider(&name, Some(protocol), &fake.root_url(), &[key])
            .await;
        let models = sb.ok(&["provider", "models", &name]).await;
        assert!(models.contains("fake-small"), "{protocol}: {models}");
        let answer = sb
            .ok(&[
                "chat",
                "-m",
                &format!("{name}:fake-small"),
                &format!("hello {protocol}"),
            ])
            .await;
        assert_eq!(answer, format!("echo: hello {protocol}\n"), "{protocol}");
        let asked = fake.requests().pop().unwrap();
        assert_eq!(asked.method, "POST", "{protocol}");
        // Each protocol's own endpoint was used.
        let expected = match protocol {
            "openai" => "/v1/chat/completions",
            "openai-responses" => "/v1/responses",
            "anthropic" => "/v1/messages",
            "gemini" => "/v1beta/models/fake-small:streamGenerateContent",
            "ollama" => "/api/chat",
            _ => "/openai/deployments/fake-small/chat/completions",
        };
        assert_eq!(asked.path, expected, "{protocol}");
    }
    // Each conversation continues with its own provider.
    let topics = sb.ok(&["topics"]).await;
    assert_eq!(topics.lines().count(), 7, "{topics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn think_goes_to_reasoning_models_and_is_refused_for_others() {
    let sb = Sandbox::new();
    let fake = FakeProvider::start().await;
    fake.set_models(&["claude-sonnet-4-5", "claude-3-haiku"]);
    sb.add_provider(
        "claude",
        Some("anthropic"),
        &fake.root_url(),
        &["sk-ant-think-0000000000000000th1k"],
    )
    .await;
    let err = fails(
        &sb,
        &[
            "chat",
            "-m",
            "claude:claude-3-haiku",
            "--think",
            "2048",
            "why?",
        ],
    )
    .await;
    assert!(
        err.contains("does not reason before answering") && err.contains("--reasoning on"),
        "{err}"
    );
    assert!(
        fake.requests().is_empty(),
        "refused before anything was sent"
    );

    fake.push(
        Answer::text(&["Because."])
            .reasoning(&["Let me think."])
            .signature("sig-1"),
    );
    let out = sb
        .ok(&[
            "chat",
            "-m",
            "claude:claude-sonnet-4-5",
            "--think",
            "2048",
            "why?",
        ])
        .await;
    assert_eq!(out, "Because.\n");
    let body = fake.requests().pop().unwrap().json();
    assert_eq!(
        body["thinking"],
        serde_json::json!({"type": "enabled", "budget_tokens": 2048})
    );
    // The signed thinking goes back with the next turn, as Anthropic requires.
    sb.ok(&["chat", "--topic", "last", "--think", "2048", "and then?"])
        .await;
    let body = fake.requests().pop().unwrap().json();
    assert_eq!(
        body["messages"][1]["content"][0],
        serde_json::json!({"type": "thinking", "thinking": "Let me think.", "signature": "sig-1"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn earlier_images_become_words_for_a_model_without_vision_or_a_lost_file() {
    let sb = Sandbox::new();
    let fake = FakeProvider::start().await;
    fake.set_models(&["gpt-4o-mini", "deepseek-chat"]);
    sb.add_fake(&fake, "fake", None).await;
    let img = sb.root.path().join("cat.png");
    std::fs::write(&img, PNG).unwrap();
    sb.ok(&[
        "chat",
        "-m",
        "fake:gpt-4o-mini",
        "--image",
        img.to_str().unwrap(),
        "what is this?",
    ])
    .await;

    // The topic goes on with a model that cannot see: the image is named, not sent.
    sb.ok(&["chat", "--topic", "1", "-m", "fake:deepseek-chat", "go on"])
        .await;
    let body = fake.requests().pop().unwrap().json();
    let first = &body["messages"][0]["content"];
    assert!(!body.to_string().contains("data:image"), "{body}");
    assert!(
        first
            .to_string()
            .contains("not sent: this model does not accept images"),
        "{body}"
    );

    // The attachment file is gone: the conversation still goes on.
    std::fs::remove_dir_all(sb.data.join("attachments")).unwrap();
    sb.ok(&["chat", "--topic", "1", "-m", "fake:gpt-4o-mini", "and now?"])
        .await;
    let body = fake.requests().pop().unwrap().json();
    assert!(
        body["messages"][0]["content"]
            .to_string()
            .contains("is no longer available"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_image_file_is_refused_without_reading_it_all() {
    let sb = Sandbox::new();
    let fake = FakeProvider::start().await;
    sb.add_fake(&fake, "fake", None).await;
    let err = fails(
        &sb,
        &[
            "chat",
            "-m",
            "fake:fake-small",
            "--image",
            "/dev/zero",
            "look",
        ],
    )
    .await;
    assert!(err.contains("/dev/zero is larger than 20 MB"), "{err}");
    assert!(fake.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_only_key_is_tried_again_and_recovers() {
    let sb = Sandbox::new();
    let fake = FakeProvider::start().await;
    sb.add_fake(&fake, "fake", Some(GOOD)).await;
    fake.push(orchard_testkit::ErrorReply::invalid_api_key());
    fails(&sb, &["chat", "-m", "fake:fake-small", "hi"]).await;
    assert!(
        sb.ok(&["provider", "list"])
            .await
            .contains("sk-…good (rejected)")
    );
    // Every key is rejected, so the next call tries them again rather than refusing
    // without asking: the provider may have re-enabled the key.
    assert_eq!(
        sb.ok(&["chat", "--topic", "last", "again"]).await,
        "echo: again\n"
    );
    assert!(sb.ok(&["provider", "list"]).await.contains("sk-…good (ok)"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_out_of_credit_moves_to_the_next_key_without_condemning_it() {
    let sb = Sandbox::new();
    let fake = FakeProvider::start().await;
    sb.add_provider("fake", None, &fake.base_url(), &[LIMITED, GOOD])
        .await;
    fake.push(orchard_testkit::ErrorReply::custom(
        429,
        r#"{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#,
    ));
    assert_eq!(
        sb.ok(&["chat", "-m", "fake:fake-small", "hi"]).await,
        "echo: hi\n"
    );
    assert_eq!(
        fake.requests().iter().map(bearer).collect::<Vec<_>>(),
        [LIMITED, GOOD]
    );
    let list = sb.ok(&["provider", "list"]).await;
    assert!(
        list.contains("sk-…lim2,") || list.contains("sk-…lim2 "),
        "{list}"
    );
    assert!(
        !list.contains("rejected") && !list.contains("resting"),
        "{list}"
    );

    // A failure that is not about keys stops at once, and still names the key that
    // failed before it.
    fake.push(orchard_testkit::ErrorReply::custom(
        429,
        r#"{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#,
    ));
    fake.push(orchard_testkit::ErrorReply::context_length_exceeded());
    let err = fails(&sb, &["chat", "-m", "fake:fake-small", "hi"]).await;
    assert!(
        err.contains("too long") && err.contains("before that: sk-…lim2: out of credit or quota"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_persons_capability_rules_apply_and_their_mistakes_are_named() {
    let sb = Sandbox::new();
    let fake = FakeProvider::start().await;
    sb.add_fake(&fake, "fake", None).await;
    std::fs::write(
        sb.data.join("models.toml"),
        "[[rule]]\nmatch = \"fake-*\"\nvision = true\ncontext = 4096\n",
    )
    .unwrap();
    let shown = sb.ok(&["provider", "model", "fake", "fake-small"]).await;
    assert!(
        shown.contains("vision     yes") && shown.contains("context    4096 tokens"),
        "{shown}"
    );
    std::fs::write(
        sb.data.join("models.toml"),
        "[[rule]]\nmatch = \"fake-*\"\nvisoin = true\n",
    )
    .unwrap();
    let err = fails(&sb, &["provider", "list"]).await;
    assert!(
        err.contains("models.toml") && err.contains("line 3") && err.contains("visoin"),
        "{err}"
    );
}
