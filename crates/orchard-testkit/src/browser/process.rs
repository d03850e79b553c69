//! The chromedriver child process, the throwaway Chromium profile and
//! finding the binaries.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::BrowserError;
use super::wire::{self, Method};

/// How long chromedriver may take to start listening and report ready.
const DRIVER_START_DEADLINE: Duration = Duration::from_secs(20);
/// Interval between `/status` polls while chromedriver starts.
const STATUS_POLL: Duration = Duration::from_millis(25);

/// What to tell someone whose machine lacks the browser.
const INSTALL_HINT: &str = "run ./scripts/test once (it installs the Debian packages \
     chromium and chromium-driver with apt), or set $CHROMIUM / $CHROMEDRIVER";

/// Whether `path` is an executable regular file.
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `name` looked up in `$PATH`.
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

/// The Chromium binary: the option, else `$CHROMIUM`, else `/usr/bin/chromium`.
pub(crate) fn find_chromium(explicit: Option<&Path>) -> Result<PathBuf, BrowserError> {
    let (path, from) = match (explicit, std::env::var_os("CHROMIUM")) {
        (Some(p), _) => (p.to_path_buf(), "BrowserOptions::chromium"),
        (None, Some(p)) if !p.is_empty() => (PathBuf::from(p), "$CHROMIUM"),
        _ => (PathBuf::from("/usr/bin/chromium"), "the default path"),
    };
    if is_executable(&path) {
        Ok(path)
    } else {
        Err(BrowserError::new(format!(
            "launching the browser: Chromium not found at {} ({from}); {INSTALL_HINT}",
            path.display()
        )))
    }
}

/// The chromedriver binary: the option, else `$CHROMEDRIVER`, else
/// `chromedriver` on `$PATH`, else `/usr/bin/chromedriver`.
pub(crate) fn find_chromedriver(explicit: Option<&Path>) -> Result<PathBuf, BrowserError> {
    let (path, from) = match (explicit, std::env::var_os("CHROMEDRIVER")) {
        (Some(p), _) => (p.to_path_buf(), "BrowserOptions::chromedriver"),
        (None, Some(p)) if !p.is_empty() => (PathBuf::from(p), "$CHROMEDRIVER"),
        _ => (
            which("chromedriver").unwrap_or_else(|| PathBuf::from("/usr/bin/chromedriver")),
            "$PATH",
        ),
    };
    if is_executable(&path) {
        Ok(path)
    } else {
        Err(BrowserError::new(format!(
            "launching the browser: chromedriver not found at {} ({from}); {INSTALL_HINT}",
            path.display()
        )))
    }
}

/// A fresh directory under the system temp dir, removed on drop. Holds the
/// Chromium profile (`--user-data-dir`) and the driver's stderr.
pub(crate) struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    pub(crate) fn create() -> Result<Self, BrowserError> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let mut last_err = None;
        for _ in 0..16 {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir().join(format!(
                "orchard-browser-{}-{n}-{nanos:x}",
                std::process::id()
            ));
            // create_dir (not create_dir_all) so a leftover never gets reused.
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(Self { path }),
                Err(e) => last_err = Some(e),
            }
        }
        Err(BrowserError::new(format!(
            "launching the browser: creating a profile directory under {}: {}",
            std::env::temp_dir().display(),
            last_err.map(|e| e.to_string()).unwrap_or_default()
        )))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A running chromedriver, killed (and reaped) on drop.
pub(crate) struct Driver {
    child: Child,
    pub(crate) addr: SocketAddr,
    stderr_path: PathBuf,
}

