//! A real studio on loopback (real SQLite file, real HTTP server, the fake provider)
//! and a small HTTP/1.1 client that behaves like a browser tab: it keeps the session
//! cookie and sends the page's CSRF token.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use orchard_app::App;
use orchard_app::config::{self, Flags};
use orchard_app::providers::AddProvider;
use orchard_testkit::FakeProvider;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A running studio.
pub struct Studio {
    pub dir: tempfile::TempDir,
    pub app: Arc<App>,
    pub addr: SocketAddr,
    pub fake: FakeProvider,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Studio {
    /// A studio with the fake provider added as `fake` (models fake-small, fake-large).
    pub async fn start() -> Studio {
        let dir = tempfile::tempdir().unwrap();
        let flags = Flags {
            data_dir: Some(dir.path().to_path_buf()),
            ..Flags::default()
        };
        let cfg = config::load(&flags, &BTreeMap::<String, String>::new()).unwrap();
        let app = Arc::new(App::open(cfg).await.unwrap());
        let fake = FakeProvider::start().await;
        app.add_provider(AddProvider {
            name: "fake".into(),
            base_url: Some(fake.base_url()),
            ..AddProvider::default()
        })
        .await
        .unwrap();
        app.fetch_models("fake").await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(orchard_server::serve(app.clone(), listener, async {
            let _ = rx.await;
        }));
        Studio {
            dir,
            app,
            addr,
            fake,
            stop: Some(tx),
            task,
        }
    }

    /// A browser tab: opens the start page to get a session and its CSRF token.
    pub async fn tab(&self) -> Tab {
        let mut tab = Tab {
            addr: self.addr,
            cookie: None,
            csrf: None,
        };
        let page = tab.raw("GET", "/", None, &[]).await;
        assert_eq!(page.status, 200, "{}", page.body);
        tab.cookie = page
            .header("set-cookie")
            .map(|c| c.split(';').next().unwrap().to_owned());
        let marker = "name=\"csrf-token\" content=\"";
        let at = page
            .body
            .find(marker)
            .expect("the page carries a CSRF token")
            + marker.len();
        tab.csrf = Some(page.body[at..at + 64].to_owned());
        tab
    }

    /// Stops the server (answers in progress are stored as cancelled).
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.task.await.unwrap().unwrap();
    }
}

/// A response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The error code of an error response.
    pub fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    }
}

/// One browser tab's view of the studio.
#[derive(Clone)]
pub struct Tab {
    pub addr: SocketAddr,
    pub cookie: Option<String>,
    pub csrf: Option<String>,
}

async fn read_head(r: &mut BufReader<TcpStream>) -> (u16, Vec<(String, String)>) {
    let mut line = String::new();
    r.read_line(&mut line).await.unwrap();
    let status = line.split(' ').nth(1).unwrap().parse().unwrap();
    let mut headers = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line).await.unwrap();
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':').unwrap();
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    (status, headers)
}

