//! A small async WebDriver client that drives Debian's headless Chromium
//! through chromedriver, for end-to-end tests of Orchard's web UI.
//!
//! [`Browser::launch`] starts `chromedriver` on a free loopback port and
//! opens a session on a fresh, throwaway Chromium profile. Dropping the
//! [`Browser`] (or [`Browser::close`]) ends the session, which closes
//! Chromium, then kills chromedriver and removes the profile. The wire is
//! JSON over HTTP/1.1 on loopback, written by hand on `tokio::net`.
//!
//! Chromium and chromedriver come from the Debian packages `chromium` and
//! `chromium-driver`, which `./scripts/test` installs. When they are
//! missing, launching fails with an error that says so; it never skips.
//!
//! Waiting is always for a condition ([`Browser::wait_for`],
//! [`Browser::wait_until`]), polled every 50 ms up to a timeout (15 s by
//! default, see [`BrowserOptions::timeout`]); never sleep a fixed time.
//!
//! ```no_run
//! # async fn demo() -> Result<(), orchard_testkit::browser::BrowserError> {
//! use orchard_testkit::browser::{Browser, Key};
//!
//! let browser = Browser::launch().await?;
//! browser.goto("http://127.0.0.1:8080/").await?;
//! let input = browser.wait_for("textarea#prompt").await?;
//! input.send_keys(&format!("hello{}", Key::Enter)).await?;
//! browser.wait_until("document.querySelectorAll('.message').length === 2").await?;
//! browser.chord(&[Key::Control], 'k').await?;
//! assert!(browser.browser_log().await?.iter().all(|e| !e.is_severe()));
//! browser.close().await?;
//! # Ok(())
//! # }
//! ```

mod keys;
mod process;
mod wire;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

pub use keys::Key;
use process::{Driver, ScratchDir};
use wire::{Method, WireError};

/// Default timeout of the waiting helpers.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// Interval between polls of the waiting helpers.
const POLL: Duration = Duration::from_millis(50);

/// How long a best-effort look at the page (for an error message) may take.
const CONTEXT_DEADLINE: Duration = Duration::from_secs(3);

/// How long deleting the session in `Drop` may block.
const DROP_DELETE_DEADLINE: Duration = Duration::from_secs(10);

/// The W3C key under which an element reference travels.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Flags every session gets. The background-networking ones matter: the
/// test machines have no network, and Chromium otherwise keeps dialling
/// Google services and logging the refused connections.
const BASE_ARGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    // Stable page text regardless of the machine's locale.
    "--lang=en-US",
];

/// An error from the browser harness: what was being done, what went wrong
/// and, where it helps, what the page showed.
#[derive(Debug, Clone)]
pub struct BrowserError {
    message: String,
    code: Option<String>,
}

impl BrowserError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: None,
        }
    }

    /// The WebDriver error code (e.g. `"no such element"`, `"javascript
    /// error"`), if chromedriver reported one.
    pub fn webdriver_code(&self) -> Option<&str> {
        self.code.as_deref()
    }
}

impl fmt::Display for BrowserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for BrowserError {}

/// How to launch the browser. `BrowserOptions::default()` is what
/// [`Browser::launch`] uses.
#[derive(Debug, Clone)]
pub struct BrowserOptions {
    args: Vec<String>,
    mapped_hosts: Vec<String>,
    window_size: (u32, u32),
    artifacts_dir: Option<PathBuf>,
    timeout: Duration,
    chromium: Option<PathBuf>,
    chromedriver: Option<PathBuf>,
}

impl Default for BrowserOptions {
    fn default() -> Self {
        Self {
            args: Vec::new(),
            mapped_hosts: Vec::new(),
            window_size: (1280, 800),
            artifacts_dir: None,
            timeout: DEFAULT_TIMEOUT,
            chromium: None,
            chromedriver: None,
        }
    }
}

impl BrowserOptions {
    /// Adds a Chromium command-line argument, e.g.
    /// `--host-resolver-rules=MAP outside.example 127.0.0.1`. Added after
    /// the harness's own flags, so for most switches it wins.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Makes Chromium resolve `host` to 127.0.0.1, for tests that need a
    /// fake outside host served on loopback. Calls accumulate into one
    /// `--host-resolver-rules` flag (Chromium keeps only the last such flag,
    /// so do not combine this with your own).
    pub fn map_host_to_loopback(mut self, host: impl Into<String>) -> Self {
        self.mapped_hosts.push(host.into());
        self
    }

