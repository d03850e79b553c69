//! Layered configuration: built-in defaults, then `orchard.toml` in the data directory,
//! then `ORCHARD_*` environment variables, then command-line flags. Each later layer
//! overrides single settings of the earlier ones.
//!
//! The data directory itself cannot come from the file inside it: it is chosen by
//! `--data-dir`, else `ORCHARD_DATA_DIR`, else the XDG data directory
//! (`$XDG_DATA_HOME/orchard`, by default `~/.local/share/orchard`).
//!
//! Proxies: an Orchard setting (`net.proxy`, `ORCHARD_PROXY`, `--proxy`) applies to
//! every request; without one, the standard `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY`
//! and `NO_PROXY` variables apply. `proxy = "none"` ignores them.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use orchard_net::{NetConfig, NoProxy, ProxySettings, ProxyUrl};
use serde::Deserialize;

/// Name of the config file in the data directory.
pub const CONFIG_FILE: &str = "orchard.toml";

/// The settings in effect.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Where everything is stored.
    pub data_dir: PathBuf,
    /// Which layer chose the data directory.
    pub data_dir_source: &'static str,
    /// Address `orchard serve` listens on.
    pub bind: SocketAddr,
    /// Outbound timeouts and proxies.
    pub net: NetConfig,
    /// Where the proxy settings came from, for `config show`.
    pub proxy_source: String,
    /// When to retry a provider call.
    pub retry: crate::calls::RetryPolicy,
    /// How long to wait for a database lock held by another process.
    pub busy_timeout: Duration,
    /// Log filter (`warn`, `info`, `orchard=debug`, …); `None` means the default.
    pub log: Option<String>,
    /// The master key file, if not the default `master.key` in the data directory.
    pub master_key_file: Option<PathBuf>,
    /// Whether `orchard.toml` existed and was read.
    pub file_used: Option<PathBuf>,
    /// Where `orchard provider detect` looks.
    pub detect: DetectTargets,
    /// Knowledge-base ingestion.
    pub knowledge: KnowledgeConfig,
}

/// Knowledge-base settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnowledgeConfig {
    /// Files larger than this are refused before they are read
    /// (`knowledge.max_file_bytes`, `ORCHARD_KB_MAX_FILE_BYTES`).
    pub max_file_bytes: u64,
    /// Whether URLs may point at this machine or the local network
    /// (`knowledge.allow_local_hosts`, `ORCHARD_KB_ALLOW_LOCAL_HOSTS`). Off: such
    /// addresses are refused at connect time and on every redirect.
    pub allow_local_hosts: bool,
    /// Exact addresses fetched even though they are local (`ORCHARD_KB_TRUSTED_ADDRS`,
    /// comma-separated `ip:port`): one server a person or a test trusts, without
    /// opening every local address.
    pub trusted: Vec<SocketAddr>,
}

impl Default for KnowledgeConfig {
    fn default() -> Self {
        Self {
            max_file_bytes: 100 * 1024 * 1024,
            allow_local_hosts: false,
            trusted: Vec::new(),
        }
    }
}

/// The two addresses `orchard provider detect` probes. They are fixed; tests point them
/// at their own servers with `ORCHARD_DETECT_OLLAMA` / `ORCHARD_DETECT_LMSTUDIO`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DetectTargets {
    /// Ollama's default address.
    pub ollama: SocketAddr,
    /// LM Studio's default address.
    pub lmstudio: SocketAddr,
}

impl Default for DetectTargets {
    fn default() -> Self {
        Self {
            ollama: SocketAddr::from(([127, 0, 0, 1], 11434)),
            lmstudio: SocketAddr::from(([127, 0, 0, 1], 1234)),
        }
    }
}

impl Config {
    /// The database file.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("orchard.db")
    }

    /// The master key file in use.
    pub fn master_key_path(&self) -> PathBuf {
        self.master_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("master.key"))
    }
}

