//! Self-test of the real-browser harness: headless Chromium driven through
//! chromedriver against a loopback page served with a strict CSP, as
//! Orchard's web UI is. Launching Chromium is the slow part, so one test
//! does most of the checks on one browser.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use orchard_testkit::browser::{Browser, BrowserOptions, Key, LogEntry, default_artifacts_dir};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The page. Its inline script must be refused by the CSP (and logged);
/// the real behaviour lives in `/app.js`.
const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Harness self-test</title>
<script src="/app.js" defer></script>
</head>
<body>
<h1>Harness self-test</h1>
<p id="status">idle</p>
<button id="btn" type="button" data-role="primary">Click me</button>
<form id="form"><input id="name" name="name" autocomplete="off"></form>
<p id="submitted"></p>
<textarea id="note"></textarea>
<p id="keys"></p>
<p id="storage"></p>
<div id="hidden" hidden>secret</div>
<script>window.inlineRan = true;</script>
</body>
</html>
"#;

const APP_JS: &str = r#"'use strict';
const $ = (id) => document.getElementById(id);
window.keylog = [];
$('btn').addEventListener('click', () => {
  $('status').textContent = 'clicked';
  localStorage.setItem('clicked', 'yes');
  // Appears a little later, for wait_for to wait for.
  setTimeout(() => {
    const p = document.createElement('p');
    p.id = 'late';
    p.textContent = 'late arrival';
    document.body.append(p);
  }, 200);
});
$('form').addEventListener('submit', (e) => {
  e.preventDefault();
  $('submitted').textContent = 'submitted: ' + $('name').value;
});
// Records shortcuts: any key with Ctrl/Alt, and named keys (not plain typing).
document.addEventListener('keydown', (e) => {
  if (['Shift', 'Control', 'Alt', 'Meta'].includes(e.key)) return;
  const mods = (e.ctrlKey ? 'Ctrl+' : '') + (e.altKey ? 'Alt+' : '') + (e.shiftKey ? 'Shift+' : '');
  if (e.key.length === 1 && !e.ctrlKey && !e.altKey) return;
  window.keylog.push(mods + (e.key.length === 1 ? e.key.toUpperCase() : e.key));
  $('keys').textContent = window.keylog.join(' ');
  if (e.ctrlKey) e.preventDefault();
});
window.addEventListener('storage', (e) => {
  $('storage').textContent = e.key + '=' + e.newValue;
});
console.error('selftest: deliberate console error');
const ready = document.createElement('p');
ready.id = 'ready';
ready.textContent = 'ready';
document.body.append(ready);
"#;

/// A loopback HTTP/1.1 server for the page, one request per connection.
async fn serve() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = Vec::new();
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    let mut chunk = [0u8; 4096];
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf);
                let target = head.split_whitespace().nth(1).unwrap_or("/");
                let path = target.split('?').next().unwrap_or("/");
                let (status, kind, body) = match path {
                    "/" => ("200 OK", "text/html; charset=utf-8", PAGE),
                    "/app.js" => ("200 OK", "text/javascript; charset=utf-8", APP_JS),
                    "/favicon.ico" => ("204 No Content", "image/x-icon", ""),
                    _ => ("404 Not Found", "text/plain", "not found"),
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: {kind}\r\n\
                     content-security-policy: default-src 'self'\r\n\
                     cache-control: no-store\r\ncontent-length: {}\r\n\
                     connection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    addr
}

/// The process and all its descendants, from `/proc`.
fn process_tree(root: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // The fields after the parenthesised command: state, ppid, ...
        let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
        if let Some(ppid) = after.split_whitespace().nth(1).and_then(|p| p.parse().ok()) {
            parents.push((pid, ppid));
        }
    }
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    tree
}