    /// Size of the page's viewport (`innerWidth` × `innerHeight`) in CSS
    /// pixels, default 1280×800. Headless Chromium draws an invisible frame,
    /// so the harness makes the window that much larger.
    pub fn window_size(mut self, width: u32, height: u32) -> Self {
        self.window_size = (width, height);
        self
    }

    /// Where relative [`Browser::screenshot`] paths go (default
    /// [`default_artifacts_dir`]).
    pub fn artifacts_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.artifacts_dir = Some(dir.into());
        self
    }

    /// Timeout of [`Browser::wait_for`] and [`Browser::wait_until`]
    /// (default [`DEFAULT_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The Chromium binary (default `$CHROMIUM`, else `/usr/bin/chromium`).
    pub fn chromium(mut self, path: impl Into<PathBuf>) -> Self {
        self.chromium = Some(path.into());
        self
    }

    /// The chromedriver binary (default `$CHROMEDRIVER`, else
    /// `chromedriver` on `$PATH`).
    pub fn chromedriver(mut self, path: impl Into<PathBuf>) -> Self {
        self.chromedriver = Some(path.into());
        self
    }

    /// The full Chromium argument list for a profile directory.
    fn chromium_args(&self, profile: &Path) -> Vec<String> {
        let mut args: Vec<String> = BASE_ARGS.iter().map(|a| (*a).to_owned()).collect();
        args.push(format!(
            "--window-size={},{}",
            self.window_size.0, self.window_size.1
        ));
        args.push(format!("--user-data-dir={}", profile.display()));
        let wants_proxy = self
            .args
            .iter()
            .any(|a| a.starts_with("--proxy-server") || a.starts_with("--proxy-pac-url"));
        if !wants_proxy {
            // A proxy from the environment would otherwise catch mapped hosts.
            args.push("--no-proxy-server".to_owned());
        }
        if !self.mapped_hosts.is_empty() {
            let rules: Vec<String> = self
                .mapped_hosts
                .iter()
                .map(|h| format!("MAP {h} 127.0.0.1"))
                .collect();
            args.push(format!("--host-resolver-rules={}", rules.join(",")));
        }
        args.extend(self.args.iter().cloned());
        args
    }
}

/// `test-artifacts` in Cargo's target directory: `$CARGO_TARGET_DIR` if
/// set (relative to the workspace root), else the workspace's `target/`.
pub fn default_artifacts_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    // crates/orchard-testkit -> workspace root.
    let workspace = manifest.parent().and_then(Path::parent).unwrap_or(manifest);
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => workspace.join(dir),
        _ => workspace.join("target"),
    };
    target.join("test-artifacts")
}

/// One console or browser log message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// `SEVERE`, `WARNING`, `INFO` or `DEBUG`.
    pub level: String,
    /// Where it came from: `console-api`, `javascript` (uncaught
    /// exceptions), `security` (CSP violations), `network`, ….
    pub source: String,
    /// The text, prefixed by Chromium with the script URL and position.
    pub message: String,
    /// Milliseconds since the Unix epoch.
    pub timestamp: u64,
}

impl LogEntry {
    /// Whether this is an error (`console.error`, an uncaught exception, a
    /// CSP violation, a failed load).
    pub fn is_severe(&self) -> bool {
        self.level == "SEVERE"
    }

    /// Whether this reports a Content Security Policy violation (an inline
    /// script or style, `eval`, a load from a forbidden origin, …).
    pub fn is_csp_violation(&self) -> bool {
        self.source == "security" && self.message.contains("Content Security Policy")
    }

    fn from_value(v: &Value) -> Self {
        let text = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
        Self {
            level: text("level"),
            source: text("source"),
            message: text("message"),
            timestamp: v["timestamp"].as_u64().unwrap_or(0),
        }
    }
}

impl fmt::Display for LogEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{} {}] {}", self.level, self.source, self.message)
    }
}

/// Whitespace collapsed and cut to `max` characters.
pub(crate) fn excerpt(text: &str, max: usize) -> String {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() <= max {
        collapsed
    } else {
        let mut cut: String = collapsed.chars().take(max).collect();
        cut.push('…');
        cut
    }
}