/// A configuration that cannot be used. Messages say where the problem is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `orchard.toml` does not parse; the message has line and column.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: String,
        /// The parser's message, with line and column.
        message: String,
    },
    /// An environment variable with a bad value.
    #[error("{var}: {message}")]
    Env {
        /// The variable.
        var: String,
        /// What is wrong.
        message: String,
    },
    /// A flag with a bad value.
    #[error("{flag}: {message}")]
    Flag {
        /// The flag.
        flag: String,
        /// What is wrong.
        message: String,
    },
    /// No data directory could be determined.
    #[error(
        "cannot find a home directory for the data; give one with --data-dir or ORCHARD_DATA_DIR"
    )]
    NoDataDir,
    /// The file could not be read.
    #[error("cannot read {path}: {message}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
}

/// Settings given on the command line (all optional).
#[derive(Clone, Debug, Default)]
pub struct Flags {
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--bind` (serve).
    pub bind: Option<String>,
    /// `--proxy`.
    pub proxy: Option<String>,
    /// `--log`.
    pub log: Option<String>,
}

/// One layer: every setting optional. This is also the file format.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Layer {
    #[serde(default)]
    server: ServerLayer,
    #[serde(default)]
    net: NetLayer,
    #[serde(default)]
    storage: StorageLayer,
    #[serde(default)]
    log: LogLayer,
    #[serde(default)]
    vault: VaultLayer,
    #[serde(default)]
    knowledge: KnowledgeLayer,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct KnowledgeLayer {
    max_file_bytes: Option<u64>,
    allow_local_hosts: Option<bool>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerLayer {
    bind: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NetLayer {
    connect_timeout: Option<DurationValue>,
    first_byte_timeout: Option<DurationValue>,
    idle_timeout: Option<DurationValue>,
    retries: Option<u32>,
    retry_base: Option<DurationValue>,
    max_retry_wait: Option<DurationValue>,
    proxy: Option<String>,
    no_proxy: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StorageLayer {
    busy_timeout: Option<DurationValue>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogLayer {
    level: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct VaultLayer {
    master_key_file: Option<PathBuf>,
}

/// A duration written as `"10s"`, `"2m"`, `"500ms"`, or a number of seconds.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
enum DurationValue {
    Seconds(u64),
    Text(String),
}

impl DurationValue {
    fn resolve(&self) -> Result<Duration, String> {
        match self {
            DurationValue::Seconds(s) => Ok(Duration::from_secs(*s)),
            DurationValue::Text(t) => parse_duration(t),
        }
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(s)
        .map_err(|_| format!("'{s}' is not a duration (write e.g. \"10s\", \"2m\", \"500ms\")"))
}

/// Where environment variables come from (the real environment, or a map in tests).
pub trait Env {
    /// The variable's value, if set and not empty.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

impl Env for BTreeMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned().filter(|v| !v.is_empty())
    }
}

/// The data directory: `--data-dir` > `ORCHARD_DATA_DIR` > XDG.
pub fn resolve_data_dir(
    flag: Option<&Path>,
    env: &dyn Env,
) -> Result<(PathBuf, &'static str), ConfigError> {
    if let Some(dir) = flag {
        return Ok((dir.to_path_buf(), "--data-dir"));
    }
    if let Some(dir) = env.var("ORCHARD_DATA_DIR") {
        return Ok((PathBuf::from(dir), "ORCHARD_DATA_DIR"));
    }
    if let Some(xdg) = env
        .var("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
    {
        return Ok((xdg.join("orchard"), "XDG_DATA_HOME"));
    }
    let home = env.var("HOME").ok_or(ConfigError::NoDataDir)?;
    Ok((
        PathBuf::from(home).join(".local/share/orchard"),
        "default (~/.local/share/orchard)",
    ))
}

/// Builds the effective configuration from all layers.
pub fn load(flags: &Flags, env: &dyn Env) -> Result<Config, ConfigError> {
    let (data_dir, data_dir_source) = resolve_data_dir(flags.data_dir.as_deref(), env)?;
    let file_path = data_dir.join(CONFIG_FILE);
    let (file, file_used) = match std::fs::read_to_string(&file_path) {
        Ok(text) => {
            let layer: Layer = toml::from_str(&text).map_err(|e| ConfigError::File {
                path: file_path.display().to_string(),
                message: one_line(&e.to_string()),
            })?;
            (layer, Some(file_path.clone()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Layer::default(), None),
        Err(e) => {
            return Err(ConfigError::Read {
                path: file_path.display().to_string(),
                message: e.to_string(),
            });
        }
    };
    let file_err = |message: String| ConfigError::File {
        path: file_path.display().to_string(),
        message,
    };
    let env_err = |var: &str, message: String| ConfigError::Env {
        var: var.to_owned(),
        message,
    };
    let flag_err = |flag: &str, message: String| ConfigError::Flag {
        flag: flag.to_owned(),
        message,
    };

    // bind
    let mut bind: SocketAddr = "127.0.0.1:7878".parse().expect("valid default");
    if let Some(b) = &file.server.bind {
        bind = parse_bind(b).map_err(|m| file_err(format!("server.bind: {m}")))?;
    }
    if let Some(b) = env.var("ORCHARD_BIND") {
        bind = parse_bind(&b).map_err(|m| env_err("ORCHARD_BIND", m))?;
    }
    if let Some(b) = &flags.bind {
        bind = parse_bind(b).map_err(|m| flag_err("--bind", m))?;
    }

    // timeouts and retries
    let mut net = NetConfig::default();
    let mut busy_timeout = Duration::from_secs(5);
    let mut retry = crate::calls::RetryPolicy::default();
    if let Some(n) = file.net.retries {
        retry.retries = n;
    }
    if let Some(v) = env.var("ORCHARD_RETRIES") {
        retry.retries = v
            .trim()
            .parse()
            .map_err(|_| env_err("ORCHARD_RETRIES", format!("'{v}' is not a number")))?;
    }
    let slots: [(&str, &str, Option<&DurationValue>, &mut Duration); 6] = [
        (
            "net.connect_timeout",
            "ORCHARD_CONNECT_TIMEOUT",
            file.net.connect_timeout.as_ref(),
            &mut net.connect_timeout,
        ),
        (
            "net.first_byte_timeout",
            "ORCHARD_FIRST_BYTE_TIMEOUT",
            file.net.first_byte_timeout.as_ref(),
            &mut net.first_byte_timeout,
        ),
        (
            "net.idle_timeout",
            "ORCHARD_IDLE_TIMEOUT",
            file.net.idle_timeout.as_ref(),
            &mut net.idle_timeout,
        ),
        (
            "storage.busy_timeout",
            "ORCHARD_BUSY_TIMEOUT",
            file.storage.busy_timeout.as_ref(),
            &mut busy_timeout,
        ),
        (
            "net.retry_base",
            "ORCHARD_RETRY_BASE",
            file.net.retry_base.as_ref(),
            &mut retry.base,
        ),
        (
            "net.max_retry_wait",
            "ORCHARD_MAX_RETRY_WAIT",
            file.net.max_retry_wait.as_ref(),
            &mut retry.max_wait,
        ),
    ];
    for (key, var, from_file, slot) in slots {
        if let Some(v) = from_file {
            *slot = v.resolve().map_err(|m| file_err(format!("{key}: {m}")))?;
        }
        if let Some(v) = env.var(var) {
            *slot = parse_duration(&v).map_err(|m| env_err(var, m))?;
        }
    }

    // proxies
    let mut orchard_proxy: Option<(String, String)> = file
        .net
        .proxy
        .clone()
        .map(|p| (p, format!("net.proxy in {CONFIG_FILE}")));
    if let Some(p) = env.var("ORCHARD_PROXY") {
        orchard_proxy = Some((p, "ORCHARD_PROXY".into()));
    }
    if let Some(p) = &flags.proxy {
        orchard_proxy = Some((p.clone(), "--proxy".into()));
    }
    let mut no_proxy_text = env.var("no_proxy").or_else(|| env.var("NO_PROXY"));
    if let Some(np) = &file.net.no_proxy {
        no_proxy_text = Some(np.clone());
    }
    if let Some(np) = env.var("ORCHARD_NO_PROXY") {
        no_proxy_text = Some(np);
    }
    let no_proxy = NoProxy::parse(no_proxy_text.as_deref().unwrap_or(""));
    let (proxy, proxy_source) = match orchard_proxy {
        Some((p, source)) if p.trim().eq_ignore_ascii_case("none") => (
            ProxySettings {
                no_proxy,
                ..ProxySettings::default()
            },
            format!("none ({source})"),
        ),
        Some((p, source)) => {
            let url: ProxyUrl = p
                .parse()
                .map_err(|e: orchard_net::ProxyUrlError| match source.as_str() {
                    "--proxy" => flag_err("--proxy", e.to_string()),
                    "ORCHARD_PROXY" => env_err("ORCHARD_PROXY", e.to_string()),
                    _ => file_err(format!("net.proxy: {e}")),
                })?;
            (
                ProxySettings {
                    http: Some(url.clone()),
                    https: Some(url),
                    no_proxy,
                },
                source,
            )
        }
        None => {
            let std_var = |names: &[&str]| -> Result<Option<ProxyUrl>, ConfigError> {
                for name in names {
                    if let Some(v) = env.var(name) {
                        return v
                            .parse()
                            .map(Some)
                            .map_err(|e: orchard_net::ProxyUrlError| env_err(name, e.to_string()));
                    }
                }
                Ok(None)
            };
            let all = std_var(&["all_proxy", "ALL_PROXY"])?;
            let http = std_var(&["http_proxy", "HTTP_PROXY"])?.or_else(|| all.clone());
            let https = std_var(&["https_proxy", "HTTPS_PROXY"])?.or(all);
            let source = if http.is_some() || https.is_some() {
                "standard proxy environment variables".to_owned()
            } else {
                "none".to_owned()
            };
            (
                ProxySettings {
                    http,
                    https,
                    no_proxy,
                },
                source,
            )
        }
    };
    net.proxy = proxy;

    // logging
    let mut log = file.log.level.clone();
    if let Some(l) = env.var("ORCHARD_LOG") {
        log = Some(l);
    }
    if let Some(l) = &flags.log {
        log = Some(l.clone());
    }

    // vault
    let mut master_key_file = file.vault.master_key_file.clone();
    if let Some(p) = env.var("ORCHARD_MASTER_KEY_FILE") {
        master_key_file = Some(PathBuf::from(p));
    }

    let mut detect = DetectTargets::default();
    for (var, slot) in [
        ("ORCHARD_DETECT_OLLAMA", &mut detect.ollama),
        ("ORCHARD_DETECT_LMSTUDIO", &mut detect.lmstudio),
    ] {
        if let Some(v) = env.var(var) {
            let addr = parse_bind(&v).map_err(|m| env_err(var, m))?;
            // Detection must never reach beyond this machine.
            if !addr.ip().is_loopback() {
                return Err(env_err(var, format!("'{v}' is not a loopback address")));
            }
            *slot = addr;
        }
    }

    let mut knowledge = KnowledgeConfig::default();
    if let Some(n) = file.knowledge.max_file_bytes {
        knowledge.max_file_bytes = n;
    }
    if let Some(b) = file.knowledge.allow_local_hosts {
        knowledge.allow_local_hosts = b;
    }
    if let Some(v) = env.var("ORCHARD_KB_MAX_FILE_BYTES") {
        knowledge.max_file_bytes = v.trim().parse().map_err(|_| {
            env_err(
                "ORCHARD_KB_MAX_FILE_BYTES",
                format!("'{v}' is not a number of bytes"),
            )
        })?;
    }
    if let Some(v) = env.var("ORCHARD_KB_ALLOW_LOCAL_HOSTS") {
        knowledge.allow_local_hosts = match v.trim() {
            "1" | "true" | "yes" | "on" => true,
            "0" | "false" | "no" | "off" | "" => false,
            _ => {
                return Err(env_err(
                    "ORCHARD_KB_ALLOW_LOCAL_HOSTS",
                    format!("'{v}' is not on or off"),
                ));
            }
        };
    }

    if let Some(v) = env.var("ORCHARD_KB_TRUSTED_ADDRS") {
        knowledge.trusted = v
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| parse_bind(s).map_err(|m| env_err("ORCHARD_KB_TRUSTED_ADDRS", m)))
            .collect::<Result<_, _>>()?;
    }

    Ok(Config {
        knowledge,
        data_dir,
        data_dir_source,
        bind,
        net,
        proxy_source,
        retry,
        busy_timeout,
        log,
        master_key_file,
        file_used,
        detect,
    })
}

fn parse_bind(s: &str) -> Result<SocketAddr, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("'{s}' is not an address:port (for example 127.0.0.1:7878)"))
}

/// The toml crate's messages span several lines (with a source excerpt); the first
/// line says where and the last says what.
pub(crate) fn one_line(msg: &str) -> String {
    let lines: Vec<&str> = msg
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    match (lines.first(), lines.last()) {
        (Some(first), Some(last)) if lines.len() > 1 => format!("{first}: {last}"),
        (Some(first), _) => (*first).to_owned(),
        _ => msg.to_owned(),
    }
}

fn secs(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// The effective configuration as TOML, with every secret redacted (proxy passwords;
/// the master key is a file path, never its content). API keys are not configuration
/// and never appear here.
pub fn show(cfg: &Config) -> String {
    let mut out = String::new();
    let quote = |s: &str| toml::Value::String(s.to_owned()).to_string();
    let _ = writeln!(
        out,
        "# Effective Orchard configuration. Layers: defaults < {CONFIG_FILE} < ORCHARD_* environment < flags."
    );
    let _ = writeln!(out, "# data_dir chosen by {}", cfg.data_dir_source);
    match &cfg.file_used {
        Some(p) => {
            let _ = writeln!(out, "# config file: {}", p.display());
        }
        None => {
            let _ = writeln!(
                out,
                "# config file: none ({} not present)",
                cfg.data_dir.join(CONFIG_FILE).display()
            );
        }
    }
    let _ = writeln!(
        out,
        "data_dir = {}",
        quote(&cfg.data_dir.display().to_string())
    );
    let _ = writeln!(out, "mode = \"local\"");
    let _ = writeln!(out, "\n[server]\nbind = {}", quote(&cfg.bind.to_string()));
    let _ = writeln!(out, "\n[net]");
    let _ = writeln!(
        out,
        "connect_timeout = {}",
        quote(&secs(cfg.net.connect_timeout))
    );
    let _ = writeln!(
        out,
        "first_byte_timeout = {}",
        quote(&secs(cfg.net.first_byte_timeout))
    );
    let _ = writeln!(out, "idle_timeout = {}", quote(&secs(cfg.net.idle_timeout)));
    let _ = writeln!(out, "retries = {}", cfg.retry.retries);
    let _ = writeln!(out, "retry_base = {}", quote(&secs(cfg.retry.base)));
    let _ = writeln!(out, "max_retry_wait = {}", quote(&secs(cfg.retry.max_wait)));
    let _ = writeln!(out, "# proxy chosen by {}", cfg.proxy_source);
    match (&cfg.net.proxy.http, &cfg.net.proxy.https) {
        (Some(h), Some(s)) if h == s => {
            let _ = writeln!(out, "proxy = {}", quote(&h.to_string()));
        }
        (h, s) => {
            let _ = writeln!(
                out,
                "http_proxy = {}",
                quote(&h.as_ref().map_or("none".into(), ToString::to_string))
            );
            let _ = writeln!(
                out,
                "https_proxy = {}",
                quote(&s.as_ref().map_or("none".into(), ToString::to_string))
            );
        }
    }
    let _ = writeln!(
        out,
        "no_proxy = {}",
        quote(&cfg.net.proxy.no_proxy.to_config_string())
    );
    let _ = writeln!(
        out,
        "\n[storage]\nbusy_timeout = {}",
        quote(&secs(cfg.busy_timeout))
    );
    let _ = writeln!(
        out,
        "\n[log]\nlevel = {}",
        quote(cfg.log.as_deref().unwrap_or("(default)"))
    );
    let _ = writeln!(
        out,
        "\n[vault]\nmaster_key_file = {}",
        quote(&cfg.master_key_path().display().to_string())
    );
    let _ = writeln!(
        out,
        "\n[knowledge]\nmax_file_bytes = {}\nallow_local_hosts = {}",
        cfg.knowledge.max_file_bytes, cfg.knowledge.allow_local_hosts
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn data_dir_precedence_is_flag_then_env_then_xdg_then_home() {
        let e = env(&[
            ("ORCHARD_DATA_DIR", "/env"),
            ("XDG_DATA_HOME", "/xdg"),
            ("HOME", "/home/me"),
        ]);
        assert_eq!(
            resolve_data_dir(Some(Path::new("/flag")), &e).unwrap().0,
            PathBuf::from("/flag")
        );
        assert_eq!(resolve_data_dir(None, &e).unwrap().0, PathBuf::from("/env"));
        let e = env(&[("XDG_DATA_HOME", "/xdg"), ("HOME", "/home/me")]);
        assert_eq!(
            resolve_data_dir(None, &e).unwrap().0,
            PathBuf::from("/xdg/orchard")
        );
        // A relative XDG_DATA_HOME is invalid per the spec and ignored.
        let e = env(&[("XDG_DATA_HOME", "rel"), ("HOME", "/home/me")]);
        assert_eq!(
            resolve_data_dir(None, &e).unwrap().0,
            PathBuf::from("/home/me/.local/share/orchard")
        );
        assert_eq!(
            resolve_data_dir(None, &env(&[])).unwrap_err(),
            ConfigError::NoDataDir
        );
    }

    #[test]
    fn layers_override_in_order_file_env_flags() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "[server]\nbind = \"127.0.0.1:9001\"\n[net]\nconnect_timeout = \"3s\"\nidle_timeout = 7\n[log]\nlevel = \"info\"\n",
        )
        .unwrap();
        let flags = Flags {
            data_dir: Some(dir.path().to_path_buf()),
            ..Flags::default()
        };
        let c = load(&flags, &env(&[])).unwrap();
        assert_eq!(c.bind.port(), 9001);
        assert_eq!(c.net.connect_timeout, Duration::from_secs(3));
        assert_eq!(c.net.idle_timeout, Duration::from_secs(7));
        assert_eq!(c.log.as_deref(), Some("info"));

        let e = env(&[
            ("ORCHARD_BIND", "127.0.0.1:9002"),
            ("ORCHARD_CONNECT_TIMEOUT", "500ms"),
            ("ORCHARD_LOG", "debug"),
        ]);
        let c = load(&flags, &e).unwrap();
        assert_eq!(c.bind.port(), 9002);
        assert_eq!(c.net.connect_timeout, Duration::from_millis(500));
        assert_eq!(c.log.as_deref(), Some("debug"));

        let flags = Flags {
            bind: Some("127.0.0.1:9003".into()),
            log: Some("trace".into()),
            ..flags
        };
        let c = load(&flags, &e).unwrap();
        assert_eq!(c.bind.port(), 9003);
        assert_eq!(c.log.as_deref(), Some("trace"));
    }

    #[test]
    fn retry_limits_come_from_file_then_env() {
        let dir = tempfile::tempdir().unwrap();
        let flags = Flags {
            data_dir: Some(dir.path().to_path_buf()),
            ..Flags::default()
        };
        assert_eq!(
            load(&flags, &env(&[])).unwrap().retry,
            crate::calls::RetryPolicy::default()
        );
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "[net]\nretries = 5\nretry_base = \"100ms\"\nmax_retry_wait = \"1m\"\n",
        )
        .unwrap();
        let c = load(&flags, &env(&[])).unwrap();
        assert_eq!(
            (c.retry.retries, c.retry.base, c.retry.max_wait),
            (5, Duration::from_millis(100), Duration::from_secs(60))
        );
        let shown = show(&c);
        assert!(
            shown.contains("retries = 5") && shown.contains("max_retry_wait = \"1m\""),
            "{shown}"
        );
        let c = load(
            &flags,
            &env(&[
                ("ORCHARD_RETRIES", "0"),
                ("ORCHARD_RETRY_BASE", "2s"),
                ("ORCHARD_MAX_RETRY_WAIT", "5s"),
            ]),
        )
        .unwrap();
        assert_eq!(
            (c.retry.retries, c.retry.base, c.retry.max_wait),
            (0, Duration::from_secs(2), Duration::from_secs(5))
        );
        let err = load(&flags, &env(&[("ORCHARD_RETRIES", "many")])).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("ORCHARD_RETRIES: 'many' is not a number"),
            "{err}"
        );
    }

    #[test]
    fn detection_can_only_be_pointed_at_this_machine() {
        let dir = tempfile::tempdir().unwrap();
        let flags = Flags {
            data_dir: Some(dir.path().to_path_buf()),
            ..Flags::default()
        };
        let c = load(&flags, &env(&[("ORCHARD_DETECT_OLLAMA", "127.0.0.1:4000")])).unwrap();
        assert_eq!(c.detect.ollama.port(), 4000);
        assert_eq!(c.detect.lmstudio, DetectTargets::default().lmstudio);
        let err = load(
            &flags,
            &env(&[("ORCHARD_DETECT_LMSTUDIO", "192.168.1.5:1234")]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("not a loopback address"), "{err}");
    }

    #[test]
    fn a_malformed_config_file_names_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "[net]\nconnect_timeout = \"3s\"\nproxy = = \"x\"\n",
        )
        .unwrap();
        let flags = Flags {
            data_dir: Some(dir.path().to_path_buf()),
            ..Flags::default()
        };
        let err = load(&flags, &env(&[])).unwrap_err().to_string();
        assert!(err.contains("orchard.toml"), "{err}");
        assert!(err.contains("line 3, column"), "{err}");
        assert!(!err.contains('\n'), "one line: {err}");

        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "[net]\nprxy = \"http://p:1\"\n",
        )
        .unwrap();
        let err = load(&flags, &env(&[])).unwrap_err().to_string();
        assert!(
            err.contains("line 2") && err.contains("unknown field `prxy`"),
            "{err}"
        );

        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "[net]\nidle_timeout = \"soon\"\n",
        )
        .unwrap();
        let err = load(&flags, &env(&[])).unwrap_err().to_string();
        assert!(
            err.contains("net.idle_timeout") && err.contains("not a duration"),
            "{err}"
        );
    }

    #[test]
    fn bad_env_values_name_the_variable() {
        let dir = tempfile::tempdir().unwrap();
        let flags = Flags {
            data_dir: Some(dir.path().to_path_buf()),
            ..Flags::default()
        };
        let err = load(&flags, &env(&[("ORCHARD_BIND", "nowhere")])).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("ORCHARD_BIND: 'nowhere' is not an address"),
            "{err}"
        );
        let err = load(&flags, &env(&[("HTTPS_PROXY", "ftp://p")])).unwrap_err();
        assert!(err.to_string().starts_with("HTTPS_PROXY:"), "{err}");
    }

    #[test]
    fn proxies_come_from_orchard_settings_before_standard_variables() {
        let dir = tempfile::tempdir().unwrap();
        let flags = Flags {
            data_dir: Some(dir.path().to_path_buf()),
            ..Flags::default()
        };
        let std_env = env(&[
            ("HTTPS_PROXY", "http://corp:3128"),
            ("NO_PROXY", "internal.example"),
        ]);
        let c = load(&flags, &std_env).unwrap();
        assert_eq!(c.net.proxy.https.as_ref().unwrap().authority(), "corp:3128");
        assert!(c.net.proxy.http.is_none());
        assert!(c.net.proxy.no_proxy.matches("api.internal.example"));

        let mut both = std_env.clone();
        both.insert("ORCHARD_PROXY".into(), "socks5h://127.0.0.1:1080".into());
        let c = load(&flags, &both).unwrap();
        assert_eq!(
            c.net.proxy.http.as_ref().unwrap().authority(),
            "127.0.0.1:1080"
        );
        assert_eq!(c.proxy_source, "ORCHARD_PROXY");

        both.insert("ORCHARD_PROXY".into(), "none".into());
        let c = load(&flags, &both).unwrap();
        assert!(c.net.proxy.http.is_none() && c.net.proxy.https.is_none());
    }

    #[test]
    fn config_show_redacts_proxy_passwords() {
        let dir = tempfile::tempdir().unwrap();
        let flags = Flags {
            data_dir: Some(dir.path().to_path_buf()),
            proxy: Some("http://alice:hunter2@proxy.example:3128".into()),
            ..Flags::default()
        };
        let shown = show(&load(&flags, &env(&[])).unwrap());
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("alice:***@proxy.example:3128"), "{shown}");
        // It is valid TOML.
        toml::from_str::<toml::Value>(&shown).unwrap();
    }
}
