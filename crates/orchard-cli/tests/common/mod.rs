//! Helpers for driving the real `orchard` binary in a fresh data directory.
#![allow(dead_code, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use orchard_testkit::FakeProvider;
use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

pub const BIN: &str = env!("CARGO_BIN_EXE_orchard");
/// A key whose every part is distinctive: its first eight characters (what OpenAI's 401
/// message echoes), its middle, and its last four (what masks show).
pub const KEY: &str = "sk-Q7vX9pL2-4f9a2c7e1b8d6a3f5e0c9b2a7d4e1f3a";

/// A private home and data directory for one test.
pub struct Sandbox {
    pub root: tempfile::TempDir,
    pub data: PathBuf,
    pub home: PathBuf,
    extra_env: Vec<(String, String)>,
}

impl Sandbox {
    pub fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data");
        let home = root.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        Self {
            root,
            data,
            home,
            extra_env: Vec::new(),
        }
    }

    /// Sets an environment variable for every later command.
    pub fn env(&mut self, k: &str, v: &str) -> &mut Self {
        self.extra_env.push((k.to_owned(), v.to_owned()));
        self
    }

    /// `orchard ARGS` with a clean environment: no proxy variables or settings of the
    /// machine running the tests leak in.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .env_clear()
            .env("HOME", &self.home)
            .env("ORCHARD_DATA_DIR", &self.data)
            .env("LANG", "C.UTF-8")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in &self.extra_env {
            c.env(k, v);
        }
        c
    }

    pub async fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().await.unwrap()
    }

    pub async fn run_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = self.cmd(args).stdin(Stdio::piped()).spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.as_bytes()).await.unwrap();
        drop(input);
        child.wait_with_output().await.unwrap()
    }

    /// Runs and asserts success; returns stdout.
    pub async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert_success(&out, args);
        String::from_utf8(out.stdout).unwrap()
    }

    /// Adds the fake provider as `name` with `key` (if any).
    pub async fn add_fake(&self, fake: &FakeProvider, name: &str, key: Option<&str>) {
        let keys: Vec<&str> = key.into_iter().collect();
        self.add_provider(name, None, &fake.base_url(), &keys).await;
    }

    /// `provider add NAME [--protocol P] --base-url URL`, with `keys` given one per
    /// line on stdin (none: no key); must succeed.
    pub async fn add_provider(
        &self,
        name: &str,
        protocol: Option<&str>,
        base_url: &str,
        keys: &[&str],
    ) {
        let mut args = vec!["provider", "add", name, "--base-url", base_url];
        if let Some(p) = protocol {
            args.extend(["--protocol", p]);
        }
        let out = if keys.is_empty() {
            self.run(&args).await
        } else {
            args.push("--key-stdin");
            let lines: String = keys.iter().map(|k| format!("{k}\n")).collect();
            self.run_stdin(&args, &lines).await
        };
        assert_success(&out, &["provider", "add", name]);
    }

    pub fn db_path(&self) -> PathBuf {
        self.data.join("orchard.db")
    }

    /// A connection to the database, for looking at what was stored.
    pub async fn db(&self) -> SqliteConnection {
        SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(self.db_path()))
            .await
            .unwrap()
    }

    /// (status, text) of the newest assistant message.
    pub async fn last_reply(&self) -> (String, String) {
        let mut c = self.db().await;
        let row: (String, Option<String>) = sqlx::query_as(
            "SELECT m.status, (SELECT group_concat(b.content, '') FROM message_blocks b WHERE b.message_id = m.id AND b.kind = 'text') \
             FROM messages m WHERE m.role = 'assistant' ORDER BY m.id DESC LIMIT 1",
        )
        .fetch_one(&mut c)
        .await
        .unwrap();
        c.close().await.unwrap();
        (row.0, row.1.unwrap_or_default())
    }

    /// Waits (polling the database, bounded) until the newest reply has `text`.
    pub async fn wait_reply_text(&self, text: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if self.db_path().exists() {
                let mut c = self.db().await;
                let got: Option<String> = sqlx::query_scalar(
                    "SELECT group_concat(b.content, '') FROM message_blocks b WHERE b.kind = 'text' AND b.message_id = \
                     (SELECT MAX(id) FROM messages WHERE role = 'assistant')",
                )
                .fetch_one(&mut c)
                .await
                .unwrap_or(None);
                c.close().await.unwrap();
                if got.as_deref() == Some(text) {
                    return;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "reply never reached {text:?} in the database"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

pub fn assert_success(out: &Output, what: &[&str]) {
    assert!(
        out.status.success(),
        "orchard {what:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Reads from `reader` until what was read contains `needle` (bounded); returns it.
async fn read_until(reader: &mut (impl AsyncRead + Unpin), what: &str, needle: &str) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !String::from_utf8_lossy(&seen).contains(needle) {
        let n = tokio::time::timeout_at(deadline, reader.read(&mut buf))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "{what} never showed {needle:?}; got {:?}",
                    String::from_utf8_lossy(&seen)
                )
            })
            .unwrap();
        assert!(
            n > 0,
            "{what} closed before {needle:?}; got {:?}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(seen).unwrap()
}

/// Reads the child's stdout until it contains `needle` (bounded); returns what was read.
pub async fn read_stdout_until(child: &mut Child, needle: &str) -> String {
    read_until(child.stdout.as_mut().unwrap(), "stdout", needle).await
}

/// Reads the child's stderr until it contains `needle` (bounded); returns what was read.
pub async fn read_stderr_until(child: &mut Child, needle: &str) -> String {
    read_until(child.stderr.as_mut().unwrap(), "stderr", needle).await
}

/// Polls (bounded) until the newest reply has `status`.
pub async fn wait_reply_status(sb: &Sandbox, status: &str) -> (String, String) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let reply = sb.last_reply().await;
        if reply.0 == status {
            return reply;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the reply never became {status}: {reply:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

pub fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Runs, expects failure, and returns the single stderr line.
pub async fn fails(sb: &Sandbox, args: &[&str]) -> String {
    let out = sb.run(args).await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "orchard {args:?} should fail: {}",
        stderr(&out)
    );
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "one line, got: {err}");
    assert!(err.starts_with("orchard: "), "{err}");
    err
}