/// JavaScript truthiness of a value returned by a script.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// Percent-encodes a path segment.
fn segment(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A WebDriver session: where chromedriver listens and the session id.
#[derive(Debug)]
struct Session {
    addr: SocketAddr,
    id: String,
}

impl Session {
    async fn raw(
        &self,
        method: Method,
        suffix: &str,
        body: Option<Value>,
    ) -> Result<Value, WireError> {
        let path = format!("/session/{}{suffix}", self.id);
        wire::command(self.addr, method, &path, body.as_ref()).await
    }

    /// Runs a command; on failure the error says what was being done and
    /// what the page showed.
    async fn call(
        &self,
        method: Method,
        suffix: &str,
        body: Option<Value>,
        doing: impl FnOnce() -> String,
    ) -> Result<Value, BrowserError> {
        match self.raw(method, suffix, body).await {
            Ok(v) => Ok(v),
            Err(e) => Err(self.fail(e, doing()).await),
        }
    }

    async fn fail(&self, e: WireError, doing: String) -> BrowserError {
        // A dead driver cannot describe the page; do not try.
        let context = if e.code.is_some() {
            self.page_context().await
        } else {
            String::new()
        };
        let mut err = e.doing(doing);
        err.message.push_str(&context);
        err
    }

    /// "; page URL (title "…") shows: "…"", best effort.
    async fn page_context(&self) -> String {
        let script = "return [location.href, document.title, \
                      document.body ? document.body.innerText : ''];";
        let body = json!({"script": script, "args": []});
        let call = self.raw(Method::Post, "/execute/sync", Some(body));
        match tokio::time::timeout(CONTEXT_DEADLINE, call).await {
            Ok(Ok(v)) => {
                let s = |i: usize| v[i].as_str().unwrap_or_default().to_owned();
                format!(
                    "; page {} (title {:?}) shows: {:?}",
                    s(0),
                    s(1),
                    excerpt(&s(2), 300)
                )
            }
            _ => String::new(),
        }
    }

    fn element(self: &Arc<Self>, v: &Value, selector: &str) -> Result<Element, BrowserError> {
        match v[ELEMENT_KEY].as_str() {
            Some(id) => Ok(Element {
                session: Arc::clone(self),
                id: id.to_owned(),
                selector: selector.to_owned(),
            }),
            None => Err(BrowserError::new(format!(
                "finding `{selector}`: chromedriver returned {v} instead of an element"
            ))),
        }
    }

    fn elements(self: &Arc<Self>, v: &Value, selector: &str) -> Result<Vec<Element>, BrowserError> {
        v.as_array()
            .map(|items| items.iter().map(|i| self.element(i, selector)).collect())
            .unwrap_or_else(|| {
                Err(BrowserError::new(format!(
                    "finding all `{selector}`: chromedriver returned {v} instead of a list"
                )))
            })
    }
}

fn css(selector: &str) -> Value {
    json!({"using": "css selector", "value": selector})
}

/// A headless Chromium driven through chromedriver. Closed on drop.
pub struct Browser {
    session: Arc<Session>,
    browser_pid: Option<u32>,
    artifacts_dir: PathBuf,
    timeout: Duration,
    /// Whether the WebDriver session still needs deleting.
    open: bool,
    // Dropped in this order after `Drop::drop`: chromedriver is killed,
    // then the profile directory removed.
    _driver: Driver,
    _scratch: ScratchDir,
}

impl fmt::Debug for Browser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Browser")
            .field("driver", &self.session.addr)
            .field("session", &self.session.id)
            .field("browser_pid", &self.browser_pid)
            .finish_non_exhaustive()
    }
}

impl Browser {
    /// Launches headless Chromium with the default options.
    pub async fn launch() -> Result<Browser, BrowserError> {
        Self::launch_with(BrowserOptions::default()).await
    }

