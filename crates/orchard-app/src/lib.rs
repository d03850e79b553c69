//! `orchard-app`: Orchard's use cases, shared by the CLI and the server.
//!
//! [`App::open`] wires configuration to services: it prepares the data directory, opens
//! the store (migrating it), the vault, the egress ledger and the one HTTP client, takes
//! this process's writer lease and recovers replies left open by a process that died.
//! The use cases ([`chat`], [`providers`], [`topics`]) are methods on [`App`]; they take
//! no user id from callers, because in the local studio the user is the one local person
//! (hosted mode will construct per-request scopes instead).

pub mod attachments;
mod calls;
pub mod chat;
pub mod config;
pub mod embedders;
mod error;
pub mod knowledge;
mod lease;
mod ledger;
pub mod live;
mod progress;
pub mod providers;
pub mod topics;

use std::path::Path;
use std::sync::{Arc, OnceLock};

use orchard_core::UserId;
use orchard_core::capabilities::CapabilityRules;
use orchard_core::catalogue::Catalogue;
use orchard_net::HttpClient;
use orchard_privacy::vault::Vault;
use orchard_store::Store;
use orchard_store::sqlite::{SqliteStore, StoreOptions};

pub use calls::RetryPolicy;
pub use config::Config;
pub use error::AppError;
pub use lease::WriterLease;
pub use ledger::LedgerWriter;

/// A running Orchard: configuration, storage, vault and network, for one process.
pub struct App {
    config: Config,
    sqlite: SqliteStore,
    store: Arc<dyn Store>,
    vault: Vault,
    http: Arc<OnceLock<Result<HttpClient, String>>>,
    ledger: LedgerWriter,
    catalogue: Catalogue,
    rules: CapabilityRules,
    user: UserId,
    lease: WriterLease,
    recovered: u64,
    progress: progress::ProgressWriter,
    models: embedders::LoadedModels,
    knowledge: knowledge::KnowledgeState,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("data_dir", &self.config.data_dir)
            .finish_non_exhaustive()
    }
}

impl App {
    /// Opens everything. Must run inside a Tokio runtime.
    pub async fn open(config: Config) -> Result<App, AppError> {
        prepare_data_dir(&config.data_dir)?;
        let catalogue = load_catalogue(&config.data_dir)?;
        let rules = load_rules(&config.data_dir)?;
        let lease = WriterLease::acquire(&config.data_dir)?;
        let sqlite = SqliteStore::open(
            config.database_path(),
            &StoreOptions {
                busy_timeout: config.busy_timeout,
                ..StoreOptions::default()
            },
        )
        .await?;
        let store: Arc<dyn Store> = Arc::new(sqlite.clone());
        let user = store.ensure_local_user().await?.id;
        let vault = match &config.master_key_file {
            Some(path) => Vault::open_existing(path)?,
            None => Vault::open_or_create(&config.master_key_path())?,
        };
        let recovered = lease::recover(store.as_ref(), &config.data_dir, lease.id()).await?;
        let ledger = LedgerWriter::start(store.clone());
        // Building the HTTP client (TLS set-up, the system's CA certificates) takes a few
        // milliseconds that commands without network use never need. Start it on
        // another thread now, so a chat finds it ready after its database work.
        let http = Arc::new(OnceLock::new());
        {
            let (http, cfg, ledger) = (http.clone(), config.net.clone(), ledger.clone());
            std::thread::spawn(move || {
                http.get_or_init(|| build_http(cfg, ledger));
            });
        }
        Ok(App {
            config,
            sqlite,
            vault,
            http,
            ledger,
            catalogue,
            rules,
            user,
            lease,
            recovered,
            progress: progress::ProgressWriter::new(store.clone()),
            models: embedders::LoadedModels::default(),
            knowledge: knowledge::KnowledgeState::default(),
            store,
        })
    }

    /// Flushes the egress ledger, closes the database and releases the writer lease.
    pub async fn shutdown(self) {
        self.ledger.flush().await;
        self.sqlite.close().await;
        drop(self.lease);
    }

