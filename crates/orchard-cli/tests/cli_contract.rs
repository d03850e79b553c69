//! The command-line contract of the foundation issue, against the real binary and a
//! fake OpenAI-compatible provider on loopback.

mod common;

use common::*;
use orchard_testkit::{Answer, FakeProvider};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_prints_the_crate_version() {
    let sb = Sandbox::new();
    assert_eq!(
        sb.ok(&["--version"]).await,
        format!("orchard {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_streams_only_the_reply_to_stdout_and_stores_both_messages() {
    let sb = Sandbox::new();
    let fake = FakeProvider::start().await;
    fake.require_key(KEY);
    sb.add_fake(&fake, "fake", Some(KEY)).await;
    fake.push(
        Answer::text(&["Hello", ", ", "wörld"])
            .reasoning(&["pondering"])
            .usage(12, 3),
    );

    let out = sb
        .run(&["chat", "-m", "fake:fake-small", "Say", "hello"])
        .await;
    assert_success(&out, &["chat"]);
    assert_eq!(
        stdout(&out),
        "Hello, wörld\n",
        "only the reply (the reasoning is not stdout)"
    );
    assert_eq!(
        stderr(&out),
        "",
        "nothing on stderr when it is not a terminal"
    );

    let sent = fake.requests().pop().unwrap().json();
    assert_eq!(sent["messages"][0]["content"], "Say hello");
    assert_eq!(sent["model"], "fake-small");

    let show = sb.ok(&["show", "1"]).await;
    assert!(show.contains("## You\n\nSay hello"), "{show}");
    assert!(
        show.contains("## Assistant · fake:fake-small · 12→3 tokens"),
        "{show}"
    );
    assert!(show.contains("> pondering"), "{show}");
    assert!(show.contains("Hello, wörld"), "{show}");
    assert_eq!(
        sb.last_reply().await,
        ("done".to_owned(), "Hello, wörld".to_owned())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_streaming_mode_gives_the_same_result() {
    let sb = Sandbox::new();
    let fake = FakeProvider::start().await;
    sb.add_fake(&fake, "fake", None).await;
    fake.push(Answer::text(&["in ", "one ", "piece"]));
    let out = sb
        .ok(&["chat", "--no-stream", "-m", "fake:fake-small", "hi"])
        .await;
    assert_eq!(out, "in one piece\n");
    assert_eq!(fake.requests().pop().unwrap().json()["stream"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_continue_with_history_and_the_last_model_is_reused() {
    let sb = Sandbox::new();
    let fake = FakeProvider::start().await;
    sb.add_fake(&fake, "fake", None).await;

    sb.ok(&[
        "chat",
        "-m",
        "fake:fake-small",
        "--system",
        "Be terse.",
        "first question",
    ])
    .await;
    // Without -m: the last used model. With --topic: the conversation so far is sent.
    let out = sb.ok(&["chat", "--topic", "1", "second question"]).await;
    assert_eq!(out, "echo: second question\n");
    let sent = fake.requests().pop().unwrap().json();
    assert_eq!(sent["model"], "fake-small");
    let roles: Vec<&str> = sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
    assert_eq!(sent["messages"][0]["content"], "Be terse.");
    assert_eq!(sent["messages"][2]["content"], "echo: first question");

    // --topic last, and a new topic by default.
    sb.ok(&["chat", "--topic", "last", "third"]).await;
    sb.ok(&["chat", "--new", "other subject"]).await;
    sb.ok(&["chat", "yet another"]).await;
    let topics = sb.ok(&["topics"]).await;
    let lines: Vec<&str> = topics.lines().collect();
    assert_eq!(lines.len(), 4, "{topics}");
    assert!(
        lines[0].starts_with("ID")
            && lines[0].contains("UPDATED")
            && lines[0].contains("MESSAGES")
            && lines[0].ends_with("TITLE")
    );
    assert!(topics.contains("first question"), "{topics}");
    let first = lines
        .iter()
        .find(|l| l.ends_with("first question"))
        .unwrap();
    assert!(
        first.split_whitespace().any(|w| w == "7"),
        "system + 3 questions + 3 answers: {first}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_model_flag_splits_at_the_first_colon() {
    let sb = Sandbox::new();
    let fake = FakeProvider::start().await;
    fake.set_models(&["llama3:8b", "anthropic/claude-3.5-sonnet"]);
    // Not named "ollama": that is a catalogue id, which would bring Ollama's own protocol.
    sb.add_fake(&fake, "local", None).await;
    sb.ok(&["chat", "-m", "local:llama3:8b", "hi"]).await;
    assert_eq!(fake.requests().pop().unwrap().json()["model"], "llama3:8b");
    sb.ok(&["chat", "-m", "local:anthropic/claude-3.5-sonnet", "hi"])
        .await;
    assert_eq!(
        fake.requests().pop().unwrap().json()["model"],
        "anthropic/claude-3.5-sonnet"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_message_can_come_from_stdin() {
    let sb = Sandbox::new();
    let fake = FakeProvider::start().await;
    sb.add_fake(&fake, "fake", None).await;
    let out = sb
        .run_stdin(&["chat", "-m", "fake:fake-small"], "piped question\n")
        .await;
    assert_success(&out, &["chat"]);
    assert_eq!(stdout(&out), "echo: piped question\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn providers_are_added_listed_with_masked_keys_and_removed() {
    let sb = Sandbox::new();
    let fake = FakeProvider::start().await;
    fake.set_models(&["m-b", "m-a"]);
    fake.require_key(KEY);
    let add = sb
        .run_stdin(
            &[
                "provider",
                "add",
                "work",
                "--protocol",
                "openai",
                "--base-url",
                &fake.base_url(),
                "--key-stdin",
            ],
            &format!("{KEY}\n"),
        )
        .await;
    assert_success(&add, &["provider", "add"]);
    assert_eq!(
        stdout(&add),
        format!(
            "added work (openai, {}) with key sk-…1f3a\n",
            fake.base_url()
        )
    );

    assert_eq!(sb.ok(&["provider", "models", "work"]).await, "m-a\nm-b\n");
    let list = sb.ok(&["provider", "list"]).await;
    assert!(list.starts_with("NAME"), "{list}");
    let row = list.lines().nth(1).unwrap();
    assert!(
        row.starts_with("work")
            && row.contains("openai")
            && row.contains("sk-…1f3a (ok)")
            && row.contains(" 2 "),
        "{row}"
    );

    // A second key, then removing the first by its mask.
    let second = "sk-second-00000000000000000000000000000009";
    let out = sb
        .run_stdin(
            &["provider", "key", "add", "work", "--key-stdin"],
            &format!("{second}\n"),
        )
        .await;
    assert_success(&out, &["provider", "key", "add"]);
    assert_eq!(stdout(&out), "work keys: sk-…1f3a, sk-…0009\n");
    sb.ok(&["provider", "key", "remove", "work", "sk-…1f3a"])
        .await;
    assert!(sb.ok(&["provider", "list"]).await.contains("sk-…0009"));

    assert_eq!(
        sb.ok(&["provider", "remove", "work"]).await,
        "removed work\n"
    );
    assert_eq!(sb.ok(&["provider", "list"]).await.lines().count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_l5_catalogue_providers_need_no_base_url_and_link_their_privacy_policy() {
    let sb = Sandbox::new();
    let out = sb
        .run_stdin(
            &["provider", "add", "deepseek", "--key-stdin"],
            &format!("{KEY}\n"),
        )
        .await;
    assert_success(&out, &["provider", "add", "deepseek"]);
    let text = stdout(&out);
    assert!(
        text.starts_with("added deepseek (openai, https://api.deepseek.com) with key sk-…1f3a\n"),
        "{text}"
    );
    assert!(text.contains("privacy policy: https://"), "{text}");
    let list = sb.ok(&["provider", "list"]).await;
    assert!(list.contains("https://cdn.deepseek.com/policies"), "{list}");
    let catalogue = sb.ok(&["provider", "catalogue"]).await;
    for id in [
        "openai",
        "deepseek",
        "openrouter",
        "groq",
        "mistral",
        "xai",
        "together",
        "siliconflow",
        "moonshot",
        "zhipu",
        "dashscope",
        "lmstudio",
        "custom",
    ] {
        assert!(
            catalogue.lines().any(|l| l.starts_with(&format!("{id} "))),
            "{id} missing:\n{catalogue}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_with_inner_whitespace_are_refused_without_echoing_them() {
    let sb = Sandbox::new();
    let fake = FakeProvider::start().await;
    let out = sb
        .run_stdin(
            &[
                "provider",
                "add",
                "f",
                "--base-url",
                &fake.base_url(),
                "--key-stdin",
            ],
            "sk-abc def-SECRETPART\n",
        )
        .await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("line 1 of standard input") && err.contains("space or line break"),
        "{err}"
    );
    assert!(!err.contains("SECRETPART"), "{err}");
    // Nothing half-added.
    assert_eq!(sb.ok(&["provider", "list"]).await.lines().count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_can_come_from_an_environment_variable() {
    let mut sb = Sandbox::new();
    sb.env("MY_KEY", KEY);
    let fake = FakeProvider::start().await;
    fake.require_key(KEY);
    sb.ok(&[
        "provider",
        "add",
        "f",
        "--base-url",
        &fake.base_url(),
        "--key-env",
        "MY_KEY",
    ])
    .await;
    assert_eq!(
        sb.ok(&["chat", "-m", "f:fake-small", "hi"]).await,
        "echo: hi\n"
    );
    let out = sb
        .run(&["provider", "key", "add", "f", "--key-env", "NOT_SET"])
        .await;
    assert!(
        stderr(&out).contains("the environment variable NOT_SET is not set"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_dir_flag_beats_env_which_beats_xdg() {
    let mut sb = Sandbox::new();
    let flag_dir = sb.root.path().join("from-flag");
    let xdg = sb.root.path().join("xdg");
    sb.env("XDG_DATA_HOME", xdg.to_str().unwrap());
    // The flag wins over ORCHARD_DATA_DIR (set by the sandbox).
    let show = sb
        .ok(&["--data-dir", flag_dir.to_str().unwrap(), "config", "show"])
        .await;
    assert!(
        show.contains(&format!("data_dir = \"{}\"", flag_dir.display())),
        "{show}"
    );
    assert!(show.contains("# data_dir chosen by --data-dir"), "{show}");
    sb.ok(&["--data-dir", flag_dir.to_str().unwrap(), "topics"])
        .await;
    assert!(flag_dir.join("orchard.db").exists());
    // ORCHARD_DATA_DIR wins over XDG.
    let show = sb.ok(&["config", "show"]).await;
    assert!(
        show.contains(&format!("data_dir = \"{}\"", sb.data.display())),
        "{show}"
    );
    // Without either: $XDG_DATA_HOME/orchard.
    let out = sb
        .cmd(&["config", "show"])
        .env_remove("ORCHARD_DATA_DIR")
        .output()
        .await
        .unwrap();
    assert!(
        stdout(&out).contains(&format!("data_dir = \"{}\"", xdg.join("orchard").display())),
        "{}",
        stdout(&out)
    );
    // And without XDG_DATA_HOME: ~/.local/share/orchard.
    let out = sb
        .cmd(&["topics"])
        .env_remove("ORCHARD_DATA_DIR")
        .env_remove("XDG_DATA_HOME")
        .output()
        .await
        .unwrap();
    assert_success(&out, &["topics"]);
    assert!(sb.home.join(".local/share/orchard/orchard.db").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_layers_file_then_env_then_flags() {
    let mut sb = Sandbox::new();
    std::fs::create_dir_all(&sb.data).unwrap();
    std::fs::write(
        sb.data.join("orchard.toml"),
        "[server]\nbind = \"127.0.0.1:1111\"\n[net]\nidle_timeout = \"42s\"\nconnect_timeout = \"3s\"\n",
    )
    .unwrap();
    let show = sb.ok(&["config", "show"]).await;
    assert!(
        show.contains("bind = \"127.0.0.1:1111\"") && show.contains("idle_timeout = \"42s\""),
        "{show}"
    );
    sb.env("ORCHARD_BIND", "127.0.0.1:2222")
        .env("ORCHARD_IDLE_TIMEOUT", "7s");
    let show = sb.ok(&["config", "show"]).await;
    assert!(
        show.contains("bind = \"127.0.0.1:2222\"") && show.contains("idle_timeout = \"7s\""),
        "{show}"
    );
    assert!(
        show.contains("connect_timeout = \"3s\""),
        "file values not overridden stay: {show}"
    );
    let show = sb
        .ok(&["--proxy", "socks5h://127.0.0.1:9050", "config", "show"])
        .await;
    assert!(
        show.contains("proxy = \"socks5h://127.0.0.1:9050\"")
            && show.contains("# proxy chosen by --proxy"),
        "{show}"
    );
    // The output is TOML.
    toml::from_str::<toml::Value>(&show).unwrap();
}

/// The terminal device (`/dev/pts/N`) of the orchard process using `data_dir`.
fn tty_of_orchard(data_dir: &std::path::Path) -> Option<std::path::PathBuf> {
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if args.first().map(String::as_str) == Some(BIN)
            && args.iter().any(|a| a == data_dir.to_str().unwrap())
        {
            return std::fs::read_link(entry.path().join("fd/0")).ok();
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_l2_the_key_prompt_reads_from_the_terminal_without_echo() {
    use nix::sys::termios::{LocalFlags, tcgetattr};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let sb = Sandbox::new();
    let data = sb.data.to_str().unwrap().to_owned();
    // `script` runs orchard on a real pseudo-terminal, as a person at a keyboard would.
    let mut child = tokio::process::Command::new("script")
        .args([
            "-qec",
            &format!("{BIN} --data-dir {data} provider add deepseek"),
            "/dev/null",
        ])
        .env_clear()
        .env("HOME", &sb.home)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("script (util-linux) runs a command on a pseudo-terminal");
    let shown = read_stdout_until(&mut child, "(input hidden").await;
    assert!(shown.contains("API key for DeepSeek"), "{shown}");
    // Type only once the terminal no longer echoes (bounded wait on the tty's state).
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let echo_off = tty_of_orchard(&sb.data)
            .and_then(|tty| std::fs::File::open(tty).ok())
            .and_then(|f| tcgetattr(&f).ok())
            .is_some_and(|t| !t.local_flags.contains(LocalFlags::ECHO));
        if echo_off {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the prompt never turned echo off"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(format!("{KEY}\n").as_bytes())
        .await
        .unwrap();
    let mut rest = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut rest)
        .await
        .unwrap();
    assert!(child.wait().await.unwrap().success(), "{rest}");
    let all = format!("{shown}{rest}");
    assert!(
        !all.contains(KEY) && !all.contains(&KEY[8..20]),
        "the key was echoed: {all:?}"
    );
    assert!(
        all.contains("added deepseek (openai, https://api.deepseek.com) with key sk-…1f3a"),
        "{all:?}"
    );
    assert!(sb.ok(&["provider", "list"]).await.contains("sk-…1f3a"));
}