    /// Launches headless Chromium: starts chromedriver on a free loopback
    /// port, waits until it is ready and opens a session on a fresh profile.
    pub async fn launch_with(opts: BrowserOptions) -> Result<Browser, BrowserError> {
        let chromium = process::find_chromium(opts.chromium.as_deref())?;
        let chromedriver = process::find_chromedriver(opts.chromedriver.as_deref())?;
        let scratch = ScratchDir::create()?;
        let args = opts.chromium_args(&scratch.path().join("profile"));
        let mut driver = Driver::start(&chromedriver, &scratch).await?;
        let caps = wire::capabilities(&chromium.to_string_lossy(), &args);
        let created = match wire::command(driver.addr, Method::Post, "/session", Some(&caps)).await
        {
            Ok(v) => v,
            Err(e) => {
                let mut err = e.doing(format!(
                    "launching the browser: creating a session with {}",
                    chromium.display()
                ));
                let stderr = driver.stderr_tail();
                if !stderr.is_empty() {
                    err.message.push_str(&format!("; stderr: {stderr}"));
                }
                return Err(err);
            }
        };
        let Some(id) = created["sessionId"].as_str() else {
            return Err(driver.failure(
                "chromedriver answered the new session without an id",
                &created.to_string(),
            ));
        };
        let browser_pid = created["capabilities"]["goog:processID"]
            .as_u64()
            .and_then(|p| u32::try_from(p).ok());
        let browser = Browser {
            session: Arc::new(Session {
                addr: driver.addr,
                id: id.to_owned(),
            }),
            browser_pid,
            artifacts_dir: opts.artifacts_dir.unwrap_or_else(default_artifacts_dir),
            timeout: opts.timeout,
            open: true,
            _driver: driver,
            _scratch: scratch,
        };
        let (width, height) = opts.window_size;
        browser.set_viewport(width, height).await?;
        Ok(browser)
    }

    /// Resizes the window so the page's viewport (`innerWidth` ×
    /// `innerHeight`) is exactly `width` × `height` CSS pixels.
    pub async fn set_viewport(&self, width: u32, height: u32) -> Result<(), BrowserError> {
        let sizes = self
            .execute(
                "return [innerWidth, innerHeight, outerWidth, outerHeight];",
                &[],
            )
            .await?;
        let n = |i: usize| sizes[i].as_i64().unwrap_or(0);
        let (width, height) = (i64::from(width), i64::from(height));
        if (n(0), n(1)) == (width, height) {
            return Ok(());
        }
        let rect = json!({"width": width + n(2) - n(0), "height": height + n(3) - n(1)});
        self.call(Method::Post, "/window/rect", Some(rect), || {
            format!("resizing the window for a {width}x{height} viewport")
        })
        .await
        .map(drop)
    }

    /// Ends the session (closing Chromium), kills chromedriver and removes
    /// the profile. Dropping does the same, blocking briefly.
    pub async fn close(mut self) -> Result<(), BrowserError> {
        let deleted = self.session.raw(Method::Delete, "", None).await;
        // On failure `Drop` retries and then kills the browser by pid.
        self.open = deleted.is_err();
        deleted
            .map(drop)
            .map_err(|e| e.doing("closing the browser session"))
    }

    /// The process id of the Chromium browser process, as chromedriver
    /// reported it.
    pub fn browser_pid(&self) -> Option<u32> {
        self.browser_pid
    }

    /// Where relative screenshot paths go.
    pub fn artifacts_dir(&self) -> &Path {
        &self.artifacts_dir
    }

    /// The timeout of [`Browser::wait_for`] and [`Browser::wait_until`].
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    async fn call(
        &self,
        method: Method,
        suffix: &str,
        body: Option<Value>,
        doing: impl FnOnce() -> String,
    ) -> Result<Value, BrowserError> {
        self.session.call(method, suffix, body, doing).await
    }

    /// Navigates the current tab and waits for the page to load.
    pub async fn goto(&self, url: &str) -> Result<(), BrowserError> {
        self.call(Method::Post, "/url", Some(json!({"url": url})), || {
            format!("navigating to {url}")
        })
        .await
        .map(drop)
    }

    /// The current tab's URL.
    pub async fn current_url(&self) -> Result<String, BrowserError> {
        let v = self
            .call(Method::Get, "/url", None, || "reading the URL".to_owned())
            .await?;
        Ok(v.as_str().unwrap_or_default().to_owned())
    }

    /// The current tab's title.
    pub async fn title(&self) -> Result<String, BrowserError> {
        let v = self
            .call(Method::Get, "/title", None, || {
                "reading the title".to_owned()
            })
            .await?;
        Ok(v.as_str().unwrap_or_default().to_owned())
    }

    /// Reloads the page and waits for it to load.
    pub async fn refresh(&self) -> Result<(), BrowserError> {
        self.call(Method::Post, "/refresh", None, || "reloading".to_owned())
            .await
            .map(drop)
    }

