//! The `orchard` binary: configuration → services → server or command.
//!
//! This is the only place `anyhow` would be acceptable; errors reaching here are
//! [`orchard_app::AppError`]s and are printed as one line on stderr.

mod args;
mod commands;
mod kb;
mod keys;
mod output;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use orchard_app::AppError;
use orchard_app::config::{self, Flags, ProcessEnv};
use tracing_subscriber::EnvFilter;

use crate::args::{Cli, Command};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return clap_error(e),
    };
    let flags = Flags {
        data_dir: cli.data_dir.clone(),
        bind: match &cli.command {
            Command::Serve { bind } => bind.clone(),
            _ => None,
        },
        proxy: cli.proxy.clone(),
        log: cli.log.clone(),
    };
    let cfg = match config::load(&flags, &ProcessEnv) {
        Ok(c) => c,
        Err(e) => return fail(&AppError::from(e)),
    };
    init_logging(
        cfg.log.as_deref(),
        matches!(cli.command, Command::Serve { .. }),
    );

    let runtime = match &cli.command {
        // The server serves many requests at once; everything else is one task.
        Command::Serve { .. } => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
        _ => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
    };
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            return fail(&AppError::new(
                "internal",
                format!("cannot start the async runtime: {e}"),
            ));
        }
    };
    match runtime.block_on(commands::run(cli.command, cfg)) {
        Ok(code) => code,
        Err(e) => fail(&e),
    }
}

/// Prints one line on stderr and returns a failure exit code.
pub(crate) fn fail(e: &AppError) -> ExitCode {
    tracing::debug!(code = e.code, cause = ?e.cause, "command failed");
    match hint(e.code) {
        Some(h) => {
            let h = h.replace("NAME", e.subject.as_deref().unwrap_or("NAME"));
            eprintln!("orchard: {} — {h}", e.message);
        }
        None => eprintln!("orchard: {}", e.message),
    }
    ExitCode::from(1)
}

/// What to do next, by error code (the message says what happened).
fn hint(code: &str) -> Option<&'static str> {
    Some(match code {
        "unknown_provider" => {
            "add it with `orchard provider add NAME --key-stdin` (see `orchard provider catalogue`)"
        }
        "no_model_chosen" => {
            "choose one with -m PROVIDER:MODEL (see `orchard provider models NAME`)"
        }
        "missing_key" | "provider_missing_key" => {
            "add a key with `orchard provider key add NAME --key-stdin`"
        }
        "provider_bad_key" => "add a working key with `orchard provider key add NAME --key-stdin`",
        "provider_unknown_model" => "see the models it offers with `orchard provider models NAME`",
        "base_url_required" => "give it with --base-url URL",
        "proxy_unreachable" => "check the proxy with `orchard config show`",
        _ => return None,
    })
}

/// clap's own messages where they quote only Orchard's own names (help, missing or
/// conflicting options); for everything else a message that never repeats what was
/// typed: a stray value may be an API key typed where it does not belong (argv has
/// already shown it to `ps`; it must not also land in a terminal log or a CI log).
fn clap_error(e: clap::Error) -> ExitCode {
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        ErrorKind::MissingRequiredArgument
        | ErrorKind::MissingSubcommand
        | ErrorKind::ArgumentConflict => {
            let _ = e.print();
            return ExitCode::from(2);
        }
        _ => {}
    }
    let what = match e.kind() {
        ErrorKind::InvalidSubcommand => "unknown command",
        ErrorKind::UnknownArgument => "unexpected argument",
        ErrorKind::InvalidValue | ErrorKind::ValueValidation | ErrorKind::InvalidUtf8 => {
            "invalid value"
        }
        ErrorKind::TooManyValues
        | ErrorKind::WrongNumberOfValues
        | ErrorKind::TooFewValues
        | ErrorKind::NoEquals => "unexpected value",
        _ => "invalid arguments",
    };
    // Names of Orchard's own options and commands are safe to repeat; values are not.
    let flag = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(arg)) if arg.starts_with('-') => {
            let name = arg.split(['=', ' ']).next().unwrap_or(arg);
            format!(" for '{name}'")
        }
        _ => String::new(),
    };
    let suggestion = match e.get(ContextKind::SuggestedSubcommand) {
        Some(ContextValue::String(s)) => format!(" Did you mean '{s}'?"),
        Some(ContextValue::Strings(v)) if !v.is_empty() => format!(" Did you mean '{}'?", v[0]),
        _ => String::new(),
    };
    eprintln!(
        "orchard: {what}{flag} (what you typed is not repeated here, in case it is a secret; API keys are read with --key-stdin or --key-env VAR).{suggestion} See --help."
    );
    ExitCode::from(2)
}

fn init_logging(filter: Option<&str>, serving: bool) {
    let default = if serving {
        "warn,orchard=info,orchard_app=info,orchard_server=info,orchard_store=info"
    } else {
        "warn"
    };
    let filter = EnvFilter::try_new(filter.unwrap_or(default)).unwrap_or_else(|e| {
        eprintln!("orchard: ignoring the log filter ({e}); using '{default}'");
        EnvFilter::new(default)
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
