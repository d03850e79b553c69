//! A deliberately dumb raw HTTP/1.1 client over `tokio::net::TcpStream`,
//! so the tests see exactly the bytes the fixtures send.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Upper bound on any single network wait in the tests (a safety net, not
/// synchronisation).
pub const IO_DEADLINE: Duration = Duration::from_secs(10);

/// A raw request with `host` and `content-length` added.
pub fn request(method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\nhost: provider.test\r\n");
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        out.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    out.push_str(body);
    out.into_bytes()
}

/// `POST /v1/chat/completions` with a JSON body and extra headers.
pub fn chat(body: &Value, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    request("POST", "/v1/chat/completions", &all, &body.to_string())
}

/// A chat body with one user message.
pub fn chat_body(model: &str, text: &str, stream: bool) -> Value {
    serde_json::json!({
        "model": model,
        "messages": [{"role": "user", "content": text}],
        "stream": stream,
    })
}

/// One chunk read from a chunked body.
#[derive(Debug, PartialEq, Eq)]
pub enum Chunk {
    Data(Vec<u8>),
    /// The terminating zero-size chunk (and its empty trailer).
    End,
    /// The connection ended first.
    Eof,
}

/// A response as read off the wire.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// The status line and headers exactly as sent, up to the blank line.
    pub raw_head: String,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
    /// Each HTTP chunk's data, if the body was chunked.
    pub chunks: Vec<Vec<u8>>,
    /// The body (de-chunked).
    pub body: Vec<u8>,
    /// Whether the body ended properly (terminating chunk / full length).
    pub complete: bool,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("body is UTF-8")
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("body is JSON")
    }
}

pub struct Client {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).await.expect("connect");
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write request");
    }

    /// Reads more bytes; false on EOF or error.
    async fn fill(&mut self) -> bool {
        let read = tokio::time::timeout(IO_DEADLINE, self.stream.read_buf(&mut self.buf))
            .await
            .expect("test client: no bytes from the server within the deadline");
        matches!(read, Ok(n) if n > 0)
    }

    /// Reads until `pattern` is buffered; false on EOF first.
    async fn fill_until(&mut self, pattern: &[u8]) -> Option<usize> {
        loop {
            if let Some(p) = self.buf.windows(pattern.len()).position(|w| w == pattern) {
                return Some(p);
            }
            if !self.fill().await {
                return None;
            }
        }
    }

    /// Reads a status line and headers.
    pub async fn read_head(&mut self) -> Response {
        let end = self
            .fill_until(b"\r\n\r\n")
            .await
            .expect("connection closed before the response head");
        let raw: Vec<u8> = self.buf.drain(..end + 4).collect();
        let raw_head = String::from_utf8(raw).expect("head is UTF-8");
        let mut lines = raw_head.split("\r\n");
        let status_line = lines.next().unwrap();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
        let headers = lines
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (n, v) = l.split_once(':').expect("header has a colon");
                (n.trim().to_ascii_lowercase(), v.trim().to_owned())
            })
            .collect();
        Response {
            status,
            raw_head,
            headers,
            chunks: Vec::new(),
            body: Vec::new(),
            complete: false,
        }
    }

    /// Reads one HTTP chunk.
    pub async fn read_chunk(&mut self) -> Chunk {
        let Some(line_end) = self.fill_until(b"\r\n").await else {
            return Chunk::Eof;
        };
        let line = String::from_utf8(self.buf[..line_end].to_vec()).expect("chunk size line");
        let size = usize::from_str_radix(line.trim(), 16)
            .unwrap_or_else(|_| panic!("bad chunk size line {line:?}"));
        let need = line_end + 2 + size + 2;
        while self.buf.len() < need {
            if !self.fill().await {
                return Chunk::Eof;
            }
        }
        let frame: Vec<u8> = self.buf.drain(..need).collect();
        assert_eq!(
            &frame[need - 2..],
            b"\r\n",
            "chunk data must be followed by CRLF"
        );
        if size == 0 {
            Chunk::End
        } else {
            Chunk::Data(frame[line_end + 2..need - 2].to_vec())
        }
    }

    /// Reads chunks into `resp` until the body contains `pattern`.
    pub async fn read_chunks_until(&mut self, resp: &mut Response, pattern: &str) {
        while !String::from_utf8_lossy(&resp.body).contains(pattern) {
            match self.read_chunk().await {
                Chunk::Data(d) => {
                    resp.body.extend_from_slice(&d);
                    resp.chunks.push(d);
                }
                other => panic!(
                    "stream ended ({other:?}) before {pattern:?}; got {:?}",
                    String::from_utf8_lossy(&resp.body)
                ),
            }
        }
    }

    /// Reads the rest of a chunked body into `resp`.
    pub async fn read_chunked_rest(&mut self, resp: &mut Response) {
        loop {
            match self.read_chunk().await {
                Chunk::Data(d) => {
                    resp.body.extend_from_slice(&d);
                    resp.chunks.push(d);
                }
                Chunk::End => {
                    resp.complete = true;
                    return;
                }
                Chunk::Eof => {
                    resp.complete = false;
                    return;
                }
            }
        }
    }

    /// Reads one whole response (chunked or content-length).
    pub async fn read_response(&mut self) -> Response {
        let mut resp = self.read_head().await;
        if resp.header("transfer-encoding") == Some("chunked") {
            self.read_chunked_rest(&mut resp).await;
        } else {
            let len: usize = resp
                .header("content-length")
                .expect("content-length or chunked")
                .parse()
                .unwrap();
            while self.buf.len() < len {
                if !self.fill().await {
                    break;
                }
            }
            let take = len.min(self.buf.len());
            resp.body = self.buf.drain(..take).collect();
            resp.complete = take == len;
        }
        resp
    }

    /// Whether the server closed the connection (EOF with nothing buffered).
    pub async fn at_eof(&mut self) -> bool {
        self.buf.is_empty() && !self.fill().await
    }

    /// Sends a request and reads its response.
    pub async fn roundtrip(&mut self, raw: &[u8]) -> Response {
        self.send(raw).await;
        self.read_response().await
    }
}