    /// Goes back one entry in the tab's history.
    pub async fn back(&self) -> Result<(), BrowserError> {
        self.call(Method::Post, "/back", None, || "going back".to_owned())
            .await
            .map(drop)
    }

    /// Runs a script body synchronously and returns what it `return`s.
    /// `args` are `arguments[0..]`; pass elements as `Value::from(&element)`.
    pub async fn execute(&self, script: &str, args: &[Value]) -> Result<Value, BrowserError> {
        let body = json!({"script": script, "args": args});
        self.call(Method::Post, "/execute/sync", Some(body), || {
            format!("running script `{}`", excerpt(script, 120))
        })
        .await
    }

    /// Runs an async script body: it finishes by calling the callback passed
    /// as its last argument (`arguments[arguments.length - 1]`), whose
    /// argument is returned. Times out after 30 s.
    pub async fn execute_async(&self, script: &str, args: &[Value]) -> Result<Value, BrowserError> {
        let body = json!({"script": script, "args": args});
        self.call(Method::Post, "/execute/async", Some(body), || {
            format!("running async script `{}`", excerpt(script, 120))
        })
        .await
    }

    /// The first element matching a CSS selector, now (no waiting; see
    /// [`Browser::wait_for`]).
    pub async fn find(&self, selector: &str) -> Result<Element, BrowserError> {
        let v = self
            .call(Method::Post, "/element", Some(css(selector)), || {
                format!("finding `{selector}`")
            })
            .await?;
        self.session.element(&v, selector)
    }

    /// Every element matching a CSS selector, now (possibly none).
    pub async fn find_all(&self, selector: &str) -> Result<Vec<Element>, BrowserError> {
        let v = self
            .call(Method::Post, "/elements", Some(css(selector)), || {
                format!("finding all `{selector}`")
            })
            .await?;
        self.session.elements(&v, selector)
    }

    /// Waits up to the default timeout for an element matching `selector`
    /// to be present and displayed, and returns the first such element.
    pub async fn wait_for(&self, selector: &str) -> Result<Element, BrowserError> {
        self.wait_for_within(selector, self.timeout).await
    }