/// Whether a process is still running (gone and zombie both count as not).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Waits (bounded) until none of `pids` runs.
async fn assert_all_exit(pids: &[u32]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left: Vec<u32> = pids.iter().copied().filter(|p| alive(*p)).collect();
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "browser processes still running after close: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn drives_a_page_end_to_end() {
    let addr = serve().await;
    let base = format!("http://127.0.0.1:{}/", addr.port());
    let artifacts = default_artifacts_dir().join("orchard-testkit-browser");

    let started = Instant::now();
    let browser = Browser::launch_with(
        BrowserOptions::default()
            .map_host_to_loopback("outside.example")
            .artifacts_dir(&artifacts),
    )
    .await
    .unwrap();
    eprintln!("browser launched in {:?}", started.elapsed());

    // Navigation; the page's script comes from /app.js under the CSP.
    browser.goto(&base).await.unwrap();
    assert_eq!(browser.title().await.unwrap(), "Harness self-test");
    assert_eq!(browser.current_url().await.unwrap(), base);
    browser.wait_for("#ready").await.unwrap();
    browser.goto(&format!("{base}?second")).await.unwrap();
    browser.back().await.unwrap();
    assert_eq!(browser.current_url().await.unwrap(), base);

    // A fake outside host, mapped to loopback.
    let outside = format!("http://outside.example:{}/", addr.port());
    browser.goto(&outside).await.unwrap();
    assert_eq!(browser.current_url().await.unwrap(), outside);
    assert_eq!(
        browser
            .wait_for("#ready")
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "ready"
    );
    browser.goto(&base).await.unwrap();

    // Click changes text; wait_for waits for an element added later.
    let button = browser.find("#btn").await.unwrap();
    assert_eq!(
        button.attr("data-role").await.unwrap().as_deref(),
        Some("primary")
    );
    assert_eq!(button.attr("data-missing").await.unwrap(), None);
    assert_eq!(button.text().await.unwrap(), "Click me");
    button.click().await.unwrap();
    assert_eq!(
        browser.find("#status").await.unwrap().text().await.unwrap(),
        "clicked"
    );
    let late = browser.wait_for("#late").await.unwrap();
    assert_eq!(late.text().await.unwrap(), "late arrival");

    // Typing, clearing, and Enter submitting the form.
    let form = browser.find("#form").await.unwrap();
    let input = form.find("input").await.unwrap();
    assert_eq!(form.find_all("input").await.unwrap().len(), 1);
    input.send_keys("scratch").await.unwrap();
    assert_eq!(input.value().await.unwrap(), "scratch");
    input.clear().await.unwrap();
    assert_eq!(input.prop("value").await.unwrap(), json!(""));
    input
        .send_keys(&format!("Ada{}", Key::Enter))
        .await
        .unwrap();
    browser
        .wait_until("document.querySelector('#submitted').textContent === 'submitted: Ada'")
        .await
        .unwrap();

    // Shortcuts as real key events on the focused element.
    browser.find("#note").await.unwrap().click().await.unwrap();
    browser
        .execute("window.keylog.length = 0", &[])
        .await
        .unwrap();
    browser.send_keys_to_active("hi").await.unwrap();
    browser.chord(&[Key::Shift], Key::Enter).await.unwrap();
    browser.send_keys_to_active("there").await.unwrap();
    browser.chord(&[Key::Control], 'k').await.unwrap();
    browser
        .chord(&[Key::Control, Key::Shift], 'o')
        .await
        .unwrap();
    browser.press(Key::Escape).await.unwrap();
    let note = browser.find("#note").await.unwrap();
    assert_eq!(note.value().await.unwrap(), "hi\nthere");
    assert_eq!(
        browser.execute("return window.keylog", &[]).await.unwrap(),
        json!(["Shift+Enter", "Ctrl+K", "Ctrl+Shift+O", "Escape"])
    );

    // Scripts: values in and out, elements as arguments, async callbacks.
    assert_eq!(
        browser
            .execute("return arguments[0] + arguments[1]", &[json!(2), json!(3)])
            .await
            .unwrap(),
        json!(5)
    );
    assert_eq!(
        browser
            .execute(
                "return {id: arguments[0].id, n: [1, 'two']}",
                &[Value::from(&button)]
            )
            .await
            .unwrap(),
        json!({"id": "btn", "n": [1, "two"]})
    );
    assert_eq!(
        browser
            .execute_async(
                "const done = arguments[arguments.length - 1]; setTimeout(() => done('later'), 10);",
                &[],
            )
            .await
            .unwrap(),
        json!("later")
    );
    let thrown = browser
        .execute("throw new Error('kaput')", &[])
        .await
        .unwrap_err();
    assert_eq!(thrown.webdriver_code(), Some("javascript error"));
    assert!(thrown.to_string().contains("kaput"), "{thrown}");
    // The CSP blocked the inline script.
    assert_eq!(
        browser
            .execute("return window.inlineRan", &[])
            .await
            .unwrap(),
        Value::Null
    );

    // Timeouts fail fast with a useful message.
    let start = Instant::now();
    let err = browser
        .wait_for_within("#missing", Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    let msg = err.to_string();
    assert!(msg.contains("`#missing`"), "{msg}");
    assert!(msg.contains("timed out, no element matches"), "{msg}");
    assert!(msg.contains(&base), "{msg}");
    assert!(msg.contains("submitted: Ada"), "page text missing: {msg}");
    let hidden = browser
        .wait_for_within("#hidden", Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(
        hidden
            .to_string()
            .contains("1 matching element(s), none displayed"),
        "{hidden}"
    );
    assert!(
        !browser
            .find("#hidden")
            .await
            .unwrap()
            .is_displayed()
            .await
            .unwrap()
    );
    let never = browser
        .wait_until_within("window.never === true", Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(never.to_string().contains("last value false"), "{never}");
    let missing = browser.find("#nope").await.unwrap_err();
    assert_eq!(missing.webdriver_code(), Some("no such element"));
    assert!(missing.to_string().contains("finding `#nope`"), "{missing}");
    let bad = browser.wait_for("##").await.unwrap_err();
    assert_eq!(bad.webdriver_code(), Some("invalid selector"));

    // A screenshot is a PNG under the target directory.
    let shot = browser.screenshot("selftest/page.png").await.unwrap();
    assert_eq!(shot, artifacts.join("selftest/page.png"));
    assert!(shot.starts_with(default_artifacts_dir()));
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG: {shot:?}");

    // The console error and the CSP violation reached the log.
    let log = browser.browser_log().await.unwrap();
    let all: Vec<String> = log.iter().map(ToString::to_string).collect();
    assert!(
        log.iter().any(|e| e.is_severe()
            && e.source == "console-api"
            && e.message.contains("selftest: deliberate console error")),
        "{all:#?}"
    );
    assert!(
        log.iter().any(|e| e.is_severe()
            && e.is_csp_violation()
            && e.message.contains("inline script")
            && e.message.contains(&base)),
        "{all:#?}"
    );
    assert!(
        log.iter().all(LogEntry::is_severe),
        "only the two planted errors: {all:#?}"
    );
    // Handed out once.
    browser.execute("console.warn('after')", &[]).await.unwrap();
    let again = browser.browser_log().await.unwrap();
    assert_eq!(again.len(), 1, "{again:?}");
    assert!(again[0].message.contains("after"));

    // A second tab on the same page shares storage and gets storage events.
    let first = browser.window_handle().await.unwrap();
    let second = browser.new_tab().await.unwrap();
    assert_eq!(browser.window_handles().await.unwrap().len(), 2);
    browser.switch_to(&second).await.unwrap();
    browser.goto(&base).await.unwrap();
    browser.wait_for("#ready").await.unwrap();
    assert_eq!(
        browser.find("#status").await.unwrap().text().await.unwrap(),
        "idle"
    );
    assert_eq!(
        browser
            .execute("return localStorage.getItem('clicked')", &[])
            .await
            .unwrap(),
        json!("yes")
    );
    browser
        .execute("localStorage.setItem('ping', 'from tab two')", &[])
        .await
        .unwrap();
    browser.close_tab().await.unwrap();
    browser.switch_to(&first).await.unwrap();
    browser
        .wait_until("document.querySelector('#storage').textContent === 'ping=from tab two'")
        .await
        .unwrap();
    assert_eq!(
        browser.find("#status").await.unwrap().text().await.unwrap(),
        "clicked"
    );
    assert_eq!(browser.window_handles().await.unwrap(), vec![first]);

    // Reload resets the page.
    browser.refresh().await.unwrap();
    browser.wait_for("#ready").await.unwrap();
    assert_eq!(
        browser.find("#status").await.unwrap().text().await.unwrap(),
        "idle"
    );

    // Closing leaves no browser process behind.
    let pids = process_tree(browser.browser_pid().expect("chromedriver reports the pid"));
    assert!(pids.len() > 1, "expected renderer processes under {pids:?}");
    browser.close().await.unwrap();
    assert_all_exit(&pids).await;
}

#[tokio::test]
async fn drop_kills_the_browser() {
    let browser = Browser::launch_with(BrowserOptions::default().window_size(640, 480))
        .await
        .unwrap();
    let addr = serve().await;
    browser
        .goto(&format!("http://127.0.0.1:{}/", addr.port()))
        .await
        .unwrap();
    assert_eq!(
        browser
            .execute("return [innerWidth, innerHeight]", &[])
            .await
            .unwrap(),
        json!([640, 480])
    );
    let pids = process_tree(browser.browser_pid().unwrap());
    drop(browser);
    assert_all_exit(&pids).await;
}

#[tokio::test]
async fn missing_browser_fails_with_install_hint() {
    let err = Browser::launch_with(BrowserOptions::default().chromium("/nonexistent/chromium"))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("/nonexistent/chromium"), "{msg}");
    assert!(msg.contains("./scripts/test"), "{msg}");
    let err = Browser::launch_with(
        BrowserOptions::default().chromedriver(Path::new("/nonexistent/chromedriver")),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("chromium-driver"), "{err}");
    // Something that is not a browser: chromedriver's complaint is passed on.
    let err = Browser::launch_with(BrowserOptions::default().chromium("/bin/false"))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("creating a session with /bin/false"),
        "{err}"
    );
}
