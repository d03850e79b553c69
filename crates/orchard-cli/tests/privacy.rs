//! Promises L2 (keys) and L3 (nothing leaves except to configured endpoints, and every
//! request is in the egress ledger), proven against the real binary.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::*;
use orchard_testkit::{ErrorReply, FakeHttpProxy, FakeProvider};
use sqlx::Row;

/// The part of KEY that identifies it (the `sk-test-` prefix is generic).
const KEY_CORE: &str = "4f9a2c7e1b8d6a3f5e0c";

fn leaks(text: &str) -> bool {
    text.contains(KEY) || text.contains(KEY_CORE) || text.contains(&KEY[..8])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_l2_api_key_is_encrypted_at_rest() {
    let sb = Sandbox::new();
    let fake = FakeProvider::start().await;
    fake.require_key(KEY);
    sb.add_fake(&fake, "fake", Some(KEY)).await;
    sb.ok(&["chat", "-m", "fake:fake-small", "hello"]).await;
    // The key did reach the provider (so it is stored, somewhere, in some form)...
    assert_eq!(
        fake.requests().last().unwrap().header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    // ...but no file in the data directory holds it in plain text (database, WAL,
    // backups), except that the master key file is a different secret.
    for file in files_under(&sb.data) {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !contains_bytes(&bytes, KEY_CORE.as_bytes()),
            "{} holds the key",
            file.display()
        );
    }
    let mut db = sb.db().await;
    let row = sqlx::query("SELECT ciphertext, nonce, mask FROM provider_keys")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(row.get::<String, _>("mask"), "sk-…1f3a");
    assert_eq!(row.get::<Vec<u8>, _>("nonce").len(), 24);
    assert!(
        row.get::<Vec<u8>, _>("ciphertext").len() >= KEY.len() + 16,
        "ciphertext with tag"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_l2_master_key_file_is_private_and_can_live_outside_the_data_dir() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new();
    sb.ok(&["topics"]).await;
    let mode = std::fs::metadata(sb.data.join("master.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let mut other = Sandbox::new();
    let key_file = other.root.path().join("secrets").join("orchard.key");
    std::fs::create_dir_all(key_file.parent().unwrap()).unwrap();
    std::fs::write(&key_file, format!("{}\n", "7e".repeat(32))).unwrap();
    other.env("ORCHARD_MASTER_KEY_FILE", key_file.to_str().unwrap());
    let fake = FakeProvider::start().await;
    fake.require_key(KEY);
    other.add_fake(&fake, "fake", Some(KEY)).await;
    assert!(!other.data.join("master.key").exists());
    assert_eq!(
        other.ok(&["chat", "-m", "fake:fake-small", "hi"]).await,
        "echo: hi\n"
    );
    assert!(
        other
            .ok(&["config", "show"])
            .await
            .contains(&format!("master_key_file = \"{}\"", key_file.display()))
    );

    // A copy of the database without its master key reveals nothing and says so.
    std::fs::write(&key_file, format!("{}\n", "11".repeat(32))).unwrap();
    let out = other.run(&["chat", "-m", "fake:fake-small", "hi"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot be decrypted with this master key"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_l2_api_key_never_appears_in_logs_outputs_or_errors_at_any_level() {
    let mut sb = Sandbox::new();
    sb.env("ORCHARD_LOG", "trace");
    let fake = FakeProvider::start().await;
    fake.require_key(KEY);
    let mut all = String::new();
    let mut record = |out: &std::process::Output| {
        all.push_str(&stdout(out));
        all.push_str(&stderr(out));
    };
    record(
        &sb.run_stdin(
            &[
                "provider",
                "add",
                "fake",
                "--base-url",
                &fake.base_url(),
                "--key-stdin",
            ],
            &format!("{KEY}\n"),
        )
        .await,
    );
    record(&sb.run(&["provider", "models", "fake"]).await);
    record(&sb.run(&["chat", "-m", "fake:fake-small", "hello"]).await);
    record(&sb.run(&["provider", "list"]).await);
    record(&sb.run(&["config", "show"]).await);
    record(&sb.run(&["topics"]).await);
    record(&sb.run(&["show", "1"]).await);
    // Failures: the provider rejects the key and echoes part of it, as OpenAI does.
    fake.require_key("sk-another-valid-key-0000000000000000");
    record(&sb.run(&["chat", "-m", "fake:fake-small", "again"]).await);
    record(&sb.run(&["provider", "models", "fake"]).await);
    record(&sb.run(&["provider", "list"]).await);
    fake.push(ErrorReply::server_error(500));
    record(&sb.run(&["chat", "-m", "fake:fake-small", "again"]).await);
    // Trace logging really was on (the test would prove nothing otherwise).
    assert!(
        all.contains("TRACE") || all.contains("DEBUG"),
        "no verbose logs captured"
    );
    assert!(all.contains("outbound request"), "no request logs captured");
    assert!(!leaks(&all), "the key leaked:\n{all}");
    assert!(all.contains("sk-…1f3a"), "the mask is how keys are shown");
    // Nor in anything stored about the failures.
    let mut db = sb.db().await;
    let texts: Vec<String> = sqlx::query_scalar("SELECT content FROM message_blocks UNION ALL SELECT COALESCE(status_reason, '') FROM provider_keys")
        .fetch_all(&mut db)
        .await
        .unwrap();
    assert!(!leaks(&texts.join("\n")), "{texts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_l2_each_key_is_sent_only_to_its_own_provider() {
    let sb = Sandbox::new();
    let a = FakeProvider::start().await;
    let b = FakeProvider::start().await;
    let key_b = "sk-bbbb-9d8c7b6a5f4e3d2c1b0a99887766";
    a.require_key(KEY);
    b.require_key(key_b);
    sb.add_fake(&a, "alpha", Some(KEY)).await;
    sb.add_fake(&b, "beta", Some(key_b)).await;
    sb.ok(&["chat", "-m", "alpha:fake-small", "to a"]).await;
    sb.ok(&["chat", "-m", "beta:fake-small", "to b"]).await;
    sb.ok(&["provider", "models", "alpha"]).await;
    sb.ok(&["provider", "models", "beta"]).await;
    let everything = |fake: &FakeProvider| {
        fake.requests()
            .iter()
            .map(|r| format!("{:?} {}", r.headers, String::from_utf8_lossy(&r.body)))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let (at_a, at_b) = (everything(&a), everything(&b));
    assert!(at_a.contains(KEY) && !at_a.contains(key_b), "{at_a}");
    assert!(at_b.contains(key_b) && !at_b.contains(KEY_CORE), "{at_b}");
    // Only in the Authorization header, never in a body.
    for r in a.requests().iter().chain(b.requests().iter()) {
        let body = String::from_utf8_lossy(&r.body);
        assert!(
            !body.contains(KEY_CORE) && !body.contains("sk-bbbb"),
            "{body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_l2_keys_are_never_taken_from_the_command_line() {
    let sb = Sandbox::new();
    let key_eq = format!("--key={KEY}");
    let stdin_eq = format!("--key-stdin={KEY}");
    // Every way of typing a key where it does not belong is refused, and the error
    // never repeats it.
    for args in [
        vec![
            "provider",
            "add",
            "x",
            "--base-url",
            "http://a.example",
            "--key",
            KEY,
        ],
        vec![
            "provider",
            "add",
            "x",
            "--base-url",
            "http://a.example",
            &key_eq,
        ],
        vec![
            "provider",
            "add",
            "x",
            "--base-url",
            "http://a.example",
            KEY,
        ],
        vec![
            "provider",
            "add",
            "x",
            "--base-url",
            "http://a.example",
            &stdin_eq,
        ],
        vec!["provider", "key", "add", "x", KEY],
        vec!["provider", "key", KEY],
        vec![KEY],
    ] {
        let out = sb.run(&args).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(!leaks(&err), "the key was echoed: {err}");
        assert!(err.contains("--key-stdin or --key-env"), "{err}");
    }
    // --key-env takes a variable's name; a key given there instead is never repeated,
    // whether or not it could be a variable name.
    for key in [KEY, "AIzaSyD4f9a2c7e1b8d6a3f5e0c9b2a7d4e1f3a"] {
        let out = sb
            .run(&[
                "provider",
                "add",
                "x",
                "--base-url",
                "http://a.example",
                "--key-env",
                key,
            ])
            .await;
        assert_eq!(out.status.code(), Some(1));
        let err = stderr(&out);
        assert!(!err.contains(key) && !leaks(&err), "{err}");
    }
    let err = stderr(
        &sb.run(&[
            "provider",
            "add",
            "x",
            "--base-url",
            "http://a.example",
            "--key-env",
            KEY,
        ])
        .await,
    );
    assert!(
        err.contains("takes the name of an environment variable"),
        "{err}"
    );
    // Commands and options are still named, so mistakes stay easy to fix.
    let err = stderr(&sb.run(&["provider", "lsit"]).await);
    assert!(err.contains("Did you mean 'list'?"), "{err}");
    let err = stderr(&sb.run(&["chat", "--modle", "x"]).await);
    assert!(err.contains("unexpected argument for '--modle'"), "{err}");

    let help = sb.ok(&["provider", "add", "--help"]).await;
    assert!(
        help.contains("--key-stdin") && help.contains("--key-env <VAR>"),
        "{help}"
    );
    assert!(!help.contains("--key <"), "{help}");
}

async fn ledger(sb: &Sandbox) -> Vec<(String, i64, String, i64, i64, Option<i64>, String)> {
    let mut db = sb.db().await;
    sqlx::query_as("SELECT host, port, purpose, bytes_sent, bytes_received, status, outcome FROM egress_log ORDER BY id")
        .fetch_all(&mut db)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_l3_every_outbound_request_is_in_the_egress_ledger_without_content() {
    let sb = Sandbox::new();
    let fake = FakeProvider::start().await;
    sb.add_fake(&fake, "fake", Some(KEY)).await;
    sb.ok(&["provider", "models", "fake"]).await;
    sb.ok(&["chat", "-m", "fake:fake-small", "my very private question"])
        .await;
    fake.push(ErrorReply::invalid_api_key());
    sb.run(&["chat", "-m", "fake:fake-small", "second private question"])
        .await;

    let rows = ledger(&sb).await;
    let port = i64::from(fake.addr().port());
    assert_eq!(
        rows.len(),
        fake.requests().len(),
        "one ledger row per request the provider saw: {rows:?}"
    );
    let purposes: Vec<&str> = rows.iter().map(|r| r.2.as_str()).collect();
    assert_eq!(purposes, ["models:fake", "chat:fake", "chat:fake"]);
    for (host, p, _, sent, received, _, _) in &rows {
        assert_eq!((host.as_str(), *p), ("127.0.0.1", port));
        assert!(*sent > 0 || purposes.contains(&"models:fake"));
        assert!(*received > 0);
    }
    assert_eq!(
        (rows[1].5, rows[1].6.as_str()),
        (Some(200), "ok"),
        "a complete stream is ok, not abandoned"
    );
    assert_eq!(rows[0].6, "ok");
    assert_eq!(
        rows[1].3 as usize,
        fake.requests()[1].body.len(),
        "bytes sent are the body's"
    );
    assert_eq!((rows[2].5, rows[2].6.as_str()), (Some(401), "ok"));
    // No column of the ledger holds content, keys, paths or queries.
    let mut db = sb.db().await;
    let dump: Vec<String> = sqlx::query_scalar(
        "SELECT host || '|' || port || '|' || purpose || '|' || method || '|' || outcome || '|' || COALESCE(via_proxy, '') FROM egress_log",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    let dump = dump.join("\n");
    for forbidden in [
        "private question",
        KEY_CORE,
        "/v1",
        "chat/completions",
        "Bearer",
    ] {
        assert!(!dump.contains(forbidden), "{forbidden} in ledger: {dump}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_l3_a_full_session_contacts_only_the_configured_provider() {
    // Everything that leaves goes through a recording proxy, and the provider has a
    // name that only the proxy can resolve: any request to any other host would show.
    let mut sb = Sandbox::new();
    let fake = FakeProvider::start().await;
    let proxy = FakeHttpProxy::start(fake.addr()).await;
    sb.env("ORCHARD_PROXY", &proxy.url());
    let add = sb
        .run_stdin(
            &[
                "provider",
                "add",
                "remote",
                "--base-url",
                "http://provider.test/v1",
                "--key-stdin",
            ],
            &format!("{KEY}\n"),
        )
        .await;
    assert_success(&add, &["provider", "add"]);
    sb.ok(&["provider", "models", "remote"]).await;
    sb.ok(&["chat", "-m", "remote:fake-small", "hello"]).await;
    sb.ok(&["chat", "--topic", "1", "more"]).await;
    sb.ok(&["topics"]).await;
    sb.ok(&["show", "1"]).await;
    sb.ok(&["provider", "list"]).await;
    sb.ok(&["config", "show"]).await;
    // The studio itself, started and stopped, contacts no one.
    let mut serve = sb.cmd(&["serve", "--bind", "127.0.0.1:0"]).spawn().unwrap();
    let line = read_stdout_until(&mut serve, "\n").await;
    assert!(line.starts_with("listening on http://127.0.0.1:"), "{line}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(serve.id().unwrap() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert!(serve.wait().await.unwrap().success());

    let seen: BTreeSet<String> = proxy
        .seen()
        .iter()
        .map(|t| {
            t.trim_start_matches("http://")
                .split('/')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(seen, BTreeSet::from(["provider.test".to_owned()]));
    let hosts: BTreeSet<String> = ledger(&sb).await.into_iter().map(|r| r.0).collect();
    assert_eq!(hosts, BTreeSet::from(["provider.test".to_owned()]));
    assert_eq!(ledger(&sb).await.len(), proxy.seen().len());
}

/// Crates that can open outbound connections. Only orchard-net may depend on them.
const CLIENT_CRATES: &[&str] = &[
    "reqwest",
    "hyper",
    "hyper-util",
    "ureq",
    "isahc",
    "surf",
    "curl",
    "attohttpc",
    "awc",
    "tokio-tungstenite",
    "tungstenite",
    "h2",
    "h3",
    "quinn",
    "async-h1",
    "minreq",
    "trust-dns-resolver",
    "hickory-resolver",
    "socket2",
];

#[test]
fn p_l3_only_orchard_net_opens_outbound_connections() {
    // Each member's declared dependencies as cargo reads them: real package names
    // (renames resolved) and target-specific sections included.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
    let out = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
            "--manifest-path",
        ])
        .arg(&manifest)
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut checked = 0;
    for package in meta["packages"].as_array().unwrap() {
        let crate_name = package["name"].as_str().unwrap().to_owned();
        // orchard-net is the door; orchard-testkit is test-only (fake servers and proxies).
        if crate_name == "orchard-net" || crate_name == "orchard-testkit" {
            continue;
        }
        for dep in package["dependencies"].as_array().unwrap() {
            let normal = dep["kind"].is_null() || dep["kind"] == "build";
            let dep_name = dep["name"].as_str().unwrap();
            assert!(
                !(normal && CLIENT_CRATES.contains(&dep_name)),
                "{crate_name} depends on {dep_name}; outbound connections belong in orchard-net"
            );
        }
        // And no socket is opened by hand in its source.
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .join(&crate_name)
            .join("src");
        for file in files_under(&dir) {
            let src = std::fs::read_to_string(&file).unwrap();
            for pattern in [
                "TcpStream",
                "UdpSocket",
                "TcpSocket",
                "UnixStream",
                "socket2",
                "reqwest",
                "hyper::client",
                "hyper_util::client",
            ] {
                assert!(
                    !src.contains(pattern),
                    "{} uses {pattern}; outbound connections belong in orchard-net",
                    file.display()
                );
            }
        }
        checked += 1;
    }
    assert!(
        checked >= 6,
        "expected to check the workspace crates, checked {checked}"
    );
}