    /// [`Browser::wait_for`] with an explicit timeout.
    pub async fn wait_for_within(
        &self,
        selector: &str,
        timeout: Duration,
    ) -> Result<Element, BrowserError> {
        let start = Instant::now();
        loop {
            let state = match self
                .session
                .raw(Method::Post, "/elements", Some(css(selector)))
                .await
            {
                Ok(v) => {
                    let found = self.session.elements(&v, selector)?;
                    for el in &found {
                        // A stale or vanished element is just not displayed yet.
                        if el.displayed_raw().await.unwrap_or(false) {
                            return Ok(el.clone());
                        }
                    }
                    match found.len() {
                        0 => "no element matches".to_owned(),
                        n => format!("{n} matching element(s), none displayed"),
                    }
                }
                // A bad selector or a dead driver will not get better.
                Err(e) if e.code.as_deref() == Some("invalid selector") || e.code.is_none() => {
                    return Err(self
                        .session
                        .fail(e, format!("waiting for `{selector}`"))
                        .await);
                }
                Err(e) => e.doing("last try").to_string(),
            };
            if start.elapsed() >= timeout {
                let context = self.session.page_context().await;
                return Err(BrowserError::new(format!(
                    "waiting {timeout:?} for `{selector}` to be present and displayed: \
                     timed out, {state}{context}"
                )));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits up to the default timeout for a JavaScript expression to be
    /// truthy, and returns its value. Errors thrown while evaluating count
    /// as "not yet" (a syntax error fails at once).
    pub async fn wait_until(&self, expression: &str) -> Result<Value, BrowserError> {
        self.wait_until_within(expression, self.timeout).await
    }

    /// [`Browser::wait_until`] with an explicit timeout.
    pub async fn wait_until_within(
        &self,
        expression: &str,
        timeout: Duration,
    ) -> Result<Value, BrowserError> {
        let expr = expression.trim().trim_end_matches(';');
        let body = json!({"script": format!("return ({expr});"), "args": []});
        let start = Instant::now();
        loop {
            let last = match self
                .session
                .raw(Method::Post, "/execute/sync", Some(body.clone()))
                .await
            {
                Ok(v) if truthy(&v) => return Ok(v),
                Ok(v) => format!("last value {v}"),
                Err(e)
                    if e.code.is_none()
                        || (e.code.as_deref() == Some("javascript error")
                            && e.message.contains("SyntaxError")) =>
                {
                    return Err(self
                        .session
                        .fail(e, format!("waiting until `{}`", excerpt(expr, 120)))
                        .await);
                }
                Err(e) => e.doing("last error").to_string(),
            };
            if start.elapsed() >= timeout {
                let context = self.session.page_context().await;
                return Err(BrowserError::new(format!(
                    "waiting {timeout:?} until `{}` is truthy: timed out, {last}{context}",
                    excerpt(expr, 120)
                )));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Saves a PNG screenshot of the viewport. A relative `path` is taken
    /// under [`Browser::artifacts_dir`]; parent directories are created.
    /// Returns the path written.
    pub async fn screenshot(&self, path: impl AsRef<Path>) -> Result<PathBuf, BrowserError> {
        let path = self.artifacts_dir.join(path.as_ref());
        let doing = || format!("taking a screenshot for {}", path.display());
        let v = self.call(Method::Get, "/screenshot", None, doing).await?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or_default())
            .map_err(|e| BrowserError::new(format!("{}: bad base64: {e}", doing())))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                BrowserError::new(format!("{}: creating {}: {e}", doing(), dir.display()))
            })?;
        }
        std::fs::write(&path, png)
            .map_err(|e| BrowserError::new(format!("{}: writing: {e}", doing())))?;
        Ok(path)
    }

    /// Console messages, uncaught exceptions, CSP violations and failed
    /// loads logged since the previous call (chromedriver hands each entry
    /// out once), across all tabs.
    pub async fn browser_log(&self) -> Result<Vec<LogEntry>, BrowserError> {
        let body = json!({"type": "browser"});
        let v = match self
            .session
            .raw(Method::Post, "/se/log", Some(body.clone()))
            .await
        {
            // Older chromedrivers only know the legacy endpoint.
            Err(e) if e.code.as_deref() == Some("unknown command") => {
                self.call(Method::Post, "/log", Some(body), || {
                    "reading the browser log".to_owned()
                })
                .await?
            }
            Err(e) => return Err(e.doing("reading the browser log")),
            Ok(v) => v,
        };
        Ok(v.as_array()
            .map(|items| items.iter().map(LogEntry::from_value).collect())
            .unwrap_or_default())
    }

    /// Opens a new tab (without switching to it) and returns its handle.
    pub async fn new_tab(&self) -> Result<String, BrowserError> {
        let v = self
            .call(
                Method::Post,
                "/window/new",
                Some(json!({"type": "tab"})),
                || "opening a new tab".to_owned(),
            )
            .await?;
        v["handle"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| BrowserError::new(format!("opening a new tab: no handle in {v}")))
    }

    /// Makes the tab or window with this handle the target of later commands.
    pub async fn switch_to(&self, handle: &str) -> Result<(), BrowserError> {
        self.call(
            Method::Post,
            "/window",
            Some(json!({"handle": handle})),
            || format!("switching to window {handle}"),
        )
        .await
        .map(drop)
    }

    /// Handles of all open tabs and windows.
    pub async fn window_handles(&self) -> Result<Vec<String>, BrowserError> {
        let v = self
            .call(Method::Get, "/window/handles", None, || {
                "listing windows".to_owned()
            })
            .await?;
        Ok(v.as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|h| h.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// The current tab's handle.
    pub async fn window_handle(&self) -> Result<String, BrowserError> {
        let v = self
            .call(Method::Get, "/window", None, || {
                "reading the window handle".to_owned()
            })
            .await?;
        Ok(v.as_str().unwrap_or_default().to_owned())
    }

    /// Closes the current tab; [`Browser::switch_to`] another before going on.
    pub async fn close_tab(&self) -> Result<(), BrowserError> {
        self.call(Method::Delete, "/window", None, || {
            "closing the tab".to_owned()
        })
        .await
        .map(drop)
    }

    async fn perform(
        &self,
        actions: Vec<Value>,
        doing: impl FnOnce() -> String,
    ) -> Result<(), BrowserError> {
        self.call(
            Method::Post,
            "/actions",
            Some(keys::keyboard_actions(actions)),
            doing,
        )
        .await
        .map(drop)
    }

    /// Types `text` into whatever has focus, as real key presses. Special
    /// keys go in as [`Key`] codepoints; modifiers in the text stay held
    /// until repeated, [`Key::Null`] or the end (WebDriver's send-keys rule).
    pub async fn send_keys_to_active(&self, text: &str) -> Result<(), BrowserError> {
        self.perform(keys::typing(text), || {
            format!("typing {:?} into the focused element", excerpt(text, 60))
        })
        .await
    }

    /// Presses a key chord on whatever has focus: `modifiers` held in order,
    /// `key` pressed and released, modifiers released. For example
    /// `chord(&[Key::Control, Key::Shift], 'o')` or
    /// `chord(&[Key::Shift], Key::Enter)`.
    pub async fn chord(&self, modifiers: &[Key], key: impl Into<char>) -> Result<(), BrowserError> {
        let key = key.into();
        self.perform(keys::chord(modifiers, key), || {
            let mut names: Vec<String> = modifiers.iter().map(|m| format!("{m:?}")).collect();
            names.push(match Key::named(key) {
                Some(k) => format!("{k:?}"),
                None => key.to_string(),
            });
            format!("pressing {}", names.join("+"))
        })
        .await
    }

    /// Presses and releases one key on whatever has focus.
    pub async fn press(&self, key: impl Into<char>) -> Result<(), BrowserError> {
        self.chord(&[], key).await
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.open {
            return;
        }
        // No executor here: a blocking DELETE on loopback, bounded by socket
        // timeouts. Deleting the session makes chromedriver quit Chromium.
        let path = format!("/session/{}", self.session.id);
        let deleted = wire::blocking_delete(self.session.addr, &path, DROP_DELETE_DEADLINE);
        if !deleted && let Some(pid) = self.browser_pid {
            process::kill_browser_pid(pid);
        }
    }
}

/// An element in the page. Cheap to clone; stale once the page changes
/// under it (commands then fail with `stale element reference`).
#[derive(Clone)]
pub struct Element {
    session: Arc<Session>,
    id: String,
    selector: String,
}

impl fmt::Debug for Element {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Element")
            .field("selector", &self.selector)
            .field("id", &self.id)
            .finish()
    }
}

impl From<&Element> for Value {
    /// The W3C element reference, to pass an element to a script.
    fn from(el: &Element) -> Value {
        json!({ ELEMENT_KEY: el.id })
    }
}

impl Element {
    /// The selector this element was found by (for messages).
    pub fn selector(&self) -> &str {
        &self.selector
    }

    async fn call(
        &self,
        method: Method,
        suffix: &str,
        body: Option<Value>,
        what: &str,
    ) -> Result<Value, BrowserError> {
        let suffix = format!("/element/{}{suffix}", self.id);
        self.session
            .call(method, &suffix, body, || {
                format!("{what} `{}`", self.selector)
            })
            .await
    }

    async fn displayed_raw(&self) -> Result<bool, WireError> {
        let suffix = format!("/element/{}/displayed", self.id);
        let v = self.session.raw(Method::Get, &suffix, None).await?;
        Ok(v == true)
    }

    /// Clicks the element (scrolling it into view first).
    pub async fn click(&self) -> Result<(), BrowserError> {
        self.call(Method::Post, "/click", None, "clicking")
            .await
            .map(drop)
    }

    /// Focuses the element and types `text`; [`Key`] codepoints (e.g.
    /// `"\u{E007}"`, or `Key::Enter` formatted in) press special keys.
    pub async fn send_keys(&self, text: &str) -> Result<(), BrowserError> {
        self.call(
            Method::Post,
            "/value",
            Some(json!({"text": text})),
            "typing into",
        )
        .await
        .map(drop)
    }

    /// Empties an input, textarea or contenteditable element.
    pub async fn clear(&self) -> Result<(), BrowserError> {
        self.call(Method::Post, "/clear", None, "clearing")
            .await
            .map(drop)
    }

    /// The rendered text (`innerText`-like; empty when hidden).
    pub async fn text(&self) -> Result<String, BrowserError> {
        let v = self
            .call(Method::Get, "/text", None, "reading the text of")
            .await?;
        Ok(v.as_str().unwrap_or_default().to_owned())
    }

    /// An attribute (falling back to the property of that name, as WebDriver
    /// does), or `None` when absent.
    pub async fn attr(&self, name: &str) -> Result<Option<String>, BrowserError> {
        let suffix = format!("/attribute/{}", segment(name));
        let v = self
            .call(
                Method::Get,
                &suffix,
                None,
                &format!("reading attribute {name:?} of"),
            )
            .await?;
        Ok(match v {
            Value::Null => None,
            Value::String(s) => Some(s),
            other => Some(other.to_string()),
        })
    }

    /// A DOM property, e.g. `value`, `checked`, `disabled`.
    pub async fn prop(&self, name: &str) -> Result<Value, BrowserError> {
        let suffix = format!("/property/{}", segment(name));
        self.call(
            Method::Get,
            &suffix,
            None,
            &format!("reading property {name:?} of"),
        )
        .await
    }

    /// The `value` property as a string (inputs, textareas, selects).
    pub async fn value(&self) -> Result<String, BrowserError> {
        Ok(match self.prop("value").await? {
            Value::String(s) => s,
            Value::Null => String::new(),
            other => other.to_string(),
        })
    }

    /// Whether the element is rendered visibly.
    pub async fn is_displayed(&self) -> Result<bool, BrowserError> {
        let v = self
            .call(Method::Get, "/displayed", None, "checking visibility of")
            .await?;
        Ok(v == true)
    }

    /// The first descendant matching a CSS selector.
    pub async fn find(&self, selector: &str) -> Result<Element, BrowserError> {
        let v = self
            .call(
                Method::Post,
                "/element",
                Some(css(selector)),
                &format!("finding `{selector}` in"),
            )
            .await?;
        self.session
            .element(&v, &format!("{} {selector}", self.selector))
    }

    /// Every descendant matching a CSS selector (possibly none).
    pub async fn find_all(&self, selector: &str) -> Result<Vec<Element>, BrowserError> {
        let v = self
            .call(
                Method::Post,
                "/elements",
                Some(css(selector)),
                &format!("finding all `{selector}` in"),
            )
            .await?;
        self.session
            .elements(&v, &format!("{} {selector}", self.selector))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_collapses_and_cuts() {
        assert_eq!(excerpt("  a\n\n b\tc ", 10), "a b c");
        assert_eq!(excerpt("abcdef", 3), "abc…");
    }

    #[test]
    fn truthiness_follows_javascript() {
        for v in [json!(null), json!(false), json!(0), json!(0.0), json!("")] {
            assert!(!truthy(&v), "{v}");
        }
        for v in [json!(true), json!(1), json!("0"), json!([]), json!({})] {
            assert!(truthy(&v), "{v}");
        }
    }

    #[test]
    fn args_put_user_flags_last_and_merge_host_rules() {
        let opts = BrowserOptions::default()
            .window_size(800, 600)
            .map_host_to_loopback("outside.example")
            .map_host_to_loopback("api.example")
            .arg("--force-dark-mode");
        let args = opts.chromium_args(Path::new("/tmp/p"));
        assert!(args.contains(&"--headless=new".to_owned()));
        assert!(args.contains(&"--disable-background-networking".to_owned()));
        assert!(args.contains(&"--window-size=800,600".to_owned()));
        assert!(args.contains(&"--user-data-dir=/tmp/p".to_owned()));
        assert!(args.contains(&"--no-proxy-server".to_owned()));
        assert!(
            args.contains(
                &"--host-resolver-rules=MAP outside.example 127.0.0.1,MAP api.example 127.0.0.1"
                    .to_owned()
            )
        );
        assert_eq!(args.last().map(String::as_str), Some("--force-dark-mode"));
        let proxied = BrowserOptions::default()
            .arg("--proxy-server=127.0.0.1:3128")
            .chromium_args(Path::new("/tmp/p"));
        assert!(!proxied.contains(&"--no-proxy-server".to_owned()));
    }

    /// Tests may hold a browser across `tokio::spawn` and share it.
    #[test]
    fn handles_and_futures_are_send() {
        fn send_sync<T: Send + Sync>(_: &T) {}
        fn check(b: &Browser, e: &Element) {
            send_sync(&b.goto("about:blank"));
            send_sync(&b.wait_for("p"));
            send_sync(&b.chord(&[Key::Control], 'k'));
            send_sync(&e.click());
        }
        let _ = check;
    }

    #[test]
    fn segment_encodes() {
        assert_eq!(segment("aria-label"), "aria-label");
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
    }
}
