//! End-to-end tests of the web studio in a real headless Chromium, against a real
//! `orchard serve` process and the fake model provider.
//!
//! Each test launches one browser and one server (concurrently: launching Chromium is the
//! slow part). Nothing sleeps: every wait is for a condition in the page
//! ([`Browser::wait_until`]) or at the fake provider.

mod common;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use common::*;
use orchard_testkit::browser::{Browser, BrowserError, BrowserOptions, Key, LogEntry};
use orchard_testkit::{Answer, FakeProvider};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::process::Child;
use tokio::sync::watch;

const SMALL: &str = "fake:fake-small";
const LARGE: &str = "fake:fake-large";

/// The last answer (assistant message) on the page, as a JavaScript expression.
const LAST_ANSWER: &str =
    "[...document.querySelectorAll('article.msg[data-role=\"assistant\"]')].pop()";

/// A string as a JavaScript string literal.
fn js(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// Unwraps a browser result, or fails the test saying what was being done.
trait Must<T> {
    fn must(self, doing: &str) -> T;
}

impl<T> Must<T> for Result<T, BrowserError> {
    #[track_caller]
    fn must(self, doing: &str) -> T {
        match self {
            Ok(v) => v,
            Err(e) => panic!("{doing}: {e}"),
        }
    }
}

/// Everything a child process writes to a pipe, collected in the background so the pipe
/// never fills up and blocks it.
fn drain(pipe: Option<impl AsyncRead + Unpin + Send + 'static>) -> Arc<Mutex<String>> {
    let out = Arc::new(Mutex::new(String::new()));
    if let Some(mut pipe) = pipe {
        let sink = Arc::clone(&out);
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
    }
    out
}

/// A real studio (`orchard serve` in a sandbox), the fake provider and a browser.
struct Studio {
    browser: Browser,
    server: Child,
    server_log: Arc<Mutex<String>>,
    fake: FakeProvider,
    base: String,
    sb: Sandbox,
}

impl Studio {
    /// A studio with the fake provider added as `fake` and its models fetched.
    async fn start() -> Studio {
        Self::start_with(BrowserOptions::default(), true).await
    }

    /// A studio, with or without the fake provider, and a browser launched with `opts`.
    async fn start_with(opts: BrowserOptions, with_provider: bool) -> Studio {
        let sb = Sandbox::new();
        let fake = FakeProvider::start().await;
        let (browser, (server, server_log, base)) = tokio::join!(
            async {
                Browser::launch_with(opts)
                    .await
                    .must("launching headless Chromium")
            },
            async {
                if with_provider {
                    sb.add_fake(&fake, "fake", None).await;
                    sb.ok(&["provider", "models", "fake"]).await;
                }
                serve(&sb).await
            },
        );
        Studio {
            browser,
            server,
            server_log,
            fake,
            base,
            sb,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// What the server wrote to stderr so far (for failure messages).
    fn server_log(&self) -> String {
        let log = self
            .server_log
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Opens a page of the studio and waits for it to load (its deferred script has run).
    async fn open(&self, path: &str) {
        self.browser
            .goto(&self.url(path))
            .await
            .must(&format!("opening {path}"));
    }

    /// Waits until a JavaScript expression is truthy; on time-out fails with `expected`
    /// and what the page showed.
    async fn wait(&self, expected: &str, expr: &str) -> Value {
        match self.browser.wait_until(expr).await {
            Ok(v) => v,
            Err(e) => panic!(
                "expected {expected}, but it never happened: {e}\nserver log:\n{}",
                self.server_log()
            ),
        }
    }

    /// Runs a script and returns its value.
    async fn run(&self, script: &str) -> Value {
        self.browser
            .execute(script, &[])
            .await
            .must("running a script in the page")
    }

    /// Checks exactly the models in `ids` in the composer's model picker, then closes it.
    async fn pick_models(&self, ids: &[&str]) {
        let b = &self.browser;
        let summary = b
            .wait_for("#model-summary")
            .await
            .must("finding the model picker");
        if b.find("#model-picker")
            .await
            .must("finding the model picker")
            .prop("open")
            .await
            .must("reading whether the model picker is open")
            != json!(true)
        {
            summary.click().await.must("opening the model picker");
        }
        self.wait(
            "the model picker to open",
            "document.querySelector('#model-picker').open",
        )
        .await;
        let boxes = b
            .find_all("#model-picker input[name=\"model\"]")
            .await
            .must("listing the models in the picker");
        let mut offered = Vec::new();
        for cb in &boxes {
            let value = cb.value().await.must("reading a model checkbox");
            let checked = cb.prop("checked").await.must("reading a model checkbox") == json!(true);
            if ids.contains(&value.as_str()) != checked {
                cb.click().await.must(&format!("clicking model {value}"));
            }
            offered.push(value);
        }
        for id in ids {
            assert!(
                offered.iter().any(|o| o == id),
                "expected model {id} in the picker; it offers {offered:?}"
            );
        }
        summary.click().await.must("closing the model picker");
        let mut sorted = ids.to_vec();
        sorted.sort_unstable();
        let want = js(&sorted.join(", "));
        self.wait(
            &format!("the picker closed, its summary naming {want}"),
            &format!(
                "!document.querySelector('#model-picker').open \
                 && document.querySelector('#model-summary').textContent.split(', ').sort().join(', ') === {want}"
            ),
        )
        .await;
    }

    /// Types `text` into the composer and presses Enter; waits until the studio took it
    /// (the composer is empty again and the question is on the page).
    async fn send(&self, text: &str) {
        let before = self
            .run("return document.querySelectorAll('article.msg[data-role=\"user\"]').length;")
            .await;
        self.browser
            .find("#composer-text")
            .await
            .must("finding the composer")
            .send_keys(&format!("{text}{}", Key::Enter))
            .await
            .must("typing into the composer");
        self.wait(
            &format!("the message {text:?} to be sent (composer emptied, question shown)"),
            &format!(
                "document.querySelector('#composer-text').value === '' \
                 && document.querySelectorAll('article.msg[data-role=\"user\"]').length > {before}"
            ),
        )
        .await;
    }

    /// The last answer on the page: `{id, status, text, pos}` or null.
    async fn last_answer(&self) -> Value {
        self.browser
            .execute(
                &format!(
                    "const a = {LAST_ANSWER}; if (!a) return null; \
                     const pos = a.querySelector('nav.siblings .pos'); \
                     return {{id: a.dataset.id, status: a.dataset.status, \
                     text: a.querySelector('.body').textContent, pos: pos && pos.textContent}};"
                ),
                &[],
            )
            .await
            .unwrap_or_else(|e| json!(format!("(cannot read the page: {e})")))
    }

    /// Waits until the last answer has `status` and its text contains `text`; returns
    /// its message id.
    async fn wait_answer(&self, status: &str, text: &str) -> String {
        self.wait_answer_at(status, text, None).await
    }

    /// [`Studio::wait_answer`], also requiring the version counter to read `pos`.
    async fn wait_answer_at(&self, status: &str, text: &str, pos: Option<&str>) -> String {
        let pos_check = match pos {
            Some(p) => format!(
                "&& !!a.querySelector('nav.siblings .pos') \
                 && a.querySelector('nav.siblings .pos').textContent === {}",
                js(p)
            ),
            None => String::new(),
        };
        let expr = format!(
            "(() => {{ const a = {LAST_ANSWER}; const body = a && a.querySelector('.body'); \
             return !!body && a.dataset.status === {} && body.textContent.includes({}) {pos_check} \
             && a.dataset.id; }})()",
            js(status),
            js(text)
        );
        match self.browser.wait_until(&expr).await {
            Ok(v) => v.as_str().unwrap_or_default().to_owned(),
            Err(e) => panic!(
                "expected the last answer to be {status:?} showing {text:?}{}; it is {}\n{e}\nserver log:\n{}",
                pos.map(|p| format!(" at version {p}")).unwrap_or_default(),
                self.last_answer().await,
                self.server_log()
            ),
        }
    }

    /// The path of the current page (`/t/ID` once a topic exists).
    async fn path(&self) -> String {
        self.run("return location.pathname;")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits until the address bar shows a topic, and returns its path.
    async fn topic_path(&self) -> String {
        self.wait(
            "the address to become the topic's (/t/ID)",
            "location.pathname.startsWith('/t/')",
        )
        .await;
        self.path().await
    }

    async fn close(self) {
        let Studio {
            browser,
            mut server,
            ..
        } = self;
        browser.close().await.must("closing the browser");
        let _ = server.kill().await;
    }
}

/// Starts `orchard serve` on a free loopback port; returns the child, its collected
/// stderr and `http://ADDR`.
async fn serve(sb: &Sandbox) -> (Child, Arc<Mutex<String>>, String) {
    let mut child = sb.cmd(&["serve", "--bind", "127.0.0.1:0"]).spawn().unwrap();
    let line = read_stdout_until(&mut child, "\n").await;
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| {
            panic!("expected `listening on http://ADDR` from orchard serve, got {line:?}")
        })
        .to_owned();
    drain(child.stdout.take());
    let log = drain(child.stderr.take());
    (child, log, format!("http://{addr}"))
}

/// The smallest PNG: one transparent pixel.
const PIXEL_PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE,
    0x42, 0x60, 0x82,
];

/// A loopback HTTP server standing in for an outside host: it records the request line
/// of every request it gets and answers each with a 1×1 PNG.
struct Canary {
    port: u16,
    seen: watch::Receiver<Vec<String>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Canary {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Canary {
    async fn start() -> Canary {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, seen) = watch::channel(Vec::new());
        let tx = Arc::new(tx);
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let tx = Arc::clone(&tx);
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    if buf.is_empty() {
                        return;
                    }
                    let head = String::from_utf8_lossy(&buf);
                    let line = head.lines().next().unwrap_or_default().to_owned();
                    tx.send_modify(|v| v.push(line));
                    let mut resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: image/png\r\ncontent-length: {}\r\n\
                         cache-control: no-store\r\nconnection: close\r\n\r\n",
                        PIXEL_PNG.len()
                    )
                    .into_bytes();
                    resp.extend_from_slice(PIXEL_PNG);
                    let _ = stream.write_all(&resp).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        Canary { port, seen, task }
    }

    /// The request lines received so far.
    fn requests(&self) -> Vec<String> {
        self.seen.borrow().clone()
    }

    /// Waits (bounded) until at least `n` requests arrived; returns them all.
    async fn wait_for(&self, n: usize) -> Vec<String> {
        let mut rx = self.seen.clone();
        match tokio::time::timeout(Duration::from_secs(15), rx.wait_for(|v| v.len() >= n)).await {
            Ok(Ok(v)) => v.clone(),
            _ => panic!(
                "expected {n} request(s) at the canary; it got {:?}",
                self.requests()
            ),
        }
    }
}

/// Log entries that are Orchard's fault: CSP violations anywhere, and errors (uncaught
/// exceptions, console errors, failed loads) from the studio's own pages.
fn our_problems(log: &[LogEntry], base: &str) -> Vec<String> {
    log.iter()
        .filter(|e| {
            e.is_csp_violation()
                || (e.is_severe()
                    && (e.source == "javascript"
                        || e.source == "console-api"
                        || e.message.starts_with(base)))
        })
        .map(ToString::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_a_provider_through_the_settings_page_then_chat_and_watch_the_stream() {
    let st = Studio::start_with(BrowserOptions::default(), false).await;
    let b = &st.browser;

    st.open("/settings/providers").await;
    b.find("#provider-name")
        .await
        .must("finding the provider name field")
        .send_keys("fake")
        .await
        .must("typing the provider name");
    b.find("#provider-protocol option[value=\"openai\"]")
        .await
        .must("finding the openai protocol")
        .click()
        .await
        .must("choosing the openai protocol");
    b.find("#provider-url")
        .await
        .must("finding the base URL field")
        .send_keys(&st.fake.base_url())
        .await
        .must("typing the base URL");
    b.find("#add-provider button[type=\"submit\"]")
        .await
        .must("finding the add button")
        .click()
        .await
        .must("adding the provider");
    st.wait(
        "the provider `fake` to be listed after adding it",
        "document.querySelector('section.provider[data-provider=\"fake\"]')",
    )
    .await;
    let protocol = st
        .run("return document.querySelector('section.provider[data-provider=\"fake\"] h2 small').textContent;")
        .await;
    assert!(
        protocol
            .as_str()
            .is_some_and(|p| p.starts_with("openai") && p.contains(&st.fake.base_url())),
        "expected the card to say `openai · {}`, it says {protocol}",
        st.fake.base_url()
    );

    b.find("section.provider[data-provider=\"fake\"] [data-provider-act=\"fetch\"]")
        .await
        .must("finding Fetch models")
        .click()
        .await
        .must("clicking Fetch models");
    let models = st
        .wait(
            "both fake models listed after Fetch models",
            "(() => { const m = [...document.querySelectorAll('section.provider[data-provider=\"fake\"] ul.models input[data-model]')]\
             .map(i => i.dataset.model + (i.checked ? ' (on)' : ' (off)')); return m.length >= 2 && m.sort(); })()",
        )
        .await;
    assert_eq!(
        models,
        json!(["fake-large (on)", "fake-small (on)"]),
        "expected both models fetched and enabled"
    );

    st.open("/").await;
    st.pick_models(&[SMALL]).await;
    st.fake
        .push(Answer::text(&["Hello ", "from ", "the stream"]).hang_after(1));
    st.send("Say hello").await;
    st.wait_answer("streaming", "Hello").await;
    let partial = st.last_answer().await;
    assert!(
        !partial["text"]
            .as_str()
            .unwrap_or_default()
            .contains("stream"),
        "expected only the first piece while the answer is held; the page shows {partial}"
    );
    st.fake.release();
    st.wait_answer("done", "Hello from the stream").await;
    let stats = st
        .wait(
            "the usage/timing line under the answer",
            &format!(
                "(() => {{ const s = {LAST_ANSWER}.querySelector('footer .stats'); \
                 return s && s.offsetParent !== null && s.textContent.trim(); }})()"
            ),
        )
        .await;
    assert!(
        stats.as_str().is_some_and(|s| s.contains("first token")),
        "expected the stats line to give the time to the first token; it reads {stats}"
    );
    let sent = st.fake.wait_for_request(1).await;
    let chat = st
        .fake
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/chat/completions"))
        .unwrap_or_else(|| panic!("expected a chat request at the fake; got {sent:?} and others"));
    assert_eq!(chat.json()["model"], "fake-small", "the model picked");
    // The new topic is named in the heading and listed in the sidebar without a reload.
    st.wait(
        "the new topic's title in the heading and the sidebar",
        "document.querySelector('#topic-title').textContent !== 'New topic' && \
         document.querySelector('.sidebar li.topic.current a') !== null",
    )
    .await;

    let shot = b
        .screenshot("studio_browser/chat.png")
        .await
        .must("taking a screenshot");
    let png = std::fs::read(&shot).unwrap_or_default();
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 1000,
        "expected a PNG at {}, found {} bytes",
        shot.display(),
        png.len()
    );
    st.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_mid_stream_keeps_the_text_and_marks_it_stopped() {
    let st = Studio::start().await;
    let b = &st.browser;
    st.open("/").await;
    st.pick_models(&[SMALL]).await;

    // Escape stops.
    st.fake
        .push(Answer::text(&["So far ", "never shown"]).hang_after(1));
    st.send("Tell me a long story").await;
    st.wait_answer("streaming", "So far").await;
    b.press(Key::Escape).await.must("pressing Escape");
    st.wait_answer("cancelled", "So far").await;
    let shown = st.last_answer().await;
    assert!(
        !shown["text"].as_str().unwrap_or_default().contains("never"),
        "expected only the text before the stop; the page shows {shown}"
    );
    assert_eq!(
        st.sb.last_reply().await,
        ("cancelled".to_owned(), "So far ".to_owned()),
        "what the studio stored"
    );
    st.wait(
        "the stop button hidden once nothing streams",
        "document.querySelector('#stop').hidden",
    )
    .await;

    // The stop button stops too.
    st.fake
        .push(Answer::text(&["Again ", "never shown"]).hang_after(1));
    st.send("And another").await;
    st.wait_answer("streaming", "Again").await;
    b.wait_for("#stop")
        .await
        .must("expected a visible stop button while answering")
        .click()
        .await
        .must("clicking stop");
    st.wait_answer("cancelled", "Again").await;
    let states = st
        .run("return [...document.querySelectorAll('article.msg[data-role=\"assistant\"]')].map(a => a.dataset.status + ': ' + a.querySelector('.body').textContent.trim());")
        .await;
    assert_eq!(
        states,
        json!(["cancelled: So far", "cancelled: Again"]),
        "both answers stopped with their text kept"
    );
    st.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_mid_stream_reattaches_and_a_second_tab_sees_it_too() {
    let st = Studio::start().await;
    let b = &st.browser;
    st.open("/").await;
    st.pick_models(&[SMALL]).await;
    st.fake
        .push(Answer::text(&["Hello ", "after the reload"]).hang_after(1));
    st.send("Keep going").await;
    let id = st.wait_answer("streaming", "Hello").await;
    let topic = st.topic_path().await;

    b.refresh().await.must("reloading the page");
    let again = st.wait_answer("streaming", "Hello").await;
    assert_eq!(again, id, "the same answer after the reload");
    st.wait(
        "the stop button shown after the reload (the page follows the answer again)",
        "!document.querySelector('#stop').hidden",
    )
    .await;

    let first = b.window_handle().await.must("reading the tab handle");
    let second = b.new_tab().await.must("opening a second tab");
    b.switch_to(&second)
        .await
        .must("switching to the second tab");
    st.open(&topic).await;
    st.wait_answer("streaming", "Hello").await;

    st.fake.release();
    for (name, tab) in [("second", &second), ("first", &first)] {
        b.switch_to(tab)
            .await
            .must(&format!("switching to the {name} tab"));
        st.wait_answer("done", "Hello after the reload").await;
        let answers = st
            .run("return document.querySelectorAll('article.msg[data-role=\"assistant\"]').length;")
            .await;
        assert_eq!(
            answers,
            json!(1),
            "expected one answer in the {name} tab, it shows {answers}"
        );
    }
    st.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regenerate_and_move_between_siblings() {
    let st = Studio::start().await;
    let b = &st.browser;
    st.open("/").await;
    st.pick_models(&[SMALL]).await;
    st.fake.push(Answer::text(&["The first ", "answer"]));
    st.send("Name a fruit").await;
    st.wait_answer("done", "The first answer").await;

    st.fake.push(Answer::text(&["The second ", "answer"]));
    b.find("article.msg[data-role=\"assistant\"] footer [data-act=\"regenerate\"]")
        .await
        .must("finding regenerate")
        .click()
        .await
        .must("clicking regenerate");
    st.wait_answer_at("done", "The second answer", Some("2/2"))
        .await;

    let prev = "article.msg[data-role=\"assistant\"] nav.siblings button[data-act=\"switch\"]:first-of-type";
    let next = "article.msg[data-role=\"assistant\"] nav.siblings button[data-act=\"switch\"]:last-of-type";
    b.find(prev)
        .await
        .must("finding the previous-version button")
        .click()
        .await
        .must("going to the previous version");
    st.wait_answer_at("done", "The first answer", Some("1/2"))
        .await;
    b.find(next)
        .await
        .must("finding the next-version button")
        .click()
        .await
        .must("going to the next version");
    st.wait_answer_at("done", "The second answer", Some("2/2"))
        .await;
    let count = st
        .run("return document.querySelectorAll('article.msg').length;")
        .await;
    assert_eq!(
        count,
        json!(2),
        "expected the question and one answer on the page"
    );
    st.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_models_answer_side_by_side() {
    let st = Studio::start().await;
    st.open("/").await;
    st.pick_models(&[SMALL, LARGE]).await;
    st.send("Both of you please").await;
    let answers = st
        .wait(
            "two answers side by side, both done",
            "(() => { const box = document.querySelector('.replies.multi'); if (!box) return false; \
             const a = [...box.querySelectorAll('article.msg[data-role=\"assistant\"]')]; \
             return a.length === 2 && a.every(x => x.dataset.status === 'done') \
             && a.map(x => x.querySelector('.who').textContent + ' | ' + x.querySelector('.body').textContent.trim()).sort(); })()",
        )
        .await;
    assert_eq!(
        answers,
        json!([
            "fake · fake-large | echo: Both of you please",
            "fake · fake-small | echo: Both of you please"
        ]),
        "one answer per model, each naming its model"
    );
    let grid = st
        .run("return document.querySelector('.replies.multi').className;")
        .await;
    assert!(
        grid.as_str().is_some_and(|c| c.contains("n2")),
        "expected a two-column grid, the class is {grid}"
    );
    let mut models: Vec<String> = st
        .fake
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/chat/completions"))
        .map(|r| r.json()["model"].as_str().unwrap_or_default().to_owned())
        .collect();
    models.sort();
    assert_eq!(
        models,
        ["fake-large", "fake-small"],
        "one request per model"
    );
    st.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_and_jump() {
    let st = Studio::start().await;
    let b = &st.browser;
    st.open("/").await;
    st.pick_models(&[SMALL]).await;
    st.send("今天天气很好").await;
    st.wait_answer("done", "echo: 今天天气很好").await;
    let chinese = st.topic_path().await;

    st.open("/").await;
    st.pick_models(&[SMALL]).await;
    st.send("How is the weather in Amsterdam").await;
    st.wait_answer("done", "echo: How is the weather").await;
    let english = st.topic_path().await;
    assert_ne!(chinese, english, "two topics");

    for (query, topic) in [("天气", &chinese), ("weather", &english)] {
        b.chord(&[Key::Control], 'k').await.must("pressing Ctrl+K");
        let focused = st.run("return document.activeElement.id;").await;
        assert_eq!(
            focused,
            json!("search"),
            "expected Ctrl+K to focus the search box, the focus is on {focused}"
        );
        b.send_keys_to_active(query)
            .await
            .must(&format!("typing {query:?} into the search box"));
        let hits = st
            .wait(
                &format!("search hits with a <mark> for {query:?}"),
                "(() => { const h = [...document.querySelectorAll('#search-results a.hit')]; \
                 return h.length > 0 && h.every(a => a.querySelector('.snippet mark')) \
                 && h.map(a => [new URL(a.href).pathname, a.querySelector('.snippet mark').textContent]); })()",
            )
            .await;
        for hit in hits.as_array().into_iter().flatten() {
            assert_eq!(
                hit[0].as_str(),
                Some(topic.as_str()),
                "expected every hit for {query:?} in {topic}; hits: {hits}"
            );
            assert!(
                hit[1]
                    .as_str()
                    .is_some_and(|m| m.eq_ignore_ascii_case(query)),
                "expected {query:?} marked; hits: {hits}"
            );
        }
        b.find("#search-results a.hit")
            .await
            .must("finding the first hit")
            .click()
            .await
            .must("clicking the first hit");
        let jumped = st
            .wait(
                &format!("the jump to {topic} with the hit highlighted"),
                &format!(
                    "location.pathname === {} && !!document.querySelector('article.msg.jumped') \
                     && document.querySelector('article.msg.jumped .body').textContent",
                    js(topic)
                ),
            )
            .await;
        assert!(
            jumped
                .as_str()
                .is_some_and(|t| t.to_lowercase().contains(query)),
            "expected the highlighted message to contain {query:?}; it reads {jumped}"
        );
    }
    st.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_links_download_markdown_and_json() {
    let st = Studio::start().await;
    let b = &st.browser;
    st.open("/").await;
    st.pick_models(&[SMALL]).await;
    st.fake.push(Answer::text(&[
        "An orchard is ",
        "a garden of fruit trees.",
    ]));
    st.send("What is an orchard?").await;
    st.wait_answer("done", "a garden of fruit trees.").await;
    let topic = st.topic_path().await;
    // The export links belong to the topic page as the server renders it.
    st.open(&topic).await;

    let fetch = "const [url, done] = arguments; \
                 fetch(url).then(r => r.text().then(body => done({status: r.status, \
                 type: r.headers.get('content-type'), body}))).catch(e => done({error: String(e)}));";
    let mut got = Vec::new();
    for (link, kind) in [("#export-md", "markdown"), ("#export-json", "json")] {
        let href = b
            .find(link)
            .await
            .must(&format!("finding the {link} link"))
            .attr("href")
            .await
            .must(&format!("reading the {link} link"))
            .unwrap_or_default();
        let id = topic.trim_start_matches("/t/");
        assert!(
            href.contains(&format!("/api/v1/topics/{id}/export")),
            "expected {link} to export topic {id}; it links to {href:?}"
        );
        let r = b
            .execute_async(fetch, &[json!(href)])
            .await
            .must(&format!("fetching {href}"));
        assert_eq!(r["status"], 200, "fetching {href}: {r}");
        assert!(
            r["type"].as_str().is_some_and(|t| t.contains(kind)),
            "expected a {kind} download from {href}; got {r}"
        );
        got.push(r["body"].as_str().unwrap_or_default().to_owned());
    }
    let md = &got[0];
    assert!(
        md.contains("What is an orchard?") && md.contains("An orchard is a garden of fruit trees."),
        "expected the question and the answer in the Markdown export; it reads:\n{md}"
    );
    let export: Value = serde_json::from_str(&got[1])
        .unwrap_or_else(|e| panic!("the JSON export does not parse ({e}):\n{}", got[1]));
    let messages = export["topics"][0]["messages"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        messages.len() >= 2,
        "expected the question and the answer in the JSON export; it has {export}"
    );
    let text = export.to_string();
    assert!(
        text.contains("What is an orchard?") && text.contains("a garden of fruit trees."),
        "expected the texts in the JSON export; it has {export}"
    );
    st.close().await;
}

/// Problems with the page's messages, as found by a script: anything that could run, or
/// reach an outside host without being asked.
const XSS_CHECK: &str = r#"
const problems = [];
if (typeof window.__pwned !== 'undefined') problems.push('window.__pwned = ' + window.__pwned);
for (const el of document.querySelectorAll('article.msg .body :is(script, svg, iframe, frame, object, embed, img, video, audio, source, link, style, form)')) {
  problems.push('element in a message: ' + el.outerHTML.slice(0, 120));
}
for (const el of document.querySelectorAll('#messages, #messages *')) {
  for (const at of el.attributes) {
    if (/^on/i.test(at.name)) problems.push('event handler attribute: ' + el.outerHTML.slice(0, 120));
    if (/^\s*(javascript|data|vbscript):/i.test(at.value) && at.name !== 'class') problems.push('script URL: ' + el.outerHTML.slice(0, 120));
  }
}
const answer = [...document.querySelectorAll('article.msg[data-role="assistant"]')].pop();
const links = answer ? [...answer.querySelectorAll('.body a')] : [];
if (!links.some(a => a.getAttribute('href') === 'https://docs.example/page')) problems.push('the safe link is missing');
for (const a of links) {
  if (!(a.relList.contains('noopener') && a.relList.contains('noreferrer'))) problems.push('link without rel noopener noreferrer: ' + a.outerHTML);
}
const img = answer && answer.querySelector('.body button.ext-img');
if (!img) problems.push('no click-to-load placeholder for the outside image');
else if (img.dataset.src !== arguments[0]) problems.push('the placeholder points to ' + img.dataset.src);
return problems;
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_l3_model_output_cannot_run_script_or_reach_outside_hosts() {
    let canary = Canary::start().await;
    let st = Studio::start_with(
        BrowserOptions::default().map_host_to_loopback("outside.example"),
        true,
    )
    .await;
    let b = &st.browser;
    let port = canary.port;
    let tracker = format!("http://outside.example:{port}/track.png");
    let attack = format!(
        "Here is everything at once.\n\n\
         <script>window.__pwned=1</script>\n\n\
         <img src=x onerror=\"window.__pwned=2\">\n\n\
         [click](javascript:window.__pwned=3)\n\n\
         <svg onload=\"window.__pwned=4\"><script>window.__pwned=5</script></svg>\n\n\
         <a href=\"javascript:window.__pwned=6\">a</a>\n\n\
         ![tracker]({tracker})\n\n\
         An inline frame <iframe src=\"http://outside.example:{port}/frame\"></iframe> right here.\n\n\
         [a safe link](https://docs.example/page)\n\n"
    );
    st.open("/").await;
    st.pick_models(&[SMALL]).await;
    st.fake
        .push(Answer::text(&[&attack, "The end."]).hang_after(1));
    st.send("Show me some HTML").await;

    let check = async |when: &str| {
        let problems = b
            .execute(XSS_CHECK, &[json!(tracker)])
            .await
            .must("checking the messages");
        assert_eq!(
            problems,
            json!([]),
            "{when}: expected nothing that runs or loads from outside; found problems"
        );
        assert_eq!(
            canary.requests(),
            Vec::<String>::new(),
            "{when}: expected no request to the outside host"
        );
    };

    // While streaming: the live updates.
    st.wait_answer("streaming", "Here is everything at once.")
        .await;
    check("while streaming").await;
    st.fake.release();
    st.wait_answer("done", "The end.").await;
    check("when done").await;
    // As the server renders the page.
    b.refresh().await.must("reloading the page");
    st.wait_answer("done", "The end.").await;
    check("after a reload").await;

    // The placeholder loads the image when asked: the canary does see that.
    b.find("article.msg[data-role=\"assistant\"] .body button.ext-img")
        .await
        .must("finding the image placeholder")
        .click()
        .await
        .must("clicking the image placeholder");
    let seen = canary.wait_for(1).await;
    st.wait(
        "the outside image loaded after the click",
        &format!(
            "(() => {{ const i = document.querySelector('article.msg .body img'); \
             return !!i && i.complete && i.naturalWidth === 1 && i.src === {}; }})()",
            js(&tracker)
        ),
    )
    .await;
    assert_eq!(
        canary.requests(),
        ["GET /track.png HTTP/1.1"],
        "expected exactly the image request at the canary (first seen: {seen:?})"
    );
    let pwned = st.run("return typeof window.__pwned;").await;
    assert_eq!(pwned, json!("undefined"), "no script ran");

    let log = b.browser_log().await.must("reading the browser log");
    let problems = our_problems(&log, &st.base);
    assert!(
        problems.is_empty(),
        "expected no CSP violations or errors from Orchard's pages; the log has:\n{}",
        problems.join("\n")
    );
    st.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyboard_only() {
    let st = Studio::start().await;
    let b = &st.browser;
    st.open("/").await;

    // What has focus, for messages and checks.
    let focused = async || {
        st.run(
            "const e = document.activeElement; if (!e || e === document.body) return 'body'; \
             return e.id ? '#' + e.id : e.tagName.toLowerCase() + (e.name ? '[name=' + e.name + ']' : '') \
             + (e.value && e.type === 'checkbox' ? '=' + e.value : '');",
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    };
    // Presses Tab until `want` has focus; fails with the path taken.
    let tab_to = async |want: &str| {
        let mut path = Vec::new();
        for _ in 0..60 {
            b.press(Key::Tab).await.must("pressing Tab");
            let now = focused().await;
            if now == want {
                return;
            }
            path.push(now);
        }
        panic!("expected Tab to reach {want}; it went through {path:?}");
    };

    st.run("document.activeElement.blur();").await;
    // The model picker, by keyboard: Enter opens it, Space checks a model.
    tab_to("#model-summary").await;
    b.press(Key::Enter)
        .await
        .must("pressing Enter on the picker");
    st.wait(
        "Enter on the model picker's summary to open it",
        "document.querySelector('#model-picker').open",
    )
    .await;
    tab_to(&format!("input[name=model]={SMALL}")).await;
    b.press(Key::Space).await.must("pressing Space on a model");
    st.wait(
        "Space to check fake:fake-small",
        "document.querySelector('#model-summary').textContent === 'fake:fake-small'",
    )
    .await;
    tab_to("#composer-text").await;

    // Shift+Enter is a new line, Enter sends.
    b.send_keys_to_active("line one")
        .await
        .must("typing into the composer");
    b.chord(&[Key::Shift], Key::Enter)
        .await
        .must("pressing Shift+Enter");
    b.send_keys_to_active("line two")
        .await
        .must("typing into the composer");
    let value = st
        .run("return document.querySelector('#composer-text').value;")
        .await;
    assert_eq!(
        value,
        json!("line one\nline two"),
        "expected Shift+Enter to insert a newline and not send"
    );
    let shown = st
        .run("return document.querySelectorAll('article.msg').length;")
        .await;
    assert_eq!(shown, json!(0), "expected nothing sent by Shift+Enter");

    // The send button comes right after the composer.
    b.press(Key::Tab).await.must("pressing Tab");
    assert_eq!(
        focused().await,
        "#send",
        "expected Tab from the composer to reach Send"
    );
    b.chord(&[Key::Shift], Key::Tab)
        .await
        .must("pressing Shift+Tab");
    assert_eq!(
        focused().await,
        "#composer-text",
        "expected Shift+Tab from Send to return to the composer"
    );
    b.press(Key::Enter).await.must("pressing Enter");
    st.wait_answer("done", "line two").await;
    let question = st
        .run("return document.querySelector('article.msg[data-role=\"user\"] .body').innerText;")
        .await;
    assert_eq!(
        question,
        json!("line one\nline two"),
        "expected the question sent with its two lines"
    );
    let topic = st.topic_path().await;

    // Every control on a chat page with messages has a name.
    st.open(&topic).await;
    let nameless = st
        .run(
            "return [...document.querySelectorAll('button, summary, [role=button], a[href], input:not([type=hidden]), textarea, select')]\
             .filter(el => !((el.getAttribute('aria-label') || '').trim() || (el.textContent || '').trim() \
             || (el.getAttribute('title') || '').trim() || (el.labels && [...el.labels].some(l => l.textContent.trim()))))\
             .map(el => el.outerHTML.slice(0, 160));",
        )
        .await;
    assert_eq!(
        nameless,
        json!([]),
        "expected every button and control to have an accessible name"
    );
    let buttons = st
        .run("return document.querySelectorAll('article.msg button').length;")
        .await;
    assert!(
        buttons.as_u64().is_some_and(|n| n >= 4),
        "expected the message buttons to be part of that check; found {buttons}"
    );

    // Ctrl+Shift+O opens a new topic.
    b.chord(&[Key::Control, Key::Shift], 'o')
        .await
        .must("pressing Ctrl+Shift+O");
    st.wait(
        "Ctrl+Shift+O to open a new topic at /",
        "location.pathname === '/' && document.querySelector('#chat') \
         && document.querySelector('#chat').dataset.topic === '' \
         && document.querySelectorAll('article.msg').length === 0",
    )
    .await;
    st.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_interface_speaks_chinese_and_dutch() {
    let st = Studio::start_with(
        BrowserOptions::default()
            .arg("--lang=zh-CN")
            .arg("--accept-lang=zh-CN"),
        false,
    )
    .await;
    let b = &st.browser;
    let new_topic =
        "document.documentElement.lang + ' | ' + document.querySelector('#new-topic').textContent";

    // The browser's language first.
    st.open("/").await;
    let shown = st.run(&format!("return {new_topic};")).await;
    assert_eq!(
        shown,
        json!("zh-CN | + 新话题"),
        "expected the page in the browser's language, Chinese"
    );

    // Then the person's choice on the settings page, which wins over the browser's.
    for (code, label) in [
        ("nl", "nl | + Nieuw onderwerp"),
        ("zh-CN", "zh-CN | + 新话题"),
    ] {
        st.open("/settings").await;
        b.find(&format!("#pref-language option[value=\"{code}\"]"))
            .await
            .must(&format!("finding language {code}"))
            .click()
            .await
            .must(&format!("choosing language {code}"));
        st.wait(
            &format!("the settings page to reload in {code}"),
            &format!(
                "document.documentElement.lang === {} && document.querySelector('#pref-language').value === {}",
                js(code),
                js(code)
            ),
        )
        .await;
        st.open("/").await;
        let shown = st.run(&format!("return {new_topic};")).await;
        assert_eq!(shown, json!(label), "expected the chat page in {code}");
    }
    st.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_knowledge_base_fills_live_explains_its_search_and_is_cited_in_chat() {
    let st = Studio::start().await;
    let b = &st.browser;
    // The fake provider also offers an embedding model.
    st.fake
        .set_models(&["fake-small", "fake-large", "text-embedding-3-small"]);
    st.sb.ok(&["provider", "models", "fake"]).await;
    let upload = st.sb.root.path().join("upload");
    std::fs::create_dir_all(&upload).unwrap();
    let guide = upload.join("guide.md");
    std::fs::write(
        &guide,
        "# Orchard guide\n\n## Pruning\n\nPrune apple trees in late winter, before the buds open.\n\n\
         ## Watering\n\nYoung trees need water every week in summer.\n",
    )
    .unwrap();

    // The bases are linked from the chat page's sidebar; a new one opens its own page.
    st.open("/").await;
    b.find("#kb-link")
        .await
        .must("finding the knowledge-base link in the sidebar")
        .click()
        .await
        .must("following the knowledge-base link");
    st.wait(
        "the knowledge-base list page",
        "location.pathname === '/kb' && !!document.querySelector('#kb-create')",
    )
    .await;
    b.find("#kb-name")
        .await
        .must("finding the name field")
        .send_keys("Garden")
        .await
        .must("typing the base's name");
    b.find("#kb-create button[type=\"submit\"]")
        .await
        .must("finding the create button")
        .click()
        .await
        .must("creating the base");
    let kb_path = st
        .wait(
            "the new base's page",
            "/^\\/kb\\/\\d+$/.test(location.pathname) && !!document.querySelector('#kb-files') && location.pathname",
        )
        .await;
    let kb_id = kb_path
        .as_str()
        .unwrap_or_default()
        .trim_start_matches("/kb/")
        .to_owned();

    // Upload through the file input; the row turns ready on this page, without a reload.
    st.run("window.__sameLoad = 'yes';").await;
    b.find("#kb-files")
        .await
        .must("finding the file input")
        .send_keys(guide.to_str().unwrap())
        .await
        .must("choosing the file");
    st.wait(
        "the uploaded file's row to turn ready live",
        "window.__sameLoad === 'yes' && [...document.querySelectorAll('#docs tr[data-doc]')]\
         .some(r => r.dataset.status === 'ready' && r.textContent.includes('guide.md') \
         && r.querySelector('.st').textContent === 'ready')",
    )
    .await;

    // The search test shows the hit, where it is and why it was found.
    b.find("#kb-query")
        .await
        .must("finding the search-test box")
        .send_keys(&format!("prune apple trees{}", Key::Enter))
        .await
        .must("searching");
    let hit = st
        .wait(
            "a hit in the search test",
            "(() => { const h = document.querySelector('#kb-hits li'); \
             return h && h.querySelector('a') && h.textContent; })()",
        )
        .await;
    let hit = hit.as_str().unwrap_or_default();
    for want in ["late winter", "Pruning", "#1 · BM25", "guide.md"] {
        assert!(
            hit.contains(want),
            "expected the hit to show {want:?}; it reads {hit:?}"
        );
    }
    let mode = st
        .run("return document.querySelector('#kb-search-mode').textContent;")
        .await;
    assert!(
        mode.as_str().is_some_and(|m| m.contains("keyword")),
        "expected the search mode to be shown; it reads {mode}"
    );
    let shot = b
        .screenshot("studio_browser/kb.png")
        .await
        .must("taking a screenshot of the knowledge-base page");
    let png = std::fs::read(&shot).unwrap_or_default();
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 1000,
        "expected a PNG at {}",
        shot.display()
    );

    // Changing the embedder says what it costs first, and happens only when confirmed.
    b.find("#kb-settings select[name=\"embedder\"] option[value=\"fake:text-embedding-3-small\"]")
        .await
        .must("finding the provider's embedding model among the embedders")
        .click()
        .await
        .must("choosing the provider's embedding model");
    b.find("#kb-settings button[type=\"submit\"]")
        .await
        .must("finding the settings' save button")
        .click()
        .await
        .must("saving the settings");
    let cost = st
        .wait(
            "the cost of the change and a button to confirm it",
            "!document.querySelector('#kb-confirm').hidden && document.querySelector('#kb-cost').textContent",
        )
        .await;
    assert!(
        cost.as_str()
            .is_some_and(|c| c.contains("passage(s)") && c.contains("sent to fake")),
        "expected the cost to name the passages and where their text goes; it reads {cost}"
    );
    st.run("window.__sameLoad = 'still';").await;
    let embedder = st
        .run("return document.querySelector('#kb > p.embedder').textContent;")
        .await;
    assert!(
        embedder
            .as_str()
            .is_some_and(|e| e.contains("keyword search only")),
        "expected nothing changed before confirming; the page says {embedder}"
    );
    b.find("#kb-confirm")
        .await
        .must("finding the confirm button")
        .click()
        .await
        .must("confirming the change");
    st.wait(
        "the base to use the provider's model and the file to be embedded again",
        "window.__sameLoad === undefined \
         && document.querySelector('#kb > p.embedder').textContent.includes('passages are sent to fake') \
         && [...document.querySelectorAll('#docs tr[data-doc]')].some(r => r.dataset.status === 'ready')",
    )
    .await;
    assert!(
        st.fake
            .requests()
            .iter()
            .any(|r| r.path.ends_with("/embeddings")),
        "expected the passages embedded by the provider after confirming"
    );

    // Chat with the base selected: the answer lists its sources, and `[1]` links to one.
    st.open("/").await;
    st.pick_models(&[SMALL]).await;
    b.find("#kb-summary")
        .await
        .must("finding the knowledge-base picker")
        .click()
        .await
        .must("opening the knowledge-base picker");
    b.wait_for(&format!("#kb-picker input[name=\"kb\"][value=\"{kb_id}\"]"))
        .await
        .must("finding the base in the picker")
        .click()
        .await
        .must("choosing the base");
    b.find("#kb-summary")
        .await
        .must("finding the knowledge-base picker")
        .click()
        .await
        .must("closing the knowledge-base picker");
    st.wait(
        "the picker to name the chosen base",
        "!document.querySelector('#kb-picker').open && document.querySelector('#kb-summary').textContent.includes('Garden')",
    )
    .await;
    st.send("When should I prune apple trees? [1]").await;
    st.wait_answer("done", "echo:").await;
    let sources = st
        .wait(
            "a Sources list under the answer",
            &format!(
                "(() => {{ const a = {LAST_ANSWER}; const s = a && a.querySelector('.sources'); \
                 return s && [...s.querySelectorAll('a')].map(l => l.textContent + ' -> ' + l.getAttribute('href')); }})()"
            ),
        )
        .await;
    let first = sources[0].as_str().unwrap_or_default();
    assert!(
        first.starts_with("[1] ") && first.contains("Pruning") && first.contains("-> /kb/passage/"),
        "expected `[1] label` linking to its passage; the list is {sources}"
    );
    let cite = st
        .wait(
            "the [1] in the answer to link to the passage",
            &format!(
                "(() => {{ const c = {LAST_ANSWER}.querySelector('.body a.cite'); \
                 return c && c.textContent === '[1]' && c.getAttribute('href'); }})()"
            ),
        )
        .await;
    assert!(
        first.ends_with(cite.as_str().unwrap_or("?")),
        "expected the marker and the list to link to the same passage: {cite} vs {first}"
    );
    b.find("article.msg[data-role=\"assistant\"] .body a.cite")
        .await
        .must("finding the citation marker")
        .click()
        .await
        .must("clicking the citation");
    let marked = st
        .wait(
            "the passage page with the passage highlighted, in view and focused",
            "location.pathname.startsWith('/kb/passage/') && (() => { const m = document.querySelector('mark#passage'); \
             if (!m) return false; const r = m.getBoundingClientRect(); \
             return r.top >= 0 && r.top < innerHeight && document.activeElement === m && m.textContent; })()",
        )
        .await;
    assert!(
        marked.as_str().is_some_and(|t| t.contains("late winter")),
        "expected the highlighted passage to hold the cited text; it reads {marked}"
    );
    let meta = st
        .run("return document.querySelector('.passage-meta').textContent;")
        .await;
    assert!(
        meta.as_str()
            .is_some_and(|m| m.contains("guide.md") && m.contains("Orchard guide › Pruning")),
        "expected the source and heading path; it reads {meta}"
    );
    let back = st
        .run("return document.querySelector('#kb-back').getAttribute('href');")
        .await;
    assert_eq!(back, json!(kb_path), "a link back to the base");

    // An assistant answers from the bases chosen on its settings page.
    st.open("/settings/assistants").await;
    b.find("form.assistant[data-assistant=\"\"] input[name=\"name\"]")
        .await
        .must("finding the new assistant's name field")
        .send_keys("Gardener")
        .await
        .must("naming the assistant");
    b.find(&format!(
        "form.assistant[data-assistant=\"\"] input[name=\"kb\"][value=\"{kb_id}\"]"
    ))
    .await
    .must("finding the base among the assistant's knowledge bases")
    .click()
    .await
    .must("choosing the base for the assistant");
    b.find("form.assistant[data-assistant=\"\"] button[type=\"submit\"]")
        .await
        .must("finding the save button")
        .click()
        .await
        .must("saving the assistant");
    st.wait(
        "the saved assistant to show its knowledge base checked",
        &format!(
            "[...document.querySelectorAll('form.assistant')].some(f => f.dataset.assistant !== '' \
             && f.querySelector('input[name=\"name\"]').value === 'Gardener' \
             && f.querySelector('input[name=\"kb\"][value=\"{kb_id}\"]').checked)"
        ),
    )
    .await;

    let log = b.browser_log().await.must("reading the browser log");
    // The one refusal by design: the embedder change asked without confirmation (409).
    let asked = format!(
        "{}/api/v1/kb/{kb_id} - Failed to load resource: the server responded with a status of 409",
        st.base
    );
    let problems: Vec<String> = our_problems(&log, &st.base)
        .into_iter()
        .filter(|p| !p.contains(&asked))
        .collect();
    assert!(
        problems.is_empty(),
        "expected no CSP violations or errors from Orchard's pages; the log has:\n{}",
        problems.join("\n")
    );
    st.close().await;
}
