//! One function per command.

use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use orchard_app::attachments::ImageInput;
use orchard_app::chat::{ChatInput, ReplyObserver, TopicChoice};
use orchard_app::config::{self, Config};
use orchard_app::providers::AddProvider;
use orchard_app::{App, AppError};
use orchard_core::TopicId;
use orchard_core::message::MessageStatus;
use orchard_core::model_ref::ModelRef;
use orchard_core::provider::Protocol;
use tokio_util::sync::CancellationToken;

use crate::args::{
    ChatArgs, Command, ConfigCommand, ExportCommand, ExportFormat, KeyCommand, ModelArgs,
    ProviderCommand,
};
use crate::{keys, output};

/// Runs a command to its exit code.
pub async fn run(command: Command, cfg: Config) -> Result<ExitCode, AppError> {
    match command {
        // These need no database, so they work even when it is broken or locked.
        Command::Config(ConfigCommand::Show) => {
            print!("{}", config::show(&cfg));
            Ok(ExitCode::SUCCESS)
        }
        Command::Provider(ProviderCommand::Catalogue) => {
            let catalogue = orchard_app::load_catalogue(&cfg.data_dir)?;
            let rows: Vec<Vec<String>> = catalogue
                .entries()
                .iter()
                .map(|e| {
                    vec![
                        e.id.clone(),
                        e.name.clone(),
                        e.protocol.to_string(),
                        if e.base_url.is_empty() {
                            "(you give it)".into()
                        } else {
                            e.base_url.clone()
                        },
                        if e.privacy_url.is_empty() {
                            "-".into()
                        } else {
                            e.privacy_url.clone()
                        },
                    ]
                })
                .collect();
            print!(
                "{}",
                output::table(
                    &["ID", "NAME", "PROTOCOL", "BASE URL", "PRIVACY POLICY"],
                    &rows
                )
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve { .. } => serve(cfg).await,
        other => {
            let app = App::open(cfg).await?;
            let result = with_app(&app, other).await;
            app.shutdown().await;
            result
        }
    }
}

async fn with_app(app: &App, command: Command) -> Result<ExitCode, AppError> {
    match command {
        Command::Chat(args) => chat(app, args).await,
        Command::Topics => {
            print!("{}", output::topics(&app.topics().await?));
            Ok(ExitCode::SUCCESS)
        }
        Command::Show { topic } => {
            let id = parse_topic(app, &topic).await?;
            let (topic, messages) = app.conversation(id).await?;
            let text = output::conversation(&topic, &messages);
            if std::io::stdout().is_terminal() {
                print!("{}", output::for_terminal(&text));
            } else {
                print!("{text}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Provider(cmd) => provider(app, cmd).await,
        Command::Export(ExportCommand::Topic { topic, format }) => {
            let id = parse_topic(app, &topic).await?;
            let text = match format {
                ExportFormat::Md => app.export_markdown(id).await?,
                ExportFormat::Json => app.export_json(&[id]).await?,
            };
            print!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Import { file } => {
            let bytes = std::fs::read(&file)
                .map_err(|e| AppError::invalid(format!("cannot read {}: {e}", file.display())))?;
            let ids = app.import(&bytes).await?;
            let list: Vec<String> = ids.iter().map(ToString::to_string).collect();
            println!("imported {} topic(s): {}", ids.len(), list.join(", "));
            Ok(ExitCode::SUCCESS)
        }
        Command::Kb(cmd) => crate::kb::kb(app, cmd).await,
        Command::Embedder(cmd) => crate::kb::embedder(app, cmd).await,
        Command::Serve { .. } | Command::Config(_) => unreachable!("handled in run"),
    }
}

async fn provider(app: &App, cmd: ProviderCommand) -> Result<ExitCode, AppError> {
    match cmd {
        ProviderCommand::Add {
            name,
            protocol,
            base_url,
            key,
        } => {
            let protocol = protocol
                .map(|p| p.parse::<Protocol>())
                .transpose()
                .map_err(|e| AppError::invalid(e.to_string()))?;
            let display = app
                .catalogue()
                .get(&name)
                .map_or(name.clone(), |e| e.name.clone());
            let keys = keys::read_keys(&key, Some(&display))?;
            if keys.is_empty() && app.key_required(&name) {
                return Err(AppError::new(
                    "key_required",
                    format!(
                        "{display} needs an API key: give it with --key-stdin (one per line) or --key-env VAR"
                    ),
                ));
            }
            let view = app
                .add_provider(AddProvider {
                    name,
                    protocol,
                    base_url,
                    keys,
                })
                .await?;
            let p = &view.provider;
            let masks: Vec<&str> = view.keys.iter().map(|k| k.mask.as_str()).collect();
            if orchard_core::base_url::resolve_api_base(&p.base_url)
                .is_ok_and(|u| orchard_core::base_url::is_plaintext_remote(&u))
            {
                eprintln!(
                    "orchard: warning: {} is reached over plain http://, so its key and your conversations cross the network unencrypted",
                    p.name
                );
            }
            println!(
                "added {} ({}, {}) with {}",
                p.name,
                p.protocol,
                p.base_url,
                if masks.is_empty() {
                    "no key".to_owned()
                } else {
                    format!("key {}", masks.join(", "))
                }
            );
            // Promise L5: say plainly where conversations will go, and whose policy applies.
            if let Some(url) = view.privacy_url() {
                println!(
                    "conversations with {} are sent to that address; its privacy policy: {url}",
                    p.name
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        ProviderCommand::List => {
            print!("{}", output::providers(&app.list_providers().await?));
            Ok(ExitCode::SUCCESS)
        }
        ProviderCommand::Remove { name } => {
            app.remove_provider(&name).await?;
            println!("removed {name}");
            Ok(ExitCode::SUCCESS)
        }
        ProviderCommand::Models { name } => {
            for m in app.fetch_models(&name).await? {
                println!("{}", m.model_id);
            }
            Ok(ExitCode::SUCCESS)
        }
        ProviderCommand::Key(KeyCommand::Add { name, key }) => {
            let keys = keys::read_keys(&key, Some(&name))?;
            if keys.is_empty() {
                return Err(AppError::invalid(
                    "no key given: use --key-stdin or --key-env VAR",
                ));
            }
            let view = app.add_keys(&name, &keys).await?;
            let masks: Vec<&str> = view.keys.iter().map(|k| k.mask.as_str()).collect();
            println!("{name} keys: {}", masks.join(", "));
            Ok(ExitCode::SUCCESS)
        }
        ProviderCommand::Key(KeyCommand::Remove { name, mask }) => {
            app.remove_key(&name, &mask).await?;
            println!("removed key {mask} of {name}");
            Ok(ExitCode::SUCCESS)
        }
        ProviderCommand::Check { name } => {
            let mut all_ok = true;
            for check in app.check_keys(&name).await? {
                let who = check.mask.as_deref().unwrap_or("(no key)");
                match check.result {
                    Ok(n) => println!("{who}  OK ({n} models)"),
                    Err(reason) => {
                        all_ok = false;
                        println!("{who}  {reason}");
                    }
                }
            }
            Ok(if all_ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        ProviderCommand::Detect => {
            let found = app.detect_local().await?;
            if found.is_empty() {
                println!(
                    "no local model server found (looked at Ollama on 127.0.0.1:11434 and LM Studio on 127.0.0.1:1234)"
                );
            }
            for d in found {
                let known = app
                    .store()
                    .provider_by_name(app.user(), d.kind)
                    .await?
                    .is_some();
                println!(
                    "found {} at {} with {} model(s){}",
                    d.kind,
                    d.base_url,
                    d.models.len(),
                    if known { " (already added)" } else { "" }
                );
                if !known {
                    println!(
                        "  add it with: orchard provider add {} --base-url {}",
                        d.kind, d.base_url
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ProviderCommand::Model(args) => model_caps(app, args).await,
        ProviderCommand::Catalogue => unreachable!("handled in run"),
    }
}

async fn model_caps(app: &App, a: ModelArgs) -> Result<ExitCode, AppError> {
    let set = orchard_core::capabilities::CapabilityOverride {
        vision: a.vision.map(|s| s.on()),
        reasoning: a.reasoning.map(|s| s.on()),
        tools: a.tools.map(|s| s.on()),
        embedding: a.embedding.map(|s| s.on()),
        rerank: a.rerank.map(|s| s.on()),
        context: a.context,
    };
    let caps = if set == orchard_core::capabilities::CapabilityOverride::default() {
        let p = app.provider_named(&a.name).await?;
        app.capabilities(&p, &a.model).await?
    } else {
        app.set_capabilities(&a.name, &a.model, &set).await?
    };
    let yes = |b: bool| if b { "yes" } else { "no" };
    println!("{}:{}", a.name, a.model);
    println!("  vision     {}", yes(caps.vision));
    println!("  reasoning  {}", yes(caps.reasoning));
    println!("  tools      {}", yes(caps.tools));
    println!("  embedding  {}", yes(caps.embedding));
    println!("  rerank     {}", yes(caps.rerank));
    println!(
        "  context    {}",
        caps.context
            .map_or("unknown".to_owned(), |c| format!("{c} tokens"))
    );
    Ok(ExitCode::SUCCESS)
}

async fn parse_topic(app: &App, s: &str) -> Result<TopicId, AppError> {
    if s.trim().eq_ignore_ascii_case("last") {
        return app
            .store()
            .latest_topic(app.user())
            .await?
            .map(|t| t.id)
            .ok_or_else(|| AppError::not_found("there are no topics yet"));
    }
    s.parse()
        .map_err(|e: orchard_core::ParseIdError| AppError::invalid(e.to_string()))
}

/// Writes the answer to stdout as it arrives; reasoning goes to a terminal's stderr only.
struct Printer {
    terminal: bool,
    wrote: bool,
    ends_with_newline: bool,
    thinking_to_stderr: bool,
    in_thinking: bool,
}

impl ReplyObserver for Printer {
    fn on_text(&mut self, delta: &str) {
        if self.in_thinking {
            eprintln!();
            self.in_thinking = false;
        }
        let shown = if self.terminal {
            output::for_terminal(delta)
        } else {
            delta.into()
        };
        let mut out = std::io::stdout().lock();
        // A closed pipe (`| head`) must not stop the answer from being stored.
        let _ = out.write_all(shown.as_bytes()).and_then(|()| out.flush());
        if !delta.is_empty() {
            self.wrote = true;
            self.ends_with_newline = delta.ends_with('\n');
        }
    }

    fn on_thinking(&mut self, delta: &str) {
        if self.thinking_to_stderr {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\x1b[2m{}\x1b[0m", output::for_terminal(delta))
                .and_then(|()| err.flush());
            self.in_thinking = true;
        }
    }
}

/// How often `serve` looks for replies of processes that died.
const RECOVERY_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

const SIGINT_EXIT: u8 = 130;
const SIGTERM_EXIT: u8 = 143;

async fn chat(app: &App, args: ChatArgs) -> Result<ExitCode, AppError> {
    let text = if args.message.is_empty() {
        if std::io::stdin().is_terminal() {
            return Err(AppError::invalid(
                "no message given (write it after the options, or pipe it to stdin)",
            ));
        }
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| AppError::invalid(format!("cannot read the message from stdin: {e}")))?;
        s
    } else {
        args.message.join(" ")
    };
    let model = args
        .model
        .map(|m| m.parse::<ModelRef>())
        .transpose()
        .map_err(|e| AppError::invalid(e.to_string()))?;
    let topic = match &args.topic {
        Some(t) => TopicChoice::Continue(parse_topic(app, t).await?),
        None => TopicChoice::New,
    };
    let images = args
        .images
        .iter()
        .map(|path| ImageInput::read(path))
        .collect::<Result<Vec<_>, _>>()?;

    let cancel = CancellationToken::new();
    let signal = Arc::new(AtomicU8::new(0));
    let mut signals = Signals::install()?;
    let watcher = {
        let (cancel, signal) = (cancel.clone(), signal.clone());
        tokio::spawn(async move {
            signal.store(signals.recv().await, Ordering::SeqCst);
            cancel.cancel();
        })
    };
    let mut printer = Printer {
        terminal: std::io::stdout().is_terminal(),
        wrote: false,
        ends_with_newline: true,
        thinking_to_stderr: std::io::stderr().is_terminal(),
        in_thinking: false,
    };
    let mut knowledge = Vec::new();
    for name in &args.kb {
        knowledge.push(app.kb_named(name).await?.id);
    }
    let result = app
        .chat(
            ChatInput {
                model,
                topic,
                system: args.system,
                text,
                stream: !args.no_stream,
                images,
                thinking_budget: args.think,
                knowledge,
            },
            &mut printer,
            &cancel,
        )
        .await;
    watcher.abort();
    if printer.wrote && !printer.ends_with_newline {
        println!();
    }
    let outcome = result?;
    let saved = format!("the conversation is saved as topic {}", outcome.topic);
    match outcome.status {
        MessageStatus::Done => {
            match outcome.finish.as_deref() {
                Some("safety") => {
                    eprintln!("orchard: the provider stopped the answer for safety reasons")
                }
                Some("length") => {
                    eprintln!("orchard: the answer was cut at the output token limit")
                }
                _ => {}
            }
            if std::io::stderr().is_terminal() {
                let tokens = match (outcome.usage.input_tokens, outcome.usage.output_tokens) {
                    (Some(i), Some(o)) => format!(" · {i}→{o} tokens"),
                    _ => String::new(),
                };
                eprintln!(
                    "\x1b[2m[{} · topic {}{tokens}]\x1b[0m",
                    outcome.model, outcome.topic
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        MessageStatus::Cancelled => {
            eprintln!("orchard: stopped; the partial answer is kept ({saved})");
            let code = match signal.load(Ordering::SeqCst) {
                0 => SIGINT_EXIT,
                c => c,
            };
            Ok(ExitCode::from(code))
        }
        _ => {
            let mut e = outcome
                .error
                .unwrap_or_else(|| AppError::new("internal", "the answer ended without a reason"));
            e.message = format!("{}; {saved}", e.message);
            Err(e)
        }
    }
}

/// SIGINT and SIGTERM handlers, installed when this is created. Tokio installs a
/// handler only when a signal future is first polled; a signal arriving before that
/// would take its default action and kill the process without a clean shutdown. So
/// handlers are installed before the process announces it is ready.
struct Signals {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> Result<Self, AppError> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let err = |e: std::io::Error| {
                AppError::new("internal", format!("cannot handle signals: {e}"))
            };
            Ok(Self {
                int: signal(SignalKind::interrupt()).map_err(err)?,
                term: signal(SignalKind::terminate()).map_err(err)?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    /// Waits for a signal; returns the conventional exit code for it (128 + number).
    async fn recv(&mut self) -> u8 {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.int.recv() => SIGINT_EXIT,
                _ = self.term.recv() => SIGTERM_EXIT,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            SIGINT_EXIT
        }
    }
}

async fn serve(cfg: Config) -> Result<ExitCode, AppError> {
    let bind = cfg.bind;
    let mut signals = Signals::install()?;
    let app = Arc::new(App::open(cfg).await?);
    let listener = orchard_net::listen(bind)
        .map_err(|e| AppError::new("bind_failed", format!("cannot listen on {bind}: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| AppError::new("bind_failed", format!("cannot listen on {bind}: {e}")))?;
    // Scripts and tests read this line to find the port (with --bind 127.0.0.1:0).
    println!("listening on http://{addr}");
    let _ = std::io::stdout().flush();
    tracing::info!(%addr, data_dir = %app.config().data_dir.display(), "Orchard studio started");
    let shutdown = async move {
        signals.recv().await;
        tracing::info!("shutting down");
    };
    // A CLI process that dies while the server runs leaves its reply open; look for
    // such replies regularly rather than only at the next start.
    let recovery = {
        let app = app.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(RECOVERY_EVERY).await;
                if let Err(e) = app.recover_interrupted().await {
                    tracing::warn!(error = %e, "could not look for interrupted replies");
                }
            }
        })
    };
    let served = orchard_server::serve(app.clone(), listener, shutdown).await;
    recovery.abort();
    let _ = recovery.await;
    // Whatever ended the server, record the last requests and release the lease.
    match Arc::try_unwrap(app) {
        Ok(app) => app.shutdown().await,
        Err(app) => app.flush_ledger().await,
    }
    served.map_err(|e| AppError::new("internal", format!("server error: {e}")))?;
    Ok(ExitCode::SUCCESS)
}