impl Driver {
    /// Starts `chromedriver --port=0` and waits until it reports ready.
    ///
    /// Port 0 lets the kernel pick a free port atomically, so there is no
    /// pick-then-bind race to retry; chromedriver prints the port it got.
    pub(crate) async fn start(binary: &Path, scratch: &ScratchDir) -> Result<Self, BrowserError> {
        let stderr_path = scratch.path().join("chromedriver-stderr.log");
        let stderr = std::fs::File::create(&stderr_path).map_err(|e| {
            BrowserError::new(format!(
                "launching the browser: creating {}: {e}",
                stderr_path.display()
            ))
        })?;
        let mut child = Command::new(binary)
            .arg("--port=0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            // chromedriver's warnings and Chromium's own stderr (which it
            // inherits) go to a file: quoted in errors, not in test output.
            .stderr(stderr)
            .spawn()
            .map_err(|e| {
                BrowserError::new(format!(
                    "launching the browser: starting {}: {e}",
                    binary.display()
                ))
            })?;
        let stdout = child.stdout.take();
        let mut driver = Driver {
            child,
            // Replaced below once the port is known.
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            stderr_path,
        };
        let port = driver.read_port(stdout).await?;
        driver.addr = SocketAddr::from(([127, 0, 0, 1], port));
        driver.wait_ready().await?;
        Ok(driver)
    }

    /// Reads chromedriver's stdout until "started successfully on port N".
    async fn read_port(
        &mut self,
        stdout: Option<std::process::ChildStdout>,
    ) -> Result<u16, BrowserError> {
        let Some(stdout) = stdout else {
            return Err(BrowserError::new(
                "launching the browser: no chromedriver stdout",
            ));
        };
        let (tx, rx) = tokio::sync::oneshot::channel::<Result<u16, String>>();
        // A plain thread: the pipe is a blocking std handle, and it must keep
        // being drained after the port line so chromedriver never blocks on it.
        std::thread::Builder::new()
            .name("chromedriver-stdout".to_owned())
            .spawn(move || {
                let mut tx = Some(tx);
                let mut seen = String::new();
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if tx.is_none() {
                        continue;
                    }
                    seen.push_str(&line);
                    seen.push('\n');
                    if let Some(port) = parse_port_line(&line)
                        && let Some(tx) = tx.take()
                    {
                        let _ = tx.send(Ok(port));
                    }
                }
                if let Some(tx) = tx {
                    let _ = tx.send(Err(seen));
                }
            })
            .map_err(|e| {
                BrowserError::new(format!("launching the browser: spawning a thread: {e}"))
            })?;
        match tokio::time::timeout(DRIVER_START_DEADLINE, rx).await {
            Ok(Ok(Ok(port))) => Ok(port),
            Ok(Ok(Err(output))) => {
                Err(self.failure("chromedriver exited before listening", &output))
            }
            Ok(Err(_)) => Err(self.failure("chromedriver exited before listening", "")),
            Err(_) => Err(self.failure(
                &format!("chromedriver did not report its port within {DRIVER_START_DEADLINE:?}"),
                "",
            )),
        }
    }

    /// Polls `GET /status` until chromedriver says it is ready.
    async fn wait_ready(&mut self) -> Result<(), BrowserError> {
        let start = Instant::now();
        loop {
            let last = match wire::command(self.addr, Method::Get, "/status", None).await {
                Ok(v) if v["ready"] == true => return Ok(()),
                Ok(v) => v.to_string(),
                Err(e) => e.message,
            };
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(self.failure(&format!("chromedriver exited ({status})"), &last));
            }
            if start.elapsed() > DRIVER_START_DEADLINE {
                return Err(self.failure(
                    &format!("chromedriver not ready within {DRIVER_START_DEADLINE:?}"),
                    &last,
                ));
            }
            tokio::time::sleep(STATUS_POLL).await;
        }
    }

    /// An error for a failed start, quoting what the driver said.
    pub(crate) fn failure(&mut self, what: &str, said: &str) -> BrowserError {
        let status = match self.child.try_wait() {
            Ok(Some(status)) => format!(" ({status})"),
            _ => String::new(),
        };
        let mut message = format!("launching the browser: {what}{status}");
        let said = said.trim();
        if !said.is_empty() {
            message.push_str(&format!("; it said: {said}"));
        }
        let stderr = self.stderr_tail();
        if !stderr.is_empty() {
            message.push_str(&format!("; stderr: {stderr}"));
        }
        BrowserError::new(message)
    }

    /// The last lines chromedriver and Chromium wrote to stderr.
    pub(crate) fn stderr_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.stderr_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        lines[lines.len().saturating_sub(12)..].join("\n")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The port in "ChromeDriver was started successfully on port 43755."
fn parse_port_line(line: &str) -> Option<u16> {
    let rest = line.split("started successfully on port ").nth(1)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok().filter(|p| *p != 0)
}

/// Kills a leftover browser process by pid, if it still looks like Chromium.
/// Only used when deleting the session failed, so the pid is known fresh.
pub(crate) fn kill_browser_pid(pid: u32) {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    if !comm.trim().starts_with("chrom") {
        return;
    }
    // No libc (unsafe is forbidden here): the kill(1) utility does it.
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_line() {
        assert_eq!(
            parse_port_line("ChromeDriver was started successfully on port 43755."),
            Some(43755)
        );
        assert_eq!(parse_port_line("Starting ChromeDriver 156 on port 0"), None);
        assert_eq!(parse_port_line("Only local connections are allowed."), None);
    }

    #[test]
    fn missing_binaries_say_how_to_install() {
        let err = find_chromium(Some(Path::new("/nonexistent/chromium"))).unwrap_err();
        assert!(err.to_string().contains("./scripts/test"), "{err}");
        assert!(err.to_string().contains("/nonexistent/chromium"), "{err}");
        let err = find_chromedriver(Some(Path::new("/nonexistent/chromedriver"))).unwrap_err();
        assert!(err.to_string().contains("chromium-driver"), "{err}");
    }
}
