//! Every bad input of the foundation issue gets one clear line on stderr, a non-zero
//! exit, and loses nothing.

mod common;

use common::*;
use orchard_testkit::{ErrorReply, FakeHttpProxy, FakeProvider, FakeTlsServer};
use sqlx::Connection;

fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_provider_lists_the_configured_ones() {
    let sb = Sandbox::new();
    let fake = FakeProvider::start().await;
    sb.add_fake(&fake, "fake", None).await;
    let err = fails(&sb, &["chat", "-m", "nope:model", "hi"]).await;
    assert!(
        err.contains("there is no provider named 'nope' (configured: fake)"),
        "{err}"
    );
    assert!(
        err.contains("add it with `orchard provider add nope --key-stdin`"),
        "{err}"
    );
    assert!(fake.requests().is_empty());
    assert!(
        sb.ok(&["topics"]).await.lines().count() == 1,
        "nothing stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_model_at_all_says_how_to_choose_one() {
    let sb = Sandbox::new();
    let err = fails(&sb, &["chat", "hello"]).await;
    assert!(
        err.contains("no model chosen") && err.contains("-m PROVIDER:MODEL"),
        "{err}"
    );
    let err = fails(&sb, &["chat", "-m", "justaname", "hello"]).await;
    assert!(err.contains("is not PROVIDER:MODEL"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_model_names_the_model_and_keeps_the_question() {
    let sb = Sandbox::new();
    let fake = FakeProvider::start().await;
    sb.add_fake(&fake, "fake", None).await;
    let err = fails(&sb, &["chat", "-m", "fake:gpt-99", "hi"]).await;
    assert!(
        err.contains("fake does not offer the model 'gpt-99' (404)"),
        "{err}"
    );
    assert!(err.contains("`orchard provider models fake`"), "{err}");
    let show = sb.ok(&["show", "1"]).await;
    assert!(
        show.contains("## You\n\nhi") && show.contains("[error: fake does not offer the model"),
        "{show}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_is_named_by_mask_and_marked_rejected() {
    let sb = Sandbox::new();
    let fake = FakeProvider::start().await;
    fake.require_key("sk-the-right-one-000000000000000000000");
    sb.add_fake(&fake, "fake", Some(KEY)).await;
    let err = fails(&sb, &["chat", "-m", "fake:fake-small", "hi"]).await;
    assert!(
        err.contains("fake rejected the API key sk-…1f3a (401)"),
        "{err}"
    );
    assert!(
        err.contains("`orchard provider key add fake --key-stdin`"),
        "{err}"
    );
    assert!(!err.contains(&KEY[..8]), "{err}");
    let list = sb.ok(&["provider", "list"]).await;
    assert!(list.contains("sk-…1f3a (rejected)"), "{list}");
    assert!(
        list.contains("fake key sk-…1f3a was rejected: fake rejected the API key sk-…1f3a (401)"),
        "{list}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_key_is_refused_before_anything_is_sent() {
    let sb = Sandbox::new();
    // A catalogue provider that needs a key, added without one, is refused at once.
    let err = fails(&sb, &["provider", "add", "deepseek"]).await;
    assert!(
        !err.contains("provider key add"),
        "the provider does not exist yet: {err}"
    );
    assert!(
        err.contains("DeepSeek needs an API key: give it with --key-stdin"),
        "{err}"
    );
    // A custom provider whose server wants a key says so.
    let fake = FakeProvider::start().await;
    fake.require_key(KEY);
    sb.add_fake(&fake, "fake", None).await;
    let err = fails(&sb, &["chat", "-m", "fake:fake-small", "hi"]).await;
    assert!(
        err.contains("fake needs an API key and none is stored (401)"),
        "{err}"
    );
    assert!(fake.requests()[0].header("authorization").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_context_limits_and_server_errors_are_explained() {
    let mut sb = Sandbox::new();
    // Without retries, to see each error as the person would after retries run out.
    sb.env("ORCHARD_RETRIES", "0");
    let fake = FakeProvider::start().await;
    sb.add_fake(&fake, "fake", None).await;
    fake.push(ErrorReply::rate_limited(20));
    let err = fails(&sb, &["chat", "-m", "fake:fake-small", "hi"]).await;
    assert!(
        err.contains("fake is limiting requests (429); it asks to wait 20 s"),
        "{err}"
    );
    fake.push(ErrorReply::context_length_exceeded());
    let err = fails(&sb, &["chat", "--topic", "1", "hi"]).await;
    assert!(
        err.contains("the conversation is too long for 'fake-small' at fake (400)"),
        "{err}"
    );
    fake.push(ErrorReply::server_error(503));
    let err = fails(&sb, &["chat", "--topic", "1", "hi"]).await;
    assert!(
        err.contains("fake had a server error (503)") && err.contains("try again later"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_host_is_named() {
    let sb = Sandbox::new();
    let port = closed_port();
    sb.ok(&[
        "provider",
        "add",
        "local",
        "--base-url",
        &format!("http://127.0.0.1:{port}"),
    ])
    .await;
    let err = fails(&sb, &["chat", "-m", "local:m", "hi"]).await;
    assert!(
        err.contains(&format!(
            "cannot reach local: could not connect to 127.0.0.1:{port}"
        )),
        "{err}"
    );
    let err = fails(&sb, &["provider", "models", "local"]).await;
    assert!(err.contains("could not connect"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_that_is_down_is_named_and_its_password_is_not() {
    let mut sb = Sandbox::new();
    let port = closed_port();
    sb.env(
        "HTTPS_PROXY",
        &format!("http://me:pr0xy-pass@127.0.0.1:{port}"),
    );
    sb.ok(&[
        "provider",
        "add",
        "remote",
        "--base-url",
        "https://api.remote.example/v1",
    ])
    .await;
    let err = fails(&sb, &["chat", "-m", "remote:m", "hi"]).await;
    assert!(
        err.contains(&format!("through the proxy 127.0.0.1:{port}")),
        "{err}"
    );
    assert!(err.contains("orchard config show"), "{err}");
    assert!(!err.contains("pr0xy-pass"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_from_the_environment_carries_the_request() {
    let mut sb = Sandbox::new();
    let fake = FakeProvider::start().await;
    let proxy = FakeHttpProxy::start(fake.addr()).await;
    sb.env("HTTP_PROXY", &proxy.url());
    sb.ok(&[
        "provider",
        "add",
        "remote",
        "--base-url",
        "http://provider.test/v1",
    ])
    .await;
    assert_eq!(
        sb.ok(&["chat", "-m", "remote:fake-small", "via proxy"])
            .await,
        "echo: via proxy\n"
    );
    assert_eq!(proxy.seen(), ["http://provider.test/v1/chat/completions"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_config_file_names_line_and_column() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(&sb.data).unwrap();
    std::fs::write(
        sb.data.join("orchard.toml"),
        "[net]\nidle_timeout = \"5s\"\nproxy = \n",
    )
    .unwrap();
    let err = fails(&sb, &["topics"]).await;
    assert!(
        err.contains("orchard.toml") && err.contains("line 3, column"),
        "{err}"
    );
    let err = fails(&sb, &["config", "show"]).await;
    assert!(err.contains("line 3, column"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_is_not_sqlite_is_refused_untouched() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(&sb.data).unwrap();
    let junk = b"PK\x03\x04 this is a zip file someone named orchard.db".repeat(100);
    std::fs::write(sb.db_path(), &junk).unwrap();
    let err = fails(&sb, &["topics"]).await;
    assert!(
        err.contains("is not an Orchard database (the file is not SQLite)"),
        "{err}"
    );
    assert_eq!(std::fs::read(sb.db_path()).unwrap(), junk);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_locked_by_another_process_is_reported() {
    let mut sb = Sandbox::new();
    sb.ok(&["topics"]).await;
    sb.env("ORCHARD_BUSY_TIMEOUT", "200ms");
    let mut holder = sb.db().await;
    sqlx::query("PRAGMA locking_mode = EXCLUSIVE")
        .execute(&mut holder)
        .await
        .unwrap();
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut holder)
        .await
        .unwrap();
    let err = fails(&sb, &["topics"]).await;
    assert!(err.contains("is locked by another process"), "{err}");
    sqlx::query("COMMIT").execute(&mut holder).await.unwrap();
    holder.close().await.unwrap();
    sb.ok(&["topics"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_from_a_newer_orchard_is_refused() {
    let sb = Sandbox::new();
    sb.ok(&["topics"]).await;
    let mut db = sb.db().await;
    sqlx::query("INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (424242, 'x', 1, x'00', 0)")
        .execute(&mut db)
        .await
        .unwrap();
    db.close().await.unwrap();
    let err = fails(&sb, &["topics"]).await;
    assert!(
        err.contains("was written by a newer Orchard (schema version 424242"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_dir_that_is_not_writable_is_reported() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new();
    std::fs::set_permissions(sb.root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let ro = sb.root.path().join("read-only");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    let ro_str = ro.to_str().unwrap();
    // Permission bits do not bind root; drop to an unprivileged user when running as root.
    let is_root = nix::unistd::geteuid().is_root();
    let out = if is_root {
        tokio::process::Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                BIN,
                "--data-dir",
                ro_str,
                "topics",
            ])
            .env_clear()
            .env("HOME", ro_str)
            .output()
            .await
            .expect("setpriv (util-linux) is needed to test permissions as root")
    } else {
        sb.run(&["--data-dir", ro_str, "topics"]).await
    };
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "the data directory {ro_str} is not writable (permission denied)"
        )),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_protocol_or_base_url_is_refused() {
    let sb = Sandbox::new();
    let out = sb
        .run(&[
            "provider",
            "add",
            "x",
            "--protocol",
            "carrier-pigeon",
            "--base-url",
            "http://a.example",
        ])
        .await;
    assert!(
        stderr(&out).contains("unknown protocol 'carrier-pigeon'; this Orchard speaks: openai"),
        "{}",
        stderr(&out)
    );
    let err = fails(
        &sb,
        &["provider", "add", "x", "--base-url", "ftp://a.example"],
    )
    .await;
    assert!(err.contains("must start with http:// or https://"), "{err}");
    let err = fails(&sb, &["provider", "add", "x"]).await;
    assert!(
        err.contains("needs a base URL") && err.contains("--base-url"),
        "{err}"
    );
    let err = fails(
        &sb,
        &[
            "provider",
            "add",
            "x",
            "--base-url",
            "https://user:pw@a.example",
        ],
    )
    .await;
    assert!(
        err.contains("contains a user name or password") && !err.contains("pw@"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_failure_is_reported_as_such() {
    let sb = Sandbox::new();
    let server = FakeTlsServer::start().await;
    sb.ok(&[
        "provider",
        "add",
        "selfsigned",
        "--base-url",
        &format!("https://localhost:{}", server.addr().port()),
    ])
    .await;
    let err = fails(&sb, &["chat", "-m", "selfsigned:m", "hi"]).await;
    assert!(
        err.contains("secure connection (TLS) to localhost"),
        "{err}"
    );
    assert!(err.to_lowercase().contains("certificate"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_403_that_is_not_about_the_key_does_not_mark_it_rejected() {
    let sb = Sandbox::new();
    let fake = FakeProvider::start().await;
    sb.add_fake(&fake, "fake", Some(KEY)).await;
    fake.push(ErrorReply::custom(
        403,
        r#"{"error":{"message":"Country, region, or territory not supported","type":"request_forbidden","param":null,"code":"unsupported_country_region_territory"}}"#,
    ));
    let err = fails(&sb, &["chat", "-m", "fake:fake-small", "hi"]).await;
    assert!(
        err.contains("fake refused access (403): Country, region, or territory not supported"),
        "{err}"
    );
    assert!(!sb.ok(&["provider", "list"]).await.contains("rejected"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_for_a_plain_http_remote_host_comes_with_a_warning() {
    let sb = Sandbox::new();
    let out = sb
        .run_stdin(
            &[
                "provider",
                "add",
                "lan",
                "--base-url",
                "http://192.0.2.10:8000",
                "--key-stdin",
            ],
            &format!("{KEY}\n"),
        )
        .await;
    assert_success(&out, &["provider", "add"]);
    assert!(
        stderr(&out).contains("warning: lan is reached over plain http://"),
        "{}",
        stderr(&out)
    );
    let out = sb
        .run(&[
            "provider",
            "add",
            "local",
            "--base-url",
            "http://127.0.0.1:1234",
        ])
        .await;
    assert_eq!(stderr(&out), "", "loopback is not a network");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirecting_provider_is_not_followed() {
    let sb = Sandbox::new();
    let fake = FakeProvider::start().await;
    let elsewhere = FakeProvider::start().await;
    sb.add_fake(&fake, "fake", Some(KEY)).await;
    fake.push(ErrorReply::custom(307, "").header(
        "location",
        &format!("{}/chat/completions", elsewhere.base_url()),
    ));
    let err = fails(&sb, &["chat", "-m", "fake:fake-small", "private words"]).await;
    assert!(
        err.contains("fake redirects the request elsewhere (307)"),
        "{err}"
    );
    assert!(
        elsewhere.requests().is_empty(),
        "the conversation must not follow the redirect"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_and_cut_streams_before_the_answer_are_retried() {
    let mut sb = Sandbox::new();
    sb.env("ORCHARD_RETRY_BASE", "10ms");
    let fake = FakeProvider::start().await;
    sb.add_fake(&fake, "fake", None).await;
    fake.push(ErrorReply::server_error(503));
    fake.push(orchard_testkit::Answer::text(&["never seen"]).cut_after(0));
    // The third attempt is answered (an echo).
    let out = sb.run(&["chat", "-m", "fake:fake-small", "hi"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "echo: hi\n",
        "no text from the failed attempts"
    );
    assert_eq!(fake.requests().len(), 3);
    // Each attempt is its own row in the egress ledger.
    let mut db = sb.db().await;
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM egress_log WHERE purpose = 'chat:fake'")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(n, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_after_text_reached_the_person_is_not_retried() {
    let sb = Sandbox::new();
    let fake = FakeProvider::start().await;
    sb.add_fake(&fake, "fake", None).await;
    fake.push(orchard_testkit::Answer::text(&["shown ", "then cut"]).cut_after(1));
    let out = sb.run(&["chat", "-m", "fake:fake-small", "hi"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout(&out),
        "shown \n",
        "a retry would have printed text twice"
    );
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_rate_limit_is_waited_out_and_a_long_one_is_not() {
    let mut sb = Sandbox::new();
    let fake = FakeProvider::start().await;
    sb.add_fake(&fake, "fake", None).await;
    fake.push(ErrorReply::rate_limited(1));
    let started = std::time::Instant::now();
    let out = sb.run(&["chat", "-m", "fake:fake-small", "hi"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "Retry-After was honoured"
    );
    assert_eq!(fake.requests().len(), 2);

    sb.env("ORCHARD_MAX_RETRY_WAIT", "2s");
    fake.push(ErrorReply::rate_limited(600));
    let err = fails(&sb, &["chat", "-m", "fake:fake-small", "hi"]).await;
    assert!(
        err.contains("fake is limiting requests (429); it asks to wait 600 s"),
        "{err}"
    );
    assert_eq!(
        fake.requests().len(),
        3,
        "a 10-minute wait is not waited for"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_stream_event_names_the_provider_and_keeps_the_partial_reply() {
    let sb = Sandbox::new();
    let fake = FakeProvider::start().await;
    sb.add_fake(&fake, "fake", None).await;
    let broken = "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"fake-small\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"the first half \"},\"finish_reason\":null}]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"oops\n\n";
    fake.push(ErrorReply {
        content_type: "text/event-stream".into(),
        ..ErrorReply::custom(200, broken)
    });
    let out = sb.run(&["chat", "-m", "fake:fake-small", "hi"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "the first half \n");
    let err = stderr(&out);
    assert!(
        err.contains("fake") && err.contains("a stream event is not valid JSON"),
        "{err}"
    );
    assert_eq!(fake.requests().len(), 1, "text had arrived: no retry");
    let show = sb.ok(&["show", "1"]).await;
    assert!(show.contains("the first half"), "{show}");
    assert!(
        show.contains("[error: ") && show.contains("not valid JSON"),
        "{show}"
    );
}