/// One-shot: new connection, one request, one response.
pub async fn roundtrip(addr: SocketAddr, raw: &[u8]) -> Response {
    Client::connect(addr).await.roundtrip(raw).await
}

/// The `data:` payloads of an SSE body (LF or CRLF), comments skipped.
pub fn sse_data(body: &str) -> Vec<String> {
    body.split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter_map(|l| l.strip_prefix("data: "))
        .map(str::to_owned)
        .collect()
}

/// The `data:` payloads parsed as JSON (skipping `[DONE]`).
pub fn sse_json(body: &str) -> Vec<Value> {
    sse_data(body)
        .into_iter()
        .filter(|d| d != "[DONE]")
        .map(|d| {
            serde_json::from_str(&d).unwrap_or_else(|e| panic!("event {d:?} is not JSON: {e}"))
        })
        .collect()
}

/// Concatenated `delta.content` of all chunks.
pub fn streamed_content(body: &str) -> String {
    sse_json(body)
        .iter()
        .filter_map(|c| {
            c.pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect()
}

/// `POST path` with a JSON body and extra headers.
pub fn post(path: &str, headers: &[(&str, &str)], body: &Value) -> Vec<u8> {
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    request("POST", path, &all, &body.to_string())
}

/// SSE events as `(event name, data)`, comments skipped (LF or CRLF).
pub fn sse_events(body: &str) -> Vec<(Option<String>, String)> {
    let body = body.replace("\r\n", "\n");
    body.split("\n\n")
        .filter(|block| !block.is_empty())
        .filter_map(|block| {
            let mut name = None;
            let mut data = None;
            for line in block.split('\n') {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = Some(n.to_owned());
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data = Some(d.to_owned());
                }
            }
            data.map(|d| (name, d))
        })
        .collect()
}

/// Re-frames `(event name, data)` pairs as SSE with LF line endings.
pub fn sse_frame(events: &[(Option<String>, String)]) -> String {
    events
        .iter()
        .map(|(name, data)| match name {
            Some(n) => format!("event: {n}\ndata: {data}\n\n"),
            None => format!("data: {data}\n\n"),
        })
        .collect()
}

/// The lines of an NDJSON body parsed as JSON (the body must end with a
/// newline).
pub fn ndjson(body: &str) -> Vec<Value> {
    assert!(body.ends_with('\n'), "NDJSON ends with a newline: {body:?}");
    body.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("line {l:?}: {e}")))
        .collect()
}