    /// The configuration in effect.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The storage.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The provider catalogue (built-in plus the person's overrides).
    pub fn catalogue(&self) -> &Catalogue {
        &self.catalogue
    }

    /// The model capability rules (built-in plus the person's `models.toml`).
    pub fn rules(&self) -> &CapabilityRules {
        &self.rules
    }

    /// The person this process acts for.
    pub fn user(&self) -> UserId {
        self.user
    }

    /// How many replies of dead processes were marked interrupted at start.
    pub fn recovered_replies(&self) -> u64 {
        self.recovered
    }

    /// Marks replies left open by processes that have ended as `interrupted`; returns
    /// how many. Runs at start; a long-running server also runs it periodically, for
    /// CLI processes that die while it runs.
    pub async fn recover_interrupted(&self) -> Result<u64, AppError> {
        lease::recover(self.store.as_ref(), &self.config.data_dir, self.lease.id()).await
    }

    /// Waits until every outbound request so far is in the egress ledger.
    pub async fn flush_ledger(&self) {
        self.ledger.flush().await;
    }

    pub(crate) fn vault(&self) -> &Vault {
        &self.vault
    }

    /// The HTTP client, waiting for it if it is still being built.
    pub(crate) fn http(&self) -> Result<&HttpClient, AppError> {
        self.http
            .get_or_init(|| build_http(self.config.net.clone(), self.ledger.clone()))
            .as_ref()
            .map_err(|e| AppError::new("internal", e.clone()))
    }

    pub(crate) fn loaded_models(&self) -> &embedders::LoadedModels {
        &self.models
    }

    pub(crate) fn knowledge_state(&self) -> &knowledge::KnowledgeState {
        &self.knowledge
    }

    pub(crate) fn writer_id(&self) -> &str {
        self.lease.id()
    }
}

fn build_http(cfg: orchard_net::NetConfig, ledger: LedgerWriter) -> Result<HttpClient, String> {
    HttpClient::new(cfg, Arc::new(ledger)).map_err(|e| e.to_string())
}

fn prepare_data_dir(dir: &Path) -> Result<(), AppError> {
    std::fs::create_dir_all(dir).map_err(|e| lease::not_writable(dir, &e))?;
    #[cfg(unix)]
    {
        // The directory holds conversations and the master key: keep it to its owner.
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(dir)
            && meta.permissions().mode() & 0o077 != 0
            && dir
                .read_dir()
                .map(|mut d| d.next().is_none())
                .unwrap_or(false)
        {
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        }
    }
    // Prove we can write before anything else tries to.
    let probe = dir.join(".orchard-write-test");
    std::fs::write(&probe, b"").map_err(|e| lease::not_writable(dir, &e))?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// The built-in capability rules followed by those in `models.toml` of `dir`, if any.
pub fn load_rules(dir: &Path) -> Result<CapabilityRules, AppError> {
    load_with_overrides(dir, "models.toml", CapabilityRules::builtin(), |b, t| {
        b.with_overrides(t)
    })
}

/// The built-in catalogue with the overrides in `catalogue.toml` of `dir`, if any.
pub fn load_catalogue(dir: &Path) -> Result<Catalogue, AppError> {
    load_with_overrides(dir, "catalogue.toml", Catalogue::builtin(), |b, t| {
        b.with_overrides(t)
    })
}

/// `builtin`, with the person's `file` in `dir` applied if there is one. A mistake in
/// the file is one line that names the file, the line and the column.
fn load_with_overrides<T, E: std::fmt::Display>(
    dir: &Path,
    file: &str,
    builtin: T,
    apply: impl FnOnce(T, &str) -> Result<T, E>,
) -> Result<T, AppError> {
    let path = dir.join(file);
    match std::fs::read_to_string(&path) {
        Ok(text) => apply(builtin, &text).map_err(|e| {
            AppError::new(
                "config_invalid",
                format!("{}: {}", path.display(), config::one_line(&e.to_string())),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(builtin),
        Err(e) => Err(AppError::new(
            "config_invalid",
            format!("cannot read {}: {e}", path.display()),
        )),
    }
}
