//! `orchard-fake-provider`: runs the fake model provider from
//! `orchard-testkit` as a standalone server, for trying clients by hand. It
//! speaks OpenAI, Anthropic, Gemini, Ollama and Azure OpenAI at once,
//! chosen by request path.
//!
//! Prints exactly one line, `listening on http://ADDR/v1`, then serves until
//! SIGINT or SIGTERM.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use orchard_testkit::{FakeProvider, Reply};

/// A fake model provider on a hand-written HTTP/1.1 server, speaking every
/// protocol at once: OpenAI (/v1/chat/completions, /v1/responses,
/// /v1/embeddings, /v1/models), Anthropic (/v1/messages), Gemini
/// (/v1beta/models/...), Ollama (/api/...) and Azure OpenAI (/openai/...).
#[derive(Parser, Debug)]
#[command(name = "orchard-fake-provider", version)]
struct Args {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,

    /// Port to bind (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,

    /// Name of an environment variable holding the API key requests must
    /// carry, each protocol in its own header (`Authorization: Bearer KEY`,
    /// `x-api-key`, `x-goog-api-key`, `api-key`); the key itself is never
    /// taken on the command line.
    #[arg(long, value_name = "VAR")]
    key_env: Option<String>,

    /// Comma-separated model ids to serve (default: fake-small,fake-large).
    #[arg(long, value_delimiter = ',', value_name = "ID,...")]
    models: Option<Vec<String>>,

    /// JSON file with an array of replies, answered in order before the
    /// default echo, e.g. `[{"answer": {"content": ["Hi", "!"],
    /// "tool_calls": [{"name": "f", "arguments": "{}"}]}}, {"error":
    /// {"status": 503, "body": "{}"}}, {"error": {"status": 503, "kind":
    /// "server_error"}}]` (a `kind` renders in each protocol's shape).
    #[arg(long, value_name = "FILE")]
    script: Option<PathBuf>,
}

fn fail(message: &str) -> ExitCode {
    eprintln!("orchard-fake-provider: {message}");
    ExitCode::from(2)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();

    let key = match &args.key_env {
        None => None,
        Some(var) => match std::env::var(var) {
            Ok(key) if !key.is_empty() => Some(key),
            _ => {
                return fail(&format!(
                    "environment variable {var} (from --key-env) is unset or empty"
                ));
            }
        },
    };
    let script: Vec<Reply> = match &args.script {
        None => Vec::new(),
        Some(path) => {
            let text = match std::fs::read_to_string(path) {
                Ok(t) => t,
                Err(e) => return fail(&format!("cannot read {}: {e}", path.display())),
            };
            match serde_json::from_str(&text) {
                Ok(replies) => replies,
                Err(e) => {
                    return fail(&format!(
                        "{} is not a JSON array of replies: {e}",
                        path.display()
                    ));
                }
            }
        }
    };

    let provider = match FakeProvider::start_on(SocketAddr::new(args.bind, args.port)).await {
        Ok(p) => p,
        Err(e) => return fail(&format!("cannot bind {}:{}: {e}", args.bind, args.port)),
    };
    if let Some(key) = &key {
        provider.require_key(key);
    }
    if let Some(models) = &args.models {
        let ids: Vec<&str> = models.iter().map(String::as_str).collect();
        provider.set_models(&ids);
    }
    for reply in script {
        provider.push(reply);
    }

    let mut stdout = std::io::stdout().lock();
    let line = format!("listening on {}\n", provider.base_url());
    if stdout.write_all(line.as_bytes()).is_err() || stdout.flush().is_err() {
        return fail("cannot write to stdout");
    }
    drop(stdout);

    shutdown_signal().await;
    drop(provider);
    ExitCode::SUCCESS
}

#[cfg(unix)]
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn shutdown_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