impl Tab {
    async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        extra: &[(&str, &str)],
    ) -> BufReader<TcpStream> {
        let mut s = TcpStream::connect(self.addr).await.unwrap();
        let mut head = format!("{method} {path} HTTP/1.1\r\nconnection: close\r\n");
        if !extra.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
            head.push_str(&format!("host: {}\r\n", self.addr));
        }
        if let Some(c) = &self.cookie {
            head.push_str(&format!("cookie: {c}\r\n"));
        }
        if let Some(t) = &self.csrf {
            head.push_str(&format!("x-csrf-token: {t}\r\n"));
        }
        for (k, v) in extra {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if let Some(b) = body {
            head.push_str(&format!("content-length: {}\r\n", b.len()));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes()).await.unwrap();
        if let Some(b) = body {
            s.write_all(b).await.unwrap();
        }
        BufReader::new(s)
    }

    /// A request; the whole response.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        extra: &[(&str, &str)],
    ) -> Resp {
        let mut r = self.send(method, path, body, extra).await;
        let (status, headers) = read_head(&mut r).await;
        let mut bytes = Vec::new();
        // An event stream does not end: its body is read with `events`, not here.
        let stream = headers.iter().any(|(k, v)| {
            k.eq_ignore_ascii_case("content-type") && v.starts_with("text/event-stream")
        });
        if !stream {
            r.read_to_end(&mut bytes).await.unwrap();
        }
        let chunked = headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
        let body = if chunked { dechunk(&bytes) } else { bytes };
        Resp {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.raw("GET", path, None, &[]).await
    }

    pub async fn json(&self, method: &str, path: &str, body: &Value) -> Resp {
        let b = serde_json::to_vec(body).unwrap();
        self.raw(
            method,
            path,
            Some(&b),
            &[("content-type", "application/json")],
        )
        .await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        self.json("POST", path, body).await
    }

    /// Sends a message; returns the started turn (panics on an error response).
    pub async fn chat(&self, body: Value) -> Value {
        let r = self.post("/api/v1/chat", &body).await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()
    }

    /// Follows the first reply of a started turn to its end: (last update, done).
    pub async fn finish(&self, started: &Value) -> (Option<Value>, Value) {
        let reply = started["reply_ids"][0]
            .as_i64()
            .expect("a started turn has a reply");
        self.events(reply).await.until_done().await
    }

    /// Subscribes to an answer's event stream.
    pub async fn events(&self, reply: i64) -> Events {
        self.stream(&format!("/api/v1/messages/{reply}/stream"))
            .await
    }

    /// Subscribes to the event stream at `path`.
    pub async fn stream(&self, path: &str) -> Events {
        let mut r = self.send("GET", path, None, &[]).await;
        let (status, headers) = read_head(&mut r).await;
        assert_eq!(status, 200);
        assert!(
            headers
                .iter()
                .any(|(k, v)| k == "content-type" && v.starts_with("text/event-stream")),
            "{headers:?}"
        );
        Events {
            r,
            buf: String::new(),
        }
    }
}

/// An event stream, read event by event.
pub struct Events {
    r: BufReader<TcpStream>,
    buf: String,
}

impl Events {
    /// The next event (name, data as JSON), skipping keep-alive comments; `None` at the
    /// end of the stream. Gives up after 20 s so a broken stream fails the test.
    pub async fn next(&mut self) -> Option<(String, Value)> {
        tokio::time::timeout(Duration::from_secs(20), self.next_inner())
            .await
            .expect("no event within 20 s")
    }

    async fn next_inner(&mut self) -> Option<(String, Value)> {
        let (mut name, mut data) = (String::new(), String::new());
        loop {
            // Chunked framing: a size line, then the chunk; events may span chunks.
            while !self.buf.contains("\n\n") {
                let mut size = String::new();
                if self.r.read_line(&mut size).await.ok()? == 0 {
                    return None;
                }
                let n = usize::from_str_radix(size.trim(), 16).ok()?;
                if n == 0 {
                    return None;
                }
                let mut chunk = vec![0; n + 2];
                self.r.read_exact(&mut chunk).await.ok()?;
                self.buf.push_str(&String::from_utf8_lossy(&chunk[..n]));
            }
            let at = self.buf.find("\n\n").unwrap();
            let event: String = self.buf.drain(..at + 2).collect();
            for line in event.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    name = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            if !name.is_empty() {
                return Some((name, serde_json::from_str(&data).unwrap()));
            }
        }
    }

    /// Reads updates until one shows `text`.
    pub async fn until_text(&mut self, text: &str) -> Value {
        while let Some((name, data)) = self.next().await {
            assert_eq!(
                name, "update",
                "the answer ended before showing {text:?}: {data}"
            );
            if data["html"].as_str().unwrap_or("").contains(text) {
                return data;
            }
        }
        panic!("the stream ended before showing {text:?}");
    }

    /// Reads until `done`; returns the last `update` before it and the `done` data.
    pub async fn until_done(&mut self) -> (Option<Value>, Value) {
        let mut last = None;
        while let Some((name, data)) = self.next().await {
            match name.as_str() {
                "update" => last = Some(data),
                "done" => return (last, data),
                other => panic!("unexpected event {other}"),
            }
        }
        panic!("the stream ended without `done`");
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(nl) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let n = usize::from_str_radix(std::str::from_utf8(&b[..nl]).unwrap().trim(), 16).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&b[nl + 2..nl + 2 + n]);
        b = &b[nl + 2 + n + 2..];
    }
}

/// Polls `f` until it returns `Some`, for up to 20 s (waiting for a condition another
/// task brings about; never a fixed sleep).
pub async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
