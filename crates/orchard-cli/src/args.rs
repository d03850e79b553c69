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
    /// Knowledge bases: add documents, search them, use them in chat.
    #[command(subcommand)]
    Kb(KbCommand),
    /// Local embedding models (they run on this machine; nothing leaves it).
    #[command(subcommand)]
    Embedder(EmbedderCommand),
}

/// `orchard kb …`.
#[derive(Debug, Subcommand)]
pub enum KbCommand {
    /// Create a knowledge base.
    Create {
        /// Its name.
        name: String,
        /// `none` (keyword search only), `local:MODEL` (runs here) or `PROVIDER:MODEL`
        /// (passages are sent to that provider to be embedded).
        #[arg(long, default_value = "none", value_name = "EMBEDDER")]
        embedder: String,
        /// Passage size in tokens.
        #[arg(long, default_value_t = 512, value_name = "TOKENS")]
        chunk_size: u32,
        /// Tokens repeated from one passage at the start of the next.
        #[arg(long, default_value_t = 64, value_name = "TOKENS")]
        overlap: u32,
        /// Rerank found passages with PROVIDER:MODEL (a `/rerank` endpoint).
        #[arg(long, value_name = "PROVIDER:MODEL")]
        rerank: Option<String>,
    },
    /// Add files, directories (recursively, honouring .gitignore and .orchardignore)
    /// and URLs (a sitemap adds its pages), then read and embed them.
    Add {
        /// The base.
        name: String,
        /// Paths and URLs.
        #[arg(required = true)]
        sources: Vec<String>,
    },
    /// Add a note (text you type) to a base.
    Note {
        /// The base.
        name: String,
        /// The note (words are joined with spaces).
        #[arg(required = true)]
        text: Vec<String>,
    },
    /// List the bases.
    List,
    /// Every document of a base with its status (and why a failed one failed).
    Status {
        /// The base.
        name: String,
    },
    /// Search a base: the passages found, with scores and where they are.
    Search {
        /// The base.
        name: String,
        /// What to look for (words are joined with spaces).
        #[arg(required = true)]
        query: Vec<String>,
        /// How many passages.
        #[arg(long, default_value_t = 5)]
        top: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a document (its id, path or URL) from a base.
    Remove {
        /// The base.
        name: String,
        /// The document.
        doc: String,
    },
    /// Read every document of a base again.
    Reindex {
        /// The base.
        name: String,
    },
    /// Queue failed documents (or one document) again and work through the queue.
    Retry {
        /// The base.
        name: String,
        /// Only this document (id, path or URL).
        doc: Option<String>,
    },
    /// Finish work left over (after an interruption).
    Resume {
        /// Only this base.
        name: Option<String>,
    },
    /// Change a base's embedder; says what that costs first.
    Embedder {
        /// The base.
        name: String,
        /// `none`, `local:MODEL` or `PROVIDER:MODEL`.
        embedder: String,
        /// Do it (without this, only the cost is shown).
        #[arg(long)]
        yes: bool,
    },
    /// Delete a base with its documents.
    Delete {
        /// The base.
        name: String,
        /// Confirm.
        #[arg(long)]
        yes: bool,
    },
}

/// `orchard embedder …`.
#[derive(Debug, Subcommand)]
pub enum EmbedderCommand {
    /// The installed local models.
    List,
    /// Install a model from a directory holding config.json, tokenizer.json and
    /// model.safetensors (a sentence-transformers BERT model).
    Add {
        /// The directory.
        dir: PathBuf,
        /// Name to use it by [default: the directory's name].
        #[arg(long)]
        name: Option<String>,
    },
    /// Download a model from the Hugging Face hub (through Orchard's network layer, so
    /// it is in the egress ledger).
    Pull {
        /// OWNER/NAME, e.g. sentence-transformers/all-MiniLM-L6-v2.
        model_id: String,
        /// Name to use it by [default: NAME].
        #[arg(long)]
        name: Option<String>,
        /// The hub [env: ORCHARD_HF_ENDPOINT] [default: https://huggingface.co].
        #[arg(long, value_name = "URL")]
        hub: Option<String>,
    },
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
    /// Answer from this knowledge base (its passages go to the model, which cites
    /// them as [n]); repeat for several.
    #[arg(long = "kb", value_name = "NAME")]
    pub kb: Vec<String>,
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
