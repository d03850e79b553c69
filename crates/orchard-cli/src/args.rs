//! The command line (the contract scripts rely on; see README).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Orchard: a privacy-first AI studio. Your keys and conversations stay on this
/// machine and go only to the providers you choose.
#[derive(Debug, Parser)]
#[command(name = "orchard", version, about, max_term_width = 100)]
pub struct Cli {
    /// Data directory [default: $ORCHARD_DATA_DIR, else ~/.local/share/orchard].
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Log filter written to stderr (e.g. warn, info, orchard_net=debug) [env: ORCHARD_LOG].
    #[arg(long, global = true, value_name = "FILTER")]
    pub log: Option<String>,

    /// Proxy for every outbound request (http://, https://, socks5://, socks5h://, or "none")
    /// [env: ORCHARD_PROXY; else HTTPS_PROXY/HTTP_PROXY/ALL_PROXY].
    #[arg(long, global = true, value_name = "URL")]
    pub proxy: Option<String>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the studio (HTTP server) until Ctrl-C or SIGTERM.
    Serve {
        /// Address to listen on [default: 127.0.0.1:7878] [env: ORCHARD_BIND].
        #[arg(long, value_name = "ADDR:PORT")]
        bind: Option<String>,
    },
    /// Send a message and stream the answer to stdout.
    Chat(ChatArgs),
    /// List topics (id, last update, message count, title).
    Topics,
    /// Show a topic's conversation.
    Show {
        /// The topic id (see `orchard topics`).
        topic: String,
    },
    /// Manage model providers and their keys.
    #[command(subcommand)]
    Provider(ProviderCommand),
    /// Write a topic to stdout as Markdown (its current branch) or JSON (every branch).
    #[command(subcommand)]
    Export(ExportCommand),
    /// Import conversations: a ChatGPT `conversations.json`, a Claude export or an
    /// Orchard JSON export. All of the file or, on any error, nothing.
    Import {
        /// The file.
        file: PathBuf,
    },
    /// Inspect configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
}

/// `orchard export …`.
#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// One topic.
    Topic {
        /// The topic id (see `orchard topics`), or `last`.
        topic: String,
        /// `md` (the current branch, for reading) or `json` (every branch, for import).
        #[arg(long, value_enum, default_value = "md")]
        format: ExportFormat,
    },
}

/// Export formats.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ExportFormat {
    /// Markdown.
    Md,
    /// JSON.
    Json,
}

/// `orchard chat`.
#[derive(Debug, Args)]
pub struct ChatArgs {
    /// PROVIDER:MODEL (split at the first ':'); default: the last model used.
    #[arg(short = 'm', long = "model", value_name = "PROVIDER:MODEL")]
    pub model: Option<String>,
    /// Continue this topic (an id from `orchard topics`, or `last`).
    #[arg(long, value_name = "ID", conflicts_with = "new")]
    pub topic: Option<String>,
    /// Start a new topic (the default when --topic is not given).
    #[arg(long)]
    pub new: bool,
    /// A system prompt, kept in the topic for later turns.
    #[arg(long, value_name = "TEXT")]
    pub system: Option<String>,
    /// Ask for the whole answer at once instead of streaming it.
    #[arg(long)]
    pub no_stream: bool,
    /// Attach an image (PNG, JPEG, GIF or WebP); repeat for several. Refused for
    /// models that do not accept images.
    #[arg(long = "image", value_name = "PATH")]
    pub images: Vec<PathBuf>,
    /// Let the model think with this many tokens (Anthropic extended thinking, Gemini's
    /// thinking budget, reasoning effort on OpenAI's Responses API, Ollama's `think`).
    #[arg(long = "think", value_name = "TOKENS")]
    pub think: Option<u32>,
    /// The message (words are joined with spaces); read from stdin when omitted.
    #[arg(value_name = "MESSAGE")]
    pub message: Vec<String>,
}

/// How a key is given. Never as an argument: argv is visible to every user via `ps`.
#[derive(Debug, Args, Default)]
pub struct KeyArgs {
    /// Read the key from stdin (one key per line; several lines add several keys).
    #[arg(long, conflicts_with = "key_env")]
    pub key_stdin: bool,
    /// Read the key from this environment variable.
    #[arg(long, value_name = "VAR")]
    pub key_env: Option<String>,
}

/// `orchard provider …`.
#[derive(Debug, Subcommand)]
pub enum ProviderCommand {
    /// Add a provider. NAME may be a catalogue id (see `provider catalogue`).
    Add {
        /// Name to use in `-m NAME:model`.
        name: String,
        /// Wire protocol [default: the catalogue's, else openai].
        #[arg(long)]
        protocol: Option<String>,
        /// Base URL (`/v1` is added unless the path ends in a version; a trailing `#` means use as is).
        #[arg(long, value_name = "URL")]
        base_url: Option<String>,
        #[command(flatten)]
        key: KeyArgs,
    },
    /// List providers with masked keys.
    List,
    /// Remove a provider, its keys and models (conversations keep their history).
    Remove {
        /// Provider name.
        name: String,
    },
    /// Fetch and list the provider's models.
    Models {
        /// Provider name.
        name: String,
    },
    /// Manage a provider's keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Try each key with the smallest request (the model list) and say, per key, OK or why not.
    Check {
        /// Provider name.
        name: String,
    },
    /// Look for Ollama (127.0.0.1:11434) and LM Studio (127.0.0.1:1234) on this machine.
    Detect,
    /// Show or set what a model can do (over the built-in rules).
    Model(ModelArgs),
    /// List the built-in provider catalogue.
    Catalogue,
}

/// `orchard provider model`.
#[derive(Debug, Args)]
pub struct ModelArgs {
    /// Provider name.
    pub name: String,
    /// The model id.
    pub model: String,
    /// Accepts images.
    #[arg(long, value_name = "on|off")]
    pub vision: Option<Switch>,
    /// Produces reasoning.
    #[arg(long, value_name = "on|off")]
    pub reasoning: Option<Switch>,
    /// Calls tools.
    #[arg(long, value_name = "on|off")]
    pub tools: Option<Switch>,
    /// Is an embedding model.
    #[arg(long, value_name = "on|off")]
    pub embedding: Option<Switch>,
    /// Is a rerank model.
    #[arg(long, value_name = "on|off")]
    pub rerank: Option<Switch>,
    /// Context window in tokens.
    #[arg(long, value_name = "TOKENS")]
    pub context: Option<u32>,
}

/// `on` or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Switch {
    /// Yes.
    On,
    /// No.
    Off,
}

impl Switch {
    /// As a boolean.
    pub fn on(self) -> bool {
        self == Switch::On
    }
}

/// `orchard provider key …`.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Add keys after the existing ones.
    Add {
        /// Provider name.
        name: String,
        #[command(flatten)]
        key: KeyArgs,
    },
    /// Remove the key shown as MASK in `provider list`.
    Remove {
        /// Provider name.
        name: String,
        /// The key's mask, e.g. sk-…7f3a.
        mask: String,
    },
}

/// `orchard config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration, secrets redacted.
    Show,
}
